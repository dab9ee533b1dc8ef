//! Typed tabular schema: continuous columns take one flat dimension, categorical columns a
//! one-hot block; standardisation statistics come from the training split only.

use tch::{Kind, Tensor};

/// One feature of a table.
#[derive(Debug, Clone, PartialEq)]
pub enum Column {
    Continuous {
        name: String,
    },
    /// `categories[k]` names class k of the one-hot block.
    Categorical {
        name: String,
        categories: Vec<String>,
    },
}

impl Column {
    pub fn continuous(name: &str) -> Column {
        Column::Continuous { name: name.into() }
    }
    pub fn categorical(name: &str, categories: &[&str]) -> Column {
        Column::Categorical { name: name.into(), categories: categories.iter().map(|s| s.to_string()).collect() }
    }
    pub fn name(&self) -> &str {
        match self {
            Column::Continuous { name } | Column::Categorical { name, .. } => name,
        }
    }
    /// Width in the flat representation.
    pub fn width(&self) -> usize {
        match self {
            Column::Continuous { .. } => 1,
            Column::Categorical { categories, .. } => categories.len(),
        }
    }
}

/// Ordered features of a table.
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    pub columns: Vec<Column>,
}

impl Schema {
    /// Block widths (CLUE's `blocks`), e.g. `[3, 6, 2, 2, 2, 1, 1]` for COMPAS.
    pub fn blocks(&self) -> Vec<usize> {
        self.columns.iter().map(Column::width).collect()
    }
    /// Width of the flat representation.
    pub fn flat_dim(&self) -> usize {
        self.columns.iter().map(Column::width).sum()
    }
    /// `[D]` bool: true on continuous dimensions.
    pub fn continuous_mask(&self) -> Tensor {
        let m: Vec<bool> =
            self.columns.iter().flat_map(|c| vec![matches!(c, Column::Continuous { .. }); c.width()]).collect();
        Tensor::from_slice(&m)
    }
}

/// Builds the flat `[N, D]` f32 matrix from per-column values: a continuous column gives
/// its values, a categorical one class indices (as f64, 0..k) that become one-hot blocks.
pub fn flatten(schema: &Schema, values: &[Vec<f64>]) -> Tensor {
    let parts: Vec<Tensor> = schema
        .columns
        .iter()
        .zip(values)
        .map(|(c, v)| {
            let t = Tensor::from_slice(v);
            match c {
                Column::Continuous { .. } => t.to_kind(Kind::Float).unsqueeze(1),
                Column::Categorical { categories, .. } => {
                    t.to_kind(Kind::Int64).one_hot(categories.len() as i64).to_kind(Kind::Float)
                }
            }
        })
        .collect();
    Tensor::cat(&parts, 1)
}

/// Mean and population std `[D]` of the continuous dimensions of `train` (0 and 1 on
/// one-hot dimensions, which stay untouched); a constant column gets std 1.
pub fn fit_standardiser(schema: &Schema, train: &Tensor) -> (Tensor, Tensor) {
    let cont = schema.continuous_mask();
    let mean = train.mean_dim(0, false, Kind::Float);
    let std = train.std_dim(0, false, false);
    let std = std.where_self(&std.gt(0.0), &Tensor::ones_like(&std));
    (mean.where_self(&cont, &Tensor::zeros_like(&mean)), std.where_self(&cont, &Tensor::ones_like(&std)))
}
