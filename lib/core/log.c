/* log.c - JSON log line writer. Owns the process-wide minimum level (written once at
 * start-up, read by every thread). Each line is formatted into a stack buffer and written
 * with a single write(2), so lines from different threads never interleave. */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static td_log_level min_level = TD_LOG_INFO;

void td_log_set_level(td_log_level lvl)
{
    min_level = lvl;
}

int td_log_level_parse(const char *s, td_log_level *out)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(s, names[i]) == 0) {
            *out = (td_log_level)i;
            return 0;
        }
    }
    return -1;
}

/* Appends s JSON-escaped to buf[*pos..cap); truncates silently. */
static void append_escaped(char *buf, size_t cap, size_t *pos, const char *s)
{
    for (; *s != '\0' && *pos + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            buf[(*pos)++] = '\\';
            buf[(*pos)++] = (char)c;
        } else if (c < 0x20) {
            *pos += (size_t)snprintf(buf + *pos, cap - *pos, "\\u%04x", c);
        } else {
            buf[(*pos)++] = (char)c;
        }
    }
}

void td_log(td_log_level lvl, const char *component, const char *cid, const char *fmt, ...)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    if (lvl < min_level)
        return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);

    char line[4096];
    size_t pos = 0;
    pos += strftime(line, sizeof(line), "{\"ts\":\"%Y-%m-%dT%H:%M:%S", &tm);
    pos += (size_t)snprintf(line + pos, sizeof(line) - pos,
                            ".%03ldZ\",\"level\":\"%s\",\"component\":\"", ts.tv_nsec / 1000000,
                            names[lvl]);
    append_escaped(line, sizeof(line), &pos, component ? component : "-");
    memcpy(line + pos, "\",\"msg\":\"", 9);
    pos += 9;
    append_escaped(line, sizeof(line), &pos, msg);
    if (cid != NULL && pos + 16 < sizeof(line)) {
        memcpy(line + pos, "\",\"cid\":\"", 9);
        pos += 9;
        append_escaped(line, sizeof(line), &pos, cid);
    }
    if (pos + 3 >= sizeof(line))
        pos = sizeof(line) - 3;
    line[pos++] = '"';
    line[pos++] = '}';
    line[pos++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, pos);
    (void)w;
}
