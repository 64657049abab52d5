// SPDX-License-Identifier: GPL-2.0
//! The order of records in an image, written down once.
//!
//! ```text
//! header → forest → task row × nr_tasks → pod? → (task state | object)* → tail
//! ```
//!
//! The pod record is only in an image of a whole pid namespace (the
//! parser checks the header's flags), before any other record of the body.
//!
//! [`TASK_RECORDS`] is the order of one live task's records. Three readers
//! of it: the image parser ([`Parser`](super::Parser)) checks every image against
//! it, the kernel's image writer checks every record it writes against it
//! (a record written out of order is a bug, and fails the checkpoint), and
//! [`task_order_text`] renders it for the documentation (a unit test keeps
//! the README's copy equal to it).
//!
//! Object records ([`RecordType::is_object`]) are not part of a task's
//! order: they may appear anywhere after the forest table, before the
//! first task, between two tasks or inside one, and each is written before
//! the first record that names it. But restart opens a path (an open file
//! of a path, a FIFO, a unix socket, a deleted file made again, a pty, an
//! inotify watch) with the credentials of the process it is for, only
//! within that process's records (after its task-misc record, before its
//! pages), where checkpoint(2) writes every object: it refuses one
//! elsewhere.

use super::RecordType;
use core::fmt;

/// How often a record appears in one task's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Times {
    /// Exactly once.
    Once,
    /// As many times as the record before it says (the VMAs of an mm
    /// record, the descriptors of a files record).
    Counted,
    /// Any number of times, none included.
    Any,
}

/// One step of a task's records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    /// The record.
    pub kind: RecordType,
    /// How often it appears.
    pub times: Times,
    /// Written for a thread group leader only (its process: memory, files,
    /// handlers); a thread's records skip every such step.
    pub process: bool,
}

const fn step(kind: RecordType, times: Times, process: bool) -> Step {
    Step {
        kind,
        times,
        process,
    }
}

/// The records of one live task, in order.
pub const TASK_RECORDS: [Step; 23] = [
    step(RecordType::TaskState, Times::Once, false),
    step(RecordType::Regs, Times::Once, false),
    step(RecordType::Xstate, Times::Once, false),
    step(RecordType::RestartBlock, Times::Once, false),
    step(RecordType::TaskMisc, Times::Once, false),
    // Any: images written before it existed have none.
    step(RecordType::TaskSched, Times::Any, false),
    step(RecordType::Signals, Times::Once, false),
    step(RecordType::Mm, Times::Once, true),
    step(RecordType::Vma, Times::Counted, true),
    step(RecordType::Auxv, Times::Any, true),
    step(RecordType::Cgroup, Times::Any, true),
    step(RecordType::Ctty, Times::Any, true),
    step(RecordType::Share, Times::Any, true),
    step(RecordType::Files, Times::Once, true),
    step(RecordType::Fd, Times::Counted, true),
    step(RecordType::FileLock, Times::Any, true),
    step(RecordType::FileOwner, Times::Any, true),
    step(RecordType::MqNotify, Times::Any, true),
    step(RecordType::SemUndo, Times::Any, true),
    step(RecordType::Sighand, Times::Once, true),
    step(RecordType::PosixTimers, Times::Any, true),
    step(RecordType::Pages, Times::Any, true),
    step(RecordType::TaskEnd, Times::Once, false),
];

/// [`TASK_RECORDS`] as text: the process part in brackets, counted and
/// repeated records marked.
pub fn task_order_text(out: &mut impl fmt::Write) -> fmt::Result {
    let mut in_process = false;
    for (i, s) in TASK_RECORDS.iter().enumerate() {
        if i > 0 {
            out.write_str(" → ")?;
        }
        if s.process && !in_process {
            out.write_str("[leaders: ")?;
            in_process = true;
        }
        out.write_str(s.kind.name())?;
        match s.times {
            Times::Once => {}
            Times::Counted => out.write_str(" × n")?,
            Times::Any => out.write_str("…")?,
        }
        let next_in_process = TASK_RECORDS.get(i + 1).is_some_and(|n| n.process);
        if in_process && !next_in_process {
            out.write_str("]")?;
            in_process = false;
        }
    }
    Ok(())
}

/// What the stream needs next, for an error message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Expected {
    /// Record types that fit (at most four: the rest are left out).
    kinds: [Option<RecordType>; 4],
    /// Whether an object record fits too.
    objects: bool,
    /// Whether the stream has ended.
    end: bool,
}

impl Expected {
    fn none() -> Self {
        Self {
            kinds: [None; 4],
            objects: false,
            end: false,
        }
    }

    fn push(&mut self, kind: RecordType) {
        if let Some(slot) = self.kinds.iter_mut().find(|k| k.is_none()) {
            *slot = Some(kind);
        }
    }
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.end {
            return f.write_str("end of image");
        }
        let n = self.kinds.iter().flatten().count() + usize::from(self.objects);
        let mut i = 0;
        let mut sep = |f: &mut fmt::Formatter<'_>| -> fmt::Result {
            i += 1;
            match i {
                1 => Ok(()),
                _ if i == n => f.write_str(" or "),
                _ => f.write_str(", "),
            }
        };
        for k in self.kinds.iter().flatten() {
            sep(f)?;
            f.write_str(k.name())?;
        }
        if self.objects {
            sep(f)?;
            f.write_str("an object")?;
        }
        Ok(())
    }
}

/// Where a stream is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Header,
    Forest,
    /// Task rows; `left` of them still to come (`None`: not counted).
    Rows {
        left: Option<u32>,
    },
    /// Between task states: another one, an object, or the tail.
    Body,
    /// In a task's records, at step `at` of [`TASK_RECORDS`]. `left` is
    /// the count of a [`Times::Counted`] step still to come (`None`: not
    /// counted); `process` whether the task has a process part (`None`:
    /// not known yet).
    InTask {
        at: usize,
        left: Option<u32>,
        process: Option<bool>,
    },
    Done,
}

/// The order of record types in a stream, checked one record at a time.
///
/// Counts (tasks in the forest, VMAs of an mm, descriptors of a files
/// record) are given by the caller, from the decoded records; a writer,
/// which does not decode what it writes, gives none, and then only the
/// order is checked.
#[derive(Clone, Copy, Debug)]
pub struct Order {
    state: State,
    nr_tasks: Option<u32>,
    task_states: u32,
    /// Whether the body has begun (a pod record may only open it).
    body_begun: bool,
    /// Whether the last record was the pod record (a pod-ipc record may
    /// only follow it).
    after_pod: bool,
    /// Whether the last record was the pod or pod-ipc record (a pod-net
    /// record may only follow one).
    after_pod_ipc: bool,
}

/// A record out of order: what was found, and what would have fit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutOfOrder {
    /// What the stream needed at this point.
    pub expected: Expected,
    /// The tail came after more task states than the forest has rows.
    pub too_many_tasks: bool,
}

impl Default for Order {
    fn default() -> Self {
        Self::new()
    }
}

impl Order {
    /// A stream before its header.
    pub const fn new() -> Self {
        Self {
            state: State::Header,
            nr_tasks: None,
            task_states: 0,
            body_begun: false,
            after_pod: false,
            after_pod_ipc: false,
        }
    }

    /// Whether the tail was accepted.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Whether the stream is inside a task's records.
    pub fn in_task(&self) -> bool {
        matches!(self.state, State::InTask { .. })
    }

    /// What fits next.
    pub fn expected(&self) -> Expected {
        let mut e = Expected::none();
        match self.state {
            State::Header => e.push(RecordType::Header),
            State::Forest => e.push(RecordType::Forest),
            State::Rows { .. } => e.push(RecordType::Task),
            State::Body => {
                e.push(RecordType::TaskState);
                e.push(RecordType::Tail);
                if !self.body_begun {
                    e.push(RecordType::Pod);
                }
                e.objects = true;
            }
            State::InTask { at, left, process } => {
                e.objects = true;
                let mut process = process;
                for s in TASK_RECORDS.iter().skip(at) {
                    if accepts(s, left, process) {
                        e.push(s.kind);
                    }
                    match skippable(s, left, process) {
                        Some(p) => process = p,
                        None => break,
                    }
                }
            }
            State::Done => e.end = true,
        }
        e
    }

    /// Takes the next record of type `kind`. `count` is what a counting
    /// record says follows it (tasks of a forest, VMAs of an mm record,
    /// descriptors of a files record), if known.
    pub fn feed(&mut self, kind: RecordType, count: Option<u32>) -> Result<(), OutOfOrder> {
        let bad = |o: &Self| OutOfOrder {
            expected: o.expected(),
            too_many_tasks: false,
        };
        let next = match (self.state, kind) {
            (State::Header, RecordType::Header) => State::Forest,
            (State::Forest, RecordType::Forest) => {
                self.nr_tasks = count;
                match count {
                    Some(0) => State::Body,
                    _ => State::Rows { left: count },
                }
            }
            (State::Rows { left }, RecordType::Task) => match left {
                Some(1) => State::Body,
                Some(0) => return Err(bad(self)),
                Some(n) => State::Rows {
                    left: Some(n.saturating_sub(1)),
                },
                None => State::Rows { left: None },
            },
            // Uncounted rows end where the body begins.
            (State::Rows { left: None }, k) if k != RecordType::Task => {
                self.state = State::Body;
                return self.feed(kind, count);
            }
            (State::Body, RecordType::Pod) if !self.body_begun => State::Body,
            (State::Body, RecordType::PodIpc) if self.after_pod => State::Body,
            (State::Body, RecordType::PodNet) if self.after_pod_ipc => State::Body,
            (State::Body | State::InTask { .. }, k) if k.is_object() => self.state,
            (State::Body, RecordType::TaskState) => {
                self.task_states = self.task_states.saturating_add(1);
                if self.nr_tasks.is_some_and(|n| self.task_states > n) {
                    return Err(OutOfOrder {
                        expected: bad(self).expected,
                        too_many_tasks: true,
                    });
                }
                State::InTask {
                    at: 1,
                    left: None,
                    process: None,
                }
            }
            (State::Body, RecordType::Tail) => State::Done,
            (State::InTask { at, left, process }, k) => {
                let (at, left, process) =
                    step_task(at, left, process, k, count).ok_or(bad(self))?;
                if TASK_RECORDS.get(at).is_none() {
                    State::Body
                } else {
                    State::InTask { at, left, process }
                }
            }
            _ => return Err(bad(self)),
        };
        if self.state == State::Body {
            self.body_begun = true;
        }
        self.after_pod = kind == RecordType::Pod;
        self.after_pod_ipc = matches!(kind, RecordType::Pod | RecordType::PodIpc);
        self.state = next;
        Ok(())
    }
}

/// Whether step `s` can take a record now.
fn accepts(s: &Step, left: Option<u32>, process: Option<bool>) -> bool {
    if s.process && process == Some(false) {
        return false;
    }
    !(s.times == Times::Counted && left == Some(0))
}

/// Whether step `s` may be passed over, and what that says about the
/// process part: `None` if it may not.
fn skippable(s: &Step, left: Option<u32>, process: Option<bool>) -> Option<Option<bool>> {
    match (s.times, s.process, process) {
        (Times::Any, ..) => Some(process),
        (Times::Counted, ..) => (left.is_none() || left == Some(0)).then_some(process),
        // The first process step missing: the task is a thread.
        (Times::Once, true, None) => Some(Some(false)),
        (Times::Once, true, Some(false)) => Some(process),
        (Times::Once, ..) => None,
    }
}

/// One task record of type `kind` at step `at`: the next position, or
/// `None` if it does not fit.
fn step_task(
    mut at: usize,
    mut left: Option<u32>,
    mut process: Option<bool>,
    kind: RecordType,
    count: Option<u32>,
) -> Option<(usize, Option<u32>, Option<bool>)> {
    loop {
        let s = TASK_RECORDS.get(at)?;
        if s.kind == kind && accepts(s, left, process) {
            if s.process {
                process = Some(true);
            }
            return Some(match s.times {
                Times::Once => (at + 1, count, process),
                Times::Counted => (at, left.map(|n| n.saturating_sub(1)), process),
                Times::Any => (at, left, process),
            });
        }
        process = skippable(s, left, process)?;
        // A count belongs to the step right after the record giving it.
        if s.times == Times::Counted {
            left = None;
        }
        at += 1;
    }
}
