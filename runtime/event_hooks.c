/*
 * The hooks the lifecycle, exec and files code calls: each turns what happened into one event's
 * data. A small table remembers, per live sandbox, its runId (metadata.runId of its create
 * request) and its times, so that exec and file events carry the runId and paused, resumed and
 * terminated events carry their durations without the sandbox's own record knowing of events.
 */
#include "events.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "isolation/isolation.h"
#include "runtime-internal.h"
#include "sandbox.h"

#define COMMAND_MAX 1024 /* bytes of a command line an event carries */

struct sb_rec {
	char id[32];
	char *run_id;
	long long created_ms;
	long long paused_at_ms; /* 0: not paused */
	long long paused_total_ms;
};

static struct {
	pthread_mutex_t lock;
	struct sb_rec *recs;
	size_t n;
} table = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* Caller holds table.lock. */
static struct sb_rec *find(const char *id)
{
	for (size_t i = 0; i < table.n; i++)
		if (!strcmp(table.recs[i].id, id))
			return &table.recs[i];
	return NULL;
}

/* The runId of a sandbox, into buf ("" when it has none). */
static const char *run_id_of(const char *id, char *buf, size_t size)
{
	const struct sb_rec *r;

	pthread_mutex_lock(&table.lock);
	r = find(id);
	snprintf(buf, size, "%s", r && r->run_id ? r->run_id : "");
	pthread_mutex_unlock(&table.lock);
	return buf;
}

static const char *config_run_id(const cJSON *config)
{
	const cJSON *meta = cJSON_GetObjectItemCaseSensitive(config, "metadata");

	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(meta, "runId"));
}

static void add_error(cJSON *data, const struct rb_error *err)
{
	cJSON *e = cJSON_AddObjectToObject(data, "error");

	cJSON_AddStringToObject(e, "code", rb_code_name(err->code));
	cJSON_AddStringToObject(e, "message", err->msg);
}

void rb_rt_ev_sandbox_created(const char *id, const cJSON *config, long long created_ms)
{
	const char *run_id = config_run_id(config);
	const cJSON *meta = cJSON_GetObjectItemCaseSensitive(config, "metadata");
	struct sb_rec rec = {.created_ms = created_ms}, *grown;
	cJSON *data;

	rb_rt_metrics_create(true);
	snprintf(rec.id, sizeof(rec.id), "%s", id);
	rec.run_id = run_id ? strdup(run_id) : NULL;
	pthread_mutex_lock(&table.lock);
	grown = realloc(table.recs, (table.n + 1) * sizeof(*grown));
	if (grown) {
		table.recs = grown;
		table.recs[table.n++] = rec;
	} else {
		free(rec.run_id);
	}
	pthread_mutex_unlock(&table.lock);

	data = cJSON_CreateObject();
	cJSON_AddStringToObject(
	    data, "image", cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(config, "image")));
	cJSON_AddItemToObject(data, "metadata",
			      cJSON_IsObject(meta) ? cJSON_Duplicate(meta, 1)
						   : cJSON_CreateObject());
	rb_rt_ev_emit(RB_EV_SANDBOX_CREATED, id, run_id, data);
	data = cJSON_CreateObject();
	cJSON_AddNumberToObject(data, "startupMs", (double)(rb_now_ms() - created_ms));
	rb_rt_ev_emit(RB_EV_SANDBOX_STARTED, id, run_id, data);
}

void rb_rt_ev_sandbox_failed(const char *id, const cJSON *config, const struct rb_error *err)
{
	cJSON *data = cJSON_CreateObject();

	rb_rt_metrics_create(false);
	cJSON_AddStringToObject(data, "operation", "create");
	add_error(data, err);
	rb_rt_ev_emit(RB_EV_SANDBOX_ERROR, id, config_run_id(config), data);
}

void rb_rt_ev_sandbox_terminated(const char *id, const char *reason, long long created_ms)
{
	_cleanup_free_ char *run_id = NULL;
	long long now = rb_now_ms(), paused = 0;
	struct sb_rec *r;
	cJSON *data;

	rb_rt_metrics_terminated(reason);
	pthread_mutex_lock(&table.lock);
	r = find(id);
	if (r) {
		paused = r->paused_total_ms + (r->paused_at_ms ? now - r->paused_at_ms : 0);
		run_id = r->run_id;
		*r = table.recs[--table.n];
	}
	pthread_mutex_unlock(&table.lock);
	data = cJSON_CreateObject();
	cJSON_AddStringToObject(data, "reason", reason ? reason : "");
	cJSON_AddNumberToObject(data, "totalRuntimeMs", (double)(now - created_ms));
	cJSON_AddNumberToObject(data, "totalPausedMs", (double)paused);
	rb_rt_ev_emit(RB_EV_SANDBOX_TERMINATED, id, run_id, data);
}

void rb_rt_ev_sandbox_transition(const char *id, bool paused, const struct rb_error *err)
{
	long long now = rb_now_ms(), runtime = 0, paused_for = 0;
	char run_id[256];
	struct sb_rec *r;
	cJSON *data = cJSON_CreateObject();

	if (err) {
		cJSON_AddStringToObject(data, "operation", paused ? "pause" : "resume");
		add_error(data, err);
		rb_rt_ev_emit(RB_EV_SANDBOX_ERROR, id, run_id_of(id, run_id, sizeof(run_id)), data);
		return;
	}
	pthread_mutex_lock(&table.lock);
	r = find(id);
	if (r && paused) {
		r->paused_at_ms = now;
		runtime = now - r->created_ms - r->paused_total_ms;
	} else if (r) {
		paused_for = r->paused_at_ms ? now - r->paused_at_ms : 0;
		r->paused_total_ms += paused_for;
		r->paused_at_ms = 0;
	}
	snprintf(run_id, sizeof(run_id), "%s", r && r->run_id ? r->run_id : "");
	pthread_mutex_unlock(&table.lock);
	if (paused)
		cJSON_AddNumberToObject(data, "runtimeDurationMs", (double)runtime);
	else
		cJSON_AddNumberToObject(data, "pausedDurationMs", (double)paused_for);
	rb_rt_ev_emit(paused ? RB_EV_SANDBOX_PAUSED : RB_EV_SANDBOX_RESUMED, id, run_id, data);
}

/* The command as people wrote it: the shell line of "command", else the argv joined by
 * spaces; at most COMMAND_MAX bytes, cut on a character boundary. */
static void add_command(cJSON *data, char *const *argv)
{
	char buf[COMMAND_MAX + 1];
	size_t len = 0;
	bool cut = false;

	buf[0] = '\0';
	if (argv && argv[0] && argv[1] && argv[2] && !argv[3] && !strcmp(argv[0], "/bin/sh") &&
	    !strcmp(argv[1], "-c")) {
		len = strlen(argv[2]);
		cut = len > COMMAND_MAX;
		len = cut ? COMMAND_MAX : len;
		memcpy(buf, argv[2], len);
	} else {
		for (size_t i = 0; argv && argv[i] && !cut; i++) {
			size_t n = strlen(argv[i]) + (i > 0);

			cut = len + n > COMMAND_MAX;
			n = cut ? COMMAND_MAX - len : n;
			snprintf(buf + len, n + 1, "%s%s", i > 0 ? " " : "", argv[i]);
			len += n;
		}
	}
	while (cut && len > 0 && ((unsigned char)buf[len] & 0xc0) == 0x80)
		len--;
	buf[len] = '\0';
	cJSON_AddStringToObject(data, "command", buf);
	if (cut)
		cJSON_AddBoolToObject(data, "commandTruncated", true);
}

void rb_rt_ev_exec_started(const struct rb_rt_sandbox *sb, char *const *argv, int pid)
{
	char run_id[256];
	cJSON *data = cJSON_CreateObject();

	add_command(data, argv);
	cJSON_AddNumberToObject(data, "pid", pid);
	rb_rt_ev_emit(RB_EV_EXEC_STARTED, sb->id, run_id_of(sb->id, run_id, sizeof(run_id)), data);
}

void rb_rt_ev_exec_finished(const struct rb_rt_sandbox *sb, char *const *argv, int pid,
			    const struct rb_iso_exit *ex, long long duration_ms, bool timed_out,
			    const struct rb_error *err)
{
	const char *abbrev = ex && ex->signal ? sigabbrev_np(ex->signal) : NULL;
	char run_id[256], sig[32];
	cJSON *data = cJSON_CreateObject();

	add_command(data, argv);
	if (pid > 0)
		cJSON_AddNumberToObject(data, "pid", pid);
	if (timed_out || err || !ex)
		cJSON_AddNullToObject(data, "exitCode");
	else
		cJSON_AddNumberToObject(data, "exitCode", ex->exit_code);
	if (abbrev) {
		snprintf(sig, sizeof(sig), "SIG%s", abbrev);
		cJSON_AddStringToObject(data, "signal", sig);
	} else {
		cJSON_AddNullToObject(data, "signal");
	}
	cJSON_AddNumberToObject(data, "durationMs", (double)duration_ms);
	if (err) {
		add_error(data, err);
	} else if (timed_out) {
		struct rb_error e;

		rb_error_set(&e, ETIMEDOUT, RB_EXECUTION_TIMEOUT,
			     "the command ran past its time limit and was killed");
		add_error(data, &e);
	}
	rb_rt_ev_emit(err || timed_out ? RB_EV_EXEC_ERROR : RB_EV_EXEC_COMPLETED, sb->id,
		      run_id_of(sb->id, run_id, sizeof(run_id)), data);
}

static const char *file_operation(enum rb_rt_ev_type type, long long size)
{
	switch (type) {
	case RB_EV_FILE_CREATED:
		return size == RB_EV_SIZE_DIR ? "mkdir" : "write";
	case RB_EV_FILE_READ:
		return "read";
	case RB_EV_FILE_DELETED:
		return "delete";
	default:
		return "file";
	}
}

void rb_rt_ev_file(enum rb_rt_ev_type type, const struct rb_rt_sandbox *sb, const char *path,
		   long long size, const struct rb_error *err)
{
	char run_id[256];
	cJSON *data;

	if (!sb)
		return;
	data = cJSON_CreateObject();
	if (path)
		cJSON_AddStringToObject(data, "path", path);
	else
		cJSON_AddNullToObject(data, "path");
	if (err) {
		cJSON_AddStringToObject(data, "operation", file_operation(type, size));
		add_error(data, err);
		type = RB_EV_FILE_ERROR;
	} else if (size == RB_EV_SIZE_DIR) {
		cJSON_AddBoolToObject(data, "isDirectory", true);
	} else if (size >= 0) {
		cJSON_AddNumberToObject(data, "sizeBytes", (double)size);
	}
	rb_rt_ev_emit(type, sb->id, run_id_of(sb->id, run_id, sizeof(run_id)), data);
}

void rb_rt_ev_port(const char *id, bool exposed, cJSON *port)
{
	char run_id[256];

	rb_rt_ev_emit(exposed ? RB_EV_PORT_EXPOSED : RB_EV_PORT_CLOSED, id,
		      run_id_of(id, run_id, sizeof(run_id)), port);
}

void rb_rt_ev_network_denied(const char *id, const char *address, uint16_t port, uint64_t count,
			     void *ud)
{
	char run_id[256];
	cJSON *data = cJSON_CreateObject();

	cJSON_AddStringToObject(data, "address", address);
	cJSON_AddNumberToObject(data, "port", port);
	cJSON_AddNumberToObject(data, "count", (double)count);
	rb_rt_ev_emit(RB_EV_NETWORK_DENIED, id, run_id_of(id, run_id, sizeof(run_id)), data);
}
