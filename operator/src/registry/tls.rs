//! TLS towards a registry: the CA from the connection's Secret (else the system trust store) and an optional
//! client certificate, with rustls on ring like the rest of the operator.

use std::sync::Arc;

use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::{RegistryError, RegistrySettings};

pub(super) fn config(settings: &RegistrySettings) -> Result<rustls::ClientConfig, RegistryError> {
    let invalid = |what: &str, e: &dyn std::fmt::Display| RegistryError::Config(format!("{what}: {e}"));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    match &settings.ca_pem {
        Some(pem) => {
            for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                let cert = cert.map_err(|e| invalid("spec.schemaRegistry.tls.ca", &e))?;
                roots.add(cert).map_err(|e| invalid("spec.schemaRegistry.tls.ca", &e))?;
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
        }
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid("TLS", &e))?
        .with_root_certificates(roots);
    match &settings.client_pem {
        Some((cert, key)) => {
            let chain = CertificateDer::pem_slice_iter(cert.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| invalid("spec.schemaRegistry.tls.certificate", &e))?;
            let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).map_err(|_| {
                RegistryError::Config(
                    "spec.schemaRegistry.tls.key: not a PEM private key (its content is not shown)".into(),
                )
            })?;
            builder.with_client_auth_cert(chain, key).map_err(|e| invalid("spec.schemaRegistry.tls.certificate", &e))
        }
        None => Ok(builder.with_no_client_auth()),
    }
}
