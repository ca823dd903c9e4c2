/* Helpers for the C test suites: temporary directories, tar archives built in code (layers and
 * whole OCI archives with correct digests), so each hostile case breaks exactly one thing. */
#ifndef RB_TESTUTIL_H
#define RB_TESTUTIL_H

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/evp.h>

#include "common/fsutil.h"

struct tentry {
	const char *name;
	char type; /* f file, d dir, l symlink, h hardlink, c char dev, b block dev, p fifo */
	const char *data; /* file content, or link target */
	mode_t mode;
	const char *xattr; /* "name=value" or NULL */
	long long size;	   /* declared size override for files (-1: strlen(data)) */
};

struct tbuf {
	char *data;
	size_t len, cap;
};

static la_ssize_t tbuf_write(struct archive *a, void *ud, const void *buf, size_t len)
{
	struct tbuf *b = ud;

	(void)a;
	if (b->len + len > b->cap) {
		b->cap = (b->len + len) * 2;
		b->data = realloc(b->data, b->cap);
	}
	memcpy(b->data + b->len, buf, len);
	b->len += len;
	return (la_ssize_t)len;
}

/* A tar of the entries, compressed with filter ("gzip", "zstd" or NULL). */
static inline struct tbuf t_tar(const struct tentry *e, size_t n, const char *filter)
{
	struct tbuf b = {0};
	struct archive *a = archive_write_new();

	archive_write_set_format_pax(a);
	archive_write_set_bytes_in_last_block(a, 1);
	if (filter && !strcmp(filter, "gzip"))
		archive_write_add_filter_gzip(a);
	if (filter && !strcmp(filter, "zstd"))
		archive_write_add_filter_zstd(a);
	archive_write_open(a, &b, NULL, tbuf_write, NULL);
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *ae = archive_entry_new();
		size_t dlen = e[i].data ? strlen(e[i].data) : 0;

		archive_entry_set_pathname(ae, e[i].name);
		archive_entry_set_mtime(ae, 1000000000, 0);
		switch (e[i].type) {
		case 'd':
			archive_entry_set_filetype(ae, AE_IFDIR);
			archive_entry_set_perm(ae, e[i].mode ? e[i].mode : 0755);
			break;
		case 'l':
			archive_entry_set_filetype(ae, AE_IFLNK);
			archive_entry_set_symlink(ae, e[i].data);
			archive_entry_set_perm(ae, 0777);
			break;
		case 'h':
			archive_entry_set_filetype(ae, AE_IFREG);
			archive_entry_set_hardlink(ae, e[i].data);
			archive_entry_set_perm(ae, 0644);
			break;
		case 'c':
		case 'b':
			archive_entry_set_filetype(ae, e[i].type == 'c' ? AE_IFCHR : AE_IFBLK);
			archive_entry_set_rdevmajor(ae, 1);
			archive_entry_set_rdevminor(ae, 3);
			archive_entry_set_perm(ae, e[i].mode ? e[i].mode : 0666);
			break;
		case 'p':
			archive_entry_set_filetype(ae, AE_IFIFO);
			archive_entry_set_perm(ae, 0644);
			break;
		default:
			archive_entry_set_filetype(ae, AE_IFREG);
			archive_entry_set_perm(ae, e[i].mode ? e[i].mode : 0644);
			archive_entry_set_size(ae, e[i].size > 0 ? e[i].size : (la_int64_t)dlen);
		}
		if (e[i].xattr) {
			const char *eq = strchr(e[i].xattr, '=');
			char name[256];

			snprintf(name, sizeof(name), "%.*s", (int)(eq - e[i].xattr), e[i].xattr);
			archive_entry_xattr_add_entry(ae, name, eq + 1, strlen(eq + 1));
		}
		archive_write_header(a, ae);
		if (e[i].type == 'f' && dlen)
			archive_write_data(a, e[i].data, dlen);
		archive_entry_free(ae);
	}
	archive_write_close(a);
	archive_write_free(a);
	return b;
}

static inline void t_sha256(const void *data, size_t len, char out[72])
{
	unsigned char md[32];
	unsigned int n;

	EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
	strcpy(out, "sha256:");
	for (int i = 0; i < 32; i++)
		sprintf(out + 7 + 2 * i, "%02x", md[i]);
}

/* Decompress a layer to find its diff_id. */
static inline void t_diff_id(const struct tbuf *layer, char out[72])
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	struct tbuf raw = {0};
	char buf[65536];
	la_ssize_t n;

	archive_read_support_filter_all(a);
	archive_read_support_format_raw(a);
	archive_read_open_memory(a, layer->data, layer->len);
	archive_read_next_header(a, &e);
	while ((n = archive_read_data(a, buf, sizeof(buf))) > 0)
		tbuf_write(NULL, &raw, buf, (size_t)n);
	archive_read_free(a);
	t_sha256(raw.data, raw.len, out);
	free(raw.data);
}

struct tfile {
	char *name;
	char *data;
	size_t len;
};

/* An outer archive of named files, uncompressed. */
static inline int t_write_outer(const char *path, const struct tfile *f, size_t n)
{
	struct archive *a = archive_write_new();
	int r;

	archive_write_set_format_pax_restricted(a);
	r = archive_write_open_filename(a, path);
	for (size_t i = 0; r == ARCHIVE_OK && i < n; i++) {
		struct archive_entry *ae = archive_entry_new();

		archive_entry_set_pathname(ae, f[i].name);
		archive_entry_set_filetype(ae, AE_IFREG);
		archive_entry_set_perm(ae, 0644);
		archive_entry_set_size(ae, (la_int64_t)f[i].len);
		r = archive_write_header(a, ae);
		if (r == ARCHIVE_OK && f[i].len)
			archive_write_data(a, f[i].data, f[i].len);
		archive_entry_free(ae);
	}
	archive_write_close(a);
	archive_write_free(a);
	return r == ARCHIVE_OK ? 0 : -1;
}

/* The pieces of a one-image OCI archive, to be tampered with before writing. */
struct toci {
	char layer_digest[72], diff_id[72], config_digest[72], manifest_digest[72];
	char *config, *manifest, *index;
	struct tbuf layer;
	const char *layer_media_type;
};

static inline void t_oci_build(struct toci *o, struct tbuf layer, const char *media_type,
			       const char *name)
{
	memset(o, 0, sizeof(*o));
	o->layer = layer;
	o->layer_media_type =
	    media_type ? media_type : "application/vnd.oci.image.layer.v1.tar+gzip";
	t_sha256(layer.data, layer.len, o->layer_digest);
	t_diff_id(&layer, o->diff_id);
	if (asprintf(
		&o->config,
		"{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Env\":[\"A=1\"],"
		"\"Cmd\":[\"/bin/sh\"]},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\"]}}",
		o->diff_id) < 0)
		abort();
	t_sha256(o->config, strlen(o->config), o->config_digest);
	if (asprintf(
		&o->manifest,
		"{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+"
		"json\",\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
		"\"digest\":\"%s\",\"size\":%zu},\"layers\":[{\"mediaType\":\"%s\",\"digest\":"
		"\"%s\",\"size\":%zu}]}",
		o->config_digest, strlen(o->config), o->layer_media_type, o->layer_digest,
		layer.len) < 0)
		abort();
	t_sha256(o->manifest, strlen(o->manifest), o->manifest_digest);
	if (asprintf(&o->index,
		     "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/vnd.oci."
		     "image.manifest.v1+json\",\"digest\":\"%s\",\"size\":%zu,\"annotations\":"
		     "{\"io.containerd.image.name\":\"%s\"}}]}",
		     o->manifest_digest, strlen(o->manifest),
		     name ? name : "test/image:latest") < 0)
		abort();
}

static inline int t_oci_write(const struct toci *o, const char *path)
{
	char n_cfg[128], n_man[128], n_lay[128];
	struct tfile f[5];

	snprintf(n_cfg, sizeof(n_cfg), "blobs/sha256/%s", o->config_digest + 7);
	snprintf(n_man, sizeof(n_man), "blobs/sha256/%s", o->manifest_digest + 7);
	snprintf(n_lay, sizeof(n_lay), "blobs/sha256/%s", o->layer_digest + 7);
	f[0] = (struct tfile){"oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}", 30};
	f[1] = (struct tfile){"index.json", o->index, strlen(o->index)};
	f[2] = (struct tfile){n_man, o->manifest, strlen(o->manifest)};
	f[3] = (struct tfile){n_cfg, o->config, strlen(o->config)};
	f[4] = (struct tfile){n_lay, o->layer.data, o->layer.len};
	return t_write_outer(path, f, 5);
}

static inline void t_oci_free(struct toci *o)
{
	free(o->config);
	free(o->manifest);
	free(o->index);
	free(o->layer.data);
}

/* Count the entries of a directory (0 when missing). */
static inline int t_count_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static inline char *t_mkdtemp(const char *tag)
{
	char *p;

	if (asprintf(&p, "/tmp/runbox-%s.XXXXXX", tag) < 0 || !mkdtemp(p))
		abort();
	return p;
}

#endif
