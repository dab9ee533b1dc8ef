//! Toy colors (Ross et al. 2017; calimocho.md §1): 5×5 RGB images in four colors, labelled
//! by two rules that always agree (corners equal; top-middle three pairwise different).

use super::{data_err, npy};
use crate::{Error, Result};
use rand::Rng;
use std::path::Path;
use tch::{Kind, Tensor};

/// RGB of the four colors in CALIMOCHO's one-hot slot order: violet, blue, green, red.
pub const PALETTE: [[u8; 3]; 4] = [[128, 0, 255], [0, 128, 255], [0, 255, 0], [255, 0, 0]];
/// Pixels (r·5+c) of rule 0: the four corners.
pub const RULE0_PIXELS: [usize; 4] = [0, 4, 20, 24];
/// Pixels of rule 1: the three top-middle pixels.
pub const RULE1_PIXELS: [usize; 3] = [1, 2, 3];

/// The four arrays of `toy_colors.npz`.
#[derive(Debug)]
pub struct ToyColors {
    /// `[20000, 75]` u8, row-major 5×5×3.
    pub train_images: Tensor,
    pub test_images: Tensor,
    /// `[20000]` u8 in Ross's convention: 1 = rules violated.
    pub train_labels: Tensor,
    pub test_labels: Tensor,
}

/// Loads `root/toy_colors/toy_colors.npz`, checking shapes and dtypes.
pub fn load(root: &Path) -> Result<ToyColors> {
    let path = root.join("toy_colors").join("toy_colors.npz");
    if !path.is_file() {
        return Err(data_err("toy_colors", &path, "file not found"));
    }
    let a = npy::read_npz(&path, &["arr_0", "arr_1", "arr_2", "arr_3"])
        .map_err(|e| data_err("toy_colors", &path, e.to_string()))?;
    for (i, t) in a.iter().enumerate() {
        let want_dims = if i < 2 { 2 } else { 1 };
        if t.kind() != Kind::Uint8 || t.dim() != want_dims || (i < 2 && t.size()[1] != 75) {
            return Err(data_err(
                "toy_colors",
                &path,
                format!(
                    "arr_{i} is {:?} {:?}, expected uint8 {}",
                    t.kind(),
                    t.size(),
                    if i < 2 { "(N, 75)" } else { "(N,)" }
                ),
            ));
        }
    }
    let [train_images, test_images, train_labels, test_labels]: [Tensor; 4] =
        a.try_into().map_err(|_| Error::Other("internal".into()))?;
    Ok(ToyColors { train_images, test_images, train_labels, test_labels })
}

impl ToyColors {
    /// CALIMOCHO's view: all 40,000 images (train then test) as `[N, 75]` u8 and the
    /// flipped label `y = 1 − label` (1 ⇔ both rules hold) as i64.
    pub fn calimocho(&self) -> (Tensor, Tensor) {
        let x = Tensor::cat(&[&self.train_images, &self.test_images], 0);
        let y = 1 - Tensor::cat(&[&self.train_labels, &self.test_labels], 0).to_kind(Kind::Int64);
        (x, y)
    }
}

/// Color slot (0..4, order of [`PALETTE`]) of every pixel: `[N, 75]` u8 → `[N, 25]` i64.
/// Errors if a pixel is not one of the four colors.
pub fn color_slots(images: &Tensor) -> Result<Tensor> {
    let n = images.size()[0];
    let px = images.view([n, 25, 1, 3]);
    let pal: Vec<u8> = PALETTE.iter().flatten().copied().collect();
    let pal = Tensor::from_slice(&pal).view([1, 1, 4, 3]).to_device(images.device());
    let hit = px.eq_tensor(&pal).all_dim(-1, false); // [N,25,4]
    let ok = hit.sum_dim_intlist(-1, false, Kind::Int64).eq(1).all().int64_value(&[]) == 1;
    if !ok {
        return Err(Error::invalid("toy colors image", "a pixel is not one of the four palette colors"));
    }
    Ok(hit.to_kind(Kind::Int64).argmax(-1, false))
}

/// CALIMOCHO's input encoding: one-hot color per pixel plus a bias one → `[N, 101]` f32.
pub fn encode(images: &Tensor) -> Result<Tensor> {
    let slots = color_slots(images)?;
    let onehot = slots.one_hot(4).to_kind(Kind::Float).flatten(1, 2);
    let bias = Tensor::ones([onehot.size()[0], 1], (Kind::Float, onehot.device()));
    Ok(Tensor::cat(&[onehot, bias], 1))
}

/// Rule 0 per image (`[N]` bool): the four corners share one color.
pub fn rule0(images: &Tensor) -> Result<Tensor> {
    let s = color_slots(images)?;
    let idx = Tensor::from_slice(&RULE0_PIXELS.map(|p| p as i64)).to_device(s.device());
    let c = s.index_select(1, &idx);
    Ok(c.eq_tensor(&c.narrow(1, 0, 1)).all_dim(1, false))
}

/// Rule 1 per image: the three top-middle pixels are pairwise different.
pub fn rule1(images: &Tensor) -> Result<Tensor> {
    let s = color_slots(images)?;
    let (a, b, c) = (s.select(1, 1), s.select(1, 2), s.select(1, 3));
    Ok(a.ne_tensor(&b).logical_and(&b.ne_tensor(&c)).logical_and(&a.ne_tensor(&c)))
}

/// Pixel mask `[25]` bool of a rule's pixels (0 or 1).
pub fn rule_pixel_mask(rule: usize) -> Tensor {
    let mut m = [false; 25];
    let pixels: &[usize] = if rule == 0 { &RULE0_PIXELS } else { &RULE1_PIXELS };
    pixels.iter().for_each(|&p| m[p] = true);
    Tensor::from_slice(&m)
}

/// Ground-truth explanation z* `[N, 101]` for `rule`: ±1 (sign of 2y−1) on the active color
/// slot of the rule's pixels, 0 elsewhere and on the bias. `x` is [`encode`]'s output.
pub fn ground_truth(x: &Tensor, y: &Tensor, rule: usize) -> Tensor {
    let n = x.size()[0];
    let sign = (y.to_kind(Kind::Float) * 2.0 - 1.0).view([n, 1, 1]);
    let mask = rule_pixel_mask(rule).to_kind(Kind::Float).to_device(x.device()).view([1, 25, 1]);
    let z = x.narrow(1, 0, 100).view([n, 25, 4]) * mask * sign;
    Tensor::cat(&[z.view([n, 100]), Tensor::zeros([n, 1], (Kind::Float, x.device()))], 1)
}

/// Generates `n` images the way dtak/rrr's `toy_colors.py` does, deterministically from
/// `seed`: returns `[n, 75]` u8 images and `[n]` u8 labels in Ross's convention.
pub fn generate(n: usize, seed: u64) -> (Tensor, Tensor) {
    let mut rng = super::rng(seed);
    let mut images = Vec::with_capacity(n * 75);
    let mut labels = Vec::with_capacity(n);
    for _ in 0..n {
        let label: u8 = rng.gen_range(0..2);
        let mut px: [usize; 25] = std::array::from_fn(|_| rng.gen_range(0..4));
        let distinct3 = |p: &[usize; 25]| p[1] != p[2] && p[2] != p[3] && p[1] != p[3];
        if label == 0 {
            let c = px[24];
            px[0] = c;
            px[4] = c;
            px[20] = c;
            while !distinct3(&px) {
                px[rng.gen_range(1..4)] = rng.gen_range(0..4);
            }
        } else {
            if rng.gen_bool(0.5) {
                while px[4] == px[20] {
                    px[4] = rng.gen_range(0..4);
                }
            } else {
                while px[0] == px[24] {
                    px[0] = rng.gen_range(0..4);
                }
            }
            while distinct3(&px) {
                px[rng.gen_range(1..4)] = rng.gen_range(0..4);
            }
        }
        images.extend(px.iter().flat_map(|&s| PALETTE[s]));
        labels.push(label);
    }
    (Tensor::from_slice(&images).view([n as i64, 75]), Tensor::from_slice(&labels))
}
