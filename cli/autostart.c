/*
 * When no daemon answers, a verb that needs one starts it: `runbox serve` in its own session,
 * output appended to STATE_DIR/runbox.log, and we wait up to 10 s for its health.
 */
#include "cli.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/fsutil.h"

#define START_TIMEOUT_MS 10000
#define POLL_MS		 50

static size_t discard(char *ptr, size_t size, size_t nmemb, void *ud)
{
	return size * nmemb;
}

int rb_cli_ping(struct rb_cli *cli)
{
	CURL *c = curl_easy_init();
	long status = 0;

	if (!c)
		return 0;
	curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, cli->socket_path);
	curl_easy_setopt(c, CURLOPT_URL, "http://runbox/api/v1/health");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 2000L);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	return status == 200;
}

/* In the child: become the daemon. Never returns. */
static void exec_daemon(struct rb_cli *cli, const char *log)
{
	int null_fd, log_fd;

	setsid();
	null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	log_fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (null_fd < 0 || log_fd < 0 || dup2(null_fd, 0) < 0 || dup2(log_fd, 1) < 0 ||
	    dup2(log_fd, 2) < 0)
		_exit(127);
	close_range(3, ~0U, 0);
	/* the daemon must not pin the directory it was started from */
	if (chdir("/") < 0)
		_exit(127);
	execl("/proc/self/exe", "runbox", "serve", "--socket", cli->socket_path, "--state-dir",
	      cli->state_dir, (char *)NULL);
	dprintf(2, "runbox: cannot exec /proc/self/exe: %s\n", strerror(errno));
	_exit(127);
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

int rb_cli_autostart(struct rb_cli *cli)
{
	_cleanup_free_ char *log = rb_path_join(cli->state_dir, "runbox.log");
	int exited = 0, status = 0, r;
	pid_t pid;

	cli->autostarted = true;
	if (!log)
		return RB_EXIT_UNREACHABLE;
	r = rb_mkdir_p(cli->state_dir, 0700);
	if (r < 0) {
		fprintf(stderr, "runbox: cannot start the daemon: creating %s: %s\n",
			cli->state_dir, strerror(-r));
		return RB_EXIT_UNREACHABLE;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "runbox: cannot start the daemon: fork: %s\n", strerror(errno));
		return RB_EXIT_UNREACHABLE;
	}
	if (pid == 0)
		exec_daemon(cli, log);
	if (cli->debug)
		fprintf(stderr, "runbox: started a daemon (pid %d) on %s, log %s\n", (int)pid,
			cli->socket_path, log);

	for (int waited = 0; waited < START_TIMEOUT_MS; waited += POLL_MS) {
		if (rb_cli_ping(cli))
			return RB_EXIT_OK;
		/* it may have lost a race to a daemon another CLI started: ping once more */
		if (!exited && waitpid(pid, &status, WNOHANG) == pid)
			exited = 1;
		else if (exited)
			break;
		sleep_ms(POLL_MS);
	}
	if (exited)
		fprintf(stderr,
			"runbox: the daemon exited with status %d before answering; see %s\n",
			WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), log);
	else
		fprintf(stderr, "runbox: the daemon did not answer on %s within %d s; see %s\n",
			cli->socket_path, START_TIMEOUT_MS / 1000, log);
	return RB_EXIT_UNREACHABLE;
}
