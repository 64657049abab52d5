// SPDX-License-Identifier: GPL-2.0
//! `ckpt inspect`: decode a whole image into a serialisable summary and
//! render it as a table.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

use ckpt_image::{
    DecodeError, ErrorKind, Header, ImageDecoder, Item, TaskEntry, CHECKPOINT_SUBTREE, TASK_ROOT,
    VMA_ANON, VMA_FILE, VMA_VDSO, VMA_VVAR, VM_EXEC, VM_READ, VM_SHARED, VM_WRITE,
};
use serde::Serialize;

/// A decoded image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Image {
    /// The header record.
    pub header: HeaderInfo,
    /// Pid of the root of the checkpointed tree.
    pub root_pid: i32,
    /// The namespaces of a pod (an image of a whole pid namespace).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod: Option<PodInfo>,
    /// The task records, in image order.
    pub tasks: Vec<TaskInfo>,
    /// The saved state of each live task, in image order.
    pub states: Vec<StateInfo>,
    /// The pipes, each saved once with the bytes in flight.
    pub pipes: Vec<PipeInfo>,
    /// The shared memory objects, each saved once.
    pub shmem: Vec<ShmemInfo>,
    /// The SysV shared memory segments of a pod, each saved once.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sysv_shm: Vec<SysvShmInfo>,
    /// The SysV semaphore sets of a pod, each saved once.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sysv_sem: Vec<SysvSemInfo>,
    /// The SysV message queues of a pod, each saved once.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sysv_msg: Vec<SysvMsgInfo>,
    /// The POSIX message queues of a pod, each saved once.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub posix_mq: Vec<PosixMqInfo>,
    /// The eventfds, each saved once.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub eventfds: Vec<EventfdInfo>,
    /// The named pipes, each saved once with the bytes in flight.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fifos: Vec<FifoInfo>,
    /// The timerfds, each saved once.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub timerfds: Vec<TimerfdInfo>,
    /// The signalfds, each saved once.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub signalfds: Vec<SignalfdInfo>,
    /// The epoll sets, each saved once with its items.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub epolls: Vec<EpollInfo>,
    /// The unix socket pairs, each saved once with both ends' queues.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unix_pairs: Vec<UnixPairInfo>,
    /// The unix sockets on their own (not connected), each saved once.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unix_sockets: Vec<UnixSockInfo>,
    /// The TCP, UDP, UDP-Lite, ping and raw sockets, each saved once.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub inet_sockets: Vec<InetSockInfo>,
    /// The packet sockets, each saved once.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub packet_sockets: Vec<PacketSockInfo>,
    /// The memfds, each saved once with its contents.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub memfds: Vec<MemfdInfo>,
    /// The ptys, each saved once with the bytes queued to both sides.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ptys: Vec<PtyInfo>,
    /// The deleted files still open, each saved once with its contents.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub deleted_files: Vec<DeletedInfo>,
    /// The inotify instances, each saved once with its watches and queued
    /// events.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub inotify: Vec<InotifyInfo>,
    /// Size of the image in bytes, tail record included.
    pub bytes: u64,
    /// Number of records, header and tail included.
    pub records: u32,
}

/// The header record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HeaderInfo {
    /// Image format version.
    pub version: u32,
    /// Architecture name (`x86_64`).
    pub arch: String,
    /// The flags `checkpoint(2)` was called with.
    pub flags: u64,
    /// Kernel release (`uname -r`) of the checkpointing kernel.
    pub release: String,
}

/// The namespaces of a pod: the ones it had of its own.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PodInfo {
    /// Its own UTS namespace, with these names.
    pub uts: Option<UtsInfo>,
    /// Its own IPC namespace.
    pub ipc: bool,
    /// Its own cgroup namespace, rooted at its job cgroup.
    pub cgroup: bool,
    /// That namespace's sysctls, as `name=value`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ipc_sysctls: Vec<String>,
    /// Its own mount namespace: its checkpointer's mounts and private
    /// tmpfs mounts.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub mnt: bool,
    /// Those tmpfs mounts and what they hold.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<PodMountInfo>,
    /// Its own network namespace: its loopback device.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub net: Option<PodNetInfo>,
}

/// The loopback device of a pod's own network namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PodNetInfo {
    /// Whether it is up.
    pub lo_up: bool,
    /// Its MTU.
    pub lo_mtu: u32,
    /// `net.ipv4.ping_group_range`: the groups that may open ping
    /// sockets in it (none in a new namespace).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ping_group_range: Option<(u32, u32)>,
}

/// A private tmpfs mount of a pod.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PodMountInfo {
    /// Object id.
    pub id: u32,
    /// Its mount point.
    pub path: String,
    /// Its mount options, as `mount` shows them.
    pub options: Vec<String>,
    /// Directories, the root included.
    pub dirs: u64,
    /// Regular files.
    pub files: u64,
    /// Other names of regular files (hard links).
    pub links: u64,
    /// Symbolic links.
    pub symlinks: u64,
    /// Named pipes.
    pub fifos: u64,
    /// The regular files' sizes, summed.
    pub bytes: u64,
    /// Pages of contents saved (holes are not).
    pub pages: u64,
}

/// A UTS namespace's names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UtsInfo {
    /// `uname -n`.
    pub hostname: String,
    /// The NIS domain name.
    pub domainname: String,
}

/// One task record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TaskInfo {
    pub pid: i32,
    pub tgid: i32,
    pub ppid: i32,
    pub sid: i32,
    pub pgid: i32,
    /// A thread other than its thread group's leader.
    pub thread: bool,
    /// A zombie; `exit_code` is its wait status.
    pub zombie: bool,
    /// The root of the checkpointed tree.
    pub root: bool,
    pub exit_code: i32,
    pub exit_signal: i32,
    /// Command name; bytes that are not UTF-8 become U+FFFD.
    pub comm: String,
}

/// The saved state of one live task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Default)]
pub struct StateInfo {
    pub pid: i32,
    pub rip: u64,
    pub rsp: u64,
    pub rax: u64,
    pub orig_rax: u64,
    pub fs_base: u64,
    /// Size of the XSAVE buffer.
    pub xstate_size: u32,
    /// `xstate_bv`: the FPU state components in use.
    pub xfeatures: u64,
    /// The memory map, for thread group leaders.
    pub mm: Option<MmInfo>,
    /// Open files, working directory and umask, for thread group leaders.
    pub files: Option<FilesInfo>,
    /// Its controlling terminal, if it is a pty the image carries: the
    /// pty's object id and the foreground process group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ctty: Option<(u32, i32)>,
    /// The process whose open file table it uses (`CLONE_FILES`), if not
    /// its own: its descriptors are listed with that process.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fd_table_of: Option<i32>,
    /// The process whose working and root directories and umask it uses
    /// (`CLONE_FS`), if not its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fs_of: Option<i32>,
    /// How the interrupted system call resumes, if it needs more than a
    /// plain restart (an interrupted nanosleep or poll and the time left).
    pub resume: Option<String>,
    /// The registered rseq area, if any.
    pub rseq: Option<String>,
    /// How it is scheduled (policy, priority, nice, slack, CPUs, and its
    /// process's oom_score_adj and THP opt-out), if saved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sched: Option<String>,
    /// The process's cgroup below its tree's job cgroup (`/a/b`), if it
    /// is not the job itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<String>,
    /// The process's POSIX timers, one line each, and the id its next
    /// timer_create(2) tries first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub posix_timers: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_timer_id: Option<i32>,
    /// The process's `SEM_UNDO` adjustments: (SysV set id, one per
    /// semaphore).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sem_undo: Vec<(i32, Vec<i16>)>,
    /// The process's auxiliary vector (`/proc/PID/auxv`): (type, value)
    /// pairs before `AT_NULL`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub auxv: Vec<(u64, u64)>,
    /// Blocked signals (bit n-1 for signal n), hexadecimal.
    pub blocked: String,
    /// Signals pending for this thread, hexadecimal.
    pub pending: String,
    /// The alternate signal stack (`sp+size`), if set.
    pub altstack: Option<String>,
    /// Signals pending for the whole process (leaders), hexadecimal.
    pub shared_pending: Option<String>,
    /// Signals whose action is not the default (leaders): `N:ignore` or
    /// `N:handler`.
    pub handlers: Vec<String>,
}

/// Saved open files.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Default)]
pub struct FilesInfo {
    pub umask: u32,
    pub cwd: String,
    pub root: String,
    pub fds: Vec<FdInfo>,
    /// The locks the process holds.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub locks: Vec<LockInfo>,
}

/// One saved file lock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LockInfo {
    /// Object id of the open file it is set through.
    pub file: u32,
    /// `posix`, `ofd`, `flock` or `lease`.
    pub kind: String,
    /// `read` or `write`.
    #[serde(rename = "type")]
    pub lock_type: String,
    /// First byte.
    pub start: i64,
    /// Last byte, included; `None`: to the end of the file.
    pub end: Option<i64>,
}

/// One saved SysV message queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SysvMsgInfo {
    /// Object id.
    pub id: u32,
    /// Its SysV id.
    pub msqid: i32,
    /// Its key.
    pub key: i32,
    /// Permission bits.
    pub mode: u32,
    /// Its limit in bytes.
    pub qbytes: u64,
    /// Each message's type and length, oldest first.
    pub messages: Vec<(i64, u32)>,
}

/// One saved POSIX message queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PosixMqInfo {
    /// Object id.
    pub id: u32,
    /// Its name, with the leading `/`.
    pub name: String,
    /// Whether `mq_unlink(3)` removed it (its name is the one it had).
    pub unlinked: bool,
    /// Permission bits.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// `mq_maxmsg` and `mq_msgsize`.
    pub maxmsg: i64,
    pub msgsize: i64,
    /// Each message's priority and length, in the order `mq_receive(3)`
    /// takes them.
    pub messages: Vec<(i64, u32)>,
}

/// One saved SysV semaphore set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SysvSemInfo {
    /// Object id.
    pub id: u32,
    /// Its SysV id.
    pub semid: i32,
    /// Its key.
    pub key: i32,
    /// Permission bits.
    pub mode: u32,
    /// Owner and creator ids.
    pub uid: u32,
    pub gid: u32,
    pub cuid: u32,
    pub cgid: u32,
    /// Each semaphore's value.
    pub values: Vec<i32>,
    /// Each semaphore's last changer's pid.
    pub pids: Vec<i32>,
}

/// One saved SysV shared memory segment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SysvShmInfo {
    /// Object id.
    pub id: u32,
    /// Its SysV id.
    pub shmid: i32,
    /// Its key.
    pub key: i32,
    /// Permission bits.
    pub mode: u32,
    /// Removed (`IPC_RMID`) while attached.
    pub removed: bool,
    /// Owner and creator ids.
    pub uid: u32,
    pub gid: u32,
    pub cuid: u32,
    pub cgid: u32,
    /// Creator's and last operator's pids.
    pub cpid: i32,
    pub lpid: i32,
    /// Size in bytes.
    pub size: u64,
    /// Attachments at the checkpoint.
    pub nattch: u64,
    /// Pages whose contents are saved.
    pub pages: u64,
}

/// One saved shared memory object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ShmemInfo {
    /// Object id.
    pub id: u32,
    /// Size in bytes.
    pub size: u64,
    /// Pages whose contents are saved.
    pub pages: u64,
}

/// One saved pipe.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PipeInfo {
    /// Object id.
    pub id: u32,
    /// Capacity in bytes.
    pub capacity: u32,
    /// The bytes in flight.
    pub bytes: u32,
}

/// One saved eventfd.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EventfdInfo {
    /// Object id.
    pub id: u32,
    /// The count a read returns (1 at a time in semaphore mode).
    pub count: u64,
    /// `EFD_SEMAPHORE`.
    pub semaphore: bool,
}

/// One saved named pipe.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FifoInfo {
    /// Object id.
    pub id: u32,
    /// Its path.
    pub path: String,
    /// Capacity in bytes.
    pub capacity: u32,
    /// The bytes in flight.
    pub bytes: u32,
}

/// One saved timerfd.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TimerfdInfo {
    /// Object id.
    pub id: u32,
    /// Its clock id.
    pub clockid: i32,
    /// Expirations not read yet.
    pub ticks: u64,
    /// Nanoseconds to the next expiration (0: disarmed).
    pub value_ns: i64,
    /// Nanoseconds between expirations (0: one-shot).
    pub interval_ns: i64,
}

/// One saved epoll set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EpollInfo {
    /// Object id.
    pub id: u32,
    /// The files it watches.
    pub items: Vec<EpollItemInfo>,
}

/// One item of a saved epoll set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EpollItemInfo {
    /// Object id of the watched open file.
    pub file: u32,
    /// The descriptor number it was added under.
    pub fd: i32,
    /// Its events (`EPOLL*` bits), hexadecimal as in /proc/PID/fdinfo.
    pub events: String,
    /// The data epoll_wait(2) returns with it.
    pub data: u64,
    /// On the ready list when saved.
    pub ready: bool,
}

/// One saved pair of connected unix sockets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UnixPairInfo {
    /// Object id.
    pub id: u32,
    /// `stream`, `dgram` or `seqpacket`.
    #[serde(rename = "type")]
    pub sock_type: String,
    /// End 0 and end 1.
    pub ends: [UnixEndInfo; 2],
}

/// One saved memfd.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MemfdInfo {
    /// Object id.
    pub id: u32,
    /// Its name (`memfd:` and what memfd_create(2) was given).
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its seals (`F_SEAL_*`), hexadecimal.
    pub seals: String,
    /// Pages whose contents are saved.
    pub pages: u64,
}

/// One saved deleted file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DeletedInfo {
    /// Object id.
    pub id: u32,
    /// Where it was (its directory and last name).
    pub path: String,
    /// Whether it never had a name (`O_TMPFILE`).
    pub tmpfile: bool,
    /// Its size in bytes.
    pub size: u64,
    /// Pages whose contents are saved.
    pub pages: u64,
}

/// One saved inotify instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InotifyInfo {
    /// Object id.
    pub id: u32,
    /// Its watches.
    pub watches: Vec<InotifyWatchInfo>,
    /// Events queued and not read yet.
    pub events: u32,
    /// Whether an `IN_Q_OVERFLOW` is among them.
    pub overflow: bool,
}

/// One watch of an inotify instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InotifyWatchInfo {
    /// Its watch descriptor.
    pub wd: i32,
    /// Its mask, hexadecimal.
    pub mask: String,
    /// The watched file.
    pub path: String,
}

/// One saved pty.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PtyInfo {
    /// Object id.
    pub id: u32,
    /// Its number: the slave is /dev/pts/<index>.
    pub index: u32,
    /// `locked`, `packet`, `slave-closed`, `exclusive`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
    /// The slave's window size, rows x columns.
    pub winsize: String,
    /// Whether the slave is in canonical (line) mode.
    pub canonical: bool,
    /// Bytes queued to the master's reader (what the slave wrote).
    pub to_master: u32,
    /// Bytes queued to the slave's reader (what the master wrote).
    pub to_slave: u32,
}

/// One saved unix socket on its own.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UnixSockInfo {
    /// Object id.
    pub id: u32,
    /// `stream`, `dgram` or `seqpacket`.
    #[serde(rename = "type")]
    pub sock_type: String,
    /// Its state.
    #[serde(flatten)]
    pub end: UnixEndInfo,
    /// It listens, with this backlog.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listening: Option<u32>,
    /// The connections waiting for it to accept them, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<UnixPendingInfo>,
}

/// A TCP, UDP, UDP-Lite, ping or raw socket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InetSockInfo {
    /// Object id.
    pub id: u32,
    /// `tcp`, `udp`, `udplite`, `icmp` (a ping socket) or `raw`, with `6`
    /// for IPv6 (as ss(8) and /proc/net name them).
    pub proto: String,
    /// Its local address and port (`127.0.0.1:8080`, `[::]:53`; port 0
    /// when it has none; a ping socket's is its echo identifier, a raw
    /// socket's its protocol, as ss(8) shows them).
    pub local: String,
    /// The address and port it is connected to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote: Option<String>,
    /// It listens, with this backlog.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listening: Option<u32>,
    /// Its local address was bound by bind(2).
    pub addr_bound: bool,
    /// Its local port was picked by the kernel, not asked for.
    pub port_picked: bool,
    /// The device it is bound to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// Its shutdown bits (1 reading, 2 writing).
    pub shutdown: u32,
    /// The datagrams queued to it (not a TCP socket), each `from
    /// ADDR:PORT, N bytes` (no port but UDP's).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub queued: Vec<String>,
    /// A TCP connection's state, established or closing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection: Option<TcpConnInfo>,
    /// Its connect(2) is under way (SYN-SENT): restart connects it again.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub connecting: bool,
    /// A connection waiting to be accepted: its listener's object id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting_on: Option<u32>,
    /// The options saved, by name.
    pub options: BTreeMap<String, i64>,
    /// Its classic BPF filter (`SO_ATTACH_FILTER`): how many instructions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<u32>,
    /// Its filter is locked (`SO_LOCK_FILTER`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub filter_locked: bool,
    /// The multicast groups it joined, each `GROUP on device N`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
}

/// What `ckpt inspect` shows of a TCP connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TcpConnInfo {
    /// Its state as `ss` names it: `ESTAB`, `FIN-WAIT-1`, `FIN-WAIT-2`,
    /// `CLOSE-WAIT`, `LAST-ACK` or `CLOSING`.
    pub state: &'static str,
    /// Bytes sent and not acknowledged.
    pub unacked: u32,
    /// Bytes written and not sent yet.
    pub unsent: u32,
    /// Bytes received and not read.
    pub unread: u32,
    /// The MSS the peer announced.
    pub mss: u32,
    /// SACK negotiated.
    pub sack: bool,
    /// Timestamps negotiated.
    pub timestamps: bool,
    /// The window scales (sending, receiving), if negotiated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wscale: Option<(u32, u32)>,
    /// Its urgent data (`MSG_OOB`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub urgent: Option<TcpUrgentInfo>,
}

/// A packet socket in an image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PacketSockInfo {
    pub id: u32,
    /// `raw` (frames with their link-layer header) or `dgram`.
    #[serde(rename = "type")]
    pub sock_type: &'static str,
    /// The protocol whose frames it takes (`ETH_P_*`, as `0x0800`), if
    /// any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// The device it is bound to (none: every one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// Frames it took, and dropped, that `PACKET_STATISTICS` has not
    /// given yet.
    pub packets: u32,
    pub drops: u32,
    /// Its options that differ from a new socket's, by name.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<(String, i64)>,
    /// Its classic BPF filter's length in instructions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<u32>,
    /// The frames queued to it, each `N bytes, protocol 0x0800, device
    /// D, PKTTYPE`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub queued: Vec<String>,
}

impl PacketSockInfo {
    fn of(s: &ckpt_image::PacketSockObj, d: &ckpt_image::PacketSockData<'_>) -> Self {
        let pkttype = |t: u32| match t {
            0 => "to this host",
            1 => "broadcast",
            2 => "multicast",
            3 => "to another host",
            4 => "sent",
            _ => "other",
        };
        Self {
            id: s.id,
            sock_type: if s.sock_type == ckpt_image::INET_SOCK_RAW {
                "raw"
            } else {
                "dgram"
            },
            protocol: (s.protocol != 0).then(|| format!("{:#06x}", s.protocol)),
            device: (!s.dev_str().is_empty()).then(|| s.dev_str().to_owned()),
            packets: s.tp_packets,
            drops: s.tp_drops,
            options: d
                .opts
                .iter()
                .filter_map(|o| Some((ckpt_image::inet_opt_def(o.opt)?.name.to_owned(), o.value)))
                .collect(),
            filter: (s.nr_filter != 0).then_some(s.nr_filter),
            queued: d
                .frames()
                .map(|(f, _)| {
                    format!(
                        "{} bytes, protocol {:#06x}, device {}, {}",
                        f.len,
                        f.protocol,
                        f.ifindex,
                        pkttype(f.pkttype)
                    )
                })
                .collect(),
        }
    }

    /// One line for the socket.
    pub fn text(&self) -> String {
        let mut out = format!("packet {}", self.sock_type);
        match &self.protocol {
            Some(p) => out.push_str(&format!(", protocol {p}")),
            None => out.push_str(", no protocol"),
        }
        match &self.device {
            Some(d) => out.push_str(&format!(" on {d}")),
            None => out.push_str(" on every device"),
        }
        if !self.queued.is_empty() {
            out.push_str(&format!(", {} frames queued", self.queued.len()));
        }
        if let Some(n) = self.filter {
            out.push_str(&format!(", a classic BPF filter of {n} instructions"));
        }
        out
    }
}

/// The urgent data of a TCP connection in an image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TcpUrgentInfo {
    /// The peer's: its byte not taken yet, taken, or to come.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
    /// The program's, not acknowledged: how many bytes of its send queue
    /// go up to its urgent byte, counting it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sent: Option<u32>,
}

impl TcpUrgentInfo {
    fn of(c: &ckpt_image::InetTcpConn) -> Option<Self> {
        let at = c.urg_offset();
        let peer = match c.flags & ckpt_image::TCP_CONN_URG_IN {
            ckpt_image::TCP_CONN_URG_VALID => Some(format!(
                "byte {:#04x} at {at} of the bytes not read, not taken yet",
                c.urg_byte
            )),
            ckpt_image::TCP_CONN_URG_READ => {
                Some(format!("taken with MSG_OOB, at {at} of the bytes not read"))
            }
            ckpt_image::TCP_CONN_URG_NOTYET => Some("its pointer came, its byte not yet".into()),
            _ => None,
        };
        let sent = (c.flags & ckpt_image::TCP_CONN_URG_OUT != 0).then(|| c.urg_out_offset());
        (peer.is_some() || sent.is_some()).then_some(Self { peer, sent })
    }
}

impl InetSockInfo {
    fn of(s: &ckpt_image::InetSockObj, d: &ckpt_image::InetSockData<'_>) -> Self {
        let kind = s.kind();
        let proto = kind.map_or("?", |k| k.name());
        let udp = matches!(
            kind,
            Some(ckpt_image::InetKind::Udp | ckpt_image::InetKind::UdpLite)
        );
        let lport = match kind {
            Some(ckpt_image::InetKind::Raw(p)) => u32::from(p),
            _ => s.lport,
        };
        let v6 = s.family == ckpt_image::AF_INET6;
        let addr = |a: &[u8; 16], port: u32| {
            if v6 {
                format!("[{}]:{port}", std::net::Ipv6Addr::from(*a))
            } else {
                format!("{}.{}.{}.{}:{port}", a[0], a[1], a[2], a[3])
            }
        };
        Self {
            id: s.id,
            proto: format!("{proto}{}", if v6 { "6" } else { "" }),
            local: addr(&s.laddr, lport),
            remote: (s.flags & (ckpt_image::INET_CONNECTED | ckpt_image::INET_CONNECTING) != 0)
                .then(|| addr(&s.raddr, s.rport)),
            connecting: s.flags & ckpt_image::INET_CONNECTING != 0,
            listening: (s.flags & ckpt_image::INET_LISTENING != 0).then_some(s.backlog),
            addr_bound: s.flags & ckpt_image::INET_BOUND_ADDR != 0,
            port_picked: s.flags & ckpt_image::INET_PORT_PICKED != 0,
            device: (!s.dev_str().is_empty()).then(|| s.dev_str().to_owned()),
            shutdown: s.shutdown,
            queued: d
                .dgrams()
                .map(|(g, p)| {
                    let mut from = if g.family == ckpt_image::AF_INET6 {
                        format!("[{}]", std::net::Ipv6Addr::from(g.saddr))
                    } else {
                        let a = g.saddr;
                        format!("{}.{}.{}.{}", a[0], a[1], a[2], a[3])
                    };
                    if udp {
                        from.push_str(&format!(":{}", g.sport));
                    }
                    format!("from {from}, {} bytes", p.len())
                })
                .collect(),
            waiting_on: None,
            connection: d.tcp.map(|(c, _, _)| TcpConnInfo {
                state: c.state_name(),
                unacked: c.sent_len(),
                unsent: c.send_len() - c.sent_len(),
                unread: c.recv_len(),
                mss: c.mss_clamp,
                sack: c.flags & ckpt_image::TCP_CONN_SACK != 0,
                timestamps: c.flags & ckpt_image::TCP_CONN_TSTAMP != 0,
                wscale: (c.flags & ckpt_image::TCP_CONN_WSCALE != 0)
                    .then_some((c.snd_wscale, c.rcv_wscale)),
                urgent: TcpUrgentInfo::of(&c),
            }),
            options: d
                .opts
                .iter()
                .filter_map(|o| Some((ckpt_image::inet_opt_def(o.opt)?.name.to_owned(), o.value)))
                .collect(),
            filter: (s.nr_filter != 0).then_some(s.nr_filter),
            filter_locked: s.flags & ckpt_image::INET_FILTER_LOCKED != 0,
            groups: d
                .groups()
                .map(|g| {
                    let a = g.addr;
                    let group = if v6 {
                        std::net::Ipv6Addr::from(a).to_string()
                    } else {
                        format!("{}.{}.{}.{}", a[0], a[1], a[2], a[3])
                    };
                    format!("{group} on device {}", g.ifindex)
                })
                .collect(),
        }
    }

    /// One line of text: `tcp 127.0.0.1:8080, listening, backlog 5`.
    fn text(&self) -> String {
        let mut out = format!("{} {}", self.proto, self.local);
        if let Some(r) = &self.remote {
            let how = if self.connecting {
                "connecting (SYN-SENT) to"
            } else {
                "connected to"
            };
            out.push_str(&format!(" {how} {r}"));
        }
        if let Some(b) = self.listening {
            out.push_str(&format!(", listening, backlog {b}"));
        }
        if !self.queued.is_empty() {
            out.push_str(&format!(", {} datagrams queued", self.queued.len()));
        }
        if let Some(l) = self.waiting_on {
            out.push_str(&format!(", waiting to be accepted by socket {l}"));
        }
        if let Some(c) = &self.connection {
            let state = if c.state == "ESTAB" {
                "established"
            } else {
                c.state
            };
            out.push_str(&format!(
                ", {state}: {} bytes unacknowledged, {} not sent, {} not read",
                c.unacked, c.unsent, c.unread
            ));
            if let Some(u) = &c.urgent {
                if let Some(p) = &u.peer {
                    out.push_str(&format!(", the peer's urgent byte: {p}"));
                }
                if let Some(n) = u.sent {
                    out.push_str(&format!(
                        ", urgent data sent up to byte {n} of the send queue"
                    ));
                }
            }
        }
        if let Some(d) = &self.device {
            out.push_str(&format!(", bound to device {d}"));
        }
        match (self.filter, self.filter_locked) {
            (Some(n), locked) => out.push_str(&format!(
                ", a classic BPF filter of {n} instructions{}",
                if locked { ", locked" } else { "" }
            )),
            (None, true) => out.push_str(", filters locked out"),
            (None, false) => {}
        }
        if !self.groups.is_empty() {
            out.push_str(&format!(", in multicast groups {}", self.groups.join(", ")));
        }
        if !self.options.is_empty() {
            let opts: Vec<String> = self
                .options
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            out.push_str(&format!(", {}", opts.join(" ")));
        }
        out
    }
}

/// A connection waiting to be accepted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UnixPendingInfo {
    /// Object id (its client's open file names it).
    pub id: u32,
    /// Its client's state; the messages are those it sent.
    #[serde(flatten)]
    pub client: UnixEndInfo,
}

/// One end of a saved unix socket pair.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UnixEndInfo {
    /// The end was closed (only its peer is open).
    pub closed: bool,
    /// Messages queued to it, not read yet.
    pub messages: u32,
    /// Their bytes.
    pub bytes: u32,
    /// `rd`, `wr`, `rdwr` or empty.
    pub shutdown: String,
    /// `SO_PASSCRED` is on.
    pub passcred: bool,
    /// Its address (a path, or `@` and an abstract name), if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Whether it bound the address itself (an accepted socket shares its
    /// listener's).
    pub bound: bool,
    /// The open files in flight in its messages (`SCM_RIGHTS`), by object
    /// id, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub in_flight: Vec<u32>,
}

impl UnixEndInfo {
    /// `, N descriptors in flight (#a, #b)`, or nothing.
    fn in_flight_text(&self) -> String {
        if self.in_flight.is_empty() {
            return String::new();
        }
        let ids: Vec<String> = self.in_flight.iter().map(|i| format!("#{i}")).collect();
        format!(
            ", {} descriptor{} in flight ({})",
            ids.len(),
            if ids.len() == 1 { "" } else { "s" },
            ids.join(", ")
        )
    }
}

/// One saved signalfd.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SignalfdInfo {
    /// Object id.
    pub id: u32,
    /// The signals it reads (bit `n - 1` for signal `n`).
    pub mask: u64,
}

/// One saved file descriptor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FdInfo {
    pub fd: u32,
    /// Object id of the open file: descriptors (of any task) with the
    /// same id share one open file.
    pub file: u32,
    pub cloexec: bool,
    pub deleted: bool,
    /// `f_flags` (open flags), octal as in /proc/PID/fdinfo.
    pub flags: String,
    /// `file`, `chr`, `dir`, `fifo`, `socket`, `pipe`, `eventfd` or `other`.
    pub kind: String,
    pub pos: i64,
    pub path: String,
    /// For a pipe end: the pipe's object id.
    pub pipe: Option<u32>,
    /// For an eventfd: its object id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eventfd: Option<u32>,
    /// For a signalfd: its object id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signalfd: Option<u32>,
    /// For a named pipe: its object id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fifo: Option<u32>,
    /// For a timerfd: its object id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timerfd: Option<u32>,
    /// For an epoll set: its object id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epoll: Option<u32>,
    /// For a memfd's open file: the memfd's object id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memfd: Option<u32>,
    /// For a unix socket: its pair's object id and which end (0 or 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unix: Option<(u32, u8)>,
    /// For a TCP, UDP, UDP-Lite, ping or raw socket: its object id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inet: Option<u32>,
    /// For a packet socket: its object id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub packet: Option<u32>,
    /// For a pty end: its pty's object id and which end (0 master, 1
    /// slave).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pty: Option<(u32, u8)>,
    /// For an open file of a deleted file: its object id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted_file: Option<u32>,
    /// For a pidfd: the pid it refers to, and whether it is a thread's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pidfd: Option<(i32, bool)>,
    /// For an inotify instance: its object id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inotify: Option<u32>,
    /// How the open file signals its I/O (`O_ASYNC`, `F_SETOWN`,
    /// `F_SETSIG`), if it does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signals: Option<String>,
}

/// A saved memory map.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Default)]
pub struct MmInfo {
    /// The executable (/proc/PID/exe).
    pub exe: String,
    pub start_brk: u64,
    pub brk: u64,
    pub start_stack: u64,
    pub vdso: u64,
    pub vmas: Vec<VmaInfo>,
    /// Number of pages whose contents are saved.
    pub pages: u64,
    /// The process whose memory this one starts from at restart (its
    /// parent, restored first), or none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<i32>,
    /// Pages it shares copy-on-write with that process: saved once, with
    /// it.
    #[serde(skip_serializing_if = "is_zero")]
    pub shared: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One saved VMA.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VmaInfo {
    pub start: u64,
    pub end: u64,
    /// `rwxp` or `rwxs`, as in /proc/PID/maps.
    pub perms: String,
    /// Offset in the file, in bytes.
    pub offset: u64,
    /// `anon`, `file`, `vdso`, `vvar` or `special`.
    pub kind: String,
    /// The file's path, or `[stack]`/`[heap]`-style names as in /proc/PID/maps.
    pub name: String,
    /// Its `vm_flags`, in hex (`/proc/PID/smaps`'s VmFlags, as bits).
    pub vm_flags: String,
    /// Pages of this VMA whose contents are saved.
    pub pages: u64,
    /// Pages of this VMA shared with the process the memory comes from.
    #[serde(skip_serializing_if = "is_zero")]
    pub shared: u64,
}

impl VmaInfo {
    fn new(v: &ckpt_image::Vma, path: &[u8], mm: &MmInfo) -> Self {
        let bit = |f: u64, c: char| if v.flags & f != 0 { c } else { '-' };
        let perms = format!(
            "{}{}{}{}",
            bit(VM_READ, 'r'),
            bit(VM_WRITE, 'w'),
            bit(VM_EXEC, 'x'),
            if v.flags & VM_SHARED != 0 { 's' } else { 'p' }
        );
        let kind = match v.kind {
            VMA_ANON => "anon",
            VMA_FILE => "file",
            VMA_VDSO => "vdso",
            VMA_VVAR => "vvar",
            ckpt_image::VMA_SHMEM => "shmem",
            ckpt_image::VMA_SYSV_SHM => "sysv-shm",
            _ => "special",
        };
        let name = match v.kind {
            VMA_FILE => String::from_utf8_lossy(path).into_owned(),
            ckpt_image::VMA_SHMEM => format!("[shared memory #{}]", v.obj),
            ckpt_image::VMA_SYSV_SHM => format!("[SysV segment #{}]", v.obj),
            VMA_VDSO => "[vdso]".to_owned(),
            VMA_VVAR => "[vvar]".to_owned(),
            // The rules of /proc/PID/maps.
            _ if v.start < mm.brk && v.end > mm.start_brk => "[heap]".to_owned(),
            _ if v.start <= mm.start_stack && v.end >= mm.start_stack => "[stack]".to_owned(),
            _ => String::new(),
        };
        Self {
            start: v.start,
            end: v.end,
            perms,
            vm_flags: format!("{:#x}", v.flags),
            // /proc/PID/maps shows an offset for file mappings only.
            offset: if v.kind == VMA_FILE || v.kind == ckpt_image::VMA_SHMEM {
                v.pgoff.saturating_mul(ckpt_image::PAGE_SIZE as u64)
            } else {
                0
            },
            kind: kind.to_owned(),
            name,
            pages: 0,
            shared: 0,
        }
    }
}

impl From<&Header> for HeaderInfo {
    fn from(h: &Header) -> Self {
        Self {
            version: h.version,
            // The decoder accepts no other architecture.
            arch: "x86_64".to_owned(),
            flags: h.flags,
            release: h.release_str().to_owned(),
        }
    }
}

impl From<&TaskEntry> for TaskInfo {
    fn from(t: &TaskEntry) -> Self {
        let comm = t.comm.split(|&b| b == 0).next().unwrap_or_default();
        Self {
            pid: t.pid,
            tgid: t.tgid,
            ppid: t.ppid,
            sid: t.sid,
            pgid: t.pgid,
            thread: t.is_thread(),
            zombie: t.is_zombie(),
            root: t.flags & TASK_ROOT != 0,
            exit_code: t.exit_code,
            exit_signal: t.exit_signal,
            comm: String::from_utf8_lossy(comm).into_owned(),
        }
    }
}

impl TaskInfo {
    /// `leader`, `thread` or `zombie(…)` with the decoded wait status.
    pub fn state(&self) -> String {
        if self.zombie {
            let status = self.exit_code;
            let (sig, core) = (status & 0x7f, status & 0x80 != 0);
            if sig == 0 {
                format!("zombie(exit {})", (status >> 8) & 0xff)
            } else {
                format!("zombie(signal {sig}{})", if core { ", core" } else { "" })
            }
        } else if self.thread {
            "thread".to_owned()
        } else {
            "leader".to_owned()
        }
    }
}

/// Decodes a complete image.
pub fn parse(buf: &[u8]) -> Result<Image, DecodeError> {
    let (mut header, mut forest, mut tail) = (None, None, None);
    let mut tasks = Vec::new();
    let mut states: Vec<StateInfo> = Vec::new();
    let mut pipes = Vec::new();
    let mut shmem = Vec::new();
    let mut sysv_shm: Vec<SysvShmInfo> = Vec::new();
    let mut sysv_sem: Vec<SysvSemInfo> = Vec::new();
    let mut sysv_msg: Vec<SysvMsgInfo> = Vec::new();
    let mut posix_mq: Vec<PosixMqInfo> = Vec::new();
    let mut eventfds = Vec::new();
    let mut signalfds = Vec::new();
    let mut fifos = Vec::new();
    let mut unix_pairs = Vec::new();
    let mut unix_sockets = Vec::new();
    let mut inet_sockets = Vec::new();
    let mut packet_sockets = Vec::new();
    let mut memfds: Vec<MemfdInfo> = Vec::new();
    let mut ptys = Vec::new();
    let mut deleted_files: Vec<DeletedInfo> = Vec::new();
    let mut pidfds: Vec<(u32, i32, bool)> = Vec::new();
    let mut inotify: Vec<InotifyInfo> = Vec::new();
    let mut epolls = Vec::new();
    let mut timerfds = Vec::new();
    let mut pod = None;
    // Open files by object id: an fd shows the file it refers to.
    let mut files_by_id: HashMap<u32, FdInfo> = HashMap::new();
    // The regular files of pod mounts, whose contents follow them.
    let mut tmpfs_files: std::collections::HashSet<u32> = std::collections::HashSet::new();
    for item in ImageDecoder::new(buf) {
        match item? {
            Item::Header(h) => header = Some(h),
            Item::Forest(f) => forest = Some(f),
            Item::Task(t) => tasks.push(TaskInfo::from(&t)),
            Item::Pod(p) => {
                pod = Some(PodInfo {
                    uts: (p.flags & ckpt_image::POD_NEWUTS != 0).then(|| UtsInfo {
                        hostname: p.nodename_str().to_owned(),
                        domainname: p.domainname_str().to_owned(),
                    }),
                    ipc: p.flags & ckpt_image::POD_NEWIPC != 0,
                    cgroup: p.flags & ckpt_image::POD_NEWCGROUP != 0,
                    ipc_sysctls: Vec::new(),
                    mnt: p.flags & ckpt_image::POD_NEWNS != 0,
                    mounts: Vec::new(),
                    net: None,
                })
            }
            Item::PodNet(n) => {
                if let Some(p) = pod.as_mut() {
                    p.net = Some(PodNetInfo {
                        lo_up: n.lo_flags & ckpt_image::LO_UP != 0,
                        lo_mtu: n.lo_mtu,
                        ping_group_range: (n.ping_gid_low <= n.ping_gid_high)
                            .then_some((n.ping_gid_low, n.ping_gid_high)),
                    });
                }
            }
            Item::PodMount(m, path) => {
                if let Some(p) = pod.as_mut() {
                    let mut options = vec![
                        format!("size={}", m.size),
                        format!("nr_inodes={}", m.nr_inodes),
                    ];
                    for (bit, name) in ckpt_image::POD_MOUNT_FLAG_NAMES {
                        if m.flags & bit != 0 {
                            options.push(name.to_owned());
                        }
                    }
                    p.mounts.push(PodMountInfo {
                        id: m.id,
                        path: String::from_utf8_lossy(path).into_owned(),
                        options,
                        ..Default::default()
                    });
                }
            }
            Item::TmpfsFile(f, _, _) => {
                if let Some(m) = pod.as_mut().and_then(|p| p.mounts.last_mut()) {
                    match f.kind {
                        ckpt_image::TMPFS_DIR => m.dirs += 1,
                        ckpt_image::TMPFS_REG => {
                            m.files += 1;
                            m.bytes += f.size;
                            tmpfs_files.insert(f.id);
                        }
                        ckpt_image::TMPFS_LINK => m.links += 1,
                        ckpt_image::TMPFS_SYMLINK => m.symlinks += 1,
                        _ => m.fifos += 1,
                    }
                }
            }
            Item::PodIpc(r) => {
                if let Some(p) = pod.as_mut() {
                    p.ipc_sysctls = vec![
                        format!("kernel.shmmax={}", r.shmmax),
                        format!("kernel.shmall={}", r.shmall),
                        format!("kernel.shmmni={}", r.shmmni),
                        format!("kernel.shm_rmid_forced={}", r.shm_rmid_forced),
                        format!("kernel.msgmax={}", r.msgmax),
                        format!("kernel.msgmnb={}", r.msgmnb),
                        format!("kernel.msgmni={}", r.msgmni),
                        format!(
                            "kernel.sem={} {} {} {}",
                            r.sem[0], r.sem[1], r.sem[2], r.sem[3]
                        ),
                        format!("fs.mqueue.queues_max={}", r.mq[0]),
                        format!("fs.mqueue.msg_max={}", r.mq[1]),
                        format!("fs.mqueue.msgsize_max={}", r.mq[2]),
                        format!("fs.mqueue.msg_default={}", r.mq[3]),
                        format!("fs.mqueue.msgsize_default={}", r.mq[4]),
                        format!("kernel.sem_next_id={}", r.next_id[0]),
                        format!("kernel.msg_next_id={}", r.next_id[1]),
                        format!("kernel.shm_next_id={}", r.next_id[2]),
                    ];
                }
            }
            Item::TaskState(t) => states.push(StateInfo {
                pid: t.pid,
                ..Default::default()
            }),
            Item::Regs(r) => {
                if let Some(s) = states.last_mut() {
                    (s.rip, s.rsp, s.rax, s.orig_rax) = (r.ip(), r.sp(), r.ax(), r.orig_ax());
                    s.fs_base = r.0[21];
                }
            }
            Item::Xstate(h, _) => {
                if let Some(s) = states.last_mut() {
                    (s.xstate_size, s.xfeatures) = (h.size, h.xfeatures);
                }
            }
            Item::Mm(m, exe) => {
                if let Some(s) = states.last_mut() {
                    s.mm = Some(MmInfo {
                        exe: String::from_utf8_lossy(exe).into_owned(),
                        start_brk: m.start_brk,
                        brk: m.brk,
                        start_stack: m.start_stack,
                        vdso: m.vdso,
                        from: (m.from != 0).then_some(m.from),
                        ..Default::default()
                    });
                }
            }
            Item::Vma(v, path) => {
                if let Some(mm) = states.last_mut().and_then(|s| s.mm.as_mut()) {
                    let info = VmaInfo::new(&v, path, mm);
                    mm.vmas.push(info);
                }
            }
            Item::Pages(h, _) => {
                if let Some(mm) = states.last_mut().and_then(|s| s.mm.as_mut()) {
                    let vma = mm
                        .vmas
                        .iter_mut()
                        .find(|v| v.start <= h.vaddr && h.vaddr < v.end);
                    let n = u64::from(h.nr);
                    if h.shared() {
                        mm.shared += n;
                        if let Some(v) = vma {
                            v.shared += n;
                        }
                    } else {
                        mm.pages += n;
                        if let Some(v) = vma {
                            v.pages += n;
                        }
                    }
                }
            }
            Item::RestartBlock(rb) => {
                if let Some(s) = states.last_mut() {
                    if rb.kind == ckpt_image::RESTART_NANOSLEEP {
                        s.resume = Some(format!("nanosleep, {} ns left", rb.remaining_ns));
                    } else if rb.kind == ckpt_image::RESTART_FUTEX {
                        s.resume = Some(format!(
                            "futex wait at {:#x} for {}, {} ns left",
                            rb.rmtp, rb.ts_type, rb.remaining_ns
                        ));
                    } else if rb.kind == ckpt_image::RESTART_POLL {
                        s.resume = Some(if rb.remaining_ns < 0 {
                            format!("poll of {} fds, no timeout", rb.clockid)
                        } else {
                            format!("poll of {} fds, {} ns left", rb.clockid, rb.remaining_ns)
                        });
                    }
                }
            }
            Item::TaskMisc(m, _) => {
                if let Some(s) = states.last_mut() {
                    s.rseq = (m.rseq != 0).then(|| format!("{:#x}", m.rseq));
                }
            }
            Item::Cgroup(p) => {
                if let Some(s) = states.last_mut() {
                    s.cgroup = Some(String::from_utf8_lossy(p).into_owned());
                }
            }
            Item::Auxv(b) => {
                if let Some(s) = states.last_mut() {
                    let w: Vec<u64> = ckpt_image::auxv_words(b).collect();
                    s.auxv = w
                        .chunks_exact(2)
                        .map(|p| (p[0], p[1]))
                        .take_while(|p| p.0 != 0)
                        .collect();
                }
            }
            Item::SemUndo(u, adj) => {
                if let Some(s) = states.last_mut() {
                    s.sem_undo
                        .push((u.semid, ckpt_image::SemUndoRec::adjustments(adj).collect()));
                }
            }
            Item::PosixTimers(h, b) => {
                if let Some(s) = states.last_mut() {
                    s.next_timer_id = Some(h.next_id);
                    s.posix_timers = ckpt_image::PosixTimers::timers(b)
                        .map(|t| posix_timer_line(&t))
                        .collect();
                }
            }
            Item::TaskSched(sc, mask) => {
                if let Some(s) = states.last_mut() {
                    let cpus: Vec<u32> = mask
                        .iter()
                        .enumerate()
                        .flat_map(|(i, b)| {
                            (0..8)
                                .filter(move |k| b & (1 << k) != 0)
                                .map(move |k| i as u32 * 8 + k)
                        })
                        .collect();
                    let policy = match sc.policy {
                        0 => "SCHED_OTHER".to_owned(),
                        1 => "SCHED_FIFO".to_owned(),
                        2 => "SCHED_RR".to_owned(),
                        3 => "SCHED_BATCH".to_owned(),
                        5 => "SCHED_IDLE".to_owned(),
                        6 => "SCHED_DEADLINE".to_owned(),
                        p => format!("policy {p}"),
                    };
                    s.sched = Some(format!(
                        "{} priority {} nice {}{} slack {} ns, CPUs {:?}, oom_score_adj {}{}",
                        policy,
                        sc.rt_priority,
                        sc.nice,
                        if sc.flags & ckpt_image::SCHED_RESET_ON_FORK != 0 {
                            " reset-on-fork"
                        } else {
                            ""
                        },
                        sc.timer_slack_ns,
                        cpus,
                        sc.oom_score_adj,
                        if sc.proc_flags & ckpt_image::SCHED_PROC_THP_DISABLE != 0 {
                            ", THP disabled"
                        } else {
                            ""
                        }
                    ));
                    if sc.membarrier != 0 {
                        if let Some(t) = s.sched.as_mut() {
                            t.push_str(&format!(", membarrier registrations {:#x}", sc.membarrier));
                        }
                    }
                }
            }
            Item::Signals(sg, _) => {
                if let Some(s) = states.last_mut() {
                    s.blocked = format!("{:#x}", sg.blocked);
                    s.pending = format!("{:#x}", sg.pending);
                    if sg.ss_size != 0 {
                        s.altstack = Some(format!("{:#x}+{:#x}", sg.ss_sp, sg.ss_size));
                    }
                }
            }
            Item::Sighand(p) => {
                if let (Some(s), Ok((sh, _))) = (states.last_mut(), ckpt_image::Sighand::parse(p)) {
                    s.shared_pending = Some(format!("{:#x}", sh.shared_pending));
                    s.handlers = sh
                        .actions
                        .iter()
                        .enumerate()
                        .filter(|(_, a)| a.handler != 0)
                        .map(|(i, a)| {
                            format!(
                                "{}:{}",
                                i + 1,
                                if a.handler == 1 { "ignore" } else { "handler" }
                            )
                        })
                        .collect();
                }
            }
            Item::Files(h, cwd, root) => {
                if let Some(s) = states.last_mut() {
                    s.files = Some(FilesInfo {
                        umask: h.umask,
                        cwd: String::from_utf8_lossy(cwd).into_owned(),
                        root: String::from_utf8_lossy(root).into_owned(),
                        fds: Vec::new(),
                        locks: Vec::new(),
                    });
                }
            }
            Item::SysvMsg(o, msgs) => sysv_msg.push(SysvMsgInfo {
                id: o.id,
                msqid: o.msqid,
                key: o.key,
                mode: o.mode,
                qbytes: o.qbytes,
                messages: ckpt_image::SysvMsgObj::messages(msgs)
                    .filter_map(|m| m.ok().map(|(h, _)| (h.mtype, h.len)))
                    .collect(),
            }),
            Item::PosixMq(o, name, msgs) => posix_mq.push(PosixMqInfo {
                id: o.id,
                name: format!("/{}", String::from_utf8_lossy(name)),
                unlinked: o.flags & ckpt_image::MQ_UNLINKED != 0,
                mode: o.mode,
                uid: o.uid,
                gid: o.gid,
                maxmsg: o.maxmsg,
                msgsize: o.msgsize,
                messages: ckpt_image::PosixMqObj::messages(msgs)
                    .filter_map(|m| m.ok().map(|(h, _)| (h.mtype, h.len)))
                    .collect(),
            }),
            Item::MqNotify(n) => {
                let text = if n.how == ckpt_image::SIGEV_NONE {
                    "mq_notify SIGEV_NONE".to_owned()
                } else {
                    format!(
                        "mq_notify signal {} value {:#x}{}",
                        n.signo,
                        n.value,
                        if n.flags & ckpt_image::MQ_NOTIFY_STALE != 0 {
                            " (stale: exec'd since)"
                        } else {
                            ""
                        }
                    )
                };
                if let Some(files) = states.last_mut().and_then(|s| s.files.as_mut()) {
                    for fd in files.fds.iter_mut().filter(|fd| fd.fd == n.fd) {
                        fd.signals = Some(text.clone());
                    }
                }
            }
            Item::SysvSem(o, vals) => sysv_sem.push(SysvSemInfo {
                id: o.id,
                semid: o.semid,
                key: o.key,
                mode: o.mode,
                uid: o.uid,
                gid: o.gid,
                cuid: o.cuid,
                cgid: o.cgid,
                values: ckpt_image::SysvSemObj::values(vals)
                    .map(|v| v.semval)
                    .collect(),
                pids: ckpt_image::SysvSemObj::values(vals)
                    .map(|v| v.sempid)
                    .collect(),
            }),
            Item::SysvShm(o) => sysv_shm.push(SysvShmInfo {
                id: o.id,
                shmid: o.shmid,
                key: o.key,
                mode: o.mode & 0o777,
                removed: o.mode & ckpt_image::SHM_DEST != 0,
                uid: o.uid,
                gid: o.gid,
                cuid: o.cuid,
                cgid: o.cgid,
                cpid: o.cpid,
                lpid: o.lpid,
                size: o.size,
                nattch: o.nattch,
                pages: 0,
            }),
            Item::Shmem(s) => shmem.push(ShmemInfo {
                id: s.id,
                size: s.size,
                pages: 0,
            }),
            Item::ShmemPages(h, _) => {
                if let Some(s) = shmem.iter_mut().find(|s| s.id == h.id) {
                    s.pages += u64::from(h.nr);
                } else if let Some(s) = sysv_shm.iter_mut().find(|s| s.id == h.id) {
                    s.pages += u64::from(h.nr);
                } else if let Some(m) = memfds.iter_mut().find(|m| m.id == h.id) {
                    m.pages += u64::from(h.nr);
                } else if let Some(d) = deleted_files.iter_mut().find(|d| d.id == h.id) {
                    d.pages += u64::from(h.nr);
                } else if tmpfs_files.contains(&h.id) {
                    if let Some(m) = pod.as_mut().and_then(|p| p.mounts.last_mut()) {
                        m.pages += u64::from(h.nr);
                    }
                }
            }
            Item::Eventfd(e) => eventfds.push(EventfdInfo {
                id: e.id,
                count: e.count,
                semaphore: e.flags & ckpt_image::EFD_SEMAPHORE != 0,
            }),
            Item::Timerfd(t) => timerfds.push(TimerfdInfo {
                id: t.id,
                clockid: t.clockid,
                ticks: t.ticks,
                value_ns: t.value_ns,
                interval_ns: t.interval_ns,
            }),
            Item::Epoll(e, items) => epolls.push(EpollInfo {
                id: e.id,
                items: ckpt_image::EpollObj::items(items)
                    .filter_map(Result::ok)
                    .map(|i| EpollItemInfo {
                        file: i.file,
                        fd: i.fd,
                        events: format!("{:x}", i.events),
                        data: i.data,
                        ready: i.flags & ckpt_image::EPOLL_ITEM_READY != 0,
                    })
                    .collect(),
            }),
            Item::UnixPair(u, ends) => unix_pairs.push(UnixPairInfo {
                id: u.id,
                sock_type: sock_type(u.sock_type),
                ends: ends.map(|e| unix_end(&e)),
            }),
            Item::Memfd(m, name) => memfds.push(MemfdInfo {
                id: m.id,
                name: String::from_utf8_lossy(name).into_owned(),
                size: m.size,
                seals: format!("{:x}", m.seals),
                pages: 0,
            }),
            Item::Pty(t, _, sides) => {
                let names = [
                    (ckpt_image::PTY_LOCKED, "locked"),
                    (ckpt_image::PTY_PACKET, "packet"),
                    (ckpt_image::PTY_SLAVE_CLOSED, "slave-closed"),
                    (ckpt_image::PTY_EXCLUSIVE, "exclusive"),
                ];
                let [master, slave] = sides;
                let ws = slave.side.winsize;
                ptys.push(PtyInfo {
                    id: t.id,
                    index: t.index,
                    flags: names
                        .iter()
                        .filter(|(f, _)| t.flags & f != 0)
                        .map(|(_, n)| (*n).to_owned())
                        .collect(),
                    winsize: format!("{}x{}", ws[0], ws[1]),
                    canonical: slave.side.lflag & 0o2 != 0,
                    to_master: master.side.read_len + master.side.flip_len,
                    to_slave: slave.side.read_len + slave.side.flip_len,
                });
            }
            Item::Pidfd(o) => {
                pidfds.push((o.id, o.pid, o.flags & ckpt_image::PIDFD_IS_THREAD != 0))
            }
            Item::Inotify(o, watches, events) => {
                // The parser checked every watch and event already.
                let watches = ckpt_image::InotifyObj::watches(watches)
                    .filter_map(Result::ok)
                    .map(|(w, path)| InotifyWatchInfo {
                        wd: w.wd,
                        mask: format!("{:x}", w.mask),
                        path: String::from_utf8_lossy(path).into_owned(),
                    })
                    .collect();
                let overflow = ckpt_image::InotifyObj::events(events)
                    .filter_map(Result::ok)
                    .any(|(e, _)| e.mask == ckpt_image::IN_Q_OVERFLOW);
                inotify.push(InotifyInfo {
                    id: o.id,
                    watches,
                    events: o.nr_events,
                    overflow,
                });
            }
            Item::DeletedFile(d, path) => deleted_files.push(DeletedInfo {
                id: d.id,
                path: String::from_utf8_lossy(path).into_owned(),
                tmpfile: d.flags & ckpt_image::DELETED_TMPFILE != 0,
                size: d.size,
                pages: 0,
            }),
            Item::Ctty(c) => {
                if let Some(s) = states.last_mut() {
                    s.ctty = Some((c.pty, c.fg_pgid));
                }
            }
            Item::Share(sh) => {
                if let Some(s) = states.last_mut() {
                    s.fd_table_of = (sh.files != 0).then_some(sh.files);
                    s.fs_of = (sh.fs != 0).then_some(sh.fs);
                }
            }
            Item::InetSock(s, d) => inet_sockets.push(InetSockInfo::of(&s, &d)),
            Item::PacketSock(s, d) => packet_sockets.push(PacketSockInfo::of(&s, &d)),
            Item::InetPending(p, s, d) => inet_sockets.push(InetSockInfo {
                waiting_on: Some(p.listener),
                ..InetSockInfo::of(&s, &d)
            }),
            Item::UnixSock(u, e) => unix_sockets.push(UnixSockInfo {
                id: u.id,
                sock_type: sock_type(u.sock_type),
                end: unix_end(&e),
                listening: (e.end.flags & ckpt_image::UNIX_LISTENING != 0).then_some(e.end.backlog),
                pending: Vec::new(),
            }),
            Item::UnixPending(u, e) => {
                if let Some(l) = unix_sockets.iter_mut().find(|s| s.id == u.listener) {
                    l.pending.push(UnixPendingInfo {
                        id: u.id,
                        client: unix_end(&e),
                    });
                }
            }
            Item::Fifo(f, _, path) => fifos.push(FifoInfo {
                id: f.id,
                path: String::from_utf8_lossy(path).into_owned(),
                capacity: f.capacity,
                bytes: f.data_len,
            }),
            Item::Signalfd(sfd) => signalfds.push(SignalfdInfo {
                id: sfd.id,
                mask: sfd.mask,
            }),
            Item::Pipe(p, _) => pipes.push(PipeInfo {
                id: p.id,
                capacity: p.capacity,
                bytes: p.data_len,
            }),
            Item::File(f, path) => {
                let kind = match f.kind {
                    ckpt_image::FILE_REG => "file",
                    ckpt_image::FILE_CHR => "chr",
                    ckpt_image::FILE_DIR => "dir",
                    ckpt_image::FILE_FIFO => "fifo",
                    ckpt_image::FILE_SOCK => "socket",
                    ckpt_image::FILE_PIPE => "pipe",
                    ckpt_image::FILE_EVENTFD => "eventfd",
                    ckpt_image::FILE_SIGNALFD => "signalfd",
                    ckpt_image::FILE_TIMERFD => "timerfd",
                    ckpt_image::FILE_EPOLL => "epoll",
                    ckpt_image::FILE_UNIX => "unix",
                    ckpt_image::FILE_MEMFD => "memfd",
                    ckpt_image::FILE_PTY => "pty",
                    ckpt_image::FILE_UNLINKED => "deleted",
                    ckpt_image::FILE_PIDFD => "pidfd",
                    ckpt_image::FILE_INOTIFY => "inotify",
                    ckpt_image::FILE_NS => "ns",
                    ckpt_image::FILE_ANON_SHARED => "shm",
                    ckpt_image::FILE_MQUEUE => "mqueue",
                    ckpt_image::FILE_INET => "inet",
                    ckpt_image::FILE_PACKET => "packet",
                    _ => "other",
                };
                files_by_id.insert(
                    f.id,
                    FdInfo {
                        fd: 0,
                        file: f.id,
                        cloexec: false,
                        deleted: f.flags & ckpt_image::FILE_DELETED != 0,
                        flags: format!("{:o}", f.f_flags),
                        kind: kind.to_owned(),
                        pos: f.pos,
                        path: String::from_utf8_lossy(path).into_owned(),
                        pipe: (f.kind == ckpt_image::FILE_PIPE).then_some(f.obj),
                        eventfd: (f.kind == ckpt_image::FILE_EVENTFD).then_some(f.obj),
                        signalfd: (f.kind == ckpt_image::FILE_SIGNALFD).then_some(f.obj),
                        fifo: (f.kind == ckpt_image::FILE_FIFO).then_some(f.obj),
                        timerfd: (f.kind == ckpt_image::FILE_TIMERFD).then_some(f.obj),
                        epoll: (f.kind == ckpt_image::FILE_EPOLL).then_some(f.obj),
                        memfd: (f.kind == ckpt_image::FILE_MEMFD).then_some(f.obj),
                        inet: (f.kind == ckpt_image::FILE_INET).then_some(f.obj),
                        packet: (f.kind == ckpt_image::FILE_PACKET).then_some(f.obj),
                        unix: (f.kind == ckpt_image::FILE_UNIX)
                            .then_some((f.obj, u8::from(f.flags & ckpt_image::FILE_PEER_END != 0))),
                        pty: (f.kind == ckpt_image::FILE_PTY)
                            .then_some((f.obj, u8::from(f.flags & ckpt_image::FILE_PEER_END != 0))),
                        deleted_file: (f.kind == ckpt_image::FILE_UNLINKED).then_some(f.obj),
                        pidfd: (f.kind == ckpt_image::FILE_PIDFD)
                            .then(|| pidfds.iter().find(|p| p.0 == f.obj).map(|p| (p.1, p.2)))
                            .flatten(),
                        inotify: (f.kind == ckpt_image::FILE_INOTIFY).then_some(f.obj),
                        signals: None,
                    },
                );
            }
            Item::Fd(f) => {
                // The parser checked that the id names an object written
                // before; a pipe id (not a file) leaves the fd out.
                if let (Some(files), Some(file)) = (
                    states.last_mut().and_then(|s| s.files.as_mut()),
                    files_by_id.get(&f.file),
                ) {
                    files.fds.push(FdInfo {
                        fd: f.fd,
                        cloexec: f.fd_flags & ckpt_image::FD_CLOEXEC != 0,
                        ..file.clone()
                    });
                }
            }
            Item::FileOwner(o) => {
                let mut what = Vec::new();
                if o.async_fd >= 0 {
                    what.push(format!("O_ASYNC through fd {}", o.async_fd));
                }
                if o.pid > 0 {
                    let kind = match o.owner_type {
                        ckpt_image::OWNER_TID => "thread",
                        ckpt_image::OWNER_PGRP => "group",
                        _ => "process",
                    };
                    what.push(format!("owner {kind} {}", o.pid));
                }
                if o.signum != 0 {
                    what.push(format!("signal {}", o.signum));
                }
                let text = what.join(", ");
                // The descriptors of this process and of those written
                // later that share the file.
                if let Some(f) = files_by_id.get_mut(&o.file) {
                    f.signals = Some(text.clone());
                }
                if let Some(files) = states.last_mut().and_then(|s| s.files.as_mut()) {
                    for fd in files.fds.iter_mut().filter(|fd| fd.file == o.file) {
                        fd.signals = Some(text.clone());
                    }
                }
            }
            Item::FileLock(l) => {
                if let Some(files) = states.last_mut().and_then(|s| s.files.as_mut()) {
                    files.locks.push(LockInfo {
                        file: l.file,
                        kind: match l.kind {
                            ckpt_image::LOCK_POSIX => "posix",
                            ckpt_image::LOCK_OFD => "ofd",
                            ckpt_image::LOCK_LEASE => "lease",
                            _ => "flock",
                        }
                        .to_owned(),
                        lock_type: if l.lock_type == ckpt_image::LOCK_WRITE {
                            "write"
                        } else {
                            "read"
                        }
                        .to_owned(),
                        start: l.start,
                        end: (l.end != ckpt_image::LOCK_TO_EOF).then_some(l.end),
                    });
                }
            }
            Item::TaskEnd => {}
            Item::Tail(t) => tail = Some(t),
        }
    }
    // The reader only ends without an error after the tail, so all three
    // are there; stay total anyway.
    let (Some(header), Some(forest), Some(tail)) = (header, forest, tail) else {
        return Err(DecodeError {
            index: 0,
            offset: buf.len() as u64,
            record_type: None,
            kind: ErrorKind::Truncated,
        });
    };
    Ok(Image {
        header: HeaderInfo::from(&header),
        root_pid: forest.root_pid,
        pod,
        tasks,
        states,
        pipes,
        shmem,
        sysv_shm,
        sysv_sem,
        sysv_msg,
        posix_mq,
        eventfds,
        fifos,
        timerfds,
        signalfds,
        epolls,
        unix_pairs,
        unix_sockets,
        inet_sockets,
        packet_sockets,
        memfds,
        ptys,
        deleted_files,
        inotify,
        bytes: buf.len() as u64,
        records: tail.nr_records.saturating_add(1),
    })
}

/// A unix socket type's name.
fn sock_type(t: u32) -> String {
    match t {
        ckpt_image::SOCK_STREAM => "stream",
        ckpt_image::SOCK_DGRAM => "dgram",
        _ => "seqpacket",
    }
    .to_owned()
}

/// What `ckpt inspect` shows of a unix socket's state.
fn unix_end(e: &ckpt_image::UnixEndData<'_>) -> UnixEndInfo {
    let name = (!e.name.is_empty()).then(|| match e.name.split_first() {
        Some((0, abs)) => format!("@{}", String::from_utf8_lossy(abs)),
        _ => String::from_utf8_lossy(e.name)
            .trim_end_matches('\0')
            .to_owned(),
    });
    UnixEndInfo {
        closed: e.end.flags & ckpt_image::UNIX_CLOSED != 0,
        messages: e.end.nr_msgs,
        bytes: e.end.data_len,
        shutdown: match e.end.shutdown {
            ckpt_image::UNIX_RCV_SHUTDOWN => "rd",
            ckpt_image::UNIX_SEND_SHUTDOWN => "wr",
            0 => "",
            _ => "rdwr",
        }
        .to_owned(),
        passcred: e.end.flags & ckpt_image::UNIX_PASSCRED != 0,
        name,
        bound: e.end.flags & ckpt_image::UNIX_BOUND != 0,
        in_flight: e.fds().map(|f| f.file).collect(),
    }
}

/// What a copy-on-write checkpoint (`CHECKPOINT_COW`) cost the tree: it
/// ran on while its pages were written from snapshots of its memory, and
/// each page it wrote meanwhile was copied first, so it held up to the
/// saved pages' size more memory until they were written.
pub fn cow_note(img: &Image) -> String {
    let pages: u64 = img
        .states
        .iter()
        .filter_map(|s| s.mm.as_ref())
        .map(|m| m.pages)
        .sum();
    let mib = pages as f64 * 4096.0 / f64::from(1 << 20);
    format!(
        "copy-on-write: the tree ran on while its {mib:.1} MiB of saved pages were written from \
         snapshots of its memory; a page it wrote meanwhile was copied first, so it used up to \
         {mib:.1} MiB more memory until then"
    )
}

/// The image as a readable table, processes indented under their parents
/// and threads under their leaders.
pub fn table(img: &Image) -> String {
    let h = &img.header;
    let flags = if h.flags & CHECKPOINT_SUBTREE != 0 {
        " (subtree)"
    } else {
        ""
    };
    let mut out = format!(
        "kernel-ckpt image: kernel {}, format version {}, {}, flags {:#x}{flags}\n\
         root pid {}, {} tasks, {} bytes in {} records\n\n",
        h.release,
        h.version,
        h.arch,
        h.flags,
        img.root_pid,
        img.tasks.len(),
        img.bytes,
        img.records,
    );
    if h.flags & ckpt_image::CHECKPOINT_COW != 0 {
        let _ = writeln!(out, "{}\n", cow_note(img));
    }

    if let Some(pod) = &img.pod {
        let mut own = Vec::new();
        if let Some(u) = &pod.uts {
            own.push(format!(
                "UTS (hostname {:?}, domain {:?})",
                u.hostname, u.domainname
            ));
        }
        if pod.ipc {
            own.push(if pod.ipc_sysctls.is_empty() {
                "IPC".to_owned()
            } else {
                format!("IPC ({})", pod.ipc_sysctls.join(", "))
            });
        }
        if pod.cgroup {
            own.push("cgroup (rooted at its job)".to_owned());
        }
        if pod.mnt {
            own.push(if pod.mounts.is_empty() {
                "mount (its checkpointer's mounts)".to_owned()
            } else {
                format!(
                    "mount (its checkpointer's mounts and a private tmpfs on {})",
                    pod.mounts
                        .iter()
                        .map(|m| m.path.as_str())
                        .collect::<Vec<_>>()
                        .join(" and ")
                )
            });
        }
        if let Some(n) = &pod.net {
            own.push(format!(
                "network (loopback only, {}, MTU {}{})",
                if n.lo_up { "up" } else { "down" },
                n.lo_mtu,
                n.ping_group_range
                    .map(|(l, h)| format!(", ping sockets for groups {l} to {h}"))
                    .unwrap_or_default()
            ));
        }
        let own = if own.is_empty() {
            "none".to_owned()
        } else {
            own.join(", ")
        };
        out.push_str(&format!(
            "pod: a whole pid namespace, restarted as pid 1 of a new one; its own namespaces: {own}\n"
        ));
        for m in &pod.mounts {
            out.push_str(&format!(
                "  tmpfs #{} on {} ({}): {} directories, {} files of {} bytes ({} pages saved), {} more names, {} symbolic links, {} named pipes\n",
                m.id,
                m.path,
                m.options.join(","),
                m.dirs,
                m.files,
                m.bytes,
                m.pages,
                m.links,
                m.symlinks,
                m.fifos
            ));
        }
        for m in &img.sysv_shm {
            out.push_str(&format!(
                "  SysV segment #{}: shmid {}, key {:#x}, mode {:o}{}, {} bytes ({} pages saved), {} attached, owner {}:{}, creator {}:{}\n",
                m.id,
                m.shmid,
                m.key,
                m.mode,
                if m.removed { ", removed" } else { "" },
                m.size,
                m.pages,
                m.nattch,
                m.uid,
                m.gid,
                m.cuid,
                m.cgid
            ));
        }
        for q in &img.sysv_msg {
            out.push_str(&format!(
                "  SysV message queue #{}: msqid {}, key {:#x}, mode {:o}, limit {} bytes, {} messages (type, bytes): {:?}\n",
                q.id,
                q.msqid,
                q.key,
                q.mode,
                q.qbytes,
                q.messages.len(),
                q.messages
            ));
        }
        for q in &img.posix_mq {
            out.push_str(&format!(
                "  POSIX message queue #{}: {}{}, mode {:o}, owner {}:{}, max {} messages of {} bytes, {} messages (priority, bytes): {:?}\n",
                q.id,
                q.name,
                if q.unlinked { " (unlinked)" } else { "" },
                q.mode,
                q.uid,
                q.gid,
                q.maxmsg,
                q.msgsize,
                q.messages.len(),
                q.messages
            ));
        }
        for m in &img.sysv_sem {
            out.push_str(&format!(
                "  SysV semaphore set #{}: semid {}, key {:#x}, mode {:o}, values {:?}, owner {}:{}, creator {}:{}\n",
                m.id, m.semid, m.key, m.mode, m.values, m.uid, m.gid, m.cuid, m.cgid
            ));
        }
        out.push('\n');
    }
    let rows: Vec<[String; 7]> = tree_order(&img.tasks)
        .into_iter()
        .filter_map(|(i, depth)| {
            let t = img.tasks.get(i)?;
            let comm = match depth {
                0 => t.comm.clone(),
                d => format!("{} \\_ {}", "    ".repeat(d - 1), t.comm),
            };
            let num = |n: i32| n.to_string();
            Some([
                num(t.pid),
                num(t.tgid),
                num(t.ppid),
                num(t.sid),
                num(t.pgid),
                t.state(),
                comm,
            ])
        })
        .collect();
    let head = ["PID", "TGID", "PPID", "SID", "PGID", "STATE", "COMM"].map(str::to_owned);
    let mut width = head.clone().map(|c| c.len());
    for row in &rows {
        for (w, cell) in width.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&head).chain(&rows) {
        let mut line = String::new();
        for (col, (cell, w)) in row.iter().zip(width).enumerate() {
            // Numbers right-aligned, STATE left-aligned, COMM last and unpadded.
            let _ = match col {
                0..=4 => write!(line, "{cell:>w$}  "),
                5 => write!(line, "{cell:<w$}  "),
                _ => write!(line, "{cell}"),
            };
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    for st in &img.states {
        let _ = writeln!(
            out,
            "\ntask {}: rip {:#x} rsp {:#x} orig_rax {} xstate {} bytes (xfeatures {:#x}){}",
            st.pid,
            st.rip,
            st.rsp,
            st.orig_rax as i64,
            st.xstate_size,
            st.xfeatures,
            st.resume
                .as_ref()
                .map(|r| format!(", resumes {r}"))
                .unwrap_or_default()
        );
        if let Some(sched) = &st.sched {
            let _ = writeln!(out, "  scheduling: {sched}");
        }
        if !st.auxv.is_empty() {
            let shown: Vec<String> = st.auxv.iter().map(|(k, v)| format!("{k}={v:#x}")).collect();
            let _ = writeln!(out, "  auxv: {}", shown.join(" "));
        }
        if let Some(cg) = &st.cgroup {
            let _ = writeln!(out, "  cgroup: {cg} (below the job's)");
        }
        for (semid, adj) in &st.sem_undo {
            let _ = writeln!(out, "  SEM_UNDO on SysV set {semid}: {adj:?}");
        }
        if let Some(next) = st.next_timer_id {
            let _ = writeln!(
                out,
                "  POSIX timers: {}, next id {next}",
                st.posix_timers.len()
            );
            for t in &st.posix_timers {
                let _ = writeln!(out, "    {t}");
            }
        }
        if let Some(mm) = &st.mm {
            let _ = writeln!(
                out,
                "  memory: {}, {} vmas, {} pages saved ({} KiB), brk {:#x}-{:#x}",
                mm.exe,
                mm.vmas.len(),
                mm.pages,
                mm.pages * ckpt_image::PAGE_SIZE as u64 / 1024,
                mm.start_brk,
                mm.brk
            );
            if let Some(from) = mm.from {
                let _ = writeln!(
                    out,
                    "  memory starts from pid {from}'s (copy-on-write, as fork leaves it): {} pages shared with it ({} KiB), saved once",
                    mm.shared,
                    mm.shared * ckpt_image::PAGE_SIZE as u64 / 1024
                );
            }
            for v in &mm.vmas {
                let shared = if v.shared > 0 {
                    format!(" + {} shared", v.shared)
                } else {
                    String::new()
                };
                let _ = writeln!(
                    out,
                    "  {:012x}-{:012x} {} {:08x} {:>6} pages{shared}  {}",
                    v.start, v.end, v.perms, v.offset, v.pages, v.name
                );
            }
        }
        let _ = writeln!(
            out,
            "  signals: blocked {} pending {}{}{}{}",
            st.blocked,
            st.pending,
            st.shared_pending
                .as_ref()
                .map(|p| format!(" shared {p}"))
                .unwrap_or_default(),
            st.altstack
                .as_ref()
                .map(|a| format!(" altstack {a}"))
                .unwrap_or_default(),
            if st.handlers.is_empty() {
                String::new()
            } else {
                format!(" actions {}", st.handlers.join(" "))
            }
        );
        if let Some(files) = &st.files {
            let root = if files.root == "/" {
                String::new()
            } else {
                format!(", root {}", files.root)
            };
            let fs_of = st
                .fs_of
                .map(|p| format!(" (shared with process {p})"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "  files: cwd {}{root}, umask {:03o}{fs_of}",
                files.cwd, files.umask
            );
            if let Some(p) = st.fd_table_of {
                let _ = writeln!(out, "  descriptors: the table of process {p} (shared)");
            }
            for f in &files.fds {
                let pipe = f
                    .pipe
                    .and_then(|id| img.pipes.iter().find(|p| p.id == id))
                    .map(|p| format!(" ({} of {} bytes in flight)", p.bytes, p.capacity))
                    .or_else(|| {
                        f.eventfd
                            .and_then(|id| img.eventfds.iter().find(|e| e.id == id))
                            .map(|e| {
                                let sem = if e.semaphore { ", semaphore" } else { "" };
                                format!(" (count {}{sem})", e.count)
                            })
                    })
                    .or_else(|| {
                        f.fifo
                            .and_then(|id| img.fifos.iter().find(|p| p.id == id))
                            .map(|p| format!(" ({} of {} bytes in flight)", p.bytes, p.capacity))
                    })
                    .or_else(|| {
                        f.timerfd
                            .and_then(|id| img.timerfds.iter().find(|t| t.id == id))
                            .map(|t| {
                                format!(
                                    " (clock {}, next in {} ns, every {} ns, {} unread)",
                                    t.clockid, t.value_ns, t.interval_ns, t.ticks
                                )
                            })
                    })
                    .or_else(|| {
                        f.epoll
                            .and_then(|id| img.epolls.iter().find(|e| e.id == id))
                            .map(|e| {
                                let items: Vec<String> = e
                                    .items
                                    .iter()
                                    .map(|i| {
                                        format!(
                                            "#{} as fd {} events {}{}",
                                            i.file,
                                            i.fd,
                                            i.events,
                                            if i.ready { " ready" } else { "" }
                                        )
                                    })
                                    .collect();
                                format!(" (watches {})", items.join(", "))
                            })
                    })
                    .or_else(|| {
                        let (id, end) = f.pty?;
                        let p = img.ptys.iter().find(|p| p.id == id)?;
                        let flags = if p.flags.is_empty() {
                            String::new()
                        } else {
                            format!(", {}", p.flags.join(" "))
                        };
                        Some(format!(
                            " (pts/{} {}, {}{}{flags}, {} bytes to read)",
                            p.index,
                            if end == 1 { "slave" } else { "master" },
                            p.winsize,
                            if p.canonical { " canonical" } else { "" },
                            if end == 1 { p.to_slave } else { p.to_master }
                        ))
                    })
                    .or_else(|| {
                        let i = img.inotify.iter().find(|i| Some(i.id) == f.inotify)?;
                        let watches: Vec<String> = i
                            .watches
                            .iter()
                            .map(|w| format!("{} {} mask {}", w.wd, w.path, w.mask))
                            .collect();
                        Some(format!(
                            " (watches {}; {} events queued{})",
                            if watches.is_empty() {
                                "none".to_owned()
                            } else {
                                watches.join(", ")
                            },
                            i.events,
                            if i.overflow { ", overflow" } else { "" }
                        ))
                    })
                    .or_else(|| {
                        let (pid, thread) = f.pidfd?;
                        Some(format!(
                            " (pid {pid}{})",
                            if thread { ", thread" } else { "" }
                        ))
                    })
                    .or_else(|| {
                        let d = img
                            .deleted_files
                            .iter()
                            .find(|d| Some(d.id) == f.deleted_file)?;
                        Some(format!(
                            " ({} bytes, {} pages saved{})",
                            d.size,
                            d.pages,
                            if d.tmpfile { ", O_TMPFILE" } else { "" }
                        ))
                    })
                    .or_else(|| {
                        let m = img.memfds.iter().find(|m| Some(m.id) == f.memfd)?;
                        Some(format!(
                            " ({} bytes, {} pages saved, seals {})",
                            m.size, m.pages, m.seals
                        ))
                    })
                    .or_else(|| {
                        let (id, _) = f.unix?;
                        let (l, p) = img
                            .unix_sockets
                            .iter()
                            .find_map(|s| Some((s, s.pending.iter().find(|p| p.id == id)?)))?;
                        Some(format!(
                            " ({} client of {} not accepted yet, {} messages, {} bytes sent{})",
                            l.sock_type,
                            l.end.name.as_deref().unwrap_or("unnamed"),
                            p.client.messages,
                            p.client.bytes,
                            p.client.in_flight_text()
                        ))
                    })
                    .or_else(|| {
                        let id = f.inet?;
                        let s = img.inet_sockets.iter().find(|s| s.id == id)?;
                        Some(format!(" ({})", s.text()))
                    })
                    .or_else(|| {
                        let id = f.packet?;
                        let s = img.packet_sockets.iter().find(|s| s.id == id)?;
                        Some(format!(" ({})", s.text()))
                    })
                    .or_else(|| {
                        let (id, _) = f.unix?;
                        let s = img.unix_sockets.iter().find(|s| s.id == id)?;
                        let waiting = if s.pending.is_empty() {
                            String::new()
                        } else {
                            format!(", {} waiting to be accepted", s.pending.len())
                        };
                        let listen = s
                            .listening
                            .map(|b| format!(", listening, backlog {b}{waiting}"))
                            .unwrap_or_default();
                        Some(format!(
                            " ({} {}{listen}, {} messages, {} bytes queued{})",
                            s.sock_type,
                            s.end.name.as_deref().unwrap_or("unnamed"),
                            s.end.messages,
                            s.end.bytes,
                            s.end.in_flight_text()
                        ))
                    })
                    .or_else(|| {
                        f.unix.and_then(|(id, end)| {
                            let p = img.unix_pairs.iter().find(|p| p.id == id)?;
                            let e = p.ends.get(usize::from(end))?;
                            let peer = p.ends.get(usize::from(1 - end))?;
                            let shut = if e.shutdown.is_empty() {
                                String::new()
                            } else {
                                format!(", shut down {}", e.shutdown)
                            };
                            Some(format!(
                                " ({} pair #{id} end {end}: {} messages, {} bytes queued{}{shut}{})",
                                p.sock_type,
                                e.messages,
                                e.bytes,
                                e.in_flight_text(),
                                if peer.closed { ", peer closed" } else { "" }
                            ))
                        })
                    })
                    .or_else(|| {
                        f.signalfd
                            .and_then(|id| img.signalfds.iter().find(|s| s.id == id))
                            .map(|s| format!(" (signals {:#x})", s.mask))
                    })
                    .unwrap_or_default();
                let signals = f
                    .signals
                    .as_ref()
                    .map(|s| format!(" [{s}]"))
                    .unwrap_or_default();
                let _ = writeln!(
                    out,
                    "  fd {:>3}: {:<6} #{:<4} flags {:>7} pos {:>8}{}  {}{pipe}{signals}",
                    f.fd,
                    f.kind,
                    f.file,
                    f.flags,
                    f.pos,
                    if f.cloexec { " cloexec" } else { "" },
                    f.path
                );
            }
            if let Some((pty, fg)) = st.ctty {
                let index = img
                    .ptys
                    .iter()
                    .find(|p| p.id == pty)
                    .map(|p| format!("pts/{}", p.index))
                    .unwrap_or_else(|| format!("#{pty}"));
                let _ = writeln!(
                    out,
                    "  controlling terminal: {index}, foreground group {fg}"
                );
            }
            for l in &files.locks {
                let range = if l.kind == "flock" || l.kind == "lease" {
                    String::new()
                } else {
                    let end = l.end.map(|e| e.to_string()).unwrap_or_else(|| "EOF".into());
                    format!(" bytes {}..{end}", l.start)
                };
                let _ = writeln!(
                    out,
                    "  lock: {} {}{range} on #{}",
                    l.kind, l.lock_type, l.file
                );
            }
        }
    }
    out
}

/// Indices of `tasks` in display order, with their depth: each process,
/// then its threads, then its child processes; anything unreachable (a
/// thread without leader, a cycle of ppids) at depth 0 in image order.
fn tree_order(tasks: &[TaskInfo]) -> Vec<(usize, usize)> {
    let mut by_pid: HashMap<i32, usize> = HashMap::new();
    for (i, t) in tasks.iter().enumerate().filter(|(_, t)| !t.thread) {
        by_pid.entry(t.pid).or_insert(i);
    }
    let mut children: HashMap<usize, Vec<usize>> = HashMap::new();
    let mut threads: HashMap<usize, Vec<usize>> = HashMap::new();
    let mut tops = Vec::new();
    for (i, t) in tasks.iter().enumerate() {
        let (key, map) = if t.thread {
            (t.tgid, &mut threads)
        } else {
            (t.ppid, &mut children)
        };
        match by_pid.get(&key) {
            Some(&parent) if parent != i => map.entry(parent).or_default().push(i),
            _ if !t.thread => tops.push(i),
            _ => {}
        }
    }

    let mut seen = vec![false; tasks.len()];
    let mut order = Vec::with_capacity(tasks.len());
    let starts = tops.into_iter().chain(0..tasks.len());
    for start in starts {
        // Iterative depth-first walk: a deep chain of processes must not
        // overflow the stack.
        let mut stack = vec![(start, 0)];
        while let Some((i, depth)) = stack.pop() {
            if std::mem::replace(&mut seen[i], true) {
                continue;
            }
            order.push((i, depth));
            if let Some(ts) = threads.get(&i) {
                order.extend(ts.iter().filter(|&&t| !seen[t]).map(|&t| (t, depth + 1)));
                ts.iter().for_each(|&t| seen[t] = true);
            }
            if let Some(cs) = children.get(&i) {
                stack.extend(cs.iter().rev().map(|&c| (c, depth + 1)));
            }
        }
    }
    order
}

#[cfg(test)]
mod tests;

/// One POSIX timer as `ckpt inspect` shows it: id, clock, how it
/// notifies, time left and interval, overruns, a pending signal.
fn posix_timer_line(t: &ckpt_image::PosixTimer) -> String {
    use ckpt_image::{PTIMER_ABSTIME, PTIMER_PENDING, SIGEV_NONE, SIGEV_THREAD, SIGEV_THREAD_ID};
    let clock = match t.clock {
        0 => "CLOCK_REALTIME".to_owned(),
        1 => "CLOCK_MONOTONIC".to_owned(),
        7 => "CLOCK_BOOTTIME".to_owned(),
        8 => "CLOCK_REALTIME_ALARM".to_owned(),
        9 => "CLOCK_BOOTTIME_ALARM".to_owned(),
        11 => "CLOCK_TAI".to_owned(),
        c if t.is_thread_cpu() => format!("CPU time of thread {} ({c})", t.cpu_pid),
        c if t.is_cpu() => format!("CPU time of process {} ({c})", t.cpu_pid),
        c => format!("clock {c}"),
    };
    let notify = match t.notify {
        SIGEV_NONE => "no signal".to_owned(),
        SIGEV_THREAD => format!("signal {} (SIGEV_THREAD)", t.signo),
        n if n & SIGEV_THREAD_ID != 0 => format!("signal {} to thread {}", t.signo, t.thread),
        _ => format!("signal {}", t.signo),
    };
    let armed = if t.value_ns == 0 {
        "disarmed".to_owned()
    } else {
        if t.flags & PTIMER_ABSTIME != 0 {
            format!("at {} ns of CLOCK_REALTIME (absolute)", t.value_ns)
        } else {
            format!("{} ns left", t.value_ns)
        }
    };
    let every = if t.interval_ns == 0 {
        String::new()
    } else {
        format!(", every {} ns", t.interval_ns)
    };
    let pending = if t.flags & PTIMER_PENDING != 0 {
        format!(", signal pending (overrun {})", t.si_overrun)
    } else {
        String::new()
    };
    format!(
        "timer {}: {clock}, {notify}, {armed}{every}, overrun {} (then {} more){pending}",
        t.id,
        t.overrun_last,
        t.overrun.max(0)
    )
}
