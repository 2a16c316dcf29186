//! Networking for unprivileged callers through `pasta` (Debian package `passt`): a
//! user-mode network stack that gives a container namespace a tap interface with the
//! host's addresses, reaches the outside through ordinary sockets of the caller, and
//! forwards published ports from the caller's namespace into the container.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek};
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use hutch_ns::NsHandle;

use crate::network::{PortMapping, Protocol};
use crate::sys;

/// An error from starting the user-mode network helper.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum RootlessError {
    /// The program is not installed.
    #[error("{program} not found: rootless networking needs pasta (Debian package `passt`)")]
    MissingProgram {
        /// The program that was looked for.
        program: PathBuf,
        /// The OS error (`ENOENT`).
        #[source]
        source: io::Error,
    },
    /// Starting it failed otherwise (or setting up its pipe and log file).
    #[error("cannot start {program}")]
    Spawn {
        /// The program.
        program: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// It exited before it was ready.
    #[error("{program} exited ({status}) before it was ready: {stderr}")]
    Exited {
        /// The program.
        program: PathBuf,
        /// Its exit status.
        status: ExitStatus,
        /// What it wrote to stderr.
        stderr: String,
    },
    /// It exited before it was ready because the caller cannot open the TUN device
    /// (`/dev/net/tun`) that it needs for the container's interface. Hosts without udev
    /// leave the device node at the kernel's mode `0600` (owner root); Debian's udev rules
    /// make it `0666`, which unprivileged callers need.
    #[error(
        "{program} exited before it was ready; rootless networking needs the caller to be able \
         to read and write {} ({}); {program} said: {stderr}",
        device.path.display(),
        device.fix()
    )]
    TunDevice {
        /// The program.
        program: PathBuf,
        /// Why the device cannot be opened.
        #[source]
        device: TunDeviceError,
        /// What the program wrote to stderr.
        stderr: String,
    },
    /// It was not ready in time (it has been killed).
    #[error("{program} was not ready within {timeout:?}")]
    Timeout {
        /// The program.
        program: PathBuf,
        /// The time waited.
        timeout: Duration,
    },
}

/// How to start `pasta` for a container, in the style of `std::process::Command`.
///
/// # Examples
/// ```no_run
/// use hutch_netns::{PastaConfig, PortMapping};
/// use hutch_ns::{Namespace, NsHandle};
/// # let child_pid = 1;
/// let child = NsHandle::open(child_pid, Namespace::Net)?;
/// let user = NsHandle::open(child_pid, Namespace::User)?;
/// let pasta = PastaConfig::new()
///     .userns(std::sync::Arc::new(user))
///     .publish(PortMapping::tcp(8080, 80))
///     .start(&child)?;
/// // ... the container runs; dropping `pasta` ends the helper.
/// # drop(pasta);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct PastaConfig {
    program: PathBuf,
    ports: Vec<PortMapping>,
    timeout: Duration,
    host: Option<Arc<NsHandle>>,
    userns: Option<Arc<NsHandle>>,
    args: Vec<OsString>,
}

impl Default for PastaConfig {
    fn default() -> Self {
        PastaConfig::new()
    }
}

impl PastaConfig {
    /// `pasta` from `PATH`, no published ports, 10 s to get ready.
    pub fn new() -> PastaConfig {
        PastaConfig {
            program: PathBuf::from("pasta"),
            ports: Vec::new(),
            timeout: Duration::from_secs(10),
            host: None,
            userns: None,
            args: Vec::new(),
        }
    }

    /// The program to run.
    pub fn program(&mut self, program: impl Into<PathBuf>) -> &mut Self {
        self.program = program.into();
        self
    }

    /// Publishes a port: pasta listens on the host side and forwards into the container.
    pub fn publish(&mut self, mapping: PortMapping) -> &mut Self {
        self.ports.push(mapping);
        self
    }

    /// How long to wait for pasta to be ready.
    pub fn ready_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.timeout = timeout;
        self
    }

    /// Runs pasta in this network namespace instead of the caller's (its sockets, and so
    /// the container's outside world and its published ports, live there).
    pub fn host_netns(&mut self, ns: Arc<NsHandle>) -> &mut Self {
        self.host = Some(ns);
        self
    }

    /// The user namespace owning the container's network namespace, which an
    /// unprivileged pasta must join (`--userns`).
    pub fn userns(&mut self, ns: Arc<NsHandle>) -> &mut Self {
        self.userns = Some(ns);
        self
    }

    /// An extra argument for pasta (e.g. `--mtu`, `--ipv4-only`).
    pub fn arg(&mut self, arg: impl Into<OsString>) -> &mut Self {
        self.args.push(arg.into());
        self
    }

    /// The arguments pasta gets; fds 3 (network namespace), 4 (ready pipe) and 5 (user
    /// namespace, optional) are the only ones it inherits besides stdio.
    fn argv(&self) -> Vec<OsString> {
        let mut argv: Vec<OsString> = [
            "--config-net",
            "--foreground",
            "--quiet",
            "--netns",
            "/proc/self/fd/3",
            "--pid",
            "/proc/self/fd/4",
            // Do not expose the host's own listening ports to the container.
            "-T",
            "none",
            "-U",
            "none",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        if self.userns.is_some() {
            argv.push("--userns".into());
            argv.push("/proc/self/fd/5".into());
        } else if crate::sys::geteuid() == 0
            && !self
                .args
                .iter()
                .any(|a| a.to_str().is_some_and(|a| a.starts_with("--runas")))
        {
            // Started as root, pasta drops to `nobody` after its set-up, which then may not
            // enter a container namespace owned by root: keep root (the container's network
            // namespace is root's anyway).
            argv.push("--runas".into());
            argv.push("0".into());
        }
        for protocol in [Protocol::Tcp, Protocol::Udp] {
            let flag = if protocol == Protocol::Tcp {
                "-t"
            } else {
                "-u"
            };
            let mut any = false;
            for p in self.ports.iter().filter(|p| p.protocol == protocol) {
                let spec = match p.host_ip {
                    Some(ip) => format!("{ip}/{}:{}", p.host_port, p.container_port),
                    None => format!("{}:{}", p.host_port, p.container_port),
                };
                argv.push(flag.into());
                argv.push(spec.into());
                any = true;
            }
            if !any {
                argv.push(flag.into());
                argv.push("none".into());
            }
        }
        argv.extend(self.args.iter().cloned());
        argv
    }

    /// Starts pasta for the container whose network namespace is `container` and waits
    /// until it has configured the namespace and bound the published ports.
    ///
    /// # Errors
    /// [`RootlessError::MissingProgram`] naming the program when it is not installed,
    /// [`RootlessError::Exited`] with pasta's own message, [`RootlessError::Timeout`].
    pub fn start(&self, container: &NsHandle) -> Result<Pasta, RootlessError> {
        let program = self.program.clone();
        let spawn_err = |source| RootlessError::Spawn {
            program: program.clone(),
            source,
        };
        let (ready_rx, ready_tx) = io::pipe().map_err(spawn_err)?;
        let mut log = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_TMPFILE | libc::O_CLOEXEC)
            .open(std::env::temp_dir())
            .map_err(spawn_err)?;
        let mut cmd = Command::new(&self.program);
        cmd.args(self.argv())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log.try_clone().map_err(spawn_err)?);
        let mut fds = vec![container.as_fd(), ready_tx.as_fd()];
        if let Some(u) = &self.userns {
            fds.push(u.as_fd());
        }
        sys::set_child_fds(&mut cmd, self.host.as_deref().map(|h| h.as_fd()), &fds);
        let child = cmd.spawn().map_err(|source| {
            if source.kind() == io::ErrorKind::NotFound {
                RootlessError::MissingProgram {
                    program: program.clone(),
                    source,
                }
            } else {
                spawn_err(source)
            }
        })?;
        drop(fds);
        drop(ready_tx);
        let mut pasta = Pasta { child: Some(child) };
        let readable = sys::wait_readable(ready_rx.as_fd(), self.timeout).map_err(spawn_err)?;
        let mut buf = [0u8; 32];
        let got = if readable {
            (&ready_rx).read(&mut buf).unwrap_or(0)
        } else {
            0
        };
        if got > 0 {
            return Ok(pasta);
        }
        let Some(mut child) = pasta.child.take() else {
            unreachable!("the child was stored just above")
        };
        if !readable {
            let _ = child.kill();
            let _ = child.wait();
            return Err(RootlessError::Timeout {
                program,
                timeout: self.timeout,
            });
        }
        // EOF without a pid: it exited (or closed the pipe); collect its message.
        let _ = child.kill();
        let status = child.wait().map_err(spawn_err)?;
        let stderr = read_log(&mut log);
        // The commonest cause on hosts without udev: the TUN device is root-only. Opening it
        // as the caller tells (for an unprivileged caller that is exactly pasta's check:
        // neither has capabilities over a node owned by the host's root).
        if let Err(device) = check_tun_device() {
            return Err(RootlessError::TunDevice {
                program,
                device,
                stderr,
            });
        }
        Err(RootlessError::Exited {
            program,
            status,
            stderr,
        })
    }
}

/// The TUN device pasta opens for the container's interface.
pub const TUN_DEVICE: &str = "/dev/net/tun";

/// The caller cannot open the TUN device.
#[derive(Debug, thiserror::Error)]
#[error("cannot open {} ({detail})", path.display())]
pub struct TunDeviceError {
    /// The device node, [`TUN_DEVICE`].
    pub path: PathBuf,
    /// Its mode and owner, or why they could not be read.
    pub detail: String,
    /// The error of opening it.
    #[source]
    pub source: io::Error,
}

impl TunDeviceError {
    /// What to do about it, by the error: a missing node, or one the caller may not open.
    pub fn fix(&self) -> String {
        let path = self.path.display();
        match self.source.raw_os_error() {
            Some(libc::ENOENT) => format!(
                "there is no such node: load the tun module, or make it with \
                 mknod -m 0666 {path} c 10 200"
            ),
            Some(libc::ENODEV | libc::ENXIO) => {
                "the kernel has no TUN driver: load the tun module (CONFIG_TUN)".to_owned()
            }
            Some(libc::EACCES) => {
                format!("udev's default rule makes it mode 0666: chmod 0666 {path}")
            }
            _ => "check its mode (udev's default is 0666) and any device cgroup that denies it"
                .to_owned(),
        }
    }
}

/// Checks that the caller can open the TUN device for reading and writing, as pasta must:
/// it is opened and closed at once, no interface is created. For an unprivileged caller
/// this is exactly pasta's own check (neither has a capability over a node owned by the
/// host's root).
///
/// # Errors
/// [`TunDeviceError`] with the device's mode and owner and the error of opening it.
pub fn check_tun_device() -> Result<(), TunDeviceError> {
    use std::os::unix::fs::MetadataExt;
    match OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(TUN_DEVICE)
    {
        Ok(_) => Ok(()),
        Err(source) => {
            let detail = match std::fs::metadata(TUN_DEVICE) {
                Ok(m) => format!("mode {:04o}, owner uid {}", m.mode() & 0o7777, m.uid()),
                Err(e) => format!("cannot examine it: {e}"),
            };
            Err(TunDeviceError {
                path: PathBuf::from(TUN_DEVICE),
                detail,
                source,
            })
        }
    }
}

fn read_log(log: &mut File) -> String {
    let mut text = String::new();
    let _ = log.rewind();
    let _ = log.take(4096).read_to_string(&mut text);
    text.trim().to_owned()
}

/// A running pasta; dropping it ends the helper (SIGKILL, then reaped).
#[derive(Debug)]
pub struct Pasta {
    child: Option<Child>,
}

impl Pasta {
    /// Pasta's pid, or `None` once it has been stopped (so a recycled pid is never used).
    pub fn id(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Ends pasta and returns its exit status.
    ///
    /// # Errors
    /// The errors of `kill` and `wait`.
    pub fn stop(mut self) -> io::Result<ExitStatus> {
        let mut child = self
            .child
            .take()
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ECHILD))?;
        // pasta may have exited already (its namespace went away): then kill fails with
        // nothing to kill, and wait still reaps it.
        let _ = child.kill();
        child.wait()
    }
}

impl Drop for Pasta {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
