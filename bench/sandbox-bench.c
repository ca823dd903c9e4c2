/*
 * sandbox-bench: a tiny HTTP/1.1 client over the daemon's unix socket, for bench/sandbox.sh and
 * bench/pause.sh.
 * One keep-alive connection, Content-Length request bodies, responses read by Content-Length
 * (chunked answers are refused), so the figures measure the daemon, not a client's start-up.
 * Latencies go to OUT, one line per measured iteration, in milliseconds.
 *
 *   sandbox-bench SOCK cycle IMAGE N WARMUP OUT   create -> exec argv [true] -> DELETE; columns
 *                                                 total create exec delete
 *   sandbox-bench SOCK exec ID N WARMUP OUT       exec argv [true] into a running sandbox
 *   sandbox-bench SOCK read ID PATH SIZE json|raw N WARMUP OUT
 *                                                 GET /files?path=PATH (raw: Accept octet-stream);
 *                                                 checks the answer carries SIZE bytes
 *   sandbox-bench SOCK create IMAGE N             creates N sandboxes, prints their ids
 *   sandbox-bench SOCK delete ID...               DELETE each (ids may also come on stdin: -)
 *   sandbox-bench SOCK req METHOD PATH [BODY]     one request; prints the body, exits 1 unless 2xx
 *   sandbox-bench SOCK pause ID N WARMUP OUT      POST pause, then POST resume, N times; columns
 *                                                 pause resume
 *   sandbox-bench - alternate N WARMUP OUT 'A' 'B'
 *                                                 run command A, then B (argv split on spaces, no
 *                                                 shell; each must exit 0), N times, each timed
 *                                                 from fork to exit; columns A B (crun pause/resume)
 *
 * Build: cc -O2 -Wall -o sandbox-bench sandbox-bench.c (bench/sandbox.sh does it).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *sock_path;
static int fd = -1;
static char rbuf[1 << 16]; /* bytes read but not yet consumed */
static size_t rlen;

struct resp {
	int status;
	char *body; /* NUL-terminated, malloc'd */
	size_t len;
};

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("sandbox-bench: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(2);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void conn_open(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	if (fd >= 0)
		close(fd);
	rlen = 0;
	if (strlen(sock_path) >= sizeof(sa.sun_path))
		die("socket path too long: %s", sock_path);
	strcpy(sa.sun_path, sock_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("connect %s: %s", sock_path, strerror(errno));
}

static int write_all(const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Read more into rbuf; 0 on EOF. */
static ssize_t fill(void)
{
	ssize_t r;

	if (rlen == sizeof(rbuf))
		die("response headers too large");
	do
		r = read(fd, rbuf + rlen, sizeof(rbuf) - rlen);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		die("read: %s", strerror(errno));
	rlen += (size_t)r;
	return r;
}

/* One request/response on the kept-alive connection; -1 if the connection was found closed
 * before any answer byte (the caller reconnects and retries once). */
static int try_request(const char *method, const char *path, const char *accept, const char *body,
		       struct resp *out)
{
	char head[4096];
	size_t blen = body ? strlen(body) : 0;
	int n = snprintf(head, sizeof(head),
			 "%s %s HTTP/1.1\r\nHost: runbox\r\nAccept: %s\r\n%s"
			 "Content-Length: %zu\r\n\r\n",
			 method, path, accept ? accept : "application/json",
			 body ? "Content-Type: application/json\r\n" : "", blen);
	char *end, *line, *cl;
	size_t hlen, clen;
	int close_after = 0;

	if (n < 0 || (size_t)n >= sizeof(head))
		die("request line too long");
	if (write_all(head, (size_t)n) < 0 || (blen && write_all(body, blen) < 0))
		return -1;
	while (!(end = memmem(rbuf, rlen, "\r\n\r\n", 4)))
		if (fill() == 0) {
			if (rlen == 0)
				return -1;
			die("connection closed inside the response headers");
		}
	hlen = (size_t)(end - rbuf) + 4;
	end[2] = '\0'; /* headers as one string, each line ending in \r\n */
	if (sscanf(rbuf, "HTTP/1.%*d %d", &out->status) != 1)
		die("bad status line: %.60s", rbuf);
	cl = NULL;
	for (line = strstr(rbuf, "\r\n") + 2; *line; line = strstr(line, "\r\n") + 2) {
		if (!strncasecmp(line, "Content-Length:", 15))
			cl = line + 15;
		else if (!strncasecmp(line, "Transfer-Encoding:", 18))
			die("chunked answer to %s %s: not supported here", method, path);
		else if (!strncasecmp(line, "Connection:", 11)) {
			const char *c = strcasestr(line, "close");

			if (c && c < strstr(line, "\r\n"))
				close_after = 1;
		}
	}
	if (!cl)
		die("answer to %s %s has no Content-Length", method, path);
	clen = strtoull(cl, NULL, 10);
	memmove(rbuf, rbuf + hlen, rlen - hlen);
	rlen -= hlen;
	out->body = malloc(clen + 1);
	if (!out->body)
		die("out of memory");
	out->len = clen;
	{
		size_t got = rlen < clen ? rlen : clen;

		memcpy(out->body, rbuf, got);
		memmove(rbuf, rbuf + got, rlen - got);
		rlen -= got;
		while (got < clen) {
			ssize_t r = read(fd, out->body + got, clen - got);

			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				die("connection closed inside a body");
			got += (size_t)r;
		}
	}
	out->body[clen] = '\0';
	if (close_after)
		conn_open();
	return 0;
}

static void request(const char *method, const char *path, const char *accept, const char *body,
		    struct resp *out)
{
	if (fd < 0)
		conn_open();
	if (try_request(method, path, accept, body, out) < 0) {
		conn_open();
		if (try_request(method, path, accept, body, out) < 0)
			die("the daemon closed the connection");
	}
}

static void expect(struct resp *r, int status, const char *what)
{
	if (r->status != status)
		die("%s: HTTP %d (wanted %d): %.400s", what, r->status, status, r->body);
}

/* The sandbox id from a Sandbox object: "id":"sb_..." (the first key the daemon writes). */
static void sandbox_id(const struct resp *r, char *id, size_t size)
{
	const char *p = strstr(r->body, "\"id\":\"");
	size_t n;

	if (!p)
		die("no id in %.200s", r->body);
	p += 6;
	n = strcspn(p, "\"");
	if (n == 0 || n >= size)
		die("bad id in %.200s", r->body);
	memcpy(id, p, n);
	id[n] = '\0';
}

static FILE *open_out(const char *path)
{
	FILE *f = fopen(path, "w");

	if (!f)
		die("%s: %s", path, strerror(errno));
	return f;
}

static void exec_true(const char *id, const char *what)
{
	char path[256];
	struct resp r;

	snprintf(path, sizeof(path), "/api/v1/sandboxes/%s/exec", id);
	request("POST", path, NULL, "{\"argv\":[\"true\"]}", &r);
	expect(&r, 200, what);
	if (!strstr(r.body, "\"exitCode\":0"))
		die("%s: exit code not 0: %.200s", what, r.body);
	free(r.body);
}

static void create(const char *image, char *id, size_t size)
{
	char body[512];
	struct resp r;

	snprintf(body, sizeof(body), "{\"image\":\"%s\"}", image);
	request("POST", "/api/v1/sandboxes", NULL, body, &r);
	expect(&r, 201, "create");
	sandbox_id(&r, id, size);
	free(r.body);
}

static void delete(const char *id)
{
	char path[256];
	struct resp r;

	snprintf(path, sizeof(path), "/api/v1/sandboxes/%s", id);
	request("DELETE", path, NULL, NULL, &r);
	expect(&r, 200, "delete");
	if (!strstr(r.body, "\"state\":\"terminated\""))
		die("delete %s: not terminated: %.200s", id, r.body);
	free(r.body);
}

static int cycle(const char *image, int n, int warm, const char *out)
{
	FILE *f = open_out(out);
	char id[128];

	for (int i = 0; i < warm + n; i++) {
		double t0 = now_ms(), t1, t2, t3;

		create(image, id, sizeof(id));
		t1 = now_ms();
		exec_true(id, "exec");
		t2 = now_ms();
		delete(id);
		t3 = now_ms();
		if (i >= warm)
			fprintf(f, "%.4f %.4f %.4f %.4f\n", t3 - t0, t1 - t0, t2 - t1, t3 - t2);
	}
	return fclose(f) ? 1 : 0;
}

static int exec_loop(const char *id, int n, int warm, const char *out)
{
	FILE *f = open_out(out);

	for (int i = 0; i < warm + n; i++) {
		double t0 = now_ms();

		exec_true(id, "exec");
		if (i >= warm)
			fprintf(f, "%.4f\n", now_ms() - t0);
	}
	return fclose(f) ? 1 : 0;
}

static int read_loop(const char *id, const char *file, size_t size, int raw, int n, int warm,
		     const char *out)
{
	FILE *f = open_out(out);
	char path[1024];
	struct resp r;

	/* file is put in the query as is: the caller gives a path that needs no escaping */
	snprintf(path, sizeof(path), "/api/v1/sandboxes/%s/files?path=%s", id, file);
	for (int i = 0; i < warm + n; i++) {
		double t0 = now_ms(), t1;

		request("GET", path, raw ? "application/octet-stream" : "application/json", NULL,
			&r);
		t1 = now_ms();
		expect(&r, 200, "read");
		if (raw ? r.len != size : r.len < size)
			die("read: %zu bytes in the answer, the file has %zu", r.len, size);
		if (!raw && !strstr(r.body, "\"content\":"))
			die("read: no content in %.200s", r.body);
		free(r.body);
		if (i >= warm)
			fprintf(f, "%.4f\n", t1 - t0);
	}
	return fclose(f) ? 1 : 0;
}

/* One transition: POST .../pause or .../resume, which answers the Sandbox in its new state. */
static void transition(const char *id, const char *action, const char *state)
{
	char path[256], want[64];
	struct resp r;

	snprintf(path, sizeof(path), "/api/v1/sandboxes/%s/%s", id, action);
	snprintf(want, sizeof(want), "\"state\":\"%s\"", state);
	request("POST", path, NULL, NULL, &r);
	expect(&r, 200, action);
	if (!strstr(r.body, want))
		die("%s %s: not %s: %.200s", action, id, state, r.body);
	free(r.body);
}

static int pause_loop(const char *id, int n, int warm, const char *out)
{
	FILE *f = open_out(out);

	for (int i = 0; i < warm + n; i++) {
		double t0 = now_ms(), t1;

		transition(id, "pause", "paused");
		t1 = now_ms();
		transition(id, "resume", "running");
		if (i >= warm)
			fprintf(f, "%.4f %.4f\n", t1 - t0, now_ms() - t1);
	}
	return fclose(f) ? 1 : 0;
}

/* cmd, split on spaces, from fork to its exit; it must succeed. */
static double run_timed(char *cmd)
{
	char *argv[32], *save = NULL, *copy = strdup(cmd);
	int n = 0, status;
	double t0 = now_ms();
	pid_t pid;

	if (!copy)
		die("out of memory");
	for (char *w = strtok_r(copy, " ", &save); w && n < 31; w = strtok_r(NULL, " ", &save))
		argv[n++] = w;
	argv[n] = NULL;
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		execvp(argv[0], argv);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
		die("%s: failed (status %d)", cmd, status);
	free(copy);
	return now_ms() - t0;
}

static int alternate(int n, int warm, const char *out, char *a, char *b)
{
	FILE *f = open_out(out);

	for (int i = 0; i < warm + n; i++) {
		double ta = run_timed(a), tb = run_timed(b);

		if (i >= warm)
			fprintf(f, "%.4f %.4f\n", ta, tb);
	}
	return fclose(f) ? 1 : 0;
}

int main(int argc, char **argv)
{
	const char *mode;

	if (argc < 3)
		die("usage: sandbox-bench SOCK cycle|exec|read|create|delete|req|pause ...\n"
		    "       sandbox-bench - alternate N WARMUP OUT A B");
	sock_path = argv[1];
	mode = argv[2];
	if (!strcmp(mode, "cycle") && argc == 7)
		return cycle(argv[3], atoi(argv[4]), atoi(argv[5]), argv[6]);
	if (!strcmp(mode, "pause") && argc == 7)
		return pause_loop(argv[3], atoi(argv[4]), atoi(argv[5]), argv[6]);
	if (!strcmp(mode, "alternate") && argc == 8)
		return alternate(atoi(argv[3]), atoi(argv[4]), argv[5], argv[6], argv[7]);
	if (!strcmp(mode, "exec") && argc == 7)
		return exec_loop(argv[3], atoi(argv[4]), atoi(argv[5]), argv[6]);
	if (!strcmp(mode, "read") && argc == 10)
		return read_loop(argv[3], argv[4], strtoull(argv[5], NULL, 10),
				 !strcmp(argv[6], "raw"), atoi(argv[7]), atoi(argv[8]), argv[9]);
	if (!strcmp(mode, "create") && argc == 5) {
		char id[128];

		for (int i = 0, n = atoi(argv[4]); i < n; i++) {
			create(argv[3], id, sizeof(id));
			printf("%s\n", id);
		}
		return fflush(stdout) ? 1 : 0;
	}
	if (!strcmp(mode, "delete")) {
		char line[256];

		if (argc == 4 && !strcmp(argv[3], "-")) {
			while (fgets(line, sizeof(line), stdin)) {
				line[strcspn(line, "\r\n")] = '\0';
				if (*line)
					delete(line);
			}
		} else {
			for (int i = 3; i < argc; i++)
				delete(argv[i]);
		}
		return 0;
	}
	if (!strcmp(mode, "req") && (argc == 5 || argc == 6)) {
		struct resp r;

		request(argv[3], argv[4], NULL, argc == 6 ? argv[5] : NULL, &r);
		fwrite(r.body, 1, r.len, stdout);
		putchar('\n');
		return r.status >= 200 && r.status < 300 ? 0 : 1;
	}
	die("bad arguments for %s", mode);
}
