// SPDX-License-Identifier: GPL-2.0
//! Signal state: masks, altstack, handlers, pending signals.
//!
//! Written by the kernel's `signal.rs`.

use super::codec::{Field, Reader, Writer};
use super::*;

/// Size of a saved siginfo (`struct kernel_siginfo` on x86_64).
pub const SIGINFO_LEN: usize = 48;
/// Most queued siginfos saved for one pending set.
pub const MAX_SIGINFOS: u32 = 1 << 16;
/// Number of signals (`_NSIG`).
pub const NSIG: usize = 64;

/// Checks a list of raw siginfos against the pending mask they belong to.
fn check_infos(mask: u64, nr: u32, infos: &[u8]) -> Result<(), ErrorKind> {
    if nr > MAX_SIGINFOS {
        return Err(ErrorKind::BadField("pending siginfos", nr.into()));
    }
    if infos.len() != nr as usize * SIGINFO_LEN {
        return Err(ErrorKind::BadLength {
            len: infos.len() as u32,
            expected: nr * SIGINFO_LEN as u32,
        });
    }
    for info in infos.chunks_exact(SIGINFO_LEN) {
        let mut b = [0u8; 4];
        b.copy_from_slice(info.get(..4).ok_or(ErrorKind::Short)?);
        let signo = i32::from_le_bytes(b);
        if !(1..=NSIG as i32).contains(&signo) || mask & (1u64 << (signo - 1)) == 0 {
            return Err(ErrorKind::BadField("pending signal", signo.into()));
        }
    }
    Ok(())
}

/// A task's own signal state: blocked mask, alternate stack, and its
/// private pending signals; `nr_info` siginfos follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Signals {
    pub blocked: u64,
    pub ss_sp: u64,
    pub ss_size: u64,
    pub ss_flags: u32,
    pub nr_info: u32,
    /// Pending signals (bit `n - 1` for signal `n`).
    pub pending: u64,
}

impl Signals {
    pub(crate) fn decode(p: &[u8]) -> Result<(Self, &[u8]), ErrorKind> {
        let (s, infos) = Self::read_fixed(p)?;
        check_infos(s.pending, s.nr_info, infos)?;
        Ok((s, infos))
    }
}

layout!(Signals {
    blocked: u64,
    ss_sp: u64,
    ss_size: u64,
    ss_flags: u32,
    nr_info: u32,
    pending: u64
});

/// One signal's disposition (`struct sigaction` as the kernel keeps it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct SigAction {
    /// `SIG_DFL` (0), `SIG_IGN` (1) or the handler's address.
    pub handler: u64,
    pub flags: u64,
    pub restorer: u64,
    pub mask: u64,
}

/// A process's signal handlers and its shared pending signals; `nr_info`
/// siginfos follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sighand {
    /// Signal `n`'s action is `actions[n - 1]`.
    pub actions: [SigAction; NSIG],
    pub shared_pending: u64,
    pub nr_info: u32,
}

impl Sighand {
    /// Length of the fixed part.
    pub const LEN: usize = NSIG * 32 + 16;

    /// Length of the encoded handlers at the start of the payload.
    const ACTIONS_LEN: usize = NSIG * SigAction::LEN;
    /// Length of the fixed part after the handlers.
    pub const TAIL_LEN: usize = 16;

    /// Encodes the fixed part.
    pub fn encode(&self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        for (a, dst) in self
            .actions
            .iter()
            .zip(out.chunks_exact_mut(SigAction::LEN))
        {
            dst.copy_from_slice(&a.encode());
        }
        if let Some(dst) = out.get_mut(Self::ACTIONS_LEN..) {
            dst.copy_from_slice(&Self::encode_tail(self.shared_pending, self.nr_info));
        }
        out
    }

    /// Encodes what follows the handlers: the shared pending mask and the
    /// number of siginfos (a writer can stream the handlers one by one
    /// with [`SigAction::encode`] and then this, without the whole
    /// 2 KiB structure on its stack).
    pub fn encode_tail(shared_pending: u64, nr_info: u32) -> [u8; Self::TAIL_LEN] {
        SighandTail {
            shared_pending,
            nr_info,
        }
        .encode()
    }

    /// Decodes a sighand payload (as [`Item::Sighand`] holds
    /// it, already checked): the handlers and the shared siginfos.
    pub fn parse(p: &[u8]) -> Result<(Self, &[u8]), ErrorKind> {
        let mut actions = [SigAction::default(); NSIG];
        for (a, got) in actions.iter_mut().zip(Self::actions(p)) {
            *a = got?;
        }
        let (shared_pending, nr_info, infos) = Self::decode(p)?;
        Ok((
            Self {
                actions,
                shared_pending,
                nr_info,
            },
            infos,
        ))
    }

    /// The handlers of a sighand payload, signal 1 first, each checked.
    pub fn actions(p: &[u8]) -> impl Iterator<Item = Result<SigAction, ErrorKind>> + '_ {
        let actions = p.get(..Self::ACTIONS_LEN).unwrap_or(&[]);
        let short = (actions.len() < Self::ACTIONS_LEN).then_some(Err(ErrorKind::Short));
        actions
            .chunks_exact(SigAction::LEN)
            .map(SigAction::decode)
            .chain(short)
    }

    /// Checks a sighand payload without building the handler table (the
    /// kernel decodes on a small stack): the shared pending mask, the
    /// number of siginfos and the siginfos.
    pub(crate) fn decode(p: &[u8]) -> Result<(u64, u32, &[u8]), ErrorKind> {
        for a in Self::actions(p) {
            a?;
        }
        let rest = p.get(Self::ACTIONS_LEN..).ok_or(ErrorKind::Short)?;
        let (t, infos) = SighandTail::read_fixed(rest)?;
        check_infos(t.shared_pending, t.nr_info, infos)?;
        Ok((t.shared_pending, t.nr_info, infos))
    }

    /// The shared pending mask and siginfos of a checked payload.
    pub fn pending(p: &[u8]) -> Result<(u64, &[u8]), ErrorKind> {
        let (mask, _, infos) = Self::decode(p)?;
        Ok((mask, infos))
    }
}

/// The fixed part of a sighand record after its handler table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
struct SighandTail {
    shared_pending: u64,
    nr_info: u32,
}

layout!(SighandTail { shared_pending: u64, nr_info: u32, _: u32 });

impl SigAction {
    fn decode(b: &[u8]) -> Result<Self, ErrorKind> {
        let (a, _) = Self::read_fixed(b)?;
        if a.handler >= USER_ADDR_END || a.restorer >= USER_ADDR_END {
            return Err(ErrorKind::BadField("signal handler", a.handler as i64));
        }
        Ok(a)
    }
}

layout!(SigAction {
    handler: u64,
    flags: u64,
    restorer: u64,
    mask: u64
});
