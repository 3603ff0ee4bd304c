//! `KafkaUser` against the real stack: an application's credential lands in a Secret, and clients configured from
//! that Secret alone (rdkafka here, kcat) may do exactly what the user declares — produce to its Topics, consume
//! with its ConsumerGroups — and are refused the rest by Kafka's authorizer. ACLs follow the spec, come back when
//! Kafka's own `kafka-acls` tool removes one, quotas show in Kafka's ConfigCommand, a rotation retires the old
//! password, and deletion removes it all. Under a connection's tenancy rule two namespaces keep apart. The
//! operator runs with the chart's ServiceAccount (see `rbac`), so the chart's RBAC is what is proven enough.

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams};
use rdkafka::types::RDKafkaErrorCode;
use serde_json::{Value, json};
use tributary::api::access::{AclBinding, AclOperation, AclPatternType, AclResourceType};
use tributary::api::kafka_user::{AclChange, KafkaUser};
use tributary::api::{ConsumerGroup, KafkaConnection, Topic};
use tributary::kafka::{ClientSettings, ClusterClient, KafkaError};
use tributary::runtime::metrics::Metrics;
use tributary_e2e::app::App;
use tributary_e2e::kafka::produce;
use tributary_e2e::*;

const T: Duration = Duration::from_secs(60);

/// The test's own view of Kafka's ACLs: the stack's super user over the SCRAM listener.
fn admin_client(stack: &Stack) -> ClusterClient {
    let servers: Vec<String> = stack.scram_bootstrap.split(',').map(str::to_string).collect();
    let mut settings = ClientSettings::new(&servers);
    settings.set("security.protocol", "SASL_PLAINTEXT");
    settings.set("sasl.mechanism", "SCRAM-SHA-512");
    settings.set("sasl.username", &stack.scram_user);
    settings.set("sasl.password", &stack.scram_password);
    ClusterClient::new("e2e/acl-admin".to_string(), &settings, std::sync::Arc::new(Metrics::default())).unwrap()
}

async fn acls_of(client: &ClusterClient, principal: &str) -> BTreeSet<AclBinding> {
    client.describe_acls(principal).await.unwrap().into_iter().collect()
}

fn topic_acl(principal: &str, topic: &str, op: AclOperation) -> AclBinding {
    AclBinding::allow(principal, AclResourceType::Topic, topic, AclPatternType::Literal, op)
}

async fn ready_user<O>(f: &Fixture<O>, name: &str) -> KafkaUser {
    wait_condition(&f.api::<KafkaUser>(), name, "Ready", "True", None, T).await.unwrap()
}

/// Waits until `check` (an app client call) answers what `want` accepts: every broker applies an ACL change once
/// its metadata has it.
async fn until<V: std::fmt::Debug, Fut>(what: &str, check: impl Fn() -> Fut, want: impl FnMut(&V) -> bool) -> V
where
    Fut: std::future::Future<Output = V>,
{
    wait_for(
        what,
        T,
        || {
            let answer = check();
            async move { Ok(answer.await) }
        },
        want,
    )
    .await
    .unwrap()
}

/// `kafka-acls` (Kafka's AclCommand) over the plaintext listener, where the test is the ANONYMOUS super user.
fn kafka_acls(stack: &Stack, args: &[&str]) {
    let mut all = vec!["--bootstrap-server", stack.bootstrap.as_str()];
    all.extend_from_slice(args);
    stack.kafka_cli("org.apache.kafka.tools.AclCommand", &all).expect("kafka-acls");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_application_may_do_what_its_kafka_user_declares_and_nothing_else() {
    let f = Fixture::start_process("users", &["--resync-seconds", "3"]).await;
    f.scram_connection("main", json!({})).await;
    let conn = json!({"name": "main"});
    let (orders, payments, private) = (unique("orders"), unique("payments"), unique("private"));
    for t in [&orders, &payments, &private] {
        f.apply::<Topic>(manifest::topic(t, json!({"connectionRef": conn, "partitions": 1, "replicationFactor": 1})))
            .await;
        wait_condition(&f.api::<Topic>(), t, "Ready", "True", None, T).await.unwrap();
    }
    let billing = unique("billing");
    f.apply::<ConsumerGroup>(manifest::consumer_group(&billing, json!({"connectionRef": conn, "topics": [payments]})))
        .await;
    let spec = json!({"connectionRef": conn, "produces": [orders], "consumes": [billing],
        "transactionalIds": [{"name": "app-tx-", "patternType": "Prefixed"}],
        "quotas": {"producerByteRate": 1048576, "requestPercentage": 55}});
    f.apply::<KafkaUser>(manifest::tributary("KafkaUser", "app", spec)).await;
    let user = ready_user(&f, "app").await;
    let status = user.status.clone().unwrap();
    let username = status.username.clone().unwrap();
    let principal = format!("User:{username}");
    assert_eq!(username, "app");
    assert_eq!(status.secret.as_deref(), Some("app"));

    // The ACLs in force are exactly the derived ones, in the status and in Kafka.
    use AclOperation::{Describe, IdempotentWrite, Read, Write};
    let mut want: BTreeSet<AclBinding> = [
        topic_acl(&principal, &orders, Write),
        topic_acl(&principal, &orders, Describe),
        topic_acl(&principal, &payments, Read),
        topic_acl(&principal, &payments, Describe),
        AclBinding::allow(&principal, AclResourceType::Group, &billing, AclPatternType::Literal, Read),
        AclBinding::allow(
            &principal,
            AclResourceType::Cluster,
            AclBinding::CLUSTER,
            AclPatternType::Literal,
            IdempotentWrite,
        ),
        AclBinding::allow(&principal, AclResourceType::TransactionalId, "app-tx-", AclPatternType::Prefixed, Write),
        AclBinding::allow(&principal, AclResourceType::TransactionalId, "app-tx-", AclPatternType::Prefixed, Describe),
    ]
    .into();
    assert_eq!(status.acls.iter().cloned().collect::<BTreeSet<_>>(), want);
    let admin = admin_client(&f.stack);
    assert_eq!(acls_of(&admin, &principal).await, want);

    // The Secret is all an application needs.
    let secrets = f.api::<Secret>();
    let app = App::from_secret(&secrets, "app").await.unwrap();
    assert_eq!(app.get("username"), "app");
    assert_eq!(app.get("bootstrap.servers"), f.stack.scram_bootstrap);
    assert_eq!((app.get("security.protocol"), app.get("sasl.mechanism")), ("SASL_PLAINTEXT", "SCRAM-SHA-512"));
    assert!(app.get("sasl.jaas.config").contains(&format!("password=\"{}\"", app.get("password"))));
    let password = app.get("password").to_string();
    assert!(password.len() >= 32, "a generated password");

    // Produce where declared (rdkafka with idempotence, and kcat); refused elsewhere.
    until("the app to produce to its topic", || app.produce(&orders), Result::is_ok).await.unwrap();
    app.kcat_produce(&orders, &["from-kcat-1", "from-kcat-2"]).unwrap();
    assert_eq!(app.produce(&private).await, Err(RDKafkaErrorCode::TopicAuthorizationFailed));
    assert!(app.kcat_produce(&private, &["x"]).is_err());
    // Transactions with a declared transactional id (by prefix); refused with another.
    app.produce_in_transaction(&orders, "app-tx-1").await.unwrap();
    let refused = app.produce_in_transaction(&orders, "other-tx").await;
    assert_eq!(refused, Err(RDKafkaErrorCode::TransactionalIdAuthorizationFailed));
    // Consume with the declared group; refused with another group, and on an undeclared topic.
    produce(&f.stack.producer(), &payments, "payment", 5).await.unwrap();
    let read = tokio::task::block_in_place(|| app.consume(&payments, &billing, Duration::from_secs(20)));
    assert_eq!(read, Ok(5));
    let other = tokio::task::block_in_place(|| app.consume(&payments, "undeclared-group", Duration::from_secs(20)));
    assert_eq!(other, Err(RDKafkaErrorCode::GroupAuthorizationFailed));
    let undeclared = tokio::task::block_in_place(|| app.consume(&private, &billing, Duration::from_secs(20)));
    assert_eq!(undeclared, Err(RDKafkaErrorCode::TopicAuthorizationFailed));

    // The quota, as Kafka's own tool shows it.
    let args =
        ["--bootstrap-server", &f.stack.bootstrap, "--describe", "--entity-type", "users", "--entity-name", "app"];
    let shown = |out: &String| out.contains("producer_byte_rate=1048576.0") && out.contains("request_percentage=55.0");
    let cli = || async { f.stack.kafka_cli("kafka.admin.ConfigCommand", &args) };
    wait_for("ConfigCommand to show the user's quotas", T, cli, shown).await.unwrap();

    // A spec change: the ACLs follow within one reconcile (the status that shows the new generation is written
    // after Kafka answered), and the application's rights with them.
    let users = f.api::<KafkaUser>();
    let patch = json!({"spec": {"produces": [orders, private]}});
    let generation =
        users.patch("app", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap().metadata.generation;
    wait_status(&users, "app", "the new generation observed", T, |u: &KafkaUser| {
        u.status.as_ref().and_then(|s| s.observed_generation) == generation
    })
    .await
    .unwrap();
    want.insert(topic_acl(&principal, &private, Write));
    want.insert(topic_acl(&principal, &private, Describe));
    assert_eq!(acls_of(&admin, &principal).await, want);
    until("the app to produce to the newly declared topic", || app.produce(&private), Result::is_ok).await.unwrap();

    // ACL drift: one removed, then one added with kafka-acls; each put back and recorded.
    let (op_user, resource) = (format!("--allow-principal={principal}"), format!("--topic={orders}"));
    let corrected = |change: AclChange, op: AclOperation| {
        move |u: &KafkaUser| {
            u.status.as_ref().is_some_and(|s| {
                s.drift_corrected_time.is_some() && s.drift.iter().any(|d| d.change == change && d.acl.operation == op)
            })
        }
    };
    kafka_acls(&f.stack, &["--remove", "--force", &op_user, "--operation=Write", &resource]);
    wait_status(&users, "app", "the removed Write put back", T, corrected(AclChange::Removed, Write)).await.unwrap();
    assert_eq!(acls_of(&admin, &principal).await, want);
    kafka_acls(&f.stack, &["--add", &op_user, "--operation=Read", &resource]);
    let u = wait_status(&users, "app", "the added Read deleted", T, corrected(AclChange::Added, Read)).await.unwrap();
    assert_eq!(acls_of(&admin, &principal).await, want);
    let drifted = u.condition("Drifted").unwrap();
    assert_eq!((drifted.status.as_str(), drifted.reason.as_str()), ("False", "DriftCorrected"));
    let events = events_in(&f.client, &f.ns.name).await;
    let notes: Vec<&String> = events.iter().filter(|(_, r, _)| r == "DriftCorrected").map(|(_, _, n)| n).collect();
    assert!(notes.iter().any(|n| n.contains("Write") && n.contains("created")), "{notes:?}");
    assert!(notes.iter().any(|n| n.contains("Read") && n.contains("deleted")), "{notes:?}");

    // Rotation: the old password stops working, the new one works.
    let rotate = json!({"metadata": {"annotations": {"tributary.dev/rotate-password": "1"}}});
    users.patch("app", &PatchParams::default(), &Patch::Merge(&rotate)).await.unwrap();
    let rotated = wait_for_some("a new password in the Secret", T, || async {
        let app = App::from_secret(&secrets, "app").await?;
        Ok((app.get("password") != password).then_some(app))
    })
    .await
    .unwrap();
    let old = rotated.with_password(&password);
    let refused = |r: &Result<(), RDKafkaErrorCode>| r.is_err();
    until("the old password to be refused", || async { old.logs_in() }, refused).await.unwrap_err();
    rotated.logs_in().unwrap();
    rotated.produce(&orders).await.unwrap();
    let u = ready_user(&f, "app").await.status.unwrap();
    assert_eq!(u.password_rotation.as_deref(), Some("1"));

    // No secret material anywhere but the Secret: not in the operator's log, Events or status.
    let log = std::fs::read_to_string(&f.operator.log).unwrap();
    let events = serde_json::to_string(&events_in(&f.client, &f.ns.name).await).unwrap();
    let status = serde_json::to_string(&users.get("app").await.unwrap().status).unwrap();
    for secret in [password.as_str(), rotated.get("password")] {
        for (place, text) in [("log", &log), ("Events", &events), ("status", &status)] {
            assert!(!text.contains(secret), "a password in the operator's {place}");
        }
    }

    // Deleting the user removes its ACLs, its credential and its Secret (deletionPolicy Delete, the default).
    users.delete("app", &DeleteParams::default()).await.unwrap();
    wait_for("the KafkaUser to go", T, || async { Ok(users.get_opt("app").await?) }, Option::is_none).await.unwrap();
    assert!(acls_of(&admin, &principal).await.is_empty());
    assert!(secrets.get_opt("app").await.unwrap().is_none());
    until("the deleted user's login to be refused", || async { rotated.logs_in() }, refused).await.unwrap_err();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenancy_keeps_namespaces_apart_and_bad_references_are_named() {
    let f = Fixture::start_cluster_wide_process("tenant", &[]).await;
    let other = TestNamespace::create(&f.client, "tenant-b").await;
    let (a, b) = (f.ns.name.clone(), other.name.clone());
    f.scram_connection("shared", json!({"tenancy": {"prefix": "{namespace}."}, "allowedNamespaces": [a, b]})).await;
    let conn = json!({"name": "shared", "namespace": a});
    let topic = manifest::topic("orders", json!({"connectionRef": conn, "partitions": 1, "replicationFactor": 1}));
    let user = |produces: Value, consumes: Value| {
        manifest::tributary(
            "KafkaUser",
            "app",
            json!({"connectionRef": conn, "produces": produces, "consumes": consumes}),
        )
    };
    let (topics_a, topics_b): (Api<Topic>, Api<Topic>) = (f.api(), Api::namespaced(f.client.clone(), &b));
    apply_in::<Topic>(&f.client, &a, topic.clone()).await;
    apply_in::<Topic>(&f.client, &b, topic).await;
    for (api, ns) in [(&topics_a, &a), (&topics_b, &b)] {
        let t = wait_condition(api, "orders", "Ready", "True", None, T).await.unwrap();
        let name = t.status.unwrap().topic_name.unwrap();
        assert_eq!(name, format!("{ns}.orders"));
        assert!(f.kafka_has(&name).await, "Kafka has {name}");
    }
    let reader = manifest::consumer_group("reader", json!({"connectionRef": conn, "topics": ["orders"]}));
    apply_in::<ConsumerGroup>(&f.client, &a, reader).await;
    apply_in::<KafkaUser>(&f.client, &a, user(json!(["orders"]), json!(["reader"]))).await;
    apply_in::<KafkaUser>(&f.client, &b, user(json!(["orders"]), json!([]))).await;
    let users_b: Api<KafkaUser> = Api::namespaced(f.client.clone(), &b);
    let ua = ready_user(&f, "app").await.status.unwrap();
    wait_condition(&users_b, "app", "Ready", "True", None, T).await.unwrap();
    assert_eq!(ua.username.as_deref(), Some(format!("{a}.app").as_str()));
    let app_a = App::from_secret(&f.api::<Secret>(), "app").await.unwrap();
    let app_b = App::from_secret(&Api::namespaced(f.client.clone(), &b), "app").await.unwrap();
    assert_eq!(app_b.get("username"), format!("{b}.app"));
    let (mine, theirs) = (format!("{a}.orders"), format!("{b}.orders"));
    until("namespace a's app to produce to its topic", || app_a.produce(&mine), Result::is_ok).await.unwrap();
    until("namespace b's app to produce to its topic", || app_b.produce(&theirs), Result::is_ok).await.unwrap();
    assert_eq!(app_a.produce(&theirs).await, Err(RDKafkaErrorCode::TopicAuthorizationFailed));
    // The group's id and topics carry the prefix too: a's app reads its own topic with it, not b's.
    let group = format!("{a}.reader");
    let read = tokio::task::block_in_place(|| app_a.consume(&mine, &group, Duration::from_secs(15)));
    assert!(matches!(read, Ok(n) if n >= 1), "{read:?}");
    let read = tokio::task::block_in_place(|| app_a.consume(&theirs, &group, Duration::from_secs(15)));
    assert_eq!(read, Err(RDKafkaErrorCode::TopicAuthorizationFailed));

    // Bad references: names that are no resource of the user's namespace (one is namespace a's topic, seen from
    // b), and an explicit ACL outside the namespace's prefix. A condition names each; nothing is granted.
    let bad = json!({"connectionRef": conn, "produces": ["orders", "payments"], "consumes": ["ghost"]});
    apply_in::<Topic>(&f.client, &a, manifest::topic("payments", json!({"connectionRef": conn}))).await;
    apply_in::<KafkaUser>(&f.client, &b, manifest::tributary("KafkaUser", "bad", bad)).await;
    let refused = wait_condition(&users_b, "bad", "Ready", "False", Some("ReferenceNotFound"), T).await.unwrap();
    let msg = refused.condition("Ready").unwrap().message;
    assert!(msg.contains("spec.produces[1] (Topic \"payments\")") && msg.contains("spec.consumes[0]"), "{msg}");
    assert!(!msg.contains("spec.produces[0]"), "{msg}");
    let outside = json!({"connectionRef": conn, "acls": [{"resource": {"type": "Topic", "name": theirs}, "operations": ["Read"]}]});
    apply_in::<KafkaUser>(&f.client, &a, manifest::tributary("KafkaUser", "greedy", outside)).await;
    let refused =
        wait_condition(&f.api::<KafkaUser>(), "greedy", "Ready", "False", Some("AclOutsideTenancy"), T).await.unwrap();
    assert!(refused.condition("Ready").unwrap().message.contains("spec.acls[0]"));
    let admin = admin_client(&f.stack);
    for principal in [format!("User:{b}.bad"), format!("User:{a}.greedy")] {
        assert!(acls_of(&admin, &principal).await.is_empty(), "{principal} has no ACLs");
    }
    // Neither has a credential either: nothing was sent to Kafka for them.
    let e = admin.describe_scram_credentials(&format!("{b}.bad")).await;
    assert!(matches!(e, Ok(ref c) if c.is_empty()) || matches!(e, Err(KafkaError::Invalid(_))), "{e:?}");
    for (api, name) in
        [(&users_b, "bad"), (&users_b, "app"), (&f.api::<KafkaUser>(), "greedy"), (&f.api::<KafkaUser>(), "app")]
    {
        api.delete(name, &DeleteParams::default()).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_user_authenticates_with_the_certificate_tributary_issues() {
    let f = Fixture::start_process("tls-users", &["--resync-seconds", "3"]).await;
    let read = |p: &std::path::PathBuf| std::fs::read_to_string(p).unwrap();
    let (ca_cert, ca_key) = (read(&f.stack.clients_ca.0), read(&f.stack.clients_ca.1));
    f.apply::<Secret>(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "clients-ca"},
        "stringData": {"tls.crt": ca_cert, "tls.key": ca_key}}))
        .await;
    f.apply::<Secret>(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "kafka-ca"},
        "stringData": {"ca.crt": read(&f.stack.tls_ca)}}))
        .await;
    let spec = json!({"bootstrapServers": f.stack.tls_bootstrap.split(',').collect::<Vec<_>>(),
        "tls": {"ca": {"name": "kafka-ca", "key": "ca.crt"}},
        "clientCa": {"certificate": {"name": "clients-ca", "key": "tls.crt"}, "key": {"name": "clients-ca", "key": "tls.key"}}});
    f.apply::<KafkaConnection>(manifest::tributary("KafkaConnection", "tls", spec)).await;
    wait_condition(&f.api::<KafkaConnection>(), "tls", "Ready", "True", None, T).await.unwrap();
    let conn = json!({"name": "tls"});
    let (orders, private) = (unique("orders"), unique("private"));
    for t in [&orders, &private] {
        f.apply::<Topic>(manifest::topic(t, json!({"connectionRef": conn, "partitions": 1, "replicationFactor": 1})))
            .await;
        wait_condition(&f.api::<Topic>(), t, "Ready", "True", None, T).await.unwrap();
    }
    let spec = json!({"connectionRef": conn, "authentication": {"type": "tls"}, "produces": [orders]});
    f.apply::<KafkaUser>(manifest::tributary("KafkaUser", "tls-app", spec)).await;
    let status = ready_user(&f, "tls-app").await.status.unwrap();
    let not_after = status.certificate_not_after.clone().expect("the certificate's end in the status").0;
    let days = (not_after.as_second() - now_ms() / 1000) / 86_400;
    assert!((364..=365).contains(&days), "valid for a year (the default), not {days} days");
    let principal = "User:CN=tls-app";
    let admin = admin_client(&f.stack);
    assert_eq!(acls_of(&admin, principal).await, status.acls.iter().cloned().collect());
    assert!(status.acls.iter().all(|a| a.principal == principal), "{:?}", status.acls);

    // The Secret: the certificate and key as files and as PEM key store properties; the brokers' CA.
    let secrets = f.api::<Secret>();
    let app = App::from_secret(&secrets, "tls-app").await.unwrap();
    assert_eq!((app.get("security.protocol"), app.get("ssl.keystore.type")), ("SSL", "PEM"));
    assert_eq!(app.get("ca.crt"), read(&f.stack.tls_ca));
    assert_eq!(app.get("ssl.keystore.certificate.chain"), app.get("user.crt"));
    assert!(app.get("user.key").contains("PRIVATE KEY") && !app.properties.contains_key("password"));
    until("the TLS app to produce to its topic", || app.produce(&orders), Result::is_ok).await.unwrap();
    app.kcat_produce(&orders, &["over-tls"]).unwrap();
    assert_eq!(app.produce(&private).await, Err(RDKafkaErrorCode::TopicAuthorizationFailed));

    // A rotation issues a new key and certificate, which work.
    let rotate = json!({"metadata": {"annotations": {"tributary.dev/rotate-password": "2026-12-01"}}});
    let users = f.api::<KafkaUser>();
    users.patch("tls-app", &PatchParams::default(), &Patch::Merge(&rotate)).await.unwrap();
    let rotated = wait_for_some("a new certificate in the Secret", T, || async {
        let now = App::from_secret(&secrets, "tls-app").await?;
        Ok((now.get("user.crt") != app.get("user.crt")).then_some(now))
    })
    .await
    .unwrap();
    assert_ne!(rotated.get("user.key"), app.get("user.key"));
    until("the new certificate to produce", || rotated.produce(&orders), Result::is_ok).await.unwrap();
    let log = std::fs::read_to_string(&f.operator.log).unwrap();
    for key in [app.get("user.key"), rotated.get("user.key"), ca_key.as_str()] {
        let body: String = key.lines().filter(|l| !l.starts_with("-----")).collect();
        assert!(!log.contains(&body), "a private key in the operator's log");
    }

    // A tls user on a connection without a client CA is refused, naming what is missing.
    f.connection("plain").await;
    let spec = json!({"connectionRef": {"name": "plain"}, "authentication": {"type": "tls"}});
    f.apply::<KafkaUser>(manifest::tributary("KafkaUser", "no-ca", spec)).await;
    let refused = wait_condition(&users, "no-ca", "Ready", "False", Some("ClientCaMissing"), T).await.unwrap();
    assert!(refused.condition("Ready").unwrap().message.contains("spec.clientCa"));

    users.delete("tls-app", &DeleteParams::default()).await.unwrap();
    users.delete("no-ca", &DeleteParams::default()).await.unwrap();
    wait_for("the KafkaUser to go", T, || async { Ok(users.get_opt("tls-app").await?) }, Option::is_none)
        .await
        .unwrap();
    assert!(acls_of(&admin, principal).await.is_empty());
}
