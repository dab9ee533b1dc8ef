//! Fuzzing the byte and text parsers with proptest: arbitrary (and mutated valid) input
//! must give `Ok` or `Err`, never a panic. Each `proptest!` block runs `CASES` inputs.

use proptest::prelude::*;
use std::path::Path;
use xai_core::data::{cifar, ecg, idx, npy, sst};

const CASES: u32 = 2000;

fn valid_npy() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("a.npy");
    tch::Tensor::from_slice(&[1u8, 2, 3, 4, 5, 6]).view([2, 3]).write_npy(&p).unwrap();
    std::fs::read(p).unwrap()
}

/// A valid input with a few bytes overwritten and possibly truncated.
fn mutated(base: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let len = base.len();
    (prop::collection::vec((0..len, any::<u8>()), 0..6), 0..=len).prop_map(move |(edits, cut)| {
        let mut b = base.clone();
        for (i, v) in edits {
            b[i] = v;
        }
        b.truncate(cut.max(1));
        b
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn idx_parser_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..64), ndim in 1usize..4) {
        let _ = idx::parse(Path::new("f"), &bytes, ndim);
        let _ = idx::maybe_gunzip(Path::new("f"), bytes);
    }

    #[test]
    fn idx_parser_mutated_valid(bytes in mutated(idx::encode(&[2, 2, 2], &[1; 8]))) {
        let _ = idx::parse(Path::new("f"), &bytes, 3);
    }

    #[test]
    fn gzip_truncation_never_panics(cut in 0usize..200, flip in any::<(u8, u8)>()) {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(&idx::encode(&[10, 10], &[7; 100])).unwrap();
        let mut gz = e.finish().unwrap();
        let i = flip.0 as usize % gz.len();
        gz[i] ^= flip.1;
        gz.truncate(cut.min(gz.len()));
        let _ = idx::maybe_gunzip(Path::new("f.gz"), gz);
    }

    #[test]
    fn cifar_parser_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..3 * 3073 + 10)) {
        let r = cifar::parse(Path::new("f"), &bytes);
        prop_assert_eq!(r.is_ok(), !bytes.is_empty() && bytes.len() % 3073 == 0 && bytes.chunks(3073).all(|c| c[0] <= 9));
    }

    #[test]
    fn npy_parser_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = npy::read_npy_bytes(Path::new("f"), &bytes);
        let _ = npy::read_array(Path::new("f"), &bytes[..], bytes.len() as u64);
    }

    #[test]
    fn npy_parser_mutated_valid(bytes in mutated(valid_npy())) {
        let _ = npy::read_npy_bytes(Path::new("f"), &bytes);
        let _ = npy::read_array(Path::new("f"), &bytes[..], bytes.len() as u64);
    }

    #[test]
    fn tree_parser_never_panics(s in "[()0-9a-z \\\\/.-]{0,60}") {
        let _ = sst::parse_tree(&s);
    }

    #[test]
    fn tree_parser_arbitrary_unicode(s in any::<String>()) {
        let _ = sst::parse_tree(&s);
    }

    #[test]
    fn tree_parser_mutated_valid(edits in prop::collection::vec((0usize..40, prop::sample::select(vec!['(', ')', ' ', '5', 'x', '2'])), 0..4)) {
        let mut s: Vec<char> = "(3 (2 (2 The) (2 Rock)) (4 (3 8 1\\/2) (2 x)))".chars().collect();
        for (i, c) in edits {
            let i = i % s.len();
            s[i] = c;
        }
        let line: String = s.into_iter().collect();
        if let Ok(t) = sst::parse_tree(&line) {
            // Spans of a successfully parsed tree are always within the tokens.
            prop_assert!(t.nodes.iter().all(|n| n.start <= n.end && n.end <= t.tokens.len()));
        }
    }

    #[test]
    fn ecg_text_parsers_never_panic(s in "[0-9eE+. ,\\t\\n@a-z%-]{0,120}") {
        let _ = ecg::parse_text(Path::new("f"), &s);
        let _ = ecg::parse_arff(Path::new("f"), &s);
    }
}

#[test]
fn deep_nesting_does_not_overflow() {
    let deep = format!("{}(2 a){}", "(2 ".repeat(100_000), ")".repeat(100_000));
    let t = sst::parse_tree(&deep).unwrap();
    assert_eq!(t.nodes.len(), 100_001);
    assert!(sst::parse_tree(&"(".repeat(100_000)).is_err());
}
