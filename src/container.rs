//! The container configuration: isolation and limits, reusable for many commands.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use hutch_ns::Namespaces;
use hutch_ns::idmap::IdMap;
use hutch_ns::mount::{MountPlan, Propagation, TmpfsOptions};
use hutch_ns::time::TimeOffsets;

use crate::Command;
use crate::cgroup::{CgroupConfig, Mode};
use crate::net::NetworkMode;
use hutch_caps::{CapSet, Capability};
use hutch_cgroup::cpu::CpuMax;
use hutch_cgroup::cpuset::CpuList;
use hutch_cgroup::device::DevicePolicy;
use hutch_cgroup::io::IoMax;
use hutch_cgroup::pids::Count;
use hutch_cgroup::{Bytes, Max, Resources, Setting};

/// The confinement of a container's processes (and of processes exec'd into it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Confinement {
    /// `None`: keep the caller's capabilities (no capability layer at all).
    pub caps: Option<CapSet>,
    /// Capabilities asked for explicitly: a non-root program gets them as ambient.
    pub caps_added: CapSet,
    pub no_new_privs: bool,
    /// `privileged()`: every capability the caller has, no masks, all devices.
    pub privileged: bool,
    /// Landlock rules enforced on the program.
    pub landlock: Option<crate::confine::landlock::Landlock>,
    /// AppArmor profile the program runs under.
    pub apparmor: Option<OsString>,
    /// SELinux context the program runs under.
    pub selinux: Option<OsString>,
    /// SELinux context of the container's own tmpfs mounts.
    pub selinux_mount: Option<OsString>,
    /// The seccomp filter.
    pub seccomp: SeccompSetting,
    /// Install the filter with a user-notification listener handed to the caller.
    pub seccomp_listener: bool,
}

/// Which seccomp filter a container's processes run under.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) enum SeccompSetting {
    /// Docker's default profile, for the container's capabilities.
    #[default]
    DockerDefault,
    /// No filter.
    Unconfined,
    /// A profile (Docker's JSON format or OCI), compiled for the container's capabilities.
    Profile(std::sync::Arc<hutch_seccomp::profile::Profile>),
    /// A filter built with hutch-seccomp's builder.
    Filter(std::sync::Arc<hutch_seccomp::Filter>),
}

impl Default for Confinement {
    fn default() -> Self {
        Confinement {
            caps: Some(CapSet::docker_default()),
            caps_added: CapSet::empty(),
            no_new_privs: true,
            privileged: false,
            landlock: None,
            apparmor: None,
            selinux: None,
            selinux_mount: None,
            seccomp: SeccompSetting::DockerDefault,
            seccomp_listener: false,
        }
    }
}

/// What root inside a container's user namespace is on the host
/// ([`Container::user_namespace_mode`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum UserNamespace {
    /// "Keep id": the caller is root inside (`0 -> caller`, one id). For a root caller that
    /// means host root, with host root's file access (only its capabilities are confined);
    /// for an unprivileged caller it is the only map possible without `newuidmap`.
    MapCaller,
    /// "Remapped": ids `0..65536` inside are an unprivileged host range: root's ranges in
    /// `/etc/subuid` and `/etc/subgid` when there are any, else
    /// [`REMAP_DEFAULT_START`]`..+65536`. Needs a root caller (it writes the maps itself).
    Remap,
}

/// The first host id of the range that [`UserNamespace::Remap`] maps root to when
/// `/etc/subuid` (or `/etc/subgid`) has no range for root: far above the ids that
/// distributions hand to users and their subordinate ranges.
pub const REMAP_DEFAULT_START: u32 = 2_000_000_000;

/// How the user namespace is chosen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) enum UserNs {
    /// A user namespace only when the caller is not root (mapping the caller to root inside).
    #[default]
    Auto,
    /// Always a user namespace mapping the caller to root inside.
    MapCaller,
    /// Always a user namespace mapping root inside to an unprivileged host range.
    Remap,
    /// Never a user namespace.
    Off,
    /// Always a user namespace with these maps.
    Maps { uid: IdMap, gid: IdMap },
}

/// The isolation and limits of a container: a reusable recipe for [`Command`]s.
///
/// `Container::new()` is at least as strict as `docker run`'s defaults:
///
/// * new pid, mount, uts, ipc, net (only `lo`, up) and cgroup namespaces; a user namespace
///   mapping the caller to root inside when the caller is not root;
/// * Docker's 14 default capabilities, none inheritable or ambient, and `no_new_privs`;
/// * the host's file tree read-only (recursively) with a private `/tmp`, a fresh `/proc`
///   with Docker's masked and read-only paths, a fresh read-only `/sys`, the container's own
///   read-only cgroup2 at `/sys/fs/cgroup`, a minimal `/dev`;
/// * Docker's device allow-list when the container has a cgroup (and the caller is root);
/// * no descriptor of the caller's but the standard streams and those passed on purpose.
///
/// * Docker's default seccomp profile.
///
/// It does not hide what the host's tree lets the program read (use
/// [`minimal_tree`](Container::minimal_tree) or [`rootfs`](Container::rootfs)), and applies no
/// AppArmor/SELinux profile unless asked. [`privileged`](Container::privileged) turns the confinement off;
/// [`Container::host`] has no namespaces and no confinement at all.
///
/// Setters take `&mut self`, return `&mut Self` and never fail: everything is checked when a
/// command is spawned, and a configuration can spawn any number of commands.
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use hutch::{Container, Namespaces, Stdio};
/// let mut c = Container::new();
/// c.hostname("tupperware").tmpfs("/tmp");
/// let out = c.command("hostname").stdout(Stdio::piped()).output()?;
/// assert_eq!(out.stdout, b"tupperware\n");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Container {
    pub(crate) namespaces: Namespaces,
    pub(crate) userns: UserNs,
    pub(crate) hostname: Option<OsString>,
    pub(crate) domainname: Option<OsString>,
    pub(crate) mounts: MountPlan,
    pub(crate) rootfs: Option<PathBuf>,
    pub(crate) proc: bool,
    pub(crate) dev: bool,
    pub(crate) time_offsets: Option<TimeOffsets>,
    pub(crate) init: bool,
    pub(crate) die_with_parent: bool,
    pub(crate) cgroup: CgroupConfig,
    /// Confinement: capabilities, no_new_privs and what later layers add.
    pub(crate) confine: Confinement,
    /// The network mode, published ports, names, and namespaces joined instead of created.
    pub(crate) net: crate::net::NetSettings,
    /// `None`: the default for the tree (read-only host tree, writable rootfs).
    pub(crate) read_only: Option<bool>,
    pub(crate) propagation: Option<Propagation>,
    pub(crate) private_tmp: Option<bool>,
    pub(crate) private_run: Option<bool>,
    pub(crate) minimal_tree: bool,
    pub(crate) masked_paths: bool,
    pub(crate) sysfs: bool,
    pub(crate) writable_cgroup: bool,
    /// Variables set (`Some`) or removed (`None`) for every command, over the caller's.
    pub(crate) env: BTreeMap<OsString, Option<OsString>>,
    pub(crate) env_clear: bool,
}

impl Default for Container {
    fn default() -> Self {
        Container::new()
    }
}

impl Container {
    /// A container with `docker run`'s default isolation (see the type's docs).
    pub fn new() -> Container {
        Container {
            namespaces: Namespaces::PID
                | Namespaces::MOUNT
                | Namespaces::UTS
                | Namespaces::IPC
                | Namespaces::NET
                | Namespaces::CGROUP,
            userns: UserNs::Auto,
            hostname: None,
            domainname: None,
            mounts: MountPlan::default(),
            rootfs: None,
            proc: true,
            dev: true,
            time_offsets: None,
            init: false,
            die_with_parent: false,
            cgroup: CgroupConfig::default(),
            confine: Confinement::default(),
            net: Default::default(),
            read_only: None,
            propagation: None,
            private_tmp: None,
            private_run: None,
            minimal_tree: false,
            masked_paths: true,
            sysfs: true,
            writable_cgroup: false,
            env: BTreeMap::new(),
            env_clear: false,
        }
    }

    /// A configuration with no new namespace and no confinement at all (the caller's
    /// capabilities, no `no_new_privs`, the caller's tree): the command runs like a plain
    /// `std::process::Command`, but with hutch's limits, descriptor hygiene and reporting. Add
    /// namespaces with [`unshare`](Container::unshare).
    pub fn host() -> Container {
        let mut c = Container::new();
        c.namespaces = Namespaces::empty();
        c.userns = UserNs::Off;
        c.proc = false;
        c.confine = Confinement {
            caps: None,
            caps_added: CapSet::empty(),
            no_new_privs: false,
            privileged: false,
            landlock: None,
            apparmor: None,
            selinux: None,
            selinux_mount: None,
            seccomp: SeccompSetting::Unconfined,
            seccomp_listener: false,
        };
        c
    }

    /// Adds namespaces to create (`CLONE_NEW*`).
    pub fn unshare(&mut self, namespaces: Namespaces) -> &mut Self {
        self.namespaces |= namespaces;
        if namespaces.contains(Namespaces::USER) && self.userns == UserNs::Auto {
            self.userns = UserNs::MapCaller;
        }
        self
    }

    /// Removes namespaces, so the container shares them with the caller (e.g.
    /// `share(Namespaces::NET)` is `docker run --network host`).
    ///
    /// Sharing the mount namespace shares the caller's tree as it is: no read-only tree, no
    /// private `/tmp`, no `/dev`, `/sys` or masks, and a fresh `/proc` is refused (it would
    /// cover the caller's own): spawning then fails until [`proc(false)`](Container::proc).
    pub fn share(&mut self, namespaces: Namespaces) -> &mut Self {
        self.namespaces -= namespaces;
        if namespaces.contains(Namespaces::TIME) {
            self.time_offsets = None;
        }
        if namespaces.contains(Namespaces::USER) {
            self.userns = UserNs::Off;
        }
        self
    }

    /// Replaces the set of namespaces to create. A user namespace is still added automatically
    /// for an unprivileged caller unless [`user_namespace(false)`](Container::user_namespace).
    pub fn namespaces(&mut self, namespaces: Namespaces) -> &mut Self {
        self.namespaces = namespaces - Namespaces::USER;
        if namespaces.contains(Namespaces::USER) {
            self.userns = UserNs::MapCaller;
        }
        self
    }

    /// Creates a user namespace (`true`), or never creates one (`false`). The default
    /// creates one only when the caller is not root.
    ///
    /// What root inside is depends on the caller:
    ///
    /// * for a root caller, an unprivileged host range ([`UserNamespace::Remap`]): root
    ///   inside is not root on the host, so the host's file permissions (`/etc`, `/sys`,
    ///   device nodes, cgroup files) stop it;
    /// * for any other caller, the caller itself ([`UserNamespace::MapCaller`]), the only
    ///   map it may write without `newuidmap`.
    ///
    /// [`user_namespace_mode`](Container::user_namespace_mode) chooses explicitly.
    pub fn user_namespace(&mut self, enable: bool) -> &mut Self {
        self.userns = match (enable, crate::sys::geteuid()) {
            (false, _) => UserNs::Off,
            (true, 0) => UserNs::Remap,
            (true, _) => UserNs::MapCaller,
        };
        self
    }

    /// Creates a user namespace of the given kind.
    pub fn user_namespace_mode(&mut self, mode: UserNamespace) -> &mut Self {
        self.userns = match mode {
            UserNamespace::MapCaller => UserNs::MapCaller,
            UserNamespace::Remap => UserNs::Remap,
        };
        self
    }

    /// Creates a user namespace with these uid and gid maps. Multi-range maps need
    /// `newuidmap`/`newgidmap` and `/etc/subuid` grants when the caller is not root.
    pub fn id_maps(&mut self, uid: IdMap, gid: IdMap) -> &mut Self {
        self.userns = UserNs::Maps { uid, gid };
        self
    }

    /// Sets an environment variable for every command of this container, and for processes
    /// started in it with [`Child::exec`](crate::Child::exec). A command's own
    /// [`env`](Command::env) wins over it.
    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Self {
        self.env
            .insert(key.as_ref().to_owned(), Some(value.as_ref().to_owned()));
        self
    }

    /// Removes a variable from the environment of every command of this container.
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Self {
        self.env.insert(key.as_ref().to_owned(), None);
        self
    }

    /// Starts every command of this container from an empty environment (plus the variables
    /// set with [`env`](Container::env)) instead of the caller's.
    ///
    /// By default a command inherits the caller's environment, as `std::process::Command`
    /// does; `docker run` instead gives a small clean one. To get that:
    ///
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mut c = hutch::Container::new();
    /// c.env_clear()
    ///  .env("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    ///  .env("HOME", "/root");
    /// c.command("env").status()?;
    /// # Ok(()) }
    /// ```
    pub fn env_clear(&mut self) -> &mut Self {
        self.env_clear = true;
        self.env.clear();
        self
    }

    /// Adds a capability to the container's set (`docker run --cap-add`). A program run as a
    /// non-root [`uid`](Command::uid) gets added capabilities as ambient capabilities, so they
    /// survive its `execve`.
    pub fn cap_add(&mut self, cap: Capability) -> &mut Self {
        let set = self.confine.caps.get_or_insert_with(CapSet::docker_default);
        set.insert(cap);
        self.confine.caps_added.insert(cap);
        self
    }

    /// Removes a capability from the container's set (`docker run --cap-drop`): from the
    /// bounding, permitted, effective, inheritable and ambient sets alike.
    pub fn cap_drop(&mut self, cap: Capability) -> &mut Self {
        let set = self.confine.caps.get_or_insert_with(CapSet::docker_default);
        set.remove(cap);
        self.confine.caps_added.remove(cap);
        self
    }

    /// Drops every capability (`docker run --cap-drop ALL`); add back with
    /// [`cap_add`](Container::cap_add).
    pub fn cap_drop_all(&mut self) -> &mut Self {
        self.confine.caps = Some(CapSet::empty());
        self.confine.caps_added = CapSet::empty();
        self
    }

    /// Sets the container's capabilities to exactly `caps` (bounding, permitted and effective
    /// for root; ambient too for a non-root [`uid`](Command::uid)).
    pub fn capabilities(&mut self, caps: CapSet) -> &mut Self {
        self.confine.caps = Some(caps);
        self.confine.caps_added = caps;
        self
    }

    /// Whether the program runs with `no_new_privs` (default `true`, as bubblewrap and nsjail
    /// do; `docker run --security-opt no-new-privileges`): `execve` then never grants
    /// privileges, so set-user-ID programs and file capabilities do nothing inside.
    #[doc(alias = "PR_SET_NO_NEW_PRIVS")]
    pub fn no_new_privs(&mut self, on: bool) -> &mut Self {
        self.confine.no_new_privs = on;
        self
    }

    /// Turns the confinement off, like `docker run --privileged`: every capability the caller
    /// has, no `no_new_privs`, no masked or read-only paths, every device. The namespaces
    /// stay. Only for programs that must administer the machine (they can escape the
    /// container with these privileges).
    pub fn privileged(&mut self) -> &mut Self {
        self.confine.privileged = true;
        self.masked_paths = false;
        self.dev = false;
        self.sysfs = false;
        self.confine.caps = Some(CapSet::all());
        self.confine.caps_added = CapSet::empty();
        self.confine.no_new_privs = false;
        self.confine.apparmor = None;
        self.confine.selinux = None;
        self.confine.seccomp = SeccompSetting::Unconfined;
        self
    }

    /// Runs the container without a seccomp filter (`docker run --security-opt
    /// seccomp=unconfined`). By default it runs under Docker's default profile.
    pub fn seccomp_unconfined(&mut self) -> &mut Self {
        self.confine.seccomp = SeccompSetting::Unconfined;
        self
    }

    /// Runs the container under a seccomp profile (Docker's JSON format or the OCI
    /// `linux.seccomp` object, see [`hutch_seccomp::profile::Profile`]), compiled for the
    /// container's capabilities and the running kernel (`includes`/`excludes` by capability,
    /// architecture and minimum kernel).
    ///
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let profile = hutch::seccomp::profile::Profile::from_path("/etc/my-profile.json")?;
    /// let mut c = hutch::Container::new();
    /// c.seccomp_profile(profile);
    /// # Ok(()) }
    /// ```
    pub fn seccomp_profile(&mut self, profile: hutch_seccomp::profile::Profile) -> &mut Self {
        self.confine.seccomp = SeccompSetting::Profile(std::sync::Arc::new(profile));
        self
    }

    /// The same as [`seccomp_profile`](Container::seccomp_profile) (`docker run
    /// --security-opt seccomp=PROFILE`).
    pub fn seccomp(&mut self, profile: hutch_seccomp::profile::Profile) -> &mut Self {
        self.seccomp_profile(profile)
    }

    /// Runs the container under a filter built with [`hutch_seccomp::Filter`], compiled for
    /// the native architecture family (other architectures get the filter's foreign action).
    pub fn seccomp_filter(&mut self, filter: hutch_seccomp::Filter) -> &mut Self {
        self.confine.seccomp = SeccompSetting::Filter(std::sync::Arc::new(filter));
        self
    }

    /// Installs the seccomp filter with a user-notification listener
    /// (`SECCOMP_FILTER_FLAG_NEW_LISTENER`) and hands it to the caller: system calls for which
    /// the filter says [`Action::UserNotif`](hutch_seccomp::Action::UserNotif) wait for the
    /// supervisor's answer ([`Child::take_seccomp_listener`](crate::Child::take_seccomp_listener),
    /// a [`hutch_seccomp::Listener`]). The listener is sent to the parent over a socket
    /// (`SCM_RIGHTS`) before the program runs.
    ///
    /// Notifications raised by the container's own setup — the program's `execve` (and its
    /// init's), or any call of the setup when the filter is installed early — are answered by
    /// the spawn itself with "continue": the program has not started yet, and nobody else holds
    /// the listener. The supervisor sees everything from the program's start on. With an init,
    /// the filter is installed before the init forks, so the init shares it and its listener
    /// (the init's own calls, e.g. `wait4`, are notified too when the filter says so). A filter
    /// installed early (this case, or [`no_new_privs(false)`](Container::no_new_privs)) also
    /// sees the rest of the setup's calls (`capset`, `prctl`, `setresuid`, `ppoll`, ...) and
    /// must allow them, as Docker's profile does. Without
    /// a filter (`seccomp_unconfined`, `privileged`, `Container::host`) asking for a listener
    /// is an error at spawn.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use hutch::seccomp::{Action, Filter, Response, Syscall};
    /// let mut f = Filter::new(Action::Allow);
    /// f.rule(Syscall::by_name("mkdir")?, Action::UserNotif, &[]);
    /// let mut c = hutch::Container::new();
    /// c.seccomp_filter(f).seccomp_listener(true);
    /// let mut child = c.command("mkdir").arg("/tmp/x").spawn()?;
    /// let mut listener = child.take_seccomp_listener().expect("asked for");
    /// let n = listener.recv()?;
    /// listener.respond(n.id, Response::Errno(libc::EACCES))?;
    /// child.wait()?;
    /// # Ok(()) }
    /// ```
    pub fn seccomp_listener(&mut self, on: bool) -> &mut Self {
        self.confine.seccomp_listener = on;
        self
    }

    /// Runs the program under the AppArmor profile `profile` (`docker run --security-opt
    /// apparmor=PROFILE`; `"unconfined"` is valid): the child writes `exec PROFILE` to
    /// `/proc/thread-self/attr/apparmor/exec` (`/proc/thread-self/attr/exec` before 5.8), and
    /// the kernel switches at `execve`.
    ///
    /// # Errors
    ///
    /// Reported by `spawn`: AppArmor is not enabled on this kernel (the error says how to
    /// enable it; the setting is never ignored), or the profile is not loaded (`ENOENT` from
    /// the child's write).
    #[doc(alias = "aa_change_onexec")]
    pub fn apparmor_profile(&mut self, profile: impl AsRef<OsStr>) -> &mut Self {
        self.confine.apparmor = Some(profile.as_ref().to_owned());
        self
    }

    /// Runs the program with the SELinux context `label` (`user:role:type[:level]`;
    /// `docker run --security-opt label=...`), written to `/proc/thread-self/attr/exec`.
    ///
    /// # Errors
    ///
    /// Reported by `spawn`: SELinux is not enabled on this kernel (never ignored), or the
    /// context is refused.
    #[doc(alias = "setexeccon")]
    pub fn selinux_label(&mut self, label: impl AsRef<OsStr>) -> &mut Self {
        self.confine.selinux = Some(label.as_ref().to_owned());
        self
    }

    /// Labels the container's own tmpfs mounts (its private `/tmp` and every
    /// [`tmpfs`](Container::tmpfs)) with the SELinux context `label` (the `context=` mount
    /// option), so that a program confined by [`selinux_label`](Container::selinux_label) may
    /// use them.
    ///
    /// # Errors
    ///
    /// Reported by `spawn`: SELinux is not enabled on this kernel (never ignored), or the
    /// context is malformed.
    pub fn selinux_mount_label(&mut self, label: impl AsRef<OsStr>) -> &mut Self {
        self.confine.selinux_mount = Some(label.as_ref().to_owned());
        self
    }

    /// Confines the program's file-system access (and, on kernels with Landlock ABI 4, TCP
    /// binds and connects) with a Landlock ruleset: everything the rules do not allow is
    /// denied. Rule paths name what the program sees (the container's private `/tmp`, its
    /// `/dev`, its own tmpfs mounts) as well as the caller's path of the same name (see
    /// [`Landlock`](crate::Landlock)). The ruleset is built in the parent; the child adds the
    /// paths as it sees them and calls `landlock_restrict_self`. Best effort by default (the
    /// kernel's ABI decides what is enforced); `Landlock::require_abi` fails the spawn on
    /// older kernels. With [`no_new_privs(false)`](Container::no_new_privs) the ruleset is
    /// enforced while the child still holds `CAP_SYS_ADMIN`, and `no_new_privs` stays off.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mut rules = hutch::Landlock::new();
    /// rules.read_only("/usr").read_only("/lib").read_only("/etc").read_write("/tmp");
    /// let mut c = hutch::Container::new();
    /// c.landlock(rules);
    /// c.command("/bin/ls").arg("/tmp").status()?;
    /// # Ok(()) }
    /// ```
    #[doc(alias = "landlock_restrict_self")]
    pub fn landlock(&mut self, rules: crate::confine::landlock::Landlock) -> &mut Self {
        self.confine.landlock = Some(rules);
        self
    }

    /// How the container is networked (default [`NetworkMode::None`]: a network namespace of
    /// its own with only `lo`).
    ///
    /// `Container::new()` stays on `None` rather than defaulting to a bridge as Docker does:
    /// a bridge needs root, writes firewall rules and allocates addresses on the host, while
    /// the common uses of a library (test harnesses, running a program in isolation) want no
    /// network at all. Ask for one explicitly:
    ///
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use hutch::{Container, NetworkMode};
    /// use hutch::netns::NetworkConfig;
    /// let mut c = Container::new();
    /// c.network(NetworkMode::Bridge(NetworkConfig::new("hutch0")))
    ///  .publish("8080:80".parse()?);
    /// let child = c.command("python3").args(["-m", "http.server", "80"]).spawn()?;
    /// println!("{:?}", child.network().and_then(|n| n.address()));
    /// # Ok(()) }
    /// ```
    pub fn network(&mut self, mode: NetworkMode) -> &mut Self {
        match mode {
            NetworkMode::Host => {
                self.namespaces -= Namespaces::NET;
            }
            _ => {
                self.namespaces |= Namespaces::NET;
            }
        }
        self.net.mode = mode;
        self
    }

    /// Publishes a port of the container on the host (`docker run -p`): a bridge network
    /// DNATs it (reachable from other hosts and from the host's own `127.0.0.1`), pasta
    /// listens for it in the caller's namespace.
    pub fn publish(&mut self, mapping: crate::netns::PortMapping) -> &mut Self {
        self.net.ports.push(mapping);
        self
    }

    /// Gives the container this address on its bridge network (`docker run --ip`) instead of
    /// the next free one.
    pub fn ip(&mut self, addr: std::net::IpAddr) -> &mut Self {
        self.net.ip = Some(addr);
        self
    }

    /// Adds a name server for the container's `/etc/resolv.conf` (`docker run --dns`);
    /// without any, the host's are used. Loopback ones (systemd-resolved's `127.0.0.53`) are
    /// unreachable from a bridge network: when the host has no other, the container gets
    /// Docker's fallback, `8.8.8.8` and `8.8.4.4` — set name servers here to avoid that.
    pub fn dns(&mut self, server: std::net::IpAddr) -> &mut Self {
        self.net.dns.push(server);
        self
    }

    /// Adds a line to the container's `/etc/hosts` (`docker run --add-host NAME:ADDR`).
    pub fn add_host(&mut self, name: impl Into<String>, addr: std::net::IpAddr) -> &mut Self {
        self.net.extra_hosts.push((name.into(), addr));
        self
    }

    /// Joins an existing namespace instead of creating one (`docker run --network
    /// container:X`, `--ipc container:X`, `--uts host`): a namespace of another container
    /// ([`Child::namespace`](crate::Child::namespace), opened through its pidfd), a persisted
    /// one (`NsHandle::open_path("/run/netns/NAME")`), or any [`NsHandle`](hutch_ns::NsHandle).
    ///
    /// Network, IPC, UTS, cgroup and pid namespaces can be joined (`docker run --pid
    /// container:X`: the program then sees the other container's processes, and its fresh
    /// `/proc` shows them; it has no init of its own). The child enters them with `setns` on
    /// the handle's descriptor, never by a pid. Mount, user and time namespaces are refused
    /// with an error ([`Child::exec`](crate::Child::exec) joins all of a running container's).
    /// A container with a user namespace of its own can join only namespaces that its user
    /// namespace owns; join with `user_namespace(false)` otherwise.
    #[doc(alias = "setns")]
    pub fn join_namespace(&mut self, handle: hutch_ns::NsHandle) -> &mut Self {
        let kind = handle.kind();
        self.namespaces -= kind.as_set();
        if kind == hutch_ns::Namespace::Net {
            self.net.mode = NetworkMode::None;
        }
        self.net.joins.retain(|(k, _)| *k != kind);
        self.net.joins.push((kind, std::sync::Arc::new(handle)));
        self
    }

    /// Sets the host name seen inside (needs the UTS namespace, which is on by default).
    #[doc(alias = "sethostname")]
    pub fn hostname(&mut self, name: impl AsRef<OsStr>) -> &mut Self {
        self.hostname = Some(name.as_ref().to_owned());
        self
    }

    /// Sets the NIS domain name seen inside.
    #[doc(alias = "setdomainname")]
    pub fn domainname(&mut self, name: impl AsRef<OsStr>) -> &mut Self {
        self.domainname = Some(name.as_ref().to_owned());
        self
    }

    /// Uses `dir` as the root directory (`pivot_root`, with the old root detached). A minimal
    /// `/dev` and a fresh `/proc` are mounted in it.
    ///
    /// # References
    ///
    /// [pivot_root(2)](https://man7.org/linux/man-pages/man2/pivot_root.2.html)
    #[doc(alias = "pivot_root")]
    pub fn rootfs(&mut self, dir: impl AsRef<Path>) -> &mut Self {
        self.rootfs = Some(dir.as_ref().to_owned());
        self
    }

    /// Whether to mount a fresh `/proc` for the new pid namespace (default `true`).
    pub fn proc(&mut self, mount: bool) -> &mut Self {
        self.proc = mount;
        self
    }

    /// Whether to build a minimal `/dev` (default `true`): a tmpfs with `null`, `zero`,
    /// `full`, `random`, `urandom`, `tty`, a private `/dev/pts`, `/dev/shm` and
    /// `/dev/mqueue`, as Docker does. With `false` the container sees the tree's own `/dev`
    /// (the host's, without a rootfs).
    pub fn dev(&mut self, build: bool) -> &mut Self {
        self.dev = build;
        self
    }

    /// How the container's mount tree relates to the host's (applied recursively to `/`):
    /// [`Propagation::Private`] (the default: no events either way) or
    /// [`Propagation::Slave`] (host mounts appear inside, nothing goes back out).
    pub fn mount_propagation(&mut self, propagation: Propagation) -> &mut Self {
        self.propagation = Some(propagation);
        self
    }

    /// Mounts an empty tmpfs on `path` inside.
    ///
    /// # Destinations
    ///
    /// With the host's tree, `path` must exist on the host (nothing is created in the host's
    /// tree), unless it lies in a tmpfs the plan mounts earlier (the private `/tmp`, or one of
    /// yours), where missing directories are created; inside a rootfs or the minimal tree
    /// missing mount points are created. A missing destination is an error naming it, before
    /// anything is started. `/` is never a tmpfs destination (use
    /// [`rootfs`](Container::rootfs) or [`minimal_tree`](Container::minimal_tree)).
    pub fn tmpfs(&mut self, path: impl AsRef<Path>) -> &mut Self {
        self.mounts.tmpfs(path, TmpfsOptions::default());
        self
    }

    /// Mounts a tmpfs on `path` inside with a size limit and mode.
    pub fn tmpfs_with(&mut self, path: impl AsRef<Path>, options: TmpfsOptions) -> &mut Self {
        self.mounts.tmpfs(path, options);
        self
    }

    /// Bind-mounts the host's `src` on `dst` inside, writable.
    ///
    /// `src` is always the caller's path, whatever is mounted before it inside (every source
    /// is opened before the first mount); `dst` follows the rules under
    /// Destinations under [`tmpfs`](Container::tmpfs).
    pub fn bind(&mut self, src: impl AsRef<Path>, dst: impl AsRef<Path>) -> &mut Self {
        self.mounts.bind(src, dst);
        self
    }

    /// Bind-mounts the host's `src` on `dst` inside, read-only.
    pub fn bind_ro(&mut self, src: impl AsRef<Path>, dst: impl AsRef<Path>) -> &mut Self {
        self.mounts.bind_ro(src, dst);
        self
    }

    /// Hides `path` inside: `/dev/null` over a file, an empty read-only tmpfs over a directory.
    pub fn mask(&mut self, path: impl AsRef<Path>) -> &mut Self {
        self.mounts.mask(path);
        self
    }

    /// Makes `path` read-only inside.
    pub fn read_only_path(&mut self, path: impl AsRef<Path>) -> &mut Self {
        self.mounts.readonly(path);
        self
    }

    /// Whether the root is read-only inside (`docker run --read-only`).
    ///
    /// The default depends on the tree: the host's tree (no [`rootfs`](Container::rootfs))
    /// is read-only, recursively, as `bwrap --ro-bind / /`: the container can write only
    /// where the caller chose ([`tmpfs`](Container::tmpfs), [`bind`](Container::bind), the
    /// private `/tmp`). A rootfs is writable unless this says otherwise.
    pub fn read_only(&mut self, read_only: bool) -> &mut Self {
        self.read_only = Some(read_only);
        self
    }

    /// Whether the container gets a private, empty `/tmp` (a tmpfs; default `true` with the
    /// host's tree, `false` in a rootfs).
    pub fn private_tmp(&mut self, private: bool) -> &mut Self {
        self.private_tmp = Some(private);
        self
    }

    /// Whether the container gets a private, empty `/run` (a tmpfs, `nosuid,nodev`, mode
    /// `755`; default `true` with the host's whole tree, `false` in a rootfs or the minimal
    /// tree, which have no host `/run`).
    ///
    /// A read-only mount stops writes to files, not `connect` on a Unix socket or writes to a
    /// FIFO: with the host's `/run` visible, root in a container could talk to
    /// `/run/docker.sock`, containerd, systemd's private socket, the system D-Bus or
    /// `/run/initctl` as host root. The private `/run` hides them (and `/var/run`, a link to
    /// it). When the host's `/etc/resolv.conf` is a link into `/run` (systemd-resolved's
    /// stub), its target file is bound read-only at the same place, so names still resolve;
    /// so are NixOS's `/run/current-system`, `/run/booted-system`, `/run/wrappers` and
    /// `/run/opengl-driver` where they exist (its `PATH` and `/etc` go through them).
    /// Sockets and FIFOs elsewhere in the host's tree stay reachable by root; a user
    /// namespace ([`user_namespace`](Container::user_namespace)) makes them inaccessible
    /// unless their mode lets anyone in.
    pub fn private_run(&mut self, private: bool) -> &mut Self {
        self.private_run = Some(private);
        self
    }

    /// Shows only the system directories of the host instead of its whole tree: a tmpfs root
    /// with read-only binds of `/usr`, `/lib*`, `/bin`, `/sbin` and a few `/etc` files
    /// (`passwd`, `group`, `hosts`, `resolv.conf`, `ld.so.*`, `ssl/certs`, ...; see
    /// `hutch_ns::mount::MINIMAL_ROOT_ETC`), plus `/proc`, `/dev` and a private `/tmp`. Add
    /// what the program needs with [`bind`](Container::bind) / [`bind_ro`](Container::bind_ro).
    ///
    /// With the host's whole tree (the default), its secrets (`/etc/shadow`, home
    /// directories) stay readable inside as far as file permissions allow, even though
    /// nothing is writable; this tree hides them.
    pub fn minimal_tree(&mut self, on: bool) -> &mut Self {
        self.minimal_tree = on;
        self
    }

    /// Whether Docker's masked and read-only paths apply (default `true`, off when
    /// [`privileged`](Container::privileged)): `/proc/kcore`, `/proc/keys`,
    /// `/proc/timer_list`, `/sys/firmware`, ... hidden; `/proc/sys`, `/proc/sysrq-trigger`,
    /// `/proc/irq`, `/proc/bus`, ... read-only.
    pub fn masked_paths(&mut self, on: bool) -> &mut Self {
        self.masked_paths = on;
        self
    }

    /// Docker's masked and read-only paths; they are on by default (see
    /// [`masked_paths`](Container::masked_paths)).
    pub fn docker_masks(&mut self) -> &mut Self {
        self.masked_paths = true;
        self
    }

    /// Whether `/sys` is a fresh, read-only sysfs and `/sys/fs/cgroup` a read-only cgroup2
    /// mount of the container's own cgroup namespace (default `true`; `false` shows the
    /// tree's own `/sys`, read-only with the host's tree). `writable_cgroup` makes the
    /// cgroup2 mount writable, for a program that manages its own sub-cgroups.
    pub fn sysfs(&mut self, fresh: bool, writable_cgroup: bool) -> &mut Self {
        self.sysfs = fresh;
        self.writable_cgroup = writable_cgroup;
        self
    }

    /// Gives the container its own time namespace with these clock offsets.
    pub fn time_offsets(&mut self, offsets: TimeOffsets) -> &mut Self {
        self.time_offsets = Some(offsets);
        self
    }

    /// Runs a tiny init as PID 1 that reaps orphans, forwards signals to the program and exits
    /// with its status (`docker run --init`). Without it the program itself is PID 1.
    ///
    /// The init is a separate program of a few hundred bytes, exec'd from a sealed memfd: it
    /// holds nothing of the caller (no memory, no descriptor), so `/proc/1/mem` and
    /// `/proc/1/exe` inside show only the init itself (`/memfd:hutch-init`). It starts with
    /// every signal blocked and at its default disposition (an ignored `SIGCHLD` of the caller
    /// does not carry over), waits for signals, forwards every one but `SIGCHLD` to the
    /// program, reaps orphans, and exits with the program's exit code, or 128+N when the
    /// program was killed by signal N.
    ///
    /// # Caveats
    ///
    /// The init program exists for x86_64. On other architectures the init is a copy of the
    /// caller that never execs (the same loop), which keeps a copy of the caller's memory for
    /// the container's life.
    pub fn init(&mut self, init: bool) -> &mut Self {
        self.init = init;
        self
    }

    /// Kills the container's first process with `SIGKILL` when the thread that spawned it
    /// ends (`prctl(PR_SET_PDEATHSIG)`).
    ///
    /// # Caveats
    ///
    /// The kernel sends the signal when the *thread* that created the child exits, not the
    /// process: spawn from a long-lived thread (e.g. the main thread) when using this. A parent
    /// *process* that dies while the child is being set up is noticed (through its pidfd); a
    /// spawning thread that ends in that instant, while its process lives on, is not.
    #[doc(alias = "PR_SET_PDEATHSIG")]
    pub fn die_with_parent(&mut self, enable: bool) -> &mut Self {
        self.die_with_parent = enable;
        self
    }

    /// A command that runs `program` in a new container with this configuration.
    ///
    /// The configuration is copied into the command: later changes to this `Container` do not
    /// affect it.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        Command::new_in(self.clone(), program.as_ref())
    }

    /// The namespaces a spawn creates, including the automatic user namespace.
    pub fn effective_namespaces(&self) -> Namespaces {
        let user = match self.userns {
            UserNs::Off => false,
            UserNs::Auto => crate::sys::geteuid() != 0,
            UserNs::MapCaller | UserNs::Remap | UserNs::Maps { .. } => true,
        };
        let mut ns = self.namespaces;
        if user {
            ns |= Namespaces::USER;
        } else {
            ns -= Namespaces::USER;
        }
        if self.time_offsets.is_some() {
            ns |= Namespaces::TIME;
        }
        ns
    }

    // ----- cgroup -------------------------------------------------------------------------

    /// Limits CPU time to `cores` CPUs' worth (`cpu.max`, with the default 100 ms period;
    /// `docker run --cpus`). Values that are not finite, not above zero, or too large for
    /// `cpu.max` are rejected by `spawn` ([`SpawnError::InvalidLimit`](crate::SpawnError)).
    pub fn limit_cpu(&mut self, cores: f64) -> &mut Self {
        self.cgroup.cpu_cores = Some(cores);
        self.cgroup.resources.cpu_max = None;
        self
    }

    /// Limits CPU time with a typed `cpu.max` value (quota per period).
    pub fn cpu_max(&mut self, max: CpuMax) -> &mut Self {
        self.cgroup.cpu_cores = None;
        self.cgroup.resources.cpu_max = Some(max);
        self
    }

    /// Limits memory (`memory.max`; `docker run --memory`): above it the kernel reclaims, then
    /// OOM-kills inside the container. Takes bytes as a `u64` or a typed [`Bytes`].
    pub fn limit_memory(&mut self, bytes: impl Into<Bytes>) -> &mut Self {
        self.cgroup.resources.memory_max = Some(Max::Value(bytes.into()));
        self
    }

    /// Limits swap use (`memory.swap.max`). Note that unlike Docker's `--memory-swap`, this is
    /// swap alone, not memory plus swap.
    pub fn memory_swap(&mut self, bytes: impl Into<Bytes>) -> &mut Self {
        self.cgroup.resources.memory_swap_max = Some(Max::Value(bytes.into()));
        self
    }

    /// Whether an OOM kill takes every process of the container (`memory.oom.group`).
    pub fn oom_kill_group(&mut self, group: bool) -> &mut Self {
        self.cgroup.resources.memory_oom_group = Some(group);
        self
    }

    /// Limits the number of processes and threads (`pids.max`; `docker run --pids-limit`).
    pub fn limit_pids(&mut self, max: u64) -> &mut Self {
        self.cgroup.resources.pids_max = Some(Max::Value(Count(max)));
        self
    }

    /// Pins the container to these CPUs (`cpuset.cpus`; `docker run --cpuset-cpus`).
    pub fn cpuset(&mut self, cpus: CpuList) -> &mut Self {
        self.cgroup.resources.cpuset_cpus = Some(cpus);
        self
    }

    /// Restricts the container to these memory nodes (`cpuset.mems`).
    pub fn cpuset_mems(&mut self, mems: CpuList) -> &mut Self {
        self.cgroup.resources.cpuset_mems = Some(mems);
        self
    }

    /// Limits I/O on one block device (`io.max`; `docker run --device-read-bps` and friends).
    /// A later limit for the same device replaces the earlier one.
    pub fn limit_io(&mut self, limit: IoMax) -> &mut Self {
        let io = &mut self.cgroup.resources.io_max;
        io.retain(|l| l.device != limit.device);
        io.push(limit);
        self
    }

    /// Restricts device access with an eBPF `cgroup_device` program built from `policy`
    /// (e.g. [`DevicePolicy::docker_default`]).
    pub fn devices(&mut self, policy: DevicePolicy) -> &mut Self {
        self.cgroup.devices = Some(policy);
        self
    }

    /// Sets any typed knob of the cgroup crate, applied after the limits above.
    pub fn cgroup_setting(&mut self, setting: Setting) -> &mut Self {
        self.cgroup.resources.extra.push(setting);
        self
    }

    /// Replaces all cgroup limits at once.
    pub fn resources(&mut self, resources: Resources) -> &mut Self {
        self.cgroup.resources = resources;
        self
    }

    /// The cgroup limits set so far.
    pub fn get_resources(&self) -> &Resources {
        &self.cgroup.resources
    }

    /// Whether each container gets a cgroup of its own: `true` requires one (spawning fails
    /// when it cannot be made), `false` never makes one (limits then fail to spawn). By
    /// default a cgroup is made when the hierarchy is writable, and always when limits are set.
    pub fn cgroup(&mut self, enable: bool) -> &mut Self {
        self.cgroup.options.mode = if enable { Mode::Required } else { Mode::Off };
        self
    }

    /// Makes containers' cgroups under `parent` (a path on the cgroup2 file system, absolute
    /// or relative to its root) instead of a `hutch` cgroup beside the caller's own.
    pub fn cgroup_parent(&mut self, parent: impl AsRef<Path>) -> &mut Self {
        self.cgroup.options.parent = Some(parent.as_ref().to_owned());
        self
    }

    /// Uses the cgroup2 file system mounted at `root` instead of finding it in
    /// `/proc/self/mountinfo`.
    pub fn cgroup_root(&mut self, root: impl AsRef<Path>) -> &mut Self {
        self.cgroup.options.root = Some(root.as_ref().to_owned());
        self
    }

    /// Names the container's cgroup (default `hutch-<pid>-<n>`). Only one container at a time
    /// can have a given name under one parent.
    pub fn cgroup_name(&mut self, name: impl AsRef<OsStr>) -> &mut Self {
        self.cgroup.options.name = Some(name.as_ref().to_owned());
        self
    }

    /// Keeps the container's cgroup when the container ends (default: removed).
    pub fn keep_cgroup(&mut self, keep: bool) -> &mut Self {
        self.cgroup.options.keep = keep;
        self
    }
}
