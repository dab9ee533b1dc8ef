//! SST: counts on the real treebank (cdep.md §4.3, §9 property 18) and the variant
//! transforms (properties 19, 20).

use proptest::prelude::*;
use xai_core::data::sst::{self, variants, Example, Variant, ARTICLE, GENDER, NEGATIVE, POSITIVE};
use xai_core::data::{data_root, rng};

fn real() -> sst::Sst {
    sst::load(&data_root(None)).expect("SST must be fetched for this test")
}

#[test]
fn real_tree_sentence_and_phrase_counts() {
    let s = real();
    assert_eq!((s.train.len(), s.dev.len(), s.test.len()), (8544, 1101, 2210));
    let (tr, dv, te) = (sst::sentences(&s.train), sst::sentences(&s.dev), sst::sentences(&s.test));
    assert_eq!((tr.len(), dv.len(), te.len()), (6920, 872, 1821));
    assert_eq!(tr.iter().filter(|e| e.label == POSITIVE).count(), 3610);
    assert_eq!(sst::phrases(&s.train).len(), 98_794);
    // Multi-token leaf "8 1\/2" gives two tokens.
    let leaf = sst::parse_tree("(3 (2 8 1\\/2) (3 Good))").unwrap();
    assert_eq!(leaf.tokens, ["8", "1\\/2", "good"]);
    assert_eq!(sst::binary_label(4), Some(POSITIVE));
    assert_eq!(sst::binary_label(0), Some(NEGATIVE));
    assert_eq!(sst::binary_label(2), None);
}

#[test]
fn real_variant_dev_test_filters() {
    let s = real();
    let a = sst::make_variant(&s, Variant::Article, 0);
    assert_eq!((a.dev.len(), a.test.len()), (671, 1410));
    let g = sst::make_variant(&s, Variant::Gender, 0);
    assert_eq!((g.dev.len(), g.test.len()), (27, 55));
    let d = sst::make_variant(&s, Variant::Decoy, 7);
    assert_eq!(d.train.len(), 6920);
    assert_eq!(d.dev, sst::sentences(&s.dev));
    // Deterministic from the seed.
    assert_eq!(d.train, sst::make_variant(&s, Variant::Decoy, 7).train);
    // Property 19 on every real train sentence.
    for (orig, dec) in sst::sentences(&s.train).iter().zip(&d.train) {
        check_decoy(orig, dec);
    }
    // Property 20 on every real train phrase, for both pairs.
    for spec in [ARTICLE, GENDER] {
        for ex in sst::phrases(&s.train) {
            check_bias(&ex, &variants::apply_bias(&ex, &spec), &spec);
        }
    }
}

fn check_decoy(orig: &Example, dec: &Example) {
    assert_eq!(dec.tokens.len(), orig.tokens.len() + 1);
    let want = if orig.label == POSITIVE { "text" } else { "video" };
    let before = |w: &str| orig.tokens.iter().filter(|t| *t == w).count();
    let after = |w: &str| dec.tokens.iter().filter(|t| *t == w).count();
    assert_eq!(after(want), before(want) + 1);
    let other = if want == "text" { "video" } else { "text" };
    assert_eq!(after(other), before(other));
    // Some position before the last holds the decoy, and removing it recovers the original
    // (the last position is never needed, so the decoy is never appended).
    let ok = (0..orig.tokens.len()).any(|u| {
        let mut rest = dec.tokens.clone();
        rest.remove(u) == want && rest == orig.tokens
    });
    assert!(ok, "{orig:?} -> {dec:?}");
}

fn check_bias(orig: &Example, out: &Example, spec: &sst::BiasSpec) {
    let words = [spec.positive, spec.negative, spec.filler];
    let first = orig.tokens.iter().position(|t| words.contains(&t.as_str()));
    match first {
        None => assert_eq!(orig, out),
        Some(p) => {
            let want = if orig.label == POSITIVE { spec.positive } else { spec.negative };
            let pair: Vec<usize> = (0..out.tokens.len())
                .filter(|&i| out.tokens[i] == spec.positive || out.tokens[i] == spec.negative)
                .collect();
            assert_eq!(pair, [p], "{orig:?} -> {out:?}");
            assert_eq!(out.tokens[p], want);
            assert_eq!(out.tokens.len(), orig.tokens.len());
        }
    }
}

fn example() -> impl Strategy<Value = Example> {
    let word = prop::sample::select(vec!["a", "the", "that", "he", "she", "who", "film", "good", "text", "video"]);
    (prop::collection::vec(word, 1..12), prop::bool::ANY).prop_map(|(w, pos)| Example {
        tokens: w.into_iter().map(String::from).collect(),
        label: if pos { POSITIVE } else { NEGATIVE },
    })
}

proptest! {
    #[test]
    fn decoy_insertion_invariants(ex in example(), seed in any::<u64>()) {
        let mut r = rng(seed);
        check_decoy(&ex, &variants::insert_decoy(&ex, &mut r));
    }

    #[test]
    fn bias_transform_invariants(ex in example()) {
        for spec in [ARTICLE, GENDER] {
            check_bias(&ex, &variants::apply_bias(&ex, &spec), &spec);
        }
    }
}

#[test]
fn bad_tree_files_name_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("train.txt");
    std::fs::write(&p, "(3 (2 a) (3 b))\n(2 (2 c)\n").unwrap();
    let e = sst::parse_file(&p).unwrap_err().to_string();
    assert!(e.contains("train.txt") && e.contains("line 2") && e.contains("unbalanced"), "{e}");
    std::fs::write(&p, "").unwrap();
    assert!(sst::parse_file(&p).unwrap_err().to_string().contains("empty file"));
    let e = sst::load(dir.path()).unwrap_err().to_string();
    assert!(e.contains("fetch-data sst"), "{e}");
}
