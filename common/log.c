/* The programs' logger: see log.h. One write(2) per line, so lines from
 * two threads (the agent's TPM worker and its event loop) never interleave
 * inside a line. */
#include "log.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOG_LINE_MAX 2048 /* longer messages are cut, marked with "..." */

static const char *log_program = "attest";
static int log_min = LOG_LEVEL_INFO;
static int log_journal = -1; /* -1: not yet looked at */

int log_level_parse(const char *s)
{
	static const struct {
		const char *name;
		enum log_level level;
	} names[] = {{"error", LOG_LEVEL_ERROR},
	             {"warning", LOG_LEVEL_WARNING},
	             {"notice", LOG_LEVEL_NOTICE},
	             {"info", LOG_LEVEL_INFO},
	             {"debug", LOG_LEVEL_DEBUG}};
	for (size_t i = 0; s && i < sizeof names / sizeof names[0]; i++)
		if (strcmp(s, names[i].name) == 0)
			return (int)names[i].level;
	return -1;
}

/* systemd sets JOURNAL_STREAM=DEV:INODE for a service whose stderr goes to
 * the journal; it applies only while stderr is still that file (not when a
 * child of the service was given another stderr). */
static bool stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	if (js == NULL || js[0] < '0' || js[0] > '9')
		return false;
	char *end = NULL;
	errno = 0;
	unsigned long long dev = strtoull(js, &end, 10);
	if (errno || *end != ':' || end[1] < '0' || end[1] > '9')
		return false;
	unsigned long long ino = strtoull(end + 1, &end, 10);
	if (errno || *end != '\0')
		return false;
	struct stat st;
	if (fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_init(const char *program, enum log_level min)
{
	if (program)
		log_program = program;
	log_min = (int)min;
	int env = log_level_parse(getenv("ATTEST_LOG_LEVEL"));
	if (env >= 0)
		log_min = env;
	log_journal = stderr_is_journal() ? 1 : 0;
}

void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	if ((int)level > log_min)
		return;
	if (log_journal < 0)
		log_journal = stderr_is_journal() ? 1 : 0;
	char line[LOG_LINE_MAX + 1];
	int n = log_journal ? snprintf(line, sizeof line, "<%d>", (int)level)
	                    : snprintf(line, sizeof line, "%s: ", log_program);
	if (n < 0 || (size_t)n >= sizeof line - 1)
		return;
	size_t off = (size_t)n;
	int m = vsnprintf(line + off, sizeof line - 1 - off, fmt, ap);
	if (m < 0)
		return;
	size_t end = off + (size_t)m;
	if (end > sizeof line - 2) { /* cut: say so */
		end = sizeof line - 2;
		memcpy(line + end - 3, "...", 3);
	}
	for (size_t i = off; i < end; i++)
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	line[end++] = '\n';
	int saved = errno;
	size_t done = 0;
	while (done < end) {
		ssize_t w = write(STDERR_FILENO, line + done, end - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		done += (size_t)w;
	}
	errno = saved;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}
