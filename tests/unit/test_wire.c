/*
 * test_wire.c: the inter-process frame header: round trips, byte order,
 * and refusal of bad versions, unknown types, reserved flags, oversized
 * payloads and short input.
 */
#include "common/wire.h"

#include <check.h>
#include <string.h>

#include "check_run.h"

START_TEST(test_round_trip)
{
	uint8_t b[WIRE_HDR_LEN];
	struct wire_hdr h;

	wire_encode(b, WIRE_PING, 0xdeadbeef, 1234);
	ck_assert_int_eq(wire_decode(b, sizeof(b), 4096, &h), WIRE_OK);
	ck_assert_uint_eq(h.version, WIRE_VERSION);
	ck_assert_uint_eq(h.type, WIRE_PING);
	ck_assert_uint_eq(h.flags, 0);
	ck_assert_uint_eq(h.id, 0xdeadbeef);
	ck_assert_uint_eq(h.len, 1234);
}
END_TEST

START_TEST(test_network_byte_order)
{
	uint8_t b[WIRE_HDR_LEN];
	static const uint8_t want[WIRE_HDR_LEN] = { 1, 2, 0, 0, 0x01, 0x02,
	    0x03, 0x04, 0, 0, 0x01, 0x00 };

	wire_encode(b, WIRE_PONG, 0x01020304, 256);
	ck_assert_mem_eq(b, want, sizeof(want));
}
END_TEST

START_TEST(test_incomplete)
{
	uint8_t b[WIRE_HDR_LEN];
	struct wire_hdr h;
	size_t n;

	wire_encode(b, WIRE_PING, 1, 0);
	for (n = 0; n < WIRE_HDR_LEN; n++)
		ck_assert_int_eq(wire_decode(b, n, 0, &h), WIRE_INCOMPLETE);
}
END_TEST

START_TEST(test_refusals)
{
	uint8_t b[WIRE_HDR_LEN];
	struct wire_hdr h;

	wire_encode(b, WIRE_PING, 1, 0);
	b[0] = 2;
	ck_assert_int_eq(wire_decode(b, sizeof(b), 0, &h), WIRE_EVERSION);
	wire_encode(b, 99, 1, 0);
	ck_assert_int_eq(wire_decode(b, sizeof(b), 0, &h), WIRE_ETYPE);
	wire_encode(b, 0, 1, 0);
	ck_assert_int_eq(wire_decode(b, sizeof(b), 0, &h), WIRE_ETYPE);
	wire_encode(b, WIRE_PING, 1, 0);
	b[3] = 1;
	ck_assert_int_eq(wire_decode(b, sizeof(b), 0, &h), WIRE_EFLAGS);
	wire_encode(b, WIRE_PING, 1, 4097);
	ck_assert_int_eq(wire_decode(b, sizeof(b), 4096, &h), WIRE_ETOOBIG);
	wire_encode(b, WIRE_PING, 1, 4096);
	ck_assert_int_eq(wire_decode(b, sizeof(b), 4096, &h), WIRE_OK);
	wire_encode(b, WIRE_PING, 1, WIRE_MAX_PAYLOAD + 1);
	ck_assert_int_eq(wire_decode(b, sizeof(b), 0xffffffffu, &h), WIRE_ETOOBIG);
	ck_assert_str_eq(wire_strerror(WIRE_ETYPE), "unknown message type");
}
END_TEST

START_TEST(test_nearby_frames)
{
	uint8_t b[WIRE_HDR_LEN];
	struct wire_hdr h;
	static const uint8_t want[WIRE_HDR_LEN] = { 1, 5, 0, 0, 0, 0, 0, 7,
	    0, 0, 0x10, 0x00 };

	ck_assert_uint_eq(WIRE_NEARBY, 5);
	ck_assert_uint_eq(WIRE_NEARBY_RESULT, 6);
	wire_encode(b, WIRE_NEARBY, 7, 4096);
	ck_assert_mem_eq(b, want, sizeof(want));
	ck_assert_int_eq(wire_decode(b, sizeof(b), 64 * 1024, &h), WIRE_OK);
	ck_assert_uint_eq(h.type, WIRE_NEARBY);
	ck_assert_uint_eq(h.len, 4096);
	wire_encode(b, WIRE_NEARBY, 7, 64 * 1024 + 1);
	ck_assert_int_eq(wire_decode(b, sizeof(b), 64 * 1024, &h),
	    WIRE_ETOOBIG);
	wire_encode(b, WIRE_NEARBY_RESULT, 0xffffffffu, 900000);
	ck_assert_int_eq(wire_decode(b, sizeof(b), WIRE_MAX_PAYLOAD, &h),
	    WIRE_OK);
	ck_assert_uint_eq(h.type, WIRE_NEARBY_RESULT);
	ck_assert_uint_eq(h.id, 0xffffffffu);
}
END_TEST

START_TEST(test_known_types)
{
	unsigned t, n = 0;

	for (t = 0; t < 256; t++)
		n += (unsigned)wire_type_known(t);
	ck_assert_uint_eq(n, 20);
	ck_assert(wire_type_known(WIRE_CTL_DRAIN));
	for (t = WIRE_FEED_SUB; t <= WIRE_TAGS_RESULT; t++)
		ck_assert(wire_type_known(t));
	ck_assert(wire_type_known(WIRE_NEARBY));
	ck_assert(wire_type_known(WIRE_NEARBY_RESULT));
	ck_assert(wire_type_known(WIRE_GOAWAY));
	ck_assert(!wire_type_known(18));
	ck_assert(!wire_type_known(31));
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("wire");
	TCase *tc = tcase_create("wire");

	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_network_byte_order);
	tcase_add_test(tc, test_incomplete);
	tcase_add_test(tc, test_refusals);
	tcase_add_test(tc, test_nearby_frames);
	tcase_add_test(tc, test_known_types);
	suite_add_tcase(s, tc);
	return check_run(s);
}
