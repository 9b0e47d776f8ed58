// SPDX-License-Identifier: GPL-2.0
/*
 * tcp_loopback: check that the test VM's TCP over loopback works and how
 * fast it is (the baseline the stream benchmarks compare against).
 *
 *   tcp_loopback [MiB]     send MiB (default 16) from a thread to the main
 *                          thread over 127.0.0.1, verify every byte, print
 *                          "tcp_loopback: N MiB in S s, R MiB/s"
 *
 * Exits 0 on success, 1 on any error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CHUNK 65536

static size_t total;
static struct sockaddr_in addr;

static unsigned char pattern(size_t off)
{
	return (unsigned char)(off * 7 + (off >> 16));
}

static void *sender(void *arg)
{
	static unsigned char buf[CHUNK];
	size_t off = 0, i, n;
	ssize_t w;
	int fd;

	(void)arg;
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr))) {
		perror("tcp_loopback: connect");
		exit(1);
	}
	while (off < total) {
		n = total - off < CHUNK ? total - off : CHUNK;
		for (i = 0; i < n; i++)
			buf[i] = pattern(off + i);
		for (i = 0; i < n; i += w) {
			w = write(fd, buf + i, n - i);
			if (w < 0) {
				perror("tcp_loopback: write");
				exit(1);
			}
		}
		off += n;
	}
	close(fd);
	return NULL;
}

int main(int argc, char **argv)
{
	static unsigned char buf[CHUNK];
	socklen_t len = sizeof(addr);
	struct timespec t0, t1;
	size_t off = 0, i;
	pthread_t thread;
	double secs;
	ssize_t r;
	int lfd, fd;

	total = (size_t)(argc > 1 ? atoi(argv[1]) : 16) << 20;
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) ||
	    listen(lfd, 1) ||
	    getsockname(lfd, (struct sockaddr *)&addr, &len)) {
		perror("tcp_loopback: listen");
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (pthread_create(&thread, NULL, sender, NULL)) {
		fprintf(stderr, "tcp_loopback: pthread_create failed\n");
		return 1;
	}
	fd = accept(lfd, NULL, NULL);
	if (fd < 0) {
		perror("tcp_loopback: accept");
		return 1;
	}
	while ((r = read(fd, buf, sizeof(buf))) != 0) {
		if (r < 0) {
			if (errno == EINTR)
				continue;
			perror("tcp_loopback: read");
			return 1;
		}
		for (i = 0; i < (size_t)r; i++) {
			if (buf[i] != pattern(off + i)) {
				fprintf(stderr, "tcp_loopback: bad byte at %zu\n",
					off + i);
				return 1;
			}
		}
		off += r;
	}
	pthread_join(thread, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (off != total) {
		fprintf(stderr, "tcp_loopback: got %zu of %zu bytes\n", off,
			total);
		return 1;
	}
	secs = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("tcp_loopback: %zu MiB in %.2f s, %.1f MiB/s\n", total >> 20,
	       secs, (total >> 20) / secs);
	close(fd);
	close(lfd);
	return 0;
}
