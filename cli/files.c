/*
 * runbox files ls|cat|write|rm|mkdir: a sandbox's files, through the API's files routes (the
 * agent resolves every path inside the sandbox). Reads come as octet-stream and go to their
 * file descriptor as they arrive; writes go as base64 JSON, which the API takes up to 32 MiB.
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/evp.h>

#define UPLOAD_MAX (32u << 20) /* the API's RB_RT_FILE_JSON_MAX */

char *rb_cli_files_url(const char *id, const char *suffix, const char *path, const char *extra)
{
	_cleanup_free_ char *eid = rb_cli_escape(id), *epath = rb_cli_escape(path);
	char *url = NULL;

	if (!eid || !epath ||
	    asprintf(&url, "/api/v1/sandboxes/%s/files%s?path=%s%s", eid, suffix, epath,
		     extra ? extra : "") < 0)
		return NULL;
	return url;
}

int rb_cli_upload(struct rb_cli *cli, const char *id, const char *path, int fd, int mode)
{
	_cleanup_free_ char *data = NULL, *b64 = NULL;
	_cleanup_free_ char *url = rb_cli_api_path("/api/v1/sandboxes/", id, "/files");
	_cleanup_json_ cJSON *body = cJSON_CreateObject(), *answer = NULL;
	size_t len = 0, cap = 0;

	for (;;) {
		if (len == cap) {
			char *grown;

			if (cap >= UPLOAD_MAX) {
				fprintf(stderr,
					"runbox: %s: more than 32 MiB, which the files API "
					"does not take yet\n",
					path);
				return RB_EXIT_API;
			}
			cap = cap ? cap * 2 : 64 * 1024;
			grown = realloc(data, cap + 1);
			if (!grown)
				return RB_EXIT_API;
			data = grown;
		}
		ssize_t n =
		    read(fd, data + len, (cap < UPLOAD_MAX + 1 ? cap : UPLOAD_MAX + 1) - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "runbox: reading: %s\n", strerror(errno));
			return RB_EXIT_API;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > UPLOAD_MAX) {
		fprintf(stderr,
			"runbox: %s: more than 32 MiB, which the files API does not take "
			"yet\n",
			path);
		return RB_EXIT_API;
	}
	b64 = malloc(4 * ((len + 2) / 3) + 1);
	if (!b64 || !body || !url)
		return RB_EXIT_API;
	EVP_EncodeBlock((unsigned char *)b64, (unsigned char *)(data ? data : ""), (int)len);
	cJSON_AddStringToObject(body, "path", path);
	cJSON_AddStringToObject(body, "content", b64);
	cJSON_AddStringToObject(body, "encoding", "base64");
	if (mode >= 0)
		cJSON_AddNumberToObject(body, "mode", mode & 07777);
	return rb_cli_call(cli, "POST", url, body, &answer);
}

/* ---- the sub-commands ---- */

static int ls(struct rb_cli *cli, const struct rb_cli_verb *self, int argc, char **argv)
{
	static const struct option opts[] = {RB_CLI_OPT_JSON, RB_CLI_OPTS_END};
	_cleanup_free_ char *url = NULL;
	_cleanup_json_ cJSON *answer = NULL;
	const cJSON *entries, *e;
	int c, rc;

	while ((c = rb_cli_getopt(cli, self, argc, argv, "", opts)) != -1)
		return rb_cli_opt_exit(c);
	url = rb_cli_files_url(argv[optind], "/list", optind + 1 < argc ? argv[optind + 1] : ".",
			       NULL);
	if (!url)
		return RB_EXIT_API;
	if ((rc = rb_cli_call(cli, "GET", url, NULL, &answer)) != RB_EXIT_OK)
		return rc;
	entries = cJSON_GetObjectItemCaseSensitive(answer, "entries");
	if (cli->json) {
		rb_cli_print_json(entries);
		return RB_EXIT_OK;
	}
	cJSON_ArrayForEach(e, entries)
	{
		const cJSON *size = cJSON_GetObjectItemCaseSensitive(e, "sizeBytes");
		bool dir = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "isDirectory"));
		bool link = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "isSymlink"));
		const char *w = rb_cli_str(e, "modifiedAt");

		/* "2026-11-22T06:34:00.081Z" -> "2026-11-22 06:34" */
		printf("%c %12.0f  %.10s %.5s  %s%s\n",
		       link  ? 'l'
		       : dir ? 'd'
			     : '-',
		       cJSON_IsNumber(size) ? size->valuedouble : 0, w,
		       strlen(w) > 11 ? w + 11 : "", rb_cli_str(e, "name"), dir ? "/" : "");
	}
	return RB_EXIT_OK;
}

static int cat(struct rb_cli *cli, const struct rb_cli_verb *self, int argc, char **argv)
{
	static const struct option opts[] = {RB_CLI_OPTS_END};
	_cleanup_free_ char *url = NULL;
	long status;
	int c;

	while ((c = rb_cli_getopt(cli, self, argc, argv, "", opts)) != -1)
		return rb_cli_opt_exit(c);
	url = rb_cli_files_url(argv[optind], "", argv[optind + 1], NULL);
	if (!url)
		return RB_EXIT_API;
	fflush(stdout);
	return rb_cli_download(cli, url, "application/octet-stream", STDOUT_FILENO, NULL, &status);
}

static int write_(struct rb_cli *cli, const struct rb_cli_verb *self, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"mode", required_argument, NULL, 'm'},
	    RB_CLI_OPTS_END,
	};
	_cleanup_close_ int fd = -1;
	const char *from;
	struct stat st;
	int c, mode = -1;
	char *end;
	long m;

	while ((c = rb_cli_getopt(cli, self, argc, argv, "m:", opts)) != -1) {
		if (c != 'm')
			return rb_cli_opt_exit(c);
		m = strtol(optarg, &end, 8);
		if (!*optarg || *end || m < 0 || m > 07777)
			return rb_cli_usage_error(
			    self, "--mode needs octal permissions, not \"%s\"", optarg);
		mode = (int)m;
	}
	from = optind + 2 < argc ? argv[optind + 2] : "-";
	if (strcmp(from, "-")) {
		fd = open(from, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &st) < 0) {
			fprintf(stderr, "runbox: %s: %s\n", from, strerror(errno));
			return RB_EXIT_API;
		}
		if (S_ISDIR(st.st_mode)) {
			fprintf(stderr, "runbox: %s is a directory\n", from);
			return RB_EXIT_API;
		}
		if (mode < 0)
			mode = (int)(st.st_mode & 07777);
	}
	return rb_cli_upload(cli, argv[optind], argv[optind + 1], fd >= 0 ? fd : STDIN_FILENO,
			     mode);
}

static int rm(struct rb_cli *cli, const struct rb_cli_verb *self, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"recursive", no_argument, NULL, 'r'},
	    RB_CLI_OPTS_END,
	};
	_cleanup_free_ char *url = NULL;
	_cleanup_json_ cJSON *answer = NULL;
	bool recursive = false;
	int c;

	while ((c = rb_cli_getopt(cli, self, argc, argv, "rR", opts)) != -1) {
		if (c != 'r' && c != 'R')
			return rb_cli_opt_exit(c);
		recursive = true;
	}
	url = rb_cli_files_url(argv[optind], "", argv[optind + 1],
			       recursive ? "&recursive=true" : NULL);
	if (!url)
		return RB_EXIT_API;
	return rb_cli_call(cli, "DELETE", url, NULL, &answer);
}

static int mkdir_(struct rb_cli *cli, const struct rb_cli_verb *self, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"parents", no_argument, NULL, 'p'},
	    RB_CLI_OPTS_END,
	};
	_cleanup_free_ char *url = NULL;
	_cleanup_json_ cJSON *body = cJSON_CreateObject(), *answer = NULL;
	bool parents = false;
	int c;

	while ((c = rb_cli_getopt(cli, self, argc, argv, "p", opts)) != -1) {
		if (c != 'p')
			return rb_cli_opt_exit(c);
		parents = true;
	}
	url = rb_cli_api_path("/api/v1/sandboxes/", argv[optind], "/files/mkdir");
	if (!body || !url)
		return RB_EXIT_API;
	cJSON_AddStringToObject(body, "path", argv[optind + 1]);
	cJSON_AddBoolToObject(body, "recursive", parents);
	return rb_cli_call(cli, "POST", url, body, &answer);
}

/* A sub-command: its operands are a sandbox id, then (from 2) a path. */
#define SUB(name_, fn, usage_, summary_, help_, min, max)                                          \
	{                                                                                          \
		.name = (name_), .run = (fn), .needs_daemon = true, .usage = (usage_),             \
		.summary = (summary_), .help = (help_), .min_args = (min), .max_args = (max),      \
		.needs = (min) == 1 ? "a sandbox id" : "a sandbox id and a path"                   \
	}
static const struct rb_cli_verb ls_verb =
    SUB("files ls", ls, "files ls [--json] ID [PATH]",
	"List a directory in a sandbox (default: its workdir)",
	"      --json   print the entries as JSON\n", 1, 2);
static const struct rb_cli_verb cat_verb =
    SUB("files cat", cat, "files cat ID PATH", "Print a sandbox's file, byte for byte", "", 2, 2);
static const struct rb_cli_verb write_verb =
    SUB("files write", write_, "files write [-m MODE] ID PATH [FILE|-]",
	"Write a file in a sandbox from FILE or standard input",
	"  -m, --mode MODE   permissions, in octal (default: FILE's, else 0644)\n", 2, 3);
static const struct rb_cli_verb rm_verb =
    SUB("files rm", rm, "files rm [-r] ID PATH", "Remove a file from a sandbox",
	"  -r, --recursive   a directory and what it holds\n", 2, 2);
static const struct rb_cli_verb mkdir_verb =
    SUB("files mkdir", mkdir_, "files mkdir [-p] ID PATH", "Make a directory in a sandbox",
	"  -p, --parents     parents too, and no error if it exists\n", 2, 2);

static const struct rb_cli_sub subs[] = {
    {"ls", &ls_verb, NULL}, {"cat", &cat_verb, NULL},	  {"write", &write_verb, NULL},
    {"rm", &rm_verb, NULL}, {"mkdir", &mkdir_verb, NULL},
};

static int run(struct rb_cli *cli, const struct rb_cli_verb *self, int argc, char **argv)
{
	return rb_cli_run_sub(cli, self, subs, RB_ARRAY_SIZE(subs), argc, argv);
}

const struct rb_cli_verb rb_cli_verb_files = {
    .name = "files",
    .run = run,
    .needs_daemon = true,
    .usage = "files COMMAND [ARG...]",
    .summary = "A sandbox's files: ls, cat, write, rm, mkdir",
    .help = "",
};
