/* task_validate.c - pure validation + normalisation of TaskService input (rules in
 * task_validate.h). No I/O except the time-zone file check; no global state. */
#include "task_validate.h"

#include <ctype.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "core/utf8.h"
#include <sys/stat.h>
#include <unistd.h>

/* Tag names follow TagService's rules exactly when that module is built in. */
#if defined(__has_include)
#if __has_include("tag_validate.h")
#include "tag_validate.h"
#define TD_HAVE_TAG_VALIDATE 1
#endif
#endif

#define TS_MIN               (-62135596800LL) /* 0001-01-01T00:00:00Z */
#define TS_MAX               253402300799LL   /* 9999-12-31T23:59:59Z */
#define REMINDER_OFFSET_MAX  (366LL * 86400)
#define RECURRENCE_COUNT_MAX 100000

typedef struct sink {
    td_task_violation_fn fn;
    void *ctx;
    const char *prefix;
    size_t n;
} sink;

static void violate(sink *s, const char *field, const char *why)
{
    char path[128];
    if (s->prefix != NULL && s->prefix[0] != '\0')
        snprintf(path, sizeof(path), "%s.%s", s->prefix, field);
    else
        snprintf(path, sizeof(path), "%s", field);
    if (s->fn != NULL)
        s->fn(s->ctx, path, why);
    s->n++;
}

static bool tv_is_space(long cp)
{
    return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
           cp == 0x205F || cp == 0x3000;
}

static bool tv_is_control(long cp)
{
    return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029;
}

enum { TEXT_TRIM = 1, TEXT_ALLOW_NL = 2 };

/* Checks s; on success *out is the (trimmed) copy in a (or s itself when unchanged).
 * Returns NULL or the reason. */
static const char *tv_check_text(const char *s, unsigned flags, size_t min, size_t max, td_arena *a,
                                 char **out, bool *oom)
{
    size_t len = strlen(s), i = 0, first = len, last = 0;
    /* Pass 1: well-formedness and the trimmed range. */
    while (i < len) {
        size_t at = i;
        long cp = td_utf8_next(s, len, &i);
        if (cp < 0)
            return "is not valid UTF-8";
        if ((flags & TEXT_TRIM) && tv_is_space(cp))
            continue;
        if (first == len)
            first = at;
        last = i;
    }
    if (!(flags & TEXT_TRIM)) {
        first = 0;
        last = len;
    } else if (first == len) {
        first = last = 0;
    }
    /* Pass 2: control characters inside the kept range. */
    for (i = first; i < last;) {
        long cp = td_utf8_next(s, last, &i);
        if (tv_is_control(cp) &&
            !((flags & TEXT_ALLOW_NL) && (cp == '\n' || cp == '\t' || cp == '\r')))
            return "must not contain control characters";
    }
    size_t n = td_utf8_count(s + first, last - first);
    if (n < min)
        return min == 1 ? "must not be empty" : "is too short";
    if (n > max)
        return "is too long";
    *out = (first == 0 && last == len) ? (char *)s : td_arena_strndup(a, s + first, last - first);
    if (*out == NULL) {
        *oom = true;
        return "out of memory";
    }
    return NULL;
}

/* ---- dates, zones ---- */

bool td_date_valid(int y, int m, int d)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1 || y > 9999 || m < 1 || m > 12 || d < 1)
        return false;
    int max = mdays[m - 1];
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        max = 29;
    return d <= max;
}

bool td_time_zone_valid(const char *name, const char *zoneinfo_dir)
{
    char path[512];
    char magic[4];
    struct stat sb;
    size_t len = strlen(name);
    bool ok = false;
    int fd = -1;

    if (strcmp(name, "UTC") == 0)
        return true;
    if (len == 0 || len > 64 || name[0] == '/' || name[len - 1] == '/')
        goto out;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!(isalnum((unsigned char)c) || c == '_' || c == '+' || c == '-' || c == '/'))
            goto out;
        if (c == '/' && name[i + 1] == '/')
            goto out;
    }
    if (snprintf(path, sizeof(path), "%s/%s", zoneinfo_dir ? zoneinfo_dir : "/usr/share/zoneinfo",
                 name) >= (int)sizeof(path))
        goto out;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode))
        goto out;
    ok = read(fd, magic, 4) == 4 && memcmp(magic, "TZif", 4) == 0;
out:
    if (fd >= 0)
        close(fd);
    return ok;
}

bool td_task_id_valid(const char *id)
{
    if (strlen(id) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (id[i] != '-')
                return false;
        } else if (!isxdigit((unsigned char)id[i])) {
            return false;
        }
    }
    return true;
}

static bool ts_valid(const Google__Protobuf__Timestamp *ts, int64_t min)
{
    return ts->seconds >= min && ts->seconds <= TS_MAX && ts->nanos >= 0 && ts->nanos <= 999999999;
}

/* ---- RRULE ---- */

static int weekday_parse(const char *s, size_t len)
{
    static const char *const names[] = {"MO", "TU", "WE", "TH", "FR", "SA", "SU"};
    if (len != 2)
        return 0;
    for (int i = 0; i < 7; i++)
        if (s[0] == names[i][0] && s[1] == names[i][1])
            return i + 1;
    return 0;
}

static bool int_parse(const char *s, size_t len, long min, long max, long *v)
{
    long x = 0;
    bool neg = false;
    size_t i = 0;
    if (len > 0 && (s[0] == '+' || s[0] == '-')) {
        neg = s[0] == '-';
        i = 1;
    }
    if (i == len || len - i > 7)
        return false;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        x = x * 10 + (s[i] - '0');
    }
    if (neg)
        x = -x;
    if (x < min || x > max)
        return false;
    *v = x;
    return true;
}

/* Parses RFC 5545 RRULE text (already upper-cased, no prefix) into rr's structured
 * fields. Returns NULL or the reason. */
static const char *rrule_parse(const char *text, Todo__V1__RecurrenceRule *rr, td_arena *a)
{
    const char *p = text;
    bool seen_freq = false;
    long set_pos = 0;
    int byday_n = 0, byday_ord = 0;
    Todo__V1__Weekday days[7];
    bool have_days[8] = {false};

    rr->frequency = 0;
    rr->interval = 0;
    rr->n_days_of_week = 0;
    rr->days_of_week = NULL;
    rr->day_of_month = 0;
    rr->week_of_month = 0;
    rr->weekday = 0;
    rr->end_case = TODO__V1__RECURRENCE_RULE__END__NOT_SET;
    while (*p) {
        const char *e = strchr(p, ';');
        size_t plen = e ? (size_t)(e - p) : strlen(p);
        const char *eq = memchr(p, '=', plen);
        if (eq == NULL)
            return "malformed part (NAME=VALUE expected)";
        size_t nlen = (size_t)(eq - p);
        const char *v = eq + 1;
        size_t vlen = plen - nlen - 1;
        long x;
#define NAME_IS(lit) (nlen == sizeof(lit) - 1 && memcmp(p, lit, nlen) == 0)
        if (NAME_IS("FREQ")) {
            static const char *const f[] = {"DAILY", "WEEKLY", "MONTHLY", "YEARLY"};
            for (int i = 0; i < 4; i++)
                if (strlen(f[i]) == vlen && memcmp(f[i], v, vlen) == 0)
                    rr->frequency = (Todo__V1__RecurrenceRule__Frequency)(i + 1);
            if (rr->frequency == 0)
                return "FREQ must be DAILY, WEEKLY, MONTHLY or YEARLY";
            seen_freq = true;
        } else if (NAME_IS("INTERVAL")) {
            if (!int_parse(v, vlen, 1, 1000, &x))
                return "INTERVAL must be 1..1000";
            rr->interval = (int32_t)x;
        } else if (NAME_IS("COUNT")) {
            if (rr->end_case != 0 || !int_parse(v, vlen, 1, RECURRENCE_COUNT_MAX, &x))
                return "COUNT must be 1..100000 and not combined with UNTIL";
            rr->end_case = TODO__V1__RECURRENCE_RULE__END_COUNT;
            rr->count = (int32_t)x;
        } else if (NAME_IS("UNTIL")) {
            long y, m, d;
            if (rr->end_case != 0 || (vlen != 8 && vlen != 15 && vlen != 16) ||
                !int_parse(v, 4, 1, 9999, &y) || !int_parse(v + 4, 2, 1, 12, &m) ||
                !int_parse(v + 6, 2, 1, 31, &d) || !td_date_valid((int)y, (int)m, (int)d))
                return "UNTIL must be a valid YYYYMMDD[THHMMSS[Z]] and not combined with COUNT";
            rr->until = td_arena_alloc(a, sizeof(*rr->until));
            if (rr->until == NULL)
                return "out of memory";
            todo__v1__date__init(rr->until);
            rr->until->year = (int32_t)y;
            rr->until->month = (int32_t)m;
            rr->until->day = (int32_t)d;
            rr->end_case = TODO__V1__RECURRENCE_RULE__END_UNTIL;
        } else if (NAME_IS("BYDAY")) {
            size_t i = 0;
            while (i < vlen) {
                size_t j = i;
                while (j < vlen && v[j] != ',')
                    j++;
                if (j - i < 2)
                    return "BYDAY: malformed day";
                int wd = weekday_parse(v + j - 2, 2);
                if (wd == 0)
                    return "BYDAY: unknown day";
                if (j - i > 2) {
                    if (!int_parse(v + i, j - i - 2, -5, 5, &x) || x == 0 || (x < -1))
                        return "BYDAY: ordinal must be 1..5 or -1";
                    if (byday_ord != 0 || byday_n > 0)
                        return "BYDAY: only one day with an ordinal is supported";
                    byday_ord = (int)x;
                } else if (byday_ord != 0) {
                    return "BYDAY: only one day with an ordinal is supported";
                }
                if (!have_days[wd]) {
                    have_days[wd] = true;
                    days[byday_n++] = (Todo__V1__Weekday)wd;
                }
                i = j + 1;
            }
            if (byday_n == 0)
                return "BYDAY: empty";
        } else if (NAME_IS("BYMONTHDAY")) {
            if (!int_parse(v, vlen, -1, 31, &x) || x == 0)
                return "BYMONTHDAY must be one value, 1..31 or -1";
            rr->day_of_month = (int32_t)x;
        } else if (NAME_IS("BYSETPOS")) {
            if (!int_parse(v, vlen, -1, 5, &x) || x == 0)
                return "BYSETPOS must be 1..5 or -1";
            set_pos = x;
        } else if (NAME_IS("WKST")) {
            if (weekday_parse(v, vlen) == 0)
                return "WKST: unknown day";
        } else {
            return "unsupported RRULE part (FREQ, INTERVAL, BYDAY, BYMONTHDAY, BYSETPOS, "
                   "COUNT, UNTIL, WKST are)";
        }
#undef NAME_IS
        p += plen;
        if (*p == ';') {
            p++;
            if (*p == '\0')
                return "trailing ';'";
        }
    }
    if (!seen_freq)
        return "FREQ is required";
    if (byday_ord != 0 || set_pos != 0) {
        if (byday_n != 1 || (byday_ord != 0 && set_pos != 0))
            return "BYSETPOS/ordinal BYDAY need exactly one weekday";
        rr->week_of_month = byday_ord != 0 ? byday_ord : (int32_t)set_pos;
        rr->weekday = days[0];
    } else if (byday_n > 0) {
        rr->days_of_week = td_arena_alloc(a, (size_t)byday_n * sizeof(*rr->days_of_week));
        if (rr->days_of_week == NULL)
            return "out of memory";
        memcpy(rr->days_of_week, days, (size_t)byday_n * sizeof(*days));
        rr->n_days_of_week = (size_t)byday_n;
    }
    return NULL;
}

static void check_recurrence(Todo__V1__RecurrenceRule *rr, sink *s, td_arena *a)
{
    const char *why;
    if (rr->rrule != NULL && rr->rrule[0] != '\0') {
        size_t len = strlen(rr->rrule);
        if (len > TD_TASK_RRULE_MAX) {
            violate(s, "recurrence.rrule", "is longer than 1024 bytes");
            return;
        }
        char *up = td_arena_strndup(a, rr->rrule, len);
        if (up == NULL) {
            violate(s, "recurrence.rrule", "out of memory");
            return;
        }
        for (size_t i = 0; i < len; i++)
            up[i] = (char)toupper((unsigned char)up[i]);
        if (strncmp(up, "RRULE:", 6) == 0)
            up += 6;
        if ((why = rrule_parse(up, rr, a)) != NULL) {
            violate(s, "recurrence.rrule", why);
            return;
        }
        rr->rrule = up;
    }
    int f = (int)rr->frequency;
    if (f < 1 || f > 4) {
        violate(s, "recurrence.frequency", "must be DAILY, WEEKLY, MONTHLY or YEARLY");
        return;
    }
    if (rr->interval == 0)
        rr->interval = 1;
    if (rr->interval < 1 || rr->interval > 1000)
        violate(s, "recurrence.interval", "must be 1..1000");
    if (rr->n_days_of_week > 0 && f != TODO__V1__RECURRENCE_RULE__FREQUENCY__FREQUENCY_WEEKLY)
        violate(s, "recurrence.days_of_week", "only applies to WEEKLY");
    if (rr->n_days_of_week > 7)
        violate(s, "recurrence.days_of_week", "has more than 7 days");
    for (size_t i = 0; i < rr->n_days_of_week; i++) {
        if (rr->days_of_week[i] < 1 || rr->days_of_week[i] > 7) {
            violate(s, "recurrence.days_of_week", "holds an unknown weekday");
            break;
        }
        for (size_t j = 0; j < i; j++)
            if (rr->days_of_week[j] == rr->days_of_week[i]) {
                violate(s, "recurrence.days_of_week", "holds a day twice");
                i = rr->n_days_of_week;
                break;
            }
    }
    if (rr->day_of_month != 0) {
        if (rr->day_of_month < -1 || rr->day_of_month > 31)
            violate(s, "recurrence.day_of_month", "must be 1..31 or -1");
        if (f != TODO__V1__RECURRENCE_RULE__FREQUENCY__FREQUENCY_MONTHLY &&
            f != TODO__V1__RECURRENCE_RULE__FREQUENCY__FREQUENCY_YEARLY)
            violate(s, "recurrence.day_of_month", "only applies to MONTHLY or YEARLY");
    }
    if (rr->week_of_month != 0 || rr->weekday != 0) {
        if (rr->week_of_month < -1 || rr->week_of_month > 5 || rr->week_of_month == 0)
            violate(s, "recurrence.week_of_month", "must be 1..5 or -1, with weekday");
        if (rr->weekday < 1 || rr->weekday > 7)
            violate(s, "recurrence.weekday", "must be set with week_of_month");
        if (f != TODO__V1__RECURRENCE_RULE__FREQUENCY__FREQUENCY_MONTHLY)
            violate(s, "recurrence.week_of_month", "only applies to MONTHLY");
        if (rr->day_of_month != 0)
            violate(s, "recurrence.day_of_month", "cannot be combined with week_of_month");
    }
    if (rr->end_case == TODO__V1__RECURRENCE_RULE__END_COUNT &&
        (rr->count < 1 || rr->count > RECURRENCE_COUNT_MAX))
        violate(s, "recurrence.count", "must be 1..100000");
    if (rr->end_case == TODO__V1__RECURRENCE_RULE__END_UNTIL &&
        (rr->until == NULL || !td_date_valid(rr->until->year, rr->until->month, rr->until->day)))
        violate(s, "recurrence.until", "is not a valid date");
}

/* ---- public ---- */

size_t td_task_validate(Todo__V1__Task *t, unsigned fields, const char *prefix, td_arena *a,
                        td_task_violation_fn fn, void *ctx)
{
    sink s = {fn, ctx, prefix, 0};
    const char *why;
    bool oom = false;
    char field[64];

    if (fields & TD_TASK_F_TITLE) {
        why = tv_check_text(t->title, TEXT_TRIM, 1, TD_TASK_TITLE_MAX, a, &t->title, &oom);
        if (why != NULL)
            violate(&s, "title",
                    strcmp(why, "is too long") == 0 ? "must be at most 200 characters" : why);
    }
    if (fields & TD_TASK_F_DESCRIPTION) {
        why = tv_check_text(t->description, TEXT_ALLOW_NL, 0, TD_TASK_DESCRIPTION_MAX, a,
                            &t->description, &oom);
        if (why != NULL)
            violate(&s, "description",
                    strcmp(why, "is too long") == 0 ? "must be at most 2000 characters" : why);
    }
    if ((fields & TD_TASK_F_DUE) && t->due != NULL) {
        Todo__V1__Due *d = t->due;
        if (d->when_case == TODO__V1__DUE__WHEN_DUE_TIME && d->due_time != NULL) {
            if (!ts_valid(d->due_time, TS_MIN))
                violate(&s, "due.due_time", "is not a valid timestamp (0001..9999)");
        } else if (d->when_case == TODO__V1__DUE__WHEN_DUE_DATE && d->due_date != NULL) {
            if (!td_date_valid(d->due_date->year, d->due_date->month, d->due_date->day))
                violate(&s, "due.due_date", "is not a valid calendar date");
        } else {
            violate(&s, "due", "set exactly one of due_time or due_date (or leave due unset)");
        }
        if (d->time_zone == NULL || d->time_zone[0] == '\0')
            d->time_zone = (char *)"UTC";
        else if (!td_time_zone_valid(d->time_zone, NULL))
            violate(&s, "due.time_zone", "is not a known IANA time zone");
    }
    if (fields & TD_TASK_F_PRIORITY) {
        if (t->priority == TODO__V1__PRIORITY__PRIORITY_UNSPECIFIED)
            t->priority = TODO__V1__PRIORITY__PRIORITY_MEDIUM;
        if (t->priority < 1 || t->priority > 4)
            violate(&s, "priority", "must be LOW, MEDIUM, HIGH or URGENT");
    }
    if (fields & TD_TASK_F_TAGS) {
        if (t->n_tags > TD_TASK_TAGS_MAX) {
            violate(&s, "tags", "at most 64 tags");
        } else {
            size_t k = 0;
            for (size_t i = 0; i < t->n_tags; i++) {
                char *norm = NULL;
#ifdef TD_HAVE_TAG_VALIDATE
                why = NULL;
                if (td_tag_name_normalize(t->tags[i], a, &norm, &why) == TD_ENOMEM)
                    oom = true;
#else
                why = tv_check_text(t->tags[i], TEXT_TRIM, 1, TD_TASK_TAG_MAX, a, &norm, &oom);
#endif
                if (why != NULL) {
                    snprintf(field, sizeof(field), "tags[%zu]", i);
                    violate(&s, field,
                            strcmp(why, "is too long") == 0 ? "must be at most 50 characters"
                                                            : why);
                    continue;
                }
                bool dup = false;
                for (size_t j = 0; j < k && !dup; j++)
                    dup = strcasecmp(t->tags[j], norm) == 0;
                if (!dup)
                    t->tags[k++] = norm;
            }
            if (s.n == 0)
                t->n_tags = k;
        }
    }
    if (fields & TD_TASK_F_REMINDERS) {
        if (t->n_reminders > TD_TASK_REMINDERS_MAX) {
            violate(&s, "reminders", "at most 10 reminders");
        } else {
            for (size_t i = 0; i < t->n_reminders; i++) {
                const Todo__V1__TaskReminder *r = t->reminders[i];
                snprintf(field, sizeof(field), "reminders[%zu]", i);
                if (r->trigger_case == TODO__V1__TASK_REMINDER__TRIGGER_BEFORE_DUE &&
                    r->before_due != NULL) {
                    if (r->before_due->seconds < 0 || r->before_due->nanos < 0 ||
                        r->before_due->seconds > REMINDER_OFFSET_MAX ||
                        r->before_due->nanos > 999999999)
                        violate(&s, field, "before_due must be 0..366 days");
                    else if ((fields & TD_TASK_F_DUE) && t->due == NULL)
                        violate(&s, field, "before_due needs a due date");
                } else if (r->trigger_case == TODO__V1__TASK_REMINDER__TRIGGER_AT_TIME &&
                           r->at_time != NULL) {
                    if (!ts_valid(r->at_time, 0))
                        violate(&s, field, "at_time must be between 1970 and 9999");
                } else {
                    violate(&s, field, "set before_due or at_time");
                }
            }
        }
    }
    if ((fields & TD_TASK_F_RECURRENCE) && t->recurrence != NULL) {
        check_recurrence(t->recurrence, &s, a);
        if ((fields & TD_TASK_F_DUE) && t->due == NULL)
            violate(&s, "recurrence", "a recurring task needs a due date");
    }
    if (oom)
        violate(&s, "task", "out of memory");
    return s.n;
}

size_t td_task_validate_request_id(const char *request_id, td_task_violation_fn fn, void *ctx)
{
    sink s = {fn, ctx, NULL, 0};
    size_t len = strlen(request_id);
    if (len > TD_TASK_REQUEST_ID_MAX) {
        violate(&s, "request_id", "must be at most 128 bytes");
    } else {
        for (size_t i = 0; i < len; i++)
            if ((unsigned char)request_id[i] < 0x20 || (unsigned char)request_id[i] > 0x7E) {
                violate(&s, "request_id", "must be printable ASCII");
                break;
            }
    }
    return s.n;
}

size_t td_task_validate_mask(const Google__Protobuf__FieldMask *mask, unsigned *fields,
                             td_task_violation_fn fn, void *ctx)
{
    static const struct {
        const char *path;
        unsigned bit;
    } paths[] = {
        {"title", TD_TASK_F_TITLE},
        {"description", TD_TASK_F_DESCRIPTION},
        {"due", TD_TASK_F_DUE},
        {"priority", TD_TASK_F_PRIORITY},
        {"tags", TD_TASK_F_TAGS},
        {"reminders", TD_TASK_F_REMINDERS},
        {"recurrence", TD_TASK_F_RECURRENCE},
        {"*", TD_TASK_F_ALL},
    };
    static const char *const output_only[] = {
        "id",      "etag",     "completed",    "complete_time", "create_time", "update_time",
        "overdue", "revision", "completeTime", "createTime",    "updateTime"};
    sink s = {fn, ctx, NULL, 0};
    char why[160];
    *fields = 0;
    if (mask == NULL || mask->n_paths == 0) {
        violate(&s, "update_mask", "is required (name the fields to change, or \"*\")");
        return s.n;
    }
    for (size_t i = 0; i < mask->n_paths; i++) {
        const char *p = mask->paths[i];
        bool found = false;
        for (size_t k = 0; k < sizeof(paths) / sizeof(paths[0]) && !found; k++)
            if (strcmp(p, paths[k].path) == 0) {
                *fields |= paths[k].bit;
                found = true;
            }
        if (found)
            continue;
        bool out_only = false;
        for (size_t k = 0; k < sizeof(output_only) / sizeof(output_only[0]); k++)
            out_only = out_only || strcmp(p, output_only[k]) == 0;
        snprintf(why, sizeof(why), "%s path \"%.64s\"", out_only ? "output-only" : "unknown", p);
        violate(&s, "update_mask", why);
    }
    return s.n;
}
