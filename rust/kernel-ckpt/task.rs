// SPDX-License-Identifier: GPL-2.0

//! Counted references to tasks and the task state kernel-ckpt reads.
//!
//! C headers: [`include/linux/sched.h`](srctree/include/linux/sched.h),
//! [`include/linux/sched/signal.h`](srctree/include/linux/sched/signal.h),
//! [`include/linux/sched/jobctl.h`](srctree/include/linux/sched/jobctl.h).

use crate::image::{TaskMisc, CAP_VALID_MASK, MISC_NO_NEW_PRIVS};
use crate::wrap::task::TaskRef;
use kernel::bindings;
use kernel::error::to_result;
use kernel::prelude::*;

/// The supplementary groups of `task` (current for the caller's own), as
/// seen from the caller's user namespace.
fn groups_of(task: *mut bindings::task_struct) -> Result<KVec<u32>> {
    for _ in 0..4 {
        // SAFETY: the task is valid; with no room the helper only counts.
        let n = unsafe { bindings::ckpt_task_groups(task, core::ptr::null_mut(), 0) };
        let n = usize::try_from(n).map_err(|_| EINVAL)?;
        let mut v = KVec::from_elem(0u32, n, GFP_KERNEL)?;
        // SAFETY: `v` has room for `n` gids; the helper reads the task's
        // credentials under RCU.
        let got = unsafe { bindings::ckpt_task_groups(task, v.as_mut_ptr(), n as i32) };
        if usize::try_from(got).ok() == Some(n) {
            return Ok(v);
        }
        // The task changed its groups meanwhile (it can't while frozen).
    }
    Err(EAGAIN)
}

/// Reads the odds and ends of a stopped task: rseq registration, robust
/// list, clear_child_tid, parent-death signal, personality, its process's
/// resource limits and flags, and its supplementary groups (returned as
/// the bytes that follow the record's fixed part).
pub(crate) fn misc(task: &TaskRef) -> Result<(TaskMisc, KVec<u8>)> {
    let groups = groups_of(task.as_ptr())?;
    let mut bytes = KVec::with_capacity(groups.len() * 4, GFP_KERNEL)?;
    for g in groups.iter() {
        bytes.extend_from_slice(&g.to_le_bytes(), GFP_KERNEL)?;
    }
    let mut m = misc_fixed(task);
    m.stop = stop_of(task).inspect_err(|_| {
        ckpt_err!(
            "checkpoint: pid {} is in a group stop or continue still under way (SIGSTOP, SIGTSTP or SIGCONT just sent)\n",
            task.vpid()
        );
    })?;
    m.ngroups = u32::try_from(groups.len()).map_err(|_| E2BIG)?;
    Ok((m, bytes))
}

fn misc_fixed(task: &TaskRef) -> TaskMisc {
    let t = task.as_ptr();
    let mut m = TaskMisc::default();
    // SAFETY: the task is valid and stopped: these fields only change by
    // the task itself (or, for the limits, under task_lock of its leader,
    // taken here).
    unsafe {
        m.rseq = (*t).rseq as u64;
        m.rseq_len = (*t).rseq_len;
        m.rseq_sig = (*t).rseq_sig;
        m.robust_list = (*t).robust_list as u64;
        m.clear_child_tid = (*t).clear_child_tid as u64;
        m.pdeath_signal = (*t).pdeath_signal;
        m.personality = (*t).personality;
        let leader = (*t).group_leader;
        bindings::task_lock(leader);
        for (dst, src) in m.rlimits.iter_mut().zip((*(*t).signal).rlim.iter()) {
            *dst = (src.rlim_cur as u64, src.rlim_max as u64);
        }
        bindings::task_unlock(leader);
        bindings::ckpt_task_ids(t, m.ids.as_mut_ptr());
        bindings::ckpt_task_caps(t, m.caps.as_mut_ptr(), &mut m.securebits);
        if bindings::ckpt_no_new_privs(t) {
            m.flags |= MISC_NO_NEW_PRIVS;
        }
        if bindings::ckpt_task_dumpable(t) == 0 {
            m.flags |= crate::image::MISC_NOT_DUMPABLE;
        }
        bindings::ckpt_itimers_get(t, m.itimers.as_mut_ptr());
        if bindings::ckpt_is_child_subreaper(t) {
            m.flags |= crate::image::MISC_CHILD_SUBREAPER;
        }
    }
    m
}

/// The gids of a task-misc record's tail.
pub(crate) fn parse_groups(bytes: &[u8]) -> Result<KVec<u32>> {
    let mut v = KVec::with_capacity(bytes.len() / 4, GFP_KERNEL)?;
    for g in bytes.chunks_exact(4) {
        let mut b = [0u8; 4];
        b.copy_from_slice(g);
        v.push(u32::from_le_bytes(b), GFP_KERNEL)?;
    }
    Ok(v)
}

/// Whether `a` and `b` hold the same gids, in any order.
fn same_groups(a: &[u32], b: &[u32]) -> bool {
    a.len() == b.len() && a.iter().all(|g| b.contains(g)) && b.iter().all(|g| a.contains(g))
}

/// Before the point of no return: restart never raises a hard limit above
/// the caller's own unless the caller may (CAP_SYS_RESOURCE), as
/// setrlimit(2) would refuse, and never takes ids or supplementary groups
/// the caller could not take with setresuid(2)/setresgid(2)/setgroups(2).
pub(crate) fn check_misc(m: &TaskMisc, groups: &[u32]) -> Result {
    // setgroups(2) needs CAP_SETGID: without it, only the caller's own
    // supplementary groups can be taken.
    let ours = groups_of(crate::wrap::task::current())?;
    if !same_groups(groups, &ours) && !capable(bindings::CAP_SETGID) {
        ckpt_err!("restart: the saved supplementary groups are not the caller's to take\n");
        return Err(EPERM);
    }
    let mut ours = [0u32; 8];
    // SAFETY: current is valid; the helper reads its ids under RCU.
    unsafe { bindings::ckpt_task_ids(crate::wrap::task::current(), ours.as_mut_ptr()) };
    for (caps, range) in [(bindings::CAP_SETUID, 0..4), (bindings::CAP_SETGID, 4..8)] {
        // SAFETY: capable() only reads current's credentials.
        let may = unsafe { bindings::capable(caps as i32) };
        let saved = m.ids.get(range.clone()).unwrap_or(&[]);
        let have = ours.get(range.start..range.start + 3).unwrap_or(&[]);
        if !may && saved.iter().any(|id| !have.contains(id)) {
            ckpt_err!("restart: the saved uids/gids are not the caller's to take\n");
            return Err(EPERM);
        }
    }
    // SAFETY: current and its signal_struct are valid; a racy read of the
    // caller's own limits is what setrlimit compares against too.
    let ours = unsafe { &(*(*crate::wrap::task::current()).signal).rlim };
    // SAFETY: a sysctl, read as setrlimit(2) reads it.
    let nr_open = u64::from(unsafe {
        core::ptr::read_volatile(core::ptr::addr_of!(bindings::sysctl_nr_open))
    });
    for (i, ((cur, max), have)) in m.rlimits.iter().zip(ours.iter()).enumerate() {
        // SAFETY: the LSM hook setrlimit(2) calls, for current.
        let r = unsafe { bindings::ckpt_may_setrlimit(i as u32, *cur, *max) };
        if r != 0 {
            ckpt_err!(
                "restart: resource limit {} refused by the security module\n",
                i
            );
            return Err(Error::from_errno(r));
        }
        if *max > have.rlim_max as u64 && !capable(bindings::CAP_SYS_RESOURCE) {
            ckpt_err!(
                "restart: resource limit {} above the caller's hard limit\n",
                i
            );
            return Err(EPERM);
        }
        if i == bindings::RLIMIT_NOFILE as usize && *max > nr_open {
            ckpt_err!("restart: RLIMIT_NOFILE above fs.nr_open\n");
            return Err(EPERM);
        }
    }
    check_caps(m)
}

/// `CAP_SETPCAP`, and the securebits that matter here.
const CAP_SETPCAP: u32 = 8;
const SECURE_ALL_LOCKS: u32 = 0xaa;
const SECBIT_NO_CAP_AMBIENT_RAISE: u32 = 1 << 6;

/// The saved capability sets and securebits are ones the caller could
/// give itself: capset(2) (permitted only shrinks; inheritable grows only
/// within the caller's permitted set, or its bounding set with
/// CAP_SETPCAP), `PR_CAPBSET_DROP` (the bounding set only shrinks, with
/// CAP_SETPCAP), `PR_CAP_AMBIENT_RAISE` and `PR_SET_SECUREBITS` (with
/// CAP_SETPCAP, never changing a locked bit). The decoder already checked
/// that effective ⊆ permitted and ambient ⊆ permitted ∩ inheritable.
fn check_caps(m: &TaskMisc) -> Result {
    let mut ours = [0u64; 5];
    let mut our_bits = 0u32;
    // SAFETY: current is valid; the helper reads its credentials under RCU.
    unsafe {
        bindings::ckpt_task_caps(
            crate::wrap::task::current(),
            ours.as_mut_ptr(),
            &mut our_bits,
        )
    };
    let [inh, perm, _, bset, ambient] = m.caps;
    let [o_inh, o_perm, o_eff, o_bset, _] = ours;
    let setpcap = o_eff & (1 << CAP_SETPCAP) != 0;
    let deny = |what: &str, extra: u64| {
        ckpt_err!(
            "restart: the saved {} capabilities {:#x} are not the caller's to grant (it has {:#x})\n",
            what,
            extra,
            match what {
                "permitted" => o_perm,
                "bounding" => o_bset,
                _ => o_inh,
            }
        );
        EPERM
    };
    if perm & !o_perm != 0 {
        return Err(deny("permitted", perm));
    }
    let inh_limit = if setpcap {
        o_inh | o_bset
    } else {
        o_inh | o_perm
    };
    if inh & !(inh_limit & (o_inh | o_bset)) != 0 {
        return Err(deny("inheritable", inh));
    }
    if bset & !o_bset != 0 || (bset != o_bset && !setpcap) {
        return Err(deny("bounding", bset));
    }
    if ambient != 0 && our_bits & SECBIT_NO_CAP_AMBIENT_RAISE != 0 {
        return Err(deny("ambient", ambient));
    }
    let changed = our_bits ^ m.securebits;
    let locks = our_bits & SECURE_ALL_LOCKS;
    if changed != 0 && (!setpcap || (locks >> 1) & changed != 0 || locks & !m.securebits != 0) {
        ckpt_err!(
            "restart: the saved securebits {:#x} are not the caller's to set (it has {:#x})\n",
            m.securebits,
            our_bits
        );
        return Err(EPERM);
    }
    Ok(())
}

/// Takes the saved supplementary groups, uids and gids, with the checks
/// of setgroups(2), setresgid(2) and setresuid(2) (gids first: setting
/// them needs the privileges the uids may give away), then the filesystem
/// ids.
pub(crate) fn restore_ids(m: &TaskMisc, groups: &[u32]) -> Result {
    let [uid, euid, suid, fsuid, gid, egid, sgid, fsgid] = m.ids;
    let ours = groups_of(crate::wrap::task::current())?;
    if !same_groups(groups, &ours) {
        let n = i32::try_from(groups.len()).map_err(|_| EINVAL)?;
        // SAFETY: `groups` holds `n` gids; setgroups(2) for current, with
        // its permission check.
        to_result(unsafe { bindings::ckpt_set_groups(groups.as_ptr(), n) })?;
    }
    // SAFETY: plain system call bodies acting on current.
    unsafe {
        to_result(bindings::__sys_setresgid(gid, egid, sgid) as i32)?;
        to_result(bindings::__sys_setresuid(uid, euid, suid) as i32)?;
    }
    // The filesystem ids, which setres[ug]id(2) made the effective ones:
    // `check_misc` checked the caller may take them.
    // SAFETY: plain integers; the helper commits new credentials for
    // current.
    to_result(unsafe { bindings::ckpt_set_fsids(fsuid, fsgid) })?;
    // setresuid(2) adjusted the capabilities for the new uids; the saved
    // ones (checked by `check_caps` against the caller's) replace them.
    let caps = m.caps.map(|c| c & CAP_VALID_MASK);
    // SAFETY: five values; the helper commits new credentials for current.
    to_result(unsafe { bindings::ckpt_set_caps(caps.as_ptr(), m.securebits) })?;
    if m.flags & MISC_NO_NEW_PRIVS != 0 {
        // SAFETY: sets a flag of current that can never be cleared.
        unsafe { bindings::ckpt_set_no_new_privs() };
    }
    // commit_creds() clears the parent-death signal and resets the
    // dumpable mode when the ids change: both are set after them. Either
    // dumpable mode is one prctl(PR_SET_DUMPABLE) gives any process.
    // SAFETY: current's own field; the helper sets current's mm's mode.
    unsafe {
        (*crate::wrap::task::current()).pdeath_signal = m.pdeath_signal;
        bindings::ckpt_set_dumpable(m.flags & crate::image::MISC_NOT_DUMPABLE == 0);
    }
    Ok(())
}

/// Arms the calling process's interval timers with the time they had
/// left (and disarms those that were not armed): once the whole tree is
/// back, right before the return, so that none fires while other tasks
/// are restored. Nothing can be undone there: a timer refused (the
/// decoder bounds the values, so none should be) is named in the log.
pub(crate) fn restore_itimers(itimers: &[u64; 6], pid: i32) {
    // SAFETY: six valid values; the C side arms current's timers as
    // setitimer(2) does.
    let r = unsafe { bindings::ckpt_itimers_set(itimers.as_ptr()) };
    if r < 0 {
        ckpt_err!(
            "restart: pid {}: interval timers left disarmed (error {})\n",
            pid,
            r
        );
    }
}

/// Sets the odds and ends on the calling task (and, for a thread group
/// leader, its process's resource limits).
pub(crate) fn restore_misc(m: &TaskMisc, leader: bool) {
    // SAFETY: current is valid; its own fields, and the limits of its
    // process under task_lock of the group leader, as setrlimit(2)
    // writes them.
    unsafe {
        let cur = crate::wrap::task::current();
        (*cur).robust_list = m.robust_list as usize as *mut _;
        (*cur).clear_child_tid = m.clear_child_tid as usize as *mut _;
        (*cur).personality = m.personality;
        (*cur).rseq = m.rseq as usize as *mut _;
        (*cur).rseq_len = m.rseq_len;
        (*cur).rseq_sig = m.rseq_sig;
        // The rseq area's cpu fields are refreshed on the way out.
        bindings::rseq_set_notify_resume(cur);
        if !leader {
            return;
        }
        let lead = (*cur).group_leader;
        bindings::task_lock(lead);
        for (dst, (soft, hard)) in (*(*cur).signal).rlim.iter_mut().zip(m.rlimits.iter()) {
            dst.rlim_cur = *soft as usize;
            dst.rlim_max = *hard as usize;
        }
        bindings::task_unlock(lead);
        // As setrlimit(2) does: a finite CPU limit arms the process timer.
        let (cpu, _) = m
            .rlimits
            .get(bindings::RLIMIT_CPU as usize)
            .copied()
            .unwrap_or((0, 0));
        if cpu != u64::MAX {
            bindings::update_rlimit_cpu(cur, cpu as usize);
        }
    }
}

/// The job control state of a frozen task ([`TaskMisc::stop`]); `-EBUSY`
/// while a stop or continue is under way.
pub(crate) fn stop_of(task: &TaskRef) -> Result<u32> {
    let mut stop = 0;
    // SAFETY: the task is referenced; the helper reads its job control
    // state under the siglock.
    to_result(unsafe { bindings::ckpt_stop_get(task.as_ptr(), &mut stop) })?;
    Ok(stop)
}

/// Sets the job control state of the calling task's process (its leader's
/// turn): stopped, with what its parent's `wait(2)` still has to report,
/// or continued and not reported yet, or neither. Its tasks stop on their
/// way out ([`enter_stop`]). A thread's turn checks that its own state
/// agrees (a thread stopped in a process that is not, or the reverse, is
/// `-EINVAL`).
pub(crate) fn restore_stop(m: &TaskMisc, leader: bool, pid: i32) -> Result {
    // SAFETY: acts on current's process under its siglock.
    let r = unsafe {
        if leader {
            bindings::ckpt_stop_set_process(m.stop)
        } else {
            bindings::ckpt_stop_check(m.stop)
        }
    };
    to_result(r).inspect_err(|_| {
        ckpt_err!(
            "restart: pid {}: its job control state does not fit its process's\n",
            pid
        );
    })
}

/// Once the whole tree is back, right before the return to user space:
/// a task that was stopped in its process's group stop stops again, as a
/// thread that had stopped (its parent is not notified again).
pub(crate) fn enter_stop(stop: u32) {
    if stop & crate::image::STOP_STOPPED != 0 {
        // SAFETY: acts on current under its siglock.
        unsafe { bindings::ckpt_stop_enter((stop & 0xff) as i32) };
    }
}

/// Whether the caller has `cap` in the initial user namespace (`capable()`).
fn capable(cap: u32) -> bool {
    // SAFETY: capable() only reads current's credentials.
    unsafe { bindings::capable(cap as i32) }
}
