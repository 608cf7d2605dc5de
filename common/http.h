/*
 * http: one request from FastCGI or plain CGI, the response writer, the
 * route table and the serve loop every program runs.
 *
 * A program describes itself in a struct mr_program (which endpoints it
 * serves, its query parameters, its handler) and calls mr_http_serve().
 * The loop loads the config and opens the store once per process, then for
 * each request: finds the route from REQUEST_URI, answers OPTIONS, checks
 * the method, authenticates as the route demands, checks path and query
 * parameters, and only then calls the handler, which sees checked values.
 * A handler returns 0 after answering, or -1 with an mr_err that the loop
 * turns into a Matrix error response.
 *
 * Memory: everything a request points into lives in the request's scratch
 * buffer and dies with mr_req_release(); nothing here allocates per request.
 */
#ifndef MR_HTTP_H
#define MR_HTTP_H

#include <stdint.h>
#include <sys/types.h>

#include <fcgiapp.h>
#include <cjson/cJSON.h>

#include "auth.h"
#include "auth_whoami.h"
#include "blob.h"
#include "config.h"
#include "ctx.h"
#include "header.h"
#include "mxc.h"
#include "store.h"
#include "util.h"

enum mr_endpoint {
	MR_EP_UPLOAD,		/* POST .../upload */
	MR_EP_UPLOAD_PUT,	/* PUT /_matrix/media/v3/upload/{server}/{id} */
	MR_EP_CREATE,		/* POST /_matrix/media/v1/create */
	MR_EP_DOWNLOAD,		/* GET .../download/{server}/{id}[/{name}] */
	MR_EP_THUMBNAIL,	/* GET .../thumbnail/{server}/{id} */
	MR_EP_PREVIEW_URL,	/* GET .../preview_url */
	MR_EP_CONFIG,		/* GET .../config */
	MR_EP_FED_DOWNLOAD,	/* federation download, both shapes */
	MR_EP_FED_THUMBNAIL,	/* federation thumbnail, both shapes */
	MR_EP_KEYS,		/* GET /_matrix/key/v2/server */
	MR_EP_HEALTH,		/* GET /health (load balancers) */
	MR_EP_METRICS,		/* GET /metrics (Prometheus) */
	MR_EP_ADMIN,		/* Synapse's media admin API (serve_admin.h) */
	MR_EP__MAX
};

#define MR_EP_BIT(ep) (1u << (ep))

/* The family of a path prefix; it decides auth and response format. */
enum mr_api {
	MR_API_LEGACY,		/* /_matrix/media/{r0,v1,v3} */
	MR_API_MSC1902,		/* /_matrix/client/{r0,unstable/...msc1902}/media */
	MR_API_CLIENT_V1,	/* /_matrix/client/v1/media (authenticated) */
	MR_API_FED_MSC1902,	/* /_matrix/federation/.../remote_media */
	MR_API_FED_V1,		/* /_matrix/federation/v1/media (multipart) */
	MR_API_KEYS,		/* /_matrix/key/v2 */
	MR_API_HEALTH,		/* / (outside /_matrix: /health, /metrics) */
	MR_API_ADMIN,		/* /_synapse/admin/v1 (media admin API) */
};

#define MR_METHOD_GET	0x01u
#define MR_METHOD_HEAD	0x02u
#define MR_METHOD_POST	0x04u
#define MR_METHOD_PUT	0x08u
#define MR_METHOD_DELETE	0x10u

#define MR_URI_MAX 8192
#define MR_QUERY_MAX_PARAMS 64
#define MR_PATH_MAX_PARAMS 4

/* A query parameter an endpoint declares, with the check it must pass. */
struct mr_pval {
	int present;
	const char *s;		/* decoded text */
	int64_t n;		/* for numeric and boolean validators */
};

struct mr_param {
	const char *name;
	int (*valid)(const char *raw, struct mr_pval *out);
};

/* Validators for struct mr_param: 0 accepts, -1 refuses with 400. */
int mr_valid_uint(const char *raw, struct mr_pval *out);
int mr_valid_bool(const char *raw, struct mr_pval *out);
int mr_valid_filename(const char *raw, struct mr_pval *out);

#define MR_PARAMS_MAX 16

struct mr_route {
	enum mr_endpoint endpoint;
	enum mr_api api;
	unsigned methods;
};

struct mr_req {
	FCGX_Request *fcgx;		/* NULL when running as plain CGI */
	char **envp;
	const char *method;
	const char *request_uri;	/* raw, as received */
	unsigned method_bit;
	struct mr_route route;
	const char *path_param[MR_PATH_MAX_PARAMS];
	unsigned n_path_params;
	struct mr_mxc mxc;		/* checked server/id, when the route has them */
	const char *query_name[MR_QUERY_MAX_PARAMS];
	const char *query_value[MR_QUERY_MAX_PARAMS];
	unsigned n_query;
	struct mr_pval param[MR_PARAMS_MAX];	/* the program's declared params */
	struct mr_user user;		/* filled when the route needs a user */
	char origin[MR_SERVER_NAME_MAX + 1];	/* federation: checked origin */
	int authenticated;
	int64_t content_length;		/* -1 when the client sent none */
	int64_t body_read;
	int body_error;
	int stdin_drained;		/* FastCGI stdin read to its end */
	/* response */
	int status;
	char resp_headers[8192];
	size_t resp_headers_len;
	int headers_sent;
	int head_only;
	int64_t bytes_out;
	char id[17];
	int64_t start_ms;
	char error_cause[256];		/* for the log line, never sent */
	char scratch[2 * MR_URI_MAX];
	size_t scratch_used;
};

struct mr_ctx;

struct mr_program {
	const char *name;
	unsigned endpoints;		/* MR_EP_BIT()s this program serves */
	const struct mr_param *params;	/* indexed by the program's enum */
	unsigned n_params;
	int (*handler)(struct mr_req *req, struct mr_ctx *ctx,
	    struct mr_err *err);
};

/* Runs prog until the web server stops it; returns main's exit code. */
int mr_http_serve(const struct mr_program *prog);

/* --- request --- */
const char *mr_req_env(const struct mr_req *req, const char *name);
/*
 * The client's address: REMOTE_ADDR, or the nearest address in
 * X-Forwarded-For that is not one of trusted_proxies, when the peer is.
 * "-" when the web server gave none.
 */
void mr_req_client_addr(const struct mr_req *req, const struct mr_config *cfg,
    char *out, size_t outsz);
/* Decoded query value, or NULL. */
const char *mr_req_query(const struct mr_req *req, const char *name);
/*
 * Reads up to n body bytes; 0 at the end of the body, -1 when the client
 * went away or sent less than its Content-Length.
 */
ssize_t mr_req_read(struct mr_req *req, void *buf, size_t n);

/* --- response --- */
/* Adds a header; name and value must not hold CR or LF (checked). */
void mr_resp_header(struct mr_req *req, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Sends status and headers (and the CORS set every response carries). */
int mr_resp_begin(struct mr_req *req, int status);
int mr_resp_write(struct mr_req *req, const void *buf, size_t n);
int mr_resp_json(struct mr_req *req, int status, const cJSON *body);
int mr_resp_error(struct mr_req *req, const struct mr_err *err);

/* --- pure helpers, table-tested --- */
/* Finds the route of a raw path; 0, or -1 for an unknown path. */
int mr_http_route(const char *path, size_t path_len, struct mr_route *out,
    size_t *params_at);
/*
 * Parses "Range: bytes=..." against size. 1: one satisfiable range in
 * [*first, *last]; 0: no usable range (serve everything); -1: 416.
 */
int mr_http_parse_range(const char *hdr, int64_t size, int64_t *first,
    int64_t *last);
/* 1 when If-None-Match lists etag (weak comparison) or is "*". */
int mr_http_etag_matches(const char *if_none_match, const char *etag);
/* A stored file to answer with: headers, 304, Range, HEAD, X-Sendfile. */
struct mr_file_resp {
	struct mr_blob_reader *reader;	/* the bytes, when sent from here */
	const char *path;		/* a local file, for X-Sendfile */
	const char *rel;		/* its place in the store, for X-Accel */
	int64_t size;
	const char *content_type;
	const char *disposition;	/* full Content-Disposition value */
	const char *etag_hex;		/* content hash */
	int is_private;			/* authenticated media: private cache */
	/* Federation v1: wrap the bytes as the second part of a
	 * multipart/mixed body (no ranges, no X-Sendfile). */
	int multipart;
};
int mr_http_send_file(struct mr_req *req, const struct mr_config *cfg,
    const struct mr_file_resp *f, struct mr_err *err);

#endif
