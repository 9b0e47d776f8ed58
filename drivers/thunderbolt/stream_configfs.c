// SPDX-License-Identifier: GPL-2.0
/*
 * USB4STREAM ConfigFS interface
 *
 * Copyright (C) 2026, The thunderbolt_stream developers
 */

#include <linux/configfs.h>
#include <linux/module.h>

#include "stream.h"

static const struct config_item_type tbstream_root_type = {
	.ct_owner = THIS_MODULE,
};

static struct config_group tbstream_root;

static const struct config_item_type tbstream_subsys_type = {
	.ct_owner = THIS_MODULE,
};

static struct configfs_subsystem tbstream_subsys = {
	.su_group = {
		.cg_item = {
			.ci_namebuf = "thunderbolt",
			.ci_type = &tbstream_subsys_type,
		},
	},
};

/**
 * tbstream_configfs_init() - Register /sys/kernel/config/thunderbolt/stream
 *
 * Context: Module init.
 * Return: %0 on success, negative errno otherwise.
 */
int tbstream_configfs_init(void)
{
	config_group_init(&tbstream_subsys.su_group);
	mutex_init(&tbstream_subsys.su_mutex);

	config_group_init_type_name(&tbstream_root, "stream",
				    &tbstream_root_type);
	configfs_add_default_group(&tbstream_root, &tbstream_subsys.su_group);

	return configfs_register_subsystem(&tbstream_subsys);
}

/**
 * tbstream_configfs_exit() - Unregister the ConfigFS subsystem
 *
 * Context: Module exit, after every stream has been removed.
 */
void tbstream_configfs_exit(void)
{
	configfs_unregister_subsystem(&tbstream_subsys);
}
