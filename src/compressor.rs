//! The pipeline: bytes → blocks → lossless tokens + residual → reveal plan → method →
//! container; and back.

use std::io::{Read, Write};

use flate2::{read::DeflateDecoder, write::DeflateEncoder, Compression};

use crate::coding::{self, Ctx, Method};
use crate::container::{self, Block, Header, Record};
use crate::error::{Error, Result};
use crate::model::Model;
use crate::schedule::{RevealPlan, Shape};
use crate::text::varint;

/// Compression settings; all of them are recorded in the header.
#[derive(Debug, Clone)]
pub struct Options {
    pub method: Method,
    pub plan: RevealPlan,
    /// windows per model call
    pub batch: usize,
    /// mask method: most tokens masked per window, as a fraction
    pub mask_rate: f32,
    /// bytes of input per independently decodable block
    pub block_size: usize,
    /// arith: mix the LM with the adaptive token model
    pub mix: bool,
    /// arith: the adaptive-model version written when `mix` is on (default: the newest)
    pub mix_version: u8,
    /// blocks coded at once, each on its own thread; not recorded, since it never changes
    /// the output (#7: keeps a GPU busy while CPU threads do the coding)
    pub jobs: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            method: Method::Arith,
            plan: RevealPlan { window: 32, context: 8, rounds: 1, shape: Shape::Geometric, lanes: 32 },
            batch: 32,
            mask_rate: 0.5,
            block_size: 1 << 20,
            mix: true,
            mix_version: coding::MIX_VERSION,
            jobs: 1,
        }
    }
}

/// Figures about one compression run.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Stats {
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub blocks: u64,
    pub tokens: u64,
    pub exceptions: u64,
    pub masked: u64,
    pub residual_bytes: u64,
    pub tokenize_seconds: f64,
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

/// The serialized residual with no patches, no exceptions and no trailer (docs/FORMAT.md).
const EMPTY_RESIDUAL: [u8; 3] = [0, 0, 0];

fn deflate(data: &[u8]) -> Result<Vec<u8>> {
    let mut e = DeflateEncoder::new(Vec::new(), Compression::best());
    e.write_all(data).map_err(|e| Error::io("deflate", e))?;
    e.finish().map_err(|e| Error::io("deflate", e))
}

fn inflate(data: &[u8], limit: u64) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    DeflateDecoder::new(data)
        .take(limit + 1)
        .read_to_end(&mut out)
        .map_err(|_| Error::corrupt("bad residual stream"))?;
    if out.len() as u64 > limit {
        return Err(Error::corrupt("residual larger than its block"));
    }
    Ok(out)
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
        opts.plan.validate(model.lm.max_sequence())?;
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

    pub fn header(&self) -> Header {
        Header {
            version: container::VERSION,
            method: self.opts.method,
            plan: self.opts.plan,
            batch: self.opts.batch as u32,
            mix: if self.opts.mix { self.opts.mix_version } else { 0 },
            precision: coding::quantize::PRECISION as u8,
            // the cap only means something to the mask method (and only it stores one)
            mask_rate: if self.opts.method == Method::Mask { self.opts.mask_rate } else { 0.0 },
            block_size: self.opts.block_size as u32,
            model_name: self.model.name.clone(),
            fingerprint: self.model.fingerprint.to_vec(),
            numerics: self.model.numerics.clone(),
        }
    }

    /// Compresses one block into its stored form.
    pub fn compress_block(&self, data: &[u8], hooks: &Hooks, stats: &mut Stats) -> Result<Block> {
        let t = std::time::Instant::now();
        let tok = self.model.tokenizer.encode(data)?;
        stats.tokenize_seconds += t.elapsed().as_secs_f64();
        let residual = deflate(&tok.residual)?;
        let ctx = Ctx {
            lm: self.model.lm.as_ref(),
            plan: &self.opts.plan,
            ids: self.model.tokenizer.ids,
            tokenizer: &self.model.tokenizer,
            batch: self.opts.batch,
            mix: if self.opts.mix { self.opts.mix_version } else { 0 },
            cancel: hooks.cancel,
            progress: hooks.progress,
        };
        let coded = match self.opts.method {
            Method::Arith => coding::arith::encode(&ctx, &tok.ids)?,
            Method::Mask => {
                let (c, m) = coding::mask::encode(&ctx, &tok.ids, self.opts.mask_rate)?;
                stats.masked += m as u64;
                c
            }
        };
        let mut payload = Vec::with_capacity(residual.len() + coded.len() + 8);
        let payload_residual = if tok.residual == EMPTY_RESIDUAL {
            // no patches, exceptions or trailer (the usual case): a zero length, not the ~5
            // bytes DEFLATE needs to say nothing (#4: small files)
            payload.push(0);
            0
        } else {
            varint::put(&mut payload, residual.len() as u64);
            payload.extend_from_slice(&residual);
            residual.len()
        };
        payload.extend_from_slice(&coded);
        stats.tokens += tok.ids.len() as u64;
        stats.exceptions += tok.exceptions as u64;
        stats.residual_bytes += payload_residual as u64;
        stats.blocks += 1;
        Ok(Block { orig_len: data.len() as u32, n_tokens: tok.ids.len() as u32, crc: crc32fast::hash(data), payload })
    }

    /// Compresses a whole stream into one member. Up to `jobs` blocks are coded at once;
    /// they are written in order, so the output does not depend on `jobs`.
    pub fn compress<R: Read, W: Write + ?Sized>(&self, mut input: R, out: &mut W, hooks: &Hooks) -> Result<Stats> {
        let mut stats = Stats::default();
        let wio = |e| Error::io("writing output", e);
        let header = self.header().to_bytes();
        out.write_all(&header).map_err(wio)?;
        let mut written = header.len() as u64;
        let mut carry = Vec::new();
        let mut total_crc = crc32fast::Hasher::new();
        let jobs = self.opts.jobs.max(1);
        loop {
            let mut batch = Vec::with_capacity(jobs);
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
            let blocks = parallel(&batch, |data| {
                let mut s = Stats::default();
                self.compress_block(data, hooks, &mut s).map(|b| (b, s))
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

/// `f` over `items`, one scoped thread per item when there are several; results in order.
fn parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    if items.len() <= 1 {
        return items.iter().map(&f).collect();
    }
    std::thread::scope(|s| {
        let handles: Vec<_> = items.iter().map(|it| s.spawn(|| f(it))).collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))).collect()
    })
}

pub struct Decompressor<'m> {
    pub model: &'m Model,
    pub header: Header,
    /// blocks decoded at once (see `Options::jobs`)
    pub jobs: usize,
}

impl<'m> Decompressor<'m> {
    /// Checks that `model` is the one the member was made with, before any output.
    pub fn new(model: &'m Model, header: Header) -> Result<Self> {
        // version 2 stores a 16-byte prefix of the fingerprint, version 1 all of it
        if !model.fingerprint.starts_with(&header.fingerprint) || header.fingerprint.len() < container::FINGERPRINT_V2 {
            return Err(Error::ModelMismatch {
                file_model: header.model_name.clone(),
                file_fp: crate::model::hex(&header.fingerprint[..8]),
                given_model: model.name.clone(),
                given_fp: crate::model::hex(&model.fingerprint[..8]),
            });
        }
        // CPU and CUDA kernels round differently (measured, #7): refuse before any work
        if header.numerics != model.numerics {
            return Err(Error::Numerics { file: header.numerics.clone(), ours: model.numerics.clone() });
        }
        header.plan.validate(model.lm.max_sequence()).map_err(|_| Error::corrupt("plan does not fit the model"))?;
        Ok(Decompressor { model, header, jobs: 1 })
    }

    pub fn decompress_block(&self, b: &Block, hooks: &Hooks) -> Result<Vec<u8>> {
        let plen = u32::try_from(b.payload.len()).map_err(|_| Error::corrupt("block payload too large"))?;
        Block::check_bounds(b.orig_len, b.n_tokens, plen)?;
        let mut r = varint::Reader::new(&b.payload);
        let rlen = r.len()?;
        // DEFLATE never produces 0 bytes, so length 0 can only mean the empty residual
        let residual = if rlen == 0 {
            EMPTY_RESIDUAL.to_vec()
        } else {
            inflate(r.bytes(rlen)?, b.orig_len as u64 * 4 + (b.n_tokens as u64 + 8) * 10 + 64)?
        };
        let coded = r.rest();
        let ctx = Ctx {
            lm: self.model.lm.as_ref(),
            plan: &self.header.plan,
            ids: self.model.tokenizer.ids,
            tokenizer: &self.model.tokenizer,
            batch: self.header.batch as usize,
            mix: self.header.mix,
            cancel: hooks.cancel,
            progress: hooks.progress,
        };
        let n = b.n_tokens as usize;
        let ids = match self.header.method {
            Method::Arith => coding::arith::decode(&ctx, coded, n)?,
            Method::Mask => coding::mask::decode(&ctx, coded, n)?,
        };
        let data = self.model.tokenizer.decode(&ids, &residual)?;
        if data.len() != b.orig_len as usize || crc32fast::hash(&data) != b.crc {
            return Err(Error::Checksum(format!(
                "block of {} bytes; compressed with numerics '{}', decoding with '{}'",
                b.orig_len, self.header.numerics, self.model.numerics
            )));
        }
        Ok(data)
    }

    /// Decodes the blocks of the member whose header was read, `jobs` blocks at once, writing
    /// each block only after its checksum matched. Returns the member's length.
    pub fn decompress_member<R: Read + ?Sized, W: Write + ?Sized>(
        &self,
        input: &mut R,
        out: &mut W,
        hooks: &Hooks,
    ) -> Result<u64> {
        let mut total = 0u64;
        let mut crc = crc32fast::Hasher::new();
        let jobs = self.jobs.max(1);
        loop {
            let mut batch = Vec::with_capacity(jobs);
            let mut end = None;
            while batch.len() < jobs {
                match container::read_record(input, self.header.version)? {
                    Record::Block(b) => batch.push(b),
                    Record::End { total_len, crc } => {
                        end = Some((total_len, crc));
                        break;
                    }
                }
            }
            for data in parallel(&batch, |b| self.decompress_block(b, hooks)) {
                let data = data?;
                crc.update(&data);
                total += data.len() as u64;
                out.write_all(&data).map_err(|e| Error::io("writing output", e))?;
            }
            if let Some((total_len, c)) = end {
                if total_len != total || c != crc.finalize() {
                    return Err(Error::Checksum("member length or checksum differs".into()));
                }
                return Ok(total);
            }
        }
    }
}
