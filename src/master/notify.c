/*
 * notify.c: the systemd notification protocol without libsystemd. The
 * socket path comes from $NOTIFY_SOCKET ("@" = abstract namespace); the
 * variable is removed from the environment so children never send.
 */
#include "master/notify.h"
#include "common/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static struct {
	int fd;
	struct sockaddr_un sun;
	socklen_t len;
} nt = { -1, { 0 }, 0 };

void
notify_init(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	size_t plen;

	if (path == NULL || *path == '\0')
		return;
	plen = strlen(path);
	if ((path[0] != '/' && path[0] != '@') ||
	    plen >= sizeof(nt.sun.sun_path)) {
		log_warnx("ignoring NOTIFY_SOCKET=%s: not a usable path", path);
		return;
	}
	memset(&nt.sun, 0, sizeof(nt.sun));
	nt.sun.sun_family = AF_UNIX;
	memcpy(nt.sun.sun_path, path, plen);
	if (path[0] == '@')
		nt.sun.sun_path[0] = '\0';
	nt.len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen);
	nt.fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (nt.fd == -1)
		log_warn("socket() for NOTIFY_SOCKET");
	unsetenv("NOTIFY_SOCKET");
}

void
notify_send(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	if (nt.fd == -1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(buf))
		n = sizeof(buf) - 1;
	if (sendto(nt.fd, buf, (size_t)n, MSG_NOSIGNAL,
	    (struct sockaddr *)&nt.sun, nt.len) == -1)
		log_warn("sd_notify sendto(%s)", nt.sun.sun_path[0] ?
		    nt.sun.sun_path : "@abstract");
}

void
notify_close(void)
{
	if (nt.fd != -1)
		close(nt.fd);
	nt.fd = -1;
}
