/*
 * runbox pause ID... and runbox resume ID...: freeze and thaw sandboxes (the cgroup freezer),
 * printing each id as docker pause and unpause print theirs.
 */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct transition {
	const char *action; /* "pause" or "resume": the route's last segment */
	cJSON *out;	    /* with --json, the sandboxes */
};

static int one(struct rb_cli *cli, const char *id, void *userdata)
{
	struct transition *t = userdata;
	_cleanup_free_ char *path = NULL;
	_cleanup_json_ cJSON *sb = NULL;
	char suffix[16];
	int rc;

	snprintf(suffix, sizeof(suffix), "/%s", t->action);
	path = rb_cli_api_path("/api/v1/sandboxes/", id, suffix);
	if (!path)
		return RB_EXIT_API;
	rc = rb_cli_call(cli, "POST", path, NULL, &sb);
	if (rc != RB_EXIT_OK)
		return rc;
	if (cli->json)
		cJSON_AddItemToArray(t->out, TAKE_PTR(sb));
	else
		puts(id);
	return RB_EXIT_OK;
}

static int run(struct rb_cli *cli, const struct rb_cli_verb *self, int argc, char **argv)
{
	static const struct option opts[] = {
	    RB_CLI_OPT_JSON,
	    RB_CLI_OPTS_END,
	};
	_cleanup_json_ cJSON *out = cJSON_CreateArray();
	struct transition t = {.action = self->name, .out = out};
	int c, rc;

	if (!out)
		return RB_EXIT_API;
	while ((c = rb_cli_getopt(cli, self, argc, argv, "", opts)) != -1)
		return rb_cli_opt_exit(c);
	rc = rb_cli_each(cli, argc, argv, one, &t);
	if (rc != RB_EXIT_UNREACHABLE && cli->json)
		rb_cli_print_json(out);
	return rc;
}

const struct rb_cli_verb rb_cli_verb_pause = {
    .name = "pause",
    .run = run,
    .needs_daemon = true,
    .usage = "pause ID...",
    .summary = "Pause sandboxes: freeze every process in them",
    .help = "      --json   print the sandboxes as JSON\n",
    .min_args = 1,
    .max_args = -1,
    .needs = "at least one sandbox id",
};

const struct rb_cli_verb rb_cli_verb_resume = {
    .name = "resume",
    .run = run,
    .needs_daemon = true,
    .usage = "resume ID...",
    .summary = "Resume paused sandboxes",
    .help = "      --json   print the sandboxes as JSON\n",
    .min_args = 1,
    .max_args = -1,
    .needs = "at least one sandbox id",
};
