/* changes.h - the change record (transactional outbox) written in the SAME transaction as
 * every mutation: bumps the user's revision and stores the CloudEvent the relay will
 * publish to Kafka. Nothing is published that was not committed; nothing committed goes
 * unpublished.
 *
 * CloudEvent (protobuf, structured mode): id = event uuid, source = "//todo/server",
 * spec_version "1.0", type = ch->type (e.g. "todo.v1.TaskCreated"), attributes: time,
 * subject (aggregate id), datacontenttype "application/protobuf", dataschema =
 * "type.googleapis.com/<message full name>", partitionkey = user id, revision (decimal
 * ce_string: ce_integer is only int32), traceparent (ch->traceparent when it is a valid
 * W3C value, else derived from ch->cid: see td_ce_traceparent_from_cid); proto_data =
 * Any(ch->data). Codec: lib/events/cloudevent.h.
 *
 * Usage inside a transaction (statement names are in td_changes_stmts):
 *   int64_t rev; td_change_bump_revision(conn, user, &rev, ...)   -- 1 round trip
 *   ... the mutation, using rev as the row's revision/etag ...
 *   td_change_insert(conn, &ch, rev, arena, ...)                   -- 1 round trip
 * or, to pipeline, td_change_params() gives the parameters of the "td_change_insert"
 * statement so a caller can queue it in a td_pg_pipeline with its own statements. */
#ifndef TD_SERVER_CHANGES_H
#define TD_SERVER_CHANGES_H
#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>

#include "core/arena.h"
#include "pg/pg.h"

extern const td_pg_stmt td_changes_stmts[];
extern const size_t td_changes_nstmts;

typedef struct td_change {
    const char *user_id;
    const char *type;           /* CloudEvent type = event message name, "todo.v1.TaskCreated" */
    const char *aggregate_type; /* "task" | "tag" */
    const char *aggregate_id;
    const ProtobufCMessage *data; /* todo.v1 event message (TaskCreated, ...) */
    const char *traceparent;      /* W3C traceparent or NULL (one is derived from cid) */
    const char *cid;              /* correlation id of the gRPC call, may be NULL */
    const char *topic;            /* NULL = "task.events" */
} td_change;

/* Statement "td_change_bump": upsert users_revisions, returns the new revision. */
td_status td_change_bump_revision(td_pg_conn *conn, const char *user_id, int64_t *revision,
                                  char *err, size_t err_cap);

/* Parameters of statement "td_change_insert" for ch at revision rev, allocated in a:
 * n = 10 values/lengths/formats (the payload is binary). event_id_out (37 bytes) receives
 * the event uuid. */
typedef struct td_change_params {
    const char *values[10];
    int lengths[10];
    int formats[10];
    char event_id[37];
} td_change_params;
td_status td_change_params_build(const td_change *ch, int64_t rev, td_arena *a,
                                 td_change_params *out);

/* Builds and executes "td_change_insert". */
td_status td_change_insert(td_pg_conn *conn, const td_change *ch, int64_t rev, td_arena *a,
                           char *err, size_t err_cap);

/* Wakes the relay: statement "td_change_notify" (SELECT pg_notify('td_outbox', '')).
 * Call it right AFTER the COMMIT (or queue it after the COMMIT's sync point in a
 * pipeline), never inside the transaction: a NOTIFY in a writing transaction takes a
 * database-wide lock through the commit flush (0001_init.sql). Best effort: a lost
 * notification only delays the relay until its timer. */
void td_change_notify(td_pg_conn *conn);

#endif
