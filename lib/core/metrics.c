/* metrics.c - the Prometheus registry behind metrics.h.
 *
 * Owns: the family list (registration order, singly linked), each family's children
 * (creation-order list + a small chained hash on the label values) and every string
 * copied at registration. Nothing is freed before td_metrics_destroy(), which is what
 * keeps the borrowed metric pointers valid without reference counts.
 *
 * Invariants: families and children are only appended, under mu; values are C11
 * atomics updated without the lock. Doubles (gauges, histogram sums) are stored as
 * their IEEE-754 bit pattern in an _Atomic uint64_t and updated by compare-and-swap,
 * because _Atomic double arithmetic is not guaranteed lock-free everywhere.
 * Histogram buckets are stored non-cumulative (one slot per bound + one for +Inf) and
 * summed at render time, so one render's _count always equals its +Inf bucket.
 *
 * Threads: any. Registration, lookup and render hold mu; updates are lock-free. */
#include "core/metrics.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

enum { HASH_BUCKETS = 64 };

typedef enum kind { K_COUNTER, K_GAUGE, K_HISTOGRAM } kind;

struct td_metric_counter {
    _Atomic uint64_t v;
};

struct td_metric_gauge {
    _Atomic uint64_t bits; /* double */
};

struct td_metric_histogram {
    const double *bounds; /* the family's, n_bounds finite upper bounds */
    size_t n_bounds;
    _Atomic uint64_t buckets[TD_METRICS_MAX_BUCKETS + 1]; /* non-cumulative, last = +Inf */
    _Atomic uint64_t sum_bits;                            /* double */
};

typedef struct child {
    struct child *ch_next;      /* creation order */
    struct child *ch_hash_next; /* same hash bucket */
    uint64_t ch_hash;
    char *ch_values[TD_METRICS_MAX_LABELS];
    union {
        td_metric_counter c;
        td_metric_gauge g;
        td_metric_histogram h;
    } ch_u;
} child;

typedef struct family {
    struct family *fa_next;
    char *fa_name;
    char *fa_help;
    kind fa_kind;
    size_t fa_n_labels;
    char *fa_labels[TD_METRICS_MAX_LABELS];
    double fa_bounds[TD_METRICS_MAX_BUCKETS];
    size_t fa_n_bounds;
    child *fa_first;
    child *fa_last;
    size_t fa_n_children;
    child *fa_hash[HASH_BUCKETS];
} family;

struct td_metrics {
    pthread_mutex_t mu;
    family *first;
    family *last;
    double start_time; /* process start, seconds since the epoch; < 0 if unknown */
};

static const double default_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                        0.1,    0.25,  0.5,    1,     2.5,  5,     10};

/* ------------------------------------------------------------------ atomics */

static uint64_t dbits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof(u));
    return u;
}

static double bitsd(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof(d));
    return d;
}

static void atomic_add_double(_Atomic uint64_t *p, double delta)
{
    uint64_t old = atomic_load_explicit(p, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(p, &old, dbits(bitsd(old) + delta),
                                                  memory_order_relaxed, memory_order_relaxed)) {
    }
}

void td_metric_counter_add(td_metric_counter *c, uint64_t n)
{
    if (c != NULL)
        atomic_fetch_add_explicit(&c->v, n, memory_order_relaxed);
}

void td_metric_counter_inc(td_metric_counter *c)
{
    td_metric_counter_add(c, 1);
}

uint64_t td_metric_counter_value(const td_metric_counter *c)
{
    return c == NULL ? 0 : atomic_load_explicit(&((td_metric_counter *)c)->v, memory_order_relaxed);
}

void td_metric_gauge_set(td_metric_gauge *g, double v)
{
    if (g != NULL)
        atomic_store_explicit(&g->bits, dbits(v), memory_order_relaxed);
}

void td_metric_gauge_add(td_metric_gauge *g, double delta)
{
    if (g != NULL)
        atomic_add_double(&g->bits, delta);
}

double td_metric_gauge_value(const td_metric_gauge *g)
{
    return g == NULL
               ? 0.0
               : bitsd(atomic_load_explicit(&((td_metric_gauge *)g)->bits, memory_order_relaxed));
}

void td_metric_histogram_observe(td_metric_histogram *h, double v)
{
    if (h == NULL || isnan(v))
        return;
    size_t i = 0;
    while (i < h->n_bounds && v > h->bounds[i])
        i++;
    atomic_fetch_add_explicit(&h->buckets[i], 1, memory_order_relaxed);
    atomic_add_double(&h->sum_bits, v);
}

uint64_t td_metric_histogram_count(const td_metric_histogram *h)
{
    uint64_t n = 0;
    if (h == NULL)
        return 0;
    for (size_t i = 0; i <= h->n_bounds; i++)
        n += atomic_load_explicit(&((td_metric_histogram *)h)->buckets[i], memory_order_relaxed);
    return n;
}

/* ------------------------------------------------------------------ validation */

static bool valid_name(const char *s, size_t n, bool colon_ok)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                  (colon_ok && c == ':') || (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

/* Splits "a,b" into names[] (pointers into csv, lengths in lens). -1 if invalid. */
static int split_labels(const char *csv, kind k, const char **names, size_t *lens, size_t *n)
{
    *n = 0;
    if (csv == NULL || *csv == '\0')
        return 0;
    const char *p = csv;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
        if (*n == TD_METRICS_MAX_LABELS || !valid_name(p, len, false))
            return -1;
        if (len >= 2 && p[0] == '_' && p[1] == '_')
            return -1; /* reserved */
        if (k == K_HISTOGRAM && len == 2 && memcmp(p, "le", 2) == 0)
            return -1;
        for (size_t j = 0; j < *n; j++)
            if (lens[j] == len && memcmp(names[j], p, len) == 0)
                return -1;
        names[*n] = p;
        lens[*n] = len;
        (*n)++;
        if (comma == NULL)
            return 0;
        p = comma + 1;
    }
}

/* ------------------------------------------------------------------ registry */

static uint64_t hash_values(const char *const *values, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        for (const unsigned char *p = (const unsigned char *)values[i]; *p != '\0'; p++) {
            h ^= *p;
            h *= 1099511628211ull;
        }
        h ^= 0xff; /* separator: ("a","b") != ("ab","") */
        h *= 1099511628211ull;
    }
    return h;
}

static void family_free(family *f)
{
    if (f == NULL)
        return;
    child *c = f->fa_first;
    while (c != NULL) {
        child *next = c->ch_next;
        for (size_t i = 0; i < f->fa_n_labels; i++)
            free(c->ch_values[i]);
        free(c);
        c = next;
    }
    for (size_t i = 0; i < f->fa_n_labels; i++)
        free(f->fa_labels[i]);
    free(f->fa_name);
    free(f->fa_help);
    free(f);
}

static double read_start_time(void);

td_metrics *td_metrics_new(void)
{
    td_metrics *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return NULL;
    pthread_mutex_init(&m->mu, NULL);
    m->start_time = read_start_time();
    return m;
}

void td_metrics_destroy(td_metrics *m)
{
    if (m == NULL)
        return;
    family *f = m->first;
    while (f != NULL) {
        family *next = f->fa_next;
        family_free(f);
        f = next;
    }
    pthread_mutex_destroy(&m->mu);
    free(m);
}

/* Finds or creates the family. Caller holds mu. NULL on clash/invalid/OOM. */
static family *family_get(td_metrics *m, const char *name, const char *help, kind k,
                          const char *labels_csv, const double *bounds, size_t n_bounds)
{
    const char *names[TD_METRICS_MAX_LABELS];
    size_t lens[TD_METRICS_MAX_LABELS];
    size_t n_labels = 0;
    family *f = NULL;
    family *result = NULL;

    if (name == NULL || !valid_name(name, strlen(name), true) ||
        split_labels(labels_csv, k, names, lens, &n_labels) != 0)
        goto out;
    for (family *it = m->first; it != NULL; it = it->fa_next) {
        if (strcmp(it->fa_name, name) != 0)
            continue;
        if (it->fa_kind != k || it->fa_n_labels != n_labels)
            goto out;
        for (size_t i = 0; i < n_labels; i++)
            if (strlen(it->fa_labels[i]) != lens[i] ||
                memcmp(it->fa_labels[i], names[i], lens[i]) != 0)
                goto out;
        result = it;
        goto out;
    }

    if (k == K_HISTOGRAM) {
        if (bounds == NULL || n_bounds == 0) {
            bounds = default_bounds;
            n_bounds = sizeof(default_bounds) / sizeof(default_bounds[0]);
        }
        if (n_bounds > TD_METRICS_MAX_BUCKETS)
            goto out;
        for (size_t i = 0; i < n_bounds; i++)
            if (!isfinite(bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1])))
                goto out;
    }
    f = calloc(1, sizeof(*f));
    if (f == NULL)
        goto out;
    f->fa_kind = k;
    f->fa_name = strdup(name);
    f->fa_help = strdup(help != NULL ? help : "");
    if (f->fa_name == NULL || f->fa_help == NULL)
        goto out;
    for (size_t i = 0; i < n_labels; i++) {
        f->fa_labels[i] = strndup(names[i], lens[i]);
        if (f->fa_labels[i] == NULL)
            goto out;
        f->fa_n_labels = i + 1;
    }
    if (k == K_HISTOGRAM) {
        memcpy(f->fa_bounds, bounds, n_bounds * sizeof(double));
        f->fa_n_bounds = n_bounds;
    }
    if (m->last != NULL)
        m->last->fa_next = f;
    else
        m->first = f;
    m->last = f;
    result = f;
    f = NULL;
out:
    family_free(f);
    return result;
}

/* Finds or creates the child with these label values. Caller holds mu. */
static child *child_get(family *f, const char *const *values)
{
    static const char *const none[1] = {NULL};
    child *c = NULL;
    child *result = NULL;

    if (f->fa_n_labels > 0 && values == NULL)
        goto out;
    if (values == NULL)
        values = none;
    for (size_t i = 0; i < f->fa_n_labels; i++)
        if (values[i] == NULL)
            goto out;
    uint64_t h = hash_values(values, f->fa_n_labels);
    for (child *it = f->fa_hash[h % HASH_BUCKETS]; it != NULL; it = it->ch_hash_next) {
        if (it->ch_hash != h)
            continue;
        size_t i = 0;
        while (i < f->fa_n_labels && strcmp(it->ch_values[i], values[i]) == 0)
            i++;
        if (i == f->fa_n_labels) {
            result = it;
            goto out;
        }
    }
    if (f->fa_n_children >= (f->fa_n_labels > 0 ? (size_t)TD_METRICS_MAX_CHILDREN : 1))
        goto out;
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        goto out;
    for (size_t i = 0; i < f->fa_n_labels; i++) {
        c->ch_values[i] = strdup(values[i]);
        if (c->ch_values[i] == NULL)
            goto out;
    }
    c->ch_hash = h;
    if (f->fa_kind == K_HISTOGRAM) {
        c->ch_u.h.bounds = f->fa_bounds;
        c->ch_u.h.n_bounds = f->fa_n_bounds;
    }
    c->ch_hash_next = f->fa_hash[h % HASH_BUCKETS];
    f->fa_hash[h % HASH_BUCKETS] = c;
    if (f->fa_last != NULL)
        f->fa_last->ch_next = c;
    else
        f->fa_first = c;
    f->fa_last = c;
    f->fa_n_children++;
    result = c;
    c = NULL;
out:
    if (c != NULL) {
        for (size_t i = 0; i < f->fa_n_labels; i++)
            free(c->ch_values[i]);
        free(c);
    }
    return result;
}

static child *lookup(td_metrics *m, const char *name, const char *help, kind k,
                     const char *labels_csv, const char *const *values, const double *bounds,
                     size_t n_bounds)
{
    child *c = NULL;
    if (m == NULL)
        return NULL;
    pthread_mutex_lock(&m->mu);
    family *f = family_get(m, name, help, k, labels_csv, bounds, n_bounds);
    if (f != NULL)
        c = child_get(f, values);
    pthread_mutex_unlock(&m->mu);
    return c;
}

td_metric_counter *td_metrics_counter(td_metrics *m, const char *name, const char *help)
{
    child *c = lookup(m, name, help, K_COUNTER, NULL, NULL, NULL, 0);
    return c != NULL ? &c->ch_u.c : NULL;
}

td_metric_counter *td_metrics_counter_labels(td_metrics *m, const char *name, const char *help,
                                             const char *label_names_csv,
                                             const char *const *label_values)
{
    child *c = lookup(m, name, help, K_COUNTER, label_names_csv, label_values, NULL, 0);
    return c != NULL ? &c->ch_u.c : NULL;
}

td_metric_gauge *td_metrics_gauge(td_metrics *m, const char *name, const char *help)
{
    child *c = lookup(m, name, help, K_GAUGE, NULL, NULL, NULL, 0);
    return c != NULL ? &c->ch_u.g : NULL;
}

td_metric_gauge *td_metrics_gauge_labels(td_metrics *m, const char *name, const char *help,
                                         const char *label_names_csv,
                                         const char *const *label_values)
{
    child *c = lookup(m, name, help, K_GAUGE, label_names_csv, label_values, NULL, 0);
    return c != NULL ? &c->ch_u.g : NULL;
}

td_metric_histogram *td_metrics_histogram(td_metrics *m, const char *name, const char *help,
                                          const double *bounds, size_t n_bounds)
{
    child *c = lookup(m, name, help, K_HISTOGRAM, NULL, NULL, bounds, n_bounds);
    return c != NULL ? &c->ch_u.h : NULL;
}

td_metric_histogram *td_metrics_histogram_labels(td_metrics *m, const char *name, const char *help,
                                                 const double *bounds, size_t n_bounds,
                                                 const char *label_names_csv,
                                                 const char *const *label_values)
{
    child *c = lookup(m, name, help, K_HISTOGRAM, label_names_csv, label_values, bounds, n_bounds);
    return c != NULL ? &c->ch_u.h : NULL;
}

/* ------------------------------------------------------------------ rendering */

typedef struct sbuf {
    char *p;
    size_t len;
    size_t cap;
    bool oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (b->len + n + 1 > cap)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (p == NULL) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_str(sbuf *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(tmp)) {
        b->oom = true; /* only short numeric formats pass through here */
        return;
    }
    sb_put(b, tmp, (size_t)n);
}

/* HELP text escapes \ and newline; label values also escape the double quote. */
static void sb_escaped(sbuf *b, const char *s, bool quote)
{
    const char *run = s;
    for (; *s != '\0'; s++) {
        const char *rep = NULL;
        if (*s == '\\')
            rep = "\\\\";
        else if (*s == '\n')
            rep = "\\n";
        else if (quote && *s == '"')
            rep = "\\\"";
        if (rep != NULL) {
            sb_put(b, run, (size_t)(s - run));
            sb_str(b, rep);
            run = s + 1;
        }
    }
    sb_put(b, run, (size_t)(s - run));
}

/* Shortest of %.15g/%.17g that reads back exactly; Prometheus spellings for NaN/Inf. */
static void fmt_double(char *buf, size_t cap, double v)
{
    if (isnan(v)) {
        snprintf(buf, cap, "NaN");
    } else if (isinf(v)) {
        snprintf(buf, cap, "%s", v > 0 ? "+Inf" : "-Inf");
    } else {
        snprintf(buf, cap, "%.15g", v);
        if (strtod(buf, NULL) != v)
            snprintf(buf, cap, "%.17g", v);
    }
}

static void sb_double(sbuf *b, double v)
{
    char tmp[40];
    fmt_double(tmp, sizeof(tmp), v);
    sb_str(b, tmp);
}

/* name{l1="v1",...[,le="x"]} */
static void sb_series(sbuf *b, const family *f, const child *c, const char *suffix, const char *le)
{
    sb_str(b, f->fa_name);
    sb_str(b, suffix);
    if (f->fa_n_labels == 0 && le == NULL)
        return;
    sb_put(b, "{", 1);
    for (size_t i = 0; i < f->fa_n_labels; i++) {
        if (i > 0)
            sb_put(b, ",", 1);
        sb_str(b, f->fa_labels[i]);
        sb_put(b, "=\"", 2);
        sb_escaped(b, c->ch_values[i], true);
        sb_put(b, "\"", 1);
    }
    if (le != NULL) {
        if (f->fa_n_labels > 0)
            sb_put(b, ",", 1);
        sb_str(b, "le=\"");
        sb_str(b, le);
        sb_put(b, "\"", 1);
    }
    sb_put(b, "}", 1);
}

static void render_header(sbuf *b, const char *name, const char *help, const char *type)
{
    sb_str(b, "# HELP ");
    sb_str(b, name);
    sb_put(b, " ", 1);
    sb_escaped(b, help, false);
    sb_str(b, "\n# TYPE ");
    sb_str(b, name);
    sb_put(b, " ", 1);
    sb_str(b, type);
    sb_put(b, "\n", 1);
}

static void render_family(sbuf *b, const family *f)
{
    static const char *types[] = {"counter", "gauge", "histogram"};
    render_header(b, f->fa_name, f->fa_help, types[f->fa_kind]);
    for (const child *c = f->fa_first; c != NULL; c = c->ch_next) {
        if (f->fa_kind == K_COUNTER) {
            sb_series(b, f, c, "", NULL);
            sb_printf(b, " %llu\n", (unsigned long long)td_metric_counter_value(&c->ch_u.c));
        } else if (f->fa_kind == K_GAUGE) {
            sb_series(b, f, c, "", NULL);
            sb_put(b, " ", 1);
            sb_double(b, td_metric_gauge_value(&c->ch_u.g));
            sb_put(b, "\n", 1);
        } else {
            const td_metric_histogram *h = &c->ch_u.h;
            uint64_t cum = 0;
            char le[40];
            for (size_t i = 0; i <= h->n_bounds; i++) {
                cum += atomic_load_explicit(&((td_metric_histogram *)h)->buckets[i],
                                            memory_order_relaxed);
                if (i < h->n_bounds)
                    fmt_double(le, sizeof(le), h->bounds[i]);
                else
                    snprintf(le, sizeof(le), "+Inf");
                sb_series(b, f, c, "_bucket", le);
                sb_printf(b, " %llu\n", (unsigned long long)cum);
            }
            sb_series(b, f, c, "_sum", NULL);
            sb_put(b, " ", 1);
            sb_double(b, bitsd(atomic_load_explicit(&((td_metric_histogram *)h)->sum_bits,
                                                    memory_order_relaxed)));
            sb_put(b, "\n", 1);
            sb_series(b, f, c, "_count", NULL);
            sb_printf(b, " %llu\n", (unsigned long long)cum);
        }
    }
}

/* ------------------------------------------------------------------ process metrics */

/* Reads a small /proc file into buf (NUL-terminated). Returns bytes read or -1. */
static ssize_t read_small(const char *path, char *buf, size_t cap)
{
    ssize_t total = -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        goto out;
    total = 0;
    while ((size_t)total + 1 < cap) {
        ssize_t n = read(fd, buf + total, cap - 1 - (size_t)total);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            total = -1;
            goto out;
        }
        if (n == 0)
            break;
        total += n;
    }
    buf[total] = '\0';
out:
    if (fd >= 0)
        close(fd);
    return total;
}

/* Fields of /proc/self/stat counted from 1 (field 3 follows the ")" of comm). */
static int read_stat_fields(unsigned long long *utime, unsigned long long *stime,
                            unsigned long long *starttime, unsigned long long *vsize)
{
    char buf[1024];
    if (read_small("/proc/self/stat", buf, sizeof(buf)) <= 0)
        return -1;
    char *p = strrchr(buf, ')');
    if (p == NULL)
        return -1;
    p++;
    for (int field = 3; field <= 23; field++) {
        while (*p == ' ')
            p++;
        char *end = p;
        unsigned long long v = strtoull(p, &end, 10);
        if (field == 14)
            *utime = v;
        else if (field == 15)
            *stime = v;
        else if (field == 22)
            *starttime = v;
        else if (field == 23)
            *vsize = v;
        while (*end != ' ' && *end != '\0')
            end++;
        if (*end == '\0' && field < 23)
            return -1;
        p = end;
    }
    return 0;
}

static double read_start_time(void)
{
    char buf[8192];
    unsigned long long ut = 0, st = 0, start = 0, vs = 0;
    long tck = sysconf(_SC_CLK_TCK);
    if (tck <= 0 || read_stat_fields(&ut, &st, &start, &vs) != 0 ||
        read_small("/proc/stat", buf, sizeof(buf)) <= 0)
        return -1;
    const char *bt = strstr(buf, "\nbtime ");
    if (bt == NULL)
        return -1;
    unsigned long long btime = strtoull(bt + 7, NULL, 10);
    return (double)btime + (double)start / (double)tck;
}

static long count_open_fds(void)
{
    long n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return -1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the directory stream's own descriptor */
}

static void render_process(sbuf *b, const td_metrics *m)
{
    char buf[256];
    unsigned long long ut = 0, st = 0, start = 0, vs = 0;
    long page = sysconf(_SC_PAGESIZE);
    long tck = sysconf(_SC_CLK_TCK);

    if (read_stat_fields(&ut, &st, &start, &vs) == 0 && tck > 0) {
        render_header(b, "process_cpu_seconds_total",
                      "Total user and system CPU time spent in seconds.", "counter");
        sb_str(b, "process_cpu_seconds_total ");
        sb_double(b, (double)(ut + st) / (double)tck);
        sb_put(b, "\n", 1);
        render_header(b, "process_virtual_memory_bytes", "Virtual memory size in bytes.", "gauge");
        sb_printf(b, "process_virtual_memory_bytes %llu\n", vs);
    }
    if (read_small("/proc/self/statm", buf, sizeof(buf)) > 0 && page > 0) {
        char *end = NULL;
        (void)strtoull(buf, &end, 10);
        unsigned long long rss = strtoull(end, NULL, 10);
        render_header(b, "process_resident_memory_bytes", "Resident memory size in bytes.",
                      "gauge");
        sb_printf(b, "process_resident_memory_bytes %llu\n", rss * (unsigned long long)page);
    }
    if (m->start_time >= 0) {
        render_header(b, "process_start_time_seconds",
                      "Start time of the process since unix epoch in seconds.", "gauge");
        sb_str(b, "process_start_time_seconds ");
        sb_double(b, m->start_time);
        sb_put(b, "\n", 1);
    }
    long fds = count_open_fds();
    if (fds >= 0) {
        render_header(b, "process_open_fds", "Number of open file descriptors.", "gauge");
        sb_printf(b, "process_open_fds %ld\n", fds);
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        render_header(b, "process_max_fds", "Maximum number of open file descriptors.", "gauge");
        if (rl.rlim_cur == RLIM_INFINITY)
            sb_str(b, "process_max_fds +Inf\n");
        else
            sb_printf(b, "process_max_fds %llu\n", (unsigned long long)rl.rlim_cur);
    }
}

size_t td_metrics_render(td_metrics *m, char **out)
{
    sbuf b = {0};
    size_t len = 0;
    *out = NULL;
    if (m == NULL)
        goto out;
    pthread_mutex_lock(&m->mu);
    for (const family *f = m->first; f != NULL; f = f->fa_next)
        render_family(&b, f);
    pthread_mutex_unlock(&m->mu);
    render_process(&b, m);
    if (b.oom || b.p == NULL)
        goto out;
    *out = b.p;
    len = b.len;
    b.p = NULL;
out:
    free(b.p);
    return len;
}
