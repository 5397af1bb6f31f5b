//! Content digests (`algorithm:hex`) and the streaming hasher that verifies them.
//!
//! SHA-256 is the registry's own algorithm: its running state can be saved and restored, so an
//! upload session resumes on any node without re-reading what was stored. SHA-512 digests are
//! accepted from clients too. `sha2` picks SHA-NI / ARMv8 SHA instructions at run time.

use std::fmt;
use std::str::FromStr;

use sha2::Digest as _;
use sha2::digest::common::hazmat::SerializableState;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    #[error("digest {0:?} is not of the form algorithm:hex")]
    Malformed(String),
    #[error("digest algorithm {0:?} is not supported (use sha256 or sha512)")]
    Unsupported(String),
    #[error("digest {0:?} must have {1} lowercase hex characters after the algorithm")]
    BadEncoding(String, usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    Sha256,
    Sha512,
}

impl Algorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha512 => "sha512",
        }
    }

    fn hex_len(self) -> usize {
        match self {
            Self::Sha256 => 64,
            Self::Sha512 => 128,
        }
    }
}

/// A validated digest. Only registered algorithms with their exact lowercase-hex length parse, so a
/// digest is always safe to use in a storage key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: Algorithm,
    hex: String,
}

impl Digest {
    pub fn parse(s: &str) -> Result<Self, DigestError> {
        let shown = || s.chars().take(160).collect::<String>();
        let (alg, hex) = s.split_once(':').ok_or_else(|| DigestError::Malformed(shown()))?;
        let alg_ok = !alg.is_empty()
            && alg
                .split(['+', '.', '_', '-'])
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
        let hex_ok =
            !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b'_' | b'-'));
        if !alg_ok || !hex_ok {
            return Err(DigestError::Malformed(shown()));
        }
        let algorithm = match alg {
            "sha256" => Algorithm::Sha256,
            "sha512" => Algorithm::Sha512,
            other => return Err(DigestError::Unsupported(other.chars().take(32).collect())),
        };
        if hex.len() != algorithm.hex_len() || !hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return Err(DigestError::BadEncoding(shown(), algorithm.hex_len()));
        }
        Ok(Self { algorithm, hex: hex.to_owned() })
    }

    /// The SHA-256 digest of `data`.
    pub fn sha256_of(data: &[u8]) -> Self {
        Self { algorithm: Algorithm::Sha256, hex: hex::encode(sha2::Sha256::digest(data)) }
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The lowercase hex part, after `algorithm:`.
    pub fn hex(&self) -> &str {
        &self.hex
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm.as_str(), self.hex)
    }
}

impl FromStr for Digest {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A running hash of a blob being received.
#[derive(Clone)]
pub enum Hasher {
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
}

impl Hasher {
    pub fn new(algorithm: Algorithm) -> Self {
        match algorithm {
            Algorithm::Sha256 => Self::Sha256(sha2::Sha256::new()),
            Algorithm::Sha512 => Self::Sha512(sha2::Sha512::new()),
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        match self {
            Self::Sha256(h) => h.update(data),
            Self::Sha512(h) => h.update(data),
        }
    }

    pub fn finish(self) -> Digest {
        let (algorithm, hex) = match self {
            Self::Sha256(h) => (Algorithm::Sha256, hex::encode(h.finalize())),
            Self::Sha512(h) => (Algorithm::Sha512, hex::encode(h.finalize())),
        };
        Digest { algorithm, hex }
    }

    /// The SHA-256 running state as bytes, to be stored with an upload session. Other algorithms
    /// are never kept in a session (a session always hashes SHA-256), so they have no state.
    pub fn sha256_state(&self) -> Option<Vec<u8>> {
        match self {
            Self::Sha256(h) => Some(h.serialize().to_vec()),
            Self::Sha512(_) => None,
        }
    }

    /// Restores a SHA-256 state saved by [`Hasher::sha256_state`]; `None` if the bytes are not one.
    pub fn resume_sha256(state: &[u8]) -> Option<Self> {
        let array = state.try_into().ok()?;
        sha2::Sha256::deserialize(array).ok().map(Self::Sha256)
    }
}

impl fmt::Debug for Hasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Sha256(_) => "Hasher(sha256)",
            Self::Sha512(_) => "Hasher(sha512)",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY_SHA256: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn parses_registered_algorithms_only() {
        assert_eq!(Digest::parse(EMPTY_SHA256).map(|d| d.to_string()).as_deref(), Ok(EMPTY_SHA256));
        assert!(Digest::parse(&format!("sha512:{}", "0".repeat(128))).is_ok());
        assert!(matches!(Digest::parse("md5:abc"), Err(DigestError::Unsupported(_))));
        assert!(matches!(Digest::parse("sha256:abc"), Err(DigestError::BadEncoding(..))));
        assert!(matches!(Digest::parse(&format!("sha256:{}", "A".repeat(64))), Err(DigestError::BadEncoding(..))));
        assert!(matches!(Digest::parse("sha256"), Err(DigestError::Malformed(_))));
        assert!(matches!(Digest::parse("sha256:../../etc"), Err(DigestError::Malformed(_))));
        assert!(matches!(Digest::parse(":abc"), Err(DigestError::Malformed(_))));
    }

    #[test]
    fn saved_state_resumes_to_the_same_digest() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let whole = Digest::sha256_of(&data);
        for split in [0, 1, 63, 64, 65, 4097, data.len()] {
            let mut first = Hasher::new(Algorithm::Sha256);
            first.update(&data[..split]);
            let state = first.sha256_state().expect("sha256 has state");
            let mut second = Hasher::resume_sha256(&state).expect("state restores");
            second.update(&data[split..]);
            assert_eq!(second.finish(), whole, "split at {split}");
        }
        assert!(Hasher::resume_sha256(b"short").is_none());
    }

    #[test]
    fn empty_input_hashes_to_the_known_digest() {
        assert_eq!(Hasher::new(Algorithm::Sha256).finish().to_string(), EMPTY_SHA256);
        assert_eq!(Digest::sha256_of(b"").to_string(), EMPTY_SHA256);
    }
}
