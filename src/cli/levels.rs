//! Compression levels: `-1` (fastest) … `-9` (smallest), `--fast` = `-1`, `--best` = `-9`.
//! Each level names a tested combination of built-in model, method, reveal plan and adaptive
//! token model; options given explicitly (`--model`, `--window`, `--no-mix`, …) override the
//! level's choice. This table is the one place to edit when models or mixers change: keep it
//! ordered from fastest to smallest by measurement (the README's level table), keep every
//! model in it built in (a level must work on any machine). Every file records its model,
//! plan and adaptive-model version, so changing a level never changes how files decode.

use llmzip::coding::Method;
use llmzip::schedule::{Lanes, RevealPlan, Settle, Shape};

/// What one level chooses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Level {
    pub model: &'static str,
    pub method: Method,
    pub plan: RevealPlan,
    /// arith: mix the LM with the adaptive token model
    pub mix: bool,
    /// arith: the adaptive token model's version ([`MIX_VERSIONS`])
    pub mix_version: u8,
}

/// A level of model `model`, plan `window` / `context` / `rounds` (geometric, 32 lanes).
const fn plan(model: &'static str, method: Method, window: usize, context: usize, rounds: usize) -> Level {
    Level {
        model,
        method,
        plan: RevealPlan { window, context, rounds, shape: Shape::Geometric, lanes: Lanes::AtMost(32), settle: None },
        mix: true,
        // filled in by `get` from MIX_VERSIONS
        mix_version: 0,
    }
}

/// `level` coding every input one token at a time, each token predicted from the `context`
/// tokens before it (`--settle 0,1`): the model sees the whole left context of every token and
/// the adaptive model every left neighbour.
const fn one_token(level: Level, context: usize) -> Level {
    let mut plan = level.plan;
    plan.context = context;
    plan.settle = Some(Settle { after: 0, window: 1 });
    Level { plan, ..level }
}

use Method::{Arith, Mask};
const SMALL: &str = "llmzip-small-1";
const MEDIUM: &str = "llmzip-medium-1";
/// The GPU model: at -9 about 2.5 times slower than llmzip-medium-1 on the CPU, 3% smaller
const LARGE: &str = "llmzip-large-1";

/// Levels 1 to 9, fastest first, each smaller than the one before on alice29.txt (README,
/// "Levels", measured side by side). All use the pre-LayerNorm models on the integer engine:
/// the small model with one round is both faster and smaller than the first built-in model
/// (`llmzip-default`), which stays for the files that name it. From the default up every
/// input is coded one token at a time, each token seeing the `context` tokens before it:
/// measured on prose, long texts, logs-like text and web text alike, that beat rounds (which
/// show the model both sides of a window but hide the left neighbours of the tokens revealed
/// together) and one-round sub-windows of 8 by 5–15%, at a cost of `context` + 1 positions per
/// token; each level buys a wider context or a larger model (docs/RESULTS.md, "Session 8:
/// one token at a time"). The default's context of 1 keeps it at 20 KB/s or more both ways on
/// two cores; context 2 is 5% smaller and 5–10% slower.
pub const LEVELS: [Level; 9] = [
    /* 1 */ plan(SMALL, Mask, 64, 0, 1),
    /* 2 */ plan(SMALL, Arith, 64, 0, 1),
    /* 3 */ plan(SMALL, Arith, 32, 8, 1),
    /* 4 */ plan(SMALL, Arith, 32, 32, 2),
    /* 5 */ one_token(plan(MEDIUM, Arith, 32, 32, 2), 1),
    /* 6 */ one_token(plan(MEDIUM, Arith, 32, 32, 3), 2),
    /* 7 */ one_token(plan(MEDIUM, Arith, 64, 64, 4), 8),
    /* 8 */ one_token(plan(MEDIUM, Arith, 64, 64, 8), 32),
    /* 9 */ one_token(plan(LARGE, Arith, 64, 128, 8), 32),
];

/// The adaptive token model of each level (arith), a column of its own so that it changes
/// apart from the models and plans: version 6 (context mixing), smaller than version 5 on
/// logs, tables and prose (docs/RESULTS.md, "Session 7"). Level 1 (mask) does not use it.
pub const MIX_VERSIONS: [u8; 9] = [2, 6, 6, 6, 6, 6, 6, 6, 6];

/// The level used when none is given.
pub const DEFAULT: u8 = 5;

/// Level `n` (1..=9).
pub fn get(n: u8) -> Level {
    let k = (n.clamp(1, 9) - 1) as usize;
    Level { mix_version: MIX_VERSIONS[k], ..LEVELS[k] }
}

impl Level {
    /// The library's settings for this level, coding with `method`.
    pub fn options(self, method: Method) -> llmzip::Options {
        llmzip::Options { method, plan: self.plan, mix: self.mix, mix_version: self.mix_version, ..Default::default() }
    }
}

/// The levels that use `model`, as "1-4, 7" (empty when none does).
pub fn using(model: &str) -> String {
    let ns: Vec<u8> = (1..=9).filter(|&n| get(n).model == model).collect();
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < ns.len() {
        let mut j = i;
        while j + 1 < ns.len() && ns[j + 1] == ns[j] + 1 {
            j += 1;
        }
        parts.push(if i == j { ns[i].to_string() } else { format!("{}-{}", ns[i], ns[j]) });
        i = j + 1;
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The default lets the model see the context of every token and mixes it with the
    /// adaptive model: what a model that predicts needs.
    #[test]
    fn the_default_level_shows_the_model_context() {
        let d = get(DEFAULT);
        assert!(d.plan.context > 0 && d.mix && d.method == Method::Arith, "{d:?}");
        assert!(llmzip::model::builtin::find(d.model).is_some(), "{} is built in", d.model);
    }

    /// From the default up every input, short or long, prose or log, is coded one token at a
    /// time.
    #[test]
    fn levels_from_the_default_up_code_one_token_at_a_time() {
        for n in DEFAULT..=9 {
            let d = get(n);
            assert_eq!(d.plan.settle, Some(Settle { after: 0, window: 1 }), "-{n}");
        }
        assert_eq!(get(4).plan.settle, None);
    }

    /// Each level from the default up sees more context than the one below on the same model
    /// (a token costs the LM `context` + 1 positions), or uses a larger model: the size
    /// ordering measured in the README rests on it.
    #[test]
    fn each_level_buys_more_context_or_a_larger_model() {
        for n in DEFAULT..9 {
            let (a, b) = (get(n), get(n + 1));
            if a.model == b.model {
                assert!(
                    b.plan.context > a.plan.context,
                    "-{}: context {} after {}",
                    n + 1,
                    b.plan.context,
                    a.plan.context
                );
            } else {
                assert!(b.plan.context >= a.plan.context && b.model == LARGE, "-{}: {b:?}", n + 1);
            }
        }
    }

    #[test]
    fn levels_are_listed_as_ranges() {
        assert_eq!(using("llmzip-small-1"), "1-4");
        assert_eq!(using("llmzip-medium-1"), "5-8");
        assert_eq!(using("llmzip-large-1"), "9");
        assert_eq!(using(llmzip::model::DEFAULT_MODEL), "");
        assert_eq!(using("no-such-model"), "");
    }
}
