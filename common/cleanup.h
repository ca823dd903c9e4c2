/* Ownership helpers: cleanup attributes and explicit hand-over, as in systemd and crun. */
#ifndef RB_CLEANUP_H
#define RB_CLEANUP_H

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))

static inline void rb_freep(void *p)
{
	free(*(void **)p);
}

static inline void rb_closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}

static inline void rb_fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}

static inline void rb_closedirp(DIR **d)
{
	if (*d)
		closedir(*d);
}

#define _cleanup_free_	   _cleanup_(rb_freep)
#define _cleanup_close_	   _cleanup_(rb_closep)
#define _cleanup_fclose_   _cleanup_(rb_fclosep)
#define _cleanup_closedir_ _cleanup_(rb_closedirp)

/* Hand ownership on: the variable forgets what it held. */
#define TAKE_PTR(p)                                                                                \
	({                                                                                         \
		__typeof__(p) _taken_ = (p);                                                       \
		(p) = NULL;                                                                        \
		_taken_;                                                                           \
	})
#define TAKE_FD(fd)                                                                                \
	({                                                                                         \
		int _taken_ = (fd);                                                                \
		(fd) = -1;                                                                         \
		_taken_;                                                                           \
	})

#define RB_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
