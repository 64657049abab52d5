// SPDX-License-Identifier: GPL-2.0

//! Registers and FPU state of a stopped task, through the ELF regset
//! interface that core dumps and `PTRACE_GETREGSET` use.
//!
//! C header: [`include/linux/regset.h`](srctree/include/linux/regset.h).

use crate::image::{
    Regs, RestartBlock, XstateHeader, MAX_XSTATE_SIZE, RESTART_FUTEX, RESTART_NANOSLEEP,
    RESTART_POLL,
};
use crate::wrap::task::TaskRef;
use kernel::bindings;
use kernel::error::to_result;
use kernel::prelude::*;

/// Reads the regset with ELF note type `note` of `task` (which must be
/// stopped and off the CPU) into a new buffer.
fn read_regset(task: &TaskRef, note: u32, max: u32) -> Result<KVec<u8>> {
    // SAFETY: the task is valid; the view is a static table of its arch.
    let view = unsafe { bindings::task_user_regset_view(task.as_ptr()) };
    if view.is_null() {
        return Err(EINVAL);
    }
    // SAFETY: `view` is valid and static; `regsets` has `n` entries.
    let regsets = unsafe { core::slice::from_raw_parts((*view).regsets, (*view).n as usize) };
    let rs = regsets
        .iter()
        .find(|r| r.core_note_type == note)
        .ok_or(EINVAL)?;
    let size =
        rs.n.checked_mul(rs.size)
            .filter(|s| *s <= max)
            .ok_or(EINVAL)?;
    let mut buf = KVec::from_elem(0u8, size as usize, GFP_KERNEL)?;
    // SAFETY: the task is valid and stopped; `rs` is one of its regsets;
    // `buf` has room for `size` bytes.
    let n = unsafe { bindings::regset_get(task.as_ptr(), rs, size, buf.as_mut_ptr().cast()) };
    if n < 0 {
        return Err(Error::from_errno(n));
    }
    if n as u32 != size {
        return Err(EIO);
    }
    Ok(buf)
}

/// General-purpose registers, fs/gs base included (`NT_PRSTATUS`).
pub(crate) fn regs(task: &TaskRef) -> Result<Regs> {
    let buf = read_regset(task, bindings::NT_PRSTATUS, Regs::LEN as u32)?;
    let mut regs = [0u64; 27];
    for (r, chunk) in regs.iter_mut().zip(buf.chunks_exact(8)) {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        *r = u64::from_ne_bytes(b);
    }
    if buf.len() != Regs::LEN {
        return Err(EIO);
    }
    Ok(Regs(regs))
}

/// The FPU state in uabi XSAVE format (`NT_X86_XSTATE`), with its header.
pub(crate) fn xstate(task: &TaskRef) -> Result<(XstateHeader, KVec<u8>)> {
    let buf = read_regset(task, bindings::NT_X86_XSTATE, MAX_XSTATE_SIZE)?;
    // xstate_bv: the first 8 bytes of the XSAVE header at offset 512.
    let bv = buf.get(512..520).ok_or(EIO)?;
    let mut b = [0u8; 8];
    b.copy_from_slice(bv);
    let size = u32::try_from(buf.len()).map_err(|_| EIO)?;
    Ok((
        XstateHeader {
            xfeatures: u64::from_le_bytes(b),
            size,
        },
        buf,
    ))
}

// Restart: loading saved registers into the calling task.

/// The `eflags` bits user space may set (ptrace's `FLAG_MASK`): CF, PF, AF,
/// ZF, SF, TF, DF, OF, RF, AC. Others (IF, IOPL, VM, …) stay the kernel's.
const USER_EFLAGS: u64 = 0x1 | 0x4 | 0x10 | 0x40 | 0x80 | 0x100 | 0x400 | 0x800 | 0x10000 | 0x40000;
/// `TASK_SIZE_MAX` with 4-level page tables: fs/gs base must be below it.
const TASK_SIZE_MAX: u64 = 0x7fff_ffff_f000;

/// Checks saved registers before the point of no return.
pub(crate) fn validate(r: &Regs) -> Result {
    let [.., fs_base, gs_base, _, _, _, _] = r.0;
    if fs_base >= TASK_SIZE_MAX || gs_base >= TASK_SIZE_MAX || r.ip() >= TASK_SIZE_MAX {
        return Err(EINVAL);
    }
    Ok(())
}

/// Loads the general-purpose registers and fs/gs base into the calling
/// task's user context. The selectors are the user ones and only the
/// user-settable flags are taken, as ptrace does. `rax` is not written
/// here: restart(2) returns it, and the syscall exit stores it.
pub(crate) fn restore(r: &Regs) -> Result {
    #[rustfmt::skip]
    let [
        r15, r14, r13, r12, bp, bx, r11, r10, r9, r8, _ax, cx, dx, si, di,
        orig_ax, ip, _cs, flags, sp, _ss, fs_base, gs_base, ..
    ] = r.0;
    // SAFETY: current's user register frame lives at the top of its kernel
    // stack for the whole system call and only current writes it.
    unsafe {
        let p = &mut *bindings::current_pt_regs();
        p.r15 = r15 as usize;
        p.r14 = r14 as usize;
        p.r13 = r13 as usize;
        p.r12 = r12 as usize;
        p.bp = bp as usize;
        p.bx = bx as usize;
        p.r11 = r11 as usize;
        p.r10 = r10 as usize;
        p.r9 = r9 as usize;
        p.r8 = r8 as usize;
        p.cx = cx as usize;
        p.dx = dx as usize;
        p.si = si as usize;
        p.di = di as usize;
        p.orig_ax = orig_ax as usize;
        p.ip = ip as usize;
        p.sp = sp as usize;
        p.flags = ((p.flags as u64 & !USER_EFLAGS) | (flags & USER_EFLAGS)) as usize;
        p.__bindgen_anon_1.csx = u64::from(bindings::__USER_CS);
        p.__bindgen_anon_2.ssx = u64::from(bindings::__USER_DS);
    }
    // SAFETY: current is valid; ARCH_SET_FS/GS load the CPU's base
    // registers for current as arch_prctl(2) does.
    unsafe {
        let cur = crate::wrap::task::current();
        to_result(
            bindings::do_arch_prctl_64(cur, bindings::ARCH_SET_FS as i32, fs_base as usize) as i32,
        )?;
        to_result(
            bindings::do_arch_prctl_64(cur, bindings::ARCH_SET_GS as i32, gs_base as usize) as i32,
        )?;
    }
    Ok(())
}

/// Loads a saved XSAVE image as the calling task's FPU state.
pub(crate) fn restore_xstate(buf: &[u8]) -> Result {
    // SAFETY: `buf` is a complete XSAVE image (its size was checked against
    // the record); the C side validates its header and features.
    to_result(unsafe { bindings::ckpt_fpu_restore_current(buf.as_ptr().cast()) })
}

/// How `task`'s interrupted system call resumes, from its restart block:
/// an interrupted relative nanosleep or a poll with the time it had left,
/// or nothing.
pub(crate) fn restart_block(task: &TaskRef) -> RestartBlock {
    // SAFETY: all-zero is a valid ckpt_nanosleep.
    let mut ns: bindings::ckpt_nanosleep = unsafe { core::mem::zeroed() };
    // SAFETY: the task is valid and stopped: its restart block is stable.
    if unsafe { bindings::ckpt_nanosleep_get(task.as_ptr(), &mut ns) } == 1 {
        RestartBlock {
            kind: RESTART_NANOSLEEP,
            clockid: ns.clockid,
            ts_type: ns.type_,
            rmtp: ns.rmtp,
            aux: 0,
            remaining_ns: ns.remaining_ns,
        }
    } else {
        // SAFETY: all-zero is a valid ckpt_poll.
        let mut p: bindings::ckpt_poll = unsafe { core::mem::zeroed() };
        // SAFETY: the task is valid and stopped: its restart block is stable.
        if unsafe { bindings::ckpt_poll_get(task.as_ptr(), &mut p) } == 1 {
            RestartBlock {
                kind: RESTART_POLL,
                clockid: i32::try_from(p.nfds).unwrap_or(i32::MAX),
                ts_type: 0,
                rmtp: p.ufds,
                aux: 0,
                remaining_ns: p.remaining_ns,
            }
        } else {
            // SAFETY: all-zero is a valid ckpt_futex.
            let mut f: bindings::ckpt_futex = unsafe { core::mem::zeroed() };
            // SAFETY: the task is valid and stopped: its restart block is
            // stable.
            if unsafe { bindings::ckpt_futex_get(task.as_ptr(), &mut f) } == 1 {
                RestartBlock {
                    kind: RESTART_FUTEX,
                    clockid: f.flags as i32,
                    ts_type: f.val,
                    rmtp: f.uaddr,
                    aux: f.bitset,
                    remaining_ns: f.remaining_ns,
                }
            } else {
                RestartBlock::default()
            }
        }
    }
}

/// Points the calling task's restart block at the saved call, or at
/// `do_no_restart_syscall` (a restarted call then fails with `EINTR`).
pub(crate) fn restore_restart_block(rb: &RestartBlock) -> Result {
    if rb.kind == RESTART_POLL {
        let p = bindings::ckpt_poll {
            ufds: rb.rmtp,
            nfds: u32::try_from(rb.clockid).map_err(|_| EINVAL)?,
            reserved: 0,
            remaining_ns: rb.remaining_ns,
        };
        // SAFETY: `p` is valid; the C side checks it, and poll(2)'s own
        // checks run when the call resumes.
        return to_result(unsafe { bindings::ckpt_poll_set(&p) });
    }
    if rb.kind == RESTART_FUTEX {
        let f = bindings::ckpt_futex {
            uaddr: rb.rmtp,
            val: rb.ts_type,
            flags: rb.clockid as u32,
            bitset: rb.aux,
            reserved: 0,
            remaining_ns: rb.remaining_ns,
        };
        // SAFETY: `f` is valid; the C side checks the flags, and
        // futex_wait()'s own checks run when the call resumes.
        return to_result(unsafe { bindings::ckpt_futex_set(&f) });
    }
    if rb.kind != RESTART_NANOSLEEP {
        // SAFETY: updates current's own restart block.
        unsafe { bindings::ckpt_reset_restart_block() };
        return Ok(());
    }
    let ns = bindings::ckpt_nanosleep {
        clockid: rb.clockid,
        type_: rb.ts_type,
        rmtp: rb.rmtp,
        remaining_ns: rb.remaining_ns,
    };
    // SAFETY: `ns` is valid; the C side checks the clock and type.
    to_result(unsafe { bindings::ckpt_nanosleep_set(&ns) })
}
