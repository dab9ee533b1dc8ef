//! The crate's error type: every variant says what was wrong and where, so a user can
//! fix a config or a model from the message alone.

/// Errors of the VIBI method and its experiments.
#[derive(Debug, thiserror::Error)]
pub enum VibiError {
    /// A bad argument, geometry or config value; `what` names it.
    #[error("invalid {what}: {message}")]
    Invalid { what: String, message: String },

    /// A libtorch error (shape mismatch inside an op, out of memory…).
    #[error(transparent)]
    Torch(#[from] tch::TchError),

    /// An error of the shared core (config, data, run folder, checkpoint files, a
    /// non-finite loss…).
    #[error(transparent)]
    Core(#[from] xai_core::Error),
}

impl VibiError {
    /// Shorthand for [`VibiError::Invalid`].
    pub fn invalid(what: impl Into<String>, message: impl Into<String>) -> Self {
        VibiError::Invalid { what: what.into(), message: message.into() }
    }
}

/// Result with [`VibiError`].
pub type Result<T, E = VibiError> = std::result::Result<T, E>;
