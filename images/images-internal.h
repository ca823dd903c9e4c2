/* Shared between the image store's own files; nothing outside images/ includes this. */
#ifndef RB_IMAGES_INTERNAL_H
#define RB_IMAGES_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>

#include "images.h"

/* ---- digests (digest.c) ---- */
#define RB_DIGEST_MAX 140 /* "sha512:" + 128 hex + NUL, with room */

struct rb_hasher {
	EVP_MD_CTX *ctx;
	char algo[8];
};

/* Check "algo:hex" (sha256 or sha512, lowercase hex of the right length). */
int rb_digest_validate(const char *digest, struct rb_error *err);
/* The path of a digest below a root: ROOT/algo/hex. */
int rb_digest_path(const char *root, const char *digest, char *buf, size_t len);
int rb_hasher_init(struct rb_hasher *h, const char *algo);
void rb_hasher_update(struct rb_hasher *h, const void *data, size_t len);
/* Finish into "algo:hex"; the hasher is freed. */
void rb_hasher_final(struct rb_hasher *h, char out[RB_DIGEST_MAX]);
void rb_hasher_free(struct rb_hasher *h);
/* "algo:hex" of a whole buffer. */
void rb_digest_buffer(const char *algo, const void *data, size_t len, char out[RB_DIGEST_MAX]);

/* ---- references (ref.c) ---- */
/* Normalise a name: "busybox" -> "busybox:latest", "docker.io/library/x:t" -> "x:t".
 * Returns 0, or -EINVAL with err naming what is wrong. */
int rb_ref_normalize(const char *in, char *out, size_t len, struct rb_error *err);
/* Looks like an id or id prefix: "sha256:HEX..." or 4..64 lowercase hex digits. */
int rb_ref_is_id(const char *ref);

/* ---- the outer archive (archive.c) ---- */
struct rb_archive_doc {
	char *name; /* entry path, normalised (no "./") */
	char *data; /* the whole entry, NUL-terminated */
	size_t len;
};

struct rb_archive_index {
	struct rb_archive_doc *docs; /* small entries that look like JSON, and oci-layout */
	size_t n_docs;
	char **names; /* every regular entry's path, and symlinks between entries */
	char **links; /* for a symlink entry, the normalised path it points at; else NULL */
	uint64_t *sizes;
	size_t n_names;
};

int rb_archive_scan(const char *path, const struct rb_image_limits *limits,
		    struct rb_archive_index *idx, struct rb_error *err);
void rb_archive_index_free(struct rb_archive_index *idx);
const struct rb_archive_doc *rb_archive_doc_find(const struct rb_archive_index *idx,
						 const char *name);
/* The regular entry a name stands for, following symlinks between entries; NULL if none. */
const char *rb_archive_resolve(const struct rb_archive_index *idx, const char *name,
			       uint64_t *size);

/* One wanted entry for rb_archive_extract: copied to dest while hashed with algo. */
struct rb_archive_want {
	const char *entry;
	const char *dest; /* a file path to create */
	const char *algo;
	char digest[RB_DIGEST_MAX]; /* out */
	uint64_t size;		    /* out */
	int found;		    /* out */
};
typedef void (*rb_archive_copy_progress)(uint64_t done, void *ud);
int rb_archive_extract(const char *path, struct rb_archive_want *wants, size_t n_wants,
		       rb_archive_copy_progress progress, void *ud, struct rb_error *err);

/* ---- the plan of a load (manifest.c) ---- */
struct rb_plan_layer {
	char digest[RB_DIGEST_MAX];  /* blob digest; empty for docker layers until copied */
	char diff_id[RB_DIGEST_MAX]; /* from the config */
	char *entry;		     /* archive entry holding the blob */
	char *media_type;
	int64_t size; /* descriptor size, -1 if unknown */
};

struct rb_plan_image {
	char config_digest[RB_DIGEST_MAX]; /* the image id */
	char manifest_digest[RB_DIGEST_MAX];
	char *config_json;
	char *manifest_json; /* NULL for docker-archive */
	char **names;
	size_t n_names;
	struct rb_plan_layer *layers;
	size_t n_layers;
};

struct rb_plan {
	struct rb_plan_image *images;
	size_t n_images;
	int skipped_platforms; /* manifests for other platforms, left alone */
};

int rb_plan_build(const struct rb_archive_index *idx, const struct rb_image_limits *limits,
		  struct rb_plan *plan, struct rb_error *err);
void rb_plan_free(struct rb_plan *plan);
const char *rb_host_arch(void);

/* ---- safe layer unpacking (unpack.c) ---- */
struct rb_unpack_result {
	char diff_id[RB_DIGEST_MAX];
	uint64_t bytes;
	uint64_t entries;
};
/* Unpack the layer blob at blob_path into dest_dir (an empty directory). */
int rb_layer_unpack(const char *blob_path, const char *dest_dir,
		    const struct rb_image_limits *limits, rb_archive_copy_progress progress,
		    void *ud, struct rb_unpack_result *res, struct rb_error *err);

/* ---- the store (store.c) ---- */
struct rb_image_store {
	char *dir;
	char *blobs_dir;  /* DIR/blobs */
	char *layers_dir; /* DIR/layers */
	char *tmp_dir;	  /* DIR/tmp */
	struct rb_image_limits limits;
	sqlite3 *db;
	pthread_mutex_t db_lock;
	/* loads share it; collection takes it alone so it never removes what a load just made */
	pthread_rwlock_t gc_lock;
};

int rb_store_tmpname(struct rb_image_store *s, const char *prefix, char *buf, size_t len);
int rb_store_record(struct rb_image_store *s, const struct rb_plan *plan, cJSON **loaded,
		    struct rb_error *err);
int rb_store_gc_locked(struct rb_image_store *s, struct rb_error *err);
int rb_store_has_layer(struct rb_image_store *s, const char *diff_id);
int rb_store_note_layer(struct rb_image_store *s, const char *diff_id, const char *blob_digest,
			uint64_t blob_size, uint64_t unpacked, uint64_t entries,
			struct rb_error *err);
/* The blob a present layer was unpacked from (docker archives name layers by path). */
int rb_store_layer_blob(struct rb_image_store *s, const char *diff_id, char digest[RB_DIGEST_MAX],
			uint64_t *size);
int rb_store_image_json(struct rb_image_store *s, const char *id, cJSON **out,
			struct rb_error *err);

#endif
