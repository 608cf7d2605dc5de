/*
 * test_store: media rows and access tokens in a fresh SQLite file per
 * test: migration, insert/get, the pending-upload cap, complete-once and
 * the token lifecycle. Then the same cases on PostgreSQL: the group
 * starts a server of its own (tests/pg-server, run from the top of the
 * tree as make does) and gives each test a fresh database; no server is a
 * failure, not a skip.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "fixture_store.h"
#include "fixture_pg.h"
#include <sqlite3.h>
#include <unistd.h>

#include "../../common/store.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

#define HASH_A \
	"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define HASH_B \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define HASH_C \
	"b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"


/* A complete media row for server/id. */
static void
media_fill(struct mr_media *m, const char *server, const char *id)
{
	struct mr_err err;

	memset(m, 0, sizeof(*m));
	assert_int_equal(mr_mxc_from_parts(server, id, &m->mxc, &err), 0);
	snprintf(m->sha256, sizeof(m->sha256), "%s", HASH_C);
	m->size = 11;
	snprintf(m->content_type, sizeof(m->content_type), "text/plain");
	snprintf(m->upload_name, sizeof(m->upload_name), "hello.txt");
	snprintf(m->user_id, sizeof(m->user_id), "@alice:example.org");
	m->created_ts = INT64_C(1700000000000);
}

/* A pending row (create) of user expiring at expires. */
static void
pending_fill(struct mr_media *m, const char *id, const char *user,
    int64_t expires)
{
	media_fill(m, "example.org", id);
	m->sha256[0] = '\0';
	m->size = 0;
	m->content_type[0] = '\0';
	m->upload_name[0] = '\0';
	snprintf(m->user_id, sizeof(m->user_id), "%s", user);
	m->expires_ts = expires;
}

/* --- open and migrate --- */

static void
test_open_twice(void **state)
{
	struct fixture_store *fx = *state;
	struct mr_store *second = NULL, *third = NULL;
	struct mr_media m, got;
	struct mr_err err;

	media_fill(&m, "example.org", "abc");
	assert_int_equal(mr_store_media_insert(fx->st, &m, &err), 0);

	/* Another handle on the same file, as another process would open it. */
	if (mr_store_open(&second, fx->db, &err) != 0)
		fail_msg("second open: %s", err.msg);
	assert_int_equal(mr_store_media_get(second, &m.mxc, &got, &err), 0);
	mr_store_free(second);

	/* Closed and opened again: the migrations are not run twice. */
	mr_store_free(fx->st);
	fx->st = NULL;
	if (mr_store_open(&third, fx->db, &err) != 0)
		fail_msg("reopen: %s", err.msg);
	fx->st = third;
	assert_int_equal(mr_store_media_get(fx->st, &m.mxc, &got, &err), 0);
	assert_string_equal(got.sha256, HASH_C);
}

static void
test_open_newer_schema_refused(void **state)
{
	struct fixture_store *fx = *state;
	struct mr_store *st = NULL;
	struct mr_err err;
	sqlite3 *db;

	assert_int_equal(sqlite3_open(fx->db, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 9999", NULL,
	    NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	mr_err_clear(&err);
	assert_int_equal(mr_store_open(&st, fx->db, &err), -1);
	assert_int_equal(err.status, 500);
	assert_non_null(strstr(err.msg, "newer"));
}

static void
test_open_bad_path(void **state)
{
	struct fixture_store *fx = *state;
	struct mr_store *st = NULL;
	struct mr_err err;
	char path[PATH_MAX + 32];

	snprintf(path, sizeof(path), "%s/no/such/dir/x.db", fx->dir);
	mr_err_clear(&err);
	assert_int_equal(mr_store_open(&st, path, &err), -1);
	assert_int_equal(err.status, 500);
	assert_non_null(strstr(err.msg, path));
}

/* --- media rows --- */

static void
test_media_insert_get(void **state)
{
	struct fixture_store *fx = *state;
	struct mr_media m, got;
	struct mr_err err;

	media_fill(&m, "example.org", "abc");
	m.authenticated = 1;
	assert_int_equal(mr_store_media_insert(fx->st, &m, &err), 0);
	memset(&got, 0x5a, sizeof(got));
	assert_int_equal(mr_store_media_get(fx->st, &m.mxc, &got, &err), 0);
	assert_string_equal(got.mxc.server, "example.org");
	assert_string_equal(got.mxc.id, "abc");
	assert_string_equal(got.sha256, HASH_C);
	assert_int_equal(got.size, 11);
	assert_string_equal(got.content_type, "text/plain");
	assert_string_equal(got.upload_name, "hello.txt");
	assert_string_equal(got.user_id, "@alice:example.org");
	assert_int_equal(got.created_ts, INT64_C(1700000000000));
	assert_int_equal(got.expires_ts, 0);
	assert_int_equal(got.quarantined, 0);
	assert_int_equal(got.authenticated, 1);
	assert_int_equal(got.last_access_ts, 0);
	assert_string_equal(got.quarantined_by, "");
	assert_int_equal(got.safe_from_quarantine, 0);

	/* The admin API's fields go in as given (migrate-store keeps them). */
	media_fill(&m, "example.org", "def");
	m.quarantined = 1;
	m.last_access_ts = INT64_C(1700000005000);
	snprintf(m.quarantined_by, sizeof(m.quarantined_by), "@mod:example.org");
	m.safe_from_quarantine = 1;
	assert_int_equal(mr_store_media_insert(fx->st, &m, &err), 0);
	assert_int_equal(mr_store_media_get(fx->st, &m.mxc, &got, &err), 0);
	assert_int_equal(got.quarantined, 1);
	assert_int_equal(got.last_access_ts, INT64_C(1700000005000));
	assert_string_equal(got.quarantined_by, "@mod:example.org");
	assert_int_equal(got.safe_from_quarantine, 1);
}

/* Empty strings stay empty; odd bytes are data, never SQL. */
static void
test_media_strings(void **state)
{
	static const char *const names[] = {
		"Robert'); DROP TABLE media;--",
		"\xf0\x9f\x90\x94.png",
		"a\"b\\c%_*?",
		"",
	};
	struct fixture_store *fx = *state;
	struct mr_media m, got;
	struct mr_err err;
	char id[16];

	for (size_t i = 0; i < NELEM(names); i++) {
		snprintf(id, sizeof(id), "id%zu", i);
		media_fill(&m, "example.org", id);
		snprintf(m.upload_name, sizeof(m.upload_name), "%s", names[i]);
		m.content_type[0] = '\0';
		assert_int_equal(mr_store_media_insert(fx->st, &m, &err), 0);
		assert_int_equal(mr_store_media_get(fx->st, &m.mxc, &got, &err), 0);
		assert_string_equal(got.upload_name, names[i]);
		assert_string_equal(got.content_type, "");
	}

	/* The longest upload name round-trips whole. */
	media_fill(&m, "example.org", "long");
	memset(m.upload_name, 'n', MR_UPLOAD_NAME_MAX);
	m.upload_name[MR_UPLOAD_NAME_MAX] = '\0';
	assert_int_equal(mr_store_media_insert(fx->st, &m, &err), 0);
	assert_int_equal(mr_store_media_get(fx->st, &m.mxc, &got, &err), 0);
	assert_int_equal(strlen(got.upload_name), MR_UPLOAD_NAME_MAX);

	/* The table is still there. */
	media_fill(&m, "example.org", "id0");
	assert_int_equal(mr_store_media_get(fx->st, &m.mxc, &got, &err), 0);
}

static void
test_media_not_found(void **state)
{
	struct fixture_store *fx = *state;
	struct mr_media m, got;
	struct mr_err err;

	media_fill(&m, "example.org", "abc");
	mr_err_clear(&err);
	assert_int_equal(mr_store_media_get(fx->st, &m.mxc, &got, &err),
	    MR_STORE_NOT_FOUND);

	/* The key is server and id together, and ids are case-sensitive. */
	assert_int_equal(mr_store_media_insert(fx->st, &m, &err), 0);
	media_fill(&m, "other.org", "abc");
	mr_err_clear(&err);
	assert_int_equal(mr_store_media_get(fx->st, &m.mxc, &got, &err),
	    MR_STORE_NOT_FOUND);
	media_fill(&m, "example.org", "ABC");
	assert_int_equal(mr_store_media_get(fx->st, &m.mxc, &got, &err),
	    MR_STORE_NOT_FOUND);
}

static void
test_media_duplicate(void **state)
{
	struct fixture_store *fx = *state;
	struct mr_media m, got;
	struct mr_err err;

	media_fill(&m, "example.org", "abc");
	assert_int_equal(mr_store_media_insert(fx->st, &m, &err), 0);
	m.size = 99;
	mr_err_clear(&err);
	assert_int_equal(mr_store_media_insert(fx->st, &m, &err),
	    MR_STORE_CONFLICT);
	/* The first row is unchanged. */
	assert_int_equal(mr_store_media_get(fx->st, &m.mxc, &got, &err), 0);
	assert_int_equal(got.size, 11);

	/* The same id on another server is another row. */
	media_fill(&m, "other.org", "abc");
	assert_int_equal(mr_store_media_insert(fx->st, &m, &err), 0);

	/* The store still works after the failed insert. */
	media_fill(&m, "example.org", "def");
	assert_int_equal(mr_store_media_insert(fx->st, &m, &err), 0);
}

/* --- pending uploads (create) --- */

static void
test_create_pending_cap(void **state)
{
	struct fixture_store *fx = *state;
	struct mr_media m, got;
	struct mr_err err;
	int64_t now = 1000000, retry = -1;
	char id[16];

	for (int i = 0; i < 3; i++) {
		snprintf(id, sizeof(id), "p%d", i);
		pending_fill(&m, id, "@alice:example.org", now + 5000 + i * 1000);
		if (mr_store_media_create_pending(fx->st, &m, 3, now, &retry,
		    &err) != 0)
			fail_msg("create %d: %s", i, err.msg);
	}
	/* The row is pending: no hash yet, a deadline. */
	assert_int_equal(mr_store_media_get(fx->st, &m.mxc, &got, &err), 0);
	assert_string_equal(got.sha256, "");
	assert_int_equal(got.expires_ts, now + 7000);
	assert_string_equal(got.user_id, "@alice:example.org");

	/* The fourth is refused; retry when the oldest lapses. */
	pending_fill(&m, "p3", "@alice:example.org", now + 9000);
	mr_err_clear(&err);
	assert_int_equal(mr_store_media_create_pending(fx->st, &m, 3, now,
	    &retry, &err), MR_STORE_BUSY);
	assert_int_equal(retry, 5000);
	/* Nothing was inserted. */
	assert_int_equal(mr_store_media_get(fx->st, &m.mxc, &got, &err),
	    MR_STORE_NOT_FOUND);

	/* The cap is per user. */
	pending_fill(&m, "b0", "@bob:example.org", now + 5000);
	assert_int_equal(mr_store_media_create_pending(fx->st, &m, 3, now, &retry,
	    &err), 0);

	/* A higher cap lets alice in again. */
	pending_fill(&m, "p3", "@alice:example.org", now + 9000);
	assert_int_equal(mr_store_media_create_pending(fx->st, &m, 4, now, &retry,
	    &err), 0);
}

static void
test_create_pending_expired_do_not_count(void **state)
{
	struct fixture_store *fx = *state;
	struct mr_media m;
	struct mr_err err;
	int64_t retry = -1;

	pending_fill(&m, "e0", "@alice:example.org", 2000);
	assert_int_equal(mr_store_media_create_pending(fx->st, &m, 2, 1000,
	    &retry, &err), 0);
	pending_fill(&m, "e1", "@alice:example.org", 2500);
	assert_int_equal(mr_store_media_create_pending(fx->st, &m, 2, 1000,
	    &retry, &err), 0);

	/* At 1999 both still hold: full, retry in 1 ms. */
	pending_fill(&m, "e2", "@alice:example.org", 5000);
	assert_int_equal(mr_store_media_create_pending(fx->st, &m, 2, 1999,
	    &retry, &err), MR_STORE_BUSY);
	assert_int_equal(retry, 1);

	/* At 2000 the first has lapsed (expires_at is the deadline). */
	assert_int_equal(mr_store_media_create_pending(fx->st, &m, 2, 2000,
	    &retry, &err), 0);

	/* Now e1 and e2 hold; at 2500 e1 lapses too. */
	pending_fill(&m, "e3", "@alice:example.org", 6000);
	assert_int_equal(mr_store_media_create_pending(fx->st, &m, 2, 2400,
	    &retry, &err), MR_STORE_BUSY);
	assert_int_equal(retry, 100);
	assert_int_equal(mr_store_media_create_pending(fx->st, &m, 2, 2500,
	    &retry, &err), 0);

	/* An id is taken even when its reservation lapsed: 409, not reuse. */
	pending_fill(&m, "e0", "@bob:example.org", 9000);
	mr_err_clear(&err);
	assert_int_equal(mr_store_media_create_pending(fx->st, &m, 5, 3000,
	    &retry, &err), MR_STORE_CONFLICT);
}

/* Completed uploads are no longer pending and free a slot. */
static void
test_create_pending_completed_do_not_count(void **state)
{
	struct fixture_store *fx = *state;
	struct mr_media m;
	struct mr_err err;
	int64_t retry;

	pending_fill(&m, "c0", "@alice:example.org", 5000);
	assert_int_equal(mr_store_media_create_pending(fx->st, &m, 1, 1000,
	    &retry, &err), 0);
	pending_fill(&m, "c1", "@alice:example.org", 5000);
	assert_int_equal(mr_store_media_create_pending(fx->st, &m, 1, 1000,
	    &retry, &err), MR_STORE_BUSY);

	media_fill(&m, "example.org", "c0");
	assert_int_equal(mr_store_media_complete(fx->st, &m, &err), 0);
	pending_fill(&m, "c1", "@alice:example.org", 5000);
	assert_int_equal(mr_store_media_create_pending(fx->st, &m, 1, 1000,
	    &retry, &err), 0);
}

static void
test_complete_once(void **state)
{
	struct fixture_store *fx = *state;
	struct mr_media m, got;
	struct mr_err err;
	int64_t retry;

	pending_fill(&m, "once", "@alice:example.org", 5000);
	assert_int_equal(mr_store_media_create_pending(fx->st, &m, 5, 1000,
	    &retry, &err), 0);

	media_fill(&m, "example.org", "once");
	snprintf(m.content_type, sizeof(m.content_type), "image/png");
	snprintf(m.upload_name, sizeof(m.upload_name), "cat.png");
	m.size = 1234;
	assert_int_equal(mr_store_media_complete(fx->st, &m, &err), 0);
	assert_int_equal(mr_store_media_get(fx->st, &m.mxc, &got, &err), 0);
	assert_string_equal(got.sha256, HASH_C);
	assert_int_equal(got.size, 1234);
	assert_string_equal(got.content_type, "image/png");
	assert_string_equal(got.upload_name, "cat.png");
	assert_int_equal(got.expires_ts, 0);
	assert_string_equal(got.user_id, "@alice:example.org");

	/* A second upload to the same id loses. */
	snprintf(m.sha256, sizeof(m.sha256), "%s", HASH_A);
	m.size = 1;
	mr_err_clear(&err);
	assert_int_equal(mr_store_media_complete(fx->st, &m, &err),
	    MR_STORE_CONFLICT);
	assert_int_equal(mr_store_media_get(fx->st, &m.mxc, &got, &err), 0);
	assert_string_equal(got.sha256, HASH_C);
	assert_int_equal(got.size, 1234);

	/* A row inserted complete is not pending either. */
	media_fill(&m, "example.org", "full");
	assert_int_equal(mr_store_media_insert(fx->st, &m, &err), 0);
	mr_err_clear(&err);
	assert_int_equal(mr_store_media_complete(fx->st, &m, &err),
	    MR_STORE_CONFLICT);
}

/* --- tokens --- */

struct token_list {
	int n;
	char hashes[4][65];
	char users[4][MR_USER_ID_MAX + 1];
	int guest[4];
};

static void
collect_token(const struct mr_token_info *t, void *arg)
{
	struct token_list *l = arg;

	if (l->n < 4) {
		snprintf(l->hashes[l->n], sizeof(l->hashes[0]), "%s", t->token_hash);
		snprintf(l->users[l->n], sizeof(l->users[0]), "%s", t->user_id);
		l->guest[l->n] = t->is_guest;
	}
	l->n++;
}

static void
test_tokens(void **state)
{
	struct fixture_store *fx = *state;
	struct mr_token_info info;
	struct token_list list;
	struct mr_err err;
	int64_t before = mr_now_ms();

	assert_int_equal(mr_store_token_add(fx->st, HASH_A, "@alice:example.org",
	    0, &err), 0);
	assert_int_equal(mr_store_token_add(fx->st, HASH_B, "@guest:example.org",
	    1, &err), 0);

	memset(&info, 0, sizeof(info));
	assert_int_equal(mr_store_token_lookup(fx->st, HASH_A, &info, &err), 0);
	assert_string_equal(info.user_id, "@alice:example.org");
	assert_string_equal(info.token_hash, HASH_A);
	assert_int_equal(info.is_guest, 0);
	assert_true(info.created_ts >= before);
	assert_int_equal(mr_store_token_lookup(fx->st, HASH_B, &info, &err), 0);
	assert_string_equal(info.user_id, "@guest:example.org");
	assert_int_equal(info.is_guest, 1);

	memset(&list, 0, sizeof(list));
	assert_int_equal(mr_store_token_list(fx->st, collect_token, &list, &err),
	    0);
	assert_int_equal(list.n, 2);
	/* Both listed, by hash, never by anything usable. */
	assert_true((strcmp(list.hashes[0], HASH_A) == 0 &&
	    strcmp(list.hashes[1], HASH_B) == 0) ||
	    (strcmp(list.hashes[0], HASH_B) == 0 &&
	    strcmp(list.hashes[1], HASH_A) == 0));

	/* Revoke: gone for lookup and list; a second revoke is 404. */
	assert_int_equal(mr_store_token_revoke(fx->st, HASH_A, &err), 0);
	mr_err_clear(&err);
	assert_int_equal(mr_store_token_lookup(fx->st, HASH_A, &info, &err),
	    MR_STORE_NOT_FOUND);
	mr_err_clear(&err);
	assert_int_equal(mr_store_token_revoke(fx->st, HASH_A, &err),
	    MR_STORE_NOT_FOUND);
	memset(&list, 0, sizeof(list));
	assert_int_equal(mr_store_token_list(fx->st, collect_token, &list, &err),
	    0);
	assert_int_equal(list.n, 1);
	assert_string_equal(list.hashes[0], HASH_B);
	assert_string_equal(list.users[0], "@guest:example.org");
	assert_int_equal(list.guest[0], 1);
}

static void
test_token_unknown(void **state)
{
	struct fixture_store *fx = *state;
	struct mr_token_info info;
	struct mr_err err;
	struct token_list list;

	mr_err_clear(&err);
	assert_int_equal(mr_store_token_lookup(fx->st, HASH_A, &info, &err),
	    MR_STORE_NOT_FOUND);

	/* Lookups are exact: no prefix or pattern match. */
	assert_int_equal(mr_store_token_add(fx->st, HASH_A, "@a:example.org", 0,
	    &err), 0);
	assert_int_equal(mr_store_token_lookup(fx->st, "ba7816bf", &info, &err),
	    MR_STORE_NOT_FOUND);
	assert_int_equal(mr_store_token_lookup(fx->st, "%", &info, &err),
	    MR_STORE_NOT_FOUND);
	assert_int_equal(mr_store_token_lookup(fx->st, "", &info, &err),
	    MR_STORE_NOT_FOUND);
	assert_int_equal(mr_store_token_lookup(fx->st, "' OR '1'='1", &info,
	    &err), MR_STORE_NOT_FOUND);

	/* The same hash twice is refused, and the first stays. */
	assert_int_equal(mr_store_token_add(fx->st, HASH_A, "@b:example.org", 0,
	    &err), -1);
	assert_int_equal(mr_store_token_lookup(fx->st, HASH_A, &info, &err), 0);
	assert_string_equal(info.user_id, "@a:example.org");

	/* An empty store lists nothing. */
	assert_int_equal(mr_store_token_revoke(fx->st, HASH_A, &err), 0);
	memset(&list, 0, sizeof(list));
	assert_int_equal(mr_store_token_list(fx->st, collect_token, &list, &err),
	    0);
	assert_int_equal(list.n, 0);
}

/* --- operator tool: quarantine, references, delete, stats --- */

static void
count_hash(const char *sha256, void *arg)
{
	(void)sha256;
	(*(int *)arg)++;
}

static void
put_thumb(struct mr_store *st, const struct mr_mxc *mxc, uint32_t side,
    const char *sha256)
{
	struct mr_thumb_row t;
	struct mr_err err;

	memset(&t, 0, sizeof(t));
	t.mxc = *mxc;
	t.width = t.height = t.actual_width = t.actual_height = side;
	t.crop = 1;
	snprintf(t.sha256, sizeof(t.sha256), "%s", sha256);
	t.size = 7;
	snprintf(t.content_type, sizeof(t.content_type), "image/png");
	assert_int_equal(mr_store_thumb_put(st, &t, &err), 0);
}

static void
test_quarantine_forms(void **state)
{
	struct fixture_store *fx = *state;
	struct mr_store_sel sel = { 0 };
	struct mr_media a, b, got;
	struct mr_err err;
	int64_t n;

	media_fill(&a, "example.org", "aaa");
	media_fill(&b, "example.org", "bbb");	/* same bytes (HASH_C) */
	assert_int_equal(mr_store_media_insert(fx->st, &a, &err), 0);
	assert_int_equal(mr_store_media_insert(fx->st, &b, &err), 0);
	assert_int_equal(mr_store_hash_quarantined(fx->st, HASH_C, &err),
	    MR_STORE_NOT_FOUND);

	/* One item: its row, and its bytes for new uploads. */
	sel.mxc = &a.mxc;
	assert_int_equal(mr_store_quarantine(fx->st, &sel, 1, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(mr_store_media_get(fx->st, &a.mxc, &got, &err), 0);
	assert_int_equal(got.quarantined, 1);
	assert_int_equal(mr_store_media_get(fx->st, &b.mxc, &got, &err), 0);
	assert_int_equal(got.quarantined, 0);
	assert_int_equal(mr_store_hash_quarantined(fx->st, HASH_C, &err),
	    MR_STORE_OK);

	/* By hash: every copy; releasing one copy keeps the bytes banned. */
	memset(&sel, 0, sizeof(sel));
	sel.sha256 = HASH_C;
	assert_int_equal(mr_store_quarantine(fx->st, &sel, 1, &n, &err), 0);
	assert_int_equal(n, 2);
	memset(&sel, 0, sizeof(sel));
	sel.mxc = &a.mxc;
	assert_int_equal(mr_store_quarantine(fx->st, &sel, 0, &n, &err), 0);
	assert_int_equal(mr_store_hash_quarantined(fx->st, HASH_C, &err),
	    MR_STORE_OK);
	sel.mxc = &b.mxc;
	assert_int_equal(mr_store_quarantine(fx->st, &sel, 0, &n, &err), 0);
	assert_int_equal(mr_store_hash_quarantined(fx->st, HASH_C, &err),
	    MR_STORE_NOT_FOUND);

	/* By user. */
	memset(&sel, 0, sizeof(sel));
	sel.user_id = "@alice:example.org";
	assert_int_equal(mr_store_quarantine(fx->st, &sel, 1, &n, &err), 0);
	assert_int_equal(n, 2);
	sel.user_id = "@nobody:example.org";
	assert_int_equal(mr_store_quarantine(fx->st, &sel, 1, &n, &err), 0);
	assert_int_equal(n, 0);

	/* A hash nobody has yet is banned all the same. */
	memset(&sel, 0, sizeof(sel));
	sel.sha256 = HASH_A;
	assert_int_equal(mr_store_quarantine(fx->st, &sel, 1, &n, &err), 0);
	assert_int_equal(n, 0);
	assert_int_equal(mr_store_hash_quarantined(fx->st, HASH_A, &err),
	    MR_STORE_OK);

	/* An unknown item is 404. */
	media_fill(&a, "example.org", "nope");
	sel.sha256 = NULL;
	sel.mxc = &a.mxc;
	assert_int_equal(mr_store_quarantine(fx->st, &sel, 1, &n, &err),
	    MR_STORE_NOT_FOUND);
}

/*
 * Bytes quarantined before come back (an import): the new row names who
 * banned them, as media_info shows; a row's own name stays; release
 * clears it.
 */
static void
test_quarantine_names_who(void **state)
{
	struct fixture_store *fx = *state;
	struct mr_store_sel sel = { 0 };
	struct mr_media a, b, c, got;
	struct mr_err err;
	int64_t n;

	media_fill(&a, "example.org", "first");		/* HASH_C */
	assert_int_equal(mr_store_media_insert(fx->st, &a, &err), 0);
	sel.mxc = &a.mxc;
	assert_int_equal(mr_store_quarantine_as(fx->st, &sel, 1,
	    "@mod:example.org", 1700000001000, &n, &err), 0);

	/* The same bytes again, quarantined from birth. */
	media_fill(&b, "example.org", "again");
	b.quarantined = 1;
	assert_int_equal(mr_store_media_insert(fx->st, &b, &err), 0);
	sel.mxc = &b.mxc;
	assert_int_equal(mr_store_quarantine(fx->st, &sel, 1, &n, &err), 0);
	assert_int_equal(mr_store_media_get(fx->st, &b.mxc, &got, &err), 0);
	assert_int_equal(got.quarantined, 1);
	assert_string_equal(got.quarantined_by, "@mod:example.org");

	/* A name brought along (Synapse's) is kept. */
	media_fill(&c, "example.org", "synapse");
	c.quarantined = 1;
	snprintf(c.quarantined_by, sizeof(c.quarantined_by),
	    "@synmod:example.org");
	assert_int_equal(mr_store_media_insert(fx->st, &c, &err), 0);
	sel.mxc = &c.mxc;
	assert_int_equal(mr_store_quarantine(fx->st, &sel, 1, &n, &err), 0);
	assert_int_equal(mr_store_media_get(fx->st, &c.mxc, &got, &err), 0);
	assert_string_equal(got.quarantined_by, "@synmod:example.org");

	/* Released: no name left behind. */
	sel.mxc = &b.mxc;
	assert_int_equal(mr_store_quarantine(fx->st, &sel, 0, &n, &err), 0);
	assert_int_equal(mr_store_media_get(fx->st, &b.mxc, &got, &err), 0);
	assert_int_equal(got.quarantined, 0);
	assert_string_equal(got.quarantined_by, "");

	/* Bytes banned by hash alone: nobody to name. */
	media_fill(&a, "example.org", "hashonly");
	snprintf(a.sha256, sizeof(a.sha256), "%s", HASH_B);
	a.quarantined = 1;
	assert_int_equal(mr_store_quarantined_hash_add(fx->st, HASH_B, 5,
	    &err), 0);
	assert_int_equal(mr_store_media_insert(fx->st, &a, &err), 0);
	sel.mxc = &a.mxc;
	assert_int_equal(mr_store_quarantine(fx->st, &sel, 1, &n, &err), 0);
	assert_int_equal(mr_store_media_get(fx->st, &a.mxc, &got, &err), 0);
	assert_int_equal(got.quarantined, 1);
	assert_string_equal(got.quarantined_by, "");
}

static void
test_media_delete_and_references(void **state)
{
	struct fixture_store *fx = *state;
	struct mr_media a, b;
	struct mr_err err;
	int hashes = 0;

	media_fill(&a, "example.org", "aaa");
	media_fill(&b, "remote.example", "bbb");
	snprintf(b.sha256, sizeof(b.sha256), "%s", HASH_B);
	assert_int_equal(mr_store_media_insert(fx->st, &a, &err), 0);
	assert_int_equal(mr_store_media_insert(fx->st, &b, &err), 0);
	put_thumb(fx->st, &a.mxc, 32, HASH_A);
	put_thumb(fx->st, &a.mxc, 96, HASH_B);	/* a thumbnail with b's bytes */
	assert_int_equal(mr_store_blob_referenced(fx->st, HASH_A, &err),
	    MR_STORE_OK);

	assert_int_equal(mr_store_media_delete(fx->st, &a.mxc, count_hash,
	    &hashes, &err), 0);
	assert_int_equal(hashes, 3);		/* media, two thumbnails */
	assert_int_equal(mr_store_media_get(fx->st, &a.mxc, &a, &err),
	    MR_STORE_NOT_FOUND);
	assert_int_equal(mr_store_blob_referenced(fx->st, HASH_C, &err),
	    MR_STORE_NOT_FOUND);
	assert_int_equal(mr_store_blob_referenced(fx->st, HASH_A, &err),
	    MR_STORE_NOT_FOUND);
	/* Still named by the remote row. */
	assert_int_equal(mr_store_blob_referenced(fx->st, HASH_B, &err),
	    MR_STORE_OK);
	hashes = 0;
	assert_int_equal(mr_store_blob_refs(fx->st, count_hash, &hashes, &err),
	    0);
	assert_int_equal(hashes, 1);

	assert_int_equal(mr_store_media_delete(fx->st, &a.mxc, NULL, NULL,
	    &err), MR_STORE_NOT_FOUND);
}

static void
count_media(const struct mr_media *m, void *arg)
{
	(void)m;
	(*(int *)arg)++;
}

static void
test_stats_and_lists(void **state)
{
	struct fixture_store *fx = *state;
	struct mr_store_stats s;
	struct mr_media m;
	struct mr_err err;
	int n = 0;

	media_fill(&m, "example.org", "l1");
	assert_int_equal(mr_store_media_insert(fx->st, &m, &err), 0);
	media_fill(&m, "example.org", "l2");
	m.size = 100;
	snprintf(m.user_id, sizeof(m.user_id), "@bob:example.org");
	assert_int_equal(mr_store_media_insert(fx->st, &m, &err), 0);
	media_fill(&m, "remote.example", "r1");
	m.size = 5;
	m.created_ts = 1000;
	assert_int_equal(mr_store_media_insert(fx->st, &m, &err), 0);
	pending_fill(&m, "p1", "@bob:example.org", INT64_C(1) << 50);
	assert_int_equal(mr_store_media_insert(fx->st, &m, &err), 0);
	put_thumb(fx->st, &m.mxc, 32, HASH_A);

	assert_int_equal(mr_store_stats(fx->st, "example.org", &s, &err), 0);
	assert_int_equal(s.local.count, 2);
	assert_int_equal(s.local.bytes, 111);
	assert_int_equal(s.remote.count, 1);
	assert_int_equal(s.remote.bytes, 5);
	assert_int_equal(s.thumbnails.count, 1);
	assert_int_equal(s.thumbnails.bytes, 7);
	assert_int_equal(s.pending.count, 1);

	/* Pending rows are not listed. */
	assert_int_equal(mr_store_media_list_user(fx->st, "@bob:example.org",
	    count_media, &n, &err), 0);
	assert_int_equal(n, 1);
	n = 0;
	assert_int_equal(mr_store_media_list_remote(fx->st, "example.org", 1001,
	    count_media, &n, &err), 0);
	assert_int_equal(n, 1);
	n = 0;
	assert_int_equal(mr_store_media_list_remote(fx->st, "example.org", 1000,
	    count_media, &n, &err), 0);
	assert_int_equal(n, 0);
}

/* --- shared limits --- */

static void
test_bucket_burst_and_drain(void **state)
{
	struct fixture_store *fx = *state;
	int64_t t = INT64_C(1700000000000), retry;
	struct mr_err err;

	/* 2 a second (2000 thousandths), burst 3. */
	for (int i = 0; i < 3; i++)
		assert_int_equal(mr_store_bucket_take(fx->st, "u:a", 1, 2000, 3,
		    t, 0, &retry, &err), 0);
	assert_int_equal(mr_store_bucket_take(fx->st, "u:a", 1, 2000, 3, t, 0,
	    &retry, &err), MR_STORE_BUSY);
	/* One unit drains in 500 ms. */
	assert_in_range(retry, 499, 501);
	/* Another key is another bucket. */
	assert_int_equal(mr_store_bucket_take(fx->st, "u:b", 1, 2000, 3, t, 0,
	    &retry, &err), 0);
	assert_int_equal(mr_store_bucket_take(fx->st, "u:a", 1, 2000, 3,
	    t + 499, 0, &retry, &err), MR_STORE_BUSY);
	assert_int_equal(mr_store_bucket_take(fx->st, "u:a", 1, 2000, 3,
	    t + 500, 0, &retry, &err), 0);
	/* A cost larger than the burst never fits; force charges anyway. */
	assert_int_equal(mr_store_bucket_take(fx->st, "u:c", 4, 2000, 3, t, 0,
	    &retry, &err), MR_STORE_BUSY);
	assert_int_equal(mr_store_bucket_take(fx->st, "u:c", 4, 2000, 3, t, 1,
	    &retry, &err), 0);
	assert_int_equal(mr_store_bucket_take(fx->st, "u:c", 0, 2000, 3, t, 0,
	    &retry, &err), MR_STORE_BUSY);
	/* A clock that steps back drains nothing and breaks nothing. */
	assert_int_equal(mr_store_bucket_take(fx->st, "u:c", 0, 2000, 3,
	    t - 10000, 0, &retry, &err), MR_STORE_BUSY);
}

static void
test_user_upload_bytes(void **state)
{
	struct fixture_store *fx = *state;
	struct mr_media m;
	struct mr_err err;
	int64_t bytes;

	media_fill(&m, "example.org", "q1");
	m.size = 100;
	assert_int_equal(mr_store_media_insert(fx->st, &m, &err), 0);
	media_fill(&m, "example.org", "q2");
	m.size = 50;
	m.created_ts += 10000;
	assert_int_equal(mr_store_media_insert(fx->st, &m, &err), 0);
	/* Pending ids hold no bytes and count nothing. */
	pending_fill(&m, "q3", "@alice:example.org", m.created_ts + 1000);
	assert_int_equal(mr_store_media_insert(fx->st, &m, &err), 0);
	assert_int_equal(mr_store_user_upload_bytes(fx->st, "@alice:example.org",
	    0, &bytes, &err), 0);
	assert_int_equal(bytes, 150);
	assert_int_equal(mr_store_user_upload_bytes(fx->st, "@alice:example.org",
	    INT64_C(1700000000000), &bytes, &err), 0);
	assert_int_equal(bytes, 50);
	assert_int_equal(mr_store_user_upload_bytes(fx->st, "@bob:example.org",
	    0, &bytes, &err), 0);
	assert_int_equal(bytes, 0);
}

/* Sizes checked against every period, then the write; BUSY says which. */
static void
test_media_put_quota(void **state)
{
	struct fixture_store *fx = *state;
	/* 100 bytes ever, 80 since just after the first row. */
	const struct mr_store_quota q[2] = {
		{ 0, 100 }, { INT64_C(1700000000000), 80 },
	};
	struct mr_media m, got;
	struct mr_err err;
	int64_t bytes, retry;
	int over;

	media_fill(&m, "example.org", "p1");
	m.size = 60;
	assert_int_equal(mr_store_media_put_quota(fx->st, &m, 0, q, 2, &over,
	    &err), MR_STORE_OK);
	/* 60 + 50 passes the first period's 100: nothing written. */
	media_fill(&m, "example.org", "p2");
	m.size = 50;
	m.created_ts += 1000;
	assert_int_equal(mr_store_media_put_quota(fx->st, &m, 0, q, 2, &over,
	    &err), MR_STORE_BUSY);
	assert_int_equal(over, 0);
	assert_int_equal(mr_store_media_get(fx->st, &m.mxc, &got, &err),
	    MR_STORE_NOT_FOUND);
	/* Exactly at the limit fits. */
	m.size = 40;
	assert_int_equal(mr_store_media_put_quota(fx->st, &m, 0, q, 2, &over,
	    &err), MR_STORE_OK);
	/* The second period counts only p2: 40 + 50 passes its 80. */
	media_fill(&m, "example.org", "p3");
	m.size = 50;
	assert_int_equal(mr_store_media_put_quota(fx->st, &m, 0, q + 1, 1,
	    &over, &err), MR_STORE_BUSY);
	assert_int_equal(over, 0);
	assert_int_equal(mr_store_media_put_quota(fx->st, &m, 0,
	    (const struct mr_store_quota[]){ { 0, 1000 }, q[1] }, 2, &over,
	    &err), MR_STORE_BUSY);
	assert_int_equal(over, 1);
	/* Another user has quotas of their own; a taken id is CONFLICT. */
	snprintf(m.user_id, sizeof(m.user_id), "@bob:example.org");
	assert_int_equal(mr_store_media_put_quota(fx->st, &m, 0, q, 2, &over,
	    &err), MR_STORE_OK);
	assert_int_equal(mr_store_media_put_quota(fx->st, &m, 0, q, 0, &over,
	    &err), MR_STORE_CONFLICT);
	assert_int_equal(mr_store_user_upload_bytes(fx->st, "@alice:example.org",
	    0, &bytes, &err), 0);
	assert_int_equal(bytes, 100);

	/* Completing a pending id: refused leaves it pending, then fills. */
	pending_fill(&m, "p4", "@carol:example.org", INT64_C(1800000000000));
	assert_int_equal(mr_store_media_create_pending(fx->st, &m, 5,
	    INT64_C(1700000000000), &retry, &err), 0);
	media_fill(&m, "example.org", "p4");
	snprintf(m.user_id, sizeof(m.user_id), "@carol:example.org");
	m.size = 101;
	assert_int_equal(mr_store_media_put_quota(fx->st, &m, 1, q, 1, &over,
	    &err), MR_STORE_BUSY);
	assert_int_equal(mr_store_media_get(fx->st, &m.mxc, &got, &err), 0);
	assert_string_equal(got.sha256, "");
	m.size = 100;
	assert_int_equal(mr_store_media_put_quota(fx->st, &m, 1, q, 1, &over,
	    &err), MR_STORE_OK);
	assert_int_equal(mr_store_media_get(fx->st, &m.mxc, &got, &err), 0);
	assert_int_equal(got.size, 100);
	assert_int_equal(mr_store_media_put_quota(fx->st, &m, 1, q, 0, &over,
	    &err), MR_STORE_CONFLICT);
}

#define RACERS 8

/* One racer: its own store, released with the others; exit code 0 kept,
 * 1 refused by the quota, 2 anything else. */
static void
quota_racer(const char *db, int i, int go)
{
	const struct mr_store_quota q = { 0, 100 };
	struct mr_store *st;
	struct mr_media m;
	struct mr_err err;
	char id[16], c;
	int over;

	if (mr_store_open(&st, db, &err) != 0)
		_exit(2);
	media_fill(&m, "example.org", "x");
	snprintf(id, sizeof(id), "race%d", i);
	if (mr_mxc_from_parts("example.org", id, &m.mxc, &err) < 0)
		_exit(2);
	m.size = 30;
	if (read(go, &c, 1) < 0)
		_exit(2);
	switch (mr_store_media_put_quota(st, &m, 0, &q, 1, &over, &err)) {
	case MR_STORE_OK:
		_exit(0);
	case MR_STORE_BUSY:
		_exit(over == 0 ? 1 : 2);
	default:
		_exit(2);
	}
}

/*
 * Processes of one user uploading at the same instant, each with its own
 * connection: exactly the three that fit under 100 bytes are kept.
 */
static void
test_media_put_quota_concurrent(void **state)
{
	struct fixture_store *fx = *state;
	int go[2], kept = 0, refused = 0, status;
	pid_t pid[RACERS];
	struct mr_err err;
	int64_t bytes;

	assert_int_equal(pipe(go), 0);
	for (int i = 0; i < RACERS; i++) {
		assert_true((pid[i] = fork()) >= 0);
		if (pid[i] == 0) {
			close(go[1]);
			quota_racer(fx->db, i, go[0]);
		}
	}
	close(go[0]);
	/* Closing the pipe releases every racer at once. */
	usleep(300000);
	close(go[1]);
	for (int i = 0; i < RACERS; i++) {
		assert_int_equal(waitpid(pid[i], &status, 0), pid[i]);
		assert_true(WIFEXITED(status));
		kept += WEXITSTATUS(status) == 0;
		refused += WEXITSTATUS(status) == 1;
	}
	assert_int_equal(kept, 3);
	assert_int_equal(refused, RACERS - 3);
	assert_int_equal(mr_store_user_upload_bytes(fx->st, "@alice:example.org",
	    0, &bytes, &err), 0);
	assert_int_equal(bytes, 90);
}

/* --- leases --- */

/* One holder at a time; the outcome it leaves answers those after it. */
static void
test_lease_remote_media(void **state)
{
	struct fixture_store *fx = *state;
	int64_t t = INT64_C(1700000000000);
	struct mr_store_outcome done;
	struct mr_err err, failure;
	const enum mr_store_lease_kind k = MR_STORE_LEASE_REMOTE_MEDIA;

	mr_err_clear(&err);
	assert_int_equal(mr_store_lease_take(fx->st, k, "a.test/x", t, 1000,
	    &done, &err), MR_STORE_OK);
	assert_int_equal(mr_store_lease_take(fx->st, k, "a.test/x", t + 999,
	    1000, &done, &err), MR_STORE_BUSY);
	/* Another media, or the same key as another kind, is another lease. */
	assert_int_equal(mr_store_lease_take(fx->st, k, "a.test/y", t, 1000,
	    &done, &err), MR_STORE_OK);
	assert_int_equal(mr_store_lease_take(fx->st, MR_STORE_LEASE_PREVIEW,
	    "a.test/x", t, 1000, &done, &err), MR_STORE_OK);
	/* A lapsed lease goes to the next caller. */
	assert_int_equal(mr_store_lease_take(fx->st, k, "a.test/x", t + 1000,
	    1000, &done, &err), MR_STORE_OK);
	/* Neutral results leave err alone. */
	assert_int_equal(err.status, 0);

	mr_err_set(&failure, 404, "M_NOT_FOUND", "gone at origin");
	assert_int_equal(mr_store_lease_end(fx->st, k, "a.test/x", NULL,
	    &failure, t + 5000, &err), MR_STORE_OK);
	assert_int_equal(mr_store_lease_take(fx->st, k, "a.test/x", t + 4999,
	    1000, &done, &err), MR_STORE_CONFLICT);
	assert_null(done.body);
	assert_int_equal(done.failure.status, 404);
	assert_string_equal(done.failure.errcode, "M_NOT_FOUND");
	assert_string_equal(done.failure.msg, "gone at origin");
	assert_int_equal(mr_store_lease_take(fx->st, k, "a.test/x", t + 5000,
	    1000, &done, &err), MR_STORE_OK);
	/* A success keeps nothing: the media row is the outcome. */
	assert_int_equal(mr_store_lease_end(fx->st, k, "a.test/x", NULL, NULL,
	    0, &err), MR_STORE_OK);
	assert_int_equal(mr_store_lease_take(fx->st, k, "a.test/x", t + 5001,
	    1000, &done, &err), MR_STORE_OK);
}

static void
test_lease_preview(void **state)
{
	struct fixture_store *fx = *state;
	int64_t t = INT64_C(1700000000000);
	struct mr_store_outcome done;
	struct mr_err err;
	const enum mr_store_lease_kind k = MR_STORE_LEASE_PREVIEW;

	assert_int_equal(mr_store_lease_take(fx->st, k, "p", t, 1000, &done,
	    &err), MR_STORE_OK);
	assert_int_equal(mr_store_lease_end(fx->st, k, "p", "{\"og:title\":1}",
	    NULL, t + 3000, &err), MR_STORE_OK);
	assert_int_equal(mr_store_lease_take(fx->st, k, "p", t + 1, 1000, &done,
	    &err), MR_STORE_CONFLICT);
	assert_non_null(done.body);
	assert_string_equal(done.body, "{\"og:title\":1}");
	assert_int_equal(done.failure.status, 0);
	free(done.body);
	/* Stale: made again. */
	assert_int_equal(mr_store_lease_take(fx->st, k, "p", t + 3000, 1000,
	    &done, &err), MR_STORE_OK);
	assert_null(done.body);
	/* Ended with nothing to keep: the next caller takes it at once. */
	assert_int_equal(mr_store_lease_end(fx->st, k, "p", NULL, NULL, 0,
	    &err), MR_STORE_OK);
	assert_int_equal(mr_store_lease_take(fx->st, k, "p", t + 3001, 1000,
	    &done, &err), MR_STORE_OK);
}

/* Thumbnail leases share the previews' table, never their keys. */
static void
test_lease_thumbnail(void **state)
{
	struct fixture_store *fx = *state;
	int64_t t = INT64_C(1700000000000);
	struct mr_store_outcome done;
	struct mr_err err;
	const enum mr_store_lease_kind k = MR_STORE_LEASE_THUMBNAIL;
	const char *key = "a.test/x/96x96/crop";

	mr_err_clear(&err);
	assert_int_equal(mr_store_lease_take(fx->st, k, key, t, 1000, &done,
	    &err), MR_STORE_OK);
	assert_int_equal(mr_store_lease_take(fx->st, k, key, t + 999, 1000,
	    &done, &err), MR_STORE_BUSY);
	assert_int_equal(mr_store_lease_take(fx->st, MR_STORE_LEASE_PREVIEW,
	    key, t, 1000, &done, &err), MR_STORE_OK);
	assert_int_equal(mr_store_lease_take(fx->st,
	    MR_STORE_LEASE_REMOTE_MEDIA, key, t, 1000, &done, &err),
	    MR_STORE_OK);
	/* Ending the preview's lease leaves the thumbnail's held. */
	assert_int_equal(mr_store_lease_end(fx->st, MR_STORE_LEASE_PREVIEW, key,
	    NULL, NULL, 0, &err), MR_STORE_OK);
	assert_int_equal(mr_store_lease_take(fx->st, k, key, t + 1, 1000,
	    &done, &err), MR_STORE_BUSY);
	/* The maker's outcome ("original": the original serves) answers
	 * those after it until it goes stale. */
	assert_int_equal(mr_store_lease_end(fx->st, k, key, "original", NULL,
	    t + 2000, &err), MR_STORE_OK);
	assert_int_equal(mr_store_lease_take(fx->st, k, key, t + 2, 1000,
	    &done, &err), MR_STORE_CONFLICT);
	assert_string_equal(done.body, "original");
	free(done.body);
	assert_int_equal(mr_store_lease_take(fx->st, k, key, t + 2000, 1000,
	    &done, &err), MR_STORE_OK);
	assert_int_equal(mr_store_lease_end(fx->st, k, key, NULL, NULL, 0,
	    &err), MR_STORE_OK);
	assert_int_equal(mr_store_lease_take(fx->st, k, key, t + 2001, 1000,
	    &done, &err), MR_STORE_OK);
	assert_int_equal(err.status, 0);
}

static void
test_origin_breaker(void **state)
{
	struct fixture_store *fx = *state;
	int64_t t = INT64_C(1700000000000), until;
	struct mr_err err;

	assert_int_equal(mr_store_origin_down(fx->st, "dead.test", t, &until,
	    &err), 0);
	assert_int_equal(mr_store_origin_result(fx->st, "dead.test", 0, t,
	    1000, &err), 0);
	assert_int_equal(mr_store_origin_down(fx->st, "dead.test", t + 999,
	    &until, &err), MR_STORE_BUSY);
	assert_int_equal(until, t + 1000);
	assert_int_equal(mr_store_origin_down(fx->st, "dead.test", t + 1000,
	    &until, &err), 0);
	assert_int_equal(mr_store_origin_down(fx->st, "other.test", t, &until,
	    &err), 0);
	/* Failures in a row double the backoff, up to 16 times. */
	for (int i = 2; i <= 7; i++)
		assert_int_equal(mr_store_origin_result(fx->st, "dead.test", 0, t,
		    1000, &err), 0);
	assert_int_equal(mr_store_origin_down(fx->st, "dead.test", t, &until,
	    &err), MR_STORE_BUSY);
	assert_int_equal(until, t + 16000);
	/* One answer closes the breaker and forgets the failures. */
	assert_int_equal(mr_store_origin_result(fx->st, "dead.test", 1, t,
	    1000, &err), 0);
	assert_int_equal(mr_store_origin_down(fx->st, "dead.test", t, &until,
	    &err), 0);
	assert_int_equal(mr_store_origin_result(fx->st, "dead.test", 0, t,
	    1000, &err), 0);
	assert_int_equal(mr_store_origin_down(fx->st, "dead.test", t, &until,
	    &err), MR_STORE_BUSY);
	assert_int_equal(until, t + 1000);
}

/* --- migrate-store: every row out, and in again as it was --- */

static void
each_media(const struct mr_media *m, void *arg)
{
	int *n = arg;

	if (strcmp(m->mxc.id, "pend") == 0)
		assert_string_equal(m->sha256, "");
	else
		assert_string_equal(m->sha256, HASH_C);
	(*n)++;
}

static void
each_thumb(const struct mr_thumb_row *t, void *arg)
{
	int *n = arg;

	assert_int_equal(t->width, 32);
	assert_int_equal(t->crop, 1);
	(*n)++;
}

static void
each_hash(const char *sha256, int64_t created_ts, void *arg)
{
	int *n = arg;

	assert_string_equal(sha256, HASH_A);
	assert_int_equal(created_ts, 1234);
	(*n)++;
}

static void
test_each_and_import(void **state)
{
	struct fixture_store *fx = *state;
	struct mr_token_info t = { .is_guest = 1, .created_ts = 42 }, got;
	struct mr_thumb_row th;
	struct mr_media m;
	struct mr_err err;
	int n = 0;

	for (int i = 0; i < 3; i++) {
		char id[8];

		snprintf(id, sizeof(id), "m%d", i);
		media_fill(&m, i == 2 ? "other.org" : "example.org", id);
		assert_int_equal(mr_store_media_insert(fx->st, &m, &err), 0);
	}
	pending_fill(&m, "pend", "@bob:example.org", INT64_C(1) << 50);
	assert_int_equal(mr_store_media_insert(fx->st, &m, &err), 0);
	assert_int_equal(mr_store_media_each(fx->st, each_media, &n, &err), 0);
	assert_int_equal(n, 4);

	memset(&th, 0, sizeof(th));
	media_fill(&m, "example.org", "m0");
	th.mxc = m.mxc;
	th.width = th.height = 32;
	th.crop = 1;
	snprintf(th.sha256, sizeof(th.sha256), "%s", HASH_B);
	snprintf(th.content_type, sizeof(th.content_type), "image/png");
	assert_int_equal(mr_store_thumb_put(fx->st, &th, &err), 0);
	th.animated = 1;
	assert_int_equal(mr_store_thumb_put(fx->st, &th, &err), 0);
	n = 0;
	assert_int_equal(mr_store_thumb_each(fx->st, each_thumb, &n, &err), 0);
	assert_int_equal(n, 2);

	/* A token keeps its creation time; a second import is a CONFLICT. */
	snprintf(t.token_hash, sizeof(t.token_hash), "%s", HASH_A);
	snprintf(t.user_id, sizeof(t.user_id), "@carol:example.org");
	assert_int_equal(mr_store_token_import(fx->st, &t, &err), MR_STORE_OK);
	assert_int_equal(mr_store_token_import(fx->st, &t, &err),
	    MR_STORE_CONFLICT);
	assert_int_equal(mr_store_token_lookup(fx->st, HASH_A, &got, &err), 0);
	assert_int_equal(got.created_ts, 42);
	assert_int_equal(got.is_guest, 1);

	/* A hash is recorded without quarantining media that have it. */
	assert_int_equal(mr_store_quarantined_hash_add(fx->st, HASH_A, 1234,
	    &err), MR_STORE_OK);
	assert_int_equal(mr_store_quarantined_hash_add(fx->st, HASH_A, 99,
	    &err), MR_STORE_CONFLICT);
	assert_int_equal(mr_store_hash_quarantined(fx->st, HASH_A, &err), 0);
	n = 0;
	assert_int_equal(mr_store_quarantined_hash_each(fx->st, each_hash, &n,
	    &err), 0);
	assert_int_equal(n, 1);
}

/* A lease kind the backends have never heard of works like the others. */
static void
test_lease_new_kind(void **state)
{
	struct fixture_store *fx = *state;
	enum mr_store_lease_kind kind = (enum mr_store_lease_kind)7;
	struct mr_store_outcome done;
	struct mr_err err;

	if (strncmp(fx->db, "postgresql://", 13) != 0)
		return;		/* SQLite keeps a table per kind */
	assert_int_equal(mr_store_lease_take(fx->st, kind, "k", 1000, 500,
	    &done, &err), MR_STORE_OK);
	assert_int_equal(mr_store_lease_take(fx->st, kind, "k", 1100, 500,
	    &done, &err), MR_STORE_BUSY);
	assert_int_equal(mr_store_lease_end(fx->st, kind, "k", "{\"a\":1}",
	    NULL, 5000, &err), 0);
	assert_int_equal(mr_store_lease_take(fx->st, kind, "k", 1200, 500,
	    &done, &err), MR_STORE_CONFLICT);
	assert_string_equal(done.body, "{\"a\":1}");
	free(done.body);
	assert_int_equal(mr_store_lease_take(fx->st, kind, "k", 6000, 500,
	    &done, &err), MR_STORE_OK);
}

/* --- walking big tables --- */

/* More rows than a page of store_pg (1000), ties on the first key. */
#define WALK_MEDIA 2345
#define WALK_TOKENS 1500
#define WALK_HASHES 1200

/* The hash of row i: i in hex, zero-padded to 64 digits. */
static void
walk_hash(char out[65], unsigned i)
{
	snprintf(out, 65, "%064x", i);
}

/* Row number of a walk_hash, and whether it was seen before. */
static unsigned
walk_index(const char *sha256)
{
	unsigned long long i = strtoull(sha256 + 48, NULL, 16);

	assert_true(i < WALK_MEDIA + 20);
	return (unsigned)i;
}

struct walk {
	unsigned char seen[WALK_MEDIA + 20];
	int n;
	int64_t last_ts;
	char last_key[80];
};

/* Each row once, oldest first. */
static void
walk_media(const struct mr_media *m, void *arg)
{
	struct walk *w = arg;
	unsigned i = walk_index(m->sha256);

	assert_false(w->seen[i]);
	w->seen[i] = 1;
	assert_true(m->created_ts >= w->last_ts);
	w->last_ts = m->created_ts;
	w->n++;
}

static void
walk_blob(const char *sha256, void *arg)
{
	struct walk *w = arg;
	unsigned i = walk_index(sha256);

	assert_false(w->seen[i]);
	w->seen[i] = 1;
	w->n++;
}

static void
walk_token(const struct mr_token_info *t, void *arg)
{
	struct walk *w = arg;

	assert_true(t->created_ts >= w->last_ts);
	if (t->created_ts == w->last_ts)
		assert_true(strcmp(t->token_hash, w->last_key) > 0);
	w->last_ts = t->created_ts;
	snprintf(w->last_key, sizeof(w->last_key), "%s", t->token_hash);
	w->n++;
}

static void
walk_qhash(const char *sha256, int64_t created_ts, void *arg)
{
	struct walk *w = arg;

	assert_true(strcmp(sha256, w->last_key) > 0);
	assert_int_equal(created_ts, 77);
	snprintf(w->last_key, sizeof(w->last_key), "%s", sha256);
	w->n++;
}

/*
 * The calls that walk a whole table give every row once, in order, past
 * the pages store_pg reads them in.
 */
static void
test_lists_walk_every_row(void **state)
{
	struct fixture_store *fx = *state;
	struct mr_token_info t = { .user_id = "@bulk:example.org" };
	struct mr_thumb_row th;
	struct mr_media m;
	struct mr_err err;
	struct walk w;
	char id[16];

	for (unsigned i = 0; i < WALK_MEDIA; i++) {
		snprintf(id, sizeof(id), "w%u", i);
		media_fill(&m, i % 2 ? "example.org" : "far.test", id);
		walk_hash(m.sha256, i);
		snprintf(m.user_id, sizeof(m.user_id), "@bulk:example.org");
		m.created_ts = 1000 + i / 7;
		assert_int_equal(mr_store_media_insert(fx->st, &m, &err), 0);
	}
	/* Thumbnails: 10 of their media's bytes, 10 of bytes of their own. */
	for (unsigned i = 0; i < 20; i++) {
		memset(&th, 0, sizeof(th));
		snprintf(id, sizeof(id), "w%u", i);
		assert_int_equal(mr_mxc_from_parts("far.test", id, &th.mxc,
		    &err), 0);
		th.width = th.height = 32;
		walk_hash(th.sha256, i < 10 ? i : WALK_MEDIA + i);
		th.size = 1;
		snprintf(th.content_type, sizeof(th.content_type), "image/png");
		assert_int_equal(mr_store_thumb_put(fx->st, &th, &err), 0);
	}
	for (unsigned i = 0; i < WALK_TOKENS; i++) {
		walk_hash(t.token_hash, WALK_TOKENS - i);
		t.created_ts = i / 3;
		assert_int_equal(mr_store_token_import(fx->st, &t, &err), 0);
	}
	for (unsigned i = 0; i < WALK_HASHES; i++) {
		char h[65];

		walk_hash(h, i * 7919 % 100003);
		assert_int_equal(mr_store_quarantined_hash_add(fx->st, h, 77,
		    &err), 0);
	}

	memset(&w, 0, sizeof(w));
	assert_int_equal(mr_store_media_list_user(fx->st, "@bulk:example.org",
	    walk_media, &w, &err), 0);
	assert_int_equal(w.n, WALK_MEDIA);
	memset(&w, 0, sizeof(w));
	assert_int_equal(mr_store_media_list_remote(fx->st, "example.org",
	    1000 + WALK_MEDIA, walk_media, &w, &err), 0);
	assert_int_equal(w.n, (WALK_MEDIA + 1) / 2);
	memset(&w, 0, sizeof(w));
	assert_int_equal(mr_store_blob_refs(fx->st, walk_blob, &w, &err), 0);
	assert_int_equal(w.n, WALK_MEDIA + 10);
	memset(&w, 0, sizeof(w));
	w.last_ts = -1;
	assert_int_equal(mr_store_token_list(fx->st, walk_token, &w, &err), 0);
	assert_int_equal(w.n, WALK_TOKENS);
	memset(&w, 0, sizeof(w));
	assert_int_equal(mr_store_quarantined_hash_each(fx->st, walk_qhash, &w,
	    &err), 0);
	assert_int_equal(w.n, WALK_HASHES);
}

/*
 * Every backend fills every slot of the ops table: an op appended to
 * struct mr_store_ops but left out of one backend would crash there at
 * its first call. The table is a name and then function pointers only.
 */
static void
test_ops_tables_complete(void **state)
{
	const struct mr_store_ops *const tables[] = {
		&mr_store_sqlite_ops, &mr_store_pg_ops,
	};
	typedef enum mr_store_rc (*slot_fn)(void);

	(void)state;
	for (size_t t = 0; t < NELEM(tables); t++) {
		const unsigned char *p = (const unsigned char *)tables[t] +
		    sizeof(const char *);
		size_t n = (sizeof(struct mr_store_ops) - sizeof(const char *)) /
		    sizeof(slot_fn);

		assert_non_null(tables[t]->name);
		for (size_t i = 0; i < n; i++) {
			slot_fn f;

			memcpy(&f, p + i * sizeof(f), sizeof(f));
			if (f == NULL)
				fail_msg("%s: slot %zu of the ops table is NULL",
				    tables[t]->name, i);
		}
	}
}

/* --- PostgreSQL --- */

static void
test_pg_open_newer_schema_refused(void **state)
{
	struct fixture_store *fx = *state;
	struct mr_store *st = NULL;
	PGconn *c = PQconnectdb(fx->db);
	struct mr_err err;

	PGresult *r = PQexec(c, "SELECT version FROM mediarepo_schema");
	char sql[64];

	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	snprintf(sql, sizeof(sql), "UPDATE mediarepo_schema SET version = %s",
	    PQgetvalue(r, 0, 0));
	PQclear(r);
	PQclear(PQexec(c, "UPDATE mediarepo_schema SET version = 9999"));
	mr_err_clear(&err);
	assert_int_equal(mr_store_open(&st, fx->db, &err), -1);
	/* As it was, for the tests after this one. */
	PQclear(PQexec(c, sql));
	PQfinish(c);
	assert_int_equal(err.status, 500);
	assert_non_null(strstr(err.msg, "newer"));
}

static void
test_pg_bad_url(void **state)
{
	struct mr_store *st = NULL;
	struct mr_err err;

	(void)state;
	mr_err_clear(&err);
	assert_int_equal(mr_store_open(&st, "postgresql://a@/b?nosuchkey=1",
	    &err), -1);
	assert_int_equal(err.status, 500);
	assert_non_null(strstr(err.msg, "database_url"));
}

/*
 * A server that is not there: open still works (a program started during
 * an outage serves 503 until it is back), every call answers 503 at once.
 */
static void
test_pg_unreachable_is_503(void **state)
{
	struct fixture_store *fx = *state;
	struct mr_store *st = NULL;
	char url[FIXTURE_DIR_MAX + 80];
	struct mr_media m;
	struct mr_err err;
	int64_t t0;

	snprintf(url, sizeof(url), "postgresql://postgres@/x?host=%s&port=1",
	    fx->dir);
	assert_int_equal(mr_store_open(&st, url, &err), 0);
	media_fill(&m, "example.org", "abc");
	t0 = mr_mono_ms();
	assert_int_equal(mr_store_media_get(st, &m.mxc, &m, &err),
	    MR_STORE_UNAVAILABLE);
	assert_int_equal(err.status, 503);
	assert_true(err.retry_after_ms > 0);
	assert_int_equal(mr_store_media_insert(st, &m, &err),
	    MR_STORE_UNAVAILABLE);
	assert_int_equal(err.status, 503);
	assert_true(mr_mono_ms() - t0 < 2000);
	mr_store_free(st);
}

/*
 * An upload whose user's quota lock is held elsewhere (a stuck host)
 * waits about a second, then BUSY with no period named.
 */
static void
test_pg_put_quota_wait_bounded(void **state)
{
	struct fixture_store *fx = *state;
	const struct mr_store_quota q = { 0, 100 };
	PGconn *c = PQconnectdb(fx->db);
	struct mr_media m;
	struct mr_err err;
	int64_t t0, waited;
	int over;

	PQclear(PQexec(c, "BEGIN"));
	PGresult *r = PQexec(c, "SELECT pg_advisory_xact_lock(3, "
	    "hashtext('@alice:example.org'))");
	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	PQclear(r);
	media_fill(&m, "example.org", "stuck");
	t0 = mr_mono_ms();
	assert_int_equal(mr_store_media_put_quota(fx->st, &m, 0, &q, 1, &over,
	    &err), MR_STORE_BUSY);
	waited = mr_mono_ms() - t0;
	assert_int_equal(over, -1);
	assert_true(waited >= 900 && waited < 3000);
	/* The store is usable at once, and the upload goes through once
	 * the lock is free. */
	PQclear(PQexec(c, "COMMIT"));
	PQfinish(c);
	assert_int_equal(mr_store_media_put_quota(fx->st, &m, 0, &q, 1, &over,
	    &err), MR_STORE_OK);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ops_tables_complete),
		FIXTURE_STORE_TEST(test_open_twice),
		FIXTURE_STORE_TEST(test_bucket_burst_and_drain),
		FIXTURE_STORE_TEST(test_user_upload_bytes),
		FIXTURE_STORE_TEST(test_media_put_quota),
		FIXTURE_STORE_TEST(test_media_put_quota_concurrent),
		FIXTURE_STORE_TEST(test_origin_breaker),
		FIXTURE_STORE_TEST(test_lease_remote_media),
		FIXTURE_STORE_TEST(test_lease_preview),
		FIXTURE_STORE_TEST(test_lease_thumbnail),
		FIXTURE_STORE_TEST(test_open_newer_schema_refused),
		FIXTURE_STORE_TEST(test_open_bad_path),
		FIXTURE_STORE_TEST(test_media_insert_get),
		FIXTURE_STORE_TEST(test_media_strings),
		FIXTURE_STORE_TEST(test_media_not_found),
		FIXTURE_STORE_TEST(test_media_duplicate),
		FIXTURE_STORE_TEST(test_create_pending_cap),
		FIXTURE_STORE_TEST(test_create_pending_expired_do_not_count),
		FIXTURE_STORE_TEST(test_create_pending_completed_do_not_count),
		FIXTURE_STORE_TEST(test_complete_once),
		FIXTURE_STORE_TEST(test_tokens),
		FIXTURE_STORE_TEST(test_token_unknown),
		FIXTURE_STORE_TEST(test_quarantine_forms),
		FIXTURE_STORE_TEST(test_quarantine_names_who),
		FIXTURE_STORE_TEST(test_media_delete_and_references),
		FIXTURE_STORE_TEST(test_stats_and_lists),
		FIXTURE_STORE_TEST(test_each_and_import),
		FIXTURE_STORE_TEST(test_lists_walk_every_row),
	};
	/* The same cases, but those about SQLite's file, on PostgreSQL. */
	const struct CMUnitTest pg_tests[] = {
		FIXTURE_PG_STORE_TEST(test_open_twice),
		FIXTURE_PG_STORE_TEST(test_bucket_burst_and_drain),
		FIXTURE_PG_STORE_TEST(test_user_upload_bytes),
		FIXTURE_PG_STORE_TEST(test_media_put_quota),
		FIXTURE_PG_STORE_TEST(test_media_put_quota_concurrent),
		FIXTURE_PG_STORE_TEST(test_pg_put_quota_wait_bounded),
		FIXTURE_PG_STORE_TEST(test_origin_breaker),
		FIXTURE_PG_STORE_TEST(test_lease_remote_media),
		FIXTURE_PG_STORE_TEST(test_lease_preview),
		FIXTURE_PG_STORE_TEST(test_lease_thumbnail),
		FIXTURE_PG_STORE_TEST(test_lease_new_kind),
		FIXTURE_PG_STORE_TEST(test_pg_open_newer_schema_refused),
		FIXTURE_PG_STORE_TEST(test_pg_bad_url),
		FIXTURE_PG_STORE_TEST(test_pg_unreachable_is_503),
		FIXTURE_PG_STORE_TEST(test_media_insert_get),
		FIXTURE_PG_STORE_TEST(test_media_strings),
		FIXTURE_PG_STORE_TEST(test_media_not_found),
		FIXTURE_PG_STORE_TEST(test_media_duplicate),
		FIXTURE_PG_STORE_TEST(test_create_pending_cap),
		FIXTURE_PG_STORE_TEST(test_create_pending_expired_do_not_count),
		FIXTURE_PG_STORE_TEST(test_create_pending_completed_do_not_count),
		FIXTURE_PG_STORE_TEST(test_complete_once),
		FIXTURE_PG_STORE_TEST(test_tokens),
		FIXTURE_PG_STORE_TEST(test_token_unknown),
		FIXTURE_PG_STORE_TEST(test_quarantine_forms),
		FIXTURE_PG_STORE_TEST(test_quarantine_names_who),
		FIXTURE_PG_STORE_TEST(test_media_delete_and_references),
		FIXTURE_PG_STORE_TEST(test_stats_and_lists),
		FIXTURE_PG_STORE_TEST(test_each_and_import),
		FIXTURE_PG_STORE_TEST(test_lists_walk_every_row),
	};
	int failed = cmocka_run_group_tests_name("sqlite", tests, NULL, NULL);

	return failed + cmocka_run_group_tests_name("postgresql", pg_tests,
	    fixture_pg_group_setup, fixture_pg_group_teardown);
}
