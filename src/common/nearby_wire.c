/*
 * nearby_wire.c: writing and reading the ranker's nearby answer (see
 * nearby_wire.h). The reader accepts exactly what the writer writes and
 * nothing else: a worker that meets anything else treats the answer as a
 * failed call.
 */
#include "common/nearby_wire.h"
#include "common/util.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- writing ------------------------------------------------------------- */

void
nw_put(struct nw_buf *b, const char *s, size_t n)
{
	size_t cap;
	char *p;

	if (b->failed)
		return;
	if (b->len + n + 1 > b->cap) {
		cap = b->cap > 0 ? b->cap : 1024;
		while (cap < b->len + n + 1)
			cap *= 2;
		if ((p = realloc(b->p, cap)) == NULL) {
			b->failed = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

/* A string literal, its length counted by the compiler: appended to b,
 * or written at o, which moves past it. */
#define NW_LIT(b, lit)  nw_put((b), (lit), sizeof(lit) - 1)
#define PUT_LIT(o, lit) \
	((o) = (char *)memcpy((o), (lit), sizeof(lit) - 1) + sizeof(lit) - 1)

void
nw_printf(struct nw_buf *b, const char *fmt, ...)
{
	char tmp[160];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		b->failed = true;
		return;
	}
	nw_put(b, tmp, (size_t)n);
}

void
nw_open(struct nw_buf *b, uint64_t total, bool exact, uint64_t snapshot)
{
	char buf[96], *o = buf;

	memset(b, 0, sizeof(*b));
	PUT_LIT(o, "{\"total\":");
	o = util_put_uint(o, total);
	if (exact)
		PUT_LIT(o, ",\"total_exact\":true");
	else
		PUT_LIT(o, ",\"total_exact\":false");
	PUT_LIT(o, ",\"snapshot\":");
	o = util_put_uint(o, snapshot);
	PUT_LIT(o, ",\"results\":[");
	nw_put(b, buf, (size_t)(o - buf));
}

/*
 * x >= 0 with dec (1..4) decimals, the digits printf's "%.<dec>f" writes
 * for round(x * 10^dec) / 10^dec, written from that integer; NULL when x
 * is not a number from 0 to 10^14, which the caller leaves to printf.
 */
static char *
put_fixed(char *o, double x, unsigned dec)
{
	static const uint64_t pow10[] = { 1, 10, 100, 1000, 10000 };
	double k = round(x * (double)pow10[dec]);
	uint64_t n;

	if (!(k >= 0 && k < 1e14))
		return NULL;
	n = (uint64_t)k;
	o = util_put_uint(o, n / pow10[dec]);
	*o++ = '.';
	return util_put_digits(o, n % pow10[dec], (int)dec);
}

/* One result's head, written by hand: the ranker's hottest printf. */
void
nw_result(struct nw_buf *b, int64_t id, double distance_m, double score)
{
	static const char k_dist[] = ",\"distance_m\":", k_score[] =
	    ",\"score\":", k_tail[] = ",\"matched\":[";
	bool first = b->len > 0 && b->p[b->len - 1] == '[';
	char buf[128], *o = buf;

	if (!first)
		*o++ = ',';
	memcpy(o, "{\"id\":", 6);
	o += 6;
	if (id < 0) {
		*o++ = '-';
		o = util_put_uint(o, (uint64_t)0 - (uint64_t)id);
	} else
		o = util_put_uint(o, (uint64_t)id);
	memcpy(o, k_dist, sizeof(k_dist) - 1);
	o += sizeof(k_dist) - 1;
	if ((o = put_fixed(o, distance_m, 1)) == NULL)
		goto slow;
	memcpy(o, k_score, sizeof(k_score) - 1);
	o += sizeof(k_score) - 1;
	if ((o = put_fixed(o, score, 4)) == NULL)
		goto slow;
	memcpy(o, k_tail, sizeof(k_tail) - 1);
	o += sizeof(k_tail) - 1;
	nw_put(b, buf, (size_t)(o - buf));
	return;
slow:
	nw_printf(b, "%s{\"id\":%" PRId64 ",\"distance_m\":%.1f,\"score\":%.4f,"
	    "\"matched\":[", first ? "" : ",", id,
	    round(distance_m * 10) / 10, round(score * 10000) / 10000);
}

void
nw_string(struct nw_buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	const char *run = s;
	char esc[7];

	nw_put(b, "\"", 1);
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		nw_put(b, run, (size_t)(s - run));
		run = s + 1;
		esc[0] = '\\';
		switch (c) {
		case '"': case '\\': esc[1] = (char)c; break;
		case '\b': esc[1] = 'b'; break;
		case '\f': esc[1] = 'f'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		default:
			memcpy(esc + 1, "u00", 3);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			nw_put(b, esc, 6);
			continue;
		}
		nw_put(b, esc, 2);
	}
	nw_put(b, run, (size_t)(s - run));
	nw_put(b, "\"", 1);
}

void
nw_matched(struct nw_buf *b, const char *reason)
{
	if (b->len > 0 && b->p[b->len - 1] != '[')
		nw_put(b, ",", 1);
	nw_string(b, reason);
}

/* ,"<key>":"<time>" or ,"<key>":null; two per result, without printf */
static void
nw_time(struct nw_buf *b, const char *key, const char *t)
{
	NW_LIT(b, ",\"");
	nw_put(b, key, strlen(key));
	NW_LIT(b, "\":");
	if (t == NULL) {
		NW_LIT(b, "null");
		return;
	}
	NW_LIT(b, "\"");
	nw_put(b, t, strlen(t));
	NW_LIT(b, "\"");
}

void
nw_result_end(struct nw_buf *b, int open, const char *opens_at,
    const char *closes_at)
{
	nw_put(b, "],\"is_open_now\":", 16);
	if (open < 0)
		nw_put(b, "null", 4);
	else
		nw_put(b, open ? "true" : "false", open ? 4 : 5);
	nw_time(b, "opens_at", opens_at);
	nw_time(b, "closes_at", closes_at);
	nw_put(b, "}", 1);
}

char *
nw_close(struct nw_buf *b, size_t *len)
{
	nw_put(b, "]}", 2);
	if (b->failed) {
		free(b->p);
		b->p = NULL;
		return NULL;
	}
	*len = b->len;
	return b->p;
}

/* ---- reading ------------------------------------------------------------- */

struct scan {
	const char *p, *end;
};

static bool
lit(struct scan *s, const char *text)
{
	size_t n = strlen(text);

	if ((size_t)(s->end - s->p) < n || memcmp(s->p, text, n) != 0)
		return false;
	s->p += n;
	return true;
}

/* A non-negative integer of at most 18 digits (no sign: ids, counts). */
static bool
uint_of(struct scan *s, int64_t *v)
{
	int64_t x = 0;
	int n = 0;

	while (s->p < s->end && *s->p >= '0' && *s->p <= '9' && n < 19) {
		x = x * 10 + (*s->p++ - '0');
		n++;
	}
	*v = x;
	return n > 0 && n <= 18;
}

/* A number as "%.1f" or "%.4f" writes it. */
static bool
fixed(struct scan *s, int decimals)
{
	int64_t v;

	if (s->p < s->end && *s->p == '-')
		s->p++;
	if (!uint_of(s, &v) || !lit(s, "."))
		return false;
	for (; decimals > 0; decimals--, s->p++)
		if (s->p >= s->end || *s->p < '0' || *s->p > '9')
			return false;
	return true;
}

/* A string, at its opening quote. */
static bool
string(struct scan *s)
{
	if (!lit(s, "\""))
		return false;
	while (s->p < s->end) {
		unsigned char c = (unsigned char)*s->p++;

		if (c == '"')
			return true;
		if (c < 0x20)
			return false;
		if (c == '\\' && s->p++ >= s->end)
			return false;
	}
	return false;
}

/* A local time as nw_result_end() takes it, quoted, or null. */
static bool
time_or_null(struct scan *s)
{
	static const char form[] = "dddd-dd-ddTdd:dd:dd+dd:dd";
	size_t i;

	if (lit(s, "null"))
		return true;
	if (!lit(s, "\"") || s->end - s->p < NW_TIME_LEN + 1)
		return false;
	for (i = 0; i < NW_TIME_LEN; i++, s->p++) {
		if (form[i] == 'd' ? (*s->p < '0' || *s->p > '9') :
		    form[i] == '+' ? (*s->p != '+' && *s->p != '-') :
		    *s->p != form[i])
			return false;
	}
	return lit(s, "\"");
}

/* One result, from its opening brace. */
static bool
result(struct scan *s, struct nw_result *r)
{
	if (!lit(s, "{\"id\":") || !uint_of(s, &r->id))
		return false;
	r->tail = s->p;
	if (!lit(s, ",\"distance_m\":") || !fixed(s, 1) ||
	    !lit(s, ",\"score\":") || !fixed(s, 4) ||
	    !lit(s, ",\"matched\":["))
		return false;
	if (!lit(s, "]")) {
		do {
			if (!string(s))
				return false;
		} while (lit(s, ","));
		if (!lit(s, "]"))
			return false;
	}
	if (!lit(s, ",\"is_open_now\":") || !(lit(s, "true") ||
	    lit(s, "false") || lit(s, "null")) || !lit(s, ",\"opens_at\":") ||
	    !time_or_null(s) || !lit(s, ",\"closes_at\":") ||
	    !time_or_null(s) || !lit(s, "}"))
		return false;
	r->tlen = (size_t)(s->p - r->tail);
	return true;
}

int
nw_scan(const char *p, size_t len, long *total, bool *exact,
    struct nw_result *out, size_t cap, size_t *n)
{
	struct scan s = { p, p + len };
	int64_t t, snap;
	bool e;

	*n = 0;
	if (!lit(&s, "{\"total\":") || !uint_of(&s, &t) ||
	    !lit(&s, ",\"total_exact\":") ||
	    !((e = lit(&s, "true")) || lit(&s, "false")) ||
	    !lit(&s, ",\"snapshot\":") || !uint_of(&s, &snap) ||
	    !lit(&s, ",\"results\":["))
		return -1;
	if (!lit(&s, "]")) {
		do {
			if (*n == cap || !result(&s, &out[*n]))
				return -1;
			(*n)++;
		} while (lit(&s, ","));
		if (!lit(&s, "]"))
			return -1;
	}
	if (!lit(&s, "}") || s.p != s.end)
		return -1;
	*total = (long)t;
	*exact = e;
	return 0;
}
