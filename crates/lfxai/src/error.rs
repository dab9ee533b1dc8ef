//! The crate's error type: every variant says what was wrong and where.

/// Errors of the label-free explainers, the models and the experiments.
#[derive(Debug, thiserror::Error)]
pub enum LfxaiError {
    /// A bad hyper-parameter or argument; `what` names the field.
    #[error("invalid {what}: {message}")]
    Invalid { what: String, message: String },

    /// A libtorch error (shape mismatch inside an op, out of memory…).
    #[error(transparent)]
    Torch(#[from] tch::TchError),

    /// An error of the shared core (config, data, run folder…).
    #[error(transparent)]
    Core(#[from] xai_core::Error),
}

impl LfxaiError {
    /// Shorthand for [`LfxaiError::Invalid`].
    pub fn invalid(what: impl Into<String>, message: impl Into<String>) -> Self {
        LfxaiError::Invalid { what: what.into(), message: message.into() }
    }
}

/// Result with [`LfxaiError`].
pub type Result<T, E = LfxaiError> = std::result::Result<T, E>;
