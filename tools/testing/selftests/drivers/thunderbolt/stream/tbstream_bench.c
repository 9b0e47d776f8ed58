// SPDX-License-Identifier: GPL-2.0
/*
 * tbstream_bench: throughput, latency and CPU cost of /dev/tbstreamX,
 * side by side with pipe(2) and TCP on loopback, as ratios to both.
 *
 * Local mode (the VM, or one host with a loop cable): every workload runs
 * over pipe(2), over TCP on 127.0.0.1 and over each stream given, in the
 * same run, and every figure is printed with its ratio to the pipe and TCP
 * figures (TCP keeps Nagle on for throughput, as netcat does, and sets
 * TCP_NODELAY for ping-pong):
 *
 *   tbstream_bench [options] [-T [LABEL=]WDEV:RDEV]... \
 *                            [-P [LABEL=]AW:BR:BW:AR]...
 *
 *   -T  one-way throughput: a writer process writes WDEV, a reader process
 *       reads RDEV (the other end of the same stream)
 *   -P  ping-pong: side A writes AW and reads AR, side B reads BR and
 *       writes BW (two streams, one per direction; may be one stream)
 *   -w SIZES   write sizes, comma separated, 4k to 4m (default
 *              4k,64k,256k,1m,4m)
 *   -r SIZE    read size (default: the write size)
 *   -l SIZES   ping-pong message sizes (default 64,4k,64k)
 *   -t SECS    target duration of each measurement (default 2)
 *   -q         short form: -w 4k,256k -l 64,4k -t 0.3
 *   -V         do not verify the data (verification costs reader CPU)
 *
 * Two-host mode (real hardware: run one end on each host; the same
 * options, one device):
 *
 *   tbstream_bench -m tx|rx  -s BYTES [-w SIZE] [-r SIZE] DEV
 *   tbstream_bench -m ping|pong -n ITERS [-l SIZE] DEV
 *
 * Every byte received is compared with what the sender sent (a known
 * pseudo-random pattern), and byte counts must match: the exit status is
 * 1 on any error or corruption, whatever the timings. When
 * /sys/kernel/debug/thunderbolt_stream/<dev>/stats exists, its counters
 * are read before and after each run to report wake-ups per GiB and
 * frames per interrupt.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

typedef uint64_t u64;

#define KIB		1024UL
#define MIB		(1024UL * KIB)
#define GIB		(1024.0 * MIB)
#define MAX_IO		(4 * MIB)
#define PERIOD		(MIB + 4093)	/* pattern period, not frame aligned */
#define MAX_SIZES	16
#define MAX_CONFIGS	8
#define STATS_DIR	"/sys/kernel/debug/thunderbolt_stream"

/* Pattern: byte i of every stream is pattern[i % PERIOD] */
static unsigned char *pattern;	/* PERIOD + MAX_IO bytes */

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "tbstream_bench: ");
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void make_pattern(void)
{
	u64 x = 0x9e3779b97f4a7c15ULL;
	size_t i;

	pattern = malloc(PERIOD + MAX_IO);
	if (!pattern)
		die("out of memory");
	for (i = 0; i < PERIOD; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		pattern[i] = x >> 24;
	}
	for (i = PERIOD; i < PERIOD + MAX_IO; i++)
		pattern[i] = pattern[i - PERIOD];
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double tv_secs(const struct timeval *tv)
{
	return tv->tv_sec + tv->tv_usec / 1e6;
}

static size_t parse_size(const char *s)
{
	char *end;
	double v = strtod(s, &end);

	switch (*end) {
	case 'k':
	case 'K':
		v *= KIB;
		end++;
		break;
	case 'm':
	case 'M':
		v *= MIB;
		end++;
		break;
	case 'g':
	case 'G':
		v *= GIB;
		end++;
		break;
	}
	if (*end || v < 1)
		die("bad size '%s'", s);
	return v;
}

static int parse_sizes(const char *s, size_t *out, size_t max_each)
{
	char *copy = strdup(s), *tok, *save;
	int n = 0;

	for (tok = strtok_r(copy, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (n == MAX_SIZES)
			die("too many sizes");
		out[n] = parse_size(tok);
		if (out[n] > max_each)
			die("size %s larger than %zu", tok, max_each);
		n++;
	}
	free(copy);
	return n;
}

static const char *fmt_size(size_t v, char *buf)
{
	if (v >= MIB && !(v % MIB))
		sprintf(buf, "%zuM", v / MIB);
	else if (v >= KIB && !(v % KIB))
		sprintf(buf, "%zuK", v / KIB);
	else
		sprintf(buf, "%zu", v);
	return buf;
}

/* I/O that always moves every byte asked for (or fails) */

static int write_all(int fd, const unsigned char *p, size_t len)
{
	ssize_t n;

	while (len) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "tbstream_bench: write: %s\n",
				n ? strerror(errno) : "wrote 0");
			return -1;
		}
		p += n;
		len -= n;
	}
	return 0;
}

static int read_all(int fd, unsigned char *p, size_t len)
{
	ssize_t n;

	while (len) {
		n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "tbstream_bench: read: %s\n",
				n ? strerror(errno) : "early end of file");
			return -1;
		}
		p += n;
		len -= n;
	}
	return 0;
}

/* Compare @n received bytes at stream offset @pos with the pattern */
static int verify(const unsigned char *buf, u64 pos, size_t n)
{
	const unsigned char *want = pattern + pos % PERIOD;
	size_t i;

	if (!memcmp(buf, want, n))
		return 0;
	for (i = 0; buf[i] == want[i]; i++)
		;
	fprintf(stderr,
		"tbstream_bench: DATA CORRUPTED at stream offset %llu: got 0x%02x, want 0x%02x\n",
		(unsigned long long)(pos + i), buf[i], want[i]);
	return -1;
}

/* The ends of a workload; each runs in its own process */

struct end_result {
	int ok;
	double t_start;		/* writer: before the first write */
	double t_end;		/* reader: after the last byte */
	u64 bytes;
	unsigned int nlat;	/* ping side: latencies that follow */
};

static int run_writer(int fd, u64 total, size_t wsize,
		      struct end_result *r)
{
	u64 pos = 0;
	size_t n;

	r->t_start = now();
	while (pos < total) {
		n = total - pos < wsize ? total - pos : wsize;
		if (write_all(fd, pattern + pos % PERIOD, n))
			return -1;
		pos += n;
	}
	r->bytes = pos;
	return 0;
}

static int run_reader(int fd, u64 total, size_t rsize, int check,
		      struct end_result *r)
{
	unsigned char *buf = malloc(rsize);
	u64 pos = 0;
	ssize_t n;
	size_t want;

	if (!buf)
		return -1;
	while (pos < total) {
		want = total - pos < rsize ? total - pos : rsize;
		n = read(fd, buf, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "tbstream_bench: read at %llu of %llu: %s\n",
				(unsigned long long)pos,
				(unsigned long long)total,
				n ? strerror(errno) : "early end of file");
			free(buf);
			return -1;
		}
		if (check && verify(buf, pos, n)) {
			free(buf);
			return -1;
		}
		pos += n;
	}
	r->t_end = now();
	r->bytes = pos;
	free(buf);
	return 0;
}

/* Side A of a ping-pong: send, wait for the echo, time it */
static int run_ping(int wfd, int rfd, size_t size, unsigned int iters,
		    double *lat)
{
	unsigned char *buf = malloc(size);
	u64 pos = 0;
	unsigned int i;
	double t;

	if (!buf)
		return -1;
	for (i = 0; i < iters; i++) {
		t = now();
		if (write_all(wfd, pattern + pos % PERIOD, size) ||
		    read_all(rfd, buf, size) || verify(buf, pos, size)) {
			free(buf);
			return -1;
		}
		lat[i] = now() - t;
		pos += size;
	}
	free(buf);
	return 0;
}

/* Side B: echo what comes, after checking it */
static int run_pong(int rfd, int wfd, size_t size, unsigned int iters)
{
	unsigned char *buf = malloc(size);
	u64 pos = 0;
	unsigned int i;

	if (!buf)
		return -1;
	for (i = 0; i < iters; i++) {
		if (read_all(rfd, buf, size) || verify(buf, pos, size) ||
		    write_all(wfd, buf, size)) {
			free(buf);
			return -1;
		}
		pos += size;
	}
	free(buf);
	return 0;
}

/* Processes: fork an end, collect its result and its rusage */

struct child {
	pid_t pid;
	int res_fd;
};

static void start_child(struct child *c, int gate_fd,
			int (*fn)(void *, struct end_result *, int), void *arg)
{
	int res[2];

	if (pipe(res))
		die("pipe: %s", strerror(errno));
	fflush(NULL);
	c->pid = fork();
	if (c->pid < 0)
		die("fork: %s", strerror(errno));
	if (!c->pid) {
		struct end_result r = { 0 };
		char go;

		close(res[0]);
		/* Wait for the parent to open the gate: both ends start together */
		if (read(gate_fd, &go, 1) != 1)
			_exit(2);
		r.ok = !fn(arg, &r, res[1]);
		if (write(res[1], &r, sizeof(r)) != sizeof(r))
			_exit(2);
		_exit(r.ok ? 0 : 1);
	}
	close(res[1]);
	c->res_fd = res[0];
}

/* Collect a child: returns 0 if it succeeded */
static int finish_child(struct child *c, struct end_result *r,
			double *lat, double *cpu, long *sleeps)
{
	struct rusage ru;
	int status;
	size_t n;

	memset(r, 0, sizeof(*r));
	if (read(c->res_fd, r, sizeof(*r)) != sizeof(*r))
		r->ok = 0;
	if (r->ok && r->nlat && lat) {
		n = r->nlat * sizeof(double);
		if (read_all(c->res_fd, (unsigned char *)lat, n))
			r->ok = 0;
	}
	close(c->res_fd);
	if (wait4(c->pid, &status, 0, &ru) < 0)
		die("wait4: %s", strerror(errno));
	if (cpu)
		*cpu = tv_secs(&ru.ru_utime) + tv_secs(&ru.ru_stime);
	if (sleeps)
		*sleeps = ru.ru_nvcsw;
	return r->ok && WIFEXITED(status) && !WEXITSTATUS(status) ? 0 : -1;
}

/* CPU time of the whole machine, from /proc/stat (interrupts, kworkers) */
static double machine_busy_secs(void)
{
	unsigned long long v[10] = { 0 };
	static long hz;
	FILE *f = fopen("/proc/stat", "r");
	int n;

	if (!hz)
		hz = sysconf(_SC_CLK_TCK);
	if (!f)
		return 0;
	n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu",
		   &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
	fclose(f);
	if (n < 8)
		return 0;
	/* user nice system [idle] [iowait] irq softirq steal */
	return (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / hz;
}

/* debugfs statistics of a stream, when there are any */

enum { ST_TXF, ST_RXF, ST_IRQ, ST_RWAKE, ST_WWAKE, ST_STALL, ST_ERR, ST_N };
static const char *const stat_names[ST_N] = {
	"tx_frames", "rx_frames", "irqs", "reader_wakeups",
	"writer_wakeups", "credit_stalls", "rx_errors",
};

struct stats {
	int valid;
	unsigned long long v[ST_N];
};

static void read_stats(const char *dev, struct stats *st)
{
	const char *base = strrchr(dev, '/');
	char path[512], name[64];
	unsigned long long val;
	FILE *f;
	int i;

	memset(st, 0, sizeof(*st));
	if (!dev)
		return;
	snprintf(path, sizeof(path), STATS_DIR "/%s/stats",
		 base ? base + 1 : dev);
	f = fopen(path, "r");
	if (!f)
		return;
	while (fscanf(f, "%63s %llu", name, &val) == 2) {
		for (i = 0; i < ST_N; i++)
			if (!strcmp(name, stat_names[i]))
				st->v[i] = val;
	}
	fclose(f);
	st->valid = 1;
}

/* Transports */

enum kind { K_PIPE, K_TCP, K_DEV };

struct transport {
	enum kind kind;
	char label[48];
	const char *path[4];	/* devices: W R (throughput) or AW BR BW AR */
};

struct fdset {
	int fd[4];		/* throughput: w r; ping-pong: aw br bw ar */
};

/* Nagle stays on for bulk transfers (what netcat does), off for ping-pong */
static void tcp_pair(int *a, int *b, int nodelay)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int l, one = 1;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l = socket(AF_INET, SOCK_STREAM, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(l, 1) || getsockname(l, (struct sockaddr *)&sa, &len))
		die("tcp listen on 127.0.0.1: %s", strerror(errno));
	*a = socket(AF_INET, SOCK_STREAM, 0);
	if (*a < 0 || connect(*a, (struct sockaddr *)&sa, sizeof(sa)))
		die("tcp connect: %s", strerror(errno));
	*b = accept(l, NULL, NULL);
	if (*b < 0)
		die("tcp accept: %s", strerror(errno));
	close(l);
	if (nodelay) {
		setsockopt(*a, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		setsockopt(*b, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
}

static int open_dev(const char *path, int flags)
{
	int fd = open(path, flags);

	if (fd < 0)
		die("open %s: %s", path, strerror(errno));
	return fd;
}

/* Open a transport: two fds for throughput, four for ping-pong */
static void t_open(const struct transport *t, int pingpong, struct fdset *fs)
{
	int p[2], i;

	switch (t->kind) {
	case K_PIPE:
		if (pipe(p))
			die("pipe: %s", strerror(errno));
		fs->fd[0] = p[1];
		fs->fd[1] = p[0];
		if (pingpong) {
			if (pipe(p))
				die("pipe: %s", strerror(errno));
			fs->fd[2] = p[1];
			fs->fd[3] = p[0];
		}
		break;
	case K_TCP:
		tcp_pair(&fs->fd[0], &fs->fd[1], pingpong);
		if (pingpong) {
			/* One connection carries both directions */
			fs->fd[2] = dup(fs->fd[1]);
			fs->fd[3] = dup(fs->fd[0]);
		}
		break;
	case K_DEV:
		/* Receivers first, as a user would start them */
		if (pingpong) {
			fs->fd[1] = open_dev(t->path[1], O_RDONLY);
			fs->fd[3] = open_dev(t->path[3], O_RDONLY);
			fs->fd[0] = open_dev(t->path[0], O_WRONLY);
			fs->fd[2] = open_dev(t->path[2], O_WRONLY);
		} else {
			fs->fd[1] = open_dev(t->path[1], O_RDONLY);
			fs->fd[0] = open_dev(t->path[0], O_WRONLY);
		}
		break;
	}
	for (i = pingpong ? 4 : 2; i < 4; i++)
		fs->fd[i] = -1;
}

static void t_close(struct fdset *fs)
{
	int i;

	for (i = 0; i < 4; i++)
		if (fs->fd[i] >= 0)
			close(fs->fd[i]);
}

/* Throughput */

struct thr_args {
	struct fdset *fs;
	u64 total;
	size_t wsize, rsize;
	int check;
	int role;		/* 0 writer, 1 reader */
};

static int thr_end(void *p, struct end_result *r, int res_fd)
{
	struct thr_args *a = p;
	int keep = a->role ? a->fs->fd[1] : a->fs->fd[0];
	int i;

	/* Hold only this end's fd, so that pipe and TCP see EOF and EPIPE */
	for (i = 0; i < 4; i++)
		if (a->fs->fd[i] >= 0 && a->fs->fd[i] != keep)
			close(a->fs->fd[i]);
	(void)res_fd;
	if (a->role)
		return run_reader(keep, a->total, a->rsize, a->check, r);
	return run_writer(keep, a->total, a->wsize, r);
}

struct thr_result {
	double secs, mbps;
	double cpu_w, cpu_r, cpu_all;	/* seconds per GiB */
	double sleeps_r;		/* reader voluntary switches per GiB */
	struct stats before_w, after_w, before_r, after_r;
};

static int thr_run(const struct transport *t, struct fdset *fs,
		   u64 total, size_t wsize, size_t rsize, int check,
		   struct thr_result *res)
{
	struct thr_args aw = { fs, total, wsize, rsize, check, 0 };
	struct thr_args ar = { fs, total, wsize, rsize, check, 1 };
	struct end_result rw, rr;
	struct child cw, cr;
	double busy0, busy1, gib = total / GIB;
	long sw, sr;
	int gate[2], bad;

	if (pipe(gate))
		die("pipe: %s", strerror(errno));
	start_child(&cr, gate[0], thr_end, &ar);
	start_child(&cw, gate[0], thr_end, &aw);
	close(gate[0]);
	if (t->kind == K_DEV) {
		read_stats(t->path[0], &res->before_w);
		read_stats(t->path[1], &res->before_r);
	}
	busy0 = machine_busy_secs();
	if (write(gate[1], "go", 2) != 2)
		die("gate: %s", strerror(errno));
	close(gate[1]);
	bad = finish_child(&cr, &rr, NULL, &res->cpu_r, &sr);
	bad |= finish_child(&cw, &rw, NULL, &res->cpu_w, &sw);
	busy1 = machine_busy_secs();
	if (t->kind == K_DEV) {
		read_stats(t->path[0], &res->after_w);
		read_stats(t->path[1], &res->after_r);
	}
	if (bad)
		return -1;
	if (rr.bytes != total || rw.bytes != total) {
		fprintf(stderr, "tbstream_bench: %s: sent %llu, received %llu, want %llu\n",
			t->label, (unsigned long long)rw.bytes,
			(unsigned long long)rr.bytes,
			(unsigned long long)total);
		return -1;
	}
	res->secs = rr.t_end - rw.t_start;
	if (res->secs <= 0)
		res->secs = 1 / 1e9;
	res->mbps = total / res->secs / 1e6;
	res->cpu_w /= gib;
	res->cpu_r /= gib;
	res->cpu_all = (busy1 - busy0) / gib;
	res->sleeps_r = sr / gib;
	return 0;
}

/* Ping-pong */

struct pp_args {
	struct fdset *fs;
	size_t size;
	unsigned int iters;
	int role;		/* 0 ping (A), 1 pong (B) */
};

static int pp_end(void *p, struct end_result *r, int res_fd)
{
	struct pp_args *a = p;
	double *lat;
	int ret;

	if (a->role)
		return run_pong(a->fs->fd[1], a->fs->fd[2], a->size, a->iters);
	lat = calloc(a->iters, sizeof(*lat));
	if (!lat)
		return -1;
	ret = run_ping(a->fs->fd[0], a->fs->fd[3], a->size, a->iters, lat);
	if (!ret) {
		r->ok = 1;
		r->nlat = a->iters;
		/* Result header first, then the samples */
		if (write(res_fd, r, sizeof(*r)) != sizeof(*r) ||
		    write_all(res_fd, (unsigned char *)lat,
			      a->iters * sizeof(*lat)))
			_exit(2);
		_exit(0);
	}
	free(lat);
	return ret;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

struct pp_result {
	double p50, p99;	/* seconds */
	double cpu;		/* both sides, seconds per round trip */
};

static int pp_run(const struct transport *t, struct fdset *fs, size_t size,
		  unsigned int iters, struct pp_result *res)
{
	struct pp_args aa = { fs, size, iters, 0 };
	struct pp_args ab = { fs, size, iters, 1 };
	struct end_result ra, rb;
	struct child ca, cb;
	double *lat, cpu_a, cpu_b;
	int gate[2], bad;

	lat = calloc(iters, sizeof(*lat));
	if (!lat || pipe(gate))
		die("out of memory");
	start_child(&cb, gate[0], pp_end, &ab);
	start_child(&ca, gate[0], pp_end, &aa);
	close(gate[0]);
	if (write(gate[1], "go", 2) != 2)
		die("gate: %s", strerror(errno));
	close(gate[1]);
	bad = finish_child(&ca, &ra, lat, &cpu_a, NULL);
	bad |= finish_child(&cb, &rb, NULL, &cpu_b, NULL);
	if (bad || ra.nlat != iters) {
		fprintf(stderr, "tbstream_bench: %s: ping-pong %zu failed\n",
			t->label, size);
		free(lat);
		return -1;
	}
	qsort(lat, iters, sizeof(*lat), cmp_double);
	res->p50 = lat[iters / 2];
	res->p99 = lat[(iters * 99) / 100 < iters ? (iters * 99) / 100 :
		       iters - 1];
	res->cpu = (cpu_a + cpu_b) / iters;
	free(lat);
	return 0;
}

/* The local benchmark */

static struct transport thr_t[MAX_CONFIGS + 2], pp_t[MAX_CONFIGS + 2];
static int nthr = 2, npp = 2;
static size_t wsizes[MAX_SIZES] = { 4 * KIB, 64 * KIB, 256 * KIB, MIB,
				    4 * MIB };
static int nwsizes = 5;
static size_t lsizes[MAX_SIZES] = { 64, 4 * KIB, 64 * KIB };
static int nlsizes = 3;
static size_t rsize_opt;
static double target = 2;
static int check = 1;

static void add_transport(struct transport *t, int *n, const char *spec,
			  int npaths, const char *prefix)
{
	char *copy = strdup(spec), *eq = strchr(copy, '='), *p, *save;
	struct transport *x;
	int i = 0;

	if (*n >= MAX_CONFIGS + 2)
		die("too many streams");
	x = &t[(*n)++];
	x->kind = K_DEV;
	p = copy;
	if (eq) {
		*eq = 0;
		snprintf(x->label, sizeof(x->label), "%s", copy);
		p = eq + 1;
	}
	for (p = strtok_r(p, ":", &save); p; p = strtok_r(NULL, ":", &save)) {
		if (i == npaths)
			die("%s: too many devices", spec);
		x->path[i++] = p;
	}
	if (i != npaths)
		die("%s: want %d devices separated by ':'", spec, npaths);
	if (!eq)
		snprintf(x->label, sizeof(x->label), "%s%d", prefix, *n - 2);
}

static double ratio(double a, double b)
{
	return b > 0 ? a / b : 0;
}

/* "-" when there is nothing to divide by */
static const char *per(double num, unsigned long long den, char *buf)
{
	if (!den)
		return "-";
	sprintf(buf, "%.1f", num / den);
	return buf;
}

static void print_stats(const struct transport *t, const struct thr_result *r,
			u64 total)
{
	const struct stats *bw = &r->before_w, *aw = &r->after_w;
	const struct stats *br = &r->before_r, *ar = &r->after_r;
	unsigned long long rwake, wwake, rirq, wirq, rxf, stalls, errs;
	double gib = total / GIB;
	char b1[32], b2[32];

	if (!bw->valid || !aw->valid || !br->valid || !ar->valid)
		return;
	rwake = ar->v[ST_RWAKE] - br->v[ST_RWAKE];
	wwake = aw->v[ST_WWAKE] - bw->v[ST_WWAKE];
	rirq = ar->v[ST_IRQ] - br->v[ST_IRQ];
	wirq = aw->v[ST_IRQ] - bw->v[ST_IRQ];
	rxf = ar->v[ST_RXF] - br->v[ST_RXF];
	stalls = aw->v[ST_STALL] - bw->v[ST_STALL];
	errs = ar->v[ST_ERR] - br->v[ST_ERR];
	printf("    %-14s per GiB: reader wake-ups %.0f (KiB each %s), writer wake-ups %.0f, irqs rx end %.0f, tx end %.0f, credit stalls %.0f; rx frames per irq %s; rx_errors %llu\n",
	       t->label, rwake / gib, per(total / 1024.0, rwake, b1),
	       wwake / gib, rirq / gib, wirq / gib, stalls / gib,
	       per(rxf, rirq, b2), errs);
}

/* Bytes to move so that a run lasts about @secs at @mbps */
static u64 plan_bytes(double mbps, double secs, size_t wsize)
{
	double b = mbps * 1e6 * secs;
	u64 n;

	if (b > 16 * GIB)
		b = 16 * GIB;
	n = (u64)(b / wsize) * wsize;
	return n < 4 * wsize ? 4 * wsize : n;
}

static int bench_throughput(void)
{
	struct fdset fs[MAX_CONFIGS + 2];
	struct thr_result r[MAX_CONFIGS + 2], warm;
	u64 total[MAX_CONFIGS + 2];
	char b1[16], b2[16];
	int i, j, failed = 0;

	for (i = 0; i < nthr; i++)
		t_open(&thr_t[i], 0, &fs[i]);

	printf("\nONE-WAY THROUGHPUT (each run about %.1f s; cpu in seconds per GiB moved;\n",
	       target);
	printf("  all = every CPU of the machine, from /proc/stat; sleeps = reader voluntary switches per GiB)\n");
	printf("%-6s %-6s %-18s %9s %6s %6s %8s %8s %8s %6s %6s %9s\n",
	       "write", "read", "transport", "MB/s", "xpipe", "xtcp",
	       "cpu wr", "cpu rd", "cpu all", "xpipe", "xtcp", "sleeps");
	for (j = 0; j < nwsizes; j++) {
		size_t ws = wsizes[j], rs = rsize_opt ? rsize_opt : ws;

		for (i = 0; i < nthr; i++) {
			/* Warm-up run: also sizes the measured one */
			u64 w = plan_bytes(0, 0, ws);

			if (w < 2 * MIB)
				w = (2 * MIB / ws) * ws;
			if (thr_run(&thr_t[i], &fs[i], w, ws, rs, check,
				    &warm)) {
				failed = 1;
				r[i].mbps = 0;
				continue;
			}
			total[i] = plan_bytes(warm.mbps, target, ws);
			if (thr_run(&thr_t[i], &fs[i], total[i], ws, rs,
				    check, &r[i])) {
				failed = 1;
				r[i].mbps = 0;
			}
		}
		for (i = 0; i < nthr; i++) {
			if (!r[i].mbps) {
				printf("%-6s %-6s %-18s FAILED\n",
				       fmt_size(ws, b1), fmt_size(rs, b2),
				       thr_t[i].label);
				continue;
			}
			printf("%-6s %-6s %-18s %9.1f %6.2f %6.2f %8.3f %8.3f %8.3f %6.2f %6.2f %9.0f\n",
			       fmt_size(ws, b1), fmt_size(rs, b2),
			       thr_t[i].label, r[i].mbps,
			       ratio(r[i].mbps, r[0].mbps),
			       ratio(r[i].mbps, r[1].mbps),
			       r[i].cpu_w, r[i].cpu_r, r[i].cpu_all,
			       ratio(r[i].cpu_w + r[i].cpu_r,
				     r[0].cpu_w + r[0].cpu_r),
			       ratio(r[i].cpu_w + r[i].cpu_r,
				     r[1].cpu_w + r[1].cpu_r),
			       r[i].sleeps_r);
		}
		for (i = 2; i < nthr; i++)
			if (r[i].mbps)
				print_stats(&thr_t[i], &r[i], total[i]);
	}
	for (i = 0; i < nthr; i++)
		t_close(&fs[i]);
	return failed;
}

static int bench_latency(void)
{
	struct fdset fs[MAX_CONFIGS + 2];
	struct pp_result r[MAX_CONFIGS + 2], warm;
	unsigned int iters;
	int ok[MAX_CONFIGS + 2];
	int i, j, failed = 0;
	char b1[16];

	for (i = 0; i < npp; i++)
		t_open(&pp_t[i], 1, &fs[i]);

	printf("\nPING-PONG ROUND TRIP (microseconds; cpu = both sides, microseconds per round trip)\n");
	printf("%-6s %-18s %7s %10s %10s %6s %6s %6s %6s %9s\n",
	       "size", "transport", "iters", "p50", "p99", "xpipe", "xtcp",
	       "p99xp", "p99xt", "cpu/rt");
	for (j = 0; j < nlsizes; j++) {
		size_t sz = lsizes[j];

		for (i = 0; i < npp; i++) {
			ok[i] = 0;
			iters = 0;
			if (pp_run(&pp_t[i], &fs[i], sz, 20, &warm)) {
				failed = 1;
				continue;
			}
			iters = warm.p50 > 0 ? target / warm.p50 : 1000;
			iters = iters < 50 ? 50 : iters > 100000 ? 100000 : iters;
			if (pp_run(&pp_t[i], &fs[i], sz, iters, &r[i])) {
				failed = 1;
				continue;
			}
			ok[i] = iters;
		}
		for (i = 0; i < npp; i++) {
			if (!ok[i]) {
				printf("%-6s %-18s FAILED\n", fmt_size(sz, b1),
				       pp_t[i].label);
				continue;
			}
			printf("%-6s %-18s %7d %10.1f %10.1f %6.2f %6.2f %6.2f %6.2f %9.1f\n",
			       fmt_size(sz, b1),
			       pp_t[i].label, ok[i], r[i].p50 * 1e6,
			       r[i].p99 * 1e6,
			       ok[0] ? ratio(r[i].p50, r[0].p50) : 0,
			       ok[1] ? ratio(r[i].p50, r[1].p50) : 0,
			       ok[0] ? ratio(r[i].p99, r[0].p99) : 0,
			       ok[1] ? ratio(r[i].p99, r[1].p99) : 0,
			       r[i].cpu * 1e6);
		}
	}
	for (i = 0; i < npp; i++)
		t_close(&fs[i]);
	return failed;
}

/* Verification costs the reader CPU on every transport alike: show it */
static void print_verify_cost(void)
{
	const size_t chunk = 256 * KIB;
	u64 done, total = 256 * MIB, off;
	struct rusage a, b;

	if (!check)
		return;
	getrusage(RUSAGE_SELF, &a);
	for (done = 0; done < total; done += chunk) {
		/* pattern + PERIOD repeats the start: a second copy */
		off = done % (MAX_IO - chunk);
		if (verify(pattern + PERIOD + off, off, chunk))
			die("self-check of the pattern failed");
	}
	getrusage(RUSAGE_SELF, &b);
	printf("reader data check (memcmp) costs about %.3f s/GiB, included in every 'cpu rd' (-V turns it off)\n",
	       (tv_secs(&b.ru_utime) - tv_secs(&a.ru_utime) +
		tv_secs(&b.ru_stime) - tv_secs(&a.ru_stime)) / (total / GIB));
}

/* Two-host mode: one end here, the other end on the peer */
static int remote_mode(const char *mode, const char *dev, u64 bytes,
		       unsigned int iters)
{
	size_t ws = wsizes[0], rs = rsize_opt ? rsize_opt : ws;
	struct rusage ru;
	struct end_result r = { 0 };
	double t0 = now(), secs, cpu, *lat;
	int fd, ret;

	if (!strcmp(mode, "tx")) {
		fd = open_dev(dev, O_WRONLY);
		ret = run_writer(fd, bytes, ws, &r);
	} else if (!strcmp(mode, "rx")) {
		fd = open_dev(dev, O_RDONLY);
		ret = run_reader(fd, bytes, rs, check, &r);
	} else if (!strcmp(mode, "ping") || !strcmp(mode, "pong")) {
		fd = open_dev(dev, O_RDWR);
		if (mode[1] == 'o') {
			ret = run_pong(fd, fd, lsizes[0], iters);
		} else {
			lat = calloc(iters, sizeof(*lat));
			if (!lat)
				die("out of memory");
			ret = run_ping(fd, fd, lsizes[0], iters, lat);
			if (!ret) {
				qsort(lat, iters, sizeof(*lat), cmp_double);
				printf("%zu bytes round trip: p50 %.1f us, p99 %.1f us over %u\n",
				       lsizes[0],
				       lat[iters / 2] * 1e6,
				       lat[iters * 99 / 100] * 1e6, iters);
			}
			free(lat);
		}
		bytes = (u64)lsizes[0] * iters;
	} else {
		die("unknown mode %s", mode);
	}
	if (close(fd) && !ret)
		ret = -1;
	secs = now() - t0;
	getrusage(RUSAGE_SELF, &ru);
	cpu = tv_secs(&ru.ru_utime) + tv_secs(&ru.ru_stime);
	printf("%s %s: %llu bytes in %.3f s (%.1f MB/s from open to close), cpu %.3f s/GiB%s\n",
	       mode, dev, (unsigned long long)bytes, secs,
	       bytes / secs / 1e6, cpu / (bytes / GIB),
	       ret ? ", FAILED" : "");
	return ret ? 1 : 0;
}

static void usage(void)
{
	fprintf(stderr,
		"Usage: tbstream_bench [-q] [-V] [-w SIZES] [-r SIZE] [-l SIZES] [-t SECS]\n"
		"                      [-T [LABEL=]WDEV:RDEV]... [-P [LABEL=]AW:BR:BW:AR]...\n"
		"       tbstream_bench -m tx|rx -s BYTES [-w SIZE] [-r SIZE] [-V] DEV\n"
		"       tbstream_bench -m ping|pong -n ITERS [-l SIZE] DEV\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *mode = NULL;
	u64 bytes = 0;
	unsigned int iters = 1000;
	int opt, failed = 0;

	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	thr_t[0].kind = K_PIPE;
	pp_t[0].kind = K_PIPE;
	thr_t[1].kind = K_TCP;
	pp_t[1].kind = K_TCP;
	snprintf(thr_t[0].label, sizeof(thr_t[0].label), "pipe");
	snprintf(pp_t[0].label, sizeof(pp_t[0].label), "pipe");
	snprintf(thr_t[1].label, sizeof(thr_t[1].label), "tcp-loopback");
	snprintf(pp_t[1].label, sizeof(pp_t[1].label), "tcp-loopback");

	while ((opt = getopt(argc, argv, "qVw:r:l:t:T:P:m:s:n:h")) != -1) {
		switch (opt) {
		case 'q':
			nwsizes = 2;
			wsizes[0] = 4 * KIB;
			wsizes[1] = 256 * KIB;
			nlsizes = 2;
			lsizes[0] = 64;
			lsizes[1] = 4 * KIB;
			target = 0.3;
			break;
		case 'V':
			check = 0;
			break;
		case 'w':
			nwsizes = parse_sizes(optarg, wsizes, MAX_IO);
			break;
		case 'r':
			rsize_opt = parse_size(optarg);
			if (rsize_opt > MAX_IO)
				die("read size above 4M");
			break;
		case 'l':
			nlsizes = parse_sizes(optarg, lsizes, MAX_IO);
			break;
		case 't':
			target = strtod(optarg, NULL);
			if (target <= 0)
				die("bad -t");
			break;
		case 'T':
			add_transport(thr_t, &nthr, optarg, 2, "stream");
			break;
		case 'P':
			add_transport(pp_t, &npp, optarg, 4, "stream");
			break;
		case 'm':
			mode = optarg;
			break;
		case 's':
			bytes = parse_size(optarg);
			break;
		case 'n':
			iters = strtoul(optarg, NULL, 0);
			if (!iters)
				die("bad -n");
			break;
		default:
			usage();
		}
	}
	make_pattern();
	if (mode) {
		if (optind != argc - 1 || (!bytes && mode[0] != 'p'))
			usage();
		return remote_mode(mode, argv[optind], bytes, iters);
	}
	if (optind != argc)
		usage();

	printf("tbstream_bench: ratios are stream / baseline, measured in this run (xpipe, xtcp);\n");
	printf("absolute figures mean little under emulation, the ratios are what to compare\n");
	print_verify_cost();
	failed |= bench_throughput();
	failed |= bench_latency();
	if (failed)
		printf("\ntbstream_bench: FAILED (see the errors above)\n");
	else
		printf("\ntbstream_bench: ok, all data verified\n");
	return failed;
}
