/*
 * test_metrics: the counter indexes, the sums of live and dead processes
 * (a killed process loses nothing, a fold never counts twice, the
 * directory does not grow), the Prometheus text, and who may read it.
 * Includes the module's source to reach its file layout.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <dirent.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../common/metrics.c"

static char dir[PATH_MAX];
static struct mr_metrics_set set;

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/mr-test-metrics-XXXXXX");
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	(void)state;
	mr_metrics_close();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static const struct mr_metrics_program *
find(const char *name)
{
	for (size_t i = 0; i < set.n; i++)
		if (strcmp(set.prog[i].name, name) == 0)
			return &set.prog[i];
	return NULL;
}

static uint64_t
requests(const char *program, const char *method, int status)
{
	const struct mr_metrics_program *p = find(program);

	return p == NULL ? 0 : p->c.requests[mr_metrics_method_index(method)]
	    [mr_metrics_status_index(status)];
}

static void
collect(void)
{
	struct mr_err err;

	assert_int_equal(mr_metrics_collect(dir, &set, &err), 0);
}

/* Files in dir/metrics whose names start with prefix. */
static int
count_files(const char *prefix)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "%s/metrics", dir);
	assert_non_null(d = opendir(path));
	while ((de = readdir(d)) != NULL)
		n += strncmp(de->d_name, prefix, strlen(prefix)) == 0;
	closedir(d);
	return n;
}

/*
 * A child process of program that counts n GET 200s, then either exits
 * or (hold) says so on a pipe and waits to be killed.
 */
static pid_t
child_counts(const char *program, int n, int hold)
{
	int fds[2];
	char c;
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	if ((pid = fork()) == 0) {
		struct mr_err err;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(fds[0]);
		if (mr_metrics_open(dir, program, 2, &err) < 0)
			_exit(1);
		for (int i = 0; i < n; i++)
			mr_metrics_request("GET", 200, 30, 100);
		mr_metrics_thumbnail(1);
		(void)!write(fds[1], "k", 1);
		if (hold)
			pause();
		_exit(0);
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], &c, 1), 1);
	close(fds[0]);
	return pid;
}

static void
test_indexes(void **state)
{
	struct mr_err e;

	(void)state;
	assert_int_equal(mr_metrics_method_index("GET"), 0);
	assert_int_equal(mr_metrics_method_index("PUT"), 3);
	assert_string_equal(mr_metrics_method_name(
	    mr_metrics_method_index("BREW")), "other");
	assert_string_equal(mr_metrics_method_name(
	    mr_metrics_method_index(NULL)), "other");
	assert_int_equal(mr_metrics_status_index(100), 0);
	assert_int_equal(mr_metrics_status_index(599), 499);
	/* No answer at all, or nonsense: a 500. */
	assert_int_equal(mr_metrics_status_index(0), 400);
	assert_int_equal(mr_metrics_status_index(600), 400);
	assert_int_equal(mr_metrics_status_index(-7), 400);
	assert_int_equal(mr_metrics_bucket_index(0), 0);
	assert_int_equal(mr_metrics_bucket_index(5), 0);
	assert_int_equal(mr_metrics_bucket_index(6), 1);
	assert_int_equal(mr_metrics_bucket_index(60000), MR_METRICS_BUCKETS - 2);
	assert_int_equal(mr_metrics_bucket_index(60001), MR_METRICS_BUCKETS - 1);
	assert_int_equal(mr_metrics_limit_index("rc_media_create"), 0);
	assert_int_equal(mr_metrics_limit_index("waiting_slots"), 4);
	assert_int_equal(mr_metrics_limit_index("no_such"),
	    MR_METRICS_LIMITS - 1);
	assert_int_equal(mr_metrics_limit_index(NULL), MR_METRICS_LIMITS - 1);

	mr_err_set(&e, 404, "M_NOT_FOUND", "x");
	assert_int_equal(mr_metrics_fetch_result(0, &e), MR_FETCH_OK);
	assert_int_equal(mr_metrics_fetch_result(-1, &e), MR_FETCH_NOT_FOUND);
	mr_err_set(&e, 429, "M_LIMIT_EXCEEDED", "x");
	assert_int_equal(mr_metrics_fetch_result(-1, &e), MR_FETCH_BUSY);
	assert_int_equal(mr_metrics_preview_result(-1, &e), MR_PREVIEW_BUSY);
	mr_err_set(&e, 403, "M_FORBIDDEN", "x");
	assert_int_equal(mr_metrics_fetch_result(-1, &e), MR_FETCH_REFUSED);
	assert_int_equal(mr_metrics_preview_result(-1, &e), MR_PREVIEW_REFUSED);
	mr_err_set(&e, 502, "M_UNKNOWN", "x");
	assert_int_equal(mr_metrics_fetch_result(-1, &e), MR_FETCH_ERROR);
	assert_int_equal(mr_metrics_preview_result(-1, &e), MR_PREVIEW_FAILED);
	assert_int_equal(mr_metrics_preview_result(0, &e), MR_PREVIEW_OK);
}

static void
test_add(void **state)
{
	static struct mr_metrics_counters a, b;

	(void)state;
	a.requests[1][100] = 3;
	a.ratelimited[MR_METRICS_LIMITS - 1] = 1;
	b.requests[1][100] = 4;
	b.upload_bytes = 10;
	b.ratelimited[MR_METRICS_LIMITS - 1] = 2;
	mr_metrics_add(&a, &b);
	assert_int_equal(a.requests[1][100], 7);
	assert_int_equal(a.upload_bytes, 10);
	assert_int_equal(a.ratelimited[MR_METRICS_LIMITS - 1], 3);
	assert_int_equal(b.requests[1][100], 4);
}

static void
test_without_open_nothing_counts(void **state)
{
	(void)state;
	mr_metrics_close();
	mr_metrics_request("GET", 200, 1, 1);
	mr_metrics_upload(5);
	mr_metrics_ratelimited("x");
	collect();
	assert_int_equal(set.n, 0);
}

static void
test_own_process(void **state)
{
	struct mr_err err;
	const struct mr_metrics_program *p;

	(void)state;
	assert_int_equal(mr_metrics_open(dir, "Bad-Name", 1, &err), -1);
	assert_int_equal(mr_metrics_open(dir, "config", 3, &err), 0);
	mr_metrics_request("GET", 200, 3, 10);
	mr_metrics_request("GET", 200, 70000, 20);
	mr_metrics_request("POST", 413, 7, 5);
	mr_metrics_upload(1000);
	mr_metrics_remote_fetch(MR_FETCH_BACKOFF);
	mr_metrics_preview(MR_PREVIEW_OK);
	mr_metrics_ratelimited("rc_media_create");
	collect();
	assert_non_null(p = find("config"));
	assert_int_equal(requests("config", "GET", 200), 2);
	assert_int_equal(requests("config", "POST", 413), 1);
	assert_int_equal(p->c.duration[0], 1);
	assert_int_equal(p->c.duration[1], 1);
	assert_int_equal(p->c.duration[MR_METRICS_BUCKETS - 1], 1);
	assert_int_equal(p->c.duration_sum_ms, 70010);
	assert_int_equal(p->c.response_bytes, 35);
	assert_int_equal(p->c.upload_bytes, 1000);
	assert_int_equal(p->c.remote_fetches[MR_FETCH_BACKOFF], 1);
	assert_int_equal(p->c.previews[MR_PREVIEW_OK], 1);
	assert_int_equal(p->c.ratelimited[0], 1);
	assert_int_equal(p->processes, 1);
	assert_int_equal(p->slots, 3);
	/* Alive: never folded, however often scraped. */
	collect();
	assert_int_equal(requests("config", "GET", 200), 2);
	assert_int_equal(count_files("live."), 1);
	assert_int_equal(count_files("archive."), 0);
}

static void
test_dead_processes_are_folded(void **state)
{
	pid_t held, gone;
	const struct mr_metrics_program *p;

	(void)state;
	mr_metrics_close();
	gone = child_counts("download", 5, 0);
	waitpid(gone, NULL, 0);
	held = child_counts("download", 7, 1);
	collect();
	assert_int_equal(requests("download", "GET", 200), 12);
	assert_non_null(p = find("download"));
	assert_int_equal(p->processes, 1);
	assert_int_equal(p->c.thumbnails[1], 2);
	/* The exited one is in the archive now, its file gone. */
	assert_int_equal(count_files("live."), 1);
	assert_int_equal(count_files("archive."), 1);
	/* kill -9 loses nothing either. */
	kill(held, SIGKILL);
	waitpid(held, NULL, 0);
	collect();
	assert_int_equal(requests("download", "GET", 200), 12);
	assert_int_equal(find("download")->processes, 0);
	assert_int_equal(count_files("live."), 0);
	collect();
	assert_int_equal(requests("download", "GET", 200), 12);
	/* More processes come and go: the directory stays this size. */
	for (int i = 0; i < 5; i++)
		waitpid(child_counts("download", 1, 0), NULL, 0);
	collect();
	assert_int_equal(requests("download", "GET", 200), 17);
	assert_int_equal(count_files(""), 4);	/* . .. lock archive */
}

/* A scrape that died after writing the archive, before the removal. */
static void
test_fold_never_counts_twice(void **state)
{
	char cmd[3 * PATH_MAX];
	pid_t pid;

	(void)state;
	mr_metrics_close();
	pid = child_counts("upload", 3, 0);
	waitpid(pid, NULL, 0);
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s/keep' && cp -p '%s'/metrics/live.* "
	    "'%s/keep/'", dir, dir, dir);
	assert_int_equal(system(cmd), 0);
	collect();
	assert_int_equal(requests("upload", "GET", 200), 3);
	/* The file is back, as if its removal had never happened. */
	snprintf(cmd, sizeof(cmd), "cp -p '%s'/keep/live.* '%s/metrics/'", dir,
	    dir);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(count_files("live."), 1);
	collect();
	assert_int_equal(requests("upload", "GET", 200), 3);
	assert_int_equal(count_files("live."), 0);
	/* The next fold still adds what is new. */
	waitpid(child_counts("upload", 2, 0), NULL, 0);
	collect();
	assert_int_equal(requests("upload", "GET", 200), 5);
}

static void
test_half_made_files_go(void **state)
{
	char path[PATH_MAX + 32];
	FILE *f;

	(void)state;
	snprintf(path, sizeof(path), "%s/metrics", dir);
	mkdir(path, 0750);
	snprintf(path, sizeof(path), "%s/metrics/new.keys.1.abc", dir);
	assert_non_null(f = fopen(path, "w"));
	fclose(f);
	/* Just made: its process may not have locked it yet. */
	collect();
	assert_int_equal(count_files("new."), 1);
	{
		struct timespec old[2] = { { time(NULL) - 120, 0 },
		    { time(NULL) - 120, 0 } };

		assert_int_equal(utimensat(AT_FDCWD, path, old, 0), 0);
	}
	/* Junk a program might not have written is left alone. */
	snprintf(path, sizeof(path), "%s/metrics/live.BAD.1.x", dir);
	assert_non_null(f = fopen(path, "w"));
	fclose(f);
	collect();
	assert_int_equal(set.n, 0);
	assert_int_equal(count_files("new."), 0);
	assert_int_equal(count_files("live."), 1);
}

static void
test_render(void **state)
{
	static struct mr_metrics_set s;
	size_t len;
	char *text;

	(void)state;
	memset(&s, 0, sizeof(s));
	s.n = 2;
	snprintf(s.prog[0].name, sizeof(s.prog[0].name), "config");
	snprintf(s.prog[1].name, sizeof(s.prog[1].name), "download");
	s.prog[1].c.requests[0][100] = 4;
	s.prog[1].c.requests[1][304 - 100] = 1;
	s.prog[1].c.duration[0] = 2;
	s.prog[1].c.duration[3] = 3;
	s.prog[1].c.duration_sum_ms = 1500;
	s.prog[1].c.response_bytes = 999;
	s.prog[1].c.remote_fetches[MR_FETCH_NOT_FOUND] = 2;
	s.prog[0].c.upload_bytes = 10;
	s.prog[1].c.upload_bytes = 5;
	s.prog[1].slots = 12;
	s.prog[1].slots_in_use = 4;
	s.have_store = 1;
	s.store.local.count = 3;
	s.store.thumbnails.bytes = 4096;
	assert_non_null(text = mr_metrics_render(&s, &len));
	assert_int_equal(strlen(text), len);
#define HAS(line) assert_non_null(strstr(text, line "\n"))
	HAS("# TYPE mediarepo_http_requests_total counter");
	HAS("mediarepo_http_requests_total{program=\"download\",method=\"GET\","
	    "status=\"200\"} 4");
	HAS("mediarepo_http_requests_total{program=\"download\",method=\"HEAD\","
	    "status=\"304\"} 1");
	HAS("# TYPE mediarepo_http_request_duration_seconds histogram");
	HAS("mediarepo_http_request_duration_seconds_bucket{program=\"download\","
	    "le=\"0.005\"} 2");
	HAS("mediarepo_http_request_duration_seconds_bucket{program=\"download\","
	    "le=\"0.05\"} 5");
	HAS("mediarepo_http_request_duration_seconds_bucket{program=\"download\","
	    "le=\"+Inf\"} 5");
	HAS("mediarepo_http_request_duration_seconds_sum{program=\"download\"} "
	    "1.500");
	HAS("mediarepo_http_request_duration_seconds_count{program=\"download\"} "
	    "5");
	HAS("mediarepo_http_response_bytes_total{program=\"download\"} 999");
	HAS("mediarepo_upload_bytes_total 15");
	HAS("mediarepo_thumbnails_generated_total{method=\"crop\"} 0");
	HAS("mediarepo_remote_fetches_total{result=\"not_found\"} 2");
	HAS("mediarepo_url_previews_total{result=\"ok\"} 0");
	HAS("mediarepo_ratelimited_total{limit=\"rc_media_create\"} 0");
	HAS("mediarepo_waiting_slots_in_use{program=\"download\"} 4");
	HAS("mediarepo_waiting_slots{program=\"download\"} 12");
	HAS("mediarepo_stored_media{kind=\"local\"} 3");
	HAS("mediarepo_stored_media_bytes{kind=\"thumbnail\"} 4096");
	/* No sample for a combination never seen. */
	assert_null(strstr(text, "program=\"config\",method="));
	free(text);
	/* Without the store, no store gauges (rather than zeros). */
	s.have_store = 0;
	assert_non_null(text = mr_metrics_render(&s, &len));
	assert_null(strstr(text, "mediarepo_stored_media"));
	free(text);
}

static void
test_allowed(void **state)
{
	struct mr_config cfg;

	(void)state;
	mr_config_defaults(&cfg);
	assert_true(mr_metrics_allowed(&cfg, "127.0.0.1"));
	assert_true(mr_metrics_allowed(&cfg, "::1"));
	assert_true(mr_metrics_allowed(&cfg, "::ffff:127.0.0.1"));
	assert_false(mr_metrics_allowed(&cfg, "127.0.0.2"));
	assert_false(mr_metrics_allowed(&cfg, "10.0.0.1"));
	assert_false(mr_metrics_allowed(&cfg, "-"));
	assert_false(mr_metrics_allowed(&cfg, ""));
	assert_false(mr_metrics_allowed(&cfg, NULL));
	assert_int_equal(mr_net_parse_list("10.0.0.0/8, 2001:db8::/32",
	    &cfg.metrics_allowed), 0);
	assert_true(mr_metrics_allowed(&cfg, "10.1.2.3"));
	assert_true(mr_metrics_allowed(&cfg, "2001:db8::5"));
	assert_false(mr_metrics_allowed(&cfg, "127.0.0.1"));
	/* An empty list lets nobody in. */
	assert_int_equal(mr_net_parse_list("", &cfg.metrics_allowed), 0);
	assert_false(mr_metrics_allowed(&cfg, "127.0.0.1"));
}

/* The CIDR list parser the key is read with (net.c). */
static void
test_cidr_lists(void **state)
{
	static const char *const good[] = {
		"", "127.0.0.1/32, ::1/128", "10.0.0.0/8,192.168.0.0/16",
		"0.0.0.0/0", "::/0", "2001:db8::1", "1.2.3.4\t5.6.7.8/31",
	};
	static const char *const bad[] = {
		"127.0.0.1/33", "::1/129", "1.2.3.4/", "/8", "1.2.3/8",
		"10.0.0.0/-1", "10.0.0.0/8x", "example.org", "fe80::1%eth0",
		"1.2.3.4/ 8",
	};
	struct mr_net_list l;
	uint8_t a[16];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(mr_net_parse_list(good[i], &l), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (mr_net_parse_list(bad[i], &l) == 0)
			fail_msg("accepted '%s'", bad[i]);
	assert_int_equal(mr_net_parse_addr("192.0.2.1", a), 0);
	assert_int_equal(a[10], 0xff);
	assert_int_equal(a[15], 1);
	assert_int_equal(mr_net_parse_addr("192.0.2.1/32", a), -1);
	assert_int_equal(mr_net_parse_addr("", a), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_indexes),
		cmocka_unit_test(test_add),
		cmocka_unit_test_setup_teardown(test_without_open_nothing_counts,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_own_process, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_dead_processes_are_folded,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_fold_never_counts_twice,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_half_made_files_go, setup,
		    teardown),
		cmocka_unit_test(test_render),
		cmocka_unit_test(test_allowed),
		cmocka_unit_test(test_cidr_lists),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
