/* changes.c - the change record (transactional outbox): revision bump and the CloudEvent
 * row, both inside the caller's transaction (see changes.h for the contract).
 *
 * Ownership: parameters and payloads live in the caller's arena; PGresults are cleared
 * here. The relay is woken by the caller's pg_notify('td_outbox') AFTER COMMIT (not by a
 * trigger: see 0001_init.sql, a NOTIFY inside the transaction serialises commits).
 * Threads: whichever handler thread holds the connection. */
#include "store/changes.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events/cloudevent.h"

#define CE_SOURCE     "//todo/server"
#define DEFAULT_TOPIC "task.events"

const td_pg_stmt td_changes_stmts[] = {
    {"td_change_bump",
     "INSERT INTO users_revisions (user_id, revision) VALUES ($1, 1) "
     "ON CONFLICT (user_id) DO UPDATE SET revision = users_revisions.revision + 1, "
     "updated_at = now() RETURNING revision",
     1, false},
    {"td_change_insert",
     "INSERT INTO changes (user_id, revision, event_id, event_type, aggregate_type, "
     "aggregate_id, topic, partition_key, payload, traceparent) "
     "VALUES ($1, $2::int8, $3::uuid, $4, $5, $6, $7, $8, $9::bytea, $10)",
     10, false},
    {"td_change_notify", "SELECT pg_notify('td_outbox', '')", 0, false},
};
const size_t td_changes_nstmts = sizeof(td_changes_stmts) / sizeof(td_changes_stmts[0]);

td_status td_change_bump_revision(td_pg_conn *conn, const char *user_id, int64_t *revision,
                                  char *err, size_t err_cap)
{
    td_status st = TD_OK;
    const char *values[1] = {user_id};
    PGresult *r = NULL;
    char *end = NULL;
    long long v;

    r = td_pg_exec(conn, "td_change_bump", 1, values, NULL, NULL, 0, &st, err, err_cap);
    if (r == NULL)
        goto out;
    if (PQntuples(r) != 1 || PQgetisnull(r, 0, 0)) {
        snprintf(err, err_cap, "td_change_bump: no revision returned");
        st = TD_EINTERNAL;
        goto out;
    }
    v = strtoll(PQgetvalue(r, 0, 0), &end, 10);
    if (end == NULL || *end != '\0' || v <= 0) {
        snprintf(err, err_cap, "td_change_bump: bad revision");
        st = TD_EINTERNAL;
        goto out;
    }
    *revision = v;
out:
    PQclear(r);
    return st;
}

td_status td_change_params_build(const td_change *ch, int64_t rev, td_arena *a,
                                 td_change_params *out)
{
    td_status st = TD_OK;
    td_ce_event ev;
    uint8_t *payload = NULL;
    size_t payload_len = 0;
    const char *traceparent = ch->traceparent;
    char *tp = NULL, *rev_text = NULL;
    char ce_err[128];

    memset(out, 0, sizeof(*out));
    if (ch->user_id == NULL || ch->aggregate_type == NULL || ch->aggregate_id == NULL ||
        ch->data == NULL) {
        st = TD_EINTERNAL;
        goto out;
    }
    st = td_ce_uuid4(out->event_id);
    if (st != TD_OK)
        goto out;
    if (traceparent == NULL || !td_ce_traceparent_valid(traceparent)) {
        tp = td_arena_alloc(a, TD_CE_TRACEPARENT_LEN + 1);
        if (tp == NULL) {
            st = TD_ENOMEM;
            goto out;
        }
        st = td_ce_traceparent_from_cid(ch->cid, tp);
        if (st != TD_OK)
            goto out;
        traceparent = tp;
    }
    rev_text = td_arena_printf(a, "%" PRId64, rev);
    if (rev_text == NULL) {
        st = TD_ENOMEM;
        goto out;
    }

    memset(&ev, 0, sizeof(ev));
    ev.id = out->event_id;
    ev.source = CE_SOURCE;
    ev.type = ch->type; /* NULL: the data's full name */
    ev.subject = ch->aggregate_id;
    ev.partitionkey = ch->user_id;
    ev.traceparent = traceparent;
    ev.has_revision = true;
    ev.revision = rev;
    ev.data = ch->data;
    st = td_ce_encode(&ev, a, &payload, &payload_len, ce_err, sizeof(ce_err));
    if (st != TD_OK)
        goto out;
    if (payload_len > (size_t)INT32_MAX) {
        st = TD_ELIMIT;
        goto out;
    }

    out->values[0] = ch->user_id;
    out->values[1] = rev_text;
    out->values[2] = out->event_id;
    out->values[3] = ch->type != NULL ? ch->type : ch->data->descriptor->name;
    out->values[4] = ch->aggregate_type;
    out->values[5] = ch->aggregate_id;
    out->values[6] = ch->topic != NULL ? ch->topic : DEFAULT_TOPIC;
    out->values[7] = ch->user_id; /* Kafka key: one user's events stay in order */
    out->values[8] = (const char *)payload;
    out->lengths[8] = (int)payload_len;
    out->formats[8] = 1; /* binary bytea */
    out->values[9] = traceparent;
out:
    return st;
}

td_status td_change_insert(td_pg_conn *conn, const td_change *ch, int64_t rev, td_arena *a,
                           char *err, size_t err_cap)
{
    td_status st;
    td_change_params p;
    PGresult *r = NULL;

    st = td_change_params_build(ch, rev, a, &p);
    if (st != TD_OK) {
        snprintf(err, err_cap, "td_change_insert: cannot build the event (%s)", td_strerror(st));
        goto out;
    }
    r = td_pg_exec(conn, "td_change_insert", 10, p.values, p.lengths, p.formats, 0, &st, err,
                   err_cap);
out:
    PQclear(r);
    return st;
}

void td_change_notify(td_pg_conn *conn)
{
    td_status st;
    char err[160];
    PGresult *r =
        td_pg_exec(conn, "td_change_notify", 0, NULL, NULL, NULL, 0, &st, err, sizeof(err));
    PQclear(r); /* failure ignored: the relay also polls */
}
