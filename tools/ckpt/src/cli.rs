// SPDX-License-Identifier: GPL-2.0
//! The `ckpt` command line: its arguments, help texts and version, shared
//! by the binary, its shell completions and its manual pages (`cargo xtask
//! man` renders `man/ckpt*.1` from [`command`]).

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::LazyLock;

use clap::{CommandFactory, Parser, Subcommand};

/// `ckpt --version`: the tool's version and the image format it reads and
/// writes.
static VERSION: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{} (image format version {})",
        env!("CARGO_PKG_VERSION"),
        ckpt_image::IMAGE_VERSION
    )
});

/// The command line as clap sees it, for completions and manual pages.
pub fn command() -> clap::Command {
    Cli::command()
}

/// Checkpoint and restart Linux process trees with the kernel-ckpt system
/// calls checkpoint(2) and restart(2).
///
/// Start a job with `ckpt run`, write an image of it with
/// `ckpt checkpoint`, look at the image with `ckpt inspect`.
#[derive(Debug, Parser)]
#[command(name = "ckpt", version = VERSION.as_str(), propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
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
        /// Image file, or `-` for stdout. It is written as FILE.partial
        /// (mode 0600) and renamed to FILE once the image is complete; a
        /// failed checkpoint removes it. A device or a FIFO is written
        /// directly.
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
    /// Show what differs between two images, record by record.
    ///
    /// Tasks and their saved state are matched by pid, shared objects by
    /// id; each task's pages are compared by address and contents, shown
    /// as counts and address ranges. Exits with 0 when the images hold the
    /// same state, 1 when they differ, 2 on an error.
    Diff {
        /// The first image (A).
        #[arg(value_name = "A")]
        a: PathBuf,
        /// The second image (B).
        #[arg(value_name = "B")]
        b: PathBuf,
        /// Print JSON (`fields`: path, a, b; `pages`: per pid, ranges
        /// only in A, only in B and changed) instead of text.
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
        /// On failure, also print to stdout what failed as one JSON
        /// object: `failure` is `restart` (restart(2) failed: its errno and
        /// the kernel's report of which task failed at which record),
        /// `killed` (a signal killed the tree: the signal) or `error`
        /// (before restart(2)).
        #[arg(long)]
        json: bool,
    },
    /// Print the completion script of a shell for ckpt to stdout.
    ///
    /// bash: `ckpt completions bash > /etc/bash_completion.d/ckpt` (or
    /// `source <(ckpt completions bash)` in ~/.bashrc); zsh: write it as
    /// `_ckpt` into a directory of `$fpath`; fish: into
    /// ~/.config/fish/completions/ckpt.fish.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

pub fn parse_hex(s: &str) -> Result<u64, String> {
    let digits = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    u64::from_str_radix(digits, 16).map_err(|e| format!("{s:?} is not a hexadecimal number: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_is_consistent() {
        command().debug_assert();
    }

    #[test]
    fn version_names_the_image_format() {
        let v = command().render_version();
        assert_eq!(
            v,
            format!(
                "ckpt {} (image format version {})\n",
                env!("CARGO_PKG_VERSION"),
                ckpt_image::IMAGE_VERSION
            )
        );
    }

    #[test]
    fn every_subcommand_takes_version() {
        // Their manual pages list -V, --version.
        for sub in command().get_subcommands() {
            let name = sub.get_name();
            let e = Cli::try_parse_from(["ckpt", name, "-V"]).expect_err("prints the version");
            assert_eq!(e.kind(), clap::error::ErrorKind::DisplayVersion, "{name}");
        }
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

    #[test]
    fn completions_for_each_shell() {
        for shell in ["bash", "zsh", "fish"] {
            let cli = Cli::try_parse_from(["ckpt", "completions", shell]).expect("valid");
            assert!(matches!(cli.command, Command::Completions { .. }));
        }
        assert!(Cli::try_parse_from(["ckpt", "completions", "csh"]).is_err());
    }
}
