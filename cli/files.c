/*
 * runbox files ls|cat|write|rm|mkdir: a sandbox's files, through the API's files routes (the
 * agent resolves every path inside the sandbox). Reads come as octet-stream and go to their
 * file descriptor as they arrive; writes go as base64 JSON, which the API takes up to 32 MiB.
 */
#include "cli.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/evp.h>

#define UPLOAD_MAX (32u << 20) /* the API's RB_RT_FILE_JSON_MAX */
#define ERROR_MAX  (64u << 10) /* bytes of an error answer we keep */

struct sink {
	CURL *curl;
	int fd;
	int ok; /* -1 undecided, 1 a 2xx answer (to fd), 0 an error (to err) */
	char *err;
	size_t err_len;
	int write_errno;
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct sink *s = ud;
	size_t len = size * nmemb;

	if (s->ok < 0) {
		long status = 0;

		curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &status);
		s->ok = status >= 200 && status < 300;
	}
	if (!s->ok) {
		size_t keep = s->err_len + len > ERROR_MAX ? ERROR_MAX - s->err_len : len;
		char *grown = realloc(s->err, s->err_len + keep + 1);

		if (!grown)
			return 0;
		memcpy(grown + s->err_len, ptr, keep);
		s->err = grown;
		s->err_len += keep;
		s->err[s->err_len] = '\0';
		return len;
	}
	for (size_t off = 0; off < len;) {
		ssize_t n = write(s->fd, ptr + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			s->write_errno = errno;
			return 0; /* aborts the transfer */
		}
		off += (size_t)n;
	}
	return len;
}

static CURLcode get(struct rb_cli *cli, const char *path, const char *accept, struct sink *s,
		    long *status)
{
	struct curl_slist *headers = NULL;
	_cleanup_free_ char *url = NULL, *hdr = NULL;
	CURLcode rc;

	*status = 0;
	if (asprintf(&url, "http://runbox%s", path) < 0 ||
	    (accept && asprintf(&hdr, "Accept: %s", accept) < 0))
		return CURLE_OUT_OF_MEMORY;
	s->curl = curl_easy_init();
	if (!s->curl)
		return CURLE_FAILED_INIT;
	if (hdr)
		headers = curl_slist_append(headers, hdr);
	curl_easy_setopt(s->curl, CURLOPT_UNIX_SOCKET_PATH, cli->socket_path);
	curl_easy_setopt(s->curl, CURLOPT_URL, url);
	curl_easy_setopt(s->curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(s->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(s->curl, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(s->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(s->curl, CURLOPT_CONNECTTIMEOUT, 5L);
	rc = curl_easy_perform(s->curl);
	*status = 0;
	curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, status);
	curl_slist_free_all(headers);
	curl_easy_cleanup(s->curl);
	s->curl = NULL;
	return rc;
}

int rb_cli_download(struct rb_cli *cli, const char *path, const char *accept, int fd, cJSON **error,
		    long *status)
{
	struct sink s = {.fd = fd, .ok = -1};
	_cleanup_json_ cJSON *answer = NULL;
	CURLcode rc = get(cli, path, accept, &s, status);

	if (rc == CURLE_COULDNT_CONNECT && cli->autostart && !cli->autostarted) {
		int r = rb_cli_autostart(cli);

		if (r != RB_EXIT_OK)
			return r;
		free(s.err);
		s = (struct sink){.fd = fd, .ok = -1};
		rc = get(cli, path, accept, &s, status);
	}
	if (rc == CURLE_COULDNT_CONNECT) {
		fprintf(stderr,
			"runbox: cannot reach the daemon at %s (is `runbox serve` running?)\n",
			cli->socket_path);
		free(s.err);
		return RB_EXIT_UNREACHABLE;
	}
	if (s.write_errno) {
		fprintf(stderr, "runbox: writing: %s\n", strerror(s.write_errno));
		free(s.err);
		return RB_EXIT_API;
	}
	if (rc != CURLE_OK) {
		fprintf(stderr, "runbox: talking to the daemon at %s: %s\n", cli->socket_path,
			curl_easy_strerror(rc));
		free(s.err);
		return *status ? RB_EXIT_API : RB_EXIT_UNREACHABLE;
	}
	if (*status >= 200 && *status < 300) {
		free(s.err);
		return RB_EXIT_OK;
	}
	answer = s.err ? cJSON_Parse(s.err) : NULL;
	free(s.err);
	if (!error)
		return rb_cli_print_api_error(answer, *status);
	*error = TAKE_PTR(answer);
	return RB_EXIT_API;
}

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
	_cleanup_free_ char *data = NULL, *b64 = NULL, *url = NULL;
	_cleanup_json_ cJSON *body = cJSON_CreateObject(), *answer = NULL;
	_cleanup_free_ char *eid = rb_cli_escape(id);
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
	if (!b64 || !body || !eid || asprintf(&url, "/api/v1/sandboxes/%s/files", eid) < 0)
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

static int ls(struct rb_cli *cli, const struct rb_cli_verb *self, int argc, char **argv);
static int cat(struct rb_cli *cli, const struct rb_cli_verb *self, int argc, char **argv);
static int write_(struct rb_cli *cli, const struct rb_cli_verb *self, int argc, char **argv);
static int rm(struct rb_cli *cli, const struct rb_cli_verb *self, int argc, char **argv);
static int mkdir_(struct rb_cli *cli, const struct rb_cli_verb *self, int argc, char **argv);

static const struct rb_cli_verb subs[] = {
    {"files ls", ls, true, "files ls [--json] ID [PATH]",
     "List a directory in a sandbox (default: its workdir)",
     "      --json   print the entries as JSON\n"},
    {"files cat", cat, true, "files cat ID PATH", "Print a sandbox's file, byte for byte", ""},
    {"files write", write_, true, "files write [-m MODE] ID PATH [FILE|-]",
     "Write a file in a sandbox from FILE or standard input",
     "  -m, --mode MODE   permissions, in octal (default: FILE's, else 0644)\n"},
    {"files rm", rm, true, "files rm [-r] ID PATH", "Remove a file from a sandbox",
     "  -r, --recursive   a directory and what it holds\n"},
    {"files mkdir", mkdir_, true, "files mkdir [-p] ID PATH", "Make a directory in a sandbox",
     "  -p, --parents     parents too, and no error if it exists\n"},
};

/* Flags of a sub-command: 'h' and the given ones; the operands' count must be in [lo, hi]. */
static int parse(const struct rb_cli_verb *self, int argc, char **argv, const char *shortopts,
		 const struct option *opts, int lo, int hi, int (*on_opt)(int c, void *ud),
		 void *ud)
{
	int c;

	while ((c = rb_cli_getopt(self, argc, argv, shortopts, opts)) != -1) {
		if (c == 'h')
			return -1;
		if (c == '?' || !on_opt || on_opt(c, ud) != RB_EXIT_OK)
			return RB_EXIT_USAGE;
	}
	if (argc - optind < lo)
		return rb_cli_usage_error(self, "%s needs %s", self->name,
					  lo == 1 ? "a sandbox id" : "a sandbox id and a path");
	if (argc - optind > hi)
		return rb_cli_usage_error(self, "unexpected argument \"%s\"", argv[optind + hi]);
	return RB_EXIT_OK;
}

#define PARSE(shortopts, opts, lo, hi, fn, ud)                                                     \
	do {                                                                                       \
		int _r = parse(self, argc, argv, shortopts, opts, lo, hi, fn, ud);                 \
		if (_r)                                                                            \
			return _r < 0 ? RB_EXIT_OK : _r;                                           \
	} while (0)

static const struct option help_only[] = {
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int on_json(int c, void *ud)
{
	struct rb_cli *cli = ud;

	if (c != RB_OPT_JSON)
		return RB_EXIT_USAGE;
	cli->json = true;
	return RB_EXIT_OK;
}

static int on_flag(int c, void *ud)
{
	*(bool *)ud = true;
	return RB_EXIT_OK;
}

static int ls(struct rb_cli *cli, const struct rb_cli_verb *self, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, RB_OPT_JSON},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	_cleanup_free_ char *url = NULL;
	_cleanup_json_ cJSON *answer = NULL;
	const cJSON *entries, *e;
	int rc;

	PARSE("h", opts, 1, 2, on_json, cli);
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
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(e, "name");
		const cJSON *size = cJSON_GetObjectItemCaseSensitive(e, "sizeBytes");
		const cJSON *when = cJSON_GetObjectItemCaseSensitive(e, "modifiedAt");
		bool dir = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "isDirectory"));
		bool link = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "isSymlink"));
		const char *w = cJSON_IsString(when) ? when->valuestring : "";

		/* "2026-11-22T06:34:00.081Z" -> "2026-11-22 06:34" */
		printf("%c %12.0f  %.10s %.5s  %s%s\n",
		       link  ? 'l'
		       : dir ? 'd'
			     : '-',
		       cJSON_IsNumber(size) ? size->valuedouble : 0, w,
		       strlen(w) > 11 ? w + 11 : "", cJSON_IsString(name) ? name->valuestring : "",
		       dir ? "/" : "");
	}
	return RB_EXIT_OK;
}

static int cat(struct rb_cli *cli, const struct rb_cli_verb *self, int argc, char **argv)
{
	_cleanup_free_ char *url = NULL;
	long status;

	PARSE("h", help_only, 2, 2, NULL, NULL);
	url = rb_cli_files_url(argv[optind], "", argv[optind + 1], NULL);
	if (!url)
		return RB_EXIT_API;
	fflush(stdout);
	return rb_cli_download(cli, url, "application/octet-stream", STDOUT_FILENO, NULL, &status);
}

static int on_mode(int c, void *ud)
{
	char *end;
	long m;

	if (c != 'm')
		return RB_EXIT_USAGE;
	m = strtol(optarg, &end, 8);
	if (!*optarg || *end || m < 0 || m > 07777) {
		rb_cli_usage_error(&subs[2], "--mode needs octal permissions, not \"%s\"", optarg);
		return RB_EXIT_USAGE;
	}
	*(int *)ud = (int)m;
	return RB_EXIT_OK;
}

static int write_(struct rb_cli *cli, const struct rb_cli_verb *self, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"mode", required_argument, NULL, 'm'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	_cleanup_close_ int fd = -1;
	const char *from;
	struct stat st;
	int mode = -1;

	PARSE("hm:", opts, 2, 3, on_mode, &mode);
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
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	_cleanup_free_ char *url = NULL;
	_cleanup_json_ cJSON *answer = NULL;
	bool recursive = false;

	PARSE("hrR", opts, 2, 2, on_flag, &recursive);
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
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	_cleanup_free_ char *eid = NULL, *url = NULL;
	_cleanup_json_ cJSON *body = cJSON_CreateObject(), *answer = NULL;
	bool parents = false;

	PARSE("hp", opts, 2, 2, on_flag, &parents);
	eid = rb_cli_escape(argv[optind]);
	if (!body || !eid || asprintf(&url, "/api/v1/sandboxes/%s/files/mkdir", eid) < 0)
		return RB_EXIT_API;
	cJSON_AddStringToObject(body, "path", argv[optind + 1]);
	cJSON_AddBoolToObject(body, "recursive", parents);
	return rb_cli_call(cli, "POST", url, body, &answer);
}

static int run(struct rb_cli *cli, const struct rb_cli_verb *self, int argc, char **argv)
{
	if (argc < 2)
		return rb_cli_usage_error(self,
					  "files needs a command: ls, cat, write, rm or mkdir");
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		printf("Usage: runbox %s\n\n%s\n\nCommands:\n", self->usage, self->summary);
		for (size_t i = 0; i < RB_ARRAY_SIZE(subs); i++)
			printf("  %-8s %s\n", subs[i].name + strlen("files "), subs[i].summary);
		return RB_EXIT_OK;
	}
	for (size_t i = 0; i < RB_ARRAY_SIZE(subs); i++)
		if (!strcmp(subs[i].name + strlen("files "), argv[1]))
			return subs[i].run(cli, &subs[i], argc - 1, argv + 1);
	return rb_cli_usage_error(self, "unknown command \"files %s\"", argv[1]);
}

const struct rb_cli_verb rb_cli_verb_files = {
    .name = "files",
    .run = run,
    .needs_daemon = true,
    .usage = "files COMMAND [ARG...]",
    .summary = "A sandbox's files: ls, cat, write, rm, mkdir",
    .help = "",
};
