// SPDX-License-Identifier: GPL-2.0
/*
 * USB4STREAM ConfigFS interface
 *
 * /sys/kernel/config/thunderbolt/stream/<xdomain>.<service>/<name>/
 *
 * This file parses and validates what users write and hands the values to
 * the stream core; it never touches rings or HopIDs itself.
 *
 * Copyright (C) 2026, The thunderbolt_stream developers
 */

#include <linux/configfs.h>
#include <linux/kstrtox.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/thunderbolt.h>

#include "stream.h"

static struct tbstream *to_tbstream(struct config_item *item)
{
	return container_of(item, struct tbstream, item);
}

static struct tbstream_service *to_tbstream_service(struct config_item *item)
{
	return container_of(to_config_group(item), struct tbstream_service,
			    group);
}

/* Stream attributes */

static ssize_t tbstream_index_show(struct config_item *item, char *page)
{
	return sysfs_emit(page, "%d\n", to_tbstream(item)->index);
}

static ssize_t tbstream_hopid_show(struct config_item *item, char *page,
				   enum tbstream_direction dir)
{
	return sysfs_emit(page, "%d\n", tbstream_get_hopid(to_tbstream(item),
							   dir));
}

static ssize_t tbstream_hopid_store(struct config_item *item,
				    const char *page, size_t len,
				    enum tbstream_direction dir)
{
	int value;
	int ret;

	/* Anything that is not a number in range is EINVAL, as documented */
	if (kstrtoint(page, 0, &value))
		return -EINVAL;
	ret = tbstream_set_hopid(to_tbstream(item), dir, value);
	return ret ?: len;
}

static ssize_t tbstream_in_hopid_show(struct config_item *item, char *page)
{
	return tbstream_hopid_show(item, page, TBSTREAM_IN);
}

static ssize_t tbstream_in_hopid_store(struct config_item *item,
				       const char *page, size_t len)
{
	return tbstream_hopid_store(item, page, len, TBSTREAM_IN);
}

static ssize_t tbstream_out_hopid_show(struct config_item *item, char *page)
{
	return tbstream_hopid_show(item, page, TBSTREAM_OUT);
}

static ssize_t tbstream_out_hopid_store(struct config_item *item,
					const char *page, size_t len)
{
	return tbstream_hopid_store(item, page, len, TBSTREAM_OUT);
}

/* Store an unsigned setting through its tbstream_set_*() function */
static ssize_t tbstream_uint_store(struct config_item *item, const char *page,
				   size_t len,
				   int (*set)(struct tbstream *s,
					      unsigned int value))
{
	unsigned int value;
	int ret;

	if (kstrtouint(page, 0, &value))
		return -EINVAL;
	ret = set(to_tbstream(item), value);
	return ret ?: len;
}

static ssize_t tbstream_ring_size_show(struct config_item *item, char *page)
{
	return sysfs_emit(page, "%u\n", READ_ONCE(to_tbstream(item)->ring_size));
}

static ssize_t tbstream_ring_size_store(struct config_item *item,
					const char *page, size_t len)
{
	return tbstream_uint_store(item, page, len, tbstream_set_ring_size);
}

static ssize_t tbstream_throttling_show(struct config_item *item, char *page)
{
	return sysfs_emit(page, "%u\n",
			  READ_ONCE(to_tbstream(item)->throttling));
}

static ssize_t tbstream_throttling_store(struct config_item *item,
					 const char *page, size_t len)
{
	return tbstream_uint_store(item, page, len, tbstream_set_throttling);
}

static ssize_t tbstream_busy_poll_show(struct config_item *item, char *page)
{
	return sysfs_emit(page, "%d\n", READ_ONCE(to_tbstream(item)->busy_poll));
}

static ssize_t tbstream_busy_poll_store(struct config_item *item,
					const char *page, size_t len)
{
	bool value;
	int ret;

	if (kstrtobool(page, &value))
		return -EINVAL;
	ret = tbstream_set_busy_poll(to_tbstream(item), value);
	return ret ?: len;
}

CONFIGFS_ATTR_RO(tbstream_, index);
CONFIGFS_ATTR(tbstream_, in_hopid);
CONFIGFS_ATTR(tbstream_, out_hopid);
CONFIGFS_ATTR(tbstream_, ring_size);
CONFIGFS_ATTR(tbstream_, throttling);
CONFIGFS_ATTR(tbstream_, busy_poll);

static struct configfs_attribute *tbstream_attrs[] = {
	&tbstream_attr_index,
	&tbstream_attr_in_hopid,
	&tbstream_attr_out_hopid,
	&tbstream_attr_ring_size,
	&tbstream_attr_throttling,
	&tbstream_attr_busy_poll,
	NULL
};

static void tbstream_item_release(struct config_item *item)
{
	tbstream_free(to_tbstream(item));
}

static struct configfs_item_operations tbstream_item_ops = {
	.release = tbstream_item_release,
};

const struct config_item_type tbstream_stream_type = {
	.ct_item_ops = &tbstream_item_ops,
	.ct_attrs = tbstream_attrs,
	.ct_owner = THIS_MODULE,
};

/* Service groups: <xdomain>.<service>, holding streams */

static struct config_item *tbstream_service_make_item(struct config_group *group,
						      const char *name)
{
	struct tbstream *s;

	if (strlen(name) > TBSTREAM_NAME_MAX)
		return ERR_PTR(-ENAMETOOLONG);

	s = tbstream_create(to_tbstream_service(&group->cg_item), name,
			    &tbstream_stream_type);
	if (IS_ERR(s))
		return ERR_CAST(s);
	return &s->item;
}

static void tbstream_service_drop_item(struct config_group *group,
				       struct config_item *item)
{
	tbstream_delete(to_tbstream(item));
	config_item_put(item);
}

static void tbstream_service_release(struct config_item *item)
{
	struct tbstream_service *svc = to_tbstream_service(item);

	tbstream_service_del(svc);
	kfree(svc);
}

static struct configfs_item_operations tbstream_service_item_ops = {
	.release = tbstream_service_release,
};

static struct configfs_group_operations tbstream_service_group_ops = {
	.make_item = tbstream_service_make_item,
	.drop_item = tbstream_service_drop_item,
};

const struct config_item_type tbstream_service_type = {
	.ct_item_ops = &tbstream_service_item_ops,
	.ct_group_ops = &tbstream_service_group_ops,
	.ct_owner = THIS_MODULE,
};

/*
 * A service group is named after the peer's service device:
 * "<domain>-<route>.<index>", the route in hexadecimal. Only the exact
 * form the thunderbolt core gives its devices is accepted: no spaces,
 * signs, prefixes, upper case, leading zeros or numbers that overflow.
 */
static bool tbstream_service_name_valid(const char *name)
{
	unsigned int domain, index;
	unsigned long long route;
	char canon[48];

	if (sscanf(name, "%u-%llx.%u", &domain, &route, &index) != 3)
		return false;
	snprintf(canon, sizeof(canon), "%u-%llx.%u", domain, route, index);
	return !strcmp(canon, name);
}

static struct config_group *tbstream_root_make_group(struct config_group *group,
						     const char *name)
{
	struct tbstream_service *svc;

	if (!tbstream_service_name_valid(name))
		return ERR_PTR(-EINVAL);

	svc = kzalloc(sizeof(*svc), GFP_KERNEL);
	if (!svc)
		return ERR_PTR(-ENOMEM);
	config_group_init_type_name(&svc->group, name, &tbstream_service_type);
	/* A name too long for ci_namebuf is copied, and that can fail */
	if (!config_item_name(&svc->group.cg_item)) {
		kfree(svc);
		return ERR_PTR(-ENOMEM);
	}
	tbstream_service_add(svc);
	return &svc->group;
}

static struct configfs_group_operations tbstream_root_group_ops = {
	.make_group = tbstream_root_make_group,
};

static const struct config_item_type tbstream_root_type = {
	.ct_group_ops = &tbstream_root_group_ops,
	.ct_owner = THIS_MODULE,
};

static struct config_group tbstream_root;

#if IS_ENABLED(CONFIG_USB4_CONFIGFS)
/*
 * Linux 7.2+ built with USB4_CONFIGFS: the thunderbolt core owns the
 * "thunderbolt" subsystem and service drivers add their groups to it, so
 * users see the same paths. Built against Linux 7.2 and 7.3 (see
 * harness/oot.sh), not run there yet.
 */

/**
 * tbstream_configfs_init() - Add "stream" to the core's ConfigFS subsystem
 *
 * Context: Module init.
 * Return: %0 on success, negative errno otherwise.
 */
int tbstream_configfs_init(void)
{
	config_group_init_type_name(&tbstream_root, "stream",
				    &tbstream_root_type);
	return tb_configfs_register_group(&tbstream_root);
}

/**
 * tbstream_configfs_exit() - Remove "stream" from the core's subsystem
 *
 * Context: Module exit; ConfigFS holds a module reference for every
 * directory users made, so none is left.
 */
void tbstream_configfs_exit(void)
{
	tb_configfs_unregister_group(&tbstream_root);
}
#else
/* Older cores: register /sys/kernel/config/thunderbolt ourselves */

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
 * Context: Module exit; ConfigFS holds a module reference for every
 * directory users made, so none is left.
 */
void tbstream_configfs_exit(void)
{
	configfs_unregister_subsystem(&tbstream_subsys);
}
#endif
