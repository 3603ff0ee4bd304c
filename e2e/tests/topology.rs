//! The map on the real stack: two applications, three topics, two consumer groups (one lagging, one stalled) and a
//! DlqPolicy. `tributary topology` prints every format from what the apiserver lists; the AsyncAPI document is
//! valid for the official parser (`@asyncapi/parser`, from npm) and names every channel and operation; the SVG
//! names every node; the operator serves the same map live, and its page, opened in headless Chromium, marks the
//! lagging and the stalled group in words (a screenshot is kept in the stack's logs). No output holds a password.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use tributary::api::{ConsumerGroup, DlqPolicy, KafkaUser, Schema, Topic};
use tributary_e2e::kafka::{StuckMember, commit_offsets, produce};
use tributary_e2e::*;

const T: Duration = Duration::from_secs(90);

/// `tributary topology` as a user runs it (the admin kubeconfig of the stack).
fn topology_cli(stack: &Stack, args: &[&str]) -> String {
    let out = Command::new(operator_binary())
        .arg("topology")
        .args(args)
        .env("KUBECONFIG", &stack.kubeconfig)
        .output()
        .expect("running tributary topology");
    assert!(out.status.success(), "tributary topology {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// What the official AsyncAPI parser reads in `document`.
fn parse_asyncapi(document: &Path) -> Value {
    let script = repo_root().join("e2e/map/validate-asyncapi.cjs");
    let out = Command::new("node").arg(script).arg(document).output().expect("running node");
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{e}: {text} {}", String::from_utf8_lossy(&out.stderr)))
}

/// Headless Chromium: the page's DOM after its scripts ran, and a screenshot.
fn chromium(url: &str, screenshot: &Path) -> String {
    let common =
        ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--virtual-time-budget=10000"];
    let dom = Command::new("chromium").args(common).arg("--dump-dom").arg(url).output().expect("running chromium");
    assert!(dom.status.success(), "chromium: {}", String::from_utf8_lossy(&dom.stderr));
    let shot = Command::new("chromium")
        .args(common)
        .arg("--window-size=1600,1200")
        .arg(format!("--screenshot={}", screenshot.display()))
        .arg(url)
        .output()
        .expect("running chromium");
    assert!(
        shot.status.success() && screenshot.exists(),
        "chromium screenshot: {}",
        String::from_utf8_lossy(&shot.stderr)
    );
    String::from_utf8(dom.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_map_names_every_node_marks_the_unhealthy_and_its_asyncapi_document_is_valid() {
    let f = Fixture::start_process("map", &["--group-poll-seconds", "1"]).await;
    let registry = std::env::var("SCHEMA_REGISTRY_URL").expect("SCHEMA_REGISTRY_URL: the stack's schema registry");
    f.scram_connection("main", json!({"schemaRegistry": {"url": registry}})).await;
    let conn = json!({"name": "main"});
    let ns = f.ns.name.clone();
    let (orders, payments, audit) = (unique("orders"), unique("payments"), unique("audit"));
    for t in [&orders, &payments, &audit] {
        let spec = json!({"connectionRef": conn, "partitions": 1, "replicationFactor": 1,
            "config": {"retention.ms": "86400000", "cleanup.policy": "delete"}});
        f.apply::<Topic>(manifest::topic(t, spec)).await;
    }
    // billing lags (committed at 0, records minutes old by the SLO's 1 s); shipping is stalled (a member that
    // never moves while records wait).
    let (billing, shipping) = (unique("billing"), unique("shipping"));
    for t in [&orders, &payments, &audit] {
        wait_condition(&f.api::<Topic>(), t, "Ready", "True", None, T).await.unwrap();
    }
    let producer = f.stack.producer();
    produce(&producer, &orders, "o", 30).await.unwrap();
    produce(&producer, &payments, "p", 50).await.unwrap();
    commit_offsets(&f.stack, &billing, &[(&orders, 0, 0)]).unwrap();
    commit_offsets(&f.stack, &shipping, &[(&payments, 0, 10)]).unwrap();
    let _member = StuckMember::join(&f.stack, &shipping, &payments).unwrap();
    f.apply::<ConsumerGroup>(manifest::consumer_group(
        &billing,
        json!({"connectionRef": conn, "topics": [orders], "lag": {"warnSeconds": 1, "maxSeconds": 1}}),
    ))
    .await;
    f.apply::<ConsumerGroup>(manifest::consumer_group(&shipping, json!({"connectionRef": conn, "topics": [payments]})))
        .await;
    f.apply::<DlqPolicy>(manifest::dlq_policy(
        "orders-dlq",
        json!({"connectionRef": conn, "sourceTopic": orders, "consumerGroup": billing,
               "retry": {"attempts": 2, "delaysMs": [1000]}, "deadLetter": {}}),
    ))
    .await;
    let apps = [("checkout", json!([orders, payments]), json!([])), ("invoicer", json!([audit]), json!([billing]))];
    for (name, produces, consumes) in apps {
        let spec =
            json!({"connectionRef": conn, "produces": produces, "consumes": consumes, "deletionPolicy": "Retain"});
        f.apply::<KafkaUser>(manifest::tributary("KafkaUser", name, spec)).await;
    }
    // The orders topic's contract: an Avro value schema, the message payload of its AsyncAPI channel.
    let avro = r#"{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"string"},{"name":"amount","type":"double"}]}"#;
    f.apply::<Schema>(manifest::tributary(
        "Schema",
        "orders-value",
        json!({"connectionRef": conn, "topicRef": {"name": orders}, "schemaType": "AVRO", "schema": avro}),
    ))
    .await;
    wait_condition(&f.api::<Schema>(), "orders-value", "Ready", "True", None, T).await.unwrap();
    let groups = f.api::<ConsumerGroup>();
    wait_condition(&groups, &billing, "LagWithinSLO", "False", None, T).await.unwrap();
    wait_condition(&groups, &shipping, "Stalled", "True", Some("Stalled"), T).await.unwrap();
    wait_condition(&f.api::<DlqPolicy>(), "orders-dlq", "Ready", "True", None, T).await.unwrap();
    for app in ["checkout", "invoicer"] {
        wait_condition(&f.api::<KafkaUser>(), app, "Ready", "True", None, T).await.unwrap();
    }
    let retries = f.api::<DlqPolicy>().get("orders-dlq").await.unwrap().status.unwrap();
    let mut topics = vec![orders.clone(), payments.clone(), audit.clone()];
    topics.extend(retries.retry_topics.clone());
    topics.extend(retries.dead_letter_topic.clone());
    assert_eq!(topics.len(), 5, "{topics:?}");
    let nodes: Vec<&str> = topics
        .iter()
        .map(String::as_str)
        .chain(["checkout", "invoicer", billing.as_str(), shipping.as_str()])
        .collect();

    // The command line: every format names every node; the AsyncAPI document is valid and complete.
    let dir = f.stack.logs.join(format!("map-{ns}"));
    std::fs::create_dir_all(&dir).unwrap();
    let mut outputs = vec![];
    for format in ["svg", "dot", "mermaid", "asyncapi", "json"] {
        let text = topology_cli(&f.stack, &["-n", &ns, "--format", format]);
        for node in &nodes {
            assert!(text.contains(node), "{format} names {node}");
        }
        std::fs::write(dir.join(format!("topology.{format}")), &text).unwrap();
        outputs.push((format, text));
    }
    let parsed = parse_asyncapi(&dir.join("topology.asyncapi"));
    assert_eq!(parsed["valid"], true, "{parsed}");
    let addresses: Vec<&str> =
        parsed["channels"].as_array().unwrap().iter().map(|c| c["address"].as_str().unwrap()).collect();
    for t in &topics {
        assert!(addresses.contains(&t.as_str()), "a channel for {t}: {addresses:?}");
    }
    let ops = parsed["operations"].as_array().unwrap();
    let count = |action: &str| ops.iter().filter(|o| o["action"] == action).count();
    // checkout sends to 2 topics and invoicer to 1; each group receives from its one topic.
    assert_eq!((count("send"), count("receive")), (3, 2), "{ops:?}");
    assert!(ops.iter().all(|o| o["channels"].as_array().is_some_and(|c| c.len() == 1)), "{ops:?}");
    // The Avro payload went through the parser's Avro schema parser: the orders channel's message has its fields.
    let orders_channel =
        parsed["channels"].as_array().unwrap().iter().find(|c| c["address"] == orders.as_str()).unwrap();
    assert_eq!(orders_channel["payloadFields"], json!(["amount", "id"]), "{orders_channel}");

    // The live map: the operator's endpoints draw the same, and the page marks the unhealthy groups in words.
    let port = f.operator.http_port;
    let svg = wait_for(
        "the served map to show both groups' health",
        T,
        || async { Ok(http_get(port, "/topology").await?.1) },
        |svg: &String| svg.contains("LAGGING") && svg.contains("STALLED"),
    )
    .await
    .unwrap();
    for node in &nodes {
        assert!(svg.contains(node), "the served SVG names {node}");
    }
    let screenshot = dir.join("topology-page.png");
    let dom = chromium(&format!("http://127.0.0.1:{port}/topology.html"), &screenshot);
    let marked = |name: &str, health: &str, word: &str| {
        let needle = format!("data-name=\"{ns}/{name}\" data-health=\"{health}\">group {ns}/{name}: {word}");
        dom.contains(&needle)
    };
    assert!(marked(&billing, "warn", "LAGGING"), "the page marks {billing} lagging: {dom}");
    assert!(marked(&shipping, "bad", "STALLED"), "the page marks {shipping} stalled");
    assert!(dom.contains("<svg") && dom.contains(&billing), "the page shows the picture");
    outputs.push(("page", dom));
    outputs.push(("served svg", svg));
    outputs.push(("served json", http_get(port, "/topology.json").await.unwrap().1));
    outputs.push(("served asyncapi", http_get(port, "/topology.asyncapi.json").await.unwrap().1));

    // Nothing secret: bootstrap servers yes, no password (the connection's, or an application's), no Secret data.
    let checkout = tributary_e2e::app::App::from_secret(&f.api(), "checkout").await.unwrap();
    for (format, text) in &outputs {
        assert!(
            text.contains(f.stack.scram_bootstrap.split(',').next().unwrap()) || *format != "asyncapi",
            "{format} names the servers"
        );
        for secret in [f.stack.scram_password.as_str(), checkout.get("password")] {
            assert!(!text.contains(secret), "{format} holds a password");
        }
    }
}
