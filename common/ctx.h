/*
 * ctx: what one process keeps from request to request: its config, its
 * store and blob store (opened once), and the outbound clients made on
 * first use (federation, the homeserver's whoami). Nothing here knows
 * HTTP: the domain modules (media, preview, fed) take a context, and only
 * the serving layer knows requests.
 */
#ifndef MR_CTX_H
#define MR_CTX_H

#include <stdint.h>

#include "blob.h"
#include "config.h"
#include "store.h"
#include "util.h"

struct mr_fed;
struct mr_hc;
struct mr_program;

struct mr_ctx {
	struct mr_config cfg;
	struct mr_store *store;
	struct mr_blob *blob;
	struct mr_fed *fed;		/* made on first use: mr_ctx_fed() */
	struct mr_hc *whoami;		/* auth = homeserver: made on first use */
	const char *name;		/* the program's: its slots and logs */
	const struct mr_program *prog;	/* the serving layer's descriptor */
	uint64_t requests;
	int64_t procs;			/* this program's processes here */
	int64_t wait_slots;		/* how many of them may wait at once */
};

/*
 * Fills ctx for the program name: loads the config from the environment
 * and opens the store and the blob store. On failure what was opened is
 * closed again.
 */
int mr_ctx_open(struct mr_ctx *ctx, const char *name, struct mr_err *err);
/* Frees what ctx holds (not ctx itself). */
void mr_ctx_close(struct mr_ctx *ctx);

/*
 * 0 when this process can serve: the database answers a query (and, for
 * SQLite, its file is still there to read and write: an open handle would
 * go on reading a removed file no new process could open) and the blob
 * store answers (mr_blob_check). Otherwise -1 with 503 naming which.
 */
int mr_ctx_health(struct mr_ctx *ctx, struct mr_err *err);

/* The process's federation client, made on first use. */
struct mr_fed *mr_ctx_fed(struct mr_ctx *ctx, struct mr_err *err);

#endif
