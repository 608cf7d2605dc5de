/*
 * synapse_import: reads the media table of a Synapse SQLite database (see
 * synapse_import.h). It opens a foreign file read-only and is no store
 * backend, so it talks to SQLite itself.
 */
#include "synapse_import.h"

#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

/* Copies a text column; sets *too_long when it did not fit. */
static void
synapse_copy_checked(sqlite3_stmt *s, int col, char *dst, size_t dstsz,
    int *too_long)
{
	const unsigned char *v = sqlite3_column_text(s, col);
	size_t n = v ? strlen((const char *)v) : 0;

	if (n >= dstsz)
		*too_long = 1;
	snprintf(dst, dstsz, "%s", v ? (const char *)v : "");
}

static void
synapse_read_row(sqlite3_stmt *s, int has_auth, struct mr_synapse_media *m)
{
	memset(m, 0, sizeof(*m));
	synapse_copy_checked(s, 0, m->media_id, sizeof(m->media_id), &m->too_long);
	synapse_copy_checked(s, 1, m->media_type, sizeof(m->media_type),
	    &m->too_long);
	synapse_copy_checked(s, 2, m->upload_name, sizeof(m->upload_name),
	    &m->too_long);
	synapse_copy_checked(s, 3, m->user_id, sizeof(m->user_id), &m->too_long);
	m->media_length = sqlite3_column_type(s, 4) == SQLITE_NULL ? -1 :
	    sqlite3_column_int64(s, 4);
	m->created_ts = sqlite3_column_int64(s, 5);
	m->quarantined = sqlite3_column_type(s, 6) != SQLITE_NULL;
	/* Who did it is shown, not needed: an odd value is left out. */
	if (m->quarantined) {
		int odd = 0;

		synapse_copy_checked(s, 6, m->quarantined_by,
		    sizeof(m->quarantined_by), &odd);
		if (odd)
			m->quarantined_by[0] = '\0';
	}
	m->authenticated = has_auth && sqlite3_column_int(s, 7) != 0;
}

/* 1 when Synapse's table has the column (it came in Synapse 1.104). */
static int
synapse_has_column(sqlite3 *db, const char *column)
{
	sqlite3_stmt *s;
	int found = 0;

	if (sqlite3_prepare_v2(db, "SELECT 1 FROM pragma_table_info("
	    "'local_media_repository') WHERE name = ?1", -1, &s, NULL) !=
	    SQLITE_OK)
		return 0;
	sqlite3_bind_text(s, 1, column, -1, SQLITE_STATIC);
	found = sqlite3_step(s) == SQLITE_ROW;
	sqlite3_finalize(s);
	return found;
}

int
mr_synapse_import_media(const char *path,
    int (*fn)(const struct mr_synapse_media *, int64_t i, int64_t total,
    void *), void *arg, struct mr_err *err)
{
	struct mr_synapse_media m;
	sqlite3_stmt *s = NULL;
	int64_t total = 0, i = 0;
	sqlite3 *db = NULL;
	int rc, has_auth, result = -1;

	/* Read-only: the import never changes Synapse's database. */
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		mr_err_set(err, 500, "M_UNKNOWN", "cannot open '%s': %s", path,
		    db ? sqlite3_errmsg(db) : "out of memory");
		goto out;
	}
	sqlite3_busy_timeout(db, 10000);
	has_auth = synapse_has_column(db, "authenticated");
	if (sqlite3_prepare_v2(db, "SELECT count(*) FROM local_media_repository",
	    -1, &s, NULL) != SQLITE_OK || sqlite3_step(s) != SQLITE_ROW) {
		mr_err_set(err, 500, "M_UNKNOWN", "'%s' is not a Synapse "
		    "database: %s", path, sqlite3_errmsg(db));
		goto out;
	}
	total = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	if (sqlite3_prepare_v2(db, has_auth ?
	    "SELECT media_id, media_type, upload_name, user_id, media_length, "
	    "created_ts, quarantined_by, authenticated "
	    "FROM local_media_repository ORDER BY created_ts, media_id" :
	    "SELECT media_id, media_type, upload_name, user_id, media_length, "
	    "created_ts, quarantined_by FROM local_media_repository "
	    "ORDER BY created_ts, media_id", -1, &s, NULL) != SQLITE_OK) {
		mr_err_set(err, 500, "M_UNKNOWN", "cannot read '%s': %s", path,
		    sqlite3_errmsg(db));
		goto out;
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		synapse_read_row(s, has_auth, &m);
		if (fn(&m, i++, total, arg) < 0)
			goto out;
	}
	if (rc != SQLITE_DONE) {
		mr_err_set(err, 500, "M_UNKNOWN", "cannot read '%s': %s", path,
		    sqlite3_errmsg(db));
		goto out;
	}
	result = 0;
out:
	sqlite3_finalize(s);
	sqlite3_close(db);
	return result;
}
