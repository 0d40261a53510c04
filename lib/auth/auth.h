/* auth.h - bearer-token authentication for the RPC runtime: a JWT verifier plus a
 * verdict cache, so the hot path verifies a token once and then answers from memory
 * until the token expires.
 *
 * Owns: the td_jwt_verifier and a bounded cache (TD_AUTH_CACHE_ENTRIES, 16 shards with
 * one mutex each, 4-way sets keyed by a seeded SipHash of the token; a hit also compares
 * the whole token, so a hash collision can only cost a miss). Only successful
 * verifications are cached (failures are cheap to repeat and must not pin memory); a
 * cached verdict ends at exp + leeway, exactly when the verifier would start saying
 * "token expired". Tokens longer than TD_AUTH_CACHE_MAX_TOKEN are verified every time.
 *
 * Threads: td_auth_check() is called concurrently from RPC worker threads; everything
 * else is start-up/shutdown only. Caller owns the td_auth: td_auth_destroy(). */
#ifndef TD_AUTH_AUTH_H
#define TD_AUTH_AUTH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "auth/jwt.h"
#include "core/config.h"
#include "core/status.h"

enum { TD_AUTH_CACHE_ENTRIES = 4096, TD_AUTH_CACHE_MAX_TOKEN = 2048 };

typedef struct td_auth td_auth;

/* From TODO_JWT_* settings (reads the PEM file). NULL with one line in err when no key
 * is configured or the key is unusable. */
td_auth *td_auth_new(const td_config *cfg, char *err, size_t err_cap);
/* Same from explicit options; cache_entries 0 = TD_AUTH_CACHE_ENTRIES (rounded up to a
 * multiple of 64). */
td_auth *td_auth_new_opts(const td_jwt_opts *opts, size_t cache_entries, char *err, size_t err_cap);
void td_auth_destroy(td_auth *a); /* NULL is a no-op */

/* td_rpc_auth_fn (lib/rpc/server.h): ctx is a td_auth *. Uses the wall clock.
 * TD_OK with sub filled, or TD_EUNAUTH with a short reason in err. Thread-safe. */
td_status td_auth_check(void *ctx, const char *token, size_t token_len, char *sub, size_t sub_cap,
                        char *err, size_t err_cap);
/* td_auth_check() at an explicit time (seconds since the epoch), for tests. */
td_status td_auth_check_at(td_auth *a, const char *token, size_t token_len, int64_t now, char *sub,
                           size_t sub_cap, char *err, size_t err_cap);

typedef struct td_auth_stats {
    uint64_t hits;   /* answered from the cache */
    uint64_t misses; /* verified (successfully or not) */
    uint64_t evictions;
} td_auth_stats;
/* Counters since creation, for /metrics. Thread-safe, approximate under load. */
void td_auth_get_stats(td_auth *a, td_auth_stats *out);

/* `todo-server mint-token --sub ID [--ttl SECONDS] [--iss X] [--aud Y]`: signs a dev
 * token with TODO_JWT_SECRET and prints it on stdout. argv[0] is the subcommand name.
 * --iss/--aud default to TODO_JWT_ISSUER/TODO_JWT_AUDIENCE, --ttl to 3600 seconds.
 * Returns a process exit code: 0 ok, 1 failure (message on stderr), 2 usage error. */
int td_auth_mint_cli(int argc, char **argv, const td_config *cfg);
/* Same with explicit streams and clock, for tests. */
int td_auth_mint_cli_io(int argc, char **argv, const td_config *cfg, int64_t now, FILE *out,
                        FILE *errout);

#endif
