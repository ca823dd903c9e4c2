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
	/* the operands rb_cli_getopt lets through: from min_args to max_args (-1: no limit);
	 * too few is "VERB needs NEEDS" */
	int min_args, max_args;
	const char *needs;
};

extern const struct rb_cli_verb rb_cli_verb_serve, rb_cli_verb_load, rb_cli_verb_images,
    rb_cli_verb_image, rb_cli_verb_rmi, rb_cli_verb_info, rb_cli_verb_version;
extern const struct rb_cli_verb rb_cli_verb_run, rb_cli_verb_create, rb_cli_verb_exec,
    rb_cli_verb_ps, rb_cli_verb_inspect, rb_cli_verb_rm, rb_cli_verb_cp, rb_cli_verb_files;
extern const struct rb_cli_verb rb_cli_verb_pause, rb_cli_verb_resume, rb_cli_verb_stats;
extern const struct rb_cli_verb rb_cli_verb_events, rb_cli_verb_network, rb_cli_verb_port;

/* Exit codes of run and exec beyond the command's own (timeout(1)'s and the shell's). */
#define RB_EXIT_TIMED_OUT 124 /* the command ran past its time limit */
#define RB_EXIT_SIGNAL	  128 /* + N: the command, or we, died of signal N */

/* args.c: flags, operands and sub-commands with runbox's messages. */
/* The verb's next flag. -h/--help and --json (cli->json, when longopts has RB_CLI_OPT_JSON)
 * are taken here, and at the end of the flags the operands' count is checked against the
 * verb's min_args and max_args. A '+' first in shortopts stops at the first operand, so that
 * a command's own flags stay its own ("runbox exec ID ls -l"). Returns the flag, -1 at the
 * operands, 'h' after printing the verb's help, '?' after printing a usage error; the verb
 * returns rb_cli_opt_exit() of any it does not take. */
int rb_cli_getopt(struct rb_cli *cli, const struct rb_cli_verb *v, int argc, char **argv,
		  const char *shortopts, const struct option *longopts);
static inline int rb_cli_opt_exit(int c)
{
	return c == 'h' ? RB_EXIT_OK : RB_EXIT_USAGE;
}
/* clang-format off */
#define RB_CLI_OPT_JSON {"json", no_argument, NULL, RB_OPT_JSON}
#define RB_CLI_OPTS_END {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}
/* clang-format on */
int rb_cli_usage_error(const struct rb_cli_verb *v, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The flag getopt stopped at, for a message: "-x" or the word as typed. */
const char *rb_cli_bad_flag(char **argv, char buf[3]);
/* fn on each operand, argv[optind...]: no daemon ends it, another failure is the exit code
 * while the rest go on. */
typedef int (*rb_cli_each_fn)(struct rb_cli *cli, const char *arg, void *userdata);
int rb_cli_each(struct rb_cli *cli, int argc, char **argv, rb_cli_each_fn fn, void *userdata);
/* runbox VERB SUB ...: the sub-command argv[1], or the list of them for -h. */
struct rb_cli_sub {
	const char *name;
	const struct rb_cli_verb *verb;
	const char *summary; /* NULL: the verb's own */
};
int rb_cli_run_sub(struct rb_cli *cli, const struct rb_cli_verb *self,
		   const struct rb_cli_sub *subs, size_t n, int argc, char **argv);

/* create.c: the sandbox flags run and create share (-e -w --cpus --memory --disk --timeout
 * --label), gathered into a SandboxConfig. */
enum {
	RB_OPT_CPUS = RB_OPT_VERB_BASE,
	RB_OPT_MEMORY,
	RB_OPT_DISK,
	RB_OPT_TIMEOUT,
	RB_OPT_LABEL,
	RB_OPT_NETWORK,
	RB_OPT_ALLOW,
	RB_OPT_DENY_DEFAULT,
	RB_OPT_VERB_OWN, /* a verb's options not shared with another start here */
};
#define RB_CLI_SANDBOX_SHORTOPTS "e:w:p:"
/* clang-format off */
#define RB_CLI_SANDBOX_LONGOPTS                                                                  \
	{"env", required_argument, NULL, 'e'}, {"workdir", required_argument, NULL, 'w'},        \
	    {"cpus", required_argument, NULL, RB_OPT_CPUS},                                      \
	    {"memory", required_argument, NULL, RB_OPT_MEMORY},                                  \
	    {"disk", required_argument, NULL, RB_OPT_DISK},                                      \
	    {"timeout", required_argument, NULL, RB_OPT_TIMEOUT},                                \
	    {"label", required_argument, NULL, RB_OPT_LABEL},                                    \
	    {"network", required_argument, NULL, RB_OPT_NETWORK},                                \
	    {"allow", required_argument, NULL, RB_OPT_ALLOW},                                    \
	    {"deny-by-default", no_argument, NULL, RB_OPT_DENY_DEFAULT},                         \
	    {"publish", required_argument, NULL, 'p'}
#define RB_CLI_SANDBOX_HELP                                                                      \
	"  -e, --env K=V       set an environment variable (K alone: take it from ours)\n"        \
	"  -w, --workdir DIR   the working directory (absolute)\n"                                \
	"      --cpus N        CPUs (fractional allowed)\n"                                       \
	"      --memory MB     memory limit in MiB\n"                                             \
	"      --disk MB       disk limit in MiB\n"                                               \
	"      --label K=V     a label (the sandbox's metadata)\n"                               \
	"      --network none|private  its network (default: the daemon's --default-network)\n" \
	"      --allow ENTRY   an allowed destination (domain, *.domain, address, CIDR; "         \
	":port optional; repeatable)\n"                                                            \
	"      --deny-by-default  deny what --allow does not name (egress.default deny)\n"        \
	"  -p, --publish PORT  expose the sandbox's PORT on 127.0.0.1 (repeatable; URLs "         \
	"on stderr)\n"
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
/* network.c: --network, --allow, --deny-by-default, -p into config, as rb_cli_sandbox_opt. */
int rb_cli_network_opt(const struct rb_cli_verb *v, cJSON *config, int c, const char *arg);
/* "PORT -> URL" on stderr for the ports config asked for (-p); an exit code. */
int rb_cli_print_ports(struct rb_cli *cli, const char *id, const cJSON *config);
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
#define RB_CLI_EXEC_MAX_TIMEOUT_MS 300000L /* the API's ceiling, our default */
/* The command's flags run and exec share: -i and --timeout. */
struct rb_cli_cmd_opts {
	long timeout_ms;
	bool interactive;
};
/* clang-format off */
#define RB_CLI_CMD_OPTS_INIT {.timeout_ms = RB_CLI_EXEC_MAX_TIMEOUT_MS}
/* clang-format on */
#define RB_CLI_CMD_HELP                                                                            \
	"      --timeout MS    kill the command after MS milliseconds, exit 124 "                  \
	"(default and most: 300000)\n"                                                             \
	"      --json          print the result (stdout, stderr, exitCode...) as JSON at the "     \
	"end\n"
/* Apply -i or --timeout to o: 1 when c was one of them, 0 when not, -RB_EXIT_USAGE after
 * printing a bad value (as rb_cli_sandbox_opt). */
int rb_cli_cmd_opt(const struct rb_cli_verb *v, struct rb_cli_cmd_opts *o, int c, const char *arg);
/* Put o's time limit, and with -i all of our standard input, into the exec request. An exit
 * code. */
int rb_cli_cmd_request(cJSON *req, const struct rb_cli_cmd_opts *o);

/* files.c: POST .../files with content from fd (base64), creating PATH with mode. An exit code. */
int rb_cli_upload(struct rb_cli *cli, const char *id, const char *path, int fd, int mode);
/* The query string "?path=P" (escaped) appended to "/api/v1/sandboxes/ID/files" + suffix. */
char *rb_cli_files_url(const char *id, const char *suffix, const char *path, const char *extra);

/* inspect.c: GET prefix + each operand (escaped), printed as one JSON array; docker inspect. */
int rb_cli_inspect(struct rb_cli *cli, const struct rb_cli_verb *self, int argc, char **argv,
		   const char *prefix);
/* rm.c: [-f] [--json] OPERAND..., fn on each with a struct rb_cli_removal; rmi's too. */
struct rb_cli_removal {
	bool force;
	cJSON *out; /* with --json, what fn removed */
};
int rb_cli_remove(struct rb_cli *cli, const struct rb_cli_verb *self, int argc, char **argv,
		  rb_cli_each_fn fn);

/* format.c: what people read in tables. */
/* obj[name] when it is a string, else "". */
const char *rb_cli_str(const cJSON *obj, const char *name);
/* "5 seconds ago", docker's words, from an RFC 3339 UTC time ("N/A" when it is not one). */
void rb_cli_ago(const char *when, char *buf, size_t len);

/* json.c */
void rb_cli_print_json(const cJSON *json);
/* main.c: path made absolute against the working directory, in a new string */
char *rb_cli_absolute(const char *path);

/* client.c: HTTP over the daemon's socket. Each returns an exit code: RB_EXIT_OK on a 2xx
 * answer, else RB_EXIT_API or RB_EXIT_UNREACHABLE after printing the error. */
/* A call with a JSON answer: *out is set (may be NULL for an empty body). */
int rb_cli_call(struct rb_cli *cli, const char *method, const char *path, const cJSON *body,
		cJSON **out);
/* rb_cli_call, its answer printed as JSON. */
int rb_cli_call_print(struct rb_cli *cli, const char *method, const char *path, const cJSON *body);
/* A streaming call: each NDJSON line of a 2xx answer goes to fn. */
typedef void (*rb_cli_line_fn)(const cJSON *line, void *userdata);
int rb_cli_stream(struct rb_cli *cli, const char *method, const char *path, const cJSON *body,
		  rb_cli_line_fn fn, void *userdata);
/* A raw GET whose 2xx body goes, as it comes, to fd (never held in memory). An error answer
 * is handed to *error instead of printed when error is given; *status is the HTTP status. */
int rb_cli_download(struct rb_cli *cli, const char *path, const char *accept, int fd, cJSON **error,
		    long *status);
/* Print "runbox: CODE: message" from an answer's {"error":{...}}; RB_EXIT_API. */
int rb_cli_print_api_error(const cJSON *answer, long status);
/* Percent-encode a path segment (an image reference) into a new string. */
char *rb_cli_escape(const char *s);
/* prefix, segment percent-encoded, suffix (may be NULL), in a new string:
 * ("/api/v1/sandboxes/", id, "/exec"). */
char *rb_cli_api_path(const char *prefix, const char *segment, const char *suffix);

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
