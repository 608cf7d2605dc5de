/*
 * test_fed: the checks of inbound federation requests and our published
 * key, with a temp store holding the peer's key so nothing goes out on
 * the network: a well-signed request passes, and each way it can be
 * wrong (destination, signature over other bytes, blocked or unlisted
 * origin, unknown key) gets its status.
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

#include "../../common/auth_xmatrix.h"
#include "../../common/fed.h"
#include "../../common/keys.h"

#define PEER "peer.example"
#define URI "/_matrix/federation/v1/media/download/abcdefghij"

struct fed_fixture {
	struct fixture_media *m;
	struct mr_signing_key *peer;
	struct mr_fed *fed;
};

static int
setup(void **state)
{
	struct fed_fixture *fx = calloc(1, sizeof(*fx));
	char path[FIXTURE_DIR_MAX + 16], key_id[MR_KEY_ID_MAX + 1], pub[64];
	struct mr_signing_key *own;
	struct mr_err err;
	void *m;

	if (fx == NULL || fixture_media_setup(&m) < 0)
		return -1;
	fx->m = m;
	fixture_path(path, sizeof(path), fx->m->dir, "peer.key");
	if ((fx->peer = mr_keys_alloc(&err)) == NULL ||
	    mr_keys_generate(path, fx->peer, &err) < 0)
		return -1;
	/* The peer's key as a fetch would have cached it. */
	snprintf(key_id, sizeof(key_id), "ed25519:%s", fx->peer->version);
	mr_keys_public_b64(fx->peer, pub);
	if (mr_store_server_key_put(fx->m->st, PEER, key_id, pub,
	    mr_now_ms() + 3600 * 1000, &err) != MR_STORE_OK)
		return -1;
	fixture_path(fx->m->cfg.signing_key_path,
	    sizeof(fx->m->cfg.signing_key_path), fx->m->dir, "own.key");
	if ((own = mr_keys_alloc(&err)) == NULL ||
	    mr_keys_generate(fx->m->cfg.signing_key_path, own, &err) < 0)
		return -1;
	mr_keys_free(own);
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fed_fixture *fx = *state;
	void *m = fx->m;

	mr_fed_free(fx->fed);
	mr_keys_free(fx->peer);
	fixture_media_teardown(&m);
	free(fx);
	return 0;
}

/* Opens fed on the fixture's config as it is now. */
static struct mr_fed *
fed(struct fed_fixture *fx)
{
	struct mr_err err;

	mr_fed_free(fx->fed);
	assert_int_equal(mr_fed_open(&fx->fed, &fx->m->cfg, fx->m->st,
	    fx->m->blob, &err), 0);
	return fx->fed;
}

/* The X-Matrix header the peer sends for GET uri to destination. */
static void
peer_header(struct fed_fixture *fx, const char *destination,
    const char *uri, char *out, size_t outsz)
{
	struct mr_xmatrix x;
	struct mr_err err;
	cJSON *obj = mr_auth_request_object("GET", uri, PEER, destination,
	    NULL);

	assert_non_null(obj);
	memset(&x, 0, sizeof(x));
	assert_int_equal(mr_keys_sign_detached(obj, fx->peer, x.sig, &err), 0);
	cJSON_Delete(obj);
	snprintf(x.origin, sizeof(x.origin), PEER);
	snprintf(x.destination, sizeof(x.destination), "%s", destination);
	snprintf(x.key, sizeof(x.key), "ed25519:%s", fx->peer->version);
	assert_int_equal(mr_auth_format_xmatrix(&x, out, outsz), 0);
}

/* Status of verifying header for GET uri (0 when it passes). */
static int
verify(struct fed_fixture *fx, const char *header, const char *uri,
    char origin[MR_SERVER_NAME_MAX + 1], struct mr_err *err)
{
	mr_err_clear(err);
	origin[0] = '\0';
	if (mr_fed_verify_request(fed(fx), header, "GET", uri, NULL, origin,
	    err) == 0)
		return 0;
	assert_true(err->status != 0);
	return err->status;
}

static void
test_verify_accepts_signed(void **state)
{
	struct fed_fixture *fx = *state;
	char h[1024], origin[MR_SERVER_NAME_MAX + 1];
	struct mr_err err;

	peer_header(fx, "example.org", URI, h, sizeof(h));
	assert_int_equal(verify(fx, h, URI, origin, &err), 0);
	assert_string_equal(origin, PEER);
}

static void
test_verify_refusals(void **state)
{
	struct fed_fixture *fx = *state;
	char h[1024], origin[MR_SERVER_NAME_MAX + 1];
	struct mr_err err;

	/* Meant for another server. */
	peer_header(fx, "elsewhere.example", URI, h, sizeof(h));
	assert_int_equal(verify(fx, h, URI, origin, &err), 401);
	assert_string_equal(origin, "");
	/* Signed for another request-target. */
	peer_header(fx, "example.org", URI, h, sizeof(h));
	assert_int_equal(verify(fx, h, URI "x", origin, &err), 401);
	assert_non_null(strstr(err.msg, "invalid signature"));
	/* No header, or a malformed one. */
	assert_int_equal(verify(fx, NULL, URI, origin, &err), 401);
	assert_int_equal(verify(fx, "X-Matrix origin=,", URI, origin, &err),
	    400);
	/* The operator's lists decide before any key is looked at. */
	snprintf(fx->m->cfg.federation_blocked_servers,
	    sizeof(fx->m->cfg.federation_blocked_servers), PEER);
	assert_int_equal(verify(fx, h, URI, origin, &err), 403);
	fx->m->cfg.federation_blocked_servers[0] = '\0';
	snprintf(fx->m->cfg.federation_domain_whitelist,
	    sizeof(fx->m->cfg.federation_domain_whitelist), "friend.example");
	assert_int_equal(verify(fx, h, URI, origin, &err), 403);
	fx->m->cfg.federation_domain_whitelist[0] = '\0';
	assert_int_equal(verify(fx, h, URI, origin, &err), 0);
}

/*
 * A key id we do not have is fetched at most once a minute; within that
 * minute it is refused without asking (and so without any network here).
 */
static void
test_verify_unknown_key_rate_limited(void **state)
{
	struct fed_fixture *fx = *state;
	char h[1024], origin[MR_SERVER_NAME_MAX + 1], *v;
	struct mr_err err;

	assert_int_equal(mr_store_server_key_claim_fetch(fx->m->st, PEER,
	    mr_now_ms(), 60000, &err), MR_STORE_OK);
	peer_header(fx, "example.org", URI, h, sizeof(h));
	/* Same signature, another (valid) key version. */
	v = strstr(h, "key=\"ed25519:");
	assert_non_null(v);
	v += strlen("key=\"ed25519:");
	*v = *v == 'z' ? 'y' : 'z';
	assert_int_equal(verify(fx, h, URI, origin, &err), 401);
	assert_non_null(strstr(err.msg, "cannot verify"));
}

static void
test_own_keys(void **state)
{
	struct fed_fixture *fx = *state;
	struct mr_signing_key *own;
	char id[MR_KEY_ID_MAX + 1], pub[64];
	const cJSON *k, *sigs;
	struct mr_err err;
	cJSON *o;

	assert_non_null(own = mr_keys_alloc(&err));
	assert_int_equal(mr_keys_load(fx->m->cfg.signing_key_path, own, &err),
	    0);
	snprintf(id, sizeof(id), "ed25519:%s", own->version);
	mr_keys_public_b64(own, pub);
	mr_keys_free(own);
	assert_non_null(o = mr_fed_own_keys(fed(fx), 3600 * 1000, &err));
	assert_string_equal(cJSON_GetObjectItem(o, "server_name")->valuestring,
	    "example.org");
	k = cJSON_GetObjectItem(cJSON_GetObjectItem(o, "verify_keys"), id);
	assert_non_null(k);
	assert_string_equal(cJSON_GetObjectItem(k, "key")->valuestring, pub);
	sigs = cJSON_GetObjectItem(cJSON_GetObjectItem(o, "signatures"),
	    "example.org");
	assert_non_null(cJSON_GetObjectItem(sigs, id));
	cJSON_Delete(o);
	/* No key file: nothing to publish. */
	fx->m->cfg.signing_key_path[0] = '\0';
	mr_err_clear(&err);
	assert_null(mr_fed_own_keys(fed(fx), 3600 * 1000, &err));
	assert_int_equal(err.status, 404);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_verify_accepts_signed,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_verify_refusals, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_verify_unknown_key_rate_limited, setup, teardown),
		cmocka_unit_test_setup_teardown(test_own_keys, setup, teardown),
	};

	return cmocka_run_group_tests(tests, fixture_sodium_setup, NULL);
}
