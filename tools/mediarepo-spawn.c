/*
 * mediarepo-spawn: runs N processes of one FastCGI program on a unix socket
 * and keeps N running. It takes spawn-fcgi's place in front of lighttpd and
 * nginx (Apache's mod_fcgid supervises its own programs): a process that
 * dies, whatever killed it, is replaced at once, so a crash or a kill -9
 * never leaves an endpoint without processes until someone restarts it.
 *
 *   mediarepo-spawn -s SOCKET [-n N] [-m MODE] [-p PIDFILE] [-u USER [-g GROUP]]
 *       -- PROGRAM [ARG...]
 *
 * Without -n, N is PROGRAM's entry in the 'processes' setting of the config
 * that MEDIAREPO_CONFIG names (download.fcgi -> "download:16").
 * The supervisor binds SOCKET, and every child gets it as descriptor 0 (the
 * FastCGI convention) and MEDIAREPO_PROCESSES=N in its environment (the
 * program sizes its pool of waiting slots from it). SIGTERM or SIGINT stops
 * the children (SIGKILL after two seconds) and then the supervisor; a
 * child also gets SIGTERM when the supervisor dies, so none outlives it.
 * It stays in the foreground, for systemd, mediarepo-run and the tests.
 *
 * Started as root with -u, the children run as USER (and GROUP, else the
 * user's own group, with no supplementary groups), and the socket belongs
 * to them, so that the web server connects through the group.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../common/config.h"

#define SPAWN_MAX_PROCS 1024
/* A child that dies sooner than this after its start is failing, not
 * killed: its replacements back off, so a program that cannot start
 * (bad config) does not spin. */
#define SPAWN_QUICK_EXIT_MS 1000
#define SPAWN_BACKOFF_MAX_MS 5000
#define SPAWN_STOP_GRACE_MS 2000

struct spawn_child {
	pid_t pid;		/* 0: not running */
	int64_t started_ms;
	int64_t restart_at_ms;	/* when a backed-off respawn is due */
	unsigned quick_exits;
};

static int64_t
spawn_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
spawn_usage(void)
{
	fprintf(stderr, "usage: mediarepo-spawn -s SOCKET [-n PROCESSES] "
	    "[-m MODE] [-p PIDFILE] [-u USER [-g GROUP]] -- PROGRAM [ARG...]\n");
	exit(2);
}

static int
spawn_listen(const char *path, mode_t mode)
{
	struct sockaddr_un sa;
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "mediarepo-spawn: socket path too long '%s'\n",
		    path);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) < 0)
		goto fail;
	/* A socket someone still answers on belongs to a running stack. */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		fprintf(stderr, "mediarepo-spawn: socket in use '%s'\n", path);
		close(fd);
		return -1;
	}
	close(fd);
	if (unlink(path) < 0 && errno != ENOENT)
		goto fail;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		goto fail;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chmod(path, mode) < 0 || listen(fd, 1024) < 0) {
		close(fd);
		goto fail;
	}
	return fd;
fail:
	fprintf(stderr, "mediarepo-spawn: cannot listen on '%s': %s\n", path,
	    strerror(errno));
	return -1;
}

/* Who the children run as; uid 0 (or no -u) keeps the supervisor's. */
static uid_t spawn_uid;
static gid_t spawn_gid;

static int
spawn_resolve_user(const char *user, const char *group)
{
	struct passwd *pw = getpwnam(user);
	struct group *gr;

	if (pw == NULL) {
		fprintf(stderr, "mediarepo-spawn: no user '%s'\n", user);
		return -1;
	}
	spawn_uid = pw->pw_uid;
	spawn_gid = pw->pw_gid;
	if (group != NULL) {
		if ((gr = getgrnam(group)) == NULL) {
			fprintf(stderr, "mediarepo-spawn: no group '%s'\n", group);
			return -1;
		}
		spawn_gid = gr->gr_gid;
	}
	return 0;
}

/* In the child: the socket on 0, stdout to /dev/null, stderr kept. */
static void
spawn_exec(int listen_fd, pid_t parent, const sigset_t *oldmask,
    char **argv)
{
	int devnull;

	if (spawn_uid != 0 && (setgroups(0, NULL) < 0 ||
	    setgid(spawn_gid) < 0 || setuid(spawn_uid) < 0 ||
	    setuid(0) == 0)) {
		fprintf(stderr, "mediarepo-spawn: cannot drop privileges\n");
		_exit(1);
	}

	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(1);		/* the supervisor died before prctl */
	if (dup2(listen_fd, 0) < 0)
		_exit(1);
	if ((devnull = open("/dev/null", O_WRONLY)) >= 0) {
		dup2(devnull, 1);
		if (devnull > 2)
			close(devnull);
	}
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGCHLD, SIG_DFL);
	sigprocmask(SIG_SETMASK, oldmask, NULL);
	execv(argv[0], argv);
	fprintf(stderr, "mediarepo-spawn: cannot run '%s': %s\n", argv[0],
	    strerror(errno));
	_exit(127);
}

static void
spawn_start(struct spawn_child *c, int listen_fd, const sigset_t *oldmask,
    char **argv)
{
	pid_t parent = getpid(), pid = fork();

	if (pid == 0)
		spawn_exec(listen_fd, parent, oldmask, argv);
	if (pid < 0) {
		fprintf(stderr, "mediarepo-spawn: fork: %s\n", strerror(errno));
		c->restart_at_ms = spawn_now_ms() + 100;
		return;
	}
	c->pid = pid;
	c->started_ms = spawn_now_ms();
	c->restart_at_ms = 0;
}

/* Marks the child of pid as gone and schedules its replacement. */
static void
spawn_reap(struct spawn_child *kids, long n, pid_t pid)
{
	int64_t now = spawn_now_ms(), delay;
	long i;

	for (i = 0; i < n; i++) {
		if (kids[i].pid != pid)
			continue;
		kids[i].pid = 0;
		if (now - kids[i].started_ms < SPAWN_QUICK_EXIT_MS)
			kids[i].quick_exits++;
		else
			kids[i].quick_exits = 0;
		delay = kids[i].quick_exits == 0 ? 0 :
		    100LL << (kids[i].quick_exits < 6 ? kids[i].quick_exits : 6);
		if (delay > SPAWN_BACKOFF_MAX_MS)
			delay = SPAWN_BACKOFF_MAX_MS;
		kids[i].restart_at_ms = now + delay;
		return;
	}
}

static long
spawn_running(const struct spawn_child *kids, long n)
{
	long i, running = 0;

	for (i = 0; i < n; i++)
		running += kids[i].pid != 0;
	return running;
}

static void
spawn_reap_all(struct spawn_child *kids, long n)
{
	pid_t pid;

	while ((pid = waitpid(-1, NULL, WNOHANG)) > 0)
		spawn_reap(kids, n, pid);
}

static void
spawn_signal_all(const struct spawn_child *kids, long n, int sig)
{
	long i;

	for (i = 0; i < n; i++)
		if (kids[i].pid != 0)
			kill(kids[i].pid, sig);
}

static void
spawn_stop(struct spawn_child *kids, long n, const sigset_t *wanted)
{
	int64_t deadline = spawn_now_ms() + SPAWN_STOP_GRACE_MS;
	struct timespec tick = { 0, 50 * 1000000 };

	spawn_signal_all(kids, n, SIGTERM);
	while (spawn_running(kids, n) > 0 && spawn_now_ms() < deadline) {
		sigtimedwait(wanted, NULL, &tick);
		spawn_reap_all(kids, n);
	}
	spawn_signal_all(kids, n, SIGKILL);
	while (spawn_running(kids, n) > 0) {
		pid_t pid = waitpid(-1, NULL, 0);

		if (pid < 0)
			break;
		spawn_reap(kids, n, pid);
	}
}

static int
spawn_write_pidfile(const char *path)
{
	FILE *f = fopen(path, "w");

	if (f == NULL || fprintf(f, "%ld\n", (long)getpid()) < 0 ||
	    fclose(f) != 0) {
		fprintf(stderr, "mediarepo-spawn: cannot write '%s'\n", path);
		return -1;
	}
	return 0;
}

/* Starts what is due; the wait until the next backed-off start, in ms. */
static int64_t
spawn_start_due(struct spawn_child *kids, long n, int listen_fd,
    const sigset_t *oldmask, char **argv)
{
	int64_t now = spawn_now_ms(), next = 1000;
	long i;

	for (i = 0; i < n; i++) {
		if (kids[i].pid != 0)
			continue;
		if (kids[i].restart_at_ms <= now)
			spawn_start(&kids[i], listen_fd, oldmask, argv);
		else if (kids[i].restart_at_ms - now < next)
			next = kids[i].restart_at_ms - now;
	}
	return next;
}

/* The count the config gives program (its file name less ".fcgi"). */
static long
spawn_configured(const char *program)
{
	const char *base = strrchr(program, '/');
	struct mr_config cfg;
	struct mr_err err;
	char name[64];
	size_t len;

	base = base ? base + 1 : program;
	len = strcspn(base, ".");
	if (len >= sizeof(name)) {
		fprintf(stderr, "mediarepo-spawn: odd program name '%s'\n", base);
		return -1;
	}
	memcpy(name, base, len);
	name[len] = '\0';
	if (mr_config_load_env(&cfg, &err) < 0) {
		fprintf(stderr, "mediarepo-spawn: %s (or give -n)\n", err.msg);
		return -1;
	}
	return (long)mr_config_processes(&cfg, name);
}

int
main(int argc, char **argv)
{
	const char *sock = NULL, *pidfile = NULL, *user = NULL, *group = NULL;
	long n = 0, mode = 0660;
	struct spawn_child *kids;
	sigset_t wanted, oldmask;
	char nbuf[16], *end;
	int opt, listen_fd;

	while ((opt = getopt(argc, argv, "s:n:m:p:u:g:")) != -1) {
		switch (opt) {
		case 's': sock = optarg; break;
		case 'p': pidfile = optarg; break;
		case 'u': user = optarg; break;
		case 'g': group = optarg; break;
		case 'n':
			n = strtol(optarg, &end, 10);
			if (*end != '\0' || n < 1 || n > SPAWN_MAX_PROCS)
				spawn_usage();
			break;
		case 'm':
			mode = strtol(optarg, &end, 8);
			if (*end != '\0' || mode < 0 || mode > 0777)
				spawn_usage();
			break;
		default: spawn_usage();
		}
	}
	if (sock == NULL || optind >= argc || (group != NULL && user == NULL))
		spawn_usage();
	if (user != NULL && spawn_resolve_user(user, group) < 0)
		return 1;
	argv += optind;
	if (n == 0 && (n = spawn_configured(argv[0])) < 1)
		return 1;
	if ((kids = calloc((size_t)n, sizeof(*kids))) == NULL)
		return 1;
	snprintf(nbuf, sizeof(nbuf), "%ld", n);
	setenv("MEDIAREPO_PROCESSES", nbuf, 1);
	/* Signals are taken synchronously (sigtimedwait), so nothing runs
	 * in a handler and no child is missed between two checks. */
	sigemptyset(&wanted);
	sigaddset(&wanted, SIGCHLD);
	sigaddset(&wanted, SIGTERM);
	sigaddset(&wanted, SIGINT);
	sigaddset(&wanted, SIGHUP);
	sigprocmask(SIG_BLOCK, &wanted, &oldmask);
	if ((listen_fd = spawn_listen(sock, (mode_t)mode)) < 0)
		return 1;
	if (spawn_uid != 0 && chown(sock, spawn_uid, spawn_gid) < 0) {
		fprintf(stderr, "mediarepo-spawn: cannot hand '%s' over: %s\n",
		    sock, strerror(errno));
		return 1;
	}
	if (pidfile != NULL && spawn_write_pidfile(pidfile) < 0)
		return 1;
	for (;;) {
		int64_t wait_ms = spawn_start_due(kids, n, listen_fd, &oldmask,
		    argv);
		struct timespec ts = { (time_t)(wait_ms / 1000),
		    (long)(wait_ms % 1000) * 1000000 };
		int sig = sigtimedwait(&wanted, NULL, &ts);

		if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP)
			break;
		spawn_reap_all(kids, n);
	}
	spawn_stop(kids, n, &wanted);
	close(listen_fd);
	unlink(sock);
	if (pidfile != NULL)
		unlink(pidfile);
	free(kids);
	return 0;
}
