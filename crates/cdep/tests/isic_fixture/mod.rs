//! A tiny folder in the ISIC layout (`xai_core::data::isic`): 40×40 JPEG and PNG images,
//! a green square on every other benign image with its patch map, malignant images
//! darker. File names are written out of order so sorting is visible.

#![allow(dead_code)]

use image::{Rgb, RgbImage};
use std::path::{Path, PathBuf};

pub const SIDE: u32 = 40;
pub const N_BENIGN: usize = 10;
pub const N_MALIGNANT: usize = 6;
/// Benign images with even `i` carry a patch.
pub const N_PATCH: usize = 5;

/// A textured lesion-like image; `seed` varies the texture, `dark` the class look.
pub fn lesion(seed: u32, dark: bool) -> RgbImage {
    RgbImage::from_fn(SIDE, SIDE, |x, y| {
        let d = ((x as i32 - 20).pow(2) + (y as i32 - 20).pow(2)) as u32;
        let t = ((x * 7 + y * 13 + seed * 31) % 40) as u8;
        let base: u8 = if dark { 90 } else { 170 };
        let spot = if d < 120 + seed * 5 { 60 } else { 0 };
        Rgb([base.saturating_sub(spot) + t, (base / 2).saturating_sub(spot / 2) + t, 80 + t])
    })
}

/// The patch square of benign image `i`: top-left corner and side.
pub fn patch_at(i: usize) -> (u32, u32, u32) {
    ((i as u32 * 3) % 24, (i as u32 * 5) % 24, 10)
}

/// Pastes the green square and returns the map (white on black, 3 channels).
pub fn paste(img: &mut RgbImage, (r, c, s): (u32, u32, u32)) -> RgbImage {
    let mut map = RgbImage::new(SIDE, SIDE);
    for y in r..r + s {
        for x in c..c + s {
            img.put_pixel(x, y, Rgb([30, 220, 40]));
            map.put_pixel(x, y, Rgb([255, 255, 255]));
        }
    }
    map
}

/// Benign file names, deliberately not in sorted order, alternating JPEG and PNG.
pub fn benign_name(i: usize) -> String {
    let ext = if i % 3 == 0 { "png" } else { "jpg" };
    format!("ISIC_{:04}.{ext}", (i * 7) % N_BENIGN)
}

pub fn malignant_name(i: usize) -> String {
    format!("ISIC_{:04}.jpg", 100 + (i * 5) % N_MALIGNANT)
}

fn stem(name: &str) -> &str {
    name.rsplit_once('.').map(|(s, _)| s).unwrap_or(name)
}

/// Writes the folder at `root` (the `isic/` folder itself) and returns it. One extra map
/// belongs to a malignant image (the loader must ignore it).
pub fn write(root: &Path) -> PathBuf {
    for d in ["benign", "malignant", "segmentation"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    for i in 0..N_BENIGN {
        let mut img = lesion(i as u32, false);
        let name = benign_name(i);
        if i % 2 == 0 {
            let map = paste(&mut img, patch_at(i));
            map.save(root.join("segmentation").join(format!("{}.png", stem(&name)))).unwrap();
        }
        img.save(root.join("benign").join(&name)).unwrap();
    }
    for i in 0..N_MALIGNANT {
        lesion(50 + i as u32, true).save(root.join("malignant").join(malignant_name(i))).unwrap();
    }
    let stray = RgbImage::new(SIDE, SIDE);
    stray.save(root.join("segmentation").join(format!("{}.png", stem(&malignant_name(0))))).unwrap();
    std::fs::write(root.join("benign").join("notes.txt"), "not an image").unwrap();
    root.to_path_buf()
}
