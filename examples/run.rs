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

use clap::{Parser, ValueEnum};
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
    /// The program and its arguments.
    #[arg(required = true, value_name = "PROGRAM")]
    command: Vec<OsString>,
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
    let status = match cmd.status() {
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
    let _ = started;
    match (status.code(), status.signal()) {
        (Some(code), _) => ExitCode::from(code as u8),
        (None, Some(sig)) => ExitCode::from((128 + sig) as u8),
        _ => ExitCode::FAILURE,
    }
}
