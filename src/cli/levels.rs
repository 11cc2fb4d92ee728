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
    /// the plan for structured text ([`llmzip::compressor::structured`]), where the plan's
    /// lanes cost the adaptive model most
    pub structured: Option<RevealPlan>,
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
        structured: None,
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

/// A level of causal model `model` ([`Shape::Causal`]): `context` … `context + hop - 1` tokens
/// before every token, one new row per token for the engine, up to `lanes` lanes per block
/// (fewer lanes: fewer tokens coded without context, fewer rows per product).
const fn causal(model: &'static str, context: usize, hop: usize, lanes: usize) -> Level {
    let lanes = Lanes::AtMost(lanes);
    Level {
        plan: RevealPlan { window: hop, context, rounds: 1, shape: Shape::Causal, lanes, settle: None },
        ..plan(model, Method::Arith, hop, context, 1)
    }
}

/// `level` coding structured text (logs, tables) with at most `lanes` lanes and `context` …
/// `context + hop - 1` tokens of context: the adaptive model then has seen the text before
/// each token instead of only the start of every other lane (docs/RESULTS.md, "Session 11":
/// logs −18%, CSV −19% at one lane, context 32 … 127, against 32 lanes, context 16 … 63).
const fn structured(level: Level, lanes: usize, context: usize, hop: usize) -> Level {
    let plan = RevealPlan { lanes: Lanes::AtMost(lanes), context, window: hop, ..level.plan };
    Level { structured: Some(plan), ..level }
}

/// The plan a causal model given with `--model` takes at a level made for a masked model:
/// the default's.
pub const CAUSAL_PLAN: RevealPlan = LEVELS[DEFAULT as usize - 1].plan;
/// The plan a masked model given with `--model` takes at a level made for a causal one: one
/// token at a time, one token of context (the default before causal models).
pub const MASKED_PLAN: RevealPlan = one_token(plan(MEDIUM, Arith, 32, 32, 2), 1).plan;

use Method::{Arith, Mask};
const SMALL: &str = "llmzip-small-1";
const MEDIUM: &str = "llmzip-medium-1";
/// The masked model `llmzip bench --paper` uses unless told (the mask method needs one).
pub const PAPER_MODEL: &str = MEDIUM;
const CAUSAL1: &str = "llmzip-causal-1";
/// 8 × 320, about 2.5 times the CPU time of llmzip-causal-1 per token
const CAUSAL_LARGE: &str = "llmzip-causal-large-1";

/// Levels 1 to 9, fastest first, each smaller than the one before on alice29.txt (README,
/// "Levels", measured side by side). All use pre-LayerNorm models on the integer engine. From
/// the default up the models are causal (they predict the next token from the tokens before
/// it) and code one token per lane and call; the engine reuses each lane's rows from the call
/// before, so a token costs about one new row whatever its context. Measured on alice29.txt
/// (docs/RESULTS.md, "Session 9"): the default with 16 … 63 tokens of context is 28,286
/// bytes against 33,641 for the previous default (masked llmzip-medium-1, one token at a
/// time, context 1) at less CPU time; wider contexts made the 4 × 256 model no smaller, the
/// 8 × 320 one smaller up to 64 … 191. Fewer lanes code fewer tokens without context.
pub const LEVELS: [Level; 9] = [
    /* 1 */ plan(SMALL, Mask, 64, 0, 1),
    /* 2 */ plan(SMALL, Arith, 64, 0, 1),
    /* 3 */ plan(SMALL, Arith, 32, 8, 1),
    /* 4 */ plan(SMALL, Arith, 32, 32, 2),
    /* 5 */ structured(causal(CAUSAL1, 16, 48, 32), 1, 32, 96),
    /* 6 */ causal(CAUSAL_LARGE, 16, 48, 32),
    /* 7 */ causal(CAUSAL_LARGE, 64, 128, 32),
    /* 8 */ causal(CAUSAL_LARGE, 64, 128, 8),
    /* 9 */ causal(CAUSAL_LARGE, 64, 128, 1),
];

/// The adaptive token model of each level (arith), a column of its own so that it changes
/// apart from the models and plans: version 9 (context mixing), version 8 in a seventh of the
/// memory per block (docs/RESULTS.md, "Session 12"). Level 1 (mask) does not use it.
pub const MIX_VERSIONS: [u8; 9] = [2, 9, 9, 9, 9, 9, 9, 9, 9];

/// The level used when none is given.
pub const DEFAULT: u8 = 5;

/// Level `n` (1..=9).
pub fn get(n: u8) -> Level {
    let k = (n.clamp(1, 9) - 1) as usize;
    Level { mix_version: MIX_VERSIONS[k], ..LEVELS[k] }
}

impl Level {
    /// The level's plan for a model that is `causal` or not: its own when it fits that kind of
    /// model, else [`CAUSAL_PLAN`] or [`MASKED_PLAN`].
    pub fn plan_for(self, causal: bool) -> RevealPlan {
        match (causal, self.plan.shape == Shape::Causal) {
            (true, false) => CAUSAL_PLAN,
            (false, true) => MASKED_PLAN,
            _ => self.plan,
        }
    }

    /// The library's settings for this level, coding with `method` a model that is `causal`
    /// or not.
    pub fn options(self, method: Method, causal: bool) -> llmzip::Options {
        let plan = self.plan_for(causal);
        llmzip::Options {
            method,
            plan,
            mix: self.mix,
            mix_version: self.mix_version,
            structured_plan: self.structured_for(causal),
            ..Default::default()
        }
    }

    /// [`Level::structured`] where the level's own plan is used (a model of its kind).
    pub fn structured_for(self, causal: bool) -> Option<RevealPlan> {
        self.structured.filter(|_| self.plan_for(causal) == self.plan)
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

    /// From the default up every input is coded one token at a time, each token seeing the
    /// tokens right before it: by a causal model from the default up, a masked one (`--settle
    /// 0,1`) above it if any level keeps one.
    #[test]
    fn levels_from_the_default_up_code_one_token_at_a_time() {
        for n in DEFAULT..=9 {
            let p = get(n).plan;
            let one_token = p.shape == Shape::Causal || p.settle == Some(Settle { after: 0, window: 1 });
            assert!(one_token, "-{n}: {p:?}");
        }
        assert_eq!(get(DEFAULT).plan.shape, Shape::Causal);
        assert_eq!(get(4).plan.settle, None);
    }

    /// A level's model fits its plan: causal plans for causal models, others for masked ones
    /// (checked on the built-in models themselves), and the fallback plans are of their kind.
    #[test]
    fn each_level_s_plan_fits_its_model() {
        for n in 1..=9 {
            let l = get(n);
            let cfg = llmzip::model::builtin::find(l.model).expect("built in").config;
            let causal = std::str::from_utf8(cfg).unwrap().contains("\"is_decoder\": true");
            assert_eq!(causal, l.plan.shape == Shape::Causal, "-{n}: {}", l.model);
            assert_eq!(l.plan_for(causal), l.plan);
        }
        assert_eq!(CAUSAL_PLAN.shape, Shape::Causal);
        assert_ne!(MASKED_PLAN.shape, Shape::Causal);
    }

    #[test]
    fn levels_are_listed_as_ranges() {
        assert_eq!(using("llmzip-small-1"), "1-4");
        assert_eq!(using("llmzip-causal-1"), "5");
        assert_eq!(using("llmzip-causal-large-1"), "6-9");
        assert_eq!(using("llmzip-large-1"), "");
        assert_eq!(using(llmzip::model::DEFAULT_MODEL), "");
        assert_eq!(using("no-such-model"), "");
    }
}
