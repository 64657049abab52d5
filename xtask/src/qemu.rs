//! Booting the test kernel in QEMU, shared by `run` and `qemu-test`.
//!
//! The machine: TCG (KVM is not usable on the development machines), `-cpu max`
//! (XSAVE/AVX state to save and restore), two sockets of one CPU each (with
//! tinyconfig, `-smp 2` alone shows one CPU), 2 GiB. No reboot: the guest's
//! `/init` ends with `reboot -f` and QEMU exits then.
//!
//! ttyS0 is the console (kernel log and guest output): QEMU writes it to its
//! stdout, which is read here line by line into a log file, optionally echoed.
//! ttyS1 goes to a file of its own (the test results).

use std::fs::{self, File};
use std::io::{BufRead, BufReader, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use xshell::cmd;

use crate::Ctx;

/// The line the guest's /init prints when it has finished its work.
pub const DONE_MARKER: &str = "KCKPT-DONE";

pub struct Boot {
    pub bzimage: PathBuf,
    pub initramfs: PathBuf,
    /// Extra kernel command-line parameters (`kckpt.mode=test`, ...).
    pub append: Vec<String>,
    /// Where ttyS0 (the console) is logged, without '\r'.
    pub console_log: PathBuf,
    /// Where ttyS1 goes.
    pub serial1: PathBuf,
    /// Echo the console to stdout as it comes.
    pub echo: bool,
    /// Kill QEMU after this long.
    pub timeout: Duration,
    /// The guest's memory.
    pub memory_mib: u32,
    /// More QEMU arguments (devices).
    pub qemu_args: Vec<String>,
    /// The console on this terminal, both ways (Ctrl-A X quits QEMU,
    /// Ctrl-A C its monitor, Ctrl-C goes to the guest), not logged, no
    /// timeout.
    pub interactive: bool,
}

/// The guest's memory for the demo and the scenarios.
pub const MEMORY_MIB: u32 = 2048;

pub struct Outcome {
    /// QEMU's exit status (None when it was killed at the timeout).
    pub status: Option<ExitStatus>,
    pub timed_out: bool,
    /// The console showed [`DONE_MARKER`].
    pub done: bool,
    pub elapsed: Duration,
}

/// The kernel command line every boot uses: console on ttyS0, a TSC trusted
/// for timing (else this config falls back to 4 ms jiffies), and any oops or
/// panic ends the boot at once.
const BASE_APPEND: &str = "console=ttyS0 tsc=reliable panic=-1 oops=panic loglevel=7";

/// QEMU's option syntax doubles commas inside values.
pub fn qemu_escape(path: &Path) -> String {
    path.to_string_lossy().replace(',', ",,")
}

pub fn boot(ctx: &Ctx, boot: &Boot) -> Result<Outcome> {
    let sh = &ctx.sh;
    for path in [&boot.console_log, &boot.serial1] {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        // QEMU appends to nothing old, and a stale file is never read as new.
        let _ = fs::remove_file(path);
    }
    let bzimage = &boot.bzimage;
    let initramfs = &boot.initramfs;
    let memory = format!("{}M", boot.memory_mib);
    let serial1 = format!("file,id=serial1,path={}", qemu_escape(&boot.serial1));
    let mut append = BASE_APPEND.to_string();
    for param in &boot.append {
        append.push(' ');
        append.push_str(param);
    }
    // Interactive: the console and QEMU's monitor on this terminal, Ctrl-C
    // going to the guest (signal=off), Ctrl-A X quitting QEMU.
    let console: Vec<&str> = if boot.interactive {
        vec![
            "-chardev",
            "stdio,id=con,mux=on,signal=off",
            "-serial",
            "chardev:con",
            "-mon",
            "chardev=con",
        ]
    } else {
        vec!["-serial", "stdio"]
    };
    let extra = &boot.qemu_args;
    let mut command: Command = cmd!(
        sh,
        "qemu-system-x86_64 -accel tcg -cpu max -smp cpus=2,sockets=2 -m {memory}
            -nodefaults -display none -no-reboot
            {console...} -chardev {serial1} -serial chardev:serial1
            -kernel {bzimage} -initrd {initramfs} -append {append} {extra...}"
    )
    .into();
    if ctx.verbose {
        eprintln!("$ {command:?}");
    }
    let start = Instant::now();
    if boot.interactive {
        let status = command.status().context(
            "cannot run qemu-system-x86_64: run `cargo xtask setup` (package qemu-system-x86)",
        )?;
        return Ok(Outcome {
            status: Some(status),
            timed_out: false,
            done: false,
            elapsed: start.elapsed(),
        });
    }
    command.stdin(Stdio::null()).stdout(Stdio::piped());
    let mut child = command.spawn().context(
        "cannot run qemu-system-x86_64: run `cargo xtask setup` (package qemu-system-x86)",
    )?;

    let stdout = child.stdout.take().context("QEMU's stdout")?;
    let log = File::create(&boot.console_log)
        .with_context(|| format!("cannot create {}", boot.console_log.display()))?;
    let done = Arc::new(AtomicBool::new(false));
    // Without the echo, a terminal shows a spinner with the latest console line.
    let bar = if !boot.echo && std::io::stderr().is_terminal() {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner:.green} guest [{elapsed}] {wide_msg}")
                .expect("valid template"),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    } else {
        ProgressBar::hidden()
    };
    let reader = {
        let done = Arc::clone(&done);
        let echo = boot.echo;
        let bar = bar.clone();
        std::thread::spawn(move || -> std::io::Result<()> {
            let mut log = BufWriter::new(log);
            let stdout_handle = std::io::stdout();
            for line in BufReader::new(stdout).split(b'\n') {
                let mut line = line?;
                line.retain(|&b| b != b'\r');
                let text = String::from_utf8_lossy(&line);
                if text.trim() == DONE_MARKER {
                    done.store(true, Ordering::Relaxed);
                }
                bar.set_message(text.trim_end().to_string());
                line.push(b'\n');
                log.write_all(&line)?;
                log.flush()?;
                if echo {
                    let mut out = stdout_handle.lock();
                    out.write_all(&line)?;
                    out.flush()?;
                }
            }
            Ok(())
        })
    };

    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if start.elapsed() >= boot.timeout {
            timed_out = true;
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let elapsed = start.elapsed();
    let joined = reader.join();
    bar.finish_and_clear();
    match joined {
        Ok(result) => result.context("reading the guest console")?,
        Err(_) => bail!("the console reader thread panicked"),
    }
    // The guest's tty turns "\n" into "\r\n" on ttyS1 as well.
    if let Ok(bytes) = fs::read(&boot.serial1) {
        if bytes.contains(&b'\r') {
            let cleaned: Vec<u8> = bytes.into_iter().filter(|&b| b != b'\r').collect();
            fs::write(&boot.serial1, cleaned)?;
        }
    }
    Ok(Outcome {
        status,
        timed_out,
        done: done.load(Ordering::Relaxed),
        elapsed,
    })
}

/// Console lines that show the kernel went wrong: warnings, BUGs, oopses,
/// panics, lockdep and RCU reports, UBSAN, backtraces; and the reports of
/// the debug kernel's detectors: KASAN, kmemleak (what /init prints after
/// its scan), soft lockups, hung tasks, workqueue stalls, debugobjects,
/// list and slab corruption.
const SPLAT_PATTERNS: &[&str] = &[
    "WARNING:",
    "BUG:",
    "Oops",
    "Kernel panic",
    "panic",
    "lockdep",
    "possible recursive locking",
    "circular locking",
    "INFO: rcu",
    "rcu_preempt detected stalls",
    "detected stall",
    "UBSAN",
    "general protection fault",
    "Call Trace:",
    "KASAN",
    "unreferenced object",
    "Kernel memory leak detector disabled",
    "soft lockup",
    "blocked for more than",
    "workqueue lockup",
    "ODEBUG:",
    "list_add corruption",
    "list_del corruption",
    "Poison overwritten",
    "Redzone overwritten",
    "Object already free",
];

/// Lines that match a pattern but are part of every healthy boot.
const SPLAT_BENIGN: &[&str] = &[
    // The command line itself: panic=-1 oops=panic.
    "Command line:",
    "command line:",
    // A user-space program's fault, reported by the kernel's trap handler
    // ("traps: NAME[PID] general protection fault ip:… in BINARY"): the
    // corrupt-image scenario restarts programs with broken registers.
    " traps: ",
    // Announcements of the debugging options the test kernel enables.
    "RCU lockdep checking is enabled",
    "Lock dependency validator",
];

/// The console lines that look like a kernel splat.
pub fn splats(console: &str) -> Vec<&str> {
    console
        .lines()
        .filter(|line| SPLAT_PATTERNS.iter().any(|p| line.contains(p)))
        .filter(|line| !SPLAT_BENIGN.iter().any(|b| line.contains(b)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_splats_not_boot_noise() {
        let console = "\
[    0.000000] Command line: console=ttyS0 tsc=reliable panic=-1 oops=panic loglevel=7 kckpt.mode=test
[    0.000000] Kernel command line: console=ttyS0 tsc=reliable panic=-1 oops=panic
[    0.010000] 	RCU lockdep checking is enabled.
[    0.020000] Lock dependency validator: Copyright (c) 2006 Red Hat, Inc., Ingo Molnar
[    1.000000] ckpt: ready
[    2.000000] WARNING: CPU: 1 PID: 42 at kernel/ckpt/ckpt.rs:10 foo+0x1/0x2
[    2.000001] Call Trace:
[    2.100000] BUG: sleeping function called from invalid context
[    3.000000] Kernel panic - not syncing: Fatal exception
[    4.000000] traps: counter[59] general protection fault ip:7fc55059244c sp:b6007ffe1b5252f0 error:0 in ckpt-scenarios[3444c,7fc550572000+ca000]
";
        assert_eq!(
            splats(console),
            [
                "[    2.000000] WARNING: CPU: 1 PID: 42 at kernel/ckpt/ckpt.rs:10 foo+0x1/0x2",
                "[    2.000001] Call Trace:",
                "[    2.100000] BUG: sleeping function called from invalid context",
                "[    3.000000] Kernel panic - not syncing: Fatal exception",
            ]
        );
    }

    #[test]
    fn finds_debug_kernel_reports() {
        let console = "\
[    0.000000] kasan: KernelAddressSanitizer initialized
[    0.500000] kmemleak: Kernel memory leak detector initialized (mem pool available: 15000)
[   10.000000] ==================================================================
[   10.000001] BUG: KASAN: slab-use-after-free in ckpt_read+0x10/0x20
[   40.000000] INFO: task ckpt:120 blocked for more than 30 seconds.
[   50.000000] watchdog: BUG: soft lockup - CPU#1 stuck for 22s! [ckpt:121]
[   60.000000] rcu: INFO: rcu_sched detected stalls on CPUs/tasks:
[   70.000000] ODEBUG: free active (active state 0) object: 0000000012345678 object type: timer_list
unreferenced object 0xffff888003a1c000 (size 64):
kckpt-kmemleak: scan done, 1 reported
";
        assert_eq!(
            splats(console),
            [
                "[   10.000001] BUG: KASAN: slab-use-after-free in ckpt_read+0x10/0x20",
                "[   40.000000] INFO: task ckpt:120 blocked for more than 30 seconds.",
                "[   50.000000] watchdog: BUG: soft lockup - CPU#1 stuck for 22s! [ckpt:121]",
                "[   60.000000] rcu: INFO: rcu_sched detected stalls on CPUs/tasks:",
                "[   70.000000] ODEBUG: free active (active state 0) object: 0000000012345678 object type: timer_list",
                "unreferenced object 0xffff888003a1c000 (size 64):",
            ]
        );
    }

    #[test]
    fn escapes_commas() {
        assert_eq!(qemu_escape(Path::new("/a,b/c")), "/a,,b/c");
    }
}
