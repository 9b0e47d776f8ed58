/* SPDX-License-Identifier: GPL-2.0 */
/*
 * USB4STREAM: raw byte streams between hosts over USB4/Thunderbolt
 *
 * Private header shared by the files of the thunderbolt_stream module:
 * the stream core, its ConfigFS interface, the cable backends and the
 * KUnit tests.
 *
 * Copyright (C) 2026, The thunderbolt_stream developers
 */

#ifndef DRIVERS_THUNDERBOLT_STREAM_H
#define DRIVERS_THUNDERBOLT_STREAM_H

#include <linux/configfs.h>
#include <linux/kref.h>
#include <linux/miscdevice.h>
#include <linux/mutex.h>
#include <linux/poll.h>
#include <linux/spinlock.h>
#include <linux/thunderbolt.h>
#include <linux/types.h>
#include <linux/uio.h>
#include <linux/wait.h>

/* XDomain service key and protocol of USB4STREAM */
#define TBSTREAM_SERVICE_KEY		"stream"
#define TBSTREAM_PROTOCOL_ID		1
#define TBSTREAM_PROTOCOL_VERSION	1
#define TBSTREAM_PROTOCOL_REVISION	0

/* Property keys and stream names are at most this many characters */
#define TBSTREAM_NAME_MAX		8

/* Frames on the wire, and the PDF values that tell them apart */
#define TBSTREAM_FRAME_SIZE		4096
#define TBSTREAM_CLOSE_SIZE		256
#define TBSTREAM_PDF_SOF		1
#define TBSTREAM_PDF_DATA		2
#define TBSTREAM_PDF_CLOSE		3

/* ConfigFS limits and defaults */
#define TBSTREAM_RING_SIZE_MIN		32
#define TBSTREAM_RING_SIZE_MAX		4096
#define TBSTREAM_RING_SIZE_DEFAULT	256
#define TBSTREAM_THROTTLING_MAX		16776960
#define TBSTREAM_THROTTLING_DEFAULT	8192

/* HopIDs: the first one usable for tunnelling, and the largest one */
#define TBSTREAM_HOPID_MIN		8
#define TBSTREAM_HOPID_MAX		2047
/* Values of the in_hopid/out_hopid attributes with special meaning */
#define TBSTREAM_HOPID_AUTO		(-1)
#define TBSTREAM_HOPID_NONE		0

struct tbstream_peer;

/**
 * enum tbstream_direction - Direction of a HopID or a ring, seen from this host
 * @TBSTREAM_IN: From the peer to us (receive)
 * @TBSTREAM_OUT: From us to the peer (transmit)
 */
enum tbstream_direction {
	TBSTREAM_IN,
	TBSTREAM_OUT,
};

/**
 * struct tbstream_frame - One ring descriptor's frame and its buffer
 * @frame: What the ring layer sees: buffer address, size, PDFs, flags
 * @buf: CPU address of the %TBSTREAM_FRAME_SIZE bytes buffer
 *
 * The core allocates the buffers (kmalloc(), %TBSTREAM_FRAME_SIZE each)
 * and frees them with the frames; the backend maps them for its hardware
 * when the ring is allocated and keeps them mapped until the ring is
 * freed. A backend without DMA (the simulated cable) may trade the
 * buffers of a transmit and a receive frame when it completes them, so
 * the core reaches a buffer only through its frame.
 */
struct tbstream_frame {
	struct ring_frame frame;
	void *buf;
};

/**
 * tbstream_frame_len() - Length of a frame's payload
 * @frame: A transmit frame, or a completed receive frame
 *
 * The hardware's length field has 12 bits; 0 stands for 4096.
 *
 * Return: 1 to %TBSTREAM_FRAME_SIZE.
 */
static inline unsigned int tbstream_frame_len(const struct ring_frame *frame)
{
	return frame->size ?: TBSTREAM_FRAME_SIZE;
}

/**
 * struct tbstream_ring - One direction of a stream's DMA, as the core asks
 * @peer: Peer the ring talks to
 * @direction: %TBSTREAM_OUT for a transmit ring, %TBSTREAM_IN for receive
 * @frames: @size frames whose buffers the backend maps at allocation
 * @size: Number of descriptors; at most @size - 1 frames are in flight
 * @e2e_tx_hop: Receive rings only: hop of the transmit ring that returns
 *		end-to-end flow control credits to the peer
 * @throttling: Interrupt throttling interval in ns (a hint: not every
 *		backend can honour it per ring)
 * @start_poll: Called, possibly in hard interrupt context, when frames
 *		have completed. Interrupts then stay off until the core calls
 *		&tbstream_backend_ops.poll_complete.
 * @poll_data: Argument of @start_poll
 * @hop: Set by the backend: the ring's hop (DMA path endpoint)
 * @priv: Backend private data
 */
struct tbstream_ring {
	struct tbstream_peer *peer;
	enum tbstream_direction direction;
	struct tbstream_frame *frames;
	unsigned int size;
	int e2e_tx_hop;
	unsigned int throttling;
	void (*start_poll)(void *data);
	void *poll_data;
	int hop;
	void *priv;
};

/**
 * struct tbstream_backend_ops - How the stream core drives a cable
 * @alloc_hopid: Allocate a HopID in the @dir space of the peer link: a
 *		 negative @hopid picks a free one (the backend's policy), a
 *		 positive one asks for exactly that. Returns the HopID, or
 *		 -EINVAL when out of range, -ENOSPC when none is free,
 *		 -EBUSY when the exact one is taken.
 * @release_hopid: Release a HopID that @alloc_hopid returned.
 * @advertise: Publish (or update) stream @name with our HopIDs to the peer.
 * @withdraw: Remove stream @name from what the peer sees. Never fails.
 * @lookup: Read the peer's advertisement of stream @name: its receive
 *	    (@in) and transmit (@out) HopIDs. -ENOENT when not advertised.
 * @ring_alloc: Allocate the hardware ring described by @ring in frame mode
 *		with end-to-end flow control, map its frames, set @ring->hop.
 * @ring_free: Undo @ring_alloc. The ring is stopped.
 * @ring_start: Start the ring; frames may now be queued.
 * @ring_stop: Stop the ring. Every queued frame's callback runs once with
 *	       @canceled set before this returns; afterwards @enqueue fails
 *	       with -ESHUTDOWN and @poll returns %NULL.
 * @enqueue: Queue a frame: transmit (size, SOF/EOF PDF set) or receive
 *	     buffer. Frames complete in order. A transmit frame completes
 *	     only once the peer has a receive buffer posted (E2E credits)
 *	     and both paths are enabled.
 * @poll: Take the next completed frame, or %NULL. Receive frames carry
 *	  size, SOF/EOF PDF and error flags.
 * @poll_complete: Re-enable the completion interrupt. On a transmit ring,
 *		   @start_poll runs again if frames completed meanwhile; a
 *		   receive ring need not raise it for frames that completed
 *		   while masked (the NHI does not promise to), and the core
 *		   polls again after re-enabling.
 * @enable_paths: Set up the DMA paths: @tx transmits to the peer on
 *		  @out_hopid, traffic for @in_hopid lands in @rx. Receive
 *		  buffers should be posted before this is called.
 * @disable_paths: Tear the paths down. Frames in flight stop moving; they
 *		   complete (canceled) only when the ring stops.
 * @release: Free the peer: its last reference is gone (tbstream_peer_put()).
 *
 * The contract mirrors the NHI ring API of <linux/thunderbolt.h>. Every
 * operation is called in process context, except @poll, @poll_complete
 * and @enqueue which may also be called with a spinlock held. The core
 * never holds a lock of its own across @enable_paths or @disable_paths:
 * they may wait for the connection manager's lock (&tb.lock), which the
 * Thunderbolt core holds while it unregisters a peer.
 */
struct tbstream_backend_ops {
	int (*alloc_hopid)(struct tbstream_peer *peer,
			   enum tbstream_direction dir, int hopid);
	void (*release_hopid)(struct tbstream_peer *peer,
			      enum tbstream_direction dir, int hopid);
	int (*advertise)(struct tbstream_peer *peer, const char *name,
			 int in_hopid, int out_hopid);
	void (*withdraw)(struct tbstream_peer *peer, const char *name);
	int (*lookup)(struct tbstream_peer *peer, const char *name, int *in,
		      int *out);
	int (*ring_alloc)(struct tbstream_ring *ring);
	void (*ring_free)(struct tbstream_ring *ring);
	void (*ring_start)(struct tbstream_ring *ring);
	void (*ring_stop)(struct tbstream_ring *ring);
	int (*enqueue)(struct tbstream_ring *ring, struct ring_frame *frame);
	struct ring_frame *(*poll)(struct tbstream_ring *ring);
	void (*poll_complete)(struct tbstream_ring *ring);
	int (*enable_paths)(struct tbstream_peer *peer, int out_hopid,
			    struct tbstream_ring *tx, int in_hopid,
			    struct tbstream_ring *rx);
	void (*disable_paths)(struct tbstream_peer *peer, int out_hopid,
			      struct tbstream_ring *tx, int in_hopid,
			      struct tbstream_ring *rx);
	void (*release)(struct tbstream_peer *peer);
};

/**
 * struct tbstream_peer - A peer's stream service, as a backend presents it
 * @name: Service device name, "<domain>-<route>.<index>"
 * @dev: Device for messages (the service device)
 * @ops: Backend operations
 * @kref: References: the backend's own, dropped with tbstream_peer_put()
 *	  when the peer has gone for good, and one for each start or stop of
 *	  a stream's rings in progress, which may outlive the unregistration
 * @node: Entry in the core's list of peers (P: tbstream_lock)
 * @service: ConfigFS service group attached to, or %NULL (P: tbstream_lock)
 *
 * The backend fills @name, @dev and @ops, initializes @kref, then calls
 * tbstream_peer_register(), as often as the peer comes and goes. The core
 * owns the rest. The backend's operations must keep working on the rings
 * of an unregistered peer until &tbstream_backend_ops.release.
 */
struct tbstream_peer {
	char name[32];
	struct device *dev;
	const struct tbstream_backend_ops *ops;
	struct kref kref;
	struct list_head node;
	struct tbstream_service *service;
};

/**
 * struct tbstream_service - A ConfigFS <xdomain>.<service> group
 * @group: ConfigFS group; its name is the peer's service device name
 * @node: Entry in the core's list of services (P: tbstream_lock)
 * @streams: Streams of this group (P: tbstream_lock)
 * @peer: Peer attached to, or %NULL (P: tbstream_lock)
 */
struct tbstream_service {
	struct config_group group;
	struct list_head node;
	struct list_head streams;
	struct tbstream_peer *peer;
};

/**
 * struct tbstream_hopid - One direction's HopID setting of a stream
 * @req: What the user asked for: %TBSTREAM_HOPID_NONE, %TBSTREAM_HOPID_AUTO
 *	 or an exact HopID
 * @hopid: HopID held from the backend, or 0 when none is held
 * @inherited: @hopid was taken from the peer's advertisement
 */
struct tbstream_hopid {
	int req;
	int hopid;
	bool inherited;
};

/**
 * struct tbstream_stats - Per-stream counters, shown in debugfs
 * @tx_bytes: Payload bytes handed to the transmit ring
 * @tx_frames: Frames handed to the transmit ring
 * @rx_bytes: Payload bytes copied to readers
 * @rx_frames: Frames received
 * @irqs: Completion interrupts (start_poll calls), atomic
 * @reader_wakeups: Times a reader slept and woke up, atomic
 * @writer_wakeups: Times a writer slept and woke up, atomic
 * @credit_stalls: Times a writer ran out of transmit credits (found the
 *		   ring full with bytes left to write): once per wait
 * @rx_errors: Frames received with CRC error or buffer overrun
 */
struct tbstream_stats {
	u64 tx_bytes;
	u64 tx_frames;
	u64 rx_bytes;
	u64 rx_frames;
	atomic64_t irqs;
	atomic64_t reader_wakeups;
	atomic64_t writer_wakeups;
	u64 credit_stalls;
	u64 rx_errors;
};

/**
 * enum tbstream_rings - What the rings of a stream are doing
 * @TBSTREAM_RINGS_IDLE: Not allocated
 * @TBSTREAM_RINGS_STARTING: One task brings them up, without &tbstream.lock
 *			     while it enables the paths
 * @TBSTREAM_RINGS_RUNNING: Up: readers and writers use them
 * @TBSTREAM_RINGS_CLOSING: Up, and one task drains them and sends CLOSE,
 *			    without &tbstream.lock
 * @TBSTREAM_RINGS_STOPPING: One task tears them down, without
 *			     &tbstream.lock
 *
 * The task that leaves %TBSTREAM_RINGS_IDLE or %TBSTREAM_RINGS_RUNNING
 * owns the rings until it sets one of them again; nobody else touches
 * them meanwhile. A detach leaves the rings of an owner to it.
 */
enum tbstream_rings {
	TBSTREAM_RINGS_IDLE,
	TBSTREAM_RINGS_STARTING,
	TBSTREAM_RINGS_RUNNING,
	TBSTREAM_RINGS_CLOSING,
	TBSTREAM_RINGS_STOPPING,
};

/**
 * struct tbstream_copier - The reader or writer copying user memory
 * @active: A reader (writer) copies to (from) frames of the ring without
 *	    its ring mutex, which it takes again afterwards
 * @orphans: Frames that a teardown took from the ring while @active and
 *	     left to the copier to free, or %NULL
 * @count: Number of @orphans
 *
 * Guarded by the ring mutex of its direction. The copier owns the frames
 * it copies, which the ring does not hold meanwhile: received frames not
 * yet given back, transmit frames not yet queued.
 */
struct tbstream_copier {
	bool active;
	struct tbstream_frame *orphans;
	unsigned int count;
};

/**
 * struct tbstream - One stream: a ConfigFS item and a character device
 * @item: ConfigFS item; its reference count is the stream's (holders: the
 *	  ConfigFS directory, each open file)
 * @service: Parent service group; set at creation, constant
 * @node: Entry in @service->streams (P: tbstream_lock)
 * @name: Stream name, also the XDomain property key
 * @index: X of /dev/tbstreamX
 * @misc: The character device, registered from mkdir to rmdir
 * @lock: Serializes configuration, attach/detach and the changes of
 *	  @rings (see "Locking" in stream.c). Guards @peer, @hop,
 *	  @ring_size, @throttling, @busy_poll.
 * @peer: Peer attached to, or %NULL (P: tbstream_lock and @lock)
 * @hop: HopID settings, indexed by &enum tbstream_direction
 * @ring_size: Entries in each ring
 * @throttling: Interrupt throttling interval in ns
 * @busy_poll: Readers and writers spin instead of sleeping
 * @state_lock: Guards @gen, @openers, @rings, @dead, @peer_closed and,
 *		for writers, @peer and @hop. Never held while sleeping.
 *		The I/O paths read @rings, @gen and @peer_closed alone
 *		without it (READ_ONCE); they are written with @lock held too.
 * @gen: Attachment generation: incremented on detach, so that files of an
 *	 earlier attachment see ENXIO
 * @openers: Open files of the current generation
 * @rings: What the rings are doing, &enum tbstream_rings
 * @dead: Removed from ConfigFS (rmdir)
 * @peer_closed: The peer's CLOSE frame has been received
 * @rx_wait: Readers, poll and files waiting for attach sleep here
 * @tx_wait: Writers, poll and the close drain sleep here
 * @write_mutex: Serializes writers, across their copies from user memory
 * @read_mutex: Serializes readers, across their copies to user memory
 * @tx_mutex: Transmit ring accounting; never held across user memory
 * @rx_mutex: Receive ring accounting; never held across user memory
 * @tx: Transmit ring (P: owner of @rings; used by I/O while up)
 * @rx: Receive ring (P: owner of @rings; used by I/O while up)
 * @nframes: Frames per ring: ring size - 1, all that can be in flight
 *	     (P: owner of @rings)
 * @paths: HopIDs the paths were enabled with, indexed by &enum
 *	   tbstream_direction (P: owner of @rings)
 * @stop_node: Entry in the list of streams whose rings a detaching task
 *	       tears down after dropping its locks (P: that task)
 * @tx_head: Next transmit frame to fill (P: @tx_mutex)
 * @tx_tail: Next transmit frame to complete (P: @tx_mutex)
 * @tx_pending: Transmit frames queued and not yet completed (P: @tx_mutex)
 * @tx_data: The last frame queued was data, not CLOSE (P: @tx_mutex)
 * @rx_head: Next receive frame to read (P: @rx_mutex)
 * @rx_ready: Receive frames completed and not yet read (P: @rx_mutex)
 * @rx_off: Bytes of frame @rx_head already read (P: @rx_mutex)
 * @tx_copier: The writer filling frames without @tx_mutex (P: @tx_mutex)
 * @rx_copier: The reader emptying frames without @rx_mutex (P: @rx_mutex)
 * @irq_armed: %TBSTREAM_TX_ARMED, %TBSTREAM_RX_ARMED: the completion
 *	       interrupt of that ring is enabled; %TBSTREAM_RX_WATCHED: a
 *	       writer waits for it too (atomic bit operations)
 * @stats: Counters (transmit ones under @tx_mutex, receive ones under
 *	   @rx_mutex, the atomic ones without a lock)
 * @devname: Name of @misc, "tbstream<index>"
 * @debugfs: debugfs directory of this stream
 */
struct tbstream {
	struct config_item item;
	struct tbstream_service *service;
	struct list_head node;
	char name[TBSTREAM_NAME_MAX + 1];
	int index;
	struct miscdevice misc;

	struct mutex lock; /* configuration, attach, start/stop */
	struct tbstream_peer *peer;
	struct tbstream_hopid hop[2];
	unsigned int ring_size;
	unsigned int throttling;
	bool busy_poll;

	spinlock_t state_lock; /* state read by open(), poll() and I/O */
	unsigned int gen;
	unsigned int openers;
	enum tbstream_rings rings;
	bool dead;
	bool peer_closed;
	wait_queue_head_t rx_wait;
	wait_queue_head_t tx_wait;

	struct mutex write_mutex; /* writers, across user memory */
	struct mutex read_mutex; /* readers, across user memory */
	struct mutex tx_mutex; /* transmit accounting */
	struct mutex rx_mutex; /* receive accounting */
	struct tbstream_ring tx;
	struct tbstream_ring rx;
	unsigned int nframes;
	int paths[2];
	struct list_head stop_node;
	unsigned int tx_head;
	unsigned int tx_tail;
	unsigned int tx_pending;
	bool tx_data;
	unsigned int rx_head;
	unsigned int rx_ready;
	unsigned int rx_off;
	struct tbstream_copier tx_copier;
	struct tbstream_copier rx_copier;
	unsigned long irq_armed;
	struct tbstream_stats stats;
	char devname[16];
	struct dentry *debugfs;
};

/* stream.c: the core, called by ConfigFS and the backends */
int tbstream_peer_register(struct tbstream_peer *peer);
void tbstream_peer_unregister(struct tbstream_peer *peer);
void tbstream_peer_changed(struct tbstream_peer *peer);
void tbstream_peer_put(struct tbstream_peer *peer);

void tbstream_service_add(struct tbstream_service *svc);
void tbstream_service_del(struct tbstream_service *svc);
struct tbstream *tbstream_create(struct tbstream_service *svc,
				 const char *name,
				 const struct config_item_type *type);
void tbstream_delete(struct tbstream *s);
void tbstream_free(struct tbstream *s);
int tbstream_set_hopid(struct tbstream *s, enum tbstream_direction dir,
		       int value);
int tbstream_get_hopid(struct tbstream *s, enum tbstream_direction dir);
int tbstream_set_ring_size(struct tbstream *s, unsigned int size);
int tbstream_set_throttling(struct tbstream *s, unsigned int ns);
int tbstream_set_busy_poll(struct tbstream *s, bool enable);

struct tbstream_file;
struct tbstream_file *tbstream_open(struct tbstream *s, bool nonblock);
int tbstream_flush(struct tbstream_file *f);
void tbstream_release(struct tbstream_file *f);
/* How tbstream_read() and tbstream_write() may wait */
#define TBSTREAM_IO_NONBLOCK	BIT(0)	/* not for data, space, the cable */
#define TBSTREAM_IO_NOWAIT	BIT(1)	/* not even for a lock */
ssize_t tbstream_read(struct tbstream_file *f, struct iov_iter *to,
		      unsigned int flags);
ssize_t tbstream_write(struct tbstream_file *f, struct iov_iter *from,
		       unsigned int flags);
__poll_t tbstream_poll(struct tbstream_file *f, struct file *file,
		       poll_table *wait);
#if IS_ENABLED(CONFIG_KUNIT)
/* Not static only for the KUnit tests (VISIBLE_IF_KUNIT) */
extern unsigned int tbstream_drain_timeout;
#endif

/* stream_tb.c: the Thunderbolt backend and its service driver */

/*
 * Linux peers refuse a properties block of more than 500 dwords
 * (TB_XDP_PROPERTIES_MAX_LENGTH), and with it every XDomain service of
 * this host, thunderbolt-net included. An advertised stream costs 21
 * dwords (its entry in the "stream" directory, and a directory of a UUID
 * and three immediates): this many leave room for the rest of the block
 * (the host's names, thunderbolt-net, the "stream" service itself).
 */
#define TBSTREAM_TB_ADVERTS_MAX		16

/*
 * Shortest time between two swaps of our property directory, ms. Less than
 * the 50 ms by which the 6.12 core delays the "properties changed"
 * notification of the first swap, so that what is coalesced into the
 * second one still reaches the peers with that notification.
 */
#define TBSTREAM_TB_PUBLISH_INTERVAL	30

/*
 * Quiet time after a swap of our property directory, ms, after which the
 * same directory is registered once more (see tbstream_tb_settle_work()):
 * long enough for the peers to have read the last one, and to have
 * registered our XDomain when they were discovering it
 */
#define TBSTREAM_TB_SETTLE_TIME		2000

int tbstream_tb_init(void);
void tbstream_tb_exit(void);
#if IS_ENABLED(CONFIG_KUNIT)
/* Not static only for the KUnit tests (VISIBLE_IF_KUNIT) */
extern struct mutex tbstream_tb_lock;
struct tb_property_dir *tbstream_tb_create_dir(void);
struct tb_property_dir *tbstream_tb_build_dir(void);
extern struct tb_property_dir *tbstream_tb_dir;
extern struct delayed_work tbstream_tb_swap;
extern struct delayed_work tbstream_tb_settle;
extern unsigned int tbstream_tb_swaps;
#endif

/* stream_configfs.c */
extern const struct config_item_type tbstream_service_type;
extern const struct config_item_type tbstream_stream_type;
int tbstream_configfs_init(void);
void tbstream_configfs_exit(void);

/* stream_sim.c: the simulated cable */
#define TBSTREAM_SIM_DOMAIN_BASE	1000

struct tbstream_sim_cable;

/**
 * enum tbstream_sim_end - The two hosts a simulated cable joins
 * @TBSTREAM_SIM_A: Host A; it sees host B as service "<1000 + 2n>-1.0"
 * @TBSTREAM_SIM_B: Host B; it sees host A as service "<1001 + 2n>-1.0"
 */
enum tbstream_sim_end {
	TBSTREAM_SIM_A,
	TBSTREAM_SIM_B,
};

#if IS_ENABLED(CONFIG_USB4_STREAM_SIM)
int tbstream_sim_init(void);
void tbstream_sim_exit(void);
struct tbstream_sim_cable *tbstream_sim_cable_create(void);
void tbstream_sim_cable_destroy(struct tbstream_sim_cable *cable);
void tbstream_sim_cable_unplug(struct tbstream_sim_cable *cable);
int tbstream_sim_cable_replug(struct tbstream_sim_cable *cable);
const char *tbstream_sim_service_name(struct tbstream_sim_cable *cable,
				      enum tbstream_sim_end end);
void tbstream_sim_inject_rx_flags(struct tbstream_sim_cable *cable,
				  enum tbstream_sim_end end, u32 flags);
void tbstream_sim_set_stall(struct tbstream_sim_cable *cable, bool stall);
void tbstream_sim_set_unmask_race(struct tbstream_sim_cable *cable,
				  bool race);
unsigned int tbstream_sim_hopids_in_use(struct tbstream_sim_cable *cable,
					enum tbstream_sim_end end);
void tbstream_sim_cable_flush(struct tbstream_sim_cable *cable);
void tbstream_sim_hold_paths(struct tbstream_sim_cable *cable, bool hold);
bool tbstream_sim_paths_waiting(struct tbstream_sim_cable *cable);
#else
static inline int tbstream_sim_init(void) { return 0; }
static inline void tbstream_sim_exit(void) { }
#endif

#endif /* DRIVERS_THUNDERBOLT_STREAM_H */
