/* runbox image COMMAND: inspect here; ls, rm and load are the top-level verbs under new names. */
#include "cli.h"

static int inspect(struct rb_cli *cli, const struct rb_cli_verb *self, int argc, char **argv)
{
	return rb_cli_inspect(cli, self, argc, argv, "/api/v1/images/");
}

static const struct rb_cli_verb inspect_verb = {
    .name = "image inspect",
    .run = inspect,
    .needs_daemon = true,
    .usage = "image inspect REF...",
    .summary = "Show images as JSON",
    .help = "",
    .min_args = 1,
    .max_args = -1,
    .needs = "at least one image",
};

static const struct rb_cli_sub subs[] = {
    {"inspect", &inspect_verb, NULL},
    {"ls", &rb_cli_verb_images, "List images (runbox images)"},
    {"rm", &rb_cli_verb_rmi, "Remove images (runbox rmi)"},
    {"load", &rb_cli_verb_load, "Load an image archive (runbox load)"},
};

static int run(struct rb_cli *cli, const struct rb_cli_verb *self, int argc, char **argv)
{
	return rb_cli_run_sub(cli, self, subs, RB_ARRAY_SIZE(subs), argc, argv);
}

const struct rb_cli_verb rb_cli_verb_image = {
    .name = "image",
    .run = run,
    .needs_daemon = true,
    .usage = "image COMMAND [ARG...]",
    .summary = "Manage images: inspect, ls, rm, load",
    .help = "",
};
