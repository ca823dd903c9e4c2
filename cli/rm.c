/*
 * runbox rm [-f] ID...: terminate sandboxes. Without -f a live one is refused, as docker rm
 * refuses a running container. The API keeps a terminated sandbox's record, so removing one
 * that is already terminated only confirms it.
 */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int remove_one(struct rb_cli *cli, const char *id, bool force, cJSON *out)
{
	_cleanup_free_ char *esc = rb_cli_escape(id);
	_cleanup_free_ char *path = NULL;
	_cleanup_json_ cJSON *sb = NULL;
	const cJSON *state;
	int rc;

	if (!esc || asprintf(&path, "/api/v1/sandboxes/%s", esc) < 0)
		return RB_EXIT_API;
	rc = rb_cli_call(cli, "GET", path, NULL, &sb);
	if (rc != RB_EXIT_OK)
		return rc;
	state = cJSON_GetObjectItemCaseSensitive(sb, "state");
	if (cJSON_IsString(state) && strcmp(state->valuestring, "terminated")) {
		if (!force) {
			fprintf(stderr,
				"runbox: sandbox %s is %s: terminate it with runbox rm -f %s\n", id,
				state->valuestring, id);
			return RB_EXIT_API;
		}
		cJSON_Delete(sb);
		sb = NULL;
		rc = rb_cli_call(cli, "DELETE", path, NULL, &sb);
		if (rc != RB_EXIT_OK)
			return rc;
	}
	if (cli->json)
		cJSON_AddItemToArray(out, TAKE_PTR(sb));
	else
		puts(id);
	return RB_EXIT_OK;
}

static int run(struct rb_cli *cli, const struct rb_cli_verb *self, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"force", no_argument, NULL, 'f'},
	    {"json", no_argument, NULL, RB_OPT_JSON},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	_cleanup_json_ cJSON *out = cJSON_CreateArray();
	bool force = false;
	int c, rc = RB_EXIT_OK;

	if (!out)
		return RB_EXIT_API;
	while ((c = rb_cli_getopt(self, argc, argv, "fh", opts)) != -1) {
		switch (c) {
		case 'f':
			force = true;
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
	if (optind >= argc)
		return rb_cli_usage_error(self, "rm needs at least one sandbox id");
	for (int i = optind; i < argc; i++) {
		int r = remove_one(cli, argv[i], force, out);

		if (r == RB_EXIT_UNREACHABLE)
			return r;
		if (r != RB_EXIT_OK)
			rc = r;
	}
	if (cli->json)
		rb_cli_print_json(out);
	return rc;
}

const struct rb_cli_verb rb_cli_verb_rm = {
    .name = "rm",
    .run = run,
    .needs_daemon = true,
    .usage = "rm [-f] ID...",
    .summary = "Terminate sandboxes",
    .help = "  -f, --force   terminate a running sandbox (without it, rm refuses one)\n"
	    "      --json    print the sandboxes as JSON\n",
};
