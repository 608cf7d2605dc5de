/*
 * metrics: counters of every process of every program, and the Prometheus
 * text that GET /metrics answers with.
 *
 * Each serving process maps a small file of its own under
 * runtime_dir/metrics ("live.PROGRAM.PID.RANDOM") and adds to it with
 * relaxed atomics: no lock and no system call on the request path, and
 * nothing shared between programs. The process holds flock() on its file
 * for its life; the kernel drops it when the process dies, however it
 * dies, and the bytes it counted stay in the file.
 *
 * A scrape (mr_metrics_scrape) takes the directory's lock, folds the files
 * of dead processes into one archive per program ("archive.PROGRAM",
 * rewritten by rename) and removes them, so the directory does not grow
 * and no count is lost; then it sums archives and live files. The archive
 * names the files it has folded last, so a scrape that dies between the
 * rename and the removal never counts a file twice.
 *
 * Counts live as long as runtime_dir (a tmpfs under systemd): Prometheus
 * takes a reset of its counters in its stride.
 *
 * Without mr_metrics_open (tools, tests) every counting call does nothing.
 */
#ifndef MR_METRICS_H
#define MR_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "store.h"
#include "util.h"

/* Methods counted apart; anything else is "other". */
#define MR_METRICS_METHODS 6
/* Statuses 100 to 599, one counter each. */
#define MR_METRICS_STATUS_MIN 100
#define MR_METRICS_STATUSES 500
/* Upper bounds of the duration histogram, in ms, then +Inf. */
#define MR_METRICS_BUCKETS 14

enum mr_metrics_fetch {
	MR_FETCH_OK,		/* fetched and stored */
	MR_FETCH_NOT_FOUND,	/* the origin has no such media */
	MR_FETCH_REFUSED,	/* too large, blocked, not allowed */
	MR_FETCH_BUSY,		/* no slot: too many fetches at once */
	MR_FETCH_BACKOFF,	/* the origin failed lately: not asked */
	MR_FETCH_ERROR,		/* the origin failed or did not answer */
	MR_FETCH__MAX
};

enum mr_metrics_preview {
	MR_PREVIEW_OK,		/* answered (made now or from the cache) */
	MR_PREVIEW_REFUSED,	/* a URL we will not fetch */
	MR_PREVIEW_BUSY,	/* no slot: too many previews at once */
	MR_PREVIEW_FAILED,	/* the page could not be fetched or read */
	MR_PREVIEW__MAX
};

/* Names of limits a refusal may carry (mr_err.limit_name), then "other". */
#define MR_METRICS_LIMITS 9

/* What one process (or the archive of dead ones) has counted. */
struct mr_metrics_counters {
	uint64_t requests[MR_METRICS_METHODS][MR_METRICS_STATUSES];
	uint64_t duration[MR_METRICS_BUCKETS];	/* not cumulative */
	uint64_t duration_sum_ms;
	uint64_t response_bytes;
	uint64_t upload_bytes;
	uint64_t thumbnails[2];			/* scale, crop */
	uint64_t remote_fetches[MR_FETCH__MAX];
	uint64_t previews[MR_PREVIEW__MAX];
	uint64_t ratelimited[MR_METRICS_LIMITS];
};

#define MR_METRICS_PROGRAM_MAX 32

/* --- counting, in a serving process --- */

/*
 * Makes this process's counters file for program under
 * runtime_dir/metrics; wait_slots is its program's share of waiting slots
 * (a gauge). Once per process; again in a forked child that serves
 * requests of its own. -1 when it cannot (the program then serves
 * without metrics, and says so).
 */
int mr_metrics_open(const char *runtime_dir, const char *program,
    int64_t wait_slots, struct mr_err *err);
/* Unmaps the file; the counts stay for the next scrape. */
void mr_metrics_close(void);

void mr_metrics_request(const char *method, int status, int64_t duration_ms,
    int64_t bytes);
void mr_metrics_upload(int64_t bytes);
void mr_metrics_thumbnail(int crop);
void mr_metrics_remote_fetch(enum mr_metrics_fetch result);
void mr_metrics_preview(enum mr_metrics_preview result);
void mr_metrics_ratelimited(const char *limit_name);

/* --- pure helpers, table-tested --- */

/* The counter index of a method, status, duration or limit name. */
int mr_metrics_method_index(const char *method);
const char *mr_metrics_method_name(int index);
int mr_metrics_status_index(int status);
int mr_metrics_bucket_index(int64_t duration_ms);
int mr_metrics_limit_index(const char *limit_name);
/* What a fetch or preview that ended with err (rc 0: success) was. */
enum mr_metrics_fetch mr_metrics_fetch_result(int rc, const struct mr_err *err);
enum mr_metrics_preview mr_metrics_preview_result(int rc,
    const struct mr_err *err);
/* to += from, counter by counter. */
void mr_metrics_add(struct mr_metrics_counters *to,
    const struct mr_metrics_counters *from);

/* --- the scrape --- */

/* One program's sums and its gauges. */
struct mr_metrics_program {
	char name[MR_METRICS_PROGRAM_MAX];
	struct mr_metrics_counters c;
	int64_t processes;		/* live counters files */
	int64_t slots;			/* waiting slots of its processes */
	int64_t slots_in_use;		/* of them held now (slot.h) */
};

#define MR_METRICS_PROGRAMS_MAX 32

struct mr_metrics_set {
	struct mr_metrics_program prog[MR_METRICS_PROGRAMS_MAX];
	size_t n;
	int have_store;			/* the store answered */
	struct mr_store_stats store;
};

/*
 * Folds the files of dead processes into the archives, then sums every
 * program's archive and live files into out (programs sorted by name).
 * Gauges are left to the caller. -1 (503) when the directory cannot be
 * read or locked.
 */
int mr_metrics_collect(const char *runtime_dir, struct mr_metrics_set *out,
    struct mr_err *err);
/* The Prometheus text format (0.0.4) of set; malloc'ed, NULL on ENOMEM. */
char *mr_metrics_render(const struct mr_metrics_set *set, size_t *len);
/*
 * Everything GET /metrics answers: collect, waiting slots in use, store
 * totals, render. *out is malloc'ed.
 */
int mr_metrics_scrape(const struct mr_config *cfg, struct mr_store *st,
    char **out, size_t *len, struct mr_err *err);

/* 1 when the address text (IPv4 or IPv6) is in metrics_allowed_ips. */
int mr_metrics_allowed(const struct mr_config *cfg, const char *addr);

#endif
