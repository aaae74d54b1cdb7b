/*
 * server.c: the HTTP/1.1 side of placesd-events on bufferevents and an
 * evconnlistener (not evhttp: the faults need raw control of the socket).
 *
 * A connection reads a request head up to CRLFCRLF (at most
 * HTTP_HEAD_MAX bytes), refuses request bodies, and passes the request to
 * the route function. Until that request's answer is written out the
 * connection reads on only to notice the client going away; pipelined
 * requests wait in the input buffer. HTTP/1.1 keeps the connection by
 * default, "Connection: close" (or HTTP/1.0 without keep-alive) closes it
 * after the answer. A malformed head is answered 400 and closed.
 * Closing is lingering: shut down our side, then discard what the client
 * still sends until its EOF (at most LINGER_MS), so that unread input
 * cannot turn the close into a reset that loses the answer.
 */
#include "events/server.h"
#include "common/util.h"

#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#define READ_HIGHWAT    (64 * 1024)     /* input kept while busy */
#define STREAM_LOWAT    (64 * 1024)     /* refill a stream below this */
#define LISTEN_BACKLOG  128
#define LINGER_MS       2000            /* reading on after our FIN */
#define ACCEPT_PAUSE_MS 100             /* out of descriptors: wait */

enum conn_state {
	C_READ,         /* waiting for (the rest of) a request head */
	C_BUSY,         /* the route has the request (maybe on a timer) */
	C_STREAM,       /* body bytes come from the fill function */
	C_DRAIN,        /* the answer is queued: waiting until it is sent */
	C_HANG,         /* never answers */
	C_LINGER,       /* closed our side: discarding input until EOF */
};

struct conn {
	struct server *srv;
	struct bufferevent *bev;
	struct event *timer;
	enum conn_state state;
	bool close_after;       /* close once the answer is sent */
	bool peer_eof;          /* the client closed its side */
	bool waiting;           /* the stream waits for conn_kick */
	bool broken;            /* out of memory while answering */
	struct request req;
	void *task;
	void (*task_free)(void *);
	task_fn timer_fn;
	fill_fn fill;
	TAILQ_ENTRY(conn) link;
	char *head;             /* the request's head, req points into it;
	                           its own size, so an idle connection holds
	                           none of HTTP_HEAD_MAX */
};

struct server {
	struct event_base *base;
	struct evconnlistener *lev;
	struct event *resume;   /* accepting again after a pause */
	route_fn route;
	void *arg;
	bool verbose;
	unsigned port;
	unsigned nconns;
	char addr[NI_MAXHOST + NI_MAXSERV + 4];
	TAILQ_HEAD(, conn) conns;
};

static void process_input(struct conn *c);

/* ---- listening ------------------------------------------------------- */

int
server_split_addr(const char *addr, char *host, size_t hostlen, char *port,
    size_t portlen)
{
	const char *colon, *h = addr, *he;

	if (*addr == '[') {
		h = addr + 1;
		if ((he = strchr(h, ']')) == NULL || he[1] != ':')
			return -1;
		colon = he + 1;
	} else {
		if ((colon = strrchr(addr, ':')) == NULL)
			return -1;
		he = colon;
	}
	if (he == h || (size_t)(he - h) >= hostlen ||
	    strlen(colon + 1) >= portlen || colon[1] == '\0' ||
	    strspn(colon + 1, "0123456789") != strlen(colon + 1) ||
	    strtoul(colon + 1, NULL, 10) > 65535)
		return -1;
	memcpy(host, h, (size_t)(he - h));
	host[he - h] = '\0';
	strcpy(port, colon + 1);
	return 0;
}

static int
bind_one(const struct addrinfo *ai)
{
	int fd, on = 1, saved;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, ai->ai_protocol);
	if (fd == -1)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) == -1 ||
	    listen(fd, LISTEN_BACKLOG) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

/* A listening socket for addr; -1 with a message in err. */
static int
listen_on(const char *addr, char *err, size_t errlen)
{
	struct addrinfo hints, *res, *ai;
	char host[NI_MAXHOST], port[NI_MAXSERV];
	int fd = -1, rc, saved = 0;

	if (server_split_addr(addr, host, sizeof(host), port,
	    sizeof(port)) != 0) {
		snprintf(err, errlen, "bad listen address \"%s\" (use "
		    "host:port)", addr);
		return -1;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((rc = getaddrinfo(host, port, &hints, &res)) != 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", addr,
		    gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL && fd == -1; ai = ai->ai_next)
		if ((fd = bind_one(ai)) == -1)
			saved = errno;
	freeaddrinfo(res);
	if (fd == -1)
		snprintf(err, errlen, "cannot listen on %s: %s", addr,
		    strerror(saved));
	return fd;
}

/* Records the bound address as text ("127.0.0.1:8081", "[::1]:8081"). */
static int
note_address(struct server *srv, int fd, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char host[NI_MAXHOST], port[NI_MAXSERV];
	int rc;

	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1) {
		snprintf(err, errlen, "getsockname: %s", strerror(errno));
		return -1;
	}
	rc = getnameinfo((struct sockaddr *)&ss, len, host, sizeof(host),
	    port, sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV);
	if (rc != 0) {
		snprintf(err, errlen, "getnameinfo: %s", gai_strerror(rc));
		return -1;
	}
	snprintf(srv->addr, sizeof(srv->addr), ss.ss_family == AF_INET6 ?
	    "[%s]:%s" : "%s:%s", host, port);
	srv->port = (unsigned)strtoul(port, NULL, 10);
	return 0;
}

/* ---- connections ----------------------------------------------------- */

static void
drop_task(struct conn *c)
{
	if (c->task != NULL && c->task_free != NULL)
		c->task_free(c->task);
	c->task = NULL;
	c->task_free = NULL;
	c->timer_fn = NULL;
	c->fill = NULL;
	c->waiting = false;
	evtimer_del(c->timer);
}

static void
conn_free(struct conn *c)
{
	struct server *srv = c->srv;

	TAILQ_REMOVE(&srv->conns, c, link);
	srv->nconns--;
	drop_task(c);
	event_free(c->timer);
	bufferevent_free(c->bev);
	free(c->head);
	free(c);
}

static void
linger_done(struct conn *c, void *task)
{
	conn_free(c);
}

/* Sends our FIN, then waits for the client's (see the top). */
static void
linger(struct conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);

	if (c->peer_eof || c->broken ||
	    shutdown(bufferevent_getfd(c->bev), SHUT_WR) == -1) {
		conn_free(c);
		return;
	}
	c->state = C_LINGER;
	evbuffer_drain(in, evbuffer_get_length(in));
	conn_after(c, LINGER_MS, linger_done);
}

/* The answer is sent: close, or go on with the next request. */
static void
complete(struct conn *c)
{
	drop_task(c);
	if (c->close_after || c->peer_eof || c->broken) {
		linger(c);
		return;
	}
	c->state = C_READ;
	process_input(c);
}

/* The answer's last byte is queued. */
static void
finish(struct conn *c)
{
	if (c->broken) {
		conn_free(c);
		return;
	}
	c->state = C_DRAIN;
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		complete(c);
}

static void
pump(struct conn *c)
{
	switch (c->fill(c, c->task, bufferevent_get_output(c->bev))) {
	case FILL_DONE:
		finish(c);
		break;
	case FILL_WAIT:
		c->waiting = true;
		break;
	case FILL_MORE:
		break;
	case FILL_FAIL:
		conn_free(c);
		break;
	}
}

static void
on_read(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	if (c->state == C_HANG || c->state == C_LINGER)
		evbuffer_drain(in, evbuffer_get_length(in));
	else
		process_input(c);
}

static void
on_write(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	if (c->state == C_STREAM && !c->waiting)
		pump(c);
	else if (c->state == C_DRAIN &&
	    evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		complete(c);
}

/*
 * A client that closes its side while its answer is pending still gets
 * the answer (and then the connection closes); an idle or hung one is
 * freed at once. Errors (a reset, a failed write) free it in any state.
 */
static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;

	if ((what & BEV_EVENT_ERROR) || c->state == C_READ ||
	    c->state == C_HANG || c->state == C_LINGER) {
		conn_free(c);
		return;
	}
	if (what & BEV_EVENT_EOF)
		c->peer_eof = true;
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	task_fn fn = c->timer_fn;

	c->timer_fn = NULL;
	if (fn != NULL)
		fn(c, c->task);
}

static void
on_accept(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct server *srv = arg;
	struct conn *c;
	int on = 1;

	/* small writes (trickle) go out at once */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		close(fd);
		return;
	}
	c->srv = srv;
	c->bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		close(fd);
		free(c);
		return;
	}
	if ((c->timer = evtimer_new(srv->base, on_timer, c)) == NULL) {
		bufferevent_free(c->bev);
		free(c);
		return;
	}
	TAILQ_INSERT_TAIL(&srv->conns, c, link);
	srv->nconns++;
	bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, READ_HIGHWAT);
	if (bufferevent_enable(c->bev, EV_READ | EV_WRITE) == -1)
		conn_free(c);
}

/*
 * Out of descriptors or memory, the pending connection stays in the
 * backlog and the listener would be called again at once, forever: stop
 * accepting for a moment instead (the connections in hand go on), and say
 * so once per pause rather than once per loop pass.
 */
static void
on_accept_error(struct evconnlistener *lev, void *arg)
{
	struct server *srv = arg;
	struct timeval tv = { 0, ACCEPT_PAUSE_MS * 1000 };
	int e = errno;

	if (e != EMFILE && e != ENFILE && e != ENOBUFS && e != ENOMEM) {
		fprintf(stderr, "placesd-events: accept: %s\n", strerror(e));
		return;
	}
	fprintf(stderr, "placesd-events: accept: %s (%u connections open); "
	    "not accepting for %dms\n", strerror(e), srv->nconns,
	    ACCEPT_PAUSE_MS);
	evconnlistener_disable(lev);
	evtimer_add(srv->resume, &tv);
}

static void
on_resume(evutil_socket_t fd, short ev, void *arg)
{
	struct server *srv = arg;

	(void)fd;
	(void)ev;
	evconnlistener_enable(srv->lev);
}

struct server *
server_new(struct event_base *base, const char *addr, route_fn route,
    void *arg, bool verbose, char *err, size_t errlen)
{
	struct server *srv;
	int fd;

	if ((fd = listen_on(addr, err, errlen)) == -1)
		return NULL;
	if ((srv = calloc(1, sizeof(*srv))) == NULL) {
		snprintf(err, errlen, "out of memory");
		close(fd);
		return NULL;
	}
	srv->base = base;
	srv->route = route;
	srv->arg = arg;
	srv->verbose = verbose;
	TAILQ_INIT(&srv->conns);
	if (note_address(srv, fd, err, errlen) != 0) {
		close(fd);
		free(srv);
		return NULL;
	}
	/* backlog 0: listen() was called already */
	srv->lev = evconnlistener_new(base, on_accept, srv,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
	if (srv->lev == NULL) {
		snprintf(err, errlen, "evconnlistener_new failed");
		close(fd);
		free(srv);
		return NULL;
	}
	if ((srv->resume = evtimer_new(base, on_resume, srv)) == NULL) {
		snprintf(err, errlen, "out of memory");
		evconnlistener_free(srv->lev);
		free(srv);
		return NULL;
	}
	evconnlistener_set_error_cb(srv->lev, on_accept_error);
	return srv;
}

void
server_free(struct server *srv)
{
	if (srv == NULL)
		return;
	while (!TAILQ_EMPTY(&srv->conns))
		conn_free(TAILQ_FIRST(&srv->conns));
	event_free(srv->resume);
	evconnlistener_free(srv->lev);
	free(srv);
}

const char *
server_address(const struct server *srv)
{
	return srv->addr;
}

unsigned
server_port(const struct server *srv)
{
	return srv->port;
}

unsigned
server_connections(const struct server *srv)
{
	return srv->nconns;
}

/* ---- request heads --------------------------------------------------- */

static bool
is_tchar(int ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= '0' && ch <= '9') ||
	    (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

static bool
all_tchars(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++)
		if (!is_tchar((unsigned char)*s))
			return false;
	return true;
}

/* Cuts the line at s (ending in CRLF) and returns the next one. */
static char *
cut_line(char *s)
{
	char *eol = strstr(s, "\r\n");

	eol[0] = '\0';
	return eol + 2;
}

static const char *
parse_request_line(struct request *r, char *line)
{
	char *target, *version, *p;

	if ((target = strchr(line, ' ')) == NULL)
		return "malformed request line";
	*target++ = '\0';
	if ((version = strchr(target, ' ')) == NULL)
		return "malformed request line";
	*version++ = '\0';
	if (!all_tchars(line))
		return "malformed method";
	if (strcmp(version, "HTTP/1.1") == 0)
		r->minor = 1;
	else if (strcmp(version, "HTTP/1.0") == 0)
		r->minor = 0;
	else
		return "unsupported HTTP version";
	if (*target != '/')
		return "request target must start with /";
	for (p = target; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return "bad character in request target";
	r->method = line;
	r->path = target;
	r->query = NULL;
	if ((p = strchr(target, '?')) != NULL) {
		*p = '\0';
		r->query = p + 1;
	}
	if ((p = strchr(target, '#')) != NULL)
		*p = '\0';
	if (r->query != NULL && (p = strchr(r->query, '#')) != NULL)
		*p = '\0';
	return NULL;
}

/* Reads "close" and "keep-alive" out of a Connection header's tokens. */
static void
connection_tokens(const char *v, bool *want_close, bool *keep)
{
	size_t n;

	while (*v != '\0') {
		v += strspn(v, " \t,");
		n = strcspn(v, " \t,");
		if (n == 5 && strncasecmp(v, "close", 5) == 0)
			*want_close = true;
		else if (n == 10 && strncasecmp(v, "keep-alive", 10) == 0)
			*keep = true;
		v += n;
	}
}

static const char *
parse_header(char *line, bool *want_close, bool *keep)
{
	char *colon, *v, *e;

	if (*line == ' ' || *line == '\t')
		return "folded header line";
	if ((colon = strchr(line, ':')) == NULL)
		return "header line without a colon";
	*colon = '\0';
	if (!all_tchars(line))
		return "malformed header name";
	v = colon + 1 + strspn(colon + 1, " \t");
	e = v + strlen(v);
	while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
		*--e = '\0';
	if (strcasecmp(line, "Connection") == 0)
		connection_tokens(v, want_close, keep);
	else if (strcasecmp(line, "Content-Length") == 0) {
		if (*v == '\0' || strspn(v, "0123456789") != strlen(v))
			return "bad Content-Length";
		if (v[strspn(v, "0")] != '\0')
			return "request bodies are not accepted";
	} else if (strcasecmp(line, "Transfer-Encoding") == 0)
		return "request bodies are not accepted";
	return NULL;
}

/* Parses c->head (len bytes, ending in CRLFCRLF); NULL or what is wrong. */
static const char *
parse_head(struct conn *c, size_t len)
{
	struct request *r = &c->req;
	char *line = c->head, *next;
	bool want_close = false, keep = false;
	const char *why;

	if (memchr(c->head, '\0', len) != NULL)
		return "NUL byte in request head";
	next = cut_line(line);
	if (strpbrk(line, "\r\n") != NULL)
		return "bare CR or LF in request head";
	if ((why = parse_request_line(r, line)) != NULL)
		return why;
	for (line = next; *line != '\r'; line = next) {
		next = cut_line(line);
		if (strpbrk(line, "\r\n") != NULL)
			return "bare CR or LF in request head";
		if ((why = parse_header(line, &want_close, &keep)) != NULL)
			return why;
	}
	r->keep_alive = !want_close && (r->minor == 1 || keep);
	return NULL;
}

static void
bad_request(struct conn *c, const char *why)
{
	if (c->srv->verbose)
		fprintf(stderr, "placesd-events: bad request (%s) status=400\n",
		    why);
	c->state = C_BUSY;
	memset(&c->req, 0, sizeof(c->req));
	c->req.minor = 1;
	c->close_after = true;
	conn_error(c, 400, NULL, why);
}

static void
process_input(struct conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	struct evbuffer_ptr p;
	unsigned char two[2];
	size_t hlen;
	const char *why;

	if (c->state != C_READ)
		return;
	/* empty lines before a request line are ignored (RFC 9112 2.2) */
	while (evbuffer_copyout(in, two, 2) == 2 && two[0] == '\r' &&
	    two[1] == '\n')
		evbuffer_drain(in, 2);
	p = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	if (p.pos < 0) {
		if (evbuffer_get_length(in) > HTTP_HEAD_MAX)
			bad_request(c, "request head too large");
		return;
	}
	hlen = (size_t)p.pos + 4;
	if (hlen > HTTP_HEAD_MAX) {
		bad_request(c, "request head too large");
		return;
	}
	free(c->head);
	if ((c->head = malloc(hlen + 1)) == NULL) {
		c->state = C_BUSY;
		memset(&c->req, 0, sizeof(c->req));
		c->req.minor = 1;
		c->close_after = true;
		conn_error(c, 503, NULL, "out of memory");
		return;
	}
	evbuffer_remove(in, c->head, hlen);
	c->head[hlen] = '\0';
	if ((why = parse_head(c, hlen)) != NULL) {
		bad_request(c, why);
		return;
	}
	c->state = C_BUSY;
	c->close_after = !c->req.keep_alive;
	c->srv->route(c, &c->req, c->srv->arg);
}

/* ---- query strings --------------------------------------------------- */

/* Percent-decodes [s, e) into out; -1 on a bad escape, NUL or overflow. */
static int
decode(const char *s, const char *e, char *out, size_t outlen)
{
	size_t n = 0;
	int hi, lo;

	for (; s < e; s++) {
		if (n + 1 >= outlen)
			return -1;
		if (*s == '+')
			out[n++] = ' ';
		else if (*s != '%')
			out[n++] = *s;
		else {
			if (e - s < 3 || (hi = util_hex_value(s[1])) < 0 ||
			    (lo = util_hex_value(s[2])) < 0 ||
			    (hi == 0 && lo == 0))
				return -1;
			out[n++] = (char)(hi * 16 + lo);
			s += 2;
		}
	}
	if (outlen == 0)
		return -1;
	out[n] = '\0';
	return 0;
}

int
http_query_next(const char **qp, char *key, size_t keylen, char *val,
    size_t vallen)
{
	const char *q = *qp, *end, *eq;

	if (q == NULL)
		return 0;
	q += strspn(q, "&");
	if (*q == '\0') {
		*qp = q;
		return 0;
	}
	end = q + strcspn(q, "&");
	if ((eq = memchr(q, '=', (size_t)(end - q))) == NULL)
		eq = end;
	if (decode(q, eq, key, keylen) != 0 ||
	    decode(eq == end ? end : eq + 1, end, val, vallen) != 0)
		return -1;
	*qp = end;
	return 1;
}

/* ---- answers --------------------------------------------------------- */

static const char *
reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 500:
		return "Internal Server Error";
	case 503:
		return "Service Unavailable";
	default:
		return "Unknown";
	}
}

void
conn_log(struct conn *c, const char *fault, const char *status)
{
	const struct request *r = &c->req;

	if (!c->srv->verbose)
		return;
	fprintf(stderr, "placesd-events: %s %s%s%s fault=%s status=%s\n",
	    r->method, r->path, r->query != NULL ? "?" : "",
	    r->query != NULL ? r->query : "", fault, status);
}

void
conn_set_task(struct conn *c, void *task, void (*free_fn)(void *))
{
	drop_task(c);
	c->task = task;
	c->task_free = free_fn;
}

void
conn_after(struct conn *c, uint64_t ms, task_fn fn)
{
	struct timeval tv = { (time_t)(ms / 1000),
	    (suseconds_t)((ms % 1000) * 1000) };

	c->timer_fn = fn;
	evtimer_add(c->timer, &tv);
}

void
conn_close_after(struct conn *c)
{
	c->close_after = true;
}

void
conn_head(struct conn *c, int status, const char *ctype, const char *extra,
    uint64_t content_length)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	const char *conn_hdr = "";

	if (c->close_after || c->peer_eof)
		conn_hdr = "Connection: close\r\n";
	else if (c->req.minor == 0)
		conn_hdr = "Connection: keep-alive\r\n";
	if (evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\n"
	    "Server: placesd-events/%s\r\n"
	    "Content-Type: %s\r\n"
	    "Content-Length: %" PRIu64 "\r\n"
	    "%s%s\r\n", status, reason(status), PACKAGE_VERSION, ctype,
	    content_length, conn_hdr, extra != NULL ? extra : "") < 0)
		c->broken = true;
}

void
conn_write(struct conn *c, const void *data, size_t len)
{
	if (len > 0 && evbuffer_add(bufferevent_get_output(c->bev), data,
	    len) != 0)
		c->broken = true;
}

void
conn_end(struct conn *c)
{
	finish(c);
}

void
conn_respond(struct conn *c, int status, const char *ctype,
    const char *extra, const void *body, size_t len)
{
	conn_head(c, status, ctype, extra, len);
	conn_write(c, body, len);
	finish(c);
}

/* {"error":msg} with msg escaped as a JSON string. */
void
conn_error(struct conn *c, int status, const char *extra, const char *msg)
{
	char body[512];
	size_t n = 0;
	const char *s;

	n += (size_t)snprintf(body, sizeof(body), "{\"error\":\"");
	for (s = msg; *s != '\0' && n < sizeof(body) - 16; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			n += (size_t)snprintf(body + n, sizeof(body) - n,
			    "\\%c", ch);
		else if (ch < 0x20)
			n += (size_t)snprintf(body + n, sizeof(body) - n,
			    "\\u%04x", ch);
		else
			body[n++] = (char)ch;
	}
	n += (size_t)snprintf(body + n, sizeof(body) - n, "\"}\n");
	conn_respond(c, status, "application/json", extra, body, n);
}

void
conn_stream(struct conn *c, fill_fn fill)
{
	if (c->broken) {
		conn_free(c);
		return;
	}
	c->state = C_STREAM;
	c->fill = fill;
	c->waiting = false;
	bufferevent_setwatermark(c->bev, EV_WRITE, STREAM_LOWAT, 0);
	pump(c);
}

void
conn_kick(struct conn *c)
{
	if (c->state != C_STREAM || !c->waiting)
		return;
	c->waiting = false;
	pump(c);
}

void
conn_reset(struct conn *c)
{
	struct linger lg = { 1, 0 };

	(void)setsockopt(bufferevent_getfd(c->bev), SOL_SOCKET, SO_LINGER,
	    &lg, sizeof(lg));
	conn_free(c);
}

void
conn_hang(struct conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);

	c->state = C_HANG;
	evbuffer_drain(in, evbuffer_get_length(in));
	if (c->peer_eof)
		conn_free(c);
}
