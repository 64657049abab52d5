//! Step 4: `.config` = tinyconfig + the fragments, checked on every run for
//! options the fragments set that did not stick.

use super::*;

pub(crate) fn configure(ctx: &Ctx, flavor: Flavor) -> Result<()> {
    let src = ctx.kernel_src();
    let build = flavor.build_dir(ctx);
    let mut fragments = Vec::new();
    for name in flavor.fragments() {
        let path = ctx.repo.join(name);
        let text =
            fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        fragments.push((*name, path, text));
    }
    // For the normal kernel this is the hash of qemu/kernel.config alone.
    let stamp = sha256_hex(fragments.iter().map(|(_, _, text)| text.as_bytes()));
    let stamp_path = flavor.config_stamp(ctx);
    let config = build.join(".config");
    let names: Vec<&str> = fragments.iter().map(|(name, _, _)| *name).collect();

    if read_stamp(&stamp_path) != stamp || !config.exists() {
        eprintln!("kernel: configuring (tinyconfig + {})", names.join(" + "));
        let _ = fs::remove_file(&stamp_path);
        fs::create_dir_all(&build)?;
        let sh = Shell::new()?;
        sh.change_dir(&src);
        let paths: Vec<&PathBuf> = fragments.iter().map(|(_, path, _)| path).collect();
        tinyconfig_with(ctx, &sh, &src, &build, &paths)?;
        run_captured(
            make_cmd(ctx, &sh, flavor, &["olddefconfig".into()])?,
            "make olddefconfig",
        )?;
    }

    let config_text = fs::read_to_string(&config)?;
    let texts: Vec<(&str, &str)> = fragments
        .iter()
        .map(|(name, _, text)| (*name, text.as_str()))
        .collect();
    let lost = lost_options(&texts, &config_text);
    if !lost.is_empty() {
        let _ = fs::remove_file(&stamp_path);
        let lines: Vec<String> = lost
            .iter()
            .map(|(opt, from)| {
                format!(
                    "option {opt} from {from} did not survive olddefconfig (missing dependency?)"
                )
            })
            .collect();
        bail!(
            "{}\nsee {} and the option's `depends on` in Kconfig",
            lines.join("\n"),
            config.display()
        );
    }
    write_stamp(&stamp_path, &stamp)
}

/// `make tinyconfig` in `build` with the tree `tree` (the directory `sh`
/// runs in), then `fragments` merged into its `.config` as text
/// (`merge_config.sh -m`: not resolved yet).
pub(crate) fn tinyconfig_with(
    ctx: &Ctx,
    sh: &Shell,
    tree: &Path,
    build: &Path,
    fragments: &[&PathBuf],
) -> Result<()> {
    run_captured(
        make_cmd_in(ctx, sh, build, &["tinyconfig".into()])?,
        "make tinyconfig",
    )?;
    let merge = tree.join("scripts/kconfig/merge_config.sh");
    let config = build.join(".config");
    run_captured(
        cmd!(sh, "{merge} -m -O {build} {config} {fragments...}").quiet(),
        "scripts/kconfig/merge_config.sh",
    )
}

/// One option setting of a fragment: `CONFIG_X=value` (Some(line)) or
/// `# CONFIG_X is not set` (None).
pub(crate) fn fragment_settings(fragment: &str) -> Vec<(&str, Option<&str>)> {
    let mut settings = Vec::new();
    for line in fragment.lines().map(str::trim) {
        if let Some((name, _)) = line.split_once('=').filter(|_| line.starts_with("CONFIG_")) {
            settings.push((name, Some(line)));
        } else if let Some(name) = line
            .strip_prefix("# ")
            .and_then(|l| l.strip_suffix(" is not set"))
            .filter(|n| n.starts_with("CONFIG_"))
        {
            settings.push((name, None));
        }
    }
    settings
}

/// The options the fragments (name, text), applied in order, set
/// (`CONFIG_X=value`) that the final .config does not have with that value,
/// and those they unset (`# CONFIG_X is not set`) that are enabled anyway;
/// each with the fragment that set it last (the one merge_config.sh keeps).
pub(crate) fn lost_options<'a>(
    fragments: &[(&'a str, &'a str)],
    config: &str,
) -> Vec<(String, &'a str)> {
    let have: std::collections::HashSet<&str> = config.lines().map(str::trim).collect();
    // Option name -> (its last setting, the fragment it comes from), in the
    // order the options first appear.
    let mut order: Vec<&str> = Vec::new();
    let mut last: std::collections::HashMap<&str, (Option<&str>, &str)> =
        std::collections::HashMap::new();
    for (fragment_name, text) in fragments {
        for (name, setting) in fragment_settings(text) {
            if last.insert(name, (setting, fragment_name)).is_none() {
                order.push(name);
            }
        }
    }
    let mut lost = Vec::new();
    for name in order {
        let (setting, from) = last[name];
        let survived = match setting {
            Some(line) => have.contains(line),
            None => {
                !have.contains(format!("{name}=y").as_str())
                    && !have.contains(format!("{name}=m").as_str())
            }
        };
        if !survived {
            lost.push((name.to_string(), from));
        }
    }
    lost
}
