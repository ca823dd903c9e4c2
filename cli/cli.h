/* The CLI: one file per verb, a table in main.c, and a small HTTP client of the daemon. */
#ifndef RB_CLI_H
#define RB_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <cjson/cJSON.h>

#include "common/cleanup.h"

/* Exit codes, docker's convention */
#define RB_EXIT_OK	    0
#define RB_EXIT_API	    1	/* the daemon answered with an error, or a local failure */
#define RB_EXIT_USAGE	    2	/* bad verb, flag or argument */
#define RB_EXIT_UNREACHABLE 125 /* no daemon answered and none could be started */

/* Long-only options share these values across verbs. */
enum {
	RB_OPT_JSON = 0x100,
	RB_OPT_SOCKET,
	RB_OPT_STATE_DIR,
	RB_OPT_VERSION,
	RB_OPT_VERB_BASE = 0x200, /* a verb's own long-only options start here */
};

struct rb_cli {
	char *socket_path; /* absolute */
	char *state_dir;   /* absolute */
	bool json;
	bool autostart;		/* start a daemon when none answers (the verb needs one) */
	bool quiet_unreachable; /* no message when no daemon answers (version) */
	bool autostarted;
	bool debug;
};

struct rb_cli_verb {
	const char *name;
	int (*run)(struct rb_cli *cli, const struct rb_cli_verb *self, int argc, char **argv);
	bool needs_daemon;
	const char *usage;   /* after "runbox " */
	const char *summary; /* one line, for runbox --help */
	const char *help;    /* the options, for runbox VERB --help */
};

extern const struct rb_cli_verb rb_cli_verb_serve, rb_cli_verb_load, rb_cli_verb_images,
    rb_cli_verb_image, rb_cli_verb_rmi, rb_cli_verb_info, rb_cli_verb_version;

/* main.c: option parsing with runbox's messages. Returns the option, -1 at the end, 'h'
 * after printing the verb's help, '?' after printing a usage error. */
int rb_cli_getopt(const struct rb_cli_verb *v, int argc, char **argv, const char *shortopts,
		  const struct option *longopts);
int rb_cli_usage_error(const struct rb_cli_verb *v, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void rb_cli_print_json(const cJSON *json);
/* path made absolute against the working directory, in a new string */
char *rb_cli_absolute(const char *path);

/* client.c: HTTP over the daemon's socket. Both return an exit code: RB_EXIT_OK with *out set
 * (may be NULL for an empty body) on a 2xx answer, else RB_EXIT_API or RB_EXIT_UNREACHABLE
 * after printing the error. */
int rb_cli_call(struct rb_cli *cli, const char *method, const char *path, const cJSON *body,
		cJSON **out);
/* A streaming call: each NDJSON line of a 2xx answer goes to fn. */
typedef void (*rb_cli_line_fn)(const cJSON *line, void *userdata);
int rb_cli_stream(struct rb_cli *cli, const char *method, const char *path, const cJSON *body,
		  rb_cli_line_fn fn, void *userdata);
/* Print "runbox: CODE: message" from an answer's {"error":{...}}; RB_EXIT_API. */
int rb_cli_print_api_error(const cJSON *answer, long status);
/* Percent-encode a path segment (an image reference) into a new string. */
char *rb_cli_escape(const char *s);

/* autostart.c: start `runbox serve` in the background and wait for its health. */
int rb_cli_autostart(struct rb_cli *cli);
/* 1 when GET /api/v1/health answers 200. */
int rb_cli_ping(struct rb_cli *cli);

static inline void rb_cli_json_deletep(cJSON **j)
{
	cJSON_Delete(*j);
}
#define _cleanup_json_ _cleanup_(rb_cli_json_deletep)

#endif
