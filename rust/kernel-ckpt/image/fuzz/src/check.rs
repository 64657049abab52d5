// SPDX-License-Identifier: GPL-2.0
//! Runs every decoder of the image crate over one input.
//!
//! An input is decoded twice: by [`ImageDecoder`] over the whole buffer (as
//! `ckpt inspect` does), and record by record through [`Parser::feed`],
//! the way the kernel's reader does it (`rust/kernel-ckpt/reader.rs`:
//! read the 8-byte prefix, check the length, read payload and padding,
//! check the padding, feed). Every item is then decoded further (sighand
//! handlers, accessors) and its invariants are checked, every item the
//! parser accepted must encode back to the exact bytes it came from, and
//! both readers must agree on the outcome. Any violation panics; the
//! caller catches it and saves the input.

use std::fmt::Write as _;

use ckpt_image::*;

/// Reusable buffers.
#[derive(Default)]
pub struct Scratch {
    enc: Vec<u8>,
    text: String,
}

/// What the decoders made of one input.
#[derive(Debug)]
pub struct Outcome {
    /// `Ok` for an image accepted whole, else the first error.
    pub result: Result<(), DecodeError>,
    /// Items decoded before the end or the error.
    pub items: u32,
    /// Items decoded, by record type (index in [`RecordType::ALL`]).
    pub by_type: [u32; RecordType::ALL.len()],
}

/// Index of a record type in [`RecordType::ALL`].
pub fn type_index(t: RecordType) -> usize {
    RecordType::ALL.iter().position(|&k| k == t).unwrap_or(0)
}

/// The record type an item is decoded from.
pub fn item_type(item: &Item<'_>) -> RecordType {
    match item {
        Item::Header(_) => RecordType::Header,
        Item::Forest(_) => RecordType::Forest,
        Item::Task(_) => RecordType::Task,
        Item::TaskState(_) => RecordType::TaskState,
        Item::Regs(_) => RecordType::Regs,
        Item::Xstate(..) => RecordType::Xstate,
        Item::RestartBlock(_) => RecordType::RestartBlock,
        Item::TaskMisc(..) => RecordType::TaskMisc,
        Item::Signals(..) => RecordType::Signals,
        Item::Sighand(_) => RecordType::Sighand,
        Item::Mm(..) => RecordType::Mm,
        Item::Vma(..) => RecordType::Vma,
        Item::Shmem(_) => RecordType::Shmem,
        Item::Eventfd(_) => RecordType::Eventfd,
        Item::Signalfd(_) => RecordType::Signalfd,
        Item::Fifo(..) => RecordType::Fifo,
        Item::Timerfd(_) => RecordType::Timerfd,
        Item::Epoll(..) => RecordType::Epoll,
        Item::UnixPair(..) => RecordType::UnixPair,
        Item::UnixSock(..) => RecordType::UnixSock,
        Item::UnixPending(..) => RecordType::UnixPending,
        Item::InetSock(..) => RecordType::InetSock,
        Item::InetPending(..) => RecordType::InetPending,
        Item::PacketSock(..) => RecordType::PacketSock,
        Item::ShmemPages(..) => RecordType::ShmemPages,
        Item::Files(..) => RecordType::Files,
        Item::File(..) => RecordType::File,
        Item::Pipe(..) => RecordType::Pipe,
        Item::Fd(_) => RecordType::Fd,
        Item::FileLock(_) => RecordType::FileLock,
        Item::FileOwner(_) => RecordType::FileOwner,
        Item::Memfd(..) => RecordType::Memfd,
        Item::Pty(..) => RecordType::Pty,
        Item::Ctty(_) => RecordType::Ctty,
        Item::Share(_) => RecordType::Share,
        Item::Pod(_) => RecordType::Pod,
        Item::TaskSched(..) => RecordType::TaskSched,
        Item::PosixTimers(..) => RecordType::PosixTimers,
        Item::Auxv(_) => RecordType::Auxv,
        Item::Cgroup(_) => RecordType::Cgroup,
        Item::PodIpc(_) => RecordType::PodIpc,
        Item::PodNet(_) => RecordType::PodNet,
        Item::SysvShm(_) => RecordType::SysvShm,
        Item::SysvSem(..) => RecordType::SysvSem,
        Item::SysvMsg(..) => RecordType::SysvMsg,
        Item::PosixMq(..) => RecordType::PosixMq,
        Item::PodMount(..) => RecordType::PodMount,
        Item::TmpfsFile(..) => RecordType::TmpfsFile,
        Item::MqNotify(_) => RecordType::MqNotify,
        Item::SemUndo(..) => RecordType::SemUndo,
        Item::DeletedFile(..) => RecordType::DeletedFile,
        Item::Pidfd(_) => RecordType::Pidfd,
        Item::Inotify(..) => RecordType::Inotify,
        Item::Pages(..) => RecordType::Pages,
        Item::TaskEnd => RecordType::TaskEnd,
        Item::Tail(_) => RecordType::Tail,
    }
}

/// The descriptors in flight of a unix socket object `id`: as many as it
/// says, in message order, each naming an object written before it.
fn check_in_flight(id: u32, e: &UnixEndData<'_>) {
    assert_eq!(e.fds.len(), e.end.nr_fds as usize * UnixFdInFlight::LEN);
    let mut last = 0;
    for f in e.fds() {
        assert!(f.file > 0 && f.file < id && f.msg < e.end.nr_msgs && f.msg >= last);
        last = f.msg;
    }
}

/// Decodes what an item leaves encoded and checks what it promises.
fn exercise(item: &Item<'_>) {
    let page = PAGE_SIZE as u64;
    match *item {
        Item::Header(h) => {
            assert_eq!((h.version, h.arch), (IMAGE_VERSION, ARCH_X86_64));
            assert!(h.release_str().len() < RELEASE_LEN);
        }
        Item::Forest(f) => assert!(f.nr_tasks > 0 && f.nr_tasks <= MAX_TASKS && f.root_pid > 0),
        Item::Task(t) => {
            assert!(t.comm_str().len() <= COMM_LEN);
            let _ = (t.is_zombie(), t.is_thread());
            assert!(t.pid > 0 && t.tgid > 0 && t.flags & !TASK_FLAGS_MASK == 0);
        }
        Item::TaskState(t) => assert!(t.pid > 0),
        Item::Regs(r) => {
            let _ = (r.ip(), r.sp(), r.ax(), r.orig_ax());
        }
        Item::Xstate(h, data) => {
            assert_eq!(data.len(), h.size as usize);
            assert!(h.size >= XstateHeader::MIN_SIZE && h.size <= MAX_XSTATE_SIZE);
        }
        Item::RestartBlock(rb) => {
            assert!(rb.kind <= RESTART_FUTEX);
            assert!(rb.kind == RESTART_FUTEX || rb.aux == 0);
            assert!(rb.remaining_ns >= 0 || (rb.kind == RESTART_POLL && rb.remaining_ns == -1));
        }
        Item::TaskMisc(m, groups) => {
            assert_eq!(groups.len(), m.ngroups as usize * 4);
            assert!(m.ngroups <= TaskMisc::MAX_GROUPS);
        }
        Item::Signals(s, infos) => {
            assert_eq!(infos.len(), s.nr_info as usize * SIGINFO_LEN);
        }
        Item::Sighand(p) => {
            let (sh, infos) = Sighand::parse(p).expect("a sighand the parser accepted parses");
            assert_eq!(infos.len(), sh.nr_info as usize * SIGINFO_LEN);
            let (mask, infos2) = Sighand::pending(p).expect("its pending signals decode");
            assert_eq!((mask, infos2), (sh.shared_pending, infos));
            let mut n = 0;
            for a in Sighand::actions(p) {
                let a = a.expect("its handlers decode");
                assert!(a.handler < USER_ADDR_END);
                n += 1;
            }
            assert_eq!(n, NSIG);
        }
        Item::Mm(m, exe) => {
            assert_eq!(exe.len(), m.exe_len as usize);
            assert!(m.start_brk <= m.brk && m.nr_vmas <= MmHeader::MAX_VMAS && m.from >= 0);
        }
        Item::Vma(v, path) => {
            assert_eq!(path.len(), v.path_len as usize);
            assert!(v.start < v.end && v.end <= USER_ADDR_END);
            assert!(v.start % page == 0 && v.end % page == 0);
        }
        Item::Shmem(s) => assert!(s.size > 0 && s.size % page == 0),
        Item::Eventfd(e) => assert!(e.count < u64::MAX),
        Item::Signalfd(s) => assert!(s.id > 0),
        Item::Timerfd(t) => assert!(t.value_ns >= 0 && t.interval_ns >= 0),
        Item::UnixSock(u, e) => {
            assert!(u.id > 0);
            assert_eq!(e.name.len(), e.end.name_len as usize);
            assert_eq!(e.data.len(), e.end.data_len as usize);
            check_in_flight(u.id, &e);
        }
        Item::InetSock(s, d) => check_inet(&s, &d),
        Item::PacketSock(s, d) => check_packet(&s, &d),
        Item::InetPending(p, s, d) => {
            assert!(p.listener > 0 && p.listener != s.id);
            assert!(d.tcp.is_some_and(|(c, _, _)| c.send_len() == 0));
            check_inet(&s, &d);
        }
        Item::UnixPending(u, e) => {
            assert!(u.id > 0 && u.listener > 0 && u.sock_type != SOCK_DGRAM);
            assert!(e.name.is_empty() && e.end.flags & !(UNIX_PASSCRED | UNIX_CLOSED) == 0);
            assert_eq!(e.data.len(), e.end.data_len as usize);
            check_in_flight(u.id, &e);
        }
        Item::UnixPair(u, ends) => {
            assert!(u.id > 0);
            for e in ends {
                assert_eq!(e.name.len(), e.end.name_len as usize);
                assert_eq!(e.lens.len(), e.end.nr_msgs as usize * 4);
                assert_eq!(e.data.len(), e.end.data_len as usize);
                let total: usize = e.messages().map(<[u8]>::len).sum();
                assert_eq!(total, e.data.len());
                check_in_flight(u.id, &e);
            }
        }
        Item::Epoll(e, items) => {
            assert_eq!(items.len(), e.nr_items as usize * EpollItem::LEN);
            for item in EpollObj::items(items) {
                let item = item.expect("the parser checked every item");
                assert!(item.file > 0 && item.file < e.id && item.fd >= 0);
            }
        }
        Item::Fifo(f, data, path) => {
            assert_eq!(
                (data.len(), path.len()),
                (f.data_len as usize, f.path_len as usize)
            );
            assert!(f.data_len <= f.capacity && f.capacity <= PipeObj::MAX_CAPACITY);
        }
        Item::ShmemPages(h, data) => {
            assert_eq!(data.len(), h.nr as usize * PAGE_SIZE);
            assert!(h.nr > 0 && h.nr <= MAX_PAGES_PER_RECORD);
        }
        Item::Files(h, cwd, root) => {
            assert_eq!(
                (cwd.len(), root.len()),
                (h.cwd_len as usize, h.root_len as usize)
            );
            assert!(h.nr_fds <= FilesHeader::MAX_FDS);
        }
        Item::File(f, path) => {
            assert_eq!(path.len(), f.path_len as usize);
            assert!(f.id > 0 && f.pos >= 0 && f.kind <= FILE_KIND_MAX);
        }
        Item::Pipe(p, data) => {
            assert_eq!(data.len(), p.data_len as usize);
            assert!(p.data_len <= p.capacity && p.capacity <= PipeObj::MAX_CAPACITY);
        }
        Item::Fd(f) => assert!(f.file > 0 && f.fd < FilesHeader::MAX_FDS),
        Item::FileLock(l) => assert!(l.file > 0 && l.start >= 0 && l.start <= l.end),
        Item::Share(sh) => assert!(sh.files >= 0 && sh.fs >= 0 && (sh.files, sh.fs) != (0, 0)),
        Item::SysvMsg(o, msgs) => {
            let all: Vec<_> = SysvMsgObj::messages(msgs).collect();
            assert_eq!(all.len(), o.qnum as usize);
            assert!(all.iter().all(|m| m
                .as_ref()
                .is_ok_and(|(h, t)| h.mtype > 0 && t.len() == h.len as usize)));
        }
        Item::PosixMq(o, name, msgs) => {
            assert_eq!(name.len(), o.name_len as usize);
            assert!(o.name_len <= MQ_NAME_MAX && !name.contains(&b'/'));
            assert!(!name.is_empty());
            assert!(o.maxmsg > 0 && o.msgsize > 0 && o.curmsgs <= o.maxmsg);
            let all: Vec<_> = PosixMqObj::messages(msgs).collect();
            assert_eq!(all.len() as i64, o.curmsgs);
            assert!(all.iter().all(|m| m.as_ref().is_ok_and(|(h, t)| {
                (0..MQ_PRIO_MAX).contains(&h.mtype)
                    && t.len() == h.len as usize
                    && i64::from(h.len) <= o.msgsize
            })));
        }
        Item::PodMount(m, path) => {
            assert_eq!(path.len(), m.path_len as usize);
            assert!(POD_MOUNT_POINTS.contains(&path));
            assert_eq!(m.flags & !POD_MOUNT_FLAGS, 0);
        }
        Item::TmpfsFile(f, path, target) => {
            assert_eq!(path.len(), f.path_len as usize);
            assert_eq!(target.len(), f.target_len as usize);
            assert!(path.is_empty() || check_tmpfs_path(path));
            assert!(!path.starts_with(b"/") && !path.split(|&c| c == b'/').any(|n| n == b".."));
            assert!((TMPFS_DIR..=TMPFS_LINK).contains(&f.kind));
            assert_eq!(f.kind == TMPFS_SYMLINK, !target.is_empty());
            assert_eq!(f.kind == TMPFS_LINK, f.link != 0);
            assert_eq!(f.mode & !0o7777, 0);
        }
        Item::SemUndo(u, adj) => {
            assert!(u.semid >= 0 && u.nsems > 0 && u.nsems <= MAX_SEMS);
            assert_eq!(SemUndoRec::adjustments(adj).count(), u.nsems as usize);
        }
        Item::MqNotify(n) => {
            assert!(n.fd < FilesHeader::MAX_FDS && n.signo <= MAX_SIGNUM);
            assert!(n.how == SIGEV_SIGNAL || (n.how == SIGEV_NONE && n.signo == 0));
        }
        Item::SysvSem(o, vals) => {
            assert_eq!(vals.len(), o.nsems as usize * SysvSemVal::LEN);
            assert_eq!(SysvSemObj::values(vals).count(), o.nsems as usize);
            assert!(SysvSemObj::values(vals).all(|v| (0..=SEMVMX).contains(&v.semval)));
        }
        Item::SysvShm(o) => {
            assert!(o.size > 0 && o.shmid >= 0 && o.mode & !(0o777 | SHM_DEST) == 0);
            assert!(o.pages_size() >= o.size && o.pages_size() % page == 0);
        }
        Item::TaskSched(s, mask) => {
            assert_eq!(mask.len(), s.nr_cpus.div_ceil(64) as usize * 8);
            assert!((-20..=19).contains(&s.nice) && mask.iter().any(|&b| b != 0));
        }
        Item::PodNet(n) => {
            assert_eq!(n.lo_flags & !LO_UP, 0);
            assert!(PodNetRec::MTU.contains(&n.lo_mtu));
        }
        Item::PodIpc(r) => {
            assert!((0..=1).contains(&r.shm_rmid_forced) && r.msgmax >= 0 && r.msgmnb >= 0);
            assert!(r.shmmni >= 0 && r.msgmni >= 0 && r.sem[3] >= 0);
        }
        Item::Cgroup(p) => {
            assert!(p.starts_with(b"/") && p.len() > 1 && p.len() <= MAX_CGROUP_PATH);
            assert!(!p
                .split(|&c| c == b'/')
                .skip(1)
                .any(|n| n.is_empty() || n == b".."));
        }
        Item::Auxv(b) => {
            let w: Vec<u64> = auxv_words(b).collect();
            assert!(w.len().is_multiple_of(2) && w.len() <= MAX_AUXV_WORDS && w[w.len() - 2] == 0);
        }
        Item::PosixTimers(h, b) => {
            assert_eq!(b.len(), h.nr as usize * PosixTimer::LEN);
            let ts: Vec<PosixTimer> = PosixTimers::timers(b).collect();
            assert_eq!(ts.len(), h.nr as usize);
            assert!(ts.windows(2).all(|w| w[0].id < w[1].id) && h.next_id >= 0);
            for t in ts {
                assert!(t.value_ns >= 0 && t.interval_ns >= 0 && t.overrun >= -1);
                assert!(t.notify == SIGEV_NONE || (1..=64).contains(&t.signo));
            }
        }
        Item::Pod(p) => {
            assert!(p.flags & !POD_FLAGS_MASK == 0);
            assert!(p.nodename_str().len() < UTS_LEN && p.domainname_str().len() < UTS_LEN);
            assert!(p.flags & POD_NEWUTS != 0 || p.nodename_str().is_empty());
        }
        Item::FileOwner(o) => {
            assert!(o.file > 0 && o.async_fd >= -1 && o.pid >= 0);
            assert!(o.owner_type <= OWNER_PGRP && o.signum <= MAX_SIGNUM);
        }
        Item::Memfd(m, name) => {
            assert_eq!(name.len(), m.name_len as usize);
            assert!(name.starts_with(b"memfd:") && m.size <= ShmemObj::MAX_SIZE);
        }
        Item::Pty(t, path, sides) => {
            assert_eq!(path.len(), t.path_len as usize);
            assert!(t.index <= i32::MAX as u32 && t.pktstatus <= 0xff);
            for d in sides {
                let s = d.side;
                assert_eq!(d.read.len(), s.read_len as usize);
                assert_eq!(d.ends.len(), s.read_len.div_ceil(8) as usize);
                assert_eq!(d.flip.len(), s.flip_len as usize);
                assert!(
                    s.read_len < LDISC_BUF && s.canon <= s.read_len && s.flip_len <= TTY_FLIP_MAX
                );
            }
        }
        Item::Ctty(c) => assert!(c.pty > 0 && c.fg_pgid > 0),
        Item::Pidfd(o) => assert!(o.pid > 0 && o.flags & !PIDFD_IS_THREAD == 0),
        Item::Inotify(o, watches, events) => {
            assert_eq!(watches.len(), o.watches_len as usize);
            let mut n = 0;
            for w in InotifyObj::watches(watches) {
                let (w, path) = w.expect("checked by the parser");
                assert!(w.wd > 0 && path.len() == w.path_len as usize && path.starts_with(b"/"));
                assert!(w.mask & !INOTIFY_WATCH_BITS == 0);
                n += 1;
            }
            assert_eq!(n, o.nr_watches);
            let mut n = 0;
            for e in InotifyObj::events(events) {
                let (e, name) = e.expect("checked by the parser");
                assert!(name.len() == e.name_len as usize && !name.contains(&b'/'));
                assert!(e.wd > 0 || (e.wd == -1 && e.mask == IN_Q_OVERFLOW));
                n += 1;
            }
            assert_eq!(n, o.nr_events);
        }
        Item::DeletedFile(d, path) => {
            assert_eq!(path.len(), d.path_len as usize);
            assert!(path.starts_with(b"/") && d.mode <= 0o777 && d.size <= ShmemObj::MAX_SIZE);
        }
        Item::Pages(h, data) => {
            assert_eq!(data.len(), h.data_len());
            assert!(h.flags & !PAGES_SHARED == 0);
            assert_eq!(data.is_empty(), h.shared());
            assert!(h.nr > 0 && h.nr <= MAX_PAGES_PER_RECORD && h.vaddr % page == 0);
            assert!(h.vaddr + data.len() as u64 <= USER_ADDR_END);
        }
        Item::TaskEnd | Item::Tail(_) => {}
    }
}

/// Encodes an item back into its payload.
fn encode(item: &Item<'_>, out: &mut Vec<u8>) {
    out.clear();
    match *item {
        Item::Header(h) => out.extend_from_slice(&h.encode()),
        Item::Forest(f) => out.extend_from_slice(&f.encode()),
        Item::Task(t) => out.extend_from_slice(&t.encode()),
        Item::TaskState(t) => out.extend_from_slice(&t.encode()),
        Item::Regs(r) => out.extend_from_slice(&r.encode()),
        Item::Xstate(h, d) => {
            out.extend_from_slice(&h.encode());
            out.extend_from_slice(d);
        }
        Item::RestartBlock(rb) => out.extend_from_slice(&rb.encode()),
        Item::TaskMisc(m, g) => {
            out.extend_from_slice(&m.encode());
            out.extend_from_slice(g);
        }
        Item::Signals(s, i) => {
            out.extend_from_slice(&s.encode());
            out.extend_from_slice(i);
        }
        Item::Sighand(p) => {
            let (sh, infos) = Sighand::parse(p).expect("a sighand the parser accepted parses");
            out.extend_from_slice(&sh.encode());
            out.extend_from_slice(infos);
        }
        Item::Mm(m, exe) => {
            out.extend_from_slice(&m.encode());
            out.extend_from_slice(exe);
        }
        Item::Vma(v, path) => {
            out.extend_from_slice(&v.encode());
            out.extend_from_slice(path);
        }
        Item::Shmem(s) => out.extend_from_slice(&s.encode()),
        Item::Eventfd(e) => out.extend_from_slice(&e.encode()),
        Item::Signalfd(s) => out.extend_from_slice(&s.encode()),
        Item::Timerfd(t) => out.extend_from_slice(&t.encode()),
        Item::Epoll(e, items) => {
            out.extend_from_slice(&e.encode());
            out.extend_from_slice(items);
        }
        Item::UnixPair(u, ends) => {
            out.extend_from_slice(&u.encode());
            for e in ends {
                out.extend_from_slice(&e.end.encode());
            }
            for e in ends {
                out.extend_from_slice(e.name);
                out.extend_from_slice(e.lens);
                out.extend_from_slice(e.data);
                out.extend_from_slice(e.fds);
            }
        }
        Item::UnixPending(u, e) => {
            out.extend_from_slice(&u.encode());
            out.extend_from_slice(&e.end.encode());
            out.extend_from_slice(e.lens);
            out.extend_from_slice(e.data);
            out.extend_from_slice(e.fds);
        }
        Item::InetSock(s, d) => encode_inet(out, &s, &d),
        Item::PacketSock(s, d) => {
            out.extend_from_slice(&s.encode());
            for o in d.opts.iter() {
                out.extend_from_slice(&o.encode());
            }
            out.extend_from_slice(d.filter);
            out.extend_from_slice(d.frames.0);
            out.extend_from_slice(d.frames.1);
        }
        Item::InetPending(p, s, d) => {
            out.extend_from_slice(&p.encode());
            encode_inet(out, &s, &d);
        }
        Item::UnixSock(u, e) => {
            out.extend_from_slice(&u.encode());
            out.extend_from_slice(&e.end.encode());
            out.extend_from_slice(e.name);
            out.extend_from_slice(e.lens);
            out.extend_from_slice(e.data);
            out.extend_from_slice(e.fds);
        }
        Item::Fifo(f, data, path) => {
            out.extend_from_slice(&f.encode());
            out.extend_from_slice(data);
            out.extend_from_slice(path);
        }
        Item::ShmemPages(h, d) => {
            out.extend_from_slice(&h.encode());
            out.extend_from_slice(d);
        }
        Item::Files(h, cwd, root) => {
            out.extend_from_slice(&h.encode());
            out.extend_from_slice(cwd);
            out.extend_from_slice(root);
        }
        Item::File(f, path) => {
            out.extend_from_slice(&f.encode());
            out.extend_from_slice(path);
        }
        Item::Pipe(p, d) => {
            out.extend_from_slice(&p.encode());
            out.extend_from_slice(d);
        }
        Item::Fd(f) => out.extend_from_slice(&f.encode()),
        Item::FileLock(l) => out.extend_from_slice(&l.encode()),
        Item::Share(sh) => out.extend_from_slice(&sh.encode()),
        Item::Pod(p) => out.extend_from_slice(&p.encode()),
        Item::TaskSched(s, mask) => {
            out.extend_from_slice(&s.encode());
            out.extend_from_slice(mask);
        }
        Item::PosixTimers(h, b) => {
            out.extend_from_slice(&h.encode());
            out.extend_from_slice(b);
        }
        Item::Auxv(b) | Item::Cgroup(b) => out.extend_from_slice(b),
        Item::PodIpc(r) => out.extend_from_slice(&r.encode()),
        Item::PodNet(n) => out.extend_from_slice(&n.encode()),
        Item::SysvShm(o) => out.extend_from_slice(&o.encode()),
        Item::SysvSem(o, vals) => {
            out.extend_from_slice(&o.encode());
            out.extend_from_slice(vals);
        }
        Item::SysvMsg(o, msgs) => {
            out.extend_from_slice(&o.encode());
            out.extend_from_slice(msgs);
        }
        Item::FileOwner(o) => out.extend_from_slice(&o.encode()),
        Item::MqNotify(n) => out.extend_from_slice(&n.encode()),
        Item::SemUndo(u, adj) => {
            out.extend_from_slice(&u.encode());
            out.extend_from_slice(adj);
            out.resize(out.len().next_multiple_of(8), 0);
        }
        Item::PosixMq(o, name, msgs) => {
            out.extend_from_slice(&o.encode());
            out.extend_from_slice(name);
            out.resize(out.len().next_multiple_of(8), 0);
            out.extend_from_slice(msgs);
        }
        Item::PodMount(m, path) => {
            out.extend_from_slice(&m.encode());
            out.extend_from_slice(path);
        }
        Item::TmpfsFile(f, path, target) => {
            out.extend_from_slice(&f.encode());
            out.extend_from_slice(path);
            out.extend_from_slice(target);
        }
        Item::Memfd(m, name) => {
            out.extend_from_slice(&m.encode());
            out.extend_from_slice(name);
        }
        Item::Pty(t, path, sides) => {
            out.extend_from_slice(&t.encode());
            for d in sides {
                out.extend_from_slice(&d.side.encode());
            }
            out.extend_from_slice(path);
            for d in sides {
                out.extend_from_slice(d.read);
                out.extend_from_slice(d.ends);
                out.extend_from_slice(d.flip);
            }
        }
        Item::Ctty(c) => out.extend_from_slice(&c.encode()),
        Item::Pidfd(o) => out.extend_from_slice(&o.encode()),
        Item::Inotify(o, watches, events) => {
            out.extend_from_slice(&o.encode());
            out.extend_from_slice(watches);
            out.extend_from_slice(events);
        }
        Item::DeletedFile(d, path) => {
            out.extend_from_slice(&d.encode());
            out.extend_from_slice(path);
        }
        Item::Pages(h, d) => {
            out.extend_from_slice(&h.encode());
            out.extend_from_slice(d);
        }
        Item::TaskEnd => {}
        Item::Tail(t) => out.extend_from_slice(&t.encode()),
    }
}

/// Formats an error and checks that it names a record and an offset
/// inside the input.
fn exercise_error(e: &DecodeError, len: usize, text: &mut String) {
    text.clear();
    let _ = write!(text, "{e} / {e:?} / {}", e.kind);
    assert!(text.starts_with("record #"), "error text: {text}");
    assert!(
        e.offset <= len as u64,
        "error offset {} past the end ({len}): {text}",
        e.offset
    );
    if let Some(name) = e
        .record_type
        .and_then(RecordType::from_u32)
        .map(RecordType::name)
    {
        assert!(!name.is_empty());
    }
}

/// The whole-buffer reader.
fn whole(
    buf: &[u8],
    by_type: &mut [u32; RecordType::ALL.len()],
    scratch: &mut Scratch,
) -> (u32, Result<(), DecodeError>) {
    let mut reader = ImageDecoder::new(buf);
    let mut items = 0u32;
    let mut last = None;
    // Each result consumes a record of at least 8 bytes, or ends the stream.
    let most = buf.len() / RECORD_HEADER_LEN + 1;
    let mut results = 0;
    let result = loop {
        let Some(r) = reader.next() else {
            assert_eq!(
                last,
                Some(RecordType::Tail),
                "the reader ended without an error before the tail"
            );
            break Ok(());
        };
        results += 1;
        assert!(
            results <= most,
            "the reader yields more results than records"
        );
        match r {
            Ok(item) => {
                exercise(&item);
                let t = item_type(&item);
                by_type[type_index(t)] += 1;
                last = Some(t);
                items += 1;
            }
            Err(e) => {
                exercise_error(&e, buf.len(), &mut scratch.text);
                break Err(e);
            }
        }
    };
    assert!(reader.next().is_none(), "the reader goes on after its end");
    (items, result)
}

/// The record-by-record reader, as the kernel reads an image from a file:
/// a prefix, then payload and padding, then [`Parser::feed`]. Unlike the
/// kernel (which stops at the tail) it goes on reading after the tail, as
/// the whole-buffer reader does. Every accepted item must encode back to
/// the payload it was decoded from.
fn streamed(buf: &[u8], scratch: &mut Scratch) -> (u32, Result<(), DecodeError>) {
    let mut parser = Parser::new();
    let mut pos = 0usize;
    let mut index = 0u32;
    let mut items = 0u32;
    loop {
        let offset = pos as u64;
        let bad = |kind, record_type| DecodeError {
            index,
            offset,
            record_type,
            kind,
        };
        let rest = &buf[pos..];
        if rest.is_empty() && parser.is_done() {
            return (items, Ok(()));
        }
        let Some(prefix) = rest.get(..RECORD_HEADER_LEN) else {
            return (items, Err(bad(ErrorKind::Truncated, None)));
        };
        let kind = u32::from_le_bytes(prefix[..4].try_into().unwrap());
        let len = u32::from_le_bytes(prefix[4..].try_into().unwrap());
        if len > MAX_PAYLOAD_LEN {
            return (items, Err(bad(ErrorKind::Oversized(len), Some(kind))));
        }
        let len = len as usize;
        let pad = padding(len);
        let Some(body) = rest.get(RECORD_HEADER_LEN..RECORD_HEADER_LEN + len + pad) else {
            return (items, Err(bad(ErrorKind::Truncated, Some(kind))));
        };
        let (payload, padding) = body.split_at(len);
        if padding.iter().any(|&b| b != 0) {
            return (items, Err(bad(ErrorKind::BadPadding, Some(kind))));
        }
        pos += RECORD_HEADER_LEN + len + pad;
        let rec = RawRecord {
            kind,
            payload,
            index,
            offset,
        };
        match parser.feed(rec) {
            Ok(item) => {
                let t = item_type(&item);
                assert_eq!(t as u32, kind, "record #{index}: a {} item", t.name());
                encode(&item, &mut scratch.enc);
                if let Item::PodIpc(r) = item {
                    if payload.len() == PodIpcRec::LEN_BEFORE_MQ {
                        // A record written before the fs.mqueue sysctls:
                        // read with a new namespace's, its padding last.
                        assert_eq!((r.mq, r.next_id), (MQ_SYSCTL_DEFAULTS, [-1; 3]));
                        scratch.enc.truncate(PodIpcRec::LEN_BEFORE_MQ - 4);
                        scratch.enc.extend_from_slice(&[0; 4]);
                    } else if payload.len() == PodIpcRec::LEN_BEFORE_NEXT_ID {
                        assert_eq!(r.next_id, [-1; 3]);
                        scratch.enc.truncate(PodIpcRec::LEN_BEFORE_NEXT_ID);
                    }
                }
                assert!(
                    scratch.enc == payload,
                    "record #{index} ({}) at offset {offset}: the decoded item encodes to other bytes",
                    t.name()
                );
                items += 1;
            }
            Err(k) => return (items, Err(bad(k, Some(kind)))),
        }
        index = index.saturating_add(1);
    }
}

/// The raw record splitter alone: records are 8-byte aligned, in order,
/// inside the buffer.
fn raw(buf: &[u8]) {
    let mut recs = RawRecords::new(buf);
    let mut last_end = 0usize;
    let mut n = 0u32;
    while let Some(r) = recs.next() {
        assert!(recs.position() <= buf.len());
        match r {
            Ok(rec) => {
                assert_eq!(rec.offset, last_end as u64);
                assert_eq!(rec.index, n);
                assert_eq!(rec.offset % ALIGN as u64, 0);
                assert!(rec.payload.len() <= MAX_PAYLOAD_LEN as usize);
                last_end = recs.position();
                assert!(last_end > rec.offset as usize);
                n += 1;
            }
            Err(e) => {
                assert_eq!((e.offset, e.index), (last_end as u64, n));
                assert!(recs.next().is_none(), "the splitter goes on after an error");
                break;
            }
        }
    }
}

/// Runs every decoder over `buf`; panics if any of them misbehaves.
pub fn check(buf: &[u8], scratch: &mut Scratch) -> Outcome {
    let mut by_type = [0u32; RecordType::ALL.len()];
    raw(buf);
    let (items, result) = whole(buf, &mut by_type, scratch);
    let (items2, result2) = streamed(buf, scratch);
    let same = match (&result, &result2) {
        (Ok(()), Ok(())) => true,
        (Err(a), Err(b)) => (a.kind, a.index, a.offset) == (b.kind, b.index, b.offset),
        _ => false,
    };
    assert!(
        same && items == items2,
        "the whole-buffer reader ({items} items, {result:?}) and the record-by-record \
         reader ({items2} items, {result2:?}) disagree"
    );
    Outcome {
        result,
        items,
        by_type,
    }
}

/// What the parser promises of an `inet-sock` payload.
fn check_inet(s: &InetSockObj, d: &InetSockData<'_>) {
    assert!(s.id > 0 && matches!(s.family, AF_INET | AF_INET6));
    assert_eq!(s.lport != 0, s.flags & INET_BOUND != 0);
    if let Some((c, sendq, recvq)) = d.tcp {
        assert_eq!(sendq.len(), c.send_len() as usize);
        assert_eq!(recvq.len(), c.recv_len() as usize);
        assert!(c.sent_len() <= c.send_len());
    }
    let (mut nd, mut bytes) = (0u32, 0usize);
    for (g, p) in d.dgrams() {
        assert_eq!(p.len(), g.len as usize);
        nd += 1;
        bytes += p.len();
    }
    assert_eq!((nd, bytes), (s.nr_dgrams, s.dgram_bytes as usize));
    assert_eq!(d.filter.len(), s.nr_filter as usize * INET_FILTER_INSN_LEN);
    assert!(s.nr_filter <= INET_MAX_FILTER);
    assert_eq!(d.groups().count(), s.nr_groups as usize);
    assert!(d.groups().all(|g| g.fits(s.family)));
    if let Some(k) = s.kind() {
        assert!(d.dgrams().all(|(g, _)| g.fits(k, s.family)));
    }
    let mut n = 0;
    for o in d.opts.iter() {
        assert!(inet_opt_def(o.opt).is_some());
        n += 1;
    }
    assert_eq!(n, s.nr_opts);
}

/// What the parser promises of a `packet-sock` payload.
fn check_packet(s: &PacketSockObj, d: &PacketSockData<'_>) {
    assert!(s.id > 0 && matches!(s.sock_type, INET_SOCK_RAW | INET_SOCK_DGRAM));
    assert_eq!(s.protocol != 0, s.flags & PACKET_RUNNING != 0);
    assert_eq!(s.ifindex != 0, !s.dev_str().is_empty());
    let (mut n, mut bytes) = (0u32, 0usize);
    for (f, b) in d.frames() {
        assert!(f.fits());
        assert_eq!(b.len(), f.len as usize);
        n += 1;
        bytes += b.len();
    }
    assert_eq!((n, bytes), (s.nr_frames, s.frame_bytes as usize));
    assert_eq!(d.filter_insns().count(), s.nr_filter as usize);
    let mut n = 0;
    for o in d.opts.iter() {
        assert!(inet_opt_def(o.opt).is_some_and(|def| def.for_packet()));
        n += 1;
    }
    assert_eq!(n, s.nr_opts);
}

/// An `inet-sock` payload, encoded again.
fn encode_inet(out: &mut Vec<u8>, s: &InetSockObj, d: &InetSockData<'_>) {
    out.extend_from_slice(&s.encode());
    for o in d.opts.iter() {
        out.extend_from_slice(&o.encode());
    }
    out.extend_from_slice(d.filter);
    out.extend_from_slice(d.groups);
    out.extend_from_slice(d.dgrams.0);
    out.extend_from_slice(d.dgrams.1);
    if let Some((c, sendq, recvq)) = d.tcp {
        out.extend_from_slice(&c.encode());
        out.extend_from_slice(sendq);
        out.extend_from_slice(recvq);
    }
}
