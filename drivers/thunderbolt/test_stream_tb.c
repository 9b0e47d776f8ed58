// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests of the USB4STREAM Thunderbolt backend
 *
 * The backend (stream_tb.c) is the service driver and the
 * &struct tbstream_backend_ops on top of the XDomain API. These tests run
 * the real code without hardware, on fakes of what the Thunderbolt core
 * would create for a host at the other end of a cable:
 *
 *   domain900              fake domain: its connection manager records
 *    |                     the DMA path requests and fails on request
 *    +- 900-1              XDomain on the Thunderbolt bus: HopID IDAs,
 *        |                 maximum HopIDs, remote properties built here
 *        +- 900-1.0        service "stream", protocol 1: the real driver
 *                          binds to it through the bus match
 *
 * The rings need an NHI and are not tested here: the stream core's tests
 * cover the data path with the simulated cable.
 *
 * Copyright (C) 2026, The thunderbolt_stream developers
 */

#include <kunit/static_stub.h>
#include <kunit/test.h>
#include <linux/atomic.h>
#include <linux/crc32.h>
#include <linux/delay.h>
#include <linux/device.h>
#include <linux/err.h>
#include <linux/idr.h>
#include <linux/iopoll.h>
#include <linux/pm.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/thunderbolt.h>
#include <linux/utsname.h>
#include <linux/uuid.h>
#include <linux/workqueue.h>

#include "stream.h"
#include "tb.h"
#include "test_stream.h"

/* Fake topology: domain index, XDomain routes, maximum HopIDs */
#define TBSTREAM_TB_TEST_DOMAIN		900
#define TBSTREAM_TB_TEST_ROUTE		0x1
#define TBSTREAM_TB_TEST_ROUTE2		0x3
/* XDomains on which this host plays the peers at the two routes above */
#define TBSTREAM_TB_TEST_ROUTE_AS1	0x5
#define TBSTREAM_TB_TEST_ROUTE_AS2	0x7
#define TBSTREAM_TB_TEST_SERVICE	"900-1.0"
#define TBSTREAM_TB_TEST_IN_MAX		15
#define TBSTREAM_TB_TEST_OUT_MAX	12

/* Path calls the fake connection manager remembers */
#define TBSTREAM_TB_TEST_CALLS		8

/* Longest wait for the backend's property watch (1 s period), in ms */
#define TBSTREAM_TB_TEST_WATCH_MS	3000
/* Pause between two looks at what the watch did, in us */
#define TBSTREAM_TB_TEST_POLL_US	1000

/* Property block layout: root directory magic, entry size in dwords */
#define TBSTREAM_TB_TEST_ROOT_MAGIC	0x55584401
#define TBSTREAM_TB_TEST_ENTRY_DW	4
#define TBSTREAM_TB_TEST_UUID_DW	4

/* The service directory UUID, as documented for the protocol */
#define TBSTREAM_TB_TEST_UUID		"3a1cb984-c4d9-4469-a277-ce2fdfd11f0d"
/* Any other UUID, for sub-directories of remote advertisements */
#define TBSTREAM_TB_TEST_OTHER_UUID	"5b9e0a1c-7f3d-4e21-9c4a-1d2e3f405162"
/*
 * Host UUIDs: this host's, and for the host at route r the same with r in
 * its last byte
 */
#define TBSTREAM_TB_TEST_HOST_UUID	"c0ffee00-1a2b-4c3d-8e4f-506172838400"
#define TBSTREAM_TB_TEST_SELF		0

/**
 * struct tbstream_tb_test_call - One path request to the connection manager
 * @approve: approve_xdomain_paths (else disconnect_xdomain_paths)
 * @xd: XDomain passed
 * @transmit_path: Our transmit HopID
 * @transmit_ring: Transmit ring hop
 * @receive_path: Our receive HopID
 * @receive_ring: Receive ring hop
 */
struct tbstream_tb_test_call {
	bool approve;
	struct tb_xdomain *xd;
	int transmit_path;
	int transmit_ring;
	int receive_path;
	int receive_ring;
};

/**
 * struct tbstream_tb_test_cm - The fake connection manager's state
 * @calls: Path requests, in the order they came (the first ones)
 * @ncalls: Path requests received, also beyond @calls
 * @approve_ret: What approve_xdomain_paths returns
 * @disconnect_ret: What disconnect_xdomain_paths returns
 * @notified: "Properties changed" notifications sent to the XDomains
 *
 * Lives in the domain's private data. The path operations are called
 * by the test thread only; @notified is counted in the domain workqueue.
 */
struct tbstream_tb_test_cm {
	struct tbstream_tb_test_call calls[TBSTREAM_TB_TEST_CALLS];
	unsigned int ncalls;
	int approve_ret;
	int disconnect_ret;
	atomic_t notified;
};

/**
 * struct tbstream_tb_test - Per-test fixture
 * @tb: Fake domain
 * @cm: Its connection manager state
 * @xd: Fake XDomain of the peer host
 * @svc: Its "stream" service, %NULL until plugged
 * @peer: What the backend registered for @svc with the core
 * @tx: A transmit ring, for the path suite: hop 1
 * @rx: A receive ring, for the path suite: hop 2
 */
struct tbstream_tb_test {
	struct tb *tb;
	struct tbstream_tb_test_cm *cm;
	struct tb_xdomain *xd;
	struct tb_service *svc;
	struct tbstream_peer *peer;
	struct tbstream_ring tx, rx;
};

/**
 * struct tbstream_tb_test_stream - A stream in a property block
 * @name: Stream name, the sub-directory key
 * @in_hopid: Value of "inhopid"
 * @out_hopid: Value of "outhopid"
 * @link: Value of "link", when @has_link
 * @has_link: The sub-directory has "link", as ours do (the stock
 *	      driver's do not)
 */
struct tbstream_tb_test_stream {
	const char *name;
	u32 in_hopid;
	u32 out_hopid;
	u32 link;
	bool has_link;
};

/**
 * struct tbstream_tb_test_advert - An advertisement to withdraw at the end
 * @peer: Peer it was made for
 * @name: Stream name
 */
struct tbstream_tb_test_advert {
	struct tbstream_peer *peer;
	const char *name;
};

/**
 * struct tbstream_tb_test_entry - Property entry as the XDomain protocol
 *				   lays it out
 * @key_hi: First four key characters, the first one most significant
 * @key_lo: Last four key characters, zero-padded
 * @length: Length of the value in dwords (1 for an immediate)
 * @reserved: Zero
 * @type: 'D' directory, 'v' immediate value, 't' text, 'd' data
 * @value: The immediate, or the dword offset of the value in the block
 */
struct tbstream_tb_test_entry {
	u32 key_hi;
	u32 key_lo;
	u16 length;
	u8 reserved;
	u8 type;
	u32 value;
};

KUNIT_DEFINE_ACTION_WRAPPER(tbstream_tb_test_put_device, put_device,
			    struct device *);
KUNIT_DEFINE_ACTION_WRAPPER(tbstream_tb_test_device_del, device_del,
			    struct device *);

/* The fake domain */

static struct tbstream_tb_test_cm *tbstream_tb_test_cm(struct tb *tb)
{
	return tb_priv(tb);
}

static int tbstream_tb_test_record(struct tb *tb, struct tb_xdomain *xd,
				   bool approve, int transmit_path,
				   int transmit_ring, int receive_path,
				   int receive_ring)
{
	struct tbstream_tb_test_cm *cm = tbstream_tb_test_cm(tb);
	struct tbstream_tb_test_call *call;

	if (cm->ncalls < TBSTREAM_TB_TEST_CALLS) {
		call = &cm->calls[cm->ncalls];
		call->approve = approve;
		call->xd = xd;
		call->transmit_path = transmit_path;
		call->transmit_ring = transmit_ring;
		call->receive_path = receive_path;
		call->receive_ring = receive_ring;
	}
	cm->ncalls++;
	return approve ? cm->approve_ret : cm->disconnect_ret;
}

/* Takes &tb.lock as tb_approve_xdomain_paths() does */
static int tbstream_tb_test_approve(struct tb *tb, struct tb_xdomain *xd,
				    int transmit_path, int transmit_ring,
				    int receive_path, int receive_ring)
{
	int ret;

	mutex_lock(&tb->lock);
	ret = tbstream_tb_test_record(tb, xd, true, transmit_path,
				      transmit_ring, receive_path,
				      receive_ring);
	mutex_unlock(&tb->lock);
	return ret;
}

/*
 * Takes &tb.lock as tb_disconnect_xdomain_paths() does, unless the
 * XDomain is unplugged: then the hotplug handler holds it already.
 */
static int tbstream_tb_test_disconnect(struct tb *tb, struct tb_xdomain *xd,
				       int transmit_path, int transmit_ring,
				       int receive_path, int receive_ring)
{
	bool unplugged = xd->is_unplugged;
	int ret;

	if (!unplugged)
		mutex_lock(&tb->lock);
	ret = tbstream_tb_test_record(tb, xd, false, transmit_path,
				      transmit_ring, receive_path,
				      receive_ring);
	if (!unplugged)
		mutex_unlock(&tb->lock);
	return ret;
}

static const struct tb_cm_ops tbstream_tb_test_cm_ops = {
	.approve_xdomain_paths = tbstream_tb_test_approve,
	.disconnect_xdomain_paths = tbstream_tb_test_disconnect,
};

static void tbstream_tb_test_domain_release(struct device *dev)
{
	struct tb *tb = container_of(dev, struct tb, dev);

	if (tb->wq)
		destroy_workqueue(tb->wq);
	mutex_destroy(&tb->lock);
	kfree(tb);
}

static const struct device_type tbstream_tb_test_domain_type = {
	.name = "tbstream_test_domain",
	.release = tbstream_tb_test_domain_release,
};

/*
 * A domain with no NHI, no control channel and no switches: what the
 * XDomain code reaches is its connection manager and its workqueue.
 */
static struct tb *tbstream_tb_test_domain(struct kunit *test)
{
	struct tb *tb;

	tb = kzalloc(sizeof(*tb) + sizeof(struct tbstream_tb_test_cm),
		     GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, tb);
	mutex_init(&tb->lock);
	tb->index = TBSTREAM_TB_TEST_DOMAIN;
	tb->cm_ops = &tbstream_tb_test_cm_ops;
	tb->security_level = TB_SECURITY_NONE;
	atomic_set(&tbstream_tb_test_cm(tb)->notified, 0);
	device_initialize(&tb->dev);
	tb->dev.type = &tbstream_tb_test_domain_type;
	tbstream_test_defer(test, tbstream_tb_test_put_device, &tb->dev);

	/* The test starts with the last one's directory registered, settled */
	flush_delayed_work(&tbstream_tb_swap);
	flush_delayed_work(&tbstream_tb_settle);

	tb->wq = alloc_ordered_workqueue("tbstream_test%d", 0, tb->index);
	KUNIT_ASSERT_NOT_NULL(test, tb->wq);
	KUNIT_ASSERT_EQ(test, dev_set_name(&tb->dev, "domain%d", tb->index), 0);
	KUNIT_ASSERT_EQ(test, device_add(&tb->dev), 0);
	tbstream_test_defer(test, tbstream_tb_test_device_del, &tb->dev);
	return tb;
}

/* The fake XDomain */

/* UUID of host @host: %TBSTREAM_TB_TEST_SELF or a peer's route */
static void tbstream_tb_test_host_uuid(struct kunit *test, u64 host,
				       uuid_t *uuid)
{
	KUNIT_ASSERT_EQ(test, uuid_parse(TBSTREAM_TB_TEST_HOST_UUID, uuid), 0);
	uuid->b[UUID_SIZE - 1] = host;
}

/* "link" of advertisements for host @host: the CRC32 of its UUID */
static u32 tbstream_tb_test_link(struct kunit *test, u64 host)
{
	uuid_t uuid;

	tbstream_tb_test_host_uuid(test, host, &uuid);
	return crc32_le(~0, (const u8 *)&uuid, sizeof(uuid));
}

static uuid_t *tbstream_tb_test_dup_uuid(struct kunit *test, u64 host)
{
	uuid_t uuid;

	tbstream_tb_test_host_uuid(test, host, &uuid);
	return kmemdup(&uuid, sizeof(uuid), GFP_KERNEL);
}

/*
 * Registering or removing a property directory makes the core notify
 * every XDomain on the bus; a real one would send the peer a "properties
 * changed" request. This one counts.
 */
static void tbstream_tb_test_properties_changed(struct work_struct *work)
{
	struct tb_xdomain *xd = container_of(to_delayed_work(work),
					     struct tb_xdomain,
					     properties_changed_work);

	atomic_inc(&tbstream_tb_test_cm(xd->tb)->notified);
}

/* Take it off the bus the way tb_xdomain_remove() does */
static void tbstream_tb_test_xdomain_del(void *data)
{
	struct tb_xdomain *xd = data;

	mutex_lock(&xd->lock);
	xd->removing = true;
	mutex_unlock(&xd->lock);
	cancel_delayed_work_sync(&xd->properties_changed_work);
	device_del(&xd->dev);
}

/**
 * tbstream_tb_test_xdomain_of() - Add a fake XDomain to the fake domain
 * @test: The test
 * @tb: Fake domain
 * @route: Route of the peer host, part of the device name
 * @self: Host whose XDomain it is (its local UUID)
 * @other: Host at the other end (its remote UUID)
 *
 * Set up as tb_xdomain_alloc() does and added to the Thunderbolt bus, so
 * that its release is the core's tb_xdomain_release(): that frees its
 * UUIDs and remote properties and destroys its IDAs. It is removed when
 * the test ends. An XDomain of another host than %TBSTREAM_TB_TEST_SELF
 * lets this host's driver play that host, reading what we publish.
 *
 * Return: The XDomain.
 */
static struct tb_xdomain *tbstream_tb_test_xdomain_of(struct kunit *test,
						      struct tb *tb, u64 route,
						      u64 self, u64 other)
{
	struct tb_xdomain *xd;

	xd = kzalloc(sizeof(*xd), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, xd);
	xd->tb = tb;
	xd->route = route;
	xd->local_max_hopid = TBSTREAM_TB_TEST_IN_MAX;
	xd->remote_max_hopid = TBSTREAM_TB_TEST_OUT_MAX;
	ida_init(&xd->service_ids);
	ida_init(&xd->in_hopids);
	ida_init(&xd->out_hopids);
	mutex_init(&xd->lock);
	INIT_DELAYED_WORK(&xd->properties_changed_work,
			  tbstream_tb_test_properties_changed);
	device_initialize(&xd->dev);
	xd->dev.parent = get_device(&tb->dev);
	xd->dev.bus = &tb_bus_type;
	xd->dev.type = &tb_xdomain_type;
	tbstream_test_defer(test, tbstream_tb_test_put_device, &xd->dev);
	xd->local_uuid = tbstream_tb_test_dup_uuid(test, self);
	xd->remote_uuid = tbstream_tb_test_dup_uuid(test, other);
	KUNIT_ASSERT_NOT_NULL(test, xd->local_uuid);
	KUNIT_ASSERT_NOT_NULL(test, xd->remote_uuid);

	KUNIT_ASSERT_EQ(test, dev_set_name(&xd->dev, "%u-%llx", tb->index,
					   route), 0);
	KUNIT_ASSERT_EQ(test, device_add(&xd->dev), 0);
	tbstream_test_defer(test, tbstream_tb_test_xdomain_del, xd);
	return xd;
}

/* This host's XDomain of the peer host at @route */
static struct tb_xdomain *tbstream_tb_test_xdomain(struct kunit *test,
						   struct tb *tb, u64 route)
{
	return tbstream_tb_test_xdomain_of(test, tb, route,
					   TBSTREAM_TB_TEST_SELF, route);
}

/**
 * tbstream_tb_test_plug() - Register a service device below an XDomain
 * @test: The test
 * @xd: Fake XDomain
 * @key: Service key
 * @prtcid: Protocol ID
 *
 * Set up as the core's enumerate_services() does, so that its release is
 * the core's tb_service_release(). Registering it runs the bus match and,
 * for the stream protocol, the real tbstream_tb_probe(). The device is
 * unregistered when the test ends, unless tbstream_tb_test_unplug() did
 * it before.
 *
 * Return: The service.
 */
static struct tb_service *tbstream_tb_test_plug(struct kunit *test,
						struct tb_xdomain *xd,
						const char *key, u32 prtcid)
{
	struct tb_service *svc;
	int id;

	svc = kzalloc(sizeof(*svc), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, svc);
	id = ida_alloc(&xd->service_ids, GFP_KERNEL);
	if (id < 0) {
		kfree(svc);
		KUNIT_FAIL_AND_ABORT(test, "no service ID: %d\n", id);
	}
	svc->id = id;
	svc->prtcid = prtcid;
	svc->prtcvers = TBSTREAM_PROTOCOL_VERSION;
	svc->prtcrevs = TBSTREAM_PROTOCOL_REVISION;
	device_initialize(&svc->dev);
	svc->dev.bus = &tb_bus_type;
	svc->dev.type = &tb_service_type;
	svc->dev.parent = get_device(&xd->dev);
	tbstream_test_defer(test, tbstream_tb_test_put_device, &svc->dev);

	svc->key = kstrdup(key, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, svc->key);
	KUNIT_ASSERT_EQ(test, dev_set_name(&svc->dev, "%s.%d",
					   dev_name(&xd->dev), svc->id), 0);
	tb_service_debugfs_init(svc);
	KUNIT_ASSERT_EQ(test, device_add(&svc->dev), 0);
	tbstream_test_defer(test, tbstream_tb_test_device_del, &svc->dev);
	return svc;
}

/*
 * Unregister @svc now, as the core does when the peer goes away: with
 * &tb.lock held, as tb_handle_hotplug() holds it around
 * tb_xdomain_remove()
 */
static void tbstream_tb_test_unplug(struct kunit *test, struct tb_service *svc)
{
	struct tb *tb = tb_service_parent(svc)->tb;

	mutex_lock(&tb->lock);
	kunit_release_action(test, tbstream_tb_test_device_del, &svc->dev);
	mutex_unlock(&tb->lock);
	kunit_release_action(test, tbstream_tb_test_put_device, &svc->dev);
}

/* The peer the backend registered for @svc, after checking the binding */
static struct tbstream_peer *tbstream_tb_test_peer(struct kunit *test,
						   struct tb_service *svc)
{
	struct device_driver *drv = svc->dev.driver;

	KUNIT_ASSERT_NOT_NULL(test, drv);
	KUNIT_ASSERT_STREQ(test, drv->name, "thunderbolt_stream");
	/* Driver data is a struct tbstream_tb; its first member is the peer */
	KUNIT_ASSERT_NOT_NULL(test, tb_service_get_drvdata(svc));
	return tb_service_get_drvdata(svc);
}

/* Plug a "stream" service below @xd; the driver must bind to it */
static struct tb_service *tbstream_tb_test_plug_bound(struct kunit *test,
						      struct tb_xdomain *xd)
{
	struct tb_service *svc;

	svc = tbstream_tb_test_plug(test, xd, TBSTREAM_SERVICE_KEY,
				    TBSTREAM_PROTOCOL_ID);
	tbstream_tb_test_peer(test, svc);
	return svc;
}

/* Plug the peer's "stream" service, and make our stream "alpha" for it */
static struct tbstream *tbstream_tb_test_alpha(struct kunit *test,
					       struct tb_service **svc)
{
	struct tbstream_tb_test *t = test->priv;
	struct tbstream_service *group;

	*svc = tbstream_tb_test_plug_bound(test, t->xd);
	group = tbstream_test_group(test, dev_name(&(*svc)->dev));
	return tbstream_test_mkdir_in(test, group, "alpha");
}

/* Domain and XDomain only: the service comes later */
static int tbstream_tb_test_init_unplugged(struct kunit *test)
{
	struct tbstream_tb_test *t;

	t = kunit_kzalloc(test, sizeof(*t), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, t);
	test->priv = t;
	t->tb = tbstream_tb_test_domain(test);
	t->cm = tbstream_tb_test_cm(t->tb);
	t->xd = tbstream_tb_test_xdomain(test, t->tb, TBSTREAM_TB_TEST_ROUTE);
	return 0;
}

/* Domain, XDomain and a bound "stream" service */
static int tbstream_tb_test_init(struct kunit *test)
{
	struct tbstream_tb_test *t;

	tbstream_tb_test_init_unplugged(test);
	t = test->priv;
	t->svc = tbstream_tb_test_plug(test, t->xd, TBSTREAM_SERVICE_KEY,
				       TBSTREAM_PROTOCOL_ID);
	t->peer = tbstream_tb_test_peer(test, t->svc);
	return 0;
}

/* Property blocks */

static u32 tbstream_tb_test_key(const char *key, unsigned int first)
{
	char k[TB_PROPERTY_KEY_SIZE] = { };

	memcpy(k, key, min_t(size_t, strlen(key), sizeof(k)));
	return (u32)(u8)k[first] << 24 | (u32)(u8)k[first + 1] << 16 |
	       (u32)(u8)k[first + 2] << 8 | (u8)k[first + 3];
}

static void tbstream_tb_test_entry(u32 *block, unsigned int offset,
				   const char *key, u8 type, u16 length,
				   u32 value)
{
	struct tbstream_tb_test_entry e = {
		.key_hi = tbstream_tb_test_key(key, 0),
		.key_lo = tbstream_tb_test_key(key, 4),
		.length = length,
		.type = type,
		.value = value,
	};

	BUILD_BUG_ON(sizeof(e) != TBSTREAM_TB_TEST_ENTRY_DW * 4);
	memcpy(&block[offset], &e, sizeof(e));
}

static void tbstream_tb_test_uuid(struct kunit *test, u32 *block,
				  unsigned int offset, const char *uuid)
{
	uuid_t u;

	KUNIT_ASSERT_EQ(test, uuid_parse(uuid, &u), 0);
	memcpy(&block[offset], &u, sizeof(u));
}

/**
 * tbstream_tb_test_block() - Build a property block by hand
 * @test: The test
 * @key: Key of the service directory
 * @sub_uuid: UUID of the stream sub-directories
 * @s: Streams advertised in the service directory
 * @n: Number of streams in @s
 * @len: Returns the length of the block in dwords
 *
 * A root directory holding one service directory, with the protocol
 * immediates and one sub-directory per stream, laid out as the XDomain
 * protocol does: each directory's entries, then one padding dword per
 * sub-directory, then the sub-directories one after the other::
 *
 *   0  root header: magic, length of the entries (4)
 *   2  entry: service directory at 7
 *   6  padding
 *   7  service directory: UUID, 4 + n entries, n padding dwords
 *   27 + 5n  sub-directories: UUID, "inhopid", "outhopid", and "link"
 *            when the stream has one: 12 or 16 dwords each
 *
 * Return: The block, 27 + 17n dwords and 4 more per "link"; freed when
 * the test ends.
 */
static u32 *tbstream_tb_test_block(struct kunit *test, const char *key,
				   const char *sub_uuid,
				   const struct tbstream_tb_test_stream *s,
				   unsigned int n, size_t *len)
{
	static const char * const prtc[] = {
		"prtcid", "prtcvers", "prtcrevs", "prtcstns",
	};
	static const u32 prtc_values[] = {
		TBSTREAM_PROTOCOL_ID, TBSTREAM_PROTOCOL_VERSION,
		TBSTREAM_PROTOCOL_REVISION, 0,
	};
	const unsigned int svc_dir = 7;
	const unsigned int svc_entries = svc_dir + TBSTREAM_TB_TEST_UUID_DW;
	const unsigned int nentries = ARRAY_SIZE(prtc) + n;
	const unsigned int subdirs = svc_entries +
				     nentries * TBSTREAM_TB_TEST_ENTRY_DW + n;
	unsigned int i, off, dir, entries, subdir_len;
	u32 *block;

	*len = subdirs;
	for (i = 0; i < n; i++)
		*len += TBSTREAM_TB_TEST_UUID_DW +
			(2 + s[i].has_link) * TBSTREAM_TB_TEST_ENTRY_DW;
	block = kunit_kcalloc(test, *len, sizeof(*block), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, block);

	block[0] = TBSTREAM_TB_TEST_ROOT_MAGIC;
	block[1] = TBSTREAM_TB_TEST_ENTRY_DW;
	tbstream_tb_test_entry(block, 2, key, TB_PROPERTY_TYPE_DIRECTORY,
			       TBSTREAM_TB_TEST_UUID_DW +
			       nentries * TBSTREAM_TB_TEST_ENTRY_DW, svc_dir);
	tbstream_tb_test_uuid(test, block, svc_dir, TBSTREAM_TB_TEST_UUID);

	off = svc_entries;
	for (i = 0; i < ARRAY_SIZE(prtc); i++) {
		tbstream_tb_test_entry(block, off, prtc[i],
				       TB_PROPERTY_TYPE_VALUE, 1,
				       prtc_values[i]);
		off += TBSTREAM_TB_TEST_ENTRY_DW;
	}
	dir = subdirs;
	for (i = 0; i < n; i++) {
		entries = dir + TBSTREAM_TB_TEST_UUID_DW;
		subdir_len = TBSTREAM_TB_TEST_UUID_DW +
			     (2 + s[i].has_link) * TBSTREAM_TB_TEST_ENTRY_DW;
		tbstream_tb_test_entry(block, off, s[i].name,
				       TB_PROPERTY_TYPE_DIRECTORY, subdir_len,
				       dir);
		off += TBSTREAM_TB_TEST_ENTRY_DW;
		tbstream_tb_test_uuid(test, block, dir, sub_uuid);
		tbstream_tb_test_entry(block, entries, "inhopid",
				       TB_PROPERTY_TYPE_VALUE, 1,
				       s[i].in_hopid);
		tbstream_tb_test_entry(block,
				       entries + TBSTREAM_TB_TEST_ENTRY_DW,
				       "outhopid", TB_PROPERTY_TYPE_VALUE, 1,
				       s[i].out_hopid);
		if (s[i].has_link)
			tbstream_tb_test_entry(block, entries +
					       2 * TBSTREAM_TB_TEST_ENTRY_DW,
					       "link", TB_PROPERTY_TYPE_VALUE,
					       1, s[i].link);
		dir += subdir_len;
	}
	return block;
}

/* Parse a block with the core's parser; freed when the test ends */
static struct tb_property_dir *tbstream_tb_test_parse(struct kunit *test,
						      const u32 *block,
						      size_t len)
{
	struct tb_property_dir *dir;

	dir = tb_property_parse_dir(block, len);
	KUNIT_ASSERT_NOT_NULL(test, dir);
	tbstream_test_defer(test, tbstream_test_free_dir, dir);
	return dir;
}

/* Make @block the peer's properties, as the core does after reading it */
static void tbstream_tb_test_set_remote_block(struct kunit *test,
					      struct tb_xdomain *xd,
					      const u32 *block, size_t len)
{
	struct tb_property_dir *dir, *old;

	dir = tb_property_parse_dir(block, len);
	KUNIT_ASSERT_NOT_NULL(test, dir);

	/* The XDomain owns it now: tb_xdomain_release() frees it */
	mutex_lock(&xd->lock);
	old = xd->remote_properties;
	xd->remote_properties = dir;
	xd->remote_property_block_gen++;
	mutex_unlock(&xd->lock);
	tb_property_free_dir(old);
}

/* Replace the peer's properties by a block advertising streams @s */
static void tbstream_tb_test_set_remote(struct kunit *test,
					struct tb_xdomain *xd,
					const struct tbstream_tb_test_stream *s,
					unsigned int n)
{
	size_t len;
	u32 *block;

	block = tbstream_tb_test_block(test, TBSTREAM_SERVICE_KEY,
				       TBSTREAM_TB_TEST_OTHER_UUID, s, n, &len);
	tbstream_tb_test_set_remote_block(test, xd, block, len);
}

static struct tb_property_dir *
tbstream_tb_test_subdir(struct tb_property_dir *dir, const char *key)
{
	struct tb_property *p;

	p = tb_property_find(dir, key, TB_PROPERTY_TYPE_DIRECTORY);
	return p ? p->value.dir : NULL;
}

/* The directory the backend publishes, built as it does */
static struct tb_property_dir *tbstream_tb_test_build_dir(struct kunit *test)
{
	struct tb_property_dir *dir;

	mutex_lock(&tbstream_tb_lock);
	dir = tbstream_tb_build_dir();
	mutex_unlock(&tbstream_tb_lock);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, dir);
	return dir;
}

/**
 * tbstream_tb_test_advertised() - Read our advertisement of a stream
 * @test: The test
 * @name: Stream name
 * @in: Returns its "inhopid"
 * @out: Returns its "outhopid"
 *
 * Builds the directory the backend publishes, as it does.
 *
 * Return: %0, or -ENOENT when @name is not advertised.
 */
static int tbstream_tb_test_advertised(struct kunit *test, const char *name,
				       int *in, int *out)
{
	struct tb_property_dir *dir, *sub;
	struct tb_property *p;
	int ret = -ENOENT;

	dir = tbstream_tb_test_build_dir(test);

	sub = tbstream_tb_test_subdir(dir, name);
	if (sub) {
		p = tb_property_find(sub, "inhopid", TB_PROPERTY_TYPE_VALUE);
		if (p)
			*in = p->value.immediate;
		p = tb_property_find(sub, "outhopid", TB_PROPERTY_TYPE_VALUE);
		if (p)
			*out = p->value.immediate;
		ret = 0;
	}
	tb_property_free_dir(dir);
	return ret;
}

static void tbstream_tb_test_expect_advertised(struct kunit *test,
					       const char *name, int in,
					       int out)
{
	int adv_in = 0, adv_out = 0;

	KUNIT_ASSERT_EQ_MSG(test, tbstream_tb_test_advertised(test, name,
							      &adv_in,
							      &adv_out),
			    0, "%s not advertised", name);
	KUNIT_EXPECT_EQ(test, adv_in, in);
	KUNIT_EXPECT_EQ(test, adv_out, out);
}

static void tbstream_tb_test_expect_withdrawn(struct kunit *test,
					      const char *name)
{
	int in, out;

	KUNIT_EXPECT_EQ_MSG(test, tbstream_tb_test_advertised(test, name, &in,
							      &out),
			    -ENOENT, "%s still advertised", name);
}

/*
 * "Properties changed" notifications the peer got since the last call,
 * once the backend has registered what it published
 */
static int tbstream_tb_test_notified(struct kunit *test)
{
	struct tbstream_tb_test *t = test->priv;

	flush_delayed_work(&tbstream_tb_swap);
	flush_delayed_work(&t->xd->properties_changed_work);
	return atomic_xchg(&t->cm->notified, 0);
}

/* HopIDs */

static struct ida *tbstream_tb_test_ida(struct tb_xdomain *xd,
					enum tbstream_direction dir)
{
	return dir == TBSTREAM_IN ? &xd->in_hopids : &xd->out_hopids;
}

/* Whether @hopid is allocated in the XDomain's @dir HopID space */
static bool tbstream_tb_test_held(struct tb_xdomain *xd,
				  enum tbstream_direction dir, int hopid)
{
	struct ida *ida = tbstream_tb_test_ida(xd, dir);
	int ret;

	ret = ida_alloc_range(ida, hopid, hopid, GFP_KERNEL);
	if (ret < 0)
		return ret == -ENOSPC;
	ida_free(ida, ret);
	return false;
}

static bool tbstream_tb_test_no_hopids(struct tb_xdomain *xd)
{
	return ida_is_empty(&xd->in_hopids) && ida_is_empty(&xd->out_hopids);
}

/* thunderbolt_stream_tb_probe */

/* The driver binds through the bus match and registers the peer */
static void tbstream_tb_test_probe_binds(struct kunit *test)
{
	struct tbstream_tb_test *t = test->priv;
	struct tbstream_peer *peer;
	struct tb_service *svc;

	svc = tbstream_tb_test_plug(test, t->xd, TBSTREAM_SERVICE_KEY,
				    TBSTREAM_PROTOCOL_ID);
	peer = tbstream_tb_test_peer(test, svc);
	KUNIT_EXPECT_STREQ(test, dev_name(&svc->dev), TBSTREAM_TB_TEST_SERVICE);
	KUNIT_EXPECT_STREQ(test, peer->name, dev_name(&svc->dev));
	KUNIT_EXPECT_PTR_EQ(test, peer->dev, &svc->dev);
	KUNIT_ASSERT_NOT_NULL(test, peer->ops);
	KUNIT_EXPECT_NOT_NULL(test, peer->ops->alloc_hopid);
	KUNIT_EXPECT_NOT_NULL(test, peer->ops->release_hopid);
	KUNIT_EXPECT_NOT_NULL(test, peer->ops->advertise);
	KUNIT_EXPECT_NOT_NULL(test, peer->ops->withdraw);
	KUNIT_EXPECT_NOT_NULL(test, peer->ops->lookup);
	KUNIT_EXPECT_NOT_NULL(test, peer->ops->enable_paths);
	KUNIT_EXPECT_NOT_NULL(test, peer->ops->disable_paths);
	/* Probing takes no HopIDs and advertises nothing */
	KUNIT_EXPECT_TRUE(test, tbstream_tb_test_no_hopids(t->xd));
	KUNIT_EXPECT_PTR_EQ(test, peer->service, NULL);
}

/**
 * struct tbstream_tb_test_match_case - A service and whether we bind to it
 * @key: Service key
 * @prtcid: Protocol ID
 * @bound: The stream driver binds to it
 * @desc: Case name
 */
struct tbstream_tb_test_match_case {
	const char *key;
	u32 prtcid;
	bool bound;
	const char *desc;
};

static const struct tbstream_tb_test_match_case tbstream_tb_test_matches[] = {
	{ "stream", 1, true, "stream_1" },
	{ "stream", 2, false, "stream_2" },
	{ "network", 1, false, "network_1" },
	{ "streams", 1, false, "streams_1" },
};

KUNIT_ARRAY_PARAM_DESC(tbstream_tb_test_matches, tbstream_tb_test_matches,
		       desc);

/* Only key "stream" with protocol ID 1 binds */
static void tbstream_tb_test_probe_match(struct kunit *test)
{
	const struct tbstream_tb_test_match_case *c = test->param_value;
	struct tbstream_tb_test *t = test->priv;
	struct tb_service *svc;
	bool bound;

	svc = tbstream_tb_test_plug(test, t->xd, c->key, c->prtcid);
	bound = svc->dev.driver &&
		!strcmp(svc->dev.driver->name, "thunderbolt_stream");
	KUNIT_EXPECT_EQ(test, bound, c->bound);
	if (bound)
		KUNIT_EXPECT_NOT_NULL(test, tb_service_get_drvdata(svc));
}

/* Unbinding and binding again gives a working peer each time */
static void tbstream_tb_test_probe_replug(struct kunit *test)
{
	struct tbstream_tb_test *t = test->priv;
	struct tbstream_peer *peer;
	struct tb_service *svc;
	int i, hopid;

	for (i = 0; i < 3; i++) {
		svc = tbstream_tb_test_plug(test, t->xd, TBSTREAM_SERVICE_KEY,
					    TBSTREAM_PROTOCOL_ID);
		peer = tbstream_tb_test_peer(test, svc);
		/* The service ID and so the name are free again each time */
		KUNIT_EXPECT_STREQ(test, peer->name, TBSTREAM_TB_TEST_SERVICE);
		hopid = peer->ops->alloc_hopid(peer, TBSTREAM_IN,
					       TBSTREAM_HOPID_AUTO);
		KUNIT_EXPECT_EQ(test, hopid, TBSTREAM_HOPID_MIN + 1);
		peer->ops->release_hopid(peer, TBSTREAM_IN, hopid);
		tbstream_tb_test_unplug(test, svc);
	}
	KUNIT_EXPECT_TRUE(test, tbstream_tb_test_no_hopids(t->xd));
}

static struct kunit_case tbstream_tb_probe_cases[] = {
	KUNIT_CASE(tbstream_tb_test_probe_binds),
	KUNIT_CASE_PARAM(tbstream_tb_test_probe_match,
			 tbstream_tb_test_matches_gen_params),
	KUNIT_CASE(tbstream_tb_test_probe_replug),
	{ }
};

static struct kunit_suite tbstream_tb_probe_suite = {
	.name = "thunderbolt_stream_tb_probe",
	.init = tbstream_tb_test_init_unplugged,
	.test_cases = tbstream_tb_probe_cases,
};

/* thunderbolt_stream_tb_hopid */

/**
 * struct tbstream_tb_test_dir_case - One HopID space of the XDomain
 * @dir: Direction
 * @max: Largest HopID of the space
 * @desc: Case name
 */
struct tbstream_tb_test_dir_case {
	enum tbstream_direction dir;
	int max;
	const char *desc;
};

static const struct tbstream_tb_test_dir_case tbstream_tb_test_dirs[] = {
	{ TBSTREAM_IN, TBSTREAM_TB_TEST_IN_MAX, "in" },
	{ TBSTREAM_OUT, TBSTREAM_TB_TEST_OUT_MAX, "out" },
};

KUNIT_ARRAY_PARAM_DESC(tbstream_tb_test_dirs, tbstream_tb_test_dirs, desc);

static int tbstream_tb_test_alloc(struct kunit *test,
				  enum tbstream_direction dir, int hopid)
{
	struct tbstream_tb_test *t = test->priv;

	return t->peer->ops->alloc_hopid(t->peer, dir, hopid);
}

static void tbstream_tb_test_release(struct kunit *test,
				     enum tbstream_direction dir, int hopid)
{
	struct tbstream_tb_test *t = test->priv;

	t->peer->ops->release_hopid(t->peer, dir, hopid);
}

/* Automatic: 9 up to the maximum, then 8 (thunderbolt-net's), then none */
static void tbstream_tb_test_hopid_auto_order(struct kunit *test)
{
	const struct tbstream_tb_test_dir_case *c = test->param_value;
	struct tbstream_tb_test *t = test->priv;
	int hopid, ret;

	for (hopid = TBSTREAM_HOPID_MIN + 1; hopid <= c->max; hopid++) {
		ret = tbstream_tb_test_alloc(test, c->dir, TBSTREAM_HOPID_AUTO);
		KUNIT_EXPECT_EQ(test, ret, hopid);
		KUNIT_EXPECT_FALSE(test, tbstream_tb_test_held(t->xd, c->dir,
							       8));
	}
	KUNIT_EXPECT_EQ(test, tbstream_tb_test_alloc(test, c->dir,
						     TBSTREAM_HOPID_AUTO),
			TBSTREAM_HOPID_MIN);
	KUNIT_EXPECT_EQ(test, tbstream_tb_test_alloc(test, c->dir,
						     TBSTREAM_HOPID_AUTO),
			-ENOSPC);

	for (hopid = TBSTREAM_HOPID_MIN; hopid <= c->max; hopid++) {
		KUNIT_EXPECT_TRUE(test, tbstream_tb_test_held(t->xd, c->dir,
							      hopid));
		tbstream_tb_test_release(test, c->dir, hopid);
	}
	KUNIT_EXPECT_TRUE(test, tbstream_tb_test_no_hopids(t->xd));
}

/* Automatic allocation takes the lowest free HopID above 8 */
static void tbstream_tb_test_hopid_auto_reuse(struct kunit *test)
{
	const struct tbstream_tb_test_dir_case *c = test->param_value;
	int auto_hopid = TBSTREAM_HOPID_AUTO;

	KUNIT_EXPECT_EQ(test, tbstream_tb_test_alloc(test, c->dir, auto_hopid),
			9);
	KUNIT_EXPECT_EQ(test, tbstream_tb_test_alloc(test, c->dir, auto_hopid),
			10);
	KUNIT_EXPECT_EQ(test, tbstream_tb_test_alloc(test, c->dir, auto_hopid),
			11);
	tbstream_tb_test_release(test, c->dir, 10);
	KUNIT_EXPECT_EQ(test, tbstream_tb_test_alloc(test, c->dir, auto_hopid),
			10);
	/* Someone else (thunderbolt-net) holds 8: we never needed it */
	KUNIT_EXPECT_EQ(test, tbstream_tb_test_alloc(test, c->dir, 8), 8);
	KUNIT_EXPECT_EQ(test, tbstream_tb_test_alloc(test, c->dir, auto_hopid),
			12);
}

/* The two directions are separate spaces */
static void tbstream_tb_test_hopid_dirs_apart(struct kunit *test)
{
	struct tbstream_tb_test *t = test->priv;

	KUNIT_EXPECT_EQ(test, tbstream_tb_test_alloc(test, TBSTREAM_IN, 10),
			10);
	KUNIT_EXPECT_EQ(test, tbstream_tb_test_alloc(test, TBSTREAM_OUT, 10),
			10);
	KUNIT_EXPECT_TRUE(test, tbstream_tb_test_held(t->xd, TBSTREAM_IN, 10));
	KUNIT_EXPECT_TRUE(test, tbstream_tb_test_held(t->xd, TBSTREAM_OUT, 10));
	tbstream_tb_test_release(test, TBSTREAM_IN, 10);
	KUNIT_EXPECT_FALSE(test, tbstream_tb_test_held(t->xd, TBSTREAM_IN, 10));
	KUNIT_EXPECT_TRUE(test, tbstream_tb_test_held(t->xd, TBSTREAM_OUT, 10));
	tbstream_tb_test_release(test, TBSTREAM_OUT, 10);
	KUNIT_EXPECT_TRUE(test, tbstream_tb_test_no_hopids(t->xd));
}

/**
 * struct tbstream_tb_test_exact_case - Asking for one HopID exactly
 * @dir: Direction
 * @taken: HopIDs allocated before, 0-terminated
 * @hopid: HopID asked for
 * @ret: Expected result
 * @desc: Case name
 */
struct tbstream_tb_test_exact_case {
	enum tbstream_direction dir;
	int taken[4];
	int hopid;
	int ret;
	const char *desc;
};

static const struct tbstream_tb_test_exact_case tbstream_tb_test_exacts[] = {
	{ TBSTREAM_IN, { }, 8, 8, "in_8" },
	{ TBSTREAM_IN, { }, 12, 12, "in_free" },
	{ TBSTREAM_IN, { }, 15, 15, "in_max" },
	{ TBSTREAM_IN, { }, 16, -EINVAL, "in_above_max" },
	{ TBSTREAM_IN, { }, 7, -EINVAL, "in_below_8" },
	{ TBSTREAM_IN, { 12 }, 12, -EBUSY, "in_taken" },
	{ TBSTREAM_IN, { 12, 13, 14, 15 }, 12, -EBUSY, "in_taken_to_max" },
	{ TBSTREAM_IN, { 12 }, 13, 13, "in_next_to_taken" },
	{ TBSTREAM_OUT, { }, 8, 8, "out_8" },
	{ TBSTREAM_OUT, { }, 12, 12, "out_max" },
	{ TBSTREAM_OUT, { }, 13, -EINVAL, "out_above_remote_max" },
	{ TBSTREAM_OUT, { }, 15, -EINVAL, "out_at_local_max" },
	{ TBSTREAM_OUT, { }, 7, -EINVAL, "out_below_8" },
	{ TBSTREAM_OUT, { 9 }, 9, -EBUSY, "out_taken" },
	{ TBSTREAM_OUT, { 11, 12 }, 11, -EBUSY, "out_taken_to_max" },
};

KUNIT_ARRAY_PARAM_DESC(tbstream_tb_test_exacts, tbstream_tb_test_exacts, desc);

/* An exact request gets that HopID or fails; a failure holds nothing */
static void tbstream_tb_test_hopid_exact(struct kunit *test)
{
	const struct tbstream_tb_test_exact_case *c = test->param_value;
	struct tbstream_tb_test *t = test->priv;
	struct ida *ida = tbstream_tb_test_ida(t->xd, c->dir);
	unsigned int i, n = 0;
	int hopid;

	for (i = 0; i < ARRAY_SIZE(c->taken) && c->taken[i]; i++, n++)
		KUNIT_ASSERT_EQ(test, tbstream_tb_test_alloc(test, c->dir,
							     c->taken[i]),
				c->taken[i]);

	KUNIT_EXPECT_EQ(test, tbstream_tb_test_alloc(test, c->dir, c->hopid),
			c->ret);

	/* Exactly what was taken, plus the HopID on success, is held */
	for (hopid = TBSTREAM_HOPID_MIN; hopid <= TBSTREAM_TB_TEST_IN_MAX;
	     hopid++) {
		bool want = hopid == c->ret;

		for (i = 0; i < n; i++)
			want |= hopid == c->taken[i];
		KUNIT_EXPECT_EQ_MSG(test, tbstream_tb_test_held(t->xd, c->dir,
								hopid),
				    want, "HopID %d", hopid);
	}

	if (c->ret > 0)
		tbstream_tb_test_release(test, c->dir, c->ret);
	for (i = 0; i < n; i++)
		tbstream_tb_test_release(test, c->dir, c->taken[i]);
	KUNIT_EXPECT_TRUE(test, ida_is_empty(ida));
}

static struct kunit_case tbstream_tb_hopid_cases[] = {
	KUNIT_CASE_PARAM(tbstream_tb_test_hopid_auto_order,
			 tbstream_tb_test_dirs_gen_params),
	KUNIT_CASE_PARAM(tbstream_tb_test_hopid_auto_reuse,
			 tbstream_tb_test_dirs_gen_params),
	KUNIT_CASE(tbstream_tb_test_hopid_dirs_apart),
	KUNIT_CASE_PARAM(tbstream_tb_test_hopid_exact,
			 tbstream_tb_test_exacts_gen_params),
	{ }
};

static struct kunit_suite tbstream_tb_hopid_suite = {
	.name = "thunderbolt_stream_tb_hopid",
	.init = tbstream_tb_test_init,
	.test_cases = tbstream_tb_hopid_cases,
};

/* thunderbolt_stream_tb_paths */

static void tbstream_tb_test_expect_call(struct kunit *test, unsigned int i,
					 bool approve, int out_hopid,
					 int tx_hop, int in_hopid, int rx_hop)
{
	struct tbstream_tb_test *t = test->priv;
	const struct tbstream_tb_test_call *call = &t->cm->calls[i];

	KUNIT_ASSERT_GT(test, t->cm->ncalls, i);
	KUNIT_EXPECT_EQ(test, call->approve, approve);
	KUNIT_EXPECT_PTR_EQ(test, call->xd, t->xd);
	KUNIT_EXPECT_EQ(test, call->transmit_path, out_hopid);
	KUNIT_EXPECT_EQ(test, call->transmit_ring, tx_hop);
	KUNIT_EXPECT_EQ(test, call->receive_path, in_hopid);
	KUNIT_EXPECT_EQ(test, call->receive_ring, rx_hop);
}

/* The fixture with a transmit ring on hop 1 and a receive ring on hop 2 */
static int tbstream_tb_test_init_paths(struct kunit *test)
{
	struct tbstream_tb_test *t;

	tbstream_tb_test_init(test);
	t = test->priv;
	t->tx.direction = TBSTREAM_OUT;
	t->tx.hop = 1;
	t->rx.direction = TBSTREAM_IN;
	t->rx.hop = 2;
	return 0;
}

/* Paths are asked for as (out HopID, TX hop, in HopID, RX hop) */
static void tbstream_tb_test_paths_enable_disable(struct kunit *test)
{
	struct tbstream_tb_test *t = test->priv;
	struct tbstream_peer *peer = t->peer;
	struct tbstream_ring *tx = &t->tx, *rx = &t->rx;

	KUNIT_ASSERT_EQ(test, peer->ops->enable_paths(peer, 10, tx, 11, rx),
			0);
	KUNIT_EXPECT_EQ(test, t->cm->ncalls, 1);
	tbstream_tb_test_expect_call(test, 0, true, 10, 1, 11, 2);
	KUNIT_EXPECT_EQ(test, atomic_read(&t->xd->ntunnels), 1);

	peer->ops->disable_paths(peer, 10, tx, 11, rx);
	KUNIT_EXPECT_EQ(test, t->cm->ncalls, 2);
	tbstream_tb_test_expect_call(test, 1, false, 10, 1, 11, 2);
	KUNIT_EXPECT_EQ(test, atomic_read(&t->xd->ntunnels), 0);
}

/* Different HopIDs and hops on each side, to catch swapped arguments */
static void tbstream_tb_test_paths_arguments(struct kunit *test)
{
	struct tbstream_tb_test *t = test->priv;
	struct tbstream_peer *peer = t->peer;
	struct tbstream_ring *tx = &t->tx, *rx = &t->rx;

	tx->hop = 5;
	rx->hop = 3;
	KUNIT_ASSERT_EQ(test, peer->ops->enable_paths(peer, 8, tx, 14, rx),
			0);
	tbstream_tb_test_expect_call(test, 0, true, 8, 5, 14, 3);
	tx->hop = 6;
	rx->hop = 7;
	KUNIT_ASSERT_EQ(test, peer->ops->enable_paths(peer, 12, tx, 9, rx),
			0);
	tbstream_tb_test_expect_call(test, 1, true, 12, 6, 9, 7);
	peer->ops->disable_paths(peer, 12, tx, 9, rx);
	tbstream_tb_test_expect_call(test, 2, false, 12, 6, 9, 7);
	tx->hop = 5;
	rx->hop = 3;
	peer->ops->disable_paths(peer, 8, tx, 14, rx);
	tbstream_tb_test_expect_call(test, 3, false, 8, 5, 14, 3);
	KUNIT_EXPECT_EQ(test, t->cm->ncalls, 4);
	KUNIT_EXPECT_EQ(test, atomic_read(&t->xd->ntunnels), 0);
}

/* The connection manager's error comes back unchanged */
static void tbstream_tb_test_paths_enable_error(struct kunit *test)
{
	struct tbstream_tb_test *t = test->priv;
	struct tbstream_peer *peer = t->peer;
	struct tbstream_ring *tx = &t->tx, *rx = &t->rx;

	t->cm->approve_ret = -ETIMEDOUT;
	KUNIT_EXPECT_EQ(test, peer->ops->enable_paths(peer, 9, tx, 9, rx),
			-ETIMEDOUT);
	KUNIT_EXPECT_EQ(test, t->cm->ncalls, 1);
	KUNIT_EXPECT_EQ(test, atomic_read(&t->xd->ntunnels), 0);
}

/* A failed teardown is reported, plugged or not, and nothing breaks */
static void tbstream_tb_test_paths_disable_error(struct kunit *test)
{
	struct tbstream_tb_test *t = test->priv;
	struct tbstream_peer *peer = t->peer;
	struct tbstream_ring *tx = &t->tx, *rx = &t->rx;

	KUNIT_ASSERT_EQ(test, peer->ops->enable_paths(peer, 9, tx, 9, rx),
			0);
	t->cm->disconnect_ret = -EIO;
	peer->ops->disable_paths(peer, 9, tx, 9, rx);
	t->xd->is_unplugged = true;
	peer->ops->disable_paths(peer, 9, tx, 9, rx);
	KUNIT_EXPECT_EQ(test, t->cm->ncalls, 3);
	tbstream_tb_test_expect_call(test, 2, false, 9, 1, 9, 2);
	/* The core keeps counting the tunnel it could not tear down */
	KUNIT_EXPECT_EQ(test, atomic_read(&t->xd->ntunnels), 1);
}

static struct kunit_case tbstream_tb_paths_cases[] = {
	KUNIT_CASE(tbstream_tb_test_paths_enable_disable),
	KUNIT_CASE(tbstream_tb_test_paths_arguments),
	KUNIT_CASE(tbstream_tb_test_paths_enable_error),
	KUNIT_CASE(tbstream_tb_test_paths_disable_error),
	{ }
};

static struct kunit_suite tbstream_tb_paths_suite = {
	.name = "thunderbolt_stream_tb_paths",
	.init = tbstream_tb_test_init_paths,
	.test_cases = tbstream_tb_paths_cases,
};

/* thunderbolt_stream_tb_lookup */

static const struct tbstream_tb_test_stream tbstream_tb_test_remote[] = {
	{ "alpha", 10, 11 },
	{ "beta", 14, 8 },
};

/* The block built here parses into what the layout says */
static void tbstream_tb_test_lookup_block(struct kunit *test)
{
	struct tb_property_dir *root, *svc, *sub;
	uuid_t uuid;
	size_t len;
	u32 *block;

	block = tbstream_tb_test_block(test, TBSTREAM_SERVICE_KEY,
				       TBSTREAM_TB_TEST_OTHER_UUID,
				       tbstream_tb_test_remote, 2, &len);
	KUNIT_EXPECT_EQ(test, len, 27 + 17 * 2);
	root = tbstream_tb_test_parse(test, block, len);
	KUNIT_EXPECT_PTR_EQ(test, root->uuid, NULL);
	svc = tbstream_tb_test_subdir(root, TBSTREAM_SERVICE_KEY);
	KUNIT_ASSERT_NOT_NULL(test, svc);
	KUNIT_ASSERT_EQ(test, uuid_parse(TBSTREAM_TB_TEST_UUID, &uuid), 0);
	tbstream_test_expect_service_dir(test, svc, &uuid);
	sub = tbstream_tb_test_subdir(svc, "beta");
	KUNIT_ASSERT_NOT_NULL(test, sub);
	tbstream_test_expect_immediate(test, sub, "inhopid", 14);
	tbstream_test_expect_immediate(test, sub, "outhopid", 8);
}

/* lookup() reads the peer's sub-directory of the stream */
static void tbstream_tb_test_lookup_values(struct kunit *test)
{
	struct tbstream_tb_test *t = test->priv;
	struct tbstream_peer *peer = t->peer;
	int in = 0, out = 0;

	tbstream_tb_test_set_remote(test, t->xd, tbstream_tb_test_remote, 2);
	KUNIT_EXPECT_EQ(test, peer->ops->lookup(peer, "alpha", &in, &out), 0);
	KUNIT_EXPECT_EQ(test, in, 10);
	KUNIT_EXPECT_EQ(test, out, 11);
	KUNIT_EXPECT_EQ(test, peer->ops->lookup(peer, "beta", &in, &out), 0);
	KUNIT_EXPECT_EQ(test, in, 14);
	KUNIT_EXPECT_EQ(test, out, 8);
	/* Lookups take nothing */
	KUNIT_EXPECT_TRUE(test, tbstream_tb_test_no_hopids(t->xd));
}

/* Names the peer does not advertise, and properties without the service */
static void tbstream_tb_test_lookup_unknown(struct kunit *test)
{
	static const struct tbstream_tb_test_stream other[] = {
		{ "alpha", 10, 11 },
	};
	struct tbstream_tb_test *t = test->priv;
	struct tbstream_peer *peer = t->peer;
	struct tb_property_dir *dir;
	int in, out;
	size_t len;
	u32 *block;

	/* Before the peer's properties have been read */
	KUNIT_EXPECT_EQ(test, peer->ops->lookup(peer, "alpha", &in, &out),
			-ENOENT);

	tbstream_tb_test_set_remote(test, t->xd, tbstream_tb_test_remote, 2);
	KUNIT_EXPECT_EQ(test, peer->ops->lookup(peer, "gamma", &in, &out),
			-ENOENT);
	/* Keys are compared whole */
	KUNIT_EXPECT_EQ(test, peer->ops->lookup(peer, "alph", &in, &out),
			-ENOENT);
	KUNIT_EXPECT_EQ(test, peer->ops->lookup(peer, "alphabet", &in, &out),
			-ENOENT);
	/* The protocol immediates are no streams */
	KUNIT_EXPECT_EQ(test, peer->ops->lookup(peer, "prtcid", &in, &out),
			-ENOENT);

	/* "alpha" advertised by another service only */
	block = tbstream_tb_test_block(test, "network",
				       TBSTREAM_TB_TEST_OTHER_UUID, other, 1,
				       &len);
	dir = tb_property_parse_dir(block, len);
	KUNIT_ASSERT_NOT_NULL(test, dir);
	mutex_lock(&t->xd->lock);
	swap(dir, t->xd->remote_properties);
	t->xd->remote_property_block_gen++;
	mutex_unlock(&t->xd->lock);
	tb_property_free_dir(dir);
	KUNIT_EXPECT_EQ(test, peer->ops->lookup(peer, "alpha", &in, &out),
			-ENOENT);
}

/* A sub-directory without both HopIDs is no advertisement */
static void tbstream_tb_test_lookup_partial(struct kunit *test)
{
	struct tbstream_tb_test *t = test->priv;
	struct tbstream_peer *peer = t->peer;
	struct tb_property_dir *root, *svc, *sub, *old;
	uuid_t uuid;
	int in, out;

	KUNIT_ASSERT_EQ(test, uuid_parse(TBSTREAM_TB_TEST_UUID, &uuid), 0);
	root = tb_property_create_dir(NULL);
	KUNIT_ASSERT_NOT_NULL(test, root);
	tbstream_test_defer(test, tbstream_test_free_dir, root);
	svc = tb_property_create_dir(&uuid);
	KUNIT_ASSERT_NOT_NULL(test, svc);
	KUNIT_ASSERT_EQ(test, tb_property_add_dir(root, TBSTREAM_SERVICE_KEY,
						  svc), 0);
	sub = tb_property_create_dir(&uuid);
	KUNIT_ASSERT_NOT_NULL(test, sub);
	KUNIT_ASSERT_EQ(test, tb_property_add_dir(svc, "alpha", sub), 0);
	KUNIT_ASSERT_EQ(test, tb_property_add_immediate(sub, "inhopid", 10), 0);
	/* "beta" is an immediate, not a directory */
	KUNIT_ASSERT_EQ(test, tb_property_add_immediate(svc, "beta", 10), 0);

	kunit_remove_action(test, tbstream_test_free_dir, root);
	mutex_lock(&t->xd->lock);
	old = t->xd->remote_properties;
	t->xd->remote_properties = root;
	mutex_unlock(&t->xd->lock);
	tb_property_free_dir(old);

	KUNIT_EXPECT_EQ(test, peer->ops->lookup(peer, "alpha", &in, &out),
			-ENOENT);
	KUNIT_EXPECT_EQ(test, peer->ops->lookup(peer, "beta", &in, &out),
			-ENOENT);
}

/* lookup() follows the peer's properties when the core replaces them */
static void tbstream_tb_test_lookup_replaced(struct kunit *test)
{
	static const struct tbstream_tb_test_stream changed[] = {
		{ "beta", 9, 12 },
		{ "gamma", 13, 9 },
	};
	struct tbstream_tb_test *t = test->priv;
	struct tbstream_peer *peer = t->peer;
	u32 gen = t->xd->remote_property_block_gen;
	int in = 0, out = 0;

	tbstream_tb_test_set_remote(test, t->xd, tbstream_tb_test_remote, 2);
	KUNIT_EXPECT_EQ(test, peer->ops->lookup(peer, "alpha", &in, &out), 0);
	tbstream_tb_test_set_remote(test, t->xd, changed, 2);
	KUNIT_EXPECT_EQ(test, t->xd->remote_property_block_gen, gen + 2);

	KUNIT_EXPECT_EQ(test, peer->ops->lookup(peer, "alpha", &in, &out),
			-ENOENT);
	KUNIT_EXPECT_EQ(test, peer->ops->lookup(peer, "beta", &in, &out), 0);
	KUNIT_EXPECT_EQ(test, in, 9);
	KUNIT_EXPECT_EQ(test, out, 12);
	KUNIT_EXPECT_EQ(test, peer->ops->lookup(peer, "gamma", &in, &out), 0);
	KUNIT_EXPECT_EQ(test, in, 13);
	KUNIT_EXPECT_EQ(test, out, 9);
}

static struct kunit_case tbstream_tb_lookup_cases[] = {
	KUNIT_CASE(tbstream_tb_test_lookup_block),
	KUNIT_CASE(tbstream_tb_test_lookup_values),
	KUNIT_CASE(tbstream_tb_test_lookup_unknown),
	KUNIT_CASE(tbstream_tb_test_lookup_partial),
	KUNIT_CASE(tbstream_tb_test_lookup_replaced),
	{ }
};

static struct kunit_suite tbstream_tb_lookup_suite = {
	.name = "thunderbolt_stream_tb_lookup",
	.init = tbstream_tb_test_init,
	.test_cases = tbstream_tb_lookup_cases,
};

/* thunderbolt_stream_tb_advert */

static void tbstream_tb_test_withdraw(void *data)
{
	struct tbstream_tb_test_advert *adv = data;

	adv->peer->ops->withdraw(adv->peer, adv->name);
}

/* Advertise through the backend; withdrawn when the test ends */
static int tbstream_tb_test_advertise(struct kunit *test,
				      struct tbstream_peer *peer,
				      const char *name, int in, int out)
{
	struct tbstream_tb_test_advert *adv;
	int ret;

	adv = kunit_kzalloc(test, sizeof(*adv), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, adv);
	adv->peer = peer;
	adv->name = name;
	ret = peer->ops->advertise(peer, name, in, out);
	tbstream_test_defer(test, tbstream_tb_test_withdraw, adv);
	return ret;
}

/* Format @dir as the "stream" directory of a root, as a peer reads it */
static u32 *tbstream_tb_test_format(struct kunit *test,
				    struct tb_property_dir *dir, size_t *len)
{
	struct tb_property_dir *root;
	ssize_t ret;
	u32 *block;

	root = tb_property_create_dir(NULL);
	if (!root)
		tb_property_free_dir(dir);
	KUNIT_ASSERT_NOT_NULL(test, root);
	tbstream_test_defer(test, tbstream_test_free_dir, root);
	ret = tb_property_add_dir(root, TBSTREAM_SERVICE_KEY, dir);
	if (ret)
		tb_property_free_dir(dir);
	KUNIT_ASSERT_EQ(test, ret, 0);

	ret = tb_property_format_dir(root, NULL, 0);
	KUNIT_ASSERT_GT(test, ret, 0);
	*len = ret;
	block = kunit_kcalloc(test, *len, sizeof(*block), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, block);
	KUNIT_ASSERT_EQ(test, tb_property_format_dir(root, block, *len), 0);
	return block;
}

/**
 * tbstream_tb_test_play_peers() - Let this host play both our peers
 * @test: The test
 * @as: Returns a bound service of each: on an XDomain of the host at
 *	%TBSTREAM_TB_TEST_ROUTE, then at %TBSTREAM_TB_TEST_ROUTE2, to us
 *
 * Each XDomain has what we publish now as its remote properties, as that
 * peer reads them: a lookup through it is that peer's.
 */
static void tbstream_tb_test_play_peers(struct kunit *test,
					struct tb_service *as[2])
{
	static const u64 hosts[2][2] = {
		{ TBSTREAM_TB_TEST_ROUTE_AS1, TBSTREAM_TB_TEST_ROUTE },
		{ TBSTREAM_TB_TEST_ROUTE_AS2, TBSTREAM_TB_TEST_ROUTE2 },
	};
	struct tbstream_tb_test *t = test->priv;
	struct tb_xdomain *xd;
	size_t len;
	u32 *block;
	int i;

	block = tbstream_tb_test_format(test, tbstream_tb_test_build_dir(test),
					&len);
	for (i = 0; i < 2; i++) {
		xd = tbstream_tb_test_xdomain_of(test, t->tb, hosts[i][0],
						 hosts[i][1],
						 TBSTREAM_TB_TEST_SELF);
		tbstream_tb_test_set_remote_block(test, xd, block, len);
		as[i] = tbstream_tb_test_plug_bound(test, xd);
	}
}

/*
 * The published directory, dword for dword: each stream names in "link"
 * the host it is for
 */
static void tbstream_tb_test_advert_golden(struct kunit *test)
{
	struct tbstream_tb_test_stream streams[] = {
		{ "alpha", 9, 10 },
		{ "beta", 11, 8 },
	};
	struct tbstream_tb_test *t = test->priv;
	struct tb_property_dir *dir, *root, *svc, *sub;
	size_t len, golden_len;
	u32 *block, *golden;
	unsigned int i;
	uuid_t uuid;

	for (i = 0; i < ARRAY_SIZE(streams); i++) {
		struct tbstream_tb_test_stream *s = &streams[i];

		s->link = tbstream_tb_test_link(test, TBSTREAM_TB_TEST_ROUTE);
		s->has_link = true;
		KUNIT_ASSERT_EQ(test, tbstream_tb_test_advertise(test, t->peer,
								 s->name,
								 s->in_hopid,
								 s->out_hopid),
				0);
	}

	dir = tbstream_tb_test_build_dir(test);
	block = tbstream_tb_test_format(test, dir, &len);

	golden = tbstream_tb_test_block(test, TBSTREAM_SERVICE_KEY,
					TBSTREAM_TB_TEST_UUID, streams,
					ARRAY_SIZE(streams), &golden_len);
	KUNIT_ASSERT_EQ(test, len, golden_len);
	KUNIT_EXPECT_MEMEQ(test, block, golden, len * sizeof(*block));

	/* And what a peer parses out of it */
	root = tbstream_tb_test_parse(test, block, len);
	svc = tbstream_tb_test_subdir(root, TBSTREAM_SERVICE_KEY);
	KUNIT_ASSERT_NOT_NULL(test, svc);
	KUNIT_ASSERT_EQ(test, uuid_parse(TBSTREAM_TB_TEST_UUID, &uuid), 0);
	tbstream_test_expect_service_dir(test, svc, &uuid);
	for (i = 0; i < ARRAY_SIZE(streams); i++) {
		sub = tbstream_tb_test_subdir(svc, streams[i].name);
		KUNIT_ASSERT_NOT_NULL(test, sub);
		tbstream_test_expect_immediate(test, sub, "inhopid",
					       streams[i].in_hopid);
		tbstream_test_expect_immediate(test, sub, "outhopid",
					       streams[i].out_hopid);
		tbstream_test_expect_immediate(test, sub, "link",
					       streams[i].link);
		/* Ours carry the service directory's UUID */
		KUNIT_ASSERT_NOT_NULL(test, sub->uuid);
		KUNIT_EXPECT_TRUE(test, uuid_equal(sub->uuid, &uuid));
	}
}

/* Nothing advertised: the bare service directory */
static void tbstream_tb_test_advert_empty(struct kunit *test)
{
	struct tb_property_dir *dir;
	size_t len, golden_len;
	u32 *block, *golden;

	dir = tbstream_tb_test_build_dir(test);
	block = tbstream_tb_test_format(test, dir, &len);
	golden = tbstream_tb_test_block(test, TBSTREAM_SERVICE_KEY,
					TBSTREAM_TB_TEST_UUID, NULL, 0,
					&golden_len);
	KUNIT_ASSERT_EQ(test, len, golden_len);
	KUNIT_EXPECT_MEMEQ(test, block, golden, len * sizeof(*block));
}

/* Advertise, update, withdraw; connected hosts hear about each change */
static void tbstream_tb_test_advert_update_withdraw(struct kunit *test)
{
	struct tbstream_tb_test *t = test->priv;
	struct tbstream_peer *peer = t->peer;

	KUNIT_ASSERT_EQ(test, tbstream_tb_test_advertise(test, peer, "alpha",
							 9, 10), 0);
	tbstream_tb_test_expect_advertised(test, "alpha", 9, 10);
	KUNIT_EXPECT_GT(test, tbstream_tb_test_notified(test), 0);

	/* The same again changes nothing and notifies nobody */
	KUNIT_EXPECT_EQ(test, peer->ops->advertise(peer, "alpha", 9, 10), 0);
	KUNIT_EXPECT_FALSE(test, delayed_work_pending(&tbstream_tb_swap));
	KUNIT_EXPECT_FALSE(test,
			   delayed_work_pending(&t->xd->properties_changed_work));
	KUNIT_EXPECT_EQ(test, tbstream_tb_test_notified(test), 0);

	/* New HopIDs replace the old ones */
	KUNIT_EXPECT_EQ(test, peer->ops->advertise(peer, "alpha", 11, 12), 0);
	tbstream_tb_test_expect_advertised(test, "alpha", 11, 12);
	KUNIT_EXPECT_GT(test, tbstream_tb_test_notified(test), 0);

	peer->ops->withdraw(peer, "alpha");
	tbstream_tb_test_expect_withdrawn(test, "alpha");
	KUNIT_EXPECT_GT(test, tbstream_tb_test_notified(test), 0);

	/* Withdrawing what is not advertised is harmless */
	peer->ops->withdraw(peer, "alpha");
	peer->ops->withdraw(peer, "nothing");
}

static struct tb_property_dir *tbstream_tb_test_no_dir(void)
{
	return ERR_PTR(-ENOMEM);
}

/* What could not be published is not taken as published */
static void tbstream_tb_test_advert_publish_error(struct kunit *test)
{
	struct tbstream_tb_test *t = test->priv;
	struct tbstream_peer *peer = t->peer;

	KUNIT_ASSERT_EQ(test, tbstream_tb_test_advertise(test, peer, "alpha",
							 9, 10), 0);

	kunit_activate_static_stub(test, tbstream_tb_build_dir,
				   tbstream_tb_test_no_dir);
	KUNIT_EXPECT_EQ(test, peer->ops->advertise(peer, "alpha", 11, 12),
			-ENOMEM);
	KUNIT_EXPECT_EQ(test, tbstream_tb_test_advertise(test, peer, "beta",
							 13, 14), -ENOMEM);
	kunit_deactivate_static_stub(test, tbstream_tb_build_dir);

	/* Peers still see the old advertisement */
	tbstream_tb_test_expect_advertised(test, "alpha", 9, 10);
	tbstream_tb_test_expect_withdrawn(test, "beta");

	/* and asking again publishes */
	tbstream_tb_test_notified(test);
	KUNIT_EXPECT_EQ(test, peer->ops->advertise(peer, "alpha", 11, 12), 0);
	KUNIT_EXPECT_GT(test, tbstream_tb_test_notified(test), 0);
	KUNIT_EXPECT_EQ(test, peer->ops->advertise(peer, "beta", 13, 14), 0);
	tbstream_tb_test_expect_advertised(test, "beta", 13, 14);
}

/*
 * One name, one peer: the directory is the same for every peer, so the
 * second peer's stream of a name waits, unpublished
 */
static void tbstream_tb_test_advert_other_peer(struct kunit *test)
{
	struct tbstream_tb_test *t = test->priv;
	struct tbstream_peer *other;
	struct tb_xdomain *xd2;
	struct tb_service *svc2;

	xd2 = tbstream_tb_test_xdomain(test, t->tb, TBSTREAM_TB_TEST_ROUTE2);
	svc2 = tbstream_tb_test_plug(test, xd2, TBSTREAM_SERVICE_KEY,
				     TBSTREAM_PROTOCOL_ID);
	other = tbstream_tb_test_peer(test, svc2);
	KUNIT_EXPECT_STREQ(test, other->name, "900-3.0");

	KUNIT_ASSERT_EQ(test, tbstream_tb_test_advertise(test, t->peer,
							 "alpha", 9, 10), 0);
	KUNIT_EXPECT_EQ(test, tbstream_tb_test_advertise(test, other, "alpha",
							 11, 12), 0);
	KUNIT_EXPECT_EQ(test, tbstream_tb_test_advertise(test, other, "beta",
							 11, 12), 0);
	tbstream_tb_test_expect_advertised(test, "alpha", 9, 10);

	/* The other peer's withdrawal is of its own waiting entry only */
	other->ops->withdraw(other, "alpha");
	tbstream_tb_test_expect_advertised(test, "alpha", 9, 10);
	tbstream_tb_test_expect_advertised(test, "beta", 11, 12);
}

/**
 * tbstream_tb_test_host_block_len() - What a 6.12 host sends with @dir
 * @test: The test
 * @dir: Our "stream" directory; freed when the test ends
 *
 * The properties block of a host running thunderbolt-net and this driver,
 * at its largest: the root properties of the core (tb_xdomain_init() and
 * those added per XDomain, a hostname of 64 characters among them), the
 * "network" directory of thunderbolt-net and @dir.
 *
 * Return: Its length in dwords.
 */
static size_t tbstream_tb_test_host_block_len(struct kunit *test,
					      struct tb_property_dir *dir)
{
	char hostname[__NEW_UTS_LEN + 1];
	struct tb_property_dir *root, *net;
	ssize_t len;
	uuid_t uuid;

	root = tb_property_create_dir(NULL);
	if (!root)
		tb_property_free_dir(dir);
	KUNIT_ASSERT_NOT_NULL(test, root);
	tbstream_test_defer(test, tbstream_test_free_dir, root);
	KUNIT_ASSERT_EQ(test, tb_property_add_dir(root, TBSTREAM_SERVICE_KEY,
						  dir), 0);

	memset(hostname, 'h', sizeof(hostname) - 1);
	hostname[sizeof(hostname) - 1] = '\0';
	KUNIT_ASSERT_EQ(test, tb_property_add_immediate(root, "vendorid",
							0x8086), 0);
	KUNIT_ASSERT_EQ(test, tb_property_add_text(root, "vendorid",
						   "Intel Corp."), 0);
	KUNIT_ASSERT_EQ(test, tb_property_add_immediate(root, "deviceid", 1),
			0);
	KUNIT_ASSERT_EQ(test, tb_property_add_immediate(root, "devicerv",
							0x80000100), 0);
	KUNIT_ASSERT_EQ(test, tb_property_add_text(root, "deviceid", hostname),
			0);
	KUNIT_ASSERT_EQ(test, tb_property_add_immediate(root, "maxhopid", 15),
			0);

	KUNIT_ASSERT_EQ(test, uuid_parse(TBSTREAM_TB_TEST_OTHER_UUID, &uuid), 0);
	net = tb_property_create_dir(&uuid);
	KUNIT_ASSERT_NOT_NULL(test, net);
	if (tb_property_add_dir(root, "network", net))
		tb_property_free_dir(net);
	KUNIT_ASSERT_EQ(test, tb_property_add_immediate(net, "prtcid", 1), 0);
	KUNIT_ASSERT_EQ(test, tb_property_add_immediate(net, "prtcvers", 1), 0);
	KUNIT_ASSERT_EQ(test, tb_property_add_immediate(net, "prtcrevs", 1), 0);
	KUNIT_ASSERT_EQ(test, tb_property_add_immediate(net, "prtcstns", 0), 0);

	len = tb_property_format_dir(root, NULL, 0);
	KUNIT_ASSERT_GT(test, len, 0);
	return len;
}

/*
 * The published block stays inside the 500 dwords a Linux peer takes, with
 * everything else a host sends: one stream more than
 * %TBSTREAM_TB_ADVERTS_MAX is refused with -ENOSPC and not published,
 * until another one is withdrawn.
 */
static void tbstream_tb_test_advert_cap(struct kunit *test)
{
	struct tbstream_tb_test *t = test->priv;
	struct tb_property_dir *dir;
	struct tbstream_peer *peer;
	size_t len, empty_len;
	struct tb_service *svc;
	char *name;
	int i;

	svc = tbstream_tb_test_plug_bound(test, t->xd);
	peer = tbstream_tb_test_peer(test, svc);
	tbstream_tb_test_format(test, tbstream_tb_test_build_dir(test),
				&empty_len);
	for (i = 0; i < TBSTREAM_TB_ADVERTS_MAX; i++) {
		name = kunit_kzalloc(test, TBSTREAM_NAME_MAX + 1, GFP_KERNEL);
		KUNIT_ASSERT_NOT_NULL(test, name);
		snprintf(name, TBSTREAM_NAME_MAX + 1, "s%d", i);
		KUNIT_ASSERT_EQ(test, tbstream_tb_test_advertise(test, peer, name,
								 9, 10), 0);
	}
	/* 21 dwords a stream, and the whole block within the limit */
	tbstream_tb_test_format(test, tbstream_tb_test_build_dir(test), &len);
	KUNIT_EXPECT_EQ(test, len - empty_len, 21 * TBSTREAM_TB_ADVERTS_MAX);
	dir = tbstream_tb_test_build_dir(test);
	KUNIT_EXPECT_LE(test, tbstream_tb_test_host_block_len(test, dir),
			TB_XDP_PROPERTIES_MAX_LENGTH);

	KUNIT_EXPECT_EQ(test, tbstream_tb_test_advertise(test, peer, "last",
							 9, 10), -ENOSPC);
	tbstream_tb_test_expect_withdrawn(test, "last");
	/* Changing one that is published is no new stream */
	KUNIT_EXPECT_EQ(test, peer->ops->advertise(peer, "s0", 11, 12), 0);
	tbstream_tb_test_expect_advertised(test, "s0", 11, 12);

	peer->ops->withdraw(peer, "s1");
	KUNIT_EXPECT_EQ(test, tbstream_tb_test_advertise(test, peer, "last",
							 9, 10), 0);
	tbstream_tb_test_expect_advertised(test, "last", 9, 10);
}

/* Swaps of the registered directory so far, all published ones done */
static unsigned int tbstream_tb_test_swaps(void)
{
	unsigned int swaps;

	flush_delayed_work(&tbstream_tb_swap);
	mutex_lock(&tbstream_tb_lock);
	swaps = tbstream_tb_swaps;
	mutex_unlock(&tbstream_tb_lock);
	return swaps;
}

/* Streams a burst of changes is made on */
#define TBSTREAM_TB_TEST_BURST		10

/*
 * A burst of changes, as of a script making streams and setting their
 * HopIDs, swaps the registered directory once, and once more for each
 * %TBSTREAM_TB_PUBLISH_INTERVAL it lasts, not once per change; what is
 * registered in the end has every change.
 */
static void tbstream_tb_test_advert_coalesce(struct kunit *test)
{
	struct tbstream_tb_test *t = test->priv;
	struct tb_property_dir *dir, *sub;
	unsigned int swaps, max_swaps;
	unsigned long start;
	char *names[TBSTREAM_TB_TEST_BURST];
	int i;

	swaps = tbstream_tb_test_swaps();
	tbstream_tb_test_notified(test);
	start = jiffies;
	for (i = 0; i < TBSTREAM_TB_TEST_BURST; i++) {
		names[i] = kunit_kzalloc(test, TBSTREAM_NAME_MAX + 1,
					 GFP_KERNEL);
		KUNIT_ASSERT_NOT_NULL(test, names[i]);
		snprintf(names[i], TBSTREAM_NAME_MAX + 1, "s%d", i);
		KUNIT_ASSERT_EQ(test, tbstream_tb_test_advertise(test, t->peer,
								 names[i], 9,
								 10), 0);
	}
	for (i = 0; i < TBSTREAM_TB_TEST_BURST; i++)
		KUNIT_ASSERT_EQ(test, t->peer->ops->advertise(t->peer, names[i],
							      11, 12), 0);
	max_swaps = 2 + jiffies_to_msecs(jiffies - start) /
			TBSTREAM_TB_PUBLISH_INTERVAL;
	swaps = tbstream_tb_test_swaps() - swaps;
	KUNIT_EXPECT_GE(test, swaps, 1);
	KUNIT_EXPECT_LE_MSG(test, swaps, max_swaps, "%d changes",
			    2 * TBSTREAM_TB_TEST_BURST);
	KUNIT_EXPECT_GT(test, tbstream_tb_test_notified(test), 0);

	mutex_lock(&tbstream_tb_lock);
	dir = tb_property_copy_dir(tbstream_tb_dir);
	mutex_unlock(&tbstream_tb_lock);
	KUNIT_ASSERT_NOT_NULL(test, dir);
	tbstream_test_defer(test, tbstream_test_free_dir, dir);
	for (i = 0; i < TBSTREAM_TB_TEST_BURST; i++) {
		sub = tbstream_tb_test_subdir(dir, names[i]);
		KUNIT_ASSERT_NOT_NULL_MSG(test, sub, "%s", names[i]);
		tbstream_test_expect_immediate(test, sub, "inhopid", 11);
		tbstream_test_expect_immediate(test, sub, "outhopid", 12);
	}
}

/*
 * A change after a quiet spell is not held back: its swap is done or
 * queued to run at once, with no timer
 */
static void tbstream_tb_test_advert_prompt(struct kunit *test)
{
	struct tbstream_tb_test *t = test->priv;
	unsigned int swaps;
	bool timer;

	swaps = tbstream_tb_test_swaps();
	msleep(2 * TBSTREAM_TB_PUBLISH_INTERVAL);
	KUNIT_ASSERT_EQ(test, tbstream_tb_test_advertise(test, t->peer, "alpha",
							 9, 10), 0);
	mutex_lock(&tbstream_tb_lock);
	timer = timer_pending(&tbstream_tb_swap.timer);
	if (tbstream_tb_swaps != swaps)
		timer = false;
	mutex_unlock(&tbstream_tb_lock);
	KUNIT_EXPECT_FALSE(test, timer);
	KUNIT_EXPECT_EQ(test, tbstream_tb_test_swaps(), swaps + 1);
}

/* The directory is to be registered again (tbstream_tb_settle_work()) */
static bool tbstream_tb_test_settling(void)
{
	return delayed_work_pending(&tbstream_tb_settle);
}

/*
 * Once changes have settled, the same directory is registered once more,
 * so that a peer whose read a swap tore, or which dropped the notification
 * while it was discovering us, reads it whole (tbstream_tb_settle_work());
 * only once
 */
static void tbstream_tb_test_advert_settle(struct kunit *test)
{
	struct tbstream_tb_test *t = test->priv;
	unsigned int swaps;

	swaps = tbstream_tb_test_swaps();
	tbstream_tb_test_notified(test);
	KUNIT_ASSERT_EQ(test, tbstream_tb_test_advertise(test, t->peer, "alpha",
							 9, 10), 0);
	KUNIT_EXPECT_EQ(test, tbstream_tb_test_swaps(), swaps + 1);
	KUNIT_EXPECT_GT(test, tbstream_tb_test_notified(test), 0);
	KUNIT_EXPECT_TRUE(test, tbstream_tb_test_settling());

	msleep(TBSTREAM_TB_SETTLE_TIME + 1000);
	KUNIT_EXPECT_EQ(test, tbstream_tb_test_swaps(), swaps + 2);
	KUNIT_EXPECT_GT(test, tbstream_tb_test_notified(test), 0);
	tbstream_tb_test_expect_advertised(test, "alpha", 9, 10);
	KUNIT_EXPECT_FALSE(test, tbstream_tb_test_settling());
	KUNIT_EXPECT_FALSE(test, delayed_work_pending(&tbstream_tb_swap));
}

/*
 * Both peers read all of our streams, but one running this driver
 * inherits only those advertised for it: each of our advertisements names
 * its host, and the lookup on another host's link skips it
 */
static void tbstream_tb_test_advert_other_link(struct kunit *test)
{
	struct tbstream_tb_test *t = test->priv;
	struct tbstream_peer *peer2, *as1, *as2;
	struct tb_service *as[2];
	struct tb_xdomain *xd2;
	int in = 0, out = 0;

	xd2 = tbstream_tb_test_xdomain(test, t->tb, TBSTREAM_TB_TEST_ROUTE2);
	peer2 = tbstream_tb_test_peer(test,
				      tbstream_tb_test_plug_bound(test, xd2));
	KUNIT_ASSERT_EQ(test, tbstream_tb_test_advertise(test, t->peer, "alpha",
							 9, 10), 0);
	KUNIT_ASSERT_EQ(test, tbstream_tb_test_advertise(test, peer2, "beta",
							 11, 12), 0);
	tbstream_tb_test_play_peers(test, as);
	as1 = tbstream_tb_test_peer(test, as[0]);
	as2 = tbstream_tb_test_peer(test, as[1]);

	KUNIT_EXPECT_EQ(test, as1->ops->lookup(as1, "alpha", &in, &out), 0);
	KUNIT_EXPECT_EQ(test, in, 9);
	KUNIT_EXPECT_EQ(test, out, 10);
	KUNIT_EXPECT_EQ(test, as1->ops->lookup(as1, "beta", &in, &out),
			-ENOENT);
	KUNIT_EXPECT_EQ(test, as2->ops->lookup(as2, "alpha", &in, &out),
			-ENOENT);
	KUNIT_EXPECT_EQ(test, as2->ops->lookup(as2, "beta", &in, &out), 0);
	KUNIT_EXPECT_EQ(test, in, 11);
	KUNIT_EXPECT_EQ(test, out, 12);
}

static struct kunit_case tbstream_tb_advert_cases[] = {
	KUNIT_CASE(tbstream_tb_test_advert_cap),
	KUNIT_CASE(tbstream_tb_test_advert_coalesce),
	KUNIT_CASE(tbstream_tb_test_advert_prompt),
	KUNIT_CASE_SLOW(tbstream_tb_test_advert_settle),
	KUNIT_CASE(tbstream_tb_test_advert_other_link),
	KUNIT_CASE(tbstream_tb_test_advert_golden),
	KUNIT_CASE(tbstream_tb_test_advert_empty),
	KUNIT_CASE(tbstream_tb_test_advert_update_withdraw),
	KUNIT_CASE(tbstream_tb_test_advert_other_peer),
	KUNIT_CASE(tbstream_tb_test_advert_publish_error),
	{ }
};

static struct kunit_suite tbstream_tb_advert_suite = {
	.name = "thunderbolt_stream_tb_advert",
	.init = tbstream_tb_test_init,
	.test_cases = tbstream_tb_advert_cases,
};

/* thunderbolt_stream_tb_core */

/* The HopIDs stream @s shows */
static void tbstream_tb_test_expect_hopids(struct kunit *test,
					   struct tbstream *s, int in, int out)
{
	KUNIT_EXPECT_EQ(test, tbstream_get_hopid(s, TBSTREAM_IN), in);
	KUNIT_EXPECT_EQ(test, tbstream_get_hopid(s, TBSTREAM_OUT), out);
}

/* No HopID held, and streams @name and @other (unless %NULL) withdrawn */
static void tbstream_tb_test_expect_released(struct kunit *test,
					     const char *name,
					     const char *other)
{
	struct tbstream_tb_test *t = test->priv;

	KUNIT_EXPECT_TRUE(test, tbstream_tb_test_no_hopids(t->xd));
	tbstream_tb_test_expect_withdrawn(test, name);
	if (other)
		tbstream_tb_test_expect_withdrawn(test, other);
}

/*
 * Make streams "alpha", on HopIDs in 12 and out 8, and "beta", on
 * automatic HopIDs, in a new service group @group_name
 */
static void tbstream_tb_test_alpha_beta(struct kunit *test,
					const char *group_name,
					struct tbstream **a,
					struct tbstream **b)
{
	struct tbstream_service *group = tbstream_test_group(test, group_name);

	*a = tbstream_test_mkdir_in(test, group, "alpha");
	*b = tbstream_test_mkdir_in(test, group, "beta");
	KUNIT_ASSERT_EQ(test, tbstream_set_hopid(*a, TBSTREAM_IN, 12), 0);
	KUNIT_ASSERT_EQ(test, tbstream_set_hopid(*a, TBSTREAM_OUT, 8), 0);
	KUNIT_ASSERT_EQ(test, tbstream_set_hopid(*b, TBSTREAM_IN,
						 TBSTREAM_HOPID_AUTO), 0);
	KUNIT_ASSERT_EQ(test, tbstream_set_hopid(*b, TBSTREAM_OUT,
						 TBSTREAM_HOPID_AUTO), 0);
}

/* The streams of tbstream_tb_test_alpha_beta() hold and advertise theirs */
static void tbstream_tb_test_expect_alpha_beta(struct kunit *test)
{
	struct tbstream_tb_test *t = test->priv;

	KUNIT_EXPECT_TRUE(test, tbstream_tb_test_held(t->xd, TBSTREAM_IN, 12));
	KUNIT_EXPECT_TRUE(test, tbstream_tb_test_held(t->xd, TBSTREAM_OUT, 8));
	tbstream_tb_test_expect_advertised(test, "alpha", 12, 8);
	tbstream_tb_test_expect_advertised(test, "beta", 9, 9);
}

/* Automatic HopIDs come from the XDomain and go back at unplug */
static void tbstream_tb_test_core_auto(struct kunit *test)
{
	struct tbstream_tb_test *t = test->priv;
	struct tb_service *svc;
	struct tbstream *s;

	s = tbstream_tb_test_alpha(test, &svc);
	KUNIT_ASSERT_PTR_EQ(test, s->peer, tb_service_get_drvdata(svc));

	KUNIT_ASSERT_EQ(test, tbstream_set_hopid(s, TBSTREAM_IN,
						 TBSTREAM_HOPID_AUTO), 0);
	/* One HopID is not enough to advertise */
	tbstream_tb_test_expect_withdrawn(test, "alpha");
	KUNIT_ASSERT_EQ(test, tbstream_set_hopid(s, TBSTREAM_OUT,
						 TBSTREAM_HOPID_AUTO), 0);

	tbstream_tb_test_expect_hopids(test, s, 9, 9);
	KUNIT_EXPECT_TRUE(test, tbstream_tb_test_held(t->xd, TBSTREAM_IN, 9));
	KUNIT_EXPECT_TRUE(test, tbstream_tb_test_held(t->xd, TBSTREAM_OUT, 9));
	tbstream_tb_test_expect_advertised(test, "alpha", 9, 9);

	tbstream_tb_test_unplug(test, svc);
	KUNIT_EXPECT_PTR_EQ(test, s->peer, NULL);
	tbstream_tb_test_expect_released(test, "alpha", NULL);
	/* The settings stay for the next time */
	tbstream_tb_test_expect_hopids(test, s, TBSTREAM_HOPID_AUTO,
				       TBSTREAM_HOPID_AUTO);
}

/* A configuration made before the cable applies at probe, every time */
static void tbstream_tb_test_core_configured_first(struct kunit *test)
{
	struct tbstream_tb_test *t = test->priv;
	struct tb_service *svc;
	struct tbstream *a, *b;
	int i;

	tbstream_tb_test_alpha_beta(test, TBSTREAM_TB_TEST_SERVICE, &a, &b);
	KUNIT_EXPECT_TRUE(test, tbstream_tb_test_no_hopids(t->xd));

	for (i = 0; i < 2; i++) {
		svc = tbstream_tb_test_plug_bound(test, t->xd);
		tbstream_tb_test_expect_alpha_beta(test);

		tbstream_tb_test_unplug(test, svc);
		tbstream_tb_test_expect_released(test, "alpha", "beta");
	}
}

/* The backend's errors reach the attribute writes */
static void tbstream_tb_test_core_errors(struct kunit *test)
{
	struct tbstream_tb_test *t = test->priv;
	struct tb_service *svc;
	struct tbstream *s;

	s = tbstream_tb_test_alpha(test, &svc);

	/* thunderbolt-net, say, holds in HopID 9 */
	KUNIT_ASSERT_EQ(test, tb_xdomain_alloc_in_hopid(t->xd, 9), 9);
	KUNIT_EXPECT_EQ(test, tbstream_set_hopid(s, TBSTREAM_IN, 9), -EBUSY);
	/* Within 8..2047 but above what the XDomain allows */
	KUNIT_EXPECT_EQ(test, tbstream_set_hopid(s, TBSTREAM_IN, 16), -EINVAL);
	KUNIT_EXPECT_EQ(test, tbstream_set_hopid(s, TBSTREAM_OUT, 13), -EINVAL);
	KUNIT_EXPECT_EQ(test, tbstream_set_hopid(s, TBSTREAM_IN,
						 TBSTREAM_HOPID_AUTO), 0);
	KUNIT_EXPECT_EQ(test, tbstream_get_hopid(s, TBSTREAM_IN), 10);
	tb_xdomain_release_in_hopid(t->xd, 9);

	tbstream_tb_test_unplug(test, svc);
	KUNIT_EXPECT_TRUE(test, tbstream_tb_test_no_hopids(t->xd));
}

/* A stream without settings takes the peer's HopIDs, reversed */
static void tbstream_tb_test_core_inherit(struct kunit *test)
{
	struct tbstream_tb_test *t = test->priv;
	struct tb_service *svc;
	struct tbstream *s;

	tbstream_tb_test_set_remote(test, t->xd, tbstream_tb_test_remote, 2);
	s = tbstream_tb_test_alpha(test, &svc);

	/* The peer receives on 10 and transmits on 11 */
	tbstream_tb_test_expect_hopids(test, s, 11, 10);
	KUNIT_EXPECT_TRUE(test, tbstream_tb_test_held(t->xd, TBSTREAM_IN, 11));
	KUNIT_EXPECT_TRUE(test, tbstream_tb_test_held(t->xd, TBSTREAM_OUT, 10));
	tbstream_tb_test_expect_advertised(test, "alpha", 11, 10);

	tbstream_tb_test_unplug(test, svc);
	tbstream_tb_test_expect_released(test, "alpha", NULL);
	tbstream_tb_test_expect_hopids(test, s, 0, 0);
}

/* Configured and advertised by the peer before the cable: inherit at probe */
static void tbstream_tb_test_core_inherit_at_probe(struct kunit *test)
{
	struct tbstream_tb_test *t = test->priv;
	struct tbstream_service *group;
	struct tb_service *svc;
	struct tbstream *a, *b;

	group = tbstream_test_group(test, TBSTREAM_TB_TEST_SERVICE);
	a = tbstream_test_mkdir_in(test, group, "alpha");
	b = tbstream_test_mkdir_in(test, group, "beta");
	/* beta has settings of its own: they win over the peer's */
	KUNIT_ASSERT_EQ(test, tbstream_set_hopid(b, TBSTREAM_IN, 12), 0);
	KUNIT_ASSERT_EQ(test, tbstream_set_hopid(b, TBSTREAM_OUT, 11), 0);
	tbstream_tb_test_set_remote(test, t->xd, tbstream_tb_test_remote, 2);

	svc = tbstream_tb_test_plug_bound(test, t->xd);
	tbstream_tb_test_expect_hopids(test, a, 11, 10);
	tbstream_tb_test_expect_advertised(test, "alpha", 11, 10);
	tbstream_tb_test_expect_hopids(test, b, 12, 11);
	tbstream_tb_test_expect_advertised(test, "beta", 12, 11);

	tbstream_tb_test_unplug(test, svc);
	tbstream_tb_test_expect_released(test, "alpha", "beta");
}

/**
 * struct tbstream_tb_test_rivals - Two peers with a stream "alpha" each
 * @xd_b: Second XDomain (the first is the fixture's)
 * @svc_a: Service of the first peer
 * @svc_b: Service of the second peer
 * @a: The first peer's "alpha", HopIDs 10/10, configured first
 * @b: The second peer's "alpha", HopIDs 11/12
 */
struct tbstream_tb_test_rivals {
	struct tb_xdomain *xd_b;
	struct tb_service *svc_a, *svc_b;
	struct tbstream *a, *b;
};

static void tbstream_tb_test_rivals(struct kunit *test,
				    struct tbstream_tb_test_rivals *r)
{
	struct tbstream_tb_test *t = test->priv;
	struct tbstream_service *group;

	r->xd_b = tbstream_tb_test_xdomain(test, t->tb,
					   TBSTREAM_TB_TEST_ROUTE2);
	r->svc_a = tbstream_tb_test_plug_bound(test, t->xd);
	r->svc_b = tbstream_tb_test_plug_bound(test, r->xd_b);
	group = tbstream_test_group(test, dev_name(&r->svc_a->dev));
	r->a = tbstream_test_mkdir_in(test, group, "alpha");
	group = tbstream_test_group(test, dev_name(&r->svc_b->dev));
	r->b = tbstream_test_mkdir_in(test, group, "alpha");
	KUNIT_ASSERT_EQ(test, tbstream_set_hopid(r->a, TBSTREAM_IN, 10), 0);
	KUNIT_ASSERT_EQ(test, tbstream_set_hopid(r->a, TBSTREAM_OUT, 10), 0);
	/* The HopIDs are B's own; its advertisement waits for the name */
	KUNIT_ASSERT_EQ(test, tbstream_set_hopid(r->b, TBSTREAM_IN, 11), 0);
	KUNIT_ASSERT_EQ(test, tbstream_set_hopid(r->b, TBSTREAM_OUT, 12), 0);
	tbstream_tb_test_expect_advertised(test, "alpha", 10, 10);
}

/*
 * Two peers with a stream of the same name: the directory is global in
 * the 6.12 core, so only the first one is advertised.
 */
static void tbstream_tb_test_core_same_name(struct kunit *test)
{
	struct tbstream_tb_test *t = test->priv;
	struct tbstream_tb_test_rivals r;

	tbstream_tb_test_rivals(test, &r);
	KUNIT_EXPECT_TRUE(test, tbstream_tb_test_held(r.xd_b, TBSTREAM_IN, 11));
	KUNIT_EXPECT_TRUE(test, tbstream_tb_test_held(r.xd_b, TBSTREAM_OUT,
						      12));
	KUNIT_EXPECT_FALSE(test, tbstream_tb_test_held(t->xd, TBSTREAM_IN, 11));

	/* B going away leaves A's advertisement alone */
	tbstream_tb_test_unplug(test, r.svc_b);
	KUNIT_EXPECT_TRUE(test, tbstream_tb_test_no_hopids(r.xd_b));
	tbstream_tb_test_expect_advertised(test, "alpha", 10, 10);
	tbstream_tb_test_unplug(test, r.svc_a);
	tbstream_tb_test_expect_withdrawn(test, "alpha");
}

/* A HopID no peer can have advertised is no advertisement to inherit */
static void tbstream_tb_test_core_inherit_garbage(struct kunit *test)
{
	static const struct tbstream_tb_test_stream garbage[] = {
		{ "alpha", 10, 0xffffffff },
	};
	struct tbstream_tb_test *t = test->priv;
	struct tb_service *svc;
	struct tbstream *s;

	tbstream_tb_test_set_remote(test, t->xd, garbage, 1);
	s = tbstream_tb_test_alpha(test, &svc);

	/* The peer transmits on 0xffffffff: we cannot receive that */
	tbstream_tb_test_expect_hopids(test, s, 0, 0);
	tbstream_tb_test_expect_released(test, "alpha", NULL);
}

/*
 * Our stream "alpha" for the first peer, as the second peer running this
 * driver sees it: its "alpha" without settings does not inherit the
 * HopIDs, which are the first peer's; there one does.
 */
static void tbstream_tb_test_core_inherit_other_link(struct kunit *test)
{
	struct tb_service *svc, *as[2];
	struct tbstream *s, *s1, *s2;

	s = tbstream_tb_test_alpha(test, &svc);
	KUNIT_ASSERT_EQ(test, tbstream_set_hopid(s, TBSTREAM_IN, 12), 0);
	KUNIT_ASSERT_EQ(test, tbstream_set_hopid(s, TBSTREAM_OUT, 8), 0);
	tbstream_tb_test_play_peers(test, as);
	s1 = tbstream_test_mkdir_in(test,
				    tbstream_test_group(test,
							dev_name(&as[0]->dev)),
				    "alpha");
	s2 = tbstream_test_mkdir_in(test,
				    tbstream_test_group(test,
							dev_name(&as[1]->dev)),
				    "alpha");

	tbstream_tb_test_expect_hopids(test, s1, 8, 12);
	tbstream_tb_test_expect_hopids(test, s2, 0, 0);
	KUNIT_EXPECT_TRUE(test,
			  tbstream_tb_test_no_hopids(tb_service_parent(as[1])));
}

/* When the owner of a stream name goes, the other peer's stream gets it */
static void tbstream_tb_test_core_same_name_handover(struct kunit *test)
{
	struct tbstream_tb_test *t = test->priv;
	struct tbstream_tb_test_rivals r;

	tbstream_tb_test_rivals(test, &r);

	/* A waiting stream that changes its HopIDs still waits */
	KUNIT_ASSERT_EQ(test, tbstream_set_hopid(r.b, TBSTREAM_IN, 13), 0);
	tbstream_tb_test_expect_advertised(test, "alpha", 10, 10);

	tbstream_tb_test_unplug(test, r.svc_a);
	tbstream_tb_test_expect_advertised(test, "alpha", 13, 12);

	/* A, back, now waits for B */
	tbstream_tb_test_plug_bound(test, t->xd);
	KUNIT_EXPECT_TRUE(test, tbstream_tb_test_held(t->xd, TBSTREAM_IN, 10));
	tbstream_tb_test_expect_advertised(test, "alpha", 13, 12);
	tbstream_tb_test_unplug(test, r.svc_b);
	tbstream_tb_test_expect_advertised(test, "alpha", 10, 10);
}

/* Run the driver's system sleep callback, with the lock the PM core holds */
static int tbstream_tb_test_pm(struct kunit *test, struct tb_service *svc,
			       bool resume)
{
	const struct dev_pm_ops *pm = svc->dev.driver->pm;
	int ret;

	if (!pm)
		kunit_skip(test, "needs CONFIG_PM_SLEEP");
	device_lock(&svc->dev);
	ret = resume ? pm->resume(&svc->dev) : pm->suspend(&svc->dev);
	device_unlock(&svc->dev);
	return ret;
}

/* A system sleep detaches the peer's streams; resume attaches them again */
static void tbstream_tb_test_core_suspend_resume(struct kunit *test)
{
	struct tbstream_tb_test *t = test->priv;
	struct tb_service *svc;
	struct tbstream *a, *b;
	int i;

	svc = tbstream_tb_test_plug_bound(test, t->xd);
	tbstream_tb_test_alpha_beta(test, dev_name(&svc->dev), &a, &b);

	for (i = 0; i < 2; i++) {
		KUNIT_ASSERT_EQ(test, tbstream_tb_test_pm(test, svc, false), 0);
		tbstream_tb_test_expect_released(test, "alpha", "beta");
		/* The configuration stays */
		KUNIT_EXPECT_EQ(test, tbstream_get_hopid(a, TBSTREAM_IN), 12);
		KUNIT_EXPECT_EQ(test, tbstream_get_hopid(b, TBSTREAM_OUT),
				TBSTREAM_HOPID_AUTO);

		KUNIT_ASSERT_EQ(test, tbstream_tb_test_pm(test, svc, true), 0);
		tbstream_tb_test_expect_alpha_beta(test);
	}

	/* The peer is gone when the host wakes up: remove while suspended */
	KUNIT_ASSERT_EQ(test, tbstream_tb_test_pm(test, svc, false), 0);
	tbstream_tb_test_unplug(test, svc);
	tbstream_tb_test_expect_released(test, "alpha", NULL);

	/* and comes back */
	svc = tbstream_tb_test_plug_bound(test, t->xd);
	tbstream_tb_test_expect_advertised(test, "alpha", 12, 8);
}

/*
 * A resume that cannot attach the streams (here: the advertisement cannot
 * be built, in the resume call only) leaves them detached, and the watch
 * attaches them a moment later.
 */
static void tbstream_tb_test_core_resume_error(struct kunit *test)
{
	struct tbstream_tb_test *t = test->priv;
	struct tb_service *svc;
	struct tbstream *a, *b;
	bool held;

	svc = tbstream_tb_test_plug_bound(test, t->xd);
	tbstream_tb_test_alpha_beta(test, dev_name(&svc->dev), &a, &b);
	KUNIT_ASSERT_EQ(test, tbstream_tb_test_pm(test, svc, false), 0);

	kunit_activate_static_stub(test, tbstream_tb_build_dir,
				   tbstream_tb_test_no_dir);
	KUNIT_EXPECT_EQ(test, tbstream_tb_test_pm(test, svc, true), 0);
	kunit_deactivate_static_stub(test, tbstream_tb_build_dir);
	tbstream_tb_test_expect_released(test, "alpha", "beta");

	read_poll_timeout(tbstream_tb_test_held, held, held,
			  TBSTREAM_TB_TEST_POLL_US,
			  TBSTREAM_TB_TEST_WATCH_MS * USEC_PER_MSEC, false, t->xd,
			  TBSTREAM_IN, 12);
	tbstream_tb_test_expect_alpha_beta(test);
}

/*
 * Wait for the backend's watch to apply a change of the peer's properties:
 * the watch is private to stream_tb.c, there is no work to flush
 */
static int tbstream_tb_test_wait_hopid(struct tbstream *s,
				       enum tbstream_direction dir, int want)
{
	int hopid;

	read_poll_timeout(tbstream_get_hopid, hopid, hopid == want,
			  TBSTREAM_TB_TEST_POLL_US,
			  TBSTREAM_TB_TEST_WATCH_MS * USEC_PER_MSEC, false, s,
			  dir);
	return hopid;
}

/* The watch follows the peer's advertisement as it comes and goes */
static void tbstream_tb_test_core_watch(struct kunit *test)
{
	static const struct tbstream_tb_test_stream others[] = {
		{ "beta", 14, 8 },
	};
	struct tbstream_tb_test *t = test->priv;
	struct tb_service *svc;
	struct tbstream *s;

	s = tbstream_tb_test_alpha(test, &svc);
	KUNIT_EXPECT_EQ(test, tbstream_get_hopid(s, TBSTREAM_IN), 0);

	tbstream_tb_test_set_remote(test, t->xd, tbstream_tb_test_remote, 2);
	KUNIT_ASSERT_EQ(test, tbstream_tb_test_wait_hopid(s, TBSTREAM_IN, 11),
			11);
	KUNIT_EXPECT_EQ(test, tbstream_get_hopid(s, TBSTREAM_OUT), 10);
	tbstream_tb_test_expect_advertised(test, "alpha", 11, 10);

	/* The peer's stream is gone: so are the inherited HopIDs */
	tbstream_tb_test_set_remote(test, t->xd, others, ARRAY_SIZE(others));
	KUNIT_ASSERT_EQ(test, tbstream_tb_test_wait_hopid(s, TBSTREAM_IN, 0),
			0);
	KUNIT_EXPECT_EQ(test, tbstream_get_hopid(s, TBSTREAM_OUT), 0);
	tbstream_tb_test_expect_released(test, "alpha", NULL);
}

static struct kunit_case tbstream_tb_core_cases[] = {
	KUNIT_CASE(tbstream_tb_test_core_auto),
	KUNIT_CASE(tbstream_tb_test_core_configured_first),
	KUNIT_CASE(tbstream_tb_test_core_errors),
	KUNIT_CASE(tbstream_tb_test_core_inherit),
	KUNIT_CASE(tbstream_tb_test_core_inherit_at_probe),
	KUNIT_CASE(tbstream_tb_test_core_same_name),
	KUNIT_CASE(tbstream_tb_test_core_inherit_other_link),
	KUNIT_CASE(tbstream_tb_test_core_inherit_garbage),
	KUNIT_CASE(tbstream_tb_test_core_same_name_handover),
	KUNIT_CASE(tbstream_tb_test_core_suspend_resume),
	KUNIT_CASE(tbstream_tb_test_core_resume_error),
	KUNIT_CASE_SLOW(tbstream_tb_test_core_watch),
	{ }
};

static struct kunit_suite tbstream_tb_core_suite = {
	.name = "thunderbolt_stream_tb_core",
	.init = tbstream_tb_test_init_unplugged,
	.test_cases = tbstream_tb_core_cases,
};

kunit_test_suites(&tbstream_tb_probe_suite, &tbstream_tb_hopid_suite,
		  &tbstream_tb_paths_suite, &tbstream_tb_lookup_suite,
		  &tbstream_tb_advert_suite, &tbstream_tb_core_suite);
