/* task_validate.h - pure validation and normalisation of TaskService input, before any
 * SQL runs (nothing is stored when a violation is found).
 *
 * Rules (issue 3; the Task comments in proto/todo/v1/task.proto):
 *  - title: trimmed (ASCII and Unicode White_Space), then 1..200 code points (emoji and
 *    combining marks count one per code point, as PostgreSQL char_length does); NO control
 *    characters at all (C0 incl. \t \n \r, DEL, C1, U+2028/U+2029).
 *  - description: <= 2000 code points, not trimmed; may contain \t \n \r, no other controls.
 *  - due: exactly one of due_time (0001-01-01..9999-12-31, nanos 0..999999999; stored at
 *    microsecond precision) or due_date (a real calendar day, year 1..9999); time_zone
 *    empty -> "UTC", else an IANA name that exists under /usr/share/zoneinfo (safe path:
 *    [A-Za-z0-9_+-] segments, no "..", <= 64 bytes, a TZif file). PostgreSQL is the final
 *    judge: its 22023 on insert is reported on "task.due.time_zone" by the caller.
 *  - priority: UNSPECIFIED -> MEDIUM; other numbers outside 1..4 rejected.
 *  - tags: <= 64; each trimmed, 1..50 code points, no control characters; duplicates
 *    removed case-insensitively here for ASCII (first spelling wins) and again by tag id
 *    after the store matched them case-insensitively in PostgreSQL (full Unicode lower()).
 *  - reminders: <= 10; before_due 0..366 days (nanos dropped); at_time 1970..9999; a
 *    before_due reminder needs a due (checked when both are in scope).
 *  - recurrence: rrule (<= 1024 bytes, optional "RRULE:" prefix) wins and is parsed into
 *    the structured fields (FREQ, INTERVAL, BYDAY, BYMONTHDAY, BYSETPOS, COUNT, UNTIL,
 *    WKST; anything else -> violation); interval 0 -> 1, 1..1000; days_of_week only for
 *    WEEKLY; day_of_month 1..31 or -1 (MONTHLY/YEARLY); week_of_month 1..5 or -1 with a
 *    weekday (MONTHLY), exclusive with day_of_month; count >= 1 (<= 100000); until a valid
 *    date; a recurring task needs a due (when both are in scope).
 *  - request_id: <= 128 bytes of printable ASCII (0x20..0x7E).
 *  - update_mask: required (non-empty); paths title, description, due, priority, tags,
 *    reminders, recurrence, or "*" (all of them); output-only paths (id, etag, completed,
 *    ...) and unknown paths are violations on "update_mask".
 *
 * Every violation goes to the sink with the field path ("task.title",
 * "task.tags[3]", "task.due.time_zone", "update_mask") and a human description.
 * Thread-safe (no global state); all normalised strings live in the arena. */
#ifndef TD_SERVER_TASK_VALIDATE_H
#define TD_SERVER_TASK_VALIDATE_H
#include <stdbool.h>
#include <stddef.h>

#include "core/utf8.h" /* td_utf8_count */
#include <stdint.h>

#include "core/arena.h"
#include "google/protobuf/field_mask.pb-c.h"
#include "todo/v1/task.pb-c.h"

#define TD_TASK_TITLE_MAX       200
#define TD_TASK_DESCRIPTION_MAX 2000
#define TD_TASK_TAGS_MAX        64
#define TD_TASK_TAG_MAX         50
#define TD_TASK_REMINDERS_MAX   10
#define TD_TASK_REQUEST_ID_MAX  128
#define TD_TASK_RRULE_MAX       1024

/* Mutable fields of a Task (update_mask paths). */
enum {
    TD_TASK_F_TITLE = 1u << 0,
    TD_TASK_F_DESCRIPTION = 1u << 1,
    TD_TASK_F_DUE = 1u << 2,
    TD_TASK_F_PRIORITY = 1u << 3,
    TD_TASK_F_TAGS = 1u << 4,
    TD_TASK_F_REMINDERS = 1u << 5,
    TD_TASK_F_RECURRENCE = 1u << 6,
    TD_TASK_F_ALL = (1u << 7) - 1
};

/* Receives one violation. field/description are only valid during the call. */
typedef void (*td_task_violation_fn)(void *ctx, const char *field, const char *description);

/* Validates the fields of *t selected by `fields` and normalises them IN PLACE (trimmed
 * title and tags, deduplicated tags, default priority and time zone, interval 0 -> 1,
 * rrule parsed into the structured fields). prefix is the path of t in the request
 * ("task"). Returns the number of violations (0 = valid). New strings come from `a`.
 * Cross-field rules (offset reminders / recurrence need a due) apply only when both
 * fields are selected. */
size_t td_task_validate(Todo__V1__Task *t, unsigned fields, const char *prefix, td_arena *a,
                        td_task_violation_fn fn, void *ctx);

/* request_id: "" is allowed (no idempotency). Returns the number of violations. */
size_t td_task_validate_request_id(const char *request_id, td_task_violation_fn fn, void *ctx);

/* Maps update_mask paths to TD_TASK_F_* bits in *fields. Returns the number of
 * violations (empty mask, unknown or output-only path), all on "update_mask". */
size_t td_task_validate_mask(const Google__Protobuf__FieldMask *mask, unsigned *fields,
                             td_task_violation_fn fn, void *ctx);

/* True for a canonical textual UUID (36 chars, 8-4-4-4-12 hex). Ids that are not UUIDs
 * are answered NOT_FOUND without touching the database. */
bool td_task_id_valid(const char *id);

/* True when y-m-d is a real calendar day with 1 <= y <= 9999. */
bool td_date_valid(int y, int m, int d);
/* True when name is a safe IANA zone name present under zoneinfo_dir (NULL: the system
 * /usr/share/zoneinfo). "UTC" is always valid. */
bool td_time_zone_valid(const char *name, const char *zoneinfo_dir);

#endif
