//! DecoyMNIST (cdep.md §4.2): a 5×5 gray patch in a random corner whose shade encodes the
//! label (255 − 25·y in training, 25·y at test), so the shade is a shortcut that breaks.

use rand::Rng;
use tch::{Kind, Tensor};

/// Side of the patch.
pub const PATCH: i64 = 5;
/// Row/column offsets of the four corners: (0,0), (0,23), (23,0), (23,23).
pub const CORNERS: [(i64, i64); 4] = [(0, 0), (0, 23), (23, 0), (23, 23)];

/// `[4, 28, 28]` bool: one mask per corner.
pub fn corner_masks() -> Tensor {
    let masks: Vec<Tensor> = CORNERS
        .iter()
        .map(|&(r, c)| {
            let m = Tensor::zeros([28, 28], (Kind::Bool, tch::Device::Cpu));
            let _ = m.narrow(0, r, PATCH).narrow(1, c, PATCH).fill_(1);
            m
        })
        .collect();
    Tensor::stack(&masks, 0)
}

/// The fixed CDEP blob: union of the four corners, `[28, 28]` bool.
pub fn blob_mask() -> Tensor {
    corner_masks().any_dim(0, false)
}

/// Decoyed images and which corner each got.
#[derive(Debug)]
pub struct Decoyed {
    /// `[N,1,28,28]` f32 in [−1, 1].
    pub images: Tensor,
    /// `[N]` i64 index into [`CORNERS`].
    pub corners: Tensor,
}

/// Adds the patch to MNIST images (`[N,1,28,28]` in \[0, 1\]). `train` picks the shade rule
/// (255 − 25y, else 25y); corners are drawn from `seed`.
pub fn add_decoy(images: &Tensor, labels: &Tensor, train: bool, seed: u64) -> Decoyed {
    let n = images.size()[0];
    let mut rng = super::rng(seed);
    let corners: Vec<i64> = (0..n).map(|_| rng.gen_range(0..4)).collect();
    let corners = Tensor::from_slice(&corners);
    let mask = corner_masks().index_select(0, &corners).unsqueeze(1); // [N,1,28,28]
    let y = labels.to_kind(Kind::Float).view([n, 1, 1, 1]);
    let shade = if train { 255.0 - y * 25.0 } else { y * 25.0 };
    let raw = (images.to_kind(Kind::Float) * 255.0).round();
    let with_patch = raw.where_self(&mask.logical_not(), &shade.expand_as(&raw));
    Decoyed { images: with_patch / 255.0 * 2.0 - 1.0, corners }
}

/// DecoyMNIST splits: seeded 90/10 split of the training images, test-rule test images.
#[derive(Debug)]
pub struct DecoyMnist {
    pub train: Decoyed,
    pub train_y: Tensor,
    pub val: Decoyed,
    pub val_y: Tensor,
    pub test: Decoyed,
    pub test_y: Tensor,
}

/// Builds DecoyMNIST from MNIST tensors; `seed` drives the split and the corners.
pub fn build(
    train_images: &Tensor,
    train_labels: &Tensor,
    test_images: &Tensor,
    test_labels: &Tensor,
    seed: u64,
) -> DecoyMnist {
    let (tr, va) = super::color_mnist::split_indices(train_images.size()[0] as usize, 0.1, seed);
    let (ytr, yva) = (train_labels.index_select(0, &tr), train_labels.index_select(0, &va));
    DecoyMnist {
        train: add_decoy(&train_images.index_select(0, &tr), &ytr, true, seed.wrapping_add(1)),
        val: add_decoy(&train_images.index_select(0, &va), &yva, true, seed.wrapping_add(2)),
        test: add_decoy(test_images, test_labels, false, seed.wrapping_add(3)),
        train_y: ytr,
        val_y: yva,
        test_y: test_labels.shallow_clone(),
    }
}
