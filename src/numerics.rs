//! Numerics ids: which computation produced a file's probabilities (docs/FORMAT.md). A backend
//! reports its id ([`crate::model::MaskedLm::numerics`]); the header stores the ids of
//! [`KNOWN`] as one-byte codes and any other id as text, and a decoder refuses a file whose id
//! differs from its own.

/// candle 0.9.2's CPU kernels in f32.
pub const CANDLE_CPU_F32: &str = "candle-0.9.2/cpu/f32";
/// candle 0.9.2's CUDA kernels in f32 (they round differently from the CPU's).
pub const CANDLE_CUDA_F32: &str = "candle-0.9.2/cuda/f32";

/// llmzip's integer engine (src/model/int8): exact integer arithmetic, the same on every CPU
/// and GPU, whatever the SIMD width or thread count.
pub const INT8_V1: &str = "llmzip-int8/1";

/// Ids with a one-byte code in version-2 headers (index + 1). Append only: codes are the format.
pub const KNOWN: [&str; 3] = [CANDLE_CPU_F32, CANDLE_CUDA_F32, INT8_V1];
