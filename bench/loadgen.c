// SPDX-License-Identifier: MIT
/*
 * loadgen.c: loopback TCP connection churn for the benchmark.
 *
 * Each connection is: connect() to one of several 127.0.0.x listeners,
 * accept() it, close the client end, close the server end. On loopback the
 * whole handshake and teardown run synchronously inside those syscalls, which
 * gives exactly 10 state changes per connection:
 *   client: CLOSE->SYN_SENT, SYN_SENT->ESTABLISHED, ESTABLISHED->FIN_WAIT1,
 *           FIN_WAIT1->FIN_WAIT2, FIN_WAIT2->CLOSE
 *   server: LISTEN->SYN_RECV, SYN_RECV->ESTABLISHED, ESTABLISHED->CLOSE_WAIT,
 *           CLOSE_WAIT->LAST_ACK, LAST_ACK->CLOSE
 * (the bench checks this count against the tracer's rows).
 *
 * With --netns it first moves into a private network namespace of its own, so
 * the TIME_WAIT sockets it leaves behind (one per connection, for 60 s) use
 * that namespace's port space and vanish with it, instead of exhausting the
 * host's ephemeral ports under everyone else's tests. The namespace-local
 * sysctls widen the port range and allow TIME_WAIT reuse.
 *
 * Only 127.0.0.0/8 is ever used. Bounded by --count and --seconds.
 * Prints one summary line on stdout at the end.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_ADDRESSES 250

static void die(const char *what)
{
	fprintf(stderr, "loadgen: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: loadgen [--count N] [--seconds S] [--rate CONN_PER_S] [--port P]\n"
		"               [--addresses K] [--netns]\n"
		"  --count N       connections to make (default 10000)\n"
		"  --seconds S     stop after S seconds at most (default 120)\n"
		"  --rate R        pace to R connections/s (default 0: as fast as possible)\n"
		"  --port P        listening port on every address (default 24680)\n"
		"  --addresses K   listeners on 127.0.0.1 .. 127.0.0.K (default 64)\n"
		"  --netns         run in a private network namespace (needs root)\n");
	exit(2);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void write_sysctl(const char *path, const char *value)
{
	int fd = open(path, O_WRONLY);

	if (fd < 0 || write(fd, value, strlen(value)) < 0)
		die(path);
	close(fd);
}

/* A fresh network namespace has only `lo`, and it is down. */
static void enter_private_netns(void)
{
	struct ifreq ifr;
	int fd;

	if (unshare(CLONE_NEWNET) < 0)
		die("unshare(CLONE_NEWNET)");
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0)
		die("socket");
	memset(&ifr, 0, sizeof(ifr));
	strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		die("SIOCGIFFLAGS lo");
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		die("SIOCSIFFLAGS lo");
	close(fd);
	/* These are per-namespace: they only affect the namespace just made. */
	write_sysctl("/proc/sys/net/ipv4/ip_local_port_range", "1024 65535");
	write_sysctl("/proc/sys/net/ipv4/tcp_tw_reuse", "1");
	write_sysctl("/proc/sys/net/core/somaxconn", "65535");
}

static unsigned long parse_number(const char *text, const char *option)
{
	char *end;
	unsigned long value;

	errno = 0;
	value = strtoul(text, &end, 10);
	if (errno || end == text || *end != '\0') {
		fprintf(stderr, "loadgen: %s: invalid number \"%s\"\n", option, text);
		exit(2);
	}
	return value;
}

int main(int argc, char **argv)
{
	unsigned long count = 10000, rate = 0, port = 24680, addresses = 64;
	double max_seconds = 120;
	int netns = 0;
	struct sockaddr_in targets[MAX_ADDRESSES];
	int listeners[MAX_ADDRESSES];
	unsigned long done = 0, failures = 0;

	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		const char *value = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(arg, "--netns")) {
			netns = 1;
			continue;
		}
		if (!value)
			usage();
		i++;
		if (!strcmp(arg, "--count"))
			count = parse_number(value, arg);
		else if (!strcmp(arg, "--rate"))
			rate = parse_number(value, arg);
		else if (!strcmp(arg, "--port"))
			port = parse_number(value, arg);
		else if (!strcmp(arg, "--addresses"))
			addresses = parse_number(value, arg);
		else if (!strcmp(arg, "--seconds"))
			max_seconds = parse_number(value, arg);
		else
			usage();
	}
	if (port < 1 || port > 65535 || addresses < 1 || addresses > MAX_ADDRESSES)
		usage();

	if (netns)
		enter_private_netns();

	for (unsigned long i = 0; i < addresses; i++) {
		int one = 1;

		memset(&targets[i], 0, sizeof(targets[i]));
		targets[i].sin_family = AF_INET;
		targets[i].sin_port = htons(port);
		/* 127.0.0.1 .. 127.0.0.K: loopback only, by construction. */
		targets[i].sin_addr.s_addr = htonl(0x7f000001u + i);
		listeners[i] = socket(AF_INET, SOCK_STREAM, 0);
		if (listeners[i] < 0)
			die("socket");
		setsockopt(listeners[i], SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(listeners[i], (struct sockaddr *)&targets[i], sizeof(targets[i])) < 0)
			die("bind");
		if (listen(listeners[i], 4096) < 0)
			die("listen");
	}

	double start = now_s();
	double deadline = start + max_seconds;

	for (unsigned long n = 0; n < count; n++) {
		unsigned long slot = n % addresses;

		if (rate) {
			/* Connection n is due at start + n/rate; sleep only when
			 * ahead, so a slow stretch is caught up afterwards. */
			double due = start + (double)n / rate;
			double ahead = due - now_s();

			if (ahead > 0.0005) {
				struct timespec ts = { (time_t)ahead, (long)((ahead - (time_t)ahead) * 1e9) };

				nanosleep(&ts, NULL);
			}
		}
		if ((n & 255) == 0 && now_s() > deadline)
			break;

		int client = socket(AF_INET, SOCK_STREAM, 0);

		if (client < 0)
			die("socket");
		if (connect(client, (struct sockaddr *)&targets[slot], sizeof(targets[slot])) < 0) {
			/* EADDRNOTAVAIL: no free ephemeral port; count it, go on. */
			failures++;
			close(client);
			continue;
		}
		int server = accept(listeners[slot], NULL, NULL);

		if (server < 0)
			die("accept");
		close(client);
		close(server);
		done++;
	}

	double elapsed = now_s() - start;
	struct rusage usage;

	getrusage(RUSAGE_SELF, &usage);
	printf("loadgen: connections=%lu failures=%lu seconds=%.6f rate=%.1f cpu_us=%ld\n", done, failures, elapsed,
	       elapsed > 0 ? done / elapsed : 0.0,
	       usage.ru_utime.tv_sec * 1000000L + usage.ru_utime.tv_usec + usage.ru_stime.tv_sec * 1000000L +
		       usage.ru_stime.tv_usec);
	return failures && !done ? 1 : 0;
}
