/*
 * test_media: the store-backed decisions of media.c with a temp store and
 * blob store: mr_media_create per source (quarantined bytes refused for a
 * new id, kept hidden for an import, a taken id a conflict, an upload
 * past media_upload_limits refused), and the release of blobs shared by
 * several rows.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fixture_store.h"

#include "../../common/media.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Stores text as a blob and fills m for server/id with it. */
static void
stored_row(struct fixture_media *fx, struct mr_media *m, const char *server,
    const char *id, const char *text)
{
	char sha[MR_SHA256_HEX];
	struct mr_err err;

	assert_int_equal(mr_blob_put(fx->blob, text, strlen(text), sha, &err),
	    0);
	fixture_media_row(m, server, id, sha, (int64_t)strlen(text));
}

/* Quarantines the bytes sha256 as `--hash` would. */
static void
quarantine_hash(struct fixture_media *fx, const char *sha)
{
	struct mr_store_sel sel = { NULL, sha, NULL };
	struct mr_err err;
	int64_t n;

	assert_int_equal(mr_store_quarantine(fx->st, &sel, 1, &n, &err),
	    MR_STORE_OK);
}

static void
test_create_upload(void **state)
{
	struct fixture_media *fx = *state;
	struct mr_media m, got;
	struct mr_err err;

	stored_row(fx, &m, "example.org", "uploadedAAAA", "hello");
	assert_int_equal(mr_media_create(&fx->cfg, fx->st, fx->blob,
	    MR_MEDIA_UPLOAD, &m, &err), 0);
	assert_int_equal(mr_store_media_get(fx->st, &m.mxc, &got, &err),
	    MR_STORE_OK);
	assert_string_equal(got.sha256, m.sha256);
	assert_int_equal(got.size, 5);
	assert_int_equal(got.quarantined, 0);
}

/*
 * Every path that makes a new id refuses quarantined bytes, and drops
 * the blob it was about to name: an og:image or a remote fetch must not
 * bring them back under a new mxc.
 */
static void
test_create_quarantined_refused(void **state)
{
	static const enum mr_media_source srcs[] = {
		MR_MEDIA_UPLOAD, MR_MEDIA_PREVIEW, MR_MEDIA_REMOTE,
	};
	struct fixture_media *fx = *state;
	struct mr_media m, got;
	struct mr_err err;

	for (size_t i = 0; i < NELEM(srcs); i++) {
		stored_row(fx, &m, srcs[i] == MR_MEDIA_REMOTE ?
		    "remote.example" : "example.org", "bannedAAAAAA", "banned");
		quarantine_hash(fx, m.sha256);
		mr_err_clear(&err);
		assert_int_equal(mr_media_create(&fx->cfg, fx->st, fx->blob,
		    srcs[i], &m, &err), -1);
		assert_int_equal(err.status, 403);
		assert_string_equal(err.errcode, "M_FORBIDDEN");
		assert_int_equal(mr_store_media_get(fx->st, &m.mxc, &got,
		    &err), MR_STORE_NOT_FOUND);
		assert_false(fixture_blob_exists(fx, m.sha256));
	}
}

/* An imported id is already known to users: kept, but hidden. */
static void
test_create_import_keeps_quarantined(void **state)
{
	struct fixture_media *fx = *state;
	struct mr_media m, got;
	struct mr_err err;

	stored_row(fx, &m, "example.org", "importedAAAA", "banned");
	quarantine_hash(fx, m.sha256);
	assert_int_equal(mr_media_create(&fx->cfg, fx->st, fx->blob,
	    MR_MEDIA_IMPORT, &m, &err), 0);
	assert_int_equal(m.quarantined, 1);
	assert_int_equal(mr_store_media_get(fx->st, &m.mxc, &got, &err),
	    MR_STORE_OK);
	assert_int_equal(got.quarantined, 1);
	assert_true(fixture_blob_exists(fx, m.sha256));
}

/* A row born quarantined bans its bytes for every later id. */
static void
test_create_quarantined_row_bans_bytes(void **state)
{
	struct fixture_media *fx = *state;
	struct mr_media m, other;
	struct mr_err err;

	stored_row(fx, &m, "example.org", "importedBBBB", "from synapse");
	m.quarantined = 1;
	assert_int_equal(mr_media_create(&fx->cfg, fx->st, fx->blob,
	    MR_MEDIA_IMPORT, &m, &err), 0);
	assert_int_equal(mr_store_hash_quarantined(fx->st, m.sha256, &err),
	    MR_STORE_OK);
	stored_row(fx, &other, "example.org", "uploadedBBBB", "from synapse");
	assert_int_equal(mr_media_create(&fx->cfg, fx->st, fx->blob,
	    MR_MEDIA_UPLOAD, &other, &err), -1);
	assert_int_equal(err.status, 403);
	/* The imported row still names the blob: it stays. */
	assert_true(fixture_blob_exists(fx, m.sha256));
}

static void
test_create_conflicts(void **state)
{
	struct fixture_media *fx = *state;
	struct mr_media m;
	struct mr_err err;

	stored_row(fx, &m, "example.org", "takenAAAAAAA", "one");
	assert_int_equal(mr_media_create(&fx->cfg, fx->st, fx->blob,
	    MR_MEDIA_UPLOAD, &m, &err), 0);
	stored_row(fx, &m, "example.org", "takenAAAAAAA", "two");
	assert_int_equal(mr_media_create(&fx->cfg, fx->st, fx->blob,
	    MR_MEDIA_UPLOAD, &m, &err), -1);
	assert_int_equal(err.status, 409);
	assert_string_equal(err.errcode, "M_CANNOT_OVERWRITE_MEDIA");
	/* PUT to an id create never reserved: nothing to complete. */
	stored_row(fx, &m, "example.org", "neverReserve", "three");
	mr_err_clear(&err);
	assert_int_equal(mr_media_create(&fx->cfg, fx->st, fx->blob,
	    MR_MEDIA_UPLOAD_RESERVED, &m, &err), -1);
	assert_true(err.status == 404 || err.status == 409);
	mr_err_clear(&err);
	assert_int_equal(mr_media_create(&fx->cfg, fx->st, fx->blob,
	    MR_MEDIA__SOURCES, &m, &err), -1);
	assert_int_equal(err.status, 500);
}

/* A row that stands now, as an upload's does. */
static void
stored_row_now(struct fixture_media *fx, struct mr_media *m, const char *id,
    const char *text)
{
	stored_row(fx, m, "example.org", id, text);
	m->created_ts = mr_now_ms();
}

/*
 * media_upload_limits is decided as the row is written: the upload past
 * it is refused with the limit's error and leaves neither row nor blob;
 * a reserved id stays pending; rows that are not uploads are not refused.
 */
static void
test_create_upload_quota(void **state)
{
	struct fixture_media *fx = *state;
	struct mr_media m, got;
	struct mr_err err;
	int64_t retry;

	fx->cfg.n_upload_limits = 1;
	fx->cfg.upload_limits[0].period_ms = 3600000;
	fx->cfg.upload_limits[0].bytes = 10;
	stored_row_now(fx, &m, "quotaAAAAAAA", "hello");
	assert_int_equal(mr_media_create(&fx->cfg, fx->st, fx->blob,
	    MR_MEDIA_UPLOAD, &m, &err), 0);
	stored_row_now(fx, &m, "quotaBBBBBBB", "world!");
	assert_int_equal(mr_media_create(&fx->cfg, fx->st, fx->blob,
	    MR_MEDIA_UPLOAD, &m, &err), -1);
	assert_int_equal(err.status, 400);
	assert_string_equal(err.errcode, "M_RESOURCE_LIMIT_EXCEEDED");
	assert_string_equal(err.limit_name, "media_upload_limits");
	assert_int_equal(mr_store_media_get(fx->st, &m.mxc, &got, &err),
	    MR_STORE_NOT_FOUND);
	assert_false(fixture_blob_exists(fx, m.sha256));
	/* PUT to a reserved id: refused, the id stays pending. */
	stored_row_now(fx, &m, "quotaDDDDDDD", "toolong");
	m.expires_ts = mr_now_ms() + 60000;
	{
		struct mr_media p = m;

		p.sha256[0] = '\0';
		p.size = 0;
		assert_int_equal(mr_store_media_create_pending(fx->st, &p, 5,
		    mr_now_ms(), &retry, &err), MR_STORE_OK);
	}
	m.expires_ts = 0;
	assert_int_equal(mr_media_create(&fx->cfg, fx->st, fx->blob,
	    MR_MEDIA_UPLOAD_RESERVED, &m, &err), -1);
	assert_int_equal(err.status, 400);
	assert_int_equal(mr_store_media_get(fx->st, &m.mxc, &got, &err), 0);
	assert_string_equal(got.sha256, "");
	assert_false(fixture_blob_exists(fx, m.sha256));
	/* What still fits goes through, up to the limit exactly. */
	stored_row_now(fx, &m, "quotaDDDDDDD", "abcde");
	assert_int_equal(mr_media_create(&fx->cfg, fx->st, fx->blob,
	    MR_MEDIA_UPLOAD_RESERVED, &m, &err), 0);
	assert_int_equal(mr_store_media_get(fx->st, &m.mxc, &got, &err), 0);
	assert_int_equal(got.size, 5);
	/* A preview image is the server's fetch, not an upload: never
	 * refused (though it counts, as the user's media). */
	stored_row_now(fx, &m, "quotaCCCCCCC", "world!");
	assert_int_equal(mr_media_create(&fx->cfg, fx->st, fx->blob,
	    MR_MEDIA_PREVIEW, &m, &err), 0);
}

/* A blob shared by two rows goes with the last of them. */
static void
test_delete_shared_blob(void **state)
{
	struct fixture_media *fx = *state;
	struct mr_media_freed freed = { 0, 0 };
	struct mr_media a, b;
	struct mr_err err;

	stored_row(fx, &a, "example.org", "sharedAAAAAA", "same bytes");
	stored_row(fx, &b, "example.org", "sharedBBBBBB", "same bytes");
	assert_int_equal(mr_media_create(&fx->cfg, fx->st, fx->blob,
	    MR_MEDIA_UPLOAD, &a, &err), 0);
	assert_int_equal(mr_media_create(&fx->cfg, fx->st, fx->blob,
	    MR_MEDIA_UPLOAD, &b, &err), 0);
	assert_int_equal(mr_media_blob_release(fx->st, fx->blob, a.sha256,
	    &err), 0);
	assert_int_equal(mr_media_delete(fx->st, fx->blob, &a.mxc, &freed,
	    &err), 0);
	assert_int_equal(freed.blobs, 0);
	assert_true(fixture_blob_exists(fx, a.sha256));
	assert_int_equal(mr_media_delete(fx->st, fx->blob, &b.mxc, &freed,
	    &err), 0);
	assert_int_equal(freed.blobs, 1);
	assert_int_equal(freed.bytes, 10);
	assert_false(fixture_blob_exists(fx, a.sha256));
	assert_int_equal(mr_media_delete(fx->st, fx->blob, &b.mxc, &freed,
	    &err), -1);
	assert_int_equal(err.status, 404);
	/* Released once nothing names it; a second release finds nothing. */
	stored_row(fx, &a, "example.org", "unusedAAAAAA", "orphan");
	assert_int_equal(mr_media_blob_release(fx->st, fx->blob, a.sha256,
	    &err), 1);
	assert_int_equal(mr_media_blob_release(fx->st, fx->blob, a.sha256,
	    &err), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		FIXTURE_MEDIA_TEST(test_create_upload),
		FIXTURE_MEDIA_TEST(test_create_quarantined_refused),
		FIXTURE_MEDIA_TEST(test_create_import_keeps_quarantined),
		FIXTURE_MEDIA_TEST(test_create_quarantined_row_bans_bytes),
		FIXTURE_MEDIA_TEST(test_create_conflicts),
		FIXTURE_MEDIA_TEST(test_create_upload_quota),
		FIXTURE_MEDIA_TEST(test_delete_shared_blob),
	};

	return cmocka_run_group_tests(tests, fixture_sodium_setup, NULL);
}
