/*
 * Unpacking one layer into its own directory, whatever the tar holds. Every path is resolved
 * by the kernel inside the layer's root (openat2 RESOLVE_IN_ROOT), the last component is never
 * followed, and names that climb out ("..", absolute) are refused with the entry named.
 * Whiteouts become overlayfs's: a 0/0 character device, and trusted.overlay.opaque=y.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "images-internal.h"
#include "pipe.h"

#define WH_PREFIX ".wh."
#define WH_OPAQUE ".wh..wh..opq"
#define WH_META	  ".wh..wh."

struct unpacker {
	int root;
	const struct rb_image_limits *limits;
	struct rb_error *err;
	uint64_t bytes, entries;
	int privileged; /* may chown and mknod */
	char *cached_parent;
	int cached_fd;
	const char *entry; /* the entry being unpacked, for messages */
};

static long openat2_in_root(int root, const char *path, int flags)
{
	struct open_how how = {
	    .flags = (uint64_t)(flags | O_CLOEXEC),
	    .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
	};

	return syscall(SYS_openat2, root, path, &how, sizeof(how));
}

static void forget_parent(struct unpacker *u)
{
	if (u->cached_fd >= 0)
		close(u->cached_fd);
	u->cached_fd = -1;
	free(u->cached_parent);
	u->cached_parent = NULL;
}

static int fail(struct unpacker *u, int errnum, const char *fmt, const char *detail)
{
	return rb_error_set(u->err, errnum, RB_INVALID_IMAGE, "entry %.300s: %s%s%s", u->entry, fmt,
			    detail ? ": " : "", detail ? detail : "");
}

static int fail_sys(struct unpacker *u, int errnum, const char *what)
{
	return rb_error_set(u->err, errnum,
			    errnum == ENOSPC || errnum == EDQUOT ? RB_RESOURCE_EXHAUSTED
								 : RB_INVALID_IMAGE,
			    "entry %.300s: %s: %s", u->entry, what, strerror(errnum));
}

/*
 * Split an entry name into "parent" and "base" in out (parent may be ""), refusing names that
 * leave the root. "./a//b/" -> parent "a", base "b".
 */
static int clean_name(struct unpacker *u, const char *name, char **parent, char **base)
{
	size_t len = strlen(name), depth = 0;
	_cleanup_free_ char *out = malloc(len + 1);
	char *o;
	const char *p = name;

	if (!out)
		return rb_error_set(u->err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	if (len > u->limits->max_path_length)
		return fail(u, ENAMETOOLONG, "path is longer than the limit", NULL);
	if (name[0] == '/')
		return fail(u, EPERM, "absolute path escapes the layer root", NULL);
	o = out;
	while (*p) {
		const char *end = strchrnul(p, '/');
		size_t n = (size_t)(end - p);

		if (n == 2 && p[0] == '.' && p[1] == '.')
			return fail(u, EPERM, "\"..\" escapes the layer root", NULL);
		if (n > 255)
			return fail(u, ENAMETOOLONG, "a name is longer than 255 bytes", NULL);
		if (n > 0 && !(n == 1 && p[0] == '.')) {
			if (++depth > u->limits->max_path_depth)
				return fail(u, ELOOP, "path is deeper than the limit", NULL);
			if (o != out)
				*o++ = '/';
			memcpy(o, p, n);
			o += n;
		}
		p = *end ? end + 1 : end;
	}
	*o = '\0';
	o = strrchr(out, '/');
	if (o) {
		*o = '\0';
		*base = strdup(o + 1);
		*parent = TAKE_PTR(out);
	} else {
		*base = TAKE_PTR(out);
		*parent = strdup("");
	}
	if (!*base || !*parent)
		return rb_error_set(u->err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	return 0;
}

/* An fd of the directory parent (resolved in the root), made with 0755 where missing. */
static int open_parent(struct unpacker *u, const char *parent, int create)
{
	_cleanup_free_ char *prefix = NULL;
	long fd;

	if (u->cached_parent && !strcmp(u->cached_parent, parent))
		return u->cached_fd;
	forget_parent(u);
	if (!*parent)
		fd = openat2_in_root(u->root, ".", O_RDONLY | O_DIRECTORY);
	else
		fd = openat2_in_root(u->root, parent, O_RDONLY | O_DIRECTORY);
	if (fd < 0 && errno == ENOENT && create) {
		/* make the missing directories one by one, each resolved inside the root */
		prefix = strdup(parent);
		if (!prefix)
			return rb_error_set(u->err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
		for (char *s = prefix;; s++) {
			if (*s != '/' && *s != '\0')
				continue;
			char saved = *s;
			*s = '\0';
			_cleanup_close_ int d =
			    (int)openat2_in_root(u->root, prefix, O_RDONLY | O_DIRECTORY);
			if (d < 0 && errno == ENOENT) {
				char *slash = strrchr(prefix, '/');
				_cleanup_close_ int up = -1;

				if (slash) {
					*slash = '\0';
					up = (int)openat2_in_root(u->root, prefix,
								  O_RDONLY | O_DIRECTORY);
					*slash = '/';
				} else {
					up = (int)openat2_in_root(u->root, ".",
								  O_RDONLY | O_DIRECTORY);
				}
				if (up < 0 || mkdirat(up, slash ? slash + 1 : prefix, 0755) < 0) {
					if (errno == EEXIST)
						return fail(
						    u, ENOENT,
						    "its parent leads through a symlink to a "
						    "directory that is not in the layer",
						    prefix);
					return fail_sys(u, errno,
							"cannot make its parent directory");
				}
			} else if (d < 0) {
				return fail_sys(u, errno, "cannot open its parent directory");
			}
			*s = saved;
			if (!saved)
				break;
		}
		fd = openat2_in_root(u->root, parent, O_RDONLY | O_DIRECTORY);
	}
	if (fd < 0)
		return fail_sys(u, errno, "cannot open its parent directory");
	u->cached_parent = strdup(parent);
	if (!u->cached_parent) {
		close((int)fd);
		return rb_error_set(u->err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	}
	u->cached_fd = (int)fd;
	return (int)fd;
}

/* Make room for a new entry: an existing directory stays when the new one is a directory. */
static int clear_spot(struct unpacker *u, int dfd, const char *base, int new_is_dir)
{
	struct stat st;
	int r;

	if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : fail_sys(u, errno, "stat");
	if (new_is_dir && S_ISDIR(st.st_mode))
		return 1;
	if (S_ISDIR(st.st_mode)) {
		/* the cached parent may be this directory or below it */
		int keep = dup(dfd);

		forget_parent(u);
		r = rb_rm_rf_at(keep, base);
		close(keep);
		if (r < 0)
			return fail_sys(u, -r, "cannot replace the directory there");
		return 0;
	}
	if (unlinkat(dfd, base, 0) < 0)
		return fail_sys(u, errno, "cannot replace what is there");
	return 0;
}

static int apply_xattrs(struct unpacker *u, int fd, struct archive_entry *e)
{
	const char *name;
	const void *value;
	size_t size;

	archive_entry_xattr_reset(e);
	while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
		if (!strncmp(name, "trusted.overlay.", 16) || !strncmp(name, "user.overlay.", 13))
			return fail(u, EPERM,
				    "carries an overlayfs xattr, which would forge a whiteout",
				    name);
		if (strncmp(name, "user.", 5) && strcmp(name, "security.capability"))
			continue; /* selinux labels, ACLs and trusted.* mean nothing here */
		if (fsetxattr(fd, name, value, size, 0) < 0 && errno != ENOTSUP)
			return fail_sys(u, errno, "cannot set an xattr");
	}
	return 0;
}

/* Owner, mode, xattrs and time of something opened as fd. Owner first: chown clears setuid. */
static int apply_meta(struct unpacker *u, int fd, struct archive_entry *e)
{
	struct timespec ts[2] = {
	    {.tv_sec = archive_entry_mtime(e), .tv_nsec = archive_entry_mtime_nsec(e)},
	    {.tv_sec = archive_entry_mtime(e), .tv_nsec = archive_entry_mtime_nsec(e)},
	};

	if (u->privileged &&
	    fchown(fd, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e)) < 0)
		return fail_sys(u, errno, "chown");
	if (fchmod(fd, archive_entry_perm(e) & 07777) < 0)
		return fail_sys(u, errno, "chmod");
	if (apply_xattrs(u, fd, e) < 0)
		return -u->err->errnum;
	if (futimens(fd, ts) < 0)
		return fail_sys(u, errno, "set times");
	return 0;
}

static int write_file(struct unpacker *u, struct archive *a, int dfd, const char *base,
		      struct archive_entry *e)
{
	_cleanup_close_ int fd = -1;
	int64_t size = archive_entry_size(e), end = 0;
	const void *buf;
	size_t len;
	la_int64_t off;
	int r;

	if (size > 0 && (uint64_t)size > u->limits->max_layer_bytes - u->bytes)
		return rb_error_set(u->err, EFBIG, RB_INVALID_IMAGE,
				    "entry %.300s: layer exceeds the limit of %llu unpacked bytes",
				    u->entry, (unsigned long long)u->limits->max_layer_bytes);
	fd = openat(dfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return fail_sys(u, errno, "create");
	while ((r = archive_read_data_block(a, &buf, &len, &off)) == ARCHIVE_OK) {
		const char *p = buf;

		if (off < 0 || (uint64_t)off + len > (uint64_t)size)
			return fail(u, EINVAL, "data runs past the entry's size", NULL);
		while (len > 0) {
			ssize_t n = pwrite(fd, p, len, off);

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return fail_sys(u, errno, "write");
			p += n;
			off += n;
			len -= (size_t)n;
		}
		end = off;
	}
	if (r != ARCHIVE_EOF)
		return fail(u, EIO, "cannot read its data", archive_error_string(a));
	if (end < size && ftruncate(fd, size) < 0) /* a sparse file's hole at the end */
		return fail_sys(u, errno, "truncate");
	u->bytes += (uint64_t)size;
	return apply_meta(u, fd, e);
}

static int make_dir(struct unpacker *u, int dfd, const char *base, struct archive_entry *e,
		    int exists)
{
	_cleanup_close_ int fd = -1;

	if (!exists && mkdirat(dfd, base, 0700) < 0)
		return fail_sys(u, errno, "mkdir");
	fd = openat(dfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return fail_sys(u, errno, "open the directory");
	return apply_meta(u, fd, e);
}

static int make_symlink(struct unpacker *u, int dfd, const char *base, struct archive_entry *e)
{
	const char *target = archive_entry_symlink(e);
	struct timespec ts[2] = {
	    {.tv_sec = archive_entry_mtime(e), .tv_nsec = archive_entry_mtime_nsec(e)},
	    {.tv_sec = archive_entry_mtime(e), .tv_nsec = archive_entry_mtime_nsec(e)},
	};

	if (!target || !*target)
		return fail(u, EINVAL, "symlink has no target", NULL);
	/* the target is stored as text and never followed while unpacking */
	if (symlinkat(target, dfd, base) < 0)
		return fail_sys(u, errno, "symlink");
	if (u->privileged && fchownat(dfd, base, (uid_t)archive_entry_uid(e),
				      (gid_t)archive_entry_gid(e), AT_SYMLINK_NOFOLLOW) < 0)
		return fail_sys(u, errno, "chown the symlink");
	utimensat(dfd, base, ts, AT_SYMLINK_NOFOLLOW);
	return 0;
}

static int make_hardlink(struct unpacker *u, int dfd, const char *base, const char *target)
{
	_cleanup_free_ char *tparent = NULL, *tbase = NULL;
	const char *entry = u->entry;
	_cleanup_close_ int tfd = -1;
	int r;

	/* the target obeys the same rules as a name, and must already be in this layer */
	u->entry = target;
	r = clean_name(u, target, &tparent, &tbase);
	u->entry = entry;
	if (r < 0)
		return rb_error_wrap(u->err, "hardlink of entry %.300s", entry);
	tfd = (int)openat2_in_root(u->root, *tparent ? tparent : ".", O_RDONLY | O_DIRECTORY);
	if (tfd < 0)
		return fail(u, errno, "hardlink target is not in this layer", target);
	/* flags 0: a link to a symlink links the symlink itself, never what it points at */
	if (linkat(tfd, tbase, dfd, base, 0) < 0) {
		if (errno == ENOENT)
			return fail(u, ENOENT, "hardlink target is not in this layer", target);
		return fail_sys(u, errno, "hardlink");
	}
	return 0;
}

static int make_node(struct unpacker *u, int dfd, const char *base, struct archive_entry *e)
{
	mode_t type = archive_entry_filetype(e);
	dev_t dev = makedev(archive_entry_rdevmajor(e), archive_entry_rdevminor(e));

	if (type != AE_IFIFO && !u->privileged)
		return 0; /* device nodes need CAP_MKNOD: skipped, as tar does for users */
	if (mknodat(dfd, base,
		    (type == AE_IFIFO	? S_IFIFO
		     : type == AE_IFCHR ? S_IFCHR
					: S_IFBLK) |
			0600,
		    type == AE_IFIFO ? 0 : dev) < 0)
		return fail_sys(u, errno, "mknod");
	if (u->privileged && fchownat(dfd, base, (uid_t)archive_entry_uid(e),
				      (gid_t)archive_entry_gid(e), AT_SYMLINK_NOFOLLOW) < 0)
		return fail_sys(u, errno, "chown");
	if (fchmodat(dfd, base, archive_entry_perm(e) & 07777, 0) < 0)
		return fail_sys(u, errno, "chmod");
	return 0;
}

static int whiteout(struct unpacker *u, int dfd, const char *parent, const char *base)
{
	const char *victim = base + strlen(WH_PREFIX);
	int r;

	if (!strcmp(base, WH_OPAQUE)) {
		if (fsetxattr(dfd, "trusted.overlay.opaque", "y", 1, 0) < 0)
			return fail_sys(u, errno, "cannot mark the directory opaque");
		return 0;
	}
	if (!strncmp(base, WH_META, strlen(WH_META)))
		return 0; /* aufs bookkeeping (.wh..wh.plnk and the like): nothing to do */
	if (!*victim || !strcmp(victim, ".") || !strcmp(victim, ".."))
		return fail(u, EINVAL, "whiteout names no file", NULL);
	r = clear_spot(u, dfd, victim, 0);
	if (r < 0)
		return r;
	dfd = open_parent(u, parent, 1);
	if (dfd < 0)
		return dfd;
	if (mknodat(dfd, victim, S_IFCHR | 0, makedev(0, 0)) < 0)
		return fail_sys(u, errno, "cannot make the whiteout (needs CAP_MKNOD)");
	return 0;
}

static int unpack_entry(struct unpacker *u, struct archive *a, struct archive_entry *e)
{
	_cleanup_free_ char *parent = NULL, *base = NULL;
	mode_t type = archive_entry_filetype(e);
	const char *hardlink = archive_entry_hardlink(e);
	int dfd, r;

	u->entry = archive_entry_pathname(e);
	if (!u->entry)
		return rb_error_set(u->err, EINVAL, RB_INVALID_IMAGE, "an entry has no name");
	if (++u->entries > u->limits->max_layer_entries)
		return rb_error_set(u->err, E2BIG, RB_INVALID_IMAGE,
				    "entry %.300s: layer has more than %llu entries", u->entry,
				    (unsigned long long)u->limits->max_layer_entries);
	r = clean_name(u, u->entry, &parent, &base);
	if (r < 0)
		return r;
	if (!*base)
		return 0; /* the root itself: its metadata is the store's */
	dfd = open_parent(u, parent, 1);
	if (dfd < 0)
		return dfd;
	if (!strncmp(base, WH_PREFIX, strlen(WH_PREFIX)))
		return whiteout(u, dfd, parent, base);
	if (hardlink) {
		_cleanup_free_ char *hp = NULL, *hb = NULL;
		const char *entry = u->entry;

		u->entry = hardlink;
		r = clean_name(u, hardlink, &hp, &hb);
		u->entry = entry;
		if (r < 0)
			return rb_error_wrap(u->err, "hardlink of entry %.300s", entry);
		if (!strcmp(hp, parent) && !strcmp(hb, base))
			return 0; /* a link to itself */
		r = clear_spot(u, dfd, base, 0);
		if (r < 0)
			return r;
		dfd = open_parent(u, parent, 1);
		if (dfd < 0)
			return dfd;
		return make_hardlink(u, dfd, base, hardlink);
	}
	r = clear_spot(u, dfd, base, type == AE_IFDIR);
	if (r < 0)
		return r;
	dfd = open_parent(u, parent, 1); /* clearing may have dropped the cached directory */
	if (dfd < 0)
		return dfd;
	switch (type) {
	case AE_IFREG:
		return write_file(u, a, dfd, base, e);
	case AE_IFDIR:
		return make_dir(u, dfd, base, e, r == 1);
	case AE_IFLNK:
		return make_symlink(u, dfd, base, e);
	case AE_IFCHR:
	case AE_IFBLK:
	case AE_IFIFO:
		return make_node(u, dfd, base, e);
	default:
		return fail(u, EINVAL, "unsupported entry type", NULL);
	}
}

static la_ssize_t pipe_read(struct archive *a, void *ud, const void **buf)
{
	struct rb_layer_pipe *p = ud;
	ssize_t n = rb_layer_pipe_next(p, buf);

	if (n < 0)
		archive_set_error(a, EIO, "cannot decompress the layer: %s", p->errmsg);
	return n;
}

int rb_layer_unpack(const char *blob_path, const char *dest_dir,
		    const struct rb_image_limits *limits, rb_archive_copy_progress progress,
		    void *ud, struct rb_unpack_result *res, struct rb_error *err)
{
	_cleanup_close_ int blob = -1, root = -1;
	struct unpacker u = {.limits = limits, .err = err, .cached_fd = -1};
	struct rb_layer_pipe pipe;
	struct archive *a = NULL;
	struct archive_entry *e;
	uint64_t last = 0;
	int r;

	blob = open(blob_path, O_RDONLY | O_CLOEXEC);
	if (blob < 0)
		return rb_error_sys(err, errno, RB_INTERNAL_ERROR, "open %s", blob_path);
	root = open(dest_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return rb_error_sys(err, errno, RB_INTERNAL_ERROR, "open %s", dest_dir);
	u.root = root;
	u.privileged = geteuid() == 0;
	r = rb_layer_pipe_start(&pipe, blob, "sha256");
	if (r < 0)
		return rb_error_set(err, -r, RB_INTERNAL_ERROR, "cannot start decompression: %s",
				    strerror(-r));
	a = archive_read_new();
	if (!a) {
		rb_layer_pipe_stop(&pipe);
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	}
	archive_read_support_format_tar(a);
	if (archive_read_open(a, &pipe, NULL, pipe_read, NULL) != ARCHIVE_OK) {
		r = rb_error_set(err, EINVAL, RB_INVALID_IMAGE, "not a tar stream: %s",
				 archive_error_string(a));
		goto out;
	}
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		r = unpack_entry(&u, a, e);
		if (r < 0)
			goto out;
		if (progress && pipe.raw_bytes - last >= (4 << 20)) {
			last = pipe.raw_bytes;
			progress(last, ud);
		}
	}
	if (r != ARCHIVE_EOF) {
		r = rb_error_set(err, EINVAL, RB_INVALID_IMAGE, "not a valid tar stream: %s",
				 archive_error_string(a));
		goto out;
	}
	/* the diff_id covers the whole stream, end-of-archive padding included */
	for (const void *buf; (r = (int)rb_layer_pipe_next(&pipe, &buf)) > 0;)
		;
	if (r < 0) {
		r = rb_error_set(err, EIO, RB_INVALID_IMAGE, "cannot decompress the layer: %s",
				 pipe.errmsg);
		goto out;
	}
	rb_hasher_final(&pipe.hash, res->diff_id);
	res->bytes = u.bytes;
	res->entries = u.entries;
	if (progress)
		progress(pipe.raw_bytes, ud);
	r = 0;
out:
	archive_read_free(a);
	forget_parent(&u);
	rb_layer_pipe_stop(&pipe);
	return r;
}
