/*
 * http_client: guarded outbound GETs with libcurl (see http_client.h).
 */
#include "http_client.h"
#include "slot.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

struct mr_hc {
	CURL *curl;
};

/* State of one transfer, seen by the callbacks. */
struct hc_call {
	const struct mr_hc_request *rq;
	struct mr_hc_response *rs;
	int sink_failed;
	struct mr_err sink_err;
};

int
mr_hc_collect(void *arg, const void *buf, size_t len, struct mr_err *err)
{
	struct mr_hc_buffer *b = arg;
	char *p;

	if (b->len + len > b->max)
		return mr_err_set(err, 502, "M_TOO_LARGE",
		    "answer larger than %zu bytes", b->max);
	if ((p = realloc(b->data, b->len + len + 1)) == NULL)
		return mr_err_set(err, 500, "M_UNKNOWN", "out of memory");
	b->data = p;
	memcpy(b->data + b->len, buf, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

int
mr_hc_new(struct mr_hc **out, struct mr_err *err)
{
	static int curl_ready;
	struct mr_hc *hc = calloc(1, sizeof(*hc));

	if (!curl_ready && curl_global_init(CURL_GLOBAL_DEFAULT) == 0)
		curl_ready = 1;
	if (hc == NULL || (hc->curl = curl_easy_init()) == NULL) {
		free(hc);
		return mr_err_set(err, 500, "M_UNKNOWN", "cannot set up curl");
	}
	*out = hc;
	return 0;
}

void
mr_hc_free(struct mr_hc *hc)
{
	if (hc == NULL)
		return;
	curl_easy_cleanup(hc->curl);
	free(hc);
}

static curl_socket_t
hc_opensocket(void *clientp, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct hc_call *c = clientp;

	(void)purpose;
	/* Checked on the address actually connected to, for every hop, so
	 * DNS answers and redirects cannot lead into private space. */
	if (!c->rq->trusted && !(c->rq->addr_allowed ? c->rq->addr_allowed :
	    mr_net_allowed)(&a->addr, c->rq->deny, c->rq->allow)) {
		c->rs->blocked = 1;
		return CURL_SOCKET_BAD;
	}
	return socket(a->family, a->socktype, a->protocol);
}

static void
hc_copy_header(char *dst, size_t dstsz, const char *v, size_t n)
{
	while (n > 0 && (v[n - 1] == '\r' || v[n - 1] == '\n' ||
	    v[n - 1] == ' '))
		n--;
	while (n > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		n--;
	}
	snprintf(dst, dstsz, "%.*s", (int)n, v);
}

static size_t
hc_header_cb(char *buf, size_t size, size_t nitems, void *arg)
{
	static const struct { const char *name; size_t off, size; } want[] = {
		{ "content-type:", offsetof(struct mr_hc_response, content_type),
		  256 },
		{ "content-disposition:",
		  offsetof(struct mr_hc_response, disposition), 1024 },
		{ "location:", offsetof(struct mr_hc_response, location), 2048 },
		{ "cache-control:",
		  offsetof(struct mr_hc_response, cache_control), 256 },
		{ "expires:", offsetof(struct mr_hc_response, expires), 128 },
	};
	struct hc_call *c = arg;
	char *rs = (char *)c->rs;
	size_t n = size * nitems;

	/* A new status line (after a redirect) starts a new response. */
	if (n > 5 && strncmp(buf, "HTTP/", 5) == 0) {
		long status = 0;

		sscanf(buf, "HTTP/%*s %ld", &status);
		c->rs->status = status;
		for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
			rs[want[i].off] = '\0';
		return n;
	}
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		size_t k = strlen(want[i].name);

		if (n > k && strncasecmp(buf, want[i].name, k) == 0) {
			hc_copy_header(rs + want[i].off, want[i].size, buf + k,
			    n - k);
			/* A cut Location would send us where nobody said. */
			if (want[i].off == offsetof(struct mr_hc_response,
			    location) && n - k >= want[i].size)
				c->rs->location_cut = 1;
		}
	}
	return n;
}

static size_t
hc_write_cb(char *buf, size_t size, size_t nitems, void *arg)
{
	struct hc_call *c = arg;
	struct mr_hc_response *rs = c->rs;
	size_t n = size * nitems;

	if (rs->status >= 200 && rs->status < 300 && c->rq->sink != NULL) {
		if (c->rq->sink(c->rq->arg, buf, n, &c->sink_err) < 0) {
			c->sink_failed = 1;
			return 0;	/* stops the transfer */
		}
		return n;
	}
	if (rs->errlen < MR_HC_ERRBODY_MAX) {
		size_t k = n < MR_HC_ERRBODY_MAX - rs->errlen ? n :
		    MR_HC_ERRBODY_MAX - rs->errlen;

		memcpy(rs->errbody + rs->errlen, buf, k);
		rs->errlen += k;
		rs->errbody[rs->errlen] = '\0';
	}
	return n;
}

/* Called about once a second at least: a transfer nobody waits for
 * any more stops, freeing the process. */
static int
hc_progress_cb(void *arg, curl_off_t dltotal, curl_off_t dlnow,
    curl_off_t ultotal, curl_off_t ulnow)
{
	(void)arg, (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
	return mr_wait_cancelled();
}

static void
hc_setup(CURL *h, const struct mr_hc_request *rq, struct hc_call *c)
{
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, rq->url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, rq->protocols);
	curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, rq->protocols);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, rq->follow ? 1L : 0L);
	curl_easy_setopt(h, CURLOPT_MAXREDIRS, rq->max_redirects);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
	    (long)rq->connect_timeout_ms);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)rq->timeout_ms);
	curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, hc_opensocket);
	curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, c);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, hc_header_cb);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, c);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, hc_write_cb);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, hc_progress_cb);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_USERAGENT,
	    "mediarepo/0.1 (Matrix media repository; +previews)");
	if (rq->decode)
		curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, rq->verify_tls ? 1L : 0L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, rq->verify_tls ? 2L : 0L);
	/* With OpenSSL, CAINFO and CAPATH both count: the operator's extra
	 * CA is added to the system's, not put in its place. */
	if (rq->ca_file != NULL && rq->ca_file[0] != '\0') {
		curl_easy_setopt(h, CURLOPT_CAINFO, rq->ca_file);
		curl_easy_setopt(h, CURLOPT_CAPATH, "/etc/ssl/certs");
	}
}

int
mr_hc_get(struct mr_hc *hc, const struct mr_hc_request *rq,
    struct mr_hc_response *rs, struct mr_err *err)
{
	struct curl_slist *headers = NULL, *connect = NULL;
	struct hc_call c = { rq, rs, 0, { 0 } };
	char line[4096];
	CURLcode rc;

	memset(rs, 0, sizeof(*rs));
	hc_setup(hc->curl, rq, &c);
	if (rq->connect_to != NULL) {
		connect = curl_slist_append(NULL, rq->connect_to);
		curl_easy_setopt(hc->curl, CURLOPT_CONNECT_TO, connect);
	}
	if (rq->host != NULL) {
		snprintf(line, sizeof(line), "Host: %s", rq->host);
		headers = curl_slist_append(headers, line);
	}
	if (rq->authorization != NULL) {
		snprintf(line, sizeof(line), "Authorization: %s",
		    rq->authorization);
		headers = curl_slist_append(headers, line);
	}
	if (rq->accept_language != NULL && rq->accept_language[0] != '\0') {
		snprintf(line, sizeof(line), "Accept-Language: %s",
		    rq->accept_language);
		headers = curl_slist_append(headers, line);
	}
	curl_easy_setopt(hc->curl, CURLOPT_HTTPHEADER, headers);
	rc = curl_easy_perform(hc->curl);
	curl_slist_free_all(headers);
	curl_slist_free_all(connect);
	if (c.sink_failed) {
		*err = c.sink_err;
		return -1;
	}
	if (rc == CURLE_OK)
		return 0;
	if (rc == CURLE_ABORTED_BY_CALLBACK)
		return mr_err_set(err, 499, "M_UNKNOWN",
		    "client went away during an outbound request");
	if (rs->blocked)
		return mr_err_set(err, 502, "M_UNKNOWN",
		    "refused to connect to a blocked address");
	mr_err_set(err, rc == CURLE_OPERATION_TIMEDOUT ? 504 : 502,
	    "M_UNKNOWN", "remote server unreachable: %s",
	    curl_easy_strerror(rc));
	/* No answer at all, as opposed to an answer we did not like: what
	 * the breaker of a remote server counts. */
	err->remote_down = rs->status == 0 || rc == CURLE_OPERATION_TIMEDOUT;
	return -1;
}

void
mr_hc_errcode(const struct mr_hc_response *rs, char *out, size_t outsz)
{
	cJSON *o = cJSON_ParseWithLength(rs->errbody, rs->errlen);
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "errcode");

	snprintf(out, outsz, "%s", cJSON_IsString(e) ? e->valuestring : "");
	cJSON_Delete(o);
}
