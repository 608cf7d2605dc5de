/*
 * s3_sign: the pieces of AWS Signature Version 4 that libcurl does not do
 * right (or at all) for S3 servers that check strictly: object keys and
 * query strings written canonical, the signing key, and presigned GET
 * URLs (query-string SigV4). Pure functions of their arguments (the time
 * is given, never read), so the AWS documented examples test them.
 *
 * Every function writes into the caller's buffer and returns 0, or -1
 * when the result does not fit (the buffer then holds nothing useful).
 */
#ifndef MR_S3_SIGN_H
#define MR_S3_SIGN_H

#include <stddef.h>
#include <stdint.h>

#define MR_S3_AMZ_DATE_LEN 16		/* "YYYYMMDDTHHMMSSZ" */
#define MR_S3_PRESIGN_MAX_EXPIRES 604800	/* SigV4's own cap: 7 days */

/*
 * RFC 3986 %-encoding as SigV4 wants it: every byte outside A-Za-z0-9-._~
 * as %XX with uppercase hex; '/' kept literal when keep_slash (object
 * keys in a path), encoded otherwise (query values).
 */
int mr_s3_uri_encode(const char *in, size_t len, int keep_slash, char *out,
    size_t outsz);

/* One query parameter, raw (not yet encoded); value NULL for a bare one. */
struct mr_s3_param {
	const char *name;
	const char *value;
};

/*
 * The canonical query string: parameters sorted by encoded name (then
 * value), each "name=value" encoded, a bare parameter as "name=", joined
 * by '&'. The same string is sent and signed, so it must be exactly this.
 */
int mr_s3_canonical_query(const struct mr_s3_param *params, size_t n,
    char *out, size_t outsz);

/* The SigV4 signing key for date "YYYYMMDD", region and service. */
void mr_s3_signing_key(const char *secret, const char *date8,
    const char *region, const char *service, unsigned char key[32]);

/* "YYYYMMDDTHHMMSSZ" of a Unix time, UTC. */
void mr_s3_amz_date(int64_t unix_s, char out[MR_S3_AMZ_DATE_LEN + 1]);

/* What a presigned GET URL is made of. */
struct mr_s3_presign {
	const char *scheme_host;	/* "https://host[:port]", no slash */
	const char *host;		/* the Host header: "host[:port]" */
	const char *path;		/* already encoded: "/bucket/key" */
	const char *region;
	const char *access_key;
	const char *secret_key;
	const char *amz_date;		/* "YYYYMMDDTHHMMSSZ" */
	int64_t expires_s;		/* 1 to MR_S3_PRESIGN_MAX_EXPIRES */
};

/*
 * The URL a client may GET without credentials until amz_date + expires
 * (X-Amz-SignedHeaders=host, UNSIGNED-PAYLOAD). -1 also when expires_s
 * is out of range.
 */
int mr_s3_presign_url(const struct mr_s3_presign *p, char *out, size_t outsz);

#endif
