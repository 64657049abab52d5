//! The observable state of a process tree, as /proc shows it, and how two
//! readings of it compare.
//!
//! The tree restart scenarios read the state of a tree while it is frozen
//! for the checkpoint and again once `ckpt restart` has recreated it:
//! every task with its ids, its state letter and its threads, every open
//! file descriptor with its target, flags and position, and which
//! descriptors share one open file across the whole tree (kcmp(2)). A
//! restart recreates every task with its saved pid, so the two readings
//! are compared pid by pid and field by field; only the root's parent may
//! differ (the `ckpt restart` process after the restart), and the
//! scenarios check that one on its own.
//!
//! Pids stay raw here. For results that compare across runs they are
//! printed through [`Names`], and open files and pipes through labels
//! numbered in naming order (`f1`, `pipe#1`, …), never by inode.

use crate::{Namer, RawRow};
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};

/// One task: its row, and the state letter and exit signal of
/// /proc/PID/stat.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Task {
    pub row: RawRow,
    pub state: char,
    /// The signal its parent gets when it exits (-1 for a thread).
    pub exit_signal: i32,
    /// Its controlling terminal (`tty_nr` of /proc/PID/stat: the device
    /// number, 0 for none) and that terminal's foreground process group
    /// (`tpgid`, -1 for none).
    pub tty: (i32, i32),
    /// The classes of its open file table and of its fs context (working
    /// and root directory, umask): tasks with the same class share one
    /// (kcmp(2) `KCMP_FILES`, `KCMP_FS`): threads of a process, and
    /// processes cloned with `CLONE_FILES` or `CLONE_FS`. Numbered in the
    /// order found; compare them as partitions ([`table_owner`]).
    pub tables: [u32; 2],
}

/// One open file descriptor of a process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenFd {
    /// The process (its thread group id; threads share the table).
    pub pid: i32,
    pub fd: i32,
    /// What /proc/PID/fd/N links to: a path, `pipe:[INODE]`, ….
    pub target: String,
    /// `flags:` of /proc/PID/fdinfo/N, octal as shown there (open flags
    /// and `O_CLOEXEC` for close-on-exec).
    pub flags: String,
    /// `pos:` of /proc/PID/fdinfo/N.
    pub pos: u64,
    /// Device and inode of the target: the two ends of a pipe share them.
    pub object: (u64, u64),
    /// The open file's class: descriptors (of any process) with the same
    /// class share one open file (kcmp(2) `KCMP_FILE`). Classes are
    /// numbered in the order they were found; compare them as partitions.
    pub file: u32,
    /// The lines of /proc/PID/fdinfo/N that show the state of the file's
    /// kind (an eventfd's count and mode), joined; empty for other files.
    pub kind_state: String,
}

/// A process tree's observable state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TreeState {
    /// Every task, threads and zombies included.
    pub tasks: Vec<Task>,
    /// The open descriptors of every live process.
    pub fds: Vec<OpenFd>,
}

impl TreeState {
    /// The task with this pid.
    pub fn task(&self, pid: i32) -> Option<&Task> {
        self.tasks.iter().find(|t| t.row.pid == pid)
    }

    /// The rows of every task.
    pub fn rows(&self) -> Vec<RawRow> {
        self.tasks.iter().map(|t| t.row.clone()).collect()
    }
}

/// What a state letter means for a comparison: running and sleeping are
/// one class (which of the two a task is in depends on the moment).
pub fn state_class(c: char) -> String {
    match c {
        'R' | 'S' => "R/S".into(),
        other => other.to_string(),
    }
}

/// Sorts `n` items into classes of equal ones, the way kcmp(2) compares
/// open files: only items in the same `bucket` can be equal, and within a
/// bucket `cmp(a, b)` is a total order on them (kcmp's order of the
/// obfuscated kernel pointers), or `None` when the two cannot be compared,
/// which puts `a` in a class of its own. Returns each item's class,
/// numbered from 0 in the order the classes are found. Each item costs
/// O(log k) comparisons, k the number of classes in its bucket.
pub fn partition<B: Ord>(
    n: usize,
    bucket: impl Fn(usize) -> B,
    mut cmp: impl FnMut(usize, usize) -> Option<Ordering>,
) -> Vec<u32> {
    // Per bucket, one representative per class, sorted by `cmp`.
    let mut reps: BTreeMap<B, Vec<(usize, u32)>> = BTreeMap::new();
    let mut out = vec![0u32; n];
    let mut next = 0u32;
    for (i, class) in out.iter_mut().enumerate() {
        let list = reps.entry(bucket(i)).or_default();
        let (mut lo, mut hi) = (0, list.len());
        let mut found = None;
        let mut comparable = true;
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let Some(&(rep, rep_class)) = list.get(mid) else {
                break;
            };
            match cmp(i, rep) {
                Some(Ordering::Equal) => {
                    found = Some(rep_class);
                    break;
                }
                Some(Ordering::Less) => hi = mid,
                Some(Ordering::Greater) => lo = mid + 1,
                None => {
                    comparable = false;
                    break;
                }
            }
        }
        *class = match found {
            Some(c) => c,
            None => {
                let c = next;
                next += 1;
                if comparable {
                    list.insert(lo, (i, c));
                }
                c
            }
        };
    }
    out
}

/// The kind of a target that is no path (`pipe`, `socket`, `anon_inode`),
/// or `None` for a path.
fn object_kind(target: &str) -> Option<&str> {
    if target.starts_with('/') {
        None
    } else {
        Some(target.split(':').next().unwrap_or(target))
    }
}

/// Names pids for results: a task of the tree as [`Namer`] does (`p1`,
/// `p2`, …); a session or process group id that is no task of the tree
/// `g1`, `g2`, … in naming order (its leader is dead: a ghost, or outside
/// the tree); anything else as [`Namer`] does (`init`, `ext`, `0`).
pub struct Names<'a> {
    namer: &'a Namer,
    ids: BTreeMap<i32, String>,
}

impl<'a> Names<'a> {
    /// Names for the tree `st`, whose tasks `namer` names.
    pub fn new(namer: &'a Namer, st: &TreeState) -> Self {
        let mut ids = BTreeMap::new();
        for t in sorted(namer, st) {
            for id in [t.row.sid, t.row.pgid] {
                if namer.order(id).is_none() && id > 1 && !ids.contains_key(&id) {
                    let n = format!("g{}", ids.len() + 1);
                    ids.insert(id, n);
                }
            }
        }
        Self { namer, ids }
    }

    /// The name of `pid`.
    pub fn name(&self, pid: i32) -> String {
        match (self.namer.order(pid), self.ids.get(&pid)) {
            (None, Some(n)) => n.clone(),
            _ => self.namer.name(pid),
        }
    }

    /// Two pids as `a -> b`; with their values when the names are equal
    /// (two different pids outside the tree).
    fn change(&self, a: i32, b: i32) -> String {
        let (na, nb) = (self.name(a), self.name(b));
        if na == nb {
            format!("{na}({a}) -> {nb}({b})")
        } else {
            format!("{na} -> {nb}")
        }
    }

    fn key(&self, pid: i32, fd: i32) -> (usize, i32, i32) {
        (self.namer.order(pid).unwrap_or(usize::MAX), pid, fd)
    }
}

/// The tasks of `st` in naming order (tasks outside the naming last).
fn sorted<'s>(namer: &Namer, st: &'s TreeState) -> Vec<&'s Task> {
    let mut v: Vec<&Task> = st.tasks.iter().collect();
    v.sort_by_key(|t| (namer.order(t.row.pid).unwrap_or(usize::MAX), t.row.pid));
    v
}

/// The descriptors of `st` in naming order of their process, then number.
fn sorted_fds<'s>(names: &Names<'_>, st: &'s TreeState) -> Vec<&'s OpenFd> {
    let mut v: Vec<&OpenFd> = st.fds.iter().collect();
    v.sort_by_key(|f| names.key(f.pid, f.fd));
    v
}

/// One line per task of `st` that says everything compared, in naming
/// order, with `(pid, line)`. Open files are labelled `f1`, `f2`, … and
/// pipes (and other objects without a path) `pipe#1`, … in the order they
/// appear; the root's parent is shown as `-` (it is checked on its own).
pub fn lines(names: &Names<'_>, st: &TreeState, root: i32) -> Vec<(i32, String)> {
    let mut files: HashMap<u32, String> = HashMap::new();
    let mut objects: HashMap<(u64, u64), String> = HashMap::new();
    let mut per_kind: HashMap<String, usize> = HashMap::new();
    let mut fd_text: BTreeMap<i32, Vec<String>> = BTreeMap::new();
    for f in sorted_fds(names, st) {
        let n = files.len() + 1;
        let file = files
            .entry(f.file)
            .or_insert_with(|| format!("f{n}"))
            .clone();
        let target = match object_kind(&f.target) {
            None => f.target.clone(),
            Some(kind) => objects
                .entry(f.object)
                .or_insert_with(|| {
                    let k = per_kind.entry(kind.to_string()).or_insert(0);
                    *k += 1;
                    format!("{kind}#{k}")
                })
                .clone(),
        };
        fd_text
            .entry(f.pid)
            .or_default()
            .push(if f.kind_state.is_empty() {
                format!("{} {target} {} @{} {file}", f.fd, f.flags, f.pos)
            } else {
                // A pidfd's task is named as the tasks are (pids vary).
                let state = match f.kind_state.strip_prefix("Pid: ") {
                    Some(pid) => match pid.parse::<i32>() {
                        Ok(pid) => format!("Pid: {}", names.name(pid)),
                        Err(_) => f.kind_state.clone(),
                    },
                    None => f.kind_state.clone(),
                };
                format!("{} {target} {} @{} {file} ({state})", f.fd, f.flags, f.pos)
            });
    }
    let owners = table_owners(names.namer, st);
    sorted(names.namer, st)
        .into_iter()
        .map(|t| {
            let r = &t.row;
            let who = format!("{} {}", names.name(r.pid), r.comm);
            let state = state_class(t.state);
            let shared = shared_tables(names, &owners, t);
            let shared = if shared.is_empty() {
                String::new()
            } else {
                format!(", {}", shared.join(", "))
            };
            let line = if r.thread {
                format!("{who}: thread of {}, {state}{shared}", names.name(r.tgid))
            } else {
                let ppid = if r.pid == root {
                    "-".to_string()
                } else {
                    names.name(r.ppid)
                };
                let mut s = format!(
                    "{who}: ppid {ppid}, sid {}, pgid {}, {state}{shared}",
                    names.name(r.sid),
                    names.name(r.pgid)
                );
                if r.zombie {
                    s.push_str(&format!(", exit status {:#x}", r.exit_code));
                }
                if t.tty.0 != 0 {
                    // The device number, as major:minor.
                    let (major, minor) = ((t.tty.0 >> 8) & 0xfff, t.tty.0 & 0xff);
                    let fg = if t.tty.1 > 0 {
                        names.name(t.tty.1)
                    } else {
                        "none".into()
                    };
                    s.push_str(&format!(", tty {major}:{minor} fg {fg}"));
                }
                let threads = thread_names(names, st, r.pid);
                if !threads.is_empty() {
                    s.push_str(&format!("; threads [{}]", threads.join(", ")));
                }
                if let Some(fds) = fd_text.get(&r.pid) {
                    s.push_str(&format!("; fds [{}]", fds.join(", ")));
                }
                s
            };
            (r.pid, line)
        })
        .collect()
}

/// What [`Task::tables`] holds, in order, as the lines name it.
const TABLES: [&str; 2] = ["files", "fs"];

/// For each table of [`TABLES`], each class's first task in naming
/// order: the pid that names the table in the lines and comparisons.
fn table_owners(namer: &Namer, st: &TreeState) -> [HashMap<u32, i32>; 2] {
    let mut owners = [HashMap::new(), HashMap::new()];
    for t in sorted(namer, st) {
        for (map, class) in owners.iter_mut().zip(t.tables) {
            map.entry(class).or_insert(t.row.pid);
        }
    }
    owners
}

/// The first task in naming order that shares table `k` ([`TABLES`]) of
/// task `t` (its own pid for a table no earlier task holds).
fn table_owner(owners: &[HashMap<u32, i32>; 2], t: &Task, k: usize) -> i32 {
    owners
        .get(k)
        .zip(t.tables.get(k))
        .and_then(|(map, class)| map.get(class).copied())
        .unwrap_or(t.row.pid)
}

/// The tables of task `t` that an earlier task that is not its leader
/// holds too (a table shared between processes), as `files of NAME`.
fn shared_tables(names: &Names<'_>, owners: &[HashMap<u32, i32>; 2], t: &Task) -> Vec<String> {
    TABLES
        .iter()
        .enumerate()
        .filter_map(|(k, what)| {
            let owner = table_owner(owners, t, k);
            (owner != t.row.pid && owner != t.row.tgid)
                .then(|| format!("{what} of {}", names.name(owner)))
        })
        .collect()
}

/// The named threads (not the leader) of process `pid`, in naming order.
fn thread_names(names: &Names<'_>, st: &TreeState, pid: i32) -> Vec<String> {
    sorted(names.namer, st)
        .into_iter()
        .filter(|t| t.row.thread && t.row.tgid == pid)
        .map(|t| names.name(t.row.pid))
        .collect()
}

/// Where two readings of a tree differ, by kind of state; each entry names
/// the task (and descriptor) and shows both values.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diff {
    /// Tasks of the first reading missing from the second.
    pub missing: Vec<String>,
    /// Tasks of the second reading that the first did not have.
    pub extra: Vec<String>,
    /// Thread group, parent (the root's aside), session, process group,
    /// thread and zombie flags, exit status, exit signal and command name.
    pub ids: Vec<String>,
    /// State letters (running and sleeping are one class).
    pub states: Vec<String>,
    /// The thread ids of each process.
    pub threads: Vec<String>,
    /// Descriptor numbers, and each one's target, flags and position.
    pub fds: Vec<String>,
    /// Which descriptors share one open file.
    pub shared_files: Vec<String>,
    /// Which descriptors refer to one pipe (or other object without a
    /// path), by either end.
    pub shared_objects: Vec<String>,
    /// Which tasks share one open file table or fs context.
    pub tables: Vec<String>,
}

impl Diff {
    pub fn is_empty(&self) -> bool {
        self.count() == 0
    }

    /// Number of differences.
    pub fn count(&self) -> usize {
        [
            &self.missing,
            &self.extra,
            &self.ids,
            &self.states,
            &self.threads,
            &self.fds,
            &self.shared_files,
            &self.shared_objects,
            &self.tables,
        ]
        .iter()
        .map(|v| v.len())
        .sum()
    }
}

/// Compares two readings of the tree rooted at `root`, `before` (whose
/// names `names` gives) and `after`, field by field; the root's parent is
/// left out.
pub fn compare(names: &Names<'_>, root: i32, before: &TreeState, after: &TreeState) -> Diff {
    let mut d = Diff::default();
    let owners = (
        table_owners(names.namer, before),
        table_owners(names.namer, after),
    );
    for t in sorted(names.namer, before) {
        let b = &t.row;
        let who = names.name(b.pid);
        let Some(a) = after.task(b.pid) else {
            d.missing.push(format!("{who} {}", b.comm));
            continue;
        };
        let (ar, br) = (&a.row, b);
        let mut ids = |what: &str, x: i32, y: i32| {
            if x != y {
                d.ids.push(format!("{who} {what} {}", names.change(x, y)));
            }
        };
        ids("tgid", br.tgid, ar.tgid);
        // The root's threads have the root's parent, which the restart
        // changes (to `ckpt restart`), as it does the root's.
        if br.tgid != root {
            ids("ppid", br.ppid, ar.ppid);
        }
        ids("sid", br.sid, ar.sid);
        ids("pgid", br.pgid, ar.pgid);
        let mut plain = |what: &str, x: String, y: String| {
            if x != y {
                d.ids.push(format!("{who} {what} {x} -> {y}"));
            }
        };
        plain("thread", br.thread.to_string(), ar.thread.to_string());
        plain("zombie", br.zombie.to_string(), ar.zombie.to_string());
        plain(
            "exit status",
            format!("{:#x}", br.exit_code),
            format!("{:#x}", ar.exit_code),
        );
        plain(
            "exit signal",
            t.exit_signal.to_string(),
            a.exit_signal.to_string(),
        );
        plain("comm", br.comm.clone(), ar.comm.clone());
        if t.tty.0 != a.tty.0 {
            d.ids.push(format!(
                "{who} controlling terminal {:#x} -> {:#x}",
                t.tty.0, a.tty.0
            ));
        }
        if t.tty.1 != a.tty.1 {
            let fg = |g: i32| {
                if g > 0 {
                    names.name(g)
                } else {
                    "none".to_string()
                }
            };
            d.ids.push(format!(
                "{who} terminal's foreground group {} -> {}",
                fg(t.tty.1),
                fg(a.tty.1)
            ));
        }
        if !br.zombie && !ar.zombie {
            for (k, what) in TABLES.iter().enumerate() {
                let (ob, oa) = (table_owner(&owners.0, t, k), table_owner(&owners.1, a, k));
                if ob != oa {
                    d.tables.push(format!(
                        "{who} {what} shared with {} -> {}",
                        names.name(ob),
                        names.name(oa)
                    ));
                }
            }
        }
        let (sb, sa) = (state_class(t.state), state_class(a.state));
        if sb != sa {
            d.states.push(format!("{who} {sb} -> {sa}"));
        }
        if !br.thread {
            let tb = thread_names(names, before, br.pid);
            let ta = thread_names(names, after, br.pid);
            if tb != ta {
                d.threads
                    .push(format!("{who} [{}] -> [{}]", tb.join(", "), ta.join(", ")));
            }
        }
    }
    for t in sorted(names.namer, after) {
        if before.task(t.row.pid).is_none() {
            d.extra.push(format!(
                "{}({}) {}",
                names.name(t.row.pid),
                t.row.pid,
                t.row.comm
            ));
        }
    }
    compare_fds(names, before, after, &mut d);
    d
}

fn compare_fds(names: &Names<'_>, before: &TreeState, after: &TreeState, d: &mut Diff) {
    type Key = (usize, i32, i32);
    let index = |st: &TreeState| -> BTreeMap<Key, OpenFd> {
        st.fds
            .iter()
            .map(|f| (names.key(f.pid, f.fd), f.clone()))
            .collect()
    };
    let (b, a) = (index(before), index(after));
    let who = |k: &Key| format!("{} fd {}", names.name(k.1), k.2);
    let shown = |t: &str| object_kind(t).unwrap_or(t).to_string();
    for (k, fb) in &b {
        // Only processes read both times: a missing task is reported once.
        if after.task(fb.pid).is_none() {
            continue;
        }
        match a.get(k) {
            None => d
                .fds
                .push(format!("{} {} missing", who(k), shown(&fb.target))),
            Some(fa) => {
                for (what, x, y) in [
                    ("target", shown(&fb.target), shown(&fa.target)),
                    ("flags", fb.flags.clone(), fa.flags.clone()),
                    ("pos", fb.pos.to_string(), fa.pos.to_string()),
                    ("state", fb.kind_state.clone(), fa.kind_state.clone()),
                ] {
                    if x != y {
                        d.fds.push(format!("{} {what} {x} -> {y}", who(k)));
                    }
                }
            }
        }
    }
    for (k, fa) in &a {
        if !b.contains_key(k) && before.task(fa.pid).is_some() {
            d.fds
                .push(format!("{} {} not saved", who(k), shown(&fa.target)));
        }
    }
    // Sharing, compared as partitions of the descriptors both readings
    // have: each descriptor's partner is the first (in naming order) of
    // those in its class; equal partitions give equal partners.
    let common: Vec<&Key> = b.keys().filter(|k| a.contains_key(k)).collect();
    let partners = |m: &BTreeMap<Key, OpenFd>, class: &dyn Fn(&OpenFd) -> Option<(u64, u64)>| {
        let mut first: HashMap<(u64, u64), Key> = HashMap::new();
        let mut out: BTreeMap<Key, Option<Key>> = BTreeMap::new();
        for k in &common {
            let c = m.get(*k).and_then(class);
            let p = c.map(|c| *first.entry(c).or_insert(**k));
            out.insert(**k, p);
        }
        out
    };
    let file = |f: &OpenFd| Some((u64::from(f.file), 0u64));
    let object = |f: &OpenFd| object_kind(&f.target).map(|_| f.object);
    for (list, class) in [
        (
            &mut d.shared_files,
            &file as &dyn Fn(&OpenFd) -> Option<(u64, u64)>,
        ),
        (&mut d.shared_objects, &object),
    ] {
        let (pb, pa) = (partners(&b, class), partners(&a, class));
        for k in &common {
            let (x, y) = (pb.get(*k).copied().flatten(), pa.get(*k).copied().flatten());
            if x != y {
                let show = |p: Option<Key>| match p {
                    None => "nothing".to_string(),
                    Some(p) if p == **k => "no other fd".to_string(),
                    Some(p) => who(&p),
                };
                list.push(format!("{}: with {} -> with {}", who(k), show(x), show(y)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(pid: i32, ppid: i32, pgid: i32, comm: &str) -> Task {
        Task {
            row: RawRow {
                pid,
                tgid: pid,
                ppid,
                sid: 10,
                pgid,
                thread: false,
                zombie: false,
                exit_code: 0,
                comm: comm.into(),
            },
            state: 'S',
            exit_signal: 17,
            tty: (0, -1),
            tables: [pid as u32; 2],
        }
    }

    fn fd(pid: i32, fd: i32, target: &str, object: u64, file: u32) -> OpenFd {
        OpenFd {
            kind_state: String::new(),
            pid,
            fd,
            target: target.into(),
            flags: "01".into(),
            pos: 0,
            object: (1, object),
            file,
        }
    }

    /// A shell (10) with two children (11, 12) in group 99, whose leader
    /// is gone; fd 1 of all three is one open file, fd 3 of the children
    /// the two ends of one pipe.
    fn tree() -> TreeState {
        TreeState {
            tasks: vec![
                task(10, 5, 10, "shell"),
                task(11, 10, 99, "a"),
                task(12, 10, 99, "b"),
            ],
            fds: vec![
                fd(10, 1, "/tmp/log", 7, 0),
                fd(11, 1, "/tmp/log", 7, 0),
                fd(12, 1, "/tmp/log", 7, 0),
                fd(11, 3, "pipe:[500]", 500, 1),
                fd(12, 3, "pipe:[500]", 500, 2),
            ],
        }
    }

    #[test]
    fn partition_groups_equal_items_by_bucket_and_order() {
        // Items equal when their values are; bucket = value / 10.
        let vals = [5, 15, 5, 17, 15, 6, 5];
        let cmp = |a: usize, b: usize| Some(vals[a].cmp(&vals[b]));
        let classes = partition(vals.len(), |i| vals[i] / 10, cmp);
        assert_eq!(classes, vec![0, 1, 0, 2, 1, 3, 0]);
        // Incomparable items get classes of their own.
        let none = partition(3, |_| 0, |_, _| None);
        assert_eq!(none, vec![0, 1, 2]);
    }

    #[test]
    fn names_ghost_ids_and_lines_label_files_and_pipes() {
        let st = tree();
        let namer = Namer::new(&st.rows());
        let names = Names::new(&namer, &st);
        assert_eq!(names.name(99), "g1");
        assert_eq!(names.name(5), "ext");
        let lines = lines(&names, &st, 10);
        assert_eq!(
            lines[0].1,
            "p1 shell: ppid -, sid p1, pgid p1, R/S; fds [1 /tmp/log 01 @0 f1]"
        );
        assert_eq!(
            lines[2].1,
            "p3 b: ppid p1, sid p1, pgid g1, R/S; fds [1 /tmp/log 01 @0 f1, 3 pipe#1 01 @0 f3]"
        );
    }

    #[test]
    fn equal_readings_differ_nowhere_but_in_the_roots_parent() {
        let before = tree();
        let mut after = tree();
        after.tasks[0].row.ppid = 77;
        after.tasks[1].state = 'R';
        // Classes are numbered in the order found: only the partition counts.
        for f in &mut after.fds {
            f.file = 10 - f.file;
            f.object.1 += 1000;
            f.target = f.target.replace("500", "1500");
        }
        let namer = Namer::new(&before.rows());
        let names = Names::new(&namer, &before);
        let d = compare(&names, 10, &before, &after);
        assert!(d.is_empty(), "{d:?}");
    }

    #[test]
    fn differences_are_named() {
        let before = tree();
        let mut after = tree();
        after.tasks[1].row.ppid = 1;
        after.tasks[2].row.pgid = 12;
        after.tasks[2].state = 'D';
        after.tasks[2].exit_signal = 0;
        // p2 lost its controlling terminal, p3's has another foreground.
        let mut with_tty = tree();
        with_tty.tasks[1].tty = (0x8800, 12);
        with_tty.tasks[2].tty = (0x8800, 12);
        after.tasks[2].tty = (0x8800, 11);
        after.tasks.push(task(13, 10, 10, "new"));
        // fd 1 of p3 reopened on its own, the pipe split in two.
        after.fds[2].file = 9;
        after.fds[4].object.1 = 501;
        after.fds[3].pos = 4;
        after.fds[3].kind_state = "tty-index: 1".into();
        let namer = Namer::new(&before.rows());
        let names = Names::new(&namer, &before);
        let d = compare(&names, 10, &before, &after);
        assert_eq!(
            d.ids,
            [
                "p2 ppid p1 -> init",
                "p3 pgid g1 -> p3",
                "p3 exit signal 17 -> 0",
                "p3 controlling terminal 0x0 -> 0x8800",
                "p3 terminal's foreground group none -> p2"
            ]
        );
        let d = compare(&names, 10, &with_tty, &after);
        assert!(
            d.ids
                .contains(&"p2 controlling terminal 0x8800 -> 0x0".to_string())
                && d.ids
                    .contains(&"p3 terminal's foreground group p3 -> p2".to_string()),
            "{:?}",
            d.ids
        );
        assert_eq!(d.states, ["p3 R/S -> D"]);
        assert_eq!(d.extra, ["ext(13) new"]);
        assert_eq!(
            d.fds,
            ["p2 fd 3 pos 0 -> 4", "p2 fd 3 state  -> tty-index: 1"]
        );
        assert_eq!(
            d.shared_files,
            ["p3 fd 1: with p1 fd 1 -> with no other fd"]
        );
        assert_eq!(
            d.shared_objects,
            ["p3 fd 3: with p2 fd 3 -> with no other fd"]
        );
        let mut gone = tree();
        gone.tasks.remove(2);
        gone.fds.retain(|f| f.pid != 12);
        let d = compare(&names, 10, &before, &gone);
        assert_eq!(d.missing, ["p3 b"]);
        assert!(d.fds.is_empty() && d.shared_files.is_empty(), "{d:?}");
    }
}
