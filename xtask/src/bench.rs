//! `cargo xtask bench`: boot the benchmark kernel (the test kernel without
//! lockdep, see [`Flavor::Bench`](crate::kernel::Flavor::Bench)) in
//! benchmark mode (`kckpt.mode=bench`, see testsuite/src/bench.rs) and
//! save its report: kernel-ckpt beside
//! CRIU, and the memory rows beside one copy of their bytes, each time the
//! median of several runs measured side by side in one boot.
//!
//! target/bench/ gets bench.json (every run's times), bench.md (the
//! tables the README shows), bench.svg (time against memory size) and the
//! guest's console log.

use std::fs;
use std::path::Path;

use anyhow::{bail, Context, Result};
use plotters::prelude::*;
use serde_json::Value;

use crate::kernel::KernelArgs;
use crate::run;
use crate::{rel, Ctx};

/// The guest's memory for the bench: a 1 GiB process, its 1 GiB image on
/// tmpfs (half the memory at most) and the copy baseline's three copies.
const BENCH_MEMORY_MIB: u32 = 6144;

/// The lines before the JSON and the markdown on the guest's ttyS1
/// (testsuite/src/bench.rs).
const JSON_MARKER: &str = "=== kckpt-bench bench.json";
const MD_MARKER: &str = "=== kckpt-bench bench.md";

#[derive(clap::Args)]
pub struct BenchArgs {
    #[command(flatten)]
    pub kernel: KernelArgs,
    /// Runs of each measurement (the tables show their median, min, max).
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub runs: u32,
    /// Only the rows whose label or workload contains TEXT (e.g. `tree`,
    /// `heap_1024m`).
    #[arg(long, value_name = "TEXT")]
    pub filter: Option<String>,
    /// Kill the guest after this many seconds.
    #[arg(long, default_value_t = 3600, value_name = "SECONDS")]
    pub timeout: u64,
    /// Boot nothing: draw target/bench/bench.svg again from the last
    /// run's target/bench/bench.json.
    #[arg(long, conflicts_with_all = ["runs", "filter"])]
    pub replot: bool,
}

pub fn bench(ctx: &Ctx, args: &BenchArgs) -> Result<()> {
    // The benchmark kernel unless the debug one is asked for: figures of a
    // kernel with lockdep would be lockdep's.
    let mut kernel = args.kernel.clone();
    kernel.bench_kernel = !kernel.debug_kernel;
    if args.replot {
        let dir = ctx.target.join(kernel.flavor().dir_name("bench"));
        let json = dir.join("bench.json");
        let text = fs::read_to_string(&json).with_context(|| {
            format!(
                "no report to plot: {} (run `cargo xtask bench` first)",
                rel(ctx, &json)
            )
        })?;
        let svg = dir.join("bench.svg");
        plot(&serde_json::from_str(&text)?, &svg)?;
        eprintln!("bench: wrote {}", rel(ctx, &svg));
        return Ok(());
    }
    if args.runs == 0 {
        bail!("--runs must be at least 1");
    }
    let mut extra = vec![format!("kckpt.bench_runs={}", args.runs)];
    if let Some(filter) = &args.filter {
        if filter.is_empty() || filter.contains(char::is_whitespace) {
            bail!("--filter takes one word (a row's label or workload contains it)");
        }
        extra.push(format!("kckpt.filter={filter}"));
    }
    let serial1 = run::boot_mode(
        ctx,
        &kernel,
        args.timeout,
        "bench",
        &extra,
        BENCH_MEMORY_MIB,
    )?;
    let text = fs::read_to_string(&serial1)
        .with_context(|| format!("reading {}", serial1.display()))?
        .replace('\r', "");
    let (json, md) = split_report(&text).with_context(|| {
        format!(
            "the guest wrote no report to ttyS1 ({}): the console above says why",
            rel(ctx, &serial1)
        )
    })?;
    let report: Value = serde_json::from_str(json).context("the guest's report")?;
    let dir = serial1
        .parent()
        .context("ttyS1's log is in no directory")?
        .to_path_buf();
    fs::write(
        dir.join("bench.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    fs::write(dir.join("bench.md"), md)?;
    let svg = dir.join("bench.svg");
    plot(&report, &svg)?;
    eprintln!(
        "bench: wrote {}, {} and {}",
        rel(ctx, &dir.join("bench.json")),
        rel(ctx, &dir.join("bench.md")),
        rel(ctx, &svg)
    );
    Ok(())
}

/// The JSON line and the markdown after their markers.
fn split_report(text: &str) -> Option<(&str, &str)> {
    let (_, rest) = text.split_once(&format!("{JSON_MARKER}\n"))?;
    let (json, md) = rest.split_once(&format!("{MD_MARKER}\n"))?;
    Some((json.trim(), md))
}

/// The median of `times` (`{"runs": [...]}`, sorted), if it has runs.
fn median(times: &Value) -> Option<f64> {
    let runs = times.get("runs")?.as_array()?;
    runs.get(runs.len() / 2)?.as_f64()
}

/// One line of the plot: (MiB, seconds) points of the single-process
/// memory rows.
fn series(report: &Value, pick: impl Fn(&Value) -> Option<&Value>) -> Vec<(f64, f64)> {
    let rows = report.get("rows").and_then(Value::as_array);
    rows.into_iter()
        .flatten()
        .filter(|r| r.get("processes").and_then(Value::as_u64) == Some(1))
        .filter_map(|r| {
            let mib = r.get("memory_mib")?.as_f64()?;
            Some((mib, median(pick(r)?)?))
        })
        .filter(|&(_, s)| s > 0.0)
        .collect()
}

/// Time against memory size, both on log scales: kernel-ckpt's and
/// CRIU's checkpoint, restart and downtime, and one copy of the bytes.
fn plot(report: &Value, path: &Path) -> Result<()> {
    // Label, colour, dashed, and where each memory row holds the times.
    let table: [(&str, RGBColor, bool, &str); 8] = [
        (
            "kernel-ckpt checkpoint",
            BLUE,
            false,
            "/kernel_ckpt/checkpoint",
        ),
        (
            "kernel-ckpt restart",
            RGBColor(0, 150, 0),
            false,
            "/kernel_ckpt/restart",
        ),
        (
            "kernel-ckpt downtime",
            RGBColor(0, 170, 200),
            true,
            "/kernel_ckpt/downtime",
        ),
        ("CRIU dump", RED, false, "/criu/checkpoint"),
        (
            "CRIU restore",
            RGBColor(230, 120, 0),
            false,
            "/criu/restart",
        ),
        (
            "CRIU downtime",
            RGBColor(150, 0, 150),
            true,
            "/criu/downtime",
        ),
        ("one copy: write to tmpfs", BLACK, true, "/copy/write"),
        (
            "one copy: read into fresh memory",
            RGBColor(120, 120, 120),
            true,
            "/copy/read",
        ),
    ];
    let lines = table.map(|(label, color, dashed, at)| {
        (label, color, dashed, series(report, |r| r.pointer(at)))
    });
    let points: Vec<(f64, f64)> = lines.iter().flat_map(|l| l.3.iter().copied()).collect();
    if points.is_empty() {
        // A filtered run without a memory row: nothing to draw.
        let _ = fs::remove_file(path);
        return Ok(());
    }
    let fold = |f: fn(f64, f64) -> f64, init: f64, pick: fn(&(f64, f64)) -> f64| {
        points.iter().map(pick).fold(init, f)
    };
    let (x0, x1) = (
        fold(f64::min, f64::MAX, |p| p.0),
        fold(f64::max, 0.0, |p| p.0),
    );
    let (y0, y1) = (
        fold(f64::min, f64::MAX, |p| p.1),
        fold(f64::max, 0.0, |p| p.1),
    );
    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(draw)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "kernel-ckpt, CRIU and one copy: one process with dirty anonymous memory",
            ("sans-serif", 20),
        )
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(64)
        .build_cartesian_2d(
            (x0 / 1.3..x1 * 1.3)
                .log_scale()
                .with_key_points(lines.iter().flat_map(|l| l.3.iter().map(|p| p.0)).collect()),
            (y0 / 1.5..y1 * 1.5).log_scale(),
        )
        .map_err(draw)?;
    chart
        .configure_mesh()
        .bold_line_style(BLACK.mix(0.2))
        .light_line_style(BLACK.mix(0.05))
        .x_desc("memory (MiB)")
        .y_desc("seconds (median)")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y}"))
        .draw()
        .map_err(draw)?;
    for (label, color, dashed, pts) in lines {
        if pts.is_empty() {
            continue;
        }
        let style = color.stroke_width(2);
        let drawn = if dashed {
            chart.draw_series(DashedLineSeries::new(pts.clone(), 6, 4, style))
        } else {
            chart.draw_series(LineSeries::new(pts.clone(), style))
        }
        .map_err(draw)?;
        drawn.label(label).legend(move |(x, y)| {
            PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
        });
        chart
            .draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled())))
            .map_err(draw)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(draw)?;
    root.present().map_err(draw)?;
    Ok(())
}

fn draw(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("drawing the plot: {e}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_is_split_at_its_markers() {
        let text = format!("noise\n{JSON_MARKER}\n{{\"runs\":1}}\n{MD_MARKER}\n| a |\n| b |\n");
        let (json, md) = split_report(&text).unwrap();
        assert_eq!(json, "{\"runs\":1}");
        assert_eq!(md, "| a |\n| b |\n");
        assert!(split_report("no report").is_none());
    }

    #[test]
    fn plot_draws_memory_rows_only() {
        let report: Value = serde_json::json!({"rows": [
            {"processes": 1, "memory_mib": 16,
             "kernel_ckpt": {"checkpoint": {"runs": [0.1, 0.2, 0.3]}, "restart": {"runs": [0.2]}},
             "copy": {"write": {"runs": [0.05]}}},
            {"processes": 1, "memory_mib": 64,
             "kernel_ckpt": {"checkpoint": {"runs": [0.5]}, "restart": {"runs": [0.7]}}},
            {"processes": 10, "memory_mib": 64,
             "kernel_ckpt": {"checkpoint": {"runs": [9.0]}}},
            {"processes": 100, "kernel_ckpt": {"checkpoint": {"runs": [1.0]}}}
        ]});
        assert_eq!(
            series(&report, |r| r.pointer("/kernel_ckpt/checkpoint")),
            vec![(16.0, 0.2), (64.0, 0.5)]
        );
        let dir = std::env::temp_dir().join(format!("kckpt-plot-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let svg = dir.join("bench.svg");
        plot(&report, &svg).unwrap();
        let text = fs::read_to_string(&svg).unwrap();
        assert!(text.starts_with("<svg"), "{}", &text[..80]);
        assert!(text.contains("kernel-ckpt checkpoint"));
        assert!(text.contains("memory (MiB)"));
        fs::remove_dir_all(&dir).unwrap();
    }
}
