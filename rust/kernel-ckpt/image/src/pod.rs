// SPDX-License-Identifier: GPL-2.0
//! The namespaces of a pod: what an image of a whole pid namespace holds
//! besides its tasks.
//!
//! Written by the kernel's `checkpoint.rs` after the forest rows of an
//! image taken without [`CHECKPOINT_SUBTREE`], read by the coordinator of
//! its restart.

use super::codec::{Field, Reader, Writer};
use super::*;

/// The pod had a UTS namespace of its own (not its checkpointer's).
pub const POD_NEWUTS: u32 = 1 << 0;
/// The pod had an IPC namespace of its own.
pub const POD_NEWIPC: u32 = 1 << 1;
/// The pod had a cgroup namespace of its own, rooted at its job cgroup.
pub const POD_NEWCGROUP: u32 = 1 << 2;
/// Every `POD_*` flag.
pub const POD_FLAGS_MASK: u32 = POD_NEWUTS | POD_NEWIPC | POD_NEWCGROUP;

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
