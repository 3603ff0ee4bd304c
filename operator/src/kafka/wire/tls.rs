//! TLS for the wire client, from the same settings as the librdkafka client: the CA and client PEMs, and hostname
//! verification that can be turned off while the chain is always verified.

use std::sync::Arc;

use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls;

use crate::kafka::error::KafkaError;
use crate::kafka::settings::ClientSettings;

pub(super) async fn tls_handshake(
    settings: &ClientSettings,
    server: &str,
    tcp: TcpStream,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, KafkaError> {
    let config = tls_config(settings)?;
    let host = server.rsplit_once(':').map(|(h, _)| h).unwrap_or(server).trim_matches(['[', ']']);
    let name = rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|e| KafkaError::Invalid(format!("bootstrap host {host:?}: {e}")))?;
    TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| KafkaError::Authentication(format!("TLS handshake with {server}: {e}")))
}

fn tls_config(settings: &ClientSettings) -> Result<rustls::ClientConfig, KafkaError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let invalid = |what: &str, e: &dyn std::fmt::Display| KafkaError::Invalid(format!("{what}: {e}"));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    match settings.get("ssl.ca.pem") {
        Some(pem) => {
            for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                let cert = cert.map_err(|e| invalid("spec.tls.ca", &e))?;
                roots.add(cert).map_err(|e| invalid("spec.tls.ca", &e))?;
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
        }
    }
    let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| invalid("spec.tls.ca", &e))?;
    let verify_hostname = settings.get("ssl.endpoint.identification.algorithm") != Some("none");
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid("TLS", &e))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Verifier { webpki, verify_hostname }));
    match (settings.get("ssl.certificate.pem"), settings.get("ssl.key.pem")) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_slice_iter(cert.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| invalid("spec.tls.certificate", &e))?;
            let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).map_err(|_| {
                KafkaError::Invalid("spec.tls.key: not a PEM private key (its content is not shown)".into())
            })?;
            builder.with_client_auth_cert(chain, key).map_err(|e| invalid("spec.tls.certificate", &e))
        }
        _ => Ok(builder.with_no_client_auth()),
    }
}

/// The WebPKI verifier, with hostname checking optional (`spec.tls.insecureSkipHostnameVerification`): the chain is
/// always verified.
#[derive(Debug)]
struct Verifier {
    webpki: Arc<rustls::client::WebPkiServerVerifier>,
    verify_hostname: bool,
}

impl rustls::client::danger::ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        intermediates: &[rustls::pki_types::CertificateDer<'_>],
        server_name: &rustls::pki_types::ServerName<'_>,
        ocsp_response: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        match self.webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName | rustls::CertificateError::NotValidForNameContext { .. },
            )) if !self.verify_hostname => Ok(rustls::client::danger::ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}
