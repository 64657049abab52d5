// SPDX-License-Identifier: GPL-2.0
//! A progress line on stderr for a step that takes more than a second,
//! when stderr is a terminal and this process is in its foreground:
//! `ckpt checkpoint: 2.4 s, 310 MiB written`, redrawn four times a second
//! and cleared when the step ends.
//!
//! The line is drawn from a thread of its own. It is only ever started
//! around a wait in which this process forks nothing: a child forked while
//! the thread holds stderr's lock would inherit the lock held.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a step runs before its line shows.
const AFTER: Duration = Duration::from_secs(1);
/// How often the line is redrawn.
const EVERY: Duration = Duration::from_millis(250);

/// Whether progress would show: stderr is a terminal.
pub fn wanted() -> bool {
    std::io::stderr().is_terminal()
}

/// Whether this process is in the foreground of stderr's terminal, when
/// that is its controlling terminal: a background job's line would be
/// drawn over another program's, or stop it (`SIGTTOU`, with `stty
/// tostop`) with its tree frozen. A terminal that is not the controlling
/// one (`tcgetpgrp` fails) has no foreground to respect.
fn foreground() -> bool {
    // SAFETY: plain calls on a descriptor number and this process.
    let (tty, own) = unsafe { (nix::libc::tcgetpgrp(2), nix::libc::getpgrp()) };
    tty == -1 || tty == own
}

/// A progress line while it lives (nothing if `on` is false).
pub struct Progress {
    done: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Progress {
    /// Starts the line for step `what` (`ckpt restart`); `status` says more
    /// after the time (`, 310 MiB written`), or nothing.
    pub fn start(
        on: bool,
        what: &'static str,
        status: impl Fn() -> String + Send + 'static,
    ) -> Self {
        let done = Arc::new(AtomicBool::new(false));
        let thread = on.then(|| {
            let done = done.clone();
            std::thread::spawn(move || {
                let start = Instant::now();
                let mut shown = false;
                while !done.load(Ordering::Relaxed) {
                    std::thread::park_timeout(EVERY);
                    if done.load(Ordering::Relaxed) || start.elapsed() < AFTER || !foreground() {
                        continue;
                    }
                    let line =
                        format!("{what}: {:.1} s{}", start.elapsed().as_secs_f64(), status());
                    let mut err = std::io::stderr().lock();
                    let _ = write!(err, "\r\x1b[K{line}");
                    let _ = err.flush();
                    shown = true;
                }
                if shown {
                    let mut err = std::io::stderr().lock();
                    let _ = write!(err, "\r\x1b[K");
                    let _ = err.flush();
                }
            })
        });
        Progress { done, thread }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

/// `, 12.3 MiB written` for a byte count.
pub fn written(bytes: u64) -> String {
    format!(", {:.1} MiB written", bytes as f64 / (1024.0 * 1024.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_draws_nothing_and_ends_at_once() {
        let t = Instant::now();
        drop(Progress::start(false, "x", String::new));
        assert!(t.elapsed() < Duration::from_millis(100));
    }

    #[test]
    fn on_ends_when_dropped() {
        let t = Instant::now();
        drop(Progress::start(true, "x", String::new));
        assert!(t.elapsed() < EVERY * 2);
    }

    #[test]
    fn sizes() {
        assert_eq!(written(3 << 20), ", 3.0 MiB written");
    }
}
