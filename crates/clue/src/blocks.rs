//! The mixed continuous / one-hot layout of a flat tabular row (spec §2, §5.2): block
//! offsets, input validation, the gauss_cat log-likelihood and straight-through decoding.

use crate::{ClueError, Result};
use tch::{Kind, Tensor};

/// Block widths `[d_1, …, d_F]` (1 = continuous, k > 1 = k-way one-hot) and their offsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocks {
    widths: Vec<usize>,
    offsets: Vec<usize>,
}

impl Blocks {
    /// Errors on an empty schema or a zero width.
    pub fn new(widths: &[usize]) -> Result<Self> {
        if widths.is_empty() {
            return Err(ClueError::invalid("blocks", "needs at least one feature"));
        }
        if let Some(i) = widths.iter().position(|&w| w == 0) {
            return Err(ClueError::invalid("blocks", format!("feature {i} has width 0")));
        }
        let mut offsets = Vec::with_capacity(widths.len());
        let mut o = 0;
        for &w in widths {
            offsets.push(o);
            o += w;
        }
        Ok(Self { widths: widths.to_vec(), offsets })
    }

    /// All-continuous layout of `d` dims.
    pub fn continuous(d: usize) -> Result<Self> {
        Self::new(&vec![1; d])
    }

    pub fn widths(&self) -> &[usize] {
        &self.widths
    }
    /// `(offset, width)` per feature.
    pub fn spans(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.offsets.iter().copied().zip(self.widths.iter().copied())
    }
    /// Flat width D.
    pub fn flat_dim(&self) -> usize {
        self.widths.iter().sum()
    }
    /// Number of original features F.
    pub fn n_features(&self) -> usize {
        self.widths.len()
    }

    /// Checks a flat `[N, D]` batch: width D, finite values, each categorical block an exact
    /// one-hot. Names the first offending row and feature.
    pub fn validate_rows(&self, x: &Tensor) -> Result<()> {
        let size = x.size();
        if size.len() != 2 || size[1] as usize != self.flat_dim() {
            return Err(ClueError::bad_input(
                "rows",
                format!("expected [N, {}] for blocks {:?}, got {:?}", self.flat_dim(), self.widths, size),
            ));
        }
        let x = x.detach().to_kind(Kind::Double).to(tch::Device::Cpu);
        if x.isfinite().logical_not().any().int64_value(&[]) != 0 {
            return Err(ClueError::bad_input("rows", "contain NaN or inf"));
        }
        for (f, (o, w)) in self.spans().enumerate() {
            if w == 1 {
                continue;
            }
            let b = x.narrow(1, o as i64, w as i64);
            let binary = b.eq(0.0).logical_or(&b.eq(1.0)).all_dim(1, false);
            let one = b.sum_dim_intlist(1, false, Kind::Double).eq(1.0);
            let ok = binary.logical_and(&one);
            if ok.all().int64_value(&[]) == 0 {
                let row = ok.logical_not().nonzero().int64_value(&[0, 0]);
                return Err(ClueError::bad_input(
                    "rows",
                    format!("row {row}, feature {f} (dims {o}..{}): not a one-hot block: {:?}", o + w, {
                        let v: Vec<f64> = b.get(row).try_into().unwrap_or_default();
                        v
                    }),
                ));
            }
        }
        Ok(())
    }

    /// Class index `[N]` of each categorical block of `x` (argmax), one tensor per block
    /// (continuous features give `None`).
    pub fn class_indices(&self, x: &Tensor) -> Vec<Option<Tensor>> {
        self.spans().map(|(o, w)| (w > 1).then(|| x.narrow(1, o as i64, w as i64).argmax(1, false))).collect()
    }

    /// Decoded row (spec §5.2 "regenerate"): continuous dims raw, each categorical block
    /// the one-hot of its argmax in the forward pass with the softmax gradient backward:
    /// `(onehot − softmax).detach() + softmax`.
    pub fn straight_through(&self, raw: &Tensor) -> Tensor {
        self.decode(raw, true)
    }

    /// Hard decoding without gradient tricks: one-hot of the argmax per block.
    pub fn hard(&self, raw: &Tensor) -> Tensor {
        self.decode(&raw.detach(), false)
    }

    /// Softmax probabilities per categorical block, continuous dims raw.
    pub fn soft(&self, raw: &Tensor) -> Tensor {
        let parts: Vec<Tensor> = self
            .spans()
            .map(|(o, w)| {
                let b = raw.narrow(1, o as i64, w as i64);
                if w == 1 {
                    b
                } else {
                    b.softmax(1, Kind::Float)
                }
            })
            .collect();
        Tensor::cat(&parts, 1)
    }

    fn decode(&self, raw: &Tensor, straight_through: bool) -> Tensor {
        if self.widths.iter().all(|&w| w == 1) {
            return raw.shallow_clone();
        }
        let parts: Vec<Tensor> = self
            .spans()
            .map(|(o, w)| {
                let b = raw.narrow(1, o as i64, w as i64);
                if w == 1 {
                    return b;
                }
                let hard = b.argmax(1, false).one_hot(w as i64).to_kind(raw.kind());
                if straight_through {
                    let soft = b.softmax(1, raw.kind());
                    (hard - &soft).detach() + soft
                } else {
                    hard
                }
            })
            .collect();
        Tensor::cat(&parts, 1)
    }

    /// Spec §5.2 gauss_cat log-likelihood per row `[N]`: continuous `−(x − out)²`,
    /// categorical `−CE(logits, argmax of x's block)`, summed over features.
    // Out-of-place on purpose: `+=` on tensors is an in-place op, which autograd may reject.
    #[allow(clippy::assign_op_pattern)]
    pub fn gauss_cat_log_lik(&self, x: &Tensor, out: &Tensor) -> Tensor {
        let mut total = Tensor::zeros([x.size()[0]], (Kind::Float, x.device()));
        for (o, w) in self.spans() {
            let xb = x.narrow(1, o as i64, w as i64);
            let ob = out.narrow(1, o as i64, w as i64);
            if w == 1 {
                total = total - (xb - ob).square().squeeze_dim(1);
            } else {
                let target = xb.argmax(1, false);
                let lp = ob.log_softmax(1, Kind::Float).gather(1, &target.unsqueeze(1), false).squeeze_dim(1);
                total = total + lp;
            }
        }
        total
    }
}
