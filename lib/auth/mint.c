/* mint.c - `todo-server mint-token`: signs a development HS256 token with
 * TODO_JWT_SECRET so a newcomer can call the API with grpcurl.
 *
 * Owns nothing beyond the call. Defaults follow the server's own settings (iss/aud from
 * TODO_JWT_ISSUER/TODO_JWT_AUDIENCE) so a minted token is accepted by a server started
 * with the same environment. Threads: main thread, once. */
#include "auth/auth.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { DEFAULT_TTL = 3600, MAX_TTL = 366 * 24 * 3600 };

static void usage(FILE *f, const char *prog)
{
    fprintf(f,
            "usage: %s --sub USER_ID [--ttl SECONDS] [--iss ISSUER] [--aud AUDIENCE]\n"
            "Prints an HS256 JWT signed with TODO_JWT_SECRET (ttl default %d, max %d).\n",
            prog, DEFAULT_TTL, MAX_TTL);
}

static bool parse_ttl(const char *s, long *out)
{
    char *end = NULL;
    if (s[0] < '0' || s[0] > '9')
        return false;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < 1 || v > MAX_TTL)
        return false;
    *out = v;
    return true;
}

int td_auth_mint_cli_io(int argc, char **argv, const td_config *cfg, int64_t now, FILE *out,
                        FILE *errout)
{
    const char *prog = argc > 0 ? argv[0] : "mint-token";
    const char *sub = NULL, *iss = cfg->jwt_issuer, *aud = cfg->jwt_audience;
    long ttl = DEFAULT_TTL;
    char token[TD_JWT_MAX_TOKEN];
    td_status st = TD_OK;

    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i];
        if (strcmp(opt, "--help") == 0 || strcmp(opt, "-h") == 0) {
            usage(out, prog);
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(errout, "%s: %s needs a value\n", prog, opt);
            usage(errout, prog);
            return 2;
        }
        const char *val = argv[++i];
        if (strcmp(opt, "--sub") == 0) {
            sub = val;
        } else if (strcmp(opt, "--ttl") == 0) {
            if (!parse_ttl(val, &ttl)) {
                fprintf(errout, "%s: --ttl: expected 1..%d seconds, got '%s'\n", prog, MAX_TTL,
                        val);
                return 2;
            }
        } else if (strcmp(opt, "--iss") == 0) {
            iss = val;
        } else if (strcmp(opt, "--aud") == 0) {
            aud = val;
        } else {
            fprintf(errout, "%s: unknown option '%s'\n", prog, opt);
            usage(errout, prog);
            return 2;
        }
    }
    if (sub == NULL) {
        fprintf(errout, "%s: --sub is required\n", prog);
        usage(errout, prog);
        return 2;
    }
    if (cfg->jwt_secret == NULL) {
        fprintf(errout, "%s: TODO_JWT_SECRET is not set (tokens are signed with it)\n", prog);
        return 1;
    }
    st = td_jwt_sign_hs256((const unsigned char *)cfg->jwt_secret, strlen(cfg->jwt_secret), sub,
                           now, now + ttl, iss, aud, token, sizeof token);
    if (st != TD_OK) {
        fprintf(errout, "%s: cannot sign: %s%s\n", prog, td_strerror(st),
                st == TD_EINVAL ? " (sub must be 1..128 bytes of UTF-8 without control "
                                  "characters)"
                                : "");
        return 1;
    }
    fprintf(out, "%s\n", token);
    return fflush(out) == 0 ? 0 : 1;
}

int td_auth_mint_cli(int argc, char **argv, const td_config *cfg)
{
    return td_auth_mint_cli_io(argc, argv, cfg, (int64_t)time(NULL), stdout, stderr);
}
