//! AdamW with decoupled weight decay, whose state can be saved and restored (`--resume`
//! continues with the same moments; candle-nn's AdamW keeps them private).

use std::collections::HashMap;

use candle_core::{Tensor, Var};

pub struct AdamW {
    pub vars: Vec<(String, Var)>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    pub step: usize,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

impl AdamW {
    pub fn new(mut vars: Vec<(String, Var)>, weight_decay: f64) -> candle_core::Result<Self> {
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        let m = vars.iter().map(|(_, v)| v.zeros_like()).collect::<candle_core::Result<Vec<_>>>()?;
        let v = vars.iter().map(|(_, v)| v.zeros_like()).collect::<candle_core::Result<Vec<_>>>()?;
        Ok(AdamW { vars, m, v, step: 0, beta1: 0.9, beta2: 0.98, eps: 1e-6, weight_decay })
    }

    /// One update. Weight decay skips biases and LayerNorm parameters (1-D tensors).
    pub fn step(&mut self, grads: &candle_core::backprop::GradStore, lr: f64) -> candle_core::Result<()> {
        self.step += 1;
        let t = self.step as i32;
        let bc1 = 1.0 - self.beta1.powi(t);
        let bc2 = 1.0 - self.beta2.powi(t);
        for (i, (_, var)) in self.vars.iter().enumerate() {
            let Some(g) = grads.get(var.as_tensor()) else {
                continue;
            };
            let m = ((&self.m[i] * self.beta1)? + (g * (1.0 - self.beta1))?)?;
            let v = ((&self.v[i] * self.beta2)? + (g.sqr()? * (1.0 - self.beta2))?)?;
            let upd = ((&m / bc1)? / ((&v / bc2)?.sqrt()? + self.eps)?)?;
            let mut p = var.as_tensor().clone();
            if self.weight_decay > 0.0 && var.rank() > 1 {
                p = (p * (1.0 - lr * self.weight_decay))?;
            }
            var.set(&(p - (upd * lr)?)?)?;
            self.m[i] = m;
            self.v[i] = v;
        }
        Ok(())
    }

    pub fn state(&self) -> HashMap<String, Tensor> {
        let mut s = HashMap::new();
        for (i, (n, _)) in self.vars.iter().enumerate() {
            s.insert(format!("m.{n}"), self.m[i].clone());
            s.insert(format!("v.{n}"), self.v[i].clone());
        }
        s
    }

    pub fn load_state(&mut self, s: &HashMap<String, Tensor>, step: usize) {
        for (i, (n, _)) in self.vars.iter().enumerate() {
            if let (Some(m), Some(v)) = (s.get(&format!("m.{n}")), s.get(&format!("v.{n}"))) {
                self.m[i] = m.clone();
                self.v[i] = v.clone();
            }
        }
        self.step = step;
    }
}
