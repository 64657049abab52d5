// SPDX-License-Identifier: GPL-2.0
//! `ckpt`: the kernel-ckpt command line tool.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, IsTerminal, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context, Result};
use ckpt::{inspect, CheckpointOptions, RunOptions};
use ckpt_image::CHECKPOINT_SUBTREE;
use clap::{Parser, Subcommand};

/// Checkpoint and restart Linux process trees with the kernel-ckpt system
/// calls checkpoint(2) and restart(2).
///
/// Start a job with `ckpt run`, write an image of it with
/// `ckpt checkpoint`, look at the image with `ckpt inspect`.
#[derive(Debug, Parser)]
#[command(name = "ckpt", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start a command as a new job and print its pid.
    ///
    /// The command runs in a new session and in a fresh cgroup,
    /// /sys/fs/cgroup/ckpt/NAME, that all its descendants inherit, so that
    /// `ckpt checkpoint` can freeze the whole tree. ckpt returns as soon as
    /// the command has started; the job keeps running.
    ///
    /// The command shares ckpt's stdin, stdout and stderr unless --log is
    /// given: in `pid=$(ckpt run -- CMD)` the shell would wait for CMD to
    /// close stdout, so use `pid=$(ckpt run --log /dev/null -- CMD)`.
    Run {
        /// Name of the job's cgroup [default: job-PID].
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
        /// Give the command /dev/null as stdin and append its stdout and
        /// stderr to FILE.
        #[arg(long, value_name = "FILE")]
        log: Option<PathBuf>,
        /// Start CMD as a pod: pid 1 of new pid, IPC and UTS namespaces,
        /// and a cgroup namespace rooted at its job cgroup.
        /// Its checkpoint saves the whole pod, and its restart makes new
        /// namespaces, so its pids never collide with the host's.
        #[arg(long)]
        pod: bool,
        /// With --pod: give it a mount namespace of its own, its mounts
        /// private, with a tmpfs of its own on /dev/shm and /tmp, whose
        /// files its checkpoint saves and its restart makes again.
        #[arg(long, requires = "pod")]
        private_tmp: bool,
        /// With --pod: give it a network namespace of its own, its
        /// loopback device up (its only device; sockets other than unix
        /// ones are not carried yet).
        #[arg(long, requires = "pod")]
        net: bool,
        /// The command and its arguments (put them after `--`).
        #[arg(value_name = "CMD", required = true, trailing_var_arg = true)]
        argv: Vec<OsString>,
    },
    /// Write an image of the process tree rooted at PID.
    ///
    /// PID must have been started with `ckpt run` (or descend from such a
    /// job): its cgroup is frozen while the kernel writes the image, then
    /// thawed, or killed with --kill.
    Checkpoint {
        /// Root of the tree to checkpoint.
        #[arg(value_parser = clap::value_parser!(i32).range(1..))]
        pid: i32,
        /// Image file (created with mode 0600, or truncated), or `-` for
        /// stdout.
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// Kill the tree once the image is written.
        #[arg(long)]
        kill: bool,
        /// Do not freeze the job's cgroup: the kernel refuses (EBUSY)
        /// unless every task is frozen some other way.
        #[arg(long)]
        no_freeze: bool,
        /// checkpoint(2) flags in hex [default: 0 (the whole pod) when PID
        /// is the init of a pid namespace below ours, else 0x1,
        /// CHECKPOINT_SUBTREE].
        #[arg(long, value_name = "HEX", value_parser = parse_hex)]
        flags: Option<u64>,
        /// Print to stderr how long the tree was frozen (its downtime)
        /// and where that time went: the freeze, checkpoint(2), and the
        /// thaw (or kill); and how long its memory took to write after
        /// the thaw.
        #[arg(long)]
        stats: bool,
        /// Keep the tree frozen until its whole image is written. By
        /// default (unless --kill, --no-freeze or the cgroup was frozen
        /// already) the tree is thawed once its state is taken, and its
        /// memory is written from a copy-on-write snapshot while it runs
        /// (each page it writes meanwhile is copied first, as after a
        /// fork).
        #[arg(long)]
        no_cow: bool,
    },
    /// Show the contents of an image.
    Inspect {
        /// Image file, or `-` for stdin.
        #[arg(value_name = "FILE")]
        image: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Restart the process or process tree saved in an image with
    /// restart(2), with its pids, in a new cgroup ckpt/NAME; waits for it
    /// (a tree's root) and exits with its status.
    ///
    /// A tree is recreated first (sessions, process groups, orphans,
    /// zombies, threads), this process being the root's parent; then one
    /// restart(2) call restores every task, or none.
    ///
    /// Exits with 125 when restart(2) fails, and with 128 + N when signal N
    /// kills the process (a task of the tree) while it is restored; with 1
    /// for errors before restart(2) (a bad image, a pid that is taken).
    Restart {
        /// Image file, or `-` for stdin.
        #[arg(value_name = "FILE")]
        image: PathBuf,
        /// Name of the job cgroup (default `restart-PID`).
        #[arg(long)]
        name: Option<String>,
        /// Print the pid and leave the process running instead of waiting,
        /// once restart(2) has succeeded (its failure is reported as
        /// without --detach).
        #[arg(long)]
        detach: bool,
        /// Restart in a new pid namespace, where the saved pid is free (the
        /// process gets its pid there; its init is a waiting `ckpt`).
        #[arg(long)]
        pidns: bool,
        /// Make the deleted files the image holds (unlinked files still
        /// open) again in DIR, unnamed, rather than where they were (for
        /// a directory removed since).
        #[arg(long, value_name = "DIR")]
        deleted_in: Option<PathBuf>,
        /// Print to stderr where the time went: checking the image, and for
        /// a tree making its tasks and restart(2).
        #[arg(long)]
        stats: bool,
    },
}

fn parse_hex(s: &str) -> Result<u64, String> {
    let digits = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    u64::from_str_radix(digits, 16).map_err(|e| format!("{s:?} is not a hexadecimal number: {e}"))
}

fn is_stdio(path: &Path) -> bool {
    path.as_os_str() == "-"
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run {
            name,
            log,
            pod,
            private_tmp,
            net,
            argv,
        } => run(
            &RunOptions {
                name: name.as_deref(),
                log: log.as_deref(),
                pod,
                private_tmp,
                net,
            },
            &argv,
        ),
        Command::Checkpoint {
            pid,
            output,
            kill,
            no_freeze,
            flags,
            stats,
            no_cow,
        } => {
            let opts = CheckpointOptions {
                kill,
                freeze: !no_freeze,
                cow: !no_cow,
                flags: flags.unwrap_or_else(|| {
                    if ckpt::is_pod_init(pid) {
                        0
                    } else {
                        CHECKPOINT_SUBTREE
                    }
                }),
            };
            checkpoint(pid, &output, &opts).map(|times| {
                if stats {
                    eprintln!("ckpt checkpoint: {times}");
                }
            })
        }
        Command::Inspect { image, json } => inspect(&image, json),
        Command::Restart {
            image,
            name,
            detach,
            pidns,
            deleted_in,
            stats,
        } => {
            let opts = ckpt::RestartOptions {
                name: name.as_deref(),
                detach,
                pidns,
                deleted_in: deleted_in.as_deref(),
                stats,
            };
            match restart(&image, &opts) {
                Ok(ckpt::RestartOutcome::Exited(code)) => return ExitCode::from(code as u8),
                Ok(ckpt::RestartOutcome::Signaled(sig)) => {
                    return ExitCode::from(128u8.wrapping_add(sig as u8))
                }
                Ok(ckpt::RestartOutcome::Detached(pid)) => {
                    println!("{pid}");
                    Ok(())
                }
                Err(e) => Err(e),
            }
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ckpt: {e:#}");
            ExitCode::from(exit_status(&e))
        }
    }
}

/// The exit status for an error: 125 when `restart(2)` failed, 128 + the
/// signal when one killed a process while it was restored (as a shell
/// reports a process killed by a signal), 1 for anything else.
fn exit_status(e: &anyhow::Error) -> u8 {
    e.downcast_ref::<ckpt::RestartFailure>()
        .map_or(1, ckpt::RestartFailure::exit_status)
}

fn run(opts: &RunOptions<'_>, argv: &[OsString]) -> Result<()> {
    let pid = ckpt::run_with(opts, argv)?;
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "{pid}")
        .and_then(|()| stdout.flush())
        .context("cannot write to stdout")
}

fn checkpoint(pid: i32, output: &Path, opts: &CheckpointOptions) -> Result<ckpt::CheckpointTimes> {
    if is_stdio(output) {
        let stdout = io::stdout();
        if stdout.is_terminal() {
            bail!("refusing to write an image to a terminal: redirect stdout or give `-o FILE`");
        }
        return ckpt::checkpoint(pid, stdout.as_fd(), opts);
    }
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(output)
        .with_context(|| format!("cannot create {}", output.display()))?;
    let result = ckpt::checkpoint(pid, file.as_fd(), opts);
    if result.is_err() {
        // Remove what was written, but never a device or fifo given as -o.
        if file.metadata().is_ok_and(|m| m.is_file()) {
            let _ = fs::remove_file(output);
        }
    }
    result
}

fn read_image(path: &Path) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    if is_stdio(path) {
        io::stdin()
            .lock()
            .read_to_end(&mut buf)
            .context("cannot read stdin")?;
    } else {
        File::open(path)
            .and_then(|mut f| f.read_to_end(&mut buf))
            .with_context(|| format!("cannot read {}", path.display()))?;
    }
    Ok(buf)
}

fn inspect(path: &Path, json: bool) -> Result<()> {
    let buf = read_image(path)?;
    let name = if is_stdio(path) {
        "<stdin>".into()
    } else {
        path.display().to_string()
    };
    // DecodeError is a no_std type without std::error::Error.
    let img = inspect::parse(&buf).map_err(|e| anyhow!("{name}: {e}"))?;
    let text = if json {
        let mut s = serde_json::to_string_pretty(&img).context("cannot encode JSON")?;
        s.push('\n');
        s
    } else {
        inspect::table(&img)
    };
    let mut stdout = io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .context("cannot write to stdout")
}

fn restart(path: &Path, opts: &ckpt::RestartOptions<'_>) -> Result<ckpt::RestartOutcome> {
    if is_stdio(path) {
        return ckpt::restart(ckpt::RestartInput::Stream(Box::new(io::stdin())), opts);
    }
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    if !file.metadata()?.is_file() {
        return ckpt::restart(ckpt::RestartInput::Stream(Box::new(file)), opts);
    }
    ckpt::restart(ckpt::RestartInput::File(file), opts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn exit_statuses() {
        use ckpt::{CheckpointError, RestartFailure};
        use nix::errno::Errno;
        let failed = RestartFailure::Error(CheckpointError::new(Errno::ENOENT, "gone"));
        assert_eq!(exit_status(&failed.into()), 125);
        let killed = RestartFailure::Killed {
            signal: 9,
            message: "restart: killed".into(),
        };
        assert_eq!(exit_status(&killed.into()), 137);
        // Before restart(2): a pid that is taken, a bad image.
        let taken = CheckpointError::new(Errno::EEXIST, "pid 5 is taken");
        assert_eq!(exit_status(&taken.into()), 1);
        assert_eq!(exit_status(&anyhow!("not a valid image")), 1);
    }

    #[test]
    fn hex_flags() {
        assert_eq!(parse_hex("0x1"), Ok(1));
        assert_eq!(parse_hex("ff"), Ok(255));
        assert!(parse_hex("0xg").is_err());
        assert!(parse_hex("").is_err());
    }

    #[test]
    fn run_takes_the_rest_as_command() {
        let cli = Cli::try_parse_from(["ckpt", "run", "--name", "x", "--", "sh", "-c", "true"])
            .expect("valid command line");
        match cli.command {
            Command::Run { name, argv, .. } => {
                assert_eq!(name.as_deref(), Some("x"));
                assert_eq!(argv, ["sh", "-c", "true"]);
            }
            other => panic!("parsed as {other:?}"),
        }
        let cli = Cli::try_parse_from(["ckpt", "run", "sleep", "--help"]).expect("valid");
        assert!(matches!(cli.command, Command::Run { argv, .. } if argv == ["sleep", "--help"]));
    }
}
