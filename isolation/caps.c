/*
 * Capabilities: Docker's default set and nothing else.
 *
 * rb_iso_caps_apply() runs in the sandbox's child between clone and exec, so it uses raw prctl
 * and capset only (libcap's cap_set_proc allocates). libcap serves the helpers that turn
 * capability names into numbers and back, which run in the daemon.
 */
#include "isolation/caps.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/cleanup.h"

#define RB_CAP(c) (UINT64_C(1) << (c))

uint64_t rb_iso_caps_default_mask(void)
{
	return RB_CAP(CAP_CHOWN) | RB_CAP(CAP_DAC_OVERRIDE) | RB_CAP(CAP_FSETID) |
	       RB_CAP(CAP_FOWNER) | RB_CAP(CAP_MKNOD) | RB_CAP(CAP_NET_RAW) | RB_CAP(CAP_SETGID) |
	       RB_CAP(CAP_SETUID) | RB_CAP(CAP_SETFCAP) | RB_CAP(CAP_SETPCAP) |
	       RB_CAP(CAP_NET_BIND_SERVICE) | RB_CAP(CAP_SYS_CHROOT) | RB_CAP(CAP_KILL) |
	       RB_CAP(CAP_AUDIT_WRITE);
}

int rb_iso_caps_last_cap(void)
{
	_cleanup_close_ int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
	char buf[16];
	ssize_t n;
	int last;

	if (fd >= 0) {
		n = read(fd, buf, sizeof(buf) - 1);
		if (n > 0) {
			buf[n] = '\0';
			last = atoi(buf);
			if (last > 0 && last < 64)
				return last;
		}
	}
	/* no /proc (or a strange value): ask the kernel capability by capability */
	for (last = 0; last < 63; last++)
		if (prctl(PR_CAPBSET_READ, (unsigned long)last + 1UL, 0L, 0L, 0L) < 0)
			break;
	return last > 0 ? last : -EINVAL;
}

int rb_iso_caps_apply(uint64_t keep, int last_cap)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct data[2];

	if (last_cap < 0 || last_cap > 63)
		return -EINVAL;
	/* the bounding set first: dropping from it needs CAP_SETPCAP in the effective set */
	for (int c = 0; c <= last_cap; c++) {
		if (keep & RB_CAP(c))
			continue;
		if (prctl(PR_CAPBSET_DROP, (unsigned long)c, 0L, 0L, 0L) < 0)
			return -errno;
	}
	/* EINVAL: a kernel older than 4.3 has no ambient set to clear */
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0L, 0L, 0L) < 0 && errno != EINVAL)
		return -errno;
	data[0].effective = data[0].permitted = (uint32_t)keep;
	data[1].effective = data[1].permitted = (uint32_t)(keep >> 32);
	data[0].inheritable = data[1].inheritable = 0;
	if (syscall(SYS_capset, &hdr, data) < 0)
		return -errno;
	return 0;
}

int rb_iso_caps_from_name(const char *name, int *cap, struct rb_error *err)
{
	char buf[64];
	size_t off = 0;
	cap_value_t v;

	if (strncasecmp(name, "cap_", 4) != 0) {
		memcpy(buf, "cap_", 4);
		off = 4;
	}
	if (strlen(name) + off >= sizeof(buf))
		return rb_error_set(err, EINVAL, RB_INVALID_CONFIG, "unknown capability \"%.64s\"",
				    name);
	for (size_t i = 0; name[i]; i++)
		buf[off++] = (char)tolower((unsigned char)name[i]);
	buf[off] = '\0';
	if (cap_from_name(buf, &v) < 0 || v < 0 || v > 63)
		return rb_error_set(err, EINVAL, RB_INVALID_CONFIG, "unknown capability \"%s\"",
				    name);
	*cap = v;
	return 0;
}

int rb_iso_caps_format(uint64_t mask, char **out, struct rb_error *err)
{
	/* 64 names of at most ~24 characters each, with their commas */
	const size_t size = 64 * 32;
	_cleanup_free_ char *s = calloc(1, size);
	size_t len = 0;

	if (!s)
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "formatting capabilities");
	for (int c = 0; c < 64; c++) {
		char *name;

		if (!(mask & RB_CAP(c)))
			continue;
		/* libcap names what it knows and numbers the rest; NULL only without memory */
		name = cap_to_name(c);
		if (name)
			len += (size_t)snprintf(s + len, size - len, "%s%s", len ? "," : "", name);
		else
			len += (size_t)snprintf(s + len, size - len, "%s%d", len ? "," : "", c);
		cap_free(name);
	}
	for (size_t i = 0; i < len; i++)
		s[i] = (char)toupper((unsigned char)s[i]);
	*out = TAKE_PTR(s);
	return 0;
}
