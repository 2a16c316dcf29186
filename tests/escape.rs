//! The escape suite: classic ways out of a container, tried from inside a default
//! [`Container::new()`], each asserted to be denied, and how.
//!
//! Every attempt runs in a fresh container as a small Python program (`/usr/bin/python3`,
//! whose `ctypes` makes the raw system calls) that prints one result token: `ok` when the
//! attempt went through, `errno=<NAME>` when the kernel refused it, or a word that says what
//! the program found (`masked`, `absent`, `inside`, `unreachable`, ...). The test compares
//! the token with what the hardened default must give and fails on any difference, printing
//! a table of every attempt.
//!
//! # Modes
//!
//! The suite runs three ways, each its own test:
//!
//! * `escape_suite_as_root`: the caller is root, no user namespace (the default for root);
//! * `escape_suite_with_userns`: the caller is root and asks for a user namespace
//!   ([`Container::user_namespace(true)`](Container::user_namespace)), which maps root inside
//!   to an unprivileged host range;
//! * `escape_suite_unprivileged`: the test binary re-runs itself as uid/gid 65534 under
//!   `setpriv`, where the container gets the automatic user namespace that maps the caller
//!   to root inside.
//!
//! The expected result can differ per mode: a write that root (with `CAP_DAC_OVERRIDE`)
//! gets as far as the read-only mount (`EROFS`) is stopped earlier by the file's owner for
//! root of a user namespace (`EACCES`).
//!
//! # What closes what
//!
//! Each attempt names the layer that denies it: the capability set (Docker's 14 defaults),
//! the read-only host tree, the read-only `/proc/sys` and masked `/proc` files, the minimal
//! `/dev`, the device cgroup, the pid/cgroup namespaces, `no_new_privs`, or the kernel
//! itself when it lacks the feature (this is then detected on the host and expected as
//! `ENOSYS`/`ENOENT`, never assumed). Once the container runs under Docker's seccomp profile
//! (`Seccomp: 2` in its `/proc/self/status`), every attempt whose system call that profile
//! refuses for the default capabilities is expected to fail with `EPERM` (the profile's
//! `defaultErrnoRet`), whatever the layer below would have said.
//!
//! # Attempts only seccomp closes
//!
//! Some attempts need no privilege at all — `keyctl`, `add_key`, `unshare(CLONE_NEWUSER)`,
//! user-mode `userfaultfd`, `perf_event_open` on oneself (with `perf_event_paranoid` ≤ 2),
//! `bpf` (when unprivileged BPF is enabled) and `syslog` (when `dmesg_restrict` is 0) — so
//! only a seccomp filter closes them. Without a filter the suite prints them as
//! `OPEN (pending seccomp)` and does not fail on them; they are never reported as denied.
//! As soon as the container has a filter, they must fail with `EPERM` like the others.
//!
//! # Control run
//!
//! A suite that only ever sees denials proves little: an attempt could fail for a reason of
//! its own. So `escape_attempts_get_through_a_privileged_container` runs every attempt once
//! more in a [`privileged()`](Container::privileged) container (root, every capability, no
//! masks, the host's `/dev`) and checks that each attempt marked [`Control::Opens`] is then
//! *not* denied the way the default container denies it, and that each one marked
//! [`Control::StaysClosed`] (closed by a layer `privileged()` keeps: the pid namespace, the
//! read-only host tree, the kernel) still is. Attempts the host's kernel or sandbox cannot
//! express at all (no modules, no kexec, a disk even host root may not open, no
//! `CAP_SYS_RESOURCE`) are probed on the host and expected accordingly.
//!
//! # Harmlessness
//!
//! The suite runs as root on the host, and any attempt may unexpectedly succeed (each does in
//! the control run or on a container without the hardening). So each attempt is chosen to
//! change nothing on the host if it succeeds: files are only opened for writing, never
//! written (except a sysctl written back with the value just read), a file "created" in
//! `/etc` is an unnamed `O_TMPFILE`, mounts happen in the container's private mount
//! namespace, system calls get arguments the kernel rejects right after the permission check
//! (bad `reboot` magic, an invalid module image, `/dev/null` for `swapon`), clocks are set
//! to the time just read, a joined host namespace (through a deliberately passed
//! descriptor) is left at once, and anything created lives in a tmpfs of the container or
//! in the program itself (a keyring of the process, a BPF map). Each attempt's `harmless`
//! field says why. After each run, the host's hostname, domain name, `core_pattern`,
//! `swappiness`, `/proc/swaps` and `/etc/passwd` are compared with a snapshot taken before
//! it, and nothing may be left behind (descriptors, mounts, children).
//!
//! # Requirements
//!
//! Root (CI runs as root), `/usr/bin/python3` (Debian `python3`), `setpriv` (`util-linux`)
//! and `/usr/bin/id` (`coreutils`), all installed by `scripts/install-deps.sh`. System call
//! numbers are given for x86_64 and aarch64 (both checked against the kernel-generated tables
//! of the `syscalls` crate; only x86_64 has been run); a call the architecture lacks
//! (`iopl`, `ioperm` on aarch64) reports `ENOSYS`.

mod common;

use std::fmt::Write as _;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use common::{Leaks, TempDir, exclusive};
use hutch::Container;
use hutch::caps::{CapSet, Capability};
use hutch::ns::mount::TmpfsOptions;

/// How the suite's containers are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Root caller, no user namespace.
    Root,
    /// Root caller, `user_namespace(true)`: root inside is an unprivileged host range.
    Userns,
    /// Caller uid 65534: the automatic user namespace maps it to root inside.
    Unprivileged,
}

/// What the host offers, probed before the suite (outside any container), so that an
/// attempt the kernel cannot even express is expected as absent instead of assumed.
#[derive(Debug)]
struct Env {
    mode: Mode,
    /// `CONFIG_MODULES` (`/proc/modules` exists).
    modules: bool,
    /// `CONFIG_KEXEC_CORE` (`/proc/sys/kernel/kexec_load_disabled` exists).
    kexec: bool,
    /// `CONFIG_X86_IOPL_IOPERM` (`iopl(0)` in the test process is not `ENOSYS`).
    ioport: bool,
    /// `/proc/kcore` exists on the host.
    kcore: bool,
    /// `/proc/sysrq-trigger` exists on the host.
    sysrq: bool,
    /// `/sys/kernel/uevent_helper` exists on the host.
    uevent_helper: bool,
    /// `kernel.unprivileged_bpf_disabled` is not 0.
    bpf_restricted: bool,
    /// `kernel.perf_event_paranoid`.
    perf_paranoid: i32,
    /// `vm.unprivileged_userfaultfd` is 0.
    uffd_restricted: bool,
    /// `kernel.dmesg_restrict` is 1.
    dmesg_restricted: bool,
    /// The caller's effective capabilities (`CapEff`): a sandbox may run the suite without
    /// some (this matters only for what a `privileged()` container gets).
    caller_caps: u64,
    /// The test process itself can open the host's disk read-only (some sandboxes forbid
    /// even root that).
    disk_openable: bool,
}

impl Env {
    fn probe(mode: Mode) -> Env {
        let sysctl = |name: &str| -> Option<i64> {
            fs::read_to_string(Path::new("/proc/sys").join(name))
                .ok()
                .and_then(|s| s.trim().parse().ok())
        };
        Env {
            mode,
            modules: Path::new("/proc/modules").exists(),
            kexec: Path::new("/proc/sys/kernel/kexec_load_disabled").exists(),
            ioport: ioport_syscalls_exist(),
            kcore: Path::new("/proc/kcore").exists(),
            sysrq: Path::new("/proc/sysrq-trigger").exists(),
            uevent_helper: Path::new("/sys/kernel/uevent_helper").exists(),
            bpf_restricted: sysctl("kernel/unprivileged_bpf_disabled").unwrap_or(1) != 0,
            perf_paranoid: sysctl("kernel/perf_event_paranoid").unwrap_or(2) as i32,
            uffd_restricted: sysctl("vm/unprivileged_userfaultfd").unwrap_or(0) == 0,
            dmesg_restricted: sysctl("kernel/dmesg_restrict").unwrap_or(0) != 0,
            caller_caps: fs::read_to_string("/proc/self/status")
                .unwrap()
                .lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
                .expect("CapEff in /proc/self/status"),
            // A read-only open that reads nothing.
            disk_openable: fs::File::open(host_disk().0).is_ok(),
        }
    }

    fn root(&self) -> bool {
        self.mode == Mode::Root
    }

    /// Whether the caller has `cap` (so a `privileged()` container gets it).
    fn has(&self, cap: Capability) -> bool {
        self.caller_caps & cap.bit() != 0
    }
}

/// Whether the kernel has `iopl`/`ioperm` (`CONFIG_X86_IOPL_IOPERM`). `iopl(0)` never needs
/// a privilege and never raises one: it keeps the level at 0, so probing on the host is
/// harmless.
#[cfg(target_arch = "x86_64")]
fn ioport_syscalls_exist() -> bool {
    // SAFETY: iopl(0) takes no pointer; it lowers (keeps) this thread's I/O privilege level.
    let r = unsafe { libc::syscall(libc::SYS_iopl, 0 as libc::c_long) };
    !(r == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS))
}

#[cfg(not(target_arch = "x86_64"))]
fn ioport_syscalls_exist() -> bool {
    false
}

/// What an attempt needs beyond `Container::new()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Setup {
    /// Nothing: the default container.
    None,
    /// A tmpfs on `/mnt` that allows devices and set-user-ID files, so that what denies a
    /// device node or a setuid program is the device cgroup or `no_new_privs`, not the mount.
    Scratch,
    /// `cap_drop(NET_RAW)`.
    DropNetRaw,
    /// A root file system of its own (read-only binds of the host's `/usr` and `/etc`).
    Rootfs,
    /// `init(true)`: PID 1 is hutch's init, the "runtime" a CVE-2019-5736 attack overwrites.
    Init,
    /// The host's mount and network namespaces passed as descriptors 3 and 4: what a leaked
    /// namespace descriptor would give an attacker.
    HostNamespaces,
}

/// One escape attempt.
struct Attempt {
    /// Short name, also the row of the README's table.
    name: &'static str,
    /// The layer that denies it in the hardened default.
    closed_by: &'static str,
    /// Why the attempt changes nothing on the host even if it succeeds.
    harmless: &'static str,
    setup: Setup,
    /// Python statements that set `result` (see [`PRELUDE`] for the helpers).
    code: &'static str,
    /// The accepted result tokens without seccomp (more than one only where the kernel's
    /// order of checks decides between two denials, documented at the attempt).
    expect: fn(&Env) -> &'static [&'static str],
    /// Docker's seccomp profile refuses this attempt's system call for the default
    /// capabilities: with a filter, the result must be `errno=EPERM`.
    seccomp_blocks: bool,
    /// Only seccomp closes it (on this host): without a filter it is reported as pending.
    seccomp_only: fn(&Env) -> bool,
    /// What it does in a `privileged()` container (the control run).
    control: Control,
}

/// What an attempt does in a [`privileged`](Container::privileged) container: the control
/// run proves that each attempt can fail, i.e. that what denies it in the default container
/// is the confinement and not the attempt itself.
#[derive(Clone, Copy)]
enum Control {
    /// Privileged, it is not denied the way the default container denies it.
    Opens,
    /// A layer `privileged()` keeps (the namespaces, the read-only host tree, the kernel)
    /// still denies it, the same way.
    StaysClosed,
    /// Depends on the host: opens when this returns `true` (the kernel has the feature),
    /// else stays closed.
    Host(fn(&Env) -> bool),
    /// Not run in the control run: succeeding there would change the host's real state (a
    /// clock step, however small), which no test may do.
    NotRun,
}

const EPERM: &[&str] = &["errno=EPERM"];
const EACCES: &[&str] = &["errno=EACCES"];
const ENOENT: &[&str] = &["errno=ENOENT"];
const ENOSYS: &[&str] = &["errno=ENOSYS"];
const ESRCH: &[&str] = &["errno=ESRCH"];
const EROFS: &[&str] = &["errno=EROFS"];
/// Only for a file this host does not have, so the order of checks could not be observed
/// here: a write refused by a read-only mount is `EROFS` for root with `CAP_DAC_OVERRIDE`; in
/// a user namespace the file's owner (host root, unmapped) is checked first (`EACCES`),
/// unless the superblock itself is read-only (`EROFS`).
const EROFS_OR_EACCES: &[&str] = &["errno=EROFS", "errno=EACCES"];

fn never(_: &Env) -> bool {
    false
}

fn always(_: &Env) -> bool {
    true
}

/// Helpers every attempt's code can use. `sc(name, *args)` makes a raw system call and
/// returns `ok` or `errno=NAME`; `tr(f)` runs `f` and maps an `OSError` the same way;
/// `open_only(path, flags)` opens and closes (never reads or writes).
const PRELUDE: &str = r#"
import ctypes, errno, os, stat, struct, sys, socket
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
HOST_PID = int(sys.argv[1])
BLOCK = sys.argv[2]
BLOCK_MAJ, BLOCK_MIN = (int(x) for x in sys.argv[3].split(':'))
HOST_ROOTFS = sys.argv[4]
DOCKER_CAPS = int(sys.argv[5], 16)
NR = {
 'x86_64': dict(mount=165, umount2=166, pivot_root=155, chroot=161, init_module=175,
   finit_module=313, delete_module=176, kexec_load=246, kexec_file_load=320, reboot=169,
   iopl=172, ioperm=173, swapon=167, swapoff=168, settimeofday=164, clock_settime=227,
   adjtimex=159, acct=163, sethostname=170, setns=308, unshare=272, name_to_handle_at=303,
   open_by_handle_at=304, keyctl=250, add_key=248, bpf=321, perf_event_open=298,
   userfaultfd=323, ptrace=101, process_vm_readv=310, kill=62, syslog=103,
   fanotify_init=300, fsopen=430, open_tree=428, setpriority=141, vhangup=153),
 'aarch64': dict(mount=40, umount2=39, pivot_root=41, chroot=51, init_module=105,
   finit_module=273, delete_module=106, kexec_load=104, kexec_file_load=294, reboot=142,
   swapon=224, swapoff=225, settimeofday=170, clock_settime=112, adjtimex=171, acct=89,
   sethostname=161, setns=268, unshare=97, name_to_handle_at=264, open_by_handle_at=265,
   keyctl=219, add_key=217, bpf=280, perf_event_open=241, userfaultfd=282, ptrace=117,
   process_vm_readv=270, kill=129, syslog=116, fanotify_init=262, fsopen=430,
   open_tree=428, setpriority=140, vhangup=58),
}[os.uname().machine]
def ename(e):
    return 'errno=' + errno.errorcode.get(e, str(e))
def arg(a):
    if a is None:
        return ctypes.c_void_p(None)
    if isinstance(a, int):
        return ctypes.c_long(a)
    return a
def scr(name, *args):
    if name not in NR:
        return -1, 'errno=ENOSYS'
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(NR[name]), *[arg(a) for a in args])
    if r == -1:
        return r, ename(ctypes.get_errno())
    return r, 'ok'
def sc(name, *args):
    return scr(name, *args)[1]
def tr(f):
    try:
        f()
        return 'ok'
    except OSError as e:
        return ename(e.errno)
def open_only(path, flags):
    return tr(lambda: os.close(os.open(path, flags)))
def status(key):
    for line in open('/proc/self/status'):
        if line.startswith(key + ':'):
            return line.split()[1]
    return '?'
def masked(path):
    try:
        st = os.stat(path)
    except OSError as e:
        return ename(e.errno)
    if stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3):
        return 'masked'
    try:
        with open(path, 'rb') as f:
            return 'readable(%d bytes)' % len(f.read(4096))
    except OSError as e:
        return 'unmasked, ' + ename(e.errno)
def cgroup2_mounts():
    out = []
    for line in open('/proc/self/mountinfo'):
        f = line.split()
        if f[f.index('-') + 1] == 'cgroup2':
            out.append(f[4])
    return out
def own_cgroup():
    me = str(os.getpid())
    for m in cgroup2_mounts():
        queue, seen = [m], 0
        while queue and seen < 5000:
            d = queue.pop(0)
            seen += 1
            try:
                if me in open(d + '/cgroup.procs').read().split():
                    return m, d
                queue += [e.path for e in os.scandir(d) if e.is_dir(follow_symlinks=False)]
            except OSError:
                pass
    return None, None
print('SECCOMP', status('Seccomp'), 'NNP', status('NoNewPrivs'), 'CAPEFF', status('CapEff'))
result = 'no result set'
"#;

const EPILOGUE: &str = "\nprint('RESULT', result)\n";

/// The attempts. Each runs in a fresh container; see the module docs for the modes.
fn attempts() -> Vec<Attempt> {
    vec![
        // ----- mounts -----------------------------------------------------------------
        Attempt {
            name: "mount proc over /proc",
            closed_by: "capabilities (no CAP_SYS_ADMIN)",
            harmless: "a mount in the container's private mount namespace",
            setup: Setup::None,
            code: "result = sc('mount', b'proc', b'/proc', b'proc', 0, None)",
            expect: |_| EPERM,
            seccomp_blocks: true,
            seccomp_only: never,
            control: Control::Opens,
        },
        Attempt {
            name: "mount tmpfs on /mnt",
            closed_by: "capabilities (no CAP_SYS_ADMIN)",
            harmless: "a mount in the container's private mount namespace",
            setup: Setup::None,
            code: "result = sc('mount', b'tmpfs', b'/mnt', b'tmpfs', 0, None)",
            expect: |_| EPERM,
            seccomp_blocks: true,
            seccomp_only: never,
            control: Control::Opens,
        },
        Attempt {
            name: "remount / read-write",
            closed_by: "capabilities (no CAP_SYS_ADMIN)",
            harmless: "MS_REMOUNT|MS_BIND changes only the container's own mount, never the \
                       shared superblock",
            setup: Setup::None,
            // MS_REMOUNT (32) | MS_BIND (4096), no MS_RDONLY: read-write.
            code: "result = sc('mount', None, b'/', None, 32 | 4096, None)",
            expect: |_| EPERM,
            seccomp_blocks: true,
            seccomp_only: never,
            control: Control::Opens,
        },
        Attempt {
            name: "umount /proc",
            closed_by: "capabilities (no CAP_SYS_ADMIN)",
            harmless: "the container's own /proc in its private mount namespace",
            setup: Setup::None,
            code: "result = sc('umount2', b'/proc', 2)", // MNT_DETACH
            expect: |_| EPERM,
            seccomp_blocks: true,
            seccomp_only: never,
            control: Control::Opens,
        },
        Attempt {
            name: "umount masked /proc/keys",
            closed_by: "masked path + capabilities (no CAP_SYS_ADMIN)",
            harmless: "the container's own mount; unmasking shows only /proc/keys",
            setup: Setup::None,
            // Without the mask it is no mount point: EINVAL for a privileged caller.
            code: "result = sc('umount2', b'/proc/keys', 0)",
            expect: |_| EPERM,
            seccomp_blocks: true,
            seccomp_only: never,
            control: Control::Opens,
        },
        Attempt {
            name: "pivot_root",
            closed_by: "capabilities (no CAP_SYS_ADMIN)",
            harmless: "changes only the container's private mount namespace",
            setup: Setup::None,
            code: "os.chdir('/')\nresult = sc('pivot_root', b'.', b'.')",
            expect: |_| EPERM,
            seccomp_blocks: true,
            seccomp_only: never,
            control: Control::Opens,
        },
        Attempt {
            name: "open_tree clone of /",
            closed_by: "capabilities (no CAP_SYS_ADMIN)",
            harmless: "a detached copy of the container's own mounts, closed at once",
            setup: Setup::None,
            // OPEN_TREE_CLONE (1); AT_FDCWD is -100.
            code: "r, result = scr('open_tree', -100, b'/', 1)\nif r >= 0: os.close(r)",
            expect: |_| EPERM,
            seccomp_blocks: true,
            seccomp_only: never,
            control: Control::Opens,
        },
        Attempt {
            name: "fsopen tmpfs",
            closed_by: "capabilities (no CAP_SYS_ADMIN)",
            harmless: "a file system context that is never mounted, closed at once",
            setup: Setup::None,
            code: "r, result = scr('fsopen', b'tmpfs', 0)\nif r >= 0: os.close(r)",
            expect: |_| EPERM,
            seccomp_blocks: true,
            seccomp_only: never,
            control: Control::Opens,
        },
        Attempt {
            name: "unshare a mount namespace",
            closed_by: "capabilities (no CAP_SYS_ADMIN)",
            harmless: "a new namespace of this process only, gone when it exits",
            setup: Setup::None,
            code: "result = sc('unshare', 0x00020000)", // CLONE_NEWNS
            expect: |_| EPERM,
            seccomp_blocks: true,
            seccomp_only: never,
            control: Control::Opens,
        },
        // ----- chroot -----------------------------------------------------------------
        Attempt {
            name: "chroot + chdir(..) escape",
            closed_by: "pivot_root with the old root detached",
            harmless: "walks up and reads; nothing is written",
            setup: Setup::Rootfs,
            // The classic: chroot into a subdirectory while the working directory stays
            // outside it, then walk `..` as far as it goes and chroot there.
            code: r#"
def inside():
    return os.path.exists('/HUTCH_ROOTFS_MARKER') and not os.path.exists(HOST_ROOTFS + '/HUTCH_ROOTFS_MARKER')
def escape():
    os.chroot('/usr')
    for _ in range(64):
        os.chdir('..')
    os.chroot('.')
result = tr(escape)
if result == 'ok':
    result = 'inside' if inside() else 'escaped'
"#,
            expect: |_| &["inside"],
            seccomp_blocks: false,
            seccomp_only: never,
            control: Control::StaysClosed,
        },
        Attempt {
            name: "chroot + fchdir(saved fd) escape",
            closed_by: "pivot_root with the old root detached",
            harmless: "walks up and reads; nothing is written",
            setup: Setup::Rootfs,
            code: r#"
def inside():
    return os.path.exists('/HUTCH_ROOTFS_MARKER') and not os.path.exists(HOST_ROOTFS + '/HUTCH_ROOTFS_MARKER')
def escape():
    fd = os.open('/', os.O_RDONLY | os.O_DIRECTORY)
    os.chroot('/usr')
    os.chdir('/')
    os.fchdir(fd)
    for _ in range(64):
        os.chdir('..')
    os.chroot('.')
result = tr(escape)
if result == 'ok':
    result = 'inside' if inside() else 'escaped'
"#,
            expect: |_| &["inside"],
            seccomp_blocks: false,
            seccomp_only: never,
            control: Control::StaysClosed,
        },
        // ----- devices ----------------------------------------------------------------
        Attempt {
            name: "open the host's disk",
            closed_by: "minimal /dev",
            harmless: "opened read-only, never read",
            setup: Setup::None,
            code: "result = open_only(BLOCK, os.O_RDONLY)",
            expect: |_| ENOENT,
            seccomp_blocks: false,
            seccomp_only: never,
            control: Control::Opens,
        },
        Attempt {
            name: "mknod the host's disk and open it",
            closed_by: "device cgroup (root); CAP_MKNOD of the initial namespace (user namespace)",
            harmless: "the node is made in the container's tmpfs and opened read-only, never read",
            setup: Setup::Scratch,
            code: r#"
result = tr(lambda: os.mknod('/mnt/disk', stat.S_IFBLK | 0o600, os.makedev(BLOCK_MAJ, BLOCK_MIN)))
result = 'mknod=' + result
if result == 'mknod=ok':
    result += ' open=' + open_only('/mnt/disk', os.O_RDONLY)
"#,
            // Root keeps CAP_MKNOD (Docker does too); the device cgroup refuses the open.
            expect: |e| {
                if e.root() {
                    &["mknod=ok open=errno=EPERM"]
                } else {
                    &["mknod=errno=EPERM"]
                }
            },
            seccomp_blocks: false,
            seccomp_only: never,
            control: Control::Host(|e| e.disk_openable),
        },
        Attempt {
            name: "mknod /dev/kvm and open it",
            closed_by: "device cgroup (root); CAP_MKNOD of the initial namespace (user namespace)",
            harmless: "the node is made in the container's tmpfs and opened read-only; no ioctl",
            setup: Setup::Scratch,
            code: r#"
result = 'mknod=' + tr(lambda: os.mknod('/mnt/kvm', stat.S_IFCHR | 0o600, os.makedev(10, 232)))
if result == 'mknod=ok':
    result += ' open=' + open_only('/mnt/kvm', os.O_RDONLY)
"#,
            expect: |e| {
                if e.root() {
                    &["mknod=ok open=errno=EPERM"]
                } else {
                    &["mknod=errno=EPERM"]
                }
            },
            seccomp_blocks: false,
            seccomp_only: never,
            control: Control::Opens,
        },
        Attempt {
            name: "open /dev/kvm",
            closed_by: "minimal /dev",
            harmless: "opened read-only; no ioctl",
            setup: Setup::None,
            code: "result = open_only('/dev/kvm', os.O_RDONLY)",
            expect: |_| ENOENT,
            seccomp_blocks: false,
            seccomp_only: never,
            control: Control::Opens,
        },
        Attempt {
            name: "open /dev/mem",
            closed_by: "minimal /dev",
            harmless: "opened read-only, never read",
            setup: Setup::None,
            code: "result = open_only('/dev/mem', os.O_RDONLY)",
            expect: |_| ENOENT,
            seccomp_blocks: false,
            seccomp_only: never,
            control: Control::Host(|_| Path::new("/dev/mem").exists()),
        },
        Attempt {
            name: "open /dev/kmsg",
            closed_by: "minimal /dev",
            harmless: "opened read-only and non-blocking, never read",
            setup: Setup::None,
            code: "result = open_only('/dev/kmsg', os.O_RDONLY | os.O_NONBLOCK)",
            expect: |_| ENOENT,
            seccomp_blocks: false,
            seccomp_only: never,
            control: Control::Opens,
        },
        Attempt {
            name: "open /dev/loop-control",
            closed_by: "minimal /dev",
            harmless: "opened read-only; no ioctl (no loop device is made)",
            setup: Setup::None,
            code: "result = open_only('/dev/loop-control', os.O_RDONLY)",
            expect: |_| ENOENT,
            seccomp_blocks: false,
            seccomp_only: never,
            control: Control::Opens,
        },
        // ----- /proc and /sys -----------------------------------------------------------
        Attempt {
            name: "write vm.swappiness (same value)",
            closed_by: "read-only /proc/sys",
            harmless: "writes back the value just read",
            setup: Setup::None,
            code: r#"
cur = open('/proc/sys/vm/swappiness').read()
def w():
    fd = os.open('/proc/sys/vm/swappiness', os.O_WRONLY)
    try:
        os.write(fd, cur.encode())
    finally:
        os.close(fd)
result = tr(w)
"#,
            expect: |e| if e.root() { EROFS } else { EACCES },
            seccomp_blocks: false,
            seccomp_only: never,
            control: Control::Opens,
        },
        Attempt {
            name: "open kernel.core_pattern for writing",
            closed_by: "read-only /proc/sys",
            harmless: "opened for writing, never written",
            setup: Setup::None,
            code: "result = open_only('/proc/sys/kernel/core_pattern', os.O_WRONLY)",
            expect: |e| if e.root() { EROFS } else { EACCES },
            seccomp_blocks: false,
            seccomp_only: never,
            control: Control::Opens,
        },
        Attempt {
            name: "open /proc/sysrq-trigger for writing",
            closed_by: "read-only /proc/sysrq-trigger (absent without CONFIG_MAGIC_SYSRQ)",
            harmless: "opened for writing, never written",
            setup: Setup::None,
            code: "result = open_only('/proc/sysrq-trigger', os.O_WRONLY)",
            // The file is 0200 root: EACCES for root of a user namespace.
            expect: |e| match (e.sysrq, e.root()) {
                (false, _) => ENOENT,
                (true, true) => EROFS,
                (true, false) => EACCES,
            },
            seccomp_blocks: false,
            seccomp_only: never,
            control: Control::Host(|e| e.sysrq),
        },
        Attempt {
            name: "read /proc/kcore",
            closed_by: "masked path (absent without CONFIG_PROC_KCORE)",
            harmless: "a read",
            setup: Setup::None,
            code: "result = masked('/proc/kcore')",
            expect: |e| if e.kcore { &["masked"] } else { ENOENT },
            seccomp_blocks: false,
            seccomp_only: never,
            control: Control::Host(|e| e.kcore),
        },
        Attempt {
            name: "read /proc/keys",
            closed_by: "masked path",
            harmless: "a read",
            setup: Setup::None,
            code: "result = masked('/proc/keys')",
            expect: |_| &["masked"],
            seccomp_blocks: false,
            seccomp_only: never,
            control: Control::Opens,
        },
        Attempt {
            name: "read /proc/timer_list",
            closed_by: "masked path",
            harmless: "a read",
            setup: Setup::None,
            code: "result = masked('/proc/timer_list')",
            expect: |_| &["masked"],
            seccomp_blocks: false,
            seccomp_only: never,
            control: Control::Opens,
        },
        Attempt {
            name: "list /sys/firmware",
            closed_by: "masked path",
            harmless: "a directory listing",
            setup: Setup::None,
            code: r#"
try:
    n = len(os.listdir('/sys/firmware'))
    result = 'empty' if n == 0 else 'entries=%d' % n
except OSError as e:
    result = ename(e.errno)
"#,
            // Masked by an empty read-only tmpfs.
            expect: |_| &["empty"],
            seccomp_blocks: false,
            seccomp_only: never,
            control: Control::Opens,
        },
        Attempt {
            name: "open a /sys knob for writing",
            closed_by: "read-only /sys",
            harmless: "opened for writing, never written",
            setup: Setup::None,
            code: "result = open_only('/sys/kernel/mm/transparent_hugepage/enabled', os.O_WRONLY)",
            // Root with CAP_DAC_OVERRIDE gets as far as the read-only mount; root of a user
            // namespace is stopped first by the file's owner (host root, unmapped).
            expect: |e| if e.root() { EROFS } else { EACCES },
            seccomp_blocks: false,
            seccomp_only: never,
            control: Control::StaysClosed,
        },
        // ----- the host's files ---------------------------------------------------------
        Attempt {
            name: "open /etc/passwd for writing",
            closed_by: "read-only host tree",
            harmless: "opened for appending, never written",
            setup: Setup::None,
            code: "result = open_only('/etc/passwd', os.O_WRONLY | os.O_APPEND)",
            expect: |e| if e.root() { EROFS } else { EACCES },
            seccomp_blocks: false,
            seccomp_only: never,
            control: Control::StaysClosed,
        },
        Attempt {
            name: "create a file in /etc",
            closed_by: "read-only host tree",
            harmless: "O_TMPFILE: an unnamed file that never gets a name in /etc and is freed \
                       when closed; /etc itself is not modified",
            setup: Setup::None,
            // The read-only mount is checked before the directory's permissions.
            code: "result = open_only('/etc', os.O_TMPFILE | os.O_WRONLY)",
            expect: |_| EROFS,
            seccomp_blocks: false,
            seccomp_only: never,
            control: Control::StaysClosed,
        },
        Attempt {
            name: "overwrite the runtime through /proc/1/exe",
            closed_by: "the kernel (a running executable is not writable) and a sealed init",
            harmless: "opened for writing, never written",
            setup: Setup::Init,
            // CVE-2019-5736: hutch's init is a sealed memfd, and it is running.
            code: "result = open_only('/proc/1/exe', os.O_WRONLY)",
            // A memfd is mode 0777, so every mode gets past the permission check to the
            // executable's write denial.
            expect: |_| &["errno=ETXTBSY"],
            seccomp_blocks: false,
            seccomp_only: never,
            control: Control::StaysClosed,
        },
        Attempt {
            name: "inherited descriptors",
            closed_by: "close-on-exec of everything above 2",
            harmless: "lists /proc/self/fd",
            setup: Setup::None,
            code: r#"
names = os.listdir('/proc/self/fd')
live = sorted(int(n) for n in names if tr(lambda: os.fstat(int(n))) == 'ok')
result = ','.join(str(n) for n in live)
"#,
            expect: |_| &["0,1,2"],
            seccomp_blocks: false,
            seccomp_only: never,
            control: Control::StaysClosed,
        },
        Attempt {
            name: "open_by_handle_at (shocker)",
            closed_by: "capabilities (no CAP_DAC_READ_SEARCH)",
            harmless: "a read-only open of /etc/hostname",
            setup: Setup::None,
            code: r#"
buf = ctypes.create_string_buffer(8 + 128)
struct.pack_into('I', buf, 0, 128)
mount_id = ctypes.c_int(0)
r, result = scr('name_to_handle_at', -100, b'/etc/hostname', buf, ctypes.byref(mount_id), 0)
if result == 'ok':
    mfd = os.open('/', os.O_RDONLY | os.O_DIRECTORY)
    r, result = scr('open_by_handle_at', mfd, buf, os.O_RDONLY)
    if r >= 0: os.close(r)
else:
    result = 'name_to_handle_at ' + result
"#,
            expect: |_| EPERM,
            seccomp_blocks: true,
            seccomp_only: never,
            control: Control::Opens,
        },
        // ----- host processes and namespaces -------------------------------------------
        Attempt {
            name: "see host processes in /proc",
            closed_by: "pid namespace",
            harmless: "reads /proc",
            setup: Setup::None,
            code: r#"
pids = [int(p) for p in os.listdir('/proc') if p.isdigit()]
result = 'absent' if HOST_PID not in pids and len(pids) <= 3 else 'visible:%s' % sorted(pids)[:10]
"#,
            expect: |_| &["absent"],
            seccomp_blocks: false,
            seccomp_only: never,
            control: Control::StaysClosed,
        },
        Attempt {
            name: "kill(host pid, 0)",
            closed_by: "pid namespace",
            harmless: "signal 0 only checks",
            setup: Setup::None,
            code: "result = sc('kill', HOST_PID, 0)",
            expect: |_| ESRCH,
            seccomp_blocks: false,
            seccomp_only: never,
            control: Control::StaysClosed,
        },
        Attempt {
            name: "ptrace(SEIZE) a host process",
            closed_by: "pid namespace",
            harmless: "PTRACE_SEIZE does not stop the tracee; the tracer exits at once, detaching",
            setup: Setup::None,
            code: "result = sc('ptrace', 0x4206, HOST_PID, 0, 0)",
            expect: |_| ESRCH,
            seccomp_blocks: false,
            seccomp_only: never,
            control: Control::StaysClosed,
        },
        Attempt {
            name: "process_vm_readv a host process",
            closed_by: "pid namespace",
            harmless: "a read of 8 bytes",
            setup: Setup::None,
            code: r#"
local = ctypes.create_string_buffer(8)
liov = (ctypes.c_void_p * 2)(ctypes.cast(local, ctypes.c_void_p).value, 8)
riov = (ctypes.c_void_p * 2)(0x400000, 8)
result = sc('process_vm_readv', HOST_PID, liov, 1, riov, 1, 0)
"#,
            expect: |_| ESRCH,
            seccomp_blocks: false,
            seccomp_only: never,
            control: Control::StaysClosed,
        },
        Attempt {
            name: "setns into the host's mount namespace",
            closed_by: "capabilities (no CAP_SYS_ADMIN)",
            harmless: "if it joins, the program does nothing there but print and exit",
            setup: Setup::HostNamespaces,
            // Descriptor 3 is the host's mount namespace: a leaked descriptor, on purpose.
            code: "result = sc('setns', 3, 0x00020000)",
            expect: |_| EPERM,
            seccomp_blocks: true,
            seccomp_only: never,
            control: Control::Opens,
        },
        Attempt {
            name: "setns into the host's network namespace",
            closed_by: "capabilities (no CAP_SYS_ADMIN)",
            harmless: "if it joins, the program sends nothing and exits",
            setup: Setup::HostNamespaces,
            // Descriptor 4 is the host's network namespace.
            code: "result = sc('setns', 4, 0x40000000)",
            expect: |_| EPERM,
            seccomp_blocks: true,
            seccomp_only: never,
            control: Control::Opens,
        },
        Attempt {
            name: "sethostname (same name)",
            closed_by: "capabilities (no CAP_SYS_ADMIN)",
            harmless: "the container's own UTS namespace, set to the name it already has",
            setup: Setup::None,
            code: "n = os.uname().nodename.encode()\nresult = sc('sethostname', n, len(n))",
            expect: |_| EPERM,
            seccomp_blocks: true,
            seccomp_only: never,
            control: Control::Opens,
        },
        // ----- cgroups ------------------------------------------------------------------
        Attempt {
            name: "move out of its cgroup",
            closed_by: "cgroup namespace + a cgroup2 mount rooted at its own cgroup",
            harmless: "the parent's cgroup.procs is only opened for writing, never written",
            setup: Setup::None,
            code: r#"
m, d = own_cgroup()
if d is None:
    result = 'own-cgroup-not-found'
elif os.path.realpath(d) == os.path.realpath(m):
    result = 'unreachable'
else:
    result = 'parent:' + open_only(os.path.dirname(d) + '/cgroup.procs', os.O_WRONLY)
"#,
            expect: |_| &["unreachable"],
            seccomp_blocks: false,
            seccomp_only: never,
            control: Control::Opens,
        },
        Attempt {
            name: "cgroup.kill of a host cgroup",
            closed_by: "cgroup namespace + a cgroup2 mount rooted at its own cgroup",
            harmless: "cgroup.kill is only opened for writing, never written",
            setup: Setup::None,
            code: r#"
m, d = own_cgroup()
if d is None:
    result = 'own-cgroup-not-found'
elif os.path.realpath(d) == os.path.realpath(m):
    result = 'unreachable'
else:
    result = 'parent:' + open_only(os.path.dirname(d) + '/cgroup.kill', os.O_WRONLY)
"#,
            expect: |_| &["unreachable"],
            seccomp_blocks: false,
            seccomp_only: never,
            control: Control::Opens,
        },
        Attempt {
            name: "write its own cgroup's files",
            closed_by: "read-only cgroup2 mount",
            harmless: "cgroup.procs is only opened for writing, never written",
            setup: Setup::None,
            code: r#"
mounts = cgroup2_mounts()
m, d = own_cgroup()
target = d or (mounts[0] if mounts else None)
result = 'no-cgroup2' if target is None else open_only(target + '/cgroup.procs', os.O_WRONLY)
"#,
            // As for /sys: the owner check stops root of a user namespace before the mount.
            expect: |e| if e.root() { EROFS } else { EACCES },
            seccomp_blocks: false,
            seccomp_only: never,
            control: Control::StaysClosed,
        },
        Attempt {
            name: "reach the host's cgroup v1 hierarchies",
            closed_by: "a fresh /sys with only its own cgroup2",
            harmless: "looks for v1 `tasks` files; reads nothing else",
            setup: Setup::None,
            // The host's v1 mounts may still be listed in mountinfo, covered by the fresh
            // /sys; what matters is whether a path reaches one (a v1 hierarchy has `tasks`).
            code: r#"
v1 = [l.split()[4] for l in open('/proc/self/mountinfo') if l.split()[l.split().index('-') + 1] == 'cgroup']
reach = [m for m in v1 if os.path.exists(m + '/tasks')]
result = 'none' if not reach else 'reachable:' + ','.join(reach[:3])
"#,
            expect: |_| &["none"],
            seccomp_blocks: false,
            seccomp_only: never,
            control: Control::Opens,
        },
        // ----- kernel and machine -------------------------------------------------------
        Attempt {
            name: "finit_module(/dev/null)",
            closed_by: "capabilities (no CAP_SYS_MODULE)",
            harmless: "/dev/null is no module: refused even with the capability (ENOEXEC)",
            setup: Setup::None,
            code: "fd = os.open('/dev/null', os.O_RDONLY)\nresult = sc('finit_module', fd, b'', 0)",
            expect: |e| if e.modules { EPERM } else { ENOSYS },
            seccomp_blocks: true,
            seccomp_only: never,
            control: Control::Host(|e| e.modules),
        },
        Attempt {
            name: "init_module(garbage)",
            closed_by: "capabilities (no CAP_SYS_MODULE)",
            harmless: "64 zero bytes are no ELF module: refused even with the capability",
            setup: Setup::None,
            code: "img = ctypes.create_string_buffer(64)\nresult = sc('init_module', img, 64, b'')",
            expect: |e| if e.modules { EPERM } else { ENOSYS },
            seccomp_blocks: true,
            seccomp_only: never,
            control: Control::Host(|e| e.modules),
        },
        Attempt {
            name: "delete_module",
            closed_by: "capabilities (no CAP_SYS_MODULE)",
            harmless: "names a module that does not exist",
            setup: Setup::None,
            code: "result = sc('delete_module', b'hutch_escape_no_such_module', os.O_NONBLOCK)",
            expect: |e| if e.modules { EPERM } else { ENOSYS },
            seccomp_blocks: true,
            seccomp_only: never,
            control: Control::Host(|e| e.modules),
        },
        Attempt {
            name: "kexec_load",
            closed_by: "capabilities (no CAP_SYS_BOOT)",
            harmless: "17 segments is above KEXEC_SEGMENT_MAX: refused (EINVAL) right after \
                       the permission check, before anything is loaded or unloaded",
            setup: Setup::None,
            code: "result = sc('kexec_load', 0, 17, None, 0)",
            expect: |e| if e.kexec { EPERM } else { ENOSYS },
            seccomp_blocks: true,
            seccomp_only: never,
            control: Control::Host(|e| e.kexec),
        },
        Attempt {
            name: "kexec_file_load",
            closed_by: "capabilities (no CAP_SYS_BOOT)",
            harmless: "invalid descriptors (EBADF even with the capability)",
            setup: Setup::None,
            code: "result = sc('kexec_file_load', -1, -1, 0, None, 0)",
            expect: |e| if e.kexec { EPERM } else { ENOSYS },
            seccomp_blocks: true,
            seccomp_only: never,
            control: Control::Host(|e| e.kexec),
        },
        Attempt {
            name: "reboot",
            closed_by: "capabilities (no CAP_SYS_BOOT)",
            harmless: "bad magic numbers: the kernel checks them right after the capability \
                       and does nothing (EINVAL); a good magic would only end the container's \
                       pid namespace anyway",
            setup: Setup::None,
            code: "result = sc('reboot', 0, 0, 0, None)",
            expect: |_| EPERM,
            seccomp_blocks: true,
            seccomp_only: never,
            control: Control::Opens,
        },
        Attempt {
            name: "iopl(3)",
            closed_by: "capabilities (no CAP_SYS_RAWIO)",
            harmless: "would grant port access to this process only, which exits without I/O",
            setup: Setup::None,
            code: "result = sc('iopl', 3)",
            expect: |e| if e.ioport { EPERM } else { ENOSYS },
            seccomp_blocks: true,
            seccomp_only: never,
            control: Control::Host(|e| e.ioport),
        },
        Attempt {
            name: "ioperm(0x80)",
            closed_by: "capabilities (no CAP_SYS_RAWIO)",
            harmless: "would grant one port to this process only, which exits without I/O",
            setup: Setup::None,
            code: "result = sc('ioperm', 0x80, 1, 1)",
            expect: |e| if e.ioport { EPERM } else { ENOSYS },
            seccomp_blocks: true,
            seccomp_only: never,
            control: Control::Host(|e| e.ioport),
        },
        Attempt {
            name: "swapon(/dev/null)",
            closed_by: "capabilities (no CAP_SYS_ADMIN)",
            harmless: "/dev/null is no swap area (EINVAL with the capability)",
            setup: Setup::None,
            code: "result = sc('swapon', b'/dev/null', 0)",
            expect: |_| EPERM,
            seccomp_blocks: true,
            seccomp_only: never,
            control: Control::Opens,
        },
        Attempt {
            name: "swapoff(/dev/null)",
            closed_by: "capabilities (no CAP_SYS_ADMIN)",
            harmless: "/dev/null is no active swap area (EINVAL with the capability)",
            setup: Setup::None,
            code: "result = sc('swapoff', b'/dev/null')",
            expect: |_| EPERM,
            seccomp_blocks: true,
            seccomp_only: never,
            control: Control::Opens,
        },
        Attempt {
            name: "clock_settime(now)",
            closed_by: "capabilities (no CAP_SYS_TIME)",
            harmless: "sets CLOCK_REALTIME to the time read just before (a step of microseconds)",
            setup: Setup::None,
            code: r#"
ts = (ctypes.c_long * 2)()
libc.clock_gettime(0, ts)
result = sc('clock_settime', 0, ts)
"#,
            expect: |_| EPERM,
            seccomp_blocks: true,
            seccomp_only: never,
            control: Control::NotRun,
        },
        Attempt {
            name: "settimeofday(now)",
            closed_by: "capabilities (no CAP_SYS_TIME)",
            harmless: "sets the time read just before (a step of microseconds)",
            setup: Setup::None,
            code: r#"
tv = (ctypes.c_long * 2)()
libc.gettimeofday(tv, None)
result = sc('settimeofday', tv, None)
"#,
            expect: |_| EPERM,
            seccomp_blocks: true,
            seccomp_only: never,
            control: Control::NotRun,
        },
        Attempt {
            name: "adjtimex(maxerror unchanged)",
            closed_by: "capabilities (no CAP_SYS_TIME)",
            harmless: "writes back the reported maximum error just read (ADJ_MAXERROR)",
            setup: Setup::None,
            // struct timex: modes (u32) at 0, maxerror (long) at 24.
            code: r#"
tx = ctypes.create_string_buffer(512)
r, result = scr('adjtimex', tx)
if r >= 0:
    struct.pack_into('I', tx, 0, 0x0004)
    result = sc('adjtimex', tx)
else:
    result = 'read ' + result
"#,
            expect: |_| EPERM,
            seccomp_blocks: false,
            seccomp_only: never,
            control: Control::NotRun,
        },
        Attempt {
            name: "acct(NULL)",
            closed_by: "capabilities (no CAP_SYS_PACCT)",
            harmless: "turns off accounting of the container's own pid namespace, which has none",
            setup: Setup::None,
            code: "result = sc('acct', None)",
            expect: |_| EPERM,
            seccomp_blocks: true,
            seccomp_only: never,
            control: Control::Opens,
        },
        Attempt {
            name: "vhangup",
            closed_by: "capabilities (no CAP_SYS_TTY_CONFIG)",
            harmless: "called only after setsid() when /dev/tty shows there is no controlling \
                       terminal, so there is nothing to hang up",
            setup: Setup::None,
            code: r#"
try:
    os.setsid()
except OSError:
    pass
if open_only('/dev/tty', os.O_RDONLY) == 'ok':
    result = 'has-a-controlling-terminal'
else:
    result = sc('vhangup')
"#,
            expect: |_| EPERM,
            seccomp_blocks: true,
            seccomp_only: never,
            control: Control::Opens,
        },
        Attempt {
            name: "nice -20",
            closed_by: "capabilities (no CAP_SYS_NICE)",
            harmless: "the program's own priority",
            setup: Setup::None,
            code: "result = sc('setpriority', 0, 0, -20)",
            expect: |_| EACCES,
            seccomp_blocks: false,
            seccomp_only: never,
            control: Control::Opens,
        },
        Attempt {
            name: "fanotify_init",
            closed_by: "capabilities (no CAP_SYS_ADMIN)",
            harmless: "a notification group that watches nothing, closed at once",
            setup: Setup::None,
            code: "r, result = scr('fanotify_init', 0, os.O_RDONLY)\nif r >= 0: os.close(r)",
            expect: |_| EPERM,
            seccomp_blocks: true,
            seccomp_only: never,
            control: Control::Opens,
        },
        Attempt {
            name: "syslog(READ_ALL)",
            closed_by: "capabilities (no CAP_SYSLOG) with dmesg_restrict=1, else seccomp",
            harmless: "reads 64 bytes of the kernel log, clears nothing",
            setup: Setup::None,
            code: "buf = ctypes.create_string_buffer(64)\nresult = sc('syslog', 3, buf, 64)",
            expect: |_| EPERM,
            seccomp_blocks: true,
            seccomp_only: |e| !e.dmesg_restricted,
            control: Control::Opens,
        },
        Attempt {
            name: "perf_event_open (whole CPU)",
            closed_by: "capabilities (no CAP_PERFMON) with perf_event_paranoid > 0",
            harmless: "a disabled software counter, closed at once",
            setup: Setup::None,
            code: r#"
attr = ctypes.create_string_buffer(128)
struct.pack_into('IIQ', attr, 0, 1, 128, 0)
struct.pack_into('Q', attr, 40, 1 | 32 | 64)
r, result = scr('perf_event_open', attr, -1, 0, -1, 0)
if r >= 0: os.close(r)
"#,
            expect: |_| EACCES,
            seccomp_blocks: true,
            seccomp_only: |e| e.perf_paranoid <= 0,
            control: Control::Opens,
        },
        Attempt {
            name: "perf_event_open (itself)",
            closed_by: "seccomp (perf_event_paranoid <= 2 lets anyone measure itself)",
            harmless: "a disabled software counter on itself, closed at once",
            setup: Setup::None,
            code: r#"
attr = ctypes.create_string_buffer(128)
struct.pack_into('IIQ', attr, 0, 1, 128, 0)
struct.pack_into('Q', attr, 40, 1 | 32 | 64)
r, result = scr('perf_event_open', attr, 0, -1, -1, 0)
if r >= 0: os.close(r)
"#,
            // Debian's kernels add paranoid level 3: no perf for anyone without CAP_PERFMON.
            expect: |e| if e.perf_paranoid >= 3 { EACCES } else { EPERM },
            seccomp_blocks: true,
            seccomp_only: |e| e.perf_paranoid < 3,
            control: Control::Opens,
        },
        Attempt {
            name: "bpf(MAP_CREATE)",
            closed_by: "capabilities (no CAP_BPF) with unprivileged_bpf_disabled, else seccomp",
            harmless: "a one-entry array map, freed when the program exits",
            setup: Setup::None,
            code: r#"
attr = ctypes.create_string_buffer(128)
struct.pack_into('IIII', attr, 0, 2, 4, 4, 1)
r, result = scr('bpf', 0, attr, 128)
if r >= 0: os.close(r)
"#,
            expect: |_| EPERM,
            seccomp_blocks: true,
            seccomp_only: |e| !e.bpf_restricted,
            control: Control::Opens,
        },
        Attempt {
            name: "userfaultfd (kernel faults)",
            closed_by: "capabilities (no CAP_SYS_PTRACE) with unprivileged_userfaultfd=0",
            harmless: "a descriptor that registers nothing, closed at once",
            setup: Setup::None,
            code: "r, result = scr('userfaultfd', os.O_CLOEXEC)\nif r >= 0: os.close(r)",
            expect: |_| EPERM,
            seccomp_blocks: true,
            seccomp_only: |e| !e.uffd_restricted,
            control: Control::Opens,
        },
        Attempt {
            name: "userfaultfd (user mode)",
            closed_by: "seccomp (user-mode userfaultfd needs no privilege)",
            harmless: "a descriptor that registers nothing, closed at once",
            setup: Setup::None,
            code: "r, result = scr('userfaultfd', os.O_CLOEXEC | 1)\nif r >= 0: os.close(r)",
            expect: |_| EPERM,
            seccomp_blocks: true,
            seccomp_only: always,
            control: Control::Opens,
        },
        Attempt {
            name: "unshare a user namespace",
            closed_by: "seccomp (creating a user namespace needs no privilege)",
            harmless: "a new namespace of this process only, gone when it exits",
            setup: Setup::None,
            code: "result = sc('unshare', 0x10000000)",
            expect: |_| EPERM,
            seccomp_blocks: true,
            seccomp_only: always,
            control: Control::Opens,
        },
        Attempt {
            name: "keyctl: root's user keyring",
            closed_by: "seccomp (keyrings are not namespaced)",
            harmless: "looks the keyring up without creating it",
            setup: Setup::None,
            // KEYCTL_GET_KEYRING_ID (0), KEY_SPEC_USER_KEYRING (-4), create = 0.
            code: "result = sc('keyctl', 0, -4, 0)",
            expect: |_| EPERM,
            seccomp_blocks: true,
            seccomp_only: always,
            control: Control::Opens,
        },
        Attempt {
            name: "add_key",
            closed_by: "seccomp (keyrings are not namespaced)",
            harmless: "a key in the program's own process keyring, gone when it exits",
            setup: Setup::None,
            code: "result = sc('add_key', b'user', b'hutch-escape', b'x', 1, -2)",
            expect: |_| EPERM,
            seccomp_blocks: true,
            seccomp_only: always,
            control: Control::Opens,
        },
        Attempt {
            name: "lower oom_score_adj to -1000",
            closed_by: "capabilities (no CAP_SYS_RESOURCE)",
            harmless: "the program's own OOM preference; it exits at once",
            setup: Setup::None,
            code: r#"
def w():
    fd = os.open('/proc/self/oom_score_adj', os.O_WRONLY)
    try:
        os.write(fd, b'-1000')
    finally:
        os.close(fd)
result = tr(w)
"#,
            expect: |_| EACCES,
            seccomp_blocks: false,
            seccomp_only: never,
            control: Control::Host(|e| e.has(Capability::SysResource)),
        },
        Attempt {
            name: "raise the hard RLIMIT_NOFILE",
            closed_by: "capabilities (no CAP_SYS_RESOURCE)",
            harmless: "the program's own limit",
            setup: Setup::None,
            // struct rlimit: two u64; RLIMIT_NOFILE is 7.
            code: r#"
rl = (ctypes.c_uint64 * 2)()
libc.getrlimit(7, rl)
rl[1] += 1
ctypes.set_errno(0)
result = 'ok' if libc.setrlimit(7, rl) == 0 else ename(ctypes.get_errno())
"#,
            expect: |_| EPERM,
            seccomp_blocks: false,
            seccomp_only: never,
            control: Control::Host(|e| e.has(Capability::SysResource)),
        },
        Attempt {
            name: "set lo's MTU (same value)",
            closed_by: "capabilities (no CAP_NET_ADMIN)",
            harmless: "the container's own loopback, set to the MTU it has",
            setup: Setup::None,
            // struct ifreq: the name (16 bytes), then ifr_mtu (int). SIOCGIFMTU / SIOCSIFMTU.
            code: r#"
import fcntl
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
req = bytearray(struct.pack('16si12x', b'lo', 0))
fcntl.ioctl(s, 0x8921, req)
result = tr(lambda: fcntl.ioctl(s, 0x8922, req))
s.close()
"#,
            expect: |_| EPERM,
            seccomp_blocks: false,
            seccomp_only: never,
            control: Control::Opens,
        },
        Attempt {
            name: "mount cgroup v1 (release_agent)",
            closed_by: "capabilities (no CAP_SYS_ADMIN)",
            harmless: "a mount in the container's private mount namespace of a hierarchy the \
                       host already has (or EBUSY); release_agent is never written",
            setup: Setup::None,
            // CVE-2022-0492: a writable release_agent of a fresh v1 mount runs as host root.
            code: "result = sc('mount', b'cgroup', b'/mnt', b'cgroup', 0, b'cpu')",
            expect: |_| EPERM,
            seccomp_blocks: true,
            seccomp_only: never,
            control: Control::Opens,
        },
        Attempt {
            name: "open kernel.modprobe for writing",
            closed_by: "read-only /proc/sys (absent without CONFIG_MODULES)",
            harmless: "opened for writing, never written",
            setup: Setup::None,
            code: "result = open_only('/proc/sys/kernel/modprobe', os.O_WRONLY)",
            expect: |e| match (e.modules, e.root()) {
                (false, _) => ENOENT,
                (true, true) => EROFS,
                (true, false) => EACCES,
            },
            seccomp_blocks: false,
            seccomp_only: never,
            control: Control::Host(|e| e.modules),
        },
        Attempt {
            name: "open /sys/kernel/uevent_helper for writing",
            closed_by: "read-only /sys (absent without CONFIG_UEVENT_HELPER)",
            harmless: "opened for writing, never written",
            setup: Setup::None,
            code: "result = open_only('/sys/kernel/uevent_helper', os.O_WRONLY)",
            expect: |e| match (e.uevent_helper, e.root()) {
                (false, _) => ENOENT,
                (true, true) => EROFS,
                (true, false) => EROFS_OR_EACCES,
            },
            seccomp_blocks: false,
            seccomp_only: never,
            // A privileged container still sees the host's /sys read-only.
            control: Control::StaysClosed,
        },
        // ----- privileges ---------------------------------------------------------------
        Attempt {
            name: "keep more than Docker's 14 capabilities",
            closed_by: "capabilities (bounding, permitted, effective = Docker's defaults)",
            harmless: "reads /proc/self/status",
            setup: Setup::None,
            code: r#"
sets = {k: int(status(k), 16) for k in ('CapBnd', 'CapPrm', 'CapEff', 'CapInh', 'CapAmb')}
want = dict(CapBnd=DOCKER_CAPS, CapPrm=DOCKER_CAPS, CapEff=DOCKER_CAPS, CapInh=0, CapAmb=0)
result = 'docker-default' if sets == want else ' '.join('%s=%x' % kv for kv in sorted(sets.items()))
"#,
            expect: |_| &["docker-default"],
            seccomp_blocks: false,
            seccomp_only: never,
            control: Control::Opens,
        },
        Attempt {
            name: "run without no_new_privs",
            closed_by: "no_new_privs",
            harmless: "reads /proc/self/status",
            setup: Setup::None,
            code: "result = 'NoNewPrivs=' + status('NoNewPrivs')",
            expect: |_| &["NoNewPrivs=1"],
            seccomp_blocks: false,
            seccomp_only: never,
            control: Control::Opens,
        },
        Attempt {
            name: "setuid-root binary as uid 1000",
            closed_by: "no_new_privs",
            harmless: "a copy of /usr/bin/id in the container's tmpfs that prints its euid",
            setup: Setup::Scratch,
            code: r#"
import shutil
def prep():
    shutil.copy('/usr/bin/id', '/mnt/id')
    os.chown('/mnt/id', 0, 0)
    os.chmod('/mnt/id', 0o4755)
result = tr(prep)
if result != 'ok':
    result = 'prepare ' + result
elif os.statvfs('/mnt').f_flag & os.ST_NOSUID:
    result = 'nosuid-mount'
else:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        os.dup2(w, 1)
        try:
            os.setgroups([])
        except OSError:
            pass
        try:
            os.setresgid(1000, 1000, 1000)
            os.setresuid(1000, 1000, 1000)
        except OSError as e:
            os.write(1, ('setuid-failed:' + ename(e.errno)).encode())
            os._exit(0)
        os.execv('/mnt/id', ['id', '-u'])
    os.close(w)
    out = b''
    while True:
        chunk = os.read(r, 100)
        if not chunk:
            break
        out += chunk
    os.waitpid(pid, 0)
    out = out.decode().strip()
    result = out if out.startswith('setuid-failed') else 'euid=' + out
"#,
            // Root of the unprivileged caller's namespace has no other id to become.
            expect: |e| match e.mode {
                Mode::Root | Mode::Userns => &["euid=1000"],
                Mode::Unprivileged => &["setuid-failed:errno=EINVAL"],
            },
            seccomp_blocks: false,
            seccomp_only: never,
            control: Control::Opens,
        },
        Attempt {
            name: "raw socket with NET_RAW dropped",
            closed_by: "capabilities (cap_drop(NET_RAW))",
            harmless: "a socket in the container's own network namespace (only lo), closed",
            setup: Setup::DropNetRaw,
            code: "result = tr(lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP).close())",
            expect: |_| EPERM,
            seccomp_blocks: false,
            seccomp_only: never,
            control: Control::Opens,
        },
        Attempt {
            name: "packet socket with NET_RAW dropped",
            closed_by: "capabilities (cap_drop(NET_RAW))",
            harmless: "a socket in the container's own network namespace (only lo), closed",
            setup: Setup::DropNetRaw,
            code: "result = tr(lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0).close())",
            expect: |_| EPERM,
            seccomp_blocks: false,
            seccomp_only: never,
            control: Control::Opens,
        },
    ]
}

/// What the suite runs against: paths and numbers passed to every attempt.
struct Fixture {
    host_pid: u32,
    block: PathBuf,
    block_dev: String,
    rootfs: TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let (block, block_dev) = host_disk();
        let rootfs = TempDir::new("hutch-escape-rootfs");
        for d in ["usr", "etc", "proc", "dev", "tmp", "mnt", "sys"] {
            fs::create_dir(rootfs.0.join(d)).unwrap();
        }
        // Debian's merged /usr: the top-level directories are links into it.
        for l in ["bin", "sbin", "lib", "lib64"] {
            if let Ok(target) = fs::read_link(Path::new("/").join(l)) {
                std::os::unix::fs::symlink(target, rootfs.0.join(l)).unwrap();
            }
        }
        fs::write(rootfs.0.join("HUTCH_ROOTFS_MARKER"), b"").unwrap();
        Fixture {
            host_pid: std::process::id(),
            block,
            block_dev,
            rootfs,
        }
    }
}

/// The host's first real disk (`/sys/block`, skipping loop, ram, zram and device-mapper
/// devices), as a path in `/dev` and `major:minor`; `/dev/vda` and `254:0` when there is
/// none, which the container must not have either.
fn host_disk() -> (PathBuf, String) {
    let mut names: Vec<String> = fs::read_dir("/sys/block")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    for n in names {
        if ["loop", "ram", "zram", "dm-", "sr"]
            .iter()
            .any(|p| n.starts_with(p))
        {
            continue;
        }
        let dev = Path::new("/dev").join(&n);
        let Ok(meta) = fs::metadata(&dev) else {
            continue;
        };
        if meta.file_type().is_block_device() {
            let rdev = meta.rdev();
            let major = ((rdev >> 8) & 0xfff) | ((rdev >> 32) & !0xfff);
            let minor = (rdev & 0xff) | ((rdev >> 12) & !0xff);
            return (dev, format!("{major}:{minor}"));
        }
    }
    (PathBuf::from("/dev/vda"), "254:0".to_owned())
}

/// A container for one attempt in one mode; `privileged` is the control run.
fn container_for(a: &Attempt, mode: Mode, fx: &Fixture, privileged: bool) -> Container {
    let mut c = Container::new();
    if mode == Mode::Userns {
        c.user_namespace(true);
    }
    if privileged {
        c.privileged();
    }
    match a.setup {
        Setup::None => {}
        Setup::Scratch => {
            c.tmpfs_with(
                "/mnt",
                TmpfsOptions {
                    size: Some(16 << 20),
                    mode: Some(0o755),
                    nosuid: false,
                    nodev: false,
                    noexec: false,
                },
            );
        }
        Setup::DropNetRaw => {
            if !privileged {
                c.cap_drop(Capability::NetRaw);
            }
        }
        Setup::Rootfs => {
            c.rootfs(&fx.rootfs.0)
                .bind_ro("/usr", "/usr")
                .bind_ro("/etc", "/etc");
        }
        Setup::Init => {
            c.init(true);
        }
        Setup::HostNamespaces => {} // descriptors, passed in `run_attempt`
    }
    c
}

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    /// Refused as expected.
    Denied,
    /// Refused, though only seccomp is meant to close it (the kernel refused anyway here).
    DeniedWithoutSeccomp,
    /// Only seccomp closes it and the container has no filter yet: open, not a failure.
    PendingSeccomp,
    /// Not what the hardened default must give.
    Failed,
}

struct Row {
    name: &'static str,
    closed_by: &'static str,
    harmless: &'static str,
    token: String,
    expected: Vec<&'static str>,
    verdict: Verdict,
    seccomp: String,
}

/// Runs one attempt's program and returns (seccomp mode, result token).
fn run_attempt(a: &Attempt, mode: Mode, fx: &Fixture, privileged: bool) -> (String, String) {
    let c = container_for(a, mode, fx, privileged);
    let script = format!("{PRELUDE}{}{EPILOGUE}", a.code);
    let mut cmd = c.command("/usr/bin/python3");
    if a.setup == Setup::HostNamespaces {
        for (n, ns) in [(3, "mnt"), (4, "net")] {
            let f = fs::File::open(format!("/proc/self/ns/{ns}")).expect("open own namespace");
            cmd.pass_fd(n, f);
        }
    }
    let out = cmd
        .arg("-I")
        .arg("-c")
        .arg(&script)
        .arg(fx.host_pid.to_string())
        .arg(&fx.block)
        .arg(&fx.block_dev)
        .arg(&fx.rootfs.0)
        .arg(format!("{:x}", CapSet::docker_default().bits()))
        .current_dir("/")
        .output()
        .unwrap_or_else(|e| panic!("{}: spawn: {}", a.name, hutch::error_chain(&e)));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut seccomp = "?".to_owned();
    let mut token = None;
    for line in stdout.lines() {
        if let Some(rest) = line.strip_prefix("SECCOMP ") {
            seccomp = rest.split_whitespace().next().unwrap_or("?").to_owned();
        } else if let Some(rest) = line.strip_prefix("RESULT ") {
            token = Some(rest.to_owned());
        }
    }
    let token = token.unwrap_or_else(|| {
        let stderr = String::from_utf8_lossy(&out.stderr);
        format!(
            "no result ({}): {}",
            out.status,
            stderr.lines().last().unwrap_or("").trim()
        )
    });
    (seccomp, token)
}

fn judge(a: &Attempt, env: &Env, seccomp: &str, token: &str) -> (Vec<&'static str>, Verdict) {
    let filtered = seccomp == "2";
    let expected: Vec<&'static str> = if filtered && a.seccomp_blocks {
        EPERM.to_vec()
    } else {
        (a.expect)(env).to_vec()
    };
    let matches = expected.contains(&token);
    let verdict = match ((a.seccomp_only)(env) && !filtered, matches) {
        (true, true) => Verdict::DeniedWithoutSeccomp,
        (true, false) => Verdict::PendingSeccomp,
        (false, true) => Verdict::Denied,
        (false, false) => Verdict::Failed,
    };
    (expected, verdict)
}

/// What the host looks like where an attempt that went through could have changed it.
fn host_state() -> Vec<(String, String)> {
    let mut v = Vec::new();
    for p in [
        "/proc/sys/kernel/hostname",
        "/proc/sys/kernel/domainname",
        "/proc/sys/kernel/core_pattern",
        "/proc/sys/vm/swappiness",
        "/proc/swaps",
    ] {
        v.push((p.to_owned(), fs::read_to_string(p).unwrap_or_default()));
    }
    let meta = fs::metadata("/etc/passwd").unwrap();
    v.push((
        "/etc/passwd".to_owned(),
        format!("{} {} {}", meta.len(), meta.mtime(), meta.mtime_nsec()),
    ));
    v
}

/// One spawn with an init, so that what hutch opens once per process and keeps (the sealed
/// init program) is not counted as a leak.
fn warm_up() {
    let warm = Container::new()
        .init(true)
        .command("/bin/true")
        .output()
        .expect("spawn /bin/true");
    assert!(
        warm.status.success(),
        "/bin/true in a default container: {warm:?}"
    );
}

/// The control run: every attempt in a `privileged()` container, as root. An attempt marked
/// [`Control::Opens`] must not be denied the way the default container denies it (so the
/// suite's denials come from the confinement, and each attempt can fail); one marked
/// [`Control::StaysClosed`] must still be denied the same way.
fn run_control() {
    let env = Env::probe(Mode::Root);
    let fx = Fixture::new();
    let before = host_state();
    warm_up();
    let leaks = Leaks::snapshot();
    let mut table = String::from(
        "control run: privileged() containers\n| attempt | result | denied result | control |\n|---|---|---|---|\n",
    );
    let mut wrong = Vec::new();
    for a in &attempts() {
        let opens = match a.control {
            Control::Opens => true,
            Control::StaysClosed => false,
            Control::Host(f) => f(&env),
            Control::NotRun => {
                writeln!(
                    table,
                    "| {} | (not run: would change the host) | | |",
                    a.name
                )
                .unwrap();
                continue;
            }
        };
        let (seccomp, token) = run_attempt(a, Mode::Root, &fx, true);
        assert_eq!(
            seccomp, "0",
            "{}: a privileged container has no seccomp filter",
            a.name
        );
        let denied = (a.expect)(&env);
        let same = denied.contains(&token.as_str());
        let what = if opens { "opens" } else { "stays closed" };
        writeln!(
            table,
            "| {} | `{token}` | `{}` | {what} |",
            a.name,
            denied.join("` or `")
        )
        .unwrap();
        if same == opens {
            wrong.push(format!("{}: `{token}` ({what} expected)", a.name));
        }
    }
    leaks.assert_none("escape control run");
    assert_eq!(
        host_state(),
        before,
        "the host changed during the control run"
    );
    println!("{table}");
    assert!(
        wrong.is_empty(),
        "privileged() did not change these attempts as expected:\n  {}",
        wrong.join("\n  ")
    );
}

fn run_suite(mode: Mode) {
    let env = Env::probe(mode);
    let fx = Fixture::new();
    let before = host_state();
    warm_up();
    let leaks = Leaks::snapshot();
    let attempts = attempts();
    let mut rows = Vec::new();
    for a in &attempts {
        let (seccomp, token) = run_attempt(a, mode, &fx, false);
        let (expected, verdict) = judge(a, &env, &seccomp, &token);
        rows.push(Row {
            name: a.name,
            closed_by: a.closed_by,
            harmless: a.harmless,
            token,
            expected,
            verdict,
            seccomp,
        });
    }
    leaks.assert_none("escape suite");
    assert_eq!(
        host_state(),
        before,
        "the host changed during the escape suite"
    );

    let mut table = format!(
        "escape suite, mode {mode:?} ({} attempts; host: {env:?})\n\
         | attempt | denied by | result | expected | verdict | harmless because |\n\
         |---|---|---|---|---|---|\n",
        attempts.len()
    );
    for r in &rows {
        let verdict = match r.verdict {
            Verdict::Denied => "denied",
            Verdict::DeniedWithoutSeccomp => "denied (even without seccomp)",
            Verdict::PendingSeccomp => "OPEN (pending seccomp)",
            Verdict::Failed => "FAILED",
        };
        writeln!(
            table,
            "| {} | {} | `{}` | `{}` | {} (Seccomp: {}) | {} |",
            r.name,
            r.closed_by,
            r.token,
            r.expected.join("` or `"),
            verdict,
            r.seccomp,
            r.harmless
        )
        .unwrap();
    }
    println!("{table}");
    let pending: Vec<&str> = rows
        .iter()
        .filter(|r| r.verdict == Verdict::PendingSeccomp)
        .map(|r| r.name)
        .collect();
    if !pending.is_empty() {
        println!(
            "{} attempt(s) are OPEN until the container has a seccomp filter: {}",
            pending.len(),
            pending.join("; ")
        );
    }
    let failed: Vec<String> = rows
        .iter()
        .filter(|r| r.verdict == Verdict::Failed)
        .map(|r| {
            format!(
                "{}: got `{}`, expected `{}`",
                r.name,
                r.token,
                r.expected.join("` or `")
            )
        })
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} escape attempts were not denied as expected (mode {mode:?}):\n  {}",
        failed.len(),
        rows.len(),
        failed.join("\n  ")
    );
}

fn assert_root() {
    // SAFETY: geteuid cannot fail.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(euid, 0, "the escape suite runs as root (CI runs as root)");
}

#[test]
fn escape_suite_as_root() {
    assert_root();
    let _g = exclusive();
    run_suite(Mode::Root);
}

#[test]
fn escape_suite_with_userns() {
    assert_root();
    let _g = exclusive();
    run_suite(Mode::Userns);
}

/// The judging rules on their own, with no container: an attempt only seccomp closes is
/// pending (never denied) without a filter and must be `EPERM` with one; with a filter, every
/// attempt whose call Docker's profile refuses must be `EPERM`, whatever it was before.
#[test]
fn judging_follows_the_seccomp_rules() {
    let env = Env::probe(Mode::Root);
    let all = attempts();
    let find = |name: &str| all.iter().find(|a| a.name == name).unwrap();
    let add_key = find("add_key");
    assert_eq!(judge(add_key, &env, "0", "ok").1, Verdict::PendingSeccomp);
    assert_eq!(
        judge(add_key, &env, "0", "errno=EPERM").1,
        Verdict::DeniedWithoutSeccomp
    );
    assert_eq!(judge(add_key, &env, "2", "ok").1, Verdict::Failed);
    assert_eq!(judge(add_key, &env, "2", "errno=EPERM").1, Verdict::Denied);
    let perf = find("perf_event_open (whole CPU)");
    assert_eq!(judge(perf, &env, "0", "errno=EACCES").1, Verdict::Denied);
    assert_eq!(judge(perf, &env, "2", "errno=EACCES").1, Verdict::Failed);
    assert_eq!(judge(perf, &env, "2", "errno=EPERM").1, Verdict::Denied);
    // A call Docker's profile allows keeps its own errno under a filter.
    let nice = find("nice -20");
    assert_eq!(judge(nice, &env, "2", "errno=EACCES").1, Verdict::Denied);
    assert_eq!(judge(nice, &env, "0", "ok").1, Verdict::Failed);
    // Names are unique: they are the rows of the README's table.
    let mut names: Vec<&str> = all.iter().map(|a| a.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), all.len(), "two attempts share a name");
    assert!(all.len() >= 30);
}

#[test]
fn escape_attempts_get_through_a_privileged_container() {
    assert_root();
    let _g = exclusive();
    run_control();
}

/// Re-runs itself as `nobody` under `setpriv`; the re-run is the unprivileged suite.
#[test]
fn escape_suite_unprivileged() {
    if std::env::var_os("HUTCH_ESCAPE_AS_NOBODY").is_some() {
        // SAFETY: geteuid cannot fail.
        assert_ne!(unsafe { libc::geteuid() }, 0, "not unprivileged");
        let _g = exclusive();
        run_suite(Mode::Unprivileged);
        return;
    }
    assert_root();
    let _g = exclusive();
    let out = std::process::Command::new("setpriv")
        .args(common::as_nobody("escape_suite_unprivileged"))
        .env("HUTCH_ESCAPE_AS_NOBODY", "1")
        .current_dir("/")
        .output()
        .expect("setpriv (util-linux)");
    print!("{}", String::from_utf8_lossy(&out.stdout));
    common::assert_rerun_passed(&out);
}
