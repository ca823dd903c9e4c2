/*
 * Networking from the command line: the flags run and create share (--network, --allow,
 * --deny-by-default, -p), runbox network ID [set ...] (GET and PATCH .../network) and
 * runbox port ID [PORT] (the URLs of its exposed ports).
 */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* config[name] as an object, made when missing. */
static cJSON *member(cJSON *obj, const char *name)
{
	cJSON *o = cJSON_GetObjectItemCaseSensitive(obj, name);

	return o ? o : cJSON_AddObjectToObject(obj, name);
}

static cJSON *array_member(cJSON *obj, const char *name)
{
	cJSON *a = cJSON_GetObjectItemCaseSensitive(obj, name);

	return a ? a : cJSON_AddArrayToObject(obj, name);
}

static int parse_port(const struct rb_cli_verb *v, const char *flag, const char *arg, long *out)
{
	char *end;

	errno = 0;
	*out = strtol(arg, &end, 10);
	if (errno || end == arg || *end || *out < 1 || *out > 65535)
		return rb_cli_usage_error(v, "%s needs a port from 1 to 65535, not \"%s\"", flag,
					  arg);
	return RB_EXIT_OK;
}

int rb_cli_network_opt(const struct rb_cli_verb *v, cJSON *config, int c, const char *arg)
{
	cJSON *net = NULL, *eg;
	long port;

	switch (c) {
	case RB_OPT_NETWORK:
		if (strcmp(arg, "none") && strcmp(arg, "private")) {
			rb_cli_usage_error(v, "--network needs none or private, not \"%s\"", arg);
			return -RB_EXIT_USAGE;
		}
		net = member(config, "network");
		cJSON_DeleteItemFromObjectCaseSensitive(net, "mode");
		cJSON_AddStringToObject(net, "mode", arg);
		return 1;
	case RB_OPT_ALLOW:
		eg = member(member(config, "network"), "egress");
		cJSON_AddItemToArray(array_member(eg, "allow"), cJSON_CreateString(arg));
		return 1;
	case RB_OPT_DENY_DEFAULT:
		eg = member(member(config, "network"), "egress");
		cJSON_DeleteItemFromObjectCaseSensitive(eg, "default");
		cJSON_AddStringToObject(eg, "default", "deny");
		return 1;
	case 'p':
		if (parse_port(v, "-p", arg, &port) != RB_EXIT_OK)
			return -RB_EXIT_USAGE;
		net = member(member(config, "network"), "ingress");
		cJSON_AddItemToArray(array_member(net, "allowPorts"),
				     cJSON_CreateNumber((double)port));
		return 1;
	}
	return 0;
}

/* "PORT -> URL" lines for each Port in list (only port when not 0), to f. */
static void print_ports(FILE *f, const cJSON *list, long port)
{
	const cJSON *p;

	cJSON_ArrayForEach(p, list)
	{
		const cJSON *n = cJSON_GetObjectItemCaseSensitive(p, "port");

		if (!cJSON_IsNumber(n) || (port && n->valueint != port))
			continue;
		fprintf(f, "%d -> %s\n", n->valueint, rb_cli_str(p, "url"));
	}
}

int rb_cli_print_ports(struct rb_cli *cli, const char *id, const cJSON *config)
{
	const cJSON *ports = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(config, "network"),
					     "ingress"),
	    "allowPorts");
	_cleanup_free_ char *path = NULL;
	_cleanup_json_ cJSON *list = NULL;
	int rc;

	if (cJSON_GetArraySize(ports) == 0)
		return RB_EXIT_OK;
	path = rb_cli_api_path("/api/v1/sandboxes/", id, "/ports");
	if (!path)
		return RB_EXIT_API;
	rc = rb_cli_call(cli, "GET", path, NULL, &list);
	if (rc == RB_EXIT_OK)
		print_ports(stderr, list, 0);
	return rc;
}

/* ---- runbox port ID [PORT] ---- */

static int port_run(struct rb_cli *cli, const struct rb_cli_verb *self, int argc, char **argv)
{
	static const struct option opts[] = {
	    RB_CLI_OPT_JSON,
	    RB_CLI_OPTS_END,
	};
	_cleanup_free_ char *path = NULL;
	_cleanup_json_ cJSON *list = NULL;
	long port = 0;
	int c, rc;

	while ((c = rb_cli_getopt(cli, self, argc, argv, "", opts)) != -1)
		return rb_cli_opt_exit(c);
	if (optind + 1 < argc && parse_port(self, "PORT", argv[optind + 1], &port) != RB_EXIT_OK)
		return RB_EXIT_USAGE;
	path = rb_cli_api_path("/api/v1/sandboxes/", argv[optind], "/ports");
	if (!path)
		return RB_EXIT_API;
	rc = rb_cli_call(cli, "GET", path, NULL, &list);
	if (rc != RB_EXIT_OK)
		return rc;
	if (cli->json) {
		rb_cli_print_json(list);
		return RB_EXIT_OK;
	}
	if (port) {
		const cJSON *p;

		cJSON_ArrayForEach(p, list)
		{
			if (cJSON_GetObjectItemCaseSensitive(p, "port")->valueint == port) {
				puts(rb_cli_str(p, "url"));
				return RB_EXIT_OK;
			}
		}
		fprintf(stderr, "runbox: port %ld of sandbox %s is not exposed\n", port,
			argv[optind]);
		return RB_EXIT_API;
	}
	print_ports(stdout, list, 0);
	return RB_EXIT_OK;
}

const struct rb_cli_verb rb_cli_verb_port = {
    .name = "port",
    .run = port_run,
    .needs_daemon = true,
    .usage = "port [OPTIONS] ID [PORT]",
    .summary = "Show the URLs of a sandbox's exposed ports",
    .help = "      --json          print the ports as JSON\n",
    .min_args = 1,
    .max_args = 2,
    .needs = "a sandbox id",
};

/* ---- runbox network ID, runbox network set ID ---- */

static void print_summary(const cJSON *n)
{
	const cJSON *eg = cJSON_GetObjectItemCaseSensitive(n, "egress"), *it;
	const cJSON *ports = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(n, "ingress"), "allowPorts");
	const cJSON *dns = cJSON_GetObjectItemCaseSensitive(n, "dns");
	int i = 0;

	printf("Mode:       %s\n", rb_cli_str(n, "mode"));
	if (cJSON_IsString(cJSON_GetObjectItemCaseSensitive(n, "address")))
		printf("Address:    %s (gateway %s, %s)\n", rb_cli_str(n, "address"),
		       rb_cli_str(n, "gateway"), rb_cli_str(n, "interface"));
	printf("Egress:     default %s\n", rb_cli_str(eg, "default"));
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(eg, "allow"))
	    printf("  allow     %s\n", cJSON_GetStringValue(it));
	printf("Ports:     ");
	cJSON_ArrayForEach(it, ports) printf(" %d", it->valueint);
	printf("%s\n", cJSON_GetArraySize(ports) ? "" : " none");
	if (cJSON_IsObject(dns))
		printf("DNS:        %g allowed, %g refused, %g failed, %g rebinding\n",
		       cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(dns, "allowed")),
		       cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(dns, "refused")),
		       cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(dns, "failed")),
		       cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(dns, "rebinding")));
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(n, "denied"))
	{
		if (i++ == 0)
			printf("Denied:\n");
		printf("  %s:%d  %g\n", rb_cli_str(it, "address"),
		       cJSON_GetObjectItemCaseSensitive(it, "port")->valueint,
		       cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(it, "count")));
	}
}

enum { OPT_DEFAULT = RB_OPT_VERB_OWN };

static int set_run(struct rb_cli *cli, const struct rb_cli_verb *self, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"allow", required_argument, NULL, RB_OPT_ALLOW},
	    {"default", required_argument, NULL, OPT_DEFAULT},
	    {"deny-by-default", no_argument, NULL, RB_OPT_DENY_DEFAULT},
	    RB_CLI_OPT_JSON,
	    RB_CLI_OPTS_END,
	};
	_cleanup_json_ cJSON *now = NULL, *answer = NULL;
	_cleanup_json_ cJSON *body = cJSON_CreateObject();
	_cleanup_free_ char *path = NULL;
	cJSON *eg = cJSON_AddObjectToObject(body, "egress"), *allow = NULL;
	const char *def = NULL;
	int c, rc;

	while ((c = rb_cli_getopt(cli, self, argc, argv, "", opts)) != -1) {
		if (c == RB_OPT_ALLOW) {
			if (!allow)
				allow = cJSON_AddArrayToObject(eg, "allow");
			cJSON_AddItemToArray(allow, cJSON_CreateString(optarg));
		} else if (c == OPT_DEFAULT || c == RB_OPT_DENY_DEFAULT) {
			def = c == RB_OPT_DENY_DEFAULT ? "deny" : optarg;
			if (strcmp(def, "allow") && strcmp(def, "deny"))
				return rb_cli_usage_error(
				    self, "--default needs allow or deny, not \"%s\"", def);
		} else {
			return rb_cli_opt_exit(c);
		}
	}
	if (!allow && !def)
		return rb_cli_usage_error(self, "nothing to set: give --allow or --default");
	path = rb_cli_api_path("/api/v1/sandboxes/", argv[optind], "/network");
	if (!path)
		return RB_EXIT_API;
	/* what is not given stays as it is */
	rc = rb_cli_call(cli, "GET", path, NULL, &now);
	if (rc != RB_EXIT_OK)
		return rc;
	if (!allow)
		cJSON_AddItemToObject(
		    eg, "allow",
		    cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(
					cJSON_GetObjectItemCaseSensitive(now, "egress"), "allow"),
				    1));
	cJSON_AddStringToObject(
	    eg, "default",
	    def ? def : rb_cli_str(cJSON_GetObjectItemCaseSensitive(now, "egress"), "default"));
	rc = rb_cli_call(cli, "PATCH", path, body, &answer);
	if (rc != RB_EXIT_OK)
		return rc;
	if (cli->json)
		rb_cli_print_json(answer);
	else
		print_summary(answer);
	return RB_EXIT_OK;
}

static const struct rb_cli_verb verb_set = {
    .name = "set",
    .run = set_run,
    .needs_daemon = true,
    .usage = "network set [OPTIONS] ID",
    .summary = "Change a running sandbox's egress policy",
    .help = "      --allow ENTRY   an allowed destination: a domain (*.example.com), an "
	    "address or CIDR, each with an optional :port (repeatable; replaces the list)\n"
	    "      --default allow|deny\n"
	    "                      what is not in the list (default: as it is)\n"
	    "      --deny-by-default  --default deny\n"
	    "      --json          print the network as JSON\n",
    .min_args = 1,
    .max_args = 1,
    .needs = "a sandbox id",
};

static int network_run(struct rb_cli *cli, const struct rb_cli_verb *self, int argc, char **argv)
{
	static const struct option opts[] = {
	    RB_CLI_OPT_JSON,
	    RB_CLI_OPTS_END,
	};
	_cleanup_free_ char *path = NULL;
	_cleanup_json_ cJSON *n = NULL;
	int c, rc;

	if (argc > 1 && !strcmp(argv[1], "set")) {
		cli->autostart = verb_set.needs_daemon;
		return verb_set.run(cli, &verb_set, argc - 1, argv + 1);
	}
	while ((c = rb_cli_getopt(cli, self, argc, argv, "", opts)) != -1)
		return rb_cli_opt_exit(c);
	path = rb_cli_api_path("/api/v1/sandboxes/", argv[optind], "/network");
	if (!path)
		return RB_EXIT_API;
	rc = rb_cli_call(cli, "GET", path, NULL, &n);
	if (rc != RB_EXIT_OK)
		return rc;
	if (cli->json)
		rb_cli_print_json(n);
	else
		print_summary(n);
	return RB_EXIT_OK;
}

const struct rb_cli_verb rb_cli_verb_network = {
    .name = "network",
    .run = network_run,
    .needs_daemon = true,
    .usage = "network [OPTIONS] ID | network set [OPTIONS] ID",
    .summary = "Show a sandbox's network (or change its egress policy: network set)",
    .help = "      --json          print the network as JSON\n"
	    "\n`runbox network set --help` for changing the policy.\n",
    .min_args = 1,
    .max_args = 1,
    .needs = "a sandbox id",
};
