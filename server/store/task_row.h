/* task_row.h - the one place that knows how a task row is SELECTed and turned into a
 * todo.v1.Task. Every query returning tasks (create/update RETURNING-free re-reads,
 * GetTask, ListTasks, WatchTasks snapshots) uses TD_TASK_COLUMNS and td_task_from_row(),
 * so the wire shape of a task can never differ between RPCs.
 *
 * Query shape: "SELECT " TD_TASK_COLUMNS " FROM tasks t WHERE t.user_id = $1 AND ..."
 * The table alias MUST be t. Reminders and the recurrence rule come from correlated
 * scalar subqueries (index lookups on reminders_task_idx / recurrence_rules PK), so the
 * macro composes with any FROM/WHERE/ORDER BY/LIMIT without extra joins and works in a
 * keyset-paginated query unchanged. Results must be requested in TEXT format.
 *
 * Column encodings (chosen so that parsing is trivial and locale/DateStyle independent):
 *   timestamps   -> epoch microseconds as int8 text (NULL = unset)
 *   dates        -> 'YYYY-MM-DD' via to_char
 *   tags         -> the text[] literal ({a,"b c","x\"y"}), parsed here (quotes, backslashes)
 *   reminders    -> "o<seconds>" (before due) / "a<epoch us>" (absolute), comma separated,
 *                   offsets first then absolute, each ascending; NULL = none
 *   recurrence   -> "freq|interval|wd,wd|month_day|set_pos|month|until|count|anchor|rrule"
 *                   (empty field = NULL; rrule is last so it may hold any character)
 *   overdue      -> computed in SQL: completed_at IS NULL AND overdue_at <= now()
 *
 * etag: the task's revision as plain decimal text ("42"), no quotes. Clients treat it
 * as opaque; td_task_etag_parse() also accepts the quoted/weak HTTP forms ("\"42\"",
 * W/"42") for leniency.
 *
 * Memory: every string and sub-message of *out is allocated in the arena `a`; the
 * PGresult may be cleared afterwards. Pure functions, any thread. */
#ifndef TD_SERVER_STORE_TASK_ROW_H
#define TD_SERVER_STORE_TASK_ROW_H
#include <stdbool.h>
#include <stdint.h>
#include <libpq-fe.h>

#include "core/arena.h"
#include "core/status.h"
#include "todo/v1/task.pb-c.h"

#define TD__TASK_US(x) "(extract(epoch FROM " x ") * 1000000)::int8"

/* 15 columns, alias t. Keep TD_TASK_NCOLUMNS in sync. */
#define TD_TASK_COLUMNS                                                                            \
    "t.id::text, t.revision, t.title, t.description, " TD__TASK_US(                                \
        "t.due_at") ", to_char(t.due_date, 'YYYY-MM-DD'), t.time_zone, "                           \
                    "t.priority, t.tags, " TD__TASK_US("t.completed_at") ", " TD__TASK_US(         \
                        "t.created_at") ", " TD__TASK_US("t.updated_at") ", "                      \
                                                                         "(t.completed_at IS "     \
                                                                         "NULL AND t.overdue_at "  \
                                                                         "<= now()), "             \
                                                                         "(SELECT "                \
                                                                         "string_agg(CASE WHEN "   \
                                                                         "r.kind = 'offset' THEN " \
                                                                         "'o' || "                 \
                                                                         "r.offset_seconds "       \
                                                                         "ELSE 'a' "               \
                                                                         "|| " TD__TASK_US(        \
                                                                             "r.absolute_at") " E" \
                                                                                              "ND" \
                                                                                              ", " \
                                                                                              "'," \
                                                                                              "' " \
                                                                                              "OR" \
                                                                                              "DE" \
                                                                                              "R " \
                                                                                              "BY" \
                                                                                              " r" \
                                                                                              ".k" \
                                                                                              "in" \
                                                                                              "d " \
                                                                                              "DE" \
                                                                                              "SC" \
                                                                                              ", " \
                                                                                              "r." \
                                                                                              "of" \
                                                                                              "fs" \
                                                                                              "et" \
                                                                                              "_s" \
                                                                                              "ec" \
                                                                                              "on" \
                                                                                              "ds" \
                                                                                              ", " \
                                                                                              "r." \
                                                                                              "ab" \
                                                                                              "so" \
                                                                                              "lu" \
                                                                                              "te" \
                                                                                              "_a" \
                                                                                              "t)" \
                                                                                              " "  \
                                                                                              "FR" \
                                                                                              "OM" \
                                                                                              " r" \
                                                                                              "em" \
                                                                                              "in" \
                                                                                              "de" \
                                                                                              "rs" \
                                                                                              " r" \
                                                                                              " W" \
                                                                                              "HE" \
                                                                                              "RE" \
                                                                                              " r" \
                                                                                              ".t" \
                                                                                              "as" \
                                                                                              "k_" \
                                                                                              "id" \
                                                                                              " =" \
                                                                                              " t" \
                                                                                              ".i" \
                                                                                              "d " \
                                                                                              "AN" \
                                                                                              "D " \
                                                                                              "r." \
                                                                                              "st" \
                                                                                              "at" \
                                                                                              "e " \
                                                                                              "<>" \
                                                                                              " '" \
                                                                                              "ca" \
                                                                                              "nc" \
                                                                                              "el" \
                                                                                              "le" \
                                                                                              "d'" \
                                                                                              ")," \
                                                                                              " "  \
                                                                                              "(S" \
                                                                                              "EL" \
                                                                                              "EC" \
                                                                                              "T " \
                                                                                              "co" \
                                                                                              "nc" \
                                                                                              "at" \
                                                                                              "(r" \
                                                                                              "r." \
                                                                                              "fr" \
                                                                                              "eq" \
                                                                                              ", " \
                                                                                              "'|" \
                                                                                              "'," \
                                                                                              " r" \
                                                                                              "r." \
                                                                                              "in" \
                                                                                              "te" \
                                                                                              "rv" \
                                                                                              "al" \
                                                                                              "_n" \
                                                                                              ", " \
                                                                                              "'|" \
                                                                                              "'," \
                                                                                              " a" \
                                                                                              "rr" \
                                                                                              "ay" \
                                                                                              "_t" \
                                                                                              "o_" \
                                                                                              "st" \
                                                                                              "ri" \
                                                                                              "ng" \
                                                                                              "(r" \
                                                                                              "r." \
                                                                                              "by" \
                                                                                              "_w" \
                                                                                              "ee" \
                                                                                              "kd" \
                                                                                              "ay" \
                                                                                              ", " \
                                                                                              "'," \
                                                                                              "')" \
                                                                                              ", " \
                                                                                              "'|" \
                                                                                              "'," \
                                                                                              " r" \
                                                                                              "r." \
                                                                                              "by" \
                                                                                              "_m" \
                                                                                              "on" \
                                                                                              "th" \
                                                                                              "_d" \
                                                                                              "ay" \
                                                                                              ", " \
                                                                                              "'|" \
                                                                                              "'," \
                                                                                              " r" \
                                                                                              "r." \
                                                                                              "by" \
                                                                                              "_s" \
                                                                                              "et" \
                                                                                              "_p" \
                                                                                              "os" \
                                                                                              ", " \
                                                                                              "'|" \
                                                                                              "'," \
                                                                                              " r" \
                                                                                              "r." \
                                                                                              "by" \
                                                                                              "_m" \
                                                                                              "on" \
                                                                                              "th" \
                                                                                              ", " \
                                                                                              "'|" \
                                                                                              "'," \
                                                                                              " "  \
                                                                                              "to" \
                                                                                              "_c" \
                                                                                              "ha" \
                                                                                              "r(" \
                                                                                              "rr" \
                                                                                              ".u" \
                                                                                              "nt" \
                                                                                              "il" \
                                                                                              "_d" \
                                                                                              "at" \
                                                                                              "e," \
                                                                                              " '" \
                                                                                              "YY" \
                                                                                              "YY" \
                                                                                              "-M" \
                                                                                              "M-" \
                                                                                              "DD" \
                                                                                              "')" \
                                                                                              ", " \
                                                                                              "'|" \
                                                                                              "'," \
                                                                                              " r" \
                                                                                              "r." \
                                                                                              "co" \
                                                                                              "un" \
                                                                                              "t_" \
                                                                                              "re" \
                                                                                              "ma" \
                                                                                              "in" \
                                                                                              "in" \
                                                                                              "g," \
                                                                                              " '" \
                                                                                              "|'" \
                                                                                              ", " \
                                                                                              "rr" \
                                                                                              ".a" \
                                                                                              "nc" \
                                                                                              "ho" \
                                                                                              "r_" \
                                                                                              "da" \
                                                                                              "y," \
                                                                                              " "  \
                                                                                              "'|" \
                                                                                              "'," \
                                                                                              " r" \
                                                                                              "r." \
                                                                                              "rr" \
                                                                                              "ul" \
                                                                                              "e)" \
                                                                                              " F" \
                                                                                              "RO" \
                                                                                              "M " \
                                                                                              "re" \
                                                                                              "cu" \
                                                                                              "rr" \
                                                                                              "en" \
                                                                                              "ce" \
                                                                                              "_r" \
                                                                                              "ul" \
                                                                                              "es" \
                                                                                              " r" \
                                                                                              "r " \
                                                                                              "WH" \
                                                                                              "ER" \
                                                                                              "E " \
                                                                                              "rr" \
                                                                                              ".t" \
                                                                                              "as" \
                                                                                              "k_" \
                                                                                              "id" \
                                                                                              " =" \
                                                                                              " t" \
                                                                                              ".i" \
                                                                                              "d)"
#define TD_TASK_NCOLUMNS 15

/* Fills *out (initialise it with TODO__V1__TASK__INIT first, or pass the handler's
 * response) from columns col0 .. col0+TD_TASK_NCOLUMNS-1 of row `row`.
 * TD_OK, TD_ENOMEM, or TD_EINTERNAL when a column does not parse (a schema/SQL bug). */
td_status td_task_from_row(const PGresult *r, int row, int col0, td_arena *a, Todo__V1__Task *out);

/* Parses a PostgreSQL one-dimensional text[] literal ("{a,\"b c\",NULL}") into arena
 * strings (NULL elements are skipped). TD_OK / TD_ENOMEM / TD_EINVAL (malformed). */
td_status td_pg_text_array_parse(const char *lit, td_arena *a, char ***items, size_t *n);

/* Writes the etag of a revision into buf (>= 21 bytes). */
void td_task_etag_format(int64_t revision, char *buf, size_t cap);
/* Parses an etag ("42", "\"42\"", "W/\"42\""); false when it is not one of ours. */
bool td_task_etag_parse(const char *etag, int64_t *revision);

/* The RRULE text of a structured rule ("FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE"), in `a`.
 * NULL on out of memory or when the frequency is unset. */
char *td_task_rrule_format(const Todo__V1__RecurrenceRule *rule, td_arena *a);

#endif
