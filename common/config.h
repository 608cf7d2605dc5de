/*
 * config: the file named by MEDIAREPO_CONFIG, "key = value" lines, '#'
 * comments. One table in config.c lists every key with its type, range and
 * default; an unknown key or a bad value fails the load, naming the line, so
 * a program stops before its first request. Relative paths are taken from
 * the config file's directory. Key names follow Synapse's homeserver.yaml
 * where Synapse has the same setting.
 */
#ifndef MR_CONFIG_H
#define MR_CONFIG_H

#include <limits.h>
#include <stdint.h>

#include "mxc.h"
#include "net.h"
#include "util.h"

#define MR_THUMB_MAX_SPECS 16
#define MR_THUMB_MAX_SIDE 10000		/* larger boxes are refused */

enum mr_thumb_method { MR_THUMB_SCALE, MR_THUMB_CROP };

/* A thumbnail box: width x height with a method. */
struct mr_thumb_spec {
	uint32_t width, height;
	enum mr_thumb_method method;
};

#define MR_UPLOAD_LIMITS_MAX 8

/* One period of media_upload_limits: at most bytes per period_ms. */
struct mr_upload_limit {
	int64_t period_ms, bytes;
};

enum mr_auth_mode {
	MR_AUTH_LOCAL,		/* the token table of mediarepo-admin */
	MR_AUTH_HOMESERVER,	/* ask homeserver_url's /account/whoami */
};

/* Longest homeserver_url accepted. */
#define MR_HOMESERVER_URL_MAX 1024

enum mr_xsendfile {
	MR_XSENDFILE_OFF,
	MR_XSENDFILE_X_SENDFILE,	/* lighttpd, Apache mod_xsendfile */
	MR_XSENDFILE_X_ACCEL,		/* nginx X-Accel-Redirect */
};

struct mr_config {
	char server_name[MR_SERVER_NAME_MAX + 1];
	char media_store_path[PATH_MAX];
	char database_path[PATH_MAX];
	char signing_key_path[PATH_MAX];
	int64_t max_upload_size;
	int enable_authenticated_media;
	int legacy_media_requires_auth;
	int allow_query_access_token;
	int64_t max_pending_media_uploads;
	int64_t unused_expiration_time;	/* ms */
	int64_t max_pending_media_wait;	/* ms, cap on timeout_ms */
	int64_t temp_file_max_age;	/* ms */
	int64_t media_cache_max_age;	/* ms */
	int xsendfile;			/* enum mr_xsendfile */
	char xsendfile_prefix[PATH_MAX];
	int log_requests;
	int log_format;			/* enum mr_log_format */
	struct mr_thumb_spec thumbnail_sizes[MR_THUMB_MAX_SPECS];
	size_t n_thumbnail_sizes;
	int dynamic_thumbnails;
	int64_t max_thumbnails_per_media;
	int64_t max_image_pixels;
	int64_t max_animation_pixels;
	unsigned thumbnail_formats;	/* bits (1u << enum mr_image_format) */
	int64_t thumbnail_jpeg_quality;
	int64_t thumbnail_memory_limit;
	int64_t thumbnail_time_limit;	/* ms */
	int64_t max_remote_media_size;
	char prevent_media_downloads_from[4096];
	char federation_domain_whitelist[4096];
	char federation_blocked_servers[4096];
	char ip_range_blacklist[4096];
	char ip_range_whitelist[4096];
	char federation_resolve[4096];
	char federation_ca_file[PATH_MAX];
	int federation_verify_tls;
	int64_t federation_connect_timeout;	/* ms */
	int64_t federation_timeout;		/* ms */
	int64_t remote_media_failure_cache;	/* ms */
	char trusted_key_server[MR_SERVER_NAME_MAX + 1];
	char trusted_key_server_key[160];
	int serve_federation_media_v1;
	int serve_federation_remote_media;
	int url_preview_enabled;
	char url_preview_ip_range_blacklist[4096];
	char url_preview_ip_range_whitelist[4096];
	char url_preview_url_blacklist[4096];
	int64_t max_spider_size;
	char url_preview_accept_language[256];
	int64_t url_preview_timeout;		/* ms */
	char oembed_providers_path[PATH_MAX];
	int auth;				/* enum mr_auth_mode */
	char homeserver_url[MR_HOMESERVER_URL_MAX];
	int64_t homeserver_auth_cache_ttl;	/* ms */
	int64_t homeserver_auth_negative_ttl;	/* ms */
	int64_t homeserver_auth_timeout;	/* ms */
	/* The process budget (README, "Abuse and limits"). */
	char processes[512];		/* "program:count, ..." */
	char runtime_dir[PATH_MAX];	/* slot files of this host */
	int64_t federation_max_fetches_per_origin;
	int64_t federation_origin_backoff;	/* ms */
	int64_t rc_media_create_per_second;	/* thousandths */
	int64_t rc_media_create_burst_count;
	char media_upload_limits[512];		/* "1h:100M, 1w:500M" */
	struct mr_upload_limit upload_limits[MR_UPLOAD_LIMITS_MAX];
	int n_upload_limits;			/* parsed at load */
	int64_t remote_media_download_burst_count;	/* bytes */
	int64_t remote_media_download_per_second;	/* bytes */
	char trusted_proxies[4096];
	struct mr_net_list trusted;		/* parsed at load */
	int64_t request_deadline;		/* ms */
	char user[64];				/* for mediarepo-run */
	char database_url[1024];	/* postgresql://...; empty: SQLite */
	char metrics_allowed_ips[1024];
	struct mr_net_list metrics_allowed;	/* parsed at load */
	char admin_users[4096];			/* user ids of the admin API */
	int64_t media_retention_local_media_lifetime;	/* ms; 0: keep */
	int64_t media_retention_remote_media_lifetime;	/* ms; 0: keep */
	/* Blobs in an S3 bucket (README, "Objects in S3"). */
	char s3_endpoint[512];		/* http(s)://host[:port] */
	char s3_bucket[64];		/* set: the S3 blob backend */
	char s3_region[64];
	char s3_access_key_id[256];
	char s3_secret_access_key[256];
	int s3_presigned_redirect;
	int64_t s3_presigned_expiry;	/* ms */
	int64_t s3_cache_max_bytes;	/* 0: no local cache */
	int64_t s3_part_size;
	int64_t s3_connect_timeout;	/* ms */
	int64_t s3_timeout;		/* ms without progress */
	char upload_spool_dir[PATH_MAX];	/* web server's; empty: run dir */
	char s3_public_endpoint[512];	/* of presigned URLs; empty: s3_endpoint */
};

/*
 * media_upload_limits as pairs; the count, or -1 when malformed. The
 * load keeps the result in upload_limits, so requests never call this.
 */
int mr_config_upload_limits(const char *text,
    struct mr_upload_limit out[MR_UPLOAD_LIMITS_MAX]);
/*
 * How many processes the program runs with: MEDIAREPO_PROCESSES (set by
 * whoever spawned it: mediarepo-spawn, mod_fcgid's FcgidCmdOptions) or
 * else its entry in 'processes' (2 when it has none).
 */
int64_t mr_config_processes(const struct mr_config *cfg, const char *program);

/*
 * federation_resolve's entry for server_name: 1 and host/port when there
 * is one, 0 when not, -1 when the setting is malformed.
 */
int mr_config_resolve_lookup(const struct mr_config *cfg,
    const char *server_name, char *host, size_t hostsz, uint16_t *port);
/* 1 when name is in a comma-separated list of server names. */
int mr_config_list_has(const char *list, const char *name);

/* "scale" or "crop" into *out; -1 otherwise. */
int mr_config_parse_method(const char *s, enum mr_thumb_method *out);
const char *mr_config_method_name(enum mr_thumb_method m);

/* Every key at its default; server_name empty (it is required). */
void mr_config_defaults(struct mr_config *cfg);
/* Reads path over the defaults. */
int mr_config_load(const char *path, struct mr_config *cfg,
    struct mr_err *err);
/* Loads $MEDIAREPO_CONFIG; err says when it is unset. */
int mr_config_load_env(struct mr_config *cfg, struct mr_err *err);
/*
 * The effective value of key as text (sizes in bytes, durations in ms,
 * paths resolved), for scripts; -1 for an unknown key.
 */
int mr_config_get_text(const struct mr_config *cfg, const char *key,
    char *out, size_t outsz);
/* Writes a commented config file for server_name under data_dir. */
int mr_config_write_default(const char *path, const char *server_name,
    struct mr_err *err);

/* What mr_store_open takes: database_url when set, else database_path. */
const char *mr_config_store_location(const struct mr_config *cfg);

#endif
