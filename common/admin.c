/*
 * admin: quarantine, protection, deletes, purges and retention for both
 * admin tools (see admin.h).
 */
#include "admin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "auth_whoami.h"
#include "http_client.h"

int
mr_admin_quarantine(struct mr_store *st, const struct mr_store_sel *sel,
    int on, const char *by, int64_t *count, struct mr_err *err)
{
	return mr_store_quarantine_as(st, sel, on, by, mr_now_ms(), count,
	    err) == MR_STORE_OK ? 0 : -1;
}

int
mr_admin_protect(struct mr_store *st, const struct mr_mxc *mxc, int on,
    struct mr_err *err)
{
	switch (mr_store_media_protect(st, mxc, on, err)) {
	case MR_STORE_OK:
		return 0;
	case MR_STORE_NOT_FOUND:
		return mr_err_set(err, 404, "M_NOT_FOUND", "Unknown media");
	default:
		return -1;
	}
}

/* --- a room's media, as the homeserver lists it --- */

/* Each string of the array key of o that is an mxc URI goes to fn. */
static void
admin_each_mxc(const cJSON *o, const char *key,
    void (*fn)(const struct mr_mxc *, void *), void *arg)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, key), *v;
	struct mr_mxc mxc;
	struct mr_err ignored;

	cJSON_ArrayForEach(v, a) {
		if (cJSON_IsString(v) &&
		    mr_mxc_parse_uri(v->valuestring, &mxc, &ignored) == 0)
			fn(&mxc, arg);
	}
}

/* The homeserver's refusal or failure as the admin sees it. */
static int
admin_room_status(long status, struct mr_err *err)
{
	if (status == 401 || status == 403)
		return mr_err_set(err, 403, "M_FORBIDDEN",
		    "the homeserver refused to list the room's media");
	if (status == 404)
		return mr_err_set(err, 404, "M_NOT_FOUND",
		    "the homeserver does not know the room");
	if (status >= 500 || status == 429)
		return mr_err_set(err, 503, "M_UNKNOWN",
		    "the homeserver cannot list the room's media now (it "
		    "answered %ld)", status);
	return mr_err_set(err, 502, "M_UNKNOWN",
	    "the homeserver answered %ld to the room's media list", status);
}

int
mr_admin_room_media(struct mr_hc **hc, const struct mr_config *cfg,
    const char *token, const char *room_id,
    void (*fn)(const struct mr_mxc *, void *), void *arg, struct mr_err *err)
{
	struct mr_hc_buffer body = { NULL, 0, MR_ADMIN_ROOM_LIST_MAX };
	struct mr_hc_response rs;
	char esc[3 * 256 + 1], path[sizeof(esc) + 64];
	cJSON *o;

	if (cfg->homeserver_url[0] == '\0')
		return mr_err_set(err, 503, "M_UNKNOWN", "a room's media is "
		    "listed by the homeserver, and homeserver_url is not set");
	if (*hc == NULL && mr_hc_new(hc, err) < 0)
		return -1;
	if (mr_auth_path_escape(room_id, esc, sizeof(esc)) < 0)
		return mr_err_set(err, 400, "M_INVALID_PARAM", "room id too long");
	snprintf(path, sizeof(path), "/_synapse/admin/v1/room/%s/media", esc);
	/* A big room's list takes the homeserver a while: federation_timeout
	 * rather than the whoami limit. */
	if (mr_auth_homeserver_get(*hc, cfg, path, token,
	    cfg->federation_timeout, &body, &rs, err) < 0)
		return -1;
	if (rs.status != 200) {
		free(body.data);
		return admin_room_status(rs.status, err);
	}
	o = cJSON_ParseWithLength(body.data ? body.data : "", body.len);
	free(body.data);
	if (!cJSON_IsObject(o)) {
		cJSON_Delete(o);
		return mr_err_set(err, 502, "M_UNKNOWN",
		    "the homeserver's room media list is not a JSON object");
	}
	admin_each_mxc(o, "local", fn, arg);
	admin_each_mxc(o, "remote", fn, arg);
	cJSON_Delete(o);
	return 0;
}

/* Media ids gathered first, so no list is read under a write. */
struct admin_mxcs {
	struct mr_mxc *v;
	size_t n, cap;
	int oom;
};

static void
admin_collect_mxc(const struct mr_mxc *mxc, void *arg)
{
	struct admin_mxcs *l = arg;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		void *p = realloc(l->v, cap * sizeof(*l->v));

		if (p == NULL) {
			l->oom = 1;
			return;
		}
		l->v = p;
		l->cap = cap;
	}
	l->v[l->n++] = *mxc;
}

static void
admin_collect_media(const struct mr_media *m, void *arg)
{
	admin_collect_mxc(&m->mxc, arg);
}

int
mr_admin_quarantine_room(struct mr_hc **hc, const struct mr_config *cfg,
    struct mr_store *st, const char *token, const char *room_id,
    const char *by, int64_t *count, struct mr_err *err)
{
	struct admin_mxcs l = { NULL, 0, 0, 0 };
	int rc = 0;

	*count = 0;
	if (mr_admin_room_media(hc, cfg, token, room_id, admin_collect_mxc, &l,
	    err) < 0) {
		free(l.v);
		return -1;
	}
	if (l.oom) {
		free(l.v);
		return mr_err_set(err, 500, "M_UNKNOWN", "out of memory");
	}
	for (size_t i = 0; i < l.n && rc == 0; i++) {
		struct mr_store_sel sel = { &l.v[i], NULL, NULL };
		int64_t n = 0;

		rc = mr_admin_quarantine(st, &sel, 1, by, &n, err);
		*count += n;
	}
	free(l.v);
	return rc;
}

/* --- deletes --- */

/* Whether m still meets q's conditions (it may have been read since). */
static int
admin_still_matches(const struct mr_store_media_query *q,
    const struct mr_media *m)
{
	int64_t seen = m->last_access_ts > 0 ? m->last_access_ts : m->created_ts;

	if (q->accessed_before > 0 && seen >= q->accessed_before)
		return 0;
	if ((q->skip_quarantined && m->quarantined) ||
	    (q->skip_protected && m->safe_from_quarantine))
		return 0;
	return q->size_gt <= 0 || m->size > q->size_gt;
}

/* Deletes one media of the list unless it changed; 1 deleted, 0 kept. */
static int
admin_delete_one(struct mr_store *st, struct mr_blob *blob,
    const struct mr_store_media_query *q, const struct mr_mxc *mxc,
    int dry_run, struct mr_media *m, struct mr_admin_deleted *out,
    struct mr_err *err)
{
	enum mr_store_rc rc = mr_store_media_get(st, mxc, m, err);

	/* Gone already (another purge, a concurrent delete): fine. */
	if (rc == MR_STORE_NOT_FOUND)
		return 0;
	if (rc != MR_STORE_OK)
		return -1;
	if (!admin_still_matches(q, m))
		return 0;
	if (dry_run)
		return 1;
	if (mr_media_delete(st, blob, mxc, &out->freed, err) < 0)
		return err->status == 404 ? 0 : -1;
	return 1;
}

int
mr_admin_delete_matching(struct mr_store *st, struct mr_blob *blob,
    const struct mr_store_media_query *q, int dry_run,
    void (*fn)(const struct mr_media *, void *), void *arg,
    const struct mr_maint_report *r, struct mr_admin_deleted *out,
    struct mr_err *err)
{
	struct admin_mxcs l = { NULL, 0, 0, 0 };
	struct mr_media m;

	if (mr_store_media_query(st, q, admin_collect_media, &l, NULL,
	    err) != MR_STORE_OK) {
		free(l.v);
		return -1;
	}
	if (l.oom) {
		free(l.v);
		return mr_err_set(err, 500, "M_UNKNOWN", "out of memory");
	}
	if (r != NULL && r->start != NULL)
		r->start(r->arg, (int64_t)l.n);
	for (size_t i = 0; i < l.n; i++) {
		struct mr_err e;
		char uri[MR_SERVER_NAME_MAX + MR_MEDIA_ID_MAX + 8];

		switch (admin_delete_one(st, blob, q, &l.v[i], dry_run, &m, out,
		    &e)) {
		case 1:
			out->media++;
			if (fn != NULL)
				fn(&m, arg);
			break;
		case -1:
			out->failed++;
			mr_mxc_format(&l.v[i], uri, sizeof(uri));
			if (r != NULL && r->event != NULL)
				r->event(r->arg, MR_MAINT_FAILED, uri, e.msg);
			break;
		}
		if (r != NULL && r->step != NULL)
			r->step(r->arg, 0);
	}
	if (r != NULL && r->end != NULL)
		r->end(r->arg);
	free(l.v);
	return 0;
}

void
mr_admin_query_old_local(const struct mr_config *cfg, int64_t before_ts,
    int64_t size_gt, struct mr_store_media_query *q)
{
	memset(q, 0, sizeof(*q));
	q->origin = MR_STORE_ORIGIN_LOCAL;
	q->local_server = cfg->server_name;
	q->accessed_before = before_ts;
	q->size_gt = size_gt;
	q->skip_quarantined = 1;
	q->skip_protected = 1;
	q->order = MR_STORE_ORDER_CREATED_TS;
	q->limit = -1;
}

void
mr_admin_query_old_remote(const struct mr_config *cfg, int64_t before_ts,
    struct mr_store_media_query *q)
{
	mr_admin_query_old_local(cfg, before_ts, 0, q);
	q->origin = MR_STORE_ORIGIN_REMOTE;
}

int
mr_admin_purge_expired(const struct mr_config *cfg, struct mr_store *st,
    struct mr_blob *blob, int64_t now_ms, int dry_run,
    void (*fn)(const struct mr_media *, void *), void *arg,
    const struct mr_maint_report *r, struct mr_admin_expired *out,
    struct mr_err *err)
{
	struct mr_store_media_query q;

	memset(out, 0, sizeof(*out));
	out->local_kept = cfg->media_retention_local_media_lifetime <= 0;
	out->remote_kept = cfg->media_retention_remote_media_lifetime <= 0;
	if (!out->local_kept) {
		mr_admin_query_old_local(cfg, now_ms -
		    cfg->media_retention_local_media_lifetime, 0, &q);
		if (mr_admin_delete_matching(st, blob, &q, dry_run, fn, arg,
		    r, &out->local, err) < 0)
			return -1;
	}
	if (!out->remote_kept) {
		mr_admin_query_old_remote(cfg, now_ms -
		    cfg->media_retention_remote_media_lifetime, &q);
		if (mr_admin_delete_matching(st, blob, &q, dry_run, fn, arg,
		    r, &out->remote, err) < 0)
			return -1;
	}
	return 0;
}
