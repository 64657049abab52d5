// SPDX-License-Identifier: GPL-2.0
//! Raw wrappers of the two kernel-ckpt system calls (x86_64 numbers), and
//! of clone3(2), which recreates tasks with their saved pids.

use std::os::fd::{AsRawFd, BorrowedFd, RawFd};

use ckpt_image::{RestartReport, SYS_CHECKPOINT, SYS_RESTART};
use nix::errno::Errno;
use nix::libc::{self, c_long, c_ulong};

/// `checkpoint(2)` takes `(pid_t pid, int fd, unsigned long flags)`.
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
    sys_restart_raw(pid, fd.as_raw_fd(), flags).map_err(|(e, _)| e)
}

/// `restart(2)` with a raw fd (-1 for a task of a tree restart, which
/// waits for its coordinator); on failure, the errno and the kernel's
/// report of which task failed at which record.
pub fn sys_restart_raw(pid: i32, fd: RawFd, flags: u64) -> Result<(), (Errno, RestartReport)> {
    let mut report = RestartReport::default();
    // SAFETY: plain integers, and a pointer to a `struct restart_report`
    // (same layout, checked against the uapi header by the image crate's
    // tests) that the kernel fills on failure and that outlives the call.
    let ret = unsafe {
        libc::syscall(
            c_long::from(SYS_RESTART),
            c_long::from(pid),
            c_long::from(fd),
            c_ulong::from(flags),
            &mut report as *mut RestartReport,
        )
    };
    Errno::result(ret).map(drop).map_err(|e| (e, report))
}

/// Whether the running kernel implements `checkpoint(2)` at all.
///
/// Probes with every flag bit set and fd -1, which any implementation
/// rejects (`EINVAL` or `EBADF`) before looking at anything else.
pub fn kernel_has_checkpoint() -> bool {
    syscall3(SYS_CHECKPOINT, 0, -1, u64::MAX) != Err(Errno::ENOSYS)
}

/// `struct clone_args` of clone3(2), up to `cgroup`.
#[repr(C)]
#[derive(Default)]
pub(crate) struct CloneArgs {
    pub flags: u64,
    pub pidfd: u64,
    pub child_tid: u64,
    pub parent_tid: u64,
    pub exit_signal: u64,
    pub stack: u64,
    pub stack_size: u64,
    pub tls: u64,
    pub set_tid: u64,
    pub set_tid_size: u64,
    pub cgroup: u64,
}

pub(crate) const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// clone3(2): the child's pid, 0 in the child, or -1 with errno set.
pub(crate) fn clone3(args: &CloneArgs) -> i64 {
    // SAFETY: clone3 without CLONE_VM and without a new stack forks: the
    // child continues on a copy of this (single-threaded) process.
    unsafe {
        nix::libc::syscall(
            nix::libc::SYS_clone3,
            args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    }
}

/// Makes every mount of this process's mount namespace private, as
/// `mount --make-rprivate /` does: nothing mounted in it from now on shows
/// in the namespace it was copied from, nor the other way round. One
/// system call on static strings: async-signal-safe, for a child between
/// `clone3` and its work.
pub fn make_mounts_private() -> Result<(), Errno> {
    let none: *const libc::c_char = std::ptr::null();
    // SAFETY: a static NUL-terminated string or NULL, as mount(2) takes
    // them.
    let ret = unsafe {
        libc::mount(
            none,
            c"/".as_ptr(),
            none,
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        )
    };
    Errno::result(ret).map(drop)
}

/// Sets the loopback device of this process's network namespace up, as
/// `ip link set lo up` does (`SIOCSIFFLAGS` with `IFF_UP`). A few system
/// calls on a stack buffer: async-signal-safe.
pub fn loopback_up() -> Result<(), Errno> {
    // SAFETY: socket(2) takes plain integers.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: plain data, all zeros is valid.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in req.ifr_name.iter_mut().zip(b"lo") {
        *d = *s as libc::c_char;
    }
    // SAFETY: `req` is a valid ifreq naming the device; the kernel reads
    // and writes only it.
    let mut ret = unsafe { libc::ioctl(fd, libc::SIOCGIFFLAGS as _, &mut req) };
    if ret == 0 {
        // SAFETY: SIOCGIFFLAGS filled the flags member of the union.
        unsafe { req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
        // SAFETY: as above.
        ret = unsafe { libc::ioctl(fd, libc::SIOCSIFFLAGS as _, &req) };
    }
    let err = Errno::last();
    // SAFETY: our own descriptor.
    unsafe { libc::close(fd) };
    if ret == 0 {
        Ok(())
    } else {
        Err(err)
    }
}
