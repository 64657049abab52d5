// SPDX-License-Identifier: GPL-2.0

//! Open files, working and root directory, and umask of a process.
//!
//! C headers: [`include/linux/fdtable.h`](srctree/include/linux/fdtable.h),
//! [`include/linux/fs_struct.h`](srctree/include/linux/fs_struct.h).
//!
//! Each descriptor is saved with its number and close-on-exec bit and the
//! id of its open file, a shared object (`open_file.rs`) written before the
//! first descriptor that refers to it. Restart resolves the directories
//! (with the credentials the task ends with), checks each descriptor's
//! file was restored, and installs each descriptor at its old number.

use crate::forest::{shared_ptrs, SHARED_FILES, SHARED_FS};
use crate::image::{Fd, FilesHeader, ObjId, RecordType, ShareRec, FD_CLOEXEC};
use crate::objhash::{ObjHash, ObjTable};
use crate::open_file::OpenFile;
use crate::wrap::file::FileRef;
use crate::wrap::path::PathRef;
use crate::wrap::task::TaskRef;
use crate::writer::ImageWriter;
use kernel::bindings;
use kernel::error::to_result;
use kernel::prelude::*;

/// The first open file of `task` (a thread group leader) that a restart
/// could not bring back (a socket, an eventfd, a pidfd, a locked file, a
/// deleted file…): its descriptor, the phrase and its path.
pub(crate) fn unsupported(task: &TaskRef) -> Result<Option<(u32, &'static str, KVec<u8>)>> {
    let mut fd = 0u32;
    while let Some(file) = task.next_file(&mut fd) {
        crate::wrap::task::killable()?;
        // SAFETY: the task and the file are referenced; the helper takes
        // the locks it needs and returns NULL or a static string.
        let why = crate::wrap::task::static_str(unsafe {
            bindings::ckpt_file_unsupported(task.as_ptr(), file.as_ptr())
        });
        if let Some(why) = why {
            return Ok(Some((fd, why, file.path_name()?)));
        }
        if crate::epoll::is_epoll(&file) {
            if let Some((why, watched)) = crate::epoll::unsupported(task, &file)? {
                let mut path = file.path_name()?;
                path.extend_from_slice(b" watching ", GFP_KERNEL)?;
                path.extend_from_slice(&watched, GFP_KERNEL)?;
                return Ok(Some((fd, why, path)));
            }
        }
        fd = fd.checked_add(1).ok_or(EINVAL)?;
    }
    Ok(None)
}

/// Why restart could not give `task` (a thread group leader) its working
/// or root directory again, if it could not: one on a mount that is not in
/// its mount namespace (detached with umount -l) has no name that leads
/// to it.
pub(crate) fn dirs_unsupported(task: &TaskRef) -> Result<Option<&'static str>> {
    // SAFETY: the task is referenced.
    let (pwd, root, _) = unsafe { PathRef::task_fs(task.as_ptr()) }?;
    for (dir, why) in [
        (&pwd, "has its working directory on a mount that is not in its mount namespace (unmounted with umount -l)"),
        (&root, "has its root directory on a mount that is not in its mount namespace (unmounted with umount -l)"),
    ] {
        // SAFETY: the path is referenced.
        if !unsafe { bindings::ckpt_path_in_mnt_ns(dir.as_raw(), task.as_ptr()) } {
            return Ok(Some(why));
        }
    }
    Ok(None)
}

/// Writes the open files of `task` (a thread group leader, process `pid`):
/// the files record with umask, working and root directory, then one fd
/// record each, every open file seen for the first time written before
/// it, then the locks the process holds (`locks.rs`), the files' signal
/// owners (`fown.rs`) and its message queue notifications (`posix_mq.rs`).
///
/// A descriptor table or fs context that an earlier process of the image
/// holds too (`CLONE_FILES`, `CLONE_FS`) is written with that process
/// only: this one's share record names it, and its files record then has
/// no descriptors.
pub(crate) fn dump(w: &mut ImageWriter, task: &TaskRef, pid: i32, objs: &mut ObjHash) -> Result {
    let ptrs = shared_ptrs(task);
    let mut share = ShareRec::default();
    for (k, with) in [(SHARED_FILES, &mut share.files), (SHARED_FS, &mut share.fs)] {
        let key = ptrs.get(k).copied().unwrap_or(0);
        if key != 0 {
            *with = objs.table_holder(key, k, pid, task)?.unwrap_or(0);
        }
    }
    if share != ShareRec::default() {
        w.record(RecordType::Share, &share.encode())?;
    }
    let (pwd, root, umask) = task.fs()?;
    let cwd = pwd.name()?;
    let root_path = root.name()?;
    drop((pwd, root));

    // A process that shares another's descriptor table saves none.
    let mut fds = KVec::new();
    let mut fd = 0u32;
    if share.files == 0 {
        while let Some(file) = task.next_file(&mut fd) {
            let mut fd_flags = 0;
            // SAFETY: the task is valid; the helper takes the needed locks.
            if unsafe { bindings::ckpt_fd_cloexec(task.as_ptr(), fd) } {
                fd_flags |= FD_CLOEXEC;
            }
            fds.push((fd, fd_flags, file), GFP_KERNEL)?;
            fd = fd.checked_add(1).ok_or(EINVAL)?;
        }
    }
    let header = FilesHeader {
        nr_fds: u32::try_from(fds.len()).map_err(|_| EINVAL)?,
        umask,
        cwd_len: u32::try_from(cwd.len()).map_err(|_| EINVAL)?,
        root_len: u32::try_from(root_path.len()).map_err(|_| EINVAL)?,
    };
    w.record_parts(RecordType::Files, &[&header.encode(), &cwd, &root_path])?;
    if share.files != 0 {
        // Its notifications are its own, through the shared table.
        return crate::posix_mq::dump_notify(w, task);
    }
    let mut files = KVec::with_capacity(fds.len(), GFP_KERNEL)?;
    let mut numbered = KVec::with_capacity(fds.len(), GFP_KERNEL)?;
    for (fd, fd_flags, file) in fds.into_iter() {
        let file_id = objs.id_of::<OpenFile>(w, file.clone_ref())?;
        let rec = Fd {
            fd,
            fd_flags,
            file: file_id,
        };
        w.record(RecordType::Fd, &rec.encode())?;
        numbered.push((fd, file.clone_ref()), GFP_KERNEL)?;
        files.push(file, GFP_KERNEL)?;
    }
    crate::locks::dump(w, task, objs, &files)?;
    crate::fown::dump(w, objs, &numbered)?;
    crate::posix_mq::dump_notify(w, task)
}

/// Refuses a checkpoint for what descriptor `fd` of task `tasks[i]` holds
/// (found by [`for_each_tree_file`]): logs the task, the descriptor and
/// `why`, and returns `-EOPNOTSUPP` (`-EINVAL` for an index out of range).
pub(crate) fn refuse(tasks: &[TaskRef], i: usize, fd: u32, why: core::fmt::Arguments<'_>) -> Error {
    let Some(t) = tasks.get(i) else {
        return EINVAL;
    };
    let comm = t.comm();
    ckpt_err!(
        "checkpoint: pid {} ({}) fd {} {}: not supported\n",
        t.vpid(),
        crate::log::Shown(&comm),
        fd,
        why
    );
    crate::wrap::errno::eopnotsupp()
}

/// Calls `f` with every open file of the tree's descriptor tables (the
/// live processes' of `tasks`), and every file an epoll set among them
/// watches (a file held only through a set, its descriptor closed, is the
/// tree's too): the task's index, the descriptor it was found through,
/// and the file. For the checks that look at the whole tree before
/// anything is written.
pub(crate) fn for_each_tree_file(
    tasks: &[TaskRef],
    mut f: impl FnMut(usize, u32, &FileRef) -> Result,
) -> Result {
    // The tables seen: one that processes share is gone through once.
    let mut tables: KVVec<usize> = KVVec::new();
    for (i, t) in tasks.iter().enumerate() {
        if t.exit_state() != 0 || !t.is_group_leader() {
            continue;
        }
        let table = shared_ptrs(t).get(SHARED_FILES).copied().unwrap_or(0);
        match tables.binary_search(&table) {
            Ok(_) => continue,
            Err(at) => {
                crate::objhash::insert_at(&mut tables, at, table, GFP_KERNEL)?;
            }
        }
        let mut fd = 0u32;
        while let Some(file) = t.next_file(&mut fd) {
            crate::wrap::task::killable()?;
            let mut files = KVec::new();
            if crate::epoll::is_epoll(&file) {
                crate::epoll::watched(&file, &mut files)?;
            }
            files.push(file, GFP_KERNEL)?;
            for file in files.iter() {
                f(i, fd, file)?;
            }
            fd = fd.checked_add(1).ok_or(EINVAL)?;
        }
    }
    Ok(())
}

// Restart.

/// A directory of the image looked up from the caller's root, with
/// chdir(2)'s check (search permission for the credentials in force).
fn lookup_dir(path: &[u8], what: &str) -> Result<PathRef> {
    let p = PathRef::lookup_dir(path).inspect_err(|_| {
        ckpt_err!(
            "restart: {} directory {} is gone\n",
            what,
            crate::log::Shown(path)
        );
    })?;
    p.may_chdir().inspect_err(|e| {
        ckpt_err!(
            "restart: no permission to enter the {} directory {} (error {})\n",
            what,
            crate::log::Shown(path),
            e.to_errno()
        );
    })?;
    Ok(p)
}

/// The processes restored earlier whose descriptor table and fs context
/// a process takes (a share record), `None` for its own.
#[derive(Default)]
pub(crate) struct SharedWith {
    pub(crate) files: Option<TaskRef>,
    pub(crate) fs: Option<TaskRef>,
}

impl SharedWith {
    /// The leaders a share record names, which must be processes this
    /// restart restored already (earlier in the image, so their tables
    /// hold what they saved), and not `pid` itself.
    pub(crate) fn resolve(objs: &ObjTable, rec: &ShareRec, pid: i32) -> Result<Self> {
        let of = |with: i32, what: &str| -> Result<Option<TaskRef>> {
            if with == 0 {
                return Ok(None);
            }
            match objs.restored(with).filter(|_| with != pid) {
                Some(t) if t.may_share_with_current() => Ok(Some(t.clone())),
                Some(_) => {
                    ckpt_err!(
                        "restart: pid {} uses the {} of pid {}, which runs in another user or mount namespace\n",
                        pid,
                        what,
                        with
                    );
                    Err(EPERM)
                }
                None => {
                    ckpt_err!(
                        "restart: pid {} uses the {} of pid {}, which is not a process restored before it\n",
                        pid,
                        what,
                        with
                    );
                    Err(EINVAL)
                }
            }
        };
        Ok(Self {
            files: of(rec.files, "descriptor table")?,
            fs: of(rec.fs, "fs context")?,
        })
    }
}

/// The descriptors, directories and umask of a process, ready to install.
pub(crate) struct Prepared {
    /// (fd, close-on-exec, file id).
    fds: KVVec<(u32, bool, ObjId)>,
    /// The working and root directories, unless the process takes
    /// another's fs context.
    dirs: Option<(PathRef, PathRef)>,
    umask: u32,
    shared: SharedWith,
}

impl Prepared {
    /// Whether a descriptor record of the process names file `id`.
    pub(crate) fn names_file(&self, id: ObjId) -> bool {
        self.fds.iter().any(|&(_, _, f)| f == id)
    }

    /// Whether the process's descriptor `fd` names file `id`.
    pub(crate) fn names(&self, fd: u32, id: ObjId) -> bool {
        self.fds.iter().any(|&(n, _, f)| n == fd && f == id)
    }

    /// Before the point of no return: resolves the directories (those of
    /// a process that takes another's fs context are that one's). A
    /// process that uses an earlier one's descriptor table has no
    /// descriptors of its own in the image.
    pub(crate) fn new(
        h: &FilesHeader,
        cwd: &[u8],
        root: &[u8],
        shared: SharedWith,
    ) -> Result<Self> {
        if shared.files.is_some() && h.nr_fds != 0 {
            return Err(crate::restore::bad(
                "a process using another's descriptor table has descriptors of its own",
            ));
        }
        Ok(Self {
            // Grown fd by fd: `nr_fds` is the image's, not to be trusted
            // for one allocation up front.
            fds: KVVec::new(),
            dirs: match shared.fs {
                Some(_) => None,
                None => Some((lookup_dir(cwd, "working")?, lookup_dir(root, "root")?)),
            },
            umask: h.umask,
            shared,
        })
    }

    /// Whether the process uses an earlier one's descriptor table (and
    /// has no lock or owner records of its own).
    pub(crate) fn shares_files(&self) -> bool {
        self.shared.files.is_some()
    }

    /// Before the point of no return, with the caller's own credentials:
    /// a root directory other than the caller's takes what chroot(2)
    /// takes (CAP_SYS_CHROOT and search permission).
    ///
    /// A process that takes another's fs context takes its root: the same
    /// check, on that root.
    pub(crate) fn check_root(&self) -> Result {
        let theirs;
        let root = match (&self.shared.fs, &self.dirs) {
            (Some(t), _) => {
                theirs = t.fs()?.1;
                &theirs
            }
            (None, Some((_, root))) => root,
            (None, None) => return Err(EINVAL),
        };
        root.may_chroot().inspect_err(|e| {
            ckpt_err!(
                "restart: the saved root directory needs what chroot(2) needs (error {})\n",
                e.to_errno()
            );
        })
    }

    /// Adds a descriptor; its file must have been restored already.
    pub(crate) fn add_fd(&mut self, objs: &mut ObjTable, rec: &Fd) -> Result {
        objs.file(rec.file)?;
        self.fds.push(
            (rec.fd, rec.fd_flags & FD_CLOEXEC != 0, rec.file),
            GFP_KERNEL,
        )?;
        Ok(())
    }

    /// After the point of no return: replaces the caller's descriptors
    /// with the saved ones and sets its directories and umask, or takes
    /// those of the process it shares them with. (Its threads follow at
    /// their turn: [`follow_leader`].)
    pub(crate) fn install(&self, objs: &mut ObjTable) -> Result {
        if let Some(t) = &self.shared.files {
            t.share_table_with_current(false)?;
        } else {
            // SAFETY: closes every descriptor of current (the image is
            // held by a reference of its own).
            to_result(unsafe { bindings::__close_range(0, u32::MAX, 0) })?;
            for (fd, cloexec, id) in self.fds.iter() {
                let file = objs.file(*id)?;
                let flags = if *cloexec { bindings::O_CLOEXEC } else { 0 };
                // SAFETY: the file is referenced; replace_fd takes its own
                // reference and installs it at `fd` in current's table.
                to_result(unsafe { bindings::replace_fd(*fd, file.as_ptr(), flags) })?;
            }
        }
        if let Some(t) = &self.shared.fs {
            return t.share_table_with_current(true);
        }
        let Some((cwd, root)) = &self.dirs else {
            return Err(EINVAL);
        };
        // SAFETY: current's fs_struct is its own or its threads' (clone3
        // without CLONE_FS gave the process one); set_fs_* take their own
        // references on the paths.
        unsafe {
            let fs = bindings::ckpt_current_fs();
            bindings::set_fs_root(fs, root.as_raw());
            bindings::set_fs_pwd(fs, cwd.as_raw());
            bindings::ckpt_set_umask(self.umask);
        }
        Ok(())
    }
}

/// A thread's restore, after its point of no return: it takes its
/// leader's descriptor table and fs context if the leader took another
/// process's (it was made sharing the leader's own, which the leader
/// left).
pub(crate) fn follow_leader() -> Result {
    // SAFETY: current's group leader lives as long as current does.
    let leader = unsafe {
        TaskRef::get(
            core::ptr::NonNull::new((*crate::wrap::task::current()).group_leader).ok_or(ESRCH)?,
        )
    };
    let mine = shared_ptrs(&TaskRef::current_ref());
    let theirs = shared_ptrs(&leader);
    for (k, fs) in [(SHARED_FILES, false), (SHARED_FS, true)] {
        if mine.get(k) != theirs.get(k) {
            leader.share_table_with_current(fs)?;
        }
    }
    Ok(())
}
