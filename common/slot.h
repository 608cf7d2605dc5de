/*
 * slot: bounded pools of "may wait" tickets shared by the processes of one
 * host. A FastCGI process serves one request at a time, so a request that
 * waits (for pending media, another process's fetch, a remote server)
 * holds a whole process; a pool caps how many of a program's processes do
 * that at once, so the others stay free for fast work.
 *
 * A pool is a file under runtime_dir ("slots-NAME"); slot i is an
 * open-file-description lock on byte i. The kernel drops the lock when the
 * holder closes it or dies, so a crashed or killed process never leaks a
 * slot and nothing needs cleaning. Pools are per host on purpose: they
 * ration this host's processes.
 *
 * A process opens each pool file once and keeps it; struct mr_slot is the
 * ticket and lives on the caller's stack. A process holds at most one slot
 * of a pool at a time: the locks are its own, so a second take in the same
 * pool could land on the byte it already holds.
 */
#ifndef MR_SLOT_H
#define MR_SLOT_H

#include <stdint.h>

#include "util.h"

#define MR_SLOT_POOLS_MAX 8

struct mr_slot {
	int fd;			/* -1: not held */
	int64_t byte;
};

static inline void
mr_slot_init(struct mr_slot *s)
{
	s->fd = -1;
	s->byte = 0;
}

/*
 * Takes a free slot among bytes [first, first + count) of pool: 1 when
 * taken, 0 when all are held (or count is 0), -1 (503) when the pool file
 * cannot be used.
 */
int mr_slot_take(const char *runtime_dir, const char *pool, int64_t first,
    int64_t count, struct mr_slot *out, struct mr_err *err);
/* Gives the slot back; harmless on a slot not held. */
void mr_slot_release(struct mr_slot *s);
/* How many of [first, first + count) are held now (for metrics, tests). */
int64_t mr_slot_in_use(const char *runtime_dir, const char *pool,
    int64_t first, int64_t count);

/*
 * The waiting slots of a program with procs processes: all but a quarter
 * (at least one), which stay for requests that do not wait.
 */
int64_t mr_slot_waiters(int64_t procs);

/* The bucket of an origin in the per-origin pool (FNV-1a, 256 buckets). */
int64_t mr_slot_origin_bucket(const char *origin);
#define MR_SLOT_ORIGIN_BUCKETS 256

/*
 * Waiting ends when nobody wants the answer any more. The serve loop
 * registers how to tell that the request in flight was abandoned (its
 * client, or the web server, hung up); waits and transfers ask.
 */
void mr_wait_set_cancel(int (*gone)(void *arg), void *arg);
/* 1 when the request in flight was abandoned. */
int mr_wait_cancelled(void);
/* Sleeps ms in short steps; -1 as soon as the request is abandoned. */
int mr_wait_sleep_ms(int64_t ms);

#endif
