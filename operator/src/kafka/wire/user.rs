//! A user's SCRAM credentials and client quotas over the wire client: DescribeUserScramCredentials and
//! AlterUserScramCredentials (version 0, the only one; Kafka 2.7, on KRaft since 3.5), DescribeClientQuotas and
//! AlterClientQuotas (version 1, the flexible one: Kafka 2.8 to 4.x). librdkafka has none of the quota calls and
//! rust-rdkafka none of these. On KRaft a broker forwards the two alterations to the active controller.
//!
//! A SCRAM upsertion carries no password: the client sends a random salt and the salted password
//! (`Hi(password, salt, iterations)` of RFC 5802), from which Kafka derives and stores the stored and server keys.

use std::collections::BTreeMap;
use std::num::NonZeroU32;

use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::alter_client_quotas_request::{EntityData, EntryData, OpData};
use kafka_protocol::messages::alter_user_scram_credentials_request::{
    ScramCredentialDeletion, ScramCredentialUpsertion,
};
use kafka_protocol::messages::describe_client_quotas_request::ComponentData;
use kafka_protocol::messages::describe_user_scram_credentials_request::UserName;
use kafka_protocol::messages::{
    AlterClientQuotasRequest, AlterClientQuotasResponse, AlterUserScramCredentialsRequest,
    AlterUserScramCredentialsResponse, DescribeClientQuotasRequest, DescribeClientQuotasResponse,
    DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::scram::{ScramHash, random_bytes};
use super::{call, check};
use crate::kafka::error::KafkaError;
use crate::kafka::settings::ClientSettings;

const SCRAM_VERSION: i16 = 0;
const QUOTA_VERSION: i16 = 1;

/// The quota entity type of a (SASL or certificate) user.
const USER_ENTITY: &str = "user";

/// The fewest and most PBKDF2 iterations Kafka accepts for a SCRAM credential (`ScramMechanism` in Kafka).
pub const SCRAM_MIN_ITERATIONS: i32 = 4096;
pub const SCRAM_MAX_ITERATIONS: i32 = 16384;

/// A SCRAM mechanism Kafka keeps credentials for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ScramMechanism {
    Sha256,
    Sha512,
}

impl ScramMechanism {
    /// Kafka's code (`org.apache.kafka.clients.admin.ScramMechanism`).
    fn code(self) -> i8 {
        match self {
            ScramMechanism::Sha256 => 1,
            ScramMechanism::Sha512 => 2,
        }
    }

    fn from_code(code: i8) -> Option<ScramMechanism> {
        [ScramMechanism::Sha256, ScramMechanism::Sha512].into_iter().find(|m| m.code() == code)
    }

    fn hash(self) -> ScramHash {
        match self {
            ScramMechanism::Sha256 => ScramHash::Sha256,
            ScramMechanism::Sha512 => ScramHash::Sha512,
        }
    }

    /// The SASL name: `SCRAM-SHA-256`, `SCRAM-SHA-512`.
    pub fn name(self) -> &'static str {
        match self {
            ScramMechanism::Sha256 => "SCRAM-SHA-256",
            ScramMechanism::Sha512 => "SCRAM-SHA-512",
        }
    }
}

impl std::fmt::Display for ScramMechanism {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for ScramMechanism {
    type Err = KafkaError;
    fn from_str(s: &str) -> Result<ScramMechanism, KafkaError> {
        match s {
            "SCRAM-SHA-256" => Ok(ScramMechanism::Sha256),
            "SCRAM-SHA-512" => Ok(ScramMechanism::Sha512),
            other => Err(KafkaError::Invalid(format!("unknown SCRAM mechanism {other:?}"))),
        }
    }
}

fn text(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// Sets (creates or replaces) `user`'s credential for `mechanism`.
pub async fn upsert_scram_credential(
    settings: &ClientSettings,
    user: &str,
    mechanism: ScramMechanism,
    password: &str,
    iterations: i32,
) -> Result<(), KafkaError> {
    let salt = random_bytes::<32>()?;
    let request = scram_upsertion(user, mechanism, password, iterations, &salt)?;
    scram_alter_answer(call(settings, &request, SCRAM_VERSION).await?)
}

fn scram_upsertion(
    user: &str,
    mechanism: ScramMechanism,
    password: &str,
    iterations: i32,
    salt: &[u8],
) -> Result<AlterUserScramCredentialsRequest, KafkaError> {
    let counted = u32::try_from(iterations).ok().and_then(NonZeroU32::new);
    let Some(rounds) = counted.filter(|_| (SCRAM_MIN_ITERATIONS..=SCRAM_MAX_ITERATIONS).contains(&iterations)) else {
        return Err(KafkaError::Invalid(format!(
            "{iterations} SCRAM iterations: Kafka accepts {SCRAM_MIN_ITERATIONS} to {SCRAM_MAX_ITERATIONS}"
        )));
    };
    if user.is_empty() || password.is_empty() {
        return Err(KafkaError::Invalid("a SCRAM credential needs a user name and a password".into()));
    }
    let salted = mechanism.hash().salted_password(password, salt, rounds);
    let upsertion = ScramCredentialUpsertion::default()
        .with_name(text(user))
        .with_mechanism(mechanism.code())
        .with_iterations(iterations)
        .with_salt(Bytes::copy_from_slice(salt))
        .with_salted_password(Bytes::from(salted));
    Ok(AlterUserScramCredentialsRequest::default().with_upsertions(vec![upsertion]))
}

/// Removes `user`'s credential for `mechanism`; a credential that does not exist is removed already.
pub async fn delete_scram_credential(
    settings: &ClientSettings,
    user: &str,
    mechanism: ScramMechanism,
) -> Result<(), KafkaError> {
    match scram_alter_answer(call(settings, &scram_deletion(user, mechanism), SCRAM_VERSION).await?) {
        Err(KafkaError::Broker { code, .. }) if code == "ResourceNotFound" => Ok(()),
        other => other,
    }
}

fn scram_deletion(user: &str, mechanism: ScramMechanism) -> AlterUserScramCredentialsRequest {
    let deletion = ScramCredentialDeletion::default().with_name(text(user)).with_mechanism(mechanism.code());
    AlterUserScramCredentialsRequest::default().with_deletions(vec![deletion])
}

/// The answer to one change of one user: its error, if any.
fn scram_alter_answer(response: AlterUserScramCredentialsResponse) -> Result<(), KafkaError> {
    response.results.iter().try_for_each(|r| scram_check(r.error_code, r.error_message.as_ref()))
}

/// [`check`], but the SCRAM calls' own refusals are about the request, not the connection: an unknown mechanism
/// (`UnsupportedSaslMechanism`, else an authentication failure that would open the circuit breaker) or an
/// unacceptable credential (too few iterations, an empty password) are invalid requests.
fn scram_check(code: i16, message: Option<&StrBytes>) -> Result<(), KafkaError> {
    match ResponseError::try_from_code(code) {
        Some(e @ (ResponseError::UnsupportedSaslMechanism | ResponseError::UnacceptableCredential)) => {
            let detail = message.map(|m| format!(": {}", m.as_str())).unwrap_or_default();
            Err(KafkaError::Invalid(format!("{e:?}{detail}")))
        }
        _ => check(code, message),
    }
}

/// The mechanisms `user` has a credential for, with their iteration counts; empty when it has none.
pub async fn describe_scram_credentials(
    settings: &ClientSettings,
    user: &str,
) -> Result<Vec<(ScramMechanism, i32)>, KafkaError> {
    let response = call(settings, &describe_scram_request(user), SCRAM_VERSION).await?;
    describe_scram_answer(user, response)
}

fn describe_scram_request(user: &str) -> DescribeUserScramCredentialsRequest {
    DescribeUserScramCredentialsRequest::default().with_users(Some(vec![UserName::default().with_name(text(user))]))
}

fn describe_scram_answer(
    user: &str,
    response: DescribeUserScramCredentialsResponse,
) -> Result<Vec<(ScramMechanism, i32)>, KafkaError> {
    check(response.error_code, response.error_message.as_ref())?;
    let mut out = vec![];
    for r in response.results.iter().filter(|r| r.user.as_str() == user) {
        // A user without any credential is `ResourceNotFound`.
        if ResponseError::try_from_code(r.error_code) == Some(ResponseError::ResourceNotFound) {
            continue;
        }
        scram_check(r.error_code, r.error_message.as_ref())?;
        out.extend(
            r.credential_infos.iter().filter_map(|c| Some((ScramMechanism::from_code(c.mechanism)?, c.iterations))),
        );
    }
    out.sort();
    Ok(out)
}

/// `user`'s own quotas (`producer_byte_rate`, `consumer_byte_rate`, `request_percentage`, ...): the ones set on
/// this user alone, not the defaults nor those of a (user, client id) pair.
pub async fn describe_client_quotas(
    settings: &ClientSettings,
    user: &str,
) -> Result<BTreeMap<String, f64>, KafkaError> {
    let response = call(settings, &describe_quotas_request(user), QUOTA_VERSION).await?;
    describe_quotas_answer(user, response)
}

fn describe_quotas_request(user: &str) -> DescribeClientQuotasRequest {
    // Match type 0: this exact name. Strict: only entities of the user alone, not the user with a client id.
    let component =
        ComponentData::default().with_entity_type(text(USER_ENTITY)).with_match_type(0).with_match(Some(text(user)));
    DescribeClientQuotasRequest::default().with_components(vec![component]).with_strict(true)
}

fn describe_quotas_answer(
    user: &str,
    response: DescribeClientQuotasResponse,
) -> Result<BTreeMap<String, f64>, KafkaError> {
    check(response.error_code, response.error_message.as_ref())?;
    let only_the_user = |e: &[kafka_protocol::messages::describe_client_quotas_response::EntityData]| {
        matches!(e, [one] if one.entity_type.as_str() == USER_ENTITY
            && one.entity_name.as_ref().map(|n| n.as_str()) == Some(user))
    };
    Ok(response
        .entries
        .iter()
        .flatten()
        .filter(|entry| only_the_user(&entry.entity))
        .flat_map(|entry| entry.values.iter().map(|v| (v.key.as_str().to_string(), v.value)))
        .collect())
}

/// Sets the quotas in `set` on `user` and removes those named in `remove`, in one request.
pub async fn alter_client_quotas(
    settings: &ClientSettings,
    user: &str,
    set: &BTreeMap<String, f64>,
    remove: &[String],
) -> Result<(), KafkaError> {
    if set.is_empty() && remove.is_empty() {
        return Ok(());
    }
    alter_quotas_answer(call(settings, &alter_quotas_request(user, set, remove), QUOTA_VERSION).await?)
}

fn alter_quotas_request(user: &str, set: &BTreeMap<String, f64>, remove: &[String]) -> AlterClientQuotasRequest {
    let sets = set.iter().map(|(k, v)| OpData::default().with_key(text(k)).with_value(*v));
    let removes = remove.iter().map(|k| OpData::default().with_key(text(k)).with_remove(true));
    let entry = EntryData::default()
        .with_entity(vec![EntityData::default().with_entity_type(text(USER_ENTITY)).with_entity_name(Some(text(user)))])
        .with_ops(sets.chain(removes).collect());
    AlterClientQuotasRequest::default().with_entries(vec![entry]).with_validate_only(false)
}

fn alter_quotas_answer(response: AlterClientQuotasResponse) -> Result<(), KafkaError> {
    response.entries.iter().try_for_each(|e| check(e.error_code, e.error_message.as_ref()))
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD as B64;
    use kafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
    use kafka_protocol::messages::describe_client_quotas_response as dq;
    use kafka_protocol::messages::describe_user_scram_credentials_response::{
        CredentialInfo, DescribeUserScramCredentialsResult,
    };

    use super::*;

    #[test]
    fn mechanisms_have_kafkas_codes_and_names() {
        assert_eq!((ScramMechanism::Sha256.code(), ScramMechanism::Sha512.code()), (1, 2));
        assert_eq!(ScramMechanism::from_code(2), Some(ScramMechanism::Sha512));
        assert_eq!(ScramMechanism::from_code(0), None);
        assert_eq!("SCRAM-SHA-512".parse::<ScramMechanism>().unwrap(), ScramMechanism::Sha512);
        assert_eq!(ScramMechanism::Sha256.to_string(), "SCRAM-SHA-256");
        assert!(matches!("PLAIN".parse::<ScramMechanism>(), Err(KafkaError::Invalid(_))));
    }

    /// RFC 7677's example: the salted password of `pencil` with its salt, whose exchange `scram.rs` checks against the
    /// RFC; the bytes are an independent PBKDF2's (Python's `hashlib.pbkdf2_hmac`).
    #[test]
    fn an_upsertion_carries_the_salt_and_the_salted_password_not_the_password() {
        let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let r = scram_upsertion("user", ScramMechanism::Sha256, "pencil", 4096, &salt).unwrap();
        assert!(r.deletions.is_empty());
        let u = &r.upsertions[0];
        assert_eq!((u.name.as_str(), u.mechanism, u.iterations), ("user", 1, 4096));
        assert_eq!(u.salt.as_ref(), salt.as_slice());
        let hex: String = u.salted_password.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "c4a49510323ab4f952cac1fa99441939e78ea74d6be81ddf7096e87513dc615d");
        let r = scram_upsertion("user", ScramMechanism::Sha512, "pencil", 8192, &salt).unwrap();
        assert_eq!((r.upsertions[0].mechanism, r.upsertions[0].salted_password.len()), (2, 64));
    }

    #[test]
    fn an_upsertion_refuses_what_kafka_would() {
        for iterations in [0, -1, 4095, 16385] {
            let e = scram_upsertion("u", ScramMechanism::Sha256, "pw", iterations, b"salt").unwrap_err();
            assert!(matches!(&e, KafkaError::Invalid(m) if m.contains("4096 to 16384")), "{e:?}");
        }
        assert!(matches!(scram_upsertion("u", ScramMechanism::Sha256, "", 4096, b"s"), Err(KafkaError::Invalid(_))));
        assert!(matches!(scram_upsertion("", ScramMechanism::Sha256, "p", 4096, b"s"), Err(KafkaError::Invalid(_))));
    }

    #[test]
    fn a_deletion_names_the_user_and_mechanism() {
        let r = scram_deletion("billing", ScramMechanism::Sha512);
        assert!(r.upsertions.is_empty());
        assert_eq!((r.deletions[0].name.as_str(), r.deletions[0].mechanism), ("billing", 2));
    }

    #[test]
    fn scram_alter_answers_map_errors() {
        let answer = |code: i16| {
            AlterUserScramCredentialsResponse::default().with_results(vec![
                AlterUserScramCredentialsResult::default().with_user(text("billing")).with_error_code(code),
            ])
        };
        assert!(scram_alter_answer(answer(0)).is_ok());
        assert!(matches!(scram_alter_answer(answer(31)), Err(KafkaError::Authorization(_))));
        // Not an authentication failure (which would open the circuit breaker): the request was wrong.
        assert!(matches!(scram_alter_answer(answer(33)), Err(KafkaError::Invalid(_))));
        assert!(matches!(scram_alter_answer(answer(93)), Err(KafkaError::Invalid(_))));
        assert!(
            matches!(scram_alter_answer(answer(91)), Err(KafkaError::Broker { code, .. }) if code == "ResourceNotFound")
        );
    }

    #[test]
    fn describe_scram_asks_for_the_user_and_reads_its_credentials() {
        let r = describe_scram_request("billing");
        assert_eq!(r.users.unwrap()[0].name.as_str(), "billing");
        let info = |m: i8, i: i32| CredentialInfo::default().with_mechanism(m).with_iterations(i);
        let response = DescribeUserScramCredentialsResponse::default().with_results(vec![
            DescribeUserScramCredentialsResult::default().with_user(text("billing")).with_credential_infos(vec![
                info(2, 8192),
                info(1, 4096),
                info(0, 1),
            ]),
        ]);
        assert_eq!(
            describe_scram_answer("billing", response).unwrap(),
            vec![(ScramMechanism::Sha256, 4096), (ScramMechanism::Sha512, 8192)]
        );
        // No credential at all: Kafka says ResourceNotFound for the user.
        let none = DescribeUserScramCredentialsResponse::default().with_results(vec![
            DescribeUserScramCredentialsResult::default().with_user(text("billing")).with_error_code(91),
        ]);
        assert!(describe_scram_answer("billing", none).unwrap().is_empty());
        let denied = DescribeUserScramCredentialsResponse::default().with_error_code(31);
        assert!(matches!(describe_scram_answer("billing", denied), Err(KafkaError::Authorization(_))));
    }

    #[test]
    fn describe_quotas_asks_for_the_user_alone_and_reads_its_values() {
        let r = describe_quotas_request("billing");
        assert!(r.strict);
        let c = &r.components[0];
        assert_eq!((c.entity_type.as_str(), c.match_type), ("user", 0));
        assert_eq!(c._match.as_ref().map(|m| m.as_str()), Some("billing"));

        let entity =
            |t: &str, n: &str| dq::EntityData::default().with_entity_type(text(t)).with_entity_name(Some(text(n)));
        let value = |k: &str, v: f64| dq::ValueData::default().with_key(text(k)).with_value(v);
        let response = DescribeClientQuotasResponse::default().with_entries(Some(vec![
            dq::EntryData::default()
                .with_entity(vec![entity("user", "billing")])
                .with_values(vec![value("producer_byte_rate", 1048576.0), value("request_percentage", 50.0)]),
            dq::EntryData::default()
                .with_entity(vec![entity("user", "billing"), entity("client-id", "x")])
                .with_values(vec![value("consumer_byte_rate", 1.0)]),
        ]));
        let quotas = describe_quotas_answer("billing", response).unwrap();
        assert_eq!(quotas.len(), 2);
        assert_eq!(quotas["producer_byte_rate"], 1048576.0);
        assert_eq!(quotas["request_percentage"], 50.0);
        assert!(describe_quotas_answer("billing", DescribeClientQuotasResponse::default()).unwrap().is_empty());
        let denied = DescribeClientQuotasResponse::default().with_error_code(31);
        assert!(matches!(describe_quotas_answer("billing", denied), Err(KafkaError::Authorization(_))));
    }

    #[test]
    fn alter_quotas_sets_and_removes_in_one_entry() {
        let set = BTreeMap::from([("producer_byte_rate".to_string(), 2048.0)]);
        let r = alter_quotas_request("billing", &set, &["consumer_byte_rate".to_string()]);
        assert!(!r.validate_only);
        let e = &r.entries[0];
        assert_eq!(e.entity[0].entity_type.as_str(), "user");
        assert_eq!(e.entity[0].entity_name.as_ref().map(|n| n.as_str()), Some("billing"));
        let ops: Vec<(&str, f64, bool)> = e.ops.iter().map(|o| (o.key.as_str(), o.value, o.remove)).collect();
        assert_eq!(ops, vec![("producer_byte_rate", 2048.0, false), ("consumer_byte_rate", 0.0, true)]);

        use kafka_protocol::messages::alter_client_quotas_response::EntryData as Answer;
        let answer = |code: i16| {
            AlterClientQuotasResponse::default().with_entries(vec![Answer::default().with_error_code(code)])
        };
        assert!(alter_quotas_answer(answer(0)).is_ok());
        assert!(matches!(alter_quotas_answer(answer(31)), Err(KafkaError::Authorization(_))));
        assert!(matches!(alter_quotas_answer(answer(42)), Err(KafkaError::Invalid(_))));
    }

    /// The requests encode at the versions sent and decode back the same (the crate refuses a field a version lacks).
    #[test]
    fn the_requests_round_trip_at_the_versions_sent() {
        use kafka_protocol::protocol::{Decodable, Encodable};
        fn round_trip<R: Encodable + Decodable + PartialEq + std::fmt::Debug>(r: R, version: i16) {
            let mut buf = bytes::BytesMut::new();
            r.encode(&mut buf, version).unwrap();
            assert_eq!(R::decode(&mut buf.freeze(), version).unwrap(), r);
        }
        round_trip(scram_upsertion("u", ScramMechanism::Sha256, "pw", 4096, b"salt").unwrap(), SCRAM_VERSION);
        round_trip(scram_deletion("u", ScramMechanism::Sha512), SCRAM_VERSION);
        round_trip(describe_scram_request("u"), SCRAM_VERSION);
        round_trip(describe_quotas_request("u"), QUOTA_VERSION);
        let set = BTreeMap::from([("producer_byte_rate".to_string(), 1024.0)]);
        round_trip(alter_quotas_request("u", &set, &["request_percentage".to_string()]), QUOTA_VERSION);
    }

    #[tokio::test]
    async fn no_quota_change_asks_nothing() {
        let settings = ClientSettings::new(&[]);
        alter_client_quotas(&settings, "billing", &BTreeMap::new(), &[]).await.unwrap();
    }
}
