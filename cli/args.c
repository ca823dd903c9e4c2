/* A verb's flags, operands and sub-commands, with one set of messages for all of them. */
#include "cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void verb_help(const struct rb_cli_verb *v, FILE *f)
{
	fprintf(f, "Usage: runbox %s\n\n%s\n", v->usage, v->summary);
	if (v->help && v->help[0])
		fprintf(f, "\nOptions:\n%s", v->help);
}

int rb_cli_usage_error(const struct rb_cli_verb *v, const char *fmt, ...)
{
	va_list ap;

	fputs("runbox: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (v)
		fprintf(stderr, "\nUsage: runbox %s\nRun 'runbox %s --help' for more.\n", v->usage,
			v->name);
	else
		fprintf(stderr, "\nRun 'runbox --help' for usage.\n");
	return RB_EXIT_USAGE;
}

const char *rb_cli_bad_flag(char **argv, char buf[3])
{
	if (optopt > 0 && optopt < 0x100 && argv[optind - 1][1] != '-') {
		buf[0] = '-';
		buf[1] = (char)optopt;
		buf[2] = '\0';
		return buf;
	}
	return argv[optind - 1];
}

static int check_operands(const struct rb_cli_verb *v, int argc, char **argv)
{
	if (argc - optind < v->min_args) {
		rb_cli_usage_error(v, "%s needs %s", v->name, v->needs);
		return '?';
	}
	if (v->max_args >= 0 && argc - optind > v->max_args) {
		rb_cli_usage_error(v, "unexpected argument \"%s\"", argv[optind + v->max_args]);
		return '?';
	}
	return -1;
}

int rb_cli_getopt(struct rb_cli *cli, const struct rb_cli_verb *v, int argc, char **argv,
		  const char *shortopts, const struct option *longopts)
{
	bool in_order = shortopts[0] == '+';
	char spec[64], flag[3];
	int c;

	/* getopt takes its '+' only first, before the ':' that has it tell a missing value */
	snprintf(spec, sizeof(spec), "%s:h%s", in_order ? "+" : "", shortopts + in_order);
	opterr = 0;
	while ((c = getopt_long(argc, argv, spec, longopts, NULL)) == RB_OPT_JSON)
		cli->json = true;
	switch (c) {
	case -1:
		return check_operands(v, argc, argv);
	case 'h':
		verb_help(v, stdout);
		return 'h';
	case '?':
		rb_cli_usage_error(v, "unknown flag %s for \"%s\"", rb_cli_bad_flag(argv, flag),
				   v->name);
		return '?';
	case ':':
		rb_cli_usage_error(v, "flag %s needs a value", rb_cli_bad_flag(argv, flag));
		return '?';
	}
	return c;
}

int rb_cli_each(struct rb_cli *cli, int argc, char **argv, rb_cli_each_fn fn, void *userdata)
{
	int rc = RB_EXIT_OK;

	for (int i = optind; i < argc; i++) {
		int r = fn(cli, argv[i], userdata);

		if (r == RB_EXIT_UNREACHABLE)
			return r;
		if (r != RB_EXIT_OK)
			rc = r;
	}
	return rc;
}

/* "a, b or c" */
static void list_names(const struct rb_cli_sub *subs, size_t n, char *buf, size_t len)
{
	size_t at = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && at < len; i++)
		at += (size_t)snprintf(buf + at, len - at, "%s%s",
				       i == 0 ? "" : (i + 1 == n ? " or " : ", "), subs[i].name);
}

int rb_cli_run_sub(struct rb_cli *cli, const struct rb_cli_verb *self,
		   const struct rb_cli_sub *subs, size_t n, int argc, char **argv)
{
	char names[256];

	if (argc < 2) {
		list_names(subs, n, names, sizeof(names));
		return rb_cli_usage_error(self, "%s needs a command: %s", self->name, names);
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		printf("Usage: runbox %s\n\n%s\n\nCommands:\n", self->usage, self->summary);
		for (size_t i = 0; i < n; i++)
			printf("  %-10s %s\n", subs[i].name,
			       subs[i].summary ? subs[i].summary : subs[i].verb->summary);
		return RB_EXIT_OK;
	}
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(subs[i].name, argv[1])) {
			cli->autostart = subs[i].verb->needs_daemon;
			return subs[i].verb->run(cli, subs[i].verb, argc - 1, argv + 1);
		}
	}
	return rb_cli_usage_error(self, "unknown command \"%s %s\"", self->name, argv[1]);
}
