/*
 * Intel Thunderbolt 3 host controller (Titan Ridge NHI) with its firmware
 * connection manager (ICM), for thunderbolt_stream testing.
 *
 * The guest sees a PCI function 8086:15e8 (class 0x0880, "system
 * peripheral") with the NHI register file in BAR 0 and 16 MSI-X vectors
 * in BAR 2. The firmware is "running" from reset (REG_FW_STS ICM_EN and
 * NVM_AUTH_DONE set, connection-manager mode in the out-mailbox), so the
 * Linux core takes the firmware connection manager path and talks to it
 * over ring 0.
 *
 * Modelled:
 *  - TX/RX descriptor rings (base, size, producer/consumer), ring options
 *    (enable, raw vs frame mode, E2E flow control and its TX HopID, the
 *    SOF/EOF PDF masks), descriptors with the 12-bit length (0 = 4096),
 *    SOF/EOF PDFs, DONE/RS/IE flags, CRC-error and buffer-overrun status
 *    on RX, one interrupt per completed descriptor that asks for it;
 *    frame-mode RX rings reassemble: the pieces of a frame fill one
 *    descriptor from a piece whose SOF PDF is in the SOF mask to one
 *    whose EOF PDF is in the EOF mask;
 *  - interrupt enable/status (read-to-clear and write-to-clear forms),
 *    MSI-X vector allocation, interrupt throttling per vector, MSI and
 *    INTx fall-backs, the auto-clear bit in REG_DMA_MISC;
 *  - the mailbox, REG_FW_STS, REG_CAPS, host router reset;
 *  - the ICM side of ring 0: DRIVER_READY, APPROVE_XDOMAIN and
 *    DISCONNECT_XDOMAIN (recording which HopID goes to which ring),
 *    XDomain connected/disconnected events, and the router configuration
 *    space of the root switch the core reads (switch header, the plug
 *    events capability with a bit-banged EEPROM that holds the UID, two
 *    lane adapters with a PHY capability, five inactive adapters);
 *  - the cable: a chardev (normally a socket to another QEMU process)
 *    carrying control packets (XDomain requests and responses, so the
 *    UUID and properties protocol runs unchanged on both ends) and data
 *    frames tagged by HopID, with end-to-end credits when E2E flow
 *    control is on at both ends (the ring options): a TX frame of an
 *    approved path completes only once the peer has a posted RX
 *    descriptor for it, so nothing is dropped. Without it a frame that
 *    finds no posted descriptor is dropped, as on hardware. The "link"
 *    property unplugs and replugs the cable at run time.
 *
 * Not modelled: isochronous rings, PCIe/DP/USB tunnels, NVM upgrade,
 * device (non-host) routers, power management beyond D0.
 *
 * This work is licensed under the terms of the GNU GPL, version 2 or later.
 */

#include "qemu/osdep.h"
#include "qemu/units.h"
#include "qemu/log.h"
#include "qemu/module.h"
#include "qemu/crc32c.h"
#include "qemu/timer.h"
#include "qemu/bswap.h"
#include "qemu/main-loop.h"
#include "qapi/error.h"
#include "hw/pci/pci.h"
#include "hw/pci/msi.h"
#include "hw/pci/msix.h"
#include "hw/qdev-properties.h"
#include "hw/qdev-properties-system.h"
#include "chardev/char-fe.h"
#include "migration/vmstate.h"
#include "sysemu/runstate.h"
#include "qom/object.h"

#define TYPE_TB_NHI "tb-nhi"
OBJECT_DECLARE_SIMPLE_TYPE(TbNhiState, TB_NHI)

#define TB_NHI_VENDOR           0x8086
#define TB_NHI_DEVICE           0x15e8  /* Titan Ridge 2C NHI */
#define TB_NHI_ROUTER_DEVICE    0x15e7  /* its router (bridge) device ID */

#define NHI_HOPS                12
#define NHI_VECTORS             16
#define NHI_BAR_SIZE            0x40000
#define NHI_MSIX_BAR            2

/* Register file (BAR 0) */
#define R_TX_RING               0x00000 /* 16 bytes a hop */
#define R_RX_RING               0x08000 /* 16 bytes a hop */
#define R_TX_OPTS               0x19800 /* 32 bytes a hop */
#define R_RX_OPTS               0x29800 /* 32 bytes a hop */
#define R_NOTIFY                0x37800 /* TX, RX, RX-overflow bits */
#define R_NOTIFY_CLEAR          0x37808
#define R_INT_ENABLE            0x38200 /* TX, RX bits */
#define R_INT_MASK_CLEAR        0x38208
#define R_THROTTLE              0x38c00 /* one a vector, 256 ns units */
#define R_IVR                   0x38c40 /* 4 bits a ring: MSI-X vector */
#define R_CAPS                  0x39640
#define R_DMA_MISC              0x39864
#define R_RESET                 0x39898
#define R_INMAIL_DATA           0x39900
#define R_INMAIL_CMD            0x39904
#define R_OUTMAIL_CMD           0x3990c
#define R_FW_STS                0x39944

#define NOTIFY_REGS             ((31 + 3 * NHI_HOPS) / 32)
#define INT_REGS                ((31 + 2 * NHI_HOPS) / 32)
#define IVR_REGS                ((2 * NHI_HOPS + 7) / 8)

/* Ring option bits (options dword 0) */
#define OPT_E2E_HOP_SHIFT       12
#define OPT_E2E_HOP_MASK        (0x7ffu << OPT_E2E_HOP_SHIFT)
#define OPT_ISOCH               (1u << 27)
#define OPT_E2E                 (1u << 28)
#define OPT_NO_SNOOP            (1u << 29)
#define OPT_RAW                 (1u << 30)
#define OPT_ENABLE              (1u << 31)

/* Cable header flags (byte 6) of CABLE_DATA */
#define CABLE_DATA_E2E          0x1     /* sent against an E2E credit */

/* Descriptor status/flag bits (bits 31:20 of descriptor dword 2) */
#define DESC_CRC_ERROR          0x1     /* RX */
#define DESC_DONE               0x2
#define DESC_RS                 0x4     /* TX: posted ("request status") */
#define DESC_OVERRUN            0x4     /* RX: buffer overrun */
#define DESC_IE                 0x8

#define DMA_MISC_AUTO_CLEAR     (1u << 2)
#define RESET_HRR               (1u << 0)
#define INMAIL_CMD_MASK         0xffu
#define INMAIL_ERROR            (1u << 30)
#define INMAIL_OP_REQUEST       (1u << 31)
#define FW_STS_ICM_EN           (1u << 0)
#define FW_STS_NVM_AUTH_DONE    (1u << 31)
#define FW_MODE_CM              3

/* Control packet types, carried as the EOF PDF on ring 0 */
enum {
    PDF_READ = 1,
    PDF_WRITE = 2,
    PDF_ERROR = 3,
    PDF_NOTIFY_ACK = 4,
    PDF_EVENT = 5,
    PDF_XDOMAIN_REQ = 6,
    PDF_XDOMAIN_RESP = 7,
    PDF_ICM_EVENT = 10,
    PDF_ICM_CMD = 11,
    PDF_ICM_RESP = 12,
};

/* Router configuration spaces and errors */
enum { CS_HOPS, CS_PORT, CS_SWITCH, CS_COUNTERS };
#define CFG_ERR_PORT_NOT_CONNECTED  0
#define CFG_ERR_INVALID_SPACE       2
#define CFG_ERR_NO_SUCH_PORT        4

/* ICM commands, events and flags */
#define ICM_DRIVER_READY        0x03
#define ICM_APPROVE_XDOMAIN     0x10
#define ICM_DISCONNECT_XDOMAIN  0x11
#define ICM_EV_XD_CONNECTED     0x06
#define ICM_EV_XD_DISCONNECTED  0x07
#define ICM_FLAG_ERROR          0x01

/* Mailbox commands */
#define MBOX_DRV_UNLOADS        0x07

/* Root switch layout */
#define SW_MAX_PORT             7
#define SW_LANE_PORTS           2       /* ports 1 and 2: one PHY port */
#define SW_CAP_PLUG_EVENTS      0x10    /* dword offset in switch space */
#define SW_CAP_LEN              13
#define SW_CAP_LC               0x20    /* link controller capability */
#define SW_CAP_LC_LEN           8
#define SW_SPACE_DWORDS         0x40
#define PORT_CAP_PHY_OFF        0x08
#define PORT_SPACE_DWORDS       0x20
#define XD_ROUTE                1       /* the cable is on port 1 */

/* EEPROM control register (plug events capability + 4) */
#define EE_SK                   (1u << 0)
#define EE_CS                   (1u << 1)
#define EE_DI                   (1u << 2)
#define EE_DO                   (1u << 3)
#define EE_BBE                  (1u << 4)
#define EE_PRESENT              (1u << 7)
#define EE_SIZE                 16

/* The cable protocol */
enum {
    CABLE_HELLO = 1,            /* payload: 16-byte UUID; hop = 1: answer */
    CABLE_BYE = 2,              /* link down */
    CABLE_CTRL = 3,             /* a control packet, as on ring 0 */
    CABLE_DATA = 4,             /* a frame on HopID hop */
    CABLE_CREDIT = 5,           /* len more RX descriptors for HopID hop */
                                /* (sof = 1: len in all, not more) */
    CABLE_READY = 6,            /* hop = 1: the driver is up on this end */
};
#define CABLE_HDR_LEN           12
#define CABLE_MAX_PAYLOAD       4096
#define CABLE_BUF               (2 * (CABLE_HDR_LEN + CABLE_MAX_PAYLOAD))

#define MAX_HOPID               2048
#define MAX_PATHS               8
#define CTL_BACKLOG             64
#define RX_BACKLOG              16
#define TX_BURST                64

typedef struct TbFrame {
    uint16_t len;
    uint8_t sof, eof;
    uint8_t status;             /* extra RX status bits (CRC error) */
    bool e2e;                   /* the sender held a credit for it */
    uint8_t data[CABLE_MAX_PAYLOAD];
} TbFrame;

typedef struct TbRing {
    uint64_t base;
    uint16_t size;
    uint16_t frame_size;        /* RX: buffer size, 0 = 4096 */
    uint16_t sw;                /* TX: producer; RX: posted up to here */
    uint16_t hw;                /* TX: consumer; RX: filled up to here */
    uint32_t opts;
    uint32_t opts1;             /* RX: SOF mask << 16 | EOF mask */
    uint32_t granted;           /* RX: credits the peer holds for us */
    GQueue backlog;             /* RX: frames waiting for a descriptor */
    /* RX, frame mode: the frame being reassembled in descriptor hw */
    bool in_frame;
    uint8_t frame_sof;          /* SOF PDF of its first piece */
    uint8_t frame_status;       /* CRC error, overrun so far */
    uint32_t frame_fill;        /* bytes in the buffer so far */
} TbRing;

typedef struct TbPath {
    bool used;
    uint16_t tx_hopid, tx_ring;
    uint16_t rx_hopid, rx_ring;
} TbPath;

typedef struct TbStats {
    uint64_t mmio_reads, mmio_writes, interrupts, throttled;
    uint64_t tx_frames, rx_frames, credit_stalls, tx_dropped, rx_backlogged;
    uint64_t rx_dropped, rx_pieces;
    uint64_t ctl_tx, ctl_rx, cable_tx, cable_rx, crc_errors;
    uint64_t ring_tx[NHI_HOPS], ring_rx[NHI_HOPS];
} TbStats;

struct TbNhiState {
    PCIDevice parent_obj;
    MemoryRegion mmio;

    TbRing tx[NHI_HOPS];
    TbRing rx[NHI_HOPS];
    uint64_t notify;            /* 3 * NHI_HOPS status bits */
    uint32_t int_enable;        /* 2 * NHI_HOPS enable bits */
    uint32_t ivr[IVR_REGS];
    uint32_t throttle[NHI_VECTORS];
    int64_t last_irq_ns[NHI_VECTORS];
    uint32_t pending_vec;
    QEMUTimer *throttle_timer;
    uint32_t dma_misc;
    uint32_t inmail_data, inmail_cmd;
    uint32_t fw_sts;

    /* ICM */
    bool driver_ready;
    bool xd_announced;
    TbPath paths[MAX_PATHS];
    uint32_t ee_ctl, ee_bits, ee_cmd, ee_out;
    uint8_t eeprom[EE_SIZE];
    GQueue ctl_backlog;

    /* cable */
    CharBackend chr;
    bool link_wanted;           /* "link" property: cable plugged in */
    bool link_up;
    bool host_up;               /* our root switch is (about to be) added */
    bool peer_ready;            /* the peer's is */
    uint8_t peer_uuid[16];
    uint32_t tx_credits[MAX_HOPID];
    uint8_t cbuf[CABLE_BUF];
    uint32_t cbuf_len;
    QEMUBH *tx_bh;

    /* properties */
    uint64_t uid;
    uint32_t debug;
    bool print_stats;
    bool use_msix;
    uint32_t crc_error_every;   /* flag every Nth received data frame */
    uint64_t data_frames_in;

    TbStats st;
    Notifier shutdown;
};

#define DBG(s, lvl, fmt, ...) do { \
    if ((s)->debug >= (lvl)) { \
        fprintf(stderr, "tb-nhi[%" PRIx64 "]: " fmt "\n", (s)->uid, \
                ## __VA_ARGS__); \
    } \
} while (0)

static void nhi_tx_kick(TbNhiState *s);
static void nhi_shutdown_notify(Notifier *n, void *data);
static void cable_send(TbNhiState *s, uint16_t type, uint16_t hop,
                       uint8_t sof, uint8_t eof, uint8_t flags,
                       const void *data, uint32_t len);

/* ---- interrupts ---- */

static unsigned nhi_ivr_vector(TbNhiState *s, unsigned idx)
{
    return (s->ivr[idx / 8] >> ((idx % 8) * 4)) & 0xf;
}

static void nhi_update_intx(TbNhiState *s)
{
    uint64_t en = s->int_enable;

    pci_set_irq(PCI_DEVICE(s), !msix_enabled(PCI_DEVICE(s)) &&
                !msi_enabled(PCI_DEVICE(s)) && (s->notify & en));
}

static void nhi_fire_vector(TbNhiState *s, unsigned vec)
{
    int64_t now = qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL);
    int64_t gap = (int64_t)s->throttle[vec] * 256;

    if (gap && s->last_irq_ns[vec] && now - s->last_irq_ns[vec] < gap) {
        if (!(s->pending_vec & (1u << vec))) {
            s->pending_vec |= 1u << vec;
            s->st.throttled++;
        }
        timer_mod_anticipate(s->throttle_timer, s->last_irq_ns[vec] + gap);
        return;
    }
    s->last_irq_ns[vec] = now;
    s->st.interrupts++;
    msix_notify(PCI_DEVICE(s), vec);
}

static void nhi_throttle_timer(void *opaque)
{
    TbNhiState *s = opaque;
    uint32_t pend = s->pending_vec;
    unsigned v;

    s->pending_vec = 0;
    for (v = 0; v < NHI_VECTORS; v++) {
        if (pend & (1u << v)) {
            nhi_fire_vector(s, v);
        }
    }
}

/* bit: 0..HOPS-1 TX done, HOPS..2*HOPS-1 RX done, then RX overflow */
static void nhi_raise(TbNhiState *s, unsigned bit)
{
    PCIDevice *pd = PCI_DEVICE(s);

    s->notify |= 1ull << bit;
    if (bit >= 2 * NHI_HOPS || !(s->int_enable & (1u << bit))) {
        return;
    }
    if (msix_enabled(pd)) {
        if (s->dma_misc & DMA_MISC_AUTO_CLEAR) {
            s->notify &= ~(1ull << bit);
        }
        nhi_fire_vector(s, nhi_ivr_vector(s, bit));
    } else if (msi_enabled(pd)) {
        s->st.interrupts++;
        msi_notify(pd, 0);
    } else {
        s->st.interrupts++;
        nhi_update_intx(s);
    }
}

/* ---- rings ---- */

static bool ring_on(const TbRing *r)
{
    return (r->opts & OPT_ENABLE) && r->size && r->base;
}

static uint16_t ring_free(const TbRing *r)
{
    return (uint16_t)((r->sw + r->size - r->hw) % r->size);
}

static TbPath *path_by_rx_hopid(TbNhiState *s, unsigned hopid)
{
    int i;

    for (i = 0; i < MAX_PATHS; i++) {
        if (s->paths[i].used && s->paths[i].rx_hopid == hopid) {
            return &s->paths[i];
        }
    }
    return NULL;
}

static TbPath *path_by_tx_ring(TbNhiState *s, unsigned ring)
{
    int i;

    for (i = 0; i < MAX_PATHS; i++) {
        if (s->paths[i].used && s->paths[i].tx_ring == ring) {
            return &s->paths[i];
        }
    }
    return NULL;
}

static TbPath *path_by_rx_ring(TbNhiState *s, unsigned ring)
{
    int i;

    for (i = 0; i < MAX_PATHS; i++) {
        if (s->paths[i].used && s->paths[i].rx_ring == ring) {
            return &s->paths[i];
        }
    }
    return NULL;
}

static bool pdf_in(uint32_t mask, uint8_t pdf)
{
    return mask & (1u << (pdf & 0xf));
}

/* Complete descriptor hw of RX ring hop (da: its address, posted: flags) */
static void rx_complete(TbNhiState *s, unsigned hop, uint64_t da,
                        uint32_t posted, uint32_t len, uint8_t sof,
                        uint8_t eof, uint32_t status)
{
    TbRing *r = &s->rx[hop];
    uint8_t d[8];

    stl_le_p(d, (len & 0xfff) | (eof & 0xf) << 12 | (sof & 0xf) << 16 |
             (DESC_DONE | status) << 20);
    stl_le_p(d + 4, 0);
    pci_dma_write(PCI_DEVICE(s), da + 8, d, 8);
    r->hw = (r->hw + 1) % r->size;
    r->in_frame = false;
    s->st.rx_frames++;
    s->st.ring_rx[hop]++;
    if (posted & DESC_IE) {
        nhi_raise(s, NHI_HOPS + hop);
    }
}

/*
 * Put one frame into RX ring hop. Returns false (and touches nothing)
 * when it needs a descriptor and none is posted.
 *
 * A raw ring (ring 0) puts every frame in a descriptor of its own, with
 * its PDFs. A frame-mode ring reassembles: a frame whose SOF PDF is not
 * in the SOF mask is discarded unless one is in progress, the bytes go
 * on filling the current descriptor, and only a frame whose EOF PDF is in
 * the EOF mask completes it (with the SOF PDF of the first piece and the
 * EOF PDF of the last). What does not fit the buffer is lost and flagged
 * as an overrun.
 */
static bool rx_put(TbNhiState *s, unsigned hop, const TbFrame *f)
{
    TbRing *r = &s->rx[hop];
    PCIDevice *pd = PCI_DEVICE(s);
    bool raw = r->opts & OPT_RAW;
    uint32_t cap, n, posted, sof_mask, eof_mask;
    uint64_t da;
    uint8_t d[16];

    if (!ring_on(r)) {
        return false;
    }
    sof_mask = r->opts1 >> 16;
    eof_mask = r->opts1 & 0xffff;
    if (!raw && !r->in_frame && !pdf_in(sof_mask, f->sof)) {
        /* no start of frame: the hardware waits for one */
        s->st.rx_dropped++;
        DBG(s, 1, "RX %u: frame without start (SOF PDF %u) dropped", hop,
            f->sof);
        return true;
    }
    if (!ring_free(r)) {
        return false;
    }
    da = r->base + (uint64_t)r->hw * 16;
    if (pci_dma_read(pd, da, d, sizeof(d)) != MEMTX_OK) {
        qemu_log_mask(LOG_GUEST_ERROR, "tb-nhi: RX %u: bad descriptor\n",
                      hop);
        return false;
    }
    cap = r->frame_size ? r->frame_size : 4096;
    posted = ldl_le_p(d + 8) >> 20;
    if (raw) {
        n = MIN(f->len, cap);
        pci_dma_write(pd, ldq_le_p(d), f->data, n);
        rx_complete(s, hop, da, posted, n, f->sof, f->eof,
                    f->status | (f->len > cap ? DESC_OVERRUN : 0));
        return true;
    }
    if (!r->in_frame) {
        r->in_frame = true;
        r->frame_sof = f->sof;
        r->frame_status = 0;
        r->frame_fill = 0;
    }
    n = MIN(f->len, cap - r->frame_fill);
    pci_dma_write(pd, ldq_le_p(d) + r->frame_fill, f->data, n);
    r->frame_fill += n;
    r->frame_status |= f->status | (n < f->len ? DESC_OVERRUN : 0);
    s->st.rx_pieces++;
    if (pdf_in(eof_mask, f->eof)) {
        rx_complete(s, hop, da, posted, r->frame_fill, r->frame_sof, f->eof,
                    r->frame_status);
    }
    return true;
}

/* Give the peer credits for the RX descriptors posted since the last time */
static void rx_grant(TbNhiState *s, unsigned hop)
{
    TbRing *r = &s->rx[hop];
    TbPath *p = hop ? path_by_rx_ring(s, hop) : NULL;
    uint32_t avail;

    if (!p || !s->link_up || !ring_on(r) || !(r->opts & OPT_E2E)) {
        return;             /* no E2E flow control: no credits */
    }
    avail = ring_free(r);
    avail = avail > g_queue_get_length(&r->backlog) ?
            avail - g_queue_get_length(&r->backlog) : 0;
    if (!r->granted) {
        /* a fresh grant replaces whatever the sender still holds */
        cable_send(s, CABLE_CREDIT, p->rx_hopid, 1, 0, 0, NULL, avail);
        r->granted = avail;
    } else if (avail > r->granted) {
        cable_send(s, CABLE_CREDIT, p->rx_hopid, 0, 0, 0, NULL,
                   avail - r->granted);
        r->granted = avail;
    }
}

/* Deliver queued frames once descriptors are posted */
static void rx_drain(TbNhiState *s, unsigned hop)
{
    GQueue *q = hop ? &s->rx[hop].backlog : &s->ctl_backlog;
    TbFrame *f;

    while ((f = g_queue_peek_head(q))) {
        if (!rx_put(s, hop, f)) {
            break;
        }
        g_free(g_queue_pop_head(q));
    }
    rx_grant(s, hop);
}

static void rx_enqueue(TbNhiState *s, unsigned hop, const void *data,
                       uint32_t len, uint8_t sof, uint8_t eof, bool e2e)
{
    GQueue *q = hop ? &s->rx[hop].backlog : &s->ctl_backlog;
    TbFrame *f = g_new(TbFrame, 1);

    f->len = MIN(len, CABLE_MAX_PAYLOAD);
    f->sof = sof;
    f->eof = eof;
    f->status = 0;
    f->e2e = e2e;
    if (hop && s->crc_error_every &&
        ++s->data_frames_in % s->crc_error_every == 0) {
        /* the frame arrived damaged: the data is there, flagged */
        f->status = DESC_CRC_ERROR;
        s->st.crc_errors++;
    }
    memcpy(f->data, data, f->len);
    if (g_queue_is_empty(q) && rx_put(s, hop, f)) {
        g_free(f);
        return;
    }
    if (hop && (!e2e || !(s->rx[hop].opts & OPT_E2E))) {
        /*
         * Without end-to-end flow control at both ends nobody made
         * sure there is a buffer: the frame is lost, as on hardware.
         */
        s->st.rx_dropped++;
        DBG(s, 1, "RX %u: no descriptor posted, frame dropped", hop);
        nhi_raise(s, 2 * NHI_HOPS + hop);
        g_free(f);
        return;
    }
    if (g_queue_get_length(q) >= (hop ? RX_BACKLOG : CTL_BACKLOG)) {
        qemu_log_mask(LOG_GUEST_ERROR, "tb-nhi: RX %u backlog full\n", hop);
        g_free(f);
        return;
    }
    s->st.rx_backlogged++;
    g_queue_push_tail(q, f);
}

static void ring_reset(TbRing *r, bool keep_regs)
{
    TbFrame *f;

    while ((f = g_queue_pop_head(&r->backlog))) {
        g_free(f);
    }
    r->sw = r->hw = 0;
    r->granted = 0;
    r->in_frame = false;
    if (!keep_regs) {
        r->base = 0;
        r->size = r->frame_size = 0;
        r->opts = r->opts1 = 0;
    }
}

/* ---- control packets (ring 0) ---- */

/* Packet dwords are big endian on the ring; ICM payloads are LE structs */
static void ctl_to_le(uint8_t *dst, const uint8_t *src, uint32_t len)
{
    uint32_t i;

    for (i = 0; i + 4 <= len; i += 4) {
        stl_le_p(dst + i, ldl_be_p(src + i));
    }
}

static void ctl_send(TbNhiState *s, uint8_t pdf, const uint32_t *dw,
                     unsigned ndw)
{
    uint8_t buf[CABLE_MAX_PAYLOAD];
    unsigned i;

    for (i = 0; i < ndw; i++) {
        stl_be_p(buf + 4 * i, dw[i]);
    }
    stl_be_p(buf + 4 * ndw, crc32c(0xffffffff, buf, 4 * ndw));
    s->st.ctl_rx++;
    DBG(s, 2, "ctl -> guest pdf %u, %u dwords", pdf, ndw);
    rx_enqueue(s, 0, buf, 4 * ndw + 4, 0, pdf, false);
}

/* An ICM packet given as LE bytes */
static void icm_send(TbNhiState *s, uint8_t pdf, const uint8_t *le,
                     unsigned len)
{
    uint32_t dw[64];
    unsigned i;

    for (i = 0; i < len / 4; i++) {
        dw[i] = ldl_le_p(le + 4 * i);
    }
    ctl_send(s, pdf, dw, len / 4);
}

static void root_uuid(TbNhiState *s, uint8_t *uuid)
{
    /* What the core derives from the UID when there is no fused UUID */
    stl_le_p(uuid, (uint32_t)s->uid);
    stl_le_p(uuid + 4, (uint32_t)(s->uid >> 32));
    stl_le_p(uuid + 8, 0xffffffff);
    stl_le_p(uuid + 12, 0xffffffff);
}

static void icm_xdomain_event(TbNhiState *s, bool connected)
{
    uint8_t p[56] = { 0 };

    if (connected) {
        p[0] = ICM_EV_XD_CONNECTED;
        p[3] = 1;
        memcpy(p + 8, s->peer_uuid, 16);
        root_uuid(s, p + 24);
        stl_le_p(p + 44, XD_ROUTE);     /* local route */
        stl_le_p(p + 52, XD_ROUTE);     /* remote route */
        icm_send(s, PDF_ICM_EVENT, p, 56);
    } else {
        p[0] = ICM_EV_XD_DISCONNECTED;
        p[3] = 1;
        stl_le_p(p + 8, XD_ROUTE);
        memcpy(p + 12, s->peer_uuid, 16);
        icm_send(s, PDF_ICM_EVENT, p, 28);
    }
    s->xd_announced = connected;
    DBG(s, 1, "XDomain %s event", connected ? "connected" : "disconnected");
}

/*
 * The firmware reports the other host once the link is up and the
 * drivers on both ends are ready, so that the XDomain discovery starts
 * when there is someone to answer it.
 */
static void xd_update(TbNhiState *s)
{
    bool want = s->driver_ready && s->link_up && s->peer_ready;

    if (s->driver_ready && want != s->xd_announced) {
        icm_xdomain_event(s, want);
    }
}

static void paths_clear(TbNhiState *s)
{
    int i;

    memset(s->paths, 0, sizeof(s->paths));
    memset(s->tx_credits, 0, sizeof(s->tx_credits));
    for (i = 0; i < NHI_HOPS; i++) {
        s->rx[i].granted = 0;
    }
}

static void icm_command(TbNhiState *s, const uint8_t *p, uint32_t len)
{
    uint8_t r[64] = { 0 };
    unsigned rlen = 4;
    int i;

    r[0] = p[0];
    r[3] = 1;
    switch (p[0]) {
    case ICM_DRIVER_READY:
        /* info: security level 0 (none), protocol 2, no boot ACL */
        stw_le_p(r + 6, 2 << 4);
        stl_le_p(r + 8, 0x0020);                /* NVM 20.0 */
        stw_le_p(r + 12, TB_NHI_DEVICE);
        rlen = 16;
        s->driver_ready = true;
        s->xd_announced = false;
        icm_send(s, PDF_ICM_RESP, r, rlen);
        xd_update(s);
        return;
    case ICM_APPROVE_XDOMAIN: {
        uint16_t txh = lduw_le_p(p + 28), txr = lduw_le_p(p + 30);
        uint16_t rxh = lduw_le_p(p + 32), rxr = lduw_le_p(p + 34);

        memcpy(r + 4, p + 4, MIN(len, 36) - 4);
        rlen = 36;
        if (txr >= NHI_HOPS || rxr >= NHI_HOPS || !txr || !rxr ||
            txh >= MAX_HOPID || rxh >= MAX_HOPID) {
            r[1] = ICM_FLAG_ERROR;
            break;
        }
        /* a ring is in one path at a time: the new one replaces it */
        for (i = 0; i < MAX_PATHS; i++) {
            if (s->paths[i].used && (s->paths[i].tx_ring == txr ||
                                     s->paths[i].rx_ring == rxr ||
                                     s->paths[i].rx_hopid == rxh)) {
                s->paths[i].used = false;
            }
        }
        for (i = 0; i < MAX_PATHS && s->paths[i].used; i++) {
            ;
        }
        if (i == MAX_PATHS) {
            r[1] = ICM_FLAG_ERROR;
            break;
        }
        s->paths[i] = (TbPath) { true, txh, txr, rxh, rxr };
        s->rx[rxr].granted = 0;
        DBG(s, 1, "path approved: TX ring %u -> HopID %u, HopID %u -> RX "
            "ring %u", txr, txh, rxh, rxr);
        icm_send(s, PDF_ICM_RESP, r, rlen);
        rx_grant(s, rxr);
        nhi_tx_kick(s);
        return;
    }
    case ICM_DISCONNECT_XDOMAIN:
        memcpy(r + 4, p + 4, MIN(len, 32) - 4);
        rlen = 32;
        if (p[4] == 2) {
            DBG(s, 1, "paths torn down");
            paths_clear(s);
        }
        break;
    default:
        DBG(s, 1, "ICM command 0x%x not supported", p[0]);
        r[1] = ICM_FLAG_ERROR;
        rlen = 4;
        break;
    }
    icm_send(s, PDF_ICM_RESP, r, rlen);
}

/* ---- the root switch configuration space ---- */

static uint8_t tb_crc8(const uint8_t *d, int n)
{
    uint8_t c = 0xff;
    int i, b;

    for (i = 0; i < n; i++) {
        c ^= d[i];
        for (b = 0; b < 8; b++) {
            c = (c & 0x80) ? (uint8_t)(c << 1) ^ 0x07 : (uint8_t)(c << 1);
        }
    }
    return c;
}

static void eeprom_write(TbNhiState *s, uint32_t v)
{
    uint32_t old = s->ee_ctl;

    s->ee_ctl = (v & (EE_SK | EE_CS | EE_DI | EE_BBE)) | EE_PRESENT |
                (old & EE_DO);
    if (!(v & EE_BBE)) {
        return;
    }
    if ((old & EE_CS) && !(v & EE_CS)) {
        s->ee_bits = 0;                 /* chip select asserted (low) */
        s->ee_cmd = 0;
    }
    if (v & EE_CS || (old & EE_SK) || !(v & EE_SK)) {
        return;                         /* not a rising clock edge */
    }
    if (s->ee_bits < 24) {
        s->ee_cmd = s->ee_cmd << 1 | !!(v & EE_DI);
        if (++s->ee_bits == 24) {
            s->ee_out = (s->ee_cmd & 0xffff) * 8;
        }
        return;
    }
    /* read command: shift out the addressed bytes, MSB first */
    if ((s->ee_cmd >> 16) == 3 && s->ee_out / 8 < EE_SIZE &&
        (s->eeprom[s->ee_out / 8] >> (7 - s->ee_out % 8)) & 1) {
        s->ee_ctl |= EE_DO;
    } else {
        s->ee_ctl &= ~EE_DO;
    }
    s->ee_out++;
}

static int cfg_read(TbNhiState *s, unsigned space, unsigned port,
                    unsigned off, uint32_t *val)
{
    *val = 0;
    if (space == CS_SWITCH) {
        if (off >= SW_SPACE_DWORDS) {
            return CFG_ERR_INVALID_SPACE;
        }
        switch (off) {
        case 0:
            *val = TB_NHI_VENDOR | TB_NHI_ROUTER_DEVICE << 16;
            break;
        case 1:
            *val = SW_CAP_PLUG_EVENTS | SW_MAX_PORT << 14 | 1 << 24;
            break;
        case 3:
            *val = 1u << 31;            /* configured by the firmware */
            break;
        case 4:
            *val = 1u << 24;            /* Thunderbolt 3, not USB4 */
            break;
        case SW_CAP_PLUG_EVENTS:
            *val = SW_CAP_LC | 0x05 << 8 | 0x01 << 16 | SW_CAP_LEN << 24;
            break;
        case SW_CAP_LC:
            /* link controller: last capability, holds the fused UUID */
            *val = 0 | 0x05 << 8 | 0x06 << 16 | SW_CAP_LC_LEN << 24;
            break;
        case SW_CAP_LC + 2:
            *val = 2;                   /* two link controllers */
            break;
        case SW_CAP_LC + 3 ... SW_CAP_LC + 6: {
            uint8_t uuid[16];

            root_uuid(s, uuid);
            *val = ldl_le_p(uuid + 4 * (off - SW_CAP_LC - 3));
            break;
        }
        case SW_CAP_PLUG_EVENTS + 4:
            *val = s->ee_ctl;
            break;
        case SW_CAP_PLUG_EVENTS + 12:
            *val = 0;                   /* DROM at EEPROM offset 0 */
            break;
        }
        return 0;
    }
    if (space == CS_PORT) {
        if (port > SW_MAX_PORT) {
            return CFG_ERR_NO_SUCH_PORT;
        }
        if (off >= PORT_SPACE_DWORDS) {
            return CFG_ERR_INVALID_SPACE;
        }
        if (port == 0 || port > SW_LANE_PORTS) {
            /* control adapter and unused adapters: inactive */
            switch (off) {
            case 0:
                *val = TB_NHI_VENDOR | TB_NHI_ROUTER_DEVICE << 16;
                break;
            case 3:
                *val = port << 20;
                break;
            }
            return 0;
        }
        switch (off) {
        case 0:
            *val = TB_NHI_VENDOR | TB_NHI_ROUTER_DEVICE << 16;
            break;
        case 1:
            *val = PORT_CAP_PHY_OFF | 1 << 24;
            break;
        case 2:
            *val = 0x000001 | 1u << 24;         /* lane adapter */
            break;
        case 3:
            *val = port << 20;
            break;
        case 4:
            *val = 60 << 20 | 60;               /* buffers */
            break;
        case 5:
            *val = 11 | 11 << 11;               /* max in/out HopID */
            break;
        case PORT_CAP_PHY_OFF:
            *val = 0x00 | 0x01 << 8;            /* PHY, last capability */
            break;
        case PORT_CAP_PHY_OFF + 1:
            *val = (s->link_up && port == XD_ROUTE ? 2u : 0u) << 26;
            break;
        }
        return 0;
    }
    return CFG_ERR_INVALID_SPACE;
}

static void cfg_error(TbNhiState *s, uint64_t route, unsigned err,
                      unsigned port)
{
    uint32_t dw[3];

    dw[0] = (uint32_t)(route >> 32) | 1u << 31;
    dw[1] = (uint32_t)route;
    dw[2] = err | (port & 0x3f) << 8;
    ctl_send(s, PDF_ERROR, dw, 3);
}

static void ctl_config(TbNhiState *s, uint8_t pdf, const uint8_t *pkt,
                       uint32_t len)
{
    uint32_t hi = ldl_be_p(pkt), lo = ldl_be_p(pkt + 4);
    uint32_t addr = ldl_be_p(pkt + 8);
    uint64_t route = (uint64_t)(hi & 0x3fffff) << 32 | lo;
    unsigned off = addr & 0x1fff, n = (addr >> 13) & 0x3f;
    unsigned port = (addr >> 19) & 0x3f, space = (addr >> 25) & 3;
    uint32_t dw[3 + 64];
    unsigned i;
    int err = 0;

    if (route) {
        /* Only the root switch is reachable: the far end is a host */
        cfg_error(s, route, CFG_ERR_PORT_NOT_CONNECTED, route & 0xff);
        return;
    }
    if (pdf == PDF_READ && space == CS_PORT && port == SW_MAX_PORT &&
        off == 0 && s->driver_ready && !s->host_up) {
        /*
         * The header of the last adapter is the last thing the core
         * reads before tb_switch_add() registers the root switch: from
         * now on this host can answer XDomain requests in time, so tell
         * the other end (the peer's discovery starts then).
         */
        s->host_up = true;
        cable_send(s, CABLE_READY, 1, 0, 0, 0, NULL, 0);
    }
    if (pdf == PDF_READ) {
        for (i = 0; i < n && !err; i++) {
            err = cfg_read(s, space, port, off + i, &dw[3 + i]);
        }
    } else {
        if (len < 12 + 4 * n) {
            return;
        }
        for (i = 0; i < n; i++) {
            uint32_t v = ldl_be_p(pkt + 12 + 4 * i), cur;

            err = cfg_read(s, space, port, off + i, &cur);
            if (err) {
                break;
            }
            if (space == CS_SWITCH && off + i == SW_CAP_PLUG_EVENTS + 4) {
                eeprom_write(s, v);
            }
        }
    }
    if (err) {
        cfg_error(s, route, err, port);
        return;
    }
    dw[0] = (uint32_t)(route >> 32) | 1u << 31;
    dw[1] = (uint32_t)route;
    /* the upstream port of the root switch is 0 */
    dw[2] = addr & ~(0x3fu << 19);
    ctl_send(s, pdf, dw, pdf == PDF_READ ? 3 + n : 3);
}

/* A frame the guest sent on TX ring 0 */
static void ctl_tx(TbNhiState *s, const uint8_t *pkt, uint32_t len,
                   uint8_t pdf)
{
    uint8_t le[CABLE_MAX_PAYLOAD];

    s->st.ctl_tx++;
    DBG(s, 2, "guest -> ctl pdf %u, %u bytes", pdf, len);
    if (len < 8 || len % 4) {
        return;
    }
    switch (pdf) {
    case PDF_READ:
    case PDF_WRITE:
        if (len >= 16) {
            ctl_config(s, pdf, pkt, len - 4);
        }
        break;
    case PDF_ICM_CMD:
        ctl_to_le(le, pkt, len - 4);
        icm_command(s, le, len - 4);
        break;
    case PDF_XDOMAIN_REQ:
    case PDF_XDOMAIN_RESP:
        if (s->link_up) {
            cable_send(s, CABLE_CTRL, 0, 0, pdf, 0, pkt, len);
        }
        break;
    default:
        /* acks, resets: the firmware takes them silently */
        break;
    }
}

/* ---- transmit ---- */

static void nhi_tx_ring(TbNhiState *s, unsigned hop)
{
    TbRing *r = &s->tx[hop];
    PCIDevice *pd = PCI_DEVICE(s);
    uint8_t d[16];
    uint8_t *buf = NULL;
    int burst = 0;

    while (ring_on(r) && r->hw != r->sw % r->size && burst++ < TX_BURST) {
        uint64_t da = r->base + (uint64_t)r->hw * 16;
        uint32_t dw, len, flags;
        uint8_t sof, eof;
        TbPath *p = NULL;

        if (pci_dma_read(pd, da, d, sizeof(d)) != MEMTX_OK) {
            break;
        }
        dw = ldl_le_p(d + 8);
        len = dw & 0xfff;
        eof = (dw >> 12) & 0xf;
        sof = (dw >> 16) & 0xf;
        flags = dw >> 20;
        if (!len) {
            len = 4096;
        }
        if (hop) {
            p = path_by_tx_ring(s, hop);
            if (p && s->link_up && (r->opts & OPT_E2E) &&
                !s->tx_credits[p->tx_hopid]) {
                s->st.credit_stalls++;
                DBG(s, 3, "TX %u stalls for credits", hop);
                break;                  /* E2E: wait for the peer */
            }
        }
        if (!buf) {
            buf = g_malloc(4096);
        }
        pci_dma_read(pd, ldq_le_p(d), buf, len);
        if (!hop) {
            ctl_tx(s, buf, len, eof);
        } else if (p && s->link_up && (r->opts & OPT_E2E)) {
            s->tx_credits[p->tx_hopid]--;
            cable_send(s, CABLE_DATA, p->tx_hopid, sof, eof, CABLE_DATA_E2E,
                       buf, len);
        } else if (p && s->link_up) {
            /* no flow control: sent whether or not the peer has room */
            cable_send(s, CABLE_DATA, p->tx_hopid, sof, eof, 0, buf, len);
        } else {
            s->st.tx_dropped++;         /* no path: nobody listens */
        }
        stl_le_p(d + 8, dw | DESC_DONE << 20);
        pci_dma_write(pd, da + 8, d + 8, 4);
        r->hw = (r->hw + 1) % r->size;
        s->st.tx_frames++;
        s->st.ring_tx[hop]++;
        if (flags & DESC_IE) {
            nhi_raise(s, hop);
        }
    }
    g_free(buf);
    if (ring_on(r) && r->hw != r->sw % r->size && burst > TX_BURST) {
        qemu_bh_schedule(s->tx_bh);
    }
}

static void nhi_tx_bh(void *opaque)
{
    TbNhiState *s = opaque;
    unsigned hop;

    for (hop = 0; hop < NHI_HOPS; hop++) {
        nhi_tx_ring(s, hop);
    }
}

static void nhi_tx_kick(TbNhiState *s)
{
    qemu_bh_schedule(s->tx_bh);
}

/* ---- the cable ---- */

static void cable_send(TbNhiState *s, uint16_t type, uint16_t hop,
                       uint8_t sof, uint8_t eof, uint8_t flags,
                       const void *data, uint32_t len)
{
    uint8_t h[CABLE_HDR_LEN];
    uint32_t plen = type == CABLE_CREDIT || type == CABLE_READY ? 0 : len;

    if (!qemu_chr_fe_backend_connected(&s->chr) || !s->link_wanted) {
        return;
    }
    stw_le_p(h, type);
    stw_le_p(h + 2, hop);
    h[4] = sof;
    h[5] = eof;
    h[6] = flags;
    h[7] = 0;
    stl_le_p(h + 8, len);
    s->st.cable_tx++;
    qemu_chr_fe_write_all(&s->chr, h, sizeof(h));
    if (plen) {
        qemu_chr_fe_write_all(&s->chr, data, plen);
    }
}

static void link_set(TbNhiState *s, bool up)
{
    unsigned i;

    if (s->link_up == up) {
        return;
    }
    s->link_up = up;
    DBG(s, 1, "link %s", up ? "up" : "down");
    if (!up) {
        paths_clear(s);
        for (i = 1; i < NHI_HOPS; i++) {
            TbFrame *f;

            while ((f = g_queue_pop_head(&s->rx[i].backlog))) {
                g_free(f);
            }
        }
    }
    if (!up) {
        s->peer_ready = false;
    }
    xd_update(s);
    nhi_tx_kick(s);
}

static void cable_hello(TbNhiState *s, bool answer)
{
    uint8_t uuid[16];

    root_uuid(s, uuid);
    cable_send(s, CABLE_HELLO, answer, s->host_up, 0, 0, uuid, 16);
}

static void cable_message(TbNhiState *s, uint16_t type, uint16_t hop,
                          uint8_t sof, uint8_t eof, uint8_t flags,
                          const uint8_t *data, uint32_t len)
{
    TbPath *p;

    s->st.cable_rx++;
    switch (type) {
    case CABLE_HELLO:
        if (len < 16 || !s->link_wanted) {
            return;
        }
        if (s->link_up && memcmp(s->peer_uuid, data, 16)) {
            link_set(s, false);         /* another host on the cable */
        }
        memcpy(s->peer_uuid, data, 16);
        s->peer_ready = sof;
        if (!hop) {
            cable_hello(s, true);
        }
        link_set(s, true);
        xd_update(s);
        break;
    case CABLE_READY:
        if (s->link_up) {
            s->peer_ready = hop;
            if (!hop) {
                paths_clear(s);
            }
            xd_update(s);
        }
        break;
    case CABLE_BYE:
        link_set(s, false);
        break;
    case CABLE_CTRL:
        if (s->link_up) {
            rx_enqueue(s, 0, data, len, 0, eof, false);
        }
        break;
    case CABLE_DATA:
        p = path_by_rx_hopid(s, hop);
        if (!s->link_up || !p) {
            s->st.tx_dropped++;
            return;
        }
        if ((flags & CABLE_DATA_E2E) && s->rx[p->rx_ring].granted) {
            s->rx[p->rx_ring].granted--;
        }
        rx_enqueue(s, p->rx_ring, data, len, sof, eof,
                   flags & CABLE_DATA_E2E);
        /* a piece that completed no descriptor left its credit unused */
        rx_grant(s, p->rx_ring);
        break;
    case CABLE_CREDIT:
        if (s->link_up && hop < MAX_HOPID) {
            s->tx_credits[hop] = sof ? len : s->tx_credits[hop] + len;
            nhi_tx_kick(s);
        }
        break;
    }
}

static int cable_can_receive(void *opaque)
{
    TbNhiState *s = opaque;

    return CABLE_BUF - s->cbuf_len;
}

static void cable_receive(void *opaque, const uint8_t *buf, int size)
{
    TbNhiState *s = opaque;
    uint32_t off = 0;

    size = MIN(size, (int)(CABLE_BUF - s->cbuf_len));
    memcpy(s->cbuf + s->cbuf_len, buf, size);
    s->cbuf_len += size;
    while (s->cbuf_len - off >= CABLE_HDR_LEN) {
        const uint8_t *h = s->cbuf + off;
        uint16_t type = lduw_le_p(h);
        uint32_t len = ldl_le_p(h + 8);
        uint32_t plen = type == CABLE_CREDIT || type == CABLE_READY ? 0 : len;

        if (plen > CABLE_MAX_PAYLOAD) {
            qemu_log_mask(LOG_GUEST_ERROR, "tb-nhi: bad cable message\n");
            s->cbuf_len = 0;
            return;
        }
        if (s->cbuf_len - off < CABLE_HDR_LEN + plen) {
            break;
        }
        cable_message(s, type, lduw_le_p(h + 2), h[4], h[5], h[6],
                      h + CABLE_HDR_LEN, len);
        off += CABLE_HDR_LEN + plen;
    }
    memmove(s->cbuf, s->cbuf + off, s->cbuf_len - off);
    s->cbuf_len -= off;
}

static void cable_event(void *opaque, QEMUChrEvent event)
{
    TbNhiState *s = opaque;

    switch (event) {
    case CHR_EVENT_OPENED:
        s->cbuf_len = 0;
        if (s->link_wanted) {
            cable_hello(s, false);
        }
        break;
    case CHR_EVENT_CLOSED:
        s->cbuf_len = 0;
        link_set(s, false);
        break;
    default:
        break;
    }
}

static bool nhi_get_link(Object *obj, Error **errp)
{
    return TB_NHI(obj)->link_wanted;
}

static void nhi_set_link(Object *obj, bool value, Error **errp)
{
    TbNhiState *s = TB_NHI(obj);

    if (s->link_wanted == value) {
        return;
    }
    if (value) {
        s->link_wanted = true;
        cable_hello(s, false);
    } else {
        cable_send(s, CABLE_BYE, 0, 0, 0, 0, NULL, 0);
        s->link_wanted = false;
        link_set(s, false);
    }
}

/* ---- MMIO ---- */

static uint64_t nhi_read(void *opaque, hwaddr addr, unsigned size)
{
    TbNhiState *s = opaque;
    uint32_t v = 0;
    unsigned hop, i;

    s->st.mmio_reads++;
    if (addr < R_TX_RING + 16 * NHI_HOPS) {
        TbRing *r = &s->tx[addr / 16];

        switch (addr & 0xf) {
        case 0x0:
            v = (uint32_t)r->base;
            break;
        case 0x4:
            v = r->base >> 32;
            break;
        case 0x8:
            v = r->hw | (uint32_t)r->sw << 16;
            break;
        case 0xc:
            v = r->size;
            break;
        }
    } else if (addr >= R_RX_RING && addr < R_RX_RING + 16 * NHI_HOPS) {
        TbRing *r = &s->rx[(addr - R_RX_RING) / 16];

        switch (addr & 0xf) {
        case 0x0:
            v = (uint32_t)r->base;
            break;
        case 0x4:
            v = r->base >> 32;
            break;
        case 0x8:
            v = r->sw | (uint32_t)r->hw << 16;
            break;
        case 0xc:
            v = r->size | (uint32_t)r->frame_size << 16;
            break;
        }
    } else if (addr >= R_TX_OPTS && addr < R_TX_OPTS + 32 * NHI_HOPS) {
        hop = (addr - R_TX_OPTS) / 32;
        v = (addr & 0x1f) == 0 ? s->tx[hop].opts :
            (addr & 0x1f) == 4 ? s->tx[hop].opts1 : 0;
    } else if (addr >= R_RX_OPTS && addr < R_RX_OPTS + 32 * NHI_HOPS) {
        hop = (addr - R_RX_OPTS) / 32;
        v = (addr & 0x1f) == 0 ? s->rx[hop].opts :
            (addr & 0x1f) == 4 ? s->rx[hop].opts1 : 0;
    } else if (addr >= R_NOTIFY && addr < R_NOTIFY + 4 * NOTIFY_REGS) {
        /* read to clear */
        i = (addr - R_NOTIFY) / 4;
        v = s->notify >> (32 * i);
        s->notify &= ~((uint64_t)v << (32 * i));
        nhi_update_intx(s);
    } else if (addr >= R_INT_ENABLE && addr < R_INT_ENABLE + 4 * INT_REGS) {
        v = s->int_enable;
    } else if (addr >= R_THROTTLE && addr < R_THROTTLE + 4 * NHI_VECTORS) {
        v = s->throttle[(addr - R_THROTTLE) / 4];
    } else if (addr >= R_IVR && addr < R_IVR + 4 * IVR_REGS) {
        v = s->ivr[(addr - R_IVR) / 4];
    } else {
        switch (addr) {
        case R_CAPS:
            v = NHI_HOPS;               /* version 0: no host reset */
            break;
        case R_DMA_MISC:
            v = s->dma_misc;
            break;
        case R_INMAIL_DATA:
            v = s->inmail_data;
            break;
        case R_INMAIL_CMD:
            v = s->inmail_cmd;
            break;
        case R_OUTMAIL_CMD:
            v = FW_MODE_CM << 8;
            break;
        case R_FW_STS:
            v = s->fw_sts;
            break;
        }
    }
    DBG(s, 4, "read  0x%" HWADDR_PRIx " = 0x%x", addr, v);
    return v;
}

static void nhi_ring_write(TbNhiState *s, TbRing *r, bool tx, unsigned hop,
                           unsigned reg, uint32_t v)
{
    switch (reg) {
    case 0x0:
        r->base = (r->base & ~0xffffffffull) | v;
        break;
    case 0x4:
        r->base = (r->base & 0xffffffffull) | (uint64_t)v << 32;
        break;
    case 0x8:
        if (!r->size) {
            break;
        }
        if (tx) {
            r->sw = (v >> 16) % r->size;
            nhi_tx_kick(s);
        } else {
            r->sw = (v & 0xffff) % r->size;
            rx_drain(s, hop);
        }
        break;
    case 0xc:
        r->size = v & 0xffff;
        if (!tx) {
            r->frame_size = v >> 16;
        }
        r->sw = r->hw = 0;
        break;
    }
}

static void nhi_opts_write(TbNhiState *s, TbRing *r, unsigned hop,
                           unsigned reg, uint32_t v, bool tx)
{
    bool was_on = r->opts & OPT_ENABLE;

    if (reg == 4) {
        r->opts1 = v;
        return;
    }
    if (reg) {
        return;
    }
    r->opts = v;
    if (was_on != !!(v & OPT_ENABLE)) {
        ring_reset(r, true);
        DBG(s, 1, "%s ring %u %s (%s%s)", tx ? "TX" : "RX", hop,
            v & OPT_ENABLE ? "enabled" : "disabled",
            v & OPT_RAW ? "raw" : "frame", v & OPT_E2E ? ", E2E" : "");
    }
    if (!tx && !hop && !was_on && (v & OPT_ENABLE)) {
        TbFrame *f;

        while ((f = g_queue_pop_head(&s->ctl_backlog))) {
            g_free(f);
        }
    }
    if (!tx && (v & OPT_ENABLE)) {
        rx_drain(s, hop);
    }
}

static void nhi_mailbox(TbNhiState *s, uint32_t v)
{
    s->inmail_cmd = v & ~(INMAIL_OP_REQUEST | INMAIL_ERROR);
    if (!(v & INMAIL_OP_REQUEST)) {
        return;
    }
    DBG(s, 1, "mailbox command 0x%x", v & INMAIL_CMD_MASK);
    if ((v & INMAIL_CMD_MASK) == MBOX_DRV_UNLOADS) {
        s->driver_ready = false;
        s->xd_announced = false;
        s->host_up = false;
        paths_clear(s);
        cable_send(s, CABLE_READY, 0, 0, 0, 0, NULL, 0);
    }
    /* every command completes at once */
}

static void nhi_write(void *opaque, hwaddr addr, uint64_t val, unsigned size)
{
    TbNhiState *s = opaque;
    uint32_t v = val;
    unsigned hop, i;

    s->st.mmio_writes++;
    DBG(s, 4, "write 0x%" HWADDR_PRIx " = 0x%x", addr, v);
    if (addr < R_TX_RING + 16 * NHI_HOPS) {
        hop = addr / 16;
        nhi_ring_write(s, &s->tx[hop], true, hop, addr & 0xf, v);
    } else if (addr >= R_RX_RING && addr < R_RX_RING + 16 * NHI_HOPS) {
        hop = (addr - R_RX_RING) / 16;
        nhi_ring_write(s, &s->rx[hop], false, hop, addr & 0xf, v);
    } else if (addr >= R_TX_OPTS && addr < R_TX_OPTS + 32 * NHI_HOPS) {
        hop = (addr - R_TX_OPTS) / 32;
        nhi_opts_write(s, &s->tx[hop], hop, addr & 0x1f, v, true);
    } else if (addr >= R_RX_OPTS && addr < R_RX_OPTS + 32 * NHI_HOPS) {
        hop = (addr - R_RX_OPTS) / 32;
        nhi_opts_write(s, &s->rx[hop], hop, addr & 0x1f, v, false);
    } else if (addr >= R_NOTIFY_CLEAR &&
               addr < R_NOTIFY_CLEAR + 4 * NOTIFY_REGS) {
        i = (addr - R_NOTIFY_CLEAR) / 4;
        s->notify &= ~((uint64_t)v << (32 * i));
        nhi_update_intx(s);
    } else if (addr >= R_INT_ENABLE && addr < R_INT_ENABLE + 4 * INT_REGS) {
        s->int_enable = v & ((1u << (2 * NHI_HOPS)) - 1);
        nhi_update_intx(s);
    } else if (addr >= R_INT_MASK_CLEAR &&
               addr < R_INT_MASK_CLEAR + 4 * INT_REGS) {
        s->int_enable &= ~v;
        nhi_update_intx(s);
    } else if (addr >= R_THROTTLE && addr < R_THROTTLE + 4 * NHI_VECTORS) {
        s->throttle[(addr - R_THROTTLE) / 4] = v & 0xffff;
    } else if (addr >= R_IVR && addr < R_IVR + 4 * IVR_REGS) {
        s->ivr[(addr - R_IVR) / 4] = v;
    } else {
        switch (addr) {
        case R_DMA_MISC:
            s->dma_misc = v;
            break;
        case R_RESET:
            /* the host router reset completes at once */
            break;
        case R_INMAIL_DATA:
            s->inmail_data = v;
            break;
        case R_INMAIL_CMD:
            nhi_mailbox(s, v);
            break;
        case R_FW_STS:
            /* the firmware keeps running whatever is asked */
            break;
        default:
            qemu_log_mask(LOG_UNIMP, "tb-nhi: write 0x%" HWADDR_PRIx
                          " = 0x%x ignored\n", addr, v);
        }
    }
}

static const MemoryRegionOps nhi_mmio_ops = {
    .read = nhi_read,
    .write = nhi_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
    .valid = { .min_access_size = 4, .max_access_size = 4 },
    .impl = { .min_access_size = 4, .max_access_size = 4 },
};

/* ---- device ---- */

static void nhi_reset(DeviceState *dev)
{
    TbNhiState *s = TB_NHI(dev);
    unsigned i;

    for (i = 0; i < NHI_HOPS; i++) {
        ring_reset(&s->tx[i], false);
        ring_reset(&s->rx[i], false);
    }
    while (!g_queue_is_empty(&s->ctl_backlog)) {
        g_free(g_queue_pop_head(&s->ctl_backlog));
    }
    s->notify = 0;
    s->int_enable = 0;
    memset(s->ivr, 0, sizeof(s->ivr));
    memset(s->throttle, 0, sizeof(s->throttle));
    memset(s->last_irq_ns, 0, sizeof(s->last_irq_ns));
    s->pending_vec = 0;
    s->dma_misc = 0;
    s->inmail_data = s->inmail_cmd = 0;
    s->fw_sts = FW_STS_ICM_EN | FW_STS_NVM_AUTH_DONE;
    s->driver_ready = s->xd_announced = s->host_up = false;
    s->ee_ctl = EE_PRESENT | EE_CS;
    s->ee_bits = s->ee_cmd = s->ee_out = 0;
    paths_clear(s);
}

static void nhi_realize(PCIDevice *pd, Error **errp)
{
    TbNhiState *s = TB_NHI(pd);
    unsigned i;

    pci_config_set_interrupt_pin(pd->config, 1);
    memory_region_init_io(&s->mmio, OBJECT(s), &nhi_mmio_ops, s,
                          "tb-nhi-mmio", NHI_BAR_SIZE);
    pci_register_bar(pd, 0, PCI_BASE_ADDRESS_SPACE_MEMORY |
                     PCI_BASE_ADDRESS_MEM_TYPE_64, &s->mmio);
    if (s->use_msix) {
        if (msix_init_exclusive_bar(pd, NHI_VECTORS, NHI_MSIX_BAR, errp)) {
            return;
        }
        for (i = 0; i < NHI_VECTORS; i++) {
            msix_vector_use(pd, i);
        }
    }
    if (msi_init(pd, 0, 1, true, false, errp)) {
        if (s->use_msix) {
            msix_uninit_exclusive_bar(pd);
        }
        return;
    }
    if (!s->uid) {
        s->uid = ((uint64_t)g_random_int() << 32 | g_random_int()) | 1;
    }
    /* The DROM starts with CRC8 of the UID, then the UID (LE) */
    stq_le_p(s->eeprom + 1, s->uid);
    s->eeprom[0] = tb_crc8(s->eeprom + 1, 8);

    for (i = 0; i < NHI_HOPS; i++) {
        g_queue_init(&s->tx[i].backlog);
        g_queue_init(&s->rx[i].backlog);
    }
    g_queue_init(&s->ctl_backlog);
    s->tx_bh = qemu_bh_new_guarded(nhi_tx_bh, s,
                                   &DEVICE(pd)->mem_reentrancy_guard);
    s->throttle_timer = timer_new_ns(QEMU_CLOCK_VIRTUAL, nhi_throttle_timer,
                                     s);
    s->link_wanted = true;
    s->shutdown.notify = nhi_shutdown_notify;
    qemu_register_shutdown_notifier(&s->shutdown);
    if (qemu_chr_fe_backend_connected(&s->chr)) {
        qemu_chr_fe_set_handlers(&s->chr, cable_can_receive, cable_receive,
                                 cable_event, NULL, s, NULL, true);
    }
    nhi_reset(DEVICE(pd));
}

static void nhi_print_stats(TbNhiState *s)
{
    GString *rings = g_string_new("");
    unsigned i;

    for (i = 0; i < NHI_HOPS; i++) {
        if (s->st.ring_tx[i] || s->st.ring_rx[i]) {
            g_string_append_printf(rings, " ring%u %" PRIu64 "/%" PRIu64, i,
                                   s->st.ring_tx[i], s->st.ring_rx[i]);
        }
    }
    fprintf(stderr, "tb-nhi[%" PRIx64 "] stats: mmio_reads %" PRIu64
            " mmio_writes %" PRIu64 " interrupts %" PRIu64 " throttled %"
            PRIu64 " tx_frames %" PRIu64 " rx_frames %" PRIu64
            " credit_stalls %" PRIu64 " tx_dropped %" PRIu64
            " rx_dropped %" PRIu64 " rx_pieces %" PRIu64
            " rx_backlogged %" PRIu64 " cable_tx %" PRIu64 " cable_rx %"
            PRIu64 " crc_errors %" PRIu64 " frames tx/rx:%s\n", s->uid,
            s->st.mmio_reads,
            s->st.mmio_writes, s->st.interrupts, s->st.throttled,
            s->st.tx_frames, s->st.rx_frames, s->st.credit_stalls,
            s->st.tx_dropped, s->st.rx_dropped, s->st.rx_pieces,
            s->st.rx_backlogged, s->st.cable_tx,
            s->st.cable_rx, s->st.crc_errors, rings->str);
    g_string_free(rings, true);
}

static void nhi_shutdown_notify(Notifier *n, void *data)
{
    TbNhiState *s = container_of(n, TbNhiState, shutdown);

    if (s->print_stats) {
        nhi_print_stats(s);
    }
}

static void nhi_exit(PCIDevice *pd)
{
    TbNhiState *s = TB_NHI(pd);
    unsigned i;

    if (s->print_stats) {
        nhi_print_stats(s);
    }
    notifier_remove(&s->shutdown);
    qemu_chr_fe_deinit(&s->chr, false);
    for (i = 0; i < NHI_HOPS; i++) {
        ring_reset(&s->tx[i], false);
        ring_reset(&s->rx[i], false);
    }
    while (!g_queue_is_empty(&s->ctl_backlog)) {
        g_free(g_queue_pop_head(&s->ctl_backlog));
    }
    qemu_bh_delete(s->tx_bh);
    timer_free(s->throttle_timer);
    msi_uninit(pd);
    if (s->use_msix) {
        msix_uninit_exclusive_bar(pd);
    }
}

static void nhi_instance_init(Object *obj)
{
    TbNhiState *s = TB_NHI(obj);
    static const struct {
        const char *name;
        size_t off;
    } stats[] = {
        { "stat-mmio-reads", offsetof(TbStats, mmio_reads) },
        { "stat-mmio-writes", offsetof(TbStats, mmio_writes) },
        { "stat-interrupts", offsetof(TbStats, interrupts) },
        { "stat-throttled", offsetof(TbStats, throttled) },
        { "stat-tx-frames", offsetof(TbStats, tx_frames) },
        { "stat-rx-frames", offsetof(TbStats, rx_frames) },
        { "stat-credit-stalls", offsetof(TbStats, credit_stalls) },
        { "stat-tx-dropped", offsetof(TbStats, tx_dropped) },
        { "stat-rx-backlogged", offsetof(TbStats, rx_backlogged) },
        { "stat-rx-dropped", offsetof(TbStats, rx_dropped) },
        { "stat-rx-pieces", offsetof(TbStats, rx_pieces) },
        { "stat-ctl-tx", offsetof(TbStats, ctl_tx) },
        { "stat-ctl-rx", offsetof(TbStats, ctl_rx) },
        { "stat-cable-tx", offsetof(TbStats, cable_tx) },
        { "stat-cable-rx", offsetof(TbStats, cable_rx) },
        { "stat-crc-errors", offsetof(TbStats, crc_errors) },
    };
    unsigned i;

    for (i = 0; i < ARRAY_SIZE(stats); i++) {
        object_property_add_uint64_ptr(obj, stats[i].name,
                                       (uint64_t *)((char *)&s->st +
                                                    stats[i].off),
                                       OBJ_PROP_FLAG_READ);
    }
    for (i = 0; i < NHI_HOPS; i++) {
        g_autofree char *tx = g_strdup_printf("stat-ring%u-tx", i);
        g_autofree char *rx = g_strdup_printf("stat-ring%u-rx", i);

        object_property_add_uint64_ptr(obj, tx, &s->st.ring_tx[i],
                                       OBJ_PROP_FLAG_READ);
        object_property_add_uint64_ptr(obj, rx, &s->st.ring_rx[i],
                                       OBJ_PROP_FLAG_READ);
    }
    object_property_add_bool(obj, "link", nhi_get_link, nhi_set_link);
}

static const VMStateDescription vmstate_tb_ring = {
    .name = "tb-nhi-ring",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (VMStateField[]) {
        VMSTATE_UINT64(base, TbRing),
        VMSTATE_UINT16(size, TbRing),
        VMSTATE_UINT16(frame_size, TbRing),
        VMSTATE_UINT16(sw, TbRing),
        VMSTATE_UINT16(hw, TbRing),
        VMSTATE_UINT32(opts, TbRing),
        VMSTATE_UINT32(opts1, TbRing),
        VMSTATE_END_OF_LIST()
    }
};

static const VMStateDescription vmstate_tb_nhi = {
    .name = "tb-nhi",
    .version_id = 1,
    .minimum_version_id = 1,
    .unmigratable = 1,          /* the cable state is not migrated */
    .fields = (VMStateField[]) {
        VMSTATE_PCI_DEVICE(parent_obj, TbNhiState),
        VMSTATE_MSIX(parent_obj, TbNhiState),
        VMSTATE_STRUCT_ARRAY(tx, TbNhiState, NHI_HOPS, 1, vmstate_tb_ring,
                             TbRing),
        VMSTATE_STRUCT_ARRAY(rx, TbNhiState, NHI_HOPS, 1, vmstate_tb_ring,
                             TbRing),
        VMSTATE_UINT64(notify, TbNhiState),
        VMSTATE_UINT32(int_enable, TbNhiState),
        VMSTATE_UINT32_ARRAY(ivr, TbNhiState, IVR_REGS),
        VMSTATE_UINT32_ARRAY(throttle, TbNhiState, NHI_VECTORS),
        VMSTATE_UINT32(dma_misc, TbNhiState),
        VMSTATE_UINT32(inmail_data, TbNhiState),
        VMSTATE_UINT32(inmail_cmd, TbNhiState),
        VMSTATE_BOOL(driver_ready, TbNhiState),
        VMSTATE_END_OF_LIST()
    }
};

static Property nhi_properties[] = {
    DEFINE_PROP_CHR("chardev", TbNhiState, chr),
    DEFINE_PROP_UINT64("uid", TbNhiState, uid, 0),
    DEFINE_PROP_UINT32("debug", TbNhiState, debug, 0),
    DEFINE_PROP_BOOL("stats", TbNhiState, print_stats, false),
    DEFINE_PROP_BOOL("msix", TbNhiState, use_msix, true),
    DEFINE_PROP_UINT32("crc-error-every", TbNhiState, crc_error_every, 0),
    DEFINE_PROP_END_OF_LIST(),
};

static void nhi_class_init(ObjectClass *klass, void *data)
{
    DeviceClass *dc = DEVICE_CLASS(klass);
    PCIDeviceClass *k = PCI_DEVICE_CLASS(klass);

    k->realize = nhi_realize;
    k->exit = nhi_exit;
    k->vendor_id = TB_NHI_VENDOR;
    k->device_id = TB_NHI_DEVICE;
    k->revision = 6;
    k->class_id = PCI_CLASS_SYSTEM_OTHER;
    dc->desc = "Intel Titan Ridge Thunderbolt 3 NHI with firmware CM";
    dc->reset = nhi_reset;
    dc->vmsd = &vmstate_tb_nhi;
    device_class_set_props(dc, nhi_properties);
    set_bit(DEVICE_CATEGORY_MISC, dc->categories);
}

static const TypeInfo nhi_info = {
    .name = TYPE_TB_NHI,
    .parent = TYPE_PCI_DEVICE,
    .instance_size = sizeof(TbNhiState),
    .instance_init = nhi_instance_init,
    .class_init = nhi_class_init,
    .interfaces = (InterfaceInfo[]) {
        { INTERFACE_CONVENTIONAL_PCI_DEVICE },
        { },
    },
};

static void nhi_register_types(void)
{
    type_register_static(&nhi_info);
}

type_init(nhi_register_types)
