/*
 * synapse_import: the rows of a Synapse server's local media, read from
 * its SQLite database, for mr_maint_import_synapse (maint.h), which
 * `mediarepo-admin import-synapse` runs. Read-only: the import never
 * changes Synapse's database.
 */
#ifndef MR_SYNAPSE_IMPORT_H
#define MR_SYNAPSE_IMPORT_H

#include <stdint.h>

#include "store.h"

/* A row of Synapse's local_media_repository, for import. */
struct mr_synapse_media {
	char media_id[MR_MEDIA_ID_MAX + 1];
	char media_type[MR_CONTENT_TYPE_MAX + 1];
	char upload_name[MR_UPLOAD_NAME_MAX + 1];
	char user_id[MR_USER_ID_MAX + 1];
	int64_t media_length;		/* -1: NULL (never uploaded) */
	int64_t created_ts;
	int quarantined;		/* quarantined_by is set */
	char quarantined_by[MR_USER_ID_MAX + 1];	/* "" when too long */
	int authenticated;		/* Synapse 1.104+: frozen media */
	int too_long;			/* a column did not fit: skip it */
};

/*
 * Reads Synapse's SQLite database at path (read-only) and calls fn for
 * each row of local_media_repository, with its position and the total;
 * fn returns 0 to go on, -1 to stop (then this returns -1 too).
 */
int mr_synapse_import_media(const char *path,
    int (*fn)(const struct mr_synapse_media *, int64_t i, int64_t total,
    void *), void *arg, struct mr_err *err);

#endif
