//! The Kafka layer's access calls against the real stack, whose brokers run Kafka's KRaft authorizer (see
//! `e2e/stack/up`): a SCRAM user made through [`ClusterClient`] may produce exactly where its ACLs let it, loses that
//! when they are deleted, and its quotas read back the same through the client and through Kafka's own ConfigCommand.
//! The operator's client connects over the SCRAM listener as the stack's SCRAM user (a super user), like a
//! `KafkaConnection` would.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use tributary::api::access::{AclBinding, AclOperation, AclPatternType, AclResourceType};
use tributary::kafka::{ClientSettings, ClusterClient, KafkaError, ScramMechanism};
use tributary::runtime::metrics::Metrics;
use tributary_e2e::kafka::create_topic;
use tributary_e2e::{Stack, unique, wait_for};

const T: Duration = Duration::from_secs(60);

/// The operator's client, as the stack's SCRAM user over every node's SCRAM listener.
fn operator_client(stack: &Stack) -> ClusterClient {
    client_as(stack, &stack.scram_user, &stack.scram_password)
}

fn client_as(stack: &Stack, user: &str, password: &str) -> ClusterClient {
    let servers: Vec<String> = stack.scram_bootstrap.split(',').map(str::to_string).collect();
    let mut settings = ClientSettings::new(&servers);
    settings.set("security.protocol", "SASL_PLAINTEXT");
    settings.set("sasl.mechanism", "SCRAM-SHA-512");
    settings.set("sasl.username", user);
    settings.set("sasl.password", password);
    ClusterClient::new(format!("e2e/{user}"), &settings, Arc::new(Metrics::default())).expect("a cluster client")
}

/// A fresh producer authenticating as `user` (fresh: no metadata cached from before an ACL change).
fn producer_as(stack: &Stack, user: &str, password: &str) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", &stack.scram_bootstrap)
        .set("security.protocol", "SASL_PLAINTEXT")
        .set("sasl.mechanism", "SCRAM-SHA-512")
        .set("sasl.username", user)
        .set("sasl.password", password)
        // Idempotence would also need IdempotentWrite-or-Write rights checked on the cluster; keep to Write.
        .set("enable.idempotence", "false")
        .set("message.timeout.ms", "10000")
        .set("log_level", "3")
        .create()
        .expect("a producer")
}

/// Produces one record to `topic` as `user`: Ok, or the error code Kafka answered.
async fn produce_as(stack: &Stack, user: &str, password: &str, topic: &str) -> Result<(), RDKafkaErrorCode> {
    let producer = producer_as(stack, user, password);
    let record = FutureRecord::to(topic).key("k").payload("v");
    match producer.send(record, Duration::from_secs(15)).await {
        Ok(_) => Ok(()),
        Err((e, _)) => Err(e.rdkafka_error_code().unwrap_or(RDKafkaErrorCode::Fail)),
    }
}

/// Waits until `get` answers what `want` accepts. A broker answers the describe calls from its metadata image, which
/// follows the controller's commit of a change by a moment (and each broker's by its own moment).
async fn eventually<V, G, Fut>(what: &str, get: G, want: impl FnMut(&V) -> bool) -> V
where
    V: std::fmt::Debug,
    G: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<V, KafkaError>>,
{
    wait_for(
        what,
        T,
        || {
            let answer = get();
            async move { Ok(answer.await?) }
        },
        want,
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn a_scram_user_produces_only_where_its_acls_allow() {
    let stack = Stack::from_env();
    let admin = stack.admin();
    let (allowed, other) = (unique("acl-allowed"), unique("acl-other"));
    for t in [&allowed, &other] {
        create_topic(&admin, t, 1, 1, &[]).await.unwrap();
    }
    let client = &operator_client(&stack);
    let (user, password) = (&unique("app"), "app-secret-1");
    let principal = &format!("User:{user}");
    let stack = &stack;
    let produce = |topic: &str| {
        let topic = topic.to_string();
        async move { Ok::<_, KafkaError>(produce_as(stack, user, password, &topic).await) }
    };
    let refused = |r: &Result<(), RDKafkaErrorCode>| *r == Err(RDKafkaErrorCode::TopicAuthorizationFailed);

    // The credential: salted here, stored by Kafka; the user can then authenticate.
    assert!(client.describe_scram_credentials(user).await.unwrap().is_empty());
    client.upsert_scram_credential(user, ScramMechanism::Sha512, password, 4096).await.unwrap();
    let sha512 = vec![(ScramMechanism::Sha512, 4096)];
    eventually("the app user's credential", || client.describe_scram_credentials(user), |c| *c == sha512).await;

    // Authenticated (once every broker knows the credential) but without any ACL: nothing, not even its own ACLs.
    let denied = Err(RDKafkaErrorCode::TopicAuthorizationFailed);
    assert_eq!(eventually("the app user's produce to be refused", || produce(&allowed), refused).await, denied);
    let e = client_as(stack, user, password).describe_acls(principal).await.unwrap_err();
    assert!(matches!(e, KafkaError::Authorization(_)), "{e:?}");

    // Write and Describe on one topic.
    let grants: Vec<AclBinding> = [AclOperation::Write, AclOperation::Describe]
        .into_iter()
        .map(|op| AclBinding::allow(principal, AclResourceType::Topic, &allowed, AclPatternType::Literal, op))
        .collect();
    let created = client.create_acls(&grants).await.unwrap();
    assert!(created.iter().all(Result::is_ok), "{created:?}");
    let mut want = grants.clone();
    want.sort();
    eventually("the app user's ACLs", || client.describe_acls(principal), |acls| *acls == want).await;
    // Creating them again changes nothing.
    assert!(client.create_acls(&grants).await.unwrap().iter().all(Result::is_ok));
    assert_eq!(client.describe_acls(principal).await.unwrap(), want);

    // Every broker applies the ACLs once its metadata has them: wait for the first success.
    eventually("producing to the allowed topic as the app user", || produce(&allowed), Result::is_ok).await.unwrap();
    assert_eq!(produce_as(stack, user, password, &other).await, denied);

    // Deleting the ACLs takes the right away; deleting them twice is fine.
    let deleted = client.delete_acls(&grants).await.unwrap();
    assert!(deleted.iter().all(Result::is_ok), "{deleted:?}");
    assert!(client.delete_acls(&grants).await.unwrap().iter().all(Result::is_ok));
    eventually("no ACLs for the app user", || client.describe_acls(principal), Vec::is_empty).await;
    assert_eq!(eventually("the app user's produce to be refused again", || produce(&allowed), refused).await, denied);

    // The credential goes; deleting it twice is fine.
    client.delete_scram_credential(user, ScramMechanism::Sha512).await.unwrap();
    client.delete_scram_credential(user, ScramMechanism::Sha512).await.unwrap();
    eventually("no credential for the app user", || client.describe_scram_credentials(user), Vec::is_empty).await;
}

#[tokio::test]
async fn a_users_quotas_read_back_through_the_client_and_kafkas_config_command() {
    let stack = Stack::from_env();
    let client = &operator_client(&stack);
    let user = &unique("quota-user");
    assert!(client.describe_client_quotas(user).await.unwrap().is_empty());
    let quotas = || client.describe_client_quotas(user);

    let set =
        BTreeMap::from([("producer_byte_rate".to_string(), 1048576.0), ("consumer_byte_rate".to_string(), 2097152.0)]);
    client.alter_client_quotas(user, &set, &[]).await.unwrap();
    eventually("the user's quotas", quotas, |q| *q == set).await;
    let args = ["--bootstrap-server", &stack.bootstrap, "--describe", "--entity-type", "users", "--entity-name", user];
    // Kafka's own tool, over the plaintext listener (its broker may see the change a moment later).
    let both = |out: &String| out.contains("producer_byte_rate=1048576") && out.contains("consumer_byte_rate=2097152");
    let cli = || async { stack.kafka_cli("kafka.admin.ConfigCommand", &args) };
    wait_for("ConfigCommand to show the user's quotas", T, cli, both).await.unwrap();

    // One set and one removal in a request.
    let lower = BTreeMap::from([("producer_byte_rate".to_string(), 524288.0)]);
    client.alter_client_quotas(user, &lower, &["consumer_byte_rate".to_string()]).await.unwrap();
    eventually("the user's lowered quota alone", quotas, |q| *q == lower).await;

    client.alter_client_quotas(user, &BTreeMap::new(), &["producer_byte_rate".to_string()]).await.unwrap();
    eventually("no quotas for the user", quotas, BTreeMap::is_empty).await;
}
