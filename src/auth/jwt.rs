//! Registry bearer tokens: ES256 JWTs in the Docker token format (`access` claim), signed by
//! one key kept in the metadata store and published as a JWKS. Claims stay ASCII: some ACR
//! clients decode the payload with the standard base64 alphabet.

use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde::{Deserialize, Serialize};

use super::scope::AccessEntry;

pub const ISSUER: &str = "berth";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot create or load the token signing key")]
    Key,
    #[error("cannot sign token: {0}")]
    Sign(jsonwebtoken::errors::Error),
    #[error("invalid token: {0}")]
    Invalid(jsonwebtoken::errors::Error),
}

/// Which of the two token kinds a JWT is; one is never accepted in place of the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grant {
    AccessToken,
    RefreshToken,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    /// The principal's login name; empty for anonymous pull.
    pub sub: String,
    /// The service (login server) the token is for.
    pub aud: String,
    pub exp: u64,
    pub nbf: u64,
    pub iat: u64,
    pub jti: String,
    pub grant_type: Grant,
    /// The id of the secret the principal signed in with: renewing it revokes the token.
    pub credential: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub access: Vec<AccessEntry>,
}

pub struct SigningKey {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    x: String,
    y: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("kid", &self.kid).finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A new P-256 private key, PKCS#8 DER.
    pub fn generate() -> Result<Vec<u8>, Error> {
        let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
            .map_err(|_| Error::Key)?;
        Ok(doc.as_ref().to_vec())
    }

    pub fn from_pkcs8(der: &[u8]) -> Result<Self, Error> {
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der, &SystemRandom::new())
            .map_err(|_| Error::Key)?;
        // Uncompressed SEC1 point: 0x04 || x || y.
        let point = pair.public_key().as_ref();
        if point.len() != 65 {
            return Err(Error::Key);
        }
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let (x, y) = (b64.encode(&point[1..33]), b64.encode(&point[33..]));
        let digest = ring::digest::digest(&ring::digest::SHA256, point);
        let kid = b64.encode(&digest.as_ref()[..12]);
        let decoding = DecodingKey::from_ec_components(&x, &y).map_err(|_| Error::Key)?;
        Ok(Self { kid, encoding: EncodingKey::from_ec_der(der), decoding, x, y })
    }

    pub fn sign(&self, claims: &Claims) -> Result<String, Error> {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).map_err(Error::Sign)
    }

    /// The claims of `token` if this key signed it, it is current, and it is for `service`.
    pub fn verify(&self, token: &str, service: &str) -> Result<Claims, Error> {
        let mut v = Validation::new(Algorithm::ES256);
        v.set_audience(&[service]);
        v.set_issuer(&[ISSUER]);
        v.set_required_spec_claims(&["exp", "nbf", "aud", "iss", "sub"]);
        v.validate_nbf = true;
        v.leeway = 5;
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &v).map(|d| d.claims).map_err(Error::Invalid)
    }

    /// The public key as a JSON Web Key Set.
    pub fn jwks(&self) -> serde_json::Value {
        serde_json::json!({"keys": [{
            "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig",
            "kid": self.kid, "x": self.x, "y": self.y,
        }]})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(aud: &str, exp_in: i64) -> Claims {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
        Claims {
            iss: ISSUER.into(),
            sub: "admin".into(),
            aud: aud.into(),
            exp: now.saturating_add_signed(exp_in),
            nbf: now - 60,
            iat: now - 60,
            jti: "j".into(),
            grant_type: Grant::AccessToken,
            credential: "c".into(),
            access: vec![AccessEntry { kind: "repository".into(), name: "a".into(), actions: vec!["pull".into()] }],
        }
    }

    #[test]
    fn only_current_tokens_of_this_key_and_service_verify() {
        let key = SigningKey::from_pkcs8(&SigningKey::generate().expect("gen")).expect("key");
        let other = SigningKey::from_pkcs8(&SigningKey::generate().expect("gen")).expect("key");
        let t = key.sign(&claims("reg:5000", 300)).expect("sign");
        assert_eq!(key.verify(&t, "reg:5000").expect("valid").sub, "admin");
        assert!(key.verify(&t, "other:5000").is_err(), "another service");
        assert!(other.verify(&t, "reg:5000").is_err(), "another key");
        assert!(key.verify(&key.sign(&claims("reg:5000", -60)).expect("sign"), "reg:5000").is_err(), "expired");
        // A payload changed after signing (more actions) fails the signature.
        let parts: Vec<&str> = t.split('.').collect();
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let payload =
            String::from_utf8(b64.decode(parts[1]).expect("b64")).expect("utf8").replace("\"pull\"", "\"push\"");
        let forged = format!("{}.{}.{}", parts[0], b64.encode(payload), parts[2]);
        assert!(key.verify(&forged, "reg:5000").is_err(), "tampered");
        assert_eq!(key.jwks()["keys"][0]["kid"], key.kid.as_str());
    }
}
