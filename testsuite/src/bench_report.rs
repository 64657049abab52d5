//! The benchmark's report: what `ckpt-scenarios bench` measured in the
//! guest, as JSON (the data) and as markdown tables (what the README
//! shows). `cargo xtask bench` writes both to `target/bench/` and draws
//! the memory rows as a plot.

use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// Wall times of one measurement, in seconds, one per run, sorted.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Times {
    pub runs: Vec<f64>,
}

impl Times {
    pub fn new(mut runs: Vec<f64>) -> Self {
        runs.sort_by(f64::total_cmp);
        Self { runs }
    }

    /// The median run (the upper one of an even count); 0 without runs.
    pub fn median(&self) -> f64 {
        self.runs.get(self.runs.len() / 2).copied().unwrap_or(0.0)
    }

    /// `0.512 s (0.498–0.530)`: median, fastest and slowest.
    pub fn cell(&self) -> String {
        let (lo, hi) = (
            self.runs.first().copied().unwrap_or(0.0),
            self.runs.last().copied().unwrap_or(0.0),
        );
        if self.runs.len() < 2 {
            return format!("{} s", secs(self.median()));
        }
        format!("{} s ({}–{})", secs(self.median()), secs(lo), secs(hi))
    }
}

/// Seconds with three significant digits (at least one decimal).
pub fn secs(s: f64) -> String {
    if s >= 100.0 {
        format!("{s:.0}")
    } else if s >= 10.0 {
        format!("{s:.1}")
    } else if s >= 1.0 {
        format!("{s:.2}")
    } else if s >= 0.01 {
        format!("{s:.3}")
    } else {
        format!("{s:.4}")
    }
}

/// One tool on one workload.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    /// Size of the image (all of CRIU's image files together), MiB.
    pub image_mib: f64,
    /// The checkpoint command, start to exit.
    pub checkpoint: Times,
    /// How long the tree was stopped: from the freeze request until it
    /// was thawed (kernel-ckpt: `ckpt checkpoint --stats`; CRIU: its
    /// freezing and frozen times in `stats-dump`).
    pub downtime: Times,
    /// The restart command until every task is restored.
    pub restart: Times,
    /// The tree's memory before and after, for the rows whose processes
    /// share memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<TreeMemory>,
}

/// The memory of a tree: its processes' summed Pss (each page shared by k
/// of them counts 1/k to each), medians of the runs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TreeMemory {
    /// Before the checkpoint, MiB.
    pub before_mib: f64,
    /// Right after the restart, MiB.
    pub after_mib: f64,
}

/// One copy of the row's bytes, by a program that has them in memory.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Copy {
    /// write(2) of the bytes into a new tmpfs file.
    pub write: Times,
    /// read(2) of that file into fresh anonymous memory.
    pub read: Times,
    /// The bytes through a pipe into fresh anonymous memory in another
    /// process.
    pub pipe: Times,
    /// fork(2) of the process that has them, until it returns in the
    /// parent: its page tables copied and its pages marked copy-on-write,
    /// what a copy-on-write checkpoint does while the tree is frozen.
    #[serde(default)]
    pub fork: Times,
}

/// One workload.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub label: String,
    /// The workload's kind (`ckpt-scenarios workload KIND`).
    pub workload: String,
    pub processes: usize,
    /// Dirty memory of the workload for memory rows, MiB.
    pub memory_mib: Option<u64>,
    pub kernel_ckpt: Measured,
    /// None when CRIU failed; `criu_error` says why.
    pub criu: Option<Measured>,
    pub criu_error: Option<String>,
    /// One copy of `memory_mib`, for memory rows.
    pub copy: Option<Copy>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub runs: u32,
    /// `uname -r` of the guest.
    pub kernel: String,
    pub criu_version: String,
    pub rows: Vec<Row>,
    /// The whole bench in the guest, seconds.
    pub total_s: f64,
}

/// `b / a` as `1.23×`, or `-` if either is missing or zero.
fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if a > 0.0 && b > 0.0 => format!("{:.2}×", b / a),
        _ => "-".to_owned(),
    }
}

impl Report {
    /// The tables, in markdown: every workload with both tools, then the
    /// memory rows against one copy of their bytes.
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "Median (fastest–slowest) of {} runs; Linux {}, CRIU {}; whole bench {:.0} s.",
            self.runs, self.kernel, self.criu_version, self.total_s
        );
        s.push('\n');
        s.push_str(
            "| workload | image | checkpoint | downtime | restart | CRIU images | criu dump | CRIU downtime | criu restore | dump: CRIU / kernel-ckpt | restore: CRIU / kernel-ckpt |\n",
        );
        s.push_str("|---|---|---|---|---|---|---|---|---|---|---|\n");
        for r in &self.rows {
            let k = &r.kernel_ckpt;
            let _ = write!(
                s,
                "| {} | {:.1} MiB | {} | {} | {} |",
                r.label,
                k.image_mib,
                k.checkpoint.cell(),
                k.downtime.cell(),
                k.restart.cell()
            );
            match &r.criu {
                Some(c) => {
                    let _ = writeln!(
                        s,
                        " {:.1} MiB | {} | {} | {} | {} | {} |",
                        c.image_mib,
                        c.checkpoint.cell(),
                        c.downtime.cell(),
                        c.restart.cell(),
                        ratio(Some(k.checkpoint.median()), Some(c.checkpoint.median())),
                        ratio(Some(k.restart.median()), Some(c.restart.median())),
                    );
                }
                None => s.push_str(" - | failed | - | failed | - | - |\n"),
            }
        }
        let memory: Vec<&Row> = self.rows.iter().filter(|r| r.copy.is_some()).collect();
        if !memory.is_empty() {
            s.push('\n');
            s.push_str(
                "| memory | one copy: write to a tmpfs file | read back into fresh memory | through a pipe | fork of the process | checkpoint / write | restart / read | downtime / fork | criu dump / write | criu restore / read |\n",
            );
            s.push_str("|---|---|---|---|---|---|---|---|---|---|\n");
            for r in memory {
                let Some(c) = &r.copy else { continue };
                let k = &r.kernel_ckpt;
                let criu = |f: fn(&Measured) -> &Times| r.criu.as_ref().map(|m| f(m).median());
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                    r.label,
                    c.write.cell(),
                    c.read.cell(),
                    c.pipe.cell(),
                    c.fork.cell(),
                    ratio(Some(c.write.median()), Some(k.checkpoint.median())),
                    ratio(Some(c.read.median()), Some(k.restart.median())),
                    ratio(Some(c.fork.median()), Some(k.downtime.median())),
                    ratio(Some(c.write.median()), criu(|m| &m.checkpoint)),
                    ratio(Some(c.read.median()), criu(|m| &m.restart)),
                );
            }
        }
        let shared: Vec<&Row> = self
            .rows
            .iter()
            .filter(|r| r.kernel_ckpt.memory.is_some())
            .collect();
        if !shared.is_empty() {
            s.push('\n');
            s.push_str(
                "| memory of the tree (Pss) | before | after a kernel-ckpt restart | after a CRIU restore |\n",
            );
            s.push_str("|---|---|---|---|\n");
            let mib = |m: Option<&TreeMemory>, f: fn(&TreeMemory) -> f64| {
                m.map_or_else(|| "-".to_owned(), |m| format!("{:.1} MiB", f(m)))
            };
            for r in shared {
                let k = r.kernel_ckpt.memory.as_ref();
                let c = r.criu.as_ref().and_then(|c| c.memory.as_ref());
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} |",
                    r.label,
                    mib(k, |m| m.before_mib),
                    mib(k, |m| m.after_mib),
                    mib(c, |m| m.after_mib),
                );
            }
        }
        for r in &self.rows {
            if let Some(e) = &r.criu_error {
                let _ = writeln!(s, "\nCRIU failed on {}: {}", r.label, e);
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(v: &[f64]) -> Times {
        Times::new(v.to_vec())
    }

    #[test]
    fn times_sort_and_take_the_median() {
        let x = t(&[0.3, 0.1, 0.2]);
        assert_eq!(x.runs, vec![0.1, 0.2, 0.3]);
        assert_eq!(x.median(), 0.2);
        assert_eq!(x.cell(), "0.200 s (0.100–0.300)");
        assert_eq!(t(&[12.345]).cell(), "12.3 s");
        assert_eq!(Times::default().median(), 0.0);
    }

    #[test]
    fn markdown_has_both_tables_and_ratios() {
        let m = |c: f64, d: f64, r: f64| Measured {
            image_mib: 64.1,
            checkpoint: t(&[c]),
            downtime: t(&[d]),
            restart: t(&[r]),
            memory: None,
        };
        let report = Report {
            runs: 1,
            kernel: "6.12.0".into(),
            criu_version: "3.17.1".into(),
            total_s: 100.0,
            rows: vec![
                Row {
                    label: "1 process, 64 MiB".into(),
                    workload: "heap_64m".into(),
                    processes: 1,
                    memory_mib: Some(64),
                    kernel_ckpt: m(0.5, 0.45, 0.6),
                    criu: Some(m(1.0, 0.9, 1.2)),
                    criu_error: None,
                    copy: Some(Copy {
                        write: t(&[0.4]),
                        read: t(&[0.5]),
                        pipe: t(&[0.3]),
                        fork: t(&[0.01]),
                    }),
                },
                Row {
                    label: "tree of 10 processes".into(),
                    workload: "tree_of_10".into(),
                    processes: 10,
                    kernel_ckpt: m(0.1, 0.09, 0.2),
                    criu_error: Some("criu dump failed".into()),
                    ..Default::default()
                },
            ],
        };
        let md = report.markdown();
        let lines: Vec<&str> = md.lines().collect();
        assert_eq!(
            lines[0],
            "Median (fastest–slowest) of 1 runs; Linux 6.12.0, CRIU 3.17.1; whole bench 100 s."
        );
        assert_eq!(
            lines[4],
            "| 1 process, 64 MiB | 64.1 MiB | 0.500 s | 0.450 s | 0.600 s | 64.1 MiB | 1.00 s | 0.900 s | 1.20 s | 2.00× | 2.00× |"
        );
        assert_eq!(
            lines[5],
            "| tree of 10 processes | 64.1 MiB | 0.100 s | 0.090 s | 0.200 s | - | failed | - | failed | - | - |"
        );
        assert_eq!(
            lines[9],
            "| 1 process, 64 MiB | 0.400 s | 0.500 s | 0.300 s | 0.010 s | 1.25× | 1.20× | 45.00× | 2.50× | 2.40× |"
        );
        assert_eq!(
            lines[11],
            "CRIU failed on tree of 10 processes: criu dump failed"
        );
        let back: Report = serde_json::from_str(&serde_json::to_string(&report).unwrap()).unwrap();
        assert_eq!(back, report);
    }

    #[test]
    fn markdown_has_the_memory_of_trees_that_share() {
        let m = |before: f64, after: f64| Measured {
            image_mib: 256.5,
            checkpoint: t(&[1.0]),
            downtime: t(&[0.9]),
            restart: t(&[2.0]),
            memory: Some(TreeMemory {
                before_mib: before,
                after_mib: after,
            }),
        };
        let report = Report {
            runs: 1,
            rows: vec![Row {
                label: "256 MiB forked to 16 children".into(),
                workload: "cow_256m_x16".into(),
                processes: 17,
                kernel_ckpt: m(257.25, 257.5),
                criu: Some(m(257.25, 4112.0)),
                ..Default::default()
            }],
            ..Default::default()
        };
        let md = report.markdown();
        let lines: Vec<&str> = md.lines().collect();
        assert_eq!(
            lines[6..9],
            [
                "| memory of the tree (Pss) | before | after a kernel-ckpt restart | after a CRIU restore |",
                "|---|---|---|---|",
                "| 256 MiB forked to 16 children | 257.2 MiB | 257.5 MiB | 4112.0 MiB |",
            ]
        );
        // Rows without the measure keep the JSON they had.
        let json = serde_json::to_string(&Measured::default()).unwrap();
        assert!(!json.contains("memory"));
    }
}
