// SPDX-License-Identifier: GPL-2.0
//! Threads of a recreated process: `clone3` with `CLONE_THREAD` and the
//! saved tid, through an assembly trampoline so that the new thread runs
//! no libc or Rust code at all (it has no TLS, and the Rust runtime does
//! not know it): it only makes the final system call and exits.

use std::num::NonZeroUsize;

use nix::errno::Errno;
use nix::libc;
use nix::sys::mman::{mmap_anonymous, munmap, MapFlags, ProtFlags};

use crate::forest::Pid;
use crate::sys::CloneArgs;

/// Size of a thread's stack: the trampoline itself needs none, this is
/// room for the kernel's signal frames.
const THREAD_STACK: usize = 64 * 1024;

/// Creates the thread `tid` of the calling process, which makes the system
/// call `call` = `[nr, a0, a1, a2]` (fourth argument 0) and exits.
pub(super) fn spawn(tid: Pid, call: [i64; 4]) -> Result<(), Errno> {
    let len = NonZeroUsize::new(THREAD_STACK).ok_or(Errno::EINVAL)?;
    // SAFETY: a fresh private anonymous mapping, used only as the new
    // thread's stack and never unmapped (restart(2) replaces the memory).
    let stack = unsafe {
        mmap_anonymous(
            None,
            len,
            ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
            MapFlags::MAP_PRIVATE | MapFlags::MAP_STACK,
        )
    }?;
    let set_tid = [tid];
    let flags = libc::CLONE_VM
        | libc::CLONE_FS
        | libc::CLONE_FILES
        | libc::CLONE_SIGHAND
        | libc::CLONE_THREAD
        | libc::CLONE_SYSVSEM;
    let args = CloneArgs {
        flags: flags as u64,
        stack: stack.as_ptr() as u64,
        stack_size: THREAD_STACK as u64,
        set_tid: set_tid.as_ptr() as u64,
        set_tid_size: 1,
        ..Default::default()
    };
    // SAFETY: `args` describes a thread on the fresh stack; the new thread
    // runs only the trampoline's system calls and never returns into Rust.
    let ret = unsafe { clone3_thread(&args, call) };
    if ret < 0 {
        // SAFETY: nothing uses the stack: the thread was not created.
        let _ = unsafe { munmap(stack, THREAD_STACK) };
        return Err(Errno::from_raw(i32::try_from(-ret).unwrap_or(libc::EINVAL)));
    }
    Ok(())
}

/// `clone3(args)` for a thread: in the new thread, on its own stack, makes
/// the system call `call` = `[nr, a0, a1, a2]` (fourth argument 0) and then
/// `exit(125)` (the thread's exit, nr 60), touching no memory. Returns the
/// tid or `-errno` in the caller.
///
/// # Safety
///
/// `args` must describe a `CLONE_VM | CLONE_THREAD` clone with a valid
/// stack that stays mapped for the thread's life.
unsafe fn clone3_thread(args: &CloneArgs, call: [i64; 4]) -> i64 {
    let ret: i64;
    // SAFETY: the caller guarantees the stack; the parent's side is a plain
    // system call (rcx and r11 clobbered); the child's side only loads
    // registers and makes system calls, and never returns.
    unsafe {
        core::arch::asm!(
            "syscall",
            "test rax, rax",
            "jnz 2f",
            "mov rax, r12",
            "mov rdi, r13",
            "mov rsi, r14",
            "mov rdx, r15",
            "xor r10d, r10d",
            "xor r8d, r8d",
            "xor r9d, r9d",
            "syscall",
            "mov eax, 60",
            "mov edi, 125",
            "syscall",
            "ud2",
            "2:",
            inlateout("rax") libc::SYS_clone3 => ret,
            in("rdi") args as *const CloneArgs,
            in("rsi") std::mem::size_of::<CloneArgs>(),
            in("r12") call[0],
            in("r13") call[1],
            in("r14") call[2],
            in("r15") call[3],
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    ret
}
