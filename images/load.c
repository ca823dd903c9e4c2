/*
 * A load, start to end: scan the archive, plan, copy the blobs the store lacks (checked against
 * their digests), unpack the layers it lacks (checked against their diff_ids), then record it
 * all in one transaction. Everything is made under tmp/ and renamed into place, so a failed or
 * concurrent load never shows a half-made blob or layer; a failed load then collects whatever
 * it renamed in before the failure.
 */
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

struct load {
	struct rb_image_store *s;
	const struct rb_image_load_opts *opts;
	struct rb_image_progress prog;
	struct rb_error *err;
};

static void report(struct load *l, const char *phase)
{
	l->prog.phase = phase;
	if (l->opts->progress)
		l->opts->progress(&l->prog, l->opts->progress_userdata);
}

static void on_bytes(uint64_t done, void *ud)
{
	struct load *l = ud;

	l->prog.done = done;
	report(l, l->prog.phase);
}

static int algo_of(const char *digest, char algo[8])
{
	const char *colon = strchr(digest, ':');

	if (!colon || colon - digest >= 8)
		return -EINVAL;
	snprintf(algo, 8, "%.*s", (int)(colon - digest), digest);
	return 0;
}

static int blob_present(struct rb_image_store *s, const char *digest)
{
	char path[4096];
	struct stat st;

	return digest[0] && rb_digest_path(s->blobs_dir, digest, path, sizeof(path)) == 0 &&
	       stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Rename a finished temporary into the store; losing a race to an equal twin is success. */
static int publish(const char *tmp, const char *final, int is_dir, struct rb_error *err)
{
	if (rename(tmp, final) == 0)
		return 0;
	if (errno == EEXIST || errno == ENOTEMPTY || errno == EISDIR) {
		rb_rm_rf_at(AT_FDCWD, tmp);
		return 0;
	}
	return rb_error_sys(err, errno, RB_INTERNAL_ERROR, "rename %s to %s", tmp, final);
}

static int store_small_blob(struct rb_image_store *s, const char *digest, const char *data,
			    size_t len, struct rb_error *err)
{
	char path[4096], tmp[4096];
	int r;

	if (!digest[0] || blob_present(s, digest))
		return 0;
	rb_digest_path(s->blobs_dir, digest, path, sizeof(path));
	if (rb_store_tmpname(s, "doc", tmp, sizeof(tmp)) < 0)
		return rb_error_set(err, ENAMETOOLONG, RB_INTERNAL_ERROR, "tmp name");
	r = rb_write_file_atomic(tmp, data, len, 0644);
	if (r < 0)
		return rb_error_set(err, -r, RB_INTERNAL_ERROR, "write %s: %s", tmp, strerror(-r));
	return publish(tmp, path, 0, err);
}

/* Find the layers to fetch: a layer needs its blob when neither it nor its blob is stored. */
static int copy_missing_blobs(struct load *l, const char *path, struct rb_plan *plan,
			      const struct rb_archive_index *idx)
{
	struct rb_image_store *s = l->s;
	struct rb_archive_want *wants = NULL;
	struct rb_plan_layer **owners = NULL;
	char(*dests)[4096] = NULL;
	char(*algos)[8] = NULL;
	size_t n = 0, cap = 0;
	int r = 0;

	for (size_t i = 0; i < plan->n_images; i++) {
		for (size_t j = 0; j < plan->images[i].n_layers; j++) {
			struct rb_plan_layer *pl = &plan->images[i].layers[j];
			uint64_t size;
			int dup = 0;

			if (!pl->digest[0] && rb_store_has_layer(s, pl->diff_id) &&
			    rb_store_layer_blob(s, pl->diff_id, pl->digest, &size) == 0) {
				/* a docker layer already here: its blob is the one we kept */
				if (pl->size < 0)
					pl->size = (int64_t)size;
				if (blob_present(s, pl->digest))
					continue;
				pl->digest[0] = '\0';
			}
			if (blob_present(s, pl->digest))
				continue;
			/* a layer already unpacked still gets this blob of it stored, so that
			 * every blob an image names is in the store */
			uint64_t esize;
			if (!rb_archive_resolve(idx, pl->entry, &esize)) {
				r = rb_error_set(l->err, ENOENT, RB_INVALID_IMAGE,
						 "layer %s: blob %.200s is not in the archive",
						 pl->digest[0] ? pl->digest : pl->diff_id,
						 pl->entry);
				goto out;
			}
			if (pl->size >= 0 && esize != (uint64_t)pl->size) {
				r = rb_error_set(
				    l->err, EINVAL, RB_INVALID_IMAGE,
				    "layer %s: blob is %llu bytes, its descriptor says %lld",
				    pl->digest, (unsigned long long)esize, (long long)pl->size);
				goto out;
			}
			for (size_t k = 0; k < n; k++)
				if (!strcmp(wants[k].entry, pl->entry))
					dup = 1;
			if (dup)
				continue;
			if (n == cap) {
				cap = cap ? cap * 2 : 8;
				void *w = realloc(wants, cap * sizeof(*wants));
				void *o = w ? realloc(owners, cap * sizeof(*owners)) : NULL;
				void *d = o ? realloc(dests, cap * sizeof(*dests)) : NULL;
				void *a = d ? realloc(algos, cap * sizeof(*algos)) : NULL;

				if (w)
					wants = w;
				if (o)
					owners = o;
				if (d)
					dests = d;
				if (a)
					algos = a;
				if (!w || !o || !d || !a) {
					r = rb_error_set(l->err, ENOMEM, RB_INTERNAL_ERROR,
							 "out of memory");
					goto out;
				}
			}
			memset(&wants[n], 0, sizeof(wants[n]));
			if (rb_store_tmpname(s, "blob", dests[n], sizeof(dests[n])) < 0) {
				r = rb_error_set(l->err, ENAMETOOLONG, RB_INTERNAL_ERROR,
						 "tmp name");
				goto out;
			}
			wants[n].entry = pl->entry;
			wants[n].dest = dests[n];
			snprintf(algos[n], sizeof(algos[n]), "sha256");
			if (pl->digest[0])
				algo_of(pl->digest, algos[n]);
			wants[n].algo = algos[n];
			owners[n] = pl;
			n++;
		}
	}
	if (n == 0)
		goto out;
	l->prog.phase = "copying";
	r = rb_archive_extract(path, wants, n, on_bytes, l, l->err);
	if (r < 0)
		goto out;
	for (size_t k = 0; k < n; k++) {
		struct rb_plan_layer *pl = owners[k];
		char final[4096];

		if (pl->digest[0] && strcmp(wants[k].digest, pl->digest)) {
			r = rb_error_set(l->err, EINVAL, RB_INVALID_IMAGE,
					 "layer %s: content digest is %s", pl->digest,
					 wants[k].digest);
			goto out;
		}
		if (pl->size >= 0 && wants[k].size != (uint64_t)pl->size) {
			r = rb_error_set(l->err, EINVAL, RB_INVALID_IMAGE,
					 "layer %s: blob is %llu bytes, its descriptor says %lld",
					 pl->digest, (unsigned long long)wants[k].size,
					 (long long)pl->size);
			goto out;
		}
		snprintf(pl->digest, RB_DIGEST_MAX, "%s", wants[k].digest);
		pl->size = (int64_t)wants[k].size;
		rb_digest_path(s->blobs_dir, pl->digest, final, sizeof(final));
		r = publish(dests[k], final, 0, l->err);
		if (r < 0)
			goto out;
	}
	/* every layer naming the same entry shares what was copied */
	for (size_t i = 0; i < plan->n_images; i++)
		for (size_t j = 0; j < plan->images[i].n_layers; j++) {
			struct rb_plan_layer *pl = &plan->images[i].layers[j];

			for (size_t k = 0; k < n && !pl->digest[0]; k++)
				if (!strcmp(owners[k]->entry, pl->entry)) {
					snprintf(pl->digest, RB_DIGEST_MAX, "%s",
						 owners[k]->digest);
					pl->size = owners[k]->size;
				}
		}
out:
	free(wants);
	free(algos);
	free(owners);
	free(dests);
	return r;
}

static int unpack_missing_layers(struct load *l, struct rb_plan *plan)
{
	struct rb_image_store *s = l->s;
	unsigned count = 0, index = 0;

	for (size_t i = 0; i < plan->n_images; i++)
		for (size_t j = 0; j < plan->images[i].n_layers; j++)
			count += !rb_store_has_layer(s, plan->images[i].layers[j].diff_id);
	l->prog.layer_count = count;
	for (size_t i = 0; i < plan->n_images; i++) {
		for (size_t j = 0; j < plan->images[i].n_layers; j++) {
			struct rb_plan_layer *pl = &plan->images[i].layers[j];
			struct rb_unpack_result res;
			char blob[4096], tmp[4096], final[4096];
			struct stat st;
			int r;

			if (rb_store_has_layer(s, pl->diff_id))
				continue;
			rb_digest_path(s->blobs_dir, pl->digest, blob, sizeof(blob));
			rb_digest_path(s->layers_dir, pl->diff_id, final, sizeof(final));
			if (rb_store_tmpname(s, "layer", tmp, sizeof(tmp)) < 0 ||
			    mkdir(tmp, 0755) < 0)
				return rb_error_sys(l->err, errno, RB_INTERNAL_ERROR,
						    "make a directory in %s", s->tmp_dir);
			l->prog.layer = pl->diff_id;
			l->prog.layer_index = ++index;
			l->prog.done = 0;
			l->prog.total = stat(blob, &st) == 0 ? (uint64_t)st.st_size : 0;
			report(l, "layer");
			r = rb_layer_unpack(blob, tmp, &s->limits, on_bytes, l, &res, l->err);
			if (r == 0 && strcmp(res.diff_id, pl->diff_id))
				r = rb_error_set(l->err, EINVAL, RB_INVALID_IMAGE,
						 "uncompressed content digest is %s, the config's "
						 "diff_id says %s",
						 res.diff_id, pl->diff_id);
			if (r < 0) {
				rb_rm_rf_at(AT_FDCWD, tmp);
				return rb_error_wrap(l->err, "layer %s", pl->digest);
			}
			r = rb_store_note_layer(s, pl->diff_id, pl->digest, (uint64_t)pl->size,
						res.bytes, res.entries, l->err);
			if (r == 0)
				r = publish(tmp, final, 1, l->err);
			if (r < 0) {
				rb_rm_rf_at(AT_FDCWD, tmp);
				return r;
			}
		}
	}
	return 0;
}

static int load_locked(struct load *l, cJSON **loaded)
{
	struct rb_image_store *s = l->s;
	const char *path = l->opts->path;
	struct rb_archive_index idx;
	struct rb_plan plan;
	int r;

	report(l, "reading");
	r = rb_archive_scan(path, &s->limits, &idx, l->err);
	if (r < 0) {
		rb_archive_index_free(&idx);
		return r;
	}
	r = rb_plan_build(&idx, &s->limits, &plan, l->err);
	if (r == 0 && l->opts->name) {
		char norm[512];

		if (plan.n_images != 1)
			r = rb_error_set(l->err, EINVAL, RB_INVALID_CONFIG,
					 "a name was given but the archive holds %zu images",
					 plan.n_images);
		else if ((r = rb_ref_normalize(l->opts->name, norm, sizeof(norm), l->err)) == 0) {
			struct rb_plan_image *img = &plan.images[0];
			char **names = realloc(img->names, (img->n_names + 1) * sizeof(*names));

			if (!names || !(names[img->n_names] = strdup(norm)))
				r = rb_error_set(l->err, ENOMEM, RB_INTERNAL_ERROR,
						 "out of memory");
			if (names)
				img->names = names;
			if (r == 0)
				img->n_names++;
		}
	}
	if (r == 0)
		r = copy_missing_blobs(l, path, &plan, &idx);
	if (r == 0)
		r = unpack_missing_layers(l, &plan);
	for (size_t i = 0; r == 0 && i < plan.n_images; i++) {
		struct rb_plan_image *img = &plan.images[i];

		r = store_small_blob(s, img->config_digest, img->config_json,
				     strlen(img->config_json), l->err);
		if (r == 0 && img->manifest_json)
			r = store_small_blob(s, img->manifest_digest, img->manifest_json,
					     strlen(img->manifest_json), l->err);
	}
	if (r == 0)
		r = rb_store_record(s, &plan, loaded, l->err);
	if (r == 0)
		report(l, "done");
	rb_plan_free(&plan);
	rb_archive_index_free(&idx);
	return r;
}

int rb_image_load(struct rb_image_store *s, const struct rb_image_load_opts *opts, cJSON **loaded,
		  struct rb_error *err)
{
	struct load l = {.s = s, .opts = opts, .err = err};
	int r;

	if (!opts->path || !*opts->path)
		return rb_error_set(err, EINVAL, RB_INVALID_CONFIG, "no archive path given");
	pthread_rwlock_rdlock(&s->gc_lock);
	r = load_locked(&l, loaded);
	pthread_rwlock_unlock(&s->gc_lock);
	if (r < 0) {
		/* leave nothing of this load: collect what it renamed in before failing */
		struct rb_error ignored;

		rb_image_gc(s, &ignored);
		rb_error_wrap(err, "%s", opts->path);
	}
	return r;
}
