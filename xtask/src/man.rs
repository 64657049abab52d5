//! `cargo xtask man`: the manual pages in `man/`.
//!
//! `checkpoint.2` and `restart.2` are written by hand, in the man-pages
//! project's style. `ckpt.1` and one `ckpt-COMMAND.1` a subcommand are
//! rendered from `ckpt`'s clap definitions ([`ckpt::cli::command`]), so
//! they say what `ckpt --help` says. `cargo xtask man` writes those, checks
//! every page with `mandoc -Tlint` and renders each to
//! `target/man/PAGE.txt`; `--check` (which `cargo xtask test` runs) fails
//! instead of writing when a generated page is out of date.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use xshell::cmd;

use crate::{file_name, Ctx};

#[derive(clap::Args)]
pub struct ManArgs {
    /// Do not write the pages rendered from the clap definitions: fail if
    /// `man/` differs from them (then run `cargo xtask man`).
    #[arg(long)]
    pub check: bool,
}

/// The section-1 pages of `ckpt`: `ckpt.1` and a page per subcommand, as
/// (file name, roff text).
fn ckpt_pages() -> Result<Vec<(String, Vec<u8>)>> {
    // `ckpt help` is clap's: it has no page of its own.
    let cmd = ckpt::cli::command().disable_help_subcommand(true);
    let mut pages = vec![("ckpt.1".to_string(), render(cmd.clone(), None)?)];
    for sub in cmd.get_subcommands() {
        let name = format!("ckpt-{}", sub.get_name());
        // `ckpt-checkpoint(1)` is about `ckpt checkpoint`: its usage line
        // names the command as it is typed.
        let sub = sub
            .clone()
            .name(name.clone())
            .bin_name(format!("ckpt {}", sub.get_name()))
            .version(cmd.get_version().unwrap_or_default().to_string());
        pages.push((format!("{name}.1"), render(sub, Some(&cmd))?));
    }
    Ok(pages)
}

fn render(cmd: clap::Command, parent: Option<&clap::Command>) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let man = clap_mangen::Man::new(cmd.clone())
        .manual("kernel-ckpt")
        .source(format!("kernel-ckpt {}", env!("CARGO_PKG_VERSION")));
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(&mut out)?;
    }
    if cmd.has_subcommands() {
        man.render_subcommands_section(&mut out)?;
    }
    man.render_version_section(&mut out)?;
    if parent.is_none() {
        out.extend_from_slice(SYSCALLS.as_bytes());
    }
    // SEE ALSO: the system calls, and the other pages of the tool.
    let top = parent.unwrap_or(&cmd);
    let mut see = vec![
        r"\fBcheckpoint\fR(2)".to_string(),
        r"\fBrestart\fR(2)".into(),
    ];
    if parent.is_some() {
        see.push(r"\fBckpt\fR(1)".into());
    }
    see.extend(
        top.get_subcommands()
            .map(|s| format!(r"\fBckpt\-{}\fR(1)", s.get_name()))
            .filter(|s| !s.contains(&format!(r"ckpt\-{}\f", short_name(&cmd)))),
    );
    out.extend_from_slice(format!(".SH \"SEE ALSO\"\n{}\n", see.join(",\n")).as_bytes());
    let roff = String::from_utf8(out).context("clap_mangen wrote a page that is not UTF-8")?;
    Ok(tidy(&roff).into_bytes())
}

/// What `ckpt(1)` says of the system calls under it.
const SYSCALLS: &str = r#".SH NOTES
ckpt needs a kernel with the kernel\-ckpt system calls
\fBcheckpoint\fR(2) and \fBrestart\fR(2); without them it says so and
exits with status 1 (125 for \fBckpt restart\fR).
A tree is frozen with the cgroup v2 freezer, so
\fI/sys/fs/cgroup\fR must be a cgroup2 mount where ckpt may create
\fIckpt/\fR.
"#;

/// The longest input line mandoc accepts without a style message.
const WIDTH: usize = 80;

/// Makes clap_mangen's roff what `mandoc -Tlint` accepts: one `Aq` string
/// definition, an upper-case title, no trailing blanks, a paragraph break
/// (`.sp`) for its `.br`, blank line, `.br`, text lines of at most 80
/// bytes, and `` `code` `` from the help texts in bold.
fn tidy(roff: &str) -> String {
    let mut lines: Vec<String> = Vec::new();
    for line in roff.lines() {
        let line = line.trim_end();
        // clap_mangen defines the `Aq` string before every section.
        if line.starts_with(".ie \\n(.g .ds Aq") || line.starts_with(".el .ds Aq") {
            if !lines.iter().any(|l| l == line) {
                lines.push(line.to_string());
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix(".TH ") {
            lines.push(title(rest));
            continue;
        }
        if line.is_empty() && lines.last().is_some_and(|l| l == ".br") {
            lines.pop();
            lines.push(".sp".into());
            continue;
        }
        if line == ".br" && lines.last().is_some_and(|l| l == ".sp") {
            continue;
        }
        if line.starts_with('.') || line.starts_with('\'') {
            lines.push(line.to_string());
            continue;
        }
        wrap(&code_in_bold(line), &mut lines);
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

/// `.TH name section ...` as `.TH NAME section "" SOURCE MANUAL`: the date
/// is left for [`with_date`] so that a page does not change with the day.
fn title(rest: &str) -> String {
    let mut words = rest.split_whitespace();
    let name = words.next().unwrap_or_default().to_uppercase();
    let section = words.next().unwrap_or("1");
    format!(
        ".TH {name} {section} DATE \"kernel-ckpt {}\" \"kernel-ckpt\"",
        env!("CARGO_PKG_VERSION")
    )
}

/// `` `x` `` as `\fBx\fR`, where the backquotes pair up on the line.
fn code_in_bold(line: &str) -> String {
    if !line.matches('`').count().is_multiple_of(2) {
        return line.to_string();
    }
    let mut out = String::with_capacity(line.len() + 16);
    for (i, part) in line.split('`').enumerate() {
        if i % 2 == 1 {
            out.push_str("\\fB");
            out.push_str(part);
            out.push_str("\\fR");
        } else {
            out.push_str(part);
        }
    }
    out
}

/// A filled text line broken at blanks into lines of at most [`WIDTH`]
/// bytes (a word longer than that stays whole); a line that would start
/// with a control character is escaped with `\&`.
fn wrap(line: &str, out: &mut Vec<String>) {
    let mut cur = String::new();
    for word in line.split(' ').filter(|w| !w.is_empty()) {
        if !cur.is_empty() && cur.len() + 1 + word.len() > WIDTH {
            out.push(std::mem::take(&mut cur));
        }
        if cur.is_empty() {
            if word.starts_with('.') || word.starts_with('\'') {
                cur.push_str("\\&");
            }
        } else {
            cur.push(' ');
        }
        cur.push_str(word);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
}

/// The page with today's date (`YYYY-MM-DD`) in its title line.
fn with_date(page: &[u8], date: &str) -> Vec<u8> {
    String::from_utf8_lossy(page)
        .replacen(" DATE \"", &format!(" {date} \""), 1)
        .into_bytes()
}

/// A page without its title line, which holds the date it was written.
fn undated(page: &[u8]) -> String {
    String::from_utf8_lossy(page)
        .lines()
        .filter(|l| !l.starts_with(".TH "))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The subcommand a page is about (`checkpoint` for `ckpt-checkpoint`).
fn short_name(cmd: &clap::Command) -> &str {
    cmd.get_name().strip_prefix("ckpt-").unwrap_or("")
}

pub fn man(ctx: &Ctx, args: &ManArgs) -> Result<()> {
    let dir = ctx.repo.join("man");
    let mut stale = Vec::new();
    let date = today(ctx)?;
    for (name, text) in ckpt_pages()? {
        let path = dir.join(&name);
        if fs::read(&path).is_ok_and(|old| undated(&old) == undated(&text)) {
            continue;
        }
        if args.check {
            stale.push(name);
        } else {
            fs::write(&path, with_date(&text, &date))
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("man: wrote man/{name}");
        }
    }
    if !stale.is_empty() {
        bail!(
            "man/{} differ from ckpt's command line: run `cargo xtask man` and commit them",
            stale.join(", man/")
        );
    }
    let pages = pages(&dir)?;
    lint(ctx, &pages)?;
    let out = ctx.target.join("man");
    fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let sh = &ctx.sh;
    for page in &pages {
        let text = cmd!(sh, "mandoc -T utf8 -O width=80 {page}")
            .quiet()
            .read()
            .with_context(|| format!("mandoc cannot render {}", page.display()))?;
        let file = out.join(format!("{}.txt", file_name(page)));
        fs::write(&file, plain(&text))
            .with_context(|| format!("cannot write {}", file.display()))?;
    }
    let compiled = if ctx
        .kernel_src()
        .join("include/uapi/linux/checkpoint.h")
        .is_file()
    {
        let n = build_examples(ctx, &out.join("examples"), false)?.len();
        format!(", {n} example programs compile")
    } else {
        ", examples not compiled: no patched kernel tree yet (`cargo xtask kernel`)".into()
    };
    eprintln!(
        "man: {} pages lint-clean (mandoc -Tlint), rendered in {}{compiled}",
        pages.len(),
        crate::rel(ctx, &out)
    );
    Ok(())
}

/// The example programs of the pages in `dir`: (file name, C source),
/// from between `.\" SRC BEGIN (NAME)` and `.\" SRC END`, as the
/// man-pages project marks them, with the roff escapes undone.
pub fn examples(dir: &Path) -> Result<Vec<(String, String)>> {
    let mut found = Vec::new();
    for page in pages(dir)? {
        let text =
            fs::read_to_string(&page).with_context(|| format!("cannot read {}", page.display()))?;
        let mut current: Option<(String, String)> = None;
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix(".\\\" SRC BEGIN (") {
                let name = rest.trim_end_matches(')').to_string();
                current = Some((name, String::new()));
            } else if line == ".\\\" SRC END" {
                match current.take() {
                    Some(example) => found.push(example),
                    None => bail!("{}: SRC END without SRC BEGIN", page.display()),
                }
            } else if let Some((_, src)) = current.as_mut() {
                if line == ".EX" || line == ".EE" {
                    continue;
                }
                src.push_str(&unroff(line));
                src.push('\n');
            }
        }
        if let Some((name, _)) = current {
            bail!("{}: {name} has no SRC END", page.display());
        }
    }
    Ok(found)
}

/// A line of an `.EX` block as the reader sees it.
fn unroff(line: &str) -> String {
    line.replace("\\&", "")
        .replace("\\-", "-")
        .replace("\\(aq", "'")
        .replace("\\e", "\\")
}

/// Compiles the example programs of `man/` with gcc (`-Wall -Wextra
/// -Werror`) against the series' `linux/checkpoint.h` from the kernel
/// tree, into `out`; `static_link` for the guest. Returns the programs.
pub fn build_examples(ctx: &Ctx, out: &Path, static_link: bool) -> Result<Vec<PathBuf>> {
    let header = ctx.kernel_src().join("include/uapi/linux/checkpoint.h");
    if !header.is_file() {
        bail!(
            "{} is missing: the examples compile against the patched kernel tree \
             (run `cargo xtask kernel`)",
            header.display()
        );
    }
    let include = out.join("include");
    fs::create_dir_all(include.join("linux"))
        .with_context(|| format!("cannot create {}", include.display()))?;
    fs::copy(&header, include.join("linux/checkpoint.h"))
        .with_context(|| format!("cannot copy {}", header.display()))?;
    let sh = &ctx.sh;
    let link: &[&str] = if static_link { &["-static"] } else { &[] };
    let mut programs = Vec::new();
    for (name, src) in examples(&ctx.repo.join("man"))? {
        let c = out.join(&name);
        fs::write(&c, src).with_context(|| format!("cannot write {}", c.display()))?;
        let bin = out.join(name.trim_end_matches(".c"));
        cmd!(
            sh,
            "gcc -O2 -Wall -Wextra -Werror {link...} -I {include} -o {bin} {c}"
        )
        .quiet()
        .run()
        .with_context(|| {
            format!(
                "the example {name} in man/ does not compile (gcc, above): \
                 gcc and libc6-dev are installed by `cargo xtask setup`"
            )
        })?;
        programs.push(bin);
    }
    Ok(programs)
}

fn today(ctx: &Ctx) -> Result<String> {
    let sh = &ctx.sh;
    cmd!(sh, "date -u +%F")
        .quiet()
        .read()
        .context("cannot run date")
}

/// The pages in `dir`: files named `NAME.SECTION`.
pub fn pages(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut pages: Vec<PathBuf> = fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| e.len() == 1 && e.as_bytes()[0].is_ascii_digit())
        })
        .collect();
    pages.sort();
    Ok(pages)
}

/// `mandoc -Tlint` on every page: any message (style included) fails.
fn lint(ctx: &Ctx, pages: &[PathBuf]) -> Result<()> {
    let sh = &ctx.sh;
    let found = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|d| d.join("mandoc").is_file()));
    if !found {
        bail!("mandoc is not installed: run `cargo xtask setup` (Debian package mandoc)");
    }
    let out = cmd!(sh, "mandoc -T lint -W style {pages...}")
        .quiet()
        .ignore_status()
        .output()
        .context("cannot run mandoc")?;
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() || !report.trim().is_empty() {
        bail!(
            "mandoc -Tlint found problems in man/:\n{}",
            report.trim_end()
        );
    }
    Ok(())
}

/// Rendered text without the backspace overstrike of bold and underline.
fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c == '\u{8}' {
            out.pop();
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_per_subcommand() {
        let pages = ckpt_pages().expect("pages render");
        let names: Vec<&str> = pages.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names[0], "ckpt.1");
        for sub in ["run", "checkpoint", "inspect", "restart", "completions"] {
            assert!(
                names.contains(&format!("ckpt-{sub}.1").as_str()),
                "{names:?}"
            );
        }
        let (_, checkpoint) = pages
            .iter()
            .find(|(n, _)| n == "ckpt-checkpoint.1")
            .expect("ckpt-checkpoint.1");
        let text = String::from_utf8_lossy(checkpoint);
        assert!(text.contains(r"\-\-no\-cow"), "{text}");
        assert!(text.contains(r"\fBckpt\fR(1)"), "{text}");
        assert!(!text.contains(r"\fBckpt\-checkpoint\fR(1)"), "{text}");
    }

    #[test]
    fn tidy_makes_lint_clean_roff() {
        let long = "word ".repeat(30);
        let roff = format!(
            ".ie \\n(.g .ds Aq \\(aq\n.el .ds Aq '\n.TH ckpt-x 1  \"kernel-ckpt 0.1.0\" kernel-ckpt\n\
             .ie \\n(.g .ds Aq \\(aq\n.el .ds Aq '\nSee `ckpt run` here. \n\
             .br\n\n.br\n{long}.end\n"
        );
        let t = tidy(&roff);
        assert_eq!(t.matches(".ds Aq").count(), 2, "{t}");
        assert!(t.contains(".TH CKPT-X 1 DATE "), "{t}");
        assert!(t.contains("See \\fBckpt run\\fR here.\n.sp\nword"), "{t}");
        assert!(
            t.lines().all(|l| l.len() <= WIDTH && l == l.trim_end()),
            "{t}"
        );
        assert!(t.contains("\n\\&.end\n") || t.contains(" .end\n"), "{t}");
        let dated = with_date(t.as_bytes(), "2026-12-06");
        assert!(String::from_utf8_lossy(&dated).contains(".TH CKPT-X 1 2026-12-06 "));
        assert_eq!(undated(&dated), undated(t.as_bytes()));
    }

    #[test]
    fn examples_are_found_and_unescaped() {
        let dir = std::env::temp_dir().join(format!("xtask-man-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        fs::write(
            dir.join("x.2"),
            ".SH EXAMPLES\n.\\\" SRC BEGIN (x.c)\n.EX\nint\n\\&\n\
             x = \\-1; printf(\"\\en\");\n.EE\n.\\\" SRC END\n",
        )
        .unwrap();
        let found = examples(&dir).unwrap();
        fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            found,
            [(
                "x.c".to_string(),
                "int\n\nx = -1; printf(\"\\n\");\n".to_string()
            )]
        );
    }

    #[test]
    fn the_pages_have_their_examples() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../man");
        let names: Vec<String> = examples(&dir)
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(names, ["checkpoint_tree.c", "restart_one.c"]);
    }

    #[test]
    fn overstrike_is_removed() {
        assert_eq!(plain("N\u{8}NA\u{8}AME _\u{8}x"), "NAME x");
    }
}
