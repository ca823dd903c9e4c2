/*
 * The ExecRequest: a command (a shell line or an argv), its environment over the sandbox's, its
 * working directory, user, input and time limit; and the parts of an ExecutionResult that exec
 * and its interactive form share.
 */
#include "exec-internal.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void free_strv(char **v)
{
	for (char **p = v; p && *p; p++)
		free(*p);
	free(v);
}

void rb_rt_exec_req_clear(struct rb_rt_exec_req *x)
{
	if (x->sb)
		rb_rt_sandbox_put(x->m, x->sb);
	free_strv(x->argv);
	free_strv(x->env);
	free(x->cwd);
	free(x->user);
	free(x->stdin_data);
	memset(x, 0, sizeof(*x));
}

/* "tty", "rows", "cols": a terminal for the interactive form only. */
static int parse_tty(struct rb_rt_req *req, const cJSON *in, struct rb_rt_exec_req *j,
		     struct rb_error *err)
{
	static const char *const names[] = {"rows", "cols"};
	const cJSON *tty = cJSON_GetObjectItemCaseSensitive(in, "tty");
	uint16_t *dims[] = {&j->rows, &j->cols};

	if (tty && !cJSON_IsNull(tty) && !cJSON_IsBool(tty))
		return rb_rt_field_error(req, err, "tty", "field \"tty\" must be a boolean");
	j->tty = cJSON_IsTrue(tty);
	if (j->tty && !rb_rt_exec_wants_attach(req))
		return rb_rt_field_error(req, err, "tty",
					 "a terminal needs the interactive form of exec "
					 "(Upgrade: runbox-exec)");
	for (size_t i = 0; i < RB_ARRAY_SIZE(names); i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(in, names[i]);

		if (!v || cJSON_IsNull(v))
			continue;
		if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > 65535 ||
		    v->valuedouble != (double)(int)v->valuedouble)
			return rb_rt_field_error(req, err, names[i],
						 "field \"%s\" must be a whole number from 1 to "
						 "65535",
						 names[i]);
		*dims[i] = (uint16_t)v->valuedouble;
	}
	return 0;
}

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

static int parse(struct rb_rt_req *req, const cJSON *in, struct rb_rt_exec_req *j,
		 struct rb_error *err)
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
	j->timeout_ms = RB_RT_EXEC_DEFAULT_TIMEOUT_MS;
	if (timeout && !cJSON_IsNull(timeout)) {
		if (!cJSON_IsNumber(timeout) || timeout->valuedouble < 1 ||
		    timeout->valuedouble > RB_RT_EXEC_MAX_TIMEOUT_MS)
			return rb_rt_field_error(req, err, "timeoutMs",
						 "field \"timeoutMs\" must be between 1 and %d",
						 RB_RT_EXEC_MAX_TIMEOUT_MS);
		j->timeout_ms = (long)timeout->valuedouble;
	}
	if ((r = parse_tty(req, in, j, err)) < 0)
		return r;
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

int rb_rt_exec_req_parse(struct rb_rt_req *req, const cJSON *in, struct rb_rt_exec_req *x,
			 struct rb_error *err)
{
	bool resume = false;
	int r;

	memset(x, 0, sizeof(*x));
	x->m = req->srv->sandboxes;
	/* a paused sandbox answers INVALID_STATE at once, unless autoResume asks to thaw it */
	r = rb_rt_auto_resume(req, in, &resume, err);
	if (r == 0)
		r = rb_rt_sandbox_hold_as(x->m, req->params[0],
					  resume ? RB_RT_HOLD_AUTO_RESUME : RB_RT_HOLD_RUNNING,
					  &x->sb, err);
	if (r == 0)
		r = parse(req, in, x, err);
	if (r < 0)
		rb_rt_exec_req_clear(x);
	return r;
}

size_t rb_rt_exec_never_ran(const struct rb_rt_exec_req *x, const struct rb_iso_exit *ex, char *buf,
			    size_t size)
{
	static const char *const what[] = {"", "set up its input and output", "become user",
					   "enter the working directory", "execute"};
	int st = ex->exec_stage >= 1 && ex->exec_stage <= 4 ? ex->exec_stage : 0;
	const char *subject = st == 2 ? x->user : st == 3 ? x->cwd : x->argv[0];
	int n = snprintf(buf, size, "runbox: cannot %s \"%.200s\": %s\n", what[st], subject,
			 st == 2 && ex->exec_errno == ENOENT ? "no such user in the sandbox"
							     : strerror(ex->exec_errno));

	return n < 0 ? 0 : (size_t)n < size ? (size_t)n : size - 1;
}

void rb_rt_exec_status_json(cJSON *res, const struct rb_iso_exit *ex, long long duration_ms,
			    bool timed_out, bool oom_killed)
{
	const char *abbrev = ex->signal ? sigabbrev_np(ex->signal) : NULL;
	char sig[32];

	if (timed_out)
		cJSON_AddNullToObject(res, "exitCode");
	else
		cJSON_AddNumberToObject(res, "exitCode", ex->exit_code);
	cJSON_AddNumberToObject(res, "durationMs", (double)duration_ms);
	if (abbrev) {
		snprintf(sig, sizeof(sig), "SIG%s", abbrev);
		cJSON_AddStringToObject(res, "signal", sig);
	} else {
		cJSON_AddNullToObject(res, "signal");
	}
	cJSON_AddBoolToObject(res, "oomKilled", oom_killed);
}
