// SPDX-License-Identifier: GPL-2.0

//! Signal state: handlers, blocked masks, alternate stacks, pending signals.
//!
//! C header: [`include/linux/sched/signal.h`](srctree/include/linux/sched/signal.h).
//!
//! Locking: everything is read under the task's `sighand->siglock`
//! (`lock_task_sighand`), where nothing may sleep or allocate: the pending
//! lists are counted first, the buffers allocated with the lock dropped,
//! and the walk redone if a signal arrived meanwhile (a frozen task can
//! still be sent signals). Restart sets current's state with the calls
//! sigaction(2), sigprocmask(2) and kill(2) use, the pending signals last.

use crate::image::{RecordType, SigAction, Sighand, Signals, NSIG, SIGINFO_LEN};
use crate::wrap::task::TaskRef;
use crate::writer::ImageWriter;
use kernel::bindings;
use kernel::error::to_result;
use kernel::prelude::*;

const _: () = assert!(core::mem::size_of::<bindings::kernel_siginfo>() == SIGINFO_LEN);
const _: () = assert!(core::mem::size_of::<bindings::sigset_t>() == 8);

/// Holds `lock_task_sighand` of a task while it lives.
struct SighandGuard<'a> {
    task: &'a TaskRef,
    flags: usize,
    sighand: *mut bindings::sighand_struct,
}

impl<'a> SighandGuard<'a> {
    fn lock(task: &'a TaskRef) -> Result<Self> {
        let mut flags = 0;
        // SAFETY: the task is valid; NULL means it is past exit.
        let sighand = unsafe { bindings::lock_task_sighand(task.as_ptr(), &mut flags) };
        if sighand.is_null() {
            return Err(ESRCH);
        }
        Ok(Self {
            task,
            flags,
            sighand,
        })
    }
}

impl Drop for SighandGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: locked by this guard with these flags.
        unsafe { bindings::unlock_task_sighand(self.task.as_ptr(), &mut self.flags) };
    }
}

/// Number of queued siginfos on `list`.
///
/// # Safety
///
/// The owning task's siglock must be held.
unsafe fn count(list: *mut bindings::list_head) -> usize {
    let mut n = 0;
    // SAFETY: the list is stable under the siglock.
    unsafe {
        let mut pos = (*list).next;
        while pos != list {
            n += 1;
            pos = (*pos).next;
        }
    }
    n
}

/// The bit of signal `sig` in a 64-bit pending mask (0 for a number out
/// of range).
fn sig_bit(sig: i32) -> u64 {
    u32::try_from(sig - 1)
        .ok()
        .and_then(|s| 1u64.checked_shl(s))
        .unwrap_or(0)
}

/// Appends the raw siginfos on `list` to `out`, if they fit without
/// allocating; `None` if they do not. A POSIX timer's own siginfo (the
/// timer's record carries it) is left out: returns the signals that only
/// such siginfos left pending, whose bits the saved mask must not keep.
///
/// # Safety
///
/// The owning task's siglock must be held.
unsafe fn collect(list: *mut bindings::list_head, out: &mut KVec<u8>) -> Option<u64> {
    let off = core::mem::offset_of!(bindings::sigqueue, list);
    let (mut timers, mut others) = (0u64, 0u64);
    // SAFETY: the list links `sigqueue`s through `list`; stable under siglock.
    unsafe {
        let mut pos = (*list).next;
        while pos != list {
            if out.capacity() - out.len() < SIGINFO_LEN {
                return None;
            }
            let q = pos.cast::<u8>().sub(off).cast::<bindings::sigqueue>();
            let sig = (*q).info.__bindgen_anon_1.si_signo;
            if (*q).flags & bindings::SIGQUEUE_PREALLOC as i32 != 0 {
                timers |= sig_bit(sig);
                pos = (*pos).next;
                continue;
            }
            others |= sig_bit(sig);
            let info = core::slice::from_raw_parts(
                core::ptr::addr_of!((*q).info).cast::<u8>(),
                SIGINFO_LEN,
            );
            out.extend_from_slice(info, GFP_ATOMIC).ok()?;
            pos = (*pos).next;
        }
    }
    Some(timers & !others)
}

/// Reads a pending set and its siginfos: the lists are counted, the
/// buffer allocated unlocked, then filled under the lock (retried if the
/// list grew meanwhile). `pick` selects the list from the task.
fn read_pending(
    task: &TaskRef,
    pick: impl Fn(*mut bindings::task_struct) -> *mut bindings::sigpending,
    mut also: impl FnMut(*mut bindings::task_struct, *mut bindings::sighand_struct),
) -> Result<(u64, KVec<u8>)> {
    for _ in 0..8 {
        let n = {
            let _g = SighandGuard::lock(task)?;
            // SAFETY: siglock held; the pending struct is the task's.
            unsafe { count(core::ptr::addr_of_mut!((*pick(task.as_ptr())).list)) }
        };
        let mut buf = KVec::with_capacity((n + 4) * SIGINFO_LEN, GFP_KERNEL)?;
        let g = SighandGuard::lock(task)?;
        let p = pick(task.as_ptr());
        // SAFETY: siglock held.
        let fits = unsafe { collect(core::ptr::addr_of_mut!((*p).list), &mut buf) };
        if let Some(timers_only) = fits {
            // SAFETY: siglock held; a plain read of the mask.
            let mask = unsafe { (*p).signal.sig[0] as u64 } & !timers_only;
            also(task.as_ptr(), g.sighand);
            return Ok((mask, buf));
        }
    }
    Err(EAGAIN)
}

/// Writes a task's signals record.
pub(crate) fn dump_task(w: &mut ImageWriter, task: &TaskRef) -> Result {
    let mut s = Signals::default();
    let (pending, infos) = read_pending(
        task,
        // SAFETY: (the closure) the task is valid.
        |t| unsafe { core::ptr::addr_of_mut!((*t).pending) },
        |t, _| {
            // SAFETY: siglock held: the masks and the altstack are stable.
            // A task frozen inside sigsuspend(2) or ppoll(2) has the call's
            // mask in `blocked` and its own in `saved_sigmask`: the helper
            // gives its own, and the restarted call installs the call's.
            unsafe {
                s.blocked = bindings::ckpt_task_user_sigmask(t);
                s.ss_sp = (*t).sas_ss_sp as u64;
                s.ss_size = (*t).sas_ss_size as u64;
                s.ss_flags = (*t).sas_ss_flags;
            }
        },
    )?;
    s.pending = pending;
    s.nr_info = u32::try_from(infos.len() / SIGINFO_LEN).map_err(|_| E2BIG)?;
    w.record_parts(RecordType::Signals, &[&s.encode(), &infos])
}

/// Writes a process's sighand record (`task` leads its thread group).
pub(crate) fn dump_process(w: &mut ImageWriter, task: &TaskRef) -> Result {
    // On the heap: the table is 2 KiB, too much for a kernel stack frame.
    let mut actions = KVec::from_elem(SigAction::default(), NSIG, GFP_KERNEL)?;
    let (shared, infos) = read_pending(
        task,
        // SAFETY: (the closure) the task and its signal_struct are valid.
        |t| unsafe { core::ptr::addr_of_mut!((*(*t).signal).shared_pending) },
        |_, sh| {
            for (i, a) in actions.iter_mut().enumerate() {
                // SAFETY: siglock held: the actions are stable; the handler
                // and restorer are read as the addresses they are.
                unsafe {
                    let sa = core::ptr::addr_of!((*sh).action[i].sa);
                    a.handler =
                        core::ptr::read(core::ptr::addr_of!((*sa).sa_handler).cast::<u64>());
                    a.flags = (*sa).sa_flags as u64;
                    a.restorer =
                        core::ptr::read(core::ptr::addr_of!((*sa).sa_restorer).cast::<u64>());
                    a.mask = (*sa).sa_mask.sig[0] as u64;
                }
            }
        },
    )?;
    let nr_info = u32::try_from(infos.len() / SIGINFO_LEN).map_err(|_| E2BIG)?;
    let len = Sighand::LEN + infos.len();
    w.begin_record(RecordType::Sighand, len)?;
    for a in actions.iter() {
        w.payload(&a.encode())?;
    }
    w.payload(&Sighand::encode_tail(shared, nr_info))?;
    w.payload(&infos)?;
    w.end_record(len)
}

// Restart.

/// Installs the handlers of a saved sighand payload in current.
pub(crate) fn restore_handlers(sighand: &[u8]) -> Result {
    for (i, a) in Sighand::actions(sighand).enumerate() {
        let a = a.map_err(|_| EINVAL)?;
        let sig = i as i32 + 1;
        if sig == bindings::SIGKILL as i32 || sig == bindings::SIGSTOP as i32 {
            continue;
        }
        // SAFETY: an all-zero k_sigaction is SIG_DFL with no flags.
        let mut ka: bindings::k_sigaction = unsafe { core::mem::zeroed() };
        // SAFETY: the handler and restorer are stored as the user addresses
        // they are (never called by the kernel); the rest are plain fields.
        unsafe {
            core::ptr::write(
                core::ptr::addr_of_mut!(ka.sa.sa_handler).cast::<u64>(),
                a.handler,
            );
            core::ptr::write(
                core::ptr::addr_of_mut!(ka.sa.sa_restorer).cast::<u64>(),
                a.restorer,
            );
        }
        ka.sa.sa_flags = a.flags as usize;
        ka.sa.sa_mask.sig[0] = a.mask as usize;
        // SAFETY: `ka` is a valid action; do_sigaction takes the siglock.
        to_result(unsafe { bindings::do_sigaction(sig, &mut ka, core::ptr::null_mut()) })?;
    }
    Ok(())
}

/// Before anything is restored: the alternate stack is one sigaltstack(2)
/// would set (known flags; a size of at least `MINSIGSTKSZ` that ends in
/// user space, or none).
pub(crate) fn validate(s: &Signals) -> Result {
    const SS_ONSTACK: u32 = 1;
    const SS_DISABLE: u32 = 2;
    const SS_AUTODISARM: u32 = 1 << 31;
    const MINSIGSTKSZ: u64 = 2048;
    let ok_flags = s.ss_flags & !(SS_ONSTACK | SS_DISABLE | SS_AUTODISARM) == 0;
    let ok_stack = if s.ss_size == 0 {
        s.ss_sp == 0
    } else {
        s.ss_size >= MINSIGSTKSZ
            && s.ss_sp
                .checked_add(s.ss_size)
                .is_some_and(|end| end <= crate::image::USER_ADDR_END)
    };
    if !(ok_flags && ok_stack) {
        ckpt_err!(
            "restart: alternate signal stack {:#x}+{:#x} flags {:#x} is not one sigaltstack(2) sets\n",
            s.ss_sp,
            s.ss_size,
            s.ss_flags
        );
        return Err(EINVAL);
    }
    Ok(())
}

/// Blocks every signal (but SIGKILL and SIGSTOP) in the calling task of a
/// tree restart until its own turn sets its saved mask: a signal that its
/// process's restored pending signals or POSIX timers raise before then
/// waits in the queue, instead of being taken (and, unhandled, killing
/// the process) by a thread whose own state is not back yet.
pub(crate) fn block_all() {
    let mut set = bindings::sigset_t { sig: [usize::MAX] };
    // SAFETY: acts on current; SIGKILL and SIGSTOP are dropped from the
    // mask by the call.
    unsafe { bindings::set_current_blocked(&mut set) };
}

/// Sets current's blocked mask and alternate stack.
pub(crate) fn restore_task(s: &Signals) -> Result {
    // SAFETY: current is valid; the altstack fields are current's own and
    // only read by current (signal delivery, sigaltstack(2)).
    unsafe {
        let cur = crate::wrap::task::current();
        (*cur).sas_ss_sp = s.ss_sp as usize;
        (*cur).sas_ss_size = s.ss_size as usize;
        (*cur).sas_ss_flags = s.ss_flags;
        let mut set = bindings::sigset_t {
            sig: [s.blocked as usize],
        };
        // SIGKILL and SIGSTOP are dropped from the mask by the call.
        bindings::set_current_blocked(&mut set);
    }
    Ok(())
}

/// Drops every signal pending for current: its own, and with `process`
/// those pending for its whole process too.
pub(crate) fn flush_pending(process: bool) {
    // SAFETY: acts on current under its siglock (taken by the helper).
    unsafe { bindings::ckpt_flush_pending(process) };
}

/// Queues saved pending signals to current: private ones to the thread,
/// shared ones to the process. Signals whose bit is set without a siginfo
/// are sent as from the kernel.
pub(crate) fn restore_pending(mask: u64, infos: &[u8], shared: bool) -> Result {
    let mut left = mask;
    for raw in infos.chunks_exact(SIGINFO_LEN) {
        // SAFETY: all-zero is a valid kernel_siginfo; the saved bytes are
        // copied over it (they are plain data, checked by the decoder to
        // name a pending signal).
        let mut info: bindings::kernel_siginfo = unsafe { core::mem::zeroed() };
        // SAFETY: `info` has room for SIGINFO_LEN bytes (asserted above).
        unsafe {
            core::ptr::copy_nonoverlapping(
                raw.as_ptr(),
                core::ptr::addr_of_mut!(info).cast::<u8>(),
                SIGINFO_LEN,
            )
        };
        let mut b = [0u8; 4];
        b.copy_from_slice(raw.get(..4).ok_or(EINVAL)?);
        let sig = i32::from_le_bytes(b);
        left &= !(1u64 << (sig - 1));
        send(sig, &mut info, shared)?;
    }
    for sig in 1..=NSIG as i32 {
        if left & (1u64 << (sig - 1)) != 0 {
            // SAFETY: all-zero siginfo, then the signal number and SI_KERNEL.
            let mut info: bindings::kernel_siginfo = unsafe { core::mem::zeroed() };
            // SAFETY: writes the first three ints (si_signo, si_errno, si_code).
            unsafe {
                let p = core::ptr::addr_of_mut!(info).cast::<i32>();
                *p = sig;
                *p.add(2) = bindings::SI_KERNEL as i32;
            }
            send(sig, &mut info, shared)?;
        }
    }
    Ok(())
}

fn send(sig: i32, info: &mut bindings::kernel_siginfo, shared: bool) -> Result {
    // SAFETY: current is valid; the calls take the siglock themselves.
    let r = unsafe {
        let cur = crate::wrap::task::current();
        if shared {
            bindings::do_send_sig_info(sig, info, cur, bindings::pid_type_PIDTYPE_TGID)
        } else {
            bindings::send_sig_info(sig, info, cur)
        }
    };
    to_result(r)
}

/// The shared pending mask and siginfos of a sighand payload (checked by
/// the reader already).
pub(crate) fn shared_pending(sighand: &[u8]) -> Result<(u64, &[u8])> {
    Sighand::pending(sighand).map_err(|_| EINVAL)
}
