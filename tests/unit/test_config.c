/*
 * test_config: loading config files written to a temp directory: defaults,
 * every value type, relative paths, and each way a file can be wrong.
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
#include <unistd.h>

#include <cmocka.h>

#include "fixture_store.h"

#include "../../common/config.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

struct fixture {
	char dir[FIXTURE_DIR_MAX];
	char path[FIXTURE_DIR_MAX + 16];	/* dir/mediarepo.conf */
};

static int
setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (fx == NULL || fixture_dir_make(fx->dir, "config") < 0)
		return -1;
	fixture_path(fx->path, sizeof(fx->path), fx->dir, "mediarepo.conf");
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;

	fixture_dir_remove(fx->dir);
	free(fx);
	return 0;
}

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/* Writes text as the fixture's config and loads it. */
static int
load_text(struct fixture *fx, const char *text, struct mr_config *cfg,
    struct mr_err *err)
{
	unlink(fx->path);
	write_file(fx->path, text);
	mr_err_clear(err);
	return mr_config_load(fx->path, cfg, err);
}

static void
assert_in_dir(const struct fixture *fx, const char *got, const char *name)
{
	char want[PATH_MAX * 2];

	snprintf(want, sizeof(want), "%s/%s", fx->dir, name);
	assert_string_equal(got, want);
}

/* --- server-name lists --- */

/*
 * Lists hold server names and are compared as names (issue 10): another
 * case of a DNS name is the same server, another port is not.
 */
static void
test_server_lists(void **state)
{
	static const struct {
		const char *name;
		int blocked;
	} cases[] = {
		{ "localhost:18210", 1 },
		{ "LOCALHOST:18210", 1 },
		{ "LocalHost:18210", 1 },
		{ "127.0.0.1:18210", 1 },
		{ "peer.test", 1 },
		{ "PEER.TEST", 1 },
		{ "Peer.Test", 1 },
		{ "[::1]:8448", 1 },
		{ "localhost:18211", 0 },
		{ "localhost", 0 },
		{ "peer.test:8448", 0 },
		{ "other.test", 0 },
		{ "127.0.0.2:18210", 0 },
	};
	struct fixture *fx = *state;
	struct mr_config cfg;
	struct mr_err err;
	char host[64];
	uint16_t port;

	if (load_text(fx, "server_name = a\n"
	    "federation_blocked_servers = localhost:18210, 127.0.0.1:18210,"
	    "peer.test,[::1]:8448\n"
	    "federation_resolve = PEER.TEST:8448=127.0.0.5:1234,"
	    " other.test=[::1]:99\n", &cfg, &err) != 0)
		fail_msg("load failed: %s", err.msg);
	for (size_t i = 0; i < NELEM(cases); i++)
		if (mr_config_list_has(cfg.federation_blocked_servers,
		    cases[i].name) != cases[i].blocked)
			fail_msg("'%s': want %d", cases[i].name, cases[i].blocked);
	assert_int_equal(mr_config_list_has("", "peer.test"), 0);

	/* federation_resolve: the same comparison. */
	assert_int_equal(mr_config_resolve_lookup(&cfg, "peer.test:8448", host,
	    sizeof(host), &port), 1);
	assert_string_equal(host, "127.0.0.5");
	assert_int_equal(port, 1234);
	assert_int_equal(mr_config_resolve_lookup(&cfg, "Peer.Test:8448", host,
	    sizeof(host), &port), 1);
	assert_int_equal(mr_config_resolve_lookup(&cfg, "OTHER.test", host,
	    sizeof(host), &port), 1);
	assert_string_equal(host, "::1");
	assert_int_equal(port, 99);
	assert_int_equal(mr_config_resolve_lookup(&cfg, "peer.test", host,
	    sizeof(host), &port), 0);
	assert_int_equal(mr_config_resolve_lookup(&cfg, "peer.test:8449", host,
	    sizeof(host), &port), 0);
}

/* --- defaults --- */

static void
test_defaults(void **state)
{
	struct mr_config cfg;

	(void)state;
	memset(&cfg, 0x5a, sizeof(cfg));
	mr_config_defaults(&cfg);
	assert_string_equal(cfg.server_name, "");
	assert_string_equal(cfg.media_store_path, "media_store");
	assert_string_equal(cfg.database_path, "mediarepo.db");
	assert_string_equal(cfg.signing_key_path, "signing.key");
	/* Synapse's defaults (spec.md 2.5): 50M, 5 pending ids, 24h. */
	assert_int_equal(cfg.max_upload_size, INT64_C(50) << 20);
	assert_int_equal(cfg.max_pending_media_uploads, 5);
	assert_int_equal(cfg.unused_expiration_time, INT64_C(86400000));
	assert_int_equal(cfg.xsendfile, MR_XSENDFILE_OFF);
	assert_string_equal(cfg.xsendfile_prefix, "");
	/* Booleans are 0 or 1, durations positive where a minimum exists. */
	assert_true(cfg.enable_authenticated_media == 0 ||
	    cfg.enable_authenticated_media == 1);
	assert_true(cfg.legacy_media_requires_auth == 0 ||
	    cfg.legacy_media_requires_auth == 1);
	assert_true(cfg.allow_query_access_token == 0 ||
	    cfg.allow_query_access_token == 1);
	assert_true(cfg.log_requests == 0 || cfg.log_requests == 1);
	assert_true(cfg.temp_file_max_age >= 60000);
	assert_true(cfg.max_pending_media_wait >= 0);
	assert_true(cfg.media_cache_max_age >= 0);
}

/* A file with only server_name: every other key at its default. */
static void
test_minimal_file(void **state)
{
	struct fixture *fx = *state;
	struct mr_config cfg, def;
	struct mr_err err;

	if (load_text(fx, "server_name = example.org\n", &cfg, &err) != 0)
		fail_msg("load failed: %s", err.msg);
	mr_config_defaults(&def);
	assert_string_equal(cfg.server_name, "example.org");
	/* Relative default paths are taken from the file's directory. */
	assert_in_dir(fx, cfg.media_store_path, "media_store");
	assert_in_dir(fx, cfg.database_path, "mediarepo.db");
	assert_in_dir(fx, cfg.signing_key_path, "signing.key");
	assert_int_equal(cfg.max_upload_size, def.max_upload_size);
	assert_int_equal(cfg.enable_authenticated_media,
	    def.enable_authenticated_media);
	assert_int_equal(cfg.legacy_media_requires_auth,
	    def.legacy_media_requires_auth);
	assert_int_equal(cfg.allow_query_access_token,
	    def.allow_query_access_token);
	assert_int_equal(cfg.max_pending_media_uploads,
	    def.max_pending_media_uploads);
	assert_int_equal(cfg.unused_expiration_time, def.unused_expiration_time);
	assert_int_equal(cfg.max_pending_media_wait, def.max_pending_media_wait);
	assert_int_equal(cfg.temp_file_max_age, def.temp_file_max_age);
	assert_int_equal(cfg.media_cache_max_age, def.media_cache_max_age);
	assert_int_equal(cfg.xsendfile, def.xsendfile);
	assert_string_equal(cfg.xsendfile_prefix, def.xsendfile_prefix);
	assert_int_equal(cfg.log_requests, def.log_requests);
}

/* --- every key and type --- */

static void
test_every_key(void **state)
{
	struct fixture *fx = *state;
	struct mr_config cfg;
	struct mr_err err;

	if (load_text(fx,
	    "server_name = matrix.org:8448\n"
	    "media_store_path = store\n"
	    "database_path = /var/lib/mediarepo/db.sqlite\n"
	    "signing_key_path = keys/server.key\n"
	    "max_upload_size = 512K\n"
	    "enable_authenticated_media = yes\n"
	    "legacy_media_requires_auth = on\n"
	    "allow_query_access_token = off\n"
	    "max_pending_media_uploads = 17\n"
	    "unused_expiration_time = 30m\n"
	    "max_pending_media_wait = 500ms\n"
	    "temp_file_max_age = 2h\n"
	    "media_cache_max_age = 7d\n"
	    "xsendfile = x-accel-redirect\n"
	    "xsendfile_prefix = /_internal/media=x\n"
	    "log_requests = FALSE\n", &cfg, &err) != 0)
		fail_msg("load failed: %s", err.msg);
	assert_string_equal(cfg.server_name, "matrix.org:8448");
	assert_in_dir(fx, cfg.media_store_path, "store");
	assert_string_equal(cfg.database_path, "/var/lib/mediarepo/db.sqlite");
	assert_in_dir(fx, cfg.signing_key_path, "keys/server.key");
	assert_int_equal(cfg.max_upload_size, 512 * 1024);
	assert_int_equal(cfg.enable_authenticated_media, 1);
	assert_int_equal(cfg.legacy_media_requires_auth, 1);
	assert_int_equal(cfg.allow_query_access_token, 0);
	assert_int_equal(cfg.max_pending_media_uploads, 17);
	assert_int_equal(cfg.unused_expiration_time, 30 * 60000);
	assert_int_equal(cfg.max_pending_media_wait, 500);
	assert_int_equal(cfg.temp_file_max_age, 2 * 3600000);
	assert_int_equal(cfg.media_cache_max_age, 7 * INT64_C(86400000));
	assert_int_equal(cfg.xsendfile, MR_XSENDFILE_X_ACCEL);
	/* Only the first '=' splits: the value keeps the rest. */
	assert_string_equal(cfg.xsendfile_prefix, "/_internal/media=x");
	assert_int_equal(cfg.log_requests, 0);

	/* The other values of the enum and the other spelling of booleans. */
	if (load_text(fx,
	    "server_name=[::1]:8008\n"
	    "xsendfile=x-sendfile\n"
	    "enable_authenticated_media=false\n"
	    "log_requests=1\n", &cfg, &err) != 0)
		fail_msg("load failed: %s", err.msg);
	assert_string_equal(cfg.server_name, "[::1]:8008");
	assert_int_equal(cfg.xsendfile, MR_XSENDFILE_X_SENDFILE);
	assert_int_equal(cfg.enable_authenticated_media, 0);
	assert_int_equal(cfg.log_requests, 1);

	if (load_text(fx, "server_name = a\nxsendfile = off\n", &cfg, &err) != 0)
		fail_msg("load failed: %s", err.msg);
	assert_int_equal(cfg.xsendfile, MR_XSENDFILE_OFF);
}

/* Range ends are inclusive. */
static void
test_range_limits(void **state)
{
	static const struct {
		const char *line;
		size_t offset;
		int64_t want;
	} cases[] = {
		{ "max_upload_size = 1", offsetof(struct mr_config, max_upload_size),
		  1 },
		{ "max_upload_size = 1T", offsetof(struct mr_config,
		  max_upload_size), INT64_C(1) << 40 },
		{ "max_pending_media_uploads = 1", offsetof(struct mr_config,
		  max_pending_media_uploads), 1 },
		{ "max_pending_media_uploads = 1000000", offsetof(struct mr_config,
		  max_pending_media_uploads), 1000000 },
		{ "unused_expiration_time = 1s", offsetof(struct mr_config,
		  unused_expiration_time), 1000 },
		{ "unused_expiration_time = 365d", offsetof(struct mr_config,
		  unused_expiration_time), 365 * INT64_C(86400000) },
		{ "max_pending_media_wait = 0", offsetof(struct mr_config,
		  max_pending_media_wait), 0 },
		{ "max_pending_media_wait = 1h", offsetof(struct mr_config,
		  max_pending_media_wait), 3600000 },
		{ "temp_file_max_age = 60s", offsetof(struct mr_config,
		  temp_file_max_age), 60000 },
		{ "temp_file_max_age = 30d", offsetof(struct mr_config,
		  temp_file_max_age), 30 * INT64_C(86400000) },
		{ "media_cache_max_age = 0", offsetof(struct mr_config,
		  media_cache_max_age), 0 },
	};
	struct fixture *fx = *state;
	struct mr_config cfg;
	struct mr_err err;
	char text[256];

	for (size_t i = 0; i < NELEM(cases); i++) {
		int64_t got;

		snprintf(text, sizeof(text), "server_name = a\n%s\n",
		    cases[i].line);
		if (load_text(fx, text, &cfg, &err) != 0)
			fail_msg("'%s' refused: %s", cases[i].line, err.msg);
		memcpy(&got, (char *)&cfg + cases[i].offset, sizeof(got));
		if (got != cases[i].want)
			fail_msg("'%s' gave %lld", cases[i].line, (long long)got);
	}
}

/* --- layout: comments, blank lines, spaces, line endings --- */

static void
test_comments_and_blank_lines(void **state)
{
	struct fixture *fx = *state;
	struct mr_config cfg;
	struct mr_err err;

	if (load_text(fx,
	    "# mediarepo\n"
	    "\n"
	    "   # an indented comment with = and unknown_key = 1\n"
	    "\t\n"
	    "#max_upload_size = nonsense\n"
	    "   server_name   =   example.org   \n"
	    "\tmax_pending_media_uploads\t=\t9\t\n"
	    "\n", &cfg, &err) != 0)
		fail_msg("load failed: %s", err.msg);
	assert_string_equal(cfg.server_name, "example.org");
	assert_int_equal(cfg.max_pending_media_uploads, 9);

	/* CRLF line endings and no newline at the end of the file. */
	if (load_text(fx, "server_name = example.org\r\n"
	    "max_pending_media_uploads = 3", &cfg, &err) != 0)
		fail_msg("load failed: %s", err.msg);
	assert_string_equal(cfg.server_name, "example.org");
	assert_int_equal(cfg.max_pending_media_uploads, 3);
}

/* --- errors --- */

/* err names "path:line:" and, when given, the key in quotes. */
static void
assert_error_at(const struct fixture *fx, const struct mr_err *err,
    unsigned line, const char *key, const char *why)
{
	char where[PATH_MAX + 32];

	snprintf(where, sizeof(where), "%s:%u:", fx->path, line);
	if (strncmp(err->msg, where, strlen(where)) != 0)
		fail_msg("'%s' does not start with '%s'", err->msg, where);
	if (key != NULL) {
		char quoted[128];

		snprintf(quoted, sizeof(quoted), "'%s'", key);
		if (strstr(err->msg, quoted) == NULL)
			fail_msg("'%s' does not name %s", err->msg, quoted);
	}
	if (why != NULL && strstr(err->msg, why) == NULL)
		fail_msg("'%s' does not say '%s'", err->msg, why);
	assert_int_equal(err->status, 500);
	assert_non_null(err->errcode);
}

static void
test_unknown_key(void **state)
{
	struct fixture *fx = *state;
	struct mr_config cfg;
	struct mr_err err;

	assert_int_equal(load_text(fx, "# config\nserver_name = a\n"
	    "max_upload_sise = 5M\n", &cfg, &err), -1);
	assert_error_at(fx, &err, 3, "max_upload_sise", "unknown key");

	/* Key names are exact: no case folding. */
	assert_int_equal(load_text(fx, "Server_Name = a\n", &cfg, &err), -1);
	assert_error_at(fx, &err, 1, "Server_Name", "unknown key");
}

static void
test_bad_values(void **state)
{
	static const char *const lines[] = {
		"server_name = a/b",
		"server_name = ",
		"server_name = example.org # comment",
		"server_name = example.org:65536",
		"media_store_path = ",
		"max_upload_size = 50X",
		"max_upload_size = 0",
		"max_upload_size = 2T",
		"max_upload_size = -1",
		"max_upload_size = lots",
		"max_upload_size = ",
		"enable_authenticated_media = maybe",
		"legacy_media_requires_auth = 2",
		"allow_query_access_token = ",
		"log_requests = truee",
		"max_pending_media_uploads = 0",
		"max_pending_media_uploads = -1",
		"max_pending_media_uploads = 1000001",
		"max_pending_media_uploads = 5x",
		"max_pending_media_uploads = 5.0",
		"max_pending_media_uploads = 99999999999999999999999",
		"unused_expiration_time = 500ms",
		"unused_expiration_time = 366d",
		"unused_expiration_time = 10parsecs",
		"unused_expiration_time = -1h",
		"max_pending_media_wait = 2h",
		"temp_file_max_age = 59s",
		"temp_file_max_age = 31d",
		"media_cache_max_age = 366d",
		"xsendfile = nginx",
		"xsendfile = X-Sendfile",
		"xsendfile = ",
		"xsendfile = on",
		/* server names that are not canonical can never match */
		"federation_blocked_servers = a, 127.000.000.001:18210",
		"federation_domain_whitelist = [::ffff:127.0.0.1]:18210",
		"prevent_media_downloads_from = peer.test.",
		"prevent_media_downloads_from = peer.test:08448",
		"federation_resolve = 127.1:80=127.0.0.1:80",
		"federation_resolve = [::FFFF:7F00:1]=127.0.0.1:80",
		/* presigned URLs put /bucket/key after it: nothing else there */
		"s3_public_endpoint = http://media.example/s3",
		"s3_public_endpoint = http://media.example/",
		"s3_public_endpoint = http://media.example?x=1",
		"s3_public_endpoint = ftp://media.example",
		"s3_public_endpoint = media.example:7480",
		"s3_public_endpoint = https://",
		"s3_public_endpoint = http://user@media.example",
	};
	struct fixture *fx = *state;
	struct mr_config cfg;
	struct mr_err err;
	char text[256], key[64];

	for (size_t i = 0; i < NELEM(lines); i++) {
		size_t klen = strcspn(lines[i], " =");

		snprintf(key, sizeof(key), "%.*s", (int)klen, lines[i]);
		/* server_name first unless it is the key under test. */
		if (strcmp(key, "server_name") == 0)
			snprintf(text, sizeof(text), "# x\n%s\n", lines[i]);
		else
			snprintf(text, sizeof(text), "server_name = a\n%s\n",
			    lines[i]);
		if (load_text(fx, text, &cfg, &err) != -1)
			fail_msg("accepted '%s'", lines[i]);
		assert_error_at(fx, &err, 2, key, NULL);
	}
}

static void
test_malformed_lines(void **state)
{
	struct fixture *fx = *state;
	struct mr_config cfg;
	struct mr_err err;

	assert_int_equal(load_text(fx, "server_name = a\njust some words\n",
	    &cfg, &err), -1);
	assert_error_at(fx, &err, 2, NULL, "key = value");

	assert_int_equal(load_text(fx, "server_name = a\n= value\n", &cfg,
	    &err), -1);
	assert_error_at(fx, &err, 2, "", "unknown key");

	assert_int_equal(load_text(fx, "[main]\nserver_name = a\n", &cfg,
	    &err), -1);
	assert_error_at(fx, &err, 1, NULL, NULL);
}

static void
test_duplicate_key(void **state)
{
	struct fixture *fx = *state;
	struct mr_config cfg;
	struct mr_err err;

	assert_int_equal(load_text(fx, "server_name = a\n"
	    "max_upload_size = 1M\n\nmax_upload_size = 1M\n", &cfg, &err), -1);
	assert_error_at(fx, &err, 4, "max_upload_size", "twice");

	assert_int_equal(load_text(fx, "server_name = a\nserver_name = b\n",
	    &cfg, &err), -1);
	assert_error_at(fx, &err, 2, "server_name", "twice");
}

static void
test_missing_server_name(void **state)
{
	struct fixture *fx = *state;
	struct mr_config cfg;
	struct mr_err err;

	assert_int_equal(load_text(fx, "max_upload_size = 1M\n", &cfg, &err),
	    -1);
	assert_non_null(strstr(err.msg, fx->path));
	assert_non_null(strstr(err.msg, "'server_name'"));
	assert_non_null(strstr(err.msg, "required"));

	assert_int_equal(load_text(fx, "", &cfg, &err), -1);
	assert_non_null(strstr(err.msg, "'server_name'"));

	assert_int_equal(load_text(fx, "# server_name = a\n", &cfg, &err), -1);
	assert_non_null(strstr(err.msg, "'server_name'"));
}

static void
test_line_too_long(void **state)
{
	struct fixture *fx = *state;
	struct mr_config cfg;
	struct mr_err err;
	size_t n = 20000;
	char *text = malloc(n + 64);

	assert_non_null(text);
	/* A long value after a good line: refused naming line 2. */
	strcpy(text, "server_name = a\nxsendfile_prefix = ");
	memset(text + strlen(text), 'x', n);
	strcpy(text + strlen("server_name = a\nxsendfile_prefix = ") + n, "\n");
	assert_int_equal(load_text(fx, text, &cfg, &err), -1);
	assert_error_at(fx, &err, 2, NULL, "too long");

	/* Also a long comment: the rest of it must not be read as a key. */
	memset(text, 0, n + 64);
	text[0] = '#';
	memset(text + 1, 'y', 9000);
	strcpy(text + 9001, "server_name = evil\n");
	assert_int_equal(load_text(fx, text, &cfg, &err), -1);
	assert_error_at(fx, &err, 1, NULL, "too long");
	free(text);
}

/* A value longer than its field: refused, never cut short silently. */
static void
test_value_too_long(void **state)
{
	struct fixture *fx = *state;
	struct mr_config cfg;
	struct mr_err err;
	char *text = malloc(PATH_MAX + 128);
	size_t at;

	assert_non_null(text);
	at = (size_t)sprintf(text, "server_name = a\nxsendfile_prefix = /");
	memset(text + at, 'p', PATH_MAX);
	strcpy(text + at + PATH_MAX, "\n");
	assert_int_equal(load_text(fx, text, &cfg, &err), -1);
	assert_error_at(fx, &err, 2, "xsendfile_prefix", NULL);

	at = (size_t)sprintf(text, "server_name = a\ndatabase_path = /");
	memset(text + at, 'p', PATH_MAX);
	strcpy(text + at + PATH_MAX, "\n");
	assert_int_equal(load_text(fx, text, &cfg, &err), -1);
	assert_error_at(fx, &err, 2, "database_path", NULL);

	/* Relative: short alone, too long once the directory is prefixed. */
	at = (size_t)sprintf(text, "server_name = a\ndatabase_path = ");
	memset(text + at, 'p', PATH_MAX - 2);
	strcpy(text + at + PATH_MAX - 2, "\n");
	assert_int_equal(load_text(fx, text, &cfg, &err), -1);
	assert_error_at(fx, &err, 2, "database_path", NULL);
	free(text);
}

static void
test_missing_file(void **state)
{
	struct fixture *fx = *state;
	struct mr_config cfg;
	struct mr_err err;
	char path[PATH_MAX + 32];

	snprintf(path, sizeof(path), "%s/nonexistent.conf", fx->dir);
	mr_err_clear(&err);
	assert_int_equal(mr_config_load(path, &cfg, &err), -1);
	assert_non_null(strstr(err.msg, path));
}

/* A path with no directory part: relative paths stay relative to ".". */
static void
test_relative_config_path(void **state)
{
	struct fixture *fx = *state;
	struct mr_config cfg;
	struct mr_err err;
	char cwd[PATH_MAX];

	write_file(fx->path, "server_name = a\nmedia_store_path = m\n");
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(fx->dir), 0);
	mr_err_clear(&err);
	if (mr_config_load("mediarepo.conf", &cfg, &err) != 0) {
		assert_int_equal(chdir(cwd), 0);
		fail_msg("load failed: %s", err.msg);
	}
	assert_int_equal(chdir(cwd), 0);
	assert_string_equal(cfg.media_store_path, "./m");
	assert_string_equal(cfg.database_path, "./mediarepo.db");
}

static void
test_load_env(void **state)
{
	struct fixture *fx = *state;
	struct mr_config cfg;
	struct mr_err err;

	unsetenv("MEDIAREPO_CONFIG");
	mr_err_clear(&err);
	assert_int_equal(mr_config_load_env(&cfg, &err), -1);
	assert_non_null(strstr(err.msg, "MEDIAREPO_CONFIG"));

	setenv("MEDIAREPO_CONFIG", "", 1);
	assert_int_equal(mr_config_load_env(&cfg, &err), -1);

	write_file(fx->path, "server_name = env.example\n");
	setenv("MEDIAREPO_CONFIG", fx->path, 1);
	assert_int_equal(mr_config_load_env(&cfg, &err), 0);
	assert_string_equal(cfg.server_name, "env.example");
	unsetenv("MEDIAREPO_CONFIG");
}

/* --- mr_config_get_text --- */

static void
test_get_text(void **state)
{
	static const struct {
		const char *key, *want;
	} cases[] = {
		{ "server_name", "matrix.org:8448" },
		{ "database_path", "/var/db/m.db" },
		{ "max_upload_size", "524288" },
		{ "enable_authenticated_media", "true" },
		{ "legacy_media_requires_auth", "false" },
		{ "max_pending_media_uploads", "17" },
		{ "unused_expiration_time", "1800000" },
		{ "max_pending_media_wait", "500" },
		{ "xsendfile", "x-accel-redirect" },
		{ "xsendfile_prefix", "/_internal" },
	};
	struct fixture *fx = *state;
	struct mr_config cfg;
	struct mr_err err;
	char out[PATH_MAX * 2];

	if (load_text(fx,
	    "server_name = matrix.org:8448\n"
	    "media_store_path = store\n"
	    "database_path = /var/db/m.db\n"
	    "max_upload_size = 512K\n"
	    "enable_authenticated_media = on\n"
	    "legacy_media_requires_auth = no\n"
	    "max_pending_media_uploads = 17\n"
	    "unused_expiration_time = 30m\n"
	    "max_pending_media_wait = 500ms\n"
	    "xsendfile = x-accel-redirect\n"
	    "xsendfile_prefix = /_internal\n", &cfg, &err) != 0)
		fail_msg("load failed: %s", err.msg);
	for (size_t i = 0; i < NELEM(cases); i++) {
		memset(out, 0, sizeof(out));
		if (mr_config_get_text(&cfg, cases[i].key, out, sizeof(out)) != 0)
			fail_msg("no text for '%s'", cases[i].key);
		if (strcmp(out, cases[i].want) != 0)
			fail_msg("'%s' is '%s', want '%s'", cases[i].key, out,
			    cases[i].want);
	}
	/* Paths come resolved. */
	assert_int_equal(mr_config_get_text(&cfg, "media_store_path", out,
	    sizeof(out)), 0);
	assert_in_dir(fx, out, "store");

	/* Unknown keys, and no case folding or prefix match. */
	assert_int_equal(mr_config_get_text(&cfg, "bogus", out, sizeof(out)), -1);
	assert_int_equal(mr_config_get_text(&cfg, "", out, sizeof(out)), -1);
	assert_int_equal(mr_config_get_text(&cfg, "Server_Name", out,
	    sizeof(out)), -1);
	assert_int_equal(mr_config_get_text(&cfg, "server", out, sizeof(out)),
	    -1);
}

/* The text of every key loads back to the same value. */
static void
test_get_text_round_trip(void **state)
{
	static const char *const keys[] = {
		"server_name", "media_store_path", "database_path",
		"signing_key_path", "max_upload_size", "enable_authenticated_media",
		"legacy_media_requires_auth", "allow_query_access_token",
		"max_pending_media_uploads", "unused_expiration_time",
		"max_pending_media_wait", "temp_file_max_age", "media_cache_max_age",
		"xsendfile", "log_requests",
	};
	struct fixture *fx = *state;
	struct mr_config cfg, back;
	struct mr_err err;
	char text[8192], value[PATH_MAX * 2];
	size_t at = 0;

	if (load_text(fx, "server_name = example.org\nxsendfile = x-sendfile\n"
	    "max_upload_size = 3G\ntemp_file_max_age = 1d\n", &cfg, &err) != 0)
		fail_msg("load failed: %s", err.msg);
	for (size_t i = 0; i < NELEM(keys); i++) {
		assert_int_equal(mr_config_get_text(&cfg, keys[i], value,
		    sizeof(value)), 0);
		at += (size_t)snprintf(text + at, sizeof(text) - at, "%s = %s\n",
		    keys[i], value);
		assert_true(at < sizeof(text));
	}
	if (load_text(fx, text, &back, &err) != 0)
		fail_msg("get_text output does not load: %s", err.msg);
	assert_string_equal(back.server_name, cfg.server_name);
	assert_string_equal(back.media_store_path, cfg.media_store_path);
	assert_string_equal(back.database_path, cfg.database_path);
	assert_int_equal(back.max_upload_size, INT64_C(3) << 30);
	assert_int_equal(back.temp_file_max_age, 86400000);
	assert_int_equal(back.xsendfile, MR_XSENDFILE_X_SENDFILE);
	assert_int_equal(back.unused_expiration_time, cfg.unused_expiration_time);
	assert_int_equal(back.enable_authenticated_media,
	    cfg.enable_authenticated_media);
	assert_int_equal(back.log_requests, cfg.log_requests);
}

/* --- mr_config_write_default --- */

static void
test_write_default_loads_back(void **state)
{
	struct fixture *fx = *state;
	struct mr_config cfg, def;
	struct mr_err err;
	char path[PATH_MAX + 32];

	snprintf(path, sizeof(path), "%s/new.conf", fx->dir);
	if (mr_config_write_default(path, "[::1]:8448", &err) != 0)
		fail_msg("write failed: %s", err.msg);
	if (mr_config_load(path, &cfg, &err) != 0)
		fail_msg("written file does not load: %s", err.msg);
	mr_config_defaults(&def);
	assert_string_equal(cfg.server_name, "[::1]:8448");
	assert_in_dir(fx, cfg.media_store_path, def.media_store_path);
	assert_in_dir(fx, cfg.database_path, def.database_path);
	assert_in_dir(fx, cfg.signing_key_path, def.signing_key_path);
	assert_int_equal(cfg.max_upload_size, def.max_upload_size);
	assert_int_equal(cfg.enable_authenticated_media,
	    def.enable_authenticated_media);
	assert_int_equal(cfg.max_pending_media_uploads,
	    def.max_pending_media_uploads);
	assert_int_equal(cfg.unused_expiration_time, def.unused_expiration_time);
	assert_int_equal(cfg.temp_file_max_age, def.temp_file_max_age);
	assert_int_equal(cfg.xsendfile, def.xsendfile);
	assert_int_equal(cfg.log_requests, def.log_requests);

	/* It never overwrites an existing file. */
	write_file(path, "server_name = keep.me\n");
	mr_err_clear(&err);
	assert_int_equal(mr_config_write_default(path, "other", &err), -1);
	assert_non_null(strstr(err.msg, path));
	assert_int_equal(mr_config_load(path, &cfg, &err), 0);
	assert_string_equal(cfg.server_name, "keep.me");
}

/*
 * Each commented-out default in the written file, uncommented, is a valid
 * line: the file documents values the loader accepts.
 */
static void
test_write_default_values_valid(void **state)
{
	struct fixture *fx = *state;
	struct mr_config cfg;
	struct mr_err err;
	char path[PATH_MAX + 32], line[1024], text[2048];
	FILE *f;
	int n = 0;

	snprintf(path, sizeof(path), "%s/new.conf", fx->dir);
	assert_int_equal(mr_config_write_default(path, "example.org", &err), 0);
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		const char *eq = strchr(line, '=');

		/* "#key = value", not the "# help text" lines. */
		if (line[0] != '#' || line[1] == ' ' || eq == NULL)
			continue;
		snprintf(text, sizeof(text), "server_name = a\n%s", line + 1);
		if (load_text(fx, text, &cfg, &err) != 0)
			fail_msg("default line '%s' does not load: %s", line + 1,
			    err.msg);
		n++;
	}
	fclose(f);
	/* Every key but server_name is listed. */
	assert_true(n >= 15);
}

/* --- the process budget and shared limits --- */

static void
test_limits_keys(void **state)
{
	struct mr_upload_limit lim[MR_UPLOAD_LIMITS_MAX];
	struct fixture *fx = *state;
	struct mr_config cfg;
	struct mr_err err;
	char text[64];

	assert_int_equal(load_text(fx, "server_name = a.test\n", &cfg, &err), 0);
	/* Synapse's defaults. */
	assert_int_equal(cfg.rc_media_create_per_second, 10000);
	assert_int_equal(cfg.rc_media_create_burst_count, 50);
	assert_int_equal(cfg.remote_media_download_burst_count,
	    INT64_C(500) << 20);
	assert_int_equal(cfg.remote_media_download_per_second, 87 << 10);
	assert_int_equal(mr_config_upload_limits(cfg.media_upload_limits, lim),
	    0);
	assert_int_equal(cfg.n_upload_limits, 0);
	assert_int_equal(cfg.trusted.n, 0);
	unsetenv("MEDIAREPO_PROCESSES");
	assert_int_equal(mr_config_processes(&cfg, "download"), 16);
	assert_int_equal(mr_config_processes(&cfg, "upload"), 8);
	assert_int_equal(mr_config_processes(&cfg, "no_such"), 2);
	setenv("MEDIAREPO_PROCESSES", "5", 1);
	assert_int_equal(mr_config_processes(&cfg, "download"), 5);
	setenv("MEDIAREPO_PROCESSES", "junk", 1);
	assert_int_equal(mr_config_processes(&cfg, "download"), 16);
	unsetenv("MEDIAREPO_PROCESSES");

	assert_int_equal(load_text(fx, "server_name = a.test\n"
	    "rc_media_create_per_second = 0.25\n"
	    "media_upload_limits = 1h:100M, 1w:500M\n"
	    "trusted_proxies = 10.0.0.0/8, ::1\n"
	    "processes = download:3, thumbnail:1\n", &cfg, &err), 0);
	assert_int_equal(cfg.rc_media_create_per_second, 250);
	assert_int_equal(mr_config_get_text(&cfg, "rc_media_create_per_second",
	    text, sizeof(text)), 0);
	assert_string_equal(text, "0.250");
	assert_int_equal(mr_config_upload_limits(cfg.media_upload_limits, lim),
	    2);
	assert_int_equal(lim[0].period_ms, 3600000);
	assert_int_equal(lim[0].bytes, INT64_C(100) << 20);
	assert_int_equal(lim[1].period_ms, INT64_C(7) * 86400000);
	/* Parsed once at load: requests read these, never the text. */
	assert_int_equal(cfg.n_upload_limits, 2);
	assert_int_equal(cfg.upload_limits[0].period_ms, 3600000);
	assert_int_equal(cfg.upload_limits[0].bytes, INT64_C(100) << 20);
	assert_int_equal(cfg.upload_limits[1].period_ms, INT64_C(7) * 86400000);
	assert_int_equal(cfg.upload_limits[1].bytes, INT64_C(500) << 20);
	assert_int_equal(cfg.trusted.n, 2);
	{
		uint8_t a[16];

		assert_int_equal(mr_net_parse_addr("10.9.8.7", a), 0);
		assert_true(mr_net_in_list(a, &cfg.trusted));
		assert_int_equal(mr_net_parse_addr("::1", a), 0);
		assert_true(mr_net_in_list(a, &cfg.trusted));
		assert_int_equal(mr_net_parse_addr("11.0.0.1", a), 0);
		assert_false(mr_net_in_list(a, &cfg.trusted));
	}
	assert_int_equal(mr_config_processes(&cfg, "download"), 3);
	assert_int_equal(mr_config_processes(&cfg, "upload"), 2);
}

static void
test_limits_keys_refused(void **state)
{
	static const char *const bad[] = {
		"rc_media_create_per_second = 0\n",
		"rc_media_create_per_second = -1\n",
		"rc_media_create_per_second = 1e3\n",
		"rc_media_create_per_second = .\n",
		"rc_media_create_burst_count = 0\n",
		"media_upload_limits = 1h\n",
		"media_upload_limits = 1h:0\n",
		"media_upload_limits = 10ms:1M\n",
		"media_upload_limits = x:1M\n",
		"processes = download\n",
		"processes = download:0\n",
		"processes = download:2000\n",
		"processes = Download:2\n",
		"processes = :2\n",
		"trusted_proxies = 10.0.0.0/33\n",
		"trusted_proxies = proxy.example\n",
		"federation_max_fetches_per_origin = 0\n",
		"federation_max_fetches_per_origin = 65\n",
	};
	struct fixture *fx = *state;
	struct mr_config cfg;
	struct mr_err err;
	char text[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "server_name = a.test\n%s", bad[i]);
		if (load_text(fx, text, &cfg, &err) != -1)
			fail_msg("accepted: %s", bad[i]);
		assert_non_null(strstr(err.msg, ":2:"));
	}
}

/* s3_public_endpoint: kept as written; empty (unset) by default. */
static void
test_s3_public_endpoint(void **state)
{
	struct fixture *fx = *state;
	struct mr_config cfg;
	struct mr_err err;

	if (load_text(fx, "server_name = a.test\n", &cfg, &err) != 0)
		fail_msg("load failed: %s", err.msg);
	assert_string_equal(cfg.s3_public_endpoint, "");
	if (load_text(fx, "server_name = a.test\n"
	    "s3_endpoint = http://10.0.0.5:7480\n"
	    "s3_public_endpoint = https://s3.Example.org:8443\n", &cfg,
	    &err) != 0)
		fail_msg("load failed: %s", err.msg);
	assert_string_equal(cfg.s3_endpoint, "http://10.0.0.5:7480");
	assert_string_equal(cfg.s3_public_endpoint, "https://s3.Example.org:8443");
	if (load_text(fx, "server_name = a.test\n"
	    "s3_public_endpoint = http://[::1]:7480\n", &cfg, &err) != 0)
		fail_msg("load failed: %s", err.msg);
	assert_string_equal(cfg.s3_public_endpoint, "http://[::1]:7480");
}

/* A malformed list stops the load, and the message shows the syntax. */
static void
test_lists_refused_clearly(void **state)
{
	static const struct {
		const char *line, *hint;
	} bad[] = {
		{ "trusted_proxies = 10.0.0.0/33\n", "CIDR list" },
		{ "trusted_proxies = 10.0.0.0/8 proxy.example\n", "CIDR list" },
		{ "metrics_allowed_ips = localhost\n", "CIDR list" },
		{ "media_upload_limits = 1h:100M, 1w\n", "'1h:100M, 1w:500M'" },
		{ "media_upload_limits = 100M:1h\n", "'1h:100M, 1w:500M'" },
	};
	struct fixture *fx = *state;
	struct mr_config cfg;
	struct mr_err err;
	char text[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "server_name = a.test\n%s",
		    bad[i].line);
		if (load_text(fx, text, &cfg, &err) != -1)
			fail_msg("accepted: %s", bad[i].line);
		if (strstr(err.msg, bad[i].hint) == NULL)
			fail_msg("unclear: %s -> %s", bad[i].line, err.msg);
		assert_non_null(strstr(err.msg, ":2:"));
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test_setup_teardown(test_minimal_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limits_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limits_keys_refused, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_lists_refused_clearly, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_s3_public_endpoint, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_every_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_range_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_comments_and_blank_lines,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_lists, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_malformed_lines, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_duplicate_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_server_name, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_line_too_long, setup, teardown),
		cmocka_unit_test_setup_teardown(test_value_too_long, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_missing_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_relative_config_path, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_load_env, setup, teardown),
		cmocka_unit_test_setup_teardown(test_get_text, setup, teardown),
		cmocka_unit_test_setup_teardown(test_get_text_round_trip, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_write_default_loads_back,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_default_values_valid,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
