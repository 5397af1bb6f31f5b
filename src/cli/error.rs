//! The failures that `berth` reports with an exit code of their own, as `az` does: a resource
//! that is not there exits 3 (az's `ResourceNotFoundError`), a usage error 2 (clap, as
//! argparse), anything else 1. Commands return them inside `anyhow::Error`; `main` reads the
//! code with [`exit_code`], so no library code exits the process.

use std::fmt;

/// A failure whose kind decides the exit code.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The registry refused with an error answer: its HTTP status, OCI error code and message.
    Refused { status: u16, code: String, message: String },
    /// What the command names does not exist, found out by the client itself.
    NotFound(String),
}

impl Failure {
    fn exit_code(&self) -> u8 {
        match self {
            Self::Refused { status: 404, .. } | Self::NotFound(_) => 3,
            Self::Refused { .. } => 1,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Refused { code, message, .. } => write!(f, "{code}: {message}"),
            Self::NotFound(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for Failure {}

/// The exit code for a command's error: the first [`Failure`] in its chain decides; any other
/// error is 1.
pub fn exit_code(error: &anyhow::Error) -> u8 {
    error.chain().find_map(|e| e.downcast_ref::<Failure>()).map_or(1, Failure::exit_code)
}

#[cfg(test)]
mod tests {
    use anyhow::Context;

    use super::*;

    #[test]
    fn not_found_exits_3_through_context() {
        let refused = |status| Failure::Refused { status, code: "X".into(), message: "m".into() };
        let wrapped = Err::<(), _>(refused(404)).context("GET /acr/v1/app").expect_err("error");
        assert_eq!((exit_code(&wrapped), format!("{wrapped:#}")), (3, "GET /acr/v1/app: X: m".to_owned()));
        assert_eq!(exit_code(&anyhow::Error::new(refused(403))), 1);
        assert_eq!(exit_code(&anyhow::Error::new(Failure::NotFound("gone".into()))), 3);
        assert_eq!(exit_code(&anyhow::anyhow!("plain")), 1);
    }
}
