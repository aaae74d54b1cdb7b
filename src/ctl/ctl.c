/*
 * ctl.c: placesctl's messages. Every failure is one line on stderr that
 * names the program, the step that failed and the reason; normal output
 * (what was applied or loaded) goes to stdout.
 */
#include "ctl/ctl.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void
ctl_vmsg(int with_errno, const char *fmt, va_list ap)
{
	int saved = errno;

	fflush(stdout);
	fputs("placesctl: ", stderr);
	vfprintf(stderr, fmt, ap);
	if (with_errno)
		fprintf(stderr, ": %s", strerror(saved));
	fputc('\n', stderr);
}

void
ctl_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ctl_vmsg(0, fmt, ap);
	va_end(ap);
}

/* As ctl_warnx, with strerror(errno) appended. */
void
ctl_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ctl_vmsg(1, fmt, ap);
	va_end(ap);
}
