//! The VIBI objective: cross-entropy between the black box's output and the approximator's
//! prediction from the explanation, plus β times an information term on p(z|x).

use tch::{Kind, Tensor};

/// How the cross-entropy over M samples is averaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CeScaling {
    /// willisk: summed over the M samples and averaged over batch and classes, i.e.
    /// (M/C)·mean CE (so the effective β is β·C/M relative to `mean`).
    #[default]
    Reference,
    /// Mean over batch and samples, in nats.
    Mean,
    /// The authors': mean in bits (÷ ln 2).
    Bits,
}

/// The information term.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KlKind {
    /// KL(p(z|x) ‖ U_F) = Σ p log p + log F (willisk; the paper's bound).
    #[default]
    Forward,
    /// The authors' k · KL(U_F ‖ p(z|x)).
    ReverseK,
}

/// What the approximator is trained to match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Targets {
    /// The black box's softmax probabilities (willisk).
    #[default]
    Soft,
    /// One-hot of the black box's argmax (the authors).
    Hard,
}

impl Targets {
    /// Turns black-box probabilities `[B, C]` into training targets.
    pub fn apply(self, probs: &Tensor) -> Tensor {
        match self {
            Targets::Soft => probs.shallow_clone(),
            Targets::Hard => {
                let idx = probs.argmax(-1, true);
                probs.zeros_like().scatter_value(1, &idx, 1.0)
            }
        }
    }
}

/// Per-row soft cross-entropy −Σ_c y_c log softmax(logits)_c over the last axis.
pub fn soft_ce(logits: &Tensor, targets: &Tensor) -> Tensor {
    -(targets * logits.log_softmax(-1, Kind::Float)).sum_dim_intlist(-1, false, Kind::Float)
}

/// CE of sampled predictions `[B, M, C]` against targets `[B, C]` under `scaling`.
pub fn sampled_ce(logits: &Tensor, targets: &Tensor, scaling: CeScaling) -> Tensor {
    let s = logits.size();
    let (m, c) = (s[1] as f64, s[2] as f64);
    let mean = soft_ce(logits, &targets.unsqueeze(1)).mean(Kind::Float);
    match scaling {
        CeScaling::Reference => mean * (m / c),
        CeScaling::Mean => mean,
        CeScaling::Bits => mean / std::f64::consts::LN_2,
    }
}

/// Batch-mean CE of plain predictions `[B, C]` (the warm-up loss on unmasked inputs).
pub fn mean_ce(logits: &Tensor, targets: &Tensor) -> Tensor {
    soft_ce(logits, targets).mean(Kind::Float)
}

/// Per-row KL(softmax(logits) ‖ U_F) in nats, `[B, F]` → `[B]`; 0·log 0 counts as 0.
pub fn kl_to_uniform_rows(logits: &Tensor) -> Tensor {
    let f = logits.size()[1] as f64;
    let logp = logits.log_softmax(-1, Kind::Float);
    (logp.exp() * &logp).sum_dim_intlist(-1, false, Kind::Float) + f.ln()
}

/// The information term (batch mean) for chunk logits `[B, F]`.
pub fn information(logits: &Tensor, kind: KlKind, k: i64) -> Tensor {
    match kind {
        KlKind::Forward => kl_to_uniform_rows(logits).mean(Kind::Float),
        KlKind::ReverseK => {
            let f = logits.size()[1] as f64;
            let logp = logits.log_softmax(-1, Kind::Float);
            // KL(U‖p) = Σ (1/F)(−log F − log p_j)
            let kl = -logp.mean_dim(-1, false, Kind::Float) - f.ln();
            kl.mean(Kind::Float) * k as f64
        }
    }
}

/// Entropy of softmax(logits) per row, in nats.
pub fn entropy_rows(logits: &Tensor) -> Tensor {
    let logp = logits.log_softmax(-1, Kind::Float);
    -(logp.exp() * logp).sum_dim_intlist(-1, false, Kind::Float)
}
