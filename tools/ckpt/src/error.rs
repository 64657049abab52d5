// SPDX-License-Identifier: GPL-2.0
//! The error of a kernel-ckpt system call: the errno and what it means.

use std::fmt;

use ckpt_image::{RecordType, RestartReport};
use nix::errno::Errno;
use serde_json::{json, Value};

/// A failed `checkpoint(2)` or `restart(2)` (or a check made before the
/// call that stands for one of its errors, such as a missing pid).
///
/// Displays as a sentence naming the cause and the fix; `errno` keeps the
/// raw error for programs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckpointError {
    /// What the kernel (or the equivalent check) returned.
    pub errno: Errno,
    /// The sentence shown to the user.
    pub message: String,
    /// What `restart(2)` reported of its failure (which task, at which
    /// record), when the error is its.
    pub report: Option<RestartReport>,
}

impl CheckpointError {
    /// An error with an explicit message.
    pub fn new(errno: Errno, message: impl Into<String>) -> Self {
        Self {
            errno,
            message: message.into(),
            report: None,
        }
    }

    /// The same error, with the kernel's report of a failed `restart(2)`.
    pub fn with_report(mut self, report: RestartReport) -> Self {
        self.report = Some(report);
        self
    }

    /// The errno of a [`CheckpointError`] inside `err` (also one inside a
    /// [`RestartFailure::Error`]), if there is one.
    pub fn errno_of(err: &anyhow::Error) -> Option<Errno> {
        err.downcast_ref::<Self>().map(|e| e.errno).or_else(|| {
            match err.downcast_ref::<RestartFailure>() {
                Some(RestartFailure::Error(e)) => Some(e.errno),
                _ => None,
            }
        })
    }
}

impl fmt::Display for CheckpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CheckpointError {}

/// `restart(2)` was called and the saved process or tree never ran: the
/// call failed, or a signal killed the process (a task of the tree) while
/// it was restored.
///
/// `ckpt restart` exits with [`exit_status`](Self::exit_status): 125 for
/// an error of the call, 128 + the signal for a kill, as a shell would.
/// Errors before the call (a bad image, a pid that is taken) are other
/// errors, and `ckpt` exits with 1 for them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RestartFailure {
    /// `restart(2)` returned this error.
    Error(CheckpointError),
    /// A signal killed the restored process (or a task of the tree) before
    /// `restart(2)` completed.
    Killed {
        /// The signal number.
        signal: i32,
        /// The sentence shown to the user.
        message: String,
    },
}

impl RestartFailure {
    /// The exit status of `ckpt restart` for this failure.
    pub fn exit_status(&self) -> u8 {
        match self {
            Self::Error(_) => 125,
            Self::Killed { signal, .. } => {
                128u8.saturating_add(u8::try_from(*signal & 0x7f).unwrap_or(0))
            }
        }
    }
}

impl fmt::Display for RestartFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Error(e) => e.fmt(f),
            Self::Killed { message, .. } => f.write_str(message),
        }
    }
}

impl std::error::Error for RestartFailure {}

/// The image is whole, but what was to follow it failed (thawing or
/// killing the tree): the image must be kept, and the error reported.
#[derive(Debug)]
pub struct AfterImage(pub anyhow::Error);

impl fmt::Display for AfterImage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#}", self.0)
    }
}

impl std::error::Error for AfterImage {}

/// `ckpt restart --json`'s account of an error, as one JSON object:
/// `failure` is `restart` (`restart(2)` failed: its errno and the kernel's
/// report of which task failed at which record), `killed` (a signal
/// killed the restored tree: the signal), or `error` (before `restart(2)`:
/// an unusable image, a pid that is taken; the errno when there is one).
pub fn failure_json(err: &anyhow::Error) -> Value {
    let errno = |e: Errno| json!({ "errno": e as i32, "name": format!("{e:?}") });
    match err.downcast_ref::<RestartFailure>() {
        Some(RestartFailure::Error(c)) => json!({
            "failure": "restart",
            "error": errno(c.errno),
            "message": c.message,
            "report": c.report.as_ref().map(report_json),
        }),
        Some(RestartFailure::Killed { signal, message }) => json!({
            "failure": "killed",
            "signal": { "number": signal, "name": signal_name(*signal) },
            "message": message,
        }),
        None => json!({
            "failure": "error",
            "error": CheckpointError::errno_of(err).map(errno),
            "message": format!("{err:#}"),
        }),
    }
}

/// The kernel's `struct restart_report`, named: `task` null when no task
/// is named, `record` null when no record was read.
fn report_json(r: &RestartReport) -> Value {
    let error = Errno::from_raw(r.error.saturating_neg());
    let record = (r.record_type != 0).then(|| {
        json!({
            "index": r.record,
            "type": RecordType::from_u32(r.record_type).map_or("unknown", RecordType::name),
            "offset": r.offset,
        })
    });
    json!({
        "task": (r.pid != 0).then_some(r.pid),
        "error": { "errno": r.error.saturating_neg(), "name": format!("{error:?}") },
        "record": record,
    })
}

/// The name of signal `sig`: `SIGKILL`, or `signal 40` for one without a
/// name (a real-time signal).
pub(crate) fn signal_name(sig: i32) -> String {
    nix::sys::signal::Signal::try_from(sig)
        .map_or_else(|_| format!("signal {sig}"), |s| s.as_str().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_status_of_failures() {
        let err = RestartFailure::Error(CheckpointError::new(Errno::EINVAL, "bad"));
        assert_eq!(err.exit_status(), 125);
        assert_eq!(err.to_string(), "bad");
        let killed = RestartFailure::Killed {
            signal: 9,
            message: "killed".into(),
        };
        assert_eq!(killed.exit_status(), 137);
        assert_eq!(killed.to_string(), "killed");
        let rt = RestartFailure::Killed {
            signal: 40,
            message: String::new(),
        };
        assert_eq!(rt.exit_status(), 168);
    }

    #[test]
    fn errno_through_a_restart_failure() {
        let err = anyhow::Error::new(RestartFailure::Error(CheckpointError::new(
            Errno::ENOENT,
            "gone",
        )));
        assert_eq!(CheckpointError::errno_of(&err), Some(Errno::ENOENT));
        let err = anyhow::Error::new(CheckpointError::new(Errno::EBUSY, "busy"));
        assert_eq!(CheckpointError::errno_of(&err), Some(Errno::EBUSY));
        let err = anyhow::Error::new(RestartFailure::Killed {
            signal: 9,
            message: String::new(),
        });
        assert_eq!(CheckpointError::errno_of(&err), None);
    }

    #[test]
    fn failures_as_json() {
        let report = RestartReport {
            pid: 7,
            error: -(Errno::ENOENT as i32),
            record: 12,
            record_type: RecordType::Vma as u32,
            offset: 4096,
        };
        let failed =
            RestartFailure::Error(CheckpointError::new(Errno::ENOENT, "gone").with_report(report));
        assert_eq!(
            failure_json(&failed.into()),
            json!({
                "failure": "restart",
                "error": { "errno": 2, "name": "ENOENT" },
                "message": "gone",
                "report": {
                    "task": 7,
                    "error": { "errno": 2, "name": "ENOENT" },
                    "record": { "index": 12, "type": "vma", "offset": 4096 },
                },
            })
        );
        let no_record = RestartFailure::Error(
            CheckpointError::new(Errno::EINVAL, "bad").with_report(RestartReport {
                error: -22,
                ..Default::default()
            }),
        );
        assert_eq!(
            failure_json(&no_record.into())["report"],
            json!({ "task": null, "error": { "errno": 22, "name": "EINVAL" }, "record": null })
        );
        let killed = RestartFailure::Killed {
            signal: 9,
            message: "killed".into(),
        };
        assert_eq!(
            failure_json(&killed.into()),
            json!({
                "failure": "killed",
                "signal": { "number": 9, "name": "SIGKILL" },
                "message": "killed",
            })
        );
        let before = anyhow::Error::from(CheckpointError::new(Errno::EEXIST, "pid 5 is taken"));
        assert_eq!(
            failure_json(&before),
            json!({
                "failure": "error",
                "error": { "errno": 17, "name": "EEXIST" },
                "message": "pid 5 is taken",
            })
        );
        assert_eq!(
            failure_json(&anyhow::anyhow!("no image"))["error"],
            Value::Null
        );
    }

    #[test]
    fn signal_names() {
        assert_eq!(signal_name(9), "SIGKILL");
        assert_eq!(signal_name(15), "SIGTERM");
        assert_eq!(signal_name(40), "signal 40");
    }
}
