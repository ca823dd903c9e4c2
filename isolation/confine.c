/* The confinement a sandbox's first process puts on itself, and so on everything after it:
 * Docker's default capabilities, no_new_privs, Docker's default seccomp filter. The filter is
 * compiled once per daemon; applying it in the child is two system calls. */
#include <errno.h>
#include <stddef.h>
#include <sys/prctl.h>

#include "caps.h"
#include "isolation-internal.h"
#include "seccomp.h"

int rb_iso_confine_prepare(struct rb_iso_confine *c, struct rb_error *err)
{
	struct rb_iso_seccomp *f = NULL;
	int r;

	c->seccomp = NULL;
	c->caps = rb_iso_caps_default_mask();
	c->last_cap = rb_iso_caps_last_cap();
	if (c->last_cap < 0)
		return rb_error_set(err, -c->last_cap, RB_INTERNAL_ERROR,
				    "read /proc/sys/kernel/cap_last_cap");
	r = rb_iso_seccomp_compile(&f, err);
	if (r < 0)
		return r;
	c->seccomp = f;
	return 0;
}

void rb_iso_confine_release(struct rb_iso_confine *c)
{
	rb_iso_seccomp_free(c->seccomp);
	c->seccomp = NULL;
}

int rb_iso_confine_apply(const struct rb_iso_confine *c, const char **step)
{
	int r = rb_iso_caps_apply(c->caps, c->last_cap);

	if (r < 0) {
		*step = "drop capabilities";
		errno = -r;
		return r;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		*step = "set no_new_privs";
		return -errno;
	}
	/* last: the filter would refuse some of what comes before it */
	r = rb_iso_seccomp_apply(c->seccomp);
	if (r < 0) {
		*step = "load the seccomp filter";
		errno = -r;
		return r;
	}
	return 0;
}
