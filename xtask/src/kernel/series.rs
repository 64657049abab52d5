//! Step 2: branch `kckpt` = `ckpt-base` + `linux-patch/*.patch`, re-applied
//! only when the series changed, with unchanged files keeping their mtimes.

use super::*;

/// The cover letter of the series in `linux-patch/`: no change of its own.
pub const COVER_LETTER: &str = "0000-cover-letter.patch";

/// The series, in order (the cover letter left out).
pub fn patch_files(ctx: &Ctx) -> Result<Vec<PathBuf>> {
    let dir = ctx.repo.join("linux-patch");
    let mut patches: Vec<PathBuf> = match fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "patch"))
            .filter(|p| p.file_name().is_some_and(|n| n != COVER_LETTER))
            .collect(),
        Err(_) => Vec::new(),
    };
    patches.sort();
    Ok(patches)
}

/// SHA-256 over the bytes of all patch files, in order.
pub fn series_stamp(patches: &[PathBuf]) -> Result<String> {
    let contents = patches
        .iter()
        .map(|p| fs::read(p).with_context(|| format!("cannot read {}", p.display())))
        .collect::<Result<Vec<_>>>()?;
    Ok(sha256_hex(contents.iter().map(Vec::as_slice)))
}

pub fn series_stamp_path(ctx: &Ctx) -> PathBuf {
    ctx.cache.join("series.sha256")
}

/// Make branch `kckpt` hold ckpt-base + linux-patch/.
///
/// Re-applying resets kckpt, so it happens only when that loses nothing: when
/// kckpt is still what the last apply made (tag `kckpt-applied`) or plain
/// ckpt-base, with no uncommitted changes. Commits made on kckpt in the cache
/// tree and not exported with `cargo xtask format-patch` stop the run instead.
pub(crate) fn apply_series(ctx: &Ctx) -> Result<()> {
    let sh = &ctx.sh;
    let src = ctx.kernel_src();
    let patches = patch_files(ctx)?;
    let stamp = series_stamp(&patches)?;
    let stamp_path = series_stamp_path(ctx);

    if src.join(".git/rebase-apply").exists() {
        eprintln!(
            "kernel: aborting an interrupted `git am` in {}",
            src.display()
        );
        cmd!(sh, "git -C {src} am --abort").quiet().run()?;
    }
    let kckpt = rev_parse(ctx, &src, "refs/heads/kckpt");
    let branch = cmd!(sh, "git -C {src} symbolic-ref -q --short HEAD")
        .quiet()
        .ignore_status()
        .read()
        .unwrap_or_default();

    if read_stamp(&stamp_path) == stamp && kckpt.is_some() {
        if branch != "kckpt" {
            eprintln!(
                "kernel: note: {} has {} checked out, not kckpt; building that",
                src.display(),
                if branch.is_empty() {
                    "a detached HEAD"
                } else {
                    branch.as_str()
                }
            );
        }
        return Ok(());
    }

    if let Some(kckpt) = &kckpt {
        // Already there? (A hand-made tree, or one just exported by format-patch.)
        if exported_series_matches(ctx, &patches)? {
            if branch != "kckpt" {
                cmd!(sh, "git -C {src} checkout -q kckpt").quiet().run()?;
            }
            cmd!(
                sh,
                "git -C {src} update-ref refs/tags/kckpt-applied {kckpt}"
            )
            .quiet()
            .run()?;
            write_stamp(&stamp_path, &stamp)?;
            return Ok(());
        }
        let base = rev_parse(ctx, &src, "refs/tags/ckpt-base");
        let applied = rev_parse(ctx, &src, "refs/tags/kckpt-applied");
        if Some(kckpt) != base.as_ref() && Some(kckpt) != applied.as_ref() {
            bail!(
                "branch kckpt of the kernel tree {src} does not match linux-patch/, and \
                 re-applying the series would drop commits there that are not in linux-patch/ \
                 (those after tag kckpt-applied):\n\
                 - to keep them, run `cargo xtask format-patch` (it exports kckpt to \
                 linux-patch/), then merge with linux-patch/ as usual;\n\
                 - to drop them, run `git -C {src} checkout -q -f -B kckpt ckpt-base`, then this \
                 again.",
                src = src.display()
            );
        }
    }
    let dirty = cmd!(sh, "git -C {src} status --porcelain --untracked-files=no")
        .quiet()
        .read()?;
    if !dirty.is_empty() {
        bail!(
            "linux-patch/ must be applied again, but the kernel tree {src} has uncommitted \
             changes:\n{dirty}\n- to keep them, commit them on kckpt and run `cargo xtask \
             format-patch`;\n- to drop them, run `git -C {src} checkout -q -f -B kckpt \
             ckpt-base`, then this again.",
            src = src.display()
        );
    }

    eprintln!(
        "kernel: applying linux-patch/ ({} patches) on ckpt-base",
        patches.len()
    );
    let before = snapshot_patched_files(ctx, &src)?;
    cmd!(sh, "git -C {src} checkout -q -f -B kckpt ckpt-base")
        .quiet()
        .run()?;
    // The crate's patch is left out: kernel/ckpt links the crate itself.
    let series: Vec<&PathBuf> = patches.iter().filter(|p| !is_crate_patch(p)).collect();
    if !series.is_empty() {
        let applied = &series;
        let out = cmd!(sh, "git -C {src} {GIT_ID...} am -q --3way {applied...}")
            .quiet()
            .ignore_status()
            .output()?;
        if !out.status.success() {
            let next = fs::read_to_string(src.join(".git/rebase-apply/next")).unwrap_or_default();
            let failed = next
                .trim()
                .parse::<usize>()
                .ok()
                .and_then(|n| series.get(n.wrapping_sub(1)))
                .map(|p| rel(ctx, p).into_owned())
                .unwrap_or_else(|| "one of linux-patch/*.patch".to_string());
            let _ = cmd!(sh, "git -C {src} am --abort")
                .quiet()
                .ignore_stderr()
                .run();
            bail!(
                "{failed} does not apply on ckpt-base in {src}:\n{}{}\nTo fix it: `git -C {src} \
                 am --3way {}/*.patch`, resolve the conflict, `git -C {src} am --continue`, then \
                 `cargo xtask format-patch`.",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                ctx.repo.join("linux-patch").display(),
                src = src.display(),
            );
        }
    }
    cmd!(sh, "git -C {src} update-ref refs/tags/kckpt-applied HEAD")
        .quiet()
        .run()?;
    let kept = restore_mtimes(&before)?;
    if kept > 0 {
        eprintln!("kernel: {kept} files the series left as they were keep their timestamps");
    }
    write_stamp(&stamp_path, &stamp)?;
    Ok(())
}

/// A file's contents and modification time before re-applying the series.
pub(crate) struct Snapshot {
    path: PathBuf,
    contents: Vec<u8>,
    modified: std::time::SystemTime,
}

/// The files the current kckpt changes against ckpt-base: the only ones that
/// resetting to ckpt-base rewrites.
pub(crate) fn snapshot_patched_files(ctx: &Ctx, src: &Path) -> Result<Vec<Snapshot>> {
    let sh = &ctx.sh;
    let names = cmd!(sh, "git -C {src} diff --name-only -z ckpt-base HEAD")
        .quiet()
        .read()?;
    let mut files = Vec::new();
    for name in names.split('\0').filter(|n| !n.is_empty()) {
        let path = src.join(name);
        match fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_file() => files.push(Snapshot {
                contents: fs::read(&path)?,
                modified: meta.modified()?,
                path,
            }),
            _ => {}
        }
    }
    Ok(files)
}

/// Give the files whose contents came out the same their old modification
/// time back, so that make rebuilds only what the new series really changes
/// (a header like include/linux/syscalls.h rewritten with a new mtime would
/// rebuild nearly everything). Returns how many kept their time.
pub(crate) fn restore_mtimes(before: &[Snapshot]) -> Result<usize> {
    let mut kept = 0;
    for file in before {
        if fs::read(&file.path).ok().as_deref() == Some(file.contents.as_slice()) {
            File::options()
                .write(true)
                .open(&file.path)
                .and_then(|f| f.set_modified(file.modified))
                .with_context(|| format!("cannot set the mtime of {}", file.path.display()))?;
            kept += 1;
        }
    }
    Ok(kept)
}

/// The commit tagged ckpt-base (v6.12 as the series applies to it).
pub(crate) fn base_commit(ctx: &Ctx) -> Result<String> {
    let src = ctx.kernel_src();
    rev_parse(ctx, &src, "ckpt-base")
        .with_context(|| format!("{} has no tag ckpt-base", src.display()))
}

/// `<cache>/.series-check`, emptied: where a series is exported to be
/// compared with linux-patch/.
fn scratch_dir(ctx: &Ctx) -> Result<PathBuf> {
    let dir = ctx.cache.join(".series-check");
    if dir.exists() {
        fs::remove_dir_all(&dir)?;
    }
    Ok(dir)
}

/// Whether `git format-patch ckpt-base..kckpt` gives exactly linux-patch/.
pub(crate) fn exported_series_matches(ctx: &Ctx, patches: &[PathBuf]) -> Result<bool> {
    let dir = scratch_dir(ctx)?;
    // A kckpt that cannot be exported (ckpt-base itself, or no commit that
    // builds kernel/ckpt/) is not what linux-patch/ holds.
    if export(ctx, &dir).is_err() {
        let _ = fs::remove_dir_all(&dir);
        return Ok(false);
    }
    // The cover letter changes nothing in the tree.
    let exported = fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.file_name().is_some_and(|n| n != COVER_LETTER))
        .collect::<Vec<_>>();
    // The crate's patch follows rust/kernel-ckpt, not kckpt: only its name counts.
    let same = exported.len() == patches.len()
        && patches.iter().all(|patch| {
            let name = patch.file_name().unwrap_or_default();
            (is_crate_patch(patch) && dir.join(name).exists())
                || fs::read(dir.join(name)).ok() == fs::read(patch).ok()
        });
    fs::remove_dir_all(&dir)?;
    Ok(same)
}

/// The subject of the patch that adds the kernel crate as `kernel/ckpt/`.
///
/// The crate is not a commit on kckpt: the tree links `kernel/ckpt` to
/// `rust/kernel-ckpt` of this repository, so that it is edited in one
/// place. [`export`] makes its patch from the crate's files and puts it
/// before the first commit that changes `kernel/Makefile` (the one that
/// builds `kernel/ckpt/`); [`apply_series`] leaves it out.
pub const CRATE_SUBJECT: &str = "checkpoint: add the Rust crate in kernel/ckpt";

/// The file name git gives [`CRATE_SUBJECT`], after its number.
const CRATE_PATCH_STEM: &str = "-checkpoint-add-the-Rust-crate-in-kernel-ckpt.patch";

/// The message of the crate's commit, after the subject.
const CRATE_BODY: &str = "\
The logic of checkpoint(2) and restart(2) is one Rust crate, kernel/ckpt/,
whose root is ckpt.rs. It holds:

- the image format (image/src/): records, their encoding, and a parser
  that checks every length, count and offset before use. The same files
  build the user-space tools and the fuzzer outside the kernel;
- the two calls (checkpoint.rs, restart.rs): argument checks, the freezer
  and ptrace checks, the point of no return, the failure report;
- one file per kind of state (task.rs, mm.rs, fdtable.rs, pipe.rs, unix.rs,
  inet.rs, pty.rs, sysvshm.rs, ...), each saving and restoring that state
  through the hooks of the previous patches;
- objhash.rs: the table of objects shared between tasks, by kind;
- wrap/: thin safe wrappers over bindings:: for credentials, files, paths,
  memory, tasks and locks.

The directory is built by the next patch.
";

/// Whether `path` is the crate's patch (see [`CRATE_SUBJECT`]).
pub fn is_crate_patch(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(CRATE_PATCH_STEM))
}

/// The crate's files as the kernel builds them: `(path in rust/kernel-ckpt,
/// path in the kernel tree)`. Tracked files only, without what only the
/// host builds (the image crate's manifest, tests and fuzzer).
fn crate_files(ctx: &Ctx) -> Result<Vec<(PathBuf, String)>> {
    let sh = &ctx.sh;
    let repo = &ctx.repo;
    let listed = cmd!(sh, "git -C {repo} ls-files -z rust/kernel-ckpt")
        .quiet()
        .read()?;
    let mut files = Vec::new();
    for name in listed.split('\0').filter(|n| !n.is_empty()) {
        let Some(rel) = name.strip_prefix("rust/kernel-ckpt/") else {
            continue;
        };
        let host_only = rel == "image/Cargo.toml"
            || rel == "image/src/tests.rs"
            || rel.starts_with("image/tests/")
            || rel.starts_with("image/fuzz/");
        if !host_only {
            files.push((repo.join(name), format!("kernel/ckpt/{rel}")));
        }
    }
    if files.is_empty() {
        bail!("git ls-files finds no file in rust/kernel-ckpt");
    }
    Ok(files)
}

/// A commit's author line (`Name <email> seconds zone`) and raw message.
fn commit_parts(ctx: &Ctx, src: &Path, commit: &str) -> Result<(String, String)> {
    let sh = &ctx.sh;
    let raw = cmd!(sh, "git -C {src} cat-file commit {commit}")
        .quiet()
        .read()?;
    let (headers, message) = raw
        .split_once("\n\n")
        .with_context(|| format!("commit {commit} has no message"))?;
    let author = headers
        .lines()
        .find_map(|l| l.strip_prefix("author "))
        .with_context(|| format!("commit {commit} has no author"))?;
    Ok((author.to_string(), format!("{message}\n")))
}

/// `Name <email> seconds zone` as git's environment for a commit.
fn ident_env(author: &str) -> Result<[(String, String); 3]> {
    let (name, rest) = author
        .split_once(" <")
        .with_context(|| format!("bad author line {author:?}"))?;
    let (email, date) = rest
        .split_once("> ")
        .with_context(|| format!("bad author line {author:?}"))?;
    Ok([
        ("NAME".into(), name.into()),
        ("EMAIL".into(), email.into()),
        ("DATE".into(), date.into()),
    ])
}

/// A commit with the tree of `tree_of` plus the `(mode blob path)` lines in
/// `extra`, on `parent`, with `author` as author and committer: made in a
/// private index, so the work tree and the branches stay as they are.
fn commit_with(
    ctx: &Ctx,
    tree_of: &str,
    extra: &str,
    parent: &str,
    author: &str,
    message: &str,
) -> Result<String> {
    let sh = &ctx.sh;
    let src = ctx.kernel_src();
    let index = ctx.cache.join(".series-index");
    let _ = fs::remove_file(&index);
    let _env = sh.push_env("GIT_INDEX_FILE", &index);
    cmd!(sh, "git -C {src} read-tree {tree_of}").quiet().run()?;
    cmd!(sh, "git -C {src} update-index --index-info")
        .stdin(extra)
        .quiet()
        .run()?;
    let tree = cmd!(sh, "git -C {src} write-tree").quiet().read()?;
    let mut commit = cmd!(sh, "git -C {src} commit-tree {tree} -p {parent} -F -").stdin(message);
    for (key, value) in ident_env(author)? {
        commit = commit
            .env(format!("GIT_AUTHOR_{key}"), &value)
            .env(format!("GIT_COMMITTER_{key}"), &value);
    }
    let id = commit.quiet().read()?;
    let _ = fs::remove_file(&index);
    Ok(id)
}

/// Where the crate's patch goes among `commits` (ckpt-base..kckpt, oldest
/// first): before the first one that changes `kernel/Makefile`.
pub(crate) fn crate_slot(ctx: &Ctx, commits: &[&str]) -> Result<usize> {
    let sh = &ctx.sh;
    let src = ctx.kernel_src();
    for (i, commit) in commits.iter().enumerate() {
        let names = cmd!(
            sh,
            "git -C {src} diff-tree -r --no-commit-id --name-only {commit}"
        )
        .quiet()
        .read()?;
        if names.lines().any(|n| n == "kernel/Makefile") {
            return Ok(i);
        }
    }
    bail!(
        "no commit of kckpt changes kernel/Makefile, so there is no place for the crate's \
         patch: it goes before the commit that builds kernel/ckpt/"
    )
}

/// ckpt-base..kckpt with the crate's commit ([`CRATE_SUBJECT`]) put before
/// the first commit that changes `kernel/Makefile`, and the crate's files in
/// every commit from there on. Returns the new tip.
pub(crate) fn series_with_crate(ctx: &Ctx) -> Result<String> {
    let sh = &ctx.sh;
    let src = ctx.kernel_src();
    let commits = cmd!(sh, "git -C {src} rev-list --reverse ckpt-base..kckpt")
        .quiet()
        .read()?;
    let commits: Vec<&str> = commits.lines().collect();
    let at = crate_slot(ctx, &commits)?;

    let files = crate_files(ctx)?;
    let mut extra = String::new();
    {
        let paths: Vec<&PathBuf> = files.iter().map(|(path, _)| path).collect();
        let blobs = cmd!(sh, "git -C {src} hash-object -w -- {paths...}")
            .quiet()
            .read()?;
        let blobs: Vec<&str> = blobs.lines().collect();
        if blobs.len() != files.len() {
            bail!(
                "git hash-object gave {} ids for {} files",
                blobs.len(),
                files.len()
            );
        }
        for ((_, name), blob) in files.iter().zip(blobs) {
            extra.push_str(&format!("100644 {blob}\t{name}\n"));
        }
    }

    let mut tip = match at.checked_sub(1).and_then(|i| commits.get(i)) {
        Some(commit) => commit.to_string(),
        None => base_commit(ctx)?,
    };
    // The crate's commit is signed as the one that builds it.
    let builder = commits
        .get(at)
        .context("the crate's slot is past the series")?;
    let (author, _) = commit_parts(ctx, &src, builder)?;
    let message = format!("{CRATE_SUBJECT}\n\n{CRATE_BODY}\nSigned-off-by: {}\n", {
        let ident = ident_env(&author)?;
        format!("{} <{}>", ident[0].1, ident[1].1)
    });
    tip = commit_with(ctx, &tip, &extra, &tip, &author, &message)?;
    for commit in commits.iter().skip(at) {
        let (author, message) = commit_parts(ctx, &src, commit)?;
        tip = commit_with(ctx, commit, &extra, &tip, &author, &message)?;
    }
    Ok(tip)
}

/// The series into `dir`: `git format-patch` of ckpt-base..kckpt with the
/// crate's patch put in ([`series_with_crate`]), in the one format the
/// series is kept in (no signature, zero commit ids: stable across
/// re-applies), with a cover letter whose subject and text are
/// `docs/cover-letter.txt` (first line, then the rest) and whose date is
/// the last commit's, so that it changes only with the series.
pub fn export(ctx: &Ctx, dir: &Path) -> Result<()> {
    let sh = &ctx.sh;
    let src = ctx.kernel_src();
    let tip = series_with_crate(ctx)?;
    cmd!(
        sh,
        "git -C {src} format-patch -q --no-signature --zero-commit --cover-letter -o {dir} ckpt-base..{tip}"
    )
    .quiet()
    .run()
    .context("git format-patch failed")?;
    let made_crate = fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .any(|e| is_crate_patch(&e.path()));
    if !made_crate {
        bail!("git format-patch named the crate's patch other than *{CRATE_PATCH_STEM}");
    }
    let text_path = ctx.repo.join("docs/cover-letter.txt");
    let text = fs::read_to_string(&text_path)
        .with_context(|| format!("cannot read {}", text_path.display()))?;
    let date = cmd!(sh, "git -C {src} log -1 --format=%aD kckpt")
        .quiet()
        .read()?;
    let cover = dir.join(COVER_LETTER);
    let generated =
        fs::read_to_string(&cover).with_context(|| format!("cannot read {}", cover.display()))?;
    fs::write(&cover, fill_cover(&generated, &text, &date)?)
        .with_context(|| format!("cannot write {}", cover.display()))?;
    Ok(())
}

/// The files of `linux-patch/` (cover letter and crate included) that
/// differ from what [`export`] makes now, by name: empty when the series
/// is up to date with kckpt and rust/kernel-ckpt.
pub fn stale_patches(ctx: &Ctx) -> Result<Vec<String>> {
    let dir = scratch_dir(ctx)?;
    export(ctx, &dir)?;
    let names = |d: &Path| -> Result<Vec<String>> {
        let mut names: Vec<String> = fs::read_dir(d)?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".patch"))
            .collect();
        names.sort();
        Ok(names)
    };
    let ours = ctx.repo.join("linux-patch");
    let (made, kept) = (names(&dir)?, names(&ours)?);
    let mut stale: Vec<String> = made
        .iter()
        .chain(kept.iter())
        .filter(|n| fs::read(dir.join(n)).ok() != fs::read(ours.join(n)).ok())
        .cloned()
        .collect();
    stale.sort();
    stale.dedup();
    fs::remove_dir_all(&dir)?;
    Ok(stale)
}

/// git's cover letter with its subject and blurb placeholders replaced by
/// `text` (subject on its first line) and its date by `date`.
fn fill_cover(generated: &str, text: &str, date: &str) -> Result<String> {
    let (subject, body) = text
        .split_once('\n')
        .context("docs/cover-letter.txt: a subject line, then the text")?;
    if !generated.contains("*** SUBJECT HERE ***") || !generated.contains("*** BLURB HERE ***") {
        bail!("git format-patch wrote a cover letter without its placeholders");
    }
    let mut out = String::with_capacity(generated.len() + text.len());
    for line in generated.split_inclusive('\n') {
        if line.starts_with("Date: ") {
            out.push_str(&format!("Date: {date}\n"));
        } else {
            out.push_str(line);
        }
    }
    Ok(out
        .replace("*** SUBJECT HERE ***", subject.trim())
        .replace("*** BLURB HERE ***", body.trim_matches('\n')))
}

#[cfg(test)]
mod cover_tests {
    use super::fill_cover;

    #[test]
    fn placeholders_and_date() {
        let generated = "From 0 Mon\nDate: Sun, 6 Dec 2026 15:00:00 +0000\n\
                         Subject: [PATCH 00/76] *** SUBJECT HERE ***\n\n*** BLURB HERE ***\n\nA (1):\n";
        let out = fill_cover(generated, "the subject\n\nthe text\n", "Wed, 25 Nov 2026").unwrap();
        assert_eq!(
            out,
            "From 0 Mon\nDate: Wed, 25 Nov 2026\nSubject: [PATCH 00/76] the subject\n\n\
             the text\n\nA (1):\n"
        );
        assert!(fill_cover("no placeholders", "s\nt", "d").is_err());
    }
}
