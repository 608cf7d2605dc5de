/*
 * config: one table of keys, checked at start (see config.h).
 */
#include "config.h"
#include "image.h"
#include "net.h"
#include "preview_url.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum config_type {
	CFG_STRING,
	CFG_PATH,
	CFG_SERVER_NAME,
	CFG_SIZE,
	CFG_INT,
	CFG_BOOL,
	CFG_DURATION,
	CFG_ENUM,
	CFG_THUMB_SIZES,	/* "32x32 crop, 320x240 scale" */
	CFG_IMAGE_FORMATS,	/* "jpeg, png" */
	CFG_RATE,		/* "10" or "0.5" per second, kept in thousandths */
};

struct config_key {
	const char *name;
	enum config_type type;
	size_t offset;
	size_t size;		/* buffer size for strings and paths */
	const char *def;	/* default, in file syntax */
	int64_t min, max;	/* for sizes, ints and durations */
	const char *const *choices;	/* for enums; index is the value */
	const char *help;
	int (*check)(const char *value);	/* extra check for strings */
};

static const char *const config_xsendfile_choices[] = {
	"off", "x-sendfile", "x-accel-redirect", NULL
};

/* In the order of enum mr_log_format. */
static const char *const config_log_format_choices[] = {
	"text", "json", NULL
};

static const char *const config_auth_choices[] = {
	"local", "homeserver", NULL
};

/*
 * homeserver_url: http(s)://host[:port][/path], no query, fragment,
 * userinfo or whitespace; the whoami path is appended to it. Empty is
 * unset (auth = homeserver then refuses to load).
 */
static int
config_check_homeserver_url(const char *value)
{
	const char *rest = mr_skip_prefix_ci(value, "http://");

	if (value[0] == '\0')
		return 0;
	if (rest == NULL)
		rest = mr_skip_prefix_ci(value, "https://");
	if (rest == NULL || rest[0] == '\0' || rest[0] == '/')
		return -1;
	for (const char *p = rest; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7F ||
		    *p == '?' || *p == '#' || *p == '@' || *p == '\\')
			return -1;
	return 0;
}

/*
 * s3_endpoint: http(s)://host[:port] and nothing after (path-style URLs
 * put the bucket there). Empty: AWS's endpoint of s3_region. The same
 * for s3_public_endpoint, whose empty means s3_endpoint.
 */
static int
config_check_s3_endpoint(const char *value)
{
	const char *rest = mr_skip_prefix_ci(value, "http://");

	if (value[0] == '\0')
		return 0;
	if (rest == NULL)
		rest = mr_skip_prefix_ci(value, "https://");
	if (rest == NULL || rest[0] == '\0')
		return -1;
	for (const char *p = rest; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && strchr(".-:[]", *p) == NULL)
			return -1;
	return 0;
}

/* S3's bucket names: 3 to 63 of a-z 0-9 . - (so no encoding needed). */
static int
config_check_s3_bucket(const char *value)
{
	size_t n = strlen(value);

	if (n == 0)
		return 0;
	return n >= 3 && n <= 63 &&
	    strspn(value, "abcdefghijklmnopqrstuvwxyz0123456789.-") == n &&
	    value[0] != '.' && value[0] != '-' ? 0 : -1;
}

/* Region and key id go into the signed scope as they are: plain text. */
static int
config_check_s3_word(const char *value)
{
	for (const char *p = value; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
			return -1;
	return 0;
}

static int
config_check_cidrs(const char *value)
{
	struct mr_net_list l;

	return mr_net_parse_list(value, &l);
}

static int
config_check_url_rules(const char *value)
{
	static struct mr_preview_url_rules rules;	/* large: not on stack */

	return mr_preview_parse_url_rules(value, &rules);
}

/* Comma-separated server names. */
static int
config_check_servers(const char *value)
{
	char name[MR_SERVER_NAME_MAX + 1];

	while (*value != '\0') {
		size_t n;

		value += strspn(value, " ,");
		n = strcspn(value, " ,");
		if (n == 0)
			break;
		if (n > MR_SERVER_NAME_MAX)
			return -1;
		memcpy(name, value, n);
		name[n] = '\0';
		if (!mr_mxc_valid_server_name(name))
			return -1;
		value += n;
	}
	return 0;
}

/* Names are compared as servers, not bytes: "PEER.TEST" is "peer.test". */
int
mr_config_list_has(const char *list, const char *name)
{
	size_t want = strlen(name);

	while (*list != '\0') {
		size_t n;

		list += strspn(list, " ,");
		n = strcspn(list, " ,");
		if (n == 0)
			break;
		if (mr_mxc_same_server(list, n, name, want))
			return 1;
		list += n;
	}
	return 0;
}

int
mr_config_resolve_lookup(const struct mr_config *cfg, const char *server_name,
    char *host, size_t hostsz, uint16_t *port)
{
	const char *p = cfg->federation_resolve;
	size_t want = strlen(server_name);

	while (*p != '\0') {
		const char *eq, *colon;
		size_t n;

		p += strspn(p, " ,");
		n = strcspn(p, " ,");
		if (n == 0)
			break;
		eq = memchr(p, '=', n);
		colon = NULL;
		for (const char *c = p + n - 1; eq != NULL && c > eq; c--)
			if (*c == ':') {
				colon = c;
				break;
			}
		if (eq == NULL || colon == NULL)
			return -1;
		if (mr_mxc_same_server(p, (size_t)(eq - p), server_name, want)) {
			int64_t v;
			char portbuf[8];
			size_t hl = (size_t)(colon - eq - 1), pl = (size_t)(p + n -
			    colon - 1);

			if (hl == 0 || hl >= hostsz || pl == 0 ||
			    pl >= sizeof(portbuf))
				return -1;
			memcpy(host, eq + 1, hl);
			host[hl] = '\0';
			/* [v6]:port keeps the address, not the brackets. */
			if (host[0] == '[' && host[hl - 1] == ']') {
				memmove(host, host + 1, hl - 2);
				host[hl - 2] = '\0';
			}
			memcpy(portbuf, colon + 1, pl);
			portbuf[pl] = '\0';
			if (mr_parse_int64(portbuf, 1, 65535, &v) < 0)
				return -1;
			*port = (uint16_t)v;
			return 1;
		}
		p += n;
	}
	return 0;
}

/* "name=host:port, ..." */
static int
config_check_resolve(const char *value)
{
	const char *p = value;

	while (*p != '\0') {
		char name[MR_SERVER_NAME_MAX + 1], host[256];
		struct mr_config tmp;
		const char *eq;
		uint16_t port;
		size_t n;

		p += strspn(p, " ,");
		n = strcspn(p, " ,");
		if (n == 0)
			break;
		eq = memchr(p, '=', n);
		if (eq == NULL || (size_t)(eq - p) > MR_SERVER_NAME_MAX ||
		    n >= sizeof(tmp.federation_resolve))
			return -1;
		memcpy(name, p, (size_t)(eq - p));
		name[eq - p] = '\0';
		snprintf(tmp.federation_resolve, sizeof(tmp.federation_resolve),
		    "%.*s", (int)n, p);
		if (!mr_mxc_valid_server_name(name) ||
		    mr_config_resolve_lookup(&tmp, name, host, sizeof(host),
		    &port) != 1)
			return -1;
		p += n;
	}
	return 0;
}

/*
 * The count after "name:" in a "name:count, ..." list: 0 and *n, 1 when
 * name is absent, -1 when its entry is malformed.
 */
static int
config_count_of(const char *list, const char *name, int64_t *n)
{
	size_t want = strlen(name);
	const char *p = list;

	while (*p != '\0') {
		char num[24];
		size_t len;

		p += strspn(p, " ,");
		if ((len = strcspn(p, " ,")) == 0)
			break;
		if (len > want && p[want] == ':' && memcmp(p, name, want) == 0) {
			if (len - want - 1 >= sizeof(num))
				return -1;
			memcpy(num, p + want + 1, len - want - 1);
			num[len - want - 1] = '\0';
			return mr_parse_int64(num, 0, INT64_MAX, n);
		}
		p += len;
	}
	return 1;
}

int
mr_config_upload_limits(const char *text,
    struct mr_upload_limit out[MR_UPLOAD_LIMITS_MAX])
{
	const char *p = text;
	int count = 0;

	while (*p != '\0') {
		char item[64], *colon;
		size_t len;

		p += strspn(p, " ,");
		if ((len = strcspn(p, " ,")) == 0)
			break;
		if (len >= sizeof(item) || count == MR_UPLOAD_LIMITS_MAX)
			return -1;
		memcpy(item, p, len);
		item[len] = '\0';
		if ((colon = strchr(item, ':')) == NULL)
			return -1;
		*colon = '\0';
		if (mr_parse_duration_ms(item, &out[count].period_ms) < 0 ||
		    out[count].period_ms < 1000 ||
		    mr_parse_size(colon + 1, &out[count].bytes) < 0 ||
		    out[count].bytes < 1)
			return -1;
		count++;
		p += len;
	}
	return count;
}

int64_t
mr_config_processes(const struct mr_config *cfg, const char *program)
{
	const char *env = getenv("MEDIAREPO_PROCESSES");
	int64_t n;

	if (env != NULL && mr_parse_int64(env, 1, 1024, &n) == 0)
		return n;
	if (config_count_of(cfg->processes, program, &n) == 0 && n >= 1)
		return n;
	return 2;
}

/*
 * A decimal rate such as "10" or "0.25" in thousandths; -1 for anything
 * else (no sign, no exponent, at most three decimals).
 */
static int
config_parse_rate(const char *s, int64_t *out)
{
	int64_t whole = 0, frac = 0;
	int digits = 0, fdigits = 0;

	for (; *s >= '0' && *s <= '9'; s++, digits++)
		if ((whole = whole * 10 + (*s - '0')) > INT64_C(1000000000))
			return -1;
	if (*s == '.')
		for (s++; *s >= '0' && *s <= '9'; s++, fdigits++)
			if (fdigits < 3)
				frac = frac * 10 + (*s - '0');
	if (*s != '\0' || digits + fdigits == 0)
		return -1;
	for (int i = fdigits < 3 ? fdigits : 3; i < 3; i++)
		frac *= 10;
	*out = whole * 1000 + frac;
	return 0;
}

/* "program:count, ..." with known program names. */
static int
config_check_processes(const char *value)
{
	const char *p = value;

	while (*p != '\0') {
		char name[32];
		int64_t n;
		size_t len;
		const char *colon;

		p += strspn(p, " ,");
		if ((len = strcspn(p, " ,")) == 0)
			break;
		colon = memchr(p, ':', len);
		if (colon == NULL || colon == p ||
		    (size_t)(colon - p) >= sizeof(name))
			return -1;
		memcpy(name, p, (size_t)(colon - p));
		name[colon - p] = '\0';
		if (strspn(name, "abcdefghijklmnopqrstuvwxyz_") != strlen(name) ||
		    config_count_of(value, name, &n) < 0 || n < 1 || n > 1024)
			return -1;
		p += len;
	}
	return 0;
}

/* admin_users: Matrix user ids, comma-separated. */
static int
config_check_user_list(const char *value)
{
	char id[256];

	while (*value != '\0') {
		size_t n;

		value += strspn(value, " ,");
		if ((n = strcspn(value, " ,")) == 0)
			break;
		if (n >= sizeof(id))
			return -1;
		memcpy(id, value, n);
		id[n] = '\0';
		if (!mr_mxc_valid_user_id(id))
			return -1;
		value += n;
	}
	return 0;
}

/* A plain system user name: the shell script passes it on. */
static int
config_check_user(const char *value)
{
	size_t n = strlen(value);

	return n > 0 && n < 32 && value[0] != '-' &&
	    strspn(value, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n ? 0 : -1;
}

static int
config_check_upload_limits(const char *value)
{
	struct mr_upload_limit l[MR_UPLOAD_LIMITS_MAX];

	return mr_config_upload_limits(value, l) < 0 ? -1 : 0;
}

static int
config_check_net_list(const char *value)
{
	struct mr_net_list l;

	return mr_net_parse_list(value, &l);
}

/* Empty, or a URI the PostgreSQL store takes (store_pg.c's wanted). */
static int
config_check_database_url(const char *value)
{
	return value[0] == '\0' || strncmp(value, "postgresql://", 13) == 0 ||
	    strncmp(value, "postgres://", 11) == 0 ? 0 : -1;
}

#define F(field) offsetof(struct mr_config, field), \
	sizeof(((struct mr_config *)0)->field)
#define DAY_MS INT64_C(86400000)

static const struct config_key config_keys[] = {
	{ "server_name", CFG_SERVER_NAME, F(server_name), "", 0, 0, NULL,
	  "the server name in mxc:// URIs (required)" },
	{ "media_store_path", CFG_PATH, F(media_store_path), "media_store",
	  0, 0, NULL, "directory of content-addressed media files" },
	{ "database_path", CFG_PATH, F(database_path), "mediarepo.db",
	  0, 0, NULL, "SQLite database file" },
	{ "signing_key_path", CFG_PATH, F(signing_key_path), "signing.key",
	  0, 0, NULL, "ed25519 key, 'ed25519 VERSION SEED' as Synapse writes it" },
	{ "max_upload_size", CFG_SIZE, F(max_upload_size), "50M",
	  1, INT64_C(1) << 40, NULL, "largest accepted upload (K/M/G suffixes)" },
	{ "enable_authenticated_media", CFG_BOOL, F(enable_authenticated_media),
	  "false", 0, 0, NULL,
	  "freeze: media uploaded while true is served only on the "
	  "authenticated /_matrix/client/v1 routes (as in Synapse)" },
	{ "legacy_media_requires_auth", CFG_BOOL, F(legacy_media_requires_auth),
	  "false", 0, 0, NULL,
	  "require a token on legacy and MSC1902 download paths too" },
	{ "allow_query_access_token", CFG_BOOL, F(allow_query_access_token),
	  "true", 0, 0, NULL, "accept the deprecated ?access_token= parameter" },
	{ "max_pending_media_uploads", CFG_INT, F(max_pending_media_uploads),
	  "5", 1, 1000000, NULL, "async uploads (create) a user may hold open" },
	{ "unused_expiration_time", CFG_DURATION, F(unused_expiration_time),
	  "24h", 1000, 365 * DAY_MS, NULL, "life of an id made by create" },
	{ "max_pending_media_wait", CFG_DURATION, F(max_pending_media_wait),
	  "60s", 0, 3600000, NULL, "cap on a download's timeout_ms" },
	{ "temp_file_max_age", CFG_DURATION, F(temp_file_max_age), "1h",
	  60000, 30 * DAY_MS, NULL,
	  "temp files untouched this long are removed by the sweep" },
	{ "media_cache_max_age", CFG_DURATION, F(media_cache_max_age), "1d",
	  0, 365 * DAY_MS, NULL, "Cache-Control max-age of media responses" },
	{ "xsendfile", CFG_ENUM, F(xsendfile), "off", 0, 0,
	  config_xsendfile_choices,
	  "let the web server send files: off, x-sendfile, x-accel-redirect" },
	{ "xsendfile_prefix", CFG_STRING, F(xsendfile_prefix), "", 0, 0, NULL,
	  "URI prefix of nginx's internal location for x-accel-redirect" },
	{ "log_requests", CFG_BOOL, F(log_requests), "true", 0, 0, NULL,
	  "one line per request on stderr" },
	{ "log_format", CFG_ENUM, F(log_format), "text", 0, 0,
	  config_log_format_choices,
	  "request lines as text, or json (one object per line)" },
	{ "thumbnail_sizes", CFG_THUMB_SIZES, F(thumbnail_sizes),
	  "32x32 crop, 96x96 crop, 320x240 scale, 640x480 scale, 800x600 scale",
	  0, 0, NULL, "thumbnails made at upload; requests pick among them" },
	{ "dynamic_thumbnails", CFG_BOOL, F(dynamic_thumbnails), "false", 0, 0,
	  NULL, "make exact requested sizes on demand (and cache them)" },
	{ "max_thumbnails_per_media", CFG_INT, F(max_thumbnails_per_media), "32",
	  0, 10000, NULL, "cap on sizes made on demand for one media" },
	{ "max_image_pixels", CFG_SIZE, F(max_image_pixels), "32M", 1,
	  INT64_C(1) << 34, NULL,
	  "larger images are not thumbnailed (413), checked before decoding" },
	{ "max_animation_pixels", CFG_SIZE, F(max_animation_pixels), "256M", 1,
	  INT64_C(1) << 36, NULL, "frames x pixels cap for animations" },
	{ "thumbnail_formats", CFG_IMAGE_FORMATS, F(thumbnail_formats),
	  "jpeg, png, gif, webp, bmp, tiff, avif, heif", 0, 0, NULL,
	  "decoders allowed to run on uploads (sniffed, not declared, type)" },
	{ "thumbnail_jpeg_quality", CFG_INT, F(thumbnail_jpeg_quality), "80",
	  1, 100, NULL, "JPEG quality of thumbnails" },
	{ "thumbnail_memory_limit", CFG_SIZE, F(thumbnail_memory_limit), "1G",
	  INT64_C(64) << 20, INT64_C(1) << 40, NULL,
	  "address-space limit of the decoding child process" },
	{ "thumbnail_time_limit", CFG_DURATION, F(thumbnail_time_limit), "10s",
	  1000, 600000, NULL, "CPU and wall-clock limit of a decoding child" },
	{ "max_remote_media_size", CFG_SIZE, F(max_remote_media_size), "0", 0,
	  INT64_C(1) << 40, NULL,
	  "largest remote media fetched (0: max_upload_size); else 502" },
	{ "prevent_media_downloads_from", CFG_STRING,
	  F(prevent_media_downloads_from), "", 0, 0, NULL,
	  "server names whose media is never fetched (404)", config_check_servers },
	{ "federation_domain_whitelist", CFG_STRING,
	  F(federation_domain_whitelist), "", 0, 0, NULL,
	  "when set, only these servers may make federation requests",
	  config_check_servers },
	{ "federation_blocked_servers", CFG_STRING,
	  F(federation_blocked_servers), "", 0, 0, NULL,
	  "servers whose federation requests get 403", config_check_servers },
	{ "ip_range_blacklist", CFG_STRING, F(ip_range_blacklist),
	  MR_NET_DEFAULT_BLACKLIST, 0, 0, NULL,
	  "addresses outbound federation never connects to",
	  config_check_cidrs },
	{ "ip_range_whitelist", CFG_STRING, F(ip_range_whitelist), "", 0, 0,
	  NULL, "exceptions to ip_range_blacklist", config_check_cidrs },
	{ "federation_resolve", CFG_STRING, F(federation_resolve), "", 0, 0,
	  NULL, "fixed addresses, 'name=host:port, ...', trusted as given",
	  config_check_resolve },
	{ "federation_ca_file", CFG_PATH, F(federation_ca_file), "", 0, 0, NULL,
	  "extra CA certificates (PEM) trusted for federation" },
	{ "federation_verify_tls", CFG_BOOL, F(federation_verify_tls), "true",
	  0, 0, NULL, "check certificates of other servers (keep on)" },
	{ "federation_connect_timeout", CFG_DURATION,
	  F(federation_connect_timeout), "10s", 100, 600000, NULL,
	  "connect timeout of outbound requests" },
	{ "federation_timeout", CFG_DURATION, F(federation_timeout), "60s", 1000,
	  3600000, NULL, "total time of one outbound request" },
	{ "remote_media_failure_cache", CFG_DURATION,
	  F(remote_media_failure_cache), "60s", 0, 86400000, NULL,
	  "how long a failed remote fetch is answered from cache" },
	{ "trusted_key_server", CFG_STRING, F(trusted_key_server), "", 0, 0,
	  NULL, "notary asked for server keys (empty: ask each server)",
	  config_check_servers },
	{ "trusted_key_server_key", CFG_STRING, F(trusted_key_server_key), "",
	  0, 0, NULL, "the notary's key, 'ed25519:ID BASE64'" },
	{ "serve_federation_media_v1", CFG_BOOL, F(serve_federation_media_v1),
	  "true", 0, 0, NULL,
	  "answer /_matrix/federation/v1/media (false: 404 M_UNRECOGNIZED)" },
	{ "serve_federation_remote_media", CFG_BOOL,
	  F(serve_federation_remote_media), "true", 0, 0, NULL,
	  "answer MSC1902 .../remote_media (false: 404 M_UNRECOGNIZED)" },
	{ "url_preview_enabled", CFG_BOOL, F(url_preview_enabled), "false", 0, 0,
	  NULL, "serve preview_url (needs url_preview_ip_range_blacklist)" },
	{ "url_preview_ip_range_blacklist", CFG_STRING,
	  F(url_preview_ip_range_blacklist), "", 0, 0, NULL,
	  "addresses previews never connect to (required with previews)",
	  config_check_cidrs },
	{ "url_preview_ip_range_whitelist", CFG_STRING,
	  F(url_preview_ip_range_whitelist), "", 0, 0, NULL,
	  "exceptions to url_preview_ip_range_blacklist", config_check_cidrs },
	{ "url_preview_url_blacklist", CFG_STRING, F(url_preview_url_blacklist),
	  "", 0, 0, NULL,
	  "URLs never previewed: rules of 'scheme=G host=G port=N path=G', "
	  "comma-separated", config_check_url_rules },
	{ "max_spider_size", CFG_SIZE, F(max_spider_size), "10M", 1024,
	  INT64_C(1) << 32, NULL, "largest page or image fetched (decoded)" },
	{ "url_preview_accept_language", CFG_STRING,
	  F(url_preview_accept_language), "en", 0, 0, NULL,
	  "Accept-Language sent with preview requests" },
	{ "url_preview_timeout", CFG_DURATION, F(url_preview_timeout), "10s",
	  1000, 600000, NULL, "total time of one preview fetch" },
	{ "oembed_providers_path", CFG_PATH, F(oembed_providers_path), "", 0, 0,
	  NULL, "oEmbed providers JSON (empty: built-in YouTube and Vimeo)" },
	{ "auth", CFG_ENUM, F(auth), "local", 0, 0, config_auth_choices,
	  "access tokens: local (mediarepo-admin's table) or homeserver "
	  "(asked at homeserver_url's /account/whoami)" },
	{ "homeserver_url", CFG_STRING, F(homeserver_url), "", 0, 0, NULL,
	  "the homeserver's client API base, e.g. http://127.0.0.1:8008 "
	  "(trusted: no address blacklist applies)",
	  config_check_homeserver_url },
	{ "homeserver_auth_cache_ttl", CFG_DURATION,
	  F(homeserver_auth_cache_ttl), "60s", 0, 86400000, NULL,
	  "how long a token the homeserver accepted is trusted without asking" },
	{ "homeserver_auth_negative_ttl", CFG_DURATION,
	  F(homeserver_auth_negative_ttl), "10s", 0, 86400000, NULL,
	  "how long a token the homeserver refused is refused without asking" },
	{ "homeserver_auth_timeout", CFG_DURATION, F(homeserver_auth_timeout),
	  "10s", 100, 600000, NULL,
	  "total time of one whoami request; past it 503" },
	{ "processes", CFG_STRING, F(processes),
	  "download:16, thumbnail:8, upload:8, federation_download:4, "
	  "federation_thumbnail:4, preview_url:4, create:2, config:2, keys:2, "
	  "unrecognized:2, admin:2", 0, 0, NULL,
	  "FastCGI processes per program (mediarepo-run, mediarepo-spawn); "
	  "a quarter of each, at least one, never waits", config_check_processes },
	{ "runtime_dir", CFG_PATH, F(runtime_dir), "run", 0, 0, NULL,
	  "sockets and slot files of this host (local, not shared)" },
	{ "federation_max_fetches_per_origin", CFG_INT,
	  F(federation_max_fetches_per_origin), "4", 1, 64, NULL,
	  "remote media fetches from one server at once, per host" },
	{ "federation_origin_backoff", CFG_DURATION,
	  F(federation_origin_backoff), "30s", 0, 3600000, NULL,
	  "a server that timed out or refused is not asked again for this long "
	  "(doubling while it keeps failing, up to 16 times)" },
	{ "rc_media_create_per_second", CFG_RATE,
	  F(rc_media_create_per_second), "10", 1, INT64_C(1000000000), NULL,
	  "POST /_matrix/media/v1/create per user and second, sustained" },
	{ "rc_media_create_burst_count", CFG_INT,
	  F(rc_media_create_burst_count), "50", 1, 1000000, NULL,
	  "POST /_matrix/media/v1/create per user in a burst" },
	{ "media_upload_limits", CFG_STRING, F(media_upload_limits), "", 0, 0,
	  NULL, "bytes a user may upload per period, e.g. '1h:100M, 1w:500M'",
	  config_check_upload_limits },
	{ "remote_media_download_burst_count", CFG_SIZE,
	  F(remote_media_download_burst_count), "500M", 1,
	  INT64_C(1) << 50, NULL,
	  "remote media bytes one requester may pull in a burst" },
	{ "remote_media_download_per_second", CFG_SIZE,
	  F(remote_media_download_per_second), "87K", 1, INT64_C(1) << 40, NULL,
	  "remote media bytes per requester and second, sustained" },
	{ "trusted_proxies", CFG_STRING, F(trusted_proxies), "", 0, 0, NULL,
	  "proxies (CIDR list) whose X-Forwarded-For names the client",
	  config_check_net_list },
	{ "request_deadline", CFG_DURATION, F(request_deadline), "10m", 1000,
	  86400000, NULL,
	  "longest any request may take; past it the process exits (and is "
	  "replaced)" },
	{ "user", CFG_STRING, F(user), "mediarepo", 0, 0, NULL,
	  "who the programs run as when mediarepo-run starts as root (a "
	  "system user it makes if missing, in the web server's group)",
	  config_check_user },
	{ "database_url", CFG_STRING, F(database_url), "", 0, 0, NULL,
	  "PostgreSQL connection URI (postgresql://USER:PASSWORD@HOST/DB?...) "
	  "shared by every host; empty: SQLite at database_path",
	  config_check_database_url },
	{ "metrics_allowed_ips", CFG_STRING, F(metrics_allowed_ips),
	  "127.0.0.1/32, ::1/128", 0, 0, NULL,
	  "clients (CIDR list) that may read GET /metrics; others get 403",
	  config_check_net_list },
	{ "admin_users", CFG_STRING, F(admin_users), "", 0, 0, NULL,
	  "user ids allowed Synapse's media admin API (comma-separated); with "
	  "auth = homeserver the homeserver's admins are allowed too",
	  config_check_user_list },
	{ "media_retention_local_media_lifetime", CFG_DURATION,
	  F(media_retention_local_media_lifetime), "0", 0,
	  INT64_C(100) * 366 * 86400000, NULL,
	  "local media not read for this long is deleted by mediarepo-admin "
	  "purge-expired (0: kept forever)" },
	{ "media_retention_remote_media_lifetime", CFG_DURATION,
	  F(media_retention_remote_media_lifetime), "0", 0,
	  INT64_C(100) * 366 * 86400000, NULL,
	  "cached remote media not read for this long is deleted by "
	  "mediarepo-admin purge-expired (0: kept forever)" },
	{ "s3_endpoint", CFG_STRING, F(s3_endpoint), "", 0, 0, NULL,
	  "S3 server, http(s)://host[:port] (empty: AWS for s3_region)",
	  config_check_s3_endpoint },
	{ "s3_bucket", CFG_STRING, F(s3_bucket), "", 0, 0, NULL,
	  "when set, blobs live in this (existing) bucket, not in "
	  "media_store_path", config_check_s3_bucket },
	{ "s3_region", CFG_STRING, F(s3_region), "us-east-1", 0, 0, NULL,
	  "region the requests are signed for", config_check_s3_word },
	{ "s3_access_key_id", CFG_STRING, F(s3_access_key_id), "", 0, 0, NULL,
	  "S3 access key id", config_check_s3_word },
	{ "s3_secret_access_key", CFG_STRING, F(s3_secret_access_key), "", 0,
	  0, NULL, "S3 secret access key" },
	{ "s3_presigned_redirect", CFG_BOOL, F(s3_presigned_redirect), "false",
	  0, 0, NULL,
	  "answer downloads with a 307 to a presigned S3 URL where the spec "
	  "allows (false: send from the local cache)" },
	{ "s3_presigned_expiry", CFG_DURATION, F(s3_presigned_expiry), "15m",
	  1000, 3600000, NULL, "how long a presigned URL stays valid" },
	{ "s3_cache_max_bytes", CFG_SIZE, F(s3_cache_max_bytes), "1G", 0,
	  INT64_C(1) << 50, NULL,
	  "local copies of S3 blobs under media_store_path/s3cache, which the "
	  "web server sends (0: none, the programs stream from S3)" },
	{ "s3_part_size", CFG_SIZE, F(s3_part_size), "8M", INT64_C(5) << 20,
	  INT64_C(1) << 30, NULL,
	  "larger blobs go up as multipart uploads of parts this size" },
	{ "s3_connect_timeout", CFG_DURATION, F(s3_connect_timeout), "5s", 100,
	  60000, NULL, "connect timeout of S3 requests" },
	{ "s3_timeout", CFG_DURATION, F(s3_timeout), "30s", 1000, 600000, NULL,
	  "an S3 request making no progress this long fails (503)" },
	{ "upload_spool_dir", CFG_PATH, F(upload_spool_dir), "", 0, 0, NULL,
	  "where the web server mediarepo-run starts collects request bodies "
	  "(empty: its run directory); a tmpfs saves a disk write per upload "
	  "but holds every upload in flight in RAM" },
	{ "s3_public_endpoint", CFG_STRING, F(s3_public_endpoint), "", 0, 0,
	  NULL, "S3 server as clients reach it, http(s)://host[:port]: "
	  "presigned URLs name it and are signed for its host (empty: "
	  "s3_endpoint)",
	  config_check_s3_endpoint },
};

#define CONFIG_NKEYS (sizeof(config_keys) / sizeof(config_keys[0]))

static int
config_set_path(char *dst, size_t dstsz, const char *base_dir,
    const char *value)
{
	int n;

	if (value[0] == '/' || base_dir == NULL || base_dir[0] == '\0')
		n = snprintf(dst, dstsz, "%s", value);
	else
		n = snprintf(dst, dstsz, "%s/%s", base_dir, value);
	return (n < 0 || (size_t)n >= dstsz) ? -1 : 0;
}

int
mr_config_parse_method(const char *s, enum mr_thumb_method *out)
{
	if (strcmp(s, "scale") == 0)
		*out = MR_THUMB_SCALE;
	else if (strcmp(s, "crop") == 0)
		*out = MR_THUMB_CROP;
	else
		return -1;
	return 0;
}

const char *
mr_config_method_name(enum mr_thumb_method m)
{
	return m == MR_THUMB_CROP ? "crop" : "scale";
}

static int
config_parse_sizes(const char *list, struct mr_config *cfg)
{
	const char *p = list;
	size_t n = 0;

	while (*p != '\0') {
		unsigned w, h;
		char method[8];
		int used = 0;

		while (*p == ' ' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		if (sscanf(p, "%5ux%5u %7[a-z]%n", &w, &h, method, &used) != 3 ||
		    n >= MR_THUMB_MAX_SPECS || w < 1 || h < 1 ||
		    w > MR_THUMB_MAX_SIDE || h > MR_THUMB_MAX_SIDE ||
		    mr_config_parse_method(method,
		    &cfg->thumbnail_sizes[n].method) < 0)
			return -1;
		cfg->thumbnail_sizes[n].width = w;
		cfg->thumbnail_sizes[n].height = h;
		n++;
		p += used;
		if (*p != '\0' && *p != ',' && *p != ' ')
			return -1;
	}
	cfg->n_thumbnail_sizes = n;
	return n > 0 ? 0 : -1;
}

static int
config_parse_formats(const char *list, unsigned *out)
{
	char name[16];
	unsigned bits = 0;

	while (*list != '\0') {
		size_t n;

		list += strspn(list, " ,");
		n = strcspn(list, " ,");
		if (n == 0)
			break;
		if (n >= sizeof(name))
			return -1;
		memcpy(name, list, n);
		name[n] = '\0';
		if (mr_image_format_from_name(name) == MR_IMAGE_UNKNOWN ||
		    mr_image_format_from_name(name) == MR_IMAGE_SVG)
			return -1;
		bits |= 1u << mr_image_format_from_name(name);
		list += n;
	}
	*out = bits;
	return 0;
}

/* What a refused list should look like, so the fix is in the message. */
static const char *
config_check_why(int (*check)(const char *))
{
	if (check == config_check_net_list || check == config_check_cidrs)
		return "expected a CIDR list such as '10.0.0.0/8, ::1/128' "
		    "(at most 64 ranges)";
	if (check == config_check_upload_limits)
		return "expected periods and sizes such as '1h:100M, 1w:500M' "
		    "(periods of 1s or more, at most 8)";
	return "not a valid value for this key";
}

/* Applies one value; returns 0 or -1 with a reason in why. */
static int
config_apply(struct mr_config *cfg, const struct config_key *k,
    const char *value, const char *base_dir, const char **why)
{
	char *field = (char *)cfg + k->offset;
	int64_t v;
	int b;

	switch (k->type) {
	case CFG_STRING:
		if (strlen(value) >= k->size)
			return (*why = "value too long"), -1;
		if (k->check != NULL && k->check(value) < 0)
			return (*why = config_check_why(k->check)), -1;
		memcpy(field, value, strlen(value) + 1);
		return 0;
	case CFG_SERVER_NAME:
		if (!mr_mxc_valid_server_name(value))
			return (*why = "not a valid server name"), -1;
		snprintf(field, k->size, "%s", value);
		return 0;
	case CFG_PATH:
		/* Optional paths (empty default) may be left empty: unset. */
		if (value[0] == '\0' && k->def[0] == '\0') {
			field[0] = '\0';
			return 0;
		}
		if (value[0] == '\0')
			return (*why = "empty path"), -1;
		if (config_set_path(field, k->size, base_dir, value) < 0)
			return (*why = "path too long"), -1;
		return 0;
	case CFG_SIZE:
		if (mr_parse_size(value, &v) < 0 || v < k->min || v > k->max)
			return (*why = "not a size in range (e.g. 50M)"), -1;
		*(int64_t *)field = v;
		return 0;
	case CFG_INT:
		if (mr_parse_int64(value, k->min, k->max, &v) < 0)
			return (*why = "not an integer in range"), -1;
		*(int64_t *)field = v;
		return 0;
	case CFG_DURATION:
		if (mr_parse_duration_ms(value, &v) < 0 || v < k->min ||
		    v > k->max)
			return (*why = "not a duration in range (e.g. 30s, 24h)"), -1;
		*(int64_t *)field = v;
		return 0;
	case CFG_BOOL:
		if (mr_parse_bool(value, &b) < 0)
			return (*why = "not true or false"), -1;
		*(int *)field = b;
		return 0;
	case CFG_THUMB_SIZES:
		if (config_parse_sizes(value, cfg) < 0)
			return (*why = "expected e.g. '32x32 crop, 320x240 scale'"), -1;
		return 0;
	case CFG_IMAGE_FORMATS:
		if (config_parse_formats(value, (unsigned *)field) < 0)
			return (*why = "expected formats such as 'jpeg, png'"), -1;
		return 0;
	case CFG_RATE:
		if (config_parse_rate(value, &v) < 0 || v < k->min || v > k->max)
			return (*why = "not a rate such as 10 or 0.5"), -1;
		*(int64_t *)field = v;
		return 0;
	case CFG_ENUM:
		for (int i = 0; k->choices[i] != NULL; i++) {
			if (strcmp(k->choices[i], value) == 0) {
				*(int *)field = i;
				return 0;
			}
		}
		return (*why = "not one of the allowed values"), -1;
	}
	return (*why = "unknown type"), -1;
}

/* Lists kept parsed, so a request never parses them (checked already). */
static void
config_parse_lists(struct mr_config *cfg)
{
	if (mr_net_parse_list(cfg->metrics_allowed_ips,
	    &cfg->metrics_allowed) < 0)
		cfg->metrics_allowed.n = 0;
	if (mr_net_parse_list(cfg->trusted_proxies, &cfg->trusted) < 0)
		cfg->trusted.n = 0;
	cfg->n_upload_limits = mr_config_upload_limits(cfg->media_upload_limits,
	    cfg->upload_limits);
	if (cfg->n_upload_limits < 0)
		cfg->n_upload_limits = 0;
}

/* Defaults; relative default paths are taken from base_dir too. */
static void
config_defaults_in(struct mr_config *cfg, const char *base_dir)
{
	const char *why;

	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < CONFIG_NKEYS; i++)
		if (config_keys[i].def[0] != '\0')
			(void)config_apply(cfg, &config_keys[i], config_keys[i].def,
			    base_dir, &why);
	config_parse_lists(cfg);
}

void
mr_config_defaults(struct mr_config *cfg)
{
	config_defaults_in(cfg, NULL);
}

static char *
config_trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

static const struct config_key *
config_find(const char *name)
{
	for (size_t i = 0; i < CONFIG_NKEYS; i++)
		if (strcmp(config_keys[i].name, name) == 0)
			return &config_keys[i];
	return NULL;
}

/* Parses one line; returns 0, or -1 with a reason. */
static int
config_line(struct mr_config *cfg, char *line, const char *base_dir,
    unsigned char *seen, const char **why, const char **key)
{
	char *eq, *name, *value;
	const struct config_key *k;

	*key = NULL;
	line = config_trim(line);
	if (line[0] == '\0' || line[0] == '#')
		return 0;
	if ((eq = strchr(line, '=')) == NULL)
		return (*why = "expected 'key = value'"), -1;
	*eq = '\0';
	name = config_trim(line);
	value = config_trim(eq + 1);
	*key = name;
	if ((k = config_find(name)) == NULL)
		return (*why = "unknown key"), -1;
	if (seen[k - config_keys]++)
		return (*why = "key given twice"), -1;
	return config_apply(cfg, k, value, base_dir, why);
}

int
mr_config_load(const char *path, struct mr_config *cfg, struct mr_err *err)
{
	unsigned char seen[CONFIG_NKEYS] = { 0 };
	char line[8192], base_dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	unsigned lineno = 0;
	FILE *f;

	snprintf(base_dir, sizeof(base_dir), "%.*s",
	    slash ? (int)(slash - path) : 1, slash ? path : ".");
	if (slash == path)
		snprintf(base_dir, sizeof(base_dir), "/");
	config_defaults_in(cfg, base_dir);
	if ((f = fopen(path, "r")) == NULL)
		return mr_err_set(err, 500, "M_UNKNOWN", "cannot open config '%s': %s",
		    path, strerror(errno));
	while (fgets(line, sizeof(line), f) != NULL) {
		const char *why = NULL, *key = NULL;

		lineno++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			fclose(f);
			return mr_err_set(err, 500, "M_UNKNOWN",
			    "%s:%u: line too long", path, lineno);
		}
		if (config_line(cfg, line, base_dir, seen, &why, &key) < 0) {
			mr_err_set(err, 500, "M_UNKNOWN", "%s:%u: %s%s%s%s", path,
			    lineno, key ? "'" : "", key ? key : "", key ? "': " : "",
			    why);
			fclose(f);
			return -1;
		}
	}
	fclose(f);
	config_parse_lists(cfg);
	if (cfg->server_name[0] == '\0')
		return mr_err_set(err, 500, "M_UNKNOWN",
		    "%s: 'server_name' is required", path);
	if (cfg->max_remote_media_size == 0)
		cfg->max_remote_media_size = cfg->max_upload_size;
	/* As Synapse: previews without a deny list would reach anything. */
	if (cfg->url_preview_enabled &&
	    cfg->url_preview_ip_range_blacklist[0] == '\0')
		return mr_err_set(err, 500, "M_UNKNOWN",
		    "%s: 'url_preview_enabled' needs "
		    "'url_preview_ip_range_blacklist'", path);
	if (cfg->auth == MR_AUTH_HOMESERVER && cfg->homeserver_url[0] == '\0')
		return mr_err_set(err, 500, "M_UNKNOWN",
		    "%s: 'auth = homeserver' needs 'homeserver_url'", path);
	if (cfg->s3_bucket[0] != '\0' && (cfg->s3_access_key_id[0] == '\0' ||
	    cfg->s3_secret_access_key[0] == '\0'))
		return mr_err_set(err, 500, "M_UNKNOWN", "%s: 's3_bucket' needs "
		    "'s3_access_key_id' and 's3_secret_access_key'", path);
	return 0;
}

int
mr_config_load_env(struct mr_config *cfg, struct mr_err *err)
{
	const char *path = getenv("MEDIAREPO_CONFIG");

	if (path == NULL || path[0] == '\0')
		return mr_err_set(err, 500, "M_UNKNOWN",
		    "MEDIAREPO_CONFIG is not set (path of mediarepo.conf)");
	return mr_config_load(path, cfg, err);
}

int
mr_config_get_text(const struct mr_config *cfg, const char *key, char *out,
    size_t outsz)
{
	const struct config_key *k = config_find(key);
	const char *field;

	if (k == NULL)
		return -1;
	field = (const char *)cfg + k->offset;
	switch (k->type) {
	case CFG_SIZE:
	case CFG_INT:
	case CFG_DURATION:
		snprintf(out, outsz, "%lld", (long long)*(const int64_t *)field);
		break;
	case CFG_BOOL:
		snprintf(out, outsz, "%s", *(const int *)field ? "true" : "false");
		break;
	case CFG_RATE:
		snprintf(out, outsz, "%lld.%03lld",
		    (long long)(*(const int64_t *)field / 1000),
		    (long long)(*(const int64_t *)field % 1000));
		break;
	case CFG_ENUM:
		snprintf(out, outsz, "%s", k->choices[*(const int *)field]);
		break;
	case CFG_THUMB_SIZES:
		out[0] = '\0';
		for (size_t i = 0; i < cfg->n_thumbnail_sizes; i++) {
			size_t used = strlen(out);

			snprintf(out + used, outsz - used, "%s%ux%u %s",
			    i ? ", " : "", cfg->thumbnail_sizes[i].width,
			    cfg->thumbnail_sizes[i].height,
			    mr_config_method_name(cfg->thumbnail_sizes[i].method));
		}
		break;
	case CFG_IMAGE_FORMATS:
		out[0] = '\0';
		for (int f = MR_IMAGE_UNKNOWN + 1; f < MR_IMAGE_SVG; f++) {
			size_t used = strlen(out);

			if (*(const unsigned *)field & (1u << f))
				snprintf(out + used, outsz - used, "%s%s",
				    used ? ", " : "",
				    mr_image_format_name((enum mr_image_format)f));
		}
		break;
	default:
		snprintf(out, outsz, "%s", field);
		break;
	}
	return 0;
}

int
mr_config_write_default(const char *path, const char *server_name,
    struct mr_err *err)
{
	FILE *f = fopen(path, "wx");

	if (f == NULL)
		return mr_err_set(err, 500, "M_UNKNOWN", "cannot create '%s': %s",
		    path, strerror(errno));
	fprintf(f, "# mediarepo configuration. Relative paths are relative to "
	    "this file.\n\n");
	for (size_t i = 0; i < CONFIG_NKEYS; i++) {
		const struct config_key *k = &config_keys[i];

		fprintf(f, "# %s\n", k->help);
		if (strcmp(k->name, "server_name") == 0)
			fprintf(f, "%s = %s\n\n", k->name, server_name);
		else
			fprintf(f, "#%s = %s\n\n", k->name, k->def);
	}
	if (fclose(f) != 0)
		return mr_err_set(err, 500, "M_UNKNOWN", "cannot write '%s'", path);
	return 0;
}

const char *
mr_config_store_location(const struct mr_config *cfg)
{
	return cfg->database_url[0] != '\0' ? cfg->database_url :
	    cfg->database_path;
}
