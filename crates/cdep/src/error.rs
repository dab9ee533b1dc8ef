//! The crate's error type: every variant says what was wrong and where, so a user can
//! fix a config or a model from the message alone.

/// Errors of contextual decomposition, penalties and experiments.
#[derive(Debug, thiserror::Error)]
pub enum CdepError {
    /// A blob mask that cannot be broadcast onto the input it splits.
    #[error("blob mask of shape {mask:?} does not fit input of shape {input:?} ({hint})")]
    MaskShape { mask: Vec<i64>, input: Vec<i64>, hint: String },

    /// A layer that forward can run but contextual decomposition has no rule for.
    #[error("layer {index} (`{name}`) has no contextual-decomposition rule; supported: linear, conv2d, relu, max_pool2d, avg_pool2d, adaptive_avg_pool2d, flatten, dropout, batch_norm")]
    NoCdRule { index: usize, name: String },

    /// A bad argument or config value; `what` names it.
    #[error("invalid {what}: {message}")]
    Invalid { what: String, message: String },

    /// A libtorch error (shape mismatch inside an op, out of memory…).
    #[error(transparent)]
    Torch(#[from] tch::TchError),

    /// An error of the shared core (config, data, run folder…).
    #[error(transparent)]
    Core(#[from] xai_core::Error),
}

impl CdepError {
    /// Shorthand for [`CdepError::Invalid`].
    pub fn invalid(what: impl Into<String>, message: impl Into<String>) -> Self {
        CdepError::Invalid { what: what.into(), message: message.into() }
    }
}

/// Result with [`CdepError`].
pub type Result<T, E = CdepError> = std::result::Result<T, E>;
