//! A pod with a network namespace of its own (`ckpt run --pod --net`):
//! its loopback device and its unix sockets bound to abstract names, which
//! are the namespace's, checked from outside.

use super::pod::{in_ns_of, inspect_value, restart_detached, restart_frozen, StartedJob};
use super::*;
use crate::workload::netpod;

/// What `pid`'s network namespace holds: its devices (`/proc/PID/net/dev`),
/// its loopback's flags and MTU (read inside it), its IPv6 addresses, and
/// its unix sockets with abstract names (type, state, name; the inode
/// left out).
fn view(pid: i32) -> Vec<String> {
    let proc_net = |f: &str| fs::read_to_string(format!("/proc/{pid}/net/{f}")).unwrap_or_default();
    let mut out: Vec<String> = proc_net("dev")
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(|d| format!("device {}", d.trim()))
        .collect();
    out.push(
        in_ns_of(pid, "net", nix::sched::CloneFlags::CLONE_NEWNET, || {
            netpod::loopback()
                .map(|(flags, mtu)| {
                    format!(
                        "lo up {} loopback {} running {} mtu {mtu}",
                        flags & nix::libc::IFF_UP != 0,
                        flags & nix::libc::IFF_LOOPBACK != 0,
                        flags & nix::libc::IFF_RUNNING != 0
                    )
                })
                .map_err(|e| e.to_string())
        })
        .unwrap_or_else(|e| e.to_string()),
    );
    out.extend(proc_net("if_inet6").lines().map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        format!(
            "inet6 {} prefix {} {}",
            f.first().copied().unwrap_or(""),
            f.get(2).copied().unwrap_or(""),
            f.last().copied().unwrap_or("")
        )
    }));
    let mut unix: Vec<String> = proc_net("unix")
        .lines()
        .skip(1)
        .filter(|l| l.contains('@'))
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            format!(
                "unix type {} state {} {}",
                f.get(4).copied().unwrap_or(""),
                f.get(5).copied().unwrap_or(""),
                f.get(7).copied().unwrap_or("")
            )
        })
        .collect();
    unix.sort();
    out.extend(unix);
    out
}

/// Whether the caller's network namespace has a unix socket bound to the
/// pod's abstract name.
fn host_has_name() -> bool {
    let name = format!("@{}", String::from_utf8_lossy(netpod::NAME));
    fs::read_to_string("/proc/self/net/unix")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split_whitespace().nth(7) == Some(name.as_str()))
}

/// A pod started with `ckpt run --pod --net` (`net_pod`: a listener bound
/// to the abstract name `@kckpt-pod-net`, a connection to it with six
/// unread bytes, the loopback up with MTU 16000). Checkpointed whole with `--kill` and
/// restarted twice side by side: in each copy's own network namespace the
/// devices, the loopback's flags and MTU, its addresses and the unix
/// sockets are as before, both copies hold the same abstract name at once
/// while the host's namespace never has it, and the first copy checks
/// itself (the unread bytes, the connection, a new client, the loopback)
/// and passes.
pub(crate) fn restart_pod_net(name: &str) -> Result<ScenarioResult> {
    let mut c = Checks(Vec::new());
    let started = StartedJob::start_in(name, "net_pod", true, false, true)?;
    let (w, job) = (&started.w, &started.job);
    let pid = w.pid;
    c.eq(
        "the pod's abstract name is not in the host's network namespace",
        "false",
        host_has_name().to_string(),
    );
    cgroup::freeze(&w.cg, Duration::from_secs(10))?;
    let before = view(pid);
    let Some(img) =
        started.checkpoint_kill(&mut c, name, "ckpt checkpoint --kill of the pod's init")?
    else {
        return Ok(ScenarioResult {
            checks: c.0,
            ..Default::default()
        });
    };
    let json = inspect_value(&img)?;
    let saved = format!("saved: {}", json["pod"]["net"]);
    let restarted = restart_frozen(&mut c, &img, job)?;
    let copy = restarted.pid;
    c.eq(
        "the pod's network namespace (devices, loopback, addresses, abstract unix sockets), as before",
        format!("{before:#?}"),
        format!("{:#?}", view(copy)),
    );
    let job2 = format!("{job}-2");
    let _job2 = RestartJob(Path::new(cgroup::ROOT).join(&job2));
    let copy2 = restart_detached(&mut c, &img, &job2)?;
    c.eq(
        "the second copy's network namespace, as before: the same abstract name bound in both at once",
        format!("{before:#?}"),
        format!("{:#?}", view(copy2)),
    );
    c.eq(
        "the host's network namespace still has no socket of that name",
        "false",
        host_has_name().to_string(),
    );
    drop(_job2);
    let verdict = started.thaw_and_check(&mut c, &restarted, "the pod checks itself")?;
    let mut state = before;
    state.push(saved);
    if !verdict.starts_with("PASS") {
        state.push(verdict.trim().to_owned());
    }
    Ok(ScenarioResult {
        checks: c.0,
        state,
        ..Default::default()
    })
}

/// The TCP, UDP, UDP-Lite, raw and ping sockets of `pid`'s network
/// namespace as `/proc/PID/net/{tcp,tcp6,udp,udp6,udplite,raw,raw6,icmp,
/// icmp6}` show them: protocol, local
/// and remote address, state, queues, owner (the inode, timers and
/// pointers left out), sorted.
fn inet_view(pid: i32) -> Vec<String> {
    let mut out = Vec::new();
    for proto in [
        "tcp", "tcp6", "udp", "udp6", "udplite", "raw", "raw6", "icmp", "icmp6",
    ] {
        let text = fs::read_to_string(format!("/proc/{pid}/net/{proto}")).unwrap_or_default();
        for l in text.lines().skip(1) {
            let f: Vec<&str> = l.split_whitespace().collect();
            let field = |i: usize| f.get(i).copied().unwrap_or("");
            out.push(format!(
                "{proto} local {} remote {} state {} queues {} uid {}",
                field(1),
                field(2),
                field(3),
                field(4),
                field(7)
            ));
        }
    }
    out.sort();
    out
}

/// The multicast groups of the devices of `pid`'s network namespace
/// (`/proc/PID/net/igmp` and `igmp6`): device, group and how many sockets
/// joined it (timers and flags left out).
fn groups_view(pid: i32) -> Vec<String> {
    let mut out = Vec::new();
    let igmp = fs::read_to_string(format!("/proc/{pid}/net/igmp")).unwrap_or_default();
    let mut dev = String::new();
    for l in igmp.lines().skip(1) {
        let f: Vec<&str> = l.split_whitespace().collect();
        if !l.starts_with(char::is_whitespace) {
            dev = f.get(1).copied().unwrap_or("").to_owned();
        } else if let (Some(g), Some(users)) = (f.first(), f.get(1)) {
            out.push(format!("igmp {dev} group {g} users {users}"));
        }
    }
    let igmp6 = fs::read_to_string(format!("/proc/{pid}/net/igmp6")).unwrap_or_default();
    for l in igmp6.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if let (Some(d), Some(g), Some(users)) = (f.get(1), f.get(2), f.get(3)) {
            out.push(format!("igmp6 {d} group {g} users {users}"));
        }
    }
    out
}

/// The TCP and UDP sockets of `pid`'s network namespace as iproute2's
/// `ss -tanpeio` and `ss -uanpeio` show them (`/bin/ss -tanpeioH` and
/// `/bin/ss -uanpeioH` run inside it: [`in_netns_of`]), one line each,
/// `tcp ` or `udp ` first, the same from run to run, sorted. Kept, in
/// ss's order and spelling ([`ss_line`]):
/// - the state, Recv-Q and Send-Q (a listener's backlog, a datagram
///   socket's queued bytes; they vary only with a connection's stream,
///   which [`ss_no_queues`] drops);
/// - the local and peer address and port, each port the kernel picked
///   shown as `PICKED` (as [`picked_ports`] does: any but the pod's own
///   and 0);
/// - its owners, `users:(("inet-pod",pid=PID,fd=3))`: each process's name
///   and descriptor, the pid (the runner's view of it, which a restart
///   changes) shown as `PID`, sorted;
/// - `-o`'s timer kind when it is `keepalive` or `timewait`, without the
///   time left and the retransmissions (`timer:(keepalive)`): the socket's
///   settings or state; `on` (retransmission or loss probe), `persist`
///   (zero window probe) and `delack` are left out with their timer, as
///   they come and go with what is in flight at the instant ss looks;
/// - `-e`'s `uid:` (ss shows it when not 0), `fwmark:`, `v6only:` and
///   shutdown bits (`<->` none, `<--` no more sending, `-->` no more
///   receiving, `---` both), which are the socket's settings;
/// - `-i`'s negotiated options (`ts`, `usec_ts`, `sack`, `ecn`, `ecnseen`,
///   `fastopen`, `wscale:`), the congestion control's name, `mss:` (which
///   the pod checks itself with `TCP_MAXSEG`) and a `tcp-ulp-` name.
///
/// Left out: `-e`'s `ino:`, `sk:` (a cookie) and `cgroup:`, which a
/// restart changes; every other number of `-i` (`rto`, `rtt`, `ato`,
/// `cwnd`, `ssthresh`, `bytes_*`, `segs_*`, rates, `last*`, `busy`,
/// windows, `pmtu`, `rcvmss`, `advmss`, `notsent`…), which move with time
/// and traffic; and any word not listed here, so that a newer ss adds
/// nothing. UDP-Lite is not there: ss has no option for it; nor are ping
/// sockets (`/proc/net/icmp` only). Raw sockets are, with `-w`: their port
/// is their protocol, never picked.
fn ss_view(pid: i32) -> Vec<String> {
    let mut out = Vec::new();
    for (netid, flags) in [
        ("tcp", "-tanpeioH"),
        ("udp", "-uanpeioH"),
        ("raw", "-wanpeioH"),
    ] {
        match in_netns_of(pid, &["/bin/ss", flags]) {
            Ok((text, true)) => out.extend(ss_lines(netid, &String::from_utf8_lossy(&text))),
            Ok((_, false)) => out.push(format!("{netid}: /bin/ss {flags} failed")),
            Err(e) => out.push(format!("{netid}: /bin/ss {flags}: {e}")),
        }
    }
    out.sort();
    out
}

/// What ss printed for protocol `netid`, one line per socket
/// ([`ss_line`]): a socket's line, and the lines after it that begin
/// with white space (`-i`'s, which begin with a tab; one before any
/// socket's is left out).
fn ss_lines(netid: &str, text: &str) -> Vec<String> {
    let mut sockets: Vec<String> = Vec::new();
    for l in text.lines() {
        if l.trim().is_empty() {
            continue;
        }
        match sockets.last_mut() {
            Some(last) if l.starts_with(char::is_whitespace) => {
                last.push(' ');
                last.push_str(l);
            }
            None if l.starts_with(char::is_whitespace) => {}
            _ => sockets.push(l.to_owned()),
        }
    }
    sockets.iter().map(|s| ss_line(netid, s)).collect()
}

/// One socket of ss's output (its lines joined), as [`ss_view`] keeps it.
fn ss_line(netid: &str, socket: &str) -> String {
    let mut out = vec![netid.to_owned()];
    let mut rest = socket;
    // State, Recv-Q, Send-Q, local and peer address: the first five words.
    for i in 0..5 {
        rest = rest.trim_start();
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let word = &rest[..end];
        rest = &rest[end..];
        out.push(match i {
            _ if word.is_empty() => "?".to_owned(),
            1 | 2 if !word.bytes().all(|b| b.is_ascii_digit()) => "?".to_owned(),
            3 | 4 if netid != "raw" => ss_port(word),
            _ => word.to_owned(),
        });
    }
    // `users:((...))` comes next, and a process name may hold spaces.
    let mut after = rest;
    if let Some(i) = rest.find("users:(") {
        let (users, tail) = ss_users(&rest[i + "users:(".len()..]);
        out.push(users);
        after = tail;
    }
    out.extend(after.split_whitespace().filter_map(ss_word));
    out.join(" ")
}

/// `addr:port` of ss with the port shown as `PICKED` when the kernel
/// picked it (as [`picked_ports`]); `*` (no port) and other words as they
/// are.
fn ss_port(addr: &str) -> String {
    match addr.rsplit_once(':') {
        Some((host, port)) if port.parse::<u16>().is_ok_and(|p| !own_port(p.into())) => {
            format!("{host}:PICKED")
        }
        _ => addr.to_owned(),
    }
}

/// ss's owners of a socket, `("name",pid=N,fd=F),...))` (what follows
/// `users:(`), shown as `users:(("name",pid=PID,fd=F),...)` sorted, and
/// the text after them; `users:(?)` and the text after the next `))` if
/// they are not in that form.
fn ss_users(text: &str) -> (String, &str) {
    let mut users = Vec::new();
    let mut rest = text;
    loop {
        // `("NAME",pid=N,fd=F)`: NAME ends at the first `",pid=`.
        let user = rest.strip_prefix("(\"").and_then(|r| {
            let (name, r) = r.split_once("\",pid=")?;
            let (pid, r) = r.split_once(",fd=")?;
            let end = r.find(')')?;
            let fd = &r[..end];
            let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
            (digits(pid) && digits(fd))
                .then(|| (format!("(\"{name}\",pid=PID,fd={fd})"), &r[end + 1..]))
        });
        let Some((user, r)) = user else { break };
        users.push(user);
        if let Some(r) = r.strip_prefix(',') {
            rest = r;
        } else if let Some(r) = r.strip_prefix(')') {
            users.sort();
            return (format!("users:({})", users.join(",")), r);
        } else {
            break;
        }
    }
    let tail = text.split_once("))").map_or("", |(_, t)| t);
    ("users:(?)".to_owned(), tail)
}

/// Congestion controls of Linux, as ss names them with `-i`.
const SS_CONGESTION: &[&str] = &[
    "reno",
    "cubic",
    "bic",
    "bbr",
    "dctcp",
    "htcp",
    "hstcp",
    "highspeed",
    "hybla",
    "illinois",
    "lp",
    "nv",
    "scalable",
    "vegas",
    "veno",
    "westwood",
    "yeah",
    "cdg",
];

/// A word of ss's output after the owners as [`ss_view`] keeps it, or
/// `None` to leave it out.
fn ss_word(word: &str) -> Option<String> {
    let value = |prefix: &str| word.strip_prefix(prefix).filter(|v| !v.is_empty());
    if let Some(t) = word.strip_prefix("timer:(") {
        let kind = t.split([',', ')']).next().unwrap_or("");
        return ["keepalive", "timewait"]
            .contains(&kind)
            .then(|| format!("timer:({kind})"));
    }
    let keep = ["<->", "<--", "-->", "---"].contains(&word)
        || ["ts", "usec_ts", "sack", "ecn", "ecnseen", "fastopen"].contains(&word)
        || SS_CONGESTION.contains(&word)
        || ["uid:", "fwmark:", "v6only:", "wscale:", "mss:", "tcp-ulp-"]
            .iter()
            .any(|p| value(p).is_some());
    keep.then(|| word.to_owned())
}

/// `lines` of [`ss_view`] without Recv-Q and Send-Q (the third and
/// fourth words, when they are numbers or `?`), sorted.
fn ss_no_queues(lines: &[String]) -> Vec<String> {
    let queue = |w: &str| w == "?" || (!w.is_empty() && w.bytes().all(|b| b.is_ascii_digit()));
    let mut out: Vec<String> = lines
        .iter()
        .map(|l| {
            let words: Vec<&str> = l.split(' ').collect();
            if words.len() < 4 || !queue(words[2]) || !queue(words[3]) {
                return l.clone();
            }
            [&words[..2], &words[4..]].concat().join(" ")
        })
        .collect();
    out.sort();
    out
}

/// A pod with sockets of its own network namespace (`ckpt run --pod
/// --net`), checkpointed whole with `--kill`.
struct SocketPod {
    started: StartedJob,
    /// What its workload wrote of its sockets before (`/tmp/seen-NAME`).
    described: String,
    /// Its sockets as `/proc/PID/net` showed them, frozen ([`inet_view`]).
    before: Vec<String>,
    /// Its TCP and UDP sockets as ss showed them, frozen ([`ss_view`]).
    ss_before: Vec<String>,
    /// Its devices' multicast groups, frozen ([`groups_view`]).
    groups_before: Vec<String>,
    /// Its packet sockets, frozen ([`packet_view`]).
    packets_before: Vec<String>,
    /// The image's path.
    img: String,
    /// What `ckpt inspect --json` says of the image.
    json: serde_json::Value,
}

impl SocketPod {
    /// Starts workload `kind` as the init of a pod with a network
    /// namespace of its own, freezes it, reads its sockets and
    /// checkpoints it with `--kill`: `None` if the checkpoint failed (the
    /// pod is thawed again).
    fn checkpoint(c: &mut Checks, name: &str, kind: &str) -> Result<Option<Self>> {
        let started = StartedJob::start_in(name, kind, true, false, true)?;
        let seen = format!("/tmp/seen-{name}");
        let described = fs::read_to_string(&seen).with_context(|| format!("reading {seen}"))?;
        cgroup::freeze(&started.w.cg, Duration::from_secs(10))?;
        let before = inet_view(started.w.pid);
        let ss_before = ss_view(started.w.pid);
        let groups_before = groups_view(started.w.pid);
        let packets_before = packet_view(started.w.pid);
        let Some(img) =
            started.checkpoint_kill(c, name, "ckpt checkpoint --kill of the pod's init")?
        else {
            return Ok(None);
        };
        let json = inspect_value(&img)?;
        Ok(Some(Self {
            started,
            described,
            before,
            ss_before,
            groups_before,
            packets_before,
            img,
            json,
        }))
    }
}

/// A pod started with `ckpt run --pod --net` (`inet_pod`: three TCP
/// listeners (IPv4; IPv6 taking IPv4 too; IPv6 only), a bound TCP
/// socket, an unbound one, UDP sockets bound to a device, connected
/// (IPv6 to a v4-mapped address) and shut down for writing, and a UDP-Lite
/// one, with options set on each). Checkpointed whole with `--kill` and
/// restarted twice side by side, each copy in its own network namespace
/// with the same ports: `/proc/PID/net/*` and `ss` ([`ss_view`]) show the
/// same sockets in each, the image holds each socket's addresses and
/// options (`ckpt inspect`), and the first copy checks itself: what
/// getsockname, getpeername and getsockopt give is what they gave before,
/// and every socket works.
pub(crate) fn restart_pod_inet(name: &str) -> Result<ScenarioResult> {
    let mut c = Checks(Vec::new());
    let Some(SocketPod {
        started,
        described,
        before,
        ss_before,
        img,
        json,
        ..
    }) = SocketPod::checkpoint(&mut c, name, "inet_pod")?
    else {
        return Ok(ScenarioResult {
            checks: c.0,
            ..Default::default()
        });
    };
    let job = &started.job;
    let saved: Vec<String> = json["inet_sockets"]
        .as_array()
        .map(|a| a.iter().map(|s| format!("saved: {s}")).collect())
        .unwrap_or_default();
    c.eq("sockets in the image", 10, saved.len());
    let restarted = restart_frozen(&mut c, &img, job)?;
    c.same(
        "the pod's TCP, UDP and UDP-Lite sockets (/proc/PID/net), as before",
        format!("{before:#?}"),
        format!("{:#?}", inet_view(restarted.pid)),
    );
    c.same(
        "the pod's TCP and UDP sockets as ss -tanpeio and -uanpeio show them, as before",
        format!("{ss_before:#?}"),
        format!("{:#?}", ss_view(restarted.pid)),
    );
    let job2 = format!("{job}-2");
    let _job2 = RestartJob(Path::new(cgroup::ROOT).join(&job2));
    let copy2 = restart_detached(&mut c, &img, &job2)?;
    c.same(
        "the second copy's sockets, as before: the same ports bound in both at once",
        format!("{before:#?}"),
        format!("{:#?}", inet_view(copy2)),
    );
    c.same(
        "the second copy's sockets as ss shows them, as before",
        format!("{ss_before:#?}"),
        format!("{:#?}", ss_view(copy2)),
    );
    drop(_job2);
    let verdict = started.thaw_and_check(&mut c, &restarted, "the pod checks its sockets")?;
    // The ports the kernel picked vary from run to run, and with them the
    // order of /proc/net's lines.
    let mut state: Vec<String> = before.iter().map(|l| picked_ports(l)).collect();
    state.sort();
    state.extend(ss_before.iter().map(|l| format!("ss: {l}")));
    state.extend(
        described
            .lines()
            .map(|l| picked_ports(&format!("seen: {l}"))),
    );
    state.extend(saved.iter().map(|l| picked_ports(l)));
    if !verdict.starts_with("PASS") {
        state.push(verdict.trim().to_owned());
    }
    Ok(ScenarioResult {
        checks: c.0,
        state,
        ..Default::default()
    })
}

/// Whether port `p` is not one the kernel picked: 0 or one of the pod's
/// own [`PORTS`](crate::workload::inet::PORTS).
fn own_port(p: u32) -> bool {
    p == 0
        || crate::workload::inet::PORTS
            .iter()
            .any(|&o| u32::from(o) == p)
}

/// The result of a socket pod scenario: its checks, and as its state
/// `view` (its sockets in `/proc/PID/net`, picked ports shown as
/// `PICKED`), `ss` (as ss showed them), `extra` lines, what its workload
/// saw, and its verdict unless it passed.
fn socket_pod_result(
    c: Checks,
    view: &[String],
    ss: &[String],
    extra: &[String],
    described: &str,
    verdict: &str,
) -> Result<ScenarioResult> {
    // In order: /proc/net lists sockets by hash bucket, which the ports
    // the kernel picked move from run to run.
    let mut state: Vec<String> = view.iter().map(|l| picked_ports(l)).collect();
    state.sort();
    state.extend(ss.iter().map(|l| format!("ss: {l}")));
    state.extend(extra.iter().cloned());
    state.extend(
        described
            .lines()
            .map(|l| picked_ports(&format!("seen: {l}"))),
    );
    if !verdict.starts_with("PASS") {
        state.push(verdict.trim().to_owned());
    }
    Ok(ScenarioResult {
        checks: c.0,
        state,
        ..Default::default()
    })
}

/// `inet_view` lines without their queues, which move once the
/// connections resume (bytes not sent reach the peer, retransmitted SYNs
/// come and go); a listener's kept if `listeners` (its accept queue's
/// length and backlog).
fn inet_no_queues(v: &[String], listeners: bool) -> Vec<String> {
    v.iter()
        .map(|l| {
            if listeners && l.contains(" state 0A") {
                l.clone()
            } else {
                l.split(" queues ").next().unwrap_or("").to_owned()
            }
        })
        .collect()
}

/// `line` with every port the kernel picked (any but the pod's own
/// [`PORTS`](crate::workload::inet::PORTS) and 0) shown as `PICKED`, in
/// decimal (`:58953`) and in `/proc/net`'s hex (`:E649`); unchanged if it
/// is a raw socket's (`raw` first, or after `seen: `, or `"proto":"raw`
/// in it), whose ports are protocols.
fn picked_ports(line: &str) -> String {
    let raw = |l: &str| l.starts_with("raw") || l.contains("\"proto\":\"raw");
    if raw(line) || line.strip_prefix("seen: ").is_some_and(raw) {
        return line.to_owned();
    }
    let mut out = String::new();
    let mut rest = line;
    while let Some(i) = rest.find(':') {
        out.push_str(&rest[..=i]);
        rest = &rest[i + 1..];
        let end = rest
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(rest.len());
        let word = &rest[..end];
        // A port follows an address: a digit or `]` before the colon, and
        // no `.` after it (`::ffff:127.0.0.1` holds no port).
        let after_addr = out[..out.len() - 1]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_hexdigit() || c == ']')
            && !rest[end..].starts_with('.');
        let port = if !after_addr {
            None
        } else if line.contains("local ") && end == 4 {
            u32::from_str_radix(word, 16).ok()
        } else if !word.is_empty() && word.len() <= 5 && word.bytes().all(|b| b.is_ascii_digit()) {
            word.parse().ok()
        } else {
            None
        };
        match port {
            Some(p) if !own_port(p) && p <= 65535 => out.push_str("PICKED"),
            _ => out.push_str(word),
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// A pod started with `ckpt run --pod --net` (`tcp_pod`: TCP connections
/// over its loopback, IPv4 and IPv6, with bytes received and not read,
/// sent and not acknowledged, and not sent for want of window, and a
/// listener still listening beside its accepted connection). Checkpointed
/// whole with `--kill` and restarted: `/proc/PID/net/tcp{,6}` and `ss`
/// ([`ss_view`], without the queues) show the same connections in the
/// same states, with the same owners and options, the image holds each
/// connection's queues (`ckpt inspect`), and the pod checks itself: the same names, peers and options, the whole stream
/// read byte for byte, bytes both ways, a new client, a close.
pub(crate) fn restart_pod_tcp(name: &str) -> Result<ScenarioResult> {
    let mut c = Checks(Vec::new());
    let Some(SocketPod {
        started,
        described,
        before,
        ss_before,
        img,
        json,
        ..
    }) = SocketPod::checkpoint(&mut c, name, "tcp_pod")?
    else {
        return Ok(ScenarioResult {
            checks: c.0,
            ..Default::default()
        });
    };
    let job = &started.job;
    let conns: Vec<&serde_json::Value> = json["inet_sockets"]
        .as_array()
        .map(|a| a.iter().filter(|s| s["connection"].is_object()).collect())
        .unwrap_or_default();
    c.eq("established connections in the image", 4, conns.len());
    let queued: u64 = conns
        .iter()
        .map(|s| {
            let q = &s["connection"];
            q["unacked"].as_u64().unwrap_or(0)
                + q["unsent"].as_u64().unwrap_or(0)
                + q["unread"].as_u64().unwrap_or(0)
        })
        .sum();
    c.eq(
        "the image holds more than 1 MiB of their queues",
        true,
        queued > 1 << 20,
    );
    let restarted = restart_frozen(&mut c, &img, job)?;
    // The queue sizes vary from run to run with the stream's length, and
    // bytes move from the sender's queue to the receiver's once the
    // connections resume (the receiver's buffer holds the restored bytes
    // in fewer, fuller buffers, and so announces a larger window): the
    // pod checks every byte itself.
    let before = inet_no_queues(&before, false);
    c.same(
        "the pod's TCP connections and listener (/proc/PID/net: addresses and states), as before",
        format!("{before:#?}"),
        format!("{:#?}", inet_no_queues(&inet_view(restarted.pid), false)),
    );
    let ss_before = ss_no_queues(&ss_before);
    c.same(
        "the pod's TCP connections and listener as ss -tanpeio shows them (no queues), as before",
        format!("{ss_before:#?}"),
        format!("{:#?}", ss_no_queues(&ss_view(restarted.pid))),
    );
    let verdict = started.thaw_and_check(&mut c, &restarted, "the pod checks its connections")?;
    socket_pod_result(c, &before, &ss_before, &[], &described, &verdict)
}

/// A pod started with `ckpt run --pod --net` (`tcp_closing_pod`: TCP
/// connections over its loopback in every state a program holds one in
/// while it closes: FIN_WAIT1 and LAST_ACK with their FIN behind bytes
/// not sent, FIN_WAIT2, CLOSE_WAIT with the peer's FIN read and not read,
/// CLOSING, and one shut down for reading only; a listener beside them).
/// Checkpointed whole with `--kill` and restarted: `/proc/PID/net/tcp`
/// shows the same connections in the same states, the image holds each
/// one's state (`ckpt inspect`), and the pod checks itself: the same
/// names, peers, options and states, and the bytes, ends of stream and
/// `EPIPE` each end should see, then a new client.
pub(crate) fn restart_pod_tcp_closing(name: &str) -> Result<ScenarioResult> {
    let mut c = Checks(Vec::new());
    let Some(SocketPod {
        started,
        described,
        before,
        ss_before,
        img,
        json,
        ..
    }) = SocketPod::checkpoint(&mut c, name, "tcp_closing_pod")?
    else {
        return Ok(ScenarioResult {
            checks: c.0,
            ..Default::default()
        });
    };
    let job = &started.job;
    let mut states: Vec<String> = json["inet_sockets"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s["connection"]["state"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    states.sort();
    c.eq(
        "the connections' states in the image",
        "CLOSE-WAIT, CLOSE-WAIT, CLOSING, ESTAB, ESTAB, ESTAB, FIN-WAIT-1, FIN-WAIT-2, FIN-WAIT-2, FIN-WAIT-2, FIN-WAIT-2, LAST-ACK",
        states.join(", "),
    );
    let restarted = restart_frozen(&mut c, &img, job)?;
    // Bytes not sent move to the peer once the connections resume: the pod
    // checks every byte itself.
    let no_queues = |v: &[String]| inet_no_queues(v, false);
    c.same(
        "the pod's TCP connections and listener (/proc/PID/net: addresses and states), as before",
        format!("{:#?}", no_queues(&before)),
        format!("{:#?}", no_queues(&inet_view(restarted.pid))),
    );
    let ss_before = ss_no_queues(&ss_before);
    c.same(
        "the pod's TCP connections and listener as ss -tanpeio shows them (no queues), as before",
        format!("{ss_before:#?}"),
        format!("{:#?}", ss_no_queues(&ss_view(restarted.pid))),
    );
    let verdict = started.thaw_and_check(&mut c, &restarted, "the pod checks its connections")?;
    socket_pod_result(
        c,
        &no_queues(&before),
        &ss_before,
        &[],
        &described,
        &verdict,
    )
}

/// A pod started with `ckpt run --pod --net` (`tcp_pending_pod`: TCP
/// connections its listeners have not accepted yet, IPv4 and IPv6, with
/// bytes their clients sent, one client shut down for writing).
/// Checkpointed whole with `--kill` and restarted: `/proc/PID/net/tcp{,6}`
/// and `ss -tanpeio` show the same listeners with the same number of
/// connections waiting, and the same connections; the image holds each
/// waiting connection after its listener (`ckpt inspect`); and the pod
/// checks itself: it accepts them in the order they came, from the same
/// clients, with their bytes and the listener's options.
pub(crate) fn restart_pod_tcp_pending(name: &str) -> Result<ScenarioResult> {
    let mut c = Checks(Vec::new());
    let Some(SocketPod {
        started,
        described,
        before,
        ss_before,
        img,
        json,
        ..
    }) = SocketPod::checkpoint(&mut c, name, "tcp_pending_pod")?
    else {
        return Ok(ScenarioResult {
            checks: c.0,
            ..Default::default()
        });
    };
    let job = &started.job;
    let waiting: Vec<String> = json["inet_sockets"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|s| s["waiting_on"].is_u64())
                .map(|s| {
                    format!(
                        "{} on {} from {}, {} bytes to read",
                        s["proto"].as_str().unwrap_or("?"),
                        s["local"].as_str().unwrap_or("?"),
                        picked_ports(s["remote"].as_str().unwrap_or("?")),
                        s["connection"]["unread"].as_u64().unwrap_or(0)
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    c.eq(
        "connections waiting to be accepted in the image",
        4,
        waiting.len(),
    );
    let restarted = restart_frozen(&mut c, &img, job)?;
    // The queues of the connections vary with how the bytes came in.
    let no_queues = |v: &[String]| inet_no_queues(v, true);
    c.same(
        "the pod's listeners (with their accept queues' lengths) and connections (/proc/PID/net), as before",
        format!("{:#?}", no_queues(&before)),
        format!("{:#?}", no_queues(&inet_view(restarted.pid))),
    );
    // A client that has received no byte yet knows only the handshake's
    // unscaled window, and `mss:` follows half the largest window it saw:
    // the first segment after the handshake (the restarted connection's
    // window probe, or the server's first byte) raises it.
    let no_mss = |v: &[String]| -> Vec<String> {
        v.iter()
            .map(|l| {
                l.split(' ')
                    .filter(|w| !w.starts_with("mss:"))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    };
    c.same(
        "the pod's TCP sockets as ss -tanpeio shows them (MSS aside), as before",
        format!("{:#?}", no_mss(&ss_before)),
        format!("{:#?}", no_mss(&ss_view(restarted.pid))),
    );
    let verdict = started.thaw_and_check(&mut c, &restarted, "the pod checks its connections")?;
    let saved: Vec<String> = waiting.iter().map(|l| format!("saved: {l}")).collect();
    socket_pod_result(
        c,
        &no_queues(&before),
        &ss_before,
        &saved,
        &described,
        &verdict,
    )
}

/// A pod started with `ckpt run --pod --net` (`tcp_opening_pod`: two TCP
/// clients whose connect(2) is under way, SYN_SENT, because their
/// listener's queue is full: one non-blocking, one waiting in a thread).
/// Checkpointed whole with `--kill` and restarted: `/proc/PID/net/tcp` and
/// `ss -tanpeio` show the same sockets in the same states, the image says
/// the sockets are connecting (`ckpt inspect`), and the pod checks itself:
/// once it accepts the connection that filled the queue, both connects
/// complete from the same ports (the thread's restarted connect(2)
/// returns 0) and their connections carry bytes.
pub(crate) fn restart_pod_tcp_opening(name: &str) -> Result<ScenarioResult> {
    let mut c = Checks(Vec::new());
    let Some(SocketPod {
        started,
        described,
        before,
        ss_before,
        img,
        json,
        ..
    }) = SocketPod::checkpoint(&mut c, name, "tcp_opening_pod")?
    else {
        return Ok(ScenarioResult {
            checks: c.0,
            ..Default::default()
        });
    };
    let job = &started.job;
    let connecting = json["inet_sockets"]
        .as_array()
        .map(|a| a.iter().filter(|s| s["connecting"] == true).count())
        .unwrap_or(0);
    c.eq("sockets connecting (SYN-SENT) in the image", 2, connecting);
    let restarted = restart_frozen(&mut c, &img, job)?;
    // The connecting client's queue holds its SYN, counted or not as it is
    // sent again.
    let no_queues = |v: &[String]| inet_no_queues(v, true);
    c.same(
        "the pod's listener (its queue full) and sockets (/proc/PID/net), as before",
        format!("{:#?}", no_queues(&before)),
        format!("{:#?}", no_queues(&inet_view(restarted.pid))),
    );
    c.same(
        "the pod's TCP sockets as ss -tanpeio shows them (no queues), as before",
        format!("{:#?}", ss_no_queues(&ss_before)),
        format!("{:#?}", ss_no_queues(&ss_view(restarted.pid))),
    );
    let verdict = started.thaw_and_check(&mut c, &restarted, "the pod checks its sockets")?;
    socket_pod_result(
        c,
        &no_queues(&before),
        &ss_no_queues(&ss_before),
        &[],
        &described,
        &verdict,
    )
}

/// The state of the runner's end of its connection with `port` (its own
/// `/proc/net/tcp` line for 127.0.0.1:7020 and that remote port).
fn server_end_state(port: &str) -> String {
    let local = format!("0100007F:{:04X}", crate::workload::inet::OUTSIDE_PORT);
    fs::read_to_string("/proc/self/net/tcp")
        .unwrap_or_default()
        .lines()
        .skip(1)
        .find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.get(1) == Some(&local.as_str()) && f.get(2).is_some_and(|r| r.ends_with(port)))
                .then(|| f.get(3).unwrap_or(&"").to_string())
        })
        .unwrap_or_else(|| "gone".to_owned())
}

/// A tree in the caller's network namespace (`tcp_client`) connected to a
/// server outside it (this runner, on 127.0.0.1:7020), which keeps
/// running. `ckpt checkpoint --kill` closes the tree's end silently
/// (`CHECKPOINT_TCP_SILENT`: repair mode): the server's end stays
/// ESTABLISHED and reads nothing, no end of file and no reset. The tree is
/// restarted (the same four-tuple rebuilt) and the connection carries
/// bytes both ways again: the peer never saw the restart.
pub(crate) fn restart_tcp_outside_peer(name: &str) -> Result<ScenarioResult> {
    use std::io::{Read, Write};
    let mut c = Checks(Vec::new());
    let listener = std::net::TcpListener::bind(("127.0.0.1", crate::workload::inet::OUTSIDE_PORT))?;
    let started = StartedJob::start_in(name, "tcp_client", false, false, false)?;
    let (mut server, peer) = listener.accept()?;
    let port = format!("{:04X}", peer.port());
    let mut before = [0u8; 6];
    server.set_read_timeout(Some(Duration::from_secs(10)))?;
    server.read_exact(&mut before)?;
    c.eq(
        "the server reads before",
        "before",
        String::from_utf8_lossy(&before),
    );
    let w = &started.w;
    cgroup::freeze(&w.cg, Duration::from_secs(10))?;
    let Some(img) =
        started.checkpoint_kill(&mut c, name, "ckpt checkpoint --kill of the client")?
    else {
        return Ok(ScenarioResult {
            checks: c.0,
            ..Default::default()
        });
    };
    std::thread::sleep(Duration::from_millis(200));
    c.eq(
        "the server's end after the kill: still established (01), no FIN or reset came",
        "01",
        server_end_state(&port),
    );
    server.set_nonblocking(true)?;
    let mut b = [0u8; 1];
    let quiet = match server.read(&mut b) {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => "nothing to read".to_owned(),
        Ok(0) => "end of file".to_owned(),
        other => format!("{other:?}"),
    };
    c.eq("the server reads after the kill", "nothing to read", quiet);
    server.set_nonblocking(false)?;
    let restarted = restart_frozen(&mut c, &img, &started.job)?;
    c.eq(
        "the restarted client's end is back, established (01)",
        "01",
        server_end_state(&port),
    );
    // The server answers the restarted client on the same connection.
    let answer = std::thread::spawn(move || -> String {
        let mut after = [0u8; 5];
        match server.read_exact(&mut after) {
            Ok(()) => {
                let _ = server.write_all(b"reply");
                String::from_utf8_lossy(&after).into_owned()
            }
            Err(e) => e.to_string(),
        }
    });
    let verdict = started.thaw_and_check(
        &mut c,
        &restarted,
        "the restarted client checks its connection",
    )?;
    c.eq(
        "the server reads after on the same connection",
        "after",
        answer.join().unwrap_or_else(|_| "panicked".to_owned()),
    );
    let mut state = Vec::new();
    if !verdict.starts_with("PASS") {
        state.push(verdict.trim().to_owned());
    }
    Ok(ScenarioResult {
        checks: c.0,
        state,
        ..Default::default()
    })
}

/// `net.ipv4.ping_group_range` of `pid`'s network namespace, as `cat`
/// run inside it reads it.
fn ping_group_range(pid: i32) -> String {
    match in_netns_of(
        pid,
        &["/bin/busybox", "cat", "/proc/sys/net/ipv4/ping_group_range"],
    ) {
        Ok((text, true)) => String::from_utf8_lossy(&text)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" "),
        Ok((_, false)) => "(cat failed)".to_owned(),
        Err(e) => format!("({e})"),
    }
}

/// The packet sockets of the pod `pid` as `/proc/PID/net/packet` lists
/// them: type, protocol, device, running, owner (not their kernel
/// addresses, reference counts, memory or inode numbers), sorted.
fn packet_view(pid: i32) -> Vec<String> {
    let text = fs::read_to_string(format!("/proc/{pid}/net/packet")).unwrap_or_default();
    let mut out: Vec<String> = text
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let field = |i: usize| f.get(i).copied().unwrap_or("");
            format!(
                "packet type {} proto {} iface {} running {} user {}",
                field(2),
                field(3),
                field(4),
                field(5),
                field(7)
            )
        })
        .collect();
    out.sort();
    out
}

/// A pod started with `ckpt run --pod --net` (`packet_pod`: packet sockets
/// of both types on its loopback or every device, with options, a locked
/// filter, and frames queued, each made twice, the twin read before the
/// checkpoint). Checkpointed whole with `--kill` and restarted:
/// `/proc/PID/net/packet` shows the same sockets (type, protocol, device,
/// running); the image holds each one's frames (`ckpt inspect`); and the
/// pod checks itself: the same names and options, each socket's frames as
/// its twin took them (bytes, addresses, `PACKET_AUXDATA`, the time each
/// came), new frames where they go, and the same `PACKET_STATISTICS`.
pub(crate) fn restart_pod_packet(name: &str) -> Result<ScenarioResult> {
    let mut c = Checks(Vec::new());
    let Some(SocketPod {
        started,
        described,
        packets_before: before,
        img,
        json,
        ..
    }) = SocketPod::checkpoint(&mut c, name, "packet_pod")?
    else {
        return Ok(ScenarioResult {
            checks: c.0,
            ..Default::default()
        });
    };
    let job = &started.job;
    let mut saved: Vec<String> = json["packet_sockets"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|s| {
                    format!(
                        "{} {}, {} frames queued",
                        s["type"].as_str().unwrap_or("?"),
                        s["protocol"].as_str().unwrap_or("none"),
                        s["queued"].as_array().map_or(0, Vec::len)
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    saved.sort();
    c.eq(
        "the packet sockets in the image, with their frames",
        "dgram 0x0800, 0 frames queued, dgram 0x0800, 3 frames queued, dgram 0x86dd, 0 frames queued, dgram 0x86dd, 1 frames queued, raw 0x0003, 0 frames queued, raw 0x0003, 10 frames queued, raw none, 0 frames queued",
        saved.join(", "),
    );
    let restarted = restart_frozen(&mut c, &img, job)?;
    let after = packet_view(restarted.pid);
    c.same(
        "the pod's packet sockets (/proc/PID/net/packet: type, protocol, device, running), as before",
        format!("{before:#?}"),
        format!("{after:#?}"),
    );
    let verdict =
        started.thaw_and_check(&mut c, &restarted, "the pod checks its packet sockets")?;
    socket_pod_result(c, &before, &[], &[], &described, &verdict)
}

/// The urgent data of the TCP connections of an image (`ckpt inspect
/// --json`), sorted: the peer's as the image names it, and whether the
/// sender's urgent pointer is after the last byte it wrote, however many
/// of them its peer's window took.
fn urgent_lines(json: &serde_json::Value) -> Vec<String> {
    let mut urgent: Vec<String> = json["inet_sockets"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| {
                    let q = &s["connection"];
                    let u = &q["urgent"];
                    if let Some(p) = u["peer"].as_str() {
                        Some(format!("the peer's: {p}"))
                    } else {
                        let queued = q["unacked"].as_u64()? + q["unsent"].as_u64()?;
                        u["sent"].as_u64().map(|n| {
                            format!("sent, after the last of the send queue: {}", n == queued)
                        })
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    urgent.sort();
    urgent
}

/// A pod started with `ckpt run --pod --net` (`tcp_urgent_pod`: TCP
/// connections over its loopback holding urgent data at either end: a
/// byte not taken, one inline, one taken, a pointer come before its byte,
/// and the sender's urgent mode). Checkpointed whole with `--kill` and
/// restarted: `/proc/PID/net/tcp` and `ss -tanpeio` show the same
/// connections with the same queues; the image names each one's urgent
/// data (`ckpt inspect`); and the pod checks itself: each socket shows the
/// same mark, `POLLPRI` and `MSG_OOB` as before, then each urgent byte is
/// where it was, taken or stepped over as before.
pub(crate) fn restart_pod_tcp_urgent(name: &str) -> Result<ScenarioResult> {
    let mut c = Checks(Vec::new());
    let Some(SocketPod {
        started,
        described,
        before,
        ss_before,
        img,
        json,
        ..
    }) = SocketPod::checkpoint(&mut c, name, "tcp_urgent_pod")?
    else {
        return Ok(ScenarioResult {
            checks: c.0,
            ..Default::default()
        });
    };
    let job = &started.job;
    let urgent = urgent_lines(&json);
    c.eq(
        "the urgent data of the connections in the image",
        "sent, after the last of the send queue: true
the peer's: byte 0x58 at 3 of the bytes not read, not taken yet
the peer's: byte 0x58 at 3 of the bytes not read, not taken yet
the peer's: its pointer came, its byte not yet
the peer's: taken with MSG_OOB, at 3 of the bytes not read",
        urgent.join("\n"),
    );
    let restarted = restart_frozen(&mut c, &img, job)?;
    // The restored connections hold the same urgent data: a checkpoint of
    // the copy, frozen, saves it again.
    let again = format!("/tmp/{name}-again.img");
    let o = Command::new(CKPT)
        .args(["checkpoint", &restarted.pid.to_string(), "-o", &again])
        .output()?;
    c.eq(
        "ckpt checkpoint of the restarted pod, frozen",
        "exit 0",
        exit_line(&o),
    );
    c.same(
        "the urgent data of the connections in its image, as in the first",
        urgent.join("\n"),
        urgent_lines(&inspect_value(&again)?).join("\n"),
    );
    let _ = fs::remove_file(&again);
    // Bytes move from the sender's queue to the receiver's once the
    // connections resume (the receiver's buffer holds the restored bytes
    // in fewer, fuller buffers, and so announces a larger window): the pod
    // checks every byte itself.
    let before = inet_no_queues(&before, false);
    c.same(
        "the pod's TCP connections and listener (/proc/PID/net: addresses and states), as before",
        format!("{before:#?}"),
        format!("{:#?}", inet_no_queues(&inet_view(restarted.pid), false)),
    );
    let ss_before = ss_no_queues(&ss_before);
    c.same(
        "the pod's TCP connections and listener as ss -tanpeio shows them (no queues), as before",
        format!("{ss_before:#?}"),
        format!("{:#?}", ss_no_queues(&ss_view(restarted.pid))),
    );
    let verdict = started.thaw_and_check(&mut c, &restarted, "the pod checks its urgent data")?;
    socket_pod_result(c, &before, &ss_before, &[], &described, &verdict)
}

/// A pod started with `ckpt run --pod --net` (`icmp_pod`: ICMP ping
/// sockets of both families, bound and connected, and raw IP sockets
/// (IPv4 ICMP with `ICMP_FILTER`, ICMPv6 with `ICMPV6_FILTER`, IPv4 UDP
/// with `IP_HDRINCL`, IPv6 protocol 253 with `IPV6_CHECKSUM`), with echo
/// replies and copies of packets queued to each, and
/// `net.ipv4.ping_group_range` opened to every group). Checkpointed whole
/// with `--kill` and restarted twice side by side: `/proc/PID/net/{raw,
/// raw6,icmp,icmp6}` and `ss -wanpeio` show the same sockets with the
/// same queues in each copy, `ping_group_range` is carried, the image
/// holds each socket's datagrams and options (`ckpt inspect`), and the
/// first copy checks itself: names, peers and options as before, each
/// queued datagram read in order with its sender, IP header and TTL, and
/// every socket pinging or sending again.
pub(crate) fn restart_pod_icmp(name: &str) -> Result<ScenarioResult> {
    let mut c = Checks(Vec::new());
    let Some(SocketPod {
        started,
        described,
        before,
        ss_before,
        img,
        json,
        groups_before,
        ..
    }) = SocketPod::checkpoint(&mut c, name, "icmp_pod")?
    else {
        return Ok(ScenarioResult {
            checks: c.0,
            ..Default::default()
        });
    };
    let job = &started.job;
    let saved: Vec<String> = json["inet_sockets"]
        .as_array()
        .map(|a| a.iter().map(|s| format!("saved: {s}")).collect())
        .unwrap_or_default();
    c.eq("sockets in the image", 11, saved.len());
    let queued: usize = json["inet_sockets"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|s| s["queued"].as_array().map_or(0, Vec::len))
                .sum()
        })
        .unwrap_or(0);
    c.eq(
        "datagrams queued in the image (4 replies, their 4 copies, a UDP datagram and its copy, an IPv6 one, one to a multicast group)",
        12,
        queued,
    );
    c.eq(
        "ping_group_range in the image",
        "[0,2147483647]",
        json["pod"]["net"]["ping_group_range"].to_string(),
    );
    let restarted = restart_frozen(&mut c, &img, job)?;
    c.same(
        "the pod's raw and ping sockets (/proc/PID/net), queues included, as before",
        format!("{before:#?}"),
        format!("{:#?}", inet_view(restarted.pid)),
    );
    c.same(
        "the pod's raw sockets as ss -wanpeio shows them, queues included, as before",
        format!("{ss_before:#?}"),
        format!("{:#?}", ss_view(restarted.pid)),
    );
    c.same(
        "the multicast groups of the pod's loopback (/proc/PID/net/igmp, igmp6), as before",
        format!("{groups_before:#?}"),
        format!("{:#?}", groups_view(restarted.pid)),
    );
    c.eq(
        "net.ipv4.ping_group_range of the restarted pod's network namespace",
        "0 2147483647",
        ping_group_range(restarted.pid),
    );
    let job2 = format!("{job}-2");
    let _job2 = RestartJob(Path::new(cgroup::ROOT).join(&job2));
    let copy2 = restart_detached(&mut c, &img, &job2)?;
    c.same(
        "the second copy's sockets, as before: the same identifiers bound in both at once",
        format!("{before:#?}"),
        format!("{:#?}", inet_view(copy2)),
    );
    drop(_job2);
    let verdict = started.thaw_and_check(&mut c, &restarted, "the pod checks its sockets")?;
    let mut extra = groups_before;
    extra.extend(saved.iter().map(|l| picked_ports(l)));
    socket_pod_result(c, &before, &ss_before, &extra, &described, &verdict)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ss 6.1's output on Linux 6.18 (`ss -tanpeioH` and `-uanpeioH` in a
    /// namespace like `inet_pod`'s and `tcp_pod`'s), cut short, with a
    /// process name holding a space and two owners added.
    const TCP: &str = concat!(
        "LISTEN 0      5       127.0.0.1:7001    0.0.0.0:*     users:((\"inet-pod\",pid=24753,fd=3)) ino:885044 sk:2 cgroup:/ <->\n",
        "\t cubic cwnd:10      \n",
        "LISTEN 0      128             *:7002          *:*     users:((\"inet pod\",pid=24753,fd=4)) uid:1000 ino:885045 sk:7 cgroup:/ v6only:0 <->\n",
        "\t cubic cwnd:10\n",
        "ESTAB  128512 0       127.0.0.1:45590 127.0.0.1:7010  users:((\"tcp-pod\",pid=9,fd=14),(\"sh\",pid=8,fd=3)) ino:885054 sk:4 cgroup:/ <->\n",
        "\t ts sack cubic wscale:10,10 rto:204 rtt:0.013/0.006 ato:80 mss:32768 pmtu:65535 rcvmss:47616 advmss:65483 cwnd:11 bytes_sent:5 bytes_acked:6 bytes_received:128512 send 221814153846bps lastsnd:1916 pacing_rate 534679499600bps delivery_rate 29127111104bps delivered:2 app_limited rcv_space:65495 minrtt:0.009 snd_wnd:65536\n",
        "ESTAB  5      3782144 127.0.0.1:7010  127.0.0.1:45590 users:((\"tcp-pod\",pid=24753,fd=15)) timer:(persist,1.524ms,0) ino:885055 sk:5 cgroup:/ <->\n",
        "\t ts sack cubic wscale:10,10 rto:208 backoff:3 mss:47616 notsent:3782144\n",
        "ESTAB  5      0           [::1]:7011      [::1]:43514 users:((\"tcp-pod\",pid=24753,fd=18)) timer:(keepalive,119min,0) ino:885058 sk:9 cgroup:/ <->\n",
        "\t ts sack cubic wscale:10,10 mss:32768\n",
    );
    const UDP: &str = concat!(
        "UNCONN 832    0                 0.0.0.0:7004             0.0.0.0:*    users:((\"inet-pod\",pid=24753,fd=8)) ino:885049 sk:a cgroup:/ <-> \n",
        "ESTAB  0      0               127.0.0.1:7005           127.0.0.1:7004 users:((\"inet-pod\",pid=24753,fd=11)) ino:885051 sk:b cgroup:/ <--\n",
        "ESTAB  832    0      [::ffff:127.0.0.1]:44285 [::ffff:127.0.0.1]:7004 users:((\"inet-pod\",pid=24753,fd=9)) ino:885050 sk:c cgroup:/ <-> \n",
    );

    #[test]
    fn ss_lines_keep_what_is_stable() {
        assert_eq!(
            ss_lines("tcp", TCP),
            [
                "tcp LISTEN 0 5 127.0.0.1:7001 0.0.0.0:* users:((\"inet-pod\",pid=PID,fd=3)) <-> cubic",
                "tcp LISTEN 0 128 *:7002 *:* users:((\"inet pod\",pid=PID,fd=4)) uid:1000 v6only:0 <-> cubic",
                "tcp ESTAB 128512 0 127.0.0.1:PICKED 127.0.0.1:7010 users:((\"sh\",pid=PID,fd=3),(\"tcp-pod\",pid=PID,fd=14)) <-> ts sack cubic wscale:10,10 mss:32768",
                "tcp ESTAB 5 3782144 127.0.0.1:7010 127.0.0.1:PICKED users:((\"tcp-pod\",pid=PID,fd=15)) <-> ts sack cubic wscale:10,10 mss:47616",
                "tcp ESTAB 5 0 [::1]:7011 [::1]:PICKED users:((\"tcp-pod\",pid=PID,fd=18)) timer:(keepalive) <-> ts sack cubic wscale:10,10 mss:32768",
            ]
        );
        assert_eq!(
            ss_lines("udp", UDP),
            [
                "udp UNCONN 832 0 0.0.0.0:7004 0.0.0.0:* users:((\"inet-pod\",pid=PID,fd=8)) <->",
                "udp ESTAB 0 0 127.0.0.1:7005 127.0.0.1:7004 users:((\"inet-pod\",pid=PID,fd=11)) <--",
                "udp ESTAB 832 0 [::ffff:127.0.0.1]:PICKED [::ffff:127.0.0.1]:7004 users:((\"inet-pod\",pid=PID,fd=9)) <->",
            ]
        );
        assert_eq!(
            ss_no_queues(&ss_lines("udp", UDP)),
            [
                "udp ESTAB 127.0.0.1:7005 127.0.0.1:7004 users:((\"inet-pod\",pid=PID,fd=11)) <--",
                "udp ESTAB [::ffff:127.0.0.1]:PICKED [::ffff:127.0.0.1]:7004 users:((\"inet-pod\",pid=PID,fd=9)) <->",
                "udp UNCONN 0.0.0.0:7004 0.0.0.0:* users:((\"inet-pod\",pid=PID,fd=8)) <->",
            ]
        );
    }

    #[test]
    fn ss_lines_drop_what_they_do_not_know() {
        let odd = concat!(
            "\t an info line with no socket\n",
            "\n",
            "LISTEN\n",
            "ESTAB x 0 127.0.0.1%lo:7004 [fe80::1]%lo:40000 users:((\"a\",pid=1,fd=x)) timer:(on,200ms,0) new:1 <->\n",
            "ESTAB 0 0 127.0.0.1:7004 127.0.0.1:70000 users:((\"unterminated\n",
            "SYN-SENT 0 1 127.0.0.1:7004 127.0.0.1:7010 timer:(\n",
        );
        assert_eq!(
            ss_no_queues(&["tcp: /bin/ss -tanpeioH failed".to_owned()]),
            ["tcp: /bin/ss -tanpeioH failed"]
        );
        assert_eq!(
            ss_lines("tcp", odd),
            [
                "tcp LISTEN ? ? ? ?",
                "tcp ESTAB ? 0 127.0.0.1%lo:7004 [fe80::1]%lo:PICKED users:(?) <->",
                "tcp ESTAB 0 0 127.0.0.1:7004 127.0.0.1:70000 users:(?)",
                "tcp SYN-SENT 0 1 127.0.0.1:7004 127.0.0.1:7010",
            ]
        );
    }
}
