//! CDEP's SST variants with an injected shortcut (cdep.md §4.3): random decoy words,
//! biased articles, biased gendered pronouns.

use super::{phrases, sentences, Example, Sst, POSITIVE};
use rand::Rng;

/// Which shortcut to inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// "text" inserted into every positive, "video" into every negative train sentence.
    Decoy,
    /// Articles: positive phrases get "a", negative "the".
    Article,
    /// Pronouns: positive phrases get "she", negative "he".
    Gender,
}

/// A word pair that encodes the label, and the filler word the pair is first mapped to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BiasSpec {
    pub positive: &'static str,
    pub negative: &'static str,
    pub filler: &'static str,
}

/// The article bias: "a" ↔ positive, "the" ↔ negative, filler "that".
pub const ARTICLE: BiasSpec = BiasSpec { positive: "a", negative: "the", filler: "that" };
/// The gender bias: "she" ↔ positive, "he" ↔ negative, filler "who".
pub const GENDER: BiasSpec = BiasSpec { positive: "she", negative: "he", filler: "who" };
/// Decoy words: (positive, negative).
pub const DECOY_WORDS: (&str, &str) = ("text", "video");

/// Train/dev/test of one variant and the words a penalty flags.
#[derive(Debug, Clone)]
pub struct SstVariant {
    pub train: Vec<Example>,
    pub dev: Vec<Example>,
    pub test: Vec<Example>,
    pub flagged: [&'static str; 2],
}

/// Inserts the label's decoy word before token `u ~ U{0..len−1}` (never appended).
pub fn insert_decoy(ex: &Example, rng: &mut impl Rng) -> Example {
    let word = if ex.label == POSITIVE { DECOY_WORDS.0 } else { DECOY_WORDS.1 };
    let mut tokens = ex.tokens.clone();
    let u = if tokens.is_empty() { 0 } else { rng.gen_range(0..tokens.len()) };
    tokens.insert(u, word.to_string());
    Example { tokens, label: ex.label }
}

/// Replaces both pair words by the filler, then turns the first filler (which may have
/// been there before) into the label's word.
pub fn apply_bias(ex: &Example, spec: &BiasSpec) -> Example {
    let mut tokens: Vec<String> = ex
        .tokens
        .iter()
        .map(|t| if t == spec.positive || t == spec.negative { spec.filler.to_string() } else { t.clone() })
        .collect();
    if let Some(first) = tokens.iter_mut().find(|t| *t == spec.filler) {
        *first = (if ex.label == POSITIVE { spec.positive } else { spec.negative }).to_string();
    }
    Example { tokens, label: ex.label }
}

/// Whether a sentence contains either word of the pair (the dev/test filter).
pub fn contains_pair(ex: &Example, spec: &BiasSpec) -> bool {
    ex.tokens.iter().any(|t| t == spec.positive || t == spec.negative)
}

/// Builds a variant from the parsed treebank; `seed` drives the decoy positions.
pub fn make_variant(sst: &Sst, variant: Variant, seed: u64) -> SstVariant {
    let (dev, test) = (sentences(&sst.dev), sentences(&sst.test));
    match variant {
        Variant::Decoy => {
            let mut rng = super::super::rng(seed);
            let train = sentences(&sst.train).iter().map(|e| insert_decoy(e, &mut rng)).collect();
            SstVariant { train, dev, test, flagged: [DECOY_WORDS.0, DECOY_WORDS.1] }
        }
        Variant::Article | Variant::Gender => {
            let spec = if variant == Variant::Article { ARTICLE } else { GENDER };
            let train = phrases(&sst.train).iter().map(|e| apply_bias(e, &spec)).collect();
            let keep = |v: Vec<Example>| v.into_iter().filter(|e| contains_pair(e, &spec)).collect();
            SstVariant { train, dev: keep(dev), test: keep(test), flagged: [spec.positive, spec.negative] }
        }
    }
}
