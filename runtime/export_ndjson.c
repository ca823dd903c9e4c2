/*
 * The ndjson exporter: each event one line appended to a file (O_APPEND, so lines from a batch
 * are never interleaved with another writer's). Rotation needs no signal: before each batch the
 * file's path is looked at, and when it no longer leads to the file we hold (logrotate moved or
 * removed it) the path is opened anew.
 */
#include "export-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"

struct ndjson {
	char *path;
	int fd;
};

static int open_file(struct ndjson *nd, struct rb_error *err)
{
	_cleanup_free_ char *dir = strdup(nd->path);
	int fd, r;

	if (!dir)
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	r = rb_mkdir_p(dirname(dir), 0755);
	if (r < 0)
		return rb_error_sys(err, -r, RB_INVALID_CONFIG, "creating the directory of %s",
				    nd->path);
	fd = open(nd->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0640);
	if (fd < 0)
		return rb_error_sys(err, errno, RB_INVALID_CONFIG, "opening %s", nd->path);
	if (nd->fd >= 0)
		close(nd->fd);
	nd->fd = fd;
	return 0;
}

static void nd_free(struct ndjson *nd)
{
	if (nd->fd >= 0)
		close(nd->fd);
	free(nd->path);
	free(nd);
}

static int nd_open(struct rb_rt_exporter *x, const cJSON *config, const char *field,
		   struct rb_error *err)
{
	const char *path = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(config, "path"));
	struct ndjson *nd;
	int r;

	if (!path || path[0] != '/')
		return rb_error_set(err, EINVAL, RB_INVALID_CONFIG,
				    "%s.path is required: the absolute path of the file", field);
	nd = calloc(1, sizeof(*nd));
	if (!nd)
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	nd->fd = -1;
	nd->path = strdup(path);
	if (!nd->path) {
		nd_free(nd);
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	}
	r = open_file(nd, err);
	if (r < 0) {
		rb_error_wrap(err, "%s.path", field);
		nd_free(nd);
		return r;
	}
	x->priv = nd;
	return 0;
}

/* Has the path been moved or removed from under us? */
static bool rotated(const struct ndjson *nd)
{
	struct stat a, b;

	if (stat(nd->path, &a) < 0)
		return true;
	return fstat(nd->fd, &b) < 0 || a.st_ino != b.st_ino || a.st_dev != b.st_dev;
}

static int nd_send(struct rb_rt_exporter *x, struct rb_rt_ev_text *const *batch, size_t n,
		   struct rb_error *err)
{
	struct ndjson *nd = x->priv;
	_cleanup_free_ char *buf = NULL;
	size_t len = 0, off = 0;

	if (n == 0)
		return 0;
	if ((nd->fd < 0 || rotated(nd)) && open_file(nd, err) < 0)
		return -err->errnum;
	/* each event a line: one between two, one after the last */
	buf = rb_rt_export_join(batch, n, "", "\n", "\n", &len);
	if (!buf)
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	/* one write a batch: with O_APPEND it lands whole at the end */
	while (off < len) {
		ssize_t k = write(nd->fd, buf + off, len - off);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return rb_error_sys(err, errno, RB_INTERNAL_ERROR, "writing %s", nd->path);
		off += (size_t)k;
	}
	return 0;
}

static void nd_close(struct rb_rt_exporter *x)
{
	if (x->priv)
		nd_free(x->priv);
	x->priv = NULL;
}

static const char *const nd_keys[] = {"path", NULL};

const struct rb_rt_exporter_ops rb_rt_export_ndjson = {
    .provider = "ndjson",
    .keys = nd_keys,
    .default_batch = 100,
    .default_flush_ms = 0,
    .open = nd_open,
    .send = nd_send,
    .close = nd_close,
};
