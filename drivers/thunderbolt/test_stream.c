// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests for the USB4STREAM driver
 *
 * Every suite but the property one runs on the same fixture: a simulated
 * cable joining host A and host B, and on each host the ConfigFS service
 * group named after the other host, so that the streams made below it
 * attach at once:
 *
 *   host A                                             host B
 *   group "<1000 + 2n>-1.0"                  group "<1001 + 2n>-1.0"
 *     stream "x"  <------- simulated cable n ------->  stream "x"
 *
 * Streams of the same name on both hosts are the two ends of one byte
 * stream. The tests call the core the way ConfigFS and the character
 * device do: attributes through their ->store() and ->show(), mkdir and
 * rmdir through tbstream_create() and tbstream_delete(), files through
 * tbstream_open(), tbstream_read(), tbstream_write(), tbstream_poll() and
 * tbstream_release() on ITER_KVEC iterators. Blocking calls run in
 * kthreads and are waited for with a timeout, so that a hang fails the
 * test instead of the run.
 *
 * Copyright (C) 2026, The thunderbolt_stream developers
 */

#include <kunit/test.h>
#include <linux/completion.h>
#include <linux/delay.h>
#include <linux/iopoll.h>
#include <linux/jiffies.h>
#include <linux/kthread.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/mmap_lock.h>
#include <linux/rwsem.h>
#include <linux/sched/mm.h>
#include <linux/sched/task.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/thunderbolt.h>
#include <linux/uio.h>
#include <linux/wait.h>

#include "stream.h"
#include "test_stream.h"

/* Longest wait for anything the simulated cable does, in ms and in us */
#define TBSTREAM_TEST_TIMEOUT_MS	5000
#define TBSTREAM_TEST_TIMEOUT_US	(TBSTREAM_TEST_TIMEOUT_MS * USEC_PER_MSEC)
/* Pause between two looks of a poll, in us */
#define TBSTREAM_TEST_POLL_US		1000
/* Ring size of the data tests: small, to cross ring boundaries quickly */
#define TBSTREAM_TEST_RING		32
/* Frames a ring of TBSTREAM_TEST_RING entries holds */
#define TBSTREAM_TEST_FRAMES		(TBSTREAM_TEST_RING - 1)
#define TBSTREAM_TEST_FSZ		TBSTREAM_FRAME_SIZE

/**
 * struct tbstream_test - Per-test fixture
 * @cable: The simulated cable
 * @svc: Service groups of host A and host B, indexed by
 *	 &enum tbstream_sim_end
 * @a: Host A's end of stream "x", in the suites of a connected pair
 * @b: Host B's end of stream "x", in the suites of a connected pair
 * @in: Host B's in HopID of stream "x", host A's out HopID
 * @out: Host B's out HopID of stream "x", host A's in HopID
 * @fa: A file of @a, once tbstream_test_open_ends() opened it
 * @fb: A file of @b, once tbstream_test_open_ends() opened it
 */
struct tbstream_test {
	struct tbstream_sim_cable *cable;
	struct tbstream_service *svc[2];
	struct tbstream *a, *b;
	int in, out;
	struct tbstream_file *fa, *fb;
};

KUNIT_DEFINE_ACTION_WRAPPER(tbstream_test_cable_destroy,
			    tbstream_sim_cable_destroy,
			    struct tbstream_sim_cable *);
KUNIT_DEFINE_ACTION_WRAPPER(tbstream_test_release, tbstream_release,
			    struct tbstream_file *);
KUNIT_DEFINE_ACTION_WRAPPER(tbstream_test_kvfree, kvfree, const void *);

/* Helpers of test_stream.h, shared with test_stream_tb.c */

/**
 * tbstream_test_free_dir() - KUnit action: free a property directory
 * @dir: A &struct tb_property_dir
 */
void tbstream_test_free_dir(void *dir)
{
	tb_property_free_dir(dir);
}

/**
 * tbstream_test_group_put() - KUnit action: drop a ConfigFS group
 * @group: A &struct config_group
 */
void tbstream_test_group_put(void *group)
{
	config_group_put(group);
}

/**
 * tbstream_test_group() - Make a service group, as mkdir in ConfigFS does
 * @test: The test
 * @name: Group name: the name of the peer's service device
 *
 * The group is dropped when the test ends.
 *
 * Return: The group; the test is aborted on failure.
 */
struct tbstream_service *tbstream_test_group(struct kunit *test,
					     const char *name)
{
	struct tbstream_service *svc;

	svc = kzalloc(sizeof(*svc), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, svc);
	config_group_init_type_name(&svc->group, name, &tbstream_service_type);
	tbstream_service_add(svc);
	tbstream_test_defer(test, tbstream_test_group_put, &svc->group);
	return svc;
}

static bool tbstream_test_dead(struct tbstream *s)
{
	bool dead;

	spin_lock(&s->state_lock);
	dead = s->dead;
	spin_unlock(&s->state_lock);
	return dead;
}

/**
 * tbstream_test_rmdir() - KUnit action: rmdir of a stream, then its put
 * @stream: A &struct tbstream
 *
 * The rmdir is skipped if the test did it already; the last reference
 * is dropped as ConfigFS does.
 */
void tbstream_test_rmdir(void *stream)
{
	struct tbstream *s = stream;

	if (!tbstream_test_dead(s))
		tbstream_delete(s);
	config_item_put(&s->item);
}

/**
 * tbstream_test_mkdir_in() - Make a stream below a service group
 * @test: The test
 * @svc: Service group
 * @name: Stream name
 *
 * The stream is removed (rmdir) when the test ends, before its group
 * goes.
 *
 * Return: The stream; the test is aborted on failure.
 */
struct tbstream *tbstream_test_mkdir_in(struct kunit *test,
					struct tbstream_service *svc,
					const char *name)
{
	struct tbstream *s;

	s = tbstream_create(svc, name, &tbstream_stream_type);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, s);
	tbstream_test_defer(test, tbstream_test_rmdir, s);
	return s;
}

/**
 * tbstream_test_expect_immediate() - Expect an immediate property
 * @test: The test
 * @dir: Property directory
 * @key: Key of the immediate
 * @value: Its expected value
 */
void tbstream_test_expect_immediate(struct kunit *test,
				    struct tb_property_dir *dir,
				    const char *key, u32 value)
{
	struct tb_property *p;

	p = tb_property_find(dir, key, TB_PROPERTY_TYPE_VALUE);
	KUNIT_ASSERT_NOT_NULL_MSG(test, p, "missing key %s", key);
	KUNIT_EXPECT_EQ_MSG(test, p->value.immediate, value, "key %s", key);
}

/**
 * tbstream_test_expect_service_dir() - Expect the stream service directory
 * @test: The test
 * @dir: Property directory
 * @uuid: Its expected UUID
 *
 * Checks the UUID and the protocol immediates: ID 1, version 1,
 * revision 0, no settings.
 */
void tbstream_test_expect_service_dir(struct kunit *test,
				      struct tb_property_dir *dir,
				      const uuid_t *uuid)
{
	KUNIT_ASSERT_NOT_NULL(test, dir->uuid);
	KUNIT_EXPECT_TRUE(test, uuid_equal(dir->uuid, uuid));
	tbstream_test_expect_immediate(test, dir, "prtcid", 1);
	tbstream_test_expect_immediate(test, dir, "prtcvers", 1);
	tbstream_test_expect_immediate(test, dir, "prtcrevs", 0);
	tbstream_test_expect_immediate(test, dir, "prtcstns", 0);
}

/* Fixture */

static int tbstream_test_init(struct kunit *test)
{
	struct tbstream_test *t;
	const char *name;
	int end;

	t = kunit_kzalloc(test, sizeof(*t), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, t);
	test->priv = t;

	t->cable = tbstream_sim_cable_create();
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, t->cable);
	tbstream_test_defer(test, tbstream_test_cable_destroy, t->cable);

	for (end = TBSTREAM_SIM_A; end <= TBSTREAM_SIM_B; end++) {
		name = tbstream_sim_service_name(t->cable, end);
		t->svc[end] = tbstream_test_group(test, name);
	}
	return 0;
}

/*
 * Make a stream below a host's service group; removed (rmdir) when the
 * test ends, before the service groups go.
 */
static struct tbstream *tbstream_test_mkdir(struct kunit *test,
					    enum tbstream_sim_end end,
					    const char *name)
{
	struct tbstream_test *t = test->priv;

	return tbstream_test_mkdir_in(test, t->svc[end], name);
}

static struct tbstream_file *tbstream_test_open(struct kunit *test,
						struct tbstream *s,
						bool nonblock)
{
	struct tbstream_file *f;

	f = tbstream_open(s, nonblock);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, f);
	tbstream_test_defer(test, tbstream_test_release, f);
	return f;
}

/* An open that must fail with @err; a file opened anyway is closed */
static void tbstream_test_open_fails(struct kunit *test, struct tbstream *s,
				     bool nonblock, int err)
{
	struct tbstream_file *f = tbstream_open(s, nonblock);

	if (!IS_ERR(f))
		tbstream_test_defer(test, tbstream_test_release, f);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(f), err);
}

static void tbstream_test_close(struct kunit *test, struct tbstream_file *f)
{
	kunit_release_action(test, tbstream_test_release, f);
}

static void *tbstream_test_alloc(struct kunit *test, size_t len)
{
	void *buf;

	buf = kvzalloc(max_t(size_t, len, 1), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, buf);
	tbstream_test_defer(test, tbstream_test_kvfree, buf);
	return buf;
}

/* A pseudo-random pattern, different for each @seed */
static void tbstream_test_fill(u8 *buf, size_t len, u32 seed)
{
	u32 x = seed * 2654435761U + 1;
	size_t i;

	for (i = 0; i < len; i++) {
		x = x * 1103515245U + 12345U;
		buf[i] = x >> 16;
	}
}

static u8 *tbstream_test_pattern(struct kunit *test, size_t len, u32 seed)
{
	u8 *buf = tbstream_test_alloc(test, len);

	tbstream_test_fill(buf, len, seed);
	return buf;
}

/* @len bytes of pattern @seed to send, and a buffer of @len to receive */
static void tbstream_test_buffers(struct kunit *test, size_t len, u32 seed,
				  u8 **src, u8 **dst)
{
	*src = tbstream_test_pattern(test, len, seed);
	*dst = tbstream_test_alloc(test, len);
}

static void tbstream_test_expect_bytes(struct kunit *test, const u8 *got,
				       const u8 *want, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (got[i] != want[i])
			break;
	}
	KUNIT_EXPECT_EQ_MSG(test, i, len, "first difference at byte %zu",
			    i);
}

/* Attributes, through the ConfigFS callbacks */

static struct configfs_attribute *
tbstream_test_attr(struct kunit *test, struct tbstream *s, const char *name)
{
	struct configfs_attribute **attr;

	for (attr = s->item.ci_type->ct_attrs; *attr; attr++) {
		if (!strcmp((*attr)->ca_name, name))
			return *attr;
	}
	KUNIT_FAIL_AND_ABORT(test, "no attribute %s", name);
	return NULL;
}

static ssize_t tbstream_test_store(struct kunit *test, struct tbstream *s,
				   const char *name, const char *buf)
{
	struct configfs_attribute *attr = tbstream_test_attr(test, s, name);

	KUNIT_ASSERT_NOT_NULL(test, attr->store);
	return attr->store(&s->item, buf, strlen(buf));
}

/* Store @buf, which must succeed */
static void tbstream_test_set(struct kunit *test, struct tbstream *s,
			      const char *name, const char *buf)
{
	KUNIT_ASSERT_EQ_MSG(test, tbstream_test_store(test, s, name, buf),
			    (ssize_t)strlen(buf), "%s <- \"%s\"", name, buf);
}

/* show() into a page, as ConfigFS passes it */
static const char *tbstream_test_show(struct kunit *test, struct tbstream *s,
				      const char *name)
{
	struct configfs_attribute *attr = tbstream_test_attr(test, s, name);
	char *page;
	ssize_t ret;

	page = kunit_kzalloc(test, PAGE_SIZE, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, page);
	ret = attr->show(&s->item, page);
	KUNIT_ASSERT_GT(test, ret, 0);
	KUNIT_EXPECT_EQ(test, (size_t)ret, strlen(page));
	return page;
}

static int tbstream_test_show_int(struct kunit *test, struct tbstream *s,
				  const char *name)
{
	int value;

	KUNIT_ASSERT_EQ(test, 0, kstrtoint(tbstream_test_show(test, s, name),
					   0, &value));
	return value;
}

static unsigned int tbstream_test_hopids(struct kunit *test,
					 enum tbstream_sim_end end)
{
	struct tbstream_test *t = test->priv;

	return tbstream_sim_hopids_in_use(t->cable, end);
}

/* Wait for what the simulated cable has queued: frames, advertisements */
static void tbstream_test_flush(struct kunit *test)
{
	struct tbstream_test *t = test->priv;

	tbstream_sim_cable_flush(t->cable);
}

/*
 * Advertisements reach the other host from a work item of the simulated
 * cable: the HopID of @dir once the cable has delivered them.
 */
static int tbstream_test_sim_hopid(struct kunit *test, struct tbstream *s,
				   enum tbstream_direction dir)
{
	tbstream_test_flush(test);
	return tbstream_get_hopid(s, dir);
}

/*
 * Expect host A's end @a of a stream to inherit host B's HopIDs @in and
 * @out, reversed: the test is aborted unless it does.
 */
static void tbstream_test_assert_inherits(struct kunit *test,
					  struct tbstream *a, int in, int out)
{
	KUNIT_ASSERT_EQ(test, tbstream_test_sim_hopid(test, a, TBSTREAM_IN),
			out);
	KUNIT_ASSERT_EQ(test, tbstream_test_sim_hopid(test, a, TBSTREAM_OUT),
			in);
}

/**
 * tbstream_test_pair() - Make the two ends of a stream, receiver first
 * @test: The test
 * @name: Stream name
 * @ring_size: Ring size of both ends, or 0 for the default
 * @a: Set to host A's end, which inherits its HopIDs
 * @b: Set to host B's end, which asks for automatic HopIDs
 *
 * Aborts the test unless host A inherits host B's HopIDs, reversed.
 */
static void tbstream_test_pair(struct kunit *test, const char *name,
			       unsigned int ring_size, struct tbstream **a,
			       struct tbstream **b)
{
	char buf[16];
	int in, out;

	*b = tbstream_test_mkdir(test, TBSTREAM_SIM_B, name);
	*a = tbstream_test_mkdir(test, TBSTREAM_SIM_A, name);
	if (ring_size) {
		snprintf(buf, sizeof(buf), "%u", ring_size);
		tbstream_test_set(test, *a, "ring_size", buf);
		tbstream_test_set(test, *b, "ring_size", buf);
	}
	tbstream_test_set(test, *b, "in_hopid", "-1");
	tbstream_test_set(test, *b, "out_hopid", "-1");
	in = tbstream_get_hopid(*b, TBSTREAM_IN);
	out = tbstream_get_hopid(*b, TBSTREAM_OUT);
	KUNIT_ASSERT_GE(test, in, TBSTREAM_HOPID_MIN);
	KUNIT_ASSERT_GE(test, out, TBSTREAM_HOPID_MIN);
	tbstream_test_assert_inherits(test, *a, in, out);
}

/*
 * The fixture of the suites of a connected pair: stream "x" on both
 * hosts, with rings of %TBSTREAM_TEST_RING entries
 */
static int tbstream_test_init_pair(struct kunit *test)
{
	struct tbstream_test *t;

	tbstream_test_init(test);
	t = test->priv;
	tbstream_test_pair(test, "x", TBSTREAM_TEST_RING, &t->a, &t->b);
	t->in = tbstream_get_hopid(t->b, TBSTREAM_IN);
	t->out = tbstream_get_hopid(t->b, TBSTREAM_OUT);
	return 0;
}

/* Plug the cable back in: host A must inherit the pair's HopIDs again */
static void tbstream_test_replug_pair(struct kunit *test)
{
	struct tbstream_test *t = test->priv;

	KUNIT_ASSERT_EQ(test, tbstream_sim_cable_replug(t->cable), 0);
	tbstream_test_assert_inherits(test, t->a, t->in, t->out);
}

/* I/O */

static ssize_t tbstream_test_write(struct tbstream_file *f, const void *buf,
				   size_t len, bool nonblock)
{
	struct kvec kvec = { .iov_base = (void *)buf, .iov_len = len };
	struct iov_iter iter;

	iov_iter_kvec(&iter, ITER_SOURCE, &kvec, 1, len);
	return tbstream_write(f, &iter, nonblock ? TBSTREAM_IO_NONBLOCK : 0);
}

/* The poll() mask as a plain integer, for KUNIT_EXPECT_EQ() */
static u32 tbstream_test_poll(struct tbstream_file *f)
{
	return (__force u32)tbstream_poll(f, NULL, NULL);
}

static ssize_t tbstream_test_read_flags(struct tbstream_file *f, void *buf,
					size_t len, unsigned int flags)
{
	struct kvec kvec = { .iov_base = buf, .iov_len = len };
	struct iov_iter iter;

	iov_iter_kvec(&iter, ITER_DEST, &kvec, 1, len);
	return tbstream_read(f, &iter, flags);
}

static ssize_t tbstream_test_read(struct tbstream_file *f, void *buf,
				  size_t len, bool nonblock)
{
	return tbstream_test_read_flags(f, buf, len,
					nonblock ? TBSTREAM_IO_NONBLOCK : 0);
}

/* Non-blocking read once the cable has delivered what it could */
static ssize_t tbstream_test_read_flushed(struct kunit *test,
					  struct tbstream_file *f, void *buf,
					  size_t len)
{
	tbstream_test_flush(test);
	return tbstream_test_read(f, buf, len, true);
}

/*
 * The same, retried while it gives -EAGAIN, up to the timeout: a kthread
 * may be what sends the bytes
 */
static ssize_t tbstream_test_read_wait(struct kunit *test,
				       struct tbstream_file *f, void *buf,
				       size_t len)
{
	ssize_t ret;

	read_poll_timeout(tbstream_test_read_flushed, ret, ret != -EAGAIN,
			  TBSTREAM_TEST_POLL_US, TBSTREAM_TEST_TIMEOUT_US,
			  false, test, f, buf, len);
	return ret;
}

/* Read exactly @len bytes with non-blocking reads; returns what was read */
static size_t tbstream_test_read_all(struct kunit *test,
				     struct tbstream_file *f, u8 *buf,
				     size_t len)
{
	size_t done = 0;
	ssize_t ret;

	while (done < len) {
		ret = tbstream_test_read_wait(test, f, buf + done, len - done);
		KUNIT_EXPECT_GT_MSG(test, ret, 0, "after %zu of %zu bytes",
				    done, len);
		if (ret <= 0)
			break;
		done += ret;
	}
	return done;
}

/* The poll() mask once the cable has delivered what it could */
static __poll_t tbstream_test_poll_flushed(struct kunit *test,
					   struct tbstream_file *f)
{
	tbstream_test_flush(test);
	return tbstream_poll(f, NULL, NULL);
}

/**
 * struct tbstream_test_flow - One direction of a non-blocking transfer
 * @wf: File written
 * @rf: File read, on the other host
 * @src: @len bytes to send
 * @dst: @len bytes buffer for what arrives
 * @len: Bytes to transfer
 * @wsize: Bytes per write() call
 * @rsize: Bytes per read() call
 * @written: Bytes written so far
 * @read: Bytes read so far
 */
struct tbstream_test_flow {
	struct tbstream_file *wf;
	struct tbstream_file *rf;
	const u8 *src;
	u8 *dst;
	size_t len;
	size_t wsize;
	size_t rsize;
	size_t written;
	size_t read;
};

static bool tbstream_test_flow_done(const struct tbstream_test_flow *fl)
{
	return fl->written == fl->len && fl->read == fl->len;
}

/* One write, or one read, of @fl; returns true if it moved bytes */
static bool tbstream_test_flow_move(struct kunit *test,
				    struct tbstream_test_flow *fl, bool write)
{
	size_t *done = write ? &fl->written : &fl->read;
	size_t n = min(write ? fl->wsize : fl->rsize, fl->len - *done);
	ssize_t ret;

	if (*done == fl->len)
		return false;
	if (write)
		ret = tbstream_test_write(fl->wf, fl->src + *done, n, true);
	else
		ret = tbstream_test_read(fl->rf, fl->dst + *done, n, true);
	if (ret == -EAGAIN)
		return false;
	KUNIT_ASSERT_GT_MSG(test, ret, 0, "%s at %zu",
			    write ? "write" : "read", *done);
	KUNIT_ASSERT_LE(test, (size_t)ret, n);
	*done += ret;
	return true;
}

/* One write and one read; returns true if either moved bytes */
static bool tbstream_test_flow_step(struct kunit *test,
				    struct tbstream_test_flow *fl)
{
	bool wrote = tbstream_test_flow_move(test, fl, true);

	return tbstream_test_flow_move(test, fl, false) || wrote;
}

/* What one step of every flow did */
enum tbstream_test_steps {
	TBSTREAM_TEST_STUCK,
	TBSTREAM_TEST_MOVED,
	TBSTREAM_TEST_DONE,
};

static enum tbstream_test_steps
tbstream_test_steps(struct kunit *test, struct tbstream_test_flow *flows,
		    unsigned int n)
{
	bool done = true, progress = false;
	unsigned int i;

	for (i = 0; i < n; i++) {
		if (tbstream_test_flow_step(test, &flows[i]))
			progress = true;
		if (!tbstream_test_flow_done(&flows[i]))
			done = false;
	}
	if (done)
		return TBSTREAM_TEST_DONE;
	return progress ? TBSTREAM_TEST_MOVED : TBSTREAM_TEST_STUCK;
}

/**
 * tbstream_test_run() - Run transfers to completion, alternating them
 * @test: The test
 * @flows: Transfers
 * @n: Number of @flows
 *
 * Non-blocking writes and reads alternate, so that one thread can push
 * more than the rings hold. Fails the test if nothing moves even once the
 * cable has moved all it could, then compares every byte.
 */
static void tbstream_test_run(struct kunit *test,
			      struct tbstream_test_flow *flows, unsigned int n)
{
	enum tbstream_test_steps step;
	unsigned int i;

	do {
		step = tbstream_test_steps(test, flows, n);
		if (step == TBSTREAM_TEST_STUCK) {
			tbstream_test_flush(test);
			step = tbstream_test_steps(test, flows, n);
		}
		KUNIT_ASSERT_NE_MSG(test, step, TBSTREAM_TEST_STUCK,
				    "stuck: flow 0 wrote %zu read %zu of %zu",
				    flows[0].written, flows[0].read,
				    flows[0].len);
	} while (step != TBSTREAM_TEST_DONE);
	for (i = 0; i < n; i++)
		tbstream_test_expect_bytes(test, flows[i].dst, flows[i].src,
					   flows[i].len);
}

static void tbstream_test_flow_init(struct kunit *test,
				    struct tbstream_test_flow *fl,
				    struct tbstream_file *wf,
				    struct tbstream_file *rf, size_t len,
				    u32 seed)
{
	fl->wf = wf;
	fl->rf = rf;
	fl->len = len;
	fl->src = tbstream_test_pattern(test, len, seed);
	fl->dst = tbstream_test_alloc(test, len);
	fl->wsize = max_t(size_t, len, 1);
	fl->rsize = 65536;
	fl->written = 0;
	fl->read = 0;
}

/**
 * struct tbstream_test_io - A blocking read, write or close in a kthread
 * @f: File
 * @buf: Buffer, or %NULL to close @f
 * @len: Bytes to move
 * @write: Write, else read
 * @all: Call again until @len bytes have moved or a call fails
 * @moved: Bytes moved
 * @ret: Result of the last call; of tbstream_flush() for a close
 * @done: Completed when the kthread is done
 * @task: The kthread; stopping it interrupts a call that still blocks
 */
struct tbstream_test_io {
	struct tbstream_file *f;
	u8 *buf;
	size_t len;
	bool write;
	bool all;
	size_t moved;
	ssize_t ret;
	struct completion done;
	struct task_struct *task;
};

static int tbstream_test_io_fn(void *data)
{
	struct tbstream_test_io *io = data;
	ssize_t ret;

	if (!io->buf) {
		io->ret = tbstream_flush(io->f);
		tbstream_release(io->f);
		complete(&io->done);
		return 0;
	}
	do {
		if (io->write)
			ret = tbstream_test_write(io->f, io->buf + io->moved,
						  io->len - io->moved, false);
		else
			ret = tbstream_test_read(io->f, io->buf + io->moved,
						 io->len - io->moved, false);
		if (ret > 0)
			io->moved += ret;
	} while (io->all && ret > 0 && io->moved < io->len);
	io->ret = ret;
	complete(&io->done);
	return 0;
}

static void tbstream_test_io_stop(void *data)
{
	struct tbstream_test_io *io = data;

	/* kthread_stop() makes a blocked call return -ERESTARTSYS */
	kthread_stop(io->task);
	put_task_struct(io->task);
}

static struct tbstream_test_io *
tbstream_test_io_start(struct kunit *test, struct tbstream_file *f,
		       bool write, void *buf, size_t len, bool all)
{
	struct tbstream_test_io *io;

	io = kunit_kzalloc(test, sizeof(*io), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, io);
	io->f = f;
	io->buf = buf;
	io->len = len;
	io->write = write;
	io->all = all;
	init_completion(&io->done);
	io->task = kthread_create(tbstream_test_io_fn, io, "tbstream_test");
	KUNIT_ASSERT_FALSE(test, IS_ERR(io->task));
	get_task_struct(io->task);
	wake_up_process(io->task);
	tbstream_test_defer(test, tbstream_test_io_stop, io);
	return io;
}

/* Close @f in a kthread: the last close may wait for the peer */
static struct tbstream_test_io *
tbstream_test_close_start(struct kunit *test, struct tbstream_file *f)
{
	kunit_remove_action(test, tbstream_test_release, f);
	return tbstream_test_io_start(test, f, false, NULL, 0, false);
}

static bool tbstream_test_io_wait(struct tbstream_test_io *io)
{
	return wait_for_completion_timeout(&io->done,
			msecs_to_jiffies(TBSTREAM_TEST_TIMEOUT_MS));
}

/* A kthread blocked in a call sleeps on a wait queue of the stream */
static bool tbstream_test_io_sleeps(struct tbstream_test_io *io,
				    struct tbstream *s)
{
	return wq_has_sleeper(io->write ? &s->tx_wait : &s->rx_wait) ||
	       completion_done(&io->done);
}

/*
 * Wait until the kthread of @io blocks in its call on stream @s, and check
 * that it did. With busy_poll, a blocked call spins instead of sleeping:
 * nothing tells that it is in the loop, so give it time to get there.
 */
static void tbstream_test_expect_blocked(struct kunit *test,
					 struct tbstream_test_io *io,
					 struct tbstream *s)
{
	bool sleeps;

	if (READ_ONCE(s->busy_poll))
		msleep(100);
	else
		read_poll_timeout(tbstream_test_io_sleeps, sleeps, sleeps,
				  TBSTREAM_TEST_POLL_US,
				  TBSTREAM_TEST_TIMEOUT_US, false, io, s);
	KUNIT_EXPECT_FALSE(test, completion_done(&io->done));
}

/* thunderbolt_stream_property */

static void tbstream_test_service_dir(struct kunit *test)
{
	static const uuid_t uuid =
		UUID_INIT(0x3a1cb984, 0xc4d9, 0x4469,
			  0xa2, 0x77, 0xce, 0x2f, 0xdf, 0xd1, 0x1f, 0x0d);
	struct tb_property_dir *dir;

	dir = tbstream_tb_create_dir();
	KUNIT_ASSERT_NOT_NULL(test, dir);
	tbstream_test_defer(test, tbstream_test_free_dir, dir);

	tbstream_test_expect_service_dir(test, dir, &uuid);
}

static struct kunit_case tbstream_property_cases[] = {
	KUNIT_CASE(tbstream_test_service_dir),
	{ }
};

static struct kunit_suite tbstream_property_suite = {
	.name = "thunderbolt_stream_property",
	.test_cases = tbstream_property_cases,
};

/* thunderbolt_stream_configfs */

/**
 * struct tbstream_test_store_case - What writing an attribute gives
 * @attr: Attribute name
 * @input: What is written
 * @err: Expected error, 0 for success
 * @shown: What show() gives afterwards
 * @desc: What the case name says after @attr, if not @input
 */
struct tbstream_test_store_case {
	const char *attr;
	const char *input;
	int err;
	const char *shown;
	const char *desc;
};

/* Detached: HopIDs are only checked against the ABI's range */
static const struct tbstream_test_store_case tbstream_test_store_cases[] = {
	{ "ring_size", "31", -EINVAL, "256\n" },
	{ "ring_size", "32", 0, "32\n" },
	{ "ring_size", "4096", 0, "4096\n" },
	{ "ring_size", "4097", -EINVAL, "256\n" },
	{ "ring_size", "0", -EINVAL, "256\n" },
	{ "ring_size", "", -EINVAL, "256\n", "empty" },
	{ "ring_size", "abc", -EINVAL, "256\n" },
	{ "ring_size", "-1", -EINVAL, "256\n" },
	{ "ring_size", "0x20", 0, "32\n" },
	{ "ring_size", "040", 0, "32\n", "octal 040" },
	{ "ring_size", "64\n", 0, "64\n", "64 newline" },
	{ "ring_size", " 64", -EINVAL, "256\n", "leading space" },
	{ "ring_size", "64 64", -EINVAL, "256\n", "two values" },
	{ "ring_size", "4294967296", -EINVAL, "256\n", "2^32" },
	{ "ring_size", "99999999999999999999", -EINVAL, "256\n", "huge" },
	{ "throttling", "0", 0, "0\n" },
	{ "throttling", "256", 0, "256\n" },
	{ "throttling", "16776960", 0, "16776960\n", "max" },
	{ "throttling", "16776961", -EINVAL, "8192\n", "max+1" },
	{ "throttling", "4294967295", -EINVAL, "8192\n", "2^32-1" },
	{ "throttling", "4294967296", -EINVAL, "8192\n", "2^32" },
	{ "throttling", "-1", -EINVAL, "8192\n" },
	{ "throttling", "", -EINVAL, "8192\n", "empty" },
	{ "throttling", "0x100", 0, "256\n" },
	{ "busy_poll", "1", 0, "1\n" },
	{ "busy_poll", "y", 0, "1\n" },
	{ "busy_poll", "Y", 0, "1\n" },
	{ "busy_poll", "on", 0, "1\n" },
	{ "busy_poll", "1\n", 0, "1\n", "1 newline" },
	{ "busy_poll", "0", 0, "0\n" },
	{ "busy_poll", "n", 0, "0\n" },
	{ "busy_poll", "off", 0, "0\n" },
	{ "busy_poll", "2", -EINVAL, "0\n" },
	{ "busy_poll", "x", -EINVAL, "0\n" },
	{ "busy_poll", "", -EINVAL, "0\n", "empty" },
	{ "in_hopid", "-1", 0, "-1\n" },
	{ "in_hopid", "0", 0, "0\n" },
	{ "in_hopid", "8", 0, "8\n" },
	{ "in_hopid", "7", -EINVAL, "0\n" },
	{ "in_hopid", "1", -EINVAL, "0\n" },
	{ "in_hopid", "-2", -EINVAL, "0\n" },
	{ "in_hopid", "2047", 0, "2047\n" },
	{ "in_hopid", "2048", -EINVAL, "0\n" },
	{ "in_hopid", "0x10", 0, "16\n" },
	{ "in_hopid", "abc", -EINVAL, "0\n" },
	{ "in_hopid", "", -EINVAL, "0\n", "empty" },
	{ "in_hopid", "2147483648", -EINVAL, "0\n", "2^31" },
	{ "out_hopid", "-1", 0, "-1\n" },
	{ "out_hopid", "8", 0, "8\n" },
	{ "out_hopid", "7", -EINVAL, "0\n" },
	{ "out_hopid", "2047", 0, "2047\n" },
	{ "out_hopid", "2048", -EINVAL, "0\n" },
};

/* Case name of an attribute write: the attribute, then @label or @input */
static void tbstream_test_attr_desc(char *desc, const char *attr,
				    const char *input, const char *label)
{
	snprintf(desc, KUNIT_PARAM_DESC_SIZE, "%s %s", attr, label ?: input);
}

static void tbstream_test_store_desc(const struct tbstream_test_store_case *c,
				     char *desc)
{
	tbstream_test_attr_desc(desc, c->attr, c->input, c->desc);
}

KUNIT_ARRAY_PARAM(tbstream_test_store, tbstream_test_store_cases,
		  tbstream_test_store_desc);

static void tbstream_test_configfs_store(struct kunit *test)
{
	const struct tbstream_test_store_case *c = test->param_value;
	struct tbstream_test *t = test->priv;
	struct tbstream *s;
	ssize_t ret;

	tbstream_sim_cable_unplug(t->cable);
	s = tbstream_test_mkdir(test, TBSTREAM_SIM_A, "x");

	ret = tbstream_test_store(test, s, c->attr, c->input);
	KUNIT_EXPECT_EQ(test, ret, c->err ?: (ssize_t)strlen(c->input));
	KUNIT_EXPECT_STREQ(test, tbstream_test_show(test, s, c->attr),
			   c->shown);
}

/**
 * struct tbstream_test_hopid_case - Writing a HopID of an attached stream
 * @attr: in_hopid or out_hopid
 * @input: What is written
 * @err: Expected error, 0 for success
 * @hopid: HopID shown afterwards
 * @desc: What the case name says after @attr, if not @input
 */
struct tbstream_test_hopid_case {
	const char *attr;
	const char *input;
	int err;
	int hopid;
	const char *desc;
};

/* The simulated hosts have HopIDs 8 to 63; automatic ones start at 9 */
static const struct tbstream_test_hopid_case tbstream_test_hopid_cases[] = {
	{ "in_hopid", "-1", 0, 9 },
	{ "in_hopid", "0", 0, 0 },
	{ "in_hopid", "8", 0, 8 },
	{ "in_hopid", "63", 0, 63 },
	{ "in_hopid", "64", -EINVAL, 0 },
	{ "in_hopid", "7", -EINVAL, 0 },
	{ "in_hopid", "2047", -EINVAL, 0 },
	{ "in_hopid", "2048", -EINVAL, 0 },
	{ "out_hopid", "-1", 0, 9 },
	{ "out_hopid", "8", 0, 8 },
	{ "out_hopid", "63", 0, 63 },
	{ "out_hopid", "64", -EINVAL, 0 },
	{ "out_hopid", "7", -EINVAL, 0 },
};

static void tbstream_test_hopid_desc(const struct tbstream_test_hopid_case *c,
				     char *desc)
{
	tbstream_test_attr_desc(desc, c->attr, c->input, c->desc);
}

KUNIT_ARRAY_PARAM(tbstream_test_hopid, tbstream_test_hopid_cases,
		  tbstream_test_hopid_desc);

static void tbstream_test_configfs_hopid_attached(struct kunit *test)
{
	const struct tbstream_test_hopid_case *c = test->param_value;
	struct tbstream *s;
	ssize_t ret;

	s = tbstream_test_mkdir(test, TBSTREAM_SIM_A, "x");
	KUNIT_ASSERT_EQ(test, tbstream_test_hopids(test, TBSTREAM_SIM_A), 0);

	ret = tbstream_test_store(test, s, c->attr, c->input);
	KUNIT_EXPECT_EQ(test, ret, c->err ?: (ssize_t)strlen(c->input));
	KUNIT_EXPECT_EQ(test, tbstream_test_show_int(test, s, c->attr),
			c->hopid);
	KUNIT_EXPECT_EQ(test, tbstream_test_hopids(test, TBSTREAM_SIM_A),
			c->hopid ? 1U : 0U);
}

/* Every writable attribute, with a valid value other than its default */
static const char * const tbstream_test_rw_attrs[][2] = {
	{ "in_hopid", "20" },
	{ "out_hopid", "21" },
	{ "ring_size", "64" },
	{ "throttling", "0" },
	{ "busy_poll", "1" },
};

static void tbstream_test_configfs_store_twice(struct kunit *test)
{
	struct tbstream *s;
	unsigned int i;

	s = tbstream_test_mkdir(test, TBSTREAM_SIM_A, "x");
	for (i = 0; i < ARRAY_SIZE(tbstream_test_rw_attrs); i++) {
		const char *attr = tbstream_test_rw_attrs[i][0];
		const char *value = tbstream_test_rw_attrs[i][1];
		char want[16];

		tbstream_test_set(test, s, attr, value);
		tbstream_test_set(test, s, attr, value);
		snprintf(want, sizeof(want), "%s\n", value);
		KUNIT_EXPECT_STREQ(test, tbstream_test_show(test, s, attr),
				   want);
	}
	/* Exactly one HopID held per direction, not two */
	KUNIT_EXPECT_EQ(test, tbstream_test_hopids(test, TBSTREAM_SIM_A), 2);
}

/**
 * struct tbstream_test_busy_case - Writing an attribute while open
 * @attr: Attribute
 * @other: A valid value other than the current one
 * @desc: Case name
 */
struct tbstream_test_busy_case {
	const char *attr;
	const char *other;
	const char *desc;
};

static const struct tbstream_test_busy_case tbstream_test_busy_cases[] = {
	{ "ring_size", "64", "ring_size" },
	{ "throttling", "0", "throttling" },
	{ "busy_poll", "1", "busy_poll" },
	{ "in_hopid", "20", "in_hopid exact" },
	{ "in_hopid", "0", "in_hopid release" },
	{ "out_hopid", "20", "out_hopid exact" },
	{ "out_hopid", "0", "out_hopid release" },
};

KUNIT_ARRAY_PARAM_DESC(tbstream_test_busy, tbstream_test_busy_cases, desc);

static void tbstream_test_configfs_busy(struct kunit *test)
{
	const struct tbstream_test_busy_case *c = test->param_value;
	const char *before;
	struct tbstream *s;

	s = tbstream_test_mkdir(test, TBSTREAM_SIM_A, "x");
	tbstream_test_set(test, s, "in_hopid", "-1");
	tbstream_test_set(test, s, "out_hopid", "-1");
	before = tbstream_test_show(test, s, c->attr);
	tbstream_test_open(test, s, true);

	KUNIT_EXPECT_EQ(test, tbstream_test_store(test, s, c->attr, c->other),
			-EBUSY);
	KUNIT_EXPECT_STREQ(test, tbstream_test_show(test, s, c->attr), before);
	/* What show() gives is the current value: writing it back is fine */
	KUNIT_EXPECT_EQ(test, tbstream_test_store(test, s, c->attr, before),
			(ssize_t)strlen(before));
	KUNIT_EXPECT_STREQ(test, tbstream_test_show(test, s, c->attr), before);
	KUNIT_EXPECT_EQ(test, tbstream_test_hopids(test, TBSTREAM_SIM_A), 2);
}

/* A file opened while detached makes the settings busy too */
static void tbstream_test_configfs_busy_detached(struct kunit *test)
{
	struct tbstream_test *t = test->priv;
	struct tbstream *s;

	s = tbstream_test_mkdir(test, TBSTREAM_SIM_A, "x");
	tbstream_sim_cable_unplug(t->cable);
	tbstream_test_open(test, s, false);
	KUNIT_EXPECT_EQ(test, tbstream_test_store(test, s, "ring_size", "64"),
			-EBUSY);
	KUNIT_EXPECT_EQ(test, tbstream_test_store(test, s, "in_hopid", "-1"),
			-EBUSY);
	KUNIT_EXPECT_EQ(test, tbstream_test_show_int(test, s, "ring_size"),
			TBSTREAM_RING_SIZE_DEFAULT);
}

static void tbstream_test_configfs_defaults(struct kunit *test)
{
	struct tbstream *s;

	s = tbstream_test_mkdir(test, TBSTREAM_SIM_A, "x");
	KUNIT_EXPECT_EQ(test, tbstream_test_show_int(test, s, "index"),
			s->index);
	KUNIT_EXPECT_STREQ(test, tbstream_test_show(test, s, "in_hopid"),
			   "0\n");
	KUNIT_EXPECT_STREQ(test, tbstream_test_show(test, s, "out_hopid"),
			   "0\n");
	KUNIT_EXPECT_STREQ(test, tbstream_test_show(test, s, "ring_size"),
			   "256\n");
	KUNIT_EXPECT_STREQ(test, tbstream_test_show(test, s, "throttling"),
			   "8192\n");
	KUNIT_EXPECT_STREQ(test, tbstream_test_show(test, s, "busy_poll"),
			   "0\n");
	KUNIT_EXPECT_EQ(test, tbstream_test_hopids(test, TBSTREAM_SIM_A), 0);
}

static void tbstream_test_configfs_attr_list(struct kunit *test)
{
	static const char * const names[] = {
		"index", "in_hopid", "out_hopid", "ring_size", "throttling",
		"busy_poll",
	};
	struct configfs_attribute **attr;
	struct tbstream *s;
	unsigned int i, n = 0;

	s = tbstream_test_mkdir(test, TBSTREAM_SIM_A, "x");
	for (attr = s->item.ci_type->ct_attrs; *attr; attr++) {
		n++;
		KUNIT_EXPECT_NOT_NULL_MSG(test, (*attr)->show, "%s",
					  (*attr)->ca_name);
	}
	KUNIT_EXPECT_EQ(test, n, ARRAY_SIZE(names));
	for (i = 0; i < ARRAY_SIZE(names); i++)
		tbstream_test_attr(test, s, names[i]);
}

static void tbstream_test_configfs_index(struct kunit *test)
{
	struct configfs_attribute *attr;
	struct tbstream *s1, *s2;
	char name[16];

	s1 = tbstream_test_mkdir(test, TBSTREAM_SIM_A, "x");
	s2 = tbstream_test_mkdir(test, TBSTREAM_SIM_B, "x");

	attr = tbstream_test_attr(test, s1, "index");
	KUNIT_EXPECT_NULL(test, attr->store);
	KUNIT_EXPECT_EQ(test, attr->ca_mode, 0444);

	KUNIT_EXPECT_EQ(test, tbstream_test_show_int(test, s1, "index"),
			s1->index);
	KUNIT_EXPECT_EQ(test, tbstream_test_show_int(test, s2, "index"),
			s2->index);
	KUNIT_EXPECT_NE(test, s1->index, s2->index);
	snprintf(name, sizeof(name), "tbstream%d", s1->index);
	KUNIT_EXPECT_STREQ(test, s1->misc.name, name);
}

static void tbstream_test_configfs_name(struct kunit *test)
{
	struct tbstream_test *t = test->priv;
	struct config_group *group = &t->svc[TBSTREAM_SIM_A]->group;
	const struct configfs_group_operations *ops =
		tbstream_service_type.ct_group_ops;
	struct config_item *item;

	KUNIT_ASSERT_NOT_NULL(test, ops);
	KUNIT_EXPECT_EQ(test, PTR_ERR(ops->make_item(group, "toolongname")),
			-ENAMETOOLONG);
	KUNIT_EXPECT_EQ(test, PTR_ERR(ops->make_item(group, "123456789")),
			-ENAMETOOLONG);

	/* Eight characters are fine; drop_item() is rmdir */
	item = ops->make_item(group, "12345678");
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, item);
	KUNIT_EXPECT_STREQ(test, config_item_name(item), "12345678");
	KUNIT_EXPECT_STREQ(test, container_of(item, struct tbstream, item)->name,
			   "12345678");
	ops->drop_item(group, item);
}

static struct kunit_case tbstream_configfs_cases[] = {
	KUNIT_CASE_PARAM(tbstream_test_configfs_store,
			 tbstream_test_store_gen_params),
	KUNIT_CASE_PARAM(tbstream_test_configfs_hopid_attached,
			 tbstream_test_hopid_gen_params),
	KUNIT_CASE_PARAM(tbstream_test_configfs_busy,
			 tbstream_test_busy_gen_params),
	KUNIT_CASE(tbstream_test_configfs_store_twice),
	KUNIT_CASE(tbstream_test_configfs_busy_detached),
	KUNIT_CASE(tbstream_test_configfs_defaults),
	KUNIT_CASE(tbstream_test_configfs_attr_list),
	KUNIT_CASE(tbstream_test_configfs_index),
	KUNIT_CASE(tbstream_test_configfs_name),
	{ }
};

static struct kunit_suite tbstream_configfs_suite = {
	.name = "thunderbolt_stream_configfs",
	.init = tbstream_test_init,
	.test_cases = tbstream_configfs_cases,
};

/* thunderbolt_stream_hopid */

/* Open both ends and start host B's rings, so that frames can land */
static void tbstream_test_open_pair(struct kunit *test, struct tbstream *a,
				    struct tbstream *b,
				    struct tbstream_file **fa,
				    struct tbstream_file **fb)
{
	u8 byte;

	*fa = tbstream_test_open(test, a, true);
	*fb = tbstream_test_open(test, b, true);
	KUNIT_ASSERT_EQ(test, tbstream_test_read(*fb, &byte, 1, true),
			-EAGAIN);
	KUNIT_ASSERT_EQ(test, tbstream_test_read(*fa, &byte, 1, true),
			-EAGAIN);
}

/*
 * Open the fixture's pair as tbstream_test_open_pair() does, into @fa and
 * @fb of the fixture, which it returns
 */
static struct tbstream_test *tbstream_test_open_ends(struct kunit *test)
{
	struct tbstream_test *t = test->priv;

	tbstream_test_open_pair(test, t->a, t->b, &t->fa, &t->fb);
	return t;
}

/* Open the fixture's pair, without starting the rings, into @fa and @fb */
static struct tbstream_test *tbstream_test_open_files(struct kunit *test,
						      bool nonblock)
{
	struct tbstream_test *t = test->priv;

	t->fa = tbstream_test_open(test, t->a, nonblock);
	t->fb = tbstream_test_open(test, t->b, nonblock);
	return t;
}

/* Host A's stream exists before host B's asks for HopIDs */
static void tbstream_test_hopid_receiver_first(struct kunit *test)
{
	struct tbstream *a, *b, *other;
	int in, out;

	/* Shift host B's in HopIDs so that a swap would show */
	other = tbstream_test_mkdir(test, TBSTREAM_SIM_B, "other");
	tbstream_test_set(test, other, "in_hopid", "-1");

	a = tbstream_test_mkdir(test, TBSTREAM_SIM_A, "x");
	b = tbstream_test_mkdir(test, TBSTREAM_SIM_B, "x");
	tbstream_test_set(test, b, "in_hopid", "-1");
	tbstream_test_set(test, b, "out_hopid", "-1");
	in = tbstream_test_show_int(test, b, "in_hopid");
	out = tbstream_test_show_int(test, b, "out_hopid");
	KUNIT_EXPECT_EQ(test, in, 10);
	KUNIT_EXPECT_EQ(test, out, 9);

	tbstream_test_assert_inherits(test, a, in, out);
	KUNIT_EXPECT_EQ(test, tbstream_test_show_int(test, a, "in_hopid"),
			out);
	KUNIT_EXPECT_EQ(test, tbstream_test_show_int(test, a, "out_hopid"),
			in);
	KUNIT_EXPECT_EQ(test, tbstream_test_hopids(test, TBSTREAM_SIM_A), 2);
	KUNIT_EXPECT_EQ(test, tbstream_test_hopids(test, TBSTREAM_SIM_B), 3);
}

/* Host A's stream is made after host B's advertised: inherits at mkdir */
static void tbstream_test_hopid_inherit_at_mkdir(struct kunit *test)
{
	struct tbstream *a, *b;

	b = tbstream_test_mkdir(test, TBSTREAM_SIM_B, "x");
	tbstream_test_set(test, b, "in_hopid", "30");
	tbstream_test_set(test, b, "out_hopid", "40");
	a = tbstream_test_mkdir(test, TBSTREAM_SIM_A, "x");
	tbstream_test_assert_inherits(test, a, 30, 40);
	/* Inherited HopIDs are not settings */
	KUNIT_EXPECT_EQ(test, a->hop[TBSTREAM_IN].req, TBSTREAM_HOPID_NONE);
	KUNIT_EXPECT_EQ(test, a->hop[TBSTREAM_OUT].req, TBSTREAM_HOPID_NONE);
}

/* A stream that is not open follows the peer's new HopIDs */
static void tbstream_test_hopid_inherit_follows(struct kunit *test)
{
	struct tbstream *a, *b;

	tbstream_test_pair(test, "x", 0, &a, &b);
	tbstream_test_set(test, b, "in_hopid", "33");
	KUNIT_EXPECT_EQ(test, tbstream_test_sim_hopid(test, a, TBSTREAM_OUT),
			33);
	tbstream_test_set(test, b, "out_hopid", "0");
	/* Host B withdrew the stream: host A drops what it inherited */
	KUNIT_EXPECT_EQ(test, tbstream_test_sim_hopid(test, a, TBSTREAM_OUT),
			0);
	KUNIT_EXPECT_EQ(test, tbstream_test_sim_hopid(test, a, TBSTREAM_IN), 0);
	KUNIT_EXPECT_EQ(test, tbstream_test_hopids(test, TBSTREAM_SIM_A), 0);
	KUNIT_EXPECT_EQ(test, tbstream_test_hopids(test, TBSTREAM_SIM_B), 1);
}

static void tbstream_test_hopid_taken(struct kunit *test)
{
	struct tbstream *x, *y;

	x = tbstream_test_mkdir(test, TBSTREAM_SIM_A, "x");
	y = tbstream_test_mkdir(test, TBSTREAM_SIM_A, "y");
	tbstream_test_set(test, x, "in_hopid", "20");
	tbstream_test_set(test, y, "in_hopid", "-1");
	KUNIT_EXPECT_EQ(test, tbstream_test_show_int(test, y, "in_hopid"), 9);

	/* Transactional: the HopID held before is kept */
	KUNIT_EXPECT_EQ(test, tbstream_test_store(test, y, "in_hopid", "20"),
			-EBUSY);
	KUNIT_EXPECT_EQ(test, tbstream_test_show_int(test, y, "in_hopid"), 9);
	KUNIT_EXPECT_EQ(test, y->hop[TBSTREAM_IN].req, TBSTREAM_HOPID_AUTO);
	KUNIT_EXPECT_EQ(test, tbstream_test_hopids(test, TBSTREAM_SIM_A), 2);

	/* The other direction has its own HopID space */
	tbstream_test_set(test, y, "out_hopid", "20");
	KUNIT_EXPECT_EQ(test, tbstream_test_hopids(test, TBSTREAM_SIM_A), 3);

	/* Writing one's own exact HopID again is no change */
	tbstream_test_set(test, x, "in_hopid", "20");
	KUNIT_EXPECT_EQ(test, tbstream_test_show_int(test, x, "in_hopid"), 20);
	/* Nor is writing the HopID an automatic request got */
	tbstream_test_set(test, y, "in_hopid", "9");
	KUNIT_EXPECT_EQ(test, tbstream_test_show_int(test, y, "in_hopid"), 9);
	KUNIT_EXPECT_EQ(test, tbstream_test_hopids(test, TBSTREAM_SIM_A), 3);
}

static void tbstream_test_hopid_auto_skips_8(struct kunit *test)
{
	struct tbstream *x, *y, *z;

	x = tbstream_test_mkdir(test, TBSTREAM_SIM_A, "x");
	y = tbstream_test_mkdir(test, TBSTREAM_SIM_A, "y");
	z = tbstream_test_mkdir(test, TBSTREAM_SIM_A, "z");
	tbstream_test_set(test, x, "in_hopid", "9");
	tbstream_test_set(test, y, "in_hopid", "-1");
	KUNIT_EXPECT_EQ(test, tbstream_test_show_int(test, y, "in_hopid"), 10);
	/* 8 is still free for whoever asks for it exactly */
	tbstream_test_set(test, z, "in_hopid", "8");
	KUNIT_EXPECT_EQ(test, tbstream_test_show_int(test, z, "in_hopid"), 8);
}

static void tbstream_test_hopid_release(struct kunit *test)
{
	struct tbstream *x, *y;

	x = tbstream_test_mkdir(test, TBSTREAM_SIM_A, "x");
	tbstream_test_set(test, x, "in_hopid", "-1");
	tbstream_test_set(test, x, "out_hopid", "-1");
	KUNIT_EXPECT_EQ(test, tbstream_test_hopids(test, TBSTREAM_SIM_A), 2);
	tbstream_test_set(test, x, "in_hopid", "0");
	KUNIT_EXPECT_EQ(test, tbstream_test_show_int(test, x, "in_hopid"), 0);
	KUNIT_EXPECT_EQ(test, tbstream_test_hopids(test, TBSTREAM_SIM_A), 1);

	/* Released for real: somebody else gets it */
	y = tbstream_test_mkdir(test, TBSTREAM_SIM_A, "y");
	tbstream_test_set(test, y, "in_hopid", "9");
	/* Changing an automatic HopID to an exact one frees the old one */
	tbstream_test_set(test, x, "out_hopid", "30");
	tbstream_test_set(test, y, "out_hopid", "9");
	KUNIT_EXPECT_EQ(test, tbstream_test_hopids(test, TBSTREAM_SIM_A), 3);
}

static void tbstream_test_hopid_unplug_replug(struct kunit *test)
{
	struct tbstream_test *t = test->priv;
	struct tbstream *a, *b;
	int in, out;

	tbstream_test_pair(test, "x", 0, &a, &b);
	in = tbstream_get_hopid(b, TBSTREAM_IN);
	out = tbstream_get_hopid(b, TBSTREAM_OUT);

	tbstream_sim_cable_unplug(t->cable);
	KUNIT_EXPECT_EQ(test, tbstream_test_hopids(test, TBSTREAM_SIM_A), 0);
	KUNIT_EXPECT_EQ(test, tbstream_test_hopids(test, TBSTREAM_SIM_B), 0);
	/* The settings stay; what was only inherited does not */
	KUNIT_EXPECT_EQ(test, tbstream_test_show_int(test, b, "in_hopid"), -1);
	KUNIT_EXPECT_EQ(test, tbstream_test_show_int(test, b, "out_hopid"),
			-1);
	KUNIT_EXPECT_EQ(test, tbstream_test_show_int(test, a, "in_hopid"), 0);
	KUNIT_EXPECT_EQ(test, tbstream_test_show_int(test, a, "out_hopid"), 0);

	KUNIT_ASSERT_EQ(test, tbstream_sim_cable_replug(t->cable), 0);
	KUNIT_EXPECT_EQ(test, tbstream_test_show_int(test, b, "in_hopid"), in);
	KUNIT_EXPECT_EQ(test, tbstream_test_show_int(test, b, "out_hopid"),
			out);
	tbstream_test_assert_inherits(test, a, in, out);
	KUNIT_EXPECT_EQ(test, tbstream_test_hopids(test, TBSTREAM_SIM_A), 2);
	KUNIT_EXPECT_EQ(test, tbstream_test_hopids(test, TBSTREAM_SIM_B), 2);

	/* Twice, to catch HopIDs released twice or not at all */
	tbstream_sim_cable_unplug(t->cable);
	KUNIT_EXPECT_EQ(test, tbstream_test_hopids(test, TBSTREAM_SIM_A), 0);
	KUNIT_EXPECT_EQ(test, tbstream_test_hopids(test, TBSTREAM_SIM_B), 0);
	KUNIT_ASSERT_EQ(test, tbstream_sim_cable_replug(t->cable), 0);
	KUNIT_EXPECT_EQ(test, tbstream_test_sim_hopid(test, a, TBSTREAM_IN),
			out);
	KUNIT_EXPECT_EQ(test, tbstream_test_hopids(test, TBSTREAM_SIM_B), 2);
}

/* Settings made while detached are applied at attach */
static void tbstream_test_hopid_set_detached(struct kunit *test)
{
	struct tbstream_test *t = test->priv;
	struct tbstream *x;

	x = tbstream_test_mkdir(test, TBSTREAM_SIM_A, "x");
	tbstream_sim_cable_unplug(t->cable);
	tbstream_test_set(test, x, "in_hopid", "25");
	tbstream_test_set(test, x, "out_hopid", "-1");
	KUNIT_EXPECT_EQ(test, tbstream_test_hopids(test, TBSTREAM_SIM_A), 0);
	KUNIT_ASSERT_EQ(test, tbstream_sim_cable_replug(t->cable), 0);
	KUNIT_EXPECT_EQ(test, tbstream_test_show_int(test, x, "in_hopid"), 25);
	KUNIT_EXPECT_EQ(test, tbstream_test_show_int(test, x, "out_hopid"), 9);
	KUNIT_EXPECT_EQ(test, tbstream_test_hopids(test, TBSTREAM_SIM_A), 2);
}

static void tbstream_test_hopid_rmdir(struct kunit *test)
{
	struct tbstream *a, *b, *c;

	tbstream_test_pair(test, "x", 0, &a, &b);
	c = tbstream_test_mkdir(test, TBSTREAM_SIM_A, "c");
	tbstream_test_set(test, c, "in_hopid", "-1");
	KUNIT_EXPECT_EQ(test, tbstream_test_hopids(test, TBSTREAM_SIM_A), 3);

	/* Host B's rmdir withdraws the stream: host A drops its HopIDs */
	kunit_release_action(test, tbstream_test_rmdir, b);
	KUNIT_EXPECT_EQ(test, tbstream_test_hopids(test, TBSTREAM_SIM_B), 0);
	KUNIT_EXPECT_EQ(test, tbstream_test_sim_hopid(test, a, TBSTREAM_IN), 0);
	KUNIT_EXPECT_EQ(test, tbstream_test_hopids(test, TBSTREAM_SIM_A), 1);

	kunit_release_action(test, tbstream_test_rmdir, c);
	kunit_release_action(test, tbstream_test_rmdir, a);
	KUNIT_EXPECT_EQ(test, tbstream_test_hopids(test, TBSTREAM_SIM_A), 0);
}

/* Automatic HopIDs: 9 to the top first, 8 last, then -ENOSPC */
static void tbstream_test_hopid_exhaust(struct kunit *test)
{
	struct tbstream *s, *s8, *full;
	char name[TBSTREAM_NAME_MAX + 1];
	int i;

	for (i = 9; i <= 63; i++) {
		snprintf(name, sizeof(name), "h%d", i);
		s = tbstream_test_mkdir(test, TBSTREAM_SIM_A, name);
		tbstream_test_set(test, s, "in_hopid", "-1");
		KUNIT_ASSERT_EQ(test, tbstream_get_hopid(s, TBSTREAM_IN), i);
	}
	s8 = tbstream_test_mkdir(test, TBSTREAM_SIM_A, "h8");
	tbstream_test_set(test, s8, "in_hopid", "-1");
	KUNIT_EXPECT_EQ(test, tbstream_get_hopid(s8, TBSTREAM_IN), 8);

	full = tbstream_test_mkdir(test, TBSTREAM_SIM_A, "full");
	KUNIT_EXPECT_EQ(test, tbstream_test_store(test, full, "in_hopid", "-1"),
			-ENOSPC);
	KUNIT_EXPECT_EQ(test, tbstream_test_store(test, full, "in_hopid", "8"),
			-EBUSY);
	KUNIT_EXPECT_EQ(test, tbstream_test_show_int(test, full, "in_hopid"),
			0);
	/* The out space is separate */
	tbstream_test_set(test, full, "out_hopid", "-1");
	KUNIT_EXPECT_EQ(test, tbstream_test_show_int(test, full, "out_hopid"),
			9);
	KUNIT_EXPECT_EQ(test, tbstream_test_hopids(test, TBSTREAM_SIM_A), 57);

	tbstream_test_set(test, s8, "in_hopid", "0");
	tbstream_test_set(test, full, "in_hopid", "-1");
	KUNIT_EXPECT_EQ(test, tbstream_test_show_int(test, full, "in_hopid"),
			8);
}

/* Streams made while the cable is out get their HopIDs at plug time */
static void tbstream_test_hopid_mkdir_detached(struct kunit *test)
{
	struct tbstream_test *t = test->priv;
	struct tbstream_file *fa, *fb;
	struct tbstream *a, *b;
	u8 buf[4];

	tbstream_sim_cable_unplug(t->cable);
	b = tbstream_test_mkdir(test, TBSTREAM_SIM_B, "x");
	a = tbstream_test_mkdir(test, TBSTREAM_SIM_A, "x");
	tbstream_test_set(test, b, "in_hopid", "-1");
	tbstream_test_set(test, b, "out_hopid", "12");
	KUNIT_EXPECT_EQ(test, tbstream_test_hopids(test, TBSTREAM_SIM_B), 0);

	KUNIT_ASSERT_EQ(test, tbstream_sim_cable_replug(t->cable), 0);
	KUNIT_EXPECT_EQ(test, tbstream_test_show_int(test, b, "in_hopid"), 9);
	KUNIT_EXPECT_EQ(test, tbstream_test_show_int(test, b, "out_hopid"),
			12);
	tbstream_test_assert_inherits(test, a, 9, 12);

	tbstream_test_open_pair(test, a, b, &fa, &fb);
	KUNIT_EXPECT_EQ(test, tbstream_test_write(fa, "ping", 4, true), 4);
	KUNIT_EXPECT_EQ(test, tbstream_test_read_all(test, fb, buf, 4), 4);
	KUNIT_EXPECT_EQ(test, memcmp(buf, "ping", 4), 0);
}

/*
 * An exact HopID that was taken at attach is retried when the
 * same value is written again after it became free.
 */
static void tbstream_test_hopid_rewrite_retries(struct kunit *test)
{
	struct tbstream_test *t = test->priv;
	struct tbstream *x, *y;

	x = tbstream_test_mkdir(test, TBSTREAM_SIM_A, "x");
	y = tbstream_test_mkdir(test, TBSTREAM_SIM_A, "y");
	tbstream_sim_cable_unplug(t->cable);
	tbstream_test_set(test, y, "in_hopid", "20");
	tbstream_test_set(test, x, "in_hopid", "20");
	KUNIT_ASSERT_EQ(test, tbstream_sim_cable_replug(t->cable), 0);
	/* x attached first and got it; y did not */
	KUNIT_ASSERT_EQ(test, tbstream_test_hopids(test, TBSTREAM_SIM_A), 1);
	KUNIT_EXPECT_EQ(test, y->hop[TBSTREAM_IN].hopid, 0);

	tbstream_test_set(test, x, "in_hopid", "0");
	tbstream_test_set(test, y, "in_hopid", "20");
	KUNIT_EXPECT_EQ(test, y->hop[TBSTREAM_IN].hopid, 20);
	KUNIT_EXPECT_EQ(test, tbstream_test_hopids(test, TBSTREAM_SIM_A), 1);
}

/*
 * An inheriting stream whose rings ran when the peer changed its HopIDs
 * follows the change once closed.
 */
static void tbstream_test_hopid_inherit_after_close(struct kunit *test)
{
	struct tbstream_file *fa, *fb;
	struct tbstream *a, *b;
	int in;
	u8 buf[4];

	tbstream_test_pair(test, "x", TBSTREAM_TEST_RING, &a, &b);
	in = tbstream_get_hopid(b, TBSTREAM_IN);
	fa = tbstream_test_open(test, a, true);
	KUNIT_ASSERT_EQ(test, tbstream_test_read(fa, buf, 1, true), -EAGAIN);
	tbstream_test_set(test, b, "in_hopid", "33");
	/* Running: keeps what it has */
	KUNIT_EXPECT_EQ(test, tbstream_test_sim_hopid(test, a, TBSTREAM_OUT),
			in);

	tbstream_test_close(test, fa);
	KUNIT_EXPECT_EQ(test, tbstream_test_sim_hopid(test, a, TBSTREAM_OUT),
			33);
	tbstream_test_open_pair(test, a, b, &fa, &fb);
	KUNIT_EXPECT_EQ(test, tbstream_test_write(fa, "pong", 4, true), 4);
	KUNIT_EXPECT_EQ(test, tbstream_test_read_all(test, fb, buf, 4), 4);
}

static struct kunit_case tbstream_hopid_cases[] = {
	KUNIT_CASE(tbstream_test_hopid_rewrite_retries),
	KUNIT_CASE(tbstream_test_hopid_exhaust),
	KUNIT_CASE(tbstream_test_hopid_mkdir_detached),
	KUNIT_CASE(tbstream_test_hopid_receiver_first),
	KUNIT_CASE(tbstream_test_hopid_inherit_at_mkdir),
	KUNIT_CASE(tbstream_test_hopid_inherit_follows),
	KUNIT_CASE(tbstream_test_hopid_inherit_after_close),
	KUNIT_CASE(tbstream_test_hopid_taken),
	KUNIT_CASE(tbstream_test_hopid_auto_skips_8),
	KUNIT_CASE(tbstream_test_hopid_release),
	KUNIT_CASE(tbstream_test_hopid_unplug_replug),
	KUNIT_CASE(tbstream_test_hopid_set_detached),
	KUNIT_CASE(tbstream_test_hopid_rmdir),
	{ }
};

static struct kunit_suite tbstream_hopid_suite = {
	.name = "thunderbolt_stream_hopid",
	.init = tbstream_test_init,
	.test_cases = tbstream_hopid_cases,
};

/* thunderbolt_stream_data */

/**
 * struct tbstream_test_data_case - One transfer
 * @len: Bytes written, in one write() call per attempt
 * @rsize: Bytes per read() call
 * @desc: Case name
 */
struct tbstream_test_data_case {
	size_t len;
	size_t rsize;
	const char *desc;
};

#define TBSTREAM_TEST_RING_BYTES	(TBSTREAM_TEST_FRAMES * TBSTREAM_TEST_FSZ)

static const struct tbstream_test_data_case tbstream_test_data_cases[] = {
	{ 1, 1, "1 byte" },
	{ 100, 1, "100 bytes, 1 at a time" },
	{ 4095, 100, "4095 bytes, 100 at a time" },
	{ 4096, 4096, "4096 bytes" },
	{ 4096, 1, "4096 bytes, 1 at a time" },
	{ 4097, 4096, "4097 bytes" },
	{ 4097, 1, "4097 bytes, 1 at a time" },
	{ 3 * 4096 + 5, 100, "3 frames + 5, 100 at a time" },
	{ 3 * 4096 + 5, 65536, "3 frames + 5, 64K at a time" },
	{ TBSTREAM_TEST_RING_BYTES, 65536, "one ring" },
	{ TBSTREAM_TEST_RING_BYTES + 1, 4096, "one ring + 1" },
	{ TBSTREAM_TEST_RING * 4096, 4096, "ring_size frames" },
	{ 2 * TBSTREAM_TEST_RING * 4096 + 7, 100, "two rings + 7" },
	{ 6 * TBSTREAM_TEST_RING * 4096, 65536, "six rings" },
};

KUNIT_ARRAY_PARAM_DESC(tbstream_test_data, tbstream_test_data_cases, desc);

static void tbstream_test_data_sizes(struct kunit *test)
{
	const struct tbstream_test_data_case *c = test->param_value;
	struct tbstream_test *t = tbstream_test_open_files(test, true);
	struct tbstream_test_flow fl;

	tbstream_test_flow_init(test, &fl, t->fa, t->fb, c->len, c->len);
	fl.rsize = c->rsize;
	tbstream_test_run(test, &fl, 1);

	/* Full frames but the last: one write() call per attempt */
	KUNIT_EXPECT_EQ(test, t->a->stats.tx_bytes, (u64)c->len);
	KUNIT_EXPECT_EQ(test, t->a->stats.tx_frames,
			(u64)DIV_ROUND_UP(c->len, TBSTREAM_TEST_FSZ));
	KUNIT_EXPECT_EQ(test, t->b->stats.rx_bytes, (u64)c->len);
	KUNIT_EXPECT_EQ(test, t->b->stats.rx_frames,
			(u64)DIV_ROUND_UP(c->len, TBSTREAM_TEST_FSZ));
	KUNIT_EXPECT_EQ(test, t->b->stats.rx_errors, 0);
	/* Nothing more to read, even once the cable has moved all it could */
	KUNIT_EXPECT_EQ(test, tbstream_test_read_flushed(test, t->fb, fl.dst,
							 1), -EAGAIN);
}

/* Writes and reads of nothing move nothing */
static void tbstream_test_data_zero(struct kunit *test)
{
	struct tbstream_test *t = tbstream_test_open_files(test, true);
	struct tbstream_file *fa = t->fa, *fb = t->fb;
	u8 buf[4] = { 1, 2, 3, 4 };

	KUNIT_EXPECT_EQ(test, tbstream_test_write(fa, buf, 0, true), 0);
	KUNIT_EXPECT_EQ(test, tbstream_test_write(fa, buf, 0, false), 0);
	KUNIT_EXPECT_EQ(test, tbstream_test_read(fb, buf, 0, true), 0);
	KUNIT_EXPECT_EQ(test, tbstream_test_read(fb, buf, 0, false), 0);
	KUNIT_EXPECT_EQ(test, tbstream_test_write(fa, buf, 1, true), 1);
	KUNIT_EXPECT_EQ(test, tbstream_test_read_wait(test, fb, buf + 1, 3), 1);
	KUNIT_EXPECT_EQ(test, buf[1], 1);
	KUNIT_EXPECT_EQ(test, tbstream_test_read(fb, buf, 4, true), -EAGAIN);
	KUNIT_EXPECT_EQ(test, t->a->stats.tx_frames, 1);
}

/* Many small writes: bytes are a stream, write boundaries do not matter */
static void tbstream_test_data_small_writes(struct kunit *test)
{
	struct tbstream_test *t = tbstream_test_open_files(test, true);
	struct tbstream_test_flow fl;

	tbstream_test_flow_init(test, &fl, t->fa, t->fb,
				3 * TBSTREAM_TEST_RING_BYTES, 7);
	fl.wsize = 1000;
	fl.rsize = 3000;
	tbstream_test_run(test, &fl, 1);
}

static void tbstream_test_data_both_ways(struct kunit *test)
{
	struct tbstream_test *t = tbstream_test_open_files(test, true);
	struct tbstream_test_flow fl[2];

	tbstream_test_flow_init(test, &fl[0], t->fa, t->fb,
				5 * TBSTREAM_TEST_RING_BYTES + 123, 1);
	tbstream_test_flow_init(test, &fl[1], t->fb, t->fa,
				4 * TBSTREAM_TEST_RING_BYTES + 4095, 2);
	fl[0].rsize = 4096;
	fl[1].rsize = 100;
	tbstream_test_run(test, fl, ARRAY_SIZE(fl));
}

/* Two streams on one cable do not mix their bytes */
static void tbstream_test_data_two_streams(struct kunit *test)
{
	struct tbstream_file *fa1, *fb1, *fa2, *fb2;
	struct tbstream_test_flow fl[2];
	struct tbstream *a1, *b1, *a2, *b2;

	tbstream_test_pair(test, "one", TBSTREAM_TEST_RING, &a1, &b1);
	tbstream_test_pair(test, "two", TBSTREAM_TEST_RING, &a2, &b2);
	fa1 = tbstream_test_open(test, a1, true);
	fb1 = tbstream_test_open(test, b1, true);
	fa2 = tbstream_test_open(test, a2, true);
	fb2 = tbstream_test_open(test, b2, true);

	tbstream_test_flow_init(test, &fl[0], fa1, fb1,
				2 * TBSTREAM_TEST_RING_BYTES + 1, 3);
	tbstream_test_flow_init(test, &fl[1], fa2, fb2,
				2 * TBSTREAM_TEST_RING_BYTES + 2, 4);
	tbstream_test_run(test, fl, ARRAY_SIZE(fl));
}

/*
 * Move @len bytes of pattern @seed from host A to host B with blocking
 * calls, each in a kthread
 */
static void tbstream_test_blocking_transfer(struct kunit *test, size_t len,
					    u32 seed)
{
	struct tbstream_test *t = tbstream_test_open_files(test, false);
	struct tbstream_test_io *wio, *rio;
	u8 *src, *dst;

	tbstream_test_buffers(test, len, seed, &src, &dst);
	rio = tbstream_test_io_start(test, t->fb, false, dst, len, true);
	wio = tbstream_test_io_start(test, t->fa, true, src, len, true);
	KUNIT_ASSERT_TRUE(test, tbstream_test_io_wait(wio));
	KUNIT_ASSERT_TRUE(test, tbstream_test_io_wait(rio));
	KUNIT_EXPECT_EQ(test, wio->moved, len);
	KUNIT_EXPECT_EQ(test, rio->moved, len);
	tbstream_test_expect_bytes(test, dst, src, len);
}

/* Blocking calls in two kthreads: the interrupts must wake them */
static void tbstream_test_data_blocking(struct kunit *test)
{
	struct tbstream_test *t = test->priv;

	tbstream_test_blocking_transfer(test,
					4 * TBSTREAM_TEST_RING_BYTES + 999, 5);
	KUNIT_EXPECT_GT(test, atomic64_read(&t->a->stats.irqs), 0);
}

/* The same with busy_poll: nobody sleeps, nobody arms interrupts */
static void tbstream_test_data_busy_poll(struct kunit *test)
{
	struct tbstream_test *t = test->priv;

	tbstream_test_set(test, t->a, "busy_poll", "1");
	tbstream_test_set(test, t->b, "busy_poll", "1");
	tbstream_test_blocking_transfer(test,
					2 * TBSTREAM_TEST_RING_BYTES + 17, 6);
	KUNIT_EXPECT_EQ(test, atomic64_read(&t->a->stats.writer_wakeups), 0);
	KUNIT_EXPECT_EQ(test, atomic64_read(&t->b->stats.reader_wakeups), 0);
}

/*
 * The simulated cable delivers a frame by handing the sender's buffer to
 * the receiver, as DMA would fill it, rather than by copying
 */
static void tbstream_test_data_handover(struct kunit *test)
{
	struct tbstream_test *t = tbstream_test_open_ends(test);
	const size_t len = 100;
	u8 *src, *dst;
	void *sent;

	tbstream_test_buffers(test, len, 3, &src, &dst);

	sent = t->a->tx.frames[0].buf;
	KUNIT_ASSERT_EQ(test, tbstream_test_write(t->fa, src, len, true),
			(ssize_t)len);
	KUNIT_ASSERT_EQ(test, tbstream_test_read_all(test, t->fb, dst, len),
			len);
	tbstream_test_expect_bytes(test, dst, src, len);
	KUNIT_EXPECT_PTR_EQ(test, t->b->rx.frames[0].buf, sent);
	KUNIT_EXPECT_PTR_NE(test, t->a->tx.frames[0].buf, sent);
}

static struct kunit_case tbstream_data_cases[] = {
	KUNIT_CASE_PARAM(tbstream_test_data_sizes,
			 tbstream_test_data_gen_params),
	KUNIT_CASE(tbstream_test_data_zero),
	KUNIT_CASE(tbstream_test_data_small_writes),
	KUNIT_CASE(tbstream_test_data_both_ways),
	KUNIT_CASE(tbstream_test_data_two_streams),
	KUNIT_CASE(tbstream_test_data_blocking),
	KUNIT_CASE(tbstream_test_data_busy_poll),
	KUNIT_CASE(tbstream_test_data_handover),
	{ }
};

static struct kunit_suite tbstream_data_suite = {
	.name = "thunderbolt_stream_data",
	.init = tbstream_test_init_pair,
	.test_cases = tbstream_data_cases,
};

/* thunderbolt_stream_close */

/*
 * Write one frame at a time until the writes give -EAGAIN and still give
 * it once the cable has moved all it could. Returns the bytes accepted.
 */
static size_t tbstream_test_fill_credits(struct kunit *test,
					 struct tbstream_file *f,
					 const u8 *src, size_t len)
{
	bool flushed = false;
	size_t done = 0;
	ssize_t ret;

	while (done < len) {
		ret = tbstream_test_write(f, src + done,
					  min_t(size_t, TBSTREAM_TEST_FSZ,
						len - done), true);
		if (ret == -EAGAIN) {
			if (flushed)
				break;
			tbstream_test_flush(test);
			flushed = true;
			continue;
		}
		KUNIT_ASSERT_GT(test, ret, 0);
		done += ret;
		flushed = false;
	}
	return done;
}

/* A blocking read of up to 100 bytes from @f, of stream @s: it must block */
static struct tbstream_test_io *
tbstream_test_blocked_read(struct kunit *test, struct tbstream_file *f,
			   struct tbstream *s)
{
	struct tbstream_test_io *io;
	u8 *buf = tbstream_test_alloc(test, 100);

	io = tbstream_test_io_start(test, f, false, buf, 100, false);
	tbstream_test_expect_blocked(test, io, s);
	return io;
}

/*
 * Use up the credits of @f, of stream @s, with the first two rings of a
 * pattern of three; then a blocking write of one frame must block.
 */
static struct tbstream_test_io *
tbstream_test_blocked_write(struct kunit *test, struct tbstream_file *f,
			    struct tbstream *s, u32 seed)
{
	const size_t len = 3 * TBSTREAM_TEST_RING_BYTES;
	struct tbstream_test_io *io;
	u8 *src;

	src = tbstream_test_pattern(test, len, seed);
	KUNIT_ASSERT_EQ(test, tbstream_test_fill_credits(test, f, src, len),
			2 * TBSTREAM_TEST_RING_BYTES);
	io = tbstream_test_io_start(test, f, true, src, 4096, false);
	tbstream_test_expect_blocked(test, io, s);
	return io;
}

/* The call of @io must end, with @ret */
static void tbstream_test_expect_io_ret(struct kunit *test,
					struct tbstream_test_io *io,
					ssize_t ret)
{
	KUNIT_ASSERT_TRUE(test, tbstream_test_io_wait(io));
	KUNIT_EXPECT_EQ(test, io->ret, ret);
}

static void tbstream_test_close_eof(struct kunit *test)
{
	struct tbstream_test *t = tbstream_test_open_ends(test);
	const size_t len = 5000;
	u8 *src, *dst;
	__poll_t mask;

	src = tbstream_test_pattern(test, len, 8);
	dst = tbstream_test_alloc(test, len + 1);

	KUNIT_ASSERT_EQ(test, tbstream_test_write(t->fa, src, len, true),
			(ssize_t)len);
	/* The last close drains what was accepted, then sends CLOSE */
	tbstream_test_close(test, t->fa);

	KUNIT_EXPECT_EQ(test, tbstream_test_read_all(test, t->fb, dst, len),
			len);
	tbstream_test_expect_bytes(test, dst, src, len);
	KUNIT_EXPECT_EQ(test, tbstream_test_read(t->fb, dst, len, true), 0);
	KUNIT_EXPECT_EQ(test, tbstream_test_read(t->fb, dst, 1, true), 0);
	KUNIT_EXPECT_EQ(test, tbstream_test_read(t->fb, dst, len, false), 0);

	mask = tbstream_poll(t->fb, NULL, NULL);
	KUNIT_EXPECT_TRUE(test, mask & EPOLLHUP);
	KUNIT_EXPECT_FALSE(test, mask & EPOLLERR);
	KUNIT_EXPECT_EQ(test, tbstream_test_write(t->fb, src, 1, true), -EPIPE);
	KUNIT_EXPECT_EQ(test, tbstream_test_write(t->fb, src, 1, false),
			-EPIPE);
	/* The CLOSE frame is not data */
	KUNIT_EXPECT_EQ(test, t->b->stats.rx_bytes, (u64)len);
}

/* A blocked reader wakes up at the peer's CLOSE and sees EOF */
static void tbstream_test_close_wakes_reader(struct kunit *test)
{
	struct tbstream_test *t = tbstream_test_open_ends(test);
	struct tbstream_test_io *io;

	io = tbstream_test_blocked_read(test, t->fb, t->b);
	tbstream_test_close(test, t->fa);
	tbstream_test_expect_io_ret(test, io, 0);
}

/* EOF lasts until the device is opened again; then bytes flow again */
static void tbstream_test_close_reopen(struct kunit *test)
{
	struct tbstream_test *t = tbstream_test_open_ends(test);
	u8 *src, *dst;

	tbstream_test_buffers(test, 300, 9, &src, &dst);

	tbstream_test_close(test, t->fa);
	KUNIT_EXPECT_EQ(test, tbstream_test_read_wait(test, t->fb, dst, 300),
			0);
	tbstream_test_close(test, t->fb);

	tbstream_test_open_pair(test, t->a, t->b, &t->fa, &t->fb);
	KUNIT_EXPECT_EQ(test, tbstream_test_write(t->fa, src, 300, true), 300);
	KUNIT_EXPECT_EQ(test, tbstream_test_read_all(test, t->fb, dst, 300),
			300);
	tbstream_test_expect_bytes(test, dst, src, 300);
	KUNIT_EXPECT_EQ(test, tbstream_test_write(t->fb, src, 300, true), 300);
	KUNIT_EXPECT_EQ(test, tbstream_test_read_all(test, t->fa, dst, 300),
			300);
	tbstream_test_expect_bytes(test, dst, src, 300);
}

/* Only the last of several openers sends CLOSE */
static void tbstream_test_close_last_opener(struct kunit *test)
{
	struct tbstream_test *t = test->priv;
	struct tbstream_file *fa, *fa2, *fb;
	struct tbstream *a = t->a, *b = t->b;
	u8 buf[8];

	tbstream_test_open_pair(test, a, b, &fa, &fb);
	fa2 = tbstream_test_open(test, a, true);

	tbstream_test_close(test, fa);
	KUNIT_EXPECT_EQ(test, tbstream_test_write(fa2, "abc", 3, true), 3);
	KUNIT_EXPECT_EQ(test, tbstream_test_read_all(test, fb, buf, 3), 3);
	KUNIT_EXPECT_EQ(test, memcmp(buf, "abc", 3), 0);
	KUNIT_EXPECT_EQ(test, tbstream_test_read(fb, buf, 1, true), -EAGAIN);
	tbstream_test_close(test, fa2);
	KUNIT_EXPECT_EQ(test, tbstream_test_read_wait(test, fb, buf, 1), 0);
}

/* A writer that closes without writing ends the stream too */
static void tbstream_test_close_without_io(struct kunit *test)
{
	struct tbstream_test *t = test->priv;
	struct tbstream_file *fa, *fb;
	struct tbstream_test_io *io;
	struct tbstream *a = t->a, *b = t->b;

	fb = tbstream_test_open(test, b, true);
	io = tbstream_test_blocked_read(test, fb, b);

	/* Host A's rings never ran: the close starts them to send CLOSE */
	fa = tbstream_test_open(test, a, true);
	KUNIT_EXPECT_EQ(test, a->rings, TBSTREAM_RINGS_IDLE);
	tbstream_test_close(test, fa);
	tbstream_test_expect_io_ret(test, io, 0);
	KUNIT_EXPECT_EQ(test, a->rings, TBSTREAM_RINGS_IDLE);
	KUNIT_EXPECT_EQ(test, a->stats.tx_frames, 1);
}

/* A writer blocked on credits wakes up when the peer closes */
static void tbstream_test_close_wakes_writer(struct kunit *test)
{
	struct tbstream_test *t = tbstream_test_open_ends(test);
	struct tbstream_test_io *io;

	io = tbstream_test_blocked_write(test, t->fa, t->a, 19);
	tbstream_test_close(test, t->fb);
	tbstream_test_expect_io_ret(test, io, -EPIPE);
	KUNIT_EXPECT_TRUE(test, tbstream_poll(t->fa, NULL, NULL) & EPOLLHUP);
}

/*
 * The last close waits while the reader makes progress: all that was
 * accepted arrives, then EOF.
 */
static void tbstream_test_close_drains_tail(struct kunit *test)
{
	struct tbstream_test *t = tbstream_test_open_ends(test);
	const size_t len = 3 * TBSTREAM_TEST_RING_BYTES;
	struct tbstream_test_io *io;
	size_t accepted;
	u8 *src, *dst;

	tbstream_test_buffers(test, len, 20, &src, &dst);
	accepted = tbstream_test_fill_credits(test, t->fa, src, len);
	KUNIT_ASSERT_EQ(test, accepted, 2 * TBSTREAM_TEST_RING_BYTES);

	io = tbstream_test_close_start(test, t->fa);
	KUNIT_EXPECT_EQ(test, tbstream_test_read_all(test, t->fb, dst,
						     accepted), accepted);
	tbstream_test_expect_bytes(test, dst, src, accepted);
	KUNIT_EXPECT_EQ(test, tbstream_test_read_wait(test, t->fb, dst, len),
			0);
	KUNIT_EXPECT_TRUE(test, tbstream_test_io_wait(io));
}

static void tbstream_test_restore_drain_timeout(void *timeout)
{
	tbstream_drain_timeout = (uintptr_t)timeout;
}

/* Set the drain_timeout module parameter for this test */
static void tbstream_test_drain_timeout(struct kunit *test,
					unsigned int seconds)
{
	tbstream_test_defer(test, tbstream_test_restore_drain_timeout,
			    (void *)(uintptr_t)tbstream_drain_timeout);
	tbstream_drain_timeout = seconds;
}

/*
 * Host A accepts two rings of bytes, one waiting in each host, and its
 * last close starts in a kthread
 */
static struct tbstream_test_io *
tbstream_test_close_full(struct kunit *test, u8 **src, u8 **dst)
{
	struct tbstream_test *t = tbstream_test_open_ends(test);
	const size_t len = 3 * TBSTREAM_TEST_RING_BYTES;

	tbstream_test_buffers(test, len, 22, src, dst);
	KUNIT_ASSERT_EQ(test, tbstream_test_fill_credits(test, t->fa, *src, len),
			2 * TBSTREAM_TEST_RING_BYTES);
	return tbstream_test_close_start(test, t->fa);
}

/*
 * A reader that pauses longer than a second (the old bound of the drain,
 * which then dropped the tail and reported success) still gets every byte
 * and EOF, and the close succeeds.
 */
static void tbstream_test_close_reader_pauses(struct kunit *test)
{
	const size_t accepted = 2 * TBSTREAM_TEST_RING_BYTES;
	struct tbstream_test *t = test->priv;
	struct tbstream_test_io *io;
	u8 *src, *dst;

	io = tbstream_test_close_full(test, &src, &dst);
	msleep(1500);
	KUNIT_EXPECT_FALSE(test, completion_done(&io->done));
	KUNIT_EXPECT_EQ(test, tbstream_test_read_all(test, t->fb, dst,
						     accepted), accepted);
	tbstream_test_expect_bytes(test, dst, src, accepted);
	KUNIT_EXPECT_EQ(test, tbstream_test_read_wait(test, t->fb, dst, 1), 0);
	tbstream_test_expect_io_ret(test, io, 0);
}

/* A peer that takes nothing for drain_timeout seconds: -ETIMEDOUT */
static void tbstream_test_close_timeout(struct kunit *test)
{
	struct tbstream_test_io *io;
	u8 *src, *dst;

	tbstream_test_drain_timeout(test, 1);
	io = tbstream_test_close_full(test, &src, &dst);
	msleep(500);
	KUNIT_EXPECT_FALSE(test, completion_done(&io->done));
	tbstream_test_expect_io_ret(test, io, -ETIMEDOUT);
}

/* The peer closes with bytes of ours not taken: -EPIPE */
static void tbstream_test_close_peer_first(struct kunit *test)
{
	struct tbstream_test *t = test->priv;
	struct tbstream_test_io *io;
	u8 *src, *dst;

	io = tbstream_test_close_full(test, &src, &dst);
	tbstream_test_close(test, t->fb);
	tbstream_test_expect_io_ret(test, io, -EPIPE);
}

/* The cable goes with bytes of ours not taken: -ENXIO */
static void tbstream_test_close_unplug(struct kunit *test)
{
	struct tbstream_test *t = test->priv;
	struct tbstream_test_io *io;
	u8 *src, *dst;

	io = tbstream_test_close_full(test, &src, &dst);
	tbstream_sim_cable_unplug(t->cable);
	tbstream_test_expect_io_ret(test, io, -ENXIO);
}

/*
 * rmdir of a stream whose peer takes nothing waits for it about a second,
 * not drain_timeout: it holds ConfigFS's subsystem mutex, which every
 * mkdir and rmdir of the system then waits for
 */
static void tbstream_test_close_rmdir_bounded(struct kunit *test)
{
	struct tbstream_test *t = tbstream_test_open_ends(test);
	const size_t len = 3 * TBSTREAM_TEST_RING_BYTES;
	unsigned long start;
	u8 *src, *dst;

	tbstream_test_drain_timeout(test, 60);
	tbstream_test_buffers(test, len, 23, &src, &dst);
	KUNIT_ASSERT_EQ(test, tbstream_test_fill_credits(test, t->fa, src, len),
			2 * TBSTREAM_TEST_RING_BYTES);
	start = jiffies;
	kunit_release_action(test, tbstream_test_rmdir, t->a);
	KUNIT_EXPECT_LT(test, jiffies_to_msecs(jiffies - start), 3000);
}

static struct kunit_case tbstream_close_cases[] = {
	KUNIT_CASE(tbstream_test_close_wakes_writer),
	KUNIT_CASE(tbstream_test_close_drains_tail),
	KUNIT_CASE_SLOW(tbstream_test_close_reader_pauses),
	KUNIT_CASE_SLOW(tbstream_test_close_timeout),
	KUNIT_CASE(tbstream_test_close_peer_first),
	KUNIT_CASE(tbstream_test_close_unplug),
	KUNIT_CASE_SLOW(tbstream_test_close_rmdir_bounded),
	KUNIT_CASE(tbstream_test_close_eof),
	KUNIT_CASE(tbstream_test_close_wakes_reader),
	KUNIT_CASE(tbstream_test_close_reopen),
	KUNIT_CASE(tbstream_test_close_last_opener),
	KUNIT_CASE(tbstream_test_close_without_io),
	{ }
};

static struct kunit_suite tbstream_close_suite = {
	.name = "thunderbolt_stream_close",
	.init = tbstream_test_init_pair,
	.test_cases = tbstream_close_cases,
};

/* thunderbolt_stream_errors */

/**
 * struct tbstream_test_flag_case - A receive error
 * @flags: Descriptor flags of the bad frame
 * @desc: Case name
 */
struct tbstream_test_flag_case {
	u32 flags;
	const char *desc;
};

static const struct tbstream_test_flag_case tbstream_test_flag_cases[] = {
	{ RING_DESC_CRC_ERROR, "CRC error" },
	{ RING_DESC_BUFFER_OVERRUN, "buffer overrun" },
	{ RING_DESC_CRC_ERROR | RING_DESC_BUFFER_OVERRUN, "both" },
};

KUNIT_ARRAY_PARAM_DESC(tbstream_test_flag, tbstream_test_flag_cases, desc);

/*
 *   frame 1: 100 bytes, good    -> read() returns them
 *   frame 2: 200 bytes, flagged -> read() returns -EIO, bytes dropped
 *   frame 3: 300 bytes, good    -> read() returns them
 */
static void tbstream_test_errors_rx_flags(struct kunit *test)
{
	struct tbstream_test *t = tbstream_test_open_ends(test);
	const struct tbstream_test_flag_case *c = test->param_value;
	u8 *src, *dst;

	tbstream_test_buffers(test, 600, 10, &src, &dst);

	KUNIT_ASSERT_EQ(test, tbstream_test_write(t->fa, src, 100, true), 100);
	KUNIT_ASSERT_TRUE(test, tbstream_test_poll_flushed(test, t->fb) &
			  EPOLLIN);
	tbstream_sim_inject_rx_flags(t->cable, TBSTREAM_SIM_B, c->flags);
	KUNIT_ASSERT_EQ(test, tbstream_test_write(t->fa, src + 100, 200, true),
			200);
	KUNIT_ASSERT_EQ(test, tbstream_test_write(t->fa, src + 300, 300, true),
			300);

	KUNIT_EXPECT_EQ(test, tbstream_test_read_wait(test, t->fb, dst, 600),
			100);
	tbstream_test_expect_bytes(test, dst, src, 100);
	KUNIT_EXPECT_EQ(test, tbstream_test_read_wait(test, t->fb, dst, 600),
			-EIO);
	KUNIT_EXPECT_EQ(test, tbstream_test_read_wait(test, t->fb, dst, 600),
			300);
	tbstream_test_expect_bytes(test, dst, src + 300, 300);
	KUNIT_EXPECT_EQ(test, tbstream_test_read(t->fb, dst, 600, true),
			-EAGAIN);
	KUNIT_EXPECT_EQ(test, t->b->stats.rx_errors, 1);
}

/* The bad frame comes first: -EIO right away, nothing returned before */
static void tbstream_test_errors_first_frame(struct kunit *test)
{
	struct tbstream_test *t = tbstream_test_open_ends(test);
	u8 *src, *dst;

	tbstream_test_buffers(test, 2 * 4096, 11, &src, &dst);

	tbstream_sim_inject_rx_flags(t->cable, TBSTREAM_SIM_B,
				     RING_DESC_CRC_ERROR);
	KUNIT_ASSERT_EQ(test, tbstream_test_write(t->fa, src, 2 * 4096, true),
			2 * 4096);
	KUNIT_EXPECT_EQ(test, tbstream_test_read_wait(test, t->fb, dst, 1),
			-EIO);
	KUNIT_EXPECT_EQ(test, tbstream_test_read_all(test, t->fb, dst, 4096),
			4096);
	tbstream_test_expect_bytes(test, dst, src + 4096, 4096);
}

/* An error in the middle of a partly read stream of frames */
static void tbstream_test_errors_partial_read(struct kunit *test)
{
	struct tbstream_test *t = tbstream_test_open_ends(test);
	u8 *src, *dst;

	tbstream_test_buffers(test, 3 * 4096, 12, &src, &dst);

	KUNIT_ASSERT_EQ(test, tbstream_test_write(t->fa, src, 4096, true),
			4096);
	KUNIT_ASSERT_TRUE(test, tbstream_test_poll_flushed(test, t->fb) &
			  EPOLLIN);
	tbstream_sim_inject_rx_flags(t->cable, TBSTREAM_SIM_B,
				     RING_DESC_BUFFER_OVERRUN);
	KUNIT_ASSERT_EQ(test, tbstream_test_write(t->fa, src + 4096, 2 * 4096,
						  true), 2 * 4096);
	/* Half of frame 1, then the rest of it, then the error */
	KUNIT_EXPECT_EQ(test, tbstream_test_read_wait(test, t->fb, dst, 2048),
			2048);
	KUNIT_EXPECT_EQ(test, tbstream_test_read_wait(test, t->fb, dst + 2048,
						      8192), 2048);
	tbstream_test_expect_bytes(test, dst, src, 4096);
	KUNIT_EXPECT_EQ(test, tbstream_test_read_wait(test, t->fb, dst, 8192),
			-EIO);
	KUNIT_EXPECT_EQ(test, tbstream_test_read_all(test, t->fb, dst, 4096),
			4096);
	tbstream_test_expect_bytes(test, dst, src + 2 * 4096, 4096);
}

static struct kunit_case tbstream_errors_cases[] = {
	KUNIT_CASE_PARAM(tbstream_test_errors_rx_flags,
			 tbstream_test_flag_gen_params),
	KUNIT_CASE(tbstream_test_errors_first_frame),
	KUNIT_CASE(tbstream_test_errors_partial_read),
	{ }
};

static struct kunit_suite tbstream_errors_suite = {
	.name = "thunderbolt_stream_errors",
	.init = tbstream_test_init_pair,
	.test_cases = tbstream_errors_cases,
};

/* thunderbolt_stream_backpressure */

/*
 * A reader that stops: host B's receive ring fills up, then host A's
 * transmit ring; then writes give -EAGAIN. Nothing is lost.
 */
static void tbstream_test_backpressure_reader_stops(struct kunit *test)
{
	struct tbstream_test *t = tbstream_test_open_ends(test);
	struct tbstream_test_flow fl;
	size_t accepted;

	tbstream_test_flow_init(test, &fl, t->fa, t->fb,
				4 * TBSTREAM_TEST_RING_BYTES, 13);

	accepted = tbstream_test_fill_credits(test, t->fa, fl.src, fl.len);
	/* One ring of frames waits in host B, one in host A */
	KUNIT_EXPECT_EQ(test, accepted, 2 * TBSTREAM_TEST_RING_BYTES);
	KUNIT_EXPECT_GT(test, t->a->stats.credit_stalls, 0);
	KUNIT_EXPECT_FALSE(test, tbstream_poll(t->fa, NULL, NULL) & EPOLLOUT);
	KUNIT_EXPECT_TRUE(test, tbstream_poll(t->fb, NULL, NULL) & EPOLLIN);

	fl.written = accepted;
	tbstream_test_run(test, &fl, 1);
	KUNIT_EXPECT_TRUE(test, tbstream_poll(t->fa, NULL, NULL) & EPOLLOUT);
}

/* A stalled cable: only the transmit ring fills */
static void tbstream_test_backpressure_stall(struct kunit *test)
{
	struct tbstream_test *t = tbstream_test_open_ends(test);
	struct tbstream_test_flow fl;

	tbstream_test_flow_init(test, &fl, t->fa, t->fb,
				3 * TBSTREAM_TEST_RING_BYTES, 14);

	tbstream_sim_set_stall(t->cable, true);
	KUNIT_EXPECT_EQ(test, tbstream_test_write(t->fa, fl.src, fl.len, true),
			TBSTREAM_TEST_RING_BYTES);
	KUNIT_EXPECT_EQ(test, tbstream_test_write(t->fa, fl.src, 1, true),
			-EAGAIN);
	KUNIT_EXPECT_EQ(test, tbstream_test_read_flushed(test, t->fb, fl.dst,
							 1), -EAGAIN);
	tbstream_sim_set_stall(t->cable, false);

	fl.written = TBSTREAM_TEST_RING_BYTES;
	tbstream_test_run(test, &fl, 1);
}

/* A blocked writer resumes when the reader does */
static void tbstream_test_backpressure_blocked_writer(struct kunit *test)
{
	struct tbstream_test *t = tbstream_test_open_ends(test);
	const size_t len = 3 * TBSTREAM_TEST_RING_BYTES;
	struct tbstream_test_io *io;
	u8 *src, *dst;

	tbstream_test_buffers(test, len, 15, &src, &dst);

	io = tbstream_test_io_start(test, t->fa, true, src, len, false);
	tbstream_test_expect_blocked(test, io, t->a);
	KUNIT_EXPECT_EQ(test, tbstream_test_read_all(test, t->fb, dst, len),
			len);
	tbstream_test_expect_io_ret(test, io, (ssize_t)len);
	tbstream_test_expect_bytes(test, dst, src, len);
}

/* A new ring_size takes effect at the next start of the rings */
static void tbstream_test_backpressure_ring_size(struct kunit *test)
{
	struct tbstream_test *t = tbstream_test_open_ends(test);
	const size_t len = 4 * 63 * TBSTREAM_TEST_FSZ;
	struct tbstream_test_flow fl;

	tbstream_test_close(test, t->fa);
	tbstream_test_close(test, t->fb);
	tbstream_test_set(test, t->a, "ring_size", "64");
	tbstream_test_set(test, t->b, "ring_size", "64");

	tbstream_test_open_pair(test, t->a, t->b, &t->fa, &t->fb);
	tbstream_test_flow_init(test, &fl, t->fa, t->fb, len, 21);
	KUNIT_EXPECT_EQ(test, tbstream_test_fill_credits(test, t->fa, fl.src,
							 len),
			2 * 63 * TBSTREAM_TEST_FSZ);
	fl.written = 2 * 63 * TBSTREAM_TEST_FSZ;
	tbstream_test_run(test, &fl, 1);
}

static struct kunit_case tbstream_backpressure_cases[] = {
	KUNIT_CASE(tbstream_test_backpressure_ring_size),
	KUNIT_CASE(tbstream_test_backpressure_reader_stops),
	KUNIT_CASE(tbstream_test_backpressure_stall),
	KUNIT_CASE(tbstream_test_backpressure_blocked_writer),
	{ }
};

static struct kunit_suite tbstream_backpressure_suite = {
	.name = "thunderbolt_stream_backpressure",
	.init = tbstream_test_init_pair,
	.test_cases = tbstream_backpressure_cases,
};

/* thunderbolt_stream_lifetime: unplug, replug, rmdir */

static void tbstream_test_unplug_blocked_read(struct kunit *test)
{
	struct tbstream_test *t = tbstream_test_open_ends(test);
	struct tbstream_test_io *io;

	io = tbstream_test_blocked_read(test, t->fb, t->b);
	tbstream_sim_cable_unplug(t->cable);
	tbstream_test_expect_io_ret(test, io, -ENXIO);
	KUNIT_EXPECT_EQ(test, tbstream_test_read(t->fb, io->buf, 1, false),
			-ENXIO);
}

static void tbstream_test_unplug_blocked_write(struct kunit *test)
{
	struct tbstream_test *t = tbstream_test_open_ends(test);
	struct tbstream_test_io *io;

	/* Use up the credits first, so that the blocking write moves nothing */
	io = tbstream_test_blocked_write(test, t->fa, t->a, 16);
	tbstream_sim_cable_unplug(t->cable);
	tbstream_test_expect_io_ret(test, io, -ENXIO);
	KUNIT_EXPECT_EQ(test, tbstream_test_write(t->fa, io->buf, 1, false),
			-ENXIO);
}

static void tbstream_test_unplug_poll(struct kunit *test)
{
	struct tbstream_test *t = tbstream_test_open_ends(test);
	u8 buf[4];

	KUNIT_EXPECT_EQ(test, tbstream_test_poll(t->fa),
			(__force u32)(EPOLLOUT | EPOLLWRNORM));

	tbstream_sim_cable_unplug(t->cable);
	KUNIT_EXPECT_EQ(test, tbstream_test_poll(t->fa),
			(__force u32)(EPOLLHUP | EPOLLERR));
	KUNIT_EXPECT_EQ(test, tbstream_test_poll(t->fb),
			(__force u32)(EPOLLHUP | EPOLLERR));
	KUNIT_EXPECT_EQ(test, tbstream_test_read(t->fa, buf, 4, true), -ENXIO);
	KUNIT_EXPECT_EQ(test, tbstream_test_write(t->fa, buf, 4, true), -ENXIO);

	/* Files of the old attachment stay dead after t->a replug */
	KUNIT_ASSERT_EQ(test, tbstream_sim_cable_replug(t->cable), 0);
	KUNIT_EXPECT_EQ(test, tbstream_test_poll(t->fa),
			(__force u32)(EPOLLHUP | EPOLLERR));
	KUNIT_EXPECT_EQ(test, tbstream_test_read(t->fb, buf, 4, false), -ENXIO);
	KUNIT_EXPECT_EQ(test, tbstream_test_write(t->fb, buf, 4, false),
			-ENXIO);
}

/* After a replug, new files work, with the HopIDs applied again */
static void tbstream_test_unplug_replug_data(struct kunit *test)
{
	struct tbstream_test *t = tbstream_test_open_ends(test);
	struct tbstream_test_flow fl;

	tbstream_sim_cable_unplug(t->cable);
	tbstream_test_close(test, t->fa);
	tbstream_test_close(test, t->fb);
	tbstream_test_replug_pair(test);

	tbstream_test_open_pair(test, t->a, t->b, &t->fa, &t->fb);
	tbstream_test_flow_init(test, &fl, t->fa, t->fb,
				2 * TBSTREAM_TEST_RING_BYTES + 3, 17);
	tbstream_test_run(test, &fl, 1);
}

static void tbstream_test_open_detached(struct kunit *test)
{
	struct tbstream_test *t = test->priv;
	struct tbstream *a = t->a, *b = t->b;

	tbstream_sim_cable_unplug(t->cable);
	tbstream_test_open_fails(test, a, true, -ENXIO);
	tbstream_test_open_fails(test, b, true, -ENXIO);
}

/* A blocking open of a detached stream waits for the next attachment */
static void tbstream_test_open_detached_blocking(struct kunit *test)
{
	struct tbstream_test *t = test->priv;
	struct tbstream_file *fa, *fb;
	struct tbstream_test_io *io;
	struct tbstream *a = t->a, *b = t->b;
	u8 *src, *dst;

	tbstream_sim_cable_unplug(t->cable);
	fb = tbstream_test_open(test, b, false);
	tbstream_test_buffers(test, 1000, 18, &src, &dst);

	KUNIT_EXPECT_EQ(test, tbstream_test_read(fb, dst, 1, true), -EAGAIN);
	KUNIT_EXPECT_EQ(test, tbstream_test_poll(fb), 0U);
	io = tbstream_test_io_start(test, fb, false, dst, 1000, true);
	tbstream_test_expect_blocked(test, io, b);

	tbstream_test_replug_pair(test);
	fa = tbstream_test_open(test, a, true);
	KUNIT_EXPECT_EQ(test, tbstream_test_write(fa, src, 1000, true), 1000);
	KUNIT_ASSERT_TRUE(test, tbstream_test_io_wait(io));
	KUNIT_EXPECT_EQ(test, io->moved, 1000);
	tbstream_test_expect_bytes(test, dst, src, 1000);
}

/* A stream of its own, not the pair's: nobody advertises one named "y" */
static void tbstream_test_open_no_hopids(struct kunit *test)
{
	struct tbstream *x;

	x = tbstream_test_mkdir(test, TBSTREAM_SIM_A, "y");
	tbstream_test_open_fails(test, x, true, -EINVAL);
	tbstream_test_open_fails(test, x, false, -EINVAL);
	/* One direction is not enough */
	tbstream_test_set(test, x, "in_hopid", "-1");
	tbstream_test_open_fails(test, x, false, -EINVAL);
	/* Failed opens leave the settings free to change */
	tbstream_test_set(test, x, "ring_size", "64");
}

/* rmdir while open: reads see EOF, writes -ENXIO, the last close frees */
static void tbstream_test_rmdir_open(struct kunit *test)
{
	struct tbstream_test *t = tbstream_test_open_ends(test);
	u8 buf[16];

	KUNIT_ASSERT_EQ(test, tbstream_test_write(t->fa, "hello", 5, true), 5);

	/* ConfigFS rmdir: remove, and drop the directory's reference */
	kunit_remove_action(test, tbstream_test_rmdir, t->a);
	tbstream_delete(t->a);
	config_item_put(&t->a->item);

	KUNIT_EXPECT_EQ(test, tbstream_test_read(t->fa, buf, 16, true), 0);
	KUNIT_EXPECT_EQ(test, tbstream_test_read(t->fa, buf, 16, false), 0);
	KUNIT_EXPECT_EQ(test, tbstream_test_write(t->fa, buf, 16, true),
			-ENXIO);
	KUNIT_EXPECT_EQ(test, tbstream_test_write(t->fa, buf, 16, false),
			-ENXIO);
	KUNIT_EXPECT_EQ(test, tbstream_test_poll(t->fa),
			(__force u32)(EPOLLHUP | EPOLLERR));
	tbstream_test_open_fails(test, t->a, true, -ENXIO);
	KUNIT_EXPECT_EQ(test, tbstream_test_hopids(test, TBSTREAM_SIM_A), 0);

	/* Host B got what was written, then the CLOSE */
	KUNIT_EXPECT_EQ(test, tbstream_test_read_all(test, t->fb, buf, 5), 5);
	KUNIT_EXPECT_EQ(test, memcmp(buf, "hello", 5), 0);
	KUNIT_EXPECT_EQ(test, tbstream_test_read_wait(test, t->fb, buf, 16), 0);

	/* The last reference: KASAN checks that nothing is used after */
	tbstream_test_close(test, t->fa);
}

/* rmdir while a read blocks: the reader wakes up with EOF */
static void tbstream_test_rmdir_blocked_read(struct kunit *test)
{
	struct tbstream_test *t = tbstream_test_open_ends(test);
	struct tbstream_test_io *io;

	io = tbstream_test_blocked_read(test, t->fa, t->a);
	kunit_release_action(test, tbstream_test_rmdir, t->a);
	tbstream_test_expect_io_ret(test, io, 0);
}

/*
 * Closing a file of an earlier attachment leaves the files of the current
 * one alone.
 */
static void tbstream_test_close_old_file(struct kunit *test)
{
	struct tbstream_test *t = test->priv;
	struct tbstream_file *fa, *fb, *fa2, *fb2;
	struct tbstream_test_flow fl;
	struct tbstream *a = t->a, *b = t->b;

	tbstream_test_open_pair(test, a, b, &fa, &fb);
	tbstream_sim_cable_unplug(t->cable);
	tbstream_test_replug_pair(test);

	tbstream_test_open_pair(test, a, b, &fa2, &fb2);
	tbstream_test_close(test, fa);
	tbstream_test_close(test, fb);
	/* Still open: the settings are busy */
	KUNIT_EXPECT_EQ(test, tbstream_test_store(test, a, "ring_size", "64"),
			-EBUSY);
	tbstream_test_flow_init(test, &fl, fa2, fb2,
				2 * TBSTREAM_TEST_RING_BYTES + 5, 22);
	tbstream_test_run(test, &fl, 1);
}

/* A signal ends a blocked read with -ERESTARTSYS; the stream goes on */
static void tbstream_test_signal_read(struct kunit *test)
{
	struct tbstream_test *t = tbstream_test_open_ends(test);
	struct tbstream_test_io *io;

	io = tbstream_test_blocked_read(test, t->fb, t->b);
	/* kthread_stop() raises TIF_NOTIFY_SIGNAL, as t->a signal would */
	kunit_release_action(test, tbstream_test_io_stop, io);
	KUNIT_EXPECT_EQ(test, io->ret, -ERESTARTSYS);

	KUNIT_EXPECT_EQ(test, tbstream_test_write(t->fa, "abc", 3, true), 3);
	KUNIT_EXPECT_EQ(test, tbstream_test_read_all(test, t->fb, io->buf, 3),
			3);
	KUNIT_EXPECT_EQ(test, memcmp(io->buf, "abc", 3), 0);
}

/* A signal ends a blocked write with the count it had accepted */
static void tbstream_test_signal_write(struct kunit *test)
{
	struct tbstream_test *t = tbstream_test_open_ends(test);
	const size_t len = 3 * TBSTREAM_TEST_RING_BYTES;
	struct tbstream_test_io *io;
	u64 frames;
	u8 *src, *dst;

	tbstream_test_buffers(test, len, 23, &src, &dst);

	io = tbstream_test_io_start(test, t->fa, true, src, len, false);
	tbstream_test_expect_blocked(test, io, t->a);
	/* Both rings full: host B's receive ring, then host A's transmit */
	read_poll_timeout(READ_ONCE, frames,
			  frames >= 2 * TBSTREAM_TEST_FRAMES,
			  TBSTREAM_TEST_POLL_US, TBSTREAM_TEST_TIMEOUT_US,
			  false, t->a->stats.tx_frames);
	kunit_release_action(test, tbstream_test_io_stop, io);
	KUNIT_EXPECT_EQ(test, io->ret, 2 * TBSTREAM_TEST_RING_BYTES);

	/* Nothing was lost, nothing was sent twice */
	KUNIT_EXPECT_EQ(test, tbstream_test_read_all(test, t->fb, dst,
						     io->ret), io->ret);
	tbstream_test_expect_bytes(test, dst, src, io->ret);
	KUNIT_EXPECT_EQ(test, tbstream_test_read(t->fb, dst, 1, true), -EAGAIN);
}

/* A signal ends a read that waits for the cable */
static void tbstream_test_signal_read_detached(struct kunit *test)
{
	struct tbstream_test *t = test->priv;
	struct tbstream_test_io *io;
	struct tbstream_file *fb;
	struct tbstream *b = t->b;

	tbstream_sim_cable_unplug(t->cable);
	fb = tbstream_test_open(test, b, false);
	io = tbstream_test_blocked_read(test, fb, b);
	kunit_release_action(test, tbstream_test_io_stop, io);
	KUNIT_EXPECT_EQ(test, io->ret, -ERESTARTSYS);
}

/* With busy_poll, a spinning reader also notices the unplug */
static void tbstream_test_unplug_busy_poll_read(struct kunit *test)
{
	struct tbstream_test *t = test->priv;
	struct tbstream_file *fa, *fb;
	struct tbstream_test_io *io;
	struct tbstream *a = t->a, *b = t->b;

	tbstream_test_set(test, b, "busy_poll", "1");
	tbstream_test_open_pair(test, a, b, &fa, &fb);
	io = tbstream_test_blocked_read(test, fb, b);
	tbstream_sim_cable_unplug(t->cable);
	tbstream_test_expect_io_ret(test, io, -ENXIO);
}

/*
 * A stream that inherits its HopIDs, opened (blocking) while
 * detached, must get them at the next attachment.
 */
static void tbstream_test_open_detached_inherit(struct kunit *test)
{
	struct tbstream_test *t = test->priv;
	struct tbstream_file *fa, *fb;
	struct tbstream *a = t->a, *b = t->b;
	u8 buf[8];

	tbstream_sim_cable_unplug(t->cable);
	fa = tbstream_test_open(test, a, false);
	tbstream_test_replug_pair(test);
	fb = tbstream_test_open(test, b, true);
	KUNIT_EXPECT_EQ(test, tbstream_test_write(fa, "abc", 3, true), 3);
	KUNIT_EXPECT_EQ(test, tbstream_test_read_all(test, fb, buf, 3), 3);
}

static struct kunit_case tbstream_lifetime_cases[] = {
	KUNIT_CASE(tbstream_test_open_detached_inherit),
	KUNIT_CASE(tbstream_test_signal_read),
	KUNIT_CASE(tbstream_test_signal_write),
	KUNIT_CASE(tbstream_test_signal_read_detached),
	KUNIT_CASE(tbstream_test_unplug_busy_poll_read),
	KUNIT_CASE(tbstream_test_close_old_file),
	KUNIT_CASE(tbstream_test_unplug_blocked_read),
	KUNIT_CASE(tbstream_test_unplug_blocked_write),
	KUNIT_CASE(tbstream_test_unplug_poll),
	KUNIT_CASE(tbstream_test_unplug_replug_data),
	KUNIT_CASE(tbstream_test_open_detached),
	KUNIT_CASE(tbstream_test_open_detached_blocking),
	KUNIT_CASE(tbstream_test_open_no_hopids),
	KUNIT_CASE(tbstream_test_rmdir_open),
	KUNIT_CASE(tbstream_test_rmdir_blocked_read),
	{ }
};

static struct kunit_suite tbstream_lifetime_suite = {
	.name = "thunderbolt_stream_lifetime",
	.init = tbstream_test_init_pair,
	.test_cases = tbstream_lifetime_cases,
};

/* thunderbolt_stream_review: findings of the review of issue 13 */

/* rmdir of a detached stream ends the reads waiting for the attachment */
static void tbstream_test_review_rmdir_detached_read(struct kunit *test)
{
	struct tbstream_test *t = test->priv;
	struct tbstream_test_io *io;
	struct tbstream_file *fb;

	tbstream_sim_cable_unplug(t->cable);
	fb = tbstream_test_open(test, t->b, false);
	io = tbstream_test_blocked_read(test, fb, t->b);
	kunit_release_action(test, tbstream_test_rmdir, t->b);
	tbstream_test_expect_io_ret(test, io, 0);
}

/* rmdir of an open stream that did no I/O still ends the peer's read */
static void tbstream_test_review_rmdir_without_io(struct kunit *test)
{
	struct tbstream_test *t = test->priv;
	struct tbstream_test_io *io;
	struct tbstream_file *fb;

	fb = tbstream_test_open(test, t->b, true);
	io = tbstream_test_blocked_read(test, fb, t->b);
	tbstream_test_open(test, t->a, true);
	kunit_release_action(test, tbstream_test_rmdir, t->a);
	tbstream_test_expect_io_ret(test, io, 0);
}

/*
 * A HopID set by hand ends the inheritance of both: the other one is not
 * left inherited (and stale), and the stream does not open without it.
 */
static void tbstream_test_review_half_inherited(struct kunit *test)
{
	struct tbstream_test *t = test->priv;

	tbstream_test_set(test, t->a, "in_hopid", "20");
	KUNIT_EXPECT_EQ(test, tbstream_get_hopid(t->a, TBSTREAM_IN), 20);
	KUNIT_EXPECT_EQ(test, tbstream_get_hopid(t->a, TBSTREAM_OUT), 0);
	tbstream_test_open_fails(test, t->a, true, -EINVAL);
}

/**
 * struct tbstream_test_poller - A poll() sleeper, as the poll core adds it
 * @pt: Poll table handed to tbstream_poll()
 * @entry: The wait queue entries poll_wait() added
 * @head: The wait queues they are on
 * @count: Entries in use
 * @woken: Wake-ups received
 */
struct tbstream_test_poller {
	poll_table pt;
	wait_queue_entry_t entry[2];
	wait_queue_head_t *head[2];
	unsigned int count;
	atomic_t woken;
};

static int tbstream_test_poller_wake(wait_queue_entry_t *entry,
				     unsigned int mode, int sync, void *key)
{
	struct tbstream_test_poller *p = entry->private;

	atomic_inc(&p->woken);
	return 0;
}

static void tbstream_test_poller_queue(struct file *file,
				       wait_queue_head_t *head,
				       poll_table *pt)
{
	struct tbstream_test_poller *p =
		container_of(pt, struct tbstream_test_poller, pt);
	wait_queue_entry_t *entry = &p->entry[p->count];

	if (WARN_ON_ONCE(p->count == ARRAY_SIZE(p->entry)))
		return;
	init_waitqueue_func_entry(entry, tbstream_test_poller_wake);
	entry->private = p;
	add_wait_queue(head, entry);
	p->head[p->count++] = head;
}

static void tbstream_test_poller_remove(void *data)
{
	struct tbstream_test_poller *p = data;

	while (p->count--)
		remove_wait_queue(p->head[p->count], &p->entry[p->count]);
}

/* Poll @f as poll(2) does before it sleeps; returns the mask */
static __poll_t tbstream_test_poll_sleep(struct kunit *test,
					 struct tbstream_file *f,
					 struct tbstream_test_poller **pp)
{
	struct tbstream_test_poller *p;

	p = kunit_kzalloc(test, sizeof(*p), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, p);
	init_poll_funcptr(&p->pt, tbstream_test_poller_queue);
	atomic_set(&p->woken, 0);
	*pp = p;
	tbstream_test_defer(test, tbstream_test_poller_remove, p);
	return tbstream_poll(f, NULL, &p->pt);
}

static bool tbstream_test_poller_woken(struct tbstream_test_poller *p)
{
	return atomic_read(&p->woken);
}

/* With busy_poll, a task sleeping in poll() still wakes when data comes */
static void tbstream_test_review_busy_poll_poll(struct kunit *test)
{
	struct tbstream_test *t = test->priv;
	struct tbstream_test_poller *p;
	struct tbstream_file *fa, *fb;
	u8 buf[8];

	tbstream_test_set(test, t->b, "busy_poll", "1");
	tbstream_test_open_pair(test, t->a, t->b, &fa, &fb);
	/* The first frame takes the interrupt the rings started with */
	KUNIT_ASSERT_EQ(test, tbstream_test_write(fa, "1234", 4, true), 4);
	KUNIT_ASSERT_EQ(test, tbstream_test_read_all(test, fb, buf, 4), 4);

	KUNIT_EXPECT_FALSE(test, tbstream_test_poll_sleep(test, fb, &p) &
			   EPOLLIN);
	KUNIT_ASSERT_EQ(test, tbstream_test_write(fa, "5678", 4, true), 4);
	tbstream_test_flush(test);
	KUNIT_EXPECT_TRUE(test, tbstream_test_poller_woken(p));
	KUNIT_EXPECT_TRUE(test, tbstream_poll(fb, NULL, NULL) & EPOLLIN);
}

/**
 * struct tbstream_test_holder - A kthread holding a lock for a while
 * @lock: The mutex
 * @held: Completed once @lock is held
 * @done: Completed once it is released again
 */
struct tbstream_test_holder {
	struct mutex *lock; /* the lock the kthread holds */
	struct completion held;
	struct completion done;
};

static int tbstream_test_holder_fn(void *data)
{
	struct tbstream_test_holder *h = data;

	mutex_lock(h->lock);
	complete(&h->held);
	msleep(200);
	mutex_unlock(h->lock);
	complete(&h->done);
	return 0;
}

static void tbstream_test_holder_wait(void *data)
{
	struct tbstream_test_holder *h = data;

	wait_for_completion(&h->done);
}

/* Hold @lock from a kthread for 200 ms; returns once it is held */
static void tbstream_test_hold(struct kunit *test, struct mutex *lock)
{
	struct tbstream_test_holder *h;
	struct task_struct *task;

	h = kunit_kzalloc(test, sizeof(*h), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, h);
	h->lock = lock;
	init_completion(&h->held);
	init_completion(&h->done);
	task = kthread_run(tbstream_test_holder_fn, h, "tbstream_hold");
	KUNIT_ASSERT_FALSE(test, IS_ERR(task));
	tbstream_test_defer(test, tbstream_test_holder_wait, h);
	wait_for_completion(&h->held);
}

/*
 * O_NONBLOCK does not wait for data, but it does wait for a lock that
 * another reader holds briefly: no -EAGAIN with data there.
 */
static void tbstream_test_review_nonblock_contended(struct kunit *test)
{
	struct tbstream_test *t = tbstream_test_open_ends(test);
	u8 buf[4];

	KUNIT_ASSERT_EQ(test, tbstream_test_write(t->fa, "abcd", 4, true), 4);
	KUNIT_ASSERT_TRUE(test, tbstream_test_poll_flushed(test, t->fb) &
			  EPOLLIN);

	tbstream_test_hold(test, &t->b->rx_mutex);
	KUNIT_EXPECT_EQ(test, tbstream_test_read(t->fb, buf, 4, true), 4);
	tbstream_test_expect_bytes(test, buf, (const u8 *)"abcd", 4);
}

/*
 * RWF_NOWAIT never sleeps: not to start the rings, not on a contended
 * lock; it gives -EAGAIN and leaves the work to a blocking call.
 */
static void tbstream_test_review_nowait(struct kunit *test)
{
	const unsigned int nowait = TBSTREAM_IO_NONBLOCK | TBSTREAM_IO_NOWAIT;
	struct tbstream_test *t = test->priv;
	struct tbstream *b = t->b;
	struct tbstream_file *fb;
	u8 buf[4];

	fb = tbstream_test_open(test, b, true);
	KUNIT_EXPECT_EQ(test, tbstream_test_read_flags(fb, buf, 4, nowait),
			-EAGAIN);
	KUNIT_EXPECT_EQ(test, b->rings, TBSTREAM_RINGS_IDLE);

	KUNIT_EXPECT_EQ(test, tbstream_test_read(fb, buf, 4, true), -EAGAIN);
	KUNIT_ASSERT_EQ(test, b->rings, TBSTREAM_RINGS_RUNNING);
	tbstream_test_hold(test, &b->rx_mutex);
	KUNIT_EXPECT_EQ(test, tbstream_test_read_flags(fb, buf, 4, nowait),
			-EAGAIN);
	tbstream_test_hold(test, &b->read_mutex);
	KUNIT_EXPECT_EQ(test, tbstream_test_read_flags(fb, buf, 4, nowait),
			-EAGAIN);
}

/**
 * struct tbstream_test_uio - A read() or write() of user memory, in a kthread
 * @f: File
 * @mm: Address space of @iov, the test's
 * @iov: User memory, @nr_segs entries of it
 * @nr_segs: Entries of @iov in use
 * @read: Read into @iov, else write from it
 * @ret: What tbstream_read() or tbstream_write() returned
 * @done: Completed when it returned
 * @task: The kthread
 */
struct tbstream_test_uio {
	struct tbstream_file *f;
	struct mm_struct *mm;
	struct iovec iov[2];
	unsigned long nr_segs;
	bool read;
	ssize_t ret;
	struct completion done;
	struct task_struct *task;
};

static int tbstream_test_uio_fn(void *data)
{
	struct tbstream_test_uio *u = data;
	struct iov_iter iter;

	kthread_use_mm(u->mm);
	iov_iter_init(&iter, u->read ? ITER_DEST : ITER_SOURCE, u->iov,
		      u->nr_segs, iov_length(u->iov, u->nr_segs));
	if (u->read)
		u->ret = tbstream_read(u->f, &iter, 0);
	else
		u->ret = tbstream_write(u->f, &iter, 0);
	kthread_unuse_mm(u->mm);
	complete(&u->done);
	while (!kthread_should_stop())
		schedule_timeout_interruptible(1);
	return 0;
}

static void tbstream_test_uio_stop(void *data)
{
	struct tbstream_test_uio *u = data;

	kthread_stop(u->task);
	put_task_struct(u->task);
}

/* @pages pages of user memory in the test's address space, not touched */
static unsigned long tbstream_test_umem(struct kunit *test,
					unsigned int pages)
{
	unsigned long uaddr;

	uaddr = kunit_vm_mmap(test, NULL, 0, pages * PAGE_SIZE,
			      PROT_READ | PROT_WRITE,
			      MAP_ANONYMOUS | MAP_PRIVATE, 0);
	KUNIT_ASSERT_NE_MSG(test, uaddr, 0, "no user memory");
	return uaddr;
}

/*
 * Make the kthread that runs the call @u describes on @f, with the test's
 * mm; wake_up_process() starts it
 */
static void tbstream_test_uio_create(struct kunit *test,
				     struct tbstream_test_uio *u,
				     struct tbstream_file *f)
{
	u->f = f;
	u->mm = current->mm;
	init_completion(&u->done);
	u->task = kthread_create(tbstream_test_uio_fn, u, "tbstream_uio");
	KUNIT_ASSERT_FALSE(test, IS_ERR(u->task));
	get_task_struct(u->task);
	tbstream_test_defer(test, tbstream_test_uio_stop, u);
}

/*
 * A write whose source faults after a whole frame returns that frame's
 * bytes at once; it does not wait for credits as if the ring were full.
 * Host B does no I/O, so no frame of host A's ever completes.
 */
static void tbstream_test_review_efault_write(struct kunit *test)
{
	struct tbstream_test *t = test->priv;
	struct tbstream_test_uio *w;
	struct tbstream_file *fb;
	unsigned long timeout;
	u8 *src, *dst;

	w = kunit_kzalloc(test, sizeof(*w), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, w);
	/* One page of user memory, then an unmapped one */
	w->iov[0].iov_base = (void __user *)tbstream_test_umem(test, 1);
	w->iov[0].iov_len = PAGE_SIZE;
	w->iov[1].iov_len = PAGE_SIZE;
	w->nr_segs = 2;
	src = tbstream_test_pattern(test, PAGE_SIZE, 21);
	KUNIT_ASSERT_EQ(test, copy_to_user(w->iov[0].iov_base, src,
					   PAGE_SIZE), 0);
	tbstream_test_uio_create(test, w, tbstream_test_open(test, t->a, false));
	wake_up_process(w->task);

	timeout = msecs_to_jiffies(TBSTREAM_TEST_TIMEOUT_MS);
	KUNIT_ASSERT_TRUE(test, wait_for_completion_timeout(&w->done, timeout));
	KUNIT_EXPECT_EQ(test, w->ret, PAGE_SIZE);

	/* What was accepted is what arrives */
	fb = tbstream_test_open(test, t->b, true);
	dst = tbstream_test_alloc(test, PAGE_SIZE);
	KUNIT_EXPECT_EQ(test, tbstream_test_read_all(test, fb, dst, PAGE_SIZE),
			PAGE_SIZE);
	tbstream_test_expect_bytes(test, dst, src, PAGE_SIZE);
}

/**
 * struct tbstream_test_unplug - A cable pulled in a kthread
 * @cable: The cable
 * @done: Completed when the unplug returned
 *
 * Freed by the test only once @done: an unplug that deadlocks keeps it.
 */
struct tbstream_test_unplug {
	struct tbstream_sim_cable *cable;
	struct completion done;
};

static int tbstream_test_unplug_fn(void *data)
{
	struct tbstream_test_unplug *u = data;

	tbstream_sim_cable_unplug(u->cable);
	complete_all(&u->done);
	return 0;
}

/* Pull @cable in a kthread; %NULL when that cannot start */
static struct tbstream_test_unplug *
tbstream_test_unplug_start(struct tbstream_sim_cable *cable)
{
	struct tbstream_test_unplug *u;
	struct task_struct *task;

	u = kzalloc(sizeof(*u), GFP_KERNEL);
	if (!u)
		return NULL;
	u->cable = cable;
	init_completion(&u->done);
	task = kthread_run(tbstream_test_unplug_fn, u, "tbstream_unplug");
	if (IS_ERR(task)) {
		kfree(u);
		return NULL;
	}
	return u;
}

/* Wait for the unplug of @u to return, up to the timeout */
static bool tbstream_test_unplug_wait(struct tbstream_test_unplug *u)
{
	return u && wait_for_completion_timeout(&u->done,
			msecs_to_jiffies(TBSTREAM_TEST_TIMEOUT_MS));
}

/* Free @u once its unplug has returned; false when it still has not */
static bool tbstream_test_unplug_end(struct tbstream_test_unplug *u)
{
	if (!tbstream_test_unplug_wait(u))
		return false;
	kfree(u);
	return true;
}

static void tbstream_test_release_paths(void *cable)
{
	tbstream_sim_hold_paths(cable, false);
}

/*
 * A cable pulled while the first read enables the paths. The Thunderbolt
 * core unplugs with &tb.lock held, and enable_paths waits for &tb.lock:
 * the unplug must not wait for the read (it did, for &tbstream.lock).
 * The read then fails with -ENXIO, its rings and HopIDs are gone, and
 * the stream works again after a replug.
 */
static void tbstream_test_review_unplug_starting(struct kunit *test)
{
	struct tbstream_test *t = test->priv;
	struct tbstream_test_unplug *u;
	struct tbstream_file *fa, *fb;
	struct tbstream_test_io *io;
	u8 buf[4], got[4];
	bool waiting;

	tbstream_sim_hold_paths(t->cable, true);
	tbstream_test_defer(test, tbstream_test_release_paths, t->cable);
	fb = tbstream_test_open(test, t->b, false);
	io = tbstream_test_io_start(test, fb, false, buf, sizeof(buf), false);
	read_poll_timeout(tbstream_sim_paths_waiting, waiting, waiting,
			  TBSTREAM_TEST_POLL_US, TBSTREAM_TEST_TIMEOUT_US, false,
			  t->cable);
	KUNIT_ASSERT_TRUE(test, waiting);

	u = tbstream_test_unplug_start(t->cable);
	KUNIT_ASSERT_NOT_NULL(test, u);
	waiting = tbstream_test_unplug_wait(u);
	tbstream_sim_hold_paths(t->cable, false);
	KUNIT_ASSERT_TRUE_MSG(test, waiting, "the unplug waited for the read");
	kfree(u);

	tbstream_test_expect_io_ret(test, io, -ENXIO);
	KUNIT_EXPECT_EQ(test, READ_ONCE(t->b->rings), TBSTREAM_RINGS_IDLE);
	KUNIT_EXPECT_EQ(test, tbstream_test_hopids(test, TBSTREAM_SIM_B), 0);

	tbstream_test_replug_pair(test);
	fa = tbstream_test_open(test, t->a, false);
	fb = tbstream_test_open(test, t->b, false);
	KUNIT_EXPECT_EQ(test, tbstream_test_write(fa, "abcd", 4, false), 4);
	KUNIT_EXPECT_EQ(test, tbstream_test_read_all(test, fb, got, 4), 4);
	KUNIT_EXPECT_EQ(test, memcmp(got, "abcd", 4), 0);
}

static void tbstream_test_no_unmask_race(void *cable)
{
	tbstream_sim_set_unmask_race(cable, false);
}

/*
 * A frame that completes just before the receive interrupt is re-enabled
 * may raise no interrupt: the NHI does not promise to signal again what
 * completed while masked (tb_ring_poll_complete() only sets the enable
 * bit). A reader or poller that re-enables it must look at the ring again
 * (they did not, and slept with the frame there).
 */
static void tbstream_test_review_rx_rearm(struct kunit *test)
{
	struct tbstream_test *t = tbstream_test_open_ends(test);
	struct tbstream_test_io *io;
	u8 buf[4];

	tbstream_test_defer(test, tbstream_test_no_unmask_race, t->cable);

	/* poll(): an interrupt first, so that it re-enables the next */
	KUNIT_ASSERT_EQ(test, tbstream_test_write(t->fa, "1234", 4, true), 4);
	KUNIT_ASSERT_EQ(test, tbstream_test_read_all(test, t->fb, buf, 4), 4);
	tbstream_sim_set_unmask_race(t->cable, true);
	KUNIT_ASSERT_EQ(test, tbstream_test_write(t->fa, "abcd", 4, true), 4);
	KUNIT_EXPECT_TRUE(test, tbstream_poll(t->fb, NULL, NULL) & EPOLLIN);
	KUNIT_ASSERT_EQ(test, tbstream_test_read_all(test, t->fb, buf, 4), 4);
	tbstream_test_expect_bytes(test, buf, (const u8 *)"abcd", 4);

	/* read() */
	tbstream_sim_set_unmask_race(t->cable, false);
	KUNIT_ASSERT_EQ(test, tbstream_test_write(t->fa, "5678", 4, true), 4);
	KUNIT_ASSERT_EQ(test, tbstream_test_read_all(test, t->fb, buf, 4), 4);
	tbstream_sim_set_unmask_race(t->cable, true);
	KUNIT_ASSERT_EQ(test, tbstream_test_write(t->fa, "wxyz", 4, true), 4);
	io = tbstream_test_io_start(test, t->fb, false, buf, sizeof(buf), false);
	tbstream_test_expect_io_ret(test, io, 4);
	tbstream_test_expect_bytes(test, buf, (const u8 *)"wxyz", 4);
}

static const bool tbstream_test_fault_cases[] = { false, true };

static void tbstream_test_fault_desc(const bool *read, char *desc)
{
	strscpy(desc, *read ? "read" : "write", KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(tbstream_test_fault, tbstream_test_fault_cases,
		  tbstream_test_fault_desc);

/*
 * A cable pulled while a reader or a writer copies user memory whose page
 * fault waits (for userfaultfd or FUSE; here for the mmap lock, which the
 * test holds): the unplug must not wait for the page (it did, for the
 * ring mutex held across the copy). Once the page comes, the read returns
 * the bytes it copied and the write -ENXIO; the stream works after a
 * replug.
 */
static void tbstream_test_review_fault_unplug(struct kunit *test)
{
	const bool *read = test->param_value;
	struct tbstream_test *t = tbstream_test_open_ends(test);
	struct tbstream_test_unplug *u = NULL;
	bool contended, in_time = false;
	struct tbstream_test_uio *io;
	struct tbstream_file *fa, *fb;
	unsigned long timeout;
	struct mm_struct *mm;
	u8 got[4];

	io = kunit_kzalloc(test, sizeof(*io), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, io);
	io->iov[0].iov_base = (void __user *)tbstream_test_umem(test, 1);
	io->iov[0].iov_len = *read ? sizeof(got) : PAGE_SIZE;
	io->nr_segs = 1;
	io->read = *read;
	if (*read) {
		KUNIT_ASSERT_EQ(test, tbstream_test_write(t->fa, "abcd", 4,
							  true), 4);
		KUNIT_ASSERT_TRUE(test, tbstream_test_poll_flushed(test, t->fb) &
				  EPOLLIN);
	}
	tbstream_test_uio_create(test, io, *read ? t->fb : t->fa);

	/* No assertion while the lock is held: cleanup would wait for it */
	mm = current->mm;
	mmap_write_lock(mm);
	wake_up_process(io->task);
	read_poll_timeout(rwsem_is_contended, contended, contended,
			  TBSTREAM_TEST_POLL_US, TBSTREAM_TEST_TIMEOUT_US, false,
			  &mm->mmap_lock);
	if (contended) {
		u = tbstream_test_unplug_start(t->cable);
		in_time = tbstream_test_unplug_wait(u);
	}
	mmap_write_unlock(mm);
	KUNIT_ASSERT_TRUE_MSG(test, contended, "the copy did not fault");
	KUNIT_EXPECT_TRUE_MSG(test, in_time,
			      "the unplug waited for the page fault");
	KUNIT_ASSERT_TRUE(test, tbstream_test_unplug_end(u));

	timeout = msecs_to_jiffies(TBSTREAM_TEST_TIMEOUT_MS);
	KUNIT_ASSERT_TRUE(test, wait_for_completion_timeout(&io->done, timeout));
	if (*read) {
		KUNIT_EXPECT_EQ(test, io->ret, 4);
		KUNIT_EXPECT_EQ(test, copy_from_user(got, io->iov[0].iov_base,
						     4), 0);
		tbstream_test_expect_bytes(test, got, (const u8 *)"abcd", 4);
	} else {
		KUNIT_EXPECT_EQ(test, io->ret, -ENXIO);
	}
	KUNIT_EXPECT_EQ(test, READ_ONCE(t->a->rings), TBSTREAM_RINGS_IDLE);
	KUNIT_EXPECT_EQ(test, READ_ONCE(t->b->rings), TBSTREAM_RINGS_IDLE);

	tbstream_test_replug_pair(test);
	fa = tbstream_test_open(test, t->a, false);
	fb = tbstream_test_open(test, t->b, false);
	KUNIT_EXPECT_EQ(test, tbstream_test_write(fa, "wxyz", 4, false), 4);
	KUNIT_EXPECT_EQ(test, tbstream_test_read_all(test, fb, got, 4), 4);
	tbstream_test_expect_bytes(test, got, (const u8 *)"wxyz", 4);
}

static struct kunit_case tbstream_review_cases[] = {
	KUNIT_CASE(tbstream_test_review_unplug_starting),
	KUNIT_CASE_PARAM(tbstream_test_review_fault_unplug,
			 tbstream_test_fault_gen_params),
	KUNIT_CASE(tbstream_test_review_rx_rearm),
	KUNIT_CASE(tbstream_test_review_efault_write),
	KUNIT_CASE(tbstream_test_review_nonblock_contended),
	KUNIT_CASE(tbstream_test_review_nowait),
	KUNIT_CASE(tbstream_test_review_rmdir_detached_read),
	KUNIT_CASE(tbstream_test_review_rmdir_without_io),
	KUNIT_CASE(tbstream_test_review_half_inherited),
	KUNIT_CASE(tbstream_test_review_busy_poll_poll),
	{ }
};

static struct kunit_suite tbstream_review_suite = {
	.name = "thunderbolt_stream_review",
	.init = tbstream_test_init_pair,
	.test_cases = tbstream_review_cases,
};

kunit_test_suites(&tbstream_property_suite, &tbstream_configfs_suite,
		  &tbstream_hopid_suite, &tbstream_data_suite,
		  &tbstream_close_suite, &tbstream_errors_suite,
		  &tbstream_backpressure_suite, &tbstream_lifetime_suite,
		  &tbstream_review_suite);
