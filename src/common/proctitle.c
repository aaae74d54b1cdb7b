/*
 * proctitle.c: setproctitle() for Linux. argv[] and environ[] strings are
 * contiguous at the top of the stack; after copying environ to the heap the
 * whole span can hold the title. /proc/PID/cmdline then shows it, and
 * PR_SET_NAME sets the short name top(1) shows.
 */
#include "common/proctitle.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

extern char **environ;

static struct {
	char *start;
	size_t len;
	char **env;         /* the environment, moved off the stack */
	char *env_block;    /* its strings */
} title;

int
proctitle_init(int argc, char **argv)
{
	char *end, **env, *p;
	size_t n, i, total = 0;

	if (argc < 1 || argv[0] == NULL)
		return -1;
	end = argv[0] + strlen(argv[0]) + 1;
	for (i = 1; i < (size_t)argc && argv[i] == end; i++)
		end = argv[i] + strlen(argv[i]) + 1;
	for (n = 0; environ[n] != NULL; n++)
		total += strlen(environ[n]) + 1;
	/* one block, kept referenced: unsetenv() may drop entries later */
	if ((env = calloc(n + 1, sizeof(*env))) == NULL)
		return -1;
	if ((title.env_block = p = malloc(total + 1)) == NULL) {
		free(env);
		return -1;
	}
	for (i = 0; i < n; i++) {
		size_t len = strlen(environ[i]) + 1;

		if (environ[i] == end)
			end = environ[i] + len;
		memcpy(p, environ[i], len);
		env[i] = p;
		p += len;
	}
	title.env = env;
	environ = env;
	/* argv[1..] still point into the area: callers parse options first */
	title.start = argv[0];
	title.len = (size_t)(end - argv[0]);
	return 0;
}

void
proctitle_set(const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	size_t len;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	prctl(PR_SET_NAME, buf + (strncmp(buf, "placesd: ", 9) == 0 ? 9 : 0),
	    0, 0, 0);
	if (title.start == NULL || title.len < 2)
		return;
	len = strlen(buf);
	if (len >= title.len)
		len = title.len - 1;
	memcpy(title.start, buf, len);
	memset(title.start + len, '\0', title.len - len);
}
