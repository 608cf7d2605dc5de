/*
 * s3: requests to one S3 bucket through libcurl (see s3.h).
 */
#include "s3.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <sodium.h>

#include "s3_sign.h"

/* The SHA-256 of no bytes: the payload hash of bodiless requests. */
#define S3_EMPTY_SHA256 \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define S3_ERRBODY_MAX 1024
#define S3_URL_MAX 16384

struct mr_s3 {
	CURL *curl;
	char endpoint[512];		/* scheme://host[:port] */
	char host[512];			/* host[:port] as curl sends it */
	/*
	 * What presigned URLs name, and the Host their signature covers:
	 * clients send that Host, which the server checks the signature
	 * against, so the internal endpoint's would not do behind a proxy.
	 */
	char public_endpoint[512];
	char public_host[512];
	char bucket[64];
	char region[64];
	char access_key[256];
	char secret[256];
	char sigv4[96];			/* "aws:amz:REGION:s3" */
	long connect_timeout_ms;
	long low_speed_s;
};

/* A body held in memory (XML answers), capped. */
struct s3_buf {
	char *data;
	size_t len;
};

/* One request and what came back. */
struct s3_call {
	const char *method;
	const char *key;		/* NULL: the bucket itself */
	const struct mr_s3_param *query;
	size_t nquery;
	const char *sha256_hex;		/* of the body; NULL: no body */
	int fd;				/* body from a file when >= 0 */
	int64_t off, len;
	const char *body;		/* or from memory */
	size_t body_len;
	const char *content_type;	/* of a body, or NULL */
	int64_t first, last;		/* Range when first >= 0 */
	mr_s3_sink sink;		/* 2xx bodies; NULL: kept in xml */
	void *arg;
	/* Out. */
	long status;
	int64_t size;			/* the object's, from the headers */
	char etag[128];
	struct s3_buf xml;
	char errbody[S3_ERRBODY_MAX + 1];
	size_t errlen;
	int64_t sent;
	int failed;			/* the sink or the cap stopped it */
	struct mr_err *err;
	CURL *curl;
};

void
mr_s3_where(const struct mr_s3 *s, const char *key, char *out, size_t outsz)
{
	snprintf(out, outsz, "s3://%s/%s", s->bucket, key);
}

/* "host[:port]" of the endpoint, without a port that is the default. */
static void
s3_host_of(const char *endpoint, char *host, size_t hostsz)
{
	int https = strncasecmp(endpoint, "https://", 8) == 0;
	const char *h = strstr(endpoint, "://") + 3;
	size_t n = strlen(h);

	snprintf(host, hostsz, "%s", h);
	if (https && n > 4 && strcmp(h + n - 4, ":443") == 0)
		host[n - 4] = '\0';
	else if (!https && n > 3 && strcmp(h + n - 3, ":80") == 0)
		host[n - 3] = '\0';
}

int
mr_s3_new(const struct mr_config *cfg, struct mr_s3 **out,
    struct mr_err *err)
{
	static int curl_ready;
	struct mr_s3 *s;

	if (!curl_ready && curl_global_init(CURL_GLOBAL_DEFAULT) == 0)
		curl_ready = 1;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return mr_err_set(err, 500, "M_UNKNOWN", "out of memory");
	if ((s->curl = curl_easy_init()) == NULL) {
		free(s);
		return mr_err_set(err, 500, "M_UNKNOWN", "cannot start libcurl");
	}
	/* No endpoint: AWS's own for the region. */
	if (cfg->s3_endpoint[0] != '\0')
		snprintf(s->endpoint, sizeof(s->endpoint), "%s", cfg->s3_endpoint);
	else
		snprintf(s->endpoint, sizeof(s->endpoint),
		    "https://s3.%s.amazonaws.com", cfg->s3_region);
	s3_host_of(s->endpoint, s->host, sizeof(s->host));
	snprintf(s->public_endpoint, sizeof(s->public_endpoint), "%s",
	    cfg->s3_public_endpoint[0] != '\0' ? cfg->s3_public_endpoint :
	    s->endpoint);
	/*
	 * Lower case: browsers send the Host of a URL so (WHATWG URL), and
	 * a signature over "Media.Example" would not match "media.example".
	 */
	for (char *c = s->public_endpoint; *c != '\0'; c++)
		*c = (char)tolower((unsigned char)*c);
	s3_host_of(s->public_endpoint, s->public_host, sizeof(s->public_host));
	snprintf(s->bucket, sizeof(s->bucket), "%s", cfg->s3_bucket);
	snprintf(s->region, sizeof(s->region), "%s", cfg->s3_region);
	snprintf(s->access_key, sizeof(s->access_key), "%s",
	    cfg->s3_access_key_id);
	snprintf(s->secret, sizeof(s->secret), "%s", cfg->s3_secret_access_key);
	snprintf(s->sigv4, sizeof(s->sigv4), "aws:amz:%s:s3", cfg->s3_region);
	s->connect_timeout_ms = (long)cfg->s3_connect_timeout;
	s->low_speed_s = (long)((cfg->s3_timeout + 999) / 1000);
	*out = s;
	return 0;
}

void
mr_s3_free(struct mr_s3 *s)
{
	if (s == NULL)
		return;
	curl_easy_cleanup(s->curl);
	sodium_memzero(s->secret, sizeof(s->secret));
	free(s);
}

/* ENDPOINT/BUCKET[/KEY][?QUERY], every part already canonical. */
static int
s3_url(const struct mr_s3 *s, const struct s3_call *c, char *url,
    size_t urlsz)
{
	/* Room for two %-encoded markers (a key and an upload id). */
	char key[MR_S3_KEY_MAX * 3 + 1], query[MR_S3_TOKEN_MAX * 6 + 256];
	int n;

	key[0] = query[0] = '\0';
	if (c->key != NULL && mr_s3_uri_encode(c->key, strlen(c->key), 1, key,
	    sizeof(key)) < 0)
		return -1;
	if (c->nquery > 0 && mr_s3_canonical_query(c->query, c->nquery, query,
	    sizeof(query)) < 0)
		return -1;
	n = snprintf(url, urlsz, "%s/%s%s%s%s%s", s->endpoint, s->bucket,
	    c->key != NULL ? "/" : "", key, query[0] ? "?" : "", query);
	return n < 0 || (size_t)n >= urlsz ? -1 : 0;
}

static size_t
s3_read_cb(char *buf, size_t size, size_t nitems, void *arg)
{
	struct s3_call *c = arg;
	size_t want = size * nitems;
	int64_t left = (c->fd >= 0 ? c->len : (int64_t)c->body_len) - c->sent;
	ssize_t k;

	if (left <= 0)
		return 0;
	if ((int64_t)want > left)
		want = (size_t)left;
	if (c->fd < 0) {
		memcpy(buf, c->body + c->sent, want);
		k = (ssize_t)want;
	} else {
		while ((k = pread(c->fd, buf, want, (off_t)(c->off + c->sent))) <
		    0 && errno == EINTR)
			;
		/* The file is ours and was checked: short means broken. */
		if (k <= 0)
			return CURL_READFUNC_ABORT;
	}
	c->sent += k;
	return (size_t)k;
}

/* Copies a header's value (trimmed) when line is "name: value". */
static int
s3_header_value(const char *line, size_t n, const char *name, char *out,
    size_t outsz)
{
	size_t nl = strlen(name), vl;
	const char *v;

	if (n <= nl || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
		return 0;
	v = line + nl + 1;
	vl = n - nl - 1;
	while (vl > 0 && (*v == ' ' || *v == '\t'))
		v++, vl--;
	while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n' ||
	    v[vl - 1] == ' '))
		vl--;
	if (vl >= outsz)
		return 0;
	memcpy(out, v, vl);
	out[vl] = '\0';
	return 1;
}

static size_t
s3_header_cb(char *buf, size_t size, size_t nitems, void *arg)
{
	struct s3_call *c = arg;
	size_t n = size * nitems;
	char v[160];

	/* A new status line (after 100 Continue): forget the last one's. */
	if (n >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
		c->etag[0] = '\0';
		c->size = -1;
	} else if (s3_header_value(buf, n, "ETag", v, sizeof(v))) {
		snprintf(c->etag, sizeof(c->etag), "%s", v);
	} else if (s3_header_value(buf, n, "Content-Range", v, sizeof(v))) {
		/* "bytes a-b/total": the object's size is the total. */
		const char *slash = strrchr(v, '/');

		if (slash == NULL || mr_parse_int64(slash + 1, 0, INT64_MAX,
		    &c->size) < 0)
			c->size = -1;
	} else if (c->first < 0 &&
	    s3_header_value(buf, n, "Content-Length", v, sizeof(v))) {
		if (mr_parse_int64(v, 0, INT64_MAX, &c->size) < 0)
			c->size = -1;
	}
	return n;
}

static int
s3_buf_add(struct s3_buf *b, const void *data, size_t n)
{
	char *p;

	if (b->len + n > MR_S3_XML_MAX)
		return -1;
	if ((p = realloc(b->data, b->len + n + 1)) == NULL)
		return -1;
	memcpy(p + b->len, data, n);
	b->data = p;
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

static size_t
s3_write_cb(char *buf, size_t size, size_t nitems, void *arg)
{
	struct s3_call *c = arg;
	size_t n = size * nitems;
	long status = 0;

	/* Known once the headers are in, before the body's first byte. */
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status < 200 || status > 299) {
		size_t room = S3_ERRBODY_MAX - c->errlen;

		if (n < room)
			room = n;
		memcpy(c->errbody + c->errlen, buf, room);
		c->errlen += room;
		c->errbody[c->errlen] = '\0';
		return n;
	}
	if (c->sink != NULL) {
		if (c->sink(c->arg, buf, n, c->err) < 0) {
			c->failed = 1;
			return 0;
		}
		return n;
	}
	if (s3_buf_add(&c->xml, buf, n) < 0) {
		c->failed = 1;
		mr_err_set(c->err, 502, "M_UNKNOWN", "S3 answer too large");
		return 0;
	}
	return n;
}

static void
s3_setup(struct mr_s3 *s, struct s3_call *c, const char *url,
    struct curl_slist *headers)
{
	CURL *h = s->curl;
	char range[64];

	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_AWS_SIGV4, s->sigv4);
	curl_easy_setopt(h, CURLOPT_USERNAME, s->access_key);
	curl_easy_setopt(h, CURLOPT_PASSWORD, s->secret);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, s->connect_timeout_ms);
	/* No byte for s3_timeout: the server is gone or hung. */
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, s->low_speed_s);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, s3_header_cb);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, c);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, s3_write_cb);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "mediarepo");
	if (strcmp(c->method, "HEAD") == 0) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else if (strcmp(c->method, "PUT") == 0 ||
	    strcmp(c->method, "POST") == 0) {
		/* A body of known length, always: RGW refuses chunked (411). */
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, s3_read_cb);
		curl_easy_setopt(h, CURLOPT_READDATA, c);
		curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)(c->fd >= 0 ?
		    c->len : (int64_t)c->body_len));
		if (strcmp(c->method, "POST") == 0)
			curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "POST");
	} else if (strcmp(c->method, "GET") != 0) {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, c->method);
	}
	if (c->first >= 0) {
		snprintf(range, sizeof(range), "%lld-%lld", (long long)c->first,
		    (long long)c->last);
		curl_easy_setopt(h, CURLOPT_RANGE, range);
	}
}

/* The answer's status as a module error; 0 for 2xx. */
static int
s3_status(struct mr_s3 *s, struct s3_call *c, struct mr_err *err)
{
	char code[64] = "", where[MR_S3_KEY_MAX + 80];

	if (c->status >= 200 && c->status <= 299)
		return 0;
	if (c->errlen > 0)
		(void)mr_s3_xml_error_code(c->errbody, c->errlen, code,
		    sizeof(code));
	mr_s3_where(s, c->key ? c->key : "", where, sizeof(where));
	if (c->status == 404 && c->key != NULL &&
	    strcmp(code, "NoSuchBucket") != 0)
		return mr_err_set(err, 404, "M_NOT_FOUND", "no object '%s'",
		    where);
	if (c->status >= 500)
		return mr_err_set(err, 503, "M_UNKNOWN",
		    "S3 unavailable: %s %s answered %ld %s", c->method, where,
		    c->status, code);
	return mr_err_set(err, 502, "M_UNKNOWN",
	    "S3 refused %s '%s': %ld %s", c->method, where, c->status, code);
}

/* Runs c: 0 when the server answered 2xx, -1 with err otherwise. */
static int
s3_perform(struct mr_s3 *s, struct s3_call *c, struct mr_err *err)
{
	struct curl_slist *headers = NULL, *h;
	char url[S3_URL_MAX], sha[128], ctype[128];
	CURLcode res;

	c->err = err;
	c->curl = s->curl;
	c->size = -1;
	c->status = 0;
	if (s3_url(s, c, url, sizeof(url)) < 0)
		return mr_err_set(err, 500, "M_UNKNOWN", "S3 URL too long");
	/* Signed by libcurl with the rest; RGW checks the body against it. */
	snprintf(sha, sizeof(sha), "x-amz-content-sha256: %s",
	    c->sha256_hex ? c->sha256_hex : S3_EMPTY_SHA256);
	h = curl_slist_append(headers, sha);
	if (h != NULL && c->content_type != NULL) {
		headers = h;
		snprintf(ctype, sizeof(ctype), "Content-Type: %s", c->content_type);
		h = curl_slist_append(headers, ctype);
	}
	if (h == NULL) {
		curl_slist_free_all(headers);
		return mr_err_set(err, 500, "M_UNKNOWN", "out of memory");
	}
	headers = h;
	s3_setup(s, c, url, headers);
	res = curl_easy_perform(s->curl);
	curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &c->status);
	curl_slist_free_all(headers);
	if (c->failed)
		return -1;
	if (res != CURLE_OK)
		return mr_err_set(err, 503, "M_UNKNOWN",
		    "S3 unavailable: %s s3://%s/%s: %s", c->method, s->bucket,
		    c->key ? c->key : "", curl_easy_strerror(res));
	return s3_status(s, c, err);
}

static void
s3_call_init(struct s3_call *c, const char *method, const char *key)
{
	memset(c, 0, sizeof(*c));
	c->method = method;
	c->key = key;
	c->fd = -1;
	c->first = -1;
	c->last = -1;
}

/* PUT of a file range, with a query (a part) or none; the ETag kept. */
static int
s3_put_file(struct mr_s3 *s, const char *key, const struct mr_s3_param *q,
    size_t nq, int fd, int64_t off, int64_t len, const char *sha256_hex,
    char *etag, size_t etagsz, struct mr_err *err)
{
	struct s3_call c;
	int rc;

	s3_call_init(&c, "PUT", key);
	c.query = q;
	c.nquery = nq;
	c.fd = fd;
	c.off = off;
	c.len = len;
	c.sha256_hex = sha256_hex;
	rc = s3_perform(s, &c, err);
	free(c.xml.data);
	if (rc == 0 && etag != NULL) {
		if (c.etag[0] == '\0' || strlen(c.etag) >= etagsz)
			return mr_err_set(err, 502, "M_UNKNOWN",
			    "S3 gave no ETag for '%s'", key);
		snprintf(etag, etagsz, "%s", c.etag);
	}
	return rc;
}

int
mr_s3_put_fd(struct mr_s3 *s, const char *key, int fd, int64_t off,
    int64_t len, const char *sha256_hex, struct mr_err *err)
{
	return s3_put_file(s, key, NULL, 0, fd, off, len, sha256_hex, NULL, 0,
	    err);
}

int
mr_s3_get(struct mr_s3 *s, const char *key, int64_t first, int64_t last,
    mr_s3_sink sink, void *arg, int64_t *size, struct mr_err *err)
{
	struct s3_call c;
	int rc;

	s3_call_init(&c, "GET", key);
	c.first = first;
	c.last = last;
	c.sink = sink;
	c.arg = arg;
	rc = s3_perform(s, &c, err);
	if (rc == 0 && size != NULL)
		*size = c.size;
	free(c.xml.data);
	return rc;
}

int
mr_s3_head(struct mr_s3 *s, const char *key, int64_t *size,
    struct mr_err *err)
{
	struct s3_call c;

	s3_call_init(&c, "HEAD", key);
	if (s3_perform(s, &c, err) < 0)
		return -1;
	if (c.size < 0)
		return mr_err_set(err, 502, "M_UNKNOWN",
		    "S3 HEAD gave no Content-Length");
	*size = c.size;
	return 0;
}

int
mr_s3_delete(struct mr_s3 *s, const char *key, struct mr_err *err)
{
	struct s3_call c;

	s3_call_init(&c, "DELETE", key);
	if (s3_perform(s, &c, err) < 0)
		return err->status == 404 ? 0 : -1;
	return 0;
}

int
mr_s3_list(struct mr_s3 *s, const char *token, mr_s3_object_fn fn,
    void *arg, struct mr_s3_list_page *page, struct mr_err *err)
{
	struct mr_s3_param q[3] = {
		{ "list-type", "2" }, { "max-keys", "1000" },
		{ "continuation-token", token },
	};
	struct s3_call c;
	int rc = -1;

	s3_call_init(&c, "GET", NULL);
	c.query = q;
	c.nquery = token != NULL && token[0] != '\0' ? 3 : 2;
	if (s3_perform(s, &c, err) == 0) {
		if (mr_s3_xml_list(c.xml.data, c.xml.len, fn, arg, page) < 0)
			mr_err_set(err, 502, "M_UNKNOWN",
			    "S3 list of '%s' unreadable", s->bucket);
		else
			rc = 0;
	}
	free(c.xml.data);
	return rc;
}

int
mr_s3_multipart_begin(struct mr_s3 *s, const char *key, char *upload_id,
    size_t idsz, struct mr_err *err)
{
	struct mr_s3_param q[1] = { { "uploads", NULL } };
	struct s3_call c;
	int rc = -1;

	s3_call_init(&c, "POST", key);
	c.query = q;
	c.nquery = 1;
	c.body = "";
	if (s3_perform(s, &c, err) == 0) {
		if (mr_s3_xml_upload_id(c.xml.data, c.xml.len, upload_id,
		    idsz) < 0)
			mr_err_set(err, 502, "M_UNKNOWN",
			    "S3 gave no multipart upload id");
		else
			rc = 0;
	}
	free(c.xml.data);
	return rc;
}

int
mr_s3_multipart_part(struct mr_s3 *s, const char *key, const char *upload_id,
    int part, int fd, int64_t off, int64_t len, const char *sha256_hex,
    char *etag, size_t etagsz, struct mr_err *err)
{
	char num[16];
	struct mr_s3_param q[2] = {
		{ "partNumber", num }, { "uploadId", upload_id },
	};

	snprintf(num, sizeof(num), "%d", part);
	return s3_put_file(s, key, q, 2, fd, off, len, sha256_hex, etag, etagsz,
	    err);
}

/* The <CompleteMultipartUpload> body, malloc'ed. */
static char *
s3_complete_body(char (*etags)[128], int nparts, size_t *len)
{
	size_t sz = 64 + (size_t)nparts * 200, o;
	char *b = malloc(sz);

	if (b == NULL)
		return NULL;
	o = (size_t)snprintf(b, sz, "<CompleteMultipartUpload>");
	for (int i = 0; i < nparts; i++) {
		/* ETags are quoted hex from the server; escaped all the same. */
		if (strpbrk(etags[i], "<>&") != NULL) {
			free(b);
			return NULL;
		}
		o += (size_t)snprintf(b + o, sz - o, "<Part><PartNumber>%d"
		    "</PartNumber><ETag>%s</ETag></Part>", i + 1, etags[i]);
	}
	o += (size_t)snprintf(b + o, sz - o, "</CompleteMultipartUpload>");
	*len = o;
	return b;
}

int
mr_s3_multipart_complete(struct mr_s3 *s, const char *key,
    const char *upload_id, char (*etags)[128], int nparts,
    struct mr_err *err)
{
	struct mr_s3_param q[1] = { { "uploadId", upload_id } };
	unsigned char d[crypto_hash_sha256_BYTES];
	char sha[65];
	struct s3_call c;
	size_t len;
	char *body = s3_complete_body(etags, nparts, &len);
	int rc;

	if (body == NULL)
		return mr_err_set(err, 500, "M_UNKNOWN",
		    "cannot complete multipart upload");
	crypto_hash_sha256(d, (const unsigned char *)body, len);
	mr_hex_encode(d, sizeof(d), sha);
	s3_call_init(&c, "POST", key);
	c.query = q;
	c.nquery = 1;
	c.body = body;
	c.body_len = len;
	c.sha256_hex = sha;
	c.content_type = "application/xml";
	rc = s3_perform(s, &c, err);
	/* A completion can fail after its 200: the body is then <Error>. */
	if (rc == 0 && mr_s3_xml_root_is(c.xml.data, c.xml.len,
	    "CompleteMultipartUploadResult") != 1)
		rc = mr_err_set(err, 503, "M_UNKNOWN",
		    "S3 multipart completion failed");
	free(c.xml.data);
	free(body);
	return rc;
}

int
mr_s3_upload_abort(struct mr_s3 *s, const char *key, const char *upload_id,
    struct mr_err *err)
{
	struct mr_s3_param q[1] = { { "uploadId", upload_id } };
	struct s3_call c;
	int rc;

	s3_call_init(&c, "DELETE", key);
	c.query = q;
	c.nquery = 1;
	rc = s3_perform(s, &c, err);
	free(c.xml.data);
	/* NoSuchUpload: completed or aborted meanwhile, gone either way. */
	if (rc < 0 && err->status == 404)
		return 0;
	return rc;
}

int
mr_s3_list_uploads(struct mr_s3 *s, const char *key_marker,
    const char *id_marker, mr_s3_upload_fn fn, void *arg,
    struct mr_s3_uploads_page *page, struct mr_err *err)
{
	struct mr_s3_param q[4] = {
		{ "uploads", NULL }, { "max-uploads", "1000" },
		{ "key-marker", key_marker }, { "upload-id-marker", id_marker },
	};
	struct s3_call c;
	int rc = -1;

	s3_call_init(&c, "GET", NULL);
	c.query = q;
	c.nquery = 2;
	if (key_marker != NULL && key_marker[0] != '\0') {
		c.nquery = 3;
		/* S3 reads the id marker only with a key marker. */
		if (id_marker != NULL && id_marker[0] != '\0')
			c.nquery = 4;
	}
	if (s3_perform(s, &c, err) == 0) {
		if (mr_s3_xml_uploads(c.xml.data, c.xml.len, fn, arg, page) < 0)
			mr_err_set(err, 502, "M_UNKNOWN", "S3 list of the "
			    "multipart uploads of '%s' unreadable", s->bucket);
		else
			rc = 0;
	}
	free(c.xml.data);
	return rc;
}

int
mr_s3_presign_get(struct mr_s3 *s, const char *key, int64_t expires_s,
    char *url, size_t urlsz, struct mr_err *err)
{
	char path[MR_S3_KEY_MAX * 3 + 80], ekey[MR_S3_KEY_MAX * 3 + 1];
	char date[MR_S3_AMZ_DATE_LEN + 1];
	struct mr_s3_presign p = {
		.scheme_host = s->public_endpoint, .host = s->public_host,
		.path = path,
		.region = s->region, .access_key = s->access_key,
		.secret_key = s->secret, .amz_date = date,
		.expires_s = expires_s,
	};

	if (mr_s3_uri_encode(key, strlen(key), 1, ekey, sizeof(ekey)) < 0)
		return mr_err_set(err, 500, "M_UNKNOWN", "S3 key too long");
	snprintf(path, sizeof(path), "/%s/%s", s->bucket, ekey);
	mr_s3_amz_date((int64_t)time(NULL), date);
	if (mr_s3_presign_url(&p, url, urlsz) < 0)
		return mr_err_set(err, 500, "M_UNKNOWN", "cannot presign '%s'",
		    key);
	return 0;
}
