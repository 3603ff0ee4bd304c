//! A small client of the Kafka wire protocol for the admin calls librdkafka does not have: partition reassignment
//! (`AlterPartitionReassignments`, `ListPartitionReassignments`). The `kafka-protocol` crate encodes and decodes the
//! messages; this module frames them and opens the connection with the same settings as the connection's librdkafka
//! client (`security.protocol`, the TLS PEMs and hostname verification, SASL PLAIN and SCRAM-SHA-256/512), so one
//! `KafkaConnection` means one set of credentials for both. A call opens one short connection: these calls are rare
//! (a replication-factor change and its progress checks), so a pool would only add state.
//!
//! In KRaft mode every broker forwards these requests to the active controller, so any bootstrap server will do.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::alter_partition_reassignments_request::{ReassignablePartition, ReassignableTopic};
use kafka_protocol::messages::list_partition_reassignments_request::ListPartitionReassignmentsTopics;
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, BrokerId, ListPartitionReassignmentsRequest, RequestHeader, ResponseHeader,
    SaslAuthenticateRequest, SaslHandshakeRequest, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls;

use super::KafkaError;
use super::settings::ClientSettings;

const CALL_TIMEOUT: Duration = Duration::from_secs(15);
const MAX_RESPONSE: usize = 64 * 1024 * 1024;

/// A partition whose reassignment Kafka reports as ongoing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OngoingReassignment {
    pub topic: String,
    pub partition: i32,
    pub replicas: Vec<i32>,
    pub adding: Vec<i32>,
    pub removing: Vec<i32>,
}

/// Asks Kafka to move `topic`'s partitions to the given replica lists (first replica = preferred leader).
pub async fn alter_partition_reassignments(
    settings: &ClientSettings,
    topic: &str,
    assignment: &[(i32, Vec<i32>)],
) -> Result<(), KafkaError> {
    let partitions = assignment
        .iter()
        .map(|(p, replicas)| {
            ReassignablePartition::default()
                .with_partition_index(*p)
                .with_replicas(Some(replicas.iter().copied().map(BrokerId).collect()))
        })
        .collect();
    let request = AlterPartitionReassignmentsRequest::default()
        .with_timeout_ms(10_000)
        .with_topics(vec![ReassignableTopic::default().with_name(topic_name(topic)).with_partitions(partitions)]);
    let response = call(settings, &request, 0).await?;
    check(response.error_code, response.error_message.as_ref())?;
    let mut refused = vec![];
    for t in &response.responses {
        for p in &t.partitions {
            if let Err(e) = check(p.error_code, p.error_message.as_ref()) {
                refused.push(format!("{}-{}: {e}", t.name.0.as_str(), p.partition_index));
            }
        }
    }
    match refused.is_empty() {
        true => Ok(()),
        false => Err(KafkaError::Invalid(format!("partition reassignment refused: {}", refused.join("; ")))),
    }
}

/// The ongoing reassignments of the given topics (of every topic when empty).
pub async fn list_partition_reassignments(
    settings: &ClientSettings,
    topics: &[(String, Vec<i32>)],
) -> Result<Vec<OngoingReassignment>, KafkaError> {
    let wanted = (!topics.is_empty()).then(|| {
        topics
            .iter()
            .map(|(t, ps)| {
                ListPartitionReassignmentsTopics::default().with_name(topic_name(t)).with_partition_indexes(ps.clone())
            })
            .collect()
    });
    let request = ListPartitionReassignmentsRequest::default().with_timeout_ms(10_000).with_topics(wanted);
    let response = call(settings, &request, 0).await?;
    check(response.error_code, response.error_message.as_ref())?;
    let ids = |v: &[BrokerId]| v.iter().map(|b| b.0).collect::<Vec<_>>();
    Ok(response
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| OngoingReassignment {
                topic: t.name.0.as_str().to_string(),
                partition: p.partition_index,
                replicas: ids(&p.replicas),
                adding: ids(&p.adding_replicas),
                removing: ids(&p.removing_replicas),
            })
        })
        .collect())
}

fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

fn check(code: i16, message: Option<&StrBytes>) -> Result<(), KafkaError> {
    let Some(err) = ResponseError::try_from_code(code) else { return Ok(()) };
    let message = match message.map(|m| m.as_str()).filter(|m| !m.is_empty()) {
        Some(m) => format!("{err:?}: {m}"),
        None => format!("{err:?}"),
    };
    Err(match err {
        ResponseError::SaslAuthenticationFailed
        | ResponseError::UnsupportedSaslMechanism
        | ResponseError::IllegalSaslState => KafkaError::Authentication(message),
        ResponseError::ClusterAuthorizationFailed | ResponseError::TopicAuthorizationFailed => {
            KafkaError::Authorization(message)
        }
        ResponseError::InvalidReplicationFactor
        | ResponseError::InvalidReplicaAssignment
        | ResponseError::InvalidRequest
        | ResponseError::PolicyViolation => KafkaError::Invalid(message),
        ResponseError::RequestTimedOut => KafkaError::Timeout,
        ResponseError::TopicAlreadyExists => KafkaError::TopicExists(message),
        ResponseError::UnknownTopicOrPartition | ResponseError::UnknownTopicId => KafkaError::UnknownTopic(message),
        other => KafkaError::Broker { code: format!("{other:?}"), message },
    })
}

/// One request over a fresh, authenticated connection to the first bootstrap server that answers.
async fn call<R: Request>(settings: &ClientSettings, request: &R, version: i16) -> Result<R::Response, KafkaError> {
    tokio::time::timeout(CALL_TIMEOUT, async {
        let mut conn = Connection::open(settings).await?;
        conn.send(request, version).await
    })
    .await
    .map_err(|_| KafkaError::Timeout)?
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

struct Connection {
    io: Box<dyn Io>,
    correlation: i32,
}

impl Connection {
    async fn open(settings: &ClientSettings) -> Result<Connection, KafkaError> {
        let protocol = settings.get("security.protocol").unwrap_or("plaintext").to_ascii_lowercase();
        let (tls, sasl) = match protocol.as_str() {
            "plaintext" => (false, false),
            "ssl" => (true, false),
            "sasl_plaintext" => (false, true),
            "sasl_ssl" => (true, true),
            other => return Err(KafkaError::Invalid(format!("unsupported security.protocol {other:?}"))),
        };
        let servers: Vec<&str> =
            settings.get("bootstrap.servers").unwrap_or_default().split(',').filter(|s| !s.is_empty()).collect();
        let mut last = KafkaError::Unreachable("no bootstrap servers".into());
        for server in servers {
            match TcpStream::connect(server).await {
                Ok(tcp) => {
                    let _ = tcp.set_nodelay(true);
                    let io: Box<dyn Io> = match tls {
                        false => Box::new(tcp),
                        true => Box::new(tls_handshake(settings, server, tcp).await?),
                    };
                    let mut conn = Connection { io, correlation: 0 };
                    if sasl {
                        conn.authenticate(settings).await?;
                    }
                    return Ok(conn);
                }
                Err(e) => last = KafkaError::Unreachable(format!("{server}: {e}")),
            }
        }
        Err(last)
    }

    async fn send<R: Request>(&mut self, request: &R, version: i16) -> Result<R::Response, KafkaError> {
        self.correlation += 1;
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation)
            .with_client_id(Some(StrBytes::from_static_str("tributary")));
        let mut body = BytesMut::new();
        header.encode(&mut body, R::header_version(version)).map_err(protocol)?;
        request.encode(&mut body, version).map_err(protocol)?;
        let mut frame = BytesMut::with_capacity(body.len() + 4);
        frame.put_i32(body.len() as i32);
        frame.extend_from_slice(&body);
        self.io.write_all(&frame).await.map_err(unreachable)?;
        self.io.flush().await.map_err(unreachable)?;

        let size = self.io.read_i32().await.map_err(unreachable)?;
        if size < 0 || size as usize > MAX_RESPONSE {
            return Err(KafkaError::Protocol(format!("response of {size} bytes")));
        }
        let mut buf = vec![0u8; size as usize];
        self.io.read_exact(&mut buf).await.map_err(unreachable)?;
        let mut buf = Bytes::from(buf);
        let header = ResponseHeader::decode(&mut buf, R::Response::header_version(version)).map_err(protocol)?;
        if header.correlation_id != self.correlation {
            return Err(KafkaError::Protocol(format!(
                "correlation id {} answered {}",
                header.correlation_id, self.correlation
            )));
        }
        let response = R::Response::decode(&mut buf, version).map_err(protocol)?;
        if buf.has_remaining() {
            tracing::debug!(api_key = R::KEY, left = buf.remaining(), "response had trailing bytes");
        }
        Ok(response)
    }

    async fn authenticate(&mut self, settings: &ClientSettings) -> Result<(), KafkaError> {
        let mechanism = settings.get("sasl.mechanism").unwrap_or("GSSAPI").to_string();
        let user = settings.get("sasl.username").unwrap_or_default().to_string();
        let password = settings.get("sasl.password").unwrap_or_default().to_string();
        let handshake = SaslHandshakeRequest::default().with_mechanism(StrBytes::from_string(mechanism.clone()));
        let answer = self.send(&handshake, 1).await?;
        if let Err(e) = check(answer.error_code, None) {
            let offered: Vec<_> = answer.mechanisms.iter().map(|m| m.as_str()).collect();
            return Err(KafkaError::Authentication(format!("{e}; the broker offers {}", offered.join(", "))));
        }
        match mechanism.as_str() {
            "PLAIN" => {
                let mut token = Vec::new();
                token.push(0);
                token.extend_from_slice(user.as_bytes());
                token.push(0);
                token.extend_from_slice(password.as_bytes());
                self.sasl_step(token).await?;
                Ok(())
            }
            "SCRAM-SHA-256" | "SCRAM-SHA-512" => {
                let hash = if mechanism == "SCRAM-SHA-256" { ScramHash::Sha256 } else { ScramHash::Sha512 };
                let mut scram = ScramClient::new(hash, &user, &password, &random_nonce()?);
                let server_first = self.sasl_step(scram.client_first().into_bytes()).await?;
                let client_final = scram.client_final(&String::from_utf8_lossy(&server_first))?;
                let server_final = self.sasl_step(client_final.into_bytes()).await?;
                scram.verify_server_final(&String::from_utf8_lossy(&server_final))
            }
            other => Err(KafkaError::Invalid(format!(
                "SASL mechanism {other} is not supported for partition reassignment (PLAIN and SCRAM are)"
            ))),
        }
    }

    async fn sasl_step(&mut self, token: Vec<u8>) -> Result<Bytes, KafkaError> {
        let request = SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(token));
        let answer = self.send(&request, 1).await?;
        check(answer.error_code, answer.error_message.as_ref())?;
        Ok(answer.auth_bytes)
    }
}

fn protocol(e: impl std::fmt::Display) -> KafkaError {
    KafkaError::Protocol(e.to_string())
}

fn unreachable(e: std::io::Error) -> KafkaError {
    KafkaError::Unreachable(e.to_string())
}

fn random_nonce() -> Result<String, KafkaError> {
    let mut bytes = [0u8; 24];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| KafkaError::Protocol("no randomness for the SCRAM nonce".into()))?;
    Ok(B64.encode(bytes))
}

// ---- TLS ---------------------------------------------------------------------------------------------------------

async fn tls_handshake(
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

// ---- SCRAM (RFC 5802, RFC 7677) ----------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
enum ScramHash {
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
}

/// The client side of a SCRAM exchange: client-first, then client-final from the server-first, then the check of
/// the server's signature (so a server that does not know the password is not trusted either).
struct ScramClient {
    hash: ScramHash,
    password: String,
    nonce: String,
    first_bare: String,
    server_signature: Option<Vec<u8>>,
}

impl ScramClient {
    fn new(hash: ScramHash, user: &str, password: &str, nonce: &str) -> ScramClient {
        let user = user.replace('=', "=3D").replace(',', "=2C");
        ScramClient {
            hash,
            password: password.to_string(),
            nonce: nonce.to_string(),
            first_bare: format!("n={user},r={nonce}"),
            server_signature: None,
        }
    }

    fn client_first(&self) -> String {
        format!("n,,{}", self.first_bare)
    }

    fn client_final(&mut self, server_first: &str) -> Result<String, KafkaError> {
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
        let mut salted = vec![0u8; self.hash.len()];
        ring::pbkdf2::derive(
            self.hash.pbkdf2(),
            std::num::NonZeroU32::new(iterations).expect("checked above"),
            &salt,
            self.password.as_bytes(),
            &mut salted,
        );
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

    fn verify_server_final(&self, server_final: &str) -> Result<(), KafkaError> {
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

    #[test]
    fn kafka_error_codes_map_to_reasons() {
        assert!(check(0, None).is_ok());
        assert_eq!(check(58, None).unwrap_err().reason(), "AuthenticationFailed");
        assert_eq!(check(31, None).unwrap_err().reason(), "NotAuthorized");
        assert_eq!(check(39, None).unwrap_err().reason(), "KafkaRejected");
        let msg = StrBytes::from_static_str("no such topic");
        assert!(check(3, Some(&msg)).unwrap_err().to_string().contains("no such topic"));
    }

    #[tokio::test]
    async fn an_unreachable_bootstrap_is_unreachable() {
        // A port that was just free on 127.0.0.1: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let settings = ClientSettings::new(&[format!("127.0.0.1:{port}")]);
        let e = list_partition_reassignments(&settings, &[]).await.unwrap_err();
        assert_eq!(e.reason(), "KafkaUnreachable", "{e:?}");
    }
}
