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

static int remove_one(struct rb_cli *cli, const char *ref, void *userdata)
{
	struct rb_cli_removal *rm = userdata;
	_cleanup_free_ char *path =
	    rb_cli_api_path("/api/v1/images/", ref, rm->force ? "?force=true" : "?force=false");
	_cleanup_json_ cJSON *answer = NULL;
	cJSON *removed;
	int rc;

	if (!path)
		return RB_EXIT_API;
	rc = rb_cli_call(cli, "DELETE", path, NULL, &answer);
	if (rc != RB_EXIT_OK)
		return rc;
	removed = cJSON_GetObjectItemCaseSensitive(answer, "removed");
	if (cli->json)
		cJSON_AddItemToArray(rm->out, cJSON_Duplicate(removed, 1));
	else
		print_removed(removed);
	return RB_EXIT_OK;
}

static int run(struct rb_cli *cli, const struct rb_cli_verb *self, int argc, char **argv)
{
	return rb_cli_remove(cli, self, argc, argv, remove_one);
}

const struct rb_cli_verb rb_cli_verb_rmi = {
    .name = "rmi",
    .run = run,
    .needs_daemon = true,
    .usage = "rmi [-f] REF...",
    .summary = "Remove images",
    .help = "  -f, --force   untag even an image a sandbox uses\n"
	    "      --json    print what was removed as JSON\n",
    .min_args = 1,
    .max_args = -1,
    .needs = "at least one image",
};
