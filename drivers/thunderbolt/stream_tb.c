// SPDX-License-Identifier: GPL-2.0
/*
 * USB4STREAM Thunderbolt backend: the XDomain service driver
 *
 * Binds to a peer's "stream" service, advertises our streams in the
 * XDomain properties and moves their frames through NHI rings and DMA
 * paths, behind the stream core's &struct tbstream_backend_ops.
 *
 * Copyright (C) 2026, The thunderbolt_stream developers
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/crc32.h>
#include <linux/dma-mapping.h>
#include <linux/list.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/thunderbolt.h>
#include <linux/uuid.h>
#include <linux/workqueue.h>
#include <kunit/visibility.h>

#include "stream.h"

/* Tests replace a few functions; kernels before 6.3 lack the header */
#if IS_ENABLED(CONFIG_USB4_STREAM_KUNIT_TEST)
#include <kunit/static_stub.h>
#else
#define KUNIT_STATIC_STUB_REDIRECT(...) do { } while (0)
#endif

/**
 * DOC: Thunderbolt backend
 *
 * One &struct tbstream_tb per bound "stream" service of a peer presents
 * that peer to the stream core. HopIDs come from the XDomain's allocators,
 * rings are NHI rings in frame mode with end-to-end flow control, and the
 * paths are set up with tb_xdomain_enable_paths().
 *
 * The 6.12 core has one global property directory and no per-service
 * properties, so our advertisement is that directory, rebuilt whenever a
 * stream's HopIDs change and swapped in by tbstream_tb_swap_work, which
 * coalesces the swaps (see tbstream_tb_schedule()). Every peer sees every
 * stream, so each stream's sub-directory also names, in the extra key
 * "link", the host its HopIDs are for; our lookup skips advertisements
 * meant for another host, and the stock driver ignores the key.
 *
 * tbstream_tb_lock guards the list of what is advertised, the registered
 * directory and the one waiting to replace it. It nests inside the stream
 * core's locks, and the Thunderbolt core's xdomain_lock and
 * &tb_xdomain.lock nest inside it. The peer's advertisement is read under
 * the XDomain's own lock, &tb_xdomain.lock.
 */

/* How often an attached peer's properties are checked for changes, ms */
#define TBSTREAM_TB_WATCH_INTERVAL	1000

/* Key in a stream's sub-directory naming the host it is advertised for */
#define TBSTREAM_TB_LINK_KEY		"link"

/* 3a1cb984-c4d9-4469-a277-ce2fdfd11f0d */
static const uuid_t tbstream_tb_uuid =
	UUID_INIT(0x3a1cb984, 0xc4d9, 0x4469,
		  0xa2, 0x77, 0xce, 0x2f, 0xdf, 0xd1, 0x1f, 0x0d);

/**
 * struct tbstream_tb - A peer's stream service on a real cable
 * @peer: What the core sees
 * @svc: The service device we are bound to. We hold a reference to it
 *	 (and so to its XDomain) until &tbstream_backend_ops.release: the
 *	 core may still stop a stream's rings after remove().
 * @xd: Its XDomain connection
 * @watch: Re-reads the peer's advertisement when its properties change:
 *	   the 6.12 core tells service drivers nothing about that. After
 *	   a resume that could not register the peer, it retries that.
 * @remote_gen: Generation of the peer's properties last looked at
 * @link: Names the peer host in our advertisements for it, when
 *	  @has_link: tbstream_tb_link() of its UUID
 * @has_link: The XDomain knows the peer's UUID
 * @own_link: What the peer's advertisements for us carry: the same of
 *	      our UUID on this link
 * @has_own_link: The XDomain knows our UUID
 * @suspended: The peer is not registered with the core: for a system
 *	       sleep, or since a resume that failed to. Probe, remove and
 *	       the PM callbacks touch it, serialized by the device lock of
 *	       @svc, and @watch, which they cancel before they do.
 */
struct tbstream_tb {
	struct tbstream_peer peer;
	struct tb_service *svc;
	struct tb_xdomain *xd;
	struct delayed_work watch;
	u32 remote_gen;
	u32 link;
	bool has_link;
	u32 own_link;
	bool has_own_link;
	bool suspended;
};

/**
 * struct tbstream_tb_ring - NHI ring of a stream
 * @ring: The NHI ring
 * @lock: Guards @done and @armed; taken in the ring's completion work
 * @done: Transmit frames completed and not yet polled. The NHI has no
 *	  polling mode for transmit rings: their completions come through
 *	  frame callbacks, which queue them here.
 * @armed: The core waits for a transmit completion
 */
struct tbstream_tb_ring {
	struct tb_ring *ring;
	spinlock_t lock; /* @done and @armed */
	struct list_head done;
	bool armed;
};

/*
 * Every stream this host wants to advertise, on any peer, oldest first
 * (P: tbstream_tb_lock). Only the oldest entry of a name is published.
 * @link and @has_link are those of the peer's &struct tbstream_tb.
 */
struct tbstream_tb_advert {
	struct list_head node;
	const struct tbstream_peer *peer;
	char name[TBSTREAM_NAME_MAX + 1];
	int in_hopid;
	int out_hopid;
	u32 link;
	bool has_link;
};

static void tbstream_tb_swap_work(struct work_struct *work);
static void tbstream_tb_settle_work(struct work_struct *work);

/* Guards the seven below */
VISIBLE_IF_KUNIT struct mutex tbstream_tb_lock =
	__MUTEX_INITIALIZER(tbstream_tb_lock);
static LIST_HEAD(tbstream_tb_adverts);
/* The registered "stream" directory */
VISIBLE_IF_KUNIT struct tb_property_dir *tbstream_tb_dir;
/* The directory to register next, %NULL when @tbstream_tb_dir is current */
static struct tb_property_dir *tbstream_tb_next;
/* When @tbstream_tb_dir was registered, in jiffies */
static unsigned long tbstream_tb_registered;
/* Directory swaps since the module was loaded */
VISIBLE_IF_KUNIT unsigned int tbstream_tb_swaps;
/* Registers @tbstream_tb_next; queued under tbstream_tb_lock */
VISIBLE_IF_KUNIT DECLARE_DELAYED_WORK(tbstream_tb_swap,
				      tbstream_tb_swap_work);
/* Registers @tbstream_tb_dir again; queued by @tbstream_tb_swap only */
VISIBLE_IF_KUNIT DECLARE_DELAYED_WORK(tbstream_tb_settle,
				      tbstream_tb_settle_work);

static struct tbstream_tb *to_tbstream_tb(struct tbstream_peer *peer)
{
	return container_of(peer, struct tbstream_tb, peer);
}

/*
 * What names a host in the "link" key: the CRC32 of its UUID. A whole
 * UUID would cost four dwords more per stream, which the 500-dword limit
 * of the properties block cannot spare (see %TBSTREAM_TB_ADVERTS_MAX).
 */
static bool tbstream_tb_link(const uuid_t *uuid, u32 *link)
{
	if (!uuid)
		return false;
	*link = crc32_le(~0, (const u8 *)uuid, sizeof(*uuid));
	return true;
}

/* Ask for @hopid exactly: the core's allocators give the lowest >= it */
static int tbstream_tb_alloc_exact(struct tb_xdomain *xd,
				   enum tbstream_direction direction, int hopid)
{
	int ret;

	ret = direction == TBSTREAM_IN ? tb_xdomain_alloc_in_hopid(xd, hopid) :
					 tb_xdomain_alloc_out_hopid(xd, hopid);
	if (ret < 0 || ret == hopid)
		return ret == -ENOSPC ? -EBUSY : ret;

	if (direction == TBSTREAM_IN)
		tb_xdomain_release_in_hopid(xd, ret);
	else
		tb_xdomain_release_out_hopid(xd, ret);
	return -EBUSY;
}

static int tbstream_tb_alloc_hopid(struct tbstream_peer *peer,
				   enum tbstream_direction direction, int hopid)
{
	struct tb_xdomain *xd = to_tbstream_tb(peer)->xd;
	int ret;

	if (hopid >= 0)
		return tbstream_tb_alloc_exact(xd, direction, hopid);

	/* thunderbolt-net takes the lowest HopID, 8: leave it for last */
	ret = direction == TBSTREAM_IN ?
	      tb_xdomain_alloc_in_hopid(xd, TBSTREAM_HOPID_MIN + 1) :
	      tb_xdomain_alloc_out_hopid(xd, TBSTREAM_HOPID_MIN + 1);
	if (ret >= 0)
		return ret;
	ret = tbstream_tb_alloc_exact(xd, direction, TBSTREAM_HOPID_MIN);
	return ret == -EBUSY ? -ENOSPC : ret;
}

static void tbstream_tb_release_hopid(struct tbstream_peer *peer,
				      enum tbstream_direction direction,
				      int hopid)
{
	struct tb_xdomain *xd = to_tbstream_tb(peer)->xd;

	if (direction == TBSTREAM_IN)
		tb_xdomain_release_in_hopid(xd, hopid);
	else
		tb_xdomain_release_out_hopid(xd, hopid);
}

/**
 * tbstream_tb_create_dir() - Build the "stream" XDomain property directory
 *
 * The directory identifies the service to peers: its UUID and the protocol
 * immediates are what the stock driver and ours match on.
 *
 * Context: Process context.
 * Return: The new directory, or %NULL if out of memory.
 */
VISIBLE_IF_KUNIT struct tb_property_dir *tbstream_tb_create_dir(void)
{
	struct tb_property_dir *dir;

	dir = tb_property_create_dir(&tbstream_tb_uuid);
	if (!dir)
		return NULL;

	if (tb_property_add_immediate(dir, "prtcid", TBSTREAM_PROTOCOL_ID) ||
	    tb_property_add_immediate(dir, "prtcvers",
				      TBSTREAM_PROTOCOL_VERSION) ||
	    tb_property_add_immediate(dir, "prtcrevs",
				      TBSTREAM_PROTOCOL_REVISION) ||
	    tb_property_add_immediate(dir, "prtcstns", 0)) {
		tb_property_free_dir(dir);
		return NULL;
	}

	return dir;
}

static int tbstream_tb_add_stream_dir(struct tb_property_dir *dir,
				      const struct tbstream_tb_advert *adv)
{
	struct tb_property_dir *sub;
	int ret;

	sub = tb_property_create_dir(&tbstream_tb_uuid);
	if (!sub)
		return -ENOMEM;
	ret = tb_property_add_immediate(sub, "inhopid", adv->in_hopid);
	if (!ret)
		ret = tb_property_add_immediate(sub, "outhopid",
						adv->out_hopid);
	if (!ret && adv->has_link)
		ret = tb_property_add_immediate(sub, TBSTREAM_TB_LINK_KEY,
						adv->link);
	if (!ret)
		ret = tb_property_add_dir(dir, adv->name, sub);
	if (ret)
		tb_property_free_dir(sub);
	return ret;
}

/* Another peer's stream of the same name asked first */
static bool tbstream_tb_advert_shadowed(const struct tbstream_tb_advert *adv)
{
	const struct tbstream_tb_advert *first;

	lockdep_assert_held(&tbstream_tb_lock);

	list_for_each_entry(first, &tbstream_tb_adverts, node) {
		if (first == adv)
			return false;
		if (!strcmp(first->name, adv->name))
			return true;
	}
	return false;
}

/**
 * tbstream_tb_build_dir() - Build the "stream" directory to advertise
 *
 * The service directory of tbstream_tb_create_dir() with one sub-directory
 * per advertised stream, keyed by the stream name, holding the immediates
 * "inhopid" and "outhopid", and "link" naming the peer host when its UUID
 * is known. Of streams that share a name on different peers, only the one
 * that asked first is in it.
 *
 * Context: Process context, with tbstream_tb_lock held.
 * Return: The directory, or ERR_PTR(-ENOMEM).
 */
VISIBLE_IF_KUNIT struct tb_property_dir *tbstream_tb_build_dir(void)
{
	struct tbstream_tb_advert *adv;
	struct tb_property_dir *dir;

	KUNIT_STATIC_STUB_REDIRECT(tbstream_tb_build_dir);
	lockdep_assert_held(&tbstream_tb_lock);

	dir = tbstream_tb_create_dir();
	if (!dir)
		return ERR_PTR(-ENOMEM);
	list_for_each_entry(adv, &tbstream_tb_adverts, node) {
		if (tbstream_tb_advert_shadowed(adv))
			continue;
		if (tbstream_tb_add_stream_dir(dir, adv)) {
			tb_property_free_dir(dir);
			return ERR_PTR(-ENOMEM);
		}
	}
	return dir;
}

/*
 * Have tbstream_tb_next registered: at once after a quiet spell, so that a
 * single change is not held back, else %TBSTREAM_TB_PUBLISH_INTERVAL after
 * the last swap, together with every change made in between.
 */
static void tbstream_tb_schedule(void)
{
	unsigned long due = tbstream_tb_registered +
			    msecs_to_jiffies(TBSTREAM_TB_PUBLISH_INTERVAL);
	unsigned long now = jiffies;

	lockdep_assert_held(&tbstream_tb_lock);

	queue_delayed_work(system_wq, &tbstream_tb_swap,
			   time_after(due, now) ? due - now : 0);
}

/*
 * The 6.12 core offers no way to change a registered directory in place,
 * so a new "stream" directory replaces the old one. Between the two calls
 * the core walks the bus to queue property change notifications, and a
 * properties request that a peer sends exactly then finds no stream
 * service (see "Differences between kernels" in the admin guide): each
 * swap is such a window, and tbstream_tb_schedule() keeps them few.
 * Registers @tbstream_tb_next; on failure, puts the old one back.
 */
static int tbstream_tb_swap_next(void)
{
	int ret;

	lockdep_assert_held(&tbstream_tb_lock);

	tb_unregister_property_dir(TBSTREAM_SERVICE_KEY, tbstream_tb_dir);
	ret = tb_register_property_dir(TBSTREAM_SERVICE_KEY,
				       tbstream_tb_next);
	tbstream_tb_registered = jiffies;
	if (ret) {
		if (tb_register_property_dir(TBSTREAM_SERVICE_KEY,
					     tbstream_tb_dir))
			pr_err("stream service directory lost\n");
		return ret;
	}
	tb_property_free_dir(tbstream_tb_dir);
	tbstream_tb_dir = tbstream_tb_next;
	tbstream_tb_next = NULL;
	tbstream_tb_swaps++;
	pr_debug("stream service directory replaced, %u times\n",
		 tbstream_tb_swaps);
	return 0;
}

static void tbstream_tb_swap_work(struct work_struct *work)
{
	int ret;

	mutex_lock(&tbstream_tb_lock);
	if (!tbstream_tb_next)
		goto out_unlock;

	ret = tbstream_tb_swap_next();
	if (ret) {
		/* Try again later */
		pr_warn_ratelimited("advertisements not updated: %d\n", ret);
		tbstream_tb_schedule();
		goto out_unlock;
	}
	mod_delayed_work(system_wq, &tbstream_tb_settle,
			 msecs_to_jiffies(TBSTREAM_TB_SETTLE_TIME));
out_unlock:
	mutex_unlock(&tbstream_tb_lock);
}

/*
 * A peer reads our properties in pieces, and the 6.12 core checks neither
 * that the pieces are of one generation (tb_xdp_properties_request()) nor
 * ever takes a generation it has seen again. A swap in the middle of a
 * peer's read, of the read that the swap before made it do or of its
 * discovery of us when our streams attach at probe, leaves the peer with a
 * torn block under the newest generation, and it takes no notice of the
 * notifications that follow. It also drops a notification that reaches it
 * before it has registered our XDomain (tb_xdomain_handle_request()). The
 * peer's streams then never inherit, or keep what we withdrew. So once
 * the changes have settled, the same directory is registered again: a new
 * generation, which every peer reads whole.
 */
static void tbstream_tb_settle_work(struct work_struct *work)
{
	struct tb_property_dir *dir;
	int ret;

	mutex_lock(&tbstream_tb_lock);
	/* A change still to be registered settles after its own swap */
	if (tbstream_tb_next)
		goto out_unlock;
	/* What the list holds is what is registered */
	dir = tbstream_tb_build_dir();
	ret = PTR_ERR_OR_ZERO(dir);
	if (!ret) {
		tbstream_tb_next = dir;
		ret = tbstream_tb_swap_next();
	}
	if (ret) {
		pr_warn("advertisements not announced again: %d\n", ret);
		tb_property_free_dir(tbstream_tb_next);
		tbstream_tb_next = NULL;
	}
out_unlock:
	mutex_unlock(&tbstream_tb_lock);
}

/* Build the directory for what is in the list now, and have it registered */
static int tbstream_tb_publish(void)
{
	struct tb_property_dir *dir;

	lockdep_assert_held(&tbstream_tb_lock);

	dir = tbstream_tb_build_dir();
	if (IS_ERR(dir))
		return PTR_ERR(dir);

	tb_property_free_dir(tbstream_tb_next);
	tbstream_tb_next = dir;
	tbstream_tb_schedule();
	return 0;
}

/* Streams in the published directory */
static unsigned int tbstream_tb_published(void)
{
	const struct tbstream_tb_advert *adv;
	unsigned int n = 0;

	lockdep_assert_held(&tbstream_tb_lock);

	list_for_each_entry(adv, &tbstream_tb_adverts, node)
		n += !tbstream_tb_advert_shadowed(adv);
	return n;
}

static struct tbstream_tb_advert *
tbstream_tb_find_advert(const struct tbstream_peer *peer, const char *name)
{
	struct tbstream_tb_advert *adv;

	lockdep_assert_held(&tbstream_tb_lock);

	list_for_each_entry(adv, &tbstream_tb_adverts, node) {
		if (adv->peer == peer && !strcmp(adv->name, name))
			return adv;
	}
	return NULL;
}

/*
 * The property directory is global in the 6.12 core: every peer sees
 * every stream, so a name can be advertised for one peer at a time. A
 * stream whose name another peer's stream holds waits in the list and is
 * published when that one is withdrawn.
 */
static int tbstream_tb_advertise(struct tbstream_peer *peer,
				 const char *name, int in_hopid, int out_hopid)
{
	struct tbstream_tb_advert *adv;
	int old_in = 0, old_out = 0;
	bool added = false;
	int ret = 0;

	mutex_lock(&tbstream_tb_lock);
	adv = tbstream_tb_find_advert(peer, name);
	if (adv && adv->in_hopid == in_hopid && adv->out_hopid == out_hopid)
		goto out_unlock;
	if (adv) {
		old_in = adv->in_hopid;
		old_out = adv->out_hopid;
	} else {
		adv = kzalloc(sizeof(*adv), GFP_KERNEL);
		if (!adv) {
			ret = -ENOMEM;
			goto out_unlock;
		}
		adv->peer = peer;
		adv->link = to_tbstream_tb(peer)->link;
		adv->has_link = to_tbstream_tb(peer)->has_link;
		strscpy(adv->name, name, sizeof(adv->name));
		list_add_tail(&adv->node, &tbstream_tb_adverts);
		added = true;
	}
	adv->in_hopid = in_hopid;
	adv->out_hopid = out_hopid;
	if (tbstream_tb_advert_shadowed(adv)) {
		dev_info(peer->dev,
			 "%s: name advertised to another peer, waiting for it\n",
			 name);
		goto out_unlock;
	}
	if (added && tbstream_tb_published() > TBSTREAM_TB_ADVERTS_MAX) {
		dev_warn(peer->dev,
			 "%s: more than %d streams to advertise, towards all peers together\n",
			 name, TBSTREAM_TB_ADVERTS_MAX);
		ret = -ENOSPC;
	} else {
		ret = tbstream_tb_publish();
	}
	if (ret) {
		/* Keep what peers see, so that asking again publishes again */
		if (added) {
			list_del(&adv->node);
			kfree(adv);
		} else {
			adv->in_hopid = old_in;
			adv->out_hopid = old_out;
		}
	}
out_unlock:
	mutex_unlock(&tbstream_tb_lock);
	return ret;
}

static void tbstream_tb_withdraw(struct tbstream_peer *peer, const char *name)
{
	struct tbstream_tb_advert *adv;
	bool shadowed;

	mutex_lock(&tbstream_tb_lock);
	adv = tbstream_tb_find_advert(peer, name);
	if (adv) {
		shadowed = tbstream_tb_advert_shadowed(adv);
		list_del(&adv->node);
		kfree(adv);
		/* A stream waiting for the name takes it over here */
		if (!shadowed && tbstream_tb_publish())
			pr_warn("%s: advertisement not withdrawn\n", name);
	}
	mutex_unlock(&tbstream_tb_lock);
}

static int tbstream_tb_immediate(struct tb_property_dir *dir,
				 const char *key, int *value)
{
	struct tb_property *p;

	p = tb_property_find(dir, key, TB_PROPERTY_TYPE_VALUE);
	if (!p)
		return -ENOENT;
	*value = p->value.immediate;
	return 0;
}

/*
 * Whether the peer's advertisement @dir of stream @name is meant for us:
 * the stock driver's carry no "link" and are; ours name the host they are
 * for, as a peer with several links publishes every link's streams to all.
 */
static bool tbstream_tb_for_us(struct tbstream_tb *tp,
			       struct tb_property_dir *dir, const char *name)
{
	struct tb_property *p;

	lockdep_assert_held(&tp->xd->lock);

	p = tb_property_find(dir, TBSTREAM_TB_LINK_KEY, TB_PROPERTY_TYPE_VALUE);
	if (!p || (tp->has_own_link && p->value.immediate == tp->own_link))
		return true;
	dev_info(tp->peer.dev,
		 "%s: peer advertises it for another host, not inheriting\n",
		 name);
	return false;
}

static int tbstream_tb_lookup(struct tbstream_peer *peer, const char *name,
			      int *in, int *out)
{
	struct tbstream_tb *tp = to_tbstream_tb(peer);
	struct tb_xdomain *xd = tp->xd;
	struct tb_property *svc, *p;
	int ret = -ENOENT;

	mutex_lock(&xd->lock);
	if (!xd->remote_properties)
		goto out_unlock;
	svc = tb_property_find(xd->remote_properties, TBSTREAM_SERVICE_KEY,
			       TB_PROPERTY_TYPE_DIRECTORY);
	if (!svc)
		goto out_unlock;
	p = tb_property_find(svc->value.dir, name, TB_PROPERTY_TYPE_DIRECTORY);
	if (!p || !tbstream_tb_for_us(tp, p->value.dir, name))
		goto out_unlock;
	ret = tbstream_tb_immediate(p->value.dir, "inhopid", in);
	if (!ret)
		ret = tbstream_tb_immediate(p->value.dir, "outhopid", out);
out_unlock:
	mutex_unlock(&xd->lock);
	return ret;
}

static void tbstream_tb_tx_callback(struct tb_ring *ring,
				    struct ring_frame *frame, bool canceled)
{
	struct tbstream_ring *sring = ring->poll_data;
	struct tbstream_tb_ring *tr = sring->priv;
	unsigned long flags;
	bool irq;

	if (canceled)
		return;

	spin_lock_irqsave(&tr->lock, flags);
	list_add_tail(&frame->list, &tr->done);
	irq = tr->armed;
	tr->armed = false;
	spin_unlock_irqrestore(&tr->lock, flags);

	if (irq)
		sring->start_poll(sring->poll_data);
}

static void tbstream_tb_unmap(struct tbstream_ring *ring, unsigned int count)
{
	struct tbstream_tb_ring *tr = ring->priv;
	struct device *dma = tb_ring_dma_device(tr->ring);
	enum dma_data_direction dma_dir;
	unsigned int i;

	dma_dir = ring->direction == TBSTREAM_OUT ? DMA_TO_DEVICE :
						    DMA_FROM_DEVICE;
	for (i = 0; i < count; i++)
		dma_unmap_single(dma, ring->frames[i].frame.buffer_phy,
				 TBSTREAM_FRAME_SIZE, dma_dir);
}

static int tbstream_tb_map(struct tbstream_ring *ring, unsigned int count)
{
	struct tbstream_tb_ring *tr = ring->priv;
	struct device *dma = tb_ring_dma_device(tr->ring);
	struct tbstream_frame *tf;
	enum dma_data_direction dma_dir;
	unsigned int i;

	dma_dir = ring->direction == TBSTREAM_OUT ? DMA_TO_DEVICE :
						    DMA_FROM_DEVICE;
	for (i = 0; i < count; i++) {
		tf = &ring->frames[i];
		tf->frame.buffer_phy = dma_map_single(dma, tf->buf,
						      TBSTREAM_FRAME_SIZE,
						      dma_dir);
		if (dma_mapping_error(dma, tf->frame.buffer_phy)) {
			tbstream_tb_unmap(ring, i);
			return -ENOMEM;
		}
		if (ring->direction == TBSTREAM_OUT)
			tf->frame.callback = tbstream_tb_tx_callback;
	}
	return 0;
}

static struct tb_ring *tbstream_tb_alloc_nhi_ring(struct tbstream_ring *ring)
{
	struct tb_xdomain *xd = to_tbstream_tb(ring->peer)->xd;
	unsigned int flags = RING_FLAG_FRAME | RING_FLAG_E2E;
	struct tb_ring *r;

	if (ring->direction == TBSTREAM_OUT) {
		r = tb_ring_alloc_tx(xd->tb->nhi, -1, ring->size, flags);
		/*
		 * Transmit rings have no polling mode and so no use for
		 * poll_data: it leads the frame callbacks back to @ring.
		 */
		if (r)
			r->poll_data = ring;
		return r;
	}
	return tb_ring_alloc_rx(xd->tb->nhi, -1, ring->size, flags,
				ring->e2e_tx_hop, BIT(TBSTREAM_PDF_SOF),
				BIT(TBSTREAM_PDF_DATA) | BIT(TBSTREAM_PDF_CLOSE),
				ring->start_poll, ring->poll_data);
}

static int tbstream_tb_ring_alloc(struct tbstream_ring *ring)
{
	struct tbstream_tb_ring *tr;
	int ret;

	tr = kzalloc(sizeof(*tr), GFP_KERNEL);
	if (!tr)
		return -ENOMEM;
	spin_lock_init(&tr->lock);
	INIT_LIST_HEAD(&tr->done);
	tr->ring = tbstream_tb_alloc_nhi_ring(ring);
	if (!tr->ring) {
		ret = -ENOMEM;
		goto err_free;
	}
	ring->priv = tr;
	ring->hop = tr->ring->hop;
	ret = tbstream_tb_map(ring, ring->size - 1);
	if (ret)
		goto err_free_ring;
	return 0;

err_free_ring:
	tb_ring_free(tr->ring);
err_free:
	kfree(tr);
	ring->priv = NULL;
	return ret;
}

static void tbstream_tb_ring_free(struct tbstream_ring *ring)
{
	struct tbstream_tb_ring *tr = ring->priv;

	tbstream_tb_unmap(ring, ring->size - 1);
	tb_ring_free(tr->ring);
	kfree(tr);
	ring->priv = NULL;
}

static void tbstream_tb_ring_start(struct tbstream_ring *ring)
{
	struct tbstream_tb_ring *tr = ring->priv;

	tr->armed = true;
	tb_ring_start(tr->ring);
}

static void tbstream_tb_ring_stop(struct tbstream_ring *ring)
{
	struct tbstream_tb_ring *tr = ring->priv;
	struct ring_frame *frame, *n;
	unsigned long flags;

	/*
	 * A receive ring in polling mode keeps its interrupt masked from a
	 * completion until tb_ring_poll_complete(), and tb_ring_stop() warns
	 * when it finds it masked. The paths are down already: take what has
	 * completed, so that unmasking raises no interrupt, then unmask.
	 */
	if (ring->direction == TBSTREAM_IN) {
		while (tb_ring_poll(tr->ring))
			;
		tb_ring_poll_complete(tr->ring);
	}
	tb_ring_stop(tr->ring);

	/* Completed and never polled: the core takes them back as they are */
	spin_lock_irqsave(&tr->lock, flags);
	list_for_each_entry_safe(frame, n, &tr->done, list)
		list_del_init(&frame->list);
	spin_unlock_irqrestore(&tr->lock, flags);
}

static int tbstream_tb_enqueue(struct tbstream_ring *ring,
			       struct ring_frame *frame)
{
	struct tbstream_tb_ring *tr = ring->priv;
	struct device *dma = tb_ring_dma_device(tr->ring);

	/* The buffer goes back to the device: with swiotlb, a bounce copy */
	if (ring->direction == TBSTREAM_IN) {
		dma_sync_single_for_device(dma, frame->buffer_phy,
					   TBSTREAM_FRAME_SIZE,
					   DMA_FROM_DEVICE);
		return tb_ring_rx(tr->ring, frame);
	}
	dma_sync_single_for_device(dma, frame->buffer_phy,
				   tbstream_frame_len(frame), DMA_TO_DEVICE);
	return tb_ring_tx(tr->ring, frame);
}

static struct ring_frame *tbstream_tb_poll(struct tbstream_ring *ring)
{
	struct tbstream_tb_ring *tr = ring->priv;
	struct ring_frame *frame = NULL;
	unsigned long flags;

	if (ring->direction == TBSTREAM_IN) {
		frame = tb_ring_poll(tr->ring);
		if (frame)
			dma_sync_single_for_cpu(tb_ring_dma_device(tr->ring),
						frame->buffer_phy,
						tbstream_frame_len(frame),
						DMA_FROM_DEVICE);
		return frame;
	}

	spin_lock_irqsave(&tr->lock, flags);
	frame = list_first_entry_or_null(&tr->done, struct ring_frame, list);
	if (frame)
		list_del_init(&frame->list);
	spin_unlock_irqrestore(&tr->lock, flags);
	return frame;
}

static void tbstream_tb_poll_complete(struct tbstream_ring *ring)
{
	struct tbstream_tb_ring *tr = ring->priv;
	unsigned long flags;
	bool irq;

	if (ring->direction == TBSTREAM_IN) {
		tb_ring_poll_complete(tr->ring);
		return;
	}

	spin_lock_irqsave(&tr->lock, flags);
	irq = !list_empty(&tr->done);
	tr->armed = !irq;
	spin_unlock_irqrestore(&tr->lock, flags);
	if (irq)
		ring->start_poll(ring->poll_data);
}

static int tbstream_tb_enable_paths(struct tbstream_peer *peer,
				    int out_hopid, struct tbstream_ring *tx,
				    int in_hopid, struct tbstream_ring *rx)
{
	return tb_xdomain_enable_paths(to_tbstream_tb(peer)->xd, out_hopid,
				       tx->hop, in_hopid, rx->hop);
}

static void tbstream_tb_disable_paths(struct tbstream_peer *peer,
				      int out_hopid, struct tbstream_ring *tx,
				      int in_hopid, struct tbstream_ring *rx)
{
	struct tbstream_tb *tp = to_tbstream_tb(peer);
	int ret;

	ret = tb_xdomain_disable_paths(tp->xd, out_hopid, tx->hop, in_hopid,
				       rx->hop);
	if (ret && !tp->xd->is_unplugged)
		dev_warn(peer->dev, "disabling DMA paths failed: %d\n", ret);
}

/* The last start or stop that outlived remove() is done */
static void tbstream_tb_release(struct tbstream_peer *peer)
{
	struct tbstream_tb *tp = to_tbstream_tb(peer);

	put_device(&tp->svc->dev);
	kfree(tp);
}

static const struct tbstream_backend_ops tbstream_tb_ops = {
	.alloc_hopid = tbstream_tb_alloc_hopid,
	.release_hopid = tbstream_tb_release_hopid,
	.advertise = tbstream_tb_advertise,
	.withdraw = tbstream_tb_withdraw,
	.lookup = tbstream_tb_lookup,
	.ring_alloc = tbstream_tb_ring_alloc,
	.ring_free = tbstream_tb_ring_free,
	.ring_start = tbstream_tb_ring_start,
	.ring_stop = tbstream_tb_ring_stop,
	.enqueue = tbstream_tb_enqueue,
	.poll = tbstream_tb_poll,
	.poll_complete = tbstream_tb_poll_complete,
	.enable_paths = tbstream_tb_enable_paths,
	.disable_paths = tbstream_tb_disable_paths,
	.release = tbstream_tb_release,
};

static void tbstream_tb_watch(struct work_struct *work)
{
	struct tbstream_tb *tp = container_of(to_delayed_work(work),
					      struct tbstream_tb, watch);
	bool changed;
	u32 gen;

	if (tp->suspended) {
		tp->suspended = tbstream_peer_register(&tp->peer) != 0;
		goto out_again;
	}
	mutex_lock(&tp->xd->lock);
	gen = tp->xd->remote_property_block_gen;
	mutex_unlock(&tp->xd->lock);

	changed = gen != tp->remote_gen;
	tp->remote_gen = gen;
	if (changed)
		tbstream_peer_changed(&tp->peer);
out_again:
	schedule_delayed_work(&tp->watch,
			      msecs_to_jiffies(TBSTREAM_TB_WATCH_INTERVAL));
}

/* The Thunderbolt service driver */

/* Linux 7.3 dropped the matching ID, which we never needed (see Kbuild) */
#ifdef TBSTREAM_PROBE_NO_ID
static int tbstream_tb_probe(struct tb_service *svc)
#else
static int tbstream_tb_probe(struct tb_service *svc,
			     const struct tb_service_id *id)
#endif
{
	struct tbstream_tb *tp;
	int ret;

	tp = kzalloc(sizeof(*tp), GFP_KERNEL);
	if (!tp)
		return -ENOMEM;
	/* Keeps @svc and its XDomain around for the rings (see release) */
	get_device(&svc->dev);
	tp->svc = svc;
	tp->xd = tb_service_parent(svc);
	tp->peer.dev = &svc->dev;
	tp->peer.ops = &tbstream_tb_ops;
	kref_init(&tp->peer.kref);
	strscpy(tp->peer.name, dev_name(&svc->dev), sizeof(tp->peer.name));
	INIT_DELAYED_WORK(&tp->watch, tbstream_tb_watch);
	tp->remote_gen = tp->xd->remote_property_block_gen;
	/* Both are set before the core enumerates services, and then kept */
	tp->has_link = tbstream_tb_link(tp->xd->remote_uuid, &tp->link);
	tp->has_own_link = tbstream_tb_link(tp->xd->local_uuid,
					    &tp->own_link);

	ret = tbstream_peer_register(&tp->peer);
	if (ret) {
		tbstream_peer_put(&tp->peer);
		return ret;
	}
	tb_service_set_drvdata(svc, tp);
	schedule_delayed_work(&tp->watch,
			      msecs_to_jiffies(TBSTREAM_TB_WATCH_INTERVAL));
	return 0;
}

static void tbstream_tb_remove(struct tb_service *svc)
{
	struct tbstream_tb *tp = tb_service_get_drvdata(svc);

	cancel_delayed_work_sync(&tp->watch);
	if (!tp->suspended)
		tbstream_peer_unregister(&tp->peer);
	tbstream_peer_put(&tp->peer);
}

/*
 * A system sleep takes the link down, and the peer sees an unplug. The
 * streams of this peer end their files the same way here (-ENXIO, with
 * the data in flight lost on both ends) and attach again on resume, so
 * that both hosts agree on what was delivered.
 */
static int tbstream_tb_suspend(struct device *dev)
{
	struct tbstream_tb *tp = tb_service_get_drvdata(tb_to_service(dev));

	cancel_delayed_work_sync(&tp->watch);
	tbstream_peer_unregister(&tp->peer);
	tp->suspended = true;
	return 0;
}

/* A failure to attach the streams again is retried by the watch */
static int tbstream_tb_resume(struct device *dev)
{
	struct tbstream_tb *tp = tb_service_get_drvdata(tb_to_service(dev));
	int ret;

	ret = tbstream_peer_register(&tp->peer);
	if (ret)
		dev_warn(dev, "streams not attached after resume: %d, retrying\n",
			 ret);
	tp->suspended = ret != 0;
	schedule_delayed_work(&tp->watch,
			      msecs_to_jiffies(TBSTREAM_TB_WATCH_INTERVAL));
	return 0;
}

static DEFINE_SIMPLE_DEV_PM_OPS(tbstream_tb_pm_ops, tbstream_tb_suspend,
				tbstream_tb_resume);

static const struct tb_service_id tbstream_tb_ids[] = {
	{ TB_SERVICE(TBSTREAM_SERVICE_KEY, TBSTREAM_PROTOCOL_ID) },
	{ },
};
MODULE_DEVICE_TABLE(tbsvc, tbstream_tb_ids);

static struct tb_service_driver tbstream_tb_driver = {
	.driver = {
		.owner = THIS_MODULE,
		.name = "thunderbolt_stream",
		.pm = pm_sleep_ptr(&tbstream_tb_pm_ops),
	},
	.probe = tbstream_tb_probe,
	.remove = tbstream_tb_remove,
	.id_table = tbstream_tb_ids,
};

/**
 * tbstream_tb_init() - Offer the stream service and bind to peers' ones
 *
 * Registers the "stream" property directory, so that peers see our
 * service, and then the service driver, which binds to theirs.
 *
 * Context: Process context (module init).
 * Return: %0, or the error of the Thunderbolt core.
 */
int tbstream_tb_init(void)
{
	int ret;

	tbstream_tb_dir = tbstream_tb_create_dir();
	if (!tbstream_tb_dir)
		return -ENOMEM;

	/* The first change is published at once */
	tbstream_tb_registered = jiffies -
				 msecs_to_jiffies(TBSTREAM_TB_PUBLISH_INTERVAL);
	ret = tb_register_property_dir(TBSTREAM_SERVICE_KEY, tbstream_tb_dir);
	if (ret)
		goto err_free_dir;

	ret = tb_register_service_driver(&tbstream_tb_driver);
	if (ret)
		goto err_unregister_dir;
	return 0;

err_unregister_dir:
	tb_unregister_property_dir(TBSTREAM_SERVICE_KEY, tbstream_tb_dir);
err_free_dir:
	tb_property_free_dir(tbstream_tb_dir);
	return ret;
}

/**
 * tbstream_tb_exit() - Undo tbstream_tb_init()
 *
 * Context: Process context (module exit).
 */
void tbstream_tb_exit(void)
{
	tb_unregister_service_driver(&tbstream_tb_driver);
	/* No peer is left to change what is advertised */
	cancel_delayed_work_sync(&tbstream_tb_swap);
	/* Nor a swap to queue this */
	cancel_delayed_work_sync(&tbstream_tb_settle);
	tb_unregister_property_dir(TBSTREAM_SERVICE_KEY, tbstream_tb_dir);
	tb_property_free_dir(tbstream_tb_dir);
	tb_property_free_dir(tbstream_tb_next);
	tbstream_tb_next = NULL;
}
