// SPDX-License-Identifier: GPL-2.0

//! `restart(2)`: the calling task becomes a checkpointed one.
//!
//! Three ways to call it:
//!
//! - `restart(0, fd, 0)`: the caller restores itself from an image of a
//!   single process (`ckpt restart` recreated it with the saved pid).
//! - `restart(pid, fd, 0)` with `pid > 0`: the caller is the coordinator
//!   of a tree restart (`context.rs`): `pid` is the saved root, and every
//!   task of the tree, recreated by user space, waits in
//!   `restart(0, -1, 0)`.
//! - `restart(0, -1, 0)`: the caller is a task of such a tree; it waits for
//!   its coordinator, restores itself in its turn from the coordinator's
//!   image, and returns only once every task of the tree is restored.
//!
//! Like exec, a restore replaces the caller: its memory, registers and FPU
//! state become the saved ones, and the return to user space lands at the
//! checkpointed instruction with the checkpointed `rax` (the syscall's
//! return value). An interrupted system call (`-ERESTART*` in `rax`) is
//! restarted by the signal path.
//!
//! Everything a task's records say is checked and opened before its old
//! address space is torn down (the point of no return). Alone, the caller
//! gets a precise errno until then and is killed after it, so a
//! half-restored task never runs; in a tree, any error kills every task.

use crate::file::FileRef;
use crate::image::{self, Item, PagesHeader, TaskEntry};
use crate::objhash::ObjTable;
use crate::reader::ImageReader;
use crate::{context, files, mm, regs, signal};
use kernel::bindings;
use kernel::ffi::{c_int, c_ulong};
use kernel::prelude::*;

/// The `-ERESTART*` codes the signal path turns into a restarted call.
const RESTART_CODES: [i64; 4] = [-512, -513, -514, -516];

/// A copy of part of a record. Sizes come from the image (a payload may
/// be 16 MiB): the buffer may be vmalloc'ed.
fn copy(data: &[u8]) -> Result<KVVec<u8>> {
    let mut v = KVVec::new();
    v.extend_from_slice(data, GFP_KERNEL_ACCOUNT)?;
    Ok(v)
}

pub(crate) fn bad(what: &str) -> Error {
    ckpt_err!("restart: {}\n", what);
    EINVAL
}

/// Where a restart failed: `struct restart_report` of the uapi header.
#[derive(Clone, Copy, Default)]
pub(crate) struct Failure {
    /// The task that failed (0: the image or the call itself).
    pub(crate) pid: i32,
    /// The record read last: index, type, byte offset.
    pub(crate) record: Option<(u32, u32, u64)>,
}

impl Failure {
    /// `struct restart_report` for `errno`, as bytes.
    pub(crate) fn encode(&self, errno: i32) -> [u8; 24] {
        let (index, kind, offset) = self.record.unwrap_or((0, 0, 0));
        let mut out = [0u8; 24];
        let fields: [&[u8]; 5] = [
            &self.pid.to_ne_bytes(),
            &errno.to_ne_bytes(),
            &index.to_ne_bytes(),
            &kind.to_ne_bytes(),
            &offset.to_ne_bytes(),
        ];
        let mut at = 0;
        for f in fields {
            if let Some(dst) = out.get_mut(at..at + f.len()) {
                dst.copy_from_slice(f);
            }
            at += f.len();
        }
        out
    }
}

const _: () = assert!(core::mem::size_of::<bindings::restart_report>() == 24);

/// How a restored task goes back to user space.
pub(crate) struct Resume {
    ax: i64,
    orig_ax: i64,
    comm: [u8; image::COMM_LEN],
}

impl Resume {
    /// Last steps in the restored task, right before the return: its name,
    /// and the signal path for an interrupted call. Returns the saved rax.
    pub(crate) fn finish(self) -> i64 {
        // SAFETY: current is valid; `comm` is NUL-terminated (checked by
        // the decoder) and copied under task_lock.
        unsafe {
            bindings::__set_task_comm(bindings::get_current(), self.comm.as_ptr().cast(), false)
        };
        if self.orig_ax >= 0 && RESTART_CODES.contains(&self.ax) {
            // SAFETY: sets current's TIF_SIGPENDING: the exit path then runs
            // the signal code, which restarts the interrupted call.
            unsafe { bindings::ckpt_set_sigpending() };
        }
        self.ax
    }
}

/// Reads header and forest of an image; the header's kernel release must
/// be this kernel's (the vdso is mapped from this kernel's image), and
/// the image one of a subtree: the pids of a whole pid namespace are saved
/// as the checkpointing process saw them, not as the tasks inside do, and
/// restarting them needs a namespace of their own (`-EOPNOTSUPP` until
/// then). Returns the number of task rows that follow.
pub(crate) fn read_head(r: &mut ImageReader) -> Result<u32> {
    let (release, flags) = match r.next()? {
        Item::Header(h) => (h.release, h.flags),
        _ => return Err(bad("no header")),
    };
    if flags & crate::image::CHECKPOINT_SUBTREE == 0 {
        ckpt_err!("restart: the image is of a whole pid namespace: not supported yet\n");
        return Err(crate::errno::eopnotsupp());
    }
    // SAFETY: `init_uts_ns` is static; the release never changes.
    let ours = unsafe { &*core::ptr::addr_of!(bindings::init_uts_ns.name.release) };
    if release.iter().zip(ours.iter()).any(|(a, b)| *a != *b as u8) {
        return Err(bad("the image was written by another kernel release"));
    }
    match r.next()? {
        Item::Forest(f) => Ok(f.nr_tasks),
        _ => Err(bad("no forest")),
    }
}

/// Reads the tail: the image must end here.
pub(crate) fn read_tail(r: &mut ImageReader) -> Result {
    match r.next()? {
        Item::Tail(_) => Ok(()),
        _ => Err(bad("records after the last task")),
    }
}

/// What a thread group leader restores for its whole process.
struct Process {
    mm: image::MmHeader,
    map: mm::PreparedMap,
    files: files::Prepared,
    sighand: KVVec<u8>,
}

/// Reads the process part of a leader's records (mm, VMAs, files, fds,
/// handlers), opening every file and creating every pipe on the way.
fn read_process(r: &mut ImageReader, objs: &mut ObjTable) -> Result<Process> {
    let (mm, exe) = match r.next()? {
        Item::Mm(m, exe) => (m, copy(exe)?),
        _ => return Err(bad("no memory map")),
    };
    // Grown record by record: the count is the image's, not to be trusted
    // for one allocation up front.
    let mut vmas = KVVec::new();
    while vmas.len() < mm.nr_vmas as usize {
        match r.next()? {
            Item::Vma(v, path) => vmas.push((v, copy(path)?), GFP_KERNEL_ACCOUNT)?,
            Item::Shmem(s) => mm::restore_shmem(objs, &s)?,
            Item::ShmemPages(h, data) => mm::restore_shmem_pages(objs, &h, data)?,
            _ => return Err(bad("VMA missing")),
        }
    }
    let map = mm::prepare(&mm, &exe, vmas, objs)?;
    let mut files = match r.next()? {
        Item::Files(h, cwd, root) => files::Prepared::new(&h, cwd, root)?,
        _ => return Err(bad("no open files record")),
    };
    let sighand = loop {
        match r.next()? {
            Item::Pipe(p, data) => files::restore_pipe(objs, &p, data)?,
            Item::File(f, path) => files::restore_file(objs, &f, path)?,
            Item::Fd(fd) => files.add_fd(objs, &fd)?,
            Item::Sighand(p) => break copy(p)?,
            _ => return Err(bad("unexpected record in the open files")),
        }
    };
    Ok(Process {
        mm,
        map,
        files,
        sighand,
    })
}

/// Restores the calling task from its records, `task-state` to
/// `task-end`. `row` is its forest row; a thread group leader also
/// restores its process (memory, files, handlers), a thread only itself.
/// `*past` is set at the point of no return.
pub(crate) fn restore_current(
    r: &mut ImageReader,
    objs: &mut ObjTable,
    row: &TaskEntry,
    past: &mut bool,
) -> Result<Resume> {
    match r.next()? {
        Item::TaskState(t) if t.pid == row.pid => {}
        _ => return Err(bad("the task-state record is not the task's")),
    }
    let saved_regs = match r.next()? {
        Item::Regs(regs) => regs,
        _ => return Err(bad("no registers")),
    };
    regs::validate(&saved_regs)?;
    let xstate = match r.next()? {
        Item::Xstate(h, data) => {
            // SAFETY: `fpu_user_cfg` is set up at boot and read-only after.
            let max = unsafe { bindings::fpu_user_cfg.max_size };
            if h.size != max {
                ckpt_err!(
                    "restart: xstate of {} bytes, this CPU's is {}\n",
                    h.size,
                    max
                );
                return Err(EINVAL);
            }
            copy(data)?
        }
        _ => return Err(bad("no FPU state")),
    };
    let restart_block = match r.next()? {
        Item::RestartBlock(rb) => rb,
        _ => return Err(bad("no restart block")),
    };
    let misc = match r.next()? {
        Item::TaskMisc(m, groups) => (m, crate::task::parse_groups(groups)?),
        _ => return Err(bad("no task-misc record")),
    };
    let (misc, groups) = misc;
    crate::task::check_misc(&misc, &groups)?;
    let (signals, sig_infos) = match r.next()? {
        Item::Signals(s, infos) => (s, copy(infos)?),
        _ => return Err(bad("no signal state")),
    };
    signal::validate(&signals)?;
    let process = if row.is_thread() {
        None
    } else {
        // Files, mapped files, the executable and the directories are
        // opened with the credentials the task ends with; what needs a
        // privilege of the caller (a new root, a new executable) is
        // checked with the caller's own.
        let creds = crate::task::OpenCreds::new(&misc, &groups)?;
        let p = {
            let _acting = creds.apply();
            read_process(r, objs)?
        };
        p.files.check_root()?;
        p.map.check_exe()?;
        Some(p)
    };

    // Point of no return: the old address space goes away.
    *past = true;
    if let Some(p) = &process {
        mm::restore_map(&p.mm, &p.map)?;
        p.files.install(objs)?;
    }
    loop {
        match r.next()? {
            Item::Pages(h, data) if process.is_some() => {
                let h: PagesHeader = h;
                mm::write_pages(&h, data)?;
            }
            Item::TaskEnd => break,
            _ => return Err(bad("unexpected record at the end of a task")),
        }
    }
    regs::restore(&saved_regs)?;
    regs::restore_xstate(&xstate)?;
    regs::restore_restart_block(&restart_block)?;
    crate::task::restore_misc(&misc, process.is_some());
    signal::restore_task(&signals)?;
    // Whatever the restarting task was sent before (a child's exit) is not
    // the saved task's: only the saved signals are pending.
    signal::flush_pending(process.is_some());
    signal::restore_pending(signals.pending, &sig_infos, false)?;
    if let Some(p) = &process {
        signal::restore_handlers(&p.sighand)?;
        crate::task::restore_itimers(&misc)?;
        if misc.flags & image::MISC_CHILD_SUBREAPER != 0 {
            // SAFETY: acts on current's own process; takes tasklist_lock
            // itself to mark the descendants.
            unsafe { bindings::ckpt_set_child_subreaper() };
        }
        let (mask, shared_infos) = signal::shared_pending(&p.sighand)?;
        signal::restore_pending(mask, shared_infos, true)?;
    }
    // Credentials last: everything above ran with the caller's.
    crate::task::restore_ids(&misc, &groups)?;
    Ok(Resume {
        ax: saved_regs.ax() as i64,
        orig_ax: saved_regs.orig_ax() as i64,
        comm: row.comm,
    })
}

/// Kills the calling task: after the point of no return, or when its tree
/// failed, it must never return to user space.
pub(crate) fn kill_current() {
    // SAFETY: a fatal signal to current; it never returns to user space.
    unsafe { bindings::force_sig(bindings::SIGKILL as c_int) };
}

/// `restart(0, fd, 0)`: the caller restores itself from a one-process image.
fn restart_self(fd: c_int, failure: &mut Failure) -> Result<i64> {
    let file = FileRef::fget(fd)?;
    if !file.is_readable() {
        return Err(EBADF);
    }
    // SAFETY: current and its signal_struct are valid; a plain int read.
    let nr_threads = unsafe { (*(*bindings::get_current()).signal).nr_threads };
    if nr_threads != 1 {
        return Err(bad("the restarting process must be single-threaded"));
    }
    let me = crate::task::PidNs::current()?.current_nr(bindings::pid_type_PIDTYPE_PID);
    failure.pid = me;
    let mut r = ImageReader::new(file);
    let result = restart_self_from(&mut r, me);
    if result.is_err() {
        failure.record = r.last();
    }
    result
}

/// The body of [`restart_self`], reading from `r`.
fn restart_self_from(r: &mut ImageReader, me: i32) -> Result<i64> {
    if read_head(r)? != 1 {
        return Err(bad("a process tree is restarted through a coordinator"));
    }
    let row = match r.next()? {
        Item::Task(t) => t,
        _ => return Err(bad("no task row")),
    };
    if row.pid != me || row.is_thread() || row.is_zombie() {
        ckpt_err!(
            "restart: the image is of pid {}, the caller is {}\n",
            row.pid,
            me
        );
        return Err(ESRCH);
    }
    let mut objs = ObjTable::new();
    let mut past = false;
    let result = restore_current(r, &mut objs, &row, &mut past)
        .and_then(|resume| read_tail(r).map(|()| resume));
    match result {
        Ok(resume) => {
            // Pipe ends no descriptor took are closed now, as they were.
            drop(objs);
            Ok(resume.finish())
        }
        Err(e) => {
            if past {
                ckpt_err!(
                    "restart: failed after the point of no return ({}): killing pid {}\n",
                    e.to_errno(),
                    me
                );
                kill_current();
            }
            Err(e)
        }
    }
}

/// `restart(pid, fd, flags, report)`: returns the restored task's `rax`
/// (or 0 for a coordinator); on error `failure` says where it failed.
pub(crate) fn restart(
    pid: bindings::pid_t,
    fd: c_int,
    flags: c_ulong,
    failure: &mut Failure,
) -> Result<i64> {
    if flags as u64 & !image::RESTART_FLAGS_MASK != 0 || pid < 0 {
        return Err(EINVAL);
    }
    match (pid, fd) {
        (0, -1) => context::restart_task(),
        (0, _) => restart_self(fd, failure),
        _ => context::coordinate(pid, fd, failure).map(|()| 0),
    }
}
