//! MNIST from the original IDX files (`.gz` as published, or decompressed).

use super::{data_err, idx, read_file};
use crate::Result;
use std::path::{Path, PathBuf};
use tch::{Kind, Tensor};

/// The four MNIST tensors.
#[derive(Debug)]
pub struct Mnist {
    /// `[60000, 1, 28, 28]` f32 in [0, 1].
    pub train_images: Tensor,
    /// `[60000]` i64 in 0..=9.
    pub train_labels: Tensor,
    /// `[10000, 1, 28, 28]` f32 in [0, 1].
    pub test_images: Tensor,
    /// `[10000]` i64.
    pub test_labels: Tensor,
}

/// Finds `root/mnist/<stem>-ubyte(.gz)`; the raw name `<stem>.idx3-ubyte` style
/// (`train-images.idx3-ubyte`) of some redistributions is accepted too.
fn locate(dir: &Path, stem: &str) -> PathBuf {
    let dotted = stem.replacen("-idx", ".idx", 1);
    let candidates = [format!("{stem}-ubyte.gz"), format!("{stem}-ubyte"), format!("{dotted}-ubyte")];
    candidates.iter().map(|c| dir.join(c)).find(|p| p.is_file()).unwrap_or_else(|| dir.join(&candidates[0]))
}

fn read_idx(path: &Path, ndim: usize) -> Result<idx::Idx> {
    let bytes = read_file("mnist", path)?;
    let bytes = idx::maybe_gunzip(path, bytes).map_err(|e| data_err("mnist", path, strip(e)))?;
    idx::parse(path, &bytes, ndim).map_err(|e| data_err("mnist", path, strip(e)))
}

/// Keeps only the message of a data error so the hint can be attached once.
fn strip(e: crate::Error) -> String {
    match e {
        crate::Error::Data { message, .. } => message,
        other => other.to_string(),
    }
}

/// Loads one split: images `[N,1,28,28]` f32 in \[0, 1\] and labels `[N]` i64.
pub fn load_split(root: &Path, train: bool) -> Result<(Tensor, Tensor)> {
    let dir = root.join("mnist");
    let prefix = if train { "train" } else { "t10k" };
    let ipath = locate(&dir, &format!("{prefix}-images-idx3"));
    let lpath = locate(&dir, &format!("{prefix}-labels-idx1"));
    let images = read_idx(&ipath, 3)?;
    let labels = read_idx(&lpath, 1)?;
    let (n, h, w) = (images.dims[0], images.dims[1], images.dims[2]);
    if (h, w) != (28, 28) {
        return Err(data_err("mnist", &ipath, format!("images are {h}x{w}, expected 28x28")));
    }
    if labels.dims[0] != n {
        return Err(data_err("mnist", &lpath, format!("{} labels for {n} images", labels.dims[0])));
    }
    if let Some(pos) = labels.data.iter().position(|&l| l > 9) {
        return Err(data_err(
            "mnist",
            &lpath,
            format!("label {} at byte {} is not a digit", labels.data[pos], 8 + pos),
        ));
    }
    let x = Tensor::from_slice(&images.data).view([n as i64, 1, 28, 28]).to_kind(Kind::Float) / 255.0;
    let y = Tensor::from_slice(&labels.data).to_kind(Kind::Int64);
    Ok((x, y))
}

/// Loads `root/mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte(.gz)`.
pub fn load(root: &Path) -> Result<Mnist> {
    let (train_images, train_labels) = load_split(root, true)?;
    let (test_images, test_labels) = load_split(root, false)?;
    Ok(Mnist { train_images, train_labels, test_images, test_labels })
}
