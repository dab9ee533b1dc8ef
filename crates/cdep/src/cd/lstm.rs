//! A one-layer unidirectional LSTM classifier (embedding → LSTM → linear on the last
//! step) with its own forward pass and the contextual decomposition of Murdoch et al.
//! (2018) as CDEP uses it.
//!
//! The cell is written out (fused `[B, 4H]` matmuls, PyTorch gate order i, f, g, o) so
//! forward and CD share one set of weights; a test checks it against libtorch's LSTM.

use super::Decomp;
use crate::{CdepError, Result};
use tch::{Kind, Tensor};

/// Embedding, LSTM and output weights (handles of the model's variables).
#[derive(Debug)]
pub struct LstmClassifier {
    /// `[V, E]`.
    pub embedding: Tensor,
    /// `[4H, E]`, gates stacked i, f, g, o.
    pub w_ih: Tensor,
    /// `[4H, H]`.
    pub w_hh: Tensor,
    /// `b_ih + b_hh`, `[4H]` (kept as two variables, as PyTorch does).
    pub b_ih: Tensor,
    pub b_hh: Tensor,
    /// `[C, H]`.
    pub w_out: Tensor,
    /// `[C]`.
    pub b_out: Tensor,
}

/// Options of the LSTM decomposition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LstmCdOptions {
    /// Cut the embedding out of the penalty's graph (the reference does): the penalty
    /// trains the LSTM and output layer only; the prediction loss still trains embeddings.
    pub detach_embeddings: bool,
}

impl Default for LstmCdOptions {
    fn default() -> Self {
        Self { detach_embeddings: true }
    }
}

/// The sigmoid or tanh of a gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    Sigmoid,
    Tanh,
}

impl Act {
    fn apply(self, x: &Tensor) -> Tensor {
        match self {
            Act::Sigmoid => x.sigmoid(),
            Act::Tanh => x.tanh(),
        }
    }
}

/// Three-player Shapley split of `act(u + v + b)` between the relevant pre-activation
/// `u`, the irrelevant `v` and the bias `b`: returns `(P_u, P_v, P_b)` summing to
/// `act(u+v+b)`. `u + v` is formed first so that `u = 0` (or `v = 0`) gives an exactly
/// zero share.
pub fn split3(u: &Tensor, v: &Tensor, b: &Tensor, act: Act) -> (Tensor, Tensor, Tensor) {
    let a_b = act.apply(b).expand_as(u);
    let a_ub = act.apply(&(u + b));
    let a_vb = act.apply(&(v + b));
    let a_uvb = act.apply(&((u + v) + b));
    let pu = ((&a_ub - &a_b) + (&a_uvb - &a_vb)) * 0.5;
    let pv = ((&a_vb - &a_b) + (&a_uvb - &a_ub)) * 0.5;
    (pu, pv, a_b)
}

/// Two-player Shapley split of `tanh(β + γ)`.
pub fn split_tanh(rel: &Tensor, irrel: &Tensor) -> (Tensor, Tensor) {
    let (tr, ti, tsum) = (rel.tanh(), irrel.tanh(), (rel + irrel).tanh());
    let r = (&tr + &tsum - &ti) * 0.5;
    let i = (ti + tsum - tr) * 0.5;
    (r, i)
}

impl LstmClassifier {
    /// Hidden size H.
    pub fn hidden(&self) -> i64 {
        self.w_hh.size()[1]
    }

    fn check_tokens(&self, tokens: &Tensor) -> Result<(i64, i64)> {
        let s = tokens.size();
        if s.len() != 2 || tokens.kind() != Kind::Int64 {
            return Err(CdepError::invalid(
                "tokens",
                format!("expected int64 [B, T], got {:?} {:?}", tokens.kind(), s),
            ));
        }
        if s[1] == 0 {
            return Err(CdepError::invalid("tokens", "sequences of length 0"));
        }
        Ok((s[0], s[1]))
    }

    /// Word vectors `[T, B, E]` for tokens `[B, T]`.
    fn embed(&self, tokens: &Tensor, detach: bool) -> Result<Tensor> {
        let e = Tensor::f_embedding(&self.embedding, &tokens.tr(), -1, false, false)?;
        Ok(if detach { e.detach() } else { e })
    }

    /// Logits `[B, C]` for tokens `[B, T]` (pads at the end are run through, and the
    /// hidden state of the last padded step is classified, as in the reference).
    pub fn forward(&self, tokens: &Tensor) -> Result<Tensor> {
        let h = self.last_hidden(tokens)?;
        Ok(h.f_matmul(&self.w_out.tr())? + &self.b_out)
    }

    /// The hidden state `[B, H]` after the last step.
    pub fn last_hidden(&self, tokens: &Tensor) -> Result<Tensor> {
        let (b, t) = self.check_tokens(tokens)?;
        let e = self.embed(tokens, false)?;
        let xw = e.f_matmul(&self.w_ih.tr())? + (&self.b_ih + &self.b_hh);
        let opts = (e.kind(), e.device());
        let hdim = self.hidden();
        let mut h = Tensor::zeros([b, hdim], opts);
        let mut c = Tensor::zeros([b, hdim], opts);
        let whh_t = self.w_hh.tr();
        for step in 0..t {
            let gates = xw.get(step) + h.matmul(&whh_t);
            let g = gates.chunk(4, -1);
            let (i, f, gg, o) = (g[0].sigmoid(), g[1].sigmoid(), g[2].tanh(), g[3].sigmoid());
            c = f * &c + i * gg;
            h = o * c.tanh();
        }
        Ok(h)
    }

    /// Decomposes the logits minus the output bias into the part of the relevant words
    /// and the rest. `rel_words` (m) and `rel_bias` (q) are `[B, T]` 0/1 float masks:
    /// `m` marks words whose input counts as relevant, `q` the steps whose pure-bias
    /// product goes to the relevant part. `β + γ = logits − b_out`.
    pub fn cd(&self, tokens: &Tensor, rel_words: &Tensor, rel_bias: &Tensor, opts: &LstmCdOptions) -> Result<Decomp> {
        let (b, t) = self.check_tokens(tokens)?;
        for (name, m) in [("rel_words", rel_words), ("rel_bias", rel_bias)] {
            if m.size() != [b, t] {
                return Err(CdepError::MaskShape {
                    mask: m.size(),
                    input: vec![b, t],
                    hint: format!("{name} must be [B, T] like the tokens"),
                });
            }
        }
        let e = self.embed(tokens, opts.detach_embeddings)?;
        let xe = e.f_matmul(&self.w_ih.tr())?; // [T, B, 4H], no bias
        let m = rel_words.detach().to_kind(xe.kind()).tr().unsqueeze(-1); // [T, B, 1]
        let q = rel_bias.detach().to_kind(xe.kind()).tr().unsqueeze(-1);
        let bias = &self.b_ih + &self.b_hh;
        let bg = bias.chunk(4, -1);
        let whh_t = self.w_hh.tr();
        let hdim = self.hidden();
        let zeros = Tensor::zeros([b, hdim], (xe.kind(), xe.device()));
        let (mut rel_h, mut irrel_h) = (zeros.shallow_clone(), zeros.shallow_clone());
        let (mut rel_c, mut irrel_c) = (zeros.shallow_clone(), zeros);
        for step in 0..t {
            let (x_t, m_t, q_t) = (xe.get(step), m.get(step), q.get(step));
            // One matmul for both hidden parts: rows [0, B) relevant, [B, 2B) irrelevant.
            let hh = Tensor::cat(&[&rel_h, &irrel_h], 0).matmul(&whh_t);
            let u = hh.narrow(0, 0, b) + &m_t * &x_t;
            let v = hh.narrow(0, b, b) + (-&m_t + 1.0) * &x_t;
            let (uc, vc) = (u.chunk(4, -1), v.chunk(4, -1));
            let (ir, ii, ib) = split3(&uc[0], &vc[0], &bg[0], Act::Sigmoid);
            let (fr, fi, fb) = split3(&uc[1], &vc[1], &bg[1], Act::Sigmoid);
            let (gr, gi, gb) = split3(&uc[2], &vc[2], &bg[2], Act::Tanh);
            let bias_prod = &ib * &gb;
            let new_rel = &ir * (&gr + &gb) + &ib * &gr + &q_t * &bias_prod;
            let new_irrel = &ii * (&gr + &gi + &gb) + (&ir + &ib) * &gi + (-&q_t + 1.0) * &bias_prod;
            let next_rel_c = new_rel + (&fr + &fb) * &rel_c;
            let next_irrel_c = new_irrel + (&fr + &fi + &fb) * &irrel_c + &fi * &rel_c;
            // The output gate is not decomposed: it sees the whole input and hidden state
            // (u + v over the o-chunk is exactly that pre-activation without bias).
            let o = ((&uc[3] + &vc[3]) + &bg[3]).sigmoid();
            rel_c = next_rel_c;
            irrel_c = next_irrel_c;
            let (tr, ti) = split_tanh(&rel_c, &irrel_c);
            rel_h = &o * tr;
            irrel_h = o * ti;
        }
        let wt = self.w_out.tr();
        Ok(Decomp { rel: rel_h.matmul(&wt), irrel: irrel_h.matmul(&wt) })
    }
}

/// The relevant-word and relevant-bias masks `(m, q)`, each `[B, width]` (f32), that
/// [`LstmClassifier::cd`] takes, from one optional span per sentence: `spans[b] = Some((start,
/// end))` marks the half-open word range `start..end` of sentence `b` (of `lengths[b]`
/// words) as relevant; `None` marks nothing. `inclusive_stop` reproduces the reference's
/// word mask, which also marks the word at `end` (clamped to the batch width, as the
/// reference's padded batches do); the bias mask stays `start..end`. Errors name the
/// sentence whose span is empty or reaches past its end, or a sentence longer than `width`.
pub fn span_masks(
    lengths: &[usize],
    spans: &[Option<(usize, usize)>],
    width: usize,
    inclusive_stop: bool,
) -> Result<(Tensor, Tensor)> {
    if lengths.len() != spans.len() {
        return Err(CdepError::invalid(
            "spans",
            format!("{} spans for {} sentences; give one (or None) per sentence", spans.len(), lengths.len()),
        ));
    }
    let b = lengths.len();
    let mut words = vec![0f32; b * width];
    let mut bias = vec![0f32; b * width];
    for (row, (&len, span)) in lengths.iter().zip(spans).enumerate() {
        if len > width {
            return Err(CdepError::invalid("spans", format!("sentence {row} has {len} words, wider than {width}")));
        }
        let Some((start, end)) = *span else { continue };
        if start >= end || end > len {
            return Err(CdepError::invalid(
                "spans",
                format!("sentence {row}: span {start}..{end} is empty or outside its {len} words"),
            ));
        }
        let word_end = if inclusive_stop { (end + 1).min(width) } else { end };
        words[row * width + start..row * width + word_end].fill(1.0);
        bias[row * width + start..row * width + end].fill(1.0);
    }
    let shape = [b as i64, width as i64];
    Ok((Tensor::from_slice(&words).view(shape), Tensor::from_slice(&bias).view(shape)))
}
