use crate::{Error, Result};
use tch::{Kind, Tensor};

/// Colour maps for heat maps: sequential for magnitudes, diverging for signed values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColorMap {
    /// matplotlib's viridis (perceptually uniform; values in [0, 1]).
    #[default]
    Viridis,
    /// Blue–white–red for signed values in [-1, 1] (matplotlib's `bwr`).
    BlueWhiteRed,
    /// Black to white.
    Gray,
}

impl ColorMap {
    /// Anchor colours spaced evenly over the map's domain.
    fn anchors(self) -> &'static [[f32; 3]] {
        match self {
            // viridis sampled at 0, 1/8, …, 1.
            ColorMap::Viridis => &[
                [0.267, 0.005, 0.329],
                [0.283, 0.141, 0.458],
                [0.254, 0.265, 0.530],
                [0.207, 0.372, 0.553],
                [0.164, 0.471, 0.558],
                [0.128, 0.567, 0.551],
                [0.135, 0.659, 0.518],
                [0.267, 0.749, 0.441],
                [0.478, 0.821, 0.319],
                [0.741, 0.873, 0.150],
                [0.993, 0.906, 0.144],
            ],
            ColorMap::BlueWhiteRed => &[[0.0, 0.0, 1.0], [1.0, 1.0, 1.0], [1.0, 0.0, 0.0]],
            ColorMap::Gray => &[[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]],
        }
    }

    /// The value range the map covers.
    pub fn domain(self) -> (f64, f64) {
        match self {
            ColorMap::BlueWhiteRed => (-1.0, 1.0),
            _ => (0.0, 1.0),
        }
    }
}

/// Maps values `[N, H, W]` (clamped to the map's domain) to RGB `[N, 3, H, W]` in [0, 1],
/// by linear interpolation between anchors, in one batched gather.
pub fn apply_colormap(values: &Tensor, map: ColorMap) -> Result<Tensor> {
    if values.dim() != 3 {
        return Err(Error::invalid("heat map", format!("expected [N, H, W], got {:?}", values.size())));
    }
    let anchors = map.anchors();
    let k = anchors.len() as i64;
    let flat: Vec<f32> = anchors.iter().flatten().copied().collect();
    let table = Tensor::from_slice(&flat).view([k, 3]).to_device(values.device());
    let (lo, hi) = map.domain();
    let pos = ((values.to_kind(Kind::Float).clamp(lo, hi) - lo) / (hi - lo)) * (k - 1) as f64;
    let i0 = pos.floor().clamp(0.0, (k - 2) as f64);
    let frac = (&pos - &i0).unsqueeze(-1);
    let i0 = i0.to_kind(Kind::Int64);
    let c0 = table.index_select(0, &i0.flatten(0, -1)).view_as(&frac.expand([-1, -1, -1, 3], false));
    let c1 = table.index_select(0, &(&i0 + 1).flatten(0, -1)).view_as(&c0);
    let rgb = &c0 + (&c1 - &c0) * frac;
    Ok(rgb.permute([0, 3, 1, 2]).contiguous())
}

/// Blends a colour-mapped heat map over images: `images` `[N, C, H, W]` (C = 1 or 3) in
/// [0, 1], `heat` `[N, H, W]` in the map's domain; `alpha` is the heat map's weight.
pub fn heatmap_overlay(images: &Tensor, heat: &Tensor, map: ColorMap, alpha: f64) -> Result<Tensor> {
    let rgb_images = match images.size().get(1) {
        Some(1) => images.expand([-1, 3, -1, -1], false),
        Some(3) => images.shallow_clone(),
        _ => return Err(Error::invalid("overlay images", format!("expected [N, 1|3, H, W], got {:?}", images.size()))),
    };
    let colours = apply_colormap(heat, map)?;
    if colours.size() != rgb_images.size() {
        return Err(Error::invalid(
            "overlay",
            format!("heat map {:?} does not match images {:?}", heat.size(), images.size()),
        ));
    }
    Ok(rgb_images.to_kind(Kind::Float) * (1.0 - alpha) + colours * alpha)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_and_midpoints() {
        let v = Tensor::from_slice(&[-1.0f32, 0.0, 1.0, 0.5]).view([1, 2, 2]);
        let rgb = apply_colormap(&v, ColorMap::BlueWhiteRed).unwrap();
        let px = |i: i64, j: i64| Vec::<f32>::try_from(rgb.get(0).select(1, i).select(1, j)).unwrap();
        assert_eq!(px(0, 0), vec![0.0, 0.0, 1.0]);
        assert_eq!(px(0, 1), vec![1.0, 1.0, 1.0]);
        assert_eq!(px(1, 0), vec![1.0, 0.0, 0.0]);
        assert_eq!(px(1, 1), vec![1.0, 0.5, 0.5]);
    }
}
