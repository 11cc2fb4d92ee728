//! Training sequences: the corpus tokenized into sequences of content tokens (no CLS/SEP),
//! shuffled in a pool.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::corpus;
use crate::error::{Error, Result};
use crate::text::LosslessTokenizer;

pub struct Batches {
    pub chunks: corpus::Chunks,
    pending: Vec<u32>,
    pool: Vec<Vec<u32>>,
    len: usize,
    pool_size: usize,
    /// the epoch the pooled sequences belong to: the pool never mixes two passes, so a small
    /// corpus is not read many times over to fill it and `--epochs` counts real passes
    epoch: usize,
    /// text read from the next pass while sequences of this one were still pooled
    next_pass: Option<String>,
}

impl Batches {
    /// Sequences of `len` tokens (the last of a pass may be shorter), drawn at random from a
    /// pool of `pool_size`.
    pub fn new(chunks: corpus::Chunks, len: usize, pool_size: usize) -> Self {
        let epoch = chunks.epoch;
        Batches { chunks, pending: Vec::new(), pool: Vec::new(), len, pool_size, epoch, next_pass: None }
    }

    /// Whether every sequence read so far has been handed out.
    pub fn drained(&self) -> bool {
        self.pool.is_empty() && self.pending.is_empty()
    }

    /// Passes over the corpus whose sequences have all been handed out.
    pub fn passes_done(&self) -> usize {
        if self.drained() {
            self.chunks.epoch
        } else {
            self.epoch
        }
    }

    /// The next chunk of text of the pass being pooled; `None` at the end of that pass.
    fn next_text(&mut self) -> Result<Option<String>> {
        match self.next_pass.take() {
            Some(t) if self.chunks.epoch == self.epoch => Ok(Some(t)),
            Some(t) => {
                self.next_pass = Some(t);
                Ok(None)
            }
            None => {
                let t = self.chunks.next_chunk()?;
                if t.is_some() && self.chunks.epoch != self.epoch {
                    if self.drained() {
                        // nothing of the old pass is left (a run resumed at its end)
                        self.epoch = self.chunks.epoch;
                        return Ok(t);
                    }
                    // the reader wrapped: finish this pass first
                    self.next_pass = t;
                    Ok(None)
                } else {
                    Ok(t)
                }
            }
        }
    }

    pub fn next_seq(&mut self, tok: &LosslessTokenizer, rng: &mut ChaCha8Rng) -> Result<Option<Vec<u32>>> {
        if self.drained() {
            self.epoch = self.chunks.epoch;
        }
        while self.pool.len() < self.pool_size {
            while self.pending.len() < self.len {
                let Some(text) = self.next_text()? else { break };
                let enc = tok.inner().encode(text.as_str(), false).map_err(|e| Error::Tokenizer(e.to_string()))?;
                let ph = tok.ids.placeholder;
                self.pending.extend(enc.get_ids().iter().map(|&i| if tok.is_special(i) { ph } else { i }));
            }
            if self.pending.is_empty() {
                break;
            }
            let take = self.len.min(self.pending.len());
            let seq: Vec<u32> = self.pending.drain(..take).collect();
            self.pool.push(seq);
        }
        if self.pool.is_empty() {
            return Ok(None);
        }
        let i = rng.random_range(0..self.pool.len());
        Ok(Some(self.pool.swap_remove(i)))
    }
}
