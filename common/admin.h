/*
 * admin: what moderators and operators do to media, once for both of
 * their tools: Synapse's admin API (admin.fcgi, through serve_admin) and
 * mediarepo-admin. Quarantine (by media, hash, user, or a room's media as
 * the homeserver lists it), protection, deletes by id, user, age and size,
 * the purge of cached remote media and retention (purge-expired). No
 * HTTP: callers pass the store, the blob store and who acts.
 */
#ifndef MR_ADMIN_H
#define MR_ADMIN_H

#include <stdint.h>

#include "blob.h"
#include "config.h"
#include "maint.h"
#include "media.h"
#include "store.h"
#include "util.h"

struct mr_hc;

/* quarantined_by of the operator's own command line. */
#define MR_ADMIN_CLI_ID "mediarepo-admin"

/*
 * Quarantines (on) or releases the selection as by, covering the same
 * bytes elsewhere and leaving protected media alone
 * (mr_store_quarantine_as); *count: media changed.
 */
int mr_admin_quarantine(struct mr_store *st, const struct mr_store_sel *sel,
    int on, const char *by, int64_t *count, struct mr_err *err);
/* Sets or clears the protection of mxc; 404 when there is no such media. */
int mr_admin_protect(struct mr_store *st, const struct mr_mxc *mxc, int on,
    struct mr_err *err);

/*
 * Calls fn with each media of room_id the homeserver lists (its GET
 * /_synapse/admin/v1/room/{room_id}/media, asked with token, so only its
 * admins may), local and remote; unparsable entries are skipped. 503
 * without homeserver_url; 403 when the homeserver refuses the token; 502
 * or 503 when it fails. The answer is capped at MR_ADMIN_ROOM_LIST_MAX.
 */
#define MR_ADMIN_ROOM_LIST_MAX (16 * 1024 * 1024)
int mr_admin_room_media(struct mr_hc **hc, const struct mr_config *cfg,
    const char *token, const char *room_id,
    void (*fn)(const struct mr_mxc *, void *), void *arg, struct mr_err *err);
/* Quarantines what mr_admin_room_media lists, as by; *count as above. */
int mr_admin_quarantine_room(struct mr_hc **hc, const struct mr_config *cfg,
    struct mr_store *st, const char *token, const char *room_id,
    const char *by, int64_t *count, struct mr_err *err);

/* What a delete removed. */
struct mr_admin_deleted {
	int64_t media;			/* media deleted (dry run: would be) */
	int64_t failed;			/* media that could not be deleted */
	struct mr_media_freed freed;	/* files and bytes released */
};

/*
 * Deletes every media q finds (its paging applies): the rows, their
 * thumbnails, then the files no other row names (mr_media_delete). Each
 * row is read again just before it goes, and kept when it no longer
 * matches q's conditions (read meanwhile, quarantined, protected). With
 * dry_run nothing is deleted. fn (may be NULL) gets each media deleted; r
 * (may be NULL) sees progress, and failures as MR_MAINT_FAILED events,
 * which count in out->failed while the rest goes on. -1 only when the
 * store cannot be queried.
 */
int mr_admin_delete_matching(struct mr_store *st, struct mr_blob *blob,
    const struct mr_store_media_query *q, int dry_run,
    void (*fn)(const struct mr_media *, void *), void *arg,
    const struct mr_maint_report *r, struct mr_admin_deleted *out,
    struct mr_err *err);

/*
 * The queries of the deletes, for mr_admin_delete_matching: local media
 * last read before before_ts and larger than size_gt (media/delete), and
 * cached remote media last read before before_ts (purge_media_cache,
 * purge-remote); neither touches quarantined or protected media.
 */
void mr_admin_query_old_local(const struct mr_config *cfg, int64_t before_ts,
    int64_t size_gt, struct mr_store_media_query *q);
void mr_admin_query_old_remote(const struct mr_config *cfg, int64_t before_ts,
    struct mr_store_media_query *q);

/* What retention did: local and remote apart. */
struct mr_admin_expired {
	struct mr_admin_deleted local, remote;
	int local_kept, remote_kept;	/* that lifetime is unset: kept all */
};

/*
 * Retention: deletes local media not read for
 * media_retention_local_media_lifetime and cached remote media not read
 * for media_retention_remote_media_lifetime (each skipped while unset),
 * never quarantined or protected media, as of now_ms. fn and r as for
 * mr_admin_delete_matching, local media first.
 */
int mr_admin_purge_expired(const struct mr_config *cfg, struct mr_store *st,
    struct mr_blob *blob, int64_t now_ms, int dry_run,
    void (*fn)(const struct mr_media *, void *), void *arg,
    const struct mr_maint_report *r, struct mr_admin_expired *out,
    struct mr_err *err);

#endif
