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

/// argon2id with OWASP's 7 MiB / 5 passes setting, as strong as the crate's default 19 MiB / 2
/// passes: each sign-in's memory is what bounds a registry's footprint under a burst of them.
/// Verification reads the parameters from the stored hash, so older hashes keep working.
fn hasher() -> Result<Argon2<'static>, Error> {
    let params = argon2::Params::new(7 * 1024, 5, 1, None).map_err(|e| Error::Hash(e.into()))?;
    Ok(Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params))
}

/// A hash of a random password that was thrown away, with the parameters of [`hash`]: verified
/// in place of a secret a principal does not have, so that refusing an unknown name costs what
/// refusing a wrong password does. Made once rather than at each start, which would hold
/// another argon2 buffer in memory for nothing.
pub const STAND_IN: &str =
    "$argon2id$v=19$m=7168,t=5,p=1$9wUAPFaOcgGEEhEYYaWXjA$XIF422Ni8E6VSC3D3bjKXXwFp5hus1LM/+UQUsE13EE";

/// The argon2id PHC string of `password`, with a fresh salt.
pub fn hash(password: &str) -> Result<String, Error> {
    let mut salt = [0u8; 16];
    SystemRandom::new().fill(&mut salt).map_err(|_| Error::Random)?;
    let salt = SaltString::encode_b64(&salt).map_err(Error::Hash)?;
    Ok(hasher()?.hash_password(password.as_bytes(), &salt).map_err(Error::Hash)?.to_string())
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
    fn hashes_use_owasps_7_mib_setting() {
        let phc = super::hash("correct horse").expect("hash");
        assert!(phc.starts_with("$argon2id$v=19$m=7168,t=5,p=1$"), "{phc}");
        assert!(super::STAND_IN.starts_with("$argon2id$v=19$m=7168,t=5,p=1$"), "the stand-in costs the same");
        assert!(!super::verify("", super::STAND_IN) && !super::verify("correct horse", super::STAND_IN));
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
