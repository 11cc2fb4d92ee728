//! llmzip: lossless text compression with masked language models.
//!
//! Pipeline: [`text::LosslessTokenizer`] → [`schedule::RevealPlan`] → [`model::MaskedLm`] →
//! [`coding`] (range coder or verified masks) → [`container::Header`] and blocks.
//! [`Compressor`] and [`Decompressor`] put them together.

pub mod bench;
pub mod coding;
pub mod compressor;
pub mod container;
pub mod decompressor;
pub mod error;
#[doc(hidden)]
pub mod fuzz;
pub mod memory;
pub mod model;
pub mod numerics;
pub mod schedule;
pub mod text;
pub mod train;
pub mod varint;

pub use compressor::{Compressor, Hooks, Options, Stats};
pub use decompressor::Decompressor;
pub use error::{Error, Result};
pub use model::{MaskedLm, Model};
pub use text::LosslessTokenizer;
