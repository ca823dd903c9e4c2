/*
 * Capabilities of a sandbox: Docker's default set, kept in the bounding, permitted and effective
 * sets; everything else dropped from all five sets before the sandbox's first exec.
 */
#ifndef RB_ISOLATION_CAPS_H
#define RB_ISOLATION_CAPS_H

#include <stdint.h>

#include "common/error.h"

/*
 * CHOWN DAC_OVERRIDE FSETID FOWNER MKNOD NET_RAW SETGID SETUID SETFCAP SETPCAP NET_BIND_SERVICE
 * SYS_CHROOT KILL AUDIT_WRITE, as a bit mask (bit n is capability n).
 */
uint64_t rb_iso_caps_default_mask(void);

/*
 * The highest capability the running kernel knows (/proc/sys/kernel/cap_last_cap), or -errno.
 * Read it once in the parent: the child that calls rb_iso_caps_apply() may not open files.
 */
int rb_iso_caps_last_cap(void);

/*
 * Keep exactly `keep`: drop every other capability up to last_cap from the bounding set, clear
 * the ambient set, then set permitted = effective = keep and inheritable = 0. Needs CAP_SETPCAP
 * and every capability in keep. Returns 0 or -errno. Async-signal-safe (raw prctl and capset):
 * meant for a child between clone and exec, before rb_iso_seccomp_apply().
 */
int rb_iso_caps_apply(uint64_t keep, int last_cap);

/* Parse "CAP_NET_RAW", "cap_net_raw" or "NET_RAW" (as in --cap-add) into a capability number. */
int rb_iso_caps_from_name(const char *name, int *cap, struct rb_error *err);

/* Format a mask as "CAP_CHOWN,CAP_KILL" (empty string for 0) into a new string for *out. */
int rb_iso_caps_format(uint64_t mask, char **out, struct rb_error *err);

#endif
