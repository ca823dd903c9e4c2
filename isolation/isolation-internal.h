#ifndef RB_ISOLATION_INTERNAL_H
#define RB_ISOLATION_INTERNAL_H

#include <signal.h>

#include "isolation.h"

/* What a sandbox's first process applies to itself before executing the agent: capabilities,
 * no_new_privs and the seccomp filter, all prepared by the daemon once. */
struct rb_iso_seccomp;
struct rb_iso_confine {
	uint64_t caps;
	int last_cap;
	struct rb_iso_seccomp *seccomp;
};
int rb_iso_confine_prepare(struct rb_iso_confine *c, struct rb_error *err);
void rb_iso_confine_release(struct rb_iso_confine *c);
/* Async-signal-safe. */
int rb_iso_confine_apply(const struct rb_iso_confine *c, const char **step);

struct rb_iso_ctx {
	int agent_memfd;
	char *attach_dir;
	struct rb_iso_confine confine;
	sigset_t ignored; /* the signals the daemon ignores: the sandbox starts with none */
};

#endif
