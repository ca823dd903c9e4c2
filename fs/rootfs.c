/* Parent side: the detached root of a sandbox, built with the new mount API. */
#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "fs.h"

static int sys_fsopen(const char *fs)
{
	return (int)syscall(SYS_fsopen, fs, FSOPEN_CLOEXEC);
}

static int sys_fsconfig(int fd, unsigned cmd, const char *key, const void *val, int aux)
{
	return (int)syscall(SYS_fsconfig, fd, cmd, key, val, aux);
}

static int sys_fsmount(int fd, unsigned attrs)
{
	return (int)syscall(SYS_fsmount, fd, FSMOUNT_CLOEXEC, attrs);
}

/* The kernel explains a failed fsconfig in the context's log: read it into the error. */
static int fs_error(int fsfd, int errnum, const char *what, struct rb_error *err)
{
	char log[512] = "";
	ssize_t n = read(fsfd, log, sizeof(log) - 1);

	if (n > 0) {
		log[n] = '\0';
		if (log[n - 1] == '\n')
			log[n - 1] = '\0';
	}
	return rb_error_set(err, errnum, RB_INTERNAL_ERROR, "%s: %s%s%s", what, strerror(errnum),
			    n > 0 ? " (" : "", n > 0 ? log : "");
}

static int make_upper(uint64_t disk_bytes, uid_t uid, gid_t gid, struct rb_error *err)
{
	_cleanup_close_ int fs = sys_fsopen("tmpfs");
	char size[32];
	int mfd;

	if (fs < 0)
		return rb_error_sys(err, errno, RB_INTERNAL_ERROR, "fsopen tmpfs");
	snprintf(size, sizeof(size), "%llu", (unsigned long long)disk_bytes);
	if (sys_fsconfig(fs, FSCONFIG_SET_STRING, "size", size, 0) < 0 ||
	    sys_fsconfig(fs, FSCONFIG_SET_STRING, "mode", "0700", 0) < 0 ||
	    sys_fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		return fs_error(fs, errno, "sandbox disk (tmpfs)", err);
	mfd = sys_fsmount(fs, MOUNT_ATTR_NODEV | MOUNT_ATTR_NOSUID);
	if (mfd < 0)
		return rb_error_sys(err, errno, RB_INTERNAL_ERROR, "fsmount tmpfs");
	if (mkdirat(mfd, "upper", 0755) < 0 || mkdirat(mfd, "work", 0700) < 0 ||
	    fchownat(mfd, "upper", uid, gid, 0) < 0) {
		int e = errno;
		close(mfd);
		return rb_error_sys(err, e, RB_INTERNAL_ERROR, "sandbox disk: prepare upper");
	}
	return mfd;
}

static int idmapped_layer(const char *dir, int userns_fd, struct rb_error *err)
{
	struct mount_attr attr = {
	    .attr_set = MOUNT_ATTR_IDMAP | MOUNT_ATTR_RDONLY,
	    .userns_fd = (uint64_t)userns_fd,
	};
	int fd = (int)syscall(SYS_open_tree, AT_FDCWD, dir, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);

	if (fd < 0)
		return rb_error_sys(err, errno, RB_INTERNAL_ERROR, "open_tree %s", dir);
	if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH, &attr, sizeof(attr)) < 0) {
		int e = errno;
		close(fd);
		return rb_error_sys(err, e, RB_INTERNAL_ERROR, "idmap layer %s", dir);
	}
	return fd;
}

int rb_fs_root_build(char *const *layer_dirs, size_t n_layers, uint64_t disk_bytes, int userns_fd,
		     uid_t host_uid, gid_t host_gid, struct rb_fs_root *root, struct rb_error *err)
{
	_cleanup_close_ int fs = -1, upper = -1;
	char up[64], work[64];
	int *lfds = NULL, r;

	root->mount_fd = root->upper_fd = -1;
	if (n_layers == 0)
		return rb_error_set(err, EINVAL, RB_INVALID_CONFIG, "the image has no layers");
	upper = make_upper(disk_bytes, host_uid, host_gid, err);
	if (upper < 0)
		return upper;
	fs = sys_fsopen("overlay");
	if (fs < 0)
		return rb_error_sys(err, errno, RB_INTERNAL_ERROR, "fsopen overlay");
	/* lowerdir+ stacks from the top: the image's last layer first. Each clone must stay open
	 * until the overlay is created: closing it dissolves the detached mount it stands on. */
	lfds = calloc(n_layers, sizeof(*lfds));
	if (!lfds)
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	for (size_t i = 0; i < n_layers; i++)
		lfds[i] = -1;
	for (size_t i = n_layers; i-- > 0;) {
		lfds[i] = idmapped_layer(layer_dirs[i], userns_fd, err);
		if (lfds[i] < 0) {
			r = lfds[i];
			goto out;
		}
		if (sys_fsconfig(fs, FSCONFIG_SET_FD, "lowerdir+", NULL, lfds[i]) < 0) {
			r = fs_error(fs, errno, "overlay lowerdir", err);
			goto out;
		}
	}
	snprintf(up, sizeof(up), "/proc/self/fd/%d/upper", upper);
	snprintf(work, sizeof(work), "/proc/self/fd/%d/work", upper);
	if (sys_fsconfig(fs, FSCONFIG_SET_STRING, "upperdir", up, 0) < 0 ||
	    sys_fsconfig(fs, FSCONFIG_SET_STRING, "workdir", work, 0) < 0 ||
	    sys_fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) {
		r = fs_error(fs, errno, "overlay", err);
		goto out;
	}
	/* nodev: a device node in an image must never open a host device */
	r = sys_fsmount(fs, MOUNT_ATTR_NODEV);
	if (r < 0) {
		r = rb_error_sys(err, errno, RB_INTERNAL_ERROR, "fsmount overlay");
		goto out;
	}
	root->mount_fd = r;
	root->upper_fd = TAKE_FD(upper);
	r = 0;
out:
	for (size_t i = 0; i < n_layers; i++)
		if (lfds[i] >= 0)
			close(lfds[i]);
	free(lfds);
	return r;
}

void rb_fs_root_close(struct rb_fs_root *root)
{
	if (root->mount_fd >= 0)
		close(root->mount_fd);
	if (root->upper_fd >= 0)
		close(root->upper_fd);
	root->mount_fd = root->upper_fd = -1;
}
