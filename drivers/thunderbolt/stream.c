// SPDX-License-Identifier: GPL-2.0
/*
 * USB4STREAM: raw byte streams between hosts over USB4/Thunderbolt
 *
 * Copyright (C) 2026, The thunderbolt_stream developers
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <kunit/visibility.h>
#include <linux/debugfs.h>
#include <linux/device.h>
#include <linux/fs.h>
#include <linux/idr.h>
#include <linux/list.h>
#include <linux/module.h>
#include <linux/poll.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/thunderbolt.h>

#include "stream.h"

#define CREATE_TRACE_POINTS
#include "stream_trace.h"

/**
 * DOC: Theory of operation
 *
 * A stream is a ConfigFS item below a service group named after the peer's
 * XDomain service device ("<domain>-<route>.<index>"), and a misc device
 * /dev/tbstreamX. A cable backend (the Thunderbolt service driver, or the
 * simulated cable) registers a &struct tbstream_peer for each peer service
 * it sees. When a peer and a service group share a name, the group's
 * streams attach: their HopIDs are allocated (or inherited, reversed, from
 * the peer's advertisement of a stream with the same name) and the stream
 * is advertised to the peer.
 *
 * Bytes travel in frames of at most %TBSTREAM_FRAME_SIZE bytes, SOF PDF
 * %TBSTREAM_PDF_SOF and EOF PDF %TBSTREAM_PDF_DATA. When the last local
 * opener closes, the transmit ring is drained and one zero-filled
 * %TBSTREAM_CLOSE_SIZE frame with EOF PDF %TBSTREAM_PDF_CLOSE tells the
 * peer's readers that the stream has ended.
 *
 * open() never sleeps: misc_open() calls it with the global misc mutex
 * held, so waiting there for a cable would stall every misc device of the
 * system. A file opened while the stream is detached simply belongs to the
 * next attachment; its first read(), write() or poll() waits for it. The
 * rings start at the first read(), write() or poll() of an attached
 * stream: rings first, then every receive buffer, then the DMA paths, so
 * that the peer never finds us without buffers. Teardown disables the
 * paths before it stops the rings, as some routers never clear a hop's
 * pending state otherwise.
 *
 * The rings go through &enum tbstream_rings: idle, starting, running,
 * closing (the last close drains them and sends CLOSE), stopping. Only
 * tbstream_set_rings() changes that state. A start, close or stop is
 * done by one task that owns the rings meanwhile; I/O sees the rings as
 * up only while running or closing, and a task that wants to start or
 * close waits until no other task owns them (tbstream_wait_settled()).
 * A detach never waits for an owner: it moves the stream to the next
 * attachment generation, and the owner, when it takes &tbstream.lock
 * again, finds the generation changed and tears the rings down itself.
 * A detach only tears down the rings of a running stream, and only after
 * it has dropped its locks.
 *
 * Both rings run in polling mode: a completion interrupt only wakes the
 * readers or writers, which then take every completed frame themselves and
 * re-enable the interrupt only when they are about to sleep. One interrupt
 * thus covers a whole batch of frames.
 */

/**
 * DOC: Locking
 *
 * From outside in:
 *
 * - tbstream_lock (global mutex): the lists of peers and service groups
 *   and the links between them. Taken by ConfigFS mkdir/rmdir and by the
 *   backends registering peers.
 * - &tbstream.lock (mutex): one stream's configuration, attachment and
 *   the changes of &tbstream.rings.
 * - &tbstream.write_mutex, &tbstream.read_mutex: one writer, one reader
 *   at a time. Held across the copies from and to user memory, which may
 *   fault and sleep for as long as the memory takes (userfaultfd, FUSE);
 *   teardown never takes them.
 * - &tbstream.tx_mutex, then &tbstream.rx_mutex: transmit and receive
 *   ring accounting, held only briefly and never across user memory.
 *   A reader or writer takes the frames it copies out of the ring under
 *   its ring mutex (&tbstream.rx_copier, &tbstream.tx_copier), copies
 *   without it, and gives them back under it. Teardown takes each once
 *   after marking the rings stopping, so that nobody still uses them, and
 *   leaves the frames being copied to their copier to free.
 * - &tbstream.state_lock (spinlock): the state that open() and poll()
 *   read without sleeping. Writers hold &tbstream.lock as well.
 *
 * None of these is held across &tbstream_backend_ops.enable_paths or
 * &tbstream_backend_ops.disable_paths: the connection manager of the
 * Thunderbolt core takes &tb.lock there, and it holds &tb.lock while it
 * unplugs a peer, which calls tbstream_peer_unregister() and so takes
 * tbstream_lock and &tbstream.lock. The order is thus &tb.lock (and the
 * simulated cable's cm_lock, which stands for it), then tbstream_lock,
 * then the stream's locks. A detach may disable paths itself only because
 * the Thunderbolt core then knows the XDomain unplugged and takes no lock.
 *
 * The backend's ring locks nest inside all of these. start_poll callbacks
 * run in interrupt context and only touch atomic bits and wait queues.
 *
 * The sysfs attributes of the misc device (service, name) take no lock:
 * they show names fixed at mkdir, and misc_deregister() waits for their
 * readers before the stream can go.
 */

#define TBSTREAM_TX_ARMED	0
#define TBSTREAM_RX_ARMED	1
#define TBSTREAM_RX_WATCHED	2

/*
 * Longest time the last close waits for the peer to take the bytes
 * accepted while it takes none, in seconds; 0 waits as long as the peer
 * is attached. Not static only for the KUnit tests.
 */
VISIBLE_IF_KUNIT unsigned int tbstream_drain_timeout = 60;
/*
 * A session that sent no data waits this long, ms, without progress for
 * its CLOSE: to a peer whose rings do not run, it never leaves
 */
#define TBSTREAM_CLOSE_TIMEOUT	1000
/*
 * rmdir drains under ConfigFS's subsystem mutex, which every mkdir and
 * rmdir of the system waits for: at most this long without progress, ms
 */
#define TBSTREAM_RMDIR_TIMEOUT	1000
module_param_named(drain_timeout, tbstream_drain_timeout, uint, 0644);
MODULE_PARM_DESC(drain_timeout,
		 "Seconds the last close waits for a peer that takes no bytes (0: no limit, default: 60)");

/* Files of a stream, as read by the I/O paths */
enum tbstream_file_state {
	TBSTREAM_FILE_RUNNING,
	TBSTREAM_FILE_WAITING,
	TBSTREAM_FILE_STOPPED,
	TBSTREAM_FILE_BUSY,
	TBSTREAM_FILE_DETACHED,
	TBSTREAM_FILE_REMOVED,
};

/**
 * struct tbstream_file - One open file of a stream
 * @stream: The stream; the file holds a reference on its item
 * @gen: Attachment generation the file belongs to
 * @closed: tbstream_flush() has closed it (P: &tbstream.state_lock)
 */
struct tbstream_file {
	struct tbstream *stream;
	unsigned int gen;
	bool closed;
};

static DEFINE_MUTEX(tbstream_lock); /* peers, services and their links */
static LIST_HEAD(tbstream_peers);
static LIST_HEAD(tbstream_services);
static DEFINE_IDA(tbstream_ida);
static struct dentry *tbstream_debugfs_root;

/* HopIDs and advertisement */

static bool tbstream_hopids_held(const struct tbstream *s)
{
	return s->hop[TBSTREAM_IN].hopid && s->hop[TBSTREAM_OUT].hopid;
}

static void tbstream_set_held(struct tbstream *s, enum tbstream_direction dir,
			      int hopid, bool inherited)
{
	lockdep_assert_held(&s->lock);

	spin_lock(&s->state_lock);
	s->hop[dir].hopid = hopid;
	s->hop[dir].inherited = inherited;
	spin_unlock(&s->state_lock);
}

static void tbstream_release_hopid(struct tbstream *s,
				   enum tbstream_direction dir)
{
	int hopid = s->hop[dir].hopid;

	if (!hopid)
		return;
	s->peer->ops->release_hopid(s->peer, dir, hopid);
	tbstream_set_held(s, dir, 0, false);
}

/*
 * Tell the peer about the stream, or withdraw it while HopIDs are missing.
 * Returns 0 or the backend's error.
 */
static int tbstream_advertise(struct tbstream *s)
{
	struct tbstream_peer *peer = s->peer;
	int ret;

	lockdep_assert_held(&s->lock);

	if (!tbstream_hopids_held(s)) {
		peer->ops->withdraw(peer, s->name);
		return 0;
	}
	ret = peer->ops->advertise(peer, s->name, s->hop[TBSTREAM_IN].hopid,
				   s->hop[TBSTREAM_OUT].hopid);
	if (ret)
		dev_warn(peer->dev, "%s: advertising failed: %d\n", s->name,
			 ret);
	return ret;
}

static bool tbstream_hopid_valid(int hopid)
{
	return hopid >= TBSTREAM_HOPID_MIN && hopid <= TBSTREAM_HOPID_MAX;
}

static bool tbstream_may_inherit(const struct tbstream *s)
{
	return s->hop[TBSTREAM_IN].req == TBSTREAM_HOPID_NONE &&
	       s->hop[TBSTREAM_OUT].req == TBSTREAM_HOPID_NONE;
}

static void tbstream_drop_inherited(struct tbstream *s)
{
	if (s->hop[TBSTREAM_IN].inherited)
		tbstream_release_hopid(s, TBSTREAM_IN);
	if (s->hop[TBSTREAM_OUT].inherited)
		tbstream_release_hopid(s, TBSTREAM_OUT);
}

/*
 * Take the HopIDs of a stream without settings from the peer's stream of
 * the same name, reversed: what the peer receives on, we transmit to.
 */
static void tbstream_inherit(struct tbstream *s)
{
	struct tbstream_peer *peer = s->peer;
	int peer_in, peer_out, in, out;

	lockdep_assert_held(&s->lock);

	if (s->rings != TBSTREAM_RINGS_IDLE)
		return;
	/* A HopID set by hand ends the inheritance of both */
	if (!tbstream_may_inherit(s)) {
		tbstream_drop_inherited(s);
		return;
	}
	/* A HopID out of range is no advertisement either */
	if (peer->ops->lookup(peer, s->name, &peer_in, &peer_out) ||
	    !tbstream_hopid_valid(peer_in) || !tbstream_hopid_valid(peer_out)) {
		tbstream_drop_inherited(s);
		return;
	}
	if (s->hop[TBSTREAM_IN].hopid == peer_out &&
	    s->hop[TBSTREAM_OUT].hopid == peer_in)
		return;

	tbstream_drop_inherited(s);
	in = peer->ops->alloc_hopid(peer, TBSTREAM_IN, peer_out);
	if (in < 0)
		goto err;
	out = peer->ops->alloc_hopid(peer, TBSTREAM_OUT, peer_in);
	if (out < 0) {
		peer->ops->release_hopid(peer, TBSTREAM_IN, in);
		goto err;
	}
	tbstream_set_held(s, TBSTREAM_IN, in, true);
	tbstream_set_held(s, TBSTREAM_OUT, out, true);
	return;

err:
	dev_warn(peer->dev, "%s: cannot inherit HopIDs %d/%d from the peer\n",
		 s->name, peer_out, peer_in);
}

/* Rings */

static void tbstream_frame_canceled(struct tb_ring *ring,
				    struct ring_frame *frame, bool canceled)
{
	/* Polling mode: frames come back through a callback only on stop */
	WARN_ON_ONCE(!canceled);
}

static void tbstream_tx_start_poll(void *data)
{
	struct tbstream *s = data;

	atomic64_inc(&s->stats.irqs);
	clear_bit(TBSTREAM_TX_ARMED, &s->irq_armed);
	wake_up(&s->tx_wait);
}

static void tbstream_rx_start_poll(void *data)
{
	struct tbstream *s = data;

	atomic64_inc(&s->stats.irqs);
	clear_bit(TBSTREAM_RX_ARMED, &s->irq_armed);
	wake_up(&s->rx_wait);
	/* A writer waiting for credits may be watching for the peer's CLOSE */
	if (test_and_clear_bit(TBSTREAM_RX_WATCHED, &s->irq_armed))
		wake_up(&s->tx_wait);
}

static void tbstream_free_frames(struct tbstream_frame *frames,
				 unsigned int count)
{
	unsigned int i;

	for (i = 0; i < count; i++)
		kfree(frames[i].buf);
	kvfree(frames);
}

static int tbstream_ring_init(struct tbstream *s, struct tbstream_ring *ring,
			      enum tbstream_direction dir)
{
	unsigned int i;

	memset(ring, 0, sizeof(*ring));
	ring->frames = kvcalloc(s->nframes, sizeof(*ring->frames),
				GFP_KERNEL);
	if (!ring->frames)
		return -ENOMEM;
	for (i = 0; i < s->nframes; i++) {
		ring->frames[i].buf = kzalloc(TBSTREAM_FRAME_SIZE, GFP_KERNEL);
		if (!ring->frames[i].buf) {
			tbstream_free_frames(ring->frames, i);
			ring->frames = NULL;
			return -ENOMEM;
		}
		ring->frames[i].frame.callback = tbstream_frame_canceled;
	}

	ring->peer = s->peer;
	ring->direction = dir;
	ring->size = s->ring_size;
	ring->throttling = s->throttling;
	ring->poll_data = s;
	ring->start_poll = dir == TBSTREAM_OUT ? tbstream_tx_start_poll :
						 tbstream_rx_start_poll;
	return 0;
}

static int tbstream_post_rx(struct tbstream *s, struct tbstream_frame *tf)
{
	tf->frame.size = 0; /* a whole TBSTREAM_FRAME_SIZE buffer */
	tf->frame.flags = 0;
	trace_tbstream_frame_queued(s, TBSTREAM_IN, tf - s->rx.frames,
				    &tf->frame);
	return s->rx.peer->ops->enqueue(&s->rx, &tf->frame);
}

/* Wake every reader, writer, poller and file waiting for the attachment */
static void tbstream_wake_all(struct tbstream *s)
{
	wake_up(&s->rx_wait);
	wake_up(&s->tx_wait);
}

static bool tbstream_rings_up(enum tbstream_rings rings)
{
	return rings == TBSTREAM_RINGS_RUNNING || rings == TBSTREAM_RINGS_CLOSING;
}

/* Single flags: read without &tbstream.state_lock, written under it */
static bool tbstream_stopped(const struct tbstream *s)
{
	return !tbstream_rings_up(READ_ONCE(s->rings));
}

static bool tbstream_peer_has_closed(const struct tbstream *s)
{
	return READ_ONCE(s->peer_closed);
}

/* Another task owns the rings: it starts, closes or stops them */
static bool tbstream_rings_owned(enum tbstream_rings rings)
{
	return rings != TBSTREAM_RINGS_IDLE && rings != TBSTREAM_RINGS_RUNNING;
}

/* The one place where the rings change state */
static void tbstream_set_rings(struct tbstream *s, enum tbstream_rings rings)
{
	lockdep_assert_held(&s->lock);

	trace_tbstream_rings(s, rings);
	spin_lock(&s->state_lock);
	WRITE_ONCE(s->rings, rings);
	if (rings == TBSTREAM_RINGS_STARTING)
		WRITE_ONCE(s->peer_closed, false);
	spin_unlock(&s->state_lock);
	tbstream_wake_all(s);
}

/* Wait until no other task owns the rings; drops @s->lock meanwhile */
static void tbstream_wait_settled(struct tbstream *s)
{
	lockdep_assert_held(&s->lock);

	while (tbstream_rings_owned(s->rings)) {
		mutex_unlock(&s->lock);
		wait_event(s->rx_wait, !tbstream_rings_owned(READ_ONCE(s->rings)));
		mutex_lock(&s->lock);
	}
}

static void tbstream_peer_get(struct tbstream_peer *peer)
{
	kref_get(&peer->kref);
}

static void tbstream_peer_release(struct kref *kref)
{
	struct tbstream_peer *peer = container_of(kref, typeof(*peer), kref);

	peer->ops->release(peer);
}

/**
 * tbstream_peer_put() - Drop a reference to a peer
 * @peer: A peer whose &tbstream_peer.kref the backend initialized
 *
 * The backend calls this once, instead of freeing the peer, when the
 * peer has gone for good; &tbstream_backend_ops.release frees it when
 * the core no longer needs it either.
 *
 * Context: Process context.
 */
void tbstream_peer_put(struct tbstream_peer *peer)
{
	kref_put(&peer->kref, tbstream_peer_release);
}

/* Allocate and start both rings and post every receive buffer */
static int tbstream_rings_alloc(struct tbstream *s)
{
	const struct tbstream_backend_ops *ops = s->peer->ops;
	unsigned int i;
	int ret;

	s->nframes = s->ring_size - 1;
	ret = tbstream_ring_init(s, &s->tx, TBSTREAM_OUT);
	if (ret)
		return ret;
	ret = tbstream_ring_init(s, &s->rx, TBSTREAM_IN);
	if (ret)
		goto err_free_tx_frames;

	ret = ops->ring_alloc(&s->tx);
	if (ret)
		goto err_free_rx_frames;
	s->rx.e2e_tx_hop = s->tx.hop;
	ret = ops->ring_alloc(&s->rx);
	if (ret)
		goto err_free_tx_ring;

	s->tx_head = 0;
	s->tx_tail = 0;
	s->tx_pending = 0;
	s->tx_data = false;
	s->rx_head = 0;
	s->rx_ready = 0;
	s->rx_off = 0;
	s->irq_armed = BIT(TBSTREAM_TX_ARMED) | BIT(TBSTREAM_RX_ARMED);
	ops->ring_start(&s->tx);
	ops->ring_start(&s->rx);
	for (i = 0; i < s->nframes; i++) {
		ret = tbstream_post_rx(s, &s->rx.frames[i]);
		if (ret)
			goto err_stop_rings;
	}
	s->paths[TBSTREAM_OUT] = s->hop[TBSTREAM_OUT].hopid;
	s->paths[TBSTREAM_IN] = s->hop[TBSTREAM_IN].hopid;
	return 0;

err_stop_rings:
	ops->ring_stop(&s->rx);
	ops->ring_stop(&s->tx);
	ops->ring_free(&s->rx);
err_free_tx_ring:
	ops->ring_free(&s->tx);
err_free_rx_frames:
	tbstream_free_frames(s->rx.frames, s->nframes);
err_free_tx_frames:
	tbstream_free_frames(s->tx.frames, s->nframes);
	return ret;
}

/*
 * Free the frames of a stopped ring, or leave them to the reader or
 * writer copying some of them now, which frees them when it is done.
 */
static void tbstream_release_frames(struct tbstream *s,
				    struct tbstream_ring *ring,
				    struct mutex *lock,
				    struct tbstream_copier *copier)
{
	struct tbstream_frame *frames = ring->frames;

	mutex_lock(lock);
	ring->frames = NULL;
	if (copier->active) {
		WARN_ON_ONCE(copier->orphans);
		copier->active = false;
		copier->orphans = frames;
		copier->count = s->nframes;
		frames = NULL;
	}
	mutex_unlock(lock);
	if (frames)
		tbstream_free_frames(frames, s->nframes);
}

/*
 * A reader or writer is done copying, with its ring mutex held again.
 * Returns true when the ring still runs and takes the frames back;
 * otherwise the copier must leave the ring alone, and the frames that a
 * teardown left to it are freed.
 */
static bool tbstream_copy_end(struct tbstream *s,
			      struct tbstream_copier *copier)
{
	if (copier->active) {
		copier->active = false;
		return !tbstream_stopped(s);
	}
	tbstream_free_frames(copier->orphans, copier->count);
	copier->orphans = NULL;
	return false;
}

/*
 * Tear the rings down, without any lock: the caller owns them. Paths go
 * down before the rings stop: some routers never clear a hop's pending
 * bit when the ring stops first (the order thunderbolt-net uses).
 */
static void tbstream_teardown(struct tbstream *s, bool paths_enabled)
{
	struct tbstream_peer *peer = s->tx.peer;
	const struct tbstream_backend_ops *ops = peer->ops;

	/* I/O checks the rings' state under these: now nobody uses them */
	mutex_lock(&s->tx_mutex);
	mutex_unlock(&s->tx_mutex);
	mutex_lock(&s->rx_mutex);
	mutex_unlock(&s->rx_mutex);

	if (paths_enabled) {
		ops->disable_paths(peer, s->paths[TBSTREAM_OUT], &s->tx,
				   s->paths[TBSTREAM_IN], &s->rx);
		trace_tbstream_paths(s, false, 0);
	}
	ops->ring_stop(&s->tx);
	ops->ring_stop(&s->rx);
	ops->ring_free(&s->rx);
	ops->ring_free(&s->tx);
	tbstream_release_frames(s, &s->rx, &s->rx_mutex, &s->rx_copier);
	tbstream_release_frames(s, &s->tx, &s->tx_mutex, &s->tx_copier);
}

/*
 * Tear down the rings that the caller owns or now takes over, without
 * @s->lock, and make them idle. Returns with @s->lock held.
 */
static void tbstream_stop_owned(struct tbstream *s, bool paths_enabled)
{
	tbstream_set_rings(s, TBSTREAM_RINGS_STOPPING);
	mutex_unlock(&s->lock);
	tbstream_teardown(s, paths_enabled);
	mutex_lock(&s->lock);
	tbstream_set_rings(s, TBSTREAM_RINGS_IDLE);
}

/*
 * Bring the stream up: rings, then every receive buffer, then the paths,
 * so that the first frame the peer sends finds a buffer. The paths are
 * enabled without @s->lock; a detach meanwhile leaves the rings to us.
 * Called with the rings idle; returns with @s->lock held, the rings
 * running, or idle and an error: -ENXIO when detached meanwhile.
 */
static int tbstream_start(struct tbstream *s)
{
	struct tbstream_peer *peer = s->peer;
	unsigned int gen = s->gen;
	int ret;

	lockdep_assert_held(&s->lock);

	ret = tbstream_rings_alloc(s);
	if (ret)
		goto out_warn;

	tbstream_peer_get(peer);
	tbstream_set_rings(s, TBSTREAM_RINGS_STARTING);
	mutex_unlock(&s->lock);
	ret = peer->ops->enable_paths(peer, s->paths[TBSTREAM_OUT], &s->tx,
				      s->paths[TBSTREAM_IN], &s->rx);
	trace_tbstream_paths(s, true, ret);
	mutex_lock(&s->lock);
	if (!ret && s->gen == gen) {
		tbstream_set_rings(s, TBSTREAM_RINGS_RUNNING);
	} else {
		tbstream_stop_owned(s, !ret);
		if (s->gen != gen)
			ret = -ENXIO;
		else
			dev_warn_ratelimited(peer->dev, "%s: cannot start: %d\n",
					     s->name, ret);
	}
	tbstream_peer_put(peer);
	return ret;

out_warn:
	dev_warn_ratelimited(peer->dev, "%s: cannot start: %d\n", s->name, ret);
	return ret;
}

/* Stop running rings. Returns with @s->lock held, which it drops meanwhile */
static void tbstream_stop(struct tbstream *s)
{
	struct tbstream_peer *peer = s->tx.peer;

	lockdep_assert_held(&s->lock);

	if (s->rings != TBSTREAM_RINGS_RUNNING)
		return;
	tbstream_peer_get(peer);
	tbstream_stop_owned(s, true);
	tbstream_peer_put(peer);
}

/* Index of the frame after @i in a ring of frames */
static unsigned int tbstream_next(const struct tbstream *s, unsigned int i)
{
	return ++i == s->nframes ? 0 : i;
}

/* Take completed transmit frames back; they complete in order */
static void tbstream_tx_reap(struct tbstream *s)
{
	struct ring_frame *frame;

	lockdep_assert_held(&s->tx_mutex);

	while ((frame = s->tx.peer->ops->poll(&s->tx))) {
		WARN_ON_ONCE(frame != &s->tx.frames[s->tx_tail].frame);
		trace_tbstream_frame_done(s, TBSTREAM_OUT, s->tx_tail, frame);
		s->tx_tail = tbstream_next(s, s->tx_tail);
		s->tx_pending--;
	}
}

static bool tbstream_tx_full(const struct tbstream *s)
{
	return s->tx_pending == s->nframes;
}

static void tbstream_arm(struct tbstream *s, struct tbstream_ring *ring,
			 int bit)
{
	if (!test_and_set_bit(bit, &s->irq_armed))
		ring->peer->ops->poll_complete(ring);
}

/* Queue the frame at the head, holding @len bytes, with EOF PDF @eof */
static int tbstream_tx_queue(struct tbstream *s, size_t len, u32 eof)
{
	struct tbstream_frame *tf = &s->tx.frames[s->tx_head];
	int ret;

	lockdep_assert_held(&s->tx_mutex);

	tf->frame.size = len; /* 12 bits: 4096 becomes 0, as it should */
	tf->frame.sof = TBSTREAM_PDF_SOF;
	tf->frame.eof = eof;
	ret = s->tx.peer->ops->enqueue(&s->tx, &tf->frame);
	if (ret)
		return ret;

	trace_tbstream_frame_queued(s, TBSTREAM_OUT, s->tx_head, &tf->frame);
	s->tx_data = eof == TBSTREAM_PDF_DATA;
	s->tx_head = tbstream_next(s, s->tx_head);
	s->tx_pending++;
	s->stats.tx_frames++;
	s->stats.tx_bytes += len;
	return 0;
}

/* Take a ring mutex; %TBSTREAM_IO_NOWAIT only tries */
static int tbstream_lock_ring(struct mutex *lock, unsigned int flags)
{
	if (!(flags & TBSTREAM_IO_NOWAIT)) {
		mutex_lock(lock);
		return 0;
	}
	return mutex_trylock(lock) ? 0 : -EAGAIN;
}

/*
 * Fill the free frames from @from, @room of them from @head on, without
 * @tx_mutex: nobody else touches frames that are not queued. Returns how
 * many were filled; the source faulted when fewer than it had bytes for.
 */
static unsigned int tbstream_tx_fill(struct tbstream *s,
				     struct tbstream_frame *frames,
				     unsigned int head, unsigned int room,
				     struct iov_iter *from)
{
	unsigned int i = head, n;
	size_t len;

	for (n = 0; n < room && iov_iter_count(from); n++) {
		len = min_t(size_t, iov_iter_count(from), TBSTREAM_FRAME_SIZE);
		if (!copy_from_iter_full(frames[i].buf, len, from))
			break;
		frames[i].frame.size = len;
		i = tbstream_next(s, i);
	}
	return n;
}

/*
 * The ring is full with bytes left to write: count the stall (once per
 * wait) and arm the interrupt that tells of credits.
 */
static void tbstream_tx_stall(struct tbstream *s, bool progress,
			      bool *stalled)
{
	if (progress || !*stalled)
		s->stats.credit_stalls++;
	*stalled = true;
	if (!s->busy_poll)
		tbstream_arm(s, &s->tx, TBSTREAM_TX_ARMED);
}

/*
 * Queue as much of @from as the transmit ring takes, copying it without
 * @tx_mutex. Sets *@wait when the ring is full with bytes left and its
 * interrupt is armed: the writer then waits for credits.
 *
 * Return: bytes queued; 0 when the rings are not up; -EPIPE once the
 * peer has closed; -ENXIO when the rings stopped while copying; -EFAULT;
 * -EAGAIN for a contended lock with %TBSTREAM_IO_NOWAIT.
 */
static ssize_t tbstream_tx_copy(struct tbstream *s, struct iov_iter *from,
				unsigned int flags, bool *stalled, bool *wait)
{
	struct tbstream_frame *frames;
	unsigned int head, room, n;
	ssize_t copied = 0;
	size_t len;
	int ret;

	*wait = false;
	ret = tbstream_lock_ring(&s->tx_mutex, flags);
	if (ret)
		return ret;
	if (tbstream_stopped(s))
		goto out_unlock;
	if (tbstream_peer_has_closed(s)) {
		ret = -EPIPE;
		goto out_unlock;
	}
	tbstream_tx_reap(s);
	room = s->nframes - s->tx_pending;
	if (!room) {
		tbstream_tx_stall(s, false, stalled);
		*wait = true;
		goto out_unlock;
	}
	frames = s->tx.frames;
	head = s->tx_head;
	s->tx_copier.active = true;
	mutex_unlock(&s->tx_mutex);

	n = tbstream_tx_fill(s, frames, head, room, from);

	mutex_lock(&s->tx_mutex);
	if (!tbstream_copy_end(s, &s->tx_copier)) {
		ret = -ENXIO;
		goto out_unlock;
	}
	if (!n)
		ret = -EFAULT;
	for (; n; n--) {
		len = tbstream_frame_len(&frames[s->tx_head].frame);
		ret = tbstream_tx_queue(s, len, TBSTREAM_PDF_DATA);
		if (ret)
			break;
		copied += len;
	}
	if (copied && iov_iter_count(from)) {
		tbstream_tx_reap(s);
		if (tbstream_tx_full(s)) {
			tbstream_tx_stall(s, true, stalled);
			*wait = true;
		}
	}
out_unlock:
	mutex_unlock(&s->tx_mutex);
	return copied ?: ret;
}

/* Receive */

static bool tbstream_rx_bad(const struct ring_frame *frame)
{
	return frame->flags & (RING_DESC_CRC_ERROR | RING_DESC_BUFFER_OVERRUN);
}

static void tbstream_set_peer_closed(struct tbstream *s)
{
	spin_lock(&s->state_lock);
	WRITE_ONCE(s->peer_closed, true);
	spin_unlock(&s->state_lock);
	wake_up(&s->tx_wait);
}

/* Index of the receive frame to complete next: after the ready ones */
static unsigned int tbstream_rx_done(const struct tbstream *s)
{
	unsigned int i = s->rx_head + s->rx_ready;

	return i < s->nframes ? i : i - s->nframes;
}

/* Take completed receive frames; they complete in the order posted */
static void tbstream_rx_reap(struct tbstream *s)
{
	struct ring_frame *frame;

	lockdep_assert_held(&s->rx_mutex);

	while ((frame = s->rx.peer->ops->poll(&s->rx))) {
		WARN_ON_ONCE(frame != &s->rx.frames[tbstream_rx_done(s)].frame);
		trace_tbstream_frame_done(s, TBSTREAM_IN, tbstream_rx_done(s),
					  frame);
		s->rx_ready++;
		s->stats.rx_frames++;
		if (frame->eof == TBSTREAM_PDF_CLOSE) {
			trace_tbstream_close_received(s);
			tbstream_set_peer_closed(s);
		}
	}
}

/*
 * Re-enable the receive interrupt, then look at the ring again: the NHI
 * need not signal a frame that completed while the interrupt was masked,
 * and one may have just before. Returns whether frames are ready.
 */
static bool tbstream_rx_arm(struct tbstream *s)
{
	lockdep_assert_held(&s->rx_mutex);

	tbstream_arm(s, &s->rx, TBSTREAM_RX_ARMED);
	tbstream_rx_reap(s);
	return s->rx_ready;
}

/* The frame at the head has been read: give the buffer back to the ring */
static int tbstream_rx_consume(struct tbstream *s)
{
	struct tbstream_frame *tf = &s->rx.frames[s->rx_head];

	s->rx_head = tbstream_next(s, s->rx_head);
	s->rx_ready--;
	s->rx_off = 0;
	return tbstream_post_rx(s, tf);
}

/*
 * Copy the @ready frames from @head on, starting @*off bytes into the
 * first, to @to, without @rx_mutex: the ring does not hold frames that
 * have completed and are not given back. Stops at the CLOSE frame and at
 * a frame with an error (*@bad when it comes first). Returns the bytes
 * copied; *@done is set to the frames read whole, *@off to the bytes read
 * of the next one and *@fault when @to faulted.
 */
static size_t tbstream_rx_fill(struct tbstream *s,
			       const struct tbstream_frame *frames,
			       unsigned int head, unsigned int ready,
			       struct iov_iter *to, unsigned int *done,
			       unsigned int *off, bool *bad, bool *fault)
{
	const struct tbstream_frame *tf;
	size_t copied = 0, len, n;
	unsigned int i = head;

	for (*done = 0; *done < ready && iov_iter_count(to); (*done)++) {
		tf = &frames[i];
		if (tf->frame.eof == TBSTREAM_PDF_CLOSE)
			break;
		if (tbstream_rx_bad(&tf->frame)) {
			*bad = !copied;
			break;
		}
		len = tbstream_frame_len(&tf->frame) - *off;
		n = copy_to_iter(tf->buf + *off, len, to);
		copied += n;
		if (n < len) {
			*off += n;
			*fault = iov_iter_count(to);
			break;
		}
		*off = 0;
		i = tbstream_next(s, i);
	}
	return copied;
}

/*
 * Copy received bytes to @to, without @rx_mutex while copying. A frame
 * with an error is reported as -EIO once the bytes before it have been
 * returned; the CLOSE frame marks the end of the stream and stays at the
 * head, so EOF is sticky. With nothing received, arms the interrupt.
 *
 * Return: bytes copied; 0 when nothing is there, at the CLOSE frame or
 * when the rings are not up; -EIO; -EFAULT; -EAGAIN for a contended lock
 * with %TBSTREAM_IO_NOWAIT.
 */
static ssize_t tbstream_rx_copy(struct tbstream *s, struct iov_iter *to,
				unsigned int flags)
{
	unsigned int head, ready, done, off;
	bool bad = false, fault = false;
	struct tbstream_frame *frames;
	ssize_t copied = 0;
	int ret;

	ret = tbstream_lock_ring(&s->rx_mutex, flags);
	if (ret)
		return ret;
	if (tbstream_stopped(s))
		goto out_unlock;
	tbstream_rx_reap(s);
	if (!s->rx_ready && (s->busy_poll || !tbstream_rx_arm(s)))
		goto out_unlock;
	frames = s->rx.frames;
	head = s->rx_head;
	ready = s->rx_ready;
	off = s->rx_off;
	s->rx_copier.active = true;
	mutex_unlock(&s->rx_mutex);

	copied = tbstream_rx_fill(s, frames, head, ready, to, &done, &off,
				  &bad, &fault);

	mutex_lock(&s->rx_mutex);
	s->stats.rx_bytes += copied;
	/* Torn down meanwhile: what was copied was received all the same */
	if (!tbstream_copy_end(s, &s->rx_copier))
		goto out_unlock;
	for (; done && !ret; done--)
		ret = tbstream_rx_consume(s);
	if (!ret)
		s->rx_off = off;
	if (!ret && bad) {
		s->stats.rx_errors++;
		ret = tbstream_rx_consume(s) ?: -EIO;
	} else if (!ret && fault) {
		ret = -EFAULT;
	}
out_unlock:
	mutex_unlock(&s->rx_mutex);
	return copied ?: ret;
}

/* Files and their state */

static unsigned int tbstream_openers(struct tbstream *s)
{
	unsigned int openers;

	spin_lock(&s->state_lock);
	openers = s->openers;
	spin_unlock(&s->state_lock);
	return openers;
}

/* Settings cannot change while open, or while the last close drains */
static bool tbstream_in_use(struct tbstream *s)
{
	bool busy;

	spin_lock(&s->state_lock);
	busy = s->openers || s->rings != TBSTREAM_RINGS_IDLE;
	spin_unlock(&s->state_lock);
	return busy;
}

static enum tbstream_file_state tbstream_file_state(struct tbstream_file *f)
{
	struct tbstream *s = f->stream;
	enum tbstream_file_state state;

	spin_lock(&s->state_lock);
	if (s->dead)
		state = TBSTREAM_FILE_REMOVED;
	else if (f->gen != s->gen || f->closed)
		state = TBSTREAM_FILE_DETACHED;
	else if (tbstream_rings_up(s->rings))
		state = TBSTREAM_FILE_RUNNING;
	else if (s->peer && s->rings == TBSTREAM_RINGS_IDLE)
		state = TBSTREAM_FILE_STOPPED;
	else if (s->peer)
		state = TBSTREAM_FILE_BUSY;
	else
		state = TBSTREAM_FILE_WAITING;
	spin_unlock(&s->state_lock);

	return state;
}

static bool tbstream_file_changed(struct tbstream_file *f,
				  enum tbstream_file_state state)
{
	return tbstream_file_state(f) != state;
}

/*
 * Make sure the rings of @f's attachment run: start them when attached,
 * wait for the attachment, or for another task's start or stop,
 * otherwise. Starting them sleeps, which %TBSTREAM_IO_NOWAIT does not
 * allow.
 *
 * Return: 0 when running, 1 when the stream has been removed, or -errno.
 */
static int tbstream_get_running(struct tbstream_file *f, unsigned int flags)
{
	struct tbstream *s = f->stream;
	enum tbstream_file_state state;
	int ret;

	for (;;) {
		state = tbstream_file_state(f);
		switch (state) {
		case TBSTREAM_FILE_RUNNING:
			return 0;
		case TBSTREAM_FILE_REMOVED:
			return 1;
		case TBSTREAM_FILE_DETACHED:
			return -ENXIO;
		case TBSTREAM_FILE_STOPPED:
			if (flags & TBSTREAM_IO_NOWAIT)
				return -EAGAIN;
			mutex_lock(&s->lock);
			ret = 0;
			if (tbstream_file_state(f) == TBSTREAM_FILE_STOPPED)
				ret = tbstream_hopids_held(s) ?
				      tbstream_start(s) : -EINVAL;
			mutex_unlock(&s->lock);
			if (ret)
				return ret;
			break;
		case TBSTREAM_FILE_WAITING:
		case TBSTREAM_FILE_BUSY:
			if (flags & TBSTREAM_IO_NONBLOCK)
				return -EAGAIN;
			ret = wait_event_interruptible(s->rx_wait,
						       tbstream_file_changed(f, state));
			if (ret)
				return ret;
			break;
		}
	}
}

static bool tbstream_rx_wake(struct tbstream *s)
{
	return !test_bit(TBSTREAM_RX_ARMED, &s->irq_armed) ||
	       tbstream_stopped(s);
}

static bool tbstream_tx_wake(struct tbstream *s)
{
	return !test_bit(TBSTREAM_TX_ARMED, &s->irq_armed) ||
	       !test_bit(TBSTREAM_RX_ARMED, &s->irq_armed) ||
	       tbstream_stopped(s) || tbstream_peer_has_closed(s);
}

/*
 * A writer waiting for credits must notice the peer's CLOSE even when
 * nobody reads: take what has arrived and, to sleep, arm the receive
 * interrupt as well.
 */
static void tbstream_watch_rx(struct tbstream *s, bool arm)
{
	mutex_lock(&s->rx_mutex);
	if (!tbstream_stopped(s)) {
		tbstream_rx_reap(s);
		/*
		 * Watched after arming: an interrupt in between has cleared
		 * RX_ARMED already, which tbstream_tx_wake() sees.
		 */
		if (arm) {
			tbstream_rx_arm(s);
			set_bit(TBSTREAM_RX_WATCHED, &s->irq_armed);
		}
	}
	mutex_unlock(&s->rx_mutex);
}

/* Sleep (or spin with busy_poll) until the ring has news for us */
static int tbstream_wait(struct tbstream *s, bool tx)
{
	if (READ_ONCE(s->busy_poll)) {
		if (signal_pending(current))
			return -ERESTARTSYS;
		cond_resched();
		return 0;
	}
	if (tx) {
		atomic64_inc(&s->stats.writer_wakeups);
		return wait_event_interruptible(s->tx_wait,
						tbstream_tx_wake(s));
	}
	atomic64_inc(&s->stats.reader_wakeups);
	return wait_event_interruptible(s->rx_wait, tbstream_rx_wake(s));
}

/*
 * Take @lock, &tbstream.read_mutex or &tbstream.write_mutex, with the
 * rings of @f's attachment running. They may stop while it is held, which
 * the ring mutexes tell. Only %TBSTREAM_IO_NOWAIT gives up on a contended
 * lock; O_NONBLOCK waits for it as a pipe does for its mutex.
 *
 * Return: 0 with @lock held, 1 when the stream has been removed, -errno.
 */
static int tbstream_lock_io(struct tbstream_file *f, struct mutex *lock,
			    unsigned int flags)
{
	int ret;

	for (;;) {
		if (flags & TBSTREAM_IO_NOWAIT)
			ret = mutex_trylock(lock) ? 0 : -EAGAIN;
		else
			ret = mutex_lock_interruptible(lock);
		if (ret)
			return ret;
		if (tbstream_file_state(f) == TBSTREAM_FILE_RUNNING)
			return 0;
		mutex_unlock(lock);
		ret = tbstream_get_running(f, flags);
		if (ret)
			return ret;
	}
}

/**
 * tbstream_read() - Read bytes received from the peer
 * @f: Open file
 * @to: Destination
 * @flags: %TBSTREAM_IO_NONBLOCK: return -EAGAIN instead of waiting for
 *	   data; %TBSTREAM_IO_NOWAIT: nor sleep at all
 *
 * Blocks until at least one byte is available, then returns what is there.
 *
 * Context: Process context.
 * Return: Bytes read; 0 at end of stream (the peer closed, or the stream
 * was removed); -EIO for a frame received with an error; -ENXIO when the
 * cable went away; -EAGAIN, -ERESTARTSYS, -EFAULT.
 */
ssize_t tbstream_read(struct tbstream_file *f, struct iov_iter *to,
		      unsigned int flags)
{
	struct tbstream *s = f->stream;
	ssize_t ret;

	if (!iov_iter_count(to))
		return 0;

	for (;;) {
		ret = tbstream_lock_io(f, &s->read_mutex, flags);
		if (ret)
			return ret > 0 ? 0 : ret;
		ret = tbstream_rx_copy(s, to, flags);
		mutex_unlock(&s->read_mutex);

		if (ret || tbstream_peer_has_closed(s))
			return ret;
		/* Stopped meanwhile: tbstream_lock_io() tells why */
		if (tbstream_stopped(s))
			continue;
		if (flags & TBSTREAM_IO_NONBLOCK)
			return -EAGAIN;
		ret = tbstream_wait(s, false);
		if (ret)
			return ret;
	}
}

/**
 * tbstream_write() - Send bytes to the peer
 * @f: Open file
 * @from: Source
 * @flags: %TBSTREAM_IO_NONBLOCK: return what fits (or -EAGAIN) instead
 *	   of waiting for credits; %TBSTREAM_IO_NOWAIT: nor sleep at all
 *
 * Context: Process context.
 * Return: Bytes accepted, which may be fewer than asked when interrupted
 * or non-blocking; -EPIPE once the peer has closed; -ENXIO when the cable
 * went away or the stream was removed; -EAGAIN, -ERESTARTSYS, -EFAULT.
 */
ssize_t tbstream_write(struct tbstream_file *f, struct iov_iter *from,
		       unsigned int flags)
{
	struct tbstream *s = f->stream;
	bool stalled = false, wait;
	ssize_t copied = 0;
	ssize_t ret;

	while (iov_iter_count(from)) {
		ret = tbstream_lock_io(f, &s->write_mutex, flags);
		if (ret)
			return copied ?: (ret > 0 ? -ENXIO : ret);
		ret = tbstream_tx_copy(s, from, flags, &stalled, &wait);
		mutex_unlock(&s->write_mutex);

		if (ret < 0)
			return copied ?: ret;
		copied += ret;
		/* Room freed meanwhile, or the rings stopped: try again */
		if (!wait)
			continue;
		if (flags & TBSTREAM_IO_NONBLOCK)
			return copied ?: -EAGAIN;
		tbstream_watch_rx(s, !s->busy_poll);
		if (tbstream_peer_has_closed(s))
			return copied ?: -EPIPE;
		ret = tbstream_wait(s, true);
		if (ret)
			return copied ?: ret;
	}
	return copied;
}

/*
 * poll() sleeps even with busy_poll: it arms the completion interrupts of
 * the rings it waits for. The rings stop only with both ring mutexes
 * held, so they are checked again under each one: a stop that came after
 * tbstream_get_running() has freed them.
 */
static __poll_t tbstream_poll_rx(struct tbstream *s)
{
	__poll_t mask = 0;

	mutex_lock(&s->rx_mutex);
	if (tbstream_stopped(s)) {
		mask = EPOLLERR;
	} else {
		tbstream_rx_reap(s);
		if (s->rx_ready || tbstream_rx_arm(s))
			mask = EPOLLIN | EPOLLRDNORM;
	}
	mutex_unlock(&s->rx_mutex);
	return mask;
}

static __poll_t tbstream_poll_tx(struct tbstream *s)
{
	__poll_t mask = 0;

	mutex_lock(&s->tx_mutex);
	if (tbstream_stopped(s)) {
		mask = EPOLLERR;
	} else {
		tbstream_tx_reap(s);
		if (!tbstream_tx_full(s))
			mask = EPOLLOUT | EPOLLWRNORM;
		else
			tbstream_arm(s, &s->tx, TBSTREAM_TX_ARMED);
	}
	mutex_unlock(&s->tx_mutex);
	return mask;
}

/**
 * tbstream_poll() - Report readiness of an open file
 * @f: Open file
 * @file: The file, for poll_wait()
 * @wait: Poll table
 *
 * Context: Process context.
 * Return: %EPOLLIN when read() would not block, %EPOLLOUT when write()
 * would not, %EPOLLHUP after the peer closed, %EPOLLHUP | %EPOLLERR when
 * the cable went away or the stream was removed.
 */
__poll_t tbstream_poll(struct tbstream_file *f, struct file *file,
		       poll_table *wait)
{
	struct tbstream *s = f->stream;
	__poll_t mask;

	poll_wait(file, &s->rx_wait, wait);
	poll_wait(file, &s->tx_wait, wait);

	switch (tbstream_get_running(f, TBSTREAM_IO_NONBLOCK)) {
	case 0:
		break;
	case -EAGAIN:
		return 0;
	default:
		return EPOLLHUP | EPOLLERR;
	}

	mask = tbstream_poll_rx(s);
	if (!(mask & EPOLLERR))
		mask |= tbstream_poll_tx(s);
	if (mask & EPOLLERR)
		return EPOLLHUP | EPOLLERR;
	if (tbstream_peer_has_closed(s))
		mask |= EPOLLHUP;
	return mask;
}

/* The stream was detached since generation @gen */
static bool tbstream_gen_changed(const struct tbstream *s, unsigned int gen)
{
	return READ_ONCE(s->gen) != gen;
}

/* Queue CLOSE when the ring has room; true once it is queued */
static bool tbstream_tx_close(struct tbstream *s)
{
	lockdep_assert_held(&s->tx_mutex);

	if (tbstream_tx_full(s))
		return false;
	memset(s->tx.frames[s->tx_head].buf, 0, TBSTREAM_CLOSE_SIZE);
	if (tbstream_tx_queue(s, TBSTREAM_CLOSE_SIZE, TBSTREAM_PDF_CLOSE))
		return false;
	trace_tbstream_close_sent(s);
	return true;
}

/* The drain may end: detached, or news on the transmit ring */
static bool tbstream_drain_wake(struct tbstream *s, unsigned int gen)
{
	return tbstream_tx_wake(s) || tbstream_gen_changed(s, gen);
}

/*
 * Wait until every accepted byte has left, then send CLOSE and wait for
 * it too. Called without @s->lock, by the owner of closing rings. Waits
 * as long as the peer takes frames; gives up after @timeout jiffies
 * without any (0: no limit; at most %TBSTREAM_CLOSE_TIMEOUT ms for a
 * session that sent no data), when the peer has closed (its readers will
 * not read the rest), when detached from generation @gen, or when killed.
 *
 * Return: 0 once all has left; -ETIMEDOUT, -EPIPE, -ENXIO or -EINTR with
 * frames left over, which the rings' stop then drops.
 */
static int tbstream_send_close(struct tbstream *s, unsigned int gen,
			       unsigned long timeout)
{
	unsigned long deadline;
	bool close_sent = false;
	unsigned int tail;
	long left;
	int ret;

	mutex_lock(&s->tx_mutex);
	if (!s->tx_data && (!timeout ||
			    timeout > msecs_to_jiffies(TBSTREAM_CLOSE_TIMEOUT)))
		timeout = msecs_to_jiffies(TBSTREAM_CLOSE_TIMEOUT);
	deadline = jiffies + timeout;
	for (;;) {
		tbstream_tx_reap(s);
		if (!close_sent && !tbstream_peer_has_closed(s))
			close_sent = tbstream_tx_close(s);
		if (!s->tx_pending) {
			ret = 0;
			break;
		}
		if (tbstream_gen_changed(s, gen)) {
			ret = -ENXIO;
			break;
		}
		if (tbstream_peer_has_closed(s)) {
			ret = -EPIPE;
			break;
		}
		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			break;
		}
		if (timeout && time_after_eq(jiffies, deadline)) {
			ret = -ETIMEDOUT;
			break;
		}

		tail = s->tx_tail;
		tbstream_arm(s, &s->tx, TBSTREAM_TX_ARMED);
		tbstream_watch_rx(s, true);
		mutex_unlock(&s->tx_mutex);
		/* Killable: a writer killed mid-transfer wants it aborted */
		left = max_t(long, deadline - jiffies, 1);
		if (timeout)
			wait_event_killable_timeout(s->tx_wait,
						    tbstream_drain_wake(s, gen),
						    left);
		else
			wait_event_killable(s->tx_wait,
					    tbstream_drain_wake(s, gen));
		mutex_lock(&s->tx_mutex);
		tbstream_tx_reap(s);
		/* Progress: the peer took frames, the deadline moves */
		if (s->tx_tail != tail)
			deadline = jiffies + timeout;
	}
	if (ret)
		dev_dbg(s->tx.peer->dev, "%s: %u frames not drained: %d\n",
			s->name, s->tx_pending, ret);
	mutex_unlock(&s->tx_mutex);
	return ret;
}

/*
 * End the session of the files open now: send CLOSE to the peer's
 * readers, starting the rings first when no file did any I/O (an empty
 * transfer ends too). Called with no other task owning the rings; drops
 * @s->lock while it drains, for up to @timeout jiffies without progress
 * (see tbstream_send_close()). Returns what tbstream_send_close() or
 * tbstream_start() returned, -ENXIO when detached, -EINVAL without
 * HopIDs; the rings run afterwards unless detached meanwhile.
 */
static int tbstream_close_session(struct tbstream *s, unsigned long timeout)
{
	struct tbstream_peer *peer = s->peer;
	unsigned int gen = s->gen;
	int ret;

	lockdep_assert_held(&s->lock);

	if (!peer)
		return -ENXIO;
	if (s->rings == TBSTREAM_RINGS_IDLE) {
		ret = tbstream_hopids_held(s) ? tbstream_start(s) : -EINVAL;
		if (ret)
			return ret;
	}

	tbstream_peer_get(peer);
	tbstream_set_rings(s, TBSTREAM_RINGS_CLOSING);
	mutex_unlock(&s->lock);
	ret = tbstream_send_close(s, gen, timeout);
	mutex_lock(&s->lock);
	if (s->gen == gen)
		tbstream_set_rings(s, TBSTREAM_RINGS_RUNNING);
	else
		tbstream_stop_owned(s, true);
	tbstream_peer_put(peer);
	return ret;
}

/**
 * tbstream_open() - Open a stream's character device
 * @s: Stream
 * @nonblock: Fail with -ENXIO instead of waiting for a detached stream
 *
 * Never sleeps on the stream (see "Theory of operation").
 *
 * Context: Process context, called with the misc device mutex held.
 * Return: The open file, or ERR_PTR(-ENXIO) when removed or detached and
 * @nonblock, ERR_PTR(-EINVAL) when attached without HopIDs,
 * ERR_PTR(-ENOMEM).
 */
struct tbstream_file *tbstream_open(struct tbstream *s, bool nonblock)
{
	struct tbstream_file *f;
	int ret = 0;

	f = kzalloc(sizeof(*f), GFP_KERNEL);
	if (!f)
		return ERR_PTR(-ENOMEM);

	spin_lock(&s->state_lock);
	if (s->dead || (!s->peer && nonblock))
		ret = -ENXIO;
	else if (s->peer && !tbstream_hopids_held(s))
		ret = -EINVAL;
	else
		s->openers++;
	f->gen = s->gen;
	spin_unlock(&s->state_lock);

	if (ret) {
		kfree(f);
		return ERR_PTR(ret);
	}
	f->stream = s;
	config_item_get(&s->item);
	return f;
}

/**
 * tbstream_flush() - Close an open file, telling what could not be sent
 * @f: Open file; it sees no I/O afterwards (-ENXIO)
 *
 * The last opener of an attachment drains the transmit ring, sends CLOSE
 * and stops the rings; when no file did any I/O, it starts them first, so
 * that the peer's readers see the end of an empty transfer too. The drain
 * waits as long as the peer takes frames, and up to the drain_timeout
 * module parameter while it takes none. tbstream_release() does all this
 * for a file that was not flushed. Only the first call does anything.
 *
 * Context: Process context.
 * Return: %0; when bytes accepted by write() were not all taken by the
 * peer, which loses them: -EPIPE when the peer closed first, -ENXIO when
 * the cable went away (also after the drain, for a file of an earlier
 * attachment), -ETIMEDOUT when the peer took nothing for
 * drain_timeout seconds, -EINTR when killed meanwhile. The error of
 * starting the rings, for a session without I/O.
 */
int tbstream_flush(struct tbstream_file *f)
{
	unsigned long timeout = READ_ONCE(tbstream_drain_timeout) * HZ;
	struct tbstream *s = f->stream;
	bool last;
	int ret = 0;

	mutex_lock(&s->lock);
	spin_lock(&s->state_lock);
	/* The session of a file detached ended without CLOSE */
	if (!f->closed && f->gen != s->gen && !s->dead)
		ret = -ENXIO;
	last = !f->closed && f->gen == s->gen && !--s->openers;
	f->closed = true;
	spin_unlock(&s->state_lock);
	if (last && !s->dead) {
		tbstream_wait_settled(s);
		/* Detached or removed meanwhile: not ours */
		if (f->gen == s->gen && !s->dead)
			ret = tbstream_close_session(s, timeout);
		/* Not opened again meanwhile: stop */
		if (f->gen == s->gen && !s->dead && !tbstream_openers(s) &&
		    s->rings == TBSTREAM_RINGS_RUNNING) {
			tbstream_stop(s);
			/* Follow what the peer changed while we ran */
			if (f->gen == s->gen) {
				tbstream_inherit(s);
				tbstream_advertise(s);
			}
		}
	}
	mutex_unlock(&s->lock);
	return ret;
}

/**
 * tbstream_release() - Free an open file
 * @f: Open file
 *
 * Closes it first as tbstream_flush() does, unless that was done.
 *
 * Context: Process context.
 */
void tbstream_release(struct tbstream_file *f)
{
	struct tbstream *s = f->stream;

	tbstream_flush(f);

	config_item_put(&s->item);
	kfree(f);
}

static int tbstream_fop_open(struct inode *inode, struct file *file)
{
	struct miscdevice *misc = file->private_data;
	struct tbstream *s = container_of(misc, struct tbstream, misc);
	struct tbstream_file *f;

	f = tbstream_open(s, file->f_flags & O_NONBLOCK);
	if (IS_ERR(f)) {
		trace_tbstream_error(s, TBSTREAM_TRACE_OPEN, PTR_ERR(f));
		return PTR_ERR(f);
	}
	file->private_data = f;
	file->f_mode |= FMODE_NOWAIT;
	return stream_open(inode, file);
}

static int tbstream_fop_release(struct inode *inode, struct file *file)
{
	tbstream_release(file->private_data);
	return 0;
}

/* RWF_NOWAIT (io_uring, preadv2) must not sleep, O_NONBLOCK not wait */
static unsigned int tbstream_io_flags(const struct kiocb *iocb)
{
	if (iocb->ki_flags & IOCB_NOWAIT)
		return TBSTREAM_IO_NONBLOCK | TBSTREAM_IO_NOWAIT;
	if (iocb->ki_filp->f_flags & O_NONBLOCK)
		return TBSTREAM_IO_NONBLOCK;
	return 0;
}

/* What a system call returns, traced when it is an error */
static ssize_t tbstream_traced(struct tbstream_file *f,
			       enum tbstream_trace_op op, ssize_t ret)
{
	if (ret < 0 && ret != -EAGAIN)
		trace_tbstream_error(f->stream, op, ret);
	return ret;
}

/* Only the close of the last descriptor of the file ends its session */
static int tbstream_fop_flush(struct file *file, fl_owner_t id)
{
	struct tbstream_file *f = file->private_data;

	if (file_count(file) > 1)
		return 0;
	return tbstream_traced(f, TBSTREAM_TRACE_CLOSE, tbstream_flush(f));
}

static ssize_t tbstream_fop_read_iter(struct kiocb *iocb, struct iov_iter *to)
{
	struct tbstream_file *f = iocb->ki_filp->private_data;

	return tbstream_traced(f, TBSTREAM_TRACE_READ,
			       tbstream_read(f, to, tbstream_io_flags(iocb)));
}

static ssize_t tbstream_fop_write_iter(struct kiocb *iocb,
				       struct iov_iter *from)
{
	struct tbstream_file *f = iocb->ki_filp->private_data;

	return tbstream_traced(f, TBSTREAM_TRACE_WRITE,
			       tbstream_write(f, from,
					      tbstream_io_flags(iocb)));
}

static __poll_t tbstream_fop_poll(struct file *file, poll_table *wait)
{
	return tbstream_poll(file->private_data, file, wait);
}

static const struct file_operations tbstream_fops = {
	.owner = THIS_MODULE,
	.open = tbstream_fop_open,
	.flush = tbstream_fop_flush,
	.release = tbstream_fop_release,
	.read_iter = tbstream_fop_read_iter,
	.write_iter = tbstream_fop_write_iter,
	.poll = tbstream_fop_poll,
};

/* debugfs */

static int tbstream_stats_show(struct seq_file *m, void *unused)
{
	struct tbstream *s = m->private;
	struct tbstream_stats st;

	mutex_lock(&s->tx_mutex);
	mutex_lock(&s->rx_mutex);
	st = s->stats;
	mutex_unlock(&s->rx_mutex);
	mutex_unlock(&s->tx_mutex);

	seq_printf(m, "tx_bytes %llu\n", st.tx_bytes);
	seq_printf(m, "tx_frames %llu\n", st.tx_frames);
	seq_printf(m, "rx_bytes %llu\n", st.rx_bytes);
	seq_printf(m, "rx_frames %llu\n", st.rx_frames);
	seq_printf(m, "irqs %lld\n", (long long)atomic64_read(&st.irqs));
	seq_printf(m, "reader_wakeups %lld\n",
		   (long long)atomic64_read(&st.reader_wakeups));
	seq_printf(m, "writer_wakeups %lld\n",
		   (long long)atomic64_read(&st.writer_wakeups));
	seq_printf(m, "credit_stalls %llu\n", st.credit_stalls);
	seq_printf(m, "rx_errors %llu\n", st.rx_errors);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(tbstream_stats);

/* Attach and detach */

static void tbstream_alloc_requested(struct tbstream *s,
				     enum tbstream_direction dir)
{
	struct tbstream_peer *peer = s->peer;
	int req = s->hop[dir].req;
	int hopid;

	if (req == TBSTREAM_HOPID_NONE)
		return;
	hopid = peer->ops->alloc_hopid(peer, dir, req);
	if (hopid < 0) {
		dev_warn(peer->dev, "%s: cannot allocate %s HopID %d: %d\n",
			 s->name, dir == TBSTREAM_IN ? "in" : "out", req, hopid);
		return;
	}
	tbstream_set_held(s, dir, hopid, false);
}

/* Returns 0, or the error of advertising: the caller then detaches @s */
static int tbstream_attach(struct tbstream *s, struct tbstream_peer *peer)
{
	int ret;

	lockdep_assert_held(&tbstream_lock);
	lockdep_assert_held(&s->lock);

	spin_lock(&s->state_lock);
	s->peer = peer;
	spin_unlock(&s->state_lock);

	tbstream_alloc_requested(s, TBSTREAM_IN);
	tbstream_alloc_requested(s, TBSTREAM_OUT);
	tbstream_inherit(s);
	ret = tbstream_advertise(s);
	trace_tbstream_attach(s, peer);
	wake_up(&s->rx_wait);
	return ret;
}

/*
 * The peer went away: end every file of this attachment with -ENXIO.
 * Running rings are left to the caller, on @stopping, to tear down once
 * it has dropped its locks (tbstream_stop_detached()); the rings that
 * another task owns, that task tears down.
 */
static void tbstream_detach(struct tbstream *s, struct list_head *stopping)
{
	struct tbstream_peer *peer = s->peer;

	lockdep_assert_held(&s->lock);

	if (!peer)
		return;
	trace_tbstream_detach(s, peer);
	if (s->rings == TBSTREAM_RINGS_RUNNING) {
		tbstream_set_rings(s, TBSTREAM_RINGS_STOPPING);
		config_item_get(&s->item);
		list_add_tail(&s->stop_node, stopping);
	}
	peer->ops->withdraw(peer, s->name);
	tbstream_release_hopid(s, TBSTREAM_IN);
	tbstream_release_hopid(s, TBSTREAM_OUT);

	spin_lock(&s->state_lock);
	s->peer = NULL;
	WRITE_ONCE(s->gen, s->gen + 1);
	s->openers = 0;
	spin_unlock(&s->state_lock);
	tbstream_wake_all(s);
}

/* Tear down the rings tbstream_detach() left on @stopping */
static void tbstream_stop_detached(struct list_head *stopping)
{
	struct tbstream *s, *n;

	list_for_each_entry_safe(s, n, stopping, stop_node) {
		list_del(&s->stop_node);
		tbstream_teardown(s, true);
		mutex_lock(&s->lock);
		tbstream_set_rings(s, TBSTREAM_RINGS_IDLE);
		mutex_unlock(&s->lock);
		config_item_put(&s->item);
	}
}

static struct tbstream_peer *tbstream_find_peer(const char *name)
{
	struct tbstream_peer *peer;

	lockdep_assert_held(&tbstream_lock);

	list_for_each_entry(peer, &tbstream_peers, node) {
		if (!strcmp(peer->name, name))
			return peer;
	}
	return NULL;
}

static struct tbstream_service *tbstream_find_service(const char *name)
{
	struct tbstream_service *svc;

	lockdep_assert_held(&tbstream_lock);

	list_for_each_entry(svc, &tbstream_services, node) {
		if (!strcmp(config_item_name(&svc->group.cg_item), name))
			return svc;
	}
	return NULL;
}

static int tbstream_service_attach(struct tbstream_service *svc,
				   struct tbstream_peer *peer)
{
	struct tbstream *s;
	int ret = 0;

	svc->peer = peer;
	peer->service = svc;
	list_for_each_entry(s, &svc->streams, node) {
		mutex_lock(&s->lock);
		ret = tbstream_attach(s, peer);
		mutex_unlock(&s->lock);
		if (ret)
			break;
	}
	return ret;
}

static void tbstream_service_detach(struct tbstream_service *svc,
				    struct list_head *stopping)
{
	struct tbstream *s;

	list_for_each_entry(s, &svc->streams, node) {
		mutex_lock(&s->lock);
		tbstream_detach(s, stopping);
		mutex_unlock(&s->lock);
	}
	svc->peer->service = NULL;
	svc->peer = NULL;
}

/**
 * tbstream_peer_register() - A backend found a peer's stream service
 * @peer: The peer, with name, device and operations filled in
 *
 * Attaches the ConfigFS service group of the same name, if there is one.
 *
 * Context: Process context; takes tbstream_lock and stream locks.
 * Return: %0, -EEXIST when a peer of that name is registered already, or
 * the error of advertising one of the group's streams (-ENOMEM); the peer
 * is then not registered.
 */
int tbstream_peer_register(struct tbstream_peer *peer)
{
	struct tbstream_service *svc;
	LIST_HEAD(stopping);
	int ret = 0;

	mutex_lock(&tbstream_lock);
	if (tbstream_find_peer(peer->name)) {
		ret = -EEXIST;
		goto out_unlock;
	}
	list_add_tail(&peer->node, &tbstream_peers);
	peer->service = NULL;
	svc = tbstream_find_service(peer->name);
	if (svc)
		ret = tbstream_service_attach(svc, peer);
	/* All or nothing: as if the peer had come and gone at once */
	if (ret) {
		tbstream_service_detach(svc, &stopping);
		list_del(&peer->node);
	}
out_unlock:
	mutex_unlock(&tbstream_lock);
	tbstream_stop_detached(&stopping);
	return ret;
}

/**
 * tbstream_peer_unregister() - The peer's service is gone
 * @peer: A registered peer
 *
 * Detaches its streams: their rings stop, their HopIDs and advertisements
 * go, blocked and later I/O of their open files fails with -ENXIO. The
 * configuration stays, to be applied again when the peer comes back.
 * Never waits for a task that starts, closes or stops a stream's rings:
 * the Thunderbolt core calls this with &tb.lock held, which such a task
 * may be waiting for. Those tasks hold references to @peer instead.
 *
 * Context: Process context; takes tbstream_lock and stream locks.
 */
void tbstream_peer_unregister(struct tbstream_peer *peer)
{
	LIST_HEAD(stopping);

	mutex_lock(&tbstream_lock);
	if (peer->service)
		tbstream_service_detach(peer->service, &stopping);
	list_del(&peer->node);
	mutex_unlock(&tbstream_lock);
	tbstream_stop_detached(&stopping);
}

/**
 * tbstream_peer_changed() - The peer's advertisement has changed
 * @peer: A registered peer
 *
 * Streams that take their HopIDs from the peer follow the change unless
 * their rings run.
 *
 * Context: Process context; takes tbstream_lock and stream locks.
 */
void tbstream_peer_changed(struct tbstream_peer *peer)
{
	struct tbstream *s;

	mutex_lock(&tbstream_lock);
	if (peer->service) {
		list_for_each_entry(s, &peer->service->streams, node) {
			mutex_lock(&s->lock);
			tbstream_inherit(s);
			tbstream_advertise(s);
			mutex_unlock(&s->lock);
		}
	}
	mutex_unlock(&tbstream_lock);
}

/* ConfigFS objects */

/**
 * tbstream_service_add() - Make a new service group known
 * @svc: Initialized service group
 *
 * Context: Process context (ConfigFS mkdir).
 */
void tbstream_service_add(struct tbstream_service *svc)
{
	INIT_LIST_HEAD(&svc->streams);
	mutex_lock(&tbstream_lock);
	list_add_tail(&svc->node, &tbstream_services);
	svc->peer = tbstream_find_peer(config_item_name(&svc->group.cg_item));
	if (svc->peer)
		svc->peer->service = svc;
	mutex_unlock(&tbstream_lock);
}

/**
 * tbstream_service_del() - Forget an empty service group
 * @svc: Service group without streams
 *
 * Context: Process context (ConfigFS rmdir).
 */
void tbstream_service_del(struct tbstream_service *svc)
{
	mutex_lock(&tbstream_lock);
	WARN_ON_ONCE(!list_empty(&svc->streams));
	if (svc->peer)
		svc->peer->service = NULL;
	list_del(&svc->node);
	mutex_unlock(&tbstream_lock);
}

/*
 * Attributes of the stream's misc device, which the udev rule turns into
 * TBSTREAM_SERVICE and TBSTREAM_NAME and the /dev/tbstream/by-name link.
 * misc_register() creates them before it sends the "add" uevent, and
 * misc_deregister() removes them and waits for their readers before the
 * stream can be freed; the service group cannot go before its streams.
 * Both names are set at mkdir and never change: no lock is needed.
 */
static struct tbstream *tbstream_from_dev(struct device *dev)
{
	struct miscdevice *misc = dev_get_drvdata(dev);

	return container_of(misc, struct tbstream, misc);
}

static ssize_t service_show(struct device *dev,
			    struct device_attribute *attr, char *buf)
{
	struct tbstream_service *svc = tbstream_from_dev(dev)->service;

	return sysfs_emit(buf, "%s\n", config_item_name(&svc->group.cg_item));
}
static DEVICE_ATTR_RO(service);

static ssize_t name_show(struct device *dev, struct device_attribute *attr,
			 char *buf)
{
	return sysfs_emit(buf, "%s\n", tbstream_from_dev(dev)->name);
}
static DEVICE_ATTR_RO(name);

static struct attribute *tbstream_dev_attrs[] = {
	&dev_attr_service.attr,
	&dev_attr_name.attr,
	NULL
};
ATTRIBUTE_GROUPS(tbstream_dev);

static void tbstream_init_stream(struct tbstream *s,
				 struct tbstream_service *svc,
				 const char *name)
{
	s->service = svc;
	strscpy(s->name, name, sizeof(s->name));
	mutex_init(&s->lock);
	mutex_init(&s->write_mutex);
	mutex_init(&s->read_mutex);
	mutex_init(&s->tx_mutex);
	mutex_init(&s->rx_mutex);
	spin_lock_init(&s->state_lock);
	init_waitqueue_head(&s->rx_wait);
	init_waitqueue_head(&s->tx_wait);
	atomic64_set(&s->stats.irqs, 0);
	atomic64_set(&s->stats.reader_wakeups, 0);
	atomic64_set(&s->stats.writer_wakeups, 0);
	s->ring_size = TBSTREAM_RING_SIZE_DEFAULT;
	s->throttling = TBSTREAM_THROTTLING_DEFAULT;
	snprintf(s->devname, sizeof(s->devname), "tbstream%d", s->index);
	s->misc.minor = MISC_DYNAMIC_MINOR;
	s->misc.name = s->devname;
	s->misc.fops = &tbstream_fops;
	s->misc.mode = 0600;
	s->misc.groups = tbstream_dev_groups;
}

/**
 * tbstream_create() - Create a stream and its character device
 * @svc: Parent service group
 * @name: Stream name, at most %TBSTREAM_NAME_MAX characters
 * @type: ConfigFS item type of the stream
 *
 * Context: Process context (ConfigFS mkdir).
 * Return: The stream, or an ERR_PTR: -ENOMEM, -ENOSPC, or what
 * misc_register() or advertising the stream returned.
 */
struct tbstream *tbstream_create(struct tbstream_service *svc,
				 const char *name,
				 const struct config_item_type *type)
{
	struct tbstream *s;
	int ret;

	s = kzalloc(sizeof(*s), GFP_KERNEL);
	if (!s)
		return ERR_PTR(-ENOMEM);
	s->index = ida_alloc(&tbstream_ida, GFP_KERNEL);
	if (s->index < 0) {
		ret = s->index;
		goto err_free;
	}
	tbstream_init_stream(s, svc, name);
	/* An open() may come as soon as the device is registered */
	config_item_init_type_name(&s->item, name, type);
	ret = misc_register(&s->misc);
	if (ret)
		goto err_free_index;
	s->debugfs = debugfs_create_dir(s->devname, tbstream_debugfs_root);
	debugfs_create_file("stats", 0400, s->debugfs, s,
			    &tbstream_stats_fops);

	mutex_lock(&tbstream_lock);
	list_add_tail(&s->node, &svc->streams);
	if (svc->peer) {
		mutex_lock(&s->lock);
		ret = tbstream_attach(s, svc->peer);
		mutex_unlock(&s->lock);
	}
	mutex_unlock(&tbstream_lock);
	/* Undone as rmdir does it: the device may be open already */
	if (ret) {
		tbstream_delete(s);
		config_item_put(&s->item);
		return ERR_PTR(ret);
	}
	return s;

err_free_index:
	ida_free(&tbstream_ida, s->index);
err_free:
	kfree(s);
	return ERR_PTR(ret);
}

/**
 * tbstream_delete() - Remove a stream (ConfigFS rmdir)
 * @s: Stream
 *
 * A running stream sends CLOSE first. Its device node disappears; files
 * still open read end of stream and fail writes with -ENXIO. The memory
 * goes with the last reference (tbstream_free()).
 *
 * Context: Process context.
 */
void tbstream_delete(struct tbstream *s)
{
	LIST_HEAD(stopping);

	/* Drain without holding up everybody else's ConfigFS operations */
	mutex_lock(&s->lock);
	tbstream_wait_settled(s);
	if (s->rings == TBSTREAM_RINGS_RUNNING || tbstream_openers(s))
		tbstream_close_session(s,
				       msecs_to_jiffies(TBSTREAM_RMDIR_TIMEOUT));
	/*
	 * Before the detach, so that no file sees it as an unplug; a
	 * detached stream's files wait for the attachment and wake here.
	 * Nothing starts the rings any more.
	 */
	spin_lock(&s->state_lock);
	s->dead = true;
	spin_unlock(&s->state_lock);
	tbstream_wake_all(s);
	tbstream_wait_settled(s);
	tbstream_stop(s);
	mutex_unlock(&s->lock);

	mutex_lock(&tbstream_lock);
	list_del(&s->node);
	mutex_lock(&s->lock);
	tbstream_detach(s, &stopping);
	mutex_unlock(&s->lock);
	mutex_unlock(&tbstream_lock);
	tbstream_stop_detached(&stopping);

	debugfs_remove_recursive(s->debugfs);
	misc_deregister(&s->misc);
}

/**
 * tbstream_free() - Free a removed stream
 * @s: Stream whose last reference is gone
 *
 * Context: Process context (ConfigFS item release).
 */
void tbstream_free(struct tbstream *s)
{
	ida_free(&tbstream_ida, s->index);
	mutex_destroy(&s->rx_mutex);
	mutex_destroy(&s->tx_mutex);
	mutex_destroy(&s->read_mutex);
	mutex_destroy(&s->write_mutex);
	mutex_destroy(&s->lock);
	kfree(s);
}

/* Settings, called by ConfigFS after parsing */

/*
 * Writing what is in effect changes nothing. A value asked for but not
 * held (the HopID was taken at attach time) is not in effect: writing it
 * again retries.
 */
static bool tbstream_hopid_in_effect(const struct tbstream *s,
				     const struct tbstream_hopid *hop, int value)
{
	if (value > 0 && value == hop->hopid)
		return true;
	if (value != hop->req)
		return false;
	return value == TBSTREAM_HOPID_NONE || !s->peer || hop->hopid;
}

/* Replace the HopID held for @dir by one for @value, or keep the old one */
static int tbstream_change_hopid(struct tbstream *s,
				 enum tbstream_direction dir, int value)
{
	struct tbstream_peer *peer = s->peer;
	int hopid = 0;

	if (value != TBSTREAM_HOPID_NONE) {
		hopid = peer->ops->alloc_hopid(peer, dir, value);
		if (hopid < 0)
			return hopid;
	}
	tbstream_release_hopid(s, dir);
	tbstream_set_held(s, dir, hopid, false);
	return 0;
}

/**
 * tbstream_set_hopid() - Set the in_hopid or out_hopid of a stream
 * @s: Stream
 * @dir: Which one
 * @value: %TBSTREAM_HOPID_AUTO, %TBSTREAM_HOPID_NONE or an exact HopID
 *
 * Writing the value already in effect changes nothing and succeeds. On
 * failure the HopID held before is kept, except when only advertising the
 * new one failed: that one is then held, and writing it again retries.
 *
 * Context: Process context.
 * Return: %0; -EINVAL for a value out of range, -EBUSY while open or when
 * the exact HopID is taken, -ENOSPC when no HopID is free, or the error
 * of advertising the stream (-ENOMEM, or -ENOSPC when the backend
 * advertises as many streams as it can).
 */
int tbstream_set_hopid(struct tbstream *s, enum tbstream_direction dir,
		       int value)
{
	struct tbstream_hopid *hop = &s->hop[dir];
	int ret = 0;

	if (value != TBSTREAM_HOPID_AUTO && value != TBSTREAM_HOPID_NONE &&
	    !tbstream_hopid_valid(value))
		return -EINVAL;

	mutex_lock(&s->lock);
	if (tbstream_hopid_in_effect(s, hop, value))
		goto out_set;
	if (tbstream_in_use(s)) {
		ret = -EBUSY;
		goto out_unlock;
	}
	if (s->peer) {
		ret = tbstream_change_hopid(s, dir, value);
		if (ret)
			goto out_unlock;
	}
out_set:
	hop->req = value;
	if (s->peer) {
		tbstream_inherit(s);
		ret = tbstream_advertise(s);
	}
out_unlock:
	mutex_unlock(&s->lock);
	return ret;
}

/**
 * tbstream_get_hopid() - Read the in_hopid or out_hopid of a stream
 * @s: Stream
 * @dir: Which one
 *
 * Context: Process context.
 * Return: The HopID held, or else the value asked for.
 */
int tbstream_get_hopid(struct tbstream *s, enum tbstream_direction dir)
{
	int value;

	mutex_lock(&s->lock);
	value = s->hop[dir].hopid ?: s->hop[dir].req;
	mutex_unlock(&s->lock);
	return value;
}

static int tbstream_set_uint(struct tbstream *s, unsigned int *field,
			     unsigned int value)
{
	int ret = 0;

	mutex_lock(&s->lock);
	if (*field != value) {
		if (tbstream_in_use(s))
			ret = -EBUSY;
		else
			*field = value;
	}
	mutex_unlock(&s->lock);
	return ret;
}

/**
 * tbstream_set_ring_size() - Set the number of entries of each ring
 * @s: Stream
 * @size: %TBSTREAM_RING_SIZE_MIN to %TBSTREAM_RING_SIZE_MAX
 *
 * Context: Process context.
 * Return: %0, -EINVAL out of range, -EBUSY while open.
 */
int tbstream_set_ring_size(struct tbstream *s, unsigned int size)
{
	if (size < TBSTREAM_RING_SIZE_MIN || size > TBSTREAM_RING_SIZE_MAX)
		return -EINVAL;
	return tbstream_set_uint(s, &s->ring_size, size);
}

/**
 * tbstream_set_throttling() - Set the interrupt throttling interval
 * @s: Stream
 * @ns: 0 to %TBSTREAM_THROTTLING_MAX nanoseconds
 *
 * Context: Process context.
 * Return: %0, -EINVAL out of range, -EBUSY while open.
 */
int tbstream_set_throttling(struct tbstream *s, unsigned int ns)
{
	if (ns > TBSTREAM_THROTTLING_MAX)
		return -EINVAL;
	return tbstream_set_uint(s, &s->throttling, ns);
}

/**
 * tbstream_set_busy_poll() - Make readers and writers spin, not sleep
 * @s: Stream
 * @enable: Spin when true
 *
 * Context: Process context.
 * Return: %0, -EBUSY while open.
 */
int tbstream_set_busy_poll(struct tbstream *s, bool enable)
{
	int ret = 0;

	mutex_lock(&s->lock);
	if (s->busy_poll != enable) {
		if (tbstream_in_use(s))
			ret = -EBUSY;
		else
			WRITE_ONCE(s->busy_poll, enable);
	}
	mutex_unlock(&s->lock);
	return ret;
}

static int __init tbstream_init(void)
{
	int ret;

	tbstream_debugfs_root = debugfs_create_dir(KBUILD_MODNAME, NULL);

	ret = tbstream_configfs_init();
	if (ret)
		goto err_remove_debugfs;

	ret = tbstream_sim_init();
	if (ret)
		goto err_configfs_exit;

	ret = tbstream_tb_init();
	if (ret)
		goto err_sim_exit;

	return 0;

err_sim_exit:
	tbstream_sim_exit();
err_configfs_exit:
	tbstream_configfs_exit();
err_remove_debugfs:
	debugfs_remove_recursive(tbstream_debugfs_root);
	return ret;
}
module_init(tbstream_init);

static void __exit tbstream_exit(void)
{
	tbstream_tb_exit();
	tbstream_sim_exit();
	tbstream_configfs_exit();
	debugfs_remove_recursive(tbstream_debugfs_root);
	ida_destroy(&tbstream_ida);
}
module_exit(tbstream_exit);

MODULE_DESCRIPTION("USB4STREAM: raw byte streams over USB4/Thunderbolt");
MODULE_LICENSE("GPL");
