// SPDX-License-Identifier: GPL-2.0
//! Inotify objects: an instance's watches and its queued events.
//!
//! Written by the kernel's `inotify.rs`.

use super::codec::{split_checked, Field, Reader, Writer};
use super::*;

/// The event bits a watch may ask for (`IN_ALL_EVENTS`).
pub const IN_ALL_EVENTS: u32 = 0xfff;
/// `IN_EXCL_UNLINK`: no events for children once unlinked.
pub const IN_EXCL_UNLINK: u32 = 0x0400_0000;
/// `IN_ONESHOT`: the watch goes after its first event.
pub const IN_ONESHOT: u32 = 0x8000_0000;
/// The bits of a watch's mask: events and the two flags a watch keeps
/// (the lookup flags `IN_DONT_FOLLOW`, `IN_ONLYDIR` and the update flags
/// `IN_MASK_ADD`, `IN_MASK_CREATE` act when it is added, and are not part
/// of it).
pub const INOTIFY_WATCH_BITS: u32 = IN_ALL_EVENTS | IN_EXCL_UNLINK | IN_ONESHOT;
/// `IN_UNMOUNT`: the watched file's file system was unmounted.
pub const IN_UNMOUNT: u32 = 0x2000;
/// `IN_Q_OVERFLOW`: events were lost (`wd` -1).
pub const IN_Q_OVERFLOW: u32 = 0x4000;
/// `IN_IGNORED`: the watch was removed.
pub const IN_IGNORED: u32 = 0x8000;
/// `IN_ISDIR`: the event's subject is a directory.
pub const IN_ISDIR: u32 = 0x4000_0000;
/// The bits a queued event may carry.
pub const INOTIFY_EVENT_BITS: u32 = IN_ALL_EVENTS | IN_UNMOUNT | IN_IGNORED | IN_ISDIR;
/// Longest name an event carries (`NAME_MAX`).
pub const INOTIFY_NAME_MAX: u32 = 255;

/// An inotify instance (its `fsnotify_group`), written once before its
/// open file: `nr_watches` [`InotifyWatch`]es, each followed by its path,
/// then `nr_events` [`InotifyEvent`]s, each followed by its name, in queue
/// order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct InotifyObj {
    /// Object id.
    pub id: ObjId,
    /// The watch descriptor the next inotify_add_watch(2) starts its search
    /// from (descriptors are handed out cyclically).
    pub next_wd: i32,
    /// Number of watches that follow.
    pub nr_watches: u32,
    /// Number of queued events that follow the watches.
    pub nr_events: u32,
    /// Bytes of the watches and their paths.
    pub watches_len: u32,
}

/// One watch: the watched file by its path, as the checkpointing caller
/// saw it, with the descriptor inotify_add_watch(2) returned for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct InotifyWatch {
    /// Its watch descriptor.
    pub wd: i32,
    /// Its mask ([`INOTIFY_WATCH_BITS`]).
    pub mask: u32,
    /// Length of the path that follows.
    pub path_len: u32,
}

/// One event not read yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct InotifyEvent {
    /// The watch it came from (-1 for `IN_Q_OVERFLOW`).
    pub wd: i32,
    /// Its mask ([`INOTIFY_EVENT_BITS`], or `IN_Q_OVERFLOW` alone).
    pub mask: u32,
    /// The cookie that pairs `IN_MOVED_FROM` with `IN_MOVED_TO`.
    pub cookie: u32,
    /// Length of the name that follows (a watched directory's entry).
    pub name_len: u32,
}

impl InotifyObj {
    /// Most watches in one instance (`max_user_watches` defaults to at
    /// most 1 << 20).
    pub const MAX_WATCHES: u32 = 1 << 20;
    /// Most queued events (`max_queued_events` defaults to 16384).
    pub const MAX_EVENTS: u32 = 1 << 20;

    /// The instance and the bytes of its watches and of its events, each
    /// checked.
    pub(crate) fn decode(p: &[u8]) -> Result<(Self, &[u8], &[u8]), ErrorKind> {
        let (o, rest) = Self::read_fixed(p)?;
        if o.next_wd < 0 {
            return Err(ErrorKind::BadField("inotify next wd", o.next_wd.into()));
        }
        if o.nr_watches > Self::MAX_WATCHES {
            return Err(ErrorKind::BadField("inotify watches", o.nr_watches.into()));
        }
        if o.nr_events > Self::MAX_EVENTS {
            return Err(ErrorKind::BadField("inotify events", o.nr_events.into()));
        }
        let (watches, events) =
            split_checked(rest, o.watches_len as usize).ok_or(ErrorKind::Short)?;
        let mut n = 0u32;
        let mut last = 0i32;
        for w in Self::watches(watches) {
            let (w, _) = w?;
            // Strictly increasing: one watch per descriptor.
            if w.wd <= last {
                return Err(ErrorKind::BadField("inotify watch wd", w.wd.into()));
            }
            last = w.wd;
            n += 1;
        }
        if n != o.nr_watches {
            return Err(ErrorKind::BadField("inotify watches", n.into()));
        }
        let mut n = 0u32;
        for e in Self::events(events) {
            e?;
            n += 1;
        }
        if n != o.nr_events {
            return Err(ErrorKind::BadField("inotify events", n.into()));
        }
        Ok((o, watches, events))
    }

    /// The watches in `b` (the first bytes [`InotifyObj::decode`]
    /// returned), each with its path.
    pub fn watches(b: &[u8]) -> impl Iterator<Item = Result<(InotifyWatch, &[u8]), ErrorKind>> {
        entries(b, |p| {
            let (w, rest) = InotifyWatch::read_fixed(p)?;
            if w.wd <= 0 {
                return Err(ErrorKind::BadField("inotify watch wd", w.wd.into()));
            }
            // No event bit at all is a watch inotify_add_watch(2) makes
            // of IN_ONESHOT or IN_DONT_FOLLOW alone.
            if w.mask & !INOTIFY_WATCH_BITS != 0 {
                return Err(ErrorKind::BadField("inotify watch mask", w.mask.into()));
            }
            if w.path_len == 0 || w.path_len > MAX_PATH_LEN {
                return Err(ErrorKind::BadField("inotify watch path", w.path_len.into()));
            }
            let (path, rest) = split_checked(rest, w.path_len as usize).ok_or(ErrorKind::Short)?;
            if path.first() != Some(&b'/') || path.contains(&0) {
                return Err(ErrorKind::BadField("inotify watch path", 0));
            }
            Ok(((w, path), rest))
        })
    }

    /// The events in `b` (the second bytes [`InotifyObj::decode`]
    /// returned), each with its name (empty for none).
    pub fn events(b: &[u8]) -> impl Iterator<Item = Result<(InotifyEvent, &[u8]), ErrorKind>> {
        entries(b, |p| {
            let (e, rest) = InotifyEvent::read_fixed(p)?;
            let overflow = e.mask == IN_Q_OVERFLOW;
            if overflow != (e.wd == -1) || (!overflow && e.wd <= 0) {
                return Err(ErrorKind::BadField("inotify event wd", e.wd.into()));
            }
            if !overflow && e.mask & !INOTIFY_EVENT_BITS != 0 {
                return Err(ErrorKind::BadField("inotify event mask", e.mask.into()));
            }
            if e.name_len > INOTIFY_NAME_MAX || (overflow && e.name_len != 0) {
                return Err(ErrorKind::BadField("inotify event name", e.name_len.into()));
            }
            let (name, rest) = split_checked(rest, e.name_len as usize).ok_or(ErrorKind::Short)?;
            if name.contains(&0) || name.contains(&b'/') {
                return Err(ErrorKind::BadField("inotify event name", 0));
            }
            Ok(((e, name), rest))
        })
    }
}

/// The entries of `b`, each read by `one`, which returns it and the bytes
/// after it; stops after the first error.
fn entries<'a, T: 'a>(
    mut b: &'a [u8],
    one: impl Fn(&'a [u8]) -> Result<(T, &'a [u8]), ErrorKind> + 'a,
) -> impl Iterator<Item = Result<T, ErrorKind>> + 'a {
    core::iter::from_fn(move || {
        if b.is_empty() {
            return None;
        }
        match one(b) {
            Ok((t, rest)) => {
                b = rest;
                Some(Ok(t))
            }
            Err(e) => {
                b = &[];
                Some(Err(e))
            }
        }
    })
}

layout!(InotifyObj {
    id: ObjId,
    next_wd: i32,
    nr_watches: u32,
    nr_events: u32,
    watches_len: u32,
});

layout!(InotifyWatch {
    wd: i32,
    mask: u32,
    path_len: u32,
    _: u32,
});

layout!(InotifyEvent {
    wd: i32,
    mask: u32,
    cookie: u32,
    name_len: u32,
});
