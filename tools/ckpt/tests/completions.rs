// SPDX-License-Identifier: GPL-2.0
//! `ckpt completions`: the scripts work in the shells that load them.

use std::process::Command;

/// What bash's completion offers for the words typed so far, with
/// `ckpt completions bash` loaded as `source <(...)` would load it, and
/// its function called as bash's programmable completion calls it.
fn bash_completes(words: &[&str]) -> Vec<String> {
    let script = Command::new(env!("CARGO_BIN_EXE_ckpt"))
        .args(["completions", "bash"])
        .output()
        .expect("ckpt runs");
    assert!(script.status.success(), "{script:?}");
    let words = words.join(" ");
    let program = format!(
        "{}\nCOMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); \
         COMP_LINE=\"{words}\"; COMP_POINT=${{#COMP_LINE}}; \
         _ckpt ckpt \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; \
         printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        String::from_utf8(script.stdout).expect("UTF-8 script")
    );
    let out = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &program])
        .output()
        .expect("bash runs");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout)
        .expect("UTF-8")
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn bash_completes_subcommands_and_options() {
    assert_eq!(bash_completes(&["ckpt", "che"]), ["checkpoint"]);
    assert_eq!(
        bash_completes(&["ckpt", "restart", "--de"]),
        ["--detach", "--deleted-in"]
    );
    let shells = bash_completes(&["ckpt", "completions", "''"]);
    assert!(shells.contains(&"zsh".to_string()), "{shells:?}");
}
