//! The K/V prefix cache on the GPU. As in the CPU engine's cache (../cache.rs), a causal
//! model's K and V rows depend only on the tokens at and before them, so a sequence that
//! extends an earlier call's sequence needs only its new rows computed; here the earlier rows
//! stay on the device, in one pool of K rows and one of V rows, each divided into slots of
//! `slot_rows` rows per layer. The host keeps which tokens each slot holds.
//!
//! Invariants (asserted where cheap):
//! - a slot's rows `0..tokens.len()` in every layer are the K/V rows of its `tokens`;
//! - `by_tokens` maps a hash of a slot's whole token list to that slot (a lookup compares the
//!   tokens: a hash collision costs reuse, never correctness);
//! - within one call every sequence owns a distinct slot; the copies of shared prefixes run
//!   before any row is written, so a source's rows are read before anything overwrites them
//!   (and what overwrites them is the same integers: the rows of the same tokens).
//!
//! Unlike the CPU cache, a sequence finds only an earlier sequence that it contains whole (the
//! coder's plans extend sequences by a token per call); one that shares just a shorter prefix
//! with it computes from its first token.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

use cudarc::driver::{CudaSlice, PushKernelArg};

use super::forward::{DBatch, KvDest};
use super::ranked::Ranking;
use super::{gpu, CudaLm};
use crate::error::{Error, Result};

/// Device memory for the pools unless `LLMZIP_GPU_KV_MB` says otherwise (and at most half of
/// what is free when they are made).
const POOL_BYTES: usize = 2 << 30;

#[derive(Default)]
struct Slot {
    tokens: Vec<u32>,
    hash: u64,
    /// the call that last wrote or took it (0: free)
    stamp: u64,
}

struct Pool {
    k: CudaSlice<i8>,
    v: CudaSlice<i8>,
    slot_rows: usize,
    slots: Vec<Slot>,
    free: Vec<usize>,
    by_tokens: HashMap<u64, usize>,
    /// (stamp, slot) in the order used: the front is the least recently used (records whose
    /// stamp is no longer the slot's are stale and skipped)
    order: VecDeque<(u64, usize)>,
    calls: u64,
}

/// The cache of one [`CudaLm`]; its pools are made at the first cached call.
#[derive(Default)]
pub(super) struct DevCache {
    pool: Mutex<Option<Pool>>,
    computed: AtomicU64,
    reused: AtomicU64,
    /// nanoseconds spent per phase of the cached calls ([`CudaLm::cache_profile`])
    phases: [AtomicU64; 5],
    calls: AtomicU64,
}

impl DevCache {
    /// Rows computed and rows whose K and V came from the cache, so far.
    pub fn rows(&self) -> (u64, u64) {
        (self.computed.load(Relaxed), self.reused.load(Relaxed))
    }
}

/// The hash of every prefix of `s` (`[i]`: of `s[..=i]`).
fn prefix_hashes(s: &[u32]) -> Vec<u64> {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    s.iter()
        .map(|&t| {
            h = (h ^ (t as u64 + 1)).wrapping_mul(0x0000_0100_0000_01b3).rotate_left(17);
            h
        })
        .collect()
}

/// Adds the time since its last lap to a phase.
struct Clock<'a> {
    last: std::time::Instant,
    phases: &'a [AtomicU64; 5],
}

impl Clock<'_> {
    fn lap(&mut self, phase: usize) {
        let now = std::time::Instant::now();
        self.phases[phase].fetch_add((now - self.last).as_nanos() as u64, Relaxed);
        self.last = now;
    }
}

fn profiling() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("LLMZIP_GPU_PROFILE").is_some_and(|v| v == "1"))
}

/// The first `rows` rows of slot `from` copied to slot `to` (every layer, K and V).
#[derive(Clone, Copy)]
struct PrefixCopy {
    from: usize,
    to: usize,
    rows: usize,
}

/// Where one sequence's rows go this call.
struct Place {
    slot: usize,
    /// the first row computed (the rows before it are in the slot already)
    from: usize,
}

impl Pool {
    fn new(lm: &CudaLm) -> Result<Pool> {
        let slot_rows = lm.max_sequence.min(lm.positions.saturating_sub(lm.position_offset)).max(1);
        let budget = std::env::var("LLMZIP_GPU_KV_MB")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .map_or(POOL_BYTES, |mb| mb << 20);
        let free = lm.stream.context().mem_get_info().map_err(gpu)?.0;
        let per_slot = 2 * slot_rows * lm.hidden * lm.layers.len().max(1);
        let slots = (budget.min(free / 2) / per_slot).clamp(1, 1 << 16);
        let n = slots * slot_rows * lm.hidden * lm.layers.len().max(1);
        Ok(Pool {
            k: lm.alloc(n)?,
            v: lm.alloc(n)?,
            slot_rows,
            slots: (0..slots).map(|_| Slot::default()).collect(),
            free: (0..slots).rev().collect(),
            by_tokens: HashMap::new(),
            order: VecDeque::new(),
            calls: 0,
        })
    }

    /// A slot no sequence of call `stamp` holds: a free one, else the least recently used.
    fn take(&mut self, stamp: u64) -> Result<usize> {
        if let Some(s) = self.free.pop() {
            return Ok(s);
        }
        while let Some((st, s)) = self.order.pop_front() {
            if self.slots[s].stamp != st {
                continue;
            }
            if st == stamp {
                self.order.push_front((st, s));
                break;
            }
            if self.by_tokens.get(&self.slots[s].hash) == Some(&s) {
                self.by_tokens.remove(&self.slots[s].hash);
            }
            return Ok(s);
        }
        Err(Error::Internal("the GPU K/V cache has fewer slots than the call has sequences".into()))
    }

    /// Places every sequence of a call (`limit[i]`: its first selected position, the most
    /// rows it may take from the cache) and lists the prefix copies.
    fn place(&mut self, seqs: &[Vec<u32>], limit: &[usize]) -> Result<(Vec<Place>, Vec<PrefixCopy>)> {
        self.calls += 1;
        let stamp = self.calls;
        let mut places = Vec::with_capacity(seqs.len());
        let mut copies = Vec::new();
        let mut hashes = Vec::with_capacity(seqs.len());
        let mut unmapped = Vec::new();
        for (s, &lim) in seqs.iter().zip(limit) {
            let hs = prefix_hashes(s);
            let found = (1..=s.len()).rev().find_map(|j| {
                let &slot = self.by_tokens.get(&hs[j - 1])?;
                (self.slots[slot].tokens[..] == s[..j]).then_some((slot, j))
            });
            let place = match found {
                Some((slot, j)) if j.min(lim) > 0 => {
                    let from = j.min(lim);
                    if self.slots[slot].stamp != stamp {
                        // this sequence continues the slot's: it takes the slot over
                        unmapped.push((self.slots[slot].hash, slot));
                        Place { slot, from }
                    } else {
                        let to = self.take(stamp)?;
                        copies.push(PrefixCopy { from: slot, to, rows: from });
                        Place { slot: to, from }
                    }
                }
                _ => Place { slot: self.take(stamp)?, from: 0 },
            };
            let sl = &mut self.slots[place.slot];
            sl.stamp = stamp;
            self.order.push_back((stamp, place.slot));
            hashes.push(hs.last().copied().unwrap_or(0));
            places.push(place);
        }
        // the new token lists become findable only now: rows of this call are not computed
        // when its copies run
        for (h, slot) in unmapped {
            if self.by_tokens.get(&h) == Some(&slot) {
                self.by_tokens.remove(&h);
            }
        }
        for ((s, p), h) in seqs.iter().zip(&places).zip(hashes) {
            let sl = &mut self.slots[p.slot];
            sl.tokens.clone_from(s);
            sl.hash = h;
            self.by_tokens.insert(h, p.slot);
        }
        if self.order.len() > 4 * self.slots.len() {
            let slots = &self.slots;
            self.order.retain(|&(st, s)| slots[s].stamp == st);
        }
        Ok((places, copies))
    }
}

impl CudaLm {
    /// Rows a causal model computed and rows whose K and V it took from earlier calls, so far.
    pub fn cache_rows(&self) -> (u64, u64) {
        self.cache.rows()
    }

    /// The cached calls so far and the seconds spent in each phase: waiting for the cache,
    /// placing the sequences (host), launching the kernels (host), the kernels still running
    /// after that (only with `LLMZIP_GPU_PROFILE=1`, which waits for them; else counted in the
    /// next phase), bringing the log-probabilities to the host.
    pub fn cache_profile(&self) -> (u64, [f64; 5]) {
        let p = &self.cache.phases;
        (self.cache.calls.load(Relaxed), std::array::from_fn(|i| p[i].load(Relaxed) as f64 / 1e9))
    }

    /// [`CudaLm::forward`] of a causal model, computing only the rows that no cached sequence
    /// holds; the cache then holds this call's sequences. A call the pools cannot hold (more
    /// sequences than slots, or longer ones) is computed whole.
    pub fn forward_cached(&self, seqs: &[Vec<u32>], sel: &[(usize, usize)]) -> Result<Vec<f32>> {
        Ok(self.forward_cached_parts(seqs, sel, &[sel.len()], None, None)?.pop().unwrap_or_default())
    }

    /// [`CudaLm::forward_cached`] with the rows brought back in parts (`MaskedLm::log_probs_parts`),
    /// in `rank`'s form where given (`known`: the selections' tokens, for path rows).
    pub fn forward_cached_parts(
        &self,
        seqs: &[Vec<u32>],
        sel: &[(usize, usize)],
        parts: &[usize],
        rank: Option<&Ranking>,
        known: Option<&[u32]>,
    ) -> Result<Vec<Vec<f32>>> {
        if !self.causal {
            return Err(Error::Internal("the K/V cache serves causal models only".into()));
        }
        let mut limit: Vec<usize> = seqs.iter().map(Vec::len).collect();
        for &(s, p) in sel {
            if s >= seqs.len() || p >= seqs[s].len() {
                return Err(Error::Internal(format!("selected position ({s}, {p}) is not in the batch")));
            }
            limit[s] = limit[s].min(p);
        }
        for s in seqs {
            if s.len() + self.position_offset > self.positions {
                return Err(Error::Internal(format!("sequence of {} tokens exceeds the model's positions", s.len())));
            }
            if let Some(&t) = s.iter().find(|&&t| t as usize >= self.vocab) {
                return Err(Error::Internal(format!("token id {t} outside the vocabulary")));
            }
        }
        let t0 = std::time::Instant::now();
        let mut guard = self.cache.pool.lock().unwrap_or_else(|e| e.into_inner());
        let mut clock = Clock { last: t0, phases: &self.cache.phases };
        clock.lap(0);
        if guard.is_none() {
            *guard = Some(Pool::new(self)?);
        }
        let pool = guard.as_mut().expect("made above");
        if seqs.len() > pool.slots.len() || seqs.iter().any(|s| s.len() > pool.slot_rows) {
            drop(guard);
            return self.fetch_parts(self.forward_device(seqs, sel)?, parts, rank, known);
        }
        let (places, copies) = pool.place(seqs, &limit)?;
        clock.lap(1);
        self.mark("start")?;
        let out = self.run_cached(pool, seqs, sel, &places, &copies)?;
        let (out, row) = self.shape_rows(out, sel.len(), rank, known)?;
        // queued before the next call's kernels, so that they do not delay this copy
        let landing = self.land(out, sel.len() * row)?;
        self.mark("copy out")?;
        self.settle_marks()?;
        clock.lap(2);
        // the next call (another batcher thread's) may place and launch while this one's
        // results come back
        drop(guard);
        if profiling() {
            self.stream.synchronize().map_err(gpu)?;
            clock.lap(3);
        }
        let probs = self.arrive(landing, parts, row);
        clock.lap(4);
        self.cache.calls.fetch_add(1, Relaxed);
        probs
    }

    /// The device work of a placed call: the prefix copies, the new rows through every layer,
    /// the head at the selected rows.
    fn run_cached(
        &self,
        pool: &mut Pool,
        seqs: &[Vec<u32>],
        sel: &[(usize, usize)],
        places: &[Place],
        copies: &[PrefixCopy],
    ) -> Result<CudaSlice<f32>> {
        let (sr, layers) = (pool.slot_rows, self.layers.len());
        let layer_rows = pool.slots.len() * sr;
        let (mut ids, mut pos, mut at, mut kstart, mut klen, mut first) =
            (vec![], vec![], vec![], vec![], vec![], vec![]);
        for (s, p) in seqs.iter().zip(places) {
            first.push(ids.len());
            for (i, &t) in s.iter().enumerate().skip(p.from) {
                ids.push(t as i32);
                pos.push((self.position_offset + i) as i32);
                at.push((p.slot * sr + i) as i32);
                kstart.push((p.slot * sr) as i32);
                klen.push(i as i32 + 1);
            }
        }
        let rows = ids.len();
        self.cache.computed.fetch_add(rows as u64, Relaxed);
        self.cache.reused.fetch_add(places.iter().map(|p| p.from as u64).sum(), Relaxed);
        let picked: Vec<i32> = sel.iter().map(|&(s, p)| (first[s] + p - places[s].from) as i32).collect();
        let st = &self.stream;
        let qrow: Vec<i32> = (0..rows as i32).collect();
        let longest = klen.iter().copied().max().unwrap_or(0) as usize;
        let u = self.upload(&[&qrow, &kstart, &klen, &at, &ids, &pos, &picked])?;
        self.mark("upload")?;
        if !copies.is_empty() {
            let (mut src, mut dst) = (vec![], vec![]);
            for li in 0..layers {
                for &PrefixCopy { from: a, to: b, rows: n } in copies {
                    for r in 0..n {
                        src.push((li * layer_rows + a * sr + r) as i32);
                        dst.push((li * layer_rows + b * sr + r) as i32);
                    }
                }
            }
            let c = self.upload(&[&src, &dst])?;
            let (d_src, d_dst) = (c.view(0), c.view(1));
            let h32 = self.hidden as i32;
            for buf in [&mut pool.k, &mut pool.v] {
                let mut b = st.launch_builder(&self.f.copy_rows);
                b.arg(buf).arg(&h32).arg(&d_src).arg(&d_dst);
                unsafe { b.launch(Self::rows_cfg(src.len(), 128)) }.map_err(gpu)?;
                self.mark("copy_rows")?;
            }
        }
        let d = DBatch { qrow: u.view(0), kstart: u.view(1), klen: u.view(2), longest };
        let mut kv = KvDest { k: &mut pool.k, v: &mut pool.v, layer_rows, rows: u.view(3) };
        let mut x = self.embed(&u.view(4), &u.view(5), rows)?;
        for (li, l) in self.layers.iter().enumerate() {
            self.layer(l, li, &mut x, rows, &d, Some(&mut kv))?;
        }
        self.head(&x, &u.view(6), picked.len())
    }
}
