/*
 * preview: URL previews behind the guarded fetcher (see preview.h).
 */
#include "preview.h"
#include "slot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "blob.h"
#include "http_client.h"
#include "image.h"
#include "header.h"
#include "json.h"
#include "media.h"
#include "metrics.h"
#include "net.h"
#include "preview_html.h"
#include "preview_resolve.h"
#include "preview_url.h"

#define PREVIEW_HOPS 5
#define PREVIEW_CACHE_MS (3600 * INT64_C(1000))
#define PREVIEW_FAILURE_MS (300 * INT64_C(1000))
#define PREVIEW_POLL_MS 100
#define PREVIEW_OEMBED_MAX 65536

/* Used when no oembed_providers_path is set. */
static const char preview_default_oembed[] =
    "[{\"provider_name\":\"YouTube\",\"endpoints\":[{\"schemes\":["
    "\"https://*.youtube.com/watch*\",\"https://*.youtube.com/v/*\","
    "\"https://youtu.be/*\",\"https://*.youtube.com/shorts/*\"],"
    "\"url\":\"https://www.youtube.com/oembed\"}]},"
    "{\"provider_name\":\"Vimeo\",\"endpoints\":[{\"schemes\":["
    "\"https://vimeo.com/*\",\"https://vimeo.com/album/*/video/*\","
    "\"https://vimeo.com/channels/*/*\",\"https://vimeo.com/groups/*/videos/*\","
    "\"https://player.vimeo.com/video/*\"],"
    "\"url\":\"https://vimeo.com/api/oembed.json\"}]}]";

/* Per-process state, made on the first preview. */
struct preview_state {
	struct mr_hc *hc;
	struct mr_net_list deny, allow;
	struct mr_preview_url_rules rules;
	cJSON *oembed;
};

static struct preview_state *preview_state;

static int
preview_load_oembed(const struct mr_config *cfg, struct preview_state *ps,
    struct mr_err *err)
{
	char *text = NULL;
	long n = 0;

	if (cfg->oembed_providers_path[0] != '\0') {
		FILE *f = fopen(cfg->oembed_providers_path, "rb");

		if (f == NULL || fseek(f, 0, SEEK_END) < 0 || (n = ftell(f)) < 0 ||
		    n > 4 << 20 || fseek(f, 0, SEEK_SET) < 0 ||
		    (text = malloc((size_t)n + 1)) == NULL ||
		    fread(text, 1, (size_t)n, f) != (size_t)n) {
			if (f != NULL)
				fclose(f);
			free(text);
			return mr_err_set(err, 500, "M_UNKNOWN",
			    "cannot read '%s'", cfg->oembed_providers_path);
		}
		fclose(f);
		text[n] = '\0';
	}
	ps->oembed = mr_json_parse_strict(text ? text : preview_default_oembed,
	    text ? (size_t)n : strlen(preview_default_oembed), 32, err);
	free(text);
	return ps->oembed != NULL && cJSON_IsArray(ps->oembed) ? 0 :
	    mr_err_set(err, 500, "M_UNKNOWN", "oEmbed providers are not a list");
}

static struct preview_state *
preview_setup(const struct mr_config *cfg, struct mr_err *err)
{
	struct preview_state *ps;

	if (preview_state != NULL)
		return preview_state;
	if ((ps = calloc(1, sizeof(*ps))) == NULL) {
		mr_err_set(err, 500, "M_UNKNOWN", "out of memory");
		return NULL;
	}
	if (mr_hc_new(&ps->hc, err) < 0 ||
	    mr_net_parse_list(cfg->url_preview_ip_range_blacklist, &ps->deny) < 0 ||
	    mr_net_parse_list(cfg->url_preview_ip_range_whitelist,
	    &ps->allow) < 0 ||
	    mr_preview_parse_url_rules(cfg->url_preview_url_blacklist,
	    &ps->rules) < 0 || preview_load_oembed(cfg, ps, err) < 0) {
		if (err->status == 0)
			mr_err_set(err, 500, "M_UNKNOWN", "bad preview settings");
		mr_hc_free(ps->hc);
		cJSON_Delete(ps->oembed);
		free(ps);
		return NULL;
	}
	preview_state = ps;
	return ps;
}

/* --- the guarded fetch --- */

/* Checks one URL before any connection: syntax, rules, IP literals. */
static int
preview_check_url(const struct preview_state *ps, const char *url,
    struct mr_preview_url *u, struct mr_err *err)
{
	if (mr_preview_parse_url(url, u, err) < 0)
		return -1;
	if (mr_preview_url_blocked(u, &ps->rules))
		return mr_err_set(err, 403, "M_FORBIDDEN",
		    "URL blocked by url_preview_url_blacklist");
	if (u->host_is_ip && !mr_preview_ip_allowed(u->ip, &ps->deny,
	    &ps->allow))
		return mr_err_set(err, 403, "M_FORBIDDEN",
		    "IP address blocked by url_preview_ip_range_blacklist");
	return 0;
}

struct preview_page {
	struct mr_hc_buffer body;
	char url[MR_PREVIEW_URL_MAX + 1];	/* final, after redirects */
	char content_type[256];
};

/*
 * GETs url, following redirects by hand so every hop is checked as the
 * first one was, all within one url_preview_timeout. The body lands in
 * page (caller frees page->body.data).
 */
static int
preview_fetch(const struct mr_config *cfg, struct preview_state *ps,
    const char *url, struct preview_page *page, struct mr_err *err)
{
	int64_t deadline = mr_mono_ms() + cfg->url_preview_timeout;
	char next[MR_PREVIEW_URL_MAX + 1];
	char checked[MR_PREVIEW_URL_MAX * 3 + 300];
	struct mr_preview_url u;

	memset(page, 0, sizeof(*page));
	snprintf(next, sizeof(next), "%s", url);
	for (int hop = 0; hop <= PREVIEW_HOPS; hop++) {
		int64_t left = deadline - mr_mono_ms();
		struct mr_hc_response rs;
		struct mr_hc_request rq = {
			.url = checked,
			.accept_language = cfg->url_preview_accept_language,
			.protocols = "http,https",
			.decode = 1,
			.connect_timeout_ms = left,
			.timeout_ms = left,
			.verify_tls = 1,
			.deny = &ps->deny,
			.allow = &ps->allow,
			.addr_allowed = mr_preview_addr_allowed,
			.sink = mr_hc_collect,
			.arg = &page->body,
		};

		/* curl gets the URL as we understood it, not as sent. */
		if (left <= 0)
			return mr_err_set(err, 504, "M_UNKNOWN",
			    "the page took longer than url_preview_timeout");
		if (preview_check_url(ps, next, &u, err) < 0 ||
		    mr_preview_url_format(&u, checked, sizeof(checked)) < 0)
			return err->status ? -1 :
			    mr_err_set(err, 400, "M_INVALID_PARAM", "bad URL");
		free(page->body.data);
		page->body = (struct mr_hc_buffer){ NULL, 0,
		    (size_t)cfg->max_spider_size };
		if (mr_hc_get(ps->hc, &rq, &rs, err) < 0) {
			if (rs.blocked)
				mr_err_set(err, 502, "M_UNKNOWN",
				    "'%s' resolves to no allowed address", u.host);
			return -1;
		}
		if (rs.status >= 300 && rs.status < 400 && rs.location_cut)
			return mr_err_set(err, 502, "M_UNKNOWN",
			    "redirect to a URL that is too long");
		if (rs.status >= 300 && rs.status < 400 && rs.location[0] != '\0') {
			char resolved[MR_PREVIEW_URL_MAX + 1];

			if (mr_preview_resolve_url(next, rs.location, resolved,
			    sizeof(resolved)) < 0)
				return mr_err_set(err, 502, "M_UNKNOWN",
				    "bad redirect");
			snprintf(next, sizeof(next), "%s", resolved);
			continue;
		}
		if (rs.status != 200)
			return mr_err_set(err, 502, "M_UNKNOWN",
			    "the page answered %ld", rs.status);
		snprintf(page->url, sizeof(page->url), "%s", next);
		/* Decisions below read it; unchecked bytes would reach the
		 * error text. */
		if (mr_header_content_type_clean(rs.content_type,
		    page->content_type, sizeof(page->content_type)) < 0)
			snprintf(page->content_type, sizeof(page->content_type),
			    "%s", "application/octet-stream");
		return 0;
	}
	return mr_err_set(err, 502, "M_UNKNOWN", "too many redirects");
}

/* "text/html; charset=x" is text/html. */
static int
preview_type_is(const char *ct, const char *type)
{
	size_t n = strlen(type);

	return strncasecmp(ct, type, n) == 0 &&
	    (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

/* --- og:image into the media store --- */

static void
preview_drop_image(cJSON *og)
{
	static const char *const keys[] = {
		"og:image", "og:image:url", "og:image:secure_url", "og:image:type",
		"og:image:width", "og:image:height", "og:image:alt",
		"matrix:image:size",
	};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		cJSON_DeleteItemFromObjectCaseSensitive(og, keys[i]);
}

/* Stores image bytes as local media of user and fills og:image keys. */
static int
preview_store_image(struct mr_ctx *ctx, const struct mr_user *user,
    const unsigned char *data, size_t len, cJSON *og, struct mr_err *err)
{
	char uri[MR_SERVER_NAME_MAX + MR_MEDIA_ID_MAX + 8];
	struct mr_image_info info;
	struct mr_media m;

	if (mr_image_probe(data, len, &info, err) < 0 ||
	    info.format == MR_IMAGE_SVG)
		return mr_err_set(err, 502, "M_UNKNOWN", "og:image is not an image");
	memset(&m, 0, sizeof(m));
	if (mr_blob_put(ctx->blob, data, len, m.sha256, err) < 0)
		return -1;
	mr_mxc_generate(ctx->cfg.server_name, &m.mxc);
	m.size = (int64_t)len;
	snprintf(m.content_type, sizeof(m.content_type), "%s",
	    mr_image_mime(info.format));
	snprintf(m.user_id, sizeof(m.user_id), "%s", user->user_id);
	m.created_ts = mr_now_ms();
	m.authenticated = ctx->cfg.enable_authenticated_media;
	/* Quarantined bytes get no new id here either: the image keys go. */
	if (mr_media_create(&ctx->cfg, ctx->store, ctx->blob, MR_MEDIA_PREVIEW,
	    &m, err) < 0)
		return -1;
	mr_mxc_format(&m.mxc, uri, sizeof(uri));
	preview_drop_image(og);
	cJSON_AddStringToObject(og, "og:image", uri);
	cJSON_AddStringToObject(og, "og:image:type", m.content_type);
	cJSON_AddNumberToObject(og, "og:image:width", info.width);
	cJSON_AddNumberToObject(og, "og:image:height", info.height);
	cJSON_AddNumberToObject(og, "matrix:image:size", (double)len);
	return 0;
}

/* Fetches og:image (or decodes a data: URL) into the store; on any
 * failure the image keys go and the rest of the preview stands. */
static void
preview_image(struct mr_ctx *ctx, struct preview_state *ps,
    const struct mr_user *user, cJSON *og)
{
	const cJSON *img = cJSON_GetObjectItemCaseSensitive(og, "og:image");
	struct preview_page page;
	unsigned char *data = NULL;
	char mt[128];
	size_t len = 0;
	struct mr_err err;
	int rc;

	if (!cJSON_IsString(img))
		return;
	if (strncmp(img->valuestring, "data:", 5) == 0) {
		rc = mr_preview_decode_data_url(img->valuestring,
		    (size_t)ctx->cfg.max_spider_size, &data, &len, mt, sizeof(mt),
		    &err);
		if (rc == 0)
			rc = preview_store_image(ctx, user, data, len, og, &err);
		free(data);
	} else {
		rc = preview_fetch(&ctx->cfg, ps, img->valuestring, &page, &err);
		if (rc == 0)
			rc = preview_store_image(ctx, user,
			    (const unsigned char *)page.body.data, page.body.len,
			    og, &err);
		free(page.body.data);
	}
	if (rc < 0)
		preview_drop_image(og);
}

/* --- oEmbed --- */

/* The provider endpoint for url, when one of its schemes matches. */
static const char *
preview_oembed_endpoint(const struct preview_state *ps, const char *url)
{
	const cJSON *provider, *endpoint, *scheme;

	cJSON_ArrayForEach(provider, ps->oembed) {
		const cJSON *eps = cJSON_GetObjectItemCaseSensitive(provider,
		    "endpoints");

		cJSON_ArrayForEach(endpoint, eps) {
			const cJSON *u = cJSON_GetObjectItemCaseSensitive(endpoint,
			    "url");
			const cJSON *schemes = cJSON_GetObjectItemCaseSensitive(
			    endpoint, "schemes");

			if (!cJSON_IsString(u))
				continue;
			cJSON_ArrayForEach(scheme, schemes)
				if (cJSON_IsString(scheme) &&
				    mr_preview_glob_match(scheme->valuestring, url,
				    1))
					return u->valuestring;
		}
	}
	return NULL;
}

static void
preview_copy_string(cJSON *og, const char *key, const cJSON *from,
    const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(from, name);

	if (cJSON_IsString(v) && strlen(v->valuestring) <= 1000 &&
	    mr_utf8_valid(v->valuestring, strlen(v->valuestring)))
		cJSON_AddStringToObject(og, key, v->valuestring);
}

/* oEmbed JSON as OpenGraph keys; NULL when the provider gave nothing. */
static cJSON *
preview_oembed(const struct mr_config *cfg, struct preview_state *ps,
    const char *endpoint, const char *url, struct mr_err *err)
{
	char req[MR_PREVIEW_URL_MAX * 3 + 512], enc[MR_PREVIEW_URL_MAX * 3 + 1];
	struct preview_page page;
	const cJSON *type;
	cJSON *o, *og;
	size_t e = 0;

	for (const unsigned char *p = (const unsigned char *)url; *p &&
	    e + 4 < sizeof(enc); p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~", *p))
			enc[e++] = (char)*p;
		else
			e += (size_t)snprintf(enc + e, sizeof(enc) - e, "%%%02X", *p);
	}
	enc[e] = '\0';
	snprintf(req, sizeof(req), "%s%surl=%s&format=json", endpoint,
	    strchr(endpoint, '?') ? "&" : "?", enc);
	if (preview_fetch(cfg, ps, req, &page, err) < 0)
		return NULL;
	o = page.body.len <= PREVIEW_OEMBED_MAX ?
	    mr_json_parse_strict(page.body.data, page.body.len, 16, err) : NULL;
	free(page.body.data);
	if (o == NULL || !cJSON_IsObject(o) || (og = cJSON_CreateObject()) ==
	    NULL) {
		cJSON_Delete(o);
		return NULL;
	}
	preview_copy_string(og, "og:title", o, "title");
	preview_copy_string(og, "og:site_name", o, "provider_name");
	preview_copy_string(og, "og:image", o, "thumbnail_url");
	preview_copy_string(og, "og:description", o, "author_name");
	type = cJSON_GetObjectItemCaseSensitive(o, "type");
	cJSON_AddStringToObject(og, "og:type", cJSON_IsString(type) &&
	    strcmp(type->valuestring, "video") == 0 ? "video.other" : "website");
	cJSON_AddStringToObject(og, "og:url", url);
	cJSON_Delete(o);
	return og;
}

/* --- one preview --- */

static int
preview_make(struct mr_ctx *ctx, struct preview_state *ps,
    const struct mr_user *user, const char *url, char **json,
    struct mr_err *err)
{
	const char *endpoint = preview_oembed_endpoint(ps, url);
	struct preview_page page;
	cJSON *og = NULL;

	if (endpoint != NULL)
		og = preview_oembed(&ctx->cfg, ps, endpoint, url, err);
	if (og == NULL) {
		if (preview_fetch(&ctx->cfg, ps, url, &page, err) < 0) {
			free(page.body.data);
			return -1;
		}
		if (preview_type_is(page.content_type, "text/html") ||
		    preview_type_is(page.content_type, "application/xhtml+xml")) {
			og = mr_preview_html_extract(page.body.data, page.body.len,
			    page.content_type, page.url, err);
		} else if (strncasecmp(page.content_type, "image/", 6) == 0) {
			/* An image URL previews as that image. */
			if ((og = cJSON_CreateObject()) != NULL &&
			    preview_store_image(ctx, user,
			    (const unsigned char *)page.body.data, page.body.len,
			    og, err) < 0) {
				cJSON_Delete(og);
				og = NULL;
			}
			free(page.body.data);
			goto done;
		} else {
			free(page.body.data);
			return mr_err_set(err, 502, "M_UNKNOWN",
			    "cannot preview content of type '%.64s'",
			    page.content_type[0] ? page.content_type : "unknown");
		}
		free(page.body.data);
	}
	if (og != NULL)
		preview_image(ctx, ps, user, og);
done:
	if (og == NULL)
		return err->status ? -1 :
		    mr_err_set(err, 502, "M_UNKNOWN", "cannot preview this page");
	*json = mr_json_print(og);
	cJSON_Delete(og);
	return *json != NULL ? 0 :
	    mr_err_set(err, 500, "M_UNKNOWN", "out of memory");
}

/*
 * Takes the preview's lease: OK (this process makes it), BUSY (another
 * one does) or CONFLICT, with *json the cached answer or, when *json is
 * NULL, err the cached failure.
 */
static enum mr_store_rc
preview_lease(struct mr_ctx *ctx, const char *key, int64_t lock_ms,
    char **json, struct mr_err *err)
{
	struct mr_store_outcome done;
	enum mr_store_rc rc = mr_store_lease_take(ctx->store,
	    MR_STORE_LEASE_PREVIEW, key, mr_now_ms(), lock_ms, &done, err);

	*json = NULL;
	if (rc == MR_STORE_CONFLICT) {
		*json = done.body;
		if (*json == NULL)
			*err = done.failure;
	}
	return rc;
}

static int preview_claimed(struct mr_ctx *ctx, struct preview_state *ps,
    const struct mr_user *user, const char *url, const char *key, int rc,
    int64_t lock_ms, char **json, struct mr_err *err);

static int
preview_get(struct mr_ctx *ctx, const struct mr_user *user,
    const char *url, int64_t ts, char **json, struct mr_err *err)
{
	struct preview_state *ps;
	struct mr_preview_url u;
	char key[MR_PREVIEW_URL_MAX + 300];
	/* oEmbed, the page and its image: three fetches at most. */
	int64_t lock_ms = ctx->cfg.url_preview_timeout * 3 + 5000;
	struct mr_err ignored;
	struct mr_slot slot;
	int rc, got;

	*json = NULL;
	if (!ctx->cfg.url_preview_enabled)
		return mr_err_set(err, 404, "M_UNRECOGNIZED",
		    "URL previews are disabled");
	if ((ps = preview_setup(&ctx->cfg, err)) == NULL ||
	    preview_check_url(ps, url, &u, err) < 0)
		return -1;
	/* ts asks for a point in time; an hour is as fine as we cache. */
	snprintf(key, sizeof(key), "%lld\n%s\n%s",
	    (long long)((ts > 0 ? ts : mr_now_ms()) / PREVIEW_CACHE_MS),
	    ctx->cfg.url_preview_accept_language, url);
	rc = preview_lease(ctx, key, lock_ms, json, err);
	if (rc == MR_STORE_CONFLICT)
		return *json != NULL ? 0 : -1;
	if (rc != MR_STORE_OK && rc != MR_STORE_BUSY)
		return -1;
	/* Fetching a page, or waiting for another process to, is waiting:
	 * it needs one of this program's slots (slot.h). */
	if ((got = mr_slot_take(ctx->cfg.runtime_dir, ctx->name, 0,
	    ctx->wait_slots, &slot, err)) <= 0) {
		if (got == 0) {
			mr_err_set(err, 429, "M_LIMIT_EXCEEDED", "too many "
			    "previews are being made; try again shortly");
			err->retry_after_ms = 1000;
			err->limit_name = "waiting_slots";
		}
		/* A lease we cannot use expires at once for the others. */
		if (rc == MR_STORE_OK)
			mr_store_lease_end(ctx->store, MR_STORE_LEASE_PREVIEW, key,
			    NULL, err, mr_now_ms(), &ignored);
		return -1;
	}
	rc = preview_claimed(ctx, ps, user, url, key, rc, lock_ms, json, err);
	mr_slot_release(&slot);
	return rc;
}

int
mr_preview_get(struct mr_ctx *ctx, const struct mr_user *user,
    const char *url, int64_t ts, char **json, struct mr_err *err)
{
	int rc = preview_get(ctx, user, url, ts, json, err);

	/* A client that left has no result worth counting. */
	if (rc == 0 || err->status != 499)
		mr_metrics_preview(mr_metrics_preview_result(rc, err));
	return rc;
}

/* With a slot held: waits for another process's preview, or makes it. */
static int
preview_claimed(struct mr_ctx *ctx, struct preview_state *ps,
    const struct mr_user *user, const char *url, const char *key, int rc,
    int64_t lock_ms, char **json, struct mr_err *err)
{
	int64_t deadline = mr_mono_ms() + lock_ms;
	struct mr_err ignored;

	while (rc == MR_STORE_BUSY) {
		if (mr_mono_ms() >= deadline)
			return mr_err_set(err, 504, "M_UNKNOWN",
			    "timed out waiting for the same preview");
		if (mr_wait_sleep_ms(PREVIEW_POLL_MS) < 0)
			return mr_err_set(err, 499, "M_UNKNOWN",
			    "client went away while waiting");
		rc = preview_lease(ctx, key, lock_ms, json, err);
	}
	if (rc == MR_STORE_CONFLICT)
		return *json != NULL ? 0 : -1;
	if (rc != MR_STORE_OK)
		return -1;
	if (preview_make(ctx, ps, user, url, json, err) < 0) {
		/* Failures are cached for less time than answers. */
		mr_store_lease_end(ctx->store, MR_STORE_LEASE_PREVIEW, key,
		    NULL, err, mr_now_ms() + PREVIEW_FAILURE_MS, &ignored);
		return -1;
	}
	mr_store_lease_end(ctx->store, MR_STORE_LEASE_PREVIEW, key, *json,
	    NULL, mr_now_ms() + PREVIEW_CACHE_MS, &ignored);
	return 0;
}
