/* runbox inspect ID...: sandboxes as a JSON array, as docker inspect prints containers. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>

static int run(struct rb_cli *cli, const struct rb_cli_verb *self, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, RB_OPT_JSON},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	_cleanup_json_ cJSON *all = cJSON_CreateArray();
	int c, rc = RB_EXIT_OK;

	if (!all)
		return RB_EXIT_API;
	while ((c = rb_cli_getopt(self, argc, argv, "h", opts)) != -1) {
		if (c == 'h')
			return RB_EXIT_OK;
		if (c != RB_OPT_JSON)
			return RB_EXIT_USAGE;
	}
	if (optind >= argc)
		return rb_cli_usage_error(self, "inspect needs at least one sandbox id");
	for (int i = optind; i < argc; i++) {
		_cleanup_free_ char *esc = rb_cli_escape(argv[i]);
		_cleanup_free_ char *path = NULL;
		cJSON *sb = NULL;
		int r;

		if (!esc || asprintf(&path, "/api/v1/sandboxes/%s", esc) < 0)
			return RB_EXIT_API;
		r = rb_cli_call(cli, "GET", path, NULL, &sb);
		if (r == RB_EXIT_UNREACHABLE)
			return r;
		if (r != RB_EXIT_OK)
			rc = r;
		else if (sb)
			cJSON_AddItemToArray(all, sb);
	}
	rb_cli_print_json(all);
	return rc;
}

const struct rb_cli_verb rb_cli_verb_inspect = {
    .name = "inspect",
    .run = run,
    .needs_daemon = true,
    .usage = "inspect ID...",
    .summary = "Show sandboxes as JSON",
    .help = "",
};
