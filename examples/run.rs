//! `run`: run a program in a container, with Docker's flag names and conventions where they
//! exist.
//!
//! ```text
//! cargo run --example run -- [OPTIONS] -- PROGRAM [ARGS...]
//! sudo cargo run --example run -- --hostname box --tmpfs /tmp -- /bin/sh -c 'hostname; ps'
//! sudo cargo run --example run -- --network bridge -p 8080:80 -- python3 -m http.server 80
//! cargo run --example run -- --check --memory 64m          # can this host run that?
//! cargo run --features tracing --example run -- --debug -- true   # the spawn's timeline
//! ```
//!
//! Uses `clap` for the command line. `run --help` prints everything below too. Its companion
//! `examples/network.rs` creates, lists and removes named bridge networks.
//!
//! # Exit codes (as `docker run`)
//!
//! * `125`: `run` itself failed: a bad flag or value (parse errors included), or the container
//!   could not be set up (namespaces, mounts, cgroup, limits, network, confinement that the
//!   kernel lacks). `--help` and `--version` exit 0.
//! * `126`: the program was found but cannot be executed (no execute permission, a directory,
//!   not an executable format).
//! * `127`: the program was not found, or its interpreter (`#!` line) or dynamic loader is
//!   missing.
//! * otherwise the program's own exit code, or `128+N` when it was killed by signal `N`
//!   (e.g. `143` for `SIGTERM`, `137` for `SIGKILL`).
//! * `--check`: `0` when the host can run the configuration, `1` when it cannot (`125` for a
//!   bad flag, as always). `1` rather than `125`, so that a script can tell "this host lacks
//!   something" from "the command line is wrong".
//!
//! # Environment and working directory (as `docker run`)
//!
//! The program does not inherit the caller's environment. It gets
//! `PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`, `HOSTNAME` (the
//! container's host name: `--hostname`, else the host's, which a new UTS namespace starts
//! with), `HOME=/root` (with `--user`: the user's home directory from the container's
//! `/etc/passwd`, or `/`), and `TERM` when `run`'s standard input or output is a terminal
//! (the caller's `TERM`, since the program writes to that same terminal; `xterm` when unset),
//! then every `-e K=V` (`-e K` copies `K` from the caller's environment, and sets nothing
//! when the caller has no `K`). It starts in `/`, or in `-w DIR` (an absolute path inside
//! the container).
//!
//! # Confinement (defaults as in the library: Docker's, or stricter)
//!
//! Without flags the program gets Docker's 14 default capabilities, `no_new_privs`, Docker's
//! masked and read-only paths, Docker's seccomp profile and no LSM label; see
//! [`hutch::Container`]. The flags change that:
//!
//! * `--cap-add CAP`, `--cap-drop CAP` (repeatable; `NET_RAW`, `CAP_NET_RAW` or `cap_net_raw`;
//!   `ALL`), with Docker's rules: with `--cap-add ALL` every capability `run` itself has
//!   except those dropped by name; with `--cap-drop ALL` only those added by name; otherwise
//!   the defaults minus those dropped plus those added. An unknown name exits 125 naming it.
//! * `--privileged`: every capability, no `no_new_privs`, no masked paths, the host's `/dev`
//!   and `/sys`, no seccomp filter, no LSM profile (the namespaces stay); `--cap-drop`,
//!   `--cap-add` and `--security-opt` still apply on top of it.
//! * `--user USER[:GROUP]`: numbers, or names from the container's `/etc/passwd` and
//!   `/etc/group` (read from the host's tree, `--rootfs` or a `-v` that covers them). A
//!   number need not be in `/etc/passwd`; without `GROUP` the group is the user's from
//!   `/etc/passwd`, else 0 (as Docker). A non-root user has no capabilities except those added
//!   with `--cap-add` (given as ambient capabilities).
//! * `--security-opt no-new-privileges[=true|false]` (also Docker's `:` form),
//!   `apparmor=PROFILE|unconfined`, `label=type:T|user:U|role:R|level:L|disable` (the parts
//!   make `USER:ROLE:TYPE:LEVEL` with `system_u`, `system_r`, `container_t`, `s0` for those
//!   left out; `disable`, the default, means no label), `seccomp=unconfined|PATH.json` (a
//!   profile in Docker's JSON format), and `systempaths=unconfined` (no masked or read-only
//!   paths). An LSM that the kernel does not have is an error (125) naming it, never ignored.
//! * `--landlock-ro PATH`, `--landlock-rw PATH` (repeatable): with any of them, Landlock
//!   denies every file access but reading and executing beneath the `-ro` paths and
//!   everything beneath the `-rw` paths. The paths are host paths, resolved before the
//!   container's mounts: a rule on a directory that is bind-mounted (`-v`) covers it inside,
//!   a fresh mount inside (`--tmpfs`, the private `/tmp`) is covered only by a rule on a
//!   directory above its mount point. Best effort: what the kernel's Landlock ABI supports is
//!   enforced.
//!
//! # Networking
//!
//! `--network none` (the default: a namespace of its own with only `lo`), `host`, `bridge`
//! (the default bridge network `hutch0`, 10.88.0.0/16, created on first use; root),
//! `NAME` (a network made with `network create NAME`; it must exist), `container:PID` (join
//! the network namespace of process `PID`, opened through a pidfd so a recycled pid cannot
//! redirect it), `ns:PATH` (join the namespace bound at `PATH`, e.g. `/run/netns/NAME` or
//! `/proc/PID/ns/net`), `pasta` (user-mode networking for unprivileged callers; Debian
//! package `passt`).
//!
//! `-p/--publish [HOSTIP:]HOSTPORT:PORT[/udp]` (bridge and pasta), `--ip ADDR` (bridge),
//! `--dns ADDR` and `--add-host NAME:ADDR` (bridge and pasta: they write the container's own
//! `/etc/resolv.conf` and `/etc/hosts`; in other modes they are refused, not ignored).
//! `--network-state DIR` is where bridge networks keep their state (default
//! `/run/hutch/networks`; give `network --state` the same). On a bridge network a published
//! port answers other hosts and the host's own `127.0.0.1`, and on a dual-stack network the
//! host's IPv6 addresses too (an IPv6 `HOSTIP` goes in brackets: `[2001:db8::1]:8080:80`).
//!
//! When the container ends, its veth pair, its published-port rules, its address lease and
//! its `/etc/hosts`/`/etc/resolv.conf` files are removed. The network itself stays (its
//! bridge, its two chains `NAME-postrouting` and `NAME-guard` in the nf_tables table
//! `ip hutch`, its configuration under the state directory), as Docker's networks do, until
//! `network rm NAME`.
//!
//! `run` prints nothing about the network unless asked: `--print-network` (or `--stats`)
//! prints the container's address, gateway and published ports on stderr once it runs.
//!
//! # Preflight and tracing
//!
//! `--check` prints the library's preflight report (`hutch::preflight`) for the container the
//! other flags describe, as a table or, with `--format json`, as one JSON object, and runs
//! nothing (PROGRAM may be left out). `--network bridge` adds the networking checks
//! (nf_tables, veth, bridge), `--network pasta` the rootless ones.
//!
//! `--debug` prints the spawn's timeline on stderr: each parent-side step of the library
//! (plan, descriptors, cgroup, clone, id maps, wait for exec, ...) with its duration and the
//! time since the spawn began. It needs `run` built with the library's `tracing` feature
//! (`cargo run --features tracing --example run -- --debug ...`); the file then has a tiny
//! `tracing::Subscriber` of its own. Built without it, `--debug` says so and runs anyway.
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
//! mask, `signalfd` and `poll`. The only `unsafe` code is `sys::pidfd_open` (for
//! `--network container:PID`; neither `nix` nor `std` offers `pidfd_open` on stable) and
//! `sys::default_sigchld` (`sigaction` is unsafe in `nix`), with their `SAFETY` comments.
//!
//! # Tests
//!
//! The flag parsers have unit tests here (`cargo test --example run`; proptest properties for
//! sizes, users and that no parser panics). `tests/cli.rs` runs the built example as a user
//! would: exit codes, signals (also from a pseudo-terminal), the environment, values and
//! error messages, capabilities and users (from the container's `/proc/self/status`), LSM
//! options, Landlock, the network modes (bridge networks inside network namespaces the tests
//! create, with `unshare --net`), `--check` against the library's own report, and `--debug`
//! (with `cargo test --features tracing --test cli`, the timeline itself).

#![deny(unsafe_code)]

use std::ffi::{OsStr, OsString};
use std::io::IsTerminal;
use std::net::IpAddr;
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
use hutch::netns::{DEFAULT_NETWORK, DEFAULT_STATE_ROOT, NetworkConfig, NetworkError};
use hutch::{CapSet, Capability, Command, Container, NetworkMode, SpawnError, Step};

/// The search path the program gets, as Docker gives it.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Exit code for a failure of `run` itself.
const EXIT_RUN: u8 = 125;
/// Exit code of `--check` when the container cannot run on this host.
const EXIT_CHECK_FAILED: u8 = 1;
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
  --check exits 0 when this host can run the configuration, 1 when it cannot.

Defaults (as the library's, at least Docker's): Docker's 14 capabilities, no_new_privs,
  Docker's masked paths and seccomp profile, no LSM label, network none (only lo), the
  host's tree read-only with a private /tmp, user root (0:0).
  --cap-add/--cap-drop follow Docker: with --cap-add ALL every capability run has except
  those dropped by name; with --cap-drop ALL only those added by name; else the defaults
  minus those dropped plus those added. An LSM the kernel lacks is an error, not ignored.

Networks: bridge is the default network hutch0 (10.88.0.0/16), created on first use;
  other names are made with the network example (network create NAME). When the container
  ends its veth, port rules, lease and /etc/hosts and /etc/resolv.conf go; the network
  (bridge, chains NAME-postrouting and NAME-guard in nft table ip hutch) stays until
  network rm NAME. Published bridge ports answer other hosts and the host's 127.0.0.1.

Preflight: --check prints hutch's preflight report for the configuration the other flags
  describe (--format json for JSON) and runs nothing. --debug prints the spawn timeline
  when run is built with --features tracing.

Environment (as docker run): the program does not inherit run's environment. It gets
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin, HOSTNAME (the
  container's host name), HOME=/root (with --user the user's home, or /) and, when run's
  stdin or stdout is a terminal, TERM
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

/// `--network`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum NetworkArg {
    /// A new network namespace with only `lo`, up.
    None,
    /// The host's network namespace.
    Host,
    /// The default bridge network (`hutch0`), created on first use.
    Bridge,
    /// A bridge network made with the `network` example (`network create NAME`).
    Named(String),
    /// The network namespace of process `PID` (e.g. another container's first process).
    Container(u32),
    /// The network namespace bound at `PATH` (`/run/netns/NAME`, `/proc/PID/ns/net`).
    Ns(PathBuf),
    /// User-mode networking through `pasta`, for unprivileged callers.
    Pasta,
}

impl NetworkArg {
    /// Whether the container gets a bridge network (and so an address, ports, names).
    fn is_bridge(&self) -> bool {
        matches!(self, NetworkArg::Bridge | NetworkArg::Named(_))
    }
}

/// `--format` of `--check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// A readable table.
    Table,
    /// One JSON object.
    Json,
}

/// A capability named by `--cap-add` or `--cap-drop`, or `ALL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CapArg {
    All,
    One(Capability),
}

/// One step of the capability set the flags describe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CapOp {
    DropAll,
    Add(Capability),
    Drop(Capability),
}

/// A user or group given by number or by name.
#[derive(Debug, Clone, PartialEq, Eq)]
enum IdSpec {
    Num(u32),
    Name(String),
}

/// `--user USER[:GROUP]`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct UserSpec {
    user: IdSpec,
    group: Option<IdSpec>,
}

/// Who the program runs as, resolved from `--user`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Account {
    uid: u32,
    gid: u32,
    /// The home directory from the container's `/etc/passwd`, if the user is there.
    home: Option<String>,
}

/// One part of an SELinux label (`--security-opt label=...`).
#[derive(Debug, Clone, PartialEq, Eq)]
enum LabelPart {
    Disable,
    User(String),
    Role(String),
    Type(String),
    Level(String),
}

/// `--security-opt seccomp=...`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum SeccompOpt {
    Unconfined,
    Profile(PathBuf),
}

/// `--security-opt`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum SecurityOpt {
    NoNewPrivileges(bool),
    AppArmor(String),
    Label(LabelPart),
    Seccomp(SeccompOpt),
    /// `systempaths=unconfined`: no masked or read-only paths under /proc and /sys.
    SystemPathsUnconfined,
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
    /// Network: `none` (a namespace of its own with only lo), `host` (the caller's),
    /// `bridge` (the default bridge network hutch0, created on first use; root), `NAME` (a
    /// bridge network made with `network create NAME`), `container:PID` (the network of
    /// process PID, e.g. another container's), `ns:PATH` (a namespace bound at PATH, e.g.
    /// /run/netns/NAME), or `pasta` (user-mode networking for unprivileged callers; Debian
    /// package passt).
    #[arg(long, value_name = "MODE", default_value = "none", value_parser = parse_network)]
    network: NetworkArg,
    /// Publish a container port on the host, `[HOSTIP:]HOSTPORT:PORT[/udp]`, e.g. `8080:80`
    /// (repeatable; bridge networks and pasta). A bridge network's ports are reachable from
    /// other hosts and from the host's own 127.0.0.1; over IPv6 too on a dual-stack network
    /// (an IPv6 HOSTIP in brackets, `[2001:db8::1]:8080:80`).
    #[arg(short = 'p', long = "publish", value_name = "[HOSTIP:]HOSTPORT:PORT[/udp]",
          value_parser = parse_publish)]
    publish: Vec<hutch::netns::PortMapping>,
    /// The container's address on its bridge network (default: the next free one).
    #[arg(long, value_name = "ADDR")]
    ip: Option<IpAddr>,
    /// A name server for the container's /etc/resolv.conf (repeatable; default: the host's,
    /// with loopback ones replaced by the gateway). Bridge networks and pasta.
    #[arg(long, value_name = "ADDR")]
    dns: Vec<IpAddr>,
    /// An extra line for the container's /etc/hosts, `NAME:ADDR` (repeatable; bridge
    /// networks and pasta).
    #[arg(long = "add-host", value_name = "NAME:ADDR", value_parser = parse_add_host)]
    add_host: Vec<(String, IpAddr)>,
    /// Where bridge networks keep their state (leases, configuration) [default:
    /// /run/hutch/networks]. Must match the `network --state` the network was made with.
    #[arg(long = "network-state", value_name = "DIR")]
    network_state: Option<PathBuf>,
    /// Print the container's network (address, gateway, published ports) on stderr once it
    /// runs.
    #[arg(long = "print-network")]
    print_network: bool,
    /// Add a capability to Docker's 14 default ones, e.g. `NET_ADMIN` (`CAP_` prefix and case
    /// optional); `ALL` for every capability run has (repeatable).
    #[arg(long = "cap-add", value_name = "CAP", value_parser = parse_cap)]
    cap_add: Vec<CapArg>,
    /// Drop a capability, e.g. `NET_RAW`; `ALL` drops every capability and keeps only those
    /// of --cap-add (repeatable).
    #[arg(long = "cap-drop", value_name = "CAP", value_parser = parse_cap)]
    cap_drop: Vec<CapArg>,
    /// Turn the confinement off, like docker run --privileged: every capability, no
    /// no_new_privs, no masked paths, the host's /dev and /sys, no seccomp filter, no LSM
    /// profile. The namespaces stay. --cap-drop and --security-opt still apply on top.
    #[arg(long)]
    privileged: bool,
    /// Run the program as USER[:GROUP], each a number or a name from the container's
    /// /etc/passwd and /etc/group (default: root, 0:0). Without GROUP, the user's group from
    /// /etc/passwd, or 0. HOME becomes the user's home directory (or /).
    #[arg(short = 'u', long, value_name = "USER[:GROUP]", value_parser = parse_user)]
    user: Option<UserSpec>,
    /// Security options (repeatable): `no-new-privileges[=true|false]` (default true),
    /// `apparmor=PROFILE|unconfined`, `label=type:T|user:U|role:R|level:L|disable` (an SELinux
    /// label; parts left out are system_u, system_r, container_t and s0; default: no label),
    /// `seccomp=unconfined|PATH.json` (a Docker seccomp profile; default: Docker's own),
    /// `systempaths=unconfined` (no masked or read-only /proc and /sys paths).
    #[arg(long = "security-opt", value_name = "OPT", value_parser = parse_security_opt)]
    security_opt: Vec<SecurityOpt>,
    /// Landlock: allow reading and executing beneath PATH (repeatable): the path as the
    /// program sees it (the container's /tmp, /dev, a --tmpfs) and the host's path of that
    /// name. With any --landlock-* flag everything else is denied, so the program and its
    /// libraries must be covered; best effort: what the kernel's Landlock supports is
    /// enforced.
    #[arg(long = "landlock-ro", value_name = "PATH")]
    landlock_ro: Vec<PathBuf>,
    /// Landlock: allow every file access beneath PATH, as for --landlock-ro (repeatable).
    #[arg(long = "landlock-rw", value_name = "PATH")]
    landlock_rw: Vec<PathBuf>,
    /// Check whether this host can run the container the other flags describe: print the
    /// preflight report and exit 0 if it can, 1 if it cannot. Runs nothing; PROGRAM is
    /// optional.
    #[arg(long)]
    check: bool,
    /// The format of --check's report.
    #[arg(long, value_enum, default_value = "table", requires = "check")]
    format: Format,
    /// Print the spawn's timeline (each step and its duration) on stderr. Needs run built
    /// with `--features tracing`; otherwise it says so and runs anyway.
    #[arg(long)]
    debug: bool,
    /// Make the root file system read-only (the host's tree already is by default, with a
    /// private writable /tmp; this makes a --rootfs read-only too).
    #[arg(long)]
    read_only: bool,
    /// Mount a tmpfs at PATH (repeatable), with Docker's options after a colon:
    /// `size=64m`, `mode=1777`, `exec`/`noexec`, `suid`/`nosuid`, `dev`/`nodev`, comma-separated
    /// (e.g. `/run:size=64m,mode=755`). Default: no size limit, mode 1777, `nosuid,nodev`.
    #[arg(long, value_name = "PATH[:OPTIONS]", value_parser = parse_tmpfs)]
    tmpfs: Vec<TmpfsArg>,
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
    /// Run in a user namespace. `remap` (the default when run as root): root inside is an
    /// unprivileged host range (root's /etc/subuid ranges, else 2000000000+65536).
    /// `keep-id`: the caller is root inside (for root: host root, confined only by its
    /// capabilities). An unprivileged caller always gets a user namespace mapping it to root.
    #[arg(long, value_name = "MODE", num_args = 0..=1, require_equals = true,
          default_missing_value = "remap",
          value_parser = ["remap", "keep-id"])]
    userns: Option<String>,
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
    #[arg(required_unless_present = "check", value_name = "PROGRAM")]
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

/// A `--tmpfs` argument.
#[derive(Debug, Clone, PartialEq)]
struct TmpfsArg {
    path: PathBuf,
    options: hutch::TmpfsOptions,
}

/// Parses `PATH[:OPTIONS]` with Docker's tmpfs options.
fn parse_tmpfs(s: &str) -> Result<TmpfsArg, String> {
    let (path, opts) = match s.split_once(':') {
        Some((p, o)) => (p, Some(o)),
        None => (s, None),
    };
    if path.is_empty() {
        return Err(format!("{s:?}: the path is empty (PATH[:OPTIONS])"));
    }
    let mut options = hutch::TmpfsOptions::scratch(None, None);
    for opt in opts.into_iter().flat_map(|o| o.split(',')) {
        match opt.split_once('=') {
            Some(("size", v)) => options.size = Some(parse_size(v)?),
            Some(("mode", v)) => {
                options.mode = Some(u32::from_str_radix(v, 8).map_err(|_| {
                    format!("tmpfs option mode={v:?}: expected an octal mode such as 1777")
                })?)
            }
            None if opt == "exec" => options.noexec = false,
            None if opt == "noexec" => options.noexec = true,
            None if opt == "suid" => options.nosuid = false,
            None if opt == "nosuid" => options.nosuid = true,
            None if opt == "dev" => options.nodev = false,
            None if opt == "nodev" => options.nodev = true,
            // The mount's own flags Docker accepts and that change nothing here.
            None if opt == "rw" || opt.is_empty() => {}
            _ => {
                return Err(format!(
                    "unknown tmpfs option {opt:?} (known: size=, mode=, exec, noexec, suid, \
                     nosuid, dev, nodev, rw)"
                ));
            }
        }
    }
    Ok(TmpfsArg {
        path: PathBuf::from(path),
        options,
    })
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

/// `--network`: `none`, `host`, `bridge`, `pasta`, `container:PID`, `ns:PATH` or a network's
/// name.
fn parse_network(s: &str) -> Result<NetworkArg, String> {
    Ok(match s {
        "none" => NetworkArg::None,
        "host" => NetworkArg::Host,
        "bridge" => NetworkArg::Bridge,
        "pasta" => NetworkArg::Pasta,
        _ => {
            if let Some(pid) = s.strip_prefix("container:") {
                match pid.parse::<u32>() {
                    Ok(p) if p > 0 => NetworkArg::Container(p),
                    _ => {
                        return Err(format!(
                            "container:{pid}: expected container:PID with the process id of a \
                             process in the container to join (e.g. its first process)"
                        ));
                    }
                }
            } else if let Some(path) = s.strip_prefix("ns:") {
                if path.is_empty() {
                    return Err("ns: needs a path, e.g. ns:/run/netns/NAME".to_owned());
                }
                NetworkArg::Ns(path.into())
            } else {
                check_network_name(s)?;
                NetworkArg::Named(s.to_owned())
            }
        }
    })
}

/// A network name is its bridge's interface name: 1 to 15 bytes, no `/`, `:` or whitespace.
fn check_network_name(name: &str) -> Result<(), String> {
    let bad = name.is_empty()
        || name.len() > 15
        || name == "."
        || name == ".."
        || name
            .bytes()
            .any(|b| b == b'/' || b == b':' || b == 0 || b.is_ascii_whitespace());
    if bad {
        Err(format!(
            "{name:?} is neither a network mode (none, host, bridge, pasta, container:PID, \
             ns:PATH) nor a network name (1-15 characters without '/', ':' or spaces)"
        ))
    } else {
        Ok(())
    }
}

/// `-p`: `[HOSTIP:]HOSTPORT:PORT[/udp]`.
fn parse_publish(s: &str) -> Result<hutch::netns::PortMapping, String> {
    s.parse()
        .map_err(|e: hutch::netns::PortMappingError| e.to_string())
}

/// `--add-host NAME:ADDR` (or `NAME=ADDR`; an IPv6 address may be in brackets).
fn parse_add_host(s: &str) -> Result<(String, IpAddr), String> {
    let (name, addr) = s
        .split_once('=')
        .or_else(|| s.split_once(':'))
        .ok_or_else(|| format!("{s:?}: expected NAME:ADDR, e.g. db:10.88.0.5"))?;
    if name.is_empty() || name.chars().any(char::is_whitespace) {
        return Err(format!(
            "{s:?}: the host name must be non-empty, without spaces (expected NAME:ADDR)"
        ));
    }
    let bare = addr
        .strip_prefix('[')
        .and_then(|a| a.strip_suffix(']'))
        .unwrap_or(addr);
    let addr = bare
        .parse()
        .map_err(|_| format!("{s:?}: {addr:?} is not an IPv4 or IPv6 address"))?;
    Ok((name.to_owned(), addr))
}

/// `--cap-add`/`--cap-drop`: a capability name as Docker or libcap spells it, or `ALL`.
fn parse_cap(s: &str) -> Result<CapArg, String> {
    if s.trim().eq_ignore_ascii_case("all") {
        return Ok(CapArg::All);
    }
    s.parse::<Capability>()
        .map(CapArg::One)
        .map_err(|e| e.to_string())
}

/// The capability changes `--cap-add` and `--cap-drop` describe, with Docker's rules: with
/// `--cap-add ALL` every capability in `all` (those `run` itself has) but those dropped by
/// name; with `--cap-drop ALL` only those added by name; otherwise the defaults, minus those
/// dropped, plus those added (an added capability wins over a dropped one).
fn cap_ops(add: &[CapArg], drop: &[CapArg], all: CapSet) -> Vec<CapOp> {
    let named = |v: &[CapArg]| -> Vec<Capability> {
        v.iter()
            .filter_map(|c| match c {
                CapArg::One(c) => Some(*c),
                CapArg::All => None,
            })
            .collect()
    };
    let (adds, drops) = (named(add), named(drop));
    let mut ops = Vec::new();
    if add.contains(&CapArg::All) {
        ops.push(CapOp::DropAll);
        ops.extend(all.iter().filter(|c| !drops.contains(c)).map(CapOp::Add));
    } else if drop.contains(&CapArg::All) {
        ops.push(CapOp::DropAll);
        ops.extend(adds.into_iter().map(CapOp::Add));
    } else {
        ops.extend(drops.into_iter().map(CapOp::Drop));
        ops.extend(adds.into_iter().map(CapOp::Add));
    }
    ops
}

/// A user or group: a number, or a name to look up.
fn parse_id(s: &str, what: &str) -> Result<IdSpec, String> {
    if s.is_empty() {
        return Err(format!("the {what} is empty (expected USER[:GROUP])"));
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return match s.parse::<u32>() {
            Ok(n) if n != u32::MAX => Ok(IdSpec::Num(n)),
            _ => Err(format!(
                "{what} id {s} is out of range (at most {})",
                u32::MAX - 1
            )),
        };
    }
    if s.chars().any(|c| c.is_whitespace() || c == ':') {
        return Err(format!("{s:?} is not a valid {what} name"));
    }
    Ok(IdSpec::Name(s.to_owned()))
}

/// `--user USER[:GROUP]`.
fn parse_user(s: &str) -> Result<UserSpec, String> {
    let (user, group) = match s.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (s, None),
    };
    Ok(UserSpec {
        user: parse_id(user, "user")?,
        group: group.map(|g| parse_id(g, "group")).transpose()?,
    })
}

/// Resolves `--user` against the container's `/etc/passwd` and `/etc/group` (their text), as
/// Docker does: a name must be found; a number need not be. Without a group, the user's
/// primary group from `/etc/passwd`, or 0.
fn resolve_user(spec: &UserSpec, passwd: &str, group: &str) -> Result<Account, String> {
    // name:password:uid:gid:gecos:home:shell
    let entries = |text: &str| -> Vec<Vec<String>> {
        text.lines()
            .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
            .map(|l| l.split(':').map(str::to_owned).collect())
            .collect()
    };
    let users = entries(passwd);
    let found = users.iter().find(|f| match &spec.user {
        IdSpec::Num(n) => f.get(2).and_then(|u| u.parse::<u32>().ok()) == Some(*n),
        IdSpec::Name(name) => f.first() == Some(name),
    });
    let uid = match (&spec.user, found) {
        (IdSpec::Num(n), _) => *n,
        (IdSpec::Name(_), Some(f)) => f
            .get(2)
            .and_then(|u| u.parse().ok())
            .ok_or_else(|| format!("bad /etc/passwd entry {:?}", f.join(":")))?,
        (IdSpec::Name(name), None) => {
            return Err(format!(
                "--user: no user {name:?} in the container's /etc/passwd (give a number instead)"
            ));
        }
    };
    let gid = match &spec.group {
        Some(IdSpec::Num(n)) => *n,
        Some(IdSpec::Name(name)) => entries(group)
            .iter()
            .find(|f| f.first() == Some(name))
            .and_then(|f| f.get(2).and_then(|g| g.parse().ok()))
            .ok_or_else(|| {
                format!(
                    "--user: no group {name:?} in the container's /etc/group (give a number \
                     instead)"
                )
            })?,
        None => found
            .and_then(|f| f.get(3).and_then(|g| g.parse().ok()))
            .unwrap_or(0),
    };
    let home = found
        .and_then(|f| f.get(5))
        .filter(|h| !h.is_empty())
        .cloned();
    Ok(Account { uid, gid, home })
}

/// `--security-opt KEY[=VALUE]` (Docker's older `KEY:VALUE` too).
fn parse_security_opt(s: &str) -> Result<SecurityOpt, String> {
    let (key, value) = match s.find(['=', ':']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let need = |what: &str| -> Result<&str, String> {
        match value {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(format!("{key} needs a value: {key}={what}")),
        }
    };
    match key {
        "no-new-privileges" => match value {
            None | Some("true") => Ok(SecurityOpt::NoNewPrivileges(true)),
            Some("false") => Ok(SecurityOpt::NoNewPrivileges(false)),
            Some(v) => Err(format!(
                "no-new-privileges={v}: expected no-new-privileges, no-new-privileges=true or \
                 no-new-privileges=false"
            )),
        },
        "apparmor" => Ok(SecurityOpt::AppArmor(
            need("PROFILE|unconfined")?.to_owned(),
        )),
        "label" => {
            let v = need("type:T|user:U|role:R|level:L|disable")?;
            let part = match v.split_once(':') {
                None if v == "disable" => LabelPart::Disable,
                Some(("type", t)) if !t.is_empty() => LabelPart::Type(t.to_owned()),
                Some(("user", t)) if !t.is_empty() => LabelPart::User(t.to_owned()),
                Some(("role", t)) if !t.is_empty() => LabelPart::Role(t.to_owned()),
                Some(("level", t)) if !t.is_empty() => LabelPart::Level(t.to_owned()),
                _ => {
                    return Err(format!(
                        "label={v}: expected label=type:T, label=user:U, label=role:R, \
                         label=level:L or label=disable"
                    ));
                }
            };
            Ok(SecurityOpt::Label(part))
        }
        "seccomp" => Ok(SecurityOpt::Seccomp(match need("unconfined|PATH.json")? {
            "unconfined" => SeccompOpt::Unconfined,
            path => SeccompOpt::Profile(path.into()),
        })),
        "systempaths" => match value {
            Some("unconfined") => Ok(SecurityOpt::SystemPathsUnconfined),
            _ => Err("expected systempaths=unconfined".to_owned()),
        },
        _ => Err(format!(
            "unknown security option {s:?}: expected no-new-privileges[=true|false], \
             apparmor=PROFILE|unconfined, label=type:T|...|disable, seccomp=unconfined|PATH.json \
             or systempaths=unconfined"
        )),
    }
}

/// The SELinux label the `label=` options describe, or `None` for no label (no option, or
/// `label=disable`, which wins).
fn selinux_label(parts: &[&LabelPart]) -> Option<String> {
    if parts.is_empty() || parts.contains(&&LabelPart::Disable) {
        return None;
    }
    let (mut user, mut role, mut kind, mut level) = ("system_u", "system_r", "container_t", "s0");
    for p in parts {
        match p {
            LabelPart::User(u) => user = u,
            LabelPart::Role(r) => role = r,
            LabelPart::Type(t) => kind = t,
            LabelPart::Level(l) => level = l,
            LabelPart::Disable => {}
        }
    }
    Some(format!("{user}:{role}:{kind}:{level}"))
}

/// The environment the program starts with (see the file's docs), in order: later entries win.
fn environment(
    args: &Args,
    home: &OsStr,
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
    vars.push(("HOME".into(), home.to_owned()));
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
        .map(|t| t.path.as_path())
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
        // Only what the library cannot map: a path under a -v volume of ours (it looks at the
        // caller's tree and the rootfs itself).
        if !args.volume.iter().any(|v| program.starts_with(&v.dst)) {
            continue;
        }
        let Some(on_host) = host_view(args, &program) else {
            continue;
        };
        if let Some(problem) = hutch::ExecProblem::of_file(&on_host, errno) {
            return Some((
                format!("cannot execute {}: {problem}", program.display()),
                problem.docker_exit_code(),
            ));
        }
    }
    None
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
    let net = &args.network;
    let own_network = net.is_bridge() || *net == NetworkArg::Pasta;
    if !args.publish.is_empty() && !own_network {
        return Err(
            "-p/--publish needs --network bridge, NAME or pasta (with other modes the \
                    container has no network of its own to publish)"
                .to_owned(),
        );
    }
    if args.ip.is_some() && !net.is_bridge() {
        return Err("--ip needs a bridge network (--network bridge or NAME)".to_owned());
    }
    if (!args.dns.is_empty() || !args.add_host.is_empty()) && !own_network {
        return Err(
            "--dns and --add-host need --network bridge, NAME or pasta: other modes \
                    keep the host's /etc/resolv.conf and /etc/hosts (bind your own with -v)"
                .to_owned(),
        );
    }
    if args.network_state.is_some() && !net.is_bridge() {
        return Err(
            "--network-state applies to bridge networks (--network bridge or NAME)".to_owned(),
        );
    }
    Ok(())
}

/// The configuration of bridge network `name` under `state` (or the default state root): read
/// from its state when it exists; otherwise a new network with the defaults, unless
/// `must_exist`.
fn bridge_config(
    name: &str,
    state: Option<&Path>,
    must_exist: bool,
) -> Result<NetworkConfig, String> {
    let root = state.unwrap_or(Path::new(DEFAULT_STATE_ROOT));
    match NetworkConfig::from_state(name, root) {
        Ok(cfg) => Ok(cfg),
        Err(NetworkError::State { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound && !must_exist =>
        {
            let mut cfg = NetworkConfig::new(name);
            cfg.state_root(root);
            Ok(cfg)
        }
        Err(NetworkError::State { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            let state_flag = match state {
                Some(dir) => format!(" --state {}", dir.display()),
                None => String::new(),
            };
            Err(format!(
                "--network {name}: there is no network {name:?} (in {}); create it with \
                 `network create {name}{state_flag}` (the network example), or use --network \
                 bridge",
                root.display()
            ))
        }
        Err(e) => Err(format!("--network {name}: {}", hutch::error_chain(&e))),
    }
}

/// A file of the container's tree, read from the host (empty when it cannot be).
fn read_in_container(args: &Args, path: &str) -> String {
    host_view(args, Path::new(path))
        .and_then(|p| std::fs::read_to_string(p).ok())
        .unwrap_or_default()
}

/// The container the flags describe (used to run, and by --check), and the account the
/// program runs as (`--user`).
fn build(args: &Args) -> Result<(Container, Option<Account>), String> {
    let mut c = Container::new();
    if let Some(h) = &args.hostname {
        c.hostname(h);
    }
    if let Some(root) = &args.rootfs {
        c.rootfs(root);
    }
    if args.read_only {
        // Only when asked: leaving it unset keeps the library's default for the tree.
        c.read_only(true);
    }
    for t in &args.tmpfs {
        c.tmpfs_with(&t.path, t.options);
    }
    for v in &args.volume {
        if v.read_only {
            c.bind_ro(&v.src, &v.dst);
        } else {
            c.bind(&v.src, &v.dst);
        }
    }
    match args.userns.as_deref() {
        Some("keep-id") => {
            c.user_namespace_mode(hutch::UserNamespace::MapCaller);
        }
        Some(_) => {
            c.user_namespace_mode(hutch::UserNamespace::Remap);
        }
        None => {}
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
    confine(args, &mut c)?;
    network(args, &mut c)?;
    let account = match &args.user {
        Some(spec) => Some(resolve_user(
            spec,
            &read_in_container(args, "/etc/passwd"),
            &read_in_container(args, "/etc/group"),
        )?),
        None => None,
    };
    Ok((c, account))
}

/// Capabilities, `no_new_privs`, LSM labels, seccomp and Landlock.
fn confine(args: &Args, c: &mut Container) -> Result<(), String> {
    if args.privileged {
        c.privileged();
    }
    // `ALL` is every capability run has: one missing from its bounding set cannot be given.
    let all = CapSet::all() & hutch::caps::thread::bounding_set().unwrap_or(CapSet::all());
    for op in cap_ops(&args.cap_add, &args.cap_drop, all) {
        match op {
            CapOp::DropAll => c.cap_drop_all(),
            CapOp::Add(cap) => c.cap_add(cap),
            CapOp::Drop(cap) => c.cap_drop(cap),
        };
    }
    let mut labels = Vec::new();
    for opt in &args.security_opt {
        match opt {
            SecurityOpt::NoNewPrivileges(on) => {
                c.no_new_privs(*on);
            }
            // No profile is hutch's default: `unconfined` asks for nothing (and works where
            // AppArmor is off, as with Docker).
            SecurityOpt::AppArmor(profile) if profile == "unconfined" => {}
            SecurityOpt::AppArmor(profile) => {
                c.apparmor_profile(profile);
            }
            SecurityOpt::Label(part) => labels.push(part),
            SecurityOpt::Seccomp(opt) => seccomp(c, opt)?,
            SecurityOpt::SystemPathsUnconfined => {
                c.masked_paths(false);
            }
        }
    }
    if let Some(label) = selinux_label(&labels) {
        c.selinux_label(label);
    }
    if !args.landlock_ro.is_empty() || !args.landlock_rw.is_empty() {
        let mut rules = hutch::Landlock::new();
        for p in &args.landlock_ro {
            rules.read_only(p);
        }
        for p in &args.landlock_rw {
            rules.read_write(p);
        }
        c.landlock(rules);
    }
    Ok(())
}

/// `--security-opt seccomp=...`: no filter, or a profile in Docker's JSON format.
fn seccomp(c: &mut Container, opt: &SeccompOpt) -> Result<(), String> {
    match opt {
        SeccompOpt::Unconfined => {
            c.seccomp_unconfined();
        }
        SeccompOpt::Profile(path) => {
            let shown = path.display();
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("--security-opt seccomp={shown}: {e}"))?;
            let profile =
                hutch::seccomp::profile::Profile::from_docker_json(&text).map_err(|e| {
                    format!("--security-opt seccomp={shown}: {}", hutch::error_chain(&e))
                })?;
            c.seccomp_profile(profile);
        }
    }
    Ok(())
}

/// `--network` and the flags that go with it.
fn network(args: &Args, c: &mut Container) -> Result<(), String> {
    let state = args.network_state.as_deref();
    match &args.network {
        NetworkArg::None => {
            c.network(NetworkMode::None);
        }
        NetworkArg::Host => {
            c.network(NetworkMode::Host);
        }
        NetworkArg::Bridge => {
            c.network(NetworkMode::Bridge(bridge_config(
                DEFAULT_NETWORK,
                state,
                false,
            )?));
        }
        NetworkArg::Named(name) => {
            c.network(NetworkMode::Bridge(bridge_config(name, state, true)?));
        }
        NetworkArg::Pasta => {
            c.network(NetworkMode::Pasta);
        }
        NetworkArg::Container(pid) => {
            use std::os::fd::AsFd;
            let what = || format!("--network container:{pid}");
            // By pidfd: once it is open, a recycled pid cannot send us elsewhere.
            let pidfd = sys::pidfd_open(*pid).map_err(|e| format!("{}: {e}", what()))?;
            let handle = hutch::ns::NsHandle::from_pidfd(pidfd.as_fd(), hutch::Namespace::Net)
                .map_err(|e| format!("{}: {}", what(), hutch::error_chain(&e)))?;
            c.join_namespace(handle);
        }
        NetworkArg::Ns(path) => {
            let what = || format!("--network ns:{}", path.display());
            let handle = hutch::ns::NsHandle::open_path(path)
                .map_err(|e| format!("{}: {}", what(), hutch::error_chain(&e)))?;
            if handle.kind() != hutch::Namespace::Net {
                return Err(format!(
                    "{}: that is a {} namespace, not a network namespace",
                    what(),
                    handle.kind().proc_name()
                ));
            }
            c.join_namespace(handle);
        }
    }
    for &p in &args.publish {
        c.publish(p);
    }
    if let Some(ip) = args.ip {
        c.ip(ip);
    }
    for &d in &args.dns {
        c.dns(d);
    }
    for (name, addr) in &args.add_host {
        c.add_host(name.clone(), *addr);
    }
    Ok(())
}

/// `--check`: the preflight report for the container the flags describe; 0 when it can run,
/// 1 when it cannot.
fn check(args: &Args, c: &Container) -> u8 {
    let mut wanted = hutch::preflight::Requirements::for_container(c);
    wanted.networking(args.network.is_bridge());
    wanted.rootless_networking(args.network == NetworkArg::Pasta);
    let report = hutch::preflight::check(&wanted);
    match args.format {
        Format::Table => print!("{report}"),
        Format::Json => println!("{}", report.to_json()),
    }
    if report.can_run() {
        0
    } else {
        EXIT_CHECK_FAILED
    }
}

/// `--print-network` (and `--stats`): the container's network, on stderr.
fn print_network(args: &Args, child: &hutch::Child) {
    match child.network() {
        Some(n) if n.pasta_pid().is_some() || n.address().is_none() => {
            let pid = n
                .pasta_pid()
                .map_or(String::new(), |p| format!(" (pasta pid {p})"));
            let ports: Vec<String> = args.publish.iter().map(ToString::to_string).collect();
            eprintln!(
                "run: network {}: the caller's addresses{pid}, published [{}]",
                n.network(),
                ports.join(" ")
            );
        }
        Some(n) => {
            let show = |a: Option<String>| a.unwrap_or_else(|| "none".to_owned());
            let ports: Vec<String> = n.ports().iter().map(ToString::to_string).collect();
            let v6 = n.address6().map_or(String::new(), |a| format!(", {a}"));
            eprintln!(
                "run: network {}: address {}{v6}, gateway {}, published [{}]",
                n.network(),
                show(n.address().map(|a| a.to_string())),
                show(n.gateway().map(|a| a.to_string())),
                ports.join(" ")
            );
        }
        None if args.print_network => {
            let what = match &args.network {
                NetworkArg::Host => "host (the caller's network namespace)".to_owned(),
                NetworkArg::Container(pid) => format!("container:{pid} (joined)"),
                NetworkArg::Ns(p) => format!("ns:{} (joined)", p.display()),
                _ => "none (a namespace of its own with only lo)".to_owned(),
            };
            eprintln!("run: network {what}");
        }
        None => {}
    }
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
    // The library found out what is wrong with the program.
    if let SpawnError::Exec { problem, .. } = e {
        return (hutch::error_chain(e), problem.docker_exit_code());
    }
    // Where it could not look (a path under a -v volume), run looks itself; whether an
    // interpreter or loader named there really is missing is not checked then.
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
    // An ignored SIGCHLD (inherited through exec from whoever started us) would have the
    // kernel reap the container behind our back; the library then needs Linux 6.15+ to know
    // how it ended. `run` has no use for it ignored.
    if let Err(e) = sys::default_sigchld() {
        eprintln!("run: restoring SIGCHLD: {e}");
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
    if args.debug {
        debug::install();
    }
    ExitCode::from(run(&args))
}

fn run(args: &Args) -> u8 {
    let (mut c, account) = match build(args) {
        Ok(built) => built,
        Err(msg) => {
            eprintln!("run: {msg}");
            return EXIT_RUN;
        }
    };
    if args.check {
        return check(args, &c);
    }

    // Set on the container, so that processes exec'd into it get the same environment.
    let tty = std::io::stdin().is_terminal() || std::io::stdout().is_terminal();
    // As Docker: the user's home directory, `/` for a user /etc/passwd does not know.
    let home = match &account {
        None => "/root".to_owned(),
        Some(a) => a.home.clone().unwrap_or_else(|| "/".to_owned()),
    };
    c.env_clear();
    for (k, v) in environment(args, OsStr::new(&home), |k| std::env::var_os(k), tty) {
        c.env(k, v);
    }
    let mut cmd: Command = c.command(&args.command[0]);
    cmd.args(&args.command[1..]);
    cmd.current_dir(args.workdir.as_deref().unwrap_or(Path::new("/")));
    if let Some(a) = &account {
        cmd.uid(a.uid).gid(a.gid);
    }

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
            if args.network.is_bridge() && !nix::unistd::geteuid().is_root() {
                eprintln!(
                    "run: bridge networks need root (CAP_NET_ADMIN on the host); an \
                     unprivileged caller can use --network pasta"
                );
            }
            return code;
        }
    };
    if args.print_network || args.stats {
        print_network(args, &child);
    }
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
    // Removes the container's cgroup and its network (veth, rules, lease) before run exits.
    drop(child);
    exit_code(status)
}

/// `--debug`: prints the library's spawn timeline (feature `tracing`).
#[cfg(feature = "tracing")]
mod debug {
    use std::fmt::Debug;

    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Metadata, Subscriber};

    /// A subscriber that prints hutch's spawn span and step events on stderr as they happen.
    struct Timeline;

    /// The fields hutch's spawn events carry.
    #[derive(Default)]
    struct Fields {
        step: Option<String>,
        micros: Option<u64>,
        since_start: Option<u64>,
        program: Option<String>,
        pid: Option<i64>,
    }

    impl Visit for Fields {
        fn record_u64(&mut self, field: &Field, value: u64) {
            match field.name() {
                "micros" => self.micros = Some(value),
                "since_start_micros" => self.since_start = Some(value),
                _ => {}
            }
        }
        fn record_i64(&mut self, field: &Field, value: i64) {
            match field.name() {
                "pid" => self.pid = Some(value),
                "micros" | "since_start_micros" => {
                    self.record_u64(field, u64::try_from(value).unwrap_or(0))
                }
                _ => {}
            }
        }
        fn record_str(&mut self, field: &Field, value: &str) {
            match field.name() {
                "step" => self.step = Some(value.to_owned()),
                "program" => self.program = Some(value.to_owned()),
                _ => {}
            }
        }
        fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
            match field.name() {
                "step" => self.step = Some(format!("{value:?}")),
                "program" => self.program = Some(format!("{value:?}")),
                _ => {}
            }
        }
    }

    fn ms(micros: u64) -> f64 {
        micros as f64 / 1000.0
    }

    impl Subscriber for Timeline {
        fn enabled(&self, metadata: &Metadata<'_>) -> bool {
            metadata.target().starts_with("hutch")
        }
        fn new_span(&self, span: &Attributes<'_>) -> Id {
            let mut f = Fields::default();
            span.record(&mut f);
            eprintln!(
                "run: debug: {} {}",
                span.metadata().name(),
                f.program.unwrap_or_default()
            );
            Id::from_u64(1)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &Event<'_>) {
            let mut f = Fields::default();
            event.record(&mut f);
            match (f.step, f.micros, f.since_start, f.pid) {
                (Some(step), Some(us), Some(at), _) => eprintln!(
                    "run: debug:   {step:<24} {:>9.3} ms   (at {:>9.3} ms)",
                    ms(us),
                    ms(at)
                ),
                (_, _, _, Some(pid)) => eprintln!("run: debug:   spawned pid {pid}"),
                _ => {}
            }
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }

    /// Installs the timeline as the process's subscriber.
    pub fn install() {
        if tracing::subscriber::set_global_default(Timeline).is_err() {
            eprintln!("run: --debug: a tracing subscriber is already installed");
        }
    }
}

/// `--debug` without the `tracing` feature: says how to get the timeline.
#[cfg(not(feature = "tracing"))]
mod debug {
    pub fn install() {
        eprintln!(
            "run: --debug: this run was built without the `tracing` feature, so there is no \
             spawn timeline; rebuild with `cargo build --example run --features tracing` \
             (running anyway)"
        );
    }
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
    use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd};

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

    /// A pidfd for process `pid` (`pidfd_open(2)`, Linux 5.3): once it is open, the process
    /// it names cannot be replaced by another one with a recycled pid.
    #[allow(unsafe_code)]
    pub fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
        let pid =
            libc::pid_t::try_from(pid).map_err(|_| io::Error::from_raw_os_error(libc::ESRCH))?;
        // SAFETY: pidfd_open takes a pid and flags (none) and passes no memory; it returns a
        // new descriptor or -1 with errno set.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let fd = i32::try_from(fd).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
        // SAFETY: the kernel just returned this descriptor; nothing else owns it.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    /// Puts `SIGCHLD` back to its default disposition (not ignored, no `SA_NOCLDWAIT`).
    #[allow(unsafe_code)]
    pub fn default_sigchld() -> io::Result<()> {
        use nix::sys::signal::{SaFlags, SigAction, SigHandler, sigaction};
        let dfl = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
        // SAFETY: installs the default disposition, no handler code; called before `run`
        // starts any thread.
        unsafe { sigaction(Signal::SIGCHLD, &dfl) }
            .map(drop)
            .map_err(io::Error::from)
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
    fn tmpfs_options_like_docker() {
        let t = parse_tmpfs("/run").unwrap();
        assert_eq!(t.path, PathBuf::from("/run"));
        assert_eq!(t.options, hutch::TmpfsOptions::scratch(None, None));
        let t = parse_tmpfs("/var/tmp:size=64m,mode=700,noexec,dev").unwrap();
        assert_eq!(t.options.size, Some(64 << 20));
        assert_eq!(t.options.mode, Some(0o700));
        assert!(t.options.noexec && t.options.nosuid && !t.options.nodev);
        assert!(parse_tmpfs("/x:exec,suid").is_ok_and(|t| !t.options.noexec && !t.options.nosuid));
        for bad in ["", ":size=1m", "/x:size=lots", "/x:mode=999", "/x:bogus"] {
            let e = parse_tmpfs(bad).unwrap_err();
            assert!(!e.is_empty(), "{bad}");
        }
        assert!(parse_tmpfs("/x:bogus").unwrap_err().contains("\"bogus\""));
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
        let env: Vec<(String, String)> = environment(&args, OsStr::new("/root"), caller, false)
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
        let tty = environment(&args, OsStr::new("/root"), caller, true);
        assert!(tty.contains(&("TERM".into(), "screen".into())));
        let tty = environment(&args, OsStr::new("/root"), |_| None, true);
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
            "--cap-add",
            "--security-opt",
            "seccomp=unconfined",
            "--landlock-ro",
            "--publish",
            "--check",
            "--debug",
            "Preflight",
        ] {
            assert!(help.contains(needle), "--help lacks {needle:?}:\n{help}");
        }
    }

    #[test]
    fn capabilities_follow_dockers_rules() {
        use Capability as C;
        let one = |c| CapArg::One(c);
        // What the library does with the steps, from Docker's defaults.
        let apply = |ops: Vec<CapOp>| {
            let mut set = CapSet::docker_default();
            for op in ops {
                match op {
                    CapOp::DropAll => set = CapSet::empty(),
                    CapOp::Add(c) => {
                        set.insert(c);
                    }
                    CapOp::Drop(c) => {
                        set.remove(c);
                    }
                }
            }
            set
        };
        let all = CapSet::all();
        assert_eq!(cap_ops(&[], &[], all), []);
        let mut want = CapSet::docker_default();
        want.insert(C::NetAdmin);
        want.remove(C::NetRaw);
        assert_eq!(
            apply(cap_ops(&[one(C::NetAdmin)], &[one(C::NetRaw)], all)),
            want
        );
        // Added wins over dropped.
        assert!(apply(cap_ops(&[one(C::NetRaw)], &[one(C::NetRaw)], all)).contains(C::NetRaw));
        let only = apply(cap_ops(&[one(C::Kill)], &[CapArg::All], all));
        assert_eq!(only.iter().collect::<Vec<_>>(), [C::Kill]);
        let mut most = all;
        most.remove(C::SysAdmin);
        assert_eq!(
            apply(cap_ops(&[CapArg::All], &[one(C::SysAdmin)], all)),
            most
        );
        // ALL is what run has.
        let mut some = CapSet::empty();
        some.insert(C::Chown);
        assert_eq!(apply(cap_ops(&[CapArg::All], &[], some)), some);
        assert_eq!(parse_cap("all"), Ok(CapArg::All));
        assert_eq!(parse_cap("cap_net_raw"), Ok(one(C::NetRaw)));
        assert_eq!(parse_cap("NET_RAW"), Ok(one(C::NetRaw)));
        assert!(parse_cap("NET_BOGUS").unwrap_err().contains("NET_BOGUS"));
    }

    #[test]
    fn users_resolve_like_docker() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\n# comment\n\
                      app:x:1000:1001:App:/home/app:/bin/sh\nnohome:x:7:8::\n";
        let group = "root:x:0:\nstaff:x:50:app\n";
        let r = |s: &str| resolve_user(&parse_user(s)?, passwd, group);
        let acct = |uid, gid, home: Option<&str>| Account {
            uid,
            gid,
            home: home.map(str::to_owned),
        };
        assert_eq!(r("1000:1000"), Ok(acct(1000, 1000, Some("/home/app"))));
        assert_eq!(r("1000"), Ok(acct(1000, 1001, Some("/home/app"))));
        assert_eq!(r("app"), Ok(acct(1000, 1001, Some("/home/app"))));
        assert_eq!(r("app:staff"), Ok(acct(1000, 50, Some("/home/app"))));
        assert_eq!(
            r("4242"),
            Ok(acct(4242, 0, None)),
            "unknown numbers are fine"
        );
        assert_eq!(r("4242:9"), Ok(acct(4242, 9, None)));
        assert_eq!(r("nohome"), Ok(acct(7, 8, None)));
        assert!(r("ghost").unwrap_err().contains("\"ghost\""));
        assert!(r("app:ghosts").unwrap_err().contains("\"ghosts\""));
        assert!(parse_user("").is_err());
        assert!(parse_user("1:").unwrap_err().contains("group is empty"));
        assert!(
            parse_user("4294967295")
                .unwrap_err()
                .contains("out of range")
        );
        assert!(
            parse_user("99999999999")
                .unwrap_err()
                .contains("out of range")
        );
        assert!(parse_user("a b").is_err());
    }

    #[test]
    fn security_options() {
        use SecurityOpt as S;
        let p = parse_security_opt;
        assert_eq!(p("no-new-privileges"), Ok(S::NoNewPrivileges(true)));
        assert_eq!(p("no-new-privileges=true"), Ok(S::NoNewPrivileges(true)));
        assert_eq!(p("no-new-privileges:false"), Ok(S::NoNewPrivileges(false)));
        assert!(p("no-new-privileges=0").is_err());
        assert_eq!(
            p("apparmor=unconfined"),
            Ok(S::AppArmor("unconfined".into()))
        );
        assert_eq!(p("apparmor:my-prof"), Ok(S::AppArmor("my-prof".into())));
        assert!(p("apparmor=").unwrap_err().contains("apparmor=PROFILE"));
        assert_eq!(p("label=disable"), Ok(S::Label(LabelPart::Disable)));
        assert_eq!(
            p("label=type:spc_t"),
            Ok(S::Label(LabelPart::Type("spc_t".into())))
        );
        assert_eq!(
            p("label=level:s0:c1,c2"),
            Ok(S::Label(LabelPart::Level("s0:c1,c2".into())))
        );
        assert!(p("label=type:").is_err());
        assert!(p("label=nested").is_err());
        assert_eq!(
            p("seccomp=unconfined"),
            Ok(S::Seccomp(SeccompOpt::Unconfined))
        );
        assert_eq!(
            p("seccomp=/etc/p.json"),
            Ok(S::Seccomp(SeccompOpt::Profile("/etc/p.json".into())))
        );
        assert_eq!(p("systempaths=unconfined"), Ok(S::SystemPathsUnconfined));
        assert!(
            p("bogus=1")
                .unwrap_err()
                .contains("unknown security option")
        );

        let t = |v: &str| LabelPart::Type(v.into());
        assert_eq!(selinux_label(&[]), None);
        assert_eq!(
            selinux_label(&[&t("T")]).as_deref(),
            Some("system_u:system_r:T:s0")
        );
        let lvl = LabelPart::Level("s0:c1".into());
        let user = LabelPart::User("u".into());
        assert_eq!(
            selinux_label(&[&lvl, &user]).as_deref(),
            Some("u:system_r:container_t:s0:c1")
        );
        assert_eq!(selinux_label(&[&t("T"), &LabelPart::Disable]), None);
    }

    #[test]
    fn network_flags() {
        assert_eq!(parse_network("none"), Ok(NetworkArg::None));
        assert_eq!(parse_network("host"), Ok(NetworkArg::Host));
        assert_eq!(parse_network("bridge"), Ok(NetworkArg::Bridge));
        assert_eq!(parse_network("pasta"), Ok(NetworkArg::Pasta));
        assert_eq!(parse_network("container:42"), Ok(NetworkArg::Container(42)));
        assert_eq!(
            parse_network("ns:/run/netns/x"),
            Ok(NetworkArg::Ns("/run/netns/x".into()))
        );
        assert_eq!(
            parse_network("backend"),
            Ok(NetworkArg::Named("backend".into()))
        );
        for bad in [
            "container:",
            "container:0",
            "container:x",
            "ns:",
            "",
            "a b",
            "a/b",
        ] {
            assert!(parse_network(bad).is_err(), "{bad:?}");
        }
        assert!(parse_network("x".repeat(16).as_str()).is_err());
        assert!(parse_network("x".repeat(15).as_str()).is_ok());
        assert_eq!(
            parse_add_host("db:10.0.0.1"),
            Ok(("db".into(), "10.0.0.1".parse().unwrap()))
        );
        assert_eq!(
            parse_add_host("db=fd00::1"),
            Ok(("db".into(), "fd00::1".parse().unwrap()))
        );
        assert_eq!(
            parse_add_host("db:[fd00::1]"),
            Ok(("db".into(), "fd00::1".parse().unwrap()))
        );
        assert!(parse_add_host("db").unwrap_err().contains("NAME:ADDR"));
        assert!(parse_add_host(":1.2.3.4").is_err());
        assert!(parse_add_host("db:x").unwrap_err().contains("\"x\""));
        assert!(parse_publish("8080:80/udp").is_ok());
        assert!(parse_publish("80").unwrap_err().contains("\"80\""));
    }

    #[test]
    fn check_and_format_flags() {
        let parse = |v: &[&str]| Args::try_parse_from(v);
        let a = parse(&["run", "--check"]).unwrap();
        assert!(a.check && a.command.is_empty() && a.format == Format::Table);
        let a = parse(&["run", "--check", "--format", "json"]).unwrap();
        assert_eq!(a.format, Format::Json);
        assert!(parse(&["run", "--format", "json", "--", "x"]).is_err());
        assert!(parse(&["run"]).is_err(), "PROGRAM is needed to run");
        let a = parse(&[
            "run",
            "-p",
            "1:2",
            "-p",
            "3:4/udp",
            "--network",
            "bridge",
            "--",
            "x",
        ])
        .unwrap();
        assert_eq!(a.publish.len(), 2);
    }

    proptest! {
        #[test]
        fn flag_parsers_never_panic(s in "\\PC{0,40}") {
            let _ = parse_network(&s);
            let _ = parse_add_host(&s);
            let _ = parse_user(&s);
            let _ = parse_security_opt(&s);
            let _ = parse_cap(&s);
        }

        #[test]
        fn numeric_users_round_trip(uid in 0u32..u32::MAX, gid in proptest::option::of(0u32..u32::MAX)) {
            let text = match gid {
                Some(g) => format!("{uid}:{g}"),
                None => uid.to_string(),
            };
            let acct = resolve_user(&parse_user(&text).unwrap(), "", "").unwrap();
            prop_assert_eq!((acct.uid, acct.gid), (uid, gid.unwrap_or(0)));
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
