/* The latency the DNS proxy adds (bench/dns.sh): a fake upstream on 127.0.0.1 that answers every
 * A query with one address, the proxy in front of it with one sandbox allowed "bench.test", and a
 * client that times N queries straight to the upstream and N through the proxy, interleaved.
 * Prints the percentiles of both and the difference of the medians. Loopback only.
 * Usage: dns-bench [N] [WARM] */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "netpolicy/dns.h"

static int up_fd;

static void *upstream(void *arg)
{
	uint8_t q[4096], a[4200];

	(void)arg;
	for (;;) {
		struct sockaddr_storage from;
		socklen_t fl = sizeof(from);
		struct rb_net_dns_query pq;
		ssize_t n = recvfrom(up_fd, q, sizeof(q), 0, (struct sockaddr *)&from, &fl);
		static const uint8_t rr[] = {0xc0, 12, 0, 1, 0,	 1,   0,   0,
					     0,	   60, 0, 4, 93, 184, 216, 34};

		if (n < 0)
			return NULL;
		if (rb_net_dns_query_parse(q, (size_t)n, &pq) < 0)
			continue;
		memcpy(a, q, pq.question_end);
		a[2] = 0x81;
		a[3] = 0x80;
		a[7] = 1;  /* one answer */
		a[11] = 0; /* no OPT back */
		memcpy(a + pq.question_end, rr, sizeof(rr));
		sendto(up_fd, a, pq.question_end + sizeof(rr), 0, (struct sockaddr *)&from, fl);
	}
}

static int allow(void *ud, size_t rule, int family, const void *addr, uint32_t ttl)
{
	return 0;
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double one(int fd, const uint8_t *q, size_t qlen)
{
	uint8_t buf[4096];
	double t0 = now_us();

	if (send(fd, q, qlen, 0) < 0 || recv(fd, buf, sizeof(buf), 0) < 12 || (buf[3] & 0xf)) {
		fprintf(stderr, "dns-bench: query failed\n");
		exit(1);
	}
	return now_us() - t0;
}

static int client(const struct sockaddr_in *to)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct timeval tv = {2, 0};

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (const struct sockaddr *)to, sizeof(*to)) < 0)
		exit(1);
	return fd;
}

static void report(const char *what, double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp);
	printf("| %s | %.1f | %.1f | %.1f | %.1f |\n", what, v[n / 2], v[n * 9 / 10],
	       v[n * 99 / 100], v[n - 1]);
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 20000, warm = argc > 2 ? atoi(argv[2]) : 1000;
	static const char *const dom[] = {"bench.test"};
	struct rb_net_dns_policy policy = {.domains = dom, .n_domains = 1};
	struct rb_net_dns_config cfg = {.allow_addr = allow, .n_upstream = 1};
	struct sockaddr_in up = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct sockaddr_in lo = up;
	struct sockaddr_storage at;
	struct rb_net_dns *dns;
	struct rb_net_dns_sandbox *sb;
	struct rb_error err = {0};
	socklen_t l = sizeof(up);
	uint8_t q[64] = {0x12, 0x34, 0x01, 0x00, 0, 1,	 0,   0,   0,	0, 0, 0, 5, 'b',
			 'e',  'n',  'c',  'h',	 4, 't', 'e', 's', 't', 0, 0, 1, 0, 1};
	size_t qlen = 12 + 12 + 4;
	double *direct = calloc((size_t)n, sizeof(double)),
	       *proxied = calloc((size_t)n, sizeof(double));
	pthread_t th;
	int fd_direct, fd_proxy;

	up_fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (bind(up_fd, (struct sockaddr *)&up, sizeof(up)) < 0 ||
	    getsockname(up_fd, (struct sockaddr *)&up, &l) < 0)
		return 1;
	memcpy(&cfg.upstream[0], &up, sizeof(up));
	pthread_create(&th, NULL, upstream, NULL);
	if (rb_net_dns_new(&cfg, &dns, &err) < 0 ||
	    rb_net_dns_add_sandbox(dns, (struct sockaddr *)&lo, &policy, NULL, &sb, &err) < 0) {
		fprintf(stderr, "dns-bench: %s\n", err.msg);
		return 1;
	}
	rb_net_dns_sandbox_addr(sb, &at);
	fd_direct = client(&up);
	fd_proxy = client((struct sockaddr_in *)&at);
	for (int i = 0; i < warm; i++) {
		one(fd_direct, q, qlen);
		one(fd_proxy, q, qlen);
	}
	for (int i = 0; i < n; i++) {
		direct[i] = one(fd_direct, q, qlen);
		proxied[i] = one(fd_proxy, q, qlen);
	}
	printf("| path | p50 µs | p90 µs | p99 µs | max µs |\n|---|---|---|---|---|\n");
	report("client → upstream", direct, n);
	report("client → proxy → upstream", proxied, n);
	printf("\nadded by the proxy (p50 difference): %.1f µs over %d queries each\n",
	       proxied[n / 2] - direct[n / 2], n);
	rb_net_dns_remove_sandbox(sb);
	rb_net_dns_free(dns);
	return 0;
}
