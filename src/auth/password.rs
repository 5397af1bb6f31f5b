//! Secrets: generated with the system's CSPRNG, stored only as argon2id PHC strings, checked by
//! argon2's own constant-time comparison.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine as _;
use ring::rand::{SecureRandom, SystemRandom};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the system random generator failed")]
    Random,
    #[error("password hashing failed: {0}")]
    Hash(argon2::password_hash::Error),
}

/// A new password: 32 random bytes, URL-safe base64 (43 characters), never starting with `-`
/// (command lines would read `-p -x…` as a flag).
pub fn generate() -> Result<String, Error> {
    let mut bytes = [0u8; 32];
    loop {
        SystemRandom::new().fill(&mut bytes).map_err(|_| Error::Random)?;
        let password = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        if !password.starts_with('-') {
            return Ok(password);
        }
    }
}

/// The argon2id PHC string of `password`, with a fresh salt.
pub fn hash(password: &str) -> Result<String, Error> {
    let mut salt = [0u8; 16];
    SystemRandom::new().fill(&mut salt).map_err(|_| Error::Random)?;
    let salt = SaltString::encode_b64(&salt).map_err(Error::Hash)?;
    Ok(Argon2::default().hash_password(password.as_bytes(), &salt).map_err(Error::Hash)?.to_string())
}

/// Whether `password` matches the stored `phc` hash. A malformed hash matches nothing.
pub fn verify(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

#[cfg(test)]
mod tests {
    #[test]
    fn generated_passwords_never_look_like_flags() {
        for _ in 0..500 {
            let p = super::generate().expect("random");
            assert_eq!(p.len(), 43);
            assert!(!p.starts_with('-'), "{p}");
        }
    }

    #[test]
    fn hashes_verify_only_their_password() {
        let pw = super::generate().expect("random");
        assert_eq!(pw.len(), 43);
        assert_ne!(pw, super::generate().expect("random"));
        let h = super::hash(&pw).expect("hash");
        assert!(h.starts_with("$argon2id$") && !h.contains(&pw));
        assert!(super::verify(&pw, &h));
        assert!(!super::verify("wrong", &h));
        assert!(!super::verify(&pw, "not a hash"));
    }
}
