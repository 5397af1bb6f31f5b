//! Quarantine (ACR's model, `az acr config` + `quarantineState`): while the registry setting is
//! on, every manifest a user pushes that is new to its repository starts `Quarantined`: left
//! out of listings and refused on pull to all but callers with quarantine/read, until the
//! scanner or an AcrQuarantineWriter sets `Passed` (released) or `Failed` (held for good).

use std::fmt;
use std::str::FromStr;

use super::{Error, Registry, Result};
use crate::meta::{Actor, Visibility};
use crate::oci::{Digest, RepoName};

use crate::meta::QUARANTINE_ENABLED;

/// A manifest's quarantine state, spelled as ACR's `quarantineState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuarantineState {
    Quarantined,
    Passed,
    Failed,
}

impl QuarantineState {
    pub fn as_str(self) -> &'static str {
        match self {
            QuarantineState::Quarantined => "Quarantined",
            QuarantineState::Passed => "Passed",
            QuarantineState::Failed => "Failed",
        }
    }

    /// Whether a manifest in this state (`None`: pushed while quarantine was off) is held.
    pub fn holds(state: Option<&str>) -> bool {
        matches!(state, Some("Quarantined" | "Failed"))
    }
}

impl fmt::Display for QuarantineState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for QuarantineState {
    type Err = String;
    /// ACR's spelling, in any case.
    fn from_str(s: &str) -> Result<Self, String> {
        [QuarantineState::Quarantined, QuarantineState::Passed, QuarantineState::Failed]
            .into_iter()
            .find(|q| q.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("quarantine state {s:?}: use Quarantined, Passed or Failed"))
    }
}

impl Registry {
    /// Whether new manifests start quarantined (`berth config quarantine`).
    pub async fn quarantine_enabled(&self) -> Result<bool> {
        Ok(self.meta.setting(QUARANTINE_ENABLED).await?.is_some_and(|e| e == "true"))
    }

    /// Turns quarantine on or off. Off, manifests already held stay held until released.
    pub async fn set_quarantine_enabled(&self, enabled: bool) -> Result<bool> {
        self.meta.set_setting(QUARANTINE_ENABLED, if enabled { "true" } else { "false" }).await?;
        self.quarantine_enabled().await
    }

    /// Sets manifest `digest`'s quarantine state with `details` (what the scanner or reviewer
    /// found): `Passed` releases it, `Failed` keeps it held. For the scanner and for callers
    /// the API layer checked for quarantine/write.
    pub async fn set_quarantine(
        &self,
        repo: &RepoName,
        digest: &Digest,
        state: QuarantineState,
        details: Option<&str>,
        actor: &Actor,
    ) -> Result<()> {
        if self.meta.set_quarantine(repo, digest, state.as_str(), details, actor).await? {
            Ok(())
        } else {
            Err(Error::ManifestUnknown(digest.to_string()))
        }
    }

    /// `Err(Quarantined)` if a manifest in `state`, pulled as `image` (`repo:tag` or
    /// `repo@digest`), is held from a caller who sees only `visible`.
    pub(super) fn check_released(state: Option<&str>, visible: Visibility, image: &str) -> Result<()> {
        if visible == Visibility::All || !QuarantineState::holds(state) {
            return Ok(());
        }
        let why = match state {
            Some("Failed") => "failed its quarantine check",
            _ => "is quarantined until it is released (quarantineState Passed)",
        };
        Err(Error::Quarantined(format!("image {image} {why}: it cannot be pulled")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_read_as_acr_spells_them() {
        assert_eq!("passed".parse::<QuarantineState>(), Ok(QuarantineState::Passed));
        assert_eq!(QuarantineState::Failed.to_string(), "Failed");
        assert!("Released".parse::<QuarantineState>().is_err());
        assert!(QuarantineState::holds(Some("Quarantined")) && QuarantineState::holds(Some("Failed")));
        assert!(!QuarantineState::holds(Some("Passed")) && !QuarantineState::holds(None));
    }
}
