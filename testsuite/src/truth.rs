//! The ground truth: a process tree as /proc shows it.

use anyhow::{bail, Context, Result};
use std::cmp::Ordering;
use std::collections::{HashMap, VecDeque};
use std::fs;
use std::os::unix::fs::MetadataExt;
use testsuite::state::{partition, OpenFd, Task, TreeState};
use testsuite::RawRow;

/// Fields of /proc/TGID/task/TID/stat that the image carries.
struct Stat {
    comm: String,
    state: char,
    ppid: i32,
    pgid: i32,
    sid: i32,
    exit_signal: i32,
    exit_code: i32,
    tty_nr: i32,
    tpgid: i32,
}

fn parse_stat(text: &str) -> Result<Stat> {
    // "pid (comm) state ppid pgrp session ...": comm may hold spaces and
    // parentheses, so split at the first '(' and the last ')'.
    let open = text.find('(').context("no '(' in stat")?;
    let close = text.rfind(')').context("no ')' in stat")?;
    let comm = text.get(open + 1..close).context("bad comm")?.to_string();
    let rest: Vec<&str> = text
        .get(close + 1..)
        .unwrap_or("")
        .split_whitespace()
        .collect();
    // rest[0] is field 3 (state); field N is rest[N - 3]; exit_signal is
    // field 38, exit_code field 52.
    let field = |n: usize| -> Result<&str> {
        rest.get(n - 3)
            .copied()
            .with_context(|| format!("stat has no field {n}"))
    };
    Ok(Stat {
        comm,
        state: field(3)?.chars().next().unwrap_or('?'),
        ppid: field(4)?.parse()?,
        pgid: field(5)?.parse()?,
        sid: field(6)?.parse()?,
        exit_signal: field(38)?.parse()?,
        exit_code: field(52)?.parse()?,
        tty_nr: field(7)?.parse()?,
        tpgid: field(8)?.parse()?,
    })
}

fn read(path: &str) -> Result<String> {
    fs::read_to_string(path).with_context(|| format!("reading {path}"))
}

/// Every task of the tree rooted at process `root`: threads included, in
/// breadth-first order, as /proc shows it now.
pub fn read_tree(root: i32) -> Result<Vec<RawRow>> {
    Ok(read_tasks(root)?.into_iter().map(|t| t.row).collect())
}

/// The rows of a tree that is a whole pid namespace as the namespace sees
/// them (an image of it holds these pids: 0 for a pid outside it), and
/// the map from those pids back to this process's (`/proc`'s).
pub fn ns_view(rows: &[RawRow]) -> Result<(Vec<RawRow>, HashMap<i32, i32>)> {
    let mut to_ns = HashMap::new();
    for r in rows {
        let status = read(&format!("/proc/{}/task/{}/status", r.tgid, r.pid))?;
        let inner = status
            .lines()
            .find_map(|l| l.strip_prefix("NSpid:"))
            .and_then(|l| l.split_whitespace().last()?.parse::<i32>().ok())
            .with_context(|| format!("no NSpid line for task {}", r.pid))?;
        to_ns.insert(r.pid, inner);
    }
    let ns = |p: i32| to_ns.get(&p).copied().unwrap_or(0);
    let view = rows
        .iter()
        .map(|r| RawRow {
            pid: ns(r.pid),
            tgid: ns(r.tgid),
            ppid: ns(r.ppid),
            sid: ns(r.sid),
            pgid: ns(r.pgid),
            ..r.clone()
        })
        .collect();
    Ok((
        view,
        to_ns
            .into_iter()
            .map(|(host, inner)| (inner, host))
            .collect(),
    ))
}

/// [`read_tree`] with each task's state letter.
fn read_tasks(root: i32) -> Result<Vec<Task>> {
    let mut rows = Vec::new();
    let mut queue = VecDeque::from([root]);
    while let Some(tgid) = queue.pop_front() {
        let mut tids: Vec<i32> = fs::read_dir(format!("/proc/{tgid}/task"))
            .with_context(|| format!("listing threads of {tgid}"))?
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect();
        tids.sort_unstable();
        if tids.is_empty() {
            bail!("process {tgid} has no threads in /proc");
        }
        for tid in tids {
            let st = parse_stat(&read(&format!("/proc/{tgid}/task/{tid}/stat"))?)?;
            let zombie = st.state == 'Z';
            rows.push(Task {
                row: RawRow {
                    pid: tid,
                    tgid,
                    ppid: st.ppid,
                    sid: st.sid,
                    pgid: st.pgid,
                    thread: tid != tgid,
                    zombie,
                    exit_code: if zombie { st.exit_code } else { 0 },
                    comm: st.comm,
                },
                state: st.state,
                exit_signal: st.exit_signal,
                tty: (st.tty_nr, st.tpgid),
                tables: [0; 2],
            });
            let children = read(&format!("/proc/{tgid}/task/{tid}/children"))?;
            for c in children.split_whitespace() {
                queue.push_back(c.parse().with_context(|| format!("child pid {c:?}"))?);
            }
        }
    }
    Ok(rows)
}

/// The observable state of the tree rooted at `root` (see
/// [`testsuite::state`]): every task with its state letter, and every open
/// descriptor of every live process with which of them share one open
/// file, found with kcmp(2).
pub fn read_state(root: i32) -> Result<TreeState> {
    let tasks = read_tasks(root)?;
    let mut fds = Vec::new();
    for t in tasks.iter().filter(|t| !t.row.thread && !t.row.zombie) {
        read_fds(t.row.pid, &mut fds)?;
    }
    // Only descriptors of one object (device and inode) can share an open
    // file; kcmp orders the others.
    let classes = partition(
        fds.len(),
        |i| fds.get(i).map(|f| f.object),
        |i, j| match (fds.get(i), fds.get(j)) {
            (Some(a), Some(b)) => kcmp_file(a.pid, b.pid, a.fd, b.fd),
            _ => None,
        },
    );
    for (f, c) in fds.iter_mut().zip(classes) {
        f.file = c;
    }
    // Which tasks share an open file table or an fs context (a zombie
    // has neither: a class of its own).
    let mut tasks = tasks;
    for (k, kind) in [(0, KCMP_FILES), (1, KCMP_FS)] {
        let classes = partition(
            tasks.len(),
            |_| (),
            |i, j| match (tasks.get(i), tasks.get(j)) {
                (Some(a), Some(b)) if !a.row.zombie && !b.row.zombie => {
                    kcmp(a.row.pid, b.row.pid, kind, 0, 0)
                }
                _ => None,
            },
        );
        for (t, c) in tasks.iter_mut().zip(classes) {
            if let Some(slot) = t.tables.get_mut(k) {
                *slot = c;
            }
        }
    }
    Ok(TreeState { tasks, fds })
}

/// What /proc shows of one process that a restart must give back, one
/// line per fact: every line of /proc/PID/maps, the credential (groups
/// included), umask and
/// signal lines of /proc/PID/status (blocked, ignored, caught and pending
/// signals), the working and root directory, and every descriptor's
/// target, flags and offset (/proc/PID/fdinfo).
pub fn process_view(pid: i32) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for l in read(&format!("/proc/{pid}/maps"))?.lines() {
        let mut words: Vec<&str> = l.split_whitespace().collect();
        // Shared memory (a memfd, MAP_SHARED|MAP_ANONYMOUS) is a new
        // shmem inode after a restart: its number is not compared.
        if l.ends_with(" (deleted)") {
            if let Some(ino) = words.get_mut(4) {
                *ino = "-";
            }
        }
        out.push(format!("maps {}", words.join(" ")));
    }
    const STATUS: [&str; 17] = [
        "Umask:",
        "Uid:",
        "Gid:",
        "Groups:",
        "Threads:",
        "SigPnd:",
        "ShdPnd:",
        "SigBlk:",
        "SigIgn:",
        "SigCgt:",
        "NoNewPrivs:",
        "Seccomp:",
        "CapInh:",
        "CapPrm:",
        "CapEff:",
        "CapBnd:",
        "CapAmb:",
    ];
    for l in read(&format!("/proc/{pid}/status"))?.lines() {
        if STATUS.iter().any(|s| l.starts_with(s)) {
            out.push(format!(
                "status {}",
                l.split_whitespace().collect::<Vec<_>>().join(" ")
            ));
        }
    }
    // The auxiliary vector, arguments and environment as /proc reads
    // them from the process (auxv as type=value pairs).
    if let Ok(aux) = fs::read(format!("/proc/{pid}/auxv")) {
        let words: Vec<u64> = aux
            .chunks_exact(8)
            .map(|w| u64::from_le_bytes(w.try_into().unwrap_or([0; 8])))
            .collect();
        let pairs: Vec<String> = words
            .chunks_exact(2)
            .take_while(|p| p[0] != 0)
            .map(|p| format!("{}={:#x}", p[0], p[1]))
            .collect();
        out.push(format!("auxv {}", pairs.join(" ")));
    }
    for f in ["cmdline", "environ"] {
        if let Ok(b) = fs::read(format!("/proc/{pid}/{f}")) {
            out.push(format!(
                "{f} {}",
                String::from_utf8_lossy(&b).replace('\0', " ")
            ));
        }
    }
    // POSIX timers: id, signal and value, notification and its pid,
    // clock; one line each.
    let timers = fs::read_to_string(format!("/proc/{pid}/timers")).unwrap_or_default();
    for l in timers.lines() {
        match out.last_mut() {
            Some(t) if t.starts_with("timer ") && !l.starts_with("ID: ") => {
                t.push_str(" | ");
                t.push_str(l.trim());
            }
            _ if l.starts_with("ID: ") => out.push(format!("timer {}", l.trim())),
            _ => {}
        }
    }
    for link in ["cwd", "root"] {
        let path = format!("/proc/{pid}/{link}");
        let target = fs::read_link(&path).with_context(|| format!("reading the link {path}"))?;
        out.push(format!("{link} {}", target.display()));
    }
    let mut fds = Vec::new();
    read_fds(pid, &mut fds)?;
    // A restarted pipe or socket is a new one: name them by order of
    // appearance, so that which descriptors share one is what is compared.
    let mut pipes: Vec<String> = Vec::new();
    let mut socks: Vec<String> = Vec::new();
    let label = |seen: &mut Vec<String>, target: &str, kind: &str| {
        let i = seen.iter().position(|p| p == target).unwrap_or_else(|| {
            seen.push(target.to_owned());
            seen.len() - 1
        });
        format!("{kind}#{}", i + 1)
    };
    // Unix sockets as /proc/PID/net/unix lists them: flags (listening),
    // type, state and address by inode (the reference count and the slot
    // address vary).
    let unix: Vec<(String, String)> = fs::read_to_string(format!("/proc/{pid}/net/unix"))
        .unwrap_or_default()
        .lines()
        .skip(1)
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let ino = w.get(6)?;
            Some((
                format!("socket:[{ino}]"),
                format!(
                    "unix flags {} type {} st {}{}",
                    w.get(3)?,
                    w.get(4)?,
                    w.get(5)?,
                    w.get(7).map(|p| format!(" {p}")).unwrap_or_default()
                ),
            ))
        })
        .collect();
    for f in fds {
        let mut kind_state = f.kind_state;
        let target = if f.target.starts_with("pipe:[") {
            label(&mut pipes, &f.target, "pipe")
        } else if f.target.starts_with("socket:[") {
            if let Some((_, s)) = unix.iter().find(|(t, _)| *t == f.target) {
                kind_state = s.clone();
            }
            label(&mut socks, &f.target, "socket")
        } else {
            without_tmpfile_inode(&f.target)
        };
        let state = if kind_state.is_empty() {
            String::new()
        } else {
            format!(" ({kind_state})")
        };
        out.push(format!(
            "fd {} {target} flags {} pos {}{state}",
            f.fd, f.flags, f.pos
        ));
    }
    Ok(out)
}

/// `target` with the inode number an `O_TMPFILE` file shows as its name
/// (`/dir/#123 (deleted)`) left out: a restart makes a new inode.
fn without_tmpfile_inode(target: &str) -> String {
    let Some(rest) = target.strip_suffix(" (deleted)") else {
        return target.to_string();
    };
    match rest.rsplit_once("/#") {
        Some((dir, ino)) if !ino.is_empty() && ino.bytes().all(|b| b.is_ascii_digit()) => {
            format!("{dir}/#- (deleted)")
        }
        _ => target.to_string(),
    }
}

/// kcmp(2) types: an open file, an open file table, an fs context.
const KCMP_FILE: nix::libc::c_long = 0;
const KCMP_FILES: nix::libc::c_long = 2;
const KCMP_FS: nix::libc::c_long = 3;

/// kcmp(2) `KCMP_FILE`: how the open files behind `fd1` of `pid1` and
/// `fd2` of `pid2` compare (equal: one open file), `None` on an error.
fn kcmp_file(pid1: i32, pid2: i32, fd1: i32, fd2: i32) -> Option<Ordering> {
    kcmp(pid1, pid2, KCMP_FILE, fd1, fd2)
}

/// kcmp(2) of `kind` between `pid1` and `pid2` (with `a` and `b` for a
/// kind that takes them): equal, or their order; `None` on an error.
fn kcmp(pid1: i32, pid2: i32, kind: nix::libc::c_long, a: i32, b: i32) -> Option<Ordering> {
    // SAFETY: kcmp only compares kernel objects; no memory is passed.
    let r = unsafe {
        nix::libc::syscall(
            nix::libc::SYS_kcmp,
            pid1 as nix::libc::c_long,
            pid2 as nix::libc::c_long,
            kind,
            a as nix::libc::c_long,
            b as nix::libc::c_long,
        )
    };
    match r {
        0 => Some(Ordering::Equal),
        1 => Some(Ordering::Less),
        2 => Some(Ordering::Greater),
        _ => None,
    }
}

/// Appends the open descriptors of process `pid` to `out` (its file
/// class left 0): target, flags and position from /proc/PID/fdinfo, and
/// the target's device and inode.
fn read_fds(pid: i32, out: &mut Vec<OpenFd>) -> Result<()> {
    let dir = format!("/proc/{pid}/fd");
    let mut nums: Vec<i32> = fs::read_dir(&dir)
        .with_context(|| format!("listing {dir}"))?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    nums.sort_unstable();
    for fd in nums {
        let link = format!("{dir}/{fd}");
        let target = fs::read_link(&link)
            .with_context(|| format!("reading the link {link}"))?
            .to_string_lossy()
            .into_owned();
        let info = read(&format!("/proc/{pid}/fdinfo/{fd}"))?;
        let field = |name: &str| {
            info.lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| v.trim().to_string())
                .with_context(|| format!("no {name:?} in /proc/{pid}/fdinfo/{fd}"))
        };
        let pos = field("pos:")?
            .parse()
            .with_context(|| format!("pos of /proc/{pid}/fdinfo/{fd}"))?;
        let flags = field("flags:")?;
        // What the kind's own fdinfo lines say (the ids they show are
        // allocated anew at restart and left out, as are the inodes an
        // inotify watch shows). An epoll set's items
        // ("tfd:") lose the inode and device of the watched file, which
        // can be new (a pipe), and are sorted: the set orders them by the
        // address of the watched file.
        let mut kind_state = info
            .lines()
            .filter(|l| {
                [
                    "eventfd-count:",
                    "eventfd-semaphore:",
                    "sigmask:",
                    "clockid:",
                    "settime flags:",
                    "it_interval:",
                    "tfd:",
                    "lock:",
                    "tty-index:",
                    "Pid:",
                    "inotify wd:",
                ]
                .iter()
                .any(|k| l.starts_with(k))
            })
            .map(|l| {
                // An inotify watch: its descriptor and masks; the watched
                // inode's number and handle vary from boot to boot (the
                // workload compares them itself).
                if l.starts_with("inotify ") {
                    return l
                        .split_whitespace()
                        .filter(|w| {
                            !w.starts_with("ino:")
                                && !w.starts_with("sdev:")
                                && !w.starts_with("fhandle-")
                                && !w.starts_with("f_handle:")
                        })
                        .collect::<Vec<_>>()
                        .join(" ");
                }
                // A lock line's first number is its place in the list of
                // all locks, which other processes' locks move.
                let skip = usize::from(l.starts_with("lock:"));
                let mut words: Vec<&str> = l
                    .split_whitespace()
                    .take_while(|w| !w.starts_with("ino:"))
                    .collect();
                if skip == 1 && words.len() > 1 {
                    words.remove(1);
                }
                words.join(" ")
            })
            .collect::<Vec<_>>();
        kind_state.sort();
        let kind_state = kind_state.join(", ");
        let meta = fs::metadata(&link).with_context(|| format!("stat of {link}"))?;
        out.push(OpenFd {
            pid,
            fd,
            target,
            flags,
            pos,
            object: (meta.dev(), meta.ino()),
            file: 0,
            kind_state,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_odd_comm() {
        let mut s = String::from("42 (a (b) c) S 1 42 42 0 -1");
        for i in 9..=52 {
            let v = match i {
                38 => 17,
                52 => 1792,
                _ => 0,
            };
            s.push_str(&format!(" {v}"));
        }
        let st = parse_stat(&s).unwrap();
        assert_eq!(st.comm, "a (b) c");
        assert_eq!(
            (
                st.state,
                st.ppid,
                st.pgid,
                st.sid,
                st.exit_signal,
                st.exit_code
            ),
            ('S', 1, 42, 42, 17, 1792)
        );
    }
}

/// How the threads of `pid` are scheduled as /proc shows it: each
/// thread's nice value, real-time priority and policy (`stat`) and CPUs
/// (`status`), in thread order, and the process's `oom_score_adj` and
/// `THP_enabled`.
pub fn sched_view(pid: i32) -> Result<Vec<String>> {
    let mut tids: Vec<i32> = fs::read_dir(format!("/proc/{pid}/task"))?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    tids.sort_unstable();
    let mut out = Vec::new();
    for (i, tid) in tids.iter().enumerate() {
        let stat = read(&format!("/proc/{pid}/task/{tid}/stat"))?;
        // Fields after the command name: state is 3; nice 19, rt_priority
        // 40, policy 41.
        let after: Vec<&str> = stat
            .rsplit_once(')')
            .map_or("", |(_, r)| r)
            .split_whitespace()
            .collect();
        let field = |n: usize| after.get(n - 3).copied().unwrap_or("?");
        let cpus = read(&format!("/proc/{pid}/task/{tid}/status"))?
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .unwrap_or("?")
            .trim()
            .to_owned();
        out.push(format!(
            "thread {i}: nice {} rt_priority {} policy {} cpus {cpus}",
            field(19),
            field(40),
            field(41)
        ));
    }
    out.push(format!(
        "oom_score_adj {}",
        read(&format!("/proc/{pid}/oom_score_adj"))?.trim()
    ));
    if let Some(l) = read(&format!("/proc/{pid}/status"))?
        .lines()
        .find(|l| l.starts_with("THP_enabled:"))
    {
        out.push(l.split_whitespace().collect::<Vec<_>>().join(" "));
    }
    Ok(out)
}

/// Each mapping of `pid` with its `VmFlags` (`/proc/PID/smaps`), as
/// `START-END flags`, but for two that are not carried: `sd` (soft-dirty
/// marks mappings made since the last `clear_refs`: every restored one is
/// new) and `ac` of a mapping that is not writable (the commit charge of
/// a mapping made read-only or inaccessible with mprotect(2) is taken
/// again only if it becomes writable).
pub fn vm_flags(pid: i32) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut range = String::new();
    for l in read(&format!("/proc/{pid}/smaps"))?.lines() {
        if let Some(flags) = l.strip_prefix("VmFlags:") {
            let flags: Vec<&str> = flags.split_whitespace().collect();
            let writable = flags.contains(&"wr");
            let kept: Vec<&str> = flags
                .into_iter()
                .filter(|f| *f != "sd" && (writable || *f != "ac"))
                .collect();
            out.push(format!("{range} {}", kept.join(" ")));
        } else if l
            .split_whitespace()
            .next()
            .is_some_and(|w| w.contains('-') && !w.ends_with(':'))
        {
            range = l.split_whitespace().next().unwrap_or("").to_owned();
        }
    }
    Ok(out)
}

/// Memory of a process or of one of its mappings, as /proc/PID/smaps and
/// smaps_rollup count it: Rss, Pss, Shared_* and Private_*, in kB.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Memory {
    pub rss: u64,
    pub pss: u64,
    pub shared: u64,
    pub private: u64,
}

impl Memory {
    /// Counts one `Key: N kB` line of smaps; other lines are left out.
    fn add(&mut self, line: &str) {
        let mut f = line.split_whitespace();
        let (Some(key), Some(kb)) = (f.next(), f.next().and_then(|v| v.parse::<u64>().ok())) else {
            return;
        };
        match key {
            "Rss:" => self.rss += kb,
            "Pss:" => self.pss += kb,
            "Shared_Clean:" | "Shared_Dirty:" => self.shared += kb,
            "Private_Clean:" | "Private_Dirty:" => self.private += kb,
            _ => {}
        }
    }
}

/// The memory of process `pid` (/proc/PID/smaps_rollup), if it is there.
pub fn rollup(pid: i32) -> Option<Memory> {
    let text = fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    let mut m = Memory::default();
    text.lines().for_each(|l| m.add(l));
    Some(m)
}

/// The memory of the mapping of process `pid` that starts at `start`
/// (/proc/PID/smaps); all zero if it has none there.
pub fn mapping(pid: i32, start: usize) -> Result<Memory> {
    let smaps = fs::read_to_string(format!("/proc/{pid}/smaps"))
        .with_context(|| format!("reading /proc/{pid}/smaps"))?;
    let head = format!("{start:x}-");
    let mut m = Memory::default();
    let mut inside = false;
    for line in smaps.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if first.contains('-') && !first.ends_with(':') {
            inside = line.starts_with(&head);
        } else if inside {
            m.add(line);
        }
    }
    Ok(m)
}
