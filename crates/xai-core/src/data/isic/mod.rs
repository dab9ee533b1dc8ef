//! ISIC skin-lesion images with the CDEP authors' patch segmentations (spec `cdep.md`
//! §4.4). Bring your own data: nothing here is downloadable, so the loader reads a plain
//! folder layout under `<data root>/isic/`:
//!
//! ```text
//! isic/benign/*.{jpg,jpeg,png}          benign images (label 0)
//! isic/malignant/*.{jpg,jpeg,png}       malignant images (label 1)
//! isic/segmentation/<stem>.{png,jpg}    patch map of the benign image with that file stem:
//!                                       channel 0 > 100 is the patch; the image's own size
//!                                       or the authors' 299×299
//! ```
//!
//! A benign image with a map counts as a patch image, whatever the map holds (the
//! reference's rule). Files are sorted by name within each class folder (the reference
//! used directory order, which differs between machines); the dataset is benign images
//! then malignant ones, the order the 80/10/10 split ([`split`]) permutes.
//! [`pixels`] decodes, resizes and normalises images and masks in batches.

pub mod pixels;

use crate::{Error, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tch::{Kind, Tensor};

/// Folder of the dataset under the data root.
pub const DATASET: &str = "isic";
/// Class folders, in dataset order (label = position).
pub const CLASS_DIRS: [&str; 2] = ["benign", "malignant"];
/// Folder of the patch maps.
pub const SEGMENTATION_DIR: &str = "segmentation";
/// File extensions read as images (case-insensitive).
pub const EXTENSIONS: [&str; 3] = ["jpg", "jpeg", "png"];

/// What a data error about ISIC tells the user to do.
pub fn hint() -> String {
    "ISIC is bring-your-own-data: put the images in isic/benign/ and isic/malignant/ under the data root and the \
     patch maps in isic/segmentation/; the isic section of datasets/README.md describes the layout"
        .into()
}

fn err(path: &Path, msg: impl Into<String>) -> Error {
    Error::data(path, msg).with_hint(hint())
}

/// One image of the dataset.
#[derive(Debug, Clone)]
pub struct Entry {
    pub image: PathBuf,
    pub malignant: bool,
    /// Patch map (benign images only).
    pub mask: Option<PathBuf>,
}

impl Entry {
    /// A benign image with a patch map.
    pub fn has_patch(&self) -> bool {
        self.mask.is_some()
    }

    /// The class label, 0 benign / 1 malignant.
    pub fn label(&self) -> i64 {
        i64::from(self.malignant)
    }
}

/// Class and patch counts of a snapshot (the paper asks to report them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub benign: usize,
    pub benign_with_patch: usize,
    pub malignant: usize,
}

/// The sorted image list of an `isic/` folder.
#[derive(Debug, Clone)]
pub struct Index {
    pub root: PathBuf,
    /// Benign images (sorted by file name), then malignant ones.
    pub entries: Vec<Entry>,
    /// Patch maps that match no benign image (ignored, reported).
    pub unused_masks: Vec<PathBuf>,
}

impl Index {
    /// Lists `root` (the `isic/` folder itself). Errors name the folder or file at fault.
    pub fn open(root: &Path) -> Result<Index> {
        if !root.is_dir() {
            return Err(err(root, "ISIC folder not found"));
        }
        let mut entries = vec![];
        let mut stems: BTreeMap<String, PathBuf> = BTreeMap::new();
        for (label, dir) in CLASS_DIRS.iter().enumerate() {
            let files = list_images(&root.join(dir), true)?;
            if files.is_empty() {
                return Err(err(&root.join(dir), "no .jpg/.jpeg/.png images in this folder"));
            }
            for image in files {
                if let Some(prev) = stems.insert(stem(&image), image.clone()) {
                    return Err(err(
                        &image,
                        format!("same file stem as {}; every image needs its own", prev.display()),
                    ));
                }
                entries.push(Entry { image, malignant: label == 1, mask: None });
            }
        }
        let seg_dir = root.join(SEGMENTATION_DIR);
        let mut masks: BTreeMap<String, PathBuf> = BTreeMap::new();
        for m in list_images(&seg_dir, false)? {
            if let Some(prev) = masks.insert(stem(&m), m.clone()) {
                return Err(err(&m, format!("two patch maps for one image (also {})", prev.display())));
            }
        }
        for e in entries.iter_mut().filter(|e| !e.malignant) {
            e.mask = masks.remove(&stem(&e.image));
        }
        let unused_masks: Vec<PathBuf> = masks.into_values().collect();
        if !unused_masks.is_empty() {
            log::warn!(
                "isic: {} patch maps in {} match no benign image and are ignored (first: {})",
                unused_masks.len(),
                seg_dir.display(),
                unused_masks[0].display()
            );
        }
        Ok(Index { root: root.to_path_buf(), entries, unused_masks })
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn counts(&self) -> Counts {
        let malignant = self.entries.iter().filter(|e| e.malignant).count();
        Counts {
            benign: self.entries.len() - malignant,
            benign_with_patch: self.entries.iter().filter(|e| e.has_patch()).count(),
            malignant,
        }
    }

    /// Labels `[N]` i64 (0 benign, 1 malignant).
    pub fn labels(&self) -> Tensor {
        Tensor::from_slice(&self.entries.iter().map(Entry::label).collect::<Vec<_>>())
    }

    /// Which images carry a patch, `[N]` bool.
    pub fn has_patch(&self) -> Tensor {
        let v: Vec<i64> = self.entries.iter().map(|e| i64::from(e.has_patch())).collect();
        Tensor::from_slice(&v).to_kind(Kind::Bool)
    }

    /// Each image's path relative to the root, for logs and cache keys.
    pub fn relative(&self, path: &Path) -> String {
        path.strip_prefix(&self.root).unwrap_or(path).to_string_lossy().into_owned()
    }
}

fn stem(path: &Path) -> String {
    path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
}

fn is_image(path: &Path) -> bool {
    let hidden = path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.'));
    let ext = path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    !hidden && path.is_file() && EXTENSIONS.contains(&ext.as_str())
}

/// Image files of `dir`, sorted by file name; a missing folder is an error when
/// `required`, else empty.
fn list_images(dir: &Path, required: bool) -> Result<Vec<PathBuf>> {
    let read = match std::fs::read_dir(dir) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => return Ok(vec![]),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(err(dir, "folder not found")),
        Err(e) => return Err(Error::io(dir, e)),
    };
    let mut files = vec![];
    for item in read {
        let path = item.map_err(|e| Error::io(dir, e))?.path();
        if is_image(&path) {
            files.push(path);
        }
    }
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    Ok(files)
}

/// Row indices of the three splits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    pub train: Vec<i64>,
    pub val: Vec<i64>,
    pub test: Vec<i64>,
}

/// A seeded split of `0..n`: ⌊(1−2f)·n⌋ train, ⌊f·n⌋ validation, the rest test
/// (f = 0.1 gives the reference's 80/10/10 with the remainder in test).
pub fn split(n: usize, val_fraction: f64, seed: u64) -> Split {
    use rand::seq::SliceRandom;
    let mut idx: Vec<i64> = (0..n as i64).collect();
    idx.shuffle(&mut super::rng(seed));
    // The epsilon keeps products like 0.8 × 25 = 20.000000000000004 from rounding down.
    let n_train = (((1.0 - 2.0 * val_fraction) * n as f64) + 1e-9).floor().max(0.0) as usize;
    let n_val = ((val_fraction * n as f64) + 1e-9).floor() as usize;
    let n_train = n_train.min(n);
    let n_val = n_val.min(n - n_train);
    Split {
        train: idx[..n_train].to_vec(),
        val: idx[n_train..n_train + n_val].to_vec(),
        test: idx[n_train + n_val..].to_vec(),
    }
}
