//! Shipping concerns on the real stack: two operator replicas with a Lease (only the holder writes; a standby takes
//! over when the holder dies), and GitOps re-applies of config/samples that change nothing and cost nothing.

use std::time::{Duration, Instant};

use kube::Api;
use serde_json::json;
use tributary::api::{ConsumerGroup, DlqPolicy, KafkaConnection, Topic};
use tributary_e2e::faults::{identity_of, lease_holder};
use tributary_e2e::manifest;
use tributary_e2e::rbac::OPERATOR_NAMESPACE;
use tributary_e2e::*;

const T: Duration = Duration::from_secs(90);

/// Kafka writes (every operation the write gate holds) and status writes the operator counted. A failed /metrics
/// read is an error, not a zero: "nothing was written" must not pass because nothing could be read. (A series
/// appears once counted, so a renamed metric would still read 0: the tests also compare resourceVersions.)
async fn writes(op: &impl OperatorEndpoints) -> anyhow::Result<f64> {
    let (code, body) = op.http_get("/metrics").await?;
    anyhow::ensure!(code == 200, "/metrics answered {code}");
    let kafka: f64 = tributary::kafka::WRITE_OPERATIONS
        .iter()
        .map(|op| sum_series(&body, &format!("tributary_kafka_requests_total{{operation=\"{op}\"")))
        .sum();
    Ok(kafka + sum_series(&body, "tributary_status_writes_total"))
}

fn topic(name: &str) -> serde_json::Value {
    manifest::topic(name, json!({"connectionRef": {"name": "main"}, "partitions": 2}))
}

async fn created_events<O>(f: &Fixture<O>, name: &str) -> usize {
    events_in(&f.client, &f.ns.name).await.iter().filter(|(o, r, _)| o == name && r == "Created").count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_lease_holder_writes_and_a_standby_takes_over() {
    // The fixture's own operator is the first replica; a second one joins with the same Lease.
    let ha = ["--leader-election", "--lease-namespace", OPERATOR_NAMESPACE];
    let mut f = Fixture::start_process("ha", &ha).await;
    let mut second = Operator::start(&f.stack, "ha-second", &[&ha[..], &["--namespace", f.ns.name.as_str()]].concat());
    second.wait_ready().await;
    let first_id = identity_of(&f.operator);
    let second_id = identity_of(&second);
    let leader = wait_for_some("a leader", T, || async { Ok(lease_holder(&f.client).await) }).await.unwrap();
    assert!(leader == first_id || leader == second_id, "holder {leader:?} is neither replica");
    let leader_is_first = leader == first_id;

    f.connection("main").await;
    let a = unique("ha-a");
    f.apply::<Topic>(topic(&a)).await;
    wait_condition(&f.api::<Topic>(), &a, "Ready", "True", None, T).await.unwrap();
    {
        let (leader_op, standby) = if leader_is_first { (&f.operator, &second) } else { (&second, &f.operator) };
        assert!(writes(leader_op).await.unwrap() > 0.0, "the leader wrote");
        assert_eq!(writes(standby).await.unwrap(), 0.0, "the standby wrote nothing");
    }

    // Kill the holder without a goodbye: the standby takes over once the Lease expires.
    let killed_at = Instant::now();
    let standby_id = if leader_is_first {
        f.operator.stop_with(9, Duration::from_secs(10)).unwrap();
        second_id
    } else {
        second.stop_with(9, Duration::from_secs(10)).unwrap();
        first_id
    };
    let holder_now = || async { Ok(lease_holder(&f.client).await) };
    wait_for("takeover", T, holder_now, |h| h.as_deref() == Some(standby_id.as_str())).await.unwrap();
    let takeover = killed_at.elapsed();
    // Lease duration 15 s, plus one renewal period of the standby.
    assert!(takeover <= Duration::from_secs(25), "takeover took {takeover:?}");
    let b = unique("ha-b");
    f.apply::<Topic>(topic(&b)).await;
    wait_condition(&f.api::<Topic>(), &b, "Ready", "True", None, T).await.unwrap();
    // No double writes: each topic was created exactly once.
    assert_eq!(created_events(&f, &a).await, 1);
    assert_eq!(created_events(&f, &b).await, 1);
    eprintln!("takeover after SIGKILL of the holder: {takeover:?}");
}

/// `retention.ms` of `topic` as Kafka reports it to the test's own admin client.
async fn retention_in_kafka(stack: &Stack, topic: &str) -> Option<String> {
    use rdkafka::admin::{AdminOptions, ResourceSpecifier};
    let specs = [ResourceSpecifier::Topic(topic)];
    let opts = AdminOptions::new().request_timeout(Some(Duration::from_secs(5)));
    let results = stack.admin().describe_configs(specs.iter(), &opts).await.ok()?;
    results.into_iter().next()?.ok()?.get("retention.ms")?.value.clone()
}

/// The short form of `make faults`' F5: the leader frozen (SIGSTOP) past its Lease term while the standby takes over
/// and applies a new spec; resumed with its resyncs all due and its cache one spec old, it writes nothing (Kafka,
/// read every 200 ms by the test, never shows the old value again) and steps down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_frozen_past_its_term_writes_nothing_when_it_runs_again() {
    const LEASE: u64 = 4;
    let lease = LEASE.to_string();
    let ha = ["--leader-election", "--lease-namespace", OPERATOR_NAMESPACE, "--lease-duration-seconds", &lease];
    let ha = [&ha[..], &["--resync-seconds", "1"]].concat();
    let f = Fixture::start_process("frozen", &ha).await;
    let second = Operator::start(&f.stack, "frozen-second", &[&ha[..], &["--namespace", f.ns.name.as_str()]].concat());
    second.wait_ready().await;
    let (first_id, second_id) = (identity_of(&f.operator), identity_of(&second));
    let holder_in = |ids: Vec<String>| {
        let client = f.client.clone();
        async move {
            let get = move || {
                let client = client.clone();
                async move { Ok(lease_holder(&client).await) }
            };
            wait_for("the Lease holder", T, get, |h| h.as_ref().is_some_and(|h| ids.contains(h)))
                .await
                .unwrap()
                .unwrap()
        }
    };
    let leader = holder_in(vec![first_id.clone(), second_id.clone()]).await;
    f.connection("main").await;
    let name = unique("frozen");
    let spec = |retention: &str| {
        manifest::topic(
            &name,
            json!({"connectionRef": {"name": "main"}, "partitions": 1, "config": {"retention.ms": retention}}),
        )
    };
    f.apply::<Topic>(spec("3600000")).await;
    wait_condition(&f.api::<Topic>(), &name, "Ready", "True", None, T).await.unwrap();

    let (frozen_pid, standby_id) =
        if leader == first_id { (f.operator.pid(), second_id) } else { (second.pid(), first_id) };
    tributary_e2e::faults::signal(frozen_pid, "STOP").unwrap();
    let frozen_at = Instant::now();
    let resume = scopeguard(frozen_pid);
    holder_in(vec![standby_id]).await;
    f.apply::<Topic>(spec("7200000")).await;
    let kafka = || async { Ok(retention_in_kafka(&f.stack, &name).await) };
    wait_for("the new spec in Kafka", T, kafka, |v| v.as_deref() == Some("7200000")).await.unwrap();
    tokio::time::sleep(Duration::from_secs(3 * LEASE).saturating_sub(frozen_at.elapsed())).await;
    drop(resume);
    let mut seen = vec![];
    let resumed = Instant::now();
    while resumed.elapsed() < Duration::from_secs(10) {
        if let Some(v) = retention_in_kafka(&f.stack, &name).await
            && seen.last() != Some(&v)
        {
            seen.push(v);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(seen, ["7200000"], "retention.ms in Kafka after the frozen leader ran again");
    let gone = || async { Ok(!tributary_e2e::faults::alive(frozen_pid)) };
    wait_for("the frozen leader to step down", T, gone, |g| *g).await.unwrap();
    eprintln!(
        "frozen {:.1}s; after SIGCONT Kafka kept the new spec and the old leader exited",
        frozen_at.elapsed().as_secs_f64()
    );
}

/// SIGCONT to `pid` when dropped (a failing test leaves no stopped process behind).
fn scopeguard(pid: u32) -> impl Drop {
    struct Cont(u32);
    impl Drop for Cont {
        fn drop(&mut self) {
            let _ = tributary_e2e::faults::signal(self.0, "CONT");
        }
    }
    Cont(pid)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn samples_reach_ready_and_reapplying_them_writes_nothing() {
    let f = Fixture::start("gitops", &[]).await;
    let repo = repo_root();
    let bootstrap = f.stack.bootstrap.replace(',', "\", \"");
    let apply_samples = || {
        for entry in std::fs::read_dir(repo.join("config/samples")).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap().replace("127.0.0.1:9092", &bootstrap);
            let out = std::process::Command::new("kubectl")
                .env("KUBECONFIG", &f.stack.kubeconfig)
                .args(["apply", "-n", &f.ns.name, "-f", "-"])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .and_then(|mut c| {
                    use std::io::Write;
                    c.stdin.take().unwrap().write_all(text.as_bytes())?;
                    c.wait_with_output()
                })
                .unwrap();
            assert!(out.status.success(), "{}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
        }
    };
    apply_samples();
    wait_condition(&f.api::<KafkaConnection>(), "local", "Ready", "True", None, T).await.unwrap();
    for t in ["orders", "payments-v1"] {
        wait_condition(&f.api::<Topic>(), t, "Ready", "True", None, T).await.unwrap();
    }
    wait_condition(&f.api::<ConsumerGroup>(), "orders-billing", "Ready", "True", None, T).await.unwrap();
    wait_condition(&f.api::<DlqPolicy>(), "orders", "Ready", "True", None, T).await.unwrap();

    // Let the first reconciles settle, then re-apply every 10 s for a minute, as a GitOps tool would.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let before = writes(&f.operator).await.unwrap();
    let versions_before = resource_versions(&f).await;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        apply_samples();
        tokio::time::sleep(Duration::from_secs(10)).await;
    }
    let after = writes(&f.operator).await.unwrap();
    assert_eq!(after - before, 0.0, "re-applying unchanged manifests caused {} Kafka or status writes", after - before);
    // The objects themselves say the same: no write at all (status included) changed a resourceVersion.
    assert_eq!(resource_versions(&f).await, versions_before, "an object was written while nothing changed");
}

/// `kind/name → resourceVersion` of every Tributary object in the test namespace.
async fn resource_versions<O>(f: &Fixture<O>) -> std::collections::BTreeMap<String, String> {
    fn named<K>(kind: &str, items: Vec<kube::api::PartialObjectMeta<K>>) -> Vec<(String, String)> {
        items
            .into_iter()
            .map(|o| {
                (
                    format!("{kind}/{}", o.metadata.name.unwrap_or_default()),
                    o.metadata.resource_version.unwrap_or_default(),
                )
            })
            .collect()
    }
    let lp = Default::default();
    let mut out = named("KafkaConnection", f.api::<KafkaConnection>().list_metadata(&lp).await.unwrap().items);
    out.extend(named("Topic", f.api::<Topic>().list_metadata(&lp).await.unwrap().items));
    out.extend(named("ConsumerGroup", f.api::<ConsumerGroup>().list_metadata(&lp).await.unwrap().items));
    out.extend(named("DlqPolicy", f.api::<DlqPolicy>().list_metadata(&lp).await.unwrap().items));
    out.into_iter().collect()
}

fn helm(args: &[&str], kubeconfig: &std::path::Path) -> (bool, String) {
    let out =
        std::process::Command::new("helm").env("KUBECONFIG", kubeconfig).args(args).output().expect("running helm");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chart_lints_renders_and_installs_into_the_real_apiserver() {
    let stack = Stack::from_env();
    let client = stack.kube().await;
    install_crds(&client).await.unwrap();
    let chart = chart_dir();
    let chart = chart.to_str().unwrap();
    let all_options = format!("{chart}/ci/all-options-values.yaml");
    for args in [vec!["lint", "--strict", chart], vec!["lint", "--strict", chart, "-f", &all_options]] {
        let (ok, out) = helm(&args, &stack.kubeconfig);
        assert!(ok, "helm {args:?}: {out}");
    }
    let (ok, out) = helm(&["template", "t", chart, "-f", &all_options], &stack.kubeconfig);
    assert!(ok && out.contains("kind: PrometheusRule") && out.contains("kind: ServiceMonitor"), "{out}");

    let ns = TestNamespace::create(&client, "helm").await;
    let release = unique("rel");
    let (ok, out) = helm(
        &[
            "install",
            &release,
            chart,
            "-n",
            &ns.name,
            "--skip-crds",
            // The default values as a user gets them, but no pod: the default image is not on this node and must
            // never be pulled (e2e/tests/node.rs runs the chart's pods from the image built here).
            "--set",
            "replicaCount=0",
            "--set",
            "defaultConnection.create=true",
            "--set",
            &format!("defaultConnection.bootstrapServers={{{}}}", stack.bootstrap),
        ],
        &stack.kubeconfig,
    );
    assert!(ok, "helm install: {out}");
    let deployments: Api<k8s_openapi::api::apps::v1::Deployment> = Api::namespaced(client.clone(), &ns.name);
    let d = deployments.list(&Default::default()).await.unwrap();
    assert_eq!(d.items.len(), 1, "one Deployment");
    let pod = d.items[0].spec.as_ref().unwrap().template.spec.as_ref().unwrap();
    let sc = pod.containers[0].security_context.as_ref().unwrap();
    assert_eq!(sc.read_only_root_filesystem, Some(true));
    assert_eq!(sc.allow_privilege_escalation, Some(false));
    let conns: Api<KafkaConnection> = Api::namespaced(client.clone(), &ns.name);
    assert_eq!(conns.list(&Default::default()).await.unwrap().items.len(), 1, "the default connection");
    let (ok, out) = helm(&["uninstall", &release, "-n", &ns.name], &stack.kubeconfig);
    assert!(ok, "helm uninstall: {out}");
}
