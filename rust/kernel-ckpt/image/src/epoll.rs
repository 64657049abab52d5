// SPDX-License-Identifier: GPL-2.0
//! Epoll set objects: the items a set watches.
//!
//! Written by the kernel's `epoll.rs`.

use super::codec::{tail, Field, Reader, Writer};
use super::*;

/// An epoll set (its `struct eventpoll`), written once before its open
/// file, after the open files it watches; `nr_items` [`EpollItem`]s
/// follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct EpollObj {
    /// Object id.
    pub id: ObjId,
    /// Number of items that follow.
    pub nr_items: u32,
}

/// `EpollItem::flags`: the item was on the set's ready list (an
/// edge-triggered item not on it was reported already).
pub const EPOLL_ITEM_READY: u32 = 1;

/// One item of an epoll set: a watched open file, by identity, with the
/// descriptor number it was added under (which may since name another
/// file, or none), its events and its data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct EpollItem {
    /// The [`FileObj`] id of the watched file.
    pub file: ObjId,
    /// The descriptor number it was added under.
    pub fd: i32,
    /// Its events (`EPOLLIN`…, `EPOLLET`, `EPOLLONESHOT`; a disarmed
    /// one-shot item has only those two kinds of bit).
    pub events: u32,
    /// `EPOLL_ITEM_*`.
    pub flags: u32,
    /// The data epoll_wait(2) returns with its events.
    pub data: u64,
}

impl EpollObj {
    /// Most items in one set (the kernel's `max_user_watches` is about
    /// 4% of low memory over 90 bytes a watch: 1 << 20 is 2.5 GiB of it).
    pub const MAX_ITEMS: u32 = 1 << 20;

    /// The set and its items' bytes, each item checked.
    pub(crate) fn decode(p: &[u8]) -> Result<(Self, &[u8]), ErrorKind> {
        let (e, rest) = Self::read_fixed(p)?;
        if e.nr_items > Self::MAX_ITEMS {
            return Err(ErrorKind::BadField("epoll items", e.nr_items.into()));
        }
        // At most 1 << 20 items of 24 bytes: no overflow in u32.
        let items = tail(rest, e.nr_items * EpollItem::LEN as u32)?;
        for item in Self::items(items) {
            item?;
        }
        Ok((e, items))
    }

    /// The items in `items`, the bytes [`EpollObj::decode`] returned.
    pub fn items(items: &[u8]) -> impl Iterator<Item = Result<EpollItem, ErrorKind>> + '_ {
        items.chunks(EpollItem::LEN).map(EpollItem::decode)
    }
}

impl EpollItem {
    fn decode(p: &[u8]) -> Result<Self, ErrorKind> {
        let (i, rest) = Self::read_fixed(p)?;
        if !rest.is_empty() {
            return Err(ErrorKind::Short);
        }
        if i.file == 0 {
            return Err(ErrorKind::BadField("epoll item file", 0));
        }
        if i.fd < 0 {
            return Err(ErrorKind::BadField("epoll item fd", i.fd.into()));
        }
        if i.flags & !EPOLL_ITEM_READY != 0 {
            return Err(ErrorKind::BadField("epoll item flags", i.flags.into()));
        }
        Ok(i)
    }
}

layout!(EpollObj {
    id: ObjId,
    nr_items: u32
});

layout!(EpollItem {
    file: ObjId,
    fd: i32,
    events: u32,
    flags: u32,
    data: u64
});
