/* runbox inspect ID...: sandboxes as a JSON array, as docker inspect prints containers. */
#include "cli.h"

#include <stdlib.h>

struct inspect {
	const char *prefix;
	cJSON *all;
};

static int get_one(struct rb_cli *cli, const char *arg, void *userdata)
{
	struct inspect *in = userdata;
	_cleanup_free_ char *path = rb_cli_api_path(in->prefix, arg, NULL);
	cJSON *item = NULL;
	int rc;

	if (!path)
		return RB_EXIT_API;
	rc = rb_cli_call(cli, "GET", path, NULL, &item);
	if (rc == RB_EXIT_OK && item)
		cJSON_AddItemToArray(in->all, item);
	return rc;
}

int rb_cli_inspect(struct rb_cli *cli, const struct rb_cli_verb *self, int argc, char **argv,
		   const char *prefix)
{
	static const struct option opts[] = {RB_CLI_OPT_JSON, RB_CLI_OPTS_END};
	_cleanup_json_ cJSON *all = cJSON_CreateArray();
	struct inspect in = {.prefix = prefix, .all = all};
	int c, rc;

	if (!all)
		return RB_EXIT_API;
	while ((c = rb_cli_getopt(cli, self, argc, argv, "", opts)) != -1)
		return rb_cli_opt_exit(c);
	rc = rb_cli_each(cli, argc, argv, get_one, &in);
	if (rc != RB_EXIT_UNREACHABLE)
		rb_cli_print_json(all);
	return rc;
}

static int run(struct rb_cli *cli, const struct rb_cli_verb *self, int argc, char **argv)
{
	return rb_cli_inspect(cli, self, argc, argv, "/api/v1/sandboxes/");
}

const struct rb_cli_verb rb_cli_verb_inspect = {
    .name = "inspect",
    .run = run,
    .needs_daemon = true,
    .usage = "inspect ID...",
    .summary = "Show sandboxes as JSON",
    .help = "",
    .min_args = 1,
    .max_args = -1,
    .needs = "at least one sandbox id",
};
