/*
 * blob_fs: the local-files blob backend (see blob_fs.h), the one module
 * that builds, opens, stats and walks paths of stored bytes.
 */
#include "blob_fs.h"

#include <openssl/evp.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
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
mr_blob_fs_init_root(const char *root, struct mr_err *err)
{
	char tmp[PATH_MAX];

	if (blob_mkdir(root, err) < 0)
		return -1;
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s/tmp", root) >= sizeof(tmp))
		return mr_err_set(err, 500, "M_UNKNOWN", "media store path too long");
	return blob_mkdir(tmp, err);
}

int
mr_blob_fs_begin(const char *root, int64_t max_size,
    struct mr_blob_fs_writer *w, struct mr_err *err)
{
	char rnd[17];
	int n;

	w->fd = -1;
	w->sha = NULL;
	w->size = 0;
	w->max_size = max_size;
	w->sync_steps = 1;
	w->hasher = NULL;
	mr_random_id(rnd, 16);
	/* The pid in the name lets the sweep tell live writers from dead. */
	n = snprintf(w->tmp_path, sizeof(w->tmp_path), "%s/tmp/%ld-%s", root,
	    (long)getpid(), rnd);
	if (n < 0 || (size_t)n >= sizeof(w->tmp_path))
		return mr_err_set(err, 500, "M_UNKNOWN", "media store path too long");
	/* Read-write: a hashing thread reads back what was written. */
	w->fd = open(w->tmp_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (w->fd < 0 && errno == ENOENT && mr_blob_fs_init_root(root, err) == 0)
		w->fd = open(w->tmp_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
		    0640);
	if (w->fd < 0)
		return blob_io_fail(err, "create temp file", w->tmp_path);
	if ((w->sha = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(w->sha, EVP_sha256(), NULL) != 1) {
		mr_blob_fs_abort(w);
		return mr_err_set(err, 500, "M_UNKNOWN", "cannot start SHA-256");
	}
	return 0;
}

/*
 * The helper threads of a large upload. The writer writes the body to the
 * temp file as before and only publishes how far it got.
 *
 * The hashing thread reads those bytes back (pread, from the page cache:
 * no copy in the writer, no queue of buffers, one chunk of memory) and
 * hashes them. Hashing the file rather than the caller's buffers also
 * means the hash is of exactly what is stored. A chunk is small enough to
 * stay in the core's cache between the read and the hash, and adds little
 * to upload.fcgi's peak RSS.
 *
 * The syncing thread makes the file durable in steps (fdatasync every
 * MR_BLOB_FS_SYNC_STEP bytes) while the rest arrives, so commit's fsync
 * has only the last step left to flush. Starting writeback alone does not
 * do that: disks with a volatile write cache (most SSDs, virtual disks)
 * spend the time in the flush, and a flush takes longer the more it has
 * to write, measured on the project's machine: 256 MiB written in 256 ms,
 * then fsync 154 ms; synced every 16 MiB meanwhile, fsync 6 ms. It waits
 * in the kernel, not on a core, so it needs a thread of its own: on the
 * hashing thread it would hold up the hash.
 */
#define BLOB_FS_HASH_CHUNK (128 * 1024)
/*
 * A sleeping hashing thread is woken once this much waits for it, and
 * then hashes chunk after chunk until less than one is left: one wakeup
 * per MiB rather than per chunk (on two busy cores each wakeup is a
 * futex call and a context switch on both sides).
 */
#define BLOB_FS_HASH_WAKE (1024 * 1024)

struct mr_blob_fs_hasher {
	pthread_t thread;		/* hashes */
	pthread_t syncer;		/* syncs; once has_syncer */
	pthread_mutex_t mu;
	pthread_cond_t cv;		/* the hashing thread waits on it */
	pthread_cond_t sync_cv;		/* the syncing thread waits on it */
	int fd;				/* the writer's, opened read-write */
	EVP_MD_CTX *sha;		/* the writer's, the thread's while it runs */
	unsigned char *buf;		/* BLOB_FS_HASH_CHUNK bytes */
	int sync_steps;			/* the writer's: start a syncer */
	int has_syncer;			/* written by the writer only */
	/* Under mu: */
	int64_t written;		/* bytes the writer has in the file */
	int64_t hashed;			/* bytes the thread has hashed */
	int64_t synced;			/* bytes made durable by the syncer */
	int done;			/* the writer has written everything */
	int stop;			/* abort: quit without hashing the rest */
	int waiting;			/* the hashing thread sleeps on cv */
	int sync_waiting;		/* the syncing thread sleeps on sync_cv */
	int failed;			/* errno of a failed read, or EIO */
	int sync_failed;		/* errno of a failed fdatasync */
};

static void *
blob_fs_hash_main(void *arg)
{
	struct mr_blob_fs_hasher *h = arg;

	pthread_mutex_lock(&h->mu);
	for (;;) {
		int64_t off, left;
		ssize_t k;
		int failed;

		/* Whole chunks while the writer writes, the rest at the end. */
		while (!h->stop && !h->done &&
		    h->written - h->hashed < BLOB_FS_HASH_CHUNK) {
			h->waiting = 1;
			pthread_cond_wait(&h->cv, &h->mu);
			h->waiting = 0;
		}
		if (h->stop || h->hashed == h->written)
			break;
		off = h->hashed;
		left = h->written - off;
		pthread_mutex_unlock(&h->mu);
		if (left > BLOB_FS_HASH_CHUNK)
			left = BLOB_FS_HASH_CHUNK;
		while ((k = pread(h->fd, h->buf, (size_t)left, (off_t)off)) < 0 &&
		    errno == EINTR)
			;
		failed = k < 0 ? errno : 0;
		if (!failed && (k == 0 ||
		    EVP_DigestUpdate(h->sha, h->buf, (size_t)k) != 1))
			failed = EIO;
		pthread_mutex_lock(&h->mu);
		if (failed) {
			h->failed = failed;
			break;
		}
		h->hashed += k;
	}
	pthread_mutex_unlock(&h->mu);
	return NULL;
}

/*
 * Syncs a step at a time while the writer writes; quits once it is done
 * (the final fsync is commit's) or aborts. A failure is kept for commit:
 * the kernel reports a write error to one fsync only, so commit's own
 * fsync could succeed after this one failed.
 */
static void *
blob_fs_sync_main(void *arg)
{
	struct mr_blob_fs_hasher *h = arg;

	pthread_mutex_lock(&h->mu);
	for (;;) {
		int64_t upto;
		int rc, failed;

		while (!h->stop && !h->done &&
		    h->written - h->synced < MR_BLOB_FS_SYNC_STEP) {
			h->sync_waiting = 1;
			pthread_cond_wait(&h->sync_cv, &h->mu);
			h->sync_waiting = 0;
		}
		if (h->stop || h->done)
			break;
		upto = h->written;
		pthread_mutex_unlock(&h->mu);
		while ((rc = fdatasync(h->fd)) < 0 && errno == EINTR)
			;
		failed = rc < 0 ? errno : 0;
		pthread_mutex_lock(&h->mu);
		if (failed) {
			h->sync_failed = failed;
			break;
		}
		h->synced = upto;
	}
	pthread_mutex_unlock(&h->mu);
	return NULL;
}

/* A helper thread; signals (the request deadline's SIGALRM) stay the
 * main thread's. */
static int
blob_fs_thread_start(pthread_t *t, void *(*fn)(void *), void *arg)
{
	sigset_t all, old;
	int rc;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(t, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

/*
 * Starts hashing on a thread from the writer's current size on. 0 when it
 * runs; -1 when it could not start, and the writer goes on hashing inline.
 */
static int
blob_fs_hasher_start(struct mr_blob_fs_writer *w)
{
	struct mr_blob_fs_hasher *h = calloc(1, sizeof(*h));

	if (h == NULL)
		return -1;
	if ((h->buf = malloc(BLOB_FS_HASH_CHUNK)) == NULL) {
		free(h);
		return -1;
	}
	h->fd = w->fd;
	h->sha = w->sha;
	h->written = h->hashed = w->size;
	h->sync_steps = w->sync_steps;
	pthread_mutex_init(&h->mu, NULL);
	pthread_cond_init(&h->cv, NULL);
	pthread_cond_init(&h->sync_cv, NULL);
	if (blob_fs_thread_start(&h->thread, blob_fs_hash_main, h) != 0) {
		pthread_cond_destroy(&h->sync_cv);
		pthread_cond_destroy(&h->cv);
		pthread_mutex_destroy(&h->mu);
		free(h->buf);
		free(h);
		return -1;
	}
	w->hasher = h;
	return 0;
}

/*
 * Tells the threads what is in the file: wakes the hashing one for a
 * BLOB_FS_HASH_WAKE's worth, the syncing one for a whole step (starting it at the
 * first; without it, commit's fsync does all the work as before).
 */
static void
blob_fs_hasher_publish(struct mr_blob_fs_hasher *h, int64_t written)
{
	if (h->sync_steps && !h->has_syncer &&
	    written >= MR_BLOB_FS_SYNC_STEP &&
	    blob_fs_thread_start(&h->syncer, blob_fs_sync_main, h) == 0)
		h->has_syncer = 1;
	pthread_mutex_lock(&h->mu);
	h->written = written;
	if (h->waiting && h->written - h->hashed >= BLOB_FS_HASH_WAKE)
		pthread_cond_signal(&h->cv);
	if (h->sync_waiting && h->written - h->synced >= MR_BLOB_FS_SYNC_STEP)
		pthread_cond_signal(&h->sync_cv);
	pthread_mutex_unlock(&h->mu);
}

/* The writer is done (the thread hashes the rest), or aborts (stop). */
static void
blob_fs_hasher_tell(struct mr_blob_fs_hasher *h, int stop)
{
	pthread_mutex_lock(&h->mu);
	if (stop)
		h->stop = 1;
	else
		h->done = 1;
	pthread_cond_signal(&h->cv);
	pthread_cond_signal(&h->sync_cv);
	pthread_mutex_unlock(&h->mu);
}

/*
 * Ends the threads, if any: after the rest is hashed, or at once (stop;
 * a sync under way still finishes). Once it returns no thread runs and
 * sha is the writer's again.
 */
static int
blob_fs_hasher_join(struct mr_blob_fs_writer *w, int stop, struct mr_err *err)
{
	struct mr_blob_fs_hasher *h = w->hasher;
	int failed, sync_failed;

	if (h == NULL)
		return 0;
	blob_fs_hasher_tell(h, stop);
	pthread_join(h->thread, NULL);
	if (h->has_syncer)
		pthread_join(h->syncer, NULL);
	failed = h->failed;
	sync_failed = h->sync_failed;
	if (!failed && !stop && h->hashed != w->size)
		failed = EIO;
	pthread_cond_destroy(&h->sync_cv);
	pthread_cond_destroy(&h->cv);
	pthread_mutex_destroy(&h->mu);
	free(h->buf);
	free(h);
	w->hasher = NULL;
	if (err == NULL || (!failed && !sync_failed))
		return failed || sync_failed ? -1 : 0;
	if (sync_failed) {
		errno = sync_failed;
		return blob_io_fail(err, "sync", w->tmp_path);
	}
	return mr_err_set(err, 500, "M_UNKNOWN", "cannot hash '%s': %s",
	    w->tmp_path, strerror(failed));
}

int64_t
mr_blob_fs_synced(struct mr_blob_fs_writer *w)
{
	int64_t synced;

	if (w->hasher == NULL)
		return 0;
	pthread_mutex_lock(&w->hasher->mu);
	synced = w->hasher->synced;
	pthread_mutex_unlock(&w->hasher->mu);
	return synced;
}

int
mr_blob_fs_write(struct mr_blob_fs_writer *w, const void *buf, size_t n,
    struct mr_err *err)
{
	const char *p = buf;
	size_t left = n;

	if (w->size + (int64_t)n > w->max_size)
		return mr_err_set(err, 413, "M_TOO_LARGE",
		    "content is larger than the limit of %lld bytes",
		    (long long)w->max_size);
	/* Once, where the upload grows past the threshold. */
	if (w->hasher == NULL && w->size <= MR_BLOB_FS_THREAD_MIN &&
	    w->size + (int64_t)n > MR_BLOB_FS_THREAD_MIN)
		(void)blob_fs_hasher_start(w);
	if (w->hasher == NULL && EVP_DigestUpdate(w->sha, buf, n) != 1)
		return mr_err_set(err, 500, "M_UNKNOWN", "SHA-256 failed");
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
	if (w->hasher != NULL)
		blob_fs_hasher_publish(w->hasher, w->size);
	return 0;
}

int
mr_blob_fs_digest(struct mr_blob_fs_writer *w, char sha256_hex[MR_SHA256_HEX],
    struct mr_err *err)
{
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;

	if (blob_fs_hasher_join(w, 0, err) < 0)
		return -1;
	if (EVP_DigestFinal_ex(w->sha, digest, &dlen) != 1 || dlen != 32)
		return mr_err_set(err, 500, "M_UNKNOWN", "SHA-256 failed");
	mr_hex_encode(digest, dlen, sha256_hex);
	return 0;
}

void
mr_blob_fs_abort(struct mr_blob_fs_writer *w)
{
	/* The thread reads the file: it ends before the file closes. */
	(void)blob_fs_hasher_join(w, 1, NULL);
	if (w->fd >= 0) {
		close(w->fd);
		w->fd = -1;
		unlink(w->tmp_path);
	}
	EVP_MD_CTX_free(w->sha);
	w->sha = NULL;
}

int
mr_blob_fs_path(const char *root, const char *sha256_hex, char *out,
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
mr_blob_fs_commit(const char *root, struct mr_blob_fs_writer *w,
    char sha256_hex[MR_SHA256_HEX], struct mr_err *err)
{
	char path[PATH_MAX];
	struct stat sb;
	int synced = 0;

	/*
	 * A large writer's hash may still be behind its writes: the disk
	 * syncs while the thread catches up, though a duplicate would not
	 * have needed it (small ones, hashed inline, still skip it).
	 */
	if (w->hasher != NULL) {
		blob_fs_hasher_tell(w->hasher, 0);
		if (fsync(w->fd) < 0) {
			blob_io_fail(err, "sync", w->tmp_path);
			goto fail;
		}
		synced = 1;
	}
	if (mr_blob_fs_digest(w, sha256_hex, err) < 0)
		goto fail;
	if (mr_blob_fs_path(root, sha256_hex, path, sizeof(path), err) < 0)
		goto fail;
	if (stat(path, &sb) == 0 && sb.st_size == w->size) {
		/* Same bytes already stored: keep one copy. */
		mr_blob_fs_abort(w);
		return 0;
	}
	if (!synced && fsync(w->fd) < 0) {
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
	EVP_MD_CTX_free(w->sha);
	w->sha = NULL;
	return 0;
fail:
	mr_blob_fs_abort(w);
	return -1;
}

int
mr_blob_fs_open(const char *root, const char *sha256_hex, int *fd,
    int64_t *size, struct mr_err *err)
{
	char path[PATH_MAX];
	struct stat sb;

	if (mr_blob_fs_path(root, sha256_hex, path, sizeof(path), err) < 0)
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
mr_blob_fs_sweep(const char *root, int64_t max_age_ms, struct mr_err *err)
{
	return mr_blob_fs_sweep_grace(root, MR_BLOB_SWEEP_GRACE_MS, max_age_ms,
	    err);
}

int
mr_blob_fs_sweep_grace(const char *root, int64_t grace_ms, int64_t max_age_ms,
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

/* --- the blob.h face --- */

struct blob_fs {
	char root[PATH_MAX];
};

static int
blob_fs_wanted(const struct mr_config *cfg)
{
	(void)cfg;
	return 1;		/* the default: every config names a root */
}

static int
blob_fs_open_store(const struct mr_config *cfg, int create, void **impl,
    struct mr_err *err)
{
	struct blob_fs *fs;

	if (strlen(cfg->media_store_path) >= sizeof(fs->root))
		return mr_err_set(err, 500, "M_UNKNOWN",
		    "media store path too long");
	if ((fs = calloc(1, sizeof(*fs))) == NULL)
		return mr_err_set(err, 500, "M_UNKNOWN", "out of memory");
	snprintf(fs->root, sizeof(fs->root), "%s", cfg->media_store_path);
	if (create && mr_blob_fs_init_root(fs->root, err) < 0) {
		free(fs);
		return -1;
	}
	*impl = fs;
	return 0;
}

static void
blob_fs_close_store(void *impl)
{
	free(impl);
}

static int
blob_fs_begin_op(void *impl, int64_t max_size, void **w, struct mr_err *err)
{
	struct blob_fs *fs = impl;
	struct mr_blob_fs_writer *fw = malloc(sizeof(*fw));

	if (fw == NULL)
		return mr_err_set(err, 500, "M_UNKNOWN", "out of memory");
	if (mr_blob_fs_begin(fs->root, max_size, fw, err) < 0) {
		free(fw);
		return -1;
	}
	*w = fw;
	return 0;
}

static int
blob_fs_write_op(void *w, const void *buf, size_t n, struct mr_err *err)
{
	return mr_blob_fs_write(w, buf, n, err);
}

static int
blob_fs_commit_op(void *impl, void *w, char sha256_hex[MR_SHA256_HEX],
    int64_t *size, struct mr_err *err)
{
	struct blob_fs *fs = impl;
	struct mr_blob_fs_writer *fw = w;
	int rc;

	if (size != NULL)
		*size = fw->size;
	rc = mr_blob_fs_commit(fs->root, fw, sha256_hex, err);
	free(fw);
	return rc;
}

static void
blob_fs_abort_op(void *w)
{
	mr_blob_fs_abort(w);
	free(w);
}

static int
blob_fs_open_read(void *impl, const char *sha256_hex, void **r,
    int64_t *size, struct mr_err *err)
{
	struct blob_fs *fs = impl;
	int *fd = malloc(sizeof(*fd));

	if (fd == NULL)
		return mr_err_set(err, 500, "M_UNKNOWN", "out of memory");
	if (mr_blob_fs_open(fs->root, sha256_hex, fd, size, err) < 0) {
		free(fd);
		return -1;
	}
	*r = fd;
	return 0;
}

static ssize_t
blob_fs_read_at(void *r, void *buf, size_t n, int64_t off, struct mr_err *err)
{
	ssize_t k;

	while ((k = pread(*(int *)r, buf, n, (off_t)off)) < 0 && errno == EINTR)
		;
	if (k < 0)
		return mr_err_set(err, 500, "M_UNKNOWN", "cannot read media: %s",
		    strerror(errno));
	return k;
}

static void
blob_fs_close_read(void *r)
{
	close(*(int *)r);
	free(r);
}

static int
blob_fs_map(void *impl, const char *sha256_hex, struct mr_blob_map *m,
    struct mr_err *err)
{
	struct blob_fs *fs = impl;
	int64_t size;
	int fd;

	m->data = NULL;
	m->len = 0;
	m->impl = NULL;
	if (mr_blob_fs_open(fs->root, sha256_hex, &fd, &size, err) < 0)
		return -1;
	return mr_blob_fs_map_fd(fd, size, m, err);
}

int
mr_blob_fs_map_fd(int fd, int64_t size, struct mr_blob_map *m,
    struct mr_err *err)
{
	if (size > 0) {
		void *p = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);

		if (p == MAP_FAILED) {
			close(fd);
			return mr_err_set(err, 500, "M_UNKNOWN", "cannot map media");
		}
		m->data = p;
		m->len = (size_t)size;
	}
	close(fd);
	return 0;
}

void
mr_blob_fs_unmap(struct mr_blob_map *m)
{
	if (m->data != NULL)
		munmap((void *)m->data, m->len);
	m->data = NULL;
	m->len = 0;
}

static int
blob_fs_stat(void *impl, const char *sha256_hex, int64_t *size,
    struct mr_err *err)
{
	struct blob_fs *fs = impl;
	char path[PATH_MAX];
	struct stat sb;

	if (mr_blob_fs_path(fs->root, sha256_hex, path, sizeof(path), err) < 0)
		return -1;
	if (stat(path, &sb) < 0)
		return mr_err_set(err, 404, "M_NOT_FOUND", "media file is missing");
	*size = (int64_t)sb.st_size;
	return 0;
}

static int
blob_fs_remove(void *impl, const char *sha256_hex, struct mr_err *err)
{
	struct blob_fs *fs = impl;
	char path[PATH_MAX];

	if (mr_blob_fs_path(fs->root, sha256_hex, path, sizeof(path), err) < 0)
		return -1;
	if (unlink(path) < 0)
		return errno == ENOENT ? 0 : mr_err_set(err, 500, "M_UNKNOWN",
		    "cannot remove blob '%.2s/%.2s/%s': %s", sha256_hex,
		    sha256_hex + 2, sha256_hex, strerror(errno));
	return 1;
}

/* 1 when name is two lowercase hex digits (a level of the blob tree). */
static int
blob_fs_is_tree_dir(const char *name)
{
	return strlen(name) == 2 && mr_is_lower_hex(name, 2);
}

/* Walks one ROOT/xx/yy directory. */
static int64_t
blob_fs_walk_leaf(const char *dir, const char *prefix, mr_blob_walk_fn fn,
    void *arg, int *stop)
{
	char path[PATH_MAX * 2];
	struct mr_blob_entry e;
	struct dirent *de;
	int64_t n = 0;
	DIR *d = opendir(dir);

	if (d == NULL)
		return 0;
	while (!*stop && (de = readdir(d)) != NULL) {
		struct stat sb;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (lstat(path, &sb) < 0 || !S_ISREG(sb.st_mode))
			continue;
		e.where = path;
		e.name = de->d_name;
		e.valid = mr_is_lower_hex(de->d_name, 64) &&
		    strncmp(de->d_name, prefix, 4) == 0;
		e.size = (int64_t)sb.st_size;
		e.mtime_ms = (int64_t)sb.st_mtime * 1000;
		n++;
		if (fn(&e, arg) < 0)
			*stop = 1;
	}
	closedir(d);
	return n;
}

/* Every regular file under ROOT/xx/yy/ (tmp/ is not part of the tree). */
static int64_t
blob_fs_walk(void *impl, mr_blob_walk_fn fn, void *arg, struct mr_err *err)
{
	struct blob_fs *fs = impl;
	char dir1[PATH_MAX + 8], dir2[PATH_MAX + 16], prefix[5];
	struct dirent *a, *b;
	int64_t n = 0;
	int stop = 0;
	DIR *d1, *d2;

	/* A store nothing was ever uploaded to has no tree yet. */
	if ((d1 = opendir(fs->root)) == NULL)
		return errno == ENOENT ? 0 : mr_err_set(err, 500, "M_UNKNOWN",
		    "cannot read '%s': %s", fs->root, strerror(errno));
	while (!stop && (a = readdir(d1)) != NULL) {
		if (!blob_fs_is_tree_dir(a->d_name))
			continue;
		snprintf(dir1, sizeof(dir1), "%s/%s", fs->root, a->d_name);
		if ((d2 = opendir(dir1)) == NULL)
			continue;
		while (!stop && (b = readdir(d2)) != NULL) {
			if (!blob_fs_is_tree_dir(b->d_name))
				continue;
			snprintf(dir2, sizeof(dir2), "%s/%s", dir1, b->d_name);
			snprintf(prefix, sizeof(prefix), "%s%s", a->d_name,
			    b->d_name);
			n += blob_fs_walk_leaf(dir2, prefix, fn, arg, &stop);
		}
		closedir(d2);
	}
	closedir(d1);
	return stop ? -1 : n;
}

static int
blob_fs_locate(void *impl, const char *sha256_hex, struct mr_blob_loc *loc,
    struct mr_err *err)
{
	struct blob_fs *fs = impl;

	memset(loc, 0, sizeof(*loc));
	if (mr_blob_fs_path(fs->root, sha256_hex, loc->where, sizeof(loc->where),
	    err) < 0 || blob_fs_stat(impl, sha256_hex, &loc->size, err) < 0)
		return -1;
	/* X-Accel-Redirect names it under the web server's own prefix. */
	snprintf(loc->rel, sizeof(loc->rel), "%s",
	    loc->where + strlen(fs->root));
	loc->kind = MR_BLOB_LOC_FILE;
	return 0;
}

static int
blob_fs_sweep_op(void *impl, int64_t grace_ms, int64_t max_age_ms,
    struct mr_err *err)
{
	struct blob_fs *fs = impl;

	return mr_blob_fs_sweep_grace(fs->root, grace_ms, max_age_ms, err);
}

int
mr_blob_fs_dir_ok(const char *dir, struct mr_err *err)
{
	struct stat sb;

	if (stat(dir, &sb) < 0 || !S_ISDIR(sb.st_mode) ||
	    access(dir, R_OK | W_OK | X_OK) < 0)
		return mr_err_set(err, 503, "M_UNKNOWN",
		    "media store unavailable");
	return 0;
}

static int
blob_fs_check(void *impl, struct mr_err *err)
{
	struct blob_fs *fs = impl;

	return mr_blob_fs_dir_ok(fs->root, err);
}

const struct mr_blob_ops mr_blob_fs_ops = {
	.name = "fs",
	.wanted = blob_fs_wanted,
	.open = blob_fs_open_store,
	.close = blob_fs_close_store,
	.begin = blob_fs_begin_op,
	.write = blob_fs_write_op,
	.commit = blob_fs_commit_op,
	.abort = blob_fs_abort_op,
	.open_read = blob_fs_open_read,
	.read_at = blob_fs_read_at,
	.close_read = blob_fs_close_read,
	.map = blob_fs_map,
	.unmap = mr_blob_fs_unmap,
	.stat = blob_fs_stat,
	.remove = blob_fs_remove,
	.walk = blob_fs_walk,
	.locate = blob_fs_locate,
	.sweep = blob_fs_sweep_op,
	.check = blob_fs_check,
};
