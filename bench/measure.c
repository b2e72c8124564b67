// SPDX-License-Identifier: MIT
/*
 * measure.c: runs a command and reports what it cost, for the benchmark.
 *
 * Node cannot get the rusage of one particular child, and /proc/<pid>/stat
 * is gone (or tick-grained) by the time a child has exited, so the bench
 * starts each tracer through this: fork, exec, forward SIGINT/SIGTERM/SIGHUP
 * to the child, wait4() it, and write one line to REPORT_FILE:
 *   pid=P status=S utime_us=U stime_us=S maxrss_kb=K
 * (maxrss is the peak RSS, VmHWM). The child's pid is written first, on its
 * own line, so the bench can sample /proc/<pid> while it runs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile pid_t child;

static void forward(int signal)
{
	if (child > 0)
		kill(child, signal);
}

int main(int argc, char **argv)
{
	if (argc < 4 || strcmp(argv[2], "--")) {
		fprintf(stderr, "usage: measure REPORT_FILE -- COMMAND [ARG...]\n");
		return 2;
	}
	FILE *report = fopen(argv[1], "w");

	if (!report) {
		fprintf(stderr, "measure: %s: %s\n", argv[1], strerror(errno));
		return 2;
	}

	struct sigaction action;

	memset(&action, 0, sizeof(action));
	action.sa_handler = forward;
	sigaction(SIGINT, &action, NULL);
	sigaction(SIGTERM, &action, NULL);
	sigaction(SIGHUP, &action, NULL);

	pid_t pid = fork();

	if (pid < 0) {
		perror("measure: fork");
		return 2;
	}
	if (pid == 0) {
		fclose(report);
		execvp(argv[3], argv + 3);
		fprintf(stderr, "measure: %s: %s\n", argv[3], strerror(errno));
		_exit(127);
	}
	child = pid;
	fprintf(report, "pid=%d\n", pid);
	fflush(report);

	int status;
	struct rusage usage;

	while (wait4(pid, &status, 0, &usage) < 0) {
		if (errno != EINTR) {
			perror("measure: wait4");
			return 2;
		}
	}
	fprintf(report, "pid=%d status=%d utime_us=%ld stime_us=%ld maxrss_kb=%ld\n", pid,
		WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
		usage.ru_utime.tv_sec * 1000000L + usage.ru_utime.tv_usec,
		usage.ru_stime.tv_sec * 1000000L + usage.ru_stime.tv_usec, usage.ru_maxrss);
	fclose(report);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
