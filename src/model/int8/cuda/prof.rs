//! `LLMZIP_GPU_PROFILE=kernels`: the GPU time of each kind of launch. An event with timing
//! is recorded after every launch (and one at the start of each cached call); the time
//! between two consecutive events is the work launched between them. Each cached call then
//! waits for its work before the next may launch, so no other call's work falls between a
//! call's events: the totals are the GPU's own time per kernel, though the calls no longer
//! overlap (a measuring mode, not a fast one).

use std::collections::BTreeMap;
use std::sync::Mutex;

use cudarc::driver::sys::CUevent_flags;
use cudarc::driver::CudaEvent;

use super::{gpu, CudaLm};
use crate::error::Result;

/// The marks of the call being launched and the totals so far.
#[derive(Default)]
pub(super) struct KernelClock {
    marks: Mutex<Vec<(&'static str, CudaEvent)>>,
    /// name → (launches, milliseconds)
    totals: Mutex<BTreeMap<&'static str, (u64, f64)>>,
}

/// Whether kernels are timed (`LLMZIP_GPU_PROFILE=kernels`).
pub(super) fn kernels() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("LLMZIP_GPU_PROFILE").is_some_and(|v| v == "kernels"))
}

impl CudaLm {
    /// Records that the work launched since the last mark was `what`.
    pub(super) fn mark(&self, what: &'static str) -> Result<()> {
        if !kernels() {
            return Ok(());
        }
        let ev = self.stream.record_event(Some(CUevent_flags::CU_EVENT_DEFAULT)).map_err(gpu)?;
        self.kclock.marks.lock().unwrap_or_else(|e| e.into_inner()).push((what, ev));
        Ok(())
    }

    /// Waits for the call's work and adds the time between its marks to the totals.
    pub(super) fn settle_marks(&self) -> Result<()> {
        if !kernels() {
            return Ok(());
        }
        self.stream.synchronize().map_err(gpu)?;
        let marks = std::mem::take(&mut *self.kclock.marks.lock().unwrap_or_else(|e| e.into_inner()));
        let mut totals = self.kclock.totals.lock().unwrap_or_else(|e| e.into_inner());
        for w in marks.windows(2) {
            let ms = w[0].1.elapsed_ms(&w[1].1).map_err(gpu)? as f64;
            let t = totals.entry(w[1].0).or_default();
            t.0 += 1;
            t.1 += ms;
        }
        Ok(())
    }

    /// The totals as lines, the most expensive first.
    pub(super) fn kernel_report(&self) -> Vec<String> {
        let totals = self.kclock.totals.lock().unwrap_or_else(|e| e.into_inner());
        let all: f64 = totals.values().map(|t| t.1).sum();
        let mut v: Vec<_> = totals.iter().collect();
        v.sort_by(|a, b| b.1 .1.total_cmp(&a.1 .1));
        v.into_iter()
            .map(|(name, &(n, ms))| {
                format!(
                    "profile GPU kernel {name:<14} {n:>8} launches {:>10.1} ms {:>5.1}% {:>8.1} us each",
                    ms,
                    100.0 * ms / all.max(1e-9),
                    1000.0 * ms / n.max(1) as f64
                )
            })
            .collect()
    }
}
