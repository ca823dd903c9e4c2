/* runbox info: what the daemon knows of itself and the host, as JSON. */
#include "cli.h"

static int run(struct rb_cli *cli, const struct rb_cli_verb *self, int argc, char **argv)
{
	static const struct option opts[] = {RB_CLI_OPT_JSON, RB_CLI_OPTS_END};
	int c;

	while ((c = rb_cli_getopt(cli, self, argc, argv, "", opts)) != -1)
		return rb_cli_opt_exit(c);
	return rb_cli_call_print(cli, "GET", "/api/v1/info", NULL);
}

const struct rb_cli_verb rb_cli_verb_info = {
    .name = "info",
    .run = run,
    .needs_daemon = true,
    .usage = "info",
    .summary = "Show the daemon's and the host's facts (JSON)",
    .help = "",
};
