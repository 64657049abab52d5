//! The kernel log as scenarios read it: kernel-ckpt's own lines after a marker,
//! outside the rate limit's window.

use super::*;

/// Waits out the kernel-ckpt log rate limit: each message site prints at
/// most 10 lines per 5 s, and the scenario before may have used them.
/// Called before a scenario checks lines of a site that others use too.
pub(crate) fn fresh_log_window() {
    std::thread::sleep(Duration::from_millis(5100));
}

/// Writes a marker line into the kernel log.
pub(crate) fn mark_log(name: &str) -> Result<()> {
    fs::write("/dev/kmsg", format!("ckpt-scenarios: {name}: mark\n"))?;
    Ok(())
}

/// The kernel log after the last marker, as `dmesg` prints it (raw bytes;
/// the ring buffer may have wrapped, so no byte offsets are kept).
pub(crate) fn log_since_mark(name: &str) -> Result<Vec<u8>> {
    let log = Command::new("/bin/dmesg").output()?.stdout;
    let mark = format!("ckpt-scenarios: {name}: mark");
    let at = log
        .windows(mark.len())
        .rposition(|w| w == mark.as_bytes())
        .context("the marker is not in the kernel log")?;
    Ok(log.get(at..).unwrap_or(&[]).to_vec())
}
