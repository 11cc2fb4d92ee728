//! The integer engine on an NVIDIA GPU (feature `int8-cuda`): the kernels in kernels.cu,
//! compiled at load time with NVRTC and run through the CUDA driver, both loaded dynamically
//! (cudarc), so the binary needs no CUDA toolkit to build. It computes the integers of the CPU
//! engine step for step (every layer on every row; the CPU skips rows whose outputs are not
//! selected, which changes nothing at the selected ones), so its files are the CPU's files.

use std::sync::Arc;

use cudarc::driver::{CudaContext, CudaFunction, CudaModule, CudaSlice, CudaStream, LaunchConfig, PushKernelArg};

use super::params::{Act, Gelu, IntParams, Layer, Linear, Norm, Requant};
use super::NUMERICS;
use crate::error::{Error, Result};
use crate::model::MaskedLm;

const SOURCE: &str = include_str!("kernels.cu");

fn gpu(e: impl std::fmt::Display) -> Error {
    Error::Gpu(format!("CUDA: {e}"))
}

struct DLinear {
    n: usize,
    k: usize,
    w: CudaSlice<i8>,
    m: CudaSlice<i32>,
    b: CudaSlice<i64>,
    shift: i32,
}

struct DNorm {
    g: CudaSlice<i32>,
    b: CudaSlice<i64>,
    shift: i32,
    eps: i64,
    out: Act,
}

struct DGelu {
    table: CudaSlice<i16>,
    half: i32,
    lin_m: i32,
    lin_shift: i32,
    out: Act,
}

struct DLayer {
    ln1: DNorm,
    q: DLinear,
    k: DLinear,
    v: DLinear,
    score_m: i64,
    score_shift: i32,
    o: DLinear,
    ln2: DNorm,
    ffn_in: DLinear,
    gelu: DGelu,
    ffn_out: DLinear,
}

/// An activation buffer on the device.
enum DBuf {
    I8(CudaSlice<i8>),
    I16(CudaSlice<i16>),
    I32(CudaSlice<i32>),
}

fn kind(a: Act) -> (i32, i64) {
    match a {
        Act::I8 => (0, 127),
        Act::I16 => (1, (1 << 14) - 1),
        Act::I32 => (2, 1 << 30),
    }
}

/// The engine's parameters on one GPU.
pub struct CudaLm {
    stream: Arc<CudaStream>,
    /// where results are copied to the host (unless `LLMZIP_GPU_COPIER=0`)
    copier: Arc<CudaStream>,
    f: Funcs,
    hidden: usize,
    heads: usize,
    inter: usize,
    vocab: usize,
    positions: usize,
    position_offset: usize,
    max_sequence: usize,
    /// each row attends to the rows at and before it; such a model's calls go through `cache`
    causal: bool,
    cache: cache::DevCache,
    /// page-locked host buffers the log-probabilities come back through (`pinned()`), one
    /// per call in flight, kept for the next calls
    pinned: std::sync::Mutex<Vec<cudarc::driver::PinnedHostSlice<f32>>>,
    /// page-locked buffers the index arrays go up through, each with the event after its
    /// last copy (`CudaLm::upload`)
    staging: std::sync::Mutex<Vec<(cudarc::driver::PinnedHostSlice<i32>, Option<cudarc::driver::CudaEvent>)>>,
    arch: crate::model::Architecture,
    word: CudaSlice<i8>,
    word_m: CudaSlice<i32>,
    pos: CudaSlice<i8>,
    pos_m: CudaSlice<i32>,
    emb_ln: DNorm,
    layers: Vec<DLayer>,
    final_ln: DNorm,
    head_dense: DLinear,
    head_gelu: DGelu,
    head_ln: DNorm,
    dec_m: CudaSlice<i32>,
    dec_b: CudaSlice<i64>,
    dec_shift: i32,
    exp2: CudaSlice<u32>,
    log2: CudaSlice<u32>,
    /// stands in for unused pointer arguments
    dummy: CudaSlice<i16>,
    /// the GPU's multiprocessors (tile sizes are chosen to give each some blocks)
    sms: usize,
    /// products on the simple one-thread-per-output kernels instead of dp4a (for timing)
    simple_gemm: std::sync::atomic::AtomicBool,
    /// the kernels' times with `LLMZIP_GPU_PROFILE=kernels`
    kclock: prof::KernelClock,
}

struct Funcs {
    embed: CudaFunction,
    layer_norm: CudaFunction,
    gemm_i8: CudaFunction,
    gemm_i16: CudaFunction,
    gemm4_i8: CudaFunction,
    gemm4_i16: CudaFunction,
    gemm2_i8: CudaFunction,
    gemm2_i16: CudaFunction,
    attention: CudaFunction,
    gather: CudaFunction,
    copy_rows: CudaFunction,
    log_softmax: CudaFunction,
    rank_rows: CudaFunction,
    path_rows: CudaFunction,
    qkv4_i8: CudaFunction,
    qkv4_i16: CudaFunction,
    qkv2_i8: CudaFunction,
    qkv2_i16: CudaFunction,
    scatter_kv: CudaFunction,
    _module: Arc<CudaModule>,
}

/// Compiles the kernels to PTX for `arch` (e.g. `compute_90`) without a GPU: a check of the
/// source where NVRTC is installed. Returns the PTX's length.
pub fn compile(arch: &'static str) -> Result<usize> {
    let opts = cudarc::nvrtc::CompileOptions { arch: Some(arch), fmad: Some(false), ..Default::default() };
    catch(|| Ok(cudarc::nvrtc::compile_ptx_with_opts(SOURCE, opts).map_err(gpu)?.to_src().len()))
}

/// GPU `ordinal`'s context; a GPU that is not there, or no driver, is said so.
fn open(ordinal: usize) -> Result<Arc<CudaContext>> {
    use crate::model::device::{missing_gpu, OpenFailure, Unusable};
    use cudarc::driver::sys::CUresult;
    let asked = format!("--device cuda:{ordinal}");
    // loading the driver library panics when it is absent
    match catch(|| Ok(CudaContext::new(ordinal))) {
        Err(_) => Err(Error::Device { asked, problem: Unusable::NoDriver }),
        Ok(Ok(ctx)) => Ok(ctx),
        Ok(Err(e)) => {
            let failure = match e.0 {
                CUresult::CUDA_ERROR_INVALID_DEVICE => OpenFailure::InvalidDevice,
                CUresult::CUDA_ERROR_NO_DEVICE => OpenFailure::NoDevice,
                _ => OpenFailure::Other,
            };
            Err(missing_gpu(&asked, ordinal, failure, gpu_count(), true).unwrap_or_else(|| gpu(e)))
        }
    }
}

/// The number of CUDA GPUs, when the driver can be loaded and says.
pub fn gpu_count() -> Option<usize> {
    catch(|| CudaContext::device_count().map_err(gpu)).ok().and_then(|n| usize::try_from(n).ok())
}

/// cudarc panics when it cannot load a CUDA library: that becomes an error here.
fn catch<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    // the panic is the error below: its message would be a second, noisier report
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    std::panic::set_hook(hook);
    r.unwrap_or_else(|_| Err(Error::Gpu("CUDA libraries not found (libcuda, libnvrtc on LD_LIBRARY_PATH)".into())))
}

impl Funcs {
    /// Compiles the kernels for the GPU of `ctx` (no fused multiply-adds: the CPU engine's
    /// arithmetic) and looks each one up.
    fn load(ctx: &Arc<CudaContext>) -> Result<Funcs> {
        let (major, minor) = ctx.compute_capability().map_err(gpu)?;
        let arch: &'static str = Box::leak(format!("compute_{major}{minor}").into_boxed_str());
        let opts = cudarc::nvrtc::CompileOptions { arch: Some(arch), fmad: Some(false), ..Default::default() };
        let ptx = cudarc::nvrtc::compile_ptx_with_opts(SOURCE, opts).map_err(gpu)?;
        let module = ctx.load_module(ptx).map_err(gpu)?;
        let func = |n: &str| module.load_function(n).map_err(gpu);
        Ok(Funcs {
            embed: func("embed")?,
            layer_norm: func("layer_norm_w")?,
            gemm_i8: func("gemm_i8")?,
            gemm_i16: func("gemm_i16")?,
            gemm4_i8: func("gemm4_i8")?,
            gemm4_i16: func("gemm4_i16")?,
            gemm2_i8: func("gemm2_i8")?,
            gemm2_i16: func("gemm2_i16")?,
            attention: func("attention")?,
            gather: func("gather_rows")?,
            copy_rows: func("copy_rows")?,
            log_softmax: func("log_softmax")?,
            rank_rows: func("rank_rows")?,
            path_rows: func("path_rows")?,
            qkv4_i8: func("qkv4_i8")?,
            qkv4_i16: func("qkv4_i16")?,
            qkv2_i8: func("qkv2_i8")?,
            qkv2_i16: func("qkv2_i16")?,
            scatter_kv: func("scatter_kv")?,
            _module: module.clone(),
        })
    }
}

/// Copies the CPU engine's parameters to the device, piece by piece.
struct Upload<'a>(&'a Arc<CudaStream>);

impl Upload<'_> {
    fn slice<T: cudarc::driver::DeviceRepr>(&self, v: &[T]) -> Result<CudaSlice<T>> {
        self.0.clone_htod(v).map_err(gpu)
    }

    fn lin(&self, l: &Linear) -> Result<DLinear> {
        Ok(DLinear {
            n: l.n,
            k: l.k,
            w: self.slice(&l.w)?,
            m: self.slice(&l.rq.m)?,
            b: self.slice(&l.rq.b)?,
            shift: l.rq.shift as i32,
        })
    }

    fn norm(&self, n: &Norm) -> Result<DNorm> {
        Ok(DNorm { g: self.slice(&n.g)?, b: self.slice(&n.b)?, shift: n.shift as i32, eps: n.eps, out: n.out })
    }

    fn gelu(&self, g: &Gelu) -> Result<DGelu> {
        Ok(DGelu {
            table: self.slice(&g.table)?,
            half: g.half as i32,
            lin_m: g.lin_m,
            lin_shift: g.lin_shift as i32,
            out: g.out,
        })
    }

    fn layer(&self, l: &Layer) -> Result<DLayer> {
        Ok(DLayer {
            ln1: self.norm(&l.ln1)?,
            q: self.lin(&l.q)?,
            k: self.lin(&l.k)?,
            v: self.lin(&l.v)?,
            score_m: l.score_m,
            score_shift: l.score_shift as i32,
            o: self.lin(&l.o)?,
            ln2: self.norm(&l.ln2)?,
            ffn_in: self.lin(&l.ffn_in)?,
            gelu: self.gelu(&l.gelu)?,
            ffn_out: self.lin(&l.ffn_out)?,
        })
    }
}

impl CudaLm {
    /// Uploads `p` to GPU `ordinal` and compiles the kernels for it; `causal` as the model's
    /// config says (`is_decoder`).
    pub fn new(p: &IntParams, ordinal: usize, max_sequence: usize, causal: bool) -> Result<CudaLm> {
        catch(|| Self::create(p, ordinal, max_sequence, causal))
    }

    fn create(p: &IntParams, ordinal: usize, max_sequence: usize, causal: bool) -> Result<CudaLm> {
        let ctx = open(ordinal)?;
        if lean() {
            // SAFETY: every piece of work goes to the one stream below, in order, and the host
            // reads results only after waiting for an event recorded after them
            // (`CudaLm::land`), so cudarc's own cross-stream events (two made per buffer)
            // guard nothing here
            unsafe { ctx.disable_event_tracking() };
        }
        let stream = ctx.default_stream();
        let f = Funcs::load(&ctx)?;
        let up = Upload(&stream);
        let layers = p.layers.iter().map(|l| up.layer(l)).collect::<Result<Vec<_>>>()?;
        let dec: &Requant = &p.decoder;
        let sms = ctx
            .attribute(cudarc::driver::sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)
            .map_err(gpu)?;
        Ok(CudaLm {
            f,
            hidden: p.hidden,
            heads: p.heads,
            inter: p.inter,
            vocab: p.vocab,
            positions: p.positions,
            position_offset: p.position_offset,
            max_sequence,
            causal,
            arch: super::architecture(p),
            word: up.slice(&p.word)?,
            word_m: up.slice(&p.word_m)?,
            pos: up.slice(&p.pos)?,
            pos_m: up.slice(&p.pos_m)?,
            emb_ln: up.norm(&p.emb_ln)?,
            layers,
            final_ln: up.norm(&p.final_ln)?,
            head_dense: up.lin(&p.head_dense)?,
            head_gelu: up.gelu(&p.head_gelu)?,
            head_ln: up.norm(&p.head_ln)?,
            dec_m: up.slice(&dec.m)?,
            dec_b: up.slice(&dec.b)?,
            dec_shift: dec.shift as i32,
            exp2: up.slice(&p.exp2)?,
            log2: up.slice(&p.log2)?,
            dummy: stream.alloc_zeros::<i16>(1).map_err(gpu)?,
            sms: sms.max(1) as usize,
            simple_gemm: false.into(),
            kclock: Default::default(),
            cache: Default::default(),
            pinned: Default::default(),
            staging: Default::default(),
            copier: ctx.new_stream().map_err(gpu)?,
            stream,
        })
    }

    /// Runs the products on the first, simple kernels (`true`) or the dp4a ones (the
    /// default); both compute the same integers.
    pub fn use_simple_gemm(&self, on: bool) {
        self.simple_gemm.store(on, std::sync::atomic::Ordering::Relaxed);
    }

    fn rows_cfg(rows: usize, threads: u32) -> LaunchConfig {
        LaunchConfig { grid_dim: (rows as u32, 1, 1), block_dim: (threads, 1, 1), shared_mem_bytes: 0 }
    }

    /// A working buffer of `n` values. Every kernel writes all of its output buffer before
    /// anything reads it (and a K/V pool row is read only after its call wrote it), so the
    /// buffer is not zeroed first unless `LLMZIP_GPU_LEAN=0`; the cache test compares the
    /// rows with the CPU engine's bit for bit, which garbage read anywhere would break.
    fn alloc<T: cudarc::driver::DeviceRepr + cudarc::driver::ValidAsZeroBits>(&self, n: usize) -> Result<CudaSlice<T>> {
        if lean() {
            // SAFETY: see above: written before read
            unsafe { self.stream.alloc::<T>(n.max(1)) }.map_err(gpu)
        } else {
            self.stream.alloc_zeros::<T>(n.max(1)).map_err(gpu)
        }
    }

    fn buf(&self, a: Act, n: usize) -> Result<DBuf> {
        Ok(match a {
            Act::I8 => DBuf::I8(self.alloc(n)?),
            Act::I16 => DBuf::I16(self.alloc(n)?),
            Act::I32 => DBuf::I32(self.alloc(n)?),
        })
    }

    /// LayerNorm of `rows` rows of `x` into `out` (allocated by the caller in `n.out`'s type
    /// unless `out` is given as the residual stream).
    fn norm(&self, n: &DNorm, x: &CudaSlice<i32>, rows: usize, out: &mut DBuf) -> Result<()> {
        let (kd, lim) = kind(n.out);
        let h = self.hidden as i32;
        let rows32 = rows as i32;
        let mut b = self.stream.launch_builder(&self.f.layer_norm);
        b.arg(x).arg(&h).arg(&n.g).arg(&n.b).arg(&n.shift).arg(&n.eps).arg(&kd).arg(&lim);
        match out {
            DBuf::I8(o) => b.arg(o),
            DBuf::I16(o) => b.arg(o),
            DBuf::I32(o) => b.arg(o),
        };
        b.arg(&rows32);
        // a warp per row, eight rows per block
        unsafe { b.launch(Self::rows_cfg(rows.div_ceil(8), 256)) }.map_err(gpu)?;
        self.mark("layer_norm")
    }
}

mod cache;
mod forward;
mod prof;
mod ranked;
mod transfer;

impl MaskedLm for CudaLm {
    fn vocab_size(&self) -> usize {
        self.vocab
    }
    fn max_sequence(&self) -> usize {
        self.max_sequence
    }
    fn numerics(&self) -> &str {
        NUMERICS
    }
    fn architecture(&self) -> crate::model::Architecture {
        self.arch
    }
    fn log_probs(&self, seqs: &[Vec<u32>], sel: &[(usize, usize)]) -> Result<Vec<f32>> {
        Ok(self.call(seqs, sel, &[sel.len()], None, None)?.pop().unwrap_or_default())
    }
    fn log_probs_parts(&self, seqs: &[Vec<u32>], sel: &[(usize, usize)], parts: &[usize]) -> Result<Vec<Vec<f32>>> {
        self.call(seqs, sel, parts, None, None)
    }
    fn ranked<'a>(&'a self, rank: &[u32], form: crate::model::RowForm, v3: bool) -> Option<Box<dyn MaskedLm + 'a>> {
        self.with_ranks(rank, form, v3).map(|r| Box::new(r) as Box<dyn MaskedLm>)
    }
    /// It computes the CPU engine's integers, and those do not depend on the batch
    /// (`MaskedLm for IntLm`).
    fn batch_invariant(&self) -> bool {
        true
    }
    fn causal(&self) -> bool {
        self.causal
    }
    /// A cached call serves many sequences for about the time of a few (the GPU's launches
    /// and transfers dominate), and the cache admits one call at a time.
    fn merges_calls(&self) -> bool {
        self.causal && use_cache()
    }
}

/// `LLMZIP_PROFILE=1`: what the cached calls cost, when the engine goes.
impl Drop for CudaLm {
    fn drop(&mut self) {
        let (calls, p) = self.cache_profile();
        if calls > 0 && crate::coding::profile::enabled() {
            let (computed, reused) = self.cache_rows();
            eprintln!(
                "profile GPU: {calls} cached calls, {computed} rows computed, {reused} reused; \
                 waiting for the cache {:.3} s, placing {:.3} s, launching {:.3} s, kernels {:.3} s, \
                 fetching {:.3} s",
                p[0], p[1], p[2], p[3], p[4]
            );
            for line in self.kernel_report() {
                eprintln!("{line}");
            }
        }
    }
}

/// Whether causal models keep K and V on the device (`LLMZIP_GPU_KV=0` turns it off, for
/// comparing: both compute the same integers).
fn use_cache() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("LLMZIP_GPU_KV").is_none_or(|v| v != "0"))
}

/// Whether results come back through page-locked memory (`LLMZIP_GPU_PINNED=0` turns it off,
/// for comparing). 16 MB of the corpus at `-5 -j16` on one H100: compress 33.3 s against 76.6 s
/// through pageable memory (docs/RESULTS.md, "Session 10").
fn pinned() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("LLMZIP_GPU_PINNED").is_none_or(|v| v != "0"))
}

/// Whether the engine skips what one stream does not need: cudarc's per-buffer events and
/// zeroing each working buffer (`LLMZIP_GPU_LEAN=0` keeps both, for comparing: the same
/// integers either way).
fn lean() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("LLMZIP_GPU_LEAN").is_none_or(|v| v != "0"))
}

/// Whether results are copied on a second stream, so that the copy overlaps the next call's
/// kernels (`LLMZIP_GPU_COPIER=0` turns it off, for comparing; the same values either way).
/// With the waits below, 16 MB at `-5 -j16` decoded in 22.34 s against 23.94 s without
/// either, and 31.61 against 32.24 s on a slower H100 machine: single runs, within the spread
/// between repeats (docs/RESULTS.md, "Session 13"); kept because neither can slow the GPU and
/// a spinning wait takes a core from the coding threads.
fn copier() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("LLMZIP_GPU_COPIER").is_none_or(|v| v != "0"))
}

/// Whether a thread waiting for a call's results sleeps instead of spinning, leaving its core
/// to the coding threads (`LLMZIP_GPU_BLOCKING=0` spins, for comparing).
fn blocking() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("LLMZIP_GPU_BLOCKING").is_none_or(|v| v != "0"))
}

/// The numerics id of files this engine computes: the CPU engine's.
pub fn numerics() -> &'static str {
    NUMERICS
}
