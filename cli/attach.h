/* attach.c: interactive exec, the client of POST .../exec upgraded to runbox-exec frames. */
#ifndef RB_CLI_ATTACH_H
#define RB_CLI_ATTACH_H

#include <stdbool.h>
#include <cjson/cJSON.h>

#include "cli.h"

/* Whether run and exec attach, for -i (interactive) and -t (tty): 1 with -t, or -i without
 * --json (whose whole result needs the old, collected form); 0 when not; -RB_EXIT_USAGE after
 * printing (-t with --json). */
int rb_cli_attach_mode(const struct rb_cli_verb *v, const struct rb_cli *cli, bool interactive,
		       bool tty);
/* Run the ExecRequest in sandbox id with, when input, our standard input streamed to it as it
 * comes, and with tty a terminal inside (ours raw meanwhile, when stdin is one; its size
 * follows ours). Returns the command's exit code (124 past its time limit, 128+N for signal
 * N, also when we are ended by one) or ours (1, 125). request gets "timeoutMs", "tty" and the
 * size. */
int rb_cli_attach(struct rb_cli *cli, const char *id, cJSON *request, long timeout_ms, bool input,
		  bool tty);
/* Put our terminal back as it was before rb_cli_attach made it raw (async-signal-safe: for a
 * signal handler or thread that ends us meanwhile). */
void rb_cli_attach_restore(void);

#endif
