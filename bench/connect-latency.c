// Run in a pod: opens COUNT TCP connections to PORT one after another, at the IPs of a
// comma-separated list in turn, and prints how long each connect() took, SYN to established, in microseconds, as a JSON array (-1 for
// one that failed). In C with a blocking connect(): a Node client measured its own event
// loop (a connect took 30 us there against 5 here, and its p99 swung 80-440 us between
// batches of one run), which drowned what the datapath adds.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double since_us(const struct timespec *t0) {
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e6 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e3;
}

#define MAX_IPS 64

int main(int argc, char **argv) {
	struct sockaddr_in to[MAX_IPS];
	int ips = 0;
	long count = argc == 4 ? strtol(argv[3], NULL, 10) : 0;
	long port = argc == 4 ? strtol(argv[2], NULL, 10) : 0;
	for (char *ip = argc == 4 ? strtok(argv[1], ",") : NULL; ip; ip = strtok(NULL, ",")) {
		if (ips == MAX_IPS || inet_pton(AF_INET, ip, &to[ips].sin_addr) != 1) {
			ips = 0;
			break;
		}
		to[ips].sin_family = AF_INET;
		to[ips++].sin_port = htons((unsigned short)port);
	}
	if (count < 1 || port < 1 || port > 65535 || ips == 0) {
		fprintf(stderr, "usage: connect-latency IPV4[,IPV4...] PORT COUNT (at most %d addresses)\n", MAX_IPS);
		return 2;
	}
	// Closed with a RST, so that no TIME_WAIT is left: thousands of them make connect()'s
	// search for a free port slower, and that is not what is measured here.
	struct linger rst = { .l_onoff = 1, .l_linger = 0 };
	// A connect that gets no answer fails after this, as one error.
	struct timeval limit = { .tv_sec = 2 };
	fputc('[', stdout);
	for (long i = 0; i < count; i++) {
		double us = -1;
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd >= 0 && !setsockopt(fd, SOL_SOCKET, SO_LINGER, &rst, sizeof(rst)) && !setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof(limit))) {
			struct timespec t0;
			clock_gettime(CLOCK_MONOTONIC, &t0);
			if (!connect(fd, (struct sockaddr *)&to[i % ips], sizeof(to[0]))) us = since_us(&t0);
		}
		if (fd >= 0) close(fd);
		printf(i ? ",%.2f" : "%.2f", us);
	}
	fputs("]\n", stdout);
	return 0;
}
