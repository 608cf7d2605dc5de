/*
 * s3_xml: the S3 server's XML answers the backend reads: a ListObjectsV2
 * page, an initiated multipart upload's id, a completed upload, a
 * ListMultipartUploads page, and the code of an <Error>. These are bytes from outside (an S3 server, or
 * whatever answers at its address), so they go through libxml2 with no
 * network and no entity expansion, under a size cap, and every value is
 * checked against its buffer before it is copied.
 *
 * Elements are matched by local name, so any namespace prefix S3
 * servers use (or none) reads the same.
 */
#ifndef MR_S3_XML_H
#define MR_S3_XML_H

#include <stddef.h>
#include <stdint.h>

/* Larger answers are refused: a page of 1000 keys is about 300 KB. */
#define MR_S3_XML_MAX (8 * 1024 * 1024)
#define MR_S3_KEY_MAX 1024		/* S3's own limit on key bytes */
#define MR_S3_TOKEN_MAX 1024		/* continuation tokens, upload ids */

/* One object of a list page. */
struct mr_s3_object {
	char key[MR_S3_KEY_MAX + 1];
	int64_t size;
	int64_t mtime_ms;		/* LastModified; 0 when unreadable */
};

typedef int (*mr_s3_object_fn)(const struct mr_s3_object *o, void *arg);

/* A list page: fn per <Contents> (0 go on, -1 stop). */
struct mr_s3_list_page {
	int truncated;			/* IsTruncated: ask for more */
	char next_token[MR_S3_TOKEN_MAX + 1];	/* NextContinuationToken */
	int64_t count;			/* objects given to fn */
	int stopped;			/* fn said stop */
};

/*
 * Parses a ListBucketResult. -1 when it is not one (or malformed, or an
 * object lacks a key or a size, or a value is too long); a truncated page
 * without a token is malformed too (it could not be continued).
 */
int mr_s3_xml_list(const char *xml, size_t len, mr_s3_object_fn fn,
    void *arg, struct mr_s3_list_page *page);

/* The UploadId of an InitiateMultipartUploadResult; -1 when none. */
int mr_s3_xml_upload_id(const char *xml, size_t len, char *out,
    size_t outsz);

/*
 * 1 when the document's root element is `root` (S3 answers 200 with an
 * <Error> to a multipart completion that failed late), 0 when another,
 * -1 when it is no XML.
 */
int mr_s3_xml_root_is(const char *xml, size_t len, const char *root);

/* The <Code> of an <Error>, for messages; -1 when none. */
int mr_s3_xml_error_code(const char *xml, size_t len, char *out,
    size_t outsz);

/* One unfinished multipart upload of a ListMultipartUploads page. */
struct mr_s3_upload {
	char key[MR_S3_KEY_MAX + 1];
	char upload_id[MR_S3_TOKEN_MAX + 1];
	/*
	 * Initiated, as ms; -1 when missing or unreadable: an upload of
	 * unknown age could be live, so callers must leave it alone.
	 */
	int64_t initiated_ms;
};

typedef int (*mr_s3_upload_fn)(const struct mr_s3_upload *u, void *arg);

/* A ListMultipartUploads page: fn per <Upload> (0 go on, -1 stop). */
struct mr_s3_uploads_page {
	int truncated;			/* IsTruncated: ask for more */
	char next_key[MR_S3_KEY_MAX + 1];	/* NextKeyMarker */
	char next_id[MR_S3_TOKEN_MAX + 1];	/* NextUploadIdMarker, or "" */
	int64_t count;			/* uploads given to fn */
	int stopped;			/* fn said stop */
};

/*
 * Parses a ListMultipartUploadsResult. -1 when it is not one (or
 * malformed, or an upload lacks a key or an id, or a value is too long);
 * a truncated page without a NextKeyMarker is malformed too (it could
 * not be continued). Nothing is given to fn from a page that is refused.
 */
int mr_s3_xml_uploads(const char *xml, size_t len, mr_s3_upload_fn fn,
    void *arg, struct mr_s3_uploads_page *page);

/* "2024-01-02T03:04:05.678Z" (fraction optional) as ms; -1 when not. */
int mr_s3_parse_time(const char *s, int64_t *ms);

#endif
