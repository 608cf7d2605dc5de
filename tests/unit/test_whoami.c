/*
 * test_whoami: auth = homeserver without a homeserver. Reading whoami
 * answers (accepted, refused, soft_logout, homeserver failures), turning
 * them into client errors and error bodies, the SHA-256-keyed cache in the
 * store with its expiry, a check served from the cache (no network), an
 * unreachable homeserver (502, never 401, never cached) and the config keys.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cmocka.h>

#include "fixture_store.h"
#include <sodium.h>

#include "../../common/auth_whoami.h"
#include "../../common/config.h"
#include "../../common/http_client.h"
#include "../../common/json.h"

struct fixture {
	char dir[FIXTURE_DIR_MAX];
	struct mr_store *st;
	struct mr_config cfg;
	struct mr_hc *hc;
};

static int
setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (fx == NULL || fixture_dir_make(fx->dir, "whoami") < 0 ||
	    fixture_store_open(fx->dir, &fx->st) < 0)
		return -1;
	mr_config_defaults(&fx->cfg);
	fx->cfg.auth = MR_AUTH_HOMESERVER;
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;

	mr_hc_free(fx->hc);
	mr_store_free(fx->st);
	fixture_dir_remove(fx->dir);
	free(fx);
	return 0;
}

static int
parse(long status, const char *body, struct mr_hs_auth *a,
    struct mr_err *err)
{
	mr_err_clear(err);
	return mr_auth_whoami_parse(status, body, body ? strlen(body) : 0, a,
	    err);
}

static void
test_parse_accepted(void **state)
{
	struct mr_hs_auth a;
	struct mr_err err;

	(void)state;
	assert_int_equal(parse(200, "{\"user_id\":\"@alice:example.org\","
	    "\"device_id\":\"ABC\"}", &a, &err), 0);
	assert_string_equal(a.user_id, "@alice:example.org");
	assert_int_equal(a.is_guest, 0);
	assert_int_equal(parse(200, "{\"user_id\":\"@g:example.org\","
	    "\"is_guest\":true}", &a, &err), 0);
	assert_int_equal(a.is_guest, 1);
	/* Only JSON true counts. */
	assert_int_equal(parse(200, "{\"user_id\":\"@g:example.org\","
	    "\"is_guest\":\"true\"}", &a, &err), 0);
	assert_int_equal(a.is_guest, 0);
}

static void
test_parse_bad_200(void **state)
{
	static const char *const bodies[] = {
		NULL, "", "not json", "[]", "{}", "{\"user_id\":5}",
		"{\"user_id\":\"alice\"}", "{\"user_id\":\"@alice\"}",
		"{\"user_id\":\"@alice:bad server\"}",
	};
	struct mr_hs_auth a;
	struct mr_err err;

	(void)state;
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		assert_int_equal(parse(200, bodies[i], &a, &err), -1);
		assert_int_equal(err.status, 502);
		assert_string_equal(err.errcode, "M_UNKNOWN");
	}
}

static void
test_parse_refused(void **state)
{
	struct mr_hs_auth a;
	struct mr_err err;

	(void)state;
	assert_int_equal(parse(401, "{\"errcode\":\"M_UNKNOWN_TOKEN\","
	    "\"error\":\"x\"}", &a, &err), 0);
	assert_string_equal(a.user_id, "");
	assert_string_equal(a.errcode, "M_UNKNOWN_TOKEN");
	assert_int_equal(a.soft_logout, 0);
	assert_int_equal(parse(401, "{\"errcode\":\"M_UNKNOWN_TOKEN\","
	    "\"soft_logout\":true}", &a, &err), 0);
	assert_int_equal(a.soft_logout, 1);
	assert_int_equal(parse(401, "{\"errcode\":\"M_USER_LOCKED\","
	    "\"soft_logout\":true}", &a, &err), 0);
	assert_string_equal(a.errcode, "M_USER_LOCKED");
	/* Any 401 is a refused token, whatever its body. */
	assert_int_equal(parse(401, "garbage", &a, &err), 0);
	assert_string_equal(a.errcode, "M_UNKNOWN_TOKEN");
	assert_int_equal(parse(401, "{\"errcode\":\"M_MISSING_TOKEN\"}", &a,
	    &err), 0);
	assert_string_equal(a.errcode, "M_UNKNOWN_TOKEN");
	assert_int_equal(parse(403, "{\"errcode\":\"M_FORBIDDEN\","
	    "\"soft_logout\":true}", &a, &err), 0);
	assert_string_equal(a.errcode, "M_FORBIDDEN");
	assert_int_equal(a.soft_logout, 0);
}

static void
test_parse_homeserver_failure(void **state)
{
	static const struct { long status; int want; } cases[] = {
		{ 500, 503 }, { 502, 503 }, { 503, 503 }, { 504, 503 },
		{ 429, 503 }, { 404, 502 }, { 400, 502 }, { 302, 502 },
		{ 204, 502 },
	};
	struct mr_hs_auth a;
	struct mr_err err;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(parse(cases[i].status,
		    "{\"errcode\":\"M_UNKNOWN_TOKEN\"}", &a, &err), -1);
		assert_int_equal(err.status, cases[i].want);
		assert_string_not_equal(err.errcode, "M_UNKNOWN_TOKEN");
	}
}

static void
test_result_and_error_body(void **state)
{
	struct mr_hs_auth a = { 0 };
	struct mr_user user;
	struct mr_err err;
	char *body;

	(void)state;
	snprintf(a.user_id, sizeof(a.user_id), "@bob:example.org");
	a.is_guest = 1;
	assert_int_equal(mr_auth_whoami_result(&a, &user, &err), 0);
	assert_string_equal(user.user_id, "@bob:example.org");
	assert_int_equal(user.is_guest, 1);

	memset(&a, 0, sizeof(a));
	snprintf(a.errcode, sizeof(a.errcode), "M_UNKNOWN_TOKEN");
	a.soft_logout = 1;
	mr_err_clear(&err);
	assert_int_equal(mr_auth_whoami_result(&a, &user, &err), -1);
	assert_int_equal(err.status, 401);
	assert_string_equal(err.errcode, "M_UNKNOWN_TOKEN");
	assert_int_equal(err.soft_logout, 1);
	body = mr_json_error_body(&err);
	assert_non_null(body);
	assert_non_null(strstr(body, "\"soft_logout\":true"));
	free(body);
	/* The next error set on the same record drops the flag. */
	mr_err_set(&err, 500, "M_UNKNOWN", "x");
	assert_int_equal(err.soft_logout, 0);
	body = mr_json_error_body(&err);
	assert_null(strstr(body, "soft_logout"));
	free(body);

	a.soft_logout = 0;
	assert_int_equal(mr_auth_whoami_result(&a, &user, &err), -1);
	body = mr_json_error_body(&err);
	assert_null(strstr(body, "soft_logout"));
	free(body);

	snprintf(a.errcode, sizeof(a.errcode), "M_FORBIDDEN");
	assert_int_equal(mr_auth_whoami_result(&a, &user, &err), -1);
	assert_int_equal(err.status, 403);
	/* A code we do not know (a tampered cache row) is an unknown token. */
	snprintf(a.errcode, sizeof(a.errcode), "M_WHATEVER");
	assert_int_equal(mr_auth_whoami_result(&a, &user, &err), -1);
	assert_int_equal(err.status, 401);
	assert_string_equal(err.errcode, "M_UNKNOWN_TOKEN");
}

static void
test_store_cache(void **state)
{
	struct fixture *fx = *state;
	struct mr_hs_auth a = { 0 }, b;
	struct mr_err err;

	snprintf(a.user_id, sizeof(a.user_id), "@c:example.org");
	assert_int_equal(mr_store_hs_auth_get(fx->st, "h1", 1000, &b, &err),
	    MR_STORE_NOT_FOUND);
	assert_int_equal(mr_store_hs_auth_put(fx->st, "h1", &a, 1000, 2000,
	    &err), 0);
	assert_int_equal(mr_store_hs_auth_get(fx->st, "h1", 1999, &b, &err),
	    MR_STORE_OK);
	assert_string_equal(b.user_id, "@c:example.org");
	assert_int_equal(mr_store_hs_auth_get(fx->st, "h1", 2000, &b, &err),
	    MR_STORE_NOT_FOUND);

	memset(&a, 0, sizeof(a));
	snprintf(a.errcode, sizeof(a.errcode), "M_UNKNOWN_TOKEN");
	a.soft_logout = 1;
	assert_int_equal(mr_store_hs_auth_put(fx->st, "h2", &a, 1000, 5000,
	    &err), 0);
	assert_int_equal(mr_store_hs_auth_get(fx->st, "h2", 1500, &b, &err),
	    MR_STORE_OK);
	assert_string_equal(b.user_id, "");
	assert_string_equal(b.errcode, "M_UNKNOWN_TOKEN");
	assert_int_equal(b.soft_logout, 1);
	/* Replacing a row keeps one answer per token. */
	snprintf(a.user_id, sizeof(a.user_id), "@d:example.org");
	a.errcode[0] = '\0';
	a.soft_logout = 0;
	assert_int_equal(mr_store_hs_auth_put(fx->st, "h2", &a, 1000, 5000,
	    &err), 0);
	assert_int_equal(mr_store_hs_auth_get(fx->st, "h2", 1500, &b, &err),
	    MR_STORE_OK);
	assert_string_equal(b.user_id, "@d:example.org");
}

/* A loopback port with nothing listening. */
static int
closed_port(void)
{
	struct sockaddr_in sa = { 0 };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

static void
test_check_from_cache_and_unreachable(void **state)
{
	struct fixture *fx = *state;
	struct mr_hs_auth a = { 0 };
	struct mr_user user;
	struct mr_err err;
	char hash[65];
	int64_t now = mr_now_ms();

	snprintf(fx->cfg.homeserver_url, sizeof(fx->cfg.homeserver_url),
	    "http://127.0.0.1:%d/", closed_port());
	fx->cfg.homeserver_auth_timeout = 2000;

	/* Cached: answered without a client, keyed by the token's hash. */
	snprintf(a.user_id, sizeof(a.user_id), "@e:example.org");
	mr_auth_hash_token("tok_cached", hash);
	assert_int_equal(mr_store_hs_auth_put(fx->st, hash, &a, now,
	    now + 60000, &err), 0);
	assert_int_equal(mr_auth_check_homeserver(&fx->hc, fx->st, &fx->cfg,
	    "tok_cached", &user, &err), 0);
	assert_string_equal(user.user_id, "@e:example.org");
	assert_null(fx->hc);

	/* Unreachable: 502, not 401, and nothing cached. */
	mr_err_clear(&err);
	assert_int_equal(mr_auth_check_homeserver(&fx->hc, fx->st, &fx->cfg,
	    "tok_other", &user, &err), -1);
	assert_int_equal(err.status, 502);
	assert_string_equal(err.errcode, "M_UNKNOWN");
	assert_non_null(fx->hc);
	mr_auth_hash_token("tok_other", hash);
	assert_int_equal(mr_store_hs_auth_get(fx->st, hash, now, &a, &err),
	    MR_STORE_NOT_FOUND);

	/* A token no header can carry is refused without asking. */
	assert_int_equal(mr_auth_check_homeserver(&fx->hc, fx->st, &fx->cfg,
	    "a b", &user, &err), -1);
	assert_int_equal(err.status, 401);
	assert_int_equal(mr_auth_check_homeserver(&fx->hc, fx->st, &fx->cfg,
	    "a\r\nX-Evil: 1", &user, &err), -1);
	assert_int_equal(err.status, 401);
	assert_string_equal(err.errcode, "M_UNKNOWN_TOKEN");
}

/* Appservices: answers are kept per (token, user_id), never shared. */
static void
test_masquerade_cache_keys(void **state)
{
	struct fixture *fx = *state;
	struct mr_hs_auth a = { 0 };
	struct mr_user user;
	struct mr_err err;
	char plain[65], as_a[65], as_b[65], again[65];
	int64_t now = mr_now_ms();

	mr_auth_whoami_cache_key("tok_as", NULL, plain);
	mr_auth_hash_token("tok_as", again);
	assert_string_equal(plain, again);
	mr_auth_whoami_cache_key("tok_as", "@a:example.org", as_a);
	mr_auth_whoami_cache_key("tok_as", "@b:example.org", as_b);
	assert_string_not_equal(as_a, plain);
	assert_string_not_equal(as_a, as_b);
	mr_auth_whoami_cache_key("tok_as", "@a:example.org", again);
	assert_string_equal(as_a, again);

	snprintf(fx->cfg.homeserver_url, sizeof(fx->cfg.homeserver_url),
	    "http://127.0.0.1:%d/", closed_port());
	fx->cfg.homeserver_auth_timeout = 2000;
	/* The bot's own answer does not answer for a user it acts for. */
	snprintf(a.user_id, sizeof(a.user_id), "@bot:example.org");
	assert_int_equal(mr_store_hs_auth_put(fx->st, plain, &a, now,
	    now + 60000, &err), 0);
	snprintf(a.user_id, sizeof(a.user_id), "@a:example.org");
	assert_int_equal(mr_store_hs_auth_put(fx->st, as_a, &a, now,
	    now + 60000, &err), 0);
	assert_int_equal(mr_auth_check_homeserver_as(&fx->hc, fx->st, &fx->cfg,
	    "tok_as", NULL, &user, &err), 0);
	assert_string_equal(user.user_id, "@bot:example.org");
	assert_int_equal(mr_auth_check_homeserver_as(&fx->hc, fx->st, &fx->cfg,
	    "tok_as", "@a:example.org", &user, &err), 0);
	assert_string_equal(user.user_id, "@a:example.org");
	assert_null(fx->hc);
	/* Not cached for @b: the homeserver is asked (and is down). */
	assert_int_equal(mr_auth_check_homeserver_as(&fx->hc, fx->st, &fx->cfg,
	    "tok_as", "@b:example.org", &user, &err), -1);
	assert_int_equal(err.status, 502);
	/* Not a user id: refused before anyone is asked. */
	assert_int_equal(mr_auth_check_homeserver_as(&fx->hc, fx->st, &fx->cfg,
	    "tok_as", "b:example.org", &user, &err), -1);
	assert_int_equal(err.status, 400);
	assert_string_equal(err.errcode, "M_INVALID_PARAM");
}

static int
load(const char *text, struct mr_config *cfg, struct mr_err *err)
{
	char path[] = "/tmp/mr-test-whoami-conf-XXXXXX";
	int fd = mkstemp(path), rc;
	FILE *f = fdopen(fd, "w");

	fputs("server_name = example.org\n", f);
	fputs(text, f);
	fclose(f);
	rc = mr_config_load(path, cfg, err);
	unlink(path);
	return rc;
}

/* One escape for path segments and query values: unreserved bytes kept,
 * the rest %XX, and a refusal rather than a cut when it does not fit. */
static void
test_path_escape(void **state)
{
	char out[32];

	(void)state;
	assert_int_equal(mr_auth_path_escape("@bot:example.org", out,
	    sizeof(out)), 0);
	assert_string_equal(out, "%40bot%3Aexample.org");
	assert_int_equal(mr_auth_path_escape("!r/../x y~", out, sizeof(out)), 0);
	assert_string_equal(out, "%21r%2F..%2Fx%20y~");
	assert_int_equal(mr_auth_path_escape("\xff", out, sizeof(out)), 0);
	assert_string_equal(out, "%FF");
	/* 8 escaped bytes need 25 bytes with the NUL; 9 do not fit in 27. */
	assert_int_equal(mr_auth_path_escape("@@@@@@@@", out, 25), 0);
	assert_int_equal(mr_auth_path_escape("@@@@@@@@@", out, 27), -1);
}

static void
test_config_keys(void **state)
{
	struct mr_config cfg;
	struct mr_err err;

	(void)state;
	assert_int_equal(load("", &cfg, &err), 0);
	assert_int_equal(cfg.auth, MR_AUTH_LOCAL);
	assert_int_equal(cfg.homeserver_auth_cache_ttl, 60000);
	assert_int_equal(cfg.homeserver_auth_negative_ttl, 10000);
	assert_int_equal(load("auth = homeserver\n"
	    "homeserver_url = http://127.0.0.1:8008\n"
	    "homeserver_auth_cache_ttl = 5m\n"
	    "homeserver_auth_negative_ttl = 0\n", &cfg, &err), 0);
	assert_int_equal(cfg.auth, MR_AUTH_HOMESERVER);
	assert_string_equal(cfg.homeserver_url, "http://127.0.0.1:8008");
	assert_int_equal(cfg.homeserver_auth_cache_ttl, 300000);
	assert_int_equal(cfg.homeserver_auth_negative_ttl, 0);
	assert_int_equal(load("auth = homeserver\n"
	    "homeserver_url = https://matrix.example.org/base/\n", &cfg, &err),
	    0);
	/* Empty is unset, which auth = local does not mind... */
	assert_int_equal(load("homeserver_url =\n", &cfg, &err), 0);
	/* ...but auth = homeserver needs a URL; bad URLs and modes fail. */
	assert_int_equal(load("auth = homeserver\n", &cfg, &err), -1);
	assert_non_null(strstr(err.msg, "homeserver_url"));
	assert_int_equal(load("auth = remote\n", &cfg, &err), -1);
	assert_int_equal(load("homeserver_url = ftp://h\n", &cfg, &err), -1);
	assert_int_equal(load("homeserver_url = http://\n", &cfg, &err), -1);
	assert_int_equal(load("homeserver_url = http://h/?a=b\n", &cfg, &err),
	    -1);
	assert_int_equal(load("homeserver_url = http://u:p@h\n", &cfg, &err),
	    -1);
	assert_int_equal(load("homeserver_url = http://h x\n", &cfg, &err), -1);
	assert_int_equal(load("homeserver_auth_cache_ttl = -1\n", &cfg, &err),
	    -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_accepted),
		cmocka_unit_test(test_parse_bad_200),
		cmocka_unit_test(test_parse_refused),
		cmocka_unit_test(test_parse_homeserver_failure),
		cmocka_unit_test(test_result_and_error_body),
		cmocka_unit_test_setup_teardown(test_store_cache, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_check_from_cache_and_unreachable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_masquerade_cache_keys, setup,
		    teardown),
		cmocka_unit_test(test_config_keys),
		cmocka_unit_test(test_path_escape),
	};

	return cmocka_run_group_tests(tests, fixture_sodium_setup, NULL);
}
