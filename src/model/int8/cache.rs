//! The K/V prefix cache of causal models. In a causal model a row's residual stream, and so
//! its K and V in every layer, depend only on the tokens at and before it, and the engine
//! computes each of them by the same integer code whatever the batch: the K and V rows of an
//! earlier call's sequence serve every later sequence that starts with the same tokens, bit
//! for bit. A coder that extends each lane's sequence by a token per call then computes about
//! one new row per lane and call instead of the whole sequence.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use super::Engine;
use crate::error::{Error, Result};

/// The cache keeps the sequences of the last this many calls, at most this many times the
/// largest call's bytes: calls from several streams interleave (a decoder splits each call's
/// lanes into parts, [`crate::coding::overlap`]; blocks run on threads of their own), and each
/// stream's sequences must outlive the other streams' calls until it continues them, while
/// the sequences no lane continues (those it hopped from) go.
const KEEP_CALLS: usize = 8;
/// Bytes of K and V kept at most beyond the latest call's (which are always kept).
const SPARE_BYTES: usize = 512 << 20;

/// One sequence of an earlier call: its tokens and, per layer, every row's int8 K and V.
struct Entry {
    /// the number of the call that wrote it
    call: u64,
    tokens: Vec<u32>,
    k: Vec<Vec<i8>>,
    v: Vec<Vec<i8>>,
}

impl Entry {
    fn bytes(&self) -> usize {
        self.k.iter().chain(&self.v).map(Vec::len).sum()
    }
}

/// The sequences of the latest calls, the latest first.
#[derive(Default)]
pub struct KvCache {
    entries: Mutex<Vec<Arc<Entry>>>,
    /// the most bytes of K and V one call has written
    largest_call: AtomicU64,
    /// calls stored so far
    calls: AtomicU64,
    /// rows computed and rows taken from the cache, over every call
    computed: AtomicU64,
    reused: AtomicU64,
}

/// Where one sequence's computation starts: the entry its first rows come from.
struct Start {
    from: usize,
    source: Option<Arc<Entry>>,
}

fn common_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

impl KvCache {
    /// Rows computed and rows whose K and V came from the cache, so far.
    pub fn rows(&self) -> (u64, u64) {
        (self.computed.load(Relaxed), self.reused.load(Relaxed))
    }

    /// For each sequence, the entry sharing its longest prefix of tokens; the rows from the
    /// first selected one on are computed whatever the cache holds. An entry whose tokens a
    /// sequence holds in full leaves the cache (that sequence continues it); one that shares
    /// only a shorter prefix stays for the stream that continues it.
    fn starts(&self, seqs: &[Vec<u32>], sel: &[(usize, usize)]) -> Vec<Start> {
        let mut first_sel: Vec<usize> = seqs.iter().map(Vec::len).collect();
        for &(s, p) in sel {
            first_sel[s] = first_sel[s].min(p);
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let mut continued = vec![false; entries.len()];
        let starts = seqs
            .iter()
            .zip(first_sel)
            .map(|(s, limit)| {
                let shared = entries.iter().enumerate().map(|(i, e)| {
                    let n = common_prefix(&e.tokens, s);
                    (n.min(limit), n, std::cmp::Reverse(i))
                });
                match shared.max().filter(|&(from, ..)| from > 0) {
                    Some((from, n, std::cmp::Reverse(i))) => {
                        continued[i] |= n == entries[i].tokens.len();
                        Start { from, source: Some(Arc::clone(&entries[i])) }
                    }
                    None => Start { from: 0, source: None },
                }
            })
            .collect();
        let mut i = 0;
        entries.retain(|_| {
            i += 1;
            !continued[i - 1]
        });
        starts
    }

    /// Keeps this call's sequences, and the latest earlier ones within the budget (the list is
    /// in the order written, so the first one too old or too many ends it).
    fn store(&self, fresh: Vec<Entry>) {
        let written: usize = fresh.iter().map(Entry::bytes).sum();
        let largest = self.largest_call.fetch_max(written as u64, Relaxed).max(written as u64) as usize;
        let mut spare = (KEEP_CALLS * largest).min(SPARE_BYTES).saturating_sub(written);
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let call = self.calls.fetch_add(1, Relaxed);
        let old = std::mem::take(&mut *entries);
        entries.extend(fresh.into_iter().map(|e| Arc::new(Entry { call, ..e })));
        for e in old {
            if e.bytes() > spare || call - e.call >= KEEP_CALLS as u64 {
                break;
            }
            spare -= e.bytes();
            entries.push(e);
        }
    }
}

impl Start {
    /// The K and V rows before `from` of every layer, for the sequence `tokens`: the source
    /// entry's own buffers when no other sequence shares them.
    fn into_entry(self, tokens: &[u32], layers: usize, h: usize) -> Entry {
        let keep = self.from * h;
        let cap = tokens.len() * h;
        match self.source.map(Arc::try_unwrap) {
            Some(Ok(mut e)) => {
                e.k.iter_mut().chain(&mut e.v).for_each(|x| x.truncate(keep));
                e.tokens = tokens.to_vec();
                e
            }
            Some(Err(e)) => {
                let copy = |x: &Vec<i8>| {
                    let mut y = Vec::with_capacity(cap);
                    y.extend_from_slice(&x[..keep]);
                    y
                };
                Entry {
                    call: 0,
                    tokens: tokens.to_vec(),
                    k: e.k.iter().map(copy).collect(),
                    v: e.v.iter().map(copy).collect(),
                }
            }
            None => Entry {
                call: 0,
                tokens: tokens.to_vec(),
                k: (0..layers).map(|_| Vec::with_capacity(cap)).collect(),
                v: (0..layers).map(|_| Vec::with_capacity(cap)).collect(),
            },
        }
    }
}

impl Engine {
    /// [`Engine::forward`] of a causal model, computing only the rows that no cached sequence
    /// holds (module docs); the cache then holds this call's sequences.
    pub fn forward_cached(&self, seqs: &[Vec<u32>], sel: &[(usize, usize)], cache: &KvCache) -> Result<Vec<f32>> {
        if !self.causal {
            return Err(Error::Internal("the K/V cache serves causal models only".into()));
        }
        for &(s, pos) in sel {
            if s >= seqs.len() || pos >= seqs[s].len() {
                return Err(Error::Internal(format!("selected position ({s}, {pos}) is not in the batch")));
            }
        }
        let starts = cache.starts(seqs, sel);
        let h = self.p.hidden;
        let from: Vec<usize> = starts.iter().map(|s| s.from).collect();
        // the new rows of every sequence, side by side: sequence s's start at first[s]
        let mut first = Vec::with_capacity(seqs.len());
        let mut rows = 0;
        for (s, &f) in seqs.iter().zip(&from) {
            first.push(rows);
            rows += s.len() - f;
        }
        cache.computed.fetch_add(rows as u64, Relaxed);
        cache.reused.fetch_add(from.iter().sum::<usize>() as u64, Relaxed);
        let mut x = vec![0i32; rows * h];
        self.embed(seqs, Some(&from), &mut x)?;
        let layers = self.p.layers.len();
        let mut fresh: Vec<Entry> = starts.into_iter().zip(seqs).map(|(st, s)| st.into_entry(s, layers, h)).collect();
        let mut picked: Vec<i32> = sel.iter().flat_map(|&(s, p)| row(&x, h, first[s] + p - from[s])).copied().collect();
        for li in 0..layers {
            let (q, k, v) = self.qkv(li, &x);
            for (s, e) in fresh.iter_mut().enumerate() {
                let new = first[s] * h..(first[s] + seqs[s].len() - from[s]) * h;
                e.k[li].extend_from_slice(&k[new.clone()]);
                e.v[li].extend_from_slice(&v[new]);
            }
            // the last layer's attention and feed-forward only matter at the selected rows
            let queries: Vec<(usize, usize)> = if li + 1 < layers {
                (0..seqs.len()).flat_map(|s| (from[s]..seqs[s].len()).map(move |p| (s, p))).collect()
            } else {
                sel.to_vec()
            };
            let ctx = self.attend_new(li, &q, &queries, &first, &from, &fresh);
            if li + 1 < layers {
                self.feed_forward(li, &mut x, &ctx);
            } else {
                picked = sel.iter().flat_map(|&(s, p)| row(&x, h, first[s] + p - from[s])).copied().collect();
                self.feed_forward(li, &mut picked, &ctx);
            }
        }
        let out = self.head(&picked);
        cache.store(fresh);
        Ok(out)
    }

    /// Attention contexts (int8 rows in query order) of the `queries` ((sequence, position)
    /// pairs, all at new rows) over each sequence's keys and values in `kv`'s last layer.
    fn attend_new(
        &self,
        li: usize,
        q: &[i8],
        queries: &[(usize, usize)],
        first: &[usize],
        from: &[usize],
        kv: &[Entry],
    ) -> Vec<i8> {
        let h = self.p.hidden;
        super::forward::by_sequence(kv.len(), h, queries, |s, pos| {
            let qs: Vec<i8> = pos.iter().flat_map(|&p| row(q, h, first[s] + p - from[s])).copied().collect();
            self.attend(li, &qs, pos, &kv[s].k[li], &kv[s].v[li])
        })
    }
}

fn row<T>(x: &[T], h: usize, r: usize) -> &[T] {
    &x[r * h..(r + 1) * h]
}
