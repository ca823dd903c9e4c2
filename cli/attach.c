/*
 * runbox exec -i / -t and run -i / -t: the exec request over a plain unix socket, answered
 * "101 Switching Protocols", then frames both ways (docs/api.md): our stdin as it comes, the
 * terminal's size, the command's stdout and stderr, its end. With -t on a terminal ours is raw
 * for the session and put back on every way out, signals included. Signals come through a
 * pipe, so the loop sees them whichever thread the kernel picked; the ones our caller blocked
 * (run's signal thread waits for them) stay its own.
 */
#include "attach.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "common/frame.h"

#define HEAD_MAX 16384	   /* the HTTP answer's head */
#define BODY_MAX (1 << 20) /* an error answer's body */
#define CHUNK	 16384	   /* of our stdin, a frame */

static struct termios saved_tio;
static volatile sig_atomic_t tio_saved;
static int sig_pipe[2] = {-1, -1};

void rb_cli_attach_restore(void)
{
	if (tio_saved) {
		tcsetattr(STDIN_FILENO, TCSADRAIN, &saved_tio);
		tio_saved = 0;
	}
}

static void on_signal(int sig)
{
	int saved = errno;
	unsigned char b = (unsigned char)sig;

	(void)!write(sig_pipe[1], &b, 1);
	errno = saved;
}

/* ---- the HTTP part ---- */

static int dial(struct rb_cli *cli)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, e;

	if (strlen(cli->socket_path) >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sa.sun_path, cli->socket_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return fd;
	e = errno;
	close(fd);
	errno = e;
	return -1;
}

static int connect_daemon(struct rb_cli *cli)
{
	int fd = dial(cli);

	if (fd < 0 && (errno == ECONNREFUSED || errno == ENOENT) && cli->autostart &&
	    !cli->autostarted) {
		int rc = rb_cli_autostart(cli);

		if (rc != RB_EXIT_OK)
			return -rc;
		fd = dial(cli);
	}
	if (fd < 0) {
		fprintf(stderr,
			"runbox: cannot reach the daemon at %s (is `runbox serve` running?)\n",
			cli->socket_path);
		return -RB_EXIT_UNREACHABLE;
	}
	return fd;
}

/* All of p to fd, a socket (without SIGPIPE) or not, through EINTR and EAGAIN; -1 on error. */
static int put_all(int fd, bool sock, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = sock ? send(fd, p, len, MSG_NOSIGNAL) : write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			struct pollfd w = {.fd = fd, .events = POLLOUT};

			poll(&w, 1, -1);
			continue;
		}
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* A header's value in the answer's head, or NULL. */
static const char *header(const char *head, const char *name)
{
	size_t n = strlen(name);

	for (const char *l = strstr(head, "\r\n"); l; l = strstr(l + 2, "\r\n"))
		if (!strncasecmp(l + 2, name, n) && l[2 + n] == ':')
			return l + 3 + n;
	return NULL;
}

/* An error answer: its JSON body printed as runbox's one line. */
static int answer_error(int fd, const char *head, long status, const char *rest, size_t rlen)
{
	const char *cl = header(head, "Content-Length");
	size_t want = cl ? strtoul(cl, NULL, 10) : BODY_MAX, len = rlen;
	_cleanup_free_ char *body = malloc(BODY_MAX + 1);
	_cleanup_json_ cJSON *json = NULL;

	if (!body)
		return RB_EXIT_API;
	if (want > BODY_MAX)
		want = BODY_MAX;
	if (len > want)
		len = want;
	memcpy(body, rest, len);
	while (len < want) {
		ssize_t n = recv(fd, body + len, want - len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	json = cJSON_ParseWithLength(body, len);
	return rb_cli_print_api_error(json, status);
}

/* ---- the session ---- */

struct session {
	int sock;
	bool input, tty;
	char q[RB_FRAME_HDR + CHUNK + 64]; /* frames for the daemon */
	size_t qlen;
	char r[RB_FRAME_HDR + RB_FRAME_MAX]; /* from the daemon, not yet a whole frame */
	size_t rlen;
	int code;
	bool done;
};

static void queue(struct session *s, enum rb_frame_type type, const void *data, size_t len)
{
	s->qlen += rb_frame_put(s->q + s->qlen, type, data, len);
}

static bool winsize(struct winsize *ws)
{
	return (ioctl(STDOUT_FILENO, TIOCGWINSZ, ws) == 0 ||
		ioctl(STDIN_FILENO, TIOCGWINSZ, ws) == 0) &&
	       ws->ws_row && ws->ws_col;
}

static void queue_resize(struct session *s)
{
	struct winsize ws;
	unsigned char p[RB_FRAME_RESIZE_LEN];

	if (!s->tty || !winsize(&ws) || s->qlen + RB_FRAME_HDR + sizeof(p) > sizeof(s->q))
		return;
	rb_frame_size_put(p, ws.ws_row, ws.ws_col);
	queue(s, RB_FRAME_RESIZE, p, sizeof(p));
}

static void on_end(struct session *s, int type, const char *data, size_t len)
{
	_cleanup_json_ cJSON *doc = cJSON_ParseWithLength(data, len);
	const cJSON *code;

	s->done = true;
	if (type == RB_FRAME_EXIT) {
		code = cJSON_GetObjectItemCaseSensitive(doc, "exitCode");
		s->code = cJSON_IsNumber(code) ? code->valueint : RB_EXIT_API;
		return;
	}
	rb_cli_attach_restore(); /* the message goes to a terminal in its usual mode */
	code = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(doc, "error"),
						"code");
	s->code = cJSON_IsString(code) && !strcmp(code->valuestring, "EXECUTION_TIMEOUT")
		      ? RB_EXIT_TIMED_OUT
		      : RB_EXIT_API;
	rb_cli_print_api_error(doc, 0);
}

/* The whole frames received so far. */
static void on_frames(struct session *s)
{
	size_t off = 0;

	while (!s->done && s->rlen - off >= RB_FRAME_HDR) {
		const unsigned char *h = (unsigned char *)s->r + off;
		size_t len = rb_frame_len(h);
		const char *data = (const char *)h + RB_FRAME_HDR;

		if (len > RB_FRAME_MAX) {
			fprintf(stderr, "runbox: the daemon sent a frame of %zu bytes\n", len);
			s->done = true;
			s->code = RB_EXIT_API;
			return;
		}
		if (s->rlen - off < RB_FRAME_HDR + len)
			break;
		if (h[0] == RB_FRAME_STDOUT || h[0] == RB_FRAME_STDERR) {
			int out = h[0] == RB_FRAME_STDOUT ? STDOUT_FILENO : STDERR_FILENO;

			if (put_all(out, false, data, len) < 0 && errno == EPIPE) {
				s->done = true; /* as if SIGPIPE had ended us */
				s->code = RB_EXIT_SIGNAL + SIGPIPE;
				return;
			}
		} else if (h[0] == RB_FRAME_EXIT || h[0] == RB_FRAME_ERROR) {
			on_end(s, h[0], data, len);
		}
		off += RB_FRAME_HDR + len;
	}
	memmove(s->r, s->r + off, s->rlen - off);
	s->rlen -= off;
}

static void read_stdin(struct session *s)
{
	char buf[CHUNK];
	ssize_t n;

	do
		n = read(STDIN_FILENO, buf, sizeof(buf));
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN)
		return;
	if (n > 0) {
		queue(s, RB_FRAME_STDIN, buf, (size_t)n);
		return;
	}
	queue(s, RB_FRAME_EOF, NULL, 0);
	s->input = false;
}

/* Frames both ways until the command's end, the connection's, or a signal of ours (0). */
static int loop(struct session *s)
{
	while (!s->done) {
		struct pollfd p[3] = {
		    {.fd = s->sock, .events = (short)(POLLIN | (s->qlen ? POLLOUT : 0))},
		    {.fd = sig_pipe[0], .events = POLLIN},
		    {.fd = s->input && s->qlen == 0 ? STDIN_FILENO : -1, .events = POLLIN},
		};
		unsigned char sig;
		ssize_t n;

		if (poll(p, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			return RB_EXIT_API;
		}
		while (read(sig_pipe[0], &sig, 1) == 1) {
			if (sig != SIGWINCH)
				return RB_EXIT_SIGNAL + sig;
			queue_resize(s);
		}
		if (p[2].revents)
			read_stdin(s);
		if (s->qlen) {
			n = send(s->sock, s->q, s->qlen, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (n > 0) {
				memmove(s->q, s->q + n, s->qlen - (size_t)n);
				s->qlen -= (size_t)n;
			}
		}
		if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		n = recv(s->sock, s->r + s->rlen, sizeof(s->r) - s->rlen, MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0) {
			rb_cli_attach_restore();
			fprintf(stderr, "runbox: the connection to the daemon ended before the "
					"command did (was the sandbox terminated?)\n");
			return RB_EXIT_API;
		}
		s->rlen += (size_t)n;
		on_frames(s);
	}
	return s->code;
}

/* The terminal raw, signals to the pipe: set up, and undone by teardown. */
struct saved {
	struct sigaction act[4], pipe;
	bool set[4], pipe_set;
};
static const int caught[4] = {SIGWINCH, SIGINT, SIGTERM, SIGHUP};

static int setup(struct session *s, struct saved *sv)
{
	struct sigaction sa = {.sa_handler = on_signal};
	sigset_t blocked;

	if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		return -1;
	sigemptyset(&sa.sa_mask);
	pthread_sigmask(SIG_BLOCK, NULL, &blocked);
	for (size_t i = 0; i < RB_ARRAY_SIZE(caught); i++) {
		if ((caught[i] == SIGWINCH && !s->tty) || sigismember(&blocked, caught[i]))
			continue;
		sv->set[i] = sigaction(caught[i], &sa, &sv->act[i]) == 0;
	}
	/* a closed stdout is EPIPE here, not our death with the terminal left raw */
	sa.sa_handler = SIG_IGN;
	sv->pipe_set = sigaction(SIGPIPE, &sa, &sv->pipe) == 0;
	if (s->tty && isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved_tio) == 0) {
		struct termios raw = saved_tio;

		cfmakeraw(&raw);
		tio_saved = 1;
		tcsetattr(STDIN_FILENO, TCSADRAIN, &raw);
	}
	return 0;
}

static void teardown(struct saved *sv)
{
	rb_cli_attach_restore();
	for (size_t i = 0; i < RB_ARRAY_SIZE(caught); i++)
		if (sv->set[i])
			sigaction(caught[i], &sv->act[i], NULL);
	if (sv->pipe_set)
		sigaction(SIGPIPE, &sv->pipe, NULL);
	for (int i = 0; i < 2; i++) {
		if (sig_pipe[i] >= 0)
			close(sig_pipe[i]);
		sig_pipe[i] = -1;
	}
}

static int upgrade(int fd, const char *id, const cJSON *request)
{
	_cleanup_free_ char *esc = rb_cli_escape(id), *body = cJSON_PrintUnformatted(request);
	_cleanup_free_ char *head = NULL;
	int n;

	if (!esc || !body)
		return -1;
	n = asprintf(&head,
		     "POST /api/v1/sandboxes/%s/exec HTTP/1.1\r\nHost: runbox\r\n"
		     "Connection: Upgrade\r\nUpgrade: runbox-exec\r\n"
		     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
		     esc, strlen(body));
	if (n < 0) {
		head = NULL;
		return -1;
	}
	if (put_all(fd, true, head, (size_t)n) < 0)
		return -1;
	return put_all(fd, true, body, strlen(body));
}

int rb_cli_attach_mode(const struct rb_cli_verb *v, const struct rb_cli *cli, bool interactive,
		       bool tty)
{
	if (tty && cli->json)
		return -rb_cli_usage_error(v, "-t and --json do not go together");
	return tty || (interactive && !cli->json);
}

int rb_cli_attach(struct rb_cli *cli, const char *id, cJSON *request, long timeout_ms, bool input,
		  bool tty)
{
	_cleanup_free_ struct session *s = calloc(1, sizeof(*s));
	_cleanup_close_ int fd = -1;
	char head[HEAD_MAX + 1], *end = NULL;
	size_t hlen = 0;
	struct saved sv = {0};
	struct winsize ws;
	long status = 0;
	int rc;

	if (!s)
		return RB_EXIT_API;
	fd = connect_daemon(cli);
	if (fd < 0)
		return -fd;
	cJSON_AddNumberToObject(request, "timeoutMs", (double)timeout_ms);
	cJSON_AddBoolToObject(request, "tty", tty);
	if (tty && winsize(&ws)) {
		cJSON_AddNumberToObject(request, "rows", ws.ws_row);
		cJSON_AddNumberToObject(request, "cols", ws.ws_col);
	}
	if (upgrade(fd, id, request) < 0) {
		fprintf(stderr, "runbox: sending the command to the daemon: %s\n", strerror(errno));
		return RB_EXIT_API;
	}
	/* the head of the answer; what follows it is frames (or an error's body) */
	while (!end && hlen < HEAD_MAX) {
		ssize_t n = recv(fd, head + hlen, HEAD_MAX - hlen, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		hlen += (size_t)n;
		head[hlen] = '\0';
		end = strstr(head, "\r\n\r\n");
	}
	if (!end || sscanf(head, "HTTP/%*s %ld", &status) != 1) {
		fprintf(stderr, "runbox: the daemon did not answer the command\n");
		return RB_EXIT_API;
	}
	end[2] = '\0';
	end += 4;
	if (status != 101)
		return answer_error(fd, head, status, end, hlen - (size_t)(end - head));
	s->sock = fd;
	s->input = input;
	s->tty = tty;
	s->code = RB_EXIT_API;
	s->rlen = hlen - (size_t)(end - head);
	memcpy(s->r, end, s->rlen);
	if (setup(s, &sv) < 0) {
		teardown(&sv);
		return RB_EXIT_API;
	}
	on_frames(s);
	rc = loop(s);
	teardown(&sv);
	return rc;
}
