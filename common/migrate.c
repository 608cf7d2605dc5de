/*
 * migrate: copy a store and its blobs into another (see migrate.h).
 */
#include "migrate.h"

#include <stdio.h>
#include <string.h>

/* Bytes read and written per step of a blob copy. */
#define MIGRATE_CHUNK 65536

struct migrate_job {
	struct mr_store *from, *to;
	struct mr_blob *from_blob, *to_blob;
	struct mr_migrate *m;
	const struct mr_maint_report *r;
	int64_t count;		/* the counting pass */
};

static void
migrate_event(const struct migrate_job *j, enum mr_maint_event ev,
    const char *where, const char *detail)
{
	if (j->r->event != NULL)
		j->r->event(j->r->arg, ev, where, detail);
}

static void
migrate_step(const struct migrate_job *j, int64_t bytes)
{
	if (j->r->step != NULL)
		j->r->step(j->r->arg, bytes);
}

/* Streams one blob across; 0 copied, -1 reported and counted. */
static int
migrate_blob_copy(struct migrate_job *j, const char *sha256, int64_t *bytes)
{
	static unsigned char buf[MIGRATE_CHUNK];
	struct mr_blob_reader *rd = NULL;
	struct mr_blob_writer *w = NULL;
	char got[MR_SHA256_HEX];
	struct mr_err err;
	int64_t size, off = 0;
	ssize_t n;

	if (mr_blob_open(j->from_blob, sha256, &rd, &size, &err) < 0) {
		migrate_event(j, err.status == 404 ? MR_MAINT_MISSING :
		    MR_MAINT_UNREADABLE, sha256, err.msg);
		return -1;
	}
	if (mr_blob_begin(j->to_blob, size, &w, &err) < 0)
		goto fail;
	while ((n = mr_blob_read_at(rd, buf, sizeof(buf), off, &err)) > 0) {
		if (mr_blob_write(w, buf, (size_t)n, &err) < 0)
			goto fail;
		off += n;
	}
	if (n < 0)
		goto fail;
	mr_blob_reader_close(rd);
	rd = NULL;
	if (mr_blob_commit(w, got, bytes, &err) < 0) {
		w = NULL;
		goto fail;
	}
	/* The source's bytes are not what their name says: the copy stays
	 * under its own hash (gc takes it) and no row will name it. */
	if (strcmp(got, sha256) != 0) {
		migrate_event(j, MR_MAINT_CORRUPT, sha256, got);
		return -1;
	}
	return 0;
fail:
	migrate_event(j, MR_MAINT_FAILED, sha256, err.msg);
	mr_blob_abort(w);
	mr_blob_reader_close(rd);
	return -1;
}

static void
migrate_count_blob(const char *sha256, void *arg)
{
	(void)sha256;
	((struct migrate_job *)arg)->count++;
}

static void
migrate_blob(const char *sha256, void *arg)
{
	struct migrate_job *j = arg;
	struct mr_err err;
	int64_t size = 0;

	if (mr_blob_stat(j->to_blob, sha256, &size, &err) == 0) {
		j->m->blobs.present++;
		migrate_step(j, 0);
		return;
	}
	if (migrate_blob_copy(j, sha256, &size) < 0) {
		j->m->errors++;
		migrate_step(j, 0);
		return;
	}
	j->m->blobs.copied++;
	j->m->bytes += size;
	migrate_step(j, size);
}

/* Counts one row's outcome: OK copied, CONFLICT present, else failed. */
static void
migrate_row_done(struct migrate_job *j, struct mr_migrate_count *c,
    enum mr_store_rc rc, const char *where, const struct mr_err *err)
{
	if (rc == MR_STORE_OK)
		c->copied++;
	else if (rc == MR_STORE_CONFLICT)
		c->present++;
	else {
		j->m->errors++;
		migrate_event(j, MR_MAINT_FAILED, where, err->msg);
	}
	migrate_step(j, 0);
}

static void
migrate_media(const struct mr_media *m, void *arg)
{
	struct migrate_job *j = arg;
	char where[MR_SERVER_NAME_MAX + MR_MEDIA_ID_MAX + 8];
	struct mr_err err;

	snprintf(where, sizeof(where), "mxc://%s/%s", m->mxc.server, m->mxc.id);
	migrate_row_done(j, &j->m->media, mr_store_media_insert(j->to, m, &err),
	    where, &err);
}

static void
migrate_thumb(const struct mr_thumb_row *t, void *arg)
{
	struct migrate_job *j = arg;
	char where[MR_SERVER_NAME_MAX + MR_MEDIA_ID_MAX + 48];
	struct mr_thumb_row have;
	enum mr_store_rc rc;
	struct mr_err err;

	snprintf(where, sizeof(where), "mxc://%s/%s %ux%u", t->mxc.server,
	    t->mxc.id, t->width, t->height);
	rc = mr_store_thumb_get(j->to, &t->mxc, t->width, t->height, t->crop,
	    t->animated, &have, &err);
	if (rc == MR_STORE_OK)
		rc = MR_STORE_CONFLICT;
	else if (rc == MR_STORE_NOT_FOUND)
		rc = mr_store_thumb_put(j->to, t, &err);
	migrate_row_done(j, &j->m->thumbnails, rc, where, &err);
}

static void
migrate_token(const struct mr_token_info *t, void *arg)
{
	struct migrate_job *j = arg;
	struct mr_err err;

	migrate_row_done(j, &j->m->tokens, mr_store_token_import(j->to, t, &err),
	    t->user_id, &err);
}

static void
migrate_hash(const char *sha256, int64_t created_ts, void *arg)
{
	struct migrate_job *j = arg;
	struct mr_err err;

	migrate_row_done(j, &j->m->hashes, mr_store_quarantined_hash_add(j->to,
	    sha256, created_ts, &err), sha256, &err);
}

static void
migrate_count_media(const struct mr_media *m, void *arg)
{
	(void)m;
	((struct migrate_job *)arg)->count++;
}

static void
migrate_count_thumb(const struct mr_thumb_row *t, void *arg)
{
	(void)t;
	((struct migrate_job *)arg)->count++;
}

static void
migrate_count_token(const struct mr_token_info *t, void *arg)
{
	(void)t;
	((struct migrate_job *)arg)->count++;
}

static void
migrate_count_hash(const char *sha256, int64_t created_ts, void *arg)
{
	(void)sha256;
	(void)created_ts;
	((struct migrate_job *)arg)->count++;
}

/* The rows of every table, counted first so progress has a total. */
static int
migrate_rows(struct migrate_job *j, struct mr_err *err)
{
	j->count = 0;
	if (mr_store_media_each(j->from, migrate_count_media, j, err) < 0 ||
	    mr_store_thumb_each(j->from, migrate_count_thumb, j, err) < 0 ||
	    mr_store_token_list(j->from, migrate_count_token, j, err) < 0 ||
	    mr_store_quarantined_hash_each(j->from, migrate_count_hash, j,
	    err) < 0)
		return -1;
	if (j->r->start != NULL)
		j->r->start(j->r->arg, j->count);
	if (mr_store_media_each(j->from, migrate_media, j, err) < 0 ||
	    mr_store_thumb_each(j->from, migrate_thumb, j, err) < 0 ||
	    mr_store_token_list(j->from, migrate_token, j, err) < 0 ||
	    mr_store_quarantined_hash_each(j->from, migrate_hash, j, err) < 0)
		return -1;
	if (j->r->end != NULL)
		j->r->end(j->r->arg);
	return 0;
}

int
mr_migrate_store(struct mr_store *from, struct mr_blob *from_blob,
    struct mr_store *to, struct mr_blob *to_blob, struct mr_migrate *m,
    const struct mr_maint_report *r, struct mr_err *err)
{
	struct migrate_job j = { from, to, from_blob, to_blob, m, r, 0 };

	memset(m, 0, sizeof(*m));
	if (mr_store_blob_refs(from, migrate_count_blob, &j, err) < 0)
		return -1;
	if (r->start != NULL)
		r->start(r->arg, j.count);
	if (mr_store_blob_refs(from, migrate_blob, &j, err) < 0)
		return -1;
	if (r->end != NULL)
		r->end(r->arg);
	return migrate_rows(&j, err);
}
