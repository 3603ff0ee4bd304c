//! Tributary run the way its users run it, on the stack's node: `helm install` of the chart with the image built
//! here (`make image`), the operator as pods (checked in the running container: uid, capabilities, read-only root),
//! two replicas failing over when the leader pod goes, and real consumer pods scaled by Tributary that drain a burst
//! and sleep at zero.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use kube::Api;
use kube::api::PostParams;
use serde_json::json;
use tributary::api::{ConsumerGroup, KafkaConnection, Topic};
use tributary_e2e::kafka::{create_topic, group_offsets_cli, produce};
use tributary_e2e::manifest;
use tributary_e2e::node::{self, ChartOperator, ChartOptions, since};
use tributary_e2e::*;

const T: Duration = Duration::from_secs(120);

/// Applies a Topic `name` for the Kafka topic `kafka_name` and waits until it is Ready.
async fn ready_topic<O>(f: &Fixture<O>, name: &str, kafka_name: &str, partitions: i32) -> Topic {
    let spec = json!({"connectionRef": {"name": "main"}, "topicName": kafka_name, "partitions": partitions});
    f.apply::<Topic>(manifest::topic(name, spec)).await;
    wait_condition(&f.api::<Topic>(), name, "Ready", "True", None, T).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_has_only_the_loopback_address() {
    let stack = Stack::from_env();
    let client = stack.kube().await;
    let nodes: Api<Node> = Api::all(client);
    let list = nodes.list(&Default::default()).await.unwrap().items;
    assert_eq!(list.len(), 1, "one node");
    let n = &list[0];
    assert_eq!(n.metadata.name.as_deref(), Some("127.0.0.1"));
    let status = n.status.as_ref().unwrap();
    let addresses: Vec<(String, String)> =
        status.addresses.clone().unwrap_or_default().into_iter().map(|a| (a.type_, a.address)).collect();
    assert!(!addresses.is_empty() && addresses.iter().all(|(_, a)| a == "127.0.0.1"), "{addresses:?}");
    let ready = n.condition("Ready").unwrap();
    assert_eq!(ready.status, "True", "{ready:?}");
    let port = status.daemon_endpoints.as_ref().and_then(|d| d.kubelet_endpoint.as_ref()).map(|e| e.port);
    assert_eq!(port.map(|p| p.to_string()), std::env::var("KUBELET_PORT").ok(), "the kubelet API port");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chart_runs_the_operator_pod_from_the_local_image_with_the_restricted_settings() {
    let (stack, client, ns) = prepare("node-op").await;
    let port = free_port();
    let started = Instant::now();
    let opts = ChartOptions { fixed_port: Some(port), ..Default::default() };
    let op = ChartOperator::install(&client, &ns.name, &opts).unwrap();
    let pods = op.wait_ready(1, T).await;
    eprintln!("helm install → operator pod Ready (HTTP probes): {:.1}s", since(started));
    let pod = &pods[0];

    // The image built here, through the chart's HTTP probes on the fixed host port.
    let status = pod.status.as_ref().unwrap().container_statuses.as_ref().unwrap()[0].clone();
    assert!(status.image.contains("tributary.local/tributary:dev"), "image {}", status.image);
    assert!(status.ready);
    let spec = pod.spec.as_ref().unwrap();
    let probe = spec.containers[0].readiness_probe.as_ref().unwrap();
    assert_eq!(probe.http_get.as_ref().map(|h| h.path.as_deref()), Some(Some("/readyz")));
    assert_eq!(spec.host_network, Some(true));
    let (code, body) = http_get(port, "/readyz").await.unwrap();
    assert_eq!((code, body.as_str()), (200, "ok"));

    // The running container, as the kernel sees it.
    let pid = node::container_pid(pod).unwrap();
    let v = node::inspect_process(pid).unwrap();
    eprintln!("operator container: host pid {pid}, {v:?}");
    assert!(v.exe.ends_with("/tributary") || v.exe == "/tributary", "{}", v.exe);
    assert!(v.uids.len() == 4 && v.uids.iter().all(|u| *u == 65532), "uids {:?}", v.uids);
    assert!(v.gids.len() == 4 && v.gids.iter().all(|g| *g == 65532), "gids {:?}", v.gids);
    assert_eq!((v.cap_eff, v.cap_prm), (0, 0), "no capabilities");
    assert!(v.no_new_privs, "no privilege escalation");
    assert_eq!(v.seccomp, 2, "seccomp filter (RuntimeDefault)");
    assert!(v.root_read_only, "read-only root filesystem");

    // In-cluster configuration with the ServiceAccount token: it reached the apiserver and works.
    let connected = |l: &String| l.contains("connected to the Kubernetes API server");
    let logs = wait_for("the operator's log", T, || async { Ok(op.logs()) }, connected).await.unwrap();
    assert!(!logs.contains("KUBECONFIG"), "no kubeconfig in the pod");
    // `kubectl logs` goes through the kubelet API on 127.0.0.1.
    let name = pod.metadata.name.clone().unwrap();
    let kubectl_logs = node::run(std::process::Command::new("kubectl").args(["logs", "-n", &ns.name, &name])).unwrap();
    assert!(kubectl_logs.contains("connected to the Kubernetes API server"), "{kubectl_logs}");

    let f = Fixture { stack, client: client.clone(), ns, operator: op };
    f.connection("main").await;
    wait_condition(&f.api::<KafkaConnection>(), "main", "Ready", "True", None, T).await.unwrap();
    let kafka_name = unique("pod-made");
    let t = ready_topic(&f, "made", &kafka_name, 3).await;
    assert_eq!(t.status.unwrap().partitions, Some(3));
    let facts = tributary_e2e::kafka::describe_topic(&f.stack, &f.stack.admin(), &kafka_name).await.unwrap();
    assert_eq!(facts.map(|t| t.partitions), Some(3), "the topic exists in Kafka with 3 partitions");
    let reconciles = f.operator.metric_sum_of(pod, "tributary_reconciles_total{kind=\"Topic\"").await.unwrap();
    assert!(reconciles >= 1.0, "the pod's /metrics counts its reconciles: {reconciles}");
    f.stack
        .kafka_cli(
            "org.apache.kafka.tools.TopicCommand",
            &["--bootstrap-server", &f.stack.bootstrap, "--delete", "--topic", &kafka_name],
        )
        .unwrap();
}

/// The chart's pod template, rendered with `sets`, as a Pod.
fn rendered_pod(sets: &[&str]) -> Pod {
    let mut args = vec!["template", "t", "--skip-crds"];
    let chart = chart_dir().display().to_string();
    args.insert(2, &chart);
    for s in sets {
        args.extend(["--set", s]);
    }
    let out = node::helm(&args).unwrap();
    for doc in out.split("\n---") {
        let v: serde_yaml::Value = match serde_yaml::from_str(doc) {
            Ok(v) => v,
            Err(_) => continue,
        };
        if v.get("kind").and_then(|k| k.as_str()) == Some("Deployment") {
            let template = v["spec"]["template"].clone();
            let mut pod: serde_json::Value = serde_json::to_value(template).unwrap();
            pod["apiVersion"] = json!("v1");
            pod["kind"] = json!("Pod");
            pod["metadata"]["name"] = json!("restricted-check");
            // The chart's ServiceAccount is not installed here; the check is about the pod's security fields.
            pod["spec"]["serviceAccountName"] = json!("default");
            return serde_json::from_value(pod).unwrap();
        }
    }
    panic!("no Deployment rendered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_chart_pod_passes_the_restricted_level_and_host_network_does_not() {
    let stack = Stack::from_env();
    let client = stack.kube().await;
    let name = unique("restricted");
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name,
        "labels": {"pod-security.kubernetes.io/enforce": "restricted",
                   "pod-security.kubernetes.io/enforce-version": "latest"}}}))
    .unwrap();
    namespaces.create(&PostParams::default(), &ns).await.unwrap();
    let _cleanup = TestNamespace { name: name.clone() };
    let accounts: Api<k8s_openapi::api::core::v1::ServiceAccount> = Api::namespaced(client.clone(), &name);
    wait_for_some("the default ServiceAccount", T, || async { Ok(accounts.get_opt("default").await?) }).await.unwrap();
    let pods: Api<Pod> = Api::namespaced(client, &name);
    let dry = PostParams { dry_run: true, ..Default::default() };
    pods.create(&dry, &rendered_pod(&[])).await.expect("the default pod passes the restricted level");
    let err = pods
        .create(&dry, &rendered_pod(&["hostNetwork=true", "http.bindAddress=127.0.0.1"]))
        .await
        .expect_err("a host-network pod does not pass the restricted level");
    assert!(err.to_string().contains("host namespaces"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_operator_pods_elect_a_leader_and_the_standby_writes_when_the_leader_pod_is_deleted() {
    let opts = ChartOptions { replicas: 2, ..Default::default() };
    let f = Fixture::start_chart("node-ha", opts).await;
    f.connection("main").await;
    let leader = wait_for_some("a Lease holder", T, || async { Ok(f.operator.leader().await) }).await.unwrap();
    let pods = f.operator.wait_ready(2, T).await;
    let names: Vec<String> = pods.iter().map(|p| p.metadata.name.clone().unwrap()).collect();
    assert!(names.contains(&leader), "holder {leader} is one of {names:?}");
    let kafka_before = unique("ha-before");
    ready_topic(&f, "before", &kafka_before, 2).await;
    let leader_pod = pods.iter().find(|p| p.metadata.name.as_deref() == Some(leader.as_str())).unwrap();
    let standby_pod = pods.iter().find(|p| p.metadata.name.as_deref() != Some(leader.as_str())).unwrap();
    let standby = standby_pod.metadata.name.clone().unwrap_or_default();
    let leader_writes = f.operator.metric_sum_of(leader_pod, "tributary_status_writes_total").await.unwrap();
    let standby_writes = f.operator.metric_sum_of(standby_pod, "tributary_status_writes_total").await.unwrap();
    assert!(leader_writes >= 1.0, "the leader wrote status: {leader_writes}");
    assert_eq!(standby_writes, 0.0, "the standby wrote nothing");

    // Delete the leader pod as `kubectl delete pod` does (SIGTERM, grace period). A change made once another pod
    // holds the Lease can only be written by that pod.
    let deleted = Instant::now();
    f.operator.delete_pod(&leader, 30).await.unwrap();
    let holder = || async { Ok(f.operator.leader().await) };
    let new_holder = wait_for("another pod holds the Lease", T, holder, |h| h.as_ref().is_some_and(|h| *h != leader))
        .await
        .unwrap()
        .expect("a holder");
    let lease_taken = since(deleted);
    let kafka_after = unique("ha-after");
    ready_topic(&f, "after", &kafka_after, 2).await;
    let first_write = since(deleted);
    // The standby, or the pod the Deployment started in the deleted one's place: whichever asked first.
    let role = if new_holder == standby { "the standby" } else { "the replacement pod" };
    let holder_pod = f.operator.pod(&new_holder).await.unwrap();
    let writes = f.operator.metric_sum_of(&holder_pod, "tributary_status_writes_total").await.unwrap();
    assert!(writes >= 1.0, "the new leader wrote the status: {writes}");
    eprintln!(
        "leader pod deleted → {role} holds the Lease {lease_taken:.1}s → a Topic applied then is Ready {first_write:.1}s"
    );
    if first_write > 60.0 {
        // Slower than the Lease can explain: keep the operators' own account of it.
        eprintln!("slow takeover; the operator pods' logs:\n{}", f.operator.logs());
    }
    // The Deployment replaces the deleted pod; it stands by.
    f.operator.wait_ready(2, T).await;
    for t in [kafka_before, kafka_after] {
        f.stack
            .kafka_cli(
                "org.apache.kafka.tools.TopicCommand",
                &["--bootstrap-server", &f.stack.bootstrap, "--delete", "--topic", &t],
            )
            .unwrap();
    }
}

/// The offsets `group` committed and the end offsets, per partition of its one topic (Kafka's own tool; none while
/// the tool cannot say).
fn committed_and_end(stack: &Stack, group: &str) -> BTreeMap<i32, (Option<i64>, i64)> {
    let rows = group_offsets_cli(stack, group).unwrap_or_default();
    rows.into_iter().map(|((_, p), (end, committed))| (p, (committed, end))).collect()
}

fn replicas(d: &Deployment) -> i32 {
    d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_consumer_pods_scaled_by_tributary_drain_a_burst_and_sleep_at_zero() {
    node::require_image(node::CONSUMER_IMAGE).unwrap();
    let f = Fixture::start_chart("node-scale", ChartOptions::default()).await;
    f.connection("main").await;
    let topic = unique("orders");
    create_topic(&f.stack.admin(), &topic, 4, 1, &[]).await.unwrap();
    let group = unique("billing");
    f.apply::<Deployment>(node::consumer_deployment("billing", &group, &[&topic], &f.stack.bootstrap, 100, Some(0)))
        .await;
    f.apply::<ConsumerGroup>(manifest::consumer_group(
        "billing",
        json!({"connectionRef": {"name": "main"}, "groupId": group, "topics": [topic], "lag": {"maxSeconds": 30},
               "autoscaling": {"targetRef": {"name": "billing"}, "minReplicas": 0, "maxReplicas": 4,
                               "lagPerReplica": 200, "activationLag": 10,
                               "scaleDown": {"stabilizationSeconds": 20}}}),
    ))
    .await;
    let groups = f.api::<ConsumerGroup>();
    wait_condition(&groups, "billing", "ScalingActive", "True", None, T).await.unwrap();
    let deployments = f.api::<Deployment>();
    assert_eq!(replicas(&deployments.get("billing").await.unwrap()), 0, "asleep before the burst");

    // Burst: 4,000 records; 4 pods at 100 records/s each drain it in about 10 s.
    let burst = Instant::now();
    produce(&f.stack.producer(), &topic, "b", 4000).await.unwrap();
    let produced = since(burst);
    let mut timeline = vec![format!("burst of 4000 produced: {produced:.1}s")];
    let billing_replicas = || async { Ok(replicas(&deployments.get("billing").await?)) };
    let up = wait_for("scaled up", T, billing_replicas, |n| *n > 0).await.unwrap();
    timeline.push(format!("/scale 0 → {up}: {:.1}s", since(burst)));
    let running = || async { Ok(node::running_pods(&f.client, &f.ns.name, "billing").await?.len()) };
    wait_for("the first consumer pod Running", T, running, |n| *n > 0).await.unwrap();
    timeline.push(format!("first consumer pod Running: {:.1}s", since(burst)));
    let wanted_and_running = || async {
        let want = replicas(&deployments.get("billing").await?);
        Ok((want, node::running_pods(&f.client, &f.ns.name, "billing").await?.len() as i32))
    };
    let (_, most) =
        wait_for("every scaled pod Running", T, wanted_and_running, |(want, n)| n == want && *n > 1).await.unwrap();
    timeline.push(format!("{most} consumer pods Running: {:.1}s", since(burst)));
    wait_status(&groups, "billing", "lag drained and within the SLO", T, |g| {
        g.status.as_ref().and_then(|s| s.total_lag) == Some(0) && g.has_condition("LagWithinSLO", "True", None)
    })
    .await
    .unwrap();
    timeline.push(format!("lag 0, LagWithinSLO=True: {:.1}s", since(burst)));
    let last_scale = |g: &ConsumerGroup| g.status.as_ref().and_then(|s| s.last_scale.clone());
    let g = wait_status(&groups, "billing", "the scale-up recorded", T, |g| last_scale(g).is_some()).await.unwrap();
    // Lag figures reach status at most every statusIntervalSeconds: on a slow machine the drained lag may show only
    // after the window's scale to zero, whose `from` is then the peak.
    let l = last_scale(&g).expect("a scale");
    let peak = if l.to > 0 { l.to } else { l.from };
    assert!((2..=4).contains(&peak.max(most)), "scaled to between 2 and 4 pods (4 partitions), got {peak}/{most}");

    // Every record was processed and committed by the pods (Kafka's own tool).
    let rows = committed_and_end(&f.stack, &group);
    assert_eq!(rows.len(), 4, "{rows:?}");
    assert!(rows.values().all(|(c, e)| *c == Some(*e)), "committed = end on every partition: {rows:?}");
    assert_eq!(rows.values().map(|(_, e)| e).sum::<i64>(), 4000);

    // Back to zero only after the stabilization window (20 s from the scale-up, which came after the burst started:
    // measured from the burst, a slow observer can only make it longer), and no pod left.
    wait_for("scaled back to zero", T, billing_replicas, |n| *n == 0).await.unwrap();
    let down_at = since(burst);
    timeline.push(format!("/scale → 0: {down_at:.1}s"));
    assert!(down_at >= 20.0, "scaled down {down_at:.1} s after the burst (window 20 s)");
    let scaled_to_zero = |g: &ConsumerGroup| last_scale(g).is_some_and(|l| l.to == 0);
    let g = wait_status(&groups, "billing", "status records the scale to 0", T, scaled_to_zero).await.unwrap();
    let last = last_scale(&g).unwrap();
    assert_eq!(last.from, peak, "{last:?}");
    assert!(last.reason.contains("scale down"), "{}", last.reason);
    let events = events_in(&f.client, &f.ns.name).await;
    let scaled: Vec<_> = events.iter().filter(|(o, r, _)| o == "billing" && r.starts_with("Scaled")).collect();
    assert!(scaled.iter().any(|(_, r, n)| r == "ScaledUp" && n.contains(&format!("from 0 to {up}"))), "{scaled:?}");
    assert!(scaled.iter().any(|(_, r, n)| r == "ScaledDown" && n.contains(&format!("from {peak} to 0"))), "{scaled:?}");
    assert!(scaled.iter().all(|(_, _, n)| n.contains("lag")), "{scaled:?}");
    let pods = || async {
        let pods: Api<Pod> = f.api();
        Ok(pods.list(&kube::api::ListParams::default().labels("app=billing")).await?.items.len())
    };
    wait_for("no consumer pod left", T, pods, |left| *left == 0).await.unwrap();
    timeline.push(format!("every consumer pod gone: {:.1}s", since(burst)));

    // Asleep at zero: records up to the activation lag (10) do not wake it, watched over three polls.
    produce(&f.stack.producer(), &topic, "few", 8).await.unwrap();
    let seen: Vec<i32> =
        versions_seen_for(&deployments, "billing", Duration::from_secs(16)).await.iter().map(replicas).collect();
    assert!(!seen.is_empty() && seen.iter().all(|r| *r == 0), "stayed at zero: replicas seen {seen:?}");
    // A few records over it wake it.
    let wake = Instant::now();
    produce(&f.stack.producer(), &topic, "w", 60).await.unwrap();
    // At zero, the group's status says why.
    let woken = || async {
        let n = replicas(&deployments.get("billing").await?);
        Ok((n, if n > 0 { None } else { groups.get("billing").await?.status }))
    };
    wait_for("woken from zero", T, woken, |(n, _)| *n > 0).await.unwrap();
    let woke = since(wake);
    let committed =
        || async { Ok(committed_and_end(&f.stack, &group).values().map(|(c, _)| c.unwrap_or(0)).sum::<i64>()) };
    wait_for("the woken pod drained the new records", T, committed, |n| *n == 4068).await.unwrap();
    let woke_drained = since(wake);
    timeline.push(format!(
        "60 more records: woken (0 → ≥1) {woke:.1}s, drained {woke_drained:.1}s after they were produced"
    ));
    eprintln!("timeline with real consumer pods (poll 5 s):\n  {}", timeline.join("\n  "));
}
