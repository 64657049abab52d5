// SPDX-License-Identifier: GPL-2.0
//! Valid images, built with the image crate's own encoders: the starting
//! points of every mutation. [`seeds`] checks that each one decodes whole.

use ckpt_image::*;

use crate::check::{self, Scratch};
use crate::{serialize, Rec};

/// A named valid image, as a list of records (the tail included).
#[derive(Clone, Debug)]
pub struct Seed {
    pub name: &'static str,
    pub recs: Vec<Rec>,
}

/// Collects records and ends them with a tail whose counts are right.
struct Builder {
    recs: Vec<Rec>,
}

impl Builder {
    fn new(flags: u64) -> Self {
        let mut release = [0u8; RELEASE_LEN];
        let r = b"6.12.0-kckpt";
        release[..r.len()].copy_from_slice(r);
        let header = Header {
            version: IMAGE_VERSION,
            arch: ARCH_X86_64,
            flags,
            release,
        };
        let mut b = Self { recs: Vec::new() };
        b.rec(RecordType::Header, &[&header.encode()]);
        b
    }

    fn rec(&mut self, kind: RecordType, parts: &[&[u8]]) {
        let payload = parts.concat();
        self.recs.push(Rec {
            kind: kind as u32,
            payload,
        });
    }

    /// The forest head and one row per task.
    fn forest(&mut self, rows: &[TaskEntry]) {
        let root = rows.iter().find(|t| t.flags & TASK_ROOT != 0).unwrap();
        let f = ForestHead {
            nr_tasks: rows.len() as u32,
            root_pid: root.pid,
        };
        self.rec(RecordType::Forest, &[&f.encode()]);
        for t in rows {
            self.rec(RecordType::Task, &[&t.encode()]);
        }
    }

    fn finish(mut self) -> Vec<Rec> {
        let mut bytes = 0u64;
        for r in &self.recs {
            bytes += (RECORD_HEADER_LEN + r.payload.len() + padding(r.payload.len())) as u64;
        }
        let tail = Tail {
            nr_records: self.recs.len() as u32,
            bytes,
        };
        self.rec(RecordType::Tail, &[&tail.encode()]);
        self.recs
    }
}

fn comm(s: &str) -> [u8; COMM_LEN] {
    let mut c = [0u8; COMM_LEN];
    c[..s.len()].copy_from_slice(s.as_bytes());
    c
}

fn row(pid: i32, tgid: i32, ppid: i32, flags: u32, name: &str) -> TaskEntry {
    TaskEntry {
        pid,
        tgid,
        ppid,
        sid: 100,
        pgid: if flags & TASK_THREAD != 0 { 100 } else { tgid },
        flags,
        exit_code: if flags & TASK_ZOMBIE != 0 { 3 << 8 } else { 0 },
        exit_signal: if flags & TASK_THREAD != 0 { -1 } else { 17 },
        comm: comm(name),
    }
}

fn siginfo(signo: i32) -> [u8; SIGINFO_LEN] {
    let mut info = [0u8; SIGINFO_LEN];
    info[..4].copy_from_slice(&signo.to_le_bytes());
    // si_code SI_QUEUE, a pid and a value, as sigqueue(3) leaves them.
    info[8..12].copy_from_slice(&(-1i32).to_le_bytes());
    info[16..20].copy_from_slice(&4242i32.to_le_bytes());
    info[24..32].copy_from_slice(&0x1234_5678u64.to_le_bytes());
    info
}

fn pattern(n: usize, salt: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(salt))
        .collect()
}

/// How much state a task carries.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Rich {
    Plain,
    Full,
}

/// The part every live task has: task-state → regs → xstate →
/// restart-block → task-misc → signals.
fn thread_part(b: &mut Builder, pid: i32, rich: Rich) {
    b.rec(RecordType::TaskState, &[&TaskState { pid }.encode()]);
    let mut regs = [0u64; 27];
    for (i, r) in regs.iter_mut().enumerate() {
        *r = 0x1000 * i as u64 + pid as u64;
    }
    regs[15] = if rich == Rich::Full { 35 } else { u64::MAX }; // orig_rax
    regs[16] = 0x40_1000; // rip
    regs[17] = 0x33; // cs
    regs[18] = 0x246; // eflags
    regs[19] = 0x7ffd_f000; // rsp
    regs[20] = 0x2b; // ss
    b.rec(RecordType::Regs, &[&Regs(regs).encode()]);
    let size = if rich == Rich::Full { 2696 } else { 576 };
    let x = XstateHeader {
        xfeatures: if rich == Rich::Full { 0xe7 } else { 3 },
        size,
    };
    b.rec(
        RecordType::Xstate,
        &[&x.encode(), &pattern(size as usize, pid as u8)],
    );
    let rb = if rich == Rich::Full {
        RestartBlock {
            kind: RESTART_NANOSLEEP,
            clockid: 1,
            ts_type: 1,
            rmtp: 0x7ffd_e000,
            aux: 0,
            remaining_ns: 1_500_000_000,
        }
    } else if pid % 2 == 1 {
        // A timed futex wait (a private 32-bit word on CLOCK_MONOTONIC).
        RestartBlock {
            kind: RESTART_FUTEX,
            clockid: 0x0002,
            ts_type: 0,
            rmtp: 0x7ffd_f000,
            aux: u32::MAX,
            remaining_ns: 250_000_000,
        }
    } else {
        RestartBlock::default()
    };
    b.rec(RecordType::RestartBlock, &[&rb.encode()]);
    let mut rlimits = [(8 << 20, u64::MAX); NLIMITS];
    rlimits[7] = (1024, 4096); // RLIMIT_NOFILE
    let (misc, groups): (TaskMisc, Vec<u8>) = if rich == Rich::Full {
        let groups = [100u32, 200, 65534];
        let g: Vec<u8> = groups.iter().flat_map(|g| g.to_le_bytes()).collect();
        let m = TaskMisc {
            rseq: 0x7f00_1000,
            rseq_len: 32,
            rseq_sig: 0x5305_3053,
            robust_list: 0x7f00_2000,
            clear_child_tid: 0x7f00_3000,
            pdeath_signal: 9,
            personality: 0,
            rlimits,
            ids: [1000; 8],
            itimers: [2_000_000_000, 0, 0, 0, 500_000, 500_000],
            flags: MISC_CHILD_SUBREAPER | MISC_NO_NEW_PRIVS,
            ngroups: groups.len() as u32,
            // Inheritable, permitted, effective, bounding, ambient.
            caps: [1 << 12, (1 << 12) | 1, 1, CAP_VALID_MASK, 1 << 12],
            securebits: 1 << 4,
            // Stopped by SIGTSTP, not yet reported to its parent.
            stop: STOP_STOPPED | 20 | 20 << 8,
        };
        (m, g)
    } else {
        let m = TaskMisc {
            rlimits,
            ..Default::default()
        };
        (m, Vec::new())
    };
    b.rec(RecordType::TaskMisc, &[&misc.encode(), &groups]);
    if rich == Rich::Full {
        // SCHED_RR 10, nice 5, on CPUs 1 and 65.
        let sched = TaskSched {
            policy: 2,
            nice: 5,
            rt_priority: 10,
            timer_slack_ns: 50_000,
            oom_score_adj: 300,
            proc_flags: SCHED_PROC_THP_DISABLE,
            nr_cpus: 128,
            // MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED.
            membarrier: 1 << 4,
            ..Default::default()
        };
        let mask = [2u64.to_le_bytes(), 2u64.to_le_bytes()].concat();
        b.rec(RecordType::TaskSched, &[&sched.encode(), &mask]);
    }
    if rich == Rich::Full {
        let s = Signals {
            blocked: (1 << 9) | (1 << 11),
            ss_sp: 0x7f00_8000,
            ss_size: 8192,
            ss_flags: 0,
            nr_info: 2,
            pending: (1 << 9) | (1 << 11),
        };
        b.rec(
            RecordType::Signals,
            &[&s.encode(), &siginfo(10), &siginfo(12)],
        );
    } else {
        b.rec(RecordType::Signals, &[&Signals::default().encode()]);
    }
}

fn vma(start: u64, pages: u64, kind: u32, flags: u64, path: &[u8], obj: ObjId) -> [Vec<u8>; 2] {
    let v = Vma {
        start,
        end: start + pages * PAGE_SIZE as u64,
        pgoff: 0,
        flags,
        kind,
        path_len: path.len() as u32,
        obj,
    };
    [v.encode().to_vec(), path.to_vec()]
}

fn mm(b: &mut Builder, nr_vmas: u32, exe: &[u8]) {
    mm_from(b, nr_vmas, exe, 0);
}

/// A memory map that starts from process `from`'s (0: none).
fn mm_from(b: &mut Builder, nr_vmas: u32, exe: &[u8], from: i32) {
    let m = MmHeader {
        start_code: 0x40_0000,
        end_code: 0x40_2000,
        start_data: 0x60_0000,
        end_data: 0x60_1000,
        start_brk: 0x70_0000,
        brk: 0x70_2000,
        start_stack: 0x7ffd_f000,
        arg_start: 0x7ffd_f100,
        arg_end: 0x7ffd_f200,
        env_start: 0x7ffd_f200,
        env_end: 0x7ffd_f300,
        vdso: 0x7fff_f000_0000,
        nr_vmas,
        exe_len: exe.len() as u32,
        from,
    };
    b.rec(RecordType::Mm, &[&m.encode(), exe]);
}

fn files(b: &mut Builder, nr_fds: u32, cwd: &[u8]) {
    let h = FilesHeader {
        nr_fds,
        umask: 0o022,
        cwd_len: cwd.len() as u32,
        root_len: 1,
    };
    b.rec(RecordType::Files, &[&h.encode(), cwd, b"/"]);
}

fn file(b: &mut Builder, id: ObjId, kind: u32, obj: ObjId, path: &[u8]) {
    let f = FileObj {
        id,
        kind,
        f_flags: if kind == FILE_REG { 0o2001 } else { 0o2 },
        flags: if path.ends_with(b" (deleted)") {
            FILE_DELETED
        } else {
            0
        },
        pos: if kind == FILE_REG { 42 } else { 0 },
        obj,
        path_len: path.len() as u32,
    };
    b.rec(RecordType::File, &[&f.encode(), path]);
}

fn fd(b: &mut Builder, fd: u32, file: ObjId, cloexec: bool) {
    let f = Fd {
        fd,
        fd_flags: if cloexec { FD_CLOEXEC } else { 0 },
        file,
    };
    b.rec(RecordType::Fd, &[&f.encode()]);
}

fn sighand(b: &mut Builder, rich: Rich) {
    let mut actions = [SigAction::default(); NSIG];
    let mut infos = Vec::new();
    let mut shared = 0;
    if rich == Rich::Full {
        actions[9] = SigAction {
            handler: 0x40_1234,
            flags: 0x0400_0000 | 0x0800_0000,
            restorer: 0x40_1000,
            mask: 1 << 11,
        };
        actions[12] = SigAction {
            handler: 1, // SIG_IGN
            ..Default::default()
        };
        shared = 1 << 14; // SIGTERM
        infos.extend_from_slice(&siginfo(15));
    }
    let sh = Sighand {
        actions,
        shared_pending: shared,
        nr_info: (infos.len() / SIGINFO_LEN) as u32,
    };
    b.rec(RecordType::Sighand, &[&sh.encode(), &infos]);
    if rich == Rich::Full {
        // A monotonic interval timer whose signal is pending with two
        // overruns, and a CPU-time one counting a thread's time.
        let h = PosixTimers { next_id: 5, nr: 2 };
        let a = PosixTimer {
            id: 0,
            clock: 1,
            notify: SIGEV_SIGNAL,
            signo: 35,
            value: 7,
            flags: PTIMER_PENDING,
            value_ns: 4_000_000,
            interval_ns: 10_000_000,
            overrun: 3,
            overrun_last: 1,
            si_overrun: 2,
            ..Default::default()
        };
        let c = PosixTimer {
            id: 3,
            clock: -6,
            notify: SIGEV_THREAD_ID | SIGEV_SIGNAL,
            signo: 12,
            thread: 101,
            value_ns: 30_000_000_000,
            overrun: -1,
            cpu_pid: 101,
            ..Default::default()
        };
        b.rec(
            RecordType::PosixTimers,
            &[&h.encode(), &a.encode(), &c.encode()],
        );
    }
}

fn pages(b: &mut Builder, vaddr: u64, nr: u32, salt: u8) {
    let h = PagesHeader {
        vaddr,
        nr,
        flags: 0,
    };
    b.rec(
        RecordType::Pages,
        &[&h.encode(), &pattern(nr as usize * PAGE_SIZE, salt)],
    );
}

/// Pages kept from the process the memory comes from: no contents.
fn shared_pages(b: &mut Builder, vaddr: u64, nr: u32) {
    let h = PagesHeader {
        vaddr,
        nr,
        flags: PAGES_SHARED,
    };
    b.rec(RecordType::Pages, &[&h.encode()]);
}

/// Every record type, in the order the parser expects: a root process
/// with all of its state, one of its threads, a child with little state
/// that uses the root's pipe, and a zombie.
fn every_record() -> Vec<Rec> {
    let mut b = Builder::new(CHECKPOINT_SUBTREE);
    b.forest(&[
        row(100, 100, 1, TASK_ROOT, "root"),
        row(101, 100, 1, TASK_THREAD, "root-worker"),
        row(102, 102, 100, 0, "child"),
        row(103, 103, 100, TASK_ZOMBIE, "zombie"),
    ]);
    // The root.
    thread_part(&mut b, 100, Rich::Full);
    mm(&mut b, 4, b"/usr/bin/prog");
    let exe = vma(
        0x40_0000,
        2,
        VMA_FILE,
        VM_READ | VM_EXEC,
        b"/usr/bin/prog",
        0,
    );
    b.rec(RecordType::Vma, &[&exe[0], &exe[1]]);
    let shm = ShmemObj {
        id: 1,
        size: 4 * PAGE_SIZE as u64,
    };
    b.rec(RecordType::Shmem, &[&shm.encode()]);
    let sp = ShmemPagesHeader {
        id: 1,
        nr: 1,
        offset: 2 * PAGE_SIZE as u64,
    };
    b.rec(
        RecordType::ShmemPages,
        &[&sp.encode(), &pattern(PAGE_SIZE, 0x5a)],
    );
    let v = vma(
        0x50_0000,
        4,
        VMA_SHMEM,
        VM_READ | VM_WRITE | VM_SHARED,
        b"",
        1,
    );
    b.rec(RecordType::Vma, &[&v[0], &v[1]]);
    let v = vma(0x70_0000, 2, VMA_ANON, VM_READ | VM_WRITE, b"", 0);
    b.rec(RecordType::Vma, &[&v[0], &v[1]]);
    let v = vma(0x7fff_f000_0000, 2, VMA_VDSO, VM_READ | VM_EXEC, b"", 0);
    b.rec(RecordType::Vma, &[&v[0], &v[1]]);
    // AT_PAGESZ 4096, AT_SYSINFO_EHDR the vdso, AT_NULL.
    let auxv: Vec<u8> = [6u64, 4096, 33, 0x7fff_f000_0000, 0, 0]
        .iter()
        .flat_map(|w| w.to_le_bytes())
        .collect();
    b.rec(RecordType::Auxv, &[&auxv]);
    b.rec(RecordType::Cgroup, &[b"/workers/a"]);
    files(&mut b, 14, b"/tmp/work");
    file(&mut b, 2, FILE_REG, 0, b"/tmp/log");
    fd(&mut b, 0, 2, false);
    let data = b"in flight";
    let p = PipeObj {
        id: 3,
        capacity: 65536,
        data_len: data.len() as u32,
    };
    b.rec(RecordType::Pipe, &[&p.encode(), data]);
    file(&mut b, 4, FILE_PIPE, 3, b"pipe:[4242]");
    fd(&mut b, 1, 4, false);
    fd(&mut b, 2, 4, true);
    file(&mut b, 5, FILE_CHR, 0, b"/dev/null");
    fd(&mut b, 3, 5, true);
    file(&mut b, 6, FILE_REG, 0, b"/tmp/gone (deleted)");
    fd(&mut b, 7, 6, false);
    let e = EventfdObj {
        id: 7,
        flags: EFD_SEMAPHORE | EFD_NONBLOCK,
        count: 3,
    };
    b.rec(RecordType::Eventfd, &[&e.encode()]);
    file(&mut b, 8, FILE_EVENTFD, 7, b"anon_inode:[eventfd]");
    fd(&mut b, 9, 8, true);
    let sfd = SignalfdObj {
        id: 9,
        mask: 1 << (10 - 1),
    };
    b.rec(RecordType::Signalfd, &[&sfd.encode()]);
    file(&mut b, 10, FILE_SIGNALFD, 9, b"anon_inode:[signalfd]");
    fd(&mut b, 10, 10, false);
    let fifo_path = b"/tmp/fifo";
    let fifo_data = b"queued";
    let fo = FifoObj {
        id: 11,
        capacity: 65536,
        data_len: fifo_data.len() as u32,
        path_len: fifo_path.len() as u32,
    };
    b.rec(RecordType::Fifo, &[&fo.encode(), fifo_data, fifo_path]);
    file(&mut b, 12, FILE_FIFO, 11, fifo_path);
    fd(&mut b, 11, 12, false);
    let tfd = TimerfdObj {
        id: 13,
        clockid: 1,
        flags: 0,
        ticks: 2,
        value_ns: 250_000_000,
        interval_ns: 500_000_000,
    };
    b.rec(RecordType::Timerfd, &[&tfd.encode()]);
    file(&mut b, 14, FILE_TIMERFD, 13, b"anon_inode:[timerfd]");
    fd(&mut b, 12, 14, false);
    // An epoll set watching the timerfd (edge-triggered, reported) and the
    // signalfd under a descriptor number since closed (ready).
    let items = [
        EpollItem {
            file: 14,
            fd: 12,
            events: 0x8000_0001,
            flags: 0,
            data: 0x1234,
        },
        EpollItem {
            file: 10,
            fd: 40,
            events: 0x19,
            flags: EPOLL_ITEM_READY,
            data: u64::MAX,
        },
    ];
    let ep = EpollObj {
        id: 15,
        nr_items: items.len() as u32,
    };
    let bytes: Vec<u8> = items.iter().flat_map(|i| i.encode()).collect();
    b.rec(RecordType::Epoll, &[&ep.encode(), &bytes]);
    file(&mut b, 16, FILE_EPOLL, 15, b"anon_inode:[eventpoll]");
    fd(&mut b, 13, 16, false);
    // A stream socket pair: two messages queued to end 0, the second
    // carrying /tmp/log and the pipe's read end in flight (SCM_RIGHTS);
    // end 1 shut down for writing.
    let pair = UnixPairObj {
        id: 17,
        sock_type: SOCK_STREAM,
    };
    let e0 = UnixEnd {
        shutdown: UNIX_RCV_SHUTDOWN,
        flags: UNIX_PASSCRED,
        sndbuf: 0,
        rcvbuf: 8192,
        nr_msgs: 2,
        data_len: 5,
        nr_fds: 2,
        ..UnixEnd::default()
    };
    let e1 = UnixEnd {
        shutdown: UNIX_SEND_SHUTDOWN,
        ..UnixEnd::default()
    };
    let lens: Vec<u8> = [3u32, 2].iter().flat_map(|l| l.to_le_bytes()).collect();
    let in_flight: Vec<u8> = [2u32, 4]
        .iter()
        .flat_map(|&file| UnixFdInFlight { msg: 1, file }.encode())
        .collect();
    b.rec(
        RecordType::UnixPair,
        &[
            &pair.encode(),
            &e0.encode(),
            &e1.encode(),
            &lens,
            b"hello",
            &in_flight,
        ],
    );
    let mut f = FileObj {
        id: 18,
        kind: FILE_UNIX,
        f_flags: 0o2,
        flags: 0,
        pos: 0,
        obj: 17,
        path_len: 12,
    };
    b.rec(RecordType::File, &[&f.encode(), b"socket:[100]"]);
    fd(&mut b, 14, 18, false);
    f.id = 19;
    f.flags = FILE_PEER_END;
    b.rec(RecordType::File, &[&f.encode(), b"socket:[101]"]);
    fd(&mut b, 15, 19, false);
    // A bound datagram socket with one datagram queued.
    let sock = UnixSockObj {
        id: 20,
        sock_type: SOCK_DGRAM,
    };
    let end = UnixEnd {
        flags: UNIX_BOUND,
        nr_msgs: 1,
        data_len: 4,
        name_len: 9,
        mode: 0o666,
        ..UnixEnd::default()
    };
    b.rec(
        RecordType::UnixSock,
        &[
            &sock.encode(),
            &end.encode(),
            b"/dev/log\0",
            &4u32.to_le_bytes(),
            b"<13>",
        ],
    );
    let f = FileObj {
        id: 21,
        kind: FILE_UNIX,
        f_flags: 0o2,
        flags: 0,
        pos: 0,
        obj: 20,
        path_len: 12,
    };
    b.rec(RecordType::File, &[&f.encode(), b"socket:[102]"]);
    fd(&mut b, 16, 21, false);
    // A sealed memfd of 5000 bytes, its second page holding data.
    let name = b"memfd:cache";
    let mf = MemfdObj {
        id: 22,
        seals: 0x1 | 0x8,
        size: 5000,
        mode: 0o777,
        name_len: name.len() as u32,
    };
    b.rec(RecordType::Memfd, &[&mf.encode(), name]);
    let sp = ShmemPagesHeader {
        id: 22,
        nr: 1,
        offset: PAGE_SIZE as u64,
    };
    b.rec(
        RecordType::ShmemPages,
        &[&sp.encode(), &pattern(PAGE_SIZE, 0x33)],
    );
    file(&mut b, 23, FILE_MEMFD, 22, b"/memfd:cache (deleted)");
    fd(&mut b, 17, 23, false);
    // A POSIX write lock on bytes 100 to the end of /tmp/log, and a shared
    // flock on it.
    let lock = FileLockRec {
        file: 2,
        kind: LOCK_POSIX,
        lock_type: LOCK_WRITE,
        fd: 0,
        start: 100,
        end: LOCK_TO_EOF,
    };
    b.rec(RecordType::FileLock, &[&lock.encode()]);
    let lock = FileLockRec {
        kind: LOCK_FLOCK,
        lock_type: LOCK_READ,
        start: 0,
        end: 0,
        ..lock
    };
    b.rec(RecordType::FileLock, &[&lock.encode()]);
    // And a read lease on it, taken through descriptor 0.
    let lease = FileLockRec {
        kind: LOCK_LEASE,
        ..lock
    };
    b.rec(RecordType::FileLock, &[&lease.encode()]);
    sighand(&mut b, Rich::Full);
    pages(&mut b, 0x70_0000, 1, 1);
    pages(&mut b, 0x70_1000, 1, 2);
    b.rec(RecordType::TaskEnd, &[]);
    // Its thread.
    thread_part(&mut b, 101, Rich::Plain);
    b.rec(RecordType::TaskEnd, &[]);
    // The child: a stack it shares with the root, the root's pipe.
    thread_part(&mut b, 102, Rich::Plain);
    mm_from(&mut b, 1, b"", 100);
    let v = vma(
        0x7ffd_e000,
        2,
        VMA_ANON,
        VM_READ | VM_WRITE | VM_GROWSDOWN,
        b"",
        0,
    );
    b.rec(RecordType::Vma, &[&v[0], &v[1]]);
    // Its controlling terminal, pty 3 (canonical slave, a line and a half
    // typed, output waiting for the master), and both ends and /dev/tty.
    let pty = PtyObj {
        id: 24,
        index: 3,
        flags: PTY_PACKET,
        pktstatus: 0,
        path_len: 9,
    };
    let mut sides = [PtySide::default(); 2];
    sides[0].flip_len = 2;
    sides[0].read_len = 10;
    sides[1].lflag = 0o2 | 0o10;
    sides[1].winsize = [40, 132, 0, 0];
    sides[1].read_len = 13;
    sides[1].canon = 9;
    let (s0, s1) = (sides[0].encode(), sides[1].encode());
    b.rec(
        RecordType::Pty,
        &[
            &pty.encode(),
            &s0,
            &s1,
            b"/dev/ptmx",
            b"sh ready\r\n",
            &[0, 0],
            b"$ ",
            b"line one\npart",
            &[0, 1],
        ],
    );
    let ctty = CttyRec {
        pty: 24,
        fg_pgid: 102,
    };
    b.rec(RecordType::Ctty, &[&ctty.encode()]);
    // It shares the root's working and root directories and umask
    // (CLONE_FS), not its descriptors.
    let share = ShareRec { files: 0, fs: 100 };
    b.rec(RecordType::Share, &[&share.encode()]);
    files(&mut b, 12, b"/");
    fd(&mut b, 0, 4, false);
    file(&mut b, 25, FILE_PTY, 24, b"/dev/ptmx");
    fd(&mut b, 1, 25, false);
    let slave = |id, flags, path: &[u8]| {
        let f = FileObj {
            id,
            kind: FILE_PTY,
            f_flags: 0o2,
            flags,
            pos: 0,
            obj: 24,
            path_len: path.len() as u32,
        };
        (f.encode(), path.to_vec())
    };
    let (f, path) = slave(26, FILE_PEER_END, b"/dev/pts/3");
    b.rec(RecordType::File, &[&f, &path]);
    fd(&mut b, 2, 26, false);
    let (f, path) = slave(27, FILE_PEER_END | FILE_DEV_TTY, b"/dev/tty");
    b.rec(RecordType::File, &[&f, &path]);
    fd(&mut b, 3, 27, false);
    // A deleted file of 5000 bytes, its second page holding data.
    let path = b"/tmp/scratch";
    let del = DeletedFileObj {
        id: 28,
        flags: 0,
        size: 5000,
        mode: 0o640,
        path_len: path.len() as u32,
    };
    b.rec(RecordType::DeletedFile, &[&del.encode(), path]);
    let sp = ShmemPagesHeader {
        id: 28,
        nr: 1,
        offset: PAGE_SIZE as u64,
    };
    b.rec(
        RecordType::ShmemPages,
        &[&sp.encode(), &pattern(PAGE_SIZE, 0x44)],
    );
    let f = FileObj {
        id: 29,
        kind: FILE_UNLINKED,
        f_flags: 0o2,
        flags: FILE_DELETED,
        pos: 1234,
        obj: 28,
        path_len: 22,
    };
    b.rec(RecordType::File, &[&f.encode(), b"/tmp/scratch (deleted)"]);
    fd(&mut b, 4, 29, false);
    // A pidfd of its parent, the root process.
    let p = PidfdObj {
        id: 30,
        pid: 100,
        flags: 0,
    };
    b.rec(RecordType::Pidfd, &[&p.encode()]);
    file(&mut b, 31, FILE_PIDFD, 30, b"anon_inode:[pidfd]");
    fd(&mut b, 5, 31, false);
    // An inotify instance watching two files, with a rename and an
    // overflow queued.
    let mut watches = Vec::new();
    for (wd, mask, path) in [
        (1, IN_ALL_EVENTS, &b"/tmp"[..]),
        (3, 0x2 | IN_ONESHOT, b"/etc/hosts"),
    ] {
        let w = InotifyWatch {
            wd,
            mask,
            path_len: path.len() as u32,
        };
        watches.extend_from_slice(&w.encode());
        watches.extend_from_slice(path);
    }
    let mut events = Vec::new();
    for (wd, mask, cookie, name) in [
        (1, 0x40, 7, &b"old"[..]),
        (1, 0x80, 7, b"new"),
        (-1, IN_Q_OVERFLOW, 0, b""),
    ] {
        let e = InotifyEvent {
            wd,
            mask,
            cookie,
            name_len: name.len() as u32,
        };
        events.extend_from_slice(&e.encode());
        events.extend_from_slice(name);
    }
    let o = InotifyObj {
        id: 32,
        next_wd: 4,
        nr_watches: 2,
        nr_events: 3,
        watches_len: watches.len() as u32,
    };
    b.rec(RecordType::Inotify, &[&o.encode(), &watches, &events]);
    file(&mut b, 33, FILE_INOTIFY, 32, b"anon_inode:inotify");
    fd(&mut b, 6, 33, false);
    // The instance signals its events with SIGRTMIN+1 to the process.
    let owner = FileOwnerRec {
        file: 33,
        async_fd: 6,
        pid: 100,
        owner_type: OWNER_PID,
        signum: 35,
    };
    // A stream listener on /run/srv with one connection waiting to be
    // accepted, whose client sent "hello" and shut down its writing side.
    let listener = UnixSockObj {
        id: 34,
        sock_type: SOCK_STREAM,
    };
    let lend = UnixEnd {
        flags: UNIX_BOUND | UNIX_LISTENING,
        name_len: 8,
        mode: 0o755,
        backlog: 16,
        ..UnixEnd::default()
    };
    b.rec(
        RecordType::UnixSock,
        &[&listener.encode(), &lend.encode(), b"/run/srv"],
    );
    let pending = UnixPendingObj {
        id: 35,
        listener: 34,
        sock_type: SOCK_STREAM,
    };
    let client = UnixEnd {
        shutdown: UNIX_SEND_SHUTDOWN,
        nr_msgs: 1,
        data_len: 5,
        ..UnixEnd::default()
    };
    b.rec(
        RecordType::UnixPending,
        &[
            &pending.encode(),
            &client.encode(),
            &5u32.to_le_bytes(),
            b"hello",
        ],
    );
    file(&mut b, 36, FILE_UNIX, 34, b"socket:[103]");
    fd(&mut b, 7, 36, false);
    file(&mut b, 37, FILE_UNIX, 35, b"socket:[104]");
    fd(&mut b, 8, 37, false);
    // A TCP listener on [::]:8080 taking IPv4 too, with options, and a
    // UDP socket on 127.0.0.1:5353 connected to 127.0.0.1:53.
    let listener = InetSockObj {
        id: 38,
        family: AF_INET6,
        sock_type: INET_SOCK_STREAM,
        protocol: IPPROTO_TCP,
        flags: INET_BOUND | INET_LISTENING,
        backlog: 128,
        lport: 8080,
        nr_opts: 3,
        ..InetSockObj::default()
    };
    let opts = [(3, 1), (42, 0), (60, 1)].map(|(opt, value)| InetOpt { opt, value }.encode());
    b.rec(
        RecordType::InetSock,
        &[&listener.encode(), &opts[0], &opts[1], &opts[2]],
    );
    file(&mut b, 39, FILE_INET, 38, b"socket:[105]");
    fd(&mut b, 9, 39, false);
    let mut lo = [0u8; 16];
    lo[..4].copy_from_slice(&[127, 0, 0, 1]);
    let udp = InetSockObj {
        id: 40,
        family: AF_INET,
        sock_type: INET_SOCK_DGRAM,
        protocol: IPPROTO_UDP,
        lport: 5353,
        rport: 53,
        laddr: lo,
        raddr: lo,
        dev: *b"lo\0\0\0\0\0\0\0\0\0\0\0\0\0\0",
        flags: INET_BOUND | INET_BOUND_ADDR | INET_CONNECTED | INET_FILTER_LOCKED,
        nr_opts: 1,
        nr_dgrams: 1,
        dgram_bytes: 4,
        nr_filter: 2,
        nr_groups: 1,
        ..InetSockObj::default()
    };
    // In multicast group 239.1.2.3 on device 1.
    let mut group = InetGroup {
        addr: [0; 16],
        ifindex: 1,
    };
    group.addr[..4].copy_from_slice(&[239, 1, 2, 3]);
    // Its classic BPF filter, locked: ld #len; ret a.
    let filter: [u8; 16] = [0x80, 0, 0, 0, 0, 0, 0, 0, 0x16, 0, 0, 0, 0, 0, 0, 0];
    let linger = InetOpt {
        opt: 14,
        value: 1 << 32 | 5,
    };
    // One datagram from 127.0.0.1:53 waits to be read.
    let dgram = InetDgram {
        family: AF_INET,
        len: 4,
        sport: 53,
        dport: 5353,
        ttl: 64,
        tos: 0,
        saddr: lo,
        daddr: lo,
        tstamp: 1_764_950_400_123_456_789,
    };
    b.rec(
        RecordType::InetSock,
        &[
            &udp.encode(),
            &linger.encode(),
            &filter,
            &group.encode(),
            &dgram.encode(),
            b"\x12\x34\x81\x80",
        ],
    );
    file(&mut b, 41, FILE_INET, 40, b"socket:[106]");
    fd(&mut b, 10, 41, false);
    // A raw ICMP socket with ICMP_FILTER set and an echo reply queued, its
    // IP header with it.
    let raw = InetSockObj {
        id: 42,
        family: AF_INET,
        sock_type: INET_SOCK_RAW,
        protocol: IPPROTO_ICMP,
        nr_opts: 1,
        nr_dgrams: 1,
        dgram_bytes: 32,
        ..InetSockObj::default()
    };
    let filter = InetOpt { opt: 80, value: -2 };
    let reply = InetDgram {
        family: AF_INET,
        len: 32,
        ttl: 64,
        saddr: lo,
        daddr: lo,
        ..InetDgram::default()
    };
    let mut packet = vec![
        0x45, 0, 0, 32, 0, 1, 0, 0, 64, 1, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1,
    ];
    packet.extend_from_slice(b"\0\0\x12\x34\x1b\x6e\0\x01ping");
    b.rec(
        RecordType::InetSock,
        &[&raw.encode(), &filter.encode(), &reply.encode(), &packet],
    );
    file(&mut b, 43, FILE_INET, 42, b"socket:[107]");
    fd(&mut b, 11, 43, false);
    // A connection from [::1]:40000 waiting in the listener's queue, with
    // `hello` to read.
    let mut lo6 = [0u8; 16];
    lo6[15] = 1;
    let child = InetSockObj {
        id: 44,
        family: AF_INET6,
        sock_type: INET_SOCK_STREAM,
        protocol: IPPROTO_TCP,
        flags: INET_BOUND | INET_CONNECTED,
        lport: 8080,
        rport: 40000,
        laddr: lo6,
        raddr: lo6,
        ..InetSockObj::default()
    };
    let conn = InetTcpConn {
        snd_una: 1000,
        snd_nxt: 1000,
        write_seq: 1000,
        rcv_nxt: 2005,
        copied_seq: 2000,
        snd_wl1: 2000,
        snd_wnd: 65535,
        max_window: 65535,
        rcv_wnd: 65535,
        rcv_wup: 2000,
        mss_clamp: 1460,
        // An urgent byte (the second l of hello) not taken yet.
        flags: TCP_CONN_SACK | TCP_CONN_TSTAMP | TCP_CONN_URG_VALID,
        rcv_ssthresh: 65535,
        urg_seq: 2003,
        urg_byte: u32::from(b'l'),
        ..InetTcpConn::default()
    };
    b.rec(
        RecordType::InetPending,
        &[
            &InetPendingObj { listener: 38 }.encode(),
            &child.encode(),
            &conn.encode(),
            b"hello",
        ],
    );
    // A packet socket taking IPv4 frames of the loopback, one queued.
    let mut lo = [0u8; INET_DEV_LEN];
    lo[..2].copy_from_slice(b"lo");
    let frame = PacketFrame {
        len: 4,
        origlen: 4,
        protocol: 0x0800,
        ifindex: 1,
        hatype: 772,
        halen: 6,
        flags: PACKET_FRAME_CSUM_VALID,
        ..PacketFrame::default()
    };
    let packet = PacketSockObj {
        id: 45,
        sock_type: INET_SOCK_DGRAM,
        protocol: 0x0800,
        flags: PACKET_RUNNING,
        ifindex: 1,
        dev: lo,
        nr_opts: 1,
        nr_frames: 1,
        frame_bytes: 4,
        ..PacketSockObj::default()
    };
    b.rec(
        RecordType::PacketSock,
        &[
            &packet.encode(),
            &InetOpt { opt: 99, value: 1 }.encode(),
            &frame.encode(),
            b"\x45\0\0\x04",
        ],
    );
    // After the last descriptor: how the inotify instance signals.
    b.rec(RecordType::FileOwner, &[&owner.encode()]);
    let notify = MqNotifyRec {
        fd: 3,
        how: SIGEV_SIGNAL,
        signo: 10,
        flags: MQ_NOTIFY_STALE,
        value: 42,
    };
    b.rec(RecordType::MqNotify, &[&notify.encode()]);
    sighand(&mut b, Rich::Plain);
    shared_pages(&mut b, 0x7ffd_f000, 1);
    b.rec(RecordType::TaskEnd, &[]);
    b.finish()
}

/// One small process: a stack, /dev/null, one page.
fn single() -> Vec<Rec> {
    let mut b = Builder::new(CHECKPOINT_SUBTREE);
    b.forest(&[row(4000, 4000, 1, TASK_ROOT, "sleep")]);
    thread_part(&mut b, 4000, Rich::Plain);
    mm(&mut b, 1, b"/bin/sleep");
    let v = vma(0x7ffd_e000, 2, VMA_ANON, VM_READ | VM_WRITE, b"", 0);
    b.rec(RecordType::Vma, &[&v[0], &v[1]]);
    files(&mut b, 1, b"/root");
    file(&mut b, 1, FILE_CHR, 0, b"/dev/null");
    fd(&mut b, 0, 1, false);
    sighand(&mut b, Rich::Plain);
    pages(&mut b, 0x7ffd_f000, 1, 9);
    b.rec(RecordType::TaskEnd, &[]);
    b.finish()
}

/// A pod's init with SEM_UNDO adjustments on its pod's one semaphore set.
fn pod_undo() -> Vec<Rec> {
    let mut b = Builder::new(0);
    b.forest(&[row(1, 1, 0, TASK_ROOT, "init")]);
    let pod = PodRec {
        flags: POD_NEWIPC,
        ..Default::default()
    };
    b.rec(RecordType::Pod, &[&pod.encode()]);
    b.rec(RecordType::PodIpc, &[&PodIpcRec::default().encode()]);
    let sem = SysvSemObj {
        id: 1,
        semid: 0,
        key: 0x1234,
        mode: 0o600,
        nsems: 3,
        ..Default::default()
    };
    let v = SysvSemVal::default();
    b.rec(
        RecordType::SysvSem,
        &[&sem.encode(), &v.encode(), &v.encode(), &v.encode()],
    );
    thread_part(&mut b, 1, Rich::Plain);
    mm(&mut b, 1, b"/bin/init");
    let v = vma(0x7ffd_e000, 2, VMA_ANON, VM_READ | VM_WRITE, b"", 0);
    b.rec(RecordType::Vma, &[&v[0], &v[1]]);
    files(&mut b, 1, b"/");
    file(&mut b, 2, FILE_CHR, 0, b"/dev/null");
    fd(&mut b, 0, 2, false);
    let undo = SemUndoRec { semid: 0, nsems: 3 };
    let mut adj = Vec::new();
    for a in [-1i16, 0, 3] {
        adj.extend_from_slice(&a.to_le_bytes());
    }
    adj.extend_from_slice(&[0, 0]);
    b.rec(RecordType::SemUndo, &[&undo.encode(), &adj]);
    sighand(&mut b, Rich::Plain);
    pages(&mut b, 0x7ffd_f000, 1, 9);
    b.rec(RecordType::TaskEnd, &[]);
    b.finish()
}

/// The forest table only: a whole pid namespace (a pod with its own UTS,
/// IPC, mount and network namespaces, a private tmpfs on /tmp), no task
/// state.
fn rows_only() -> Vec<Rec> {
    let mut b = Builder::new(0);
    b.forest(&[
        row(1, 1, 0, TASK_ROOT, "init"),
        row(2, 2, 1, 0, "sh"),
        row(3, 3, 2, TASK_ZOMBIE, "true"),
        row(4, 2, 1, TASK_THREAD, "sh-thread"),
    ]);
    let mut pod = PodRec {
        flags: POD_NEWUTS | POD_NEWIPC | POD_NEWNS | POD_NEWNET,
        ..Default::default()
    };
    pod.nodename[..7].copy_from_slice(b"podhost");
    pod.domainname[..9].copy_from_slice(b"poddomain");
    b.rec(RecordType::Pod, &[&pod.encode()]);
    let ipc = PodIpcRec {
        shmmax: 1 << 30,
        shmall: 1 << 20,
        shmmni: 4096,
        shm_rmid_forced: 1,
        msgmax: 8192,
        msgmnb: 16384,
        msgmni: 32000,
        sem: [32000, 1024000000, 500, 32000],
        mq: [64, 100, 16384, 20, 4096],
        next_id: [-1, 5, -1],
    };
    b.rec(RecordType::PodIpc, &[&ipc.encode()]);
    let net = PodNetRec {
        lo_flags: LO_UP,
        lo_mtu: 65536,
        ping_gid_low: 0,
        ping_gid_high: 1000,
    };
    b.rec(RecordType::PodNet, &[&net.encode()]);
    // A segment of its IPC namespace, removed while attached, with one
    // page of contents.
    let shm = SysvShmObj {
        id: 1,
        shmid: 32769,
        mode: 0o600 | SHM_DEST,
        uid: 1000,
        gid: 1000,
        cuid: 1000,
        cgid: 1000,
        cpid: 2,
        size: 5000,
        nattch: 1,
        ..Default::default()
    };
    b.rec(RecordType::SysvShm, &[&shm.encode()]);
    let h = ShmemPagesHeader {
        id: 1,
        nr: 1,
        offset: PAGE_SIZE as u64,
    };
    b.rec(
        RecordType::ShmemPages,
        &[&h.encode(), &pattern(PAGE_SIZE, 3)],
    );
    // A set of two semaphores.
    let sem = SysvSemObj {
        id: 2,
        semid: 0,
        key: 0x1234,
        mode: 0o600,
        nsems: 2,
        ..Default::default()
    };
    let v0 = SysvSemVal {
        semval: 5,
        sempid: 2,
        otime: 1_700_000_000,
    };
    let v1 = SysvSemVal::default();
    b.rec(
        RecordType::SysvSem,
        &[&sem.encode(), &v0.encode(), &v1.encode()],
    );
    // A queue of two messages, one of 5 bytes (padded) and one empty.
    let msq = SysvMsgObj {
        id: 3,
        msqid: 32768,
        key: 0x1235,
        mode: 0o600,
        qbytes: 16384,
        qnum: 2,
        lspid: 2,
        ..Default::default()
    };
    let m0 = SysvMsgHead { mtype: 1, len: 5 };
    let m1 = SysvMsgHead { mtype: 7, len: 0 };
    b.rec(
        RecordType::SysvMsg,
        &[&msq.encode(), &m0.encode(), b"hello\0\0\0", &m1.encode()],
    );
    // A POSIX queue with two messages (the higher priority first), and
    // one removed from the namespace, empty.
    let mq = PosixMqObj {
        id: 4,
        mode: 0o620,
        uid: 1000,
        gid: 1000,
        name_len: 5,
        maxmsg: 10,
        msgsize: 128,
        curmsgs: 2,
        mtime: 1_700_000_000_000_000_000,
        ..Default::default()
    };
    let p9 = SysvMsgHead { mtype: 9, len: 3 };
    let p0 = SysvMsgHead { mtype: 0, len: 8 };
    b.rec(
        RecordType::PosixMq,
        &[
            &mq.encode(),
            b"queue\0\0\0",
            &p9.encode(),
            b"hi!\0\0\0\0\0",
            &p0.encode(),
            b"12345678",
        ],
    );
    let gone = PosixMqObj {
        id: 5,
        flags: MQ_UNLINKED,
        name_len: 4,
        curmsgs: 0,
        ..mq
    };
    b.rec(RecordType::PosixMq, &[&gone.encode(), b"gone\0\0\0\0"]);
    // Its /tmp: the root, a directory, a file with a hole and a page of
    // data, another name of it, a symbolic link and a named pipe.
    let mount = PodMountObj {
        id: 6,
        flags: 0x2 | 0x4,
        size: 1 << 20,
        nr_inodes: 100,
        path_len: 4,
    };
    b.rec(RecordType::PodMount, &[&mount.encode(), b"/tmp"]);
    let dir = TmpfsFileObj {
        id: 7,
        kind: TMPFS_DIR,
        mode: 0o1777,
        mtime: 1_700_000_000,
        ..Default::default()
    };
    b.rec(RecordType::TmpfsFile, &[&dir.encode()]);
    let sub = TmpfsFileObj {
        id: 8,
        mode: 0o755,
        uid: 1000,
        gid: 1000,
        path_len: 3,
        ..dir
    };
    b.rec(RecordType::TmpfsFile, &[&sub.encode(), b"sub"]);
    let file = TmpfsFileObj {
        id: 9,
        kind: TMPFS_REG,
        mode: 0o644,
        size: 3 * PAGE_SIZE as u64,
        path_len: 5,
        ..sub
    };
    b.rec(RecordType::TmpfsFile, &[&file.encode(), b"sub/f"]);
    let h = ShmemPagesHeader {
        id: 9,
        nr: 1,
        offset: 2 * PAGE_SIZE as u64,
    };
    b.rec(
        RecordType::ShmemPages,
        &[&h.encode(), &pattern(PAGE_SIZE, 5)],
    );
    let link = TmpfsFileObj {
        id: 10,
        kind: TMPFS_LINK,
        link: 9,
        path_len: 1,
        ..file
    };
    b.rec(RecordType::TmpfsFile, &[&link.encode(), b"g"]);
    let sym = TmpfsFileObj {
        id: 11,
        kind: TMPFS_SYMLINK,
        mode: 0o777,
        size: 5,
        path_len: 1,
        target_len: 5,
        ..sub
    };
    b.rec(RecordType::TmpfsFile, &[&sym.encode(), b"l", b"sub/f"]);
    let fifo = TmpfsFileObj {
        id: 12,
        kind: TMPFS_FIFO,
        mode: 0o600,
        path_len: 4,
        ..sub
    };
    b.rec(RecordType::TmpfsFile, &[&fifo.encode(), b"pipe"]);
    b.finish()
}

/// A pipeline of three processes sharing one pipe and one shared memory
/// object (defined by the first, referred to by the others), the last
/// with two threads.
fn pipeline() -> Vec<Rec> {
    let mut b = Builder::new(CHECKPOINT_SUBTREE);
    b.forest(&[
        row(200, 200, 1, TASK_ROOT, "sh"),
        row(201, 201, 200, 0, "producer"),
        row(202, 202, 200, 0, "consumer"),
        row(203, 202, 200, TASK_THREAD, "consumer-2"),
    ]);
    // sh: defines the shared memory and the pipe.
    thread_part(&mut b, 200, Rich::Plain);
    mm(&mut b, 2, b"/bin/sh");
    let shm = ShmemObj {
        id: 1,
        size: 2 * PAGE_SIZE as u64,
    };
    b.rec(RecordType::Shmem, &[&shm.encode()]);
    for off in [0u64, 1] {
        let sp = ShmemPagesHeader {
            id: 1,
            nr: 1,
            offset: off * PAGE_SIZE as u64,
        };
        b.rec(
            RecordType::ShmemPages,
            &[&sp.encode(), &pattern(PAGE_SIZE, off as u8)],
        );
    }
    let v = vma(
        0x10_0000,
        2,
        VMA_SHMEM,
        VM_READ | VM_WRITE | VM_SHARED,
        b"",
        1,
    );
    b.rec(RecordType::Vma, &[&v[0], &v[1]]);
    let v = vma(0x20_0000, 1, VMA_ANON, VM_READ | VM_WRITE, b"", 0);
    b.rec(RecordType::Vma, &[&v[0], &v[1]]);
    files(&mut b, 2, b"/");
    let p = PipeObj {
        id: 2,
        capacity: PAGE_SIZE as u32,
        data_len: 0,
    };
    b.rec(RecordType::Pipe, &[&p.encode()]);
    file(&mut b, 3, FILE_PIPE, 2, b"pipe:[7]");
    file(&mut b, 4, FILE_PIPE, 2, b"pipe:[7]");
    fd(&mut b, 3, 3, true);
    fd(&mut b, 4, 4, true);
    sighand(&mut b, Rich::Full);
    pages(&mut b, 0x20_0000, 1, 3);
    b.rec(RecordType::TaskEnd, &[]);
    // producer: writes into the pipe, maps the shared memory.
    thread_part(&mut b, 201, Rich::Full);
    mm(&mut b, 1, b"/bin/producer");
    let v = vma(
        0x10_0000,
        2,
        VMA_SHMEM,
        VM_READ | VM_WRITE | VM_SHARED,
        b"",
        1,
    );
    b.rec(RecordType::Vma, &[&v[0], &v[1]]);
    files(&mut b, 1, b"/");
    fd(&mut b, 1, 4, false);
    sighand(&mut b, Rich::Plain);
    b.rec(RecordType::TaskEnd, &[]);
    // consumer and its thread.
    thread_part(&mut b, 202, Rich::Plain);
    mm(&mut b, 0, b"/bin/consumer");
    files(&mut b, 1, b"/srv");
    fd(&mut b, 0, 3, false);
    sighand(&mut b, Rich::Plain);
    pages(&mut b, 0x30_0000, 2, 4);
    pages(&mut b, 0x40_0000, 1, 5);
    b.rec(RecordType::TaskEnd, &[]);
    thread_part(&mut b, 203, Rich::Full);
    b.rec(RecordType::TaskEnd, &[]);
    b.finish()
}

/// Every record type (the image crate's one list).
pub const ALL_TYPES: &[RecordType] = RecordType::ALL;

/// The seeds, each checked: it must decode whole, one item per record,
/// with both readers. Panics (loudly, naming the seed) otherwise.
pub fn seeds() -> Vec<Seed> {
    let seeds = vec![
        Seed {
            name: "every-record",
            recs: every_record(),
        },
        Seed {
            name: "single",
            recs: single(),
        },
        Seed {
            name: "rows-only",
            recs: rows_only(),
        },
        Seed {
            name: "pipeline",
            recs: pipeline(),
        },
        Seed {
            name: "pod-undo",
            recs: pod_undo(),
        },
    ];
    let mut buf = Vec::new();
    let mut offsets = Vec::new();
    let mut scratch = Scratch::default();
    for s in &seeds {
        serialize(&s.recs, &mut buf, &mut offsets);
        let out = check::check(&buf, &mut scratch);
        match out.result {
            Ok(()) => assert_eq!(
                out.items as usize,
                s.recs.len(),
                "seed {}: {} items decoded from {} records",
                s.name,
                out.items,
                s.recs.len()
            ),
            Err(e) => panic!("seed {} is not a valid image: {e}", s.name),
        }
    }
    // The first seed holds every record type but the pod and SysV records,
    // which only an image of a whole pid namespace has (rows-only's).
    for &t in ALL_TYPES {
        let seed = if t == RecordType::SemUndo {
            &seeds[4]
        } else if matches!(
            t,
            RecordType::Pod
                | RecordType::PodIpc
                | RecordType::SysvShm
                | RecordType::SysvSem
                | RecordType::SysvMsg
                | RecordType::PosixMq
                | RecordType::PodMount
                | RecordType::TmpfsFile
                | RecordType::PodNet
        ) {
            &seeds[2]
        } else {
            &seeds[0]
        };
        assert!(
            seed.recs.iter().any(|r| r.kind == t as u32),
            "seed {} has no {} record",
            seed.name,
            t.name()
        );
    }
    seeds
}
