/* reflection.c - server reflection from a FileDescriptorSet. Contract in reflection.h.
 *
 * Index layout (all immutable after td_reflection_new):
 *   r->set      private copy of the set's bytes; files[i].raw points into it.
 *   r->files    one entry per FileDescriptorProto, in set order (dependencies first
 *               with --include_imports); deps[] are indices into r->files.
 *   r->syms     (name, kind, file) sorted by name for bsearch; names live in r->arena.
 *   r->exts     extensions (extendee without leading dot, number, file).
 *   r->services sorted service names (borrowed from syms).
 * r->arena owns every string and the small arrays; r->syms is realloc'd while building.
 * Building parses each file with protobuf-c (descriptor.pb-c.h) only to read names;
 * answers return the original bytes, never re-packed descriptors. */
#include "rpc/reflection.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "google/protobuf/descriptor.pb-c.h"
#include "rpc/descriptor_set.h"

enum { GRPC_NOT_FOUND = 5, GRPC_UNIMPLEMENTED = 12 };

typedef enum sym_kind {
    SYM_MESSAGE,
    SYM_FIELD,
    SYM_ONEOF,
    SYM_ENUM,
    SYM_ENUM_VALUE,
    SYM_EXTENSION,
    SYM_SERVICE,
    SYM_METHOD,
} sym_kind;

typedef struct rfile {
    const char *name;
    const unsigned char *raw; /* points into r->set */
    size_t raw_len;
    size_t *deps;
    size_t n_deps;
} rfile;

typedef struct rsym {
    const char *name;
    sym_kind kind;
    size_t file;
} rsym;

typedef struct rext {
    const char *extendee;
    int32_t number;
    size_t file;
} rext;

struct td_reflection {
    td_arena *arena;
    unsigned char *set;
    size_t set_len;
    rfile *files;
    size_t n_files;
    rsym *syms;
    size_t n_syms, cap_syms;
    rext *exts;
    size_t n_exts, cap_exts;
    const char **services;
    size_t n_services;
};

/* ---- building ---- */

static void set_err(char *err, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t cap, const char *fmt, ...)
{
    if (err == NULL || cap == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}

/* Reads a base-128 varint; returns bytes consumed, 0 if truncated or too long. */
static size_t read_varint(const unsigned char *p, const unsigned char *end, uint64_t *v)
{
    uint64_t x = 0;
    size_t i = 0;
    for (unsigned shift = 0; shift < 64 && p + i < end; shift += 7) {
        unsigned char b = p[i++];
        x |= (uint64_t)(b & 0x7f) << shift;
        if ((b & 0x80) == 0) {
            *v = x;
            return i;
        }
    }
    return 0;
}

static const char *sym_add(td_reflection *r, const char *scope, const char *name, sym_kind kind,
                           size_t file)
{
    const char *full = NULL;
    if (name == NULL)
        goto out;
    if (r->n_syms == r->cap_syms) {
        size_t cap = r->cap_syms ? r->cap_syms * 2 : 256;
        rsym *n = realloc(r->syms, cap * sizeof(*n));
        if (n == NULL)
            goto out;
        r->syms = n;
        r->cap_syms = cap;
    }
    if (scope != NULL && scope[0] != '\0')
        full = td_arena_printf(r->arena, "%s.%s", scope, name);
    else
        full = td_arena_strdup(r->arena, name);
    if (full == NULL)
        goto out;
    r->syms[r->n_syms++] = (rsym){.name = full, .kind = kind, .file = file};
out:
    return full;
}

static int ext_add(td_reflection *r, const char *scope,
                   const Google__Protobuf__FieldDescriptorProto *f, size_t file)
{
    int rc = -1;
    if (sym_add(r, scope, f->name, SYM_EXTENSION, file) == NULL)
        goto out;
    if (r->n_exts == r->cap_exts) {
        size_t cap = r->cap_exts ? r->cap_exts * 2 : 16;
        rext *n = td_arena_alloc(r->arena, cap * sizeof(*n));
        if (n == NULL)
            goto out;
        if (r->n_exts > 0)
            memcpy(n, r->exts, r->n_exts * sizeof(*n));
        r->exts = n;
        r->cap_exts = cap;
    }
    const char *extendee = f->extendee ? f->extendee : "";
    if (extendee[0] == '.')
        extendee++;
    const char *copy = td_arena_strdup(r->arena, extendee);
    if (copy == NULL)
        goto out;
    r->exts[r->n_exts++] = (rext){.extendee = copy, .number = f->number, .file = file};
    rc = 0;
out:
    return rc;
}

static int index_enum(td_reflection *r, const char *scope,
                      const Google__Protobuf__EnumDescriptorProto *e, size_t file)
{
    int rc = -1;
    if (sym_add(r, scope, e->name, SYM_ENUM, file) == NULL)
        goto out;
    /* Enum values are siblings of their enum in protobuf scoping ("todo.v1.PRIORITY_LOW"). */
    for (size_t i = 0; i < e->n_value; i++)
        if (sym_add(r, scope, e->value[i]->name, SYM_ENUM_VALUE, file) == NULL)
            goto out;
    rc = 0;
out:
    return rc;
}

static int index_message(td_reflection *r, const char *scope,
                         const Google__Protobuf__DescriptorProto *m, size_t file)
{
    int rc = -1;
    const char *full = sym_add(r, scope, m->name, SYM_MESSAGE, file);
    if (full == NULL)
        goto out;
    for (size_t i = 0; i < m->n_field; i++)
        if (sym_add(r, full, m->field[i]->name, SYM_FIELD, file) == NULL)
            goto out;
    for (size_t i = 0; i < m->n_oneof_decl; i++)
        if (sym_add(r, full, m->oneof_decl[i]->name, SYM_ONEOF, file) == NULL)
            goto out;
    for (size_t i = 0; i < m->n_nested_type; i++)
        if (index_message(r, full, m->nested_type[i], file) != 0)
            goto out;
    for (size_t i = 0; i < m->n_enum_type; i++)
        if (index_enum(r, full, m->enum_type[i], file) != 0)
            goto out;
    for (size_t i = 0; i < m->n_extension; i++)
        if (ext_add(r, full, m->extension[i], file) != 0)
            goto out;
    rc = 0;
out:
    return rc;
}

static int index_file(td_reflection *r, const Google__Protobuf__FileDescriptorProto *fd,
                      size_t file)
{
    int rc = -1;
    const char *pkg = fd->package ? fd->package : "";
    for (size_t i = 0; i < fd->n_message_type; i++)
        if (index_message(r, pkg, fd->message_type[i], file) != 0)
            goto out;
    for (size_t i = 0; i < fd->n_enum_type; i++)
        if (index_enum(r, pkg, fd->enum_type[i], file) != 0)
            goto out;
    for (size_t i = 0; i < fd->n_extension; i++)
        if (ext_add(r, pkg, fd->extension[i], file) != 0)
            goto out;
    for (size_t i = 0; i < fd->n_service; i++) {
        const Google__Protobuf__ServiceDescriptorProto *s = fd->service[i];
        const char *svc = sym_add(r, pkg, s->name, SYM_SERVICE, file);
        if (svc == NULL)
            goto out;
        for (size_t j = 0; j < s->n_method; j++)
            if (sym_add(r, svc, s->method[j]->name, SYM_METHOD, file) == NULL)
                goto out;
    }
    rc = 0;
out:
    return rc;
}

static long file_find(const td_reflection *r, const char *name)
{
    for (size_t i = 0; i < r->n_files; i++)
        if (strcmp(r->files[i].name, name) == 0)
            return (long)i;
    return -1;
}

static int sym_cmp(const void *a, const void *b)
{
    return strcmp(((const rsym *)a)->name, ((const rsym *)b)->name);
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Splits the set into raw FileDescriptorProto slices (field 1, wire type 2) and
 * counts them. Other fields are skipped. Returns 0, or -1 on malformed input. */
static int split_set(td_reflection *r, char *err, size_t cap)
{
    int rc = -1;
    const unsigned char *p = r->set, *end = r->set + r->set_len;
    size_t n = 0, cap_files = 0;
    while (p < end) {
        uint64_t key = 0, v = 0;
        size_t k = read_varint(p, end, &key);
        if (k == 0) {
            set_err(err, cap, "descriptor set: truncated tag at byte %zu", (size_t)(p - r->set));
            goto out;
        }
        p += k;
        switch (key & 7) {
        case 0:
            k = read_varint(p, end, &v);
            break;
        case 1:
            k = (size_t)(end - p) >= 8 ? 8 : 0;
            break;
        case 5:
            k = (size_t)(end - p) >= 4 ? 4 : 0;
            break;
        case 2:
            k = read_varint(p, end, &v);
            if (k != 0 && v > (uint64_t)(end - p - (ptrdiff_t)k))
                k = 0;
            break;
        default:
            k = 0;
        }
        if (k == 0) {
            set_err(err, cap, "descriptor set: malformed field at byte %zu", (size_t)(p - r->set));
            goto out;
        }
        if ((key & 7) == 2) {
            if ((key >> 3) == 1) {
                if (n == cap_files) {
                    size_t nc = cap_files ? cap_files * 2 : 32;
                    rfile *nf = td_arena_alloc(r->arena, nc * sizeof(*nf));
                    if (nf == NULL) {
                        set_err(err, cap, "out of memory");
                        goto out;
                    }
                    if (n > 0)
                        memcpy(nf, r->files, n * sizeof(*nf));
                    r->files = nf;
                    cap_files = nc;
                }
                r->files[n++] = (rfile){.raw = p + k, .raw_len = (size_t)v};
            }
            p += k + (size_t)v;
        } else {
            p += k;
        }
    }
    r->n_files = n;
    if (n == 0) {
        set_err(err, cap, "descriptor set: no files");
        goto out;
    }
    rc = 0;
out:
    return rc;
}

/* Parses each slice: records its name, resolves dependencies, indexes its symbols. */
static int index_files(td_reflection *r, char *err, size_t cap)
{
    int rc = -1;
    Google__Protobuf__FileDescriptorProto *fd = NULL;
    for (size_t i = 0; i < r->n_files; i++) {
        rfile *f = &r->files[i];
        fd = google__protobuf__file_descriptor_proto__unpack(NULL, f->raw_len, f->raw);
        if (fd == NULL || fd->name == NULL) {
            set_err(err, cap, "descriptor set: file #%zu does not parse", i);
            goto out;
        }
        f->name = td_arena_strdup(r->arena, fd->name);
        if (f->name == NULL || index_file(r, fd, i) != 0) {
            set_err(err, cap, "out of memory");
            goto out;
        }
        protobuf_c_message_free_unpacked(&fd->base, NULL);
        fd = NULL;
    }
    /* Dependencies, second pass: a file may (without --include_imports order) come
     * before the files it imports. */
    for (size_t i = 0; i < r->n_files; i++) {
        rfile *f = &r->files[i];
        fd = google__protobuf__file_descriptor_proto__unpack(NULL, f->raw_len, f->raw);
        if (fd == NULL) {
            set_err(err, cap, "descriptor set: file #%zu does not parse", i);
            goto out;
        }
        f->n_deps = fd->n_dependency;
        f->deps = td_arena_alloc(r->arena, (f->n_deps ? f->n_deps : 1) * sizeof(size_t));
        if (f->deps == NULL) {
            set_err(err, cap, "out of memory");
            goto out;
        }
        for (size_t j = 0; j < fd->n_dependency; j++) {
            long d = file_find(r, fd->dependency[j]);
            if (d < 0) {
                set_err(err, cap,
                        "descriptor set: %s imports %s, which is missing (use --include_imports)",
                        f->name, fd->dependency[j]);
                goto out;
            }
            f->deps[j] = (size_t)d;
        }
        protobuf_c_message_free_unpacked(&fd->base, NULL);
        fd = NULL;
    }
    rc = 0;
out:
    if (fd != NULL)
        protobuf_c_message_free_unpacked(&fd->base, NULL);
    return rc;
}

static int collect_services(td_reflection *r)
{
    int rc = -1;
    size_t n = 0;
    for (size_t i = 0; i < r->n_syms; i++)
        n += r->syms[i].kind == SYM_SERVICE;
    r->services = td_arena_alloc(r->arena, (n ? n : 1) * sizeof(*r->services));
    if (r->services == NULL)
        goto out;
    for (size_t i = 0; i < r->n_syms; i++)
        if (r->syms[i].kind == SYM_SERVICE)
            r->services[r->n_services++] = r->syms[i].name;
    qsort(r->services, r->n_services, sizeof(*r->services), str_cmp);
    rc = 0;
out:
    return rc;
}

td_reflection *td_reflection_new(const unsigned char *set, size_t len, char *err, size_t err_cap)
{
    td_reflection *r = NULL, *ret = NULL;
    if (set == NULL || len == 0) {
        set_err(err, err_cap, "descriptor set: empty");
        goto out;
    }
    r = calloc(1, sizeof(*r));
    if (r == NULL || (r->arena = td_arena_new(16384)) == NULL || (r->set = malloc(len)) == NULL) {
        set_err(err, err_cap, "out of memory");
        goto out;
    }
    memcpy(r->set, set, len);
    r->set_len = len;
    if (split_set(r, err, err_cap) != 0 || index_files(r, err, err_cap) != 0)
        goto out;
    qsort(r->syms, r->n_syms, sizeof(*r->syms), sym_cmp);
    if (collect_services(r) != 0) {
        set_err(err, err_cap, "out of memory");
        goto out;
    }
    ret = r;
    r = NULL;
out:
    td_reflection_destroy(r);
    return ret;
}

td_reflection *td_reflection_new_embedded(char *err, size_t err_cap)
{
    return td_reflection_new(td_descriptor_set[0].data, td_descriptor_set[0].len, err, err_cap);
}

void td_reflection_destroy(td_reflection *r)
{
    if (r == NULL)
        return;
    free(r->syms);
    free(r->set);
    td_arena_destroy(r->arena);
    free(r);
}

/* ---- lookups ---- */

static const rsym *sym_find(const td_reflection *r, const char *name)
{
    if (name == NULL)
        return NULL;
    if (name[0] == '.')
        name++;
    rsym key = {.name = name};
    return bsearch(&key, r->syms, r->n_syms, sizeof(*r->syms), sym_cmp);
}

const char *td_reflection_symbol_file(const td_reflection *r, const char *symbol)
{
    const rsym *s = r ? sym_find(r, symbol) : NULL;
    return s ? r->files[s->file].name : NULL;
}

size_t td_reflection_services(const td_reflection *r, const char *const **names)
{
    *names = r->services;
    return r->n_services;
}

/* ---- answers ---- */

/* Depth-first, pre-order: the requested file first, then each dependency once. */
static void closure_visit(const td_reflection *r, size_t f, bool *seen, size_t *order, size_t *n)
{
    if (seen[f])
        return;
    seen[f] = true;
    order[(*n)++] = f;
    for (size_t i = 0; i < r->files[f].n_deps; i++)
        closure_visit(r, r->files[f].deps[i], seen, order, n);
}

static td_status answer_files(const td_reflection *r, size_t file,
                              Grpc__Reflection__V1__ServerReflectionResponse *resp, td_arena *a)
{
    td_status st = TD_ENOMEM;
    bool *seen = td_arena_alloc(a, r->n_files * sizeof(*seen));
    size_t *order = td_arena_alloc(a, r->n_files * sizeof(*order));
    Grpc__Reflection__V1__FileDescriptorResponse *fdr = td_arena_alloc(a, sizeof(*fdr));
    size_t n = 0;
    if (seen == NULL || order == NULL || fdr == NULL)
        goto out;
    grpc__reflection__v1__file_descriptor_response__init(fdr);
    closure_visit(r, file, seen, order, &n);
    fdr->file_descriptor_proto = td_arena_alloc(a, n * sizeof(*fdr->file_descriptor_proto));
    if (fdr->file_descriptor_proto == NULL)
        goto out;
    for (size_t i = 0; i < n; i++) {
        const rfile *f = &r->files[order[i]];
        /* Borrowed from r, which outlives every call; protobuf-c only reads it. */
        fdr->file_descriptor_proto[i].data = (uint8_t *)(uintptr_t)f->raw;
        fdr->file_descriptor_proto[i].len = f->raw_len;
    }
    fdr->n_file_descriptor_proto = n;
    resp->message_response_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE;
    resp->file_descriptor_response = fdr;
    st = TD_OK;
out:
    return st;
}

static td_status answer_error(Grpc__Reflection__V1__ServerReflectionResponse *resp, td_arena *a,
                              int code, const char *what, const char *name)
{
    td_status st = TD_ENOMEM;
    Grpc__Reflection__V1__ErrorResponse *e = td_arena_alloc(a, sizeof(*e));
    if (e == NULL)
        goto out;
    grpc__reflection__v1__error_response__init(e);
    e->error_code = code;
    e->error_message = td_arena_printf(a, "%s not found: %s", what, name ? name : "");
    if (e->error_message == NULL)
        goto out;
    resp->message_response_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ERROR_RESPONSE;
    resp->error_response = e;
    st = TD_OK;
out:
    return st;
}

static td_status answer_services(const td_reflection *r,
                                 Grpc__Reflection__V1__ServerReflectionResponse *resp, td_arena *a)
{
    td_status st = TD_ENOMEM;
    Grpc__Reflection__V1__ListServiceResponse *ls = td_arena_alloc(a, sizeof(*ls));
    if (ls == NULL)
        goto out;
    grpc__reflection__v1__list_service_response__init(ls);
    ls->service = td_arena_alloc(a, (r->n_services ? r->n_services : 1) * sizeof(*ls->service));
    Grpc__Reflection__V1__ServiceResponse *items =
        td_arena_alloc(a, (r->n_services ? r->n_services : 1) * sizeof(*items));
    if (ls->service == NULL || items == NULL)
        goto out;
    for (size_t i = 0; i < r->n_services; i++) {
        grpc__reflection__v1__service_response__init(&items[i]);
        items[i].name = (char *)(uintptr_t)r->services[i];
        ls->service[i] = &items[i];
    }
    ls->n_service = r->n_services;
    resp->message_response_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_LIST_SERVICES_RESPONSE;
    resp->list_services_response = ls;
    st = TD_OK;
out:
    return st;
}

static td_status answer_ext_numbers(const td_reflection *r, const char *type,
                                    Grpc__Reflection__V1__ServerReflectionResponse *resp,
                                    td_arena *a)
{
    td_status st = TD_ENOMEM;
    const rsym *s = sym_find(r, type);
    if (s == NULL || s->kind != SYM_MESSAGE) {
        st = answer_error(resp, a, GRPC_NOT_FOUND, "type", type);
        goto out;
    }
    Grpc__Reflection__V1__ExtensionNumberResponse *en = td_arena_alloc(a, sizeof(*en));
    if (en == NULL)
        goto out;
    grpc__reflection__v1__extension_number_response__init(en);
    en->base_type_name = (char *)(uintptr_t)s->name;
    en->extension_number = td_arena_alloc(a, (r->n_exts ? r->n_exts : 1) * sizeof(int32_t));
    if (en->extension_number == NULL)
        goto out;
    for (size_t i = 0; i < r->n_exts; i++)
        if (strcmp(r->exts[i].extendee, s->name) == 0)
            en->extension_number[en->n_extension_number++] = r->exts[i].number;
    resp->message_response_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ALL_EXTENSION_NUMBERS_RESPONSE;
    resp->all_extension_numbers_response = en;
    st = TD_OK;
out:
    return st;
}

static td_status answer_ext_file(const td_reflection *r,
                                 const Grpc__Reflection__V1__ExtensionRequest *x,
                                 Grpc__Reflection__V1__ServerReflectionResponse *resp, td_arena *a)
{
    td_status st = TD_ENOMEM;
    const char *type = (x && x->containing_type) ? x->containing_type : "";
    int32_t number = x ? x->extension_number : 0;
    if (type[0] == '.')
        type++;
    for (size_t i = 0; i < r->n_exts; i++) {
        if (r->exts[i].number == number && strcmp(r->exts[i].extendee, type) == 0) {
            st = answer_files(r, r->exts[i].file, resp, a);
            goto out;
        }
    }
    char *what = td_arena_printf(a, "%s(%d)", type, (int)number);
    if (what != NULL)
        st = answer_error(resp, a, GRPC_NOT_FOUND, "extension", what);
out:
    return st;
}

/* Deep copy of the request into the arena for original_request (the response must not
 * alias the runtime's request object). */
static Grpc__Reflection__V1__ServerReflectionRequest *
request_copy(const Grpc__Reflection__V1__ServerReflectionRequest *req, td_arena *a)
{
    Grpc__Reflection__V1__ServerReflectionRequest *copy = NULL;
    size_t n = protobuf_c_message_get_packed_size(&req->base);
    uint8_t *buf = td_arena_alloc(a, n ? n : 1);
    if (buf == NULL)
        goto out;
    protobuf_c_message_pack(&req->base, buf);
    ProtobufCAllocator al = td_arena_protobuf_allocator(a);
    copy = grpc__reflection__v1__server_reflection_request__unpack(&al, n, buf);
out:
    return copy;
}

td_status td_reflection_answer(const td_reflection *r,
                               const Grpc__Reflection__V1__ServerReflectionRequest *req,
                               Grpc__Reflection__V1__ServerReflectionResponse *resp, td_arena *a)
{
    td_status st = TD_ENOMEM;
    grpc__reflection__v1__server_reflection_response__init(resp);
    resp->valid_host = td_arena_strdup(a, req->host ? req->host : "");
    resp->original_request = request_copy(req, a);
    if (resp->valid_host == NULL || resp->original_request == NULL)
        goto out;

    switch (req->message_request_case) {
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_LIST_SERVICES:
        st = answer_services(r, resp, a);
        break;
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_BY_FILENAME: {
        long f = file_find(r, req->file_by_filename ? req->file_by_filename : "");
        st = f >= 0 ? answer_files(r, (size_t)f, resp, a)
                    : answer_error(resp, a, GRPC_NOT_FOUND, "file", req->file_by_filename);
        break;
    }
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL: {
        const rsym *s = sym_find(r, req->file_containing_symbol);
        st = s ? answer_files(r, s->file, resp, a)
               : answer_error(resp, a, GRPC_NOT_FOUND, "symbol", req->file_containing_symbol);
        break;
    }
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_EXTENSION:
        st = answer_ext_file(r, req->file_containing_extension, resp, a);
        break;
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_ALL_EXTENSION_NUMBERS_OF_TYPE:
        st = answer_ext_numbers(r, req->all_extension_numbers_of_type, resp, a);
        break;
    default: {
        Grpc__Reflection__V1__ErrorResponse *e = td_arena_alloc(a, sizeof(*e));
        if (e == NULL)
            goto out;
        grpc__reflection__v1__error_response__init(e);
        e->error_code = GRPC_UNIMPLEMENTED;
        e->error_message = td_arena_strdup(a, "unsupported reflection request kind");
        if (e->error_message == NULL)
            goto out;
        resp->message_response_case =
            GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ERROR_RESPONSE;
        resp->error_response = e;
        st = TD_OK;
    }
    }
out:
    return st;
}

/* ---- runtime glue ---- */

/* Bidi handler (runtime worker thread): one answer per request. */
static td_status reflection_info(td_rpc_call *call, const ProtobufCMessage *req,
                                 ProtobufCMessage *resp, void *svc)
{
    td_status st = TD_EINTERNAL;
    if (req->descriptor != &grpc__reflection__v1__server_reflection_request__descriptor ||
        resp->descriptor != &grpc__reflection__v1__server_reflection_response__descriptor) {
        st = td_rpc_call_fail(call, TD_EINTERNAL, "reflection: unexpected message types");
        goto out;
    }
    st = td_reflection_answer(svc, (const Grpc__Reflection__V1__ServerReflectionRequest *)req,
                              (Grpc__Reflection__V1__ServerReflectionResponse *)resp,
                              td_rpc_call_arena(call));
    if (st != TD_OK)
        st = td_rpc_call_fail(call, st, "reflection: out of memory");
out:
    return st;
}

size_t td_reflection_methods(td_reflection *r, td_rpc_method *out, size_t cap)
{
    static const char *const paths[] = {
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
    };
    size_t n = 0;
    if (cap < 2)
        goto out;
    for (n = 0; n < 2; n++)
        out[n] = (td_rpc_method){
            .path = paths[n],
            .kind = TD_RPC_BIDI,
            .input = &grpc__reflection__v1__server_reflection_request__descriptor,
            .output = &grpc__reflection__v1__server_reflection_response__descriptor,
            .flags = TD_RPC_PUBLIC | TD_RPC_NONBLOCKING,
            .bidi = reflection_info,
            .svc = r,
        };
out:
    return n;
}
