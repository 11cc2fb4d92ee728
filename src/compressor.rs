//! The pipeline: bytes → blocks → lossless tokens + residual → reveal plan → method →
//! container. The way back is [`crate::decompressor`].

use std::io::{Read, Write};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::coding::select::{Pick, Select};
use crate::coding::{self, Ctx, Method};
use crate::container::{self, payload, Block, Header};
use crate::error::{Error, Result};
use crate::memory;
use crate::model::{batcher, MaskedLm, Model, UNNAMED_MODEL};
use crate::schedule::{Lanes, RevealPlan, Shape};
use crate::text::pos::{self, UPOS};

/// Compression settings; all of them are recorded in the header.
#[derive(Debug, Clone)]
pub struct Options {
    pub method: Method,
    pub plan: RevealPlan,
    /// windows per model call
    pub batch: usize,
    /// mask method: most tokens masked per window, as a fraction
    pub mask_rate: f32,
    /// mask method: how masked tokens are chosen; not recorded, since the decoder infills
    /// whatever the stream marks
    pub select: Select,
    /// `Select::Pos`: the parts of speech that may be masked
    pub pos_classes: Vec<UPOS>,
    /// bytes of input per independently decodable block
    pub block_size: usize,
    /// arith: mix the LM with the adaptive token model
    pub mix: bool,
    /// arith: the adaptive-model version written when `mix` is on (default: the newest)
    pub mix_version: u8,
    /// blocks coded at once, each on its own thread; not recorded, since it never changes
    /// the output (it keeps a GPU busy while CPU threads do the coding)
    pub jobs: usize,
    /// a member whose first block is structured text ([`structured`]) is coded with this plan
    /// instead of `plan` (recorded in the header like any plan, so the decoder needs no
    /// measure)
    pub structured_plan: Option<RevealPlan>,
    /// bytes the blocks in flight may take beyond the loaded model (`--memory`): fewer blocks
    /// are coded at once to stay within it ([`memory::jobs_for`]); not recorded
    pub memory: Option<u64>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            method: Method::Arith,
            plan: RevealPlan {
                window: 32,
                context: 8,
                rounds: 1,
                shape: Shape::Geometric,
                lanes: Lanes::AtMost(32),
                settle: None,
            },
            batch: 32,
            mask_rate: 0.5,
            select: Select::Confidence,
            pos_classes: pos::PAPER_CLASSES.to_vec(),
            block_size: 1 << 20,
            mix: true,
            mix_version: coding::MIX_VERSION,
            jobs: 1,
            structured_plan: None,
            memory: None,
        }
    }
}

/// Figures about one compression run.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Stats {
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub blocks: u64,
    /// blocks coded at once (the request, or fewer where memory is short)
    pub jobs: u64,
    /// the memory coding was counted to take: per block in flight, and once
    /// ([`memory::Need`])
    pub block_bytes: u64,
    pub shared_bytes: u64,
    pub tokens: u64,
    pub exceptions: u64,
    pub masked: u64,
    pub residual_bytes: u64,
    pub tokenize_seconds: f64,
    /// time in model calls (with compression's overlap, partly hidden behind the coding)
    pub model_seconds: f64,
}

impl Stats {
    /// Adds the per-block figures of `o` (not the byte counts, which `compress` keeps).
    fn add(&mut self, o: &Stats) {
        self.blocks += o.blocks;
        self.tokens += o.tokens;
        self.exceptions += o.exceptions;
        self.masked += o.masked;
        self.residual_bytes += o.residual_bytes;
        self.tokenize_seconds += o.tokenize_seconds;
        self.model_seconds += o.model_seconds;
    }
}

/// Hooks for progress and cancellation (Ctrl-C).
pub struct Hooks<'a> {
    pub progress: &'a (dyn Fn(usize) + Sync),
    pub cancel: &'a (dyn Fn() -> bool + Sync),
}

impl Default for Hooks<'_> {
    fn default() -> Self {
        Hooks { progress: &|_| {}, cancel: &|| false }
    }
}

/// DEFLATE (level 1) output of at most this many bits per input byte marks structured text.
/// Measured (docs/RESULTS.md, "Session 11"): logs and CSV 0.9-1.0, very repetitive text 0.5,
/// JSON lines and source code 2.2-2.3, prose 3.0-3.8.
pub const STRUCTURED_BITS: f64 = 1.5;

/// Whether `data` is structured text (logs, tables, templated reports): so repetitive that a
/// fast compressor squeezes it to at most [`STRUCTURED_BITS`] bits per byte. There the
/// adaptive model carries the ratio, and it predicts best when it has seen all the text before
/// each token: with fewer lanes the block's start is coded before the rest.
pub fn structured(data: &[u8]) -> bool {
    use flate2::{write::DeflateEncoder, Compression};
    if data.is_empty() {
        return false;
    }
    let mut e = DeflateEncoder::new(Vec::new(), Compression::fast());
    // writing into a vector cannot fail
    let deflated = e.write_all(data).and_then(|_| e.finish()).map_or(usize::MAX, |v| v.len());
    deflated as f64 * 8.0 <= STRUCTURED_BITS * data.len() as f64
}

/// Reads up to `size` bytes, then cuts after the last newline in the final quarter (so
/// tokenization rarely straddles blocks), else at a UTF-8 boundary. `carry` keeps the rest.
fn next_block<R: Read>(r: &mut R, size: usize, carry: &mut Vec<u8>) -> Result<Vec<u8>> {
    let mut buf = std::mem::take(carry);
    let want = size.saturating_sub(buf.len());
    r.take(want as u64).read_to_end(&mut buf).map_err(|e| Error::io("reading input", e))?;
    if buf.len() < size {
        return Ok(buf);
    }
    let tail_from = size - size / 4;
    let cut = match buf[tail_from..].iter().rposition(|&b| b == b'\n') {
        Some(p) => tail_from + p + 1,
        None => {
            let mut c = buf.len();
            // step back over at most 3 UTF-8 continuation bytes
            for _ in 0..3 {
                if c > 1 && (buf[c - 1] & 0xC0) == 0x80 {
                    c -= 1;
                } else {
                    break;
                }
            }
            if c > 1 && buf[c - 1] >= 0xC0 {
                c -= 1;
            }
            c
        }
    };
    *carry = buf.split_off(cut);
    Ok(buf)
}

pub struct Compressor<'m> {
    pub model: &'m Model,
    pub opts: Options,
}

impl<'m> Compressor<'m> {
    pub fn new(model: &'m Model, opts: Options) -> Result<Self> {
        for plan in std::iter::once(&opts.plan).chain(&opts.structured_plan) {
            plan.validate(model.lm.max_sequence())?;
            plan_fits(model.lm.as_ref(), plan, opts.method)?;
        }
        if !(0.0..=1.0).contains(&opts.mask_rate) {
            return Err(Error::Invalid("--mask-rate must be between 0 and 1".into()));
        }
        if opts.block_size == 0 || opts.block_size > container::MAX_BLOCK {
            return Err(Error::Invalid(format!("block size must be 1..={} bytes", container::MAX_BLOCK)));
        }
        if !(1..=coding::MAX_MIX_VERSION).contains(&opts.mix_version) {
            return Err(Error::Invalid(format!("adaptive-model version must be 1..={}", coding::MAX_MIX_VERSION)));
        }
        if opts.batch == 0 || opts.batch > 1 << 16 {
            return Err(Error::Invalid("batch must be 1..=65536".into()));
        }
        Ok(Compressor { model, opts })
    }

    /// The plan for a member whose first block is `first`: [`Options::structured_plan`] where
    /// that block is [`structured`], else the plan given.
    pub fn plan_for(&self, first: &[u8]) -> RevealPlan {
        match self.opts.structured_plan {
            Some(plan) if structured(first) => plan,
            _ => self.opts.plan,
        }
    }

    pub fn header(&self) -> Header {
        let mut h = Header {
            version: container::VERSION,
            method: self.opts.method,
            plan: self.opts.plan,
            batch: self.opts.batch as u32,
            mix: if self.opts.mix { self.opts.mix_version } else { 0 },
            precision: coding::quantize::PRECISION as u8,
            // the cap only means something to the mask method (and only it stores one)
            mask_rate: if self.opts.method == Method::Mask { self.opts.mask_rate } else { 0.0 },
            block_size: self.opts.block_size as u32,
            model_name: (self.model.name != UNNAMED_MODEL).then(|| self.model.name.clone()),
            fingerprint: self.model.fingerprint.to_vec(),
            numerics: self.model.numerics().to_string(),
        };
        h.version = h.written_version();
        h
    }

    /// Compresses one block into its stored form.
    pub fn compress_block(&self, data: &[u8], hooks: &Hooks, stats: &mut Stats) -> Result<Block> {
        self.compress_block_on(self.model.lm.as_ref(), data, hooks, stats)
    }

    /// [`Self::compress_block`] with the model's calls made through `lm` (the model itself
    /// or a batcher's client of it).
    fn compress_block_on(&self, lm: &dyn MaskedLm, data: &[u8], hooks: &Hooks, stats: &mut Stats) -> Result<Block> {
        let cpu = coding::profile::begin();
        let t = std::time::Instant::now();
        let tok = self.model.tokenizer.encode(data)?;
        stats.tokenize_seconds += t.elapsed().as_secs_f64();
        crate::memory::release_freed();
        let nanos = AtomicU64::new(0);
        let mix = if self.opts.mix { self.opts.mix_version } else { 0 };
        let mut ctx = ctx(self.model, &self.opts.plan, self.opts.batch, mix, hooks, &nanos);
        ctx.lm = lm;
        let coded = match self.opts.method {
            Method::Arith => coding::arith::encode(&ctx, &tok.ids)?,
            Method::Mask => {
                let tagged = match self.opts.select {
                    Select::Pos => Some(pos::tagged_tokens(&self.model.tokenizer, data, &self.opts.pos_classes)?),
                    _ => None,
                };
                let pick = Pick { select: self.opts.select, seed: 0, tagged: tagged.as_deref() };
                let (c, m) = coding::mask::encode(&ctx, &tok.ids, self.opts.mask_rate, &pick)?;
                stats.masked += m as u64;
                c
            }
        };
        let (block, stored_residual) = payload::pack(data, tok.ids.len(), &tok.residual, &coded)?;
        stats.tokens += tok.ids.len() as u64;
        stats.exceptions += tok.exceptions as u64;
        stats.residual_bytes += stored_residual as u64;
        stats.model_seconds += nanos.load(Relaxed) as f64 / 1e9;
        stats.blocks += 1;
        if let Some(cpu) = cpu {
            let model = nanos.load(Relaxed) as f64 / 1e9;
            coding::profile::report("compress", data.len(), tok.ids.len(), model, t.elapsed().as_secs_f64(), cpu);
        }
        Ok(block)
    }

    /// Blocks coded at once: `jobs`, or fewer where they would not fit in the budget
    /// ([`Options::memory`]) or the memory available ([`memory::jobs_for`]); an error where
    /// not even one fits the budget.
    pub fn jobs(&self) -> Result<usize> {
        memory::jobs_for(self.opts.jobs, self.need(), self.opts.memory, memory::available())
    }

    /// The memory coding takes at most, per block in flight and once ([`memory::block_bytes`]).
    pub fn need(&self) -> memory::Need {
        let o = &self.opts;
        let mix = if o.mix && o.method == Method::Arith { o.mix_version } else { 0 };
        let len = o.block_size;
        // `--select pos` tags the whole block with a tokenizer call of its own (its text: an
        // invalid byte becomes three)
        let whole = o.method == Method::Mask && o.select == Select::Pos;
        let tokenized = if whole { 3 * len } else { self.model.tokenizer.piece_bytes(len) };
        memory::Need {
            per_block: memory::block_bytes(mix, self.model.lm.vocab_size(), o.plan.rounds, len, tokenized),
            shared: memory::PROCESS_FIXED as u64,
        }
    }

    /// How many of `batch`'s blocks to code at once within the budget ([`Options::memory`]):
    /// all of them, or fewer where their long pieces ([`crate::text::LosslessTokenizer::longest_piece`],
    /// tokenized one at a time) would not fit beside them; an error where the first alone
    /// does not fit.
    fn fits_of(&self, batch: &[Vec<u8>]) -> Result<usize> {
        let (Some(budget), need) = (self.opts.memory, self.need()) else { return Ok(batch.len()) };
        let mut long = 0u64;
        for (k, data) in batch.iter().enumerate() {
            long = long.max((crate::text::WORK_PER_BYTE * self.model.tokenizer.longest_piece(data)) as u64);
            let total = need.total(k + 1) + long;
            if total > budget {
                if k == 0 {
                    return Err(Error::Memory { need_mb: total.div_ceil(1 << 20), budget_mb: budget >> 20 });
                }
                return Ok(k);
            }
        }
        Ok(batch.len())
    }

    /// Compresses a whole stream into one member. Up to `jobs` blocks are coded at once;
    /// they are written in order, so the output does not depend on `jobs`.
    /// The first block is read before the header is written: it chooses the member's plan
    /// ([`Self::plan_for`]).
    pub fn compress<R: Read, W: Write + ?Sized>(&self, mut input: R, out: &mut W, hooks: &Hooks) -> Result<Stats> {
        let mut carry = Vec::new();
        let first = next_block(&mut input, self.opts.block_size, &mut carry)?;
        let plan = self.plan_for(&first);
        if plan != self.opts.plan {
            let me = Compressor { model: self.model, opts: Options { plan, ..self.opts.clone() } };
            return me.compress_from(first, carry, input, out, hooks);
        }
        self.compress_from(first, carry, input, out, hooks)
    }

    /// [`Self::compress`] with the first block (empty for an empty input) and what was read
    /// after it already read.
    fn compress_from<R: Read, W: Write + ?Sized>(
        &self,
        first: Vec<u8>,
        mut carry: Vec<u8>,
        mut input: R,
        out: &mut W,
        hooks: &Hooks,
    ) -> Result<Stats> {
        let mut stats = Stats::default();
        let wio = |e| Error::io("writing output", e);
        let header = self.header().to_bytes();
        out.write_all(&header).map_err(wio)?;
        let mut written = header.len() as u64;
        let mut total_crc = crc32fast::Hasher::new();
        let jobs = self.jobs()?;
        stats.jobs = jobs as u64;
        (stats.block_bytes, stats.shared_bytes) = (self.need().per_block, self.need().shared);
        // the model's rows in the form the block's adaptive model reads fastest, where the
        // backend makes it (the same file either way)
        let (o, tok) = (&self.opts, &self.model.tokenizer);
        let mix = if o.mix { o.mix_version } else { 0 };
        let ranked = coding::cm::ranked::for_coding(self.model.lm.as_ref(), tok, o.method, mix, o.plan.rounds, true);
        let lm = ranked.as_deref().unwrap_or(self.model.lm.as_ref());
        // blocks read and not yet coded (the first, and those a batch had no memory for)
        let mut waiting: std::collections::VecDeque<Vec<u8>> =
            Some(first).filter(|f| !f.is_empty()).into_iter().collect();
        loop {
            let mut batch: Vec<Vec<u8>> = Vec::with_capacity(jobs);
            batch.extend(waiting.drain(..));
            while batch.len() < jobs {
                let data = next_block(&mut input, self.opts.block_size, &mut carry)?;
                if data.is_empty() {
                    break;
                }
                batch.push(data);
            }
            if batch.is_empty() {
                break;
            }
            let fit = self.fits_of(&batch)?;
            waiting.extend(batch.drain(fit..));
            let blocks = batcher::parallel(lm, &batch, |lm, data| {
                let mut s = Stats::default();
                self.compress_block_on(lm, data, hooks, &mut s).map(|b| (b, s))
            });
            for (data, result) in batch.iter().zip(blocks) {
                let (block, s) = result?;
                total_crc.update(data);
                stats.bytes_in += data.len() as u64;
                stats.add(&s);
                written += container::write_block(out, &block).map_err(wio)?;
            }
        }
        written += container::write_end(out, stats.bytes_in, total_crc.finalize()).map_err(wio)?;
        stats.bytes_out = written;
        Ok(stats)
    }
}

/// What the methods need, for `model` under these header settings.
pub(crate) fn ctx<'a>(
    model: &'a Model,
    plan: &'a RevealPlan,
    batch: usize,
    mix: u8,
    hooks: &'a Hooks,
    model_nanos: &'a AtomicU64,
) -> Ctx<'a> {
    Ctx {
        lm: model.lm.as_ref(),
        plan,
        ids: model.tokenizer.ids,
        tokenizer: &model.tokenizer,
        batch,
        mix,
        cancel: hooks.cancel,
        progress: hooks.progress,
        model_nanos,
    }
}

/// The model a header names: an unnamed one is [`UNNAMED_MODEL`] (the first built-in
/// default), which is how the compressor stores that model ([`Compressor::header`]).
/// A causal model predicts the token after each row, a masked one the token at it: each
/// fits only its own kind of plan, and a causal plan is range-coded.
pub fn plan_fits(lm: &dyn MaskedLm, plan: &RevealPlan, method: Method) -> Result<()> {
    let causal_plan = plan.shape == Shape::Causal;
    if lm.causal() && !causal_plan {
        return Err(Error::Invalid("a causal model needs the causal plan (--shape causal)".into()));
    }
    if causal_plan && !lm.causal() {
        return Err(Error::Invalid("--shape causal needs a causal model (config is_decoder: true)".into()));
    }
    if causal_plan && method != Method::Arith {
        return Err(Error::Invalid("the causal plan codes with --method arith only".into()));
    }
    Ok(())
}

pub fn model_name(h: &Header) -> &str {
    h.model_name.as_deref().unwrap_or(UNNAMED_MODEL)
}

/// `f` over `items`, one scoped thread per item when there are several; results in order.
pub(crate) fn parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    if items.len() <= 1 {
        return items.iter().map(&f).collect();
    }
    std::thread::scope(|s| {
        let handles: Vec<_> = items.iter().map(|it| s.spawn(|| f(it))).collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))).collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines that repeat the line above are structured; prose and random bytes are not.
    #[test]
    fn structured_text_is_told_apart() {
        let log: String = (0..200)
            .map(|i| format!("2025-06-24 14:36:{:02} status installed libfoo{}:amd64 1.{}\n", i % 60, i / 3, i % 7))
            .collect();
        assert!(structured(log.as_bytes()));
        let prose = "Alice was beginning to get very tired of sitting by her sister on the bank, and of having \
            nothing to do: once or twice she had peeped into the book her sister was reading, but it had no \
            pictures or conversations in it, and what is the use of a book, thought Alice, without pictures?";
        assert!(!structured(prose.as_bytes()));
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let noise: Vec<u8> = (0..4096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 32) as u8
            })
            .collect();
        assert!(!structured(&noise));
        assert!(!structured(b""));
    }
}
