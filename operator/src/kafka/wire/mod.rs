//! A small client of the Kafka wire protocol for the admin calls librdkafka does not have (or rust-rdkafka does not
//! expose): partition reassignment (`AlterPartitionReassignments`, `ListPartitionReassignments`), and access — ACLs,
//! SCRAM credentials and client quotas (see [`acl`] and [`user`]). The `kafka-protocol` crate encodes and decodes
//! the messages; this module frames them and opens the connection with the same settings as the connection's
//! librdkafka client (`security.protocol`, the TLS PEMs and hostname verification, SASL PLAIN and
//! SCRAM-SHA-256/512), so one `KafkaConnection` means one set of credentials for both. A call opens one short
//! connection: these calls are rare (a replication-factor change and its progress checks, a user's reconcile), so a
//! pool would only add state.
//!
//! In KRaft mode every broker forwards the requests that change metadata to the active controller, so any bootstrap
//! server will do.

use std::time::Duration;

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

pub mod acl;
pub mod lag;
mod scram;
mod tls;
pub mod user;

use self::scram::{ScramClient, ScramHash, random_nonce};
use self::tls::tls_handshake;
use super::error::KafkaError;
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

pub(super) fn check(code: i16, message: Option<&StrBytes>) -> Result<(), KafkaError> {
    let Some(err) = ResponseError::try_from_code(code) else { return Ok(()) };
    let message = match message.map(|m| m.as_str()).filter(|m| !m.is_empty()) {
        Some(m) => format!("{err:?}: {m}"),
        None => format!("{err:?}"),
    };
    Err(match err {
        ResponseError::SaslAuthenticationFailed
        | ResponseError::UnsupportedSaslMechanism
        | ResponseError::IllegalSaslState => KafkaError::Authentication(message),
        ResponseError::ClusterAuthorizationFailed
        | ResponseError::TopicAuthorizationFailed
        | ResponseError::GroupAuthorizationFailed
        | ResponseError::TransactionalIdAuthorizationFailed => KafkaError::Authorization(message),
        // ACL calls on a cluster without `authorizer.class.name`.
        ResponseError::SecurityDisabled => {
            KafkaError::Invalid(format!("the Kafka cluster has no authorizer, so it keeps no ACLs ({message})"))
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
        let servers: Vec<&str> =
            settings.get("bootstrap.servers").unwrap_or_default().split(',').filter(|s| !s.is_empty()).collect();
        let mut last = KafkaError::Unreachable("no bootstrap servers".into());
        for server in servers {
            match Connection::connect(settings, server).await {
                Ok(conn) => return Ok(conn),
                Err(e @ KafkaError::Unreachable(_)) => last = e,
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }

    /// An authenticated connection to one broker (`host:port`), with the connection's TLS and SASL settings.
    async fn connect(settings: &ClientSettings, server: &str) -> Result<Connection, KafkaError> {
        let protocol = settings.get("security.protocol").unwrap_or("plaintext").to_ascii_lowercase();
        let (tls, sasl) = match protocol.as_str() {
            "plaintext" => (false, false),
            "ssl" => (true, false),
            "sasl_plaintext" => (false, true),
            "sasl_ssl" => (true, true),
            other => return Err(KafkaError::Invalid(format!("unsupported security.protocol {other:?}"))),
        };
        let tcp = TcpStream::connect(server).await.map_err(|e| KafkaError::Unreachable(format!("{server}: {e}")))?;
        let _ = tcp.set_nodelay(true);
        let io: Box<dyn Io> = match tls {
            false => Box::new(tcp),
            true => Box::new(tls_handshake(settings, server, tcp).await?),
        };
        let mut conn = Connection { io, correlation: 0 };
        if sasl {
            conn.authenticate(settings).await?;
        }
        Ok(conn)
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
                "SASL mechanism {other} is not supported by the admin calls librdkafka lacks (PLAIN and SCRAM are)"
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_error_codes_map_to_reasons() {
        assert!(check(0, None).is_ok());
        assert_eq!(check(58, None).unwrap_err().reason(), "AuthenticationFailed");
        assert_eq!(check(31, None).unwrap_err().reason(), "NotAuthorized");
        assert_eq!(check(39, None).unwrap_err().reason(), "KafkaRejected");
        assert_eq!(check(30, None).unwrap_err().reason(), "NotAuthorized");
        let no_authorizer = check(54, None).unwrap_err();
        assert!(matches!(&no_authorizer, KafkaError::Invalid(m) if m.contains("no authorizer")), "{no_authorizer:?}");
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
