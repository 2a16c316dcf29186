//! Spawn tracing (feature `tracing`): one `hutch.spawn` span per spawn, and one event per
//! parent-side step with the time it took. Nothing is recorded in the child, which must not
//! allocate or lock. Without the feature these are empty inline functions: no code, no cost.

#[cfg(feature = "tracing")]
pub(crate) struct SpawnTrace {
    span: tracing::span::EnteredSpan,
    last: std::time::Instant,
    start: std::time::Instant,
}

#[cfg(feature = "tracing")]
impl SpawnTrace {
    pub(crate) fn start(program: &std::ffi::OsStr, joining: bool) -> SpawnTrace {
        let span = tracing::debug_span!(
            "hutch.spawn",
            program = %program.to_string_lossy(),
            exec_into_container = joining
        )
        .entered();
        let now = std::time::Instant::now();
        SpawnTrace {
            span,
            last: now,
            start: now,
        }
    }

    /// Records that `step` has just finished.
    pub(crate) fn step(&mut self, step: &'static str) {
        let now = std::time::Instant::now();
        tracing::debug!(
            step,
            micros = (now - self.last).as_micros() as u64,
            since_start_micros = (now - self.start).as_micros() as u64,
            "hutch spawn step"
        );
        self.last = now;
    }

    pub(crate) fn done(mut self, pid: i32) {
        self.step("running");
        tracing::debug!(pid, "hutch spawn done");
        drop(self.span);
    }
}

#[cfg(not(feature = "tracing"))]
pub(crate) struct SpawnTrace;

#[cfg(not(feature = "tracing"))]
impl SpawnTrace {
    #[inline(always)]
    pub(crate) fn start(_program: &std::ffi::OsStr, _joining: bool) -> SpawnTrace {
        SpawnTrace
    }

    #[inline(always)]
    pub(crate) fn step(&mut self, _step: &'static str) {}

    #[inline(always)]
    pub(crate) fn done(self, _pid: i32) {}
}
