/*
 * store_pg: the shared store backend, metadata in PostgreSQL through
 * libpq (see store.h for what each call answers), chosen by a
 * postgresql:// database_url. Every process of every host keeps one
 * connection; statements are prepared on it when first used. Whatever
 * must hold across hosts (one pending-upload cap, one rate bucket, one
 * lease) is one statement with ON CONFLICT or one transaction that locks
 * what it reads. The connection is remade when the server went away, and
 * no call waits longer than PG_WAIT_MS: while the server is unreachable
 * every call fails at once with 503.
 */
#include "store.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "migrations_pg.h"	/* generated from sql/postgres/ by the Makefile */

/*
 * Bounds on a dead or stuck server. libpq's connect_timeout (seconds, at
 * least 2) covers connecting; statement_timeout makes the server give up
 * on a statement stuck behind locks; PG_WAIT_MS is ours, for a server
 * that does not answer at all (stopped, or a network that drops packets).
 */
#define PG_CONNECT_TIMEOUT "3"
#define PG_SERVER_OPTIONS "-c statement_timeout=10000 " \
	"-c idle_in_transaction_session_timeout=60000"
#define PG_WAIT_MS 15000
/* What a client is told to wait before trying again while it is down. */
#define PG_RETRY_AFTER_MS 2000

/* pg_advisory_lock keys: the first int of the two-int form says what. */
#define PG_LOCK_MIGRATE INT64_C(0x6d656469617265)	/* "mediare" */
#define PG_LOCK_PENDING 1	/* a user's pending uploads */
#define PG_LOCK_THUMBS 2	/* a media's on-demand thumbnails */
#define PG_LOCK_UPLOAD_QUOTA 3	/* a user's media_upload_limits */
/*
 * How long an upload waits for the quota lock of its user (lock_timeout):
 * holders keep it for a few statements, so a longer wait means something
 * is stuck, and the upload had better be refused (429) than hold a process.
 */
#define PG_QUOTA_LOCK_WAIT "1000"
/* SQLSTATE of a lock not granted within lock_timeout. */
#define PG_LOCK_NOT_AVAILABLE "55P03"

#define PG_MAX_ARGS 16

/*
 * Rows per query of the calls that walk a whole table (lists, each calls,
 * blob references): each page starts after the last key of the one
 * before, so a big table never sits in memory whole, and fn may use the
 * store meanwhile.
 */
#define PG_PAGE 1000

enum pg_stmt {
	PS_MEDIA_GET,
	PS_MEDIA_INSERT,
	PS_MEDIA_COUNT_PENDING,
	PS_MEDIA_COMPLETE,
	PS_XACT_LOCK,
	PS_TOKEN_ADD,
	PS_TOKEN_LOOKUP,
	PS_TOKEN_REVOKE,
	PS_THUMB_GET,
	PS_THUMB_PUT,
	PS_THUMB_COUNT_DYNAMIC,
	PS_KEY_GET,
	PS_KEY_PUT,
	PS_KEY_CLAIM,
	PS_WK_GET,
	PS_WK_PUT,
	PS_LEASE_TAKE,
	PS_LEASE_GET,
	PS_LEASE_PUT,
	PS_LEASE_DELETE,
	PS_HS_AUTH_GET,
	PS_HS_AUTH_PUT,
	PS_HS_AUTH_EXPIRE,
	PS_QH_CHECK,
	PS_BUCKET_INIT,
	PS_BUCKET_GET,
	PS_BUCKET_PUT,
	PS_USER_BYTES,
	PS_ORIGIN_GET,
	PS_ORIGIN_FAIL,
	PS_ORIGIN_DELETE,
	PS_MEDIA_TOUCH,
	PS__MAX
};

#define PG_MEDIA_COLS \
	"server_name, media_id, sha256, size, content_type, upload_name, " \
	"user_id, created_ts, coalesce(expires_ts, 0), quarantined, " \
	"authenticated, coalesce(last_access_ts, 0), " \
	"coalesce(quarantined_by, ''), safe_from_quarantine"

/* Numbers are cast where PostgreSQL could not infer their type. */
static const char *const pg_sql[PS__MAX] = {
	[PS_MEDIA_GET] =
	    "SELECT " PG_MEDIA_COLS " FROM media "
	    "WHERE server_name = $1 AND media_id = $2",
	[PS_MEDIA_INSERT] =
	    "INSERT INTO media (server_name, media_id, sha256, size, "
	    "content_type, upload_name, user_id, created_ts, expires_ts, "
	    "authenticated, quarantined, last_access_ts, quarantined_by, "
	    "safe_from_quarantine) "
	    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, "
	    "$14) ON CONFLICT DO NOTHING",
	[PS_MEDIA_COUNT_PENDING] =
	    "SELECT count(*), coalesce(min(expires_ts), 0) FROM media "
	    "WHERE user_id = $1 AND sha256 IS NULL AND expires_ts > $2",
	[PS_MEDIA_COMPLETE] =
	    "UPDATE media SET sha256 = $3, size = $4, content_type = $5, "
	    "upload_name = $6, expires_ts = NULL "
	    "WHERE server_name = $1 AND media_id = $2 AND sha256 IS NULL",
	/* Serialises one read-decide-write over rows that may not exist
	 * yet, which SELECT ... FOR UPDATE cannot lock. */
	[PS_XACT_LOCK] =
	    "SELECT pg_advisory_xact_lock($1::int, hashtext($2))",
	[PS_TOKEN_ADD] =
	    "INSERT INTO access_tokens (token_hash, user_id, is_guest, "
	    "created_ts) VALUES ($1, $2, $3, $4)",
	[PS_TOKEN_LOOKUP] =
	    "SELECT user_id, is_guest, created_ts FROM access_tokens "
	    "WHERE token_hash = $1",
	[PS_TOKEN_REVOKE] =
	    "DELETE FROM access_tokens WHERE token_hash = $1",
	[PS_THUMB_GET] =
	    "SELECT sha256, size, content_type, actual_width, actual_height, "
	    "dynamic FROM thumbnails WHERE server_name = $1 AND media_id = $2 "
	    "AND width = $3 AND height = $4 AND method = $5 AND animated = $6",
	[PS_THUMB_PUT] =
	    "INSERT INTO thumbnails (server_name, media_id, width, height, "
	    "method, animated, sha256, size, content_type, actual_width, "
	    "actual_height, dynamic, created_ts) "
	    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) "
	    "ON CONFLICT (server_name, media_id, width, height, method, "
	    "animated) DO UPDATE SET sha256 = EXCLUDED.sha256, "
	    "size = EXCLUDED.size, content_type = EXCLUDED.content_type, "
	    "actual_width = EXCLUDED.actual_width, "
	    "actual_height = EXCLUDED.actual_height, "
	    "dynamic = EXCLUDED.dynamic, created_ts = EXCLUDED.created_ts",
	[PS_THUMB_COUNT_DYNAMIC] =
	    "SELECT count(*) FROM thumbnails WHERE server_name = $1 "
	    "AND media_id = $2 AND dynamic = 1",
	[PS_KEY_GET] =
	    "SELECT public_key FROM server_keys WHERE server_name = $1 "
	    "AND key_id = $2 AND expires_ts > $3",
	[PS_KEY_PUT] =
	    "INSERT INTO server_keys (server_name, key_id, public_key, "
	    "expires_ts) VALUES ($1, $2, $3, $4) ON CONFLICT (server_name, "
	    "key_id) DO UPDATE SET public_key = EXCLUDED.public_key, "
	    "expires_ts = EXCLUDED.expires_ts",
	/* One statement: of hosts claiming at once, one row changes. */
	[PS_KEY_CLAIM] =
	    "INSERT INTO server_key_fetches (server_name, last_fetch_ts) "
	    "VALUES ($1, $2) ON CONFLICT (server_name) DO UPDATE "
	    "SET last_fetch_ts = EXCLUDED.last_fetch_ts "
	    "WHERE server_key_fetches.last_fetch_ts <= 0 OR "
	    "server_key_fetches.last_fetch_ts <= $2::bigint - $3::bigint",
	[PS_WK_GET] =
	    "SELECT coalesce(delegated, '') FROM well_known_cache "
	    "WHERE server_name = $1 AND expires_ts > $2",
	[PS_WK_PUT] =
	    "INSERT INTO well_known_cache (server_name, delegated, expires_ts) "
	    "VALUES ($1, $2, $3) ON CONFLICT (server_name) DO UPDATE "
	    "SET delegated = EXCLUDED.delegated, "
	    "expires_ts = EXCLUDED.expires_ts",
	/* Takes the lease when there is none or it is over: the row lock of
	 * the upsert makes one of many takers win. */
	[PS_LEASE_TAKE] =
	    "INSERT INTO leases (kind, key, state, until_ts) "
	    "VALUES ($1, $2, 'fetching', $4) ON CONFLICT (kind, key) DO UPDATE "
	    "SET state = 'fetching', until_ts = EXCLUDED.until_ts, status = 0, "
	    "errcode = NULL, body = NULL WHERE leases.until_ts <= $3::bigint",
	[PS_LEASE_GET] =
	    "SELECT state, until_ts, status, coalesce(errcode, ''), body "
	    "FROM leases WHERE kind = $1 AND key = $2",
	[PS_LEASE_PUT] =
	    "INSERT INTO leases (kind, key, state, until_ts, status, errcode, "
	    "body) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (kind, key) "
	    "DO UPDATE SET state = EXCLUDED.state, until_ts = EXCLUDED.until_ts, "
	    "status = EXCLUDED.status, errcode = EXCLUDED.errcode, "
	    "body = EXCLUDED.body",
	[PS_LEASE_DELETE] =
	    "DELETE FROM leases WHERE kind = $1 AND key = $2",
	[PS_HS_AUTH_GET] =
	    "SELECT coalesce(user_id, ''), is_guest, coalesce(errcode, ''), "
	    "soft_logout FROM homeserver_auth_cache WHERE token_hash = $1 "
	    "AND expires_ts > $2",
	[PS_HS_AUTH_PUT] =
	    "INSERT INTO homeserver_auth_cache (token_hash, user_id, is_guest, "
	    "errcode, soft_logout, expires_ts) VALUES ($1, $2, $3, $4, $5, $6) "
	    "ON CONFLICT (token_hash) DO UPDATE SET user_id = EXCLUDED.user_id, "
	    "is_guest = EXCLUDED.is_guest, errcode = EXCLUDED.errcode, "
	    "soft_logout = EXCLUDED.soft_logout, "
	    "expires_ts = EXCLUDED.expires_ts",
	[PS_HS_AUTH_EXPIRE] =
	    "DELETE FROM homeserver_auth_cache WHERE expires_ts <= $1",
	[PS_QH_CHECK] =
	    "SELECT 1 FROM quarantined_hashes WHERE sha256 = $1",
	[PS_BUCKET_INIT] =
	    "INSERT INTO rate_buckets (bucket_key, level, updated_ms) "
	    "VALUES ($1, 0, $2) ON CONFLICT DO NOTHING",
	[PS_BUCKET_GET] =
	    "SELECT level, updated_ms FROM rate_buckets WHERE bucket_key = $1 "
	    "FOR UPDATE",
	[PS_BUCKET_PUT] =
	    "UPDATE rate_buckets SET level = $2, updated_ms = $3 "
	    "WHERE bucket_key = $1",
	[PS_USER_BYTES] =
	    "SELECT coalesce(sum(size), 0) FROM media WHERE user_id = $1 "
	    "AND created_ts > $2 AND sha256 IS NOT NULL",
	[PS_ORIGIN_GET] =
	    "SELECT down_until_ts FROM origin_health WHERE server_name = $1",
	/* Doubling while it keeps failing, up to 16 times the backoff. */
	[PS_ORIGIN_FAIL] =
	    "INSERT INTO origin_health (server_name, failures, down_until_ts) "
	    "VALUES ($1, 1, $2::bigint + $3::bigint) ON CONFLICT (server_name) "
	    "DO UPDATE SET failures = origin_health.failures + 1, "
	    "down_until_ts = $2::bigint + $3::bigint * "
	    "(1::bigint << least(origin_health.failures, 4)::int)",
	[PS_ORIGIN_DELETE] =
	    "DELETE FROM origin_health WHERE server_name = $1",
	/* Serving programs call it (at most hourly per media): prepared. */
	[PS_MEDIA_TOUCH] =
	    "UPDATE media SET last_access_ts = $3 "
	    "WHERE server_name = $1 AND media_id = $2 AND "
	    "(last_access_ts IS NULL OR last_access_ts <= $4::bigint)",
};

struct pg_store {
	char *url;
	PGconn *conn;
	uint64_t prepared;	/* bit per enum pg_stmt prepared on conn */
	int in_tx;
	int migrated;		/* this process has seen the schema current */
	char sqlstate[6];	/* of the last failed statement */
};

/* Text parameters; numbers are printed into num. NULL is SQL NULL. */
struct pg_args {
	int n;
	const char *v[PG_MAX_ARGS];
	char num[PG_MAX_ARGS][32];
};

static void
arg_s(struct pg_args *a, const char *s)
{
	a->v[a->n++] = s;
}

/* An empty string is stored as NULL, as the SQLite backend does. */
static void
arg_sn(struct pg_args *a, const char *s)
{
	a->v[a->n++] = s != NULL && s[0] != '\0' ? s : NULL;
}

static void
arg_i(struct pg_args *a, int64_t x)
{
	snprintf(a->num[a->n], sizeof(a->num[a->n]), "%" PRId64, x);
	a->v[a->n] = a->num[a->n];
	a->n++;
}

static int64_t
pg_i64(const PGresult *res, int row, int col)
{
	return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static void
pg_copy(const PGresult *res, int row, int col, char *dst, size_t dstsz)
{
	snprintf(dst, dstsz, "%s", PQgetvalue(res, row, col));
}

/* Forgets the connection: the next call makes a new one. */
static void
pg_drop(struct pg_store *st)
{
	PQfinish(st->conn);
	st->conn = NULL;
	st->prepared = 0;
	st->in_tx = 0;
}

static int
pg_unavailable(struct mr_err *err, const char *what, const char *why)
{
	mr_err_set(err, 503, "M_UNKNOWN", "database unavailable in %s, try "
	    "again later: %s", what, why);
	err->retry_after_ms = PG_RETRY_AFTER_MS;
	return -1;
}

/* The first line of libpq's message, which may span several. */
static const char *
pg_msg(const char *m, char *buf, size_t bufsz)
{
	size_t n = strcspn(m != NULL ? m : "", "\n");

	snprintf(buf, bufsz, "%.*s", (int)n, m != NULL ? m : "");
	return buf;
}

/*
 * Fills err for a failed statement: 503 when the server is gone, shutting
 * down or timed us out (connection classes 08, 57P0x, 57014), the full-
 * disk answer for 53100, 500 otherwise. A gone connection is dropped.
 */
static int
pg_fail(struct pg_store *st, const PGresult *res, struct mr_err *err,
    const char *what)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	char buf[200];

	snprintf(st->sqlstate, sizeof(st->sqlstate), "%s",
	    state != NULL ? state : "");
	pg_msg(res ? PQresultErrorMessage(res) : NULL, buf, sizeof(buf));
	if (buf[0] == '\0' && st->conn != NULL)
		pg_msg(PQerrorMessage(st->conn), buf, sizeof(buf));
	if (st->conn == NULL || PQstatus(st->conn) != CONNECTION_OK ||
	    (state != NULL && (strncmp(state, "08", 2) == 0 ||
	    strncmp(state, "57P0", 4) == 0 || strcmp(state, "57014") == 0))) {
		pg_drop(st);
		return pg_unavailable(err, what, buf);
	}
	if (state != NULL && strcmp(state, "53100") == 0)
		return mr_err_storage_full(err);
	return mr_err_set(err, 500, "M_UNKNOWN", "database error in %s: %s",
	    what, buf);
}

/*
 * Collects what the server sends for the query in flight: the first
 * failure, else the last result. NULL with err when the connection broke
 * or PG_WAIT_MS passed (the connection is then dropped: what it was doing
 * is unknown).
 */
static PGresult *
pg_wait(struct pg_store *st, struct mr_err *err, const char *what)
{
	int64_t deadline = mr_mono_ms() + PG_WAIT_MS;
	PGresult *res, *keep = NULL;
	struct pollfd pfd;

	for (;;) {
		while (!PQisBusy(st->conn)) {
			if ((res = PQgetResult(st->conn)) == NULL) {
				if (keep == NULL)
					mr_err_set(err, 500, "M_UNKNOWN",
					    "no result in %s", what);
				return keep;
			}
			if (keep != NULL &&
			    PQresultStatus(keep) == PGRES_FATAL_ERROR) {
				PQclear(res);
				continue;
			}
			PQclear(keep);
			keep = res;
		}
		pfd.fd = PQsocket(st->conn);
		pfd.events = POLLIN;
		int64_t left = deadline - mr_mono_ms();
		if (left <= 0) {
			PQclear(keep);
			pg_drop(st);
			return pg_unavailable(err, what, "no answer in time"),
			    NULL;
		}
		if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR) {
			PQclear(keep);
			pg_drop(st);
			return pg_unavailable(err, what, strerror(errno)), NULL;
		}
		if (!PQconsumeInput(st->conn)) {
			char buf[200];

			PQclear(keep);
			pg_msg(PQerrorMessage(st->conn), buf, sizeof(buf));
			pg_drop(st);
			return pg_unavailable(err, what, buf), NULL;
		}
	}
}

static void
pg_notice_ignore(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

static int pg_migrate(struct pg_store *st, struct mr_err *err);

/* A new connection, migrated once per process; 503 when it cannot be had. */
static int
pg_connect(struct pg_store *st, struct mr_err *err)
{
	/* Ours come before dbname (the URL), so the URL may override them. */
	static const char *const kw[] = {
		"connect_timeout", "options", "keepalives_idle",
		"keepalives_interval", "keepalives_count", "tcp_user_timeout",
		"application_name", "dbname", NULL,
	};
	const char *val[] = {
		PG_CONNECT_TIMEOUT, PG_SERVER_OPTIONS, "30", "10", "3",
		"15000", "mediarepo", st->url, NULL,
	};
	char buf[200];

	pg_drop(st);
	st->conn = PQconnectdbParams(kw, val, 1);
	if (st->conn == NULL || PQstatus(st->conn) != CONNECTION_OK) {
		pg_msg(st->conn ? PQerrorMessage(st->conn) : "out of memory",
		    buf, sizeof(buf));
		pg_drop(st);
		return pg_unavailable(err, "connect", buf);
	}
	PQsetNoticeProcessor(st->conn, pg_notice_ignore, NULL);
	if (!st->migrated && pg_migrate(st, err) < 0) {
		pg_drop(st);
		return -1;
	}
	return 0;
}

/*
 * A connection ready for a statement. Between calls the server has
 * nothing to say to us (we LISTEN to nothing): a socket that reads
 * anything then is one the server closed, with its FATAL "terminating
 * connection" and EOF (it shut down or restarted). It is replaced before
 * use, so no statement is sent into a dead connection. Inside a
 * transaction a broken connection fails the call instead.
 */
static int
pg_ready(struct pg_store *st, struct mr_err *err)
{
	struct pollfd pfd;

	if (st->conn != NULL && !st->in_tx) {
		pfd.fd = PQsocket(st->conn);
		pfd.events = POLLIN;
		if (pfd.fd < 0 || poll(&pfd, 1, 0) != 0 ||
		    PQstatus(st->conn) != CONNECTION_OK)
			pg_drop(st);
	}
	if (st->conn == NULL) {
		if (st->in_tx)
			return pg_unavailable(err, "transaction",
			    "connection lost");
		return pg_connect(st, err);
	}
	return 0;
}

/*
 * Runs a statement: which >= 0 a prepared one (prepared on this
 * connection first if need be), else sql as is (several statements when
 * a is NULL). The result has succeeded (the caller clears it), or NULL
 * with err.
 */
static PGresult *
pg_run(struct pg_store *st, int which, const char *sql,
    const struct pg_args *a, struct mr_err *err, const char *what)
{
	char name[16];
	PGresult *res;
	int n = a ? a->n : 0, sent;

	if (pg_ready(st, err) < 0)
		return NULL;
	if (which >= 0) {
		snprintf(name, sizeof(name), "mr%d", which);
		if (!(st->prepared & (UINT64_C(1) << which))) {
			if (!PQsendPrepare(st->conn, name, pg_sql[which], n,
			    NULL))
				return pg_fail(st, NULL, err, what), NULL;
			if ((res = pg_wait(st, err, what)) == NULL)
				return NULL;
			if (PQresultStatus(res) != PGRES_COMMAND_OK) {
				pg_fail(st, res, err, what);
				PQclear(res);
				return NULL;
			}
			PQclear(res);
			st->prepared |= UINT64_C(1) << which;
		}
		sent = PQsendQueryPrepared(st->conn, name, n, a ? a->v : NULL,
		    NULL, NULL, 0);
	} else if (a == NULL) {
		sent = PQsendQuery(st->conn, sql);
	} else {
		sent = PQsendQueryParams(st->conn, sql, n, NULL, a->v, NULL,
		    NULL, 0);
	}
	if (!sent)
		return pg_fail(st, NULL, err, what), NULL;
	if ((res = pg_wait(st, err, what)) == NULL)
		return NULL;
	if (PQresultStatus(res) != PGRES_COMMAND_OK &&
	    PQresultStatus(res) != PGRES_TUPLES_OK) {
		pg_fail(st, res, err, what);
		PQclear(res);
		return NULL;
	}
	return res;
}

/* A statement whose rows are not wanted: rows changed, or -1. */
static int64_t
pg_cmd(struct pg_store *st, int which, const char *sql,
    const struct pg_args *a, struct mr_err *err, const char *what)
{
	PGresult *res = pg_run(st, which, sql, a, err, what);
	int64_t n;

	if (res == NULL)
		return -1;
	n = strtoll(PQcmdTuples(res), NULL, 10);
	PQclear(res);
	return n;
}

static int
pg_begin(struct pg_store *st, struct mr_err *err, const char *what)
{
	if (pg_cmd(st, -1, "BEGIN", NULL, err, what) < 0)
		return -1;
	st->in_tx = 1;
	return 0;
}

static void
pg_rollback(struct pg_store *st)
{
	struct mr_err ignored;

	if (st->in_tx && st->conn != NULL)
		pg_cmd(st, -1, "ROLLBACK", NULL, &ignored, "rollback");
	st->in_tx = 0;
}

static int
pg_commit(struct pg_store *st, struct mr_err *err, const char *what)
{
	int64_t rc = pg_cmd(st, -1, "COMMIT", NULL, err, what);

	if (rc < 0) {
		pg_rollback(st);
		return -1;
	}
	st->in_tx = 0;
	return 0;
}

/* Ends a transaction that decided rc: commits an OK, rolls back the rest. */
static enum mr_store_rc
pg_end(struct pg_store *st, enum mr_store_rc rc, struct mr_err *err,
    const char *what)
{
	if (rc == MR_STORE_OK)
		return pg_commit(st, err, what) < 0 ? MR_STORE_UNAVAILABLE :
		    MR_STORE_OK;
	pg_rollback(st);
	return rc;
}

static int
pg_xact_lock(struct pg_store *st, int what_id, const char *key,
    struct mr_err *err)
{
	struct pg_args a = { 0 };

	arg_i(&a, what_id);
	arg_s(&a, key);
	return pg_cmd(st, PS_XACT_LOCK, NULL, &a, err, "lock") < 0 ? -1 : 0;
}

/*
 * Applies the sql/postgres migrations this database has not seen, under an
 * advisory lock so that hosts starting together migrate once.
 * mediarepo_schema.version counts the files applied, as SQLite's
 * user_version does.
 */
static int
pg_migrate(struct pg_store *st, struct mr_err *err)
{
	PGresult *res;
	int version = 0;
	struct mr_err ignored;

	/* The common case, the schema current, costs one read and no lock. */
	if ((res = pg_run(st, -1, "SELECT version FROM mediarepo_schema", NULL,
	    &ignored, "migration")) != NULL) {
		version = PQntuples(res) > 0 ? (int)pg_i64(res, 0, 0) : 0;
		PQclear(res);
		if (version == MR_PG_MIGRATIONS_COUNT) {
			st->migrated = 1;
			return 0;
		}
	} else if (st->conn == NULL) {
		*err = ignored;
		return -1;
	}
	if (pg_begin(st, err, "migration") < 0)
		return -1;
	{
		char sql[96];

		snprintf(sql, sizeof(sql), "SELECT pg_advisory_xact_lock(%"
		    PRId64 ")", PG_LOCK_MIGRATE);
		if (pg_cmd(st, -1, sql, NULL, err, "migration") < 0 ||
		    pg_cmd(st, -1, "CREATE TABLE IF NOT EXISTS mediarepo_schema "
		    "(version INTEGER NOT NULL)", NULL, err, "migration") < 0 ||
		    (res = pg_run(st, -1, "SELECT version FROM mediarepo_schema",
		    NULL, err, "migration")) == NULL)
			goto fail;
	}
	version = PQntuples(res) > 0 ? (int)pg_i64(res, 0, 0) : 0;
	PQclear(res);
	if (version > MR_PG_MIGRATIONS_COUNT) {
		pg_rollback(st);
		return mr_err_set(err, 500, "M_UNKNOWN",
		    "database schema %d is newer than this program (%d)",
		    version, MR_PG_MIGRATIONS_COUNT);
	}
	for (int i = version; i < MR_PG_MIGRATIONS_COUNT; i++)
		if (pg_cmd(st, -1, mr_pg_migrations[i], NULL, err,
		    "migration") < 0)
			goto fail;
	{
		char sql[96];

		snprintf(sql, sizeof(sql), "INSERT INTO mediarepo_schema "
		    "VALUES (%d)", MR_PG_MIGRATIONS_COUNT);
		if (pg_cmd(st, -1, "DELETE FROM mediarepo_schema", NULL, err,
		    "migration") < 0 ||
		    pg_cmd(st, -1, sql, NULL, err, "migration") < 0)
			goto fail;
	}
	if (pg_commit(st, err, "migration") < 0)
		return -1;
	st->migrated = 1;
	return 0;
fail:
	pg_rollback(st);
	return -1;
}

static void
pg_close(void *impl)
{
	struct pg_store *st = impl;

	if (st == NULL)
		return;
	pg_drop(st);
	free(st->url);
	free(st);
}

/*
 * Checks the URL and connects. A server that cannot be reached now is not
 * an error here: a program started while it is down answers 503 until it
 * is back, rather than exiting in a loop. A URL libpq cannot parse, or a
 * schema newer than this program, is.
 */
static int
pg_open(const char *url, void **out, struct mr_err *err)
{
	struct pg_store *st;
	PQconninfoOption *opts;
	char *why = NULL;
	struct mr_err ignored;

	if ((opts = PQconninfoParse(url, &why)) == NULL) {
		char buf[200];

		mr_err_set(err, 500, "M_UNKNOWN", "bad database_url: %s",
		    pg_msg(why ? why : "out of memory", buf, sizeof(buf)));
		PQfreemem(why);
		return -1;
	}
	PQconninfoFree(opts);
	if ((st = calloc(1, sizeof(*st))) == NULL ||
	    (st->url = strdup(url)) == NULL) {
		free(st);
		return mr_err_set(err, 500, "M_UNKNOWN", "out of memory");
	}
	if (pg_connect(st, &ignored) < 0 && ignored.status != 503) {
		*err = ignored;
		pg_close(st);
		return -1;
	}
	*out = st;
	return 0;
}

static int
pg_wanted(const char *path)
{
	return strncmp(path, "postgresql://", 13) == 0 ||
	    strncmp(path, "postgres://", 11) == 0;
}

/* --- media --- */

static void
pg_read_media(const PGresult *res, int row, struct mr_media *m)
{
	memset(m, 0, sizeof(*m));
	pg_copy(res, row, 0, m->mxc.server, sizeof(m->mxc.server));
	pg_copy(res, row, 1, m->mxc.id, sizeof(m->mxc.id));
	pg_copy(res, row, 2, m->sha256, sizeof(m->sha256));
	m->size = pg_i64(res, row, 3);
	pg_copy(res, row, 4, m->content_type, sizeof(m->content_type));
	pg_copy(res, row, 5, m->upload_name, sizeof(m->upload_name));
	pg_copy(res, row, 6, m->user_id, sizeof(m->user_id));
	m->created_ts = pg_i64(res, row, 7);
	m->expires_ts = pg_i64(res, row, 8);
	m->quarantined = (int)pg_i64(res, row, 9);
	m->authenticated = (int)pg_i64(res, row, 10);
	m->last_access_ts = pg_i64(res, row, 11);
	pg_copy(res, row, 12, m->quarantined_by, sizeof(m->quarantined_by));
	m->safe_from_quarantine = (int)pg_i64(res, row, 13);
}

static void
arg_mxc(struct pg_args *a, const struct mr_mxc *mxc)
{
	arg_s(a, mxc->server);
	arg_s(a, mxc->id);
}

static enum mr_store_rc
pg_media_get(void *impl, const struct mr_mxc *mxc, struct mr_media *out,
    struct mr_err *err)
{
	struct pg_args a = { 0 };
	PGresult *res;
	enum mr_store_rc rc = MR_STORE_NOT_FOUND;

	arg_mxc(&a, mxc);
	if ((res = pg_run(impl, PS_MEDIA_GET, NULL, &a, err,
	    "media lookup")) == NULL)
		return MR_STORE_UNAVAILABLE;
	if (PQntuples(res) > 0) {
		pg_read_media(res, 0, out);
		out->mxc = *mxc;
		rc = MR_STORE_OK;
	}
	PQclear(res);
	return rc;
}

/* server, id, sha256, size, content type, upload name: $1 to $6. */
static void
arg_media(struct pg_args *a, const struct mr_media *m)
{
	arg_mxc(a, &m->mxc);
	arg_sn(a, m->sha256);
	arg_i(a, m->size);
	arg_sn(a, m->content_type);
	arg_sn(a, m->upload_name);
}

static enum mr_store_rc
pg_media_insert(void *impl, const struct mr_media *m, struct mr_err *err)
{
	struct pg_args a = { 0 };
	int64_t n;

	arg_media(&a, m);
	arg_sn(&a, m->user_id);
	arg_i(&a, m->created_ts);
	if (m->expires_ts > 0)
		arg_i(&a, m->expires_ts);
	else
		arg_s(&a, NULL);
	arg_i(&a, m->authenticated ? 1 : 0);
	arg_i(&a, m->quarantined ? 1 : 0);
	if (m->last_access_ts > 0)
		arg_i(&a, m->last_access_ts);
	else
		arg_s(&a, NULL);
	arg_sn(&a, m->quarantined_by);
	arg_i(&a, m->safe_from_quarantine ? 1 : 0);
	if ((n = pg_cmd(impl, PS_MEDIA_INSERT, NULL, &a, err,
	    "media insert")) < 0)
		return MR_STORE_UNAVAILABLE;
	return n == 0 ? MR_STORE_CONFLICT : MR_STORE_OK;
}

static enum mr_store_rc
pg_media_create_pending(void *impl, const struct mr_media *m,
    int64_t max_pending, int64_t now_ms, int64_t *retry_after_ms,
    struct mr_err *err)
{
	struct pg_store *st = impl;
	struct pg_args a = { 0 };
	enum mr_store_rc rc = MR_STORE_UNAVAILABLE;
	PGresult *res;
	int64_t count, oldest;

	/* The user's lock makes count-then-insert one step on every host. */
	if (pg_begin(st, err, "create") < 0)
		return MR_STORE_UNAVAILABLE;
	if (pg_xact_lock(st, PG_LOCK_PENDING, m->user_id, err) < 0)
		return pg_end(st, rc, err, "create");
	arg_s(&a, m->user_id);
	arg_i(&a, now_ms);
	if ((res = pg_run(st, PS_MEDIA_COUNT_PENDING, NULL, &a, err,
	    "create")) == NULL)
		return pg_end(st, rc, err, "create");
	count = pg_i64(res, 0, 0);
	oldest = pg_i64(res, 0, 1);
	PQclear(res);
	if (count >= max_pending) {
		*retry_after_ms = oldest > now_ms ? oldest - now_ms : 1000;
		return pg_end(st, MR_STORE_BUSY, err, "create");
	}
	rc = pg_media_insert(st, m, err);
	return pg_end(st, rc, err, "create");
}

static enum mr_store_rc
pg_media_complete(void *impl, const struct mr_media *m, struct mr_err *err)
{
	struct pg_args a = { 0 };
	int64_t n;

	arg_media(&a, m);
	if ((n = pg_cmd(impl, PS_MEDIA_COMPLETE, NULL, &a, err,
	    "media complete")) < 0)
		return MR_STORE_UNAVAILABLE;
	return n == 0 ? MR_STORE_CONFLICT : MR_STORE_OK;
}

/* --- thumbnails --- */

static void
arg_box(struct pg_args *a, const struct mr_mxc *mxc, uint32_t width,
    uint32_t height, int crop, int animated)
{
	arg_mxc(a, mxc);
	arg_i(a, width);
	arg_i(a, height);
	arg_s(a, crop ? "crop" : "scale");
	arg_i(a, animated ? 1 : 0);
}

static enum mr_store_rc
pg_thumb_get(void *impl, const struct mr_mxc *mxc, uint32_t width,
    uint32_t height, int crop, int animated, struct mr_thumb_row *out,
    struct mr_err *err)
{
	struct pg_args a = { 0 };
	PGresult *res;
	enum mr_store_rc rc = MR_STORE_NOT_FOUND;

	arg_box(&a, mxc, width, height, crop, animated);
	if ((res = pg_run(impl, PS_THUMB_GET, NULL, &a, err,
	    "thumbnail lookup")) == NULL)
		return MR_STORE_UNAVAILABLE;
	if (PQntuples(res) > 0) {
		memset(out, 0, sizeof(*out));
		out->mxc = *mxc;
		out->width = width;
		out->height = height;
		out->crop = crop;
		out->animated = animated;
		pg_copy(res, 0, 0, out->sha256, sizeof(out->sha256));
		out->size = pg_i64(res, 0, 1);
		pg_copy(res, 0, 2, out->content_type, sizeof(out->content_type));
		out->actual_width = (uint32_t)pg_i64(res, 0, 3);
		out->actual_height = (uint32_t)pg_i64(res, 0, 4);
		out->dynamic = (int)pg_i64(res, 0, 5);
		rc = MR_STORE_OK;
	}
	PQclear(res);
	return rc;
}

static enum mr_store_rc
pg_thumb_put(void *impl, const struct mr_thumb_row *t, struct mr_err *err)
{
	struct pg_args a = { 0 };

	arg_box(&a, &t->mxc, t->width, t->height, t->crop, t->animated);
	arg_s(&a, t->sha256);
	arg_i(&a, t->size);
	arg_s(&a, t->content_type);
	arg_i(&a, t->actual_width);
	arg_i(&a, t->actual_height);
	arg_i(&a, t->dynamic ? 1 : 0);
	arg_i(&a, mr_now_ms());
	return pg_cmd(impl, PS_THUMB_PUT, NULL, &a, err, "thumbnail insert") < 0 ?
	    MR_STORE_UNAVAILABLE : MR_STORE_OK;
}

static enum mr_store_rc
pg_thumb_put_capped(void *impl, const struct mr_thumb_row *t, int64_t cap,
    struct mr_err *err)
{
	struct pg_store *st = impl;
	struct pg_args a = { 0 };
	char key[MR_SERVER_NAME_MAX + MR_MEDIA_ID_MAX + 2];
	PGresult *res;
	int64_t count;

	snprintf(key, sizeof(key), "%s/%s", t->mxc.server, t->mxc.id);
	if (pg_begin(st, err, "thumbnail insert") < 0)
		return MR_STORE_UNAVAILABLE;
	if (pg_xact_lock(st, PG_LOCK_THUMBS, key, err) < 0)
		return pg_end(st, MR_STORE_UNAVAILABLE, err, "thumbnail insert");
	arg_mxc(&a, &t->mxc);
	if ((res = pg_run(st, PS_THUMB_COUNT_DYNAMIC, NULL, &a, err,
	    "thumbnail count")) == NULL)
		return pg_end(st, MR_STORE_UNAVAILABLE, err, "thumbnail insert");
	count = pg_i64(res, 0, 0);
	PQclear(res);
	if (count >= cap)
		return pg_end(st, MR_STORE_BUSY, err, "thumbnail insert");
	return pg_end(st, pg_thumb_put(st, t, err), err, "thumbnail insert");
}

/* --- federation --- */

static enum mr_store_rc
pg_server_key_get(void *impl, const char *server, const char *key_id,
    int64_t now_ms, char public_key[64], struct mr_err *err)
{
	struct pg_args a = { 0 };
	PGresult *res;
	enum mr_store_rc rc = MR_STORE_NOT_FOUND;

	arg_s(&a, server);
	arg_s(&a, key_id);
	arg_i(&a, now_ms);
	if ((res = pg_run(impl, PS_KEY_GET, NULL, &a, err,
	    "server key lookup")) == NULL)
		return MR_STORE_UNAVAILABLE;
	if (PQntuples(res) > 0) {
		pg_copy(res, 0, 0, public_key, 64);
		rc = MR_STORE_OK;
	}
	PQclear(res);
	return rc;
}

static enum mr_store_rc
pg_server_key_put(void *impl, const char *server, const char *key_id,
    const char *public_key, int64_t expires_ts, struct mr_err *err)
{
	struct pg_args a = { 0 };

	arg_s(&a, server);
	arg_s(&a, key_id);
	arg_s(&a, public_key);
	arg_i(&a, expires_ts);
	return pg_cmd(impl, PS_KEY_PUT, NULL, &a, err, "server key insert") < 0 ?
	    MR_STORE_UNAVAILABLE : MR_STORE_OK;
}

static enum mr_store_rc
pg_server_key_claim_fetch(void *impl, const char *server, int64_t now_ms,
    int64_t min_interval_ms, struct mr_err *err)
{
	struct pg_args a = { 0 };
	int64_t n;

	arg_s(&a, server);
	arg_i(&a, now_ms);
	arg_i(&a, min_interval_ms);
	if ((n = pg_cmd(impl, PS_KEY_CLAIM, NULL, &a, err,
	    "key fetch claim")) < 0)
		return MR_STORE_UNAVAILABLE;
	return n > 0 ? MR_STORE_OK : MR_STORE_BUSY;
}

static enum mr_store_rc
pg_well_known_get(void *impl, const char *server, int64_t now_ms,
    char delegated[MR_SERVER_NAME_MAX + 1], struct mr_err *err)
{
	struct pg_args a = { 0 };
	PGresult *res;
	enum mr_store_rc rc = MR_STORE_NOT_FOUND;

	arg_s(&a, server);
	arg_i(&a, now_ms);
	if ((res = pg_run(impl, PS_WK_GET, NULL, &a, err,
	    "well-known lookup")) == NULL)
		return MR_STORE_UNAVAILABLE;
	if (PQntuples(res) > 0) {
		pg_copy(res, 0, 0, delegated, MR_SERVER_NAME_MAX + 1);
		rc = MR_STORE_OK;
	}
	PQclear(res);
	return rc;
}

static enum mr_store_rc
pg_well_known_put(void *impl, const char *server, const char *delegated,
    int64_t expires_ts, struct mr_err *err)
{
	struct pg_args a = { 0 };

	arg_s(&a, server);
	arg_sn(&a, delegated);
	arg_i(&a, expires_ts);
	return pg_cmd(impl, PS_WK_PUT, NULL, &a, err, "well-known insert") < 0 ?
	    MR_STORE_UNAVAILABLE : MR_STORE_OK;
}

/* --- leases --- */

/*
 * The kind column: the known kinds by name, others by number, so a kind
 * added to store.h works here without a change or a migration.
 */
static const char *
pg_lease_kind(enum mr_store_lease_kind kind, char buf[24])
{
	if (kind == MR_STORE_LEASE_REMOTE_MEDIA)
		return "remote_media";
	if (kind == MR_STORE_LEASE_PREVIEW)
		return "preview";
	if (kind == MR_STORE_LEASE_THUMBNAIL)
		return "thumbnail";
	snprintf(buf, 24, "kind%d", (int)kind);
	return buf;
}

/*
 * One upsert takes a free or lapsed lease; when it changes nothing the row
 * is read to say why. A row that lapsed or went between the two reads is
 * BUSY: the caller waits a moment and takes again.
 */
static enum mr_store_rc
pg_lease_take(void *impl, enum mr_store_lease_kind kind, const char *key,
    int64_t now_ms, int64_t lease_ms, struct mr_store_outcome *done,
    struct mr_err *err)
{
	struct pg_args a = { 0 };
	char kbuf[24], state[16];
	enum mr_store_rc rc = MR_STORE_BUSY;
	PGresult *res;
	int64_t n;

	memset(done, 0, sizeof(*done));
	arg_s(&a, pg_lease_kind(kind, kbuf));
	arg_s(&a, key);
	arg_i(&a, now_ms);
	arg_i(&a, now_ms + lease_ms);
	if ((n = pg_cmd(impl, PS_LEASE_TAKE, NULL, &a, err, "lease")) < 0)
		return MR_STORE_UNAVAILABLE;
	if (n > 0)
		return MR_STORE_OK;
	a.n = 2;
	if ((res = pg_run(impl, PS_LEASE_GET, NULL, &a, err, "lease")) == NULL)
		return MR_STORE_UNAVAILABLE;
	if (PQntuples(res) > 0 && pg_i64(res, 0, 1) > now_ms) {
		int status = (int)pg_i64(res, 0, 2);

		pg_copy(res, 0, 0, state, sizeof(state));
		if (strcmp(state, "failed") == 0) {
			mr_err_set(&done->failure, status > 0 ? status : 502,
			    mr_store_errcode(PQgetvalue(res, 0, 3)), "%s",
			    PQgetvalue(res, 0, 4));
			rc = MR_STORE_CONFLICT;
		} else if (strcmp(state, "done") == 0) {
			done->body = strdup(PQgetisnull(res, 0, 4) ? "{}" :
			    PQgetvalue(res, 0, 4));
			rc = done->body != NULL ? MR_STORE_CONFLICT :
			    mr_err_set(err, 500, "M_UNKNOWN", "out of memory");
		}
	}
	PQclear(res);
	return rc;
}

static enum mr_store_rc
pg_lease_end(void *impl, enum mr_store_lease_kind kind, const char *key,
    const char *body, const struct mr_err *failure, int64_t until_ts,
    struct mr_err *err)
{
	struct pg_args a = { 0 };
	char kbuf[24];

	arg_s(&a, pg_lease_kind(kind, kbuf));
	arg_s(&a, key);
	/* Nothing to keep: the row goes, and the next caller takes it. */
	if (until_ts <= 0 || (failure == NULL && body == NULL))
		return pg_cmd(impl, PS_LEASE_DELETE, NULL, &a, err,
		    "lease end") < 0 ? MR_STORE_UNAVAILABLE : MR_STORE_OK;
	arg_s(&a, failure ? "failed" : "done");
	arg_i(&a, until_ts);
	arg_i(&a, failure ? failure->status : 0);
	arg_sn(&a, failure ? failure->errcode : NULL);
	arg_s(&a, failure ? failure->msg : body);
	return pg_cmd(impl, PS_LEASE_PUT, NULL, &a, err, "lease end") < 0 ?
	    MR_STORE_UNAVAILABLE : MR_STORE_OK;
}

/* --- operator tool --- */

/*
 * Calls fn on each media row matching where (whose parameters, $1 to
 * $n, fixed holds), oldest first, by pages keyed on (created_ts,
 * server_name, media_id).
 */
static enum mr_store_rc
pg_media_pages(struct pg_store *st, const char *where,
    const struct pg_args *fixed, void (*fn)(const struct mr_media *, void *),
    void *arg, struct mr_err *err)
{
	struct mr_media m;
	struct pg_args a;
	char sql[1024], server[MR_SERVER_NAME_MAX + 1] = "",
	    id[MR_MEDIA_ID_MAX + 1] = "";
	int64_t created = INT64_MIN;	/* below every row */
	PGresult *res;
	int n;

	snprintf(sql, sizeof(sql), "SELECT " PG_MEDIA_COLS " FROM media "
	    "WHERE %s AND (created_ts, server_name, media_id) > "
	    "($%d::bigint, $%d, $%d) ORDER BY created_ts, server_name, "
	    "media_id LIMIT %d", where, fixed->n + 1, fixed->n + 2,
	    fixed->n + 3, PG_PAGE);
	do {
		/* The fixed numbers are printed in fixed, which outlives a. */
		a = *fixed;
		arg_i(&a, created);
		arg_s(&a, server);
		arg_s(&a, id);
		if ((res = pg_run(st, -1, sql, &a, err, "media list")) == NULL)
			return MR_STORE_UNAVAILABLE;
		n = PQntuples(res);
		for (int i = 0; i < n; i++) {
			pg_read_media(res, i, &m);
			fn(&m, arg);
			created = m.created_ts;
			snprintf(server, sizeof(server), "%s", m.mxc.server);
			snprintf(id, sizeof(id), "%s", m.mxc.id);
		}
		PQclear(res);
	} while (n == PG_PAGE);
	return MR_STORE_OK;
}

static enum mr_store_rc
pg_media_list_user(void *impl, const char *user_id,
    void (*fn)(const struct mr_media *, void *), void *arg,
    struct mr_err *err)
{
	struct pg_args a = { 0 };

	arg_s(&a, user_id);
	return pg_media_pages(impl, "user_id = $1 AND sha256 IS NOT NULL", &a,
	    fn, arg, err);
}

static enum mr_store_rc
pg_media_list_remote(void *impl, const char *local_server, int64_t before_ts,
    void (*fn)(const struct mr_media *, void *), void *arg,
    struct mr_err *err)
{
	struct pg_args a = { 0 };

	arg_s(&a, local_server);
	arg_i(&a, before_ts);
	return pg_media_pages(impl, "server_name != $1 AND "
	    "created_ts < $2::bigint", &a, fn, arg, err);
}

#define PG_THUMB_COLS \
	"server_name, media_id, width, height, method, animated, sha256, " \
	"size, content_type, actual_width, actual_height, dynamic"

static void
pg_read_thumb(const PGresult *res, int i, struct mr_thumb_row *t)
{
	memset(t, 0, sizeof(*t));
	pg_copy(res, i, 0, t->mxc.server, sizeof(t->mxc.server));
	pg_copy(res, i, 1, t->mxc.id, sizeof(t->mxc.id));
	t->width = (uint32_t)pg_i64(res, i, 2);
	t->height = (uint32_t)pg_i64(res, i, 3);
	t->crop = strcmp(PQgetvalue(res, i, 4), "crop") == 0;
	t->animated = (int)pg_i64(res, i, 5);
	pg_copy(res, i, 6, t->sha256, sizeof(t->sha256));
	t->size = pg_i64(res, i, 7);
	pg_copy(res, i, 8, t->content_type, sizeof(t->content_type));
	t->actual_width = (uint32_t)pg_i64(res, i, 9);
	t->actual_height = (uint32_t)pg_i64(res, i, 10);
	t->dynamic = (int)pg_i64(res, i, 11);
}

static enum mr_store_rc
pg_thumb_list(void *impl, const struct mr_mxc *mxc,
    void (*fn)(const struct mr_thumb_row *, void *), void *arg,
    struct mr_err *err)
{
	struct pg_args a = { 0 };
	struct mr_thumb_row t;
	PGresult *res;

	arg_mxc(&a, mxc);
	if ((res = pg_run(impl, -1, "SELECT " PG_THUMB_COLS " FROM thumbnails "
	    "WHERE server_name = $1 AND media_id = $2 "
	    "ORDER BY width, height, method, animated", &a, err,
	    "thumbnail list")) == NULL)
		return MR_STORE_UNAVAILABLE;
	for (int i = 0; i < PQntuples(res); i++) {
		pg_read_thumb(res, i, &t);
		fn(&t, arg);
	}
	PQclear(res);
	return MR_STORE_OK;
}

/* Calls fn (may be NULL) with the first column of every row sql gives. */
static int
pg_each_text(struct pg_store *st, const char *sql, const struct pg_args *a,
    void (*fn)(const char *, void *), void *arg, struct mr_err *err,
    const char *what)
{
	PGresult *res;

	if ((res = pg_run(st, -1, sql, a, err, what)) == NULL)
		return -1;
	for (int i = 0; fn != NULL && i < PQntuples(res); i++)
		if (!PQgetisnull(res, i, 0))
			fn(PQgetvalue(res, i, 0), arg);
	PQclear(res);
	return 0;
}

static enum mr_store_rc
pg_media_delete(void *impl, const struct mr_mxc *mxc,
    void (*fn)(const char *sha256, void *), void *arg, struct mr_err *err)
{
	struct pg_store *st = impl;
	struct pg_args a = { 0 };
	char key[MR_SERVER_NAME_MAX + MR_MEDIA_ID_MAX + 2];
	enum mr_store_rc rc;
	struct mr_media m;

	if (pg_begin(st, err, "media delete") < 0)
		return MR_STORE_UNAVAILABLE;
	if ((rc = pg_media_get(st, mxc, &m, err)) != MR_STORE_OK)
		return pg_end(st, rc, err, "media delete");
	/* The hashes are read inside the transaction that drops their rows,
	 * so none is missed by a thumbnail added meanwhile. */
	if (fn != NULL && m.sha256[0] != '\0')
		fn(m.sha256, arg);
	arg_mxc(&a, mxc);
	snprintf(key, sizeof(key), "%s/%s", mxc->server, mxc->id);
	if (pg_each_text(st, "SELECT DISTINCT sha256 FROM thumbnails "
	    "WHERE server_name = $1 AND media_id = $2", &a, fn, arg, err,
	    "media delete") < 0 ||
	    pg_cmd(st, -1, "DELETE FROM thumbnails WHERE server_name = $1 "
	    "AND media_id = $2", &a, err, "media delete") < 0 ||
	    pg_cmd(st, -1, "DELETE FROM media WHERE server_name = $1 "
	    "AND media_id = $2", &a, err, "media delete") < 0)
		return pg_end(st, MR_STORE_UNAVAILABLE, err, "media delete");
	a.n = 0;
	arg_s(&a, "remote_media");
	arg_s(&a, key);
	if (pg_cmd(st, PS_LEASE_DELETE, NULL, &a, err, "media delete") < 0)
		return pg_end(st, MR_STORE_UNAVAILABLE, err, "media delete");
	return pg_end(st, MR_STORE_OK, err, "media delete");
}

static enum mr_store_rc
pg_blob_referenced(void *impl, const char *sha256, struct mr_err *err)
{
	struct pg_args a = { 0 };
	PGresult *res;
	enum mr_store_rc rc;

	arg_s(&a, sha256);
	if ((res = pg_run(impl, -1, "SELECT EXISTS (SELECT 1 FROM media "
	    "WHERE sha256 = $1) OR EXISTS (SELECT 1 FROM thumbnails "
	    "WHERE sha256 = $1)", &a, err, "blob reference")) == NULL)
		return MR_STORE_UNAVAILABLE;
	rc = strcmp(PQgetvalue(res, 0, 0), "t") == 0 ? MR_STORE_OK :
	    MR_STORE_NOT_FOUND;
	PQclear(res);
	return rc;
}

/*
 * Calls fn for each hash the first column of sql gives: a page of at most
 * $2 (PG_PAGE) distinct hashes in ascending order after $1, page after
 * page.
 */
static enum mr_store_rc
pg_hash_pages(struct pg_store *st, const char *sql,
    void (*fn)(const char *, void *), void *arg, struct mr_err *err,
    const char *what)
{
	char last[65] = "";	/* below every hash */
	struct pg_args a;
	PGresult *res;
	int n;

	do {
		memset(&a, 0, sizeof(a));
		arg_s(&a, last);
		arg_i(&a, PG_PAGE);
		if ((res = pg_run(st, -1, sql, &a, err, what)) == NULL)
			return MR_STORE_UNAVAILABLE;
		n = PQntuples(res);
		for (int i = 0; i < n; i++) {
			fn(PQgetvalue(res, i, 0), arg);
			pg_copy(res, i, 0, last, sizeof(last));
		}
		PQclear(res);
	} while (n == PG_PAGE);
	return MR_STORE_OK;
}

/* Each branch is cut to a page first: the union's page lies in them. */
static enum mr_store_rc
pg_blob_refs(void *impl, void (*fn)(const char *sha256, void *), void *arg,
    struct mr_err *err)
{
	return pg_hash_pages(impl, "SELECT sha256 FROM ("
	    "(SELECT DISTINCT sha256 FROM media WHERE sha256 > $1 "
	    "ORDER BY sha256 LIMIT $2) UNION "
	    "(SELECT DISTINCT sha256 FROM thumbnails WHERE sha256 > $1 "
	    "ORDER BY sha256 LIMIT $2)) x ORDER BY sha256 LIMIT $2", fn, arg,
	    err, "blob references");
}

/*
 * One statement of a quarantine: fmt holds %s for the WHERE clause of
 * the selection ($1, $2 for a media; $1 for a hash or a user) and %d for
 * the number of the time parameter that follows them.
 */
static int64_t
pg_sel_exec(struct pg_store *st, const char *fmt,
    const struct mr_store_sel *sel, int with_now, struct mr_err *err)
{
	struct pg_args a = { 0 };
	char sql[600];
	const char *where;

	if (sel->mxc != NULL) {
		where = "server_name = $1 AND media_id = $2";
		arg_mxc(&a, sel->mxc);
	} else {
		where = sel->sha256 ? "sha256 = $1" : "user_id = $1";
		arg_s(&a, sel->sha256 ? sel->sha256 : sel->user_id);
	}
	if (with_now)
		arg_i(&a, mr_now_ms());
	snprintf(sql, sizeof(sql), fmt, where, a.n);
	return pg_cmd(st, -1, sql, &a, err, "quarantine");
}

static enum mr_store_rc
pg_quarantine(void *impl, const struct mr_store_sel *sel, int on,
    int64_t *count, struct mr_err *err)
{
	struct pg_store *st = impl;
	enum mr_store_rc rc;
	struct mr_media m;
	int64_t n;

	*count = 0;
	if (pg_begin(st, err, "quarantine") < 0)
		return MR_STORE_UNAVAILABLE;
	if (sel->mxc != NULL &&
	    (rc = pg_media_get(st, sel->mxc, &m, err)) != MR_STORE_OK)
		return pg_end(st, rc, err, "quarantine");
	/* A row without a name of its own takes the name of whoever
	 * quarantined another copy of its bytes (as store_sqlite.c). */
	if ((n = pg_sel_exec(st, on ?
	    "UPDATE media SET quarantined = 1, quarantined_by = "
	    "COALESCE(media.quarantined_by, (SELECT o.quarantined_by FROM "
	    "media o WHERE o.sha256 = media.sha256 AND o.quarantined = 1 AND "
	    "o.quarantined_by IS NOT NULL ORDER BY o.created_ts, o.media_id "
	    "LIMIT 1)) WHERE %s /* %d */" :
	    "UPDATE media SET quarantined = 0, quarantined_by = NULL "
	    "WHERE %s /* %d */", sel, 0, err)) < 0)
		return pg_end(st, MR_STORE_UNAVAILABLE, err, "quarantine");
	*count = n;
	if (on && sel->sha256 != NULL)
		n = pg_sel_exec(st, "INSERT INTO quarantined_hashes (sha256, "
		    "created_ts) VALUES ($1, $2::bigint) ON CONFLICT DO NOTHING "
		    "/* %s, %d */", sel, 1, err);
	else if (on)
		n = pg_sel_exec(st, "INSERT INTO quarantined_hashes (sha256, "
		    "created_ts) SELECT DISTINCT sha256, $%2$d::bigint FROM media "
		    "WHERE %1$s AND sha256 IS NOT NULL ON CONFLICT DO NOTHING",
		    sel, 1, err);
	else if (sel->sha256 != NULL)
		n = pg_cmd(st, -1, "DELETE FROM quarantined_hashes "
		    "WHERE sha256 = $1", &(struct pg_args){ .n = 1,
		    .v = { sel->sha256 } }, err, "quarantine");
	else
		/* Another quarantined copy keeps the bytes banned. */
		n = pg_sel_exec(st, "DELETE FROM quarantined_hashes WHERE "
		    "sha256 IN (SELECT sha256 FROM media WHERE %s) AND NOT EXISTS "
		    "(SELECT 1 FROM media WHERE media.sha256 = "
		    "quarantined_hashes.sha256 AND quarantined = 1) /* %d */",
		    sel, 0, err);
	return pg_end(st, n < 0 ? MR_STORE_UNAVAILABLE : MR_STORE_OK, err,
	    "quarantine");
}

static enum mr_store_rc
pg_hash_quarantined(void *impl, const char *sha256, struct mr_err *err)
{
	struct pg_args a = { 0 };
	PGresult *res;
	enum mr_store_rc rc;

	arg_s(&a, sha256);
	if ((res = pg_run(impl, PS_QH_CHECK, NULL, &a, err,
	    "quarantine check")) == NULL)
		return MR_STORE_UNAVAILABLE;
	rc = PQntuples(res) > 0 ? MR_STORE_OK : MR_STORE_NOT_FOUND;
	PQclear(res);
	return rc;
}

static enum mr_store_rc
pg_preview_purge(void *impl, int64_t *count, struct mr_err *err)
{
	*count = pg_cmd(impl, -1, "DELETE FROM leases WHERE kind = 'preview'",
	    NULL, err, "preview purge");
	if (*count < 0) {
		*count = 0;
		return MR_STORE_UNAVAILABLE;
	}
	return MR_STORE_OK;
}

/* One pass over media with a FILTER per count, one over thumbnails. */
static enum mr_store_rc
pg_stats(void *impl, const char *local_server, struct mr_store_stats *out,
    struct mr_err *err)
{
	struct mr_store_count *c[] = { &out->local, &out->remote,
	    &out->pending, &out->quarantined, &out->thumbnails };
	struct pg_args a = { 0 };
	PGresult *res;

	memset(out, 0, sizeof(*out));
	arg_s(&a, local_server);
	if ((res = pg_run(impl, -1, "WITH m AS (SELECT "
	    "count(*) FILTER (WHERE l AND done), "
	    "coalesce(sum(size) FILTER (WHERE l AND done), 0), "
	    "count(*) FILTER (WHERE NOT l AND done), "
	    "coalesce(sum(size) FILTER (WHERE NOT l AND done), 0), "
	    "count(*) FILTER (WHERE NOT done), 0, "
	    "count(*) FILTER (WHERE quarantined = 1), "
	    "coalesce(sum(size) FILTER (WHERE quarantined = 1), 0) "
	    "FROM (SELECT server_name = $1 AS l, sha256 IS NOT NULL AS done, "
	    "size, quarantined FROM media) x) "
	    "SELECT m.*, t.* FROM m, (SELECT count(*), coalesce(sum(size), 0) "
	    "FROM thumbnails) t", &a, err, "stats")) == NULL)
		return MR_STORE_UNAVAILABLE;
	for (int i = 0; i < 5; i++) {
		c[i]->count = pg_i64(res, 0, 2 * i);
		c[i]->bytes = pg_i64(res, 0, 2 * i + 1);
	}
	PQclear(res);
	return MR_STORE_OK;
}

static enum mr_store_rc
pg_top_users(void *impl, const char *local_server, int n,
    void (*fn)(const char *user_id, const struct mr_store_count *, void *),
    void *arg, struct mr_err *err)
{
	struct pg_args a = { 0 };
	struct mr_store_count c;
	PGresult *res;

	arg_s(&a, local_server);
	arg_i(&a, n);
	if ((res = pg_run(impl, -1, "SELECT user_id, count(*), sum(size) "
	    "FROM media WHERE server_name = $1 AND sha256 IS NOT NULL AND "
	    "user_id IS NOT NULL GROUP BY user_id ORDER BY sum(size) DESC, "
	    "user_id LIMIT $2", &a, err, "top users")) == NULL)
		return MR_STORE_UNAVAILABLE;
	for (int i = 0; i < PQntuples(res); i++) {
		c.count = pg_i64(res, i, 1);
		c.bytes = pg_i64(res, i, 2);
		fn(PQgetvalue(res, i, 0), &c, arg);
	}
	PQclear(res);
	return MR_STORE_OK;
}

/* --- tokens --- */

static enum mr_store_rc
pg_token_add(void *impl, const char *token_hash, const char *user_id,
    int is_guest, struct mr_err *err)
{
	struct pg_args a = { 0 };

	arg_s(&a, token_hash);
	arg_s(&a, user_id);
	arg_i(&a, is_guest ? 1 : 0);
	arg_i(&a, mr_now_ms());
	return pg_cmd(impl, PS_TOKEN_ADD, NULL, &a, err, "token insert") < 0 ?
	    MR_STORE_UNAVAILABLE : MR_STORE_OK;
}

static enum mr_store_rc
pg_token_lookup(void *impl, const char *token_hash,
    struct mr_token_info *out, struct mr_err *err)
{
	struct pg_args a = { 0 };
	PGresult *res;
	enum mr_store_rc rc = MR_STORE_NOT_FOUND;

	arg_s(&a, token_hash);
	if ((res = pg_run(impl, PS_TOKEN_LOOKUP, NULL, &a, err,
	    "token lookup")) == NULL)
		return MR_STORE_UNAVAILABLE;
	if (PQntuples(res) > 0) {
		pg_copy(res, 0, 0, out->user_id, sizeof(out->user_id));
		out->is_guest = (int)pg_i64(res, 0, 1);
		out->created_ts = pg_i64(res, 0, 2);
		snprintf(out->token_hash, sizeof(out->token_hash), "%s",
		    token_hash);
		rc = MR_STORE_OK;
	}
	PQclear(res);
	return rc;
}

static enum mr_store_rc
pg_token_revoke(void *impl, const char *token_hash, struct mr_err *err)
{
	struct pg_args a = { 0 };
	int64_t n;

	arg_s(&a, token_hash);
	if ((n = pg_cmd(impl, PS_TOKEN_REVOKE, NULL, &a, err,
	    "token revoke")) < 0)
		return MR_STORE_UNAVAILABLE;
	return n > 0 ? MR_STORE_OK : MR_STORE_NOT_FOUND;
}

/* Oldest first, by pages keyed on (created_ts, token_hash). */
static enum mr_store_rc
pg_token_list(void *impl, void (*fn)(const struct mr_token_info *, void *),
    void *arg, struct mr_err *err)
{
	struct mr_token_info t = { .created_ts = INT64_MIN };
	struct pg_args a;
	PGresult *res;
	int n;

	do {
		memset(&a, 0, sizeof(a));
		arg_i(&a, t.created_ts);
		arg_s(&a, t.token_hash);
		arg_i(&a, PG_PAGE);
		if ((res = pg_run(impl, -1, "SELECT token_hash, user_id, "
		    "is_guest, created_ts FROM access_tokens WHERE "
		    "(created_ts, token_hash) > ($1::bigint, $2) "
		    "ORDER BY created_ts, token_hash LIMIT $3", &a, err,
		    "token list")) == NULL)
			return MR_STORE_UNAVAILABLE;
		n = PQntuples(res);
		for (int i = 0; i < n; i++) {
			pg_copy(res, i, 0, t.token_hash, sizeof(t.token_hash));
			pg_copy(res, i, 1, t.user_id, sizeof(t.user_id));
			t.is_guest = (int)pg_i64(res, i, 2);
			t.created_ts = pg_i64(res, i, 3);
			fn(&t, arg);
		}
		PQclear(res);
	} while (n == PG_PAGE);
	return MR_STORE_OK;
}

/* --- auth = homeserver: the whoami cache --- */

static enum mr_store_rc
pg_hs_auth_get(void *impl, const char *token_hash, int64_t now_ms,
    struct mr_hs_auth *out, struct mr_err *err)
{
	struct pg_args a = { 0 };
	PGresult *res;
	enum mr_store_rc rc = MR_STORE_NOT_FOUND;

	arg_s(&a, token_hash);
	arg_i(&a, now_ms);
	if ((res = pg_run(impl, PS_HS_AUTH_GET, NULL, &a, err,
	    "whoami cache lookup")) == NULL)
		return MR_STORE_UNAVAILABLE;
	if (PQntuples(res) > 0) {
		memset(out, 0, sizeof(*out));
		pg_copy(res, 0, 0, out->user_id, sizeof(out->user_id));
		out->is_guest = (int)pg_i64(res, 0, 1);
		pg_copy(res, 0, 2, out->errcode, sizeof(out->errcode));
		out->soft_logout = (int)pg_i64(res, 0, 3);
		rc = MR_STORE_OK;
	}
	PQclear(res);
	return rc;
}

static enum mr_store_rc
pg_hs_auth_put(void *impl, const char *token_hash, const struct mr_hs_auth *a,
    int64_t now_ms, int64_t expires_ts, struct mr_err *err)
{
	struct pg_args x = { 0 };

	/* Expired rows go on each write; writes only follow a whoami call. */
	arg_i(&x, now_ms);
	if (pg_cmd(impl, PS_HS_AUTH_EXPIRE, NULL, &x, err,
	    "whoami cache expiry") < 0)
		return MR_STORE_UNAVAILABLE;
	x.n = 0;
	arg_s(&x, token_hash);
	arg_sn(&x, a->user_id);
	arg_i(&x, a->is_guest ? 1 : 0);
	arg_sn(&x, a->errcode);
	arg_i(&x, a->soft_logout ? 1 : 0);
	arg_i(&x, expires_ts);
	return pg_cmd(impl, PS_HS_AUTH_PUT, NULL, &x, err,
	    "whoami cache insert") < 0 ? MR_STORE_UNAVAILABLE : MR_STORE_OK;
}

/* --- shared limits --- */

/*
 * The row is made if missing, then locked (FOR UPDATE) for the
 * read-decide-write, so takers on every host queue on it.
 */
static enum mr_store_rc
pg_bucket_take(void *impl, const char *key, int64_t cost, int64_t rate_milli,
    int64_t burst, int64_t now_ms, int force, int64_t *retry_after_ms,
    struct mr_err *err)
{
	struct pg_store *st = impl;
	struct pg_args a = { 0 };
	PGresult *res;
	double level;

	*retry_after_ms = 0;
	if (pg_begin(st, err, "rate limit") < 0)
		return MR_STORE_UNAVAILABLE;
	arg_s(&a, key);
	arg_i(&a, now_ms);
	if (pg_cmd(st, PS_BUCKET_INIT, NULL, &a, err, "rate limit") < 0)
		return pg_end(st, MR_STORE_UNAVAILABLE, err, "rate limit");
	a.n = 1;
	if ((res = pg_run(st, PS_BUCKET_GET, NULL, &a, err,
	    "rate limit")) == NULL)
		return pg_end(st, MR_STORE_UNAVAILABLE, err, "rate limit");
	level = PQntuples(res) > 0 ? mr_store_bucket_level(strtod(
	    PQgetvalue(res, 0, 0), NULL), pg_i64(res, 0, 1), now_ms,
	    rate_milli) : 0.0;
	PQclear(res);
	if (!force && level + (double)cost > (double)burst) {
		double over = level + (double)cost - (double)burst;

		*retry_after_ms = (int64_t)(over * 1e6 / (double)rate_milli) + 1;
		return pg_end(st, MR_STORE_BUSY, err, "rate limit");
	}
	snprintf(a.num[1], sizeof(a.num[1]), "%.17g", level + (double)cost);
	a.v[1] = a.num[1];
	a.n = 2;
	arg_i(&a, now_ms);
	if (pg_cmd(st, PS_BUCKET_PUT, NULL, &a, err, "rate limit") < 0)
		return pg_end(st, MR_STORE_UNAVAILABLE, err, "rate limit");
	return pg_end(st, MR_STORE_OK, err, "rate limit");
}

static enum mr_store_rc
pg_user_upload_bytes(void *impl, const char *user_id, int64_t since_ts,
    int64_t *bytes, struct mr_err *err)
{
	struct pg_args a = { 0 };
	PGresult *res;

	arg_s(&a, user_id);
	arg_i(&a, since_ts);
	if ((res = pg_run(impl, PS_USER_BYTES, NULL, &a, err,
	    "upload usage")) == NULL)
		return MR_STORE_UNAVAILABLE;
	*bytes = pg_i64(res, 0, 0);
	PQclear(res);
	return MR_STORE_OK;
}

static enum mr_store_rc
pg_origin_down(void *impl, const char *origin, int64_t now_ms,
    int64_t *until_ts, struct mr_err *err)
{
	struct pg_args a = { 0 };
	PGresult *res;

	*until_ts = 0;
	arg_s(&a, origin);
	if ((res = pg_run(impl, PS_ORIGIN_GET, NULL, &a, err,
	    "origin health")) == NULL)
		return MR_STORE_UNAVAILABLE;
	if (PQntuples(res) > 0)
		*until_ts = pg_i64(res, 0, 0);
	PQclear(res);
	return *until_ts > now_ms ? MR_STORE_BUSY : MR_STORE_OK;
}

static enum mr_store_rc
pg_origin_result(void *impl, const char *origin, int ok, int64_t now_ms,
    int64_t backoff_ms, struct mr_err *err)
{
	struct pg_args a = { 0 };

	arg_s(&a, origin);
	if (ok)
		return pg_cmd(impl, PS_ORIGIN_DELETE, NULL, &a, err,
		    "origin health") < 0 ? MR_STORE_UNAVAILABLE : MR_STORE_OK;
	arg_i(&a, now_ms);
	arg_i(&a, backoff_ms);
	return pg_cmd(impl, PS_ORIGIN_FAIL, NULL, &a, err, "origin health") < 0 ?
	    MR_STORE_UNAVAILABLE : MR_STORE_OK;
}

/* --- migrate-store --- */

/*
 * Every media row by keyset pages (after the last key seen), so a big
 * table never sits in memory whole and fn may use the store meanwhile.
 */
static enum mr_store_rc
pg_media_each(void *impl, void (*fn)(const struct mr_media *, void *),
    void *arg, struct mr_err *err)
{
	struct mr_media m, last = { 0 };
	struct pg_args a;
	PGresult *res;
	int n;

	do {
		memset(&a, 0, sizeof(a));
		arg_s(&a, last.mxc.server);
		arg_s(&a, last.mxc.id);
		arg_i(&a, PG_PAGE);
		if ((res = pg_run(impl, -1, "SELECT " PG_MEDIA_COLS " FROM media "
		    "WHERE (server_name, media_id) > ($1, $2) "
		    "ORDER BY server_name, media_id LIMIT $3", &a, err,
		    "media list")) == NULL)
			return MR_STORE_UNAVAILABLE;
		n = PQntuples(res);
		for (int i = 0; i < n; i++) {
			pg_read_media(res, i, &m);
			fn(&m, arg);
			last = m;
		}
		PQclear(res);
	} while (n == PG_PAGE);
	return MR_STORE_OK;
}

static enum mr_store_rc
pg_thumb_each(void *impl, void (*fn)(const struct mr_thumb_row *, void *),
    void *arg, struct mr_err *err)
{
	/* The first page starts below every key: '' sorts first. */
	struct mr_thumb_row t, last = { 0 };
	struct pg_args a;
	PGresult *res;
	int n;

	do {
		memset(&a, 0, sizeof(a));
		arg_box(&a, &last.mxc, last.width, last.height, last.crop,
		    last.animated);
		arg_i(&a, PG_PAGE);
		if ((res = pg_run(impl, -1, "SELECT " PG_THUMB_COLS " FROM "
		    "thumbnails WHERE (server_name, media_id, width, height, "
		    "method, animated) > ($1, $2, $3, $4, $5, $6) ORDER BY "
		    "server_name, media_id, width, height, method, animated "
		    "LIMIT $7", &a, err, "thumbnail list")) == NULL)
			return MR_STORE_UNAVAILABLE;
		n = PQntuples(res);
		for (int i = 0; i < n; i++) {
			pg_read_thumb(res, i, &t);
			fn(&t, arg);
			last = t;
		}
		PQclear(res);
	} while (n == PG_PAGE);
	return MR_STORE_OK;
}

static enum mr_store_rc
pg_token_import(void *impl, const struct mr_token_info *t,
    struct mr_err *err)
{
	struct pg_args a = { 0 };
	int64_t n;

	arg_s(&a, t->token_hash);
	arg_s(&a, t->user_id);
	arg_i(&a, t->is_guest ? 1 : 0);
	arg_i(&a, t->created_ts);
	if ((n = pg_cmd(impl, -1, "INSERT INTO access_tokens (token_hash, "
	    "user_id, is_guest, created_ts) VALUES ($1, $2, $3, $4) "
	    "ON CONFLICT DO NOTHING", &a, err, "token import")) < 0)
		return MR_STORE_UNAVAILABLE;
	return n > 0 ? MR_STORE_OK : MR_STORE_CONFLICT;
}

static enum mr_store_rc
pg_quarantined_hash_each(void *impl,
    void (*fn)(const char *sha256, int64_t created_ts, void *), void *arg,
    struct mr_err *err)
{
	char last[65] = "";	/* below every hash */
	struct pg_args a;
	PGresult *res;
	int n;

	do {
		memset(&a, 0, sizeof(a));
		arg_s(&a, last);
		arg_i(&a, PG_PAGE);
		if ((res = pg_run(impl, -1, "SELECT sha256, created_ts FROM "
		    "quarantined_hashes WHERE sha256 > $1 ORDER BY sha256 "
		    "LIMIT $2", &a, err, "quarantined hashes")) == NULL)
			return MR_STORE_UNAVAILABLE;
		n = PQntuples(res);
		for (int i = 0; i < n; i++) {
			fn(PQgetvalue(res, i, 0), pg_i64(res, i, 1), arg);
			pg_copy(res, i, 0, last, sizeof(last));
		}
		PQclear(res);
	} while (n == PG_PAGE);
	return MR_STORE_OK;
}

static enum mr_store_rc
pg_quarantined_hash_add(void *impl, const char *sha256, int64_t created_ts,
    struct mr_err *err)
{
	struct pg_args a = { 0 };
	int64_t n;

	arg_s(&a, sha256);
	arg_i(&a, created_ts);
	if ((n = pg_cmd(impl, -1, "INSERT INTO quarantined_hashes (sha256, "
	    "created_ts) VALUES ($1, $2) ON CONFLICT DO NOTHING", &a, err,
	    "quarantine import")) < 0)
		return MR_STORE_UNAVAILABLE;
	return n > 0 ? MR_STORE_OK : MR_STORE_CONFLICT;
}

/* --- Synapse's admin API and retention --- */

static enum mr_store_rc
pg_media_touch(void *impl, const struct mr_mxc *mxc, int64_t now_ms,
    struct mr_err *err)
{
	struct pg_args a = { 0 };

	arg_mxc(&a, mxc);
	arg_i(&a, now_ms);
	arg_i(&a, now_ms - MR_STORE_ACCESS_GRANULARITY);
	return pg_cmd(impl, PS_MEDIA_TOUCH, NULL, &a, err, "media access") < 0 ?
	    MR_STORE_UNAVAILABLE : MR_STORE_OK;
}

/*
 * One statement of quarantine_as: fmt holds the selection's WHERE clause
 * as %1$s (once or more: $1, $2 for a media, $1 for a hash or a user) and
 * reads the time and the admin from p (p.now_ts, p.by_id), a CTE put in
 * front, so that every statement takes the same parameters and each has
 * a type whether the statement uses it or not. Rows changed, or -1.
 */
static int64_t
pg_sel_exec_as(struct pg_store *st, const char *fmt,
    const struct mr_store_sel *sel, int64_t now_ms, const char *by,
    struct mr_err *err)
{
	struct pg_args a = { 0 };
	char body[1200], sql[1400];
	const char *where;

	if (sel->mxc != NULL) {
		where = "server_name = $1 AND media_id = $2";
		arg_mxc(&a, sel->mxc);
	} else {
		where = sel->sha256 ? "sha256 = $1" : "user_id = $1";
		arg_s(&a, sel->sha256 ? sel->sha256 : sel->user_id);
	}
	arg_i(&a, now_ms);
	arg_sn(&a, by);
	snprintf(body, sizeof(body), fmt, where);
	snprintf(sql, sizeof(sql), "WITH p (now_ts, by_id) AS (SELECT "
	    "$%d::bigint, $%d::text) %s", a.n - 1, a.n, body);
	return pg_cmd(st, -1, sql, &a, err, "quarantine");
}

/*
 * The rows a selection reaches, as in store_sqlite.c: its own and every
 * row with the same bytes; quarantining leaves protected rows (and their
 * bytes) alone.
 */
#define PG_REACH_ON \
	"(%1$s OR sha256 IN (SELECT sha256 FROM media WHERE %1$s AND " \
	"sha256 IS NOT NULL AND safe_from_quarantine = 0))"
#define PG_REACH_OFF \
	"(%1$s OR sha256 IN (SELECT sha256 FROM media WHERE %1$s AND " \
	"sha256 IS NOT NULL))"

static enum mr_store_rc
pg_quarantine_as(void *impl, const struct mr_store_sel *sel, int on,
    const char *by, int64_t now_ms, int64_t *count, struct mr_err *err)
{
	struct pg_store *st = impl;
	int64_t n;

	*count = 0;
	if (pg_begin(st, err, "quarantine") < 0)
		return MR_STORE_UNAVAILABLE;
	if (on) {
		if ((n = pg_sel_exec_as(st, "UPDATE media SET quarantined = 1, "
		    "quarantined_by = p.by_id FROM p WHERE quarantined = 0 AND "
		    "safe_from_quarantine = 0 AND " PG_REACH_ON, sel, now_ms, by,
		    err)) < 0)
			goto fail;
		*count = n;
		if (pg_sel_exec_as(st, sel->sha256 != NULL ?
		    "INSERT INTO quarantined_hashes (sha256, created_ts) "
		    "SELECT $1::text, p.now_ts FROM p ON CONFLICT DO NOTHING" :
		    "INSERT INTO quarantined_hashes (sha256, created_ts) "
		    "SELECT DISTINCT sha256, p.now_ts FROM media, p WHERE "
		    "quarantined = 1 AND sha256 IS NOT NULL AND " PG_REACH_ON
		    " ON CONFLICT DO NOTHING", sel, now_ms, by, err) < 0)
			goto fail;
	} else {
		/* The hashes first, while the rows still name them. */
		if (pg_sel_exec_as(st, sel->sha256 != NULL ?
		    "DELETE FROM quarantined_hashes WHERE sha256 = $1" :
		    "DELETE FROM quarantined_hashes WHERE sha256 IN (SELECT "
		    "sha256 FROM media WHERE %1$s)", sel, now_ms, by, err) < 0)
			goto fail;
		if ((n = pg_sel_exec_as(st, "UPDATE media SET quarantined = 0, "
		    "quarantined_by = NULL WHERE quarantined = 1 AND "
		    PG_REACH_OFF, sel, now_ms, by, err)) < 0)
			goto fail;
		*count = n;
	}
	return pg_end(st, MR_STORE_OK, err, "quarantine");
fail:
	*count = 0;
	return pg_end(st, MR_STORE_UNAVAILABLE, err, "quarantine");
}

static enum mr_store_rc
pg_media_protect(void *impl, const struct mr_mxc *mxc, int on,
    struct mr_err *err)
{
	struct pg_args a = { 0 };
	int64_t n;

	arg_mxc(&a, mxc);
	arg_i(&a, on ? 1 : 0);
	if ((n = pg_cmd(impl, -1, "UPDATE media SET safe_from_quarantine = $3 "
	    "WHERE server_name = $1 AND media_id = $2", &a, err,
	    "protect")) < 0)
		return MR_STORE_UNAVAILABLE;
	return n > 0 ? MR_STORE_OK : MR_STORE_NOT_FOUND;
}

/*
 * Columns of enum mr_store_media_order, text compared byte by byte as
 * SQLite does, whatever the database's collation; only these reach the
 * SQL text.
 */
static const char *const pg_media_order_cols[MR_STORE_ORDER__MAX] = {
	[MR_STORE_ORDER_CREATED_TS] = "created_ts",
	[MR_STORE_ORDER_MEDIA_ID] = "media_id COLLATE \"C\"",
	[MR_STORE_ORDER_UPLOAD_NAME] = "upload_name COLLATE \"C\"",
	[MR_STORE_ORDER_LAST_ACCESS_TS] = "last_access_ts",
	[MR_STORE_ORDER_MEDIA_LENGTH] = "size",
	[MR_STORE_ORDER_MEDIA_TYPE] = "content_type COLLATE \"C\"",
	[MR_STORE_ORDER_QUARANTINED_BY] = "quarantined_by COLLATE \"C\"",
	[MR_STORE_ORDER_SAFE_FROM_QUARANTINE] = "safe_from_quarantine",
};

/* SQLite's NULLs sort first ascending and last descending; here too. */
#define PG_DIR(desc) ((desc) ? "DESC NULLS LAST" : "ASC NULLS FIRST")

/* Appends " AND " cond, where cond names the parameter a is given next. */
static void
pg_cond(char *where, size_t wsz, const char *cond, const struct pg_args *a)
{
	size_t n = strlen(where);

	snprintf(where + n, wsz - n, " AND ");
	n = strlen(where);
	snprintf(where + n, wsz - n, cond, a->n + 1);
}

static enum mr_store_rc
pg_media_query(void *impl, const struct mr_store_media_query *q,
    void (*fn)(const struct mr_media *, void *), void *arg, int64_t *total,
    struct mr_err *err)
{
	struct pg_store *st = impl;
	struct pg_args a = { 0 };
	char where[512] = "sha256 IS NOT NULL", sql[1024];
	struct mr_media m;
	PGresult *res;

	if ((unsigned)q->order >= MR_STORE_ORDER__MAX)
		return mr_err_set(err, 500, "M_UNKNOWN", "unknown media order");
	if (q->origin != MR_STORE_ORIGIN_ANY) {
		pg_cond(where, sizeof(where), q->origin == MR_STORE_ORIGIN_LOCAL ?
		    "server_name = $%d" : "server_name != $%d", &a);
		arg_s(&a, q->local_server ? q->local_server : "");
	}
	if (q->user_id != NULL) {
		pg_cond(where, sizeof(where), "user_id = $%d", &a);
		arg_s(&a, q->user_id);
	}
	if (q->accessed_before > 0) {
		pg_cond(where, sizeof(where),
		    "coalesce(last_access_ts, created_ts) < $%d::bigint", &a);
		arg_i(&a, q->accessed_before);
	}
	if (q->size_gt > 0) {
		pg_cond(where, sizeof(where), "size > $%d::bigint", &a);
		arg_i(&a, q->size_gt);
	}
	if (q->skip_quarantined)
		pg_cond(where, sizeof(where), "quarantined = 0", &a);
	if (q->skip_protected)
		pg_cond(where, sizeof(where), "safe_from_quarantine = 0", &a);
	if (total != NULL) {
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM media WHERE %s",
		    where);
		if ((res = pg_run(st, -1, sql, &a, err, "media count")) == NULL)
			return MR_STORE_UNAVAILABLE;
		*total = pg_i64(res, 0, 0);
		PQclear(res);
	}
	/* LIMIT NULL is no limit. */
	snprintf(sql, sizeof(sql), "SELECT " PG_MEDIA_COLS " FROM media "
	    "WHERE %s ORDER BY %s %s, media_id COLLATE \"C\" ASC "
	    "LIMIT $%d::bigint OFFSET $%d::bigint", where,
	    pg_media_order_cols[q->order], PG_DIR(q->descending), a.n + 1,
	    a.n + 2);
	if (q->limit < 0)
		arg_s(&a, NULL);
	else
		arg_i(&a, q->limit);
	arg_i(&a, q->offset > 0 ? q->offset : 0);
	if ((res = pg_run(st, -1, sql, &a, err, "media query")) == NULL)
		return MR_STORE_UNAVAILABLE;
	for (int i = 0; i < PQntuples(res); i++) {
		pg_read_media(res, i, &m);
		fn(&m, arg);
	}
	PQclear(res);
	return MR_STORE_OK;
}

static enum mr_store_rc
pg_user_media_usage(void *impl, const struct mr_store_usage_query *q,
    void (*fn)(const char *user_id, const struct mr_store_count *, void *),
    void *arg, int64_t *total, struct mr_err *err)
{
	static const char *const order_cols[] = {
		[MR_STORE_USAGE_USER_ID] = "user_id COLLATE \"C\"",
		[MR_STORE_USAGE_MEDIA_LENGTH] = "sum(size)",
		[MR_STORE_USAGE_MEDIA_COUNT] = "count(*)",
	};
	struct pg_store *st = impl;
	struct pg_args a = { 0 };
	char where[512] = "sha256 IS NOT NULL AND user_id IS NOT NULL",
	    sql[1024], *like = NULL;
	enum mr_store_rc rc = MR_STORE_UNAVAILABLE;
	struct mr_store_count c;
	PGresult *res;

	if ((unsigned)q->order > MR_STORE_USAGE_MEDIA_COUNT)
		return mr_err_set(err, 500, "M_UNKNOWN", "unknown usage order");
	if (q->search != NULL && (like = mr_store_like_pattern(q->search)) == NULL)
		return mr_err_set(err, 500, "M_UNKNOWN", "out of memory");
	pg_cond(where, sizeof(where), "server_name = $%d", &a);
	arg_s(&a, q->local_server ? q->local_server : "");
	pg_cond(where, sizeof(where), "created_ts >= $%d::bigint", &a);
	arg_i(&a, q->from_ts);
	if (q->until_ts > 0) {
		pg_cond(where, sizeof(where), "created_ts <= $%d::bigint", &a);
		arg_i(&a, q->until_ts);
	}
	/* The localpart, between the sigil and the first colon; ILIKE as
	 * SQLite's LIKE ignores the case of ASCII letters. */
	if (like != NULL) {
		pg_cond(where, sizeof(where), "split_part(substr(user_id, 2), "
		    "':', 1) ILIKE $%d ESCAPE '\\'", &a);
		arg_s(&a, like);
	}
	snprintf(sql, sizeof(sql), "SELECT count(DISTINCT user_id) FROM media "
	    "WHERE %s", where);
	if ((res = pg_run(st, -1, sql, &a, err, "usage count")) == NULL)
		goto done;
	if (total != NULL)
		*total = pg_i64(res, 0, 0);
	PQclear(res);
	snprintf(sql, sizeof(sql), "SELECT user_id, count(*), sum(size) "
	    "FROM media WHERE %s GROUP BY user_id ORDER BY %s %s, "
	    "user_id COLLATE \"C\" ASC LIMIT $%d::bigint OFFSET $%d::bigint",
	    where, order_cols[q->order], q->descending ? "DESC" : "ASC",
	    a.n + 1, a.n + 2);
	if (q->limit < 0)
		arg_s(&a, NULL);
	else
		arg_i(&a, q->limit);
	arg_i(&a, q->offset > 0 ? q->offset : 0);
	if ((res = pg_run(st, -1, sql, &a, err, "usage")) == NULL)
		goto done;
	for (int i = 0; i < PQntuples(res); i++) {
		c.count = pg_i64(res, i, 1);
		c.bytes = pg_i64(res, i, 2);
		fn(PQgetvalue(res, i, 0), &c, arg);
	}
	PQclear(res);
	rc = MR_STORE_OK;
done:
	free(like);
	return rc;
}

/*
 * One transaction under the user's advisory lock: a row that does not
 * exist yet cannot be locked, so the lock stands for "the user's uploads",
 * and every host takes the same one. READ COMMITTED gives each statement
 * a fresh snapshot, so the sums see every row committed by earlier
 * holders. A lock not had within PG_QUOTA_LOCK_WAIT is BUSY, *over -1.
 */
static enum mr_store_rc
pg_media_put_quota(void *impl, const struct mr_media *m, int complete,
    const struct mr_store_quota *q, int nq, int *over, struct mr_err *err)
{
	struct pg_store *st = impl;
	enum mr_store_rc rc = MR_STORE_UNAVAILABLE;
	int64_t used;

	*over = -1;
	if (pg_begin(st, err, "upload quota") < 0)
		return MR_STORE_UNAVAILABLE;
	if (pg_cmd(st, -1, "SET LOCAL lock_timeout = " PG_QUOTA_LOCK_WAIT,
	    NULL, err, "upload quota") < 0)
		return pg_end(st, rc, err, "upload quota");
	if (pg_xact_lock(st, PG_LOCK_UPLOAD_QUOTA, m->user_id, err) < 0) {
		if (st->conn != NULL &&
		    strcmp(st->sqlstate, PG_LOCK_NOT_AVAILABLE) == 0)
			rc = MR_STORE_BUSY;
		return pg_end(st, rc, err, "upload quota");
	}
	for (int i = 0; i < nq; i++) {
		if ((rc = pg_user_upload_bytes(st, m->user_id, q[i].since_ts,
		    &used, err)) != MR_STORE_OK)
			return pg_end(st, rc, err, "upload quota");
		if (used + m->size > q[i].max_bytes) {
			*over = i;
			return pg_end(st, MR_STORE_BUSY, err, "upload quota");
		}
	}
	rc = complete ? pg_media_complete(st, m, err) :
	    pg_media_insert(st, m, err);
	return pg_end(st, rc, err, "upload quota");
}

const struct mr_store_ops mr_store_pg_ops = {
	.name = "postgresql",
	.wanted = pg_wanted,
	.open = pg_open,
	.close = pg_close,
	.media_get = pg_media_get,
	.media_insert = pg_media_insert,
	.media_create_pending = pg_media_create_pending,
	.media_complete = pg_media_complete,
	.thumb_get = pg_thumb_get,
	.thumb_put = pg_thumb_put,
	.thumb_put_capped = pg_thumb_put_capped,
	.server_key_get = pg_server_key_get,
	.server_key_put = pg_server_key_put,
	.server_key_claim_fetch = pg_server_key_claim_fetch,
	.well_known_get = pg_well_known_get,
	.well_known_put = pg_well_known_put,
	.lease_take = pg_lease_take,
	.lease_end = pg_lease_end,
	.media_list_user = pg_media_list_user,
	.media_list_remote = pg_media_list_remote,
	.thumb_list = pg_thumb_list,
	.media_delete = pg_media_delete,
	.blob_referenced = pg_blob_referenced,
	.blob_refs = pg_blob_refs,
	.quarantine = pg_quarantine,
	.hash_quarantined = pg_hash_quarantined,
	.preview_purge = pg_preview_purge,
	.stats = pg_stats,
	.top_users = pg_top_users,
	.token_add = pg_token_add,
	.token_lookup = pg_token_lookup,
	.token_revoke = pg_token_revoke,
	.token_list = pg_token_list,
	.hs_auth_get = pg_hs_auth_get,
	.hs_auth_put = pg_hs_auth_put,
	.bucket_take = pg_bucket_take,
	.user_upload_bytes = pg_user_upload_bytes,
	.origin_down = pg_origin_down,
	.origin_result = pg_origin_result,
	.media_each = pg_media_each,
	.thumb_each = pg_thumb_each,
	.token_import = pg_token_import,
	.quarantined_hash_each = pg_quarantined_hash_each,
	.quarantined_hash_add = pg_quarantined_hash_add,
	.media_touch = pg_media_touch,
	.quarantine_as = pg_quarantine_as,
	.media_protect = pg_media_protect,
	.media_query = pg_media_query,
	.user_media_usage = pg_user_media_usage,
	.media_put_quota = pg_media_put_quota,
};
