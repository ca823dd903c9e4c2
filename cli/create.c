/* runbox create [flags] IMAGE: a sandbox, its id printed; and the flags run shares with it. */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int rb_cli_add_kv(const struct rb_cli_verb *v, cJSON *obj, const char *what, const char *kv,
		  bool from_env)
{
	const char *eq = strchr(kv, '=');
	_cleanup_free_ char *key = eq ? strndup(kv, (size_t)(eq - kv)) : strdup(kv);
	const char *value = eq ? eq + 1 : "";

	if (!key)
		return RB_EXIT_API;
	if (!*key)
		return rb_cli_usage_error(v, "%s \"%s\" has no name before '='", what, kv);
	if (!eq && from_env) {
		/* docker's -e NAME: our value, or nothing when we have none */
		value = getenv(key);
		if (!value)
			return RB_EXIT_OK;
	}
	cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
	cJSON_AddStringToObject(obj, key, value);
	return RB_EXIT_OK;
}

static int parse_number(const struct rb_cli_verb *v, const char *flag, const char *arg, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(arg, &end);
	if (errno || end == arg || *end || *out <= 0)
		return rb_cli_usage_error(v, "%s needs a positive number, not \"%s\"", flag, arg);
	return RB_EXIT_OK;
}

int rb_cli_parse_ms(const struct rb_cli_verb *v, const char *flag, const char *arg, long max,
		    long *out)
{
	char *end;

	errno = 0;
	*out = strtol(arg, &end, 10);
	if (errno || end == arg || *end || *out < 1 || *out > max)
		return rb_cli_usage_error(v, "%s needs milliseconds from 1 to %ld, not \"%s\"",
					  flag, max, arg);
	return RB_EXIT_OK;
}

/* config[name] as an object, made when missing. */
static cJSON *member(cJSON *config, const char *name)
{
	cJSON *o = cJSON_GetObjectItemCaseSensitive(config, name);

	return o ? o : cJSON_AddObjectToObject(config, name);
}

int rb_cli_sandbox_opt(const struct rb_cli_verb *v, cJSON *config, int c, const char *arg)
{
	static const char *const resource[] = {"cpu", "memoryMb", "diskMb"}; /* by option */
	static const char *const flag[] = {"--cpus", "--memory", "--disk"};
	cJSON *res;
	double n;
	int rc;

	switch (c) {
	case 'e':
		rc = rb_cli_add_kv(v, member(config, "env"), "-e", arg, true);
		return rc == RB_EXIT_OK ? 1 : -rc;
	case RB_OPT_LABEL:
		rc = rb_cli_add_kv(v, member(config, "metadata"), "--label", arg, false);
		return rc == RB_EXIT_OK ? 1 : -rc;
	case 'w':
		if (arg[0] != '/') {
			rb_cli_usage_error(v, "-w needs an absolute path, not \"%s\"", arg);
			return -RB_EXIT_USAGE;
		}
		cJSON_DeleteItemFromObjectCaseSensitive(config, "workdir");
		cJSON_AddStringToObject(config, "workdir", arg);
		return 1;
	case RB_OPT_CPUS:
	case RB_OPT_MEMORY:
	case RB_OPT_DISK:
		if (parse_number(v, flag[c - RB_OPT_CPUS], arg, &n) != RB_EXIT_OK)
			return -RB_EXIT_USAGE;
		res = member(config, "resources");
		cJSON_DeleteItemFromObjectCaseSensitive(res, resource[c - RB_OPT_CPUS]);
		cJSON_AddNumberToObject(res, resource[c - RB_OPT_CPUS], n);
		return 1;
	}
	return rb_cli_network_opt(v, config, c, arg);
}

int rb_cli_sandbox_create(struct rb_cli *cli, const cJSON *config, char **id)
{
	_cleanup_json_ cJSON *sb = NULL;
	const cJSON *sid;
	int rc = rb_cli_call(cli, "POST", "/api/v1/sandboxes", config, &sb);

	*id = NULL;
	if (rc != RB_EXIT_OK)
		return rc;
	sid = cJSON_GetObjectItemCaseSensitive(sb, "id");
	if (!cJSON_IsString(sid)) {
		fprintf(stderr, "runbox: the daemon created a sandbox without an id\n");
		return RB_EXIT_API;
	}
	*id = strdup(sid->valuestring);
	return *id ? RB_EXIT_OK : RB_EXIT_API;
}

int rb_cli_sandbox_terminate(struct rb_cli *cli, const char *id)
{
	_cleanup_free_ char *path = rb_cli_api_path("/api/v1/sandboxes/", id, NULL);
	_cleanup_json_ cJSON *sb = NULL;

	if (!path)
		return RB_EXIT_API;
	return rb_cli_call(cli, "DELETE", path, NULL, &sb);
}

static int run(struct rb_cli *cli, const struct rb_cli_verb *self, int argc, char **argv)
{
	static const struct option opts[] = {
	    RB_CLI_SANDBOX_LONGOPTS,
	    RB_CLI_OPT_JSON,
	    RB_CLI_OPTS_END,
	};
	_cleanup_json_ cJSON *config = cJSON_CreateObject();
	_cleanup_free_ char *id = NULL;
	long timeout;
	int c, rc;

	if (!config)
		return RB_EXIT_API;
	while ((c = rb_cli_getopt(cli, self, argc, argv, RB_CLI_SANDBOX_SHORTOPTS, opts)) != -1) {
		rc = rb_cli_sandbox_opt(self, config, c, optarg);
		if (rc < 0)
			return -rc;
		if (rc)
			continue;
		if (c != RB_OPT_TIMEOUT)
			return rb_cli_opt_exit(c);
		/* the sandbox's life: the API allows up to a day */
		if (rb_cli_parse_ms(self, "--timeout", optarg, 86400000L, &timeout))
			return RB_EXIT_USAGE;
		cJSON_AddNumberToObject(config, "timeoutMs", (double)timeout);
	}
	if (optind + 1 < argc)
		return rb_cli_usage_error(self,
					  "unexpected argument \"%s\" (create takes no "
					  "command; use runbox exec)",
					  argv[optind + 1]);
	cJSON_AddStringToObject(config, "image", argv[optind]);
	if (cli->json)
		return rb_cli_call_print(cli, "POST", "/api/v1/sandboxes", config);
	rc = rb_cli_sandbox_create(cli, config, &id);
	if (rc == RB_EXIT_OK)
		puts(id);
	if (rc == RB_EXIT_OK)
		rc = rb_cli_print_ports(cli, id, config);
	return rc;
}

const struct rb_cli_verb rb_cli_verb_create = {
    .name = "create",
    .run = run,
    .needs_daemon = true,
    .usage = "create [OPTIONS] IMAGE",
    .summary = "Create a sandbox and print its id",
    .help = RB_CLI_SANDBOX_HELP "      --timeout MS    the sandbox's life (default 300000)\n"
				"      --json          print the sandbox as JSON\n",
    .min_args = 1,
    .max_args = -1,
    .needs = "an image",
};
