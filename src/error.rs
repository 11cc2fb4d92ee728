//! Typed library errors. The binary turns them into one line plus a hint (see `cli`).

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("not an llmzip file (bad magic bytes)")]
    NotLlmz,
    #[error("corrupt or truncated .llmz data: {0}")]
    Corrupt(String),
    #[error("unsupported .llmz format version {0} (this build reads version {1})")]
    Version(u8, u8),
    #[error(
        "model mismatch: the file was compressed with '{file_model}' (fingerprint {file_fp}) but the model given is '{given_model}' (fingerprint {given_fp})"
    )]
    ModelMismatch { file_model: String, file_fp: String, given_model: String, given_fp: String },
    #[error(
        "the file was computed with numerics '{file}', this run would use '{ours}': its probabilities would not repeat"
    )]
    Numerics { file: String, ours: String },
    #[error("checksum mismatch: decoded data differs from the original ({0})")]
    Checksum(String),
    #[error("cannot load model '{name}': {reason}")]
    Model { name: String, reason: String },
    #[error("model computation failed: {0}")]
    Candle(#[from] candle_core::Error),
    /// `--device` (or `asked`, where else the device came from) cannot be used by this run.
    #[error("{asked}: {problem}")]
    Device { asked: String, problem: crate::model::device::Unusable },
    /// The GPU or its libraries failed (the integer engine's own CUDA path).
    #[error("GPU: {0}")]
    Gpu(String),
    #[error("tokenizer error: {0}")]
    Tokenizer(String),
    #[error("invalid argument: {0}")]
    Invalid(String),
    /// A broken invariant of llmzip itself, never the user's input.
    #[error("internal error: {0}")]
    Internal(String),
    #[error("{0} exists already")]
    Exists(PathBuf),
    #[error("interrupted")]
    Interrupted,
    /// Not even one block fits in the memory budget (`--memory`).
    #[error("coding a block needs about {need_mb} MB of memory; the budget is {budget_mb} MB (--memory)")]
    Memory { need_mb: u64, budget_mb: u64 },
}

impl Error {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io { context: context.into(), source }
    }
    pub fn corrupt(msg: impl Into<String>) -> Self {
        Error::Corrupt(msg.into())
    }
    pub fn model(name: impl Into<String>, reason: impl std::fmt::Display) -> Self {
        Error::Model { name: name.into(), reason: reason.to_string() }
    }

    /// A short hint shown under the error line.
    pub fn hint(&self) -> Option<&'static str> {
        Some(match self {
            Error::NotLlmz => "is this really a .llmz file? use 'llmzip info FILE' to inspect it",
            Error::Corrupt(_) | Error::Checksum(_) => {
                "the file is damaged or was produced with a different build/device; nothing was written"
            }
            Error::Version(..) => "decompress it with the llmzip version that wrote it",
            Error::Numerics { file, .. } if file.starts_with("llmzip-int8") => {
                "the file's integer numerics are not this build's: decode it with the llmzip version that wrote it"
            }
            Error::Numerics { .. } => "decode on the kind of device that compressed it: --device cpu or --device cuda",
            Error::ModelMismatch { .. } => {
                "pass the model the file was compressed with: --model NAME_OR_DIR (see 'llmzip info FILE')"
            }
            Error::Model { .. } => {
                "pass a local directory with config.json, model.safetensors and tokenizer.json via --model DIR"
            }
            Error::Device { problem, .. } => problem.hint(),
            Error::Gpu(_) => "use --device cpu: files of integer models decode the same on any device",
            Error::Exists(_) => "use -f/--force to overwrite, or -o to choose another name",
            Error::Memory { .. } => {
                "allow at least that much with --memory MB (or LLMZIP_MEMORY); compressing, a smaller --block-size needs less"
            }
            Error::Internal(_) => "this is a bug in llmzip: please report it with the command that caused it",
            // matched on the kind, which survives tempfile's wrapping of the OS error
            Error::Io { source, .. }
                if matches!(
                    source.kind(),
                    std::io::ErrorKind::StorageFull
                        | std::io::ErrorKind::FileTooLarge
                        | std::io::ErrorKind::QuotaExceeded
                ) =>
            {
                "free some space or write elsewhere with -o DIR/NAME; no partial output was kept"
            }
            Error::Io { source, .. } if source.kind() == std::io::ErrorKind::PermissionDenied => {
                "check the permissions of the file and its directory, or write elsewhere with -o"
            }
            _ => return None,
        })
    }
}
