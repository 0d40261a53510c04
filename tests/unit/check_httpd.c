/* check_httpd.c - lib/http/httpd + metrics_http over real loopback sockets: the normal
 * endpoints, every refusal (404, 405, 400, 414, 431, 408), slow and idle clients, a slow
 * client not blocking others, address parsing, and stop with connections still open.
 * Each test starts its own server on 127.0.0.1:0 and stops it. */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/metrics.h"
#include "http/httpd.h"
#include "http/metrics_http.h"
#include "check_run.h"

static bool healthy = true;
static bool health_cb(void *ud)
{
    (void)ud;
    return healthy;
}

static td_metrics *metrics;
static td_metrics_http endpoints;
static td_httpd *srv;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void start(int timeout_ms, int max_conns)
{
    char err[256];
    metrics = td_metrics_new();
    td_metric_counter_add(td_metrics_counter(metrics, "td_test_total", "A test counter."), 7);
    endpoints = (td_metrics_http){.metrics = metrics, .health = health_cb};
    healthy = true;
    td_httpd_opts o = {.addr = "127.0.0.1:0",
                       .handler = td_metrics_http_handler,
                       .ud = &endpoints,
                       .read_timeout_ms = timeout_ms,
                       .max_conns = max_conns};
    srv = td_httpd_start_opts(&o, err, sizeof(err));
    ck_assert_msg(srv != NULL, "start: %s", err);
    ck_assert_int_gt(td_httpd_port(srv), 0);
}

static void setup(void)
{
    start(2000, 0);
}

static void setup_fast(void)
{
    start(300, 4);
}

static void teardown(void)
{
    td_httpd_stop(srv);
    srv = NULL;
    td_metrics_destroy(metrics);
    metrics = NULL;
}

static int dial(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)td_httpd_port(srv))};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

static void send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return; /* the server may close early on purpose */
        p += w;
        n -= (size_t)w;
    }
}

/* Reads until EOF (or the 5 s receive timeout); returns a malloc'd NUL-terminated copy. */
static char *read_all(int fd)
{
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (len + 1 == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
        ssize_t n = recv(fd, buf + len, cap - 1 - len, 0);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    return buf;
}

static char *exchange(const char *req, size_t len)
{
    int fd = dial();
    send_all(fd, req, len);
    char *resp = read_all(fd);
    close(fd);
    return resp;
}

#define EXCHANGE(s) exchange((s), sizeof(s) - 1)

static void assert_status(const char *resp, int status)
{
    char want[32];
    snprintf(want, sizeof(want), "HTTP/1.1 %d ", status);
    ck_assert_msg(strncmp(resp, want, strlen(want)) == 0, "want %d, got '%.60s'", status, resp);
    ck_assert_ptr_nonnull(strstr(resp, "\r\nConnection: close\r\n"));
}

START_TEST(get_metrics)
{
    char *r = EXCHANGE("GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n");
    assert_status(r, 200);
    ck_assert_ptr_nonnull(
        strstr(r, "\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
    ck_assert_ptr_nonnull(strstr(r, "\r\n\r\n# HELP td_test_total A test counter.\n"));
    ck_assert_ptr_nonnull(strstr(r, "\ntd_test_total 7\n"));
    ck_assert_ptr_nonnull(strstr(r, "\nprocess_open_fds "));
    /* Content-Length matches the body */
    const char *cl = strstr(r, "Content-Length: ");
    const char *body = strstr(r, "\r\n\r\n") + 4;
    ck_assert_uint_eq(strtoul(cl + 16, NULL, 10), strlen(body));
    free(r);
    /* query strings are ignored, HTTP/1.0 and bare \n line endings accepted */
    r = EXCHANGE("GET /metrics?x=1 HTTP/1.0\n\n");
    assert_status(r, 200);
    free(r);
}
END_TEST

START_TEST(head_and_health)
{
    char *r = EXCHANGE("HEAD /metrics HTTP/1.1\r\n\r\n");
    assert_status(r, 200);
    ck_assert_str_eq(strstr(r, "\r\n\r\n"), "\r\n\r\n"); /* no body */
    free(r);
    r = EXCHANGE("GET /healthz HTTP/1.1\r\n\r\n");
    assert_status(r, 200);
    ck_assert_str_eq(strstr(r, "\r\n\r\n"), "\r\n\r\nok\n");
    free(r);
    healthy = false;
    r = EXCHANGE("GET /healthz HTTP/1.1\r\n\r\n");
    assert_status(r, 503);
    free(r);
}
END_TEST

START_TEST(refusals)
{
    char *r = EXCHANGE("GET /nope HTTP/1.1\r\n\r\n");
    assert_status(r, 404);
    free(r);
    r = EXCHANGE("POST /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello");
    assert_status(r, 405);
    ck_assert_ptr_nonnull(strstr(r, "\r\nAllow: GET, HEAD\r\n"));
    free(r);
    const char *bad[] = {
        "GARBAGE\r\n\r\n",
        "GET\r\n\r\n",
        "GET /metrics\r\n\r\n",
        "GET metrics HTTP/1.1\r\n\r\n",
        "GET /metrics HTTP/2.0\r\n\r\n",
        "GET  /metrics HTTP/1.1\r\n\r\n",
        "GET /metrics HTTP/1.1\r\nno colon here\r\n\r\n",
        "GET /metrics HTTP/1.1\r\n folded: x\r\n\r\n",
        "GET /metrics HTTP/1.1\r\nX: a\x01b\r\n\r\n",
        "\x16\x03\x01\x02\x01\xfc\x03\x03", /* TLS ClientHello-like, no newline */
        "SSH-2.0-OpenSSH_9.2p1\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        r = exchange(bad[i], strlen(bad[i]));
        ck_assert_msg(strncmp(r, "HTTP/1.1 400 ", 13) == 0, "bad[%zu]: got '%.40s'", i, r);
        free(r);
    }
    static const char nul[] = "GET /met\0rics HTTP/1.1\r\n\r\n";
    r = exchange(nul, sizeof(nul) - 1);
    assert_status(r, 400);
    free(r);
    /* the server still serves after all that */
    r = EXCHANGE("GET /healthz HTTP/1.1\r\n\r\n");
    assert_status(r, 200);
    free(r);
}
END_TEST

START_TEST(oversized)
{
    size_t n = 20000;
    char *req = malloc(n + 64);
    /* a header block over 8 KiB */
    size_t len = (size_t)snprintf(req, 64, "GET /metrics HTTP/1.1\r\nX-Big: ");
    memset(req + len, 'a', n);
    len += n;
    memcpy(req + len, "\r\n\r\n", 4);
    len += 4;
    char *r = exchange(req, len);
    assert_status(r, 431);
    free(r);
    /* a request line over 8 KiB */
    len = (size_t)snprintf(req, 64, "GET /");
    memset(req + len, 'a', n);
    len += n;
    r = exchange(req, len);
    assert_status(r, 414);
    free(r);
    free(req);
}
END_TEST

START_TEST(slowloris)
{
    double t0 = now_s();
    int fd = dial();
    send_all(fd, "GET /metrics HTTP/1.1\r\nHost: x\r\n", 32);
    /* while it stalls, another client is served at once */
    double t1 = now_s();
    char *ok = EXCHANGE("GET /healthz HTTP/1.1\r\n\r\n");
    assert_status(ok, 200);
    ck_assert_double_lt(now_s() - t1, 0.2);
    free(ok);
    char *r = read_all(fd);
    double waited = now_s() - t0;
    assert_status(r, 408);
    ck_assert_double_ge(waited, 0.25);
    ck_assert_double_lt(waited, 2.0);
    free(r);
    close(fd);
    /* an idle connection (no byte sent) is closed silently */
    fd = dial();
    t0 = now_s();
    r = read_all(fd);
    ck_assert_str_eq(r, "");
    ck_assert_double_lt(now_s() - t0, 2.0);
    free(r);
    close(fd);
}
END_TEST

START_TEST(connection_cap)
{
    /* max_conns = 4: six idle clients; the extra ones wait in the backlog and are
     * handled once the first ones time out, and the server keeps serving. */
    int fds[6];
    for (int i = 0; i < 6; i++)
        fds[i] = dial();
    char *r = EXCHANGE("GET /healthz HTTP/1.1\r\n\r\n");
    assert_status(r, 200);
    free(r);
    for (int i = 0; i < 6; i++)
        close(fds[i]);
}
END_TEST

START_TEST(stop_with_open_connections)
{
    int a = dial(), b = dial();
    send_all(a, "GET /metr", 9);
    usleep(50 * 1000);
    td_httpd_stop(srv); /* must not wait for the slow clients */
    srv = NULL;
    char *r = read_all(a);
    free(r);
    close(a);
    close(b);
}
END_TEST

static int null_handler(void *ud, const char *path, char **body, size_t *len, const char **ct)
{
    (void)ud, (void)path, (void)body, (void)len, (void)ct;
    return 200;
}

START_TEST(addresses)
{
    char err[256];
    const char *bad[] = {"nohost",       "127.0.0.1",     "127.0.0.1:", "127.0.0.1:99999", "::1:80",
                         "localhost:80", "127.0.0.1:80x", "[::1:80",    "1.2.3.4.5:1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        td_httpd *h = td_httpd_start(bad[i], null_handler, NULL, err, sizeof(err));
        ck_assert_msg(h == NULL, "%s accepted", bad[i]);
        ck_assert_msg(err[0] != '\0', "%s: no error text", bad[i]);
    }
    td_httpd *h = td_httpd_start("[::1]:0", null_handler, NULL, err, sizeof(err));
    if (h != NULL) { /* IPv6 loopback may be absent in a container */
        ck_assert_int_gt(td_httpd_port(h), 0);
        td_httpd_stop(h);
    }
    /* a port in use */
    h = td_httpd_start("127.0.0.1:0", null_handler, NULL, err, sizeof(err));
    ck_assert_ptr_nonnull(h);
    char addr[32];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", td_httpd_port(h));
    td_httpd *h2 = td_httpd_start(addr, null_handler, NULL, err, sizeof(err));
    ck_assert_ptr_null(h2);
    ck_assert_ptr_nonnull(strstr(err, "in use"));
    td_httpd_stop(h);
    td_httpd_stop(NULL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("httpd");
    TCase *tc = tcase_create("endpoints");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, get_metrics);
    tcase_add_test(tc, head_and_health);
    tcase_add_test(tc, refusals);
    tcase_add_test(tc, oversized);
    suite_add_tcase(s, tc);
    TCase *fast = tcase_create("timeouts");
    tcase_add_checked_fixture(fast, setup_fast, teardown);
    tcase_add_test(fast, slowloris);
    tcase_add_test(fast, connection_cap);
    tcase_add_test(fast, stop_with_open_connections);
    suite_add_tcase(s, fast);
    TCase *misc = tcase_create("misc");
    tcase_add_test(misc, addresses);
    suite_add_tcase(s, misc);
    return td_check_run(s);
}
