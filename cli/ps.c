/* runbox ps [-a] [--filter K=V]... [-q] [--json]: the sandboxes, every page of them. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PAGE 100

static const char *str(const cJSON *obj, const char *name)
{
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(obj, name);

	return cJSON_IsString(s) ? s->valuestring : "";
}

/* "5 seconds ago", docker's words, from an RFC 3339 UTC time. */
static void ago(const char *when, char *buf, size_t len)
{
	static const struct {
		long long below, unit;
		const char *one, *many;
	} steps[] = {
	    {60, 1, "1 second ago", "%lld seconds ago"},
	    {3600, 60, "About a minute ago", "%lld minutes ago"},
	    {48 * 3600, 3600, "About an hour ago", "%lld hours ago"},
	    {14 * 86400, 86400, "1 day ago", "%lld days ago"},
	    {60 * 86400, 7 * 86400, "1 week ago", "%lld weeks ago"},
	    {730 * 86400LL, 30 * 86400, "1 month ago", "%lld months ago"},
	    {-1, 365 * 86400LL, "1 year ago", "%lld years ago"},
	};
	struct tm tm = {0};
	long long s;

	if (sscanf(when, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
		   &tm.tm_min, &tm.tm_sec) != 6) {
		snprintf(buf, len, "N/A");
		return;
	}
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	s = (long long)(time(NULL) - timegm(&tm));
	if (s < 1) {
		snprintf(buf, len, "Less than a second ago");
		return;
	}
	for (size_t i = 0; i < RB_ARRAY_SIZE(steps); i++) {
		if (steps[i].below < 0 || s < steps[i].below) {
			if (s / steps[i].unit <= 1)
				snprintf(buf, len, "%s", steps[i].one);
			else
				snprintf(buf, len, steps[i].many, s / steps[i].unit);
			return;
		}
	}
}

/* "k=v,k2=v2" */
static void labels(const cJSON *sb, char *buf, size_t len)
{
	const cJSON *kv;
	size_t at = 0;

	buf[0] = '\0';
	cJSON_ArrayForEach(kv, cJSON_GetObjectItemCaseSensitive(sb, "metadata"))
	{
		if (cJSON_IsString(kv) && at < len)
			at += (size_t)snprintf(buf + at, len - at, "%s%s=%s", at ? "," : "",
					       kv->string, kv->valuestring);
	}
}

static void print_table(const cJSON *all)
{
	int w_image = (int)strlen("IMAGE"), w_id = (int)strlen("SANDBOX ID");
	const cJSON *sb;

	cJSON_ArrayForEach(sb, all)
	{
		if ((int)strlen(str(sb, "image")) > w_image)
			w_image = (int)strlen(str(sb, "image"));
		if ((int)strlen(str(sb, "id")) > w_id)
			w_id = (int)strlen(str(sb, "id"));
	}
	printf("%-*s   %-*s   %-10s   %-22s   %s\n", w_id, "SANDBOX ID", w_image, "IMAGE", "STATE",
	       "CREATED", "LABELS");
	cJSON_ArrayForEach(sb, all)
	{
		char created[48], lab[1024];

		ago(str(sb, "createdAt"), created, sizeof(created));
		labels(sb, lab, sizeof(lab));
		printf("%-*s   %-*s   %-10s   %-22s   %s\n", w_id, str(sb, "id"), w_image,
		       str(sb, "image"), str(sb, "state"), created, lab);
	}
}

/* --filter state=X | label=K=V | image=REF, as query parameters. */
static int add_filter(const struct rb_cli_verb *v, const char *f, char **query, bool *by_state)
{
	const char *eq = strchr(f, '=');
	_cleanup_free_ char *key = NULL, *value = NULL, *escval = NULL;
	const char *param;
	char *grown = NULL;

	if (!eq)
		return rb_cli_usage_error(v, "--filter needs KEY=VALUE, not \"%s\"", f);
	if (!strncmp(f, "state=", 6)) {
		param = "state";
		value = strdup(eq + 1);
		*by_state = true;
	} else if (!strncmp(f, "image=", 6)) {
		param = "image";
		value = strdup(eq + 1);
	} else if (!strncmp(f, "label=", 6)) {
		const char *lab = eq + 1, *leq = strchr(lab, '=');
		_cleanup_free_ char *k = leq ? strndup(lab, (size_t)(leq - lab)) : NULL;

		if (!leq || leq == lab)
			return rb_cli_usage_error(v, "--filter label= needs K=V, not \"%s\"", f);
		key = k ? rb_cli_escape(k) : NULL;
		if (!key)
			return RB_EXIT_API;
		param = NULL;
		value = strdup(leq + 1);
	} else {
		return rb_cli_usage_error(v, "unknown filter \"%s\" (state=, label=, image=)", f);
	}
	escval = value ? rb_cli_escape(value) : NULL;
	if (!escval || asprintf(&grown, "%s&%s%s=%s", *query, param ? param : "metadata.",
				param ? "" : key, escval) < 0)
		return RB_EXIT_API;
	free(*query);
	*query = grown;
	return RB_EXIT_OK;
}

/* Every page of GET /api/v1/sandboxes?QUERY into all. */
static int fetch_all(struct rb_cli *cli, const char *query, cJSON *all)
{
	for (long offset = 0;;) {
		_cleanup_free_ char *path = NULL;
		_cleanup_json_ cJSON *page = NULL;
		const cJSON *pg, *more;
		cJSON *data, *sb;
		int rc, n;

		if (asprintf(&path, "/api/v1/sandboxes?limit=%d&offset=%ld%s", PAGE, offset,
			     query) < 0)
			return RB_EXIT_API;
		rc = rb_cli_call(cli, "GET", path, NULL, &page);
		if (rc != RB_EXIT_OK)
			return rc;
		data = cJSON_GetObjectItemCaseSensitive(page, "data");
		n = cJSON_GetArraySize(data);
		while ((sb = cJSON_DetachItemFromArray(data, 0)))
			cJSON_AddItemToArray(all, sb);
		pg = cJSON_GetObjectItemCaseSensitive(page, "pagination");
		more = cJSON_GetObjectItemCaseSensitive(pg, "hasMore");
		if (!cJSON_IsTrue(more) || n == 0)
			return RB_EXIT_OK;
		offset += n;
	}
}

static int run(struct rb_cli *cli, const struct rb_cli_verb *self, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"all", no_argument, NULL, 'a'},   {"filter", required_argument, NULL, 'f'},
	    {"quiet", no_argument, NULL, 'q'}, {"json", no_argument, NULL, RB_OPT_JSON},
	    {"help", no_argument, NULL, 'h'},  {NULL, 0, NULL, 0},
	};
	_cleanup_json_ cJSON *all = cJSON_CreateArray(), *shown = cJSON_CreateArray();
	_cleanup_free_ char *query = strdup("");
	bool every = false, quiet = false, by_state = false;
	cJSON *sb;
	int c, rc;

	if (!all || !shown || !query)
		return RB_EXIT_API;
	while ((c = rb_cli_getopt(self, argc, argv, "haf:q", opts)) != -1) {
		switch (c) {
		case 'a':
			every = true;
			break;
		case 'f':
			if ((rc = add_filter(self, optarg, &query, &by_state)) != RB_EXIT_OK)
				return rc;
			break;
		case 'q':
			quiet = true;
			break;
		case RB_OPT_JSON:
			cli->json = true;
			break;
		case 'h':
			return RB_EXIT_OK;
		default:
			return RB_EXIT_USAGE;
		}
	}
	if (optind < argc)
		return rb_cli_usage_error(self, "unexpected argument \"%s\"", argv[optind]);
	rc = fetch_all(cli, query, all);
	if (rc != RB_EXIT_OK)
		return rc;
	/* without -a (or a state filter), what still runs: creating, running, paused */
	while ((sb = cJSON_DetachItemFromArray(all, 0))) {
		if (every || by_state || strcmp(str(sb, "state"), "terminated"))
			cJSON_AddItemToArray(shown, sb);
		else
			cJSON_Delete(sb);
	}
	if (cli->json) {
		rb_cli_print_json(shown);
	} else if (quiet) {
		cJSON_ArrayForEach(sb, shown)
		{
			puts(str(sb, "id"));
		}
	} else {
		print_table(shown);
	}
	return RB_EXIT_OK;
}

const struct rb_cli_verb rb_cli_verb_ps = {
    .name = "ps",
    .run = run,
    .needs_daemon = true,
    .usage = "ps [-a] [--filter K=V]... [-q] [--json]",
    .summary = "List sandboxes",
    .help = "  -a, --all           terminated sandboxes too\n"
	    "  -f, --filter K=V    state=STATE, label=K=V or image=REF (repeatable)\n"
	    "  -q, --quiet         only sandbox ids\n"
	    "      --json          print the sandboxes as JSON\n",
};
