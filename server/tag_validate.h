/* tag_validate.h - pure validation and normalisation of TagService input, run before any
 * SQL (nothing is stored when a violation is found).
 *
 * Rules (issue 3; proto/todo/v1/tag.proto):
 *  - name: trimmed (ASCII and Unicode White_Space at both ends), then 1..50 code points
 *    (PostgreSQL char_length), no control characters anywhere (C0 incl. \t \n \r, DEL,
 *    C1, U+2028/U+2029); invalid UTF-8 is refused (the runtime already refuses it).
 *    Same rule as a task's tag names (task_validate.h), so a tag created through a task
 *    can always be renamed to itself.
 *  - color: "" or "#RRGGBB" (hex digits, either case, stored as given).
 *  - update_mask paths: "name", "color" (or "*" = both); the mask is required, as for
 *    UpdateTask (an absent or empty mask is a violation, never an implicit "*");
 *    anything else is a violation.
 *  - page_size: 0 -> 50, 1..500 as is, > 500 -> 500, negative -> violation.
 *  - ids: canonical textual uuids only; anything else is NOT_FOUND without SQL.
 *
 * Thread-safe (no global state); normalised strings live in the caller's arena. */
#ifndef TD_SERVER_TAG_VALIDATE_H
#define TD_SERVER_TAG_VALIDATE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/status.h"

#define TD_TAG_NAME_MAX     50
#define TD_TAG_PAGE_DEFAULT 50
#define TD_TAG_PAGE_MAX     500

enum { TD_TAG_F_NAME = 1u << 0, TD_TAG_F_COLOR = 1u << 1, TD_TAG_F_ALL = 3u };

/* Trims and checks a tag name. TD_OK with *out (in `a`, or `in` itself when unchanged);
 * TD_EINVAL with a short reason in *why ("must not be empty", "is too long",
 * "must not contain control characters", "is not valid UTF-8"); TD_ENOMEM. */
td_status td_tag_name_normalize(const char *in, td_arena *a, char **out, const char **why);

/* True for "" or "#RRGGBB". */
bool td_tag_color_valid(const char *color);

/* Maps update_mask paths to TD_TAG_F_* bits. TD_OK, or TD_EINVAL with *bad = the first
 * offending path ("" when n == 0: an empty mask is refused). */
td_status td_tag_mask_parse(char *const *paths, size_t n, unsigned *fields, const char **bad);

/* Effective page size; TD_EINVAL when negative. */
td_status td_tag_page_size(int32_t requested, int *out);

/* True for a canonical textual uuid (8-4-4-4-12 hex, either case). */
bool td_tag_id_valid(const char *id);

#endif
