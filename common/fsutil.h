/* Small filesystem helpers shared by the rooms; none of them follows a symlink it did not create.
 */
#ifndef RB_FSUTIL_H
#define RB_FSUTIL_H

#include <stddef.h>
#include <sys/types.h>

#include "error.h"

/* Remove name (file, symlink or whole tree) below dirfd without following symlinks. */
int rb_rm_rf_at(int dirfd, const char *name);
/* mkdir -p of an absolute or cwd-relative path; existing directories are fine. */
int rb_mkdir_p(const char *path, mode_t mode);
/* Read a whole file of at most max bytes into a NUL-terminated buffer. */
int rb_read_file(const char *path, size_t max, char **out, size_t *len, struct rb_error *err);
/* Write a file atomically: a temporary beside it, fsync'd when durable, renamed into place. */
int rb_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode);
/* Join a and b with one slash into a new string. */
char *rb_path_join(const char *a, const char *b);
/* Random lowercase letters and digits from the kernel's CSPRNG; buf gets n chars plus NUL. */
int rb_random_id(char *buf, size_t n);
/* RFC 3339 UTC timestamp with milliseconds of a CLOCK_REALTIME time in ms. */
void rb_format_time(long long ms, char buf[32]);
/* The form rb_format_time writes, back to ms since the epoch; -EINVAL for any other. */
int rb_parse_time(const char *s, long long *ms);
long long rb_now_ms(void);

#endif
