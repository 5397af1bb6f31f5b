//! Registry bearer tokens: ES256 JWTs in the Docker token format (`access` claim), signed by
//! the current key of a [`Keyring`] kept (sealed) in the metadata store and published as a
//! JWKS. After a rotation the previous keys still verify the tokens they signed until those
//! expire. Claims stay ASCII: some ACR clients decode the payload with the standard base64
//! alphabet.

use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde::{Deserialize, Serialize};

use super::scope::AccessEntry;

pub const ISSUER: &str = "berth";
/// The longest a token may live (a refresh token's three hours, as ACR's). A token claiming
/// more was not issued by Berth and is refused, whoever signed it.
pub const MAX_LIFETIME: u64 = 3 * 3600;
/// Clock skew tolerated between nodes, seconds.
const LEEWAY: u64 = 5;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot create or load the token signing key")]
    Key,
    #[error("cannot sign token: {0}")]
    Sign(jsonwebtoken::errors::Error),
    #[error("invalid token: {0}")]
    Invalid(jsonwebtoken::errors::Error),
    #[error("no key of this registry signed the token")]
    UnknownKey,
    #[error("the token claims a lifetime longer than any token Berth issues")]
    Lifetime,
}

/// Which kind of token a JWT is; no kind is accepted in place of another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grant {
    AccessToken,
    RefreshToken,
    /// A portal session (its cookie): good for the portal's pages only, never for the API.
    PortalSession,
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

    /// The key's id: the `kid` of the tokens it signs.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn sign(&self, claims: &Claims) -> Result<String, Error> {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).map_err(Error::Sign)
    }

    /// The claims of `token` if this key signed it, it is current, it is for `service`, and
    /// it claims no longer a life than Berth gives tokens.
    pub fn verify(&self, token: &str, service: &str) -> Result<Claims, Error> {
        let mut v = Validation::new(Algorithm::ES256);
        v.set_audience(&[service]);
        v.set_issuer(&[ISSUER]);
        v.set_required_spec_claims(&["exp", "nbf", "aud", "iss", "sub"]);
        v.validate_nbf = true;
        v.leeway = LEEWAY;
        let claims =
            jsonwebtoken::decode::<Claims>(token, &self.decoding, &v).map(|d| d.claims).map_err(Error::Invalid)?;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if claims.exp.saturating_sub(claims.iat) > MAX_LIFETIME + LEEWAY || claims.iat > now + LEEWAY {
            return Err(Error::Lifetime);
        }
        Ok(claims)
    }

    fn jwk(&self) -> serde_json::Value {
        serde_json::json!({
            "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig",
            "kid": self.kid, "x": self.x, "y": self.y,
        })
    }
}

/// The current signing key and the previous ones that still verify: a rotation signs new tokens
/// with a new key while the tokens signed before stay valid until they expire.
#[derive(Debug)]
pub struct Keyring {
    current: SigningKey,
    previous: Vec<SigningKey>,
}

impl Keyring {
    pub fn new(current: SigningKey, previous: Vec<SigningKey>) -> Self {
        Self { current, previous }
    }

    pub fn current(&self) -> &SigningKey {
        &self.current
    }

    pub fn sign(&self, claims: &Claims) -> Result<String, Error> {
        self.current.sign(claims)
    }

    /// [`SigningKey::verify`] with the key the token's `kid` names.
    pub fn verify(&self, token: &str, service: &str) -> Result<Claims, Error> {
        let header = jsonwebtoken::decode_header(token).map_err(Error::Invalid)?;
        let kid = header.kid.as_deref().ok_or(Error::UnknownKey)?;
        std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.kid == kid)
            .ok_or(Error::UnknownKey)?
            .verify(token, service)
    }

    /// Every key that verifies, as a JSON Web Key Set.
    pub fn jwks(&self) -> serde_json::Value {
        let keys: Vec<_> = std::iter::once(&self.current).chain(&self.previous).map(SigningKey::jwk).collect();
        serde_json::json!({ "keys": keys })
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
        let mut long = claims("reg:5000", (MAX_LIFETIME + 3600) as i64);
        long.iat = long.exp - MAX_LIFETIME - 3600;
        assert!(matches!(key.verify(&key.sign(&long).expect("sign"), "reg:5000"), Err(Error::Lifetime)));
    }

    #[test]
    fn a_rotated_keyring_still_verifies_what_the_previous_key_signed() {
        let old = SigningKey::from_pkcs8(&SigningKey::generate().expect("gen")).expect("key");
        let new = SigningKey::from_pkcs8(&SigningKey::generate().expect("gen")).expect("key");
        let before = old.sign(&claims("reg", 300)).expect("sign");
        let (old_kid, new_kid) = (old.kid.clone(), new.kid.clone());
        let ring = Keyring::new(new, vec![old]);
        assert_eq!(ring.verify(&before, "reg").expect("previous key verifies").sub, "admin");
        let after = ring.sign(&claims("reg", 300)).expect("sign");
        assert_eq!(jsonwebtoken::decode_header(&after).expect("header").kid.as_deref(), Some(new_kid.as_str()));
        let kids: Vec<_> = ring.jwks()["keys"].as_array().expect("keys").iter().map(|k| k["kid"].clone()).collect();
        assert_eq!(kids, [new_kid.as_str(), old_kid.as_str()]);
        let stranger = SigningKey::from_pkcs8(&SigningKey::generate().expect("gen")).expect("key");
        assert!(matches!(
            ring.verify(&stranger.sign(&claims("reg", 300)).expect("sign"), "reg"),
            Err(Error::UnknownKey)
        ));
    }
}
