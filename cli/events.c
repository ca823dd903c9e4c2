/*
 * runbox events: the daemon's events as they happen (GET /api/v1/events, Server-Sent Events),
 * one readable line each, or each event's JSON on a line with --json. libcurl's write callback
 * collects the stream and splits it into SSE frames (a blank line ends one).
 */
#include "cli.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
	OPT_FILTER = RB_OPT_VERB_BASE,
	OPT_SINCE,
	OPT_COUNT,
};

struct sse {
	CURL *curl;
	bool json;
	long count; /* events to print before ending; 0: no end */
	long printed;
	long status;
	char *buf; /* the unfinished frame, or a whole error answer */
	size_t len;
	bool oom, done;
};

static void print_readable(const cJSON *ev)
{
	static const char *const ms[] = {"durationMs", "runtimeDurationMs", "pausedDurationMs",
					 "totalRuntimeMs", "startupMs"};
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(ev, "data");
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(d, "error");
	const char *type = rb_cli_str(ev, "type");
	const cJSON *v;
	char *rest = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&rest, &n);

	if (!f)
		return;
	if (e)
		fprintf(f, " %s: %s", rb_cli_str(e, "code"), rb_cli_str(e, "message"));
	if (cJSON_IsString(cJSON_GetObjectItemCaseSensitive(d, "command")))
		fprintf(f, " %s", rb_cli_str(d, "command"));
	if (cJSON_IsString(cJSON_GetObjectItemCaseSensitive(d, "path")))
		fprintf(f, " %s", rb_cli_str(d, "path"));
	if (cJSON_IsString(cJSON_GetObjectItemCaseSensitive(d, "image")))
		fprintf(f, " image=%s", rb_cli_str(d, "image"));
	if (cJSON_IsString(cJSON_GetObjectItemCaseSensitive(d, "reason")))
		fprintf(f, " reason=%s", rb_cli_str(d, "reason"));
	if (cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(d, "exitCode")))
		fprintf(f, " exit=%d", v->valueint);
	if (cJSON_IsString(v = cJSON_GetObjectItemCaseSensitive(d, "signal")))
		fprintf(f, " signal=%s", v->valuestring);
	if (cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(d, "sizeBytes")))
		fprintf(f, " %.0f bytes", v->valuedouble);
	for (size_t i = 0; i < RB_ARRAY_SIZE(ms); i++)
		if (cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(d, ms[i])))
			fprintf(f, " %s=%.0f", ms[i], v->valuedouble);
	fclose(f);
	printf("%s  %-18s %-13s%s%s%s\n", rb_cli_str(ev, "timestamp"), type,
	       rb_cli_str(ev, "sandboxId")[0] ? rb_cli_str(ev, "sandboxId") : "-",
	       rb_cli_str(ev, "runId")[0] ? " run=" : "", rb_cli_str(ev, "runId"),
	       rest ? rest : "");
	free(rest);
}

/* One frame: "event:", "data:" and "id:" lines; ":" lines are comments (heartbeats). */
static void frame(struct sse *s, char *text)
{
	char *event = NULL, *data = NULL, *save = NULL;
	cJSON *ev;

	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		line[strcspn(line, "\r")] = '\0';
		if (!strncmp(line, "event:", 6))
			event = line + 6 + (line[6] == ' ');
		else if (!strncmp(line, "data:", 5))
			data = line + 5 + (line[5] == ' '); /* runbox's data is one line */
	}
	if (!data)
		return;
	if (event && !strcmp(event, "dropped")) {
		cJSON *d = cJSON_Parse(data);
		const cJSON *n = cJSON_GetObjectItemCaseSensitive(d, "dropped");

		fprintf(stderr, "runbox: %.0f event(s) dropped: this reader fell behind\n",
			cJSON_IsNumber(n) ? n->valuedouble : 0);
		cJSON_Delete(d);
		return;
	}
	if (s->json) {
		printf("%s\n", data);
	} else {
		ev = cJSON_Parse(data);
		if (ev)
			print_readable(ev);
		cJSON_Delete(ev);
	}
	fflush(stdout);
	if (s->count && ++s->printed >= s->count)
		s->done = true;
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct sse *s = ud;
	size_t len = size * nmemb, start = 0;
	char *grown, *end;

	if (!s->status)
		curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &s->status);
	grown = realloc(s->buf, s->len + len + 1);
	if (!grown) {
		s->oom = true;
		return 0;
	}
	s->buf = grown;
	memcpy(s->buf + s->len, ptr, len);
	s->len += len;
	s->buf[s->len] = '\0';
	if (s->status < 200 || s->status >= 300)
		return len; /* an error answer: one JSON document, read at the end */
	while (!s->done && (end = strstr(s->buf + start, "\n\n"))) {
		*end = '\0';
		frame(s, s->buf + start);
		start = (size_t)(end - s->buf) + 2;
	}
	memmove(s->buf, s->buf + start, s->len - start + 1);
	s->len -= start;
	return s->done ? 0 : len; /* 0 ends the transfer: --count reached */
}

static int stream(struct rb_cli *cli, const char *path, struct sse *s)
{
	struct curl_slist *headers = curl_slist_append(NULL, "Accept: text/event-stream");
	_cleanup_free_ char *url = NULL;
	CURLcode rc;

	if (!headers || asprintf(&url, "http://runbox%s", path) < 0 ||
	    !(s->curl = curl_easy_init()))
		return CURLE_OUT_OF_MEMORY;
	curl_easy_setopt(s->curl, CURLOPT_UNIX_SOCKET_PATH, cli->socket_path);
	curl_easy_setopt(s->curl, CURLOPT_URL, url);
	curl_easy_setopt(s->curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(s->curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(s->curl, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(s->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(s->curl, CURLOPT_CONNECTTIMEOUT, 5L);
	rc = curl_easy_perform(s->curl);
	curl_easy_cleanup(s->curl);
	s->curl = NULL;
	curl_slist_free_all(headers);
	return (int)rc;
}

/* --filter sandbox=ID or type=T (repeatable: types add up) into the query. */
static int add_filter(const struct rb_cli_verb *self, const char *arg, char **sandbox, char **types)
{
	const char *eq = strchr(arg, '=');
	char *joined = NULL;

	if (eq && !strncmp(arg, "sandbox=", 8) && eq[1]) {
		free(*sandbox);
		*sandbox = strdup(eq + 1);
		return *sandbox ? RB_EXIT_OK : RB_EXIT_API;
	}
	if (eq && !strncmp(arg, "type=", 5) && eq[1]) {
		if (asprintf(&joined, "%s%s%s", *types ? *types : "", *types ? "," : "", eq + 1) <
		    0)
			return RB_EXIT_API;
		free(*types);
		*types = joined;
		return RB_EXIT_OK;
	}
	return rb_cli_usage_error(self, "--filter takes sandbox=ID or type=TYPE, not \"%s\"", arg);
}

/* "?sandboxId=..&type=..&since=..", escaped, in a new string. */
static char *query_path(const char *sandbox, const char *types, const char *since)
{
	_cleanup_free_ char *a = sandbox ? rb_cli_escape(sandbox) : NULL;
	_cleanup_free_ char *b = types ? rb_cli_escape(types) : NULL;
	_cleanup_free_ char *c = since ? rb_cli_escape(since) : NULL;
	char *path = NULL;

	if ((sandbox && !a) || (types && !b) || (since && !c))
		return NULL;
	if (asprintf(&path, "/api/v1/events?%s%s%s%s%s%s", a ? "&sandboxId=" : "", a ? a : "",
		     b ? "&type=" : "", b ? b : "", c ? "&since=" : "", c ? c : "") < 0)
		return NULL;
	return path;
}

static int run(struct rb_cli *cli, const struct rb_cli_verb *self, int argc, char **argv)
{
	static const struct option opts[] = {
	    RB_CLI_OPT_JSON,
	    {"filter", required_argument, NULL, OPT_FILTER},
	    {"since", required_argument, NULL, OPT_SINCE},
	    {"count", required_argument, NULL, OPT_COUNT},
	    RB_CLI_OPTS_END,
	};
	_cleanup_free_ char *sandbox = NULL, *types = NULL, *path = NULL;
	_cleanup_json_ cJSON *answer = NULL;
	const char *since = NULL;
	struct sse s = {0};
	char *end;
	int c, rc;

	while ((c = rb_cli_getopt(cli, self, argc, argv, "f:", opts)) != -1) {
		switch (c) {
		case 'f':
		case OPT_FILTER:
			rc = add_filter(self, optarg, &sandbox, &types);
			if (rc != RB_EXIT_OK)
				return rc;
			break;
		case OPT_SINCE:
			since = optarg;
			break;
		case OPT_COUNT:
			s.count = strtol(optarg, &end, 10);
			if (!*optarg || *end || s.count < 1)
				return rb_cli_usage_error(self, "--count needs a positive number");
			break;
		default:
			return rb_cli_opt_exit(c);
		}
	}
	s.json = cli->json;
	path = query_path(sandbox, types, since);
	if (!path)
		return RB_EXIT_API;
	rc = stream(cli, path, &s);
	if (rc == CURLE_COULDNT_CONNECT && cli->autostart) {
		rc = rb_cli_autostart(cli);
		if (rc != RB_EXIT_OK)
			return rc;
		s.status = 0;
		rc = stream(cli, path, &s);
	}
	if (s.status && (s.status < 200 || s.status >= 300)) {
		answer = s.len ? cJSON_ParseWithLength(s.buf, s.len) : NULL;
		free(s.buf);
		return rb_cli_print_api_error(answer, s.status);
	}
	free(s.buf);
	if (rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && s.done))
		return RB_EXIT_OK;
	if (rc == CURLE_COULDNT_CONNECT) {
		fprintf(stderr,
			"runbox: cannot reach the daemon at %s (is `runbox serve` running?)\n",
			cli->socket_path);
		return RB_EXIT_UNREACHABLE;
	}
	fprintf(stderr, "runbox: the event stream from %s: %s\n", cli->socket_path,
		s.oom ? "out of memory" : curl_easy_strerror((CURLcode)rc));
	return RB_EXIT_API;
}

const struct rb_cli_verb rb_cli_verb_events = {
    .name = "events",
    .run = run,
    .needs_daemon = true,
    .usage = "events [--json] [--filter sandbox=ID] [--filter type=TYPE] [--since WHEN] "
	     "[--count N]",
    .summary = "Print the daemon's events as they happen",
    .help = "  -f, --filter K=V   sandbox=ID: one sandbox's events; type=TYPE: these types\n"
	    "                     (exec.completed, sandbox.*, or a comma-separated list;\n"
	    "                     repeat to add more)\n"
	    "      --since WHEN   first replay what the daemon still holds after an event id,\n"
	    "                     from an RFC 3339 UTC time, or 0 for all of it\n"
	    "      --count N      end after N events\n"
	    "      --json         print each event as one line of JSON\n",
};
