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
use ckpt::cli::{self, Cli, Command};
use ckpt::{inspect, CheckpointOptions, RunOptions};
use ckpt_image::CHECKPOINT_SUBTREE;
use clap::Parser;
use nix::libc;

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
        Command::Completions { shell } => completions(shell),
        Command::Diff { a, b, json } => match diff(&a, &b, json) {
            Ok(true) => return ExitCode::SUCCESS,
            Ok(false) => return ExitCode::from(1),
            Err(e) => {
                eprintln!("ckpt: {e:#}");
                return ExitCode::from(2);
            }
        },
        Command::Restart {
            image,
            name,
            detach,
            pidns,
            deleted_in,
            stats,
            json,
        } => {
            let opts = ckpt::RestartOptions {
                name: name.as_deref(),
                detach,
                pidns,
                deleted_in: deleted_in.as_deref(),
                stats,
                progress: ckpt::progress::wanted(),
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
                Err(e) => {
                    if json {
                        println!("{}", ckpt::failure_json(&e));
                    }
                    Err(e)
                }
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

/// `ckpt checkpoint -o FILE`. A new FILE, or an existing regular file, is
/// written as `FILE.partial` (made anew, mode 0600) and renamed over FILE
/// once the image is whole and synced, so that no file named FILE ever
/// holds part of an image: a failed checkpoint removes its `.partial`, a
/// killed one leaves it (and `ckpt restart` refuses it as incomplete). An
/// image that is whole is kept even when thawing or killing the tree after
/// it failed. FILE given as a symbolic link, a device or a FIFO is written
/// through directly, as is an existing FILE in a directory where the
/// `.partial` cannot be made.
fn checkpoint(pid: i32, output: &Path, opts: &CheckpointOptions) -> Result<ckpt::CheckpointTimes> {
    if is_stdio(output) {
        let stdout = io::stdout();
        if stdout.is_terminal() {
            bail!("refusing to write an image to a terminal: redirect stdout or give `-o FILE`");
        }
        return ckpt::checkpoint(pid, stdout.as_fd(), opts);
    }
    // A symbolic link to a file stays, and the file it names gets the
    // image (made beside it, then renamed over it); one into /proc or /dev
    // (/dev/stdout, /proc/self/fd/N) names an open file, written through.
    let resolved;
    let mut output = output;
    if fs::symlink_metadata(output).is_ok_and(|m| m.file_type().is_symlink()) {
        if output.starts_with("/proc") || output.starts_with("/dev") {
            return checkpoint_in_place(pid, output, opts);
        }
        resolved = link_target(output)?;
        output = &resolved;
    }
    let existing = fs::symlink_metadata(output).ok();
    if existing.as_ref().is_some_and(|m| !m.is_file()) {
        return checkpoint_in_place(pid, output, opts);
    }
    let partial = partial_path(output);
    let file = match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&partial)
    {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            if read_image(&partial).is_ok_and(|b| inspect::parse(&b).is_ok()) {
                bail!(
                    "{} exists and holds a whole image, of a checkpoint that could not name it \
                     {}: move it to {} (or elsewhere) before checkpointing again",
                    partial.display(),
                    output.display(),
                    output.display()
                );
            }
            bail!(
                "{} exists: another `ckpt checkpoint` is writing {}, or one was killed while \
                 writing it (an incomplete image, which `ckpt restart` refuses); remove it and \
                 try again",
                partial.display(),
                output.display()
            )
        }
        Err(e)
            if existing.is_some()
                && matches!(e.raw_os_error(), Some(libc::EACCES | libc::EROFS)) =>
        {
            // No room for the temporary file beside FILE, which exists
            // and may be writable itself.
            return checkpoint_in_place(pid, output, opts);
        }
        Err(e) => {
            return Err(e).with_context(|| {
                format!(
                    "cannot create {} (the temporary file for {})",
                    partial.display(),
                    output.display()
                )
            })
        }
    };
    let result = checkpoint_showing(pid, &file, opts);
    let whole = match &result {
        Ok(_) => true,
        Err(e) => e.downcast_ref::<ckpt::AfterImage>().is_some(),
    };
    if !whole {
        let _ = fs::remove_file(&partial);
        return result;
    }
    if let Err(e) = commit(&file, &partial, output) {
        return Err(match result {
            Ok(_) => e,
            Err(after) => e.context(format!("{after:#}")),
        });
    }
    result
}

/// `ckpt::checkpoint` into `file`, with a progress line (the bytes
/// written so far) when stderr is a terminal and it takes a second.
fn checkpoint_showing(
    pid: i32,
    file: &File,
    opts: &CheckpointOptions,
) -> Result<ckpt::CheckpointTimes> {
    let watched = file.try_clone().ok();
    let _progress = ckpt::progress::Progress::start(
        ckpt::progress::wanted() && watched.is_some(),
        "ckpt checkpoint",
        move || {
            // The bytes written so far, where the file holds them.
            watched
                .as_ref()
                .and_then(|f| f.metadata().ok())
                .filter(|m| m.is_file())
                .map_or_else(String::new, |m| ckpt::progress::written(m.len()))
        },
    );
    ckpt::checkpoint(pid, file.as_fd(), opts)
}

/// Writes FILE itself (a symbolic link followed, a device or a FIFO as
/// it is; a regular file truncated), removing what was written if the
/// checkpoint fails and FILE is a regular file.
fn checkpoint_in_place(
    pid: i32,
    output: &Path,
    opts: &CheckpointOptions,
) -> Result<ckpt::CheckpointTimes> {
    let regular = fs::metadata(output).is_ok_and(|m| m.is_file());
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(regular)
        .mode(0o600)
        .open(output)
        .with_context(|| format!("cannot open {}", output.display()))?;
    let result = checkpoint_showing(pid, &file, opts);
    if let Err(e) = &result {
        if regular && e.downcast_ref::<ckpt::AfterImage>().is_none() {
            let _ = file.set_len(0);
        }
    }
    result
}

/// Makes the whole image in `partial` FILE: synced, renamed over FILE, and
/// the rename synced with FILE's directory.
fn commit(file: &File, partial: &Path, output: &Path) -> Result<()> {
    file.sync_all().with_context(|| {
        format!(
            "the image in {} cannot be synced to disk; it is not renamed to {}",
            partial.display(),
            output.display()
        )
    })?;
    fs::rename(partial, output).with_context(|| {
        format!(
            "the image is whole in {}, but cannot be renamed to {}",
            partial.display(),
            output.display()
        )
    })?;
    let dir = match output.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    // The image is whole under its name: a directory that cannot be
    // synced (not readable, or a file system that refuses) is said, not
    // made a failure.
    if let Err(e) = File::open(dir).and_then(|d| d.sync_all()) {
        eprintln!(
            "ckpt: warning: {} is written, but its directory cannot be synced: {e}",
            output.display()
        );
    }
    Ok(())
}

/// The file a symbolic link names (the link's directory resolved; the
/// file need not exist yet), for the image to replace it, not the link.
fn link_target(link: &Path) -> Result<PathBuf> {
    let target = fs::read_link(link).with_context(|| format!("cannot read {}", link.display()))?;
    let base = match link.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let target = base.join(target);
    // Resolved all the way when it exists (a chain of links).
    Ok(fs::canonicalize(&target).unwrap_or(target))
}

/// `FILE.partial`, beside FILE.
fn partial_path(output: &Path) -> PathBuf {
    let mut name = output.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

/// `ckpt diff A B`: prints the differences; whether there are none.
fn diff(a: &Path, b: &Path, json: bool) -> Result<bool> {
    if is_stdio(a) && is_stdio(b) {
        bail!("only one of the two images can be read from stdin (`-`)");
    }
    let (ba, bb) = (read_image(a)?, read_image(b)?);
    let d = ckpt::diff::diff(&ba, &bb).map_err(|e| {
        // Which image is bad: the one that does not decode alone.
        let bad = if inspect::parse(&ba).is_err() { a } else { b };
        anyhow!("{}: {e}", bad.display())
    })?;
    let text = if json {
        let mut s = serde_json::to_string_pretty(&d).context("cannot encode JSON")?;
        s.push('\n');
        s
    } else {
        ckpt::diff::text(&d)
    };
    let mut stdout = io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .context("cannot write to stdout")?;
    Ok(d.is_empty())
}

fn completions(shell: clap_complete::Shell) -> Result<()> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cli::command(), "ckpt", &mut script);
    let mut stdout = io::stdout().lock();
    stdout
        .write_all(&script)
        .and_then(|()| stdout.flush())
        .context("cannot write to stdout")
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

    #[test]
    fn partial_is_beside_the_image() {
        assert_eq!(
            partial_path(Path::new("/tmp/a.img")),
            Path::new("/tmp/a.img.partial")
        );
        assert_eq!(partial_path(Path::new("img")), Path::new("img.partial"));
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
}
