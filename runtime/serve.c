/*
 * The daemon's top-level flow, start to end: lock the state directory, open the image store,
 * bind the socket, serve until SIGTERM/SIGINT, then drain in-flight requests and undo it all.
 */
#include "runtime-internal.h"
#include "events.h"
#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/fsutil.h"

/* One daemon per state directory: an exclusive flock on STATE_DIR/lock, holding our pid. */
static int take_lock(const char *state_dir, int *out, struct rb_error *err)
{
	_cleanup_free_ char *path = rb_path_join(state_dir, "lock");
	_cleanup_close_ int fd = -1;
	char pid[32];
	int r;

	if (!path)
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	r = rb_mkdir_p(state_dir, 0700);
	if (r < 0)
		return rb_error_sys(err, -r, RB_INTERNAL_ERROR, "creating state directory %s",
				    state_dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return rb_error_sys(err, errno, RB_INTERNAL_ERROR, "opening %s", path);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		ssize_t n;

		if (errno != EWOULDBLOCK)
			return rb_error_sys(err, errno, RB_INTERNAL_ERROR, "locking %s", path);
		n = pread(fd, pid, sizeof(pid) - 1, 0);
		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		return rb_error_set(err, EBUSY, RB_INVALID_STATE,
				    "another runbox daemon (pid %s) is using %s",
				    pid[0] ? pid : "unknown", state_dir);
	}
	snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, strlen(pid), 0) < 0)
		return rb_error_sys(err, errno, RB_INTERNAL_ERROR, "writing %s", path);
	*out = TAKE_FD(fd);
	return 0;
}

/* Release the lock, leaving no stale pid for the next daemon's message. */
static void lock_releasep(int *fd)
{
	if (*fd >= 0) {
		if (ftruncate(*fd, 0) < 0) {
			/* the pid stays; harmless */
		}
		close(*fd);
	}
}

/* A socket file at path that nothing answers on is stale; anything else stays. */
static int clear_stale_socket(const char *path, const struct sockaddr_un *addr,
			      struct rb_error *err)
{
	_cleanup_close_ int fd = -1;
	struct stat st;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0
				       : rb_error_sys(err, errno, RB_INTERNAL_ERROR, "%s", path);
	if (!S_ISSOCK(st.st_mode))
		return rb_error_set(err, EEXIST, RB_INVALID_CONFIG,
				    "%s exists and is not a socket; not touching it", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return rb_error_sys(err, errno, RB_INTERNAL_ERROR, "socket");
	if (connect(fd, (const struct sockaddr *)addr, sizeof(*addr)) == 0)
		return rb_error_set(err, EADDRINUSE, RB_INVALID_STATE,
				    "another runbox daemon is already listening on %s", path);
	if (errno == ENOENT)
		return 0;
	if (errno != ECONNREFUSED)
		return rb_error_sys(err, errno, RB_INTERNAL_ERROR, "probing %s", path);
	if (unlink(path) < 0 && errno != ENOENT)
		return rb_error_sys(err, errno, RB_INTERNAL_ERROR, "removing stale socket %s",
				    path);
	return 0;
}

static int bind_socket(const struct rb_rt_config *cfg, int *out, struct stat *st,
		       struct rb_error *err)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	_cleanup_free_ char *parent = strdup(cfg->socket_path);
	_cleanup_close_ int fd = -1;
	mode_t old_umask;
	int r;

	if (strlen(cfg->socket_path) >= sizeof(addr.sun_path))
		return rb_error_set(err, ENAMETOOLONG, RB_INVALID_CONFIG,
				    "socket path %s is longer than %zu bytes", cfg->socket_path,
				    sizeof(addr.sun_path) - 1);
	if (!parent)
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	strcpy(addr.sun_path, cfg->socket_path);
	r = rb_mkdir_p(dirname(parent), 0755);
	if (r < 0)
		return rb_error_sys(err, -r, RB_INTERNAL_ERROR, "creating the directory of %s",
				    cfg->socket_path);
	r = clear_stale_socket(cfg->socket_path, &addr, err);
	if (r < 0)
		return r;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return rb_error_sys(err, errno, RB_INTERNAL_ERROR, "socket");
	/* no moment where the socket is reachable by others: it is born 0600 */
	old_umask = umask(0177);
	r = bind(fd, (struct sockaddr *)&addr, sizeof(addr));
	umask(old_umask);
	if (r < 0)
		return rb_error_sys(err, errno, RB_INTERNAL_ERROR, "binding %s", cfg->socket_path);
	if (cfg->socket_gid >= 0 &&
	    (lchown(cfg->socket_path, (uid_t)-1, (gid_t)cfg->socket_gid) < 0 ||
	     chmod(cfg->socket_path, 0660) < 0)) {
		r = rb_error_sys(err, errno, RB_INTERNAL_ERROR, "giving %s to group %ld",
				 cfg->socket_path, cfg->socket_gid);
		unlink(cfg->socket_path);
		return r;
	}
	if (listen(fd, 128) < 0 || lstat(cfg->socket_path, st) < 0) {
		r = rb_error_sys(err, errno, RB_INTERNAL_ERROR, "listening on %s",
				 cfg->socket_path);
		unlink(cfg->socket_path);
		return r;
	}
	*out = TAKE_FD(fd);
	return 0;
}

/* Remove the socket file only if it is still the one we bound. */
static void remove_socket(const char *path, const struct stat *ours)
{
	struct stat st;

	if (lstat(path, &st) == 0 && st.st_ino == ours->st_ino && st.st_dev == ours->st_dev)
		unlink(path);
}

/* Stop accepting, then wait for requests in flight; a second signal cuts the wait short. */
static void drain(struct rb_rt_server *srv, struct MHD_Daemon *d, int sig_fd,
		  const char *socket_path, const struct stat *sock_st)
{
	MHD_socket lfd = MHD_quiesce_daemon(d);
	struct pollfd pfd = {.fd = sig_fd, .events = POLLIN};

	atomic_store(&srv->stopping, true);
	if (lfd != MHD_INVALID_SOCKET)
		close(lfd);
	remove_socket(socket_path, sock_st);
	while (atomic_load(&srv->inflight) > 0) {
		if (poll(&pfd, 1, 100) > 0) {
			if (srv->debug)
				fprintf(stderr,
					"runbox: second signal, not waiting for %d "
					"request(s)\n",
					atomic_load(&srv->inflight));
			break;
		}
	}
	MHD_stop_daemon(d);
}

static void store_closep(struct rb_image_store **store)
{
	if (*store)
		rb_image_store_close(*store);
}

static int open_store(struct rb_rt_server *srv, struct rb_image_store **store, struct rb_error *err)
{
	_cleanup_free_ char *dir = rb_path_join(srv->cfg->state_dir, "images");
	struct rb_error warn;
	int r;

	if (!dir)
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	r = rb_image_store_open(dir, &srv->cfg->limits, store, err);
	if (r < 0)
		return rb_error_wrap(err, "opening the image store %s", dir);
	rb_error_clear(&warn);
	if (rb_image_ensure_default(*store, srv->cfg->busybox, &warn) < 0)
		fprintf(stderr, "runbox: warning: no default image %s: %s\n", RB_DEFAULT_IMAGE,
			warn.msg);
	return 0;
}

static int serve(struct rb_rt_server *srv, int sig_fd, struct rb_error *err)
{
	/* cleanups run in reverse: listening socket, store, the lock, and the exporters last */
	_cleanup_(rb_rt_exporters_stopp) struct rb_rt_exporters *exporters = NULL;
	_cleanup_(lock_releasep) int lock_fd = -1;
	_cleanup_(store_closep) struct rb_image_store *store = NULL;
	_cleanup_close_ int listen_fd = -1;
	struct rb_rt_sandboxes sandboxes;
	const struct rb_rt_config *cfg = srv->cfg;
	struct signalfd_siginfo si = {0};
	struct MHD_Daemon *d;
	struct stat sock_st = {0};
	struct rb_error warn;
	int r;

	r = rb_rt_exporters_start(cfg, &exporters, err); /* a bad configuration stops us here */
	if (r == 0)
		r = take_lock(cfg->state_dir, &lock_fd, err);
	if (r < 0)
		return r;
	rb_error_clear(&warn);
	if (rb_rt_probe_host(&srv->host, &warn) < 0)
		fprintf(stderr, "runbox: warning: %s\n", warn.msg);
	/* the socket before the store: a clash shows at once, not after building the default
	 * image; clients that connect meanwhile wait in the backlog */
	r = bind_socket(cfg, &listen_fd, &sock_st, err);
	if (r < 0)
		return r;
	r = open_store(srv, &store, err);
	if (r < 0) {
		remove_socket(cfg->socket_path, &sock_st);
		return r;
	}
	srv->store = store;
	rb_rt_metrics_init();
	{ /* the network before the sandboxes: those taken back get theirs back */
		struct rb_net_config netcfg;
		struct rb_net_ctx *net = NULL;
		_cleanup_free_ char *real = realpath(cfg->state_dir, NULL);

		if (cfg->net)
			netcfg = *cfg->net;
		else
			rb_net_config_default(&netcfg);
		rb_net_config_owner(&netcfg, real ? real : cfg->state_dir);
		r = rb_net_ctx_new(&netcfg, &net, err);
		if (r == 0)
			r = rb_net_ctx_on_denied(net, rb_rt_ev_network_denied, NULL, err);
		if (r == 0 && rb_net_ctx_dns_off(net))
			fprintf(stderr,
				"runbox: warning: DNS proxy off, domain allowlists refused: %s\n",
				rb_net_ctx_dns_off(net));
		if (r < 0) {
			rb_net_ctx_free(net);
			remove_socket(cfg->socket_path, &sock_st);
			return r;
		}
		r = rb_rt_sandboxes_open(&sandboxes, cfg->state_dir, store, net, err);
	}
	if (r < 0) {
		rb_rt_sandboxes_close(&sandboxes, "daemon failed to start");
		remove_socket(cfg->socket_path, &sock_st);
		return r;
	}
	if (cfg->default_pids)
		sandboxes.default_pids = cfg->default_pids;
	srv->sandboxes = &sandboxes;
	d = rb_rt_http_start(srv, listen_fd, err);
	if (!d) {
		rb_rt_sandboxes_close(&sandboxes, "daemon failed to start");
		remove_socket(cfg->socket_path, &sock_st);
		return -EIO;
	}
	listen_fd = -1; /* MHD's now; returned to us by MHD_quiesce_daemon */
	if (cfg->keep_terminated_s)
		sandboxes.retention_ms = cfg->keep_terminated_s * 1000;
	if (rb_rt_timers_start(&sandboxes, &warn) < 0)
		fprintf(stderr, "runbox: warning: %s: sandboxes will not time out\n", warn.msg);
	if (srv->debug)
		fprintf(stderr, "runbox: serving on %s (pid %d, state %s)\n", cfg->socket_path,
			(int)getpid(), cfg->state_dir);
	while (read(sig_fd, &si, sizeof(si)) < 0 && errno == EINTR)
		;
	if (srv->debug)
		fprintf(stderr, "runbox: signal %u, shutting down\n", si.ssi_signo);
	rb_rt_ev_close_streams(); /* event streams end, so the drain does not wait on them */
	drain(srv, d, sig_fd, cfg->socket_path, &sock_st);
	/* the sandboxes keep running, networks and all, unless asked to stop with it */
	sandboxes.stop_on_close = cfg->stop_sandboxes;
	rb_rt_sandboxes_close(&sandboxes, "daemon stopped");
	srv->sandboxes = NULL;
	return 0;
}

int rb_rt_serve(const struct rb_rt_config *cfg, struct rb_error *err)
{
	struct rb_rt_server srv = {.cfg = cfg};
	_cleanup_close_ int sig_fd = -1;
	const char *debug = getenv("RUNBOX_DEBUG");
	sigset_t mask, old;
	int r;

	srv.debug = debug && *debug && strcmp(debug, "0");
	/* blocked before any thread exists: every thread inherits the mask, only sig_fd reads */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	pthread_sigmask(SIG_BLOCK, &mask, &old);
	signal(SIGPIPE, SIG_IGN);
	sig_fd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sig_fd < 0) {
		r = rb_error_sys(err, errno, RB_INTERNAL_ERROR, "signalfd");
	} else {
		r = serve(&srv, sig_fd, err);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return r;
}
