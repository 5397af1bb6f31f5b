//! Secrets at rest: values the registry must read back (token-signing keys, the signed-URL key,
//! the admin user's passwords) are sealed with AES-256-GCM under a master key that is not in
//! the database, so a copy of the database alone yields none of them.
//!
//! A keyring holds one or more master keys: the first seals, all of them open, so a new key can
//! be rolled out before the old one is retired. A sealed value names the key that sealed it
//! (the first 8 hex digits of the key's SHA-256) and is bound to its label (where it is
//! stored), so a value moved to another slot does not open. Pure: no I/O.

use base64::Engine as _;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

const PREFIX: &str = "sealed:v1:";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("a master key must be 32 bytes in base64 (as `openssl rand -base64 32` prints)")]
    BadKey,
    #[error("no master key given")]
    NoKey,
    #[error("sealed with master key {0}, which this registry was not given")]
    UnknownKey(String),
    #[error("a sealed value is malformed")]
    Malformed,
    #[error("a sealed value does not open: wrong key, or changed")]
    Tampered,
    #[error("the system random generator failed")]
    Random,
}

struct MasterKey {
    id: String,
    key: LessSafeKey,
}

/// The master keys, the sealing one first.
pub struct MasterKeys {
    keys: Vec<MasterKey>,
}

impl std::fmt::Debug for MasterKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|k| k.id.as_str()).collect();
        f.debug_struct("MasterKeys").field("ids", &ids).finish()
    }
}

impl MasterKeys {
    /// Keys in base64, separated by whitespace or commas; `#` starts a comment line.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let keys = text
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .flat_map(|l| l.split([',', ' ', '\t']))
            .filter(|k| !k.is_empty())
            .map(|k| {
                let bytes = B64.decode(k.trim()).map_err(|_| Error::BadKey)?;
                let key = UnboundKey::new(&AES_256_GCM, &bytes).map_err(|_| Error::BadKey)?;
                let digest = ring::digest::digest(&ring::digest::SHA256, &bytes);
                Ok(MasterKey { id: hex::encode(&digest.as_ref()[..4]), key: LessSafeKey::new(key) })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if keys.is_empty() {
            return Err(Error::NoKey);
        }
        Ok(MasterKeys { keys })
    }

    /// A new random master key, in base64.
    pub fn generate() -> Result<String, Error> {
        let mut key = [0u8; 32];
        SystemRandom::new().fill(&mut key).map_err(|_| Error::Random)?;
        Ok(B64.encode(key))
    }

    /// The id of the sealing key.
    pub fn primary(&self) -> &str {
        &self.keys[0].id
    }

    /// Seals `plain` for the slot `label` under the first key.
    pub fn seal(&self, label: &str, plain: &[u8]) -> Result<String, Error> {
        let key = &self.keys[0];
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new().fill(&mut nonce).map_err(|_| Error::Random)?;
        let mut buf = plain.to_vec();
        key.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(label.as_bytes()), &mut buf)
            .map_err(|_| Error::Random)?;
        Ok(format!("{PREFIX}{}:{}", key.id, B64.encode([&nonce[..], &buf].concat())))
    }

    /// Opens a value sealed for `label` by any of the keys.
    pub fn open(&self, label: &str, sealed: &str) -> Result<Vec<u8>, Error> {
        let rest = sealed.strip_prefix(PREFIX).ok_or(Error::Malformed)?;
        let (id, data) = rest.split_once(':').ok_or(Error::Malformed)?;
        let key = self.keys.iter().find(|k| k.id == id).ok_or_else(|| Error::UnknownKey(id.to_owned()))?;
        let mut data = B64.decode(data).map_err(|_| Error::Malformed)?;
        if data.len() < NONCE_LEN {
            return Err(Error::Malformed);
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&data[..NONCE_LEN]);
        let plain = key
            .key
            .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(label.as_bytes()), &mut data[NONCE_LEN..])
            .map_err(|_| Error::Tampered)?;
        Ok(plain.to_vec())
    }

    /// Whether `value` is sealed (by any key); stored values older than sealing are not.
    pub fn is_sealed(value: &[u8]) -> bool {
        value.starts_with(PREFIX.as_bytes())
    }

    /// Whether `value` is sealed under the sealing key: values that are not get sealed again.
    pub fn sealed_by_primary(&self, value: &[u8]) -> bool {
        value
            .strip_prefix(PREFIX.as_bytes())
            .is_some_and(|rest| rest.starts_with(format!("{}:", self.primary()).as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(n: usize) -> Vec<String> {
        (0..n).map(|_| MasterKeys::generate().expect("random")).collect()
    }

    #[test]
    fn sealed_values_open_only_with_their_key_and_label() {
        let k = keys(2);
        let ring = MasterKeys::parse(&k[0]).expect("key");
        let sealed = ring.seal("signing-key", b"secret bytes").expect("seal");
        assert!(MasterKeys::is_sealed(sealed.as_bytes()) && !sealed.contains("secret"));
        assert_eq!(ring.open("signing-key", &sealed).expect("open"), b"secret bytes");
        assert!(matches!(ring.open("other-slot", &sealed), Err(Error::Tampered)), "bound to its label");
        let other = MasterKeys::parse(&k[1]).expect("key");
        assert!(matches!(other.open("signing-key", &sealed), Err(Error::UnknownKey(id)) if id == ring.primary()));
        let mut changed = sealed.clone();
        changed.pop();
        changed.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert!(ring.open("signing-key", &changed).is_err(), "tampered");
        assert_ne!(ring.seal("signing-key", b"secret bytes").expect("seal"), sealed, "fresh nonce each time");
    }

    #[test]
    fn a_new_key_seals_and_the_old_one_still_opens() {
        let k = keys(2);
        let old = MasterKeys::parse(&k[0]).expect("key");
        let sealed = old.seal("l", b"v").expect("seal");
        let rotated = MasterKeys::parse(&format!("# new first\n{}\n{}\n", k[1], k[0])).expect("keys");
        assert_eq!(rotated.open("l", &sealed).expect("old key opens"), b"v");
        assert!(!rotated.sealed_by_primary(sealed.as_bytes()) && old.sealed_by_primary(sealed.as_bytes()));
        let resealed = rotated.seal("l", b"v").expect("seal");
        assert!(rotated.sealed_by_primary(resealed.as_bytes()));
        assert_eq!(MasterKeys::parse(&format!("{},{}", k[1], k[0])).expect("comma").primary(), rotated.primary());
        for bad in ["", "# only a comment", "bm90IDMyIGJ5dGVz", "not base64!"] {
            assert!(MasterKeys::parse(bad).is_err(), "{bad:?}");
        }
    }
}
