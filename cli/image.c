/* runbox image COMMAND: inspect here; ls, rm and load are the top-level verbs under new names. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int inspect(struct rb_cli *cli, const struct rb_cli_verb *self, int argc, char **argv);

static const struct rb_cli_verb inspect_verb = {
    .name = "image inspect",
    .run = inspect,
    .needs_daemon = true,
    .usage = "image inspect REF...",
    .summary = "Show images as JSON",
    .help = "",
};

static const struct {
	const char *name;
	const struct rb_cli_verb *verb;
} subs[] = {
    {"inspect", &inspect_verb},
    {"ls", &rb_cli_verb_images},
    {"rm", &rb_cli_verb_rmi},
    {"load", &rb_cli_verb_load},
};

static int inspect(struct rb_cli *cli, const struct rb_cli_verb *self, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"help", no_argument, NULL, 'h'},
	    {"json", no_argument, NULL, RB_OPT_JSON},
	    {NULL, 0, NULL, 0},
	};
	_cleanup_json_ cJSON *all = cJSON_CreateArray();
	int c, rc = RB_EXIT_OK;

	while ((c = rb_cli_getopt(self, argc, argv, "h", opts)) != -1) {
		if (c == 'h')
			return RB_EXIT_OK;
		if (c != RB_OPT_JSON)
			return RB_EXIT_USAGE;
	}
	if (optind >= argc)
		return rb_cli_usage_error(self, "image inspect needs at least one image");
	for (int i = optind; i < argc; i++) {
		_cleanup_free_ char *ref = rb_cli_escape(argv[i]);
		_cleanup_free_ char *path = NULL;
		cJSON *img = NULL;
		int r;

		if (!ref || asprintf(&path, "/api/v1/images/%s", ref) < 0)
			return RB_EXIT_API;
		r = rb_cli_call(cli, "GET", path, NULL, &img);
		if (r == RB_EXIT_UNREACHABLE)
			return r;
		if (r != RB_EXIT_OK)
			rc = r;
		else if (img)
			cJSON_AddItemToArray(all, img);
	}
	rb_cli_print_json(all);
	return rc;
}

static int run(struct rb_cli *cli, const struct rb_cli_verb *self, int argc, char **argv)
{
	if (argc < 2)
		return rb_cli_usage_error(self, "image needs a command: inspect, ls, rm or load");
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		printf("Usage: runbox %s\n\n%s\n\nCommands:\n"
		       "  inspect    Show images as JSON\n"
		       "  ls         List images (runbox images)\n"
		       "  rm         Remove images (runbox rmi)\n"
		       "  load       Load an image archive (runbox load)\n",
		       self->usage, self->summary);
		return RB_EXIT_OK;
	}
	for (size_t i = 0; i < RB_ARRAY_SIZE(subs); i++) {
		if (!strcmp(subs[i].name, argv[1])) {
			cli->autostart = subs[i].verb->needs_daemon;
			return subs[i].verb->run(cli, subs[i].verb, argc - 1, argv + 1);
		}
	}
	return rb_cli_usage_error(self, "unknown command \"image %s\"", argv[1]);
}

const struct rb_cli_verb rb_cli_verb_image = {
    .name = "image",
    .run = run,
    .needs_daemon = true,
    .usage = "image COMMAND [ARG...]",
    .summary = "Manage images: inspect, ls, rm, load",
    .help = "",
};
