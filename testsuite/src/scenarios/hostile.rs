//! Images edited by a user who is not root, fed to `restart(2)`.
//!
//! An unprivileged process can hand the kernel any image that names its
//! own pid: `restart(0, fd, 0)` then turns it into the saved process. So
//! every field a restart sets is a way to ask the kernel for something,
//! and the kernel must answer as the system call a process would use to
//! set that state itself (chroot, chdir, open, prctl, setresuid,
//! setrlimit…). Each case below starts from an image of a sleeping
//! process, edits it as uid 1000 would (the pid made its own, the ids its
//! own), changes one thing, and runs `restart(2)` as uid 1000.

use super::{checkpoint_kill, Checks, Workload};
use anyhow::{bail, Context, Result};
use ckpt_image::{Item, Parser, RawRecords, RecordType, Tail, FILE_CHR, FILE_REG};
use std::fs;
use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use testsuite::Check;

/// The uid and gid the cases run as.
const USER: u32 = 1000;

/// One edit of the image, and what `restart(2)` must answer.
struct Case {
    name: &'static str,
    expected: &'static str,
}

/// The cases, by name; [`edit`] applies each.
const CASES: &[Case] = &[
    Case {
        name: "own ids and limits (control)",
        expected: "restarted",
    },
    Case {
        name: "uid 0",
        expected: "EPERM",
    },
    Case {
        name: "supplementary group 0",
        expected: "EPERM",
    },
    Case {
        name: "RLIMIT_NOFILE hard limit above its own",
        expected: "EPERM",
    },
    Case {
        name: "root's permitted and effective capabilities",
        expected: "EPERM",
    },
    Case {
        name: "securebits KEEP_CAPS",
        expected: "EPERM",
    },
    Case {
        name: "root directory /tmp (chroot needs CAP_SYS_CHROOT)",
        expected: "EPERM",
    },
    Case {
        name: "working directory it may not search",
        expected: "EACCES",
    },
    Case {
        name: "executable /bin/busybox (PR_SET_MM_EXE_FILE needs CAP_CHECKPOINT_RESTORE)",
        expected: "EPERM",
    },
    Case {
        name: "open file it may not read",
        expected: "EACCES",
    },
    Case {
        name: "a FIFO where the image has a character device",
        expected: "EINVAL",
    },
    Case {
        name: "a FIFO where the image maps a file",
        expected: "EINVAL",
    },
    Case {
        name: "a directory where the image maps a file",
        expected: "EINVAL",
    },
    Case {
        name: "a FIFO as the executable",
        expected: "EACCES",
    },
    Case {
        name: "heap start above the heap end (prctl PR_SET_MM_MAP)",
        expected: "EINVAL",
    },
    Case {
        name: "argument area below mmap_min_addr (prctl PR_SET_MM_MAP)",
        expected: "EINVAL",
    },
    Case {
        name: "alternate signal stack of 16 bytes",
        expected: "EINVAL",
    },
    Case {
        name: "the caller under a seccomp filter (the image has none)",
        expected: "restarted (seccomp 2)",
    },
];

/// Files the cases point the image at.
fn paths(scenario: &str) -> (String, String, String) {
    (
        format!("/tmp/{scenario}-private"),
        format!("/tmp/{scenario}-secret"),
        format!("/tmp/{scenario}-fifo"),
    )
}

/// Re-encodes an image record by record: `f` may return a new payload for
/// a record (given decoded), and the tail is written anew.
pub(crate) fn rewrite(
    img: &[u8],
    mut f: impl FnMut(Item<'_>) -> Option<Vec<u8>>,
) -> Result<Vec<u8>> {
    let mut parser = Parser::new();
    let mut out = Vec::with_capacity(img.len());
    let mut n = 0u32;
    for rec in RawRecords::new(img) {
        let rec = rec.map_err(|e| anyhow::anyhow!("{e}"))?;
        let (kind, old) = (rec.kind, rec.payload);
        let item = parser.feed(rec).map_err(|e| anyhow::anyhow!("{e}"))?;
        if matches!(item, Item::Tail(_)) {
            break;
        }
        let payload = f(item).unwrap_or_else(|| old.to_vec());
        let rt = RecordType::from_u32(kind).context("unknown record type")?;
        out.extend_from_slice(&ckpt_image::record_header(rt, payload.len() as u32));
        out.extend_from_slice(&payload);
        out.resize(out.len() + ckpt_image::padding(payload.len()), 0);
        n += 1;
    }
    let tail = Tail {
        nr_records: n,
        bytes: out.len() as u64,
    };
    let t = tail.encode();
    out.extend_from_slice(&ckpt_image::record_header(RecordType::Tail, t.len() as u32));
    out.extend_from_slice(&t);
    Ok(out)
}

/// Whether restart opens or makes something by a path for object record
/// `item` (an open file of a path, a FIFO, a unix socket, a deleted file
/// made again, a pty, an inotify instance's watches): those it opens with
/// the credentials of the process they are for, within its records only.
pub(crate) fn opens_path(item: &Item<'_>) -> bool {
    use ckpt_image::{FILE_DEV_TTY, FILE_DIR, FILE_FIFO, FILE_MQUEUE, FILE_PTY, FILE_UNLINKED};
    match item {
        Item::File(f, _) => {
            matches!(
                f.kind,
                FILE_REG | FILE_CHR | FILE_DIR | FILE_FIFO | FILE_MQUEUE | FILE_UNLINKED
            ) || (f.kind == FILE_PTY && f.flags & FILE_DEV_TTY != 0)
        }
        Item::Fifo(..)
        | Item::UnixSock(..)
        | Item::DeletedFile(..)
        | Item::Pty(..)
        | Item::Inotify(..) => true,
        _ => false,
    }
}

/// `img` with every object record (open file, pipe, shared memory and its
/// pages) moved to right after the forest rows, in their order (objects
/// are numbered in the order they come), and whether one of them opens a
/// path ([`opens_path`]). Still a valid image, each object before the
/// first record that names it, but one the kernel never writes (it writes
/// each object where it first meets it, within a process's records).
/// Restart restores objects wherever they are, but opens a path only
/// within its process's records, with its credentials: it refuses such an
/// image if one opens a path.
pub(crate) fn objects_first(img: &[u8]) -> Result<(Vec<u8>, bool)> {
    let (mut head, mut objects, mut rest) = (Vec::new(), Vec::new(), Vec::new());
    let mut parser = Parser::new();
    let mut paths = false;
    for rec in RawRecords::new(img) {
        let rec = rec.map_err(|e| anyhow::anyhow!("{e}"))?;
        let payload = rec.payload;
        let kind = RecordType::from_u32(rec.kind).context("unknown record type")?;
        let item = parser.feed(rec).map_err(|e| anyhow::anyhow!("{e}"))?;
        let to = match kind {
            RecordType::Tail => break,
            k if k.is_object() => {
                paths |= opens_path(&item);
                &mut objects
            }
            RecordType::Header | RecordType::Forest | RecordType::Task => &mut head,
            _ => &mut rest,
        };
        to.push((kind, payload));
    }
    if objects.is_empty() {
        bail!("the image has no object record to move");
    }
    let mut out = Vec::with_capacity(img.len());
    let mut n = 0u32;
    for (kind, payload) in head.into_iter().chain(objects).chain(rest) {
        out.extend_from_slice(&ckpt_image::record_header(kind, payload.len() as u32));
        out.extend_from_slice(payload);
        out.resize(out.len() + ckpt_image::padding(payload.len()), 0);
        n += 1;
    }
    let t = Tail {
        nr_records: n,
        bytes: out.len() as u64,
    }
    .encode();
    out.extend_from_slice(&ckpt_image::record_header(RecordType::Tail, t.len() as u32));
    out.extend_from_slice(&t);
    Ok((out, paths))
}

/// `img` with its first reopened file (a regular file or a character
/// device) moved to `path`, as a regular file; `None` if it has none.
pub(crate) fn with_first_file_at(img: &[u8], path: &[u8]) -> Result<Option<Vec<u8>>> {
    let mut renamed = false;
    let out = rewrite(img, |item| match item {
        Item::File(mut f, _) if !renamed && matches!(f.kind, FILE_REG | FILE_CHR) => {
            renamed = true;
            f.kind = FILE_REG;
            f.path_len = path.len() as u32;
            let mut p = f.encode().to_vec();
            p.extend_from_slice(path);
            Some(p)
        }
        _ => None,
    })?;
    Ok(renamed.then_some(out))
}

/// The image of case `case` for the process `me`.
fn edit(img: &[u8], case: &str, me: i32, scenario: &str) -> Result<Vec<u8>> {
    let (private, secret, fifo) = paths(scenario);
    // A first pass finds the open file of fd 0 (stdin, /dev/null).
    let mut fd0_file = None;
    for item in ckpt_image::ImageDecoder::new(img) {
        if let Item::Fd(fd) = item.map_err(|e| anyhow::anyhow!("{e}"))? {
            if fd.fd == 0 {
                fd0_file = Some(fd.file);
            }
        }
    }
    // The first file mapping is the one a case may point elsewhere.
    let mut mapped_fifo = false;
    rewrite(img, |item| match item {
        Item::Task(mut t) => {
            t.pid = me;
            t.tgid = me;
            Some(t.encode().to_vec())
        }
        Item::TaskState(mut t) => {
            t.pid = me;
            Some(t.encode().to_vec())
        }
        Item::TaskMisc(mut m, _) => {
            m.ids = [USER; 8];
            // A process of uid 1000 has no capabilities (its bounding
            // set is root's).
            m.caps = [0, 0, 0, m.caps[3], 0];
            m.securebits = 0;
            let mut groups = Vec::new();
            match case {
                "uid 0" => m.ids[0..4].fill(0),
                "supplementary group 0" => groups.push(0u32),
                "RLIMIT_NOFILE hard limit above its own" => {
                    m.rlimits[7] = (1024, 1 << 20);
                }
                "root's permitted and effective capabilities" => {
                    m.caps[1] = ckpt_image::CAP_VALID_MASK;
                    m.caps[2] = ckpt_image::CAP_VALID_MASK;
                }
                "securebits KEEP_CAPS" => m.securebits = 1 << 4,
                _ => {}
            }
            m.ngroups = groups.len() as u32;
            let mut p = m.encode().to_vec();
            for g in groups {
                p.extend_from_slice(&g.to_le_bytes());
            }
            Some(p)
        }
        Item::Signals(mut s, infos) if case == "alternate signal stack of 16 bytes" => {
            s.ss_sp = 0x10000;
            s.ss_size = 16;
            s.ss_flags = 0;
            let mut p = s.encode().to_vec();
            p.extend_from_slice(infos);
            Some(p)
        }
        Item::Mm(mut h, exe) => {
            let mut exe = exe.to_vec();
            match case {
                "heap start above the heap end (prctl PR_SET_MM_MAP)" => {
                    h.start_brk = h.brk + 0x1000;
                }
                "argument area below mmap_min_addr (prctl PR_SET_MM_MAP)" => {
                    h.arg_start = 0x100;
                }
                c if c.starts_with("executable /bin/busybox") => {
                    exe = b"/bin/busybox".to_vec();
                    h.exe_len = exe.len() as u32;
                }
                "a FIFO as the executable" => {
                    exe = fifo.clone().into_bytes();
                    h.exe_len = exe.len() as u32;
                }
                _ => {}
            }
            let mut p = h.encode().to_vec();
            p.extend_from_slice(&exe);
            Some(p)
        }
        Item::Vma(mut v, _)
            if (case == "a FIFO where the image maps a file"
                || case == "a directory where the image maps a file")
                && v.kind == ckpt_image::VMA_FILE
                && !mapped_fifo =>
        {
            mapped_fifo = true;
            let path = if case.starts_with("a FIFO") {
                fifo.clone().into_bytes()
            } else {
                // A directory uid 1000 may open.
                b"/tmp".to_vec()
            };
            v.path_len = path.len() as u32;
            let mut p = v.encode().to_vec();
            p.extend_from_slice(&path);
            Some(p)
        }
        Item::Files(mut h, cwd, root) => {
            let (mut cwd, mut root) = (cwd.to_vec(), root.to_vec());
            match case {
                "root directory /tmp (chroot needs CAP_SYS_CHROOT)" => root = b"/tmp".to_vec(),
                "working directory it may not search" => cwd = private.clone().into_bytes(),
                _ => {}
            }
            h.cwd_len = cwd.len() as u32;
            h.root_len = root.len() as u32;
            let mut p = h.encode().to_vec();
            p.extend_from_slice(&cwd);
            p.extend_from_slice(&root);
            Some(p)
        }
        Item::File(mut f, path) if Some(f.id) == fd0_file => {
            let path = match case {
                "open file it may not read" => {
                    f.kind = FILE_REG;
                    secret.clone().into_bytes()
                }
                "a FIFO where the image has a character device" => {
                    f.kind = FILE_CHR;
                    fifo.clone().into_bytes()
                }
                _ => path.to_vec(),
            };
            f.path_len = path.len() as u32;
            let mut p = f.encode().to_vec();
            p.extend_from_slice(&path);
            Some(p)
        }
        _ => None,
    })
}

/// `ckpt-scenarios attack CASE IMAGE SCENARIO`, run as uid 1000: edits the
/// image for this process and calls `restart(2)`. On failure it prints the
/// errno's name and exits; on success it is the restored sleeper.
pub(crate) fn attack(case: &str, image: &str, scenario: &str) -> Result<()> {
    let img = fs::read(image).with_context(|| format!("reading {image}"))?;
    let me = std::process::id() as i32;
    let edited = edit(&img, case, me, scenario)?;
    let memfd = nix::sys::memfd::memfd_create(c"attack", nix::sys::memfd::MFdFlags::empty())?;
    let mut f = fs::File::from(memfd);
    f.write_all(&edited)?;
    std::io::Seek::rewind(&mut f)?;
    if case == "the caller under a seccomp filter (the image has none)" {
        // The filter a restart must not shed (no_new_privs first: uid 1000
        // may not install one without it).
        // SAFETY: sets a flag of this process.
        unsafe { nix::libc::prctl(nix::libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
        crate::workload::holds::allow_all_seccomp_filter()
            .context("installing the seccomp filter")?;
    }
    match ckpt::sys_restart(0, f.as_fd(), 0) {
        Ok(()) => bail!("restart(2) returned 0 without restoring"),
        Err(e) => {
            println!("{e:?}");
            std::io::stdout().flush()?;
            std::process::exit(0)
        }
    }
}

/// What became of one attack: the errno, "restarted" (the process runs
/// as the saved sleeper), or "blocked in restart(2)".
fn run_case(exe: &std::path::Path, case: &str, image: &str, scenario: &str) -> Result<String> {
    let mut child = Command::new(exe)
        .args(["attack", case, image, scenario])
        .uid(USER)
        .gid(USER)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("spawning the attack as uid 1000")?;
    let pid = child.id();
    let start = Instant::now();
    let verdict = loop {
        if let Some(status) = child.try_wait()? {
            let out = child.wait_with_output()?;
            let said = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if status.success() && !said.is_empty() {
                return Ok(said);
            }
            return Ok(format!(
                "exited ({status}): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        if start.elapsed() > Duration::from_secs(3) {
            let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            break if comm.trim() == "sleeper" {
                // Restarted: under the caller's seccomp filter, if any.
                let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
                match status
                    .lines()
                    .find_map(|l| l.strip_prefix("Seccomp:"))
                    .map(str::trim)
                {
                    Some("0") | None => "restarted".to_string(),
                    Some(mode) => format!("restarted (seccomp {mode})"),
                }
            } else {
                let wchan = fs::read_to_string(format!("/proc/{pid}/wchan")).unwrap_or_default();
                format!("blocked in restart(2) ({wchan})")
            };
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let _ = child.kill();
    let _ = child.wait();
    Ok(verdict)
}

/// Scenario `err_restart_unprivileged`: every case, each answered as the
/// matching system call would answer uid 1000.
pub(crate) fn err_restart_unprivileged(name: &str) -> Result<Vec<Check>> {
    let w = Workload::start(name, "sleeper")?;
    let mut c = Checks(Vec::new());
    let img = format!("/tmp/{name}.img");
    checkpoint_kill(&mut c, w.pid, &img)?;
    fs::set_permissions(&img, fs::Permissions::from_mode(0o644))?;
    // The sleeper's stdout and stderr: uid 1000 may write it.
    fs::set_permissions(
        format!("/tmp/{name}.log"),
        fs::Permissions::from_mode(0o666),
    )?;
    let (private, secret, fifo) = paths(name);
    let _ = fs::create_dir(&private);
    fs::set_permissions(&private, fs::Permissions::from_mode(0o700))?;
    fs::write(&secret, b"root only\n")?;
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o600))?;
    let _ = fs::remove_file(&fifo);
    nix::unistd::mkfifo(
        fifo.as_str(),
        nix::sys::stat::Mode::from_bits_truncate(0o666),
    )?;
    let exe = std::env::current_exe()?;
    for case in CASES {
        let got = run_case(&exe, case.name, &img, name)?;
        c.eq(case.name, case.expected, got);
    }
    Ok(c.0)
}
