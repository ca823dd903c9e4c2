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
extern const struct rb_cli_verb rb_cli_verb_run, rb_cli_verb_create, rb_cli_verb_exec,
    rb_cli_verb_ps, rb_cli_verb_inspect, rb_cli_verb_rm, rb_cli_verb_cp, rb_cli_verb_files;

/* Exit codes of run and exec beyond the command's own (timeout(1)'s and the shell's). */
#define RB_EXIT_TIMED_OUT 124 /* the command ran past its time limit */
#define RB_EXIT_SIGNAL	  128 /* + N: the command, or we, died of signal N */

/* create.c: the sandbox flags run and create share (-e -w --cpus --memory --disk --timeout
 * --label), gathered into a SandboxConfig. */
enum {
	RB_OPT_CPUS = RB_OPT_VERB_BASE,
	RB_OPT_MEMORY,
	RB_OPT_DISK,
	RB_OPT_TIMEOUT,
	RB_OPT_LABEL,
	RB_OPT_VERB_OWN, /* a verb's options not shared with another start here */
};
#define RB_CLI_SANDBOX_SHORTOPTS "e:w:"
/* clang-format off */
#define RB_CLI_SANDBOX_LONGOPTS                                                                  \
	{"env", required_argument, NULL, 'e'}, {"workdir", required_argument, NULL, 'w'},        \
	    {"cpus", required_argument, NULL, RB_OPT_CPUS},                                      \
	    {"memory", required_argument, NULL, RB_OPT_MEMORY},                                  \
	    {"disk", required_argument, NULL, RB_OPT_DISK},                                      \
	    {"timeout", required_argument, NULL, RB_OPT_TIMEOUT},                                \
	    {"label", required_argument, NULL, RB_OPT_LABEL}
#define RB_CLI_SANDBOX_HELP                                                                      \
	"  -e, --env K=V       set an environment variable (K alone: take it from ours)\n"        \
	"  -w, --workdir DIR   the working directory (absolute)\n"                                \
	"      --cpus N        CPUs (fractional allowed)\n"                                       \
	"      --memory MB     memory limit in MiB\n"                                             \
	"      --disk MB       disk limit in MiB\n"                                               \
	"      --label K=V     a label (the sandbox's metadata)\n"
/* clang-format on */
/* Apply shared option c with its argument to config. 1 when c was one of them, 0 when not,
 * -RB_EXIT_USAGE after printing a bad value. --timeout is left to the verb (it means the
 * sandbox's life for create, the command's for run). */
int rb_cli_sandbox_opt(const struct rb_cli_verb *v, cJSON *config, int c, const char *arg);
/* "K=V" (or "K", with V from our environment when from_env, else "") into obj. RB_EXIT_OK or
 * RB_EXIT_USAGE after printing. */
int rb_cli_add_kv(const struct rb_cli_verb *v, cJSON *obj, const char *what, const char *kv,
		  bool from_env);
/* A whole number from 1 to max, or RB_EXIT_USAGE after printing. */
int rb_cli_parse_ms(const struct rb_cli_verb *v, const char *flag, const char *arg, long max,
		    long *out);
/* POST /api/v1/sandboxes; *id is the new sandbox's id. An exit code. */
int rb_cli_sandbox_create(struct rb_cli *cli, const cJSON *config, char **id);
/* DELETE /api/v1/sandboxes/{id}. An exit code. */
int rb_cli_sandbox_terminate(struct rb_cli *cli, const char *id);

/* exec.c: run a command in a sandbox, its output streamed to ours as it comes; returns the
 * command's exit code (124 on a timeout, 128+N for a signal) or ours (1, 125). With as_json
 * the ExecutionResult is printed at the end instead. request is the exec body. */
int rb_cli_exec_stream(struct rb_cli *cli, const char *id, const cJSON *request, bool as_json);
/* All of standard input, as the exec's text "stdin". RB_EXIT_OK or RB_EXIT_API. */
int rb_cli_read_stdin(char **out);
/* rb_cli_getopt that stops at the first operand, so that a command's own flags stay its own
 * ("runbox exec ID ls -l"). */
int rb_cli_getopt_in_order(const struct rb_cli_verb *v, int argc, char **argv,
			   const char *shortopts, const struct option *longopts);
#define RB_CLI_EXEC_MAX_TIMEOUT_MS 300000L /* the API's ceiling, our default */

/* files.c: a raw GET whose 2xx body goes, as it comes, to fd (never held in memory). An
 * error answer gives RB_EXIT_API and is printed, or handed to *error (may be NULL) when error
 * is given; *status is the HTTP status. */
int rb_cli_download(struct rb_cli *cli, const char *path, const char *accept, int fd, cJSON **error,
		    long *status);
/* POST .../files with content from fd (base64), creating PATH with mode. An exit code. */
int rb_cli_upload(struct rb_cli *cli, const char *id, const char *path, int fd, int mode);
/* The query string "?path=P" (escaped) appended to "/api/v1/sandboxes/ID/files" + suffix. */
char *rb_cli_files_url(const char *id, const char *suffix, const char *path, const char *extra);

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
