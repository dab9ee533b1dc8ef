//! Stanford Sentiment Treebank: PTB-tree parsing, binary examples, and CDEP's biased
//! variants.

pub mod tree;
pub mod variants;

pub use tree::{parse_tree, Node, ParseError, Tree};
pub use variants::{make_variant, BiasSpec, SstVariant, Variant, ARTICLE, GENDER};

use super::{data_err, read_file};
use crate::Result;
use std::path::Path;

/// Label id of a positive example (the CDEP reference uses positive = 0).
pub const POSITIVE: i64 = 0;
/// Label id of a negative example.
pub const NEGATIVE: i64 = 1;

/// The three PTB-tree files.
#[derive(Debug, Clone)]
pub struct Sst {
    pub train: Vec<Tree>,
    pub dev: Vec<Tree>,
    pub test: Vec<Tree>,
}

/// A token sequence with a binary label ([`POSITIVE`] or [`NEGATIVE`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Example {
    pub tokens: Vec<String>,
    pub label: i64,
}

/// Fine label (0–4) to binary: 0, 1 → negative, 3, 4 → positive, 2 (neutral) → dropped.
pub fn binary_label(fine: u8) -> Option<i64> {
    match fine {
        0 | 1 => Some(NEGATIVE),
        3 | 4 => Some(POSITIVE),
        _ => None,
    }
}

/// Parses a file with one tree per line; errors name the file, line and column.
pub fn parse_file(path: &Path) -> Result<Vec<Tree>> {
    let bytes = read_file("sst", path)?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|e| data_err("sst", path, format!("not UTF-8 at byte {}", e.valid_up_to())))?;
    if text.trim().is_empty() {
        return Err(data_err("sst", path, "empty file"));
    }
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            parse_tree(l)
                .map_err(|e| data_err("sst", path, format!("line {}, column {}: {}", i + 1, e.offset + 1, e.message)))
        })
        .collect()
}

/// Loads `root/sst/{train,dev,test}.txt`.
pub fn load(root: &Path) -> Result<Sst> {
    let dir = root.join("sst");
    Ok(Sst {
        train: parse_file(&dir.join("train.txt"))?,
        dev: parse_file(&dir.join("dev.txt"))?,
        test: parse_file(&dir.join("test.txt"))?,
    })
}

/// Whole sentences with a non-neutral root label.
pub fn sentences(trees: &[Tree]) -> Vec<Example> {
    trees
        .iter()
        .filter_map(|t| binary_label(t.label()).map(|label| Example { tokens: t.tokens.clone(), label }))
        .collect()
}

/// Every subtree (leaves included, as torchtext's `train_subtrees=True` does) with a
/// non-neutral label.
pub fn phrases(trees: &[Tree]) -> Vec<Example> {
    trees
        .iter()
        .flat_map(|t| {
            t.nodes.iter().filter_map(move |n| {
                binary_label(n.label).map(|label| Example { tokens: t.tokens[n.start..n.end].to_vec(), label })
            })
        })
        .collect()
}
