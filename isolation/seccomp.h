/*
 * The default seccomp filter: Docker's default profile in effect (an allowlist, everything else
 * fails with EPERM), for the native ABI only (a call through another kills the process), with no
 * capability-gated extras.
 *
 * The filter is compiled with libseccomp once per daemon and kept as a ready BPF program; applying
 * it in a freshly cloned child is then two syscalls, no allocation and no libseccomp.
 */
#ifndef RB_ISOLATION_SECCOMP_H
#define RB_ISOLATION_SECCOMP_H

#include <stddef.h>

#include "common/error.h"

struct rb_iso_seccomp;

/* Build the default filter and export it as BPF. Not async-signal-safe: call in the daemon. */
int rb_iso_seccomp_compile(struct rb_iso_seccomp **out, struct rb_error *err);

/*
 * Set no_new_privs, then install the filter on every thread of the caller. Returns 0 or -errno.
 * Async-signal-safe (prctl and seccomp, nothing else): meant for a child between clone and exec,
 * after the capabilities are dropped.
 */
int rb_iso_seccomp_apply(const struct rb_iso_seccomp *f);

/* Number of BPF instructions, for `runbox info` and tests. */
size_t rb_iso_seccomp_len(const struct rb_iso_seccomp *f);

void rb_iso_seccomp_free(struct rb_iso_seccomp *f);

static inline void rb_iso_seccomp_freep(struct rb_iso_seccomp **f)
{
	rb_iso_seccomp_free(*f);
}
#define _cleanup_seccomp_ __attribute__((cleanup(rb_iso_seccomp_freep)))

#endif
