//! The client side of SASL SCRAM-SHA-256/512 (RFC 5802, RFC 7677) for the wire client.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use crate::kafka::error::KafkaError;

#[derive(Clone, Copy, Debug)]
pub(super) enum ScramHash {
    Sha256,
    Sha512,
}

impl ScramHash {
    fn hmac(self) -> ring::hmac::Algorithm {
        match self {
            ScramHash::Sha256 => ring::hmac::HMAC_SHA256,
            ScramHash::Sha512 => ring::hmac::HMAC_SHA512,
        }
    }
    fn pbkdf2(self) -> ring::pbkdf2::Algorithm {
        match self {
            ScramHash::Sha256 => ring::pbkdf2::PBKDF2_HMAC_SHA256,
            ScramHash::Sha512 => ring::pbkdf2::PBKDF2_HMAC_SHA512,
        }
    }
    fn digest(self) -> &'static ring::digest::Algorithm {
        match self {
            ScramHash::Sha256 => &ring::digest::SHA256,
            ScramHash::Sha512 => &ring::digest::SHA512,
        }
    }
    fn len(self) -> usize {
        self.digest().output_len()
    }

    /// `Hi(password, salt, iterations)` of RFC 5802: PBKDF2 with this hash's HMAC, as long as the hash's output.
    /// Kafka takes the password's UTF-8 bytes as they are (no SASLprep).
    pub(super) fn salted_password(self, password: &str, salt: &[u8], iterations: std::num::NonZeroU32) -> Vec<u8> {
        let mut salted = vec![0u8; self.len()];
        ring::pbkdf2::derive(self.pbkdf2(), iterations, salt, password.as_bytes(), &mut salted);
        salted
    }
}

/// The client side of a SCRAM exchange: client-first, then client-final from the server-first, then the check of
/// the server's signature (so a server that does not know the password is not trusted either).
pub(super) struct ScramClient {
    hash: ScramHash,
    password: String,
    nonce: String,
    first_bare: String,
    server_signature: Option<Vec<u8>>,
}

impl ScramClient {
    pub(super) fn new(hash: ScramHash, user: &str, password: &str, nonce: &str) -> ScramClient {
        let user = user.replace('=', "=3D").replace(',', "=2C");
        ScramClient {
            hash,
            password: password.to_string(),
            nonce: nonce.to_string(),
            first_bare: format!("n={user},r={nonce}"),
            server_signature: None,
        }
    }

    pub(super) fn client_first(&self) -> String {
        format!("n,,{}", self.first_bare)
    }

    pub(super) fn client_final(&mut self, server_first: &str) -> Result<String, KafkaError> {
        let bad = |what: &str| KafkaError::Authentication(format!("SCRAM: {what} in the server's first message"));
        let field = |key: &str| server_first.split(',').find_map(|kv| kv.strip_prefix(key));
        if let Some(e) = field("e=") {
            return Err(KafkaError::Authentication(format!("SCRAM: the server said {e}")));
        }
        let nonce = field("r=").ok_or_else(|| bad("no nonce"))?;
        if !nonce.starts_with(&self.nonce) || nonce.len() <= self.nonce.len() {
            return Err(bad("a nonce that does not extend ours"));
        }
        let salt = B64.decode(field("s=").ok_or_else(|| bad("no salt"))?).map_err(|_| bad("a bad salt"))?;
        let iterations: u32 = field("i=").and_then(|i| i.parse().ok()).ok_or_else(|| bad("no iteration count"))?;
        if iterations == 0 {
            return Err(bad("an iteration count of 0"));
        }
        let iterations = std::num::NonZeroU32::new(iterations).expect("checked above");
        let salted = self.hash.salted_password(&self.password, &salt, iterations);
        let salted_key = ring::hmac::Key::new(self.hash.hmac(), &salted);
        let client_key = ring::hmac::sign(&salted_key, b"Client Key");
        let stored_key = ring::digest::digest(self.hash.digest(), client_key.as_ref());
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{server_first},{without_proof}", self.first_bare);
        let client_signature =
            ring::hmac::sign(&ring::hmac::Key::new(self.hash.hmac(), stored_key.as_ref()), auth_message.as_bytes());
        let proof: Vec<u8> = client_key.as_ref().iter().zip(client_signature.as_ref()).map(|(a, b)| a ^ b).collect();
        let server_key = ring::hmac::sign(&salted_key, b"Server Key");
        let server_signature =
            ring::hmac::sign(&ring::hmac::Key::new(self.hash.hmac(), server_key.as_ref()), auth_message.as_bytes());
        self.server_signature = Some(server_signature.as_ref().to_vec());
        Ok(format!("{without_proof},p={}", B64.encode(proof)))
    }

    pub(super) fn verify_server_final(&self, server_final: &str) -> Result<(), KafkaError> {
        if let Some(e) = server_final.strip_prefix("e=") {
            return Err(KafkaError::Authentication(format!("SCRAM: the server said {e}")));
        }
        let got = server_final.strip_prefix("v=").and_then(|v| B64.decode(v).ok());
        match (got, &self.server_signature) {
            (Some(got), Some(want)) if &got == want => Ok(()),
            _ => Err(KafkaError::Authentication("SCRAM: the server's signature does not match".into())),
        }
    }
}

pub(super) fn random_nonce() -> Result<String, KafkaError> {
    Ok(B64.encode(random_bytes::<24>()?))
}

/// `N` bytes from the system's secure random source (SCRAM nonces and salts).
pub(super) fn random_bytes<const N: usize>() -> Result<[u8; N], KafkaError> {
    let mut bytes = [0u8; N];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| KafkaError::Protocol("no secure randomness for SCRAM".into()))?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SCRAM-SHA-256 example exchange of RFC 7677 §3.
    #[test]
    fn scram_sha256_matches_the_rfc_7677_example() {
        let mut c = ScramClient::new(ScramHash::Sha256, "user", "pencil", "rOprNGfwEbeRWgbNEkqO");
        assert_eq!(c.client_first(), "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let server_first = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        assert_eq!(
            c.client_final(server_first).unwrap(),
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        c.verify_server_final("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=").unwrap();
        let forged = c.verify_server_final("v=AAAATRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=").unwrap_err();
        assert!(matches!(forged, KafkaError::Authentication(_)), "{forged:?}");
    }

    /// RFC 7677's example salt and password (its SaltedPassword is not printed there, but the exchange above proves
    /// it); the expected bytes come from an independent PBKDF2 (Python's `hashlib.pbkdf2_hmac`).
    #[test]
    fn salted_passwords_match_an_independent_pbkdf2() {
        let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let i = std::num::NonZeroU32::new(4096).unwrap();
        let hex = |b: Vec<u8>| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        assert_eq!(
            hex(ScramHash::Sha256.salted_password("pencil", &salt, i)),
            "c4a49510323ab4f952cac1fa99441939e78ea74d6be81ddf7096e87513dc615d"
        );
        assert_eq!(
            hex(ScramHash::Sha512.salted_password("pencil", &salt, i)),
            "f16efe1be67f1d09502ebd5ed9262fddffba5a377ab4f0b687e5ed5ba0f50686\
             b8a4ae166476da8ab3b951d2fa9238b63998f45461bc33a464814949cec9631d"
        );
        assert_ne!(random_bytes::<32>().unwrap(), random_bytes::<32>().unwrap());
    }

    #[test]
    fn scram_refuses_a_server_nonce_that_does_not_extend_ours_and_escapes_the_user() {
        let mut c = ScramClient::new(ScramHash::Sha512, "a=b,c", "pw", "abc");
        assert_eq!(c.client_first(), "n,,n=a=3Db=2Cc,r=abc");
        let e = c.client_final("r=xyz123,s=c2FsdA==,i=4096").unwrap_err();
        assert!(e.to_string().contains("nonce"), "{e}");
        let e = c.client_final("e=invalid-proof").unwrap_err();
        assert!(e.to_string().contains("invalid-proof"), "{e}");
        // A well-formed first message gives a proof as long as SHA-512's output.
        let last = c.client_final("r=abcdef,s=c2FsdA==,i=4096").unwrap();
        let proof = B64.decode(last.rsplit_once("p=").unwrap().1).unwrap();
        assert_eq!(proof.len(), 64);
    }
}
