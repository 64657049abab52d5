// SPDX-License-Identifier: GPL-2.0
//! kernel-ckpt user space: start process trees in freezable cgroups, write
//! checkpoint images of them with `checkpoint(2)`, read images back, and
//! call `restart(2)`.
//!
//! The `ckpt` binary is a thin command line front end over this library;
//! the test suite calls the same functions directly.
//!
//! Errors that come from the kernel-ckpt system calls are
//! [`CheckpointError`]s inside the returned [`anyhow::Error`], so callers
//! can get at the errno with [`CheckpointError::errno_of`]. A restart
//! whose `restart(2)` failed, or whose process was killed while it was
//! restored, is a [`RestartFailure`] (with the exit status `ckpt restart`
//! gives it). A checkpoint whose image is whole but whose tree could not
//! be thawed or killed after it fails with an [`AfterImage`]: the image is
//! to be kept.

mod busy;
pub mod cgroup;
mod checkpoint;
pub mod cli;
pub mod diff;
mod error;
pub mod forest;
pub mod inspect;
pub mod mktree;
pub mod progress;
mod restart;
mod restart_tree;
mod restore;
mod run;
mod sys;

pub use checkpoint::{checkpoint, is_pod_init, CheckpointOptions, CheckpointTimes};
pub use error::{failure_json, AfterImage, CheckpointError, RestartFailure};
pub use restart::{restart, RestartInput};
pub use restore::{RestartOptions, RestartOutcome};
pub use run::{run, run_with, RunOptions};
pub use sys::{kernel_has_checkpoint, sys_checkpoint, sys_restart, sys_restart_raw};
