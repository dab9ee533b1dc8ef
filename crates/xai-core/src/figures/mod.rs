//! Figures: PNG image grids and heat-map overlays built from tensors with `image`, and
//! line and bar charts with `plotters`. Every file is written atomically.

mod charts;
mod colormap;
mod decorations;
mod font;
mod grid;

pub use charts::{bar_chart, line_chart, line_chart_with, line_panels, Bar, ChartExtras, LineChart, Reference, Series};
pub use colormap::{apply_colormap, heatmap_overlay, ColorMap};
pub use decorations::{decorate, decorated_grid, save_decorated_grid, ColorBar, Decorations, LegendEntry};
pub use font::ensure_font;
pub use grid::{image_grid, save_grid, wrap_words, GridOptions};
