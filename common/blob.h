/*
 * blob: content-addressed bytes behind an ops table, the only way code
 * reaches media bytes. A blob is named by the SHA-256 of its bytes, so
 * identical bytes are stored once. Callers hold an opaque store handle
 * and never see where or how bytes are kept: a writer streams and hashes,
 * commit makes the blob visible whole or not at all, and `locate` says
 * how the web server may send it itself. Backends: blob_fs (local files),
 * blob_s3 (an S3 bucket, when s3_bucket is set).
 */
#ifndef MR_BLOB_H
#define MR_BLOB_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "util.h"

#define MR_SHA256_HEX 65	/* 64 hex digits and NUL */

struct mr_blob;			/* an open store */
struct mr_blob_writer;		/* a blob being written */
struct mr_blob_reader;		/* a blob open for reading */

/* A whole blob in memory, read-only, for the decoders. */
struct mr_blob_map {
	const unsigned char *data;
	size_t len;
	void *impl;			/* the backend's */
};

/* How a blob can be sent without passing through the program. */
enum mr_blob_loc_kind {
	MR_BLOB_LOC_NONE,		/* only by reading it */
	MR_BLOB_LOC_FILE,		/* a local file: X-Sendfile / X-Accel */
	MR_BLOB_LOC_URL,		/* a URL to redirect to */
};

struct mr_blob_loc {
	enum mr_blob_loc_kind kind;
	char where[PATH_MAX];		/* the file's path, or the URL */
	char rel[128];			/* FILE: "/ab/cd/HEX", under the store */
	int64_t size;
};

/* One thing found in the store by mr_blob_walk. */
struct mr_blob_entry {
	const char *where;		/* for messages: path or key */
	const char *name;		/* its last component */
	int valid;			/* a blob name, where that blob belongs */
	int64_t size;
	int64_t mtime_ms;
};

typedef int (*mr_blob_walk_fn)(const struct mr_blob_entry *e, void *arg);

/* An unfinished write the backend keeps apart (S3: a multipart upload). */
struct mr_blob_upload {
	const char *where;		/* for messages: "s3://bucket/key" */
	const char *id;			/* the backend's id of it */
	int64_t started_ms;
};

/* What mr_blob_sweep_uploads is to do, and what it did. */
struct mr_blob_uploads {
	/* in */
	int64_t min_age_ms;		/* younger ones may be live */
	int dry_run;			/* only count and report */
	/*
	 * Per upload aborted (or, dry_run, that would be): failed NULL; per
	 * abort that failed: failed says why. NULL: not told.
	 */
	void (*fn)(const struct mr_blob_upload *u, const struct mr_err *failed,
	    void *arg);
	void *arg;
	/* out */
	int64_t aborted;		/* or would be, dry_run */
	int64_t young;			/* younger than min_age_ms, or age unknown */
	int64_t foreign;		/* not named like a blob: left alone */
	int64_t errors;			/* aborts that failed */
};

/*
 * A backend. Results follow the module: 0 done, -1 with err (404
 * M_NOT_FOUND for a missing blob, 507 for a full store, 500 otherwise);
 * remove gives 1 removed, 0 absent. commit and abort free the writer.
 */
struct mr_blob_ops {
	const char *name;
	/* 1 when the config asks for this backend; the last one says yes. */
	int (*wanted)(const struct mr_config *cfg);
	int (*open)(const struct mr_config *cfg, int create, void **impl,
	    struct mr_err *err);
	void (*close)(void *impl);
	int (*begin)(void *impl, int64_t max_size, void **w,
	    struct mr_err *err);
	int (*write)(void *w, const void *buf, size_t n, struct mr_err *err);
	int (*commit)(void *impl, void *w, char sha256_hex[MR_SHA256_HEX],
	    int64_t *size, struct mr_err *err);
	void (*abort)(void *w);
	int (*open_read)(void *impl, const char *sha256_hex, void **r,
	    int64_t *size, struct mr_err *err);
	ssize_t (*read_at)(void *r, void *buf, size_t n, int64_t off,
	    struct mr_err *err);
	void (*close_read)(void *r);
	int (*map)(void *impl, const char *sha256_hex, struct mr_blob_map *m,
	    struct mr_err *err);
	void (*unmap)(struct mr_blob_map *m);
	int (*stat)(void *impl, const char *sha256_hex, int64_t *size,
	    struct mr_err *err);
	int (*remove)(void *impl, const char *sha256_hex, struct mr_err *err);
	int64_t (*walk)(void *impl, mr_blob_walk_fn fn, void *arg,
	    struct mr_err *err);
	int (*locate)(void *impl, const char *sha256_hex,
	    struct mr_blob_loc *loc, struct mr_err *err);
	int (*sweep)(void *impl, int64_t grace_ms, int64_t max_age_ms,
	    struct mr_err *err);
	/* A URL clients may fetch the blob from: 1 made, 0 none (NULL: none). */
	int (*redirect_url)(void *impl, const char *sha256_hex, char *url,
	    size_t urlsz, struct mr_err *err);
	/* 0 when the store can take and give blobs now (for /health). */
	int (*check)(void *impl, struct mr_err *err);
	/* See mr_blob_sweep_uploads; NULL: the backend keeps none. */
	int (*sweep_uploads)(void *impl, struct mr_blob_uploads *u,
	    struct mr_err *err);
};

/*
 * The backend cfg asks for, opened; with create, made when missing (the
 * serving programs do; the admin tool, which may run as another user,
 * leaves that to the first write).
 */
int mr_blob_store_open(const struct mr_config *cfg, int create,
    struct mr_blob **out, struct mr_err *err);
void mr_blob_store_close(struct mr_blob *b);

/* A writer that must end in commit or abort; writes past max_size: 413. */
int mr_blob_begin(struct mr_blob *b, int64_t max_size,
    struct mr_blob_writer **w, struct mr_err *err);
int mr_blob_write(struct mr_blob_writer *w, const void *buf, size_t n,
    struct mr_err *err);
/* Makes the bytes visible under their hash; *size may be NULL. Frees w. */
int mr_blob_commit(struct mr_blob_writer *w, char sha256_hex[MR_SHA256_HEX],
    int64_t *size, struct mr_err *err);
/* Drops what was written; frees w. NULL is fine. */
void mr_blob_abort(struct mr_blob_writer *w);
/* Stores a whole buffer (begin, write, commit). */
int mr_blob_put(struct mr_blob *b, const void *data, size_t len,
    char sha256_hex[MR_SHA256_HEX], struct mr_err *err);
/* The name a buffer would be stored under, without storing it. */
void mr_blob_hash(const void *data, size_t len,
    char sha256_hex[MR_SHA256_HEX]);

/* Opens a blob to read ranges of it; *size is its size. */
int mr_blob_open(struct mr_blob *b, const char *sha256_hex,
    struct mr_blob_reader **r, int64_t *size, struct mr_err *err);
/* Up to n bytes at off: > 0 read, 0 past the end, -1 on error. */
ssize_t mr_blob_read_at(struct mr_blob_reader *r, void *buf, size_t n,
    int64_t off, struct mr_err *err);
void mr_blob_reader_close(struct mr_blob_reader *r);
/* The whole blob in memory (mapped where the backend can). */
int mr_blob_map(struct mr_blob *b, const char *sha256_hex,
    struct mr_blob_map *m, struct mr_err *err);
void mr_blob_unmap(struct mr_blob *b, struct mr_blob_map *m);

/* 0 and *size when the blob is there; -1 with 404 when not. */
int mr_blob_stat(struct mr_blob *b, const char *sha256_hex, int64_t *size,
    struct mr_err *err);
/* 1 removed, 0 it was not there, -1 on error. */
int mr_blob_remove(struct mr_blob *b, const char *sha256_hex,
    struct mr_err *err);
/*
 * Calls fn for everything stored (writes in progress excepted), blobs and
 * stray things alike. fn returns 0 to go on, -1 to stop. Returns how many
 * were seen, or -1: the store unreadable (err filled) or fn stopped.
 */
int64_t mr_blob_walk(struct mr_blob *b, mr_blob_walk_fn fn, void *arg,
    struct mr_err *err);
/*
 * How the web server may send the blob itself; 404 when missing, with
 * loc->where still naming where it would be, for messages.
 */
int mr_blob_locate(struct mr_blob *b, const char *sha256_hex,
    struct mr_blob_loc *loc, struct mr_err *err);

/*
 * A dead writer's bytes may still be written by a live process of the same
 * pid on another host sharing the store: they are left this long.
 */
#define MR_BLOB_SWEEP_GRACE_MS 60000
/*
 * Removes what writers left behind: a gone writer's after grace_ms idle,
 * anything idle past max_age_ms. Returns how many, or -1.
 */
int mr_blob_sweep(struct mr_blob *b, int64_t grace_ms, int64_t max_age_ms,
    struct mr_err *err);

/*
 * Unfinished uploads are left alone this long by default. An upload by a
 * serving program ends within its request_deadline (at most 24 h, the
 * config's own bound), one by the admin tool (import, migrate) within
 * the minutes its bytes take; S3's start time is the server's clock, not
 * ours. Twice the longest deadline covers both and any sane clock skew,
 * while abandoned parts cost storage only for two days: aborting a live
 * upload would fail it, so the bound errs long.
 */
#define MR_BLOB_UPLOAD_GRACE_MS (INT64_C(48) * 3600 * 1000)
/*
 * Aborts the unfinished uploads a killed process left in the store (their
 * parts cost storage and are never visible), those started u->min_age_ms
 * ago or earlier and named like a blob; others are counted and kept.
 * 1 when done (counts in u; a failed abort counts in u->errors and the
 * rest go on), 0 when the backend keeps no such uploads (blob_fs: its
 * temp files are mr_blob_sweep's), -1 when they cannot be listed.
 */
int mr_blob_sweep_uploads(struct mr_blob *b, struct mr_blob_uploads *u,
    struct mr_err *err);

/*
 * A URL the client may be redirected to for the blob (blob_s3's presigned
 * GET with s3_presigned_redirect): 1 and url, 0 when the store gives none
 * (then send the blob as usual), -1 on error.
 */
int mr_blob_redirect_url(struct mr_blob *b, const char *sha256_hex,
    char *url, size_t urlsz, struct mr_err *err);

/*
 * 0 when the store answers now: its directory is there to write into, or
 * its bucket answers a signed request; -1 with 503 otherwise. For load
 * balancers (GET /health), so it costs at most one round trip.
 */
int mr_blob_check(struct mr_blob *b, struct mr_err *err);

#endif
