//! CIFAR-10 binary version: records of 1 label byte + 3,072 image bytes (CHW, 32×32).
//! Images stay u8 (`to_float` converts a batch when it is needed).

use super::{data_err, read_file};
use crate::Result;
use rand::Rng;
use std::path::Path;
use tch::{Kind, Tensor};

/// Bytes per record.
pub const RECORD: usize = 1 + 3 * 32 * 32;
/// Training batch files, then the test batch.
pub const TRAIN_FILES: [&str; 5] =
    ["data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"];
pub const TEST_FILE: &str = "test_batch.bin";

/// Parses one batch file's bytes → images `[N,3,32,32]` u8, labels `[N]` i64.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<(Tensor, Tensor)> {
    if bytes.is_empty() {
        return Err(data_err("cifar10", path, "empty file"));
    }
    if bytes.len() % RECORD != 0 {
        let n = bytes.len() / RECORD;
        return Err(data_err(
            "cifar10",
            path,
            format!(
                "length {} is not a multiple of {RECORD}: record {n} is cut short at byte {}",
                bytes.len(),
                n * RECORD
            ),
        ));
    }
    let n = bytes.len() / RECORD;
    if let Some(r) = (0..n).find(|r| bytes[r * RECORD] > 9) {
        return Err(data_err(
            "cifar10",
            path,
            format!("record {r} (byte {}): label {} is not in 0..=9", r * RECORD, bytes[r * RECORD]),
        ));
    }
    let all = Tensor::from_slice(bytes).view([n as i64, RECORD as i64]);
    let labels = all.select(1, 0).to_kind(Kind::Int64);
    let images = all.narrow(1, 1, (RECORD - 1) as i64).contiguous().view([n as i64, 3, 32, 32]);
    Ok((images, labels))
}

/// Reads one batch file.
pub fn read(path: &Path) -> Result<(Tensor, Tensor)> {
    parse(path, &read_file("cifar10", path)?)
}

/// CIFAR-10 as u8 images `[N,3,32,32]` and i64 labels.
#[derive(Debug)]
pub struct Cifar10 {
    pub train_images: Tensor,
    pub train_labels: Tensor,
    pub test_images: Tensor,
    pub test_labels: Tensor,
}

/// Loads `root/cifar10/{data_batch_1..5,test_batch}.bin`.
pub fn load(root: &Path) -> Result<Cifar10> {
    let dir = root.join("cifar10");
    let parts = TRAIN_FILES.iter().map(|f| read(&dir.join(f))).collect::<Result<Vec<_>>>()?;
    let (xs, ys): (Vec<Tensor>, Vec<Tensor>) = parts.into_iter().unzip();
    let (test_images, test_labels) = read(&dir.join(TEST_FILE))?;
    Ok(Cifar10 { train_images: Tensor::cat(&xs, 0), train_labels: Tensor::cat(&ys, 0), test_images, test_labels })
}

/// u8 images → f32 in [0, 1].
pub fn to_float(images: &Tensor) -> Tensor {
    images.to_kind(Kind::Float) / 255.0
}

/// Encodes images `[N,3,32,32]` u8 and labels `[N]` as a batch file's bytes.
pub fn encode(images: &Tensor, labels: &Tensor) -> Result<Vec<u8>> {
    let n = images.size()[0];
    let lab = labels.to_kind(Kind::Uint8).view([n, 1]);
    let rec = Tensor::cat(&[lab, images.to_kind(Kind::Uint8).view([n, 3072])], 1);
    Ok(Vec::<u8>::try_from(rec.flatten(0, -1))?)
}

/// Writes small random batch files (`n_per_file` records each) in the binary format to
/// `dir`, deterministically from `seed`, for loader tests and offline smoke runs.
pub fn write_synthetic(dir: &Path, n_per_file: usize, seed: u64) -> Result<()> {
    let mut rng = super::rng(seed);
    for f in TRAIN_FILES.iter().chain(&[TEST_FILE]) {
        let mut bytes = Vec::with_capacity(n_per_file * RECORD);
        for _ in 0..n_per_file {
            bytes.push(rng.gen_range(0..10u8));
            bytes.extend((0..RECORD - 1).map(|_| rng.gen::<u8>()));
        }
        crate::fsutil::atomic_write(&dir.join(f), &bytes)?;
    }
    Ok(())
}
