// SPDX-License-Identifier: GPL-2.0
/*
 * tbstream_try: do one system call on a file and print its result as
 * "ok <value>" or "err <ERRNO NAME>", so that shell tests can assert
 * exact errno values.
 *
 *   tbstream_try write PATH TEXT       open O_WRONLY, write TEXT
 *   tbstream_try write-nb PATH TEXT    the same with O_NONBLOCK
 *   tbstream_try write-close PATH TEXT open O_WRONLY, write TEXT, close a
 *                                      dup of the descriptor, then the
 *                                      descriptor: the result of that last
 *                                      close ("err dup" when the first
 *                                      one fails)
 *   tbstream_try read PATH             open O_RDONLY, read once
 *   tbstream_try read-nb PATH          the same with O_NONBLOCK
 *   tbstream_try open-nb PATH          open O_RDWR | O_NONBLOCK
 *   tbstream_try poll PATH             open, poll once with 0 timeout
 *   tbstream_try poll-wait PATH        open, poll without a timeout
 *   tbstream_try store PATH TEXT       write TEXT to an attribute file
 *   tbstream_try store-esc PATH TEXT   the same after expanding \0, \n,
 *                                      \t, \\ and \xHH in TEXT (one write)
 *   tbstream_try store-rep PATH TEXT N write TEXT repeated N times at once
 *   tbstream_try mkdir PATH            mkdir (ConfigFS groups)
 *   tbstream_try fail-nth N OP ARGS... OP as above, with the N-th
 *                                      allocation of its one system call
 *                                      failing (/proc/thread-self/fail-nth):
 *                                      the open of open-nb, the mkdir, the
 *                                      write or read after the open of the
 *                                      others (not poll)
 *
 * An open that fails is reported like the call itself. With fail-nth,
 * " fired" follows the result when the injected failure happened.
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct {
	int err;
	const char *name;
} names[] = {
	{ EAGAIN, "EAGAIN" }, { EBUSY, "EBUSY" }, { EEXIST, "EEXIST" },
	{ EFAULT, "EFAULT" }, { EINVAL, "EINVAL" }, { EIO, "EIO" },
	{ ENAMETOOLONG, "ENAMETOOLONG" }, { ENOENT, "ENOENT" },
	{ ENOSPC, "ENOSPC" }, { ENXIO, "ENXIO" }, { EPERM, "EPERM" },
	{ EPIPE, "EPIPE" }, { ERANGE, "ERANGE" }, { ENOTEMPTY, "ENOTEMPTY" },
	{ ENODEV, "ENODEV" }, { EINTR, "EINTR" }, { ENOMEM, "ENOMEM" },
	{ ETIMEDOUT, "ETIMEDOUT" },
};

static int fail_fd = -1;
static const char *fail_nth;
static int armed;

/* Make the fail_nth-th allocation from now on in this task fail */
static void fault_arm(void)
{
	size_t len;

	if (!fail_nth)
		return;
	len = strlen(fail_nth);
	if (write(fail_fd, fail_nth, len) != (ssize_t)len) {
		perror("fail-nth");
		exit(2);
	}
	armed = 1;
}

/* Disarm; returns whether the failure was injected. Keeps errno. */
static int fault_disarm(void)
{
	char num[16] = "";
	int err = errno;
	int fired;

	if (!armed)
		return 0;
	armed = 0;
	/* 0 means injected; what is left of N means not (yet) */
	if (pread(fail_fd, num, sizeof(num) - 1, 0) <= 0 ||
	    write(fail_fd, "0", 1) != 1) {
		perror("fail-nth");
		exit(2);
	}
	fired = atoi(num) == 0;
	errno = err;
	return fired;
}

static int report(long ret)
{
	const char *fired = fault_disarm() ? " fired" : "";
	unsigned int i;

	if (ret >= 0) {
		printf("ok %ld%s\n", ret, fired);
		return 0;
	}
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (names[i].err == errno) {
			printf("err %s%s\n", names[i].name, fired);
			return 1;
		}
	}
	printf("err %d%s\n", errno, fired);
	return 1;
}

/* Expand \0, \n, \t, \\ and \xHH; returns the length */
static size_t unescape(const char *in, char *out, size_t size)
{
	size_t n = 0;
	unsigned int hex;

	while (*in && n < size) {
		if (*in != '\\' || !in[1]) {
			out[n++] = *in++;
			continue;
		}
		in++;
		switch (*in) {
		case '0': out[n++] = '\0'; in++; break;
		case 'n': out[n++] = '\n'; in++; break;
		case 't': out[n++] = '\t'; in++; break;
		case 'x':
			if (sscanf(in + 1, "%2x", &hex) == 1) {
				out[n++] = hex;
				in += 3;
				break;
			}
			/* fall through */
		default: out[n++] = *in++; break;
		}
	}
	return n;
}

static int open_or_report(const char *path, int flags, int *fd)
{
	*fd = open(path, flags);
	return *fd < 0 ? report(-1) + 1 : 0;
}

int main(int argc, char **argv)
{
	const char *prog = argv[0], *op, *text;
	static char big[1 << 20];
	char buf[4096];
	size_t len, n;
	int count;
	struct pollfd pfd;
	int fd, ret;

	if (argc > 3 && !strcmp(argv[1], "fail-nth")) {
		fail_nth = argv[2];
		fail_fd = open("/proc/thread-self/fail-nth", O_RDWR);
		if (fail_fd < 0) {
			perror("/proc/thread-self/fail-nth");
			return 2;
		}
		argc -= 2;
		argv += 2;
	}
	op = argc > 1 ? argv[1] : "";
	text = argc > 3 ? argv[3] : "";
	/* A page fault in the call would be a failure point too */
	memset(buf, 0, sizeof(buf));

	if (argc < 3) {
		fprintf(stderr, "usage: %s [fail-nth N] OP PATH [TEXT]\n",
			prog);
		return 2;
	}
	if (!strcmp(op, "write") || !strcmp(op, "write-nb") ||
	    !strcmp(op, "store")) {
		ret = open_or_report(argv[2], O_WRONLY |
				     (op[5] == '-' ? O_NONBLOCK : 0), &fd);
		if (ret)
			return ret - 1;
		fault_arm();
		return report(write(fd, text, strlen(text)));
	}
	if (!strcmp(op, "write-close")) {
		ret = open_or_report(argv[2], O_WRONLY, &fd);
		if (ret)
			return ret - 1;
		if (write(fd, text, strlen(text)) < 0)
			return report(-1);
		if (close(dup(fd))) {
			printf("err dup\n");
			return 1;
		}
		return report(close(fd));
	}
	if (!strcmp(op, "store-esc") || !strcmp(op, "store-rep")) {
		if (op[6] == 'e') {
			len = unescape(text, big, sizeof(big));
		} else {
			count = argc > 4 ? atoi(argv[4]) : 1;
			for (len = 0; count-- > 0 &&
			     len + strlen(text) <= sizeof(big);)
				for (n = 0; text[n]; n++)
					big[len++] = text[n];
		}
		ret = open_or_report(argv[2], O_WRONLY, &fd);
		if (ret)
			return ret - 1;
		fault_arm();
		return report(write(fd, big, len));
	}
	if (!strcmp(op, "read") || !strcmp(op, "read-nb")) {
		ret = open_or_report(argv[2], O_RDONLY |
				     (op[4] == '-' ? O_NONBLOCK : 0), &fd);
		if (ret)
			return ret - 1;
		fault_arm();
		return report(read(fd, buf, sizeof(buf)));
	}
	if (!strcmp(op, "mkdir")) {
		fault_arm();
		return report(mkdir(argv[2], 0755));
	}
	if (!strcmp(op, "open-nb")) {
		fault_arm();
		ret = open_or_report(argv[2], O_RDWR | O_NONBLOCK, &fd);
		return ret ? ret - 1 : report(0);
	}
	if (!strcmp(op, "poll") || !strcmp(op, "poll-wait")) {
		ret = open_or_report(argv[2], O_RDWR | O_NONBLOCK, &fd);
		if (ret)
			return ret - 1;
		pfd.fd = fd;
		pfd.events = POLLIN | POLLOUT;
		ret = poll(&pfd, 1, op[4] == '-' ? -1 : 0);
		if (ret < 0)
			return report(-1);
		printf("ok%s%s%s%s\n", pfd.revents & POLLIN ? " IN" : "",
		       pfd.revents & POLLOUT ? " OUT" : "",
		       pfd.revents & POLLHUP ? " HUP" : "",
		       pfd.revents & POLLERR ? " ERR" : "");
		return 0;
	}
	fprintf(stderr, "unknown operation %s\n", op);
	return 2;
}
