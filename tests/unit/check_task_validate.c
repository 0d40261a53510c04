/* check_task_validate.c - unit tests of server/task_validate.c: title/description limits
 * counted in code points (emoji, combining marks), trimming, control characters, due
 * dates and time zones, priority default, tags, reminders, recurrence (structured and
 * RRULE), request_id, update_mask, ids. Pure; single-threaded; one arena per test. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "../../server/task_validate.c"
#if __has_include("../../server/tag_validate.c")
#include "../../server/tag_validate.c"
#endif
#include "google/protobuf/duration.pb-c.h"
#include "google/protobuf/timestamp.pb-c.h"
#include "check_run.h"

static td_arena *A;
static char FIELDS[2048]; /* "field;field;..." of the last validation */

static void setup(void)
{
    A = td_arena_new(4096);
    ck_assert_ptr_nonnull(A);
    FIELDS[0] = '\0';
}

static void teardown(void)
{
    td_arena_destroy(A);
    A = NULL;
}

static void collect(void *ctx, const char *field, const char *description)
{
    (void)ctx;
    ck_assert_ptr_nonnull(description);
    ck_assert(description[0] != '\0');
    size_t l = strlen(FIELDS);
    snprintf(FIELDS + l, sizeof(FIELDS) - l, "%s;", field);
}

static size_t check_task(Todo__V1__Task *t, unsigned fields)
{
    FIELDS[0] = '\0';
    return td_task_validate(t, fields, "task", A, collect, NULL);
}

/* n copies of unit */
static char *rep(const char *unit, size_t n)
{
    size_t ul = strlen(unit);
    char *s = td_arena_alloc(A, ul * n + 1);
    for (size_t i = 0; i < n; i++)
        memcpy(s + i * ul, unit, ul);
    s[ul * n] = '\0';
    return s;
}

static Todo__V1__Task titled(const char *title)
{
    Todo__V1__Task t = TODO__V1__TASK__INIT;
    t.title = (char *)title;
    return t;
}

START_TEST(title_boundaries)
{
    Todo__V1__Task t = titled(rep("a", 200));
    ck_assert_uint_eq(check_task(&t, TD_TASK_F_ALL), 0);
    t = titled(rep("a", 201));
    ck_assert_uint_eq(check_task(&t, TD_TASK_F_ALL), 1);
    ck_assert_str_eq(FIELDS, "task.title;");
    /* emoji: 4 bytes, one code point each */
    t = titled(rep("\xF0\x9F\x98\x80", 200));
    ck_assert_uint_eq(check_task(&t, TD_TASK_F_ALL), 0);
    t = titled(rep("\xF0\x9F\x98\x80", 201));
    ck_assert_uint_eq(check_task(&t, TD_TASK_F_ALL), 1);
    /* e + COMBINING ACUTE: two code points per visible character */
    t = titled(rep("e\xCC\x81", 100));
    ck_assert_uint_eq(check_task(&t, TD_TASK_F_ALL), 0);
    char *s = td_arena_printf(A, "%sx", rep("e\xCC\x81", 100));
    t = titled(s);
    ck_assert_uint_eq(check_task(&t, TD_TASK_F_ALL), 1);
    /* trimming happens before counting */
    s = td_arena_printf(A, "   %s \t\xE3\x80\x80", rep("b", 200));
    t = titled(s);
    ck_assert_uint_eq(check_task(&t, TD_TASK_F_ALL), 0);
    ck_assert_uint_eq(strlen(t.title), 200);
    t = titled("  Buy milk \xC2\xA0");
    ck_assert_uint_eq(check_task(&t, TD_TASK_F_ALL), 0);
    ck_assert_str_eq(t.title, "Buy milk");
}
END_TEST

START_TEST(title_empty_and_controls)
{
    static const char *bad[] = {
        "",      "   ",        "\t\n",           "a\nb",       "a\tb",     "a\rb",         "a\x01",
        "a\x7f", "a\xC2\x85z", "a\xE2\x80\xA8z", "a\xC2\x9Fz", "\xC3\x28", "a\xED\xA0\x80"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        Todo__V1__Task t = titled(bad[i]);
        ck_assert_msg(check_task(&t, TD_TASK_F_ALL) == 1, "title #%zu accepted", i);
        ck_assert_str_eq(FIELDS, "task.title;");
    }
    Todo__V1__Task t = titled("Caf\xC3\xA9 \xF0\x9F\x8D\xB0 \xE4\xB8\xAD\xE6\x96\x87");
    ck_assert_uint_eq(check_task(&t, TD_TASK_F_ALL), 0);
}
END_TEST

START_TEST(description_rules)
{
    Todo__V1__Task t = titled("x");
    t.description = "line 1\nline 2\r\n\tindented";
    ck_assert_uint_eq(check_task(&t, TD_TASK_F_ALL), 0);
    t.description = "bell\x07";
    ck_assert_uint_eq(check_task(&t, TD_TASK_F_ALL), 1);
    ck_assert_str_eq(FIELDS, "task.description;");
    t.description = rep("\xC3\xA9", 2000);
    ck_assert_uint_eq(check_task(&t, TD_TASK_F_ALL), 0);
    t.description = rep("\xC3\xA9", 2001);
    ck_assert_uint_eq(check_task(&t, TD_TASK_F_ALL), 1);
}
END_TEST

START_TEST(dates)
{
    ck_assert(td_date_valid(2024, 2, 29));
    ck_assert(td_date_valid(2000, 2, 29));
    ck_assert(!td_date_valid(1900, 2, 29));
    ck_assert(!td_date_valid(2023, 2, 29));
    ck_assert(!td_date_valid(2023, 4, 31));
    ck_assert(td_date_valid(2023, 12, 31));
    ck_assert(!td_date_valid(2023, 13, 1));
    ck_assert(!td_date_valid(2023, 0, 1));
    ck_assert(!td_date_valid(2023, 1, 0));
    ck_assert(!td_date_valid(0, 1, 1));
    ck_assert(!td_date_valid(10000, 1, 1));
    ck_assert(td_date_valid(1, 1, 1));

    Todo__V1__Task t = titled("x");
    Todo__V1__Due due = TODO__V1__DUE__INIT;
    Todo__V1__Date d = TODO__V1__DATE__INIT;
    t.due = &due;
    ck_assert_uint_eq(check_task(&t, TD_TASK_F_ALL), 1); /* neither set */
    ck_assert_str_eq(FIELDS, "task.due;");
    due.when_case = TODO__V1__DUE__WHEN_DUE_DATE;
    due.due_date = &d;
    d.year = 2023, d.month = 2, d.day = 29;
    ck_assert_uint_eq(check_task(&t, TD_TASK_F_ALL), 1);
    ck_assert_str_eq(FIELDS, "task.due.due_date;");
    d.day = 28;
    ck_assert_uint_eq(check_task(&t, TD_TASK_F_ALL), 0);
    ck_assert_str_eq(due.time_zone, "UTC"); /* default */

    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    due.when_case = TODO__V1__DUE__WHEN_DUE_TIME;
    due.due_time = &ts;
    ts.seconds = 1700000000;
    ck_assert_uint_eq(check_task(&t, TD_TASK_F_ALL), 0);
    ts.nanos = 1000000000;
    ck_assert_uint_eq(check_task(&t, TD_TASK_F_ALL), 1);
    ck_assert_str_eq(FIELDS, "task.due.due_time;");
    ts.nanos = 0;
    ts.seconds = 253402300800LL; /* 10000-01-01 */
    ck_assert_uint_eq(check_task(&t, TD_TASK_F_ALL), 1);
}
END_TEST

START_TEST(time_zones)
{
    ck_assert(td_time_zone_valid("UTC", NULL));
    ck_assert(td_time_zone_valid("Europe/Paris", NULL));
    ck_assert(td_time_zone_valid("America/Argentina/Buenos_Aires", NULL));
    ck_assert(td_time_zone_valid("Etc/GMT+5", NULL));
    static const char *bad[] = {"",
                                "Mars/Olympus",
                                "../../etc/passwd",
                                "/etc/localtime",
                                "Europe/../Europe/Paris",
                                "Europe//Paris",
                                "Europe/Paris/",
                                "Europe/Paris\n",
                                "Europe",
                                "Europe/Paris;DROP",
                                "zone.tab"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(!td_time_zone_valid(bad[i], NULL), "zone #%zu accepted", i);

    Todo__V1__Task t = titled("x");
    Todo__V1__Due due = TODO__V1__DUE__INIT;
    Todo__V1__Date d = {PROTOBUF_C_MESSAGE_INIT(&todo__v1__date__descriptor), 2030, 1, 1};
    due.when_case = TODO__V1__DUE__WHEN_DUE_DATE;
    due.due_date = &d;
    due.time_zone = "Not/AZone";
    t.due = &due;
    ck_assert_uint_eq(check_task(&t, TD_TASK_F_ALL), 1);
    ck_assert_str_eq(FIELDS, "task.due.time_zone;");
}
END_TEST

START_TEST(priority_default_and_range)
{
    Todo__V1__Task t = titled("x");
    ck_assert_uint_eq(check_task(&t, TD_TASK_F_ALL), 0);
    ck_assert_int_eq(t.priority, TODO__V1__PRIORITY__PRIORITY_MEDIUM);
    t.priority = TODO__V1__PRIORITY__PRIORITY_URGENT;
    ck_assert_uint_eq(check_task(&t, TD_TASK_F_ALL), 0);
    ck_assert_int_eq(t.priority, TODO__V1__PRIORITY__PRIORITY_URGENT);
    t.priority = (Todo__V1__Priority)9; /* bad enum number (the runtime also rejects it) */
    ck_assert_uint_eq(check_task(&t, TD_TASK_F_ALL), 1);
    ck_assert_str_eq(FIELDS, "task.priority;");
}
END_TEST

START_TEST(tags_rules)
{
    Todo__V1__Task t = titled("x");
    char *tags[70];
    for (int i = 0; i < 70; i++)
        tags[i] = td_arena_printf(A, "tag%d", i);
    t.tags = tags;
    t.n_tags = 64;
    ck_assert_uint_eq(check_task(&t, TD_TASK_F_ALL), 0);
    t.n_tags = 65;
    ck_assert_uint_eq(check_task(&t, TD_TASK_F_ALL), 1);
    ck_assert_str_eq(FIELDS, "task.tags;");

    char *dup[] = {" Home ", "home", "HOME", "Work"};
    t.tags = dup;
    t.n_tags = 4;
    ck_assert_uint_eq(check_task(&t, TD_TASK_F_ALL), 0);
    ck_assert_uint_eq(t.n_tags, 2);
    ck_assert_str_eq(t.tags[0], "Home");
    ck_assert_str_eq(t.tags[1], "Work");

    char *bad[] = {"ok", rep("t", 51), "   ", "a\nb"};
    t.tags = bad;
    t.n_tags = 4;
    ck_assert_uint_eq(check_task(&t, TD_TASK_F_ALL), 3);
    ck_assert_str_eq(FIELDS, "task.tags[1];task.tags[2];task.tags[3];");
    char *fifty[] = {rep("\xF0\x9F\x8F\xB7", 50)};
    t.tags = fifty;
    t.n_tags = 1;
    ck_assert_uint_eq(check_task(&t, TD_TASK_F_ALL), 0);
}
END_TEST

START_TEST(reminders)
{
    Todo__V1__Task t = titled("x");
    Google__Protobuf__Duration off = GOOGLE__PROTOBUF__DURATION__INIT;
    Google__Protobuf__Timestamp at = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    Todo__V1__TaskReminder r_off = TODO__V1__TASK_REMINDER__INIT;
    Todo__V1__TaskReminder r_at = TODO__V1__TASK_REMINDER__INIT;
    Todo__V1__TaskReminder r_none = TODO__V1__TASK_REMINDER__INIT;
    r_off.trigger_case = TODO__V1__TASK_REMINDER__TRIGGER_BEFORE_DUE;
    r_off.before_due = &off;
    r_at.trigger_case = TODO__V1__TASK_REMINDER__TRIGGER_AT_TIME;
    r_at.at_time = &at;
    at.seconds = 1900000000;
    off.seconds = 3600;
    Todo__V1__TaskReminder *rs[11];

    /* absolute reminders need no due */
    rs[0] = &r_at;
    t.reminders = rs;
    t.n_reminders = 1;
    ck_assert_uint_eq(check_task(&t, TD_TASK_F_ALL), 0);
    /* offset without due */
    rs[0] = &r_off;
    ck_assert_uint_eq(check_task(&t, TD_TASK_F_ALL), 1);
    ck_assert_str_eq(FIELDS, "task.reminders[0];");
    Todo__V1__Due due = TODO__V1__DUE__INIT;
    Google__Protobuf__Timestamp dt = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    dt.seconds = 1900000000;
    due.when_case = TODO__V1__DUE__WHEN_DUE_TIME;
    due.due_time = &dt;
    t.due = &due;
    ck_assert_uint_eq(check_task(&t, TD_TASK_F_ALL), 0);
    off.seconds = -1;
    ck_assert_uint_eq(check_task(&t, TD_TASK_F_ALL), 1);
    off.seconds = 366LL * 86400 + 1;
    ck_assert_uint_eq(check_task(&t, TD_TASK_F_ALL), 1);
    off.seconds = 0;
    ck_assert_uint_eq(check_task(&t, TD_TASK_F_ALL), 0);
    at.seconds = -5;
    rs[0] = &r_at;
    ck_assert_uint_eq(check_task(&t, TD_TASK_F_ALL), 1);
    at.seconds = 1900000000;
    rs[0] = &r_none;
    ck_assert_uint_eq(check_task(&t, TD_TASK_F_ALL), 1);
    for (int i = 0; i < 11; i++)
        rs[i] = &r_at;
    t.n_reminders = 10;
    ck_assert_uint_eq(check_task(&t, TD_TASK_F_ALL), 0);
    t.n_reminders = 11;
    ck_assert_uint_eq(check_task(&t, TD_TASK_F_ALL), 1);
    ck_assert_str_eq(FIELDS, "task.reminders;");
}
END_TEST

static Todo__V1__Task with_due(Todo__V1__Due *due, Todo__V1__Date *d)
{
    Todo__V1__Task t = titled("x");
    d->year = 2030, d->month = 1, d->day = 31;
    due->when_case = TODO__V1__DUE__WHEN_DUE_DATE;
    due->due_date = d;
    t.due = due;
    return t;
}

START_TEST(recurrence_structured)
{
    Todo__V1__Due due = TODO__V1__DUE__INIT;
    Todo__V1__Date d = TODO__V1__DATE__INIT;
    Todo__V1__Task t = with_due(&due, &d);
    Todo__V1__RecurrenceRule rr = TODO__V1__RECURRENCE_RULE__INIT;
    t.recurrence = &rr;
    ck_assert_uint_eq(check_task(&t, TD_TASK_F_ALL), 1); /* no frequency */
    ck_assert_str_eq(FIELDS, "task.recurrence.frequency;");
    rr.frequency = TODO__V1__RECURRENCE_RULE__FREQUENCY__FREQUENCY_DAILY;
    ck_assert_uint_eq(check_task(&t, TD_TASK_F_ALL), 0);
    ck_assert_int_eq(rr.interval, 1);
    rr.interval = 1001;
    ck_assert_uint_eq(check_task(&t, TD_TASK_F_ALL), 1);
    ck_assert_str_eq(FIELDS, "task.recurrence.interval;");
    rr.interval = 1000;
    Todo__V1__Weekday days[] = {TODO__V1__WEEKDAY__WEEKDAY_MONDAY,
                                TODO__V1__WEEKDAY__WEEKDAY_FRIDAY};
    rr.days_of_week = days;
    rr.n_days_of_week = 2;
    ck_assert_uint_eq(check_task(&t, TD_TASK_F_ALL), 1); /* days only for WEEKLY */
    rr.frequency = TODO__V1__RECURRENCE_RULE__FREQUENCY__FREQUENCY_WEEKLY;
    ck_assert_uint_eq(check_task(&t, TD_TASK_F_ALL), 0);
    rr.n_days_of_week = 0;
    rr.frequency = TODO__V1__RECURRENCE_RULE__FREQUENCY__FREQUENCY_MONTHLY;
    rr.day_of_month = 31;
    ck_assert_uint_eq(check_task(&t, TD_TASK_F_ALL), 0);
    rr.day_of_month = -1;
    ck_assert_uint_eq(check_task(&t, TD_TASK_F_ALL), 0);
    rr.day_of_month = 32;
    ck_assert_uint_eq(check_task(&t, TD_TASK_F_ALL), 1);
    rr.day_of_month = 0;
    rr.week_of_month = 2;
    ck_assert_uint_eq(check_task(&t, TD_TASK_F_ALL), 1); /* weekday missing */
    rr.weekday = TODO__V1__WEEKDAY__WEEKDAY_TUESDAY;
    ck_assert_uint_eq(check_task(&t, TD_TASK_F_ALL), 0);
    rr.end_case = TODO__V1__RECURRENCE_RULE__END_COUNT;
    rr.count = 0;
    ck_assert_uint_eq(check_task(&t, TD_TASK_F_ALL), 1);
    ck_assert_str_eq(FIELDS, "task.recurrence.count;");
    rr.count = 5;
    ck_assert_uint_eq(check_task(&t, TD_TASK_F_ALL), 0);
    Todo__V1__Date until = {PROTOBUF_C_MESSAGE_INIT(&todo__v1__date__descriptor), 2031, 2, 30};
    rr.end_case = TODO__V1__RECURRENCE_RULE__END_UNTIL;
    rr.until = &until;
    ck_assert_uint_eq(check_task(&t, TD_TASK_F_ALL), 1);
    ck_assert_str_eq(FIELDS, "task.recurrence.until;");
    until.day = 28;
    ck_assert_uint_eq(check_task(&t, TD_TASK_F_ALL), 0);
    /* a recurring task needs a due */
    t.due = NULL;
    ck_assert_uint_eq(check_task(&t, TD_TASK_F_ALL), 1);
    ck_assert_str_eq(FIELDS, "task.recurrence;");
}
END_TEST

START_TEST(recurrence_rrule)
{
    Todo__V1__Due due = TODO__V1__DUE__INIT;
    Todo__V1__Date d = TODO__V1__DATE__INIT;
    Todo__V1__Task t = with_due(&due, &d);
    Todo__V1__RecurrenceRule rr = TODO__V1__RECURRENCE_RULE__INIT;
    t.recurrence = &rr;

    rr.rrule = "RRULE:freq=weekly;interval=2;byday=MO,WE,MO;count=10";
    ck_assert_uint_eq(check_task(&t, TD_TASK_F_ALL), 0);
    ck_assert_int_eq(rr.frequency, TODO__V1__RECURRENCE_RULE__FREQUENCY__FREQUENCY_WEEKLY);
    ck_assert_int_eq(rr.interval, 2);
    ck_assert_uint_eq(rr.n_days_of_week, 2);
    ck_assert_int_eq(rr.end_case, TODO__V1__RECURRENCE_RULE__END_COUNT);
    ck_assert_int_eq(rr.count, 10);
    ck_assert_str_eq(rr.rrule, "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE,MO;COUNT=10");

    rr.rrule = "FREQ=MONTHLY;BYDAY=-1FR;UNTIL=20301231T235959Z";
    ck_assert_uint_eq(check_task(&t, TD_TASK_F_ALL), 0);
    ck_assert_int_eq(rr.week_of_month, -1);
    ck_assert_int_eq(rr.weekday, TODO__V1__WEEKDAY__WEEKDAY_FRIDAY);
    ck_assert_int_eq(rr.until->year, 2030);

    rr.rrule = "FREQ=MONTHLY;BYDAY=TU;BYSETPOS=2";
    ck_assert_uint_eq(check_task(&t, TD_TASK_F_ALL), 0);
    ck_assert_int_eq(rr.week_of_month, 2);

    static const char *bad[] = {"FREQ=HOURLY",
                                "INTERVAL=2",
                                "FREQ=DAILY;INTERVAL=0",
                                "FREQ=DAILY;COUNT=3;UNTIL=20300101",
                                "FREQ=DAILY;BYHOUR=9",
                                "FREQ=DAILY;",
                                "FREQ",
                                "FREQ=WEEKLY;BYDAY=XX",
                                "FREQ=MONTHLY;BYMONTHDAY=32",
                                "FREQ=DAILY;UNTIL=20230229",
                                "FREQ=DAILY;BYDAY=MO",
                                "FREQ=MONTHLY;BYDAY=2MO,3TU"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        Todo__V1__RecurrenceRule r2 = TODO__V1__RECURRENCE_RULE__INIT;
        r2.rrule = (char *)bad[i];
        t.recurrence = &r2;
        ck_assert_msg(check_task(&t, TD_TASK_F_ALL) >= 1, "rrule #%zu accepted", i);
    }
    Todo__V1__RecurrenceRule r3 = TODO__V1__RECURRENCE_RULE__INIT;
    r3.rrule = td_arena_printf(A, "FREQ=DAILY;%s", rep("WKST=MO;", 130));
    t.recurrence = &r3;
    ck_assert_uint_eq(check_task(&t, TD_TASK_F_ALL), 1);
    ck_assert_str_eq(FIELDS, "task.recurrence.rrule;");
}
END_TEST

START_TEST(request_id)
{
    ck_assert_uint_eq(td_task_validate_request_id("", collect, NULL), 0);
    ck_assert_uint_eq(td_task_validate_request_id(rep("r", 128), collect, NULL), 0);
    ck_assert_uint_eq(td_task_validate_request_id(rep("r", 129), collect, NULL), 1);
    ck_assert_uint_eq(td_task_validate_request_id("abc\x01", collect, NULL), 1);
    ck_assert_uint_eq(td_task_validate_request_id("caf\xC3\xA9", collect, NULL), 1);
    ck_assert_str_eq(FIELDS, "request_id;request_id;request_id;");
}
END_TEST

START_TEST(update_mask)
{
    Google__Protobuf__FieldMask m = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
    unsigned f = 0;
    ck_assert_uint_eq(td_task_validate_mask(&m, &f, collect, NULL), 1);
    ck_assert_uint_eq(td_task_validate_mask(NULL, &f, collect, NULL), 1);
    char *ok[] = {"title", "tags", "due"};
    m.paths = ok;
    m.n_paths = 3;
    ck_assert_uint_eq(td_task_validate_mask(&m, &f, collect, NULL), 0);
    ck_assert_uint_eq(f, TD_TASK_F_TITLE | TD_TASK_F_TAGS | TD_TASK_F_DUE);
    char *star[] = {"*"};
    m.paths = star;
    m.n_paths = 1;
    ck_assert_uint_eq(td_task_validate_mask(&m, &f, collect, NULL), 0);
    ck_assert_uint_eq(f, TD_TASK_F_ALL);
    char *bad[] = {"title", "bogus", "etag", "completed"};
    m.paths = bad;
    m.n_paths = 4;
    FIELDS[0] = '\0';
    ck_assert_uint_eq(td_task_validate_mask(&m, &f, collect, NULL), 3);
    ck_assert_str_eq(FIELDS, "update_mask;update_mask;update_mask;");

    /* only masked fields are validated */
    Todo__V1__Task t = titled("");
    ck_assert_uint_eq(check_task(&t, TD_TASK_F_DESCRIPTION), 0);
    ck_assert_uint_eq(check_task(&t, TD_TASK_F_TITLE), 1);
}
END_TEST

START_TEST(ids)
{
    ck_assert(td_task_id_valid("5911ffb3-4c32-42e0-b6b1-0907c1da0b7b"));
    ck_assert(td_task_id_valid("5911FFB3-4C32-42E0-B6B1-0907C1DA0B7B"));
    ck_assert(!td_task_id_valid(""));
    ck_assert(!td_task_id_valid("5911ffb3-4c32-42e0-b6b1-0907c1da0b7"));
    ck_assert(!td_task_id_valid("5911ffb3x4c32-42e0-b6b1-0907c1da0b7b"));
    ck_assert(!td_task_id_valid("5911ffb3-4c32-42e0-b6b1-0907c1da0b7g"));
    ck_assert(!td_task_id_valid("'; DROP TABLE tasks; --"));
    ck_assert_uint_eq(td_utf8_count("a\xC3\xA9\xF0\x9F\x98\x80", 7), 3);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("task_validate");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, title_boundaries);
    tcase_add_test(tc, title_empty_and_controls);
    tcase_add_test(tc, description_rules);
    tcase_add_test(tc, dates);
    tcase_add_test(tc, time_zones);
    tcase_add_test(tc, priority_default_and_range);
    tcase_add_test(tc, tags_rules);
    tcase_add_test(tc, reminders);
    tcase_add_test(tc, recurrence_structured);
    tcase_add_test(tc, recurrence_rrule);
    tcase_add_test(tc, request_id);
    tcase_add_test(tc, update_mask);
    tcase_add_test(tc, ids);
    suite_add_tcase(s, tc);
    return td_check_run(s);
}
