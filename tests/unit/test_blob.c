/*
 * test_blob: the content-addressed store in a fresh temp directory per
 * test: commit, dedup, abort, the size limit, hash checks and the sweep.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "fixture_store.h"

#include <sodium.h>

#include "../../common/blob_fs.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* sha256("hello world") and sha256(""). */
#define HELLO_HEX \
	"b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
#define EMPTY_HEX \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

struct fixture {
	char root[FIXTURE_DIR_MAX];
	char tmp[FIXTURE_DIR_MAX + 8];
};

static int
setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	struct mr_err err;

	if (fx == NULL || fixture_dir_make(fx->root, "blob") < 0)
		return -1;
	fixture_path(fx->tmp, sizeof(fx->tmp), fx->root, "tmp");
	if (mr_blob_fs_init_root(fx->root, &err) < 0)
		return -1;
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;

	fixture_dir_remove(fx->root);
	free(fx);
	return 0;
}

/* Entries in dir other than "." and "..". */
static int
count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

/* The whole content of path, NUL-terminated, into buf. */
static size_t
read_all(const char *path, char *buf, size_t bufsz)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	assert_true(fd >= 0);
	n = read(fd, buf, bufsz - 1);
	assert_true(n >= 0);
	buf[n] = '\0';
	close(fd);
	return (size_t)n;
}

static void
store_bytes(const struct fixture *fx, const char *data, size_t n,
    char hex[MR_SHA256_HEX])
{
	struct mr_blob_fs_writer w;
	struct mr_err err;

	if (mr_blob_fs_begin(fx->root, 1 << 20, &w, &err) != 0)
		fail_msg("begin: %s", err.msg);
	if (n > 0 && mr_blob_fs_write(&w, data, n, &err) != 0)
		fail_msg("write: %s", err.msg);
	if (mr_blob_fs_commit(fx->root, &w, hex, &err) != 0)
		fail_msg("commit: %s", err.msg);
}

static void
test_init_root(void **state)
{
	struct fixture *fx = *state;
	struct mr_err err;
	struct stat sb;
	char root[PATH_MAX + 16];

	assert_int_equal(stat(fx->tmp, &sb), 0);
	assert_true(S_ISDIR(sb.st_mode));
	/* Again on an existing root: fine. */
	assert_int_equal(mr_blob_fs_init_root(fx->root, &err), 0);

	snprintf(root, sizeof(root), "%s/fresh", fx->root);
	assert_int_equal(mr_blob_fs_init_root(root, &err), 0);
	snprintf(root, sizeof(root), "%s/fresh/tmp", fx->root);
	assert_int_equal(stat(root, &sb), 0);
	assert_true(S_ISDIR(sb.st_mode));

	/* A root under a regular file: an error, not a crash. */
	snprintf(root, sizeof(root), "%s/file", fx->root);
	{
		int fd = open(root, O_WRONLY | O_CREAT, 0600);

		assert_true(fd >= 0);
		close(fd);
	}
	snprintf(root, sizeof(root), "%s/file/store", fx->root);
	mr_err_clear(&err);
	assert_int_equal(mr_blob_fs_init_root(root, &err), -1);
	assert_int_equal(err.status, 500);
}

static void
test_commit_path_and_content(void **state)
{
	struct fixture *fx = *state;
	struct mr_blob_fs_writer w;
	struct mr_err err;
	char hex[MR_SHA256_HEX], path[PATH_MAX * 2], want[PATH_MAX * 2];
	char buf[64], prefix[PATH_MAX + 32];
	struct stat sb;
	int64_t size;
	int fd;

	assert_int_equal(mr_blob_fs_begin(fx->root, 100, &w, &err), 0);
	/* The temp file is ROOT/tmp/<pid>-..., which the sweep relies on. */
	snprintf(prefix, sizeof(prefix), "%s/%ld-", fx->tmp, (long)getpid());
	assert_int_equal(strncmp(w.tmp_path, prefix, strlen(prefix)), 0);
	assert_int_equal(stat(w.tmp_path, &sb), 0);
	assert_int_equal(count_entries(fx->tmp), 1);

	assert_int_equal(mr_blob_fs_write(&w, "hello", 5, &err), 0);
	assert_int_equal(mr_blob_fs_write(&w, " ", 1, &err), 0);
	assert_int_equal(mr_blob_fs_write(&w, "", 0, &err), 0);
	assert_int_equal(mr_blob_fs_write(&w, "world", 5, &err), 0);
	assert_int_equal(w.size, 11);
	assert_int_equal(mr_blob_fs_commit(fx->root, &w, hex, &err), 0);
	assert_string_equal(hex, HELLO_HEX);

	/* ROOT/ab/cd/<hex> with the bytes, and the temp file gone. */
	snprintf(want, sizeof(want), "%s/b9/4d/%s", fx->root, HELLO_HEX);
	assert_int_equal(read_all(want, buf, sizeof(buf)), 11);
	assert_string_equal(buf, "hello world");
	assert_int_equal(count_entries(fx->tmp), 0);
	assert_int_equal(mr_blob_fs_path(fx->root, hex, path, sizeof(path), &err), 0);
	assert_string_equal(path, want);

	/* Readers get the same bytes and the size. */
	fd = -1;
	size = -1;
	assert_int_equal(mr_blob_fs_open(fx->root, hex, &fd, &size, &err), 0);
	assert_true(fd >= 0);
	assert_int_equal(size, 11);
	assert_int_equal(read(fd, buf, sizeof(buf)), 11);
	assert_memory_equal(buf, "hello world", 11);
	close(fd);
}

static void
test_commit_empty(void **state)
{
	struct fixture *fx = *state;
	char hex[MR_SHA256_HEX], path[PATH_MAX * 2];
	struct mr_err err;
	struct stat sb;
	int64_t size = -1;
	int fd = -1;

	store_bytes(fx, "", 0, hex);
	assert_string_equal(hex, EMPTY_HEX);
	assert_int_equal(mr_blob_fs_path(fx->root, hex, path, sizeof(path), &err), 0);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_size, 0);
	assert_int_equal(mr_blob_fs_open(fx->root, hex, &fd, &size, &err), 0);
	assert_int_equal(size, 0);
	close(fd);
}

/* A larger stream in many writes hashes as one buffer would. */
static void
test_commit_large(void **state)
{
	struct fixture *fx = *state;
	unsigned char digest[crypto_hash_sha256_BYTES];
	static unsigned char data[300000];
	struct mr_blob_fs_writer w;
	struct mr_err err;
	char hex[MR_SHA256_HEX], want[MR_SHA256_HEX];
	int64_t size;
	int fd;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(i * 7 + (i >> 8));
	crypto_hash_sha256(digest, data, sizeof(data));
	mr_hex_encode(digest, sizeof(digest), want);

	assert_int_equal(mr_blob_fs_begin(fx->root, sizeof(data), &w, &err), 0);
	for (size_t off = 0; off < sizeof(data); off += 4093) {
		size_t n = sizeof(data) - off < 4093 ? sizeof(data) - off : 4093;

		assert_int_equal(mr_blob_fs_write(&w, data + off, n, &err), 0);
	}
	assert_int_equal(mr_blob_fs_commit(fx->root, &w, hex, &err), 0);
	assert_string_equal(hex, want);
	assert_int_equal(mr_blob_fs_open(fx->root, hex, &fd, &size, &err), 0);
	assert_int_equal(size, sizeof(data));
	close(fd);
}

static void
test_same_bytes_stored_once(void **state)
{
	struct fixture *fx = *state;
	char hex1[MR_SHA256_HEX], hex2[MR_SHA256_HEX], dir[PATH_MAX * 2];
	char path[PATH_MAX * 2];
	struct mr_err err;
	struct stat sb1, sb2;

	store_bytes(fx, "hello world", 11, hex1);
	assert_int_equal(mr_blob_fs_path(fx->root, hex1, path, sizeof(path), &err),
	    0);
	assert_int_equal(stat(path, &sb1), 0);

	store_bytes(fx, "hello world", 11, hex2);
	assert_string_equal(hex1, hex2);
	assert_int_equal(stat(path, &sb2), 0);
	/* The first file stays: the second copy was dropped, not renamed. */
	assert_int_equal(sb1.st_ino, sb2.st_ino);
	snprintf(dir, sizeof(dir), "%s/b9/4d", fx->root);
	assert_int_equal(count_entries(dir), 1);
	assert_int_equal(count_entries(fx->tmp), 0);

	/* Other bytes: another file. */
	store_bytes(fx, "hello worle", 11, hex2);
	assert_string_not_equal(hex1, hex2);
	assert_int_equal(count_entries(fx->tmp), 0);
}

static void
test_abort(void **state)
{
	struct fixture *fx = *state;
	struct mr_blob_fs_writer w;
	struct mr_err err;
	char path[PATH_MAX];
	struct stat sb;

	assert_int_equal(mr_blob_fs_begin(fx->root, 100, &w, &err), 0);
	assert_int_equal(mr_blob_fs_write(&w, "partial", 7, &err), 0);
	snprintf(path, sizeof(path), "%s", w.tmp_path);
	mr_blob_fs_abort(&w);
	assert_int_equal(stat(path, &sb), -1);
	assert_int_equal(count_entries(fx->tmp), 0);
	assert_int_equal(w.fd, -1);
	/* Twice is safe. */
	mr_blob_fs_abort(&w);
	assert_int_equal(count_entries(fx->tmp), 0);

	/* Right after begin. */
	assert_int_equal(mr_blob_fs_begin(fx->root, 100, &w, &err), 0);
	mr_blob_fs_abort(&w);
	assert_int_equal(count_entries(fx->tmp), 0);
	/* Nothing was stored anywhere: only tmp/ in the root. */
	assert_int_equal(count_entries(fx->root), 1);
}

static void
test_max_size(void **state)
{
	struct fixture *fx = *state;
	struct mr_blob_fs_writer w;
	struct mr_err err;
	char hex[MR_SHA256_HEX];

	/* Exactly the limit is fine. */
	assert_int_equal(mr_blob_fs_begin(fx->root, 10, &w, &err), 0);
	assert_int_equal(mr_blob_fs_write(&w, "01234", 5, &err), 0);
	assert_int_equal(mr_blob_fs_write(&w, "56789", 5, &err), 0);
	assert_int_equal(mr_blob_fs_commit(fx->root, &w, hex, &err), 0);

	/* One byte more, in a later write: 413, then abort cleans up. */
	assert_int_equal(mr_blob_fs_begin(fx->root, 10, &w, &err), 0);
	assert_int_equal(mr_blob_fs_write(&w, "0123456789", 10, &err), 0);
	mr_err_clear(&err);
	assert_int_equal(mr_blob_fs_write(&w, "x", 1, &err), -1);
	assert_int_equal(err.status, 413);
	assert_string_equal(err.errcode, "M_TOO_LARGE");
	assert_int_equal(w.size, 10);
	mr_blob_fs_abort(&w);
	assert_int_equal(count_entries(fx->tmp), 0);

	/* One write past the limit. */
	assert_int_equal(mr_blob_fs_begin(fx->root, 10, &w, &err), 0);
	mr_err_clear(&err);
	assert_int_equal(mr_blob_fs_write(&w, "0123456789a", 11, &err), -1);
	assert_int_equal(err.status, 413);
	mr_blob_fs_abort(&w);
	assert_int_equal(count_entries(fx->tmp), 0);

	/* A limit of 0 takes only the empty blob. */
	assert_int_equal(mr_blob_fs_begin(fx->root, 0, &w, &err), 0);
	assert_int_equal(mr_blob_fs_write(&w, "x", 1, &err), -1);
	assert_int_equal(err.status, 413);
	mr_blob_fs_abort(&w);
	assert_int_equal(count_entries(fx->tmp), 0);
}

/* --- the hashing thread of large writers --- */

/* Bytes i of a large test body: not periodic in any chunk size used. */
static unsigned char
big_byte(int64_t i)
{
	return (unsigned char)((i * 2654435761u) >> 13 ^ i >> 17);
}

/* Threads of this process now. */
static int
task_count(void)
{
	return count_entries("/proc/self/task");
}

/* Writes [off, off + n) of the body in one write. */
static int
write_big(struct mr_blob_fs_writer *w, int64_t off, size_t n,
    crypto_hash_sha256_state *sha, struct mr_err *err)
{
	unsigned char *buf = malloc(n ? n : 1);
	int rc;

	assert_non_null(buf);
	for (size_t i = 0; i < n; i++)
		buf[i] = big_byte(off + (int64_t)i);
	if (sha != NULL)
		crypto_hash_sha256_update(sha, buf, n);
	rc = mr_blob_fs_write(w, buf, n, err);
	free(buf);
	return rc;
}

/*
 * Commits w and checks what a threaded writer leaves: the hash of what
 * sha saw (copied to want_out when not NULL), the stored size, no thread
 * and no temp file left.
 */
static void
commit_and_check(struct fixture *fx, struct mr_blob_fs_writer *w,
    crypto_hash_sha256_state *sha, int64_t want_size, int tasks,
    char want_out[MR_SHA256_HEX])
{
	unsigned char digest[crypto_hash_sha256_BYTES];
	char hex[MR_SHA256_HEX], want[MR_SHA256_HEX];
	struct mr_err err;
	int64_t size;
	int fd;

	crypto_hash_sha256_final(sha, digest);
	mr_hex_encode(digest, sizeof(digest), want);
	assert_int_equal(mr_blob_fs_commit(fx->root, w, hex, &err), 0);
	assert_string_equal(hex, want);
	assert_null(w->hasher);
	assert_int_equal(task_count(), tasks);
	assert_int_equal(count_entries(fx->tmp), 0);
	assert_int_equal(mr_blob_fs_open(fx->root, hex, &fd, &size, &err), 0);
	assert_int_equal(size, want_size);
	close(fd);
	if (want_out != NULL)
		memcpy(want_out, want, MR_SHA256_HEX);
}

/*
 * Past MR_BLOB_FS_THREAD_MIN the hash runs on a thread, which ends at
 * commit; the hash is the one-shot SHA-256 of all the bytes, whatever the
 * sizes of the writes (odd ones, tiny ones, one larger than a chunk).
 */
static void
test_threaded_hash(void **state)
{
	struct fixture *fx = *state;
	static const size_t sizes[] = { 65536, 4093, 1, 3 << 20, 65536, 777,
		262144, 262145, 100000 };
	crypto_hash_sha256_state sha;
	struct mr_blob_fs_writer w;
	struct mr_err err;
	char hex[MR_SHA256_HEX], want[MR_SHA256_HEX];
	int tasks = task_count();
	int64_t off = 0;

	crypto_hash_sha256_init(&sha);
	assert_int_equal(mr_blob_fs_begin(fx->root, INT64_C(64) << 20, &w, &err),
	    0);
	/* Up to the threshold exactly: still one thread. */
	while (off < MR_BLOB_FS_THREAD_MIN) {
		size_t n = MR_BLOB_FS_THREAD_MIN - off < 65536 ?
		    (size_t)(MR_BLOB_FS_THREAD_MIN - off) : 65536;

		assert_int_equal(write_big(&w, off, n, &sha, &err), 0);
		off += (int64_t)n;
	}
	assert_null(w.hasher);
	assert_int_equal(task_count(), tasks);
	for (int round = 0; round < 3; round++)
		for (size_t i = 0; i < NELEM(sizes); i++) {
			assert_int_equal(write_big(&w, off, sizes[i], &sha, &err),
			    0);
			off += (int64_t)sizes[i];
			assert_non_null(w.hasher);
			assert_int_equal(task_count(), tasks + 1);
		}
	assert_int_equal(w.size, off);
	commit_and_check(fx, &w, &sha, off, tasks, want);

	/* The same bytes again, in one write: same hash, stored once. */
	{
		unsigned char *all = malloc((size_t)off);

		assert_non_null(all);
		for (int64_t i = 0; i < off; i++)
			all[i] = big_byte(i);
		assert_int_equal(mr_blob_fs_begin(fx->root, off, &w, &err), 0);
		assert_int_equal(mr_blob_fs_write(&w, all, (size_t)off, &err), 0);
		free(all);
		assert_int_equal(mr_blob_fs_digest(&w, hex, &err), 0);
		assert_string_equal(hex, want);
		assert_int_equal(task_count(), tasks);
		mr_blob_fs_abort(&w);
		assert_int_equal(count_entries(fx->tmp), 0);
	}
}

/* Abort with the thread running: it ends, nothing is left or stored. */
static void
test_threaded_abort(void **state)
{
	struct fixture *fx = *state;
	struct mr_blob_fs_writer w;
	struct mr_err err;
	int tasks = task_count();
	int64_t off = 0;

	assert_int_equal(mr_blob_fs_begin(fx->root, INT64_C(64) << 20, &w, &err),
	    0);
	for (; off < (INT64_C(3) << 20); off += 65536)
		assert_int_equal(write_big(&w, off, 65536, NULL, &err), 0);
	assert_non_null(w.hasher);
	assert_int_equal(task_count(), tasks + 1);
	mr_blob_fs_abort(&w);
	assert_null(w.hasher);
	assert_int_equal(w.fd, -1);
	assert_int_equal(task_count(), tasks);
	assert_int_equal(count_entries(fx->tmp), 0);
	assert_int_equal(count_entries(fx->root), 1);
	mr_blob_fs_abort(&w);
	assert_int_equal(task_count(), tasks);
}

/* The size limit with the thread running: 413, the size unchanged, and
 * abort leaves nothing. */
static void
test_threaded_max_size(void **state)
{
	struct fixture *fx = *state;
	const int64_t limit = (INT64_C(2) << 20) + 10;
	struct mr_blob_fs_writer w;
	struct mr_err err;
	int tasks = task_count();

	assert_int_equal(mr_blob_fs_begin(fx->root, limit, &w, &err), 0);
	assert_int_equal(write_big(&w, 0, INT64_C(2) << 20, NULL, &err), 0);
	assert_non_null(w.hasher);
	mr_err_clear(&err);
	assert_int_equal(write_big(&w, INT64_C(2) << 20, 11, NULL, &err), -1);
	assert_int_equal(err.status, 413);
	assert_string_equal(err.errcode, "M_TOO_LARGE");
	assert_int_equal(w.size, INT64_C(2) << 20);
	assert_int_equal(task_count(), tasks + 1);
	mr_blob_fs_abort(&w);
	assert_int_equal(task_count(), tasks);
	assert_int_equal(count_entries(fx->tmp), 0);
	assert_int_equal(count_entries(fx->root), 1);

	/* One write crossing the threshold and the limit at once: refused
	 * before any thread starts. */
	assert_int_equal(mr_blob_fs_begin(fx->root, limit, &w, &err), 0);
	assert_int_equal(write_big(&w, 0, 1000, NULL, &err), 0);
	mr_err_clear(&err);
	assert_int_equal(write_big(&w, 1000, (size_t)limit, NULL, &err), -1);
	assert_int_equal(err.status, 413);
	assert_null(w.hasher);
	mr_blob_fs_abort(&w);
	assert_int_equal(task_count(), tasks);
	assert_int_equal(count_entries(fx->tmp), 0);
}

/* Writes [from, to) of the body in 64 KiB writes. */
static void
write_big_range(struct mr_blob_fs_writer *w, int64_t from, int64_t to,
    crypto_hash_sha256_state *sha)
{
	struct mr_err err;

	for (int64_t off = from; off < to; off += 65536) {
		size_t n = to - off < 65536 ? (size_t)(to - off) : 65536;

		assert_int_equal(write_big(w, off, n, sha, &err), 0);
	}
}

/* Waits up to five seconds for the syncing thread to reach at least AT. */
static int64_t
wait_synced(struct mr_blob_fs_writer *w, int64_t at)
{
	int64_t synced = 0;

	for (int i = 0; i < 500 && (synced = mr_blob_fs_synced(w)) < at; i++)
		usleep(10000);
	return synced;
}

/*
 * Past MR_BLOB_FS_SYNC_STEP a second helper thread makes the file durable
 * a step at a time while the writer goes on: not before the first step,
 * never past what was written, and the hash and bytes are unchanged.
 */
static void
test_synced_in_steps(void **state)
{
	struct fixture *fx = *state;
	const int64_t total = MR_BLOB_FS_SYNC_STEP * 3 + 100000;
	crypto_hash_sha256_state sha;
	struct mr_blob_fs_writer w;
	struct mr_err err;
	char hex[MR_SHA256_HEX];
	int tasks = task_count();
	int64_t synced;

	crypto_hash_sha256_init(&sha);
	assert_int_equal(mr_blob_fs_begin(fx->root, total, &w, &err), 0);
	write_big_range(&w, 0, MR_BLOB_FS_SYNC_STEP - 1, &sha);
	assert_non_null(w.hasher);
	assert_int_equal(task_count(), tasks + 1);
	assert_int_equal(mr_blob_fs_synced(&w), 0);

	write_big_range(&w, MR_BLOB_FS_SYNC_STEP - 1, MR_BLOB_FS_SYNC_STEP * 2,
	    &sha);
	assert_int_equal(task_count(), tasks + 2);
	/* It catches up to less than a step behind, never past the end. */
	synced = wait_synced(&w, w.size - MR_BLOB_FS_SYNC_STEP + 1);
	assert_true(synced > w.size - MR_BLOB_FS_SYNC_STEP);
	assert_true(synced <= w.size);

	/* A step and a bit more: synced again, the bit left for commit. */
	write_big_range(&w, MR_BLOB_FS_SYNC_STEP * 2, total, &sha);
	synced = wait_synced(&w, total - MR_BLOB_FS_SYNC_STEP + 1);
	assert_true(synced > total - MR_BLOB_FS_SYNC_STEP);
	assert_true(synced <= total);

	commit_and_check(fx, &w, &sha, total, tasks, NULL);

	/* A writer whose file is not fsynced at the end (S3's spool without
	 * a cache) syncs nothing on the way: only the hashing thread runs. */
	assert_int_equal(mr_blob_fs_begin(fx->root, total, &w, &err), 0);
	w.sync_steps = 0;
	write_big_range(&w, 0, MR_BLOB_FS_SYNC_STEP * 2, NULL);
	assert_int_equal(task_count(), tasks + 1);
	usleep(50000);
	assert_int_equal(mr_blob_fs_synced(&w), 0);
	assert_int_equal(mr_blob_fs_digest(&w, hex, &err), 0);
	mr_blob_fs_abort(&w);
	assert_int_equal(task_count(), tasks);
	assert_int_equal(count_entries(fx->tmp), 0);
}

/* Abort and the size limit with both threads running: both end, nothing
 * is left in tmp or stored. */
static void
test_sync_thread_abort(void **state)
{
	struct fixture *fx = *state;
	const int64_t limit = MR_BLOB_FS_SYNC_STEP + 65536;
	struct mr_blob_fs_writer w;
	struct mr_err err;
	int tasks = task_count();

	assert_int_equal(mr_blob_fs_begin(fx->root, limit, &w, &err), 0);
	write_big_range(&w, 0, MR_BLOB_FS_SYNC_STEP, NULL);
	assert_int_equal(task_count(), tasks + 2);
	mr_blob_fs_abort(&w);
	assert_null(w.hasher);
	assert_int_equal(task_count(), tasks);
	assert_int_equal(count_entries(fx->tmp), 0);

	assert_int_equal(mr_blob_fs_begin(fx->root, limit, &w, &err), 0);
	write_big_range(&w, 0, limit, NULL);
	assert_int_equal(task_count(), tasks + 2);
	mr_err_clear(&err);
	assert_int_equal(write_big(&w, limit, 1, NULL, &err), -1);
	assert_int_equal(err.status, 413);
	mr_blob_fs_abort(&w);
	assert_int_equal(task_count(), tasks);
	assert_int_equal(count_entries(fx->tmp), 0);
	assert_int_equal(count_entries(fx->root), 1);
}

/* Many large writers in turn, committed or aborted: no thread is left. */
static void
test_threaded_writers_leave_no_threads(void **state)
{
	struct fixture *fx = *state;
	struct mr_blob_fs_writer w;
	struct mr_err err;
	char hex[MR_SHA256_HEX];
	int tasks = task_count();

	for (int i = 0; i < 24; i++) {
		int64_t n = MR_BLOB_FS_THREAD_MIN + 1 + i * 4096;

		assert_int_equal(mr_blob_fs_begin(fx->root, n, &w, &err), 0);
		/* A different first byte each time: no deduplication. */
		assert_int_equal(mr_blob_fs_write(&w, &i, 1, &err), 0);
		assert_int_equal(write_big(&w, 1, (size_t)n - 1, NULL, &err), 0);
		assert_non_null(w.hasher);
		if (i % 3 == 2)
			mr_blob_fs_abort(&w);
		else
			assert_int_equal(mr_blob_fs_commit(fx->root, &w, hex,
			    &err), 0);
		assert_int_equal(task_count(), tasks);
	}
	assert_int_equal(count_entries(fx->tmp), 0);
}

static void
test_blob_path_refuses_bad_hashes(void **state)
{
	static const char *const invalids[] = {
		"",
		"abc",
		"b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde",
		"b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9a",
		"B94D27B9934D3E08A52E52D7DA7DABFAC484EFE37A5380EE9088F7ACE2EFCDE9",
		"b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcdE9",
		"g94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9",
		"../../../../../../../../../../../../../../../../../../etc/passwd",
		"../d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9",
		"b9/d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9",
		"b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2ef/../",
		" 94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9",
		"b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde\n",
		"0x4d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9",
	};
	struct fixture *fx = *state;
	struct mr_err err;
	char out[PATH_MAX * 2];
	int64_t size;
	int fd;

	for (size_t i = 0; i < NELEM(invalids); i++) {
		mr_err_clear(&err);
		if (mr_blob_fs_path(fx->root, invalids[i], out, sizeof(out), &err) != -1)
			fail_msg("made a path of '%s': %s", invalids[i], out);
		assert_true(err.status >= 400);
		fd = 12345;
		if (mr_blob_fs_open(fx->root, invalids[i], &fd, &size, &err) != -1)
			fail_msg("opened '%s'", invalids[i]);
	}

	/* Valid, and a buffer too small for it. */
	assert_int_equal(mr_blob_fs_path("/r", HELLO_HEX, out, sizeof(out), &err), 0);
	assert_string_equal(out, "/r/b9/4d/" HELLO_HEX);
	assert_int_equal(mr_blob_fs_path("/r", HELLO_HEX, out, strlen(out) + 1,
	    &err), 0);
	assert_int_equal(mr_blob_fs_path("/r", HELLO_HEX, out, strlen(out), &err),
	    -1);
}

static void
test_open_missing(void **state)
{
	struct fixture *fx = *state;
	struct mr_err err;
	int64_t size = -1;
	int fd = 12345;

	mr_err_clear(&err);
	assert_int_equal(mr_blob_fs_open(fx->root, HELLO_HEX, &fd, &size, &err), -1);
	assert_int_equal(err.status, 404);
	assert_string_equal(err.errcode, "M_NOT_FOUND");
	assert_true(fd < 0);
	/* The message names the blob by its place in the store. */
	assert_non_null(strstr(err.msg, "b9/4d/" HELLO_HEX));
}

/* Makes ROOT/tmp/name with mtime age_s seconds in the past. */
static void
make_temp(const struct fixture *fx, const char *name, int age_s)
{
	char path[PATH_MAX * 2];
	struct timeval tv[2];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", fx->tmp, name);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "x", 1), 1);
	close(fd);
	gettimeofday(&tv[0], NULL);
	tv[0].tv_sec -= age_s;
	tv[1] = tv[0];
	assert_int_equal(utimes(path, tv), 0);
}

static int
temp_exists(const struct fixture *fx, const char *name)
{
	char path[PATH_MAX * 2];
	struct stat sb;

	snprintf(path, sizeof(path), "%s/%s", fx->tmp, name);
	return lstat(path, &sb) == 0;
}

static void
test_sweep(void **state)
{
	struct fixture *fx = *state;
	struct mr_err err;
	char live_fresh[64], live_old[64], live_idle[64], path[PATH_MAX * 2];
	char outside[PATH_MAX * 2], hex[MR_SHA256_HEX];
	struct timeval tv[2];
	int fd;

	/* pid 999999999 is above any pid_max: that writer is gone. */
	snprintf(live_fresh, sizeof(live_fresh), "%ld-fresh", (long)getpid());
	snprintf(live_old, sizeof(live_old), "%ld-two-minutes", (long)getpid());
	snprintf(live_idle, sizeof(live_idle), "%ld-idle", (long)getpid());
	make_temp(fx, "999999999-x", 120);	/* dead, past the grace: goes */
	make_temp(fx, "999999999-new", 0);	/* dead, within the grace: stays */
	make_temp(fx, live_fresh, 0);		/* live writer: stays */
	make_temp(fx, live_old, 120);		/* live, under max_age: stays */
	make_temp(fx, live_idle, 7200);		/* idle past max_age: goes */
	make_temp(fx, "junk", 120);		/* no pid: as good as dead */
	make_temp(fx, "0-zero", 120);		/* pid 0 is no writer */
	make_temp(fx, ".hidden", 7200);		/* dot files are not ours */

	/* Not regular files: never removed, nor what a link points to. */
	snprintf(path, sizeof(path), "%s/999999999-dir", fx->tmp);
	assert_int_equal(mkdir(path, 0700), 0);
	gettimeofday(&tv[0], NULL);
	tv[0].tv_sec -= 7200;
	tv[1] = tv[0];
	assert_int_equal(utimes(path, tv), 0);
	snprintf(outside, sizeof(outside), "%s/outside", fx->root);
	fd = open(outside, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(utimes(outside, tv), 0);
	snprintf(path, sizeof(path), "%s/999999999-link", fx->tmp);
	assert_int_equal(symlink(outside, path), 0);
	assert_int_equal(lutimes(path, tv), 0);

	/* A committed blob is outside tmp/ and untouched. */
	store_bytes(fx, "hello world", 11, hex);

	assert_int_equal(mr_blob_fs_sweep(fx->root, 3600000, &err), 4);
	assert_false(temp_exists(fx, "999999999-x"));
	assert_false(temp_exists(fx, live_idle));
	assert_false(temp_exists(fx, "junk"));
	assert_false(temp_exists(fx, "0-zero"));
	assert_true(temp_exists(fx, "999999999-new"));
	assert_true(temp_exists(fx, live_fresh));
	assert_true(temp_exists(fx, live_old));
	assert_true(temp_exists(fx, ".hidden"));
	assert_true(temp_exists(fx, "999999999-dir"));
	assert_true(temp_exists(fx, "999999999-link"));
	assert_int_equal(access(outside, F_OK), 0);
	snprintf(path, sizeof(path), "%s/b9/4d/%s", fx->root, HELLO_HEX);
	assert_int_equal(access(path, F_OK), 0);

	/* Again: nothing more to do. */
	assert_int_equal(mr_blob_fs_sweep(fx->root, 3600000, &err), 0);

	/* A short max_age takes the live writer's old file as well. */
	assert_int_equal(mr_blob_fs_sweep(fx->root, 60000, &err), 1);
	assert_false(temp_exists(fx, live_old));
	assert_true(temp_exists(fx, live_fresh));
}

/* A writer that is still open survives a sweep; its commit still works. */
static void
test_sweep_keeps_open_writer(void **state)
{
	struct fixture *fx = *state;
	struct mr_blob_fs_writer w;
	struct mr_err err;
	char hex[MR_SHA256_HEX];

	assert_int_equal(mr_blob_fs_begin(fx->root, 100, &w, &err), 0);
	assert_int_equal(mr_blob_fs_write(&w, "hello world", 11, &err), 0);
	assert_int_equal(mr_blob_fs_sweep(fx->root, 3600000, &err), 0);
	assert_int_equal(mr_blob_fs_commit(fx->root, &w, hex, &err), 0);
	assert_string_equal(hex, HELLO_HEX);
}

/* The grace chosen: a dead writer's files go as soon as it allows. */
static void
test_sweep_grace(void **state)
{
	struct fixture *fx = *state;
	struct mr_err err;
	char live[64];

	snprintf(live, sizeof(live), "%ld-fresh", (long)getpid());
	make_temp(fx, "999999999-new", 0);
	make_temp(fx, "999999999-ten", 10);
	make_temp(fx, "junk", 0);
	make_temp(fx, live, 0);
	make_temp(fx, "1-old", 7200);		/* pid 1 runs: max_age decides */

	assert_int_equal(mr_blob_fs_sweep_grace(fx->root, 5000, 3600000, &err), 2);
	assert_false(temp_exists(fx, "999999999-ten"));
	assert_false(temp_exists(fx, "1-old"));
	assert_true(temp_exists(fx, "999999999-new"));
	assert_true(temp_exists(fx, "junk"));

	assert_int_equal(mr_blob_fs_sweep_grace(fx->root, 0, 3600000, &err), 2);
	assert_false(temp_exists(fx, "999999999-new"));
	assert_false(temp_exists(fx, "junk"));
	/* Never a live writer's file within max_age, whatever the grace. */
	assert_true(temp_exists(fx, live));
}

/* A killed writer nobody reaps is a zombie: kill() finds it, yet it is gone. */
static void
test_sweep_zombie_writer(void **state)
{
	struct fixture *fx = *state;
	struct mr_err err;
	char name[64];
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(0);
	/* Not reaped yet: wait until it is a zombie, then sweep. A loaded
	 * machine may take a while to run the child at all: wait up to 30 s
	 * and say so if it never exits, rather than sweep a live writer. */
	int zombie = 0;

	for (int i = 0; i < 30000 && !zombie; i++) {
		siginfo_t si;

		memset(&si, 0, sizeof(si));
		if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
		    si.si_pid == pid)
			zombie = 1;
		else
			usleep(1000);
	}
	assert_true(zombie);
	assert_int_equal(kill(pid, 0), 0);
	snprintf(name, sizeof(name), "%ld-zombie", (long)pid);
	make_temp(fx, name, 0);
	assert_int_equal(mr_blob_fs_sweep_grace(fx->root, 0, 3600000, &err), 1);
	assert_false(temp_exists(fx, name));
	assert_int_equal(waitpid(pid, NULL, 0), pid);
}

static void
test_sweep_without_tmp(void **state)
{
	struct fixture *fx = *state;
	struct mr_err err;
	char root[PATH_MAX + 16];

	snprintf(root, sizeof(root), "%s/none", fx->root);
	assert_int_equal(mr_blob_fs_sweep(root, 3600000, &err), 0);
}

/* Counts what mr_blob_walk finds, valid or not. */
static int
count_walked(const struct mr_blob_entry *e, void *arg)
{
	int *n = arg;

	n[e->valid ? 0 : 1]++;
	return 0;
}

/* The blob.h face over the same files: what every caller sees. */
static void
test_store_interface(void **state)
{
	struct fixture *fx = *state;
	struct mr_config *cfg = calloc(1, sizeof(*cfg));
	struct mr_blob_writer *w;
	struct mr_blob_reader *r;
	struct mr_blob_map map;
	struct mr_blob_loc loc;
	struct mr_blob *b;
	struct mr_err err;
	char hex[MR_SHA256_HEX], buf[16], path[PATH_MAX * 2];
	int64_t size = -1;
	int seen[2] = { 0, 0 };
	FILE *f;

	assert_non_null(cfg);
	snprintf(cfg->media_store_path, sizeof(cfg->media_store_path), "%s",
	    fx->root);
	assert_int_equal(mr_blob_store_open(cfg, 1, &b, &err), 0);

	/* A writer's size comes back from commit; callers see no file. */
	assert_int_equal(mr_blob_begin(b, 100, &w, &err), 0);
	assert_int_equal(mr_blob_write(w, "hello ", 6, &err), 0);
	assert_int_equal(mr_blob_write(w, "world", 5, &err), 0);
	assert_int_equal(mr_blob_commit(w, hex, &size, &err), 0);
	assert_string_equal(hex, HELLO_HEX);
	assert_int_equal(size, 11);
	assert_int_equal(count_entries(fx->tmp), 0);
	assert_int_equal(mr_blob_begin(b, 100, &w, &err), 0);
	assert_int_equal(mr_blob_write(w, "gone", 4, &err), 0);
	mr_blob_abort(w);
	mr_blob_abort(NULL);
	assert_int_equal(count_entries(fx->tmp), 0);

	size = -1;
	assert_int_equal(mr_blob_stat(b, HELLO_HEX, &size, &err), 0);
	assert_int_equal(size, 11);
	assert_int_equal(mr_blob_locate(b, HELLO_HEX, &loc, &err), 0);
	assert_int_equal(loc.kind, MR_BLOB_LOC_FILE);
	snprintf(path, sizeof(path), "%s/b9/4d/%s", fx->root, HELLO_HEX);
	assert_string_equal(loc.where, path);
	assert_string_equal(loc.rel, "/b9/4d/" HELLO_HEX);
	assert_int_equal(loc.size, 11);

	/* Ranges, and the end. */
	assert_int_equal(mr_blob_open(b, HELLO_HEX, &r, &size, &err), 0);
	assert_int_equal(size, 11);
	assert_int_equal(mr_blob_read_at(r, buf, 5, 6, &err), 5);
	assert_memory_equal(buf, "world", 5);
	assert_int_equal(mr_blob_read_at(r, buf, sizeof(buf), 11, &err), 0);
	mr_blob_reader_close(r);
	assert_int_equal(mr_blob_map(b, HELLO_HEX, &map, &err), 0);
	assert_int_equal(map.len, 11);
	assert_memory_equal(map.data, "hello world", 11);
	mr_blob_unmap(b, &map);
	assert_null(map.data);

	/* A stray file is walked but not valid; tmp/ is not walked. */
	snprintf(path, sizeof(path), "%s/b9/4d/not-a-blob", fx->root);
	assert_non_null(f = fopen(path, "w"));
	fclose(f);
	snprintf(path, sizeof(path), "%s/leftover", fx->tmp);
	assert_non_null(f = fopen(path, "w"));
	fclose(f);
	assert_int_equal(mr_blob_walk(b, count_walked, seen, &err), 2);
	assert_int_equal(seen[0], 1);
	assert_int_equal(seen[1], 1);

	assert_int_equal(mr_blob_remove(b, HELLO_HEX, &err), 1);
	assert_int_equal(mr_blob_remove(b, HELLO_HEX, &err), 0);
	assert_int_equal(mr_blob_stat(b, HELLO_HEX, &size, &err), -1);
	assert_int_equal(err.status, 404);
	assert_int_equal(mr_blob_open(b, HELLO_HEX, &r, &size, &err), -1);
	assert_int_equal(err.status, 404);
	/* Missing, it still says where it would be. */
	assert_int_equal(mr_blob_locate(b, HELLO_HEX, &loc, &err), -1);
	assert_int_equal(err.status, 404);
	assert_non_null(strstr(loc.where, "/b9/4d/" HELLO_HEX));
	assert_int_equal(mr_blob_remove(b, "../../etc/passwd", &err), -1);
	assert_int_equal(mr_blob_put(b, "x", 1, hex, &err), 0);
	assert_int_equal(mr_blob_stat(b, hex, &size, &err), 0);
	assert_int_equal(size, 1);
	mr_blob_store_close(b);
	free(cfg);
}

/* A store that does not exist yet is made only when asked to. */
static void
test_store_open_create(void **state)
{
	struct fixture *fx = *state;
	struct mr_config *cfg = calloc(1, sizeof(*cfg));
	struct mr_blob *b;
	struct mr_err err;
	struct stat sb;
	int seen[2] = { 0, 0 };

	assert_non_null(cfg);
	snprintf(cfg->media_store_path, sizeof(cfg->media_store_path),
	    "%s/sub", fx->root);
	assert_int_equal(mr_blob_store_open(cfg, 0, &b, &err), 0);
	assert_int_equal(stat(cfg->media_store_path, &sb), -1);
	assert_int_equal(mr_blob_walk(b, count_walked, seen, &err), 0);
	mr_blob_store_close(b);
	assert_int_equal(mr_blob_store_open(cfg, 1, &b, &err), 0);
	assert_int_equal(stat(cfg->media_store_path, &sb), 0);
	assert_true(S_ISDIR(sb.st_mode));
	mr_blob_store_close(b);
	free(cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_init_root, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_interface, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_store_open_create, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_commit_path_and_content, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_commit_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commit_large, setup, teardown),
		cmocka_unit_test_setup_teardown(test_synced_in_steps, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_same_bytes_stored_once, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_abort, setup, teardown),
		cmocka_unit_test_setup_teardown(test_max_size, setup, teardown),
		cmocka_unit_test_setup_teardown(test_threaded_hash, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_threaded_abort, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_threaded_max_size, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_threaded_writers_leave_no_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sync_thread_abort, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_blob_path_refuses_bad_hashes,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_missing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sweep, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sweep_keeps_open_writer, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_sweep_grace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sweep_zombie_writer, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_sweep_without_tmp, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, fixture_sodium_setup, NULL);
}
