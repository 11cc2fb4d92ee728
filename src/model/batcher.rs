//! One model call for several blocks: blocks coded at once (`--jobs`) each make their own
//! small calls; a [`Batcher`] thread gathers the calls pending from all blocks into one call
//! of the wrapped model and routes each block its rows back. Only for a model whose rows do
//! not depend on their batch ([`MaskedLm::batch_invariant`]): each block then gets the very
//! log-probabilities of its own call, so the output does not depend on how calls were merged.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::{Architecture, MaskedLm};
use crate::error::{Error, Result};

/// How long a gathered call waits for blocks that have no call pending yet, unless
/// `LLMZIP_BATCH_LINGER_US` says otherwise: long enough for a block's model thread to hand in
/// its next call, short beside one call of the model (on an H100 with the K/V cache, 16 MiB
/// at `-j16`: 84.3 s at 300 us against 93.4 s at 2 ms).
const LINGER: Duration = Duration::from_micros(300);

struct Request {
    seqs: Vec<Vec<u32>>,
    sel: Vec<(usize, usize)>,
    /// the selections' tokens, when the client knows them ([`MaskedLm::log_probs_known`])
    known: Option<Vec<u32>>,
    reply: mpsc::Sender<Result<Vec<f32>>>,
    /// when the client queued it
    queued: Instant,
}

#[derive(Default)]
struct State {
    queue: Vec<Request>,
    /// clients that may still make calls
    open: usize,
    /// requests taken by an engine thread and not yet answered (their clients cannot call)
    in_flight: usize,
    stop: bool,
    /// engine calls made and requests they served (for `-v`)
    calls: u64,
    served: u64,
}

/// Merges the calls of its [`Client`]s; [`Batcher::run`] is its thread.
pub struct Batcher<'a> {
    inner: &'a dyn MaskedLm,
    state: Mutex<State>,
    wake: Condvar,
    linger: Duration,
    /// nanoseconds summed over requests: from queued to answered, from queued to taken by an
    /// engine thread, and in their engine call (`LLMZIP_PROFILE=1` prints them)
    times: [AtomicU64; 3],
}

impl<'a> Batcher<'a> {
    pub fn new(inner: &'a dyn MaskedLm) -> Self {
        let linger = std::env::var("LLMZIP_BATCH_LINGER_US")
            .ok()
            .and_then(|v| v.parse().ok())
            .map_or(LINGER, Duration::from_micros);
        Batcher { inner, state: Mutex::new(State::default()), wake: Condvar::new(), linger, times: Default::default() }
    }

    /// Whether batching applies to `lm` with `jobs` blocks at once: the rows of a batch
    /// invariant model, several blocks, and a model that asks for it
    /// ([`MaskedLm::merges_calls`]: the GPU engine with its K/V cache) or
    /// `LLMZIP_BATCH_BLOCKS=1` (`=0` turns it off). Not for the CPU engine by default: on 2
    /// cores it already spreads one call over both, and on an H100 without the K/V cache
    /// sixteen blocks' own concurrent calls coded 2.8 times faster than their merged calls
    /// (docs/RESULTS.md, "Session 7"); with the cache, merged calls coded 16 MiB at `-j16` in
    /// 63.6 s against 170.1 s ("Session 10").
    pub fn applies(lm: &dyn MaskedLm, blocks: usize) -> bool {
        let asked = std::env::var_os("LLMZIP_BATCH_BLOCKS");
        blocks > 1 && lm.batch_invariant() && asked.map_or(lm.merges_calls(), |v| v == "1")
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new client, counted as open until it is dropped or [`Client::done`].
    pub fn client(&self) -> Client<'_, 'a> {
        self.lock().open += 1;
        Client { batcher: self, closed: AtomicBool::new(false) }
    }

    /// Ends [`Batcher::run`] once the calls queued are answered.
    pub fn stop(&self) {
        self.lock().stop = true;
        self.wake.notify_all();
    }

    /// (engine calls, block calls served) so far.
    pub fn counts(&self) -> (u64, u64) {
        let s = self.lock();
        (s.calls, s.served)
    }

    /// Mean milliseconds a request took so far: from queued to answered, waiting to be taken,
    /// in its engine call (the rest: handing the rows back to the client's thread).
    pub fn request_ms(&self) -> [f64; 3] {
        let served = self.counts().1.max(1) as f64;
        std::array::from_fn(|i| self.times[i].load(Ordering::Relaxed) as f64 / served / 1e6)
    }

    /// An engine thread of the batcher: waits for calls, gathers those of every open client
    /// that is not waiting on another engine thread's call (or what came within the linger
    /// time after the first) and makes them as one call. Several such threads may run: while
    /// one waits for its call's results, another places and launches the next call.
    pub fn run(&self) {
        loop {
            let mut s = self.lock();
            while s.queue.is_empty() && !s.stop {
                s = self.wake.wait(s).unwrap_or_else(|p| p.into_inner());
            }
            if s.queue.is_empty() {
                return;
            }
            let first = Instant::now();
            while s.queue.len() + s.in_flight < s.open && !s.stop {
                let left = self.linger.saturating_sub(first.elapsed());
                if left.is_zero() {
                    break;
                }
                s = self.wake.wait_timeout(s, left).unwrap_or_else(|p| p.into_inner()).0;
            }
            let batch = std::mem::take(&mut s.queue);
            let n = batch.len();
            s.calls += 1;
            s.served += n as u64;
            s.in_flight += n;
            drop(s);
            let taken = Instant::now();
            let waited: u128 = batch.iter().map(|r| (taken - r.queued).as_nanos()).sum();
            self.times[1].fetch_add(waited as u64, Ordering::Relaxed);
            self.answer(batch);
            self.times[2].fetch_add(taken.elapsed().as_nanos() as u64 * n as u64, Ordering::Relaxed);
            self.lock().in_flight -= n;
        }
    }

    /// Makes the requests' calls as one and sends each its rows. When the merged call fails,
    /// each request is made alone, so that each gets its own answer or error.
    fn answer(&self, batch: Vec<Request>) {
        if batch.len() == 1 {
            let _ = batch[0].reply.send(self.alone(&batch[0]));
            return;
        }
        let mut seqs = Vec::with_capacity(batch.iter().map(|r| r.seqs.len()).sum());
        let mut sel = Vec::with_capacity(batch.iter().map(|r| r.sel.len()).sum());
        // the selections' tokens where every request knows its own
        let mut known = batch.iter().all(|r| r.known.is_some()).then(|| Vec::with_capacity(sel.capacity()));
        for r in &batch {
            let base = seqs.len();
            sel.extend(r.sel.iter().map(|&(s, p)| (base + s, p)));
            seqs.extend(r.seqs.iter().cloned());
            if let (Some(all), Some(k)) = (&mut known, &r.known) {
                all.extend_from_slice(k);
            }
        }
        let parts: Vec<usize> = batch.iter().map(|r| r.sel.len()).collect();
        let inner = self.inner;
        let got = match (fetch_in_parts(), &known) {
            (true, Some(k)) => inner.log_probs_parts_known(&seqs, &sel, &parts, k),
            (true, None) => inner.log_probs_parts(&seqs, &sel, &parts),
            (false, k) => {
                let all = match k {
                    Some(k) => inner.log_probs_known(&seqs, &sel, k),
                    None => inner.log_probs(&seqs, &sel),
                };
                crate::model::split_parts(all, inner.rows().len(inner.vocab_size()), &parts)
            }
        };
        match got {
            Ok(lps) if lps.len() == batch.len() => {
                for (r, lp) in batch.into_iter().zip(lps) {
                    // a client that stopped waiting (an error or Ctrl-C in its block) hung up
                    let _ = r.reply.send(Ok(lp));
                }
            }
            _ => {
                for r in batch {
                    let _ = r.reply.send(self.alone(&r));
                }
            }
        }
    }

    /// One request's call on its own.
    fn alone(&self, r: &Request) -> Result<Vec<f32>> {
        match &r.known {
            Some(k) => self.inner.log_probs_known(&r.seqs, &r.sel, k),
            None => self.inner.log_probs(&r.seqs, &r.sel),
        }
    }
}

/// Whether merged calls bring each block's rows back separately (`LLMZIP_BATCH_PARTS=0`: in
/// one piece, then split; for comparing).
fn fetch_in_parts() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("LLMZIP_BATCH_PARTS").is_none_or(|v| v != "0"))
}

/// How many engine threads make merged calls (`LLMZIP_BATCH_THREADS`, default 2): with two, a
/// GPU call's kernels are launched while the call before it brings its results back.
fn engine_threads() -> usize {
    std::env::var("LLMZIP_BATCH_THREADS").ok().and_then(|v| v.parse().ok()).unwrap_or(2).clamp(1, 8)
}

/// One block's view of the model: its calls go through the [`Batcher`].
pub struct Client<'b, 'a> {
    batcher: &'b Batcher<'a>,
    closed: AtomicBool,
}

impl Client<'_, '_> {
    /// This client makes no more calls: the batcher stops waiting for it.
    pub fn done(&self) {
        if !self.closed.swap(true, Ordering::Relaxed) {
            self.batcher.lock().open -= 1;
            self.batcher.wake.notify_all();
        }
    }
}

impl Drop for Client<'_, '_> {
    fn drop(&mut self) {
        self.done();
    }
}

impl MaskedLm for Client<'_, '_> {
    fn vocab_size(&self) -> usize {
        self.batcher.inner.vocab_size()
    }
    fn max_sequence(&self) -> usize {
        self.batcher.inner.max_sequence()
    }
    fn numerics(&self) -> &str {
        self.batcher.inner.numerics()
    }
    fn architecture(&self) -> Architecture {
        self.batcher.inner.architecture()
    }
    fn batch_invariant(&self) -> bool {
        self.batcher.inner.batch_invariant()
    }
    fn causal(&self) -> bool {
        self.batcher.inner.causal()
    }
    fn merges_calls(&self) -> bool {
        self.batcher.inner.merges_calls()
    }
    fn rows(&self) -> crate::model::RowForm {
        self.batcher.inner.rows()
    }
    fn log_probs(&self, seqs: &[Vec<u32>], sel: &[(usize, usize)]) -> Result<Vec<f32>> {
        self.call(seqs, sel, None)
    }
    fn log_probs_known(&self, seqs: &[Vec<u32>], sel: &[(usize, usize)], known: &[u32]) -> Result<Vec<f32>> {
        self.call(seqs, sel, Some(known))
    }
}

impl Client<'_, '_> {
    /// Hands the call to the batcher and waits for its rows.
    fn call(&self, seqs: &[Vec<u32>], sel: &[(usize, usize)], known: Option<&[u32]>) -> Result<Vec<f32>> {
        if sel.is_empty() {
            return Ok(Vec::new());
        }
        let (tx, rx) = mpsc::channel();
        let known = known.map(<[u32]>::to_vec);
        let queued = Instant::now();
        self.batcher.lock().queue.push(Request { seqs: seqs.to_vec(), sel: sel.to_vec(), known, reply: tx, queued });
        self.batcher.wake.notify_all();
        let got = rx.recv().map_err(|_| Error::Internal("model batcher stopped".into()))?;
        self.batcher.times[0].fetch_add(queued.elapsed().as_nanos() as u64, Ordering::Relaxed);
        got
    }
}

/// `f(lm, item)` for each of `items`, each on its own thread, results in order; `lm` is the
/// model as the item sees it: a [`Client`] of one batcher thread when batching
/// [`applies`](Batcher::applies), else `inner` itself.
pub fn parallel<T: Sync, R: Send>(
    inner: &dyn MaskedLm,
    items: &[T],
    f: impl Fn(&dyn MaskedLm, &T) -> R + Sync,
) -> Vec<R> {
    if !Batcher::applies(inner, items.len()) {
        return crate::compressor::parallel(items, |it| f(inner, it));
    }
    let batcher = Batcher::new(inner);
    // every client is open before any block starts, so the first calls are gathered too
    let clients: Vec<Client> = items.iter().map(|_| batcher.client()).collect();
    let work: Vec<(&T, &Client)> = items.iter().zip(&clients).collect();
    let out = std::thread::scope(|s| {
        for _ in 0..engine_threads() {
            s.spawn(|| batcher.run());
        }
        // stops the batcher threads even when a block's thread panics, or the scope would wait
        // for it forever
        let _stop = Stop(&batcher);
        crate::compressor::parallel(&work, |&(it, client)| {
            let r = f(client, it);
            client.done();
            r
        })
    });
    if crate::coding::profile::enabled() {
        let (calls, served) = batcher.counts();
        let [total, waiting, call] = batcher.request_ms();
        eprintln!(
            "profile: {} blocks' {served} model calls made as {calls} engine calls; a call took {total:.3} ms \
             from queued to answered: {waiting:.3} ms waiting for an engine thread, {call:.3} ms in the engine call",
            items.len()
        );
    }
    out
}

struct Stop<'b, 'a>(&'b Batcher<'a>);

impl Drop for Stop<'_, '_> {
    fn drop(&mut self) {
        self.0.stop();
    }
}

#[cfg(test)]
mod tests;
