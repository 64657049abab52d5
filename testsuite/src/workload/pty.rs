//! The pty workload: ptys in the states a program leaves them in, checked
//! after the restart.

use super::{go_and_result, name, on_sigusr1, read_u64, ready, verdict_all};
use anyhow::{bail, Result};
use nix::libc;
use std::path::Path;

/// The eventfd a SIGUSR1 handler writes to, waking the blocked read.
static PTY_WAKE: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

extern "C" fn on_usr1_pty(_: i32) {
    let one = 1u64;
    // SAFETY: write(2) is async-signal-safe; 8 valid bytes.
    unsafe {
        libc::write(
            PTY_WAKE.load(std::sync::atomic::Ordering::Relaxed),
            (&one as *const u64).cast(),
            8,
        )
    };
}

/// The status bytes a master reads in packet mode (`TIOCPKT_*`, which the
/// libc crate does not export).
const TIOCPKT_DATA: u8 = 0;
const TIOCPKT_STOP: u8 = 4;
const TIOCPKT_START: u8 = 8;

/// Bytes typed into the raw pty: more than the line discipline's 4 KiB
/// buffer holds, so that the rest waits in the tty's flip buffers.
const FLOOD: usize = 6000;

fn flood_byte(i: usize) -> u8 {
    (i * 7 % 251) as u8
}

/// A new pty: the master (non-blocking) and the slave's path.
fn new_pty() -> Result<(i32, String)> {
    // SAFETY: plain calls; the buffer holds the name and its NUL.
    unsafe {
        let m = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_NONBLOCK);
        if m < 0 || libc::grantpt(m) != 0 || libc::unlockpt(m) != 0 {
            bail!("opening a pty: {}", std::io::Error::last_os_error());
        }
        let mut buf = [0 as libc::c_char; 64];
        if libc::ptsname_r(m, buf.as_mut_ptr(), buf.len()) != 0 {
            bail!("ptsname: {}", std::io::Error::last_os_error());
        }
        let name = std::ffi::CStr::from_ptr(buf.as_ptr())
            .to_string_lossy()
            .into_owned();
        Ok((m, name))
    }
}

fn open_slave(path: &str, flags: i32) -> i32 {
    let Ok(c) = std::ffi::CString::new(path) else {
        return -1;
    };
    // SAFETY: a valid path.
    unsafe { libc::open(c.as_ptr(), flags | libc::O_NOCTTY) }
}

/// What a non-blocking read of `fd` returns now (up to 8 KiB), or the
/// errno as a negative length.
fn read_now(fd: i32) -> Result<Vec<u8>, i32> {
    let mut b = vec![0u8; 8192];
    // SAFETY: a valid buffer of 8 KiB.
    let n = unsafe { libc::read(fd, b.as_mut_ptr().cast(), b.len()) };
    if n < 0 {
        return Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0));
    }
    b.truncate(n as usize);
    Ok(b)
}

/// Ptys in five states, the process then blocked reading an eventfd:
/// "flood", in raw mode, with 6,000 bytes typed into its master and not
/// read (4,095 in the slave's line discipline, the rest in the tty's flip
/// buffers); "packet", in packet mode, its slave's output stopped with
/// TCOOFF (the master has a TIOCPKT_STOP status to read); "locked", locked
/// again after its slave was opened; "closed", whose only slave file was
/// closed (the master reads EIO); "shaped", with a 50x200 window, VINTR
/// set to ^A, and a line typed without a newline in canonical mode. After
/// the restart a handler wakes it and it checks every byte and state
/// through the ptys themselves.
pub(crate) fn pty_check(ready_path: &Path) -> Result<()> {
    name("ptys");
    let (_, result) = go_and_result(ready_path);
    let (flood_m, flood_path) = new_pty()?;
    let (packet_m, packet_path) = new_pty()?;
    let (locked_m, locked_path) = new_pty()?;
    let (closed_m, closed_path) = new_pty()?;
    let (shaped_m, shaped_path) = new_pty()?;
    let flood_s = open_slave(&flood_path, libc::O_RDWR | libc::O_NONBLOCK);
    let packet_s = open_slave(&packet_path, libc::O_RDWR | libc::O_NONBLOCK);
    let locked_s = open_slave(&locked_path, libc::O_RDWR);
    let shaped_s = open_slave(&shaped_path, libc::O_RDWR | libc::O_NONBLOCK);
    let closed_s = open_slave(&closed_path, libc::O_RDWR);
    if [flood_s, packet_s, locked_s, shaped_s, closed_s].contains(&-1) {
        bail!("opening the slaves: {}", std::io::Error::last_os_error());
    }
    let flood: Vec<u8> = (0..FLOOD).map(flood_byte).collect();
    // SAFETY: plain calls on our own descriptors with valid arguments.
    let wake = unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        libc::tcgetattr(flood_s, &mut t);
        libc::cfmakeraw(&mut t);
        libc::tcsetattr(flood_s, libc::TCSANOW, &t);
        let mut off = 0;
        while off < flood.len() {
            let n = libc::write(
                flood_m,
                flood[off..].as_ptr().cast(),
                (flood.len() - off).min(1000),
            );
            if n <= 0 {
                bail!("typing into the raw pty stopped at {off}");
            }
            off += n as usize;
        }
        let on: libc::c_int = 1;
        libc::ioctl(packet_m, libc::TIOCPKT, &on);
        libc::tcflow(packet_s, libc::TCOOFF);
        let lock: libc::c_int = 1;
        libc::ioctl(locked_m, libc::TIOCSPTLCK, &lock);
        libc::close(closed_s);
        let ws = libc::winsize {
            ws_row: 50,
            ws_col: 200,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        libc::ioctl(shaped_s, libc::TIOCSWINSZ, &ws);
        libc::tcgetattr(shaped_s, &mut t);
        t.c_cc[libc::VINTR] = 1;
        libc::tcsetattr(shaped_s, libc::TCSANOW, &t);
        libc::write(shaped_m, b"half a line".as_ptr().cast(), 11);
        libc::eventfd(0, 0)
    };
    if wake < 0 {
        bail!("eventfd: {}", std::io::Error::last_os_error());
    }
    // The typed bytes reach the line disciplines through a worker.
    std::thread::sleep(std::time::Duration::from_millis(200));
    PTY_WAKE.store(wake, std::sync::atomic::Ordering::Relaxed);
    on_sigusr1(on_usr1_pty);
    ready(ready_path)?;
    let mut bad = Vec::new();
    if read_u64(wake) != Some(1) {
        bad.push("the blocked read did not return the handler's 1".into());
    }
    // Flood: every byte, in order, then nothing more.
    let mut got = Vec::new();
    let start = std::time::Instant::now();
    while got.len() < FLOOD && start.elapsed() < std::time::Duration::from_secs(10) {
        match read_now(flood_s) {
            Ok(b) => got.extend_from_slice(&b),
            Err(libc::EAGAIN) => std::thread::sleep(std::time::Duration::from_millis(10)),
            Err(e) => {
                bad.push(format!("reading the raw pty: errno {e}"));
                break;
            }
        }
    }
    if got != flood {
        let at = got.iter().zip(&flood).position(|(a, b)| a != b);
        bad.push(format!(
            "the raw pty gave {} of {FLOOD} bytes, first difference at {at:?}",
            got.len()
        ));
    }
    // Packet: the stop status, then after TCOON the start status and data.
    match read_now(packet_m) {
        Ok(b) if b == [TIOCPKT_STOP] => {}
        other => bad.push(format!("packet mode read {other:?}, not [TIOCPKT_STOP]")),
    }
    // SAFETY: plain calls on our own descriptors.
    unsafe {
        libc::tcflow(packet_s, libc::TCOON);
        libc::write(packet_s, b"x".as_ptr().cast(), 1);
    }
    std::thread::sleep(std::time::Duration::from_millis(100));
    match read_now(packet_m) {
        Ok(b) if b == [TIOCPKT_START] => {}
        other => bad.push(format!("after TCOON, packet mode read {other:?}")),
    }
    match read_now(packet_m) {
        Ok(b) if b == [TIOCPKT_DATA, b'x'] => {}
        other => bad.push(format!("packet data read {other:?}")),
    }
    // Locked: a new open of the slave fails until it is unlocked.
    let again = open_slave(&locked_path, libc::O_RDWR);
    if again >= 0 {
        bad.push("the locked slave opened".into());
    }
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads an int.
    unsafe { libc::ioctl(locked_m, libc::TIOCSPTLCK, &unlock) };
    if open_slave(&locked_path, libc::O_RDWR) < 0 {
        bad.push("the unlocked slave did not open".into());
    }
    // Closed: the master reads EIO, as once its slave was closed.
    match read_now(closed_m) {
        Err(libc::EIO) => {}
        other => bad.push(format!("the master of the closed slave read {other:?}")),
    }
    // Shaped: window, VINTR, and the half line still waiting for its end.
    // SAFETY: plain calls on our own descriptors with valid buffers.
    unsafe {
        let mut ws: libc::winsize = std::mem::zeroed();
        libc::ioctl(shaped_s, libc::TIOCGWINSZ, &mut ws);
        if (ws.ws_row, ws.ws_col) != (50, 200) {
            bad.push(format!("window {}x{}", ws.ws_row, ws.ws_col));
        }
        let mut t: libc::termios = std::mem::zeroed();
        libc::tcgetattr(shaped_s, &mut t);
        if t.c_cc[libc::VINTR] != 1 || t.c_lflag & libc::ICANON == 0 {
            bad.push("terminal settings differ".into());
        }
    }
    match read_now(shaped_s) {
        Err(libc::EAGAIN) => {}
        other => bad.push(format!("the half line read before its end: {other:?}")),
    }
    // SAFETY: 6 valid bytes.
    unsafe { libc::write(shaped_m, b" more\n".as_ptr().cast(), 6) };
    std::thread::sleep(std::time::Duration::from_millis(100));
    match read_now(shaped_s) {
        Ok(b) if b == b"half a line more\n" => {}
        other => bad.push(format!("the completed line read {other:?}")),
    }
    let names = [
        &flood_path,
        &packet_path,
        &locked_path,
        &closed_path,
        &shaped_path,
    ];
    let masters = [flood_m, packet_m, locked_m, closed_m, shaped_m];
    for (m, path) in masters.iter().zip(names) {
        let mut n: libc::c_uint = 0;
        // SAFETY: TIOCGPTN writes an unsigned int.
        unsafe { libc::ioctl(*m, libc::TIOCGPTN, &mut n) };
        if !path.ends_with(&format!("/{n}")) {
            bad.push(format!("{path} is pty {n} now"));
        }
    }
    verdict_all(
        &result,
        &bad,
        "ptys: queued bytes, packet mode, lock, closed slave, window and settings",
    )
}
