/*
 * Sandboxes, from a SandboxConfig to a terminated record. The registry (sandboxes.db) holds
 * every sandbox's API object; the live ones also have their isolation handles in memory.
 * A failed create undoes each step it took, in reverse: the root never touched the host's
 * mounts, so what is left to undo is the process, the cgroup, the image hold and the slot.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "events.h"
#include "images/images.h"
#include "sandbox.h"

#define MAX_SLOTS    16384
#define MAX_METADATA 20

static const char schema[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=NORMAL;"
    "CREATE TABLE IF NOT EXISTS sandboxes("
    " id TEXT PRIMARY KEY, state TEXT NOT NULL, image TEXT NOT NULL,"
    " created_at INTEGER NOT NULL, slot INTEGER, doc TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS sandboxes_state ON sandboxes(state);"
    /* where each live sandbox's agent is, for a daemon that restarts */
    "CREATE TABLE IF NOT EXISTS agents("
    " id TEXT PRIMARY KEY, pid INTEGER NOT NULL, host_uid INTEGER NOT NULL);"
    /* the host port each exposed port had, so that a restart keeps its URL when it can */
    "CREATE TABLE IF NOT EXISTS ports("
    " id TEXT NOT NULL, port INTEGER NOT NULL, host_port INTEGER NOT NULL,"
    " exposed_at INTEGER NOT NULL, PRIMARY KEY(id, port));";

static const char *const state_names[] = {"creating", "running", "paused", "terminated"};

static void stmt_finalize(sqlite3_stmt **st)
{
	if (*st)
		sqlite3_finalize(*st);
}
#define _cleanup_stmt_ _cleanup_(stmt_finalize)

static void json_deletep(cJSON **j)
{
	cJSON_Delete(*j);
}
#define _cleanup_sbjson_ _cleanup_(json_deletep)

static int db_err(struct rb_rt_sandboxes *m, struct rb_error *err, const char *what)
{
	return rb_error_set(err, EIO, RB_INTERNAL_ERROR, "sandbox registry: %s: %s", what,
			    sqlite3_errmsg(m->db));
}

/* Write a sandbox's object to the registry. Caller holds m->lock. */
static int save(struct rb_rt_sandboxes *m, const char *id, const char *state, const char *image,
		long long created, long slot, const cJSON *doc, struct rb_error *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	_cleanup_free_ char *text = cJSON_PrintUnformatted(doc);

	if (!text)
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	/* an update in place when the row is there (a replace would delete it and insert it again,
	 * index entries and all) */
	if (sqlite3_prepare_v2(
		m->db,
		"INSERT INTO sandboxes(id, state, image, created_at, slot, doc) VALUES(?,?,?,?,?,?)"
		" ON CONFLICT(id) DO UPDATE SET state=excluded.state, image=excluded.image,"
		" created_at=excluded.created_at, slot=excluded.slot, doc=excluded.doc",
		-1, &st, NULL) != SQLITE_OK)
		return db_err(m, err, "prepare");
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, state, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, image, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, created);
	if (slot >= 0)
		sqlite3_bind_int64(st, 5, slot);
	else
		sqlite3_bind_null(st, 5);
	sqlite3_bind_text(st, 6, text, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		return db_err(m, err, "save a sandbox");
	return 0;
}

/* Where a sandbox's agent is (recover() needs it), or forget it. Caller holds m->lock. */
static int save_agent(struct rb_rt_sandboxes *m, const struct rb_rt_sandbox *sb,
		      struct rb_error *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(m->db,
			       "INSERT OR REPLACE INTO agents(id, pid, host_uid) VALUES(?,?,?)", -1,
			       &st, NULL) != SQLITE_OK)
		return db_err(m, err, "prepare");
	sqlite3_bind_text(st, 1, sb->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, sb->iso.pid);
	sqlite3_bind_int64(st, 3, sb->iso.host_uid);
	if (sqlite3_step(st) != SQLITE_DONE)
		return db_err(m, err, "save an agent");
	return 0;
}

static void forget_agent(struct rb_rt_sandboxes *m, const char *id)
{
	static const char *const sql[] = {"DELETE FROM agents WHERE id=?",
					  "DELETE FROM ports WHERE id=?"};

	for (size_t i = 0; i < RB_ARRAY_SIZE(sql); i++) {
		_cleanup_stmt_ sqlite3_stmt *st = NULL;

		if (sqlite3_prepare_v2(m->db, sql[i], -1, &st, NULL) == SQLITE_OK) {
			sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
			sqlite3_step(st);
		}
	}
}

/* Its exposed ports as rows; fresh: a sandbox being created, which has none yet to replace
 * (and, most often, none to save: nothing is asked of SQLite on the create's path). */
static int save_ports(struct rb_rt_sandboxes *m, struct rb_rt_sandbox *sb, bool fresh,
		      struct rb_error *err)
{
	_cleanup_stmt_ sqlite3_stmt *del = NULL, *ins = NULL;
	struct rb_net_port ports[RB_NET_MAX_PORTS];
	size_t n = sb->net ? rb_net_sandbox_ports(sb->net, ports, RB_NET_MAX_PORTS) : 0;

	if (fresh && n == 0)
		return 0;
	if (!fresh) {
		if (sqlite3_prepare_v2(m->db, "DELETE FROM ports WHERE id=?", -1, &del, NULL) !=
		    SQLITE_OK)
			return db_err(m, err, "prepare");
		sqlite3_bind_text(del, 1, sb->id, -1, SQLITE_STATIC);
		if (sqlite3_step(del) != SQLITE_DONE)
			return db_err(m, err, "forget a sandbox's ports");
	}
	if (sqlite3_prepare_v2(m->db,
			       "INSERT INTO ports(id, port, host_port, exposed_at) VALUES(?,?,?,?)",
			       -1, &ins, NULL) != SQLITE_OK)
		return db_err(m, err, "prepare");
	for (size_t i = 0; i < n; i++) {
		sqlite3_reset(ins);
		sqlite3_bind_text(ins, 1, sb->id, -1, SQLITE_STATIC);
		sqlite3_bind_int(ins, 2, ports[i].port);
		sqlite3_bind_int(ins, 3, ports[i].host_port);
		sqlite3_bind_int64(ins, 4, ports[i].exposed_ms);
		if (sqlite3_step(ins) != SQLITE_DONE)
			return db_err(m, err, "save a sandbox's ports");
	}
	return 0;
}

int rb_rt_sb_save_ports(struct rb_rt_sandboxes *m, struct rb_rt_sandbox *sb, struct rb_error *err)
{
	return save_ports(m, sb, false, err);
}

static void set_time(cJSON *doc, const char *key, long long ms)
{
	char when[32];

	cJSON *v;

	if (ms >= 0)
		rb_format_time(ms, when);
	v = ms < 0 ? cJSON_CreateNull() : cJSON_CreateString(when);
	/* in place, so the object keeps the reference's field order */
	if (cJSON_GetObjectItemCaseSensitive(doc, key))
		cJSON_ReplaceItemInObjectCaseSensitive(doc, key, v);
	else
		cJSON_AddItemToObject(doc, key, v);
}

static void set_state(cJSON *doc, enum rb_rt_sb_state s)
{
	cJSON_ReplaceItemInObjectCaseSensitive(doc, "state", cJSON_CreateString(state_names[s]));
}

/* ---- open, close, recovery ---- */

/* A sandbox the daemon cannot drive any more (its agent is gone, or it was being created when
 * the daemon died): end it by its cgroups (never by pid, which may have been reused) and mark
 * it lost. */
static void sweep(struct rb_rt_sandboxes *m, const char *id, cJSON *doc, long long created)
{
	struct rb_iso_cgroup *cg = NULL;
	struct rb_error err;

	if (rb_iso_cgroup_load(&m->cg, id, &cg, &err) == 0) {
		rb_iso_cgroup_kill_all(cg, &err);
		rb_iso_cgroup_destroy(cg, &err);
		rb_iso_cgroup_free(cg);
	}
	rb_image_release(m->store, id, &err);
	forget_agent(m, id);
	if (!doc)
		return;
	set_state(doc, RB_SB_TERMINATED);
	set_time(doc, "terminatedAt", rb_now_ms());
	cJSON_DeleteItemFromObjectCaseSensitive(doc, "terminationReason");
	cJSON_AddStringToObject(doc, "terminationReason", "lost");
	save(m, id, "terminated",
	     cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "image")), created, -1, doc,
	     &err);
	rb_rt_ev_sandbox_terminated(id, "lost", created);
}

static int adopt(struct rb_rt_sandboxes *m, const char *id, enum rb_rt_sb_state state, cJSON **doc,
		 long long created, long slot, struct rb_error *err);

/* Whether a Sandbox object's network may have been made in the daemon's namespace: mode
 * private, or not said (a record older than the mode in records being created). */
static bool daemon_network(const cJSON *doc)
{
	const char *mode = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(doc, "network"), "mode"));

	return !mode || strcmp(mode, "none") != 0;
}

/* What earlier daemons left in the network namespace of sandboxes not taken back goes: veths,
 * chains, sets. Only when this registry had sandboxes that may have made some, so that a
 * daemon without private sandboxes never touches a namespace's firewall. */
static void sweep_networks(struct rb_rt_sandboxes *m)
{
	_cleanup_free_ uint32_t *keep = calloc(m->n_live + 1, sizeof(*keep));
	struct rb_error err;
	size_t n = 0;

	if (!keep)
		return;
	for (size_t i = 0; i < m->n_live; i++) {
		struct rb_net_addrs a;

		if (m->live[i]->net && rb_net_sandbox_addrs(m->live[i]->net, &a) == 0)
			keep[n++] = m->live[i]->slot;
	}
	if (rb_net_ctx_sweep(m->net, keep, n, &err) < 0)
		fprintf(stderr, "runbox: warning: %s\n", err.msg);
}

/* The sandboxes a previous daemon left: those whose agent still runs are taken back as they
 * are (running or paused), with their networks; the others are swept. */
static void recover(struct rb_rt_sandboxes *m)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	bool networks = false;

	if (sqlite3_prepare_v2(m->db,
			       "SELECT id, state, doc, created_at, slot FROM sandboxes"
			       " WHERE state <> 'terminated'",
			       -1, &st, NULL) != SQLITE_OK)
		return;
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *id = (const char *)sqlite3_column_text(st, 0);
		const char *state = (const char *)sqlite3_column_text(st, 1);
		_cleanup_sbjson_ cJSON *doc = cJSON_Parse((const char *)sqlite3_column_text(st, 2));
		long long created = sqlite3_column_int64(st, 3);
		long slot = sqlite3_column_type(st, 4) == SQLITE_NULL
				? -1
				: (long)sqlite3_column_int64(st, 4);
		struct rb_error err;
		enum rb_rt_sb_state s = !strcmp(state, "running")  ? RB_SB_RUNNING
					: !strcmp(state, "paused") ? RB_SB_PAUSED
								   : RB_SB_CREATING;

		networks |= !doc || daemon_network(doc);
		if (s != RB_SB_CREATING && doc && adopt(m, id, s, &doc, created, slot, &err) == 0)
			continue;
		sweep(m, id, doc, created);
	}
	if (networks)
		sweep_networks(m);
}

int rb_rt_sandboxes_open(struct rb_rt_sandboxes *m, const char *state_dir,
			 struct rb_image_store *store, struct rb_net_ctx *net, struct rb_error *err)
{
	_cleanup_free_ char *path = rb_path_join(state_dir, "sandboxes.db");
	char *msg = NULL;
	struct sysinfo si;
	int r;

	memset(m, 0, sizeof(*m));
	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->settled, NULL);
	pthread_cond_init(&m->timer_wake, NULL);
	m->retention_ms = 24LL * 3600 * 1000;
	m->store = store;
	m->net = net;
	m->host_cpus = (int)sysconf(_SC_NPROCESSORS_ONLN);
	m->host_memory_mb = sysinfo(&si) == 0 ? (uint64_t)si.totalram * si.mem_unit >> 20 : 4096;
	m->default_pids = 4096;
	m->n_slots = MAX_SLOTS;
	m->slots = calloc(m->n_slots, 1);
	if (!path || !m->slots)
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	if (sqlite3_open_v2(path, &m->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
		SQLITE_OK ||
	    sqlite3_exec(m->db, schema, NULL, NULL, &msg) != SQLITE_OK) {
		rb_error_set(err, EIO, RB_INTERNAL_ERROR, "open %s: %s", path,
			     msg ? msg : (m->db ? sqlite3_errmsg(m->db) : "out of memory"));
		sqlite3_free(msg);
		return -EIO;
	}
	sqlite3_busy_timeout(m->db, 5000);
	r = rb_iso_cgroup_probe(&m->cg, err);
	if (r < 0)
		return rb_error_wrap(err, "probing cgroups");
	r = rb_iso_cgroup_prepare_root(&m->cg, err);
	if (r < 0)
		return rb_error_wrap(err, "preparing cgroups");
	r = rb_iso_ctx_new(state_dir, &m->iso, err);
	if (r < 0)
		return r;
	recover(m);
	rb_rt_sb_sweep_strays(m);
	return 0;
}

static void sandbox_free(struct rb_rt_sandbox *sb)
{
	if (!sb)
		return;
	rb_iso_sandbox_close(&sb->iso);
	rb_net_sandbox_free(sb->net);
	rb_iso_cgroup_free(sb->cg);
	for (char **e = sb->env; e && *e; e++)
		free(*e);
	free(sb->env);
	free(sb->workdir);
	free(sb->user);
	cJSON_Delete(sb->doc);
	free(sb);
}

void rb_rt_sandboxes_close(struct rb_rt_sandboxes *m, const char *reason)
{
	rb_rt_timers_stop(m);
	/* Sandboxes outlive the daemon unless told otherwise: a daemon started again takes them
	 * back (recover()). Only the handles go here; the agents keep running, and a private
	 * sandbox's veth and chains stay (with the table) for the next daemon. */
	while (!m->stop_on_close && m->n_live > 0) {
		struct rb_rt_sandbox *sb = m->live[--m->n_live];

		rb_net_sandbox_release(sb->net);
		sandbox_free(sb);
	}
	while (m->n_live > 0) {
		struct rb_error err;
		char id[16];

		snprintf(id, sizeof(id), "%s", m->live[0]->id);
		if (rb_rt_sandbox_terminate(m, id, reason, NULL, &err) < 0) {
			/* drop it from the table all the same, or this loop never ends */
			pthread_mutex_lock(&m->lock);
			if (m->n_live > 0 && !strcmp(m->live[0]->id, id))
				m->live[0] = m->live[--m->n_live];
			pthread_mutex_unlock(&m->lock);
		}
	}
	free(m->live);
	free(m->slots);
	rb_net_ctx_free(m->net);
	rb_iso_ctx_free(m->iso);
	if (m->db)
		sqlite3_close(m->db);
	pthread_cond_destroy(&m->settled);
	pthread_cond_destroy(&m->timer_wake);
	pthread_mutex_destroy(&m->lock);
}

/* ---- validation ---- */

static int field_err(struct rb_error *err, const char *field, const char *msg)
{
	return rb_error_set(err, EINVAL, RB_INVALID_CONFIG, "field \"%s\" %s", field, msg);
}

static int get_number(const cJSON *obj, const char *key, const char *field, double lo, double hi,
		      bool whole, double def, double *out, struct rb_error *err)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	char msg[128];

	if (!v || cJSON_IsNull(v)) {
		*out = def;
		return 0;
	}
	if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
		return field_err(err, field, "must be a number");
	if (whole && v->valuedouble != floor(v->valuedouble))
		return field_err(err, field, "must be a whole number");
	if (v->valuedouble < lo || v->valuedouble > hi) {
		snprintf(msg, sizeof(msg), "must be between %g and %g, not %g", lo, hi,
			 v->valuedouble);
		return field_err(err, field, msg);
	}
	*out = v->valuedouble;
	return 0;
}

static int check_string_map(const cJSON *obj, const char *field, size_t max, bool env,
			    struct rb_error *err)
{
	const cJSON *it;
	size_t n = 0;

	if (!obj || cJSON_IsNull(obj))
		return 0;
	if (!cJSON_IsObject(obj))
		return field_err(err, field, "must be an object of strings");
	cJSON_ArrayForEach(it, obj)
	{
		if (!cJSON_IsString(it))
			return field_err(err, field, "must hold only string values");
		if (env && (!*it->string || strchr(it->string, '=')))
			return field_err(err, field, "has a name that is empty or holds '='");
		if (++n > max)
			return field_err(err, field, "has too many keys");
	}
	return 0;
}

struct sb_config {
	const char *image;
	double cpu, memory_mb, disk_mb, timeout_ms, idle_ms;
	const cJSON *env, *metadata, *network;
	const char *workdir;
};

static int parse_config(struct rb_rt_sandboxes *m, const cJSON *c, struct sb_config *out,
			struct rb_error *err)
{
	const cJSON *res = cJSON_GetObjectItemCaseSensitive(c, "resources");
	const cJSON *image = cJSON_GetObjectItemCaseSensitive(c, "image");
	const cJSON *workdir = cJSON_GetObjectItemCaseSensitive(c, "workdir");
	double max_mem = (double)m->host_memory_mb;
	int r;

	memset(out, 0, sizeof(*out));
	if (!cJSON_IsString(image) || !*image->valuestring)
		return field_err(err, "image", "is required and must be a non-empty string");
	out->image = image->valuestring;
	if (res && !cJSON_IsNull(res) && !cJSON_IsObject(res))
		return field_err(err, "resources", "must be an object");
	if ((r = get_number(res, "cpu", "resources.cpu", 0.01, m->host_cpus, false,
			    m->host_cpus < 2 ? m->host_cpus : 2, &out->cpu, err)) < 0 ||
	    (r = get_number(res, "memoryMb", "resources.memoryMb", 16, max_mem, true,
			    max_mem < 4096 ? max_mem : 4096, &out->memory_mb, err)) < 0 ||
	    (r = get_number(res, "diskMb", "resources.diskMb", 16, 1 << 20, true, 10240,
			    &out->disk_mb, err)) < 0 ||
	    (r = get_number(c, "timeoutMs", "timeoutMs", 1, 86400000, true, 300000,
			    &out->timeout_ms, err)) < 0 ||
	    (r = get_number(c, "idleTimeoutMs", "idleTimeoutMs", 0, 86400000, true, 120000,
			    &out->idle_ms, err)) < 0)
		return r;
	out->env = cJSON_GetObjectItemCaseSensitive(c, "env");
	out->metadata = cJSON_GetObjectItemCaseSensitive(c, "metadata");
	out->network = cJSON_GetObjectItemCaseSensitive(c, "network");
	if ((r = check_string_map(out->env, "env", 4096, true, err)) < 0 ||
	    (r = check_string_map(out->metadata, "metadata", MAX_METADATA, false, err)) < 0)
		return r;
	if (out->network && !cJSON_IsNull(out->network) && !cJSON_IsObject(out->network))
		return field_err(err, "network", "must be an object");
	if (workdir && !cJSON_IsNull(workdir)) {
		if (!cJSON_IsString(workdir) || workdir->valuestring[0] != '/' ||
		    strlen(workdir->valuestring) > 4096)
			return field_err(err, "workdir", "must be an absolute path");
		out->workdir = workdir->valuestring;
	}
	return 0;
}

/* ---- environment ---- */

static char **merge_env(const cJSON *image_env, const cJSON *env)
{
	size_t n = 0,
	       cap = (size_t)cJSON_GetArraySize(image_env) + (size_t)cJSON_GetArraySize(env) + 3;
	char **out = calloc(cap + 1, sizeof(*out));
	const cJSON *it;
	bool has_path = false, has_home = false;

	if (!out)
		return NULL;
	cJSON_ArrayForEach(it, image_env)
	{
		char *kv;

		if (cJSON_IsString(it) && strchr(it->valuestring, '=') && n < cap &&
		    (kv = strdup(it->valuestring)))
			out[n++] = kv;
	}
	cJSON_ArrayForEach(it, env)
	{
		size_t klen = strlen(it->string);
		char *kv;

		/* the sandbox's value replaces the image's */
		for (size_t i = 0; i < n; i++)
			if (out[i] && !strncmp(out[i], it->string, klen) && out[i][klen] == '=') {
				free(out[i]);
				out[i] = out[--n];
				out[n] = NULL;
				break;
			}
		if (n < cap && asprintf(&kv, "%s=%s", it->string, it->valuestring) >= 0)
			out[n++] = kv;
	}
	for (size_t i = 0; i < n && out[i]; i++) {
		has_path |= !strncmp(out[i], "PATH=", 5);
		has_home |= !strncmp(out[i], "HOME=", 5);
	}
	/* cap keeps room for these two; a failed strdup leaves the slot NULL, ending the list */
	if (!has_path && (out[n] = strdup("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:"
					  "/sbin:/bin")))
		n++;
	if (!has_home && (out[n] = strdup("HOME=/root")))
		n++;
	return out;
}

/* ---- create ---- */

static int take_slot(struct rb_rt_sandboxes *m)
{
	for (size_t i = 1; i < m->n_slots; i++)
		if (!m->slots[i]) {
			m->slots[i] = 1;
			return (int)i;
		}
	return -1;
}

static cJSON *make_doc(const char *id, const struct sb_config *c, const struct rb_net_policy *netp,
		       const char *workdir, long long now)
{
	cJSON *doc = cJSON_CreateObject(), *res;

	cJSON_AddStringToObject(doc, "id", id);
	cJSON_AddStringToObject(doc, "state", "creating");
	cJSON_AddStringToObject(doc, "image", c->image);
	res = cJSON_AddObjectToObject(doc, "resources");
	cJSON_AddNumberToObject(res, "cpu", c->cpu);
	cJSON_AddNumberToObject(res, "memoryMb", c->memory_mb);
	cJSON_AddNumberToObject(res, "diskMb", c->disk_mb);
	cJSON_AddItemToObject(doc, "env",
			      c->env && cJSON_IsObject(c->env) ? cJSON_Duplicate(c->env, 1)
							       : cJSON_CreateObject());
	cJSON_AddStringToObject(doc, "workdir", workdir);
	cJSON_AddNumberToObject(doc, "timeoutMs", c->timeout_ms);
	cJSON_AddNumberToObject(doc, "idleTimeoutMs", c->idle_ms);
	cJSON_AddItemToObject(doc, "metadata",
			      c->metadata && cJSON_IsObject(c->metadata)
				  ? cJSON_Duplicate(c->metadata, 1)
				  : cJSON_CreateObject());
	/* with its mode from the start: a daemon that dies while creating it knows what to
	 * sweep */
	cJSON_AddItemToObject(doc, "network", rb_net_policy_json(netp));
	set_time(doc, "createdAt", now);
	set_time(doc, "startedAt", -1);
	set_time(doc, "pausedAt", -1);
	set_time(doc, "terminatedAt", -1);
	/* when timeoutMs ends it (POST .../timeout moves it) */
	set_time(doc, "expiresAt", now + (long long)c->timeout_ms);
	return doc;
}

/* The record of a running sandbox, where its agent is and its ports: one commit. Caller holds
 * m->lock. */
static int save_running(struct rb_rt_sandboxes *m, struct rb_rt_sandbox *sb, const char *image,
			long slot, struct rb_error *err)
{
	int r;

	sqlite3_exec(m->db, "BEGIN", NULL, NULL, NULL);
	r = save(m, sb->id, "running", image, sb->created_ms, slot, sb->doc, err);
	if (r == 0)
		r = save_agent(m, sb, err);
	if (r == 0)
		r = save_ports(m, sb, true, err);
	sqlite3_exec(m->db, r == 0 ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL);
	return r;
}

/* What create's step inside the spawn works on. */
struct spawn_hooks {
	struct rb_iso_cgroup *cg;
	const struct rb_iso_cgroup_limits *lim;
};

/* While the child sets itself up: the cgroups not needed for the clone, the limits, and the
 * child in them all. */
static int attach_cgroup(pid_t pid, void *ud, struct rb_error *err)
{
	struct spawn_hooks *h = ud;
	int r = rb_iso_cgroup_create_rest(h->cg, err);

	if (r == 0)
		r = rb_iso_cgroup_set_limits(h->cg, h->lim, err);
	if (r == 0)
		r = rb_iso_cgroup_attach_pid(h->cg, pid, err);
	return r;
}

/* The host's resolvers for the sandbox (networking proper comes with the network policy). */
static char *resolv_conf(void)
{
	char *data = NULL;
	size_t len;
	struct rb_error ignored;

	if (rb_read_file("/etc/resolv.conf", 64 << 10, &data, &len, &ignored) < 0)
		return strdup("");
	return data;
}

int rb_rt_sandbox_create(struct rb_rt_sandboxes *m, const cJSON *config, cJSON **out,
			 struct rb_error *err)
{
	struct rb_rt_sandbox *sb = calloc(1, sizeof(*sb));
	struct rb_image *img = NULL;
	struct sb_config c;
	struct rb_net_policy netp = {0};
	struct rb_iso_cgroup_limits lim;
	struct spawn_hooks hooks = {.lim = &lim};
	_cleanup_free_ char *resolv = NULL;
	_cleanup_close_ int cg_fd = -1;
	char rnd[11];
	const char *wd;
	long long now = rb_now_ms();
	int r, slot = -1;
	bool held = false;

	if (!sb)
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	sb->iso.pidfd = sb->iso.ctl = sb->iso.upper_fd = -1;
	sb->created_ms = now;
	r = parse_config(m, config, &c, err);
	if (r == 0)
		r = rb_net_policy_parse(c.network, rb_net_ctx_config(m->net)->default_mode, &netp,
					err);
	if (r == 0)
		r = rb_net_dns_check(m->net, &netp, err);
	if (r < 0)
		goto fail;
	lim = (struct rb_iso_cgroup_limits){.memory_bytes = (uint64_t)c.memory_mb << 20,
					    .cpus = c.cpu,
					    .pids_max = m->default_pids};
	r = rb_iso_cgroup_validate_limits(&lim, err);
	if (r < 0)
		goto fail;
	rb_random_id(rnd, 10);
	snprintf(sb->id, sizeof(sb->id), "sb_%s", rnd);
	r = rb_image_acquire(m->store, c.image, sb->id, &img, err);
	if (r < 0) {
		if (err->code == RB_IMAGE_NOT_FOUND)
			err->code = RB_INVALID_CONFIG;
		goto fail;
	}
	held = true;
	sb->env = merge_env(cJSON_GetObjectItemCaseSensitive(img->config, "Env"), c.env);
	wd = c.workdir;
	if (!wd)
		wd = cJSON_GetStringValue(
		    cJSON_GetObjectItemCaseSensitive(img->config, "WorkingDir"));
	if (!wd || !*wd)
		wd = "/workspace";
	sb->workdir = strdup(wd);
	sb->user = strdup(
	    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(img->config, "User")) ?: "");
	sb->doc = make_doc(sb->id, &c, &netp, wd, now);
	sb->expires_ms = now + (long long)c.timeout_ms;
	sb->last_active_ms = now;
	resolv = resolv_conf();
	if (!sb->env || !sb->workdir || !sb->user || !sb->doc || !resolv) {
		r = rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
		goto fail;
	}

	pthread_mutex_lock(&m->lock);
	slot = take_slot(m);
	if (slot >= 0)
		r = save(m, sb->id, "creating", c.image, now, slot, sb->doc, err);
	pthread_mutex_unlock(&m->lock);
	if (slot < 0) {
		r = rb_error_set(err, ENOSPC, RB_RESOURCE_EXHAUSTED, "no free sandbox slot (%zu)",
				 m->n_slots);
		goto fail;
	}
	if (r < 0)
		goto fail;
	sb->slot = (uint32_t)slot;
	{ /* private with the DNS proxy: the proxy on its gateway (docs/network.md) */
		char *own = NULL;

		r = rb_net_resolv_conf(m->net, &netp, sb->slot, &own, err);
		if (r < 0)
			goto fail;
		if (own) {
			free(resolv);
			resolv = own;
		}
	}

	/* the rest of the cgroups, and the limits, come while the child sets itself up */
	r = rb_iso_cgroup_create_first(&m->cg, sb->id, &sb->cg, err);
	if (r == 0)
		r = rb_iso_cgroup_open_fd(sb->cg, &cg_fd, err);
	if (r < 0)
		goto fail;
	hooks.cg = sb->cg;
	{
		struct rb_iso_spec spec = {.id = sb->id,
					   .layer_dirs = img->layer_dirs,
					   .n_layers = img->n_layers,
					   .disk_bytes = (uint64_t)c.disk_mb << 20,
					   .id_slot = sb->slot,
					   .cgroup_fd = cg_fd,
					   .attach = attach_cgroup,
					   .userdata = &hooks,
					   .resolv = resolv,
					   .workdir = sb->workdir};
		r = rb_iso_spawn(m->iso, &spec, &sb->iso, err);
	}
	if (r < 0)
		goto fail;
	r = rb_net_sandbox_setup(m->net, &netp, sb->slot, sb->iso.pid, sb->iso.pidfd, &sb->net,
				 err);
	if (r < 0)
		goto fail;
	rb_net_sandbox_set_name(sb->net, sb->id); /* for its network.denied events */
	cJSON_ReplaceItemInObjectCaseSensitive(sb->doc, "network",
					       rb_net_sandbox_policy_json(sb->net));
	/* the working directory exists from the start, as the image's own would (the child made
	 * it, or the agent says why it cannot be) */
	r = sb->iso.workdir_made ? 0 : rb_iso_file_mkdir(sb->iso.ctl, sb->workdir, 1, err);
	if (r < 0) {
		rb_error_wrap(err, "making the working directory");
		goto fail;
	}
	rb_image_free(img);
	img = NULL;

	/* running only now, in one commit with where its agent is and its ports: a daemon that
	 * dies before this finds it creating, and sweeps it */
	pthread_mutex_lock(&m->lock);
	sb->state = RB_SB_RUNNING;
	set_state(sb->doc, RB_SB_RUNNING);
	set_time(sb->doc, "startedAt", rb_now_ms());
	r = save_running(m, sb, c.image, slot, err);
	if (r == 0) {
		struct rb_rt_sandbox **live = realloc(m->live, (m->n_live + 1) * sizeof(*live));

		if (live) {
			m->live = live;
			m->live[m->n_live++] = sb;
			sb->refs = 1;
			rb_rt_ev_sandbox_created(sb->id, config, sb->created_ms);
		} else {
			r = rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
		}
	}
	if (r == 0 && out)
		*out = cJSON_Duplicate(sb->doc, 1);
	pthread_mutex_unlock(&m->lock);
	if (r < 0)
		goto fail;
	return 0;

fail:
	/* undo, last step first: the process, its cgroup, the record, the slot, the image */
	{
		struct rb_error ignored;

		rb_rt_ev_sandbox_failed(sb->id, config, err);
		rb_iso_kill(&sb->iso);
		rb_net_sandbox_teardown(sb->net);
		rb_net_policy_free(&netp);
		if (sb->cg) {
			rb_iso_cgroup_kill_all(sb->cg, &ignored);
			rb_iso_cgroup_destroy(sb->cg, &ignored);
		}
		pthread_mutex_lock(&m->lock);
		if (slot >= 0) {
			_cleanup_stmt_ sqlite3_stmt *st = NULL;

			m->slots[slot] = 0;
			if (sqlite3_prepare_v2(m->db, "DELETE FROM sandboxes WHERE id=?", -1, &st,
					       NULL) == SQLITE_OK) {
				sqlite3_bind_text(st, 1, sb->id, -1, SQLITE_STATIC);
				sqlite3_step(st);
			}
			forget_agent(m, sb->id);
		}
		pthread_mutex_unlock(&m->lock);
		if (held)
			rb_image_release(m->store, sb->id, &ignored);
		rb_image_free(img);
		sandbox_free(sb);
	}
	return r;
}

/* ---- lookups ---- */

static struct rb_rt_sandbox *find_live(struct rb_rt_sandboxes *m, const char *id, size_t *index)
{
	for (size_t i = 0; i < m->n_live; i++)
		if (!strcmp(m->live[i]->id, id)) {
			if (index)
				*index = i;
			return m->live[i];
		}
	return NULL;
}

static int not_found(const char *id, struct rb_error *err)
{
	return rb_error_set(err, ENOENT, RB_SANDBOX_NOT_FOUND, "sandbox \"%.64s\" not found", id);
}

int rb_rt_sandbox_get(struct rb_rt_sandboxes *m, const char *id, cJSON **out, struct rb_error *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int r = 0;

	pthread_mutex_lock(&m->lock);
	if (sqlite3_prepare_v2(m->db, "SELECT doc FROM sandboxes WHERE id=?", -1, &st, NULL) !=
	    SQLITE_OK) {
		r = db_err(m, err, "prepare");
	} else {
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW)
			*out = cJSON_Parse((const char *)sqlite3_column_text(st, 0));
		else
			r = not_found(id, err);
	}
	pthread_mutex_unlock(&m->lock);
	return r;
}

int rb_rt_sandbox_list(struct rb_rt_sandboxes *m, const struct rb_rt_list_query *q, cJSON **out,
		       struct rb_error *err)
{
	char where[1024] = " WHERE 1=1";
	_cleanup_stmt_ sqlite3_stmt *st = NULL, *ct = NULL;
	_cleanup_free_ char *sql = NULL, *count_sql = NULL;
	cJSON *data, *page, *body;
	long long total = 0;
	int bind;

	if (q->state)
		strcat(where, " AND state = ?");
	if (q->image)
		strcat(where, " AND image = ?");
	for (size_t i = 0; i < q->n_meta; i++)
		strcat(where, " AND json_extract(doc, '$.metadata.\"' || ? || '\"') = ?");
	if (asprintf(&sql,
		     "SELECT doc FROM sandboxes%s ORDER BY created_at DESC, id LIMIT ? OFFSET ?",
		     where) < 0 ||
	    asprintf(&count_sql, "SELECT count(*) FROM sandboxes%s", where) < 0)
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	pthread_mutex_lock(&m->lock);
	if (sqlite3_prepare_v2(m->db, sql, -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(m->db, count_sql, -1, &ct, NULL) != SQLITE_OK) {
		int r = db_err(m, err, "list");
		pthread_mutex_unlock(&m->lock);
		return r;
	}
	for (int pass = 0; pass < 2; pass++) {
		sqlite3_stmt *s = pass ? ct : st;

		bind = 1;
		if (q->state)
			sqlite3_bind_text(s, bind++, q->state, -1, SQLITE_STATIC);
		if (q->image)
			sqlite3_bind_text(s, bind++, q->image, -1, SQLITE_STATIC);
		for (size_t i = 0; i < q->n_meta; i++) {
			sqlite3_bind_text(s, bind++, q->meta_key[i], -1, SQLITE_STATIC);
			sqlite3_bind_text(s, bind++, q->meta_value[i], -1, SQLITE_STATIC);
		}
		if (!pass) {
			sqlite3_bind_int64(s, bind++, q->limit);
			sqlite3_bind_int64(s, bind++, q->offset);
		}
	}
	data = cJSON_CreateArray();
	while (sqlite3_step(st) == SQLITE_ROW)
		cJSON_AddItemToArray(data, cJSON_Parse((const char *)sqlite3_column_text(st, 0)));
	if (sqlite3_step(ct) == SQLITE_ROW)
		total = sqlite3_column_int64(ct, 0);
	pthread_mutex_unlock(&m->lock);
	body = cJSON_CreateObject();
	cJSON_AddItemToObject(body, "data", data);
	page = cJSON_AddObjectToObject(body, "pagination");
	cJSON_AddNumberToObject(page, "total", (double)total);
	cJSON_AddNumberToObject(page, "limit", (double)q->limit);
	cJSON_AddNumberToObject(page, "offset", (double)q->offset);
	cJSON_AddBoolToObject(page, "hasMore", q->offset + cJSON_GetArraySize(data) < total);
	*out = body;
	return 0;
}

int rb_rt_sb_settle(struct rb_rt_sandboxes *m, const char *id, struct rb_rt_sandbox **out,
		    struct rb_error *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	struct rb_rt_sandbox *sb;

	/* a pause or resume ends within the cgroup timeout, and wakes us */
	while ((sb = find_live(m, id, NULL)) && sb->busy)
		pthread_cond_wait(&m->settled, &m->lock);
	*out = sb;
	if (sb)
		return 0;
	/* not live: terminated, or no such sandbox */
	if (sqlite3_prepare_v2(m->db, "SELECT 1 FROM sandboxes WHERE id=?", -1, &st, NULL) !=
	    SQLITE_OK)
		return db_err(m, err, "prepare");
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW)
		return not_found(id, err);
	return rb_error_set(err, EBUSY, RB_INVALID_STATE, "sandbox %s is terminated", id);
}

int rb_rt_sandbox_hold(struct rb_rt_sandboxes *m, const char *id, struct rb_rt_sandbox **out,
		       struct rb_error *err)
{
	return rb_rt_sandbox_hold_as(m, id, RB_RT_HOLD_RUNNING, out, err);
}

int rb_rt_sandbox_hold_as(struct rb_rt_sandboxes *m, const char *id, enum rb_rt_hold how,
			  struct rb_rt_sandbox **out, struct rb_error *err)
{
	struct rb_rt_sandbox *sb;
	int r;

	/* autoResume: a pause may slip in between the resume and the hold; try a few times */
	for (int round = 0; round < 3; round++) {
		pthread_mutex_lock(&m->lock);
		r = rb_rt_sb_settle(m, id, &sb, err);
		if (r == 0 && (sb->state == RB_SB_RUNNING ||
			       (how == RB_RT_HOLD_LIVE && sb->state == RB_SB_PAUSED))) {
			sb->refs++;
			*out = sb;
			pthread_mutex_unlock(&m->lock);
			return 0;
		}
		if (r == 0 && !(how == RB_RT_HOLD_AUTO_RESUME && sb->state == RB_SB_PAUSED))
			r = rb_error_set(err, EBUSY, RB_INVALID_STATE,
					 sb->state == RB_SB_PAUSED
					     ? "sandbox %s is paused: resume it first, or ask for "
					       "autoResume"
					     : "sandbox %s is %s",
					 id, state_names[sb->state]);
		pthread_mutex_unlock(&m->lock);
		if (r < 0)
			return r;
		/* paused, and asked to resume: another resume winning the race is fine */
		r = rb_rt_sandbox_resume(m, id, NULL, err);
		if (r < 0 && err->code != RB_INVALID_STATE)
			return rb_error_wrap(err, "autoResume");
	}
	return rb_error_set(err, EBUSY, RB_INVALID_STATE,
			    "sandbox %s was paused again while resuming it", id);
}

void rb_rt_sandbox_put(struct rb_rt_sandboxes *m, struct rb_rt_sandbox *sb)
{
	bool last;

	pthread_mutex_lock(&m->lock);
	last = --sb->refs == 0;
	sb->last_active_ms = rb_now_ms(); /* a request that used it ends: activity */
	pthread_mutex_unlock(&m->lock);
	if (last)
		sandbox_free(sb);
}

/* ---- terminate ---- */

int rb_rt_sandbox_terminate(struct rb_rt_sandboxes *m, const char *id, const char *reason,
			    cJSON **out, struct rb_error *err)
{
	struct rb_rt_sandbox *sb;
	struct rb_error ignored;
	size_t index = 0;
	bool paused, alone;
	int r;

	pthread_mutex_lock(&m->lock);
	rb_rt_sb_settle(m, id, &sb, &ignored); /* a pause or resume under way ends first */
	if (sb)
		find_live(m, id, &index);
	if (!sb) {
		pthread_mutex_unlock(&m->lock);
		/* already terminated (or unknown): the record answers */
		if (!out) {
			cJSON *doc = NULL;
			r = rb_rt_sandbox_get(m, id, &doc, err);
			cJSON_Delete(doc);
			return r;
		}
		return rb_rt_sandbox_get(m, id, out, err);
	}
	m->live[index] = m->live[--m->n_live];
	paused = sb->state == RB_SB_PAUSED;
	sb->state = RB_SB_TERMINATED;
	alone = sb->refs == 1; /* no request holds it, and none can take it any more */
	pthread_mutex_unlock(&m->lock);

	/* Paused: a v1 freezer holds back even SIGKILL, and pid 1 would never be reaped. Kill the
	 * cgroup first (cgroup.kill reaches frozen tasks; v1 freezes, kills and thaws), then thaw,
	 * so nothing runs again before it dies. */
	if (paused) {
		rb_iso_cgroup_kill_all(sb->cg, &ignored);
		rb_iso_cgroup_thaw(sb->cg, &ignored);
	}
	/* pid 1 first (the kernel ends the namespace with it), then anything the cgroup holds.
	 * While the kernel tears the sandbox down, on another CPU when there is one, what needs
	 * no process alive goes: its disk (dissolving that detached mount takes a while too; only
	 * when alone, since a stats request reads it), its hold on the image and its record
	 * (pid 1 has SIGKILL, and the others die with its namespace). The answer waits for the
	 * end: a daemon that dies before it leaves a terminated record, whose cgroups the next
	 * one sweeps (strays.c). Its network goes before the record says terminated: the next
	 * daemon sweeps networks only for the sandboxes its records say may have one. */
	rb_iso_kill_start(&sb->iso);
	rb_net_sandbox_teardown(sb->net);
	if (alone && sb->iso.upper_fd >= 0) {
		close(sb->iso.upper_fd);
		sb->iso.upper_fd = -1;
	}
	rb_image_release(m->store, sb->id, &ignored);
	pthread_mutex_lock(&m->lock);
	set_state(sb->doc, RB_SB_TERMINATED);
	set_time(sb->doc, "terminatedAt", rb_now_ms());
	cJSON_DeleteItemFromObjectCaseSensitive(sb->doc, "terminationReason");
	cJSON_AddStringToObject(sb->doc, "terminationReason", reason);
	sqlite3_exec(m->db, "BEGIN", NULL, NULL, NULL);
	forget_agent(m, sb->id);
	r = save(m, sb->id, "terminated",
		 cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(sb->doc, "image")),
		 sb->created_ms, sb->slot, sb->doc, err);
	sqlite3_exec(m->db, "COMMIT", NULL, NULL, NULL);
	if (out)
		*out = cJSON_Duplicate(sb->doc, 1);
	pthread_mutex_unlock(&m->lock);

	rb_iso_kill(&sb->iso);
	if (r == 0)
		r = rb_iso_cgroup_destroy(sb->cg, err); /* kills what the cgroup still holds */
	else
		rb_iso_cgroup_destroy(sb->cg, &ignored);
	/* its ids are free for another sandbox once none of its processes can hold them */
	pthread_mutex_lock(&m->lock);
	m->slots[sb->slot] = 0;
	pthread_mutex_unlock(&m->lock);
	rb_rt_ev_sandbox_terminated(sb->id, reason, sb->created_ms);
	rb_rt_sandbox_put(m, sb);
	return r;
}

bool rb_rt_sandbox_oom_check(struct rb_rt_sandbox *sb)
{
	struct rb_iso_cgroup_stats st;
	struct rb_error err;

	if (rb_iso_cgroup_stats(sb->cg, &st, &err) < 0 || st.oom_kills == RB_ISO_CGROUP_UNKNOWN ||
	    st.oom_kills <= __atomic_load_n(&sb->oom_seen, __ATOMIC_RELAXED))
		return false;
	__atomic_store_n(&sb->oom_seen, st.oom_kills, __ATOMIC_RELAXED);
	return true;
}

/* ---- shared with lifecycle.c ---- */

void rb_rt_sb_set_state(struct rb_rt_sandbox *sb, enum rb_rt_sb_state s)
{
	sb->state = s;
	set_state(sb->doc, s);
	if (s == RB_SB_RUNNING)
		sb->last_active_ms = rb_now_ms(); /* idleness counts from a resume */
}

void rb_rt_sb_set_time(cJSON *doc, const char *key, long long ms)
{
	set_time(doc, key, ms);
}

int rb_rt_sb_save(struct rb_rt_sandboxes *m, struct rb_rt_sandbox *sb, struct rb_error *err)
{
	return save(m, sb->id, state_names[sb->state],
		    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(sb->doc, "image")),
		    sb->created_ms, sb->slot, sb->doc, err);
}

const char *rb_rt_sb_state_name(enum rb_rt_sb_state s)
{
	return state_names[s];
}

/* ---- taking sandboxes back after a restart ---- */

/* The ports a sandbox had exposed (host port, time), as the last daemon saved them. */
static size_t load_ports(struct rb_rt_sandboxes *m, const char *id, struct rb_net_port *out,
			 size_t max)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	size_t n = 0;

	if (sqlite3_prepare_v2(m->db, "SELECT port, host_port, exposed_at FROM ports WHERE id=?",
			       -1, &st, NULL) != SQLITE_OK)
		return 0;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	while (n < max && sqlite3_step(st) == SQLITE_ROW) {
		out[n].port = (uint16_t)sqlite3_column_int(st, 0);
		out[n].host_port = (uint16_t)sqlite3_column_int(st, 1);
		out[n++].exposed_ms = sqlite3_column_int64(st, 2);
	}
	return n;
}

/* Its network as the record says, taken back (netpolicy/); ports that could not keep their
 * host port are saved and announced with the new one. */
static int adopt_network(struct rb_rt_sandboxes *m, struct rb_rt_sandbox *sb, const cJSON *doc,
			 struct rb_error *err)
{
	struct rb_net_port prev[RB_NET_MAX_PORTS], now[RB_NET_MAX_PORTS];
	size_t n_prev = load_ports(m, sb->id, prev, RB_NET_MAX_PORTS), n;
	struct rb_net_policy netp = {0};
	bool moved = false;
	int r = rb_net_policy_parse(cJSON_GetObjectItemCaseSensitive(doc, "network"),
				    rb_net_ctx_config(m->net)->default_mode, &netp, err);

	if (r == 0)
		r = rb_net_sandbox_adopt(m->net, &netp, sb->slot, sb->iso.pid, sb->iso.pidfd, prev,
					 n_prev, &sb->net, err);
	rb_net_policy_free(&netp);
	if (r < 0)
		return r;
	rb_net_sandbox_set_name(sb->net, sb->id);
	n = rb_net_sandbox_ports(sb->net, now, RB_NET_MAX_PORTS);
	for (size_t i = 0; i < n && i < RB_NET_MAX_PORTS; i++) {
		bool same = false;

		for (size_t j = 0; j < n_prev; j++)
			same |=
			    prev[j].port == now[i].port && prev[j].host_port == now[i].host_port;
		if (!same)
			rb_rt_ev_port(sb->id, true, rb_net_port_json(&now[i]));
		moved |= !same;
	}
	if (moved || n != n_prev)
		rb_rt_sb_save_ports(m, sb, err);
	return 0;
}

static int adopt(struct rb_rt_sandboxes *m, const char *id, enum rb_rt_sb_state state, cJSON **doc,
		 long long created, long slot, struct rb_error *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	struct rb_rt_sandbox *sb = NULL, **live;
	struct rb_image *img = NULL;
	struct rb_error ignored;
	const char *image = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(*doc, "image"));
	const char *wd = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(*doc, "workdir"));
	char leaf[32];
	pid_t pid;
	uid_t host_uid;
	int r;

	if (slot <= 0 || (size_t)slot >= m->n_slots || m->slots[slot])
		return rb_error_set(err, EINVAL, RB_INTERNAL_ERROR, "bad slot %ld", slot);
	if (sqlite3_prepare_v2(m->db, "SELECT pid, host_uid FROM agents WHERE id=?", -1, &st,
			       NULL) != SQLITE_OK)
		return db_err(m, err, "prepare");
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW)
		return rb_error_set(err, ENOENT, RB_NOT_FOUND, "no agent recorded");
	pid = (pid_t)sqlite3_column_int64(st, 0);
	host_uid = (uid_t)sqlite3_column_int64(st, 1);
	sb = calloc(1, sizeof(*sb));
	if (!sb)
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	sb->iso.pidfd = sb->iso.ctl = sb->iso.upper_fd = -1;
	snprintf(sb->id, sizeof(sb->id), "%s", id);
	snprintf(leaf, sizeof(leaf), "runbox-%s", id);
	r = rb_iso_cgroup_load(&m->cg, id, &sb->cg, err);
	/* the cgroup as the record says: a pause the daemon died in, unanswered, is undone; a
	 * resume it died in, unanswered, too (the sandbox is frozen again) */
	if (r == 0 && state == RB_SB_RUNNING)
		rb_iso_cgroup_thaw(sb->cg, &ignored);
	else if (r == 0 && state == RB_SB_PAUSED && rb_iso_cgroup_freeze(sb->cg, err) < 0)
		r = rb_error_wrap(err, "freezing it again, as its record says paused");
	if (r == 0)
		r = rb_iso_reattach(pid, leaf, host_uid, state == RB_SB_RUNNING, &sb->iso, err);
	if (r == 0) {
		sb->slot = (uint32_t)slot;
		r = adopt_network(m, sb, *doc, err);
	}
	if (r < 0) {
		sandbox_free(sb);
		return r;
	}
	/* the image's Env and User, as at the create; the hold is the same (idempotent) */
	if (image && rb_image_acquire(m->store, image, id, &img, &ignored) < 0)
		img = NULL;
	sb->env = merge_env(img ? cJSON_GetObjectItemCaseSensitive(img->config, "Env") : NULL,
			    cJSON_GetObjectItemCaseSensitive(*doc, "env"));
	sb->user = strdup(
	    img ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(img->config, "User")) ?: ""
		: "");
	rb_image_free(img);
	sb->workdir = strdup(wd ? wd : "/workspace");
	live = realloc(m->live, (m->n_live + 1) * sizeof(*live));
	if (!sb->env || !sb->user || !sb->workdir || !live) {
		if (live)
			m->live = live;
		sandbox_free(sb);
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	}
	sb->state = state;
	sb->slot = (uint32_t)slot;
	sb->created_ms = created;
	sb->expires_ms = rb_rt_sb_expiry(*doc, created);
	sb->last_active_ms = rb_now_ms(); /* idleness starts again from the restart */
	sb->doc = *doc;
	*doc = NULL;
	sb->refs = 1;
	m->slots[slot] = 1;
	m->live = live;
	m->live[m->n_live++] = sb;
	return 0;
}
