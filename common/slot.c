/*
 * slot: waiting tickets as byte locks on a per-pool file (see slot.h).
 */
#include "slot.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Pool files opened by this process, kept for its life. */
static struct {
	char name[32];
	int fd;
} slot_pools[MR_SLOT_POOLS_MAX];

static int
slot_pool_fd(const char *runtime_dir, const char *pool, struct mr_err *err)
{
	char path[PATH_MAX];
	int i, fd;

	for (i = 0; i < MR_SLOT_POOLS_MAX && slot_pools[i].name[0]; i++)
		if (strcmp(slot_pools[i].name, pool) == 0)
			return slot_pools[i].fd;
	if (i == MR_SLOT_POOLS_MAX || strlen(pool) >= sizeof(slot_pools[i].name))
		return mr_err_set(err, 503, "M_UNKNOWN", "too many slot pools");
	if (snprintf(path, sizeof(path), "%s/slots-%s", runtime_dir, pool) >=
	    (int)sizeof(path))
		return mr_err_set(err, 503, "M_UNKNOWN", "runtime_dir too long");
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return mr_err_set(err, 503, "M_UNKNOWN",
		    "cannot open slot pool '%s': %s", path, strerror(errno));
	snprintf(slot_pools[i].name, sizeof(slot_pools[i].name), "%s", pool);
	slot_pools[i].fd = fd;
	return fd;
}

static int
slot_lock(int fd, int cmd, short type, int64_t byte, struct flock *fl)
{
	memset(fl, 0, sizeof(*fl));
	fl->l_type = type;
	fl->l_whence = SEEK_SET;
	fl->l_start = (off_t)byte;
	fl->l_len = 1;
	return fcntl(fd, cmd, fl);
}

int
mr_slot_take(const char *runtime_dir, const char *pool, int64_t first,
    int64_t count, struct mr_slot *out, struct mr_err *err)
{
	struct flock fl;
	int64_t i, start;
	int fd;

	mr_slot_init(out);
	if (count <= 0)
		return 0;
	if ((fd = slot_pool_fd(runtime_dir, pool, err)) < 0)
		return -1;
	/* Start where another process is unlikely to be probing. */
	start = (int64_t)getpid() % count;
	for (i = 0; i < count; i++) {
		int64_t byte = first + (start + i) % count;

		if (slot_lock(fd, F_OFD_SETLK, F_WRLCK, byte, &fl) == 0) {
			out->fd = fd;
			out->byte = byte;
			return 1;
		}
		if (errno != EAGAIN && errno != EACCES)
			return mr_err_set(err, 503, "M_UNKNOWN",
			    "cannot lock slot of '%s': %s", pool, strerror(errno));
	}
	return 0;
}

void
mr_slot_release(struct mr_slot *s)
{
	struct flock fl;

	if (s->fd < 0)
		return;
	(void)slot_lock(s->fd, F_OFD_SETLK, F_UNLCK, s->byte, &fl);
	s->fd = -1;
}

int64_t
mr_slot_in_use(const char *runtime_dir, const char *pool, int64_t first,
    int64_t count)
{
	struct mr_err err;
	struct flock fl;
	int64_t i, held = 0;
	int fd = slot_pool_fd(runtime_dir, pool, &err);

	if (fd < 0)
		return -1;
	for (i = 0; i < count; i++)
		if (slot_lock(fd, F_OFD_GETLK, F_WRLCK, first + i, &fl) == 0 &&
		    fl.l_type != F_UNLCK)
			held++;
	return held;
}

int64_t
mr_slot_waiters(int64_t procs)
{
	int64_t keep = procs / 4 > 1 ? procs / 4 : 1;

	return procs > keep ? procs - keep : 0;
}

int64_t
mr_slot_origin_bucket(const char *origin)
{
	uint32_t h = 2166136261u;

	for (; *origin != '\0'; origin++)
		h = (h ^ (unsigned char)*origin) * 16777619u;
	return (int64_t)(h % MR_SLOT_ORIGIN_BUCKETS);
}

/* One request at a time per process, so one hook is all there is. */
static int (*wait_gone)(void *arg);
static void *wait_gone_arg;

void
mr_wait_set_cancel(int (*gone)(void *arg), void *arg)
{
	wait_gone = gone;
	wait_gone_arg = arg;
}

int
mr_wait_cancelled(void)
{
	return wait_gone != NULL && wait_gone(wait_gone_arg);
}

int
mr_wait_sleep_ms(int64_t ms)
{
	while (ms > 0) {
		int64_t step = ms < 100 ? ms : 100;
		struct timespec ts = { 0, (long)step * 1000000 };

		if (mr_wait_cancelled())
			return -1;
		nanosleep(&ts, NULL);
		ms -= step;
	}
	return mr_wait_cancelled() ? -1 : 0;
}
