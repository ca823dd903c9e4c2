/* runbox info: what the daemon knows of itself and the host, as JSON. */
#include "cli.h"

static int run(struct rb_cli *cli, const struct rb_cli_verb *self, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, RB_OPT_JSON},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	_cleanup_json_ cJSON *answer = NULL;
	int c, rc;

	while ((c = rb_cli_getopt(self, argc, argv, "h", opts)) != -1) {
		if (c == 'h')
			return RB_EXIT_OK;
		if (c != RB_OPT_JSON)
			return RB_EXIT_USAGE;
	}
	if (optind < argc)
		return rb_cli_usage_error(self, "unexpected argument \"%s\"", argv[optind]);
	rc = rb_cli_call(cli, "GET", "/api/v1/info", NULL, &answer);
	if (rc == RB_EXIT_OK)
		rb_cli_print_json(answer);
	return rc;
}

const struct rb_cli_verb rb_cli_verb_info = {
    .name = "info",
    .run = run,
    .needs_daemon = true,
    .usage = "info",
    .summary = "Show the daemon's and the host's facts (JSON)",
    .help = "",
};
