//! rtnetlink against the kernel, with `ip -j` as the oracle. Every test works in network
//! namespaces it creates; the caller's namespace is only checked, never changed.

mod common;

use common::{TestNs, my_netns};
use hutch_netns::{Cidr, NetlinkError, Op, Route, RtHandle, run_in_netns};

fn cidr(s: &str) -> Cidr {
    s.parse().unwrap()
}

#[test]
fn open_in_leaves_the_caller_where_it_was() {
    let before = my_netns();
    let t = TestNs::new();
    let mut h = RtHandle::open_in(&t.ns).unwrap();
    assert_eq!(my_netns(), before);
    // The handle sees the test namespace: only `lo`.
    let links = h.links().unwrap();
    assert_eq!(links.len(), 1, "{links:?}");
    assert_eq!(links[0].name, "lo");
    assert!(links[0].is_up());
    assert_eq!(h.link_by_name("lo").unwrap().index, links[0].index);
    assert_eq!(h.link_by_index(links[0].index).unwrap().name, "lo");
}

#[test]
fn veth_with_peer_created_in_another_namespace() {
    let a = TestNs::new();
    let b = TestNs::new();
    let mut ha = RtHandle::open_in(&a.ns).unwrap();
    let mut hb = RtHandle::open_in(&b.ns).unwrap();
    let index = ha.add_veth("va", "eth0", Some(&b.ns)).unwrap();
    assert_eq!(a.link("va").unwrap()["ifindex"], index);
    assert!(a.link("eth0").is_none());
    let peer = b.link("eth0").expect("peer made in b");
    assert_eq!(peer["link_type"], "ether");
    let link = ha.link_by_name("va").unwrap();
    assert_eq!(link.kind.as_deref(), Some("veth"));
    assert!(!link.is_up());

    // up/down, MTU, MAC, rename.
    ha.set_up(index).unwrap();
    assert!(
        a.link("va").unwrap()["flags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "UP")
    );
    ha.set_mtu(index, 1400).unwrap();
    assert_eq!(a.link("va").unwrap()["mtu"], 1400);
    ha.set_mac(index, [0x02, 0, 0, 0xaa, 0xbb, 0xcc]).unwrap();
    assert_eq!(a.link("va").unwrap()["address"], "02:00:00:aa:bb:cc");
    assert_eq!(
        ha.link_by_index(index).unwrap().mac,
        Some([2, 0, 0, 0xaa, 0xbb, 0xcc])
    );
    ha.set_down(index).unwrap();
    assert!(!ha.link_by_index(index).unwrap().is_up());
    ha.rename(index, "va-renamed").unwrap();
    assert!(a.link("va-renamed").is_some());
    assert_eq!(ha.find_link("va").unwrap(), None);

    // Deleting one end removes both.
    ha.delete_link(index).unwrap();
    assert_eq!(a.link_names(), ["lo"]);
    assert_eq!(b.link_names(), ["lo"]);
    assert!(!hb.delete_link_by_name("eth0").unwrap());
}

#[test]
fn bridge_enslave_and_move() {
    let a = TestNs::new();
    let b = TestNs::new();
    let mut h = RtHandle::open_in(&a.ns).unwrap();
    let br = h.add_bridge("br0").unwrap();
    assert_eq!(h.link_by_index(br).unwrap().kind.as_deref(), Some("bridge"));
    let v = h.add_veth("v1", "v2", None).unwrap();
    h.set_master(v, Some(br)).unwrap();
    assert_eq!(a.link("v1").unwrap()["master"], "br0");
    assert_eq!(h.link_by_index(v).unwrap().master, Some(br));
    h.set_master(v, None).unwrap();
    assert!(a.link("v1").unwrap().get("master").is_none());

    let v2 = h.link_by_name("v2").unwrap().index;
    h.move_to_netns(v2, &b.ns).unwrap();
    assert!(a.link("v2").is_none());
    assert!(b.link("v2").is_some());
    h.delete_link(v).unwrap();
    h.delete_link(br).unwrap();
    assert_eq!(a.link_names(), ["lo"]);
    assert_eq!(b.link_names(), ["lo"]);
}

#[test]
fn addresses_v4_and_v6() {
    let a = TestNs::new();
    let mut h = RtHandle::open_in(&a.ns).unwrap();
    let v = h.add_veth("v1", "v2", None).unwrap();
    h.set_up(v).unwrap();
    h.add_address(v, cidr("10.1.2.3/24")).unwrap();
    h.add_address(v, cidr("fd00:1::3/64")).unwrap();
    let mut got = a.addrs("v1");
    got.retain(|s| !s.starts_with("fe80"));
    got.sort();
    assert_eq!(got, ["10.1.2.3/24", "fd00:1::3/64"]);
    let mut mine: Vec<String> = h
        .addresses(Some(v))
        .unwrap()
        .iter()
        .map(|a| a.cidr.to_string())
        .filter(|s| !s.starts_with("fe80"))
        .collect();
    mine.sort();
    assert_eq!(mine, got);
    // No DAD: the IPv6 address is not tentative.
    let info = a.ip(&["-6", "addr", "show", "dev", "v1"]);
    let tentative = info[0]["addr_info"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["local"] == "fd00:1::3" && x.get("tentative").is_some());
    assert!(!tentative);

    let e = h.add_address(v, cidr("10.1.2.3/24")).unwrap_err();
    assert_eq!(e.errno(), Some(libc::EEXIST));
    h.delete_address(v, cidr("10.1.2.3/24")).unwrap();
    h.delete_address(v, cidr("fd00:1::3/64")).unwrap();
    assert!(a.addrs("v1").iter().all(|s| s.starts_with("fe80")));
    let e = h.delete_address(v, cidr("10.1.2.3/24")).unwrap_err();
    assert!(
        matches!(
            e,
            NetlinkError::Kernel {
                op: Op::DeleteAddress,
                ..
            }
        ),
        "{e}"
    );
    h.delete_link(v).unwrap();
}

#[test]
fn routes_v4_and_v6() {
    let a = TestNs::new();
    let mut h = RtHandle::open_in(&a.ns).unwrap();
    let v = h.add_veth("v1", "v2", None).unwrap();
    let peer = h.link_by_name("v2").unwrap().index;
    h.set_up(v).unwrap();
    h.set_up(peer).unwrap();
    h.add_address(v, cidr("10.9.0.2/24")).unwrap();
    h.add_address(v, cidr("fd00:9::2/64")).unwrap();

    h.add_route(&Route::default_via("10.9.0.1".parse().unwrap()))
        .unwrap();
    h.add_route(&Route::to(cidr("10.77.0.0/16")).dev(v))
        .unwrap();
    h.add_route(
        &Route::to(cidr("10.78.0.0/16"))
            .via("192.168.5.5".parse().unwrap())
            .dev(v)
            .onlink(),
    )
    .unwrap();
    h.add_route(&Route::default_via("fd00:9::1".parse().unwrap()))
        .unwrap();

    let r4 = a.ip(&["route"]);
    let find = |dst: &str| {
        r4.as_array()
            .unwrap()
            .iter()
            .find(|r| r["dst"] == dst)
            .cloned()
    };
    assert_eq!(find("default").unwrap()["gateway"], "10.9.0.1");
    assert_eq!(find("10.77.0.0/16").unwrap()["dev"], "v1");
    assert_eq!(find("10.77.0.0/16").unwrap()["scope"], "link");
    let onlink = find("10.78.0.0/16").unwrap();
    assert_eq!(onlink["gateway"], "192.168.5.5");
    assert!(
        onlink["flags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "onlink")
    );
    let r6 = a.ip(&["-6", "route"]);
    assert!(
        r6.as_array()
            .unwrap()
            .iter()
            .any(|r| r["dst"] == "default" && r["gateway"] == "fd00:9::1")
    );

    let mine = h.routes(false).unwrap();
    assert!(
        mine.iter()
            .any(|r| r.destination.prefix() == 0 && r.gateway == Some("10.9.0.1".parse().unwrap()))
    );
    assert!(
        mine.iter()
            .any(|r| r.destination == cidr("10.78.0.0/16") && r.onlink)
    );
    let mine6 = h.routes(true).unwrap();
    assert!(mine6.iter().any(|r| r.destination.prefix() == 0 && r.gateway == Some("fd00:9::1".parse().unwrap())));

    let e = h
        .add_route(&Route::default_via("10.9.0.1".parse().unwrap()))
        .unwrap_err();
    assert_eq!(e.errno(), Some(libc::EEXIST));
    // A gateway outside every connected network, without onlink.
    let e = h
        .add_route(&Route::to(cidr("10.79.0.0/16")).via("192.168.6.6".parse().unwrap()))
        .unwrap_err();
    assert!(
        matches!(
            e,
            NetlinkError::Kernel {
                op: Op::AddRoute,
                ..
            }
        ),
        "{e}"
    );

    h.delete_route(&Route::default_via("10.9.0.1".parse().unwrap()))
        .unwrap();
    h.delete_route(&Route::to(cidr("10.77.0.0/16")).dev(v))
        .unwrap();
    h.delete_route(&Route::default_via("fd00:9::1".parse().unwrap()))
        .unwrap();
    let r4 = a.ip(&["route"]);
    assert!(
        r4.as_array()
            .unwrap()
            .iter()
            .all(|r| r["dst"] != "default" && r["dst"] != "10.77.0.0/16")
    );
    let e = h
        .delete_route(&Route::to(cidr("10.77.0.0/16")).dev(v))
        .unwrap_err();
    assert_eq!(e.errno(), Some(libc::ESRCH));
    h.delete_link(v).unwrap();
}

#[test]
fn errors_name_the_operation_the_interface_and_the_errno() {
    let a = TestNs::new();
    let mut h = RtHandle::open_in(&a.ns).unwrap();
    let v = h.add_veth("dup0", "dup1", None).unwrap();
    let e = h.add_veth("dup0", "other", None).unwrap_err();
    assert!(matches!(
        e,
        NetlinkError::Kernel {
            op: Op::CreateVeth,
            ..
        }
    ));
    assert_eq!(e.errno(), Some(libc::EEXIST));
    let text = e.to_string();
    assert!(text.contains("create veth pair dup0"), "{text}");
    let e = h.add_bridge("dup1").unwrap_err();
    assert_eq!(e.errno(), Some(libc::EEXIST));
    assert!(e.to_string().contains("dup1"));
    let e = h.link_by_name("nosuch0").unwrap_err();
    assert_eq!(e.errno(), Some(libc::ENODEV));
    assert!(e.to_string().contains("nosuch0"), "{e}");
    let e = h
        .add_veth("this-name-is-far-too-long", "x", None)
        .unwrap_err();
    assert!(e.errno().is_some(), "{e}");
    let e = h.delete_link(99999).unwrap_err();
    assert_eq!(e.errno(), Some(libc::ENODEV));
    // Nothing half-made was left.
    h.delete_link(v).unwrap();
    assert_eq!(a.link_names(), ["lo"]);
}

#[test]
fn handles_need_a_network_namespace() {
    let uts = hutch_ns::NsHandle::open_self(hutch_ns::Namespace::Uts).unwrap();
    let e = RtHandle::open_in(&uts).unwrap_err();
    assert!(matches!(e, NetlinkError::Namespace { .. }), "{e}");
    assert!(run_in_netns(&uts, || ()).is_err());
}

#[test]
fn many_handles_from_many_threads() {
    let a = TestNs::new();
    std::thread::scope(|s| {
        for t in 0..4 {
            let ns = &a.ns;
            s.spawn(move || {
                let mut h = RtHandle::open_in(ns).unwrap();
                for i in 0..5 {
                    let name = format!("t{t}x{i}");
                    let idx = h.add_veth(&name, &format!("{name}p"), None).unwrap();
                    h.delete_link(idx).unwrap();
                }
            });
        }
    });
    assert_eq!(a.link_names(), ["lo"]);
}
