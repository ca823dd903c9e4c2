/*
 * A sandbox's filesystem. The parent side builds the root as a detached mount: an overlay of
 * the image's layers (each an idmapped, read-only clone, so files owned by root in the image
 * belong to the sandbox's root) over a private tmpfs upper whose size is the disk limit. The
 * mount exists only as a file descriptor until the child attaches it inside its own mount
 * namespace, so nothing of a sandbox is ever mounted on the host, and nothing can be left there.
 * The child side (async-signal-safe) attaches it, adds /proc, /dev, /sys, masks, and pivots.
 */
#ifndef RB_FS_H
#define RB_FS_H

#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"

struct rb_fs_root {
	int mount_fd; /* the overlay, detached */
	int upper_fd; /* the tmpfs holding upper/ and work/, detached; for disk usage */
};

/* Build the root for a sandbox whose user namespace is userns_fd, root inside being host_uid. */
int rb_fs_root_build(char *const *layer_dirs, size_t n_layers, uint64_t disk_bytes, int userns_fd,
		     uid_t host_uid, gid_t host_gid, struct rb_fs_root *root, struct rb_error *err);
void rb_fs_root_close(struct rb_fs_root *root);

/* Everything the child needs, prepared before the clone: no allocation happens after it. */
struct rb_fs_child {
	const char *attach_at; /* an empty directory, where the root is attached in the child */
	const char *hostname;
	const char *hosts;  /* contents of /etc/hosts */
	const char *resolv; /* contents of /etc/resolv.conf */
};

/* Child side, async-signal-safe, each returning 0 or -errno with *step naming what failed.
 * attach: attach mount_fd at attach_at and enter it. It runs before the child takes its ids
 * in the new user namespace, while the host's directories still let it through.
 * setup: /proc, /dev, /sys, the masks, /etc's files, then pivot into the root. */
int rb_fs_child_attach(const struct rb_fs_child *c, int mount_fd, const char **step);
int rb_fs_child_setup(const struct rb_fs_child *c, const char **step);
/* mkdir -p of an absolute path, each new directory 0755, as the agent makes the working
 * directory. Child side, async-signal-safe: 0 or -errno. */
int rb_fs_child_mkdirs(const char *path);

/* The paths hidden or made read-only in every sandbox (shown by `runbox info`). */
extern const char *const rb_fs_masked_paths[];
extern const char *const rb_fs_readonly_paths[];

#endif
