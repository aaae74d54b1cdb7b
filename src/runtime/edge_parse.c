/*
 * edge_parse.c: the request framer of edge_parse.h. RFC 9112 rules, kept
 * strict where leniency lets two parsers disagree about where a request
 * ends (request smuggling): bare LF, obsolete line folding, duplicate or
 * malformed Content-Length, Content-Length with Transfer-Encoding, and any
 * coding but chunked are refused before libevhtp sees a byte of them.
 */
#include "runtime/edge_parse.h"
#include "common/util.h"

#include <string.h>
#include <strings.h>

#define MAX_METHOD      15
#define MAX_HEADERS     100
#define MAX_FIELD_LINE  8000    /* libevhtp's parser holds 8 KB a token */
#define VERSION_LEN     8       /* HTTP/1.1 */

enum chunk_state {
	CS_SIZE, CS_SIZE_LF, CS_DATA, CS_DATA_CR, CS_DATA_LF,
	CS_TRAILER_START, CS_END_LF,
};

void
edge_parser_init(struct edge_parser *p, const struct edge_limits *lim)
{
	memset(p, 0, sizeof(*p));
	p->lim = *lim;
	p->state = EDGE_HEAD;
}

void
edge_parser_next(struct edge_parser *p)
{
	struct edge_limits lim = p->lim;

	edge_parser_init(p, &lim);
}

static size_t
reject(struct edge_parser *p, int status, const char *code, const char *msg)
{
	p->state = EDGE_REJECTED;
	p->status = status;
	p->code = code;
	p->message = msg;
	return 0;
}

/* An ASCII letter or digit, or one of the bytes of extra. */
static int
alnum_or(unsigned char c, const char *extra)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z'))
		return 1;
	return c != '\0' && strchr(extra, c) != NULL;
}

static int
is_tchar(unsigned char c)
{
	return alnum_or(c, "!#$%&'*+-.^_`|~");
}

static int
is_value_char(unsigned char c)
{
	return c == '\t' || c == ' ' || (c >= 0x21 && c != 0x7f);
}

/* RFC 3986 pchar, "/" and "?": what an origin-form target may hold raw. */
static int
is_target_char(unsigned char c)
{
	return alnum_or(c, "-._~!$&'()*+,;=:@/?");
}

/* RFC 3986 authority bytes (host, port, IP literals), userinfo aside. */
static int
is_authority_char(unsigned char c)
{
	return alnum_or(c, "-._~!$&'()*+,;=:[]");
}

/* ---- the request line ------------------------------------------------------ */

/* A percent sign at s[k] is followed by two hex digits before end. */
static bool
pct_ok(const char *s, size_t k, size_t end)
{
	return k + 2 < end && util_hex_value((unsigned char)s[k + 1]) >= 0 &&
	    util_hex_value((unsigned char)s[k + 2]) >= 0;
}

/* The path and query of a target, s[from..end). */
static size_t
check_path(struct edge_parser *p, const char *s, size_t from, size_t end)
{
	for (size_t k = from; k < end; k++) {
		unsigned char c = (unsigned char)s[k];

		if (c == '%') {
			if (!pct_ok(s, k, end))
				return reject(p, 400, "bad_request", "a % in the "
				    "request target is not followed by two hex "
				    "digits");
			k += 2;
		} else if (!is_target_char(c)) {
			return reject(p, 400, "bad_request", "the request "
			    "target holds a byte that must be percent-encoded");
		}
	}
	return 1;
}

/*
 * absolute-form (RFC 9112 3.2.2), which a server must accept: an http or
 * https URI whose authority stands for Host and whose path is routed. A
 * userinfo part is refused (RFC 9110 4.2.4).
 */
static size_t
parse_absolute(struct edge_parser *p, const char *s, size_t t0, size_t tlen)
{
	size_t end = t0 + tlen, a, k;

	if (tlen > 7 && strncasecmp(s + t0, "http://", 7) == 0)
		a = t0 + 7;
	else if (tlen > 8 && strncasecmp(s + t0, "https://", 8) == 0)
		a = t0 + 8;
	else
		return reject(p, 400, "bad_request", "the request target must "
		    "be a path starting with /, or an http URI");
	for (k = a; k < end && s[k] != '/' && s[k] != '?'; k++) {
		unsigned char c = (unsigned char)s[k];

		if (c == '@')
			return reject(p, 400, "bad_request", "a request target "
			    "with userinfo is not accepted");
		if (c == '%') {
			if (!pct_ok(s, k, end))
				return reject(p, 400, "bad_request", "a % in the "
				    "request target is not followed by two hex "
				    "digits");
			k += 2;
		} else if (!is_authority_char(c)) {
			return reject(p, 400, "bad_request", "malformed host in "
			    "the request target");
		}
	}
	if (k == a)
		return reject(p, 400, "bad_request", "the request target has "
		    "no host");
	p->target = EDGE_TARGET_ABSOLUTE;
	p->auth_off = a;
	p->auth_len = k - a;
	p->path_off = k;
	p->path_len = end - k;
	return check_path(p, s, k, end);
}

static size_t
parse_target(struct edge_parser *p, const char *s, size_t t0, size_t tlen)
{
	p->target_off = t0;
	p->target_len = tlen;
	if (tlen == 0)
		return reject(p, 400, "bad_request", "malformed request line: "
		    "expected METHOD SP target SP HTTP/1.1");
	if (s[t0] == '/')
		return check_path(p, s, t0, t0 + tlen);
	if (tlen == 1 && s[t0] == '*') {
		if (strcmp(p->method, "OPTIONS") != 0)
			return reject(p, 400, "bad_request", "the request target "
			    "* is for OPTIONS only");
		p->target = EDGE_TARGET_ASTERISK;
		return 1;
	}
	return parse_absolute(p, s, t0, tlen);
}

static size_t
parse_request_line(struct edge_parser *p, const char *s, size_t len)
{
	size_t i = 0, t0, tlen;
	const char *v;

	while (i < len && s[i] >= 'A' && s[i] <= 'Z')
		i++;
	if (i == 0 || i > MAX_METHOD || i >= len || s[i] != ' ')
		return reject(p, 400, "bad_request", "malformed request line: "
		    "expected METHOD SP target SP HTTP/1.1");
	memcpy(p->method, s, i);
	p->method[i] = '\0';
	t0 = ++i;
	while (i < len && s[i] != ' ')
		i++;
	tlen = i - t0;
	if (tlen > p->lim.max_uri)
		return reject(p, 414, "uri_too_long", "the request target is "
		    "longer than the server accepts");
	if (parse_target(p, s, t0, tlen) == 0)
		return 0;
	if (i >= len || len - i - 1 != VERSION_LEN)
		return reject(p, 400, "bad_request", "malformed request line: "
		    "expected METHOD SP target SP HTTP/1.1");
	v = s + i + 1;
	if (strncmp(v, "HTTP/", 5) != 0 || v[5] < '0' || v[5] > '9' ||
	    v[6] != '.' || v[7] < '0' || v[7] > '9')
		return reject(p, 400, "bad_request", "malformed HTTP version");
	if (v[5] != '1' || (v[7] != '0' && v[7] != '1'))
		return reject(p, 505, "http_version_not_supported",
		    "only HTTP/1.0 and HTTP/1.1 are supported");
	p->http10 = v[7] == '0';
	p->line_len = len + 2;
	return 1;
}

/* ---- header fields --------------------------------------------------------- */

struct head_info {
	unsigned n_length, n_te, n_host, n_ctype;
	uint64_t length;
	bool chunked;
	bool json;
	bool bad_te;
	bool bad_expect;
};

static bool
value_is(const char *v, size_t vlen, const char *want)
{
	return vlen == strlen(want) && strncasecmp(v, want, vlen) == 0;
}

static size_t
parse_content_length(struct edge_parser *p, struct head_info *hi,
    const char *v, size_t vlen)
{
	uint64_t n = 0;

	if (++hi->n_length > 1)
		return reject(p, 400, "bad_request", "more than one "
		    "Content-Length header");
	if (vlen == 0 || vlen > 18)
		return reject(p, 400, "bad_request", "invalid Content-Length");
	for (size_t k = 0; k < vlen; k++) {
		if (v[k] < '0' || v[k] > '9')
			return reject(p, 400, "bad_request",
			    "invalid Content-Length");
		n = n * 10 + (uint64_t)(v[k] - '0');
	}
	hi->length = n;
	return 1;
}

static void
note_content_type(struct head_info *hi, const char *v, size_t vlen)
{
	size_t mlen = 0;

	hi->n_ctype++;
	while (mlen < vlen && v[mlen] != ';')
		mlen++;
	while (mlen > 0 && (v[mlen - 1] == ' ' || v[mlen - 1] == '\t'))
		mlen--;
	hi->json = value_is(v, mlen, "application/json");
}

/* Whether a comma-separated list of tokens holds tok (any case). */
static bool
has_token(const char *v, size_t vlen, const char *tok)
{
	size_t i = 0;

	while (i < vlen) {
		size_t s, e;

		while (i < vlen && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		s = i;
		while (i < vlen && v[i] != ',')
			i++;
		for (e = i; e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'); e--)
			;
		if (e > s && value_is(v + s, e - s, tok))
			return true;
	}
	return false;
}

static size_t
parse_field(struct edge_parser *p, struct head_info *hi, const char *s,
    size_t len, size_t off)
{
	size_t colon = 0, vs, ve;
	const char *name = s;

	if (len > 0 && (s[0] == ' ' || s[0] == '\t'))
		return reject(p, 400, "bad_request", "obsolete header line "
		    "folding is not accepted");
	if (len > MAX_FIELD_LINE)
		return reject(p, 431, "headers_too_large", "a header line is "
		    "longer than the server accepts");
	while (colon < len && s[colon] != ':') {
		if (!is_tchar((unsigned char)s[colon]))
			return reject(p, 400, "bad_request", "malformed header "
			    "field name");
		colon++;
	}
	if (colon == 0 || colon == len)
		return reject(p, 400, "bad_request", "malformed header line");
	for (vs = colon + 1; vs < len && (s[vs] == ' ' || s[vs] == '\t'); vs++)
		;
	for (ve = len; ve > vs && (s[ve - 1] == ' ' || s[ve - 1] == '\t'); ve--)
		;
	for (size_t k = vs; k < ve; k++)
		if (!is_value_char((unsigned char)s[k]))
			return reject(p, 400, "bad_request", "invalid byte in a "
			    "header value");
	if (value_is(name, colon, "content-length")) {
		/* libevhtp reads no number after a tab (the fuzzer found it) */
		if (memchr(s + colon + 1, '\t', vs - colon - 1) != NULL)
			return reject(p, 400, "bad_request",
			    "invalid Content-Length");
		return parse_content_length(p, hi, s + vs, ve - vs);
	}
	if (value_is(name, colon, "transfer-encoding")) {
		hi->n_te++;
		if (value_is(s + vs, ve - vs, "chunked"))
			hi->chunked = true;
		else
			hi->bad_te = true;
	} else if (value_is(name, colon, "host")) {
		hi->n_host++;
		p->has_host = true;
		p->host_off = off;      /* in the header section, for now */
		p->host_len = len + 2;
	} else if (value_is(name, colon, "connection")) {
		if (has_token(s + vs, ve - vs, "close"))
			p->conn_close = true;
	} else if (value_is(name, colon, "content-type")) {
		note_content_type(hi, s + vs, ve - vs);
	} else if (value_is(name, colon, "expect")) {
		if (value_is(s + vs, ve - vs, "100-continue"))
			p->expect_continue = true;
		else
			hi->bad_expect = true;
	}
	return 1;
}

/* The framing rules, once every field is known. */
static size_t
check_framing(struct edge_parser *p, const struct head_info *hi)
{
	bool body;

	if (hi->n_te > 0 && hi->n_length > 0)
		return reject(p, 400, "bad_request", "Content-Length together "
		    "with Transfer-Encoding");
	if (hi->n_te > 1 || (hi->n_te > 0 && p->http10))
		return reject(p, 400, "bad_request", "invalid Transfer-Encoding");
	if (hi->bad_te)
		return reject(p, 501, "not_implemented", "only the chunked "
		    "transfer coding is supported");
	if (hi->n_host > 1 || (!p->http10 && hi->n_host == 0))
		return reject(p, 400, "bad_request", "an HTTP/1.1 request needs "
		    "exactly one Host header");
	if (hi->bad_expect)
		return reject(p, 417, "expectation_failed", "only Expect: "
		    "100-continue is supported");
	body = hi->chunked || hi->length > 0;
	if (body && (hi->n_ctype != 1 || !hi->json))
		return reject(p, 415, "unsupported_media_type", "a request "
		    "body must be application/json");
	if (hi->length > p->lim.max_body)
		return reject(p, 413, "payload_too_large", "the request body "
		    "is larger than the server accepts");
	if (hi->chunked) {
		p->state = EDGE_CHUNKED;
		p->chunk_state = CS_SIZE;
	} else if (hi->length > 0) {
		p->state = EDGE_BODY;
		p->remaining = hi->length;
	} else {
		p->state = EDGE_DONE;
	}
	return 1;
}

/* Header lines of a complete head: from after the request line to the end. */
static size_t
parse_fields(struct edge_parser *p, const char *s, size_t len)
{
	struct head_info hi;
	size_t pos = 0, nfields = 0;

	memset(&hi, 0, sizeof(hi));
	if (len > p->lim.max_header + 2)
		return reject(p, 431, "headers_too_large", "the request headers "
		    "are larger than the server accepts");
	while (pos + 2 <= len) {
		const char *eol = memchr(s + pos, '\r', len - pos);
		size_t llen;

		if (eol == NULL)
			break;
		llen = (size_t)(eol - (s + pos));
		if (llen == 0)
			break;              /* the empty line: end of head */
		if (++nfields > MAX_HEADERS)
			return reject(p, 431, "headers_too_large", "too many "
			    "request headers");
		if (parse_field(p, &hi, s + pos, llen, pos) == 0)
			return 0;
		pos += llen + 2;
	}
	return check_framing(p, &hi);
}

/*
 * Scans the head received so far. Bare LF and control bytes are refused at
 * once; so is a request line or a header section over its limit, before
 * the rest arrives.
 */
static size_t
parse_head(struct edge_parser *p, const char *buf, size_t len)
{
	size_t i, line1 = 0, end = 0;
	size_t line_max = p->lim.max_uri + MAX_METHOD + VERSION_LEN + 4;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)buf[i];

		/* limits by position, so the verdict never depends on how
		 * the bytes were split into reads */
		if (line1 == 0 && i >= line_max)
			return reject(p, 414, "uri_too_long", "the request "
			    "line is longer than the server accepts");
		if (line1 != 0 && i - line1 >= p->lim.max_header + 2)
			return reject(p, 431, "headers_too_large", "the request "
			    "headers are larger than the server accepts");

		if (c == '\n') {
			if (i == 0 || buf[i - 1] != '\r')
				return reject(p, 400, "bad_request", "a line "
				    "ends without CR");
			if (line1 == 0) {
				line1 = i + 1;
				if (parse_request_line(p, buf, i - 1) == 0)
					return 0;
			} else if (i >= 3 && buf[i - 2] == '\n') {
				end = i + 1;
				break;
			}
		} else if (c == '\r') {
			if (i + 1 < len && buf[i + 1] != '\n')
				return reject(p, 400, "bad_request", "a CR not "
				    "followed by LF");
		} else if ((c < 0x20 && c != '\t') || c == 0x7f) {
			return reject(p, 400, "bad_request", "a control byte "
			    "in the request head");
		}
	}
	if (line1 == 0 || end == 0)
		return 0;           /* within the limits so far: need more */
	if (parse_fields(p, buf + line1, end - line1) == 0)
		return 0;
	p->host_off += line1;
	return end;
}

unsigned
edge_head_pieces(const struct edge_parser *p, const char *head, size_t len,
    struct edge_piece *out)
{
	size_t t_end = p->target_off + p->target_len, rest;
	unsigned n = 0;

#define PIECE(b, l) do { out[n].buf = (b); out[n].len = (l); n++; } while (0)
	switch (p->target) {
	case EDGE_TARGET_ORIGIN:
		PIECE(head, len);
		break;
	case EDGE_TARGET_ASTERISK:
		PIECE(head, p->target_off);
		PIECE("/", 1);
		PIECE(head + t_end, len - t_end);
		break;
	case EDGE_TARGET_ABSOLUTE:
		PIECE(head, p->target_off);                     /* "GET " */
		if (p->path_len == 0 || head[p->path_off] == '?')
			PIECE("/", 1);
		PIECE(head + p->path_off, p->path_len);
		PIECE(head + t_end, p->line_len - t_end);       /* " HTTP/1.1" */
		PIECE("Host: ", 6);
		PIECE(head + p->auth_off, p->auth_len);
		PIECE("\r\n", 2);
		if (p->has_host) {
			rest = p->host_off + p->host_len;
			PIECE(head + p->line_len, p->host_off - p->line_len);
			PIECE(head + rest, len - rest);
		} else {
			PIECE(head + p->line_len, len - p->line_len);
		}
		break;
	}
#undef PIECE
	return n;
}

/* ---- bodies ---------------------------------------------------------------- */

static size_t
parse_chunked(struct edge_parser *p, const char *buf, size_t len)
{
	size_t i = 0;

	while (i < len && p->state == EDGE_CHUNKED) {
		unsigned char c = (unsigned char)buf[i];
		int h;

		switch (p->chunk_state) {
		case CS_SIZE:
			if ((h = util_hex_value(c)) >= 0) {
				if (++p->chunk_digits > 15)
					return reject(p, 413, "payload_too_large",
					    "a chunk is larger than the server "
					    "accepts");
				p->chunk_left = p->chunk_left * 16 + (uint64_t)h;
			} else if (p->chunk_digits > 0 &&
			    (c == ';' || c == ' ' || c == '\t')) {
				/* libevhtp drops the connection on them */
				return reject(p, 400, "bad_request", "chunk "
				    "extensions are not supported");
			} else if (p->chunk_digits > 0 && c == '\r') {
				p->chunk_state = CS_SIZE_LF;
			} else {
				return reject(p, 400, "bad_request",
				    "malformed chunk size");
			}
			break;
		case CS_SIZE_LF:
			if (c != '\n')
				return reject(p, 400, "bad_request",
				    "malformed chunk size line");
			p->chunk_digits = 0;
			if (p->chunk_left == 0) {
				p->chunk_state = CS_TRAILER_START;
				break;
			}
			p->body_total += p->chunk_left;
			if (p->body_total > p->lim.max_body)
				return reject(p, 413, "payload_too_large", "the "
				    "request body is larger than the server "
				    "accepts");
			p->chunk_state = CS_DATA;
			break;
		case CS_DATA: {
			size_t n = len - i;

			if ((uint64_t)n > p->chunk_left)
				n = (size_t)p->chunk_left;
			p->chunk_left -= n;
			i += n;
			if (p->chunk_left == 0)
				p->chunk_state = CS_DATA_CR;
			continue;
		}
		case CS_DATA_CR:
			if (c != '\r')
				return reject(p, 400, "bad_request",
				    "chunk data longer than its size");
			p->chunk_state = CS_DATA_LF;
			break;
		case CS_DATA_LF:
			if (c != '\n')
				return reject(p, 400, "bad_request",
				    "malformed chunk end");
			p->chunk_state = CS_SIZE;
			break;
		case CS_TRAILER_START:
			if (c == '\r') {
				p->chunk_state = CS_END_LF;
				break;
			}
			/* libevhtp ends the message inside the trailer section
			 * and then misreads what follows */
			return reject(p, 400, "bad_request", "trailer fields "
			    "are not supported");
		case CS_END_LF:
			if (c != '\n')
				return reject(p, 400, "bad_request",
				    "malformed end of chunked body");
			p->state = EDGE_DONE;
			break;
		}
		i++;
	}
	return i;
}

size_t
edge_parse(struct edge_parser *p, const char *buf, size_t len)
{
	size_t n;

	switch (p->state) {
	case EDGE_HEAD:
		return len == 0 ? 0 : parse_head(p, buf, len);
	case EDGE_BODY:
		n = len;
		if ((uint64_t)n > p->remaining)
			n = (size_t)p->remaining;
		p->remaining -= n;
		if (p->remaining == 0)
			p->state = EDGE_DONE;
		return n;
	case EDGE_CHUNKED:
		return parse_chunked(p, buf, len);
	default:
		return 0;
	}
}
