//! Smoke tests of the foundation against the real stack: CRDs and their CEL rules in the real apiserver, the
//! operator process lifecycle, and a Kafka round trip.

use std::time::Duration;

use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;
use tributary::api::{ConsumerGroup, Topic};
use tributary_e2e::kafka::{consume_all, create_topic, produce};
use tributary_e2e::{Operator, Stack, manifest, prepare, unique};

fn topic(name: &str, partitions: i32) -> Topic {
    serde_json::from_value(manifest::topic(name, json!({"partitions": partitions}))).unwrap()
}

async fn rejected<K>(api: &Api<K>, obj: &K) -> String
where
    K: kube::Resource + Clone + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match api.create(&PostParams::default(), obj).await {
        Ok(_) => panic!("the apiserver accepted {obj:?}"),
        Err(kube::Error::Api(s)) => {
            assert_eq!(s.code, 422, "expected 422 Invalid, got {s:?}");
            s.message
        }
        Err(e) => panic!("unexpected error {e}"),
    }
}

#[tokio::test]
async fn crds_install_and_cel_rules_reject_bad_input() {
    let (_, client, ns) = prepare("smoke-cel").await;
    let topics: Api<Topic> = Api::namespaced(client.clone(), &ns.name);

    // 0 partitions: the OpenAPI minimum.
    let msg = rejected(&topics, &topic("zero", 0)).await;
    assert!(msg.contains("spec.partitions") && msg.contains("greater than or equal to 1"), "{msg}");

    // A partition decrease: the CEL transition rule, with our message.
    topics.create(&PostParams::default(), &topic("orders", 3)).await.unwrap();
    let pp = PatchParams::default();
    let err = topics.patch("orders", &pp, &Patch::Merge(json!({"spec": {"partitions": 2}}))).await.unwrap_err();
    assert!(err.to_string().contains("spec.partitions cannot be decreased"), "{err}");
    // An increase is fine.
    topics.patch("orders", &pp, &Patch::Merge(json!({"spec": {"partitions": 4}}))).await.unwrap();

    // Setting topicName later to something other than metadata.name changes the Kafka name: rejected.
    let err =
        topics.patch("orders", &pp, &Patch::Merge(json!({"spec": {"topicName": "orders_v2"}}))).await.unwrap_err();
    assert!(err.to_string().contains("spec.topicName is immutable"), "{err}");
    // Setting it to the same name is not a change.
    topics.patch("orders", &pp, &Patch::Merge(json!({"spec": {"topicName": "orders"}}))).await.unwrap();
    // And once set, it cannot change.
    let err =
        topics.patch("orders", &pp, &Patch::Merge(json!({"spec": {"topicName": "orders.v3"}}))).await.unwrap_err();
    assert!(err.to_string().contains("spec.topicName is immutable"), "{err}");

    // connectionRef cannot be added later.
    let err = topics
        .patch("orders", &pp, &Patch::Merge(json!({"spec": {"connectionRef": {"name": "other"}}})))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("spec.connectionRef is immutable"), "{err}");

    // ConsumerGroup with minReplicas > maxReplicas, and with two autoscaling targets.
    let groups: Api<ConsumerGroup> = Api::namespaced(client.clone(), &ns.name);
    let cg = |autoscaling: serde_json::Value| -> ConsumerGroup {
        let spec = json!({"topics": ["orders"], "autoscaling": autoscaling});
        serde_json::from_value(manifest::consumer_group(&unique("cg"), spec)).unwrap()
    };
    let msg = rejected(
        &groups,
        &cg(json!({"targetRef": {"name": "w"}, "minReplicas": 5, "maxReplicas": 2, "lagPerReplica": 100})),
    )
    .await;
    assert!(msg.contains("minReplicas must not exceed autoscaling.maxReplicas"), "{msg}");
    let msg = rejected(
        &groups,
        &cg(json!({"targetRef": {"name": "w"}, "maxReplicas": 2, "lagPerReplica": 100, "maxDrainSeconds": 60})),
    )
    .await;
    assert!(msg.contains("exactly one autoscaling target"), "{msg}");
    let msg = rejected(&groups, &cg(json!({"targetRef": {"name": "w"}, "maxReplicas": 2}))).await;
    assert!(msg.contains("exactly one autoscaling target"), "{msg}");
    groups
        .create(
            &PostParams::default(),
            &cg(json!({"targetRef": {"name": "w"}, "maxReplicas": 2, "lagPerReplica": 100})),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn operator_starts_reports_ready_and_exits_cleanly_on_sigterm() {
    let (stack, _, ns) = prepare("smoke-op").await;
    let mut op = Operator::start(&stack, "smoke", &["--namespace", ns.name.as_str()]);
    op.wait_ready().await;
    let (code, body) = op.http_get("/healthz").await.unwrap();
    assert_eq!((code, body.as_str()), (200, "ok"));
    let (code, body) = op.http_get("/metrics").await.unwrap();
    assert_eq!(code, 200);
    assert!(body.contains("# EOF"), "{body}");
    let status = op.stop_with(15, Duration::from_secs(20)).unwrap();
    assert!(status.success(), "exit status {status:?}");
    assert!(op.log_text().contains("stopped"), "{}", op.log_text());
}

#[tokio::test]
async fn a_record_produced_with_rdkafka_is_consumed_back() {
    let stack = Stack::from_env();
    let admin = stack.admin();
    let name = unique("smoke-roundtrip");
    create_topic(&admin, &name, 1, 1, &[]).await.unwrap();
    let producer = stack.producer();
    produce(&producer, &name, "hello", 3).await.unwrap();
    let records = consume_all(&stack, &name, 3, Duration::from_secs(30), false).unwrap();
    let values: Vec<_> = records.iter().map(|r| r.value.clone().unwrap()).collect();
    assert_eq!(values, vec!["hello-0", "hello-1", "hello-2"]);
    assert_eq!(records[2].key.as_deref(), Some("k2"));
}
