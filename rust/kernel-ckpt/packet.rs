// SPDX-License-Identifier: GPL-2.0

//! Packet sockets (`AF_PACKET`, `SOCK_RAW` or `SOCK_DGRAM`): the protocol
//! whose frames a socket takes, the device it is bound to, its options
//! (the `SO_*` and `PACKET_*` entries of the image's `INET_OPTS` table),
//! its classic BPF filter, the counts `PACKET_STATISTICS` gives, and the
//! frames queued to it.
//!
//! C header: [`include/linux/checkpoint.h`](srctree/include/linux/checkpoint.h)
//! (`ckpt_packet_*`, in `net/packet/af_packet.c`; the options are read and
//! set by `ckpt_inet_opts` and `ckpt_inet_opt_set` of `net/ipv4/af_inet.c`).
//!
//! A socket is written once ([`PacketSock`], record `packet-sock`) before
//! its open file. What it may hold beyond that is refused at checkpoint
//! with its reason (`ckpt_packet_unsupported`): a ring (`PACKET_RX_RING`,
//! `PACKET_TX_RING`), a fanout group, memberships
//! (`PACKET_ADD_MEMBERSHIP`), virtio-net headers, a device that is down or
//! gone, a frame with a VLAN tag.
//!
//! Restart makes a new socket that takes no frames, as socket(2) with
//! protocol 0 does in its process's network namespace (`CAP_NET_RAW`
//! over it, with the task's credentials or the caller's, as a raw IP
//! socket's), sets its options as setsockopt(2) by the caller would,
//! attaches its filter, queues its frames again as they came, sets its
//! counts, and binds it to its protocol and its device, found by name, as
//! bind(2) by the caller would: only then does it take frames.

use crate::image::{
    ObjId, PacketFrame, PacketSockData, PacketSockObj, RecordType, FILE_PACKET,
    PACKET_FILTER_LOCKED, PACKET_FLAGS,
};
use crate::inet::Sk;
use crate::objhash::{ObjHash, ObjOps, ObjTable};
use crate::wrap::file::FileRef;
use crate::wrap::task::killable;
use crate::writer::ImageWriter;
use kernel::bindings;
use kernel::error::to_result;
use kernel::prelude::*;

// The image's flags are the C helpers'.
const _: () = assert!(
    crate::image::PACKET_RUNNING == bindings::CKPT_PACKET_RUNNING
        && PACKET_FILTER_LOCKED == bindings::CKPT_PACKET_FILTER_LOCKED
        && PACKET_FLAGS == bindings::CKPT_PACKET_RUNNING | bindings::CKPT_PACKET_FILTER_LOCKED
        && crate::image::PACKET_FRAME_FLAGS == bindings::CKPT_PACKET_FRAME_FLAGS
        && crate::image::PACKET_FRAME_CSUM_VALID == bindings::CKPT_PACKET_CSUM_VALID
        && crate::image::PACKET_FRAME_CSUM_PARTIAL == bindings::CKPT_PACKET_CSUM_PARTIAL
        && crate::image::PACKET_FRAME_GSO_TCPV4 == bindings::CKPT_PACKET_GSO_TCPV4
        && crate::image::PACKET_FRAME_GSO_TCPV6 == bindings::CKPT_PACKET_GSO_TCPV6
        && crate::image::PACKET_MAX_FRAME == bindings::CKPT_PACKET_MAX_FRAME
);

/// Whether `file` is a packet socket.
pub(crate) fn is_packet(file: &FileRef) -> bool {
    // SAFETY: the file is referenced; the helper reads its socket's family.
    unsafe { bindings::ckpt_file_is_packet(file.as_ptr()) }
}

/// The frames queued to `file`, as the checkpoint reads them: their
/// [`PacketFrame`] records, their bytes, how many; and in `st` the counts
/// `PACKET_STATISTICS` gives, read with them.
fn frames(file: &FileRef, st: &mut bindings::ckpt_packet) -> Result<(KVVec<u8>, KVVec<u8>, u32)> {
    let (mut nr, mut bytes) = (0u32, 0u32);
    // SAFETY: the file is referenced; the helper counts under the queue's
    // lock.
    to_result(unsafe { bindings::ckpt_packet_queue_len(file.as_ptr(), &mut nr, &mut bytes) })
        .inspect_err(|_| {
            ckpt_err!(
                "checkpoint: a packet socket holds a frame with a VLAN tag, of more than 64 KiB, or of bytes it cannot read (not carried yet)\n"
            );
        })?;
    let heads_len = u64::from(nr) * PacketFrame::LEN as u64;
    if nr > crate::image::PACKET_MAX_FRAMES
        || u64::from(bytes) + heads_len > u64::from(crate::image::TCP_CONN_MAX_QUEUE)
    {
        ckpt_err!(
            "checkpoint: a packet socket holds {} frames of {} bytes, more than an image record takes (not carried yet)\n",
            nr,
            bytes
        );
        return Err(crate::wrap::errno::eopnotsupp());
    }
    let n = usize::try_from(nr)?;
    // SAFETY: all-zero is a valid `ckpt_packet_frame`.
    let zero: bindings::ckpt_packet_frame = unsafe { core::mem::zeroed() };
    let mut raw = KVVec::from_elem(zero, n, GFP_KERNEL)?;
    let mut data = KVVec::from_elem(0u8, usize::try_from(bytes)?, GFP_KERNEL)?;
    // SAFETY: `raw` holds `nr` records and `data` `bytes` bytes, which the
    // helper fills under the queue's lock with its first frames, if they
    // are still those; it writes the counts in `st`.
    to_result(unsafe {
        bindings::ckpt_packet_queue(
            file.as_ptr(),
            raw.as_mut_ptr(),
            nr,
            data.as_mut_ptr(),
            bytes,
            st,
        )
    })
    .inspect_err(|_| {
        ckpt_err!("checkpoint: a packet socket's queue changed while it was saved: try again\n");
    })?;
    let mut heads = KVVec::with_capacity(n.saturating_mul(PacketFrame::LEN), GFP_KERNEL)?;
    for f in raw.iter() {
        heads.extend_from_slice(&image_frame(f).encode(), GFP_KERNEL)?;
    }
    Ok((heads, data, nr))
}

/// The packet socket kind of shared object.
pub(crate) struct PacketSock;

impl ObjOps for PacketSock {
    /// The socket's file.
    type Ref = FileRef;
    type Deps = ();

    fn key(file: &FileRef) -> usize {
        file.as_ptr() as usize
    }

    fn write_deps(_: &mut ImageWriter, _: &mut ObjHash, _: &FileRef) -> Result {
        Ok(())
    }

    /// The socket record: its state, options, filter and frames.
    fn write(w: &mut ImageWriter, file: &FileRef, id: ObjId, (): ()) -> Result {
        let sk = Sk::of_packet(file)?;
        // SAFETY: all-zero is a valid `ckpt_packet`.
        let mut st: bindings::ckpt_packet = unsafe { core::mem::zeroed() };
        // SAFETY: the socket is referenced; the helper reads it under its
        // lock.
        to_result(unsafe { bindings::ckpt_packet_get(sk.as_ptr(), &mut st) }).inspect_err(
            |_| {
                ckpt_err!(
                    "checkpoint: a packet socket's device went away or down while the image was written: try again\n"
                );
            },
        )?;
        let (mut tail, nr_opts) = crate::inet::opts(&sk)?;
        let nr_filter = crate::inet::filter(&sk, &mut tail)?;
        let (heads, data, nr_frames) = frames(file, &mut st)?;
        let len = PacketSockObj::LEN + tail.len() + heads.len() + data.len();
        if len > crate::image::MAX_PAYLOAD_LEN as usize {
            ckpt_err!(
                "checkpoint: a packet socket's record would take {} bytes, more than an image record takes (not carried yet)\n",
                len
            );
            return Err(crate::wrap::errno::eopnotsupp());
        }
        let rec = PacketSockObj {
            id,
            sock_type: st.type_,
            protocol: st.protocol,
            flags: st.flags,
            ifindex: st.ifindex,
            tp_packets: st.tp_packets,
            tp_drops: st.tp_drops,
            dev: st.dev,
            nr_opts,
            nr_filter,
            nr_frames,
            frame_bytes: u32::try_from(data.len())?,
        };
        w.record_parts(
            RecordType::PacketSock,
            &[&rec.encode(), &tail, &heads, &data],
        )
    }

    /// Nothing of its own: its open file, which the hash holds, keeps it.
    fn hold(_: FileRef) -> Option<FileRef> {
        None
    }
}

/// Restart: a packet socket, made, filled and bound as saved, for the file
/// record that takes it.
pub(crate) fn restore(objs: &mut ObjTable, s: &PacketSockObj, data: &PacketSockData<'_>) -> Result {
    let fail = |what: &'static str| {
        move |err: &Error| {
            ckpt_err!(
                "restart: cannot {} packet socket {} (protocol {:#06x} on {}) (error {})\n",
                what,
                s.id,
                s.protocol,
                if s.dev_str().is_empty() {
                    "every device"
                } else {
                    s.dev_str()
                },
                err.to_errno()
            );
        }
    };
    // SAFETY: the helper only reads its arguments and returns an ERR_PTR
    // or a file with a reference, which `from_made` takes over.
    let file = unsafe {
        FileRef::from_made(bindings::ckpt_inet_socket(
            crate::image::AF_PACKET,
            s.sock_type,
            0,
        ))
    }
    .inspect_err(fail("make"))?;
    for o in data.opts.iter() {
        killable()?;
        crate::inet::set_opt(&file, &o, &"packet", s.id)?;
    }
    let sk = Sk::of_packet(&file)?;
    crate::inet::attach_filter(
        &sk,
        data.filter_insns(),
        s.flags & PACKET_FILTER_LOCKED != 0,
    )
    .inspect_err(fail("attach the classic BPF filter (SO_ATTACH_FILTER) of"))?;
    // Its frames, queued again as they came, before it is bound: none
    // comes in ahead of them.
    for (f, bytes) in data.frames() {
        killable()?;
        let raw = kernel_frame(&f);
        // SAFETY: the file is referenced and `bytes` holds `f.len` bytes
        // (the image parser checked them), which the helper copies.
        to_result(unsafe { bindings::ckpt_packet_deliver(file.as_ptr(), &raw, bytes.as_ptr()) })
            .inspect_err(fail("queue the frames of"))?;
    }
    // SAFETY: all-zero is a valid `ckpt_packet`.
    let mut st: bindings::ckpt_packet = unsafe { core::mem::zeroed() };
    st.type_ = s.sock_type;
    st.protocol = s.protocol;
    st.flags = s.flags;
    st.ifindex = s.ifindex;
    st.tp_packets = s.tp_packets;
    st.tp_drops = s.tp_drops;
    st.dev = s.dev;
    // SAFETY: the file is referenced; the helper checks `st` (the device
    // name NUL terminated within it) and binds as bind(2) would.
    to_result(unsafe { bindings::ckpt_packet_bind(file.as_ptr(), &st) }).inspect_err(|e| {
        ckpt_err!(
            "restart: cannot bind packet socket {} to protocol {:#06x} on {} (error {}{})\n",
            s.id,
            s.protocol,
            if s.dev_str().is_empty() {
                "every device"
            } else {
                s.dev_str()
            },
            e.to_errno(),
            if e.to_errno() == -(bindings::ENODEV as i32) {
                ": no such device in its network namespace"
            } else if e.to_errno() == -(bindings::ENETDOWN as i32) {
                ": its device is down"
            } else {
                ""
            }
        );
    })?;
    objs.add_made(s.id, file, FILE_PACKET)
}

same_fields!(image_frame: bindings::ckpt_packet_frame => PacketFrame {
    len, origlen, protocol, ifindex, hatype, pkttype, halen, net_off, flags, csum_start,
    csum_offset, gso_size, addr, tstamp,
});
same_fields!(kernel_frame: PacketFrame => bindings::ckpt_packet_frame {
    len, origlen, protocol, ifindex, hatype, pkttype, halen, net_off, flags, csum_start,
    csum_offset, gso_size, addr, tstamp,
});
