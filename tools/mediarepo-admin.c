/*
 * mediarepo-admin: the operator's command line. Reads the same config as
 * the endpoint programs (MEDIAREPO_CONFIG, or -c FILE) and works on the
 * same database, store and key. Exit codes: 0 done, 1 failed, 2 usage.
 */
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "../common/auth.h"
#include "../common/blob.h"
#include "../common/config.h"
#include "../common/keys.h"
#include "../common/store.h"
#include "../common/thumb.h"

struct admin_cmd {
	const char *name;
	const char *usage;
	const char *help;
	int needs_store;
	int (*run)(int argc, char **argv, struct mr_config *cfg,
	    struct mr_store *st);
};

static int
admin_fail(const struct mr_err *err)
{
	fprintf(stderr, "mediarepo-admin: %s\n", err->msg);
	return 1;
}

static int
cmd_init_config(int argc, char **argv, struct mr_config *cfg,
    struct mr_store *st)
{
	struct mr_err err;

	(void)cfg;
	(void)st;
	if (argc != 3)
		return 2;
	if (!mr_mxc_valid_server_name(argv[2])) {
		fprintf(stderr, "mediarepo-admin: invalid server name '%s'\n",
		    argv[2]);
		return 1;
	}
	return mr_config_write_default(argv[1], argv[2], &err) < 0 ?
	    admin_fail(&err) : 0;
}

static int
cmd_create_token(int argc, char **argv, struct mr_config *cfg,
    struct mr_store *st)
{
	char token[MR_TOKEN_MAX + 1];
	struct mr_err err;
	int guest = 0;

	(void)cfg;
	if (argc == 3 && strcmp(argv[2], "--guest") == 0)
		guest = 1;
	else if (argc != 2)
		return 2;
	if (mr_auth_create_token(st, argv[1], guest, token, &err) < 0)
		return admin_fail(&err);
	printf("%s\n", token);
	return 0;
}

static int
cmd_revoke_token(int argc, char **argv, struct mr_config *cfg,
    struct mr_store *st)
{
	char hash[65];
	struct mr_err err;

	(void)cfg;
	if (argc != 2)
		return 2;
	mr_auth_hash_token(argv[1], hash);
	if (mr_store_token_revoke(st, hash, &err) < 0)
		return admin_fail(&err);
	printf("revoked\n");
	return 0;
}

static void
admin_print_token(const struct mr_token_info *t, void *arg)
{
	time_t secs = (time_t)(t->created_ts / 1000);
	char when[32];

	(void)arg;
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&secs));
	printf("%.12s  %s  %s%s\n", t->token_hash, when, t->user_id,
	    t->is_guest ? "  guest" : "");
}

static int
cmd_list_tokens(int argc, char **argv, struct mr_config *cfg,
    struct mr_store *st)
{
	struct mr_err err;

	(void)argv;
	(void)cfg;
	if (argc != 1)
		return 2;
	printf("hash          created               user\n");
	return mr_store_token_list(st, admin_print_token, NULL, &err) < 0 ?
	    admin_fail(&err) : 0;
}

/* "ed25519:VERSION PUBLIC", then the secret is wiped from memory. */
static void
admin_print_key(struct mr_signing_key *key)
{
	char pub[64];

	mr_keys_public_b64(key, pub);
	printf("ed25519:%s %s\n", key->version, pub);
	sodium_memzero(key, sizeof(*key));
}

static int
cmd_generate_key(int argc, char **argv, struct mr_config *cfg,
    struct mr_store *st)
{
	struct mr_signing_key key;
	struct mr_err err;

	(void)argv;
	(void)st;
	if (argc != 1)
		return 2;
	if (mr_keys_generate(cfg->signing_key_path, &key, &err) < 0)
		return admin_fail(&err);
	admin_print_key(&key);
	return 0;
}

/*
 * Takes a homeserver's key file (Synapse's "ed25519 VERSION SEED"), so
 * this server signs as the homeserver does; checked before it is copied.
 */
static int
cmd_import_key(int argc, char **argv, struct mr_config *cfg,
    struct mr_store *st)
{
	struct mr_signing_key key;
	struct mr_err err;
	char line[256];
	FILE *in, *out;
	int force = argc == 3 && strcmp(argv[2], "--force") == 0;

	(void)st;
	if (argc != 2 && !force)
		return 2;
	if (mr_keys_load(argv[1], &key, &err) < 0)
		return admin_fail(&err);
	if (!force && access(cfg->signing_key_path, F_OK) == 0) {
		fprintf(stderr, "mediarepo-admin: '%s' exists (use --force to "
		    "replace it)\n", cfg->signing_key_path);
		return 1;
	}
	if ((in = fopen(argv[1], "r")) == NULL ||
	    (out = fopen(cfg->signing_key_path, "w")) == NULL) {
		if (in != NULL)
			fclose(in);
		fprintf(stderr, "mediarepo-admin: cannot copy the key\n");
		return 1;
	}
	chmod(cfg->signing_key_path, 0600);
	while (fgets(line, sizeof(line), in) != NULL)
		fputs(line, out);
	fclose(in);
	if (fclose(out) != 0) {
		fprintf(stderr, "mediarepo-admin: cannot write '%s'\n",
		    cfg->signing_key_path);
		return 1;
	}
	admin_print_key(&key);
	sodium_memzero(line, sizeof(line));
	return 0;
}

static int
cmd_show_key(int argc, char **argv, struct mr_config *cfg,
    struct mr_store *st)
{
	struct mr_signing_key key;
	struct mr_err err;

	(void)argv;
	(void)st;
	if (argc != 1)
		return 2;
	if (mr_keys_load(cfg->signing_key_path, &key, &err) < 0)
		return admin_fail(&err);
	admin_print_key(&key);
	return 0;
}

static int
cmd_sweep(int argc, char **argv, struct mr_config *cfg, struct mr_store *st)
{
	struct mr_err err;
	int n;

	(void)argv;
	(void)st;
	if (argc != 1)
		return 2;
	if ((n = mr_blob_sweep(cfg->media_store_path, cfg->temp_file_max_age,
	    &err)) < 0)
		return admin_fail(&err);
	printf("removed %d temp file%s\n", n, n == 1 ? "" : "s");
	return 0;
}

static int
cmd_config_get(int argc, char **argv, struct mr_config *cfg,
    struct mr_store *st)
{
	char value[PATH_MAX];

	(void)st;
	if (argc != 2)
		return 2;
	if (mr_config_get_text(cfg, argv[1], value, sizeof(value)) < 0) {
		fprintf(stderr, "mediarepo-admin: unknown key '%s'\n", argv[1]);
		return 1;
	}
	printf("%s\n", value);
	return 0;
}

/* Reads a whole file for the thumbnailer, which works on memory. */
static unsigned char *
admin_read_file(const char *path, size_t *len)
{
	unsigned char *buf = NULL;
	size_t cap = 0;
	FILE *f = fopen(path, "rb");

	*len = 0;
	if (f == NULL)
		return NULL;
	for (;;) {
		size_t n;

		if (*len == cap) {
			unsigned char *p = realloc(buf, cap ? cap * 2 : 1 << 20);

			if (p == NULL)
				break;
			buf = p;
			cap = cap ? cap * 2 : 1 << 20;
		}
		if ((n = fread(buf + *len, 1, cap - *len, f)) == 0)
			break;
		*len += n;
	}
	fclose(f);
	return buf;
}

static int
admin_write_file(const char *path, const unsigned char *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	int ok;

	if (f == NULL)
		return -1;
	ok = fwrite(data, 1, len, f) == len;
	return (fclose(f) == 0 && ok) ? 0 : -1;
}

/* Runs the server's thumbnail path on a file: same limits, same child. */
static int
admin_thumbnail(const char *in, const struct mr_thumb_spec *specs, size_t n,
    const struct mr_config *cfg, const char *const *outs)
{
	struct mr_thumb_result results[MR_THUMB_MAX_SPECS];
	struct mr_thumb_limits lim;
	unsigned char *buf;
	struct mr_err err;
	size_t len;
	int rc = 0;

	if ((buf = admin_read_file(in, &len)) == NULL) {
		fprintf(stderr, "mediarepo-admin: cannot read '%s'\n", in);
		return 1;
	}
	mr_thumb_limits_from_config(cfg, &lim);
	if (mr_thumb_generate(buf, len, specs, n, 0, &lim, results, &err) < 0) {
		free(buf);
		return admin_fail(&err);
	}
	for (size_t i = 0; i < n; i++) {
		const unsigned char *data = results[i].use_original ? buf :
		    results[i].data;
		size_t dlen = results[i].use_original ? len : results[i].len;

		if (rc == 0 && admin_write_file(outs[i], data, dlen) < 0) {
			fprintf(stderr, "mediarepo-admin: cannot write '%s'\n",
			    outs[i]);
			rc = 1;
		} else if (rc == 0) {
			printf("%s %ux%u %s\n", outs[i], results[i].width,
			    results[i].height, results[i].content_type);
		}
		mr_thumb_result_release(&results[i]);
	}
	free(buf);
	return rc;
}

static int
cmd_thumbnail(int argc, char **argv, struct mr_config *cfg,
    struct mr_store *st)
{
	struct mr_thumb_spec spec;
	int64_t w, h;
	const char *out;

	(void)st;
	if (argc != 6 || mr_parse_int64(argv[3], 1, MR_THUMB_MAX_SIDE, &w) < 0 ||
	    mr_parse_int64(argv[4], 1, MR_THUMB_MAX_SIDE, &h) < 0 ||
	    mr_config_parse_method(argv[5], &spec.method) < 0)
		return 2;
	spec.width = (uint32_t)w;
	spec.height = (uint32_t)h;
	out = argv[2];
	return admin_thumbnail(argv[1], &spec, 1, cfg, &out);
}

static int
cmd_thumbnail_all(int argc, char **argv, struct mr_config *cfg,
    struct mr_store *st)
{
	char names[MR_THUMB_MAX_SPECS][PATH_MAX];
	const char *outs[MR_THUMB_MAX_SPECS];

	(void)st;
	if (argc != 3)
		return 2;
	for (size_t i = 0; i < cfg->n_thumbnail_sizes; i++) {
		const struct mr_thumb_spec *s = &cfg->thumbnail_sizes[i];

		snprintf(names[i], sizeof(names[i]), "%s/%ux%u-%s", argv[2],
		    s->width, s->height, mr_config_method_name(s->method));
		outs[i] = names[i];
	}
	return admin_thumbnail(argv[1], cfg->thumbnail_sizes,
	    cfg->n_thumbnail_sizes, cfg, outs);
}

static const struct admin_cmd admin_cmds[] = {
	{ "init-config", "init-config FILE SERVER_NAME",
	  "write a commented config for SERVER_NAME to FILE (never overwrites)",
	  0, cmd_init_config },
	{ "config-get", "config-get KEY",
	  "print a setting's effective value (sizes in bytes, durations in ms, "
	  "paths resolved)", 0, cmd_config_get },
	{ "create-token", "create-token USER_ID [--guest]",
	  "print a new access token for USER_ID (@name:server)", 1,
	  cmd_create_token },
	{ "revoke-token", "revoke-token TOKEN",
	  "revoke an access token; requests with it get 401", 1,
	  cmd_revoke_token },
	{ "list-tokens", "list-tokens",
	  "list tokens: hash prefix, creation time, user (tokens are stored "
	  "hashed)", 1, cmd_list_tokens },
	{ "generate-key", "generate-key",
	  "create the signing key at signing_key_path (never overwrites)", 0,
	  cmd_generate_key },
	{ "import-key", "import-key FILE [--force]",
	  "use a homeserver's key file ('ed25519 VERSION SEED', as Synapse "
	  "writes it) as this server's signing key", 0, cmd_import_key },
	{ "show-key", "show-key", "print the signing key's id and public key",
	  0, cmd_show_key },
	{ "thumbnail", "thumbnail IN OUT WIDTH HEIGHT METHOD",
	  "make one thumbnail of image file IN (METHOD crop or scale) by the "
	  "server's own code path", 0, cmd_thumbnail },
	{ "thumbnail-all", "thumbnail-all IN OUTDIR",
	  "make every configured thumbnail size of IN from one decode, as an "
	  "upload does (OUTDIR/WxH-METHOD)", 0, cmd_thumbnail_all },
	{ "sweep", "sweep",
	  "remove temp files left by crashed or abandoned uploads", 0,
	  cmd_sweep },
};

#define ADMIN_NCMDS (sizeof(admin_cmds) / sizeof(admin_cmds[0]))

static void
admin_usage(FILE *out)
{
	fprintf(out, "usage: mediarepo-admin [-c CONFIG] COMMAND [ARGS]\n\n"
	    "CONFIG defaults to $MEDIAREPO_CONFIG. Commands:\n");
	for (size_t i = 0; i < ADMIN_NCMDS; i++)
		fprintf(out, "  %-34s %s\n", admin_cmds[i].usage,
		    admin_cmds[i].help);
	fprintf(out, "\n'mediarepo-admin COMMAND --help' describes one command.\n");
}

static int
admin_run(const struct admin_cmd *c, int argc, char **argv)
{
	struct mr_config cfg;
	struct mr_store *st = NULL;
	struct mr_err err;
	int rc;

	if (c->run != cmd_init_config && mr_config_load_env(&cfg, &err) < 0)
		return admin_fail(&err);
	if (c->needs_store &&
	    mr_store_open(&st, cfg.database_path, &err) < 0)
		return admin_fail(&err);
	rc = c->run(argc, argv, &cfg, st);
	mr_store_free(st);
	if (rc == 2)
		fprintf(stderr, "usage: mediarepo-admin %s\n", c->usage);
	return rc;
}

int
main(int argc, char **argv)
{
	int i = 1;

	if (sodium_init() < 0)
		return 1;
	if (argc > 2 && strcmp(argv[1], "-c") == 0) {
		setenv("MEDIAREPO_CONFIG", argv[2], 1);
		i = 3;
	}
	if (i >= argc || strcmp(argv[i], "--help") == 0 ||
	    strcmp(argv[i], "-h") == 0) {
		admin_usage(i >= argc ? stderr : stdout);
		return i >= argc ? 2 : 0;
	}
	for (size_t k = 0; k < ADMIN_NCMDS; k++) {
		if (strcmp(argv[i], admin_cmds[k].name) != 0)
			continue;
		if (argc > i + 1 && (strcmp(argv[i + 1], "--help") == 0 ||
		    strcmp(argv[i + 1], "-h") == 0)) {
			printf("usage: mediarepo-admin %s\n\n%s\n",
			    admin_cmds[k].usage, admin_cmds[k].help);
			return 0;
		}
		return admin_run(&admin_cmds[k], argc - i, argv + i);
	}
	fprintf(stderr, "mediarepo-admin: unknown command '%s'\n", argv[i]);
	admin_usage(stderr);
	return 2;
}
