use crate::{Error, Result};
use tch::Tensor;

/// Which output to explain when `f` returns `[B, C]`.
#[derive(Debug)]
pub enum Target {
    /// `f` already returns one score per example (`[B]` or `[B, 1]`).
    Scalar,
    /// The same class for every example.
    Index(i64),
    /// One class per example, `[B]` int64.
    PerExample(Tensor),
}

impl Target {
    /// The target for a batch repeated `times` times along dimension 0 (path samples).
    pub(crate) fn repeated(&self, times: i64) -> Target {
        match self {
            Target::PerExample(t) => Target::PerExample(t.repeat([times])),
            Target::Index(i) => Target::Index(*i),
            Target::Scalar => Target::Scalar,
        }
    }
}

/// Reduces a model output to one score per example according to `target`.
pub fn select_target(out: &Tensor, target: &Target) -> Result<Tensor> {
    let size = out.size();
    match (target, size.len()) {
        (Target::Scalar, 1) => Ok(out.shallow_clone()),
        (Target::Scalar, 2) if size[1] == 1 => Ok(out.squeeze_dim(1)),
        (Target::Scalar, _) => Err(Error::invalid(
            "attribution target",
            format!("the model returns shape {size:?}; give Target::Index or Target::PerExample"),
        )),
        (Target::Index(i), 2) if (0..size[1]).contains(i) => Ok(out.select(1, *i)),
        (Target::Index(i), _) => {
            Err(Error::invalid("attribution target", format!("class {i} is out of range for model output {size:?}")))
        }
        (Target::PerExample(t), 2) if t.size() == [size[0]] => Ok(out.gather(1, &t.unsqueeze(1), false).squeeze_dim(1)),
        (Target::PerExample(t), _) => Err(Error::invalid(
            "attribution target",
            format!("per-example targets of shape {:?} do not fit model output {size:?}", t.size()),
        )),
    }
}

/// ∂ score / ∂ x for each example, with the scores. With `create_graph` the gradient is
/// itself differentiable (input-gradient penalties such as RRR need that).
pub fn gradient(
    f: &dyn Fn(&Tensor) -> Tensor,
    x: &Tensor,
    target: &Target,
    create_graph: bool,
) -> Result<(Tensor, Tensor)> {
    let x = if create_graph { x.shallow_clone() } else { x.detach() };
    let x = if x.requires_grad() { x } else { x.set_requires_grad(true) };
    let scores = select_target(&f(&x), target)?;
    let grads = Tensor::f_run_backward(&[scores.sum(scores.kind())], &[&x], create_graph, create_graph)?;
    let grad = grads.into_iter().next().ok_or_else(|| Error::Other("autograd returned no gradient".into()))?;
    Ok((grad, scores))
}

/// `∂ score.sum() / ∂ x` with the graph kept, so the gradient is itself differentiable:
/// what input-gradient penalties (RRR, Expected Gradients) back-propagate through.
/// `x` must be part of `score`'s graph (`requires_grad` set before the forward pass).
pub fn input_gradient(score: &Tensor, x: &Tensor) -> Result<Tensor> {
    let total = if score.dim() == 0 { score.shallow_clone() } else { score.sum(score.kind()) };
    let grads = Tensor::f_run_backward(&[total], &[x], true, true)?;
    grads.into_iter().next().ok_or_else(|| Error::Other("autograd returned no gradient".into()))
}
