// SPDX-License-Identifier: GPL-2.0

//! Boot self-check of the structure layouts kernel-ckpt reads through bindgen.
//!
//! C helpers: [`rust/helpers/ckpt.c`](srctree/rust/helpers/ckpt.c).
//!
//! A bindgen that lays out `task_struct` differently from the C compiler makes
//! Rust read the wrong bytes without any error (bindgen-cli 0.73 did exactly
//! that with 6.12). At boot, every field offset and structure size the Rust
//! side relies on is compared with C's `offsetof`/`sizeof`; on any mismatch the
//! field is named in the log and both system calls return `-ENOSYS`.

use core::sync::atomic::{AtomicBool, Ordering};
use kernel::bindings;
use kernel::prelude::*;

static VERIFIED: AtomicBool = AtomicBool::new(false);

/// Whether the self-check ran and every layout matched.
pub(crate) fn verified() -> bool {
    VERIFIED.load(Ordering::Acquire)
}

/// Compares one Rust layout value with its C counterpart.
fn check(what: &str, rust: usize, c: usize, ok: &mut bool, n: &mut u32) {
    *n += 1;
    if rust != c {
        pr_err!(
            "layout mismatch: {}: Rust (bindgen) {}, C {}\n",
            what,
            rust,
            c
        );
        *ok = false;
    }
}

macro_rules! offset {
    ($ok:ident, $n:ident, $helper:ident, $ty:ident, $($field:tt)+) => {
        check(
            concat!("offsetof(", stringify!($ty), ", ", stringify!($($field)+), ")"),
            core::mem::offset_of!(bindings::$ty, $($field)+),
            // SAFETY: the helper only returns a compile-time constant.
            unsafe { bindings::$helper() },
            &mut $ok,
            &mut $n,
        )
    };
}

macro_rules! size {
    ($ok:ident, $n:ident, $helper:ident, $ty:ident) => {
        check(
            concat!("sizeof(", stringify!($ty), ")"),
            core::mem::size_of::<bindings::$ty>(),
            // SAFETY: the helper only returns a compile-time constant.
            unsafe { bindings::$helper() },
            &mut $ok,
            &mut $n,
        )
    };
}

/// Runs the check once at boot and enables the system calls if it passes.
pub(crate) fn self_check() {
    let mut ok = true;
    let mut n = 0u32;
    size!(ok, n, ckpt_sizeof_task_struct, task_struct);
    size!(ok, n, ckpt_sizeof_signal_struct, signal_struct);
    size!(ok, n, ckpt_sizeof_mm_struct, mm_struct);
    size!(ok, n, ckpt_sizeof_file, file);
    offset!(ok, n, ckpt_offsetof_task_state, task_struct, __state);
    offset!(ok, n, ckpt_offsetof_task_flags, task_struct, flags);
    offset!(ok, n, ckpt_offsetof_task_ptrace, task_struct, ptrace);
    offset!(ok, n, ckpt_offsetof_task_jobctl, task_struct, jobctl);
    offset!(
        ok,
        n,
        ckpt_offsetof_task_exit_state,
        task_struct,
        exit_state
    );
    offset!(ok, n, ckpt_offsetof_task_exit_code, task_struct, exit_code);
    offset!(
        ok,
        n,
        ckpt_offsetof_task_exit_signal,
        task_struct,
        exit_signal
    );
    offset!(ok, n, ckpt_offsetof_task_pid, task_struct, pid);
    offset!(ok, n, ckpt_offsetof_task_tgid, task_struct, tgid);
    offset!(
        ok,
        n,
        ckpt_offsetof_task_real_parent,
        task_struct,
        real_parent
    );
    offset!(ok, n, ckpt_offsetof_task_children, task_struct, children);
    offset!(ok, n, ckpt_offsetof_task_sibling, task_struct, sibling);
    offset!(
        ok,
        n,
        ckpt_offsetof_task_group_leader,
        task_struct,
        group_leader
    );
    offset!(
        ok,
        n,
        ckpt_offsetof_task_thread_node,
        task_struct,
        thread_node
    );
    offset!(ok, n, ckpt_offsetof_task_comm, task_struct, comm);
    offset!(ok, n, ckpt_offsetof_task_mm, task_struct, mm);
    offset!(ok, n, ckpt_offsetof_task_files, task_struct, files);
    offset!(ok, n, ckpt_offsetof_task_signal, task_struct, signal);
    offset!(ok, n, ckpt_offsetof_task_sighand, task_struct, sighand);
    offset!(
        ok,
        n,
        ckpt_offsetof_signal_thread_head,
        signal_struct,
        thread_head
    );
    offset!(
        ok,
        n,
        ckpt_offsetof_signal_nr_threads,
        signal_struct,
        nr_threads
    );
    offset!(
        ok,
        n,
        ckpt_offsetof_mm_start_brk,
        mm_struct,
        __bindgen_anon_1.start_brk
    );
    offset!(ok, n, ckpt_offsetof_mm_brk, mm_struct, __bindgen_anon_1.brk);
    offset!(
        ok,
        n,
        ckpt_offsetof_mm_start_stack,
        mm_struct,
        __bindgen_anon_1.start_stack
    );
    offset!(ok, n, ckpt_offsetof_file_mode, file, f_mode);
    offset!(ok, n, ckpt_offsetof_file_pos, file, f_pos);
    offset!(
        ok,
        n,
        ckpt_offsetof_file_pos_lock,
        file,
        __bindgen_anon_1.f_pos_lock
    );
    offset!(ok, n, ckpt_offsetof_file_flags, file, f_flags);
    size!(ok, n, ckpt_sizeof_vm_area_struct, vm_area_struct);
    size!(ok, n, ckpt_sizeof_user_regset, user_regset);
    offset!(
        ok,
        n,
        ckpt_offsetof_vma_start,
        vm_area_struct,
        __bindgen_anon_1.__bindgen_anon_1.vm_start
    );
    offset!(
        ok,
        n,
        ckpt_offsetof_vma_end,
        vm_area_struct,
        __bindgen_anon_1.__bindgen_anon_1.vm_end
    );
    offset!(
        ok,
        n,
        ckpt_offsetof_vma_flags,
        vm_area_struct,
        __bindgen_anon_2.vm_flags
    );
    offset!(ok, n, ckpt_offsetof_vma_pgoff, vm_area_struct, vm_pgoff);
    offset!(ok, n, ckpt_offsetof_vma_file, vm_area_struct, vm_file);
    offset!(ok, n, ckpt_offsetof_vma_anon_vma, vm_area_struct, anon_vma);
    offset!(ok, n, ckpt_offsetof_vma_ops, vm_area_struct, vm_ops);
    offset!(
        ok,
        n,
        ckpt_offsetof_mm_start_code,
        mm_struct,
        __bindgen_anon_1.start_code
    );
    offset!(
        ok,
        n,
        ckpt_offsetof_mm_env_end,
        mm_struct,
        __bindgen_anon_1.env_end
    );
    offset!(
        ok,
        n,
        ckpt_offsetof_mm_vdso,
        mm_struct,
        __bindgen_anon_1.context.vdso
    );
    offset!(
        ok,
        n,
        ckpt_offsetof_regset_view_regsets,
        user_regset_view,
        regsets
    );
    offset!(ok, n, ckpt_offsetof_regset_view_n, user_regset_view, n);
    offset!(
        ok,
        n,
        ckpt_offsetof_regset_note_type,
        user_regset,
        core_note_type
    );
    size!(ok, n, ckpt_sizeof_pipe_inode_info, pipe_inode_info);
    size!(ok, n, ckpt_sizeof_pipe_buffer, pipe_buffer);
    offset!(ok, n, ckpt_offsetof_pipe_head, pipe_inode_info, head);
    offset!(ok, n, ckpt_offsetof_pipe_tail, pipe_inode_info, tail);
    offset!(
        ok,
        n,
        ckpt_offsetof_pipe_max_usage,
        pipe_inode_info,
        max_usage
    );
    offset!(
        ok,
        n,
        ckpt_offsetof_pipe_ring_size,
        pipe_inode_info,
        ring_size
    );
    offset!(ok, n, ckpt_offsetof_pipe_bufs, pipe_inode_info, bufs);
    offset!(ok, n, ckpt_offsetof_pipe_buf_page, pipe_buffer, page);
    offset!(ok, n, ckpt_offsetof_pipe_buf_offset, pipe_buffer, offset);
    offset!(ok, n, ckpt_offsetof_pipe_buf_len, pipe_buffer, len);
    offset!(ok, n, ckpt_offsetof_pipe_buf_ops, pipe_buffer, ops);
    offset!(ok, n, ckpt_offsetof_file_lock, file, f_lock);
    offset!(ok, n, ckpt_offsetof_inode_sb, inode, i_sb);
    offset!(ok, n, ckpt_offsetof_sb_magic, super_block, s_magic);
    size!(ok, n, ckpt_sizeof_completion, completion);
    size!(ok, n, ckpt_sizeof_wait_queue_entry, wait_queue_entry);
    if ok {
        pr_info!(
            "layout self-check passed ({} checks); checkpoint(2) and restart(2) enabled\n",
            n
        );
        VERIFIED.store(true, Ordering::Release);
    } else {
        pr_err!("layout self-check FAILED: checkpoint(2) and restart(2) disabled (bindgen mismatch; use bindgen-cli 0.65.1)\n");
    }
}
