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
