/*
 * maint: the operator's long jobs over a whole store, run by
 * tools/mediarepo-admin: gc (remove blobs no row names), verify (every
 * blob against its name, every row against the blobs) and the import of a
 * Synapse media store (rows from synapse_import.h, bytes copied into the
 * blob store through mr_media_create). They go through the blob and store
 * interfaces only, so they work on any backend, and report through a
 * struct mr_maint_report: the tool draws progress and prints findings,
 * the decisions are here.
 */
#ifndef MR_MAINT_H
#define MR_MAINT_H

#include <stdint.h>

#include "blob.h"
#include "config.h"
#include "store.h"
#include "util.h"

/* What a job found on one item; where and detail as documented per kind. */
enum mr_maint_event {
	MR_MAINT_STRAY,		/* where: a file that is not a blob (left alone) */
	MR_MAINT_ORPHAN,	/* gc dry run, where: a blob no row names */
	MR_MAINT_CORRUPT,	/* where: a blob; detail: what it hashes to */
	MR_MAINT_UNREADABLE,	/* where: a blob; detail: why */
	MR_MAINT_MISSING,	/* where: a blob a row names, not in the store */
	MR_MAINT_SIZE_DIFFERS,	/* import, where: media id; detail: the sizes */
	MR_MAINT_FAILED,	/* where: media id or NULL; detail: err's message */
	MR_MAINT_UPLOAD,	/* gc dry run, where: an unfinished upload it
				 * would abort; detail: its id */
};

/* How a job reports; every hook may be NULL. */
struct mr_maint_report {
	/* The walk begins over total items (0: not known yet). */
	void (*start)(void *arg, int64_t total);
	/* One item done, having read bytes of it. */
	void (*step)(void *arg, int64_t bytes);
	/* The walk is over (before verify's pass over the rows). */
	void (*end)(void *arg);
	void (*event)(void *arg, enum mr_maint_event ev, const char *where,
	    const char *detail);
	void *arg;
};

struct mr_maint_gc {
	/* in */
	int64_t min_age_ms;	/* younger blobs may be named any moment */
	int dry_run;		/* only report orphans, remove nothing */
	/* unfinished uploads this old are aborted (MR_BLOB_UPLOAD_GRACE_MS) */
	int64_t upload_min_age_ms;
	/* out */
	int64_t removed, bytes, kept, young, stray, errors;
	int swept;		/* temp files removed first (not in a dry run) */
	/* The backend keeps unfinished uploads (S3): the counts below apply. */
	int uploads_checked;
	int64_t uploads_aborted, uploads_young, uploads_foreign;
};

/*
 * Removes (or, dry_run, reports) every blob that no row names and that is
 * older than g->min_age_ms; first, unless dry_run, sweeps the temp files of
 * dead writers (mr_blob_sweep, temp_file_max_age) and aborts (dry run:
 * reports) the unfinished uploads older than g->upload_min_age_ms that
 * killed processes left (mr_blob_sweep_uploads; one that cannot be
 * listed or aborted counts in g->errors). Stray files are
 * reported and left alone; a blob that cannot be checked or removed counts
 * in g->errors and the walk goes on. -1 only when the store cannot be
 * walked or swept.
 */
int mr_maint_gc(const struct mr_config *cfg, struct mr_store *st,
    struct mr_blob *blob, struct mr_maint_gc *g,
    const struct mr_maint_report *r, struct mr_err *err);

struct mr_maint_verify {
	int64_t ok, corrupt, stray, missing, unreadable;
};

/*
 * Reads every blob back and checks it hashes to its name (ok, corrupt,
 * unreadable, stray), then checks every blob a row names is there
 * (missing). -1 only when the store or the rows cannot be walked.
 */
int mr_maint_verify(struct mr_store *st, struct mr_blob *blob,
    struct mr_maint_verify *v, const struct mr_maint_report *r,
    struct mr_err *err);

struct mr_maint_import {
	int64_t imported, present, pending, failed, quarantined;
};

/*
 * Imports a Synapse server's local media: the rows of its SQLite database
 * at db_path, the bytes from media_store/local_content/. Ids keep their
 * mxc URIs under cfg->server_name; a row already here is left (present),
 * one never uploaded is skipped (pending), Synapse's quarantine is kept.
 * A row that fails counts in im->failed and the import goes on. -1 when
 * media_store is not a directory or the database cannot be read.
 */
int mr_maint_import_synapse(const struct mr_config *cfg, struct mr_store *st,
    struct mr_blob *blob, const char *media_store, const char *db_path,
    struct mr_maint_import *im, const struct mr_maint_report *r,
    struct mr_err *err);

#endif
