//! The ground truth: a process tree as /proc shows it.

use anyhow::{bail, Context, Result};
use std::collections::VecDeque;
use std::fs;
use testsuite::RawRow;

/// Fields of /proc/TGID/task/TID/stat that the image carries.
struct Stat {
    comm: String,
    state: char,
    ppid: i32,
    pgid: i32,
    sid: i32,
    exit_code: i32,
}

fn parse_stat(text: &str) -> Result<Stat> {
    // "pid (comm) state ppid pgrp session ...": comm may hold spaces and
    // parentheses, so split at the first '(' and the last ')'.
    let open = text.find('(').context("no '(' in stat")?;
    let close = text.rfind(')').context("no ')' in stat")?;
    let comm = text.get(open + 1..close).context("bad comm")?.to_string();
    let rest: Vec<&str> = text
        .get(close + 1..)
        .unwrap_or("")
        .split_whitespace()
        .collect();
    // rest[0] is field 3 (state); field N is rest[N - 3]; exit_code is field 52.
    let field = |n: usize| -> Result<&str> {
        rest.get(n - 3)
            .copied()
            .with_context(|| format!("stat has no field {n}"))
    };
    Ok(Stat {
        comm,
        state: field(3)?.chars().next().unwrap_or('?'),
        ppid: field(4)?.parse()?,
        pgid: field(5)?.parse()?,
        sid: field(6)?.parse()?,
        exit_code: field(52)?.parse()?,
    })
}

fn read(path: &str) -> Result<String> {
    fs::read_to_string(path).with_context(|| format!("reading {path}"))
}

/// Every task of the tree rooted at process `root`: threads included, in
/// breadth-first order, as /proc shows it now.
pub fn read_tree(root: i32) -> Result<Vec<RawRow>> {
    let mut rows = Vec::new();
    let mut queue = VecDeque::from([root]);
    while let Some(tgid) = queue.pop_front() {
        let mut tids: Vec<i32> = fs::read_dir(format!("/proc/{tgid}/task"))
            .with_context(|| format!("listing threads of {tgid}"))?
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect();
        tids.sort_unstable();
        if tids.is_empty() {
            bail!("process {tgid} has no threads in /proc");
        }
        for tid in tids {
            let st = parse_stat(&read(&format!("/proc/{tgid}/task/{tid}/stat"))?)?;
            let zombie = st.state == 'Z';
            rows.push(RawRow {
                pid: tid,
                tgid,
                ppid: st.ppid,
                sid: st.sid,
                pgid: st.pgid,
                thread: tid != tgid,
                zombie,
                exit_code: if zombie { st.exit_code } else { 0 },
                comm: st.comm,
            });
            let children = read(&format!("/proc/{tgid}/task/{tid}/children"))?;
            for c in children.split_whitespace() {
                queue.push_back(c.parse().with_context(|| format!("child pid {c:?}"))?);
            }
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_odd_comm() {
        let mut s = String::from("42 (a (b) c) S 1 42 42 0 -1");
        for i in 9..=52 {
            s.push_str(&format!(" {}", if i == 52 { 1792 } else { 0 }));
        }
        let st = parse_stat(&s).unwrap();
        assert_eq!(st.comm, "a (b) c");
        assert_eq!(
            (st.state, st.ppid, st.pgid, st.sid, st.exit_code),
            ('S', 1, 42, 42, 1792)
        );
    }
}
