/*
 * exec: a command in a running sandbox. Its stdout and stderr are pipes whose far ends go to
 * the agent, so output flows from the command to the daemon without passing through the agent.
 * The daemon keeps at most the cap of each stream (the rest is read and dropped), so its memory
 * stays flat whatever a command prints. Past the timeout the command's process group is
 * killed and the answer is EXECUTION_TIMEOUT with what it printed so far.
 */
#include "runtime-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sandbox.h"

#define EXEC_DEFAULT_TIMEOUT_MS 60000
#define EXEC_MAX_TIMEOUT_MS	300000
#define EXEC_DRAIN_MS		200 /* after the exit: output still in flight, not a background child */

struct exec_job {
	struct rb_rt_sandboxes *m;
	struct rb_rt_sandbox *sb;
	char **argv, **env;
	char *cwd, *user, *stdin_data;
	size_t stdin_len;
	long timeout_ms;
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

static long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void free_strv(char **v)
{
	for (char **p = v; p && *p; p++)
		free(*p);
	free(v);
}

static void job_free(void *arg)
{
	struct exec_job *j = arg;

	if (!j)
		return;
	if (j->sb)
		rb_rt_sandbox_put(j->m, j->sb);
	free_strv(j->argv);
	free_strv(j->env);
	free(j->cwd);
	free(j->user);
	free(j->stdin_data);
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
	struct rb_iso_exec x = {.argv = (const char *const *)j->argv,
				.env = (const char *const *)j->env,
				.cwd = j->cwd,
				.user = j->user};
	long long start = mono_ms(), deadline = start + j->timeout_ms, exited_at = 0;
	bool have_exit = false, killed = false;
	size_t stdin_off = 0;
	pid_t pid;
	char buf[65536];

	memset(res, 0, sizeof(*res));
	if (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0 ||
	    (j->stdin_data
		 ? pipe2(in, O_CLOEXEC)
		 : ((in[0] = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0 ? -1 : 0)) < 0) {
		r = rb_error_sys(err, errno, RB_RESOURCE_EXHAUSTED, "pipes for the command");
		goto out;
	}
	x.stdin_fd = in[0];
	x.stdout_fd = out[1];
	x.stderr_fd = errp[1];
	r = rb_iso_exec_start(j->sb->iso.ctl, &x, &chan, &pid, err);
	if (r < 0 && j->sb->state == RB_SB_TERMINATED)
		r = rb_error_set(err, EBUSY, RB_INVALID_STATE, "sandbox %s is terminated",
				 j->sb->id);
	close(out[1]);
	close(errp[1]);
	close(in[0]);
	out[1] = errp[1] = in[0] = -1;
	if (r < 0)
		goto out;
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
			    write(in[1], j->stdin_data + stdin_off, j->stdin_len - stdin_off);

			if (n > 0)
				stdin_off += (size_t)n;
			if ((n < 0 && errno != EAGAIN && errno != EINTR) ||
			    stdin_off == j->stdin_len) {
				close(in[1]);
				in[1] = -1;
			}
		}
		if (ic >= 0 && p[ic].revents) {
			r = rb_iso_exec_wait(chan, &res->exit, err);
			if (r < 0 && j->sb->state == RB_SB_TERMINATED) {
				r = rb_error_set(err, EBUSY, RB_INVALID_STATE,
						 "sandbox %s was terminated while the command ran",
						 j->sb->id);
				goto out;
			}
			if (r < 0) {
				rb_error_wrap(err, "sandbox %s", j->sb->id);
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
		static const char *const what[] = {"", "set up its input and output", "become user",
						   "enter the working directory", "execute"};
		int st = res->exit.exec_stage >= 1 && res->exit.exec_stage <= 4
			     ? res->exit.exec_stage
			     : 0;
		const char *subject = st == 2 ? j->user : st == 3 ? j->cwd : j->argv[0];
		char msg[512];
		int n = snprintf(
		    msg, sizeof(msg), "runbox: cannot %s \"%.200s\": %s\n", what[st], subject,
		    st == 2 && res->exit.exec_errno == ENOENT ? "no such user in the sandbox"
							      : strerror(res->exit.exec_errno));

		keep(j, 1, msg, (size_t)n);
	}
	/* a SIGKILL nobody here sent (to the command, or to a child a shell reports as 137):
	 * was it the sandbox's OOM killer? */
	if (!killed && (res->exit.signal == SIGKILL || res->exit.exit_code == 137))
		res->oom_killed = rb_rt_sandbox_oom_check(j->sb);
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
		close(chan);
	return r;
}

static cJSON *result_json(struct exec_job *j, const struct exec_outcome *o)
{
	cJSON *res = cJSON_CreateObject();
	const char *abbrev = o->exit.signal ? sigabbrev_np(o->exit.signal) : NULL;
	char sig[32];

	add_text(res, "stdout", j->out[0].data, j->out[0].len);
	add_text(res, "stderr", j->out[1].data, j->out[1].len);
	if (o->timed_out)
		cJSON_AddNullToObject(res, "exitCode");
	else
		cJSON_AddNumberToObject(res, "exitCode", o->exit.exit_code);
	cJSON_AddNumberToObject(res, "durationMs", (double)o->duration_ms);
	if (abbrev) {
		snprintf(sig, sizeof(sig), "SIG%s", abbrev);
		cJSON_AddStringToObject(res, "signal", sig);
	} else {
		cJSON_AddNullToObject(res, "signal");
	}
	cJSON_AddBoolToObject(res, "truncated", j->out[0].truncated || j->out[1].truncated);
	cJSON_AddBoolToObject(res, "oomKilled", o->oom_killed);
	return res;
}

/* The answer of a finished run: the result, or EXECUTION_TIMEOUT with the output in details. */
static int finish(struct exec_job *j, const struct exec_outcome *o, cJSON **result, cJSON **details,
		  struct rb_error *err)
{
	cJSON *res = result_json(j, o);

	if (o->timed_out) {
		*details = res;
		cJSON_AddNumberToObject(res, "timeoutMs", (double)j->timeout_ms);
		return rb_error_set(err, ETIMEDOUT, RB_EXECUTION_TIMEOUT,
				    "the command ran longer than %ld ms and was killed",
				    j->timeout_ms);
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

static char **strv_from_array(const cJSON *a)
{
	size_t n = (size_t)cJSON_GetArraySize(a), i = 0;
	char **v = calloc(n + 1, sizeof(*v));
	const cJSON *it;

	if (!v)
		return NULL;
	cJSON_ArrayForEach(it, a)
	{
		v[i] = strdup(it->valuestring);
		if (!v[i++]) {
			free_strv(v);
			return NULL;
		}
	}
	return v;
}

/* The sandbox's environment with the request's on top. */
static char **exec_env(char **base, const cJSON *extra)
{
	size_t n = 0, cap;
	char **v;
	const cJSON *it;

	while (base[n])
		n++;
	cap = n + (size_t)cJSON_GetArraySize(extra) + 1;
	v = calloc(cap, sizeof(*v));
	if (!v)
		return NULL;
	for (size_t i = 0; i < n; i++)
		v[i] = strdup(base[i]);
	cJSON_ArrayForEach(it, extra)
	{
		size_t klen = strlen(it->string);
		char *kv;

		for (size_t i = 0; i < n; i++)
			if (v[i] && !strncmp(v[i], it->string, klen) && v[i][klen] == '=') {
				free(v[i]);
				v[i] = v[--n];
				v[n] = NULL;
				break;
			}
		if (asprintf(&kv, "%s=%s", it->string, it->valuestring) >= 0)
			v[n++] = kv;
	}
	for (size_t i = 0; i < n; i++)
		if (!v[i]) {
			free_strv(v);
			return NULL;
		}
	return v;
}

static int parse(struct rb_rt_req *req, const cJSON *in, struct exec_job *j, struct rb_error *err)
{
	const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(in, "command");
	const cJSON *argv = cJSON_GetObjectItemCaseSensitive(in, "argv");
	const cJSON *env = cJSON_GetObjectItemCaseSensitive(in, "env");
	const cJSON *timeout = cJSON_GetObjectItemCaseSensitive(in, "timeoutMs");
	const cJSON *it;
	const char *cwd, *user, *stdin_data;
	size_t total = 0;
	int r;

	if (cmd && !cJSON_IsNull(cmd) && argv && !cJSON_IsNull(argv))
		return rb_rt_field_error(req, err, "argv",
					 "give \"command\" or \"argv\", not both");
	if (argv && !cJSON_IsNull(argv)) {
		if (!cJSON_IsArray(argv) || cJSON_GetArraySize(argv) == 0)
			return rb_rt_field_error(
			    req, err, "argv",
			    "field \"argv\" must be a non-empty array of strings");
		cJSON_ArrayForEach(it, argv)
		{
			if (!cJSON_IsString(it))
				return rb_rt_field_error(req, err, "argv",
							 "field \"argv\" must hold only strings");
			total += strlen(it->valuestring) + 1;
		}
		j->argv = strv_from_array(argv);
	} else {
		if (!cJSON_IsString(cmd) || !*cmd->valuestring)
			return rb_rt_field_error(
			    req, err, "command",
			    "field \"command\" is required (a non-empty string)");
		total = strlen(cmd->valuestring);
		j->argv = calloc(4, sizeof(char *));
		if (j->argv) {
			j->argv[0] = strdup("/bin/sh");
			j->argv[1] = strdup("-c");
			j->argv[2] = strdup(cmd->valuestring);
		}
	}
	if (total > RB_RT_COMMAND_MAX)
		return rb_error_set(err, E2BIG, RB_COMMAND_TOO_LONG,
				    "the command is %zu bytes, more than %d", total,
				    RB_RT_COMMAND_MAX);
	if (env && !cJSON_IsNull(env)) {
		if (!cJSON_IsObject(env))
			return rb_rt_field_error(req, err, "env",
						 "field \"env\" must be an object");
		cJSON_ArrayForEach(it, env)
		{
			if (!cJSON_IsString(it) || !*it->string || strchr(it->string, '='))
				return rb_rt_field_error(req, err, "env",
							 "field \"env\" must map names to strings");
		}
	}
	j->timeout_ms = EXEC_DEFAULT_TIMEOUT_MS;
	if (timeout && !cJSON_IsNull(timeout)) {
		if (!cJSON_IsNumber(timeout) || timeout->valuedouble < 1 ||
		    timeout->valuedouble > EXEC_MAX_TIMEOUT_MS)
			return rb_rt_field_error(req, err, "timeoutMs",
						 "field \"timeoutMs\" must be between 1 and %d",
						 EXEC_MAX_TIMEOUT_MS);
		j->timeout_ms = (long)timeout->valuedouble;
	}
	if ((r = rb_rt_field_string(req, in, "cwd", false, &cwd, err)) < 0 ||
	    (r = rb_rt_field_string(req, in, "user", false, &user, err)) < 0 ||
	    (r = rb_rt_field_string(req, in, "stdin", false, &stdin_data, err)) < 0)
		return r;
	if (cwd && cwd[0] != '/')
		return rb_rt_field_error(req, err, "cwd", "field \"cwd\" must be an absolute path");
	j->cwd = strdup(cwd ? cwd : j->sb->workdir);
	j->user = strdup(user ? user : j->sb->user);
	if (stdin_data) {
		j->stdin_data = strdup(stdin_data);
		j->stdin_len = strlen(stdin_data);
	}
	j->env = exec_env(j->sb->env, env);
	if (!j->argv || !j->argv[0] || !j->cwd || !j->user || !j->env ||
	    (stdin_data && !j->stdin_data))
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	return 0;
}

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
	j->m = req->srv->sandboxes;
	j->cap = req->srv->cfg->exec_output_max ? req->srv->cfg->exec_output_max : (1 << 20);
	r = rb_rt_body_object(req, &in, err);
	if (r == 0)
		r = rb_rt_sandbox_hold(j->m, req->params[0], &j->sb, err);
	if (r == 0)
		r = parse(req, in, j, err);
	if (r < 0) {
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
