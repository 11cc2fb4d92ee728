//! Seeded inverted dropout for training the encoders of [`super::transformer`]: our own, as
//! candle-transformers' dropout is a no-op and candle's own draws from an unseeded RNG.

use candle_core::Tensor;

/// Seeded inverted dropout for training.
pub struct Dropout {
    pub p: f32,
    pub rng: rand_chacha::ChaCha8Rng,
}

impl Dropout {
    pub(super) fn maybe(d: &mut Option<&mut Dropout>, x: Tensor) -> candle_core::Result<Tensor> {
        match d {
            Some(d) if d.p > 0.0 => d.apply(&x),
            _ => Ok(x),
        }
    }

    pub fn apply(&mut self, x: &Tensor) -> candle_core::Result<Tensor> {
        use rand::Rng;
        let keep = 1.0 - self.p;
        let scale = 1.0 / keep;
        let m: Vec<f32> =
            (0..x.elem_count()).map(|_| if self.rng.random::<f32>() < keep { scale } else { 0.0 }).collect();
        x * Tensor::from_vec(m, x.shape(), x.device())?
    }
}
