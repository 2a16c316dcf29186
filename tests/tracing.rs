//! The `tracing` feature: a spawn emits a span and one event per parent-side step.
//! Run with `cargo test --features tracing --test tracing`.
#![cfg(feature = "tracing")]

use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Collects the `step` field of every event, and the names of spans.
#[derive(Clone, Default)]
struct Collect(Arc<Mutex<Vec<String>>>);

struct StepField<'a>(&'a mut Option<String>);

impl Visit for StepField<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "step" {
            *self.0 = Some(value.to_owned());
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "step" {
            *self.0 = Some(format!("{value:?}"));
        }
    }
}

impl Subscriber for Collect {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        self.0
            .lock()
            .unwrap()
            .push(format!("span {}", span.metadata().name()));
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut step = None;
        event.record(&mut StepField(&mut step));
        if let Some(s) = step {
            self.0.lock().unwrap().push(s);
        }
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[test]
fn a_spawn_reports_its_steps() {
    let c = Collect::default();
    tracing::subscriber::with_default(c.clone(), || {
        let st = hutch::Container::new().command("true").status().unwrap();
        assert!(st.success());
    });
    let seen = c.0.lock().unwrap().clone();
    assert_eq!(seen.first().map(String::as_str), Some("span hutch.spawn"));
    for step in [
        "plan",
        "descriptors",
        "cgroup",
        "prepare",
        "clone",
        "wait for exec",
        "running",
    ] {
        assert!(
            seen.iter().any(|s| s == step),
            "no step {step:?} in {seen:?}"
        );
    }
}

/// With a bridge network, wiring it is a step of its own (in a network namespace this test
/// makes, standing in for the host).
#[test]
fn a_bridge_network_is_a_step_of_its_own() {
    let name = format!("hutch-tr-{}", std::process::id());
    let ip = |args: &[&str]| {
        assert!(
            std::process::Command::new("ip")
                .args(args)
                .status()
                .unwrap()
                .success()
        )
    };
    ip(&["netns", "add", &name]);
    struct Gone(String, std::path::PathBuf);
    impl Drop for Gone {
        fn drop(&mut self) {
            let _ = std::process::Command::new("ip")
                .args(["netns", "del", &self.0])
                .status();
            let _ = std::fs::remove_dir_all(&self.1);
        }
    }
    let state = std::path::PathBuf::from(format!("/var/tmp/{name}-state"));
    let _gone = Gone(name.clone(), state.clone());
    let host = hutch::ns::NsHandle::open_path(format!("/run/netns/{name}")).unwrap();
    let mut cfg = hutch::netns::NetworkConfig::new(format!("tr{}", std::process::id() % 100_000));
    cfg.state_root(&state)
        .subnet("10.123.0.0/24".parse().unwrap())
        .host_netns(std::sync::Arc::new(host));
    let c = Collect::default();
    tracing::subscriber::with_default(c.clone(), || {
        let mut container = hutch::Container::new();
        container.network(hutch::NetworkMode::Bridge(cfg));
        let st = container.command("true").status().unwrap();
        assert!(st.success());
    });
    let seen = c.0.lock().unwrap().clone();
    for step in ["id maps and time offsets", "network", "wait for exec"] {
        assert!(
            seen.iter().any(|s| s == step),
            "no step {step:?} in {seen:?}"
        );
    }
}
