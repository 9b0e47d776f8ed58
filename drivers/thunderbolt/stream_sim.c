// SPDX-License-Identifier: GPL-2.0
/*
 * USB4STREAM: simulated cable joining two hosts inside one kernel
 *
 * Copyright (C) 2026, The thunderbolt_stream developers
 */

#include <linux/bitmap.h>
#include <linux/completion.h>
#include <linux/debugfs.h>
#include <linux/device.h>
#include <linux/err.h>
#include <linux/idr.h>
#include <linux/irqflags.h>
#include <linux/jiffies.h>
#include <linux/list.h>
#include <linux/minmax.h>
#include <linux/mutex.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/workqueue.h>

#include "stream.h"

/**
 * DOC: Simulated cable
 *
 * A simulated cable joins two simulated hosts, A and B, inside one kernel.
 * Each host has its own stream core view: host A sees host B as the
 * service "<1000 + 2n>-1.0" and host B sees host A as "<1001 + 2n>-1.0",
 * where n is the cable number. Both are registered with the core as peers
 * and driven only through &struct tbstream_backend_ops, like the NHI
 * backend.
 *
 * Each host has what a &struct tb_xdomain gives a service driver: an
 * in and an out HopID space (8 to 63 by default), and a list of streams
 * it advertises to the other host. A change of one host's list is
 * reported to the other host's core from a work item of the cable.
 *
 * Rings follow the NHI frame mode contract of tb_ring_*() in polling mode:
 * a ring has @size descriptors of which at most @size - 1 carry frames;
 * further frames wait on a queue. Completed frames stay in their
 * descriptors until polled; a stopped ring polls nothing and returns every
 * frame it still holds, including completed but unpolled ones, to its
 * callback with @canceled set, as ring_work() in nhi.c does. The callbacks
 * get %NULL as their &struct tb_ring argument: there is no such ring here.
 *
 * The wire is one delayed work item per cable. It moves frames from each
 * running transmit ring with an enabled path to the other host's running
 * receive ring enabled for the transmit ring's HopID, pairing each
 * transmit frame with a posted receive buffer. That pairing is end-to-end
 * flow control: a transmit frame without a receive buffer stays in flight
 * until the ring stops. Nothing moves while the cable is unplugged or
 * stalled. After moving all it can, the work raises the "interrupt" of
 * every armed ring that has completed frames by calling its @start_poll
 * with local interrupts disabled; the interrupt stays off until
 * poll_complete(). So completions never run in the submitter's context,
 * and one interrupt covers a batch; @delay_us defers each pass.
 *
 * Differences from real hardware: no DMA mapping, and no copy either:
 * a transmit and a receive frame trade buffers (tbstream_sim_deliver());
 * @throttling is ignored (@delay_us stands in for it);
 * @e2e_tx_hop is recorded by the core but credits are modelled by the
 * pairing above rather than by the hop; HopIDs of both hosts share one
 * @hopid_max.
 */

#define TBSTREAM_SIM_HOPID_MAX		63	/* Largest HopID of a host */
#define TBSTREAM_SIM_HOPID_AUTO		9	/* First automatic HopID */
#define TBSTREAM_SIM_RING_HOPS		32	/* NHI ring hops 1 to 31 */

/**
 * struct tbstream_sim_advert - A stream a host advertises to the other
 * @node: Entry in &tbstream_sim_host.adverts
 * @name: Stream name, the XDomain property key
 * @in_hopid: HopID the advertising host receives the stream on
 * @out_hopid: HopID the advertising host transmits the stream on
 */
struct tbstream_sim_advert {
	struct list_head node;
	char name[TBSTREAM_NAME_MAX + 1];
	int in_hopid;
	int out_hopid;
};

/**
 * struct tbstream_sim_ring - State of one simulated NHI ring
 * @ring: The core's description of the ring
 * @host: Host whose NHI the ring belongs to
 * @node: Entry in &tbstream_sim_host.rings
 * @irq_node: Entry in the wire work's list of interrupts to raise; used
 *	      by the wire work only
 * @queue: Frames waiting for a free descriptor
 * @in_flight: Frames in descriptors, not completed, oldest first
 * @done: Completed frames not polled yet, oldest first
 * @used: Descriptors holding frames (@in_flight and @done); at most
 *	  @ring->size - 1, like NHI
 * @hopid: Transmit ring: the other host's HopID it sends to. Receive
 *	   ring: the HopID of its host that it receives. Valid while
 *	   @path_enabled.
 * @path_enabled: A DMA path goes through the ring
 * @running: Started and not stopped
 * @armed: The completion interrupt is enabled
 *
 * @ring and @host are constant; everything else but @irq_node is guarded
 * by &tbstream_sim_cable.wire_lock.
 */
struct tbstream_sim_ring {
	struct tbstream_ring *ring;
	struct tbstream_sim_host *host;
	struct list_head node;
	struct list_head irq_node;
	struct list_head queue;
	struct list_head in_flight;
	struct list_head done;
	unsigned int used;
	int hopid;
	bool path_enabled;
	bool running;
	bool armed;
};

/**
 * struct tbstream_sim_host - One of the two hosts a cable joins
 * @peer: The other host's stream service, as this host's core sees it
 * @cable: Cable the host is on
 * @end: Which end of @cable the host is
 * @hopids: HopIDs held, indexed by &enum tbstream_direction
 *	    (P: &tbstream_sim_cable.lock)
 * @adverts: Streams advertised, &struct tbstream_sim_advert
 *	     (P: &tbstream_sim_cable.lock)
 * @ring_hops: NHI hops of allocated rings, indexed by &enum tbstream_direction
 * @rings: Allocated rings, &struct tbstream_sim_ring
 *	   (P: &tbstream_sim_cable.wire_lock)
 * @inject_flags: Error flags for the next frame received
 *		  (P: &tbstream_sim_cable.wire_lock)
 * @registered: @peer is registered with the core
 *		(P: &tbstream_sim_cable.plug_lock)
 * @changed: The other host's advertisements changed since this host's
 *	     core was last told (P: &tbstream_sim_cable.lock)
 * @released: Completed when the core dropped its last reference to @peer
 */
struct tbstream_sim_host {
	struct tbstream_peer peer;
	struct tbstream_sim_cable *cable;
	enum tbstream_sim_end end;
	DECLARE_BITMAP(hopids[2], TBSTREAM_SIM_HOPID_MAX + 1);
	struct list_head adverts;
	struct ida ring_hops[2];
	struct list_head rings;
	u32 inject_flags;
	bool registered;
	bool changed;
	struct completion released;
};

/**
 * struct tbstream_sim_cable - A simulated cable and the hosts it joins
 * @id: Cable number
 * @node: Entry in &tbstream_sim_cables (P: &tbstream_sim_lock)
 * @dev: Root device "tbstream_sim<n>", the device of both peers
 * @host: The hosts, indexed by &enum tbstream_sim_end
 * @plug_lock: Serializes plugging, unplugging and the notifications to
 *	       the core. Guards @host[].registered; @plugged is written
 *	       under it, @cm_lock and @wire_lock. Taken outside the core's
 *	       locks.
 * @cm_lock: Stands for the connection manager's &tb.lock, and is taken
 *	     where tb.c takes that: held while the peers are unregistered
 *	     at unplug, as tb_handle_hotplug() holds it around the service
 *	     drivers' remove(); taken by enable_paths, and by disable_paths
 *	     unless the cable is unplugged, as tb_approve_xdomain_paths()
 *	     and tb_disconnect_xdomain_paths() do. Taken outside the core's
 *	     locks, so that lockdep sees the order the real core imposes.
 * @hold_paths: enable_paths waits for this to clear before it takes
 *		@cm_lock (tbstream_sim_hold_paths())
 * @hold_wait: enable_paths waits here while @hold_paths is set
 * @lock: Guards @host[].hopids, @host[].adverts, @host[].changed and
 *	  @hopid_max. Taken inside the core's mutexes, which are held around
 *	  most operations.
 * @wire_lock: Guards the rings (&struct tbstream_sim_ring), @host[].rings,
 *	       @host[].inject_flags, @plugged, @stall and @unmask_race. Taken with
 *	       interrupts off and inside the core's spinlocks (poll, enqueue
 *	       and poll_complete may run under them); never held while
 *	       calling into the core.
 * @plugged: Frames can move and the peers are registered
 * @stall: Nothing moves on the wire
 * @unmask_race: Frames move only when a receive ring's interrupt is
 *		 re-enabled, just before, and raise no interrupt
 * @delay_us: Delay of each pass of @work after a kick
 * @hopid_max: Largest HopID either host can allocate
 *
 * @plugged, @stall, @delay_us and @hopid_max are written with WRITE_ONCE():
 * debugfs reads them with READ_ONCE(), without the locks.
 * @wq: Ordered workqueue running @work
 * @work: The wire: moves frames and raises interrupts
 * @changed_work: Tells the core of each host with @host[].changed set
 *		  that the other host's advertisements changed. Not on @wq:
 *		  it takes the core's locks, which are held around
 *		  ring_stop(), and ring_stop() waits for @work.
 * @debugfs: The cable<n> directory
 */
struct tbstream_sim_cable {
	unsigned int id;
	struct list_head node;
	struct device *dev;
	struct tbstream_sim_host host[2];
	struct mutex plug_lock; /* plugging and core notifications */
	struct mutex cm_lock; /* the connection manager's lock */
	bool hold_paths;
	wait_queue_head_t hold_wait;
	struct mutex lock; /* HopIDs and advertisements */
	spinlock_t wire_lock; /* rings, paths and wire state */
	bool plugged;
	bool stall;
	bool unmask_race;
	u32 delay_us;
	unsigned int hopid_max;
	struct workqueue_struct *wq;
	struct delayed_work work;
	struct work_struct changed_work;
	struct dentry *debugfs;
};

static DEFINE_IDA(tbstream_sim_ida);
static DEFINE_MUTEX(tbstream_sim_lock); /* guards tbstream_sim_cables */
static LIST_HEAD(tbstream_sim_cables);
static struct dentry *tbstream_sim_debugfs;

static struct tbstream_sim_host *
to_tbstream_sim_host(struct tbstream_peer *peer)
{
	return container_of(peer, struct tbstream_sim_host, peer);
}

static struct tbstream_sim_host *
tbstream_sim_other(struct tbstream_sim_host *host)
{
	return &host->cable->host[!host->end];
}

static struct tbstream_frame *to_tbstream_frame(struct ring_frame *frame)
{
	return container_of(frame, struct tbstream_frame, frame);
}

static void tbstream_sim_kick(struct tbstream_sim_cable *cable)
{
	queue_delayed_work(cable->wq, &cable->work,
			   usecs_to_jiffies(READ_ONCE(cable->delay_us)));
}

/* The receive ring of @host that traffic for @hopid lands in, if any */
static struct tbstream_sim_ring *
tbstream_sim_find_rx(struct tbstream_sim_host *host, int hopid)
{
	struct tbstream_sim_ring *sr;

	lockdep_assert_held(&host->cable->wire_lock);

	list_for_each_entry(sr, &host->rings, node) {
		if (sr->ring->direction == TBSTREAM_IN && sr->path_enabled &&
		    sr->hopid == hopid)
			return sr;
	}
	return NULL;
}

/*
 * Pair each frame in flight on @tx with a receive buffer posted on @rx.
 * Where the DMA engine would copy the payload, the two frames trade their
 * buffers instead: the receive frame then holds the bytes sent, as after
 * DMA, and the transmit frame, complete, gets a buffer to fill next time.
 * Every buffer is a kmalloc()ed %TBSTREAM_FRAME_SIZE one that the core
 * reaches only through its frame and frees with it, so the trade is
 * invisible to the core and costs no CPU copy that hardware would not.
 */
static void tbstream_sim_deliver(struct tbstream_sim_ring *tx,
				 struct tbstream_sim_ring *rx)
{
	struct tbstream_sim_host *to = rx->host;
	struct ring_frame *txf, *rxf;

	lockdep_assert_held(&to->cable->wire_lock);

	while (!list_empty(&tx->in_flight) && !list_empty(&rx->in_flight)) {
		txf = list_first_entry(&tx->in_flight, struct ring_frame, list);
		rxf = list_first_entry(&rx->in_flight, struct ring_frame, list);

		swap(to_tbstream_frame(txf)->buf, to_tbstream_frame(rxf)->buf);
		rxf->size = txf->size;
		rxf->sof = txf->sof;
		rxf->eof = txf->eof;
		rxf->flags = RING_DESC_COMPLETED | to->inject_flags;
		to->inject_flags = 0;

		list_move_tail(&txf->list, &tx->done);
		list_move_tail(&rxf->list, &rx->done);
	}
}

static void tbstream_sim_move(struct tbstream_sim_cable *cable)
{
	struct tbstream_sim_ring *tx, *rx;
	int end;

	lockdep_assert_held(&cable->wire_lock);

	if (!cable->plugged || cable->stall)
		return;

	for (end = TBSTREAM_SIM_A; end <= TBSTREAM_SIM_B; end++) {
		list_for_each_entry(tx, &cable->host[end].rings, node) {
			if (tx->ring->direction != TBSTREAM_OUT ||
			    !tx->running || !tx->path_enabled)
				continue;
			rx = tbstream_sim_find_rx(&cable->host[!end], tx->hopid);
			if (rx && rx->running)
				tbstream_sim_deliver(tx, rx);
		}
	}
}

/*
 * The wire: one pass moves every frame that can move, then raises the
 * interrupt of each armed ring with completed frames. A ring stays valid
 * while it is on the local list: ring_stop() waits for this work.
 */
static void tbstream_sim_work(struct work_struct *work)
{
	struct tbstream_sim_cable *cable =
		container_of(to_delayed_work(work), typeof(*cable), work);
	struct tbstream_sim_ring *sr;
	unsigned long flags;
	LIST_HEAD(irqs);
	int end;

	spin_lock_irqsave(&cable->wire_lock, flags);
	if (!cable->unmask_race)
		tbstream_sim_move(cable);
	for (end = TBSTREAM_SIM_A; end <= TBSTREAM_SIM_B; end++) {
		list_for_each_entry(sr, &cable->host[end].rings, node) {
			if (!sr->running || !sr->armed || list_empty(&sr->done))
				continue;
			sr->armed = false;
			list_add_tail(&sr->irq_node, &irqs);
		}
	}
	spin_unlock_irqrestore(&cable->wire_lock, flags);

	/* The real start_poll runs in hard interrupt context */
	list_for_each_entry(sr, &irqs, irq_node) {
		local_irq_save(flags);
		sr->ring->start_poll(sr->ring->poll_data);
		local_irq_restore(flags);
	}
}

/*
 * One work item for both hosts, so that tbstream_sim_cable_flush() also
 * waits for the changes a notification causes on the other host
 */
static void tbstream_sim_changed_work(struct work_struct *work)
{
	struct tbstream_sim_cable *cable =
		container_of(work, typeof(*cable), changed_work);
	struct tbstream_sim_host *host;
	bool changed;
	int end;

	for (end = TBSTREAM_SIM_A; end <= TBSTREAM_SIM_B; end++) {
		host = &cable->host[end];
		mutex_lock(&cable->lock);
		changed = host->changed;
		host->changed = false;
		mutex_unlock(&cable->lock);

		mutex_lock(&cable->plug_lock);
		if (changed && host->registered)
			tbstream_peer_changed(&host->peer);
		mutex_unlock(&cable->plug_lock);
	}
}

static int tbstream_sim_alloc_hopid(struct tbstream_peer *peer,
				    enum tbstream_direction dir, int hopid)
{
	struct tbstream_sim_host *host = to_tbstream_sim_host(peer);
	struct tbstream_sim_cable *cable = host->cable;
	unsigned long *map = host->hopids[dir];
	unsigned int max;
	int ret;

	mutex_lock(&cable->lock);
	max = cable->hopid_max;
	if (hopid < 0) {
		/* HopID 8 is what thunderbolt-net takes: leave it to the last */
		ret = find_next_zero_bit(map, max + 1, TBSTREAM_SIM_HOPID_AUTO);
		if (ret > max)
			ret = test_bit(TBSTREAM_HOPID_MIN, map) ? -ENOSPC :
			      TBSTREAM_HOPID_MIN;
	} else if (hopid < TBSTREAM_HOPID_MIN || hopid > max) {
		ret = -EINVAL;
	} else if (test_bit(hopid, map)) {
		ret = -EBUSY;
	} else {
		ret = hopid;
	}
	if (ret >= 0)
		__set_bit(ret, map);
	mutex_unlock(&cable->lock);

	return ret;
}

static void tbstream_sim_release_hopid(struct tbstream_peer *peer,
				       enum tbstream_direction dir, int hopid)
{
	struct tbstream_sim_host *host = to_tbstream_sim_host(peer);
	struct tbstream_sim_cable *cable = host->cable;
	unsigned long *map = host->hopids[dir];

	mutex_lock(&cable->lock);
	if (!WARN_ON_ONCE(hopid < TBSTREAM_HOPID_MIN ||
			  hopid > TBSTREAM_SIM_HOPID_MAX ||
			  !test_bit(hopid, map)))
		__clear_bit(hopid, map);
	mutex_unlock(&cable->lock);
}

static struct tbstream_sim_advert *
tbstream_sim_find_advert(struct tbstream_sim_host *host, const char *name)
{
	struct tbstream_sim_advert *adv;

	lockdep_assert_held(&host->cable->lock);

	list_for_each_entry(adv, &host->adverts, node) {
		if (!strcmp(adv->name, name))
			return adv;
	}
	return NULL;
}

/* Never synchronous: the core holds its locks around advertise/withdraw */
static void tbstream_sim_advert_changed(struct tbstream_sim_host *host)
{
	lockdep_assert_held(&host->cable->lock);

	tbstream_sim_other(host)->changed = true;
	schedule_work(&host->cable->changed_work);
}

static int tbstream_sim_advertise(struct tbstream_peer *peer,
				  const char *name, int in_hopid,
				  int out_hopid)
{
	struct tbstream_sim_host *host = to_tbstream_sim_host(peer);
	struct tbstream_sim_cable *cable = host->cable;
	struct tbstream_sim_advert *adv;
	int ret = 0;

	if (strlen(name) > TBSTREAM_NAME_MAX)
		return -EINVAL;

	mutex_lock(&cable->lock);
	adv = tbstream_sim_find_advert(host, name);
	if (!adv) {
		adv = kzalloc(sizeof(*adv), GFP_KERNEL);
		if (!adv) {
			ret = -ENOMEM;
			goto out_unlock;
		}
		strscpy(adv->name, name, sizeof(adv->name));
		list_add_tail(&adv->node, &host->adverts);
	} else if (adv->in_hopid == in_hopid && adv->out_hopid == out_hopid) {
		goto out_unlock;
	}
	adv->in_hopid = in_hopid;
	adv->out_hopid = out_hopid;
	tbstream_sim_advert_changed(host);
out_unlock:
	mutex_unlock(&cable->lock);

	return ret;
}

static void tbstream_sim_withdraw(struct tbstream_peer *peer,
				  const char *name)
{
	struct tbstream_sim_host *host = to_tbstream_sim_host(peer);
	struct tbstream_sim_cable *cable = host->cable;
	struct tbstream_sim_advert *adv;

	mutex_lock(&cable->lock);
	adv = tbstream_sim_find_advert(host, name);
	if (adv) {
		list_del(&adv->node);
		kfree(adv);
		tbstream_sim_advert_changed(host);
	}
	mutex_unlock(&cable->lock);
}

static int tbstream_sim_lookup(struct tbstream_peer *peer, const char *name,
			       int *in, int *out)
{
	struct tbstream_sim_host *other =
		tbstream_sim_other(to_tbstream_sim_host(peer));
	struct tbstream_sim_cable *cable = other->cable;
	struct tbstream_sim_advert *adv;
	int ret = -ENOENT;

	mutex_lock(&cable->lock);
	adv = tbstream_sim_find_advert(other, name);
	if (adv) {
		*in = adv->in_hopid;
		*out = adv->out_hopid;
		ret = 0;
	}
	mutex_unlock(&cable->lock);

	return ret;
}

static int tbstream_sim_ring_alloc(struct tbstream_ring *ring)
{
	struct tbstream_sim_host *host = to_tbstream_sim_host(ring->peer);
	struct tbstream_sim_cable *cable = host->cable;
	struct tbstream_sim_ring *sr;
	unsigned long flags;
	int hop;

	/* Only polling mode is modelled, and a ring needs a free slot */
	if (WARN_ON_ONCE(!ring->start_poll || ring->size < 2))
		return -EINVAL;

	sr = kzalloc(sizeof(*sr), GFP_KERNEL);
	if (!sr)
		return -ENOMEM;

	hop = ida_alloc_range(&host->ring_hops[ring->direction], 1,
			      TBSTREAM_SIM_RING_HOPS - 1, GFP_KERNEL);
	if (hop < 0) {
		kfree(sr);
		return hop;
	}

	sr->ring = ring;
	sr->host = host;
	INIT_LIST_HEAD(&sr->queue);
	INIT_LIST_HEAD(&sr->in_flight);
	INIT_LIST_HEAD(&sr->done);
	ring->hop = hop;
	ring->priv = sr;

	spin_lock_irqsave(&cable->wire_lock, flags);
	list_add_tail(&sr->node, &host->rings);
	spin_unlock_irqrestore(&cable->wire_lock, flags);

	return 0;
}

static void tbstream_sim_ring_free(struct tbstream_ring *ring)
{
	struct tbstream_sim_ring *sr = ring->priv;
	struct tbstream_sim_host *host = sr->host;
	unsigned long flags;

	spin_lock_irqsave(&host->cable->wire_lock, flags);
	WARN_ON_ONCE(sr->running);
	list_del(&sr->node);
	spin_unlock_irqrestore(&host->cable->wire_lock, flags);

	ida_free(&host->ring_hops[ring->direction], ring->hop);
	ring->priv = NULL;
	kfree(sr);
}

static void tbstream_sim_ring_start(struct tbstream_ring *ring)
{
	struct tbstream_sim_ring *sr = ring->priv;
	unsigned long flags;

	spin_lock_irqsave(&sr->host->cable->wire_lock, flags);
	WARN_ON_ONCE(sr->running);
	sr->running = true;
	sr->armed = true;
	spin_unlock_irqrestore(&sr->host->cable->wire_lock, flags);
}

static void tbstream_sim_ring_stop(struct tbstream_ring *ring)
{
	struct tbstream_sim_ring *sr = ring->priv;
	struct tbstream_sim_cable *cable = sr->host->cable;
	struct ring_frame *frame, *n;
	unsigned long flags;
	LIST_HEAD(canceled);

	spin_lock_irqsave(&cable->wire_lock, flags);
	WARN_ON_ONCE(!sr->running);
	sr->running = false;
	sr->armed = false;
	spin_unlock_irqrestore(&cable->wire_lock, flags);

	/* A pass started before may still be raising our interrupt */
	flush_delayed_work(&cable->work);

	/* Like ring_work() on a stopped ring: completed frames too */
	spin_lock_irqsave(&cable->wire_lock, flags);
	list_splice_tail_init(&sr->done, &canceled);
	list_splice_tail_init(&sr->in_flight, &canceled);
	list_splice_tail_init(&sr->queue, &canceled);
	sr->used = 0;
	spin_unlock_irqrestore(&cable->wire_lock, flags);

	list_for_each_entry_safe(frame, n, &canceled, list) {
		list_del_init(&frame->list);
		if (frame->callback)
			frame->callback(NULL, frame, true);
	}
}

/*
 * Like ring_write_descriptors(): the frames queued get descriptors while
 * free ones remain. NHI does this in enqueue only, not when polling frees
 * descriptors, and neither does the simulation.
 */
static void tbstream_sim_post(struct tbstream_sim_ring *sr)
{
	lockdep_assert_held(&sr->host->cable->wire_lock);

	while (!list_empty(&sr->queue) && sr->used < sr->ring->size - 1) {
		list_move_tail(sr->queue.next, &sr->in_flight);
		sr->used++;
	}
}

static int tbstream_sim_enqueue(struct tbstream_ring *ring,
				struct ring_frame *frame)
{
	struct tbstream_sim_ring *sr = ring->priv;
	struct tbstream_sim_cable *cable = sr->host->cable;
	unsigned long flags;
	int ret = 0;

	spin_lock_irqsave(&cable->wire_lock, flags);
	if (sr->running) {
		list_add_tail(&frame->list, &sr->queue);
		tbstream_sim_post(sr);
		tbstream_sim_kick(cable);
	} else {
		ret = -ESHUTDOWN;
	}
	spin_unlock_irqrestore(&cable->wire_lock, flags);

	return ret;
}

static struct ring_frame *tbstream_sim_poll(struct tbstream_ring *ring)
{
	struct tbstream_sim_ring *sr = ring->priv;
	struct tbstream_sim_cable *cable = sr->host->cable;
	struct ring_frame *frame = NULL;
	unsigned long flags;

	spin_lock_irqsave(&cable->wire_lock, flags);
	if (sr->running && !list_empty(&sr->done)) {
		frame = list_first_entry(&sr->done, struct ring_frame, list);
		list_del_init(&frame->list);
		sr->used--;
	}
	spin_unlock_irqrestore(&cable->wire_lock, flags);

	return frame;
}

static void tbstream_sim_poll_complete(struct tbstream_ring *ring)
{
	struct tbstream_sim_ring *sr = ring->priv;
	struct tbstream_sim_cable *cable = sr->host->cable;
	unsigned long flags;

	spin_lock_irqsave(&cable->wire_lock, flags);
	/*
	 * Frames that complete right before the unmask: hardware need not
	 * signal them, and with @unmask_race nothing does
	 */
	if (cable->unmask_race && ring->direction == TBSTREAM_IN)
		tbstream_sim_move(cable);
	sr->armed = true;
	/* Completions that came while masked raise the interrupt again */
	if (sr->running && !list_empty(&sr->done) && !cable->unmask_race)
		tbstream_sim_kick(cable);
	spin_unlock_irqrestore(&cable->wire_lock, flags);
}

static int tbstream_sim_enable_paths(struct tbstream_peer *peer,
				     int out_hopid, struct tbstream_ring *tx,
				     int in_hopid, struct tbstream_ring *rx)
{
	struct tbstream_sim_host *host = to_tbstream_sim_host(peer);
	struct tbstream_sim_cable *cable = host->cable;
	struct tbstream_sim_ring *stx = tx ? tx->priv : NULL;
	struct tbstream_sim_ring *srx = rx ? rx->priv : NULL;
	struct tbstream_sim_ring *other;
	unsigned long flags;
	int ret = 0;

	if (WARN_ON_ONCE((tx && tx->direction != TBSTREAM_OUT) ||
			 (rx && rx->direction != TBSTREAM_IN)))
		return -EINVAL;
	if ((tx && (out_hopid < TBSTREAM_HOPID_MIN ||
		    out_hopid > TBSTREAM_SIM_HOPID_MAX)) ||
	    (rx && (in_hopid < TBSTREAM_HOPID_MIN ||
		    in_hopid > TBSTREAM_SIM_HOPID_MAX)))
		return -EINVAL;

	wait_event(cable->hold_wait, !READ_ONCE(cable->hold_paths));
	mutex_lock(&cable->cm_lock);
	spin_lock_irqsave(&cable->wire_lock, flags);
	if (srx) {
		/* One path per HopID into a host */
		other = tbstream_sim_find_rx(host, in_hopid);
		if (other && other != srx) {
			ret = -EBUSY;
			goto out_unlock;
		}
		srx->hopid = in_hopid;
		srx->path_enabled = true;
	}
	if (stx) {
		stx->hopid = out_hopid;
		stx->path_enabled = true;
	}
	tbstream_sim_kick(cable);
out_unlock:
	spin_unlock_irqrestore(&cable->wire_lock, flags);
	mutex_unlock(&cable->cm_lock);

	return ret;
}

static void tbstream_sim_disable_paths(struct tbstream_peer *peer,
				       int out_hopid, struct tbstream_ring *tx,
				       int in_hopid, struct tbstream_ring *rx)
{
	struct tbstream_sim_cable *cable = to_tbstream_sim_host(peer)->cable;
	struct tbstream_sim_ring *stx = tx ? tx->priv : NULL;
	struct tbstream_sim_ring *srx = rx ? rx->priv : NULL;
	bool plugged = READ_ONCE(cable->plugged);
	unsigned long flags;

	if (plugged)
		mutex_lock(&cable->cm_lock);
	/* Frames in flight stay there: they are canceled at ring_stop() */
	spin_lock_irqsave(&cable->wire_lock, flags);
	if (stx)
		stx->path_enabled = false;
	if (srx)
		srx->path_enabled = false;
	spin_unlock_irqrestore(&cable->wire_lock, flags);
	if (plugged)
		mutex_unlock(&cable->cm_lock);
}

static void tbstream_sim_release(struct tbstream_peer *peer)
{
	complete(&to_tbstream_sim_host(peer)->released);
}

static const struct tbstream_backend_ops tbstream_sim_ops = {
	.alloc_hopid = tbstream_sim_alloc_hopid,
	.release_hopid = tbstream_sim_release_hopid,
	.advertise = tbstream_sim_advertise,
	.withdraw = tbstream_sim_withdraw,
	.lookup = tbstream_sim_lookup,
	.ring_alloc = tbstream_sim_ring_alloc,
	.ring_free = tbstream_sim_ring_free,
	.ring_start = tbstream_sim_ring_start,
	.ring_stop = tbstream_sim_ring_stop,
	.enqueue = tbstream_sim_enqueue,
	.poll = tbstream_sim_poll,
	.poll_complete = tbstream_sim_poll_complete,
	.enable_paths = tbstream_sim_enable_paths,
	.disable_paths = tbstream_sim_disable_paths,
	.release = tbstream_sim_release,
};

/**
 * tbstream_sim_cable_unplug() - Pull a simulated cable out
 * @cable: Cable to unplug
 *
 * Frames stop moving, then both peers are unregistered from the core as
 * the service remove() callback does on real hardware, which detaches
 * their streams. The cable keeps its names and can be plugged back in.
 * Does nothing if the cable is unplugged.
 *
 * Context: Process context. Takes the core's locks.
 */
void tbstream_sim_cable_unplug(struct tbstream_sim_cable *cable)
{
	unsigned long flags;
	int end;

	mutex_lock(&cable->plug_lock);
	if (!cable->plugged)
		goto out_unlock;

	mutex_lock(&cable->cm_lock);
	spin_lock_irqsave(&cable->wire_lock, flags);
	WRITE_ONCE(cable->plugged, false);
	spin_unlock_irqrestore(&cable->wire_lock, flags);

	for (end = TBSTREAM_SIM_A; end <= TBSTREAM_SIM_B; end++) {
		if (cable->host[end].registered) {
			tbstream_peer_unregister(&cable->host[end].peer);
			cable->host[end].registered = false;
		}
	}
	mutex_unlock(&cable->cm_lock);
out_unlock:
	mutex_unlock(&cable->plug_lock);
}

/**
 * tbstream_sim_cable_replug() - Plug a simulated cable back in
 * @cable: Cable to plug in
 *
 * Registers both peers with the core again, under the same names. Does
 * nothing if the cable is plugged.
 *
 * Context: Process context. Takes the core's locks.
 * Return: 0 on success, or the error of tbstream_peer_register() (e.g.
 * -EEXIST when a peer of the same name exists); the cable then stays
 * unplugged.
 */
int tbstream_sim_cable_replug(struct tbstream_sim_cable *cable)
{
	unsigned long flags;
	int ret = 0;
	int end;

	mutex_lock(&cable->plug_lock);
	if (cable->plugged)
		goto out_unlock;

	mutex_lock(&cable->cm_lock);
	spin_lock_irqsave(&cable->wire_lock, flags);
	WRITE_ONCE(cable->plugged, true);
	spin_unlock_irqrestore(&cable->wire_lock, flags);
	mutex_unlock(&cable->cm_lock);

	for (end = TBSTREAM_SIM_A; end <= TBSTREAM_SIM_B; end++) {
		ret = tbstream_peer_register(&cable->host[end].peer);
		if (ret)
			goto err_unregister;
		cable->host[end].registered = true;
	}
	mutex_unlock(&cable->plug_lock);

	return 0;

err_unregister:
	dev_err(cable->dev, "cannot register peer %s: %d\n",
		cable->host[end].peer.name, ret);
	mutex_lock(&cable->cm_lock);
	spin_lock_irqsave(&cable->wire_lock, flags);
	WRITE_ONCE(cable->plugged, false);
	spin_unlock_irqrestore(&cable->wire_lock, flags);
	while (--end >= TBSTREAM_SIM_A) {
		tbstream_peer_unregister(&cable->host[end].peer);
		cable->host[end].registered = false;
	}
	mutex_unlock(&cable->cm_lock);
out_unlock:
	mutex_unlock(&cable->plug_lock);

	return ret;
}

/**
 * tbstream_sim_service_name() - Name of a simulated host's peer service
 * @cable: Cable
 * @end: Host
 *
 * Context: Any context.
 * Return: The service device name under which host @end sees the other
 * host, e.g. "1000-1.0" for host A of cable 0.
 */
const char *tbstream_sim_service_name(struct tbstream_sim_cable *cable,
				      enum tbstream_sim_end end)
{
	return cable->host[end].peer.name;
}

/**
 * tbstream_sim_inject_rx_flags() - Mark the next frame a host receives
 * @cable: Cable
 * @end: Receiving host
 * @flags: Error flags, %RING_DESC_CRC_ERROR and %RING_DESC_BUFFER_OVERRUN
 *
 * The next frame delivered into any receive ring of host @end carries
 * @flags; its data is still copied.
 *
 * Context: Any context.
 */
void tbstream_sim_inject_rx_flags(struct tbstream_sim_cable *cable,
				  enum tbstream_sim_end end, u32 flags)
{
	unsigned long irqflags;

	WARN_ON_ONCE(flags & ~(RING_DESC_CRC_ERROR | RING_DESC_BUFFER_OVERRUN));

	spin_lock_irqsave(&cable->wire_lock, irqflags);
	cable->host[end].inject_flags = flags;
	spin_unlock_irqrestore(&cable->wire_lock, irqflags);
}

/**
 * tbstream_sim_set_stall() - Stop or restart all traffic on a cable
 * @cable: Cable
 * @stall: %true to freeze the wire, %false to let frames move again
 *
 * While stalled, frames stay in flight: nothing is delivered and no
 * transmit frame completes.
 *
 * Context: Any context.
 */
void tbstream_sim_set_stall(struct tbstream_sim_cable *cable, bool stall)
{
	unsigned long flags;

	spin_lock_irqsave(&cable->wire_lock, flags);
	WRITE_ONCE(cable->stall, stall);
	if (!stall)
		tbstream_sim_kick(cable);
	spin_unlock_irqrestore(&cable->wire_lock, flags);
}

/**
 * tbstream_sim_set_unmask_race() - Move frames only at a receive unmask
 * @cable: Cable
 * @race: %true: frames move only when a receive ring's poll_complete()
 *	  re-enables its interrupt, right before it does, and no interrupt
 *	  tells of them, as when they complete on an NHI just before the
 *	  unmask; %false: back to normal
 *
 * Context: Any context.
 */
void tbstream_sim_set_unmask_race(struct tbstream_sim_cable *cable,
				  bool race)
{
	unsigned long flags;

	spin_lock_irqsave(&cable->wire_lock, flags);
	cable->unmask_race = race;
	if (!race)
		tbstream_sim_kick(cable);
	spin_unlock_irqrestore(&cable->wire_lock, flags);
}

/**
 * tbstream_sim_hold_paths() - Make enable_paths wait, or let it go on
 * @cable: Cable
 * @hold: %true: from now on, enable_paths waits before it takes the
 *	  connection manager's lock, as it would while the Thunderbolt
 *	  core is busy; %false: the waiting calls go on
 *
 * Context: Process context.
 */
void tbstream_sim_hold_paths(struct tbstream_sim_cable *cable, bool hold)
{
	WRITE_ONCE(cable->hold_paths, hold);
	if (!hold)
		wake_up_all(&cable->hold_wait);
}

/**
 * tbstream_sim_paths_waiting() - Whether an enable_paths call is held
 * @cable: Cable
 *
 * Context: Any context.
 * Return: %true while a task waits in enable_paths because of
 * tbstream_sim_hold_paths().
 */
bool tbstream_sim_paths_waiting(struct tbstream_sim_cable *cable)
{
	return wq_has_sleeper(&cable->hold_wait);
}

/**
 * tbstream_sim_hopids_in_use() - Count the HopIDs a host holds
 * @cable: Cable
 * @end: Host
 *
 * Context: Process context.
 * Return: The number of HopIDs, in and out, that host @end has allocated.
 */
unsigned int tbstream_sim_hopids_in_use(struct tbstream_sim_cable *cable,
					enum tbstream_sim_end end)
{
	struct tbstream_sim_host *host = &cable->host[end];
	const unsigned int bits = TBSTREAM_SIM_HOPID_MAX + 1;
	unsigned int n;

	mutex_lock(&cable->lock);
	n = bitmap_weight(host->hopids[TBSTREAM_IN], bits) +
	    bitmap_weight(host->hopids[TBSTREAM_OUT], bits);
	mutex_unlock(&cable->lock);

	return n;
}

/**
 * tbstream_sim_cable_flush() - Wait for the work a simulated cable has queued
 * @cable: Cable
 *
 * Waits until the wire has moved every frame that could move and raised
 * the interrupts for them, and until both hosts' cores have been told of
 * every change of the other host's advertisements, including the changes
 * that telling them caused. Frames and advertisements that other threads
 * queue meanwhile may still be in flight on return.
 *
 * Context: Process context. Must not hold the core's locks.
 */
void tbstream_sim_cable_flush(struct tbstream_sim_cable *cable)
{
	bool waited;

	/* Neither work item queues the other: each is idle once not waited */
	do {
		waited = flush_delayed_work(&cable->work);
		waited |= flush_work(&cable->changed_work);
	} while (waited);
}

/*
 * A debugfs file of a cable holding a number from @__min to @__max:
 * @__get() reads it and @__set() changes it. The numbers are read without
 * the locks that serialize their changes, as a snapshot, so the writers
 * use WRITE_ONCE().
 */
#define TBSTREAM_SIM_DEBUGFS_ATTR(__name, __min, __max, __get, __set)	\
static int tbstream_sim_##__name##_get(void *data, u64 *val)		\
{									\
	*val = __get(data);						\
	return 0;							\
}									\
static int tbstream_sim_##__name##_set(void *data, u64 val)		\
{									\
	if (val < (__min) || val > (__max))				\
		return -EINVAL;						\
	return __set(data, val);					\
}									\
DEFINE_DEBUGFS_ATTRIBUTE(tbstream_sim_##__name##_fops,			\
			 tbstream_sim_##__name##_get,			\
			 tbstream_sim_##__name##_set, "%llu\n")

static bool tbstream_sim_plugged(struct tbstream_sim_cable *cable)
{
	return READ_ONCE(cable->plugged);
}

static int tbstream_sim_plug(struct tbstream_sim_cable *cable, u64 plugged)
{
	if (plugged)
		return tbstream_sim_cable_replug(cable);
	tbstream_sim_cable_unplug(cable);
	return 0;
}

TBSTREAM_SIM_DEBUGFS_ATTR(plugged, 0, 1, tbstream_sim_plugged,
			  tbstream_sim_plug);

static unsigned int tbstream_sim_hopid_limit(struct tbstream_sim_cable *cable)
{
	return READ_ONCE(cable->hopid_max);
}

static int tbstream_sim_set_hopid_limit(struct tbstream_sim_cable *cable,
					u64 max)
{
	mutex_lock(&cable->lock);
	WRITE_ONCE(cable->hopid_max, max);
	mutex_unlock(&cable->lock);
	return 0;
}

TBSTREAM_SIM_DEBUGFS_ATTR(hopid_max, TBSTREAM_HOPID_MIN,
			  TBSTREAM_SIM_HOPID_MAX, tbstream_sim_hopid_limit,
			  tbstream_sim_set_hopid_limit);

static bool tbstream_sim_stalled(struct tbstream_sim_cable *cable)
{
	return READ_ONCE(cable->stall);
}

static int tbstream_sim_stall(struct tbstream_sim_cable *cable, u64 stall)
{
	tbstream_sim_set_stall(cable, stall);
	return 0;
}

TBSTREAM_SIM_DEBUGFS_ATTR(stall, 0, 1, tbstream_sim_stalled,
			  tbstream_sim_stall);

static u32 tbstream_sim_delay(struct tbstream_sim_cable *cable)
{
	return READ_ONCE(cable->delay_us);
}

static int tbstream_sim_set_delay(struct tbstream_sim_cable *cable, u64 us)
{
	WRITE_ONCE(cable->delay_us, us);
	return 0;
}

TBSTREAM_SIM_DEBUGFS_ATTR(delay_us, 0, U32_MAX, tbstream_sim_delay,
			  tbstream_sim_set_delay);

static int tbstream_sim_hopids_get(void *data, u64 *val)
{
	struct tbstream_sim_host *host = data;

	*val = tbstream_sim_hopids_in_use(host->cable, host->end);
	return 0;
}

DEFINE_DEBUGFS_ATTRIBUTE(tbstream_sim_hopids_fops, tbstream_sim_hopids_get,
			 NULL, "%llu\n");

static int tbstream_sim_service_show(struct seq_file *s, void *unused)
{
	struct tbstream_sim_host *host = s->private;

	seq_printf(s, "%s\n", host->peer.name);
	return 0;
}

DEFINE_SHOW_ATTRIBUTE(tbstream_sim_service);

/* A write-only debugfs file: tbstream_sim_<name>_write() does the work */
#define TBSTREAM_SIM_WRITE_FOPS(__name)					\
static const struct file_operations tbstream_sim_##__name##_fops = {	\
	.owner = THIS_MODULE,						\
	.open = simple_open,						\
	.write = tbstream_sim_##__name##_write,				\
	.llseek = noop_llseek,						\
}

static ssize_t tbstream_sim_inject_write(struct file *file,
					 const char __user *ubuf,
					 size_t count, loff_t *ppos)
{
	struct tbstream_sim_host *host = file->private_data;
	char buf[16];
	u32 flags;

	if (!count || count >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, count))
		return -EFAULT;
	buf[count] = '\0';

	if (sysfs_streq(buf, "crc"))
		flags = RING_DESC_CRC_ERROR;
	else if (sysfs_streq(buf, "overrun"))
		flags = RING_DESC_BUFFER_OVERRUN;
	else
		return -EINVAL;

	tbstream_sim_inject_rx_flags(host->cable, host->end, flags);
	return count;
}

TBSTREAM_SIM_WRITE_FOPS(inject);

/* The knobs of a cable, files of its cable<n> directory */
static const struct {
	const char *name;
	const struct file_operations *fops;
} tbstream_sim_knobs[] = {
	{ "plugged", &tbstream_sim_plugged_fops },
	{ "stall", &tbstream_sim_stall_fops },
	{ "delay_us", &tbstream_sim_delay_us_fops },
	{ "hopid_max", &tbstream_sim_hopid_max_fops },
};

/* The files of host @host, named after it: inject_rx_a, hopids_a, ... */
static void tbstream_sim_debugfs_host(struct tbstream_sim_host *host,
				      struct dentry *root)
{
	const char end = 'a' + host->end;
	char name[24];

	snprintf(name, sizeof(name), "inject_rx_%c", end);
	debugfs_create_file(name, 0200, root, host, &tbstream_sim_inject_fops);
	snprintf(name, sizeof(name), "hopids_%c", end);
	debugfs_create_file_unsafe(name, 0400, root, host,
				   &tbstream_sim_hopids_fops);
	snprintf(name, sizeof(name), "service_%c", end);
	debugfs_create_file(name, 0400, root, host,
			    &tbstream_sim_service_fops);
}

static void tbstream_sim_debugfs_init(struct tbstream_sim_cable *cable)
{
	struct dentry *root;
	char name[24];
	unsigned int i;

	snprintf(name, sizeof(name), "cable%u", cable->id);
	root = debugfs_create_dir(name, tbstream_sim_debugfs);
	cable->debugfs = root;

	for (i = 0; i < ARRAY_SIZE(tbstream_sim_knobs); i++)
		debugfs_create_file_unsafe(tbstream_sim_knobs[i].name, 0600,
					   root, cable,
					   tbstream_sim_knobs[i].fops);
	tbstream_sim_debugfs_host(&cable->host[TBSTREAM_SIM_A], root);
	tbstream_sim_debugfs_host(&cable->host[TBSTREAM_SIM_B], root);
}

static void tbstream_sim_host_init(struct tbstream_sim_cable *cable,
				   enum tbstream_sim_end end)
{
	struct tbstream_sim_host *host = &cable->host[end];

	host->cable = cable;
	host->end = end;
	INIT_LIST_HEAD(&host->adverts);
	ida_init(&host->ring_hops[TBSTREAM_IN]);
	ida_init(&host->ring_hops[TBSTREAM_OUT]);
	INIT_LIST_HEAD(&host->rings);

	snprintf(host->peer.name, sizeof(host->peer.name), "%u-1.0",
		 TBSTREAM_SIM_DOMAIN_BASE + 2 * cable->id + end);
	host->peer.dev = cable->dev;
	host->peer.ops = &tbstream_sim_ops;
	kref_init(&host->peer.kref);
	init_completion(&host->released);
}

static void tbstream_sim_host_free(struct tbstream_sim_host *host)
{
	struct tbstream_sim_advert *adv, *n;

	/* A start or stop of a stream's rings may still use them */
	tbstream_peer_put(&host->peer);
	wait_for_completion(&host->released);
	WARN_ON_ONCE(!list_empty(&host->rings));
	list_for_each_entry_safe(adv, n, &host->adverts, node) {
		list_del(&adv->node);
		kfree(adv);
	}
	ida_destroy(&host->ring_hops[TBSTREAM_IN]);
	ida_destroy(&host->ring_hops[TBSTREAM_OUT]);
}

/**
 * tbstream_sim_cable_create() - Create a simulated cable and plug it in
 *
 * Creates cable n, with the lowest free number n, and its two hosts, then
 * registers both peers with the core, which attaches the streams
 * configured for them.
 *
 * Context: Process context. Takes the core's locks.
 * Return: The new cable, or an ERR_PTR(): -ENOMEM, or the error of
 * tbstream_peer_register() (-EEXIST when a peer of the same name exists).
 */
struct tbstream_sim_cable *tbstream_sim_cable_create(void)
{
	struct tbstream_sim_cable *cable;
	char name[24];
	int ret;

	cable = kzalloc(sizeof(*cable), GFP_KERNEL);
	if (!cable)
		return ERR_PTR(-ENOMEM);

	ret = ida_alloc(&tbstream_sim_ida, GFP_KERNEL);
	if (ret < 0)
		goto err_free_cable;
	cable->id = ret;

	mutex_init(&cable->plug_lock);
	mutex_init(&cable->cm_lock);
	init_waitqueue_head(&cable->hold_wait);
	mutex_init(&cable->lock);
	spin_lock_init(&cable->wire_lock);
	INIT_LIST_HEAD(&cable->node);
	INIT_DELAYED_WORK(&cable->work, tbstream_sim_work);
	INIT_WORK(&cable->changed_work, tbstream_sim_changed_work);
	cable->hopid_max = TBSTREAM_SIM_HOPID_MAX;

	cable->wq = alloc_ordered_workqueue("tbstream_sim%u", 0, cable->id);
	if (!cable->wq) {
		ret = -ENOMEM;
		goto err_free_id;
	}

	snprintf(name, sizeof(name), "tbstream_sim%u", cable->id);
	cable->dev = root_device_register(name);
	if (IS_ERR(cable->dev)) {
		ret = PTR_ERR(cable->dev);
		goto err_destroy_wq;
	}

	tbstream_sim_host_init(cable, TBSTREAM_SIM_A);
	tbstream_sim_host_init(cable, TBSTREAM_SIM_B);

	ret = tbstream_sim_cable_replug(cable);
	if (ret)
		goto err_free_hosts;

	tbstream_sim_debugfs_init(cable);

	mutex_lock(&tbstream_sim_lock);
	list_add_tail(&cable->node, &tbstream_sim_cables);
	mutex_unlock(&tbstream_sim_lock);

	return cable;

err_free_hosts:
	cancel_work_sync(&cable->changed_work);
	cancel_delayed_work_sync(&cable->work);
	tbstream_sim_host_free(&cable->host[TBSTREAM_SIM_A]);
	tbstream_sim_host_free(&cable->host[TBSTREAM_SIM_B]);
	root_device_unregister(cable->dev);
err_destroy_wq:
	destroy_workqueue(cable->wq);
err_free_id:
	ida_free(&tbstream_sim_ida, cable->id);
err_free_cable:
	kfree(cable);
	return ERR_PTR(ret);
}

/**
 * tbstream_sim_cable_destroy() - Unplug and free a simulated cable
 * @cable: Cable from tbstream_sim_cable_create()
 *
 * Removes the cable's debugfs directory, unregisters both peers (their
 * streams are detached synchronously) and frees the cable.
 *
 * Context: Process context. Takes the core's locks.
 */
void tbstream_sim_cable_destroy(struct tbstream_sim_cable *cable)
{
	mutex_lock(&tbstream_sim_lock);
	list_del_init(&cable->node);
	mutex_unlock(&tbstream_sim_lock);

	/* Waits for the handlers of the cable's files */
	debugfs_remove_recursive(cable->debugfs);
	tbstream_sim_cable_unplug(cable);

	/* No peer is registered now: nothing queues them again */
	cancel_work_sync(&cable->changed_work);
	cancel_delayed_work_sync(&cable->work);

	tbstream_sim_host_free(&cable->host[TBSTREAM_SIM_A]);
	tbstream_sim_host_free(&cable->host[TBSTREAM_SIM_B]);
	root_device_unregister(cable->dev);
	destroy_workqueue(cable->wq);
	ida_free(&tbstream_sim_ida, cable->id);
	kfree(cable);
}

static ssize_t tbstream_sim_new_cable_write(struct file *file,
					    const char __user *ubuf,
					    size_t count, loff_t *ppos)
{
	struct tbstream_sim_cable *cable;

	cable = tbstream_sim_cable_create();
	if (IS_ERR(cable))
		return PTR_ERR(cable);
	return count;
}

TBSTREAM_SIM_WRITE_FOPS(new_cable);

static ssize_t tbstream_sim_del_cable_write(struct file *file,
					    const char __user *ubuf,
					    size_t count, loff_t *ppos)
{
	struct tbstream_sim_cable *cable, *found = NULL;
	unsigned int id;
	int ret;

	ret = kstrtouint_from_user(ubuf, count, 0, &id);
	if (ret)
		return ret;

	mutex_lock(&tbstream_sim_lock);
	list_for_each_entry(cable, &tbstream_sim_cables, node) {
		if (cable->id == id) {
			found = cable;
			/* So that a concurrent writer cannot find it too */
			list_del_init(&cable->node);
			break;
		}
	}
	mutex_unlock(&tbstream_sim_lock);

	if (!found)
		return -ENOENT;
	tbstream_sim_cable_destroy(found);
	return count;
}

TBSTREAM_SIM_WRITE_FOPS(del_cable);

static int tbstream_sim_cables_show(struct seq_file *s, void *unused)
{
	struct tbstream_sim_cable *cable;

	mutex_lock(&tbstream_sim_lock);
	list_for_each_entry(cable, &tbstream_sim_cables, node) {
		mutex_lock(&cable->plug_lock);
		seq_printf(s, "%u A:%s B:%s %s\n", cable->id,
			   cable->host[TBSTREAM_SIM_A].peer.name,
			   cable->host[TBSTREAM_SIM_B].peer.name,
			   cable->plugged ? "plugged" : "unplugged");
		mutex_unlock(&cable->plug_lock);
	}
	mutex_unlock(&tbstream_sim_lock);

	return 0;
}

DEFINE_SHOW_ATTRIBUTE(tbstream_sim_cables);

/**
 * tbstream_sim_init() - Create the debugfs control of simulated cables
 *
 * Makes /sys/kernel/debug/thunderbolt_stream_sim with new_cable, del_cable
 * and cables. No cable exists until one is created.
 *
 * Context: Process context, module init.
 * Return: 0.
 */
int tbstream_sim_init(void)
{
	struct dentry *root;

	root = debugfs_create_dir("thunderbolt_stream_sim", NULL);
	tbstream_sim_debugfs = root;
	debugfs_create_file("new_cable", 0200, root, NULL,
			    &tbstream_sim_new_cable_fops);
	debugfs_create_file("del_cable", 0200, root, NULL,
			    &tbstream_sim_del_cable_fops);
	debugfs_create_file("cables", 0400, root, NULL,
			    &tbstream_sim_cables_fops);

	return 0;
}

/**
 * tbstream_sim_exit() - Destroy every simulated cable and the debugfs root
 *
 * Context: Process context, module exit. Takes the core's locks.
 */
void tbstream_sim_exit(void)
{
	struct tbstream_sim_cable *cable;

	/* Waits for writers that create or destroy cables */
	debugfs_lookup_and_remove("new_cable", tbstream_sim_debugfs);
	debugfs_lookup_and_remove("del_cable", tbstream_sim_debugfs);

	for (;;) {
		mutex_lock(&tbstream_sim_lock);
		cable = list_first_entry_or_null(&tbstream_sim_cables,
						 struct tbstream_sim_cable,
						 node);
		mutex_unlock(&tbstream_sim_lock);
		if (!cable)
			break;
		tbstream_sim_cable_destroy(cable);
	}

	debugfs_remove_recursive(tbstream_sim_debugfs);
	tbstream_sim_debugfs = NULL;
}
