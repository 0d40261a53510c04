/* metrics_http.c - /metrics and /healthz as a td_httpd_handler. Stateless: everything
 * comes from the borrowed td_metrics_http; runs on the httpd thread. */
#include "http/metrics_http.h"

#include <stdlib.h>
#include <string.h>

static char *dup_text(const char *s, size_t *len)
{
    *len = strlen(s);
    char *p = malloc(*len + 1);
    if (p != NULL)
        memcpy(p, s, *len + 1);
    else
        *len = 0;
    return p;
}

int td_metrics_http_handler(void *ud, const char *path, char **body, size_t *body_len,
                            const char **content_type)
{
    const td_metrics_http *ep = ud;
    int status = 404;
    if (strcmp(path, "/metrics") == 0) {
        char *out = NULL;
        size_t n = 0;
        if (ep->refresh != NULL)
            ep->refresh(ep->refresh_ud);
        if (ep->metrics != NULL)
            n = td_metrics_render(ep->metrics, &out);
        else
            out = dup_text("", &n);
        status = out != NULL ? 200 : 500;
        *body = out;
        *body_len = n;
        *content_type = TD_METRICS_CONTENT_TYPE;
    } else if (strcmp(path, "/healthz") == 0) {
        bool ok = ep->health == NULL || ep->health(ep->health_ud);
        status = ok ? 200 : 503;
        *body = dup_text(ok ? "ok\n" : "unavailable\n", body_len);
    }
    return status;
}
