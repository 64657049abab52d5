//! The copy-on-write checkpoint (`CHECKPOINT_COW`): the tree is thawed
//! once its state is taken and runs on while its memory is written. The
//! image must still be exactly the memory at the freeze: while the
//! process rewrites all of it, when the process is killed meanwhile, and
//! an image cut short (the checkpointer killed) must be refused.

use super::*;
use crate::workload::{LIVE_ADDR, LIVE_LEN};
use ckpt_image::{CHECKPOINT_COW, CHECKPOINT_SUBTREE};
use std::io::{Read, Write};
use std::os::fd::OwnedFd;

/// `AnonPages` of `/proc/meminfo`, in kB: anonymous memory mapped by some
/// page table, a snapshot's included (page cache and tmpfs are not).
fn anon_kb() -> Result<u64> {
    let info = fs::read_to_string("/proc/meminfo").context("reading /proc/meminfo")?;
    info.lines()
        .find_map(|l| l.strip_prefix("AnonPages:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("no AnonPages in /proc/meminfo")
}

/// Waits up to `secs` for `cond`.
fn wait(secs: u64, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while !cond() {
        if start.elapsed() > Duration::from_secs(secs) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    true
}

/// A copy-on-write `checkpoint(2)` of the frozen workload `w` into a
/// pipe, run by hand as `ckpt checkpoint` runs it, so that the scenario
/// decides when the rest of the image is read: returns once the image's
/// first bytes are here and the tree is thawed.
struct Streaming {
    call: std::thread::JoinHandle<Result<(), Errno>>,
    rd: File,
    first: Vec<u8>,
}

impl Streaming {
    fn start(c: &mut Checks, w: &Workload) -> Result<Self> {
        let (rd, wr): (OwnedFd, OwnedFd) = nix::unistd::pipe()?;
        let pid = w.pid;
        let call = std::thread::spawn(move || {
            let r = sys_checkpoint(pid, wr.as_fd(), CHECKPOINT_SUBTREE | CHECKPOINT_COW);
            drop(wr);
            r
        });
        let mut rd = File::from(rd);
        let mut first = vec![0u8; 4096];
        let n = rd.read(&mut first)?;
        first.truncate(n);
        c.eq(
            "the image's first bytes come while the tree is frozen",
            true,
            n > 0 && cgroup::is_frozen(&w.cg)?,
        );
        cgroup::thaw(&w.cg)?;
        Ok(Self { call, rd, first })
    }

    /// Whether checkpoint(2) is still writing.
    fn writing(&self) -> bool {
        !self.call.is_finished()
    }

    /// Reads the rest of the image into `img`; what checkpoint(2) returned.
    fn finish(mut self, img: &str) -> Result<Result<(), Errno>> {
        let mut out = File::create(img)?;
        out.write_all(&self.first)?;
        std::io::copy(&mut self.rd, &mut out)?;
        Ok(self.call.join().unwrap_or(Err(Errno::EIO)))
    }
}

/// `ckpt restart IMG` of a `live_writer` whose go file exists: it checks
/// its memory at once and leaves its verdict, which must say its memory
/// is the memory of the freeze.
fn restart_sees_freeze(c: &mut Checks, name: &str, img: &str) -> Result<()> {
    let result = format!("/tmp/result-{name}");
    let _ = fs::remove_file(&result);
    fs::write(format!("/tmp/go-{name}"), b"go\n")?;
    let out = Command::new(CKPT).args(["restart", img]).output()?;
    let verdict = fs::read_to_string(&result).unwrap_or_else(|_| {
        format!(
            "(no verdict) {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )
    });
    let _ = fs::remove_file(format!("/tmp/go-{name}"));
    c.eq(
        "ckpt restart exit status (the process's)",
        0,
        out.status.code().unwrap_or(-1),
    );
    c.eq(
        "the restarted process's memory is the memory of the freeze",
        "PASS all 64 MiB as at the checkpoint (0xa5a5000000000001)",
        verdict.trim(),
    );
    Ok(())
}

/// How many pages of `live_writer`'s memory the image saves.
fn live_pages(img: &str) -> Result<u64> {
    let bytes = fs::read(img)?;
    let image = ckpt::inspect::parse(&bytes).map_err(|e| anyhow::anyhow!("{img}: {e}"))?;
    Ok(image
        .states
        .iter()
        .filter_map(|s| s.mm.as_ref())
        .flat_map(|m| m.vmas.iter())
        .filter(|v| v.start == LIVE_ADDR as u64)
        .map(|v| v.pages)
        .sum())
}

/// Scenario `checkpoint_cow_rewrite`: a process with 64 MiB rewrites all
/// of it right after the thaw, while its pages are still being written
/// (the scenario stops reading the image until the process is done); the
/// restart must see the memory of the freeze, and the memory the
/// snapshot held meanwhile is given back.
pub(crate) fn checkpoint_cow_rewrite(name: &str) -> Result<Vec<Check>> {
    let mut c = Checks(Vec::new());
    let w = Workload::start(name, "live_writer")?;
    let _job = RestartJob(Path::new(cgroup::ROOT).join(format!("restart-{}", w.pid)));
    let rewrote = format!("/tmp/rewrote-{name}");
    let _ = fs::remove_file(&rewrote);
    let anon_before = anon_kb()?;
    cgroup::freeze(&w.cg, Duration::from_secs(10))?;
    // Seen at the first poll after the thaw.
    fs::write(format!("/tmp/rewrite-{name}"), b"now\n")?;
    let s = Streaming::start(&mut c, &w)?;
    let done = wait(60, || Path::new(&rewrote).exists());
    c.eq(
        "the process rewrote its 64 MiB after the thaw",
        "PASS rewrote all 64 MiB",
        if done {
            fs::read_to_string(&rewrote)?.trim().to_owned()
        } else {
            "(not within 60 s)".into()
        },
    );
    c.eq(
        "checkpoint(2) was still writing the image when it had",
        true,
        s.writing(),
    );
    // The process's new pages and the snapshot's old ones, both mapped.
    let anon_during = anon_kb()?.saturating_sub(anon_before);
    eprintln!("{name}: anonymous memory {anon_before} kB before, {anon_during} kB more while the pages stream");
    c.eq(
        "anonymous memory while the pages stream: the snapshot keeps the 64 MiB the process rewrote (56 to 80 MiB more)",
        true,
        (56 << 10..80 << 10).contains(&anon_during),
    );
    let img = format!("/tmp/{name}.img");
    let call = s.finish(&img)?;
    c.eq("checkpoint(2)", "Ok(())", format!("{call:?}"));
    let anon_after = anon_kb()?.saturating_sub(anon_before);
    eprintln!("{name}: {anon_after} kB more once the image is written");
    c.eq(
        "anonymous memory once the image is written: the snapshot's is given back (less than 8 MiB more than before)",
        true,
        anon_after < 8 << 10,
    );
    c.eq(
        "pages of the 64 MiB in the image",
        LIVE_LEN / 4096,
        live_pages(&img)?,
    );
    // `ckpt inspect` says what the snapshot could cost: the saved pages'
    // size (the 64 MiB and the program's own few).
    let out = Command::new(CKPT).args(["inspect", &img]).output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("copy-on-write: "))
        .unwrap_or("(no copy-on-write line)");
    let mib: f64 = line
        .split("up to ")
        .nth(1)
        .and_then(|r| r.split(" MiB").next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0.0);
    eprintln!("{name}: ckpt inspect: {line}");
    c.eq(
        "ckpt inspect says the tree could use up to the saved pages' size more (64 to 66 MiB)",
        true,
        (64.0..66.0).contains(&mib),
    );
    drop(w);
    restart_sees_freeze(&mut c, name, &img)?;
    let _ = fs::remove_file(format!("/tmp/rewrite-{name}"));
    Ok(c.0)
}

/// Scenario `checkpoint_cow_killed`: the process killed while its pages
/// are written (the image is complete: its snapshot outlives it), and
/// `ckpt checkpoint` killed while it writes them (the image is cut short:
/// `ckpt restart` refuses it, and the tree runs on, thawed).
pub(crate) fn checkpoint_cow_killed(name: &str) -> Result<Vec<Check>> {
    let mut c = Checks(Vec::new());

    // The process killed while its pages stream.
    let w = Workload::start(name, "live_writer")?;
    let _job = RestartJob(Path::new(cgroup::ROOT).join(format!("restart-{}", w.pid)));
    cgroup::freeze(&w.cg, Duration::from_secs(10))?;
    let s = Streaming::start(&mut c, &w)?;
    cgroup::kill(&w.cg)?;
    let _ = waitpid(Pid::from_raw(w.pid), None);
    c.eq(
        "the process was killed while checkpoint(2) wrote its pages",
        true,
        s.writing(),
    );
    let img = format!("/tmp/{name}.img");
    let call = s.finish(&img)?;
    c.eq(
        "checkpoint(2) of the killed process",
        "Ok(())",
        format!("{call:?}"),
    );
    c.eq(
        "pages of the 64 MiB in the image",
        LIVE_LEN / 4096,
        live_pages(&img)?,
    );
    drop(w);
    restart_sees_freeze(&mut c, name, &img)?;

    // `ckpt checkpoint` killed while it writes the pages: the kernel
    // writes nothing while the tree is frozen, and ckpt thaws it once the
    // file's first write is reported, so the pages stream once the file
    // has bytes and the tree's cgroup is thawed. (Killed between the two,
    // ckpt would leave the tree frozen, as any killed freezer would.)
    let w = Workload::start(&format!("{name}-2"), "live_writer")?;
    // ckpt writes FILE.partial and renames it once the image is whole.
    let named = format!("/tmp/{name}-cut.img");
    let cut = format!("{named}.partial");
    let _ = fs::remove_file(&cut);
    let _ = fs::remove_file(&named);
    let mut ckpt = Command::new(CKPT)
        .args(["checkpoint", &w.pid.to_string(), "-o", &named])
        .stderr(Stdio::null())
        .spawn()?;
    let started = wait(30, || {
        fs::metadata(&cut).is_ok_and(|m| m.len() > 0) && cgroup::is_frozen(&w.cg).is_ok_and(|f| !f)
    });
    ckpt.kill()?;
    let _ = ckpt.wait();
    // Killed before its end: the .partial is still there, not renamed.
    let len = fs::metadata(&cut).map(|m| m.len()).unwrap_or(0);
    c.eq(
        "ckpt checkpoint killed after the image's first bytes, before its end",
        true,
        started && len > 0 && len < LIVE_LEN as u64,
    );
    c.eq(
        "the cut image is left as FILE.partial, never as FILE",
        false,
        Path::new(&named).exists(),
    );
    c.eq(
        "the tree runs on, thawed",
        "alive, not frozen",
        if !Path::new(&format!("/proc/{}", w.pid)).exists() {
            "gone".to_owned()
        } else if cgroup::is_frozen(&w.cg)? {
            "frozen".to_owned()
        } else {
            "alive, not frozen".to_owned()
        },
    );
    let out = Command::new(CKPT).args(["restart", &cut]).output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    c.eq(
        "ckpt restart of the cut image: exit status",
        1,
        out.status.code().unwrap_or(-1),
    );
    c.eq(
        "its message says the image is cut short",
        "says so",
        if stderr.contains("not a valid image")
            && stderr.contains("incomplete, it ends before its tail record")
        {
            "says so"
        } else {
            stderr.trim()
        },
    );
    // The same tree checkpointed again, whole, through a pipe (ckpt
    // splices what the kernel writes into its own pipe to stdout).
    let script = format!(
        "set -o pipefail; {CKPT} checkpoint {} -o - | {CKPT} inspect -",
        w.pid
    );
    let o = Command::new("/bin/sh").args(["-c", &script]).output()?;
    c.eq(
        "the tree checkpointed again after, through a pipe",
        "exit 0",
        exit_line(&o),
    );
    c.eq(
        "ckpt inspect of it: taken copy-on-write",
        true,
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .any(|l| l.starts_with("copy-on-write: the tree ran on while its 64.")),
    );
    let _ = fs::remove_file(&cut);
    Ok(c.0)
}
