//! The frozen half of the ISIC pipeline (spec §4.4): VGG16 features of every image and,
//! for the patch images, the CD split `(β, γ)` of those features for the dilated patch
//! mask — computed once, batch by batch without gradients, and cached on disk as
//! safetensors under a key that changes with anything they depend on.

use crate::cd::{CdOptions, Decomp, Sequential};
use crate::{CdepError, Result};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use tch::{Device, Kind, Tensor};
use xai_core::data::isic::{pixels, Entry, Index};

/// Features of a whole ISIC folder, in dataset order, on the CPU.
#[derive(Debug)]
pub struct FeatureSet {
    /// `[N, 25088]` features of every image.
    pub feat: Tensor,
    /// `[P]` dataset rows of the patch images (ascending).
    pub patch_rows: Tensor,
    /// `[P, 25088]` β (patch) and γ (rest) of those rows' features.
    pub rel: Tensor,
    pub irrel: Tensor,
}

/// How features are computed.
#[derive(Debug, Clone)]
pub struct ExtractOptions {
    pub image_size: u32,
    /// Side of the dilation square at `image_size` (already scaled).
    pub dilation: i64,
    pub threshold: u8,
    /// Images per forward / CD pass.
    pub batch: i64,
    pub cd: CdOptions,
    pub device: Device,
}

/// Rows of the patch images of `index`.
pub fn patch_rows(index: &Index) -> Vec<i64> {
    index.entries.iter().enumerate().filter(|(_, e)| e.has_patch()).map(|(i, _)| i as i64).collect()
}

/// Runs `extractor` over every image and CD over the patch images, `o.batch` images at a
/// time; each image is decoded once.
pub fn extract(index: &Index, extractor: &Sequential, o: &ExtractOptions) -> Result<FeatureSet> {
    let n = index.len();
    let batch = o.batch.max(1) as usize;
    let (mut feats, mut rels, mut irrels) = (vec![], vec![], vec![]);
    let started = std::time::Instant::now();
    let mut next_report = 0.1;
    for lo in (0..n).step_by(batch) {
        let chunk: Vec<&Entry> = index.entries[lo..(lo + batch).min(n)].iter().collect();
        let paths: Vec<&Path> = chunk.iter().map(|e| e.image.as_path()).collect();
        let x = pixels::load_images(&paths, o.image_size)?.to_device(o.device);
        tch::no_grad(|| -> Result<()> {
            feats.push(extractor.forward(&x, false)?.to_device(Device::Cpu));
            let with: Vec<i64> = (0..chunk.len() as i64).filter(|&i| chunk[i as usize].has_patch()).collect();
            if !with.is_empty() {
                let entries: Vec<&Entry> = with.iter().map(|&i| chunk[i as usize]).collect();
                let masks = pixels::dilate(&pixels::load_masks(&entries, o.image_size, o.threshold)?, o.dilation);
                let xp = x.index_select(0, &Tensor::from_slice(&with).to_device(o.device));
                let d = extractor.cd_decomp(Decomp::from_mask(&xp, &masks.to_device(o.device))?, &o.cd)?;
                rels.push(d.rel.to_device(Device::Cpu));
                irrels.push(d.irrel.to_device(Device::Cpu));
            }
            Ok(())
        })?;
        let done = (lo + chunk.len()) as f64 / n as f64;
        if done >= next_report {
            log::info!("isic features: {:.0}% ({:.0}s)", 100.0 * done, started.elapsed().as_secs_f64());
            next_report += 0.1;
        }
    }
    let empty = || Tensor::zeros([0, crate::nets::vgg::FEATURE_DIM], (Kind::Float, Device::Cpu));
    let cat = |v: &[Tensor]| if v.is_empty() { empty() } else { Tensor::cat(v, 0) };
    Ok(FeatureSet {
        feat: cat(&feats),
        patch_rows: Tensor::from_slice(&patch_rows(index)),
        rel: cat(&rels),
        irrel: cat(&irrels),
    })
}

/// What the cached features depend on, hashed: the image and map files (path, label,
/// size, modification time), the pixel and CD settings, and `weights_id` (the weights
/// file's identity, or the random-init seed).
pub fn cache_key(index: &Index, o: &ExtractOptions, weights_id: &str) -> Result<String> {
    let stamp = |p: &Path| -> Result<String> {
        let m = std::fs::metadata(p).map_err(|e| xai_core::Error::io(p, e))?;
        let t = m.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).unwrap_or_default();
        Ok(format!("{} {} {}.{:09}", index.relative(p), m.len(), t.as_secs(), t.subsec_nanos()))
    };
    let mut h = Sha256::new();
    h.update(format!(
        "xai-rs isic vgg16 features v1\nsize {} dilation {} threshold {} cd {:?}\nweights {weights_id}\n",
        o.image_size, o.dilation, o.threshold, o.cd
    ));
    for e in &index.entries {
        h.update(format!("{} {}", e.label(), stamp(&e.image)?));
        if let Some(m) = &e.mask {
            h.update(format!(" mask {}", stamp(m)?));
        }
        h.update("\n");
    }
    Ok(h.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect())
}

/// The identity of a weights file for [`cache_key`]: canonical path, size and
/// modification time (hashing 528 MB on every run would cost more than it saves).
pub fn file_identity(path: &Path) -> Result<String> {
    let m = std::fs::metadata(path).map_err(|e| xai_core::Error::io(path, e))?;
    let t = m.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).unwrap_or_default();
    let canon = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    Ok(format!("{} {} {}", canon.display(), m.len(), t.as_secs()))
}

/// The cache file of `key` in `dir`.
pub fn cache_file(dir: &Path, key: &str) -> PathBuf {
    dir.join(format!("vgg16-features-{key}.safetensors"))
}

/// Reads a cache file, checking it against the index; `None` (with a warning) when it
/// is unreadable or does not fit, so the caller recomputes.
fn read_cache(path: &Path, index: &Index) -> Option<FeatureSet> {
    let named = match xai_core::checkpoint::load_tensors(path) {
        Ok(n) => n,
        Err(e) => {
            log::warn!("isic: ignoring the feature cache ({e}); recomputing");
            return None;
        }
    };
    let get = |k: &str| named.iter().find(|(n, _)| n == k).map(|(_, t)| t.shallow_clone());
    let (feat, rows, rel, irrel) = (get("feat")?, get("patch_rows")?, get("rel")?, get("irrel")?);
    let (n, p) = (index.len() as i64, patch_rows(index));
    let fits = feat.size() == [n, crate::nets::vgg::FEATURE_DIM]
        && Vec::<i64>::try_from(&rows).ok().as_ref() == Some(&p)
        && rel.size() == [p.len() as i64, crate::nets::vgg::FEATURE_DIM]
        && irrel.size() == rel.size();
    if !fits {
        log::warn!("isic: feature cache {} does not fit the image list; recomputing", path.display());
        return None;
    }
    Some(FeatureSet { feat, patch_rows: rows, rel, irrel })
}

/// The features of `index` from `cache` when present and fitting, else computed with
/// the extractor `make_extractor` builds (only called on a miss) and written to `cache`
/// atomically; a cache that cannot be written only costs a warning. Returns the features
/// and whether they came from the cache.
pub fn load_or_extract(
    cache: &Path,
    index: &Index,
    o: &ExtractOptions,
    make_extractor: impl FnOnce() -> Result<Sequential>,
) -> Result<(FeatureSet, bool)> {
    if cache.is_file() {
        if let Some(f) = read_cache(cache, index) {
            log::info!("isic: features from cache {}", cache.display());
            return Ok((f, true));
        }
    }
    let extractor = make_extractor()?;
    log::info!("isic: computing VGG16 features of {} images (cache: {})", index.len(), cache.display());
    let f = extract(index, &extractor, o)?;
    let named = [("feat", &f.feat), ("patch_rows", &f.patch_rows), ("rel", &f.rel), ("irrel", &f.irrel)];
    let named: Vec<(&str, Tensor)> = named.iter().map(|(n, t)| (*n, t.shallow_clone())).collect();
    if let Err(e) = xai_core::checkpoint::save_tensors(&named, cache) {
        log::warn!("isic: could not write the feature cache ({e}); the next run recomputes");
    }
    Ok((f, false))
}

/// Where the cache lives: `isic.cache_dir` (under the data root unless absolute), else
/// `<data root>/isic/cache`.
pub fn cache_dir(data_root: &Path, configured: Option<&str>) -> PathBuf {
    match configured {
        Some(d) if Path::new(d).is_absolute() => PathBuf::from(d),
        Some(d) => data_root.join(d),
        None => data_root.join(xai_core::data::isic::DATASET).join("cache"),
    }
}

/// Checks that features and CD parts hold finite numbers (a corrupt weights file shows
/// up here, not as a NaN loss later).
pub fn check_finite(f: &FeatureSet) -> Result<()> {
    for (name, t) in [("features", &f.feat), ("CD relevant part", &f.rel), ("CD irrelevant part", &f.irrel)] {
        if t.numel() > 0 && !bool::try_from(t.isfinite().all())? {
            return Err(CdepError::invalid("isic features", format!("{name} hold NaN or infinite values")));
        }
    }
    Ok(())
}
