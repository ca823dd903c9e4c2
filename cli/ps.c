/* runbox ps [-a] [--filter K=V]... [-q] [--json]: the sandboxes, every page of them. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE 100

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
		if ((int)strlen(rb_cli_str(sb, "image")) > w_image)
			w_image = (int)strlen(rb_cli_str(sb, "image"));
		if ((int)strlen(rb_cli_str(sb, "id")) > w_id)
			w_id = (int)strlen(rb_cli_str(sb, "id"));
	}
	printf("%-*s   %-*s   %-10s   %-22s   %s\n", w_id, "SANDBOX ID", w_image, "IMAGE", "STATE",
	       "CREATED", "LABELS");
	cJSON_ArrayForEach(sb, all)
	{
		char created[48], lab[1024];

		rb_cli_ago(rb_cli_str(sb, "createdAt"), created, sizeof(created));
		labels(sb, lab, sizeof(lab));
		printf("%-*s   %-*s   %-10s   %-22s   %s\n", w_id, rb_cli_str(sb, "id"), w_image,
		       rb_cli_str(sb, "image"), rb_cli_str(sb, "state"), created, lab);
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
	    {"all", no_argument, NULL, 'a'},
	    {"filter", required_argument, NULL, 'f'},
	    {"quiet", no_argument, NULL, 'q'},
	    RB_CLI_OPT_JSON,
	    RB_CLI_OPTS_END,
	};
	_cleanup_json_ cJSON *all = cJSON_CreateArray(), *shown = cJSON_CreateArray();
	_cleanup_free_ char *query = strdup("");
	bool every = false, quiet = false, by_state = false;
	cJSON *sb;
	int c, rc;

	if (!all || !shown || !query)
		return RB_EXIT_API;
	while ((c = rb_cli_getopt(cli, self, argc, argv, "af:q", opts)) != -1) {
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
		default:
			return rb_cli_opt_exit(c);
		}
	}
	rc = fetch_all(cli, query, all);
	if (rc != RB_EXIT_OK)
		return rc;
	/* without -a (or a state filter), what still runs: creating, running, paused */
	while ((sb = cJSON_DetachItemFromArray(all, 0))) {
		if (every || by_state || strcmp(rb_cli_str(sb, "state"), "terminated"))
			cJSON_AddItemToArray(shown, sb);
		else
			cJSON_Delete(sb);
	}
	if (cli->json) {
		rb_cli_print_json(shown);
	} else if (quiet) {
		cJSON_ArrayForEach(sb, shown)
		{
			puts(rb_cli_str(sb, "id"));
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
