/*
 * http_client: one outbound GET through libcurl, for fed (federation) and
 * preview (URL previews), with the guards both need: every address the
 * connection reaches is checked against a deny/allow list at connect time
 * (so DNS answers and redirects cannot reach private space), time limits,
 * and a sink that sees the body as it arrives so callers can cap it and
 * stream it. Only this module and its two users include curl.h.
 *
 * One struct mr_hc per process keeps a curl handle so connections are
 * reused between requests.
 */
#ifndef MR_HTTP_CLIENT_H
#define MR_HTTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <sys/socket.h>

#include "net.h"
#include "util.h"

#define MR_HC_ERRBODY_MAX 4096

struct mr_hc;

typedef int (*mr_hc_sink)(void *arg, const void *buf, size_t len,
    struct mr_err *err);

struct mr_hc_request {
	const char *url;
	const char *connect_to;		/* curl CONNECT_TO entry, or NULL */
	const char *host;		/* Host header, or NULL */
	const char *authorization;	/* Authorization header, or NULL */
	const char *accept_language;	/* or NULL */
	int follow;			/* follow redirects (max_redirects) */
	long max_redirects;
	const char *protocols;		/* "https" or "https,http" */
	int decode;			/* accept and decode gzip/deflate */
	int64_t connect_timeout_ms, timeout_ms;
	const char *ca_file;		/* extra CA file, or NULL */
	int verify_tls;
	const struct mr_net_list *deny, *allow;
	/* The address check; NULL means mr_net_allowed. */
	int (*addr_allowed)(const struct sockaddr *,
	    const struct mr_net_list *, const struct mr_net_list *);
	int trusted;			/* skip the address check */
	mr_hc_sink sink;		/* 2xx bodies; others are kept below */
	void *arg;
};

/* What came back: the last response's status and chosen headers. */
struct mr_hc_response {
	long status;
	char content_type[256];
	char disposition[1024];
	char location[2048];
	char cache_control[256];
	char expires[128];
	char errbody[MR_HC_ERRBODY_MAX + 1];	/* non-2xx body, cut */
	size_t errlen;
	int blocked;			/* the address check refused a connect */
	int location_cut;		/* Location longer than location[] */
};

/* A sink that keeps the whole body in memory, up to max bytes. */
struct mr_hc_buffer {
	char *data;			/* malloc'ed, NUL-terminated; caller frees */
	size_t len, max;
};
/* For mr_hc_request.sink with a struct mr_hc_buffer: past max, 502
 * M_TOO_LARGE (counted on decoded bytes, so compression bombs stop too). */
int mr_hc_collect(void *arg, const void *buf, size_t len, struct mr_err *err);

int mr_hc_new(struct mr_hc **out, struct mr_err *err);
void mr_hc_free(struct mr_hc *hc);
/*
 * Runs the GET. 0 when an answer came (any status); -1 with 502 (no
 * connection, blocked address), 504 (timed out), or the sink's own error.
 */
int mr_hc_get(struct mr_hc *hc, const struct mr_hc_request *rq,
    struct mr_hc_response *rs, struct mr_err *err);
/* The Matrix errcode of an error body, or "" when it is not one. */
void mr_hc_errcode(const struct mr_hc_response *rs, char *out, size_t outsz);

#endif
