// SPDX-License-Identifier: GPL-2.0

//! Kernel log lines that any caller can provoke.
//!
//! Every refusal of `checkpoint(2)` and `restart(2)` names its cause in the
//! kernel log, and any process may make these calls as often as it likes
//! with images of its own making. So each message site is rate-limited on
//! its own (as `pr_err_ratelimited` does in C: at most [`BURST`] lines per
//! [`INTERVAL_NS`], then one line saying how many were dropped), and bytes
//! that come from an image or from a task (paths, command names) are
//! printed through [`Shown`]: control and non-ASCII bytes escaped, the
//! length bounded.

use core::fmt;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use kernel::bindings;

/// Lines a message site may print per interval.
pub(crate) const BURST: u32 = 10;
/// The interval: five seconds, as the kernel's default.
pub(crate) const INTERVAL_NS: u64 = 5_000_000_000;
/// The longest string printed; the rest is cut with `...`.
const MAX_SHOWN: usize = 256;

/// The rate limit of one message site. Lock-free and approximate: two
/// CPUs opening a new interval at once may each let a burst through.
pub(crate) struct RateLimit {
    begin: AtomicU64,
    printed: AtomicU32,
    missed: AtomicU32,
}

impl RateLimit {
    /// A limit whose first interval starts at the first message.
    pub(crate) const fn new() -> Self {
        Self {
            begin: AtomicU64::new(0),
            printed: AtomicU32::new(0),
            missed: AtomicU32::new(0),
        }
    }

    /// Whether the site may print now. Opening a new interval reports the
    /// lines dropped in the one before.
    pub(crate) fn allow(&self) -> bool {
        // SAFETY: reads the monotonic clock; callable in any context.
        let now = unsafe { bindings::ktime_get_mono_fast_ns() };
        let begin = self.begin.load(Ordering::Relaxed);
        if begin == 0 || now.wrapping_sub(begin) > INTERVAL_NS {
            if self
                .begin
                .compare_exchange(begin, now.max(1), Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
            {
                self.printed.store(0, Ordering::Relaxed);
                let missed = self.missed.swap(0, Ordering::Relaxed);
                if missed != 0 {
                    kernel::pr_warn!("{} similar messages suppressed\n", missed);
                }
            }
        }
        if self.printed.fetch_add(1, Ordering::Relaxed) < BURST {
            true
        } else {
            self.missed.fetch_add(1, Ordering::Relaxed);
            false
        }
    }
}

/// `pr_err!` for lines a caller can provoke: rate-limited per site.
/// (`#[macro_use]` on the module makes it visible to the modules after it.)
macro_rules! ckpt_err {
    ($($arg:tt)*) => {{
        static LIMIT: $crate::log::RateLimit = $crate::log::RateLimit::new();
        if LIMIT.allow() {
            ::kernel::pr_err!($($arg)*);
        }
    }};
}

/// Bytes from an image or a task, as the kernel log may show them:
/// printable ASCII as is, a backslash and every other byte as `\xNN`, at
/// most 256 bytes (then `...`). Trailing NUL padding is not shown.
pub(crate) struct Shown<'a>(pub(crate) &'a [u8]);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let end = self.0.iter().rposition(|&c| c != 0).map_or(0, |i| i + 1);
        let bytes = self.0.get(..end).unwrap_or(&[]);
        for &c in bytes.iter().take(MAX_SHOWN) {
            if (0x20..0x7f).contains(&c) && c != b'\\' {
                fmt::Write::write_char(f, char::from(c))?;
            } else {
                write!(f, "\\x{c:02x}")?;
            }
        }
        if bytes.len() > MAX_SHOWN {
            f.write_str("...")?;
        }
        Ok(())
    }
}
