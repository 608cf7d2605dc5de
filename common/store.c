/*
 * store: the backend table and the calls every caller makes (see store.h).
 * Each call goes to the backend chosen at open; nothing here knows SQL.
 */
#include "store.h"

#include <stdlib.h>
#include <string.h>

/* Asked in order; the first that wants the database location is used. */
static const struct mr_store_ops *const store_backends[] = {
	&mr_store_pg_ops,
	&mr_store_sqlite_ops,
};

struct mr_store {
	const struct mr_store_ops *ops;
	void *impl;
};

int
mr_store_open(struct mr_store **out, const char *path, struct mr_err *err)
{
	const struct mr_store_ops *ops = NULL;
	struct mr_store *st;

	for (size_t i = 0; i < sizeof(store_backends) /
	    sizeof(*store_backends) && ops == NULL; i++)
		if (store_backends[i]->wanted(path))
			ops = store_backends[i];
	if (ops == NULL)
		return mr_err_set(err, 500, "M_UNKNOWN", "no store for '%s'",
		    path);
	if ((st = calloc(1, sizeof(*st))) == NULL)
		return mr_err_set(err, 500, "M_UNKNOWN", "out of memory");
	st->ops = ops;
	if (ops->open(path, &st->impl, err) < 0) {
		free(st);
		return -1;
	}
	*out = st;
	return 0;
}

void
mr_store_free(struct mr_store *st)
{
	if (st == NULL)
		return;
	st->ops->close(st->impl);
	free(st);
}

enum mr_store_rc
mr_store_media_get(struct mr_store *st, const struct mr_mxc *mxc,
    struct mr_media *out, struct mr_err *err)
{
	return st->ops->media_get(st->impl, mxc, out, err);
}

enum mr_store_rc
mr_store_media_insert(struct mr_store *st, const struct mr_media *m,
    struct mr_err *err)
{
	return st->ops->media_insert(st->impl, m, err);
}

enum mr_store_rc
mr_store_media_create_pending(struct mr_store *st, const struct mr_media *m,
    int64_t max_pending, int64_t now_ms, int64_t *retry_after_ms,
    struct mr_err *err)
{
	return st->ops->media_create_pending(st->impl, m, max_pending, now_ms,
	    retry_after_ms, err);
}

enum mr_store_rc
mr_store_media_complete(struct mr_store *st, const struct mr_media *m,
    struct mr_err *err)
{
	return st->ops->media_complete(st->impl, m, err);
}

enum mr_store_rc
mr_store_thumb_get(struct mr_store *st, const struct mr_mxc *mxc,
    uint32_t width, uint32_t height, int crop, int animated,
    struct mr_thumb_row *out, struct mr_err *err)
{
	return st->ops->thumb_get(st->impl, mxc, width, height, crop,
	    animated, out, err);
}

enum mr_store_rc
mr_store_thumb_put(struct mr_store *st, const struct mr_thumb_row *t,
    struct mr_err *err)
{
	return st->ops->thumb_put(st->impl, t, err);
}

enum mr_store_rc
mr_store_thumb_put_capped(struct mr_store *st, const struct mr_thumb_row *t,
    int64_t cap, struct mr_err *err)
{
	return st->ops->thumb_put_capped(st->impl, t, cap, err);
}

enum mr_store_rc
mr_store_server_key_get(struct mr_store *st, const char *server,
    const char *key_id, int64_t now_ms, char public_key[64], struct mr_err *err)
{
	return st->ops->server_key_get(st->impl, server, key_id, now_ms,
	    public_key, err);
}

enum mr_store_rc
mr_store_server_key_put(struct mr_store *st, const char *server,
    const char *key_id, const char *public_key, int64_t expires_ts,
    struct mr_err *err)
{
	return st->ops->server_key_put(st->impl, server, key_id, public_key,
	    expires_ts, err);
}

enum mr_store_rc
mr_store_server_key_claim_fetch(struct mr_store *st, const char *server,
    int64_t now_ms, int64_t min_interval_ms, struct mr_err *err)
{
	return st->ops->server_key_claim_fetch(st->impl, server, now_ms,
	    min_interval_ms, err);
}

enum mr_store_rc
mr_store_well_known_get(struct mr_store *st, const char *server,
    int64_t now_ms, char delegated[MR_SERVER_NAME_MAX + 1], struct mr_err *err)
{
	return st->ops->well_known_get(st->impl, server, now_ms, delegated,
	    err);
}

enum mr_store_rc
mr_store_well_known_put(struct mr_store *st, const char *server,
    const char *delegated, int64_t expires_ts, struct mr_err *err)
{
	return st->ops->well_known_put(st->impl, server, delegated,
	    expires_ts, err);
}

enum mr_store_rc
mr_store_lease_take(struct mr_store *st, enum mr_store_lease_kind kind,
    const char *key, int64_t now_ms, int64_t lease_ms,
    struct mr_store_outcome *done, struct mr_err *err)
{
	return st->ops->lease_take(st->impl, kind, key, now_ms, lease_ms,
	    done, err);
}

enum mr_store_rc
mr_store_lease_end(struct mr_store *st, enum mr_store_lease_kind kind,
    const char *key, const char *body, const struct mr_err *failure,
    int64_t until_ts, struct mr_err *err)
{
	return st->ops->lease_end(st->impl, kind, key, body, failure,
	    until_ts, err);
}

enum mr_store_rc
mr_store_media_list_user(struct mr_store *st, const char *user_id,
    void (*fn)(const struct mr_media *, void *), void *arg, struct mr_err *err)
{
	return st->ops->media_list_user(st->impl, user_id, fn, arg, err);
}

enum mr_store_rc
mr_store_media_list_remote(struct mr_store *st, const char *local_server,
    int64_t before_ts, void (*fn)(const struct mr_media *, void *), void *arg,
    struct mr_err *err)
{
	return st->ops->media_list_remote(st->impl, local_server, before_ts,
	    fn, arg, err);
}

enum mr_store_rc
mr_store_thumb_list(struct mr_store *st, const struct mr_mxc *mxc,
    void (*fn)(const struct mr_thumb_row *, void *), void *arg,
    struct mr_err *err)
{
	return st->ops->thumb_list(st->impl, mxc, fn, arg, err);
}

enum mr_store_rc
mr_store_media_delete(struct mr_store *st, const struct mr_mxc *mxc,
    void (*fn)(const char *sha256, void *), void *arg, struct mr_err *err)
{
	return st->ops->media_delete(st->impl, mxc, fn, arg, err);
}

enum mr_store_rc
mr_store_blob_referenced(struct mr_store *st, const char *sha256,
    struct mr_err *err)
{
	return st->ops->blob_referenced(st->impl, sha256, err);
}

enum mr_store_rc
mr_store_blob_refs(struct mr_store *st, void (*fn)(const char *sha256, void *),
    void *arg, struct mr_err *err)
{
	return st->ops->blob_refs(st->impl, fn, arg, err);
}

enum mr_store_rc
mr_store_quarantine(struct mr_store *st, const struct mr_store_sel *sel,
    int on, int64_t *count, struct mr_err *err)
{
	return st->ops->quarantine(st->impl, sel, on, count, err);
}

enum mr_store_rc
mr_store_hash_quarantined(struct mr_store *st, const char *sha256,
    struct mr_err *err)
{
	return st->ops->hash_quarantined(st->impl, sha256, err);
}

enum mr_store_rc
mr_store_preview_purge(struct mr_store *st, int64_t *count, struct mr_err *err)
{
	return st->ops->preview_purge(st->impl, count, err);
}

enum mr_store_rc
mr_store_stats(struct mr_store *st, const char *local_server,
    struct mr_store_stats *out, struct mr_err *err)
{
	return st->ops->stats(st->impl, local_server, out, err);
}

enum mr_store_rc
mr_store_top_users(struct mr_store *st, const char *local_server, int n,
    void (*fn)(const char *user_id, const struct mr_store_count *, void *),
    void *arg, struct mr_err *err)
{
	return st->ops->top_users(st->impl, local_server, n, fn, arg, err);
}

enum mr_store_rc
mr_store_token_add(struct mr_store *st, const char *token_hash,
    const char *user_id, int is_guest, struct mr_err *err)
{
	return st->ops->token_add(st->impl, token_hash, user_id, is_guest, err);
}

enum mr_store_rc
mr_store_token_lookup(struct mr_store *st, const char *token_hash,
    struct mr_token_info *out, struct mr_err *err)
{
	return st->ops->token_lookup(st->impl, token_hash, out, err);
}

enum mr_store_rc
mr_store_token_revoke(struct mr_store *st, const char *token_hash,
    struct mr_err *err)
{
	return st->ops->token_revoke(st->impl, token_hash, err);
}

enum mr_store_rc
mr_store_token_list(struct mr_store *st,
    void (*fn)(const struct mr_token_info *, void *), void *arg,
    struct mr_err *err)
{
	return st->ops->token_list(st->impl, fn, arg, err);
}

enum mr_store_rc
mr_store_hs_auth_get(struct mr_store *st, const char *token_hash,
    int64_t now_ms, struct mr_hs_auth *out, struct mr_err *err)
{
	return st->ops->hs_auth_get(st->impl, token_hash, now_ms, out, err);
}

enum mr_store_rc
mr_store_hs_auth_put(struct mr_store *st, const char *token_hash,
    const struct mr_hs_auth *a, int64_t now_ms, int64_t expires_ts,
    struct mr_err *err)
{
	return st->ops->hs_auth_put(st->impl, token_hash, a, now_ms,
	    expires_ts, err);
}

enum mr_store_rc
mr_store_bucket_take(struct mr_store *st, const char *key, int64_t cost,
    int64_t rate_milli, int64_t burst, int64_t now_ms, int force,
    int64_t *retry_after_ms, struct mr_err *err)
{
	return st->ops->bucket_take(st->impl, key, cost, rate_milli, burst,
	    now_ms, force, retry_after_ms, err);
}

enum mr_store_rc
mr_store_user_upload_bytes(struct mr_store *st, const char *user_id,
    int64_t since_ts, int64_t *bytes, struct mr_err *err)
{
	return st->ops->user_upload_bytes(st->impl, user_id, since_ts, bytes,
	    err);
}

enum mr_store_rc
mr_store_origin_down(struct mr_store *st, const char *origin, int64_t now_ms,
    int64_t *until_ts, struct mr_err *err)
{
	return st->ops->origin_down(st->impl, origin, now_ms, until_ts, err);
}

enum mr_store_rc
mr_store_origin_result(struct mr_store *st, const char *origin, int ok,
    int64_t now_ms, int64_t backoff_ms, struct mr_err *err)
{
	return st->ops->origin_result(st->impl, origin, ok, now_ms,
	    backoff_ms, err);
}

enum mr_store_rc
mr_store_media_each(struct mr_store *st,
    void (*fn)(const struct mr_media *, void *), void *arg, struct mr_err *err)
{
	return st->ops->media_each(st->impl, fn, arg, err);
}

enum mr_store_rc
mr_store_thumb_each(struct mr_store *st,
    void (*fn)(const struct mr_thumb_row *, void *), void *arg,
    struct mr_err *err)
{
	return st->ops->thumb_each(st->impl, fn, arg, err);
}

enum mr_store_rc
mr_store_token_import(struct mr_store *st, const struct mr_token_info *t,
    struct mr_err *err)
{
	return st->ops->token_import(st->impl, t, err);
}

enum mr_store_rc
mr_store_quarantined_hash_each(struct mr_store *st,
    void (*fn)(const char *sha256, int64_t created_ts, void *), void *arg,
    struct mr_err *err)
{
	return st->ops->quarantined_hash_each(st->impl, fn, arg, err);
}

enum mr_store_rc
mr_store_quarantined_hash_add(struct mr_store *st, const char *sha256,
    int64_t created_ts, struct mr_err *err)
{
	return st->ops->quarantined_hash_add(st->impl, sha256, created_ts, err);
}

double
mr_store_bucket_level(double level, int64_t updated_ms, int64_t now_ms,
    int64_t rate_milli)
{
	double drained = (double)(now_ms - updated_ms) * (double)rate_milli /
	    1e6;

	if (now_ms < updated_ms)
		return level;		/* a clock step back drains nothing */
	return level > drained ? level - drained : 0.0;
}

const char *
mr_store_errcode(const char *code)
{
	static const char *const known[] = {
		"M_NOT_FOUND", "M_TOO_LARGE", "M_UNKNOWN", "M_FORBIDDEN",
		"M_NOT_YET_UPLOADED", "M_LIMIT_EXCEEDED",
	};

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strcmp(code, known[i]) == 0)
			return known[i];
	return "M_UNKNOWN";
}

enum mr_store_rc
mr_store_media_touch(struct mr_store *st, const struct mr_mxc *mxc,
    int64_t now_ms, struct mr_err *err)
{
	return st->ops->media_touch(st->impl, mxc, now_ms, err);
}

enum mr_store_rc
mr_store_quarantine_as(struct mr_store *st, const struct mr_store_sel *sel,
    int on, const char *by, int64_t now_ms, int64_t *count,
    struct mr_err *err)
{
	return st->ops->quarantine_as(st->impl, sel, on, by, now_ms, count,
	    err);
}

enum mr_store_rc
mr_store_media_protect(struct mr_store *st, const struct mr_mxc *mxc, int on,
    struct mr_err *err)
{
	return st->ops->media_protect(st->impl, mxc, on, err);
}

enum mr_store_rc
mr_store_media_query(struct mr_store *st, const struct mr_store_media_query *q,
    void (*fn)(const struct mr_media *, void *), void *arg, int64_t *total,
    struct mr_err *err)
{
	return st->ops->media_query(st->impl, q, fn, arg, total, err);
}

enum mr_store_rc
mr_store_user_media_usage(struct mr_store *st,
    const struct mr_store_usage_query *q,
    void (*fn)(const char *user_id, const struct mr_store_count *, void *),
    void *arg, int64_t *total, struct mr_err *err)
{
	return st->ops->user_media_usage(st->impl, q, fn, arg, total, err);
}

/* LIKE's own characters escaped by backslash, for both dialects. */
char *
mr_store_like_pattern(const char *term)
{
	size_t n = strlen(term);
	char *p = malloc(2 * n + 3), *o = p;

	if (p == NULL)
		return NULL;
	*o++ = '%';
	for (size_t i = 0; i < n; i++) {
		if (term[i] == '%' || term[i] == '_' || term[i] == '\\')
			*o++ = '\\';
		*o++ = term[i];
	}
	*o++ = '%';
	*o = '\0';
	return p;
}

enum mr_store_rc
mr_store_media_put_quota(struct mr_store *st, const struct mr_media *m,
    int complete, const struct mr_store_quota *q, int nq, int *over,
    struct mr_err *err)
{
	return st->ops->media_put_quota(st->impl, m, complete, q, nq, over,
	    err);
}
