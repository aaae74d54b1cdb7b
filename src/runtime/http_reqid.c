/*
 * http_reqid.c: validating and making request ids (http_reqid.h).
 */
#include "runtime/http_reqid.h"

#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

bool
http_reqid_valid(const char *s)
{
	size_t n;

	if (s == NULL)
		return false;
	for (n = 0; s[n] != '\0'; n++) {
		char c = s[n];

		if (n >= HTTP_REQID_MAX || !((c >= 'A' && c <= 'Z') ||
		    (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '.' || c == '_' || c == '-'))
			return false;
	}
	return n > 0;
}

/* 48 random bits (the kernel's; the clock and pid if it has none). */
static void
draw_prefix(struct http_reqid_gen *g)
{
	uint64_t r = 0;
	struct timespec ts;

	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r)) {
		clock_gettime(CLOCK_REALTIME, &ts);
		r = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^
		    ((uint64_t)getpid() << 32);
	}
	snprintf(g->prefix, sizeof(g->prefix), "%012llx",
	    (unsigned long long)(r & 0xffffffffffffull));
}

/* Every request makes one: hex digits by hand, no printf. */
void
http_reqid_new(struct http_reqid_gen *g, char out[HTTP_REQID_MAX + 1])
{
	static const char hex[] = "0123456789abcdef";
	uint64_t v;
	int i;

	if (g->prefix[0] == '\0')
		draw_prefix(g);
	memcpy(out, g->prefix, 12);
	v = ++g->seq;
	for (i = 23; i >= 12; i--, v >>= 4)
		out[i] = hex[v & 0xf];
	out[24] = '\0';
}
