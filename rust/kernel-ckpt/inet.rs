// SPDX-License-Identifier: GPL-2.0

//! TCP, UDP, UDP-Lite, ICMP ping and raw IP sockets of either family: TCP
//! sockets closed (bound or not), listening with the connections waiting
//! to be accepted ([`InetPending`], written right after their listener),
//! and connected, established or closing (FIN_WAIT1, FIN_WAIT2,
//! CLOSE_WAIT, LAST_ACK, CLOSING) with their queues; UDP, UDP-Lite, ping
//! and raw sockets, bound or connected, with their queued datagrams.
//!
//! C header: [`include/linux/checkpoint.h`](srctree/include/linux/checkpoint.h)
//! (`ckpt_inet_*`, in `net/ipv4/af_inet.c`).
//!
//! A socket is written once ([`InetSock`], record `inet-sock`) before its
//! open file, with its kind, its local address and port and how it came
//! by them (bound by bind(2), or picked by the kernel when it connected or
//! first sent), the address a datagram socket is connected to, the
//! backlog of a listener, the device it is bound to and its shutdown
//! bits, then the options whose values differ from a new socket's of its
//! kind (the image's `INET_OPTS` table: `SO_*`, `IP_*`, `IPV6_*`,
//! `TCP_*` options with an integer, a time or a linger value; a buffer
//! size only when the program set it).
//!
//! The socket must belong to its process's network namespace (checked
//! with the tree): restart makes it again in the restored process's,
//! which is the caller's, or a pod's own new one. Everything else the
//! socket may hold is refused at checkpoint with its reason
//! (`ckpt_inet_unsupported`): connections in a listener's handshake,
//! connects with TCP Fast Open, errors not read, corked datagrams, eBPF
//! filters, multicast source filters, IP options, options outside the
//! table.
//!
//! A connection's state and queues (`net/ipv4/tcp.c`, `ckpt_tcp_*`) follow
//! its record, with its urgent data; restart rebuilds it through TCP repair
//! mode and resumes it once every socket of the image is made ([`finish`]).
//!
//! A ping socket's port is its echo identifier; a raw socket has none (its
//! protocol is its own), only an address it is bound to. The datagrams a
//! socket holds are written with it, as recvmsg(2) would give them (an
//! IPv4 raw socket's with their IP header), and queued again at restart
//! as they came, before the socket is bound.
//!
//! Restart makes a new socket as socket(2) does in its network namespace
//! (a raw one needs `CAP_NET_RAW` over it, a ping one a group of its
//! `net.ipv4.ping_group_range`), sets the options as setsockopt(2) by
//! the caller would (those whose new value differs), binds it to its
//! device, binds it to its address and port (bind(2): the caller's port
//! privileges; `EADDRINUSE` when another socket holds them), connects it,
//! listens, and shuts down what was shut down. Each step failing names the
//! socket and its address.

use crate::image::{
    inet_opt_def, InetDgram, InetKind, InetOpt, InetPendingObj, InetSockData, InetSockObj,
    InetTcpConn, ObjId, RecordType, FILE_INET, INET_BOUND, INET_BOUND_ADDR, INET_CONNECTED,
    INET_CONNECTING, INET_FILTER_LOCKED, INET_LISTENING, INET_OPTS, INET_PORT_PICKED,
    INET_RCV_SHUTDOWN, TCP_CONN_CLOSING, TCP_CONN_FIN_IN, TCP_CONN_FIN_OUT, TCP_CONN_SACK,
    TCP_CONN_TSTAMP, TCP_CONN_URG_NOTYET, TCP_CONN_URG_OUT, TCP_CONN_URG_READ, TCP_CONN_URG_VALID,
    TCP_CONN_USEC_TS, TCP_CONN_WSCALE,
};
use crate::objhash::{ObjHash, ObjOps, ObjTable};
use crate::wrap::file::FileRef;
use crate::wrap::task::killable;
use crate::writer::ImageWriter;
use core::ptr::NonNull;
use kernel::bindings;
use kernel::error::to_result;
use kernel::prelude::*;

// The image's flags are the C helpers'.
const _: () = assert!(
    INET_BOUND == bindings::CKPT_INET_BOUND
        && INET_BOUND_ADDR == bindings::CKPT_INET_BOUND_ADDR
        && INET_LISTENING == bindings::CKPT_INET_LISTENING
        && INET_CONNECTED == bindings::CKPT_INET_CONNECTED
        && INET_CONNECTING == bindings::CKPT_INET_CONNECTING
        && INET_FILTER_LOCKED == bindings::CKPT_INET_FILTER_LOCKED
        && INET_PORT_PICKED == bindings::CKPT_INET_PORT_PICKED
        && TCP_CONN_SACK == bindings::CKPT_TCP_SACK
        && TCP_CONN_TSTAMP == bindings::CKPT_TCP_TSTAMP
        && TCP_CONN_WSCALE == bindings::CKPT_TCP_WSCALE
        && TCP_CONN_USEC_TS == bindings::CKPT_TCP_USEC_TS
        && TCP_CONN_FIN_IN == bindings::CKPT_TCP_FIN_IN
        && TCP_CONN_FIN_OUT == bindings::CKPT_TCP_FIN_OUT
        && TCP_CONN_CLOSING == bindings::CKPT_TCP_CLOSING
        && TCP_CONN_URG_VALID == bindings::CKPT_TCP_URG_VALID
        && TCP_CONN_URG_READ == bindings::CKPT_TCP_URG_READ
        && TCP_CONN_URG_NOTYET == bindings::CKPT_TCP_URG_NOTYET
        && TCP_CONN_URG_OUT == bindings::CKPT_TCP_URG_OUT
);

/// A TCP, UDP, UDP-Lite, ping or raw socket of the checkpointed tree, held.
///
/// # Invariants
///
/// The pointer carries a reference on the socket (`sock_hold`), which the
/// object releases when dropped.
pub(crate) struct Sk(NonNull<bindings::sock>);

impl Sk {
    /// The socket of `file`, a socket `is_inet` names.
    fn of(file: &FileRef) -> Result<Self> {
        // SAFETY: the file is referenced; the helper returns NULL or its
        // socket with a reference.
        let sk = unsafe { bindings::ckpt_inet_sock(file.as_ptr()) };
        // INVARIANT: a non-NULL result carries a reference.
        NonNull::new(sk).map(Self).ok_or(EINVAL)
    }

    /// The socket of `file`, a packet socket of a kind that is carried
    /// (`packet.rs`, which shares the options and the filter).
    pub(crate) fn of_packet(file: &FileRef) -> Result<Self> {
        // SAFETY: the file is referenced; the helper returns NULL or its
        // socket with a reference.
        let sk = unsafe { bindings::ckpt_packet_sock(file.as_ptr()) };
        // INVARIANT: a non-NULL result carries a reference.
        NonNull::new(sk).map(Self).ok_or(EINVAL)
    }

    /// Another reference to the same socket.
    fn hold(&self) -> Self {
        // SAFETY: the socket is referenced by `self`.
        unsafe { bindings::ckpt_inet_sock_hold(self.0.as_ptr()) };
        // INVARIANT: the reference just taken.
        Self(self.0)
    }

    pub(crate) fn as_ptr(&self) -> *mut bindings::sock {
        self.0.as_ptr()
    }
}

impl Drop for Sk {
    fn drop(&mut self) {
        // SAFETY: by the type invariant this object holds the reference.
        unsafe { bindings::ckpt_inet_sock_put(self.0.as_ptr()) };
    }
}

/// Checkpoint: the TCP listeners of the tree, each written before
/// anything else of the tree (a connection accepted from one has its
/// port, and restart binds a listener's port before the connections'),
/// and right after each, the connections waiting in its queue
/// ([`InetPending`]), in the order they wait.
pub(crate) fn dump_listeners(
    w: &mut ImageWriter,
    objs: &mut ObjHash,
    tasks: &[crate::wrap::task::TaskRef],
) -> Result {
    crate::fdtable::for_each_tree_file(tasks, |_, _, f| {
        // SAFETY: the file is referenced; the helper reads its socket's
        // kind and state.
        if !unsafe { bindings::ckpt_inet_listening(f.as_ptr()) } {
            return Ok(());
        }
        let first = objs.id_by_key::<InetSock>(InetSock::key(f)).is_none();
        let id = objs.id_of::<InetSock>(w, f.clone_ref())?;
        if first {
            write_pending(w, objs, f, id)?;
        }
        Ok(())
    })
}

/// Most connections a listener's queue may hold in an image (a backlog
/// of `SOMAXCONN`, 4096, and more than the default `net.core.somaxconn`).
const MAX_PENDING: u32 = 65536;

/// Checkpoint: every connection waiting in the queue of the listener
/// `file`, written already as `listener`, in order, right after it; the
/// queue is noted to be checked again at the end of the image.
fn write_pending(
    w: &mut ImageWriter,
    objs: &mut ObjHash,
    file: &FileRef,
    listener: ObjId,
) -> Result {
    let lsk = Sk::of(file)?;
    // SAFETY: the socket is referenced; with no room the helper only
    // counts.
    let n = unsafe { bindings::ckpt_inet_pending(lsk.as_ptr(), core::ptr::null_mut(), 0) };
    to_result(n)?;
    let n = u32::try_from(n).map_err(|_| EINVAL)?;
    if n > MAX_PENDING {
        ckpt_err!(
            "checkpoint: a TCP listener holds {} connections waiting to be accepted, more than an image takes ({}; not carried yet)\n",
            n,
            MAX_PENDING
        );
        return Err(crate::wrap::errno::eopnotsupp());
    }
    // Room for a few more that may come in meanwhile (from outside).
    let max = n.saturating_add(16).min(MAX_PENDING);
    let room = usize::try_from(max)?;
    let mut raw = KVVec::from_elem(core::ptr::null_mut(), room, GFP_KERNEL)?;
    let mut held = KVVec::with_capacity(room, GFP_KERNEL)?;
    // SAFETY: `raw` has room for `max` pointers, which the helper fills
    // with referenced sockets.
    let got = unsafe { bindings::ckpt_inet_pending(lsk.as_ptr(), raw.as_mut_ptr(), max) };
    to_result(got).inspect_err(|e| {
        if e.to_errno() == -(bindings::E2BIG as i32) {
            ckpt_err!("checkpoint: a TCP listener's queue grew while it was saved: try again\n");
        }
    })?;
    let got = usize::try_from(got).map_err(|_| EINVAL)?;
    for p in raw.iter().take(got) {
        // INVARIANT: the helper took a reference on each it gave.
        if let Some(sk) = NonNull::new(*p) {
            // Within the capacity reserved: no allocation.
            held.push(Sk(sk), GFP_KERNEL)?;
        }
    }
    let mut socks = KVVec::with_capacity(held.len(), GFP_KERNEL)?;
    for sk in held {
        killable()?;
        // SAFETY: the socket is referenced; the helper returns NULL or a
        // static string.
        let why = unsafe { bindings::ckpt_inet_sock_unsupported(sk.as_ptr()) };
        if !why.is_null() {
            // SAFETY: a static NUL-terminated string.
            let why = unsafe { CStr::from_char_ptr(why) };
            ckpt_err!(
                "checkpoint: a connection waiting in the queue of a TCP listener {}: not supported\n",
                why.to_str().unwrap_or("cannot be carried")
            );
            return Err(crate::wrap::errno::eopnotsupp());
        }
        socks.push(sk.as_ptr(), GFP_KERNEL)?;
        objs.id_of::<InetPending>(w, Child { sk, listener })?;
    }
    // The hash's list of connections holds each of them from here on.
    objs.add_queue(lsk, socks)
}

/// The datagrams queued to the UDP, ping or raw socket `file`, as the
/// checkpoint reads them: their [`InetDgram`] records, their payloads, how
/// many.
fn dgram_queue(file: &FileRef, what: &str) -> Result<(KVVec<u8>, KVVec<u8>, u32)> {
    let (mut nr, mut bytes) = (0u32, 0u32);
    // SAFETY: the file is referenced; the helper counts under the queues'
    // locks.
    to_result(unsafe { bindings::ckpt_inet_queue_len(file.as_ptr(), &mut nr, &mut bytes) })
        .inspect_err(|_| {
            ckpt_err!(
                "checkpoint: a {} socket holds a datagram that is neither IPv4 nor IPv6 of its family, or not as its protocol queues them\n",
                what
            );
        })?;
    let heads_len = u64::from(nr) * InetDgram::LEN as u64;
    if nr > crate::image::INET_MAX_DGRAMS
        || u64::from(bytes) + heads_len > u64::from(crate::image::TCP_CONN_MAX_QUEUE)
    {
        ckpt_err!(
            "checkpoint: a {} socket holds {} datagrams of {} bytes, more than an image record takes (not carried yet)\n",
            what,
            nr,
            bytes
        );
        return Err(crate::wrap::errno::eopnotsupp());
    }
    let n = usize::try_from(nr)?;
    // SAFETY: all-zero is a valid `ckpt_inet_dgram`.
    let zero: bindings::ckpt_inet_dgram = unsafe { core::mem::zeroed() };
    let mut raw = KVVec::from_elem(zero, n, GFP_KERNEL)?;
    let mut payloads = KVVec::from_elem(0u8, usize::try_from(bytes)?, GFP_KERNEL)?;
    // SAFETY: `raw` holds `nr` records and `payloads` `bytes` bytes, which
    // the helper fills under the queues' locks if they still hold that.
    to_result(unsafe {
        bindings::ckpt_inet_queue(
            file.as_ptr(),
            raw.as_mut_ptr(),
            nr,
            payloads.as_mut_ptr(),
            bytes,
        )
    })
    .inspect_err(|_| {
        ckpt_err!(
            "checkpoint: a {} socket's queue changed while it was saved: try again\n",
            what
        );
    })?;
    let mut heads = KVVec::with_capacity(n.saturating_mul(InetDgram::LEN), GFP_KERNEL)?;
    for d in raw.iter() {
        let rec = image_dgram(d);
        heads.extend_from_slice(&rec.encode(), GFP_KERNEL)?;
    }
    Ok((heads, payloads, nr))
}

/// A connection's state and queues, established or closing, as the
/// checkpoint reads them.
fn tcp_conn(sk: &Sk) -> Result<(bindings::ckpt_tcp, KVVec<u8>, KVVec<u8>)> {
    // SAFETY: all-zero is a valid `ckpt_tcp` (zeros).
    let mut st: bindings::ckpt_tcp = unsafe { core::mem::zeroed() };
    // SAFETY: the socket is referenced; the helper reads it under its
    // lock.
    to_result(unsafe { bindings::ckpt_tcp_get(sk.as_ptr(), &mut st) })?;
    // The bytes, less the FINs the sequence numbers count.
    let (send, recv) = (image_conn(&st).send_len(), image_conn(&st).recv_len());
    if u64::from(send) + u64::from(recv) > u64::from(crate::image::TCP_CONN_MAX_QUEUE) {
        ckpt_err!(
            "checkpoint: a TCP connection holds {} bytes to send and {} to read, more than an image record takes ({} in all; not carried yet)\n",
            send,
            recv,
            crate::image::TCP_CONN_MAX_QUEUE
        );
        return Err(crate::wrap::errno::eopnotsupp());
    }
    let mut sendq = KVVec::from_elem(0u8, usize::try_from(send)?, GFP_KERNEL)?;
    let mut recvq = KVVec::from_elem(0u8, usize::try_from(recv)?, GFP_KERNEL)?;
    for (q, is_send, len) in [(&mut sendq, true, send), (&mut recvq, false, recv)] {
        // SAFETY: the socket is referenced and `q` holds `len` bytes,
        // which the helper fills under the socket's lock if the queue is
        // still as `st` saw it.
        to_result(unsafe {
            bindings::ckpt_tcp_queue(sk.as_ptr(), &st, is_send, q.as_mut_ptr(), len)
        })
        .inspect_err(|_| {
            ckpt_err!("checkpoint: a TCP connection's queues changed while they were saved\n");
        })?;
    }
    Ok((st, sendq, recvq))
}

/// Whether `file` is a socket `ckpt_inet_unsupported` looks at: a socket
/// of another family than unix.
pub(crate) fn is_inet(file: &FileRef) -> bool {
    // SAFETY: the file is referenced; the helper reads its socket's kind.
    unsafe { bindings::ckpt_file_is_inet(file.as_ptr()) }
}

/// Checks that the C table of options and the image's agree, name by
/// name: an option set at restart is the one saved.
fn check_opt_table() -> Result {
    for def in INET_OPTS {
        // SAFETY: the helper returns NULL or a static string.
        let name = unsafe { bindings::ckpt_inet_opt_name(def.opt) };
        let same = !name.is_null()
            // SAFETY: a static NUL-terminated string.
            && unsafe { CStr::from_char_ptr(name) }.as_bytes() == name_of(def.name);
        if !same {
            ckpt_err!(
                "kernel-ckpt: socket option {} ({}) has another number in the kernel's table\n",
                def.opt,
                def.name
            );
            return Err(EINVAL);
        }
    }
    Ok(())
}

/// The name getsockopt(2) knows option `name` by in C: the timeouts are
/// their 64-bit forms there, the receive times' first two their `_OLD`
/// forms (what `SO_TIMESTAMP` and `SO_TIMESTAMPNS` are on 64-bit).
fn name_of(name: &str) -> &[u8] {
    match name {
        "SO_RCVTIMEO" => b"SO_RCVTIMEO_NEW",
        "SO_SNDTIMEO" => b"SO_SNDTIMEO_NEW",
        "SO_TIMESTAMP" => b"SO_TIMESTAMP_OLD",
        "SO_TIMESTAMPNS" => b"SO_TIMESTAMPNS_OLD",
        n => n.as_bytes(),
    }
}

/// A socket's record, `InetSockObj`, and its options followed by its
/// classic BPF filter's instructions, as the checkpoint reads them.
/// The options of `sk` (an IP or a packet socket) whose values differ
/// from a new socket's, as the image holds them ([`InetOpt`]s of the
/// table), and how many.
pub(crate) fn opts(sk: &Sk) -> Result<(KVec<u8>, u32)> {
    check_opt_table()?;
    let mut raw = KVec::from_elem(
        bindings::ckpt_inet_opt { opt: 0, value: 0 },
        INET_OPTS.len(),
        GFP_KERNEL,
    )?;
    let max = u32::try_from(raw.len()).map_err(|_| EINVAL)?;
    // SAFETY: `raw` has room for `max` options, which the helper fills.
    let n = unsafe { bindings::ckpt_inet_opts(sk.as_ptr(), raw.as_mut_ptr(), max) };
    to_result(n)?;
    let n = usize::try_from(n).map_err(|_| EINVAL)?;
    let mut opts = KVec::with_capacity(n.saturating_mul(InetOpt::LEN), GFP_KERNEL)?;
    for o in raw.iter().take(n) {
        opts.extend_from_slice(
            &InetOpt {
                opt: o.opt,
                value: o.value,
            }
            .encode(),
            GFP_KERNEL,
        )?;
    }
    Ok((opts, u32::try_from(n)?))
}

/// Restart: option `o` of the new socket `file` set as setsockopt(2) by
/// the caller would; a failure names the option and `what` socket `id`.
pub(crate) fn set_opt(
    file: &FileRef,
    o: &InetOpt,
    what: &dyn core::fmt::Display,
    id: ObjId,
) -> Result {
    let name = inet_opt_def(o.opt).map_or("?", |d| d.name);
    // SAFETY: the file is referenced; the helper checks the option's
    // number and value and calls setsockopt's path.
    to_result(unsafe { bindings::ckpt_inet_opt_set(file.as_ptr(), o.opt, o.value) }).inspect_err(
        |e| {
            ckpt_err!(
                "restart: cannot set {} to {} on {} socket {} (error {})\n",
                name,
                o.value,
                what,
                id,
                e.to_errno()
            );
        },
    )
}

fn sock_parts(sk: &Sk, id: ObjId) -> Result<(InetSockObj, KVec<u8>)> {
    // SAFETY: all-zero is a valid `ckpt_inet` (zeros).
    let mut st: bindings::ckpt_inet = unsafe { core::mem::zeroed() };
    // SAFETY: the socket is referenced; the helper reads it under its
    // lock, or fails for one that is not carried.
    to_result(unsafe { bindings::ckpt_inet_get(sk.as_ptr(), &mut st) })?;
    let (mut opts, nr_opts) = self::opts(sk)?;
    let nr_filter = filter(sk, &mut opts)?;
    let nr_groups = groups(sk, &mut opts)?;
    let rec = InetSockObj {
        id,
        family: st.family,
        sock_type: st.type_,
        protocol: st.protocol,
        flags: st.flags & crate::image::INET_FLAGS,
        shutdown: st.shutdown,
        backlog: st.backlog,
        lport: st.lport,
        rport: st.rport,
        laddr: st.laddr,
        raddr: st.raddr,
        dev: st.dev,
        nr_opts,
        nr_dgrams: 0,
        dgram_bytes: 0,
        nr_filter,
        nr_groups,
    };
    Ok((rec, opts))
}

/// The multicast groups `sk` joined, appended to `out` as the image holds
/// them ([`InetGroup`](crate::image::InetGroup)s), in the order its list
/// holds them (the last joined first); how many.
fn groups(sk: &Sk, out: &mut KVec<u8>) -> Result<u32> {
    let refuse = |_: &Error| {
        ckpt_err!(
            "checkpoint: a socket's multicast groups have source filters, are IPv4 ones on an IPv6 socket or a TCP socket's (not carried yet)\n"
        );
    };
    // SAFETY: the socket is referenced; with no room the helper checks
    // and counts its groups under RCU.
    let n = unsafe { bindings::ckpt_inet_groups(sk.as_ptr(), core::ptr::null_mut(), 0) };
    to_result(n).inspect_err(refuse)?;
    let max = u32::try_from(n).map_err(|_| EINVAL)?;
    if max == 0 {
        return Ok(0);
    }
    if max > crate::image::INET_MAX_GROUPS {
        ckpt_err!(
            "checkpoint: a socket joined {} multicast groups, more than an image record takes (not carried)\n",
            max
        );
        return Err(crate::wrap::errno::eopnotsupp());
    }
    // SAFETY: all-zero is a valid `ckpt_inet_group`.
    let zero: bindings::ckpt_inet_group = unsafe { core::mem::zeroed() };
    let mut raw = KVec::from_elem(zero, usize::try_from(max)?, GFP_KERNEL)?;
    // SAFETY: `raw` has room for `max` groups, which the helper fills
    // under RCU if the socket still has no more.
    let got = unsafe { bindings::ckpt_inet_groups(sk.as_ptr(), raw.as_mut_ptr(), max) };
    if got == -(bindings::E2BIG as i32) {
        ckpt_err!("checkpoint: a socket joined a multicast group while it was saved: try again\n");
        return Err(EAGAIN);
    }
    to_result(got).inspect_err(refuse)?;
    let n = usize::try_from(got).map_err(|_| EINVAL)?;
    for g in raw.iter().take(n) {
        out.extend_from_slice(&image_group(g).encode(), GFP_KERNEL)?;
    }
    u32::try_from(n).map_err(|_| EINVAL)
}

/// The classic BPF filter of `sk` (`SO_ATTACH_FILTER`), its instructions
/// appended to `out` as the image holds them; how many.
pub(crate) fn filter(sk: &Sk, out: &mut KVec<u8>) -> Result<u32> {
    // SAFETY: the socket is referenced; with no room the helper only
    // counts, under the socket's lock.
    let n = unsafe { bindings::ckpt_sk_filter_get(sk.as_ptr(), core::ptr::null_mut(), 0) };
    to_result(n).inspect_err(|_| {
        ckpt_err!("checkpoint: a socket's filter has no classic BPF program to save\n");
    })?;
    let len = u32::try_from(n).map_err(|_| EINVAL)?;
    if len == 0 {
        return Ok(0);
    }
    let zero = bindings::sock_filter {
        code: 0,
        jt: 0,
        jf: 0,
        k: 0,
    };
    let mut insns = KVec::from_elem(zero, usize::try_from(len)?, GFP_KERNEL)?;
    // SAFETY: `insns` has room for `len` instructions, which the helper
    // copies under the socket's lock if the filter still has that many.
    let got = unsafe { bindings::ckpt_sk_filter_get(sk.as_ptr(), insns.as_mut_ptr(), len) };
    if got != n {
        ckpt_err!("checkpoint: a socket's filter changed while it was saved: try again\n");
        return Err(EAGAIN);
    }
    for i in insns.iter() {
        out.extend_from_slice(&image_insn(i).encode(), GFP_KERNEL)?;
    }
    Ok(len)
}

/// Restart: the classic BPF filter `insns` (none: nothing but the lock)
/// attached to `sk` as setsockopt(`SO_ATTACH_FILTER`) attaches one, then
/// locked (`SO_LOCK_FILTER`) if `locked`.
pub(crate) fn attach_filter(
    sk: &Sk,
    insns: impl Iterator<Item = crate::image::InetFilterInsn>,
    locked: bool,
) -> Result {
    let mut raw = KVec::new();
    for i in insns {
        raw.push(kernel_insn(&i), GFP_KERNEL)?;
    }
    if raw.is_empty() && !locked {
        return Ok(());
    }
    let len = u32::try_from(raw.len())?;
    // SAFETY: the socket is referenced; `raw` holds `len` instructions,
    // which the helper copies and checks.
    to_result(unsafe { bindings::ckpt_sk_filter_attach(sk.as_ptr(), raw.as_ptr(), len, locked) })
}

/// The TCP, UDP, UDP-Lite, ping and raw socket kind of shared object.
pub(crate) struct InetSock;

impl ObjOps for InetSock {
    /// The socket's file.
    type Ref = FileRef;
    /// A connection's state and queues (established or closing), read
    /// first and noted, to be checked again at the end of the image.
    type Deps = Option<(bindings::ckpt_tcp, KVVec<u8>, KVVec<u8>)>;

    fn key(file: &FileRef) -> usize {
        file.as_ptr() as usize
    }

    fn write_deps(_: &mut ImageWriter, objs: &mut ObjHash, file: &FileRef) -> Result<Self::Deps> {
        // A socket not carried has nothing to note: its record says why.
        let Ok(sk) = Sk::of(file) else {
            return Ok(None);
        };
        // A connect(2) under way: noted, to be checked at the end.
        let mut isn = 0u32;
        // SAFETY: the socket is referenced; the helper reads its state
        // under its lock.
        if unsafe { bindings::ckpt_tcp_syn_sent(sk.as_ptr(), &mut isn) } {
            objs.add_syn_sent(sk, isn)?;
            return Ok(None);
        }
        // SAFETY: the file is referenced; the helper reads its socket's
        // kind and state.
        if !unsafe { bindings::ckpt_inet_established(file.as_ptr()) } {
            return Ok(None);
        }
        let conn = tcp_conn(&sk)?;
        objs.add_tcp(sk, conn.0)?;
        Ok(Some(conn))
    }

    /// The socket record: its state, then its options.
    fn write(w: &mut ImageWriter, file: &FileRef, id: ObjId, conn: Self::Deps) -> Result {
        let (rec, opts) = sock_parts(&Sk::of(file)?, id)?;
        let is_tcp = rec.kind() == Some(InetKind::Tcp);
        let tcp = is_tcp && rec.flags & INET_CONNECTED != 0;
        let Some((c, sendq, recvq)) = conn.filter(|_| tcp) else {
            if tcp {
                // Established since its deps were read: not saved.
                ckpt_err!(
                    "checkpoint: a TCP connection was made while the image was written: try again\n"
                );
                return Err(EAGAIN);
            }
            if is_tcp {
                return w.record_parts(RecordType::InetSock, &[&rec.encode(), &opts]);
            }
            let what = rec.kind().map_or("?", |k| k.title());
            let (heads, payloads, nr) = dgram_queue(file, what)?;
            let rec = InetSockObj {
                nr_dgrams: nr,
                dgram_bytes: u32::try_from(payloads.len()).map_err(|_| E2BIG)?,
                ..rec
            };
            return w.record_parts(
                RecordType::InetSock,
                &[&rec.encode(), &opts, &heads, &payloads],
            );
        };
        let conn = image_conn(&c);
        w.record_parts(
            RecordType::InetSock,
            &[&rec.encode(), &opts, &conn.encode(), &sendq, &recvq],
        )
    }

    /// Nothing of its own: its open file, which the hash holds, keeps it.
    fn hold(_: FileRef) -> Option<FileRef> {
        None
    }
}

/// A connection waiting in a listener's queue, as the checkpoint finds it
/// ([`write_pending`]): its socket and its listener's object id.
pub(crate) struct Child {
    sk: Sk,
    listener: ObjId,
}

/// The kind of shared object of a TCP connection waiting to be accepted:
/// record `inet-pending`, right after its listener's.
pub(crate) struct InetPending;

impl ObjOps for InetPending {
    type Ref = Child;
    /// Its state and queues, noted to be checked again at the end of the
    /// image, as an open connection's.
    type Deps = (bindings::ckpt_tcp, KVVec<u8>, KVVec<u8>);

    fn key(c: &Child) -> usize {
        c.sk.as_ptr() as usize
    }

    fn write_deps(_: &mut ImageWriter, objs: &mut ObjHash, c: &Child) -> Result<Self::Deps> {
        let conn = tcp_conn(&c.sk)?;
        objs.add_tcp(c.sk.hold(), conn.0)?;
        Ok(conn)
    }

    /// Its listener, then the connection as an `inet-sock` record holds
    /// one: the server has sent nothing on it (the helpers checked).
    fn write(w: &mut ImageWriter, c: &Child, id: ObjId, conn: Self::Deps) -> Result {
        let (rec, opts) = sock_parts(&c.sk, id)?;
        let (st, sendq, recvq) = conn;
        if rec.kind() != Some(InetKind::Tcp) || rec.flags & INET_CONNECTED == 0 || !sendq.is_empty()
        {
            return Err(EINVAL);
        }
        let head = InetPendingObj {
            listener: c.listener,
        };
        w.record_parts(
            RecordType::InetPending,
            &[
                &head.encode(),
                &rec.encode(),
                &opts,
                &image_conn(&st).encode(),
                &recvq,
            ],
        )
    }

    /// Nothing: the hash's list of connections holds its socket
    /// ([`ObjHash::add_tcp`]) until the checkpoint ends.
    fn hold(_: Child) -> Option<FileRef> {
        None
    }
}

/// The address and port of `addr`, `port` of the socket `rec`, shown in
/// restart's messages.
struct Shown<'a>(&'a InetSockObj, &'a [u8; 16], u32);

impl core::fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let Shown(s, a, port) = *self;
        if s.family == crate::image::AF_INET {
            let [a0, a1, a2, a3, ..] = *a;
            return write!(f, "{a0}.{a1}.{a2}.{a3}:{port}");
        }
        f.write_str("[")?;
        for (i, pair) in a.chunks_exact(2).enumerate() {
            let word = u16::from_be_bytes([
                pair.first().copied().unwrap_or(0),
                pair.get(1).copied().unwrap_or(0),
            ]);
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{word:x}")?;
        }
        write!(f, "]:{port}")
    }
}

/// The name of the socket `s`'s kind, shown in restart's messages.
struct Proto<'a>(&'a InetSockObj);

impl core::fmt::Display for Proto<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let s = self.0;
        f.write_str(s.kind().map_or("IP", |k| k.title()))?;
        if let Some(crate::image::InetKind::Raw(p)) = s.kind() {
            write!(f, " (protocol {p})")?;
        }
        if s.family == crate::image::AF_INET6 {
            f.write_str(" (IPv6)")?;
        }
        Ok(())
    }
}

/// The name of the socket `s`'s kind.
fn proto(s: &InetSockObj) -> Proto<'_> {
    Proto(s)
}

/// Restart: a TCP, UDP, UDP-Lite, ping or raw socket with its options, bound,
/// connected or listening as saved, for the file record that takes it.
pub(crate) fn restore(objs: &mut ObjTable, s: &InetSockObj, data: &InetSockData<'_>) -> Result {
    let file = make(objs, s, data)?;
    objs.add_made(s.id, file, FILE_INET)
}

/// Restart: a TCP connection that waited in the queue of listener
/// `p.listener` (made already), made as an open one is, and put in the
/// listener's queue once every connection is resumed ([`enqueue`]): no
/// file record takes it; accept(2) does.
pub(crate) fn restore_pending(
    objs: &mut ObjTable,
    p: &InetPendingObj,
    s: &InetSockObj,
    data: &InetSockData<'_>,
) -> Result {
    let listener = objs.made(p.listener, FILE_INET)?.clone_ref();
    let file = make(objs, s, data)?;
    // SAFETY: both files are referenced; the helper reads their sockets.
    to_result(unsafe { bindings::ckpt_inet_pending_check(listener.as_ptr(), file.as_ptr()) })
        .inspect_err(|_| {
            ckpt_err!(
                "restart: TCP connection {} cannot wait on socket {}: it is not a listener of the connection's family, address and port\n",
                s.id,
                p.listener
            );
        })?;
    objs.add_pending_inet(listener, file)?;
    objs.add(
        s.id,
        crate::objhash::Obj::Made {
            file: None,
            kind: FILE_INET,
        },
    )
}

/// Restart, at the end of the image, once every connection is resumed:
/// each connection that waited to be accepted put in its listener's queue,
/// in the order they waited, as the handshake's end puts one
/// (`ckpt_inet_enqueue`: its socket leaves the file restart made it in).
pub(crate) fn enqueue(pending: &[(FileRef, FileRef)]) -> Result {
    for (listener, child) in pending.iter() {
        killable()?;
        // SAFETY: both files are referenced; the helper checks they are a
        // listening TCP socket and a connection of its port and family.
        to_result(unsafe { bindings::ckpt_inet_enqueue(listener.as_ptr(), child.as_ptr()) })
            .inspect_err(|e| {
                ckpt_err!(
                    "restart: cannot put a TCP connection back in its listener's queue (error {})\n",
                    e.to_errno()
                );
            })?;
    }
    Ok(())
}

/// Restart, last: the TCP sockets whose connect(2) was under way connect
/// again, as connect(2) with `O_NONBLOCK` by the caller would (a new SYN
/// from the same address and port; the program's connect(2), restarted
/// or polled, waits for it as it waited for the first).
pub(crate) fn connect_all(connecting: &[(FileRef, [u8; 16], u32, ObjId)]) -> Result {
    for (file, addr, port, id) in connecting.iter() {
        killable()?;
        // SAFETY: the file is referenced and `addr` 16 bytes.
        to_result(unsafe { bindings::ckpt_tcp_connect_start(file.as_ptr(), addr.as_ptr(), *port) })
            .inspect_err(|e| {
                ckpt_err!(
                    "restart: cannot connect TCP socket {} again to port {} (error {})\n",
                    id,
                    port,
                    e.to_errno()
                );
            })?;
    }
    Ok(())
}

/// A socket of record `s`, made, set and connected as saved.
fn make(objs: &mut ObjTable, s: &InetSockObj, data: &InetSockData<'_>) -> Result<FileRef> {
    let opts = &data.opts;
    check_opt_table()?;
    let fail = |what: &'static str| {
        move |err: &Error| {
            ckpt_err!(
                "restart: cannot {} {} socket {} on {} (error {}{})\n",
                what,
                proto(s),
                s.id,
                Shown(s, &s.laddr, s.lport),
                err.to_errno(),
                if err.to_errno() == -(bindings::EADDRINUSE as i32) {
                    ": another socket holds the address and port"
                } else {
                    ""
                }
            );
        }
    };
    // SAFETY: the helper only reads its arguments and returns an ERR_PTR
    // or a file with a reference, which `from_made` takes over.
    let file = unsafe {
        FileRef::from_made(bindings::ckpt_inet_socket(
            s.family,
            s.sock_type,
            s.protocol,
        ))
    }
    .inspect_err(fail("make"))?;
    // SO_PRIORITY last: IP_TOS sets the priority its value maps to, which a
    // program may have changed after.
    let priority = |o: &InetOpt| inet_opt_def(o.opt).is_some_and(|d| d.name == "SO_PRIORITY");
    // A connection's own options that would change how it is rebuilt:
    // Fast Open would defer its connect(2) in repair mode, a low
    // TCP_NOTSENT_LOWAT would stop the sending of its bytes not sent
    // (set at the end, `finish`).
    let later = |o: &InetOpt| {
        data.tcp.is_some() && inet_opt_def(o.opt).is_some_and(|d| AFTER_RESUME.contains(&d.name))
    };
    let others = opts.iter().filter(|o| !priority(o) && !later(o));
    for o in Iterator::chain(others, opts.iter().filter(|o| priority(o) && !later(o))) {
        killable()?;
        set_opt(&file, &o, &proto(s), s.id)?;
    }
    if s.dev.first().is_some_and(|&c| c != 0) {
        // The image parser checked the name is NUL terminated within it.
        // SAFETY: the file is referenced and the name NUL terminated.
        to_result(unsafe { bindings::ckpt_inet_bind_dev(file.as_ptr(), s.dev.as_ptr().cast()) })
            .inspect_err(fail("bind to its device"))?;
    }
    // The datagrams it held, queued again as they came, before it is bound
    // and shut down: no datagram comes in ahead of them, but to a raw
    // socket, which takes its protocol's packets from when it is made (in
    // a pod's new network namespace, none comes before the pod runs).
    for (d, payload) in data.dgrams() {
        killable()?;
        let raw = kernel_dgram(&d);
        // SAFETY: the file is referenced and `payload` holds `d.len` bytes
        // (the image parser checked them), which the helper copies.
        to_result(unsafe { bindings::ckpt_inet_deliver(file.as_ptr(), &raw, payload.as_ptr()) })
            .inspect_err(fail("queue the datagrams of"))?;
    }
    // Its filter (and its lock), before it is bound: what comes after the
    // datagrams it held passes it.
    attach_filter(
        &Sk::of(&file)?,
        data.filter(),
        s.flags & INET_FILTER_LOCKED != 0,
    )
    .inspect_err(fail("attach the classic BPF filter (SO_ATTACH_FILTER) of"))?;
    // Its multicast groups, joined as setsockopt(2) by the caller joins
    // them, the first of its list last, so that its list is the same.
    for g in data.groups().rev() {
        killable()?;
        // SAFETY: the file is referenced and `addr` 16 bytes.
        to_result(unsafe {
            bindings::ckpt_inet_group_join(file.as_ptr(), g.addr.as_ptr(), g.ifindex)
        })
        .inspect_err(|e| {
            ckpt_err!(
                "restart: {} socket {} cannot join multicast group {} on device {} (error {}{})\n",
                proto(s),
                s.id,
                Shown(s, &g.addr, 0),
                g.ifindex,
                e.to_errno(),
                if e.to_errno() == -(bindings::ENODEV as i32) {
                    ": no such device in its network namespace"
                } else {
                    ""
                }
            );
        })?;
    }
    // A connection, established or closing: repair mode first, which the
    // caller's CAP_NET_ADMIN over the namespace allows; its connect(2) then
    // sends nothing.
    let conn = data
        .tcp
        .map(|(c, sendq, recvq)| (kernel_conn(&c), sendq, recvq));
    if let Some((st, _, _)) = &conn {
        // SAFETY: the file is referenced; the helper reads `st`.
        to_result(unsafe { bindings::ckpt_tcp_repair(file.as_ptr(), st) }).inspect_err(|e| {
            ckpt_err!(
                "restart: cannot put {} socket {} in repair mode to rebuild its connection to {} (error {}{})\n",
                proto(s),
                s.id,
                Shown(s, &s.raddr, s.rport),
                e.to_errno(),
                if e.to_errno() == -(bindings::EPERM as i32) {
                    ": it needs CAP_NET_ADMIN over its network namespace"
                } else {
                    ""
                }
            );
        })?;
    }
    // A connection, or one being opened: bound to its own address, whether
    // bound or picked.
    let own = conn.is_some() || s.flags & INET_CONNECTING != 0;
    if s.flags & (INET_BOUND | INET_BOUND_ADDR) != 0 {
        let any = [0u8; 16];
        let addr = if s.flags & INET_BOUND_ADDR != 0 || own {
            &s.laddr
        } else {
            &any
        };
        let picked = s.flags & INET_PORT_PICKED != 0;
        let addr_picked = own && s.flags & INET_BOUND_ADDR == 0;
        // SAFETY: the file is referenced and `addr` 16 bytes.
        to_result(unsafe {
            bindings::ckpt_inet_bind(file.as_ptr(), addr.as_ptr(), s.lport, picked, addr_picked)
        })
        .inspect_err(fail("bind"))?;
    }
    if s.flags & INET_CONNECTED != 0 {
        // SAFETY: the file is referenced and `raddr` 16 bytes.
        to_result(unsafe { bindings::ckpt_inet_connect(file.as_ptr(), s.raddr.as_ptr(), s.rport) })
            .inspect_err(|e| {
                ckpt_err!(
                    "restart: cannot connect {} socket {} to {} (error {})\n",
                    proto(s),
                    s.id,
                    Shown(s, &s.raddr, s.rport),
                    e.to_errno()
                );
            })?;
    }
    // Binding a connection (or one being opened) to its own IPv6 address
    // set IPV6_V6ONLY, which it did not have.
    if own
        && s.family == crate::image::AF_INET6
        && opts
            .iter()
            .any(|o| inet_opt_def(o.opt).is_some_and(|d| d.name == "IPV6_V6ONLY") && o.value == 0)
    {
        // SAFETY: the file is referenced.
        to_result(unsafe { bindings::ckpt_tcp_v6only_clear(file.as_ptr()) })
            .inspect_err(fail("clear IPV6_V6ONLY of the connection of"))?;
    }
    if let Some((st, sendq, recvq)) = conn {
        // The image parser checked the queues' lengths against `st`.
        let mut rcvbuf = 0u32;
        // SAFETY: the file is referenced; `recvq` holds the bytes `st`
        // counts, which the helper queues.
        to_result(unsafe {
            bindings::ckpt_tcp_fill(file.as_ptr(), &st, recvq.as_ptr(), &mut rcvbuf)
        })
        .inspect_err(|e| {
            ckpt_err!(
                "restart: cannot rebuild the connection of {} socket {} to {} (error {})\n",
                proto(s),
                s.id,
                Shown(s, &s.raddr, s.rport),
                e.to_errno()
            );
        })?;
        // The rest once every socket is made: its peer may come later.
        // The bytes are the caller's to account for.
        let mut bytes = KVVec::with_capacity(sendq.len(), GFP_KERNEL_ACCOUNT)?;
        bytes.extend_from_slice(sendq, GFP_KERNEL_ACCOUNT)?;
        let mut after = KVec::new();
        for o in opts.iter().filter(|o| {
            inet_opt_def(o.opt)
                .is_some_and(|d| d.name == "SO_REUSEADDR" || AFTER_RESUME.contains(&d.name))
        }) {
            after.push(o, GFP_KERNEL)?;
        }
        objs.add_repairing(Repairing {
            file: file.clone_ref(),
            id: s.id,
            st,
            sendq: bytes,
            rcvbuf,
            sndbuf: 0,
            after,
        })?;
    }
    if s.flags & INET_LISTENING != 0 {
        // SAFETY: the file is referenced.
        to_result(unsafe { bindings::ckpt_inet_listen(file.as_ptr(), s.backlog) })
            .inspect_err(fail("listen on"))?;
    }
    // Its connect(2) again once every socket is made and every listener's
    // queue refilled, so that its SYN meets them as it did.
    if s.flags & INET_CONNECTING != 0 {
        objs.add_connecting(file.clone_ref(), s.raddr, s.rport, s.id)?;
    }
    // A connection's FINs are its shutdown for writing, and for reading
    // once the peer's came: its repair's end and resumption see to them.
    let shutdown = match data.tcp {
        Some((c, _, _)) if c.flags & TCP_CONN_FIN_IN != 0 => 0,
        Some(_) => s.shutdown & INET_RCV_SHUTDOWN,
        None => s.shutdown,
    };
    // SAFETY: the file is referenced.
    to_result(unsafe { bindings::ckpt_inet_shutdown(file.as_ptr(), shutdown) })
        .inspect_err(fail("shut down"))?;
    Ok(file)
}

/// A connection's options set once it is rebuilt (see `restore`).
const AFTER_RESUME: [&str; 3] = [
    "TCP_FASTOPEN_CONNECT",
    "TCP_FASTOPEN_NO_COOKIE",
    "TCP_NOTSENT_LOWAT",
];

/// A connection restart left in repair mode, sending
/// nothing, until every socket of the image is made ([`finish`]).
pub(crate) struct Repairing {
    file: FileRef,
    id: ObjId,
    st: bindings::ckpt_tcp,
    /// Its send queue: the bytes sent and not acknowledged, then the bytes
    /// not sent yet.
    sendq: KVVec<u8>,
    /// Its buffer sizes before they grew to take its queues.
    rcvbuf: u32,
    sndbuf: u32,
    /// Options set once it is rebuilt: `SO_REUSEADDR`, which repair
    /// mode's end resets, and [`AFTER_RESUME`]'s.
    after: KVec<InetOpt>,
}

/// Restart, at the end of the image, before any task runs: every
/// connection's bytes sent and not acknowledged queued as sent, while all
/// are still in repair mode (an end resumed first would otherwise send
/// segments its peer takes for data never sent); then each one's repair
/// mode off (a window probe to a peer that exists now), its bytes not sent
/// yet sent, and its last options.
pub(crate) fn finish(conns: &mut [Repairing]) -> Result {
    let fail = |id: ObjId, what: &'static str| {
        move |e: &Error| {
            ckpt_err!(
                "restart: cannot {} the TCP connection of socket {} (error {})\n",
                what,
                id,
                e.to_errno()
            );
        }
    };
    for r in conns.iter_mut() {
        killable()?;
        // SAFETY: the file is referenced; `sendq` holds the bytes `st`
        // counts (checked by the image parser), which the helper queues.
        to_result(unsafe {
            bindings::ckpt_tcp_queue_sent(r.file.as_ptr(), &r.st, r.sendq.as_ptr(), &mut r.sndbuf)
        })
        .inspect_err(fail(r.id, "queue the bytes sent on"))?;
    }
    for r in conns.iter() {
        killable()?;
        // SAFETY: as above; the helper sends the bytes past snd_nxt.
        to_result(unsafe {
            bindings::ckpt_tcp_resume(r.file.as_ptr(), &r.st, r.sendq.as_ptr(), r.sndbuf, r.rcvbuf)
        })
        .inspect_err(fail(r.id, "resume"))?;
        for o in r.after.iter() {
            // SAFETY: the file is referenced; the helper checks the option.
            to_result(unsafe { bindings::ckpt_inet_opt_set(r.file.as_ptr(), o.opt, o.value) })
                .inspect_err(fail(r.id, "set an option of"))?;
        }
    }
    Ok(())
}

/// Checkpoint, before the image's end: every listener's queue and every
/// connection saved is still as it was saved (`-EAGAIN` if one moved on:
/// bytes delivered from one end to the other after one of them was saved
/// would be in neither, and a connection accepted or come since would be
/// in two places or none).
pub(crate) fn check_same(objs: &ObjHash) -> Result {
    for (lsk, socks) in objs.queues() {
        killable()?;
        let n = u32::try_from(socks.len()).map_err(|_| EINVAL)?;
        // SAFETY: the listener is referenced, and so is each connection
        // (the list of connections holds them); the helper compares them
        // with its queue under its locks.
        if !unsafe { bindings::ckpt_inet_pending_same(lsk.as_ptr(), socks.as_ptr(), n) } {
            ckpt_err!(
                "checkpoint: a TCP listener's queue changed while the image was written (a connection came, or was accepted outside the tree): try again\n"
            );
            return Err(EAGAIN);
        }
    }
    for (sk, isn) in objs.syn_sent() {
        killable()?;
        // SAFETY: the socket is referenced; the helper compares under its
        // lock.
        if !unsafe { bindings::ckpt_tcp_syn_sent_same(sk.as_ptr(), *isn) } {
            ckpt_err!(
                "checkpoint: a TCP connection being opened moved on while the image was written: try again\n"
            );
            return Err(EAGAIN);
        }
    }
    for (sk, st) in objs.tcp() {
        killable()?;
        // SAFETY: the socket is referenced; the helper compares under its
        // lock.
        if !unsafe { bindings::ckpt_tcp_same(sk.as_ptr(), st) } {
            ckpt_err!(
                "checkpoint: a TCP connection moved on while the image was written (a peer outside the tree, or a retransmission): try again\n"
            );
            return Err(EAGAIN);
        }
    }
    Ok(())
}

/// Checkpoint with `CHECKPOINT_TCP_SILENT`, before the image's tail:
/// whether the caller may put every saved connection in repair mode, so
/// that the tree's kill closes it without a word to its peer (all or
/// none: `CAP_NET_ADMIN` over each one's namespace, else `-EPERM` with
/// nothing changed).
pub(crate) fn can_silence(objs: &ObjHash) -> Result {
    for (sk, _) in objs.tcp() {
        // SAFETY: the socket is referenced; the helper checks as
        // setsockopt(TCP_REPAIR) does.
        if !unsafe { bindings::ckpt_tcp_can_silence(sk.as_ptr()) } {
            ckpt_err!(
                "checkpoint: the tree's TCP connections cannot be closed silently for the kill: that needs CAP_NET_ADMIN over their network namespace\n"
            );
            return Err(EPERM);
        }
    }
    Ok(())
}

/// Puts every saved TCP connection in repair mode (`CHECKPOINT_TCP_SILENT`),
/// once [`can_silence`] allowed it for all of them.
pub(crate) fn silence(objs: &ObjHash) -> Result {
    for (sk, _) in objs.tcp() {
        // SAFETY: the socket is referenced; the helper does what
        // setsockopt(TCP_REPAIR) does, under its lock.
        to_result(unsafe { bindings::ckpt_tcp_silence(sk.as_ptr()) })?;
    }
    Ok(())
}

/// Defines `$name`, which makes a `$to` of a `$from` field by field: the
/// C helpers' structs and the image's records hold the same fields.
macro_rules! same_fields {
    ($name:ident: $from:ty => $to:path { $($f:ident),* $(,)? }) => {
        fn $name(c: &$from) -> $to {
            $to { $($f: c.$f),* }
        }
    };
}

same_fields!(image_conn: bindings::ckpt_tcp => InetTcpConn {
    snd_una, snd_nxt, write_seq, rcv_nxt, copied_seq, snd_wl1, snd_wnd, max_window, rcv_wnd,
    rcv_wup, mss_clamp, snd_wscale, rcv_wscale, flags, timestamp, sndbuf, rcvbuf, rcv_ssthresh,
    urg_seq, snd_up, urg_byte,
});
same_fields!(kernel_conn: InetTcpConn => bindings::ckpt_tcp {
    snd_una, snd_nxt, write_seq, rcv_nxt, copied_seq, snd_wl1, snd_wnd, max_window, rcv_wnd,
    rcv_wup, mss_clamp, snd_wscale, rcv_wscale, flags, timestamp, sndbuf, rcvbuf, rcv_ssthresh,
    urg_seq, snd_up, urg_byte,
});
same_fields!(image_insn: bindings::sock_filter => crate::image::InetFilterInsn { code, jt, jf, k });
same_fields!(kernel_insn: crate::image::InetFilterInsn => bindings::sock_filter {
    code, jt, jf, k
});
same_fields!(image_group: bindings::ckpt_inet_group => crate::image::InetGroup { addr, ifindex });
same_fields!(image_dgram: bindings::ckpt_inet_dgram => InetDgram {
    family, len, sport, dport, ttl, tos, saddr, daddr, tstamp,
});
same_fields!(kernel_dgram: InetDgram => bindings::ckpt_inet_dgram {
    family, len, sport, dport, ttl, tos, saddr, daddr, tstamp,
});
