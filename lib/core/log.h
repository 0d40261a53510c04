/* log.h - JSON log lines on stderr, one object per line:
 *   {"ts":"2026-12-01T05:20:26.123Z","level":"info","component":"rpc","msg":"...","cid":"..."}
 * Thread-safe (one write(2) per line). The minimum level is process-wide, set once at
 * start-up by td_log_set_level() before threads start. Never log secrets or tokens. */
#ifndef TD_CORE_LOG_H
#define TD_CORE_LOG_H

typedef enum td_log_level { TD_LOG_DEBUG, TD_LOG_INFO, TD_LOG_WARN, TD_LOG_ERROR } td_log_level;

void td_log_set_level(td_log_level lvl);
/* Parses "debug|info|warn|error"; returns 0 or -1. */
int td_log_level_parse(const char *s, td_log_level *out);
/* cid: correlation id, may be NULL. */
void td_log(td_log_level lvl, const char *component, const char *cid, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define td_log_info(comp, ...)  td_log(TD_LOG_INFO, comp, NULL, __VA_ARGS__)
#define td_log_warn(comp, ...)  td_log(TD_LOG_WARN, comp, NULL, __VA_ARGS__)
#define td_log_error(comp, ...) td_log(TD_LOG_ERROR, comp, NULL, __VA_ARGS__)
#define td_log_debug(comp, ...) td_log(TD_LOG_DEBUG, comp, NULL, __VA_ARGS__)

#endif
