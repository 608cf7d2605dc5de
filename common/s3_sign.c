/*
 * s3_sign: canonical keys and queries, signing keys and presigned URLs
 * for SigV4 (see s3_sign.h).
 */
#include "s3_sign.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "util.h"

/* The query of a presigned URL has six parameters, one of them ours. */
#define S3_SIGN_QUERY_MAX 8

static int
s3_sign_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	    c == '~';
}

int
mr_s3_uri_encode(const char *in, size_t len, int keep_slash, char *out,
    size_t outsz)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];

		if (s3_sign_unreserved(c) || (keep_slash && c == '/')) {
			if (o + 1 >= outsz)
				return -1;
			out[o++] = (char)c;
		} else {
			if (o + 3 >= outsz)
				return -1;
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	if (o >= outsz)
		return -1;
	out[o] = '\0';
	return 0;
}

/* One parameter, encoded, kept for sorting. */
struct s3_sign_enc {
	char *name, *value;
};

static int
s3_sign_enc_cmp(const void *a, const void *b)
{
	const struct s3_sign_enc *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c != 0 ? c : strcmp(x->value, y->value);
}

/* A malloc'ed encoding of s (3 bytes per byte at most). */
static char *
s3_sign_enc_dup(const char *s)
{
	size_t n = strlen(s), sz = n * 3 + 1;
	char *out = malloc(sz);

	if (out != NULL && mr_s3_uri_encode(s, n, 0, out, sz) < 0) {
		free(out);
		out = NULL;
	}
	return out;
}

int
mr_s3_canonical_query(const struct mr_s3_param *params, size_t n, char *out,
    size_t outsz)
{
	struct s3_sign_enc *e = calloc(n ? n : 1, sizeof(*e));
	size_t o = 0;
	int rc = -1;

	if (e == NULL || outsz == 0)
		goto done;
	for (size_t i = 0; i < n; i++) {
		e[i].name = s3_sign_enc_dup(params[i].name);
		e[i].value = s3_sign_enc_dup(params[i].value ?
		    params[i].value : "");
		if (e[i].name == NULL || e[i].value == NULL)
			goto done;
	}
	qsort(e, n, sizeof(*e), s3_sign_enc_cmp);
	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		int k = snprintf(out + o, outsz - o, "%s%s=%s", i ? "&" : "",
		    e[i].name, e[i].value);

		if (k < 0 || (size_t)k >= outsz - o)
			goto done;
		o += (size_t)k;
	}
	rc = 0;
done:
	for (size_t i = 0; e != NULL && i < n; i++) {
		free(e[i].name);
		free(e[i].value);
	}
	free(e);
	return rc;
}

static void
s3_sign_hmac(const unsigned char *key, size_t keylen, const char *msg,
    unsigned char out[32])
{
	crypto_auth_hmacsha256_state st;

	crypto_auth_hmacsha256_init(&st, key, keylen);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)msg,
	    strlen(msg));
	crypto_auth_hmacsha256_final(&st, out);
	sodium_memzero(&st, sizeof(st));
}

void
mr_s3_signing_key(const char *secret, const char *date8, const char *region,
    const char *service, unsigned char key[32])
{
	size_t n = strlen(secret) + 5;
	char *k0 = malloc(n);
	unsigned char k[32];

	/* kSecret = "AWS4" + secret; a secret too large to copy signs nothing. */
	if (k0 == NULL) {
		memset(key, 0, 32);
		return;
	}
	snprintf(k0, n, "AWS4%s", secret);
	s3_sign_hmac((const unsigned char *)k0, n - 1, date8, k);
	sodium_memzero(k0, n);
	free(k0);
	s3_sign_hmac(k, sizeof(k), region, k);
	s3_sign_hmac(k, sizeof(k), service, k);
	s3_sign_hmac(k, sizeof(k), "aws4_request", key);
	sodium_memzero(k, sizeof(k));
}

void
mr_s3_amz_date(int64_t unix_s, char out[MR_S3_AMZ_DATE_LEN + 1])
{
	time_t t = (time_t)unix_s;
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, MR_S3_AMZ_DATE_LEN + 1, "%Y%m%dT%H%M%SZ", &tm);
}

static void
s3_sign_sha256_hex(const char *s, char hex[65])
{
	unsigned char d[crypto_hash_sha256_BYTES];

	crypto_hash_sha256(d, (const unsigned char *)s, strlen(s));
	mr_hex_encode(d, sizeof(d), hex);
}

/* The string to sign of a presigned GET, in buf (malloc'ed by caller). */
static int
s3_sign_presign_sts(const struct mr_s3_presign *p, const char *query,
    const char *scope, char *buf, size_t bufsz)
{
	char creq_hash[65];
	size_t creqsz = strlen(p->path) + strlen(query) + strlen(p->host) + 64;
	char *creq = malloc(creqsz);
	int k;

	if (creq == NULL)
		return -1;
	/* Method, path, query, headers (host only), signed headers, payload. */
	k = snprintf(creq, creqsz, "GET\n%s\n%s\nhost:%s\n\nhost\n"
	    "UNSIGNED-PAYLOAD", p->path, query, p->host);
	if (k < 0 || (size_t)k >= creqsz) {
		free(creq);
		return -1;
	}
	s3_sign_sha256_hex(creq, creq_hash);
	free(creq);
	k = snprintf(buf, bufsz, "AWS4-HMAC-SHA256\n%s\n%s\n%s", p->amz_date,
	    scope, creq_hash);
	return k < 0 || (size_t)k >= bufsz ? -1 : 0;
}

int
mr_s3_presign_url(const struct mr_s3_presign *p, char *out, size_t outsz)
{
	char scope[256], credential[512], expires[24], sts[512], sig[65];
	char query[2048];
	unsigned char key[32], mac[32];
	struct mr_s3_param q[S3_SIGN_QUERY_MAX] = {
		{ "X-Amz-Algorithm", "AWS4-HMAC-SHA256" },
		{ "X-Amz-Credential", credential },
		{ "X-Amz-Date", p->amz_date },
		{ "X-Amz-Expires", expires },
		{ "X-Amz-SignedHeaders", "host" },
	};
	int k;

	if (p->expires_s < 1 || p->expires_s > MR_S3_PRESIGN_MAX_EXPIRES ||
	    strlen(p->amz_date) != MR_S3_AMZ_DATE_LEN)
		return -1;
	k = snprintf(scope, sizeof(scope), "%.8s/%s/s3/aws4_request",
	    p->amz_date, p->region);
	if (k < 0 || (size_t)k >= sizeof(scope))
		return -1;
	k = snprintf(credential, sizeof(credential), "%s/%s", p->access_key,
	    scope);
	if (k < 0 || (size_t)k >= sizeof(credential))
		return -1;
	snprintf(expires, sizeof(expires), "%lld", (long long)p->expires_s);
	if (mr_s3_canonical_query(q, 5, query, sizeof(query)) < 0 ||
	    s3_sign_presign_sts(p, query, scope, sts, sizeof(sts)) < 0)
		return -1;
	{
		char date8[9];

		snprintf(date8, sizeof(date8), "%.8s", p->amz_date);
		mr_s3_signing_key(p->secret_key, date8, p->region, "s3", key);
	}
	s3_sign_hmac(key, sizeof(key), sts, mac);
	sodium_memzero(key, sizeof(key));
	mr_hex_encode(mac, sizeof(mac), sig);
	/* X-Amz-Signature is not part of what it signs: appended last. */
	k = snprintf(out, outsz, "%s%s?%s&X-Amz-Signature=%s", p->scheme_host,
	    p->path, query, sig);
	return k < 0 || (size_t)k >= outsz ? -1 : 0;
}
