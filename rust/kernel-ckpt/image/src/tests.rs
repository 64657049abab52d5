// SPDX-License-Identifier: GPL-2.0
//! Unit tests of the image format: round trip, truncation, corruption.

extern crate std;

use super::*;
use std::format;
use std::string::{String, ToString};
use std::vec;
use std::vec::Vec;

/// Index of the first record of kind `k`.
fn first(recs: &[(RecordType, Vec<u8>)], k: RecordType) -> usize {
    recs.iter().position(|(kind, _)| *kind == k).unwrap()
}

fn push(out: &mut Vec<u8>, kind: RecordType, payload: &[u8]) {
    out.extend_from_slice(&record_header(kind, payload.len() as u32));
    out.extend_from_slice(payload);
    out.resize(out.len() + padding(payload.len()), 0);
}

fn comm(s: &str) -> [u8; COMM_LEN] {
    let mut c = [0u8; COMM_LEN];
    c[..s.len()].copy_from_slice(s.as_bytes());
    c
}

fn sample_tasks() -> Vec<TaskEntry> {
    let row = |pid, tgid, ppid, flags, exit_code, name| TaskEntry {
        pid,
        tgid,
        ppid,
        sid: 100,
        pgid: 100,
        flags,
        exit_code,
        exit_signal: if flags & TASK_THREAD != 0 { -1 } else { 17 },
        comm: comm(name),
    };
    std::vec![
        row(100, 100, 1, TASK_ROOT, 0, "root"),
        row(101, 100, 1, TASK_THREAD, 0, "root-thread"),
        row(102, 102, 100, 0, 0, "child"),
        row(103, 103, 100, TASK_ZOMBIE, 7 << 8, "zombie"),
    ]
}

fn sample_header() -> Header {
    let mut release = [0u8; RELEASE_LEN];
    release[..8].copy_from_slice(b"6.12.117");
    Header {
        version: IMAGE_VERSION,
        arch: ARCH_X86_64,
        flags: CHECKPOINT_SUBTREE,
        release,
    }
}

/// Encodes an image the way the kernel writes it.
fn encode(header: &Header, tasks: &[TaskEntry]) -> Vec<u8> {
    let mut out = Vec::new();
    push(&mut out, RecordType::Header, &header.encode());
    let forest = ForestHead {
        nr_tasks: tasks.len() as u32,
        root_pid: tasks[0].pid,
    };
    push(&mut out, RecordType::Forest, &forest.encode());
    for t in tasks {
        push(&mut out, RecordType::Task, &t.encode());
    }
    let tail = Tail {
        nr_records: 2 + tasks.len() as u32,
        bytes: out.len() as u64,
    };
    push(&mut out, RecordType::Tail, &tail.encode());
    out
}

fn decode(buf: &[u8]) -> Result<Vec<Item<'_>>, DecodeError> {
    ImageDecoder::new(buf).collect()
}

#[test]
fn round_trip() {
    let tasks = sample_tasks();
    let img = encode(&sample_header(), &tasks);
    assert_eq!(img.len() % ALIGN, 0);
    let items = decode(&img).expect("valid image");
    assert_eq!(items.len(), 3 + tasks.len());
    assert_eq!(items[0], Item::Header(sample_header()));
    assert_eq!(
        items[1],
        Item::Forest(ForestHead {
            nr_tasks: 4,
            root_pid: 100
        })
    );
    for (i, t) in tasks.iter().enumerate() {
        assert_eq!(items[2 + i], Item::Task(*t));
    }
    match items.last() {
        Some(Item::Tail(t)) => assert_eq!(t.nr_records, 6),
        other => panic!("last item {other:?}"),
    }
    if let Item::Task(t) = items[5] {
        assert!(t.is_zombie());
        assert_eq!(t.comm_str(), "zombie");
    }
    if let Item::Header(h) = items[0] {
        assert_eq!(h.release_str(), "6.12.117");
    }
}

#[test]
fn truncation_at_every_offset_is_an_error() {
    let img = encode(&sample_header(), &sample_tasks());
    for cut in 0..img.len() {
        let err = decode(&img[..cut]).expect_err("a cut image must not decode");
        assert_eq!(err.kind, ErrorKind::Truncated, "cut at {cut}: {err}");
        assert!(
            err.offset <= cut as u64,
            "cut at {cut}: error offset {}",
            err.offset
        );
    }
}

#[test]
fn every_bit_flip_is_handled() {
    let img = encode(&sample_header(), &sample_tasks());
    let mut rejected = 0;
    for byte in 0..img.len() {
        for bit in 0..8 {
            let mut bad = img.clone();
            bad[byte] ^= 1 << bit;
            // Must not panic; many flips (in pids, say) still give a valid image.
            if let Err(e) = decode(&bad) {
                rejected += 1;
                // The message names a record and an offset inside the image.
                assert!(e.offset < img.len() as u64);
                assert!(std::format!("{e}").starts_with("record #"));
            }
        }
    }
    // Flips in types, lengths, magics, padding, flags and counts are caught.
    assert!(rejected > img.len() * 3, "only {rejected} flips rejected");
}

#[test]
fn flips_in_structure_are_rejected() {
    let img = encode(&sample_header(), &sample_tasks());
    // type and len of the header, the magic, the version.
    for byte in (0..8).chain(8..16).chain(16..20) {
        let mut bad = img.clone();
        bad[byte] ^= 0x10;
        assert!(decode(&bad).is_err(), "flip in byte {byte} accepted");
    }
}

#[test]
fn oversized_length_is_rejected() {
    let mut img = encode(&sample_header(), &sample_tasks());
    img[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    let err = decode(&img).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Oversized(u32::MAX));
    assert_eq!((err.index, err.offset), (0, 0));
    // Within the limit but past the end of the buffer: truncated.
    img[4..8].copy_from_slice(&MAX_PAYLOAD_LEN.to_le_bytes());
    assert_eq!(decode(&img).unwrap_err().kind, ErrorKind::Truncated);
}

#[test]
fn wrong_length_for_type_is_rejected() {
    let mut img = Vec::new();
    push(&mut img, RecordType::Header, &[0u8; Header::LEN + 8]);
    let err = decode(&img).unwrap_err();
    assert_eq!(
        err.kind,
        ErrorKind::BadLength {
            len: Header::LEN as u32 + 8,
            expected: Header::LEN as u32
        }
    );
}

#[test]
fn order_and_counts_are_checked() {
    let tasks = sample_tasks();
    // ForestHead first.
    let mut img = Vec::new();
    push(
        &mut img,
        RecordType::Forest,
        &ForestHead {
            nr_tasks: 1,
            root_pid: 1,
        }
        .encode(),
    );
    let err = decode(&img).unwrap_err();
    assert!(matches!(
        err.kind,
        ErrorKind::Unexpected {
            found: RecordType::Forest,
            ..
        }
    ));

    // ForestHead announces more tasks than follow.
    let mut img = Vec::new();
    push(&mut img, RecordType::Header, &sample_header().encode());
    push(
        &mut img,
        RecordType::Forest,
        &ForestHead {
            nr_tasks: 5,
            root_pid: 100,
        }
        .encode(),
    );
    for t in &tasks {
        push(&mut img, RecordType::Task, &t.encode());
    }
    let tail = Tail {
        nr_records: 6,
        bytes: img.len() as u64,
    };
    push(&mut img, RecordType::Tail, &tail.encode());
    let err = decode(&img).unwrap_err();
    assert_eq!(err.index, 6);
    assert!(matches!(
        err.kind,
        ErrorKind::Unexpected {
            found: RecordType::Tail,
            ..
        }
    ));

    // Data after the tail.
    let mut img = encode(&sample_header(), &tasks);
    push(&mut img, RecordType::Task, &tasks[0].encode());
    assert_eq!(decode(&img).unwrap_err().kind, ErrorKind::TrailingData);

    // Unknown record type.
    let mut img = encode(&sample_header(), &tasks);
    let off = Header::LEN + padding(Header::LEN) + RECORD_HEADER_LEN;
    img[off..off + 4].copy_from_slice(&77u32.to_le_bytes());
    let err = decode(&img).unwrap_err();
    assert_eq!((err.index, err.kind), (1, ErrorKind::UnknownType(77)));
    assert_eq!(
        std::format!("{err}"),
        std::format!("record #1 (type 77) at offset {off}: unknown record type 77")
    );
}

#[test]
fn bad_fields_are_rejected() {
    let mut tasks = sample_tasks();
    tasks[2].pid = 0;
    let err = decode(&encode(&sample_header(), &tasks)).unwrap_err();
    assert_eq!((err.index, err.kind), (4, ErrorKind::BadField("pid", 0)));

    let mut tasks = sample_tasks();
    tasks[1].flags = 0; // a thread (pid != tgid) without the thread flag
    assert_eq!(
        decode(&encode(&sample_header(), &tasks)).unwrap_err().index,
        3
    );

    let mut tasks = sample_tasks();
    tasks[0].comm = [b'x'; COMM_LEN];
    assert_eq!(
        decode(&encode(&sample_header(), &tasks)).unwrap_err().kind,
        ErrorKind::BadField("comm", 0)
    );

    let mut h = sample_header();
    h.version = IMAGE_VERSION + 1;
    assert_eq!(
        decode(&encode(&h, &sample_tasks())).unwrap_err().kind,
        ErrorKind::UnsupportedVersion(IMAGE_VERSION + 1)
    );
    let mut h = sample_header();
    h.flags = 0x80;
    assert_eq!(
        decode(&encode(&h, &sample_tasks())).unwrap_err().kind,
        ErrorKind::UnknownFlags(0x80)
    );
}

#[test]
fn random_garbage_never_panics() {
    // xorshift64*: deterministic, no dependencies.
    let mut s: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        s.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    let img = encode(&sample_header(), &sample_tasks());
    for _ in 0..20_000 {
        let mut bad = img.clone();
        let n = (next() % 8 + 1) as usize;
        for _ in 0..n {
            let at = (next() % bad.len() as u64) as usize;
            bad[at] = next() as u8;
        }
        let cut = (next() % (bad.len() as u64 + 1)) as usize;
        let _ = decode(&bad[..cut]);
        let len = (next() % 64) as usize;
        let noise: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        let _ = decode(&noise);
    }
}

/// An image whose root carries state: regs, xstate, a map of two VMAs and
/// two pages; `tweak` may change records before they are encoded.
fn encode_full(tweak: impl Fn(&mut Vec<(RecordType, Vec<u8>)>)) -> Vec<u8> {
    let tasks = sample_tasks();
    let mut recs: Vec<(RecordType, Vec<u8>)> = Vec::new();
    recs.push((RecordType::Header, sample_header().encode().to_vec()));
    recs.push((
        RecordType::Forest,
        ForestHead {
            nr_tasks: tasks.len() as u32,
            root_pid: 100,
        }
        .encode()
        .to_vec(),
    ));
    for t in &tasks {
        recs.push((RecordType::Task, t.encode().to_vec()));
    }
    recs.push((
        RecordType::TaskState,
        TaskState { pid: 100 }.encode().to_vec(),
    ));
    let mut regs = [0u64; 27];
    regs[16] = 0x401000; // rip
    recs.push((RecordType::Regs, Regs(regs).encode().to_vec()));
    let mut x = XstateHeader {
        xfeatures: 3,
        size: 576,
    }
    .encode()
    .to_vec();
    x.extend(std::iter::repeat_n(0xabu8, 576));
    recs.push((RecordType::Xstate, x));
    recs.push((
        RecordType::RestartBlock,
        RestartBlock::default().encode().to_vec(),
    ));
    recs.push((
        RecordType::TaskMisc,
        TaskMisc {
            rlimits: [(8, 16); NLIMITS],
            ..Default::default()
        }
        .encode()
        .to_vec(),
    ));
    let mut sig = Signals {
        blocked: 1 << 14,
        pending: 1 << 14,
        nr_info: 1,
        ..Default::default()
    }
    .encode()
    .to_vec();
    let mut info = [0u8; SIGINFO_LEN];
    info[..4].copy_from_slice(&15i32.to_le_bytes());
    sig.extend_from_slice(&info);
    recs.push((RecordType::Signals, sig));
    let mm = MmHeader {
        start_brk: 0x500000,
        brk: 0x501000,
        nr_vmas: 2,
        ..Default::default()
    };
    recs.push((RecordType::Mm, mm.encode().to_vec()));
    let path = b"/bin/prog";
    let mut v = Vma {
        start: 0x400000,
        end: 0x402000,
        pgoff: 0,
        flags: VM_READ | VM_EXEC,
        kind: VMA_FILE,
        path_len: path.len() as u32,
        obj: 0,
    }
    .encode()
    .to_vec();
    v.extend_from_slice(path);
    recs.push((RecordType::Vma, v));
    let anon = Vma {
        start: 0x500000,
        end: 0x502000,
        pgoff: 0,
        flags: VM_READ | VM_WRITE,
        kind: VMA_ANON,
        path_len: 0,
        obj: 0,
    };
    recs.push((RecordType::Vma, anon.encode().to_vec()));
    let mut files = FilesHeader {
        nr_fds: 3,
        umask: 0o022,
        cwd_len: 4,
        root_len: 1,
    }
    .encode()
    .to_vec();
    files.extend_from_slice(b"/tmp/");
    recs.push((RecordType::Files, files));
    let mut file = FileObj {
        id: 1,
        kind: FILE_REG,
        f_flags: 0o2001,
        flags: 0,
        pos: 42,
        obj: 0,
        path_len: 8,
    }
    .encode()
    .to_vec();
    file.extend_from_slice(b"/tmp/log");
    recs.push((RecordType::File, file));
    let fd = Fd {
        fd: 1,
        fd_flags: FD_CLOEXEC,
        file: 1,
    };
    recs.push((RecordType::Fd, fd.encode().to_vec()));
    let mut pipe = PipeObj {
        id: 2,
        capacity: 65536,
        data_len: 5,
    }
    .encode()
    .to_vec();
    pipe.extend_from_slice(b"hello");
    recs.push((RecordType::Pipe, pipe));
    let pipe_path = b"pipe:[42]";
    let mut file = FileObj {
        id: 3,
        kind: FILE_PIPE,
        f_flags: 0,
        flags: 0,
        pos: 0,
        obj: 2,
        path_len: pipe_path.len() as u32,
    }
    .encode()
    .to_vec();
    file.extend_from_slice(pipe_path);
    recs.push((RecordType::File, file));
    // Two descriptors of one open file.
    for fd in [3, 4] {
        let fd = Fd {
            fd,
            fd_flags: 0,
            file: 3,
        };
        recs.push((RecordType::Fd, fd.encode().to_vec()));
    }
    let mut actions = [SigAction::default(); NSIG];
    actions[9] = SigAction {
        handler: 0x401234,
        flags: 0x04000000,
        restorer: 0x401000,
        mask: 0,
    };
    let sh = Sighand {
        actions,
        shared_pending: 0,
        nr_info: 0,
    };
    recs.push((RecordType::Sighand, sh.encode().to_vec()));
    let mut pg = PagesHeader {
        vaddr: 0x500000,
        nr: 2,
        flags: 0,
    }
    .encode()
    .to_vec();
    pg.extend((0..2 * PAGE_SIZE).map(|i| i as u8));
    recs.push((RecordType::Pages, pg));
    recs.push((RecordType::TaskEnd, Vec::new()));
    tweak(&mut recs);
    let mut out = Vec::new();
    for (k, p) in &recs {
        push(&mut out, *k, p);
    }
    let tail = Tail {
        nr_records: recs.len() as u32,
        bytes: out.len() as u64,
    };
    push(&mut out, RecordType::Tail, &tail.encode());
    out
}

/// Replaces the payload of the first record of kind `kind`.
fn set_payload(recs: &mut [(RecordType, Vec<u8>)], kind: RecordType, p: Vec<u8>) {
    if let Some(r) = recs.iter_mut().find(|(k, _)| *k == kind) {
        r.1 = p;
    }
}

#[test]
fn shared_pages_carry_no_contents() {
    let shared = PagesHeader {
        vaddr: 0x500000,
        nr: 2,
        flags: PAGES_SHARED,
    };
    let img = encode_full(|recs| {
        set_payload(recs, RecordType::Pages, shared.encode().to_vec());
    });
    let items = decode(&img).expect("valid image");
    assert!(items
        .iter()
        .any(|i| matches!(i, Item::Pages(h, d) if *h == shared && h.shared() && d.is_empty())));
    // Contents after a shared header are refused, as is a flag no reader
    // knows.
    let mut with_data = shared.encode().to_vec();
    with_data.extend([0u8; 2 * PAGE_SIZE]);
    let img = encode_full(|recs| set_payload(recs, RecordType::Pages, with_data.clone()));
    assert!(matches!(
        decode(&img).unwrap_err().kind,
        ErrorKind::BadLength { .. }
    ));
    let unknown = PagesHeader { flags: 2, ..shared };
    let img = encode_full(|recs| set_payload(recs, RecordType::Pages, unknown.encode().to_vec()));
    assert_eq!(
        decode(&img).unwrap_err().kind,
        ErrorKind::BadField("pages flags", 2)
    );
}

#[test]
fn mm_source_is_a_pid() {
    let mm = |from| {
        MmHeader {
            start_brk: 0x500000,
            brk: 0x501000,
            nr_vmas: 2,
            from,
            ..Default::default()
        }
        .encode()
        .to_vec()
    };
    let img = encode_full(|recs| set_payload(recs, RecordType::Mm, mm(7)));
    let items = decode(&img).expect("valid image");
    assert!(items
        .iter()
        .any(|i| matches!(i, Item::Mm(m, _) if m.from == 7)));
    let img = encode_full(|recs| set_payload(recs, RecordType::Mm, mm(-1)));
    assert_eq!(
        decode(&img).unwrap_err().kind,
        ErrorKind::BadField("mm source", -1)
    );
}

#[test]
fn task_state_round_trip() {
    let img = encode_full(|_| {});
    let items = decode(&img).expect("valid image");
    let kinds: Vec<&str> = items
        .iter()
        .map(|i| match i {
            Item::Header(_) => "header",
            Item::Forest(_) => "forest",
            Item::Task(_) => "task",
            Item::TaskState(_) => "task-state",
            Item::Regs(_) => "regs",
            Item::Xstate(..) => "xstate",
            Item::Mm(..) => "mm",
            Item::Vma(..) => "vma",
            Item::Shmem(..) => "shmem",
            Item::ShmemPages(..) => "shmem-pages",
            Item::Files(..) => "files",
            Item::Fd(..) => "fd",
            Item::File(..) => "file",
            Item::Pipe(..) => "pipe",
            Item::Eventfd(..) => "eventfd",
            Item::Signalfd(..) => "signalfd",
            Item::Fifo(..) => "fifo",
            Item::Timerfd(..) => "timerfd",
            Item::Epoll(..) => "epoll",
            Item::UnixPair(..) => "unix-pair",
            Item::UnixSock(..) => "unix-sock",
            Item::InetSock(..) => "inet-sock",
            Item::InetPending(..) => "inet-pending",
            Item::PacketSock(..) => "packet-sock",
            Item::FileLock(..) => "file-lock",
            Item::Memfd(..) => "memfd",
            Item::Pty(..) => "pty",
            Item::Ctty(..) => "ctty",
            Item::DeletedFile(..) => "deleted-file",
            Item::Pidfd(..) => "pidfd",
            Item::Inotify(..) => "inotify",
            Item::FileOwner(_) => "file-owner",
            Item::Share(_) => "share",
            Item::Pod(_) => "pod",
            Item::TaskSched(..) => "sched",
            Item::PosixTimers(..) => "posix-timers",
            Item::Auxv(_) => "auxv",
            Item::Cgroup(_) => "cgroup",
            Item::PodIpc(_) => "pod-ipc",
            Item::PodNet(_) => "pod-net",
            Item::SysvShm(_) => "sysv-shm",
            Item::SysvSem(..) => "sysv-sem",
            Item::SysvMsg(..) => "sysv-msg",
            Item::PosixMq(..) => "posix-mq",
            Item::PodMount(..) => "pod-mount",
            Item::TmpfsFile(..) => "tmpfs-file",
            Item::MqNotify(_) => "mq-notify",
            Item::SemUndo(..) => "sem-undo",
            Item::UnixPending(..) => "unix-pending",
            Item::Signals(..) => "signals",
            Item::RestartBlock(..) => "restart-block",
            Item::TaskMisc(..) => "task-misc",
            Item::Sighand(..) => "sighand",
            Item::Pages(..) => "pages",
            Item::TaskEnd => "task-end",
            Item::Tail(_) => "tail",
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "header",
            "forest",
            "task",
            "task",
            "task",
            "task",
            "task-state",
            "regs",
            "xstate",
            "restart-block",
            "task-misc",
            "signals",
            "mm",
            "vma",
            "vma",
            "files",
            "file",
            "fd",
            "pipe",
            "file",
            "fd",
            "fd",
            "sighand",
            "pages",
            "task-end",
            "tail"
        ]
    );
    let Some(Item::Sighand(p)) = items.get(22) else {
        panic!()
    };
    let (sh, _) = Sighand::parse(p).unwrap();
    assert_eq!(sh.actions[9].handler, 0x401234);
    let Some(Item::Files(h, cwd, root)) = items.get(15) else {
        panic!()
    };
    assert_eq!((h.nr_fds, *cwd, *root), (3, &b"/tmp"[..], &b"/"[..]));
    let Some(Item::File(f, path)) = items.get(16) else {
        panic!()
    };
    assert_eq!((f.id, f.pos, *path), (1, 42, &b"/tmp/log"[..]));
    let Some(Item::Fd(f)) = items.get(17) else {
        panic!()
    };
    assert_eq!((f.fd, f.fd_flags, f.file), (1, FD_CLOEXEC, 1));
    let Some(Item::Pipe(p, data)) = items.get(18) else {
        panic!()
    };
    assert_eq!((p.id, p.capacity, *data), (2, 65536, &b"hello"[..]));
    let Some(Item::File(f, _)) = items.get(19) else {
        panic!()
    };
    assert_eq!((f.id, f.kind, f.obj), (3, FILE_PIPE, 2));
    let Some(Item::Fd(f)) = items.get(21) else {
        panic!()
    };
    assert_eq!((f.fd, f.file), (4, 3));
    let Some(Item::Regs(r)) = items.get(7) else {
        panic!()
    };
    assert_eq!(r.ip(), 0x401000);
    let Some(Item::Vma(v, path)) = items.get(13) else {
        panic!()
    };
    assert_eq!((v.kind, *path), (VMA_FILE, &b"/bin/prog"[..]));
    let Some(Item::Pages(h, data)) = items.get(23) else {
        panic!()
    };
    assert_eq!(
        (h.vaddr, h.nr, data.len(), data[4097]),
        (0x500000, 2, 2 * PAGE_SIZE, 1)
    );
}

#[test]
fn task_state_truncation_and_garbage() {
    let img = encode_full(|_| {});
    for cut in 0..img.len() {
        assert_eq!(
            decode(&img[..cut]).unwrap_err().kind,
            ErrorKind::Truncated,
            "cut at {cut}"
        );
    }
    // Flips outside the page and xstate data must never panic.
    for byte in 0..img.len() {
        let mut bad = img.clone();
        bad[byte] ^= 0x41;
        let _ = decode(&bad);
    }
}

#[test]
fn task_state_violations_are_rejected() {
    // The files before the VMAs are complete.
    let img = encode_full(|r| {
        let i = first(r, RecordType::Vma);
        r.remove(i);
    });
    assert!(matches!(
        decode(&img).unwrap_err().kind,
        ErrorKind::Unexpected {
            found: RecordType::Files,
            ..
        }
    ));
    // Pages going backwards.
    let img = encode_full(|r| {
        let i = first(r, RecordType::Pages);
        let again = r[i].clone();
        r.insert(i, again);
    });
    assert_eq!(
        decode(&img).unwrap_err().kind,
        ErrorKind::BadField("pages address", 0x500000)
    );
    // An xstate whose size disagrees with its data.
    let img = encode_full(|r| {
        let i = first(r, RecordType::Xstate);
        r[i].1.truncate(XstateHeader::LEN + 100);
    });
    assert!(matches!(
        decode(&img).unwrap_err().kind,
        ErrorKind::BadLength { .. }
    ));
    // Pages data one byte short.
    let img = encode_full(|r| {
        let i = first(r, RecordType::Pages);
        r[i].1.pop();
    });
    assert!(matches!(
        decode(&img).unwrap_err().kind,
        ErrorKind::BadLength { .. }
    ));
    // A VMA whose end is before its start.
    let img = encode_full(|r| {
        let i = first(r, RecordType::Vma) + 1;
        r[i].1[8..16].copy_from_slice(&0x400000u64.to_le_bytes());
    });
    assert_eq!(
        decode(&img).unwrap_err().kind,
        ErrorKind::BadField("vma bounds", 0x500000)
    );
    // More task states than tasks (copies of the task's thread part).
    let img = encode_full(|r| {
        let s = first(r, RecordType::TaskState);
        let e = first(r, RecordType::Signals);
        let mut copy: Vec<_> = r[s..=e].to_vec();
        copy.push((RecordType::TaskEnd, Vec::new()));
        for _ in 0..4 {
            r.extend(copy.iter().cloned());
        }
    });
    assert_eq!(
        decode(&img).unwrap_err().kind,
        ErrorKind::BadField("task states", 0)
    );
    // A pending siginfo whose signal is not in the pending mask.
    let img = encode_full(|r| {
        let i = first(r, RecordType::Signals);
        r[i].1[32..40].copy_from_slice(&0u64.to_le_bytes());
    });
    assert_eq!(
        decode(&img).unwrap_err().kind,
        ErrorKind::BadField("pending signal", 15)
    );
    // An fd record missing.
    let img = encode_full(|r| {
        let i = first(r, RecordType::Fd);
        r.remove(i);
    });
    assert!(matches!(
        decode(&img).unwrap_err().kind,
        ErrorKind::Unexpected {
            found: RecordType::Sighand,
            ..
        }
    ));
    // An fd naming an object not written yet.
    let img = encode_full(|r| {
        let i = first(r, RecordType::Fd);
        r[i].1[8..12].copy_from_slice(&7u32.to_le_bytes());
    });
    assert_eq!(
        decode(&img).unwrap_err().kind,
        ErrorKind::BadField("fd file", 7)
    );
    // An object id out of sequence (ids are given in order from 1).
    let img = encode_full(|r| {
        let i = first(r, RecordType::Pipe);
        r[i].1[0..4].copy_from_slice(&5u32.to_le_bytes());
    });
    assert_eq!(
        decode(&img).unwrap_err().kind,
        ErrorKind::BadField("pipe id", 5)
    );
    // Pipe data longer than the pipe's capacity.
    let img = encode_full(|r| {
        let i = first(r, RecordType::Pipe);
        r[i].1[4..8].copy_from_slice(&4u32.to_le_bytes());
    });
    assert_eq!(
        decode(&img).unwrap_err().kind,
        ErrorKind::BadField("pipe capacity", 4)
    );
    // A pipe end naming a file object instead of a pipe is caught where
    // it is used; one naming an object not written yet here.
    let img = encode_full(|r| {
        let i = first(r, RecordType::Pipe) + 1;
        r[i].1[24..28].copy_from_slice(&9u32.to_le_bytes());
    });
    assert_eq!(
        decode(&img).unwrap_err().kind,
        ErrorKind::BadField("file object", 9)
    );
    // Registers missing.
    let img = encode_full(|r| {
        let i = first(r, RecordType::Regs);
        r.remove(i);
    });
    assert!(matches!(
        decode(&img).unwrap_err().kind,
        ErrorKind::Unexpected {
            found: RecordType::Xstate,
            ..
        }
    ));
}

/// Adds a shared memory object with one page of contents and a VMA that
/// maps it before the task's first VMA; object ids after it move up one.
fn with_shmem(r: &mut Vec<(RecordType, Vec<u8>)>) {
    let bump = |b: &mut [u8], at: usize| {
        let v = u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
        if v != 0 {
            b[at..at + 4].copy_from_slice(&(v + 1).to_le_bytes());
        }
    };
    for (k, p) in r.iter_mut() {
        match k {
            RecordType::File => {
                bump(p, 0);
                bump(p, 24);
            }
            RecordType::Pipe => bump(p, 0),
            RecordType::Fd => bump(p, 8),
            RecordType::Mm => {
                // nr_vmas, after twelve u64 bounds.
                let n = u32::from_le_bytes(p[96..100].try_into().unwrap());
                p[96..100].copy_from_slice(&(n + 1).to_le_bytes());
            }
            _ => {}
        }
    }
    let i = r.iter().position(|(k, _)| *k == RecordType::Vma).unwrap();
    let obj = ShmemObj {
        id: 1,
        size: 2 * PAGE_SIZE as u64,
    };
    let mut pages = ShmemPagesHeader {
        id: 1,
        nr: 1,
        offset: PAGE_SIZE as u64,
    }
    .encode()
    .to_vec();
    pages.extend(std::iter::repeat_n(0x5a, PAGE_SIZE));
    let vma = Vma {
        start: 0x300000,
        end: 0x302000,
        pgoff: 0,
        flags: VM_READ | VM_WRITE | VM_SHARED,
        kind: VMA_SHMEM,
        path_len: 0,
        obj: 1,
    };
    r.insert(i, (RecordType::Vma, vma.encode().to_vec()));
    r.insert(i, (RecordType::ShmemPages, pages));
    r.insert(i, (RecordType::Shmem, obj.encode().to_vec()));
}

#[test]
fn shared_memory_round_trip() {
    let img = encode_full(with_shmem);
    let items = decode(&img).expect("valid image");
    let shm: Vec<_> = items
        .iter()
        .filter_map(|i| match i {
            Item::Shmem(s) => Some(format!("shmem {} {}", s.id, s.size)),
            Item::ShmemPages(h, d) => {
                Some(format!("pages {} {} {} {}", h.id, h.offset, h.nr, d[0]))
            }
            Item::Vma(v, _) if v.kind == VMA_SHMEM => Some(format!("vma {}", v.obj)),
            Item::Fd(f) => Some(format!("fd {} {}", f.fd, f.file)),
            _ => None,
        })
        .collect();
    assert_eq!(
        shm,
        [
            "shmem 1 8192",
            "pages 1 4096 1 90",
            "vma 1",
            "fd 1 2",
            "fd 3 4",
            "fd 4 4"
        ]
    );
}

#[test]
fn shared_memory_violations_are_rejected() {
    // Contents past the object's size.
    let img = encode_full(|r| {
        with_shmem(r);
        let i = first(r, RecordType::ShmemPages);
        r[i].1[8..16].copy_from_slice(&(2 * PAGE_SIZE as u64).to_le_bytes());
    });
    assert_eq!(
        decode(&img).unwrap_err().kind,
        ErrorKind::BadField("shared memory offset", 2 * PAGE_SIZE as i64)
    );
    // A VMA naming an object not written yet.
    let img = encode_full(|r| {
        with_shmem(r);
        let i = r
            .iter()
            .position(|(k, p)| *k == RecordType::Vma && p[40] == 1)
            .unwrap();
        r[i].1[40..44].copy_from_slice(&9u32.to_le_bytes());
    });
    assert_eq!(
        decode(&img).unwrap_err().kind,
        ErrorKind::BadField("vma shared memory", 9)
    );
    // A shared memory VMA without an object.
    let img = encode_full(|r| {
        with_shmem(r);
        let i = r
            .iter()
            .position(|(k, p)| *k == RecordType::Vma && p[40] == 1)
            .unwrap();
        r[i].1[40..44].copy_from_slice(&0u32.to_le_bytes());
    });
    assert_eq!(
        decode(&img).unwrap_err().kind,
        ErrorKind::BadField("vma shared memory", 0)
    );
    // Contents with no object before them.
    let img = encode_full(|r| {
        with_shmem(r);
        let i = first(r, RecordType::Shmem);
        r.remove(i);
    });
    assert!(decode(&img).is_err());
}

#[test]
fn fd_record_with_extra_bytes_is_rejected() {
    // Found by the fuzzer (ckpt-image-fuzz): an fd record longer than its
    // layout was accepted, the extra bytes ignored.
    let img = encode_full(|r| {
        let i = first(r, RecordType::Fd);
        r[i].1.extend_from_slice(&[0; 8]);
    });
    assert_eq!(
        decode(&img).unwrap_err().kind,
        ErrorKind::BadLength {
            len: Fd::LEN as u32 + 8,
            expected: Fd::LEN as u32
        }
    );
}

#[test]
fn object_records_may_come_anywhere_after_the_forest() {
    // The open files moved before the first task state.
    let img = encode_full(|r| {
        let state = first(r, RecordType::TaskState);
        let objs: Vec<_> = r.iter().filter(|(k, _)| k.is_object()).cloned().collect();
        r.retain(|(k, _)| !k.is_object());
        for (i, o) in objs.into_iter().enumerate() {
            r.insert(state + i, o);
        }
    });
    let items = decode(&img).expect("objects before the first task");
    assert_eq!(items.iter().filter(|i| i.object().is_some()).count(), 3);
    // Right after the task state, between two records of the task.
    let img = encode_full(|r| {
        let i = first(r, RecordType::File);
        let f = r.remove(i);
        let at = first(r, RecordType::Regs);
        r.insert(at, f);
    });
    decode(&img).expect("an object inside a task");
    // But never before the forest's rows end, and never after a reference.
    let img = encode_full(|r| {
        let i = first(r, RecordType::File);
        let f = r.remove(i);
        let at = first(r, RecordType::Task);
        r.insert(at, f);
    });
    assert!(matches!(
        decode(&img).unwrap_err().kind,
        ErrorKind::Unexpected {
            found: RecordType::File,
            ..
        }
    ));
    let img = encode_full(|r| {
        let i = first(r, RecordType::File);
        let f = r.remove(i);
        let at = first(r, RecordType::Sighand);
        r.insert(at, f);
    });
    assert!(matches!(
        decode(&img).unwrap_err().kind,
        ErrorKind::BadField("fd file", 1)
    ));
}

#[test]
fn every_record_type_has_one_place() {
    for &k in RecordType::ALL {
        assert_eq!(RecordType::from_u32(k as u32), Some(k));
        let in_task = TASK_RECORDS.iter().filter(|s| s.kind == k).count();
        let stream = matches!(
            k,
            RecordType::Header
                | RecordType::Forest
                | RecordType::Task
                | RecordType::Pod
                | RecordType::PodIpc
                | RecordType::PodNet
                | RecordType::Tail
        );
        assert_eq!(
            usize::from(stream) + in_task + usize::from(k.is_object()),
            1,
            "{} must be a stream record, a task record or an object record",
            k.name()
        );
    }
}

#[test]
fn the_readme_shows_the_task_order() {
    let mut text = String::new();
    task_order_text(&mut text).unwrap();
    assert_eq!(
        text,
        "task-state → regs → xstate → restart-block → task-misc → sched… → signals → \
         [leaders: mm → vma × n → auxv… → cgroup… → ctty… → share… → files → fd × n → file-lock… → file-owner… → mq-notify… → sem-undo… → sighand → posix-timers… → pages…] → task-end"
    );
    let readme = include_str!("../../../../README.md");
    assert!(
        readme.contains(&text),
        "README.md's image format must show the task records as: {text}"
    );
}

#[test]
fn the_writer_order_check_accepts_what_the_parser_accepts() {
    // A writer gives no counts: the order alone is checked.
    let img = encode_full(|_| {});
    let mut order = Order::new();
    for rec in RawRecords::new(&img) {
        let k = RecordType::from_u32(rec.unwrap().kind).unwrap();
        order.feed(k, None).unwrap();
    }
    assert!(order.is_done());
    // A thread: task-state to signals (its sched record included), then
    // task-end.
    let mut order = Order::new();
    for k in [RecordType::Header, RecordType::Forest, RecordType::Task]
        .into_iter()
        .chain(TASK_RECORDS.iter().take(7).map(|s| s.kind))
        .chain([RecordType::TaskEnd, RecordType::Tail])
    {
        order.feed(k, None).unwrap();
    }
    // No pages right after the signals: a leader's mm comes first, and a
    // thread has none.
    let mut order = Order::new();
    for k in [RecordType::Header, RecordType::Forest, RecordType::Task]
        .into_iter()
        .chain(TASK_RECORDS.iter().take(7).map(|s| s.kind))
    {
        order.feed(k, None).unwrap();
    }
    let e = order.feed(RecordType::Pages, None).unwrap_err();
    assert_eq!(e.expected.to_string(), "mm, task-end or an object");
}

#[test]
fn record_layouts_keep_the_format() {
    // The lengths of format 3, which the layouts declared with `layout!`
    // must keep: a change here is a new image version (format 6 added the
    // mm's source, 8 bytes).
    let lens = [
        (Header::LEN, 92),
        (ForestHead::LEN, 8),
        (TaskEntry::LEN, 48),
        (Tail::LEN, 24),
        (TaskState::LEN, 8),
        (Regs::LEN, 216),
        (XstateHeader::LEN, 16),
        (MmHeader::LEN, 112),
        (Vma::LEN, 48),
        (ShmemObj::LEN, 16),
        (ShmemPagesHeader::LEN, 16),
        (PagesHeader::LEN, 16),
        (FilesHeader::LEN, 16),
        (FileObj::LEN, 32),
        (PipeObj::LEN, 16),
        (Fd::LEN, 16),
        (Signals::LEN, 40),
        (SigAction::LEN, 32),
        (Sighand::LEN, 64 * 32 + 16),
        (RestartBlock::LEN, 32),
        (TaskMisc::LEN, 432),
    ];
    for (i, (got, want)) in lens.iter().enumerate() {
        assert_eq!(got, want, "layout #{i}");
    }
    // Field order and byte order, and a reserved word written as zero.
    let fd = Fd {
        fd: 0x0102_0304,
        fd_flags: 1,
        file: 0x0a0b_0c0d,
    };
    assert_eq!(
        fd.encode(),
        [4, 3, 2, 1, 1, 0, 0, 0, 0xd, 0xc, 0xb, 0xa, 0, 0, 0, 0]
    );
    let mut bytes = fd.encode();
    bytes[12] = 1;
    assert_eq!(Fd::decode(&bytes), Err(ErrorKind::BadPadding));
    let tail = Tail {
        nr_records: 7,
        bytes: 0x1122,
    }
    .encode();
    assert_eq!(&tail[..8], b"KCKPTEND");
    assert_eq!(&tail[8..12], &7u32.to_le_bytes());
    assert_eq!(&tail[16..], &0x1122u64.to_le_bytes());
}

/// A unix pair's payload: the pair, both ends, then each end's lengths
/// and bytes.
fn unix_payload(e: [UnixEnd; 2], queues: [(&[u32], &[u8]); 2]) -> Vec<u8> {
    let mut p = UnixPairObj {
        id: 1,
        sock_type: SOCK_DGRAM,
    }
    .encode()
    .to_vec();
    p.extend_from_slice(&e[0].encode());
    p.extend_from_slice(&e[1].encode());
    for (lens, data) in queues {
        for l in lens {
            p.extend_from_slice(&l.to_le_bytes());
        }
        p.extend_from_slice(data);
    }
    p
}

#[test]
fn unix_pair_keeps_boundaries_and_refuses_bad_queues() {
    let end = |nr_msgs, data_len| UnixEnd {
        nr_msgs,
        data_len,
        ..UnixEnd::default()
    };
    // Three datagrams, one empty, to end 0; none to end 1.
    let p = unix_payload([end(3, 4), end(0, 0)], [(&[1, 0, 3], b"accc"), (&[], b"")]);
    let (u, ends) = UnixPairObj::decode(&p).expect("valid pair");
    assert_eq!(u.sock_type, SOCK_DGRAM);
    let msgs: Vec<&[u8]> = ends[0].messages().collect();
    assert_eq!(msgs, [&b"a"[..], b"", b"ccc"]);
    assert_eq!(ends[1].messages().count(), 0);
    // Lengths that do not add up to the bytes.
    let p = unix_payload([end(2, 4), end(0, 0)], [(&[1, 2], b"accc"), (&[], b"")]);
    assert!(UnixPairObj::decode(&p).is_err());
    // Both ends closed, or a closed end holding messages.
    let closed = UnixEnd::default_closed();
    let p = unix_payload([closed, closed], [(&[], b""), (&[], b"")]);
    assert!(UnixPairObj::decode(&p).is_err());
    let mut full = end(1, 1);
    full.flags = UNIX_CLOSED;
    let p = unix_payload([full, end(0, 0)], [(&[1], b"x"), (&[], b"")]);
    assert!(UnixPairObj::decode(&p).is_err());
    // A name on a datagram pair's end, or on both ends of a stream pair.
    let named = UnixEnd {
        flags: UNIX_NAMED,
        name_len: 4,
        ..UnixEnd::default()
    };
    let mut p = unix_payload([named, end(0, 0)], [(&[], b""), (&[], b"")]);
    p.splice(8 + 2 * UnixEnd::LEN..8 + 2 * UnixEnd::LEN, *b"/srv");
    assert!(UnixPairObj::decode(&p).is_err(), "a named datagram end");
    p[4] = SOCK_STREAM as u8;
    UnixPairObj::decode(&p).expect("a named stream end (accepted)");
    let mut p = unix_payload([named, named], [(&[], b""), (&[], b"")]);
    p[4] = SOCK_STREAM as u8;
    p.splice(8 + 2 * UnixEnd::LEN..8 + 2 * UnixEnd::LEN, *b"/srv");
    p.extend_from_slice(b"/srv");
    assert!(UnixPairObj::decode(&p).is_err(), "two named ends");
    // An unknown type; trailing bytes.
    let mut p = unix_payload([end(0, 0), end(0, 0)], [(&[], b""), (&[], b"")]);
    p[4] = 3;
    assert!(UnixPairObj::decode(&p).is_err());
    let mut p = unix_payload([end(0, 0), end(0, 0)], [(&[], b""), (&[], b"")]);
    p.push(0);
    assert!(UnixPairObj::decode(&p).is_err());
}

#[test]
fn unix_sock_checks_its_name_and_state() {
    let sock = |e: UnixEnd, tail: &[u8]| {
        let mut p = UnixSockObj {
            id: 1,
            sock_type: SOCK_DGRAM,
        }
        .encode()
        .to_vec();
        p.extend_from_slice(&e.encode());
        p.extend_from_slice(tail);
        p
    };
    let bound = UnixEnd {
        flags: UNIX_BOUND,
        name_len: 9,
        mode: 0o666,
        nr_msgs: 1,
        data_len: 2,
        ..UnixEnd::default()
    };
    let mut tail = b"/dev/log\0".to_vec();
    tail.extend_from_slice(&2u32.to_le_bytes());
    tail.extend_from_slice(b"hi");
    let payload = sock(bound, &tail);
    let (u, e) = UnixSockObj::decode(&payload).expect("valid socket");
    assert_eq!((u.sock_type, e.name), (SOCK_DGRAM, &b"/dev/log\0"[..]));
    assert_eq!(e.messages().collect::<Vec<_>>(), [&b"hi"[..]]);
    // A name without the flag, a flag without a name, a borrowed name on a
    // socket on its own, mode bits past 07777, a listener that is not
    // bound.
    for bad in [
        UnixEnd { flags: 0, ..bound },
        UnixEnd {
            name_len: 0,
            ..bound
        },
        UnixEnd {
            flags: UNIX_NAMED,
            ..bound
        },
        UnixEnd {
            mode: 0o10000,
            ..bound
        },
        UnixEnd {
            flags: UNIX_LISTENING,
            backlog: 4,
            name_len: 0,
            mode: 0,
            nr_msgs: 0,
            data_len: 0,
            ..bound
        },
    ] {
        let mut t = Vec::new();
        t.extend_from_slice(&tail[..bad.name_len as usize]);
        if bad.nr_msgs != 0 {
            t.extend_from_slice(&tail[9..]);
        }
        assert!(UnixSockObj::decode(&sock(bad, &t)).is_err(), "{bad:?}");
    }
}

/// An `inet-sock` payload: `s` with `opts` (and their count), which the
/// caller may follow with the rest of the record.
fn inet_payload(s: InetSockObj, opts: &[(u32, i64)]) -> Vec<u8> {
    let mut p = InetSockObj {
        nr_opts: opts.len() as u32,
        ..s
    }
    .encode()
    .to_vec();
    for &(opt, value) in opts {
        p.extend_from_slice(&InetOpt { opt, value }.encode());
    }
    p
}

#[test]
fn inet_sock_checks_its_kind_state_and_options() {
    let mut lo = [0u8; 16];
    lo[..4].copy_from_slice(&[127, 0, 0, 1]);
    let listener = InetSockObj {
        id: 1,
        family: AF_INET,
        sock_type: INET_SOCK_STREAM,
        protocol: IPPROTO_TCP,
        flags: INET_BOUND | INET_BOUND_ADDR | INET_LISTENING,
        backlog: 5,
        lport: 7001,
        laddr: lo,
        ..InetSockObj::default()
    };
    let opts = [(3, 1), (14, 1 << 32 | 7), (60, 1)];
    let p = inet_payload(listener, &opts);
    let (s, o) = InetSockObj::decode(&p).expect("valid socket");
    assert_eq!(s.lport, 7001);
    assert_eq!(
        o.opts.iter().map(|o| (o.opt, o.value)).collect::<Vec<_>>(),
        opts.to_vec()
    );
    let udp = InetSockObj {
        sock_type: INET_SOCK_DGRAM,
        protocol: IPPROTO_UDP,
        flags: INET_BOUND | INET_PORT_PICKED | INET_CONNECTED,
        backlog: 0,
        rport: 53,
        raddr: lo,
        ..listener
    };
    assert!(InetSockObj::decode(&inet_payload(udp, &[])).is_ok());
    let mut v4_tail = lo;
    v4_tail[15] = 1;
    let mut dev = [0u8; INET_DEV_LEN];
    dev[..2].copy_from_slice(b"lo");
    dev[3] = b'x';
    for (bad, opts) in [
        (
            InetSockObj {
                family: 1,
                ..listener
            },
            &opts[..],
        ),
        (
            InetSockObj {
                protocol: IPPROTO_UDP,
                ..listener
            },
            &opts[..],
        ),
        // A UDP listener, a TCP socket connected, a port without the flag.
        (
            InetSockObj {
                flags: INET_BOUND | INET_LISTENING,
                ..udp
            },
            &[][..],
        ),
        (
            InetSockObj {
                flags: listener.flags | INET_CONNECTED,
                ..listener
            },
            &opts[..],
        ),
        (
            InetSockObj {
                lport: 0,
                ..listener
            },
            &opts[..],
        ),
        (
            InetSockObj {
                lport: 70000,
                ..listener
            },
            &opts[..],
        ),
        (InetSockObj { backlog: 5, ..udp }, &[][..]),
        (
            InetSockObj {
                flags: INET_CONNECTED,
                lport: 0,
                ..udp
            },
            &[][..],
        ),
        (
            InetSockObj {
                laddr: v4_tail,
                ..listener
            },
            &opts[..],
        ),
        (InetSockObj { dev, ..listener }, &opts[..]),
        (InetSockObj { shutdown: 4, ..udp }, &[][..]),
        (
            InetSockObj {
                flags: INET_PORT_PICKED,
                lport: 0,
                ..listener
            },
            &[][..],
        ),
        // Options: unknown, out of order, twice, not of UDP, not of IPv4,
        // a value an int cannot hold, a negative timeout, a linger flag of 2.
        (listener, &[(0, 1)][..]),
        (listener, &[(78, 1)][..]),
        (listener, &[(60, 1), (3, 1)][..]),
        (listener, &[(3, 1), (3, 1)][..]),
        (udp, &[(60, 1)][..]),
        (listener, &[(42, 1)][..]),
        (listener, &[(3, 1 << 40)][..]),
        (listener, &[(12, -1)][..]),
        (listener, &[(14, 2 << 32)][..]),
        (listener, &[(14, -1)][..]),
    ] {
        assert!(
            InetSockObj::decode(&inet_payload(bad, opts)).is_err(),
            "{bad:?} {opts:?}"
        );
    }
    // An established connection: its state and queues follow the options.
    let conn = InetTcpConn {
        snd_una: u32::MAX - 2,
        snd_nxt: 2,
        write_seq: 7,
        rcv_nxt: 103,
        copied_seq: 100,
        snd_wnd: 10,
        max_window: 20,
        mss_clamp: 1460,
        flags: TCP_CONN_SACK | TCP_CONN_WSCALE,
        snd_wscale: 7,
        rcv_wscale: 7,
        ..InetTcpConn::default()
    };
    let est = InetSockObj {
        flags: INET_BOUND | INET_CONNECTED,
        backlog: 0,
        rport: 40000,
        raddr: lo,
        ..listener
    };
    let with = |c: InetTcpConn, tail: &[u8]| {
        let mut p = inet_payload(est, &[(60, 1)]);
        p.extend_from_slice(&c.encode());
        p.extend_from_slice(tail);
        p
    };
    let p = with(conn, b"0123456789abc");
    let (_, d) = InetSockObj::decode(&p).expect("valid connection");
    let (c, sendq, recvq) = d.tcp.expect("its state");
    assert_eq!((c.send_len(), c.sent_len(), c.recv_len()), (10, 5, 3));
    assert_eq!((sendq, recvq), (&b"0123456789"[..], &b"abc"[..]));
    for (bad, tail) in [
        (conn, &b"0123456789ab"[..]),
        (conn, &b"0123456789abcd"[..]),
        (InetTcpConn { snd_nxt: 8, ..conn }, &b"0123456789abc"[..]),
        (
            InetTcpConn {
                snd_wscale: 15,
                ..conn
            },
            &b"0123456789abc"[..],
        ),
        (
            InetTcpConn {
                flags: TCP_CONN_SACK,
                ..conn
            },
            &b"0123456789abc"[..],
        ),
        (
            InetTcpConn {
                mss_clamp: 0,
                ..conn
            },
            &b"0123456789abc"[..],
        ),
        (
            InetTcpConn {
                flags: conn.flags | 2048,
                ..conn
            },
            &b"0123456789abc"[..],
        ),
        (
            InetTcpConn {
                snd_wnd: 30,
                ..conn
            },
            &b"0123456789abc"[..],
        ),
    ] {
        assert!(InetSockObj::decode(&with(bad, tail)).is_err(), "{bad:?}");
    }
    // Urgent data: the peer's byte in the bytes not read (or past them,
    // not come yet), the program's pointer within its send queue; each
    // state on its own, pointers and byte 0 without their flag.
    let urg = |flags: u32, urg_seq: u32, snd_up: u32, urg_byte: u32| InetTcpConn {
        flags: conn.flags | flags,
        urg_seq,
        snd_up,
        urg_byte,
        ..conn
    };
    for good in [
        urg(TCP_CONN_URG_VALID, 102, 0, u32::from(b'c')),
        urg(TCP_CONN_URG_VALID, 100, 0, 0),
        urg(TCP_CONN_URG_READ, 101, 0, 0),
        urg(TCP_CONN_URG_NOTYET, 103, 0, 0),
        urg(TCP_CONN_URG_NOTYET, 5000, 0, 0),
        urg(TCP_CONN_URG_OUT, 0, 0, 0),
        urg(TCP_CONN_URG_OUT, 0, 7, 0),
        urg(TCP_CONN_URG_VALID | TCP_CONN_URG_OUT, 102, 3, 0xff),
        // Passed by TCP_ZEROCOPY_RECEIVE; a pointer whose byte came out
        // of order and was filled in.
        urg(TCP_CONN_URG_VALID, 99, 0, 0),
        urg(TCP_CONN_URG_READ, 100u32.wrapping_sub(1 << 31), 0, 0),
        urg(TCP_CONN_URG_NOTYET, 101, 0, 0),
        urg(TCP_CONN_URG_NOTYET, 100 + (1 << 30), 0, 0),
    ] {
        let p = with(good, b"0123456789abc");
        let (_, d) = InetSockObj::decode(&p).unwrap_or_else(|e| panic!("{good:?}: {e:?}"));
        assert_eq!(d.tcp.expect("its state").0, good);
    }
    assert_eq!(urg(TCP_CONN_URG_VALID, 102, 0, 0).urg_offset(), 2);
    assert_eq!(urg(TCP_CONN_URG_OUT, 0, 0, 0).urg_out_offset(), 3);
    for bad in [
        urg(TCP_CONN_URG_VALID, 103, 0, 0),
        urg(TCP_CONN_URG_VALID, 100 + (1 << 31) - 1, 0, 0),
        urg(TCP_CONN_URG_READ, 103, 0, 0),
        urg(TCP_CONN_URG_VALID | TCP_CONN_URG_READ, 101, 0, 0),
        urg(TCP_CONN_URG_READ, 101, 0, 1),
        urg(TCP_CONN_URG_VALID, 101, 0, 256),
        urg(0, 101, 0, 0),
        urg(0, 0, 3, 0),
        urg(TCP_CONN_URG_OUT, 0, u32::MAX - 2, 0),
        urg(TCP_CONN_URG_OUT, 0, 8, 0),
        urg(TCP_CONN_URG_OUT, 0, u32::MAX - 10, 0),
    ] {
        assert!(
            InetSockObj::decode(&with(bad, b"0123456789abc")).is_err(),
            "{bad:?}"
        );
    }
    // Closing connections: the FINs the sequence numbers count are no
    // bytes of the queues, and the shutdown bits go with them.
    let fin_out = InetTcpConn {
        flags: conn.flags | TCP_CONN_FIN_OUT,
        ..conn
    };
    let shut = |bits: u32, c: InetTcpConn, tail: &[u8]| {
        let mut obj = est;
        obj.shutdown = bits;
        let mut p = inet_payload(obj, &[(60, 1)]);
        p.extend_from_slice(&c.encode());
        p.extend_from_slice(tail);
        p
    };
    // FIN_WAIT1, its FIN behind bytes not sent: 9 bytes, 5 of them sent.
    let p = shut(INET_SEND_SHUTDOWN, fin_out, b"012345678abc");
    let (_, d) = InetSockObj::decode(&p).expect("FIN_WAIT1");
    let (c, sendq, _) = d.tcp.expect("its state");
    assert_eq!(
        (c.send_len(), c.sent_len(), c.state_name()),
        (9, 5, "FIN-WAIT-1")
    );
    assert_eq!(sendq, &b"012345678"[..]);
    // Its FIN sent: 9 bytes, all sent.
    let sent = InetTcpConn {
        snd_nxt: 7,
        ..fin_out
    };
    let q = shut(INET_SEND_SHUTDOWN, sent, b"012345678abc");

    let (_, d) = InetSockObj::decode(&q).expect("FIN sent");
    let c = d.tcp.expect("its state").0;
    assert_eq!((c.send_len(), c.sent_len(), c.fin_out_sent()), (9, 9, true));
    // FIN_WAIT2: the FIN acknowledged, nothing left to send.
    let acked = InetTcpConn {
        snd_una: 7,
        snd_nxt: 7,
        ..fin_out
    };
    let q = shut(INET_SEND_SHUTDOWN, acked, b"abc");

    let (_, d) = InetSockObj::decode(&q).expect("FIN_WAIT2");
    assert_eq!(d.tcp.expect("its state").0.state_name(), "FIN-WAIT-2");
    // CLOSE_WAIT: the peer's FIN after 2 bytes not read, then read.
    let fin_in = InetTcpConn {
        flags: conn.flags | TCP_CONN_FIN_IN,
        ..conn
    };
    let q = shut(INET_RCV_SHUTDOWN, fin_in, b"0123456789ab");

    let (_, d) = InetSockObj::decode(&q).expect("CLOSE_WAIT");
    let (c, _, recvq) = d.tcp.expect("its state");
    assert_eq!(
        (c.recv_len(), recvq, c.state_name()),
        (2, &b"ab"[..], "CLOSE-WAIT")
    );
    let read = InetTcpConn {
        copied_seq: 103,
        ..fin_in
    };
    let q = shut(INET_RCV_SHUTDOWN, read, b"0123456789");

    let (_, d) = InetSockObj::decode(&q).expect("FIN read");
    assert_eq!(d.tcp.expect("its state").0.recv_len(), 0);
    // LAST_ACK and CLOSING.
    let both = InetTcpConn {
        flags: conn.flags | TCP_CONN_FIN_IN | TCP_CONN_FIN_OUT,
        ..conn
    };
    let closing = InetTcpConn {
        flags: both.flags | TCP_CONN_CLOSING,
        ..conn
    };
    for (c, name) in [(both, "LAST-ACK"), (closing, "CLOSING")] {
        let q = shut(3, c, b"012345678ab");

        let (_, d) = InetSockObj::decode(&q).expect(name);
        assert_eq!(d.tcp.expect("its state").0.state_name(), name);
    }
    for (bits, c, tail) in [
        // Shut down for writing with no FIN, a FIN with no shutdown.
        (INET_SEND_SHUTDOWN, conn, &b"0123456789abc"[..]),
        (0, fin_out, &b"012345678abc"[..]),
        // The peer's FIN without the shutdown for reading it makes.
        (0, fin_in, &b"0123456789ab"[..]),
        // Both FINs acknowledged (TIME_WAIT); CLOSING without both.
        (
            3,
            InetTcpConn {
                flags: both.flags,
                ..acked
            },
            &b"ab"[..],
        ),
        (
            INET_SEND_SHUTDOWN,
            InetTcpConn {
                flags: fin_out.flags | TCP_CONN_CLOSING,
                ..fin_out
            },
            &b"012345678abc"[..],
        ),
        // An acknowledged FIN that was not sent.
        (
            INET_SEND_SHUTDOWN,
            InetTcpConn {
                snd_nxt: 5,
                ..acked
            },
            &b"abc"[..],
        ),
        // The queues' lengths counting the FIN as a byte.
        (INET_SEND_SHUTDOWN, fin_out, &b"0123456789abc"[..]),
        (INET_RCV_SHUTDOWN, fin_in, &b"0123456789abc"[..]),
    ] {
        assert!(
            InetSockObj::decode(&shut(bits, c, tail)).is_err(),
            "{bits} {c:?}"
        );
    }
    // A TCP connection to port 0; state after a socket not connected.
    assert!(InetSockObj::decode(&with(conn, b"0123456789abc")[..]).is_ok());
    let mut p = inet_payload(InetSockObj { rport: 0, ..est }, &[(60, 1)]);
    p.extend_from_slice(&conn.encode());
    p.extend_from_slice(b"0123456789abc");
    assert!(InetSockObj::decode(&p).is_err());
    let mut p = inet_payload(listener, &opts);
    p.extend_from_slice(&conn.encode());
    assert!(InetSockObj::decode(&p).is_err());
    // More options than the count says, or fewer.
    let mut p = inet_payload(listener, &opts);
    p.extend_from_slice(&InetOpt { opt: 61, value: 1 }.encode());
    assert!(InetSockObj::decode(&p).is_err());
    assert!(InetSockObj::decode(&p[..p.len() - 2 * InetOpt::LEN]).is_err());
}

#[test]
fn inet_sock_filter_follows_its_options() {
    let mut lo = [0u8; 16];
    lo[..4].copy_from_slice(&[127, 0, 0, 1]);
    let udp = InetSockObj {
        id: 1,
        family: AF_INET,
        sock_type: INET_SOCK_DGRAM,
        protocol: IPPROTO_UDP,
        flags: INET_BOUND | INET_BOUND_ADDR | INET_FILTER_LOCKED,
        lport: 7032,
        laddr: lo,
        nr_opts: 1,
        nr_filter: 2,
        ..InetSockObj::default()
    };
    // ld #len; ret a: as many bytes as the datagram has.
    let insns: [u8; 16] = [0x80, 0, 0, 0, 0, 0, 0, 0, 0x16, 0, 0, 0, 0, 0, 0, 0];
    let record = |s: InetSockObj, filter: &[u8]| {
        let mut p = inet_payload(s, &[(3, 1)]);
        p.extend_from_slice(filter);
        p
    };
    let rec = record(udp, &insns);
    let (s, d) = InetSockObj::decode(&rec).expect("a UDP socket with a filter");
    assert_eq!(s.nr_filter, 2);
    assert_eq!(d.filter, &insns[..]);
    assert_eq!(
        d.filter().collect::<Vec<_>>(),
        [
            InetFilterInsn {
                code: 0x80,
                ..Default::default()
            },
            InetFilterInsn {
                code: 0x16,
                ..Default::default()
            }
        ]
    );
    assert_eq!(d.opts.iter().count(), 1);
    // Too long for BPF_MAXINSNS, shorter than it says, or bytes left over.
    let long = InetSockObj {
        nr_filter: INET_MAX_FILTER + 1,
        ..udp
    };
    assert!(InetSockObj::decode(&record(long, &insns)).is_err());
    assert!(InetSockObj::decode(&record(udp, &insns[..8])).is_err());
    let mut more = insns.to_vec();
    more.push(0);
    assert!(InetSockObj::decode(&record(udp, &more)).is_err());
    // A flag beyond the known ones.
    let flags = InetSockObj {
        flags: udp.flags | 1 << 7,
        ..udp
    };
    assert!(InetSockObj::decode(&record(flags, &insns)).is_err());
}

#[test]
fn inet_multicast_groups_follow_the_filter() {
    let udp = InetSockObj {
        id: 1,
        family: AF_INET,
        sock_type: INET_SOCK_DGRAM,
        protocol: IPPROTO_UDP,
        flags: INET_BOUND,
        lport: 7033,
        nr_groups: 2,
        ..InetSockObj::default()
    };
    let g4 = |a: [u8; 4], ifindex: u32| {
        let mut addr = [0u8; 16];
        addr[..4].copy_from_slice(&a);
        InetGroup { addr, ifindex }
    };
    let record = |s: InetSockObj, groups: &[InetGroup], opts: &[(u32, i64)]| {
        let mut p = inet_payload(s, opts);
        for g in groups {
            p.extend_from_slice(&g.encode());
        }
        p
    };
    let both = [g4([239, 1, 2, 3], 1), g4([224, 0, 0, 251], 1)];
    // IP_MULTICAST_IF by device 1 and address 127.0.0.1.
    let mcast_if = 1i64 << 32 | i64::from(u32::from_ne_bytes([127, 0, 0, 1]));
    let rec = record(udp, &both, &[(98, mcast_if)]);
    let (_, d) = InetSockObj::decode(&rec).expect("a UDP socket in two groups");
    assert_eq!(d.groups().collect::<Vec<_>>(), both.to_vec());
    let mut g6 = [0u8; 16];
    g6[0] = 0xff;
    g6[1] = 5;
    g6[15] = 0x42;
    let udp6 = InetSockObj {
        family: AF_INET6,
        nr_groups: 1,
        ..udp
    };
    let rec = record(
        udp6,
        &[InetGroup {
            addr: g6,
            ifindex: 1,
        }],
        &[(97, 1)],
    );
    assert!(InetSockObj::decode(&rec).is_ok());
    for (what, bad, groups, opts) in [
        (
            "a unicast group",
            udp,
            vec![g4([127, 0, 0, 1], 1), both[1]],
            vec![],
        ),
        (
            "no device",
            udp,
            vec![g4([239, 1, 2, 3], 0), both[1]],
            vec![],
        ),
        ("one group twice", udp, vec![both[0], both[0]], vec![]),
        (
            "an IPv6 group on an IPv4 socket",
            InetSockObj {
                nr_groups: 1,
                ..udp
            },
            vec![InetGroup {
                addr: g6,
                ifindex: 1,
            }],
            vec![],
        ),
        (
            "an IPv4 group on an IPv6 socket",
            udp6,
            vec![both[0]],
            vec![],
        ),
        (
            "a TCP socket in a group",
            InetSockObj {
                sock_type: INET_SOCK_STREAM,
                protocol: IPPROTO_TCP,
                ..udp
            },
            both.to_vec(),
            vec![],
        ),
        ("fewer groups than it says", udp, vec![both[0]], vec![]),
        (
            "a negative IP_MULTICAST_IF",
            udp,
            both.to_vec(),
            vec![(98, -1)],
        ),
        (
            "IPV6_MULTICAST_IF on an IPv4 socket",
            udp,
            both.to_vec(),
            vec![(97, 1)],
        ),
    ] {
        assert!(
            InetSockObj::decode(&record(bad, &groups, &opts)).is_err(),
            "{what}"
        );
    }
    let many = InetSockObj {
        nr_groups: INET_MAX_GROUPS + 1,
        ..udp
    };
    assert!(InetSockObj::decode(&record(many, &both, &[])).is_err());
}

#[test]
fn inet_ping_and_raw_sockets_and_their_datagrams() {
    let mut lo = [0u8; 16];
    lo[..4].copy_from_slice(&[127, 0, 0, 1]);
    let record = |s: InetSockObj, opts: &[(u32, i64)], dgrams: &[(InetDgram, Vec<u8>)]| {
        let bytes: usize = dgrams.iter().map(|(_, p)| p.len()).sum();
        let s = InetSockObj {
            nr_dgrams: dgrams.len() as u32,
            dgram_bytes: bytes as u32,
            ..s
        };
        let mut p = inet_payload(s, opts);
        for (d, _) in dgrams {
            p.extend_from_slice(&d.encode());
        }
        for (_, payload) in dgrams {
            p.extend_from_slice(payload);
        }
        p
    };
    // The kinds: ping sockets of their family's ICMP, raw ones of any
    // protocol but 0.
    assert_eq!(
        InetKind::of(AF_INET, INET_SOCK_DGRAM, IPPROTO_ICMP),
        Some(InetKind::Ping)
    );
    assert_eq!(
        InetKind::of(AF_INET6, INET_SOCK_DGRAM, IPPROTO_ICMPV6),
        Some(InetKind::Ping)
    );
    assert_eq!(InetKind::of(AF_INET, INET_SOCK_DGRAM, IPPROTO_ICMPV6), None);
    assert_eq!(InetKind::of(AF_INET6, INET_SOCK_DGRAM, IPPROTO_ICMP), None);
    assert_eq!(
        InetKind::of(AF_INET, INET_SOCK_RAW, IPPROTO_TCP),
        Some(InetKind::Raw(6))
    );
    assert_eq!(InetKind::of(AF_INET, INET_SOCK_RAW, 0), None);
    assert_eq!(InetKind::of(AF_INET, INET_SOCK_RAW, 256), None);
    assert_eq!(InetKind::of(AF_INET, INET_SOCK_STREAM, IPPROTO_UDP), None);

    let ping = InetSockObj {
        id: 1,
        family: AF_INET,
        sock_type: INET_SOCK_DGRAM,
        protocol: IPPROTO_ICMP,
        flags: INET_BOUND | INET_BOUND_ADDR,
        lport: 7030,
        laddr: lo,
        ..InetSockObj::default()
    };
    // An echo reply with its ICMP header, from 127.0.0.1.
    let reply = InetDgram {
        family: AF_INET,
        len: 12,
        ttl: 64,
        saddr: lo,
        daddr: lo,
        ..InetDgram::default()
    };
    let icmp = b"\0\0\xab\xcd\x1b\x6e\0\x01ping".to_vec();
    assert!(InetSockObj::decode(&record(ping, &[(27, 1)], &[(reply, icmp.clone())])).is_ok());

    // A raw socket: no port, its address bound, connected; its IPv4
    // datagrams begin with the IP header the record names.
    let raw = InetSockObj {
        protocol: IPPROTO_UDP,
        sock_type: INET_SOCK_RAW,
        flags: INET_BOUND_ADDR | INET_CONNECTED,
        lport: 0,
        raddr: lo,
        ..ping
    };
    let mut packet = vec![0x45, 0, 0, 28, 0, 0, 0x40, 0, 64, 17, 0, 0];
    packet.extend_from_slice(&[127, 0, 0, 1, 127, 0, 0, 1]);
    packet.extend_from_slice(&[0x1b, 0x78, 0x1b, 0x78, 0, 8, 0, 0]);
    let copy = InetDgram {
        len: packet.len() as u32,
        ..reply
    };
    let opts = [(78, 1), (79, 1)];
    let rec = record(raw, &opts, &[(copy, packet.clone())]);
    let (s, d) = InetSockObj::decode(&rec).expect("a raw UDP socket with a queued packet");
    assert_eq!(s.kind(), Some(InetKind::Raw(17)));
    assert_eq!(
        d.dgrams().map(|(_, p)| p.to_vec()).collect::<Vec<_>>(),
        [packet.clone()]
    );
    assert!(d.tcp.is_none());

    let raw6 = InetSockObj {
        family: AF_INET6,
        protocol: IPPROTO_ICMPV6,
        flags: 0,
        laddr: [0; 16],
        raddr: [0; 16],
        ..raw
    };
    // ICMPV6_FILTER's words and IPV6_CHECKSUM for an IPv6 raw socket.
    assert!(InetSockObj::decode(&record(raw6, &[(42, 0), (82, 2), (87, -3)], &[])).is_ok());

    let mut bad_header = packet.clone();
    bad_header[8] = 63; // a TTL the record does not name
    let mut short_ihl = packet.clone();
    short_ihl[0] = 0x44;
    let mut other_proto = packet.clone();
    other_proto[9] = 6;
    let v6_reply = InetDgram {
        family: AF_INET6,
        ..reply
    };
    for (what, bad, opts, dgrams) in [
        (
            "a raw socket with a port",
            InetSockObj {
                flags: raw.flags | INET_BOUND,
                lport: 17,
                ..raw
            },
            &[][..],
            vec![],
        ),
        (
            "a raw socket with a picked port",
            InetSockObj {
                flags: raw.flags | INET_PORT_PICKED,
                ..raw
            },
            &[][..],
            vec![],
        ),
        (
            "a raw socket listening",
            InetSockObj {
                flags: INET_LISTENING,
                backlog: 1,
                ..raw
            },
            &[][..],
            vec![],
        ),
        (
            "a raw socket connecting",
            InetSockObj {
                flags: INET_CONNECTING,
                rport: 1,
                ..raw
            },
            &[][..],
            vec![],
        ),
        (
            "a ping socket connected without its identifier",
            InetSockObj {
                flags: INET_CONNECTED,
                lport: 0,
                raddr: lo,
                ..ping
            },
            &[][..],
            vec![],
        ),
        (
            "a ping socket of IPv6's ICMP over IPv4",
            InetSockObj {
                protocol: IPPROTO_ICMPV6,
                ..ping
            },
            &[][..],
            vec![],
        ),
        (
            "raw protocol 0",
            InetSockObj { protocol: 0, ..raw },
            &[][..],
            vec![],
        ),
        (
            "a raw option on a ping socket",
            ping,
            &[(78, 1)][..],
            vec![],
        ),
        (
            "an IPv6 raw option on an IPv4 raw socket",
            raw,
            &[(82, 2)][..],
            vec![],
        ),
        (
            "an IPv4 raw option on an IPv6 raw socket",
            raw6,
            &[(80, 1)][..],
            vec![],
        ),
        (
            "a TCP option on a raw socket of TCP",
            InetSockObj {
                protocol: IPPROTO_TCP,
                ..raw
            },
            &[(60, 1)][..],
            vec![],
        ),
        (
            "an IPv6 datagram to an IPv4 ping socket",
            ping,
            &[][..],
            vec![(v6_reply, icmp.clone())],
        ),
        (
            "an IPv4 datagram to an IPv6 raw socket",
            raw6,
            &[][..],
            vec![(reply, icmp.clone())],
        ),
        (
            "UDP ports on a ping datagram",
            ping,
            &[][..],
            vec![(InetDgram { sport: 1, ..reply }, icmp.clone())],
        ),
        (
            "a datagram from before the epoch",
            ping,
            &[][..],
            vec![(
                InetDgram {
                    tstamp: -1,
                    ..reply
                },
                icmp.clone(),
            )],
        ),
        (
            "a raw packet whose header names another TTL",
            raw,
            &[][..],
            vec![(copy, bad_header)],
        ),
        (
            "a raw packet with a header shorter than 20 bytes",
            raw,
            &[][..],
            vec![(copy, short_ihl)],
        ),
        (
            "a raw packet of another protocol",
            raw,
            &[][..],
            vec![(copy, other_proto)],
        ),
        (
            "a raw packet shorter than its header",
            raw,
            &[][..],
            vec![(InetDgram { len: 12, ..copy }, packet[..12].to_vec())],
        ),
        (
            "a ping datagram longer than IPv4 carries",
            ping,
            &[][..],
            vec![(
                InetDgram {
                    len: 65516,
                    ..reply
                },
                vec![0; 65516],
            )],
        ),
    ] {
        assert!(
            InetSockObj::decode(&record(bad, opts, &dgrams)).is_err(),
            "{what}"
        );
    }
    // The longest each may hold: an IPv4 raw packet counts its header.
    assert!(InetSockObj::decode(&record(
        raw,
        &[],
        &[(InetDgram { len: 65535, ..copy }, {
            let mut p = packet.clone();
            p.resize(65535, 0);
            p
        })]
    ))
    .is_ok());
    assert!(InetSockObj::decode(&record(
        ping,
        &[],
        &[(
            InetDgram {
                len: 65515,
                ..reply
            },
            vec![0; 65515]
        )]
    ))
    .is_ok());
}

#[test]
fn inet_connecting_is_a_bound_tcp_socket_with_a_peer() {
    let mut lo = [0u8; 16];
    lo[..4].copy_from_slice(&[127, 0, 0, 1]);
    let s = InetSockObj {
        id: 5,
        family: AF_INET,
        sock_type: INET_SOCK_STREAM,
        protocol: IPPROTO_TCP,
        flags: INET_BOUND | INET_PORT_PICKED | INET_CONNECTING,
        lport: 40000,
        rport: 7015,
        laddr: lo,
        raddr: lo,
        ..InetSockObj::default()
    };
    let p = s.encode();
    let (got, d) = InetSockObj::decode(&p).expect("a connect under way");
    assert!(got.flags & INET_CONNECTING != 0 && d.tcp.is_none());
    for bad in [
        InetSockObj { rport: 0, ..s },
        InetSockObj {
            flags: INET_CONNECTING,
            lport: 0,
            ..s
        },
        InetSockObj {
            flags: s.flags | INET_CONNECTED,
            ..s
        },
        InetSockObj { shutdown: 1, ..s },
        InetSockObj {
            sock_type: INET_SOCK_DGRAM,
            protocol: IPPROTO_UDP,
            ..s
        },
    ] {
        assert!(InetSockObj::decode(&bad.encode()).is_err(), "{bad:?}");
    }
}

#[test]
fn inet_pending_is_a_connection_that_sent_nothing() {
    let mut lo = [0u8; 16];
    lo[..4].copy_from_slice(&[127, 0, 0, 1]);
    let sock = InetSockObj {
        id: 7,
        family: AF_INET,
        sock_type: INET_SOCK_STREAM,
        protocol: IPPROTO_TCP,
        flags: INET_BOUND | INET_BOUND_ADDR | INET_CONNECTED,
        lport: 7013,
        rport: 40000,
        laddr: lo,
        raddr: lo,
        ..InetSockObj::default()
    };
    let conn = InetTcpConn {
        snd_una: 10,
        snd_nxt: 10,
        write_seq: 10,
        rcv_nxt: 105,
        copied_seq: 100,
        mss_clamp: 1460,
        ..InetTcpConn::default()
    };
    let rec = |p: InetPendingObj, s: InetSockObj, c: InetTcpConn, tail: &[u8]| {
        let mut v = p.encode().to_vec();
        v.extend_from_slice(&s.encode());
        v.extend_from_slice(&c.encode());
        v.extend_from_slice(tail);
        v
    };
    let ok = InetPendingObj { listener: 3 };
    let p = rec(ok, sock, conn, b"hello");
    let (u, s, d) = InetPendingObj::decode(&p).expect("a waiting connection");
    assert_eq!((u.listener, s.id), (3, 7));
    assert_eq!(d.tcp.expect("its state").2, &b"hello"[..]);
    // No listener; itself as its listener; bytes it sent; its FIN.
    let sent = InetTcpConn {
        write_seq: 12,
        snd_nxt: 12,
        ..conn
    };
    let fin = InetTcpConn {
        write_seq: 11,
        snd_nxt: 11,
        flags: TCP_CONN_FIN_OUT,
        ..conn
    };
    let shut = InetSockObj {
        shutdown: INET_SEND_SHUTDOWN,
        ..sock
    };
    for p in [
        rec(InetPendingObj { listener: 0 }, sock, conn, b"hello"),
        rec(InetPendingObj { listener: 7 }, sock, conn, b"hello"),
        rec(ok, sock, sent, b"abhello"),
        rec(ok, shut, fin, b"hello"),
    ] {
        assert!(InetPendingObj::decode(&p).is_err());
    }
    // Not a connection: a bound socket with no state after it.
    let bound = InetSockObj {
        flags: INET_BOUND,
        rport: 0,
        raddr: [0; 16],
        ..sock
    };
    let mut p = ok.encode().to_vec();
    p.extend_from_slice(&bound.encode());
    assert!(InetPendingObj::decode(&p).is_err());
}

/// A pty record: the fixed parts and the tails, from sides whose read
/// buffers are `reads` with line-end bitmaps `ends`.
fn pty_payload(obj: &PtyObj, sides: &[PtySide; 2], reads: [&[u8]; 2], ends: [&[u8]; 2]) -> Vec<u8> {
    let mut p = obj.encode().to_vec();
    for s in sides {
        p.extend_from_slice(&s.encode());
    }
    p.extend_from_slice(b"/dev/ptmx");
    for i in 0..2 {
        p.extend_from_slice(reads[i]);
        p.extend_from_slice(ends[i]);
    }
    p
}

#[test]
fn pty_records_hold_only_what_a_pty_can_hold() {
    let obj = PtyObj {
        id: 1,
        index: 0,
        flags: 0,
        pktstatus: 0,
        path_len: 9,
    };
    let mut sides = [PtySide::default(); 2];
    sides[1].lflag = 0o2;
    sides[1].read_len = 13;
    sides[1].canon = 9;
    let good = pty_payload(&obj, &sides, [b"", b"line one\npart"], [b"", &[0, 1]]);
    let (o, path, d) = PtyObj::decode(&good).expect("a queued line and a half");
    assert_eq!(
        (o, path, d[1].read, d[1].ends),
        (
            obj,
            &b"/dev/ptmx"[..],
            &b"line one\npart"[..],
            &[0u8, 1][..]
        )
    );
    let rejects = |p: Vec<u8>, what: &str| {
        assert!(
            matches!(PtyObj::decode(&p), Err(ErrorKind::BadField(..))),
            "{what} accepted"
        );
    };
    // A line end in the partial line, and complete lines without an end.
    rejects(
        pty_payload(&obj, &sides, [b"", b"line one\npart"], [b"", &[0, 3]]),
        "a line end past the complete lines",
    );
    rejects(
        pty_payload(&obj, &sides, [b"", b"line one\npart"], [b"", &[0x80, 0]]),
        "complete lines whose last byte ends none",
    );
    // Complete lines outside canonical mode.
    let mut raw = sides;
    raw[1].lflag = 0;
    rejects(
        pty_payload(&obj, &raw, [b"", b"line one\npart"], [b"", &[0, 1]]),
        "complete lines in raw mode",
    );
    // TCOOFF without output stopped; a packet status without packet mode.
    let mut tco = sides;
    tco[0].flags = TTY_TCO_STOPPED;
    rejects(
        pty_payload(&obj, &tco, [b"", b"line one\npart"], [b"", &[0, 1]]),
        "TCOOFF without a stop",
    );
    let status = PtyObj {
        pktstatus: 1,
        ..obj
    };
    rejects(
        pty_payload(&status, &sides, [b"", b"line one\npart"], [b"", &[0, 1]]),
        "a packet status without packet mode",
    );
    // A read buffer as large as the line discipline's.
    let mut full = sides;
    full[0].read_len = LDISC_BUF;
    let big = std::vec![b'x'; LDISC_BUF as usize];
    let bits = std::vec![0u8; LDISC_BUF as usize / 8];
    rejects(
        pty_payload(&obj, &full, [&big, b"line one\npart"], [&bits, &[0, 1]]),
        "a full read buffer",
    );
}

/// An inotify payload: the instance, then its watches and events.
fn inotify_payload(
    next_wd: i32,
    watches: &[(i32, u32, &[u8])],
    events: &[(i32, u32, u32, &[u8])],
) -> Vec<u8> {
    let mut w = Vec::new();
    for &(wd, mask, path) in watches {
        let rec = InotifyWatch {
            wd,
            mask,
            path_len: path.len() as u32,
        };
        w.extend_from_slice(&rec.encode());
        w.extend_from_slice(path);
    }
    let mut e = Vec::new();
    for &(wd, mask, cookie, name) in events {
        let rec = InotifyEvent {
            wd,
            mask,
            cookie,
            name_len: name.len() as u32,
        };
        e.extend_from_slice(&rec.encode());
        e.extend_from_slice(name);
    }
    let o = InotifyObj {
        id: 1,
        next_wd,
        nr_watches: watches.len() as u32,
        nr_events: events.len() as u32,
        watches_len: w.len() as u32,
    };
    let mut p = o.encode().to_vec();
    p.extend_from_slice(&w);
    p.extend_from_slice(&e);
    p
}

#[test]
fn namespace_files_name_a_kind_of_namespace() {
    assert_eq!(ns_kind(b"net:[4026531840]"), Some(&b"net"[..]));
    assert_eq!(ns_kind(b"uts:[1]"), Some(&b"uts"[..]));
    for bad in [
        &b"/proc/self/ns/net"[..],
        b"net:[]",
        b"net:[12a]",
        b"net:[1",
        b"bogus:[1]",
        b"pid_for_children:[1]",
        b":[1]",
    ] {
        assert_eq!(ns_kind(bad), None, "{:?}", String::from_utf8_lossy(bad));
    }
}

#[test]
fn inotify_records_hold_only_what_an_instance_can_hold() {
    let good = inotify_payload(
        3,
        &[(1, 0x100, b"/tmp"), (2, 0x2 | IN_ONESHOT, b"/etc/hosts")],
        &[
            (1, 0x100, 0, b"new"),
            (2, IN_IGNORED, 0, b""),
            (-1, IN_Q_OVERFLOW, 0, b""),
        ],
    );
    let (o, watches, events) = InotifyObj::decode(&good).expect("two watches, three events");
    assert_eq!((o.next_wd, o.nr_watches, o.nr_events), (3, 2, 3));
    let w: Vec<_> = InotifyObj::watches(watches).map(Result::unwrap).collect();
    assert_eq!(w[1].1, b"/etc/hosts");
    let e: Vec<_> = InotifyObj::events(events).map(Result::unwrap).collect();
    assert_eq!((e[0].0.wd, e[0].1), (1, &b"new"[..]));
    let rejects = |p: Vec<u8>, what: &str| {
        assert!(InotifyObj::decode(&p).is_err(), "{what} accepted");
    };
    rejects(inotify_payload(-1, &[], &[]), "a negative next descriptor");
    rejects(
        inotify_payload(3, &[(2, 0x100, b"/a"), (2, 0x100, b"/b")], &[]),
        "one descriptor twice",
    );
    rejects(
        inotify_payload(3, &[(0, 0x100, b"/a")], &[]),
        "descriptor 0",
    );
    assert!(
        InotifyObj::decode(&inotify_payload(3, &[(1, IN_ONESHOT, b"/a")], &[])).is_ok(),
        "a watch of no event, as IN_ONESHOT alone makes, refused"
    );
    rejects(
        inotify_payload(3, &[(1, 0x100 | 0x0100_0000, b"/a")], &[]),
        "IN_DONT_FOLLOW kept in a watch",
    );
    rejects(
        inotify_payload(3, &[(1, 0x100, b"tmp")], &[]),
        "a relative path",
    );
    rejects(
        inotify_payload(3, &[(1, 0x100, b"/t\0p")], &[]),
        "a NUL in a path",
    );
    rejects(
        inotify_payload(3, &[], &[(1, 0x100, 0, b"a/b")]),
        "a slash in a name",
    );
    rejects(
        inotify_payload(3, &[], &[(-1, 0x100, 0, b"")]),
        "descriptor -1 on an event other than the overflow",
    );
    rejects(
        inotify_payload(3, &[], &[(1, IN_Q_OVERFLOW, 0, b"")]),
        "an overflow with a descriptor",
    );
    rejects(
        inotify_payload(3, &[], &[(1, 0x0100_0000, 0, b"")]),
        "an event bit no event carries",
    );
    rejects(
        inotify_payload(3, &[], &[(1, 0x100, 0, &[b'x'; 256])]),
        "a name past NAME_MAX",
    );
    // Counts that disagree with what follows.
    let mut short = good.clone();
    short[8] = 3;
    rejects(short, "three watches counted, two present");
    let mut cut = good.clone();
    cut.truncate(cut.len() - 1);
    rejects(cut, "a truncated event");
}

/// An image of `tasks` with `header`, with `extra` records between the
/// forest rows and the tail.
fn encode_with(header: &Header, tasks: &[TaskEntry], extra: &[(RecordType, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    push(&mut out, RecordType::Header, &header.encode());
    let forest = ForestHead {
        nr_tasks: tasks.len() as u32,
        root_pid: tasks[0].pid,
    };
    push(&mut out, RecordType::Forest, &forest.encode());
    for t in tasks {
        push(&mut out, RecordType::Task, &t.encode());
    }
    for (k, p) in extra {
        push(&mut out, *k, p);
    }
    let tail = Tail {
        nr_records: 2 + (tasks.len() + extra.len()) as u32,
        bytes: out.len() as u64,
    };
    push(&mut out, RecordType::Tail, &tail.encode());
    out
}

#[test]
fn pod_record_only_opens_the_body_of_a_whole_namespace() {
    let mut pod = PodRec {
        flags: POD_NEWUTS,
        ..Default::default()
    };
    pod.nodename[..3].copy_from_slice(b"pod");
    let rec = (RecordType::Pod, pod.encode().to_vec());
    let mut whole = sample_header();
    whole.flags = 0;
    let tasks = sample_tasks();
    let img = encode_with(&whole, &tasks, core::slice::from_ref(&rec));
    let items = decode(&img).unwrap();
    let got = items.iter().find_map(|i| match i {
        Item::Pod(p) => Some(*p),
        _ => None,
    });
    assert_eq!(got, Some(pod));
    assert_eq!(got.unwrap().nodename_str(), "pod");
    // Not in an image of a subtree.
    assert!(matches!(
        decode(&encode_with(
            &sample_header(),
            &tasks,
            core::slice::from_ref(&rec)
        ))
        .unwrap_err()
        .kind,
        ErrorKind::BadField("pod record in an image of a subtree", 0)
    ));
    // Not twice, nor after an object.
    for extra in [
        std::vec![rec.clone(), rec.clone()],
        std::vec![
            (
                RecordType::Eventfd,
                EventfdObj {
                    id: 1,
                    ..Default::default()
                }
                .encode()
                .to_vec(),
            ),
            rec.clone(),
        ],
    ] {
        assert!(matches!(
            decode(&encode_with(&whole, &tasks, &extra))
                .unwrap_err()
                .kind,
            ErrorKind::Unexpected { .. }
        ));
    }
    // Names: NUL terminated, NUL padded, empty without a UTS namespace.
    let mut bad = pod;
    bad.nodename = [b'x'; UTS_LEN];
    assert!(PodRec::decode(&bad.encode()).is_err());
    let mut bad = pod;
    bad.nodename[5] = b'y';
    assert!(PodRec::decode(&bad.encode()).is_err());
    let mut bad = pod;
    bad.flags = POD_NEWIPC;
    assert!(PodRec::decode(&bad.encode()).is_err());
    let mut bad = pod;
    bad.flags = 8;
    assert!(PodRec::decode(&bad.encode()).is_err());
}

#[test]
fn sysv_segments_before_the_first_task_in_a_pod_or_not() {
    let seg = SysvShmObj {
        id: 1,
        shmid: 65536,
        key: 0x1234,
        mode: 0o640,
        size: 5000,
        ..Default::default()
    };
    let page = ShmemPagesHeader {
        id: 1,
        nr: 1,
        offset: PAGE_SIZE as u64,
    };
    let mut pages = page.encode().to_vec();
    pages.extend(std::vec![7u8; PAGE_SIZE]);
    let with = |flags: u32| {
        let mut v = pod_head(flags);
        v.push((RecordType::SysvShm, seg.encode().to_vec()));
        v.push((RecordType::ShmemPages, pages.clone()));
        v
    };
    let mut whole = sample_header();
    whole.flags = 0;
    let tasks = sample_tasks();
    let img = encode_with(&whole, &tasks, &with(POD_NEWIPC));
    let items = decode(&img).unwrap();
    assert!(items
        .iter()
        .any(|i| matches!(i, Item::SysvShm(o) if *o == seg)));
    assert_eq!(seg.pages_size(), 2 * PAGE_SIZE as u64);
    // Also in a pod that shares its IPC namespace, and without a pod: the
    // segments a tree attaches in its caller's namespace.
    let img = encode_with(&whole, &tasks, &with(0));
    assert!(decode(&img).is_ok());
    let mut sub = sample_header();
    sub.flags = CHECKPOINT_SUBTREE;
    let img = encode_with(&sub, &tasks, &with(POD_NEWIPC)[2..]);
    assert!(decode(&img).is_ok());
    // A removed segment has no key; pids are not negative.
    for bad in [
        SysvShmObj {
            mode: 0o600 | SHM_DEST,
            ..seg
        },
        SysvShmObj { cpid: -1, ..seg },
        SysvShmObj { size: 0, ..seg },
        SysvShmObj {
            mode: 0o2600,
            ..seg
        },
    ] {
        assert!(SysvShmObj::decode(&bad.encode()).is_err(), "{bad:?}");
    }
}

#[test]
fn pod_ipc_record_right_after_a_pod_with_its_own_ipc_namespace() {
    let pod = |flags| {
        (
            RecordType::Pod,
            PodRec {
                flags,
                ..Default::default()
            }
            .encode()
            .to_vec(),
        )
    };
    let ipc = PodIpcRec {
        shmmni: 100,
        msgmnb: 32768,
        sem: [250, 32000, 32, 128],
        ..Default::default()
    };
    let ipc_rec = (RecordType::PodIpc, ipc.encode().to_vec());
    let mut whole = sample_header();
    whole.flags = 0;
    let tasks = sample_tasks();
    let img = encode_with(&whole, &tasks, &[pod(POD_NEWIPC), ipc_rec.clone()]);
    let items = decode(&img).unwrap();
    assert!(items
        .iter()
        .any(|i| matches!(i, Item::PodIpc(r) if *r == ipc)));
    // Required after a pod with its own IPC namespace.
    assert!(matches!(
        decode(&encode_with(&whole, &tasks, &[pod(POD_NEWIPC)]))
            .unwrap_err()
            .kind,
        ErrorKind::BadField("pod without its pod-ipc record", 0)
    ));
    // Not without one, and nowhere else.
    assert!(decode(&encode_with(&whole, &tasks, &[pod(0), ipc_rec.clone()])).is_err());
    assert!(decode(&encode_with(
        &whole,
        &tasks,
        core::slice::from_ref(&ipc_rec)
    ))
    .is_err());
    // Out of the sysctls' bounds.
    for bad in [
        PodIpcRec {
            shm_rmid_forced: 2,
            ..ipc
        },
        PodIpcRec { msgmax: -1, ..ipc },
        PodIpcRec {
            sem: [0, 0, 0, -1],
            ..ipc
        },
        PodIpcRec {
            shmmni: MAX_IPC_MNI + 1,
            ..ipc
        },
        PodIpcRec {
            mq: [256, 0, 8192, 10, 8192],
            ..ipc
        },
        PodIpcRec {
            mq: [256, 10, 8192, 10, 127],
            ..ipc
        },
        PodIpcRec {
            next_id: [-1, -2, -1],
            ..ipc
        },
    ] {
        let img = encode_with(
            &whole,
            &tasks,
            &[pod(POD_NEWIPC), (RecordType::PodIpc, bad.encode().to_vec())],
        );
        assert!(decode(&img).is_err(), "{bad:?}");
    }
}

#[test]
fn pod_ipc_record_of_before_the_mqueue_sysctls_reads_their_defaults() {
    let ipc = PodIpcRec {
        shmmni: 100,
        mq: [1, 2, 300, 4, 500],
        next_id: [7, -1, 0],
        ..Default::default()
    };
    let enc = ipc.encode();
    assert_eq!(PodIpcRec::LEN, PodIpcRec::LEN_BEFORE_MQ - 4 + 8 * 4 + 4);
    // The old layout: the same fields, then 4 bytes of padding.
    let mut old_rec = enc[..PodIpcRec::LEN_BEFORE_MQ - 4].to_vec();
    old_rec.extend_from_slice(&[0; 4]);
    let old = PodIpcRec::decode(&old_rec).unwrap();
    assert_eq!(
        old,
        PodIpcRec {
            mq: MQ_SYSCTL_DEFAULTS,
            next_id: [-1; 3],
            ..ipc
        }
    );
    assert_eq!(PodIpcRec::decode(&enc).unwrap(), ipc);
    // With the fs.mqueue sysctls but not the next ids: read as unset.
    assert_eq!(
        PodIpcRec::decode(&enc[..PodIpcRec::LEN_BEFORE_NEXT_ID]).unwrap(),
        PodIpcRec {
            next_id: [-1; 3],
            ..ipc
        }
    );
    old_rec[PodIpcRec::LEN_BEFORE_MQ - 1] = 1;
    assert_eq!(
        PodIpcRec::decode(&old_rec).unwrap_err(),
        ErrorKind::BadPadding
    );
}

/// A posix-mq record's payload: the fixed part, the name padded, the
/// messages (priority, text).
/// The records that open a pod's body: the pod record with `flags`, and a
/// default `pod-ipc` record if it has its own IPC namespace.
fn pod_head(flags: u32) -> Vec<(RecordType, Vec<u8>)> {
    let pod = PodRec {
        flags,
        ..Default::default()
    };
    let mut v = std::vec![(RecordType::Pod, pod.encode().to_vec())];
    if flags & POD_NEWIPC != 0 {
        v.push((RecordType::PodIpc, PodIpcRec::default().encode().to_vec()));
    }
    v
}

fn mq_payload(o: &PosixMqObj, name: &[u8], msgs: &[(i64, &[u8])]) -> Vec<u8> {
    let mut v = o.encode().to_vec();
    v.extend_from_slice(name);
    v.resize(v.len().next_multiple_of(8), 0);
    for (prio, text) in msgs {
        let h = SysvMsgHead {
            mtype: *prio,
            len: text.len() as u32,
        };
        v.extend_from_slice(&h.encode());
        v.extend_from_slice(text);
        v.resize(v.len().next_multiple_of(8), 0);
    }
    v
}

#[test]
fn posix_message_queues_only_in_a_pod_with_its_own_ipc_namespace() {
    let q = PosixMqObj {
        id: 1,
        mode: 0o640,
        uid: 1000,
        gid: 1000,
        maxmsg: 10,
        msgsize: 64,
        curmsgs: 3,
        mtime: 1_700_000_000_000_000_000,
        name_len: 5,
        ..Default::default()
    };
    let msgs: [(i64, &[u8]); 3] = [(9, b"urgent"), (0, b"first"), (0, b"")];
    let payload = mq_payload(&q, b"queue", &msgs);
    let with = |flags: u32, payload: &Vec<u8>| {
        let mut v = pod_head(flags);
        v.push((RecordType::PosixMq, payload.clone()));
        v
    };
    let mut whole = sample_header();
    whole.flags = 0;
    let tasks = sample_tasks();
    let img = encode_with(&whole, &tasks, &with(POD_NEWIPC, &payload));
    let items = decode(&img).unwrap();
    let (o, name, body) = items
        .iter()
        .find_map(|i| match i {
            Item::PosixMq(o, n, m) => Some((*o, *n, *m)),
            _ => None,
        })
        .expect("the queue");
    assert_eq!((o, name), (q, &b"queue"[..]));
    let got: Vec<(i64, &[u8])> = PosixMqObj::messages(body)
        .map(|m| m.map(|(h, t)| (h.mtype, t)).unwrap())
        .collect();
    assert_eq!(got, msgs);
    // Not in a pod that shares its IPC namespace.
    assert!(matches!(
        decode(&encode_with(&whole, &tasks, &with(0, &payload)))
            .unwrap_err()
            .kind,
        ErrorKind::BadField("POSIX message queue outside a pod's own IPC namespace", 0)
    ));
    // An unlinked queue has the name it had; a name is one path
    // component.
    let unlinked = PosixMqObj {
        flags: MQ_UNLINKED,
        ..q
    };
    assert!(PosixMqObj::decode(&mq_payload(&unlinked, b"queue", &msgs)).is_ok());
    for (bad, name) in [
        (
            PosixMqObj {
                name_len: 0,
                ..unlinked
            },
            &b""[..],
        ),
        (PosixMqObj { name_len: 0, ..q }, &b""[..]),
        (PosixMqObj { name_len: 3, ..q }, &b"a/b"[..]),
        (PosixMqObj { name_len: 2, ..q }, &b".."[..]),
        (PosixMqObj { mode: 0o10644, ..q }, &b"queue"[..]),
        (PosixMqObj { maxmsg: 0, ..q }, &b"queue"[..]),
        (PosixMqObj { maxmsg: 2, ..q }, &b"queue"[..]),
        (PosixMqObj { msgsize: 5, ..q }, &b"queue"[..]),
        (PosixMqObj { curmsgs: 2, ..q }, &b"queue"[..]),
    ] {
        assert!(
            PosixMqObj::decode(&mq_payload(&bad, name, &msgs)).is_err(),
            "{bad:?}"
        );
    }
    // Priorities below MQ_PRIO_MAX; padding zero.
    assert!(PosixMqObj::decode(&mq_payload(
        &q,
        b"queue",
        &[(32768, b"x"), (0, b""), (0, b"")]
    ))
    .is_err());
    let mut p = payload.clone();
    p[PosixMqObj::LEN + 6] = 1;
    assert_eq!(PosixMqObj::decode(&p).unwrap_err(), ErrorKind::BadPadding);
}

#[test]
fn message_queue_notification_records() {
    let n = MqNotifyRec {
        fd: 4,
        how: SIGEV_SIGNAL,
        signo: 10,
        flags: 0,
        value: 0xdead_beef,
    };
    assert_eq!(MqNotifyRec::decode(&n.encode()), Ok(n));
    let none = MqNotifyRec {
        fd: 4,
        how: SIGEV_NONE,
        ..Default::default()
    };
    assert_eq!(MqNotifyRec::decode(&none.encode()), Ok(none));
    for bad in [
        MqNotifyRec {
            how: SIGEV_THREAD,
            ..n
        },
        MqNotifyRec { signo: 65, ..n },
        MqNotifyRec { flags: 2, ..n },
        MqNotifyRec { signo: 1, ..none },
        MqNotifyRec {
            flags: MQ_NOTIFY_STALE,
            ..none
        },
        MqNotifyRec {
            fd: FilesHeader::MAX_FDS,
            ..n
        },
    ] {
        assert!(MqNotifyRec::decode(&bad.encode()).is_err(), "{bad:?}");
    }
}

fn undo_payload(u: &SemUndoRec, adj: &[i16], pad: usize) -> Vec<u8> {
    let mut v = u.encode().to_vec();
    for a in adj {
        v.extend_from_slice(&a.to_le_bytes());
    }
    v.extend(std::iter::repeat_n(0u8, pad));
    v
}

#[test]
fn sem_undo_records_hold_one_adjustment_per_semaphore() {
    let u = SemUndoRec { semid: 0, nsems: 3 };
    let p = undo_payload(&u, &[-2, 0, 32767], 2);
    let (got, adj) = SemUndoRec::decode(&p).unwrap();
    assert_eq!(got, u);
    assert_eq!(
        SemUndoRec::adjustments(adj).collect::<Vec<_>>(),
        [-2, 0, 32767]
    );
    // Four adjustments fill 8 bytes: no padding.
    let four = SemUndoRec { semid: 7, nsems: 4 };
    assert!(SemUndoRec::decode(&undo_payload(&four, &[1, 2, 3, 4], 0)).is_ok());
    // Too few or too many bytes, padding not zero, no semaphores, a bad id.
    assert!(SemUndoRec::decode(&undo_payload(&u, &[1, 2], 0)).is_err());
    assert!(SemUndoRec::decode(&undo_payload(&u, &[1, 2, 3], 10)).is_err());
    let mut p = undo_payload(&u, &[1, 2, 3], 2);
    let last = p.len() - 1;
    p[last] = 1;
    assert_eq!(SemUndoRec::decode(&p).unwrap_err(), ErrorKind::BadPadding);
    for bad in [
        SemUndoRec { semid: 0, nsems: 0 },
        SemUndoRec {
            semid: -1,
            nsems: 3,
        },
        SemUndoRec {
            semid: 0,
            nsems: MAX_SEMS + 1,
        },
    ] {
        assert!(
            SemUndoRec::decode(&undo_payload(&bad, &[0; 3], 2)).is_err(),
            "{bad:?}"
        );
    }
}

#[test]
fn sem_undo_records_only_in_a_pod_with_its_own_ipc_namespace() {
    let u = SemUndoRec { semid: 0, nsems: 1 };
    // After the first process's fd records (a subtree image: no pod).
    let img = encode_full(|recs| {
        let at = recs
            .iter()
            .position(|(k, _)| *k == RecordType::Sighand)
            .expect("a sighand record");
        recs.insert(at, (RecordType::SemUndo, undo_payload(&u, &[5], 6)));
    });
    assert!(matches!(
        decode(&img).unwrap_err().kind,
        ErrorKind::BadField("SEM_UNDO adjustments outside a pod's own IPC namespace", 0)
    ));
}

#[test]
fn cgroup_paths_name_a_cgroup_below_the_job() {
    for good in [&b"/workers"[..], b"/a/b", b"/x.y/..z"] {
        assert_eq!(check_cgroup_path(good), Ok(()), "{good:?}");
    }
    let long = [b"/abcdefghijklmnopqrstuvwxyz0123456789".as_slice(); 120].concat();
    assert!(long.len() > MAX_CGROUP_PATH);
    let deep = [b'/', b'a'].repeat(MAX_CGROUP_DEPTH + 1);
    assert_eq!(
        check_cgroup_path(&[b'/', b'a'].repeat(MAX_CGROUP_DEPTH)),
        Ok(())
    );
    for bad in [
        &b""[..],
        b"/",
        b"a/b",
        b"/a//b",
        b"/a/",
        b"/a/../b",
        b"/./a",
        b"/a\0b",
        &long,
        &deep,
    ] {
        assert!(check_cgroup_path(bad).is_err(), "{bad:?}");
    }
}

fn tmpfs_payload(f: &TmpfsFileObj, path: &[u8], target: &[u8]) -> Vec<u8> {
    let f = TmpfsFileObj {
        path_len: path.len() as u32,
        target_len: target.len() as u32,
        ..*f
    };
    let mut v = f.encode().to_vec();
    v.extend_from_slice(path);
    v.extend_from_slice(target);
    v
}

#[test]
fn pod_mounts_and_their_files_only_in_a_pod_with_its_own_mount_namespace() {
    let mount = |id: u32, path: &[u8]| {
        let m = PodMountObj {
            id,
            flags: 0x2 | 0x4,
            size: 64 << 20,
            nr_inodes: 0,
            path_len: path.len() as u32,
        };
        let mut v = m.encode().to_vec();
        v.extend_from_slice(path);
        (RecordType::PodMount, v)
    };
    let dir = TmpfsFileObj {
        kind: TMPFS_DIR,
        mode: 0o1777,
        ..Default::default()
    };
    let reg = TmpfsFileObj {
        kind: TMPFS_REG,
        mode: 0o4755,
        uid: 1000,
        gid: 1000,
        size: 5000,
        mtime: 1_700_000_000,
        mtime_ns: 5,
        ..Default::default()
    };
    let file = |f: TmpfsFileObj, path: &[u8], target: &[u8]| {
        (RecordType::TmpfsFile, tmpfs_payload(&f, path, target))
    };
    let page = |id: u32| {
        let h = ShmemPagesHeader {
            id,
            nr: 1,
            offset: 4096,
        };
        let mut v = h.encode().to_vec();
        v.extend_from_slice(&[7u8; 4096]);
        (RecordType::ShmemPages, v)
    };
    let with = |flags: u32, recs: Vec<(RecordType, Vec<u8>)>| {
        let mut v = pod_head(flags);
        v.extend(recs);
        v
    };
    let mut whole = sample_header();
    whole.flags = 0;
    let tasks = sample_tasks();
    let good = std::vec![
        mount(1, b"/tmp"),
        file(TmpfsFileObj { id: 2, ..dir }, b"", b""),
        file(TmpfsFileObj { id: 3, ..dir }, b"d", b""),
        file(TmpfsFileObj { id: 4, ..reg }, b"d/f", b""),
        page(4),
        file(
            TmpfsFileObj {
                id: 5,
                kind: TMPFS_LINK,
                link: 4,
                ..reg
            },
            b"g",
            b""
        ),
        file(
            TmpfsFileObj {
                id: 6,
                kind: TMPFS_SYMLINK,
                size: 3,
                ..dir
            },
            b"l",
            b"d/f"
        ),
        mount(7, b"/dev/shm"),
        file(TmpfsFileObj { id: 8, ..dir }, b"", b""),
    ];
    let img = encode_with(&whole, &tasks, &with(POD_NEWNS, good.clone()));
    let items = decode(&img).unwrap();
    let got: Vec<(u32, &[u8], &[u8])> = items
        .iter()
        .filter_map(|i| match i {
            Item::TmpfsFile(f, p, t) => Some((f.kind, *p, *t)),
            _ => None,
        })
        .collect();
    assert_eq!(
        got,
        [
            (TMPFS_DIR, &b""[..], &b""[..]),
            (TMPFS_DIR, b"d", b""),
            (TMPFS_REG, b"d/f", b""),
            (TMPFS_LINK, b"g", b""),
            (TMPFS_SYMLINK, b"l", b"d/f"),
            (TMPFS_DIR, b"", b""),
        ]
    );
    let err = |recs: Vec<(RecordType, Vec<u8>)>, flags: u32| {
        decode(&encode_with(&whole, &tasks, &with(flags, recs)))
            .unwrap_err()
            .kind
    };
    // Not in a pod that shares its mount namespace.
    assert!(matches!(
        err(good.clone(), 0),
        ErrorKind::BadField("pod mount outside a pod's own mount namespace", 0)
    ));
    // Only the known mount points, each once.
    assert!(matches!(
        err(std::vec![mount(1, b"/etc")], POD_NEWNS),
        ErrorKind::BadField("pod mount point", 4)
    ));
    assert!(matches!(
        err(std::vec![mount(1, b"/tmp"), mount(2, b"/tmp")], POD_NEWNS),
        ErrorKind::BadField("pod mount point twice", 2)
    ));
    // The root directory first; paths are names below it.
    assert!(matches!(
        err(
            std::vec![
                mount(1, b"/tmp"),
                file(TmpfsFileObj { id: 2, ..reg }, b"f", b"")
            ],
            POD_NEWNS
        ),
        ErrorKind::BadField("tmpfs root directory", 2)
    ));
    for bad in [&b"../etc"[..], b"a//b", b"/a", b"a/", b"a/./b", b"a\0b"] {
        let bad: Vec<u8> = bad
            .iter()
            .map(|&c| if c == b'\\' { 0 } else { c })
            .collect();
        let mut recs = good.clone();
        recs[2] = file(TmpfsFileObj { id: 3, ..dir }, &bad, b"");
        assert!(
            matches!(
                err(recs, POD_NEWNS),
                ErrorKind::BadField("tmpfs file path", _)
            ),
            "{bad:?}"
        );
    }
    // Files only right after their mount.
    let mut recs = good.clone();
    recs.insert(2, (RecordType::Pod, PodRec::default().encode().to_vec()));
    assert!(decode(&encode_with(&whole, &tasks, &with(POD_NEWNS, recs))).is_err());
    // A link names a file before it; only symbolic links have targets.
    let mut recs = good.clone();
    recs[5] = file(
        TmpfsFileObj {
            id: 5,
            kind: TMPFS_LINK,
            link: 9,
            ..reg
        },
        b"g",
        b"",
    );
    assert!(matches!(
        err(recs, POD_NEWNS),
        ErrorKind::BadField("tmpfs link", 9)
    ));
    let mut recs = good.clone();
    recs[3] = file(TmpfsFileObj { id: 4, ..reg }, b"d/f", b"x");
    assert!(matches!(
        err(recs, POD_NEWNS),
        ErrorKind::BadField("tmpfs link target", 1)
    ));
    // Contents stay within the file's size.
    let mut recs = good.clone();
    recs[3] = file(
        TmpfsFileObj {
            id: 4,
            size: 10,
            ..reg
        },
        b"d/f",
        b"",
    );
    assert!(decode(&encode_with(&whole, &tasks, &with(POD_NEWNS, recs))).is_err());
}

#[test]
fn pod_net_record_after_the_pod_and_its_ipc_records() {
    let net = PodNetRec {
        lo_flags: LO_UP,
        lo_mtu: 65536,
        ping_gid_low: 0,
        ping_gid_high: 2147483647,
    };
    let recs = |flags: u32, with_net: bool, net: PodNetRec| {
        let mut v = pod_head(flags);
        if with_net {
            v.push((RecordType::PodNet, net.encode().to_vec()));
        }
        v
    };
    let mut whole = sample_header();
    whole.flags = 0;
    let tasks = sample_tasks();
    for flags in [POD_NEWNET, POD_NEWNET | POD_NEWIPC] {
        let img = encode_with(&whole, &tasks, &recs(flags, true, net));
        let items = decode(&img).unwrap();
        assert_eq!(
            items.iter().find_map(|i| match i {
                Item::PodNet(n) => Some(*n),
                _ => None,
            }),
            Some(net)
        );
        // A new namespace's range (none).
        let none = PodNetRec {
            ping_gid_low: 1,
            ping_gid_high: 0,
            ..net
        };
        assert!(decode(&encode_with(&whole, &tasks, &recs(flags, true, none))).is_ok());
        // Missing, or bad.
        assert!(matches!(
            decode(&encode_with(&whole, &tasks, &recs(flags, false, net)))
                .unwrap_err()
                .kind,
            ErrorKind::BadField("pod without its pod-net record", 0)
        ));
        for bad in [
            PodNetRec { lo_flags: 2, ..net },
            PodNetRec { lo_mtu: 0, ..net },
            PodNetRec {
                lo_mtu: 65537,
                ..net
            },
            // An empty range other than `1 0`, an invalid id.
            PodNetRec {
                ping_gid_low: 5,
                ping_gid_high: 4,
                ..net
            },
            PodNetRec {
                ping_gid_high: u32::MAX,
                ..net
            },
        ] {
            assert!(decode(&encode_with(&whole, &tasks, &recs(flags, true, bad))).is_err());
        }
    }
    // Not for a pod that shares its network namespace.
    assert!(decode(&encode_with(&whole, &tasks, &recs(POD_NEWIPC, true, net))).is_err());
}

/// A `packet-sock` payload: `s` with `opts`, a filter of `nr_filter`
/// instructions and `frames`.
fn packet_payload(
    s: PacketSockObj,
    opts: &[(u32, i64)],
    nr_filter: u32,
    frames: &[(PacketFrame, &[u8])],
) -> Vec<u8> {
    let bytes: usize = frames.iter().map(|(_, b)| b.len()).sum();
    let mut p = PacketSockObj {
        nr_opts: opts.len() as u32,
        nr_filter,
        nr_frames: frames.len() as u32,
        frame_bytes: bytes as u32,
        ..s
    }
    .encode()
    .to_vec();
    for &(opt, value) in opts {
        p.extend_from_slice(&InetOpt { opt, value }.encode());
    }
    for _ in 0..nr_filter {
        p.extend_from_slice(
            &InetFilterInsn {
                code: 6,
                jt: 0,
                jf: 0,
                k: 0xffff,
            }
            .encode(),
        );
    }
    for (f, _) in frames {
        p.extend_from_slice(&f.encode());
    }
    for (_, b) in frames {
        p.extend_from_slice(b);
    }
    p
}

#[test]
fn packet_sock_checks_its_kind_device_options_and_frames() {
    let mut lo = [0u8; INET_DEV_LEN];
    lo[..2].copy_from_slice(b"lo");
    let s = PacketSockObj {
        id: 9,
        sock_type: INET_SOCK_RAW,
        protocol: 3,
        flags: PACKET_RUNNING,
        ifindex: 1,
        tp_packets: 2,
        dev: lo,
        ..PacketSockObj::default()
    };
    let f = PacketFrame {
        len: 5,
        origlen: 60,
        protocol: 0x0800,
        ifindex: 1,
        hatype: 772,
        pkttype: 4,
        halen: 6,
        addr: [1, 2, 3, 4, 5, 6, 0, 0],
        net_off: 2,
        flags: PACKET_FRAME_CSUM_PARTIAL,
        csum_start: 1,
        csum_offset: 2,
        tstamp: 1,
        ..PacketFrame::default()
    };
    let g = PacketFrame {
        flags: PACKET_FRAME_CSUM_VALID | PACKET_FRAME_GSO_TCPV4,
        gso_size: 1000,
        csum_start: 0,
        csum_offset: 0,
        pkttype: 0,
        ..f
    };
    // SO_RCVBUF (2), PACKET_AUXDATA (99), PACKET_QDISC_BYPASS (108).
    let opts = [(2, 65536), (99, 1), (108, 1)];
    let p = packet_payload(s, &opts, 2, &[(f, b"hello"), (g, b"world")]);
    let (got, d) = PacketSockObj::decode(&p).expect("a valid packet socket");
    assert_eq!((got.id, got.dev_str()), (9, "lo"));
    assert_eq!(d.opts.iter().count(), 3);
    assert_eq!(d.filter_insns().count(), 2);
    let frames: Vec<_> = d.frames().collect();
    assert_eq!(frames, [(f, &b"hello"[..]), (g, &b"world"[..])]);
    // Never bound, no protocol: no device, not running.
    let idle = PacketSockObj {
        protocol: 0,
        flags: 0,
        ifindex: 0,
        dev: [0; INET_DEV_LEN],
        ..s
    };
    assert!(PacketSockObj::decode(&packet_payload(idle, &[], 0, &[])).is_ok());
    let bad_socks = [
        PacketSockObj { sock_type: 1, ..s },
        PacketSockObj {
            protocol: 0x1_0000,
            ..s
        },
        PacketSockObj { flags: 0, ..s },
        PacketSockObj {
            flags: 4 | PACKET_RUNNING,
            ..s
        },
        PacketSockObj { ifindex: 0, ..s },
        PacketSockObj {
            dev: [0; INET_DEV_LEN],
            ..s
        },
        PacketSockObj {
            dev: [b'x'; INET_DEV_LEN],
            ..s
        },
        PacketSockObj { protocol: 0, ..s },
    ];
    for bad in bad_socks {
        assert!(
            PacketSockObj::decode(&packet_payload(bad, &[], 0, &[])).is_err(),
            "{bad:?}"
        );
    }
    // Options a packet socket has not (IP_TOS 22, TCP_NODELAY 60), out of
    // order, or unknown.
    for opts in [
        &[(22, 1)][..],
        &[(60, 1)],
        &[(99, 1), (2, 4096)],
        &[(500, 1)],
    ] {
        assert!(
            PacketSockObj::decode(&packet_payload(s, opts, 0, &[])).is_err(),
            "{opts:?}"
        );
    }
    let bad_frames = [
        PacketFrame { origlen: 4, ..f },
        PacketFrame { halen: 9, ..f },
        PacketFrame {
            addr: [1, 2, 3, 4, 5, 6, 7, 0],
            ..f
        },
        PacketFrame { net_off: 6, ..f },
        PacketFrame { pkttype: 5, ..f },
        PacketFrame {
            protocol: 0x8100,
            ..f
        },
        PacketFrame {
            csum_offset: 3,
            ..f
        },
        PacketFrame {
            flags: PACKET_FRAME_CSUM_PARTIAL | PACKET_FRAME_CSUM_VALID,
            ..f
        },
        PacketFrame { flags: 0, ..f },
        PacketFrame {
            flags: PACKET_FRAME_GSO_TCPV4,
            csum_start: 0,
            csum_offset: 0,
            ..f
        },
        PacketFrame { gso_size: 0, ..g },
        PacketFrame {
            flags: g.flags | PACKET_FRAME_GSO_TCPV6,
            ..g
        },
        PacketFrame {
            flags: 16,
            csum_start: 0,
            csum_offset: 0,
            ..f
        },
        PacketFrame { tstamp: -1, ..f },
        PacketFrame {
            len: PACKET_MAX_FRAME + 1,
            origlen: u32::MAX,
            ..f
        },
    ];
    for bad in bad_frames {
        let p = packet_payload(s, &[], 0, &[(bad, b"hello")]);
        assert!(PacketSockObj::decode(&p).is_err(), "{bad:?}");
    }
    // Frame bytes that do not add up, and bytes left over.
    let mut p = packet_payload(s, &[], 0, &[(f, b"hello")]);
    p.push(0);
    assert!(PacketSockObj::decode(&p).is_err());
    let short = PacketFrame { len: 4, ..f };
    assert!(PacketSockObj::decode(&packet_payload(s, &[], 0, &[(short, b"hello")])).is_err());
}
