/*
 * log.h: one line per event, in one format for every process:
 *   2026-11-23T20:24:01.123Z warn worker 3[1234]: func: message: strerror
 * log_warn/log_error append strerror(errno); the -x variants do not.
 * The state (role tag, level, fd) belongs to the process: each child sets
 * its own tag after fork.
 */
#ifndef PLACESD_LOG_H
#define PLACESD_LOG_H

#include <stdarg.h>

enum log_level { LVL_DEBUG, LVL_INFO, LVL_WARN, LVL_ERROR };

void log_set_role(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_set_level(int level);
int log_level_parse(const char *s);
const char *log_level_name(int level);
/* path NULL or "" logs to stderr. Returns 0, or -1 with errno set. */
int log_open(const char *path);
int log_reopen(void);
int log_fd(void);
void log_close(void);

void log_msg(int level, int with_errno, const char *func, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define log_debug(...) log_msg(LVL_DEBUG, 0, __func__, __VA_ARGS__)
#define log_info(...)  log_msg(LVL_INFO, 0, __func__, __VA_ARGS__)
#define log_warn(...)  log_msg(LVL_WARN, 1, __func__, __VA_ARGS__)
#define log_warnx(...) log_msg(LVL_WARN, 0, __func__, __VA_ARGS__)
#define log_error(...) log_msg(LVL_ERROR, 1, __func__, __VA_ARGS__)
#define log_errorx(...) log_msg(LVL_ERROR, 0, __func__, __VA_ARGS__)

#endif
