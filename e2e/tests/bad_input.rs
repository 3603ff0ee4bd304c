//! The bad-input corpus at volume (`tributary_e2e::bad_input`): invalid manifests of every kind, applied as a user
//! would (server-side apply, strict field validation), each either refused by the apiserver with a message naming
//! the field, or accepted and answered with `Ready=False` naming it. None may crash the operator, none may write to
//! Kafka or to the schema registry: both are checked by independent clients (Kafka's own CLI classes, Confluent's
//! Python client, kubectl), not by the operator's status. Then random valid specs, applied twice, are written once.
//!
//! `BAD_INPUT_PER_KIND` sets the cases per kind (default 40, the subset `make test` runs; `make bad-input` runs
//! 220), `BAD_INPUT_SEED` the seed (default: the clock; always printed, so a failing run can be repeated).

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{ApiResource, DynamicObject, ListParams, Patch, PatchParams, ValidationDirective};
use kube::{Api, Client};
use serde_json::{Value, json};
use tributary::api::{ConsumerGroup, DlqPolicy, KafkaConnection, KafkaUser, Schema, Topic};
use tributary_e2e::bad_input::{self, Case, Env, Kind, Mutation, Rng};
use tributary_e2e::{Operator, Stack, manifest, prepare, repo_root, unique, wait_condition, wait_for};

const READY: Duration = Duration::from_secs(90);
/// Applies in flight at once.
const PARALLEL: usize = 16;

fn api_resource(kind: Kind) -> ApiResource {
    match kind {
        Kind::Topic => ApiResource::erase::<Topic>(&()),
        Kind::ConsumerGroup => ApiResource::erase::<ConsumerGroup>(&()),
        Kind::DlqPolicy => ApiResource::erase::<DlqPolicy>(&()),
        Kind::KafkaConnection => ApiResource::erase::<KafkaConnection>(&()),
        Kind::KafkaUser => ApiResource::erase::<KafkaUser>(&()),
        Kind::Schema => ApiResource::erase::<Schema>(&()),
    }
}

fn dynamic(client: &Client, ns: &str, kind: Kind) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), ns, &api_resource(kind))
}

/// Server-side apply with strict field validation: what `kubectl apply --server-side --validate=strict` sends. The apiserver's refusal is the `Status` message kubectl prints.
async fn apply_strict(api: &Api<DynamicObject>, name: &str, manifest: &Value) -> Result<DynamicObject, String> {
    let mut pp = PatchParams::apply("bad-input").force();
    pp.field_validation = Some(ValidationDirective::Strict);
    match api.patch(name, &pp, &Patch::Apply(manifest)).await {
        Ok(o) => Ok(o),
        Err(kube::Error::Api(s)) => Err(format!("{} ({}): {}", s.reason, s.code, s.message)),
        Err(e) => Err(format!("transport: {e}")),
    }
}

/// `kubectl apply --server-side --validate=strict -f -` of one manifest (kubectl's spelling of the apiserver's
/// `fieldValidation=Strict`): (succeeded, stdout + stderr).
fn kubectl_apply(stack: &Stack, ns: &str, manifest: &Value) -> (bool, String) {
    use std::io::Write as _;
    let mut child = Command::new("kubectl")
        .env("KUBECONFIG", &stack.kubeconfig)
        .args(["apply", "--server-side", "--validate=strict", "--field-manager=bad-input", "-n", ns, "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("running kubectl");
    child.stdin.take().expect("stdin").write_all(manifest.to_string().as_bytes()).expect("writing the manifest");
    let out = child.wait_with_output().expect("kubectl's output");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// Every CEL rule message of the CRDs: a refusal quoting one was decided by a CEL rule.
fn cel_messages() -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::Array(rules)) = m.get("x-kubernetes-validations") {
                    out.extend(rules.iter().filter_map(|r| r["message"].as_str().map(String::from)));
                }
                m.values().for_each(|x| walk(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut out = vec![];
    for (_, crd) in tributary::api::all_crds() {
        walk(&serde_json::to_value(crd).expect("a CRD is JSON"), &mut out);
    }
    out
}

/// How a case was answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    RejectedUnknownField,
    RejectedBySchema,
    RejectedByCel,
    ReadyFalse,
}

/// What Kafka, the registry and the namespace hold, read by independent clients.
#[derive(Debug, PartialEq, Eq)]
struct Inventory {
    topics: BTreeSet<String>,
    groups: BTreeSet<String>,
    /// `resource | entry`, one per ACL: kafka-acls lists resources and their entries in no stable order.
    acls: BTreeSet<String>,
    /// `principal's configs | item`, one per SCRAM credential or quota: kafka-configs lists them in no stable order.
    users: BTreeSet<String>,
    subjects: BTreeSet<String>,
    user_secrets: BTreeSet<String>,
}

async fn inventory(stack: &Stack, client: &Client, ns: &str) -> Inventory {
    let bs = stack.bootstrap.as_str();
    let lines =
        |s: String| without_log_lines(s).lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect();
    let topics = stack.kafka_cli("org.apache.kafka.tools.TopicCommand", &["--bootstrap-server", bs, "--list"]);
    let groups = stack
        .kafka_cli("org.apache.kafka.tools.consumer.group.ConsumerGroupCommand", &["--bootstrap-server", bs, "--list"]);
    let acls = stack.kafka_cli("org.apache.kafka.tools.AclCommand", &["--bootstrap-server", bs, "--list"]);
    let users = stack
        .kafka_cli("kafka.admin.ConfigCommand", &["--bootstrap-server", bs, "--describe", "--entity-type", "users"]);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    let labelled = secrets.list(&ListParams::default().labels("tributary.dev/kafka-user")).await.expect("Secrets");
    Inventory {
        topics: lines(topics.expect("kafka-topics --list")),
        groups: lines(groups.expect("kafka-consumer-groups --list")),
        acls: acl_entries(&without_log_lines(acls.expect("kafka-acls --list"))),
        users: user_configs(&without_log_lines(users.expect("kafka-configs --describe --entity-type users"))),
        subjects: registry_subjects(),
        user_secrets: labelled.items.into_iter().filter_map(|s| s.metadata.name).collect(),
    }
}

/// The registry's subjects through Confluent's Python client.
fn registry_subjects() -> BTreeSet<String> {
    let python = std::env::var("SCHEMA_CLIENT_PYTHON").expect("SCHEMA_CLIENT_PYTHON (. e2e/stack/env.sh)");
    let url = std::env::var("SCHEMA_REGISTRY_URL").expect("SCHEMA_REGISTRY_URL (. e2e/stack/env.sh)");
    let script = repo_root().join("e2e/clients/schema_client.py");
    let out = Command::new(python).arg(script).args(["subjects", "--url", &url]).output().expect("the client");
    assert!(out.status.success(), "schema_client subjects: {}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON from the client");
    serde_json::from_value(v["subjects"].clone()).expect("a list of subjects")
}

/// The namespace's world: a connection with the stack's registry, a Topic, a ConsumerGroup and a registered Schema
/// for the corpus to refer to; the operator watching only that namespace.
struct World {
    stack: Stack,
    client: Client,
    ns: tributary_e2e::TestNamespace,
    operator: Operator,
    env: Env,
}

async fn world(prefix: &str, extra_args: &[&str]) -> World {
    let (stack, client, ns) = prepare(prefix).await;
    let tag = unique("bi").replace('-', "");
    let registry_url = std::env::var("SCHEMA_REGISTRY_URL").expect("SCHEMA_REGISTRY_URL (. e2e/stack/env.sh)");
    let env = Env {
        connection: "main".into(),
        bootstrap: stack.bootstrap.split(',').map(String::from).collect(),
        registry_url: registry_url.clone(),
        topic: "base".into(),
        kafka_topic: format!("{tag}-base"),
        group: "base-group".into(),
        schema: "base-schema".into(),
        tag,
    };
    let mut args = vec!["--namespace", ns.name.as_str()];
    args.extend_from_slice(extra_args);
    let operator = Operator::start(&stack, prefix, &args);
    operator.wait_ready().await;
    let n = ns.name.as_str();
    // Over SASL (SCRAM) as the stack's user, so that KafkaUsers on it can be made: their credential is SCRAM.
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "kafka-main"},
        "stringData": {"username": stack.scram_user, "password": stack.scram_password}});
    tributary_e2e::apply_in::<Secret>(&client, n, secret).await;
    let conn = json!({"bootstrapServers": stack.scram_bootstrap.split(',').collect::<Vec<_>>(),
        "sasl": {"mechanism": "SCRAM-SHA-512", "username": {"name": "kafka-main", "key": "username"},
                 "password": {"name": "kafka-main", "key": "password"}},
        "schemaRegistry": {"url": registry_url}});
    tributary_e2e::apply_in::<KafkaConnection>(&client, n, manifest::tributary("KafkaConnection", "main", conn)).await;
    let topic = json!({"connectionRef": {"name": "main"}, "topicName": env.kafka_topic, "partitions": 1});
    tributary_e2e::apply_in::<Topic>(&client, n, manifest::topic(&env.topic, topic)).await;
    let group = json!({"connectionRef": {"name": "main"}, "topics": [env.kafka_topic]});
    tributary_e2e::apply_in::<ConsumerGroup>(&client, n, manifest::consumer_group(&env.group, group)).await;
    let address = json!({"type": "record", "name": "Address", "namespace": "dev.tributary",
                         "fields": [{"name": "street", "type": "string"}]});
    let schema = json!({"connectionRef": {"name": "main"}, "subject": format!("{}-address", env.tag),
                        "schema": address.to_string()});
    tributary_e2e::apply_in::<Schema>(&client, n, manifest::tributary("Schema", &env.schema, schema)).await;
    wait_condition(&Api::<KafkaConnection>::namespaced(client.clone(), n), "main", "Ready", "True", None, READY)
        .await
        .unwrap();
    wait_condition(&Api::<Topic>::namespaced(client.clone(), n), &env.topic, "Ready", "True", None, READY)
        .await
        .unwrap();
    wait_condition(&Api::<Schema>::namespaced(client.clone(), n), &env.schema, "Ready", "True", None, READY)
        .await
        .unwrap();
    World { stack, client, ns, operator, env }
}

fn seed() -> u64 {
    std::env::var("BAD_INPUT_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_secs()
    })
}

/// The Ready condition of an object read as a dynamic object, if it is about its current generation.
fn ready_of(o: &DynamicObject) -> Option<(String, String, String)> {
    let generation = o.metadata.generation?;
    let conds = o.data["status"]["conditions"].as_array()?;
    let c = conds.iter().find(|c| c["type"] == "Ready")?;
    let observed = c["observedGeneration"].as_i64().or_else(|| o.data["status"]["observedGeneration"].as_i64());
    if observed.is_some_and(|g| g < generation) {
        return None;
    }
    let s = |k: &str| c[k].as_str().unwrap_or_default().to_string();
    Some((s("status"), s("reason"), s("message")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_with_the_field_named_and_never_reaches_kafka() {
    let per_kind: usize = std::env::var("BAD_INPUT_PER_KIND").ok().and_then(|s| s.parse().ok()).unwrap_or(40);
    let seed = seed();
    eprintln!("bad-input corpus: seed {seed} (BAD_INPUT_SEED={seed} repeats it), {per_kind} cases per kind");
    let mut w = world("bad-input", &["--resync-seconds", "30"]).await;
    let pid = w.operator.pid();
    let cases = bad_input::corpus(seed, per_kind, &w.env);
    let cel = cel_messages();
    let before = inventory(&w.stack, &w.client, &w.ns.name).await;
    let errors_before = reconcile_errors(&w.operator).await;

    // Apply every case, PARALLEL at a time.
    let started = Instant::now();
    let ns = w.ns.name.clone();
    let client = w.client.clone();
    let answers: Vec<(usize, Result<DynamicObject, String>)> = futures::stream::iter(cases.iter().enumerate())
        .map(|(i, c)| {
            let api = dynamic(&client, &ns, c.kind);
            async move { (i, apply_strict(&api, &c.name, &c.manifest).await) }
        })
        .buffer_unordered(PARALLEL)
        .collect()
        .await;
    let applied_in = started.elapsed();

    let mut outcome: BTreeMap<usize, Outcome> = BTreeMap::new();
    let mut failures: Vec<String> = vec![];
    let mut pending: BTreeMap<usize, String> = BTreeMap::new();
    let fail = |c: &Case, why: String| {
        format!("{} {} [{:?}] field {} ({}): {why}", c.kind.as_str(), c.name, c.mutation, c.field, c.what)
    };
    for (i, answer) in answers {
        let c = &cases[i];
        match answer {
            Err(message) if message.starts_with("transport") => failures.push(fail(c, message)),
            Err(message) => {
                let how = if message.contains("field not declared in schema") || message.contains("unknown field") {
                    Outcome::RejectedUnknownField
                } else if cel.iter().any(|m| message.contains(m.as_str())) {
                    Outcome::RejectedByCel
                } else {
                    Outcome::RejectedBySchema
                };
                if c.names_field(&message) {
                    outcome.insert(i, how);
                } else {
                    failures.push(fail(c, format!("refused without naming the field: {}", cut(&message, 600))));
                }
            }
            Ok(_) => {
                pending.insert(i, String::from("no Ready condition yet"));
            }
        }
    }
    eprintln!("applied {} cases in {applied_in:?}: {} accepted, waiting for Ready=False", cases.len(), pending.len());

    // Accepted cases: Ready=False for the current generation, naming the field.
    let deadline = Instant::now() + READY;
    while !pending.is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(2)).await;
        for kind in Kind::ALL {
            let listed = dynamic(&w.client, &w.ns.name, kind).list(&ListParams::default()).await.expect("listing");
            let by_name: BTreeMap<String, &DynamicObject> =
                listed.items.iter().map(|o| (o.metadata.name.clone().unwrap_or_default(), o)).collect();
            let of_kind: Vec<usize> = pending.keys().copied().filter(|i| cases[*i].kind == kind).collect();
            for i in of_kind {
                let c = &cases[i];
                let Some((status, reason, message)) = by_name.get(&c.name).and_then(|o| ready_of(o)) else { continue };
                if status == "False" && c.names_field(&message) {
                    pending.remove(&i);
                    outcome.insert(i, Outcome::ReadyFalse);
                } else {
                    pending.insert(i, format!("Ready={status} {reason}: {}", cut(&message, 400)));
                }
            }
        }
    }
    for (i, seen) in &pending {
        failures.push(fail(&cases[*i], format!("accepted, and no Ready=False naming the field: last saw {seen}")));
    }

    // The counts, per kind and outcome.
    let mut table: BTreeMap<(Kind, Outcome), usize> = BTreeMap::new();
    for (i, o) in &outcome {
        *table.entry((cases[*i].kind, *o)).or_default() += 1;
    }
    eprintln!("{:<16} {:>8} {:>8} {:>8} {:>10} {:>6}", "kind", "unknown", "schema", "CEL", "Ready=False", "total");
    for kind in Kind::ALL {
        let n = |o| table.get(&(kind, o)).copied().unwrap_or(0);
        let total = cases.iter().filter(|c| c.kind == kind).count();
        eprintln!(
            "{:<16} {:>8} {:>8} {:>8} {:>10} {:>6}",
            kind.as_str(),
            n(Outcome::RejectedUnknownField),
            n(Outcome::RejectedBySchema),
            n(Outcome::RejectedByCel),
            n(Outcome::ReadyFalse),
            total
        );
    }
    let mut by_mutation: BTreeMap<Mutation, usize> = BTreeMap::new();
    cases.iter().for_each(|c| *by_mutation.entry(c.mutation).or_default() += 1);
    eprintln!("cases per mutation: {by_mutation:?}; answered in {:?}", started.elapsed());

    // A user sees the same through kubectl: a sample of refused cases, one per kind and outcome, through kubectl.
    let mut sampled = BTreeSet::new();
    for (i, o) in &outcome {
        let c = &cases[*i];
        if *o == Outcome::ReadyFalse || !sampled.insert((c.kind, *o)) {
            continue;
        }
        let (ok, text) = kubectl_apply(&w.stack, &w.ns.name, &c.manifest);
        if ok || !c.names_field(&text) {
            failures.push(fail(c, format!("kubectl apply: succeeded={ok}: {}", cut(&text, 600))));
        }
    }
    eprintln!("kubectl apply --server-side --validate=strict refused {} sampled cases naming the field", sampled.len());

    // The operator: the same process, alive, serving /metrics, no panic; no hot loop on the refused objects.
    assert_eq!(w.operator.exited(), None, "the operator exited");
    assert_eq!(w.operator.pid(), pid);
    let log = w.operator.log_text();
    assert!(
        !log.contains("panicked"),
        "the operator panicked: {}",
        cut(&log[log.find("panicked").unwrap_or(0)..], 2000)
    );
    // No hot loop on the refused objects: over 10 s, at most two reconciles per object of each kind, except
    // ConsumerGroups, which follow the lag tick (one a second): at most two per object and second.
    let at = reconciles_per_kind(&w.operator).await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    let after = reconciles_per_kind(&w.operator).await;
    let errors = reconcile_errors(&w.operator).await - errors_before;
    let total: f64 = at.values().sum();
    eprintln!("operator pid {pid} alive; {total} reconciles ({errors} errors) by the end of the corpus");
    for kind in Kind::ALL {
        let k = kind.as_str();
        let accepted = outcome.iter().filter(|(i, o)| **o == Outcome::ReadyFalse && cases[**i].kind == kind).count();
        // The world's own objects: a connection, a Topic, a ConsumerGroup and a Schema.
        let objects = (accepted + usize::from(kind != Kind::DlqPolicy && kind != Kind::KafkaUser)) as f64;
        let quiet = after[k] - at[k];
        let bound = if kind == Kind::ConsumerGroup { objects * 20.0 } else { objects * 2.0 };
        eprintln!("  {k}: {quiet} reconciles in the 10 s after the corpus, {objects} objects (bound {bound})");
        assert!(quiet <= bound.max(2.0), "{quiet} {k} reconciles in 10 s for {objects} objects: a hot loop");
    }
    let (code, _) = w.operator.http_get("/metrics").await.unwrap();
    assert_eq!(code, 200);

    // Nothing reached Kafka, the registry or a credential Secret.
    let after = inventory(&w.stack, &w.client, &w.ns.name).await;
    eprintln!(
        "Kafka after the corpus: {} topics, {} groups; {} registry subjects; {} credential Secrets",
        after.topics.len(),
        after.groups.len(),
        after.subjects.len(),
        after.user_secrets.len()
    );
    for f in &failures {
        eprintln!("BAD: {f}");
    }
    assert_eq!(after.topics, before.topics, "Kafka topics changed");
    assert_eq!(after.groups, before.groups, "Kafka consumer groups changed");
    assert_eq!(after.acls, before.acls, "Kafka ACLs changed");
    assert_eq!(after.users, before.users, "Kafka SCRAM users or quotas changed");
    assert_eq!(after.subjects, before.subjects, "registry subjects changed");
    assert_eq!(after.user_secrets, before.user_secrets, "credential Secrets were written");
    println!(
        "FIGURE F7 bad-input corpus, seed {seed}, {per_kind} per kind: {} manifests, {} refused by the apiserver \
         naming the field, {} answered Ready=False naming it, {} answered badly; operator the same process, {errors} \
         reconcile errors; Kafka, registry and Secrets unchanged; answered in {:.0}s",
        cases.len(),
        outcome.values().filter(|o| **o != Outcome::ReadyFalse).count(),
        outcome.values().filter(|o| **o == Outcome::ReadyFalse).count(),
        failures.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(failures.is_empty(), "{} of {} cases answered badly (listed above)", failures.len(), cases.len());
}

/// kafka-acls' `Current ACLs for resource …:` blocks as `resource | entry` lines.
fn acl_entries(listing: &str) -> BTreeSet<String> {
    let mut resource = "";
    let mut entries = BTreeSet::new();
    for line in listing.lines() {
        if let Some(r) = line.strip_prefix("Current ACLs for resource ") {
            resource = r.trim_end_matches(':');
        } else if !line.trim().is_empty() {
            entries.insert(format!("{resource} | {}", line.trim()));
        }
    }
    entries
}

/// kafka-configs' `… for user-principal 'u' are a=1, b=2` lines as `… for user-principal 'u' | a=1` items.
fn user_configs(listing: &str) -> BTreeSet<String> {
    let mut items = BTreeSet::new();
    for line in listing.lines().map(str::trim).filter(|l| !l.is_empty()) {
        match line.split_once(" are ") {
            Some((whose, list)) => items.extend(list.split(", ").map(|item| format!("{whose} | {}", item.trim()))),
            None => drop(items.insert(line.to_string())),
        }
    }
    items
}

/// A CLI's output without the log lines some of Kafka's tools print first (`[time] INFO ...`).
fn without_log_lines(out: String) -> String {
    out.lines().filter(|l| !l.starts_with('[')).map(|l| format!("{l}\n")).collect()
}

/// Reconciles that ended in an error, all kinds.
async fn reconcile_errors(op: &Operator) -> f64 {
    let (code, body) = op.http_get("/metrics").await.expect("/metrics");
    assert_eq!(code, 200);
    let errors: String = body.lines().filter(|l| l.contains("result=\"Error\"")).map(|l| format!("{l}\n")).collect();
    tributary_e2e::sum_series(&errors, "tributary_reconciles_total{")
}

fn cut(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// Kafka requests that could have written (the operations the operator's write gate holds), as it counts them.
async fn kafka_writes(op: &Operator) -> f64 {
    let (code, body) = op.http_get("/metrics").await.expect("/metrics");
    assert_eq!(code, 200);
    tributary::kafka::WRITE_OPERATIONS
        .iter()
        .map(|w| tributary_e2e::sum_series(&body, &format!("tributary_kafka_requests_total{{operation=\"{w}\"")))
        .sum()
}

/// `tributary_reconciles_total` per kind, every result.
async fn reconciles_per_kind(op: &Operator) -> BTreeMap<String, f64> {
    let (code, body) = op.http_get("/metrics").await.expect("/metrics");
    assert_eq!(code, 200);
    Kind::ALL
        .iter()
        .map(|k| {
            let prefix = format!("tributary_reconciles_total{{kind=\"{}\"", k.as_str());
            (k.as_str().to_string(), tributary_e2e::sum_series(&body, &prefix))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_valid_specs_applied_twice_are_written_once() {
    let seed = seed();
    let per_kind: usize = std::env::var("IDEMPOTENCE_PER_KIND").ok().and_then(|s| s.parse().ok()).unwrap_or(4);
    eprintln!("idempotence: seed {seed} (BAD_INPUT_SEED={seed} repeats it), {per_kind} valid specs per kind");
    // A resync every 10 s: each object is reconciled again while we watch, so "nothing written" means something.
    let w = world("idempotence", &["--resync-seconds", "10"]).await;
    let mut rng = Rng::new(seed);
    let mut objects: Vec<(Kind, String, Value)> = vec![];
    for kind in Kind::ALL {
        for i in 0..per_kind {
            let name = format!("{}-ok-{}-{i}", w.env.tag, kind.as_str().to_lowercase());
            objects.push((kind, name.clone(), bad_input::valid::manifest(kind, &name, &mut rng, &w.env)));
        }
    }
    // Applied as a user does, with kubectl (server-side, strict), both times.
    for (_, name, m) in &objects {
        let (ok, text) = kubectl_apply(&w.stack, &w.ns.name, m);
        assert!(ok, "kubectl apply of {name}: {text}");
    }
    for (kind, name, _) in &objects {
        let api = dynamic(&w.client, &w.ns.name, *kind);
        let ready = || async { Ok(ready_of(&api.get(name).await?)) };
        wait_for(&format!("{name} Ready"), READY, ready, |r| r.as_ref().is_some_and(|(s, _, _)| s == "True"))
            .await
            .unwrap();
    }
    // Let the first reconciles' follow-ups settle (child Topics of the policies, first lag tick, registry level).
    // A DlqPolicy's arrival rate is known after its first minute (`status.perMinute` appears then, 0 while quiet): a
    // write the clock makes, not the apply, so the snapshot is taken after it.
    for (kind, name, _) in objects.iter().filter(|(k, _, _)| *k == Kind::DlqPolicy) {
        let api = dynamic(&w.client, &w.ns.name, *kind);
        let rate = || async { Ok(api.get(name).await?.data["status"]["perMinute"].as_f64()) };
        wait_for(&format!("{name}'s first minute"), Duration::from_secs(120), rate, Option::is_some).await.unwrap();
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    let snapshot = || async {
        let mut out = BTreeMap::new();
        for (kind, name, _) in &objects {
            let o = dynamic(&w.client, &w.ns.name, *kind).get(name).await.expect("reading back");
            out.insert(name.clone(), (o.metadata.resource_version.clone(), o.data["status"].clone()));
        }
        out
    };
    let topic_configs = || {
        let names: Vec<String> =
            objects.iter().filter(|(k, _, _)| *k == Kind::Topic).map(|(_, n, _)| n.clone()).collect();
        names
            .iter()
            .map(|n| {
                let out = w.stack.kafka_cli(
                    "kafka.admin.ConfigCommand",
                    &[
                        "--bootstrap-server",
                        &w.stack.bootstrap,
                        "--describe",
                        "--entity-type",
                        "topics",
                        "--entity-name",
                        n,
                    ],
                );
                (n.clone(), without_log_lines(out.expect("kafka-configs --describe")))
            })
            .collect::<BTreeMap<_, _>>()
    };
    let first = snapshot().await;
    let configs_first = topic_configs();
    let writes_first = kafka_writes(&w.operator).await;
    let reconciles_first = reconciles_per_kind(&w.operator).await;

    // Every version of every object from here on, to show what wrote it if anything does.
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<DynamicObject>::new()));
    let watches: Vec<_> = Kind::ALL
        .iter()
        .map(|k| {
            let (api, seen) = (dynamic(&w.client, &w.ns.name, *k), seen.clone());
            tokio::spawn(async move {
                use kube::runtime::{WatchStreamExt as _, watcher};
                let mut stream = std::pin::pin!(watcher(api, watcher::Config::default()).applied_objects());
                while let Some(Ok(o)) = stream.next().await {
                    seen.lock().expect("the list of versions").push(o);
                }
            })
        })
        .collect();

    // The second apply: the same manifests, the same way. (Mixing clients is not "identical": kubectl's server-side
    // apply of a KafkaUser manifest that kube's had applied, under the same field manager, moved that manager's
    // managedFields entry and so the resourceVersion, with no write by the operator; seen here, not yet explained.)
    for (_, name, m) in &objects {
        let (ok, text) = kubectl_apply(&w.stack, &w.ns.name, m);
        assert!(ok, "kubectl apply of {name}: {text}");
    }
    // Wait until every kind has been reconciled again, at least once per object (a resync is 10 s; a connection
    // looks at its cluster every 30 s), then a little longer for whatever those reconciles would write.
    let again = || async {
        let now = reconciles_per_kind(&w.operator).await;
        Ok(Kind::ALL
            .iter()
            .map(|k| (k.as_str(), now.get(k.as_str()).copied().unwrap_or(0.0) - reconciles_first[k.as_str()]))
            .collect::<Vec<_>>())
    };
    let all_again = |counts: &Vec<(&str, f64)>| counts.iter().all(|(_, n)| *n >= per_kind as f64);
    let counts = wait_for("every object reconciled again", Duration::from_secs(90), again, all_again).await.unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    eprintln!("idempotence: reconciles per kind after the second apply: {counts:?}");
    watches.iter().for_each(|h| h.abort());
    let second = snapshot().await;
    let configs_second = topic_configs();
    let writes_second = kafka_writes(&w.operator).await;
    let versions = seen.lock().expect("the list of versions").clone();
    let mut written = vec![];
    for (name, (rv, status)) in &first {
        let (rv2, status2) = &second[name];
        if rv == rv2 {
            continue;
        }
        // What each version seen since the snapshot changed: its managed fields say who wrote it.
        let trail: Vec<String> = versions
            .iter()
            .filter(|o| o.metadata.name.as_deref() == Some(name.as_str()) && o.metadata.resource_version != *rv)
            .map(|o| {
                let managers: Vec<String> = o
                    .metadata
                    .managed_fields
                    .iter()
                    .flatten()
                    .map(|m| {
                        let time = m.time.as_ref().map(|t| t.0.to_string()).unwrap_or_default();
                        let sub = m.subresource.clone().unwrap_or_default();
                        format!(
                            "{}/{}/{sub}@{time}",
                            m.manager.clone().unwrap_or_default(),
                            m.operation.clone().unwrap_or_default()
                        )
                    })
                    .collect();
                format!("rv {:?} managers {managers:?} status {}", o.metadata.resource_version, o.data["status"])
            })
            .collect();
        written.push(format!(
            "{name}: rv {rv:?} → {rv2:?}; status before {status}\n  after {status2}\n  versions: {trail:#?}"
        ));
    }
    assert!(written.is_empty(), "written again after the second apply:\n{}", written.join("\n"));
    assert_eq!(configs_first, configs_second, "a topic's configs changed in Kafka");
    assert_eq!(writes_second - writes_first, 0.0, "the second apply caused Kafka writes");
    println!(
        "FIGURE F7 idempotence: {} random valid objects applied twice; no resourceVersion, status, topic config \
         (kafka-configs) or Kafka write ({writes_second} counted) changed",
        objects.len()
    );
}

#[test]
fn listings_compare_whatever_order_kafka_prints_them_in() {
    let users =
        |order: &str| user_configs(&format!("SCRAM credential configs for user-principal 'tributary' are {order}\n"));
    let a = users("SCRAM-SHA-512=iterations=4096, SCRAM-SHA-256=iterations=4096");
    assert_eq!(a, users("SCRAM-SHA-256=iterations=4096, SCRAM-SHA-512=iterations=4096"));
    assert_ne!(a, users("SCRAM-SHA-256=iterations=4096"));
    let acls = |first: &str, second: &str| {
        acl_entries(&format!(
            "Current ACLs for resource `T`:\n\t{first}\n\t{second}\n\nCurrent ACLs for resource `G`:\n\t(g)\n"
        ))
    };
    assert_eq!(acls("(a)", "(b)"), acls("(b)", "(a)"));
    assert_ne!(acls("(a)", "(b)"), acls("(a)", "(c)"));
}
