//! `cargo xtask initramfs`: the guest's root file system.
//!
//! Builds the static (musl) guest binaries and writes
//! `target/initramfs.cpio.gz`, a gzip'ed newc cpio archive with:
//! `/init` (qemu/init), `/bin/busybox` (Debian's busybox-static) and `/bin/sh`
//! linked to it, `/bin/ckpt`, `/bin/ckpt-scenarios`, `/dev/console`, empty
//! `/proc /sys /tmp /etc /root`, and Debian's `criu` (the peer `cargo xtask
//! bench` measures beside kernel-ckpt) and `sqlite3` (a real program the
//! scenarios run) with the shared libraries `ldd` lists, at their paths;
//! the manual pages of `man/` in `/usr/share/man` with mandoc as `man`,
//! and the pages' example programs, built static. The archive is written
//! in Rust, with every entry owned by root and dated 0, so it is the same
//! for the same inputs and
//! needs no root rights for the device node.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use flate2::write::GzEncoder;
use flate2::Compression;
use xshell::cmd;

use crate::kernel::selftests;
use crate::{file_name, man, rel, Ctx};

const GUEST_TARGET: &str = "x86_64-unknown-linux-musl";
const BUSYBOX: &str = "/bin/busybox";
const CRIU: &str = "/usr/sbin/criu";
/// Debian programs the real-program scenarios run, each with its package
/// (`cargo xtask setup` installs it) and its name in the guest's `/bin`.
const PROGRAMS: &[(&str, &str, &str)] = &[
    (CRIU, "criu", "bin/criu"),
    ("/usr/bin/sqlite3", "sqlite3", "bin/sqlite3"),
    ("/usr/bin/tmux", "tmux", "bin/tmux"),
    ("/usr/bin/tail", "coreutils", "bin/gnu-tail"),
    ("/usr/bin/timeout", "coreutils", "bin/gnu-timeout"),
    (PYTHON, "python3", "bin/python3"),
    // Named apart from busybox's applets of the same names.
    ("/usr/bin/ipcmk", "util-linux", "bin/util-ipcmk"),
    ("/usr/bin/ipcs", "util-linux", "bin/util-ipcs"),
    ("/usr/bin/ipcrm", "util-linux", "bin/util-ipcrm"),
    // The pod scenarios show sockets as `ss -tanpeio` does; it reads no
    // data files with `-n` (no /etc/services, nothing of /etc/iproute2).
    ("/usr/bin/ss", "iproute2", "bin/ss"),
    // iputils' ping, on ICMP ping sockets where `ping_group_range` lets it
    // (named apart from busybox's), and setpriv to run it as a user.
    ("/usr/bin/ping", "iputils-ping", "bin/iputils-ping"),
    ("/usr/bin/setpriv", "util-linux", "bin/setpriv"),
    // mandoc is `man` when called `mman` (Debian's name); /bin/man runs it.
    ("/usr/bin/mandoc", "mandoc", "bin/mman"),
];
/// The guest's `man`: mandoc's, finding the pages in /usr/share/man.
const MAN: &str = "#!/bin/sh\nexec /bin/mman \"$@\"\n";
/// Debian's Python, which the guest runs with the part of its standard
/// library that the multiprocessing program loads (found by running it on
/// the host with `--list`), at the same paths (`/usr/lib/python3.N/`,
/// which the guest's `/bin/python3` finds through its built-in prefix).
const PYTHON: &str = "/usr/bin/python3";
const PYTHON_LIB: &str = "/usr/lib/python3.";
/// The multiprocessing program and where the guest has it.
const MP_POOL: &str = "testsuite/python/mp_pool.py";
const MP_POOL_GUEST: &str = "usr/share/kernel-ckpt/mp_pool.py";
/// Data files those programs read, each with its package: the terminal
/// description tmux gives its panes (`TERM=screen`), and the C.UTF-8
/// character set tmux requires (it sets `LC_CTYPE` to it itself).
const DATA: &[(&str, &str)] = &[
    ("/lib/terminfo/s/screen", "ncurses-base"),
    ("/usr/lib/locale/C.utf8/LC_CTYPE", "libc-bin"),
];

/// The shared libraries `ldd` lists for `bin` (the loader included), as
/// absolute paths: `libfoo.so.1 => /lib/.../libfoo.so.1 (0x...)` or
/// `/lib64/ld-linux-x86-64.so.2 (0x...)`; the vdso has no file.
fn shared_libraries(ctx: &Ctx, bin: &str) -> Result<Vec<PathBuf>> {
    let sh = &ctx.sh;
    let out = cmd!(sh, "ldd {bin}")
        .quiet()
        .read()
        .with_context(|| format!("ldd {bin} failed"))?;
    Ok(parse_ldd(&out))
}

fn parse_ldd(out: &str) -> Vec<PathBuf> {
    out.lines()
        .filter_map(|l| {
            let path = match l.split_once("=>") {
                Some((_, rest)) => rest.split_whitespace().next()?,
                None => l.split_whitespace().next()?,
            };
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect()
}

pub fn initramfs(ctx: &Ctx) -> Result<PathBuf> {
    initramfs_in(ctx, &ctx.target)
}

/// Like [`initramfs`], but writes `initramfs.cpio.gz` (and the glibc test
/// program it packs) into `dir`: a run of the debug kernel packs its own
/// copy, so it never rewrites the archive a normal run is about to boot.
pub fn initramfs_in(ctx: &Ctx, dir: &Path) -> Result<PathBuf> {
    let sh = &ctx.sh;
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let cargo = ctx.cargo();
    cmd!(
        sh,
        "{cargo} build --release --target {GUEST_TARGET} -p ckpt -p testsuite --bins"
    )
    .run()
    .context(
        "building the guest binaries failed (see above); if the musl target is missing, \
             run `cargo xtask setup`",
    )?;
    let bins = ctx.target.join(GUEST_TARGET).join("release");
    let init = ctx.repo.join("qemu/init");
    // A static glibc program: glibc registers rseq and caches the vdso,
    // as most real programs do.
    let glibc_src = ctx.repo.join("testsuite/c/glibc_counter.c");
    let glibc_bin = dir.join("glibc-counter");
    cmd!(sh, "gcc -static -O2 -Wall -Werror -o {glibc_bin} {glibc_src}")
        .quiet()
        .run()
        .context("building testsuite/c/glibc_counter.c failed: gcc and libc6-dev (static glibc) are needed, run `cargo xtask setup`")?;

    let inputs = [
        (init.clone(), "qemu/init is the guest's /init script"),
        (
            PathBuf::from(BUSYBOX),
            "install busybox-static (`cargo xtask setup`)",
        ),
        (
            bins.join("ckpt"),
            "the ckpt package (tools/ckpt) must build a `ckpt` binary",
        ),
        (
            bins.join("ckpt-scenarios"),
            "the testsuite package must build a `ckpt-scenarios` binary ([[bin]])",
        ),
    ];
    for (path, hint) in &inputs {
        if !path.is_file() {
            bail!("{} is missing: {hint}", path.display());
        }
    }

    let mut archive = Cpio::default();
    // Files at paths below /, put in with their directories further down.
    let mut files_late: Vec<(PathBuf, String)> = Vec::new();
    for dir in ["bin", "dev", "proc", "sys", "tmp", "etc", "root", "run"] {
        archive.dir(dir);
    }
    // The kernel opens /dev/console for init before /init can mount devtmpfs.
    archive.char_device("dev/console", 0o600, 5, 1);
    archive.file("init", 0o755, read(&init)?);
    archive.file("bin/busybox", 0o755, read(Path::new(BUSYBOX))?);
    archive.symlink("bin/sh", "busybox");
    archive.file("bin/ckpt", 0o755, read(&bins.join("ckpt"))?);
    archive.file(
        "bin/ckpt-scenarios",
        0o755,
        read(&bins.join("ckpt-scenarios"))?,
    );
    archive.file("bin/glibc-counter", 0o755, read(&glibc_bin)?);
    archive.file("bin/man", 0o755, MAN.as_bytes().to_vec());
    // The series' kselftests, where `make install` of the selftests would
    // put them under INSTALL_PATH; the kselftest_checkpoint scenario runs
    // them.
    for program in selftests::build(ctx)? {
        let guest = format!("usr/lib/kselftests/checkpoint/{}", file_name(&program));
        files_late.push((program, guest));
    }
    // The example programs of checkpoint(2) and restart(2), run by the
    // man_examples scenario, under their own names.
    for program in man::build_examples(ctx, &dir.join("man-examples"), true)? {
        archive.file(
            &format!("bin/{}", file_name(&program)),
            0o755,
            read(&program)?,
        );
    }
    // The Debian programs and their libraries, each at the path the loader
    // looks for it (symbolic links resolved: the file is stored under the
    // linked name), each library once.
    let mut dirs: Vec<String> = Vec::new();
    let mut libs: Vec<PathBuf> = Vec::new();
    for (path, package, name) in PROGRAMS {
        if !Path::new(path).is_file() {
            bail!("{path} is missing: install {package} (`cargo xtask setup`)");
        }
        archive.file(name, 0o755, read(Path::new(path))?);
        for lib in shared_libraries(ctx, path)? {
            if !libs.contains(&lib) {
                libs.push(lib);
            }
        }
    }
    for (path, package) in DATA {
        if !Path::new(path).is_file() {
            bail!("{path} is missing: install {package} (`cargo xtask setup`)");
        }
        libs.push(PathBuf::from(path));
    }
    for module in python_modules(ctx)? {
        if module.extension().is_some_and(|e| e == "so") {
            for lib in shared_libraries(ctx, &module.to_string_lossy())? {
                if !libs.contains(&lib) {
                    libs.push(lib);
                }
            }
        }
        if !libs.contains(&module) {
            libs.push(module);
        }
    }
    let mut files: Vec<(PathBuf, String)> = libs
        .into_iter()
        .map(|lib| {
            let name = lib.to_string_lossy().trim_start_matches('/').to_string();
            (lib, name)
        })
        .collect();
    files.push((ctx.repo.join(MP_POOL), MP_POOL_GUEST.to_string()));
    files.append(&mut files_late);
    // The manual pages, where the guest's `man` looks.
    for page in man::pages(&ctx.repo.join("man"))? {
        let name = file_name(&page);
        let section = name.rsplit('.').next().unwrap_or("1").to_string();
        files.push((page, format!("usr/share/man/man{section}/{name}")));
    }
    for (lib, name) in files {
        // Its directories, outermost first, each once.
        let ancestors: Vec<String> = Path::new(&name)
            .ancestors()
            .skip(1)
            .filter(|d| !d.as_os_str().is_empty())
            .map(|d| d.to_string_lossy().into_owned())
            .collect();
        for d in ancestors.into_iter().rev() {
            if !dirs.contains(&d) {
                archive.dir(&d);
                dirs.push(d);
            }
        }
        archive.file(&name, 0o755, read(&lib)?);
    }
    let bytes = archive.finish();

    let out = dir.join("initramfs.cpio.gz");
    let tmp = dir.join("initramfs.cpio.gz.tmp");
    let file = File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    let mut gz = GzEncoder::new(BufWriter::new(file), Compression::fast());
    gz.write_all(&bytes)?;
    gz.finish()?.flush()?;
    fs::rename(&tmp, &out)?;
    eprintln!(
        "initramfs: {} ({} KiB, {} KiB unpacked)",
        rel(ctx, &out),
        fs::metadata(&out)?.len() / 1024,
        bytes.len() / 1024
    );
    Ok(out)
}

fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// A cpio archive in the "new ASCII" (newc) format the kernel unpacks.
#[derive(Default)]
struct Cpio {
    out: Vec<u8>,
    ino: u32,
}

const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;
const S_IFCHR: u32 = 0o020000;

impl Cpio {
    fn dir(&mut self, name: &str) {
        self.entry(name, S_IFDIR | 0o755, 2, (0, 0), &[]);
    }

    fn file(&mut self, name: &str, perm: u32, data: Vec<u8>) {
        self.entry(name, S_IFREG | perm, 1, (0, 0), &data);
    }

    fn symlink(&mut self, name: &str, target: &str) {
        self.entry(name, S_IFLNK | 0o777, 1, (0, 0), target.as_bytes());
    }

    fn char_device(&mut self, name: &str, perm: u32, major: u32, minor: u32) {
        self.entry(name, S_IFCHR | perm, 1, (major, minor), &[]);
    }

    fn entry(&mut self, name: &str, mode: u32, nlink: u32, rdev: (u32, u32), data: &[u8]) {
        self.ino += 1;
        let fields = [
            self.ino,
            mode,
            0, // uid
            0, // gid
            nlink,
            0, // mtime
            u32::try_from(data.len()).expect("initramfs file larger than 4 GiB"),
            0, // devmajor
            0, // devminor
            rdev.0,
            rdev.1,
            u32::try_from(name.len() + 1).expect("name length"),
            0, // check
        ];
        self.out.extend_from_slice(b"070701");
        for field in fields {
            self.out
                .extend_from_slice(format!("{field:08x}").as_bytes());
        }
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(0);
        self.pad();
        self.out.extend_from_slice(data);
        self.pad();
    }

    fn pad(&mut self) {
        while !self.out.len().is_multiple_of(4) {
            self.out.push(0);
        }
    }

    fn finish(mut self) -> Vec<u8> {
        self.ino = 0;
        self.entry("TRAILER!!!", 0, 1, (0, 0), &[]);
        self.out
    }
}

/// The standard library files (`.py` and extension modules) Debian's Python
/// loads to run the multiprocessing program, as the program lists them
/// when run on the host with `--list`.
fn python_modules(ctx: &Ctx) -> Result<Vec<PathBuf>> {
    let sh = &ctx.sh;
    if !Path::new(PYTHON).is_file() {
        bail!("{PYTHON} is missing: install python3 (`cargo xtask setup`)");
    }
    let script = ctx.repo.join(MP_POOL);
    let out = cmd!(sh, "{PYTHON} -I -S -B {script} --list")
        .quiet()
        .ignore_stderr()
        .read()
        .with_context(|| format!("running {} --list with {PYTHON} failed", script.display()))?;
    let modules: Vec<PathBuf> = out
        .lines()
        .filter(|l| l.starts_with(PYTHON_LIB))
        .map(PathBuf::from)
        .collect();
    if !modules
        .iter()
        .any(|m| m.ends_with("multiprocessing/pool.py"))
    {
        bail!(
            "{} --list did not list multiprocessing's modules:\n{out}",
            script.display()
        );
    }
    Ok(modules)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldd_output() {
        let out = "\tlinux-vdso.so.1 (0x00007ffd)\n\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x7f)\n\t/lib64/ld-linux-x86-64.so.2 (0x7f)\n";
        assert_eq!(
            parse_ldd(out),
            [
                PathBuf::from("/lib/x86_64-linux-gnu/libc.so.6"),
                PathBuf::from("/lib64/ld-linux-x86-64.so.2")
            ]
        );
    }

    #[test]
    fn newc_layout() {
        let mut cpio = Cpio::default();
        cpio.file("init", 0o755, b"#!/bin/sh\n".to_vec());
        let bytes = cpio.finish();
        // 110-byte header, "init\0" padded to 116, 10 data bytes padded to 128.
        assert_eq!(&bytes[..6], b"070701");
        assert_eq!(&bytes[6..14], b"00000001");
        assert_eq!(&bytes[14..22], b"000081ed");
        assert_eq!(&bytes[54..62], b"0000000a");
        assert_eq!(&bytes[110..115], b"init\0");
        assert_eq!(&bytes[116..126], b"#!/bin/sh\n");
        assert_eq!(&bytes[128..134], b"070701");
        assert!(bytes.ends_with(b"TRAILER!!!\0\0\0\0"));
        assert_eq!(bytes.len() % 4, 0);
    }

    /// The archive lists and unpacks with the system's cpio, when there is one.
    #[test]
    fn cpio_reads_it() {
        let mut cpio = Cpio::default();
        cpio.dir("bin");
        cpio.file("bin/hello", 0o644, b"hello".to_vec());
        cpio.symlink("bin/sh", "hello");
        let bytes = cpio.finish();
        let Ok(mut child) = std::process::Command::new("cpio")
            .args(["-t", "-v", "--quiet"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
        else {
            return;
        };
        child.stdin.take().unwrap().write_all(&bytes).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        let listing = String::from_utf8_lossy(&out.stdout);
        assert!(listing.contains("bin/hello"), "{listing}");
        assert!(listing.contains("bin/sh -> hello"), "{listing}");
    }
}
