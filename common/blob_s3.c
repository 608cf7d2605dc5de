/*
 * blob_s3: the S3 blob backend and its local cache (see blob_s3.h).
 */
#include "blob_s3.h"

#include <openssl/evp.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "blob_fs.h"
#include "s3.h"

/* Reads from S3 by ranges of this much: few requests, bounded memory. */
#define BLOB_S3_WINDOW (1024 * 1024)
/* S3 allows 10000 parts; s3_part_size is at least 5 MiB. */
#define BLOB_S3_MAX_PARTS 10000
/* A cached copy's time is refreshed at most this often (LRU order). */
#define BLOB_S3_TOUCH_S 60

struct blob_s3 {
	struct mr_s3 *s3;
	char root[PATH_MAX];		/* media_store_path: tmp/, s3cache/ */
	char cache[PATH_MAX];		/* root/s3cache */
	int serving;			/* opened with create: use the cache */
	int64_t cache_max;
	int64_t part_size;
	int64_t max_blob;		/* larger objects are not fetched */
	int presign;
	int64_t presign_s;
};

struct blob_s3_writer {
	struct mr_blob_fs_writer fw;	/* the spool file and the whole hash */
	EVP_MD_CTX *part_sha;		/* the current part's hash */
	int64_t part_fill;		/* bytes in the current part */
	int64_t part_size;
	char (*part_hex)[MR_SHA256_HEX];	/* finished parts' hashes */
	int nparts, cap;
};

/* A reader: a local file (the cache) or ranges of the object. */
struct blob_s3_reader {
	struct blob_s3 *s;
	int fd;				/* >= 0: read the file */
	char key[MR_SHA256_HEX];
	int64_t size;
	unsigned char *win;		/* BLOB_S3_WINDOW bytes of the object */
	int64_t win_off, win_len;
};

static int
blob_s3_wanted(const struct mr_config *cfg)
{
	return cfg->s3_bucket[0] != '\0';
}

static int
blob_s3_open_store(const struct mr_config *cfg, int create, void **impl,
    struct mr_err *err)
{
	struct blob_s3 *s = calloc(1, sizeof(*s));
	int n;

	if (s == NULL)
		return mr_err_set(err, 500, "M_UNKNOWN", "out of memory");
	n = snprintf(s->cache, sizeof(s->cache), "%s/s3cache",
	    cfg->media_store_path);
	snprintf(s->root, sizeof(s->root), "%s", cfg->media_store_path);
	if (n < 0 || (size_t)n >= sizeof(s->cache)) {
		free(s);
		return mr_err_set(err, 500, "M_UNKNOWN",
		    "media store path too long");
	}
	s->serving = create;
	s->cache_max = cfg->s3_cache_max_bytes;
	s->part_size = cfg->s3_part_size;
	s->max_blob = cfg->max_upload_size > cfg->max_remote_media_size ?
	    cfg->max_upload_size : cfg->max_remote_media_size;
	s->presign = cfg->s3_presigned_redirect;
	s->presign_s = cfg->s3_presigned_expiry / 1000;
	if (mr_s3_new(cfg, &s->s3, err) < 0) {
		free(s);
		return -1;
	}
	/* Spool and cache live on one file system: commits are renames. */
	if (create && mr_blob_fs_init_root(s->root, err) < 0)
		goto fail;
	if (create && mkdir(s->cache, 0750) < 0 && errno != EEXIST) {
		mr_err_set(err, 500, "M_UNKNOWN", "cannot create '%s': %s",
		    s->cache, strerror(errno));
		goto fail;
	}
	*impl = s;
	return 0;
fail:
	mr_s3_free(s->s3);
	free(s);
	return -1;
}

static void
blob_s3_close_store(void *impl)
{
	struct blob_s3 *s = impl;

	mr_s3_free(s->s3);
	free(s);
}

/* --- the local cache --- */

static int
blob_s3_use_cache(const struct blob_s3 *s)
{
	return s->serving && s->cache_max > 0;
}

struct blob_s3_cached {
	char *path;
	int64_t size;
	time_t mtime;
};

static int
blob_s3_cached_cmp(const void *a, const void *b)
{
	const struct blob_s3_cached *x = a, *y = b;

	return (x->mtime > y->mtime) - (x->mtime < y->mtime);
}

/* Adds the files of one cache/ab/cd directory to the list. */
static int
blob_s3_scan_leaf(const char *dir, struct blob_s3_cached **list, size_t *n,
    size_t *cap, int64_t *total)
{
	struct dirent *de;
	DIR *d = opendir(dir);

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		char path[PATH_MAX * 2];
		struct stat sb;

		if (!mr_is_lower_hex(de->d_name, 64))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (lstat(path, &sb) < 0 || !S_ISREG(sb.st_mode))
			continue;
		if (*n == *cap) {
			size_t nc = *cap ? *cap * 2 : 256;
			struct blob_s3_cached *nl = realloc(*list, nc * sizeof(**list));

			if (nl == NULL)
				break;
			*list = nl;
			*cap = nc;
		}
		if (((*list)[*n].path = strdup(path)) == NULL)
			break;
		(*list)[*n].size = (int64_t)sb.st_size;
		(*list)[*n].mtime = sb.st_mtime;
		*total += (int64_t)sb.st_size;
		(*n)++;
	}
	closedir(d);
	return 0;
}

/*
 * Brings the cache under its limit, oldest copies first, down to 90% so
 * the next copies do not each start a scan that removes one file.
 * Returns how many went.
 */
static int
blob_s3_evict(struct blob_s3 *s)
{
	struct blob_s3_cached *list = NULL;
	size_t n = 0, cap = 0;
	int64_t total = 0;
	time_t now = time(NULL);
	int removed = 0;
	DIR *d1;
	struct dirent *a;

	if ((d1 = opendir(s->cache)) == NULL)
		return 0;
	while ((a = readdir(d1)) != NULL) {
		char dir1[PATH_MAX + 8];
		struct dirent *b;
		DIR *d2;

		if (strlen(a->d_name) != 2 || !mr_is_lower_hex(a->d_name, 2))
			continue;
		snprintf(dir1, sizeof(dir1), "%s/%s", s->cache, a->d_name);
		if ((d2 = opendir(dir1)) == NULL)
			continue;
		while ((b = readdir(d2)) != NULL) {
			char dir2[PATH_MAX + 16];

			if (strlen(b->d_name) != 2 || !mr_is_lower_hex(b->d_name, 2))
				continue;
			snprintf(dir2, sizeof(dir2), "%s/%s", dir1, b->d_name);
			blob_s3_scan_leaf(dir2, &list, &n, &cap, &total);
		}
		closedir(d2);
	}
	closedir(d1);
	if (total > s->cache_max) {
		int64_t goal = s->cache_max / 10 * 9;

		qsort(list, n, sizeof(*list), blob_s3_cached_cmp);
		for (size_t i = 0; i < n && total > goal; i++) {
			if (now - list[i].mtime < MR_BLOB_S3_CACHE_GRACE_S)
				continue;
			if (unlink(list[i].path) == 0) {
				total -= list[i].size;
				removed++;
			}
		}
	}
	for (size_t i = 0; i < n; i++)
		free(list[i].path);
	free(list);
	return removed;
}

/* Makes cache/ab and cache/ab/cd. */
static int
blob_s3_cache_parents(struct blob_s3 *s, const char *hex, struct mr_err *err)
{
	char dir[PATH_MAX + 16];

	snprintf(dir, sizeof(dir), "%s/%.2s", s->cache, hex);
	if (mkdir(dir, 0750) < 0 && errno != EEXIST)
		return mr_err_set(err, 500, "M_UNKNOWN", "cannot create '%s': %s",
		    dir, strerror(errno));
	snprintf(dir, sizeof(dir), "%s/%.2s/%.2s", s->cache, hex, hex + 2);
	if (mkdir(dir, 0750) < 0 && errno != EEXIST)
		return mr_err_set(err, 500, "M_UNKNOWN", "cannot create '%s': %s",
		    dir, strerror(errno));
	return 0;
}

/* Moves a finished local file (fsynced) into the cache as hex. */
static int
blob_s3_cache_put(struct blob_s3 *s, const char *tmp_path, const char *hex,
    struct mr_err *err)
{
	char path[PATH_MAX];

	if (mr_blob_fs_path(s->cache, hex, path, sizeof(path), err) < 0 ||
	    blob_s3_cache_parents(s, hex, err) < 0)
		return -1;
	if (rename(tmp_path, path) < 0)
		return mr_err_set(err, errno == ENOSPC ? 507 : 500, "M_UNKNOWN",
		    "cannot store '%s': %s", path, strerror(errno));
	blob_s3_evict(s);
	return 0;
}

/* A download into a file, hashed on the way. */
struct blob_s3_fetch {
	int fd;
	EVP_MD_CTX *sha;
	int64_t got, max;
	const char *path;
};

static int
blob_s3_fetch_sink(void *arg, const void *buf, size_t n, struct mr_err *err)
{
	struct blob_s3_fetch *f = arg;
	const char *p = buf;
	size_t left = n;

	if (f->got + (int64_t)n > f->max)
		return mr_err_set(err, 413, "M_TOO_LARGE",
		    "stored object is larger than %lld bytes", (long long)f->max);
	if (f->sha != NULL && EVP_DigestUpdate(f->sha, buf, n) != 1)
		return mr_err_set(err, 500, "M_UNKNOWN", "SHA-256 failed");
	while (left > 0) {
		ssize_t k = write(f->fd, p, left);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return mr_err_set(err, errno == ENOSPC ? 507 : 500,
			    errno == ENOSPC ? "M_TOO_LARGE" : "M_UNKNOWN",
			    "cannot write '%s': %s", f->path, strerror(errno));
		p += k;
		left -= (size_t)k;
	}
	f->got += (int64_t)n;
	return 0;
}

/* A temp file under root/tmp named like a writer's, so sweeps know it. */
static int
blob_s3_tmp_open(struct blob_s3 *s, char *path, size_t pathsz,
    struct mr_err *err)
{
	char rnd[17];
	int fd;

	mr_random_id(rnd, 16);
	snprintf(path, pathsz, "%s/tmp/%ld-%s", s->root, (long)getpid(), rnd);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (fd < 0 && errno == ENOENT && mr_blob_fs_init_root(s->root, err) == 0)
		fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (fd < 0)
		return mr_err_set(err, errno == ENOSPC ? 507 : 500, "M_UNKNOWN",
		    "cannot create temp file '%s': %s", path, strerror(errno));
	return fd;
}

/*
 * Downloads the object hex into a new temp file, checking that its bytes
 * hash to its name. Returns the open fd (path in tmp_path), or -1.
 */
static int
blob_s3_download(struct blob_s3 *s, const char *hex, char *tmp_path,
    size_t tmpsz, struct mr_err *err)
{
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;
	char got[MR_SHA256_HEX];
	struct blob_s3_fetch f = { -1, NULL, 0, s->max_blob, tmp_path };
	int rc = -1;

	if (!mr_is_lower_hex(hex, 64))
		return mr_err_set(err, 500, "M_UNKNOWN", "invalid blob hash");
	if ((f.fd = blob_s3_tmp_open(s, tmp_path, tmpsz, err)) < 0)
		return -1;
	if ((f.sha = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(f.sha, EVP_sha256(), NULL) != 1) {
		mr_err_set(err, 500, "M_UNKNOWN", "cannot start SHA-256");
		goto done;
	}
	if (mr_s3_get(s->s3, hex, -1, -1, blob_s3_fetch_sink, &f, NULL, err) < 0)
		goto done;
	if (EVP_DigestFinal_ex(f.sha, digest, &dlen) != 1 || dlen != 32) {
		mr_err_set(err, 500, "M_UNKNOWN", "SHA-256 failed");
		goto done;
	}
	mr_hex_encode(digest, dlen, got);
	/* A wrong object is never cached under the name it does not have. */
	if (strcmp(got, hex) != 0) {
		mr_err_set(err, 502, "M_UNKNOWN", "S3 object '%s' hashes to %s",
		    hex, got);
		goto done;
	}
	if (fsync(f.fd) < 0) {
		mr_err_set(err, 500, "M_UNKNOWN", "cannot sync '%s'", tmp_path);
		goto done;
	}
	rc = 0;
done:
	EVP_MD_CTX_free(f.sha);
	if (rc < 0) {
		close(f.fd);
		unlink(tmp_path);
		return -1;
	}
	return f.fd;
}

/*
 * The cached copy of hex, fetched first when missing: its path (in path)
 * and, when fd is not NULL, an open descriptor.
 */
static int
blob_s3_cached(struct blob_s3 *s, const char *hex, char *path, size_t pathsz,
    int *fd, struct mr_err *err)
{
	char tmp[PATH_MAX];
	struct stat sb;
	int tfd;

	if (mr_blob_fs_path(s->cache, hex, path, pathsz, err) < 0)
		return -1;
	if (stat(path, &sb) == 0) {
		/* Used: keep it at the young end, without a write per hit. */
		if (time(NULL) - sb.st_mtime > BLOB_S3_TOUCH_S)
			(void)utimensat(AT_FDCWD, path, NULL, 0);
		if (fd != NULL && (*fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
			return mr_err_set(err, 500, "M_UNKNOWN",
			    "cannot open '%s': %s", path, strerror(errno));
		return 0;
	}
	if ((tfd = blob_s3_download(s, hex, tmp, sizeof(tmp), err)) < 0)
		return -1;
	if (blob_s3_cache_put(s, tmp, hex, err) < 0) {
		close(tfd);
		unlink(tmp);
		return -1;
	}
	if (fd != NULL)
		*fd = tfd;
	else
		close(tfd);
	return 0;
}

/* --- writing --- */

static void
blob_s3_writer_free(struct blob_s3_writer *w)
{
	mr_blob_fs_abort(&w->fw);
	EVP_MD_CTX_free(w->part_sha);
	free(w->part_hex);
	free(w);
}

static int
blob_s3_part_start(struct blob_s3_writer *w)
{
	w->part_fill = 0;
	return EVP_DigestInit_ex(w->part_sha, EVP_sha256(), NULL) == 1 ? 0 : -1;
}

static int
blob_s3_begin(void *impl, int64_t max_size, void **out, struct mr_err *err)
{
	struct blob_s3 *s = impl;
	struct blob_s3_writer *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return mr_err_set(err, 500, "M_UNKNOWN", "out of memory");
	w->fw.fd = -1;
	w->part_size = s->part_size;
	if (mr_blob_fs_begin(s->root, max_size, &w->fw, err) < 0) {
		free(w);
		return -1;
	}
	/* The spool is made durable locally only to become the cached copy;
	 * without a cache S3 keeps it and local syncs would be wasted. */
	w->fw.sync_steps = blob_s3_use_cache(s);
	if ((w->part_sha = EVP_MD_CTX_new()) == NULL ||
	    blob_s3_part_start(w) < 0) {
		blob_s3_writer_free(w);
		return mr_err_set(err, 500, "M_UNKNOWN", "cannot start SHA-256");
	}
	*out = w;
	return 0;
}

/* Closes the current part: its hash joins the list. */
static int
blob_s3_part_end(struct blob_s3_writer *w)
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;

	if (w->nparts == w->cap) {
		int nc = w->cap ? w->cap * 2 : 8;
		char (*nh)[MR_SHA256_HEX];

		if (nc > BLOB_S3_MAX_PARTS ||
		    (nh = realloc(w->part_hex, (size_t)nc * sizeof(*nh))) == NULL)
			return -1;
		w->part_hex = nh;
		w->cap = nc;
	}
	if (EVP_DigestFinal_ex(w->part_sha, d, &dlen) != 1 || dlen != 32)
		return -1;
	mr_hex_encode(d, dlen, w->part_hex[w->nparts++]);
	return blob_s3_part_start(w);
}

static int
blob_s3_write(void *wp, const void *buf, size_t n, struct mr_err *err)
{
	struct blob_s3_writer *w = wp;
	const unsigned char *p = buf;

	if (mr_blob_fs_write(&w->fw, buf, n, err) < 0)
		return -1;
	/* Each part's hash as it goes: a part's body is signed with it. */
	while (n > 0) {
		size_t take = (size_t)(w->part_size - w->part_fill);

		if (take > n)
			take = n;
		if (EVP_DigestUpdate(w->part_sha, p, take) != 1)
			return mr_err_set(err, 500, "M_UNKNOWN", "SHA-256 failed");
		w->part_fill += (int64_t)take;
		p += take;
		n -= take;
		if (w->part_fill == w->part_size && blob_s3_part_end(w) < 0)
			return mr_err_set(err, 413, "M_TOO_LARGE",
			    "too many parts for one object");
	}
	return 0;
}

/* Sends the spool file as parts; aborts the upload on any failure. */
static int
blob_s3_put_multipart(struct blob_s3 *s, struct blob_s3_writer *w, int fd,
    const char *hex, struct mr_err *err)
{
	char id[MR_S3_TOKEN_MAX + 1], (*etags)[128];
	int rc = 0;

	if (w->part_fill > 0 && blob_s3_part_end(w) < 0)
		return mr_err_set(err, 500, "M_UNKNOWN", "out of memory");
	if ((etags = calloc((size_t)w->nparts, sizeof(*etags))) == NULL)
		return mr_err_set(err, 500, "M_UNKNOWN", "out of memory");
	if (mr_s3_multipart_begin(s->s3, hex, id, sizeof(id), err) < 0) {
		free(etags);
		return -1;
	}
	for (int i = 0; i < w->nparts && rc == 0; i++) {
		int64_t off = (int64_t)i * w->part_size;
		int64_t len = w->fw.size - off < w->part_size ?
		    w->fw.size - off : w->part_size;

		rc = mr_s3_multipart_part(s->s3, hex, id, i + 1, fd, off,
		    len, w->part_hex[i], etags[i], sizeof(etags[i]), err);
	}
	if (rc == 0)
		rc = mr_s3_multipart_complete(s->s3, hex, id, etags, w->nparts,
		    err);
	if (rc < 0) {
		/* Best effort: what this leaves, gc aborts later
		 * (mr_blob_sweep_uploads). */
		struct mr_err ignored;

		(void)mr_s3_upload_abort(s->s3, hex, id, &ignored);
	}
	free(etags);
	return rc;
}

static int
blob_s3_upload(struct blob_s3 *s, struct blob_s3_writer *w, const char *hex,
    struct mr_err *err)
{
	int64_t have;
	int rc, fd;

	/* Same bytes already stored (by any host): keep the one copy. */
	rc = mr_s3_head(s->s3, hex, &have, err);
	if (rc == 0 && have == w->fw.size)
		return 0;
	/*
	 * Unreachable: no use sending the body. Any other answer (403 for a
	 * key that may write but not list) leaves the verdict to the PUT.
	 */
	if (rc < 0 && err->status == 503)
		return -1;
	/* Read with a descriptor of its own, from the start. */
	if ((fd = open(w->fw.tmp_path, O_RDONLY | O_CLOEXEC)) < 0)
		return mr_err_set(err, 500, "M_UNKNOWN", "cannot reopen '%s': %s",
		    w->fw.tmp_path, strerror(errno));
	if (w->fw.size <= w->part_size)
		rc = mr_s3_put_fd(s->s3, hex, fd, 0, w->fw.size, hex, err);
	else
		rc = blob_s3_put_multipart(s, w, fd, hex, err);
	close(fd);
	return rc;
}

static int
blob_s3_commit(void *impl, void *wp, char sha256_hex[MR_SHA256_HEX],
    int64_t *size, struct mr_err *err)
{
	struct blob_s3 *s = impl;
	struct blob_s3_writer *w = wp;
	int rc = -1;

	if (size != NULL)
		*size = w->fw.size;
	if (mr_blob_fs_digest(&w->fw, sha256_hex, err) < 0)
		goto done;
	if (blob_s3_upload(s, w, sha256_hex, err) < 0)
		goto done;
	rc = 0;
	/* The bytes are here already: they become the cached copy. */
	if (blob_s3_use_cache(s) && fsync(w->fw.fd) == 0) {
		struct mr_err ignored;

		if (blob_s3_cache_put(s, w->fw.tmp_path, sha256_hex,
		    &ignored) == 0) {
			close(w->fw.fd);
			w->fw.fd = -1;
		}
	}
done:
	blob_s3_writer_free(w);
	return rc;
}

static void
blob_s3_abort(void *wp)
{
	blob_s3_writer_free(wp);
}

/* --- reading --- */

static int
blob_s3_open_read(void *impl, const char *hex, void **out, int64_t *size,
    struct mr_err *err)
{
	struct blob_s3 *s = impl;
	struct blob_s3_reader *r = calloc(1, sizeof(*r));
	char path[PATH_MAX];
	struct stat sb;

	if (r == NULL)
		return mr_err_set(err, 500, "M_UNKNOWN", "out of memory");
	r->s = s;
	r->fd = -1;
	if (!mr_is_lower_hex(hex, 64)) {
		free(r);
		return mr_err_set(err, 500, "M_UNKNOWN", "invalid blob hash");
	}
	snprintf(r->key, sizeof(r->key), "%s", hex);
	if (blob_s3_use_cache(s)) {
		if (blob_s3_cached(s, hex, path, sizeof(path), &r->fd, err) < 0 ||
		    fstat(r->fd, &sb) < 0) {
			if (r->fd >= 0)
				close(r->fd);
			free(r);
			return err->status ? -1 : mr_err_set(err, 500,
			    "M_UNKNOWN", "cannot stat cached blob");
		}
		r->size = (int64_t)sb.st_size;
	} else if (mr_s3_head(s->s3, hex, &r->size, err) < 0) {
		free(r);
		return -1;
	}
	*size = r->size;
	*out = r;
	return 0;
}

static int
blob_s3_window_sink(void *arg, const void *buf, size_t n, struct mr_err *err)
{
	struct blob_s3_reader *r = arg;

	if (r->win_len + (int64_t)n > BLOB_S3_WINDOW)
		return mr_err_set(err, 502, "M_UNKNOWN",
		    "S3 sent more than the range asked");
	memcpy(r->win + r->win_len, buf, n);
	r->win_len += (int64_t)n;
	return 0;
}

static ssize_t
blob_s3_read_at(void *rp, void *buf, size_t n, int64_t off,
    struct mr_err *err)
{
	struct blob_s3_reader *r = rp;
	int64_t last;
	ssize_t k;

	if (r->fd >= 0) {
		while ((k = pread(r->fd, buf, n, (off_t)off)) < 0 && errno == EINTR)
			;
		if (k < 0)
			return mr_err_set(err, 500, "M_UNKNOWN",
			    "cannot read media: %s", strerror(errno));
		return k;
	}
	if (off >= r->size || n == 0)
		return 0;
	if (off < r->win_off || off >= r->win_off + r->win_len) {
		if (r->win == NULL && (r->win = malloc(BLOB_S3_WINDOW)) == NULL)
			return mr_err_set(err, 500, "M_UNKNOWN", "out of memory");
		r->win_off = off;
		r->win_len = 0;
		last = off + BLOB_S3_WINDOW - 1 < r->size - 1 ?
		    off + BLOB_S3_WINDOW - 1 : r->size - 1;
		if (mr_s3_get(r->s->s3, r->key, off, last, blob_s3_window_sink, r,
		    NULL, err) < 0) {
			r->win_len = 0;
			return -1;
		}
		if (r->win_len == 0)
			return 0;
	}
	k = (ssize_t)(r->win_off + r->win_len - off);
	if ((size_t)k > n)
		k = (ssize_t)n;
	memcpy(buf, r->win + (off - r->win_off), (size_t)k);
	return k;
}

static void
blob_s3_close_read(void *rp)
{
	struct blob_s3_reader *r = rp;

	if (r->fd >= 0)
		close(r->fd);
	free(r->win);
	free(r);
}

static int
blob_s3_map(void *impl, const char *hex, struct mr_blob_map *m,
    struct mr_err *err)
{
	struct blob_s3 *s = impl;
	char path[PATH_MAX];
	struct stat sb;
	int fd = -1;

	m->data = NULL;
	m->len = 0;
	m->impl = NULL;
	if (blob_s3_use_cache(s)) {
		if (blob_s3_cached(s, hex, path, sizeof(path), &fd, err) < 0)
			return -1;
	} else {
		/* A private copy, gone from the directory once mapped. */
		if ((fd = blob_s3_download(s, hex, path, sizeof(path), err)) < 0)
			return -1;
		unlink(path);
	}
	if (fstat(fd, &sb) < 0) {
		close(fd);
		return mr_err_set(err, 500, "M_UNKNOWN", "cannot stat blob copy");
	}
	return mr_blob_fs_map_fd(fd, (int64_t)sb.st_size, m, err);
}

static int
blob_s3_stat(void *impl, const char *hex, int64_t *size, struct mr_err *err)
{
	struct blob_s3 *s = impl;
	char path[PATH_MAX];
	struct stat sb;

	if (!mr_is_lower_hex(hex, 64))
		return mr_err_set(err, 500, "M_UNKNOWN", "invalid blob hash");
	/* A cached copy was checked against its name: the blob exists. */
	if (blob_s3_use_cache(s) && mr_blob_fs_path(s->cache, hex, path,
	    sizeof(path), err) == 0 && stat(path, &sb) == 0) {
		*size = (int64_t)sb.st_size;
		return 0;
	}
	return mr_s3_head(s->s3, hex, size, err);
}

static int
blob_s3_remove(void *impl, const char *hex, struct mr_err *err)
{
	struct blob_s3 *s = impl;
	char path[PATH_MAX];
	int64_t size;

	if (!mr_is_lower_hex(hex, 64))
		return mr_err_set(err, 500, "M_UNKNOWN", "invalid blob hash");
	/* This host's copy goes too; other hosts' age out of their caches. */
	if (mr_blob_fs_path(s->cache, hex, path, sizeof(path), err) == 0)
		(void)unlink(path);
	/* DELETE answers alike for absent objects: HEAD tells them apart. */
	if (mr_s3_head(s->s3, hex, &size, err) < 0)
		return err->status == 404 ? 0 : -1;
	return mr_s3_delete(s->s3, hex, err) < 0 ? -1 : 1;
}

struct blob_s3_walk {
	struct blob_s3 *s;
	mr_blob_walk_fn fn;
	void *arg;
};

static int
blob_s3_walk_one(const struct mr_s3_object *o, void *arg)
{
	struct blob_s3_walk *w = arg;
	char where[MR_S3_KEY_MAX + 80];
	struct mr_blob_entry e;

	mr_s3_where(w->s->s3, o->key, where, sizeof(where));
	e.where = where;
	e.name = o->key;
	e.valid = mr_is_lower_hex(o->key, 64);
	e.size = o->size;
	/*
	 * Whole seconds, as files have: the gc compares with time(NULL). An
	 * unreadable LastModified counts as now: the gc leaves young blobs
	 * alone (one may be named by a row any moment), and an unknown age
	 * must not look ancient.
	 */
	e.mtime_ms = o->mtime_ms > 0 ? o->mtime_ms / 1000 * 1000 :
	    (int64_t)time(NULL) * 1000;
	return w->fn(&e, w->arg);
}

static int64_t
blob_s3_walk(void *impl, mr_blob_walk_fn fn, void *arg, struct mr_err *err)
{
	struct blob_s3 *s = impl;
	struct blob_s3_walk w = { s, fn, arg };
	struct mr_s3_list_page page;
	char token[MR_S3_TOKEN_MAX + 1] = "";
	int64_t n = 0;

	do {
		if (mr_s3_list(s->s3, token, blob_s3_walk_one, &w, &page, err) < 0)
			return -1;
		n += page.count;
		if (page.stopped)
			return -1;
		snprintf(token, sizeof(token), "%s", page.next_token);
	} while (page.truncated);
	return n;
}

static int
blob_s3_locate(void *impl, const char *hex, struct mr_blob_loc *loc,
    struct mr_err *err)
{
	struct blob_s3 *s = impl;
	struct stat sb;

	memset(loc, 0, sizeof(*loc));
	if (!mr_is_lower_hex(hex, 64))
		return mr_err_set(err, 500, "M_UNKNOWN", "invalid blob hash");
	mr_s3_where(s->s3, hex, loc->where, sizeof(loc->where));
	if (!blob_s3_use_cache(s)) {
		/* Only by reading it (the admin tool, or no cache). */
		if (mr_s3_head(s->s3, hex, &loc->size, err) < 0)
			return -1;
		loc->kind = MR_BLOB_LOC_NONE;
		return 0;
	}
	if (blob_s3_cached(s, hex, loc->where, sizeof(loc->where), NULL,
	    err) < 0) {
		if (err->status == 404)
			mr_s3_where(s->s3, hex, loc->where, sizeof(loc->where));
		return -1;
	}
	if (stat(loc->where, &sb) < 0)
		return mr_err_set(err, 500, "M_UNKNOWN", "cached copy vanished");
	loc->size = (int64_t)sb.st_size;
	/* Under media_store_path, where the web server already looks. */
	snprintf(loc->rel, sizeof(loc->rel), "/s3cache/%.2s/%.2s/%s", hex,
	    hex + 2, hex);
	loc->kind = MR_BLOB_LOC_FILE;
	return 0;
}

static int
blob_s3_sweep(void *impl, int64_t grace_ms, int64_t max_age_ms,
    struct mr_err *err)
{
	struct blob_s3 *s = impl;
	int n = mr_blob_fs_sweep_grace(s->root, grace_ms, max_age_ms, err);

	if (n < 0)
		return -1;
	return n + (blob_s3_use_cache(s) ? blob_s3_evict(s) : 0);
}

struct blob_s3_uploads {
	struct blob_s3 *s;
	struct mr_blob_uploads *u;
	int64_t now_ms;
};

static int
blob_s3_upload_one(const struct mr_s3_upload *up, void *arg)
{
	struct blob_s3_uploads *w = arg;
	struct mr_blob_uploads *u = w->u;
	char where[MR_S3_KEY_MAX + 80];
	struct mr_blob_upload bu = { where, up->upload_id, up->initiated_ms };
	struct mr_err err;

	/*
	 * Only our own layout (a key is a blob's hash): anything else in the
	 * bucket is someone else's, whatever its age.
	 */
	if (!mr_is_lower_hex(up->key, 64)) {
		u->foreign++;
		return 0;
	}
	/* Of unknown age (or from a clock ahead of ours): could be live. */
	if (up->initiated_ms < 0 || w->now_ms - up->initiated_ms <
	    u->min_age_ms) {
		u->young++;
		return 0;
	}
	mr_s3_where(w->s->s3, up->key, where, sizeof(where));
	if (!u->dry_run && mr_s3_upload_abort(w->s->s3, up->key,
	    up->upload_id, &err) < 0) {
		u->errors++;
		if (u->fn != NULL)
			u->fn(&bu, &err, u->arg);
		return 0;
	}
	u->aborted++;
	if (u->fn != NULL)
		u->fn(&bu, NULL, u->arg);
	return 0;
}

static int
blob_s3_sweep_uploads(void *impl, struct mr_blob_uploads *u,
    struct mr_err *err)
{
	struct blob_s3 *s = impl;
	struct blob_s3_uploads w = { s, u, (int64_t)time(NULL) * 1000 };
	struct mr_s3_uploads_page page;
	char key[MR_S3_KEY_MAX + 1] = "", id[MR_S3_TOKEN_MAX + 1] = "";

	do {
		if (mr_s3_list_uploads(s->s3, key, id, blob_s3_upload_one, &w,
		    &page, err) < 0)
			return -1;
		/* A server that names the same page again would loop forever. */
		if (page.truncated && strcmp(page.next_key, key) == 0 &&
		    strcmp(page.next_id, id) == 0)
			return mr_err_set(err, 502, "M_UNKNOWN", "S3 list of the "
			    "multipart uploads of the bucket does not advance");
		snprintf(key, sizeof(key), "%s", page.next_key);
		snprintf(id, sizeof(id), "%s", page.next_id);
	} while (page.truncated);
	return 0;
}

static int
blob_s3_redirect_url(void *impl, const char *hex, char *url, size_t urlsz,
    struct mr_err *err)
{
	struct blob_s3 *s = impl;

	if (!s->presign)
		return 0;
	if (!mr_is_lower_hex(hex, 64))
		return mr_err_set(err, 500, "M_UNKNOWN", "invalid blob hash");
	return mr_s3_presign_get(s->s3, hex, s->presign_s, url, urlsz, err) < 0 ?
	    -1 : 1;
}

/*
 * The local directory takes spool files and the bucket answers a signed
 * HEAD: "no such key" is an answer, so the name of no blob will do.
 */
static int
blob_s3_check(void *impl, struct mr_err *err)
{
	static const char no_blob[] =
	    "0000000000000000000000000000000000000000000000000000000000000000";
	struct blob_s3 *s = impl;
	int64_t size;

	if (mr_blob_fs_dir_ok(s->root, err) < 0)
		return -1;
	if (mr_s3_head(s->s3, no_blob, &size, err) == 0 || err->status == 404)
		return 0;
	return mr_err_set(err, 503, "M_UNKNOWN", "media store unavailable: "
	    "the S3 bucket does not answer");
}

const struct mr_blob_ops mr_blob_s3_ops = {
	.name = "s3",
	.wanted = blob_s3_wanted,
	.open = blob_s3_open_store,
	.close = blob_s3_close_store,
	.begin = blob_s3_begin,
	.write = blob_s3_write,
	.commit = blob_s3_commit,
	.abort = blob_s3_abort,
	.open_read = blob_s3_open_read,
	.read_at = blob_s3_read_at,
	.close_read = blob_s3_close_read,
	.map = blob_s3_map,
	.unmap = mr_blob_fs_unmap,
	.stat = blob_s3_stat,
	.remove = blob_s3_remove,
	.walk = blob_s3_walk,
	.locate = blob_s3_locate,
	.sweep = blob_s3_sweep,
	.redirect_url = blob_s3_redirect_url,
	.check = blob_s3_check,
	.sweep_uploads = blob_s3_sweep_uploads,
};
