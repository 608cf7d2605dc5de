/*
 * test_auth: token extraction from headers and query, the stored hash,
 * token creation and checking against a temp store, and user ids.
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

#include <cmocka.h>

#include "fixture_store.h"
#include <sodium.h>

#include "../../common/auth.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))


/* --- mr_auth_extract_token --- */

static void
test_extract_token(void **state)
{
	static const struct {
		const char *header, *query;
		int allow_query;
		const char *token;	/* NULL: refused with errcode */
		const char *errcode;
	} cases[] = {
		{ "Bearer abc", NULL, 0, "abc", NULL },
		{ "bearer abc", NULL, 0, "abc", NULL },
		{ "BEARER abc", NULL, 0, "abc", NULL },
		{ "BeArEr abc", NULL, 0, "abc", NULL },
		{ "Bearer   abc", NULL, 0, "abc", NULL },
		{ "Bearer mr_AZaz09_-", NULL, 0, "mr_AZaz09_-", NULL },
		/* nothing at all */
		{ NULL, NULL, 0, NULL, "M_MISSING_TOKEN" },
		{ NULL, NULL, 1, NULL, "M_MISSING_TOKEN" },
		{ "", NULL, 0, NULL, "M_MISSING_TOKEN" },
		/* another scheme counts as missing */
		{ "Basic dXNlcjpwYXNz", NULL, 0, NULL, "M_MISSING_TOKEN" },
		{ "X-Matrix origin=a,key=\"b\",sig=\"c\"", NULL, 0, NULL,
		  "M_MISSING_TOKEN" },
		{ "Bearerabc", NULL, 0, NULL, "M_MISSING_TOKEN" },
		{ "Bearer", NULL, 0, NULL, "M_MISSING_TOKEN" },
		{ " Bearer abc", NULL, 0, NULL, "M_MISSING_TOKEN" },
		/* a malformed Bearer is unknown, not missing */
		{ "Bearer ", NULL, 0, NULL, "M_UNKNOWN_TOKEN" },
		{ "Bearer    ", NULL, 0, NULL, "M_UNKNOWN_TOKEN" },
		{ "bearer ", NULL, 1, NULL, "M_UNKNOWN_TOKEN" },
		/* ... and does not fall back to the query */
		{ "Bearer ", "q", 1, NULL, "M_UNKNOWN_TOKEN" },
		/* the query only when allowed */
		{ NULL, "q", 1, "q", NULL },
		{ "", "q", 1, "q", NULL },
		{ NULL, "q", 0, NULL, "M_MISSING_TOKEN" },
		{ "Basic x", "q", 1, "q", NULL },
		{ "Basic x", "q", 0, NULL, "M_MISSING_TOKEN" },
		/* the header wins over the query */
		{ "Bearer h", "q", 1, "h", NULL },
		{ "Bearer h", "q", 0, "h", NULL },
	};
	char token[MR_TOKEN_MAX + 1];
	struct mr_err err;

	(void)state;
	for (size_t i = 0; i < NELEM(cases); i++) {
		int rc;

		memset(token, 0, sizeof(token));
		mr_err_clear(&err);
		rc = mr_auth_extract_token(cases[i].header, cases[i].query,
		    cases[i].allow_query, token, &err);
		if (cases[i].token != NULL) {
			if (rc != 0)
				fail_msg("case %zu ('%s'): refused: %s", i,
				    cases[i].header ? cases[i].header : "(null)", err.msg);
			if (strcmp(token, cases[i].token) != 0)
				fail_msg("case %zu: token '%s', want '%s'", i, token,
				    cases[i].token);
		} else {
			if (rc != -1)
				fail_msg("case %zu ('%s'): accepted '%s'", i,
				    cases[i].header ? cases[i].header : "(null)", token);
			if (err.status != 401 || err.errcode == NULL ||
			    strcmp(err.errcode, cases[i].errcode) != 0)
				fail_msg("case %zu: %d %s, want 401 %s", i, err.status,
				    err.errcode ? err.errcode : "(null)",
				    cases[i].errcode);
		}
	}
}

/* MR_TOKEN_MAX fits, one more does not, by header or by query. */
static void
test_extract_token_length(void **state)
{
	char token[MR_TOKEN_MAX + 1 + 8];
	char *hdr = malloc(MR_TOKEN_MAX + 16), *q = malloc(MR_TOKEN_MAX + 16);
	struct mr_err err;

	(void)state;
	assert_non_null(hdr);
	assert_non_null(q);
	memset(token + MR_TOKEN_MAX + 1, 'Z', 8);

	strcpy(hdr, "Bearer ");
	memset(hdr + 7, 't', MR_TOKEN_MAX);
	hdr[7 + MR_TOKEN_MAX] = '\0';
	assert_int_equal(mr_auth_extract_token(hdr, NULL, 0, token, &err), 0);
	assert_int_equal(strlen(token), MR_TOKEN_MAX);
	assert_memory_equal(token + MR_TOKEN_MAX + 1, "ZZZZZZZZ", 8);

	hdr[7 + MR_TOKEN_MAX] = 't';
	hdr[8 + MR_TOKEN_MAX] = '\0';
	mr_err_clear(&err);
	assert_int_equal(mr_auth_extract_token(hdr, NULL, 0, token, &err), -1);
	assert_int_equal(err.status, 401);
	assert_string_equal(err.errcode, "M_UNKNOWN_TOKEN");
	assert_memory_equal(token + MR_TOKEN_MAX + 1, "ZZZZZZZZ", 8);

	memset(q, 'q', MR_TOKEN_MAX);
	q[MR_TOKEN_MAX] = '\0';
	assert_int_equal(mr_auth_extract_token(NULL, q, 1, token, &err), 0);
	assert_int_equal(strlen(token), MR_TOKEN_MAX);
	q[MR_TOKEN_MAX] = 'q';
	q[MR_TOKEN_MAX + 1] = '\0';
	mr_err_clear(&err);
	assert_int_equal(mr_auth_extract_token(NULL, q, 1, token, &err), -1);
	assert_int_equal(err.status, 401);
	assert_string_equal(err.errcode, "M_UNKNOWN_TOKEN");
	assert_memory_equal(token + MR_TOKEN_MAX + 1, "ZZZZZZZZ", 8);

	free(hdr);
	free(q);
}

/* --- mr_auth_hash_token --- */

static void
test_hash_token(void **state)
{
	char out[65 + 4];

	(void)state;
	/* FIPS 180-2 test vectors. */
	memset(out, 'X', sizeof(out));
	mr_auth_hash_token("abc", out);
	assert_string_equal(out,
	    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	assert_int_equal(out[65], 'X');
	mr_auth_hash_token("", out);
	assert_string_equal(out,
	    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	mr_auth_hash_token(
	    "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", out);
	assert_string_equal(out,
	    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

/* --- create and check --- */

static void
test_create_and_check(void **state)
{
	struct fixture_store *fx = *state;
	char token[MR_TOKEN_MAX + 1], token2[MR_TOKEN_MAX + 1], hash[65];
	struct mr_token_info info;
	struct mr_user user;
	struct mr_err err;

	if (mr_auth_create_token(fx->st, "@alice:example.org", 0, token,
	    &err) != 0)
		fail_msg("create: %s", err.msg);
	/* "mr_" then at least 43 characters of the id alphabet (256 bits). */
	assert_int_equal(strncmp(token, "mr_", 3), 0);
	assert_true(strlen(token) >= 3 + 43);
	for (const char *p = token + 3; *p != '\0'; p++)
		if (strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		    "0123456789_-", *p) == NULL)
			fail_msg("token byte 0x%02x", (unsigned char)*p);

	memset(&user, 0, sizeof(user));
	assert_int_equal(mr_auth_check_token(fx->st, token, &user, &err), 0);
	assert_string_equal(user.user_id, "@alice:example.org");
	assert_int_equal(user.is_guest, 0);

	/* The store holds the hash, never the token itself. */
	mr_auth_hash_token(token, hash);
	assert_int_equal(mr_store_token_lookup(fx->st, hash, &info, &err), 0);
	assert_int_equal(mr_store_token_lookup(fx->st, token, &info, &err),
	    MR_STORE_NOT_FOUND);

	/* Guests keep their flag; each token is new. */
	assert_int_equal(mr_auth_create_token(fx->st, "@guest:example.org", 1,
	    token2, &err), 0);
	assert_string_not_equal(token, token2);
	assert_int_equal(mr_auth_check_token(fx->st, token2, &user, &err), 0);
	assert_string_equal(user.user_id, "@guest:example.org");
	assert_int_equal(user.is_guest, 1);

	/* Revoked: unknown from then on; the other token still works. */
	assert_int_equal(mr_store_token_revoke(fx->st, hash, &err), 0);
	mr_err_clear(&err);
	assert_int_equal(mr_auth_check_token(fx->st, token, &user, &err), -1);
	assert_int_equal(err.status, 401);
	assert_string_equal(err.errcode, "M_UNKNOWN_TOKEN");
	assert_int_equal(mr_auth_check_token(fx->st, token2, &user, &err), 0);
}

static void
test_check_unknown(void **state)
{
	static const char *const tokens[] = {
		"nope", "", "mr_", "' OR 1=1 --",
		"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
	};
	struct fixture_store *fx = *state;
	char token[MR_TOKEN_MAX + 1], hash[65];
	struct mr_user user;
	struct mr_err err;

	assert_int_equal(mr_auth_create_token(fx->st, "@alice:example.org", 0,
	    token, &err), 0);
	mr_auth_hash_token(token, hash);
	for (size_t i = 0; i < NELEM(tokens); i++) {
		mr_err_clear(&err);
		if (mr_auth_check_token(fx->st, tokens[i], &user, &err) != -1)
			fail_msg("token '%s' accepted", tokens[i]);
		assert_int_equal(err.status, 401);
		assert_string_equal(err.errcode, "M_UNKNOWN_TOKEN");
	}
	/* The stored hash is not a token. */
	assert_int_equal(mr_auth_check_token(fx->st, hash, &user, &err), -1);
	/* Nor is the token with a byte changed or cut. */
	token[strlen(token) - 1] ^= 1;
	assert_int_equal(mr_auth_check_token(fx->st, token, &user, &err), -1);
	token[strlen(token) - 1] = '\0';
	assert_int_equal(mr_auth_check_token(fx->st, token, &user, &err), -1);
}

struct count {
	int n;
};

static void
count_token(const struct mr_token_info *t, void *arg)
{
	(void)t;
	((struct count *)arg)->n++;
}

static void
test_create_refuses_bad_user(void **state)
{
	static const char *const users[] = {
		"alice", "", "@alice", "@:example.org", "alice:example.org",
		"@alice:", "@alice:exa mple.org", "@al ice:example.org",
	};
	struct fixture_store *fx = *state;
	char token[MR_TOKEN_MAX + 1];
	struct mr_err err;
	struct count c = { 0 };

	for (size_t i = 0; i < NELEM(users); i++) {
		mr_err_clear(&err);
		if (mr_auth_create_token(fx->st, users[i], 0, token, &err) != -1)
			fail_msg("token made for '%s'", users[i]);
		assert_int_equal(err.status, 400);
		assert_string_equal(err.errcode, "M_INVALID_PARAM");
	}
	assert_int_equal(mr_store_token_list(fx->st, count_token, &c, &err), 0);
	assert_int_equal(c.n, 0);
}

/* --- mr_mxc_valid_user_id --- */

static void
test_valid_user_id(void **state)
{
	static const char *const valids[] = {
		"@alice:example.org",
		"@a:b",
		"@alice:matrix.org:8448",
		"@alice:[::1]",
		"@alice:[::1]:8448",
		"@alice:1.2.3.4",
		"@alice.bob=_/+-:example.org",
		"@Alice:example.org",		/* historical ids allow upper case */
		"@!\"#$%&'()*+,-./;<=>?@[\\]^_`{|}~:example.org",
	};
	static const char *const invalids[] = {
		"",
		"@",
		"@:",
		"@:example.org",
		"alice:example.org",
		"#room:example.org",
		"!room:example.org",
		"@alice",
		"@alice:",
		"@alice:example.org/x",
		"@alice:exa mple.org",
		"@alice:example.org:99999",
		"@alice:example.org:",
		"@alice:[::1",
		"@al ice:example.org",
		"@alice\n:example.org",
		"@alice\t:example.org",
		"@alice\x7f:example.org",
		"@al\xc3\xa9:example.org",
		"@alice:example.org\n",
		" @alice:example.org",
	};
	char *s;

	(void)state;
	for (size_t i = 0; i < NELEM(valids); i++)
		if (mr_mxc_valid_user_id(valids[i]) != 1)
			fail_msg("refused user id '%s'", valids[i]);
	for (size_t i = 0; i < NELEM(invalids); i++)
		if (mr_mxc_valid_user_id(invalids[i]) != 0)
			fail_msg("accepted user id '%s'", invalids[i]);
	assert_int_equal(mr_mxc_valid_user_id(NULL), 0);

	/* At most MR_USER_ID_MAX bytes in all. */
	s = malloc(MR_USER_ID_MAX + 2);
	assert_non_null(s);
	memset(s, 'a', MR_USER_ID_MAX + 1);
	s[0] = '@';
	memcpy(s + MR_USER_ID_MAX - 4, ":x.y", 4);
	s[MR_USER_ID_MAX] = '\0';
	assert_int_equal(mr_mxc_valid_user_id(s), 1);
	memset(s, 'a', MR_USER_ID_MAX + 1);
	s[0] = '@';
	memcpy(s + MR_USER_ID_MAX - 3, ":x.y", 4);
	s[MR_USER_ID_MAX + 1] = '\0';
	assert_int_equal(strlen(s), MR_USER_ID_MAX + 1);
	assert_int_equal(mr_mxc_valid_user_id(s), 0);
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_extract_token),
		cmocka_unit_test(test_extract_token_length),
		cmocka_unit_test(test_hash_token),
		FIXTURE_STORE_TEST(test_create_and_check),
		FIXTURE_STORE_TEST(test_check_unknown),
		FIXTURE_STORE_TEST(test_create_refuses_bad_user),
		cmocka_unit_test(test_valid_user_id),
	};

	return cmocka_run_group_tests(tests, fixture_sodium_setup, NULL);
}
