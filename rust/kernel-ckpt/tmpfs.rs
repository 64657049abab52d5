// SPDX-License-Identifier: GPL-2.0

//! A pod's private tmpfs mounts: `/dev/shm` and `/tmp` of a pod with a
//! mount namespace of its own, and every file in them.
//!
//! At checkpoint the pod's mount namespace must be its checkpointer's
//! mounts as `CLONE_NEWNS` copied them, plus a tmpfs mounted on
//! `/dev/shm` or `/tmp` that no other mount shares
//! (`ckpt_pod_mounts()` in `fs/namespace.c` compares the two trees). Each
//! such mount is written as a `pod-mount` record (its flags and limits),
//! then its files as `tmpfs-file` records, each directory's entries after
//! it (a depth-first walk with an explicit stack), a regular file's
//! contents in `shmem-pages` records (holes left out). The checkpointer
//! must be able to read each file and directory as read(2) and
//! getdents(2) would: the image holds nothing it could not copy itself.
//! It reads them with `O_NOATIME`: a checkpoint leaves their access times
//! as they were.
//!
//! At restart the records come before the pod's tasks, read by its init in
//! its new mount namespace with the caller's credentials: the tmpfs is
//! mounted as mount(2) would (the mount point must not propagate to
//! another namespace), each file made as mkdir(2), open(2), symlink(2),
//! link(2) or mknod(2) would, beneath a directory made from the same
//! image, and at the end of the image given its owner, mode and times as
//! lchown(2), chmod(2) and utimensat(2) would: a restart makes nothing the
//! caller could not make itself.
//!
//! Not carried: sockets bound in them (a unix socket of the tree is bound
//! again by its own record), extended attributes and ACLs, the change
//! time; device nodes and read-only or huge-page tmpfs mounts are refused.

use crate::forest::refuse;
use crate::image::{
    ObjId, PodMountObj, RecordType, TmpfsFileObj, MAX_PATH_LEN, MS_NOATIME, MS_NODEV,
    MS_NODIRATIME, MS_NOEXEC, MS_NOSUID, MS_RELATIME, MS_STRICTATIME, POD_MOUNT_POINTS, TMPFS_DIR,
    TMPFS_FIFO, TMPFS_LINK, TMPFS_REG, TMPFS_SYMLINK,
};
use crate::objhash::{insert_at, pop, ObjHash, ObjTable};
use crate::wrap::file::FileRef;
use crate::wrap::path::PathRef;
use crate::wrap::task::TaskRef;
use crate::writer::ImageWriter;
use kernel::bindings;
use kernel::error::to_result;
use kernel::prelude::*;
use kernel::str::CString;

/// Files in one mount at most.
const MAX_FILES: usize = 1 << 20;
/// The names of one directory at most, NUL separated.
const MAX_DIR_NAMES: usize = 16 << 20;

/// The private tmpfs mounts of a pod, by index in [`POD_MOUNT_POINTS`].
pub(crate) struct PodMounts([Option<PathRef>; bindings::CKPT_POD_MOUNTS as usize]);

/// Marker kinds of the ids the walk gives out (keyed by a counter).
struct MountKind;
struct FileKind;

/// Checkpoint: the private tmpfs mounts of `root`, the init of a pod whose
/// mount namespace is not the caller's; `-EOPNOTSUPP` (the kernel log says
/// why) if that namespace differs from the caller's otherwise, or a mount
/// is read-only.
pub(crate) fn check(root: &TaskRef) -> Result<PodMounts> {
    let mut out = [bindings::path {
        mnt: core::ptr::null_mut(),
        dentry: core::ptr::null_mut(),
    }; bindings::CKPT_POD_MOUNTS as usize];
    let mut why = [0u8; 192];
    // SAFETY: the task is referenced; `out` has CKPT_POD_MOUNTS entries and
    // `why` its length; the helper fills the paths it finds with
    // references and `why` with a NUL-terminated string.
    let r = unsafe {
        bindings::ckpt_pod_mounts(
            root.as_ptr(),
            out.as_mut_ptr(),
            why.as_mut_ptr().cast(),
            why.len(),
        )
    };
    // INVARIANT: a non-null entry holds the references the helper took;
    // on failure it holds none.
    let mounts = PodMounts(out.map(|p| {
        (!p.mnt.is_null())
            // SAFETY: see above.
            .then(|| unsafe { PathRef::from_raw(p) })
    }));
    if r == crate::wrap::errno::eopnotsupp().to_errno() {
        let len = why.iter().position(|&c| c == 0).unwrap_or(why.len());
        return Err(refuse(
            root,
            format_args!(
                "is the init of a pod whose mount namespace {}: only a private tmpfs on /dev/shm and /tmp may differ from the caller's (ckpt run --pod --private-tmp makes them)",
                crate::log::Shown(why.get(..len).unwrap_or(&[]))
            ),
        ));
    }
    to_result(r)?;
    for (p, name) in mounts.0.iter().zip(POD_MOUNT_POINTS) {
        let Some(p) = p else { continue };
        if mount_flags(p).is_none() {
            return Err(refuse(
                root,
                format_args!(
                    "is the init of a pod whose tmpfs on {} is read-only (not carried)",
                    crate::log::Shown(name)
                ),
            ));
        }
    }
    Ok(mounts)
}

/// `SB_RDONLY` (`include/linux/fs.h`).
const SB_RDONLY: u64 = 1;

/// The `MS_*` flags of the mount of `p`, `None` if it is read-only.
fn mount_flags(p: &PathRef) -> Option<u32> {
    let raw = p.as_raw();
    // SAFETY: the path is referenced, so are its mount and super block;
    // the flags are read once (a remount may change them).
    let (mnt, sb) = unsafe {
        (
            core::ptr::read_volatile(&(*raw.mnt).mnt_flags) as u32,
            core::ptr::read_volatile(&(*(*raw.mnt).mnt_sb).s_flags) as u64,
        )
    };
    if mnt & bindings::MNT_READONLY != 0 || sb & SB_RDONLY != 0 {
        return None;
    }
    let mut ms = 0;
    for (m, s) in [
        (bindings::MNT_NOSUID, MS_NOSUID),
        (bindings::MNT_NODEV, MS_NODEV),
        (bindings::MNT_NOEXEC, MS_NOEXEC),
        (bindings::MNT_NOATIME, MS_NOATIME),
        (bindings::MNT_NODIRATIME, MS_NODIRATIME),
        (bindings::MNT_RELATIME, MS_RELATIME),
    ] {
        if mnt & m != 0 {
            ms |= s;
        }
    }
    if mnt & (bindings::MNT_NOATIME | bindings::MNT_RELATIME) == 0 {
        ms |= MS_STRICTATIME;
    }
    Some(ms)
}

/// Checkpoint: writes each private mount and its files.
pub(crate) fn dump(w: &mut ImageWriter, objs: &mut ObjHash, mounts: &PodMounts) -> Result {
    let mut counter = 0usize;
    for (p, name) in mounts.0.iter().zip(POD_MOUNT_POINTS) {
        let Some(p) = p else { continue };
        let (mut size, mut inodes) = (0u64, 0u64);
        // SAFETY: the mount is referenced, and of a tmpfs (the helper that
        // found it checked); the helper reads its limits under its lock.
        unsafe { bindings::ckpt_tmpfs_limits((*p.as_raw().mnt).mnt_sb, &mut size, &mut inodes) };
        counter += 1;
        let rec = PodMountObj {
            id: objs.fresh::<MountKind>(counter)?,
            flags: mount_flags(p).ok_or(EBUSY)?,
            size,
            nr_inodes: inodes,
            path_len: name.len() as u32,
        };
        w.record_parts(RecordType::PodMount, &[&rec.encode(), name])?;
        walk(w, objs, p, name, &mut counter)?;
    }
    Ok(())
}

/// Writes the files of the mount whose root is `root` (mounted on `name`),
/// each directory's entries after it.
fn walk(
    w: &mut ImageWriter,
    objs: &mut ObjHash,
    root: &PathRef,
    name: &[u8],
    counter: &mut usize,
) -> Result {
    // Regular files with more than one name: inode number (unique in its
    // tmpfs) → first id.
    let mut links: KVVec<(usize, ObjId)> = KVVec::new();
    let mut stack: KVVec<(PathRef, KVec<u8>)> = KVVec::new();
    let mut files = 0usize;
    write_file(w, objs, root, &[], name, &mut links, counter)?;
    stack.push((root.clone_ref(), KVec::new()), GFP_KERNEL)?;
    while let Some((dir, rel)) = pop(&mut stack) {
        crate::wrap::task::killable()?;
        let names = dir_names(&dir, name, &rel)?;
        for child in names.split(|&c| c == 0).filter(|n| !n.is_empty()) {
            crate::wrap::task::killable()?;
            files += 1;
            if files > MAX_FILES {
                ckpt_err!(
                    "checkpoint: the pod's {} holds more than {} files, more than an image carries\n",
                    crate::log::Shown(name),
                    MAX_FILES
                );
                return Err(E2BIG);
            }
            let mut path = KVec::with_capacity(rel.len() + 1 + child.len(), GFP_KERNEL)?;
            if !rel.is_empty() {
                path.extend_from_slice(&rel, GFP_KERNEL)?;
                path.push(b'/', GFP_KERNEL)?;
            }
            path.extend_from_slice(child, GFP_KERNEL)?;
            if path.len() + name.len() >= MAX_PATH_LEN as usize {
                ckpt_err!(
                    "checkpoint: a file of the pod's {} has a path longer than an image carries\n",
                    crate::log::Shown(name)
                );
                return Err(crate::wrap::errno::enametoolong());
            }
            // Gone since it was listed: nothing to save of it.
            let Some(p) = dir.child(child)? else { continue };
            if write_file(w, objs, &p, &path, name, &mut links, counter)? == Some(TMPFS_DIR) {
                stack.push((p, path), GFP_KERNEL)?;
            }
        }
    }
    Ok(())
}

/// The names in directory `dir`, NUL separated.
fn dir_names(dir: &PathRef, mount: &[u8], rel: &[u8]) -> Result<KVVec<u8>> {
    let mut len = 64 * 1024;
    loop {
        let mut buf = KVVec::from_elem(0u8, len, GFP_KERNEL)?;
        // A new open file for each try: its position is at the start.
        // SAFETY: the path is referenced; the helper returns a referenced
        // file or an ERR_PTR.
        let f = unsafe {
            FileRef::from_made(bindings::ckpt_path_open(
                dir.as_raw(),
                (bindings::O_RDONLY
                    | bindings::O_DIRECTORY
                    | bindings::O_LARGEFILE
                    | bindings::O_NOATIME) as i32,
            ))
        }?;
        // SAFETY: the file is referenced, `buf` has `len` bytes.
        let r = unsafe { bindings::ckpt_dir_names(f.as_ptr(), buf.as_mut_ptr().cast(), len) };
        f.close_sync();
        if r == E2BIG.to_errno() as isize && len < MAX_DIR_NAMES {
            len *= 2;
            continue;
        }
        if r < 0 {
            ckpt_err!(
                "checkpoint: cannot list directory {}/{} of the pod (error {})\n",
                crate::log::Shown(mount),
                crate::log::Shown(rel),
                r
            );
            return Err(Error::from_errno(r as i32));
        }
        let used = usize::try_from(r).map_err(|_| EINVAL)?;
        // SAFETY: the helper wrote `used` bytes, at most `len`.
        unsafe { buf.set_len(used.min(len)) };
        return Ok(buf);
    }
}

/// Writes the record of file `p` (at `path` below the mount on `mount`)
/// and a regular file's contents: its kind, or `None` for a socket (not
/// carried).
fn write_file(
    w: &mut ImageWriter,
    objs: &mut ObjHash,
    p: &PathRef,
    path: &[u8],
    mount: &[u8],
    links: &mut KVVec<(usize, ObjId)>,
    counter: &mut usize,
) -> Result<Option<u32>> {
    let shown = || Shown2(mount, path);
    // SAFETY: plain data, all zeros is valid.
    let mut st: bindings::ckpt_tmpfs_stat = unsafe { core::mem::zeroed() };
    // SAFETY: the dentry is referenced and positive (`PathRef::child`
    // checked, a mount's root is).
    unsafe { bindings::ckpt_tmpfs_stat(p.as_raw().dentry, &mut st) };
    let mut target = KVec::new();
    let mut link = 0;
    let kind = match st.mode & bindings::S_IFMT {
        bindings::S_IFDIR => TMPFS_DIR,
        bindings::S_IFREG => match links.binary_search_by_key(&(st.ino as usize), |(i, _)| *i) {
            Ok(i) => {
                link = links.get(i).map(|(_, id)| *id).ok_or(EINVAL)?;
                TMPFS_LINK
            }
            Err(_) => TMPFS_REG,
        },
        bindings::S_IFLNK => {
            target = KVec::from_elem(0u8, MAX_PATH_LEN as usize, GFP_KERNEL)?;
            // SAFETY: the dentry is a referenced symbolic link; `target`
            // has its length.
            let n = unsafe {
                bindings::ckpt_readlink(
                    p.as_raw().dentry,
                    target.as_mut_ptr().cast(),
                    MAX_PATH_LEN as i32,
                )
            };
            to_result(n)?;
            let n = usize::try_from(n).map_err(|_| EINVAL)?;
            // SAFETY: shrinks to the `n` bytes the helper wrote (fewer
            // than MAX_PATH_LEN), plain bytes.
            unsafe { target.set_len(n.min(MAX_PATH_LEN as usize)) };
            TMPFS_SYMLINK
        }
        bindings::S_IFIFO => TMPFS_FIFO,
        bindings::S_IFSOCK => return Ok(None),
        _ => {
            ckpt_err!(
                "checkpoint: the pod's {} is a device node: not carried\n",
                shown()
            );
            return Err(crate::wrap::errno::eopnotsupp());
        }
    };
    if kind == TMPFS_DIR || kind == TMPFS_REG {
        // SAFETY: the path is referenced.
        to_result(unsafe { bindings::ckpt_may_read(p.as_raw()) }).inspect_err(|e| {
            ckpt_err!(
                "checkpoint: cannot read the pod's {} (error {}): the caller saves only what it may read\n",
                shown(),
                e.to_errno()
            )
        })?;
    }
    if kind == TMPFS_REG && st.size > crate::image::ShmemObj::MAX_SIZE {
        ckpt_err!(
            "checkpoint: the pod's {} is {} bytes long, more than an image holds\n",
            shown(),
            st.size
        );
        return Err(EFBIG);
    }
    *counter += 1;
    let target_len = target.len();
    let rec = TmpfsFileObj {
        id: objs.fresh::<FileKind>(*counter)?,
        kind,
        mode: st.mode & 0o7777,
        uid: st.uid,
        gid: st.gid,
        size: if kind == TMPFS_SYMLINK {
            target_len as u64
        } else if kind == TMPFS_REG || kind == TMPFS_LINK {
            st.size
        } else {
            0
        },
        atime: st.atime,
        mtime: st.mtime,
        atime_ns: st.atime_ns,
        mtime_ns: st.mtime_ns,
        link,
        path_len: path.len() as u32,
        target_len: target_len as u32,
    };
    w.record_parts(RecordType::TmpfsFile, &[&rec.encode(), path, &target])?;
    if kind == TMPFS_REG {
        if st.nlink > 1 {
            let key = st.ino as usize;
            if let Err(at) = links.binary_search_by_key(&key, |(i, _)| *i) {
                insert_at(links, at, (key, rec.id), GFP_KERNEL)?;
            }
        }
        // SAFETY: the path is referenced; the helper returns a referenced
        // file or an ERR_PTR.
        let f = unsafe {
            FileRef::from_made(bindings::ckpt_path_open(
                p.as_raw(),
                (bindings::O_RDONLY | bindings::O_LARGEFILE | bindings::O_NOATIME) as i32,
            ))
        }?;
        let written = crate::shmem::write_contents_of(w, &f, rec.id, rec.pages_size());
        f.close_sync();
        written?;
    }
    Ok(Some(kind))
}

/// A mount point and a path below it, for the kernel log.
struct Shown2<'a>(&'a [u8], &'a [u8]);

impl core::fmt::Display for Shown2<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}", crate::log::Shown(self.0))?;
        if !self.1.is_empty() {
            write!(f, "/{}", crate::log::Shown(self.1))?;
        }
        Ok(())
    }
}

/// Restart: the pod mount whose files are being read, and the directories
/// made for it that may still get entries (the walk's stack).
pub(crate) struct Restoring {
    mount: KVec<u8>,
    dirs: KVVec<KVec<u8>>,
    /// The object of the regular file whose contents may follow.
    open: ObjId,
    /// Files made in the mount so far.
    files: usize,
}

impl Default for Restoring {
    fn default() -> Self {
        Self {
            mount: KVec::new(),
            dirs: KVVec::new(),
            open: 0,
            files: 0,
        }
    }
}

/// The regular file whose contents were being read is complete: closed
/// now, not at the end of the restart (a task may map or execute it).
fn close_open(objs: &mut ObjTable) -> Result {
    let open = core::mem::take(&mut objs.tmpfs().open);
    if open != 0 {
        if let Some(f) = objs.tmpfs_hold(open)?.file.take() {
            f.close_sync();
        }
    }
    Ok(())
}

/// What restart holds of a file of a pod mount until the end of the image.
pub(crate) struct TmpfsHold {
    path: PathRef,
    /// Its path from the pod's root (a regular file's, for its other
    /// names).
    name: KVec<u8>,
    /// Its owner, group, mode and times; `None` for another name of a
    /// file (given them through its first).
    attrs: Option<TmpfsFileObj>,
    /// A regular file open for its contents, until the next file record.
    file: Option<FileRef>,
}

impl TmpfsHold {
    /// The open file of a regular file whose contents are being read.
    pub(crate) fn file(&self) -> Option<&FileRef> {
        self.file.as_ref()
    }

    /// The end of the image: its owner, mode and times.
    pub(crate) fn finish(&mut self) -> Result {
        if let Some(f) = self.file.take() {
            f.close_sync();
        }
        let Some(a) = &self.attrs else {
            return Ok(());
        };
        // SAFETY: the path is referenced; the helper changes its inode as
        // lchown(2), chmod(2) and utimensat(2) would, with their checks.
        to_result(unsafe {
            bindings::ckpt_tmpfs_set_attrs(
                self.path.as_raw(),
                a.uid,
                a.gid,
                a.mode as u16,
                a.atime,
                a.atime_ns,
                a.mtime,
                a.mtime_ns,
            )
        })
        .inspect_err(|e| {
            ckpt_err!(
                "restart: cannot give {} its owner {}:{}, mode {:o} and times (error {})\n",
                crate::log::Shown(&self.name),
                a.uid,
                a.gid,
                a.mode,
                e.to_errno()
            )
        })
    }
}

/// Restart, before the pod's tasks: mounts a pod's tmpfs in the new mount
/// namespace of its init (current).
pub(crate) fn restore_mount(objs: &mut ObjTable, m: &PodMountObj, path: &[u8]) -> Result {
    let shown = crate::log::Shown(path);
    let options = CString::try_from_fmt(kernel::fmt!("size={},nr_inodes={}", m.size, m.nr_inodes))?;
    let at = crate::wrap::path::nul_terminated(path)?;
    // SAFETY: both strings are NUL-terminated; the helper mounts as
    // mount(2) would, with its checks.
    to_result(unsafe {
        bindings::ckpt_tmpfs_mount(at.as_ptr().cast(), m.flags as _, options.as_char_ptr())
    })
    .inspect_err(|e| {
        ckpt_err!(
            "restart: cannot mount the pod's tmpfs on {} (error {}): its init needs a mount namespace of its own whose mounts do not propagate (ckpt restart makes it)\n",
            shown,
            e.to_errno()
        )
    })?;
    close_open(objs)?;
    let r = objs.tmpfs();
    r.mount = KVec::new();
    r.mount.extend_from_slice(path, GFP_KERNEL_ACCOUNT)?;
    r.dirs = KVVec::new();
    r.files = 0;
    objs.add(m.id, crate::objhash::Obj::Ipc)
}

/// Restart: makes a file of the pod mount before it.
pub(crate) fn restore_file(
    objs: &mut ObjTable,
    f: &TmpfsFileObj,
    path: &[u8],
    target: &[u8],
) -> Result {
    close_open(objs)?;
    let r = objs.tmpfs();
    r.files += 1;
    if r.files > MAX_FILES + 1 {
        ckpt_err!(
            "restart: the pod's {} holds more than {} files, more than an image carries\n",
            crate::log::Shown(&r.mount),
            MAX_FILES
        );
        return Err(E2BIG);
    }
    let mut name = KVec::with_capacity(r.mount.len() + 1 + path.len(), GFP_KERNEL_ACCOUNT)?;
    name.extend_from_slice(&r.mount, GFP_KERNEL_ACCOUNT)?;
    if !path.is_empty() {
        name.push(b'/', GFP_KERNEL_ACCOUNT)?;
        name.extend_from_slice(path, GFP_KERNEL_ACCOUNT)?;
        // Beneath a directory this image made: the walk's stack holds the
        // directories whose entries may still come, its parent last.
        let parent = path
            .iter()
            .rposition(|&c| c == b'/')
            .and_then(|i| path.get(..i))
            .unwrap_or(&[]);
        while r.dirs.last().is_some_and(|d| d.as_slice() != parent) {
            pop(&mut r.dirs);
        }
        if !parent.is_empty() && r.dirs.is_empty() {
            ckpt_err!(
                "restart: {} is not below a directory of the image\n",
                crate::log::Shown(&name)
            );
            return Err(EINVAL);
        }
    } else if r.mount.is_empty() {
        return Err(EINVAL);
    }
    let shown = crate::log::Shown(&name);
    let fail = |what: &str, e: Error| {
        ckpt_err!(
            "restart: cannot make {} again ({}, error {})\n",
            shown,
            what,
            e.to_errno()
        );
        e
    };
    let make = |kind: u32, other: &[u8]| -> Result {
        let at = crate::wrap::path::nul_terminated(&name)?;
        let other = crate::wrap::path::nul_terminated(other)?;
        // SAFETY: both strings are NUL-terminated; the helper makes the
        // file as the system call would, with its checks.
        to_result(unsafe {
            bindings::ckpt_tmpfs_make(at.as_ptr().cast(), kind, other.as_ptr().cast())
        })
    };
    let mut file = None;
    let mut attrs = Some(*f);
    match f.kind {
        TMPFS_DIR if path.is_empty() => {}
        TMPFS_DIR => make(bindings::CKPT_TMPFS_DIR, &[]).map_err(|e| fail("mkdir", e))?,
        TMPFS_REG => {
            let flags = bindings::O_WRONLY
                | bindings::O_CREAT
                | bindings::O_EXCL
                | bindings::O_NOFOLLOW
                | bindings::O_LARGEFILE;
            let made = FileRef::create(&name, flags as i32, 0o600).map_err(|e| fail("open", e))?;
            let size = i64::try_from(f.size).map_err(|_| EINVAL)?;
            // SAFETY: the file is referenced and open for writing.
            let r = unsafe { bindings::ckpt_file_truncate(made.as_ptr(), size) };
            to_result(r.try_into().map_err(|_| EINVAL)?).map_err(|e| fail("ftruncate", e))?;
            file = Some(made);
        }
        TMPFS_SYMLINK => {
            make(bindings::CKPT_TMPFS_SYMLINK, target).map_err(|e| fail("symlink", e))?
        }
        TMPFS_FIFO => make(bindings::CKPT_TMPFS_FIFO, &[]).map_err(|e| fail("mknod", e))?,
        TMPFS_LINK => {
            let first = objs.tmpfs_hold(f.link)?;
            let mut other = KVec::new();
            other.extend_from_slice(&first.name, GFP_KERNEL_ACCOUNT)?;
            make(bindings::CKPT_TMPFS_LINK, &other).map_err(|e| fail("link", e))?;
            attrs = None;
        }
        _ => return Err(EINVAL),
    }
    let p = PathRef::lookup_nofollow(&name).map_err(|e| fail("lookup", e))?;
    if f.kind == TMPFS_DIR && !path.is_empty() {
        let mut d = KVec::new();
        d.extend_from_slice(path, GFP_KERNEL_ACCOUNT)?;
        objs.tmpfs().dirs.push(d, GFP_KERNEL_ACCOUNT)?;
    }
    if file.is_some() {
        objs.tmpfs().open = f.id;
    }
    objs.add(
        f.id,
        crate::objhash::Obj::Tmpfs(TmpfsHold {
            path: p,
            name,
            attrs,
            file,
        }),
    )
}
