// SPDX-License-Identifier: MIT
// The workloads of the tracer-tax benchmark (bench/tracer-tax.ts): a loop of
// one cheap syscall, timed, printing nanoseconds per iteration.
//   syscalls getppid N   N getppid() calls (no socket at all)
//   syscalls read N      N 1-byte read()s of /dev/zero (I/O, but not on a socket)
//   syscalls tcp N       N 1-byte request/response round trips over one
//                        loopback TCP connection (a forked echo peer)
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void die(const char *what)
{
	perror(what);
	exit(1);
}

int main(int argc, char **argv)
{
	if (argc != 3)
		return fprintf(stderr, "usage: syscalls getppid|read|tcp N\n"), 2;
	long n = atol(argv[2]);
	char byte = 'x';
	double start, end;

	if (!strcmp(argv[1], "getppid")) {
		start = now_ns();
		for (long i = 0; i < n; i++)
			syscall(SYS_getppid); /* not cached by libc */
		end = now_ns();
	} else if (!strcmp(argv[1], "read")) {
		int fd = open("/dev/zero", O_RDONLY);
		if (fd < 0)
			die("open");
		start = now_ns();
		for (long i = 0; i < n; i++)
			if (read(fd, &byte, 1) != 1)
				die("read");
		end = now_ns();
	} else if (!strcmp(argv[1], "tcp")) {
		int listener = socket(AF_INET, SOCK_STREAM, 0), one = 1;
		struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		socklen_t len = sizeof(addr);
		if (listener < 0 || bind(listener, (struct sockaddr *)&addr, sizeof(addr)) || listen(listener, 1) ||
		    getsockname(listener, (struct sockaddr *)&addr, &len))
			die("listen");
		pid_t peer = fork();
		if (peer == 0) {
			int conn = accept(listener, NULL, NULL);
			setsockopt(conn, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			while (read(conn, &byte, 1) == 1)
				if (write(conn, &byte, 1) != 1)
					break;
			_exit(0);
		}
		int c = socket(AF_INET, SOCK_STREAM, 0);
		if (connect(c, (struct sockaddr *)&addr, sizeof(addr)))
			die("connect");
		setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		start = now_ns();
		for (long i = 0; i < n; i++)
			if (write(c, &byte, 1) != 1 || read(c, &byte, 1) != 1)
				die("round trip");
		end = now_ns();
		close(c);
		waitpid(peer, NULL, 0);
	} else {
		return fprintf(stderr, "unknown workload %s\n", argv[1]), 2;
	}
	printf("%.2f\n", (end - start) / n);
	return 0;
}
