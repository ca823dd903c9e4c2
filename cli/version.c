/* runbox version: this binary's version, and the daemon's when one answers (none is started). */
#include "cli.h"

#include <stdio.h>

#include "runtime/runtime.h"

static int run(struct rb_cli *cli, const struct rb_cli_verb *self, int argc, char **argv)
{
	static const struct option opts[] = {RB_CLI_OPT_JSON, RB_CLI_OPTS_END};
	_cleanup_json_ cJSON *info = NULL, *out = NULL;
	const cJSON *server;
	int c;

	while ((c = rb_cli_getopt(cli, self, argc, argv, "", opts)) != -1)
		return rb_cli_opt_exit(c);
	cli->quiet_unreachable = true;
	if (rb_cli_call(cli, "GET", "/api/v1/info", NULL, &info) != RB_EXIT_OK)
		info = NULL;
	server = cJSON_GetObjectItemCaseSensitive(info, "version");
	if (cli->json) {
		out = cJSON_CreateObject();
		cJSON_AddStringToObject(cJSON_AddObjectToObject(out, "client"), "version",
					RB_VERSION);
		if (cJSON_IsString(server))
			cJSON_AddStringToObject(cJSON_AddObjectToObject(out, "server"), "version",
						server->valuestring);
		else
			cJSON_AddNullToObject(out, "server");
		rb_cli_print_json(out);
		return RB_EXIT_OK;
	}
	printf("Client: runbox %s\n", RB_VERSION);
	if (cJSON_IsString(server))
		printf("Server: runbox %s (%s)\n", server->valuestring, cli->socket_path);
	else
		printf("Server: not running (%s)\n", cli->socket_path);
	return RB_EXIT_OK;
}

const struct rb_cli_verb rb_cli_verb_version = {
    .name = "version",
    .run = run,
    .needs_daemon = false,
    .usage = "version [--json]",
    .summary = "Show the client's and the daemon's versions",
    .help = "      --json   print JSON\n",
};
