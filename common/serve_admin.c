/*
 * serve_admin: Synapse's media admin API answered (see serve_admin.h).
 */
#include "serve_admin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "admin.h"
#include "admin_api.h"
#include "log.h"

/* One call in progress: what the handlers read and what they leave. */
struct admin_req {
	struct mr_req *req;
	struct mr_ctx *ctx;
	struct mr_admin_call call;
	struct mr_admin_params p;
	cJSON *body;			/* the answer */
	int64_t count;			/* media touched, for the log line */
	char target[MR_SERVER_NAME_MAX + MR_MEDIA_ID_MAX + 16];
};

static int
admin_oom(struct mr_err *err)
{
	return mr_err_set(err, 500, "M_UNKNOWN", "out of memory");
}

/* A string, or null when empty (Synapse's nullable fields). */
static void
admin_add_str(cJSON *o, const char *key, const char *v)
{
	if (v != NULL && v[0] != '\0')
		cJSON_AddStringToObject(o, key, v);
	else
		cJSON_AddNullToObject(o, key);
}

static void
admin_add_ts(cJSON *o, const char *key, int64_t ts)
{
	if (ts > 0)
		cJSON_AddNumberToObject(o, key, (double)ts);
	else
		cJSON_AddNullToObject(o, key);
}

/* Quarantined media always names someone: rows from before migration 007
 * or an import carry no name, the operator did it. */
static const char *
admin_quarantined_by(const struct mr_media *m)
{
	if (!m->quarantined)
		return NULL;
	return m->quarantined_by[0] ? m->quarantined_by : MR_ADMIN_CLI_ID;
}

/* The fields Synapse's local and remote media share. */
static void
admin_media_common(cJSON *o, const struct mr_media *m)
{
	cJSON_AddStringToObject(o, "media_id", m->mxc.id);
	admin_add_str(o, "media_type", m->content_type);
	cJSON_AddNumberToObject(o, "media_length", (double)m->size);
	admin_add_str(o, "upload_name", m->upload_name);
	cJSON_AddNumberToObject(o, "created_ts", (double)m->created_ts);
	admin_add_ts(o, "last_access_ts", m->last_access_ts);
	admin_add_str(o, "quarantined_by", admin_quarantined_by(m));
	cJSON_AddBoolToObject(o, "authenticated", m->authenticated);
	admin_add_str(o, "sha256", m->sha256);
	cJSON_AddNullToObject(o, "url_cache");
}

/* GET media/{server}/{id}: {"media_info": {...}}. */
static int
admin_media_info(struct admin_req *a, struct mr_err *err)
{
	int local = strcmp(a->call.mxc.server, a->ctx->cfg.server_name) == 0;
	struct mr_media m;
	enum mr_store_rc rc;
	cJSON *o;

	rc = mr_store_media_get(a->ctx->store, &a->call.mxc, &m, err);
	if (rc == MR_STORE_NOT_FOUND || (rc == MR_STORE_OK && !m.sha256[0]))
		return mr_err_set(err, 404, "M_NOT_FOUND", "Unknown media");
	if (rc != MR_STORE_OK)
		return -1;
	if ((o = cJSON_AddObjectToObject(a->body, "media_info")) == NULL)
		return admin_oom(err);
	admin_add_str(o, "media_origin", local ? NULL : m.mxc.server);
	admin_add_str(o, "user_id", local ? m.user_id : NULL);
	admin_media_common(o, &m);
	/* Ours is content-addressed: no file system id apart from the hash. */
	cJSON_AddNullToObject(o, "filesystem_id");
	if (local)
		cJSON_AddBoolToObject(o, "safe_from_quarantine",
		    m.safe_from_quarantine);
	else
		cJSON_AddNullToObject(o, "safe_from_quarantine");
	a->count = 1;
	return 0;
}

static int
admin_quarantine_sel(struct admin_req *a, const struct mr_store_sel *sel,
    int on, struct mr_err *err)
{
	return mr_admin_quarantine(a->ctx->store, sel, on, a->req->user.user_id,
	    &a->count, err);
}

/* POST media/[un]quarantine/{server}/{id}: {} (unknown media too). */
static int
admin_quarantine_media(struct admin_req *a, int on, struct mr_err *err)
{
	struct mr_store_sel sel = { &a->call.mxc, NULL, NULL };

	return admin_quarantine_sel(a, &sel, on, err);
}

/* POST user/{id}/media/quarantine: {"num_quarantined": N}. */
static int
admin_quarantine_user(struct admin_req *a, struct mr_err *err)
{
	struct mr_store_sel sel = { NULL, NULL, a->call.user_id };

	if (admin_quarantine_sel(a, &sel, 1, err) < 0)
		return -1;
	cJSON_AddNumberToObject(a->body, "num_quarantined", (double)a->count);
	return 0;
}

/* POST room/{id}/media/quarantine: the homeserver lists, we quarantine. */
static int
admin_quarantine_room(struct admin_req *a, struct mr_err *err)
{
	const struct mr_config *cfg = &a->ctx->cfg;
	char token[MR_TOKEN_MAX + 1];
	int rc;

	/* The homeserver decides with the admin's own token. */
	if (mr_auth_extract_token(mr_req_env(a->req, "HTTP_AUTHORIZATION"),
	    mr_req_query(a->req, "access_token"), cfg->allow_query_access_token,
	    token, err) < 0)
		return -1;
	rc = mr_admin_quarantine_room(&a->ctx->whoami, cfg, a->ctx->store,
	    token, a->call.room_id, a->req->user.user_id, &a->count, err);
	sodium_memzero(token, sizeof(token));
	if (rc < 0)
		return -1;
	cJSON_AddNumberToObject(a->body, "num_quarantined", (double)a->count);
	return 0;
}

static int
admin_protect(struct admin_req *a, int on, struct mr_err *err)
{
	if (mr_admin_protect(a->ctx->store, &a->call.mxc, on, err) < 0)
		return -1;
	a->count = 1;
	return 0;
}

/* Collects deleted media ids into a JSON array. */
static void
admin_add_deleted(const struct mr_media *m, void *arg)
{
	cJSON_AddItemToArray(arg, cJSON_CreateString(m->mxc.id));
}

/* {"deleted_media": [...], "total": N} of the media q finds. */
static int
admin_delete_query(struct admin_req *a, const struct mr_store_media_query *q,
    struct mr_err *err)
{
	struct mr_admin_deleted d;
	cJSON *ids = cJSON_AddArrayToObject(a->body, "deleted_media");

	memset(&d, 0, sizeof(d));
	if (ids == NULL)
		return admin_oom(err);
	if (mr_admin_delete_matching(a->ctx->store, a->ctx->blob, q, 0,
	    admin_add_deleted, ids, NULL, &d, err) < 0)
		return -1;
	cJSON_AddNumberToObject(a->body, "total", (double)d.media);
	a->count = d.media;
	return 0;
}

/* DELETE media/{server}/{id}. */
static int
admin_delete_media(struct admin_req *a, struct mr_err *err)
{
	struct mr_media_freed freed = { 0, 0 };
	cJSON *ids;

	if (mr_media_delete(a->ctx->store, a->ctx->blob, &a->call.mxc, &freed,
	    err) < 0) {
		if (err->status == 404)
			mr_err_set(err, 404, "M_NOT_FOUND", "Unknown media");
		return -1;
	}
	if ((ids = cJSON_AddArrayToObject(a->body, "deleted_media")) == NULL)
		return admin_oom(err);
	cJSON_AddItemToArray(ids, cJSON_CreateString(a->call.mxc.id));
	cJSON_AddNumberToObject(a->body, "total", 1);
	a->count = 1;
	return 0;
}

/*
 * POST media/delete?before_ts=&size_gt=&keep_profiles=: local media last
 * read before before_ts. keep_profiles is accepted and has nothing to
 * keep: this server does not know which media are avatars.
 */
static int
admin_delete_old(struct admin_req *a, struct mr_err *err)
{
	struct mr_store_media_query q;

	mr_admin_query_old_local(&a->ctx->cfg, a->p.before_ts, a->p.size_gt, &q);
	return admin_delete_query(a, &q, err);
}

/* POST purge_media_cache?before_ts=: {"deleted": N}. */
static int
admin_purge_cache(struct admin_req *a, struct mr_err *err)
{
	struct mr_store_media_query q;
	struct mr_admin_deleted d;

	memset(&d, 0, sizeof(d));
	mr_admin_query_old_remote(&a->ctx->cfg, a->p.before_ts, &q);
	if (mr_admin_delete_matching(a->ctx->store, a->ctx->blob, &q, 0, NULL,
	    NULL, NULL, &d, err) < 0)
		return -1;
	cJSON_AddNumberToObject(a->body, "deleted", (double)d.media);
	a->count = d.media;
	return 0;
}

/* The page of a user's media the parameters ask for. */
static void
admin_user_query(const struct admin_req *a, struct mr_store_media_query *q)
{
	memset(q, 0, sizeof(*q));
	q->origin = MR_STORE_ORIGIN_LOCAL;
	q->local_server = a->ctx->cfg.server_name;
	q->user_id = a->call.user_id;
	q->order = a->p.order;
	q->descending = a->p.descending;
	q->offset = a->p.from;
	q->limit = a->p.limit;
}

static void
admin_add_media_item(const struct mr_media *m, void *arg)
{
	cJSON *o = cJSON_CreateObject();

	if (o == NULL)
		return;
	admin_media_common(o, m);
	cJSON_AddBoolToObject(o, "safe_from_quarantine",
	    m->safe_from_quarantine);
	admin_add_str(o, "user_id", m->user_id);
	cJSON_AddItemToArray(arg, o);
}

/* Synapse's paging: next_token only while more rows follow. */
static void
admin_next_token(struct admin_req *a, int64_t got, int64_t total)
{
	cJSON_AddNumberToObject(a->body, "total", (double)total);
	if (a->p.from + a->p.limit < total)
		cJSON_AddNumberToObject(a->body, "next_token",
		    (double)(a->p.from + got));
}

/* GET users/{id}/media: {"media": [...], "total": N[, "next_token": F]}. */
static int
admin_user_media(struct admin_req *a, struct mr_err *err)
{
	struct mr_store_media_query q;
	cJSON *media = cJSON_AddArrayToObject(a->body, "media");
	int64_t total = 0;

	if (media == NULL)
		return admin_oom(err);
	admin_user_query(a, &q);
	if (mr_store_media_query(a->ctx->store, &q, admin_add_media_item, media,
	    &total, err) != MR_STORE_OK)
		return -1;
	a->count = cJSON_GetArraySize(media);
	admin_next_token(a, a->count, total);
	/* Not Synapse's: Mjolnir builds mxc URIs of the list from it. */
	cJSON_AddStringToObject(a->body, "media_origin",
	    a->ctx->cfg.server_name);
	return 0;
}

/* DELETE users/{id}/media: the page the parameters ask for, deleted. */
static int
admin_delete_user_media(struct admin_req *a, struct mr_err *err)
{
	struct mr_store_media_query q;

	admin_user_query(a, &q);
	return admin_delete_query(a, &q, err);
}

static void
admin_add_usage(const char *user_id, const struct mr_store_count *c,
    void *arg)
{
	cJSON *o = cJSON_CreateObject();

	if (o == NULL)
		return;
	cJSON_AddStringToObject(o, "user_id", user_id);
	/* Profiles live at the homeserver. */
	cJSON_AddNullToObject(o, "displayname");
	cJSON_AddNumberToObject(o, "media_count", (double)c->count);
	cJSON_AddNumberToObject(o, "media_length", (double)c->bytes);
	cJSON_AddItemToArray(arg, o);
}

/* GET statistics/users/media. */
static int
admin_user_stats(struct admin_req *a, struct mr_err *err)
{
	struct mr_store_usage_query q;
	cJSON *users = cJSON_AddArrayToObject(a->body, "users");
	int64_t total = 0;

	if (users == NULL)
		return admin_oom(err);
	memset(&q, 0, sizeof(q));
	q.local_server = a->ctx->cfg.server_name;
	q.from_ts = a->p.from_ts;
	q.until_ts = a->p.until_ts;
	q.search = a->p.search_term[0] ? a->p.search_term : NULL;
	q.order = a->p.usage_order;
	q.descending = a->p.descending;
	q.offset = a->p.from;
	q.limit = a->p.limit;
	if (mr_store_user_media_usage(a->ctx->store, &q, admin_add_usage, users,
	    &total, err) != MR_STORE_OK)
		return -1;
	a->count = cJSON_GetArraySize(users);
	admin_next_token(a, a->count, total);
	return 0;
}

static int
admin_dispatch(struct admin_req *a, struct mr_err *err)
{
	switch (a->call.op) {
	case MR_ADMIN_MEDIA_INFO:
		return admin_media_info(a, err);
	case MR_ADMIN_MEDIA_DELETE:
		return admin_delete_media(a, err);
	case MR_ADMIN_QUARANTINE:
		return admin_quarantine_media(a, 1, err);
	case MR_ADMIN_UNQUARANTINE:
		return admin_quarantine_media(a, 0, err);
	case MR_ADMIN_PROTECT:
		return admin_protect(a, 1, err);
	case MR_ADMIN_UNPROTECT:
		return admin_protect(a, 0, err);
	case MR_ADMIN_USER_QUARANTINE:
		return admin_quarantine_user(a, err);
	case MR_ADMIN_ROOM_QUARANTINE:
		return admin_quarantine_room(a, err);
	case MR_ADMIN_USER_MEDIA_LIST:
		return admin_user_media(a, err);
	case MR_ADMIN_USER_MEDIA_DELETE:
		return admin_delete_user_media(a, err);
	case MR_ADMIN_DELETE_OLD:
		return admin_delete_old(a, err);
	case MR_ADMIN_PURGE_CACHE:
		return admin_purge_cache(a, err);
	case MR_ADMIN_USER_STATS:
		return admin_user_stats(a, err);
	default:
		return mr_err_set(err, 404, "M_UNRECOGNIZED",
		    "Unrecognized request");
	}
}

/* What the call acted on, for the log line. */
static void
admin_target(struct admin_req *a)
{
	if (a->call.mxc.id[0] != '\0')
		mr_mxc_format(&a->call.mxc, a->target, sizeof(a->target));
	else if (a->call.user_id[0] != '\0')
		snprintf(a->target, sizeof(a->target), "%s", a->call.user_id);
	else if (a->call.room_id[0] != '\0')
		snprintf(a->target, sizeof(a->target), "%s", a->call.room_id);
	else if (a->p.before_ts > 0)
		snprintf(a->target, sizeof(a->target), "before_ts=%lld",
		    (long long)a->p.before_ts);
	else
		snprintf(a->target, sizeof(a->target), "-");
}

/* One line per admin action, done or refused past the parsers. */
static void
admin_log(const struct admin_req *a, const char *outcome)
{
	struct mr_log_admin l;
	char line[2048], action[80];
	size_t n;

	snprintf(action, sizeof(action), "%s%s", mr_admin_op_name(a->call.op),
	    outcome);
	memset(&l, 0, sizeof(l));
	l.time_ms = mr_now_ms();
	l.program = a->ctx->prog->name;
	l.id = a->req->id;
	l.user = a->req->user.user_id;
	l.action = action;
	l.target = a->target;
	l.count = a->count;
	n = mr_log_format_admin(&l, (enum mr_log_format)a->ctx->cfg.log_format,
	    line, sizeof(line) - 1);
	line[n++] = '\n';
	/* One write, so lines of concurrent processes never interleave. */
	fwrite(line, 1, n, stderr);
	fflush(stderr);
}

int
mr_serve_admin(struct mr_req *req, struct mr_ctx *ctx, struct mr_err *err)
{
	const char *uri = req->request_uri;
	size_t plen = strlen(MR_ADMIN_PREFIX), len = strcspn(uri, "?");
	struct admin_req *a;
	int rc = -1;

	if (len < plen || strncmp(uri, MR_ADMIN_PREFIX, plen) != 0)
		return mr_err_set(err, 404, "M_UNRECOGNIZED",
		    "Unrecognized request");
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return admin_oom(err);
	a->req = req;
	a->ctx = ctx;
	if (mr_admin_parse_path(uri + plen, len - plen, req->method,
	    ctx->cfg.server_name, &a->call, err) < 0 ||
	    mr_admin_parse_params(a->call.op, req->query_name,
	    req->query_value, req->n_query, &a->p, err) < 0)
		goto done;
	admin_target(a);
	if ((a->body = cJSON_CreateObject()) == NULL) {
		admin_oom(err);
		goto done;
	}
	rc = admin_dispatch(a, err);
	admin_log(a, rc == 0 ? "" : " failed");
	if (rc == 0)
		rc = mr_resp_json(req, 200, a->body);
done:
	cJSON_Delete(a->body);
	free(a);
	return rc;
}
