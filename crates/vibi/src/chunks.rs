//! Chunks: the explainer's output grid cuts the input into F = C_xpl·h·w blocks of
//! s×s pixels (one colour channel each when C_xpl = 3, all channels when C_xpl = 1).

use crate::{Result, VibiError};
use tch::Tensor;

/// Geometry of a k-of-F selection over `[C, H, W]` inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkGrid {
    /// C_xpl: 1 (a mask shared by every colour channel) or the input's channel count.
    pub channels: i64,
    /// h: chunk rows.
    pub rows: i64,
    /// w: chunk columns.
    pub cols: i64,
    /// s: chunk side in pixels.
    pub size: i64,
}

impl ChunkGrid {
    /// The grid for `height`×`width` images cut into `chunk`×`chunk` blocks.
    /// An image size that the chunk side does not divide is an error naming both.
    pub fn new(height: i64, width: i64, chunk: i64, channels: i64) -> Result<Self> {
        if chunk <= 0 {
            return Err(VibiError::invalid("chunk size", format!("{chunk}; must be positive")));
        }
        if height <= 0 || width <= 0 || height % chunk != 0 || width % chunk != 0 {
            return Err(VibiError::invalid(
                "chunk size",
                format!("{chunk} does not divide the image size {height}x{width}"),
            ));
        }
        if channels <= 0 {
            return Err(VibiError::invalid("xpl_channels", format!("{channels}; must be positive")));
        }
        Ok(Self { channels, rows: height / chunk, cols: width / chunk, size: chunk })
    }

    /// The grid an explainer output of shape `[_, C_xpl, h, w]` defines on `height`×`width` inputs.
    pub fn from_output(height: i64, width: i64, out: &[i64]) -> Result<Self> {
        if out.len() != 4
            || out[2] <= 0
            || out[3] <= 0
            || height % out[2] != 0
            || width % out[3] != 0
            || height / out[2] != width / out[3]
        {
            return Err(VibiError::invalid(
                "explainer output",
                format!("shape {out:?} does not tile {height}x{width} inputs with square chunks"),
            ));
        }
        Self::new(height, width, height / out[2], out[1])
    }

    /// F, the number of chunks.
    pub fn num_chunks(&self) -> i64 {
        self.channels * self.rows * self.cols
    }

    /// Input height and width.
    pub fn image_hw(&self) -> (i64, i64) {
        (self.rows * self.size, self.cols * self.size)
    }

    /// Checks 1 ≤ k ≤ F; the error names k and F.
    pub fn check_k(&self, k: i64) -> Result<()> {
        let f = self.num_chunks();
        if k < 1 || k > f {
            return Err(VibiError::invalid(
                "k",
                format!(
                    "k = {k} but there are only F = {f} chunks ({}x{}x{} of {}x{} pixels); k must be in 1..={f}",
                    self.channels, self.rows, self.cols, self.size, self.size
                ),
            ));
        }
        Ok(())
    }

    /// Checks that inputs `[B, C, H, W]` fit this grid.
    pub fn check_input(&self, x: &Tensor) -> Result<()> {
        let s = x.size();
        let (h, w) = self.image_hw();
        if s.len() != 4 || s[2] != h || s[3] != w || (self.channels != 1 && self.channels != s[1]) {
            return Err(VibiError::invalid(
                "input",
                format!("shape {s:?} does not fit the chunk grid ({} channel(s), {h}x{w} pixels)", self.channels),
            ));
        }
        Ok(())
    }

    /// Nearest up-sampling of chunk values `[N, F]` to `[N, C_xpl, H, W]`: every chunk
    /// value repeated over its s×s block (a view and an expand, no interpolation).
    pub fn upsample(&self, z: &Tensor) -> Tensor {
        let n = z.size()[0];
        let (c, h, w, s) = (self.channels, self.rows, self.cols, self.size);
        z.reshape([n, c, h, 1, w, 1]).expand([n, c, h, s, w, s], false).reshape([n, c, h * s, w * s])
    }

    /// `x ⊙ up(z)` for inputs `[B, C, H, W]` and masks `[B, F]`; unselected chunks become 0,
    /// the dataset mean in normalised space. C_xpl = 1 broadcasts over colour.
    pub fn mask(&self, x: &Tensor, z: &Tensor) -> Tensor {
        x * self.upsample(z)
    }

    /// `M` masked copies per input: `x [B, C, H, W]`, `z [B, M, F]` → `[B·M, C, H, W]`.
    pub fn mask_samples(&self, x: &Tensor, z: &Tensor) -> Tensor {
        let s = z.size();
        let (b, m) = (s[0], s[1]);
        let up = self.upsample(&z.reshape([b * m, -1]));
        let xs = x.size();
        let up = up.reshape([b, m, self.channels, xs[2], xs[3]]);
        (x.unsqueeze(1) * up).reshape([b * m, xs[1], xs[2], xs[3]])
    }

    /// Per-chunk mean of a pixel map `[N, C, H, W]` → `[N, F]` (channels averaged when
    /// C_xpl = 1): how a pixel attribution becomes a chunk score.
    pub fn pool(&self, a: &Tensor) -> Tensor {
        let a = if self.channels == 1 { a.mean_dim(1, true, a.kind()) } else { a.shallow_clone() };
        a.avg_pool2d([self.size, self.size], [self.size, self.size], [0, 0], false, true, None::<i64>).flatten(1, -1)
    }

    /// Flattened index j = c·h·w + r·w + col of the chunk holding pixel (c, y, x).
    pub fn chunk_of_pixel(&self, c: i64, y: i64, x: i64) -> i64 {
        let c = if self.channels == 1 { 0 } else { c };
        c * self.rows * self.cols + (y / self.size) * self.cols + x / self.size
    }

    /// Channel (None when shared by all channels), and the pixel rows and columns of chunk `j`.
    pub fn block(&self, j: i64) -> (Option<i64>, std::ops::Range<i64>, std::ops::Range<i64>) {
        let per = self.rows * self.cols;
        let (c, rest) = (j / per, j % per);
        let (r, col) = (rest / self.cols, rest % self.cols);
        let ch = if self.channels == 1 { None } else { Some(c) };
        (ch, r * self.size..(r + 1) * self.size, col * self.size..(col + 1) * self.size)
    }
}
