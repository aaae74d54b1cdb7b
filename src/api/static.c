/*
 * static.c: the page at / and its files, from [http] static_dir. A worker
 * reads the directory once, when it starts (a reload starts new workers,
 * which read it again with their generation's config), and answers from
 * memory: a request never touches the disk. Only regular files directly in
 * the directory are taken, with a plain name (letters, digits, '.', '-',
 * '_', not starting with '.') and a known type, at most STATIC_MAX_FILES of
 * them, each at most STATIC_MAX_FILE bytes and STATIC_MAX_TOTAL in all; the
 * others are left out with a warning. GET / is index.html; GET
 * /www/{file} one of the files by its name, looked up in that table, so no
 * path can reach anything else. HTML is answered with Cache-Control:
 * no-cache, the rest with a short max-age; the ETag and 304 come from the
 * HTTP layer, as for every answer of the reply functions.
 */
#include "api/api.h"
#include "worker/worker.h"
#include "common/config.h"
#include "common/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STATIC_MAX_FILES    64
#define STATIC_MAX_FILE     (1024 * 1024)
#define STATIC_MAX_TOTAL    (4 * 1024 * 1024)
#define STATIC_MAX_NAME     64
#define STATIC_INDEX        "index.html"

/* The page's policy: its own scripts, styles and API only. */
#define STATIC_CSP "default-src 'none'; script-src 'self'; style-src 'self'; " \
	"img-src 'self' data:; connect-src 'self'; base-uri 'none'; " \
	"form-action 'self'; frame-ancestors 'none'"

struct static_file {
	char name[STATIC_MAX_NAME + 1];
	const char *ctype;
	const char *cache;          /* Cache-Control */
	char *data;
	size_t len;
};

struct static_files {
	struct static_file file[STATIC_MAX_FILES];
	size_t n;
	size_t bytes;
};

static const struct {
	const char *ext;
	const char *ctype;
	const char *cache;
} static_types[] = {
	{ ".html", "text/html; charset=utf-8", "no-cache" },
	{ ".js", "text/javascript; charset=utf-8", "public, max-age=300" },
	{ ".css", "text/css; charset=utf-8", "public, max-age=300" },
	{ ".svg", "image/svg+xml", "public, max-age=300" },
	{ ".png", "image/png", "public, max-age=300" },
	{ ".ico", "image/x-icon", "public, max-age=300" },
	{ ".json", "application/json; charset=utf-8", "public, max-age=300" },
	{ ".txt", "text/plain; charset=utf-8", "public, max-age=300" },
};

static bool
static_name_ok(const char *name)
{
	size_t i, len = strlen(name);

	if (len == 0 || len > STATIC_MAX_NAME || name[0] == '.')
		return false;
	for (i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_'))
			return false;
	}
	return true;
}

/* The type of a name by its extension; -1 for one not served. */
static int
static_type(const char *name)
{
	size_t i, len = strlen(name), el;

	for (i = 0; i < sizeof(static_types) / sizeof(static_types[0]); i++) {
		el = strlen(static_types[i].ext);
		if (len > el && strcmp(name + len - el, static_types[i].ext) == 0)
			return (int)i;
	}
	return -1;
}

/* Reads one regular file of at most max bytes whole; NULL with errno.
 * O_NONBLOCK: a FIFO put there must not hold up the worker's start. */
static char *
static_read(int dirfd, const char *name, size_t max, size_t *len)
{
	struct stat sb;
	char *buf = NULL;
	size_t got = 0;
	ssize_t n;
	int fd, err;

	if ((fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY |
	    O_NONBLOCK)) == -1)
		return NULL;
	if (fstat(fd, &sb) == -1)
		goto fail;
	if (!S_ISREG(sb.st_mode)) {
		errno = EISDIR;
		goto fail;
	}
	if ((uint64_t)sb.st_size > max) {
		errno = EFBIG;
		goto fail;
	}
	if ((buf = malloc((size_t)sb.st_size + 1)) == NULL)
		goto fail;
	while (got < (size_t)sb.st_size) {
		n = read(fd, buf + got, (size_t)sb.st_size - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;    /* shrank under us */
			goto fail;
		}
		got += (size_t)n;
	}
	close(fd);
	*len = got;
	return buf;
fail:
	err = errno;
	free(buf);
	close(fd);
	errno = err;
	return NULL;
}

/* Takes one directory entry into sf, or says why not. */
static void
static_take(struct static_files *sf, int dirfd, const char *dir,
    const char *name)
{
	struct static_file *f;
	size_t len, room;
	char *data;
	int t;

	if (name[0] == '.')
		return;         /* ".", "..", hidden files: silently */
	if (!static_name_ok(name) || (t = static_type(name)) < 0) {
		log_info("[http] static_dir %s: %s left out: not a name "
		    "or type served", dir, name);
		return;
	}
	if (sf->n == STATIC_MAX_FILES) {
		log_warnx("[http] static_dir %s: %s left out: more than %d "
		    "files", dir, name, STATIC_MAX_FILES);
		return;
	}
	room = STATIC_MAX_TOTAL - sf->bytes;
	if ((data = static_read(dirfd, name, room < STATIC_MAX_FILE ? room :
	    STATIC_MAX_FILE, &len)) == NULL) {
		if (errno == EISDIR)
			return;     /* not a regular file: not served */
		if (errno == EFBIG)
			log_warnx("[http] static_dir %s: %s left out: over "
			    "%d bytes, or the files over %d in all", dir, name,
			    STATIC_MAX_FILE, STATIC_MAX_TOTAL);
		else
			log_warn("[http] static_dir %s: %s left out", dir,
			    name);
		return;
	}
	f = &sf->file[sf->n++];
	snprintf(f->name, sizeof(f->name), "%s", name);
	f->ctype = static_types[t].ctype;
	f->cache = static_types[t].cache;
	f->data = data;
	f->len = len;
	sf->bytes += len;
}

struct static_files *
api_static_load(const char *dir)
{
	struct static_files *sf;
	struct dirent *de;
	DIR *d;
	int fd;

	if ((sf = calloc(1, sizeof(*sf))) == NULL)
		return NULL;
	if (*dir == '\0')
		return sf;      /* no page */
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    (d = fdopendir(fd)) == NULL) {
		log_warn("[http] static_dir %s: no page at /", dir);
		if (fd != -1)
			close(fd);
		return sf;
	}
	while ((errno = 0, de = readdir(d)) != NULL)
		static_take(sf, fd, dir, de->d_name);
	if (errno != 0)
		log_warn("[http] static_dir %s: reading it", dir);
	closedir(d);
	log_debug("[http] static_dir %s: %zu files, %zu bytes", dir, sf->n,
	    sf->bytes);
	return sf;
}

void
api_static_free(struct static_files *sf)
{
	size_t i;

	if (sf == NULL)
		return;
	for (i = 0; i < sf->n; i++)
		free(sf->file[i].data);
	free(sf);
}

static const struct static_file *
static_find(const struct static_files *sf, const char *name)
{
	size_t i;

	if (sf == NULL)
		return NULL;
	for (i = 0; i < sf->n; i++)
		if (strcmp(sf->file[i].name, name) == 0)
			return &sf->file[i];
	return NULL;
}

static void
static_reply(struct http_req *r, const char *name)
{
	struct worker *w = http_req_worker(r);
	const struct static_file *f = static_find(w->app_state->www, name);
	char msg[160];

	if (f == NULL) {
		snprintf(msg, sizeof(msg), "no such file: %.64s", name);
		http_reply_error(r, 404, "not_found", msg, NULL);
		return;
	}
	http_add_header(r, "Cache-Control", f->cache);
	http_add_header(r, "X-Content-Type-Options", "nosniff");
	if (strcmp(f->ctype, static_types[0].ctype) == 0)
		http_add_header(r, "Content-Security-Policy", STATIC_CSP);
	http_reply(r, 200, f->ctype, f->data, f->len);
}

/* GET / */
void
api_www_index(struct http_req *r)
{
	static_reply(r, STATIC_INDEX);
}

/* GET /www/{file} */
void
api_www_file(struct http_req *r)
{
	static_reply(r, http_req_param(r, 0));
}
