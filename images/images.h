/*
 * The image store: loads OCI-archive and docker-archive tarballs into a content-addressed store
 * (blobs by digest, each layer unpacked once by diff_id, overlayfs-ready), keeps an SQLite index
 * of images, names and holders, and garbage-collects what nothing references.
 *
 * Layout under the store directory:
 *   images.db            the index (WAL)
 *   blobs/ALGO/HEX       verified blobs: layers as shipped, manifests, configs
 *   layers/ALGO/HEX      unpacked layers by diff_id, whiteouts in overlayfs's form
 *                        (ALGO is sha256, or sha512 for images that use it)
 *   tmp/                 work in progress; emptied at open
 *
 * All functions are safe to call from several threads at once.
 */
#ifndef RB_IMAGES_H
#define RB_IMAGES_H

#include <stdbool.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#include "common/error.h"

struct rb_image_limits {
	uint64_t max_layer_bytes;    /* bytes one unpacked layer may hold */
	uint64_t max_layer_entries;  /* entries one layer may hold */
	unsigned max_path_depth;     /* components in one entry's path */
	unsigned max_path_length;    /* bytes in one entry's path */
	uint64_t max_metadata_bytes; /* one index, manifest or config document */
	uint64_t max_archive_entries;
};
void rb_image_limits_default(struct rb_image_limits *limits);

struct rb_image_store;

int rb_image_store_open(const char *dir, const struct rb_image_limits *limits,
			struct rb_image_store **out, struct rb_error *err);
void rb_image_store_close(struct rb_image_store *store);

/* Progress of a load, for a progress line: phase is "reading", "layer" or "done". */
struct rb_image_progress {
	const char *phase;
	const char *layer; /* diff_id of the layer being unpacked, in phase "layer" */
	unsigned layer_index, layer_count;
	uint64_t done, total; /* bytes of the current layer's blob */
};
typedef void (*rb_image_progress_fn)(const struct rb_image_progress *p, void *userdata);

struct rb_image_load_opts {
	const char *path; /* the archive, read by the caller's process */
	const char *name; /* optional extra reference for the (single) image loaded */
	rb_image_progress_fn progress;
	void *progress_userdata;
};

/*
 * Load every image of the archive that fits this host (linux/<host arch>).
 * On success *loaded is a JSON array of the loaded images (as rb_image_inspect shows them).
 * On failure nothing of this load remains: no blob, layer or record.
 */
int rb_image_load(struct rb_image_store *store, const struct rb_image_load_opts *opts,
		  cJSON **loaded, struct rb_error *err);

/* JSON array of images, newest first. */
int rb_image_list(struct rb_image_store *store, cJSON **out, struct rb_error *err);
/* ref: a name ("busybox", "busybox:1.36", "docker.io/library/busybox:latest"), an id
 * ("sha256:HEX") or a unique id prefix of at least 4 hex digits. */
int rb_image_inspect(struct rb_image_store *store, const char *ref, cJSON **out,
		     struct rb_error *err);
/*
 * Remove a name (or, given an id, every name of it). When the image has no name left it is
 * deleted and its unreferenced blobs and layers are collected. An image held by a sandbox is
 * refused with RB_INVALID_STATE unless force. *out (optional) lists what was untagged/deleted.
 */
int rb_image_remove(struct rb_image_store *store, const char *ref, bool force, cJSON **out,
		    struct rb_error *err);
/* Delete blobs and layers no image references, and leftovers in tmp/. */
int rb_image_gc(struct rb_image_store *store, struct rb_error *err);

/* The built-in default image, made from a static busybox binary with no download. */
#define RB_DEFAULT_IMAGE   "runbox/default:latest"
#define RB_DEFAULT_BUSYBOX "/bin/busybox"
/* Make RB_DEFAULT_IMAGE from busybox (NULL: RB_DEFAULT_BUSYBOX) unless it is already there. */
int rb_image_ensure_default(struct rb_image_store *store, const char *busybox,
			    struct rb_error *err);

/* What a sandbox needs of an image, held against removal until released. */
struct rb_image {
	char id[140];	   /* sha256:HEX of the config */
	char **layer_dirs; /* absolute paths, lowest layer first */
	size_t n_layers;
	cJSON *config; /* the OCI image config's "config" object (Env, Cmd, ...) or NULL */
};
int rb_image_acquire(struct rb_image_store *store, const char *ref, const char *holder,
		     struct rb_image **out, struct rb_error *err);
int rb_image_release(struct rb_image_store *store, const char *holder, struct rb_error *err);
/* Every holder's name, *out NULL-terminated (free each and the array): a daemon that restarts
 * releases the ones no sandbox of its own stands for. */
int rb_image_holders(struct rb_image_store *store, char ***out, struct rb_error *err);
void rb_image_free(struct rb_image *img);

#endif
