// SPDX-License-Identifier: GPL-2.0

//! kernel-ckpt: checkpoint-restart of process trees.
//!
//! C header: [`include/uapi/linux/checkpoint.h`](srctree/include/uapi/linux/checkpoint.h).
//!
//! The data path shows in the file list:
//!
//! - `checkpoint.rs`: `checkpoint(2)`: validates its arguments, collects the
//!   frozen tree and streams its records to the caller's file (`dump_task`).
//! - `forest.rs`: walks the process tree under `tasklist_lock`, checks
//!   permissions and the freezer, and turns each task into a forest row.
//! - `restart.rs`: `restart(2)` and its three uses.
//! - `restore.rs`: the restore of one task from its records.
//! - `tree.rs`: the coordinator of a tree restart, all or nothing.
//! - Task state, one file per piece: `regs.rs` (registers and FPU state),
//!   `mm.rs` (memory map and pages), `fdtable.rs` (descriptors, working
//!   and root directory, umask), `signal.rs` (handlers, masks, altstacks,
//!   pending signals), `posix_timers.rs` (POSIX timers), `sched.rs`
//!   (scheduling), `task.rs` (ids, credentials, limits and the rest).
//! - A pod's namespaces: `tree.rs` (UTS, the coordinator's checks),
//!   `sysvshm.rs`, `sysvsem.rs`, `sysvmsg.rs`, `posix_mq.rs` (IPC),
//!   `cgroup.rs`, `tmpfs.rs` (its private `/dev/shm` and `/tmp`).
//! - Shared objects, one file per kind: `open_file.rs`, `pipe.rs`,
//!   `shmem.rs`, `eventfd.rs`, `signalfd.rs`, `timerfd.rs`, `epoll.rs`,
//!   `unix.rs`, `memfd.rs`, `fifo.rs`; file locks in `locks.rs`;
//!   `objects.rs` is the table of kinds, `objhash.rs` the object hash
//!   (checkpoint) and table (restart).
//! - `writer.rs` / `reader.rs`: the image stream written and read, each
//!   record checked against the image crate's order.
//! - `wrap/`: the thin layer over `bindings::`: tasks (`ARef<Task>`),
//!   credentials, files and their position lock, memory maps, paths,
//!   `tasklist_lock` and completions, named errnos.
//! - `layout.rs`: the boot self-check of bindgen's structure layouts.
//! - `log.rs`: kernel log lines a caller can provoke: rate-limited, escaped.
//! - `image/`: the image format, a `no_std` crate shared with the host tools.

use kernel::bindings;
use kernel::ffi::{c_int, c_long, c_ulong};
use kernel::prelude::*;
use kernel::uaccess::UserSlice;

const __LOG_PREFIX: &[u8] = b"ckpt\0";

// The image crate is a separate `#![no_std]`, `core`-only crate on the host;
// here it is a module, and only part of it (the encoders) is used.
#[allow(
    dead_code,
    unreachable_pub,
    unused_attributes,
    unused_imports,
    missing_docs
)]
#[path = "image/src/lib.rs"]
mod image;

#[macro_use]
mod log;

mod cgroup;
mod checkpoint;
mod deleted;
mod epoll;
mod eventfd;
mod fdtable;
mod fifo;
mod forest;
mod fown;
// Its `same_fields!` serves `packet.rs` too.
#[macro_use]
mod inet;
mod inotify;
mod layout;
mod locks;
mod memfd;
mod mm;
mod objects;
mod objhash;
mod open_file;
mod packet;
mod pidfd;
mod pipe;
mod posix_mq;
mod posix_timers;
mod pty;
mod reader;
mod regs;
mod restart;
mod restore;
mod sched;
mod shmem;
mod signal;
mod signalfd;
mod sysvmsg;
mod sysvsem;
mod sysvshm;
mod task;
mod timerfd;
mod tmpfs;
mod tree;
mod unix;
mod wrap;
mod writer;

// The uapi header (seen through bindgen) and the image crate must agree.
const _: () = {
    assert!(image::CHECKPOINT_SUBTREE == bindings::CHECKPOINT_SUBTREE as u64);
    assert!(image::CHECKPOINT_TCP_SILENT == bindings::CHECKPOINT_TCP_SILENT as u64);
    assert!(image::CHECKPOINT_COW == bindings::CHECKPOINT_COW as u64);
    assert!(image::CHECKPOINT_FLAGS_MASK == bindings::CHECKPOINT_FLAGS_MASK as u64);
    assert!(image::RESTART_FLAGS_MASK == bindings::RESTART_FLAGS_MASK as u64);
    assert!(image::RESTART_DELETED_HERE == bindings::RESTART_DELETED_HERE as u64);
    assert!(image::IMAGE_VERSION == bindings::CHECKPOINT_IMAGE_VERSION);
    assert!(image::COMM_LEN == bindings::TASK_COMM_LEN as usize);
};

/// Converts a result into a syscall return value.
///
/// An `-ERESTART*` from a blocking write is turned into `-EINTR`: the image
/// stream was partly written, so the call must not be restarted transparently.
fn to_syscall_ret(r: Result) -> c_long {
    match r {
        Ok(()) => 0,
        Err(e) => {
            let errno = e.to_errno();
            let restart = [
                ERESTARTSYS,
                ERESTARTNOINTR,
                ERESTARTNOHAND,
                ERESTART_RESTARTBLOCK,
            ];
            if restart.iter().any(|r| r.to_errno() == errno) {
                EINTR.to_errno() as c_long
            } else {
                errno as c_long
            }
        }
    }
}

/// `checkpoint(2)`, called by the C `SYSCALL_DEFINE3` stub in kernel/checkpoint.c.
#[no_mangle]
pub extern "C" fn ckpt_sys_checkpoint(pid: bindings::pid_t, fd: c_int, flags: c_ulong) -> c_long {
    if !layout::verified() {
        return to_syscall_ret(Err(wrap::errno::enosys()));
    }
    to_syscall_ret(checkpoint::checkpoint(pid, fd, flags))
}

/// `restart(2)`, called by the C `SYSCALL_DEFINE4` stub in kernel/checkpoint.c.
#[no_mangle]
pub extern "C" fn ckpt_sys_restart(
    pid: bindings::pid_t,
    fd: c_int,
    flags: c_ulong,
    report: *mut bindings::restart_report,
) -> c_long {
    if !layout::verified() {
        return to_syscall_ret(Err(wrap::errno::enosys()));
    }
    let mut failed = restore::Report::default();
    match restart::restart(pid, fd, flags, &mut failed) {
        // The restored task's rax, which may be an -ERESTART* code: the
        // exit path restarts the interrupted call (restart.rs).
        Ok(ax) => ax as c_long,
        Err(e) => {
            let ret = to_syscall_ret(Err(e));
            if !report.is_null() {
                let bytes = failed.encode(ret as i32);
                let mut w = UserSlice::new(report as usize, bytes.len()).writer();
                if w.write_slice(&bytes).is_err() {
                    return EFAULT.to_errno() as c_long;
                }
            }
            ret
        }
    }
}

/// Boot-time self-check, called from a late initcall in kernel/checkpoint.c.
#[no_mangle]
pub extern "C" fn ckpt_self_check() -> c_int {
    layout::self_check();
    // A mismatch disables the system calls; it never fails the boot.
    0
}
