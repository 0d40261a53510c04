/* auth.c - td_auth: JWT verifier + verdict cache (see auth.h).
 *
 * Owns: the verifier, the shards and every cached token copy (freed on eviction and in
 * td_auth_destroy). Layout: NSHARDS shards, each a mutex and nsets x WAYS entries;
 * the 64-bit SipHash-2-4 of the token (per-process random key, so clients cannot aim
 * collisions at one set) picks the shard (low bits) and the set (high bits). Insertion
 * replaces the same token, else an empty or dead way, else the way that dies first.
 * Invariants: an entry is live iff token != NULL; verification and allocation happen
 * outside the shard lock, which only guards lookups and pointer swaps.
 * Threads: td_auth_check* from any number of threads; new/destroy single-threaded. */
#include "auth/auth.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

enum { NSHARDS = 16, WAYS = 4 };

typedef struct entry {
    uint64_t hash;
    int64_t until; /* verdict valid while now < until */
    char *token;   /* owned copy; NULL = empty */
    size_t len;
    char sub[TD_JWT_MAX_SUB + 1];
} entry;

typedef struct shard {
    pthread_mutex_t mu;
    entry *sets; /* nsets * WAYS */
} shard;

struct td_auth {
    td_jwt_verifier *jwt;
    uint64_t k0, k1; /* SipHash key */
    size_t nsets;    /* per shard */
    shard shards[NSHARDS];
    int nshards_init;
    atomic_uint_fast64_t hits, misses, evictions;
};

static void set_err(char *err, size_t cap, const char *msg)
{
    if (err != NULL && cap > 0)
        snprintf(err, cap, "%s", msg);
}

/* ---- SipHash-2-4 (Aumasson, Bernstein), 64-bit output ---- */

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                   \
    do {                                                                                           \
        v0 += v1;                                                                                  \
        v1 = ROTL(v1, 13);                                                                         \
        v1 ^= v0;                                                                                  \
        v0 = ROTL(v0, 32);                                                                         \
        v2 += v3;                                                                                  \
        v3 = ROTL(v3, 16);                                                                         \
        v3 ^= v2;                                                                                  \
        v0 += v3;                                                                                  \
        v3 = ROTL(v3, 21);                                                                         \
        v3 ^= v0;                                                                                  \
        v2 += v1;                                                                                  \
        v1 = ROTL(v1, 17);                                                                         \
        v1 ^= v2;                                                                                  \
        v2 = ROTL(v2, 32);                                                                         \
    } while (0)

static uint64_t load64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t siphash(uint64_t k0, uint64_t k1, const unsigned char *in, size_t n)
{
    uint64_t v0 = 0x736f6d6570736575ULL ^ k0, v1 = 0x646f72616e646f6dULL ^ k1;
    uint64_t v2 = 0x6c7967656e657261ULL ^ k0, v3 = 0x7465646279746573ULL ^ k1;
    uint64_t b = (uint64_t)n << 56, m = 0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        m = load64(in + i);
        v3 ^= m;
        SIPROUND;
        SIPROUND;
        v0 ^= m;
    }
    for (size_t k = 0; i + k < n; k++)
        b |= (uint64_t)in[i + k] << (8 * k);
    v3 ^= b;
    SIPROUND;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

/* ---- construction ---- */

td_auth *td_auth_new_opts(const td_jwt_opts *opts, size_t cache_entries, char *err, size_t err_cap)
{
    td_auth *a = NULL;
    unsigned char key[16];
    bool ok = false;

    if (cache_entries == 0)
        cache_entries = TD_AUTH_CACHE_ENTRIES;
    a = calloc(1, sizeof *a);
    if (a == NULL) {
        set_err(err, err_cap, "out of memory");
        goto out;
    }
    a->jwt = td_jwt_verifier_new(opts, err, err_cap);
    if (a->jwt == NULL)
        goto out;
    if (RAND_bytes(key, sizeof key) != 1) {
        set_err(err, err_cap, "OpenSSL: no randomness for the cache key");
        goto out;
    }
    a->k0 = load64(key);
    a->k1 = load64(key + 8);
    a->nsets = (cache_entries + NSHARDS * WAYS - 1) / (NSHARDS * WAYS);
    for (int i = 0; i < NSHARDS; i++) {
        shard *s = &a->shards[i];
        s->sets = calloc(a->nsets * WAYS, sizeof *s->sets);
        if (s->sets == NULL) {
            set_err(err, err_cap, "out of memory");
            goto out;
        }
        if (pthread_mutex_init(&s->mu, NULL) != 0) {
            free(s->sets);
            s->sets = NULL;
            set_err(err, err_cap, "cannot create cache mutex");
            goto out;
        }
        a->nshards_init = i + 1;
    }
    ok = true;
out:
    if (!ok) {
        td_auth_destroy(a);
        a = NULL;
    }
    return a;
}

td_auth *td_auth_new(const td_config *cfg, char *err, size_t err_cap)
{
    td_jwt_opts o;
    if (td_config_require_jwt(cfg, err, err_cap) != 0)
        return NULL;
    memset(&o, 0, sizeof o);
    if (cfg->jwt_secret != NULL) {
        o.hs256_secret = (const unsigned char *)cfg->jwt_secret;
        o.hs256_secret_len = strlen(cfg->jwt_secret);
    }
    o.rs256_pem_file = cfg->jwt_public_key_file;
    o.issuer = cfg->jwt_issuer;
    o.audience = cfg->jwt_audience;
    o.leeway_s = cfg->jwt_leeway_s;
    return td_auth_new_opts(&o, TD_AUTH_CACHE_ENTRIES, err, err_cap);
}

void td_auth_destroy(td_auth *a)
{
    if (a == NULL)
        return;
    for (int i = 0; i < a->nshards_init; i++) {
        shard *s = &a->shards[i];
        for (size_t k = 0; k < a->nsets * WAYS; k++)
            free(s->sets[k].token);
        free(s->sets);
        pthread_mutex_destroy(&s->mu);
    }
    td_jwt_verifier_destroy(a->jwt);
    free(a);
}

/* ---- the hot path ---- */

static entry *set_of(td_auth *a, uint64_t h, shard **sh)
{
    *sh = &a->shards[h % NSHARDS];
    return &(*sh)->sets[((h / NSHARDS) % a->nsets) * WAYS];
}

static td_status copy_sub(const char *src, char *sub, size_t sub_cap, char *err, size_t err_cap)
{
    size_t n = strlen(src);
    if (sub == NULL || n + 1 > sub_cap) {
        set_err(err, err_cap, "sub too long");
        return TD_EUNAUTH;
    }
    memcpy(sub, src, n + 1);
    return TD_OK;
}

/* Lookup: 1 = live hit (sub copied into out_sub), 0 = miss, -1 = hit but expired
 * (the entry is dropped). */
static int lookup(td_auth *a, uint64_t h, const char *token, size_t len, int64_t now, char *out_sub)
{
    shard *s = NULL;
    entry *set = set_of(a, h, &s);
    char *dead = NULL;
    int rc = 0;
    pthread_mutex_lock(&s->mu);
    for (int w = 0; w < WAYS; w++) {
        entry *e = &set[w];
        if (e->token == NULL || e->hash != h || e->len != len ||
            CRYPTO_memcmp(e->token, token, len) != 0)
            continue;
        if (now < e->until) {
            memcpy(out_sub, e->sub, sizeof e->sub);
            rc = 1;
        } else {
            dead = e->token;
            e->token = NULL;
            rc = -1;
        }
        break;
    }
    pthread_mutex_unlock(&s->mu);
    free(dead);
    return rc;
}

/* Takes ownership of copy. */
static void insert(td_auth *a, uint64_t h, char *copy, size_t len, int64_t until, int64_t now,
                   const char *sub)
{
    shard *s = NULL;
    entry *set = set_of(a, h, &s);
    entry *victim = NULL;
    char *old = NULL;
    pthread_mutex_lock(&s->mu);
    for (int w = 0; w < WAYS && victim == NULL; w++) {
        entry *e = &set[w];
        if (e->token != NULL && e->hash == h && e->len == len && memcmp(e->token, copy, len) == 0)
            victim = e; /* another thread cached it meanwhile */
    }
    for (int w = 0; w < WAYS && victim == NULL; w++)
        if (set[w].token == NULL || set[w].until <= now)
            victim = &set[w];
    if (victim == NULL) {
        victim = &set[0];
        for (int w = 1; w < WAYS; w++)
            if (set[w].until < victim->until)
                victim = &set[w];
        atomic_fetch_add_explicit(&a->evictions, 1, memory_order_relaxed);
    }
    old = victim->token;
    victim->hash = h;
    victim->token = copy;
    victim->len = len;
    victim->until = until;
    memcpy(victim->sub, sub, strlen(sub) + 1);
    pthread_mutex_unlock(&s->mu);
    free(old);
}

td_status td_auth_check_at(td_auth *a, const char *token, size_t token_len, int64_t now, char *sub,
                           size_t sub_cap, char *err, size_t err_cap)
{
    td_status st = TD_EUNAUTH;
    td_jwt_claims claims;
    uint64_t h = 0;
    char *copy = NULL;
    bool cacheable = token != NULL && token_len > 0 && token_len <= TD_AUTH_CACHE_MAX_TOKEN;
    int64_t leeway = td_jwt_verifier_leeway(a->jwt);

    if (cacheable) {
        h = siphash(a->k0, a->k1, (const unsigned char *)token, token_len);
        int hit = lookup(a, h, token, token_len, now, claims.sub);
        if (hit == 1) {
            atomic_fetch_add_explicit(&a->hits, 1, memory_order_relaxed);
            st = copy_sub(claims.sub, sub, sub_cap, err, err_cap);
            goto out;
        }
        if (hit == -1) {
            atomic_fetch_add_explicit(&a->hits, 1, memory_order_relaxed);
            set_err(err, err_cap, "token expired");
            goto out;
        }
    }
    atomic_fetch_add_explicit(&a->misses, 1, memory_order_relaxed);
    st = td_jwt_verify(a->jwt, token, token_len, now, &claims, err, err_cap);
    if (st != TD_OK)
        goto out;
    st = copy_sub(claims.sub, sub, sub_cap, err, err_cap);
    if (st != TD_OK || !cacheable)
        goto out;
    copy = malloc(token_len);
    if (copy == NULL)
        goto out; /* verdict stands; just not cached */
    memcpy(copy, token, token_len);
    insert(a, h, copy, token_len, claims.exp > INT64_MAX - leeway ? INT64_MAX : claims.exp + leeway,
           now, claims.sub);
    copy = NULL;
out:
    free(copy);
    return st;
}

td_status td_auth_check(void *ctx, const char *token, size_t token_len, char *sub, size_t sub_cap,
                        char *err, size_t err_cap)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return td_auth_check_at(ctx, token, token_len, (int64_t)ts.tv_sec, sub, sub_cap, err, err_cap);
}

void td_auth_get_stats(td_auth *a, td_auth_stats *out)
{
    out->hits = atomic_load_explicit(&a->hits, memory_order_relaxed);
    out->misses = atomic_load_explicit(&a->misses, memory_order_relaxed);
    out->evictions = atomic_load_explicit(&a->evictions, memory_order_relaxed);
}
