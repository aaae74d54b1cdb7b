/*
 * check_run.h: runs a unit test's Check suite and turns the count of
 * failed tests into the program's exit status, the same for every test.
 */
#ifndef PLACESD_CHECK_RUN_H
#define PLACESD_CHECK_RUN_H

#include <stdlib.h>

#include <check.h>

static inline int
check_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif
