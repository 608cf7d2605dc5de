/*
 * http: requests, responses, routes and the serve loop (see http.h).
 */
#include "http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "blob.h"
#include "fed.h"
#include "header.h"
#include "http_client.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "multipart.h"
#include "net.h"
#include "slot.h"

extern char **environ;

/* --- routes --- */

/*
 * Every prefix we answer on and the endpoints each has. The web server
 * sends each path to one program; this table tells the program which shape
 * it was called on, since the shape decides auth and response format.
 */
static const struct {
	const char *prefix;
	enum mr_api api;
	unsigned endpoints;
} http_prefixes[] = {
	{ "/_matrix/media/r0/", MR_API_LEGACY,
	  MR_EP_BIT(MR_EP_UPLOAD) | MR_EP_BIT(MR_EP_DOWNLOAD) |
	  MR_EP_BIT(MR_EP_THUMBNAIL) | MR_EP_BIT(MR_EP_PREVIEW_URL) |
	  MR_EP_BIT(MR_EP_CONFIG) },
	{ "/_matrix/media/v1/", MR_API_LEGACY,
	  MR_EP_BIT(MR_EP_UPLOAD) | MR_EP_BIT(MR_EP_CREATE) |
	  MR_EP_BIT(MR_EP_DOWNLOAD) | MR_EP_BIT(MR_EP_THUMBNAIL) |
	  MR_EP_BIT(MR_EP_PREVIEW_URL) | MR_EP_BIT(MR_EP_CONFIG) },
	{ "/_matrix/media/v3/", MR_API_LEGACY,
	  MR_EP_BIT(MR_EP_UPLOAD) | MR_EP_BIT(MR_EP_UPLOAD_PUT) |
	  MR_EP_BIT(MR_EP_DOWNLOAD) | MR_EP_BIT(MR_EP_THUMBNAIL) |
	  MR_EP_BIT(MR_EP_PREVIEW_URL) | MR_EP_BIT(MR_EP_CONFIG) },
	{ "/_matrix/client/r0/media/", MR_API_MSC1902,
	  MR_EP_BIT(MR_EP_UPLOAD) | MR_EP_BIT(MR_EP_DOWNLOAD) |
	  MR_EP_BIT(MR_EP_THUMBNAIL) | MR_EP_BIT(MR_EP_PREVIEW_URL) |
	  MR_EP_BIT(MR_EP_CONFIG) },
	{ "/_matrix/client/unstable/org.matrix.msc1902/media/", MR_API_MSC1902,
	  MR_EP_BIT(MR_EP_UPLOAD) | MR_EP_BIT(MR_EP_DOWNLOAD) |
	  MR_EP_BIT(MR_EP_THUMBNAIL) | MR_EP_BIT(MR_EP_PREVIEW_URL) |
	  MR_EP_BIT(MR_EP_CONFIG) },
	{ "/_matrix/client/v1/media/", MR_API_CLIENT_V1,
	  MR_EP_BIT(MR_EP_DOWNLOAD) | MR_EP_BIT(MR_EP_THUMBNAIL) |
	  MR_EP_BIT(MR_EP_PREVIEW_URL) | MR_EP_BIT(MR_EP_CONFIG) },
	{ "/_matrix/federation/v1/remote_media/", MR_API_FED_MSC1902,
	  MR_EP_BIT(MR_EP_FED_DOWNLOAD) | MR_EP_BIT(MR_EP_FED_THUMBNAIL) },
	{ "/_matrix/federation/unstable/org.matrix.msc1902/remote_media/",
	  MR_API_FED_MSC1902,
	  MR_EP_BIT(MR_EP_FED_DOWNLOAD) | MR_EP_BIT(MR_EP_FED_THUMBNAIL) },
	{ "/_matrix/federation/v1/media/", MR_API_FED_V1,
	  MR_EP_BIT(MR_EP_FED_DOWNLOAD) | MR_EP_BIT(MR_EP_FED_THUMBNAIL) },
	{ "/_matrix/key/v2/", MR_API_KEYS, MR_EP_BIT(MR_EP_KEYS) },
	{ "/_synapse/admin/v1/", MR_API_ADMIN, MR_EP_BIT(MR_EP_ADMIN) },
	/* Last: every path starts with it, and the first prefix that
	 * matches decides. */
	{ "/", MR_API_HEALTH, MR_EP_BIT(MR_EP_HEALTH) |
	  MR_EP_BIT(MR_EP_METRICS) },
};

#define API_BIT(a) (1u << (a))
#define API_ANY_CLIENT (API_BIT(MR_API_LEGACY) | API_BIT(MR_API_MSC1902) | \
	API_BIT(MR_API_CLIENT_V1))

#define ADMIN_METHODS (MR_METHOD_GET | MR_METHOD_POST | MR_METHOD_DELETE)

/* The segment after the prefix, how many path parameters follow, methods. */
static const struct {
	const char *name;
	enum mr_endpoint endpoint;
	unsigned apis;
	unsigned min_params, max_params;
	unsigned methods;
} http_shapes[] = {
	{ "upload", MR_EP_UPLOAD, API_ANY_CLIENT, 0, 0, MR_METHOD_POST },
	{ "upload", MR_EP_UPLOAD_PUT, API_ANY_CLIENT, 2, 2, MR_METHOD_PUT },
	{ "create", MR_EP_CREATE, API_ANY_CLIENT, 0, 0, MR_METHOD_POST },
	{ "download", MR_EP_DOWNLOAD, API_ANY_CLIENT, 2, 3,
	  MR_METHOD_GET | MR_METHOD_HEAD },
	{ "thumbnail", MR_EP_THUMBNAIL, API_ANY_CLIENT, 2, 2,
	  MR_METHOD_GET | MR_METHOD_HEAD },
	{ "preview_url", MR_EP_PREVIEW_URL, API_ANY_CLIENT, 0, 0,
	  MR_METHOD_GET },
	{ "config", MR_EP_CONFIG, API_ANY_CLIENT, 0, 0, MR_METHOD_GET },
	{ "download", MR_EP_FED_DOWNLOAD, API_BIT(MR_API_FED_MSC1902), 2, 2,
	  MR_METHOD_GET | MR_METHOD_HEAD },
	{ "thumbnail", MR_EP_FED_THUMBNAIL, API_BIT(MR_API_FED_MSC1902), 2, 2,
	  MR_METHOD_GET | MR_METHOD_HEAD },
	{ "download", MR_EP_FED_DOWNLOAD, API_BIT(MR_API_FED_V1), 1, 1,
	  MR_METHOD_GET },
	{ "thumbnail", MR_EP_FED_THUMBNAIL, API_BIT(MR_API_FED_V1), 1, 1,
	  MR_METHOD_GET },
	/* The older form names a key id; the answer is the same. */
	{ "server", MR_EP_KEYS, API_BIT(MR_API_KEYS), 0, 1,
	  MR_METHOD_GET | MR_METHOD_HEAD },
	/* No auth: a load balancer asks it (http_route_auth). */
	{ "health", MR_EP_HEALTH, API_BIT(MR_API_HEALTH), 0, 0,
	  MR_METHOD_GET | MR_METHOD_HEAD },
	/* No token: Prometheus has none; the handler checks the address. */
	{ "metrics", MR_EP_METRICS, API_BIT(MR_API_HEALTH), 0, 0,
	  MR_METHOD_GET | MR_METHOD_HEAD },
	/* The admin API's first segments; serve_admin.c parses the rest and
	 * answers 405 for a method its shape lacks. */
	{ "media", MR_EP_ADMIN, API_BIT(MR_API_ADMIN), 1, 4, ADMIN_METHODS },
	{ "user", MR_EP_ADMIN, API_BIT(MR_API_ADMIN), 1, 4, ADMIN_METHODS },
	{ "users", MR_EP_ADMIN, API_BIT(MR_API_ADMIN), 1, 4, ADMIN_METHODS },
	{ "room", MR_EP_ADMIN, API_BIT(MR_API_ADMIN), 1, 4, ADMIN_METHODS },
	{ "quarantine_media", MR_EP_ADMIN, API_BIT(MR_API_ADMIN), 1, 1,
	  ADMIN_METHODS },
	{ "purge_media_cache", MR_EP_ADMIN, API_BIT(MR_API_ADMIN), 0, 0,
	  ADMIN_METHODS },
	{ "statistics", MR_EP_ADMIN, API_BIT(MR_API_ADMIN), 1, 4,
	  ADMIN_METHODS },
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

int
mr_http_route(const char *path, size_t path_len, struct mr_route *out,
    size_t *params_at)
{
	for (size_t i = 0; i < NELEM(http_prefixes); i++) {
		size_t plen = strlen(http_prefixes[i].prefix);
		const char *seg, *end = path + path_len, *slash;
		unsigned nparams = 0;
		size_t seglen;

		if (path_len <= plen ||
		    strncmp(path, http_prefixes[i].prefix, plen) != 0)
			continue;
		seg = path + plen;
		slash = memchr(seg, '/', (size_t)(end - seg));
		seglen = (size_t)((slash ? slash : end) - seg);
		for (const char *p = slash; p != NULL && p < end;
		    p = memchr(p + 1, '/', (size_t)(end - p - 1)))
			nparams++;
		for (size_t k = 0; k < NELEM(http_shapes); k++) {
			if (!(http_shapes[k].apis & API_BIT(http_prefixes[i].api)) ||
			    !(http_prefixes[i].endpoints &
			    MR_EP_BIT(http_shapes[k].endpoint)) ||
			    strlen(http_shapes[k].name) != seglen ||
			    strncmp(http_shapes[k].name, seg, seglen) != 0 ||
			    nparams < http_shapes[k].min_params ||
			    nparams > http_shapes[k].max_params)
				continue;
			out->endpoint = http_shapes[k].endpoint;
			out->api = http_prefixes[i].api;
			out->methods = http_shapes[k].methods;
			*params_at = (size_t)(seg - path) + seglen;
			return 0;
		}
		return -1;
	}
	return -1;
}

/* --- validators --- */

int
mr_valid_uint(const char *raw, struct mr_pval *out)
{
	return mr_parse_int64(raw, 0, INT64_C(1) << 53, &out->n);
}

int
mr_valid_bool(const char *raw, struct mr_pval *out)
{
	/* The spec's booleans are the words true and false only. */
	if (strcmp(raw, "true") == 0)
		out->n = 1;
	else if (strcmp(raw, "false") == 0)
		out->n = 0;
	else
		return -1;
	return 0;
}

int
mr_valid_filename(const char *raw, struct mr_pval *out)
{
	(void)out;
	return mr_header_filename_ok(raw) ? 0 : -1;
}

/* --- Range and ETag (media header values: header.c) --- */

int
mr_http_parse_range(const char *hdr, int64_t size, int64_t *first,
    int64_t *last)
{
	const char *p;
	int64_t a = -1, b = -1;
	char *end;

	if (hdr == NULL || (p = mr_skip_prefix_ci(hdr, "bytes=")) == NULL)
		return 0;
	while (*p == ' ')
		p++;
	/* Several ranges: RFC 9110 lets us answer with the whole file. */
	if (strchr(p, ',') != NULL)
		return 0;
	if (*p == '-') {
		if (!isdigit((unsigned char)p[1]))
			return 0;
		errno = 0;
		b = (int64_t)strtoll(p + 1, &end, 10);
		if (errno != 0 || (*end != '\0' && *end != ' '))
			return 0;
		if (b == 0 || size == 0)
			return -1;
		*first = b >= size ? 0 : size - b;
		*last = size - 1;
		return 1;
	}
	if (!isdigit((unsigned char)*p))
		return 0;
	errno = 0;
	a = (int64_t)strtoll(p, &end, 10);
	if (errno != 0 || *end != '-')
		return 0;
	p = end + 1;
	if (*p != '\0' && *p != ' ') {
		if (!isdigit((unsigned char)*p))
			return 0;
		errno = 0;
		b = (int64_t)strtoll(p, &end, 10);
		if (errno != 0 || (*end != '\0' && *end != ' ') || b < a)
			return 0;
	}
	if (a >= size)
		return -1;
	*first = a;
	*last = (b < 0 || b >= size) ? size - 1 : b;
	return 1;
}

int
mr_http_etag_matches(const char *inm, const char *etag)
{
	size_t elen = strlen(etag);
	const char *p = inm;

	if (inm == NULL)
		return 0;
	while (*p != '\0') {
		const char *start, *end;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '*')
			return 1;
		if (strncmp(p, "W/", 2) == 0)
			p += 2;
		start = p;
		if (*p == '"') {
			end = strchr(p + 1, '"');
			if (end == NULL)
				return 0;
			end++;
		} else {
			end = p + strcspn(p, ", \t");
		}
		if ((size_t)(end - start) == elen && strncmp(start, etag, elen) == 0)
			return 1;
		p = end;
	}
	return 0;
}

/* --- request --- */

const char *
mr_req_env(const struct mr_req *req, const char *name)
{
	if (req->fcgx != NULL)
		return FCGX_GetParam(name, req->envp);
	return getenv(name);
}

const char *
mr_req_query(const struct mr_req *req, const char *name)
{
	for (unsigned i = 0; i < req->n_query; i++)
		if (strcmp(req->query_name[i], name) == 0)
			return req->query_value[i];
	return NULL;
}

static char *
http_scratch(struct mr_req *req, size_t n)
{
	char *p;

	if (req->scratch_used + n > sizeof(req->scratch))
		return NULL;
	p = req->scratch + req->scratch_used;
	req->scratch_used += n;
	return p;
}

/* Decoded copy of len bytes of src into the scratch area. */
static const char *
http_decode_into_scratch(struct mr_req *req, const char *src, size_t len,
    int plus_space)
{
	char *dst = http_scratch(req, len + 1);

	if (dst == NULL || mr_pct_decode(src, len, dst, plus_space) < 0)
		return NULL;
	return dst;
}

static int
http_parse_query(struct mr_req *req, const char *q, struct mr_err *err)
{
	while (q != NULL && *q != '\0') {
		const char *amp = strchr(q, '&');
		size_t len = amp ? (size_t)(amp - q) : strlen(q);
		const char *eq = memchr(q, '=', len);
		size_t nlen = eq ? (size_t)(eq - q) : len;

		if (len > 0) {
			if (req->n_query >= MR_QUERY_MAX_PARAMS)
				return mr_err_set(err, 400, "M_INVALID_PARAM",
				    "too many query parameters");
			req->query_name[req->n_query] =
			    http_decode_into_scratch(req, q, nlen, 1);
			req->query_value[req->n_query] = eq ?
			    http_decode_into_scratch(req, eq + 1, len - nlen - 1, 1) :
			    http_decode_into_scratch(req, "", 0, 1);
			if (req->query_name[req->n_query] == NULL ||
			    req->query_value[req->n_query] == NULL)
				return mr_err_set(err, 400, "M_INVALID_PARAM",
				    "malformed query string");
			req->n_query++;
		}
		q = amp ? amp + 1 : NULL;
	}
	return 0;
}

/* addr as 16 bytes (IPv4 mapped); -1 when it is not an address. */
static int
http_addr16(const char *addr, uint8_t out[16])
{
	struct in_addr v4;

	if (inet_pton(AF_INET6, addr, out) == 1)
		return 0;
	if (inet_pton(AF_INET, addr, &v4) != 1)
		return -1;
	memset(out, 0, 10);
	out[10] = out[11] = 0xff;
	memcpy(out + 12, &v4, 4);
	return 0;
}

void
mr_req_client_addr(const struct mr_req *req, const struct mr_config *cfg,
    char *out, size_t outsz)
{
	const char *peer = mr_req_env(req, "REMOTE_ADDR");
	const char *xff = mr_req_env(req, "HTTP_X_FORWARDED_FOR");
	const struct mr_net_list *trusted = &cfg->trusted;
	uint8_t a[16];
	size_t end;

	snprintf(out, outsz, "%s", peer && peer[0] ? peer : "-");
	if (xff == NULL || trusted->n == 0 ||
	    http_addr16(out, a) < 0 || !mr_net_in_list(a, trusted))
		return;
	/* Right to left: each hop appended the address it saw; the first
	 * one that is not a trusted proxy is the client. */
	end = strlen(xff);
	while (end > 0) {
		size_t start = end;
		char hop[64];

		while (start > 0 && xff[start - 1] != ',')
			start--;
		snprintf(hop, sizeof(hop), "%.*s", (int)(end - start),
		    xff + start);
		end = start > 0 ? start - 1 : 0;
		{
			char *h = hop + strspn(hop, " \t");
			size_t hl = strcspn(h, " \t");

			h[hl] = '\0';
			if (http_addr16(h, a) < 0)
				return;		/* garbage: keep the peer */
			snprintf(out, outsz, "%s", h);
			if (!mr_net_in_list(a, trusted))
				return;
		}
	}
}

ssize_t
mr_req_read(struct mr_req *req, void *buf, size_t n)
{
	ssize_t got;

	if (req->body_error)
		return -1;
	if (req->content_length >= 0) {
		int64_t left = req->content_length - req->body_read;

		if (left <= 0)
			return 0;
		if ((int64_t)n > left)
			n = (size_t)left;
	}
	if (req->fcgx != NULL) {
		got = FCGX_GetStr(buf, (int)(n > INT32_MAX ? INT32_MAX : n),
		    req->fcgx->in);
		if (got == 0 && FCGX_GetError(req->fcgx->in) != 0)
			got = -1;
	} else {
		do
			got = read(STDIN_FILENO, buf, n);
		while (got < 0 && errno == EINTR);
	}
	if (got < 0 || (got == 0 && req->content_length > req->body_read)) {
		/* A body shorter than announced: the client went away. */
		req->body_error = 1;
		return -1;
	}
	req->body_read += got;
	return got;
}

/* --- response --- */

static const char *
http_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 204: return "No Content";
	case 206: return "Partial Content";
	case 304: return "Not Modified";
	case 307: return "Temporary Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 416: return "Range Not Satisfiable";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 507: return "Insufficient Storage";
	default: return "Unknown";
	}
}

void
mr_resp_header(struct mr_req *req, const char *name, const char *fmt, ...)
{
	size_t room = sizeof(req->resp_headers) - req->resp_headers_len;
	char *at = req->resp_headers + req->resp_headers_len;
	va_list ap;
	int n, m;

	n = snprintf(at, room, "%s: ", name);
	if (n < 0 || (size_t)n >= room)
		return;
	va_start(ap, fmt);
	m = vsnprintf(at + n, room - (size_t)n, fmt, ap);
	va_end(ap);
	if (m < 0 || (size_t)(n + m + 2) >= room)
		return;
	/* A header value never carries CR or LF: no response splitting. */
	if (strpbrk(at, "\r\n") != NULL) {
		*at = '\0';
		return;
	}
	memcpy(at + n + m, "\r\n", 3);
	req->resp_headers_len += (size_t)(n + m + 2);
}

static int
http_out(struct mr_req *req, const void *buf, size_t n)
{
	if (n == 0)
		return 0;
	if (req->fcgx != NULL)
		return FCGX_PutStr(buf, (int)n, req->fcgx->out) == (int)n ? 0 : -1;
	return fwrite(buf, 1, n, stdout) == n ? 0 : -1;
}

int
mr_resp_begin(struct mr_req *req, int status)
{
	char line[64];
	int n;

	if (req->headers_sent)
		return -1;
	req->status = status;
	mr_resp_header(req, "Access-Control-Allow-Origin", "*");
	mr_resp_header(req, "Access-Control-Allow-Methods",
	    "GET, HEAD, POST, PUT, DELETE, OPTIONS");
	mr_resp_header(req, "Access-Control-Allow-Headers",
	    "X-Requested-With, Content-Type, Authorization");
	mr_resp_header(req, "X-Request-Id", "%s", req->id);
	n = snprintf(line, sizeof(line), "Status: %d %s\r\n", status,
	    http_reason(status));
	req->headers_sent = 1;
	if (http_out(req, line, (size_t)n) < 0 ||
	    http_out(req, req->resp_headers, req->resp_headers_len) < 0 ||
	    http_out(req, "\r\n", 2) < 0)
		return -1;
	return 0;
}

int
mr_resp_write(struct mr_req *req, const void *buf, size_t n)
{
	if (req->head_only)
		return 0;
	if (http_out(req, buf, n) < 0)
		return -1;
	req->bytes_out += (int64_t)n;
	return 0;
}

static int
http_resp_text(struct mr_req *req, int status, const char *body)
{
	size_t n = strlen(body);

	mr_resp_header(req, "Content-Type", "application/json");
	mr_resp_header(req, "Content-Length", "%zu", n);
	mr_resp_header(req, "Cache-Control", "no-store");
	if (mr_resp_begin(req, status) < 0)
		return -1;
	return mr_resp_write(req, body, n);
}

int
mr_resp_json(struct mr_req *req, int status, const cJSON *body)
{
	char *s = mr_json_print(body);
	int rc;

	if (s == NULL)
		return http_resp_text(req, 500,
		    "{\"errcode\":\"M_UNKNOWN\",\"error\":\"out of memory\"}");
	rc = http_resp_text(req, status, s);
	free(s);
	return rc;
}

int
mr_resp_error(struct mr_req *req, const struct mr_err *err)
{
	char *body = mr_json_error_body(err);
	int rc;

	snprintf(req->error_cause, sizeof(req->error_cause), "%s %s%s%s",
	    err->errcode ? err->errcode : "M_UNKNOWN", err->msg,
	    err->limit_name ? " limit=" : "",
	    err->limit_name ? err->limit_name : "");
	if (err->limit_name != NULL)
		mr_metrics_ratelimited(err->limit_name);
	/* Both forms: retry_after_ms in the body (the spec), Retry-After
	 * in whole seconds for HTTP clients and proxies. */
	if (err->retry_after_ms > 0)
		mr_resp_header(req, "Retry-After", "%lld",
		    (long long)((err->retry_after_ms + 999) / 1000));
	if (body == NULL)
		return http_resp_text(req, 500,
		    "{\"errcode\":\"M_UNKNOWN\",\"error\":\"out of memory\"}");
	rc = http_resp_text(req, err->status > 0 ? err->status : 500, body);
	free(body);
	return rc;
}

/* --- sending stored files --- */

static void
http_media_headers(struct mr_req *req, const struct mr_config *cfg,
    const struct mr_file_resp *f)
{
	mr_resp_header(req, "ETag", "\"%s\"", f->etag_hex);
	mr_resp_header(req, "Cache-Control", "%s, max-age=%lld, immutable",
	    f->is_private ? "private" : "public",
	    (long long)(cfg->media_cache_max_age / 1000));
	mr_resp_header(req, "Content-Security-Policy", "sandbox; default-src "
	    "'none'; script-src 'none'; plugin-types application/pdf; "
	    "style-src 'unsafe-inline'; object-src 'self';");
	mr_resp_header(req, "Cross-Origin-Resource-Policy", "cross-origin");
	mr_resp_header(req, "X-Content-Type-Options", "nosniff");
	mr_resp_header(req, "Accept-Ranges", "bytes");
}

/* Streams [first, last] of fd with a fixed buffer: memory stays flat. */
static int
http_stream_range(struct mr_req *req, struct mr_blob_reader *r, int64_t first,
    int64_t last, struct mr_err *err)
{
	char buf[65536];
	int64_t off = first;

	while (off <= last) {
		size_t want = (size_t)(last - off + 1 < (int64_t)sizeof(buf) ?
		    last - off + 1 : (int64_t)sizeof(buf));
		ssize_t n = mr_blob_read_at(r, buf, want, off, err);

		if (n < 0)
			return -1;
		if (n == 0)
			return mr_err_set(err, 500, "M_UNKNOWN",
			    "cannot read media: file shrank");
		if (mr_resp_write(req, buf, (size_t)n) < 0)
			return mr_err_set(err, 499, "M_UNKNOWN",
			    "client went away");
		off += n;
	}
	return 0;
}

/* Federation v1: {} and then the media as the second part. */
static int
http_send_multipart(struct mr_req *req, const struct mr_file_resp *f,
    struct mr_err *err)
{
	char boundary[MR_MULTIPART_BOUNDARY_LEN + 1], head[4096], tail[128];
	int hl, tl;

	mr_multipart_boundary(boundary);
	hl = mr_multipart_head(head, sizeof(head), boundary, f->content_type,
	    f->disposition);
	tl = mr_multipart_tail(tail, sizeof(tail), boundary);
	if (hl < 0 || tl < 0)
		return mr_err_set(err, 500, "M_UNKNOWN", "headers too long");
	mr_resp_header(req, "Content-Type", "multipart/mixed; boundary=%s",
	    boundary);
	mr_resp_header(req, "Content-Length", "%lld",
	    (long long)(hl + f->size + tl));
	if (mr_resp_begin(req, 200) < 0 ||
	    mr_resp_write(req, head, (size_t)hl) < 0)
		return mr_err_set(err, 499, "M_UNKNOWN", "client went away");
	if (f->size > 0 && !req->head_only &&
	    http_stream_range(req, f->reader, 0, f->size - 1, err) < 0)
		return -1;
	return mr_resp_write(req, tail, (size_t)tl) < 0 ?
	    mr_err_set(err, 499, "M_UNKNOWN", "client went away") : 0;
}

int
mr_http_send_file(struct mr_req *req, const struct mr_config *cfg,
    const struct mr_file_resp *f, struct mr_err *err)
{
	char etag[72];
	int64_t first = 0, last = f->size - 1;
	int ranged = 0;
	const char *range = mr_req_env(req, "HTTP_RANGE");
	const char *if_range = mr_req_env(req, "HTTP_IF_RANGE");

	snprintf(etag, sizeof(etag), "\"%s\"", f->etag_hex);
	if (f->multipart)
		return http_send_multipart(req, f, err);
	http_media_headers(req, cfg, f);
	if (mr_http_etag_matches(mr_req_env(req, "HTTP_IF_NONE_MATCH"), etag))
		return mr_resp_begin(req, 304);
	/* If-Range with another validator: the client's copy is stale. */
	if (if_range == NULL || strcmp(if_range, etag) == 0)
		ranged = mr_http_parse_range(range, f->size, &first, &last);
	/* Answered here even with X-Sendfile, so it carries our headers. */
	if (ranged < 0) {
		struct mr_err range_err;

		mr_resp_header(req, "Content-Range", "bytes */%lld",
		    (long long)f->size);
		mr_err_set(&range_err, 416, "M_UNKNOWN", "range not satisfiable");
		return mr_resp_error(req, &range_err);
	}
	mr_resp_header(req, "Content-Type", "%s", f->content_type);
	mr_resp_header(req, "Content-Disposition", "%s", f->disposition);
	if (cfg->xsendfile == MR_XSENDFILE_X_SENDFILE && f->path != NULL) {
		/* The web server sends the bytes and answers Range itself. */
		mr_resp_header(req, "X-Sendfile", "%s", f->path);
		return mr_resp_begin(req, 200);
	}
	if (cfg->xsendfile == MR_XSENDFILE_X_ACCEL && f->rel != NULL) {
		mr_resp_header(req, "X-Accel-Redirect", "%s%s",
		    cfg->xsendfile_prefix, f->rel);
		return mr_resp_begin(req, 200);
	}
	if (ranged > 0)
		mr_resp_header(req, "Content-Range", "bytes %lld-%lld/%lld",
		    (long long)first, (long long)last, (long long)f->size);
	mr_resp_header(req, "Content-Length", "%lld",
	    (long long)(f->size == 0 ? 0 : last - first + 1));
	if (mr_resp_begin(req, ranged > 0 ? 206 : 200) < 0)
		return mr_err_set(err, 499, "M_UNKNOWN", "client went away");
	if (f->size == 0 || req->head_only)
		return 0;
	return http_stream_range(req, f->reader, first, last, err);
}

/* --- the serve loop --- */

static void
http_req_init(struct mr_req *req, FCGX_Request *fcgx)
{
	memset(req, 0, sizeof(*req));
	req->fcgx = fcgx;
	req->envp = fcgx ? fcgx->envp : environ;
	req->content_length = -1;
	req->start_ms = mr_mono_ms();
	{
		unsigned char rnd[8];

		randombytes_buf(rnd, sizeof(rnd));
		mr_hex_encode(rnd, sizeof(rnd), req->id);
	}
}

static unsigned
http_method_bit(const char *m)
{
	if (strcmp(m, "GET") == 0)
		return MR_METHOD_GET;
	if (strcmp(m, "HEAD") == 0)
		return MR_METHOD_HEAD;
	if (strcmp(m, "POST") == 0)
		return MR_METHOD_POST;
	if (strcmp(m, "PUT") == 0)
		return MR_METHOD_PUT;
	if (strcmp(m, "DELETE") == 0)
		return MR_METHOD_DELETE;
	return 0;
}

/* Which routes need an access token, and whether guests may pass. */
static int
http_route_auth(const struct mr_ctx *ctx, const struct mr_route *r,
    int *guests_ok)
{
	*guests_ok = 0;
	switch (r->endpoint) {
	case MR_EP_DOWNLOAD:
	case MR_EP_THUMBNAIL:
		*guests_ok = 1;
		return r->api == MR_API_CLIENT_V1 ||
		    ctx->cfg.legacy_media_requires_auth;
	case MR_EP_UPLOAD:
	case MR_EP_UPLOAD_PUT:
	case MR_EP_CREATE:
	case MR_EP_PREVIEW_URL:
	case MR_EP_CONFIG:
	case MR_EP_ADMIN:
		return 1;
	default:
		return 0;
	}
}

/*
 * ?admin_unsafely_bypass_quarantine=true on a download or thumbnail: the
 * caller may be an admin, who then gets quarantined media too. Anyone
 * else (no token, a bad one, not an admin) is served as without it.
 */
static int
http_wants_bypass(const struct mr_req *req)
{
	const char *v = mr_req_query(req, "admin_unsafely_bypass_quarantine");

	return (req->route.endpoint == MR_EP_DOWNLOAD ||
	    req->route.endpoint == MR_EP_THUMBNAIL) && v != NULL &&
	    strcmp(v, "true") == 0;
}

/* Marks req->user an admin when token makes them one; no error escapes. */
static void
http_try_admin(struct mr_req *req, struct mr_ctx *ctx, const char *token)
{
	struct mr_err ignored;

	req->user.is_admin = !req->user.is_guest &&
	    mr_auth_check_admin(&ctx->whoami, ctx->store, &ctx->cfg, token,
	    req->user.user_id, &ignored) == 0;
}

/* Federation routes carry X-Matrix; GET has no body to sign. */
static int
http_authenticate_server(struct mr_req *req, struct mr_ctx *ctx,
    struct mr_err *err)
{
	struct mr_fed *f = mr_ctx_fed(ctx, err);

	if (f == NULL)
		return -1;
	if (mr_fed_verify_request(f, mr_req_env(req, "HTTP_AUTHORIZATION"),
	    req->method, req->request_uri, NULL, req->origin, err) < 0)
		return -1;
	req->authenticated = 1;
	return 0;
}

/* as_user: an appservice's ?user_id=, which only the homeserver judges. */
static int
http_check_token(struct mr_ctx *ctx, const char *token, const char *as_user,
    struct mr_user *user, struct mr_err *err)
{
	if (ctx->cfg.auth == MR_AUTH_HOMESERVER)
		return mr_auth_check_homeserver_as(&ctx->whoami, ctx->store,
		    &ctx->cfg, token, as_user, user, err);
	return mr_auth_check_token(ctx->store, token, user, err);
}

static int
http_authenticate(struct mr_req *req, struct mr_ctx *ctx, struct mr_err *err)
{
	char token[MR_TOKEN_MAX + 1];
	int guests_ok, rc = 0;

	if (req->route.api == MR_API_FED_MSC1902 ||
	    req->route.api == MR_API_FED_V1)
		return http_authenticate_server(req, ctx, err);
	if (!http_route_auth(ctx, &req->route, &guests_ok)) {
		struct mr_err ignored;

		/* Only a would-be admin's token is looked at here. */
		if (http_wants_bypass(req) && mr_auth_extract_token(
		    mr_req_env(req, "HTTP_AUTHORIZATION"),
		    mr_req_query(req, "access_token"),
		    ctx->cfg.allow_query_access_token, token, &ignored) == 0 &&
		    http_check_token(ctx, token, NULL, &req->user,
		    &ignored) == 0)
			http_try_admin(req, ctx, token);
		sodium_memzero(token, sizeof(token));
		return 0;
	}
	if (mr_auth_extract_token(mr_req_env(req, "HTTP_AUTHORIZATION"),
	    mr_req_query(req, "access_token"), ctx->cfg.allow_query_access_token,
	    token, err) < 0 ||
	    http_check_token(ctx, token, mr_req_query(req, "user_id"),
	    &req->user, err) < 0) {
		sodium_memzero(token, sizeof(token));
		return -1;
	}
	if (req->user.is_guest && !guests_ok) {
		sodium_memzero(token, sizeof(token));
		return mr_err_set(err, 403, "M_GUEST_ACCESS_FORBIDDEN",
		    "guests may not use this endpoint");
	}
	req->authenticated = 1;
	if (req->route.endpoint == MR_EP_ADMIN) {
		/* 403 for anyone who is not; the log line still names them. */
		rc = mr_auth_check_admin(&ctx->whoami, ctx->store, &ctx->cfg,
		    token, req->user.user_id, err);
		req->user.is_admin = rc == 0;
	} else if (http_wants_bypass(req)) {
		http_try_admin(req, ctx, token);
	}
	sodium_memzero(token, sizeof(token));
	return rc;
}

/* Splits and decodes the path parameters after the endpoint segment. */
static int
http_path_params(struct mr_req *req, const struct mr_ctx *ctx,
    const char *rest, size_t len, struct mr_err *err)
{
	const char *end = rest + len;

	while (rest < end && *rest == '/') {
		const char *seg = rest + 1;
		const char *next = memchr(seg, '/', (size_t)(end - seg));
		size_t seglen = (size_t)((next ? next : end) - seg);

		if (req->n_path_params >= MR_PATH_MAX_PARAMS)
			return mr_err_set(err, 404, "M_UNRECOGNIZED",
			    "unrecognized request");
		req->path_param[req->n_path_params] =
		    http_decode_into_scratch(req, seg, seglen, 0);
		if (req->path_param[req->n_path_params] == NULL)
			return mr_err_set(err, 400, "M_INVALID_PARAM",
			    "malformed percent-encoding in path");
		req->n_path_params++;
		rest = seg + seglen;
	}
	/* Routes with a server and a media id get them checked here. */
	switch (req->route.endpoint) {
	case MR_EP_UPLOAD_PUT:
	case MR_EP_DOWNLOAD:
	case MR_EP_THUMBNAIL:
		return mr_mxc_from_parts(req->path_param[0], req->path_param[1],
		    &req->mxc, err);
	case MR_EP_FED_DOWNLOAD:
	case MR_EP_FED_THUMBNAIL:
		/* v1 names only the id: it is always one of ours. */
		if (req->route.api == MR_API_FED_V1)
			return mr_mxc_from_parts(ctx->cfg.server_name,
			    req->path_param[0], &req->mxc, err);
		return mr_mxc_from_parts(req->path_param[0], req->path_param[1],
		    &req->mxc, err);
	default:
		return 0;
	}
}

static int
http_check_params(struct mr_req *req, const struct mr_program *prog,
    struct mr_err *err)
{
	for (unsigned i = 0; i < prog->n_params && i < MR_PARAMS_MAX; i++) {
		const char *raw = mr_req_query(req, prog->params[i].name);

		req->param[i].present = raw != NULL;
		req->param[i].s = raw;
		if (raw != NULL && prog->params[i].valid(raw, &req->param[i]) < 0)
			return mr_err_set(err, 400, "M_INVALID_PARAM",
			    "invalid value for '%s'", prog->params[i].name);
	}
	return 0;
}

/* Everything before the handler; returns 1 when the request is answered. */
static int
http_prepare(struct mr_req *req, struct mr_ctx *ctx, struct mr_err *err)
{
	const struct mr_program *prog = ctx->prog;
	const char *uri, *q, *cl;
	size_t path_len, params_at;
	int query_rc;

	req->method = mr_req_env(req, "REQUEST_METHOD");
	uri = req->request_uri = mr_req_env(req, "REQUEST_URI");
	if (req->method == NULL || uri == NULL)
		return mr_err_set(err, 400, "M_UNKNOWN", "not an HTTP request");
	if (strlen(uri) > MR_URI_MAX)
		return mr_err_set(err, 414, "M_UNKNOWN", "request uri too long");
	req->method_bit = http_method_bit(req->method);
	req->head_only = req->method_bit == MR_METHOD_HEAD;
	/* CORS preflight: answered on any path, no endpoint logic runs. */
	if (strcmp(req->method, "OPTIONS") == 0) {
		mr_resp_header(req, "Content-Length", "0");
		mr_resp_begin(req, 204);
		return 1;
	}
	q = strchr(uri, '?');
	path_len = q ? (size_t)(q - uri) : strlen(uri);
	if (mr_http_route(uri, path_len, &req->route, &params_at) < 0 ||
	    !(prog->endpoints & MR_EP_BIT(req->route.endpoint)) ||
	    (req->route.api == MR_API_FED_V1 &&
	    !ctx->cfg.serve_federation_media_v1) ||
	    (req->route.api == MR_API_FED_MSC1902 &&
	    !ctx->cfg.serve_federation_remote_media))
		return mr_err_set(err, 404, "M_UNRECOGNIZED",
		    "unrecognized request");
	if (!(req->route.methods & req->method_bit))
		return mr_err_set(err, 405, "M_UNRECOGNIZED",
		    "method not allowed on this endpoint");
	/* Auth comes before every other check of the request. */
	query_rc = http_parse_query(req, q ? q + 1 : NULL, err);
	if (http_authenticate(req, ctx, err) < 0 || query_rc < 0)
		return -1;
	if ((cl = mr_req_env(req, "CONTENT_LENGTH")) != NULL && cl[0] != '\0' &&
	    mr_parse_int64(cl, 0, INT64_MAX / 2, &req->content_length) < 0)
		return mr_err_set(err, 400, "M_UNKNOWN", "invalid Content-Length");
	if (http_path_params(req, ctx, uri + params_at, path_len - params_at,
	    err) < 0)
		return -1;
	return http_check_params(req, prog, err);
}

static void
http_log(const struct mr_req *req, const struct mr_ctx *ctx)
{
	const char *uri = req->request_uri ? req->request_uri : "-";
	size_t plen = strcspn(uri, "?");
	char raw[512], client[64], line[2048];
	struct mr_log_fields f;
	size_t n;

	if (!ctx->cfg.log_requests)
		return;
	/* The query may carry an access token: it never reaches the log. */
	snprintf(raw, sizeof(raw), "%.*s", (int)(plen < 511 ? plen : 511), uri);
	mr_req_client_addr(req, &ctx->cfg, client, sizeof(client));
	memset(&f, 0, sizeof(f));
	f.time_ms = mr_now_ms();
	f.program = ctx->prog->name;
	f.id = req->id;
	f.client = client;
	/* Who asked: the user, or the server of a federation request. */
	if (req->authenticated)
		f.user = req->origin[0] ? req->origin : req->user.user_id;
	f.method = req->method;
	f.path = raw;
	f.status = req->status;
	f.bytes = req->bytes_out;
	f.duration_ms = mr_mono_ms() - req->start_ms;
	f.cause = req->error_cause;
	n = mr_log_format_line(&f, (enum mr_log_format)ctx->cfg.log_format,
	    line, sizeof(line) - 1);
	/* One write, so lines of concurrent processes never interleave. */
	line[n++] = '\n';
	fwrite(line, 1, n, stderr);
	fflush(stderr);
}

/*
 * Whether the web server has given up on this request (the client hung
 * up). lighttpd and nginx close the FastCGI connection, or send
 * FCGI_ABORT_REQUEST, so anything readable after the request's own
 * (empty) stdin means the answer is no longer wanted. Only bodiless
 * requests wait, so reading stdin to its end first costs nothing.
 */
static int
http_client_gone(void *arg)
{
	struct mr_req *req = arg;
	struct pollfd pfd;
	char sink[256];

	/* A request with a body never waits (and its body is not ours to
	 * drain here): only GET and HEAD are watched. */
	if (req->fcgx == NULL ||
	    !(req->method_bit & (MR_METHOD_GET | MR_METHOD_HEAD)))
		return 0;
	if (!req->stdin_drained) {
		while (FCGX_GetStr(sink, sizeof(sink), req->fcgx->in) > 0)
			;
		req->stdin_drained = 1;
	}
	pfd.fd = req->fcgx->ipcFd;
	pfd.events = POLLIN | POLLRDHUP;
	pfd.revents = 0;
	return poll(&pfd, 1, 0) > 0;
}

/*
 * Every request has a deadline (slowcgi's habit): past request_deadline
 * the process says so and exits, whatever it was blocked on (a client
 * that stops sending under plain CGI, a peer that trickles). Its
 * supervisor starts a fresh one. The line is made before the alarm can
 * ring, as a signal handler may only write(2).
 */
static char http_deadline_line[200];
static size_t http_deadline_len;

static void
http_deadline_passed(int sig)
{
	(void)sig;
	(void)!write(STDERR_FILENO, http_deadline_line, http_deadline_len);
	_exit(1);
}

static void
http_deadline_arm(const struct mr_req *req, const struct mr_ctx *ctx)
{
	int n = snprintf(http_deadline_line, sizeof(http_deadline_line),
	    "mediarepo %s %s: request deadline of %lld s passed; the process "
	    "exits\n", ctx->prog->name, req->id,
	    (long long)(ctx->cfg.request_deadline / 1000));

	http_deadline_len = n > 0 && (size_t)n < sizeof(http_deadline_line) ?
	    (size_t)n : 0;
	alarm((unsigned)((ctx->cfg.request_deadline + 999) / 1000));
}

static void
http_handle(struct mr_req *req, struct mr_ctx *ctx)
{
	struct mr_err err;
	int rc;

	http_deadline_arm(req, ctx);
	mr_err_clear(&err);
	mr_wait_set_cancel(http_client_gone, req);
	rc = http_prepare(req, ctx, &err);
	if (rc == 0)
		rc = ctx->prog->handler(req, ctx, &err);
	if (rc < 0) {
		if (err.status == 0)
			mr_err_set(&err, 500, "M_UNKNOWN", "internal error");
		if (!req->headers_sent)
			mr_resp_error(req, &err);
		else
			snprintf(req->error_cause, sizeof(req->error_cause),
			    "after headers: %s", err.msg);
		if (err.status == 499 && req->status == 0)
			req->status = 499;
	}
	mr_wait_set_cancel(NULL, NULL);
	if (req->fcgx == NULL)
		fflush(stdout);
	http_log(req, ctx);
	mr_metrics_request(req->method, req->status, mr_mono_ms() -
	    req->start_ms, req->bytes_out);
	alarm(0);
}

static int
http_setup(struct mr_ctx *ctx, const struct mr_program *prog)
{
	struct mr_err err;

	memset(ctx, 0, sizeof(*ctx));
	ctx->prog = prog;
	signal(SIGPIPE, SIG_IGN);
	signal(SIGALRM, http_deadline_passed);
	/* Media, the database and slots: the web server's group may read
	 * (X-Sendfile), nobody else. */
	umask(027);
	if (sodium_init() < 0) {
		fprintf(stderr, "%s: cannot initialise libsodium\n", prog->name);
		return -1;
	}
	if (mr_ctx_open(ctx, prog->name, &err) < 0) {
		fprintf(stderr, "%s: %s\n", prog->name, err.msg);
		return -1;
	}
	ctx->prog = prog;
	ctx->procs = mr_config_processes(&ctx->cfg, prog->name);
	ctx->wait_slots = mr_slot_waiters(ctx->procs);
	/* The slot files live here; a missing directory would make every
	 * wait refuse. */
	if (mkdir(ctx->cfg.runtime_dir, 0750) < 0 && errno != EEXIST)
		fprintf(stderr, "%s: cannot create runtime_dir '%s': %s\n",
		    prog->name, ctx->cfg.runtime_dir, strerror(errno));
	/* Without its counters file a process still serves; it says so. */
	if (mr_metrics_open(ctx->cfg.runtime_dir, prog->name, ctx->wait_slots,
	    &err) < 0)
		fprintf(stderr, "%s: no metrics: %s\n", prog->name, err.msg);
	return 0;
}

/*
 * As slowcgi: descriptors 0 to 2 are open before anything else is, so no
 * file the program opens can become "stderr" and receive log lines.
 */
static void
http_safe_fds(void)
{
	for (int fd = 0; fd <= 2; fd++) {
		int nul;

		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		if ((nul = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY)) >= 0
		    && nul != fd) {
			dup2(nul, fd);
			close(nul);
		}
	}
}

int
mr_http_serve(const struct mr_program *prog)
{
	struct mr_ctx ctx;
	struct mr_req *req;
	FCGX_Request fcgx;

	http_safe_fds();
	if (http_setup(&ctx, prog) < 0)
		return 1;
	/* Too big for the stack of a small thread; one per process is plenty. */
	if ((req = malloc(sizeof(*req))) == NULL)
		return 1;
	if (FCGX_IsCGI()) {
		http_req_init(req, NULL);
		http_handle(req, &ctx);
		free(req);
		mr_ctx_close(&ctx);
		return 0;
	}
	if (FCGX_Init() != 0 || FCGX_InitRequest(&fcgx, 0, 0) != 0) {
		fprintf(stderr, "%s: cannot initialise FastCGI\n", prog->name);
		free(req);
		return 1;
	}
	while (FCGX_Accept_r(&fcgx) >= 0) {
		http_req_init(req, &fcgx);
		ctx.requests++;
		http_handle(req, &ctx);
		FCGX_Finish_r(&fcgx);
	}
	free(req);
	mr_ctx_close(&ctx);
	return 0;
}
