/*
 * blob: content-addressed files (see blob.h).
 */
#include "blob.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* A failed write, sync, create or rename: a full disk has one answer. */
static int
blob_io_fail(struct mr_err *err, const char *what, const char *path)
{
	if (errno == ENOSPC || errno == EDQUOT)
		return mr_err_storage_full(err);
	return mr_err_set(err, 500, "M_UNKNOWN", "cannot %s '%s': %s", what,
	    path, strerror(errno));
}

static int
blob_mkdir(const char *path, struct mr_err *err)
{
	if (mkdir(path, 0750) < 0 && errno != EEXIST)
		return blob_io_fail(err, "create", path);
	return 0;
}

int
mr_blob_init_root(const char *root, struct mr_err *err)
{
	char tmp[PATH_MAX];

	if (blob_mkdir(root, err) < 0)
		return -1;
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s/tmp", root) >= sizeof(tmp))
		return mr_err_set(err, 500, "M_UNKNOWN", "media store path too long");
	return blob_mkdir(tmp, err);
}

int
mr_blob_begin(const char *root, int64_t max_size, struct mr_blob_writer *w,
    struct mr_err *err)
{
	char rnd[17];
	int n;

	w->fd = -1;
	w->size = 0;
	w->max_size = max_size;
	mr_random_id(rnd, 16);
	/* The pid in the name lets the sweep tell live writers from dead. */
	n = snprintf(w->tmp_path, sizeof(w->tmp_path), "%s/tmp/%ld-%s", root,
	    (long)getpid(), rnd);
	if (n < 0 || (size_t)n >= sizeof(w->tmp_path))
		return mr_err_set(err, 500, "M_UNKNOWN", "media store path too long");
	w->fd = open(w->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (w->fd < 0 && errno == ENOENT && mr_blob_init_root(root, err) == 0)
		w->fd = open(w->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		    0640);
	if (w->fd < 0)
		return blob_io_fail(err, "create temp file", w->tmp_path);
	crypto_hash_sha256_init(&w->hash);
	return 0;
}

int
mr_blob_write(struct mr_blob_writer *w, const void *buf, size_t n,
    struct mr_err *err)
{
	const char *p = buf;
	size_t left = n;

	if (w->size + (int64_t)n > w->max_size)
		return mr_err_set(err, 413, "M_TOO_LARGE",
		    "content is larger than the limit of %lld bytes",
		    (long long)w->max_size);
	crypto_hash_sha256_update(&w->hash, buf, n);
	while (left > 0) {
		ssize_t k = write(w->fd, p, left);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return blob_io_fail(err, "write", w->tmp_path);
		p += k;
		left -= (size_t)k;
	}
	w->size += (int64_t)n;
	return 0;
}

void
mr_blob_abort(struct mr_blob_writer *w)
{
	if (w->fd >= 0) {
		close(w->fd);
		w->fd = -1;
		unlink(w->tmp_path);
	}
}

int
mr_blob_put(const char *root, const void *data, size_t len,
    char sha256_hex[MR_SHA256_HEX], struct mr_err *err)
{
	struct mr_blob_writer w;

	if (mr_blob_begin(root, (int64_t)len, &w, err) < 0)
		return -1;
	if (mr_blob_write(&w, data, len, err) < 0) {
		mr_blob_abort(&w);
		return -1;
	}
	return mr_blob_commit(root, &w, sha256_hex, err);
}

void
mr_blob_hash(const void *data, size_t len, char sha256_hex[MR_SHA256_HEX])
{
	unsigned char digest[crypto_hash_sha256_BYTES];

	crypto_hash_sha256(digest, data, len);
	mr_hex_encode(digest, sizeof(digest), sha256_hex);
}

int
mr_blob_path(const char *root, const char *sha256_hex, char *out,
    size_t outsz, struct mr_err *err)
{
	int n;

	/* Only a checked hash ever becomes a path: no traversal possible. */
	if (!mr_is_lower_hex(sha256_hex, 64))
		return mr_err_set(err, 500, "M_UNKNOWN", "invalid blob hash");
	n = snprintf(out, outsz, "%s/%.2s/%.2s/%s", root, sha256_hex,
	    sha256_hex + 2, sha256_hex);
	if (n < 0 || (size_t)n >= outsz)
		return mr_err_set(err, 500, "M_UNKNOWN", "media store path too long");
	return 0;
}

/* Creates ROOT/ab and ROOT/ab/cd for a blob path. */
static int
blob_make_parents(const char *root, const char *hex, struct mr_err *err)
{
	char dir[PATH_MAX];

	snprintf(dir, sizeof(dir), "%s/%.2s", root, hex);
	if (blob_mkdir(dir, err) < 0)
		return -1;
	snprintf(dir, sizeof(dir), "%s/%.2s/%.2s", root, hex, hex + 2);
	return blob_mkdir(dir, err);
}

int
mr_blob_commit(const char *root, struct mr_blob_writer *w,
    char sha256_hex[MR_SHA256_HEX], struct mr_err *err)
{
	unsigned char digest[crypto_hash_sha256_BYTES];
	char path[PATH_MAX];
	struct stat sb;

	crypto_hash_sha256_final(&w->hash, digest);
	mr_hex_encode(digest, sizeof(digest), sha256_hex);
	if (mr_blob_path(root, sha256_hex, path, sizeof(path), err) < 0)
		goto fail;
	if (stat(path, &sb) == 0 && sb.st_size == w->size) {
		/* Same bytes already stored: keep one copy. */
		mr_blob_abort(w);
		return 0;
	}
	if (fsync(w->fd) < 0) {
		blob_io_fail(err, "sync", w->tmp_path);
		goto fail;
	}
	if (blob_make_parents(root, sha256_hex, err) < 0)
		goto fail;
	if (rename(w->tmp_path, path) < 0) {
		blob_io_fail(err, "store", path);
		goto fail;
	}
	close(w->fd);
	w->fd = -1;
	return 0;
fail:
	mr_blob_abort(w);
	return -1;
}

int
mr_blob_open(const char *root, const char *sha256_hex, int *fd, int64_t *size,
    struct mr_err *err)
{
	char path[PATH_MAX];
	struct stat sb;

	if (mr_blob_path(root, sha256_hex, path, sizeof(path), err) < 0)
		return -1;
	if ((*fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return mr_err_set(err, errno == ENOENT ? 404 : 500,
		    errno == ENOENT ? "M_NOT_FOUND" : "M_UNKNOWN",
		    "cannot open blob '%.2s/%.2s/%s'", sha256_hex, sha256_hex + 2,
		    sha256_hex);
	if (fstat(*fd, &sb) < 0) {
		close(*fd);
		*fd = -1;
		return mr_err_set(err, 500, "M_UNKNOWN", "cannot stat blob");
	}
	*size = (int64_t)sb.st_size;
	return 0;
}

/*
 * 1 when pid is a zombie: killed but not reaped, which lasts for good
 * where the programs' parent is an init that reaps nothing (a container's
 * pid 1 often is). It writes no more, though kill() still finds it.
 */
static int
blob_pid_zombie(long pid)
{
	char path[64], stat[256];
	const char *state;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	n = read(fd, stat, sizeof(stat) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	stat[n] = '\0';
	/* "pid (comm) S ...": comm may hold ')', so the last one counts. */
	state = strrchr(stat, ')');
	return state != NULL && state[1] == ' ' &&
	    (state[2] == 'Z' || state[2] == 'X');
}

/* 1 when a temp file named "<pid>-..." belongs to a dead process. */
static int
blob_writer_gone(const char *name)
{
	char *end;
	long pid = strtol(name, &end, 10);

	if (end == name || *end != '-' || pid <= 0)
		return 1;
	return (kill((pid_t)pid, 0) < 0 && errno == ESRCH) ||
	    blob_pid_zombie(pid);
}

int
mr_blob_sweep(const char *root, int64_t max_age_ms, struct mr_err *err)
{
	return mr_blob_sweep_grace(root, MR_BLOB_SWEEP_GRACE_MS, max_age_ms, err);
}

int
mr_blob_sweep_grace(const char *root, int64_t grace_ms, int64_t max_age_ms,
    struct mr_err *err)
{
	char dir[PATH_MAX], path[PATH_MAX * 2];
	struct dirent *de;
	int removed = 0;
	time_t now = time(NULL);
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/tmp", root);
	if ((d = opendir(dir)) == NULL)
		return errno == ENOENT ? 0 : mr_err_set(err, 500, "M_UNKNOWN",
		    "cannot read '%s': %s", dir, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		struct stat sb;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (lstat(path, &sb) < 0 || !S_ISREG(sb.st_mode))
			continue;
		int64_t idle_ms = (int64_t)(now - sb.st_mtime) * 1000;

		/*
		 * A dead writer's file goes after the grace (its pid may be from
		 * another host sharing the store, which still writes); anything
		 * idle past max_age goes regardless.
		 */
		if ((blob_writer_gone(de->d_name) && idle_ms >= grace_ms) ||
		    idle_ms > max_age_ms) {
			if (unlink(path) == 0)
				removed++;
		}
	}
	closedir(d);
	return removed;
}
