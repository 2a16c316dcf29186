//! The nf_tables encoder against the kernel, with `nft -j list ruleset` as the oracle.

mod common;

use common::TestNs;
use hutch_netns::Cidr;
use hutch_netns::nft::consts::*;
use hutch_netns::nft::{Batch, CmpOp, Expr, Hook, NftHandle, matches};

fn sample_batch() -> Batch {
    let mut b = Batch::new();
    let fam = NFPROTO_IPV4;
    b.add_table(fam, "t");
    b.add_chain(
        fam,
        "t",
        "post",
        Some(Hook {
            hook: NF_INET_POST_ROUTING,
            priority: 100,
            kind: "nat",
        }),
    );
    b.add_chain(
        fam,
        "t",
        "pre",
        Some(Hook {
            hook: NF_INET_PRE_ROUTING,
            priority: -100,
            kind: "nat",
        }),
    );
    b.add_chain(
        fam,
        "t",
        "guard",
        Some(Hook {
            hook: NF_INET_PRE_ROUTING,
            priority: -300,
            kind: "filter",
        }),
    );
    let net: Cidr = "10.88.0.0/16".parse().unwrap();
    let mut masq = matches::ipv4_addr_in(true, net);
    masq.extend(matches::oifname(CmpOp::Neq, "br0"));
    masq.extend([Expr::Counter, Expr::Masq]);
    b.add_rule(fam, "t", "post", &masq);
    let mut dnat = matches::daddr_is_local();
    dnat.extend(matches::l4_dport(6, 8080));
    dnat.extend(matches::dnat_v4("10.88.0.2".parse().unwrap(), 80));
    b.add_rule(fam, "t", "pre", &dnat);
    let mut drop = matches::iifname(CmpOp::Eq, "br0");
    drop.extend(matches::ipv4_addr_in(false, "127.0.0.0/8".parse().unwrap()));
    drop.push(Expr::Verdict {
        code: NF_DROP,
        chain: None,
    });
    b.add_rule(fam, "t", "guard", &drop);
    let mut hairpin = matches::ct_status_dnat();
    hairpin.push(Expr::Masq);
    b.add_rule(fam, "t", "post", &hairpin);
    b
}

#[test]
fn batch_is_accepted_and_nft_reads_it_back() {
    let ns = TestNs::new();
    let mut h = NftHandle::open_in(&ns.ns).unwrap();
    h.apply(&sample_batch(), "sample").unwrap();
    let text = ns.sh(&["nft", "list", "ruleset"]);
    println!("{text}");
    let json = ns.nft_ruleset();
    let items = json["nftables"].as_array().unwrap();
    let rules: Vec<&serde_json::Value> = items.iter().filter_map(|i| i.get("rule")).collect();
    assert_eq!(rules.len(), 4, "{text}");
    assert!(text.contains("ct status dnat masquerade"), "{text}");
    assert!(
        text.contains(
            "ip saddr 10.88.0.0/16 oifname != \"br0\" counter packets 0 bytes 0 masquerade"
        ),
        "{text}"
    );
    assert!(
        text.contains("fib daddr type local tcp dport 8080 dnat to 10.88.0.2:80"),
        "{text}"
    );
    assert!(
        text.contains("iifname \"br0\" ip daddr 127.0.0.0/8 drop"),
        "{text}"
    );
    let chains = h.chains(NFPROTO_IPV4).unwrap();
    let mut names: Vec<_> = chains
        .iter()
        .filter(|c| c.table == "t")
        .map(|c| c.name.as_str())
        .collect();
    names.sort();
    assert_eq!(names, ["guard", "post", "pre"]);

    // Removing a chain with its rules, then the table.
    let mut del = Batch::new();
    del.delete_chain(NFPROTO_IPV4, "t", "pre");
    h.apply(&del, "delete").unwrap();
    assert!(!ns.sh(&["nft", "list", "ruleset"]).contains("dnat to"));
    let mut del = Batch::new();
    del.delete_table(NFPROTO_IPV4, "t");
    h.apply(&del, "delete").unwrap();
    assert_eq!(ns.sh(&["nft", "list", "ruleset"]).trim(), "");
}

#[test]
fn a_failing_batch_applies_nothing() {
    let ns = TestNs::new();
    let mut h = NftHandle::open_in(&ns.ns).unwrap();
    let mut b = Batch::new();
    b.add_table(NFPROTO_IPV4, "t2");
    b.add_chain(NFPROTO_IPV4, "t2", "c", None);
    b.delete_chain(NFPROTO_IPV4, "t2", "missing");
    let e = h.apply(&b, "bad batch").unwrap_err();
    assert_eq!(e.errno(), Some(libc::ENOENT), "{e}");
    assert!(e.to_string().contains("bad batch"), "{e}");
    assert_eq!(ns.sh(&["nft", "list", "ruleset"]).trim(), "");
    // The socket is still usable and in sync.
    let mut ok = Batch::new();
    ok.add_table(NFPROTO_IPV4, "t3");
    h.apply(&ok, "ok").unwrap();
    ok.delete_table(NFPROTO_IPV4, "t3");
    let mut del = Batch::new();
    del.delete_table(NFPROTO_IPV4, "t3");
    h.apply(&del, "del").unwrap();
    assert_eq!(ns.sh(&["nft", "list", "ruleset"]).trim(), "");
}
