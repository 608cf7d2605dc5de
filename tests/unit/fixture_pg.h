/*
 * fixture_pg.h: a PostgreSQL server for one cmocka group, so the store's
 * cases run on both backends. The group setup starts a server of its own
 * (tests/pg-server, run from the top of the tree as make does); no server
 * is a failure, not a skip. Each test gets database "t" emptied of rows:
 * the schema stays, since making and migrating a database per test would
 * cost more than the tests. Include after fixture_store.h.
 */
#ifndef MR_TEST_FIXTURE_PG_H
#define MR_TEST_FIXTURE_PG_H

#include <libpq-fe.h>

/* The group's server: its directory, and the URL of its postgres db. */
static char fixture_pg_dir[FIXTURE_DIR_MAX];
static char fixture_pg_url[FIXTURE_DIR_MAX + 64];
static int fixture_pg_made;		/* database "t" exists */

/* cmocka group setup: starts the server. */
static inline int
fixture_pg_group_setup(void **state)
{
	char cmd[FIXTURE_DIR_MAX + 64];
	FILE *p;

	(void)state;
	fixture_pg_made = 0;
	if (fixture_dir_make(fixture_pg_dir, "pg") < 0)
		return -1;
	snprintf(cmd, sizeof(cmd), "tests/pg-server start %s", fixture_pg_dir);
	if ((p = popen(cmd, "r")) == NULL)
		return -1;
	if (fgets(fixture_pg_url, sizeof(fixture_pg_url), p) == NULL)
		fixture_pg_url[0] = '\0';
	if (pclose(p) != 0 ||
	    strncmp(fixture_pg_url, "postgresql://", 13) != 0) {
		fprintf(stderr, "cannot start PostgreSQL with '%s' (run from "
		    "the top of the tree; make deps)\n", cmd);
		return -1;
	}
	fixture_pg_url[strcspn(fixture_pg_url, "\n")] = '\0';
	return 0;
}

/* cmocka group teardown: stops the server and removes its files. */
static inline int
fixture_pg_group_teardown(void **state)
{
	char cmd[FIXTURE_DIR_MAX + 64];

	(void)state;
	snprintf(cmd, sizeof(cmd), "tests/pg-server stop %s", fixture_pg_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "'%s' failed\n", cmd);
	fixture_dir_remove(fixture_pg_dir);
	return 0;
}

/* Runs one statement on the database at url; -1 (and why) when it fails. */
static inline int
fixture_pg_exec(const char *url, const char *sql)
{
	PGconn *c = PQconnectdb(url);
	PGresult *r = c ? PQexec(c, sql) : NULL;
	int ok = r != NULL && PQresultStatus(r) == PGRES_COMMAND_OK;

	if (!ok)
		fprintf(stderr, "%s: %s\n", sql,
		    c ? PQerrorMessage(c) : "no connection");
	PQclear(r);
	PQfinish(c);
	return ok ? 0 : -1;
}

/* The URL of database name on the group's server. */
static inline void
fixture_pg_db_url(char *out, size_t outsz, const char *name)
{
	const char *q = strchr(fixture_pg_url, '?');

	snprintf(out, outsz, "postgresql://postgres@/%s%s", name, q ? q : "");
}

/*
 * A store on database "t" (made on first use, migrated by the open) with
 * no rows in any table; its URL in db. -1 when it cannot be had.
 */
static inline int
fixture_pg_store_open(char *db, size_t dbsz, struct mr_store **st)
{
	struct mr_err err;

	if (!fixture_pg_made &&
	    fixture_pg_exec(fixture_pg_url, "CREATE DATABASE t") < 0)
		return -1;
	fixture_pg_made = 1;
	fixture_pg_db_url(db, dbsz, "t");
	if (mr_store_open(st, db, &err) < 0) {
		fprintf(stderr, "store open '%s': %s\n", db, err.msg);
		return -1;
	}
	if (fixture_pg_exec(db, "DO $$ DECLARE r record; BEGIN FOR r IN "
	    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND "
	    "tablename != 'mediarepo_schema' LOOP EXECUTE 'TRUNCATE ' || "
	    "quote_ident(r.tablename); END LOOP; END $$") < 0) {
		mr_store_free(*st);
		return -1;
	}
	return 0;
}

/* cmocka setup: a struct fixture_store on the emptied database "t". */
static inline int
fixture_pg_store_setup(void **state)
{
	struct fixture_store *fx = calloc(1, sizeof(*fx));

	if (fx == NULL || fixture_dir_make(fx->dir, "pgstore") < 0) {
		free(fx);
		return -1;
	}
	if (fixture_pg_store_open(fx->db, sizeof(fx->db), &fx->st) < 0) {
		fixture_dir_remove(fx->dir);
		free(fx);
		return -1;
	}
	*state = fx;
	return 0;
}

#define FIXTURE_PG_STORE_TEST(f) \
	cmocka_unit_test_setup_teardown(f, fixture_pg_store_setup, \
	    fixture_store_teardown)

/* cmocka setup: a struct fixture_media whose store is database "t". */
static inline int
fixture_pg_media_setup(void **state)
{
	struct fixture_media *fx = calloc(1, sizeof(*fx));
	char db[FIXTURE_DIR_MAX + 64];

	if (fx == NULL || fixture_dir_make(fx->dir, "pgmedia") < 0) {
		free(fx);
		return -1;
	}
	if (fixture_pg_store_open(db, sizeof(db), &fx->st) < 0 ||
	    fixture_media_finish(fx) < 0) {
		fixture_dir_remove(fx->dir);
		free(fx);
		return -1;
	}
	*state = fx;
	return 0;
}

#define FIXTURE_PG_MEDIA_TEST(f) \
	cmocka_unit_test_setup_teardown(f, fixture_pg_media_setup, \
	    fixture_media_teardown)

#endif
