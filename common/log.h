/* The programs' one logger: a level per message, one line per message on
 * stderr. Under systemd (JOURNAL_STREAM names stderr) each line starts with
 * the kernel-style priority prefix "<N>" that journald reads as the
 * message's priority; elsewhere it starts with "PROGRAM: ", the form
 * operators and tests grep today. Messages below the minimum level
 * (log_init, or ATTEST_LOG_LEVEL=error|warning|notice|info|debug) are
 * dropped. lib/ never logs; programs call this once per event. */
#ifndef ATTEST_LOG_H
#define ATTEST_LOG_H

#include <stdarg.h>

/* syslog(3) priorities, under names of our own (syslog.h's LOG_* clash). */
enum log_level {
	LOG_LEVEL_ERROR = 3,
	LOG_LEVEL_WARNING = 4,
	LOG_LEVEL_NOTICE = 5,
	LOG_LEVEL_INFO = 6,
	LOG_LEVEL_DEBUG = 7,
};

/* Set the program name (kept by pointer: a string literal) and the default
 * minimum level; ATTEST_LOG_LEVEL in the environment overrides it. Safe to
 * call again; before any call the name is "attest" and the level info. */
void log_init(const char *program, enum log_level min);

/* Parse "error", "warning", "notice", "info" or "debug"; -1 if none. */
int log_level_parse(const char *s);

/* One message, without a trailing newline (one is added; newlines inside
 * are turned into spaces so a message is always one journal line). */
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(enum log_level level, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

#define log_error(...)   log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_LEVEL_WARNING, __VA_ARGS__)
#define log_notice(...)  log_msg(LOG_LEVEL_NOTICE, __VA_ARGS__)
#define log_info(...)    log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...)   log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
