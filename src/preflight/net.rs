//! Networking: nf_tables, veth, bridges, and the rootless helpers.

use super::*;

/// Whether the kernel has a module (built in, loaded, or installed to be loaded).
pub(super) fn module_item(
    id: Id,
    module: &str,
    config: &str,
    release: &str,
    kconfig: Option<&str>,
    what: &str,
) -> Item {
    let mut ev = Vec::new();
    let sys_module = Path::new("/sys/module").join(module);
    let loaded = sys_module.exists();
    ev.push(Evidence::Note(format!(
        "{}: {}",
        sys_module.display(),
        if loaded { "present" } else { "absent" }
    )));
    let cfg = kconfig.map(|k| parse::kconfig(k, config));
    if let Some(v) = cfg {
        ev.push(Evidence::Note(format!(
            "kernel config: {config}={}",
            v.unwrap_or("(not set)")
        )));
    }
    let modules = Path::new("/lib/modules").join(release);
    let mut installed = false;
    for f in ["modules.builtin", "modules.dep"] {
        let p = modules.join(f);
        if let Ok(text) = fs::read_to_string(&p)
            && parse::module_listed(&text, module)
        {
            installed = true;
            ev.push(Evidence::Note(format!("{} lists {module}", p.display())));
        }
    }
    let state = match cfg {
        _ if loaded => State::Ok,
        Some(Some("y" | "m")) => State::Ok,
        _ if installed => State::Ok,
        Some(None) => State::Missing,
        _ => State::Unknown,
    };
    let summary = match state {
        State::Ok if loaded => format!("{what}: available (loaded or built in)"),
        State::Ok => format!("{what}: available (built in or loaded on first use)"),
        State::Missing => format!("{what}: not in this kernel"),
        _ => format!("{what}: not found (no kernel config or module list to go by)"),
    };
    let mut item = Item::new(id, state, summary).evidence(ev);
    if state != State::Ok {
        item.fix = Some(format!(
            "load it (modprobe {module}) or use a kernel built with {config}"
        ));
    }
    item
}

pub(super) fn network_items(release: &str, kconfig: Option<&str>, req: &Requirements) -> Vec<Item> {
    let mut nft = module_item(
        Id::NfTables,
        "nf_tables",
        "CONFIG_NF_TABLES",
        release,
        kconfig,
        "nf_tables",
    );
    let p = sys::probe_netlink_netfilter();
    nft.evidence.push(Evidence::Syscall {
        call: "socket(AF_NETLINK, SOCK_RAW, NETLINK_NETFILTER)",
        outcome: match p {
            Probe::Ret(_) => Outcome::Returned(0),
            e => e.into(),
        },
    });
    if matches!(p, Probe::Errno(_)) && nft.state != State::Ok {
        nft.state = State::Missing;
    }
    let veth = module_item(
        Id::Veth,
        "veth",
        "CONFIG_VETH",
        release,
        kconfig,
        "veth pairs",
    );
    let bridge = module_item(
        Id::Bridge,
        "bridge",
        "CONFIG_BRIDGE",
        release,
        kconfig,
        "Linux bridges",
    );
    let (pasta, _, pasta_ev) = program_evidence("pasta");
    let (slirp, _, slirp_ev) = program_evidence("slirp4netns");
    // The runtime starts `pasta` from PATH (NetworkMode::Pasta); slirp4netns is not used.
    let on_path = host::on_path("pasta");
    let mut rootless = match (&pasta, on_path, &slirp) {
        (Some(p), true, _) => Item::new(
            Id::RootlessNetwork,
            State::Ok,
            format!("rootless networking helper: pasta ({})", p.display()),
        ),
        (Some(p), false, _) => Item::new(
            Id::RootlessNetwork,
            State::Missing,
            format!(
                "pasta is installed at {} but not on PATH, where NetworkMode::Pasta looks for it",
                p.display()
            ),
        )
        .fix(format!(
            "add {} to PATH",
            p.parent().unwrap_or(Path::new("/")).display()
        )),
        (None, _, Some(_)) => Item::new(
            Id::RootlessNetwork,
            State::Missing,
            "only slirp4netns is installed; hutch's rootless networking uses pasta",
        )
        .fix("apt-get install passt (for pasta)"),
        (None, _, None) => Item::new(
            Id::RootlessNetwork,
            State::Missing,
            "pasta is not installed: no rootless networking",
        )
        .fix("apt-get install passt (for pasta)"),
    }
    .evidence([pasta_ev, slirp_ev]);
    // pasta opens the TUN device as the caller: a root-only node (hosts without udev leave
    // it at the kernel's 0600) stops an unprivileged caller's rootless networking.
    rootless = match hutch_netns::check_tun_device() {
        Ok(()) => rootless.evidence([Evidence::Note(format!(
            "{}: the caller can open it for reading and writing",
            hutch_netns::TUN_DEVICE
        ))]),
        Err(e) => {
            let note = Evidence::Note(format!("{e}: {}", e.source));
            if rootless.state == State::Ok {
                rootless.state = State::Missing;
                rootless.summary = format!(
                    "pasta is installed, but the caller cannot open {} ({}), which it needs \
                     for the container's interface",
                    e.path.display(),
                    e.detail
                );
                rootless.fix = Some(e.fix());
            }
            rootless.evidence([note])
        }
    };
    rootless = rootless.required(req.rootless_networking);
    vec![
        nft.required(req.networking),
        veth.required(req.networking),
        bridge.required(req.networking),
        rootless,
    ]
}
