//! A pod with a network namespace of its own (`ckpt run --pod --net`):
//! unix sockets bound to an abstract name, which is the namespace's.

use super::*;
use std::io::{Read, Write};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener, UnixStream};

/// The abstract name the pod's listener is bound to (`@kckpt-pod-net`):
/// two copies of the pod bind it each in its own namespace.
pub(crate) const NAME: &[u8] = b"kckpt-pod-net";

/// A request about the loopback device: the `ifreq` naming it.
pub(crate) fn lo_request() -> nix::libc::ifreq {
    // SAFETY: plain data, all zeros is valid.
    let mut req: nix::libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in req.ifr_name.iter_mut().zip(b"lo") {
        *d = *s as nix::libc::c_char;
    }
    req
}

/// The interface ioctl `op` (`SIOC*IF*`) on `req`, through a datagram
/// socket of the caller's network namespace, as `ip` and `ifconfig` do.
pub(crate) fn if_ioctl(
    op: nix::libc::Ioctl,
    req: &mut nix::libc::ifreq,
) -> Result<(), nix::errno::Errno> {
    use nix::libc;
    // SAFETY: socket(2) takes plain integers.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(nix::errno::Errno::last());
    }
    // SAFETY: a valid ifreq; the kernel reads it and fills a member.
    let ret = unsafe { libc::ioctl(fd, op, req as *mut libc::ifreq) };
    let err = nix::errno::Errno::last();
    // SAFETY: our own descriptor.
    unsafe { libc::close(fd) };
    if ret == 0 {
        Ok(())
    } else {
        Err(err)
    }
}

/// The flags (`SIOCGIFFLAGS`) and MTU of the loopback device of the
/// caller's network namespace.
pub(crate) fn loopback() -> Result<(i32, i32), nix::errno::Errno> {
    let mut req = lo_request();
    if_ioctl(nix::libc::SIOCGIFFLAGS as _, &mut req)?;
    // SAFETY: SIOCGIFFLAGS filled the flags.
    let flags = i32::from(unsafe { req.ifr_ifru.ifru_flags });
    if_ioctl(nix::libc::SIOCGIFMTU as _, &mut req)?;
    // SAFETY: SIOCGIFMTU filled the MTU.
    Ok((flags, unsafe { req.ifr_ifru.ifru_mtu }))
}

/// The MTU the pod gives its loopback device (not the default 65536).
pub(crate) const LO_MTU: i32 = 16000;

/// The pod's init (`net_pod`): gives its loopback MTU [`LO_MTU`], listens
/// on `@kckpt-pod-net`, connects to itself and sends `before` that waits
/// unread. After the go file it
/// checks: `before` is read, the connection carries `again` both ways, a
/// new client connects to the name and is accepted, and the loopback
/// device is up with its MTU.
pub(crate) fn net_pod(ready_path: &Path) -> Result<()> {
    name("net-pod");
    let (go, result) = go_and_result(ready_path);
    // As `ip link set lo mtu` does.
    let mut req = lo_request();
    req.ifr_ifru.ifru_mtu = LO_MTU;
    if_ioctl(nix::libc::SIOCSIFMTU as _, &mut req).context("SIOCSIFMTU")?;
    let addr = SocketAddr::from_abstract_name(NAME)?;
    let listener = UnixListener::bind_addr(&addr)?;
    let mut client = UnixStream::connect_addr(&addr)?;
    let (mut server, _) = listener.accept()?;
    client.write_all(b"before")?;
    ready(ready_path)?;
    while !go.exists() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let mut bad = Vec::new();
    let mut buf = [0u8; 6];
    if server.read_exact(&mut buf).is_err() || &buf != b"before" {
        bad.push("the unread bytes".to_owned());
    }
    let mut again = [0u8; 5];
    if server.write_all(b"again").is_err()
        || client.read_exact(&mut again).is_err()
        || &again != b"again"
    {
        bad.push("the connection".to_owned());
    }
    match UnixStream::connect_addr(&addr).and_then(|mut c| {
        let (mut s, _) = listener.accept()?;
        c.write_all(b"new")?;
        let mut got = [0u8; 3];
        s.read_exact(&mut got)?;
        Ok(got)
    }) {
        Ok(got) if &got == b"new" => {}
        other => bad.push(format!("a new client: {other:?}")),
    }
    match loopback() {
        Ok((flags, mtu)) if flags & nix::libc::IFF_UP != 0 && mtu == LO_MTU => {}
        other => bad.push(format!("the loopback: {other:?}")),
    }
    verdict_all(
        &result,
        &bad,
        "the unread bytes, the connection, a new client on the abstract name, the loopback up",
    )
}
