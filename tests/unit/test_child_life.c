/*
 * test_child_life.c: what a child makes of one read from the master's
 * control channel (runtime/child_life.h, child_life_dispatch): a DRAIN, a
 * REOPEN, several frames in one read, a truncated or garbage frame and an
 * unknown or unexpected type (bad, said why, and what came before still
 * counts), and end of file (the master is gone).
 */
#include "runtime/child_life.h"
#include "common/wire.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"

/* n frame headers of the given types, no payload, into buf. */
static size_t
frames(uint8_t *buf, const unsigned *types, size_t n)
{
	for (size_t i = 0; i < n; i++)
		wire_encode(buf + i * WIRE_HDR_LEN, types[i], 0, 0);
	return n * WIRE_HDR_LEN;
}

/* The warning's reason says what was wrong: it contains want. */
static void
bad_says(const struct child_life_msg *m, const char *want)
{
	ck_assert(m->acts & CHILD_LIFE_BAD);
	ck_assert_msg(strstr(m->bad, want) != NULL, "bad is \"%s\", want "
	    "\"%s\" in it", m->bad, want);
}

START_TEST(test_drain)
{
	static const unsigned t[] = { WIRE_CTL_DRAIN };
	uint8_t buf[WIRE_HDR_LEN];
	struct child_life_msg m;
	size_t n = frames(buf, t, 1);

	ck_assert_uint_eq(child_life_dispatch(buf, (ssize_t)n, &m),
	    CHILD_LIFE_DRAIN);
	ck_assert_uint_eq(m.frames, 1);
	ck_assert_str_eq(m.bad, "");
}
END_TEST

START_TEST(test_reopen)
{
	static const unsigned t[] = { WIRE_CTL_REOPEN };
	uint8_t buf[WIRE_HDR_LEN];
	struct child_life_msg m;
	size_t n = frames(buf, t, 1);

	ck_assert_uint_eq(child_life_dispatch(buf, (ssize_t)n, &m),
	    CHILD_LIFE_REOPEN);
	ck_assert_uint_eq(m.frames, 1);
}
END_TEST

START_TEST(test_several)
{
	static const unsigned t[] = { WIRE_CTL_REOPEN, WIRE_CTL_DRAIN,
	    WIRE_CTL_REOPEN };
	uint8_t buf[3 * WIRE_HDR_LEN];
	struct child_life_msg m;
	size_t n = frames(buf, t, 3);

	ck_assert_uint_eq(child_life_dispatch(buf, (ssize_t)n, &m),
	    CHILD_LIFE_REOPEN | CHILD_LIFE_DRAIN);
	ck_assert_uint_eq(m.frames, 3);
}
END_TEST

START_TEST(test_truncated)
{
	static const unsigned t[] = { WIRE_CTL_DRAIN, WIRE_CTL_REOPEN };
	uint8_t buf[2 * WIRE_HDR_LEN];
	struct child_life_msg m;

	frames(buf, t, 2);
	/* half a header alone */
	ck_assert_uint_eq(child_life_dispatch(buf, 5, &m), CHILD_LIFE_BAD);
	ck_assert_uint_eq(m.frames, 0);
	bad_says(&m, "truncated frame of 5 bytes");
	/* a whole DRAIN, then 7 bytes of a REOPEN: the DRAIN still counts */
	ck_assert_uint_eq(child_life_dispatch(buf, WIRE_HDR_LEN + 7, &m),
	    CHILD_LIFE_DRAIN | CHILD_LIFE_BAD);
	ck_assert_uint_eq(m.frames, 1);
	bad_says(&m, "truncated frame of 7 bytes");
}
END_TEST

START_TEST(test_garbage)
{
	static const unsigned t[] = { WIRE_CTL_DRAIN, WIRE_CTL_DRAIN };
	uint8_t buf[2 * WIRE_HDR_LEN];
	struct child_life_msg m;

	memset(buf, 0xa5, sizeof(buf));
	ck_assert_uint_eq(child_life_dispatch(buf, sizeof(buf), &m),
	    CHILD_LIFE_BAD);
	ck_assert_uint_eq(m.frames, 0);
	bad_says(&m, "unsupported protocol version");
	/* reserved flags */
	frames(buf, t, 1);
	buf[3] = 1;
	ck_assert_uint_eq(child_life_dispatch(buf, WIRE_HDR_LEN, &m),
	    CHILD_LIFE_BAD);
	bad_says(&m, "reserved flags set");
	/* a payload, which no control message has: nothing after it is
	 * read, since its bytes are not headers */
	wire_encode(buf, WIRE_CTL_DRAIN, 0, 4);
	ck_assert_uint_eq(child_life_dispatch(buf, sizeof(buf), &m),
	    CHILD_LIFE_BAD);
	bad_says(&m, "payload of 4 bytes");
	/* a bad frame stops the read: a DRAIN after it is not taken */
	frames(buf, t, 2);
	buf[0] = 9;
	ck_assert_uint_eq(child_life_dispatch(buf, sizeof(buf), &m),
	    CHILD_LIFE_BAD);
}
END_TEST

START_TEST(test_unknown_type)
{
	uint8_t buf[WIRE_HDR_LEN];
	struct child_life_msg m;

	/* a type the wire format does not know */
	wire_encode(buf, 99, 0, 0);
	ck_assert_uint_eq(child_life_dispatch(buf, sizeof(buf), &m),
	    CHILD_LIFE_BAD);
	bad_says(&m, "unknown message type");
	/* a known type the master never sends a child */
	wire_encode(buf, WIRE_CTL_READY, 0, 0);
	ck_assert_uint_eq(child_life_dispatch(buf, sizeof(buf), &m),
	    CHILD_LIFE_BAD);
	bad_says(&m, "unexpected message type 32");
	wire_encode(buf, WIRE_PING, 0, 0);
	ck_assert_uint_eq(child_life_dispatch(buf, sizeof(buf), &m),
	    CHILD_LIFE_BAD);
	bad_says(&m, "unexpected message type 1");
}
END_TEST

START_TEST(test_gone)
{
	uint8_t buf[WIRE_HDR_LEN] = { 0 };
	struct child_life_msg m;

	/* end of file: the master is gone */
	ck_assert_uint_eq(child_life_dispatch(buf, 0, &m), CHILD_LIFE_GONE);
	ck_assert_uint_eq(m.frames, 0);
	/* recv() -1 (EAGAIN, the read loop's end): nothing to do */
	ck_assert_uint_eq(child_life_dispatch(buf, -1, &m), 0);
	ck_assert_str_eq(m.bad, "");
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("child_life");
	TCase *tc = tcase_create("dispatch");

	tcase_add_test(tc, test_drain);
	tcase_add_test(tc, test_reopen);
	tcase_add_test(tc, test_several);
	tcase_add_test(tc, test_truncated);
	tcase_add_test(tc, test_garbage);
	tcase_add_test(tc, test_unknown_type);
	tcase_add_test(tc, test_gone);
	suite_add_tcase(s, tc);
	return check_run(s);
}
