/*
 * Child side: runs in the freshly cloned sandbox process, root of its own user namespace, before
 * the agent is executed. Only system calls here (no allocation, no stdio): the daemon is
 * multi-threaded and the child is its copy. All paths are relative to the attached root, which
 * is the working directory, and no mount target is a symlink the image could have planted.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fs.h"

const char *const rb_fs_masked_paths[] = {
    "proc/acpi",
    "proc/asound",
    "proc/interrupts",
    "proc/kcore",
    "proc/keys",
    "proc/latency_stats",
    "proc/timer_list",
    "proc/timer_stats",
    "proc/sched_debug",
    "proc/scsi",
    "sys/firmware",
    "sys/devices/virtual/powercap",
    NULL,
};

const char *const rb_fs_readonly_paths[] = {
    "proc/bus", "proc/fs", "proc/irq", "proc/sys", "proc/sysrq-trigger", NULL,
};

static const char *const devices[] = {"null", "zero", "full", "random", "urandom", "tty", NULL};

#define FAIL(what)                                                                                 \
	do {                                                                                       \
		*step = (what);                                                                    \
		return -errno;                                                                     \
	} while (0)

/* A real directory at name, whatever the image put there (a symlink could aim a mount at the
 * host's tree, which is still our root at this point). */
static int ensure_dir(const char *name, mode_t mode)
{
	struct stat st;

	if (fstatat(AT_FDCWD, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (S_ISDIR(st.st_mode))
			return 0;
		if (unlinkat(AT_FDCWD, name, 0) < 0)
			return -errno;
	}
	if (mkdir(name, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int ensure_file(const char *name)
{
	int fd = open(name, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);

	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

static int write_file(const char *name, const char *content)
{
	size_t len = strlen(content);
	int fd;

	unlink(name); /* a symlink or an image's file: replaced, never followed */
	fd = open(name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	while (len > 0) {
		ssize_t n = write(fd, content, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			close(fd);
			return -e;
		}
		content += n;
		len -= (size_t)n;
	}
	close(fd);
	return 0;
}

static int setup_dev(const char **step)
{
	char path[32] = "dev/";
	char src[32] = "/dev/";

	if (ensure_dir("dev", 0755) < 0)
		FAIL("make /dev");
	if (mount("tmpfs", "dev", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k") < 0)
		FAIL("mount /dev");
	for (int i = 0; devices[i]; i++) {
		strcpy(path + 4, devices[i]);
		strcpy(src + 5, devices[i]);
		if (ensure_file(path) < 0)
			FAIL("make a device node's mount point");
		if (mount(src, path, NULL, MS_BIND, NULL) < 0)
			FAIL("bind a device into /dev");
	}
	if (mkdir("dev/pts", 0755) < 0 ||
	    mount("devpts", "dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
		  "newinstance,ptmxmode=0666,mode=0620,gid=5") < 0)
		FAIL("mount /dev/pts");
	if (symlink("pts/ptmx", "dev/ptmx") < 0)
		FAIL("link /dev/ptmx");
	if (mkdir("dev/shm", 01777) < 0 ||
	    mount("shm", "dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  "mode=1777,size=65536k") < 0)
		FAIL("mount /dev/shm");
	if (symlink("/proc/self/fd", "dev/fd") < 0 || symlink("/proc/self/fd/0", "dev/stdin") < 0 ||
	    symlink("/proc/self/fd/1", "dev/stdout") < 0 ||
	    symlink("/proc/self/fd/2", "dev/stderr") < 0)
		FAIL("link /dev/fd");
	return 0;
}

static int mask_paths(const char **step)
{
	struct stat st;

	for (int i = 0; rb_fs_masked_paths[i]; i++) {
		const char *p = rb_fs_masked_paths[i];

		if (lstat(p, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			if (mount("tmpfs", p, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
				  "size=0") < 0)
				FAIL("mask a directory");
		} else if (mount("/dev/null", p, NULL, MS_BIND, NULL) < 0) {
			FAIL("mask a file");
		}
	}
	for (int i = 0; rb_fs_readonly_paths[i]; i++) {
		const char *p = rb_fs_readonly_paths[i];

		if (lstat(p, &st) < 0)
			continue;
		if (mount(p, p, NULL, MS_BIND | MS_REC, NULL) < 0 ||
		    mount(NULL, p, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV,
			  NULL) < 0)
			FAIL("make a /proc path read-only");
	}
	return 0;
}

int rb_fs_child_attach(const struct rb_fs_child *c, int mount_fd, const char **step)
{
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		FAIL("make mounts private");
	if (syscall(SYS_move_mount, mount_fd, "", AT_FDCWD, c->attach_at, MOVE_MOUNT_F_EMPTY_PATH) <
	    0)
		FAIL("attach the root");
	if (chdir(c->attach_at) < 0)
		FAIL("enter the root");
	return 0;
}

int rb_fs_child_mkdirs(const char *path)
{
	char buf[4096];
	size_t len = strlen(path);

	if (path[0] != '/' || len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, path, len + 1);
	for (char *s = buf + 1; s <= buf + len; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char saved = *s;

		*s = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*s = saved;
	}
	return 0;
}

int rb_fs_child_setup(const struct rb_fs_child *c, const char **step)
{
	if (ensure_dir("proc", 0555) < 0)
		FAIL("make /proc");
	if (mount("proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		FAIL("mount /proc");
	if (setup_dev(step) < 0)
		return -errno;
	if (ensure_dir("sys", 0555) < 0)
		FAIL("make /sys");
	if (mount("sysfs", "sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) <
		0 &&
	    mount("tmpfs", "sys", "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0") <
		0)
		FAIL("mount /sys");
	if (mask_paths(step) < 0)
		return -errno;
	if (ensure_dir("tmp", 01777) < 0)
		FAIL("make /tmp");
	if (ensure_dir("etc", 0755) < 0)
		FAIL("make /etc");
	if (write_file("etc/hostname", c->hostname) < 0 || write_file("etc/hosts", c->hosts) < 0 ||
	    write_file("etc/resolv.conf", c->resolv) < 0)
		FAIL("write /etc/hosts, hostname, resolv.conf");
	if (sethostname(c->hostname, strcspn(c->hostname, "\n")) < 0)
		FAIL("set the hostname");
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		FAIL("pivot_root");
	if (umount2(".", MNT_DETACH) < 0)
		FAIL("detach the host's root");
	if (chdir("/") < 0)
		FAIL("chdir /");
	return 0;
}
