/*
 * test_maint: gc and verify over a temp store and blob store: what is an
 * orphan, what a dry run leaves, the minimum age, strays left alone, and
 * verify's corrupt, missing and stray findings, with the events and
 * counts the admin tool prints from.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fixture_store.h"

#include "../../common/maint.h"
#include "../../common/media.h"

/* What a job reported: events by kind, the last one's where, steps. */
struct seen {
	int64_t total, steps, ends;
	int events[MR_MAINT_UPLOAD + 1];
	char where[PATH_MAX];
};

static void
seen_start(void *arg, int64_t total)
{
	((struct seen *)arg)->total = total;
}

static void
seen_step(void *arg, int64_t bytes)
{
	(void)bytes;
	((struct seen *)arg)->steps++;
}

static void
seen_end(void *arg)
{
	((struct seen *)arg)->ends++;
}

static void
seen_event(void *arg, enum mr_maint_event ev, const char *where,
    const char *detail)
{
	struct seen *s = arg;

	(void)detail;
	s->events[ev]++;
	snprintf(s->where, sizeof(s->where), "%s", where ? where : "");
}

static struct mr_maint_report
reporter(struct seen *s)
{
	struct mr_maint_report r = { seen_start, seen_step, seen_end,
	    seen_event, s };

	memset(s, 0, sizeof(*s));
	return r;
}

/* Stores text; with id, a row names it. The blob's hash in sha. */
static void
add_blob(struct fixture_media *fx, const char *id, const char *text,
    char sha[MR_SHA256_HEX])
{
	struct mr_media m;
	struct mr_err err;

	assert_int_equal(mr_blob_put(fx->blob, text, strlen(text), sha, &err),
	    0);
	if (id == NULL)
		return;
	fixture_media_row(&m, "example.org", id, sha, (int64_t)strlen(text));
	assert_int_equal(mr_media_create(&fx->cfg, fx->st, fx->blob,
	    MR_MEDIA_IMPORT, &m, &err), 0);
}

/* The file of blob sha. */
static void
blob_file(struct fixture_media *fx, const char *sha, struct mr_blob_loc *loc)
{
	struct mr_err err;

	assert_int_equal(mr_blob_locate(fx->blob, sha, loc, &err), 0);
	assert_int_equal(loc->kind, MR_BLOB_LOC_FILE);
}

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

static void
test_gc(void **state)
{
	struct fixture_media *fx = *state;
	char named[MR_SHA256_HEX], orphan[MR_SHA256_HEX], stray[PATH_MAX + 8];
	struct mr_maint_gc g;
	struct mr_blob_loc loc;
	struct mr_maint_report r;
	struct seen s;
	struct mr_err err;

	add_blob(fx, "namedAAAAAAA", "named bytes", named);
	add_blob(fx, NULL, "orphan", orphan);
	blob_file(fx, named, &loc);
	snprintf(stray, sizeof(stray), "%.*s/junk",
	    (int)(strrchr(loc.where, '/') - loc.where), loc.where);
	write_file(stray, "not a blob");

	/* Everything is young: nothing is even looked up. */
	memset(&g, 0, sizeof(g));
	g.min_age_ms = 3600 * 1000;
	r = reporter(&s);
	assert_int_equal(mr_maint_gc(&fx->cfg, fx->st, fx->blob, &g, &r, &err),
	    0);
	assert_int_equal(g.young, 2);
	assert_int_equal(g.removed + g.kept, 0);
	assert_int_equal(g.stray, 1);
	assert_int_equal(s.events[MR_MAINT_STRAY], 1);
	assert_int_equal(s.total, 3);
	assert_int_equal(s.steps, 3);
	assert_int_equal(s.ends, 1);
	assert_true(fixture_blob_exists(fx, orphan));

	/* A dry run names the orphan and removes nothing. */
	memset(&g, 0, sizeof(g));
	g.dry_run = 1;
	r = reporter(&s);
	assert_int_equal(mr_maint_gc(&fx->cfg, fx->st, fx->blob, &g, &r, &err),
	    0);
	assert_int_equal(g.removed, 1);
	assert_int_equal(g.bytes, 6);
	assert_int_equal(g.kept, 1);
	assert_int_equal(s.events[MR_MAINT_ORPHAN], 1);
	assert_non_null(strstr(s.where, orphan));
	assert_true(fixture_blob_exists(fx, orphan));

	/* The real run removes it; the named blob and the stray stay. */
	memset(&g, 0, sizeof(g));
	r = reporter(&s);
	assert_int_equal(mr_maint_gc(&fx->cfg, fx->st, fx->blob, &g, &r, &err),
	    0);
	assert_int_equal(g.removed, 1);
	assert_int_equal(g.kept, 1);
	assert_int_equal(g.errors, 0);
	assert_int_equal(s.events[MR_MAINT_ORPHAN], 0);
	assert_false(fixture_blob_exists(fx, orphan));
	assert_true(fixture_blob_exists(fx, named));
	assert_int_equal(access(stray, F_OK), 0);
	/* Files keep no unfinished uploads apart from their temp files. */
	assert_int_equal(g.uploads_checked, 0);
	assert_int_equal(g.uploads_aborted + g.uploads_young, 0);
}

static void
test_verify(void **state)
{
	struct fixture_media *fx = *state;
	char good[MR_SHA256_HEX], bad[MR_SHA256_HEX], gone[MR_SHA256_HEX];
	char stray[PATH_MAX + 8];
	struct mr_maint_verify v;
	struct mr_blob_loc loc;
	struct mr_maint_report r;
	struct seen s;
	struct mr_err err;

	add_blob(fx, "goodAAAAAAAA", "good bytes", good);
	add_blob(fx, "badAAAAAAAAA", "bad bytes", bad);
	add_blob(fx, "goneAAAAAAAA", "gone bytes", gone);

	memset(&v, 0, sizeof(v));
	r = reporter(&s);
	assert_int_equal(mr_maint_verify(fx->st, fx->blob, &v, &r, &err), 0);
	assert_int_equal(v.ok, 3);
	assert_int_equal(v.corrupt + v.missing + v.stray + v.unreadable, 0);

	/* Other bytes under bad's name; gone's file removed; a stray. */
	blob_file(fx, bad, &loc);
	assert_int_equal(unlink(loc.where), 0);
	write_file(loc.where, "tampered");
	snprintf(stray, sizeof(stray), "%.*s/junk",
	    (int)(strrchr(loc.where, '/') - loc.where), loc.where);
	write_file(stray, "not a blob");
	blob_file(fx, gone, &loc);
	assert_int_equal(unlink(loc.where), 0);

	memset(&v, 0, sizeof(v));
	r = reporter(&s);
	assert_int_equal(mr_maint_verify(fx->st, fx->blob, &v, &r, &err), 0);
	assert_int_equal(v.ok, 1);
	assert_int_equal(v.corrupt, 1);
	assert_int_equal(v.missing, 1);
	assert_int_equal(v.stray, 1);
	assert_int_equal(v.unreadable, 0);
	assert_int_equal(s.events[MR_MAINT_CORRUPT], 1);
	assert_int_equal(s.events[MR_MAINT_MISSING], 1);
	/* Missing comes last, from the rows: where the file would be. */
	assert_non_null(strstr(s.where, gone));
	assert_int_equal(s.ends, 1);
}

static void
test_import_needs_a_directory(void **state)
{
	struct fixture_media *fx = *state;
	struct mr_maint_import im;
	struct mr_maint_report r;
	struct seen s;
	struct mr_err err;

	memset(&im, 0, sizeof(im));
	r = reporter(&s);
	assert_int_equal(mr_maint_import_synapse(&fx->cfg, fx->st, fx->blob,
	    "/nonexistent/media_store", "/nonexistent/homeserver.db", &im, &r,
	    &err), -1);
	assert_non_null(strstr(err.msg, "is not a directory"));
	assert_int_equal(s.ends, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		FIXTURE_MEDIA_TEST(test_gc),
		FIXTURE_MEDIA_TEST(test_verify),
		FIXTURE_MEDIA_TEST(test_import_needs_a_directory),
	};

	return cmocka_run_group_tests(tests, fixture_sodium_setup, NULL);
}
