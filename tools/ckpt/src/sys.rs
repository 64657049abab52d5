// SPDX-License-Identifier: GPL-2.0
//! Raw wrappers of the two kernel-ckpt system calls (x86_64 numbers).

use std::os::fd::{AsRawFd, BorrowedFd, RawFd};

use ckpt_image::{SYS_CHECKPOINT, SYS_RESTART};
use nix::errno::Errno;
use nix::libc::{self, c_long, c_ulong};

/// Both calls take `(pid_t pid, int fd, unsigned long flags)`.
fn syscall3(nr: i64, pid: i32, fd: RawFd, flags: u64) -> Result<(), Errno> {
    // SAFETY: the arguments are plain integers, no pointers: the kernel
    // reads nothing from and writes nothing to our memory.
    let ret = unsafe {
        libc::syscall(
            c_long::from(nr),
            c_long::from(pid),
            c_long::from(fd),
            c_ulong::from(flags),
        )
    };
    Errno::result(ret).map(drop)
}

/// `checkpoint(2)`: writes an image of the tree rooted at `pid` to `fd`.
pub fn sys_checkpoint(pid: i32, fd: BorrowedFd<'_>, flags: u64) -> Result<(), Errno> {
    syscall3(SYS_CHECKPOINT, pid, fd.as_raw_fd(), flags)
}

/// `restart(2)`: restores the image read from `fd`.
pub fn sys_restart(pid: i32, fd: BorrowedFd<'_>, flags: u64) -> Result<(), Errno> {
    syscall3(SYS_RESTART, pid, fd.as_raw_fd(), flags)
}

/// Whether the running kernel implements `checkpoint(2)` at all.
///
/// Probes with every flag bit set and fd -1, which any implementation
/// rejects (`EINVAL` or `EBADF`) before looking at anything else.
pub fn kernel_has_checkpoint() -> bool {
    syscall3(SYS_CHECKPOINT, 0, -1, u64::MAX) != Err(Errno::ENOSYS)
}
