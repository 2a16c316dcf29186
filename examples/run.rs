//! Run a program in a container, with Docker's flag names where they exist.
//!
//! ```text
//! cargo run --example run -- [OPTIONS] -- PROGRAM [ARGS...]
//! sudo cargo run --example run -- --hostname box --tmpfs /tmp -- /bin/sh -c 'hostname; ps'
//! ```
//!
//! Exits with the program's exit code (128+N when it was killed by signal N) and prints hutch's
//! error (step, path and errno) when spawning fails. Uses `clap` for the command line.

use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use std::os::unix::fs::{FileTypeExt, MetadataExt};

use clap::{Parser, ValueEnum};
use hutch::cgroup_v2::DevNum;
use hutch::cgroup_v2::cpuset::CpuList;
use hutch::cgroup_v2::io::IoMax;
use hutch::{Container, Namespaces};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Network {
    /// A new network namespace with only `lo`, up.
    None,
    /// The host's network namespace.
    Host,
}

/// Run PROGRAM in a new container.
#[derive(Debug, Parser)]
#[command(name = "run", trailing_var_arg = true)]
struct Args {
    /// Host name inside the container.
    #[arg(long)]
    hostname: Option<OsString>,
    /// Network: `none` (a new namespace with only lo) or `host`.
    #[arg(long, value_enum, default_value = "none")]
    network: Network,
    /// Make the root file system read-only.
    #[arg(long)]
    read_only: bool,
    /// Mount a tmpfs at PATH (repeatable).
    #[arg(long, value_name = "PATH")]
    tmpfs: Vec<PathBuf>,
    /// Bind mount SRC:DST[:ro] (repeatable).
    #[arg(short = 'v', long = "volume", value_name = "SRC:DST[:ro]")]
    volume: Vec<String>,
    /// Use DIR as the root file system.
    #[arg(long, value_name = "DIR")]
    rootfs: Option<PathBuf>,
    /// Set an environment variable K=V (repeatable).
    #[arg(short = 'e', long = "env", value_name = "K=V")]
    env: Vec<String>,
    /// Working directory inside the container.
    #[arg(short = 'w', long = "workdir", value_name = "DIR")]
    workdir: Option<PathBuf>,
    /// Run a tiny init as PID 1 that reaps orphans and forwards signals.
    #[arg(long)]
    init: bool,
    /// Run in a user namespace that maps the caller to root inside.
    #[arg(long)]
    userns: bool,
    /// Hide the paths Docker hides (/proc/kcore, ...) and make /proc/sys etc. read-only.
    #[arg(long)]
    docker_masks: bool,
    /// Memory limit, e.g. `64M`, `1g`, `512k` or plain bytes.
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    memory: Option<u64>,
    /// CPU limit in cores, e.g. `0.5`.
    #[arg(long, value_name = "CORES")]
    cpus: Option<f64>,
    /// Maximum number of processes and threads.
    #[arg(long, value_name = "N")]
    pids_limit: Option<u64>,
    /// CPUs to run on, e.g. `0-1,3`.
    #[arg(long, value_name = "LIST")]
    cpuset_cpus: Option<CpuList>,
    /// Read rate limit for a block device, DEVICE:RATE (e.g. `/dev/vda:1mb`; repeatable).
    #[arg(long, value_name = "DEV:RATE")]
    device_read_bps: Vec<String>,
    /// Write rate limit for a block device, DEVICE:RATE (repeatable).
    #[arg(long, value_name = "DEV:RATE")]
    device_write_bps: Vec<String>,
    /// Print the container's peak memory and CPU time when it ends.
    #[arg(long)]
    stats: bool,
    /// The program and its arguments.
    #[arg(required = true, value_name = "PROGRAM")]
    command: Vec<OsString>,
}

/// Parses `64M`, `1g`, `512k`, `1mb` or plain bytes (binary units, like Docker).
fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (num, shift) = match t.char_indices().last() {
        Some((i, 'k')) => (&t[..i], 10),
        Some((i, 'm')) => (&t[..i], 20),
        Some((i, 'g')) => (&t[..i], 30),
        Some((i, 't')) => (&t[..i], 40),
        _ => (t, 0),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("invalid size {s:?}: expected a number with an optional k/m/g/t"))?;
    n.checked_mul(1u64 << shift)
        .ok_or_else(|| format!("size {s:?} is too large"))
}

/// Parses `DEVICE:RATE` into the device's number and the rate in bytes per second.
fn parse_device_rate(spec: &str) -> Result<(DevNum, u64), String> {
    let (dev, rate) = spec
        .rsplit_once(':')
        .ok_or_else(|| format!("invalid {spec:?}: expected DEVICE:RATE"))?;
    let meta = std::fs::metadata(dev).map_err(|e| format!("{dev}: {e}"))?;
    if !meta.file_type().is_block_device() {
        return Err(format!("{dev} is not a block device"));
    }
    let rdev = meta.rdev();
    let device = DevNum {
        major: libc::major(rdev),
        minor: libc::minor(rdev),
    };
    Ok((device, parse_size(rate)?))
}

fn parse_volume(spec: &str) -> Result<(PathBuf, PathBuf, bool), String> {
    let parts: Vec<&str> = spec.split(':').collect();
    match parts.as_slice() {
        [src, dst] => Ok((src.into(), dst.into(), false)),
        [src, dst, "ro"] => Ok((src.into(), dst.into(), true)),
        [src, dst, "rw"] => Ok((src.into(), dst.into(), false)),
        _ => Err(format!("invalid volume {spec:?}: expected SRC:DST[:ro]")),
    }
}

fn print_stats(child: &hutch::Child, wall: std::time::Duration) {
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

fn main() -> ExitCode {
    let args = Args::parse();
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
    c.read_only(args.read_only);
    for t in &args.tmpfs {
        c.tmpfs(t);
    }
    for v in &args.volume {
        match parse_volume(v) {
            Ok((src, dst, true)) => c.bind_ro(src, dst),
            Ok((src, dst, false)) => c.bind(src, dst),
            Err(e) => {
                eprintln!("run: {e}");
                return ExitCode::from(125);
            }
        };
    }
    if args.userns {
        c.user_namespace(true);
    }
    if args.docker_masks {
        c.docker_masks();
    }
    c.init(args.init);
    if let Some(m) = args.memory {
        c.limit_memory(m);
    }
    if let Some(cpus) = args.cpus {
        c.limit_cpu(cpus);
    }
    if let Some(n) = args.pids_limit {
        c.limit_pids(n);
    }
    if let Some(list) = &args.cpuset_cpus {
        c.cpuset(list.clone());
    }
    let mut io: Vec<IoMax> = Vec::new();
    for (specs, write) in [
        (&args.device_read_bps, false),
        (&args.device_write_bps, true),
    ] {
        for spec in specs {
            let (device, rate) = match parse_device_rate(spec) {
                Ok(v) => v,
                Err(e) => {
                    eprintln!("run: {e}");
                    return ExitCode::from(125);
                }
            };
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

    let mut cmd = c.command(&args.command[0]);
    cmd.args(&args.command[1..]);
    for kv in &args.env {
        match kv.split_once('=') {
            Some((k, v)) => cmd.env(k, v),
            None => {
                eprintln!("run: invalid environment variable {kv:?}: expected K=V");
                return ExitCode::from(125);
            }
        };
    }
    if let Some(w) = &args.workdir {
        cmd.current_dir(w);
    }

    let started = Instant::now();
    let status = match cmd.spawn().and_then(|mut child| {
        let status = child.wait().map_err(|source| hutch::SpawnError::Parent {
            op: "waiting",
            source,
        })?;
        if args.stats {
            print_stats(&child, started.elapsed());
        }
        Ok(status)
    }) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("run: {}", hutch::error_chain(&e));
            // Docker's convention: 127 for a program that cannot be found, 126 for one that
            // cannot be run, 125 for a problem of the container itself.
            return ExitCode::from(match (e.step(), e.raw_os_error()) {
                (Some(hutch::Step::Exec), Some(libc::ENOENT)) => 127,
                (Some(hutch::Step::Exec), _) => 126,
                _ => 125,
            });
        }
    };
    match (status.code(), status.signal()) {
        (Some(code), _) => ExitCode::from(code as u8),
        (None, Some(sig)) => ExitCode::from((128 + sig) as u8),
        _ => ExitCode::FAILURE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_like_docker() {
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert_eq!(parse_size("512k"), Ok(512 << 10));
        assert_eq!(parse_size("1mb"), Ok(1 << 20));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("").is_err());
        assert!(parse_size("-1m").is_err());
        assert!(parse_size("12q").unwrap_err().contains("12q"));
        assert!(
            parse_size("99999999999t")
                .unwrap_err()
                .contains("too large")
        );
    }

    #[test]
    fn volumes() {
        assert_eq!(parse_volume("/a:/b"), Ok(("/a".into(), "/b".into(), false)));
        assert_eq!(
            parse_volume("/a:/b:ro"),
            Ok(("/a".into(), "/b".into(), true))
        );
        assert!(parse_volume("/a").unwrap_err().contains("/a"));
        assert!(parse_volume("/a:/b:xx").is_err());
    }

    #[test]
    fn device_rates_name_the_problem() {
        assert!(
            parse_device_rate("/dev/null")
                .unwrap_err()
                .contains("DEVICE:RATE")
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
}
