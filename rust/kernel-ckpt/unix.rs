// SPDX-License-Identifier: GPL-2.0

//! Unix sockets: connected pairs with the messages queued to each end,
//! and sockets on their own (bound, listening or not) with theirs.
//!
//! C header: [`include/net/af_unix.h`](srctree/include/net/af_unix.h).
//!
//! A connected unix socket without an address (what socketpair(2) makes)
//! is carried with its peer as one shared object ([`UnixPair`],
//! `objects.rs`), written once, before the open file of either end, with
//! both ends' state: type, shutdown bits, `SO_PASSCRED`, `SO_SNDBUF` and
//! `SO_RCVBUF` when set, and the messages queued to each end and not read
//! yet, with their boundaries. A unix socket sends straight into its
//! peer's receive queue, so those queues are all the bytes in flight.
//! Both ends must be open in the tree (checked before anything is
//! written, [`check_peers`]), or the peer closed. An end of an accepted
//! connection has its listener's address without having bound it; it
//! gets the name again, not a binding.
//!
//! A socket that is not connected ([`UnixSock`]: a listener, a datagram
//! receiver such as syslogd's `/dev/log`, a socket not used yet) is
//! written on its own with its address, the permission bits of its
//! socket file, its backlog and the datagrams queued to it. Restart binds
//! it again as the caller (a socket file left at the path by the killed
//! tree, which no socket is bound to, is unlinked first), restores the
//! file's permission bits, listens, and sends it its datagrams from an
//! unnamed sender, as they were sent.
//!
//! A connection waiting in a listener's queue to be accepted
//! ([`UnixPending`]) is written right after its listener, the connections
//! in the order they wait, with its client's state and what the client
//! sent. Its client must be open in the tree, or closed; a client in the
//! tree waiting on a listener outside it is refused ([`pending`], before
//! anything is written). Restart connects a new socket to the restored
//! listener as connect(2) to its address would, sends what the client
//! sent, shuts down what the client shut down, and closes it again if it
//! was closed: accept(2) then takes the connections in the same order.
//!
//! Restart makes a new pair as socketpair(2) does, sets the buffer sizes,
//! sends each end's messages to it through the other end (the ordinary
//! send path: boundaries kept, the caller's limits apply, nothing blocks),
//! then sets `SO_PASSCRED` (after the sends, so no end is autobound) and
//! shuts down what was shut down. An end that was closed is closed again
//! once its peer's messages are queued, as it was. Out-of-band bytes and
//! the other cases `ckpt_unix_unsupported` names are refused at
//! checkpoint with their reason.
//!
//! Descriptors in flight (sent with `SCM_RIGHTS`, not received yet) are
//! saved with the message that carries them: each file an object of its
//! own, written before the socket (an open file of the tree is the same
//! object). Only files that need no look at the rest of the tree may be
//! in flight ([`in_flight_refusal`]: not sockets, epoll sets, terminals,
//! inotify instances, pidfds or namespace files, nor files that are
//! locked or signal their I/O). Restart sends each message with its
//! files again as an `SCM_RIGHTS` message, the files held by the
//! restarting task as descriptors for the send: the in-flight limits
//! and `RLIMIT_NOFILE` apply as they would to the sender.

use crate::image::{
    ObjId, RecordType, UnixEnd, UnixEndData, UnixFdInFlight, UnixPairObj, UnixPendingObj,
    UnixSockObj, FILE_UNIX, UNIX_BOUND, UNIX_CLOSED, UNIX_LISTENING, UNIX_NAMED, UNIX_PASSCRED,
};
use crate::objhash::{Obj, ObjHash, ObjOps, ObjTable};
use crate::open_file::OpenFile;
use crate::wrap::file::FileRef;
use crate::wrap::task::{killable, TaskRef};
use crate::writer::ImageWriter;
use core::ptr::NonNull;
use kernel::bindings;
use kernel::error::to_result;
use kernel::prelude::*;

/// A carried unix socket as the checkpoint reads it: its state, and its
/// peer's open file unless the peer was closed.
pub(crate) struct Probe {
    file: FileRef,
    st: bindings::ckpt_unix,
    peer: Option<FileRef>,
}

impl Probe {
    /// The state of the unix socket `file`; `EOPNOTSUPP` for a socket that
    /// is not carried.
    pub(crate) fn of(file: &FileRef) -> Result<Self> {
        // SAFETY: all-zero is a valid `ckpt_unix` (null pointers, zeros).
        let mut st: bindings::ckpt_unix = unsafe { core::mem::zeroed() };
        // SAFETY: the file is referenced; the helper takes the socket's
        // locks and, on success, a reference on the peer's file.
        to_result(unsafe { bindings::ckpt_unix_get(file.as_ptr(), &mut st) })?;
        // SAFETY: the helper's reference passes to us.
        let peer = NonNull::new(st.peer_file).map(|f| unsafe { FileRef::from_raw(f) });
        st.peer_file = core::ptr::null_mut();
        Ok(Self {
            file: file.clone_ref(),
            st,
            peer,
        })
    }

    /// Whether it is connected (its peer may have been closed since).
    pub(crate) fn is_connected(&self) -> bool {
        !self.st.peer.is_null()
    }

    /// Whether it listens.
    pub(crate) fn is_listening(&self) -> bool {
        self.st.flags & bindings::CKPT_UNIX_LISTENING != 0
    }

    /// The key of its connection waiting in a listener's queue, if it is
    /// the client of one.
    pub(crate) fn pending_key(&self) -> Option<usize> {
        (self.st.flags & bindings::CKPT_UNIX_PEER_PENDING != 0).then_some(self.st.peer as usize)
    }

    /// Whether this socket is end 1 of its pair (end 0 is at the lower
    /// address).
    pub(crate) fn is_end1(&self) -> bool {
        (self.st.sk as usize) > (self.st.peer as usize)
    }

    fn end(&self) -> UnixEnd {
        let mut flags = 0;
        for (c, image) in [
            (bindings::CKPT_UNIX_PASSCRED, UNIX_PASSCRED),
            (bindings::CKPT_UNIX_NAMED, UNIX_NAMED),
            (bindings::CKPT_UNIX_BOUND, UNIX_BOUND),
            (bindings::CKPT_UNIX_LISTENING, UNIX_LISTENING),
        ] {
            if self.st.flags & c != 0 {
                flags |= image;
            }
        }
        UnixEnd {
            shutdown: self.st.shutdown,
            flags,
            sndbuf: self.st.sndbuf,
            rcvbuf: self.st.rcvbuf,
            nr_msgs: self.st.nr_msgs,
            data_len: self.st.bytes,
            name_len: self.st.name_len,
            mode: if flags & UNIX_BOUND != 0 {
                self.st.mode
            } else {
                0
            },
            backlog: self.st.backlog,
            nr_fds: self.st.nr_fds,
        }
    }

    /// Its name (`sun_path` as bound), empty without an address.
    fn name(&self) -> &[u8] {
        let len = usize::try_from(self.st.name_len).unwrap_or(0);
        self.st.name.get(..len).unwrap_or(&[])
    }

    /// The messages queued to it.
    fn queue(&self) -> Result<Queue> {
        // A listener's queue holds its waiting connections, each saved on
        // its own (`UnixPending`).
        if self.is_listening() {
            return Ok(Queue::empty());
        }
        // SAFETY: the socket is referenced by `self.file`.
        unsafe { sk_queue(&self.st) }
    }
}

/// The messages queued to a socket, as saved.
pub(crate) struct Queue {
    /// Their lengths (little-endian u32s).
    lens: KVVec<u8>,
    /// Their bytes.
    data: KVVec<u8>,
    /// How many descriptors each carries in flight.
    nfds: KVVec<u32>,
    /// Those descriptors' files, in order.
    files: KVVec<FileRef>,
}

impl Queue {
    fn empty() -> Self {
        Self {
            lens: KVVec::new(),
            data: KVVec::new(),
            nfds: KVVec::new(),
            files: KVVec::new(),
        }
    }

    /// Writes the files in flight (each an open file object, unless it
    /// was written already) and gives their [`UnixFdInFlight`] records.
    ///
    /// The queue was read again for the image, after the checks of the
    /// tree ([`pending`]): a sender outside the tree (to a bound socket)
    /// may have put other files in flight since. So each file written is
    /// checked again here, on its own (`-EOPNOTSUPP` for one that is not
    /// carried in flight: a socket, which could carry more, among them).
    fn write_files(&self, w: &mut ImageWriter, objs: &mut ObjHash) -> Result<KVVec<u8>> {
        let mut out = KVVec::new();
        let mut files = self.files.iter();
        // The checkpointing task: the tests of a file in flight that need
        // a task (its namespace files, its table's POSIX locks) refuse
        // those files whichever task is named.
        let me = TaskRef::current_ref();
        for (msg, &n) in self.nfds.iter().enumerate() {
            for _ in 0..n {
                killable()?;
                let file = files.next().ok_or(EINVAL)?;
                if let Some(why) = crate::open_file::in_flight_unsupported(&me, file)? {
                    ckpt_err!(
                        "checkpoint: a unix socket carries in flight (SCM_RIGHTS) a file that {} (sent while the image was written): not supported\n",
                        why
                    );
                    return Err(crate::wrap::errno::eopnotsupp());
                }
                let rec = UnixFdInFlight {
                    msg: u32::try_from(msg).map_err(|_| E2BIG)?,
                    file: objs.id_of::<OpenFile>(w, file.clone_ref())?,
                };
                out.extend_from_slice(&rec.encode(), GFP_KERNEL)?;
            }
        }
        Ok(out)
    }
}

/// The messages queued to the socket `st` describes, which
/// `ckpt_unix_get` or `ckpt_unix_pending_get` counted, with the files in
/// flight in them.
///
/// # Safety
///
/// `st.sk` must be a unix socket the caller holds a reference on.
unsafe fn sk_queue(st: &bindings::ckpt_unix) -> Result<Queue> {
    let nr = usize::try_from(st.nr_msgs).map_err(|_| E2BIG)?;
    let len = usize::try_from(st.bytes).map_err(|_| E2BIG)?;
    let nr_files = usize::try_from(st.nr_fds).map_err(|_| E2BIG)?;
    if st.nr_msgs > UnixPairObj::MAX_MSGS || st.nr_fds > UnixPairObj::MAX_FDS {
        ckpt_err!(
            "checkpoint: a unix socket holds {} messages and {} descriptors in flight, more than {} and {}\n",
            nr,
            nr_files,
            UnixPairObj::MAX_MSGS,
            UnixPairObj::MAX_FDS
        );
        return Err(E2BIG);
    }
    let mut lens = KVVec::from_elem(0u32, nr, GFP_KERNEL)?;
    let mut nfds = KVVec::from_elem(0u32, nr, GFP_KERNEL)?;
    let mut data = KVVec::from_elem(0u8, len, GFP_KERNEL)?;
    let mut raw = KVVec::from_elem(
        core::ptr::null_mut::<bindings::file>(),
        nr_files,
        GFP_KERNEL,
    )?;
    let mut files = KVVec::with_capacity(nr_files, GFP_KERNEL)?;
    // SAFETY: the caller guarantees a referenced socket; the buffers hold
    // what was counted, and the helper copies under the queue's lock,
    // failing (with no file referenced) if the queue is no longer that.
    to_result(unsafe {
        bindings::ckpt_unix_sk_queue(
            st.sk,
            data.as_mut_ptr(),
            st.bytes,
            lens.as_mut_ptr(),
            nfds.as_mut_ptr(),
            st.nr_msgs,
            raw.as_mut_ptr(),
            st.nr_fds,
        )
    })
    .inspect_err(|_| {
        ckpt_err!("checkpoint: a unix socket's queue changed while it was saved\n");
    })?;
    for f in raw.iter() {
        // SAFETY: on success every slot holds a file with a reference the
        // helper took, which passes to us (`files` has room: no failure
        // can leak one).
        if let Some(f) = NonNull::new(*f).map(|f| unsafe { FileRef::from_raw(f) }) {
            files.push(f, GFP_KERNEL)?;
        }
    }
    let mut lens_bytes = KVVec::with_capacity(nr.checked_mul(4).ok_or(E2BIG)?, GFP_KERNEL)?;
    for l in lens.iter() {
        lens_bytes.extend_from_slice(&l.to_le_bytes(), GFP_KERNEL)?;
    }
    Ok(Queue {
        lens: lens_bytes,
        data,
        nfds,
        files,
    })
}

/// Refuses a tree where a carried unix socket's peer is open outside it:
/// every socket of the tree's descriptor tables, and every open peer of
/// one, must be among them. Returns the task, descriptor and path of the
/// first socket whose peer is not.
pub(crate) fn check_peers(tasks: &[TaskRef]) -> Result<Option<(usize, u32, KVec<u8>)>> {
    // (socket, its peer or 0 if closed, task index, fd)
    let mut socks: KVVec<(usize, usize, usize, u32)> = KVVec::new();
    crate::fdtable::for_each_tree_file(tasks, |i, fd, f| {
        if f.mode() & 0o170000 != 0o140000 || crate::inet::is_inet(f) {
            return Ok(());
        }
        let p = Probe::of(f)?;
        if !p.is_connected() {
            return Ok(());
        }
        let peer = if p.peer.is_some() {
            p.st.peer as usize
        } else {
            0
        };
        socks.push((p.st.sk as usize, peer, i, fd), GFP_KERNEL)?;
        Ok(())
    })?;
    let mut keys = KVVec::with_capacity(socks.len(), GFP_KERNEL)?;
    for s in socks.iter() {
        keys.push(s.0, GFP_KERNEL)?;
    }
    keys.sort_unstable();
    for &(_, peer, i, fd) in socks.iter() {
        killable()?;
        if peer != 0 && keys.binary_search(&peer).is_err() {
            let t = tasks.get(i).ok_or(EINVAL)?;
            let mut n = fd;
            let path = match t.next_file(&mut n) {
                Some(f) if n == fd => f.path_name()?,
                _ => KVec::new(),
            };
            return Ok(Some((i, fd, path)));
        }
    }
    Ok(None)
}

/// The unix socket pair kind of shared object.
pub(crate) struct UnixPair;

impl ObjOps for UnixPair {
    /// Either end, as probed.
    type Ref = Probe;
    /// Its peer as probed (`None`: closed), and each end's queue with the
    /// records of the descriptors in flight in it: this end's, the peer's.
    type Deps = (Option<Probe>, [(Queue, KVVec<u8>); 2]);

    /// The lower of the two sockets' addresses, the same from either end.
    fn key(p: &Probe) -> usize {
        (p.st.sk as usize).min(p.st.peer as usize)
    }

    /// The files in flight in either end's messages.
    fn write_deps(w: &mut ImageWriter, objs: &mut ObjHash, p: &Probe) -> Result<Self::Deps> {
        let peer = match &p.peer {
            Some(f) => Some(Probe::of(f)?),
            None => None,
        };
        let mine = p.queue()?;
        let other = match &peer {
            Some(q) => q.queue()?,
            None => Queue::empty(),
        };
        let (fm, fo) = (mine.write_files(w, objs)?, other.write_files(w, objs)?);
        Ok((peer, [(mine, fm), (other, fo)]))
    }

    /// The pair record: both ends' state, then each end's queue.
    fn write(w: &mut ImageWriter, p: &Probe, id: ObjId, deps: Self::Deps) -> Result {
        let (peer, [mine_q, other_q]) = deps;
        let mine = (p.end(), mine_q);
        let other = match &peer {
            Some(q) => (q.end(), other_q),
            None => (UnixEnd::default_closed(), other_q),
        };
        let (e0, e1) = if p.is_end1() {
            (other, mine)
        } else {
            (mine, other)
        };
        let rec = UnixPairObj {
            id,
            sock_type: u32::try_from(p.st.type_).map_err(|_| EINVAL)?,
        };
        let (n0, n1) = match (&peer, p.is_end1()) {
            (Some(q), true) => (q.name(), p.name()),
            (Some(q), false) => (p.name(), q.name()),
            (None, true) => (&[][..], p.name()),
            (None, false) => (p.name(), &[][..]),
        };
        w.record_parts(
            RecordType::UnixPair,
            &[
                &rec.encode(),
                &e0.0.encode(),
                &e1.0.encode(),
                n0,
                &e0.1 .0.lens,
                &e0.1 .0.data,
                &e0.1 .1,
                n1,
                &e1.1 .0.lens,
                &e1.1 .0.data,
                &e1.1 .1,
            ],
        )
    }

    /// The probed end's file, so that the sockets (and the key) live until
    /// the checkpoint ends.
    fn hold(p: Probe) -> Option<FileRef> {
        Some(p.file)
    }
}

/// The calls restart makes on a new unix socket, each as the caller's
/// own socket call would be made (its permission checks and limits).
struct Sock<'a>(&'a FileRef);

impl Sock<'_> {
    /// `SO_PASSCRED` (`CKPT_UNIX_PASSCRED` in `flags`), and `SO_SNDBUF`,
    /// `SO_RCVBUF` when positive (the doubled values the socket held).
    fn set(&self, flags: u32, sndbuf: i32, rcvbuf: i32) -> Result {
        // SAFETY: the file is referenced; the helper calls
        // sock_setsockopt() on its socket.
        to_result(unsafe { bindings::ckpt_unix_set(self.0.as_ptr(), flags, sndbuf, rcvbuf) })
    }

    /// bind(2) to `name` (after unlinking a stale socket file).
    fn bind(&self, name: &[u8]) -> Result {
        let len = u32::try_from(name.len()).map_err(|_| EINVAL)?;
        // SAFETY: the file is referenced and `name` valid for `len` bytes,
        // which the helper copies into a sockaddr of its own.
        to_result(unsafe { bindings::ckpt_unix_bind(self.0.as_ptr(), name.as_ptr(), len) })
    }

    /// The permission bits of its socket file (bound to a path).
    fn chmod(&self, mode: u32) -> Result {
        // SAFETY: the file is referenced.
        to_result(unsafe { bindings::ckpt_unix_chmod(self.0.as_ptr(), mode) })
    }

    /// listen(2).
    fn listen(&self, backlog: u32) -> Result {
        // SAFETY: the file is referenced.
        to_result(unsafe { bindings::ckpt_unix_listen(self.0.as_ptr(), backlog) })
    }

    /// The address `name`, without a binding (an accepted socket's).
    fn name(&self, name: &[u8]) -> Result {
        let len = u32::try_from(name.len()).map_err(|_| EINVAL)?;
        // SAFETY: the file is referenced and `name` valid for `len` bytes,
        // which the helper copies.
        to_result(unsafe { bindings::ckpt_unix_name(self.0.as_ptr(), name.as_ptr(), len) })
    }

    /// One message to the peer with `files` in flight (`SCM_RIGHTS`),
    /// without blocking: the bytes taken (a stream socket may take fewer;
    /// the files go with the first part).
    fn send(&self, buf: &[u8], files: &mut [*mut bindings::file]) -> Result<usize> {
        let len = u32::try_from(buf.len()).map_err(|_| E2BIG)?;
        let nr = u32::try_from(files.len()).map_err(|_| E2BIG)?;
        // SAFETY: the file is referenced, `buf` valid for `len` bytes and
        // `files` holds `nr` files the caller keeps referenced; the helper
        // takes references of its own for the message.
        let sent = unsafe {
            bindings::ckpt_unix_send(self.0.as_ptr(), buf.as_ptr(), len, files.as_mut_ptr(), nr)
        };
        to_result(sent)?;
        usize::try_from(sent).map_err(|_| EINVAL)
    }

    /// One datagram to this (bound) socket from an unnamed sender, with
    /// `files` in flight.
    fn send_to(&self, buf: &[u8], files: &mut [*mut bindings::file]) -> Result {
        let len = u32::try_from(buf.len()).map_err(|_| E2BIG)?;
        let nr = u32::try_from(files.len()).map_err(|_| E2BIG)?;
        // SAFETY: as for `send`.
        to_result(unsafe {
            bindings::ckpt_unix_send_to(self.0.as_ptr(), buf.as_ptr(), len, files.as_mut_ptr(), nr)
        })
    }

    /// shutdown(2) of the `UNIX_*_SHUTDOWN` bits (RCV 1, SEND 2 are SHUT_RD
    /// 0, SHUT_WR 1, both SHUT_RDWR 2, plus one); none: nothing.
    fn shutdown(&self, bits: u32) -> Result {
        if bits == 0 {
            return Ok(());
        }
        let how = i32::try_from(bits).map_err(|_| EINVAL)? - 1;
        // SAFETY: the file is referenced.
        to_result(unsafe { bindings::ckpt_unix_shutdown(self.0.as_ptr(), how) })
    }
}

/// The files in flight in message `msg` (restored objects), taken from
/// the front of `fds` (in message order, as the image parser checked):
/// held, and their pointers (nothing is allocated for none).
fn files_of(
    objs: &mut ObjTable,
    fds: &mut core::iter::Peekable<impl Iterator<Item = UnixFdInFlight>>,
    msg: u32,
) -> Result<(KVVec<FileRef>, KVVec<*mut bindings::file>)> {
    let (mut held, mut raw) = (KVVec::new(), KVVec::new());
    while let Some(f) = fds.next_if(|f| f.msg == msg) {
        let file = objs.file(f.file)?.clone_ref();
        raw.push(file.as_ptr(), GFP_KERNEL)?;
        held.push(file, GFP_KERNEL)?;
    }
    Ok((held, raw))
}

/// Sends the messages of `end` through `via` to its peer, each as one
/// message with its files in flight.
fn send_all(objs: &mut ObjTable, via: &FileRef, end: &UnixEndData<'_>) -> Result {
    let mut fds = end.fds().peekable();
    for (i, m) in end.messages().enumerate() {
        let (_held, mut raw) = files_of(objs, &mut fds, u32::try_from(i)?)?;
        let mut rest = m;
        let mut files = &mut raw[..];
        loop {
            killable()?;
            let sent = Sock(via).send(rest, files)?;
            rest = rest.get(sent..).ok_or(EINVAL)?;
            files = &mut [];
            if rest.is_empty() {
                break;
            }
        }
    }
    Ok(())
}

/// Restart: a new pair in the saved state, for the file records that take
/// its ends.
pub(crate) fn restore(
    objs: &mut ObjTable,
    rec: &UnixPairObj,
    ends: &[UnixEndData<'_>; 2],
) -> Result {
    let ty = i32::try_from(rec.sock_type).map_err(|_| EINVAL)?;
    let (mut a, mut b) = (core::ptr::null_mut(), core::ptr::null_mut());
    // SAFETY: the helper makes two sockets as socketpair(2) does and, on
    // success, passes a reference on each file to us.
    to_result(unsafe { bindings::ckpt_unix_pair(ty, &mut a, &mut b) })?;
    // SAFETY: as above: the references pass to the FileRefs.
    let files = unsafe {
        [
            FileRef::from_raw(NonNull::new(a).ok_or(EINVAL)?),
            FileRef::from_raw(NonNull::new(b).ok_or(EINVAL)?),
        ]
    };
    let fail = |what: &'static str| {
        move |err: &Error| {
            ckpt_err!(
                "restart: cannot {} unix socket pair {} (error {})\n",
                what,
                rec.id,
                err.to_errno()
            );
        }
    };
    for (f, e) in files.iter().zip(ends.iter()) {
        Sock(f)
            .set(0, e.end.sndbuf, e.end.rcvbuf)
            .inspect_err(fail("set the options of"))?;
        if e.end.flags & UNIX_NAMED != 0 {
            Sock(f).name(e.name).inspect_err(fail("name"))?;
        }
    }
    for (i, e) in ends.iter().enumerate() {
        let via = files.get(1 - i).ok_or(EINVAL)?;
        send_all(objs, via, e)
            .inspect_err(fail("queue (it does not fit the buffers) the messages of"))?;
    }
    for (f, e) in files.iter().zip(ends.iter()) {
        if e.end.flags & UNIX_PASSCRED != 0 {
            Sock(f)
                .set(bindings::CKPT_UNIX_PASSCRED, 0, 0)
                .inspect_err(fail("set the options of"))?;
        }
        Sock(f)
            .shutdown(e.end.shutdown)
            .inspect_err(fail("shut down"))?;
    }
    let [f0, f1] = files;
    let [e0, e1] = ends;
    let keep = |f: FileRef, e: &UnixEndData<'_>| (e.end.flags & UNIX_CLOSED == 0).then_some(f);
    objs.add(
        rec.id,
        Obj::UnixPair {
            ends: [keep(f0, e0), keep(f1, e1)],
        },
    )
}

/// The kind of shared object of a unix socket on its own.
pub(crate) struct UnixSock;

impl ObjOps for UnixSock {
    /// The socket, as probed.
    type Ref = Probe;
    /// Its queue, with the records of the descriptors in flight in it.
    type Deps = (Queue, KVVec<u8>);

    fn key(p: &Probe) -> usize {
        p.st.sk as usize
    }

    /// The files in flight in its datagrams.
    fn write_deps(w: &mut ImageWriter, objs: &mut ObjHash, p: &Probe) -> Result<Self::Deps> {
        let q = p.queue()?;
        let fds = q.write_files(w, objs)?;
        Ok((q, fds))
    }

    /// The socket record: its state, name and queued datagrams.
    fn write(w: &mut ImageWriter, p: &Probe, id: ObjId, (q, fds): Self::Deps) -> Result {
        let rec = UnixSockObj {
            id,
            sock_type: u32::try_from(p.st.type_).map_err(|_| EINVAL)?,
        };
        w.record_parts(
            RecordType::UnixSock,
            &[
                &rec.encode(),
                &p.end().encode(),
                p.name(),
                &q.lens,
                &q.data,
                &fds,
            ],
        )
    }

    /// Its file, so that the socket (and the key) lives until the
    /// checkpoint ends.
    fn hold(p: Probe) -> Option<FileRef> {
        Some(p.file)
    }
}

/// A socket of a connection waiting to be accepted, referenced.
///
/// # Invariants
///
/// `self.0` holds a reference on a valid socket, put on drop.
pub(crate) struct PendingSk(NonNull<bindings::sock>);

impl Drop for PendingSk {
    fn drop(&mut self) {
        // SAFETY: by the type invariant this object holds the reference.
        unsafe { bindings::ckpt_unix_sk_put(self.0.as_ptr()) };
    }
}

/// The socket of the `index`-th connection waiting in the listener
/// `file`'s queue, or `None` past the last.
fn pending_at(file: &FileRef, index: u32) -> Result<Option<PendingSk>> {
    // SAFETY: the file is referenced; the helper returns an ERR_PTR, NULL
    // or a referenced socket.
    let sk = unsafe { bindings::ckpt_unix_pending(file.as_ptr(), index) };
    let sk = kernel::error::from_err_ptr(sk)?;
    // INVARIANT: a non-NULL result carries a reference.
    Ok(NonNull::new(sk).map(PendingSk))
}

/// A connection waiting to be accepted as the checkpoint reads it: its
/// socket, its state and its client's open file unless the client was
/// closed.
pub(crate) struct PendingProbe {
    sk: PendingSk,
    st: bindings::ckpt_unix,
    client: Option<FileRef>,
}

impl PendingProbe {
    fn of(sk: PendingSk) -> Result<Self> {
        // SAFETY: all-zero is a valid `ckpt_unix`.
        let mut st: bindings::ckpt_unix = unsafe { core::mem::zeroed() };
        // SAFETY: the socket is referenced; the helper takes its locks and,
        // on success, a reference on the client's file.
        to_result(unsafe { bindings::ckpt_unix_pending_get(sk.0.as_ptr(), &mut st) })?;
        // SAFETY: the helper's reference passes to us.
        let client = NonNull::new(st.peer_file).map(|f| unsafe { FileRef::from_raw(f) });
        st.peer_file = core::ptr::null_mut();
        Ok(Self { sk, st, client })
    }

    /// What the client sent and the server has not read.
    fn queue(&self) -> Result<Queue> {
        // SAFETY: the socket is referenced by `self.sk`.
        unsafe { sk_queue(&self.st) }
    }
}

/// Listening unix sockets by key (sorted), each with its listener's file.
pub(crate) type Listeners = KVVec<(usize, FileRef)>;

/// Checkpoint: the connections waiting in the queues of the tree's
/// listening unix sockets, by key (sorted), each with its listener's file,
/// checked before anything is written: each can be carried, its client is
/// open in the tree or closed, every client in the tree waits on a
/// listener of the tree, and restart can connect them again (the listener
/// not shut down for reading, its backlog holding them, its socket file
/// writable by its owner). Also the sockets, referenced until the
/// checkpoint ends (their addresses are the keys). The files in flight in
/// every socket's messages, the waiting connections' included, are
/// checked here too ([`in_flight_refusal`]).
pub(crate) fn pending(tasks: &[TaskRef]) -> Result<(Listeners, KVVec<PendingSk>)> {
    let mut map: KVVec<(usize, FileRef)> = KVVec::new();
    let mut held: KVVec<PendingSk> = KVVec::new();
    // Listeners looked at already (a listener may have several fds).
    let mut listeners: KVVec<usize> = KVVec::new();
    // (client socket, task index, fd): clients in the tree.
    let mut clients: KVVec<(usize, usize, u32)> = KVVec::new();
    // Every socket of the tree: a waiting connection's client must be one.
    let mut socks: KVVec<usize> = KVVec::new();
    // (waiting connection's client, listener's task index, fd).
    let mut waiting: KVVec<(usize, usize, u32)> = KVVec::new();
    let refuse = |i: usize, fd: u32, why: &str| -> Error {
        crate::fdtable::refuse(tasks, i, fd, format_args!("{why}"))
    };
    crate::fdtable::for_each_tree_file(tasks, |i, fd, f| {
        if f.mode() & 0o170000 != 0o140000 || crate::inet::is_inet(f) {
            return Ok(());
        }
        let p = Probe::of(f)?;
        if p.st.nr_fds != 0 && !p.is_listening() {
            if let Some(why) = in_flight_refusal(tasks, i, &p.queue()?)? {
                return Err(crate::fdtable::refuse(
                    tasks,
                    i,
                    fd,
                    format_args!(
                        "is a unix socket carrying in flight (SCM_RIGHTS) a file that {why}"
                    ),
                ));
            }
        }
        socks.push(p.st.sk as usize, GFP_KERNEL)?;
        if p.pending_key().is_some() {
            clients.push((p.st.peer as usize, i, fd), GFP_KERNEL)?;
        }
        if !p.is_listening() || listeners.contains(&(p.st.sk as usize)) {
            return Ok(());
        }
        listeners.push(p.st.sk as usize, GFP_KERNEL)?;
        let mut index = 0u32;
        while let Some(sk) = pending_at(f, index)? {
            killable()?;
            // SAFETY: the socket is referenced.
            if !unsafe { bindings::ckpt_unix_pending_unsupported(sk.0.as_ptr()) }.is_null() {
                return Err(refuse(
                    i,
                    fd,
                    "is a listening unix socket with a connection not accepted yet holding an out-of-band byte",
                ));
            }
            let key = sk.0.as_ptr() as usize;
            let probe = PendingProbe::of(sk)?;
            if probe.st.nr_fds != 0 {
                if let Some(why) = in_flight_refusal(tasks, i, &probe.queue()?)? {
                    return Err(crate::fdtable::refuse(
                        tasks,
                        i,
                        fd,
                        format_args!("is a listening unix socket with a connection not accepted yet carrying in flight (SCM_RIGHTS) a file that {why}"),
                    ));
                }
            }
            if probe.client.is_some() {
                waiting.push((probe.st.peer as usize, i, fd), GFP_KERNEL)?;
            }
            map.push((key, f.clone_ref()), GFP_KERNEL)?;
            held.push(probe.sk, GFP_KERNEL)?;
            index = index.checked_add(1).ok_or(EINVAL)?;
        }
        // What restart's connect(2) to the listener needs.
        let why = if index == 0 {
            None
        } else if p.st.shutdown & 1 != 0 {
            Some("is a listening unix socket shut down for reading with connections not accepted yet")
        } else if index > p.st.backlog.saturating_add(1) {
            Some("is a listening unix socket holding more connections than its backlog (lowered since)")
        } else if p.st.name.first().is_some_and(|&c| c != 0) && p.st.mode & 0o200 == 0 {
            Some("is a listening unix socket with connections not accepted yet whose socket file its owner cannot write")
        } else {
            None
        };
        if let Some(why) = why {
            return Err(refuse(i, fd, why));
        }
        Ok(())
    })?;
    map.sort_unstable_by_key(|(k, _)| *k);
    socks.sort_unstable();
    for &(client, i, fd) in waiting.iter() {
        killable()?;
        if socks.binary_search(&client).is_err() {
            return Err(refuse(
                i,
                fd,
                "is a listening unix socket with a connection not accepted yet whose client is open outside the tree",
            ));
        }
    }
    for &(key, i, fd) in clients.iter() {
        killable()?;
        if map.binary_search_by_key(&key, |(k, _)| *k).is_err() {
            return Err(refuse(
                i,
                fd,
                "is a unix socket waiting to be accepted by a listener outside the tree",
            ));
        }
    }
    Ok((map, held))
}

/// Why a file in flight in `q`, a queue of a socket of `tasks[i]`, could
/// not be carried, if one could not (`open_file::in_flight_unsupported`).
fn in_flight_refusal(tasks: &[TaskRef], i: usize, q: &Queue) -> Result<Option<&'static str>> {
    let t = tasks.get(i).ok_or(EINVAL)?;
    for f in q.files.iter() {
        killable()?;
        if let Some(why) = crate::open_file::in_flight_unsupported(t, f)? {
            return Ok(Some(why));
        }
    }
    Ok(None)
}

/// Checkpoint: every connection waiting in the queue of the listener
/// `file` (written already), in order, right after it.
pub(crate) fn write_pending(w: &mut ImageWriter, objs: &mut ObjHash, file: &FileRef) -> Result {
    let mut index = 0u32;
    while let Some(sk) = pending_at(file, index)? {
        killable()?;
        objs.id_of::<UnixPending>(w, PendingProbe::of(sk)?)?;
        index = index.checked_add(1).ok_or(EINVAL)?;
    }
    Ok(())
}

/// The kind of shared object of a connection waiting to be accepted.
pub(crate) struct UnixPending;

impl ObjOps for UnixPending {
    /// The connection, as probed.
    type Ref = PendingProbe;
    /// Its listener, and what the client sent with the records of the
    /// descriptors in flight in it.
    type Deps = (ObjId, Queue, KVVec<u8>);

    fn key(p: &PendingProbe) -> usize {
        p.sk.0.as_ptr() as usize
    }

    /// Its listener, written already by the caller ([`write_pending`]),
    /// and the files in flight in what the client sent.
    fn write_deps(w: &mut ImageWriter, objs: &mut ObjHash, p: &PendingProbe) -> Result<Self::Deps> {
        let listener = objs
            .pending_listener(Self::key(p))
            .and_then(|l| Probe::of(&l).ok())
            .and_then(|l| objs.id_by_key::<UnixSock>(UnixSock::key(&l)))
            .ok_or(EINVAL)?;
        let q = p.queue()?;
        let fds = q.write_files(w, objs)?;
        Ok((listener, q, fds))
    }

    /// The connection record: its client's state and what it sent.
    fn write(w: &mut ImageWriter, p: &PendingProbe, id: ObjId, deps: Self::Deps) -> Result {
        let (listener, q, fds) = deps;
        let mut end = match &p.client {
            Some(f) => {
                let c = Probe::of(f)?;
                // The server cannot send before it accepts.
                if c.st.nr_msgs != 0 {
                    return Err(EINVAL);
                }
                let mut e = c.end();
                e.flags &= UNIX_PASSCRED;
                e
            }
            None => UnixEnd::default_closed(),
        };
        end.nr_msgs = p.st.nr_msgs;
        end.data_len = p.st.bytes;
        end.nr_fds = p.st.nr_fds;
        let rec = UnixPendingObj {
            id,
            listener,
            sock_type: u32::try_from(p.st.type_).map_err(|_| EINVAL)?,
        };
        w.record_parts(
            RecordType::UnixPending,
            &[&rec.encode(), &end.encode(), &q.lens, &q.data, &fds],
        )
    }

    /// Its client's file, so that the connection's socket (and the key)
    /// lives until the checkpoint ends.
    fn hold(p: PendingProbe) -> Option<FileRef> {
        p.client
    }
}

/// Restart: a new client connected to the restored listener, its
/// connection waiting to be accepted with what the client sent, for the
/// file record of the client (none if it was closed).
pub(crate) fn restore_pending(
    objs: &mut ObjTable,
    rec: &UnixPendingObj,
    client: &UnixEndData<'_>,
) -> Result {
    let listener = objs.made(rec.listener, FILE_UNIX)?.clone_ref();
    let fail = |what: &'static str| {
        move |err: &Error| {
            ckpt_err!(
                "restart: cannot {} unix connection {} waiting on listener {} (error {})\n",
                what,
                rec.id,
                rec.listener,
                err.to_errno()
            );
        }
    };
    // SAFETY: the listener is referenced; the helper connects a new socket
    // to it as connect(2) would and returns an ERR_PTR or a file with a
    // reference, which `from_made` takes over.
    let file =
        unsafe { FileRef::from_made(bindings::ckpt_unix_connect_pending(listener.as_ptr())) }
            .inspect_err(fail("connect"))?;
    let e = &client.end;
    if e.flags & UNIX_CLOSED == 0 {
        Sock(&file)
            .set(0, e.sndbuf, e.rcvbuf)
            .inspect_err(fail("set the options of"))?;
    }
    send_all(objs, &file, client).inspect_err(fail("queue what was sent on"))?;
    if e.flags & UNIX_CLOSED != 0 {
        // Closed as it was: the server reads what it sent, then the end.
        // No file record takes it.
        return objs.add(
            rec.id,
            Obj::Made {
                file: None,
                kind: FILE_UNIX,
            },
        );
    }
    if e.flags & UNIX_PASSCRED != 0 {
        Sock(&file)
            .set(bindings::CKPT_UNIX_PASSCRED, 0, 0)
            .inspect_err(fail("set the options of"))?;
    }
    Sock(&file)
        .shutdown(e.shutdown)
        .inspect_err(fail("shut down"))?;
    objs.add_made(rec.id, file, FILE_UNIX)
}

/// Restart: a unix socket on its own, bound, listening and holding its
/// datagrams as saved, for the file record that takes it.
pub(crate) fn restore_sock(
    objs: &mut ObjTable,
    rec: &UnixSockObj,
    end: &UnixEndData<'_>,
) -> Result {
    let ty = i32::try_from(rec.sock_type).map_err(|_| EINVAL)?;
    // SAFETY: the helper makes a socket as socket(2) does and returns an
    // ERR_PTR or a file with a reference, which `from_made` takes over.
    let file = unsafe { FileRef::from_made(bindings::ckpt_unix_socket(ty))? };
    let e = &end.end;
    let fail = |what: &'static str| {
        move |err: &Error| {
            ckpt_err!(
                "restart: cannot {} unix socket {} ({}) (error {})\n",
                what,
                rec.id,
                crate::log::Shown(end.name),
                err.to_errno()
            );
        }
    };
    let sock = Sock(&file);
    sock.set(0, e.sndbuf, e.rcvbuf)
        .inspect_err(fail("set the options of"))?;
    if e.flags & UNIX_BOUND != 0 {
        sock.bind(end.name).inspect_err(fail("bind"))?;
    }
    if e.flags & UNIX_LISTENING != 0 {
        sock.listen(e.backlog).inspect_err(fail("listen on"))?;
    }
    let mut fds = end.fds().peekable();
    for (i, m) in end.messages().enumerate() {
        killable()?;
        let (_held, mut raw) = files_of(objs, &mut fds, u32::try_from(i)?)?;
        sock.send_to(m, &mut raw)
            .inspect_err(fail("queue the datagrams of"))?;
    }
    // After the datagrams: sending them needs write permission on the
    // socket file, which its saved mode may not give.
    if e.flags & UNIX_BOUND != 0 && end.name.first().is_some_and(|&c| c != 0) {
        sock.chmod(e.mode)
            .inspect_err(fail("set the mode of the socket file of"))?;
    }
    if e.flags & UNIX_PASSCRED != 0 {
        sock.set(bindings::CKPT_UNIX_PASSCRED, 0, 0)
            .inspect_err(fail("set the options of"))?;
    }
    sock.shutdown(e.shutdown).inspect_err(fail("shut down"))?;
    objs.add_made(rec.id, file, FILE_UNIX)
}
