/* check_run.h - the end of every tests/unit/check_*.c main(): runs a Check suite and maps
 * its result to the process exit status (CTest reads that). */
#ifndef TD_TESTS_CHECK_RUN_H
#define TD_TESTS_CHECK_RUN_H
#include <check.h>
#include <stdlib.h>

/* Runs every test of s (the runner owns and frees s). EXIT_SUCCESS when none failed. */
static inline int td_check_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif
