/*
 * fuzz_edge.c: libFuzzer target over placesd's request path: the edge's
 * framer (src/runtime/edge_parse.c) and, for every head it lets through,
 * libevhtp's own parser, which is what runs next in a worker.
 *
 * Properties checked on every input:
 *  1. no crash, no sanitizer report, no read past the bytes given;
 *  2. the same stream fed whole and fed in chunks (chunk sizes taken from
 *     the input's first byte) gets the same verdict, completes the same
 *     requests and, unless refused midway (a body streams on as it comes),
 *     forwards the same bytes: no dependence on how reads split the stream;
 *  3. every head the edge accepts parses in libevhtp without error, as
 *     the edge hands it on (rewritten in origin-form, edge_head_pieces),
 *     and libevhtp sees exactly the request target the edge passed (the
 *     split request line corruption, #128/#131, cannot reach it);
 *  4. a head rewritten from absolute-form carries one Host line, the
 *     target's authority.
 */
#include "runtime/edge_parse.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <evhtp/parser.h>

#define FAIL(why) do { fprintf(stderr, "fuzz_edge: %s\n", why); abort(); } while (0)

static const struct edge_limits lim = { 256, 1024, 4096 };

struct run {
	size_t forwarded;
	int state;
	int status;
	size_t heads;
	char target[300];
	size_t target_len;
	size_t head_len;
	const char *head;
	struct edge_parser first;   /* the parser as the first head left it */
};

/* Feeds the stream like edge.c does: heads re-scanned whole, bodies in pieces. */
static void
feed(const char *data, size_t len, size_t step, struct run *out)
{
	struct edge_parser p;
	size_t pos = 0, avail = 0;

	memset(out, 0, sizeof(*out));
	edge_parser_init(&p, &lim);
	while (pos < len) {
		size_t n;

		avail += step == 0 ? len : step;
		if (pos + avail > len)
			avail = len - pos;
		n = edge_parse(&p, data + pos, avail);
		if (n > avail)
			FAIL("forwarded more bytes than it was given");
		if (p.state == EDGE_REJECTED)
			break;
		if (n > 0 && out->heads == 0 && out->head == NULL) {
			out->head = data + pos;
			out->head_len = n;
			out->first = p;
		}
		pos += n;
		avail -= n;
		out->forwarded += n;
		if (p.state == EDGE_DONE) {
			out->heads++;
			edge_parser_next(&p);
		}
		if (n == 0 && pos + avail >= len)
			break;
	}
	out->state = p.state;
	out->status = p.status;
}

static int
append(struct run *r, const char *s, size_t len)
{
	if (r->target_len + len > sizeof(r->target))
		FAIL("evhtp saw a target longer than the edge allows");
	memcpy(r->target + r->target_len, s, len);
	r->target_len += len;
	return 0;
}

/* evhtp builds its request URI from these two hooks: rebuild it the same way. */
static int
on_path(htparser *hp, const char *s, size_t len)
{
	return append(htparser_get_userdata(hp), s, len);
}

static int
on_args(htparser *hp, const char *s, size_t len)
{
	struct run *r = htparser_get_userdata(hp);

	append(r, "?", 1);
	return append(r, s, len);
}

/* The target between the first two spaces of an accepted head. */
static void
edge_target(const char *head, const char **t, size_t *tlen)
{
	const char *a = memchr(head, ' ', 64), *b;

	b = memchr(a + 1, ' ', lim.max_uri + 1);
	*t = a + 1;
	*tlen = (size_t)(b - a - 1);
}

/* Host lines of a rewritten head: exactly one, holding the authority. */
static void
check_host(const struct edge_parser *p, const char *orig, const char *head,
    size_t len)
{
	const char *auth = orig + p->auth_off, *s = head, *end = head + len;
	unsigned hosts = 0;

	while (s < end) {
		const char *eol = memchr(s, '\n', (size_t)(end - s));

		if (eol == NULL)
			break;
		if (eol - s >= 5 && strncasecmp(s, "host:", 5) == 0) {
			hosts++;
			if ((size_t)(eol - s) != 6 + p->auth_len + 1 ||
			    memcmp(s + 6, auth, p->auth_len) != 0)
				FAIL("the rewritten Host is not the authority");
		}
		s = eol + 1;
	}
	if (hosts != 1)
		FAIL("a rewritten head without exactly one Host");
}

/* The first head as the edge hands it on, in buf. */
static size_t
rewrite(const struct run *r, size_t n, char *buf, size_t size)
{
	struct edge_piece pc[EDGE_MAX_PIECES];
	unsigned i, np;
	size_t len = 0;

	np = edge_head_pieces(&r->first, r->head, n, pc);
	if (np > EDGE_MAX_PIECES)
		FAIL("more head pieces than EDGE_MAX_PIECES");
	for (i = 0; i < np; i++) {
		if (len + pc[i].len > size)
			FAIL("a rewritten head much longer than the original");
		memcpy(buf + len, pc[i].buf, pc[i].len);
		len += pc[i].len;
	}
	if (r->first.target == EDGE_TARGET_ABSOLUTE)
		check_host(&r->first, r->head, buf, len);
	return len;
}

static void
check_evhtp(struct run *r)
{
	static htparse_hooks hooks = { .path = on_path, .args = on_args };
	static char buf[8192];
	const char *t, *head;
	htparser *hp;
	size_t tlen, n;

	if (r->head == NULL)
		return;
	/* the bytes up to the end of the first head */
	for (n = 4; n <= r->head_len; n++)
		if (memcmp(r->head + n - 4, "\r\n\r\n", 4) == 0)
			break;
	if (n > r->head_len)
		return;             /* the first piece forwarded was a body */
	head = buf;
	n = rewrite(r, n, buf, sizeof(buf));
	hp = htparser_new();
	htparser_init(hp, htp_type_request);
	htparser_set_userdata(hp, r);
	htparser_run(hp, &hooks, head, n);
	if (htparser_get_error(hp) != htparse_error_none)
		FAIL("the edge let through a head that evhtp refuses");
	edge_target(head, &t, &tlen);
	if (tlen != r->target_len || memcmp(t, r->target, tlen) != 0)
		FAIL("evhtp saw another request target than the edge");
	free(hp);
}

/* libFuzzer's entry point; no header declares it (-Wmissing-prototypes) */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run whole, pieces;
	size_t step;

	if (size < 1)
		return 0;
	step = 1 + data[0] % 17;
	feed((const char *)data + 1, size - 1, 0, &whole);
	feed((const char *)data + 1, size - 1, step, &pieces);
	if (whole.state != pieces.state || whole.status != pieces.status ||
	    whole.heads != pieces.heads)
		FAIL("the verdict depends on how the stream was split");
	if (whole.state != EDGE_REJECTED && whole.forwarded != pieces.forwarded)
		FAIL("the bytes passed on depend on how the stream was split");
	check_evhtp(&whole);
	return 0;
}
