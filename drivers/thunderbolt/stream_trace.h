/* SPDX-License-Identifier: GPL-2.0 */
/*
 * USB4STREAM tracepoints
 *
 * Enable them with
 *   echo 1 > /sys/kernel/tracing/events/thunderbolt_stream/enable
 *
 * Copyright (C) 2026, The thunderbolt_stream developers
 */

#undef TRACE_SYSTEM
#define TRACE_SYSTEM thunderbolt_stream

#if !defined(TBSTREAM_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define TBSTREAM_TRACE_H

#include <linux/string.h>
#include <linux/tracepoint.h>

#include "stream.h"

#ifndef TBSTREAM_TRACE_OPS
#define TBSTREAM_TRACE_OPS
/* System calls, as tbstream_error names them */
enum tbstream_trace_op {
	TBSTREAM_TRACE_OPEN,
	TBSTREAM_TRACE_READ,
	TBSTREAM_TRACE_WRITE,
	TBSTREAM_TRACE_CLOSE,
};
#endif

TRACE_DEFINE_ENUM(TBSTREAM_RINGS_IDLE);
TRACE_DEFINE_ENUM(TBSTREAM_RINGS_STARTING);
TRACE_DEFINE_ENUM(TBSTREAM_RINGS_RUNNING);
TRACE_DEFINE_ENUM(TBSTREAM_RINGS_CLOSING);
TRACE_DEFINE_ENUM(TBSTREAM_RINGS_STOPPING);
TRACE_DEFINE_ENUM(TBSTREAM_IN);
TRACE_DEFINE_ENUM(TBSTREAM_OUT);
TRACE_DEFINE_ENUM(TBSTREAM_TRACE_OPEN);
TRACE_DEFINE_ENUM(TBSTREAM_TRACE_READ);
TRACE_DEFINE_ENUM(TBSTREAM_TRACE_WRITE);
TRACE_DEFINE_ENUM(TBSTREAM_TRACE_CLOSE);

#define tbstream_show_rings(rings)				\
	__print_symbolic(rings,					\
		{ TBSTREAM_RINGS_IDLE, "idle" },		\
		{ TBSTREAM_RINGS_STARTING, "starting" },	\
		{ TBSTREAM_RINGS_RUNNING, "running" },		\
		{ TBSTREAM_RINGS_CLOSING, "closing" },		\
		{ TBSTREAM_RINGS_STOPPING, "stopping" })

#define tbstream_show_dir(dir)					\
	__print_symbolic(dir,					\
		{ TBSTREAM_IN, "rx" },				\
		{ TBSTREAM_OUT, "tx" })

/*
 * Fixed-size names rather than __string(): __assign_str() changed its
 * arguments in Linux 6.10, and the module builds against 6.1 as well.
 */
DECLARE_EVENT_CLASS(tbstream_link,
		    TP_PROTO(const struct tbstream *s,
			     const struct tbstream_peer *peer),
		    TP_ARGS(s, peer),
		    TP_STRUCT__entry(__field(int, index)
				     __array(char, name, TBSTREAM_NAME_MAX + 1)
				     __array(char, service,
					     sizeof_field(struct tbstream_peer, name))
				     __field(int, in_hopid)
				     __field(int, out_hopid)),
		    TP_fast_assign(__entry->index = s->index;
				   strscpy(__entry->name, s->name,
					   sizeof(__entry->name));
				   strscpy(__entry->service, peer->name,
					   sizeof(__entry->service));
				   __entry->in_hopid = s->hop[TBSTREAM_IN].hopid;
				   __entry->out_hopid = s->hop[TBSTREAM_OUT].hopid;),
		    TP_printk("tbstream%d name=%s service=%s in_hopid=%d out_hopid=%d",
			      __entry->index, __entry->name, __entry->service,
			      __entry->in_hopid, __entry->out_hopid)
);

DEFINE_EVENT(tbstream_link, tbstream_attach,
	     TP_PROTO(const struct tbstream *s,
		      const struct tbstream_peer *peer),
	     TP_ARGS(s, peer)
);

DEFINE_EVENT(tbstream_link, tbstream_detach,
	     TP_PROTO(const struct tbstream *s,
		      const struct tbstream_peer *peer),
	     TP_ARGS(s, peer)
);

TRACE_EVENT(tbstream_rings,
	    TP_PROTO(const struct tbstream *s, enum tbstream_rings rings),
	    TP_ARGS(s, rings),
	    TP_STRUCT__entry(__field(int, index)
			     __field(int, rings)
			     __field(unsigned int, frames)),
	    TP_fast_assign(__entry->index = s->index;
			   __entry->rings = rings;
			   __entry->frames = s->nframes;),
	    TP_printk("tbstream%d rings=%s frames=%u", __entry->index,
		      tbstream_show_rings(__entry->rings), __entry->frames)
);

TRACE_EVENT(tbstream_paths,
	    TP_PROTO(const struct tbstream *s, bool enable, int ret),
	    TP_ARGS(s, enable, ret),
	    TP_STRUCT__entry(__field(int, index)
			     __field(bool, enable)
			     __field(int, out_hopid)
			     __field(int, tx_hop)
			     __field(int, in_hopid)
			     __field(int, rx_hop)
			     __field(int, ret)),
	    TP_fast_assign(__entry->index = s->index;
			   __entry->enable = enable;
			   __entry->out_hopid = s->paths[TBSTREAM_OUT];
			   __entry->tx_hop = s->tx.hop;
			   __entry->in_hopid = s->paths[TBSTREAM_IN];
			   __entry->rx_hop = s->rx.hop;
			   __entry->ret = ret;),
	    TP_printk("tbstream%d %s out_hopid=%d tx_hop=%d in_hopid=%d rx_hop=%d ret=%d",
		      __entry->index, __entry->enable ? "enable" : "disable",
		      __entry->out_hopid, __entry->tx_hop, __entry->in_hopid,
		      __entry->rx_hop, __entry->ret)
);

DECLARE_EVENT_CLASS(tbstream_frame,
		    TP_PROTO(const struct tbstream *s,
			     enum tbstream_direction dir, unsigned int i,
			     const struct ring_frame *frame),
		    TP_ARGS(s, dir, i, frame),
		    TP_STRUCT__entry(__field(int, index)
				     __field(int, dir)
				     __field(unsigned int, i)
				     __field(unsigned int, size)
				     __field(unsigned int, sof)
				     __field(unsigned int, eof)
				     __field(u32, flags)),
		    TP_fast_assign(__entry->index = s->index;
				   __entry->dir = dir;
				   __entry->i = i;
				   __entry->size = tbstream_frame_len(frame);
				   __entry->sof = frame->sof;
				   __entry->eof = frame->eof;
				   __entry->flags = frame->flags;),
		    TP_printk("tbstream%d %s frame=%u size=%u sof=%u eof=%u flags=%#x",
			      __entry->index, tbstream_show_dir(__entry->dir),
			      __entry->i, __entry->size, __entry->sof,
			      __entry->eof, __entry->flags)
);

/* A transmit frame, or an empty receive buffer, given to the ring */
DEFINE_EVENT(tbstream_frame, tbstream_frame_queued,
	     TP_PROTO(const struct tbstream *s, enum tbstream_direction dir,
		      unsigned int i, const struct ring_frame *frame),
	     TP_ARGS(s, dir, i, frame)
);

/* A frame the ring completed: sent, or received with what it carries */
DEFINE_EVENT(tbstream_frame, tbstream_frame_done,
	     TP_PROTO(const struct tbstream *s, enum tbstream_direction dir,
		      unsigned int i, const struct ring_frame *frame),
	     TP_ARGS(s, dir, i, frame)
);

DECLARE_EVENT_CLASS(tbstream_close,
		    TP_PROTO(const struct tbstream *s),
		    TP_ARGS(s),
		    TP_STRUCT__entry(__field(int, index)),
		    TP_fast_assign(__entry->index = s->index;),
		    TP_printk("tbstream%d", __entry->index)
);

DEFINE_EVENT(tbstream_close, tbstream_close_sent,
	     TP_PROTO(const struct tbstream *s),
	     TP_ARGS(s)
);

DEFINE_EVENT(tbstream_close, tbstream_close_received,
	     TP_PROTO(const struct tbstream *s),
	     TP_ARGS(s)
);

/* An error a system call returns, other than -EAGAIN */
TRACE_EVENT(tbstream_error,
	    TP_PROTO(const struct tbstream *s, enum tbstream_trace_op op,
		     int err),
	    TP_ARGS(s, op, err),
	    TP_STRUCT__entry(__field(int, index)
			     __field(int, op)
			     __field(int, err)),
	    TP_fast_assign(__entry->index = s->index;
			   __entry->op = op;
			   __entry->err = err;),
	    TP_printk("tbstream%d %s err=%d", __entry->index,
		      __print_symbolic(__entry->op,
				       { TBSTREAM_TRACE_OPEN, "open" },
				       { TBSTREAM_TRACE_READ, "read" },
				       { TBSTREAM_TRACE_WRITE, "write" },
				       { TBSTREAM_TRACE_CLOSE, "close" }),
		      __entry->err)
);

#endif /* TBSTREAM_TRACE_H */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE stream_trace

#include <trace/define_trace.h>
