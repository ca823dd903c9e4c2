/*
 * runbox exec [flags] ID CMD...: a command in a running sandbox, argv form (no shell), its
 * output streamed to ours line by line as the daemon sends it, its exit code ours. run uses
 * the same stream.
 */
#include "cli.h"
#include "attach.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int rb_cli_read_stdin(char **out)
{
	size_t len = 0, cap = 64 * 1024;
	char *buf = malloc(cap + 1);

	*out = NULL;
	while (buf) {
		if (len == cap) {
			char *grown = realloc(buf, cap * 2 + 1);

			if (!grown)
				break;
			buf = grown;
			cap *= 2;
		}
		ssize_t n = read(STDIN_FILENO, buf + len, cap - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "runbox: reading standard input: %s\n", strerror(errno));
			free(buf);
			return RB_EXIT_API;
		}
		if (n == 0) {
			if (memchr(buf, '\0', len)) {
				fprintf(stderr, "runbox: standard input holds NUL bytes; the exec "
						"API takes text only (copy binary data with runbox "
						"cp)\n");
				free(buf);
				return RB_EXIT_API;
			}
			buf[len] = '\0';
			*out = buf;
			return RB_EXIT_OK;
		}
		len += (size_t)n;
	}
	free(buf);
	fprintf(stderr, "runbox: reading standard input: out of memory\n");
	return RB_EXIT_API;
}

struct exec_state {
	bool as_json;
	bool ended; /* a result or an error line came */
	int code;
	cJSON *last; /* the result or error line, for --json */
};

static void on_line(const cJSON *line, void *ud)
{
	struct exec_state *st = ud;
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(line, "type");
	const cJSON *data = cJSON_GetObjectItemCaseSensitive(line, "data");
	const cJSON *code;

	if (!cJSON_IsString(type))
		return;
	if (cJSON_IsString(data)) {
		FILE *f = !strcmp(type->valuestring, "stdout")	 ? stdout
			  : !strcmp(type->valuestring, "stderr") ? stderr
								 : NULL;

		if (f && !st->as_json) {
			fputs(data->valuestring, f);
			fflush(f);
		}
		return;
	}
	if (!strcmp(type->valuestring, "result")) {
		const cJSON *res = cJSON_GetObjectItemCaseSensitive(line, "result");

		code = cJSON_GetObjectItemCaseSensitive(res, "exitCode");
		st->code = cJSON_IsNumber(code) ? code->valueint : RB_EXIT_API;
		st->ended = true;
		cJSON_Delete(st->last);
		st->last = cJSON_Duplicate(res, 1);
	} else if (!strcmp(type->valuestring, "error")) {
		code = cJSON_GetObjectItemCaseSensitive(
		    cJSON_GetObjectItemCaseSensitive(line, "error"), "code");
		st->ended = true;
		cJSON_Delete(st->last);
		st->last = cJSON_Duplicate(line, 1);
		cJSON_DeleteItemFromObjectCaseSensitive(st->last, "type");
		if (cJSON_IsString(code) && !strcmp(code->valuestring, "EXECUTION_TIMEOUT")) {
			st->code = RB_EXIT_TIMED_OUT;
			if (!st->as_json)
				rb_cli_print_api_error(line, 0);
		} else {
			st->code = RB_EXIT_API;
			if (!st->as_json)
				rb_cli_print_api_error(line, 0);
		}
	}
}

int rb_cli_exec_stream(struct rb_cli *cli, const char *id, const cJSON *request, bool as_json)
{
	_cleanup_free_ char *path = rb_cli_api_path("/api/v1/sandboxes/", id, "/exec");
	struct exec_state st = {.as_json = as_json, .code = RB_EXIT_API};
	int rc;

	if (!path)
		return RB_EXIT_API;
	rc = rb_cli_stream(cli, "POST", path, request, on_line, &st);
	if (rc == RB_EXIT_OK && !st.ended) {
		fprintf(stderr,
			"runbox: the output of the command in %s ended without its result "
			"(was the sandbox terminated?)\n",
			id);
		rc = RB_EXIT_API;
	} else if (rc == RB_EXIT_OK) {
		rc = st.code;
		if (as_json)
			rb_cli_print_json(st.last);
	}
	cJSON_Delete(st.last);
	return rc;
}

int rb_cli_cmd_opt(const struct rb_cli_verb *v, struct rb_cli_cmd_opts *o, int c, const char *arg)
{
	switch (c) {
	case 'i':
		o->interactive = true;
		return 1;
	case RB_OPT_TIMEOUT:
		if (rb_cli_parse_ms(v, "--timeout", arg, RB_CLI_EXEC_MAX_TIMEOUT_MS,
				    &o->timeout_ms))
			return -RB_EXIT_USAGE;
		return 1;
	}
	return 0;
}

int rb_cli_cmd_request(cJSON *req, const struct rb_cli_cmd_opts *o)
{
	_cleanup_free_ char *input = NULL;
	int rc;

	cJSON_AddNumberToObject(req, "timeoutMs", (double)o->timeout_ms);
	if (o->interactive) {
		if ((rc = rb_cli_read_stdin(&input)) != RB_EXIT_OK)
			return rc;
		cJSON_AddStringToObject(req, "stdin", input);
	}
	return RB_EXIT_OK;
}

static int run(struct rb_cli *cli, const struct rb_cli_verb *self, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"interactive", no_argument, NULL, 'i'},
	    {"tty", no_argument, NULL, 't'},
	    {"env", required_argument, NULL, 'e'},
	    {"workdir", required_argument, NULL, 'w'},
	    {"user", required_argument, NULL, 'u'},
	    {"timeout", required_argument, NULL, RB_OPT_TIMEOUT},
	    RB_CLI_OPT_JSON,
	    RB_CLI_OPTS_END,
	};
	_cleanup_json_ cJSON *req = cJSON_CreateObject();
	struct rb_cli_cmd_opts cmd = RB_CLI_CMD_OPTS_INIT;
	cJSON *args, *env = NULL;
	bool tty = false;
	int c, rc;

	if (!req)
		return RB_EXIT_API;
	/* '+': the flags end at the sandbox id, what follows is the command's */
	while ((c = rb_cli_getopt(cli, self, argc, argv, "+ite:w:u:", opts)) != -1) {
		rc = rb_cli_cmd_opt(self, &cmd, c, optarg);
		if (rc < 0)
			return -rc;
		if (rc)
			continue;
		switch (c) {
		case 'e':
			if (!env)
				env = cJSON_AddObjectToObject(req, "env");
			if ((rc = rb_cli_add_kv(self, env, "-e", optarg, true)) != RB_EXIT_OK)
				return rc;
			break;
		case 'w':
			if (optarg[0] != '/')
				return rb_cli_usage_error(
				    self, "-w needs an absolute path, not \"%s\"", optarg);
			cJSON_DeleteItemFromObjectCaseSensitive(req, "cwd");
			cJSON_AddStringToObject(req, "cwd", optarg);
			break;
		case 'u':
			cJSON_DeleteItemFromObjectCaseSensitive(req, "user");
			cJSON_AddStringToObject(req, "user", optarg);
			break;
		case 't':
			tty = true;
			break;
		default:
			return rb_cli_opt_exit(c);
		}
	}
	args = cJSON_AddArrayToObject(req, "argv");
	for (int i = optind + 1; i < argc; i++)
		cJSON_AddItemToArray(args, cJSON_CreateString(argv[i]));
	if ((rc = rb_cli_attach_mode(self, cli, cmd.interactive, tty)) < 0)
		return -rc;
	if (rc)
		return rb_cli_attach(cli, argv[optind], req, cmd.timeout_ms, cmd.interactive, tty);
	if ((rc = rb_cli_cmd_request(req, &cmd)) != RB_EXIT_OK)
		return rc;
	return rb_cli_exec_stream(cli, argv[optind], req, cli->json);
}

const struct rb_cli_verb rb_cli_verb_exec = {
    .name = "exec",
    .run = run,
    .needs_daemon = true,
    .usage = "exec [OPTIONS] ID CMD [ARG...]",
    .summary = "Run a command in a sandbox",
    .help = "  -i, --interactive   send our standard input to the command as it comes (with "
	    "--json: read to its end first)\n"
	    "  -t, --tty           a terminal inside for the command (ours raw meanwhile)\n"
	    "  -e, --env K=V       set an environment variable (K alone: take it from ours)\n"
	    "  -w, --workdir DIR   the working directory (absolute)\n"
	    "  -u, --user USER     the user (name or uid[:gid])\n" RB_CLI_CMD_HELP,
    .min_args = 2,
    .max_args = -1,
    .needs = "a sandbox id and a command",
};
