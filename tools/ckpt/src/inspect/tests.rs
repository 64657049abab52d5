// SPDX-License-Identifier: GPL-2.0
//! Tests of `inspect::parse` and `inspect::table` on images built with the
//! format crate's encoders.

use super::*;
use ckpt_image::{
    padding, record_header, ForestHead, RecordType, Tail, ARCH_X86_64, COMM_LEN, IMAGE_VERSION,
    RELEASE_LEN, TASK_THREAD, TASK_ZOMBIE,
};
use serde_json::{json, Value};

fn push(out: &mut Vec<u8>, kind: RecordType, payload: &[u8]) {
    out.extend_from_slice(&record_header(kind, payload.len() as u32));
    out.extend_from_slice(payload);
    out.resize(out.len() + padding(payload.len()), 0);
}

fn task(pid: i32, tgid: i32, ppid: i32, flags: u32, exit_code: i32, comm: &[u8]) -> TaskEntry {
    let mut name = [0u8; COMM_LEN];
    name[..comm.len()].copy_from_slice(comm);
    TaskEntry {
        pid,
        tgid,
        ppid,
        sid: 100,
        pgid: 100,
        flags,
        exit_code,
        exit_signal: if flags & TASK_THREAD != 0 { -1 } else { 17 },
        comm: name,
    }
}

/// root(100) ─ thread 101, child 102 ─ grandchild 104; zombie child 103.
fn sample_tasks() -> Vec<TaskEntry> {
    vec![
        task(100, 100, 1, TASK_ROOT, 0, b"sh"),
        task(101, 100, 1, TASK_THREAD, 0, b"sh-worker"),
        task(102, 102, 100, 0, 0, b"sleep"),
        task(103, 103, 100, TASK_ZOMBIE, 7 << 8, b"false"),
        task(104, 104, 102, 0, 0, b"cat\xff"),
    ]
}

fn image(tasks: &[TaskEntry]) -> Vec<u8> {
    let mut release = [0u8; RELEASE_LEN];
    release[..8].copy_from_slice(b"6.12.117");
    let header = Header {
        version: IMAGE_VERSION,
        arch: ARCH_X86_64,
        flags: CHECKPOINT_SUBTREE,
        release,
    };
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

#[test]
fn parse_gives_every_field() {
    let buf = image(&sample_tasks());
    let img = parse(&buf).expect("valid image");
    let v = serde_json::to_value(&img).expect("serialisable");
    assert_eq!(
        v["header"],
        json!({"version": ckpt_image::IMAGE_VERSION, "arch": "x86_64", "flags": 1, "release": "6.12.117"})
    );
    assert_eq!(v["root_pid"], 100);
    assert_eq!(v["bytes"], buf.len() as u64);
    assert_eq!(v["records"], 8);
    let tasks = v["tasks"].as_array().expect("task array");
    assert_eq!(tasks.len(), 5);
    assert_eq!(
        tasks[0],
        json!({
            "pid": 100, "tgid": 100, "ppid": 1, "sid": 100, "pgid": 100,
            "thread": false, "zombie": false, "root": true,
            "exit_code": 0, "exit_signal": 17, "comm": "sh"
        })
    );
    assert_eq!(tasks[1]["thread"], true);
    assert_eq!(tasks[1]["exit_signal"], -1);
    assert_eq!(tasks[3]["zombie"], true);
    assert_eq!(tasks[3]["exit_code"], 7 << 8);
    assert_eq!(tasks[4]["comm"], "cat\u{fffd}");
    let roots = tasks
        .iter()
        .filter(|t| t["root"] == Value::Bool(true))
        .count();
    assert_eq!(roots, 1);
}

#[test]
fn parse_reports_decode_errors() {
    let buf = image(&sample_tasks());
    let err = parse(&buf[..buf.len() - 8]).expect_err("cut image");
    assert_eq!(err.kind, ErrorKind::Truncated);
    assert!(parse(&[]).is_err());

    let mut bad = buf.clone();
    bad[8] ^= 1; // header magic
    let err = parse(&bad).expect_err("bad magic");
    assert_eq!(err.kind, ErrorKind::BadMagic);
    assert!(
        err.to_string()
            .starts_with("record #0 (header) at offset 0: "),
        "{err}"
    );
}

#[test]
fn table_is_a_tree() {
    let img = parse(&image(&sample_tasks())).expect("valid image");
    let text = table(&img);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].contains("kernel 6.12.117"), "{text}");
    assert!(
        lines[0].contains(&format!("format version {}", ckpt_image::IMAGE_VERSION)),
        "{text}"
    );
    assert!(lines[1].contains("5 tasks"), "{text}");
    assert!(lines[1].contains("root pid 100"), "{text}");
    let rows = &lines[3..];
    assert!(rows[0].trim_start().starts_with("PID"), "{text}");
    let cells: Vec<Vec<&str>> = rows[1..]
        .iter()
        .map(|r| r.split_whitespace().collect())
        .collect();
    let pids: Vec<&str> = cells.iter().map(|c| c[0]).collect();
    assert_eq!(pids, ["100", "101", "102", "104", "103"], "{text}");
    assert_eq!(cells[0][5..], ["leader", "sh"]);
    assert_eq!(cells[1][5..], ["thread", "\\_", "sh-worker"]);
    assert_eq!(cells[3][5..], ["leader", "\\_", "cat\u{fffd}"]);
    assert_eq!(cells[4][5..], ["zombie(exit", "7)", "\\_", "false"]);
    // The grandchild is indented one level deeper than its parent.
    let indent = |row: &str, comm: &str| row.find(comm).expect("comm in row");
    assert_eq!(indent(rows[4], "cat") - indent(rows[3], "sleep"), 4);
    // Columns line up: the right-aligned PID column ends at the same place
    // in every row, the header's included.
    let pid_end =
        |row: &str| row.len() - row.trim_start().len() + row.trim_start().find(' ').unwrap_or(0);
    assert!(
        rows.iter().all(|r| pid_end(r) == pid_end(rows[0])),
        "{text}"
    );
}

#[test]
fn table_survives_odd_forests() {
    // A thread whose leader is missing and two processes that are each
    // other's parent: every row still shows up exactly once.
    let tasks = vec![
        task(10, 10, 11, TASK_ROOT, 0, b"a"),
        task(11, 11, 10, 0, 0, b"b"),
        task(12, 99, 0, TASK_THREAD, 0, b"lost"),
        task(13, 13, 13, TASK_ZOMBIE, 9, b"self"),
    ];
    let img = parse(&image(&tasks)).expect("valid image");
    let text = table(&img);
    for pid in ["10", "11", "12", "13"] {
        let n = text
            .lines()
            .filter(|l| l.split_whitespace().next() == Some(pid))
            .count();
        assert_eq!(n, 1, "pid {pid} in\n{text}");
    }
    assert!(text.contains("zombie(signal 9)"), "{text}");
}

#[test]
fn every_object_kind_shows() {
    // The fuzzer's first seed holds every record type: one task with a
    // file, a pipe, an eventfd, a signalfd, a FIFO, a timerfd and an epoll
    // set watching the timerfd and the signalfd, and a unix socket pair.
    let seed = &ckpt_image_fuzz::seeds::seeds()[0];
    let (mut bytes, mut offsets) = (Vec::new(), Vec::new());
    ckpt_image_fuzz::serialize(&seed.recs, &mut bytes, &mut offsets);
    let img = parse(&bytes).expect("the seed is a valid image");
    assert_eq!(img.eventfds.len(), 1);
    assert_eq!(img.signalfds.len(), 1);
    assert_eq!(img.fifos.len(), 1);
    assert_eq!(img.timerfds.len(), 1);
    assert_eq!(img.epolls.len(), 1);
    let text = table(&img);
    for shown in [
        "(count 3, semaphore)",
        "(signals 0x200)",
        "/tmp/fifo (6 of 65536 bytes in flight)",
        "(clock 1, next in 250000000 ns, every 500000000 ns, 2 unread)",
        "(watches #14 as fd 12 events 80000001, #10 as fd 40 events 19 ready)",
        "(stream pair #17 end 0: 2 messages, 5 bytes queued, 2 descriptors in flight (#2, #4), shut down rd)",
        "(stream pair #17 end 1: 0 messages, 0 bytes queued, shut down wr)",
        "(dgram /dev/log, 1 messages, 4 bytes queued)",
        "lock: posix write bytes 100..EOF on #2",
        "lock: flock read on #2",
        "lock: lease read on #2",
        "(5000 bytes, 1 pages saved, seals 9)",
        "(pts/3 master, 40x132 canonical, packet, 12 bytes to read)",
        "(pts/3 slave, 40x132 canonical, packet, 13 bytes to read)",
        "controlling terminal: pts/3, foreground group 102",
        "umask 022 (shared with process 100)",
        "/tmp/scratch (deleted) (5000 bytes, 1 pages saved)",
        "anon_inode:[pidfd] (pid 100)",
        "socket:[103] (stream /run/srv, listening, backlog 16, 1 waiting to be accepted, 0 messages, 0 bytes queued)",
        "socket:[104] (stream client of /run/srv not accepted yet, 1 messages, 5 bytes sent)",
        "anon_inode:inotify (watches 1 /tmp mask fff, 3 /etc/hosts mask 80000002; 3 events queued, overflow) [O_ASYNC through fd 6, owner process 100, signal 35]",
    ] {
        assert!(text.contains(shown), "{shown:?} not in\n{text}");
    }
    for kind in [
        "eventfd", "signalfd", "fifo", "timerfd", "epoll", "unix", "memfd", "pty", "deleted",
        "pidfd", "inotify",
    ] {
        assert!(
            text.lines().any(|l| l.contains(&format!(": {kind}"))),
            "no {kind} descriptor in\n{text}"
        );
    }
    let json = serde_json::to_value(&img).expect("serializes");
    assert_eq!(json["eventfds"][0]["count"], 3);
    assert_eq!(json["timerfds"][0]["ticks"], 2);
    assert_eq!(json["epolls"][0]["items"][1]["fd"], 40);
    assert_eq!(json["epolls"][0]["items"][1]["ready"], true);
    assert_eq!(json["unix_pairs"][0]["type"], "stream");
    assert_eq!(json["unix_pairs"][0]["ends"][0]["passcred"], true);
    assert_eq!(json["unix_sockets"][0]["name"], "/dev/log");
    assert_eq!(json["unix_sockets"][0]["bound"], true);
    assert_eq!(json["inotify"][0]["watches"][1]["path"], "/etc/hosts");
    assert_eq!(json["inotify"][0]["events"], 3);
}
