/*
 * test_keys: key lines, the spec's signing key and JSON signing vectors
 * (spec.md 5.2, 5.3), detached signatures and their checks, public key
 * decoding and key ids, with valid/invalid tables.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
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

static int
group_setup(void **state)
{
	(void)state;
	return sodium_init() < 0 ? -1 : 0;
}

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
	};

	return cmocka_run_group_tests(tests, group_setup, NULL);
}
