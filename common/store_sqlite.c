/*
 * store_sqlite: the embedded store backend, metadata in one SQLite file
 * (see store.h for what each call answers). The database is opened,
 * migrated (sql/sqlite/NNN_*.sql, PRAGMA user_version) and its statements
 * prepared once, then reused by every request. WAL mode and a busy timeout
 * let many processes share the file; BEGIN IMMEDIATE takes the write lock
 * up front, so read-decide-write steps of two processes never interleave.
 */
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "migrations.h"	/* generated from sql/sqlite/ by the Makefile */

enum store_stmt {
	ST_MEDIA_GET,
	ST_MEDIA_INSERT,
	ST_MEDIA_COUNT_PENDING,
	ST_MEDIA_COMPLETE,
	ST_TOKEN_ADD,
	ST_TOKEN_LOOKUP,
	ST_TOKEN_REVOKE,
	ST_TOKEN_LIST,
	ST_THUMB_GET,
	ST_THUMB_PUT,
	ST_THUMB_COUNT_DYNAMIC,
	ST_KEY_GET,
	ST_KEY_PUT,
	ST_KEY_FETCH_GET,
	ST_KEY_FETCH_PUT,
	ST_WK_GET,
	ST_WK_PUT,
	ST_RF_GET,
	ST_RF_PUT,
	ST_RF_DELETE,
	ST_PV_GET,
	ST_PV_PUT,
	ST_HS_AUTH_GET,
	ST_HS_AUTH_PUT,
	ST_HS_AUTH_EXPIRE,
	ST_QH_CHECK,
	ST_BUCKET_GET,
	ST_BUCKET_PUT,
	ST_USER_BYTES,
	ST_ORIGIN_GET,
	ST_ORIGIN_PUT,
	ST_ORIGIN_DELETE,
	ST__MAX
};

static const char *const store_sql[ST__MAX] = {
	[ST_MEDIA_GET] =
	    "SELECT sha256, size, content_type, upload_name, user_id, "
	    "created_ts, expires_ts, quarantined, authenticated, "
	    "last_access_ts, quarantined_by, safe_from_quarantine FROM media "
	    "WHERE server_name = ?1 AND media_id = ?2",
	[ST_MEDIA_INSERT] =
	    "INSERT INTO media (server_name, media_id, sha256, size, "
	    "content_type, upload_name, user_id, created_ts, expires_ts, "
	    "authenticated, quarantined, last_access_ts, quarantined_by, "
	    "safe_from_quarantine) "
	    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, "
	    "?14)",
	[ST_MEDIA_COUNT_PENDING] =
	    "SELECT count(*), min(expires_ts) FROM media "
	    "WHERE user_id = ?1 AND sha256 IS NULL AND expires_ts > ?2",
	[ST_MEDIA_COMPLETE] =
	    "UPDATE media SET sha256 = ?3, size = ?4, content_type = ?5, "
	    "upload_name = ?6, expires_ts = NULL "
	    "WHERE server_name = ?1 AND media_id = ?2 AND sha256 IS NULL",
	[ST_TOKEN_ADD] =
	    "INSERT INTO access_tokens (token_hash, user_id, is_guest, "
	    "created_ts) VALUES (?1, ?2, ?3, ?4)",
	[ST_TOKEN_LOOKUP] =
	    "SELECT user_id, is_guest, created_ts FROM access_tokens "
	    "WHERE token_hash = ?1",
	[ST_TOKEN_REVOKE] =
	    "DELETE FROM access_tokens WHERE token_hash = ?1",
	[ST_TOKEN_LIST] =
	    "SELECT token_hash, user_id, is_guest, created_ts "
	    "FROM access_tokens ORDER BY created_ts, token_hash",
	[ST_THUMB_GET] =
	    "SELECT sha256, size, content_type, actual_width, actual_height, "
	    "dynamic FROM thumbnails WHERE server_name = ?1 AND media_id = ?2 "
	    "AND width = ?3 AND height = ?4 AND method = ?5 AND animated = ?6",
	[ST_THUMB_PUT] =
	    "INSERT OR REPLACE INTO thumbnails (server_name, media_id, width, "
	    "height, method, animated, sha256, size, content_type, "
	    "actual_width, actual_height, dynamic, created_ts) "
	    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
	[ST_THUMB_COUNT_DYNAMIC] =
	    "SELECT count(*) FROM thumbnails WHERE server_name = ?1 "
	    "AND media_id = ?2 AND dynamic = 1",
	[ST_KEY_GET] =
	    "SELECT public_key FROM server_keys WHERE server_name = ?1 "
	    "AND key_id = ?2 AND expires_ts > ?3",
	[ST_KEY_PUT] =
	    "INSERT OR REPLACE INTO server_keys (server_name, key_id, "
	    "public_key, expires_ts) VALUES (?1, ?2, ?3, ?4)",
	[ST_KEY_FETCH_GET] =
	    "SELECT last_fetch_ts FROM server_key_fetches WHERE server_name = ?1",
	[ST_KEY_FETCH_PUT] =
	    "INSERT OR REPLACE INTO server_key_fetches (server_name, "
	    "last_fetch_ts) VALUES (?1, ?2)",
	[ST_WK_GET] =
	    "SELECT delegated FROM well_known_cache WHERE server_name = ?1 "
	    "AND expires_ts > ?2",
	[ST_WK_PUT] =
	    "INSERT OR REPLACE INTO well_known_cache (server_name, delegated, "
	    "expires_ts) VALUES (?1, ?2, ?3)",
	[ST_RF_GET] =
	    "SELECT state, until_ts, status, errcode, error FROM remote_fetches "
	    "WHERE server_name = ?1 AND media_id = ?2",
	[ST_RF_PUT] =
	    "INSERT OR REPLACE INTO remote_fetches (server_name, media_id, "
	    "state, until_ts, status, errcode, error) "
	    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[ST_RF_DELETE] =
	    "DELETE FROM remote_fetches WHERE server_name = ?1 AND media_id = ?2",
	[ST_PV_GET] =
	    "SELECT state, until_ts, status, errcode, body FROM preview_cache "
	    "WHERE cache_key = ?1",
	[ST_PV_PUT] =
	    "INSERT OR REPLACE INTO preview_cache (cache_key, state, until_ts, "
	    "status, errcode, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[ST_HS_AUTH_GET] =
	    "SELECT user_id, is_guest, errcode, soft_logout "
	    "FROM homeserver_auth_cache WHERE token_hash = ?1 AND expires_ts > ?2",
	[ST_HS_AUTH_PUT] =
	    "INSERT OR REPLACE INTO homeserver_auth_cache (token_hash, user_id, "
	    "is_guest, errcode, soft_logout, expires_ts) "
	    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[ST_HS_AUTH_EXPIRE] =
	    "DELETE FROM homeserver_auth_cache WHERE expires_ts <= ?1",
	/* Every upload asks, so this one is prepared at open. */
	[ST_QH_CHECK] =
	    "SELECT 1 FROM quarantined_hashes WHERE sha256 = ?1",
	[ST_BUCKET_GET] =
	    "SELECT level, updated_ms FROM rate_buckets WHERE bucket_key = ?1",
	[ST_BUCKET_PUT] =
	    "INSERT OR REPLACE INTO rate_buckets (bucket_key, level, updated_ms) "
	    "VALUES (?1, ?2, ?3)",
	/* Pending ids (no bytes yet) count nothing; remote rows have no user. */
	[ST_USER_BYTES] =
	    "SELECT coalesce(sum(size), 0) FROM media WHERE user_id = ?1 "
	    "AND created_ts > ?2 AND sha256 IS NOT NULL",
	[ST_ORIGIN_GET] =
	    "SELECT failures, down_until_ts FROM origin_health "
	    "WHERE server_name = ?1",
	[ST_ORIGIN_PUT] =
	    "INSERT OR REPLACE INTO origin_health (server_name, failures, "
	    "down_until_ts) VALUES (?1, ?2, ?3)",
	[ST_ORIGIN_DELETE] =
	    "DELETE FROM origin_health WHERE server_name = ?1",
};

struct sqlite_store {
	sqlite3 *db;
	sqlite3_stmt *stmt[ST__MAX];
};

static int
store_fail(struct sqlite_store *st, struct mr_err *err, const char *what)
{
	if (sqlite3_errcode(st->db) == SQLITE_FULL)
		return mr_err_storage_full(err);
	return mr_err_set(err, 500, "M_UNKNOWN", "database error in %s: %s",
	    what, sqlite3_errmsg(st->db));
}

/*
 * Write transactions are IMMEDIATE: the write lock is taken at BEGIN, so
 * two processes never both read, decide and then write.
 */
static int
store_begin(struct sqlite_store *st, struct mr_err *err, const char *what)
{
	if (sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return store_fail(st, err, what);
	return 0;
}

static void
store_rollback(struct sqlite_store *st)
{
	sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
}

/* Commits, or rolls back and fails when the commit does not go through. */
static int
store_commit(struct sqlite_store *st, struct mr_err *err, const char *what)
{
	if (sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
		return 0;
	store_fail(st, err, what);
	store_rollback(st);
	return -1;
}

/* Resets and clears a cached statement so it can be bound afresh. */
static sqlite3_stmt *
store_stmt(struct sqlite_store *st, enum store_stmt which)
{
	sqlite3_stmt *s = st->stmt[which];

	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return s;
}

static void
store_bind_text_or_null(sqlite3_stmt *s, int idx, const char *v)
{
	if (v == NULL || v[0] == '\0')
		sqlite3_bind_null(s, idx);
	else
		sqlite3_bind_text(s, idx, v, -1, SQLITE_STATIC);
}

static void
store_copy_col(sqlite3_stmt *s, int col, char *dst, size_t dstsz)
{
	const unsigned char *v = sqlite3_column_text(s, col);

	snprintf(dst, dstsz, "%s", v ? (const char *)v : "");
}

/*
 * Applies the migrations the database has not seen, in one IMMEDIATE
 * transaction so that processes starting together do not race.
 * PRAGMA user_version counts the sql/sqlite/NNN_*.sql files applied, in name
 * order: a new migration is always the next number, never inserted.
 */
static int
store_migrate(struct sqlite_store *st, struct mr_err *err)
{
	sqlite3_stmt *s;
	int version = 0;
	char sql[64];

	if (store_begin(st, err, "migration") < 0)
		return -1;
	if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL) !=
	    SQLITE_OK)
		goto fail;
	if (sqlite3_step(s) == SQLITE_ROW)
		version = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	if (version > MR_MIGRATIONS_COUNT) {
		store_rollback(st);
		return mr_err_set(err, 500, "M_UNKNOWN",
		    "database schema %d is newer than this program (%d)",
		    version, MR_MIGRATIONS_COUNT);
	}
	for (int i = version; i < MR_MIGRATIONS_COUNT; i++)
		if (sqlite3_exec(st->db, mr_migrations[i], NULL, NULL, NULL) !=
		    SQLITE_OK)
			goto fail;
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d",
	    MR_MIGRATIONS_COUNT);
	if (sqlite3_exec(st->db, sql, NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	return 0;
fail:
	store_fail(st, err, "migration");
	store_rollback(st);
	return -1;
}

static void
sqlite_close(void *impl)
{
	struct sqlite_store *st = impl;

	if (st == NULL)
		return;
	for (int i = 0; i < ST__MAX; i++)
		sqlite3_finalize(st->stmt[i]);
	sqlite3_close(st->db);
	free(st);
}

static int
sqlite_open(const char *path, void **out, struct mr_err *err)
{
	struct sqlite_store *st = calloc(1, sizeof(*st));

	if (st == NULL)
		return mr_err_set(err, 500, "M_UNKNOWN", "out of memory");
	if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		mr_err_set(err, 500, "M_UNKNOWN", "cannot open database '%s': %s",
		    path, st->db ? sqlite3_errmsg(st->db) : "out of memory");
		sqlite_close(st);
		return -1;
	}
	/* Writers wait rather than fail while another process commits. */
	sqlite3_busy_timeout(st->db, 10000);
	if (sqlite3_exec(st->db, "PRAGMA journal_mode = WAL; "
	    "PRAGMA synchronous = NORMAL", NULL, NULL, NULL) != SQLITE_OK) {
		store_fail(st, err, "open");
		sqlite_close(st);
		return -1;
	}
	if (store_migrate(st, err) < 0) {
		sqlite_close(st);
		return -1;
	}
	for (int i = 0; i < ST__MAX; i++) {
		if (sqlite3_prepare_v3(st->db, store_sql[i], -1,
		    SQLITE_PREPARE_PERSISTENT, &st->stmt[i], NULL) != SQLITE_OK) {
			store_fail(st, err, "prepare");
			sqlite_close(st);
			return -1;
		}
	}
	*out = st;
	return 0;
}

static enum mr_store_rc
sqlite_media_get(void *impl, const struct mr_mxc *mxc,
    struct mr_media *out, struct mr_err *err)
{
	struct sqlite_store *st = impl;
	sqlite3_stmt *s = store_stmt(st, ST_MEDIA_GET);
	int rc;

	sqlite3_bind_text(s, 1, mxc->server, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, mxc->id, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		sqlite3_reset(s);
		return MR_STORE_NOT_FOUND;
	}
	if (rc != SQLITE_ROW) {
		store_fail(st, err, "media lookup");
		sqlite3_reset(s);
		return -1;
	}
	memset(out, 0, sizeof(*out));
	out->mxc = *mxc;
	store_copy_col(s, 0, out->sha256, sizeof(out->sha256));
	out->size = sqlite3_column_int64(s, 1);
	store_copy_col(s, 2, out->content_type, sizeof(out->content_type));
	store_copy_col(s, 3, out->upload_name, sizeof(out->upload_name));
	store_copy_col(s, 4, out->user_id, sizeof(out->user_id));
	out->created_ts = sqlite3_column_int64(s, 5);
	out->expires_ts = sqlite3_column_int64(s, 6);
	out->quarantined = sqlite3_column_int(s, 7);
	out->authenticated = sqlite3_column_int(s, 8);
	out->last_access_ts = sqlite3_column_int64(s, 9);
	store_copy_col(s, 10, out->quarantined_by, sizeof(out->quarantined_by));
	out->safe_from_quarantine = sqlite3_column_int(s, 11);
	sqlite3_reset(s);
	return 0;
}

static void
store_bind_media(sqlite3_stmt *s, const struct mr_media *m)
{
	sqlite3_bind_text(s, 1, m->mxc.server, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, m->mxc.id, -1, SQLITE_STATIC);
	store_bind_text_or_null(s, 3, m->sha256);
	sqlite3_bind_int64(s, 4, m->size);
	store_bind_text_or_null(s, 5, m->content_type);
	store_bind_text_or_null(s, 6, m->upload_name);
}

static enum mr_store_rc
sqlite_media_insert(void *impl, const struct mr_media *m,
    struct mr_err *err)
{
	struct sqlite_store *st = impl;
	sqlite3_stmt *s = store_stmt(st, ST_MEDIA_INSERT);
	int rc;

	store_bind_media(s, m);
	store_bind_text_or_null(s, 7, m->user_id);
	sqlite3_bind_int64(s, 8, m->created_ts);
	if (m->expires_ts > 0)
		sqlite3_bind_int64(s, 9, m->expires_ts);
	sqlite3_bind_int(s, 10, m->authenticated ? 1 : 0);
	sqlite3_bind_int(s, 11, m->quarantined ? 1 : 0);
	if (m->last_access_ts > 0)
		sqlite3_bind_int64(s, 12, m->last_access_ts);
	store_bind_text_or_null(s, 13, m->quarantined_by);
	sqlite3_bind_int(s, 14, m->safe_from_quarantine ? 1 : 0);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc == SQLITE_CONSTRAINT)
		return MR_STORE_CONFLICT;
	if (rc != SQLITE_DONE)
		return store_fail(st, err, "media insert");
	return 0;
}

static enum mr_store_rc
sqlite_media_create_pending(void *impl, const struct mr_media *m,
    int64_t max_pending, int64_t now_ms, int64_t *retry_after_ms,
    struct mr_err *err)
{
	struct sqlite_store *st = impl;
	sqlite3_stmt *s;
	int64_t count, oldest;
	enum mr_store_rc rc = MR_STORE_UNAVAILABLE;

	/* Count and insert in one write transaction so two creates cannot
	 * both slip under the cap. */
	if (store_begin(st, err, "create") < 0)
		return -1;
	s = store_stmt(st, ST_MEDIA_COUNT_PENDING);
	sqlite3_bind_text(s, 1, m->user_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, now_ms);
	if (sqlite3_step(s) != SQLITE_ROW) {
		store_fail(st, err, "create");
		sqlite3_reset(s);
		goto rollback;
	}
	count = sqlite3_column_int64(s, 0);
	oldest = sqlite3_column_int64(s, 1);
	sqlite3_reset(s);
	if (count >= max_pending) {
		*retry_after_ms = oldest > now_ms ? oldest - now_ms : 1000;
		rc = MR_STORE_BUSY;
		goto rollback;
	}
	if ((rc = sqlite_media_insert(st, m, err)) != MR_STORE_OK)
		goto rollback;
	return store_commit(st, err, "create");
rollback:
	store_rollback(st);
	return rc;
}

static enum mr_store_rc
sqlite_media_complete(void *impl, const struct mr_media *m,
    struct mr_err *err)
{
	struct sqlite_store *st = impl;
	sqlite3_stmt *s = store_stmt(st, ST_MEDIA_COMPLETE);
	int rc;

	store_bind_media(s, m);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return store_fail(st, err, "media complete");
	if (sqlite3_changes(st->db) == 0)
		return MR_STORE_CONFLICT;
	return 0;
}

static enum mr_store_rc
sqlite_token_add(void *impl, const char *token_hash,
    const char *user_id, int is_guest, struct mr_err *err)
{
	struct sqlite_store *st = impl;
	sqlite3_stmt *s = store_stmt(st, ST_TOKEN_ADD);
	int rc;

	sqlite3_bind_text(s, 1, token_hash, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, user_id, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 3, is_guest ? 1 : 0);
	sqlite3_bind_int64(s, 4, mr_now_ms());
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : store_fail(st, err, "token insert");
}

static enum mr_store_rc
sqlite_token_lookup(void *impl, const char *token_hash,
    struct mr_token_info *out, struct mr_err *err)
{
	struct sqlite_store *st = impl;
	sqlite3_stmt *s = store_stmt(st, ST_TOKEN_LOOKUP);
	int rc;

	sqlite3_bind_text(s, 1, token_hash, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		store_copy_col(s, 0, out->user_id, sizeof(out->user_id));
		out->is_guest = sqlite3_column_int(s, 1);
		out->created_ts = sqlite3_column_int64(s, 2);
		snprintf(out->token_hash, sizeof(out->token_hash), "%s",
		    token_hash);
		sqlite3_reset(s);
		return 0;
	}
	sqlite3_reset(s);
	if (rc == SQLITE_DONE)
		return MR_STORE_NOT_FOUND;
	return store_fail(st, err, "token lookup");
}

static enum mr_store_rc
sqlite_token_revoke(void *impl, const char *token_hash,
    struct mr_err *err)
{
	struct sqlite_store *st = impl;
	sqlite3_stmt *s = store_stmt(st, ST_TOKEN_REVOKE);
	int rc;

	sqlite3_bind_text(s, 1, token_hash, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return store_fail(st, err, "token revoke");
	if (sqlite3_changes(st->db) == 0)
		return MR_STORE_NOT_FOUND;
	return 0;
}

static enum mr_store_rc
sqlite_token_list(void *impl,
    void (*fn)(const struct mr_token_info *, void *), void *arg,
    struct mr_err *err)
{
	struct sqlite_store *st = impl;
	sqlite3_stmt *s = store_stmt(st, ST_TOKEN_LIST);
	struct mr_token_info t;
	int rc;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		store_copy_col(s, 0, t.token_hash, sizeof(t.token_hash));
		store_copy_col(s, 1, t.user_id, sizeof(t.user_id));
		t.is_guest = sqlite3_column_int(s, 2);
		t.created_ts = sqlite3_column_int64(s, 3);
		fn(&t, arg);
	}
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : store_fail(st, err, "token list");
}

static void
store_bind_box(sqlite3_stmt *s, const struct mr_mxc *mxc, uint32_t width,
    uint32_t height, int crop, int animated)
{
	sqlite3_bind_text(s, 1, mxc->server, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, mxc->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, width);
	sqlite3_bind_int64(s, 4, height);
	sqlite3_bind_text(s, 5, crop ? "crop" : "scale", -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 6, animated ? 1 : 0);
}

static enum mr_store_rc
sqlite_thumb_get(void *impl, const struct mr_mxc *mxc,
    uint32_t width, uint32_t height, int crop, int animated,
    struct mr_thumb_row *out, struct mr_err *err)
{
	struct sqlite_store *st = impl;
	sqlite3_stmt *s = store_stmt(st, ST_THUMB_GET);
	int rc;

	store_bind_box(s, mxc, width, height, crop, animated);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		memset(out, 0, sizeof(*out));
		out->mxc = *mxc;
		out->width = width;
		out->height = height;
		out->crop = crop;
		out->animated = animated;
		store_copy_col(s, 0, out->sha256, sizeof(out->sha256));
		out->size = sqlite3_column_int64(s, 1);
		store_copy_col(s, 2, out->content_type,
		    sizeof(out->content_type));
		out->actual_width = (uint32_t)sqlite3_column_int64(s, 3);
		out->actual_height = (uint32_t)sqlite3_column_int64(s, 4);
		out->dynamic = sqlite3_column_int(s, 5);
		sqlite3_reset(s);
		return 0;
	}
	sqlite3_reset(s);
	if (rc == SQLITE_DONE)
		return MR_STORE_NOT_FOUND;
	return store_fail(st, err, "thumbnail lookup");
}

static enum mr_store_rc
sqlite_thumb_put(void *impl, const struct mr_thumb_row *t,
    struct mr_err *err)
{
	struct sqlite_store *st = impl;
	sqlite3_stmt *s = store_stmt(st, ST_THUMB_PUT);
	int rc;

	store_bind_box(s, &t->mxc, t->width, t->height, t->crop, t->animated);
	sqlite3_bind_text(s, 7, t->sha256, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 8, t->size);
	sqlite3_bind_text(s, 9, t->content_type, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 10, t->actual_width);
	sqlite3_bind_int64(s, 11, t->actual_height);
	sqlite3_bind_int(s, 12, t->dynamic ? 1 : 0);
	sqlite3_bind_int64(s, 13, mr_now_ms());
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : store_fail(st, err, "thumbnail insert");
}

static enum mr_store_rc
sqlite_thumb_put_capped(void *impl, const struct mr_thumb_row *t,
    int64_t cap, struct mr_err *err)
{
	struct sqlite_store *st = impl;
	enum mr_store_rc result = MR_STORE_UNAVAILABLE;
	sqlite3_stmt *s;
	int64_t count;
	int rc;

	if (store_begin(st, err, "thumbnail insert") < 0)
		return -1;
	s = store_stmt(st, ST_THUMB_COUNT_DYNAMIC);
	sqlite3_bind_text(s, 1, t->mxc.server, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, t->mxc.id, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	count = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
	sqlite3_reset(s);
	if (rc != SQLITE_ROW)
		store_fail(st, err, "thumbnail count");
	else if (count >= cap)
		result = MR_STORE_BUSY;
	else if (sqlite_thumb_put(st, t, err) == 0)
		return store_commit(st, err, "thumbnail insert");
	store_rollback(st);
	return result;
}

/* --- federation --- */

static enum mr_store_rc
sqlite_server_key_get(void *impl, const char *server,
    const char *key_id, int64_t now_ms, char public_key[64],
    struct mr_err *err)
{
	struct sqlite_store *st = impl;
	sqlite3_stmt *s = store_stmt(st, ST_KEY_GET);
	int rc;

	sqlite3_bind_text(s, 1, server, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, key_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, now_ms);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		store_copy_col(s, 0, public_key, 64);
	sqlite3_reset(s);
	if (rc == SQLITE_ROW)
		return 0;
	if (rc == SQLITE_DONE)
		return MR_STORE_NOT_FOUND;
	return store_fail(st, err, "server key lookup");
}

static enum mr_store_rc
sqlite_server_key_put(void *impl, const char *server,
    const char *key_id, const char *public_key, int64_t expires_ts,
    struct mr_err *err)
{
	struct sqlite_store *st = impl;
	sqlite3_stmt *s = store_stmt(st, ST_KEY_PUT);
	int rc;

	sqlite3_bind_text(s, 1, server, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, key_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, public_key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, expires_ts);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : store_fail(st, err, "server key insert");
}

static enum mr_store_rc
sqlite_server_key_claim_fetch(void *impl, const char *server,
    int64_t now_ms, int64_t min_interval_ms, struct mr_err *err)
{
	struct sqlite_store *st = impl;
	sqlite3_stmt *s;
	int64_t last = 0;
	int rc;

	if (store_begin(st, err, "key fetch claim") < 0)
		return -1;
	s = store_stmt(st, ST_KEY_FETCH_GET);
	sqlite3_bind_text(s, 1, server, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW)
		last = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	if (last > 0 && now_ms - last < min_interval_ms) {
		store_rollback(st);
		return MR_STORE_BUSY;
	}
	s = store_stmt(st, ST_KEY_FETCH_PUT);
	sqlite3_bind_text(s, 1, server, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, now_ms);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE ||
	    sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		store_fail(st, err, "key fetch claim");
		store_rollback(st);
		return -1;
	}
	return 0;
}

static enum mr_store_rc
sqlite_well_known_get(void *impl, const char *server,
    int64_t now_ms, char delegated[MR_SERVER_NAME_MAX + 1],
    struct mr_err *err)
{
	struct sqlite_store *st = impl;
	sqlite3_stmt *s = store_stmt(st, ST_WK_GET);
	int rc;

	sqlite3_bind_text(s, 1, server, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, now_ms);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		store_copy_col(s, 0, delegated, MR_SERVER_NAME_MAX + 1);
	sqlite3_reset(s);
	if (rc == SQLITE_ROW)
		return MR_STORE_OK;
	return rc == SQLITE_DONE ? MR_STORE_NOT_FOUND :
	    store_fail(st, err, "well-known lookup");
}

static enum mr_store_rc
sqlite_well_known_put(void *impl, const char *server,
    const char *delegated, int64_t expires_ts, struct mr_err *err)
{
	struct sqlite_store *st = impl;
	sqlite3_stmt *s = store_stmt(st, ST_WK_PUT);
	int rc;

	sqlite3_bind_text(s, 1, server, -1, SQLITE_STATIC);
	store_bind_text_or_null(s, 2, delegated);
	sqlite3_bind_int64(s, 3, expires_ts);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : store_fail(st, err, "well-known insert");
}

/* --- leases --- */

/*
 * A lease is a row in its kind's table: 'fetching' until the lease
 * expires, then 'done' (a preview, with its body) or 'failed' (with the
 * failure) until the outcome goes stale. Both tables have the same
 * columns after the key; a remote media's key "server/id" is split at its
 * first '/', which a server name cannot hold. Thumbnail leases live in
 * preview_cache beside the previews, under a prefix no preview key has
 * (those begin with a digit): they are short and need no table, or
 * migration, of their own.
 */
static int
lease_bind_key(sqlite3_stmt *s, enum mr_store_lease_kind kind,
    const char *key)
{
	const char *slash;

	if (kind == MR_STORE_LEASE_THUMBNAIL) {
		/* NULL when out of memory: the statement then fails. */
		sqlite3_bind_text(s, 1, sqlite3_mprintf("thumbnail\n%s", key),
		    -1, sqlite3_free);
		return 1;
	}
	if (kind != MR_STORE_LEASE_REMOTE_MEDIA) {
		sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
		return 1;
	}
	slash = strchr(key, '/');
	sqlite3_bind_text(s, 1, key, slash ? (int)(slash - key) : -1,
	    SQLITE_STATIC);
	sqlite3_bind_text(s, 2, slash ? slash + 1 : "", -1, SQLITE_STATIC);
	return 2;
}

static int
lease_put(struct sqlite_store *st, enum mr_store_lease_kind kind,
    const char *key, const char *state, int64_t until_ts,
    const struct mr_err *failure, const char *body)
{
	sqlite3_stmt *s = store_stmt(st, kind == MR_STORE_LEASE_REMOTE_MEDIA ?
	    ST_RF_PUT : ST_PV_PUT);
	int n = lease_bind_key(s, kind, key), rc;

	sqlite3_bind_text(s, n + 1, state, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, n + 2, until_ts);
	sqlite3_bind_int(s, n + 3, failure ? failure->status : 0);
	store_bind_text_or_null(s, n + 4, failure ? failure->errcode : NULL);
	store_bind_text_or_null(s, n + 5, failure ? failure->msg : body);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

static enum mr_store_rc
sqlite_lease_take(void *impl, enum mr_store_lease_kind kind, const char *key,
    int64_t now_ms, int64_t lease_ms, struct mr_store_outcome *done,
    struct mr_err *err)
{
	struct sqlite_store *st = impl;
	enum mr_store_rc rc = MR_STORE_OK;
	char state[16] = "", errcode[32] = "";
	sqlite3_stmt *s;

	memset(done, 0, sizeof(*done));
	if (store_begin(st, err, "lease") < 0)
		return MR_STORE_UNAVAILABLE;
	s = store_stmt(st, kind == MR_STORE_LEASE_REMOTE_MEDIA ? ST_RF_GET :
	    ST_PV_GET);
	lease_bind_key(s, kind, key);
	if (sqlite3_step(s) == SQLITE_ROW &&
	    sqlite3_column_int64(s, 1) > now_ms) {
		const unsigned char *text = sqlite3_column_text(s, 4);
		int status = sqlite3_column_int(s, 2);

		store_copy_col(s, 0, state, sizeof(state));
		store_copy_col(s, 3, errcode, sizeof(errcode));
		rc = MR_STORE_CONFLICT;
		if (strcmp(state, "failed") == 0)
			mr_err_set(&done->failure, status > 0 ? status : 502,
			    mr_store_errcode(errcode), "%s",
			    text ? (const char *)text : "");
		else if (strcmp(state, "done") == 0)
			done->body = strdup(text ? (const char *)text : "{}");
		else
			rc = MR_STORE_BUSY;
	}
	sqlite3_reset(s);
	if (rc == MR_STORE_CONFLICT && strcmp(state, "done") == 0 &&
	    done->body == NULL) {
		store_rollback(st);
		return mr_err_set(err, 500, "M_UNKNOWN", "out of memory");
	}
	if (rc != MR_STORE_OK) {
		store_rollback(st);
		return rc;
	}
	if (lease_put(st, kind, key, "fetching", now_ms + lease_ms, NULL,
	    NULL) < 0) {
		store_fail(st, err, "lease");
		store_rollback(st);
		return MR_STORE_UNAVAILABLE;
	}
	return store_commit(st, err, "lease");
}

static enum mr_store_rc
sqlite_lease_end(void *impl, enum mr_store_lease_kind kind, const char *key,
    const char *body, const struct mr_err *failure, int64_t until_ts,
    struct mr_err *err)
{
	struct sqlite_store *st = impl;
	sqlite3_stmt *s;
	int rc;

	if (until_ts > 0 && (failure != NULL || body != NULL)) {
		rc = lease_put(st, kind, key, failure ? "failed" : "done",
		    until_ts, failure, body);
	} else if (kind == MR_STORE_LEASE_REMOTE_MEDIA) {
		s = store_stmt(st, ST_RF_DELETE);
		lease_bind_key(s, kind, key);
		rc = sqlite3_step(s) == SQLITE_DONE ? 0 : -1;
		sqlite3_reset(s);
	} else {
		/* Expired at once: the next caller takes the lease. */
		rc = lease_put(st, kind, key, "fetching", 0, NULL, NULL);
	}
	return rc == 0 ? MR_STORE_OK : store_fail(st, err, "lease end");
}

/* --- auth = homeserver: the whoami cache --- */

static enum mr_store_rc
sqlite_hs_auth_get(void *impl, const char *token_hash,
    int64_t now_ms, struct mr_hs_auth *out, struct mr_err *err)
{
	struct sqlite_store *st = impl;
	sqlite3_stmt *s = store_stmt(st, ST_HS_AUTH_GET);
	int rc;

	sqlite3_bind_text(s, 1, token_hash, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, now_ms);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		memset(out, 0, sizeof(*out));
		store_copy_col(s, 0, out->user_id, sizeof(out->user_id));
		out->is_guest = sqlite3_column_int(s, 1);
		store_copy_col(s, 2, out->errcode, sizeof(out->errcode));
		out->soft_logout = sqlite3_column_int(s, 3);
	}
	sqlite3_reset(s);
	if (rc == SQLITE_ROW)
		return MR_STORE_OK;
	return rc == SQLITE_DONE ? MR_STORE_NOT_FOUND :
	    store_fail(st, err, "whoami cache lookup");
}

static enum mr_store_rc
sqlite_hs_auth_put(void *impl, const char *token_hash,
    const struct mr_hs_auth *a, int64_t now_ms, int64_t expires_ts,
    struct mr_err *err)
{
	struct sqlite_store *st = impl;
	sqlite3_stmt *s = store_stmt(st, ST_HS_AUTH_EXPIRE);
	int rc;

	/* Expired rows go on each write; writes only follow a whoami call. */
	sqlite3_bind_int64(s, 1, now_ms);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return store_fail(st, err, "whoami cache expiry");
	s = store_stmt(st, ST_HS_AUTH_PUT);
	sqlite3_bind_text(s, 1, token_hash, -1, SQLITE_STATIC);
	store_bind_text_or_null(s, 2, a->user_id);
	sqlite3_bind_int(s, 3, a->is_guest ? 1 : 0);
	store_bind_text_or_null(s, 4, a->errcode);
	sqlite3_bind_int(s, 5, a->soft_logout ? 1 : 0);
	sqlite3_bind_int64(s, 6, expires_ts);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : store_fail(st, err, "whoami cache insert");
}

/* --- operator tool --- */

/* An admin statement, prepared for one use; the caller finalizes it. */
static int
store_prepare(struct sqlite_store *st, const char *sql, sqlite3_stmt **s,
    struct mr_err *err)
{
	if (sqlite3_prepare_v2(st->db, sql, -1, s, NULL) != SQLITE_OK)
		return store_fail(st, err, "prepare");
	return 0;
}

/* Runs a statement that returns no rows; -1 with err on failure. */
static int
store_step_done(struct sqlite_store *st, sqlite3_stmt *s, const char *what,
    struct mr_err *err)
{
	int rc = sqlite3_step(s);

	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : store_fail(st, err, what);
}

#define STORE_MEDIA_COLS \
	"server_name, media_id, sha256, size, content_type, upload_name, " \
	"user_id, created_ts, expires_ts, quarantined, authenticated, " \
	"last_access_ts, quarantined_by, safe_from_quarantine"

static void
store_read_media(sqlite3_stmt *s, struct mr_media *m)
{
	memset(m, 0, sizeof(*m));
	store_copy_col(s, 0, m->mxc.server, sizeof(m->mxc.server));
	store_copy_col(s, 1, m->mxc.id, sizeof(m->mxc.id));
	store_copy_col(s, 2, m->sha256, sizeof(m->sha256));
	m->size = sqlite3_column_int64(s, 3);
	store_copy_col(s, 4, m->content_type, sizeof(m->content_type));
	store_copy_col(s, 5, m->upload_name, sizeof(m->upload_name));
	store_copy_col(s, 6, m->user_id, sizeof(m->user_id));
	m->created_ts = sqlite3_column_int64(s, 7);
	m->expires_ts = sqlite3_column_int64(s, 8);
	m->quarantined = sqlite3_column_int(s, 9);
	m->authenticated = sqlite3_column_int(s, 10);
	m->last_access_ts = sqlite3_column_int64(s, 11);
	store_copy_col(s, 12, m->quarantined_by, sizeof(m->quarantined_by));
	m->safe_from_quarantine = sqlite3_column_int(s, 13);
}

/* Steps s to its end, calling fn on each media row. */
static int
store_each_media(struct sqlite_store *st, sqlite3_stmt *s,
    void (*fn)(const struct mr_media *, void *), void *arg,
    struct mr_err *err)
{
	struct mr_media m;
	int rc;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		store_read_media(s, &m);
		fn(&m, arg);
	}
	if (rc != SQLITE_DONE)
		store_fail(st, err, "media list");
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

static enum mr_store_rc
sqlite_media_list_user(void *impl, const char *user_id,
    void (*fn)(const struct mr_media *, void *), void *arg,
    struct mr_err *err)
{
	struct sqlite_store *st = impl;
	sqlite3_stmt *s;

	if (store_prepare(st, "SELECT " STORE_MEDIA_COLS " FROM media "
	    "WHERE user_id = ?1 AND sha256 IS NOT NULL "
	    "ORDER BY created_ts, media_id", &s, err) < 0)
		return -1;
	sqlite3_bind_text(s, 1, user_id, -1, SQLITE_STATIC);
	return store_each_media(st, s, fn, arg, err);
}

static enum mr_store_rc
sqlite_media_list_remote(void *impl, const char *local_server,
    int64_t before_ts, void (*fn)(const struct mr_media *, void *),
    void *arg, struct mr_err *err)
{
	struct sqlite_store *st = impl;
	sqlite3_stmt *s;

	if (store_prepare(st, "SELECT " STORE_MEDIA_COLS " FROM media "
	    "WHERE server_name != ?1 AND created_ts < ?2 "
	    "ORDER BY created_ts", &s, err) < 0)
		return -1;
	sqlite3_bind_text(s, 1, local_server, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, before_ts);
	return store_each_media(st, s, fn, arg, err);
}

#define STORE_THUMB_COLS \
	"server_name, media_id, width, height, method, animated, sha256, " \
	"size, content_type, actual_width, actual_height, dynamic"

/* Steps s (STORE_THUMB_COLS) to its end, calling fn on each row. */
static int
store_each_thumb(struct sqlite_store *st, sqlite3_stmt *s,
    void (*fn)(const struct mr_thumb_row *, void *), void *arg,
    struct mr_err *err)
{
	struct mr_thumb_row t;
	int rc;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const unsigned char *method = sqlite3_column_text(s, 4);

		memset(&t, 0, sizeof(t));
		store_copy_col(s, 0, t.mxc.server, sizeof(t.mxc.server));
		store_copy_col(s, 1, t.mxc.id, sizeof(t.mxc.id));
		t.width = (uint32_t)sqlite3_column_int64(s, 2);
		t.height = (uint32_t)sqlite3_column_int64(s, 3);
		t.crop = method != NULL && strcmp((const char *)method,
		    "crop") == 0;
		t.animated = sqlite3_column_int(s, 5);
		store_copy_col(s, 6, t.sha256, sizeof(t.sha256));
		t.size = sqlite3_column_int64(s, 7);
		store_copy_col(s, 8, t.content_type, sizeof(t.content_type));
		t.actual_width = (uint32_t)sqlite3_column_int64(s, 9);
		t.actual_height = (uint32_t)sqlite3_column_int64(s, 10);
		t.dynamic = sqlite3_column_int(s, 11);
		fn(&t, arg);
	}
	if (rc != SQLITE_DONE)
		store_fail(st, err, "thumbnail list");
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

static enum mr_store_rc
sqlite_thumb_list(void *impl, const struct mr_mxc *mxc,
    void (*fn)(const struct mr_thumb_row *, void *), void *arg,
    struct mr_err *err)
{
	struct sqlite_store *st = impl;
	sqlite3_stmt *s;

	if (store_prepare(st, "SELECT " STORE_THUMB_COLS " FROM thumbnails "
	    "WHERE server_name = ?1 AND media_id = ?2 "
	    "ORDER BY width, height, method, animated", &s, err) < 0)
		return -1;
	sqlite3_bind_text(s, 1, mxc->server, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, mxc->id, -1, SQLITE_STATIC);
	return store_each_thumb(st, s, fn, arg, err);
}

/* Runs sql bound to mxc (?1 server, ?2 id); rows' first column go to fn. */
static int
store_mxc_exec(struct sqlite_store *st, const char *sql, const struct mr_mxc *mxc,
    void (*fn)(const char *, void *), void *arg, struct mr_err *err)
{
	sqlite3_stmt *s;
	int rc;

	if (store_prepare(st, sql, &s, err) < 0)
		return -1;
	sqlite3_bind_text(s, 1, mxc->server, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, mxc->id, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const unsigned char *v = sqlite3_column_text(s, 0);

		if (fn != NULL && v != NULL)
			fn((const char *)v, arg);
	}
	if (rc != SQLITE_DONE)
		store_fail(st, err, "media delete");
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

static enum mr_store_rc
sqlite_media_delete(void *impl, const struct mr_mxc *mxc,
    void (*fn)(const char *sha256, void *), void *arg, struct mr_err *err)
{
	struct sqlite_store *st = impl;
	static const char *const del[] = {
		"DELETE FROM thumbnails WHERE server_name = ?1 AND media_id = ?2",
		"DELETE FROM remote_fetches WHERE server_name = ?1 "
		"AND media_id = ?2",
		"DELETE FROM media WHERE server_name = ?1 AND media_id = ?2",
	};
	enum mr_store_rc rc = MR_STORE_UNAVAILABLE;
	struct mr_media m;

	if (store_begin(st, err, "media delete") < 0)
		return -1;
	if ((rc = sqlite_media_get(st, mxc, &m, err)) != MR_STORE_OK)
		goto rollback;
	rc = MR_STORE_UNAVAILABLE;
	/* The hashes are read inside the transaction that drops their rows,
	 * so none is missed by a thumbnail added meanwhile. */
	if (fn != NULL && m.sha256[0] != '\0')
		fn(m.sha256, arg);
	if (store_mxc_exec(st, "SELECT DISTINCT sha256 FROM thumbnails "
	    "WHERE server_name = ?1 AND media_id = ?2", mxc, fn, arg, err) < 0)
		goto rollback;
	for (size_t i = 0; i < sizeof(del) / sizeof(del[0]); i++)
		if (store_mxc_exec(st, del[i], mxc, NULL, NULL, err) < 0)
			goto rollback;
	return store_commit(st, err, "media delete");
rollback:
	store_rollback(st);
	return rc;
}

static enum mr_store_rc
sqlite_blob_referenced(void *impl, const char *sha256,
    struct mr_err *err)
{
	struct sqlite_store *st = impl;
	sqlite3_stmt *s;
	int rc;

	if (store_prepare(st, "SELECT EXISTS (SELECT 1 FROM media "
	    "WHERE sha256 = ?1) OR EXISTS (SELECT 1 FROM thumbnails "
	    "WHERE sha256 = ?1)", &s, err) < 0)
		return -1;
	sqlite3_bind_text(s, 1, sha256, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		rc = sqlite3_column_int(s, 0) ? MR_STORE_OK : MR_STORE_NOT_FOUND;
	else
		rc = store_fail(st, err, "blob reference");
	sqlite3_finalize(s);
	return rc;
}

static enum mr_store_rc
sqlite_blob_refs(void *impl,
    void (*fn)(const char *sha256, void *), void *arg, struct mr_err *err)
{
	struct sqlite_store *st = impl;
	sqlite3_stmt *s;
	int rc;

	if (store_prepare(st, "SELECT sha256 FROM media WHERE sha256 IS NOT NULL "
	    "UNION SELECT sha256 FROM thumbnails", &s, err) < 0)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		fn((const char *)sqlite3_column_text(s, 0), arg);
	if (rc != SQLITE_DONE)
		store_fail(st, err, "blob references");
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

/*
 * The statements of one quarantine form: the WHERE clause that selects
 * media, with ?1..?3 bound by store_bind_sel.
 */
static const char *
store_sel_where(const struct mr_store_sel *sel)
{
	if (sel->mxc != NULL)
		return "server_name = ?1 AND media_id = ?2";
	if (sel->sha256 != NULL)
		return "sha256 = ?3";
	return "user_id = ?3";
}

static void
store_bind_sel(sqlite3_stmt *s, const struct mr_store_sel *sel)
{
	int n = sqlite3_bind_parameter_count(s);

	if (sel->mxc != NULL && n >= 2) {
		sqlite3_bind_text(s, 1, sel->mxc->server, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, sel->mxc->id, -1, SQLITE_STATIC);
	} else if (n >= 3) {
		sqlite3_bind_text(s, 3, sel->sha256 ? sel->sha256 :
		    sel->user_id, -1, SQLITE_STATIC);
	}
	if (sqlite3_bind_parameter_index(s, "?4") > 0)
		sqlite3_bind_int64(s, 4, mr_now_ms());
}

/*
 * Runs one statement of a quarantine: fmt may hold one %s, the WHERE
 * clause of the selection.
 */
static int
store_sel_exec(struct sqlite_store *st, const char *fmt,
    const struct mr_store_sel *sel, struct mr_err *err)
{
	char sql[512];
	sqlite3_stmt *s;
	int rc;

	snprintf(sql, sizeof(sql), fmt, store_sel_where(sel));
	if (store_prepare(st, sql, &s, err) < 0)
		return -1;
	store_bind_sel(s, sel);
	rc = store_step_done(st, s, "quarantine", err);
	sqlite3_finalize(s);
	return rc;
}

/*
 * Who quarantined a row that had no name of its own (bytes quarantined
 * before, arriving again): whoever quarantined another copy of them.
 * None when nobody is known (a --hash ban, an old row): NULL, which the
 * admin API shows as the operator.
 */
#define STORE_QUARANTINED_BY_COPY \
	"(SELECT o.quarantined_by FROM media AS o WHERE o.sha256 = " \
	"media.sha256 AND o.quarantined = 1 AND o.quarantined_by IS NOT " \
	"NULL ORDER BY o.created_ts, o.media_id LIMIT 1)"

static enum mr_store_rc
sqlite_quarantine(void *impl, const struct mr_store_sel *sel,
    int on, int64_t *count, struct mr_err *err)
{
	struct sqlite_store *st = impl;
	enum mr_store_rc rc = MR_STORE_UNAVAILABLE;
	struct mr_media m;

	*count = 0;
	if (store_begin(st, err, "quarantine") < 0)
		return -1;
	if (sel->mxc != NULL &&
	    (rc = sqlite_media_get(st, sel->mxc, &m, err)) != MR_STORE_OK)
		goto rollback;
	rc = MR_STORE_UNAVAILABLE;
	if (store_sel_exec(st, on ?
	    "UPDATE media SET quarantined = 1, quarantined_by = "
	    "COALESCE(quarantined_by, " STORE_QUARANTINED_BY_COPY ") "
	    "WHERE %s" :
	    "UPDATE media SET quarantined = 0, quarantined_by = NULL "
	    "WHERE %s", sel, err) < 0)
		goto rollback;
	*count = sqlite3_changes(st->db);
	if (on && sel->sha256 != NULL) {
		if (store_sel_exec(st, "INSERT OR IGNORE INTO quarantined_hashes "
		    "(sha256, created_ts) VALUES (?3, ?4)", sel, err) < 0)
			goto rollback;
	} else if (on) {
		if (store_sel_exec(st, "INSERT OR IGNORE INTO quarantined_hashes "
		    "(sha256, created_ts) SELECT DISTINCT sha256, ?4 FROM media "
		    "WHERE %s AND sha256 IS NOT NULL", sel, err) < 0)
			goto rollback;
	} else if (sel->sha256 != NULL) {
		if (store_sel_exec(st, "DELETE FROM quarantined_hashes "
		    "WHERE sha256 = ?3", sel, err) < 0)
			goto rollback;
	} else {
		/* Another quarantined copy keeps the bytes banned. */
		if (store_sel_exec(st, "DELETE FROM quarantined_hashes WHERE "
		    "sha256 IN (SELECT sha256 FROM media WHERE %s) AND NOT EXISTS "
		    "(SELECT 1 FROM media WHERE media.sha256 = "
		    "quarantined_hashes.sha256 AND quarantined = 1)", sel,
		    err) < 0)
			goto rollback;
	}
	return store_commit(st, err, "quarantine");
rollback:
	store_rollback(st);
	return rc;
}

static enum mr_store_rc
sqlite_hash_quarantined(void *impl, const char *sha256,
    struct mr_err *err)
{
	struct sqlite_store *st = impl;
	sqlite3_stmt *s = store_stmt(st, ST_QH_CHECK);
	int rc;

	sqlite3_bind_text(s, 1, sha256, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc == SQLITE_ROW)
		return MR_STORE_OK;
	return rc == SQLITE_DONE ? MR_STORE_NOT_FOUND :
	    store_fail(st, err, "quarantine check");
}

static enum mr_store_rc
sqlite_preview_purge(void *impl, int64_t *count,
    struct mr_err *err)
{
	struct sqlite_store *st = impl;
	sqlite3_stmt *s;
	int rc;

	if (store_prepare(st, "DELETE FROM preview_cache", &s, err) < 0)
		return -1;
	rc = store_step_done(st, s, "preview purge", err);
	sqlite3_finalize(s);
	*count = rc == 0 ? sqlite3_changes(st->db) : 0;
	return rc;
}

/* Fills one count from "SELECT count(*), total(size) ..." bound to ?1. */
static int
store_count(struct sqlite_store *st, const char *sql, const char *local_server,
    struct mr_store_count *out, struct mr_err *err)
{
	sqlite3_stmt *s;
	int rc;

	if (store_prepare(st, sql, &s, err) < 0)
		return -1;
	if (sqlite3_bind_parameter_count(s) >= 1)
		sqlite3_bind_text(s, 1, local_server, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		out->count = sqlite3_column_int64(s, 0);
		out->bytes = sqlite3_column_int64(s, 1);
	}
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? 0 : store_fail(st, err, "stats");
}

static enum mr_store_rc
sqlite_stats(void *impl, const char *local_server,
    struct mr_store_stats *out, struct mr_err *err)
{
	struct sqlite_store *st = impl;
	memset(out, 0, sizeof(*out));
	return store_count(st, "SELECT count(*), coalesce(sum(size), 0) FROM "
	    "media WHERE server_name = ?1 AND sha256 IS NOT NULL", local_server,
	    &out->local, err) < 0 ||
	    store_count(st, "SELECT count(*), coalesce(sum(size), 0) FROM "
	    "media WHERE server_name != ?1 AND sha256 IS NOT NULL", local_server,
	    &out->remote, err) < 0 ||
	    store_count(st, "SELECT count(*), coalesce(sum(size), 0) FROM "
	    "thumbnails", local_server, &out->thumbnails, err) < 0 ||
	    store_count(st, "SELECT count(*), 0 FROM media WHERE sha256 IS NULL",
	    local_server, &out->pending, err) < 0 ||
	    store_count(st, "SELECT count(*), coalesce(sum(size), 0) FROM "
	    "media WHERE quarantined = 1", local_server, &out->quarantined,
	    err) < 0 ? -1 : 0;
}

static enum mr_store_rc
sqlite_top_users(void *impl, const char *local_server, int n,
    void (*fn)(const char *user_id, const struct mr_store_count *, void *),
    void *arg, struct mr_err *err)
{
	struct sqlite_store *st = impl;
	struct mr_store_count c;
	sqlite3_stmt *s;
	int rc;

	if (store_prepare(st, "SELECT user_id, count(*), sum(size) FROM media "
	    "WHERE server_name = ?1 AND sha256 IS NOT NULL AND user_id IS NOT "
	    "NULL GROUP BY user_id ORDER BY sum(size) DESC, user_id LIMIT ?2",
	    &s, err) < 0)
		return -1;
	sqlite3_bind_text(s, 1, local_server, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 2, n);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		c.count = sqlite3_column_int64(s, 1);
		c.bytes = sqlite3_column_int64(s, 2);
		fn((const char *)sqlite3_column_text(s, 0), &c, arg);
	}
	if (rc != SQLITE_DONE)
		store_fail(st, err, "top users");
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* --- shared limits --- */

static enum mr_store_rc
sqlite_bucket_take(void *impl, const char *key, int64_t cost,
    int64_t rate_milli, int64_t burst, int64_t now_ms, int force,
    int64_t *retry_after_ms, struct mr_err *err)
{
	struct sqlite_store *st = impl;
	sqlite3_stmt *s;
	double level = 0.0;
	int rc;

	*retry_after_ms = 0;
	if (store_begin(st, err, "rate limit") < 0)
		return -1;
	s = store_stmt(st, ST_BUCKET_GET);
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW)
		level = mr_store_bucket_level(sqlite3_column_double(s, 0),
		    sqlite3_column_int64(s, 1), now_ms, rate_milli);
	sqlite3_reset(s);
	if (!force && level + (double)cost > (double)burst) {
		double over = level + (double)cost - (double)burst;

		store_rollback(st);
		*retry_after_ms = (int64_t)(over * 1e6 / (double)rate_milli) + 1;
		return MR_STORE_BUSY;
	}
	s = store_stmt(st, ST_BUCKET_PUT);
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_double(s, 2, level + (double)cost);
	sqlite3_bind_int64(s, 3, now_ms);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE) {
		store_fail(st, err, "rate limit");
		store_rollback(st);
		return -1;
	}
	return store_commit(st, err, "rate limit");
}

static enum mr_store_rc
sqlite_user_upload_bytes(void *impl, const char *user_id,
    int64_t since_ts, int64_t *bytes, struct mr_err *err)
{
	struct sqlite_store *st = impl;
	sqlite3_stmt *s = store_stmt(st, ST_USER_BYTES);
	int rc;

	sqlite3_bind_text(s, 1, user_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, since_ts);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*bytes = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	return rc == SQLITE_ROW ? 0 : store_fail(st, err, "upload usage");
}

static enum mr_store_rc
sqlite_origin_down(void *impl, const char *origin, int64_t now_ms,
    int64_t *until_ts, struct mr_err *err)
{
	struct sqlite_store *st = impl;
	sqlite3_stmt *s = store_stmt(st, ST_ORIGIN_GET);
	int rc, down = 0;

	(void)err;
	*until_ts = 0;
	sqlite3_bind_text(s, 1, origin, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		*until_ts = sqlite3_column_int64(s, 1);
		down = *until_ts > now_ms;
	}
	sqlite3_reset(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_fail(st, err, "origin health");
	return down ? MR_STORE_BUSY : MR_STORE_OK;
}

static enum mr_store_rc
sqlite_origin_result(void *impl, const char *origin, int ok,
    int64_t now_ms, int64_t backoff_ms, struct mr_err *err)
{
	struct sqlite_store *st = impl;
	sqlite3_stmt *s;
	int64_t failures = 0;
	int rc;

	if (ok) {
		s = store_stmt(st, ST_ORIGIN_DELETE);
		sqlite3_bind_text(s, 1, origin, -1, SQLITE_STATIC);
		rc = sqlite3_step(s);
		sqlite3_reset(s);
		return rc == SQLITE_DONE ? 0 : store_fail(st, err, "origin health");
	}
	if (store_begin(st, err, "origin health") < 0)
		return -1;
	s = store_stmt(st, ST_ORIGIN_GET);
	sqlite3_bind_text(s, 1, origin, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW)
		failures = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	failures++;
	/* Doubling while it keeps failing, up to 16 times the backoff. */
	backoff_ms <<= failures - 1 < 4 ? failures - 1 : 4;
	s = store_stmt(st, ST_ORIGIN_PUT);
	sqlite3_bind_text(s, 1, origin, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, failures);
	sqlite3_bind_int64(s, 3, now_ms + backoff_ms);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE) {
		store_fail(st, err, "origin health");
		store_rollback(st);
		return -1;
	}
	return store_commit(st, err, "origin health");
}

/* --- migrate-store --- */

static enum mr_store_rc
sqlite_media_each(void *impl, void (*fn)(const struct mr_media *, void *),
    void *arg, struct mr_err *err)
{
	struct sqlite_store *st = impl;
	sqlite3_stmt *s;

	if (store_prepare(st, "SELECT " STORE_MEDIA_COLS " FROM media "
	    "ORDER BY server_name, media_id", &s, err) < 0)
		return -1;
	return store_each_media(st, s, fn, arg, err);
}

static enum mr_store_rc
sqlite_thumb_each(void *impl, void (*fn)(const struct mr_thumb_row *, void *),
    void *arg, struct mr_err *err)
{
	struct sqlite_store *st = impl;
	sqlite3_stmt *s;

	if (store_prepare(st, "SELECT " STORE_THUMB_COLS " FROM thumbnails "
	    "ORDER BY server_name, media_id, width, height, method, animated",
	    &s, err) < 0)
		return -1;
	return store_each_thumb(st, s, fn, arg, err);
}

/* Runs an INSERT OR IGNORE: OK when it added the row, CONFLICT when not. */
static enum mr_store_rc
store_insert_new(struct sqlite_store *st, sqlite3_stmt *s, const char *what,
    struct mr_err *err)
{
	int rc = store_step_done(st, s, what, err);

	sqlite3_finalize(s);
	if (rc < 0)
		return -1;
	return sqlite3_changes(st->db) > 0 ? MR_STORE_OK : MR_STORE_CONFLICT;
}

static enum mr_store_rc
sqlite_token_import(void *impl, const struct mr_token_info *t,
    struct mr_err *err)
{
	struct sqlite_store *st = impl;
	sqlite3_stmt *s;

	if (store_prepare(st, "INSERT OR IGNORE INTO access_tokens (token_hash, "
	    "user_id, is_guest, created_ts) VALUES (?1, ?2, ?3, ?4)", &s,
	    err) < 0)
		return -1;
	sqlite3_bind_text(s, 1, t->token_hash, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, t->user_id, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 3, t->is_guest ? 1 : 0);
	sqlite3_bind_int64(s, 4, t->created_ts);
	return store_insert_new(st, s, "token import", err);
}

static enum mr_store_rc
sqlite_quarantined_hash_each(void *impl,
    void (*fn)(const char *sha256, int64_t created_ts, void *), void *arg,
    struct mr_err *err)
{
	struct sqlite_store *st = impl;
	sqlite3_stmt *s;
	int rc;

	if (store_prepare(st, "SELECT sha256, created_ts FROM "
	    "quarantined_hashes ORDER BY sha256", &s, err) < 0)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		fn((const char *)sqlite3_column_text(s, 0),
		    sqlite3_column_int64(s, 1), arg);
	if (rc != SQLITE_DONE)
		store_fail(st, err, "quarantined hashes");
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

static enum mr_store_rc
sqlite_quarantined_hash_add(void *impl, const char *sha256,
    int64_t created_ts, struct mr_err *err)
{
	struct sqlite_store *st = impl;
	sqlite3_stmt *s;

	if (store_prepare(st, "INSERT OR IGNORE INTO quarantined_hashes "
	    "(sha256, created_ts) VALUES (?1, ?2)", &s, err) < 0)
		return -1;
	sqlite3_bind_text(s, 1, sha256, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, created_ts);
	return store_insert_new(st, s, "quarantine import", err);
}

/* --- Synapse's admin API and retention --- */

static enum mr_store_rc
sqlite_media_touch(void *impl, const struct mr_mxc *mxc, int64_t now_ms,
    struct mr_err *err)
{
	struct sqlite_store *st = impl;
	sqlite3_stmt *s;
	int rc;

	if (store_prepare(st, "UPDATE media SET last_access_ts = ?3 "
	    "WHERE server_name = ?1 AND media_id = ?2 AND "
	    "(last_access_ts IS NULL OR last_access_ts <= ?4)", &s, err) < 0)
		return -1;
	sqlite3_bind_text(s, 1, mxc->server, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, mxc->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, now_ms);
	sqlite3_bind_int64(s, 4, now_ms - MR_STORE_ACCESS_GRANULARITY);
	rc = store_step_done(st, s, "media access", err);
	sqlite3_finalize(s);
	return rc;
}

/*
 * One statement of quarantine_as: fmt holds the selection's WHERE clause
 * twice (%1$s), ?1..?3 as store_bind_sel binds them, ?4 the time, ?5 who.
 */
static int
store_sel_exec_as(struct sqlite_store *st, const char *fmt,
    const struct mr_store_sel *sel, int64_t now_ms, const char *by,
    struct mr_err *err)
{
	const char *where = store_sel_where(sel);
	char sql[1024];
	sqlite3_stmt *s;
	int rc;

	snprintf(sql, sizeof(sql), fmt, where);
	if (store_prepare(st, sql, &s, err) < 0)
		return -1;
	store_bind_sel(s, sel);
	if (sqlite3_bind_parameter_index(s, "?4") > 0)
		sqlite3_bind_int64(s, 4, now_ms);
	if (sqlite3_bind_parameter_index(s, "?5") > 0)
		store_bind_text_or_null(s, 5, by);
	rc = store_step_done(st, s, "quarantine", err);
	sqlite3_finalize(s);
	return rc;
}

/*
 * The rows a selection reaches: its own and every row with the same
 * bytes; quarantining leaves protected rows (and their bytes) alone.
 */
#define STORE_REACH_ON \
	"(%1$s OR sha256 IN (SELECT sha256 FROM media WHERE %1$s AND " \
	"sha256 IS NOT NULL AND safe_from_quarantine = 0))"
#define STORE_REACH_OFF \
	"(%1$s OR sha256 IN (SELECT sha256 FROM media WHERE %1$s AND " \
	"sha256 IS NOT NULL))"

static enum mr_store_rc
sqlite_quarantine_as(void *impl, const struct mr_store_sel *sel, int on,
    const char *by, int64_t now_ms, int64_t *count, struct mr_err *err)
{
	struct sqlite_store *st = impl;

	*count = 0;
	if (store_begin(st, err, "quarantine") < 0)
		return -1;
	if (on) {
		if (store_sel_exec_as(st, "UPDATE media SET quarantined = 1, "
		    "quarantined_by = ?5 WHERE quarantined = 0 AND "
		    "safe_from_quarantine = 0 AND " STORE_REACH_ON, sel, now_ms,
		    by, err) < 0)
			goto rollback;
		*count = sqlite3_changes(st->db);
		if (store_sel_exec_as(st, sel->sha256 != NULL ?
		    "INSERT OR IGNORE INTO quarantined_hashes (sha256, "
		    "created_ts) VALUES (?3, ?4)" :
		    "INSERT OR IGNORE INTO quarantined_hashes (sha256, "
		    "created_ts) SELECT DISTINCT sha256, ?4 FROM media WHERE "
		    "quarantined = 1 AND sha256 IS NOT NULL AND " STORE_REACH_ON,
		    sel, now_ms, by, err) < 0)
			goto rollback;
	} else {
		/* The hashes first, while the rows still name them. */
		if (store_sel_exec_as(st, sel->sha256 != NULL ?
		    "DELETE FROM quarantined_hashes WHERE sha256 = ?3" :
		    "DELETE FROM quarantined_hashes WHERE sha256 IN (SELECT "
		    "sha256 FROM media WHERE %1$s)", sel, now_ms, by, err) < 0)
			goto rollback;
		if (store_sel_exec_as(st, "UPDATE media SET quarantined = 0, "
		    "quarantined_by = NULL WHERE quarantined = 1 AND "
		    STORE_REACH_OFF, sel, now_ms, by, err) < 0)
			goto rollback;
		*count = sqlite3_changes(st->db);
	}
	return store_commit(st, err, "quarantine");
rollback:
	store_rollback(st);
	return MR_STORE_UNAVAILABLE;
}

static enum mr_store_rc
sqlite_media_protect(void *impl, const struct mr_mxc *mxc, int on,
    struct mr_err *err)
{
	struct sqlite_store *st = impl;
	sqlite3_stmt *s;
	int rc;

	if (store_prepare(st, "UPDATE media SET safe_from_quarantine = ?3 "
	    "WHERE server_name = ?1 AND media_id = ?2", &s, err) < 0)
		return -1;
	sqlite3_bind_text(s, 1, mxc->server, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, mxc->id, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 3, on ? 1 : 0);
	rc = store_step_done(st, s, "protect", err);
	sqlite3_finalize(s);
	if (rc < 0)
		return -1;
	return sqlite3_changes(st->db) > 0 ? MR_STORE_OK : MR_STORE_NOT_FOUND;
}

/* Columns of enum mr_store_media_order; only these reach the SQL text. */
static const char *const store_media_order_cols[MR_STORE_ORDER__MAX] = {
	[MR_STORE_ORDER_CREATED_TS] = "created_ts",
	[MR_STORE_ORDER_MEDIA_ID] = "media_id",
	[MR_STORE_ORDER_UPLOAD_NAME] = "upload_name",
	[MR_STORE_ORDER_LAST_ACCESS_TS] = "last_access_ts",
	[MR_STORE_ORDER_MEDIA_LENGTH] = "size",
	[MR_STORE_ORDER_MEDIA_TYPE] = "content_type",
	[MR_STORE_ORDER_QUARANTINED_BY] = "quarantined_by",
	[MR_STORE_ORDER_SAFE_FROM_QUARANTINE] = "safe_from_quarantine",
};

/* The WHERE clause of q, whose values are bound by store_bind_query. */
static void
store_query_where(const struct mr_store_media_query *q, char *out,
    size_t outsz)
{
	snprintf(out, outsz, "sha256 IS NOT NULL%s%s%s%s%s%s",
	    q->origin == MR_STORE_ORIGIN_LOCAL ? " AND server_name = ?1" :
	    q->origin == MR_STORE_ORIGIN_REMOTE ? " AND server_name != ?1" : "",
	    q->user_id != NULL ? " AND user_id = ?2" : "",
	    q->accessed_before > 0 ?
	    " AND coalesce(last_access_ts, created_ts) < ?3" : "",
	    q->size_gt > 0 ? " AND size > ?4" : "",
	    q->skip_quarantined ? " AND quarantined = 0" : "",
	    q->skip_protected ? " AND safe_from_quarantine = 0" : "");
}

static void
store_bind_query(sqlite3_stmt *s, const struct mr_store_media_query *q)
{
	if (q->origin != MR_STORE_ORIGIN_ANY)
		sqlite3_bind_text(s, 1, q->local_server ? q->local_server : "",
		    -1, SQLITE_STATIC);
	if (q->user_id != NULL)
		sqlite3_bind_text(s, 2, q->user_id, -1, SQLITE_STATIC);
	if (q->accessed_before > 0)
		sqlite3_bind_int64(s, 3, q->accessed_before);
	if (q->size_gt > 0)
		sqlite3_bind_int64(s, 4, q->size_gt);
}

/* "SELECT count(*) ..." of a query whose values store_bind_query binds. */
static int
store_query_count(struct sqlite_store *st, const char *sql,
    const struct mr_store_media_query *mq, int64_t *total, struct mr_err *err)
{
	sqlite3_stmt *s;
	int rc;

	if (store_prepare(st, sql, &s, err) < 0)
		return -1;
	if (mq != NULL)
		store_bind_query(s, mq);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*total = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? 0 : store_fail(st, err, "count");
}

static enum mr_store_rc
sqlite_media_query(void *impl, const struct mr_store_media_query *q,
    void (*fn)(const struct mr_media *, void *), void *arg, int64_t *total,
    struct mr_err *err)
{
	struct sqlite_store *st = impl;
	char where[512], sql[1024];
	sqlite3_stmt *s;

	if ((unsigned)q->order >= MR_STORE_ORDER__MAX)
		return mr_err_set(err, 500, "M_UNKNOWN", "unknown media order");
	store_query_where(q, where, sizeof(where));
	if (total != NULL) {
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM media WHERE %s",
		    where);
		if (store_query_count(st, sql, q, total, err) < 0)
			return -1;
	}
	snprintf(sql, sizeof(sql), "SELECT " STORE_MEDIA_COLS " FROM media "
	    "WHERE %s ORDER BY %s %s, media_id ASC LIMIT ?5 OFFSET ?6", where,
	    store_media_order_cols[q->order], q->descending ? "DESC" : "ASC");
	if (store_prepare(st, sql, &s, err) < 0)
		return -1;
	store_bind_query(s, q);
	sqlite3_bind_int64(s, 5, q->limit < 0 ? -1 : q->limit);
	sqlite3_bind_int64(s, 6, q->offset > 0 ? q->offset : 0);
	return store_each_media(st, s, fn, arg, err);
}

static void
store_bind_usage(sqlite3_stmt *s, const struct mr_store_usage_query *q,
    const char *like)
{
	sqlite3_bind_text(s, 1, q->local_server ? q->local_server : "", -1,
	    SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, q->from_ts);
	if (q->until_ts > 0)
		sqlite3_bind_int64(s, 3, q->until_ts);
	if (like != NULL)
		sqlite3_bind_text(s, 4, like, -1, SQLITE_STATIC);
}

static enum mr_store_rc
sqlite_user_media_usage(void *impl, const struct mr_store_usage_query *q,
    void (*fn)(const char *user_id, const struct mr_store_count *, void *),
    void *arg, int64_t *total, struct mr_err *err)
{
	static const char *const order_cols[] = {
		[MR_STORE_USAGE_USER_ID] = "user_id",
		[MR_STORE_USAGE_MEDIA_LENGTH] = "total(size)",
		[MR_STORE_USAGE_MEDIA_COUNT] = "count(*)",
	};
	struct sqlite_store *st = impl;
	char where[512], sql[1024], *like = NULL;
	struct mr_store_count c;
	sqlite3_stmt *s = NULL;
	int rc = -1;

	if ((unsigned)q->order > MR_STORE_USAGE_MEDIA_COUNT)
		return mr_err_set(err, 500, "M_UNKNOWN", "unknown usage order");
	if (q->search != NULL && (like = mr_store_like_pattern(q->search)) == NULL)
		return mr_err_set(err, 500, "M_UNKNOWN", "out of memory");
	/* The localpart: between the sigil and the first colon. */
	snprintf(where, sizeof(where), "sha256 IS NOT NULL AND "
	    "server_name = ?1 AND user_id IS NOT NULL AND created_ts >= ?2%s%s",
	    q->until_ts > 0 ? " AND created_ts <= ?3" : "",
	    like != NULL ? " AND substr(user_id, 2, instr(user_id, ':') - 2) "
	    "LIKE ?4 ESCAPE '\\'" : "");
	snprintf(sql, sizeof(sql), "SELECT count(DISTINCT user_id) FROM media "
	    "WHERE %s", where);
	if (store_prepare(st, sql, &s, err) < 0)
		goto done;
	store_bind_usage(s, q, like);
	if ((rc = sqlite3_step(s)) != SQLITE_ROW) {
		rc = store_fail(st, err, "usage count");
		goto done;
	}
	if (total != NULL)
		*total = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	snprintf(sql, sizeof(sql), "SELECT user_id, count(*), total(size) "
	    "FROM media WHERE %s GROUP BY user_id ORDER BY %s %s, user_id ASC "
	    "LIMIT ?5 OFFSET ?6", where, order_cols[q->order],
	    q->descending ? "DESC" : "ASC");
	if ((rc = store_prepare(st, sql, &s, err)) < 0) {
		s = NULL;
		goto done;
	}
	store_bind_usage(s, q, like);
	sqlite3_bind_int64(s, 5, q->limit < 0 ? -1 : q->limit);
	sqlite3_bind_int64(s, 6, q->offset > 0 ? q->offset : 0);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		c.count = sqlite3_column_int64(s, 1);
		c.bytes = (int64_t)sqlite3_column_double(s, 2);
		fn((const char *)sqlite3_column_text(s, 0), &c, arg);
	}
	rc = rc == SQLITE_DONE ? 0 : store_fail(st, err, "usage");
done:
	sqlite3_finalize(s);
	free(like);
	return rc;
}

/* Every backend: asked last, it takes any database path. */
static int
sqlite_wanted(const char *path)
{
	(void)path;
	return 1;
}

/*
 * The write lock of BEGIN IMMEDIATE spans the sums and the write, so no
 * upload of any process lands between them. A waiter waits for at most
 * the busy timeout, and in practice for a few short transactions.
 */
static enum mr_store_rc
sqlite_media_put_quota(void *impl, const struct mr_media *m, int complete,
    const struct mr_store_quota *q, int nq, int *over, struct mr_err *err)
{
	struct sqlite_store *st = impl;
	enum mr_store_rc rc;
	int64_t used;

	*over = -1;
	if (store_begin(st, err, "upload quota") < 0)
		return MR_STORE_UNAVAILABLE;
	for (int i = 0; i < nq; i++) {
		if ((rc = sqlite_user_upload_bytes(st, m->user_id,
		    q[i].since_ts, &used, err)) != MR_STORE_OK)
			goto rollback;
		if (used + m->size > q[i].max_bytes) {
			*over = i;
			rc = MR_STORE_BUSY;
			goto rollback;
		}
	}
	rc = complete ? sqlite_media_complete(st, m, err) :
	    sqlite_media_insert(st, m, err);
	if (rc != MR_STORE_OK)
		goto rollback;
	return store_commit(st, err, "upload quota") < 0 ?
	    MR_STORE_UNAVAILABLE : MR_STORE_OK;
rollback:
	store_rollback(st);
	return rc;
}

const struct mr_store_ops mr_store_sqlite_ops = {
	.name = "sqlite",
	.wanted = sqlite_wanted,
	.open = sqlite_open,
	.close = sqlite_close,
	.media_get = sqlite_media_get,
	.media_insert = sqlite_media_insert,
	.media_create_pending = sqlite_media_create_pending,
	.media_complete = sqlite_media_complete,
	.thumb_get = sqlite_thumb_get,
	.thumb_put = sqlite_thumb_put,
	.thumb_put_capped = sqlite_thumb_put_capped,
	.server_key_get = sqlite_server_key_get,
	.server_key_put = sqlite_server_key_put,
	.server_key_claim_fetch = sqlite_server_key_claim_fetch,
	.well_known_get = sqlite_well_known_get,
	.well_known_put = sqlite_well_known_put,
	.lease_take = sqlite_lease_take,
	.lease_end = sqlite_lease_end,
	.media_list_user = sqlite_media_list_user,
	.media_list_remote = sqlite_media_list_remote,
	.thumb_list = sqlite_thumb_list,
	.media_delete = sqlite_media_delete,
	.blob_referenced = sqlite_blob_referenced,
	.blob_refs = sqlite_blob_refs,
	.quarantine = sqlite_quarantine,
	.hash_quarantined = sqlite_hash_quarantined,
	.preview_purge = sqlite_preview_purge,
	.stats = sqlite_stats,
	.top_users = sqlite_top_users,
	.token_add = sqlite_token_add,
	.token_lookup = sqlite_token_lookup,
	.token_revoke = sqlite_token_revoke,
	.token_list = sqlite_token_list,
	.hs_auth_get = sqlite_hs_auth_get,
	.hs_auth_put = sqlite_hs_auth_put,
	.bucket_take = sqlite_bucket_take,
	.user_upload_bytes = sqlite_user_upload_bytes,
	.origin_down = sqlite_origin_down,
	.origin_result = sqlite_origin_result,
	.media_each = sqlite_media_each,
	.thumb_each = sqlite_thumb_each,
	.token_import = sqlite_token_import,
	.quarantined_hash_each = sqlite_quarantined_hash_each,
	.quarantined_hash_add = sqlite_quarantined_hash_add,
	.media_touch = sqlite_media_touch,
	.quarantine_as = sqlite_quarantine_as,
	.media_protect = sqlite_media_protect,
	.media_query = sqlite_media_query,
	.user_media_usage = sqlite_user_media_usage,
	.media_put_quota = sqlite_media_put_quota,
};
