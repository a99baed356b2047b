//! Domain errors: what a rule refused, independent of how it is reported.

use thiserror::Error;

/// A rule of the domain said no. The HTTP layer maps each variant to a status and a code.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DomainError {
    /// A value failed validation; `param` names the field.
    #[error("{message}")]
    Invalid {
        param: &'static str,
        code: &'static str,
        message: String,
    },
}

impl DomainError {
    /// A validation failure on `param`.
    pub fn invalid(param: &'static str, code: &'static str, message: impl Into<String>) -> Self {
        DomainError::Invalid {
            param,
            code,
            message: message.into(),
        }
    }
}
