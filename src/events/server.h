/*
 * server.h: a minimal HTTP/1.1 server on libevent bufferevents for
 * placesd-events. It reads request heads (no bodies), hands each request
 * to one route function and gives that function raw control of the
 * answer: a whole response, a head and then a stream of body bytes, a
 * wait on a timer, a TCP reset, or no answer at all.
 *
 * One request per connection is handled at a time; pipelined requests
 * wait in the input buffer until the answer before them is written out.
 */
#ifndef PLACESD_EVENTS_SERVER_H
#define PLACESD_EVENTS_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct evbuffer;
struct server;
struct conn;

#define HTTP_HEAD_MAX (16 * 1024)

struct request {
	const char *method;
	const char *path;
	const char *query;      /* after '?', NULL if none */
	int minor;              /* HTTP/1.minor */
	bool keep_alive;
};

/* Called once per request; the answer may come later (conn_after). */
typedef void (*route_fn)(struct conn *c, const struct request *r, void *arg);

/*
 * What a stream's fill function did: queued its last bytes, queued more
 * and wants to be called again once the output drains, or queued some and
 * will ask for the next call itself (conn_kick); FILL_FAIL (out of memory)
 * closes the connection.
 */
enum fill_result { FILL_DONE, FILL_MORE, FILL_WAIT, FILL_FAIL };
typedef enum fill_result (*fill_fn)(struct conn *c, void *task,
    struct evbuffer *out);
typedef void (*task_fn)(struct conn *c, void *task);

/*
 * Listens on addr ("host:port", "[v6]:port"; port 0 picks a free one).
 * NULL with a message in err when the address is bad or cannot be bound.
 */
struct server *server_new(struct event_base *base, const char *addr,
    route_fn route, void *arg, bool verbose, char *err, size_t errlen);
/* "host:port" or "[v6]:port" into host and port; -1 if malformed. */
int server_split_addr(const char *addr, char *host, size_t hostlen,
    char *port, size_t portlen);
/* Closes the listener and every connection. */
void server_free(struct server *srv);
/* The bound address, e.g. "127.0.0.1:8081", and port. */
const char *server_address(const struct server *srv);
unsigned server_port(const struct server *srv);
unsigned server_connections(const struct server *srv);

/*
 * Splits a query string: decodes the next key=value pair (percent escapes
 * and '+') into key and val and advances *q. Returns 1 with a pair, 0 at
 * the end, -1 for a malformed or too long pair.
 */
int http_query_next(const char **q, char *key, size_t keylen, char *val,
    size_t vallen);

/*
 * Answers. Every function that ends the answer (conn_respond, conn_error,
 * conn_end, conn_reset) may free c: do not touch c after calling one.
 */
/* One line on stderr with -v: the request, the fault and the status. */
void conn_log(struct conn *c, const char *fault, const char *status);
/* The task of the current request, freed with free_fn once it is over. */
void conn_set_task(struct conn *c, void *task, void (*free_fn)(void *));
/* Calls fn(c, task) after ms milliseconds (a timer; one at a time). */
void conn_after(struct conn *c, uint64_t ms, task_fn fn);
/* The connection closes once this answer is written. */
void conn_close_after(struct conn *c);
/* A whole response; extra is more header lines, each ending in CRLF. */
void conn_respond(struct conn *c, int status, const char *ctype,
    const char *extra, const void *body, size_t len);
/* A response with the JSON body {"error":msg}. */
void conn_error(struct conn *c, int status, const char *extra,
    const char *msg);
/* The head of a response; the body follows with conn_write or a stream. */
void conn_head(struct conn *c, int status, const char *ctype,
    const char *extra, uint64_t content_length);
void conn_write(struct conn *c, const void *data, size_t len);
/* The answer is complete once what was written is sent. */
void conn_end(struct conn *c);
/* Body bytes from fill until it returns FILL_DONE; then as conn_end. */
void conn_stream(struct conn *c, fill_fn fill);
/* Calls the fill function again after it returned FILL_WAIT. */
void conn_kick(struct conn *c);
/* Closes the connection at once with a TCP reset (RST). */
void conn_reset(struct conn *c);
/* Never answers: the connection stays until the client closes it. */
void conn_hang(struct conn *c);

#endif
