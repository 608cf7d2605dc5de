/*
 * store: media metadata, tokens and the shared state of every process
 * (caches, leases, limits) behind an ops table. One struct mr_store per
 * process, opened once and reused by every request. Backends: store_sqlite
 * (one SQLite file shared by every process of a host) and store_pg
 * (PostgreSQL, database_url: shared by every host); they are the only
 * modules that speak SQL. A second backend is one module and one line in
 * store.c's table.
 */
#ifndef MR_STORE_H
#define MR_STORE_H

#include <stdint.h>

#include "mxc.h"
#include "util.h"

struct mr_store;

/*
 * What every call answers. The store says what it found; the caller
 * decides what that means to a client (404, 409, 429, ...). Only
 * MR_STORE_UNAVAILABLE fills err: the backend failed (500; 503 with
 * retry_after_ms while a database server cannot be reached; the storage-
 * full answer when its disk is full).
 */
enum mr_store_rc {
	MR_STORE_UNAVAILABLE = -1,
	MR_STORE_OK = 0,		/* done; a lookup found what it sought */
	MR_STORE_NOT_FOUND,		/* no such row */
	MR_STORE_CONFLICT,		/* the row exists, or not in that state */
	MR_STORE_BUSY,			/* a limit, or another process holds it */
};

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
	int64_t last_access_ts;		/* last served; 0: not since it came */
	char quarantined_by[MR_USER_ID_MAX + 1];	/* "" when not known */
	int safe_from_quarantine;	/* protected from quarantine, retention */
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

/* OK and *out filled, or NOT_FOUND. */
enum mr_store_rc mr_store_media_get(struct mr_store *st,
    const struct mr_mxc *mxc, struct mr_media *out, struct mr_err *err);
/* Inserts a complete row as m says (quarantined from birth, and the
 * admin API's fields, which migrate-store carries over); a taken id gives
 * CONFLICT. */
enum mr_store_rc mr_store_media_insert(struct mr_store *st,
    const struct mr_media *m, struct mr_err *err);
/*
 * Reserves an id for an async upload, unless user already holds max
 * unexpired pending ids: then BUSY, and *retry_after_ms says when the
 * oldest one lapses.
 */
enum mr_store_rc mr_store_media_create_pending(struct mr_store *st,
    const struct mr_media *m, int64_t max_pending, int64_t now_ms,
    int64_t *retry_after_ms, struct mr_err *err);
/*
 * Fills a pending row with its content. Only one caller wins: a row that
 * is no longer pending (or absent) gives CONFLICT.
 */
enum mr_store_rc mr_store_media_complete(struct mr_store *st,
    const struct mr_media *m, struct mr_err *err);

/* The thumbnail row for a box, or NOT_FOUND. */
enum mr_store_rc mr_store_thumb_get(struct mr_store *st,
    const struct mr_mxc *mxc, uint32_t width, uint32_t height, int crop,
    int animated, struct mr_thumb_row *out, struct mr_err *err);
/* Inserts or replaces (regenerated thumbnails overwrite their row). */
enum mr_store_rc mr_store_thumb_put(struct mr_store *st,
    const struct mr_thumb_row *t, struct mr_err *err);
/*
 * Inserts an on-demand thumbnail unless its media already has cap of
 * them: count and insert are one transaction, so processes racing on
 * one media cannot overshoot. Past the cap: BUSY.
 */
enum mr_store_rc mr_store_thumb_put_capped(struct mr_store *st,
    const struct mr_thumb_row *t, int64_t cap, struct mr_err *err);

/* --- federation --- */

/* The cached public key (unpadded base64) of server's key_id if unexpired,
 * or NOT_FOUND. */
enum mr_store_rc mr_store_server_key_get(struct mr_store *st,
    const char *server, const char *key_id, int64_t now_ms,
    char public_key[64], struct mr_err *err);
enum mr_store_rc mr_store_server_key_put(struct mr_store *st,
    const char *server, const char *key_id, const char *public_key,
    int64_t expires_ts, struct mr_err *err);
/*
 * Claims the right to fetch server's keys now: OK when the last fetch is
 * older than min_interval_ms (and records this one), BUSY otherwise.
 */
enum mr_store_rc mr_store_server_key_claim_fetch(struct mr_store *st,
    const char *server, int64_t now_ms, int64_t min_interval_ms,
    struct mr_err *err);

/* OK and *delegated (empty: none) when cached and fresh, or NOT_FOUND. */
enum mr_store_rc mr_store_well_known_get(struct mr_store *st,
    const char *server, int64_t now_ms,
    char delegated[MR_SERVER_NAME_MAX + 1], struct mr_err *err);
enum mr_store_rc mr_store_well_known_put(struct mr_store *st,
    const char *server, const char *delegated, int64_t expires_ts,
    struct mr_err *err);

/* --- leases: one process does a piece of work, the others wait --- */

enum mr_store_lease_kind {
	MR_STORE_LEASE_REMOTE_MEDIA,	/* key: "server/media_id" */
	MR_STORE_LEASE_PREVIEW,		/* key: the preview's cache key */
	MR_STORE_LEASE_THUMBNAIL,	/* key: "server/media_id/box" */
};

/* What a finished piece of work left for those who come after. */
struct mr_store_outcome {
	char *body;			/* success: malloc'ed, or NULL */
	struct mr_err failure;		/* status != 0: it failed so */
};

/*
 * Takes the lease of kind on key for lease_ms. OK: this caller does the
 * work, then calls mr_store_lease_end. BUSY: another caller's lease is
 * unexpired; wait and take again. CONFLICT: the work was done recently
 * and *done holds its outcome (the caller frees done->body).
 */
enum mr_store_rc mr_store_lease_take(struct mr_store *st,
    enum mr_store_lease_kind kind, const char *key, int64_t now_ms,
    int64_t lease_ms, struct mr_store_outcome *done, struct mr_err *err);
/*
 * Ends a lease, keeping its outcome until until_ts: body, or failure when
 * that is not NULL. With neither, or until_ts 0, nothing is kept.
 */
enum mr_store_rc mr_store_lease_end(struct mr_store *st,
    enum mr_store_lease_kind kind, const char *key, const char *body,
    const struct mr_err *failure, int64_t until_ts, struct mr_err *err);

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
enum mr_store_rc mr_store_media_list_user(struct mr_store *st,
    const char *user_id, void (*fn)(const struct mr_media *, void *),
    void *arg, struct mr_err *err);
/*
 * Calls fn for every cached media of servers other than local_server
 * whose row is older than before_ts.
 */
enum mr_store_rc mr_store_media_list_remote(struct mr_store *st,
    const char *local_server, int64_t before_ts,
    void (*fn)(const struct mr_media *, void *), void *arg, struct mr_err *err);
/* Calls fn for every thumbnail row of mxc. */
enum mr_store_rc mr_store_thumb_list(struct mr_store *st,
    const struct mr_mxc *mxc, void (*fn)(const struct mr_thumb_row *, void *),
    void *arg, struct mr_err *err);
/*
 * Deletes the media row of mxc, its thumbnail rows and its fetch record
 * in one transaction. fn gets each blob hash the rows named (before they
 * go), so the caller can release the files. NOT_FOUND when there is no row.
 */
enum mr_store_rc mr_store_media_delete(struct mr_store *st,
    const struct mr_mxc *mxc, void (*fn)(const char *sha256, void *),
    void *arg, struct mr_err *err);
/* OK when a media or thumbnail row names sha256, NOT_FOUND when none. */
enum mr_store_rc mr_store_blob_referenced(struct mr_store *st,
    const char *sha256, struct mr_err *err);
/* Calls fn once for each distinct hash any media or thumbnail row names. */
enum mr_store_rc mr_store_blob_refs(struct mr_store *st,
    void (*fn)(const char *sha256, void *), void *arg, struct mr_err *err);

/*
 * Quarantines (on = 1) or releases the selected media and sets *count to
 * the rows changed. Quarantine also records the hashes, so the same bytes
 * cannot be uploaded again; a hash given by --hash is recorded even when
 * no media has it yet. Release drops a hash once no quarantined media
 * keeps it (by hash: at once). One media item that does not exist:
 * NOT_FOUND. A row quarantined here keeps its own quarantined_by, or
 * takes that of another quarantined row with the same bytes (the
 * quarantine that banned them), else none; release clears it.
 */
enum mr_store_rc mr_store_quarantine(struct mr_store *st,
    const struct mr_store_sel *sel, int on, int64_t *count, struct mr_err *err);
/* OK when sha256 is quarantined, NOT_FOUND when not. */
enum mr_store_rc mr_store_hash_quarantined(struct mr_store *st,
    const char *sha256, struct mr_err *err);

/* Removes every URL preview cache row; *count says how many. */
enum mr_store_rc mr_store_preview_purge(struct mr_store *st, int64_t *count,
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
enum mr_store_rc mr_store_stats(struct mr_store *st, const char *local_server,
    struct mr_store_stats *out, struct mr_err *err);
/* The n users with the most bytes of local media, most first. */
enum mr_store_rc mr_store_top_users(struct mr_store *st,
    const char *local_server, int n,
    void (*fn)(const char *user_id, const struct mr_store_count *, void *),
    void *arg, struct mr_err *err);

enum mr_store_rc mr_store_token_add(struct mr_store *st,
    const char *token_hash, const char *user_id, int is_guest,
    struct mr_err *err);
/* OK and *out, or NOT_FOUND for an unknown (or revoked) token. */
enum mr_store_rc mr_store_token_lookup(struct mr_store *st,
    const char *token_hash, struct mr_token_info *out, struct mr_err *err);
/* OK removed, or NOT_FOUND when there was no such token. */
enum mr_store_rc mr_store_token_revoke(struct mr_store *st,
    const char *token_hash, struct mr_err *err);
/* Calls fn for every token, oldest first. */
enum mr_store_rc mr_store_token_list(struct mr_store *st,
    void (*fn)(const struct mr_token_info *, void *), void *arg,
    struct mr_err *err);

/* --- auth = homeserver: cached whoami answers, by token SHA-256 hex --- */

struct mr_hs_auth {
	char user_id[MR_USER_ID_MAX + 1];	/* empty: the token was refused */
	int is_guest;
	char errcode[32];			/* refused: the homeserver's errcode */
	int soft_logout;			/* refused with "soft_logout": true */
};

/* OK and *out when an unexpired answer is cached, or NOT_FOUND. */
enum mr_store_rc mr_store_hs_auth_get(struct mr_store *st,
    const char *token_hash, int64_t now_ms, struct mr_hs_auth *out,
    struct mr_err *err);
/* Caches an answer until expires_ts, dropping rows expired by now_ms. */
enum mr_store_rc mr_store_hs_auth_put(struct mr_store *st,
    const char *token_hash, const struct mr_hs_auth *a, int64_t now_ms,
    int64_t expires_ts, struct mr_err *err);

/* --- shared limits (rate limits, quotas, the origin breaker) --- */

/*
 * Leaky bucket key: its level drains at rate_milli / 1000 units a second.
 * OK: cost added; BUSY: level + cost would pass burst, nothing added,
 * and *retry_after_ms says when it would fit. With force the cost is added
 * whatever the level (charging for work already done).
 */
enum mr_store_rc mr_store_bucket_take(struct mr_store *st, const char *key,
    int64_t cost, int64_t rate_milli, int64_t burst, int64_t now_ms,
    int force, int64_t *retry_after_ms, struct mr_err *err);
/* Bytes of the media user_id uploaded after since_ts. */
enum mr_store_rc mr_store_user_upload_bytes(struct mr_store *st,
    const char *user_id, int64_t since_ts, int64_t *bytes, struct mr_err *err);
/* One period of a per-user upload quota: bytes after since_ts. */
struct mr_store_quota {
	int64_t since_ts;
	int64_t max_bytes;
};

/*
 * Inserts m (complete 0, as mr_store_media_insert) or fills its pending
 * row (complete 1, as mr_store_media_complete) unless m->size on top of
 * the bytes m->user_id uploaded after q[i].since_ts would pass
 * q[i].max_bytes for some i < nq: then BUSY with *over = i and nothing
 * written. The sums and the write are one step per user for every
 * process (and every host, on PostgreSQL), so uploads of one user that
 * arrive together cannot all slip under a quota. BUSY with *over = -1:
 * another upload of the user held that step for too long (about a
 * second); try again shortly. CONFLICT as the two calls it stands for.
 */
enum mr_store_rc mr_store_media_put_quota(struct mr_store *st,
    const struct mr_media *m, int complete, const struct mr_store_quota *q,
    int nq, int *over, struct mr_err *err);
/* BUSY and *until_ts while origin's breaker is open, OK when closed. */
enum mr_store_rc mr_store_origin_down(struct mr_store *st, const char *origin,
    int64_t now_ms, int64_t *until_ts, struct mr_err *err);
/*
 * Records a fetch's outcome: ok closes the breaker; a failure opens it for
 * backoff_ms, doubled for each failure in a row (at most 16 times).
 */
enum mr_store_rc mr_store_origin_result(struct mr_store *st,
    const char *origin, int ok, int64_t now_ms, int64_t backoff_ms,
    struct mr_err *err);

/* --- mediarepo-admin migrate-store: every row that must persist ---
 * (media, thumbnails, tokens, quarantined hashes; caches, leases and
 * limits are not copied). The each calls hand rows over in key order and
 * let fn use other stores meanwhile; the add calls keep what they are
 * given (times included) and answer CONFLICT when the row is there.
 */

/* Calls fn for every media row, pending ones included. */
enum mr_store_rc mr_store_media_each(struct mr_store *st,
    void (*fn)(const struct mr_media *, void *), void *arg, struct mr_err *err);
/* Calls fn for every thumbnail row. */
enum mr_store_rc mr_store_thumb_each(struct mr_store *st,
    void (*fn)(const struct mr_thumb_row *, void *), void *arg,
    struct mr_err *err);
/* Adds a token as it was (hash, user, guest, creation time). */
enum mr_store_rc mr_store_token_import(struct mr_store *st,
    const struct mr_token_info *t, struct mr_err *err);
/* Calls fn for every quarantined hash with when it was quarantined. */
enum mr_store_rc mr_store_quarantined_hash_each(struct mr_store *st,
    void (*fn)(const char *sha256, int64_t created_ts, void *), void *arg,
    struct mr_err *err);
/* Records a quarantined hash without touching media rows. */
enum mr_store_rc mr_store_quarantined_hash_add(struct mr_store *st,
    const char *sha256, int64_t created_ts, struct mr_err *err);
/* --- Synapse's admin API and retention (admin.fcgi, mediarepo-admin) --- */

/* How often last_access_ts is written per media (ms): at most hourly. */
#define MR_STORE_ACCESS_GRANULARITY (3600 * 1000)

/*
 * Records a read of mxc at now_ms unless its row already says it was read
 * less than MR_STORE_ACCESS_GRANULARITY before (callers check the row they
 * hold first, so most reads never get here). OK whether or not a row was
 * written (a missing row is no error: the read raced a delete).
 */
enum mr_store_rc mr_store_media_touch(struct mr_store *st,
    const struct mr_mxc *mxc, int64_t now_ms, struct mr_err *err);
/*
 * Quarantines (on = 1) or releases media on behalf of by (recorded as
 * quarantined_by) and sets *count to the rows changed. Unlike
 * mr_store_quarantine, both ways cover every row holding the same bytes
 * as the selected ones, and quarantine skips protected media
 * (safe_from_quarantine), as Synapse does. The hashes are recorded or
 * dropped as mr_store_quarantine does; a --hash selection is recorded even
 * with no media. An unknown media item is OK with *count 0 (Synapse
 * answers a quarantine of media it lacks with success).
 */
enum mr_store_rc mr_store_quarantine_as(struct mr_store *st,
    const struct mr_store_sel *sel, int on, const char *by, int64_t now_ms,
    int64_t *count, struct mr_err *err);
/* Sets or clears safe_from_quarantine of mxc; NOT_FOUND without a row. */
enum mr_store_rc mr_store_media_protect(struct mr_store *st,
    const struct mr_mxc *mxc, int on, struct mr_err *err);

/* Orders of mr_store_media_query: Synapse's order_by values. */
enum mr_store_media_order {
	MR_STORE_ORDER_CREATED_TS,
	MR_STORE_ORDER_MEDIA_ID,
	MR_STORE_ORDER_UPLOAD_NAME,
	MR_STORE_ORDER_LAST_ACCESS_TS,
	MR_STORE_ORDER_MEDIA_LENGTH,
	MR_STORE_ORDER_MEDIA_TYPE,
	MR_STORE_ORDER_QUARANTINED_BY,
	MR_STORE_ORDER_SAFE_FROM_QUARANTINE,
	MR_STORE_ORDER__MAX
};

enum mr_store_origin {
	MR_STORE_ORIGIN_ANY,
	MR_STORE_ORIGIN_LOCAL,		/* server_name = local_server */
	MR_STORE_ORIGIN_REMOTE,		/* cached media of other servers */
};

/*
 * A page of complete media rows (pending ids are never listed). Zero
 * values mean "no condition"; the order is order (descending when asked)
 * then media_id ascending, so pages are stable.
 */
struct mr_store_media_query {
	enum mr_store_origin origin;
	const char *local_server;	/* with an origin other than ANY */
	const char *user_id;		/* NULL: anyone's */
	int64_t accessed_before;	/* > 0: last read (or, never read,
					 * created) before this, in ms */
	int64_t size_gt;		/* > 0: only larger media */
	int skip_quarantined;
	int skip_protected;
	enum mr_store_media_order order;
	int descending;
	int64_t offset;
	int64_t limit;			/* < 0: every row */
};

/*
 * Calls fn for each row of the page and sets *total (when not NULL) to the
 * number of rows matching q without offset and limit.
 */
enum mr_store_rc mr_store_media_query(struct mr_store *st,
    const struct mr_store_media_query *q,
    void (*fn)(const struct mr_media *, void *), void *arg, int64_t *total,
    struct mr_err *err);

/* Orders of mr_store_usage_query (statistics/users/media). */
enum mr_store_usage_order {
	MR_STORE_USAGE_USER_ID,
	MR_STORE_USAGE_MEDIA_LENGTH,
	MR_STORE_USAGE_MEDIA_COUNT,
};

/*
 * Local media per uploading user: complete media of local_server created
 * in [from_ts, until_ts] (until_ts 0: no bound), of users whose id's
 * localpart contains search (NULL: all). Ordered by order (descending when
 * asked), then user id ascending.
 */
struct mr_store_usage_query {
	const char *local_server;
	int64_t from_ts, until_ts;
	const char *search;
	enum mr_store_usage_order order;
	int descending;
	int64_t offset, limit;
};

/* Calls fn for each user of the page; *total counts the users matching. */
enum mr_store_rc mr_store_user_media_usage(struct mr_store *st,
    const struct mr_store_usage_query *q,
    void (*fn)(const char *user_id, const struct mr_store_count *, void *),
    void *arg, int64_t *total, struct mr_err *err);

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
	enum mr_store_rc (*media_get)(void *impl, const struct mr_mxc *mxc,
	    struct mr_media *out, struct mr_err *err);
	enum mr_store_rc (*media_insert)(void *impl, const struct mr_media *m,
	    struct mr_err *err);
	enum mr_store_rc (*media_create_pending)(void *impl,
	    const struct mr_media *m, int64_t max_pending, int64_t now_ms,
	    int64_t *retry_after_ms, struct mr_err *err);
	enum mr_store_rc (*media_complete)(void *impl,
	    const struct mr_media *m, struct mr_err *err);
	enum mr_store_rc (*thumb_get)(void *impl, const struct mr_mxc *mxc,
	    uint32_t width, uint32_t height, int crop, int animated,
	    struct mr_thumb_row *out, struct mr_err *err);
	enum mr_store_rc (*thumb_put)(void *impl,
	    const struct mr_thumb_row *t, struct mr_err *err);
	enum mr_store_rc (*thumb_put_capped)(void *impl,
	    const struct mr_thumb_row *t, int64_t cap, struct mr_err *err);
	enum mr_store_rc (*server_key_get)(void *impl, const char *server,
	    const char *key_id, int64_t now_ms, char public_key[64],
	    struct mr_err *err);
	enum mr_store_rc (*server_key_put)(void *impl, const char *server,
	    const char *key_id, const char *public_key, int64_t expires_ts,
	    struct mr_err *err);
	enum mr_store_rc (*server_key_claim_fetch)(void *impl,
	    const char *server, int64_t now_ms, int64_t min_interval_ms,
	    struct mr_err *err);
	enum mr_store_rc (*well_known_get)(void *impl, const char *server,
	    int64_t now_ms, char delegated[MR_SERVER_NAME_MAX + 1],
	    struct mr_err *err);
	enum mr_store_rc (*well_known_put)(void *impl, const char *server,
	    const char *delegated, int64_t expires_ts, struct mr_err *err);
	enum mr_store_rc (*lease_take)(void *impl,
	    enum mr_store_lease_kind kind, const char *key, int64_t now_ms,
	    int64_t lease_ms, struct mr_store_outcome *done,
	    struct mr_err *err);
	enum mr_store_rc (*lease_end)(void *impl,
	    enum mr_store_lease_kind kind, const char *key, const char *body,
	    const struct mr_err *failure, int64_t until_ts, struct mr_err *err);
	enum mr_store_rc (*media_list_user)(void *impl, const char *user_id,
	    void (*fn)(const struct mr_media *, void *), void *arg,
	    struct mr_err *err);
	enum mr_store_rc (*media_list_remote)(void *impl,
	    const char *local_server, int64_t before_ts,
	    void (*fn)(const struct mr_media *, void *), void *arg,
	    struct mr_err *err);
	enum mr_store_rc (*thumb_list)(void *impl, const struct mr_mxc *mxc,
	    void (*fn)(const struct mr_thumb_row *, void *), void *arg,
	    struct mr_err *err);
	enum mr_store_rc (*media_delete)(void *impl, const struct mr_mxc *mxc,
	    void (*fn)(const char *sha256, void *), void *arg,
	    struct mr_err *err);
	enum mr_store_rc (*blob_referenced)(void *impl, const char *sha256,
	    struct mr_err *err);
	enum mr_store_rc (*blob_refs)(void *impl,
	    void (*fn)(const char *sha256, void *), void *arg,
	    struct mr_err *err);
	enum mr_store_rc (*quarantine)(void *impl,
	    const struct mr_store_sel *sel, int on, int64_t *count,
	    struct mr_err *err);
	enum mr_store_rc (*hash_quarantined)(void *impl, const char *sha256,
	    struct mr_err *err);
	enum mr_store_rc (*preview_purge)(void *impl, int64_t *count,
	    struct mr_err *err);
	enum mr_store_rc (*stats)(void *impl, const char *local_server,
	    struct mr_store_stats *out, struct mr_err *err);
	enum mr_store_rc (*top_users)(void *impl, const char *local_server,
	    int n,
	    void (*fn)(const char *user_id, const struct mr_store_count *, void *),
	    void *arg, struct mr_err *err);
	enum mr_store_rc (*token_add)(void *impl, const char *token_hash,
	    const char *user_id, int is_guest, struct mr_err *err);
	enum mr_store_rc (*token_lookup)(void *impl, const char *token_hash,
	    struct mr_token_info *out, struct mr_err *err);
	enum mr_store_rc (*token_revoke)(void *impl, const char *token_hash,
	    struct mr_err *err);
	enum mr_store_rc (*token_list)(void *impl,
	    void (*fn)(const struct mr_token_info *, void *), void *arg,
	    struct mr_err *err);
	enum mr_store_rc (*hs_auth_get)(void *impl, const char *token_hash,
	    int64_t now_ms, struct mr_hs_auth *out, struct mr_err *err);
	enum mr_store_rc (*hs_auth_put)(void *impl, const char *token_hash,
	    const struct mr_hs_auth *a, int64_t now_ms, int64_t expires_ts,
	    struct mr_err *err);
	enum mr_store_rc (*bucket_take)(void *impl, const char *key,
	    int64_t cost, int64_t rate_milli, int64_t burst, int64_t now_ms,
	    int force, int64_t *retry_after_ms, struct mr_err *err);
	enum mr_store_rc (*user_upload_bytes)(void *impl, const char *user_id,
	    int64_t since_ts, int64_t *bytes, struct mr_err *err);
	enum mr_store_rc (*origin_down)(void *impl, const char *origin,
	    int64_t now_ms, int64_t *until_ts, struct mr_err *err);
	enum mr_store_rc (*origin_result)(void *impl, const char *origin,
	    int ok, int64_t now_ms, int64_t backoff_ms, struct mr_err *err);
	enum mr_store_rc (*media_each)(void *impl,
	    void (*fn)(const struct mr_media *, void *), void *arg,
	    struct mr_err *err);
	enum mr_store_rc (*thumb_each)(void *impl,
	    void (*fn)(const struct mr_thumb_row *, void *), void *arg,
	    struct mr_err *err);
	enum mr_store_rc (*token_import)(void *impl,
	    const struct mr_token_info *t, struct mr_err *err);
	enum mr_store_rc (*quarantined_hash_each)(void *impl,
	    void (*fn)(const char *sha256, int64_t created_ts, void *),
	    void *arg, struct mr_err *err);
	enum mr_store_rc (*quarantined_hash_add)(void *impl, const char *sha256,
	    int64_t created_ts, struct mr_err *err);
	/* Synapse's admin API and retention (migration 007). */
	enum mr_store_rc (*media_touch)(void *impl, const struct mr_mxc *mxc,
	    int64_t now_ms, struct mr_err *err);
	enum mr_store_rc (*quarantine_as)(void *impl,
	    const struct mr_store_sel *sel, int on, const char *by,
	    int64_t now_ms, int64_t *count, struct mr_err *err);
	enum mr_store_rc (*media_protect)(void *impl, const struct mr_mxc *mxc,
	    int on, struct mr_err *err);
	enum mr_store_rc (*media_query)(void *impl,
	    const struct mr_store_media_query *q,
	    void (*fn)(const struct mr_media *, void *), void *arg,
	    int64_t *total, struct mr_err *err);
	enum mr_store_rc (*user_media_usage)(void *impl,
	    const struct mr_store_usage_query *q,
	    void (*fn)(const char *user_id, const struct mr_store_count *, void *),
	    void *arg, int64_t *total, struct mr_err *err);
	/* media_upload_limits held across concurrent uploads. */
	enum mr_store_rc (*media_put_quota)(void *impl,
	    const struct mr_media *m, int complete,
	    const struct mr_store_quota *q, int nq, int *over,
	    struct mr_err *err);
};

/* For backends: the same answers whichever keeps the rows. */

/* A leaky bucket's level at now_ms: level at updated_ms, drained since. */
double mr_store_bucket_level(double level, int64_t updated_ms,
    int64_t now_ms, int64_t rate_milli);
/* An errcode read back from a stored failure, as one of our constants. */
const char *mr_store_errcode(const char *code);
/* "%term%" for LIKE ... ESCAPE '\\', malloc'ed; NULL when out of memory. */
char *mr_store_like_pattern(const char *term);

extern const struct mr_store_ops mr_store_sqlite_ops;
extern const struct mr_store_ops mr_store_pg_ops;

#endif
