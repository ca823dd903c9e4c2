/* runbox rmi [-f] REF...: untag images, and delete those left without a name. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>

static void print_removed(const cJSON *removed)
{
	const cJSON *untagged = cJSON_GetObjectItemCaseSensitive(removed, "untagged");
	const cJSON *deleted = cJSON_GetObjectItemCaseSensitive(removed, "deleted");
	const cJSON *name;

	cJSON_ArrayForEach(name, untagged)
	{
		if (cJSON_IsString(name))
			printf("Untagged: %s\n", name->valuestring);
	}
	if (cJSON_IsString(deleted))
		printf("Deleted: %s\n", deleted->valuestring);
}

static int run(struct rb_cli *cli, const struct rb_cli_verb *self, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"force", no_argument, NULL, 'f'},
	    {"json", no_argument, NULL, RB_OPT_JSON},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	_cleanup_json_ cJSON *all = cJSON_CreateArray();
	bool force = false;
	int c, rc = RB_EXIT_OK;

	while ((c = rb_cli_getopt(self, argc, argv, "fh", opts)) != -1) {
		switch (c) {
		case 'f':
			force = true;
			break;
		case RB_OPT_JSON:
			cli->json = true;
			break;
		case 'h':
			return RB_EXIT_OK;
		default:
			return RB_EXIT_USAGE;
		}
	}
	if (optind >= argc)
		return rb_cli_usage_error(self, "rmi needs at least one image");
	for (int i = optind; i < argc; i++) {
		_cleanup_free_ char *ref = rb_cli_escape(argv[i]);
		_cleanup_free_ char *path = NULL;
		_cleanup_json_ cJSON *answer = NULL;
		cJSON *removed;
		int r;

		if (!ref || asprintf(&path, "/api/v1/images/%s?force=%s", ref,
				     force ? "true" : "false") < 0)
			return RB_EXIT_API;
		r = rb_cli_call(cli, "DELETE", path, NULL, &answer);
		if (r == RB_EXIT_UNREACHABLE)
			return r;
		if (r != RB_EXIT_OK) {
			rc = r;
			continue;
		}
		removed = cJSON_GetObjectItemCaseSensitive(answer, "removed");
		if (cli->json)
			cJSON_AddItemToArray(all, cJSON_Duplicate(removed, 1));
		else
			print_removed(removed);
	}
	if (cli->json)
		rb_cli_print_json(all);
	return rc;
}

const struct rb_cli_verb rb_cli_verb_rmi = {
    .name = "rmi",
    .run = run,
    .needs_daemon = true,
    .usage = "rmi [-f] REF...",
    .summary = "Remove images",
    .help = "  -f, --force   untag even an image a sandbox uses\n"
	    "      --json    print what was removed as JSON\n",
};
