//! `cargo xtask lint`: the checks a kernel developer runs on a series.
//!
//! - `cargo fmt --check` and `cargo clippy -D warnings` of the workspace;
//! - the kernel crate formatted as the kernel's `.rustfmt.toml` says
//!   (`make rustfmtcheck` does not follow the `kernel/ckpt` symlink);
//! - `make CLIPPY=1` of the kernel crate, with the kernel's own clippy
//!   configuration (its minimum Rust, 1.78), in `<cache>/build-lint`;
//! - `scripts/checkpatch.pl --strict` over every patch of `linux-patch/`.
//!
//! - rustdoc of the kernel crate, with the flags of its kernel build
//!   (`make rustdoc` documents only `rust/`), warnings failing;
//! - `linux-patch/` up to date (`cargo xtask format-patch --check`).
//!
//! Every check fails the command. checkpatch's findings are listed in
//! `target/lint/checkpatch.txt`; those kept on purpose are listed, with
//! the reason, in `docs/checkpatch-kept.txt` (and the cover letter), and
//! any other fails.

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use xshell::cmd;

use crate::{file_name, kernel, rel, Ctx};

#[derive(clap::Args)]
pub struct LintArgs {
    /// Leave out checkpatch (about a minute for the whole series).
    #[arg(long)]
    pub no_checkpatch: bool,
}

pub fn lint(ctx: &Ctx, args: &LintArgs) -> Result<()> {
    let sh = &ctx.sh;
    let cargo = ctx.cargo();
    let mut failed = Vec::new();

    eprintln!("lint: cargo fmt --check");
    if cmd!(sh, "{cargo} fmt --all --check").run().is_err() {
        failed.push("cargo fmt --check (run `cargo fmt --all`)");
    }
    eprintln!("lint: cargo clippy --workspace --all-targets -D warnings");
    if cmd!(
        sh,
        "{cargo} clippy --workspace --all-targets -- -D warnings"
    )
    .run()
    .is_err()
    {
        failed.push("cargo clippy (above)");
    }

    eprintln!("lint: rustfmt --check of rust/kernel-ckpt with the kernel's .rustfmt.toml");
    let config = ctx.kernel_src().join(".rustfmt.toml");
    if !config.is_file() {
        bail!(
            "{} is missing: run `cargo xtask kernel` first",
            config.display()
        );
    }
    let files = rust_files(&ctx.repo.join("rust/kernel-ckpt"))?;
    if cmd!(
        sh,
        "rustfmt --edition 2021 --config-path {config} --check {files...}"
    )
    .run()
    .is_err()
    {
        failed.push("rustfmt of rust/kernel-ckpt (above; rustfmt --config-path <kernel>/.rustfmt.toml FILE)");
    }

    eprintln!("lint: make CLIPPY=1 kernel/ckpt/");
    let said = kernel::clippy_crate(ctx)?;
    if !said.trim().is_empty() {
        eprintln!("{said}");
        failed.push("clippy of the kernel crate (above)");
    }

    eprintln!("lint: rustdoc of kernel/ckpt/ into target/lint/rustdoc/");
    let said = kernel::rustdoc_crate(ctx)?;
    if !said.is_empty() {
        eprintln!("{said}");
        failed.push("rustdoc of the kernel crate (above)");
    }

    eprintln!("lint: linux-patch/ is what format-patch makes of kckpt and rust/kernel-ckpt");
    if let Err(err) = crate::format_patch::format_patch(
        ctx,
        &crate::format_patch::FormatPatchArgs { check: true },
    ) {
        eprintln!("{err:#}");
        failed.push("linux-patch/ out of date (above)");
    }
    if !args.no_checkpatch && !checkpatch(ctx)?.is_empty() {
        failed.push("checkpatch findings not in docs/checkpatch-kept.txt (above)");
    }
    if !failed.is_empty() {
        bail!("lint failed: {}", failed.join("; "));
    }
    eprintln!("lint: ok");
    Ok(())
}

/// The `.rs` files under `dir` (the fuzzer's directory left out: it is
/// a host crate, checked by cargo fmt).
fn rust_files(dir: &std::path::Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).with_context(|| format!("cannot read {}", d.display()))? {
            let p = e?.path();
            if p.is_dir() {
                if p.file_name().is_some_and(|n| n != "fuzz" && n != "target") {
                    stack.push(p);
                }
            } else if p.extension().is_some_and(|e| e == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// One checkpatch finding: its kind (`WARNING:LONG_LINE`), the file it is
/// in (or `patch:NAME` when it is about the patch itself) and its text.
struct Finding {
    kind: String,
    file: String,
    text: String,
}

/// The findings of one patch in checkpatch's plain output: a line
/// `KIND:TYPE: message` starts each, and the first `#N: FILE: path:line:`
/// line after it (before the next finding) places it in a file.
fn findings(output: &str, patch: &str) -> Vec<Finding> {
    let stem = patch.split_once('-').map_or(patch, |(_, rest)| rest);
    let mut out: Vec<(String, String, Option<String>)> = Vec::new();
    for line in output.lines() {
        let head = ["ERROR:", "WARNING:", "CHECK:"]
            .iter()
            .find(|p| line.starts_with(**p))
            .and_then(|_| line.split_once(": "))
            .filter(|(kind, _)| {
                kind.split_once(':').is_some_and(|(_, t)| {
                    !t.is_empty()
                        && t.bytes()
                            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
                })
            });
        if let Some((kind, message)) = head {
            out.push((kind.to_string(), message.to_string(), None));
        } else if let Some((_, rest)) = line.split_once("FILE: ") {
            if let Some(last) = out.last_mut().filter(|f| f.2.is_none()) {
                last.2 = Some(rest.trim_end_matches(':').to_string());
            }
        }
    }
    out.into_iter()
        .map(|(kind, message, place)| {
            let file = place
                .as_deref()
                .and_then(|p| p.split(':').next())
                .map_or_else(|| format!("patch:{stem}"), str::to_string);
            Finding {
                text: format!(
                    "{kind}: {message} ({}) [{patch}]",
                    place.as_deref().unwrap_or("the patch")
                ),
                kind,
                file,
            }
        })
        .collect()
}

/// checkpatch's `total: E errors, W warnings, C checks, ...` line, summed.
fn summary_total(output: &str) -> Option<usize> {
    let line = output.lines().find(|l| l.starts_with("total: "))?;
    let mut sum = 0;
    for part in line.trim_start_matches("total: ").split(", ").take(3) {
        sum += part.split_whitespace().next()?.parse::<usize>().ok()?;
    }
    Some(sum)
}

/// `docs/checkpatch-kept.txt`: the findings the series keeps, as lines
/// `KIND FILE COUNT REASON`, keyed by (kind, file).
fn kept_findings(ctx: &Ctx) -> Result<BTreeMap<(String, String), (usize, String)>> {
    let path = ctx.repo.join("docs/checkpatch-kept.txt");
    let text =
        fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut kept = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.splitn(4, char::is_whitespace);
        let (Some(kind), Some(file), Some(count), Some(reason)) =
            (words.next(), words.next(), words.next(), words.next())
        else {
            bail!(
                "{}:{}: expected `KIND FILE COUNT REASON`",
                path.display(),
                n + 1
            );
        };
        let count: usize = count
            .parse()
            .with_context(|| format!("{}:{}: bad count {count:?}", path.display(), n + 1))?;
        kept.insert(
            (kind.to_string(), file.to_string()),
            (count, reason.trim().to_string()),
        );
    }
    Ok(kept)
}

/// checkpatch.pl --strict over each patch: every finding goes to
/// `target/lint/checkpatch.txt`, and those that `docs/checkpatch-kept.txt`
/// does not list (by kind, file and count) fail the lint.
fn checkpatch(ctx: &Ctx) -> Result<Vec<String>> {
    let sh = &ctx.sh;
    let script = ctx.kernel_src().join("scripts/checkpatch.pl");
    let patches = kernel::patch_files(ctx)?;
    eprintln!(
        "lint: checkpatch.pl --strict over {} patches",
        patches.len()
    );
    let _cd = sh.push_dir(ctx.kernel_src());
    let mut all = Vec::new();
    for p in &patches {
        let out = cmd!(sh, "perl {script} --strict --show-types --no-color {p}")
            .quiet()
            .ignore_status()
            .output()?;
        // checkpatch exits 1 when it finds something; anything else is
        // checkpatch itself failing.
        let text = String::from_utf8_lossy(&out.stdout);
        let found = findings(&text, &file_name(p));
        let total = summary_total(&text);
        if !matches!(out.status.code(), Some(0 | 1)) || total != Some(found.len()) {
            bail!(
                "checkpatch.pl on {} did not run through ({}; its summary says {:?} findings, \
                 {} read):\n{}",
                file_name(p),
                out.status,
                total,
                found.len(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        all.extend(found);
    }
    let mut report = String::new();
    let mut counts: BTreeMap<(String, String), usize> = BTreeMap::new();
    for f in &all {
        report.push_str(&f.text);
        report.push('\n');
        *counts.entry((f.kind.clone(), f.file.clone())).or_default() += 1;
    }
    let dir = ctx.target.join("lint");
    fs::create_dir_all(&dir)?;
    let path = dir.join("checkpatch.txt");
    fs::write(&path, &report).with_context(|| format!("cannot write {}", path.display()))?;

    let kept = kept_findings(ctx)?;
    let mut problems = Vec::new();
    for ((kind, file), n) in &counts {
        match kept.get(&(kind.clone(), file.clone())) {
            None => problems.push(format!("{n} × {kind} in {file}")),
            Some((k, _)) if n > k => problems.push(format!("{n} × {kind} in {file}, {k} kept")),
            Some(_) => {}
        }
    }
    for ((kind, file), (k, _)) in &kept {
        let n = counts
            .get(&(kind.clone(), file.clone()))
            .copied()
            .unwrap_or(0);
        if n < *k {
            problems.push(format!(
                "docs/checkpatch-kept.txt keeps {k} × {kind} in {file}, the series has {n}: \
                 lower its count"
            ));
        }
    }
    let kept_total: usize = counts.values().sum::<usize>();
    eprintln!(
        "lint: checkpatch: {} findings, all listed in {}; {}",
        kept_total,
        rel(ctx, &path),
        if problems.is_empty() {
            "each one kept on purpose (docs/checkpatch-kept.txt)".to_string()
        } else {
            format!("{} not kept:\n  {}", problems.len(), problems.join("\n  "))
        }
    );
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::{findings, summary_total};

    #[test]
    fn reads_findings_and_the_total() {
        let out = "\
WARNING:LONG_LINE: line length of 120 exceeds 100 columns
#40: FILE: fs/a.c:12:
+\twhy = \"long\";

ERROR:NON_OCTAL_PERMISSIONS: Use 4 digit octal (0777) not decimal permissions
#50: FILE: fs/a.c:20:
+module_param(x, int, 777);
WARNING:FILE_PATH_CHANGES: added, moved or deleted file(s), does MAINTAINERS need updating?
#60: 
new file mode 100644

total: 1 errors, 2 warnings, 0 checks, 100 lines checked
";
        let f = findings(out, "0003-fs-hooks.patch");
        let got: Vec<(&str, &str)> = f
            .iter()
            .map(|f| (f.kind.as_str(), f.file.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("WARNING:LONG_LINE", "fs/a.c"),
                ("ERROR:NON_OCTAL_PERMISSIONS", "fs/a.c"),
                ("WARNING:FILE_PATH_CHANGES", "patch:fs-hooks.patch"),
            ]
        );
        assert_eq!(summary_total(out), Some(3));
        assert_eq!(summary_total("no summary"), None);
    }
}
