// SPDX-License-Identifier: GPL-2.0

//! The kinds of shared object, as one table.
//!
//! A shared object is kernel state that several tasks, descriptors or
//! mappings may refer to: an open file, a pipe, shared memory. Each is
//! written once, as an object record with an id, before the first record
//! that names it, and restored once, so that everything that shared it
//! shares it again.
//!
//! Each kind lives in its own file and has one entry in each of the three
//! lists below; the compiler points at a list that misses a kind:
//!
//! - [`ObjKind`]: its key space in the object hash, and the checkpoint
//!   side, an implementation of [`ObjOps`] (how it is keyed, what it names
//!   that must be written before it, how its record is written, what keeps
//!   it alive while the checkpoint runs);
//! - [`Obj`]: what its record creates at restart, held by the object table
//!   until every record naming it is read (and how many open files that is,
//!   against `RLIMIT_NOFILE`);
//! - [`restore`]: the restart side, one arm per object record type
//!   ([`ObjRecord`] is exhaustive: a new record type does not compile until
//!   it has an arm).
//!
//! | kind        | kernel file    | records                 |
//! |-------------|----------------|-------------------------|
//! | open file   | `open_file.rs` | `file`                  |
//! | pipe        | `pipe.rs`      | `pipe`                  |
//! | shared mem. | `shmem.rs`     | `shmem`, `shmem-pages`  |
//!
//! The object hash and the object table themselves are in `objhash.rs`.
//! Object records may come anywhere after the forest table (the image
//! reader hands each to [`restore`] where it finds it, `reader.rs`); they
//! are restored with the credentials in force there: the task's own while
//! its process part is read, the caller's elsewhere.

use crate::image::{ObjId, ObjRecord};
use crate::objhash::{ObjHash, ObjTable};
use crate::wrap::file::FileRef;
use crate::writer::ImageWriter;
use crate::{open_file, pipe, shmem};
use kernel::prelude::*;

/// The kind of object behind a key of the object hash: addresses of
/// different kinds never collide, but the kind keeps a lookup from
/// matching the wrong one.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum ObjKind {
    /// A `struct file`, keyed by its address.
    File,
    /// A `struct pipe_inode_info`, keyed by its address.
    Pipe,
    /// Shared memory, keyed by the address of its shmem inode.
    Shmem,
}

/// The checkpoint side of a kind of shared object.
pub(crate) trait ObjOps {
    /// Its key space in the object hash.
    const KIND: ObjKind;
    /// How the checkpoint holds one: a counted reference, or a pointer
    /// kept valid by one.
    type Ref;
    /// What its record needs of the objects it names, which are written
    /// before it (a pipe end's pipe).
    type Deps;

    /// Its key: the kernel object's address, which cannot be reused while
    /// the hash holds what [`ObjOps::hold`] returns.
    fn key(r: &Self::Ref) -> usize;

    /// Writes the objects it names that are not written yet.
    fn write_deps(w: &mut ImageWriter, objs: &mut ObjHash, r: &Self::Ref) -> Result<Self::Deps>;

    /// Writes its record (and its contents' records), with id `id`.
    fn write(w: &mut ImageWriter, r: &Self::Ref, id: ObjId, deps: Self::Deps) -> Result;

    /// What the hash keeps until the checkpoint ends, so that the key stays
    /// this object's (`None`: it lives as long as another held object).
    fn hold(r: Self::Ref) -> Option<FileRef>;
}

/// What an object record creates at restart, until every record naming it
/// has taken it.
pub(crate) enum Obj {
    /// An open file, installed by every descriptor that refers to it.
    File(FileRef),
    /// A new pipe's two ends until a file record takes each (an end no
    /// record takes is closed when the table goes away, as it was closed
    /// in the saved tree).
    Pipe {
        read: Option<FileRef>,
        write: Option<FileRef>,
    },
    /// A new shmem file, mapped by every VMA that refers to it.
    Shmem(FileRef),
}

impl Obj {
    /// How many open files it holds: they count against the caller's
    /// `RLIMIT_NOFILE`.
    pub(crate) fn files(&self) -> usize {
        match self {
            Obj::Pipe { read, write } => usize::from(read.is_some()) + usize::from(write.is_some()),
            Obj::File(_) | Obj::Shmem(_) => 1,
        }
    }
}

/// Restores the object of an object record, wherever it appears.
pub(crate) fn restore(objs: &mut ObjTable, rec: ObjRecord<'_>) -> Result {
    match rec {
        ObjRecord::File(f, path) => open_file::restore(objs, &f, path),
        ObjRecord::Pipe(p, data) => pipe::restore(objs, &p, data),
        ObjRecord::Shmem(s) => shmem::restore(objs, &s),
        ObjRecord::ShmemPages(h, data) => shmem::restore_pages(objs, &h, data),
    }
}
