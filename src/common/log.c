/*
 * log.c: the process's log sink. A line is formatted into one buffer and
 * written with a single write(2), so lines from the master, the workers and
 * the ranker never interleave inside the shared O_APPEND file or stderr.
 */
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static struct {
	int fd;
	int level;
	char role[48];
	char path[PATH_MAX];
} lg = { STDERR_FILENO, LVL_INFO, "placesd", "" };

static const char *level_names[] = { "debug", "info", "warn", "error" };

void
log_set_role(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(lg.role, sizeof(lg.role), fmt, ap);
	va_end(ap);
}

void
log_set_level(int level)
{
	lg.level = level;
}

int
log_level_parse(const char *s)
{
	int i;

	for (i = 0; i < (int)(sizeof(level_names) / sizeof(level_names[0])); i++)
		if (strcasecmp(s, level_names[i]) == 0)
			return i;
	return -1;
}

const char *
log_level_name(int level)
{
	if (level < LVL_DEBUG || level > LVL_ERROR)
		return "?";
	return level_names[level];
}

static int
open_file(const char *path)
{
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

int
log_open(const char *path)
{
	int fd;

	if (path == NULL || *path == '\0') {
		log_close();
		lg.path[0] = '\0';
		lg.fd = STDERR_FILENO;
		return 0;
	}
	if ((fd = open_file(path)) == -1)
		return -1;
	log_close();
	snprintf(lg.path, sizeof(lg.path), "%s", path);
	lg.fd = fd;
	return 0;
}

int
log_reopen(void)
{
	int fd;

	if (lg.path[0] == '\0')
		return 0;
	if ((fd = open_file(lg.path)) == -1)
		return -1;
	if (dup2(fd, lg.fd) == -1) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	close(fd);
	return 0;
}

int
log_fd(void)
{
	return lg.fd;
}

void
log_close(void)
{
	if (lg.fd != STDERR_FILENO && lg.fd >= 0)
		close(lg.fd);
	lg.fd = STDERR_FILENO;
}

void
log_msg(int level, int with_errno, const char *func, const char *fmt, ...)
{
	char line[2048];
	struct timeval tv;
	struct tm tm;
	va_list ap;
	int saved = errno, n, m;

	if (level < lg.level)
		return;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	n = snprintf(line, sizeof(line),
	    "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s[%ld]: %s: ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, (long)(tv.tv_usec / 1000),
	    log_level_name(level), lg.role, (long)getpid(), func);
	if (n < 0 || (size_t)n >= sizeof(line))
		n = 0;
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	if (m > 0)
		n += m;
	if ((size_t)n >= sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	if (with_errno) {
		m = snprintf(line + n, sizeof(line) - (size_t)n, ": %s",
		    strerror(saved));
		if (m > 0)
			n += m;
		if ((size_t)n >= sizeof(line) - 2)
			n = (int)sizeof(line) - 2;
	}
	line[n++] = '\n';
	/* one write per line; a short write to a full disk loses the rest */
	if (write(lg.fd, line, (size_t)n) < 0) {
		/* nowhere left to report it */
	}
	errno = saved;
}
