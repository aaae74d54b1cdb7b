/*
 * test_nearby_wire.c: the ranker's nearby answer (common/nearby_wire.h):
 * what the writer writes, that the reader reads it back with each
 * result's tail exactly as a worker copies it, that strings are escaped
 * byte for byte as jansson escapes them, and that the reader refuses
 * anything else (truncated, reordered, too many results, bad numbers,
 * bad strings, bad opening hours).
 */
#include "common/nearby_wire.h"

#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"

static char *
sample(size_t *len)
{
	struct nw_buf b;

	nw_open(&b, 1234, true, 7);
	nw_result(&b, 42, 139.25, 0.99166);
	nw_result_end(&b, 1, NULL, "2026-12-07T23:00:00+03:00");
	nw_result(&b, 9, 0.04, 1.0);
	nw_matched(&b, "name");
	nw_matched(&b, "menu: \"Khachapuri\" \\ po-adjarski\n");
	nw_result_end(&b, -1, NULL, NULL);
	nw_result(&b, 10, 5.0, 0.5);
	nw_result_end(&b, 0, "2026-12-08T09:30:00-05:00", NULL);
	return nw_close(&b, len);
}

START_TEST(test_written)
{
	size_t len;
	char *p = sample(&len);

	ck_assert_ptr_nonnull(p);
	ck_assert_str_eq(p, "{\"total\":1234,\"total_exact\":true,"
	    "\"snapshot\":7,\"results\":["
	    "{\"id\":42,\"distance_m\":139.3,\"score\":0.9917,\"matched\":[],"
	    "\"is_open_now\":true,\"opens_at\":null,\"closes_at\":"
	    "\"2026-12-07T23:00:00+03:00\"},"
	    "{\"id\":9,\"distance_m\":0.0,\"score\":1.0000,\"matched\":"
	    "[\"name\",\"menu: \\\"Khachapuri\\\" \\\\ po-adjarski\\n\"],"
	    "\"is_open_now\":null,\"opens_at\":null,\"closes_at\":null},"
	    "{\"id\":10,\"distance_m\":5.0,\"score\":0.5000,\"matched\":[],"
	    "\"is_open_now\":false,\"opens_at\":\"2026-12-08T09:30:00-05:00\","
	    "\"closes_at\":null}]}");
	ck_assert_uint_eq(len, strlen(p));
	free(p);
}
END_TEST

/* The head written by hand is what printf writes, over values of every
 * size, halves (0.05, 0.00005) included, and the ones it leaves to
 * printf (negative, huge, not a number). */
START_TEST(test_head_as_printf)
{
	static const double odd[][2] = {
		{ 0.05, 0.00005 }, { 0.15, 0.99995 }, { 1e13, 0.5 },
		{ 2e14, 1e14 }, { -1.0, -0.25 }, { 12.25, NAN }, { INFINITY, 0 },
	};
	char want[160];
	unsigned seed = 7;
	size_t i;

	for (i = 0; i < 200000 + sizeof(odd) / sizeof(odd[0]); i++) {
		struct nw_buf b;
		double d, sc;
		int64_t id = (int64_t)rand_r(&seed) * (i % 3 == 0 ? 1000003 : 1);

		if (i < sizeof(odd) / sizeof(odd[0])) {
			d = odd[i][0];
			sc = odd[i][1];
		} else {
			d = (double)rand_r(&seed) / RAND_MAX *
			    (i % 2 ? 60000.0 : 10.0);
			sc = (double)rand_r(&seed) / RAND_MAX;
		}
		memset(&b, 0, sizeof(b));
		nw_put(&b, "[", 1);
		nw_result(&b, i == 5 ? -id : id, d, sc);
		ck_assert(!b.failed);
		snprintf(want, sizeof(want), "[{\"id\":%lld,\"distance_m\":%.1f,"
		    "\"score\":%.4f,\"matched\":[", (long long)(i == 5 ? -id : id),
		    round(d * 10) / 10, round(sc * 10000) / 10000);
		ck_assert_str_eq(b.p, want);
		free(b.p);
	}
}
END_TEST

START_TEST(test_read_back)
{
	static const char tail0[] = ",\"distance_m\":139.3,\"score\":0.9917,"
	    "\"matched\":[],\"is_open_now\":true,\"opens_at\":null,"
	    "\"closes_at\":\"2026-12-07T23:00:00+03:00\"}";
	struct nw_result r[4];
	size_t len, n;
	long total;
	bool exact = false;
	char *p = sample(&len);

	ck_assert_int_eq(nw_scan(p, len, &total, &exact, r, 4, &n), 0);
	ck_assert_int_eq(total, 1234);
	ck_assert(exact);
	ck_assert_uint_eq(n, 3);
	ck_assert_int_eq(r[0].id, 42);
	ck_assert_int_eq(r[1].id, 9);
	ck_assert_int_eq(r[2].id, 10);
	ck_assert_uint_eq(r[0].tlen, strlen(tail0));
	ck_assert(memcmp(r[0].tail, tail0, r[0].tlen) == 0);
	ck_assert(r[1].tail[r[1].tlen - 1] == '}');
	ck_assert(r[2].tail[r[2].tlen - 1] == '}');
	ck_assert_int_eq(nw_scan(p, len, &total, &exact, r, 2, &n),
	    -1);                                /* cap */
	free(p);
}
END_TEST

START_TEST(test_no_results)
{
	struct nw_buf b;
	struct nw_result r[1];
	size_t len, n = 9;
	long total = -1;
	bool exact = true;
	char *p;

	nw_open(&b, 0, false, 1);
	p = nw_close(&b, &len);
	ck_assert_str_eq(p, "{\"total\":0,\"total_exact\":false,\"snapshot\":1,"
	    "\"results\":[]}");
	ck_assert_int_eq(nw_scan(p, len, &total, &exact, r, 1, &n), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(total, 0);
	ck_assert(!exact);
	free(p);
}
END_TEST

/* Every escape jansson makes, and UTF-8 passed through. */
START_TEST(test_escapes_as_jansson)
{
	static const char *const strs[] = { "plain", "", "\"", "\\",
	    "a\bb\fc\nd\re\tf", "\x01\x1f\x7f", "Хачапури по-аджарски",
	    "café / crème", "slash/end/" };
	size_t i, len, jl;
	char *p, *j, *want;
	struct nw_buf b;

	for (i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
		json_t *a = json_pack("[s]", strs[i]);

		ck_assert_ptr_nonnull(a);
		j = json_dumps(a, JSON_COMPACT);
		json_decref(a);
		nw_open(&b, 1, true, 1);
		nw_result(&b, 1, 1, 1);
		nw_matched(&b, strs[i]);
		nw_result_end(&b, -1, NULL, NULL);
		p = nw_close(&b, &len);
		jl = strlen(j);
		ck_assert_int_ge(asprintf(&want, "{\"total\":1,\"total_exact\":true,"
		    "\"snapshot\":1,\"results\":[{\"id\":1,\"distance_m\":1.0,\"score\":1.0000,"
		    "\"matched\":%.*s,\"is_open_now\":null,\"opens_at\":null,"
		    "\"closes_at\":null}]}", (int)jl, j), 0);
		ck_assert_str_eq(p, want);
		free(want);
		free(j);
		free(p);
	}
}
END_TEST

START_TEST(test_refusals)
{
	static const char *const bad[] = {
		"",
		"{\"total\":1,\"snapshot\":1,\"results\":[]",
		"{\"total\":1,\"snapshot\":1,\"results\":[]} ",
		"{\"snapshot\":1,\"total\":1,\"results\":[]}",
		"{\"total\":-1,\"snapshot\":1,\"results\":[]}",
		"{\"total\":1234567890123456789,\"snapshot\":1,\"results\":[]}",
		"{\"total\":1,\"snapshot\":1,\"results\":[{\"id\":1}]}",
		"{\"total\":1,\"total_exact\":true,\"snapshot\":1,"
		    "\"results\":[{\"id\":1,"
		    "\"distance_m\":1,\"score\":1.0000,\"matched\":[]}]}",
		"{\"total\":1,\"total_exact\":true,\"snapshot\":1,"
		    "\"results\":[{\"id\":1,"
		    "\"distance_m\":1.0,\"score\":1.00,\"matched\":[]}]}",
		"{\"total\":1,\"total_exact\":true,\"snapshot\":1,"
		    "\"results\":[{\"id\":1,"
		    "\"distance_m\":1.0,\"score\":1.0000,\"matched\":[\"a]}]}",
		"{\"total\":1,\"total_exact\":true,\"snapshot\":1,"
		    "\"results\":[{\"id\":1,"
		    "\"distance_m\":1.0,\"score\":1.0000,\"matched\":[\"a\\\"]}]}",
		"{\"total\":1,\"total_exact\":true,\"snapshot\":1,"
		    "\"results\":[{\"id\":1,"
		    "\"distance_m\":1.0,\"score\":1.0000,\"matched\":[\"\n\"]}]}",
		"{\"total\":1,\"total_exact\":true,\"snapshot\":1,"
		    "\"results\":[{\"id\":1,"
		    "\"distance_m\":1.0,\"score\":1.0000,\"matched\":[1]}]}",
		"{\"total\":1,\"total_exact\":true,\"snapshot\":1,"
		    "\"results\":[{\"id\":1,"
		    "\"distance_m\":1.0,\"score\":1.0000,\"matched\":[]},]}",
		"{\"error\":\"out of memory\"}",
		/* a header without total_exact, or with it wrong */
		"{\"total\":1,\"snapshot\":1,\"results\":[]}",
		"{\"total\":1,\"total_exact\":1,\"snapshot\":1,"
		    "\"results\":[]}",
		"{\"total_exact\":true,\"total\":1,\"snapshot\":1,"
		    "\"results\":[]}",
		/* a result without its hours, or with them wrong */
		"{\"total\":1,\"total_exact\":true,\"snapshot\":1,"
		    "\"results\":[{\"id\":1,"
		    "\"distance_m\":1.0,\"score\":1.0000,\"matched\":[]}]}",
		"{\"total\":1,\"total_exact\":true,\"snapshot\":1,"
		    "\"results\":[{\"id\":1,"
		    "\"distance_m\":1.0,\"score\":1.0000,\"matched\":[],"
		    "\"is_open_now\":1,\"opens_at\":null,\"closes_at\":null}]}",
		"{\"total\":1,\"total_exact\":true,\"snapshot\":1,"
		    "\"results\":[{\"id\":1,"
		    "\"distance_m\":1.0,\"score\":1.0000,\"matched\":[],"
		    "\"is_open_now\":true,\"closes_at\":null,"
		    "\"opens_at\":null}]}",
		"{\"total\":1,\"total_exact\":true,\"snapshot\":1,"
		    "\"results\":[{\"id\":1,"
		    "\"distance_m\":1.0,\"score\":1.0000,\"matched\":[],"
		    "\"is_open_now\":true,\"opens_at\":null,\"closes_at\":"
		    "\"2026-12-07T23:00:00Z\"}]}",
		"{\"total\":1,\"total_exact\":true,\"snapshot\":1,"
		    "\"results\":[{\"id\":1,"
		    "\"distance_m\":1.0,\"score\":1.0000,\"matched\":[],"
		    "\"is_open_now\":true,\"opens_at\":null,\"closes_at\":"
		    "\"2026-12-07 23:00:00+03:00\"}]}",
		"{\"total\":1,\"total_exact\":true,\"snapshot\":1,"
		    "\"results\":[{\"id\":1,"
		    "\"distance_m\":1.0,\"score\":1.0000,\"matched\":[],"
		    "\"is_open_now\":true,\"opens_at\":null,\"closes_at\":"
		    "\"2026-12-07T23:00:00+03:00}]}",
	};
	struct nw_result r[4];
	size_t i, n;
	long total;
	bool exact;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(nw_scan(bad[i], strlen(bad[i]), &total, &exact, r,
		    4, &n) == -1, "accepted: %s", bad[i]);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("nearby_wire");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_written);
	tcase_add_test(tc, test_head_as_printf);
	tcase_add_test(tc, test_read_back);
	tcase_add_test(tc, test_no_results);
	tcase_add_test(tc, test_escapes_as_jansson);
	tcase_add_test(tc, test_refusals);
	suite_add_tcase(s, tc);
	return check_run(s);
}
