//! Workloads that hold one kind of kernel state that kernel-ckpt does not
//! carry yet: `checkpoint(2)` must refuse them (`EOPNOTSUPP`) and name the
//! state in the kernel log, never save an image that loses it.

use super::{name, ready};
use anyhow::{bail, Context, Result};
use nix::libc;
use std::path::Path;

/// The kinds, each with the phrase the kernel log must contain.
pub const KINDS: &[(&str, &str)] = &[
    ("seccomp", "runs under seccomp"),
    (
        "posix_timer_other_cpu",
        "has a POSIX timer on the CPU clock of another process",
    ),
    ("mount_ns", "runs in another mount namespace"),
    (
        "sem_undo",
        "has SysV semaphore undo adjustments (SEM_UNDO; carried only in a pod with an IPC namespace of its own)",
    ),
    (
        "mqueue",
        "is a POSIX message queue (carried in a pod with an IPC namespace of its own",
    ),
    ("mlockall_future", "has mlockall(MCL_FUTURE) in force"),
    (
        "mlock_onfault",
        "has a mapping with flags restart cannot set",
    ),
    ("epoll_socket", "(anon_inode:[eventpoll] watching socket:["),
    ("pidfd_outside", "is a pidfd of a process outside the tree"),
    ("pidfd_reaped", "is a pidfd of a process that was reaped"),
    ("ns_file", "is a namespace file of a namespace not its own"),
    (
        "unix_socket_in_flight",
        "is a unix socket carrying in flight (SCM_RIGHTS) a file that is a socket",
    ),
    (
        "unix_pending_socket_in_flight",
        "is a listening unix socket with a connection not accepted yet carrying in flight (SCM_RIGHTS) a file that is a socket",
    ),
    (
        "unix_peer_outside",
        "is a unix socket whose peer is open outside the tree",
    ),
    (
        "lease_breaking",
        "holds a lease being broken, or a delegation",
    ),
    ("dnotify", "watches its directory with F_NOTIFY (dnotify)"),
    (
        "fown_outside",
        "has a signal owner (F_SETOWN) outside the tree",
    ),
    (
        "cwd_unmounted",
        "has its working directory on a mount that is not in its mount namespace",
    ),
    (
        "file_unmounted",
        "is a file of a mount that is not in its mount namespace",
    ),
    (
        "inotify_unmounted",
        "is an inotify instance whose watch 1 watches a file with no path from the caller's root",
    ),
    (
        "deleted_linked",
        "is a deleted name of a file still linked elsewhere",
    ),
    (
        "files_outside",
        "shares its open file table (CLONE_FILES) with a process outside the tree",
    ),
    ("nested_pidns", "runs in a nested pid namespace"),
    (
        "pty_master_outside",
        "is a pty whose master is open outside the tree",
    ),
    (
        "pty_other_ldisc",
        "is a pty with a line discipline other than N_TTY (TIOCSETD)",
    ),
    (
        "pty_locked_termios",
        "is a pty with locked terminal settings (TIOCSLCKTRMIOS)",
    ),
];

/// A new pty: its master and its slave, opened without becoming the
/// controlling terminal.
unsafe fn open_pty() -> Result<(i32, i32)> {
    // SAFETY (of the caller's): plain calls; the buffer holds the name.
    unsafe {
        let m = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
        if m < 0 || libc::grantpt(m) != 0 || libc::unlockpt(m) != 0 {
            bail!("opening a pty: {}", std::io::Error::last_os_error());
        }
        let mut buf = [0 as libc::c_char; 64];
        if libc::ptsname_r(m, buf.as_mut_ptr(), buf.len()) != 0 {
            bail!("ptsname: {}", std::io::Error::last_os_error());
        }
        let s = libc::open(buf.as_ptr(), libc::O_RDWR | libc::O_NOCTTY);
        if s < 0 {
            bail!("opening the slave: {}", std::io::Error::last_os_error());
        }
        Ok((m, s))
    }
}

/// Installs a seccomp filter of one instruction, SECCOMP_RET_ALLOW: the
/// process runs under seccomp and every call is allowed.
pub(crate) fn allow_all_seccomp_filter() -> std::io::Result<()> {
    let insn = [libc::sock_filter {
        code: (libc::BPF_RET | libc::BPF_K) as u16,
        jt: 0,
        jf: 0,
        k: libc::SECCOMP_RET_ALLOW,
    }];
    let prog = libc::sock_fprog {
        len: 1,
        filter: insn.as_ptr().cast_mut(),
    };
    // SAFETY: prctl with a valid one-instruction program that outlives it.
    if unsafe { libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &prog) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

fn check(ret: libc::c_long, what: &str) -> Result<libc::c_long> {
    if ret < 0 {
        bail!("{what}: {}", std::io::Error::last_os_error());
    }
    Ok(ret)
}

/// The kinds a pod holds (`ckpt run --pod`: their state is carried only
/// there, and refused there for the reason the phrase gives), each with
/// the phrase the kernel log must contain.
pub const POD_KINDS: &[(&str, &str)] = &[
    (
        "pod_mq_thread",
        "its notification is SIGEV_THREAD (a netlink socket): not supported",
    ),
    (
        "pod_undo_no_alter",
        "which it may no longer alter (its restart could not give them back): not supported",
    ),
    // In a pod with a network namespace of its own (`--net`).
    (
        "pod_net_address",
        "network namespace has an IPv4 address on its loopback other than 127.0.0.1/8 (not carried yet): not supported",
    ),
    (
        "pod_net_tcp_shut_early",
        "is a TCP connection shut down for writing before it connected (not carried): not supported",
    ),
    (
        "pod_net_tcp_congestion",
        "has its congestion control set (TCP_CONGESTION) (not carried yet): not supported",
    ),
    (
        "pod_net_udp_cork",
        "has UDP options or a corked datagram (UDP_CORK, UDP_SEGMENT, UDP_GRO, UDP_ENCAP, UDPLITE_*_CSCOV...) (not carried yet): not supported",
    ),
    (
        "pod_net_reuseport_prog",
        "has an eBPF socket filter or a reuseport group program (SO_ATTACH_BPF, SO_ATTACH_REUSEPORT_*) (not carried yet): not supported",
    ),
    ("pod_net_netlink", "is a netlink socket (not carried): not supported"),
    (
        "pod_net_raw_cork",
        "has a corked datagram (MSG_MORE, UDP_CORK) (not carried yet): not supported",
    ),
    (
        "pod_net_raw_mptcp",
        "is an IP socket of a protocol kernel-ckpt does not carry (MPTCP, SCTP...): not supported",
    ),
    (
        "pod_net_packet_ring",
        "is a packet socket with a ring (PACKET_RX_RING, PACKET_TX_RING) (not carried yet): not supported",
    ),
    (
        "pod_net_packet_fanout",
        "is a packet socket in a fanout group (PACKET_FANOUT) (not carried yet): not supported",
    ),
    (
        "pod_net_tcp_group",
        "has multicast memberships with source filters, IPv4 ones on an IPv6 socket, or a TCP socket's (not carried yet): not supported",
    ),
];

/// Takes on state `kind` and keeps it (descriptors are leaked on purpose).
pub fn holds(kind: &str, ready_path: &Path) -> Result<()> {
    name("holds");
    let tmp = ready_path.to_string_lossy().replace("ready-", "holds-");
    // SAFETY (whole block): system calls with valid arguments; the
    // descriptors they return stay open until the workload is killed.
    unsafe {
        match kind {
            "seccomp" => allow_all_seccomp_filter().context("seccomp filter")?,
            "posix_timer_other_cpu" => {
                // A timer on the CPU clock of its parent, outside the tree.
                let clock = (!(libc::getppid() as u32) << 3 | 2) as libc::clockid_t;
                let mut sev: libc::sigevent = std::mem::zeroed();
                sev.sigev_notify = libc::SIGEV_NONE;
                let mut id: libc::timer_t = std::ptr::null_mut();
                check(
                    libc::timer_create(clock, &mut sev, &mut id).into(),
                    "timer_create",
                )?;
            }
            "sem_undo" => {
                // A set of the caller's IPC namespace (left behind: its
                // removal would drop the adjustment).
                let id = check(
                    libc::semget(libc::IPC_PRIVATE, 1, libc::IPC_CREAT | 0o600).into(),
                    "semget",
                )?;
                let mut op = libc::sembuf {
                    sem_num: 0,
                    sem_op: 1,
                    sem_flg: libc::SEM_UNDO as i16,
                };
                check(libc::semop(id as i32, &mut op, 1).into(), "semop")?;
            }
            "mqueue" => {
                // Of the caller's IPC namespace; its name goes at once.
                let name = std::ffi::CString::new(format!("/holds-{}", libc::getpid()))?;
                let fd = libc::mq_open(
                    name.as_ptr(),
                    libc::O_CREAT | libc::O_RDWR,
                    0o600,
                    std::ptr::null_mut::<libc::mq_attr>(),
                );
                check(fd.into(), "mq_open")?;
                check(libc::mq_unlink(name.as_ptr()).into(), "mq_unlink")?;
            }
            "pod_mq_thread" => {
                // A SIGEV_THREAD notification: a netlink socket, closed
                // once registered (the queue keeps it).
                let name = c"/thread-notified";
                let mq = libc::mq_open(
                    name.as_ptr(),
                    libc::O_CREAT | libc::O_RDWR,
                    0o600,
                    std::ptr::null_mut::<libc::mq_attr>(),
                );
                check(mq.into(), "mq_open")?;
                let s = check(
                    libc::socket(
                        libc::AF_NETLINK,
                        libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                        libc::NETLINK_ROUTE,
                    )
                    .into(),
                    "socket",
                )?;
                // The cookie the kernel reads (NOTIFY_COOKIE_LEN bytes).
                let cookie = Box::leak(Box::new([0u8; 32]));
                let mut sev: libc::sigevent = std::mem::zeroed();
                sev.sigev_notify = libc::SIGEV_THREAD;
                sev.sigev_signo = s as i32;
                sev.sigev_value = libc::sigval {
                    sival_ptr: cookie.as_mut_ptr().cast(),
                };
                check(
                    libc::syscall(libc::SYS_mq_notify, mq, &sev),
                    "mq_notify(SIGEV_THREAD)",
                )?;
                libc::close(s as i32);
            }
            "pod_net_address" => {
                // The loopback's address changed, as `ifconfig lo
                // 10.1.2.3` does.
                let mut req = super::netpod::lo_request();
                let sin = libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: 0,
                    sin_addr: libc::in_addr {
                        s_addr: u32::from_be_bytes([10, 1, 2, 3]).to_be(),
                    },
                    sin_zero: [0; 8],
                };
                std::ptr::copy_nonoverlapping(
                    (&sin as *const libc::sockaddr_in).cast::<u8>(),
                    &mut req.ifr_ifru as *mut _ as *mut u8,
                    std::mem::size_of::<libc::sockaddr_in>(),
                );
                super::netpod::if_ioctl(libc::SIOCSIFADDR as _, &mut req).context("SIOCSIFADDR")?;
            }
            "pod_net_tcp_shut_early" => {
                // A connection shut down for writing before it connected:
                // shutdown(2) on the unconnected socket set the bit (and
                // said ENOTCONN), connect(2) kept it, and no FIN went out.
                let l = std::net::TcpListener::bind("127.0.0.1:0")?;
                let port = l.local_addr()?.port();
                let c = check(
                    libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) as libc::c_long,
                    "socket",
                )? as libc::c_int;
                libc::shutdown(c, libc::SHUT_WR);
                let sin = libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: port.to_be(),
                    sin_addr: libc::in_addr {
                        s_addr: u32::from_be_bytes([127, 0, 0, 1]).to_be(),
                    },
                    sin_zero: [0; 8],
                };
                let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
                check(
                    libc::connect(c, (&sin as *const libc::sockaddr_in).cast(), len)
                        as libc::c_long,
                    "connect",
                )?;
                let (a, _) = l.accept()?;
                std::mem::forget((l, a));
            }
            "pod_net_tcp_congestion" => {
                // A listener whose congestion control was chosen by hand.
                let l = std::net::TcpListener::bind("127.0.0.1:0")?;
                let fd = std::os::fd::AsRawFd::as_raw_fd(&l);
                let reno = b"reno";
                check(
                    libc::setsockopt(
                        fd,
                        libc::IPPROTO_TCP,
                        libc::TCP_CONGESTION,
                        reno.as_ptr().cast(),
                        reno.len() as libc::socklen_t,
                    ) as libc::c_long,
                    "TCP_CONGESTION",
                )?;
                std::mem::forget(l);
            }
            "pod_net_udp_cork" => {
                // A datagram corked (UDP_CORK), not sent yet.
                let u = std::net::UdpSocket::bind("127.0.0.1:0")?;
                let fd = std::os::fd::AsRawFd::as_raw_fd(&u);
                let one: libc::c_int = 1;
                check(
                    libc::setsockopt(
                        fd,
                        libc::IPPROTO_UDP,
                        libc::UDP_CORK,
                        (&one as *const libc::c_int).cast(),
                        std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                    )
                    .into(),
                    "UDP_CORK",
                )?;
                u.send_to(b"corked", u.local_addr()?)?;
                std::mem::forget(u);
            }
            "pod_net_raw_cork" => {
                // An ICMP echo request held back by MSG_MORE on a raw socket.
                let r = check(
                    libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_ICMP).into(),
                    "socket",
                )?;
                let sin = libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: 0,
                    sin_addr: libc::in_addr {
                        s_addr: u32::from_ne_bytes([127, 0, 0, 1]),
                    },
                    sin_zero: [0; 8],
                };
                let echo = [8u8, 0, 0xf7, 0xff, 0, 0, 0, 0];
                check(
                    libc::sendto(
                        r as i32,
                        echo.as_ptr().cast(),
                        echo.len(),
                        libc::MSG_MORE,
                        (&sin as *const libc::sockaddr_in).cast(),
                        std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
                    ) as libc::c_long,
                    "sendto MSG_MORE",
                )?;
            }
            "pod_net_raw_mptcp" => {
                // A raw socket of a protocol past 255 (IPPROTO_MPTCP).
                check(
                    libc::socket(libc::AF_INET, libc::SOCK_RAW, 262).into(),
                    "socket(SOCK_RAW, IPPROTO_MPTCP)",
                )?;
            }
            "pod_net_tcp_group" => {
                // A TCP socket in group 239.1.2.3 on the loopback, which
                // MCAST_JOIN_GROUP allows (IP_ADD_MEMBERSHIP does not).
                #[repr(C)]
                struct GroupReq {
                    interface: u32,
                    group: libc::sockaddr_storage,
                }
                let t = check(
                    libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0).into(),
                    "socket",
                )? as libc::c_int;
                let mut req = GroupReq {
                    interface: 1,
                    group: std::mem::zeroed(),
                };
                let sin = libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: 0,
                    sin_addr: libc::in_addr {
                        s_addr: u32::from_ne_bytes([239, 1, 2, 3]),
                    },
                    sin_zero: [0; 8],
                };
                std::ptr::write((&mut req.group as *mut libc::sockaddr_storage).cast(), sin);
                check(
                    libc::setsockopt(
                        t,
                        libc::IPPROTO_IP,
                        libc::MCAST_JOIN_GROUP,
                        (&req as *const GroupReq).cast(),
                        std::mem::size_of::<GroupReq>() as libc::socklen_t,
                    )
                    .into(),
                    "MCAST_JOIN_GROUP",
                )?;
            }
            "pod_net_packet_ring" => {
                // A receive ring of two frames (PACKET_RX_RING), not mapped.
                let fd = check(
                    libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0).into(),
                    "socket(AF_PACKET)",
                )? as libc::c_int;
                let req: [u32; 4] = [4096, 1, 2048, 2];
                check(
                    libc::setsockopt(
                        fd,
                        263,
                        5,
                        req.as_ptr().cast(),
                        std::mem::size_of_val(&req) as libc::socklen_t,
                    ) as libc::c_long,
                    "PACKET_RX_RING",
                )?;
            }
            "pod_net_packet_fanout" => {
                // Taking every frame of the loopback in a fanout group.
                let fd = check(
                    libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0x0300).into(),
                    "socket(AF_PACKET, ETH_P_ALL)",
                )? as libc::c_int;
                let group: libc::c_int = 42;
                check(
                    libc::setsockopt(
                        fd,
                        263,
                        18,
                        (&group as *const libc::c_int).cast(),
                        std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                    ) as libc::c_long,
                    "PACKET_FANOUT",
                )?;
            }
            "pod_net_reuseport_prog" => {
                // A classic BPF program choosing among a reuseport group
                // (SO_ATTACH_REUSEPORT_CBPF), always the first socket.
                let fd = check(
                    libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0).into(),
                    "socket",
                )? as libc::c_int;
                let one: libc::c_int = 1;
                check(
                    libc::setsockopt(
                        fd,
                        libc::SOL_SOCKET,
                        libc::SO_REUSEPORT,
                        (&one as *const libc::c_int).cast(),
                        std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                    )
                    .into(),
                    "SO_REUSEPORT",
                )?;
                let insn = [libc::sock_filter {
                    code: 0x06, // BPF_RET | BPF_K
                    jt: 0,
                    jf: 0,
                    k: 0,
                }];
                let prog = libc::sock_fprog {
                    len: 1,
                    filter: insn.as_ptr().cast_mut(),
                };
                check(
                    libc::setsockopt(
                        fd,
                        libc::SOL_SOCKET,
                        libc::SO_ATTACH_REUSEPORT_CBPF,
                        (&prog as *const libc::sock_fprog).cast(),
                        std::mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
                    )
                    .into(),
                    "SO_ATTACH_REUSEPORT_CBPF",
                )?;
            }
            "pod_net_netlink" => {
                // A routing netlink socket, as `ip monitor` holds one.
                check(
                    libc::socket(libc::AF_NETLINK, libc::SOCK_RAW, libc::NETLINK_ROUTE).into(),
                    "socket",
                )?;
            }
            "pod_undo_no_alter" => {
                // As uid 1000: a set of its own, 1 taken with SEM_UNDO,
                // then its mode made read-only by its owner.
                check(libc::setresgid(1000, 1000, 1000).into(), "setresgid")?;
                check(libc::setresuid(1000, 1000, 1000).into(), "setresuid")?;
                let id = check(
                    libc::semget(libc::IPC_PRIVATE, 1, libc::IPC_CREAT | 0o600).into(),
                    "semget",
                )? as i32;
                let mut op = libc::sembuf {
                    sem_num: 0,
                    sem_op: 1,
                    sem_flg: libc::SEM_UNDO as i16,
                };
                check(libc::semop(id, &mut op, 1).into(), "semop")?;
                // The kernel's struct semid64_ds (musl's libc crate has no
                // semid_ds): its perm's mode is the u32 after key, uid, gid,
                // cuid and cgid.
                let mut ds = [0u32; 32];
                check(
                    libc::syscall(libc::SYS_semctl, id, 0, libc::IPC_STAT, ds.as_mut_ptr()),
                    "semctl(IPC_STAT)",
                )?;
                ds[5] = 0o400;
                check(
                    libc::syscall(libc::SYS_semctl, id, 0, libc::IPC_SET, ds.as_mut_ptr()),
                    "semctl(IPC_SET)",
                )?;
            }
            "mount_ns" => {
                check(
                    libc::unshare(libc::CLONE_NEWNS).into(),
                    "unshare(CLONE_NEWNS)",
                )?;
            }
            "mlockall_future" => {
                check(libc::mlockall(libc::MCL_FUTURE).into(), "mlockall")?;
            }
            "mlock_onfault" => {
                let p = libc::mmap(
                    std::ptr::null_mut(),
                    4096,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                );
                if p == libc::MAP_FAILED {
                    bail!("mmap: {}", std::io::Error::last_os_error());
                }
                check(
                    libc::syscall(libc::SYS_mlock2, p, 4096usize, libc::MLOCK_ONFAULT),
                    "mlock2(MLOCK_ONFAULT)",
                )?;
            }
            "epoll_socket" => {
                // The set comes first in the descriptor table, so the
                // socket is met through it.
                let ep = libc::epoll_create1(0);
                check(ep.into(), "epoll_create1")?;
                // A netlink socket (not carried).
                let nl = libc::socket(libc::AF_NETLINK, libc::SOCK_RAW, libc::NETLINK_ROUTE);
                check(nl.into(), "socket(AF_NETLINK)")?;
                let mut ev = libc::epoll_event {
                    events: libc::EPOLLIN as u32,
                    u64: 0,
                };
                check(
                    libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, nl, &mut ev).into(),
                    "epoll_ctl",
                )?;
            }
            "pidfd_outside" => {
                // Of its parent, the scenario runner.
                check(
                    libc::syscall(libc::SYS_pidfd_open, libc::getppid(), 0),
                    "pidfd_open",
                )?;
            }
            "pidfd_reaped" => {
                // Of a child that exited and was reaped since.
                let child = check(libc::fork().into(), "fork")?;
                if child == 0 {
                    libc::_exit(0);
                }
                check(libc::syscall(libc::SYS_pidfd_open, child, 0), "pidfd_open")?;
                libc::waitpid(child as libc::pid_t, std::ptr::null_mut(), 0);
            }
            "ns_file" => {
                // The mount namespace of a sibling outside the subtree,
                // which has one of its own.
                let sibling = super::clone_pausing(
                    nix::sched::CloneFlags::CLONE_NEWNS | nix::sched::CloneFlags::CLONE_PARENT,
                    "CLONE_NEWNS | CLONE_PARENT",
                )?;
                let path = std::ffi::CString::new(format!("/proc/{sibling}/ns/mnt"))?;
                check(
                    libc::open(path.as_ptr(), libc::O_RDONLY).into(),
                    "open the sibling's /proc/PID/ns/mnt",
                )?;
            }
            "unix_socket_in_flight" => {
                // One end sent through itself and never received (a
                // plain file in flight is carried).
                let mut sv = [0i32; 2];
                check(
                    libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM, 0, sv.as_mut_ptr()).into(),
                    "socketpair",
                )?;
                super::unix::send_rights(sv[0], &[0], &[sv[1]], None)?;
            }
            "unix_pending_socket_in_flight" => {
                let fd = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0);
                check(fd.into(), "socket(AF_UNIX)")?;
                let path = format!("{tmp}.sock");
                let _ = std::fs::remove_file(&path);
                let mut addr: libc::sockaddr_un = std::mem::zeroed();
                addr.sun_family = libc::AF_UNIX as u16;
                for (d, s) in addr.sun_path.iter_mut().zip(path.bytes()) {
                    *d = s as libc::c_char;
                }
                check(
                    libc::bind(
                        fd,
                        (&addr as *const libc::sockaddr_un).cast(),
                        std::mem::size_of::<libc::sockaddr_un>() as u32,
                    )
                    .into(),
                    "bind",
                )?;
                check(libc::listen(fd, 4).into(), "listen")?;
                // A connection the listener has not accepted.
                let c = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0);
                check(c.into(), "socket(AF_UNIX)")?;
                check(
                    libc::connect(
                        c,
                        (&addr as *const libc::sockaddr_un).cast(),
                        std::mem::size_of::<libc::sockaddr_un>() as u32,
                    )
                    .into(),
                    "connect",
                )?;
                // Its client sends itself, which the listener has not seen.
                super::unix::send_rights(c, &[0], &[c], None)?;
            }
            "lease_breaking" => {
                // A read lease (carried), which a thread of its own then
                // breaks: it waits in open(2) for writing until the lease
                // goes (45 s, lease-break-time), the lease being broken
                // all that time. The break's SIGIO is ignored.
                let f = std::fs::File::create(&tmp).context("creating the leased file")?;
                drop(f);
                let f = std::fs::File::open(&tmp).context("opening the leased file")?;
                let fd = std::os::fd::IntoRawFd::into_raw_fd(f);
                check(
                    libc::fcntl(fd, libc::F_SETLEASE, libc::F_RDLCK).into(),
                    "fcntl(F_SETLEASE)",
                )?;
                libc::signal(libc::SIGIO, libc::SIG_IGN);
                let path = std::ffi::CString::new(tmp.clone())?;
                std::thread::spawn(move || {
                    // A valid path; the result is not needed.
                    libc::open(path.as_ptr(), libc::O_WRONLY)
                });
                // Breaking: F_GETLEASE reports what the lease is broken to.
                let start = std::time::Instant::now();
                while libc::fcntl(fd, libc::F_GETLEASE) != libc::F_UNLCK {
                    if start.elapsed() > std::time::Duration::from_secs(5) {
                        bail!("the lease was not being broken after 5 s");
                    }
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
            }
            "dnotify" => {
                // A directory of its own (a creation in it would send
                // SIGIO, whose default action ends the process).
                let dir = format!("{tmp}-dir");
                std::fs::create_dir_all(&dir)?;
                let dir = std::ffi::CString::new(dir)?;
                let fd = libc::open(dir.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY);
                check(fd.into(), "open the directory")?;
                // DN_CREATE | DN_MULTISHOT (linux/fcntl.h).
                let events: u32 = 0x4 | 0x8000_0000;
                check(
                    libc::fcntl(fd, libc::F_NOTIFY, events as i32).into(),
                    "fcntl(F_NOTIFY)",
                )?;
            }
            "fown_outside" => {
                // SIGIO to init, which is not in the tree.
                let mut p = [0i32; 2];
                check(libc::pipe(p.as_mut_ptr()).into(), "pipe")?;
                check(
                    libc::fcntl(p[0], libc::F_SETOWN, 1).into(),
                    "fcntl(F_SETOWN)",
                )?;
            }
            "cwd_unmounted" => {
                // Its working directory on a tmpfs, which is then
                // detached (umount -l).
                let dir = format!("{tmp}-cwd");
                std::fs::create_dir_all(&dir)?;
                let c = std::ffi::CString::new(dir.as_str())?;
                let t = c"tmpfs";
                check(
                    libc::mount(t.as_ptr(), c.as_ptr(), t.as_ptr(), 0, std::ptr::null()).into(),
                    "mount tmpfs",
                )?;
                check(libc::chdir(c.as_ptr()).into(), "chdir")?;
                check(
                    libc::umount2(c.as_ptr(), libc::MNT_DETACH).into(),
                    "umount -l",
                )?;
            }
            "inotify_unmounted" | "file_unmounted" => {
                // A file on a tmpfs, which is then detached (umount -l).
                // inotify_unmounted: a watch of it, the tmpfs kept alive
                // by a sibling outside the subtree that holds the file
                // open. file_unmounted: the file held open here.
                let dir = format!("{tmp}-mnt");
                std::fs::create_dir_all(&dir)?;
                let c = std::ffi::CString::new(dir.as_str())?;
                let t = c"tmpfs";
                check(
                    libc::mount(t.as_ptr(), c.as_ptr(), t.as_ptr(), 0, std::ptr::null()).into(),
                    "mount tmpfs",
                )?;
                let file = format!("{dir}/watched");
                let f = std::fs::File::create(&file)?;
                if kind == "inotify_unmounted" {
                    let fd = libc::inotify_init1(0);
                    check(fd.into(), "inotify_init1")?;
                    let cf = std::ffi::CString::new(file.as_str())?;
                    check(
                        libc::inotify_add_watch(fd, cf.as_ptr(), libc::IN_MODIFY).into(),
                        "inotify_add_watch",
                    )?;
                    // The sibling gets a copy of the table, the file in it.
                    let stack = Box::leak(vec![0u8; 64 * 1024].into_boxed_slice());
                    nix::sched::clone(
                        Box::new(|| loop {
                            libc::pause();
                        }),
                        stack,
                        nix::sched::CloneFlags::CLONE_PARENT,
                        Some(libc::SIGCHLD),
                    )
                    .context("clone(CLONE_PARENT)")?;
                    drop(f);
                } else {
                    std::mem::forget(f);
                }
                check(
                    libc::umount2(c.as_ptr(), libc::MNT_DETACH).into(),
                    "umount -l",
                )?;
            }
            "deleted_big" => {
                // 64 MiB long (two bytes of it written), then unlinked.
                let f = std::fs::File::create(&tmp)?;
                f.set_len(64 << 20)?;
                std::os::unix::fs::FileExt::write_all_at(&f, b"x", (32 << 20) + 1)?;
                std::fs::remove_file(&tmp)?;
                std::mem::forget(f);
            }
            "deleted_linked" => {
                // Its name unlinked, another name kept.
                let f = std::fs::File::create(&tmp)?;
                let other = format!("{tmp}-link");
                let _ = std::fs::remove_file(&other);
                std::fs::hard_link(&tmp, &other)?;
                std::fs::remove_file(&tmp)?;
                std::mem::forget(f);
            }
            "files_outside" => {
                // A sibling (CLONE_PARENT), not a child: outside the
                // subtree, sharing this process's file table.
                super::clone_pausing(
                    nix::sched::CloneFlags::CLONE_FILES | nix::sched::CloneFlags::CLONE_PARENT,
                    "CLONE_FILES | CLONE_PARENT",
                )?;
            }
            "unix_peer_outside" => {
                // One end here, the other in a sibling (CLONE_PARENT),
                // outside the subtree.
                let mut sv = [0i32; 2];
                check(
                    libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM, 0, sv.as_mut_ptr()).into(),
                    "socketpair",
                )?;
                let stack = Box::leak(vec![0u8; 64 * 1024].into_boxed_slice());
                let mine = sv[0];
                nix::sched::clone(
                    Box::new(move || {
                        libc::close(mine);
                        loop {
                            libc::pause();
                        }
                    }),
                    stack,
                    nix::sched::CloneFlags::CLONE_PARENT,
                    Some(libc::SIGCHLD),
                )
                .context("clone(CLONE_PARENT)")?;
                libc::close(sv[1]);
            }
            "pty_master_outside" => {
                // The slave here, the master in a sibling (CLONE_PARENT),
                // outside the subtree, as a terminal emulator holds it.
                let (m, sl) = open_pty()?;
                let stack = Box::leak(vec![0u8; 64 * 1024].into_boxed_slice());
                nix::sched::clone(
                    Box::new(move || {
                        libc::close(sl);
                        loop {
                            libc::pause();
                        }
                    }),
                    stack,
                    nix::sched::CloneFlags::CLONE_PARENT,
                    Some(libc::SIGCHLD),
                )
                .context("clone(CLONE_PARENT)")?;
                libc::close(m);
            }
            "pty_other_ldisc" => {
                // N_NULL (27), built in with the tty layer.
                let (_, sl) = open_pty()?;
                let ldisc: libc::c_int = 27;
                check(
                    libc::ioctl(sl, libc::TIOCSETD, &ldisc).into(),
                    "TIOCSETD N_NULL",
                )?;
            }
            "pty_locked_termios" => {
                let (_, sl) = open_pty()?;
                let mut t: libc::termios = std::mem::zeroed();
                t.c_lflag = libc::ECHO;
                check(
                    libc::ioctl(sl, libc::TIOCSLCKTRMIOS, &t).into(),
                    "TIOCSLCKTRMIOS",
                )?;
            }
            "nested_pidns" => {
                // A child in a pid namespace of its own (pid 1 there).
                check(
                    libc::unshare(libc::CLONE_NEWPID).into(),
                    "unshare(CLONE_NEWPID)",
                )?;
                if check(libc::fork().into(), "fork")? == 0 {
                    loop {
                        libc::pause();
                    }
                }
            }
            other => bail!("unknown kind of state {other}"),
        }
    }
    ready(ready_path)
}
