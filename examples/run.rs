//! `run`: run a program in a container, with Docker's flag names and conventions where they
//! exist.
//!
//! ```text
//! cargo run --example run -- [OPTIONS] -- PROGRAM [ARGS...]
//! sudo cargo run --example run -- --hostname box --tmpfs /tmp -- /bin/sh -c 'hostname; ps'
//! ```
//!
//! Uses `clap` for the command line. `run --help` prints everything below too.
//!
//! # Exit codes (as `docker run`)
//!
//! * `125`: `run` itself failed: a bad flag or value (parse errors included), or the container
//!   could not be set up (namespaces, mounts, cgroup, limits). `--help` and `--version` exit 0.
//! * `126`: the program was found but cannot be executed (no execute permission, a directory,
//!   not an executable format).
//! * `127`: the program was not found, or its interpreter (`#!` line) or dynamic loader is
//!   missing.
//! * otherwise the program's own exit code, or `128+N` when it was killed by signal `N`
//!   (e.g. `143` for `SIGTERM`, `137` for `SIGKILL`).
//!
//! # Environment and working directory (as `docker run`)
//!
//! The program does not inherit the caller's environment. It gets
//! `PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`, `HOSTNAME` (the
//! container's host name: `--hostname`, else the host's, which a new UTS namespace starts
//! with), `HOME=/root`, and `TERM` when `run`'s standard input or output is a terminal (the
//! caller's `TERM`, since the program writes to that same terminal; `xterm` when unset), then
//! every `-e K=V` (`-e K` copies `K` from the caller's environment, and sets nothing when the
//! caller has no `K`). It starts in `/`, or in `-w DIR` (an absolute path inside the
//! container).
//!
//! # Signals
//!
//! `SIGINT`, `SIGTERM`, `SIGHUP`, `SIGQUIT`, `SIGUSR1` and `SIGUSR2` sent to `run` are forwarded
//! to the container's first process: the program, or the init with `--init` (which passes
//! them on to the program). Signals from the terminal (`Ctrl-C`, `Ctrl-\`, hangup) are not
//! sent again: the kernel sends them to the terminal's whole foreground process group, and
//! the container's processes are in `run`'s group, so they got them already. `run` exits only
//! once the container has ended and its cgroup has been removed, with the exit code above
//! (`143` after a forwarded `SIGTERM` that ended the program).
//!
//! Without `--init` the program is PID 1 of its pid namespace, and the kernel discards every
//! signal that PID 1 neither handles nor blocks (`sleep`, for one, cannot be stopped by
//! `SIGTERM` as PID 1). When `run` sees that a `SIGINT`, `SIGTERM`, `SIGHUP` or `SIGQUIT` was
//! discarded this way (from the program's `/proc/PID/status`), it says so, and the next one of
//! these kills the container (`SIGKILL`, exit code 137), much like `docker stop` ends with
//! `SIGKILL`. A program that handles the signal is never killed this way. Use `--init` to
//! have signals reach programs without handlers.
//!
//! If `run` itself is killed with `SIGKILL`, the container is killed too (the library's
//! `die_with_parent`).
//!
//! # Implementation notes
//!
//! The forwarded signals are blocked in the main thread first thing, before anything could
//! start a thread, so no thread of `run` ever takes them (the library resets the child's
//! signal mask when it spawns). The main thread then waits with `poll` on both the
//! container's pidfd and a `signalfd` for those signals: no signal handler, no extra thread.
//! Forwarding uses [`hutch::Child::signal`] (`pidfd_send_signal`), which cannot hit a recycled
//! pid; the same thread is the only one that reaps the container. `nix` wraps the signal
//! mask, `signalfd` and `poll`, so this file has no `unsafe` code.
//!
//! # Tests
//!
//! The flag parsers have unit tests here (`cargo test --example run`; proptest properties for
//! sizes). `tests/cli.rs` runs the built example as a user would: exit codes, signals (also
//! from a pseudo-terminal), the environment, values and error messages.

#![forbid(unsafe_code)]

use std::ffi::{OsStr, OsString};
use std::io::IsTerminal;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, ExitStatus};
use std::time::Instant;

use clap::{Parser, ValueEnum};
use hutch::cgroup_v2::DevNum;
use hutch::cgroup_v2::cpuset::CpuList;
use hutch::cgroup_v2::io::IoMax;
use hutch::{Container, Namespaces, SpawnError, Step};

/// The search path the program gets, as Docker gives it.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Exit code for a failure of `run` itself.
const EXIT_RUN: u8 = 125;
/// Exit code for a program that cannot be executed.
const EXIT_CANNOT_EXECUTE: u8 = 126;
/// Exit code for a program that was not found.
const EXIT_NOT_FOUND: u8 = 127;

const AFTER_LONG_HELP: &str = "\
Exit codes (as docker run):
  125  run itself failed: a bad flag or value, or the container could not be set up
  126  the program cannot be executed (no permission, a directory, not an executable)
  127  the program was not found, or its #! interpreter or dynamic loader is missing
  N    otherwise the program's exit code; 128+N when it was killed by signal N
       (--help and --version exit 0)

Environment (as docker run): the program does not inherit run's environment. It gets
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin, HOSTNAME (the
  container's host name), HOME=/root and, when run's stdin or stdout is a terminal, TERM
  (the caller's, else xterm); then each -e K=V (-e K copies K from run's environment). It
  starts in / unless -w DIR is given.

Signals: SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 are forwarded to the
  container (to the program, or to the init with --init, which passes them on); run exits
  once the container has ended and its cgroup is removed. Without --init the program is PID 1,
  and the kernel discards signals PID 1 has no handler for (e.g. sleep ignores SIGTERM): run
  then says so, and the next SIGINT/SIGTERM/SIGHUP/SIGQUIT kills the container (exit 137).
  Signals from the terminal (Ctrl-C, Ctrl-\\, hangup) are not sent again: the container is
  in run's process group and got them already. If run is killed with SIGKILL, the container
  is killed too.";

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Network {
    /// A new network namespace with only `lo`, up.
    None,
    /// The host's network namespace.
    Host,
}

/// A limit that Docker lets users lift with `-1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Limit {
    /// `-1`: no limit (the same as leaving the flag out).
    Unlimited,
    /// A limit.
    Value(u64),
}

/// Run PROGRAM in a new container.
#[derive(Debug, Parser)]
#[command(
    name = "run",
    version,
    trailing_var_arg = true,
    after_long_help = AFTER_LONG_HELP
)]
struct Args {
    /// Host name inside the container.
    #[arg(long)]
    hostname: Option<OsString>,
    /// Network: `none` (a new namespace with only lo) or `host`.
    #[arg(long, value_enum, default_value = "none")]
    network: Network,
    /// Make the root file system read-only (the host's tree already is by default, with a
    /// private writable /tmp; this makes a --rootfs read-only too).
    #[arg(long)]
    read_only: bool,
    /// Mount a tmpfs at PATH (repeatable).
    #[arg(long, value_name = "PATH")]
    tmpfs: Vec<PathBuf>,
    /// Bind mount SRC (on the host) at DST (in the container), read-write or with `:ro`
    /// read-only; `:rw` says read-write explicitly (repeatable).
    #[arg(short = 'v', long = "volume", value_name = "SRC:DST[:ro|:rw]", value_parser = parse_volume)]
    volume: Vec<Volume>,
    /// Use DIR as the root file system (not the host's `/`).
    #[arg(long, value_name = "DIR")]
    rootfs: Option<PathBuf>,
    /// Set an environment variable K=V, or copy K from run's environment (repeatable).
    #[arg(short = 'e', long = "env", value_name = "K=V|K", value_parser = parse_env)]
    env: Vec<EnvVar>,
    /// Working directory inside the container, an absolute path (default `/`).
    #[arg(short = 'w', long = "workdir", value_name = "DIR", value_parser = parse_workdir)]
    workdir: Option<PathBuf>,
    /// Run a tiny init as PID 1 that reaps orphans and forwards signals to the program.
    #[arg(long)]
    init: bool,
    /// Run in a user namespace that maps the caller to root inside.
    #[arg(long)]
    userns: bool,
    /// Hide the paths Docker hides (/proc/kcore, ...) and make /proc/sys etc. read-only
    /// (the default now; kept for old command lines).
    #[arg(long)]
    docker_masks: bool,
    /// Memory limit: bytes, or a number (fractions allowed) with a unit b, k, m, g, t
    /// (binary, any case, optional `b`/`ib`), e.g. `64m`, `1.5g`; `-1` for no limit.
    #[arg(long, value_name = "BYTES", value_parser = parse_memory, allow_hyphen_values = true)]
    memory: Option<Limit>,
    /// CPU limit in cores, e.g. `0.5` (from 0.01 to the number of CPUs).
    #[arg(long, value_name = "CORES", value_parser = parse_cpus, allow_hyphen_values = true)]
    cpus: Option<f64>,
    /// Maximum number of processes and threads; `-1` for no limit.
    #[arg(long, value_name = "N", value_parser = parse_pids_limit, allow_hyphen_values = true)]
    pids_limit: Option<Limit>,
    /// CPUs to run on, e.g. `0-1,3`.
    #[arg(long, value_name = "LIST")]
    cpuset_cpus: Option<CpuList>,
    /// Read rate limit for a block device, DEVICE:RATE in bytes per second with the units of
    /// --memory, e.g. `/dev/vda:1mb` (repeatable).
    #[arg(long, value_name = "DEVICE:RATE", value_parser = parse_device_rate)]
    device_read_bps: Vec<(DevNum, u64)>,
    /// Write rate limit for a block device, DEVICE:RATE in bytes per second with the units of
    /// --memory, e.g. `/dev/vda:512k` (repeatable; combines with --device-read-bps for the
    /// same device).
    #[arg(long, value_name = "DEVICE:RATE", value_parser = parse_device_rate)]
    device_write_bps: Vec<(DevNum, u64)>,
    /// Print the container's peak memory and CPU time when it ends (needs a cgroup: root,
    /// or a cgroup2 hierarchy delegated to the caller).
    #[arg(long)]
    stats: bool,
    /// The program and its arguments.
    #[arg(required = true, value_name = "PROGRAM")]
    command: Vec<OsString>,
}

/// A bind mount from `-v`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Volume {
    src: PathBuf,
    dst: PathBuf,
    read_only: bool,
}

/// An environment variable from `-e`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum EnvVar {
    /// `K=V`.
    Set(OsString, OsString),
    /// `K`: copy from the caller's environment, if it has it.
    Copy(OsString),
}

/// Parses a size as Docker does: a number, with an optional fraction, then optionally a space
/// and a binary unit `b`, `k`, `m`, `g`, `t` or `p`, in any case, optionally followed by `ib`
/// or `b` (`1.5g`, `64M`, `512kb`, `1 GiB`, `4096`). A fraction of a byte is dropped.
fn parse_size(s: &str) -> Result<u64, String> {
    let bad =
        || format!("invalid size {s:?}: expected a number with an optional unit b, k, m, g or t");
    let t = s.trim().to_ascii_lowercase();
    let digits_end = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(digits_end);
    let unit = unit.strip_prefix(' ').unwrap_or(unit);
    let shift = match unit {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        "p" | "pb" | "pib" => 50,
        _ => return Err(bad()),
    };
    let (whole, fraction) = match number.split_once('.') {
        Some((w, f)) => (w, f),
        None => (number, ""),
    };
    // "1." and ".5" are fine, "." and "" are not.
    if whole.is_empty() && fraction.is_empty() || fraction.contains('.') {
        return Err(bad());
    }
    let too_large = || format!("size {s:?} is too large (at most {} bytes)", u64::MAX);
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| too_large())?
    };
    let bytes = whole
        .checked_mul(1u64 << shift)
        .and_then(|b| b.checked_add(fraction_bytes(fraction.as_bytes(), shift)))
        .ok_or_else(too_large)?;
    Ok(bytes)
}

/// `floor(0.<digits> * 2^shift)`, exactly: doubles the decimal fraction `shift` times and
/// collects the carries (no floating point, so `0.5k` is exactly 512).
fn fraction_bytes(digits: &[u8], shift: u32) -> u64 {
    let mut d: Vec<u8> = digits.iter().map(|c| c - b'0').collect();
    let mut out = 0u64;
    for _ in 0..shift {
        let mut carry = 0;
        for x in d.iter_mut().rev() {
            let v = *x * 2 + carry;
            *x = v % 10;
            carry = v / 10;
        }
        out = out * 2 + u64::from(carry);
    }
    out
}

/// `--memory`: a size above zero, or `-1` for no limit.
fn parse_memory(s: &str) -> Result<Limit, String> {
    if s.trim() == "-1" {
        return Ok(Limit::Unlimited);
    }
    match parse_size(s)? {
        0 => Err("a limit of 0 bytes leaves no memory at all; use -1 for no limit".to_owned()),
        n => Ok(Limit::Value(n)),
    }
}

/// `--pids-limit`: a count of at least 1, or `-1` for no limit.
fn parse_pids_limit(s: &str) -> Result<Limit, String> {
    match s.trim() {
        "-1" => Ok(Limit::Unlimited),
        t => match t.parse::<u64>() {
            Ok(0) => Err("a limit of 0 would not even let the program start; \
                          use at least 1, or -1 for no limit"
                .to_owned()),
            Ok(n) => Ok(Limit::Value(n)),
            Err(_) => Err("expected a whole number of processes, or -1 for no limit".to_owned()),
        },
    }
}

/// The number of CPUs the host has online (`/sys/devices/system/cpu/online`), at least 1.
fn online_cpus() -> u64 {
    std::fs::read_to_string("/sys/devices/system/cpu/online")
        .ok()
        .and_then(|s| s.parse::<CpuList>().ok())
        .map(|l| l.len())
        .or_else(|| {
            std::thread::available_parallelism()
                .ok()
                .map(|n| n.get() as u64)
        })
        .unwrap_or(1)
        .max(1)
}

/// `--cpus`: cores, from 0.01 (the kernel's smallest quota, 1 ms per 100 ms period) to the
/// number of CPUs.
fn parse_cpus(s: &str) -> Result<f64, String> {
    parse_cpus_with(s, online_cpus())
}

fn parse_cpus_with(s: &str, cpus: u64) -> Result<f64, String> {
    let range = || format!("must be more than 0 and at most {cpus} (the number of CPUs)");
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("not a number of cores; {}", range()))?;
    if !v.is_finite() || v <= 0.0 || v > cpus as f64 {
        return Err(range());
    }
    if v < 0.01 {
        return Err(
            "the smallest CPU limit is 0.01 (the kernel's minimum quota, 1 ms per 100 ms)"
                .to_owned(),
        );
    }
    Ok(v)
}

/// Parses `DEVICE:RATE` into the device's number and the rate in bytes per second.
fn parse_device_rate(spec: &str) -> Result<(DevNum, u64), String> {
    let (dev, rate) = spec
        .rsplit_once(':')
        .ok_or_else(|| "expected DEVICE:RATE, e.g. /dev/vda:1mb".to_owned())?;
    if dev.is_empty() {
        return Err(
            "the device is missing before ':' (expected DEVICE:RATE, e.g. /dev/vda:1mb)".into(),
        );
    }
    if rate.is_empty() {
        return Err(format!(
            "the rate is missing after {dev:?} (expected DEVICE:RATE, e.g. {dev}:1mb)"
        ));
    }
    let meta = std::fs::metadata(dev).map_err(|e| format!("device {dev}: {e}"))?;
    if !meta.file_type().is_block_device() {
        return Err(format!("{dev} is not a block device"));
    }
    let rate = parse_size(rate)?;
    if rate == 0 {
        return Err(format!(
            "{dev}: a rate of 0 is refused by the kernel; leave the flag out for no limit"
        ));
    }
    Ok((DevNum::from_dev_t(meta.rdev()), rate))
}

/// Parses `SRC:DST`, `SRC:DST:ro` or `SRC:DST:rw`.
fn parse_volume(spec: &str) -> Result<Volume, String> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (src, dst, read_only) = match parts.as_slice() {
        [src, dst] => (src, dst, false),
        [src, dst, "ro"] => (src, dst, true),
        [src, dst, "rw"] => (src, dst, false),
        [_, _, mode] => {
            return Err(format!(
                "unknown mode {mode:?}: expected ro (read-only) or rw (read-write)"
            ));
        }
        _ => return Err("expected SRC:DST, SRC:DST:ro or SRC:DST:rw".to_owned()),
    };
    if src.is_empty() || dst.is_empty() {
        return Err("SRC and DST must not be empty (expected SRC:DST[:ro|:rw])".to_owned());
    }
    if !dst.starts_with('/') {
        return Err(format!("DST {dst:?} must be an absolute path"));
    }
    Ok(Volume {
        src: src.into(),
        dst: dst.into(),
        read_only,
    })
}

/// Parses `K=V` or `K`.
fn parse_env(s: &str) -> Result<EnvVar, String> {
    let (k, v) = match s.split_once('=') {
        Some((k, v)) => (k, Some(v)),
        None => (s, None),
    };
    if k.is_empty() {
        return Err("the variable name is empty (expected K=V or K)".to_owned());
    }
    Ok(match v {
        Some(v) => EnvVar::Set(k.into(), v.into()),
        None => EnvVar::Copy(k.into()),
    })
}

/// `-w`: an absolute path inside the container.
fn parse_workdir(s: &str) -> Result<PathBuf, String> {
    if s.starts_with('/') {
        Ok(s.into())
    } else {
        Err("must be an absolute path (a directory inside the container, e.g. /tmp)".to_owned())
    }
}

/// The environment the program starts with (see the file's docs), in order: later entries win.
fn environment(
    args: &Args,
    caller: impl Fn(&OsStr) -> Option<OsString>,
    tty: bool,
) -> Vec<(OsString, OsString)> {
    let hostname = args.hostname.clone().or_else(|| {
        std::fs::read("/proc/sys/kernel/hostname")
            .ok()
            .map(|b| OsStr::from_bytes(b.trim_ascii_end()).to_owned())
    });
    let mut vars: Vec<(OsString, OsString)> = vec![("PATH".into(), DEFAULT_PATH.into())];
    if let Some(h) = hostname {
        vars.push(("HOSTNAME".into(), h));
    }
    vars.push(("HOME".into(), "/root".into()));
    if tty {
        let term = caller(OsStr::new("TERM"))
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| "xterm".into());
        vars.push(("TERM".into(), term));
    }
    for e in &args.env {
        match e {
            EnvVar::Set(k, v) => vars.push((k.clone(), v.clone())),
            EnvVar::Copy(k) => {
                if let Some(v) = caller(k) {
                    vars.push((k.clone(), v));
                }
            }
        }
    }
    vars
}

/// Where `path` (inside the container) can be looked at from the host, following `-v`,
/// `--tmpfs` and `--rootfs` as the container's mounts would; `None` when it cannot (a tmpfs,
/// `/proc`, `/dev`, `/sys`, the private `/tmp`, a relative name). Used only to explain an
/// `exec` failure.
fn host_view(args: &Args, path: &Path) -> Option<PathBuf> {
    if !path.is_absolute() {
        return None;
    }
    let volume = args
        .volume
        .iter()
        .rev()
        .filter(|v| path.starts_with(&v.dst))
        .max_by_key(|v| v.dst.components().count());
    // What the container gets fresh, not from the tree: --tmpfs, /proc, /dev and /sys, and
    // with the host's tree a private /tmp.
    let fresh = ["/proc", "/dev", "/sys"]
        .into_iter()
        .chain(args.rootfs.is_none().then_some("/tmp"))
        .map(Path::new);
    let tmpfs = args
        .tmpfs
        .iter()
        .map(PathBuf::as_path)
        .chain(fresh)
        .filter(|t| path.starts_with(t))
        .map(|t| t.components().count())
        .max();
    if let Some(v) = volume {
        if tmpfs.is_some_and(|t| t > v.dst.components().count()) {
            return None;
        }
        return Some(v.src.join(path.strip_prefix(&v.dst).ok()?));
    }
    if tmpfs.is_some() {
        return None;
    }
    match &args.rootfs {
        Some(root) => Some(root.join(path.strip_prefix("/").ok()?)),
        None => Some(path.to_owned()),
    }
}

/// The interpreter named by a script's `#!` line.
fn shebang_interpreter(head: &[u8]) -> Option<OsString> {
    let line = head.strip_prefix(b"#!")?;
    let line = line.split(|b| *b == b'\n').next()?;
    let interp = line
        .split(|b| *b == b' ' || *b == b'\t')
        .find(|w| !w.is_empty())?;
    Some(OsStr::from_bytes(interp).to_owned())
}

/// The dynamic loader named by a 64-bit little-endian ELF file's `PT_INTERP` header.
fn elf_interpreter(file: &[u8]) -> Option<OsString> {
    const PT_INTERP: u32 = 3;
    if file.len() < 64 || &file[..4] != b"\x7fELF" || file[4] != 2 || file[5] != 1 {
        return None;
    }
    let u16_at = |o: usize| Some(u16::from_le_bytes(file.get(o..o + 2)?.try_into().ok()?));
    let u32_at = |o: usize| Some(u32::from_le_bytes(file.get(o..o + 4)?.try_into().ok()?));
    let u64_at = |o: usize| Some(u64::from_le_bytes(file.get(o..o + 8)?.try_into().ok()?));
    let phoff = usize::try_from(u64_at(0x20)?).ok()?;
    let phentsize = usize::from(u16_at(0x36)?);
    let phnum = usize::from(u16_at(0x38)?);
    for i in 0..phnum {
        let ph = phoff.checked_add(i.checked_mul(phentsize)?)?;
        if u32_at(ph)? == PT_INTERP {
            let off = usize::try_from(u64_at(ph + 8)?).ok()?;
            let size = usize::try_from(u64_at(ph + 32)?).ok()?;
            let name = file.get(off..off.checked_add(size)?)?;
            let name = name.split(|b| *b == 0).next()?;
            return Some(OsStr::from_bytes(name).to_owned());
        }
    }
    None
}

/// The paths the kernel was asked to execute, as `execvp` tries them: the program itself when
/// its name has a `/` (relative to the working directory), else the program in each directory
/// of the container's `PATH`.
fn program_candidates(args: &Args) -> Vec<PathBuf> {
    let program = Path::new(&args.command[0]);
    let cwd = args.workdir.as_deref().unwrap_or(Path::new("/"));
    if program.as_os_str().as_bytes().contains(&b'/') {
        return vec![cwd.join(program)];
    }
    let path = args
        .env
        .iter()
        .rev()
        .find_map(|e| match e {
            EnvVar::Set(k, v) if k == "PATH" => Some(Some(v.clone())),
            EnvVar::Copy(k) if k == "PATH" => Some(std::env::var_os("PATH")),
            _ => None,
        })
        .unwrap_or_else(|| Some(DEFAULT_PATH.into()))
        .unwrap_or_default();
    path.as_bytes()
        .split(|b| *b == b':')
        .map(|dir| {
            // An empty element means the working directory, as in execvp.
            cwd.join(OsStr::from_bytes(dir)).join(program)
        })
        .collect()
}

/// A clear message and exit code for a program that could not be executed (`errno` from
/// `execve`), when the host's view of what was executed explains more than the errno alone.
fn explain_exec_failure(args: &Args, errno: i32) -> Option<(String, u8)> {
    for program in program_candidates(args) {
        let Some(on_host) = host_view(args, &program) else {
            continue;
        };
        let Ok(meta) = std::fs::metadata(&on_host) else {
            continue;
        };
        let shown = program.display();
        match errno {
            libc::EACCES | libc::EISDIR if meta.is_dir() => {
                return Some((
                    format!("cannot execute {shown}: it is a directory"),
                    EXIT_CANNOT_EXECUTE,
                ));
            }
            libc::EACCES if meta.is_file() && meta.mode() & 0o111 == 0 => {
                return Some((
                    format!(
                        "cannot execute {shown}: it is not executable (mode {:o}; chmod +x it)",
                        meta.mode() & 0o7777
                    ),
                    EXIT_CANNOT_EXECUTE,
                ));
            }
            libc::ENOENT if meta.is_file() => {
                // The file is there: what is missing is what the kernel loads to run it.
                let head = read_head(&on_host)?;
                if let Some(interp) = shebang_interpreter(&head) {
                    return Some((
                        format!(
                            "cannot run {shown}: its interpreter {} (from its #! line) was not \
                             found in the container",
                            Path::new(&interp).display()
                        ),
                        EXIT_NOT_FOUND,
                    ));
                }
                if let Some(loader) = elf_interpreter(&head) {
                    return Some((
                        format!(
                            "cannot run {shown}: its dynamic loader {} was not found in the \
                             container",
                            Path::new(&loader).display()
                        ),
                        EXIT_NOT_FOUND,
                    ));
                }
            }
            _ => {}
        }
    }
    None
}

/// The first 64 KiB of a file (enough for a `#!` line or ELF program headers).
fn read_head(path: &Path) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut head = Vec::new();
    std::fs::File::open(path)
        .ok()?
        .take(64 << 10)
        .read_to_end(&mut head)
        .ok()?;
    Some(head)
}

/// Checks what the library would only find out later, with a less clear error.
fn check_args(args: &Args) -> Result<(), String> {
    if let Some(root) = &args.rootfs {
        let same_as_host = match (std::fs::metadata(root), std::fs::metadata("/")) {
            (Ok(r), Ok(h)) => r.dev() == h.dev() && r.ino() == h.ino(),
            _ => false,
        };
        if same_as_host {
            return Err(format!(
                "--rootfs {}: the host's root cannot be the container's root (it is already \
                 the root; pivot_root cannot move it onto itself); leave out --rootfs to run on \
                 the host's files, or give a directory that holds another root file system",
                root.display()
            ));
        }
    }
    Ok(())
}

fn print_stats(child: &hutch::Child, wall: std::time::Duration) {
    if child.cgroup().is_none() {
        eprintln!("run: --stats: {}", no_cgroup_reason());
        return;
    }
    match child.stats() {
        Ok(s) => {
            let peak = s.memory.as_ref().and_then(|m| m.peak).map_or(
                "unknown (no memory controller)".to_owned(),
                |p| {
                    format!(
                        "{} bytes ({:.1} MiB)",
                        p.0,
                        p.0 as f64 / (1u64 << 20) as f64
                    )
                },
            );
            eprintln!(
                "run: stats: wall {:.3}s, cpu {:.3}s (user {:.3}s, system {:.3}s), peak memory {peak}",
                wall.as_secs_f64(),
                s.cpu.usage.as_secs_f64(),
                s.cpu.user.as_secs_f64(),
                s.cpu.system.as_secs_f64(),
            );
        }
        Err(e) => eprintln!("run: stats: {}", hutch::error_chain(&e)),
    }
}

/// Why a container got no cgroup (the library makes one whenever it can).
fn no_cgroup_reason() -> String {
    let uid = std::fs::metadata("/proc/self").map(|m| m.uid()).ok();
    match uid {
        Some(0) | None => "no statistics: the container has no cgroup, because this host has no \
                           writable cgroup2 hierarchy (is cgroup2 mounted, read-write?)"
            .to_owned(),
        Some(uid) => format!(
            "no statistics: the container has no cgroup. Running as uid {uid}, run may only \
             make cgroups in a cgroup2 subtree delegated to that user, and none is (run as \
             root, or from a delegated cgroup, e.g. `systemd-run --user --scope -p \
             Delegate=yes run ...`)"
        ),
    }
}

/// The exit code `run` reports for the container's status.
fn exit_code(status: ExitStatus) -> u8 {
    match (status.code(), status.signal()) {
        (Some(code), _) => code as u8,
        (None, Some(sig)) => (128 + sig) as u8,
        _ => EXIT_RUN,
    }
}

/// What `run` does with a failed spawn: a message and an exit code.
fn spawn_failure(args: &Args, e: &SpawnError) -> (String, u8) {
    if e.step() == Some(Step::Exec)
        && let Some(explained) = explain_exec_failure(args, e.raw_os_error().unwrap_or(0))
    {
        return explained;
    }
    // Docker's convention: 127 for a program that cannot be found, 126 for one that cannot be
    // run, 125 for a problem of the container itself.
    let code = match (e.step(), e.raw_os_error()) {
        (Some(Step::Exec), Some(libc::ENOENT)) => EXIT_NOT_FOUND,
        (Some(Step::Exec), _) => EXIT_CANNOT_EXECUTE,
        _ => EXIT_RUN,
    };
    (hutch::error_chain(e), code)
}

fn main() -> ExitCode {
    // Before anything else, so that every thread (and no thread) sees them blocked.
    if let Err(e) = sys::block_forwarded_signals() {
        eprintln!("run: blocking signals: {e}");
        return ExitCode::from(EXIT_RUN);
    }
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            // --help and --version are not errors (clap prints them to stdout).
            return ExitCode::from(if e.use_stderr() { EXIT_RUN } else { 0 });
        }
    };
    if let Err(msg) = check_args(&args) {
        eprintln!("run: {msg}");
        return ExitCode::from(EXIT_RUN);
    }
    ExitCode::from(run(&args))
}

fn run(args: &Args) -> u8 {
    let mut c = Container::new();
    if let Some(h) = &args.hostname {
        c.hostname(h);
    }
    if let Network::Host = args.network {
        c.share(Namespaces::NET);
    }
    if let Some(root) = &args.rootfs {
        c.rootfs(root);
    }
    if args.read_only {
        // Only when asked: leaving it unset keeps the library's default for the tree.
        c.read_only(true);
    }
    for t in &args.tmpfs {
        c.tmpfs(t);
    }
    for v in &args.volume {
        if v.read_only {
            c.bind_ro(&v.src, &v.dst);
        } else {
            c.bind(&v.src, &v.dst);
        }
    }
    if args.userns {
        c.user_namespace(true);
    }
    if args.docker_masks {
        c.docker_masks();
    }
    c.init(args.init);
    // If run is SIGKILLed, the container goes with it (main thread: it lives as long as run).
    c.die_with_parent(true);
    if let Some(Limit::Value(m)) = args.memory {
        c.limit_memory(m);
    }
    if let Some(cpus) = args.cpus {
        c.limit_cpu(cpus);
    }
    if let Some(Limit::Value(n)) = args.pids_limit {
        c.limit_pids(n);
    }
    if let Some(list) = &args.cpuset_cpus {
        c.cpuset(list.clone());
    }
    let mut io: Vec<IoMax> = Vec::new();
    for (limits, write) in [
        (&args.device_read_bps, false),
        (&args.device_write_bps, true),
    ] {
        for &(device, rate) in limits {
            let i = match io.iter().position(|l| l.device == device) {
                Some(i) => i,
                None => {
                    io.push(IoMax::unlimited(device));
                    io.len() - 1
                }
            };
            if write {
                io[i].wbps = Some(rate);
            } else {
                io[i].rbps = Some(rate);
            }
        }
    }
    for limit in io {
        c.limit_io(limit);
    }

    // Set on the container, so that processes exec'd into it get the same environment.
    let tty = std::io::stdin().is_terminal() || std::io::stdout().is_terminal();
    c.env_clear();
    for (k, v) in environment(args, |k| std::env::var_os(k), tty) {
        c.env(k, v);
    }
    let mut cmd = c.command(&args.command[0]);
    cmd.args(&args.command[1..]);
    cmd.current_dir(args.workdir.as_deref().unwrap_or(Path::new("/")));

    let signals = match sys::signal_fd() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("run: signalfd: {e}");
            return EXIT_RUN;
        }
    };
    let started = Instant::now();
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => {
            let (msg, code) = spawn_failure(args, &e);
            eprintln!("run: {msg}");
            return code;
        }
    };
    let status = match wait_forwarding(&mut child, &signals, args.init) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("run: waiting for the container: {e}");
            // Dropping the child kills it and removes its cgroup.
            return EXIT_RUN;
        }
    };
    if args.stats {
        print_stats(&child, started.elapsed());
    }
    // Removes the container's cgroup before run exits.
    drop(child);
    exit_code(status)
}

/// Waits for the container to end, forwarding the signals `run` receives meanwhile (see the
/// file's docs).
fn wait_forwarding(
    child: &mut hutch::Child,
    signals: &nix::sys::signalfd::SignalFd,
    init: bool,
) -> std::io::Result<ExitStatus> {
    // A stop signal was discarded by the kernel: the next one kills the container.
    let mut discarded = false;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        sys::wait_either(child.pidfd(), signals)?;
        while let Some((sig, origin)) = sys::next_signal(signals)? {
            let stop = sys::is_stop_signal(sig);
            if stop && discarded {
                eprintln!("run: {sig} after a discarded one: killing the container");
                child.kill()?;
                continue;
            }
            // Only PID 1 without an init can have signals discarded. The pid is valid: only
            // this thread reaps the child, and it has not yet.
            let dropped = !init && child.id().is_some_and(|pid| !sys::takes_signal(pid, sig));
            // A signal from the terminal (Ctrl-C, Ctrl-\, hangup) went to the container's
            // processes too, as they are in run's process group: sending it again would
            // deliver it twice.
            if origin == sys::Origin::Process {
                child.signal(sig)?;
            }
            if stop && dropped {
                discarded = true;
                eprintln!(
                    "run: {sig} reached the program, but as the container's PID 1 it has no \
                     handler for it, so the kernel discards it; send {sig} again to kill the \
                     container (or use --init)"
                );
            }
        }
    }
}

/// Signal plumbing: the forwarded set, its mask, a `signalfd` and `poll` (through `nix`).
mod sys {
    use std::io;
    use std::os::fd::{AsFd, BorrowedFd};

    use hutch::Signal;
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use nix::sys::signal::SigSet;
    use nix::sys::signalfd::{SfdFlags, SignalFd};

    /// The signals `run` forwards to the container.
    pub const FORWARDED: [Signal; 6] = [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
    ];

    /// Signals that users send to stop a program.
    pub fn is_stop_signal(sig: Signal) -> bool {
        matches!(
            sig,
            Signal::SIGINT | Signal::SIGTERM | Signal::SIGHUP | Signal::SIGQUIT
        )
    }

    fn forwarded_set() -> SigSet {
        let mut set = SigSet::empty();
        for sig in FORWARDED {
            set.add(sig);
        }
        set
    }

    /// Blocks the forwarded signals in the calling thread (and so in every thread it starts).
    #[doc(alias = "pthread_sigmask")]
    pub fn block_forwarded_signals() -> io::Result<()> {
        forwarded_set().thread_block().map_err(io::Error::from)
    }

    /// A `signalfd` for the forwarded signals (which must be blocked).
    #[doc(alias = "signalfd")]
    pub fn signal_fd() -> io::Result<SignalFd> {
        SignalFd::with_flags(
            &forwarded_set(),
            SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK,
        )
        .map_err(io::Error::from)
    }

    /// Where a signal came from.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Origin {
        /// The kernel, e.g. the terminal's Ctrl-C: it signalled the whole foreground process
        /// group, which the container's processes belong to (nothing calls `setsid`).
        Kernel,
        /// A process (`kill`, `pidfd_send_signal`, ...).
        Process,
    }

    /// The next pending forwarded signal, or `None` when there is none.
    pub fn next_signal(fd: &SignalFd) -> io::Result<Option<(Signal, Origin)>> {
        loop {
            match fd.read_signal() {
                Ok(Some(info)) => match Signal::try_from(info.ssi_signo as i32) {
                    Ok(sig) => {
                        let origin = if info.ssi_code == libc::SI_KERNEL {
                            Origin::Kernel
                        } else {
                            Origin::Process
                        };
                        return Ok(Some((sig, origin)));
                    }
                    Err(_) => continue, // not one we asked for; cannot happen
                },
                Ok(None) => return Ok(None),
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Waits until the pidfd or the signalfd is readable.
    #[doc(alias = "poll")]
    pub fn wait_either(pidfd: BorrowedFd<'_>, signals: &SignalFd) -> io::Result<()> {
        let mut fds = [
            PollFd::new(pidfd, PollFlags::POLLIN),
            PollFd::new(signals.as_fd(), PollFlags::POLLIN),
        ];
        loop {
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) => return Ok(()),
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Whether process `pid` catches or blocks `sig` (from `/proc/PID/status`): if it does
    /// neither, the kernel discards the signal when `pid` is a pid namespace's init.
    pub fn takes_signal(pid: u32, sig: Signal) -> bool {
        let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
            return true; // cannot tell: assume the signal is taken
        };
        let mask = |field: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
                .unwrap_or(0)
        };
        let bit = 1u64 << (sig as i32 - 1);
        (mask("SigCgt:") | mask("SigBlk:")) & bit != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sizes_like_docker() {
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert_eq!(parse_size("512k"), Ok(512 << 10));
        assert_eq!(parse_size("1mb"), Ok(1 << 20));
        assert_eq!(parse_size("1 GiB"), Ok(1 << 30));
        assert_eq!(parse_size("2B"), Ok(2));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("1.5g"), Ok(3 << 29));
        assert_eq!(parse_size("1.5G"), Ok(1_610_612_736));
        assert_eq!(parse_size("0.5k"), Ok(512));
        assert_eq!(parse_size(".5k"), Ok(512));
        assert_eq!(parse_size("1.k"), Ok(1024));
        assert_eq!(parse_size("1.5"), Ok(1), "a fraction of a byte is dropped");
        assert_eq!(parse_size("0.1k"), Ok(102), "floor(102.4)");
        assert_eq!(parse_size("16383.99999999999999999999p"), Ok(u64::MAX));
        assert!(parse_size("").is_err());
        assert!(parse_size(".").is_err());
        assert!(parse_size("1..5k").is_err());
        assert!(parse_size("1.5.5k").is_err());
        assert!(parse_size("-1m").is_err());
        assert!(parse_size("1kk").is_err());
        assert!(parse_size("k").is_err());
        assert!(parse_size("12q").unwrap_err().contains("12q"));
        assert!(parse_size("16384p").unwrap_err().contains("too large"));
        assert!(
            parse_size("99999999999t")
                .unwrap_err()
                .contains("too large")
        );
        assert!(
            parse_size("99999999999999999999999")
                .unwrap_err()
                .contains("too large")
        );
    }

    #[test]
    fn memory_and_pids_take_minus_one_for_no_limit() {
        assert_eq!(parse_memory("-1"), Ok(Limit::Unlimited));
        assert_eq!(parse_memory("1.5g"), Ok(Limit::Value(3 << 29)));
        assert!(parse_memory("0").unwrap_err().contains("-1 for no limit"));
        assert!(parse_memory("-2").is_err());
        assert_eq!(parse_pids_limit("-1"), Ok(Limit::Unlimited));
        assert_eq!(parse_pids_limit("100"), Ok(Limit::Value(100)));
        assert!(
            parse_pids_limit("0")
                .unwrap_err()
                .contains("-1 for no limit")
        );
        assert!(
            parse_pids_limit("1.5")
                .unwrap_err()
                .contains("whole number")
        );
    }

    #[test]
    fn cpus_are_checked_in_cores() {
        assert_eq!(parse_cpus_with("0.5", 2), Ok(0.5));
        assert_eq!(parse_cpus_with("2", 2), Ok(2.0));
        for bad in ["0", "-1", "3", "inf", "NaN"] {
            let e = parse_cpus_with(bad, 2).unwrap_err();
            assert_eq!(e, "must be more than 0 and at most 2 (the number of CPUs)");
        }
        assert!(parse_cpus_with("x", 2).unwrap_err().contains("at most 2"));
        assert!(parse_cpus_with("0.001", 2).unwrap_err().contains("0.01"));
        assert!(online_cpus() >= 1);
    }

    #[test]
    fn volumes() {
        let v = |src: &str, dst: &str, read_only| Volume {
            src: src.into(),
            dst: dst.into(),
            read_only,
        };
        assert_eq!(parse_volume("/a:/b"), Ok(v("/a", "/b", false)));
        assert_eq!(parse_volume("/a:/b:ro"), Ok(v("/a", "/b", true)));
        assert_eq!(parse_volume("/a:/b:rw"), Ok(v("/a", "/b", false)));
        assert!(parse_volume("/a").unwrap_err().contains("SRC:DST"));
        assert!(parse_volume("/a:/b:xx").unwrap_err().contains("\"xx\""));
        assert!(parse_volume("/a:b").unwrap_err().contains("absolute"));
        assert!(parse_volume(":/b").unwrap_err().contains("empty"));
    }

    #[test]
    fn env_and_workdir() {
        assert_eq!(parse_env("A=1"), Ok(EnvVar::Set("A".into(), "1".into())));
        assert_eq!(parse_env("A="), Ok(EnvVar::Set("A".into(), "".into())));
        assert_eq!(
            parse_env("A=b=c"),
            Ok(EnvVar::Set("A".into(), "b=c".into()))
        );
        assert_eq!(parse_env("A"), Ok(EnvVar::Copy("A".into())));
        assert!(parse_env("=1").unwrap_err().contains("empty"));
        assert_eq!(parse_workdir("/tmp"), Ok("/tmp".into()));
        assert!(parse_workdir("tmp").unwrap_err().contains("absolute"));
    }

    #[test]
    fn environment_is_clean_and_docker_like() {
        let args = Args::try_parse_from([
            "run",
            "--hostname",
            "box",
            "-e",
            "A=1",
            "-e",
            "FROM_CALLER",
            "-e",
            "MISSING",
            "-e",
            "HOME=/home/x",
            "--",
            "true",
        ])
        .unwrap();
        let caller = |k: &OsStr| match k.to_str() {
            Some("FROM_CALLER") => Some("yes".into()),
            Some("TERM") => Some("screen".into()),
            _ => None,
        };
        let env: Vec<(String, String)> = environment(&args, caller, false)
            .into_iter()
            .map(|(k, v)| (k.into_string().unwrap(), v.into_string().unwrap()))
            .collect();
        let get = |k: &str| {
            env.iter()
                .rev()
                .find(|(kk, _)| kk == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("PATH"), Some(DEFAULT_PATH));
        assert_eq!(get("HOSTNAME"), Some("box"));
        assert_eq!(get("HOME"), Some("/home/x"), "-e overrides the defaults");
        assert_eq!(get("A"), Some("1"));
        assert_eq!(get("FROM_CALLER"), Some("yes"));
        assert_eq!(get("MISSING"), None);
        assert_eq!(get("TERM"), None, "no TERM without a terminal");
        let tty = environment(&args, caller, true);
        assert!(tty.contains(&("TERM".into(), "screen".into())));
        let tty = environment(&args, |_| None, true);
        assert!(tty.contains(&("TERM".into(), "xterm".into())));
    }

    #[test]
    fn host_view_follows_the_containers_mounts() {
        let args = |extra: &[&str]| {
            let mut v = vec!["run"];
            v.extend_from_slice(extra);
            v.extend_from_slice(&["--", "x"]);
            Args::try_parse_from(v).unwrap()
        };
        let plain = args(&[]);
        let view = |a: &Args, p: &str| host_view(a, Path::new(p));
        assert_eq!(view(&plain, "/usr/bin/x"), Some("/usr/bin/x".into()));
        assert_eq!(view(&plain, "/tmp/x"), None, "the private /tmp");
        assert_eq!(view(&plain, "/proc/1/exe"), None);
        assert_eq!(view(&plain, "/dev/null"), None);
        assert_eq!(view(&plain, "x"), None);
        let mounts = args(&["-v", "/a:/mnt", "--tmpfs", "/mnt/t", "-v", "/b:/tmp/b"]);
        assert_eq!(view(&mounts, "/mnt/y"), Some("/a/y".into()));
        assert_eq!(view(&mounts, "/mnt/t/y"), None);
        assert_eq!(view(&mounts, "/tmp/b/y"), Some("/b/y".into()));
        let rootfs = args(&["--rootfs", "/r"]);
        assert_eq!(view(&rootfs, "/usr/bin/x"), Some("/r/usr/bin/x".into()));
        assert_eq!(view(&rootfs, "/tmp/x"), Some("/r/tmp/x".into()));
        assert_eq!(view(&rootfs, "/proc/x"), None);
    }

    #[test]
    fn program_candidates_follow_execvp() {
        let parse = |v: &[&str]| Args::try_parse_from(v).unwrap();
        let c = program_candidates(&parse(&["run", "--", "sh"]));
        assert_eq!(c.len(), DEFAULT_PATH.split(':').count());
        assert_eq!(c[0], Path::new("/usr/local/sbin/sh"));
        let c = program_candidates(&parse(&[
            "run",
            "-w",
            "/w",
            "-e",
            "PATH=/a::/b",
            "--",
            "sh",
        ]));
        assert_eq!(
            c,
            [
                PathBuf::from("/a/sh"),
                PathBuf::from("/w/sh"),
                PathBuf::from("/b/sh")
            ]
        );
        let c = program_candidates(&parse(&["run", "-w", "/w", "--", "./x"]));
        assert_eq!(c, [PathBuf::from("/w/./x")]);
        let c = program_candidates(&parse(&["run", "--", "/bin/x"]));
        assert_eq!(c, [PathBuf::from("/bin/x")]);
    }

    #[test]
    fn device_rates_name_the_problem() {
        assert!(
            parse_device_rate("/dev/null")
                .unwrap_err()
                .contains("DEVICE:RATE")
        );
        assert!(
            parse_device_rate(":1m")
                .unwrap_err()
                .contains("device is missing")
        );
        assert!(
            parse_device_rate("/dev/null:")
                .unwrap_err()
                .contains("rate is missing")
        );
        assert!(
            parse_device_rate("/dev/null:1m")
                .unwrap_err()
                .contains("not a block device")
        );
        assert!(
            parse_device_rate("/nonexistent:1m")
                .unwrap_err()
                .contains("/nonexistent")
        );
    }

    #[test]
    fn interpreters_are_found() {
        assert_eq!(
            shebang_interpreter(b"#!/usr/bin/env python3\nprint(1)\n"),
            Some("/usr/bin/env".into())
        );
        assert_eq!(
            shebang_interpreter(b"#! /bin/nope\n"),
            Some("/bin/nope".into())
        );
        assert_eq!(shebang_interpreter(b"echo hi\n"), None);
        assert_eq!(shebang_interpreter(b"#!\n"), None);
        let sh = std::fs::read("/bin/sh").unwrap();
        let loader = elf_interpreter(&sh).expect("/bin/sh is dynamically linked");
        assert!(loader.as_bytes().starts_with(b"/lib"), "{loader:?}");
        assert_eq!(elf_interpreter(b"\x7fELF"), None);
        assert_eq!(elf_interpreter(&[0x7f; 100]), None);
    }

    #[test]
    fn help_documents_exit_codes_and_flags() {
        use clap::CommandFactory;
        let help = Args::command().render_long_help().to_string();
        for needle in [
            "125",
            "126",
            "127",
            "128+N",
            "--device-write-bps",
            ":rw",
            "-1",
            "HOSTNAME",
        ] {
            assert!(help.contains(needle), "--help lacks {needle:?}:\n{help}");
        }
    }

    /// `b` bytes written exactly as a decimal number of units of `2^shift` bytes.
    fn exact_decimal(b: u64, shift: u32) -> String {
        let whole = b >> shift;
        let mut rem = u128::from(b) & ((1u128 << shift) - 1);
        let mut s = whole.to_string();
        if rem != 0 {
            s.push('.');
            while rem != 0 {
                rem *= 10;
                s.push(char::from(b'0' + (rem >> shift) as u8));
                rem &= (1u128 << shift) - 1;
            }
        }
        s
    }

    proptest! {
        #[test]
        fn size_parser_never_panics(s in "\\PC{0,40}") {
            let _ = parse_size(&s);
            let _ = parse_memory(&s);
            let _ = parse_pids_limit(&s);
            let _ = parse_cpus_with(&s, 2);
            let _ = parse_volume(&s);
        }

        #[test]
        fn size_parser_never_panics_on_size_like_text(s in "[0-9.]{0,30} ?[kmgtpbiKMGTPBI]{0,4}") {
            let _ = parse_size(&s);
        }

        #[test]
        fn sizes_round_trip(n in 0u64..(1 << 23), unit in 0usize..5, upper: bool, suffix in 0usize..3) {
            let (letter, shift) = [("", 0), ("k", 10), ("m", 20), ("g", 30), ("t", 40)][unit];
            let mut text = format!("{n}{letter}{}", if letter.is_empty() { "" } else { ["", "b", "ib"][suffix] });
            if upper {
                text = text.to_uppercase();
            }
            prop_assert_eq!(parse_size(&text), Ok(n << shift));
        }

        #[test]
        fn fractions_round_trip(b: u64, unit in 0usize..6) {
            let (letter, shift) = [("", 0), ("k", 10), ("m", 20), ("g", 30), ("t", 40), ("p", 50)][unit];
            let text = format!("{}{letter}", exact_decimal(b, shift));
            prop_assert_eq!(parse_size(&text), Ok(b), "{}", text);
        }
    }
}
