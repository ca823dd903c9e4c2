/*
 * runbox cp SRC DST, one side ID:PATH: a file between the host and a sandbox. Into the sandbox
 * it goes as base64 JSON; out of it as octet-stream written to disk as it arrives, into a
 * temporary file renamed over DST once whole. Directories are not copied yet.
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fsutil.h"

struct loc {
	char *id; /* NULL: the host */
	const char *path;
};

/* "ID:PATH" names a sandbox when what comes before the colon is a word without '/', as docker
 * reads CONTAINER:PATH; write ./a:b for a host file with a colon. */
static int parse_loc(const struct rb_cli_verb *v, const char *arg, struct loc *l)
{
	const char *colon = strchr(arg, ':');

	l->id = NULL;
	l->path = arg;
	if (colon && colon > arg && !memchr(arg, '/', (size_t)(colon - arg))) {
		l->id = strndup(arg, (size_t)(colon - arg));
		l->path = colon + 1;
		if (!l->id)
			return RB_EXIT_API;
	}
	if (!*l->path)
		return rb_cli_usage_error(v, "\"%s\" has no path", arg);
	return RB_EXIT_OK;
}

/* A directory in the sandbox? It lists. */
static bool sandbox_dir(struct rb_cli *cli, const char *id, const char *path)
{
	_cleanup_free_ char *url = rb_cli_files_url(id, "/list", path, NULL);
	_cleanup_close_ int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	_cleanup_json_ cJSON *error = NULL;
	long status;

	return url && null >= 0 &&
	       rb_cli_download(cli, url, NULL, null, &error, &status) == RB_EXIT_OK;
}

static const char *base(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

static int not_supported(const char *what)
{
	fprintf(stderr, "runbox: cp: %s is a directory: copying directories is not supported yet\n",
		what);
	return RB_EXIT_API;
}

static int to_sandbox(struct rb_cli *cli, const char *src, const struct loc *dst)
{
	_cleanup_close_ int fd = open(src, O_RDONLY | O_CLOEXEC);
	_cleanup_free_ char *target = NULL;
	size_t n = strlen(dst->path);
	struct stat st;

	if (fd < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "runbox: cp: %s: %s\n", src, strerror(errno));
		return RB_EXIT_API;
	}
	if (S_ISDIR(st.st_mode))
		return not_supported(src);
	if (!S_ISREG(st.st_mode)) {
		fprintf(stderr, "runbox: cp: %s is not a regular file\n", src);
		return RB_EXIT_API;
	}
	/* into a directory, under the file's own name, as cp does */
	if (dst->path[n - 1] == '/' || sandbox_dir(cli, dst->id, dst->path))
		target = rb_path_join(dst->path, base(src));
	else
		target = strdup(dst->path);
	if (!target)
		return RB_EXIT_API;
	return rb_cli_upload(cli, dst->id, target, fd, (int)(st.st_mode & 07777));
}

static int from_sandbox(struct rb_cli *cli, const struct loc *src, const char *dst)
{
	_cleanup_free_ char *target = NULL, *dircopy = NULL, *tmp = NULL, *url = NULL;
	_cleanup_json_ cJSON *error = NULL;
	_cleanup_close_ int fd = -1;
	struct stat st;
	mode_t mask;
	long status;
	int rc;

	if (!strcmp(dst, "-")) {
		fprintf(stderr, "runbox: cp: \"-\" (a tar stream) is not supported yet; use runbox "
				"files cat\n");
		return RB_EXIT_API;
	}
	if (stat(dst, &st) == 0 && S_ISDIR(st.st_mode))
		target = rb_path_join(dst, base(src->path));
	else
		target = strdup(dst);
	dircopy = target ? strdup(target) : NULL;
	url = rb_cli_files_url(src->id, "", src->path, NULL);
	if (!dircopy || !url || asprintf(&tmp, "%s/.runbox-cp-XXXXXX", dirname(dircopy)) < 0)
		return RB_EXIT_API;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "runbox: cp: %s: %s\n", target, strerror(errno));
		return RB_EXIT_API;
	}
	rc = rb_cli_download(cli, url, "application/octet-stream", fd, &error, &status);
	if (rc == RB_EXIT_API && status) {
		if (sandbox_dir(cli, src->id, src->path))
			not_supported(src->path);
		else
			rb_cli_print_api_error(error, status);
	}
	if (rc == RB_EXIT_OK) {
		mask = umask(0);
		umask(mask);
		if (fchmod(fd, 0666 & ~mask) < 0 || rename(tmp, target) < 0) {
			fprintf(stderr, "runbox: cp: %s: %s\n", target, strerror(errno));
			rc = RB_EXIT_API;
		}
	}
	if (rc != RB_EXIT_OK)
		unlink(tmp);
	return rc;
}

static int run(struct rb_cli *cli, const struct rb_cli_verb *self, int argc, char **argv)
{
	static const struct option opts[] = {RB_CLI_OPTS_END};
	struct loc src = {0}, dst = {0};
	int c, rc;

	while ((c = rb_cli_getopt(cli, self, argc, argv, "", opts)) != -1)
		return rb_cli_opt_exit(c);
	rc = parse_loc(self, argv[optind], &src);
	if (rc == RB_EXIT_OK)
		rc = parse_loc(self, argv[optind + 1], &dst);
	if (rc == RB_EXIT_OK && !src.id == !dst.id)
		rc = rb_cli_usage_error(self, "one of SRC and DST must be ID:PATH, the other a "
					      "host path");
	if (rc == RB_EXIT_OK)
		rc = src.id ? from_sandbox(cli, &src, dst.path) : to_sandbox(cli, src.path, &dst);
	free(src.id);
	free(dst.id);
	return rc;
}

const struct rb_cli_verb rb_cli_verb_cp = {
    .name = "cp",
    .run = run,
    .needs_daemon = true,
    .usage = "cp SRC DST",
    .summary = "Copy a file between the host and a sandbox (ID:PATH)",
    .help = "",
    .min_args = 2,
    .max_args = 2,
    .needs = "a source and a destination",
};
