/* runbox [global flags] VERB ...: global flags, defaults for the socket and state, dispatch. */
#include "cli.h"

#include <curl/curl.h>
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "runtime/runtime.h"

/* A new verb is a new file and one line here. */
static const struct rb_cli_verb *const verbs[] = {
    &rb_cli_verb_serve,	 &rb_cli_verb_run,     &rb_cli_verb_create,  &rb_cli_verb_exec,
    &rb_cli_verb_ps,	 &rb_cli_verb_inspect, &rb_cli_verb_rm,	     &rb_cli_verb_cp,
    &rb_cli_verb_files,	 &rb_cli_verb_load,    &rb_cli_verb_images,  &rb_cli_verb_image,
    &rb_cli_verb_rmi,	 &rb_cli_verb_info,    &rb_cli_verb_version, &rb_cli_verb_pause,
    &rb_cli_verb_resume, &rb_cli_verb_stats,   &rb_cli_verb_events,  &rb_cli_verb_network,
    &rb_cli_verb_port,
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: runbox [OPTIONS] COMMAND [ARG...]\n\n"
		   "A Linux sandbox runtime.\n\n"
		   "Options:\n"
		   "      --socket PATH     the daemon's socket (env RUNBOX_SOCKET)\n"
		   "      --state-dir DIR   the daemon's state (env RUNBOX_STATE_DIR)\n"
		   "      --json            print JSON instead of tables\n"
		   "  -h, --help            print this help\n"
		   "      --version         print the version\n\n"
		   "Commands:\n");
	for (size_t i = 0; i < RB_ARRAY_SIZE(verbs); i++)
		fprintf(f, "  %-10s %s\n", verbs[i]->name, verbs[i]->summary);
	fprintf(f, "\nRun 'runbox COMMAND --help' for more information on a command.\n");
}

char *rb_cli_absolute(const char *path)
{
	char cwd[4096];

	if (path[0] == '/')
		return strdup(path);
	if (!getcwd(cwd, sizeof(cwd)))
		return NULL;
	return rb_path_join(cwd, path);
}

static char *default_state_dir(void)
{
	const char *env = getenv("RUNBOX_STATE_DIR"), *home;
	struct passwd *pw;

	if (env && *env)
		return rb_cli_absolute(env);
	if (geteuid() == 0)
		return strdup("/var/lib/runbox");
	env = getenv("XDG_DATA_HOME");
	if (env && env[0] == '/')
		return rb_path_join(env, "runbox");
	home = getenv("HOME");
	if ((!home || !*home) && (pw = getpwuid(geteuid())))
		home = pw->pw_dir;
	return home ? rb_path_join(home, ".local/share/runbox") : NULL;
}

static char *default_socket(const char *state_dir)
{
	const char *env = getenv("RUNBOX_SOCKET");

	if (env && *env)
		return rb_cli_absolute(env);
	if (geteuid() == 0)
		return strdup("/run/runbox/runbox.sock");
	env = getenv("XDG_RUNTIME_DIR");
	if (env && env[0] == '/')
		return rb_path_join(env, "runbox/runbox.sock");
	return rb_path_join(state_dir, "runbox.sock");
}

static int resolve_paths(struct rb_cli *cli, const char *state_opt, const char *socket_opt)
{
	const size_t max = sizeof(((struct sockaddr_un *)0)->sun_path) - 1;

	cli->state_dir = state_opt ? rb_cli_absolute(state_opt) : default_state_dir();
	if (cli->state_dir)
		cli->socket_path =
		    socket_opt ? rb_cli_absolute(socket_opt) : default_socket(cli->state_dir);
	if (!cli->state_dir || !cli->socket_path) {
		fprintf(stderr, "runbox: cannot work out the socket and state paths; "
				"use --socket and --state-dir\n");
		return RB_EXIT_USAGE;
	}
	if (strlen(cli->socket_path) > max) {
		fprintf(stderr, "runbox: socket path %s is longer than %zu bytes\n",
			cli->socket_path, max);
		return RB_EXIT_USAGE;
	}
	return RB_EXIT_OK;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"socket", required_argument, NULL, RB_OPT_SOCKET},
	    {"state-dir", required_argument, NULL, RB_OPT_STATE_DIR},
	    {"json", no_argument, NULL, RB_OPT_JSON},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, RB_OPT_VERSION},
	    {NULL, 0, NULL, 0},
	};
	struct rb_cli cli = {0};
	const struct rb_cli_verb *verb = NULL;
	const char *socket_opt = NULL, *state_opt = NULL, *debug = getenv("RUNBOX_DEBUG");
	char flag[3];
	int c, rc, first;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
		switch (c) {
		case RB_OPT_SOCKET:
			socket_opt = optarg;
			break;
		case RB_OPT_STATE_DIR:
			state_opt = optarg;
			break;
		case RB_OPT_JSON:
			cli.json = true;
			break;
		case 'h':
			usage(stdout);
			return RB_EXIT_OK;
		case RB_OPT_VERSION:
			printf("runbox version %s\n", RB_VERSION);
			return RB_EXIT_OK;
		case ':':
			return rb_cli_usage_error(NULL, "flag %s needs a value",
						  rb_cli_bad_flag(argv, flag));
		default:
			return rb_cli_usage_error(NULL, "unknown flag %s",
						  rb_cli_bad_flag(argv, flag));
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return RB_EXIT_USAGE;
	}
	for (size_t i = 0; i < RB_ARRAY_SIZE(verbs) && !verb; i++)
		if (!strcmp(verbs[i]->name, argv[optind]))
			verb = verbs[i];
	if (!verb)
		return rb_cli_usage_error(NULL, "unknown command \"%s\"", argv[optind]);

	rc = resolve_paths(&cli, state_opt, socket_opt);
	if (rc == RB_EXIT_OK) {
		cli.autostart = verb->needs_daemon;
		cli.debug = debug && *debug && strcmp(debug, "0");
		curl_global_init(CURL_GLOBAL_DEFAULT);
		first = optind;
		optind = 0; /* the verb parses its own flags from its own argv[0] */
		rc = verb->run(&cli, verb, argc - first, argv + first);
		curl_global_cleanup();
	}
	free(cli.socket_path);
	free(cli.state_dir);
	return rc;
}
