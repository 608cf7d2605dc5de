/*
 * test_thumb_sandbox: the decoder child of common/thumb.c, locked down by
 * the same code a thumbnail uses (thumb.c is included to reach its static
 * thumb_fork). Inside, a probe reports what the child can see and do:
 * which descriptors are open, whether write, fork, exec and executable
 * mappings work. Then every format is thumbnailed through the real path,
 * HEIC included (its decoder needs a thread).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../common/thumb.c"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "fixture.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/*
 * AddressSanitizer reserves terabytes of shadow memory at start, so under
 * it (make asan-test) any RLIMIT_AS makes the child's next mmap fail.
 */
#if defined(__SANITIZE_ADDRESS__)
#define TEST_MEMORY INT64_MAX
#else
#define TEST_MEMORY (1LL << 30)
#endif

static const struct mr_thumb_limits test_lim = {
	.max_pixels = 32000000,
	.max_animation_pixels = 100000000,
	.formats = ~0u,
	.jpeg_quality = 80,
	.memory_bytes = TEST_MEMORY,
	.time_ms = 10000,
};

/* What a probe found, as it travels up the result pipe. */
struct probe_report {
	int nfds;
	int fds[16];
	mode_t mode[16];
	dev_t rdev[16];
	long ret[8];
	int err[8];
};

static void
probe_send(int fd, const struct probe_report *r)
{
	if (thumb_write_all(fd, r, sizeof(*r)) < 0)
		_exit(2);
}

/*
 * Runs probe(fd) in a sandboxed child; returns its wait status and, when
 * the child sent one, its report (*got set to 1).
 */
static int
sandbox_run(void (*probe)(int fd), struct probe_report *r, int *got)
{
	struct mr_err err;
	int fd, status;
	pid_t pid;

	memset(r, 0, sizeof(*r));
	pid = thumb_fork(&test_lim, &fd, &err);
	assert_true(pid >= 0);
	if (pid == 0) {
		probe(fd);
		_exit(0);
	}
	*got = thumb_read_all(fd, r, sizeof(*r), mr_mono_ms() + 10000) == 0;
	close(fd);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

/* fstat is allowed in the sandbox: it tells open descriptors apart. */
static void
probe_fds(int fd)
{
	struct probe_report r = { 0 };
	struct stat st;

	for (int i = 0; i < 4096; i++) {
		if (fstat(i, &st) < 0 || r.nfds == (int)NELEM(r.fds))
			continue;
		r.fds[r.nfds] = i;
		r.mode[r.nfds] = st.st_mode & S_IFMT;
		r.rdev[r.nfds] = st.st_rdev;
		r.nfds++;
	}
	probe_send(fd, &r);
}

static void
check_fds(const struct probe_report *r)
{
	struct stat null;

	assert_int_equal(stat("/dev/null", &null), 0);
	if (r->nfds != 4)
		fail_msg("child holds %d descriptors, want 0..3", r->nfds);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(r->fds[i], i);
		assert_int_equal(r->mode[i], S_IFCHR);
		assert_true(r->rdev[i] == null.st_rdev);
	}
	assert_int_equal(r->fds[3], THUMB_RESULT_FD);
	assert_int_equal(r->mode[3], S_IFIFO);
}

/*
 * The parent holds what a FastCGI program holds: a listening socket, a
 * read-write file (the database), a descriptor high up. None of them may
 * reach the child.
 */
static void
test_only_expected_fds(void **state)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	struct probe_report r;
	char path[] = "/tmp/mr_sandbox_XXXXXX";
	int sock, file, high, got, status;

	(void)state;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true((sock = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	assert_int_equal(bind(sock, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(sock, 1), 0);
	assert_true((file = mkstemp(path)) >= 0);
	unlink(path);
	assert_true((high = dup2(file, 200)) == 200);

	status = sandbox_run(probe_fds, &r, &got);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_true(got);
	check_fds(&r);
	close(sock);
	close(file);
	close(high);
}

/*
 * With stdin closed the pipe's read end lands on 0 in the parent, and the
 * child must still come out as 0..2 on /dev/null and the pipe at 3.
 */
static void
test_fds_with_stdin_closed(void **state)
{
	struct probe_report r;
	int saved, got, status;

	(void)state;
	assert_true((saved = dup(0)) >= 0);
	close(0);
	status = sandbox_run(probe_fds, &r, &got);
	assert_int_equal(dup2(saved, 0), 0);
	close(saved);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_true(got);
	check_fds(&r);
}

/* write on 0..2 (open, /dev/null) fails with EPERM; the pipe works. */
static void
probe_write(int fd)
{
	struct probe_report r = { 0 };

	for (int i = 0; i < 3; i++) {
		errno = 0;
		r.ret[i] = (long)write(i, "x", 1);
		r.err[i] = errno;
	}
	probe_send(fd, &r);
}

static void
test_write_only_to_result(void **state)
{
	struct probe_report r;
	int got, status;

	(void)state;
	status = sandbox_run(probe_write, &r, &got);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_true(got);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(r.ret[i], -1);
		assert_int_equal(r.err[i], EPERM);
	}
}

/*
 * A decoder warning on stderr must not kill the child when the parent's
 * stderr is a regular file (mediarepo-run's log): with RLIMIT_FSIZE 0 a
 * write there raised SIGXFSZ. Nothing may reach the file either.
 */
static void
probe_warn(int fd)
{
	struct probe_report r = { 0 };

	fputs("decoder: warning\n", stderr);
	fflush(stderr);
	r.ret[0] = (long)write(2, "x", 1);
	probe_send(fd, &r);
}

static void
test_stderr_cannot_kill(void **state)
{
	struct probe_report r;
	char path[] = "/tmp/mr_sandbox_XXXXXX";
	int file, saved, got, status;
	struct stat st;

	(void)state;
	assert_true((file = mkstemp(path)) >= 0);
	unlink(path);
	fflush(stderr);
	assert_true((saved = dup(2)) >= 0);
	assert_int_equal(dup2(file, 2), 2);
	status = sandbox_run(probe_warn, &r, &got);
	assert_int_equal(dup2(saved, 2), 2);
	close(saved);
	if (WIFSIGNALED(status))
		fail_msg("child killed by signal %d", WTERMSIG(status));
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_true(got);
	assert_int_equal(r.ret[0], -1);
	assert_int_equal(fstat(file, &st), 0);
	assert_int_equal(st.st_size, 0);
	close(file);
}

/* Each of these must kill the child before it can report. */
static void
probe_fork(int fd)
{
	struct probe_report r = { 0 };
	pid_t pid = fork();

	if (pid == 0)
		_exit(0);
	r.ret[0] = pid;
	probe_send(fd, &r);
}

static void
probe_clone_process(int fd)
{
	struct probe_report r = { 0 };
	long pid = syscall(SYS_clone, (long)SIGCHLD, 0L, 0L, 0L, 0L);

	if (pid == 0)
		_exit(0);
	r.ret[0] = pid;
	probe_send(fd, &r);
}

static void
probe_vfork(int fd)
{
	struct probe_report r = { 0 };

	r.ret[0] = syscall(SYS_vfork);
	if (r.ret[0] == 0)
		_exit(0);
	probe_send(fd, &r);
}

static void
probe_exec(int fd)
{
	struct probe_report r = { 0 };
	char *const argv[] = { (char *)"true", NULL };

	r.ret[0] = execve("/bin/true", argv, argv + 1);
	probe_send(fd, &r);
}

static void
test_no_new_processes(void **state)
{
	static void (*const probes[])(int) = {
		probe_fork, probe_clone_process, probe_vfork, probe_exec,
	};
	struct probe_report r;
	int got, status;

	(void)state;
	for (size_t i = 0; i < NELEM(probes); i++) {
		status = sandbox_run(probes[i], &r, &got);
		if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGSYS)
			fail_msg("probe %zu: status %#x, report %d (ret %ld)", i,
			    status, got, r.ret[0]);
		assert_false(got);
	}
}

/* libheif's decoder thread must still start, and be joined. */
static void *
probe_thread_main(void *arg)
{
	*(int *)arg = 42;
	return NULL;
}

static void
probe_thread(int fd)
{
	struct probe_report r = { 0 };
	pthread_t t;
	int v = 0;

	r.ret[0] = pthread_create(&t, NULL, probe_thread_main, &v);
	if (r.ret[0] == 0)
		r.ret[1] = pthread_join(t, NULL);
	r.ret[2] = v;
	probe_send(fd, &r);
}

static void
test_threads_allowed(void **state)
{
	struct probe_report r;
	int got, status;

	(void)state;
	status = sandbox_run(probe_thread, &r, &got);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_true(got);
	assert_int_equal(r.ret[0], 0);
	assert_int_equal(r.ret[1], 0);
	assert_int_equal(r.ret[2], 42);
}

/* No new executable memory: mmap and mprotect with PROT_EXEC fail. */
static void
probe_exec_memory(int fd)
{
	struct probe_report r = { 0 };
	long page = sysconf(_SC_PAGESIZE);
	void *p;

	errno = 0;
	p = mmap(NULL, (size_t)page, PROT_READ | PROT_EXEC,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	r.ret[0] = p == MAP_FAILED ? -1 : 0;
	r.err[0] = errno;
	p = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	r.ret[1] = p == MAP_FAILED ? -1 : 0;
	if (p != MAP_FAILED) {
		errno = 0;
		r.ret[2] = mprotect(p, (size_t)page, PROT_READ | PROT_EXEC);
		r.err[2] = errno;
	}
	probe_send(fd, &r);
}

static void
test_no_exec_memory(void **state)
{
	struct probe_report r;
	int got, status;

	(void)state;
	status = sandbox_run(probe_exec_memory, &r, &got);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_true(got);
	assert_int_equal(r.ret[0], -1);
	assert_int_equal(r.err[0], EPERM);
	assert_int_equal(r.ret[1], 0);	/* plain memory still works */
	assert_int_equal(r.ret[2], -1);
	assert_int_equal(r.err[2], EPERM);
}

/* Every decodable format, forced through the decoder by a 4x4 crop. */
static void
test_every_format(void **state)
{
	static const struct {
		const char *name;
		int animate;
	} cases[] = {
		{ "orient_6_5x3.jpg", 0 }, { "cmyk_4x4.jpg", 0 },
		{ "rgba_3x2.png", 0 }, { "gray16_7x3.png", 0 },
		{ "still_8x6.gif", 0 }, { "lossy_9x7.webp", 0 },
		{ "lossless_alpha_5x4.webp", 0 }, { "rgb24_5x3.bmp", 0 },
		{ "rgb_ii_6x5.tif", 0 }, { "la_mm_6x5.tif", 0 },
		{ "photo_64x48.heic", 0 }, { "photo_64x48.avif", 0 },
		{ "anim_3f_trans_8x6.gif", 1 }, { "anim_3f_10x8.webp", 1 },
		{ "anim_3f_6x4.png", 1 }, { "anim_3f_10x8.webp", 0 },
	};
	static const struct mr_thumb_spec spec[] = {
		{ 2, 2, MR_THUMB_CROP }, { 2, 1, MR_THUMB_SCALE },
	};

	(void)state;
	for (size_t i = 0; i < NELEM(cases); i++) {
		struct mr_thumb_result res[NELEM(spec)];
		struct mr_err err;
		size_t len;
		unsigned char *b = fixture_find(__FILE__, "image",
		    "MR_IMAGE_FIXTURES", cases[i].name, &len);

		mr_err_clear(&err);
		if (mr_thumb_generate(b, len, spec, NELEM(spec),
		    cases[i].animate, &test_lim, res, &err) < 0)
			fail_msg("%s: %s", cases[i].name, err.msg);
		for (size_t k = 0; k < NELEM(spec); k++) {
			assert_false(res[k].use_original);
			assert_true(res[k].len > 0);
			assert_true(res[k].width >= 1 &&
			    res[k].width <= spec[k].width);
			assert_true(res[k].height >= 1 &&
			    res[k].height <= spec[k].height);
			mr_thumb_result_release(&res[k]);
		}
		free(b);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_only_expected_fds),
		cmocka_unit_test(test_fds_with_stdin_closed),
		cmocka_unit_test(test_write_only_to_result),
		cmocka_unit_test(test_stderr_cannot_kill),
		cmocka_unit_test(test_no_new_processes),
		cmocka_unit_test(test_threads_allowed),
		cmocka_unit_test(test_no_exec_memory),
		cmocka_unit_test(test_every_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
