//! E3 (spec §9 "MNIST-479", §10): the human-study variant of MNIST. Digits 4, 7 and 9 only,
//! relabelled 0, 1, 2; in train, the nearest neighbours of fixed 4- and 7-prototypes are
//! deleted, cutting "holes" for some writing styles, so that test digits in those styles get
//! high *epistemic* uncertainty. CLUE then explains the most epistemically uncertain test
//! digits (the pipeline is E2's, [`super::mnist::run_digits`]).

use super::digits::DigitData;
use super::Config;
use anyhow::{bail, Result};
use tch::{Kind, Tensor};
use xai_core::data::mnist::Mnist;
use xai_core::runner::{Outcome, Session};

/// The kept digits; class index = position.
pub const DIGITS: [i64; 3] = [4, 7, 9];

/// Prototype indices into the filtered (4/7/9, file order = torchvision order) train set,
/// spec §9 as given (1631 after 1646, 800 in both lists).
pub const PROTOTYPES_4: [i64; 41] = [
    16, 46, 135, 183, 332, 351, 385, 505, 515, 555, 587, 603, 705, 745, 766, 789, 800, 876, 910, 1057, 1206, 1217,
    1406, 1502, 1637, 1646, 1631, 1657, 1664, 1666, 1667, 1672, 1679, 1790, 1922, 1958, 2101, 2107, 2163, 2291, 2333,
];
pub const PROTOTYPES_7: [i64; 47] = [
    10, 45, 100, 127, 153, 162, 230, 284, 305, 306, 307, 350, 439, 630, 631, 652, 668, 676, 720, 721, 757, 800, 834,
    841, 846, 857, 931, 936, 1008, 1024, 1034, 1106, 1122, 1167, 1189, 1212, 1215, 1220, 1245, 1273, 1295, 1352, 1412,
    1433, 1459, 1788, 1505,
];
/// Neighbours per 4-prototype (L1 on raw 0–255 pixels) and per 7-prototype (L2), prototype included.
pub const NEIGHBOURS_4: i64 = 15;
pub const NEIGHBOURS_7: i64 = 12;

/// Rows of `images [N, 1, 28, 28]` whose label is 4, 7 or 9, flattened, labels relabelled.
fn keep_479(images: &Tensor, labels: &Tensor) -> (Tensor, Tensor) {
    let keep = DIGITS.iter().map(|&d| labels.eq(d)).reduce(|a, b| a.logical_or(&b)).expect("three digits");
    let idx = keep.nonzero().squeeze_dim(1);
    let y = labels.index_select(0, &idx);
    let relabelled =
        DIGITS.iter().enumerate().fold(y.zeros_like(), |acc, (c, &d)| acc + y.eq(d).to_kind(Kind::Int64) * c as i64);
    (images.index_select(0, &idx).flatten(1, -1), relabelled)
}

/// Indices of the filtered train rows deleted as holes: for each prototype its `k` nearest
/// train digits by the `p`-norm on raw pixels that share the prototype's label.
fn hole_rows(x: &Tensor, y: &Tensor, prototypes: &[i64], k: i64, p: f64) -> Result<Vec<i64>> {
    let n = x.size()[0];
    if let Some(bad) = prototypes.iter().find(|&&i| i >= n) {
        bail!("MNIST-479: prototype index {bad} beyond the {n} filtered train digits (not the official MNIST files?)");
    }
    // Raw 0–255 grey levels: integer L1 sums are exact in f32, as on the original uint8 data.
    let raw = (x * 255.0).round();
    let proto_idx = Tensor::from_slice(prototypes).to_device(x.device());
    // Mode 2: no matmul shortcut for L2, whose round-off could reorder near-ties.
    let d = Tensor::cdist(&raw.index_select(0, &proto_idx), &raw, p, 2);
    let (_, nearest) = d.topk(k, 1, false, true);
    let same = y
        .index_select(0, &nearest.flatten(0, -1))
        .eq_tensor(&y.index_select(0, &proto_idx).repeat_interleave_self_int(k, 0, None));
    let rows: Vec<i64> = Vec::try_from(nearest.flatten(0, -1).masked_select(&same).to_device(tch::Device::Cpu))?;
    Ok(rows)
}

/// MNIST-479 with its train holes (spec §9); `facts` records the sizes.
pub fn mnist479(m: &Mnist) -> Result<DigitData> {
    let (train_x, train_y) = keep_479(&m.train_images, &m.train_labels);
    let (test_x, test_y) = keep_479(&m.test_images, &m.test_labels);
    let n_before = train_x.size()[0];
    let mut holes = hole_rows(&train_x, &train_y, &PROTOTYPES_4, NEIGHBOURS_4, 1.0)?;
    let holes_4 = holes.len();
    holes.extend(hole_rows(&train_x, &train_y, &PROTOTYPES_7, NEIGHBOURS_7, 2.0)?);
    holes.sort_unstable();
    holes.dedup();
    let mut keep = vec![true; n_before as usize];
    for &h in &holes {
        keep[h as usize] = false;
    }
    let kept: Vec<i64> = (0..n_before).filter(|&i| keep[i as usize]).collect();
    let kept = Tensor::from_slice(&kept).to_device(train_x.device());
    let facts = serde_json::json!({
        "digits": DIGITS,
        "train_479_before_holes": n_before,
        "holes_removed": holes.len(),
        "hole_rows_from_4_prototypes_before_union": holes_4,
        "train_after_holes": n_before - holes.len() as i64,
        "test_479": test_x.size()[0],
        "rule": "spec §9: 15 L1 neighbours per 4-prototype, 12 L2 neighbours per 7-prototype, same label, union deleted",
    });
    Ok(DigitData {
        name: "mnist479",
        train_x: train_x.index_select(0, &kept),
        train_y: train_y.index_select(0, &kept),
        test_x,
        test_y,
        classes: DIGITS.len() as i64,
        digit_of_class: DIGITS.to_vec(),
        facts,
    })
}

/// E3.
pub fn run(session: &mut Session<'_, Config>) -> Result<Outcome> {
    let m = xai_core::data::mnist::load(session.data_root)?;
    let data = mnist479(&m)?;
    log::info!("MNIST-479: {}", data.facts);
    super::mnist::run_digits(session, data)
}
