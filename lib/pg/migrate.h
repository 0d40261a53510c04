/* migrate.h - versioned SQL migrations, applied at start-up or by `todo-server migrate`.
 *
 * A migration is an embedded file named NNNN_name.sql (NNNN = its version, leading
 * digits). td_pg_migrate() connects (waiting for PostgreSQL up to wait_ms), takes a
 * session advisory lock so replicas starting together apply each migration once,
 * creates schema_migrations(version, name, applied_at) if absent, then applies every
 * file whose version is not recorded, in version order, each in its own transaction
 * together with its schema_migrations row. Idempotent: a second run changes nothing.
 * A migration file must not contain BEGIN/COMMIT nor statements that cannot run in a
 * transaction (CREATE INDEX CONCURRENTLY): add those by another mechanism.
 *
 * Ownership: files are borrowed (static embedded data). Threads: any one thread; it
 * blocks (connects, waits for the lock). */
#ifndef TD_PG_MIGRATE_H
#define TD_PG_MIGRATE_H

#include <stddef.h>

#include "core/embed.h"
#include "core/status.h"

/* The advisory lock key (pg_advisory_lock(bigint)) held while migrating. */
#define TD_PG_MIGRATE_LOCK_KEY 7702135390112334419LL

/* Version of a migration file name: "0001_init.sql" -> 1. The name must start with
 * 1..9 digits followed by '_' and end in ".sql"; version > 0. Returns 0 or -1. */
int td_pg_migration_version(const char *name, long *version);

/* Checks that every name parses and versions strictly increase (the embed order).
 * TD_OK or TD_EINVAL with the offending name in err. */
td_status td_pg_migrations_check(const td_embedded_file *files, size_t n, char *err,
                                 size_t err_cap);

/* Applies pending migrations (see above). wait_ms: how long to keep retrying the first
 * connection (0 = one attempt). Returns TD_OK; TD_EUNAVAIL when PostgreSQL stayed
 * unreachable; TD_EINVAL for bad file names; or the failing migration's status with
 * "<file>: <PostgreSQL message>" in err (that migration rolled back, earlier ones kept).
 * Logs each applied version. */
td_status td_pg_migrate(const char *url, const td_embedded_file *files, size_t n, int wait_ms,
                        char *err, size_t err_cap);

#endif
