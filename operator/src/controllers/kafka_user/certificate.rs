//! Client certificates for `tls` users: issued from the connection's client CA with the user name as the only
//! subject component (`CN=<username>`, which a broker's default principal mapping turns into `User:CN=<username>`),
//! and read back to know when they expire and which CA signed them. No I/O; the key is fresh randomness.

use k8s_openapi::jiff::Timestamp;
use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};

use crate::decisions::problem::Problem;

/// A certificate and its private key, PEM.
pub struct Issued {
    pub certificate: String,
    pub key: String,
    pub not_after: Timestamp,
}

fn invalid_ca(what: impl std::fmt::Display) -> Problem {
    Problem::new("InvalidClientCa", format!("the connection's spec.clientCa: {what}"))
}

/// Issues a client certificate for `username`, valid from a minute before `now` (clocks differ) for
/// `validity_days`, on a new ECDSA P-256 key.
pub fn issue(
    ca_certificate: &str,
    ca_key: &str,
    username: &str,
    now: Timestamp,
    validity_days: i32,
) -> Result<Issued, Problem> {
    let ca_key = KeyPair::from_pem(ca_key).map_err(|e| invalid_ca(format!("the key does not load: {e}")))?;
    let issuer = Issuer::from_ca_cert_pem(ca_certificate, ca_key)
        .map_err(|e| invalid_ca(format!("the certificate does not load: {e}")))?;
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, username);
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let seconds = now.as_second();
    let not_after = seconds + i64::from(validity_days) * 24 * 3600;
    let at = |s: i64| time::OffsetDateTime::from_unix_timestamp(s).map_err(invalid_ca);
    params.not_before = at(seconds - 60)?;
    params.not_after = at(not_after)?;
    let key = KeyPair::generate().map_err(|e| Problem::new("CertificateError", e.to_string()))?;
    let certificate =
        params.signed_by(&key, &issuer).map_err(|e| invalid_ca(format!("signing with it failed: {e}")))?;
    Ok(Issued {
        certificate: certificate.pem(),
        key: key.serialize_pem(),
        not_after: Timestamp::from_second(not_after).map_err(invalid_ca)?,
    })
}

/// When `certificate` expires, if it parses and was signed by `ca_certificate`'s key for `username` (so a
/// certificate from an earlier CA, or for another name, is issued again).
pub fn valid_until(certificate: &str, ca_certificate: &str, username: &str) -> Option<Timestamp> {
    let (_, cert_pem) = x509_parser::pem::parse_x509_pem(certificate.as_bytes()).ok()?;
    let cert = cert_pem.parse_x509().ok()?;
    let (_, ca_pem) = x509_parser::pem::parse_x509_pem(ca_certificate.as_bytes()).ok()?;
    let ca = ca_pem.parse_x509().ok()?;
    cert.verify_signature(Some(ca.public_key())).ok()?;
    let cn = cert.subject().iter_common_name().next()?.as_str().ok()?;
    if cn != username || cert.subject().iter().count() != 1 {
        return None;
    }
    Timestamp::from_second(cert.validity().not_after.timestamp()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A CA made here, like the stack's: a self-signed ECDSA certificate.
    fn ca(name: &str) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        (params.self_signed(&key).unwrap().pem(), key.serialize_pem())
    }

    #[test]
    fn an_issued_certificate_names_the_user_and_reads_back_under_its_ca_only() {
        let (ca_cert, ca_key) = ca("clients-ca");
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        let issued = issue(&ca_cert, &ca_key, "team-a.billing", now, 365).unwrap();
        assert!(issued.certificate.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(issued.key.starts_with("-----BEGIN PRIVATE KEY-----"));
        assert_eq!(issued.not_after.as_second(), 1_800_000_000 + 365 * 86_400);
        assert_eq!(valid_until(&issued.certificate, &ca_cert, "team-a.billing"), Some(issued.not_after));
        // Another name, another CA, or no certificate at all: not this user's.
        assert_eq!(valid_until(&issued.certificate, &ca_cert, "team-b.billing"), None);
        let (other_cert, _) = ca("clients-ca");
        assert_eq!(valid_until(&issued.certificate, &other_cert, "team-a.billing"), None);
        assert_eq!(valid_until("not a certificate", &ca_cert, "team-a.billing"), None);
        // The subject is the user name alone, for the broker's default principal `User:CN=<name>`, and the
        // certificate is for client authentication.
        let (_, pem) = x509_parser::pem::parse_x509_pem(issued.certificate.as_bytes()).unwrap();
        let cert = pem.parse_x509().unwrap();
        assert_eq!(cert.subject().to_string(), "CN=team-a.billing");
        assert_eq!(cert.issuer().to_string(), "CN=clients-ca");
        assert!(cert.extended_key_usage().unwrap().unwrap().value.client_auth);
        assert!(!cert.is_ca());
    }

    #[test]
    fn a_bad_ca_is_named() {
        let (ca_cert, ca_key) = ca("clients-ca");
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        let e = issue(&ca_cert, "garbage", "u", now, 1).err().unwrap();
        assert_eq!(e.reason, "InvalidClientCa");
        assert!(e.message.contains("spec.clientCa: the key"), "{}", e.message);
        let e = issue("garbage", &ca_key, "u", now, 1).err().unwrap();
        assert!(e.message.contains("spec.clientCa: the certificate"), "{}", e.message);
    }
}
