// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests for the USB4STREAM driver
 *
 * Copyright (C) 2026, The thunderbolt_stream developers
 */

#include <kunit/test.h>
#include <linux/thunderbolt.h>

#include "stream.h"

KUNIT_DEFINE_ACTION_WRAPPER(tbstream_test_free_dir, tb_property_free_dir,
			    struct tb_property_dir *);

static void tbstream_test_expect_immediate(struct kunit *test,
					   struct tb_property_dir *dir,
					   const char *key, u32 value)
{
	struct tb_property *p;

	p = tb_property_find(dir, key, TB_PROPERTY_TYPE_VALUE);
	KUNIT_ASSERT_NOT_NULL_MSG(test, p, "missing key %s", key);
	KUNIT_EXPECT_EQ_MSG(test, p->value.immediate, value, "key %s", key);
}

static void tbstream_test_service_dir(struct kunit *test)
{
	static const uuid_t uuid =
		UUID_INIT(0x3a1cb984, 0xc4d9, 0x4469,
			  0xa2, 0x77, 0xce, 0x2f, 0xdf, 0xd1, 0x1f, 0x0d);
	struct tb_property_dir *dir;

	dir = tbstream_create_dir();
	KUNIT_ASSERT_NOT_NULL(test, dir);
	KUNIT_ASSERT_EQ(test, 0, kunit_add_action_or_reset(test,
				tbstream_test_free_dir, dir));

	KUNIT_ASSERT_NOT_NULL(test, dir->uuid);
	KUNIT_EXPECT_TRUE(test, uuid_equal(dir->uuid, &uuid));
	tbstream_test_expect_immediate(test, dir, "prtcid", 1);
	tbstream_test_expect_immediate(test, dir, "prtcvers", 1);
	tbstream_test_expect_immediate(test, dir, "prtcrevs", 0);
	tbstream_test_expect_immediate(test, dir, "prtcstns", 0);
}

static struct kunit_case tbstream_property_cases[] = {
	KUNIT_CASE(tbstream_test_service_dir),
	{ }
};

static struct kunit_suite tbstream_property_suite = {
	.name = "thunderbolt_stream_property",
	.test_cases = tbstream_property_cases,
};

kunit_test_suites(&tbstream_property_suite);
