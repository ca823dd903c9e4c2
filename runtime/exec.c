/*
 * exec: a command in a running sandbox. Its stdout and stderr are pipes whose far ends go to
 * the agent, so output flows from the command to the daemon without passing through the agent.
 * The daemon keeps at most the cap of each stream (the rest is read and dropped), so its memory
 * stays flat whatever a command prints. Past the timeout the command's process group is
 * killed and the answer is EXECUTION_TIMEOUT with what it printed so far.
 */
#include "exec-internal.h"
#include "events.h"
#include "runtime-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define EXEC_DRAIN_MS 200 /* after the exit: output still in flight, not a background child */

struct exec_job {
	struct rb_rt_exec_req x;
	size_t cap;
	/* results */
	struct {
		char *data;
		size_t len;
		bool truncated;
		char partial[4096]; /* streaming: the line not yet ended */
		size_t plen;
	} out[2];
	struct rb_rt_stream *stream;
};

static long long mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static long long mono_ms(void)
{
	return mono_us() / 1000;
}

static void job_free(void *arg)
{
	struct exec_job *j = arg;

	if (!j)
		return;
	rb_rt_exec_req_clear(&j->x);
	free(j->out[0].data);
	free(j->out[1].data);
	free(j);
}

static const char *const stream_names[] = {"stdout", "stderr"};

static void emit_line(struct exec_job *j, int which, const char *data, size_t len)
{
	cJSON *line = cJSON_CreateObject();
	char *copy = strndup(data, len);

	cJSON_AddStringToObject(line, "type", stream_names[which]);
	cJSON_AddStringToObject(line, "data", copy ? copy : "");
	free(copy);
	rb_rt_stream_line(j->stream, line);
}

/* Streaming: whole lines as they come (a line longer than the buffer goes in pieces). */
static void stream_chunk(struct exec_job *j, int which, const char *data, size_t len)
{
	typeof(j->out[0]) *o = &j->out[which];

	while (len > 0) {
		const char *nl = memchr(data, '\n', len);
		size_t take = nl ? (size_t)(nl - data) + 1 : len;

		if (o->plen + take > sizeof(o->partial)) {
			emit_line(j, which, o->partial, o->plen);
			o->plen = 0;
			if (take > sizeof(o->partial)) {
				emit_line(j, which, data, take);
				data += take;
				len -= take;
				continue;
			}
		}
		memcpy(o->partial + o->plen, data, take);
		o->plen += take;
		if (nl) {
			emit_line(j, which, o->partial, o->plen);
			o->plen = 0;
		}
		data += take;
		len -= take;
	}
}

static void keep(struct exec_job *j, int which, const char *data, size_t len)
{
	typeof(j->out[0]) *o = &j->out[which];
	size_t room = o->len < j->cap ? j->cap - o->len : 0;

	if (j->stream && !rb_rt_stream_broken(j->stream))
		stream_chunk(j, which, data, len);
	if (len > room)
		o->truncated = true;
	if (!room)
		return;
	if (len > room)
		len = room;
	if (!o->data) {
		o->data = malloc(j->cap + 1);
		if (!o->data) {
			o->truncated = true;
			return;
		}
	}
	memcpy(o->data + o->len, data, len);
	o->len += len;
}

/* Bytes that are not valid UTF-8 would make the JSON invalid: replace them with U+FFFD. */
static char *valid_utf8(const char *s, size_t len)
{
	char *out = malloc(len * 3 + 1), *o = out;
	size_t i = 0;

	if (!out)
		return NULL;
	while (i < len) {
		unsigned char c = (unsigned char)s[i];
		size_t n = c < 0x80	    ? 1
			   : (c >> 5) == 6  ? 2
			   : (c >> 4) == 14 ? 3
			   : (c >> 3) == 30 ? 4
					    : 0;
		bool ok = n > 0 && i + n <= len && c != 0;

		for (size_t k = 1; ok && k < n; k++)
			ok = ((unsigned char)s[i + k] >> 6) == 2;
		if (ok) {
			memcpy(o, s + i, n);
			o += n;
			i += n;
		} else {
			memcpy(o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		}
	}
	*o = '\0';
	return out;
}

static void add_text(cJSON *obj, const char *key, const char *data, size_t len)
{
	char *text = valid_utf8(data ? data : "", data ? len : 0);

	cJSON_AddStringToObject(obj, key, text ? text : "");
	free(text);
}

struct exec_outcome {
	struct rb_iso_exit exit;
	bool timed_out;
	bool oom_killed;
	long long duration_ms;
};

static int run(struct exec_job *j, struct exec_outcome *res, struct rb_error *err)
{
	int out[2] = {-1, -1}, errp[2] = {-1, -1}, in[2] = {-1, -1}, chan = -1, r;
	struct rb_iso_exec x = {.argv = (const char *const *)j->x.argv,
				.env = (const char *const *)j->x.env,
				.cwd = j->x.cwd,
				.user = j->x.user};
	long long start_us = mono_us(), start = start_us / 1000, deadline = start + j->x.timeout_ms,
		  exited_at = 0;
	bool have_exit = false, killed = false;
	size_t stdin_off = 0;
	pid_t pid;
	char buf[65536];

	memset(res, 0, sizeof(*res));
	if (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0 ||
	    (j->x.stdin_data
		 ? pipe2(in, O_CLOEXEC)
		 : ((in[0] = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0 ? -1 : 0)) < 0) {
		r = rb_error_sys(err, errno, RB_RESOURCE_EXHAUSTED, "pipes for the command");
		goto out;
	}
	x.stdin_fd = in[0];
	x.stdout_fd = out[1];
	x.stderr_fd = errp[1];
	r = rb_iso_exec_start(j->x.sb->iso.ctl, &x, &chan, &pid, NULL, err);
	if (r < 0 && j->x.sb->state == RB_SB_TERMINATED)
		r = rb_error_set(err, EBUSY, RB_INVALID_STATE, "sandbox %s is terminated",
				 j->x.sb->id);
	close(out[1]);
	close(errp[1]);
	close(in[0]);
	out[1] = errp[1] = in[0] = -1;
	if (r < 0)
		goto out;
	rb_rt_ev_exec_started(j->x.sb, j->x.argv, pid);
	fcntl(out[0], F_SETFL, O_NONBLOCK);
	fcntl(errp[0], F_SETFL, O_NONBLOCK);
	if (in[1] >= 0)
		fcntl(in[1], F_SETFL, O_NONBLOCK);

	for (;;) {
		struct pollfd p[4];
		int np = 0, io[2] = {-1, -1}, ic = -1, iw = -1;
		long long now = mono_ms();
		int wait_ms;

		if (out[0] >= 0) {
			io[0] = np;
			p[np++] = (struct pollfd){.fd = out[0], .events = POLLIN};
		}
		if (errp[0] >= 0) {
			io[1] = np;
			p[np++] = (struct pollfd){.fd = errp[0], .events = POLLIN};
		}
		if (!have_exit) {
			ic = np;
			p[np++] = (struct pollfd){.fd = chan, .events = POLLIN};
		}
		if (in[1] >= 0) {
			iw = np;
			p[np++] = (struct pollfd){.fd = in[1], .events = POLLOUT};
		}
		if (have_exit && (np == 0 || now - exited_at >= EXEC_DRAIN_MS))
			break;
		if (have_exit)
			wait_ms = (int)(EXEC_DRAIN_MS - (now - exited_at));
		else if (!killed)
			wait_ms = deadline > now ? (int)(deadline - now) : 0;
		else
			wait_ms = 2000;
		r = poll(p, (nfds_t)np, wait_ms);
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0 && !have_exit) {
			if (killed) {
				r = rb_error_set(err, ETIMEDOUT, RB_INTERNAL_ERROR,
						 "the command did not end after SIGKILL");
				goto out;
			}
			/* past the deadline: the whole process group goes */
			rb_iso_exec_signal(chan, SIGKILL);
			res->timed_out = killed = true;
			continue;
		}
		for (int w = 0; w < 2; w++) {
			int *fd = w ? &errp[0] : &out[0];

			if (io[w] < 0 || !p[io[w]].revents)
				continue;
			ssize_t n = read(*fd, buf, sizeof(buf));
			if (n > 0) {
				keep(j, w, buf, (size_t)n);
			} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
				close(*fd);
				*fd = -1;
			}
		}
		if (iw >= 0 && p[iw].revents) {
			ssize_t n =
			    write(in[1], j->x.stdin_data + stdin_off, j->x.stdin_len - stdin_off);

			if (n > 0)
				stdin_off += (size_t)n;
			if ((n < 0 && errno != EAGAIN && errno != EINTR) ||
			    stdin_off == j->x.stdin_len) {
				close(in[1]);
				in[1] = -1;
			}
		}
		if (ic >= 0 && p[ic].revents) {
			r = rb_iso_exec_wait(chan, &res->exit, err);
			if (r < 0 && j->x.sb->state == RB_SB_TERMINATED) {
				r = rb_error_set(err, EBUSY, RB_INVALID_STATE,
						 "sandbox %s was terminated while the command ran",
						 j->x.sb->id);
				goto out;
			}
			if (r < 0) {
				rb_error_wrap(err, "sandbox %s", j->x.sb->id);
				goto out;
			}
			have_exit = true;
			exited_at = mono_ms();
			if (in[1] >= 0) {
				close(in[1]);
				in[1] = -1;
			}
		}
	}
	res->duration_ms = mono_ms() - start;
	if (res->exit.exec_errno) {
		/* the command never ran: say why where its errors would have gone */
		char msg[512];

		keep(j, 1, msg, rb_rt_exec_never_ran(&j->x, &res->exit, msg, sizeof(msg)));
	}
	/* a SIGKILL nobody here sent (to the command, or to a child a shell reports as 137):
	 * was it the sandbox's OOM killer? */
	if (!killed && (res->exit.signal == SIGKILL || res->exit.exit_code == 137))
		res->oom_killed = rb_rt_sandbox_oom_check(j->x.sb);
	r = 0;
out:
	for (int i = 0; i < 2; i++) {
		if (out[i] >= 0)
			close(out[i]);
		if (errp[i] >= 0)
			close(errp[i]);
		if (in[i] >= 0)
			close(in[i]);
	}
	if (chan >= 0)
		rb_rt_metrics_exec(mono_us() - start_us);
	rb_rt_ev_exec_finished(j->x.sb, j->x.argv, chan >= 0 ? pid : 0, &res->exit,
			       mono_ms() - start, res->timed_out, r < 0 ? err : NULL);
	if (chan >= 0)
		close(chan);
	return r;
}

static cJSON *result_json(struct exec_job *j, const struct exec_outcome *o)
{
	cJSON *res = cJSON_CreateObject();

	add_text(res, "stdout", j->out[0].data, j->out[0].len);
	add_text(res, "stderr", j->out[1].data, j->out[1].len);
	rb_rt_exec_status_json(res, &o->exit, o->duration_ms, o->timed_out, o->oom_killed);
	cJSON_AddBoolToObject(res, "truncated", j->out[0].truncated || j->out[1].truncated);
	return res;
}

/* The answer of a finished run: the result, or EXECUTION_TIMEOUT with the output in details. */
static int finish(struct exec_job *j, const struct exec_outcome *o, cJSON **result, cJSON **details,
		  struct rb_error *err)
{
	cJSON *res = result_json(j, o);

	if (o->timed_out) {
		*details = res;
		cJSON_AddNumberToObject(res, "timeoutMs", (double)j->x.timeout_ms);
		return rb_error_set(err, ETIMEDOUT, RB_EXECUTION_TIMEOUT,
				    "the command ran longer than %ld ms and was killed",
				    j->x.timeout_ms);
	}
	*result = res;
	return 0;
}

static void stream_main(struct rb_rt_stream *s, void *arg)
{
	struct exec_job *j = arg;
	struct exec_outcome o;
	struct rb_error err;
	cJSON *result = NULL, *details = NULL, *line;

	j->stream = s;
	rb_error_clear(&err);
	if (run(j, &o, &err) == 0) {
		for (int w = 0; w < 2; w++)
			if (j->out[w].plen)
				emit_line(j, w, j->out[w].partial, j->out[w].plen);
		if (finish(j, &o, &result, &details, &err) == 0) {
			line = cJSON_CreateObject();
			cJSON_AddStringToObject(line, "type", "result");
			cJSON_AddItemToObject(line, "result", result);
			rb_rt_stream_line(s, line);
			return;
		}
	}
	line = rb_rt_error_json(rb_rt_stream_request_id(s), &err, details);
	cJSON_Delete(details);
	cJSON_AddStringToObject(line, "type", "error");
	rb_rt_stream_line(s, line);
}

/* ---- the request ---- */

int rb_rt_api_sandbox_exec(struct rb_rt_req *req, struct rb_error *err)
{
	_cleanup_json_ cJSON *in = NULL;
	struct exec_job *j = calloc(1, sizeof(*j));
	const char *accept = rb_rt_header(req, MHD_HTTP_HEADER_ACCEPT);
	struct exec_outcome o;
	cJSON *result = NULL;
	int r;

	if (!j)
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	j->cap = req->srv->cfg->exec_output_max ? req->srv->cfg->exec_output_max : (1 << 20);
	r = rb_rt_body_object(req, &in, err);
	if (r == 0)
		r = rb_rt_exec_req_parse(req, in, &j->x, err);
	if (r == 0 && rb_rt_exec_wants_attach(req))
		r = rb_rt_exec_attach(req, &j->x, err); /* takes j->x */
	if (r < 0 || req->answered) {
		job_free(j);
		return r;
	}
	if (accept && strcasestr(accept, "application/x-ndjson"))
		return rb_rt_stream_start(req, stream_main, j, job_free, err);
	r = run(j, &o, err);
	if (r == 0)
		r = finish(j, &o, &result, &req->details, err);
	job_free(j);
	if (r < 0)
		return r;
	return rb_rt_reply_json(req, 200, result);
}
