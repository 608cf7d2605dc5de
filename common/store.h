/*
 * store: media metadata, tokens and the shared state of every process
 * (caches, leases, limits) behind an ops table. One struct mr_store per
 * process, opened once and reused by every request. Backends: store_sqlite
 * (one SQLite file shared by every process of a host); they are the only
 * modules that speak SQL. A second backend is one module and one line in
 * store.c's table.
 */
#ifndef MR_STORE_H
#define MR_STORE_H

#include <stdint.h>

#include "mxc.h"
#include "util.h"

struct mr_store;

#define MR_CONTENT_TYPE_MAX 255
#define MR_UPLOAD_NAME_MAX 1024
#define MR_USER_ID_MAX 255

struct mr_media {
	struct mr_mxc mxc;
	char sha256[65];		/* empty while pending */
	int64_t size;
	char content_type[MR_CONTENT_TYPE_MAX + 1];	/* empty: unknown */
	char upload_name[MR_UPLOAD_NAME_MAX + 1];	/* empty: none */
	char user_id[MR_USER_ID_MAX + 1];
	int64_t created_ts;
	int64_t expires_ts;		/* pending only; 0 otherwise */
	int quarantined;
	int authenticated;		/* frozen out of unauthenticated routes */
};

struct mr_thumb_row {
	struct mr_mxc mxc;
	uint32_t width, height;		/* the box */
	int crop;			/* method: 1 crop, 0 scale */
	int animated;
	char sha256[65];
	int64_t size;
	char content_type[MR_CONTENT_TYPE_MAX + 1];
	uint32_t actual_width, actual_height;
	int dynamic;
};

struct mr_token_info {
	char user_id[MR_USER_ID_MAX + 1];
	char token_hash[65];
	int is_guest;
	int64_t created_ts;
};

int mr_store_open(struct mr_store **out, const char *path, struct mr_err *err);
void mr_store_free(struct mr_store *st);

/* 0 and *out filled; -1 with 404 M_NOT_FOUND when there is no row. */
int mr_store_media_get(struct mr_store *st, const struct mr_mxc *mxc,
    struct mr_media *out, struct mr_err *err);
/* Inserts a complete row (quarantined from birth when m says so); a
 * taken id gives 409. */
int mr_store_media_insert(struct mr_store *st, const struct mr_media *m,
    struct mr_err *err);
/*
 * Reserves an id for an async upload, unless user already holds max
 * unexpired pending ids: then 429 M_LIMIT_EXCEEDED and *retry_after_ms says
 * when the oldest one lapses.
 */
int mr_store_media_create_pending(struct mr_store *st,
    const struct mr_media *m, int64_t max_pending, int64_t now_ms,
    int64_t *retry_after_ms, struct mr_err *err);
/*
 * Fills a pending row with its content. Only one caller wins: a row that
 * is no longer pending gives 409 M_CANNOT_OVERWRITE_MEDIA.
 */
int mr_store_media_complete(struct mr_store *st, const struct mr_media *m,
    struct mr_err *err);

/* The thumbnail row for a box; -1 with 404 when none is stored. */
int mr_store_thumb_get(struct mr_store *st, const struct mr_mxc *mxc,
    uint32_t width, uint32_t height, int crop, int animated,
    struct mr_thumb_row *out, struct mr_err *err);
/* Inserts or replaces (regenerated thumbnails overwrite their row). */
int mr_store_thumb_put(struct mr_store *st, const struct mr_thumb_row *t,
    struct mr_err *err);
/*
 * Inserts an on-demand thumbnail unless its media already has cap of
 * them: count and insert are one transaction, so processes racing on
 * one media cannot overshoot. Past the cap: 429 M_LIMIT_EXCEEDED.
 */
int mr_store_thumb_put_capped(struct mr_store *st,
    const struct mr_thumb_row *t, int64_t cap, struct mr_err *err);

/* --- federation --- */

/* The cached public key (unpadded base64) of server's key_id, if unexpired. */
int mr_store_server_key_get(struct mr_store *st, const char *server,
    const char *key_id, int64_t now_ms, char public_key[64],
    struct mr_err *err);
int mr_store_server_key_put(struct mr_store *st, const char *server,
    const char *key_id, const char *public_key, int64_t expires_ts,
    struct mr_err *err);
/*
 * Claims the right to fetch server's keys now: 0 when the last fetch is
 * older than min_interval_ms (and records this one), -1 otherwise.
 */
int mr_store_server_key_claim_fetch(struct mr_store *st, const char *server,
    int64_t now_ms, int64_t min_interval_ms, struct mr_err *err);

/* 1 and *delegated (empty: none) when cached and fresh, 0 when not. */
int mr_store_well_known_get(struct mr_store *st, const char *server,
    int64_t now_ms, char delegated[MR_SERVER_NAME_MAX + 1],
    struct mr_err *err);
int mr_store_well_known_put(struct mr_store *st, const char *server,
    const char *delegated, int64_t expires_ts, struct mr_err *err);

/*
 * Takes the fetch of a remote media: 0 when this caller should fetch;
 * 1 when another caller holds an unexpired lock; 2 with *err filled
 * when a recent failure is cached.
 */
int mr_store_remote_fetch_claim(struct mr_store *st, const struct mr_mxc *m,
    int64_t now_ms, int64_t lock_ms, struct mr_err *err);
/* Records a failure (kept until until_ts) or, with failure NULL, drops the row. */
int mr_store_remote_fetch_done(struct mr_store *st, const struct mr_mxc *m,
    const struct mr_err *failure, int64_t until_ts, struct mr_err *err);

/* --- URL previews --- */

/*
 * Looks up a preview and, when there is none fresh and nobody is making
 * it, takes the row for this caller. 0: this caller fetches; 1: someone
 * else is fetching (poll again); 2: *body holds the cached preview JSON
 * (malloc'ed); 3: a cached failure, in *err.
 */
int mr_store_preview_claim(struct mr_store *st, const char *key,
    int64_t now_ms, int64_t lock_ms, char **body, struct mr_err *err);
/* Stores the answer (failure NULL) or the failure, fresh until until_ts. */
int mr_store_preview_done(struct mr_store *st, const char *key,
    const char *body, const struct mr_err *failure, int64_t until_ts,
    struct mr_err *err);

/* --- operator tool ---
 * The statements below are prepared when called, not at open: only the
 * admin tool runs them, so serving programs do not pay for them.
 */

/* Which media an admin command works on: one item, one hash or one user. */
struct mr_store_sel {
	const struct mr_mxc *mxc;	/* exactly one of the three is set */
	const char *sha256;
	const char *user_id;
};

/* Calls fn for every complete media row of user, oldest first. */
int mr_store_media_list_user(struct mr_store *st, const char *user_id,
    void (*fn)(const struct mr_media *, void *), void *arg,
    struct mr_err *err);
/*
 * Calls fn for every cached media of servers other than local_server
 * whose row is older than before_ts.
 */
int mr_store_media_list_remote(struct mr_store *st, const char *local_server,
    int64_t before_ts, void (*fn)(const struct mr_media *, void *),
    void *arg, struct mr_err *err);
/* Calls fn for every thumbnail row of mxc. */
int mr_store_thumb_list(struct mr_store *st, const struct mr_mxc *mxc,
    void (*fn)(const struct mr_thumb_row *, void *), void *arg,
    struct mr_err *err);
/*
 * Deletes the media row of mxc, its thumbnail rows and its fetch record
 * in one transaction. fn gets each blob hash the rows named (before they
 * go), so the caller can release the files. 404 when there is no row.
 */
int mr_store_media_delete(struct mr_store *st, const struct mr_mxc *mxc,
    void (*fn)(const char *sha256, void *), void *arg, struct mr_err *err);
/* 1 when a media or thumbnail row names sha256, 0 when none, -1 on error. */
int mr_store_blob_referenced(struct mr_store *st, const char *sha256,
    struct mr_err *err);
/* Calls fn once for each distinct hash any media or thumbnail row names. */
int mr_store_blob_refs(struct mr_store *st,
    void (*fn)(const char *sha256, void *), void *arg, struct mr_err *err);

/*
 * Quarantines (on = 1) or releases the selected media and sets *count to
 * the rows changed. Quarantine also records the hashes, so the same bytes
 * cannot be uploaded again; a hash given by --hash is recorded even when
 * no media has it yet. Release drops a hash once no quarantined media
 * keeps it (by hash: at once). One media item that does not exist: 404.
 */
int mr_store_quarantine(struct mr_store *st, const struct mr_store_sel *sel,
    int on, int64_t *count, struct mr_err *err);
/* 1 when sha256 is quarantined, 0 when not, -1 on error. */
int mr_store_hash_quarantined(struct mr_store *st, const char *sha256,
    struct mr_err *err);

/* Removes every URL preview cache row; *count says how many. */
int mr_store_preview_purge(struct mr_store *st, int64_t *count,
    struct mr_err *err);

struct mr_store_count {
	int64_t count, bytes;
};

struct mr_store_stats {
	struct mr_store_count local, remote, thumbnails;
	struct mr_store_count pending;		/* async ids not yet uploaded */
	struct mr_store_count quarantined;
};

/* Totals of complete media rows (by server) and thumbnail rows. */
int mr_store_stats(struct mr_store *st, const char *local_server,
    struct mr_store_stats *out, struct mr_err *err);
/* The n users with the most bytes of local media, most first. */
int mr_store_top_users(struct mr_store *st, const char *local_server, int n,
    void (*fn)(const char *user_id, const struct mr_store_count *, void *),
    void *arg, struct mr_err *err);

int mr_store_token_add(struct mr_store *st, const char *token_hash,
    const char *user_id, int is_guest, struct mr_err *err);
/* 0 found; -1 with 401 M_UNKNOWN_TOKEN when unknown. */
int mr_store_token_lookup(struct mr_store *st, const char *token_hash,
    struct mr_token_info *out, struct mr_err *err);
/* 0 removed; -1 with 404 when there was no such token. */
int mr_store_token_revoke(struct mr_store *st, const char *token_hash,
    struct mr_err *err);
/* Calls fn for every token, oldest first. */
int mr_store_token_list(struct mr_store *st,
    void (*fn)(const struct mr_token_info *, void *), void *arg,
    struct mr_err *err);

/* --- auth = homeserver: cached whoami answers, by token SHA-256 hex --- */

struct mr_hs_auth {
	char user_id[MR_USER_ID_MAX + 1];	/* empty: the token was refused */
	int is_guest;
	char errcode[32];			/* refused: the homeserver's errcode */
	int soft_logout;			/* refused with "soft_logout": true */
};

/* 1 and *out when an unexpired answer is cached, 0 when none is. */
int mr_store_hs_auth_get(struct mr_store *st, const char *token_hash,
    int64_t now_ms, struct mr_hs_auth *out, struct mr_err *err);
/* Caches an answer until expires_ts, dropping rows expired by now_ms. */
int mr_store_hs_auth_put(struct mr_store *st, const char *token_hash,
    const struct mr_hs_auth *a, int64_t now_ms, int64_t expires_ts,
    struct mr_err *err);

/* --- shared limits (rate limits, quotas, the origin breaker) --- */

/*
 * Leaky bucket key: its level drains at rate_milli / 1000 units a second.
 * 0: cost added; 1: level + cost would pass burst, nothing added, and
 * *retry_after_ms says when it would fit. With force the cost is added
 * whatever the level (charging for work already done).
 */
int mr_store_bucket_take(struct mr_store *st, const char *key, int64_t cost,
    int64_t rate_milli, int64_t burst, int64_t now_ms, int force,
    int64_t *retry_after_ms, struct mr_err *err);
/* Bytes of the media user_id uploaded after since_ts. */
int mr_store_user_upload_bytes(struct mr_store *st, const char *user_id,
    int64_t since_ts, int64_t *bytes, struct mr_err *err);
/* 1 and *until_ts while origin's breaker is open, 0 when closed. */
int mr_store_origin_down(struct mr_store *st, const char *origin,
    int64_t now_ms, int64_t *until_ts, struct mr_err *err);
/*
 * Records a fetch's outcome: ok closes the breaker; a failure opens it for
 * backoff_ms, doubled for each failure in a row (at most 16 times).
 */
int mr_store_origin_result(struct mr_store *st, const char *origin, int ok,
    int64_t now_ms, int64_t backoff_ms, struct mr_err *err);

/*
 * A backend: the calls above, with the backend's own state for st. open
 * gets the configured database location; wanted says whether it is this
 * backend's (the table in store.c is asked in order).
 */
struct mr_store_ops {
	const char *name;
	int (*wanted)(const char *path);
	int (*open)(const char *path, void **impl, struct mr_err *err);
	void (*close)(void *impl);
	int (*media_get)(void *impl, const struct mr_mxc *mxc,
	    struct mr_media *out, struct mr_err *err);
	int (*media_insert)(void *impl, const struct mr_media *m,
	    struct mr_err *err);
	int (*media_create_pending)(void *impl, const struct mr_media *m,
	    int64_t max_pending, int64_t now_ms, int64_t *retry_after_ms,
	    struct mr_err *err);
	int (*media_complete)(void *impl, const struct mr_media *m,
	    struct mr_err *err);
	int (*thumb_get)(void *impl, const struct mr_mxc *mxc, uint32_t width,
	    uint32_t height, int crop, int animated, struct mr_thumb_row *out,
	    struct mr_err *err);
	int (*thumb_put)(void *impl, const struct mr_thumb_row *t,
	    struct mr_err *err);
	int (*thumb_put_capped)(void *impl, const struct mr_thumb_row *t,
	    int64_t cap, struct mr_err *err);
	int (*server_key_get)(void *impl, const char *server,
	    const char *key_id, int64_t now_ms, char public_key[64],
	    struct mr_err *err);
	int (*server_key_put)(void *impl, const char *server,
	    const char *key_id, const char *public_key, int64_t expires_ts,
	    struct mr_err *err);
	int (*server_key_claim_fetch)(void *impl, const char *server,
	    int64_t now_ms, int64_t min_interval_ms, struct mr_err *err);
	int (*well_known_get)(void *impl, const char *server, int64_t now_ms,
	    char delegated[MR_SERVER_NAME_MAX + 1], struct mr_err *err);
	int (*well_known_put)(void *impl, const char *server,
	    const char *delegated, int64_t expires_ts, struct mr_err *err);
	int (*remote_fetch_claim)(void *impl, const struct mr_mxc *m,
	    int64_t now_ms, int64_t lock_ms, struct mr_err *err);
	int (*remote_fetch_done)(void *impl, const struct mr_mxc *m,
	    const struct mr_err *failure, int64_t until_ts, struct mr_err *err);
	int (*preview_claim)(void *impl, const char *key, int64_t now_ms,
	    int64_t lock_ms, char **body, struct mr_err *err);
	int (*preview_done)(void *impl, const char *key, const char *body,
	    const struct mr_err *failure, int64_t until_ts, struct mr_err *err);
	int (*media_list_user)(void *impl, const char *user_id,
	    void (*fn)(const struct mr_media *, void *), void *arg,
	    struct mr_err *err);
	int (*media_list_remote)(void *impl, const char *local_server,
	    int64_t before_ts, void (*fn)(const struct mr_media *, void *),
	    void *arg, struct mr_err *err);
	int (*thumb_list)(void *impl, const struct mr_mxc *mxc,
	    void (*fn)(const struct mr_thumb_row *, void *), void *arg,
	    struct mr_err *err);
	int (*media_delete)(void *impl, const struct mr_mxc *mxc,
	    void (*fn)(const char *sha256, void *), void *arg,
	    struct mr_err *err);
	int (*blob_referenced)(void *impl, const char *sha256,
	    struct mr_err *err);
	int (*blob_refs)(void *impl, void (*fn)(const char *sha256, void *),
	    void *arg, struct mr_err *err);
	int (*quarantine)(void *impl, const struct mr_store_sel *sel, int on,
	    int64_t *count, struct mr_err *err);
	int (*hash_quarantined)(void *impl, const char *sha256,
	    struct mr_err *err);
	int (*preview_purge)(void *impl, int64_t *count, struct mr_err *err);
	int (*stats)(void *impl, const char *local_server,
	    struct mr_store_stats *out, struct mr_err *err);
	int (*top_users)(void *impl, const char *local_server, int n,
	    void (*fn)(const char *user_id, const struct mr_store_count *, void *),
	    void *arg, struct mr_err *err);
	int (*token_add)(void *impl, const char *token_hash,
	    const char *user_id, int is_guest, struct mr_err *err);
	int (*token_lookup)(void *impl, const char *token_hash,
	    struct mr_token_info *out, struct mr_err *err);
	int (*token_revoke)(void *impl, const char *token_hash,
	    struct mr_err *err);
	int (*token_list)(void *impl,
	    void (*fn)(const struct mr_token_info *, void *), void *arg,
	    struct mr_err *err);
	int (*hs_auth_get)(void *impl, const char *token_hash, int64_t now_ms,
	    struct mr_hs_auth *out, struct mr_err *err);
	int (*hs_auth_put)(void *impl, const char *token_hash,
	    const struct mr_hs_auth *a, int64_t now_ms, int64_t expires_ts,
	    struct mr_err *err);
	int (*bucket_take)(void *impl, const char *key, int64_t cost,
	    int64_t rate_milli, int64_t burst, int64_t now_ms, int force,
	    int64_t *retry_after_ms, struct mr_err *err);
	int (*user_upload_bytes)(void *impl, const char *user_id,
	    int64_t since_ts, int64_t *bytes, struct mr_err *err);
	int (*origin_down)(void *impl, const char *origin, int64_t now_ms,
	    int64_t *until_ts, struct mr_err *err);
	int (*origin_result)(void *impl, const char *origin, int ok,
	    int64_t now_ms, int64_t backoff_ms, struct mr_err *err);
};

extern const struct mr_store_ops mr_store_sqlite_ops;

#endif
