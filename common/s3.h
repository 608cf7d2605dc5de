/*
 * s3: a small S3 client for one bucket, over libcurl with SigV4
 * (CURLOPT_AWS_SIGV4), made to pass servers that check strictly (Ceph
 * RGW): every request carries x-amz-content-sha256 (the body's hash, which
 * the server checks), a Content-Length, a canonical query string and a
 * %-encoded key (s3_sign.h). URLs are path-style: ENDPOINT/BUCKET/KEY.
 *
 * Bodies stream from a file range and into a caller's sink, so memory
 * stays flat whatever the object's size; only XML answers (lists,
 * multipart ids) are held, under MR_S3_XML_MAX.
 *
 * Errors: -1 with err: 404 M_NOT_FOUND for a missing object, 503 when
 * the server cannot be reached, times out (s3_connect_timeout, or no
 * progress for s3_timeout) or answers 5xx, 502 when it refuses (4xx: a
 * wrong key or secret, a missing bucket). One struct mr_s3 per process
 * keeps its curl handle, so connections are reused.
 */
#ifndef MR_S3_H
#define MR_S3_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "s3_xml.h"
#include "util.h"

struct mr_s3;

/* Where a GET's body goes; -1 stops the transfer (err filled). */
typedef int (*mr_s3_sink)(void *arg, const void *buf, size_t len,
    struct mr_err *err);

/* The client of cfg's s3_* settings (s3_bucket must be set). */
int mr_s3_new(const struct mr_config *cfg, struct mr_s3 **out,
    struct mr_err *err);
void mr_s3_free(struct mr_s3 *s);

/* "s3://bucket/key", for messages. */
void mr_s3_where(const struct mr_s3 *s, const char *key, char *out,
    size_t outsz);

/* PUT len bytes of fd from off, whose SHA-256 is sha256_hex. */
int mr_s3_put_fd(struct mr_s3 *s, const char *key, int fd, int64_t off,
    int64_t len, const char *sha256_hex, struct mr_err *err);
/*
 * GET the object, or bytes [first, last] of it when first >= 0, into
 * sink. *size (may be NULL) is the object's whole size.
 */
int mr_s3_get(struct mr_s3 *s, const char *key, int64_t first, int64_t last,
    mr_s3_sink sink, void *arg, int64_t *size, struct mr_err *err);
/* HEAD: 0 and *size when there, -1 with 404 when not. */
int mr_s3_head(struct mr_s3 *s, const char *key, int64_t *size,
    struct mr_err *err);
/* DELETE (S3 answers the same whether it was there or not). */
int mr_s3_delete(struct mr_s3 *s, const char *key, struct mr_err *err);
/*
 * One ListObjectsV2 page (up to 1000 keys) after token (NULL or "" for
 * the first); fn per object. page->truncated: ask again with
 * page->next_token.
 */
int mr_s3_list(struct mr_s3 *s, const char *token, mr_s3_object_fn fn,
    void *arg, struct mr_s3_list_page *page, struct mr_err *err);

/* Multipart upload: begin, parts 1..n (each but the last >= 5 MiB), end. */
int mr_s3_multipart_begin(struct mr_s3 *s, const char *key, char *upload_id,
    size_t idsz, struct mr_err *err);
/* One part; its ETag (quotes and all) goes to etag for the completion. */
int mr_s3_multipart_part(struct mr_s3 *s, const char *key,
    const char *upload_id, int part, int fd, int64_t off, int64_t len,
    const char *sha256_hex, char *etag, size_t etagsz, struct mr_err *err);
int mr_s3_multipart_complete(struct mr_s3 *s, const char *key,
    const char *upload_id, char (*etags)[128], int nparts,
    struct mr_err *err);
/* Drops a multipart upload and the parts sent so far: 0 also when it is
 * gone already. */
int mr_s3_upload_abort(struct mr_s3 *s, const char *key,
    const char *upload_id, struct mr_err *err);
/*
 * One ListMultipartUploads page (up to 1000 unfinished uploads) after the
 * markers (NULL or "" for the first page); fn per upload. page->truncated:
 * ask again with page->next_key and page->next_id.
 */
int mr_s3_list_uploads(struct mr_s3 *s, const char *key_marker,
    const char *id_marker, mr_s3_upload_fn fn, void *arg,
    struct mr_s3_uploads_page *page, struct mr_err *err);

/*
 * A GET URL for key that anyone may use for expires_s seconds from now,
 * on s3_public_endpoint (signed for its host) when that is set.
 */
int mr_s3_presign_get(struct mr_s3 *s, const char *key, int64_t expires_s,
    char *url, size_t urlsz, struct mr_err *err);

#endif
