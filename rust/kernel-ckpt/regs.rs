// SPDX-License-Identifier: GPL-2.0

//! Registers and FPU state of a stopped task, through the ELF regset
//! interface that core dumps and `PTRACE_GETREGSET` use.
//!
//! C header: [`include/linux/regset.h`](srctree/include/linux/regset.h).

use crate::image::{Regs, XstateHeader, MAX_XSTATE_SIZE};
use crate::task::TaskRef;
use kernel::bindings;
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
    let rs = regsets.iter().find(|r| r.core_note_type == note).ok_or(EINVAL)?;
    let size = rs.n.checked_mul(rs.size).filter(|s| *s <= max).ok_or(EINVAL)?;
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
    Ok((XstateHeader { xfeatures: u64::from_le_bytes(b), size }, buf))
}
