/*
 * runbox run [flags] IMAGE [CMD...]: create a sandbox, run one command in it with its output
 * streamed, exit with its code. With --rm the sandbox is terminated afterwards, and also when
 * we are interrupted: a thread waits for SIGINT/SIGTERM/SIGHUP (blocked everywhere else) and
 * terminates the sandbox before we exit 128+N.
 */
#include "cli.h"
#include "attach.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { OPT_RM = RB_OPT_VERB_OWN };

/* After the command's time limit, the sandbox lives this much longer, so that it outlasts it. */
#define SANDBOX_GRACE_MS 60000L

struct guard {
	struct rb_cli *cli;
	pthread_t thread;
	pthread_mutex_t lock;
	sigset_t set;	/* the signals we handle, and SIGUSR1 to stop the thread */
	const char *id; /* the sandbox to clean up on a signal, once made (under lock) */
	bool rm;
	int sig; /* the signal that came (under lock) */
};

static void left_running(const char *id)
{
	fprintf(stderr, "runbox: sandbox %s left running (runbox rm -f %s)\n", id, id);
}

/* What a signal does once the sandbox exists. */
static void on_signal(struct guard *g, const char *id)
{
	if (g->rm)
		rb_cli_sandbox_terminate(g->cli, id);
	else
		left_running(id);
}

static void *guard_main(void *arg)
{
	struct guard *g = arg;
	const char *id;
	int sig;

	if (sigwait(&g->set, &sig) != 0 || sig == SIGUSR1)
		return NULL;
	pthread_mutex_lock(&g->lock);
	g->sig = sig;
	id = g->id;
	pthread_mutex_unlock(&g->lock);
	if (!id)
		return NULL; /* the main thread sees g->sig once it has made the sandbox */
	/* hold stderr: the exec's stream, cut short by the termination, must not report it */
	flockfile(stderr);
	rb_cli_attach_restore(); /* our terminal, if -t made it raw */
	on_signal(g, id);
	fflush(stdout);
	fflush(stderr);
	/* the main thread is blocked in the exec's stream: leave from here */
	_exit(RB_EXIT_SIGNAL + sig);
}

static int guard_start(struct guard *g)
{
	sigemptyset(&g->set);
	sigaddset(&g->set, SIGINT);
	sigaddset(&g->set, SIGTERM);
	sigaddset(&g->set, SIGHUP);
	sigaddset(&g->set, SIGUSR1);
	pthread_mutex_init(&g->lock, NULL);
	pthread_sigmask(SIG_BLOCK, &g->set, NULL);
	if (pthread_create(&g->thread, NULL, guard_main, g) != 0) {
		fprintf(stderr, "runbox: cannot start the signal thread\n");
		return RB_EXIT_API;
	}
	return RB_EXIT_OK;
}

/* Hand the new sandbox to the guard; the signal that came meanwhile, or 0. */
static int guard_arm(struct guard *g, const char *id)
{
	int sig;

	pthread_mutex_lock(&g->lock);
	g->id = id;
	sig = g->sig;
	pthread_mutex_unlock(&g->lock);
	return sig;
}

/* Stop the guard; the signal that came, or 0. */
static int guard_stop(struct guard *g)
{
	pthread_mutex_lock(&g->lock);
	g->id = NULL;
	pthread_mutex_unlock(&g->lock);
	pthread_kill(g->thread, SIGUSR1);
	pthread_join(g->thread, NULL);
	return g->sig;
}

/* The image's entrypoint followed by CMD (or, without one, the image's cmd; or /bin/sh). */
static int command_argv(struct rb_cli *cli, const char *image, char **cmd, int n, cJSON *args)
{
	_cleanup_free_ char *path = rb_cli_api_path("/api/v1/images/", image, NULL);
	_cleanup_json_ cJSON *img = NULL;
	const cJSON *config, *entrypoint, *icmd, *s;
	int rc;

	if (!path)
		return RB_EXIT_API;
	rc = rb_cli_call(cli, "GET", path, NULL, &img);
	if (rc != RB_EXIT_OK)
		return rc;
	config = cJSON_GetObjectItemCaseSensitive(img, "config");
	entrypoint = cJSON_GetObjectItemCaseSensitive(config, "entrypoint");
	icmd = cJSON_GetObjectItemCaseSensitive(config, "cmd");
	cJSON_ArrayForEach(s, entrypoint)
	{
		if (cJSON_IsString(s))
			cJSON_AddItemToArray(args, cJSON_CreateString(s->valuestring));
	}
	if (n > 0) {
		for (int i = 0; i < n; i++)
			cJSON_AddItemToArray(args, cJSON_CreateString(cmd[i]));
	} else {
		cJSON_ArrayForEach(s, icmd)
		{
			if (cJSON_IsString(s))
				cJSON_AddItemToArray(args, cJSON_CreateString(s->valuestring));
		}
	}
	if (cJSON_GetArraySize(args) == 0)
		cJSON_AddItemToArray(args, cJSON_CreateString("/bin/sh"));
	return RB_EXIT_OK;
}

static int run(struct rb_cli *cli, const struct rb_cli_verb *self, int argc, char **argv)
{
	static const struct option opts[] = {
	    RB_CLI_SANDBOX_LONGOPTS,
	    {"rm", no_argument, NULL, OPT_RM},
	    {"interactive", no_argument, NULL, 'i'},
	    {"tty", no_argument, NULL, 't'},
	    RB_CLI_OPT_JSON,
	    RB_CLI_OPTS_END,
	};
	_cleanup_json_ cJSON *config = cJSON_CreateObject();
	_cleanup_json_ cJSON *req = cJSON_CreateObject();
	_cleanup_free_ char *id = NULL;
	struct rb_cli_cmd_opts cmd = RB_CLI_CMD_OPTS_INIT;
	struct guard g = {.cli = cli};
	bool tty = false;
	int c, rc, sig, attach;

	if (!config || !req)
		return RB_EXIT_API;
	/* '+': the flags end at the image, what follows is the command's */
	while ((c = rb_cli_getopt(cli, self, argc, argv, "+it" RB_CLI_SANDBOX_SHORTOPTS, opts)) !=
	       -1) {
		rc = rb_cli_sandbox_opt(self, config, c, optarg);
		if (rc == 0)
			rc = rb_cli_cmd_opt(self, &cmd, c, optarg);
		if (rc < 0)
			return -rc;
		if (rc)
			continue;
		if (c == 't') {
			tty = true;
			continue;
		}
		if (c != OPT_RM)
			return rb_cli_opt_exit(c);
		g.rm = true;
	}
	if ((attach = rb_cli_attach_mode(self, cli, cmd.interactive, tty)) < 0)
		return -attach;
	cJSON_AddStringToObject(config, "image", argv[optind]);
	cJSON_AddNumberToObject(config, "timeoutMs", (double)(cmd.timeout_ms + SANDBOX_GRACE_MS));
	/* the image first: an unknown one fails here, before anything is made (and a daemon
	 * we start ourselves starts before our signals are blocked) */
	rc = command_argv(cli, argv[optind], argv + optind + 1, argc - optind - 1,
			  cJSON_AddArrayToObject(req, "argv"));
	if (rc == RB_EXIT_OK && !attach)
		rc = rb_cli_cmd_request(req, &cmd);
	if (rc != RB_EXIT_OK)
		return rc;

	if ((rc = guard_start(&g)) != RB_EXIT_OK)
		return rc;
	rc = rb_cli_sandbox_create(cli, config, &id);
	if (rc != RB_EXIT_OK) {
		sig = guard_stop(&g);
		return sig ? RB_EXIT_SIGNAL + sig : rc;
	}
	if (cli->debug)
		fprintf(stderr, "runbox: created sandbox %s\n", id);
	rb_cli_print_ports(cli, id, config);
	sig = guard_arm(&g, id);
	if (sig) {
		guard_stop(&g);
		on_signal(&g, id);
		return RB_EXIT_SIGNAL + sig;
	}
	rc = attach ? rb_cli_attach(cli, id, req, cmd.timeout_ms, cmd.interactive, tty)
		    : rb_cli_exec_stream(cli, id, req, cli->json);
	sig = guard_stop(&g);
	if (g.rm)
		rb_cli_sandbox_terminate(cli, id);
	else
		left_running(id);
	return sig ? RB_EXIT_SIGNAL + sig : rc;
}

const struct rb_cli_verb rb_cli_verb_run = {
    .name = "run",
    .run = run,
    .needs_daemon = true,
    .usage = "run [OPTIONS] IMAGE [CMD [ARG...]]",
    .summary = "Run a command in a new sandbox",
    .help = "      --rm            terminate the sandbox when the command ends (or we are "
	    "interrupted)\n"
	    "  -i, --interactive   send our standard input to the command as it comes (with "
	    "--json: read to its end first)\n"
	    "  -t, --tty           a terminal inside for the command (ours raw "
	    "meanwhile)\n" RB_CLI_SANDBOX_HELP RB_CLI_CMD_HELP,
    .min_args = 1,
    .max_args = -1,
    .needs = "an image",
};
