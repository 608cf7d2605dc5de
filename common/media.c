/*
 * media: lookup, creation, thumbnails and deletion of media items (see
 * media.h).
 */
#include "media.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "blob.h"
#include "fed.h"
#include "metrics.h"
#include "slot.h"
#include "thumb.h"

#define MEDIA_DEFAULT_WAIT_MS 20000
#define MEDIA_POLL_MS 100

/*
 * A waiting slot of this program (slot.h): 1 taken, 0 none free, -1 the
 * pool failed. A process that may not wait must answer at once instead.
 */
static int
media_take_wait_slot(struct mr_ctx *ctx, struct mr_slot *slot,
    struct mr_err *err)
{
	return mr_slot_take(ctx->cfg.runtime_dir, ctx->name, 0,
	    ctx->wait_slots, slot, err);
}

static int
media_busy(struct mr_err *err, const char *what, const char *limit)
{
	mr_err_set(err, 429, "M_LIMIT_EXCEEDED", "too many requests are %s; "
	    "try again shortly", what);
	err->retry_after_ms = 1000;
	err->limit_name = limit;
	return -1;
}

static int
media_abandoned(struct mr_err *err)
{
	return mr_err_set(err, 499, "M_UNKNOWN",
	    "client went away while waiting");
}

/* The media row of mxc; a missing one is 404 to every caller here. */
static int
media_row(struct mr_store *st, const struct mr_mxc *mxc, struct mr_media *out,
    struct mr_err *err)
{
	enum mr_store_rc rc = mr_store_media_get(st, mxc, out, err);

	if (rc == MR_STORE_NOT_FOUND)
		return mr_err_set(err, 404, "M_NOT_FOUND", "media not found");
	return rc == MR_STORE_OK ? 0 : -1;
}

/* Waits, holding slot, for a pending upload to complete or lapse. */
static int
media_wait_pending(struct mr_ctx *ctx, const struct mr_mxc *mxc,
    const struct mr_media_want *want, int64_t deadline, struct mr_media *out,
    struct mr_err *err)
{
	for (;;) {
		if (media_row(ctx->store, mxc, out, err) < 0)
			return -1;
		/* Frozen media is absent from unauthenticated routes (spec
		 * 2.10), for as long as the freeze is on. */
		if ((out->quarantined && !want->bypass_quarantine) ||
		    (out->authenticated &&
		    !want->authenticated && ctx->cfg.enable_authenticated_media))
			return mr_err_set(err, 404, "M_NOT_FOUND", "media not found");
		if (out->sha256[0] != '\0')
			return 0;
		/* An async id whose upload window closed is gone. */
		if (out->expires_ts > 0 && out->expires_ts <= mr_now_ms())
			return mr_err_set(err, 404, "M_NOT_FOUND", "media not found");
		if (mr_mono_ms() >= deadline)
			return mr_err_set(err, 504, "M_NOT_YET_UPLOADED",
			    "content has not yet been uploaded");
		/* Polling the row is cheap and needs no channel between
		 * processes; the upload may come through any of them. */
		if (mr_wait_sleep_ms(MEDIA_POLL_MS) < 0)
			return media_abandoned(err);
	}
}

/*
 * remote_media_download_*: a leaky bucket of remote bytes per requester.
 * Checked before a fetch (a full bucket refuses) and charged with what the
 * fetch brought, as the size is known only then.
 */
static int
media_remote_bucket(struct mr_ctx *ctx, const char *requester, int64_t bytes,
    struct mr_err *err)
{
	char key[320];
	int64_t retry_ms;
	int rc;

	if (requester == NULL || requester[0] == '\0')
		return 0;
	snprintf(key, sizeof(key), "remote_media:%s", requester);
	rc = mr_store_bucket_take(ctx->store, key, bytes,
	    ctx->cfg.remote_media_download_per_second * 1000,
	    ctx->cfg.remote_media_download_burst_count, mr_now_ms(), bytes > 0,
	    &retry_ms, err);
	if (rc != MR_STORE_BUSY)
		return rc == MR_STORE_OK ? 0 : -1;
	mr_err_set(err, 429, "M_LIMIT_EXCEEDED",
	    "too much remote media downloaded; try again later");
	err->retry_after_ms = retry_ms;
	err->limit_name = "remote_media_download";
	return -1;
}

int
mr_media_lookup(struct mr_ctx *ctx, const struct mr_mxc *mxc,
    const struct mr_media_want *want, struct mr_media *out,
    struct mr_err *err)
{
	int64_t timeout_ms = want->timeout_ms;
	struct mr_slot slot;
	int rc;

	if (strcmp(mxc->server, ctx->cfg.server_name) != 0) {
		/* Cached remote media is served like local; the rest is
		 * fetched unless the caller forbids it. */
		if ((rc = mr_store_media_get(ctx->store, mxc, out, err)) !=
		    MR_STORE_OK) {
			if (rc != MR_STORE_NOT_FOUND)
				return -1;
			if (!want->allow_remote)
				return mr_err_set(err, 404, "M_NOT_FOUND",
				    "remote media and allow_remote is false");
			if (media_remote_bucket(ctx, want->requester, 0, err) < 0 ||
			    mr_media_fetch_remote(ctx, mxc, out, err) < 0)
				return -1;
			if (media_remote_bucket(ctx, want->requester, out->size,
			    err) < 0)
				return -1;
		}
	}
	if (timeout_ms < 0)
		timeout_ms = MEDIA_DEFAULT_WAIT_MS;
	if (timeout_ms > ctx->cfg.max_pending_media_wait)
		timeout_ms = ctx->cfg.max_pending_media_wait;
	/* Most lookups find complete media and never wait: only a pending
	 * id with time to wait takes a slot. */
	rc = media_wait_pending(ctx, mxc, want, mr_mono_ms(), out, err);
	if (rc == 0 || err->status != 504 || timeout_ms == 0)
		return rc;
	rc = media_take_wait_slot(ctx, &slot, err);
	if (rc == 0) {
		mr_err_set(err, 504, "M_NOT_YET_UPLOADED", "content has not yet "
		    "been uploaded (too many requests are waiting to wait for "
		    "it)");
		err->limit_name = "waiting_slots";
	}
	if (rc <= 0)
		return -1;
	rc = media_wait_pending(ctx, mxc, want, mr_mono_ms() + timeout_ms, out,
	    err);
	mr_slot_release(&slot);
	return rc;
}

/* Records a fetched remote media item as a row like a local one. */
static int
media_record_remote(struct mr_ctx *ctx, const struct mr_mxc *mxc,
    const struct mr_fed_media *fm, struct mr_err *err)
{
	struct mr_media m;

	memset(&m, 0, sizeof(m));
	m.mxc = *mxc;
	snprintf(m.sha256, sizeof(m.sha256), "%s", fm->sha256);
	m.size = fm->size;
	snprintf(m.content_type, sizeof(m.content_type), "%s",
	    fm->content_type);
	snprintf(m.upload_name, sizeof(m.upload_name), "%s", fm->filename);
	m.created_ts = mr_now_ms();
	/* Spec 2.10: remote media cached during the freeze counts as new. */
	m.authenticated = ctx->cfg.enable_authenticated_media;
	if (mr_media_create(&ctx->cfg, ctx->store, ctx->blob, MR_MEDIA_REMOTE,
	    &m, err) == 0 || err->status == 409)
		return 0;
	/* Quarantined bytes are absent here, as quarantined media is; the
	 * refusal is cached like the origin's own 404. */
	if (err->status == 403)
		mr_err_set(err, 404, "M_NOT_FOUND", "media not found");
	return -1;
}

/*
 * The fetch itself, once this process holds the media's claim: behind the
 * origin's circuit breaker and its cap on concurrent fetches, so that a
 * dead or slow server costs at most a few processes, and for a short while
 * none at all.
 */
static int
media_fetch_from_origin(struct mr_ctx *ctx, struct mr_fed *f,
    const struct mr_mxc *mxc, struct mr_fed_media *fm, struct mr_err *err)
{
	int64_t cap = ctx->cfg.federation_max_fetches_per_origin, until_ts;
	struct mr_slot origin_slot;
	struct mr_err ignored;
	int rc;

	if ((rc = mr_store_origin_down(ctx->store, mxc->server, mr_now_ms(),
	    &until_ts, err)) != MR_STORE_OK) {
		if (rc != MR_STORE_BUSY)
			return -1;
		mr_err_set(err, 502, "M_UNKNOWN", "'%s' did not answer recently; "
		    "not asked again for %lld s", mxc->server,
		    (long long)((until_ts - mr_now_ms()) / 1000 + 1));
		err->remote_down = 1;
		mr_metrics_remote_fetch(MR_FETCH_BACKOFF);
		return -1;
	}
	if ((rc = mr_slot_take(ctx->cfg.runtime_dir, "origins",
	    mr_slot_origin_bucket(mxc->server) * 64, cap, &origin_slot,
	    err)) <= 0) {
		mr_metrics_remote_fetch(MR_FETCH_BUSY);
		return rc < 0 ? -1 : media_busy(err, "fetching from this server",
		    "federation_max_fetches_per_origin");
	}
	rc = mr_fed_fetch_media(f, mxc, fm, err);
	mr_slot_release(&origin_slot);
	if (rc == 0 || err->status != 499)
		mr_store_origin_result(ctx->store, mxc->server,
		    rc == 0 || !err->remote_down, mr_now_ms(),
		    ctx->cfg.federation_origin_backoff, &ignored);
	if (rc == 0)
		rc = media_record_remote(ctx, mxc, fm, err);
	if (rc == 0 || err->status != 499)
		mr_metrics_remote_fetch(mr_metrics_fetch_result(rc, err));
	return rc;
}

/* With this program's waiting slot held: one fetch per media. */
static int
media_fetch_claimed(struct mr_ctx *ctx, struct mr_fed *f,
    const struct mr_mxc *mxc, struct mr_media *out, struct mr_err *err)
{
	int64_t lock_ms = ctx->cfg.federation_timeout * 4 + 10000;
	int64_t deadline = mr_mono_ms() + lock_ms;
	struct mr_store_outcome done;
	struct mr_fed_media fm;
	struct mr_err ignored;
	char key[MR_SERVER_NAME_MAX + MR_MEDIA_ID_MAX + 2];
	int rc;

	/* The first caller takes the lease, the others wait for the media
	 * row it will write. */
	snprintf(key, sizeof(key), "%s/%s", mxc->server, mxc->id);
	while ((rc = mr_store_lease_take(ctx->store,
	    MR_STORE_LEASE_REMOTE_MEDIA, key, mr_now_ms(), lock_ms, &done,
	    err)) == MR_STORE_BUSY) {
		if (mr_store_media_get(ctx->store, mxc, out, &ignored) ==
		    MR_STORE_OK)
			return 0;
		if (mr_mono_ms() >= deadline)
			return mr_err_set(err, 504, "M_UNKNOWN",
			    "timed out waiting for another fetch of this media");
		if (mr_wait_sleep_ms(MEDIA_POLL_MS) < 0)
			return media_abandoned(err);
	}
	if (rc == MR_STORE_CONFLICT) {
		/* A failure is cached; a remote fetch leaves no body. */
		free(done.body);
		*err = done.failure;
		return -1;
	}
	if (rc != MR_STORE_OK)
		return -1;
	/* The fetch may have ended between our look and our lease. */
	if (mr_store_media_get(ctx->store, mxc, out, &ignored) == MR_STORE_OK) {
		mr_store_lease_end(ctx->store, MR_STORE_LEASE_REMOTE_MEDIA, key,
		    NULL, NULL, 0, &ignored);
		return 0;
	}
	if (media_fetch_from_origin(ctx, f, mxc, &fm, err) < 0) {
		/* Failures are remembered briefly so a missing file is not
		 * asked for again with every request; a refusal for lack of
		 * a slot, or a client that left, is nobody's failure. */
		int keep = err->status != 429 && err->status != 499 &&
		    (err->status >= 500 || err->status == 404);

		mr_store_lease_end(ctx->store, MR_STORE_LEASE_REMOTE_MEDIA, key,
		    NULL, keep ? err : NULL,
		    keep ? mr_now_ms() + ctx->cfg.remote_media_failure_cache : 0,
		    &ignored);
		return -1;
	}
	mr_store_lease_end(ctx->store, MR_STORE_LEASE_REMOTE_MEDIA, key, NULL,
	    NULL, 0, &ignored);
	return media_row(ctx->store, mxc, out, err);
}

int
mr_media_fetch_remote(struct mr_ctx *ctx, const struct mr_mxc *mxc,
    struct mr_media *out, struct mr_err *err)
{
	struct mr_slot slot;
	struct mr_fed *f;
	int rc;

	if ((f = mr_ctx_fed(ctx, err)) == NULL)
		return -1;
	/* Fetching, or waiting on another process's fetch, is waiting. */
	if ((rc = media_take_wait_slot(ctx, &slot, err)) <= 0)
		return rc < 0 ? -1 :
		    media_busy(err, "waiting on other servers", "waiting_slots");
	rc = media_fetch_claimed(ctx, f, mxc, out, err);
	mr_slot_release(&slot);
	return rc;
}

int
mr_media_create_ratelimit(struct mr_ctx *ctx, const char *user_id,
    struct mr_err *err)
{
	char key[320];
	int64_t retry_ms;
	int rc;

	snprintf(key, sizeof(key), "media_create:%s", user_id);
	rc = mr_store_bucket_take(ctx->store, key, 1,
	    ctx->cfg.rc_media_create_per_second,
	    ctx->cfg.rc_media_create_burst_count, mr_now_ms(), 0, &retry_ms,
	    err);
	if (rc != MR_STORE_BUSY)
		return rc == MR_STORE_OK ? 0 : -1;
	mr_err_set(err, 429, "M_LIMIT_EXCEEDED", "too many requests");
	err->retry_after_ms = retry_ms;
	err->limit_name = "rc_media_create";
	return -1;
}

static int
media_quota_refused(struct mr_err *err, const struct mr_upload_limit *lim)
{
	mr_err_set(err, 400, "M_RESOURCE_LIMIT_EXCEEDED",
	    "upload exceeds the limit of %lld bytes per %lld s",
	    (long long)lim->bytes, (long long)(lim->period_ms / 1000));
	err->limit_name = "media_upload_limits";
	return -1;
}

int
mr_media_upload_quota(struct mr_ctx *ctx, const char *user_id,
    int64_t incoming, struct mr_err *err)
{
	const struct mr_upload_limit *lim = ctx->cfg.upload_limits;
	int n = ctx->cfg.n_upload_limits;
	int64_t now = mr_now_ms(), used;

	for (int i = 0; i < n; i++) {
		if (mr_store_user_upload_bytes(ctx->store, user_id,
		    now - lim[i].period_ms, &used, err) < 0)
			return -1;
		if (used + incoming > lim[i].bytes)
			return media_quota_refused(err, &lim[i]);
	}
	return 0;
}

void
mr_media_sweep_temp(struct mr_ctx *ctx)
{
	struct mr_err err;

	/* tmp/ holds only uploads in flight, so a scan per upload is cheap. */
	if (mr_blob_sweep(ctx->blob, MR_BLOB_SWEEP_GRACE_MS,
	    ctx->cfg.temp_file_max_age, &err) < 0)
		fprintf(stderr, "mediarepo: temp sweep: %s\n", err.msg);
}

/* What creating a row does, by where it comes from. */
static const struct {
	int reserved;		/* completes a row create made (MSC2246) */
	int keep_quarantined;	/* quarantined bytes: a quarantined row */
	int thumbnails;		/* makes the configured sizes now */
	int quota;		/* refused past media_upload_limits */
} media_sources[MR_MEDIA__SOURCES] = {
	[MR_MEDIA_UPLOAD] = { 0, 0, 1, 1 },
	[MR_MEDIA_UPLOAD_RESERVED] = { 1, 0, 1, 1 },
	[MR_MEDIA_PREVIEW] = { 0, 0, 1, 0 },
	/* Remote media is thumbnailed when someone asks for a thumbnail. */
	[MR_MEDIA_REMOTE] = { 0, 0, 0, 0 },
	/* Thousands at a time: thumbnails wait until they are wanted. */
	[MR_MEDIA_IMPORT] = { 0, 1, 0, 0 },
};

/* Refuses quarantined bytes, or marks m for a quarantined row. */
static int
media_check_quarantine(struct mr_store *st, struct mr_blob *blob,
    enum mr_media_source src, struct mr_media *m, struct mr_err *err)
{
	struct mr_err ignored;
	enum mr_store_rc rc = mr_store_hash_quarantined(st, m->sha256, err);

	if (rc != MR_STORE_OK)
		return rc == MR_STORE_NOT_FOUND ? 0 : -1;
	if (media_sources[src].keep_quarantined) {
		m->quarantined = 1;
		return 0;
	}
	if (mr_media_blob_release(st, blob, m->sha256, &ignored) < 0)
		fprintf(stderr, "mediarepo: quarantined bytes: %s\n",
		    ignored.msg);
	return mr_err_set(err, 403, "M_FORBIDDEN",
	    "this content has been quarantined by the server administrator");
}

/*
 * The row of an upload, within media_upload_limits: the final check and
 * the insert are one step in the store (one write transaction on SQLite;
 * one transaction under the user's advisory lock on PostgreSQL), so
 * uploads of one user arriving together, on any process or host, are
 * charged one after the other and exactly those that fit are kept.
 * Chosen over a per-user lease held from check to insert (a lease row to
 * poll for, and one left behind by a killed process blocks the user until
 * it expires) and over a reservation charged before the body is read (it
 * must be settled and expired, and refuses uploads that would fit once
 * the reserved ones settle smaller): a transaction dies with its process
 * and nobody polls. The wait is for the other uploads' few statements,
 * bounded by the store (429 past it). Without limits the plain insert is
 * used and nothing is locked.
 */
static enum mr_store_rc
media_put_quota(const struct mr_config *cfg, struct mr_store *st,
    struct mr_blob *blob, int reserved, struct mr_media *m,
    struct mr_err *err)
{
	struct mr_store_quota q[MR_UPLOAD_LIMITS_MAX];
	int n = cfg->n_upload_limits, over;
	int64_t now = mr_now_ms();
	struct mr_err ignored;
	enum mr_store_rc rc;

	for (int i = 0; i < n; i++) {
		q[i].since_ts = now - cfg->upload_limits[i].period_ms;
		q[i].max_bytes = cfg->upload_limits[i].bytes;
	}
	rc = mr_store_media_put_quota(st, m, reserved, q, n, &over, err);
	if (rc != MR_STORE_BUSY)
		return rc;
	/* Refused bytes leave nothing stored, unless another row has them. */
	if (mr_media_blob_release(st, blob, m->sha256, &ignored) < 0)
		fprintf(stderr, "mediarepo: refused upload: %s\n", ignored.msg);
	if (over >= 0)
		media_quota_refused(err, &cfg->upload_limits[over]);
	else
		media_busy(err, "uploading for this user",
		    "media_upload_limits");
	return MR_STORE_UNAVAILABLE;
}

int
mr_media_create(const struct mr_config *cfg, struct mr_store *st,
    struct mr_blob *blob, enum mr_media_source src, struct mr_media *m,
    struct mr_err *err)
{
	struct mr_store_sel sel;
	struct mr_err terr;
	enum mr_store_rc rc;
	int64_t n;

	if ((unsigned)src >= MR_MEDIA__SOURCES)
		return mr_err_set(err, 500, "M_UNKNOWN", "unknown media source");
	if (media_check_quarantine(st, blob, src, m, err) < 0)
		return -1;
	if (media_sources[src].quota && cfg->n_upload_limits > 0)
		rc = media_put_quota(cfg, st, blob, media_sources[src].reserved,
		    m, err);
	else
		rc = media_sources[src].reserved ?
		    mr_store_media_complete(st, m, err) :
		    mr_store_media_insert(st, m, err);
	/* A taken id, or a pending one filled by another upload. */
	if (rc == MR_STORE_CONFLICT)
		return mr_err_set(err, 409, "M_CANNOT_OVERWRITE_MEDIA",
		    media_sources[src].reserved ? "media already uploaded" :
		    "media id already taken");
	if (rc != MR_STORE_OK)
		return -1;
	if (src == MR_MEDIA_UPLOAD || src == MR_MEDIA_UPLOAD_RESERVED)
		mr_metrics_upload(m->size);
	if (m->quarantined) {
		/* Banning the bytes as well keeps them from other ids. */
		memset(&sel, 0, sizeof(sel));
		sel.mxc = &m->mxc;
		if ((rc = mr_store_quarantine(st, &sel, 1, &n, err)) ==
		    MR_STORE_NOT_FOUND)
			return mr_err_set(err, 404, "M_NOT_FOUND",
			    "media not found");
		return rc == MR_STORE_OK ? 0 : -1;
	}
	if (media_sources[src].thumbnails &&
	    mr_media_pregenerate_thumbnails(cfg, st, blob, m, &terr) < 0)
		fprintf(stderr, "mediarepo: thumbnails of '%s': %s\n",
		    m->mxc.id, terr.msg);
	return 0;
}

/* --- operator work --- */

int
mr_media_blob_release(struct mr_store *st, struct mr_blob *blob,
    const char *sha256, struct mr_err *err)
{
	enum mr_store_rc rc = mr_store_blob_referenced(st, sha256, err);

	if (rc != MR_STORE_NOT_FOUND)
		return rc == MR_STORE_OK ? 0 : -1;
	return mr_blob_remove(blob, sha256, err);
}

/* The distinct hashes a deleted media item named. */
struct media_hashes {
	char (*sha)[MR_SHA256_HEX];
	size_t n, cap;
	int oom;
};

static void
media_collect_hash(const char *sha256, void *arg)
{
	struct media_hashes *h = arg;

	for (size_t i = 0; i < h->n; i++)
		if (strcmp(h->sha[i], sha256) == 0)
			return;
	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 16;
		void *p = realloc(h->sha, cap * sizeof(*h->sha));

		if (p == NULL) {
			h->oom = 1;
			return;
		}
		h->sha = p;
		h->cap = cap;
	}
	snprintf(h->sha[h->n++], MR_SHA256_HEX, "%s", sha256);
}

int
mr_media_delete(struct mr_store *st, struct mr_blob *blob,
    const struct mr_mxc *mxc, struct mr_media_freed *freed,
    struct mr_err *err)
{
	struct media_hashes h = { NULL, 0, 0, 0 };
	int rc = 0;

	switch (mr_store_media_delete(st, mxc, media_collect_hash, &h, err)) {
	case MR_STORE_OK:
		break;
	case MR_STORE_NOT_FOUND:
		free(h.sha);
		return mr_err_set(err, 404, "M_NOT_FOUND", "media not found");
	default:
		free(h.sha);
		return -1;
	}
	/* Out of memory only leaves files behind, which gc finds later. */
	for (size_t i = 0; i < h.n && rc == 0; i++) {
		struct mr_err ignored;
		int64_t size = 0;

		if (mr_blob_stat(blob, h.sha[i], &size, &ignored) < 0)
			size = 0;
		switch (mr_media_blob_release(st, blob, h.sha[i], err)) {
		case 1:
			freed->blobs++;
			freed->bytes += size;
			break;
		case -1:
			rc = -1;
			break;
		}
	}
	free(h.sha);
	return rc;
}

/* --- thumbnails --- */

/* The row describing a generated thumbnail of m for box. */
static void
media_thumb_row(const struct mr_media *m, const struct mr_thumb_spec *box,
    int animated, int dynamic, const struct mr_thumb_result *r,
    struct mr_thumb_row *row)
{
	memset(row, 0, sizeof(*row));
	mr_blob_hash(r->data, r->len, row->sha256);
	row->mxc = m->mxc;
	row->width = box->width;
	row->height = box->height;
	row->crop = box->method == MR_THUMB_CROP;
	row->animated = animated;
	row->size = (int64_t)r->len;
	snprintf(row->content_type, sizeof(row->content_type), "%s",
	    r->content_type);
	row->actual_width = r->width;
	row->actual_height = r->height;
	row->dynamic = dynamic;
}

/*
 * Stores one generated thumbnail: the bytes, then the row (an on-demand
 * one only while under the cap). In that order, as an upload's, a crash
 * between the two leaves a file no row names, which gc removes, and never
 * a row naming no file, which verify would report. Bytes that get no row
 * (past the cap above all, or each refused request would leave a file)
 * go again at once, unless something else names the same bytes.
 */
static int
media_store_thumb(const struct mr_config *cfg, struct mr_store *st,
    struct mr_blob *blob, const struct mr_thumb_row *row, const struct mr_thumb_result *r,
    struct mr_err *err)
{
	char sha[MR_SHA256_HEX];
	struct mr_err ignored;
	int rc;

	if (mr_blob_put(blob, r->data, r->len, sha, err) < 0)
		return -1;
	rc = row->dynamic ? mr_store_thumb_put_capped(st, row,
	    cfg->max_thumbnails_per_media, err) :
	    mr_store_thumb_put(st, row, err);
	if (rc == MR_STORE_BUSY)
		rc = mr_err_set(err, 429, "M_LIMIT_EXCEEDED",
		    "media has its %lld thumbnails made on demand",
		    (long long)cfg->max_thumbnails_per_media);
	else if (rc != MR_STORE_OK)
		rc = -1;
	else
		mr_metrics_thumbnail(row->crop);
	if (rc < 0 && mr_media_blob_release(st, blob, sha, &ignored) < 0)
		fprintf(stderr, "mediarepo: thumbnail not kept: %s\n",
		    ignored.msg);
	return rc;
}

int
mr_media_pregenerate_thumbnails(const struct mr_config *cfg,
    struct mr_store *st, struct mr_blob *blob, const struct mr_media *m,
    struct mr_err *err)
{
	struct mr_thumb_result results[MR_THUMB_MAX_SPECS];
	struct mr_thumb_limits lim;
	struct mr_image_info info;
	struct mr_blob_map map;
	size_t n = cfg->n_thumbnail_sizes;
	int rc = 0;

	mr_thumb_limits_from_config(cfg, &lim);
	if (mr_blob_map(blob, m->sha256, &map, err) < 0)
		return -1;
	/* Not an image, or one we will not decode: nothing to make. */
	if (mr_thumb_check(map.data, map.len, &lim, &info, err) < 0 ||
	    mr_thumb_generate(map.data, map.len, cfg->thumbnail_sizes, n, 0,
	    &lim, results, err) < 0) {
		mr_blob_unmap(blob, &map);
		mr_err_clear(err);
		return 0;
	}
	mr_blob_unmap(blob, &map);
	for (size_t i = 0; i < n; i++) {
		struct mr_thumb_row row;

		if (rc == 0 && !results[i].use_original) {
			media_thumb_row(m, &cfg->thumbnail_sizes[i], 0, 0,
			    &results[i], &row);
			rc = media_store_thumb(cfg, st, blob, &row, &results[i],
			    err);
		}
		mr_thumb_result_release(&results[i]);
	}
	return rc;
}

/*
 * The box a request is served from. A configured box at least as large
 * as the request serves it; with dynamic_thumbnails, or when no
 * configured box is large enough (a thumbnail is never smaller than asked
 * while the original is larger), the request's own box is made, counted
 * against max_thumbnails_per_media. Returns 1 for a made-to-measure box.
 */
static int
media_thumb_box(const struct mr_config *cfg, const struct mr_thumb_spec *want,
    int allow_dynamic, struct mr_thumb_spec *box)
{
	const struct mr_thumb_spec *sizes = cfg->thumbnail_sizes;
	size_t n = cfg->n_thumbnail_sizes;
	size_t i = mr_thumb_pick(sizes, n, want->width, want->height,
	    want->method);

	if (i < n && sizes[i].width == want->width &&
	    sizes[i].height == want->height) {
		*box = sizes[i];
		return 0;
	}
	if (allow_dynamic && cfg->max_thumbnails_per_media > 0 &&
	    (cfg->dynamic_thumbnails || i == n)) {
		*box = *want;
		return 1;
	}
	*box = sizes[i < n ? i : mr_thumb_pick_fallback(sizes, n, want->method)];
	return 0;
}

static int
media_thumb_stored(struct mr_ctx *ctx, const struct mr_media *m,
    const struct mr_thumb_spec *box, int animated, struct mr_media_thumb *out)
{
	struct mr_thumb_row row;
	struct mr_err ignored;
	int64_t size;

	if (mr_store_thumb_get(ctx->store, &m->mxc, box->width, box->height,
	    box->method == MR_THUMB_CROP, animated, &row, &ignored) !=
	    MR_STORE_OK)
		return -1;
	/* A row whose file went missing is made again by the caller. */
	if (mr_blob_stat(ctx->blob, row.sha256, &size, &ignored) < 0)
		return -1;
	snprintf(out->sha256, sizeof(out->sha256), "%s", row.sha256);
	snprintf(out->content_type, sizeof(out->content_type), "%s",
	    row.content_type);
	out->size = row.size;
	return 0;
}

/* animated=true on a source that cannot move is animated=false. */
static int
media_can_animate(const struct mr_blob_map *map)
{
	struct mr_image_info info;
	struct mr_err ignored;

	return mr_image_probe(map->data, map->len, &info, &ignored) == 0 &&
	    info.animated && (info.format == MR_IMAGE_GIF ||
	    info.format == MR_IMAGE_WEBP || info.format == MR_IMAGE_PNG);
}

/*
 * The media has its cap of sizes made on demand: the one 429 that carries
 * no retry time, as waiting will not help (a configured size serves
 * instead), where a busy program's 429 says when to try again.
 */
static int
media_thumb_capped(const struct mr_err *err)
{
	return err->status == 429 && err->retry_after_ms == 0;
}

/* The original serves the box: its own bytes. */
static void
media_thumb_original(const struct mr_media *m, const char *content_type,
    struct mr_media_thumb *out)
{
	snprintf(out->sha256, sizeof(out->sha256), "%s", m->sha256);
	snprintf(out->content_type, sizeof(out->content_type), "%s",
	    content_type);
	out->size = m->size;
}

/*
 * Generates a box and stores it. *original is set when the original
 * serves the box as it is (nothing is stored then). Each generation
 * leaves one line on stderr, so operators (and tests) can see how often
 * the work is done.
 */
static int
media_thumb_make(struct mr_ctx *ctx, const struct mr_media *m,
    const struct mr_blob_map *map, const struct mr_thumb_spec *box,
    int animated, int dynamic, int *original, struct mr_media_thumb *out,
    struct mr_err *err)
{
	struct mr_thumb_limits lim;
	struct mr_thumb_result r;
	struct mr_thumb_row row;
	int64_t t0 = mr_mono_ms();
	int rc;

	*original = 0;
	mr_thumb_limits_from_config(&ctx->cfg, &lim);
	if (mr_thumb_generate(map->data, map->len, box, 1, animated, &lim, &r,
	    err) < 0)
		return -1;
	if (r.use_original) {
		*original = 1;
		media_thumb_original(m, r.content_type, out);
		return 0;
	}
	fprintf(stderr, "mediarepo: thumbnail generated: mxc://%s/%s "
	    "%ux%u %s%s in %lld ms\n", m->mxc.server, m->mxc.id, box->width,
	    box->height, box->method == MR_THUMB_CROP ? "crop" : "scale",
	    animated ? " animated" : "", (long long)(mr_mono_ms() - t0));
	media_thumb_row(m, box, animated, dynamic, &r, &row);
	rc = media_store_thumb(&ctx->cfg, ctx->store, ctx->blob, &row, &r, err);
	mr_thumb_result_release(&r);
	if (rc < 0)
		return -1;
	snprintf(out->sha256, sizeof(out->sha256), "%s", row.sha256);
	snprintf(out->content_type, sizeof(out->content_type), "%s",
	    row.content_type);
	out->size = row.size;
	return 0;
}

#define MEDIA_THUMB_POLL_MS 25
/* How long a maker's outcome answers those who asked with it. */
#define MEDIA_THUMB_OUTCOME_MS 10000

/*
 * What the lease on a box gave: 1 this process makes it, 2 another
 * process is making it, 0 out is filled (stored meanwhile, or the
 * original serves), -1 err (the maker's kept failure, or the store's).
 */
static int
media_thumb_lease(struct mr_ctx *ctx, const struct mr_media *m,
    const struct mr_thumb_spec *box, int animated, const char *key,
    int64_t lock_ms, struct mr_media_thumb *out, struct mr_err *err)
{
	struct mr_store_outcome done;
	enum mr_store_rc rc = mr_store_lease_take(ctx->store,
	    MR_STORE_LEASE_THUMBNAIL, key, mr_now_ms(), lock_ms, &done, err);
	struct mr_err ignored;

	if (rc == MR_STORE_BUSY)
		return 2;
	if (rc == MR_STORE_CONFLICT) {
		if (done.body == NULL) {
			*err = done.failure;
			return -1;
		}
		/* The maker left the original's type: it serves the box. */
		media_thumb_original(m, done.body, out);
		free(done.body);
		return 0;
	}
	if (rc != MR_STORE_OK)
		return -1;
	/* The maker may have finished between our look and our lease. */
	if (media_thumb_stored(ctx, m, box, animated, out) == 0) {
		mr_store_lease_end(ctx->store, MR_STORE_LEASE_THUMBNAIL, key,
		    NULL, NULL, 0, &ignored);
		return 0;
	}
	return 1;
}

/*
 * Another process makes the box: waits for it, holding one of this
 * program's waiting slots (slot.h), until it is stored, its maker's
 * outcome answers, or the maker died and the lease came to this process
 * (1). Bounded by the lease itself: a maker that hangs loses its lease.
 */
static int
media_thumb_wait(struct mr_ctx *ctx, const struct mr_media *m,
    const struct mr_thumb_spec *box, int animated, const char *key,
    int64_t lock_ms, struct mr_media_thumb *out, struct mr_err *err)
{
	int64_t deadline = mr_mono_ms() + lock_ms + 1000;
	struct mr_slot slot;
	int rc;

	if ((rc = media_take_wait_slot(ctx, &slot, err)) <= 0)
		return rc < 0 ? -1 : media_busy(err,
		    "waiting for thumbnails being made",
		    "waiting_slots");
	for (;;) {
		if (mr_wait_sleep_ms(MEDIA_THUMB_POLL_MS) < 0) {
			rc = media_abandoned(err);
			break;
		}
		if (media_thumb_stored(ctx, m, box, animated, out) == 0) {
			rc = 0;
			break;
		}
		if ((rc = media_thumb_lease(ctx, m, box, animated, key, lock_ms,
		    out, err)) != 2)
			break;
		if (mr_mono_ms() >= deadline) {
			rc = mr_err_set(err, 504, "M_UNKNOWN",
			    "timed out waiting for this thumbnail to be made");
			break;
		}
	}
	mr_slot_release(&slot);
	return rc;
}

/*
 * One attempt at a box: stored, or generated and stored, by one process
 * at a time across processes (and hosts sharing the store): the others
 * wait for it and are then served what it stored.
 */
static int
media_thumb_for_box(struct mr_ctx *ctx, const struct mr_media *m,
    const struct mr_blob_map *map, const struct mr_thumb_spec *box,
    int animated, int dynamic, struct mr_media_thumb *out,
    struct mr_err *err)
{
	char key[MR_SERVER_NAME_MAX + MR_MEDIA_ID_MAX + 64];
	/* The child's own limit, and time to store what it made. */
	int64_t lock_ms = ctx->cfg.thumbnail_time_limit + 5000;
	struct mr_err ignored;
	int rc, original, keep;

	if (media_thumb_stored(ctx, m, box, animated, out) == 0)
		return 0;
	snprintf(key, sizeof(key), "%s/%s/%ux%u/%s%s", m->mxc.server,
	    m->mxc.id, box->width, box->height,
	    box->method == MR_THUMB_CROP ? "crop" : "scale",
	    animated ? "/animated" : "");
	rc = media_thumb_lease(ctx, m, box, animated, key, lock_ms, out, err);
	if (rc == 2)
		rc = media_thumb_wait(ctx, m, box, animated, key, lock_ms, out,
		    err);
	if (rc != 1)
		return rc;
	rc = media_thumb_make(ctx, m, map, box, animated, dynamic, &original,
	    out, err);
	/*
	 * A stored box is its own outcome. The original serving it, or a
	 * failure that the next attempt would only repeat (an image that
	 * cannot be decoded or is too large, a media at its cap of sizes),
	 * is kept for the waiters; other failures are nobody's, and the
	 * next caller tries again.
	 */
	keep = rc < 0 ? err->status == 400 || err->status == 413 ||
	    media_thumb_capped(err) : original;
	mr_store_lease_end(ctx->store, MR_STORE_LEASE_THUMBNAIL, key,
	    rc == 0 && original ? out->content_type : NULL,
	    rc < 0 && keep ? err : NULL,
	    keep ? mr_now_ms() + MEDIA_THUMB_OUTCOME_MS : 0, &ignored);
	return rc;
}

int
mr_media_thumbnail(struct mr_ctx *ctx, const struct mr_media *m,
    const struct mr_thumb_spec *want, int animated, struct mr_media_thumb *out,
    struct mr_err *err)
{
	struct mr_thumb_spec box;
	struct mr_blob_map map;
	int dynamic, rc;

	if (mr_blob_map(ctx->blob, m->sha256, &map, err) < 0)
		return -1;
	animated = animated && media_can_animate(&map);
	dynamic = media_thumb_box(&ctx->cfg, want, 1, &box);
	rc = media_thumb_for_box(ctx, m, &map, &box, animated, dynamic, out,
	    err);
	/* Past the cap of made-to-measure sizes, a configured one serves. */
	if (rc < 0 && dynamic && media_thumb_capped(err)) {
		mr_err_clear(err);
		media_thumb_box(&ctx->cfg, want, 0, &box);
		rc = media_thumb_for_box(ctx, m, &map, &box, animated, 0, out,
		    err);
	}
	mr_blob_unmap(ctx->blob, &map);
	return rc;
}

/* --- last access --- */

void
mr_media_touch(struct mr_store *st, const struct mr_media *m)
{
	int64_t now = mr_now_ms();
	struct mr_err err;

	if (m->last_access_ts > now - MR_STORE_ACCESS_GRANULARITY)
		return;
	if (mr_store_media_touch(st, &m->mxc, now, &err) < 0)
		fprintf(stderr, "mediarepo: cannot record a read of '%s': %s\n",
		    m->mxc.id, err.msg);
}
