/*
 * test_slot: waiting slots as byte locks. A slot held by one process is
 * seen by another; a holder that dies frees its slot; pools are bounded;
 * the waiter share of a process count; origin buckets.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../common/slot.h"

static char dir[PATH_MAX];

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/mr-test-slot-XXXXXX");
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/*
 * A child that takes a slot of pool (bytes 0-2), says so on a pipe, then
 * sleeps until killed (or until this test process dies). A process holds
 * one slot of a pool at a time (slot.h), so each holder is a process.
 */
static pid_t
hold_in_child(const char *pool)
{
	int fds[2];
	char c;
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	if ((pid = fork()) == 0) {
		struct mr_slot s;
		struct mr_err err;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(fds[0]);
		if (mr_slot_take(dir, pool, 0, 3, &s, &err) != 1)
			_exit(1);
		(void)!write(fds[1], "k", 1);
		pause();
		_exit(0);
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], &c, 1), 1);
	close(fds[0]);
	return pid;
}

static void
reap(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static void
test_slots_are_shared_between_processes(void **state)
{
	struct mr_slot a;
	struct mr_err err;
	pid_t pid;

	pid_t pid2, pid3;

	(void)state;
	/* Forked before this process opens the pool, so that each child
	 * has an open file description of its own. */
	pid = hold_in_child("dl");
	pid2 = hold_in_child("dl");
	pid3 = hold_in_child("dl");
	assert_int_equal(mr_slot_in_use(dir, "dl", 0, 3), 3);
	/* All three are held elsewhere. */
	assert_int_equal(mr_slot_take(dir, "dl", 0, 3, &a, &err), 0);
	assert_int_equal(a.fd, -1);
	/* A holder that is killed gives its slot back. */
	reap(pid2);
	assert_int_equal(mr_slot_in_use(dir, "dl", 0, 3), 2);
	assert_int_equal(mr_slot_take(dir, "dl", 0, 3, &a, &err), 1);
	reap(pid);
	reap(pid3);
	assert_int_equal(mr_slot_in_use(dir, "dl", 0, 3), 0);
	mr_slot_release(&a);
	mr_slot_release(&a);	/* harmless twice */
}

static void
test_pools_and_ranges_are_apart(void **state)
{
	struct mr_slot s;
	struct mr_err err;
	pid_t pid;

	pid_t more[2];

	(void)state;
	pid = hold_in_child("up");
	more[0] = hold_in_child("up");
	more[1] = hold_in_child("up");
	assert_int_equal(mr_slot_take(dir, "up", 0, 3, &s, &err), 0);
	/* Another pool, and another range of the same pool, are free. */
	assert_int_equal(mr_slot_take(dir, "th", 0, 3, &s, &err), 1);
	mr_slot_release(&s);
	assert_int_equal(mr_slot_take(dir, "up", 3, 3, &s, &err), 1);
	assert_in_range(s.byte, 3, 5);
	mr_slot_release(&s);
	/* No slots at all: nobody may wait. */
	assert_int_equal(mr_slot_take(dir, "th", 0, 0, &s, &err), 0);
	reap(pid);
	reap(more[0]);
	reap(more[1]);
}

static void
test_unusable_pool_is_an_error(void **state)
{
	struct mr_slot s;
	struct mr_err err;

	(void)state;
	assert_int_equal(mr_slot_take("/nonexistent/dir", "x", 0, 2, &s, &err),
	    -1);
	assert_int_equal(err.status, 503);
}

static void
test_waiters_share(void **state)
{
	static const int64_t procs[][2] = {
		{ 1, 0 }, { 2, 1 }, { 3, 2 }, { 4, 3 }, { 8, 6 }, { 16, 12 },
		{ 100, 75 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(procs) / sizeof(procs[0]); i++)
		assert_int_equal(mr_slot_waiters(procs[i][0]), procs[i][1]);
}

static void
test_origin_bucket(void **state)
{
	(void)state;
	assert_int_equal(mr_slot_origin_bucket("a.test"),
	    mr_slot_origin_bucket("a.test"));
	assert_in_range(mr_slot_origin_bucket("a.test"), 0,
	    MR_SLOT_ORIGIN_BUCKETS - 1);
	assert_in_range(mr_slot_origin_bucket(""), 0,
	    MR_SLOT_ORIGIN_BUCKETS - 1);
	assert_int_not_equal(mr_slot_origin_bucket("a.test"),
	    mr_slot_origin_bucket("b.test"));
}

static int cancel_now;

static int
cancel_check(void *arg)
{
	(void)arg;
	return cancel_now;
}

static void
test_wait_ends_when_cancelled(void **state)
{
	(void)state;
	assert_int_equal(mr_wait_sleep_ms(1), 0);
	mr_wait_set_cancel(cancel_check, NULL);
	cancel_now = 1;
	assert_int_equal(mr_wait_cancelled(), 1);
	assert_int_equal(mr_wait_sleep_ms(60000), -1);	/* at once */
	cancel_now = 0;
	assert_int_equal(mr_wait_sleep_ms(5), 0);
	mr_wait_set_cancel(NULL, NULL);
	assert_int_equal(mr_wait_cancelled(), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_slots_are_shared_between_processes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pools_and_ranges_are_apart,
		    setup, teardown),
		cmocka_unit_test(test_unusable_pool_is_an_error),
		cmocka_unit_test(test_waiters_share),
		cmocka_unit_test(test_origin_bucket),
		cmocka_unit_test(test_wait_ends_when_cancelled),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
