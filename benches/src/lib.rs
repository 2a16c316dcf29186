//! Benchmarks of the hutch facade: `cargo bench -p hutch-benches` (as root).
//!
//! A package of its own so that the root package, and with it `cargo run --example run`,
//! does not depend on criterion.
