/*
 * blob_s3: blobs as objects of an S3 bucket, chosen when s3_bucket is
 * set. The object key is the blob's SHA-256 in hex, so any number of
 * hosts sharing the bucket agree on names without talking to each other.
 *
 * Writes spool to media_store_path/tmp/<pid>-<random> while hashing (the
 * key is known only at the end), then go up at commit as one PUT, or as a
 * multipart upload of s3_part_size parts for larger blobs, each part
 * hashed as it was written; an upload that fails is aborted, so nothing
 * half-written ever has the blob's name.
 *
 * Serving programs (a store opened with create) keep a bounded local
 * cache, media_store_path/s3cache/ab/cd/<hex>: locate, open and map fetch
 * a blob there once (checking its hash) and the web server sends it with
 * X-Sendfile / X-Accel-Redirect, as it sends blob_fs's files; the least
 * recently used copies go when the cache passes s3_cache_max_bytes. The
 * admin tool (opened without create) leaves the cache alone and reads S3
 * itself, by ranges, so verify hashes what the bucket really holds.
 * With s3_presigned_redirect, mr_blob_redirect_url gives presigned GET
 * URLs instead.
 */
#ifndef MR_BLOB_S3_H
#define MR_BLOB_S3_H

#include "blob.h"

extern const struct mr_blob_ops mr_blob_s3_ops;

/* Copies idle this long are never evicted: the web server may be
 * opening the one it was just told about. */
#define MR_BLOB_S3_CACHE_GRACE_S 10

#endif
