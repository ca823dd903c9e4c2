/* From the documents of an archive to a plan: which images, which layers, which names.
 * Every document is checked against the descriptor that named it (digest, size, media type)
 * before it is believed; an index and a manifest can never stand in for each other. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "common/cleanup.h"
#include "images-internal.h"

#define MT_OCI_INDEX	   "application/vnd.oci.image.index.v1+json"
#define MT_OCI_MANIFEST	   "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_CONFIG	   "application/vnd.oci.image.config.v1+json"
#define MT_DOCKER_LIST	   "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_CONFIG   "application/vnd.docker.container.image.v1+json"
#define MAX_NESTING	   4

static const char *const layer_types[] = {
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
};

const char *rb_host_arch(void)
{
	static const struct {
		const char *uname, *oci;
	} map[] = {
	    {"x86_64", "amd64"},    {"aarch64", "arm64"}, {"i686", "386"},
	    {"i386", "386"},	    {"armv7l", "arm"},	  {"armv6l", "arm"},
	    {"ppc64le", "ppc64le"}, {"s390x", "s390x"},	  {"riscv64", "riscv64"},
	};
	static char arch[72];
	struct utsname u;

	if (arch[0])
		return arch;
	if (uname(&u) == 0)
		for (size_t i = 0; i < RB_ARRAY_SIZE(map); i++)
			if (!strcmp(u.machine, map[i].uname)) {
				snprintf(arch, sizeof(arch), "%s", map[i].oci);
				return arch;
			}
	snprintf(arch, sizeof(arch), "%s", uname(&u) == 0 ? u.machine : "unknown");
	return arch;
}

static void jsonp_free(cJSON **j)
{
	if (*j)
		cJSON_Delete(*j);
}
#define _cleanup_json_ _cleanup_(jsonp_free)

static const char *jstr(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

struct desc {
	const char *media_type;
	const char *digest;
	int64_t size;
	const cJSON *annotations;
	const cJSON *platform;
};

static int parse_desc(const cJSON *j, const char *what, struct desc *d, struct rb_error *err)
{
	const cJSON *size = cJSON_GetObjectItemCaseSensitive(j, "size");

	memset(d, 0, sizeof(*d));
	if (!cJSON_IsObject(j))
		return rb_error_set(err, EINVAL, RB_INVALID_IMAGE,
				    "%s: descriptor is not an object", what);
	d->media_type = jstr(j, "mediaType");
	d->digest = jstr(j, "digest");
	if (!d->digest)
		return rb_error_set(err, EINVAL, RB_INVALID_IMAGE, "%s: descriptor has no digest",
				    what);
	if (rb_digest_validate(d->digest, err) < 0)
		return rb_error_wrap(err, "%s", what);
	if (!cJSON_IsNumber(size) || size->valuedouble < 0 || size->valuedouble > 9.0e15 ||
	    size->valuedouble != (double)(int64_t)size->valuedouble)
		return rb_error_set(err, EINVAL, RB_INVALID_IMAGE,
				    "%s %s: descriptor size is missing or not a whole number", what,
				    d->digest);
	d->size = (int64_t)size->valuedouble;
	d->annotations = cJSON_GetObjectItemCaseSensitive(j, "annotations");
	d->platform = cJSON_GetObjectItemCaseSensitive(j, "platform");
	return 0;
}

static int blob_entry(const struct desc *d, char *buf, size_t len)
{
	return rb_digest_path("blobs", d->digest, buf, len);
}

/* The document a descriptor names, checked against its digest and size. */
static int fetch_doc(const struct rb_archive_index *idx, const struct desc *d, const char *what,
		     const struct rb_archive_doc **out, struct rb_error *err)
{
	char entry[256], got[RB_DIGEST_MAX], algo[8];
	const struct rb_archive_doc *doc;
	uint64_t size;

	blob_entry(d, entry, sizeof(entry));
	if (!rb_archive_resolve(idx, entry, &size))
		return rb_error_set(err, ENOENT, RB_INVALID_IMAGE,
				    "%s %s: blob %s is not in the archive", what, d->digest, entry);
	doc = rb_archive_doc_find(idx, entry);
	if (!doc)
		return rb_error_set(err, EINVAL, RB_INVALID_IMAGE,
				    "%s %s: not a JSON document of at most %s bytes", what,
				    d->digest, "the metadata limit's");
	if ((int64_t)doc->len != d->size)
		return rb_error_set(err, EINVAL, RB_INVALID_IMAGE,
				    "%s %s: size %zu does not match the descriptor's %lld", what,
				    d->digest, doc->len, (long long)d->size);
	snprintf(algo, sizeof(algo), "%.*s", (int)(strchr(d->digest, ':') - d->digest), d->digest);
	rb_digest_buffer(algo, doc->data, doc->len, got);
	if (strcmp(got, d->digest))
		return rb_error_set(err, EINVAL, RB_INVALID_IMAGE, "%s %s: content digest is %s",
				    what, d->digest, got);
	*out = doc;
	return 0;
}

static int add_name(struct rb_plan_image *img, const char *raw)
{
	char norm[512];
	struct rb_error ignored;

	if (rb_ref_normalize(raw, norm, sizeof(norm), &ignored) < 0)
		return 0; /* a tag-only or odd name in an archive is not worth refusing the image */
	for (size_t i = 0; i < img->n_names; i++)
		if (!strcmp(img->names[i], norm))
			return 0;
	char **names = realloc(img->names, (img->n_names + 1) * sizeof(*names));
	if (!names)
		return -ENOMEM;
	img->names = names;
	names[img->n_names] = strdup(norm);
	if (!names[img->n_names])
		return -ENOMEM;
	img->n_names++;
	return 0;
}

static int add_names_from(struct rb_plan_image *img, const cJSON *annotations)
{
	const char *full = jstr(annotations, "io.containerd.image.name");
	const char *ref = jstr(annotations, "org.opencontainers.image.ref.name");

	if (full)
		return add_name(img, full);
	/* ref.name is often a bare tag ("latest"), which names no repository: keep full refs */
	if (ref && (strchr(ref, ':') || strchr(ref, '/')))
		return add_name(img, ref);
	return 0;
}

static struct rb_plan_image *plan_image_for(struct rb_plan *plan, const char *config_digest,
					    int *fresh)
{
	struct rb_plan_image *imgs;

	for (size_t i = 0; i < plan->n_images; i++)
		if (!strcmp(plan->images[i].config_digest, config_digest)) {
			*fresh = 0;
			return &plan->images[i];
		}
	imgs = realloc(plan->images, (plan->n_images + 1) * sizeof(*imgs));
	if (!imgs)
		return NULL;
	plan->images = imgs;
	memset(&imgs[plan->n_images], 0, sizeof(*imgs));
	snprintf(imgs[plan->n_images].config_digest, RB_DIGEST_MAX, "%s", config_digest);
	*fresh = 1;
	return &imgs[plan->n_images++];
}

static int is_layer_type(const char *mt)
{
	for (size_t i = 0; i < RB_ARRAY_SIZE(layer_types); i++)
		if (!strcmp(mt, layer_types[i]))
			return 1;
	return 0;
}

/* The config's rootfs.diff_ids, checked for shape and count. */
static int config_diff_ids(const char *config_json, const char *id, size_t n_layers,
			   cJSON **config_out, const cJSON **ids_out, struct rb_error *err)
{
	_cleanup_json_ cJSON *config = cJSON_Parse(config_json);
	const cJSON *rootfs, *ids, *it;

	if (!cJSON_IsObject(config))
		return rb_error_set(err, EINVAL, RB_INVALID_IMAGE, "config %s is not a JSON object",
				    id);
	rootfs = cJSON_GetObjectItemCaseSensitive(config, "rootfs");
	ids = cJSON_GetObjectItemCaseSensitive(rootfs, "diff_ids");
	if (!cJSON_IsArray(ids))
		return rb_error_set(err, EINVAL, RB_INVALID_IMAGE,
				    "config %s has no rootfs.diff_ids", id);
	if ((size_t)cJSON_GetArraySize(ids) != n_layers)
		return rb_error_set(err, EINVAL, RB_INVALID_IMAGE,
				    "config %s lists %d diff_ids for %zu layers", id,
				    cJSON_GetArraySize(ids), n_layers);
	cJSON_ArrayForEach(it, ids)
	{
		if (!cJSON_IsString(it))
			return rb_error_set(err, EINVAL, RB_INVALID_IMAGE,
					    "config %s: a diff_id is not a string", id);
		if (rb_digest_validate(it->valuestring, err) < 0)
			return rb_error_wrap(err, "config %s: diff_id", id);
	}
	*ids_out = ids;
	*config_out = TAKE_PTR(config);
	return 0;
}

static int oci_manifest(struct rb_plan *plan, const struct rb_archive_index *idx,
			const struct desc *md, const struct rb_archive_doc *doc, const cJSON *names,
			struct rb_error *err)
{
	_cleanup_json_ cJSON *m = cJSON_Parse(doc->data);
	_cleanup_json_ cJSON *config = NULL;
	const cJSON *layers, *cfg, *ids, *l;
	const struct rb_archive_doc *cdoc;
	struct rb_plan_image *img;
	struct desc cd;
	size_t n, i = 0;
	int fresh;

	if (!cJSON_IsObject(m))
		return rb_error_set(err, EINVAL, RB_INVALID_IMAGE,
				    "manifest %s is not a JSON object", md->digest);
	if (cJSON_GetObjectItemCaseSensitive(m, "manifests"))
		return rb_error_set(err, EINVAL, RB_INVALID_IMAGE,
				    "manifest %s has \"manifests\": an index posing as a manifest",
				    md->digest);
	cfg = cJSON_GetObjectItemCaseSensitive(m, "config");
	layers = cJSON_GetObjectItemCaseSensitive(m, "layers");
	if (!cfg || !cJSON_IsArray(layers))
		return rb_error_set(err, EINVAL, RB_INVALID_IMAGE,
				    "manifest %s lacks \"config\" or \"layers\"", md->digest);
	if (parse_desc(cfg, "config", &cd, err) < 0)
		return rb_error_wrap(err, "manifest %s", md->digest);
	if (cd.media_type && strcmp(cd.media_type, MT_OCI_CONFIG) &&
	    strcmp(cd.media_type, MT_DOCKER_CONFIG))
		return rb_error_set(err, EINVAL, RB_INVALID_IMAGE,
				    "manifest %s: config media type %s is not an image config",
				    md->digest, cd.media_type);
	if (fetch_doc(idx, &cd, "config", &cdoc, err) < 0)
		return rb_error_wrap(err, "manifest %s", md->digest);
	n = (size_t)cJSON_GetArraySize(layers);
	if (config_diff_ids(cdoc->data, cd.digest, n, &config, &ids, err) < 0)
		return -err->errnum;

	img = plan_image_for(plan, cd.digest, &fresh);
	if (!img)
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	if (add_names_from(img, names) < 0 || add_names_from(img, md->annotations) < 0)
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	if (!fresh)
		return 0;
	snprintf(img->manifest_digest, RB_DIGEST_MAX, "%s", md->digest);
	img->config_json = strdup(cdoc->data);
	img->manifest_json = strdup(doc->data);
	img->layers = calloc(n ? n : 1, sizeof(*img->layers));
	if (!img->config_json || !img->manifest_json || !img->layers)
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	cJSON_ArrayForEach(l, layers)
	{
		struct rb_plan_layer *pl = &img->layers[i];
		struct desc ld;
		char entry[256];

		if (parse_desc(l, "layer", &ld, err) < 0)
			return rb_error_wrap(err, "manifest %s", md->digest);
		if (!ld.media_type || !is_layer_type(ld.media_type))
			return rb_error_set(
			    err, ENOTSUP, RB_INVALID_IMAGE,
			    "layer %s: media type %s is not a layer runbox can unpack", ld.digest,
			    ld.media_type ? ld.media_type : "(none)");
		blob_entry(&ld, entry, sizeof(entry));
		snprintf(pl->digest, RB_DIGEST_MAX, "%s", ld.digest);
		snprintf(pl->diff_id, RB_DIGEST_MAX, "%s",
			 cJSON_GetArrayItem(ids, (int)i)->valuestring);
		pl->entry = strdup(entry);
		pl->media_type = strdup(ld.media_type);
		pl->size = ld.size;
		img->n_layers = ++i;
		if (!pl->entry || !pl->media_type)
			return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	}
	return 0;
}

static int platform_matches(const cJSON *platform)
{
	const char *os = jstr(platform, "os"), *arch = jstr(platform, "architecture");

	if (!platform)
		return 1;
	return (!os || !strcmp(os, "linux")) && (!arch || !strcmp(arch, rb_host_arch()));
}

static int oci_descend(struct rb_plan *plan, const struct rb_archive_index *idx, const cJSON *j,
		       const cJSON *names, int depth, struct rb_error *err);

static int oci_desc(struct rb_plan *plan, const struct rb_archive_index *idx, const cJSON *dj,
		    const cJSON *names, int depth, struct rb_error *err)
{
	const struct rb_archive_doc *doc;
	_cleanup_json_ cJSON *j = NULL;
	const char *declared;
	struct desc d;
	int is_index;

	if (parse_desc(dj, "manifest", &d, err) < 0)
		return -err->errnum;
	if (!platform_matches(d.platform)) {
		plan->skipped_platforms++;
		return 0;
	}
	if (!d.media_type)
		return rb_error_set(err, EINVAL, RB_INVALID_IMAGE, "manifest %s: no media type",
				    d.digest);
	if (!strcmp(d.media_type, MT_OCI_INDEX) || !strcmp(d.media_type, MT_DOCKER_LIST))
		is_index = 1;
	else if (!strcmp(d.media_type, MT_OCI_MANIFEST) ||
		 !strcmp(d.media_type, MT_DOCKER_MANIFEST))
		is_index = 0;
	else
		return rb_error_set(err, ENOTSUP, RB_INVALID_IMAGE,
				    "manifest %s: media type %s is neither an image manifest nor "
				    "an index",
				    d.digest, d.media_type);
	if (fetch_doc(idx, &d, is_index ? "index" : "manifest", &doc, err) < 0)
		return -err->errnum;
	j = cJSON_Parse(doc->data);
	declared = jstr(j, "mediaType");
	if (declared && strcmp(declared, d.media_type))
		return rb_error_set(err, EINVAL, RB_INVALID_IMAGE,
				    "manifest %s: says it is %s but its descriptor says %s",
				    d.digest, declared, d.media_type);
	if (!is_index)
		return oci_manifest(plan, idx, &d, doc, names ? names : d.annotations, err);
	if (depth >= MAX_NESTING)
		return rb_error_set(err, ELOOP, RB_INVALID_IMAGE,
				    "index %s: indexes nested more than %d deep", d.digest,
				    MAX_NESTING);
	return oci_descend(plan, idx, j, names ? names : d.annotations, depth + 1, err);
}

static int oci_descend(struct rb_plan *plan, const struct rb_archive_index *idx, const cJSON *j,
		       const cJSON *names, int depth, struct rb_error *err)
{
	const cJSON *list, *it;

	if (!cJSON_IsObject(j))
		return rb_error_set(err, EINVAL, RB_INVALID_IMAGE, "an index is not a JSON object");
	if (cJSON_GetObjectItemCaseSensitive(j, "layers") ||
	    cJSON_GetObjectItemCaseSensitive(j, "config"))
		return rb_error_set(
		    err, EINVAL, RB_INVALID_IMAGE,
		    "an index has \"layers\" or \"config\": a manifest posing as an "
		    "index");
	list = cJSON_GetObjectItemCaseSensitive(j, "manifests");
	if (!cJSON_IsArray(list))
		return rb_error_set(err, EINVAL, RB_INVALID_IMAGE, "an index has no \"manifests\"");
	cJSON_ArrayForEach(it, list)
	{
		if (oci_desc(plan, idx, it, names, depth, err) < 0)
			return -err->errnum;
	}
	return 0;
}

static int plan_oci(struct rb_plan *plan, const struct rb_archive_index *idx,
		    const struct rb_archive_doc *index, struct rb_error *err)
{
	const struct rb_archive_doc *layout = rb_archive_doc_find(idx, "oci-layout");
	_cleanup_json_ cJSON *j = cJSON_Parse(index->data);

	if (layout) {
		_cleanup_json_ cJSON *l = cJSON_Parse(layout->data);
		const char *v = jstr(l, "imageLayoutVersion");

		if (!v || strncmp(v, "1.", 2))
			return rb_error_set(err, ENOTSUP, RB_INVALID_IMAGE,
					    "oci-layout: imageLayoutVersion %s is not 1.x",
					    v ? v : "(missing)");
	}
	if (!j)
		return rb_error_set(err, EINVAL, RB_INVALID_IMAGE, "index.json is not valid JSON");
	if (oci_descend(plan, idx, j, NULL, 0, err) < 0)
		return rb_error_wrap(err, "index.json");
	return 0;
}

static int plan_docker(struct rb_plan *plan, const struct rb_archive_index *idx,
		       const struct rb_archive_doc *manifest, struct rb_error *err)
{
	_cleanup_json_ cJSON *j = cJSON_Parse(manifest->data);
	const cJSON *item;

	if (!cJSON_IsArray(j))
		return rb_error_set(err, EINVAL, RB_INVALID_IMAGE,
				    "manifest.json is not a JSON array of images");
	cJSON_ArrayForEach(item, j)
	{
		const char *config_name = jstr(item, "Config");
		const cJSON *layers = cJSON_GetObjectItemCaseSensitive(item, "Layers");
		const cJSON *tags = cJSON_GetObjectItemCaseSensitive(item, "RepoTags"), *t, *l;
		_cleanup_json_ cJSON *config = NULL;
		const struct rb_archive_doc *cdoc;
		char id[RB_DIGEST_MAX];
		const cJSON *ids;
		struct rb_plan_image *img;
		size_t n, i = 0;
		int fresh;

		if (!config_name || !cJSON_IsArray(layers))
			return rb_error_set(err, EINVAL, RB_INVALID_IMAGE,
					    "manifest.json: an image lacks Config or Layers");
		cdoc = rb_archive_doc_find(idx, config_name);
		if (!cdoc)
			return rb_error_set(err, ENOENT, RB_INVALID_IMAGE,
					    "manifest.json: config %.200s is not in the archive",
					    config_name);
		rb_digest_buffer("sha256", cdoc->data, cdoc->len, id);
		{
			/* a config named by its digest ("HEX.json", "blobs/sha256/HEX") must match
			 */
			const char *base = strrchr(config_name, '/');
			size_t bl;

			base = base ? base + 1 : config_name;
			bl = strcspn(base, ".");
			if (bl == 64 && strspn(base, "0123456789abcdef") == 64 &&
			    strncmp(base, id + 7, 64))
				return rb_error_set(err, EINVAL, RB_INVALID_IMAGE,
						    "config %.200s: content digest is %s",
						    config_name, id);
		}
		n = (size_t)cJSON_GetArraySize(layers);
		if (config_diff_ids(cdoc->data, id, n, &config, &ids, err) < 0)
			return -err->errnum;
		img = plan_image_for(plan, id, &fresh);
		if (!img)
			return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
		cJSON_ArrayForEach(t, tags)
		{
			if (cJSON_IsString(t) && add_name(img, t->valuestring) < 0)
				return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR,
						    "out of memory");
		}
		if (!fresh)
			continue;
		img->config_json = strdup(cdoc->data);
		img->layers = calloc(n ? n : 1, sizeof(*img->layers));
		if (!img->config_json || !img->layers)
			return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
		cJSON_ArrayForEach(l, layers)
		{
			struct rb_plan_layer *pl = &img->layers[i];
			const char *real;
			uint64_t size;

			if (!cJSON_IsString(l))
				return rb_error_set(err, EINVAL, RB_INVALID_IMAGE,
						    "manifest.json: a layer path is not a string");
			real = rb_archive_resolve(idx, l->valuestring, &size);
			snprintf(pl->diff_id, RB_DIGEST_MAX, "%s",
				 cJSON_GetArrayItem(ids, (int)i)->valuestring);
			pl->entry = real ? strdup(real) : strdup(l->valuestring);
			pl->size = real ? (int64_t)size : -1;
			img->n_layers = ++i;
			if (!pl->entry)
				return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR,
						    "out of memory");
		}
	}
	return 0;
}

int rb_plan_build(const struct rb_archive_index *idx, const struct rb_image_limits *limits,
		  struct rb_plan *plan, struct rb_error *err)
{
	const struct rb_archive_doc *index = rb_archive_doc_find(idx, "index.json");
	const struct rb_archive_doc *manifest = rb_archive_doc_find(idx, "manifest.json");
	int r;

	memset(plan, 0, sizeof(*plan));
	if (index)
		r = plan_oci(plan, idx, index, err);
	else if (manifest)
		r = plan_docker(plan, idx, manifest, err);
	else
		r = rb_error_set(err, EINVAL, RB_INVALID_IMAGE,
				 "neither an OCI archive (no index.json) nor a Docker archive "
				 "(no manifest.json)");
	if (r < 0)
		return r;
	if (plan->n_images == 0)
		return rb_error_set(err, ENOENT, RB_INVALID_IMAGE,
				    plan->skipped_platforms ? "no image for linux/%s in the archive"
							    : "the archive holds no image%.0s",
				    rb_host_arch());
	return 0;
}

void rb_plan_free(struct rb_plan *plan)
{
	for (size_t i = 0; i < plan->n_images; i++) {
		struct rb_plan_image *img = &plan->images[i];

		for (size_t j = 0; j < img->n_layers; j++) {
			free(img->layers[j].entry);
			free(img->layers[j].media_type);
		}
		for (size_t j = 0; j < img->n_names; j++)
			free(img->names[j]);
		free(img->layers);
		free(img->names);
		free(img->config_json);
		free(img->manifest_json);
	}
	free(plan->images);
	memset(plan, 0, sizeof(*plan));
}
