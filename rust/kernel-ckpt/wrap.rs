// SPDX-License-Identifier: GPL-2.0

//! The thin layer over `bindings::`: counted references to kernel objects,
//! the guards of the locks kernel-ckpt takes, the calling task, and the
//! errnos the kernel crate does not name. Each type states its invariant
//! and each `unsafe` block its reason here, so that the files of task
//! state and of object kinds read (mostly) as safe Rust; what is left in
//! them is the state itself (registers, signal masks, a pipe's buffers),
//! read where only that file needs it.

pub(crate) mod creds;
pub(crate) mod errno;
pub(crate) mod file;
pub(crate) mod mm;
pub(crate) mod path;
pub(crate) mod sync;
pub(crate) mod task;
