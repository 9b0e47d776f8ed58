/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the KUnit tests of the USB4STREAM driver, those of
 * the stream core (test_stream.c, where they are defined) and those of
 * the Thunderbolt backend (test_stream_tb.c)
 *
 * Copyright (C) 2026, The thunderbolt_stream developers
 */

#ifndef _TBSTREAM_TEST_STREAM_H
#define _TBSTREAM_TEST_STREAM_H

#include <kunit/resource.h>
#include <kunit/test.h>
#include <linux/types.h>
#include <linux/uuid.h>

#include "stream.h"

struct tb_property_dir;

/* Run @action(@ctx) at the end of the test, or now if that fails */
static inline void tbstream_test_defer(struct kunit *test,
				       kunit_action_t *action, void *ctx)
{
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, action, ctx), 0);
}

/* KUnit actions, for tbstream_test_defer() and kunit_release_action() */
void tbstream_test_free_dir(void *dir);
void tbstream_test_group_put(void *group);
void tbstream_test_rmdir(void *stream);

/* ConfigFS: the service group and its streams */
struct tbstream_service *tbstream_test_group(struct kunit *test,
					     const char *name);
struct tbstream *tbstream_test_mkdir_in(struct kunit *test,
					struct tbstream_service *svc,
					const char *name);

/* XDomain properties */
void tbstream_test_expect_immediate(struct kunit *test,
				    struct tb_property_dir *dir,
				    const char *key, u32 value);
void tbstream_test_expect_service_dir(struct kunit *test,
				      struct tb_property_dir *dir,
				      const uuid_t *uuid);

#endif /* _TBSTREAM_TEST_STREAM_H */
