// SPDX-License-Identifier: GPL-2.0

//! `restart(2)`: the calling task becomes a checkpointed one.
//!
//! User space (`ckpt restart`) recreates the process with its saved pid and
//! the new process calls `restart(0, fd, 0)`. Like exec, the call replaces
//! the caller: its memory, registers and FPU state become the saved ones,
//! and the return to user space lands at the checkpointed instruction with
//! the checkpointed `rax` (the syscall's return value). An interrupted
//! system call (`-ERESTART*` in `rax`) is restarted by the signal path.
//!
//! Everything that can be checked is checked before the old address space
//! is torn down (the point of no return): until then an error returns a
//! precise errno and leaves the caller as it was; after it, an error kills
//! the caller, so a half-restored task never runs.
//!
//! This version restores one single-threaded process with its memory,
//! registers, open files (by path), working directory, umask, signal
//! handlers, blocked mask, altstack and pending signals. Credentials,
//! timers and process trees are restored by later steps.

use crate::file::FileRef;
use crate::image::{
    self, Fd, FilesHeader, Item, MmHeader, PagesHeader, Regs, RestartBlock, Signals, TaskEntry,
    TaskMisc, Vma,
};
use crate::reader::ImageReader;
use crate::{files, mm, regs, signal};
use kernel::bindings;
use kernel::ffi::{c_int, c_ulong};
use kernel::prelude::*;

/// The `-ERESTART*` codes the signal path turns into a restarted call.
const RESTART_CODES: [i64; 4] = [-512, -513, -514, -516];

/// Everything read before the point of no return.
struct Saved {
    regs: Regs,
    xstate: KVec<u8>,
    mm: MmHeader,
    exe: KVec<u8>,
    vmas: KVec<(Vma, KVec<u8>)>,
    files: FilesHeader,
    cwd: KVec<u8>,
    fds: KVec<(Fd, KVec<u8>)>,
    restart_block: RestartBlock,
    misc: TaskMisc,
    signals: Signals,
    sig_infos: KVec<u8>,
    sighand: KVec<u8>,
    comm: [u8; image::COMM_LEN],
}

fn copy(data: &[u8]) -> Result<KVec<u8>> {
    let mut v = KVec::with_capacity(data.len(), GFP_KERNEL)?;
    v.extend_from_slice(data, GFP_KERNEL)?;
    Ok(v)
}

fn bad(what: &str) -> Error {
    pr_err!("restart: {}\n", what);
    EINVAL
}

/// Reads header, forest and the caller's task state up to its pages.
fn read_until_pages(r: &mut ImageReader, me: i32) -> Result<Saved> {
    let release = match r.next()? {
        Item::Header(h) => h.release,
        _ => return Err(bad("no header")),
    };
    // The vdso is mapped from this kernel's image: only the kernel that
    // wrote the image can restore it.
    // SAFETY: `init_uts_ns` is static; the release never changes.
    let ours = unsafe { &*core::ptr::addr_of!(bindings::init_uts_ns.name.release) };
    if release.iter().zip(ours.iter()).any(|(a, b)| *a != *b as u8) {
        return Err(bad("the image was written by another kernel release"));
    }
    let nr_tasks = match r.next()? {
        Item::Forest(f) => f.nr_tasks,
        _ => return Err(bad("no forest")),
    };
    if nr_tasks != 1 {
        return Err(bad("only single-task images can be restarted yet"));
    }
    let row: TaskEntry = match r.next()? {
        Item::Task(t) => t,
        _ => return Err(bad("no task row")),
    };
    if row.pid != me || row.is_thread() || row.is_zombie() {
        pr_err!(
            "restart: the image is of pid {}, the caller is {}\n",
            row.pid,
            me
        );
        return Err(ESRCH);
    }
    match r.next()? {
        Item::TaskState(t) if t.pid == me => {}
        _ => return Err(bad("no task state")),
    }
    let regs = match r.next()? {
        Item::Regs(regs) => regs,
        _ => return Err(bad("no registers")),
    };
    regs::validate(&regs)?;
    let xstate = match r.next()? {
        Item::Xstate(h, data) => {
            // SAFETY: `fpu_user_cfg` is set up at boot and read-only after.
            let max = unsafe { bindings::fpu_user_cfg.max_size };
            if h.size != max {
                pr_err!(
                    "restart: xstate of {} bytes, this CPU's is {}\n",
                    h.size,
                    max
                );
                return Err(EINVAL);
            }
            let mut v = KVec::with_capacity(data.len(), GFP_KERNEL)?;
            v.extend_from_slice(data, GFP_KERNEL)?;
            v
        }
        _ => return Err(bad("no FPU state")),
    };
    let restart_block = match r.next()? {
        Item::RestartBlock(rb) => rb,
        _ => return Err(bad("no restart block")),
    };
    let misc = match r.next()? {
        Item::TaskMisc(m) => m,
        _ => return Err(bad("no task-misc record")),
    };
    crate::task::check_misc(&misc)?;
    let (signals, sig_infos) = match r.next()? {
        Item::Signals(s, infos) => (s, copy(infos)?),
        _ => return Err(bad("no signal state")),
    };
    let (mm, exe) = match r.next()? {
        Item::Mm(m, exe) => (m, copy(exe)?),
        _ => return Err(bad("no memory map")),
    };
    let mut vmas = KVec::with_capacity(mm.nr_vmas as usize, GFP_KERNEL)?;
    for _ in 0..mm.nr_vmas {
        match r.next()? {
            Item::Vma(v, path) => {
                let mut p = KVec::with_capacity(path.len(), GFP_KERNEL)?;
                p.extend_from_slice(path, GFP_KERNEL)?;
                vmas.push((v, p), GFP_KERNEL)?;
            }
            _ => return Err(bad("VMA missing")),
        }
    }
    let (files, cwd) = match r.next()? {
        Item::Files(h, cwd) => {
            let mut c = KVec::with_capacity(cwd.len(), GFP_KERNEL)?;
            c.extend_from_slice(cwd, GFP_KERNEL)?;
            (h, c)
        }
        _ => return Err(bad("no open files record")),
    };
    let mut fds = KVec::with_capacity(files.nr_fds as usize, GFP_KERNEL)?;
    for _ in 0..files.nr_fds {
        match r.next()? {
            Item::Fd(f, path) => {
                let mut p = KVec::with_capacity(path.len(), GFP_KERNEL)?;
                p.extend_from_slice(path, GFP_KERNEL)?;
                fds.push((f, p), GFP_KERNEL)?;
            }
            _ => return Err(bad("fd record missing")),
        }
    }
    let sighand = match r.next()? {
        Item::Sighand(p) => copy(p)?,
        _ => return Err(bad("no signal handlers")),
    };
    Ok(Saved {
        regs,
        xstate,
        mm,
        exe,
        vmas,
        files,
        cwd,
        fds,
        restart_block,
        misc,
        signals,
        sig_infos,
        sighand,
        comm: row.comm,
    })
}

/// After the point of no return: memory contents up to the tail.
fn read_pages_to_tail(r: &mut ImageReader) -> Result {
    loop {
        match r.next()? {
            Item::Pages(h, data) => {
                let h: PagesHeader = h;
                mm::write_pages(&h, data)?;
            }
            Item::TaskEnd => {}
            Item::Tail(_) => return Ok(()),
            _ => return Err(bad("unexpected record after the memory map")),
        }
    }
}

/// `restart(pid, fd, flags)`: returns the restored task's `rax`.
pub(crate) fn restart(pid: bindings::pid_t, fd: c_int, flags: c_ulong) -> Result<i64> {
    if flags as u64 & !image::RESTART_FLAGS_MASK != 0 || pid != 0 {
        return Err(EINVAL);
    }
    let file = FileRef::fget(fd)?;
    if !file.is_readable() {
        return Err(EBADF);
    }
    // SAFETY: current is valid during the call.
    let cur = unsafe { bindings::get_current() };
    // SAFETY: `signal` of current is valid; a plain int read.
    let nr_threads = unsafe { (*(*cur).signal).nr_threads };
    if nr_threads != 1 {
        return Err(bad("the restarting process must be single-threaded"));
    }
    let ns = crate::task::PidNs::current()?;
    // SAFETY: current is valid; the pid lookup takes RCU itself.
    let me =
        unsafe { bindings::__task_pid_nr_ns(cur, bindings::pid_type_PIDTYPE_PID, ns.as_ptr()) };

    let mut reader = ImageReader::new(file);
    let saved = read_until_pages(&mut reader, me)?;
    let map = mm::prepare(&saved.mm, &saved.exe, saved.vmas)?;
    let files = files::prepare(&saved.files, &saved.cwd, saved.fds)?;

    // Point of no return: the old address space goes away.
    let result = (|| -> Result {
        mm::restore_map(&saved.mm, &map)?;
        files::install(&files)?;
        read_pages_to_tail(&mut reader)?;
        regs::restore(&saved.regs)?;
        regs::restore_xstate(&saved.xstate)?;
        regs::restore_restart_block(&saved.restart_block)?;
        crate::task::restore_misc(&saved.misc);
        let (sighand, shared_infos) = signal::parse_sighand(&saved.sighand)?;
        signal::restore_handlers(&sighand)?;
        signal::restore_task(&saved.signals)?;
        crate::task::restore_itimers(&saved.misc)?;
        // Pending signals last: they may make the return deliver a signal.
        signal::restore_pending(saved.signals.pending, &saved.sig_infos, false)?;
        signal::restore_pending(sighand.shared_pending, shared_infos, true)?;
        // Credentials last: everything above ran with the caller's.
        crate::task::restore_ids(&saved.misc)
    })();
    if let Err(e) = result {
        pr_err!(
            "restart: failed after the point of no return ({}): killing pid {}\n",
            e.to_errno(),
            me
        );
        // SAFETY: a fatal signal to current; it never returns to user space.
        unsafe { bindings::force_sig(bindings::SIGKILL as c_int) };
        return Err(e);
    }
    // SAFETY: current is valid; `comm` is NUL-terminated (checked by the
    // decoder) and copied under task_lock.
    unsafe { bindings::__set_task_comm(cur, saved.comm.as_ptr().cast(), false) };
    let ax = saved.regs.ax() as i64;
    let orig_ax = saved.regs.orig_ax() as i64;
    if orig_ax >= 0 && RESTART_CODES.contains(&ax) {
        // SAFETY: sets current's TIF_SIGPENDING: the exit path then runs
        // the signal code, which restarts the interrupted call.
        unsafe { bindings::ckpt_set_sigpending() };
    }
    Ok(ax)
}
