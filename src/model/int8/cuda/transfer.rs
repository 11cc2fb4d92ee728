//! Moving data between host and device for a call: its index arrays up in one buffer, its
//! log-probabilities back through page-locked memory without stopping the stream.

use cudarc::driver::{CudaSlice, CudaView};

use super::ranked::Ranking;
use super::{gpu, CudaLm};
use crate::error::Result;

impl CudaLm {
    /// The head's log-probabilities (`n × vocab`) brought to the host.
    pub(super) fn fetch(&self, out: CudaSlice<f32>, n: usize) -> Result<Vec<f32>> {
        Ok(self.fetch_parts(out, &[n], None, None)?.pop().unwrap_or_default())
    }

    /// The same in parts of `parts[i]` rows, each straight into a vector of its own; in
    /// `rank`'s form where given (`known`: the selections' tokens, for path rows).
    pub(super) fn fetch_parts(
        &self,
        out: CudaSlice<f32>,
        parts: &[usize],
        rank: Option<&Ranking>,
        known: Option<&[u32]>,
    ) -> Result<Vec<Vec<f32>>> {
        let n = parts.iter().sum();
        let (out, row) = self.shape_rows(out, n, rank, known)?;
        let landing = self.land(out, n * row)?;
        self.arrive(landing, parts, row)
    }

    /// Starts bringing the first `total` values of `out` to the host: into a page-locked buffer
    /// (one transfer at the link's speed, queued behind the call's kernels, the host not
    /// waiting), or, where the memory cannot be locked or `LLMZIP_GPU_PINNED=0`, left for
    /// [`CudaLm::arrive`] to copy the slower way. Only the stream's order links the copy to
    /// the kernels, so a cached call queues it before the next call may launch.
    pub(super) fn land(&self, out: CudaSlice<f32>, total: usize) -> Result<Landing> {
        use cudarc::driver::DevicePtr;
        if !super::pinned() || total == 0 {
            return Ok(Landing::Device(out));
        }
        let mut buf = {
            let mut pool = self.pinned.lock().unwrap_or_else(|e| e.into_inner());
            match pool.iter().position(|b| b.len() >= total) {
                Some(i) => pool.swap_remove(i),
                None => {
                    // one buffer per call in flight: a smaller one makes room for this size
                    pool.pop();
                    drop(pool);
                    // cacheable (flags 0): the host reads it back, which write-combined memory
                    // makes slow
                    // SAFETY: the transfer below writes every value read from it
                    match unsafe { self.stream.context().alloc_pinned_with_flags::<f32>(total, 0) } {
                        Ok(p) => p,
                        Err(_) => return Ok(Landing::Device(out)),
                    }
                }
            }
        };
        // a copy into the whole buffer would move the buffer's length, not the call's
        let dst = &mut buf.as_mut_slice().map_err(gpu)?[..total];
        let (src, record) = out.device_ptr(&self.stream);
        // the copy on a stream of its own, after the call's kernels, overlaps the next call's
        let on = if super::copier() {
            let ready = self.stream.record_event(None).map_err(gpu)?;
            self.copier.wait(&ready).map_err(gpu)?;
            &self.copier
        } else {
            &self.stream
        };
        // SAFETY: `dst` is page-locked and stays alive (in the landing) until `done` has passed;
        // `out` is freed in the stream's order after the copy, or (copier) kept in the landing
        // until the host has seen `done`
        unsafe { cudarc::driver::result::memcpy_dtoh_async(dst, src, on.cu_stream()) }.map_err(gpu)?;
        drop(record);
        let flags = super::blocking().then_some(cudarc::driver::sys::CUevent_flags::CU_EVENT_BLOCKING_SYNC);
        let done = on.record_event(flags).map_err(gpu)?;
        let keep = super::copier().then_some(out);
        Ok(Landing::Pinned { buf, done, total, on_device: keep })
    }

    /// Waits for a landing and hands out its rows (of `v` values) in parts of `parts[i]` rows,
    /// each copied out on its own thread; the page-locked buffer goes back for the next call.
    pub(super) fn arrive(&self, landing: Landing, parts: &[usize], v: usize) -> Result<Vec<Vec<f32>>> {
        use rayon::prelude::*;
        let mut spans = Vec::with_capacity(parts.len());
        let mut at = 0;
        for &n in parts {
            spans.push(at * v..(at + n) * v);
            at += n;
        }
        match landing {
            Landing::Device(out) => spans
                .into_iter()
                .map(|r| {
                    let mut o = vec![0f32; r.len()];
                    if !r.is_empty() {
                        self.stream.memcpy_dtoh(&out.slice(r), &mut o).map_err(gpu)?;
                    }
                    Ok(o)
                })
                .collect(),
            Landing::Pinned { buf, done, total, on_device } => {
                done.synchronize().map_err(gpu)?;
                // the rows on the device (kept while another stream copied them) go only now
                drop(on_device);
                let host = &buf.as_slice().map_err(gpu)?[..total];
                let o = spans.into_par_iter().map(|r| host[r].to_vec()).collect();
                self.pinned.lock().unwrap_or_else(|e| e.into_inner()).push(buf);
                Ok(o)
            }
        }
    }
}

/// A call's log-probabilities on their way to the host ([`CudaLm::land`]).
pub(super) enum Landing {
    /// still on the device
    Device(CudaSlice<f32>),
    /// coming into a page-locked buffer: `done` passes once the first `total` values are there
    Pinned {
        buf: cudarc::driver::PinnedHostSlice<f32>,
        done: cudarc::driver::CudaEvent,
        total: usize,
        /// the rows on the device while another stream copies them
        on_device: Option<CudaSlice<f32>>,
    },
}

/// A call's index arrays, uploaded as one buffer: one small transfer and one allocation a
/// call instead of one per array.
pub(super) struct Packed {
    buf: CudaSlice<i32>,
    spans: Vec<std::ops::Range<usize>>,
}

impl Packed {
    /// Array `i` of those given to [`CudaLm::upload`].
    pub fn view(&self, i: usize) -> CudaView<'_, i32> {
        self.buf.slice(self.spans[i].clone())
    }
}

impl CudaLm {
    /// `parts` on the device, one after the other in one buffer.
    pub(super) fn upload(&self, parts: &[&[i32]]) -> Result<Packed> {
        let mut host = Vec::with_capacity(parts.iter().map(|p| p.len()).sum::<usize>().max(1));
        let mut spans = Vec::with_capacity(parts.len());
        for p in parts {
            spans.push(host.len()..host.len() + p.len());
            host.extend_from_slice(p);
        }
        if host.is_empty() {
            // no zero-length allocation; nothing reads it
            host.push(0);
        }
        if !super::pinned() {
            return Ok(Packed { buf: self.stream.clone_htod(&host).map_err(gpu)?, spans });
        }
        Ok(Packed { buf: self.upload_pinned(&host)?, spans })
    }

    /// `host` on the device through a page-locked staging buffer: from pageable memory the
    /// driver stages the copy itself, which held each call's stream ~50 µs on one H100
    /// (LLMZIP_GPU_PROFILE=kernels, session 13). A staging buffer is written again only after
    /// the event recorded behind its last copy has passed.
    fn upload_pinned(&self, host: &[i32]) -> Result<CudaSlice<i32>> {
        use cudarc::driver::DevicePtrMut;
        let n = host.len();
        let taken = {
            let mut pool = self.staging.lock().unwrap_or_else(|e| e.into_inner());
            pool.iter().position(|(b, _)| b.len() >= n).map(|i| pool.swap_remove(i))
        };
        let (mut stage, last) = match taken {
            Some(t) => t,
            // SAFETY: every value copied from it is written first (below)
            None => match unsafe { self.stream.context().alloc_pinned_with_flags::<i32>(n.next_power_of_two(), 0) } {
                Ok(p) => (p, None),
                Err(_) => return self.stream.clone_htod(host).map_err(gpu),
            },
        };
        if let Some(ev) = last {
            ev.synchronize().map_err(gpu)?;
        }
        let src = &mut stage.as_mut_slice().map_err(gpu)?[..n];
        src.copy_from_slice(host);
        let mut dev = self.alloc::<i32>(n)?;
        let (dst, record) = dev.device_ptr_mut(&self.stream);
        // SAFETY: `src` is page-locked and is not written again before `copied` has passed
        unsafe { cudarc::driver::result::memcpy_htod_async(dst, &*src, self.stream.cu_stream()) }.map_err(gpu)?;
        drop(record);
        let copied = self.stream.record_event(None).map_err(gpu)?;
        self.staging.lock().unwrap_or_else(|e| e.into_inner()).push((stage, Some(copied)));
        Ok(dev)
    }
}
