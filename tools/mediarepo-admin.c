/*
 * mediarepo-admin: the operator's command line. Reads the same config as
 * the endpoint programs (MEDIAREPO_CONFIG, or -c FILE) and works on the
 * same database, store and key. Exit codes: 0 done, 1 failed, 2 usage.
 * A command parses its arguments and prints; the work is in common/ (the
 * long jobs gc, verify and import-synapse in maint.c), so it runs the
 * same code as the programs.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <grp.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "../common/admin.h"
#include "../common/auth.h"
#include "../common/blob.h"
#include "../common/config.h"
#include "../common/keys.h"
#include "../common/maint.h"
#include "../common/media.h"
#include "../common/migrate.h"
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

/* The blob store, opened by the first command that needs it. */
static struct mr_blob *
admin_blob(const struct mr_config *cfg)
{
	static struct mr_blob *b;
	struct mr_err err;

	if (b == NULL && mr_blob_store_open(cfg, 0, &b, &err) < 0) {
		admin_fail(&err);
		b = NULL;
	}
	return b;
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
	switch (mr_store_token_revoke(st, hash, &err)) {
	case MR_STORE_OK:
		break;
	case MR_STORE_NOT_FOUND:
		mr_err_set(&err, 404, "M_NOT_FOUND", "no such token");
		return admin_fail(&err);
	default:
		return admin_fail(&err);
	}
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
 * this server signs as the homeserver does. The bytes checked are the
 * bytes written, through mr_keys_write_file: 0600 from the first byte,
 * and a symlink at the key's path is replaced, never written through.
 */
static int admin_become_owner_of(const char *path);

static int
cmd_import_key(int argc, char **argv, struct mr_config *cfg,
    struct mr_store *st)
{
	static char text[MR_KEYS_FILE_MAX + 1];	/* large: not on stack */
	struct mr_signing_key key;
	struct mr_err err;
	struct stat sb;
	size_t len;
	int force = argc == 3 && strcmp(argv[2], "--force") == 0, rc;

	(void)st;
	if (argc != 2 && !force)
		return 2;
	/* lstat: a dangling symlink is something there too. */
	if (!force && lstat(cfg->signing_key_path, &sb) == 0) {
		fprintf(stderr, "mediarepo-admin: '%s' exists (use --force to "
		    "replace it)\n", cfg->signing_key_path);
		return 1;
	}
	/* The homeserver's key file is read with root's rights (it is the
	 * homeserver's, 0600); ours is written as the data's owner. */
	if (mr_keys_read_file(argv[1], text, &len, &err) < 0)
		return admin_fail(&err);
	if (admin_become_owner_of(cfg->signing_key_path) < 0) {
		sodium_memzero(text, sizeof(text));
		return 1;
	}
	if ((rc = mr_keys_parse_text(text, &key, &err)) < 0) {
		char why[sizeof(err.msg)];

		snprintf(why, sizeof(why), "%s", err.msg);
		mr_err_set(&err, 500, "M_UNKNOWN", "%s: %s", argv[1], why);
	} else {
		rc = mr_keys_write_file(cfg->signing_key_path, text, len, force,
		    &err);
	}
	sodium_memzero(text, sizeof(text));
	if (rc < 0)
		return admin_fail(&err);
	admin_print_key(&key);
	sodium_memzero(&key, sizeof(key));
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
	int64_t grace_ms = MR_BLOB_SWEEP_GRACE_MS;
	struct mr_err err;
	int n;

	(void)st;
	if (argc == 3 && strcmp(argv[1], "--min-age") == 0) {
		if (mr_parse_duration_ms(argv[2], &grace_ms) < 0)
			return 2;
	} else if (argc != 1) {
		return 2;
	}
	if (admin_blob(cfg) == NULL)
		return 1;
	if ((n = mr_blob_sweep(admin_blob(cfg), grace_ms,
	    cfg->temp_file_max_age, &err)) < 0)
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

/*
 * Maps a whole file for the thumbnailer, which works on memory, as the
 * file blob store maps a stored original (blob_fs_map): the decoder reads
 * the page cache in place, with no copy and no fault per fresh heap page.
 */
static unsigned char *
admin_map_file(const char *path, size_t *len)
{
	struct stat sb;
	void *p = MAP_FAILED;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	*len = 0;
	if (fd < 0)
		return NULL;
	if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > 0)
		p = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return NULL;
	*len = (size_t)sb.st_size;
	return p;
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

/* Microseconds of the monotonic clock and of CPU (user + system, this
 * process and its reaped children: the sandboxed decoders). */
static void
admin_clocks(int64_t *wall_us, int64_t *cpu_us)
{
	struct timespec ts;
	struct rusage self, kids;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	*wall_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	getrusage(RUSAGE_SELF, &self);
	getrusage(RUSAGE_CHILDREN, &kids);
	*cpu_us = 0;
	for (int k = 0; k < 2; k++) {
		const struct rusage *r = k ? &kids : &self;

		*cpu_us += (int64_t)(r->ru_utime.tv_sec + r->ru_stime.tv_sec) *
		    1000000 + r->ru_utime.tv_usec + r->ru_stime.tv_usec;
	}
}

/*
 * One request's worth of the server's thumbnail path on a file: map the
 * original (as the file blob store maps a stored one), generate in the
 * same sandboxed child with the same limits, write every output.
 * quiet: no line per output (the timed rounds of --repeat).
 */
static int
admin_thumbnail_once(const char *in, const struct mr_thumb_spec *specs,
    size_t n, const struct mr_thumb_limits *lim, const char *const *outs,
    int quiet)
{
	struct mr_thumb_result results[MR_THUMB_MAX_SPECS];
	unsigned char *buf;
	struct mr_err err;
	size_t len;
	int rc = 0;

	if ((buf = admin_map_file(in, &len)) == NULL) {
		fprintf(stderr, "mediarepo-admin: cannot read '%s'\n", in);
		return 1;
	}
	if (mr_thumb_generate(buf, len, specs, n, 0, lim, results, &err) < 0) {
		munmap(buf, len);
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
		} else if (rc == 0 && !quiet) {
			printf("%s %ux%u %s\n", outs[i], results[i].width,
			    results[i].height, results[i].content_type);
		}
		mr_thumb_result_release(&results[i]);
	}
	munmap(buf, len);
	return rc;
}

/*
 * Runs the server's thumbnail path on a file: same limits, same child.
 * With repeat > 0, the first round (printed) warms the process as a
 * serving one is warm; then repeat more rounds are timed inside the
 * process, so that the figure is a thumbnail's cost in a server, without
 * this tool's start-up (its libraries load once per process).
 */
static int
admin_thumbnail(const char *in, const struct mr_thumb_spec *specs, size_t n,
    const struct mr_config *cfg, const char *const *outs, int64_t repeat)
{
	struct mr_thumb_limits lim;
	int64_t w0, c0, w1, c1;
	int rc;

	mr_thumb_limits_from_config(cfg, &lim);
	if ((rc = admin_thumbnail_once(in, specs, n, &lim, outs, 0)) != 0 ||
	    repeat == 0)
		return rc;
	admin_clocks(&w0, &c0);
	for (int64_t r = 0; r < repeat; r++)
		if ((rc = admin_thumbnail_once(in, specs, n, &lim, outs, 1)) != 0)
			return rc;
	admin_clocks(&w1, &c1);
	printf("repeat %lld: %.2f ms wall, %.2f ms cpu per round\n",
	    (long long)repeat, (double)(w1 - w0) / 1000.0 / (double)repeat,
	    (double)(c1 - c0) / 1000.0 / (double)repeat);
	return 0;
}

/*
 * Takes a leading "--repeat N" off a thumbnail command's arguments
 * (argv[0] is the command); 0 rounds when absent, -1 when malformed.
 */
static int64_t
admin_take_repeat(int *argc, char ***argv)
{
	int64_t n = 0;

	if (*argc >= 3 && strcmp((*argv)[1], "--repeat") == 0) {
		if (mr_parse_int64((*argv)[2], 1, 100000, &n) < 0)
			return -1;
		(*argv)[2] = (*argv)[0];
		*argv += 2;
		*argc -= 2;
	}
	return n;
}

static int
cmd_thumbnail(int argc, char **argv, struct mr_config *cfg,
    struct mr_store *st)
{
	struct mr_thumb_spec spec;
	int64_t w, h, repeat = admin_take_repeat(&argc, &argv);
	const char *out;

	(void)st;
	if (repeat < 0 || argc != 6 ||
	    mr_parse_int64(argv[3], 1, MR_THUMB_MAX_SIDE, &w) < 0 ||
	    mr_parse_int64(argv[4], 1, MR_THUMB_MAX_SIDE, &h) < 0 ||
	    mr_config_parse_method(argv[5], &spec.method) < 0)
		return 2;
	spec.width = (uint32_t)w;
	spec.height = (uint32_t)h;
	out = argv[2];
	return admin_thumbnail(argv[1], &spec, 1, cfg, &out, repeat);
}

static int
cmd_thumbnail_all(int argc, char **argv, struct mr_config *cfg,
    struct mr_store *st)
{
	char names[MR_THUMB_MAX_SPECS][PATH_MAX];
	const char *outs[MR_THUMB_MAX_SPECS];
	int64_t repeat = admin_take_repeat(&argc, &argv);

	(void)st;
	if (repeat < 0 || argc != 3)
		return 2;
	for (size_t i = 0; i < cfg->n_thumbnail_sizes; i++) {
		const struct mr_thumb_spec *s = &cfg->thumbnail_sizes[i];

		snprintf(names[i], sizeof(names[i]), "%s/%ux%u-%s", argv[2],
		    s->width, s->height, mr_config_method_name(s->method));
		outs[i] = names[i];
	}
	return admin_thumbnail(argv[1], cfg->thumbnail_sizes,
	    cfg->n_thumbnail_sizes, cfg, outs, repeat);
}

/* --- progress of long work --- */

/*
 * One line of progress on stderr: on a terminal it is redrawn in place
 * (percent, count, rate) a few times a second; otherwise, for logs and
 * pipes, a plain line every ADMIN_PROGRESS_LOG_MS and one at the end.
 */
#define ADMIN_PROGRESS_TTY_MS 100
#define ADMIN_PROGRESS_LOG_MS 10000

struct admin_progress {
	const char *label;
	int64_t total;			/* 0: not known */
	int64_t done, bytes;
	int64_t start_ms, last_ms;
	int tty;
};

static void
admin_progress_start(struct admin_progress *p, const char *label,
    int64_t total)
{
	memset(p, 0, sizeof(*p));
	p->label = label;
	p->total = total;
	p->start_ms = p->last_ms = mr_mono_ms();
	p->tty = isatty(STDERR_FILENO);
}

static void
admin_progress_draw(const struct admin_progress *p, int final)
{
	double secs = (double)(mr_mono_ms() - p->start_ms) / 1000.0;
	double rate = secs > 0 ? (double)p->done / secs : 0;
	int pct = p->total > 0 ? (int)(p->done * 100 / p->total) : 100;
	char bytes[48] = "";

	if (p->bytes > 0)
		snprintf(bytes, sizeof(bytes), ", %.1f MiB/s",
		    secs > 0 ? (double)p->bytes / 1048576.0 / secs : 0);
	fprintf(stderr, "%s%s: %3d%% %lld/%lld, %.1f/s%s%s",
	    p->tty ? "\r" : "", p->label, pct, (long long)p->done,
	    (long long)p->total, rate, bytes, p->tty ? "\033[K" : "");
	if (final)
		fprintf(stderr, " in %.1f s\n", secs);
	else if (!p->tty)
		fputc('\n', stderr);
	fflush(stderr);
}

static void
admin_progress_step(struct admin_progress *p, int64_t bytes)
{
	int64_t now = mr_mono_ms();

	p->done++;
	p->bytes += bytes;
	if (now - p->last_ms >= (p->tty ? ADMIN_PROGRESS_TTY_MS :
	    ADMIN_PROGRESS_LOG_MS)) {
		p->last_ms = now;
		admin_progress_draw(p, 0);
	}
}

static void
admin_progress_end(struct admin_progress *p)
{
	admin_progress_draw(p, 1);
}

/* --- media items --- */

static void
admin_print_time(const char *label, int64_t ms)
{
	time_t secs = (time_t)(ms / 1000);
	char when[32];

	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&secs));
	printf("%-15s %s (%lld)\n", label, when, (long long)ms);
}

/* An MXC argument, checked; usage error (2) when malformed. */
static int
admin_parse_mxc(const char *arg, struct mr_mxc *out)
{
	struct mr_err err;

	if (mr_mxc_parse_uri(arg, out, &err) < 0) {
		fprintf(stderr, "mediarepo-admin: '%s': %s\n", arg, err.msg);
		return -1;
	}
	return 0;
}

/* A user id argument: the form every row stores. */
static int
admin_check_user(const char *arg)
{
	if (mr_mxc_valid_user_id(arg))
		return 0;
	fprintf(stderr, "mediarepo-admin: invalid user id '%s' (expected "
	    "@name:server)\n", arg);
	return -1;
}

/* A hash argument, lowercased into out. */
static int
admin_parse_hash(const char *arg, char out[MR_SHA256_HEX])
{
	size_t i;

	for (i = 0; arg[i] != '\0' && i < 64; i++)
		out[i] = (char)tolower((unsigned char)arg[i]);
	out[i] = '\0';
	if (arg[i] == '\0' && mr_is_lower_hex(out, 64))
		return 0;
	fprintf(stderr, "mediarepo-admin: invalid sha256 '%s' (expected 64 "
	    "hex digits)\n", arg);
	return -1;
}

/*
 * Where the blob is kept, and whether it is there: 0 there, 1 missing
 * (loc->where says where it would be), -1 no place (no valid hash).
 */
static int
admin_locate(const struct mr_config *cfg, const char *sha256,
    struct mr_blob_loc *loc)
{
	struct mr_blob *b = admin_blob(cfg);
	struct mr_err err;

	loc->where[0] = '\0';
	if (b == NULL)
		return -1;
	if (mr_blob_locate(b, sha256, loc, &err) == 0)
		return 0;
	return err.status == 404 && loc->where[0] != '\0' ? 1 : -1;
}

/* "ab/cd/abcd..." under the store, and whether the file is there. */
static void
admin_print_blob(const char *label, const struct mr_config *cfg,
    const char *sha256)
{
	struct mr_blob_loc loc;
	int rc = admin_locate(cfg, sha256, &loc);

	if (rc < 0) {
		printf("%-15s (none)\n", label);
		return;
	}
	printf("%-15s %s%s\n", label, loc.where, rc == 0 ? "" : " (missing)");
}

struct admin_thumb_ctx {
	const struct mr_config *cfg;
	int n;
};

static void
admin_print_thumb(const struct mr_thumb_row *t, void *arg)
{
	struct admin_thumb_ctx *c = arg;
	struct mr_blob_loc loc;
	int rc;

	if (c->n++ == 0)
		printf("thumbnails:\n");
	rc = admin_locate(c->cfg, t->sha256, &loc);
	printf("  %ux%u %s%s%s -> %ux%u %s %lld bytes %s%s\n", t->width,
	    t->height, t->crop ? "crop" : "scale", t->animated ? " animated" : "",
	    t->dynamic ? " on-demand" : "", t->actual_width, t->actual_height,
	    t->content_type, (long long)t->size, loc.where,
	    rc == 0 ? "" : " (missing)");
}

static int
admin_media_info(const struct mr_mxc *mxc, struct mr_config *cfg,
    struct mr_store *st)
{
	struct admin_thumb_ctx tc = { cfg, 0 };
	struct mr_media m;
	struct mr_err err;
	char uri[MR_SERVER_NAME_MAX + MR_MEDIA_ID_MAX + 8];
	enum mr_store_rc rc;
	int banned = 0;

	if ((rc = mr_store_media_get(st, mxc, &m, &err)) != MR_STORE_OK) {
		if (rc == MR_STORE_NOT_FOUND)
			mr_err_set(&err, 404, "M_NOT_FOUND", "media not found");
		return admin_fail(&err);
	}
	mr_mxc_format(mxc, uri, sizeof(uri));
	printf("%-15s %s\n", "mxc", uri);
	printf("%-15s %s\n", "origin", strcmp(mxc->server, cfg->server_name) ==
	    0 ? "local" : "remote (cached)");
	printf("%-15s %s\n", "state", m.sha256[0] ? "complete" :
	    "pending (async upload not yet received)");
	printf("%-15s %s\n", "sha256", m.sha256[0] ? m.sha256 : "-");
	printf("%-15s %lld\n", "size", (long long)m.size);
	printf("%-15s %s\n", "content_type", m.content_type[0] ?
	    m.content_type : "-");
	printf("%-15s %s\n", "upload_name", m.upload_name[0] ?
	    m.upload_name : "-");
	printf("%-15s %s\n", "user_id", m.user_id[0] ? m.user_id : "-");
	admin_print_time("created", m.created_ts);
	if (m.expires_ts > 0)
		admin_print_time("expires", m.expires_ts);
	if (m.sha256[0]) {
		if ((rc = mr_store_hash_quarantined(st, m.sha256, &err)) ==
		    MR_STORE_UNAVAILABLE)
			return admin_fail(&err);
		banned = rc == MR_STORE_OK;
	}
	printf("%-15s %s\n", "quarantined", m.quarantined ? "yes" :
	    banned ? "no (but its bytes are)" : "no");
	if (m.quarantined)
		printf("%-15s %s\n", "quarantined_by", m.quarantined_by[0] ?
		    m.quarantined_by : "-");
	printf("%-15s %s\n", "protected", m.safe_from_quarantine ? "yes "
	    "(skipped by quarantines of users and rooms, and by retention)" :
	    "no");
	if (m.last_access_ts > 0)
		admin_print_time("last_access", m.last_access_ts);
	else
		printf("%-15s %s\n", "last_access", "never");
	printf("%-15s %s\n", "authenticated", m.authenticated ? "yes (frozen "
	    "out of unauthenticated routes)" : "no");
	if (m.sha256[0])
		admin_print_blob("file", cfg, m.sha256);
	if (mr_store_thumb_list(st, mxc, admin_print_thumb, &tc, &err) < 0)
		return admin_fail(&err);
	if (tc.n == 0)
		printf("thumbnails:     none\n");
	return 0;
}

static int
admin_media_delete(const struct mr_mxc *mxc, struct mr_config *cfg,
    struct mr_store *st)
{
	struct mr_media_freed freed = { 0, 0 };
	struct mr_err err;

	if (admin_blob(cfg) == NULL)
		return 1;
	if (mr_media_delete(st, admin_blob(cfg), mxc, &freed, &err) < 0)
		return admin_fail(&err);
	printf("deleted mxc://%s/%s; removed %lld file%s (%lld bytes)\n",
	    mxc->server, mxc->id, (long long)freed.blobs,
	    freed.blobs == 1 ? "" : "s", (long long)freed.bytes);
	return 0;
}

static void
admin_print_media_line(const struct mr_media *m, void *arg)
{
	time_t secs = (time_t)(m->created_ts / 1000);
	char when[32];

	(void)arg;
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&secs));
	printf("mxc://%s/%s\t%lld\t%s\t%s\t%s%s\t%s\n", m->mxc.server,
	    m->mxc.id, (long long)m->size, m->content_type[0] ?
	    m->content_type : "-", when, m->quarantined ? "quarantined" : "-",
	    m->authenticated ? ",authenticated" : "",
	    m->upload_name[0] ? m->upload_name : "-");
}

static int
cmd_media_info(int argc, char **argv, struct mr_config *cfg,
    struct mr_store *st)
{
	struct mr_mxc mxc;

	if (argc != 2 || admin_parse_mxc(argv[1], &mxc) < 0)
		return 2;
	return admin_media_info(&mxc, cfg, st);
}

static int
cmd_media_delete(int argc, char **argv, struct mr_config *cfg,
    struct mr_store *st)
{
	struct mr_mxc mxc;

	if (argc != 2 || admin_parse_mxc(argv[1], &mxc) < 0)
		return 2;
	return admin_media_delete(&mxc, cfg, st);
}

static int
cmd_media_list(int argc, char **argv, struct mr_config *cfg,
    struct mr_store *st)
{
	struct mr_err err;

	(void)cfg;
	if (argc != 3 || strcmp(argv[1], "--user") != 0 ||
	    admin_check_user(argv[2]) < 0)
		return 2;
	return mr_store_media_list_user(st, argv[2], admin_print_media_line,
	    NULL, &err) < 0 ? admin_fail(&err) : 0;
}

/* --- quarantine --- */

/* MXC | --hash SHA256 | --user USER into sel; -1 on bad usage. */
static int
admin_parse_sel(int argc, char **argv, struct mr_store_sel *sel,
    struct mr_mxc *mxc, char hash[MR_SHA256_HEX])
{
	memset(sel, 0, sizeof(*sel));
	if (argc == 2 && argv[1][0] != '-') {
		if (admin_parse_mxc(argv[1], mxc) < 0)
			return -1;
		sel->mxc = mxc;
	} else if (argc == 3 && strcmp(argv[1], "--hash") == 0) {
		if (admin_parse_hash(argv[2], hash) < 0)
			return -1;
		sel->sha256 = hash;
	} else if (argc == 3 && strcmp(argv[1], "--user") == 0) {
		if (admin_check_user(argv[2]) < 0)
			return -1;
		sel->user_id = argv[2];
	} else {
		return -1;
	}
	return 0;
}

static int
admin_quarantine(int argc, char **argv, struct mr_store *st, int on)
{
	char hash[MR_SHA256_HEX];
	struct mr_store_sel sel;
	struct mr_mxc mxc;
	struct mr_err err;
	int64_t n;

	struct mr_media m;
	enum mr_store_rc rc;

	if (admin_parse_sel(argc, argv, &sel, &mxc, hash) < 0)
		return 2;
	/* The API answers an unknown id with success; an operator who typed
	 * it wants to hear. */
	if (sel.mxc != NULL &&
	    (rc = mr_store_media_get(st, sel.mxc, &m, &err)) != MR_STORE_OK) {
		if (rc == MR_STORE_NOT_FOUND)
			mr_err_set(&err, 404, "M_NOT_FOUND", "media not found");
		return admin_fail(&err);
	}
	/* The same code as the admin API's, the operator as who did it. */
	if (mr_admin_quarantine(st, &sel, on, MR_ADMIN_CLI_ID, &n, &err) < 0)
		return admin_fail(&err);
	printf("%squarantined %lld media%s\n", on ? "" : "un", (long long)n,
	    sel.sha256 == NULL ? "" : on ? "; these bytes cannot be uploaded "
	    "again" : "; these bytes may be uploaded again");
	return 0;
}

static int
cmd_quarantine(int argc, char **argv, struct mr_config *cfg,
    struct mr_store *st)
{
	(void)cfg;
	return admin_quarantine(argc, argv, st, 1);
}

static int
cmd_unquarantine(int argc, char **argv, struct mr_config *cfg,
    struct mr_store *st)
{
	(void)cfg;
	return admin_quarantine(argc, argv, st, 0);
}

/* --- purges --- */

static struct mr_maint_report admin_report(struct admin_progress *p,
    const char *label);

/* Shared by purge-remote and purge-expired: what a delete did. */
static void
admin_print_deleted(const char *what, const struct mr_admin_deleted *d,
    int dry_run)
{
	if (dry_run)
		printf("%s: would delete %lld media\n", what, (long long)d->media);
	else
		printf("%s: deleted %lld media; removed %lld file%s (%lld "
		    "bytes)\n", what, (long long)d->media,
		    (long long)d->freed.blobs, d->freed.blobs == 1 ? "" : "s",
		    (long long)d->freed.bytes);
	if (d->failed > 0)
		printf("%s: %lld media could not be deleted\n", what,
		    (long long)d->failed);
}

static void
admin_print_would_delete(const struct mr_media *m, void *arg)
{
	(void)arg;
	printf("would delete mxc://%s/%s\n", m->mxc.server, m->mxc.id);
}

static int
cmd_purge_remote(int argc, char **argv, struct mr_config *cfg,
    struct mr_store *st)
{
	struct mr_store_media_query q;
	struct mr_admin_deleted d;
	struct mr_maint_report r;
	struct admin_progress p;
	struct mr_err err;
	int64_t age;

	if (argc != 3 || strcmp(argv[1], "--before") != 0 ||
	    mr_parse_duration_ms(argv[2], &age) < 0)
		return 2;
	if (admin_blob(cfg) == NULL)
		return 1;
	memset(&d, 0, sizeof(d));
	/* purge_media_cache's query: not read for age, not quarantined. */
	mr_admin_query_old_remote(cfg, mr_now_ms() - age, &q);
	r = admin_report(&p, "purge-remote");
	if (mr_admin_delete_matching(st, admin_blob(cfg), &q, 0, NULL, NULL, &r,
	    &d, &err) < 0)
		return admin_fail(&err);
	printf("purged %lld remote media; removed %lld file%s (%lld bytes)\n",
	    (long long)d.media, (long long)d.freed.blobs,
	    d.freed.blobs == 1 ? "" : "s", (long long)d.freed.bytes);
	return d.failed > 0 ? 1 : 0;
}

/* Retention: what the systemd timer runs. */
static int
cmd_purge_expired(int argc, char **argv, struct mr_config *cfg,
    struct mr_store *st)
{
	struct mr_admin_expired x;
	struct mr_maint_report r;
	struct admin_progress p;
	struct mr_err err;
	int dry_run = 0;

	if (argc == 2 && strcmp(argv[1], "--dry-run") == 0)
		dry_run = 1;
	else if (argc != 1)
		return 2;
	if (admin_blob(cfg) == NULL)
		return 1;
	r = admin_report(&p, dry_run ? "purge-expired (dry run)" :
	    "purge-expired");
	if (mr_admin_purge_expired(cfg, st, admin_blob(cfg), mr_now_ms(),
	    dry_run, dry_run ? admin_print_would_delete : NULL, NULL, &r, &x,
	    &err) < 0)
		return admin_fail(&err);
	if (x.local_kept)
		printf("local media: kept (media_retention_local_media_lifetime "
		    "is not set)\n");
	else
		admin_print_deleted("local media", &x.local, dry_run);
	if (x.remote_kept)
		printf("remote media: kept (media_retention_remote_media_"
		    "lifetime is not set)\n");
	else
		admin_print_deleted("remote media", &x.remote, dry_run);
	return x.local.failed + x.remote.failed > 0 ? 1 : 0;
}

static int
admin_protect(int argc, char **argv, struct mr_store *st, int on)
{
	struct mr_mxc mxc;
	struct mr_err err;

	if (argc != 2 || admin_parse_mxc(argv[1], &mxc) < 0)
		return 2;
	if (mr_admin_protect(st, &mxc, on, &err) < 0)
		return admin_fail(&err);
	printf("%sprotected mxc://%s/%s\n", on ? "" : "un", mxc.server, mxc.id);
	return 0;
}

static int
cmd_media_protect(int argc, char **argv, struct mr_config *cfg,
    struct mr_store *st)
{
	(void)cfg;
	return admin_protect(argc, argv, st, 1);
}

static int
cmd_media_unprotect(int argc, char **argv, struct mr_config *cfg,
    struct mr_store *st)
{
	(void)cfg;
	return admin_protect(argc, argv, st, 0);
}

static int
cmd_purge_previews(int argc, char **argv, struct mr_config *cfg,
    struct mr_store *st)
{
	struct mr_err err;
	int64_t n;

	(void)argv;
	(void)cfg;
	if (argc != 1)
		return 2;
	if (mr_store_preview_purge(st, &n, &err) < 0)
		return admin_fail(&err);
	printf("removed %lld cached preview%s\n", (long long)n,
	    n == 1 ? "" : "s");
	return 0;
}

/* --- the blob tree: gc and verify --- */

/* What a maint job reports, as this tool shows it. */
static void
admin_report_start(void *arg, int64_t total)
{
	struct admin_progress *p = arg;

	admin_progress_start(p, p->label, total);
}

static void
admin_report_step(void *arg, int64_t bytes)
{
	admin_progress_step(arg, bytes);
}

static void
admin_report_end(void *arg)
{
	admin_progress_end(arg);
}

static void
admin_report_event(void *arg, enum mr_maint_event ev, const char *where,
    const char *detail)
{
	const struct admin_progress *p = arg;

	switch (ev) {
	case MR_MAINT_STRAY:
		/* gc leaves strays alone and says so; verify lists them. */
		if (strcmp(p->label, "gc") == 0)
			fprintf(stderr, "mediarepo-admin: stray file '%s' (left "
			    "alone)\n", where);
		else
			printf("stray %s\n", where);
		break;
	case MR_MAINT_ORPHAN:
		printf("orphan %s\n", where);
		break;
	case MR_MAINT_CORRUPT:
		printf("corrupt %s (content hashes to %s)\n", where, detail);
		break;
	case MR_MAINT_UNREADABLE:
		printf("unreadable %s: %s\n", where, detail);
		break;
	case MR_MAINT_MISSING:
		printf("missing %s (named by the database)\n", where);
		break;
	case MR_MAINT_SIZE_DIFFERS:
		fprintf(stderr, "mediarepo-admin: %s: %s\n", where, detail);
		break;
	case MR_MAINT_UPLOAD:
		printf("unfinished upload %s (upload id %s)\n", where, detail);
		break;
	case MR_MAINT_FAILED:
		if (where == NULL)
			fprintf(stderr, "mediarepo-admin: %s\n", detail);
		else
			fprintf(stderr, "%smediarepo-admin: %s: %s\n",
			    p->tty ? "\r\033[K" : "", where, detail);
		break;
	}
}

/* A report drawing progress p under label. */
static struct mr_maint_report
admin_report(struct admin_progress *p, const char *label)
{
	struct mr_maint_report r = { admin_report_start, admin_report_step,
	    admin_report_end, admin_report_event, p };

	admin_progress_start(p, label, 0);
	return r;
}

static int
cmd_gc(int argc, char **argv, struct mr_config *cfg, struct mr_store *st)
{
	struct admin_progress p;
	struct mr_maint_report r = admin_report(&p, "gc");
	struct mr_maint_gc g;
	struct mr_blob *blob;
	struct mr_err err;

	memset(&g, 0, sizeof(g));
	g.min_age_ms = 3600 * 1000;
	g.upload_min_age_ms = MR_BLOB_UPLOAD_GRACE_MS;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--dry-run") == 0)
			g.dry_run = 1;
		else if (strcmp(argv[i], "--min-age") == 0 && i + 1 < argc &&
		    mr_parse_duration_ms(argv[i + 1], &g.min_age_ms) == 0)
			i++;
		else if (strcmp(argv[i], "--upload-min-age") == 0 &&
		    i + 1 < argc && mr_parse_duration_ms(argv[i + 1],
		    &g.upload_min_age_ms) == 0)
			i++;
		else
			return 2;
	}
	if ((blob = admin_blob(cfg)) == NULL)
		return 1;
	if (mr_maint_gc(cfg, st, blob, &g, &r, &err) < 0)
		return admin_fail(&err);
	printf("%s %lld orphaned blob%s (%lld bytes); kept %lld referenced, "
	    "%lld younger than the minimum age, %lld stray file%s",
	    g.dry_run ? "found" : "removed", (long long)g.removed,
	    g.removed == 1 ? "" : "s", (long long)g.bytes, (long long)g.kept,
	    (long long)g.young, (long long)g.stray, g.stray == 1 ? "" : "s");
	if (!g.dry_run)
		printf("; removed %d temp file%s", g.swept,
		    g.swept == 1 ? "" : "s");
	if (g.uploads_checked)
		printf("; %s %lld unfinished upload%s, kept %lld younger than "
		    "the upload minimum age, %lld of other keys",
		    g.dry_run ? "found" : "aborted",
		    (long long)g.uploads_aborted,
		    g.uploads_aborted == 1 ? "" : "s",
		    (long long)g.uploads_young, (long long)g.uploads_foreign);
	printf("\n");
	return g.errors > 0 ? 1 : 0;
}

static int
cmd_verify(int argc, char **argv, struct mr_config *cfg, struct mr_store *st)
{
	struct admin_progress p;
	struct mr_maint_report r = admin_report(&p, "verify");
	struct mr_maint_verify v;
	struct mr_blob *blob;
	struct mr_err err;

	(void)argv;
	if (argc != 1)
		return 2;
	memset(&v, 0, sizeof(v));
	if ((blob = admin_blob(cfg)) == NULL)
		return 1;
	if (mr_maint_verify(st, blob, &v, &r, &err) < 0)
		return admin_fail(&err);
	printf("%lld ok, %lld corrupt, %lld unreadable, %lld missing, "
	    "%lld stray\n", (long long)v.ok, (long long)v.corrupt,
	    (long long)v.unreadable, (long long)v.missing, (long long)v.stray);
	return v.corrupt + v.unreadable + v.missing > 0 ? 1 : 0;
}

/* --- stats --- */

static void
admin_print_user(const char *user_id, const struct mr_store_count *c,
    void *arg)
{
	(void)arg;
	printf("  %-40s %10lld %16lld\n", user_id, (long long)c->count,
	    (long long)c->bytes);
}

static int
cmd_stats(int argc, char **argv, struct mr_config *cfg, struct mr_store *st)
{
	struct mr_store_stats s;
	struct mr_err err;

	(void)argv;
	if (argc != 1)
		return 2;
	if (mr_store_stats(st, cfg->server_name, &s, &err) < 0)
		return admin_fail(&err);
	printf("%-12s %10s %16s\n", "kind", "count", "bytes");
	printf("%-12s %10lld %16lld\n", "local", (long long)s.local.count,
	    (long long)s.local.bytes);
	printf("%-12s %10lld %16lld\n", "remote", (long long)s.remote.count,
	    (long long)s.remote.bytes);
	printf("%-12s %10lld %16lld\n", "thumbnails",
	    (long long)s.thumbnails.count, (long long)s.thumbnails.bytes);
	printf("%-12s %10lld %16lld\n", "pending", (long long)s.pending.count,
	    (long long)s.pending.bytes);
	printf("%-12s %10lld %16lld\n", "quarantined",
	    (long long)s.quarantined.count, (long long)s.quarantined.bytes);
	printf("\ntop users by bytes of local media:\n");
	return mr_store_top_users(st, cfg->server_name, 10, admin_print_user,
	    NULL, &err) < 0 ? admin_fail(&err) : 0;
}

/* --- import from Synapse --- */

static int
cmd_import_synapse(int argc, char **argv, struct mr_config *cfg,
    struct mr_store *st)
{
	struct admin_progress p;
	struct mr_maint_report r = admin_report(&p, "import");
	struct mr_maint_import im;
	struct mr_blob *blob;
	struct mr_err err;

	if (argc != 3)
		return 2;
	memset(&im, 0, sizeof(im));
	if ((blob = admin_blob(cfg)) == NULL)
		return 1;
	if (mr_maint_import_synapse(cfg, st, blob, argv[1], argv[2], &im, &r,
	    &err) < 0)
		return admin_fail(&err);
	printf("imported %lld media (%lld quarantined); %lld already here, "
	    "%lld never uploaded, %lld failed\n", (long long)im.imported,
	    (long long)im.quarantined, (long long)im.present,
	    (long long)im.pending, (long long)im.failed);
	return im.failed > 0 ? 1 : 0;
}

/* --- migrate-store --- */

static void
admin_print_migrated(const char *what, const struct mr_migrate_count *c)
{
	printf("%-12s %10lld copied %10lld already there\n", what,
	    (long long)c->copied, (long long)c->present);
}

static int
cmd_migrate_store(int argc, char **argv, struct mr_config *cfg,
    struct mr_store *st)
{
	struct admin_progress p;
	struct mr_maint_report r = admin_report(&p, "migrate-store");
	struct mr_config to_cfg;
	struct mr_store *to = NULL;
	struct mr_blob *blob, *to_blob = NULL;
	struct mr_migrate m;
	struct mr_err err;
	int rc;

	if (argc != 2)
		return 2;
	if (mr_config_load(argv[1], &to_cfg, &err) < 0)
		return admin_fail(&err);
	if (strcmp(mr_config_store_location(cfg),
	    mr_config_store_location(&to_cfg)) == 0) {
		fprintf(stderr, "mediarepo-admin: '%s' names the same database "
		    "as the current config\n", argv[1]);
		return 1;
	}
	if ((blob = admin_blob(cfg)) == NULL)
		return 1;
	if (mr_store_open(&to, mr_config_store_location(&to_cfg), &err) < 0 ||
	    mr_blob_store_open(&to_cfg, 1, &to_blob, &err) < 0) {
		mr_store_free(to);
		return admin_fail(&err);
	}
	rc = mr_migrate_store(st, blob, to, to_blob, &m, &r, &err);
	mr_blob_store_close(to_blob);
	mr_store_free(to);
	if (rc < 0)
		return admin_fail(&err);
	printf("%-12s %10lld copied %10lld already there (%lld bytes "
	    "copied)\n", "blobs", (long long)m.blobs.copied,
	    (long long)m.blobs.present, (long long)m.bytes);
	admin_print_migrated("media", &m.media);
	admin_print_migrated("thumbnails", &m.thumbnails);
	admin_print_migrated("tokens", &m.tokens);
	admin_print_migrated("quarantined", &m.hashes);
	if (m.errors > 0)
		printf("%lld error%s (above)\n", (long long)m.errors,
		    m.errors == 1 ? "" : "s");
	return m.errors > 0 ? 1 : 0;
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
	{ "thumbnail", "thumbnail [--repeat N] IN OUT WIDTH HEIGHT METHOD",
	  "make one thumbnail of image file IN (METHOD crop or scale) by the "
	  "server's own code path; --repeat: then N more, timed in the "
	  "process (ms per thumbnail, wall and CPU)", 0, cmd_thumbnail },
	{ "thumbnail-all", "thumbnail-all [--repeat N] IN OUTDIR",
	  "make every configured thumbnail size of IN from one decode, as an "
	  "upload does (OUTDIR/WxH-METHOD); --repeat as for thumbnail", 0,
	  cmd_thumbnail_all },
	{ "sweep", "sweep [--min-age DURATION]",
	  "remove temp files left by crashed or abandoned uploads: those of a "
	  "writer that is gone once idle for --min-age (1m by default; 0 after "
	  "a crash, when no other host shares the store), any once idle for "
	  "temp_file_max_age", 0, cmd_sweep },
	{ "media info", "media info MXC",
	  "print a media item's metadata, file path and thumbnails", 1,
	  cmd_media_info },
	{ "media delete", "media delete MXC",
	  "delete a media item and its thumbnails; their files go when no "
	  "other media or thumbnail has the same bytes", 1, cmd_media_delete },
	{ "media list", "media list --user USER",
	  "one line per media of USER: mxc, size, type, created, flags, name",
	  1, cmd_media_list },
	{ "media protect", "media protect MXC",
	  "protect media from quarantines of users and rooms (and by hash "
	  "elsewhere) and from retention, as Synapse's safe_from_quarantine",
	  1, cmd_media_protect },
	{ "media unprotect", "media unprotect MXC",
	  "undo media protect", 1, cmd_media_unprotect },
	{ "quarantine", "quarantine MXC | --hash SHA256 | --user USER",
	  "make media answer 404 on every route (download, thumbnail, "
	  "federation) and refuse new uploads of its bytes (403); every media "
	  "with the same bytes goes too, protected media stays; --user takes "
	  "all of a user's", 1, cmd_quarantine },
	{ "unquarantine", "unquarantine MXC | --hash SHA256 | --user USER",
	  "serve quarantined media again; its bytes may be uploaded again "
	  "once no quarantined media has them", 1, cmd_unquarantine },
	{ "purge-remote", "purge-remote --before DURATION",
	  "delete cached remote media not read for DURATION (e.g. 30d; "
	  "quarantined and protected media stay) and their thumbnails; files "
	  "go when nothing else has the same bytes, and the media is fetched "
	  "again when asked for", 1, cmd_purge_remote },
	{ "purge-expired", "purge-expired [--dry-run]",
	  "retention: delete local and cached remote media not read for "
	  "media_retention_local_media_lifetime and "
	  "media_retention_remote_media_lifetime (each only when set), never "
	  "quarantined or protected media; --dry-run lists what would go", 1,
	  cmd_purge_expired },
	{ "purge-previews", "purge-previews",
	  "empty the URL preview cache (preview images are media of the user "
	  "who asked; 'media delete' removes them)", 1, cmd_purge_previews },
	{ "gc", "gc [--min-age DURATION] [--upload-min-age DURATION] "
	  "[--dry-run]",
	  "remove blobs no media or thumbnail names (older than --min-age, "
	  "1h by default, since an upload stores its file before its row) "
	  "and temp files of crashed uploads; with S3, abort the unfinished "
	  "multipart uploads of blobs begun --upload-min-age ago (2d by "
	  "default, past the longest request_deadline)", 1, cmd_gc },
	{ "verify", "verify",
	  "re-hash every blob and report corrupt files (content differs from "
	  "the name) and files the database names but that are missing; exit "
	  "1 when there is any", 1, cmd_verify },
	{ "stats", "stats",
	  "count and bytes of local media, cached remote media, thumbnails, "
	  "pending and quarantined media; the top 10 users by bytes", 1,
	  cmd_stats },
	{ "import-synapse", "import-synapse MEDIA_STORE DB",
	  "import local media from a Synapse media store directory and its "
	  "SQLite database, keeping media ids (run with this server's "
	  "server_name set to the homeserver's); already imported ids are "
	  "skipped, so it can be run again", 1, cmd_import_synapse },
	{ "migrate-store", "migrate-store NEW_CONFIG",
	  "copy every blob and every row that persists (media with their ids, "
	  "thumbnails, tokens, quarantined hashes) from this config's "
	  "database and store into NEW_CONFIG's (SQLite or PostgreSQL, any "
	  "direction); copied blobs are re-hashed, what is there already is "
	  "skipped, so it can be interrupted and run again", 1,
	  cmd_migrate_store },
};

#define ADMIN_NCMDS (sizeof(admin_cmds) / sizeof(admin_cmds[0]))

static void
admin_usage(FILE *out)
{
	fprintf(out, "usage: mediarepo-admin [-c CONFIG] COMMAND [ARGS]\n\n"
	    "CONFIG defaults to $MEDIAREPO_CONFIG. Commands:\n");
	for (size_t i = 0; i < ADMIN_NCMDS; i++) {
		if (strlen(admin_cmds[i].usage) > 34)
			fprintf(out, "  %s\n  %-34s %s\n", admin_cmds[i].usage,
			    "", admin_cmds[i].help);
		else
			fprintf(out, "  %-34s %s\n", admin_cmds[i].usage,
			    admin_cmds[i].help);
	}
	fprintf(out, "\n'mediarepo-admin COMMAND --help' describes one command.\n");
}

/*
 * Run as root on a stack whose data belongs to its program user, the tool
 * becomes that user (the owner of the directory of path: the database's,
 * or the key's) before it touches anything, so that the files it writes
 * (database journal, thumbnails, imported media, the key) are the
 * programs' and not root's.
 */
static int
admin_become_owner_of(const char *path)
{
	char dir[PATH_MAX];
	struct stat sb;
	char *slash;

	if (geteuid() != 0)
		return 0;
	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/')) != NULL)
		*(slash == dir ? slash + 1 : slash) = '\0';
	else
		snprintf(dir, sizeof(dir), ".");
	if (stat(dir, &sb) < 0 || sb.st_uid == 0)
		return 0;
	if (setgroups(0, NULL) < 0 || setgid(sb.st_gid) < 0 ||
	    setuid(sb.st_uid) < 0) {
		fprintf(stderr, "mediarepo-admin: cannot become the owner of "
		    "'%s': %s\n", dir, strerror(errno));
		return -1;
	}
	return 0;
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
	/* Commands that write the database, the store or the key act as the
	 * data's owner; the others (thumbnail, show-key) may read and write
	 * wherever root can. import-key drops once it has read its file. */
	if ((c->needs_store || c->run == cmd_sweep) &&
	    admin_become_owner_of(cfg.database_path) < 0)
		return 1;
	if (c->run == cmd_generate_key &&
	    admin_become_owner_of(cfg.signing_key_path) < 0)
		return 1;
	if (c->needs_store &&
	    mr_store_open(&st, mr_config_store_location(&cfg), &err) < 0)
		return admin_fail(&err);
	rc = c->run(argc, argv, &cfg, st);
	mr_store_free(st);
	if (rc == 2)
		fprintf(stderr, "usage: mediarepo-admin %s\n", c->usage);
	return rc;
}

/*
 * How many words of argv name c: 1 for "sweep", 2 for "media info", 0
 * when it is another command.
 */
static int
admin_cmd_matches(const struct admin_cmd *c, int argc, char **argv)
{
	const char *sp = strchr(c->name, ' ');
	size_t len = sp ? (size_t)(sp - c->name) : strlen(c->name);

	if (strncmp(argv[0], c->name, len) != 0 || argv[0][len] != '\0')
		return 0;
	if (sp == NULL)
		return 1;
	return argc > 1 && strcmp(argv[1], sp + 1) == 0 ? 2 : 0;
}

/* --help (or -h) anywhere among a command's arguments. */
static int
admin_wants_help(int argc, char **argv)
{
	for (int i = 0; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return 1;
	return 0;
}

/*
 * "media" alone, with --help or with an unknown subcommand: the usage of
 * every "media ..." command. Returns 1 (with *rc) when word is a group.
 */
static int
admin_group_usage(const char *word, int argc, char **argv, int *rc)
{
	size_t len = strlen(word);
	int found = 0;

	*rc = admin_wants_help(argc, argv) ? 0 : 2;
	for (size_t k = 0; k < ADMIN_NCMDS; k++) {
		const char *name = admin_cmds[k].name;

		if (strncmp(name, word, len) != 0 || name[len] != ' ')
			continue;
		if (!found++ && *rc == 2 && argc > 0)
			fprintf(stderr, "mediarepo-admin: unknown command "
			    "'%s %s'\n", word, argv[0]);
		fprintf(*rc ? stderr : stdout, "usage: mediarepo-admin %s\n"
		    "       %s\n", admin_cmds[k].usage, admin_cmds[k].help);
	}
	return found > 0;
}

int
main(int argc, char **argv)
{
	int i = 1, rc;

	if (sodium_init() < 0)
		return 1;
	/* Media, keys and the database are nobody else's business. */
	umask(027);
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
		int words = admin_cmd_matches(&admin_cmds[k], argc - i, argv + i);

		if (words == 0)
			continue;
		if (admin_wants_help(argc - i - words, argv + i + words)) {
			printf("usage: mediarepo-admin %s\n\n%s\n",
			    admin_cmds[k].usage, admin_cmds[k].help);
			return 0;
		}
		/* A two-word command sees its second word as argv[0]. */
		return admin_run(&admin_cmds[k], argc - i - words + 1,
		    argv + i + words - 1);
	}
	if (admin_group_usage(argv[i], argc - i - 1, argv + i + 1, &rc))
		return rc;
	fprintf(stderr, "mediarepo-admin: unknown command '%s'\n", argv[i]);
	admin_usage(stderr);
	return 2;
}
