/*
 * migrate: mediarepo-admin migrate-store, the copy of one deployment's
 * store and blobs into another's (SQLite to PostgreSQL, back, or between
 * blob backends). Blobs first, each re-hashed as it is written, then the
 * rows that must persist (media with their ids, thumbnails, tokens,
 * quarantined hashes; caches, leases and limits are rebuilt by use), so a
 * row never names a blob the target lacks. What the target already holds
 * is left as it is: a run may be interrupted and run again, and a second
 * run copies nothing. Only store and blob calls, so any backend pair works.
 */
#ifndef MR_MIGRATE_H
#define MR_MIGRATE_H

#include <stdint.h>

#include "blob.h"
#include "maint.h"
#include "store.h"
#include "util.h"

struct mr_migrate_count {
	int64_t copied, present;
};

struct mr_migrate {
	struct mr_migrate_count blobs, media, thumbnails, tokens, hashes;
	int64_t bytes;		/* of blobs copied */
	/* blobs missing or unreadable in the source, copies that hashed
	 * to another name, rows the target refused */
	int64_t errors;
};

/*
 * Copies from (from, from_blob) into (to, to_blob), reporting through r:
 * a walk over the blobs, then one over the rows; events MISSING,
 * UNREADABLE, CORRUPT and FAILED name what went wrong (the copy goes on
 * and counts it in m->errors). -1 only when a store cannot be listed.
 */
int mr_migrate_store(struct mr_store *from, struct mr_blob *from_blob,
    struct mr_store *to, struct mr_blob *to_blob, struct mr_migrate *m,
    const struct mr_maint_report *r, struct mr_err *err);

#endif
