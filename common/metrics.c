/*
 * metrics: per-process counters files, the fold of dead ones, and the
 * Prometheus text (see metrics.h).
 */
#include "metrics.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "net.h"
#include "slot.h"

#define METRICS_MAGIC UINT32_C(0x6d726d31)	/* "mrm1" */
/* Files folded by one scrape, per program; more wait for the next. */
#define METRICS_FOLD_MAX 64
#define METRICS_NAME_MAX 96
/* Seconds before a half-made file (new.*) counts as abandoned. */
#define METRICS_NEW_MAX_AGE 60

struct metrics_file {
	uint32_t magic;
	uint32_t size;
	char program[MR_METRICS_PROGRAM_MAX];
	int64_t wait_slots;	/* the process's share (slot.h), for gauges */
	struct mr_metrics_counters c;
};

/* An archive: the sums of dead processes, and which files it holds. */
struct metrics_archive {
	struct metrics_file f;
	uint32_t n_folded;
	char folded[METRICS_FOLD_MAX][METRICS_NAME_MAX];
};

static const char *const metrics_methods[MR_METRICS_METHODS] = {
	"GET", "HEAD", "POST", "PUT", "OPTIONS", "other"
};

/* Upper bounds in ms; the last bucket is +Inf. */
static const int64_t metrics_bounds[MR_METRICS_BUCKETS - 1] = {
	5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000
};

static const char *const metrics_limits[MR_METRICS_LIMITS] = {
	"rc_media_create", "media_upload_limits", "remote_media_download",
	"max_pending_media_uploads", "waiting_slots",
	"federation_max_fetches_per_origin", "max_upload_size",
	"max_image_pixels", "other"
};

static const char *const metrics_fetch_names[MR_FETCH__MAX] = {
	"ok", "not_found", "refused", "busy", "backoff", "error"
};

static const char *const metrics_preview_names[MR_PREVIEW__MAX] = {
	"ok", "refused", "busy", "failed"
};

/* This process's mapped file, or NULL. */
static struct metrics_file *metrics_mine;
static int metrics_fd = -1;

/* --- pure helpers --- */

int
mr_metrics_method_index(const char *method)
{
	for (int i = 0; method != NULL && i < MR_METRICS_METHODS - 1; i++)
		if (strcmp(method, metrics_methods[i]) == 0)
			return i;
	return MR_METRICS_METHODS - 1;
}

const char *
mr_metrics_method_name(int index)
{
	return index >= 0 && index < MR_METRICS_METHODS ?
	    metrics_methods[index] : "other";
}

int
mr_metrics_status_index(int status)
{
	/* A request that ended before any answer was sent counts as 500. */
	if (status < MR_METRICS_STATUS_MIN ||
	    status >= MR_METRICS_STATUS_MIN + MR_METRICS_STATUSES)
		status = 500;
	return status - MR_METRICS_STATUS_MIN;
}

int
mr_metrics_bucket_index(int64_t duration_ms)
{
	int i;

	for (i = 0; i < MR_METRICS_BUCKETS - 1; i++)
		if (duration_ms <= metrics_bounds[i])
			break;
	return i;
}

int
mr_metrics_limit_index(const char *limit_name)
{
	for (int i = 0; limit_name != NULL && i < MR_METRICS_LIMITS - 1; i++)
		if (strcmp(limit_name, metrics_limits[i]) == 0)
			return i;
	return MR_METRICS_LIMITS - 1;
}

enum mr_metrics_fetch
mr_metrics_fetch_result(int rc, const struct mr_err *err)
{
	if (rc == 0)
		return MR_FETCH_OK;
	if (err->status == 429)
		return MR_FETCH_BUSY;
	if (err->status == 404)
		return MR_FETCH_NOT_FOUND;
	if (err->status >= 400 && err->status < 500)
		return MR_FETCH_REFUSED;
	return MR_FETCH_ERROR;
}

enum mr_metrics_preview
mr_metrics_preview_result(int rc, const struct mr_err *err)
{
	if (rc == 0)
		return MR_PREVIEW_OK;
	if (err->status == 429)
		return MR_PREVIEW_BUSY;
	if (err->status >= 400 && err->status < 500)
		return MR_PREVIEW_REFUSED;
	return MR_PREVIEW_FAILED;
}

void
mr_metrics_add(struct mr_metrics_counters *to,
    const struct mr_metrics_counters *from)
{
	/* The struct is uint64_t through and through: add it as an array. */
	uint64_t *t = (uint64_t *)to;
	const uint64_t *f = (const uint64_t *)from;

	for (size_t i = 0; i < sizeof(*to) / sizeof(uint64_t); i++)
		t[i] += f[i];
}

/* --- counting --- */

/* Relaxed: each counter only has to add up, not to order with others. */
#define METRICS_ADD(field, n) do { \
	if (metrics_mine != NULL) \
		__atomic_fetch_add(&metrics_mine->c.field, (uint64_t)(n), \
		    __ATOMIC_RELAXED); \
} while (0)

void
mr_metrics_request(const char *method, int status, int64_t duration_ms,
    int64_t bytes)
{
	int m = mr_metrics_method_index(method);
	int s = mr_metrics_status_index(status);

	if (duration_ms < 0)
		duration_ms = 0;
	METRICS_ADD(requests[m][s], 1);
	METRICS_ADD(duration[mr_metrics_bucket_index(duration_ms)], 1);
	METRICS_ADD(duration_sum_ms, duration_ms);
	METRICS_ADD(response_bytes, bytes > 0 ? bytes : 0);
}

void
mr_metrics_upload(int64_t bytes)
{
	METRICS_ADD(upload_bytes, bytes > 0 ? bytes : 0);
}

void
mr_metrics_thumbnail(int crop)
{
	METRICS_ADD(thumbnails[crop ? 1 : 0], 1);
}

void
mr_metrics_remote_fetch(enum mr_metrics_fetch result)
{
	if ((unsigned)result < MR_FETCH__MAX)
		METRICS_ADD(remote_fetches[result], 1);
}

void
mr_metrics_preview(enum mr_metrics_preview result)
{
	if ((unsigned)result < MR_PREVIEW__MAX)
		METRICS_ADD(previews[result], 1);
}

void
mr_metrics_ratelimited(const char *limit_name)
{
	METRICS_ADD(ratelimited[mr_metrics_limit_index(limit_name)], 1);
}

/* --- the files --- */

static int
metrics_valid_program(const char *name, size_t len)
{
	return len > 0 && len < MR_METRICS_PROGRAM_MAX &&
	    strspn(name, "abcdefghijklmnopqrstuvwxyz_") >= len;
}

static int
metrics_dir(const char *runtime_dir, char *out, size_t outsz,
    struct mr_err *err)
{
	if ((size_t)snprintf(out, outsz, "%s/metrics", runtime_dir) >= outsz)
		return mr_err_set(err, 503, "M_UNKNOWN", "runtime_dir too long");
	if (mkdir(out, 0750) < 0 && errno != EEXIST)
		return mr_err_set(err, 503, "M_UNKNOWN", "cannot create '%s': %s",
		    out, strerror(errno));
	return 0;
}

void
mr_metrics_close(void)
{
	if (metrics_mine != NULL)
		munmap(metrics_mine, sizeof(*metrics_mine));
	if (metrics_fd >= 0)
		close(metrics_fd);
	metrics_mine = NULL;
	metrics_fd = -1;
}

/*
 * The file is made under a name scrapes ignore and locked before it is
 * renamed into view: a scrape must never see it unlocked, or it would
 * take its process for dead and fold the file away.
 */
static int
metrics_make_file(const char *dir, const char *program, int64_t wait_slots,
    struct mr_err *err)
{
	char rnd[13], tmp[PATH_MAX], path[PATH_MAX];
	int fd;

	mr_random_id(rnd, 12);
	if ((size_t)snprintf(path, sizeof(path), "%s/live.%s.%ld.%s", dir,
	    program, (long)getpid(), rnd) >= sizeof(path) ||
	    (size_t)snprintf(tmp, sizeof(tmp), "%s/new.%s.%ld.%s", dir,
	    program, (long)getpid(), rnd) >= sizeof(tmp))
		return mr_err_set(err, 503, "M_UNKNOWN", "runtime_dir too long");
	fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (fd < 0)
		return mr_err_set(err, 503, "M_UNKNOWN", "cannot create '%s': %s",
		    tmp, strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) < 0 ||
	    ftruncate(fd, (off_t)sizeof(struct metrics_file)) < 0) {
		mr_err_set(err, 503, "M_UNKNOWN", "cannot prepare '%s': %s", tmp,
		    strerror(errno));
		goto fail;
	}
	metrics_mine = mmap(NULL, sizeof(*metrics_mine), PROT_READ | PROT_WRITE,
	    MAP_SHARED, fd, 0);
	if (metrics_mine == MAP_FAILED) {
		metrics_mine = NULL;
		mr_err_set(err, 503, "M_UNKNOWN", "cannot map '%s': %s", tmp,
		    strerror(errno));
		goto fail;
	}
	metrics_mine->size = (uint32_t)sizeof(*metrics_mine);
	snprintf(metrics_mine->program, sizeof(metrics_mine->program), "%s",
	    program);
	metrics_mine->wait_slots = wait_slots;
	metrics_mine->magic = METRICS_MAGIC;
	if (rename(tmp, path) < 0) {
		mr_err_set(err, 503, "M_UNKNOWN", "cannot rename '%s': %s", tmp,
		    strerror(errno));
		munmap(metrics_mine, sizeof(*metrics_mine));
		metrics_mine = NULL;
		goto fail;
	}
	metrics_fd = fd;
	return 0;
fail:
	unlink(tmp);
	close(fd);
	return -1;
}

int
mr_metrics_open(const char *runtime_dir, const char *program,
    int64_t wait_slots, struct mr_err *err)
{
	char dir[PATH_MAX];

	/* A forked child leaves its parent's file to the parent. */
	mr_metrics_close();
	if (!metrics_valid_program(program, strlen(program)))
		return mr_err_set(err, 500, "M_UNKNOWN",
		    "'%s' is not a program name for metrics", program);
	if (metrics_dir(runtime_dir, dir, sizeof(dir), err) < 0)
		return -1;
	return metrics_make_file(dir, program, wait_slots, err);
}

/* --- the scrape --- */

/* "live.PROGRAM.PID.RANDOM" or "archive.PROGRAM": the program, or -1. */
static int
metrics_parse_name(const char *name, const char *kind, char *program)
{
	size_t klen = strlen(kind), plen;
	const char *p;

	if (strncmp(name, kind, klen) != 0 || name[klen] != '.' ||
	    strlen(name) >= METRICS_NAME_MAX)
		return -1;
	p = name + klen + 1;
	plen = strcspn(p, ".");
	if (!metrics_valid_program(p, plen) ||
	    (strcmp(kind, "archive") == 0) != (p[plen] == '\0'))
		return -1;
	memcpy(program, p, plen);
	program[plen] = '\0';
	return 0;
}

static struct mr_metrics_program *
metrics_program(struct mr_metrics_set *set, const char *name)
{
	size_t i;

	for (i = 0; i < set->n; i++)
		if (strcmp(set->prog[i].name, name) == 0)
			return &set->prog[i];
	if (set->n == MR_METRICS_PROGRAMS_MAX)
		return NULL;
	memset(&set->prog[i], 0, sizeof(set->prog[i]));
	snprintf(set->prog[i].name, sizeof(set->prog[i].name), "%s", name);
	set->n++;
	return &set->prog[i];
}

/* A whole file of the expected size and program into out. */
static int
metrics_read(int fd, const char *program, void *out, size_t size)
{
	const struct metrics_file *f = out;
	ssize_t n = pread(fd, out, size, 0);

	if (n < (ssize_t)sizeof(*f) || f->magic != METRICS_MAGIC ||
	    f->size != sizeof(*f) ||
	    strncmp(f->program, program, sizeof(f->program)) != 0)
		return -1;
	if ((size_t)n < size)
		memset((char *)out + n, 0, size - (size_t)n);
	return 0;
}

static int
metrics_read_archive(int dirfd, const char *program, struct metrics_archive *a)
{
	char name[METRICS_NAME_MAX];
	int fd;

	memset(a, 0, sizeof(*a));
	snprintf(name, sizeof(name), "archive.%s", program);
	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd >= 0 && metrics_read(fd, program, a, sizeof(*a)) < 0)
		memset(a, 0, sizeof(*a));
	if (fd >= 0)
		close(fd);
	if (a->n_folded > METRICS_FOLD_MAX)
		a->n_folded = 0;
	return 0;
}

static int
metrics_write_archive(int dirfd, const char *program,
    struct metrics_archive *a, struct mr_err *err)
{
	char name[METRICS_NAME_MAX], tmp[METRICS_NAME_MAX + 8];
	int fd, ok;

	a->f.magic = METRICS_MAGIC;
	a->f.size = sizeof(a->f);
	snprintf(a->f.program, sizeof(a->f.program), "%s", program);
	snprintf(name, sizeof(name), "archive.%s", program);
	snprintf(tmp, sizeof(tmp), "tmp.%s", program);
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC |
	    O_NOFOLLOW, 0640);
	if (fd < 0)
		return mr_err_set(err, 503, "M_UNKNOWN",
		    "cannot write metrics archive: %s", strerror(errno));
	ok = write(fd, a, sizeof(*a)) == (ssize_t)sizeof(*a);
	if (close(fd) != 0 || !ok || renameat(dirfd, tmp, dirfd, name) < 0) {
		unlinkat(dirfd, tmp, 0);
		return mr_err_set(err, 503, "M_UNKNOWN",
		    "cannot write metrics archive");
	}
	return 0;
}

/* The dead files of one program, found by one pass over the directory. */
struct metrics_dead {
	char name[METRICS_FOLD_MAX][METRICS_NAME_MAX];
	int fd[METRICS_FOLD_MAX];
	size_t n;
};

static int
metrics_was_folded(const struct metrics_archive *a, const char *name)
{
	for (uint32_t i = 0; i < a->n_folded; i++)
		if (strcmp(a->folded[i], name) == 0)
			return 1;
	return 0;
}

/*
 * Adds the dead files to the archive and writes it, naming them, before
 * removing them: a file named by the archive is never added again.
 */
static int
metrics_fold(int dirfd, const char *program, struct metrics_dead *d,
    struct mr_err *err)
{
	static struct metrics_archive a;	/* large: not on the stack */
	struct metrics_file f;
	size_t i;
	int rc;

	metrics_read_archive(dirfd, program, &a);
	for (i = 0; i < d->n; i++)
		if (!metrics_was_folded(&a, d->name[i]) &&
		    metrics_read(d->fd[i], program, &f, sizeof(f)) == 0)
			mr_metrics_add(&a.f.c, &f.c);
	for (i = 0; i < d->n; i++)
		snprintf(a.folded[i], sizeof(a.folded[i]), "%s", d->name[i]);
	a.n_folded = (uint32_t)d->n;
	rc = metrics_write_archive(dirfd, program, &a, err);
	for (i = 0; i < d->n; i++) {
		if (rc == 0)
			unlinkat(dirfd, d->name[i], 0);
		close(d->fd[i]);
	}
	d->n = 0;
	return rc;
}

/*
 * One live file: its counts into p when its process lives (the lock is
 * held), else onto the dead list (fd kept, locked by us) to be folded.
 */
static void
metrics_visit_live(int dirfd, const char *name, const char *program,
    struct mr_metrics_program *p, struct metrics_dead *d)
{
	struct metrics_file f;
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	int dead;

	if (fd < 0)
		return;
	dead = flock(fd, LOCK_EX | LOCK_NB) == 0;
	if (dead && d->n < METRICS_FOLD_MAX) {
		snprintf(d->name[d->n], sizeof(d->name[d->n]), "%s", name);
		d->fd[d->n++] = fd;
		return;
	}
	/* Alive (or dead and left for the next fold): counted as it is. */
	if (metrics_read(fd, program, &f, sizeof(f)) == 0) {
		mr_metrics_add(&p->c, &f.c);
		if (!dead) {
			p->processes++;
			if (f.wait_slots > p->slots)
				p->slots = f.wait_slots;
		}
	}
	close(fd);
}

/*
 * A file a process made but never renamed into view (it died in
 * between, having counted nothing): removed once it is unlocked and old,
 * as a process that has just made one has not locked it yet.
 */
static void
metrics_visit_new(int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat sb;

	if (fd < 0)
		return;
	if (fstat(fd, &sb) == 0 &&
	    sb.st_mtime < time(NULL) - METRICS_NEW_MAX_AGE &&
	    flock(fd, LOCK_EX | LOCK_NB) == 0)
		unlinkat(dirfd, name, 0);
	close(fd);
}

static int
metrics_cmp_program(const void *a, const void *b)
{
	return strcmp(((const struct mr_metrics_program *)a)->name,
	    ((const struct mr_metrics_program *)b)->name);
}

/* A listing of dirfd from its start (a duplicate shares its offset). */
static DIR *
metrics_opendir(int dirfd, struct mr_err *err)
{
	int fd = dup(dirfd);
	DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;

	if (dir == NULL) {
		if (fd >= 0)
			close(fd);
		mr_err_set(err, 503, "M_UNKNOWN",
		    "cannot read the metrics directory");
		return NULL;
	}
	rewinddir(dir);
	return dir;
}

/* Folds and sums the files of one program. */
static int
metrics_collect_program(int dirfd, struct mr_metrics_program *p,
    struct mr_err *err)
{
	static struct metrics_dead dead;
	static struct metrics_archive a;
	char program[MR_METRICS_PROGRAM_MAX];
	struct dirent *de;
	DIR *dir;

	if ((dir = metrics_opendir(dirfd, err)) == NULL)
		return -1;
	dead.n = 0;
	while ((de = readdir(dir)) != NULL)
		if (metrics_parse_name(de->d_name, "live", program) == 0 &&
		    strcmp(program, p->name) == 0)
			metrics_visit_live(dirfd, de->d_name, program, p, &dead);
	closedir(dir);
	if (dead.n > 0 && metrics_fold(dirfd, p->name, &dead, err) < 0)
		return -1;
	metrics_read_archive(dirfd, p->name, &a);
	mr_metrics_add(&p->c, &a.f.c);
	return 0;
}

/* The programs that have files here (live, archived or half made). */
static int
metrics_find_programs(int dirfd, struct mr_metrics_set *out,
    struct mr_err *err)
{
	char program[MR_METRICS_PROGRAM_MAX];
	struct dirent *de;
	DIR *dir;

	if ((dir = metrics_opendir(dirfd, err)) == NULL)
		return -1;
	while ((de = readdir(dir)) != NULL) {
		if (metrics_parse_name(de->d_name, "live", program) == 0 ||
		    metrics_parse_name(de->d_name, "archive", program) == 0)
			(void)metrics_program(out, program);
		else if (strncmp(de->d_name, "new.", 4) == 0)
			metrics_visit_new(dirfd, de->d_name);
	}
	closedir(dir);
	return 0;
}

int
mr_metrics_collect(const char *runtime_dir, struct mr_metrics_set *out,
    struct mr_err *err)
{
	char path[PATH_MAX];
	int dirfd, lockfd, rc = 0;

	out->n = 0;
	if (metrics_dir(runtime_dir, path, sizeof(path), err) < 0)
		return -1;
	if ((dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return mr_err_set(err, 503, "M_UNKNOWN", "cannot open '%s': %s",
		    path, strerror(errno));
	/* One scrape at a time: a fold moves counts from file to file, and a
	 * scrape beside it could see them in both or in neither. */
	lockfd = openat(dirfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC |
	    O_NOFOLLOW, 0640);
	if (lockfd < 0 || flock(lockfd, LOCK_EX) < 0) {
		rc = mr_err_set(err, 503, "M_UNKNOWN",
		    "cannot lock the metrics directory");
		goto out;
	}
	if (metrics_find_programs(dirfd, out, err) < 0) {
		rc = -1;
		goto out;
	}
	for (size_t i = 0; i < out->n && rc == 0; i++)
		rc = metrics_collect_program(dirfd, &out->prog[i], err);
	qsort(out->prog, out->n, sizeof(out->prog[0]), metrics_cmp_program);
out:
	if (lockfd >= 0)
		close(lockfd);
	close(dirfd);
	return rc;
}

/* --- the text --- */

struct metrics_buf {
	char *s;
	size_t len, cap;
	int failed;
};

static void __attribute__((format(printf, 2, 3)))
metrics_printf(struct metrics_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (int tries = 0; tries < 2 && !b->failed; tries++) {
		size_t room = b->cap - b->len;

		va_start(ap, fmt);
		n = vsnprintf(b->s + b->len, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->failed = 1;
		} else if ((size_t)n < room) {
			b->len += (size_t)n;
			return;
		} else {
			size_t cap = b->cap * 2 + (size_t)n + 1;
			char *s = realloc(b->s, cap);

			if (s == NULL)
				b->failed = 1;
			else {
				b->s = s;
				b->cap = cap;
			}
		}
	}
}

static void
metrics_family(struct metrics_buf *b, const char *name, const char *type,
    const char *help)
{
	metrics_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
	    type);
}

static void
metrics_render_requests(struct metrics_buf *b, const struct mr_metrics_set *set)
{
	metrics_family(b, "mediarepo_http_requests_total", "counter",
	    "Requests answered, by program, method and status.");
	for (size_t i = 0; i < set->n; i++)
		for (int m = 0; m < MR_METRICS_METHODS; m++)
			for (int s = 0; s < MR_METRICS_STATUSES; s++)
				if (set->prog[i].c.requests[m][s] != 0)
					metrics_printf(b,
					    "mediarepo_http_requests_total{"
					    "program=\"%s\",method=\"%s\","
					    "status=\"%d\"} %llu\n",
					    set->prog[i].name, metrics_methods[m],
					    s + MR_METRICS_STATUS_MIN,
					    (unsigned long long)
					    set->prog[i].c.requests[m][s]);
}

static void
metrics_render_durations(struct metrics_buf *b,
    const struct mr_metrics_set *set)
{
	metrics_family(b, "mediarepo_http_request_duration_seconds", "histogram",
	    "Time from request to the last byte of the answer, by program.");
	for (size_t i = 0; i < set->n; i++) {
		const struct mr_metrics_program *p = &set->prog[i];
		uint64_t cum = 0;

		for (int k = 0; k < MR_METRICS_BUCKETS; k++) {
			cum += p->c.duration[k];
			if (k < MR_METRICS_BUCKETS - 1)
				metrics_printf(b, "mediarepo_http_request_duration_"
				    "seconds_bucket{program=\"%s\",le=\"%g\"} "
				    "%llu\n", p->name,
				    (double)metrics_bounds[k] / 1000.0,
				    (unsigned long long)cum);
			else
				metrics_printf(b, "mediarepo_http_request_duration_"
				    "seconds_bucket{program=\"%s\",le=\"+Inf\"} "
				    "%llu\n", p->name, (unsigned long long)cum);
		}
		metrics_printf(b, "mediarepo_http_request_duration_seconds_sum"
		    "{program=\"%s\"} %.3f\n", p->name,
		    (double)p->c.duration_sum_ms / 1000.0);
		metrics_printf(b, "mediarepo_http_request_duration_seconds_count"
		    "{program=\"%s\"} %llu\n", p->name, (unsigned long long)cum);
	}
}

/* A family with one sample per program, from a field of each. */
static void
metrics_render_per_program(struct metrics_buf *b,
    const struct mr_metrics_set *set, const char *name, const char *type,
    const char *help, size_t offset)
{
	metrics_family(b, name, type, help);
	for (size_t i = 0; i < set->n; i++) {
		const char *p = (const char *)&set->prog[i];
		long long v;

		/* Counters are uint64_t, gauges int64_t: both 8 bytes. */
		memcpy(&v, p + offset, sizeof(v));
		metrics_printf(b, "%s{program=\"%s\"} %lld\n", name,
		    set->prog[i].name, v);
	}
}

/* A counter family summed over programs, one sample per label value. */
static void
metrics_render_labelled(struct metrics_buf *b,
    const struct mr_metrics_set *set, const char *name, const char *help,
    const char *label, const char *const *values, int n, size_t offset)
{
	metrics_family(b, name, "counter", help);
	for (int k = 0; k < n; k++) {
		uint64_t sum = 0, v;

		for (size_t i = 0; i < set->n; i++) {
			memcpy(&v, (const char *)&set->prog[i].c + offset +
			    (size_t)k * sizeof(uint64_t), sizeof(v));
			sum += v;
		}
		metrics_printf(b, "%s{%s=\"%s\"} %llu\n", name, label, values[k],
		    (unsigned long long)sum);
	}
}

static void
metrics_render_store(struct metrics_buf *b, const struct mr_metrics_set *set)
{
	static const char *const kinds[] = { "local", "remote", "thumbnail" };
	const struct mr_store_count *c[] = {
		&set->store.local, &set->store.remote, &set->store.thumbnails
	};

	if (!set->have_store)
		return;
	metrics_family(b, "mediarepo_stored_media", "gauge",
	    "Media items held: local uploads, cached remote media, thumbnails.");
	for (int k = 0; k < 3; k++)
		metrics_printf(b, "mediarepo_stored_media{kind=\"%s\"} %lld\n",
		    kinds[k], (long long)c[k]->count);
	metrics_family(b, "mediarepo_stored_media_bytes", "gauge",
	    "Bytes of media held, by kind (before deduplication).");
	for (int k = 0; k < 3; k++)
		metrics_printf(b, "mediarepo_stored_media_bytes{kind=\"%s\"} %lld\n",
		    kinds[k], (long long)c[k]->bytes);
}

#define PROG_OFF(field) offsetof(struct mr_metrics_program, field)
#define CNT_OFF(field) offsetof(struct mr_metrics_counters, field)

char *
mr_metrics_render(const struct mr_metrics_set *set, size_t *len)
{
	static const char *const methods[] = { "scale", "crop" };
	struct metrics_buf b = { NULL, 0, 0, 0 };
	uint64_t upload = 0;

	if ((b.s = malloc(b.cap = 16384)) == NULL)
		return NULL;
	b.s[0] = '\0';
	metrics_render_requests(&b, set);
	metrics_render_durations(&b, set);
	metrics_render_per_program(&b, set, "mediarepo_http_response_bytes_total",
	    "counter", "Bytes of response bodies sent by the programs.",
	    PROG_OFF(c) + CNT_OFF(response_bytes));
	for (size_t i = 0; i < set->n; i++)
		upload += set->prog[i].c.upload_bytes;
	metrics_family(&b, "mediarepo_upload_bytes_total", "counter",
	    "Bytes of media uploaded and stored.");
	metrics_printf(&b, "mediarepo_upload_bytes_total %llu\n",
	    (unsigned long long)upload);
	metrics_render_labelled(&b, set, "mediarepo_thumbnails_generated_total",
	    "Thumbnails made and stored, by method.", "method", methods, 2,
	    CNT_OFF(thumbnails));
	metrics_render_labelled(&b, set, "mediarepo_remote_fetches_total",
	    "Fetches of remote media from their origin, by result.", "result",
	    metrics_fetch_names, MR_FETCH__MAX, CNT_OFF(remote_fetches));
	metrics_render_labelled(&b, set, "mediarepo_url_previews_total",
	    "URL preview requests, by result.", "result",
	    metrics_preview_names, MR_PREVIEW__MAX, CNT_OFF(previews));
	metrics_render_labelled(&b, set, "mediarepo_ratelimited_total",
	    "Requests refused by a limit, by the limit's config key.", "limit",
	    metrics_limits, MR_METRICS_LIMITS, CNT_OFF(ratelimited));
	metrics_render_per_program(&b, set, "mediarepo_waiting_slots_in_use",
	    "gauge", "Waiting slots held now, by program.",
	    PROG_OFF(slots_in_use));
	metrics_render_per_program(&b, set, "mediarepo_waiting_slots", "gauge",
	    "Waiting slots a program has (its processes but a quarter).",
	    PROG_OFF(slots));
	metrics_render_per_program(&b, set, "mediarepo_processes", "gauge",
	    "Processes of a program that have served since they started.",
	    PROG_OFF(processes));
	metrics_render_store(&b, set);
	if (b.failed) {
		free(b.s);
		return NULL;
	}
	*len = b.len;
	return b.s;
}

int
mr_metrics_scrape(const struct mr_config *cfg, struct mr_store *st,
    char **out, size_t *len, struct mr_err *err)
{
	static struct mr_metrics_set set;	/* large: not on the stack */
	struct mr_err ignored;

	if (mr_metrics_collect(cfg->runtime_dir, &set, err) < 0)
		return -1;
	for (size_t i = 0; i < set.n; i++) {
		struct mr_metrics_program *p = &set.prog[i];

		p->slots_in_use = mr_slot_in_use(cfg->runtime_dir, p->name, 0,
		    p->slots);
		if (p->slots_in_use < 0)
			p->slots_in_use = 0;
	}
	/* Without the store the counters still go out; the gauges wait. */
	set.have_store = st != NULL &&
	    mr_store_stats(st, cfg->server_name, &set.store, &ignored) ==
	    MR_STORE_OK;
	if ((*out = mr_metrics_render(&set, len)) == NULL)
		return mr_err_set(err, 500, "M_UNKNOWN", "out of memory");
	return 0;
}

int
mr_metrics_allowed(const struct mr_config *cfg, const char *addr)
{
	uint8_t a[16];

	return addr != NULL && mr_net_parse_addr(addr, a) == 0 &&
	    mr_net_in_list(a, &cfg->metrics_allowed);
}
