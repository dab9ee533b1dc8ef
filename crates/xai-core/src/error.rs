use std::path::PathBuf;

/// Errors of the shared core. Every variant names what went wrong and where, so a user
/// can act on the message alone.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("config {file}: {message}")]
    Config { file: String, message: String },

    #[error("device: {0}")]
    Device(String),

    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A data file that is missing, truncated or malformed; `hint` says how to get a good one.
    #[error("{}: {message}{}", path.display(), hint.as_deref().map(|h| format!(" ({h})")).unwrap_or_default())]
    Data { path: PathBuf, message: String, hint: Option<String> },

    #[error("checkpoint {}: {message}", path.display())]
    Checkpoint { path: PathBuf, message: String },

    #[error("invalid {what}: {message}")]
    Invalid { what: String, message: String },

    #[error("non-finite value: {0}")]
    NonFinite(String),

    #[error(transparent)]
    Torch(#[from] tch::TchError),

    #[error("{0}")]
    Other(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }

    pub fn invalid(what: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Invalid { what: what.into(), message: message.into() }
    }

    pub fn data(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Data { path: path.into(), message: message.into(), hint: None }
    }

    /// Adds the command that fetches a good copy of the file.
    pub fn with_hint(mut self, h: impl Into<String>) -> Self {
        if let Error::Data { hint, .. } = &mut self {
            *hint = Some(h.into());
        }
        self
    }
}
