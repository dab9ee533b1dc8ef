use super::{gradient, Attribution, Forward, Target};
use crate::Result;
use tch::Tensor;

/// Vanilla gradient (Simonyan et al. 2014); `abs` as Captum's default.
#[derive(Debug, Clone, Copy)]
pub struct Saliency {
    pub abs: bool,
}

impl Default for Saliency {
    fn default() -> Self {
        Self { abs: true }
    }
}

impl Attribution for Saliency {
    fn name(&self) -> &'static str {
        "saliency"
    }

    fn attribute(&self, f: Forward<'_>, x: &Tensor, target: &Target) -> Result<Tensor> {
        let (g, _) = gradient(f, x, target, false)?;
        Ok(if self.abs { g.abs() } else { g })
    }
}

/// Input × gradient (Shrikumar et al. 2016).
#[derive(Debug, Clone, Copy, Default)]
pub struct InputXGradient;

impl Attribution for InputXGradient {
    fn name(&self) -> &'static str {
        "input_x_gradient"
    }

    fn attribute(&self, f: Forward<'_>, x: &Tensor, target: &Target) -> Result<Tensor> {
        let (g, _) = gradient(f, x, target, false)?;
        Ok(x.detach() * g)
    }
}
