//! `network`: create, list and remove the named bridge networks that `run --network NAME`
//! attaches containers to, with Docker's subcommand names.
//!
//! ```text
//! cargo run --example network -- create NAME [--subnet CIDR] [--subnet6 CIDR] [--bridge IF]
//! cargo run --example network -- ls
//! cargo run --example network -- rm NAME...
//! sudo cargo run --example network -- create backend --subnet 10.89.0.0/24
//! sudo cargo run --example run -- --network backend --hostname db -- sleep 1000
//! ```
//!
//! Every subcommand takes `--state DIR`, the directory under which networks keep their state
//! (configuration and address leases; default `/run/hutch/networks`); `run` takes the same
//! directory as `--network-state DIR`. A network lives in the caller's network namespace: its
//! bridge (named after the network unless `--bridge` says otherwise), the bridge's address
//! (the subnet's first address), and two chains in the nf_tables table `ip hutch`
//! (`NAME-postrouting` for masquerade, `NAME-guard`), which `nft list table ip hutch` shows.
//! `run --network bridge` creates the default network `hutch0` (10.88.0.0/16) on first use;
//! other names must be created first.
//!
//! `rm` refuses a network that still has containers attached; a container whose `run` was
//! killed is detached (its leftovers removed) the next time the network is opened.
//!
//! # Exit codes
//!
//! * `0`: done (`--help` too).
//! * `1`: the operation failed (the message names the network and the cause).
//! * `2`: a bad command line.
//!
//! Needs root (`CAP_NET_ADMIN`), like `run --network bridge`. Tests: `tests/cli.rs`, in
//! network namespaces the tests create.

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use hutch::netns::{Cidr, DEFAULT_STATE_ROOT, NetworkConfig, NetworkError, list_networks};

/// Manage hutch's bridge networks (for `run --network NAME`).
#[derive(Debug, Parser)]
#[command(name = "network", version, after_long_help = AFTER_LONG_HELP)]
struct Cli {
    /// Where networks keep their state [default: /run/hutch/networks]; give `run` the same
    /// directory with --network-state.
    #[arg(long, value_name = "DIR", global = true)]
    state: Option<PathBuf>,
    #[command(subcommand)]
    command: Cmd,
}

const AFTER_LONG_HELP: &str = "\
Exit codes: 0 done (and --help), 1 the operation failed, 2 a bad command line.

A network is a bridge in the caller's network namespace with the subnet's first address,
masquerade for traffic leaving the subnet, and published ports for its containers; its rules
are in the nf_tables table `ip hutch` (nft list table ip hutch). Needs root.";

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Create a network (error if it exists).
    Create {
        /// The network's name (1-15 characters without '/', ':' or spaces); also the bridge's
        /// name unless --bridge is given.
        name: String,
        /// The IPv4 subnet, e.g. 10.89.0.0/24 [default: 10.88.0.0/16]. It must not overlap a
        /// route of the host.
        #[arg(long, value_name = "CIDR")]
        subnet: Option<Cidr>,
        /// An IPv6 subnet as well, e.g. fd00:89::/64 (no IPv6 NAT).
        #[arg(long, value_name = "CIDR")]
        subnet6: Option<Cidr>,
        /// The bridge interface's name [default: the network's name].
        #[arg(long, value_name = "IF")]
        bridge: Option<String>,
    },
    /// List the networks (one name per line).
    #[command(alias = "list")]
    Ls,
    /// Remove networks: bridge, rules and state (error while containers are attached).
    #[command(alias = "remove")]
    Rm {
        /// The networks to remove.
        #[arg(required = true)]
        names: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let root = cli
        .state
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_ROOT));
    let result = match &cli.command {
        Cmd::Create {
            name,
            subnet,
            subnet6,
            bridge,
        } => create(&root, name, *subnet, *subnet6, bridge.as_deref()),
        Cmd::Ls => ls(&root),
        Cmd::Rm { names } => {
            // Remove what can be removed; report every failure.
            let mut failed = false;
            for name in names {
                if let Err(msg) = rm(&root, name) {
                    eprintln!("network: {msg}");
                    failed = true;
                }
            }
            if failed { Err(None) } else { Ok(()) }
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            if let Some(msg) = msg {
                eprintln!("network: {msg}");
            }
            ExitCode::from(1)
        }
    }
}

/// `Err(Some(message))`, or `Err(None)` when the messages were printed already.
type Outcome = Result<(), Option<String>>;

fn create(
    root: &Path,
    name: &str,
    subnet: Option<Cidr>,
    subnet6: Option<Cidr>,
    bridge: Option<&str>,
) -> Outcome {
    let names = list_networks(root).map_err(|e| Some(hutch::error_chain(&e)))?;
    if names.iter().any(|n| n == name) {
        return Err(Some(format!(
            "network {name} exists already (in {}); remove it first with `network rm {name}`",
            root.display()
        )));
    }
    let mut cfg = NetworkConfig::new(name);
    // Made on purpose: it stays until `network rm`, in any namespace.
    cfg.state_root(root).transient(false);
    if let Some(s) = subnet {
        if !s.is_ipv4() {
            return Err(Some(format!(
                "--subnet {s}: an IPv4 subnet is needed (use --subnet6 for IPv6)"
            )));
        }
        cfg.subnet(s);
    }
    if let Some(s) = subnet6 {
        if s.is_ipv4() {
            return Err(Some(format!("--subnet6 {s}: an IPv6 subnet is needed")));
        }
        cfg.subnet6(s);
    }
    if let Some(b) = bridge {
        cfg.bridge(b);
    }
    let net = cfg.open().map_err(|e| {
        Some(format!(
            "creating network {name}: {}",
            hutch::error_chain(&e)
        ))
    })?;
    println!("{}", net.name());
    Ok(())
}

fn ls(root: &Path) -> Outcome {
    let names = list_networks(root).map_err(|e| Some(hutch::error_chain(&e)))?;
    for n in names {
        println!("{n}");
    }
    Ok(())
}

fn rm(root: &Path, name: &str) -> Result<(), String> {
    let cfg = NetworkConfig::from_state(name, root).map_err(|e| match e {
        NetworkError::State { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            format!("there is no network {name:?} (in {})", root.display())
        }
        e => format!("network {name}: {}", hutch::error_chain(&e)),
    })?;
    cfg.open()
        .and_then(|net| net.remove())
        .map_err(|e| format!("removing network {name}: {}", hutch::error_chain(&e)))?;
    println!("{name}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_parses() {
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from([
            "network",
            "create",
            "backend",
            "--subnet",
            "10.89.0.0/24",
            "--state",
            "/s",
        ])
        .unwrap();
        assert_eq!(cli.state.as_deref(), Some(Path::new("/s")));
        match cli.command {
            Cmd::Create { name, subnet, .. } => {
                assert_eq!(name, "backend");
                assert_eq!(subnet, Some("10.89.0.0/24".parse().unwrap()));
            }
            other => panic!("{other:?}"),
        }
        assert!(
            Cli::try_parse_from(["network", "create", "x", "--subnet", "10.0.0.0/33"]).is_err()
        );
        assert!(Cli::try_parse_from(["network", "rm"]).is_err());
        assert!(matches!(
            Cli::try_parse_from(["network", "list"]).unwrap().command,
            Cmd::Ls
        ));
    }
}
