/* httpd.h - a tiny HTTP/1.1 server thread for operational endpoints (/metrics, /healthz).
 *
 * Not a general web server: GET and HEAD only (others get 405), one request per
 * connection (every response carries "Connection: close"), request bodies ignored.
 * It is meant to survive anything a port scanner or a broken client sends:
 *   - request line + headers limited to max_head_bytes (default 8 KiB): a request line
 *     that does not fit gets 414, headers that do not fit get 431;
 *   - a malformed request line, header line or version, or a NUL byte: 400;
 *   - each connection has one deadline (read_timeout_ms, default 5 s) for receiving the
 *     whole head AND sending the response; a client that trickles bytes (slowloris) is
 *     answered 408 (best effort) and closed when it passes;
 *   - at most max_conns (default 64) connections are open at once; further clients wait
 *     in the kernel backlog until one closes.
 *
 * Threads: one server thread, started by td_httpd_start(), runs a poll() loop over the
 * listening socket, a self-pipe (so td_httpd_stop() wakes it at once) and the open
 * connections (non-blocking I/O). The handler runs on that thread, one request at a
 * time, so it must be quick (render a registry, read an atomic) and thread-safe with
 * respect to the rest of the process.
 *
 * Ownership: td_httpd_start() returns a running server the caller stops and frees with
 * td_httpd_stop(). The handler's ud is borrowed and must outlive the server. */
#ifndef TD_HTTP_HTTPD_H
#define TD_HTTP_HTTPD_H

#include <stddef.h>

typedef struct td_httpd td_httpd;

/* Called on the server thread for each well-formed GET/HEAD request. path is the
 * request target without the query string ("/metrics"). Returns the HTTP status and may
 * set *body to a malloc'd buffer of *body_len bytes (the server frees it, also for HEAD)
 * and *content_type to a static string (default "text/plain; charset=utf-8"). When the
 * handler leaves *body NULL the server sends the status' reason phrase as the body. */
typedef int (*td_httpd_handler)(void *ud, const char *path, char **body, size_t *body_len,
                                const char **content_type);

typedef struct td_httpd_opts {
    const char *addr; /* "127.0.0.1:9464", "[::1]:0", ":9464" (all IPv4); port 0 = ephemeral */
    td_httpd_handler handler;
    void *ud;
    int read_timeout_ms;   /* per connection deadline; 0 = 5000 */
    size_t max_head_bytes; /* 0 = 8192 */
    int max_conns;         /* 0 = 64 */
} td_httpd_opts;

/* Binds, listens and starts the server thread. NULL on failure with one line in err
 * (bad address, bind error, ...). */
td_httpd *td_httpd_start_opts(const td_httpd_opts *opts, char *err, size_t err_cap);
/* td_httpd_start_opts() with defaults. */
td_httpd *td_httpd_start(const char *addr, td_httpd_handler fn, void *ud, char *err,
                         size_t err_cap);
/* The bound port (useful after asking for port 0). */
int td_httpd_port(const td_httpd *h);
/* Wakes and joins the server thread, closes every socket, frees h. NULL is a no-op.
 * Call from any thread except the server thread (i.e. not from a handler). */
void td_httpd_stop(td_httpd *h);

#endif
