/*
 * The CLI's HTTP client: libcurl over the daemon's unix socket, JSON in and out, NDJSON streams
 * line by line, downloads straight to a file descriptor, and API errors turned into one line on
 * stderr and an exit code.
 */
#include "cli.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ERROR_MAX (64u << 10) /* bytes of a download's error answer we keep */

struct buf {
	char *data;
	size_t len;
};

struct xfer {
	CURL *curl;
	struct buf body; /* whole answer, or the unfinished line of a stream */
	rb_cli_line_fn line_fn;
	void *userdata;
	int fd;	       /* a download's destination, or -1 */
	int streaming; /* -1: not decided yet, 0: buffer, 1: deliver lines or write to fd */
	int oom;
	int write_errno;
};

static int buf_add(struct buf *b, const char *data, size_t len)
{
	char *grown = realloc(b->data, b->len + len + 1);

	if (!grown)
		return -1;
	memcpy(grown + b->len, data, len);
	b->data = grown;
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

static void deliver(struct xfer *x, const char *text, size_t len)
{
	cJSON *line = cJSON_ParseWithLength(text, len);

	if (line)
		x->line_fn(line, x->userdata);
	cJSON_Delete(line);
}

/* Deliver every complete line in the buffer, keeping the unfinished tail (or, at the end,
 * delivering it too). */
static void deliver_lines(struct xfer *x, bool at_end)
{
	size_t start = 0;
	char *nl;

	while (start < x->body.len &&
	       (nl = memchr(x->body.data + start, '\n', x->body.len - start))) {
		deliver(x, x->body.data + start, (size_t)(nl - x->body.data) - start);
		start = (size_t)(nl - x->body.data) + 1;
	}
	if (at_end && start < x->body.len) {
		deliver(x, x->body.data + start, x->body.len - start);
		start = x->body.len;
	}
	memmove(x->body.data, x->body.data + start, x->body.len - start);
	x->body.len -= start;
}

/* All of data to fd; 0, or the errno. */
static int write_all(int fd, const char *data, size_t len)
{
	for (size_t off = 0; off < len;) {
		ssize_t n = write(fd, data + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno;
		off += (size_t)n;
	}
	return 0;
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct xfer *x = ud;
	size_t len = size * nmemb, keep = len;

	if (x->streaming < 0) {
		long status = 0;

		curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &status);
		/* only a successful answer streams; an error answer is one JSON document */
		x->streaming = (x->line_fn || x->fd >= 0) && status >= 200 && status < 300;
	}
	if (x->streaming && x->fd >= 0) {
		x->write_errno = write_all(x->fd, ptr, len);
		return x->write_errno ? 0 : len; /* 0 aborts the transfer */
	}
	if (x->fd >= 0 && x->body.len + len > ERROR_MAX)
		keep = ERROR_MAX - x->body.len;
	if (buf_add(&x->body, ptr, keep) < 0) {
		x->oom = 1;
		return 0;
	}
	if (x->streaming)
		deliver_lines(x, false);
	return len;
}

int rb_cli_print_api_error(const cJSON *answer, long status)
{
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(answer, "error");
	const cJSON *code = cJSON_GetObjectItemCaseSensitive(e, "code");
	const cJSON *msg = cJSON_GetObjectItemCaseSensitive(e, "message");

	if (cJSON_IsString(code) && cJSON_IsString(msg))
		fprintf(stderr, "runbox: %s: %s\n", code->valuestring, msg->valuestring);
	else
		fprintf(stderr, "runbox: the daemon answered HTTP %ld without an error body\n",
			status);
	return RB_EXIT_API;
}

char *rb_cli_api_path(const char *prefix, const char *segment, const char *suffix)
{
	_cleanup_free_ char *esc = rb_cli_escape(segment);
	char *path = NULL;

	if (!esc || asprintf(&path, "%s%s%s", prefix, esc, suffix ? suffix : "") < 0)
		return NULL;
	return path;
}

char *rb_cli_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = malloc(strlen(s) * 3 + 1), *w = out;

	if (!out)
		return NULL;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~", *p)) {
			*w++ = (char)*p;
		} else {
			*w++ = '%';
			*w++ = hex[*p >> 4];
			*w++ = hex[*p & 15];
		}
	}
	*w = '\0';
	return out;
}

/* One exchange. Returns the curl code; *status is the HTTP status (0 if none). */
static CURLcode perform(struct rb_cli *cli, const char *method, const char *path, const char *body,
			const char *accept, struct xfer *x, long *status)
{
	struct curl_slist *headers = NULL;
	_cleanup_free_ char *url = NULL;
	char accept_hdr[128];
	CURLcode rc;

	*status = 0;
	if (asprintf(&url, "http://runbox%s", path) < 0)
		return CURLE_OUT_OF_MEMORY;
	x->curl = curl_easy_init();
	if (!x->curl)
		return CURLE_FAILED_INIT;
	headers = curl_slist_append(headers, "Expect:");
	if (accept) {
		snprintf(accept_hdr, sizeof(accept_hdr), "Accept: %s", accept);
		headers = curl_slist_append(headers, accept_hdr);
	}
	if (body) {
		headers = curl_slist_append(headers, "Content-Type: application/json");
		curl_easy_setopt(x->curl, CURLOPT_POSTFIELDS, body);
	}
	curl_easy_setopt(x->curl, CURLOPT_UNIX_SOCKET_PATH, cli->socket_path);
	curl_easy_setopt(x->curl, CURLOPT_URL, url);
	curl_easy_setopt(x->curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(x->curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(x->curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(x->curl, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(x->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(x->curl, CURLOPT_CONNECTTIMEOUT, 5L);
	rc = curl_easy_perform(x->curl);
	*status = 0;
	curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, status);
	curl_slist_free_all(headers);
	curl_easy_cleanup(x->curl);
	x->curl = NULL;
	return rc;
}

/* A whole (non-streamed) answer: the JSON document, or the error it carries. */
static int finish_call(struct xfer *x, long status, cJSON **out)
{
	_cleanup_free_ char *data = x->body.data;
	_cleanup_json_ cJSON *json = x->body.len ? cJSON_ParseWithLength(data, x->body.len) : NULL;

	if (status < 200 || status >= 300)
		return rb_cli_print_api_error(json, status);
	if (x->body.len && !json) {
		fprintf(stderr, "runbox: the daemon answered HTTP %ld with malformed JSON\n",
			status);
		return RB_EXIT_API;
	}
	if (out)
		*out = TAKE_PTR(json);
	return RB_EXIT_OK;
}

/* One exchange, starting the daemon when none answers and the verb wants one. RB_EXIT_OK when
 * an answer came, whatever its status (its body, unless streamed, in x->body); else the exit
 * code after printing what went wrong, and x->body is freed. */
static int exchange(struct rb_cli *cli, const char *method, const char *path, const cJSON *body,
		    const char *accept, struct xfer *x, long *status)
{
	_cleanup_free_ char *text = body ? cJSON_PrintUnformatted(body) : NULL;
	const struct xfer fresh = *x;
	CURLcode rc;

	rc = perform(cli, method, path, text, accept, x, status);
	if (rc == CURLE_COULDNT_CONNECT && cli->autostart && !cli->autostarted) {
		int r = rb_cli_autostart(cli);

		if (r != RB_EXIT_OK)
			return r;
		free(x->body.data);
		*x = fresh;
		rc = perform(cli, method, path, text, accept, x, status);
	}
	if (rc == CURLE_OK)
		return RB_EXIT_OK;
	free(x->body.data);
	x->body = (struct buf){0};
	if (rc == CURLE_COULDNT_CONNECT) {
		if (!cli->quiet_unreachable)
			fprintf(stderr,
				"runbox: cannot reach the daemon at %s (is `runbox serve` "
				"running?)\n",
				cli->socket_path);
		return RB_EXIT_UNREACHABLE;
	}
	if (x->write_errno) {
		fprintf(stderr, "runbox: writing: %s\n", strerror(x->write_errno));
		return RB_EXIT_API;
	}
	fprintf(stderr, "runbox: talking to the daemon at %s: %s\n", cli->socket_path,
		x->oom ? "out of memory" : curl_easy_strerror(rc));
	return *status ? RB_EXIT_API : RB_EXIT_UNREACHABLE;
}

int rb_cli_call(struct rb_cli *cli, const char *method, const char *path, const cJSON *body,
		cJSON **out)
{
	struct xfer x = {.fd = -1, .streaming = -1};
	long status = 0;
	int rc;

	if (out)
		*out = NULL;
	rc = exchange(cli, method, path, body, NULL, &x, &status);
	return rc == RB_EXIT_OK ? finish_call(&x, status, out) : rc;
}

int rb_cli_call_print(struct rb_cli *cli, const char *method, const char *path, const cJSON *body)
{
	_cleanup_json_ cJSON *answer = NULL;
	int rc = rb_cli_call(cli, method, path, body, &answer);

	if (rc == RB_EXIT_OK)
		rb_cli_print_json(answer);
	return rc;
}

int rb_cli_stream(struct rb_cli *cli, const char *method, const char *path, const cJSON *body,
		  rb_cli_line_fn fn, void *userdata)
{
	struct xfer x = {.line_fn = fn, .userdata = userdata, .fd = -1, .streaming = -1};
	long status = 0;
	int rc = exchange(cli, method, path, body, "application/x-ndjson", &x, &status);

	if (rc != RB_EXIT_OK)
		return rc;
	if (x.streaming != 1)
		return finish_call(&x, status, NULL);
	deliver_lines(&x, true);
	free(x.body.data);
	return RB_EXIT_OK;
}

int rb_cli_download(struct rb_cli *cli, const char *path, const char *accept, int fd, cJSON **error,
		    long *status)
{
	struct xfer x = {.fd = fd, .streaming = -1};
	_cleanup_json_ cJSON *answer = NULL;
	int rc = exchange(cli, "GET", path, NULL, accept, &x, status);

	if (rc != RB_EXIT_OK)
		return rc;
	if (*status >= 200 && *status < 300) {
		free(x.body.data);
		return RB_EXIT_OK;
	}
	answer = x.body.len ? cJSON_ParseWithLength(x.body.data, x.body.len) : NULL;
	free(x.body.data);
	if (!error)
		return rb_cli_print_api_error(answer, *status);
	*error = TAKE_PTR(answer);
	return RB_EXIT_API;
}
