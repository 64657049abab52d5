// SPDX-License-Identifier: GPL-2.0
//! The namespaces of a pod: what an image of a whole pid namespace holds
//! besides its tasks.
//!
//! Written by the kernel's `checkpoint.rs` after the forest rows of an
//! image taken without [`CHECKPOINT_SUBTREE`], read by the coordinator of
//! its restart.

use super::codec::{tail, Field, Reader, Writer};
use super::*;

/// The pod had a UTS namespace of its own (not its checkpointer's).
pub const POD_NEWUTS: u32 = 1 << 0;
/// The pod had an IPC namespace of its own.
pub const POD_NEWIPC: u32 = 1 << 1;
/// The pod had a cgroup namespace of its own, rooted at its job cgroup.
pub const POD_NEWCGROUP: u32 = 1 << 2;
/// The pod had a mount namespace of its own: its checkpointer's mounts
/// and private tmpfs mounts on the [`POD_MOUNT_POINTS`], whose contents
/// follow in [`PodMountObj`] and [`TmpfsFileObj`] records.
pub const POD_NEWNS: u32 = 1 << 3;
/// The pod had a network namespace of its own, with its loopback device
/// only: a [`PodNetRec`] follows the pod record (and its `pod-ipc`).
pub const POD_NEWNET: u32 = 1 << 4;
/// Every `POD_*` flag.
pub const POD_FLAGS_MASK: u32 = POD_NEWUTS | POD_NEWIPC | POD_NEWCGROUP | POD_NEWNS | POD_NEWNET;

/// Length of a UTS name field with its NUL (`__NEW_UTS_LEN + 1`).
pub const UTS_LEN: usize = 65;

/// The namespaces of a whole-namespace image, once, right after the
/// forest rows: which the pod had of its own, and the host and domain
/// names of its UTS namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PodRec {
    /// `POD_*` flags.
    pub flags: u32,
    /// `uname -n` in the pod, NUL padded (all NULs without [`POD_NEWUTS`]).
    pub nodename: [u8; UTS_LEN],
    /// The NIS domain name in the pod, NUL padded.
    pub domainname: [u8; UTS_LEN],
}

impl Default for PodRec {
    fn default() -> Self {
        Self {
            flags: 0,
            nodename: [0; UTS_LEN],
            domainname: [0; UTS_LEN],
        }
    }
}

impl PodRec {
    /// The host name as text (up to the first NUL).
    pub fn nodename_str(&self) -> &str {
        c_str(&self.nodename)
    }

    /// The domain name as text (up to the first NUL).
    pub fn domainname_str(&self) -> &str {
        c_str(&self.domainname)
    }

    pub(crate) fn decode(p: &[u8]) -> Result<Self, ErrorKind> {
        let (r, _) = Self::read_fixed(p)?;
        if r.flags & !POD_FLAGS_MASK != 0 {
            return Err(ErrorKind::BadField("pod flags", r.flags.into()));
        }
        for (what, name) in [
            ("pod host name", &r.nodename),
            ("pod domain name", &r.domainname),
        ] {
            // NUL terminated, and nothing but NULs after the first.
            let end = name.iter().position(|&c| c == 0);
            match end {
                Some(end) if name.iter().skip(end).all(|&c| c == 0) => {}
                _ => return Err(ErrorKind::BadField(what, 0)),
            }
            if r.flags & POD_NEWUTS == 0 && end != Some(0) {
                return Err(ErrorKind::BadField(what, 0));
            }
        }
        Ok(r)
    }
}

layout!(PodRec { flags: u32, nodename: [u8; UTS_LEN], domainname: [u8; UTS_LEN], _: [u8; 2] });

/// The `kernel.shm*`, `msg*` and `sem` sysctls of a pod's own IPC
/// namespace: a `pod-ipc` record right after the pod record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PodIpcRec {
    pub shmmax: u64,
    pub shmall: u64,
    pub shmmni: i32,
    /// 0 or 1.
    pub shm_rmid_forced: i32,
    pub msgmax: i32,
    pub msgmnb: i32,
    pub msgmni: i32,
    /// `SEMMSL`, `SEMMNS`, `SEMOPM`, `SEMMNI`.
    pub sem: [i32; 4],
    /// `fs.mqueue`: `queues_max`, `msg_max`, `msgsize_max`, `msg_default`,
    /// `msgsize_default`.
    pub mq: [i32; 5],
    /// `kernel.sem_next_id`, `msg_next_id`, `shm_next_id`: the id the
    /// next object of that kind gets, -1 when unset.
    pub next_id: [i32; 3],
}

impl Default for PodIpcRec {
    /// Zeros, and the `fs.mqueue` sysctls of a new namespace.
    fn default() -> Self {
        Self {
            shmmax: 0,
            shmall: 0,
            shmmni: 0,
            shm_rmid_forced: 0,
            msgmax: 0,
            msgmnb: 0,
            msgmni: 0,
            sem: [0; 4],
            mq: MQ_SYSCTL_DEFAULTS,
            next_id: [-1; 3],
        }
    }
}

/// A new IPC namespace's `fs.mqueue` sysctls (`DFLT_*`), which images
/// written before they were saved hold.
pub const MQ_SYSCTL_DEFAULTS: [i32; 5] = [256, 10, 8192, 10, 8192];

/// Most SysV identifiers a namespace may have (`IPCMNI_EXTEND`).
pub const MAX_IPC_MNI: i32 = 1 << 24;

impl PodIpcRec {
    /// Length of the record written before the `fs.mqueue` and
    /// `*_next_id` sysctls were (read with a new namespace's values).
    pub const LEN_BEFORE_MQ: usize = 56;
    /// Length of the record written with the `fs.mqueue` sysctls but
    /// before the `*_next_id` ones (then refused when set: read as unset).
    pub const LEN_BEFORE_NEXT_ID: usize = 72;

    pub(crate) fn decode(p: &[u8]) -> Result<Self, ErrorKind> {
        let (r, _) = if p.len() == Self::LEN_BEFORE_MQ {
            // Read as if the new namespace's defaults followed.
            let mut whole = [0u8; Self::LEN];
            let mut w = Writer::new(&mut whole);
            // All but its padding, which is zero.
            let (fields, pad) = p.split_at(Self::LEN_BEFORE_MQ - 4);
            if pad.iter().any(|&b| b != 0) {
                return Err(ErrorKind::BadPadding);
            }
            w.bytes(fields);
            MQ_SYSCTL_DEFAULTS.put(&mut w);
            [-1i32; 3].put(&mut w);
            let (r, _) = Self::read_fixed(&whole)?;
            (r, &[][..])
        } else if p.len() == Self::LEN_BEFORE_NEXT_ID {
            let mut whole = [0u8; Self::LEN];
            let mut w = Writer::new(&mut whole);
            w.bytes(p);
            [-1i32; 3].put(&mut w);
            let (r, _) = Self::read_fixed(&whole)?;
            (r, &[][..])
        } else {
            Self::read_fixed(p)?
        };
        let bad = |what, v: i32| Err(ErrorKind::BadField(what, v.into()));
        // Their sysctl files' bounds (MIN_* and HARD_*).
        for (what, v, range) in [
            ("fs.mqueue.msg_max", r.mq[1], 1..=65536),
            ("fs.mqueue.msgsize_max", r.mq[2], 128..=16 << 20),
            ("fs.mqueue.msg_default", r.mq[3], 1..=65536),
            ("fs.mqueue.msgsize_default", r.mq[4], 128..=16 << 20),
        ] {
            if !range.contains(&v) {
                return bad(what, v);
            }
        }
        if let Some(&v) = r.next_id.iter().find(|&&v| v < -1) {
            return bad("kernel.*_next_id", v);
        }
        for (what, v) in [
            ("kernel.shmmni", r.shmmni),
            ("kernel.msgmni", r.msgmni),
            ("kernel.sem", r.sem[3]),
        ] {
            if !(0..=MAX_IPC_MNI).contains(&v) {
                return bad(what, v);
            }
        }
        if !(0..=1).contains(&r.shm_rmid_forced) {
            return bad("kernel.shm_rmid_forced", r.shm_rmid_forced);
        }
        if r.msgmax < 0 || r.msgmnb < 0 {
            return bad("kernel.msgmax", r.msgmax.min(r.msgmnb));
        }
        Ok(r)
    }
}

layout!(PodIpcRec {
    shmmax: u64,
    shmall: u64,
    shmmni: i32,
    shm_rmid_forced: i32,
    msgmax: i32,
    msgmnb: i32,
    msgmni: i32,
    sem: [i32; 4],
    mq: [i32; 5],
    next_id: [i32; 3],
    _: u32
});

/// Where a pod with a mount namespace of its own may have a private tmpfs
/// mount whose contents its image carries (`ckpt run --pod --private-tmp`
/// makes both).
pub const POD_MOUNT_POINTS: [&[u8]; 2] = [b"/dev/shm", b"/tmp"];

/// `MS_*` flags of mount(2) (`include/uapi/linux/mount.h`) that a pod's
/// tmpfs mount carries.
pub const MS_RDONLY: u32 = 0x1;
/// See [`MS_RDONLY`].
pub const MS_NOSUID: u32 = 0x2;
/// See [`MS_RDONLY`].
pub const MS_NODEV: u32 = 0x4;
/// See [`MS_RDONLY`].
pub const MS_NOEXEC: u32 = 0x8;
/// See [`MS_RDONLY`].
pub const MS_NOATIME: u32 = 0x400;
/// See [`MS_RDONLY`].
pub const MS_NODIRATIME: u32 = 0x800;
/// See [`MS_RDONLY`].
pub const MS_RELATIME: u32 = 1 << 21;
/// See [`MS_RDONLY`].
pub const MS_STRICTATIME: u32 = 1 << 24;

/// The `MS_*` flags of a pod's tmpfs mount other than `MS_RDONLY`, each
/// with the name `mount` shows it by.
pub const POD_MOUNT_FLAG_NAMES: [(u32, &str); 7] = [
    (MS_NOSUID, "nosuid"),
    (MS_NODEV, "nodev"),
    (MS_NOEXEC, "noexec"),
    (MS_NOATIME, "noatime"),
    (MS_NODIRATIME, "nodiratime"),
    (MS_RELATIME, "relatime"),
    (MS_STRICTATIME, "strictatime"),
];

/// The `MS_*` flags of a pod's tmpfs mount that are carried: `MS_RDONLY`
/// and those of [`POD_MOUNT_FLAG_NAMES`].
pub const POD_MOUNT_FLAGS: u32 = MS_RDONLY
    | MS_NOSUID
    | MS_NODEV
    | MS_NOEXEC
    | MS_NOATIME
    | MS_NODIRATIME
    | MS_RELATIME
    | MS_STRICTATIME;

/// A private tmpfs mount of a pod (one of [`POD_MOUNT_POINTS`], which
/// follows as its path), written once before the pod's tasks; its files
/// follow in [`TmpfsFileObj`] records, its root directory first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PodMountObj {
    /// Object id.
    pub id: ObjId,
    /// Its `MS_*` mount flags, within [`POD_MOUNT_FLAGS`].
    pub flags: u32,
    /// Its size limit in bytes (tmpfs `size=`), 0 for none.
    pub size: u64,
    /// Its limit on files (tmpfs `nr_inodes=`), 0 for none.
    pub nr_inodes: u64,
    /// Length of its mount point, which follows.
    pub path_len: u32,
}

impl PodMountObj {
    pub(crate) fn decode(p: &[u8]) -> Result<(Self, &[u8]), ErrorKind> {
        let (m, rest) = Self::read_fixed(p)?;
        if m.flags & !POD_MOUNT_FLAGS != 0 {
            return Err(ErrorKind::BadField("pod mount flags", m.flags.into()));
        }
        let path = tail(rest, m.path_len)?;
        if !POD_MOUNT_POINTS.contains(&path) {
            return Err(ErrorKind::BadField("pod mount point", m.path_len.into()));
        }
        Ok((m, path))
    }
}

layout!(PodMountObj {
    id: ObjId,
    flags: u32,
    size: u64,
    nr_inodes: u64,
    path_len: u32
});

/// A directory.
pub const TMPFS_DIR: u32 = 1;
/// A regular file, whose contents follow in [`ShmemPagesHeader`]
/// records (holes are not saved).
pub const TMPFS_REG: u32 = 2;
/// A symbolic link, whose target follows its path.
pub const TMPFS_SYMLINK: u32 = 3;
/// A named pipe (its bytes in flight are carried by the process that
/// holds it open, if one does).
pub const TMPFS_FIFO: u32 = 4;
/// Another name of a regular file written before ([`TmpfsFileObj::link`]).
pub const TMPFS_LINK: u32 = 5;

/// Longest name of one path component (`NAME_MAX`).
pub const TMPFS_NAME_MAX: usize = 255;

/// A file of a pod's private tmpfs mount, after the mount's record and
/// its parent directory's; its path relative to the mount (empty for the
/// mount's root directory, which comes first) follows, then a symbolic
/// link's target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TmpfsFileObj {
    /// Object id.
    pub id: ObjId,
    /// `TMPFS_*`.
    pub kind: u32,
    /// Its permission bits, set-id and sticky bits included.
    pub mode: u32,
    /// Its owner and group, as the checkpointer's user namespace sees them.
    pub uid: u32,
    /// See `uid`.
    pub gid: u32,
    /// Its size in bytes (a symbolic link's: its target's length).
    pub size: u64,
    /// Last access, seconds since the epoch.
    pub atime: i64,
    /// Last modification, seconds since the epoch.
    pub mtime: i64,
    /// Nanoseconds of `atime`.
    pub atime_ns: u32,
    /// Nanoseconds of `mtime`.
    pub mtime_ns: u32,
    /// For [`TMPFS_LINK`]: the record of the file's first name.
    pub link: ObjId,
    /// Length of its path, which follows.
    pub path_len: u32,
    /// Length of a symbolic link's target, which follows its path.
    pub target_len: u32,
}

/// Whether `path` is a path relative to a mount as a [`TmpfsFileObj`]
/// holds one: names of at most `NAME_MAX` bytes joined by single slashes,
/// none `.` or `..`, no NUL.
pub fn check_tmpfs_path(path: &[u8]) -> bool {
    path.len() < MAX_PATH_LEN as usize
        && !path.contains(&0)
        && path
            .split(|&c| c == b'/')
            .all(|n| !n.is_empty() && n.len() <= TMPFS_NAME_MAX && n != b"." && n != b"..")
}

impl TmpfsFileObj {
    pub(crate) fn decode(p: &[u8]) -> Result<(Self, &[u8], &[u8]), ErrorKind> {
        let (f, rest) = Self::read_fixed(p)?;
        let total = f
            .path_len
            .checked_add(f.target_len)
            .ok_or(ErrorKind::BadField(
                "tmpfs file name lengths",
                f.path_len.into(),
            ))?;
        let rest = tail(rest, total)?;
        let (path, target) = rest.split_at(f.path_len as usize);
        if !(TMPFS_DIR..=TMPFS_LINK).contains(&f.kind) {
            return Err(ErrorKind::BadField("tmpfs file kind", f.kind.into()));
        }
        if f.mode & !0o7777 != 0 {
            return Err(ErrorKind::BadField("tmpfs file mode", f.mode.into()));
        }
        if f.atime_ns >= 1_000_000_000 || f.mtime_ns >= 1_000_000_000 {
            return Err(ErrorKind::BadField("tmpfs file time", 0));
        }
        if !path.is_empty() && !check_tmpfs_path(path) {
            return Err(ErrorKind::BadField("tmpfs file path", f.path_len.into()));
        }
        match f.kind {
            TMPFS_SYMLINK
                if target.is_empty()
                    || target.len() >= MAX_PATH_LEN as usize
                    || target.contains(&0)
                    || f.size != target.len() as u64 =>
            {
                return Err(ErrorKind::BadField(
                    "tmpfs link target",
                    f.target_len.into(),
                ));
            }
            TMPFS_SYMLINK => {}
            _ if !target.is_empty() => {
                return Err(ErrorKind::BadField(
                    "tmpfs link target",
                    f.target_len.into(),
                ));
            }
            TMPFS_REG if f.size > ShmemObj::MAX_SIZE => {
                return Err(ErrorKind::BadField("tmpfs file size", f.size as i64));
            }
            _ => {}
        }
        if (f.kind == TMPFS_LINK) != (f.link != 0) {
            return Err(ErrorKind::BadField("tmpfs file link", f.link.into()));
        }
        Ok((f, path, target))
    }

    /// The size its contents records may cover: a regular file's size up
    /// to a page, nothing for the others.
    pub fn pages_size(&self) -> u64 {
        if self.kind == TMPFS_REG {
            self.size.next_multiple_of(PAGE_SIZE as u64)
        } else {
            0
        }
    }
}

layout!(TmpfsFileObj {
    id: ObjId,
    kind: u32,
    mode: u32,
    uid: u32,
    gid: u32,
    size: u64,
    atime: i64,
    mtime: i64,
    atime_ns: u32,
    mtime_ns: u32,
    link: ObjId,
    path_len: u32,
    target_len: u32
});

/// `IFF_UP`: the loopback device is up.
pub const LO_UP: u32 = 1;

/// The network namespace of a pod: its loopback device (the only one it
/// may have, with its default addresses) and the groups that may open
/// ICMP ping sockets in it, right after the pod record and its `pod-ipc`
/// record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PodNetRec {
    /// [`LO_UP`] or 0.
    pub lo_flags: u32,
    /// The loopback device's MTU.
    pub lo_mtu: u32,
    /// `net.ipv4.ping_group_range`: the first and last group ids that may
    /// open ping sockets, as the checkpoint's caller sees them; none
    /// ([`PodNetRec::PING_NONE`], a new namespace's) when the last is
    /// below the first.
    pub ping_gid_low: u32,
    pub ping_gid_high: u32,
}

impl PodNetRec {
    /// The loopback MTU's bounds (`ETH_MIN_MTU`, and 64 KiB, the
    /// loopback's own).
    pub const MTU: core::ops::RangeInclusive<u32> = 68..=65536;
    /// The range of no group, a new namespace's: `1 0`.
    pub const PING_NONE: (u32, u32) = (1, 0);

    pub(crate) fn decode(p: &[u8]) -> Result<Self, ErrorKind> {
        let (r, _) = Self::read_fixed(p)?;
        if r.lo_flags & !LO_UP != 0 {
            return Err(ErrorKind::BadField("pod loopback flags", r.lo_flags.into()));
        }
        if !Self::MTU.contains(&r.lo_mtu) {
            return Err(ErrorKind::BadField("pod loopback MTU", r.lo_mtu.into()));
        }
        // An empty range is written one way only; no id is -1 (the
        // kernel's invalid one).
        let empty = r.ping_gid_high < r.ping_gid_low;
        if (empty && (r.ping_gid_low, r.ping_gid_high) != Self::PING_NONE)
            || r.ping_gid_high == u32::MAX
        {
            return Err(ErrorKind::BadField(
                "pod ping_group_range",
                r.ping_gid_high.into(),
            ));
        }
        Ok(r)
    }
}

layout!(PodNetRec {
    lo_flags: u32,
    lo_mtu: u32,
    ping_gid_low: u32,
    ping_gid_high: u32
});
