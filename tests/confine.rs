//! The hardened default and its knobs, against the real kernel as root: capabilities,
//! no_new_privs, privileged mode, and the same for processes exec'd into a container.

mod common;

use common::shared;
use hutch::{CapSet, Capability, Container, SpawnError, Stdio};

/// `(CapInh, CapPrm, CapEff, CapBnd, CapAmb, NoNewPrivs)` of the program, from its own
/// `/proc/self/status`.
fn status_of(cmd: &mut hutch::Command) -> (u64, u64, u64, u64, u64, u32) {
    let out = cmd.stdout(Stdio::piped()).output().expect("spawn");
    assert!(
        out.status.success(),
        "{:?} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    parse_status(&String::from_utf8_lossy(&out.stdout))
}

fn parse_status(text: &str) -> (u64, u64, u64, u64, u64, u32) {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} in {text}"))
            .trim()
            .to_owned()
    };
    let hex = |name: &str| u64::from_str_radix(&field(name), 16).unwrap();
    (
        hex("CapInh:"),
        hex("CapPrm:"),
        hex("CapEff:"),
        hex("CapBnd:"),
        hex("CapAmb:"),
        field("NoNewPrivs:").parse().unwrap(),
    )
}

const DOCKER: u64 = 0xa80425fb;

#[test]
fn a_default_container_has_exactly_dockers_capabilities_and_no_new_privs() {
    let _g = shared();
    let c = Container::new();
    let st = status_of(c.command("cat").arg("/proc/self/status"));
    assert_eq!(st, (0, DOCKER, DOCKER, DOCKER, 0, 1));
    assert_eq!(CapSet::docker_default().bits(), DOCKER);
}

#[test]
fn the_same_in_a_user_namespace_and_for_exec() {
    let _g = shared();
    let mut c = Container::new();
    c.user_namespace(true);
    let st = status_of(c.command("cat").arg("/proc/self/status"));
    assert_eq!(st, (0, DOCKER, DOCKER, DOCKER, 0, 1));
    let mut child = Container::new().command("sleep").arg("30").spawn().unwrap();
    let st = status_of(child.exec("cat").arg("/proc/self/status"));
    assert_eq!(st, (0, DOCKER, DOCKER, DOCKER, 0, 1), "exec'd process");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn cap_drop_and_cap_add() {
    let _g = shared();
    let mut c = Container::new();
    c.cap_drop(Capability::NetRaw).cap_add(Capability::NetAdmin);
    let want = DOCKER & !(1 << 13) | (1 << 12);
    let st = status_of(c.command("cat").arg("/proc/self/status"));
    assert_eq!(st, (0, want, want, want, 0, 1));
    // Without NET_RAW a raw socket is refused.
    let out = c
        .command("python3")
        .arg("-c")
        .arg("import socket\ntry:\n socket.socket(socket.AF_INET, socket.SOCK_RAW, 1)\nexcept PermissionError as e:\n print(e.errno)")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        libc::EPERM.to_string()
    );
    let mut none = Container::new();
    none.cap_drop_all();
    let st = status_of(none.command("cat").arg("/proc/self/status"));
    assert_eq!(st, (0, 0, 0, 0, 0, 1));
}

#[test]
fn a_non_root_user_gets_added_capabilities_as_ambient() {
    let _g = shared();
    let mut c = Container::new();
    c.cap_add(Capability::NetBindService);
    let nbs = 1u64 << 10;
    let st = status_of(
        c.command("cat")
            .arg("/proc/self/status")
            .uid(1000)
            .gid(1000),
    );
    assert_eq!(st, (nbs, nbs, nbs, DOCKER, nbs, 1));
    // With the default set only, a non-root program has none.
    let st = status_of(
        Container::new()
            .command("cat")
            .arg("/proc/self/status")
            .uid(1000),
    );
    assert_eq!(st, (0, 0, 0, DOCKER, 0, 1));
}

#[test]
fn no_new_privs_can_be_turned_off() {
    let _g = shared();
    let mut c = Container::new();
    c.no_new_privs(false);
    let st = status_of(c.command("cat").arg("/proc/self/status"));
    assert_eq!(st.5, 0);
}

#[test]
fn privileged_keeps_every_capability_of_the_caller() {
    let _g = shared();
    let mine = parse_status(&std::fs::read_to_string("/proc/self/status").unwrap());
    let mut c = Container::new();
    c.privileged();
    let st = status_of(c.command("cat").arg("/proc/self/status"));
    assert_eq!(st, (0, mine.3, mine.3, mine.3, 0, 0));
}

#[test]
fn a_capability_the_caller_lacks_is_a_clear_error() {
    // This machine's bounding set may lack some capability (CAP_SYS_RESOURCE here): asking
    // for one that is missing names it.
    let _g = shared();
    let mine = parse_status(&std::fs::read_to_string("/proc/self/status").unwrap());
    let Some(missing) = (0..=40u8).find(|n| mine.3 & (1 << n) == 0) else {
        println!("the caller has every capability: nothing to test");
        return;
    };
    let cap = Capability::from_number(missing).unwrap();
    let mut c = Container::new();
    c.cap_add(cap);
    let err = c.command("true").spawn().unwrap_err();
    assert!(matches!(err, SpawnError::Capabilities(_)), "{err:?}");
    let msg = hutch::error_chain(&err);
    assert!(msg.contains(cap.name()), "{msg}");
}

#[test]
fn host_keeps_the_callers_capabilities() {
    let _g = shared();
    let mine = parse_status(&std::fs::read_to_string("/proc/self/status").unwrap());
    let st = status_of(Container::host().command("cat").arg("/proc/self/status"));
    assert_eq!((st.2, st.3, st.5), (mine.2, mine.3, 0));
}
