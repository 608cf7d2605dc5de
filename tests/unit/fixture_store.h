/*
 * fixture_store.h: the temp directory a unit test works in, and a fresh
 * store (SQLite file) in it, so tests do not each carry a copy. Include
 * after cmocka.h. Everything is static inline: a test uses what it needs
 * and the rest costs no warning.
 *
 * A test that needs only a directory and a store is listed as
 * FIXTURE_STORE_TEST(test_x), with *state a struct fixture_store. Tests with more state build theirs
 * from fixture_dir_make, fixture_store_open and fixture_dir_remove.
 * Tests of code over both the store and the blob store (media, maint)
 * use struct fixture_media: default config, blobs in dir/media.
 */
#ifndef MR_TEST_FIXTURE_STORE_H
#define MR_TEST_FIXTURE_STORE_H

#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "../../common/blob.h"
#include "../../common/config.h"
#include "../../common/store.h"

/* The fixture directory: "/tmp/mr-test-NAME-XXXXXX" once made. */
#define FIXTURE_DIR_MAX PATH_MAX

static inline int
fixture_rm_entry(const char *p, const struct stat *sb, int flag,
    struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

/* A new empty directory named after the test; -1 when it cannot be made. */
static inline int
fixture_dir_make(char dir[FIXTURE_DIR_MAX], const char *name)
{
	if ((size_t)snprintf(dir, FIXTURE_DIR_MAX, "/tmp/mr-test-%s-XXXXXX",
	    name) >= FIXTURE_DIR_MAX)
		return -1;
	return mkdtemp(dir) == NULL ? -1 : 0;
}

/* Removes dir and everything under it (symlinks are not followed). */
static inline void
fixture_dir_remove(const char *dir)
{
	nftw(dir, fixture_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* dir/name into out (FIXTURE_DIR_MAX + 64 bytes or more). */
static inline void
fixture_path(char *out, size_t outsz, const char *dir, const char *name)
{
	snprintf(out, outsz, "%s/%s", dir, name);
}

/* A fresh store in dir/test.db; -1 (and why on stderr) when it fails. */
static inline int
fixture_store_open(const char *dir, struct mr_store **st)
{
	char db[FIXTURE_DIR_MAX + 16];
	struct mr_err err;

	fixture_path(db, sizeof(db), dir, "test.db");
	if (mr_store_open(st, db, &err) != 0) {
		fprintf(stderr, "store open '%s': %s\n", db, err.msg);
		return -1;
	}
	return 0;
}

struct fixture_store {
	char dir[FIXTURE_DIR_MAX];
	char db[FIXTURE_DIR_MAX + 16];	/* the store's file, to open it again */
	struct mr_store *st;
};

/* cmocka setup: *state becomes a struct fixture_store. */
static inline int
fixture_store_setup(void **state)
{
	struct fixture_store *fx = calloc(1, sizeof(*fx));

	if (fx == NULL || fixture_dir_make(fx->dir, "store") < 0 ||
	    fixture_store_open(fx->dir, &fx->st) < 0) {
		free(fx);
		return -1;
	}
	fixture_path(fx->db, sizeof(fx->db), fx->dir, "test.db");
	*state = fx;
	return 0;
}

static inline int
fixture_store_teardown(void **state)
{
	struct fixture_store *fx = *state;

	mr_store_free(fx->st);
	fixture_dir_remove(fx->dir);
	free(fx);
	return 0;
}

#define FIXTURE_STORE_TEST(f) \
	cmocka_unit_test_setup_teardown(f, fixture_store_setup, \
	    fixture_store_teardown)

struct fixture_media {
	char dir[FIXTURE_DIR_MAX];
	struct mr_store *st;
	struct mr_config cfg;		/* defaults; media_store_path in dir */
	struct mr_blob *blob;
};

/*
 * The rest of a struct fixture_media once dir and st are there: default
 * config, blobs in dir/media. On failure st is freed.
 */
static inline int
fixture_media_finish(struct fixture_media *fx)
{
	struct mr_err err;

	mr_config_defaults(&fx->cfg);
	snprintf(fx->cfg.server_name, sizeof(fx->cfg.server_name),
	    "example.org");
	if ((size_t)snprintf(fx->cfg.media_store_path,
	    sizeof(fx->cfg.media_store_path), "%.*s/media", PATH_MAX - 16,
	    fx->dir) >= sizeof(fx->cfg.media_store_path) ||
	    mr_blob_store_open(&fx->cfg, 1, &fx->blob, &err) < 0) {
		mr_store_free(fx->st);
		return -1;
	}
	return 0;
}

/* cmocka setup: *state becomes a struct fixture_media. */
static inline int
fixture_media_setup(void **state)
{
	struct fixture_media *fx = calloc(1, sizeof(*fx));

	if (fx == NULL || fixture_dir_make(fx->dir, "media") < 0 ||
	    fixture_store_open(fx->dir, &fx->st) < 0) {
		free(fx);
		return -1;
	}
	if (fixture_media_finish(fx) < 0) {
		free(fx);
		return -1;
	}
	*state = fx;
	return 0;
}

static inline int
fixture_media_teardown(void **state)
{
	struct fixture_media *fx = *state;

	mr_blob_store_close(fx->blob);
	mr_store_free(fx->st);
	fixture_dir_remove(fx->dir);
	free(fx);
	return 0;
}

#define FIXTURE_MEDIA_TEST(f) \
	cmocka_unit_test_setup_teardown(f, fixture_media_setup, \
	    fixture_media_teardown)

/* A complete media row of text/plain bytes stored under sha256. */
static inline void
fixture_media_row(struct mr_media *m, const char *server, const char *id,
    const char *sha256, int64_t size)
{
	struct mr_err err;

	memset(m, 0, sizeof(*m));
	assert_int_equal(mr_mxc_from_parts(server, id, &m->mxc, &err), 0);
	snprintf(m->sha256, sizeof(m->sha256), "%s", sha256);
	m->size = size;
	snprintf(m->content_type, sizeof(m->content_type), "text/plain");
	snprintf(m->user_id, sizeof(m->user_id), "@alice:example.org");
	m->created_ts = INT64_C(1700000000000);
}

/* 1 when the blob store holds sha256. */
static inline int
fixture_blob_exists(struct fixture_media *fx, const char *sha256)
{
	struct mr_err err;
	int64_t size;

	return mr_blob_stat(fx->blob, sha256, &size, &err) == 0;
}

/* A group setup for tests that hash or draw random bytes. */
static inline int
fixture_sodium_setup(void **state)
{
	(void)state;
	return sodium_init() < 0 ? -1 : 0;
}

#endif
