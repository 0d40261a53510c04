/* task_row.c - TD_TASK_COLUMNS row -> todo.v1.Task (see task_row.h for the encodings).
 * Pure parsing; everything lands in the caller's arena. Any thread. */
#include "store/task_row.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "google/protobuf/duration.pb-c.h"
#include "google/protobuf/timestamp.pb-c.h"

enum {
    COL_ID,
    COL_REVISION,
    COL_TITLE,
    COL_DESCRIPTION,
    COL_DUE_AT,
    COL_DUE_DATE,
    COL_TZ,
    COL_PRIORITY,
    COL_TAGS,
    COL_COMPLETED_AT,
    COL_CREATED_AT,
    COL_UPDATED_AT,
    COL_OVERDUE,
    COL_REMINDERS,
    COL_RECURRENCE
};

static bool parse_i64(const char *s, size_t len, int64_t *v)
{
    char buf[32];
    char *end = NULL;
    if (len == 0 || len >= sizeof(buf))
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    errno = 0;
    long long x = strtoll(buf, &end, 10);
    if (errno != 0 || end != buf + len)
        return false;
    *v = (int64_t)x;
    return true;
}

static Google__Protobuf__Timestamp *ts_from_us(td_arena *a, int64_t us)
{
    Google__Protobuf__Timestamp *ts = td_arena_alloc(a, sizeof(*ts));
    if (ts == NULL)
        return NULL;
    google__protobuf__timestamp__init(ts);
    int64_t sec = us / 1000000, rem = us % 1000000;
    if (rem < 0) {
        rem += 1000000;
        sec -= 1;
    }
    ts->seconds = sec;
    ts->nanos = (int32_t)(rem * 1000);
    return ts;
}

/* NULL column -> *ts = NULL, TD_OK. */
static td_status col_ts(const PGresult *r, int row, int col, td_arena *a,
                        Google__Protobuf__Timestamp **ts)
{
    int64_t us;
    *ts = NULL;
    if (PQgetisnull(r, row, col))
        return TD_OK;
    const char *v = PQgetvalue(r, row, col);
    if (!parse_i64(v, strlen(v), &us))
        return TD_EINTERNAL;
    *ts = ts_from_us(a, us);
    return *ts ? TD_OK : TD_ENOMEM;
}

static td_status parse_date(const char *s, size_t len, td_arena *a, Todo__V1__Date **out)
{
    int64_t y, m, d;
    if (len != 10 || s[4] != '-' || s[7] != '-' || !parse_i64(s, 4, &y) ||
        !parse_i64(s + 5, 2, &m) || !parse_i64(s + 8, 2, &d))
        return TD_EINTERNAL;
    Todo__V1__Date *dt = td_arena_alloc(a, sizeof(*dt));
    if (dt == NULL)
        return TD_ENOMEM;
    todo__v1__date__init(dt);
    dt->year = (int32_t)y;
    dt->month = (int32_t)m;
    dt->day = (int32_t)d;
    *out = dt;
    return TD_OK;
}

td_status td_pg_text_array_parse(const char *lit, td_arena *a, char ***items, size_t *n)
{
    td_status st = TD_OK;
    size_t len = strlen(lit), cap = 0, count = 0;
    char **v = NULL;
    char *buf = NULL;

    *items = NULL;
    *n = 0;
    if (len < 2 || lit[0] != '{' || lit[len - 1] != '}') {
        st = TD_EINVAL;
        goto out;
    }
    /* An upper bound on the element count: separators + 1. */
    for (size_t i = 1; i + 1 < len; i++)
        if (lit[i] == ',')
            cap++;
    cap++;
    v = td_arena_alloc(a, cap * sizeof(*v));
    buf = td_arena_alloc(a, len + 1);
    if (v == NULL || buf == NULL) {
        st = TD_ENOMEM;
        goto out;
    }
    size_t i = 1;
    if (len == 2)
        goto done; /* {} */
    for (;;) {
        size_t bl = 0;
        bool quoted = false;
        if (lit[i] == '"') {
            quoted = true;
            i++;
            while (i < len - 1 && lit[i] != '"') {
                if (lit[i] == '\\') {
                    i++;
                    if (i >= len - 1) {
                        st = TD_EINVAL;
                        goto out;
                    }
                }
                buf[bl++] = lit[i++];
            }
            if (lit[i] != '"') {
                st = TD_EINVAL;
                goto out;
            }
            i++;
        } else {
            while (i < len - 1 && lit[i] != ',') {
                if (lit[i] == '\\') {
                    i++;
                    if (i >= len - 1) {
                        st = TD_EINVAL;
                        goto out;
                    }
                }
                if (lit[i] == '{' || lit[i] == '"') { /* nested arrays are not ours */
                    st = TD_EINVAL;
                    goto out;
                }
                buf[bl++] = lit[i++];
            }
        }
        if (quoted || bl != 4 || strncasecmp(buf, "NULL", 4) != 0) {
            if (count >= cap) {
                st = TD_EINVAL;
                goto out;
            }
            v[count] = td_arena_strndup(a, buf, bl);
            if (v[count] == NULL) {
                st = TD_ENOMEM;
                goto out;
            }
            count++;
        }
        if (i == len - 1)
            break;
        if (lit[i] != ',') {
            st = TD_EINVAL;
            goto out;
        }
        i++;
    }
done:
    *items = v;
    *n = count;
out:
    return st;
}

void td_task_etag_format(int64_t revision, char *buf, size_t cap)
{
    snprintf(buf, cap, "%" PRId64, revision);
}

bool td_task_etag_parse(const char *etag, int64_t *revision)
{
    size_t len = strlen(etag);
    if (len >= 2 && etag[0] == 'W' && etag[1] == '/') {
        etag += 2;
        len -= 2;
    }
    if (len >= 2 && etag[0] == '"' && etag[len - 1] == '"') {
        etag++;
        len -= 2;
    }
    for (size_t i = 0; i < len; i++)
        if (etag[i] < '0' || etag[i] > '9')
            return false;
    return parse_i64(etag, len, revision) && *revision >= 0;
}

static const char *const freq_names[] = {NULL, "DAILY", "WEEKLY", "MONTHLY", "YEARLY"};
static const char *const day_names[] = {NULL, "MO", "TU", "WE", "TH", "FR", "SA", "SU"};

char *td_task_rrule_format(const Todo__V1__RecurrenceRule *rule, td_arena *a)
{
    char buf[512];
    size_t o = 0;
    int f = (int)rule->frequency;
#define PUT(...)                                                                                   \
    do {                                                                                           \
        int k_ = snprintf(buf + o, sizeof(buf) - o, __VA_ARGS__);                                  \
        if (k_ < 0 || (size_t)k_ >= sizeof(buf) - o)                                               \
            return NULL;                                                                           \
        o += (size_t)k_;                                                                           \
    } while (0)
    if (f < 1 || f > 4)
        return NULL;
    PUT("FREQ=%s", freq_names[f]);
    if (rule->interval > 1)
        PUT(";INTERVAL=%d", (int)rule->interval);
    if (rule->week_of_month != 0 && rule->weekday >= 1 && rule->weekday <= 7) {
        PUT(";BYDAY=%d%s", (int)rule->week_of_month, day_names[rule->weekday]);
    } else if (rule->n_days_of_week > 0) {
        PUT(";BYDAY=");
        for (size_t i = 0; i < rule->n_days_of_week; i++) {
            int d = (int)rule->days_of_week[i];
            if (d < 1 || d > 7)
                continue;
            PUT("%s%s", i ? "," : "", day_names[d]);
        }
    }
    if (rule->day_of_month != 0)
        PUT(";BYMONTHDAY=%d", (int)rule->day_of_month);
    if (rule->end_case == TODO__V1__RECURRENCE_RULE__END_COUNT)
        PUT(";COUNT=%d", (int)rule->count);
    else if (rule->end_case == TODO__V1__RECURRENCE_RULE__END_UNTIL && rule->until)
        PUT(";UNTIL=%04d%02d%02d", (int)rule->until->year, (int)rule->until->month,
            (int)rule->until->day);
#undef PUT
    return td_arena_strndup(a, buf, o);
}

static td_status parse_reminders(const char *s, td_arena *a, Todo__V1__Task *t)
{
    size_t cap = 1;
    for (const char *p = s; *p; p++)
        if (*p == ',')
            cap++;
    t->reminders = td_arena_alloc(a, cap * sizeof(*t->reminders));
    if (t->reminders == NULL)
        return TD_ENOMEM;
    const char *p = s;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        int64_t v;
        if (len < 2 || !parse_i64(p + 1, len - 1, &v))
            return TD_EINTERNAL;
        Todo__V1__TaskReminder *rm = td_arena_alloc(a, sizeof(*rm));
        if (rm == NULL)
            return TD_ENOMEM;
        todo__v1__task_reminder__init(rm);
        if (p[0] == 'o') {
            Google__Protobuf__Duration *d = td_arena_alloc(a, sizeof(*d));
            if (d == NULL)
                return TD_ENOMEM;
            google__protobuf__duration__init(d);
            d->seconds = v;
            rm->trigger_case = TODO__V1__TASK_REMINDER__TRIGGER_BEFORE_DUE;
            rm->before_due = d;
        } else if (p[0] == 'a') {
            rm->trigger_case = TODO__V1__TASK_REMINDER__TRIGGER_AT_TIME;
            rm->at_time = ts_from_us(a, v);
            if (rm->at_time == NULL)
                return TD_ENOMEM;
        } else {
            return TD_EINTERNAL;
        }
        t->reminders[t->n_reminders++] = rm;
        p += len;
        if (*p == ',')
            p++;
    }
    return TD_OK;
}

static const char *const freq_db[] = {NULL, "daily", "weekly", "monthly", "yearly"};

/* "freq|interval|wd,wd|month_day|set_pos|month|until|count|anchor|rrule" */
static td_status parse_recurrence(const char *s, td_arena *a, Todo__V1__Task *t)
{
    const char *f[10];
    size_t fl[10];
    const char *p = s;
    for (int i = 0; i < 10; i++) {
        const char *e = i < 9 ? strchr(p, '|') : NULL;
        if (i < 9 && e == NULL)
            return TD_EINTERNAL;
        f[i] = p;
        fl[i] = e ? (size_t)(e - p) : strlen(p);
        p += fl[i] + (e ? 1 : 0);
    }
    Todo__V1__RecurrenceRule *rr = td_arena_alloc(a, sizeof(*rr));
    if (rr == NULL)
        return TD_ENOMEM;
    todo__v1__recurrence_rule__init(rr);
    for (int k = 1; k <= 4; k++)
        if (strlen(freq_db[k]) == fl[0] && memcmp(freq_db[k], f[0], fl[0]) == 0)
            rr->frequency = (Todo__V1__RecurrenceRule__Frequency)k;
    if (rr->frequency == 0)
        return TD_EINTERNAL;
    int64_t v;
    if (!parse_i64(f[1], fl[1], &v))
        return TD_EINTERNAL;
    rr->interval = (int32_t)v;
    int64_t set_pos = 0;
    if (fl[4] > 0 && !parse_i64(f[4], fl[4], &set_pos))
        return TD_EINTERNAL;
    if (fl[2] > 0) {
        size_t cap = 1;
        for (size_t i = 0; i < fl[2]; i++)
            if (f[2][i] == ',')
                cap++;
        Todo__V1__Weekday *days = td_arena_alloc(a, cap * sizeof(*days));
        if (days == NULL)
            return TD_ENOMEM;
        size_t n = 0, i = 0;
        while (i < fl[2]) {
            size_t j = i;
            while (j < fl[2] && f[2][j] != ',')
                j++;
            if (!parse_i64(f[2] + i, j - i, &v) || v < 1 || v > 7)
                return TD_EINTERNAL;
            days[n++] = (Todo__V1__Weekday)v;
            i = j + 1;
        }
        if (set_pos != 0) {
            rr->week_of_month = (int32_t)set_pos;
            rr->weekday = days[0];
        } else {
            rr->days_of_week = days;
            rr->n_days_of_week = n;
        }
    }
    if (fl[3] > 0) {
        if (!parse_i64(f[3], fl[3], &v))
            return TD_EINTERNAL;
        rr->day_of_month = (int32_t)v;
    }
    if (fl[6] > 0) {
        td_status st = parse_date(f[6], fl[6], a, &rr->until);
        if (st != TD_OK)
            return st;
        rr->end_case = TODO__V1__RECURRENCE_RULE__END_UNTIL;
    } else if (fl[7] > 0) {
        if (!parse_i64(f[7], fl[7], &v))
            return TD_EINTERNAL;
        rr->end_case = TODO__V1__RECURRENCE_RULE__END_COUNT;
        rr->count = (int32_t)v;
    }
    if (fl[9] > 0)
        rr->rrule = td_arena_strndup(a, f[9], fl[9]);
    else
        rr->rrule = td_task_rrule_format(rr, a);
    if (rr->rrule == NULL)
        return TD_ENOMEM;
    t->recurrence = rr;
    return TD_OK;
}

td_status td_task_from_row(const PGresult *r, int row, int col0, td_arena *a, Todo__V1__Task *out)
{
    td_status st = TD_OK;
    int64_t v;
    char etag[24];
    const char *s;

    if (PQnfields(r) < col0 + TD_TASK_NCOLUMNS || row >= PQntuples(r)) {
        st = TD_EINTERNAL;
        goto out;
    }
#define COL(c)    PQgetvalue(r, row, col0 + (c))
#define ISNULL(c) PQgetisnull(r, row, col0 + (c))
    out->id = td_arena_strdup(a, COL(COL_ID));
    s = COL(COL_REVISION);
    if (!parse_i64(s, strlen(s), &v)) {
        st = TD_EINTERNAL;
        goto out;
    }
    out->revision = v;
    td_task_etag_format(v, etag, sizeof(etag));
    out->etag = td_arena_strdup(a, etag);
    out->title = td_arena_strdup(a, COL(COL_TITLE));
    out->description = td_arena_strdup(a, COL(COL_DESCRIPTION));
    if (out->id == NULL || out->etag == NULL || out->title == NULL || out->description == NULL) {
        st = TD_ENOMEM;
        goto out;
    }

    out->due = NULL;
    if (!ISNULL(COL_DUE_AT) || !ISNULL(COL_DUE_DATE)) {
        Todo__V1__Due *due = td_arena_alloc(a, sizeof(*due));
        if (due == NULL) {
            st = TD_ENOMEM;
            goto out;
        }
        todo__v1__due__init(due);
        due->time_zone = td_arena_strdup(a, COL(COL_TZ));
        if (due->time_zone == NULL) {
            st = TD_ENOMEM;
            goto out;
        }
        if (!ISNULL(COL_DUE_AT)) {
            st = col_ts(r, row, col0 + COL_DUE_AT, a, &due->due_time);
            due->when_case = TODO__V1__DUE__WHEN_DUE_TIME;
        } else {
            s = COL(COL_DUE_DATE);
            st = parse_date(s, strlen(s), a, &due->due_date);
            due->when_case = TODO__V1__DUE__WHEN_DUE_DATE;
        }
        if (st != TD_OK)
            goto out;
        out->due = due;
    }

    s = COL(COL_PRIORITY);
    if (!parse_i64(s, strlen(s), &v) || v < 0 || v > 4) {
        st = TD_EINTERNAL;
        goto out;
    }
    out->priority = (Todo__V1__Priority)v;

    st = td_pg_text_array_parse(COL(COL_TAGS), a, &out->tags, &out->n_tags);
    if (st == TD_EINVAL)
        st = TD_EINTERNAL;
    if (st != TD_OK)
        goto out;

    if ((st = col_ts(r, row, col0 + COL_COMPLETED_AT, a, &out->complete_time)) != TD_OK ||
        (st = col_ts(r, row, col0 + COL_CREATED_AT, a, &out->create_time)) != TD_OK ||
        (st = col_ts(r, row, col0 + COL_UPDATED_AT, a, &out->update_time)) != TD_OK)
        goto out;
    out->completed = out->complete_time != NULL;
    out->overdue = COL(COL_OVERDUE)[0] == 't';

    out->n_reminders = 0;
    out->reminders = NULL;
    if (!ISNULL(COL_REMINDERS) && (st = parse_reminders(COL(COL_REMINDERS), a, out)) != TD_OK)
        goto out;
    out->recurrence = NULL;
    if (!ISNULL(COL_RECURRENCE) && (st = parse_recurrence(COL(COL_RECURRENCE), a, out)) != TD_OK)
        goto out;
#undef COL
#undef ISNULL
out:
    return st;
}
