/*
 * fed: outbound federation and inbound request checks (see fed.h).
 */
#include "fed.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <sodium.h>

#include "auth_xmatrix.h"
#include "blob.h"
#include "fed_discover.h"
#include "header.h"
#include "http_client.h"
#include "json.h"
#include "keys.h"
#include "multipart.h"
#include "net.h"

#define FED_KEYS_BODY_MAX 65536
#define FED_KEY_REFETCH_MS 60000	/* one refetch a minute per server */
#define FED_KEY_MAX_LIFE_MS (7 * 86400 * INT64_C(1000))
#define FED_LOCATION_HOPS 5

struct mr_fed {
	const struct mr_config *cfg;
	struct mr_store *st;
	struct mr_blob *blob;		/* where fetched media goes */
	struct mr_hc *hc;
	struct mr_net_list deny, allow;
	struct mr_signing_key *key;	/* mr_keys_alloc: not in fork children */
	int have_key;
};

int
mr_fed_open(struct mr_fed **out, const struct mr_config *cfg,
    struct mr_store *st, struct mr_blob *blob, struct mr_err *err)
{
	struct mr_fed *f = calloc(1, sizeof(*f));
	struct mr_err ignored;

	if (f == NULL)
		return mr_err_set(err, 500, "M_UNKNOWN", "out of memory");
	f->cfg = cfg;
	f->st = st;
	f->blob = blob;
	if (mr_hc_new(&f->hc, err) < 0 ||
	    mr_net_parse_list(cfg->ip_range_blacklist, &f->deny) < 0 ||
	    mr_net_parse_list(cfg->ip_range_whitelist, &f->allow) < 0) {
		mr_fed_free(f);
		return mr_err_set(err, 500, "M_UNKNOWN",
		    "cannot set up federation");
	}
	/*
	 * The key is read here, on first federation use, into memory that a
	 * thumbnail decoder forked later does not inherit (keys.h), so
	 * hostile image bytes never share a process with the seed.
	 */
	if ((f->key = mr_keys_alloc(err)) == NULL) {
		mr_fed_free(f);
		return -1;
	}
	/* Without a key we can still verify others; we just cannot sign. */
	f->have_key = mr_keys_load(cfg->signing_key_path, f->key,
	    &ignored) == 0;
	*out = f;
	return 0;
}

void
mr_fed_free(struct mr_fed *f)
{
	if (f == NULL)
		return;
	mr_hc_free(f->hc);
	mr_keys_free(f->key);
	free(f);
}

/* --- one transfer --- */

/*
 * A GET with the federation settings. connect_to redirects the connection
 * while TLS and the URL keep the name the certificate must match.
 */
static int
fed_request(struct mr_fed *f, const char *url, const char *connect_to,
    const char *host, const char *auth, int follow, int trusted,
    mr_hc_sink sink, void *arg, struct mr_hc_response *rs, struct mr_err *err)
{
	struct mr_hc_request rq = {
		.url = url,
		.connect_to = connect_to,
		.host = host,
		.authorization = auth,
		.follow = follow,
		.max_redirects = FED_LOCATION_HOPS,
		.protocols = follow ? "https,http" : "https",
		.connect_timeout_ms = f->cfg->federation_connect_timeout,
		.timeout_ms = f->cfg->federation_timeout,
		.ca_file = f->cfg->federation_ca_file,
		.verify_tls = f->cfg->federation_verify_tls,
		.deny = &f->deny,
		.allow = &f->allow,
		.trusted = trusted,
		.sink = sink,
		.arg = arg,
	};

	return mr_hc_get(f->hc, &rq, rs, err);
}

/* --- discovery --- */



static int
fed_well_known(void *arg, const char *host,
    char delegated[MR_SERVER_NAME_MAX + 1])
{
	struct mr_fed *f = arg;
	struct mr_hc_response rs;
	struct mr_hc_buffer b = { NULL, 0, MR_FED_WELL_KNOWN_MAX_BODY };
	struct mr_err err;
	char url[512];
	int64_t now = mr_now_ms(), life;
	int found, ok = 0;

	if ((found = mr_store_well_known_get(f->st, host, now, delegated,
	    &err)) == MR_STORE_OK)
		return delegated[0] != '\0' ? 0 : -1;
	snprintf(url, sizeof(url), "https://%s/.well-known/matrix/server", host);
	if (fed_request(f, url, NULL, NULL, NULL, 1, 0, mr_hc_collect, &b, &rs,
	    &err) == 0 && rs.status == 200 && b.data != NULL &&
	    mr_fed_parse_well_known(b.data, b.len, delegated, &err) == 0)
		ok = 1;
	free(b.data);
	life = ok ? mr_fed_well_known_lifetime(rs.cache_control[0] ?
	    rs.cache_control : NULL, rs.expires[0] ? rs.expires : NULL, now) :
	    mr_fed_well_known_error_lifetime(1);
	if (!ok)
		delegated[0] = '\0';
	mr_store_well_known_put(f->st, host, delegated, now + life, &err);
	return ok ? 0 : -1;
}

/*
 * Where server_name is reached. federation_resolve entries are trusted
 * as given (no address check): operators use them for private peers.
 */
static int
fed_target(struct mr_fed *f, const char *server_name, struct mr_fed_target *t,
    int *trusted, struct mr_err *err)
{
	struct mr_fed_resolver r = { fed_well_known, mr_fed_srv_lookup, f };
	char host[256];
	uint16_t port, name_port;
	int is_ip;

	memset(t, 0, sizeof(*t));
	*trusted = 0;
	if (mr_config_resolve_lookup(f->cfg, server_name, host, sizeof(host),
	    &port) == 1) {
		char name[256];

		if (mr_fed_split_server_name(server_name, name, sizeof(name),
		    &name_port, &is_ip) < 0)
			return mr_err_set(err, 400, "M_INVALID_PARAM",
			    "invalid server name");
		snprintf(t->connect_host, sizeof(t->connect_host), "%s", host);
		t->port = port;
		snprintf(t->host_header, sizeof(t->host_header), "%s",
		    server_name);
		snprintf(t->tls_name, sizeof(t->tls_name), "%s", name);
		t->tls_name_is_ip = is_ip;
		*trusted = 1;
		return 0;
	}
	return mr_fed_discover(server_name, &r, t, err);
}


/* "host" as a URL authority: IPv6 literals get brackets. */
static void
fed_url_host(const char *host, char *out, size_t outsz)
{
	snprintf(out, outsz, strchr(host, ':') ? "[%s]" : "%s", host);
}

/* X-Matrix header for GET path to destination, signed with our key. */
static int
fed_sign(struct mr_fed *f, const char *destination, const char *path,
    char *out, size_t outsz, struct mr_err *err)
{
	if (!f->have_key)
		return mr_err_set(err, 500, "M_UNKNOWN",
		    "no signing key at '%s'", f->cfg->signing_key_path);
	return mr_auth_sign_xmatrix(f->key, f->cfg->server_name, destination,
	    "GET", path, NULL, out, outsz, err);
}

/* A GET of path on server_name, signed when sign is set. */
static int
fed_get(struct mr_fed *f, const char *server_name, const char *path,
    int sign, mr_hc_sink sink, void *arg, struct mr_hc_response *rs,
    struct mr_err *err)
{
	struct mr_fed_target t;
	char url[4096], authority[300], connect_host[300], connect[700];
	char auth[1024];
	int trusted;

	if (mr_mxc_same_server(server_name, strlen(server_name),
	    f->cfg->server_name, strlen(f->cfg->server_name)))
		return mr_err_set(err, 502, "M_UNKNOWN",
		    "refusing to fetch from ourselves");
	if (fed_target(f, server_name, &t, &trusted, err) < 0)
		return -1;
	if (sign && fed_sign(f, server_name, path, auth, sizeof(auth), err) < 0)
		return -1;
	fed_url_host(t.tls_name, authority, sizeof(authority));
	fed_url_host(t.connect_host, connect_host, sizeof(connect_host));
	snprintf(url, sizeof(url), "https://%s:%u%s", authority, t.port, path);
	/* Connect where discovery says; check TLS against tls_name. */
	snprintf(connect, sizeof(connect), "%s:%u:%s:%u", authority, t.port,
	    connect_host, t.port);
	return fed_request(f, url, connect, t.host_header, sign ? auth : NULL, 0,
	    trusted, sink, arg, rs, err);
}

/* --- keys --- */

/* Every key in verify_keys must have signed the response (spec 4.6). */
static int
fed_check_key_response(struct mr_fed *f, const cJSON *o, const char *server,
    struct mr_err *err)
{
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(o, "server_name");
	const cJSON *keys = cJSON_GetObjectItemCaseSensitive(o, "verify_keys");
	const cJSON *sigs = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(o, "signatures"), server);
	const cJSON *until = cJSON_GetObjectItemCaseSensitive(o,
	    "valid_until_ts");
	const cJSON *k;
	int64_t now = mr_now_ms(), expires;
	int n = 0;

	if (!cJSON_IsString(name) || strcmp(name->valuestring, server) != 0 ||
	    !cJSON_IsObject(keys) || !cJSON_IsObject(sigs) ||
	    !cJSON_IsNumber(until))
		return mr_err_set(err, 401, "M_UNAUTHORIZED",
		    "malformed key response from '%s'", server);
	expires = (int64_t)until->valuedouble;
	if (expires > now + FED_KEY_MAX_LIFE_MS)
		expires = now + FED_KEY_MAX_LIFE_MS;
	cJSON_ArrayForEach(k, keys) {
		const cJSON *b64 = cJSON_GetObjectItemCaseSensitive(k, "key");
		const cJSON *sig = cJSON_GetObjectItemCaseSensitive(sigs,
		    k->string);
		unsigned char pk[32];

		if (!mr_keys_valid_key_id(k->string) || !cJSON_IsString(b64) ||
		    !cJSON_IsString(sig) ||
		    mr_keys_decode_public(b64->valuestring, pk, err) < 0 ||
		    mr_keys_verify_json(o, pk, sig->valuestring, err) < 0)
			return mr_err_set(err, 401, "M_UNAUTHORIZED",
			    "key response of '%s' not signed by '%s'", server,
			    k->string);
		n++;
	}
	if (n == 0 || expires <= now)
		return mr_err_set(err, 401, "M_UNAUTHORIZED",
		    "no valid keys from '%s'", server);
	cJSON_ArrayForEach(k, keys) {
		const cJSON *b64 = cJSON_GetObjectItemCaseSensitive(k, "key");

		if (mr_store_server_key_put(f->st, server, k->string,
		    b64->valuestring, expires, err) < 0)
			return -1;
	}
	return 0;
}

/* A notary's answer: its signature first, then the server's own. */
static int
fed_check_notary_response(struct mr_fed *f, const cJSON *o,
    const char *server, struct mr_err *err)
{
	const char *nk = f->cfg->trusted_key_server_key;
	const char *space = strchr(nk, ' ');
	char key_id[MR_KEY_ID_MAX + 1];
	unsigned char pk[32];
	const cJSON *sig;

	if (space == NULL || (size_t)(space - nk) > MR_KEY_ID_MAX)
		return mr_err_set(err, 500, "M_UNKNOWN",
		    "trusted_key_server_key must be 'ed25519:ID BASE64'");
	snprintf(key_id, sizeof(key_id), "%.*s", (int)(space - nk), nk);
	sig = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(o, "signatures"),
	    f->cfg->trusted_key_server), key_id);
	if (mr_keys_decode_public(space + 1, pk, err) < 0 ||
	    !cJSON_IsString(sig) ||
	    mr_keys_verify_json(o, pk, sig->valuestring, err) < 0)
		return mr_err_set(err, 401, "M_UNAUTHORIZED",
		    "notary answer for '%s' not signed by the notary", server);
	return fed_check_key_response(f, o, server, err);
}

static int
fed_fetch_keys(struct mr_fed *f, const char *server, struct mr_err *err)
{
	struct mr_hc_buffer b = { NULL, 0, FED_KEYS_BODY_MAX };
	struct mr_hc_response rs;
	char path[400];
	cJSON *o = NULL;
	int notary = f->cfg->trusted_key_server[0] != '\0', rc = -1;

	if (notary)
		snprintf(path, sizeof(path), "/_matrix/key/v2/query/%s", server);
	if (fed_get(f, notary ? f->cfg->trusted_key_server : server,
	    notary ? path : "/_matrix/key/v2/server", 0, mr_hc_collect, &b, &rs,
	    err) < 0)
		goto out;
	if (rs.status != 200 || b.data == NULL ||
	    (o = mr_json_parse_strict(b.data, b.len, 32, err)) == NULL) {
		mr_err_set(err, 401, "M_UNAUTHORIZED",
		    "cannot fetch the keys of '%s'", server);
		goto out;
	}
	if (notary) {
		const cJSON *list = cJSON_GetObjectItemCaseSensitive(o,
		    "server_keys"), *item;

		mr_err_set(err, 401, "M_UNAUTHORIZED",
		    "notary has no keys of '%s'", server);
		cJSON_ArrayForEach(item, list)
			if (fed_check_notary_response(f, item, server, err) == 0)
				rc = 0;
	} else {
		rc = fed_check_key_response(f, o, server, err);
	}
out:
	cJSON_Delete(o);
	free(b.data);
	return rc;
}

int
mr_fed_server_key(struct mr_fed *f, const char *server, const char *key_id,
    unsigned char pk[32], struct mr_err *err)
{
	char b64[64];
	int64_t now = mr_now_ms();
	enum mr_store_rc rc;

	rc = mr_store_server_key_get(f->st, server, key_id, now, b64, err);
	if (rc == MR_STORE_NOT_FOUND) {
		/* An unknown key id earns one fetch a minute, no more, so
		 * forged ids cannot turn us into a request amplifier. */
		rc = mr_store_server_key_claim_fetch(f->st, server, now,
		    FED_KEY_REFETCH_MS, err);
		if (rc == MR_STORE_BUSY)
			return mr_err_set(err, 401, "M_UNAUTHORIZED",
			    "keys of '%s' were fetched moments ago", server);
		if (rc != MR_STORE_OK || fed_fetch_keys(f, server, err) < 0)
			return -1;
		rc = mr_store_server_key_get(f->st, server, key_id, now, b64,
		    err);
	}
	if (rc == MR_STORE_NOT_FOUND)
		return mr_err_set(err, 401, "M_UNAUTHORIZED",
		    "unknown key '%s' of '%s'", key_id, server);
	if (rc != MR_STORE_OK)
		return -1;
	return mr_keys_decode_public(b64, pk, err);
}

int
mr_fed_verify_request(struct mr_fed *f, const char *authorization,
    const char *method, const char *uri, const cJSON *content,
    char origin[MR_SERVER_NAME_MAX + 1], struct mr_err *err)
{
	const struct mr_config *cfg = f->cfg;
	struct mr_xmatrix x;
	unsigned char pk[32];

	if (mr_auth_parse_xmatrix(authorization, &x, err) < 0)
		return -1;
	if (x.destination[0] != '\0' &&
	    strcmp(x.destination, cfg->server_name) != 0)
		return mr_err_set(err, 401, "M_UNAUTHORIZED",
		    "request is for another destination");
	if (mr_config_list_has(cfg->federation_blocked_servers, x.origin) ||
	    (cfg->federation_domain_whitelist[0] != '\0' &&
	    !mr_config_list_has(cfg->federation_domain_whitelist, x.origin)))
		return mr_err_set(err, 403, "M_FORBIDDEN",
		    "federation with '%s' is not allowed", x.origin);
	if (mr_fed_server_key(f, x.origin, x.key, pk, err) < 0)
		return mr_err_set(err, 401, "M_UNAUTHORIZED",
		    "cannot verify the signature of '%s'", x.origin);
	if (mr_auth_verify_xmatrix(&x, pk, cfg->server_name, method, uri,
	    content, err) < 0)
		return -1;
	snprintf(origin, MR_SERVER_NAME_MAX + 1, "%s", x.origin);
	return 0;
}

cJSON *
mr_fed_own_keys(struct mr_fed *f, int64_t valid_for_ms, struct mr_err *err)
{
	cJSON *o, *vk, *k;
	char id[MR_KEY_ID_MAX + 1], pub[64];

	if (!f->have_key) {
		mr_err_set(err, 404, "M_NOT_FOUND", "this server has no key");
		return NULL;
	}
	snprintf(id, sizeof(id), "ed25519:%s", f->key->version);
	mr_keys_public_b64(f->key, pub);
	if ((o = cJSON_CreateObject()) == NULL ||
	    !cJSON_AddStringToObject(o, "server_name", f->cfg->server_name) ||
	    (vk = cJSON_AddObjectToObject(o, "verify_keys")) == NULL ||
	    (k = cJSON_AddObjectToObject(vk, id)) == NULL ||
	    !cJSON_AddStringToObject(k, "key", pub) ||
	    !cJSON_AddObjectToObject(o, "old_verify_keys") ||
	    !cJSON_AddNumberToObject(o, "valid_until_ts",
	    (double)(mr_now_ms() + valid_for_ms)) ||
	    mr_keys_sign_json(o, f->cfg->server_name, f->key, err) < 0) {
		if (err->status == 0)
			mr_err_set(err, 500, "M_UNKNOWN", "out of memory");
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

/* --- remote media --- */

/* Where fetched bytes go: the blob writer, capped. */
struct fed_fetch {
	struct mr_fed *f;
	struct mr_blob_writer *w;	/* NULL between writers */
	struct mr_multipart_parser *mp;
	const struct mr_hc_response *rs;	/* headers seen so far */
	char part_type[MR_CONTENT_TYPE_MAX + 1];
	char part_disposition[1024];
	char part_location[2048];
};

static int
fed_fetch_body(void *arg, const void *buf, size_t len, struct mr_err *err)
{
	struct fed_fetch *ff = arg;

	if (mr_blob_write(ff->w, buf, len, err) < 0) {
		if (err->status == 413)
			err->status = 502;	/* the spec's remote "too large" */
		return -1;
	}
	return 0;
}

static int
fed_part_header(void *arg, const char *name, const char *value,
    struct mr_err *err)
{
	struct fed_fetch *ff = arg;

	(void)err;
	if (strcasecmp(name, "Content-Type") == 0)
		snprintf(ff->part_type, sizeof(ff->part_type), "%s", value);
	else if (strcasecmp(name, "Content-Disposition") == 0)
		snprintf(ff->part_disposition, sizeof(ff->part_disposition), "%s",
		    value);
	else if (strcasecmp(name, "Location") == 0)
		snprintf(ff->part_location, sizeof(ff->part_location), "%s",
		    value);
	return 0;
}

static int
fed_part_json(void *arg, const char *json, size_t len, struct mr_err *err)
{
	(void)arg;
	(void)json;
	(void)len;
	(void)err;
	return 0;	/* metadata is reserved; nothing to read yet */
}

/* The multipart sink: made on the first byte, once Content-Type is known. */
static int
fed_multipart_sink(void *arg, const void *buf, size_t len,
    struct mr_err *err)
{
	struct fed_fetch *ff = arg;

	if (ff->mp == NULL) {
		struct mr_multipart_handler h = {
			.on_json = fed_part_json,
			.on_header = fed_part_header,
			.on_body = fed_fetch_body,
			.arg = ff,
		};
		char boundary[MR_MULTIPART_BOUNDARY_MAX + 1];

		if (mr_multipart_parse_content_type(ff->rs->content_type,
		    boundary, err) < 0 ||
		    mr_multipart_parser_new(&ff->mp, boundary, &h, err) < 0)
			return -1;
	}
	return mr_multipart_parser_feed(ff->mp, buf, len, err);
}

/* 1 when an answer says "no such endpoint" rather than "no such media". */
static int
fed_endpoint_unknown(const struct mr_hc_response *rs)
{
	char code[64];

	mr_hc_errcode(rs, code, sizeof(code));
	if (strcmp(code, "M_UNRECOGNIZED") == 0)
		return 1;
	/* Old servers and proxies answer unknown paths without Matrix JSON. */
	return (rs->status == 404 && code[0] == '\0') || rs->status == 405 ||
	    rs->status == 501;
}

static void
fed_fill_media(struct mr_fed_media *out, const char *type,
    const char *disposition)
{
	/* Checked as an upload's type is; what fails is plain bytes. */
	if (mr_header_content_type_clean(type, out->content_type,
	    sizeof(out->content_type)) < 0)
		snprintf(out->content_type, sizeof(out->content_type), "%s",
		    "application/octet-stream");
	out->filename[0] = '\0';
	if (disposition != NULL && disposition[0] != '\0' &&
	    mr_header_disposition_filename(disposition, out->filename,
	    sizeof(out->filename)) < 0)
		out->filename[0] = '\0';
}

enum fed_attempt { FED_V1, FED_MSC1902, FED_V3, FED_R0, FED__MAX };

/* Follows a Location part: plain GET, each hop's address checked. */
static int
fed_follow_location(struct mr_fed *f, struct fed_fetch *ff,
    struct mr_fed_media *out, struct mr_err *err)
{
	struct mr_hc_response rs;

	mr_blob_abort(ff->w);
	ff->w = NULL;
	if (mr_blob_begin(f->blob, f->cfg->max_remote_media_size, &ff->w,
	    err) < 0)
		return -1;
	ff->rs = &rs;
	if (fed_request(f, ff->part_location, NULL, NULL, NULL, 1, 0,
	    fed_fetch_body, ff, &rs, err) < 0)
		return -1;
	if (rs.status != 200)
		return mr_err_set(err, 502, "M_UNKNOWN",
		    "media location answered %ld", rs.status);
	fed_fill_media(out, rs.content_type, rs.disposition);
	return 0;
}

/* One try of one API; 1 means "that endpoint is unknown: try the next". */
static int
fed_try(struct mr_fed *f, const struct mr_mxc *mxc, enum fed_attempt a,
    struct mr_fed_media *out, struct mr_err *err)
{
	struct mr_hc_response rs;
	struct fed_fetch ff;
	char path[1024];
	int rc;

	memset(&ff, 0, sizeof(ff));
	ff.f = f;
	ff.rs = &rs;
	switch (a) {
	case FED_V1:
		snprintf(path, sizeof(path),
		    "/_matrix/federation/v1/media/download/%s", mxc->id);
		break;
	case FED_MSC1902:
		snprintf(path, sizeof(path),
		    "/_matrix/federation/v1/remote_media/download/%s/%s",
		    mxc->server, mxc->id);
		break;
	default:
		snprintf(path, sizeof(path),
		    "/_matrix/media/%s/download/%s/%s?allow_remote=false",
		    a == FED_V3 ? "v3" : "r0", mxc->server, mxc->id);
		break;
	}
	if (mr_blob_begin(f->blob, f->cfg->max_remote_media_size, &ff.w,
	    err) < 0)
		return -1;
	rc = fed_get(f, mxc->server, path, a <= FED_MSC1902,
	    a == FED_V1 ? fed_multipart_sink : fed_fetch_body, &ff, &rs, err);
	if (rc == 0 && rs.status == 200 && a == FED_V1 &&
	    (ff.mp == NULL || mr_multipart_parser_finish(ff.mp, err) < 0)) {
		if (ff.mp == NULL)
			mr_err_set(err, 502, "M_UNKNOWN", "empty multipart answer");
		rc = -1;
	}
	mr_multipart_parser_free(ff.mp);
	if (rc == 0 && rs.status == 200 && a == FED_V1 &&
	    ff.part_location[0] != '\0') {
		rc = fed_follow_location(f, &ff, out, err);
	} else if (rc == 0 && rs.status == 200) {
		fed_fill_media(out, a == FED_V1 ? ff.part_type : rs.content_type,
		    a == FED_V1 ? ff.part_disposition : rs.disposition);
	} else if (rc == 0) {
		mr_blob_abort(ff.w);
		if (fed_endpoint_unknown(&rs))
			return 1;
		if (rs.status == 404)
			return mr_err_set(err, 404, "M_NOT_FOUND",
			    "remote media not found");
		return mr_err_set(err, 502, "M_UNKNOWN",
		    "remote server answered %ld", rs.status);
	}
	if (rc < 0) {
		mr_blob_abort(ff.w);
		return -1;
	}
	return mr_blob_commit(ff.w, out->sha256, &out->size, err);
}

int
mr_fed_fetch_media(struct mr_fed *f, const struct mr_mxc *mxc,
    struct mr_fed_media *out, struct mr_err *err)
{
	memset(out, 0, sizeof(*out));
	/* "mxc://OUR.NAME/x" is ours too: never a fetch from ourselves. */
	if (mr_mxc_same_server(mxc->server, strlen(mxc->server),
	    f->cfg->server_name, strlen(f->cfg->server_name)))
		return mr_err_set(err, 404, "M_NOT_FOUND", "media not found");
	if (mr_config_list_has(f->cfg->prevent_media_downloads_from,
	    mxc->server))
		return mr_err_set(err, 404, "M_NOT_FOUND",
		    "media from '%s' is not fetched here", mxc->server);
	for (int a = FED_V1; a < FED__MAX; a++) {
		int rc = fed_try(f, mxc, (enum fed_attempt)a, out, err);

		if (rc <= 0)
			return rc;
	}
	return mr_err_set(err, 502, "M_UNKNOWN",
	    "'%s' serves media on no API we know", mxc->server);
}
