/*
 * blob: content-addressed bytes on disk, the only module that writes media
 * files. A blob lives at ROOT/ab/cd/<sha256 hex>. Writers stream into
 * ROOT/tmp/<pid>-<random>, hashing as they go; commit fsyncs and renames
 * the file into place, so a reader never sees half a file and identical
 * bytes are stored once. A crash leaves at most a temp file, which
 * mr_blob_sweep removes.
 */
#ifndef MR_BLOB_H
#define MR_BLOB_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

#include "util.h"

#define MR_SHA256_HEX 65	/* 64 hex digits and NUL */

struct mr_blob_writer {
	int fd;				/* -1 when not open */
	char tmp_path[PATH_MAX];
	crypto_hash_sha256_state hash;
	int64_t size;
	int64_t max_size;		/* writes past this fail with 413 */
};

/* Creates ROOT and ROOT/tmp when missing. */
int mr_blob_init_root(const char *root, struct mr_err *err);
/* Opens a temp file; w must be released with commit or abort. */
int mr_blob_begin(const char *root, int64_t max_size,
    struct mr_blob_writer *w, struct mr_err *err);
int mr_blob_write(struct mr_blob_writer *w, const void *buf, size_t n,
    struct mr_err *err);
/* fsync, rename into place (or drop the copy if the blob exists). */
int mr_blob_commit(const char *root, struct mr_blob_writer *w,
    char sha256_hex[MR_SHA256_HEX], struct mr_err *err);
/* Removes the temp file; safe to call twice. */
void mr_blob_abort(struct mr_blob_writer *w);

/* Stores a whole buffer (begin, write, commit). */
int mr_blob_put(const char *root, const void *data, size_t len,
    char sha256_hex[MR_SHA256_HEX], struct mr_err *err);
/* The name a buffer would be stored under, without storing it. */
void mr_blob_hash(const void *data, size_t len,
    char sha256_hex[MR_SHA256_HEX]);

/* ROOT/ab/cd/hex; sha256_hex must be 64 lowercase hex digits. */
int mr_blob_path(const char *root, const char *sha256_hex, char *out,
    size_t outsz, struct mr_err *err);
/* Opens a blob for reading; *size from fstat. */
int mr_blob_open(const char *root, const char *sha256_hex, int *fd,
    int64_t *size, struct mr_err *err);
/*
 * Removes temp files whose writer is gone: the pid in the name no longer
 * runs and the file has been idle for MR_BLOB_SWEEP_GRACE_MS, or the file
 * has not been written for max_age_ms. Returns how many were removed, or
 * -1.
 */
int mr_blob_sweep(const char *root, int64_t max_age_ms, struct mr_err *err);
/*
 * A dead writer's file may still be written by a live process of the same
 * pid on another host sharing the store: it is left this long.
 */
#define MR_BLOB_SWEEP_GRACE_MS 60000
/* mr_blob_sweep with that grace chosen (0: as soon as the writer is gone). */
int mr_blob_sweep_grace(const char *root, int64_t grace_ms,
    int64_t max_age_ms, struct mr_err *err);

#endif
