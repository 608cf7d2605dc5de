/*
 * blob_fs: blobs as local files. A blob lives at ROOT/ab/cd/<sha256 hex>.
 * Writers stream into ROOT/tmp/<pid>-<random>, hashing as they go; commit
 * fsyncs and renames the file into place, so a reader never sees half a
 * file and identical bytes are stored once. A crash leaves at most a temp
 * file, which the sweep removes. mr_blob_fs_ops is its blob.h face; the
 * root-based functions below are for it and its tests.
 */
#ifndef MR_BLOB_FS_H
#define MR_BLOB_FS_H

#include "blob.h"

extern const struct mr_blob_ops mr_blob_fs_ops;

struct mr_blob_fs_writer {
	int fd;				/* -1 when not open */
	char tmp_path[PATH_MAX];
	/* libcrypto's SHA-256 (SHA-NI where the CPU has it, about four times
	 * libsodium's here): an upload is hashed as it streams. */
	struct evp_md_ctx_st *sha;
	int64_t size;
	int64_t max_size;		/* writes past this fail with 413 */
	/* Sync in MR_BLOB_FS_SYNC_STEP steps while writing (begin sets it):
	 * for a file that is fsynced at the end. */
	int sync_steps;
	/* The helper threads of a large upload (NULL until then): one reads
	 * back what was written and owns sha while it runs, one syncs. */
	struct mr_blob_fs_hasher *hasher;
};

/*
 * Past this many bytes a writer hashes on a second thread, which reads
 * the temp file back from the page cache behind the writes (blob_fs.c):
 * on two cores the hash then overlaps reading and writing the body.
 * Smaller blobs (thumbnails, most media) stay on one thread. The thread
 * never outlives the writer: commit, digest and abort join it.
 */
#define MR_BLOB_FS_THREAD_MIN (INT64_C(1) << 20)

/*
 * Every this many bytes a large writer's syncing thread makes what it has
 * so far durable (fdatasync) while the rest arrives: commit's fsync then
 * flushes the last step only, not a whole upload (blob_fs.c says why
 * starting writeback is not enough). The thread starts at the first step.
 */
#define MR_BLOB_FS_SYNC_STEP (INT64_C(16) << 20)

/* Creates ROOT and ROOT/tmp when missing. */
int mr_blob_fs_init_root(const char *root, struct mr_err *err);
/* Opens a temp file; w must be released with commit or abort. */
int mr_blob_fs_begin(const char *root, int64_t max_size,
    struct mr_blob_fs_writer *w, struct mr_err *err);
int mr_blob_fs_write(struct mr_blob_fs_writer *w, const void *buf, size_t n,
    struct mr_err *err);
/* Bytes the syncing thread has made durable so far (0 without one). */
int64_t mr_blob_fs_synced(struct mr_blob_fs_writer *w);
/* fsync, rename into place (or drop the copy if the blob exists). */
int mr_blob_fs_commit(const char *root, struct mr_blob_fs_writer *w,
    char sha256_hex[MR_SHA256_HEX], struct mr_err *err);
/*
 * Ends the hash: waits for the hashing thread, if any, and gives the
 * SHA-256 of everything written. For writers that commit elsewhere
 * (blob_s3's spool); w must still be committed or aborted after.
 */
int mr_blob_fs_digest(struct mr_blob_fs_writer *w,
    char sha256_hex[MR_SHA256_HEX], struct mr_err *err);
/* Removes the temp file and stops any hashing thread; safe to call twice. */
void mr_blob_fs_abort(struct mr_blob_fs_writer *w);
/* ROOT/ab/cd/hex; sha256_hex must be 64 lowercase hex digits. */
int mr_blob_fs_path(const char *root, const char *sha256_hex, char *out,
    size_t outsz, struct mr_err *err);
/* Opens a blob for reading; *size from fstat. */
int mr_blob_fs_open(const char *root, const char *sha256_hex, int *fd,
    int64_t *size, struct mr_err *err);
/* Maps size bytes of fd into m and closes fd (also on failure). */
int mr_blob_fs_map_fd(int fd, int64_t size, struct mr_blob_map *m,
    struct mr_err *err);
/* Undoes mr_blob_fs_map_fd. */
void mr_blob_fs_unmap(struct mr_blob_map *m);
/*
 * Removes temp files whose writer is gone: the pid in the name no longer
 * runs and the file has been idle for MR_BLOB_SWEEP_GRACE_MS, or the file
 * has not been written for max_age_ms. Returns how many were removed, or
 * -1.
 */
int mr_blob_fs_sweep(const char *root, int64_t max_age_ms,
    struct mr_err *err);
/* 0 when dir is a directory this process may write into; 503 if not. */
int mr_blob_fs_dir_ok(const char *dir, struct mr_err *err);
/* mr_blob_fs_sweep with that grace chosen (0: once the writer is gone). */
int mr_blob_fs_sweep_grace(const char *root, int64_t grace_ms,
    int64_t max_age_ms, struct mr_err *err);

#endif
