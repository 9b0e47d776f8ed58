// SPDX-License-Identifier: GPL-2.0
/*
 * USB4STREAM: raw byte streams between hosts over USB4/Thunderbolt
 *
 * Copyright (C) 2026, The thunderbolt_stream developers
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/thunderbolt.h>
#include <linux/uuid.h>

#include "stream.h"

/* 3a1cb984-c4d9-4469-a277-ce2fdfd11f0d */
static const uuid_t tbstream_dir_uuid =
	UUID_INIT(0x3a1cb984, 0xc4d9, 0x4469,
		  0xa2, 0x77, 0xce, 0x2f, 0xdf, 0xd1, 0x1f, 0x0d);

static struct tb_property_dir *tbstream_dir;

static int tbstream_probe(struct tb_service *svc,
			  const struct tb_service_id *id)
{
	return 0;
}

static void tbstream_remove(struct tb_service *svc)
{
}

static const struct tb_service_id tbstream_ids[] = {
	{ TB_SERVICE(TBSTREAM_SERVICE_KEY, TBSTREAM_PROTOCOL_ID) },
	{ },
};
MODULE_DEVICE_TABLE(tbsvc, tbstream_ids);

static struct tb_service_driver tbstream_driver = {
	.driver = {
		.owner = THIS_MODULE,
		.name = "thunderbolt_stream",
	},
	.probe = tbstream_probe,
	.remove = tbstream_remove,
	.id_table = tbstream_ids,
};

/**
 * tbstream_create_dir() - Build the "stream" XDomain property directory
 *
 * The directory identifies the service to peers: its UUID and the protocol
 * immediates are what the stock driver and ours match on.
 *
 * Context: Process context.
 * Return: The new directory, or %NULL if out of memory.
 */
struct tb_property_dir *tbstream_create_dir(void)
{
	struct tb_property_dir *dir;

	dir = tb_property_create_dir(&tbstream_dir_uuid);
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

static int __init tbstream_init(void)
{
	int ret;

	tbstream_dir = tbstream_create_dir();
	if (!tbstream_dir)
		return -ENOMEM;

	ret = tb_register_property_dir(TBSTREAM_SERVICE_KEY, tbstream_dir);
	if (ret)
		goto err_free_dir;

	ret = tbstream_configfs_init();
	if (ret)
		goto err_unregister_dir;

	ret = tb_register_service_driver(&tbstream_driver);
	if (ret)
		goto err_configfs_exit;

	return 0;

err_configfs_exit:
	tbstream_configfs_exit();
err_unregister_dir:
	tb_unregister_property_dir(TBSTREAM_SERVICE_KEY, tbstream_dir);
err_free_dir:
	tb_property_free_dir(tbstream_dir);
	return ret;
}
module_init(tbstream_init);

static void __exit tbstream_exit(void)
{
	tb_unregister_service_driver(&tbstream_driver);
	tbstream_configfs_exit();
	tb_unregister_property_dir(TBSTREAM_SERVICE_KEY, tbstream_dir);
	tb_property_free_dir(tbstream_dir);
}
module_exit(tbstream_exit);

MODULE_DESCRIPTION("USB4STREAM: raw byte streams over USB4/Thunderbolt");
MODULE_LICENSE("GPL");
