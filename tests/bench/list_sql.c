/* list_sql.c - prints, for each benchmark combination, the EXACT SQL that ListTasks sends
 * (server/store/task_query.c with TD_TASK_COLUMNS) as a pgbench script, so the pgbench
 * reference runs what the server runs. Parameters become pgbench variables (:p1 ..),
 * which pgbench -M extended sends as bind parameters, like PQexecParams does.
 *
 * Usage: list_sql OUTDIR USER [big] -> OUTDIR/<combo>.sql and OUTDIR/<combo>.vars ("pN=value"
 * per line, for pgbench -D). Also OUTDIR/combos.txt (names, in order). "big" builds the
 * plans the server picks for a user that its planner statistics call big (task_read.c).
 * Built and run by tests/bench/list_tasks.sh; not part of the product. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../server/store/task_query.c"
#include "store/task_row.h"

typedef struct combo {
    const char *name;
    void (*setup)(Todo__V1__ListTasksRequest *r);
    const char *after_key; /* keyset position for a page > 1, or NULL */
} combo;

static Google__Protobuf__Timestamp T_NOW = GOOGLE__PROTOBUF__TIMESTAMP__INIT,
                                   T_P7 = GOOGLE__PROTOBUF__TIMESTAMP__INIT,
                                   T_M30 = GOOGLE__PROTOBUF__TIMESTAMP__INIT,
                                   T_M7 = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
static char *TAG_WORK[] = {"Work"};
static char *TAG_3[] = {"Work", "home", "PETS"};
static char *TAG_RARE[] = {"Work", "Home"}; /* never together in gen_tasks.sql */
static char *TAG_PAIR[] = {"work", "travel"};
static Todo__V1__Priority P_HI[] = {TODO__V1__PRIORITY__PRIORITY_HIGH,
                                    TODO__V1__PRIORITY__PRIORITY_URGENT};
static Todo__V1__Priority P_URG[] = {TODO__V1__PRIORITY__PRIORITY_URGENT};

#define OB(x) TODO__V1__TASK_ORDER_BY__TASK_ORDER_BY_##x
#define CF(x) TODO__V1__COMPLETION_FILTER__COMPLETION_FILTER_##x
#define SET(fn, body)                                                                              \
    static void fn(Todo__V1__ListTasksRequest *r)                                                  \
    {                                                                                              \
        body;                                                                                      \
    }
SET(s_default, (void)r)
SET(s_due, r->order_by = OB(DUE))
SET(s_due_desc, r->order_by = OB(DUE); r->descending = 1)
SET(s_prio_desc, r->order_by = OB(PRIORITY); r->descending = 1)
SET(s_title, r->order_by = OB(TITLE))
SET(s_updated_desc, r->order_by = OB(UPDATED); r->descending = 1)
SET(s_open_due, r->order_by = OB(DUE); r->completion = CF(OPEN))
SET(s_completed_upd, r->order_by = OB(UPDATED); r->descending = 1; r->completion = CF(COMPLETED))
SET(s_prio_due, r->order_by = OB(DUE); r->n_priorities = 2; r->priorities = P_HI)
SET(s_tag_due, r->order_by = OB(DUE); r->n_tags_any = 1; r->tags_any = TAG_WORK)
SET(s_tags_any_prio, r->order_by = OB(PRIORITY); r->descending = 1; r->n_tags_any = 3;
    r->tags_any = TAG_3)
SET(s_tags_all_title, r->order_by = OB(TITLE); r->n_tags_all = 2; r->tags_all = TAG_PAIR)
SET(s_tags_all_none, r->order_by = OB(CREATED); r->n_tags_all = 2; r->tags_all = TAG_RARE)
SET(s_tag_urgent_open_due, r->order_by = OB(DUE); r->completion = CF(OPEN); r->n_tags_any = 1;
    r->tags_any = TAG_WORK; r->n_priorities = 1; r->priorities = P_URG)
SET(s_due_week, r->order_by = OB(DUE); r->due_after = &T_NOW; r->due_before = &T_P7)
SET(s_overdue, r->order_by = OB(DUE); r->overdue_only = 1)
SET(s_overdue_prio, r->order_by = OB(PRIORITY); r->descending = 1; r->overdue_only = 1)
SET(s_nodue_created, r->order_by = OB(CREATED); r->descending = 1; r->no_due_date = 1)
SET(s_recurring_due, r->order_by = OB(DUE); r->recurring_only = 1)
SET(s_created_month, r->order_by = OB(CREATED); r->descending = 1; r->create_after = &T_M30)
SET(s_updated_week_title, r->order_by = OB(TITLE); r->update_after = &T_M7;
    r->update_before = &T_NOW)
SET(s_search_gro, r->search = "gro")
SET(s_search_two, r->search = "buy milk")
SET(s_search_word, r->search = "report")
SET(s_search_broad, r->search = "b")
SET(s_search_due, r->search = "gro"; r->order_by = OB(DUE))
SET(s_search_tag_open_title, r->search = "bill"; r->order_by = OB(TITLE); r->completion = CF(OPEN);
    r->n_tags_any = 1; r->tags_any = TAG_WORK)
SET(s_everything, r->search = "pay"; r->order_by = OB(DUE); r->completion = CF(OPEN);
    r->n_tags_any = 3; r->tags_any = TAG_3; r->n_priorities = 2; r->priorities = P_HI;
    r->due_before = &T_P7; r->create_after = &T_M30)

static const combo COMBOS[] = {
    {"default_created", s_default, NULL},
    {"due_asc", s_due, NULL},
    {"due_asc_page2", s_due, "now"},
    {"due_desc", s_due_desc, NULL},
    {"priority_desc", s_prio_desc, NULL},
    {"title_asc", s_title, NULL},
    {"title_page2", s_title, "m"},
    {"updated_desc", s_updated_desc, NULL},
    {"open_due", s_open_due, NULL},
    {"completed_updated", s_completed_upd, NULL},
    {"prio_hi_due", s_prio_due, NULL},
    {"tag_due", s_tag_due, NULL},
    {"tags_any3_prio", s_tags_any_prio, NULL},
    {"tags_all2_title", s_tags_all_title, NULL},
    {"tags_all_nomatch_created", s_tags_all_none, NULL},
    {"tag_urgent_open_due", s_tag_urgent_open_due, NULL},
    {"due_next7d", s_due_week, NULL},
    {"overdue_due", s_overdue, NULL},
    {"overdue_prio", s_overdue_prio, NULL},
    {"nodue_created_desc", s_nodue_created, NULL},
    {"recurring_due", s_recurring_due, NULL},
    {"created_30d_desc", s_created_month, NULL},
    {"updated_7d_title", s_updated_week_title, NULL},
    {"search_gro_rank", s_search_gro, NULL},
    {"search_buy_milk_rank", s_search_two, NULL},
    {"search_report_rank", s_search_word, NULL},
    {"search_b_rank", s_search_broad, NULL},
    {"search_gro_due", s_search_due, NULL},
    {"search_tag_open_title", s_search_tag_open_title, NULL},
    {"everything", s_everything, NULL},
};

/* Replaces "$n" by ":pn" (pgbench variables). */
static void write_sql(FILE *f, const char *sql)
{
    for (const char *p = sql; *p; p++) {
        if (*p == '$' && p[1] >= '0' && p[1] <= '9') {
            fputs(":p", f);
            continue;
        }
        fputc(*p, f);
    }
    fputs(";\n", f);
}

/* OUTDIR/NAME.bin: the request as one gRPC message frame (flag 0, big-endian length),
 * the body `list_tasks.sh grpc` sends with h2load. A page-2 combination gets NAME.page1.bin
 * instead (its position here is a raw keyset value, not a page token): the script asks the
 * server for page 1 and appends the page_token it returns. */
static int write_frame(const char *dir, const char *name, const char *ext,
                       const Todo__V1__ListTasksRequest *r)
{
    char path[4096];
    size_t n = todo__v1__list_tasks_request__get_packed_size(r);
    uint8_t *buf = malloc(n + 5);
    FILE *f;
    int rc = -1;
    snprintf(path, sizeof(path), "%s/%s%s", dir, name, ext);
    if (buf == NULL || (f = fopen(path, "wb")) == NULL)
        goto out;
    buf[0] = 0;
    buf[1] = (uint8_t)(n >> 24);
    buf[2] = (uint8_t)(n >> 16);
    buf[3] = (uint8_t)(n >> 8);
    buf[4] = (uint8_t)n;
    todo__v1__list_tasks_request__pack(r, buf + 5);
    rc = fwrite(buf, 1, n + 5, f) == n + 5 ? 0 : -1;
    if (fclose(f) != 0)
        rc = -1;
out:
    free(buf);
    return rc;
}

int main(int argc, char **argv)
{
    char path[4096];
    FILE *names;
    time_t now = time(NULL);
    if (argc != 3 && !(argc == 4 && strcmp(argv[3], "big") == 0)) {
        fprintf(stderr, "usage: list_sql OUTDIR USER [big]\n");
        return 2;
    }
    T_NOW.seconds = now;
    T_P7.seconds = now + 7 * 86400;
    T_M30.seconds = now - 30 * 86400;
    T_M7.seconds = now - 7 * 86400;
    snprintf(path, sizeof(path), "%s/combos.txt", argv[1]);
    names = fopen(path, "w");
    if (names == NULL)
        return 1;
    for (size_t i = 0; i < sizeof(COMBOS) / sizeof(COMBOS[0]); i++) {
        const combo *c = &COMBOS[i];
        Todo__V1__ListTasksRequest r = TODO__V1__LIST_TASKS_REQUEST__INIT;
        td_arena *a = td_arena_new(1 << 16);
        td_task_query q;
        const char *bf, *bd;
        char nowkey[64];
        const char *key = c->after_key;
        c->setup(&r);
        if (key != NULL && strcmp(key, "now") == 0) {
            struct tm tm;
            gmtime_r(&now, &tm);
            strftime(nowkey, sizeof(nowkey), "%Y-%m-%d %H:%M:%S+00", &tm);
            key = nowkey;
        }
        td_task_query_in in = {.req = &r,
                               .user = argv[2],
                               .columns = TD_TASK_COLUMNS,
                               .ncolumns = TD_TASK_NCOLUMNS,
                               .page_size = 50,
                               .after_key = key,
                               .big_user = argc == 4,
                               .now_seconds = (int64_t)time(NULL),
                               .after_id = key ? "80000000-0000-0000-0000-000000000000" : NULL};
        if (td_task_query_build(&in, a, &q, &bf, &bd) != TD_OK) {
            fprintf(stderr, "%s: %s: %s\n", c->name, bf ? bf : "?", bd ? bd : "?");
            return 1;
        }
        snprintf(path, sizeof(path), "%s/%s.sql", argv[1], c->name);
        FILE *f = fopen(path, "w");
        snprintf(path, sizeof(path), "%s/%s.vars", argv[1], c->name);
        FILE *v = fopen(path, "w");
        if (f == NULL || v == NULL)
            return 1;
        write_sql(f, q.sql);
        if (q.fallback_sql != NULL) { /* PROBE: list_tasks.sh appends it when the walk says so */
            snprintf(path, sizeof(path), "%s/%s.fallback.sql", argv[1], c->name);
            FILE *fb = fopen(path, "w");
            if (fb == NULL)
                return 1;
            write_sql(fb, q.fallback_sql);
            fclose(fb);
        }
        if (write_frame(argv[1], c->name, c->after_key == NULL ? ".bin" : ".page1.bin", &r) != 0)
            return 1;
        /* pgbench -M: how the server sends it (td_task_query.prepare) */
        snprintf(path, sizeof(path), "%s/%s.mode", argv[1], c->name);
        FILE *m = fopen(path, "w");
        if (m == NULL)
            return 1;
        fputs(q.prepare ? "prepared\n" : "extended\n", m);
        fclose(m);
        for (int k = 0; k < q.nparams; k++)
            fprintf(v, "p%d=%s\n", k + 1, q.values[k]);
        fclose(f);
        fclose(v);
        fprintf(names, "%s\n", c->name);
        td_arena_destroy(a);
    }
    fclose(names);
    return 0;
}
