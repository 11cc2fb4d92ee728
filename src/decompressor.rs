//! The way back: container → blocks → method → tokens + residual → bytes. Every block is
//! written only after its checksum matched, and every member's length and checksum are
//! checked at its end.

use std::io::{Read, Write};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use crate::coding::{self, Method};
use crate::compressor::{ctx, model_name, Hooks};
use crate::container::{self, payload, Block, Header, MemberReader, Record};
use crate::error::{Error, Result};
use crate::model::{batcher, hex, MaskedLm, Model};

/// Nanoseconds this process spent in model calls while decoding (all blocks summed; for `-v`).
pub static MODEL_NANOS: AtomicU64 = AtomicU64::new(0);

/// The blocks decoded at once by the last member decoded, and the memory they were counted
/// to take (for `-v`).
pub static IN_FLIGHT: std::sync::Mutex<Option<(usize, crate::memory::Need)>> = std::sync::Mutex::new(None);

/// A model by name, for files that name theirs.
pub type Loader<'m> = dyn Fn(&str) -> Result<Arc<Model>> + 'm;

/// A model by name and the numerics a member was computed with (a directory may hold both a
/// float and an integer version of its model).
pub type EngineLoader<'m> = dyn Fn(&str, &str) -> Result<Arc<Model>> + 'm;

enum Models<'m> {
    /// this model for every member; one that names another is refused
    Given(&'m Model),
    /// the model each member names
    Named(&'m Loader<'m>),
    /// the model each member names, on the engine its numerics name
    Engines(&'m EngineLoader<'m>),
}

/// Decodes .llmz streams: any number of members, each with its own header.
pub struct Decompressor<'m> {
    models: Models<'m>,
    /// blocks decoded at once, each on its own thread (never changes the output)
    jobs: usize,
    /// bytes the blocks in flight may take beyond the loaded model (`--memory`)
    memory: Option<u64>,
}

impl<'m> Decompressor<'m> {
    /// Decodes with `model`, whatever the file names.
    pub fn new(model: &'m Model, jobs: usize) -> Self {
        Decompressor { models: Models::Given(model), jobs: jobs.max(1), memory: None }
    }

    /// Decodes each member with the model it names, got from `load`.
    pub fn by_name(load: &'m Loader<'m>, jobs: usize) -> Self {
        Decompressor { models: Models::Named(load), jobs: jobs.max(1), memory: None }
    }

    /// Decodes each member with the model `load` gives for its name and numerics.
    pub fn by_engine(load: &'m EngineLoader<'m>, jobs: usize) -> Self {
        Decompressor { models: Models::Engines(load), jobs: jobs.max(1), memory: None }
    }

    /// Codes at most as many blocks at once as take `bytes` of memory beyond the loaded model
    /// ([`crate::memory::jobs_for`]; `None`: no budget).
    pub fn with_memory(self, bytes: Option<u64>) -> Self {
        Decompressor { memory: bytes, ..self }
    }

    /// Decodes every member of `input` into `out` (concatenated members decode to the
    /// concatenation). Returns the bytes written.
    pub fn decompress<R: Read, W: Write + ?Sized>(&self, input: R, out: &mut W, hooks: &Hooks) -> Result<u64> {
        let mut reader = MemberReader::new(input);
        let mut total = 0;
        let mut members = 0;
        while let Some(header) = reader.next_member()? {
            let loaded;
            let model = match &self.models {
                Models::Given(m) => *m,
                Models::Named(load) => {
                    loaded = load(model_name(&header))?;
                    &*loaded
                }
                Models::Engines(load) => {
                    loaded = load(model_name(&header), &header.numerics)?;
                    &*loaded
                }
            };
            let member = MemberDecoder::new(model, header)?;
            total += member.decode_rest(&mut reader, out, hooks, self.jobs, self.memory)?;
            members += 1;
        }
        if members == 0 {
            return Err(Error::corrupt("empty input: no llmzip member"));
        }
        Ok(total)
    }
}

/// One member's decoder: its header, checked against the model before any output.
pub struct MemberDecoder<'m> {
    model: &'m Model,
    header: Header,
}

impl<'m> MemberDecoder<'m> {
    /// Checks that `model` is the one the member was made with, and the numerics the same.
    pub fn new(model: &'m Model, header: Header) -> Result<Self> {
        // version 2 stores a 16-byte prefix of the fingerprint, version 1 all of it
        if !model.fingerprint.starts_with(&header.fingerprint) || header.fingerprint.len() < container::FINGERPRINT_V2 {
            return Err(Error::ModelMismatch {
                file_model: model_name(&header).to_string(),
                file_fp: hex(&header.fingerprint[..8]),
                given_model: model.name.clone(),
                given_fp: hex(&model.fingerprint[..8]),
            });
        }
        // CPU and CUDA kernels round differently (measured in docs/RESULTS.md): refuse
        // before any work rather than fail a checksum after it
        if header.numerics != model.numerics() {
            return Err(Error::Numerics { file: header.numerics.clone(), ours: model.numerics().to_string() });
        }
        header.plan.validate(model.lm.max_sequence()).map_err(|_| Error::corrupt("plan does not fit the model"))?;
        crate::compressor::plan_fits(model.lm.as_ref(), &header.plan, header.method)
            .map_err(|_| Error::corrupt("plan does not fit the model"))?;
        Ok(MemberDecoder { model, header })
    }

    /// Decodes one block and checks it against its CRC.
    pub fn decode_block(&self, b: &Block, hooks: &Hooks) -> Result<Vec<u8>> {
        self.decode_block_on(self.model.lm.as_ref(), b, hooks)
    }

    /// [`Self::decode_block`] with the model's calls made through `lm` (the model itself or a
    /// batcher's client of it).
    fn decode_block_on(&self, lm: &dyn MaskedLm, b: &Block, hooks: &Hooks) -> Result<Vec<u8>> {
        let cpu = coding::profile::begin();
        let started = std::time::Instant::now();
        let parts = payload::unpack(b)?;
        let h = &self.header;
        let nanos = AtomicU64::new(0);
        let mut ctx = ctx(self.model, &h.plan, h.batch as usize, h.mix, hooks, &nanos);
        ctx.lm = lm;
        let n = b.n_tokens as usize;
        let ids = match h.method {
            Method::Arith => coding::arith::decode(&ctx, parts.coded, n)?,
            Method::Mask => coding::mask::decode(&ctx, parts.coded, n)?,
        };
        MODEL_NANOS.fetch_add(nanos.load(std::sync::atomic::Ordering::Relaxed), std::sync::atomic::Ordering::Relaxed);
        if let Some(cpu) = cpu {
            let model = nanos.load(std::sync::atomic::Ordering::Relaxed) as f64 / 1e9;
            coding::profile::report("decompress", b.orig_len as usize, n, model, started.elapsed().as_secs_f64(), cpu);
        }
        let data = self.model.tokenizer.decode(&ids, &parts.residual)?;
        if data.len() != b.orig_len as usize || crc32fast::hash(&data) != b.crc {
            return Err(Error::Checksum(format!(
                "block of {} bytes; compressed with numerics '{}', decoding with '{}'",
                b.orig_len,
                h.numerics,
                self.model.numerics()
            )));
        }
        Ok(data)
    }

    /// The memory decoding takes at most, per block in flight and once: a block of the
    /// header's block size ([`crate::memory::block_bytes`]), nothing tokenized.
    pub fn need(&self) -> crate::memory::Need {
        let h = &self.header;
        let mix = if h.method == Method::Arith { h.mix } else { 0 };
        let vocab = self.model.lm.vocab_size();
        crate::memory::Need {
            per_block: crate::memory::block_bytes(mix, vocab, h.plan.rounds, h.block_size as usize, 0),
            shared: crate::memory::PROCESS_FIXED as u64,
        }
    }

    /// Decodes the member's blocks, `jobs` at once (fewer where they would not fit in the
    /// `memory` budget or the memory available, [`crate::memory::jobs_for`]), up to and
    /// including its end record. Returns the member's original length.
    fn decode_rest<R: Read, W: Write + ?Sized>(
        &self,
        reader: &mut MemberReader<R>,
        out: &mut W,
        hooks: &Hooks,
        jobs: usize,
        memory: Option<u64>,
    ) -> Result<u64> {
        let mut total = 0u64;
        let mut crc = crc32fast::Hasher::new();
        let h = &self.header;
        let jobs = crate::memory::jobs_for(jobs, self.need(), memory, crate::memory::available())?;
        *IN_FLIGHT.lock().unwrap_or_else(|p| p.into_inner()) = Some((jobs, self.need()));
        // the model's rows in the form the block's adaptive model reads fastest, where the
        // backend makes it (the same file either way)
        let tok = &self.model.tokenizer;
        let ranked = coding::cm::ranked::for_coding(self.model.lm.as_ref(), tok, h.method, h.mix, h.plan.rounds, false);
        let lm = ranked.as_deref().unwrap_or(self.model.lm.as_ref());
        loop {
            let mut batch = Vec::with_capacity(jobs);
            let mut end = None;
            while batch.len() < jobs {
                match reader.next_record()? {
                    Record::Block(b) => batch.push(b),
                    Record::End { total_len, crc } => {
                        end = Some((total_len, crc));
                        break;
                    }
                }
            }
            for data in batcher::parallel(lm, &batch, |lm, b| self.decode_block_on(lm, b, hooks)) {
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
