/*
 * The built-in default image, runbox/default:latest: the host's static busybox (Debian's
 * busybox-static) with its common applets, a passwd/group, and the usual empty directories.
 * It needs no download, holds nothing of the host but that one binary, and is made the same way
 * every time (fixed times and order), so the same busybox always gives the same image id.
 * It is written as a real OCI archive and loaded through the same path as any other image.
 */
#include <archive.h>
#include <archive_entry.h>
#include <elf.h>
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

/* Applets linked into /bin: the everyday tools, not the machine-administration ones. */
static const char *const applets[] = {
    "[",	"[[",	     "ash",	  "awk",     "base64",	 "basename", "bc",	 "bunzip2",
    "bzcat",	"bzip2",     "cal",	  "cat",     "chgrp",	 "chmod",    "chown",	 "clear",
    "cmp",	"cp",	     "cpio",	  "cut",     "date",	 "dc",	     "dd",	 "df",
    "diff",	"dirname",   "dos2unix",  "du",	     "echo",	 "ed",	     "egrep",	 "env",
    "expand",	"expr",	     "factor",	  "false",   "fgrep",	 "find",     "fold",	 "free",
    "getopt",	"grep",	     "httpd",	  "ip",	     "netstat",	 "nslookup", "ping",	 "groups",
    "gunzip",	"gzip",	     "head",	  "hexdump", "hostname", "id",	     "kill",	 "killall",
    "less",	"link",	     "ln",	  "logname", "ls",	 "lzcat",    "md5sum",	 "mkdir",
    "mkfifo",	"mknod",     "mktemp",	  "more",    "mv",	 "nc",	     "nl",	 "nproc",
    "od",	"paste",     "patch",	  "pidof",   "printf",	 "ps",	     "pwd",	 "readlink",
    "realpath", "rev",	     "rm",	  "rmdir",   "sed",	 "seq",	     "setsid",	 "sh",
    "sha1sum",	"sha256sum", "sha512sum", "shuf",    "sleep",	 "sort",     "stat",	 "strings",
    "stty",	"sync",	     "tac",	  "tail",    "tar",	 "tee",	     "test",	 "time",
    "timeout",	"top",	     "touch",	  "tr",	     "true",	 "truncate", "tty",	 "uname",
    "uniq",	"unlink",    "unxz",	  "unzip",   "uptime",	 "usleep",   "uudecode", "uuencode",
    "vi",	"watch",     "wc",	  "wget",    "which",	 "whoami",   "xargs",	 "xxd",
    "xz",	"xzcat",     "yes",	  "zcat",
};

static const char passwd[] = "root:x:0:0:root:/root:/bin/sh\n"
			     "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
static const char group[] = "root:x:0:\nnogroup:x:65534:\n";
#define EPOCH 946684800 /* 2000-01-01: a fixed time for every entry */

const char *const *rb_default_applets(size_t *n)
{
	*n = RB_ARRAY_SIZE(applets);
	return applets;
}

/* A static binary has no PT_INTERP: the image has no libc for a dynamic one to find. */
static int check_static_elf(int fd, const char *path, struct rb_error *err)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph;

	if (pread(fd, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh) || memcmp(eh.e_ident, ELFMAG, 4) ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64)
		return rb_error_set(err, ENOEXEC, RB_INTERNAL_ERROR,
				    "%s is not a 64-bit ELF executable", path);
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + i * eh.e_phentsize)) !=
		    (ssize_t)sizeof(ph))
			return rb_error_set(err, ENOEXEC, RB_INTERNAL_ERROR, "%s: short ELF header",
					    path);
		if (ph.p_type == PT_INTERP)
			return rb_error_set(err, ENOEXEC, RB_INTERNAL_ERROR,
					    "%s is dynamically linked; the default image needs a "
					    "static busybox (apt-get install busybox-static)",
					    path);
	}
	return 0;
}

/* libarchive writer that hashes what it writes */
struct sink {
	int fd;
	struct rb_hasher h;
	uint64_t size;
};

static la_ssize_t sink_write(struct archive *a, void *ud, const void *buf, size_t len)
{
	struct sink *s = ud;
	const char *p = buf;
	size_t left = len;

	while (left > 0) {
		ssize_t n = write(s->fd, p, left);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			archive_set_error(a, errno, "write");
			return -1;
		}
		p += n;
		left -= (size_t)n;
	}
	rb_hasher_update(&s->h, buf, len);
	s->size += len;
	return (la_ssize_t)len;
}

static struct archive *new_writer(struct sink *s)
{
	struct archive *a = archive_write_new();

	archive_write_set_format_pax_restricted(a);
	archive_write_set_bytes_in_last_block(a, 1);
	if (archive_write_open(a, s, NULL, sink_write, NULL) != ARCHIVE_OK) {
		archive_write_free(a);
		return NULL;
	}
	return a;
}

static int add(struct archive *a, const char *name, mode_t type, mode_t perm, const void *data,
	       size_t len, const char *link)
{
	struct archive_entry *e = archive_entry_new();
	int r;

	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, perm);
	archive_entry_set_mtime(e, EPOCH, 0);
	archive_entry_set_uid(e, 0);
	archive_entry_set_gid(e, 0);
	if (link)
		archive_entry_set_symlink(e, link);
	archive_entry_set_size(e, type == AE_IFREG ? (la_int64_t)len : 0);
	r = archive_write_header(a, e);
	if (r == ARCHIVE_OK && type == AE_IFREG && len > 0 &&
	    archive_write_data(a, data, len) != (la_ssize_t)len)
		r = ARCHIVE_FATAL;
	archive_entry_free(e);
	return r == ARCHIVE_OK ? 0 : -EIO;
}

/* The layer, uncompressed: its digest is its diff_id. */
static int write_layer(const char *path, const char *bb, size_t bb_len, char digest[RB_DIGEST_MAX],
		       uint64_t *size)
{
	struct sink s = {.fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)};
	static const struct {
		const char *name;
		mode_t perm;
	} dirs[] = {{"bin", 0755},	{"dev", 0755},	   {"etc", 0755}, {"home", 0755},
		    {"proc", 0555},	{"root", 0700},	   {"sys", 0555}, {"tmp", 01777},
		    {"usr", 0755},	{"usr/bin", 0755}, {"var", 0755}, {"var/tmp", 01777},
		    {"workspace", 0755}};
	struct archive *a;
	int r = 0;

	if (s.fd < 0)
		return -errno;
	if (rb_hasher_init(&s.h, "sha256") < 0) {
		close(s.fd);
		return -ENOMEM;
	}
	a = new_writer(&s);
	if (!a) {
		rb_hasher_free(&s.h);
		close(s.fd);
		return -EIO;
	}
	for (size_t i = 0; r == 0 && i < RB_ARRAY_SIZE(dirs); i++)
		r = add(a, dirs[i].name, AE_IFDIR, dirs[i].perm, NULL, 0, NULL);
	if (r == 0)
		r = add(a, "bin/busybox", AE_IFREG, 0755, bb, bb_len, NULL);
	for (size_t i = 0; r == 0 && i < RB_ARRAY_SIZE(applets); i++) {
		char name[64];

		snprintf(name, sizeof(name), "bin/%s", applets[i]);
		r = add(a, name, AE_IFLNK, 0777, NULL, 0, "busybox");
	}
	if (r == 0)
		r = add(a, "usr/bin/env", AE_IFLNK, 0777, NULL, 0, "../../bin/busybox");
	if (r == 0)
		r = add(a, "etc/passwd", AE_IFREG, 0644, passwd, strlen(passwd), NULL);
	if (r == 0)
		r = add(a, "etc/group", AE_IFREG, 0644, group, strlen(group), NULL);
	if (archive_write_close(a) != ARCHIVE_OK)
		r = -EIO;
	archive_write_free(a);
	close(s.fd);
	if (r < 0) {
		rb_hasher_free(&s.h);
		return r;
	}
	rb_hasher_final(&s.h, digest);
	*size = s.size;
	return 0;
}

static int add_file(struct archive *a, const char *name, const char *path)
{
	_cleanup_free_ char *data = NULL;
	size_t len;
	struct rb_error err;

	if (rb_read_file(path, 1 << 30, &data, &len, &err) < 0)
		return -EIO;
	return add(a, name, AE_IFREG, 0644, data, len, NULL);
}

static int add_doc(struct archive *a, const char *json, char digest[RB_DIGEST_MAX])
{
	char name[256];

	rb_digest_buffer("sha256", json, strlen(json), digest);
	snprintf(name, sizeof(name), "blobs/sha256/%s", digest + 7);
	return add(a, name, AE_IFREG, 0644, json, strlen(json), NULL);
}

static int write_archive(const char *out, const char *layer_path, const char *diff_id,
			 uint64_t layer_size, const char *bb_digest)
{
	struct sink s = {.fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)};
	_cleanup_free_ char *config = NULL, *manifest = NULL, *index = NULL;
	char config_digest[RB_DIGEST_MAX], manifest_digest[RB_DIGEST_MAX], name[256];
	struct archive *a;
	int r = 0;

	if (s.fd < 0)
		return -errno;
	if (asprintf(
		&config,
		"{\"architecture\":\"%s\",\"os\":\"linux\",\"created\":\"2000-01-01T00:00:00Z\","
		"\"config\":{\"Env\":[\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:"
		"/usr/bin:/sbin:/bin\"],\"Cmd\":[\"/bin/sh\"],"
		"\"Labels\":{\"org.opencontainers.image.title\":\"runbox default image\","
		"\"org.opencontainers.image.description\":\"busybox from the host's "
		"busybox-static\",\"dev.runbox.busybox.digest\":\"%s\"}},"
		"\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\"]}}",
		rb_host_arch(), bb_digest, diff_id) < 0) {
		close(s.fd);
		return -ENOMEM;
	}
	rb_digest_buffer("sha256", config, strlen(config), config_digest);
	if (asprintf(
		&manifest,
		"{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+"
		"json\",\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
		"\"digest\":\"%s\",\"size\":%zu},\"layers\":[{\"mediaType\":"
		"\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"%s\",\"size\":%llu}]}",
		config_digest, strlen(config), diff_id, (unsigned long long)layer_size) < 0) {
		close(s.fd);
		return -ENOMEM;
	}
	rb_digest_buffer("sha256", manifest, strlen(manifest), manifest_digest);
	if (asprintf(
		&index,
		"{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/vnd.oci.image."
		"manifest.v1+json\",\"digest\":\"%s\",\"size\":%zu,\"annotations\":{"
		"\"io.containerd.image.name\":\"%s\",\"org.opencontainers.image.ref.name\":"
		"\"latest\"}}]}",
		manifest_digest, strlen(manifest), RB_DEFAULT_IMAGE) < 0) {
		close(s.fd);
		return -ENOMEM;
	}
	if (rb_hasher_init(&s.h, "sha256") < 0 || !(a = new_writer(&s))) {
		rb_hasher_free(&s.h);
		close(s.fd);
		return -EIO;
	}
	r = add(a, "oci-layout", AE_IFREG, 0644, "{\"imageLayoutVersion\":\"1.0.0\"}", 30, NULL);
	if (r == 0)
		r = add(a, "index.json", AE_IFREG, 0644, index, strlen(index), NULL);
	if (r == 0)
		r = add_doc(a, config, config_digest);
	if (r == 0)
		r = add_doc(a, manifest, manifest_digest);
	snprintf(name, sizeof(name), "blobs/sha256/%s", diff_id + 7);
	if (r == 0)
		r = add_file(a, name, layer_path);
	if (archive_write_close(a) != ARCHIVE_OK)
		r = -EIO;
	archive_write_free(a);
	rb_hasher_free(&s.h);
	close(s.fd);
	return r;
}

int rb_image_ensure_default(struct rb_image_store *s, const char *busybox, struct rb_error *err)
{
	_cleanup_free_ char *bb = NULL;
	_cleanup_close_ int fd = -1;
	char diff_id[RB_DIGEST_MAX] = "", bb_digest[RB_DIGEST_MAX], layer[4096], archive_path[4096];
	char rnd[17];
	struct rb_image_load_opts opts = {0};
	cJSON *probe = NULL, *loaded = NULL;
	uint64_t layer_size = 0;
	size_t bb_len;
	int r;

	if (rb_image_inspect(s, RB_DEFAULT_IMAGE, &probe, err) == 0) {
		cJSON_Delete(probe);
		return 0;
	}
	rb_error_clear(err);
	if (!busybox)
		busybox = RB_DEFAULT_BUSYBOX;
	fd = open(busybox, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return rb_error_sys(err, errno, RB_INTERNAL_ERROR,
				    "default image: open %s (apt-get install busybox-static)",
				    busybox);
	if (check_static_elf(fd, busybox, err) < 0)
		return rb_error_wrap(err, "default image");
	if (rb_read_file(busybox, 64 << 20, &bb, &bb_len, err) < 0)
		return rb_error_wrap(err, "default image");
	rb_digest_buffer("sha256", bb, bb_len, bb_digest);

	/* beside tmp/, not in it: a collection may empty tmp/ before the load starts */
	rb_random_id(rnd, 16);
	snprintf(layer, sizeof(layer), "%s/.default-layer-%s", s->dir, rnd);
	snprintf(archive_path, sizeof(archive_path), "%s/.default-image-%s.tar", s->dir, rnd);
	r = write_layer(layer, bb, bb_len, diff_id, &layer_size);
	if (r == 0)
		r = write_archive(archive_path, layer, diff_id, layer_size, bb_digest);
	unlink(layer);
	if (r < 0) {
		unlink(archive_path);
		return rb_error_set(err, -r, RB_INTERNAL_ERROR,
				    "default image: cannot write it: %s", strerror(-r));
	}
	opts.path = archive_path;
	r = rb_image_load(s, &opts, &loaded, err);
	unlink(archive_path);
	cJSON_Delete(loaded);
	if (r < 0)
		return rb_error_wrap(err, "default image");
	return 0;
}
