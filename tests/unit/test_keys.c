/*
 * test_keys: key lines, the spec's signing key and JSON signing vectors
 * (spec.md 5.2, 5.3), detached signatures and their checks, public key
 * decoding and key ids, with valid/invalid tables; and writing the key
 * file: 0600 from the start, never through a symlink, never half-written.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <cmocka.h>

#include "fixture_store.h"
#include <sodium.h>

#include "../../common/json.h"
#include "../../common/keys.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

#define SPEC_SEED "YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1"
#define SPEC_PK "XGX0JRS2Af3be3knz2fBiRbApjm2Dh61gXDJA8kcJNI"
#define SPEC_SIG_EMPTY "K8280/U9SSy9IVtjBuVeLr+HpOB4BQFWbg+UZaADMtTdGYI7Geit" \
	"b76LTrr5QV/7Xg4ahLwYGYZzuHGZKM5ZAQ"
#define SPEC_SIG_ONE_TWO "KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/f" \
	"pNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bw"

static void
spec_key(struct mr_signing_key *key)
{
	struct mr_err err;

	assert_int_equal(mr_keys_parse_line("ed25519 1 " SPEC_SEED, key, &err),
	    0);
}

/* Canonical bytes of a tree, for whole-object comparisons. */
static void
assert_canonical(const cJSON *v, const char *want)
{
	struct mr_err err;
	char *out;

	assert_int_equal(mr_json_canonical(v, &out, NULL, &err), 0);
	assert_string_equal(out, want);
	free(out);
}

static void
test_parse_line(void **state)
{
	static const char *const valids[] = {
		"ed25519 1 " SPEC_SEED,
		"ed25519 1 " SPEC_SEED "=",		/* padding accepted */
		"ed25519 a_B9 " SPEC_SEED "\n",
		"ed25519\t1\t" SPEC_SEED,
		"ed25519 0123456789012345678901234567890123456789012345678901"
		    "234567890123 " SPEC_SEED,		/* 64-char version */
	};
	static const char *const invalids[] = {
		"",
		"ed25519",
		"ed25519 1",
		"curve25519 1 " SPEC_SEED,
		"ED25519 1 " SPEC_SEED,
		"ed25519 a-b " SPEC_SEED,
		"ed25519 a.b " SPEC_SEED,
		"ed25519 a:b " SPEC_SEED,
		"ed25519 é " SPEC_SEED,
		"ed25519 0123456789012345678901234567890123456789012345678901"
		    "2345678901234 " SPEC_SEED,		/* 65-char version */
		"ed25519 1 YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA",	/* short */
		"ed25519 1 YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1AA", /* long */
		"ed25519 1 YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW-3XA1",	/* url-safe */
		"ed25519 1 !JDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1",
	};
	struct mr_signing_key key;
	struct mr_err err;
	char pk[64];

	(void)state;
	for (size_t i = 0; i < NELEM(valids); i++) {
		if (mr_keys_parse_line(valids[i], &key, &err) != 0)
			fail_msg("'%s' refused: %s", valids[i], err.msg);
		mr_keys_public_b64(&key, pk);
		assert_string_equal(pk, SPEC_PK);
	}
	assert_string_equal(key.version, "01234567890123456789012345678901234"
	    "56789012345678901234567890123");
	for (size_t i = 0; i < NELEM(invalids); i++)
		if (mr_keys_parse_line(invalids[i], &key, &err) != -1)
			fail_msg("'%s' accepted", invalids[i]);
}

static void
test_spec_key(void **state)
{
	struct mr_signing_key key;
	unsigned char pk[32];
	struct mr_err err;
	char hex[65], b64[64];

	(void)state;
	spec_key(&key);
	assert_string_equal(key.version, "1");
	mr_hex_encode(key.seed, sizeof(key.seed), hex);
	assert_string_equal(hex, "6090c103d5e7af6b15a970fd563ed75549e6159719ae"
	    "5c3c31dee4316fb75c0d");
	mr_keys_public_b64(&key, b64);
	assert_string_equal(b64, SPEC_PK);
	assert_int_equal(mr_keys_decode_public(SPEC_PK, pk, &err), 0);
	assert_memory_equal(pk, key.pk, 32);
}

/* spec.md 5.3, both vectors, compared as whole canonical objects. */
static void
test_sign_spec_vectors(void **state)
{
	struct mr_signing_key key;
	struct mr_err err;
	char sig[90];
	cJSON *v;

	(void)state;
	spec_key(&key);
	v = cJSON_Parse("{}");
	assert_int_equal(mr_keys_sign_detached(v, &key, sig, &err), 0);
	assert_string_equal(sig, SPEC_SIG_EMPTY);
	assert_int_equal(strlen(sig), MR_KEYS_SIG_B64_LEN);
	assert_int_equal(mr_keys_sign_json(v, "domain", &key, &err), 0);
	assert_canonical(v, "{\"signatures\":{\"domain\":{\"ed25519:1\":\""
	    SPEC_SIG_EMPTY "\"}}}");
	cJSON_Delete(v);

	v = cJSON_Parse("{\"one\": 1, \"two\": \"Two\"}");
	assert_int_equal(mr_keys_sign_json(v, "domain", &key, &err), 0);
	assert_canonical(v, "{\"one\":1,\"signatures\":{\"domain\":"
	    "{\"ed25519:1\":\"" SPEC_SIG_ONE_TWO "\"}},\"two\":\"Two\"}");
	cJSON_Delete(v);
}

/*
 * signatures and unsigned are not covered: the signature is the spec's,
 * other signatures stay, unsigned comes back, and signing again under the
 * same key id replaces rather than adds.
 */
static void
test_sign_merges(void **state)
{
	struct mr_signing_key key;
	struct mr_err err;
	cJSON *v;

	(void)state;
	spec_key(&key);
	v = cJSON_Parse("{\"two\":\"Two\",\"unsigned\":{\"age\":5},\"signatures\":"
	    "{\"other\":{\"ed25519:x\":\"abc\"},\"domain\":{\"ed25519:0\":"
	    "\"zzz\",\"ed25519:1\":\"old\"}},\"one\":1}");
	assert_non_null(v);
	assert_int_equal(mr_keys_sign_json(v, "domain", &key, &err), 0);
	assert_canonical(v, "{\"one\":1,\"signatures\":{\"domain\":{\"ed25519:0\""
	    ":\"zzz\",\"ed25519:1\":\"" SPEC_SIG_ONE_TWO "\"},\"other\":"
	    "{\"ed25519:x\":\"abc\"}},\"two\":\"Two\",\"unsigned\":{\"age\":5}}");
	assert_int_equal(mr_keys_sign_json(v, "domain", &key, &err), 0);
	assert_int_equal(mr_keys_sign_json(v, "other.example", &key, &err), 0);
	assert_canonical(v, "{\"one\":1,\"signatures\":{\"domain\":{\"ed25519:0\""
	    ":\"zzz\",\"ed25519:1\":\"" SPEC_SIG_ONE_TWO "\"},\"other\":"
	    "{\"ed25519:x\":\"abc\"},\"other.example\":{\"ed25519:1\":\""
	    SPEC_SIG_ONE_TWO "\"}},\"two\":\"Two\",\"unsigned\":{\"age\":5}}");
	cJSON_Delete(v);
}

/* Refusals leave the object as it was. */
static void
test_sign_refusals(void **state)
{
	static const char *const bad[] = {
		"[]",
		"\"x\"",
		"{\"signatures\":[]}",
		"{\"signatures\":{\"domain\":\"x\"}}",
		"{\"a\":1.5}",
		"{\"a\":1,\"a\":2}",
		"{\"signatures\":{},\"signatures\":{}}",
	};
	struct mr_signing_key key;
	struct mr_err err;
	char sig[90], *before, *after;

	(void)state;
	spec_key(&key);
	for (size_t i = 0; i < NELEM(bad); i++) {
		cJSON *v = cJSON_Parse(bad[i]);

		assert_non_null(v);
		before = cJSON_PrintUnformatted(v);
		if (mr_keys_sign_json(v, "domain", &key, &err) != -1 ||
		    err.status != 400)
			fail_msg("'%s' signed", bad[i]);
		after = cJSON_PrintUnformatted(v);
		assert_string_equal(before, after);
		free(before);
		free(after);
		cJSON_Delete(v);
	}
	{
		cJSON *v = cJSON_Parse("{\"a\":0.5}");

		assert_int_equal(mr_keys_sign_detached(v, &key, sig, &err), -1);
		assert_string_equal(sig, "");
		cJSON_Delete(v);
	}
}

static void
test_verify(void **state)
{
	struct mr_signing_key key, other;
	struct mr_err err;
	cJSON *v, *t;

	(void)state;
	spec_key(&key);
	assert_int_equal(mr_keys_parse_line("ed25519 2 "
	    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", &other, &err), 0);
	v = cJSON_Parse("{\"one\":1,\"two\":\"Two\"}");
	assert_int_equal(mr_keys_verify_json(v, key.pk, SPEC_SIG_ONE_TWO,
	    &err), 0);
	/* padded base64 is accepted too */
	assert_int_equal(mr_keys_verify_json(v, key.pk, SPEC_SIG_ONE_TWO "==",
	    &err), 0);
	/* signatures and unsigned do not matter */
	cJSON_AddItemToObject(v, "unsigned", cJSON_CreateObject());
	assert_int_equal(mr_keys_sign_json(v, "domain", &key, &err), 0);
	assert_int_equal(mr_keys_verify_json(v, key.pk, SPEC_SIG_ONE_TWO,
	    &err), 0);

	/* wrong key */
	mr_err_clear(&err);
	assert_int_equal(mr_keys_verify_json(v, other.pk, SPEC_SIG_ONE_TWO,
	    &err), -1);
	assert_int_equal(err.status, 401);
	assert_string_equal(err.errcode, "M_UNAUTHORIZED");
	/* another object's signature */
	assert_int_equal(mr_keys_verify_json(v, key.pk, SPEC_SIG_EMPTY, &err),
	    -1);
	assert_int_equal(err.status, 401);

	/* tampered */
	t = cJSON_Duplicate(v, 1);
	cJSON_ReplaceItemInObject(t, "two", cJSON_CreateString("Tw0"));
	mr_err_clear(&err);
	assert_int_equal(mr_keys_verify_json(t, key.pk, SPEC_SIG_ONE_TWO,
	    &err), -1);
	assert_int_equal(err.status, 401);
	cJSON_Delete(t);
	t = cJSON_Duplicate(v, 1);
	cJSON_AddNumberToObject(t, "three", 3);
	assert_int_equal(mr_keys_verify_json(t, key.pk, SPEC_SIG_ONE_TWO,
	    &err), -1);
	cJSON_Delete(t);
	cJSON_Delete(v);
}

/* Signature strings that never reach ed25519. */
static void
test_verify_bad_b64(void **state)
{
	static const char *const bad[] = {
		"",
		"!!!!",
		SPEC_SIG_ONE_TWO "A",			/* 87 chars */
		SPEC_SIG_ONE_TWO "AA",			/* 65 bytes */
		"KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/fpNSoqE7BP7"
		    "vBZhG6kYdD13EIMJpvhJI+6B",		/* 85 chars */
		SPEC_PK,				/* 32 bytes */
		SPEC_SIG_ONE_TWO "=",			/* padding to 87 */
		SPEC_SIG_ONE_TWO "===",
		"KqmLSbO39_Bzb0QIYE82zqLwsA-PDzYIpIRA2sRQ4sL53-sN6_fpNSoqE7BP7"
		    "vBZhG6kYdD13EIMJpvhJI-6Bw",	/* URL-safe alphabet */
		" " SPEC_SIG_ONE_TWO,
		SPEC_SIG_ONE_TWO "\n",
	};
	struct mr_signing_key key;
	struct mr_err err;
	cJSON *v = cJSON_Parse("{\"one\":1,\"two\":\"Two\"}");

	(void)state;
	spec_key(&key);
	for (size_t i = 0; i < NELEM(bad); i++) {
		mr_err_clear(&err);
		if (mr_keys_verify_json(v, key.pk, bad[i], &err) != -1 ||
		    err.status != 401 || strcmp(err.errcode, "M_UNAUTHORIZED"))
			fail_msg("'%s' accepted or wrong error", bad[i]);
	}
	assert_int_equal(mr_keys_verify_json(v, key.pk, NULL, &err), -1);
	/*
	 * Unused low bits set in the last character decode to the same bytes,
	 * as in Python (and Synapse); the spec's own seed is written so.
	 */
	assert_int_equal(mr_keys_verify_json(v, key.pk, "KqmLSbO39/Bzb0QIYE82z"
	    "qLwsA+PDzYIpIRA2sRQ4sL53+sN6/fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bx",
	    &err), 0);
	cJSON_Delete(v);
}

static void
test_decode_public(void **state)
{
	static const char *const bad[] = {
		"",
		"XGX0JRS2Af3be3knz2fBiRbApjm2Dh61gXDJA8kcJN",	/* 42 chars */
		SPEC_PK "A",
		SPEC_PK "==",
		SPEC_PK "=A",
		"=" SPEC_PK,
		"XGX0JRS2Af3be3knz2fBiRbApjm2Dh61gXDJA8kc-NI",
		SPEC_SIG_EMPTY,
	};
	unsigned char pk[32], want[32];
	struct mr_err err;

	(void)state;
	assert_int_equal(mr_keys_decode_public(SPEC_PK "=", pk, &err), 0);
	assert_int_equal(mr_keys_decode_public(SPEC_PK, want, &err), 0);
	assert_memory_equal(pk, want, 32);
	/* "J" differs from "I" only in the 2 unused bits */
	assert_int_equal(mr_keys_decode_public("XGX0JRS2Af3be3knz2fBiRbApjm2Dh61"
	    "gXDJA8kcJNJ", pk, &err), 0);
	assert_memory_equal(pk, want, 32);
	for (size_t i = 0; i < NELEM(bad); i++) {
		mr_err_clear(&err);
		if (mr_keys_decode_public(bad[i], pk, &err) != -1 ||
		    err.status != 401)
			fail_msg("'%s' accepted", bad[i]);
	}
	assert_int_equal(mr_keys_decode_public(NULL, pk, &err), -1);
}

static void
test_valid_key_id(void **state)
{
	static const char *const valids[] = {
		"ed25519:1",
		"ed25519:abc123",
		"ed25519:0ldK3y",
		"ed25519:auto2",
		"ed25519:a_b",
		("ed25519:0123456789012345678901234567890123456789012345678901"
		    "234567890123"),
	};
	static const char *const invalids[] = {
		"",
		"ed25519",
		"ed25519:",
		"ed25519:a-b",
		"ed25519:a:b",
		"ed25519:a b",
		"ed25519:a/b",
		"ed25519:é",
		"ED25519:1",
		"curve25519:1",
		"ed25519 1",
		":1",
		("ed25519:0123456789012345678901234567890123456789012345678901"
		    "2345678901234"),
	};

	(void)state;
	for (size_t i = 0; i < NELEM(valids); i++)
		if (!mr_keys_valid_key_id(valids[i]))
			fail_msg("'%s' refused", valids[i]);
	for (size_t i = 0; i < NELEM(invalids); i++)
		if (mr_keys_valid_key_id(invalids[i]))
			fail_msg("'%s' accepted", invalids[i]);
	assert_false(mr_keys_valid_key_id(NULL));
}

/* --- the key file --- */

#define SPEC_LINE "ed25519 1 " SPEC_SEED "\n"

struct dir_fixture {
	char dir[FIXTURE_DIR_MAX];
	char key[FIXTURE_DIR_MAX + 16];		/* dir/signing.key */
	char victim[FIXTURE_DIR_MAX + 16];	/* dir/victim: a symlink's target */
};

static int
dir_setup(void **state)
{
	struct dir_fixture *fx = calloc(1, sizeof(*fx));

	if (fx == NULL || fixture_dir_make(fx->dir, "keys") < 0)
		return -1;
	fixture_path(fx->key, sizeof(fx->key), fx->dir, "signing.key");
	fixture_path(fx->victim, sizeof(fx->victim), fx->dir, "victim");
	*state = fx;
	return 0;
}

static int
dir_teardown(void **state)
{
	struct dir_fixture *fx = *state;

	fixture_dir_remove(fx->dir);
	free(fx);
	return 0;
}

static void
put_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
}

/* The file's whole text, into a static buffer. */
static const char *
file_text(const char *path)
{
	static char buf[4096];
	FILE *f = fopen(path, "r");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return buf;
}

/* A regular file (not a link) of mode 0600 holding want. */
static void
assert_key_file(const char *path, const char *want)
{
	struct stat st;

	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_string_equal(file_text(path), want);
}

/* Nothing in the directory but the names given (no temp files left). */
static void
assert_dir_holds(const char *dir, int n, const char *const names[])
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int seen = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		int known = 0;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		for (int i = 0; i < n; i++)
			known |= strcmp(e->d_name, names[i]) == 0;
		if (!known)
			fail_msg("unexpected '%s' in '%s'", e->d_name, dir);
		seen++;
	}
	closedir(d);
	assert_int_equal(seen, n);
}

static void
test_write_file_mode(void **state)
{
	struct dir_fixture *fx = *state;
	static const char *const names[] = { "signing.key" };
	struct mr_err err;
	mode_t old = umask(0);	/* what a careless shell might have */

	assert_int_equal(mr_keys_write_file(fx->key, SPEC_LINE,
	    strlen(SPEC_LINE), 0, &err), 0);
	assert_key_file(fx->key, SPEC_LINE);
	/* Replacing a loose file leaves a 0600 one. */
	assert_int_equal(chmod(fx->key, 0644), 0);
	assert_int_equal(mr_keys_write_file(fx->key, "ed25519 2 x\n", 12, 1,
	    &err), 0);
	assert_key_file(fx->key, "ed25519 2 x\n");
	umask(old);
	assert_dir_holds(fx->dir, 1, names);
}

static void
test_write_file_never_follows_a_symlink(void **state)
{
	struct dir_fixture *fx = *state;
	static const char *const names[] = { "signing.key", "victim" };
	struct mr_err err;
	struct stat st;

	put_file(fx->victim, "keep me\n", 0644);
	assert_int_equal(symlink(fx->victim, fx->key), 0);
	/* Without replace: refused, the link and its target as they were. */
	assert_int_equal(mr_keys_write_file(fx->key, SPEC_LINE,
	    strlen(SPEC_LINE), 0, &err), -1);
	assert_int_equal(lstat(fx->key, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_string_equal(file_text(fx->victim), "keep me\n");
	/* With replace: the link is replaced, its target untouched. */
	assert_int_equal(mr_keys_write_file(fx->key, SPEC_LINE,
	    strlen(SPEC_LINE), 1, &err), 0);
	assert_key_file(fx->key, SPEC_LINE);
	assert_string_equal(file_text(fx->victim), "keep me\n");
	assert_int_equal(stat(fx->victim, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	assert_dir_holds(fx->dir, 2, names);
}

static void
test_write_file_dangling_symlink(void **state)
{
	struct dir_fixture *fx = *state;
	static const char *const names[] = { "signing.key" };
	struct mr_signing_key key;
	struct mr_err err;

	/* A link to where the attacker would like the seed. */
	assert_int_equal(symlink(fx->victim, fx->key), 0);
	assert_int_equal(mr_keys_write_file(fx->key, SPEC_LINE,
	    strlen(SPEC_LINE), 0, &err), -1);
	assert_non_null(strstr(err.msg, "signing.key"));
	assert_int_equal(access(fx->victim, F_OK), -1);
	assert_int_equal(mr_keys_generate(fx->key, &key, &err), -1);
	assert_int_equal(access(fx->victim, F_OK), -1);
	assert_dir_holds(fx->dir, 1, names);
}

/* --force over a key the service owns leaves it the service's (as root). */
static void
test_write_file_keeps_the_owner(void **state)
{
	struct dir_fixture *fx = *state;
	struct mr_err err;
	struct stat st;

	if (geteuid() != 0)
		skip();
	put_file(fx->key, "ed25519 0 old\n", 0600);
	assert_int_equal(chown(fx->key, 65534, 65534), 0);
	assert_int_equal(mr_keys_write_file(fx->key, SPEC_LINE,
	    strlen(SPEC_LINE), 1, &err), 0);
	assert_key_file(fx->key, SPEC_LINE);
	assert_int_equal(stat(fx->key, &st), 0);
	assert_int_equal(st.st_uid, 65534);
	assert_int_equal(st.st_gid, 65534);
	/* A link's owner is not copied: the new file is ours. */
	assert_int_equal(unlink(fx->key), 0);
	put_file(fx->victim, "keep me\n", 0644);
	assert_int_equal(symlink(fx->victim, fx->key), 0);
	assert_int_equal(lchown(fx->key, 65534, 65534), 0);
	assert_int_equal(chown(fx->victim, 65534, 65534), 0);
	assert_int_equal(mr_keys_write_file(fx->key, SPEC_LINE,
	    strlen(SPEC_LINE), 1, &err), 0);
	assert_int_equal(lstat(fx->key, &st), 0);
	assert_int_equal(st.st_uid, 0);
	assert_string_equal(file_text(fx->victim), "keep me\n");
}

static void
test_generate_writes_a_key_that_loads(void **state)
{
	struct dir_fixture *fx = *state;
	static const char *const names[] = { "signing.key" };
	struct mr_signing_key key, back;
	struct mr_err err;
	char line[256];

	assert_int_equal(mr_keys_generate(fx->key, &key, &err), 0);
	assert_int_equal(mr_keys_load(fx->key, &back, &err), 0);
	assert_string_equal(back.version, key.version);
	assert_memory_equal(back.pk, key.pk, sizeof(key.pk));
	snprintf(line, sizeof(line), "%s", file_text(fx->key));
	assert_key_file(fx->key, line);
	/* Never overwrites. */
	assert_int_equal(mr_keys_generate(fx->key, &back, &err), -1);
	assert_key_file(fx->key, line);
	assert_dir_holds(fx->dir, 1, names);
}

static void
test_parse_text(void **state)
{
	struct dir_fixture *fx = *state;
	static char big[MR_KEYS_FILE_MAX + 2];
	struct mr_signing_key key;
	struct mr_err err;
	char text[MR_KEYS_FILE_MAX + 1];
	size_t len;

	/* The first ed25519 line counts; others are skipped. */
	assert_int_equal(mr_keys_parse_text("# comment\ncurve 1 x\n" SPEC_LINE
	    "ed25519 2 not-base64\n", &key, &err), 0);
	assert_string_equal(key.version, "1");
	assert_int_equal(mr_keys_parse_text("ed25519 1 " SPEC_SEED, &key, &err),
	    0);
	assert_int_equal(mr_keys_parse_text("ed25519 2 not-base64\n" SPEC_LINE,
	    &key, &err), -1);
	assert_int_equal(mr_keys_parse_text("", &key, &err), -1);
	assert_int_equal(mr_keys_parse_text("ed25519\n", &key, &err), -1);

	put_file(fx->key, SPEC_LINE, 0600);
	assert_int_equal(mr_keys_read_file(fx->key, text, &len, &err), 0);
	assert_int_equal(len, strlen(SPEC_LINE));
	assert_string_equal(text, SPEC_LINE);
	/* A file over the limit is not a key file. */
	memset(big, '#', sizeof(big) - 1);
	put_file(fx->key, big, 0600);
	assert_int_equal(mr_keys_read_file(fx->key, text, &len, &err), -1);
	assert_int_equal(mr_keys_load(fx->key, &key, &err), -1);
	big[MR_KEYS_FILE_MAX] = '\0';
	put_file(fx->key, big, 0600);
	assert_int_equal(mr_keys_read_file(fx->key, text, &len, &err), 0);
	assert_int_equal(len, MR_KEYS_FILE_MAX);
}

/* --- key files, and the key kept from fork children --- */

static void
write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void
test_load(void **state)
{
	static const struct {
		const char *text, *reason;	/* reason NULL: loads */
	} cases[] = {
		{ "ed25519 1 " SPEC_SEED "\n", NULL },
		{ "ed25519 1 " SPEC_SEED, NULL },	/* no final newline */
		{ "ed25519 1 " SPEC_SEED "\r\n", NULL },
		{ "# comment\ncurve25519 x y\ned25519 1 " SPEC_SEED "\n", NULL },
		{ "", "no ed25519 key" },
		{ "# only a comment\n", "no ed25519 key" },
		{ "ed25519 1 short\ned25519 1 " SPEC_SEED "\n",
		    "key seed is not 32 bytes of base64" },
	};
	char dir[] = "/tmp/mr_keys_XXXXXX", path[64];
	struct mr_signing_key key;
	struct mr_err err;
	char pk[64];

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/k", dir);
	assert_int_equal(mr_keys_load(path, &key, &err), -1);
	assert_non_null(strstr(err.msg, "cannot open key"));
	for (size_t i = 0; i < NELEM(cases); i++) {
		write_file(path, cases[i].text);
		mr_err_clear(&err);
		if (cases[i].reason == NULL) {
			if (mr_keys_load(path, &key, &err) != 0)
				fail_msg("case %zu: %s", i, err.msg);
			mr_keys_public_b64(&key, pk);
			assert_string_equal(pk, SPEC_PK);
			assert_string_equal(key.version, "1");
		} else {
			assert_int_equal(mr_keys_load(path, &key, &err), -1);
			if (strstr(err.msg, cases[i].reason) == NULL ||
			    strstr(err.msg, path) == NULL)
				fail_msg("case %zu: '%s'", i, err.msg);
		}
	}
	unlink(path);
	rmdir(dir);
}

#define MASK 0x5a

/* Masked patterns, so that the scanner's own copy is never a hit. */
struct secret {
	unsigned char m[64];
	size_t n;
};

static void
secret_set(struct secret *s, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		s->m[i] = b[i] ^ MASK;
	s->n = n;
}

static int
secret_in(const struct secret *s, const unsigned char *b, size_t len)
{
	for (size_t i = 0; i + s->n <= len; i++) {
		size_t k = 0;

		while (k < s->n && (b[i + k] ^ MASK) == s->m[k])
			k++;
		if (k == s->n)
			return 1;
	}
	return 0;
}

/*
 * Bit i of the result is set when secret i is somewhere in this process's
 * readable memory. /proc/self/mem is read, not the mappings themselves,
 * so redzones and guard pages cost nothing; mappings over 256 MiB
 * (sanitizer shadow) are not libraries' or heap memory and are skipped.
 */
static unsigned
scan_memory(const struct secret *s, size_t ns)
{
	static unsigned char buf[1 << 20];
	unsigned long lo, hi;
	unsigned found = 0;
	char line[512], perms[8];
	FILE *maps = fopen("/proc/self/maps", "r");
	int mem = open("/proc/self/mem", O_RDONLY);

	if (maps == NULL || mem < 0)
		_exit(3);
	while (fgets(line, sizeof(line), maps) != NULL) {
		if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) != 3 ||
		    perms[0] != 'r' || hi - lo > (256ul << 20) ||
		    strstr(line, "[vvar") != NULL)
			continue;
		/* Chunks overlap by 64 bytes: no pattern falls between. */
		for (unsigned long at = lo; at < hi; at += sizeof(buf) - 64) {
			size_t want = hi - at < sizeof(buf) ? hi - at : sizeof(buf);
			ssize_t got = pread(mem, buf, want, (off_t)at);

			if (got <= 0)
				break;
			for (size_t i = 0; i < ns; i++)
				if (secret_in(&s[i], buf, (size_t)got))
					found |= 1u << i;
			if ((size_t)got < want || at + want >= hi)
				break;
		}
	}
	fclose(maps);
	close(mem);
	return found;
}

/*
 * The seed must not reach a fork child (the thumbnail decoder): not in the
 * key, which is wiped on fork, nor left behind by generating, loading or
 * signing (stack buffers, stdio's buffer). The child scans its memory for
 * the seed, its base64 and the secret half of sk; a control buffer that
 * was not wiped must be found, so the scan itself is known to work.
 */
static void
test_seed_not_in_fork_child(void **state)
{
	char dir[] = "/tmp/mr_keys_XXXXXX", path[64], b64[64], sig[90];
	struct mr_signing_key *gen, *key;
	struct secret s[4];
	unsigned char *control = malloc(32);
	struct mr_err err;
	cJSON *obj;
	int status;
	pid_t pid;

	(void)state;
	assert_non_null(control);
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/signing.key", dir);
	assert_non_null(gen = mr_keys_alloc(&err));
	assert_int_equal(mr_keys_generate(path, gen, &err), 0);
	mr_keys_free(gen);
	/* What a federation program does: load, then sign a request. */
	assert_non_null(key = mr_keys_alloc(&err));
	assert_int_equal(mr_keys_load(path, key, &err), 0);
	assert_non_null(obj = cJSON_Parse("{\"method\":\"GET\"}"));
	assert_int_equal(mr_keys_sign_detached(obj, key, sig, &err), 0);
	cJSON_Delete(obj);

	secret_set(&s[0], key->seed, sizeof(key->seed));
	sodium_bin2base64(b64, sizeof(b64), key->seed, sizeof(key->seed),
	    sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
	secret_set(&s[1], b64, strlen(b64));
	sodium_memzero(b64, sizeof(b64));
	/* sk's first half is the seed again; its hash is the scalar. */
	secret_set(&s[2], key->sk, 32);
	randombytes_buf(control, 32);
	secret_set(&s[3], control, 32);

	if ((pid = fork()) == 0) {
		unsigned char zero[sizeof(*key)] = { 0 };
		unsigned found = scan_memory(s, 4);

		/* Exit code: a bit per secret found, 16 for the key itself. */
		if (memcmp(key, zero, sizeof(*key)) != 0)
			found |= 16;
		_exit((int)found);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) != 8)
		fail_msg("child: exit %d (bits: 1 seed, 2 base64, 4 sk found, "
		    "16 key not wiped; 8, the control, must be alone)",
		    WEXITSTATUS(status));
	/* The parent keeps its key. */
	assert_int_equal(mr_keys_sign_detached(obj = cJSON_Parse("{}"), key,
	    sig, &err), 0);
	cJSON_Delete(obj);
	mr_keys_free(key);
	free(control);
	unlink(path);
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_line),
		cmocka_unit_test(test_spec_key),
		cmocka_unit_test(test_sign_spec_vectors),
		cmocka_unit_test(test_sign_merges),
		cmocka_unit_test(test_sign_refusals),
		cmocka_unit_test(test_verify),
		cmocka_unit_test(test_verify_bad_b64),
		cmocka_unit_test(test_decode_public),
		cmocka_unit_test(test_valid_key_id),
		cmocka_unit_test_setup_teardown(test_write_file_mode, dir_setup,
		    dir_teardown),
		cmocka_unit_test_setup_teardown(
		    test_write_file_never_follows_a_symlink, dir_setup,
		    dir_teardown),
		cmocka_unit_test_setup_teardown(test_write_file_dangling_symlink,
		    dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_write_file_keeps_the_owner,
		    dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(
		    test_generate_writes_a_key_that_loads, dir_setup,
		    dir_teardown),
		cmocka_unit_test_setup_teardown(test_parse_text, dir_setup,
		    dir_teardown),
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_seed_not_in_fork_child),
	};

	return cmocka_run_group_tests(tests, fixture_sodium_setup, NULL);
}
