//! Step 5: `make bzImage` into the build directory, with a progress line.

use super::*;

pub(crate) fn build(ctx: &Ctx, flavor: Flavor) -> Result<PathBuf> {
    let src = ctx.kernel_src();
    let build = flavor.build_dir(ctx);
    let sh = Shell::new()?;
    sh.change_dir(&src);
    let command: Command = make_cmd(ctx, &sh, flavor, &[make_jobs(), "bzImage".into()])?.into();
    let start = Instant::now();
    let (status, lines) = stream_make(ctx, command, "kernel")?;
    let log = flavor.build_log(ctx);
    fs::create_dir_all(&ctx.target)?;
    fs::write(&log, lines.join("\n") + "\n")
        .with_context(|| format!("cannot write {}", log.display()))?;
    if !status.success() {
        eprintln!("{}", failure_excerpt(&lines));
        bail!(
            "the kernel build failed ({status}); the first error and the last 60 lines of make \
             are above, the full log is {}",
            rel(ctx, &log)
        );
    }
    let bzimage = build.join("arch/x86/boot/bzImage");
    if !bzimage.exists() {
        bail!("make succeeded but {} is missing", bzimage.display());
    }
    eprintln!(
        "kernel: built in {:.1} s ({} make lines, log {})",
        start.elapsed().as_secs_f64(),
        lines.len(),
        rel(ctx, &log)
    );
    Ok(bzimage)
}

/// Runs a `make` command, its output read line by line: echoed with `-v`,
/// else shown as a spinner with the latest line on a terminal, or a line
/// every 10 s otherwise (`label` names the build). Returns make's status
/// and its lines.
pub(crate) fn stream_make(
    ctx: &Ctx,
    mut command: Command,
    label: &str,
) -> Result<(std::process::ExitStatus, Vec<String>)> {
    let (reader, writer) = std::io::pipe()?;
    command
        .stdin(Stdio::null())
        .stdout(writer.try_clone()?)
        .stderr(writer);
    let start = Instant::now();
    let mut child = command
        .spawn()
        .context("cannot run make: run `cargo xtask setup`")?;
    // The pipe's write ends must close here, or reading never sees the end.
    drop(command);

    let tty = std::io::stderr().is_terminal() && !ctx.verbose;
    let bar = if tty {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner:.green} {prefix} [{elapsed}] {pos} lines {wide_msg}",
            )
            .expect("valid template"),
        );
        bar.set_prefix(label.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    } else {
        ProgressBar::hidden()
    };
    let mut lines: Vec<String> = Vec::new();
    let mut last_report = Instant::now();
    for line in BufReader::new(reader).split(b'\n') {
        let line = String::from_utf8_lossy(&line?).trim_end().to_string();
        if ctx.verbose {
            eprintln!("{line}");
        } else if !tty && last_report.elapsed() >= Duration::from_secs(10) {
            eprintln!(
                "{label}: [{:.0} s, {} lines] {}",
                start.elapsed().as_secs_f64(),
                lines.len() + 1,
                line.trim()
            );
            last_report = Instant::now();
        }
        bar.set_message(line.clone());
        lines.push(line);
        bar.set_position(lines.len() as u64);
    }
    let status = child.wait()?;
    bar.finish_and_clear();

    Ok((status, lines))
}
