/* SPDX-License-Identifier: GPL-2.0 */
/*
 * USB4STREAM: raw byte streams between hosts over USB4/Thunderbolt
 *
 * Private header shared by the files of the thunderbolt_stream module.
 */

#ifndef DRIVERS_THUNDERBOLT_STREAM_H
#define DRIVERS_THUNDERBOLT_STREAM_H

#include <linux/types.h>

/* XDomain service key and protocol of USB4STREAM */
#define TBSTREAM_SERVICE_KEY		"stream"
#define TBSTREAM_PROTOCOL_ID		1
#define TBSTREAM_PROTOCOL_VERSION	1
#define TBSTREAM_PROTOCOL_REVISION	0

struct tb_property_dir;

struct tb_property_dir *tbstream_create_dir(void);

int tbstream_configfs_init(void);
void tbstream_configfs_exit(void);

#endif /* DRIVERS_THUNDERBOLT_STREAM_H */
