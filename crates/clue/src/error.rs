//! The crate's error type: every variant says what was wrong and where.

/// Errors of the BNN, the generative models, CLUE and the experiments.
#[derive(Debug, thiserror::Error)]
pub enum ClueError {
    /// A bad hyper-parameter or argument; `what` names the field.
    #[error("invalid {what}: {message}")]
    Invalid { what: String, message: String },

    /// Input data that does not fit the model or schema (wrong width, bad one-hot block…).
    #[error("bad input {what}: {message}")]
    BadInput { what: String, message: String },

    /// A checkpoint that cannot be loaded into the requested model.
    #[error("checkpoint {path}: {message}")]
    Checkpoint { path: String, message: String },

    /// A loss or state that became NaN/inf during training.
    #[error("non-finite {what} at {at}")]
    NonFinite { what: String, at: String },

    /// A libtorch error (shape mismatch inside an op, out of memory…).
    #[error(transparent)]
    Torch(#[from] tch::TchError),

    /// An error of the shared core (config, data, run folder…).
    #[error(transparent)]
    Core(#[from] xai_core::Error),
}

impl ClueError {
    /// Shorthand for [`ClueError::Invalid`].
    pub fn invalid(what: impl Into<String>, message: impl Into<String>) -> Self {
        ClueError::Invalid { what: what.into(), message: message.into() }
    }
    /// Shorthand for [`ClueError::BadInput`].
    pub fn bad_input(what: impl Into<String>, message: impl Into<String>) -> Self {
        ClueError::BadInput { what: what.into(), message: message.into() }
    }
    /// Shorthand for [`ClueError::Checkpoint`].
    pub fn checkpoint(path: &std::path::Path, message: impl Into<String>) -> Self {
        ClueError::Checkpoint { path: path.display().to_string(), message: message.into() }
    }
}

/// Result with [`ClueError`].
pub type Result<T, E = ClueError> = std::result::Result<T, E>;
