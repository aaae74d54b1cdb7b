/*
 * test_config.c: the configuration parser, driven by the fixture files in
 * tests/unit/fixtures: each bad file must be refused with the expected
 * "file:line: section.key: problem" message, the good ones must load;
 * and the keys of the HTTP conventions from texts of their own.
 */
#include "common/config.h"
#include "common/util.h"

#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_run.h"

static char fixture_dir[1024];

static const char *
fixture(const char *name)
{
	static char path[1200];

	snprintf(path, sizeof(path), "%s/%s", fixture_dir, name);
	return path;
}

static struct config *
load(const char *name, struct config_errors *errs)
{
	memset(errs, 0, sizeof(*errs));
	return config_load(fixture(name), errs);
}

START_TEST(test_defaults_are_valid)
{
	struct config *c = config_defaults();

	ck_assert_ptr_nonnull(c);
	ck_assert_str_eq(c->listen, "127.0.0.1:8080");
	ck_assert_int_eq(c->listen_addr.ss_family, AF_INET);
	ck_assert_uint_ge(c->workers, 1);
	ck_assert_uint_eq(c->backlog, 1024);
	ck_assert_uint_eq(c->keepalive_timeout_ms, 60000);
	ck_assert_uint_eq(c->read_timeout_ms, 10000);
	ck_assert_uint_eq(c->max_header_size, 8192);
	ck_assert_uint_eq(c->max_body_size, 1024 * 1024);
	ck_assert_uint_eq(c->shutdown_timeout_ms, 30000);
	ck_assert_uint_eq(c->ranker_timeout_ms, 250);
	ck_assert_uint_eq(c->ranker_nice, UTIL_NICE_IDLE);
	ck_assert_str_eq(c->ranker_socket, "/run/placesd/ranker.sock");
	ck_assert_str_eq(c->user, "");
	ck_assert(!c->debug_routes);
	ck_assert_int_eq(c->crash_at_start, CRASH_NONE);
	/* where make install puts www/: $(pkgdatadir)/www */
	ck_assert_ptr_nonnull(strstr(c->static_dir, "/placesd/www"));
	ck_assert_str_eq(strstr(c->static_dir, "/placesd/www"), "/placesd/www");
	ck_assert_int_eq(c->static_dir[0], '/');
	config_free(c);
}
END_TEST

START_TEST(test_good_file_sets_every_key)
{
	struct config_errors errs;
	struct config *c = load("good.conf", &errs);

	ck_assert_uint_eq(errs.n, 0);
	ck_assert_ptr_nonnull(c);
	ck_assert_str_eq(c->listen, "[::1]:9090");
	ck_assert_int_eq(c->listen_addr.ss_family, AF_INET6);
	ck_assert_int_eq(ntohs(((struct sockaddr_in6 *)&c->listen_addr)->sin6_port), 9090);
	ck_assert_uint_eq(c->workers, 3);
	ck_assert_uint_eq(c->backlog, 512);
	ck_assert_uint_eq(c->max_connections, 100);
	ck_assert_uint_eq(c->keepalive_timeout_ms, 30000);
	ck_assert_uint_eq(c->read_timeout_ms, 2500);
	ck_assert_uint_eq(c->request_deadline_ms, 60000);
	ck_assert_uint_eq(c->max_header_size, 16384);
	ck_assert_uint_eq(c->max_body_size, 65536);
	ck_assert_uint_eq(c->shutdown_timeout_ms, 3600000);
	ck_assert_str_eq(c->user, "nobody");
	ck_assert_int_eq(c->log_level, 0);
	ck_assert_str_eq(c->log_file, "/var/log/placesd/placesd.log");
	ck_assert_str_eq(c->access_log, "/var/log/placesd/access.log");
	ck_assert_str_eq(c->ranker_socket, "/tmp/placesd-ranker.sock");
	ck_assert_uint_eq(c->ranker_threads, 4);
	ck_assert_uint_eq(c->ranker_queue_size, 10);
	ck_assert_uint_eq(c->ranker_timeout_ms, 75);
	ck_assert_uint_eq(c->ranker_nice, 5);
	ck_assert(c->debug_routes);
	ck_assert_int_eq(c->crash_at_start, CRASH_RANKER);
	config_free(c);
}
END_TEST

START_TEST(test_empty_sections_give_defaults)
{
	struct config_errors errs;
	struct config *c = load("empty.conf", &errs);
	struct config *d = config_defaults();

	ck_assert_uint_eq(errs.n, 0);
	ck_assert_ptr_nonnull(c);
	ck_assert_uint_eq(c->workers, d->workers);
	ck_assert_uint_eq(c->read_timeout_ms, d->read_timeout_ms);
	config_free(c);
	config_free(d);
}
END_TEST

/* One bad file each: the message names file, line, key and problem. */
static const struct {
	const char *file;
	const char *expect;
} bad[] = {
	{ "unknown-key.conf", "unknown-key.conf:4: server.keepalive: unknown key" },
	{ "unknown-section.conf", "unknown-section.conf:5: frontend.listen: unknown section" },
	{ "duration-no-unit.conf", "duration-no-unit.conf:2: server.read_timeout: duration needs a unit" },
	{ "duration-bad-unit.conf", "duration-bad-unit.conf:2: server.read_timeout: unknown duration unit" },
	{ "workers-zero.conf", "workers-zero.conf:2: server.workers: must be between 1 and 64" },
	{ "workers-word.conf", "workers-word.conf:2: server.workers: must be \"auto\" or a number" },
	{ "body-too-big.conf", "body-too-big.conf:2: server.max_body_size: must be between" },
	{ "listen-name.conf", "listen-name.conf:2: server.listen: must be host:port" },
	{ "listen-port.conf", "listen-port.conf:2: server.listen: port must be between 1 and 65535" },
	{ "level-bad.conf", "level-bad.conf:2: log.level: must be debug, info, warn or error" },
	{ "path-relative.conf", "path-relative.conf:2: log.file: must be an absolute path" },
	{ "static-relative.conf", "static-relative.conf:2: http.static_dir: must be an absolute path" },
	{ "duplicate.conf", "duplicate.conf:3: server.workers: duplicate key" },
	{ "nice-high.conf", "nice-high.conf:2: ranker.nice: must be \"idle\" or a number between 0 and 19" },
	{ "nice-word.conf", "nice-word.conf:2: ranker.nice: must be \"idle\" or a number between 0 and 19" },
	{ "bool-bad.conf", "bool-bad.conf:2: debug.routes: not a boolean" },
	{ "no-section.conf", "no-section.conf:1: workers: key outside of any [section]" },
	{ "syntax.conf", "syntax.conf:1: syntax error" },
	{ "missing-file.conf", "missing-file.conf: cannot open" },
};

START_TEST(test_bad_file)
{
	struct config_errors errs;
	struct config *c = load(bad[_i].file, &errs);
	size_t k;
	int found = 0;

	ck_assert_ptr_null(c);
	ck_assert_uint_ge(errs.n, 1);
	for (k = 0; k < errs.n; k++)
		if (strstr(errs.msg[k], bad[_i].expect) != NULL)
			found = 1;
	ck_assert_msg(found, "%s: expected \"%s\", got \"%s\"", bad[_i].file,
	    bad[_i].expect, errs.msg[0]);
	config_errors_free(&errs);
}
END_TEST

START_TEST(test_all_errors_reported)
{
	struct config_errors errs;
	struct config *c = load("several.conf", &errs);

	ck_assert_ptr_null(c);
	ck_assert_uint_eq(errs.n, 2);
	ck_assert_ptr_nonnull(strstr(errs.msg[0], ":3: server.read_timeout:"));
	ck_assert_ptr_nonnull(strstr(errs.msg[1], ":6: log.level:"));
	config_errors_free(&errs);
}
END_TEST

START_TEST(test_restart_only_keys)
{
	struct config *a = config_defaults(), *b = config_defaults();
	char name[64];

	ck_assert_int_eq(config_restart_only_changed(a, b, name, sizeof(name)), 0);
	b->workers = a->workers + 1;
	b->read_timeout_ms = 1;
	ck_assert_int_eq(config_restart_only_changed(a, b, name, sizeof(name)), 1);
	ck_assert_str_eq(name, "server.workers");
	config_keep_restart_only(a, b);
	ck_assert_int_eq(config_restart_only_changed(a, b, name, sizeof(name)), 0);
	ck_assert_uint_eq(b->read_timeout_ms, 1);   /* reloadable: kept */
	config_free(a);
	config_free(b);
}
END_TEST

START_TEST(test_value_parsers)
{
	char err[128];
	uint64_t v;
	bool b;

	ck_assert_int_eq(util_parse_duration_ms("250ms", &v, err, sizeof(err)), 0);
	ck_assert_uint_eq(v, 250);
	ck_assert_int_eq(util_parse_duration_ms("2m", &v, err, sizeof(err)), 0);
	ck_assert_uint_eq(v, 120000);
	ck_assert_int_eq(util_parse_duration_ms("1h", &v, err, sizeof(err)), 0);
	ck_assert_uint_eq(v, 3600000);
	ck_assert_int_eq(util_parse_duration_ms("-1s", &v, err, sizeof(err)), -1);
	ck_assert_int_eq(util_parse_duration_ms("1.5s", &v, err, sizeof(err)), -1);
	ck_assert_int_eq(util_parse_duration_ms("99999999999999999999s", &v, err, sizeof(err)), -1);
	ck_assert_int_eq(util_parse_size("8k", &v, err, sizeof(err)), 0);
	ck_assert_uint_eq(v, 8192);
	ck_assert_int_eq(util_parse_size("1M", &v, err, sizeof(err)), 0);
	ck_assert_uint_eq(v, 1048576);
	ck_assert_int_eq(util_parse_size("1g", &v, err, sizeof(err)), -1);
	ck_assert_int_eq(util_parse_bool("On", &b, err, sizeof(err)), 0);
	ck_assert(b);
	ck_assert_int_eq(util_parse_bool("no", &b, err, sizeof(err)), 0);
	ck_assert(!b);
	ck_assert_int_eq(util_parse_uint("12a", &v, err, sizeof(err)), -1);
	ck_assert_int_eq(util_parse_uint("", &v, err, sizeof(err)), -1);
}
END_TEST

START_TEST(test_key_table)
{
	size_t i, n = config_key_count();

	ck_assert_uint_ge(n, 20);
	for (i = 0; i < n; i++) {
		const struct config_key_info *k = config_key_at(i);
		ck_assert_ptr_nonnull(k);
		ck_assert_ptr_nonnull(k->section);
		ck_assert_ptr_nonnull(k->key);
	}
	ck_assert_ptr_null(config_key_at(n));
}
END_TEST

/* A config loaded from text (written to a temporary file). */
static struct config *
load_text(const char *text, struct config_errors *errs)
{
	char path[] = "/tmp/placesd-test-config-XXXXXX";
	struct config *c;
	FILE *fp;
	int fd;

	memset(errs, 0, sizeof(*errs));
	ck_assert_int_ge(fd = mkstemp(path), 0);
	ck_assert_ptr_nonnull(fp = fdopen(fd, "w"));
	fputs(text, fp);
	fclose(fp);
	c = config_load(path, errs);
	unlink(path);
	return c;
}

/* An error whose message contains what. */
static bool
has_error(const struct config_errors *errs, const char *what)
{
	size_t i;

	for (i = 0; i < errs->n; i++)
		if (strstr(errs->msg[i], what) != NULL)
			return true;
	return false;
}

/* [log] access and its older name access_log: one setting; "off". */
START_TEST(test_access_log_names)
{
	struct config_errors errs;
	struct config *c;

	c = load_text("[log]\naccess = /var/log/a.log\n", &errs);
	ck_assert_ptr_nonnull(c);
	ck_assert_str_eq(c->access_log, "/var/log/a.log");
	config_free(c);
	c = load_text("[log]\naccess_log = /var/log/b.log\n", &errs);
	ck_assert_ptr_nonnull(c);
	ck_assert_str_eq(c->access_log, "/var/log/b.log");
	config_free(c);
	c = load_text("[log]\naccess = off\n", &errs);
	ck_assert_ptr_nonnull(c);
	ck_assert_str_eq(c->access_log, "");
	config_free(c);
	/* both names, the same value: fine; different ones: an error */
	c = load_text("[log]\naccess = /x.log\naccess_log = /x.log\n", &errs);
	ck_assert_ptr_nonnull(c);
	ck_assert_str_eq(c->access_log, "/x.log");
	config_free(c);
	c = load_text("[log]\naccess = /x.log\naccess_log = /y.log\n", &errs);
	ck_assert_ptr_null(c);
	ck_assert(has_error(&errs, ":3: log.access_log: another name of "
	    "log.access"));
	config_errors_free(&errs);
	c = load_text("[log]\naccess = x.log\n", &errs);
	ck_assert_ptr_null(c);
	ck_assert(has_error(&errs, "log.access: must be an absolute path"));
	config_errors_free(&errs);
}
END_TEST

START_TEST(test_cors_origins)
{
	static const char *const good_values[] = {
		"", "*", " * ", "https://a.example",
		"https://a.example http://b.example:8080\thttp://[::1]:3000",
		"HTTP://A.EXAMPLE",
	};
	static const char *const bad_values[][2] = {
		{ "* https://a.example", "must stand alone" },
		{ "https://a.example/", "not an origin" },
		{ "https://a.example/app", "not an origin" },
		{ "a.example", "not an origin" },
		{ "ftp://a.example", "not an origin" },
		{ "https://", "not an origin" },
		{ "https://a.example:", "not an origin" },
		{ "https://a.example,https://b.example", "not an origin" },
	};
	struct config_errors errs;
	struct config *c;
	char text[256];
	size_t i;

	c = config_defaults();
	ck_assert_str_eq(c->http_cors_origins, "");
	config_free(c);
	for (i = 0; i < sizeof(good_values) / sizeof(good_values[0]); i++) {
		snprintf(text, sizeof(text), "[http]\ncors_origins = %s\n",
		    good_values[i]);
		c = load_text(text, &errs);
		ck_assert_msg(c != NULL, "refused: %s", good_values[i]);
		config_free(c);
	}
	for (i = 0; i < sizeof(bad_values) / sizeof(bad_values[0]); i++) {
		snprintf(text, sizeof(text), "[http]\ncors_origins = %s\n",
		    bad_values[i][0]);
		c = load_text(text, &errs);
		ck_assert_msg(c == NULL, "taken: %s", bad_values[i][0]);
		ck_assert_msg(has_error(&errs, bad_values[i][1]), "%s: %s",
		    bad_values[i][0], errs.n > 0 ? errs.msg[0] : "no error");
		config_errors_free(&errs);
	}
}
END_TEST

int
main(void)
{
	const char *top = getenv("top_srcdir");
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("config");

	snprintf(fixture_dir, sizeof(fixture_dir), "%s/tests/unit/fixtures",
	    top != NULL ? top : ".");
	tcase_add_test(tc, test_defaults_are_valid);
	tcase_add_test(tc, test_good_file_sets_every_key);
	tcase_add_test(tc, test_empty_sections_give_defaults);
	tcase_add_loop_test(tc, test_bad_file, 0, sizeof(bad) / sizeof(bad[0]));
	tcase_add_test(tc, test_all_errors_reported);
	tcase_add_test(tc, test_restart_only_keys);
	tcase_add_test(tc, test_value_parsers);
	tcase_add_test(tc, test_key_table);
	tcase_add_test(tc, test_access_log_names);
	tcase_add_test(tc, test_cors_origins);
	suite_add_tcase(s, tc);
	return check_run(s);
}
