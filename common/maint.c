/*
 * maint: gc, verify and the Synapse import (see maint.h).
 */
#include "maint.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "media.h"
#include "mxc.h"
#include "synapse_import.h"

static void
maint_start(const struct mr_maint_report *r, int64_t total)
{
	if (r->start != NULL)
		r->start(r->arg, total);
}

static void
maint_step(const struct mr_maint_report *r, int64_t bytes)
{
	if (r->step != NULL)
		r->step(r->arg, bytes);
}

static void
maint_end(const struct mr_maint_report *r)
{
	if (r->end != NULL)
		r->end(r->arg);
}

static void
maint_event(const struct mr_maint_report *r, enum mr_maint_event ev,
    const char *where, const char *detail)
{
	if (r->event != NULL)
		r->event(r->arg, ev, where, detail);
}

static int
maint_count_file(const struct mr_blob_entry *e, void *arg)
{
	(void)e;
	(void)arg;
	return 0;
}

/* --- gc --- */

struct maint_gc_walk {
	struct mr_store *st;
	struct mr_blob *blob;
	struct mr_maint_gc *g;
	const struct mr_maint_report *r;
	int64_t now_ms;
};

static int
maint_gc_file(const struct mr_blob_entry *e, void *arg)
{
	struct maint_gc_walk *w = arg;
	struct mr_maint_gc *g = w->g;
	struct mr_err err;
	int rc;

	maint_step(w->r, 0);
	if (!e->valid) {
		maint_event(w->r, MR_MAINT_STRAY, e->where, NULL);
		g->stray++;
		return 0;
	}
	/*
	 * An upload stores its blob before its row: a young file may be
	 * named any moment now, so it is left for a later run.
	 */
	if (w->now_ms - e->mtime_ms < g->min_age_ms) {
		g->young++;
		return 0;
	}
	if (g->dry_run) {
		/* 1 as a release would answer: no row names the file. */
		rc = mr_store_blob_referenced(w->st, e->name, &err);
		rc = rc == MR_STORE_UNAVAILABLE ? -1 : rc == MR_STORE_NOT_FOUND;
	} else {
		rc = mr_media_blob_release(w->st, w->blob, e->name, &err);
	}
	if (rc < 0) {
		maint_event(w->r, MR_MAINT_FAILED, NULL, err.msg);
		g->errors++;
	} else if (rc == 1) {
		if (g->dry_run)
			maint_event(w->r, MR_MAINT_ORPHAN, e->where, NULL);
		g->removed++;
		g->bytes += e->size;
	} else {
		g->kept++;
	}
	return 0;
}

struct maint_gc_uploads {
	const struct mr_maint_report *r;
	int dry_run;
};

/* As for orphans: a dry run names what it would remove. */
static void
maint_gc_upload(const struct mr_blob_upload *u, const struct mr_err *failed,
    void *arg)
{
	const struct maint_gc_uploads *w = arg;

	if (failed != NULL)
		maint_event(w->r, MR_MAINT_FAILED, u->where, failed->msg);
	else if (w->dry_run)
		maint_event(w->r, MR_MAINT_UPLOAD, u->where, u->id);
}

/*
 * The uploads part of gc. A bucket that will not list them (a key
 * without that right) is reported and counted, and gc goes on: the
 * blobs are the larger part of its work.
 */
static void
maint_gc_uploads(struct mr_blob *blob, struct mr_maint_gc *g,
    const struct mr_maint_report *r)
{
	struct maint_gc_uploads w = { r, g->dry_run };
	struct mr_blob_uploads u;
	struct mr_err err;
	int rc;

	memset(&u, 0, sizeof(u));
	u.min_age_ms = g->upload_min_age_ms;
	u.dry_run = g->dry_run;
	u.fn = maint_gc_upload;
	u.arg = &w;
	rc = mr_blob_sweep_uploads(blob, &u, &err);
	if (rc < 0) {
		maint_event(r, MR_MAINT_FAILED, NULL, err.msg);
		g->errors++;
	}
	g->uploads_checked = rc != 0;
	g->uploads_aborted = u.aborted;
	g->uploads_young = u.young;
	g->uploads_foreign = u.foreign;
	g->errors += u.errors;
}

int
mr_maint_gc(const struct mr_config *cfg, struct mr_store *st,
    struct mr_blob *blob, struct mr_maint_gc *g,
    const struct mr_maint_report *r, struct mr_err *err)
{
	struct maint_gc_walk w = { st, blob, g, r, 0 };
	int64_t total;

	if (!g->dry_run && (g->swept = mr_blob_sweep(blob,
	    MR_BLOB_SWEEP_GRACE_MS, cfg->temp_file_max_age, err)) < 0)
		return -1;
	maint_gc_uploads(blob, g, r);
	if ((total = mr_blob_walk(blob, maint_count_file, NULL, err)) < 0)
		return -1;
	w.now_ms = (int64_t)time(NULL) * 1000;
	maint_start(r, total);
	if (mr_blob_walk(blob, maint_gc_file, &w, err) < 0)
		return -1;
	maint_end(r);
	return 0;
}

/* --- verify --- */

struct maint_verify_walk {
	struct mr_blob *blob;
	struct mr_maint_verify *v;
	const struct mr_maint_report *r;
};

/* The SHA-256 of a stored blob, streamed; -1 when it cannot be read. */
static int
maint_hash_blob(struct mr_blob *b, const char *name, char hex[MR_SHA256_HEX],
    int64_t *size, struct mr_err *err)
{
	unsigned char buf[65536], digest[crypto_hash_sha256_BYTES];
	crypto_hash_sha256_state h;
	struct mr_blob_reader *rd;
	int64_t total;
	ssize_t n;

	*size = 0;
	if (mr_blob_open(b, name, &rd, &total, err) < 0)
		return -1;
	crypto_hash_sha256_init(&h);
	while ((n = mr_blob_read_at(rd, buf, sizeof(buf), *size, err)) > 0) {
		crypto_hash_sha256_update(&h, buf, (size_t)n);
		*size += n;
	}
	mr_blob_reader_close(rd);
	if (n < 0)
		return -1;
	crypto_hash_sha256_final(&h, digest);
	mr_hex_encode(digest, sizeof(digest), hex);
	return 0;
}

static int
maint_verify_file(const struct mr_blob_entry *e, void *arg)
{
	struct maint_verify_walk *w = arg;
	char hex[MR_SHA256_HEX];
	struct mr_err err;
	int64_t size = 0;

	if (!e->valid) {
		maint_event(w->r, MR_MAINT_STRAY, e->where, NULL);
		w->v->stray++;
	} else if (maint_hash_blob(w->blob, e->name, hex, &size, &err) < 0) {
		maint_event(w->r, MR_MAINT_UNREADABLE, e->where, err.msg);
		w->v->unreadable++;
	} else if (strcmp(hex, e->name) != 0) {
		maint_event(w->r, MR_MAINT_CORRUPT, e->where, hex);
		w->v->corrupt++;
	} else {
		w->v->ok++;
	}
	maint_step(w->r, size);
	return 0;
}

static void
maint_verify_ref(const char *sha256, void *arg)
{
	struct maint_verify_walk *w = arg;
	struct mr_blob_loc loc;
	struct mr_err err;

	/* Missing: a 404 that still says where the blob would be. */
	loc.where[0] = '\0';
	if (mr_blob_locate(w->blob, sha256, &loc, &err) < 0 &&
	    err.status == 404 && loc.where[0] != '\0') {
		maint_event(w->r, MR_MAINT_MISSING, loc.where, NULL);
		w->v->missing++;
	}
}

int
mr_maint_verify(struct mr_store *st, struct mr_blob *blob,
    struct mr_maint_verify *v, const struct mr_maint_report *r,
    struct mr_err *err)
{
	struct maint_verify_walk w = { blob, v, r };
	int64_t total;

	if ((total = mr_blob_walk(blob, maint_count_file, NULL, err)) < 0)
		return -1;
	maint_start(r, total);
	if (mr_blob_walk(blob, maint_verify_file, &w, err) < 0)
		return -1;
	maint_end(r);
	return mr_store_blob_refs(st, maint_verify_ref, &w, err) < 0 ? -1 : 0;
}

/* --- import from Synapse --- */

struct maint_import_walk {
	const struct mr_config *cfg;
	struct mr_store *st;
	struct mr_blob *blob;
	const char *media_store;
	struct mr_maint_import *im;
	const struct mr_maint_report *r;
};

/* Streams one Synapse file into the blob store, hashing as it copies. */
static int
maint_import_bytes(struct mr_blob *blob, const char *path,
    char sha256[MR_SHA256_HEX], int64_t *size, struct mr_err *err)
{
	struct mr_blob_writer *w;
	unsigned char buf[65536];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return mr_err_set(err, 404, "M_NOT_FOUND", "cannot open '%s': %s",
		    path, strerror(errno));
	/* Synapse's limits were its own; what it holds is imported whole. */
	if (mr_blob_begin(blob, INT64_MAX / 2, &w, err) < 0) {
		close(fd);
		return -1;
	}
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			mr_err_set(err, 500, "M_UNKNOWN", "cannot read '%s': %s",
			    path, strerror(errno));
			goto fail;
		}
		if (mr_blob_write(w, buf, (size_t)n, err) < 0)
			goto fail;
	}
	close(fd);
	return mr_blob_commit(w, sha256, size, err);
fail:
	close(fd);
	mr_blob_abort(w);
	return -1;
}

/* One row: 0 imported, 1 already here, -1 failed (err says why). */
static int
maint_import_one(struct maint_import_walk *w,
    const struct mr_synapse_media *sm, int64_t *size, struct mr_err *err)
{
	char path[PATH_MAX * 2], sizes[128];
	struct mr_media m, old;

	*size = 0;
	memset(&m, 0, sizeof(m));
	/* Ids keep their mxc URIs only under the homeserver's own name. */
	if (sm->too_long || strlen(sm->media_id) < 5 ||
	    mr_mxc_from_parts(w->cfg->server_name, sm->media_id, &m.mxc,
	    err) < 0)
		return mr_err_set(err, 400, "M_INVALID_PARAM",
		    "media id or a field is not valid here");
	if (mr_store_media_get(w->st, &m.mxc, &old, err) == MR_STORE_OK)
		return 1;
	/* Synapse: local_content/ab/cd/efgh... for media id abcdefgh... */
	snprintf(path, sizeof(path), "%s/local_content/%.2s/%.2s/%s",
	    w->media_store, sm->media_id, sm->media_id + 2, sm->media_id + 4);
	if (maint_import_bytes(w->blob, path, m.sha256, &m.size, err) < 0)
		return -1;
	*size = m.size;
	if (sm->media_length != m.size) {
		snprintf(sizes, sizeof(sizes), "%lld bytes on disk, %lld in the "
		    "database (keeping the file's)", (long long)m.size,
		    (long long)sm->media_length);
		maint_event(w->r, MR_MAINT_SIZE_DIFFERS, sm->media_id, sizes);
	}
	snprintf(m.content_type, sizeof(m.content_type), "%s", sm->media_type);
	snprintf(m.upload_name, sizeof(m.upload_name), "%s", sm->upload_name);
	snprintf(m.user_id, sizeof(m.user_id), "%s", sm->user_id);
	m.created_ts = sm->created_ts;
	m.authenticated = sm->authenticated;
	/* Quarantined in Synapse, or bytes quarantined here: kept hidden. */
	m.quarantined = sm->quarantined;
	snprintf(m.quarantined_by, sizeof(m.quarantined_by), "%s",
	    sm->quarantined_by);
	if (mr_media_create(w->cfg, w->st, w->blob, MR_MEDIA_IMPORT, &m,
	    err) < 0)
		return -1;
	if (m.quarantined)
		w->im->quarantined++;
	return 0;
}

static int
maint_import_row(const struct mr_synapse_media *sm, int64_t i, int64_t total,
    void *arg)
{
	struct maint_import_walk *w = arg;
	struct mr_err err;
	int64_t size = 0;

	if (i == 0)
		maint_start(w->r, total);
	if (sm->media_length < 0) {
		w->im->pending++;		/* created, never uploaded */
	} else {
		switch (maint_import_one(w, sm, &size, &err)) {
		case 0:
			w->im->imported++;
			break;
		case 1:
			w->im->present++;
			break;
		default:
			maint_event(w->r, MR_MAINT_FAILED, sm->media_id, err.msg);
			w->im->failed++;
		}
	}
	maint_step(w->r, size);
	return 0;
}

int
mr_maint_import_synapse(const struct mr_config *cfg, struct mr_store *st,
    struct mr_blob *blob, const char *media_store, const char *db_path,
    struct mr_maint_import *im, const struct mr_maint_report *r,
    struct mr_err *err)
{
	struct maint_import_walk w = { cfg, st, blob, media_store, im, r };
	struct stat sb;

	if (stat(media_store, &sb) < 0 || !S_ISDIR(sb.st_mode))
		return mr_err_set(err, 400, "M_INVALID_PARAM",
		    "'%s' is not a directory", media_store);
	if (mr_synapse_import_media(db_path, maint_import_row, &w, err) < 0)
		return -1;
	maint_end(r);
	return 0;
}
