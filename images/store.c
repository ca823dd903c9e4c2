/* The store's index (SQLite, WAL) and what reads it: list, inspect, remove, holders, and the
 * collection of blobs and layers nothing references. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "images-internal.h"

static const char schema[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=NORMAL;"
    "PRAGMA foreign_keys=ON;"
    "CREATE TABLE IF NOT EXISTS images("
    " id TEXT PRIMARY KEY, manifest_digest TEXT, config TEXT NOT NULL,"
    " created TEXT, architecture TEXT, os TEXT, loaded_at INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS image_layers("
    " image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,"
    " idx INTEGER NOT NULL, diff_id TEXT NOT NULL, blob_digest TEXT NOT NULL,"
    " blob_size INTEGER NOT NULL, PRIMARY KEY(image_id, idx));"
    "CREATE INDEX IF NOT EXISTS image_layers_diff ON image_layers(diff_id);"
    "CREATE TABLE IF NOT EXISTS layers("
    " diff_id TEXT PRIMARY KEY, blob_digest TEXT NOT NULL, blob_size INTEGER NOT NULL,"
    " unpacked_size INTEGER NOT NULL, entries INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS names("
    " name TEXT PRIMARY KEY, image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,"
    " created_at INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS holders("
    " holder TEXT PRIMARY KEY, image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE);";

void rb_image_limits_default(struct rb_image_limits *l)
{
	l->max_layer_bytes = 64ULL << 30;
	l->max_layer_entries = 2000000;
	l->max_path_depth = 256;
	l->max_path_length = 4096;
	l->max_metadata_bytes = 4 << 20;
	l->max_archive_entries = 100000;
}

static int db_err(struct rb_image_store *s, struct rb_error *err, const char *what)
{
	return rb_error_set(err, EIO, RB_INTERNAL_ERROR, "image index: %s: %s", what,
			    sqlite3_errmsg(s->db));
}

static void stmt_finalize(sqlite3_stmt **st)
{
	if (*st)
		sqlite3_finalize(*st);
}
#define _cleanup_stmt_ _cleanup_(stmt_finalize)

static void unlockp(pthread_mutex_t **m)
{
	if (*m)
		pthread_mutex_unlock(*m);
}
#define DB_LOCK(s)                                                                                 \
	_cleanup_(unlockp) pthread_mutex_t *_db_guard_ = &(s)->db_lock;                            \
	pthread_mutex_lock(_db_guard_)

static int prepare(struct rb_image_store *s, const char *sql, sqlite3_stmt **st,
		   struct rb_error *err)
{
	if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK)
		return db_err(s, err, "prepare");
	return 0;
}

int rb_store_tmpname(struct rb_image_store *s, const char *prefix, char *buf, size_t len)
{
	char rnd[17];
	int r = rb_random_id(rnd, 16);

	if (r < 0)
		return r;
	if ((size_t)snprintf(buf, len, "%s/%s-%s", s->tmp_dir, prefix, rnd) >= len)
		return -ENAMETOOLONG;
	return 0;
}

int rb_image_store_open(const char *dir, const struct rb_image_limits *limits,
			struct rb_image_store **out, struct rb_error *err)
{
	struct rb_image_store *s = calloc(1, sizeof(*s));
	_cleanup_free_ char *dbpath = NULL;
	char *errmsg = NULL;
	const char *sub[] = {"blobs/sha256", "blobs/sha512", "layers/sha256", "layers/sha512"};

	if (!s)
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	pthread_mutex_init(&s->db_lock, NULL);
	pthread_rwlock_init(&s->gc_lock, NULL);
	if (limits)
		s->limits = *limits;
	else
		rb_image_limits_default(&s->limits);
	s->dir = strdup(dir);
	s->blobs_dir = rb_path_join(dir, "blobs");
	s->layers_dir = rb_path_join(dir, "layers");
	s->tmp_dir = rb_path_join(dir, "tmp");
	dbpath = rb_path_join(dir, "images.db");
	if (!s->dir || !s->blobs_dir || !s->layers_dir || !s->tmp_dir || !dbpath) {
		rb_image_store_close(s);
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	}
	for (size_t i = 0; i < RB_ARRAY_SIZE(sub); i++) {
		_cleanup_free_ char *p = rb_path_join(dir, sub[i]);
		int r = p ? rb_mkdir_p(p, 0700) : -ENOMEM;

		if (r < 0) {
			rb_image_store_close(s);
			return rb_error_set(err, -r, RB_INTERNAL_ERROR, "cannot make %s/%s: %s",
					    dir, sub[i], strerror(-r));
		}
	}
	/* whatever a crash left half-made is garbage */
	rb_rm_rf_at(AT_FDCWD, s->tmp_dir);
	if (mkdir(s->tmp_dir, 0700) < 0 && errno != EEXIST) {
		int e = errno;
		rb_image_store_close(s);
		return rb_error_sys(err, e, RB_INTERNAL_ERROR, "mkdir %s/tmp", dir);
	}
	if (sqlite3_open_v2(dbpath, &s->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		rb_error_set(err, EIO, RB_INTERNAL_ERROR, "open %s: %s", dbpath,
			     s->db ? sqlite3_errmsg(s->db) : "out of memory");
		rb_image_store_close(s);
		return -EIO;
	}
	sqlite3_busy_timeout(s->db, 5000);
	if (sqlite3_exec(s->db, schema, NULL, NULL, &errmsg) != SQLITE_OK) {
		rb_error_set(err, EIO, RB_INTERNAL_ERROR, "%s: %s", dbpath, errmsg);
		sqlite3_free(errmsg);
		rb_image_store_close(s);
		return -EIO;
	}
	*out = s;
	return 0;
}

void rb_image_store_close(struct rb_image_store *s)
{
	if (!s)
		return;
	if (s->db)
		sqlite3_close(s->db);
	pthread_mutex_destroy(&s->db_lock);
	pthread_rwlock_destroy(&s->gc_lock);
	free(s->dir);
	free(s->blobs_dir);
	free(s->layers_dir);
	free(s->tmp_dir);
	free(s);
}

int rb_store_has_layer(struct rb_image_store *s, const char *diff_id)
{
	char path[4096];
	struct stat st;

	if (rb_digest_path(s->layers_dir, diff_id, path, sizeof(path)) < 0)
		return 0;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* ---- resolving references ---- */

static int resolve_locked(struct rb_image_store *s, const char *ref, char id[RB_DIGEST_MAX],
			  int *by_name, char *name_out, size_t name_len, struct rb_error *err)
{
	char norm[512];
	struct rb_error ignored;
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	int matches = 0;

	*by_name = 0;
	if (rb_ref_normalize(ref, norm, sizeof(norm), &ignored) == 0) {
		if (prepare(s, "SELECT image_id FROM names WHERE name=?", &st, err) < 0)
			return -EIO;
		sqlite3_bind_text(st, 1, norm, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW) {
			snprintf(id, RB_DIGEST_MAX, "%s", (const char *)sqlite3_column_text(st, 0));
			*by_name = 1;
			if (name_out)
				snprintf(name_out, name_len, "%s", norm);
			return 0;
		}
		sqlite3_finalize(st);
		st = NULL;
	}
	if (rb_ref_is_id(ref)) {
		char pattern[RB_DIGEST_MAX + 2];

		snprintf(pattern, sizeof(pattern), "sha256:%s%%",
			 strncmp(ref, "sha256:", 7) ? ref : ref + 7);
		if (prepare(s, "SELECT id FROM images WHERE id LIKE ? LIMIT 2", &st, err) < 0)
			return -EIO;
		sqlite3_bind_text(st, 1, pattern, -1, SQLITE_STATIC);
		while (sqlite3_step(st) == SQLITE_ROW) {
			snprintf(id, RB_DIGEST_MAX, "%s", (const char *)sqlite3_column_text(st, 0));
			matches++;
		}
		if (matches == 1)
			return 0;
		if (matches > 1)
			return rb_error_set(err, EINVAL, RB_INVALID_CONFIG,
					    "image id prefix \"%.100s\" is ambiguous", ref);
	}
	return rb_error_set(err, ENOENT, RB_IMAGE_NOT_FOUND, "image \"%.200s\" not found", ref);
}

/* ---- JSON views ---- */

static cJSON *copy_item(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	return v && !cJSON_IsNull(v) ? cJSON_Duplicate(v, 1) : NULL;
}

/* The runtime-relevant part of an OCI config, with the API's camelCase names. */
static cJSON *config_view(const char *config_json)
{
	cJSON *full = cJSON_Parse(config_json);
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(full, "config");
	cJSON *out = cJSON_CreateObject(), *ports = cJSON_CreateArray(), *v;
	const cJSON *it;
	static const struct {
		const char *from, *to;
	} keys[] = {{"Env", "env"},
		    {"Cmd", "cmd"},
		    {"Entrypoint", "entrypoint"},
		    {"WorkingDir", "workingDir"},
		    {"User", "user"},
		    {"Labels", "labels"},
		    {"StopSignal", "stopSignal"}};

	for (size_t i = 0; i < RB_ARRAY_SIZE(keys); i++) {
		v = copy_item(c, keys[i].from);
		if (v)
			cJSON_AddItemToObject(out, keys[i].to, v);
	}
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(c, "ExposedPorts"))
	{
		cJSON_AddItemToArray(ports, cJSON_CreateString(it->string));
	}
	cJSON_AddItemToObject(out, "exposedPorts", ports);
	cJSON_Delete(full);
	return out;
}

static int image_json_locked(struct rb_image_store *s, const char *id, cJSON **out,
			     struct rb_error *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL, *nt = NULL, *lt = NULL, *ht = NULL;
	cJSON *img, *names, *layers;
	long long total = 0;
	char when[32];

	if (prepare(s,
		    "SELECT id, manifest_digest, config, created, architecture, os, loaded_at "
		    "FROM images WHERE id=?",
		    &st, err) < 0)
		return -EIO;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW)
		return rb_error_set(err, ENOENT, RB_IMAGE_NOT_FOUND, "image %s not found", id);
	img = cJSON_CreateObject();
	cJSON_AddStringToObject(img, "id", (const char *)sqlite3_column_text(st, 0));
	names = cJSON_AddArrayToObject(img, "names");
	if (sqlite3_column_type(st, 1) == SQLITE_NULL)
		cJSON_AddNullToObject(img, "digest");
	else
		cJSON_AddStringToObject(img, "digest", (const char *)sqlite3_column_text(st, 1));
	cJSON_AddStringToObject(img, "architecture", (const char *)sqlite3_column_text(st, 4));
	cJSON_AddStringToObject(img, "os", (const char *)sqlite3_column_text(st, 5));
	if (sqlite3_column_type(st, 3) == SQLITE_NULL)
		cJSON_AddNullToObject(img, "created");
	else
		cJSON_AddStringToObject(img, "created", (const char *)sqlite3_column_text(st, 3));
	rb_format_time(sqlite3_column_int64(st, 6), when);
	cJSON_AddStringToObject(img, "loadedAt", when);

	if (prepare(s, "SELECT name FROM names WHERE image_id=? ORDER BY created_at, name", &nt,
		    err) < 0)
		goto fail;
	sqlite3_bind_text(nt, 1, id, -1, SQLITE_STATIC);
	while (sqlite3_step(nt) == SQLITE_ROW)
		cJSON_AddItemToArray(names,
				     cJSON_CreateString((const char *)sqlite3_column_text(nt, 0)));

	layers = cJSON_CreateArray();
	if (prepare(s,
		    "SELECT il.diff_id, il.blob_digest, il.blob_size, l.unpacked_size "
		    "FROM image_layers il LEFT JOIN layers l ON l.diff_id = il.diff_id "
		    "WHERE il.image_id=? ORDER BY il.idx",
		    &lt, err) < 0) {
		cJSON_Delete(layers);
		goto fail;
	}
	sqlite3_bind_text(lt, 1, id, -1, SQLITE_STATIC);
	while (sqlite3_step(lt) == SQLITE_ROW) {
		cJSON *l = cJSON_CreateObject();

		cJSON_AddStringToObject(l, "diffId", (const char *)sqlite3_column_text(lt, 0));
		cJSON_AddStringToObject(l, "digest", (const char *)sqlite3_column_text(lt, 1));
		cJSON_AddNumberToObject(l, "sizeBytes", (double)sqlite3_column_int64(lt, 2));
		cJSON_AddNumberToObject(l, "unpackedBytes", (double)sqlite3_column_int64(lt, 3));
		total += sqlite3_column_int64(lt, 3);
		cJSON_AddItemToArray(layers, l);
	}
	cJSON_AddNumberToObject(img, "sizeBytes", (double)total);
	cJSON_AddItemToObject(img, "layers", layers);
	cJSON_AddItemToObject(img, "config", config_view((const char *)sqlite3_column_text(st, 2)));
	if (prepare(s, "SELECT count(*) FROM holders WHERE image_id=?", &ht, err) < 0)
		goto fail;
	sqlite3_bind_text(ht, 1, id, -1, SQLITE_STATIC);
	sqlite3_step(ht);
	cJSON_AddNumberToObject(img, "inUse", (double)sqlite3_column_int64(ht, 0));
	*out = img;
	return 0;
fail:
	cJSON_Delete(img);
	return -err->errnum;
}

int rb_store_image_json(struct rb_image_store *s, const char *id, cJSON **out, struct rb_error *err)
{
	DB_LOCK(s);
	return image_json_locked(s, id, out, err);
}

int rb_image_list(struct rb_image_store *s, cJSON **out, struct rb_error *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	cJSON *arr;
	DB_LOCK(s);

	if (prepare(s, "SELECT id FROM images ORDER BY loaded_at DESC, id", &st, err) < 0)
		return -EIO;
	arr = cJSON_CreateArray();
	while (sqlite3_step(st) == SQLITE_ROW) {
		cJSON *img;

		if (image_json_locked(s, (const char *)sqlite3_column_text(st, 0), &img, err) < 0) {
			cJSON_Delete(arr);
			return -err->errnum;
		}
		cJSON_AddItemToArray(arr, img);
	}
	*out = arr;
	return 0;
}

int rb_image_inspect(struct rb_image_store *s, const char *ref, cJSON **out, struct rb_error *err)
{
	char id[RB_DIGEST_MAX];
	int by_name;
	DB_LOCK(s);

	if (resolve_locked(s, ref, id, &by_name, NULL, 0, err) < 0)
		return -err->errnum;
	return image_json_locked(s, id, out, err);
}

/* ---- changes ---- */

static int exec_sql(struct rb_image_store *s, const char *sql, struct rb_error *err)
{
	if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return db_err(s, err, sql);
	return 0;
}

static int count_where(struct rb_image_store *s, const char *sql, const char *arg)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW)
		return -1;
	return sqlite3_column_int(st, 0);
}

static int run1(struct rb_image_store *s, const char *sql, const char *a, const char *b,
		struct rb_error *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;

	if (prepare(s, sql, &st, err) < 0)
		return -EIO;
	sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
	if (b)
		sqlite3_bind_text(st, 2, b, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		return db_err(s, err, sql);
	return 0;
}

/* Delete an image with no name and no holder; returns 1 when it went. */
static int drop_if_orphan(struct rb_image_store *s, const char *id, struct rb_error *err)
{
	if (count_where(s, "SELECT count(*) FROM names WHERE image_id=?", id) != 0 ||
	    count_where(s, "SELECT count(*) FROM holders WHERE image_id=?", id) != 0)
		return 0;
	if (run1(s, "DELETE FROM images WHERE id=?", id, NULL, err) < 0)
		return -EIO;
	return 1;
}

int rb_store_record(struct rb_image_store *s, const struct rb_plan *plan, cJSON **loaded,
		    struct rb_error *err)
{
	_cleanup_stmt_ sqlite3_stmt *img = NULL, *lay = NULL, *nm = NULL, *old = NULL;
	char **orphans = NULL;
	size_t n_orphans = 0;
	long long now = rb_now_ms();
	cJSON *out;
	DB_LOCK(s);

	if (exec_sql(s, "BEGIN IMMEDIATE", err) < 0)
		return -EIO;
	if (prepare(s,
		    "INSERT OR IGNORE INTO images(id, manifest_digest, config, created, "
		    "architecture, os, loaded_at) VALUES(?,?,?,?,?,?,?)",
		    &img, err) < 0 ||
	    prepare(s,
		    "INSERT OR REPLACE INTO image_layers(image_id, idx, diff_id, blob_digest, "
		    "blob_size) SELECT ?1, ?2, ?3, ?4, ?5",
		    &lay, err) < 0 ||
	    prepare(s, "INSERT OR REPLACE INTO names(name, image_id, created_at) VALUES(?,?,?)",
		    &nm, err) < 0 ||
	    prepare(s, "SELECT image_id FROM names WHERE name=? AND image_id<>?", &old, err) < 0)
		goto fail;
	for (size_t i = 0; i < plan->n_images; i++) {
		const struct rb_plan_image *pi = &plan->images[i];
		cJSON *cfg = cJSON_Parse(pi->config_json);
		const char *created = cJSON_GetStringValue(cJSON_GetObjectItem(cfg, "created"));
		const char *arch = cJSON_GetStringValue(cJSON_GetObjectItem(cfg, "architecture"));
		const char *os = cJSON_GetStringValue(cJSON_GetObjectItem(cfg, "os"));

		sqlite3_reset(img);
		sqlite3_bind_text(img, 1, pi->config_digest, -1, SQLITE_STATIC);
		if (pi->manifest_digest[0])
			sqlite3_bind_text(img, 2, pi->manifest_digest, -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(img, 2);
		sqlite3_bind_text(img, 3, pi->config_json, -1, SQLITE_STATIC);
		sqlite3_bind_text(img, 4, created ? created : "", -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(img, 5, arch ? arch : "", -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(img, 6, os ? os : "", -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(img, 7, now);
		cJSON_Delete(cfg);
		if (sqlite3_step(img) != SQLITE_DONE)
			goto dbfail;
		for (size_t j = 0; j < pi->n_layers; j++) {
			sqlite3_reset(lay);
			sqlite3_bind_text(lay, 1, pi->config_digest, -1, SQLITE_STATIC);
			sqlite3_bind_int(lay, 2, (int)j);
			sqlite3_bind_text(lay, 3, pi->layers[j].diff_id, -1, SQLITE_STATIC);
			sqlite3_bind_text(lay, 4, pi->layers[j].digest, -1, SQLITE_STATIC);
			sqlite3_bind_int64(lay, 5, pi->layers[j].size);
			if (sqlite3_step(lay) != SQLITE_DONE)
				goto dbfail;
		}
		for (size_t j = 0; j < pi->n_names; j++) {
			/* a name moving to this image may leave its old image with none */
			sqlite3_reset(old);
			sqlite3_bind_text(old, 1, pi->names[j], -1, SQLITE_STATIC);
			sqlite3_bind_text(old, 2, pi->config_digest, -1, SQLITE_STATIC);
			if (sqlite3_step(old) == SQLITE_ROW) {
				char **o = realloc(orphans, (n_orphans + 1) * sizeof(*o));

				if (o) {
					orphans = o;
					orphans[n_orphans] =
					    strdup((const char *)sqlite3_column_text(old, 0));
					if (orphans[n_orphans])
						n_orphans++;
				}
			}
			sqlite3_reset(nm);
			sqlite3_bind_text(nm, 1, pi->names[j], -1, SQLITE_STATIC);
			sqlite3_bind_text(nm, 2, pi->config_digest, -1, SQLITE_STATIC);
			sqlite3_bind_int64(nm, 3, now);
			if (sqlite3_step(nm) != SQLITE_DONE)
				goto dbfail;
		}
	}
	for (size_t i = 0; i < n_orphans; i++)
		if (drop_if_orphan(s, orphans[i], err) < 0)
			goto fail;
	if (exec_sql(s, "COMMIT", err) < 0)
		goto fail;
	for (size_t i = 0; i < n_orphans; i++)
		free(orphans[i]);
	free(orphans);
	out = cJSON_CreateArray();
	for (size_t i = 0; i < plan->n_images; i++) {
		cJSON *one;

		if (image_json_locked(s, plan->images[i].config_digest, &one, err) < 0) {
			cJSON_Delete(out);
			return -err->errnum;
		}
		cJSON_AddItemToArray(out, one);
	}
	*loaded = out;
	return 0;
dbfail:
	db_err(s, err, "record the image");
fail:
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	for (size_t i = 0; i < n_orphans; i++)
		free(orphans[i]);
	free(orphans);
	return -EIO;
}

int rb_store_note_layer(struct rb_image_store *s, const char *diff_id, const char *blob_digest,
			uint64_t blob_size, uint64_t unpacked, uint64_t entries,
			struct rb_error *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	DB_LOCK(s);

	if (prepare(s,
		    "INSERT OR REPLACE INTO layers(diff_id, blob_digest, blob_size, unpacked_size, "
		    "entries) VALUES(?,?,?,?,?)",
		    &st, err) < 0)
		return -EIO;
	sqlite3_bind_text(st, 1, diff_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, blob_digest, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)blob_size);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)unpacked);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)entries);
	if (sqlite3_step(st) != SQLITE_DONE)
		return db_err(s, err, "note a layer");
	return 0;
}

int rb_store_layer_blob(struct rb_image_store *s, const char *diff_id, char digest[RB_DIGEST_MAX],
			uint64_t *size)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	DB_LOCK(s);

	if (sqlite3_prepare_v2(s->db, "SELECT blob_digest, blob_size FROM layers WHERE diff_id=?",
			       -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_text(st, 1, diff_id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW)
		return -ENOENT;
	snprintf(digest, RB_DIGEST_MAX, "%s", (const char *)sqlite3_column_text(st, 0));
	*size = (uint64_t)sqlite3_column_int64(st, 1);
	return 0;
}

int rb_image_remove(struct rb_image_store *s, const char *ref, bool force, cJSON **out,
		    struct rb_error *err)
{
	char id[RB_DIGEST_MAX], name[512];
	int by_name, names, held, deleted = 0, r;
	cJSON *untagged = cJSON_CreateArray();

	{
		DB_LOCK(s);
		if (resolve_locked(s, ref, id, &by_name, name, sizeof(name), err) < 0) {
			cJSON_Delete(untagged);
			return -err->errnum;
		}
		names = count_where(s, "SELECT count(*) FROM names WHERE image_id=?", id);
		held = count_where(s, "SELECT count(*) FROM holders WHERE image_id=?", id);
		if (held > 0 && !force && (!by_name || names <= 1)) {
			cJSON_Delete(untagged);
			return rb_error_set(err, EBUSY, RB_INVALID_STATE,
					    "image %.200s is in use by %d sandbox%s (use force to "
					    "untag it anyway)",
					    ref, held, held == 1 ? "" : "es");
		}
		if (exec_sql(s, "BEGIN IMMEDIATE", err) < 0) {
			cJSON_Delete(untagged);
			return -EIO;
		}
		if (by_name) {
			r = run1(s, "DELETE FROM names WHERE name=?", name, NULL, err);
			cJSON_AddItemToArray(untagged, cJSON_CreateString(name));
		} else {
			_cleanup_stmt_ sqlite3_stmt *st = NULL;

			if (prepare(s, "SELECT name FROM names WHERE image_id=?", &st, err) == 0)
				while (sqlite3_step(st) == SQLITE_ROW)
					cJSON_AddItemToArray(
					    untagged, cJSON_CreateString((
							  const char *)sqlite3_column_text(st, 0)));
			r = run1(s, "DELETE FROM names WHERE image_id=?", id, NULL, err);
		}
		if (r == 0)
			r = deleted = drop_if_orphan(s, id, err);
		if (r < 0 || exec_sql(s, "COMMIT", err) < 0) {
			sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
			cJSON_Delete(untagged);
			return -EIO;
		}
	}
	if (deleted && rb_image_gc(s, err) < 0) {
		cJSON_Delete(untagged);
		return -err->errnum;
	}
	if (out) {
		cJSON *o = cJSON_CreateObject();

		cJSON_AddItemToObject(o, "untagged", untagged);
		if (deleted)
			cJSON_AddStringToObject(o, "deleted", id);
		else
			cJSON_AddNullToObject(o, "deleted");
		*out = o;
	} else {
		cJSON_Delete(untagged);
	}
	return 0;
}

/* ---- holders ---- */

int rb_image_acquire(struct rb_image_store *s, const char *ref, const char *holder,
		     struct rb_image **out, struct rb_error *err)
{
	_cleanup_stmt_ sqlite3_stmt *lt = NULL, *ct = NULL;
	struct rb_image *img;
	char id[RB_DIGEST_MAX];
	int by_name;
	DB_LOCK(s);

	if (resolve_locked(s, ref, id, &by_name, NULL, 0, err) < 0)
		return -err->errnum;
	img = calloc(1, sizeof(*img));
	if (!img)
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	snprintf(img->id, sizeof(img->id), "%s", id);
	if (prepare(s, "SELECT diff_id FROM image_layers WHERE image_id=? ORDER BY idx", &lt, err) <
	    0)
		goto fail;
	sqlite3_bind_text(lt, 1, id, -1, SQLITE_STATIC);
	while (sqlite3_step(lt) == SQLITE_ROW) {
		char path[4096];
		char **dirs = realloc(img->layer_dirs, (img->n_layers + 1) * sizeof(*dirs));

		if (!dirs)
			goto oom;
		img->layer_dirs = dirs;
		rb_digest_path(s->layers_dir, (const char *)sqlite3_column_text(lt, 0), path,
			       sizeof(path));
		dirs[img->n_layers] = strdup(path);
		if (!dirs[img->n_layers])
			goto oom;
		img->n_layers++;
	}
	if (prepare(s, "SELECT config FROM images WHERE id=?", &ct, err) < 0)
		goto fail;
	sqlite3_bind_text(ct, 1, id, -1, SQLITE_STATIC);
	if (sqlite3_step(ct) == SQLITE_ROW) {
		cJSON *full = cJSON_Parse((const char *)sqlite3_column_text(ct, 0));

		img->config = cJSON_DetachItemFromObjectCaseSensitive(full, "config");
		cJSON_Delete(full);
	}
	if (run1(s, "INSERT OR REPLACE INTO holders(holder, image_id) VALUES(?,?)", holder, id,
		 err) < 0)
		goto fail;
	*out = img;
	return 0;
oom:
	rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
fail:
	rb_image_free(img);
	return -err->errnum;
}

int rb_image_release(struct rb_image_store *s, const char *holder, struct rb_error *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	char id[RB_DIGEST_MAX] = "";
	int dropped = 0;

	{
		DB_LOCK(s);
		if (prepare(s, "SELECT image_id FROM holders WHERE holder=?", &st, err) < 0)
			return -EIO;
		sqlite3_bind_text(st, 1, holder, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW)
			snprintf(id, sizeof(id), "%s", (const char *)sqlite3_column_text(st, 0));
		if (run1(s, "DELETE FROM holders WHERE holder=?", holder, NULL, err) < 0)
			return -EIO;
		/* an image untagged by force while in use goes with its last holder */
		if (id[0])
			dropped = drop_if_orphan(s, id, err);
		if (dropped < 0)
			return -EIO;
	}
	return dropped ? rb_image_gc(s, err) : 0;
}

int rb_image_holders(struct rb_image_store *s, char ***out, struct rb_error *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	char **list = calloc(1, sizeof(*list));
	size_t n = 0;
	DB_LOCK(s);

	if (!list)
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	if (prepare(s, "SELECT holder FROM holders", &st, err) < 0) {
		free(list);
		return -EIO;
	}
	while (sqlite3_step(st) == SQLITE_ROW) {
		char **grown = realloc(list, (n + 2) * sizeof(*list));

		if (!grown || !(grown[n] = strdup((const char *)sqlite3_column_text(st, 0)))) {
			list = grown ? grown : list;
			for (size_t i = 0; i < n; i++)
				free(list[i]);
			free(list);
			return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
		}
		list = grown;
		list[++n] = NULL;
	}
	*out = list;
	return 0;
}

void rb_image_free(struct rb_image *img)
{
	if (!img)
		return;
	for (size_t i = 0; i < img->n_layers; i++)
		free(img->layer_dirs[i]);
	free(img->layer_dirs);
	cJSON_Delete(img->config);
	free(img);
}

/* ---- collection ---- */

static int referenced(struct rb_image_store *s, const char *sql, const char *digest)
{
	return count_where(s, sql, digest) != 0; /* errors count as referenced: keep */
}

static int sweep(struct rb_image_store *s, const char *root, const char *sql, struct rb_error *err)
{
	static const char *const algos[] = {"sha256", "sha512"};

	for (size_t a = 0; a < RB_ARRAY_SIZE(algos); a++) {
		_cleanup_free_ char *dir = rb_path_join(root, algos[a]);
		_cleanup_closedir_ DIR *d = dir ? opendir(dir) : NULL;
		struct dirent *de;

		if (!d)
			continue;
		while ((de = readdir(d))) {
			char digest[RB_DIGEST_MAX];
			int r;

			if (de->d_name[0] == '.')
				continue;
			snprintf(digest, sizeof(digest), "%s:%.128s", algos[a], de->d_name);
			if (referenced(s, sql, digest))
				continue;
			r = rb_rm_rf_at(dirfd(d), de->d_name);
			if (r < 0)
				return rb_error_set(err, -r, RB_INTERNAL_ERROR, "remove %s/%s: %s",
						    dir, de->d_name, strerror(-r));
		}
	}
	return 0;
}

int rb_store_gc_locked(struct rb_image_store *s, struct rb_error *err)
{
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;
	DB_LOCK(s);

	if (sweep(s, s->layers_dir, "SELECT count(*) FROM image_layers WHERE diff_id=?", err) < 0)
		return -err->errnum;
	if (sweep(s, s->blobs_dir,
		  "SELECT (SELECT count(*) FROM image_layers WHERE blob_digest=?1) + "
		  "(SELECT count(*) FROM images WHERE id=?1 OR manifest_digest=?1)",
		  err) < 0)
		return -err->errnum;
	if (exec_sql(s,
		     "DELETE FROM layers WHERE diff_id NOT IN (SELECT diff_id FROM image_layers)",
		     err) < 0)
		return -err->errnum;
	/* no load is under way while the collection holds gc_lock: tmp/ is all leftovers */
	d = opendir(s->tmp_dir);
	while (d && (de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			rb_rm_rf_at(dirfd(d), de->d_name);
	return 0;
}

int rb_image_gc(struct rb_image_store *s, struct rb_error *err)
{
	int r;

	pthread_rwlock_wrlock(&s->gc_lock);
	r = rb_store_gc_locked(s, err);
	pthread_rwlock_unlock(&s->gc_lock);
	return r;
}
