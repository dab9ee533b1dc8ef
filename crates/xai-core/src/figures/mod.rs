//! Figures: PNG image grids and heat-map overlays built from tensors with `image`, and
//! line and bar charts with `plotters`. Every file is written atomically.

mod charts;
mod colormap;
mod font;
mod grid;

pub use charts::{bar_chart, line_chart, Bar, LineChart, Series};
pub use colormap::{apply_colormap, heatmap_overlay, ColorMap};
pub use grid::{image_grid, save_grid, GridOptions};
