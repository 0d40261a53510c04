/* httpd.c - the operational HTTP/1.1 server behind httpd.h.
 *
 * Owns: the listening socket, the self-pipe, the server thread and a fixed table of
 * max_conns connection slots (each with a head buffer of max_head_bytes and, once the
 * request is parsed, the whole response in one malloc'd buffer).
 *
 * A connection moves READ -> WRITE -> DRAIN -> closed:
 *   READ   bytes accumulate until the blank line ending the head; the request line is
 *          validated as soon as it is complete, so garbage is refused early.
 *   WRITE  the response (headers + body) is sent with non-blocking send().
 *   DRAIN  after shutdown(SHUT_WR) the server reads and discards until the client closes
 *          (at most LINGER_MS), so unread request bytes do not turn the close into a
 *          TCP reset that would destroy the response before the client reads it.
 * Every state is bounded by the connection's deadline; nothing blocks the loop.
 *
 * Threads: the server thread runs loop() and owns every connection; td_httpd_stop() only
 * writes to the self-pipe and joins. */
#include "http/httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"

enum { LINGER_MS = 1000, ACCEPT_PAUSE_MS = 100 };

typedef enum conn_state { C_FREE, C_READ, C_WRITE, C_DRAIN } conn_state;

typedef struct conn {
    conn_state state;
    int fd;
    int64_t deadline; /* monotonic ms */
    char *in;         /* max_head + 1 bytes, allocated once per slot */
    size_t in_len;
    bool line_checked; /* request line already validated */
    char *out;
    size_t out_len;
    size_t out_off;
} conn;

struct td_httpd {
    int lfd;
    int wake[2];
    int port;
    pthread_t thread;
    bool thread_started;
    td_httpd_handler fn;
    void *ud;
    int timeout_ms;
    size_t max_head;
    int max_conns;
    conn *conns;
    struct pollfd *pfds;
    int *pfd_conn; /* pfds index -> conns index */
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 414:
        return "URI Too Long";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    default:
        return "Status";
    }
}

/* ------------------------------------------------------------------ parsing */

static bool is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* Validates "METHOD SP TARGET SP HTTP/1.x" (len excludes the line ending).
 * Fills method/target spans. */
static bool parse_request_line(const char *s, size_t len, size_t *mlen, size_t *toff, size_t *tlen)
{
    size_t i = 0;
    while (i < len && is_tchar((unsigned char)s[i]))
        i++;
    if (i == 0 || i > 16 || i >= len || s[i] != ' ')
        return false;
    *mlen = i;
    *toff = ++i;
    while (i < len && (unsigned char)s[i] > 0x20 && (unsigned char)s[i] != 0x7f)
        i++;
    *tlen = i - *toff;
    if (*tlen == 0 || s[*toff] != '/' || i >= len || s[i] != ' ')
        return false;
    i++;
    return len - i == 8 && (memcmp(s + i, "HTTP/1.1", 8) == 0 || memcmp(s + i, "HTTP/1.0", 8) == 0);
}

/* Could s[0..len) (no newline yet) still start a valid request line? */
static bool method_prefix_ok(const char *s, size_t len)
{
    size_t i = 0;
    while (i < len && i <= 16 && is_tchar((unsigned char)s[i]))
        i++;
    return i == len ? len <= 16 : (i > 0 && i <= 16 && s[i] == ' ');
}

/* Validates one header line "name: value" (len excludes the line ending). */
static bool valid_header(const char *s, size_t len)
{
    size_t i = 0;
    while (i < len && is_tchar((unsigned char)s[i]))
        i++;
    if (i == 0 || i >= len || s[i] != ':')
        return false; /* also refuses obs-fold (a line starting with SP/HTAB) */
    for (i++; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return false;
    }
    return true;
}

/* Line length without "\r\n" or "\n". */
static size_t line_len(const char *start, const char *nl)
{
    size_t n = (size_t)(nl - start);
    return (n > 0 && start[n - 1] == '\r') ? n - 1 : n;
}

/* ------------------------------------------------------------------ responses */

static void conn_close(conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    free(c->out);
    c->out = NULL;
    c->out_len = c->out_off = 0;
    c->in_len = 0;
    c->line_checked = false;
    c->state = C_FREE;
}

/* Puts the connection into WRITE with a response; takes ownership of body. */
static void respond(conn *c, int status, char *body, size_t body_len, const char *ctype,
                    bool head_only)
{
    char hdr[512];
    char *out = NULL;
    if (status < 100 || status > 599)
        status = 500;
    if (body == NULL) {
        const char *r = reason(status);
        body_len = strlen(r) + 1;
        body = malloc(body_len + 1);
        if (body != NULL) {
            memcpy(body, r, body_len - 1);
            body[body_len - 1] = '\n';
        } else {
            body_len = 0;
        }
        ctype = NULL;
    }
    int n = snprintf(hdr, sizeof(hdr),
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s"
                     "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
                     status, reason(status), ctype != NULL ? ctype : "text/plain; charset=utf-8",
                     body_len, status == 405 ? "Allow: GET, HEAD\r\n" : "");
    if (n < 0 || (size_t)n >= sizeof(hdr))
        goto out;
    size_t total = (size_t)n + (head_only ? 0 : body_len);
    out = malloc(total);
    if (out == NULL)
        goto out;
    memcpy(out, hdr, (size_t)n);
    if (!head_only && body_len > 0)
        memcpy(out + n, body, body_len);
    c->out = out;
    c->out_len = total;
    c->out_off = 0;
    c->state = C_WRITE;
    out = NULL;
out:
    free(out);
    free(body);
    if (c->state != C_WRITE)
        conn_close(c); /* out of memory: nothing sensible to send */
}

/* A complete head is in c->in[0..end): dispatch it. */
static void dispatch(td_httpd *h, conn *c, size_t head_end)
{
    const char *s = c->in;
    const char *nl = memchr(s, '\n', head_end);
    size_t mlen, toff, tlen;
    if (nl == NULL || !parse_request_line(s, line_len(s, nl), &mlen, &toff, &tlen)) {
        respond(c, 400, NULL, 0, NULL, false);
        return;
    }
    for (const char *p = nl + 1; p < s + head_end;) {
        const char *e = memchr(p, '\n', (size_t)(s + head_end - p));
        if (e == NULL)
            break;
        size_t ll = line_len(p, e);
        if (ll == 0)
            break; /* the blank line */
        if (!valid_header(p, ll)) {
            respond(c, 400, NULL, 0, NULL, false);
            return;
        }
        p = e + 1;
    }
    bool get = mlen == 3 && memcmp(s, "GET", 3) == 0;
    bool head = mlen == 4 && memcmp(s, "HEAD", 4) == 0;
    if (!get && !head) {
        respond(c, 405, NULL, 0, NULL, false);
        return;
    }
    /* path = target up to '?' or '#', NUL-terminated in place (the head is ours) */
    char *path = c->in + toff;
    size_t plen = strcspn(path, "?# ");
    if (plen > tlen)
        plen = tlen;
    path[plen] = '\0';
    char *body = NULL;
    size_t body_len = 0;
    const char *ctype = NULL;
    int status = h->fn(h->ud, path, &body, &body_len, &ctype);
    respond(c, status, body, body_len, ctype, head);
}

/* After new bytes arrived: decide whether the head is complete, invalid or too big. */
static void examine(td_httpd *h, conn *c)
{
    if (memchr(c->in, '\0', c->in_len) != NULL) {
        respond(c, 400, NULL, 0, NULL, false);
        return;
    }
    const char *nl = memchr(c->in, '\n', c->in_len);
    if (nl == NULL && !method_prefix_ok(c->in, c->in_len)) {
        respond(c, 400, NULL, 0, NULL, false); /* binary junk, TLS hello, ... */
        return;
    }
    if (nl != NULL && !c->line_checked) {
        size_t mlen, toff, tlen;
        if (!parse_request_line(c->in, line_len(c->in, nl), &mlen, &toff, &tlen)) {
            respond(c, 400, NULL, 0, NULL, false);
            return;
        }
        c->line_checked = true;
    }
    if (nl != NULL) {
        /* the head ends with an empty line: "\n\n" or "\n\r\n" */
        for (const char *p = nl; p != NULL;
             p = memchr(p + 1, '\n', c->in_len - (size_t)(p + 1 - c->in))) {
            size_t rest = c->in_len - (size_t)(p + 1 - c->in);
            if (rest >= 1 && p[1] == '\n') {
                dispatch(h, c, (size_t)(p + 2 - c->in));
                return;
            }
            if (rest >= 2 && p[1] == '\r' && p[2] == '\n') {
                dispatch(h, c, (size_t)(p + 3 - c->in));
                return;
            }
            if (rest == 0)
                break;
        }
    }
    if (c->in_len >= h->max_head)
        respond(c, nl == NULL ? 414 : 431, NULL, 0, NULL, false);
}

/* ------------------------------------------------------------------ I/O */

static void on_readable(td_httpd *h, conn *c)
{
    if (c->state == C_DRAIN) {
        char sink[4096];
        ssize_t n = recv(c->fd, sink, sizeof(sink), 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            conn_close(c);
        return;
    }
    ssize_t n = recv(c->fd, c->in + c->in_len, h->max_head - c->in_len, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        conn_close(c); /* EOF or reset before a full request: nobody to answer */
        return;
    }
    c->in_len += (size_t)n;
    examine(h, c);
}

static void start_drain(conn *c)
{
    shutdown(c->fd, SHUT_WR);
    free(c->out);
    c->out = NULL;
    c->state = C_DRAIN;
    int64_t linger = now_ms() + LINGER_MS;
    if (linger < c->deadline)
        c->deadline = linger;
}

static void on_writable(conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0) {
            conn_close(c);
            return;
        }
        c->out_off += (size_t)n;
    }
    start_drain(c);
}

static void on_deadline(td_httpd *h, conn *c)
{
    if (c->state == C_READ && c->in_len > 0) {
        static const char msg[] = "HTTP/1.1 408 Request Timeout\r\nContent-Type: text/plain; "
                                  "charset=utf-8\r\nContent-Length: 16\r\nConnection: close\r\n"
                                  "\r\nRequest Timeout\n";
        ssize_t n = send(c->fd, msg, sizeof(msg) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        (void)n;
    }
    (void)h;
    conn_close(c);
}

static void accept_all(td_httpd *h, int *open)
{
    while (*open < h->max_conns) {
        int fd = accept4(h->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return; /* EAGAIN, or an error the caller backs off from */
        conn *c = NULL;
        for (int i = 0; i < h->max_conns && c == NULL; i++)
            if (h->conns[i].state == C_FREE)
                c = &h->conns[i];
        c->fd = fd;
        c->state = C_READ;
        c->in_len = 0;
        c->line_checked = false;
        c->deadline = now_ms() + h->timeout_ms;
        (*open)++;
    }
}

static void *loop(void *arg)
{
    td_httpd *h = arg;
    int64_t accept_pause_until = 0;
    for (;;) {
        int64_t now = now_ms();
        int open = 0, np = 0, timeout = -1;
        h->pfds[np].fd = h->wake[0];
        h->pfds[np].events = POLLIN;
        h->pfd_conn[np++] = -1;
        for (int i = 0; i < h->max_conns; i++) {
            conn *c = &h->conns[i];
            if (c->state == C_FREE)
                continue;
            if (c->deadline <= now) {
                on_deadline(h, c);
                continue;
            }
            open++;
            int left = (int)(c->deadline - now);
            if (timeout < 0 || left < timeout)
                timeout = left;
            h->pfds[np].fd = c->fd;
            h->pfds[np].events = c->state == C_WRITE ? POLLOUT : POLLIN;
            h->pfd_conn[np++] = i;
        }
        if (open < h->max_conns) {
            if (now >= accept_pause_until) {
                h->pfds[np].fd = h->lfd;
                h->pfds[np].events = POLLIN;
                h->pfd_conn[np++] = -2;
            } else if (timeout < 0 || accept_pause_until - now < timeout) {
                timeout = (int)(accept_pause_until - now);
            }
        }
        int rc = poll(h->pfds, (nfds_t)np, timeout);
        if (rc < 0 && errno != EINTR) {
            td_log_error("httpd", "poll: %s", strerror(errno));
            break;
        }
        if (rc <= 0)
            continue;
        if (h->pfds[0].revents != 0)
            break; /* td_httpd_stop() */
        for (int k = 1; k < np; k++) {
            short re = h->pfds[k].revents;
            if (re == 0)
                continue;
            if (h->pfd_conn[k] == -2) {
                accept_all(h, &open);
                if (open < h->max_conns && errno != EAGAIN && errno != EWOULDBLOCK &&
                    errno != EINTR && errno != ECONNABORTED)
                    accept_pause_until = now_ms() + ACCEPT_PAUSE_MS; /* EMFILE etc. */
                continue;
            }
            conn *c = &h->conns[h->pfd_conn[k]];
            if (c->state == C_WRITE && (re & (POLLOUT | POLLERR | POLLHUP)))
                on_writable(c);
            else if (c->state != C_WRITE && (re & (POLLIN | POLLERR | POLLHUP)))
                on_readable(h, c);
        }
    }
    return NULL;
}

/* ------------------------------------------------------------------ lifecycle */

/* Splits "host:port" / "[v6]:port" / ":port" into host (numeric) and port text. */
static int split_addr(const char *addr, char *host, size_t hcap, char *port, size_t pcap)
{
    const char *colon = strrchr(addr, ':');
    if (colon == NULL)
        return -1;
    const char *hs = addr;
    size_t hl = (size_t)(colon - addr);
    if (hl > 0 && addr[0] == '[') {
        if (addr[hl - 1] != ']')
            return -1;
        hs++;
        hl -= 2;
    } else if (memchr(addr, ':', hl) != NULL) {
        return -1; /* bare IPv6 needs brackets */
    }
    if (hl == 0) {
        hs = "0.0.0.0";
        hl = 7;
    }
    size_t pl = strlen(colon + 1);
    if (hl >= hcap || pl == 0 || pl > 5 || pl >= pcap)
        return -1;
    for (size_t i = 0; i < pl; i++)
        if (colon[1 + i] < '0' || colon[1 + i] > '9')
            return -1;
    if (strtol(colon + 1, NULL, 10) > 65535)
        return -1;
    memcpy(host, hs, hl);
    host[hl] = '\0';
    memcpy(port, colon + 1, pl + 1);
    return 0;
}

void td_httpd_stop(td_httpd *h)
{
    if (h == NULL)
        return;
    if (h->thread_started) {
        char b = 1;
        ssize_t n = write(h->wake[1], &b, 1);
        (void)n;
        pthread_join(h->thread, NULL);
    }
    if (h->conns != NULL) {
        for (int i = 0; i < h->max_conns; i++) {
            conn_close(&h->conns[i]);
            free(h->conns[i].in);
        }
    }
    if (h->lfd >= 0)
        close(h->lfd);
    if (h->wake[0] >= 0)
        close(h->wake[0]);
    if (h->wake[1] >= 0)
        close(h->wake[1]);
    free(h->conns);
    free(h->pfds);
    free(h->pfd_conn);
    free(h);
}

td_httpd *td_httpd_start_opts(const td_httpd_opts *o, char *err, size_t err_cap)
{
    td_httpd *h = NULL, *result = NULL;
    struct addrinfo *ai = NULL;
    char host[64], port[8];

    if (err_cap > 0)
        err[0] = '\0';
    if (o == NULL || o->addr == NULL || o->handler == NULL ||
        split_addr(o->addr, host, sizeof(host), port, sizeof(port)) != 0) {
        snprintf(err, err_cap, "expected host:port with a numeric IPv4 or [IPv6] host, got '%s'",
                 o != NULL && o->addr != NULL ? o->addr : "(null)");
        goto out;
    }
    h = calloc(1, sizeof(*h));
    if (h == NULL)
        goto oom;
    h->lfd = h->wake[0] = h->wake[1] = -1;
    h->fn = o->handler;
    h->ud = o->ud;
    h->timeout_ms = o->read_timeout_ms > 0 ? o->read_timeout_ms : 5000;
    h->max_head = o->max_head_bytes > 0 ? o->max_head_bytes : 8192;
    h->max_conns = o->max_conns > 0 ? o->max_conns : 64;
    h->conns = calloc((size_t)h->max_conns, sizeof(conn));
    h->pfds = calloc((size_t)h->max_conns + 2, sizeof(struct pollfd));
    h->pfd_conn = calloc((size_t)h->max_conns + 2, sizeof(int));
    if (h->conns == NULL || h->pfds == NULL || h->pfd_conn == NULL)
        goto oom;
    for (int i = 0; i < h->max_conns; i++) {
        h->conns[i].fd = -1;
        h->conns[i].in = malloc(h->max_head + 1);
        if (h->conns[i].in == NULL)
            goto oom;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE};
    int gai = getaddrinfo(host, port, &hints, &ai);
    if (gai != 0) {
        snprintf(err, err_cap, "address '%s': %s", o->addr, gai_strerror(gai));
        goto out;
    }
    h->lfd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (h->lfd < 0 || setsockopt(h->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(h->lfd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(h->lfd, 64) != 0) {
        snprintf(err, err_cap, "listen on %s: %s", o->addr, strerror(errno));
        goto out;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getsockname(h->lfd, (struct sockaddr *)&ss, &sl) != 0) {
        snprintf(err, err_cap, "getsockname: %s", strerror(errno));
        goto out;
    }
    h->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                             : ((struct sockaddr_in *)&ss)->sin_port);
    if (pipe2(h->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
        snprintf(err, err_cap, "pipe: %s", strerror(errno));
        goto out;
    }
    if (pthread_create(&h->thread, NULL, loop, h) != 0) {
        snprintf(err, err_cap, "cannot start the http thread");
        goto out;
    }
    h->thread_started = true;
    result = h;
    h = NULL;
    goto out;
oom:
    snprintf(err, err_cap, "out of memory");
out:
    if (ai != NULL)
        freeaddrinfo(ai);
    td_httpd_stop(h);
    return result;
}

td_httpd *td_httpd_start(const char *addr, td_httpd_handler fn, void *ud, char *err, size_t err_cap)
{
    td_httpd_opts o = {.addr = addr, .handler = fn, .ud = ud};
    return td_httpd_start_opts(&o, err, err_cap);
}

int td_httpd_port(const td_httpd *h)
{
    return h != NULL ? h->port : -1;
}
