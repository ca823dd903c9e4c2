/*
 * Interactive exec: POST .../exec with "Upgrade: runbox-exec" starts the command, answers 101
 * and then relays, on the connection's own thread, between the client's socket and the
 * command's stdio (three pipes, or the master of a pty made inside the sandbox). Both ways
 * go frames of an 8-byte header (type, three zero bytes, big-endian length) and a payload.
 * Memory stays bounded: the command's output is read only while the frames for the client fit
 * in their buffer, and the client's input only while the command's stdin has room, so a slow
 * side slows the other down instead of piling up. The command runs with KILL_GROUP: when it
 * ends, or when the agent's channel closes (whatever happens to us), its process group goes.
 * A daemon that stops does not wait for sessions (a shell may stay open for minutes): their
 * commands are killed and the clients told why.
 */
#include "exec-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "common/frame.h"

#define OUT_CAP	 (4 * (RB_FRAME_HDR + RB_FRAME_MAX)) /* frames for the client not sent yet */
#define PEND_CAP (2 * RB_FRAME_MAX)		     /* input for the command not written yet */
#define GRACE_MS 1000 /* after the client left: SIGHUP or EOF first, SIGKILL this much later */
#define DRAIN_MS 200  /* after the exit: output still in flight */
#define KILL_MS	 2000 /* a command that outlives SIGKILL by this much is given up on */
#define FLUSH_MS 5000 /* for the last frames to reach a slow client */
#define TICK_MS	 250  /* how soon a session sees the daemon stopping */

struct session {
	struct rb_rt_server *srv;
	struct rb_rt_exec_req x;
	char req_id[RB_RT_REQ_ID_SIZE];
	int chan, pty, in, out, err; /* pty: tty mode's stdin and stdout alike */
	long long start;
	struct rb_iso_exit exit;
	bool have_exit, timed_out, killed, gone; /* gone: the client */
	bool stopped;				 /* by the daemon's stopping */
	long long exited_at, kill_at;
	char *rbuf; /* from the client, not parsed yet */
	size_t rlen, rcap;
	char pend[PEND_CAP]; /* for the command's stdin */
	size_t pend_len;
	bool eof_after_pend;
	char obuf[OUT_CAP]; /* for the client */
	size_t ooff, olen;
};

static long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void session_free(void *arg)
{
	struct session *s = arg;

	if (!s)
		return;
	/* the channel last: closing it kills what is left of the command */
	closep(&s->pty);
	closep(&s->in);
	closep(&s->out);
	closep(&s->err);
	closep(&s->chan);
	rb_rt_exec_req_clear(&s->x);
	free(s->rbuf);
	free(s);
}

bool rb_rt_exec_wants_attach(struct rb_rt_req *req)
{
	const char *up = rb_rt_header(req, MHD_HTTP_HEADER_UPGRADE);

	return up && strcasestr(up, "runbox-exec");
}

/* ---- frames to the client ---- */

static void put_frame(struct session *s, enum rb_frame_type t, const void *data, size_t len)
{
	if (s->gone)
		return;
	if (s->ooff && s->olen + RB_FRAME_HDR + len > sizeof(s->obuf)) {
		memmove(s->obuf, s->obuf + s->ooff, s->olen - s->ooff);
		s->olen -= s->ooff;
		s->ooff = 0;
	}
	if (s->olen + RB_FRAME_HDR + len > sizeof(s->obuf))
		return; /* callers check room first; only the last frame could miss it */
	s->olen += rb_frame_put(s->obuf + s->olen, t, data, len);
}

static bool out_room(const struct session *s)
{
	return s->gone || sizeof(s->obuf) - (s->olen - s->ooff) >= RB_FRAME_HDR + RB_FRAME_MAX;
}

static void flush_some(struct session *s, int sock)
{
	while (!s->gone && s->ooff < s->olen) {
		ssize_t n =
		    send(sock, s->obuf + s->ooff, s->olen - s->ooff, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			s->gone = true;
			break;
		}
		s->ooff += (size_t)n;
	}
	if (s->ooff == s->olen)
		s->ooff = s->olen = 0;
}

/* ---- the command's side ---- */

static void close_stdin(struct session *s)
{
	s->pend_len = 0;
	s->eof_after_pend = false;
	closep(&s->in);
}

/* The client went away (or broke the protocol): hang up on the command, kill it soon. */
static void client_gone(struct session *s)
{
	s->gone = true;
	s->ooff = s->olen = 0;
	if (s->have_exit || s->kill_at)
		return;
	if (s->pty >= 0)
		rb_iso_exec_signal(s->chan, SIGHUP);
	close_stdin(s);
	s->kill_at = mono_ms() + GRACE_MS;
}

static void write_stdin(struct session *s)
{
	int fd = s->pty >= 0 ? s->pty : s->in;

	while (fd >= 0 && s->pend_len > 0) {
		ssize_t n = write(fd, s->pend, s->pend_len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			/* the command closed its stdin: what it did not read is dropped */
			close_stdin(s);
			return;
		}
		memmove(s->pend, s->pend + n, s->pend_len - (size_t)n);
		s->pend_len -= (size_t)n;
	}
	if (s->pend_len == 0 && s->eof_after_pend)
		close_stdin(s);
}

static void on_eof(struct session *s)
{
	struct termios t;

	if (s->pty < 0) {
		/* at once, or once what is pending is written */
		if (s->pend_len)
			s->eof_after_pend = true;
		else
			close_stdin(s);
		return;
	}
	/* a terminal has no end of input but the EOF character, as if typed */
	if (tcgetattr(s->pty, &t) == 0 && s->pend_len < sizeof(s->pend))
		s->pend[s->pend_len++] = (char)t.c_cc[VEOF];
}

static void on_resize(struct session *s, const unsigned char *p, size_t len)
{
	struct winsize ws = {0};

	if (s->pty < 0 || len < RB_FRAME_RESIZE_LEN)
		return;
	rb_frame_size_get(p, &ws.ws_row, &ws.ws_col);
	if (ws.ws_row && ws.ws_col)
		ioctl(s->pty, TIOCSWINSZ, &ws);
}

/* Act on the complete frames from the client, as far as the command's stdin has room. */
static void parse_frames(struct session *s)
{
	size_t off = 0;

	while (s->rlen - off >= RB_FRAME_HDR) {
		const unsigned char *h = (unsigned char *)s->rbuf + off;
		size_t len = rb_frame_len(h);

		if (len > RB_FRAME_MAX) {
			client_gone(s); /* not our protocol */
			s->rlen = 0;
			return;
		}
		if (s->rlen - off < RB_FRAME_HDR + len)
			break;
		if (h[0] == RB_FRAME_STDIN && (s->in >= 0 || s->pty >= 0) && !s->eof_after_pend) {
			if (s->pend_len + len > sizeof(s->pend))
				break; /* later, once the command has read */
			memcpy(s->pend + s->pend_len, h + RB_FRAME_HDR, len);
			s->pend_len += len;
		} else if (h[0] == RB_FRAME_EOF) {
			on_eof(s);
		} else if (h[0] == RB_FRAME_RESIZE) {
			on_resize(s, h + RB_FRAME_HDR, len);
		}
		off += RB_FRAME_HDR + len;
	}
	memmove(s->rbuf, s->rbuf + off, s->rlen - off);
	s->rlen -= off;
}

static void read_client(struct session *s, int sock)
{
	ssize_t n;

	do
		n = recv(sock, s->rbuf + s->rlen, s->rcap - s->rlen, MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN)
		return;
	if (n <= 0) {
		client_gone(s);
		return;
	}
	s->rlen += (size_t)n;
	parse_frames(s);
}

/* Output of the command as frames (dropped once the client is gone); false at its end. */
static bool read_output(struct session *s, int fd, enum rb_frame_type t)
{
	char buf[RB_FRAME_MAX];
	ssize_t n;

	do
		n = read(fd, buf, sizeof(buf));
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN)
		return true;
	if (n <= 0)
		return false; /* EIO from a pty master: every slave is closed */
	put_frame(s, t, buf, (size_t)n);
	return true;
}

static void on_exit_report(struct session *s)
{
	struct rb_error err;
	char msg[512];

	rb_error_clear(&err);
	s->have_exit = true;
	s->exited_at = mono_ms();
	if (rb_iso_exec_wait(s->chan, &s->exit, &err) < 0) {
		s->exit.exit_code = -1; /* the agent (the sandbox) is gone */
		return;
	}
	if (s->exit.exec_errno) {
		size_t n = rb_rt_exec_never_ran(&s->x, &s->exit, msg, sizeof(msg));

		put_frame(s, RB_FRAME_STDERR, msg, n);
	}
	if (s->pty < 0)
		close_stdin(s);
}

/* ---- the session ---- */

static int wait_ms(const struct session *s, long long now)
{
	long long until;

	if (s->have_exit)
		until = s->exited_at + DRAIN_MS;
	else if (s->killed)
		until = s->kill_at + KILL_MS;
	else if (s->kill_at && s->kill_at < s->start + s->x.timeout_ms)
		until = s->kill_at;
	else
		until = s->start + s->x.timeout_ms;
	if (until > now + TICK_MS)
		until = now + TICK_MS;
	return until > now ? (int)(until - now) : 0;
}

static void on_timer(struct session *s, long long now)
{
	if (s->have_exit)
		return;
	if (s->killed) {
		if (now >= s->kill_at + KILL_MS) {
			/* given up on: closing the channel kills it again */
			s->have_exit = true;
			s->exited_at = now - DRAIN_MS;
		}
		return;
	}
	if (now >= s->start + s->x.timeout_ms)
		s->timed_out = true;
	else if (atomic_load(&s->srv->stopping))
		s->stopped = true;
	else if (!s->kill_at || now < s->kill_at)
		return;
	/* past the time limit, or past the grace after the client left: the group goes */
	rb_iso_exec_signal(s->chan, SIGKILL);
	s->killed = true;
	s->kill_at = now;
}

static void relay(struct session *s, int sock)
{
	for (;;) {
		struct pollfd p[5];
		int np = 0, ps = -1, pc = -1, pp = -1, pi = -1, po = -1, pe = -1;
		long long now = mono_ms();
		bool room = out_room(s);

		if (s->have_exit &&
		    (now - s->exited_at >= DRAIN_MS || (s->pty < 0 && s->out < 0 && s->err < 0)))
			return;
		if (!s->gone) {
			ps = np;
			p[np++] =
			    (struct pollfd){.fd = sock,
					    .events = (short)((s->rlen < s->rcap ? POLLIN : 0) |
							      (s->olen ? POLLOUT : 0))};
		}
		if (!s->have_exit) {
			pc = np;
			p[np++] = (struct pollfd){.fd = s->chan, .events = POLLIN};
		}
		if (s->pty >= 0) {
			pp = np;
			p[np++] = (struct pollfd){
			    .fd = s->pty,
			    .events = (short)((room ? POLLIN : 0) | (s->pend_len ? POLLOUT : 0))};
		}
		if (s->in >= 0 && s->pend_len) {
			pi = np;
			p[np++] = (struct pollfd){.fd = s->in, .events = POLLOUT};
		}
		if (s->out >= 0 && room) {
			po = np;
			p[np++] = (struct pollfd){.fd = s->out, .events = POLLIN};
		}
		if (s->err >= 0 && room) {
			pe = np;
			p[np++] = (struct pollfd){.fd = s->err, .events = POLLIN};
		}
		if (poll(p, (nfds_t)np, wait_ms(s, now)) < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		on_timer(s, mono_ms());
		if (ps >= 0 && (p[ps].revents & (POLLIN | POLLHUP | POLLERR)))
			read_client(s, sock);
		if (ps >= 0 && (p[ps].revents & POLLOUT))
			flush_some(s, sock);
		if (pp >= 0 && (p[pp].revents & (POLLIN | POLLHUP | POLLERR)) &&
		    !read_output(s, s->pty, RB_FRAME_STDOUT))
			closep(&s->pty);
		if (po >= 0 && p[po].revents && !read_output(s, s->out, RB_FRAME_STDOUT))
			closep(&s->out);
		if (pe >= 0 && p[pe].revents && !read_output(s, s->err, RB_FRAME_STDERR))
			closep(&s->err);
		if ((pi >= 0 && p[pi].revents) || (pp >= 0 && s->pty >= 0 && s->pend_len))
			write_stdin(s);
		if (s->rlen)
			parse_frames(s); /* input that waited for room */
		if (pc >= 0 && p[pc].revents)
			on_exit_report(s);
		flush_some(s, sock);
	}
}

/* The last frame: the result, or the error (EXECUTION_TIMEOUT with the result in details). */
static void finish(struct session *s, int sock)
{
	_cleanup_json_ cJSON *res = cJSON_CreateObject(), *doc = NULL;
	bool oom = false;
	struct rb_error err;
	enum rb_frame_type t = RB_FRAME_EXIT;
	char *text;

	rb_error_clear(&err);
	if (s->stopped) {
		rb_error_set(&err, ESHUTDOWN, RB_INVALID_STATE,
			     "the daemon is stopping: the command was killed");
		doc = rb_rt_error_json(s->req_id, &err, NULL);
		t = RB_FRAME_ERROR;
	} else if (s->exit.exit_code == -1 || (!s->exit.exited && !s->exit.signal)) {
		if (s->x.sb->state == RB_SB_TERMINATED)
			rb_error_set(&err, EBUSY, RB_INVALID_STATE,
				     "sandbox %s was terminated while the command ran",
				     s->x.sb->id);
		else
			rb_error_set(&err, EPIPE, RB_INTERNAL_ERROR,
				     "sandbox %s: the command's end was not reported", s->x.sb->id);
		doc = rb_rt_error_json(s->req_id, &err, NULL);
		t = RB_FRAME_ERROR;
	} else {
		/* a SIGKILL nobody here sent: was it the sandbox's OOM killer? */
		if (!s->killed && (s->exit.signal == SIGKILL || s->exit.exit_code == 137))
			oom = rb_rt_sandbox_oom_check(s->x.sb);
		rb_rt_exec_status_json(res, &s->exit, mono_ms() - s->start, s->timed_out, oom);
		if (s->timed_out) {
			cJSON_AddNumberToObject(res, "timeoutMs", (double)s->x.timeout_ms);
			rb_error_set(&err, ETIMEDOUT, RB_EXECUTION_TIMEOUT,
				     "the command ran longer than %ld ms and was killed",
				     s->x.timeout_ms);
			doc = rb_rt_error_json(s->req_id, &err, res);
			t = RB_FRAME_ERROR;
		}
	}
	text = cJSON_PrintUnformatted(doc ? doc : res);
	if (text)
		put_frame(s, t, text, strlen(text));
	free(text);
	for (long long until = mono_ms() + FLUSH_MS; !s->gone && s->olen && mono_ms() < until;) {
		struct pollfd p = {.fd = sock, .events = POLLOUT};

		if (poll(&p, 1, 100) > 0)
			flush_some(s, sock);
	}
}

static void on_upgrade(void *cls, struct MHD_Connection *conn, void *con_cls, const char *extra_in,
		       size_t extra_in_size, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
	struct session *s = cls;

	/* what the client sent after its request, before our answer, is frames already */
	s->rcap = RB_FRAME_HDR + RB_FRAME_MAX + extra_in_size;
	s->rbuf = malloc(s->rcap);
	if (s->rbuf) {
		if (extra_in_size)
			memcpy(s->rbuf, extra_in, extra_in_size);
		s->rlen = extra_in_size;
		parse_frames(s);
		relay(s, sock);
		finish(s, sock);
	}
	/* the command's fds and channel go when the request is freed, right after this */
	MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
}

/* Start the command before answering, so that its failure is still an HTTP error. */
static int start(struct session *s, struct rb_error *err)
{
	int out[2] = {-1, -1}, errp[2] = {-1, -1}, in[2] = {-1, -1}, r;
	struct rb_iso_exec x = {.argv = (const char *const *)s->x.argv,
				.env = (const char *const *)s->x.env,
				.cwd = s->x.cwd,
				.user = s->x.user,
				.tty = s->x.tty,
				.rows = s->x.rows,
				.cols = s->x.cols,
				.kill_group = 1};
	pid_t pid;

	if (!s->x.tty &&
	    (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0 || pipe2(in, O_CLOEXEC) < 0)) {
		r = rb_error_sys(err, errno, RB_RESOURCE_EXHAUSTED, "pipes for the command");
		goto out;
	}
	x.stdin_fd = in[0];
	x.stdout_fd = out[1];
	x.stderr_fd = errp[1];
	s->start = mono_ms();
	r = rb_iso_exec_start(s->x.sb->iso.ctl, &x, &s->chan, &pid, &s->pty, err);
	if (r < 0 && s->x.sb->state == RB_SB_TERMINATED)
		r = rb_error_set(err, EBUSY, RB_INVALID_STATE, "sandbox %s is terminated",
				 s->x.sb->id);
	if (r < 0)
		goto out;
	s->in = TAKE_FD(in[1]);
	s->out = TAKE_FD(out[0]);
	s->err = TAKE_FD(errp[0]);
	for (int *const *fd = (int *const[]){&s->pty, &s->in, &s->out, &s->err, NULL}; *fd; fd++)
		if (**fd >= 0)
			fcntl(**fd, F_SETFL, O_NONBLOCK);
	if (s->x.stdin_data && s->x.stdin_len <= sizeof(s->pend)) {
		memcpy(s->pend, s->x.stdin_data, s->x.stdin_len);
		s->pend_len = s->x.stdin_len;
	}
out:
	for (int i = 0; i < 2; i++) {
		closep(&out[i]);
		closep(&errp[i]);
		closep(&in[i]);
	}
	return r;
}

int rb_rt_exec_attach(struct rb_rt_req *req, struct rb_rt_exec_req *x, struct rb_error *err)
{
	struct session *s = calloc(1, sizeof(*s));
	struct MHD_Response *resp;
	int r;

	if (!s)
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	s->x = *x;
	memset(x, 0, sizeof(*x));
	s->chan = s->pty = s->in = s->out = s->err = -1;
	memcpy(s->req_id, req->id, sizeof(s->req_id));
	s->srv = req->srv;
	if (s->x.stdin_len > sizeof(s->pend)) {
		session_free(s);
		return rb_rt_field_error(req, err, "stdin",
					 "field \"stdin\" takes at most %zu bytes here; send the "
					 "rest as frames",
					 sizeof(s->pend));
	}
	/* the request frees the session on every path, whether the upgrade happens or not */
	req->ctx = s;
	req->ctx_free = session_free;
	r = start(s, err);
	if (r < 0)
		return r;
	resp = MHD_create_response_for_upgrade(on_upgrade, s);
	if (!resp)
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "cannot create a response");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_UPGRADE, "runbox-exec");
	r = rb_rt_reply(req, MHD_HTTP_SWITCHING_PROTOCOLS, resp, NULL);
	if (r < 0)
		return rb_error_set(err, -r, RB_INTERNAL_ERROR, "cannot queue the upgrade");
	return 0;
}
