//! Token contexts learned once complete (versions 4 and later): each token context instance
//! is learned once, when the last of its tokens and its position's token becomes known, so
//! statistics do not depend on the order the plan reveals tokens in.
//!
//! What a revealed token completes is found at once, but learned only when the next token
//! is coded ([`ContextMix::flush`]), before anything reads the tables again: the same
//! updates in the same order, with their slots fetched from memory meanwhile (the LM's
//! distribution of the next token is prepared in between).

use super::{contexts, ContextMix, UNKNOWN};

/// A token context instance to learn: context `k` with hash `h` learns every decision of the
/// token of rank `rank`.
#[derive(Clone, Copy)]
pub(super) struct Learn {
    k: usize,
    h: u64,
    rank: u32,
}

impl ContextMix {
    /// Whether token context `k` at `j` and `j`'s token are all known.
    fn complete_at(&self, k: usize, j: usize) -> bool {
        let kind = self.p.contexts[k];
        let Some((before, after)) = kind.token_span() else { return false };
        if j < before || j + after >= self.known.len() || self.known[j] == UNKNOWN {
            return false;
        }
        (j - before..=j + after).all(|x| !kind.uses(j, x) || self.known[x] != UNKNOWN)
    }

    /// `known[e]` was just revealed: queues each token context instance that is complete now
    /// and was not coded with complete. Coding learns an instance when it is active and
    /// complete then; otherwise it is learned here.
    pub(super) fn complete(&mut self, e: usize) {
        let n = self.known.len();
        let lay = contexts::Layout::none();
        for k in 0..self.p.contexts.len() {
            let kind = self.p.contexts[k];
            let Some((before, after)) = kind.token_span() else { continue };
            // e itself, when its context was complete but not coded with (inactive)
            if !self.active[k] && self.complete_at(k, e) {
                let h = contexts::hash(kind, e, &self.known, &self.texts, &lay);
                self.queue(Learn { k, h, rank: self.tree.rank(self.known[e]) });
            }
            for j in e.saturating_sub(after)..=(e + before).min(n - 1) {
                if j != e && kind.uses(j, e) && self.complete_at(k, j) {
                    let h = contexts::hash(kind, j, &self.known, &self.texts, &lay);
                    self.queue(Learn { k, h, rank: self.tree.rank(self.known[j]) });
                }
            }
        }
    }

    /// Queues `l` and starts loading the slots of its path.
    fn queue(&mut self, l: Learn) {
        let mut node = 1u32;
        for d in 0..self.tree.bits {
            self.ctx[l.k].prefetch(l.h, node);
            node = 2 * node + ((l.rank >> (self.tree.bits - 1 - d)) & 1);
        }
        self.pending.push(l);
    }

    /// Learns the queued instances, in the order they were queued.
    pub(super) fn flush(&mut self) {
        for j in 0..self.pending.len() {
            let l = self.pending[j];
            self.learn_token(l);
        }
        self.pending.clear();
    }

    fn learn_token(&mut self, l: Learn) {
        let mut node = 1u32;
        for d in 0..self.tree.bits {
            let (_, mid, hi) = self.tree.split(node, d);
            let bit = (l.rank >> (self.tree.bits - 1 - d)) & 1 == 1;
            if mid < hi {
                let r = self.ctx[l.k].read(l.h, node);
                self.ctx[l.k].update(&r, bit);
            }
            node = 2 * node + bit as u32;
        }
    }
}
