/*
 * runbox rm [-f] ID...: terminate sandboxes. Without -f a live one is refused, as docker rm
 * refuses a running container. The API keeps a terminated sandbox's record, so removing one
 * that is already terminated only confirms it.
 */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int remove_one(struct rb_cli *cli, const char *id, void *userdata)
{
	struct rb_cli_removal *rm = userdata;
	_cleanup_free_ char *path = rb_cli_api_path("/api/v1/sandboxes/", id, NULL);
	_cleanup_json_ cJSON *sb = NULL;
	const cJSON *state;
	int rc;

	if (!path)
		return RB_EXIT_API;
	rc = rb_cli_call(cli, "GET", path, NULL, &sb);
	if (rc != RB_EXIT_OK)
		return rc;
	state = cJSON_GetObjectItemCaseSensitive(sb, "state");
	if (cJSON_IsString(state) && strcmp(state->valuestring, "terminated")) {
		if (!rm->force) {
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
		cJSON_AddItemToArray(rm->out, TAKE_PTR(sb));
	else
		puts(id);
	return RB_EXIT_OK;
}

int rb_cli_remove(struct rb_cli *cli, const struct rb_cli_verb *self, int argc, char **argv,
		  rb_cli_each_fn fn)
{
	static const struct option opts[] = {
	    {"force", no_argument, NULL, 'f'},
	    RB_CLI_OPT_JSON,
	    RB_CLI_OPTS_END,
	};
	_cleanup_json_ cJSON *out = cJSON_CreateArray();
	struct rb_cli_removal rm = {.out = out};
	int c, rc;

	if (!out)
		return RB_EXIT_API;
	while ((c = rb_cli_getopt(cli, self, argc, argv, "f", opts)) != -1) {
		if (c != 'f')
			return rb_cli_opt_exit(c);
		rm.force = true;
	}
	rc = rb_cli_each(cli, argc, argv, fn, &rm);
	if (rc != RB_EXIT_UNREACHABLE && cli->json)
		rb_cli_print_json(out);
	return rc;
}

static int run(struct rb_cli *cli, const struct rb_cli_verb *self, int argc, char **argv)
{
	return rb_cli_remove(cli, self, argc, argv, remove_one);
}

const struct rb_cli_verb rb_cli_verb_rm = {
    .name = "rm",
    .run = run,
    .needs_daemon = true,
    .usage = "rm [-f] ID...",
    .summary = "Terminate sandboxes",
    .help = "  -f, --force   terminate a running sandbox (without it, rm refuses one)\n"
	    "      --json    print the sandboxes as JSON\n",
    .min_args = 1,
    .max_args = -1,
    .needs = "at least one sandbox id",
};
