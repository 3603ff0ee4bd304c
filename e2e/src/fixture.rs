//! One test's world: the CRDs installed, a namespace of its own, and the operator running against it (the chart's
//! pods, or a process).

use std::time::Duration;

use anyhow::Context as _;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};

use crate::{Cond, Conditions, Namespaced, Operator, Stack, apply_in, kafka, manifest, node, unique, wait_for};

/// Installs (server-side apply) every CRD the operator generates and waits until they are Established.
pub async fn install_crds(client: &Client) -> anyhow::Result<()> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let pp = PatchParams::apply("tributary-e2e").force();
    for (_, crd) in tributary::api::all_crds() {
        let name = crd.metadata.name.clone().expect("CRDs are named");
        api.patch(&name, &pp, &Patch::Apply(&crd)).await.with_context(|| format!("applying CRD {name}"))?;
    }
    for (_, crd) in tributary::api::all_crds() {
        let name = crd.metadata.name.clone().expect("CRDs are named");
        let conditions = || async { Ok(api.get(&name).await?.conditions()) };
        let established = |c: &Vec<Cond>| c.has_condition("Established", "True", None);
        wait_for(&format!("CRD {name} Established"), Duration::from_secs(30), conditions, established).await?;
    }
    Ok(())
}

/// The stack from the environment, a Kubernetes client, every CRD installed, and a namespace of one's own.
pub async fn prepare(prefix: &str) -> (Stack, Client, TestNamespace) {
    let stack = Stack::from_env();
    let client = stack.kube().await;
    install_crds(&client).await.expect("installing CRDs");
    let ns = TestNamespace::create(&client, prefix).await;
    (stack, client, ns)
}

/// A namespace made for one test, deleted when dropped (without waiting).
pub struct TestNamespace {
    pub name: String,
}

impl TestNamespace {
    pub async fn create(client: &Client, prefix: &str) -> TestNamespace {
        let name = unique(prefix);
        let api: Api<Namespace> = Api::all(client.clone());
        let ns: Namespace = serde_json::from_value(serde_json::json!({"metadata": {"name": name}})).unwrap();
        api.create(&PostParams::default(), &ns).await.expect("creating the test namespace");
        TestNamespace { name }
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        // From a thread of its own with a fresh client: a task spawned on the test's runtime would not run once the
        // test returns or unwinds after a panic, and the namespace (with its resources) would be left behind.
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            rt.block_on(async {
                let client = Client::try_default().await?;
                Api::<Namespace>::all(client).delete(&name, &DeleteParams::background()).await?;
                Ok::<_, anyhow::Error>(())
            })
        })
        .join();
    }
}

/// One test's world: the stack, a Kubernetes client, a namespace and a running operator: a process
/// ([`Operator`]) or the chart's pods on the node ([`node::ChartOperator`]).
pub struct Fixture<O = Operator> {
    pub stack: Stack,
    pub client: Client,
    pub ns: TestNamespace,
    pub operator: O,
}

impl Fixture<node::ChartOperator> {
    /// Installs the CRDs, makes a namespace and installs the chart there (the operator pods watch only that
    /// namespace and keep their Lease in it); waits until `opts.replicas` pods are Ready.
    pub async fn start_chart(prefix: &str, opts: node::ChartOptions) -> Self {
        let (stack, client, ns) = prepare(prefix).await;
        let operator = node::ChartOperator::install(&client, &ns.name, &opts).expect("helm install of the chart");
        operator.wait_ready(opts.replicas as usize, Duration::from_secs(120)).await;
        Fixture { stack, client, ns, operator }
    }
}

impl Fixture<node::ChartOperator> {
    /// Installs the CRDs, makes a namespace and installs the chart there: one operator pod from the local image that
    /// watches only that namespace, so tests never act on each other's resources. `args` are `tributary run` flags,
    /// given to the pod as the chart values that set them.
    pub async fn start(prefix: &str, args: &[&str]) -> Self {
        Fixture::start_chart(prefix, node::ChartOptions { sets: chart_values(args), ..Default::default() }).await
    }

    /// Like [`Fixture::start`], but the operator watches every namespace (for cross-namespace behaviour).
    pub async fn start_cluster_wide(prefix: &str, args: &[&str]) -> Self {
        let opts = node::ChartOptions { sets: chart_values(args), scoped: false, ..Default::default() };
        Fixture::start_chart(prefix, opts).await
    }
}

/// The chart values for `tributary run` flags (each flag has a key in the operator's configuration file).
fn chart_values(args: &[&str]) -> Vec<String> {
    args.chunks(2)
        .map(|pair| match pair {
            ["--resync-seconds", v] => format!("config.resyncSeconds={v}"),
            ["--group-poll-seconds", v] => format!("config.groupPollSeconds={v}"),
            ["--lag-tick-millis", v] => format!("config.lagTickMillis={v}"),
            ["--status-interval-seconds", v] => format!("config.statusIntervalSeconds={v}"),
            other => panic!("no chart value for the flag {other:?}"),
        })
        .collect()
}

impl Fixture {
    /// Installs the CRDs, makes a namespace and starts the operator as a process (the chart's ServiceAccount token,
    /// see `rbac`) with `args`, watching only that namespace: for what a process shows and a pod does not (two
    /// replicas killed and restarted at will, exit codes).
    pub async fn start_process(prefix: &str, args: &[&str]) -> Fixture {
        let (stack, client, ns) = prepare(prefix).await;
        let mut args: Vec<&str> = args.to_vec();
        args.extend(["--namespace", ns.name.as_str()]);
        let operator = Operator::start(&stack, prefix, &args);
        operator.wait_ready().await;
        Fixture { stack, client, ns, operator }
    }
}

impl Fixture {
    /// Like [`Fixture::start_process`], but the operator watches every namespace (for tests that span two). Tests
    /// run one at a time in `make test`, so it acts on no other test's resources.
    pub async fn start_cluster_wide_process(prefix: &str, args: &[&str]) -> Fixture {
        let (stack, client, ns) = prepare(prefix).await;
        let operator = Operator::start(&stack, prefix, args);
        operator.wait_ready().await;
        Fixture { stack, client, ns, operator }
    }
}

impl<O> Fixture<O> {
    pub fn api<K: Namespaced>(&self) -> Api<K> {
        Api::namespaced(self.client.clone(), &self.ns.name)
    }

    /// Server-side applies a manifest (JSON) in the test namespace and returns the stored object.
    pub async fn apply<K: Namespaced>(&self, manifest: serde_json::Value) -> K {
        apply_in(&self.client, &self.ns.name, manifest).await
    }

    /// Whether Kafka has the topic (an independent client's metadata).
    pub async fn kafka_has(&self, topic: &str) -> bool {
        kafka::describe_topic(&self.stack, &self.stack.admin(), topic).await.expect("describing a topic").is_some()
    }

    /// A KafkaConnection `name` over every node's SCRAM listener as the stack's (super) user, from the Secret
    /// `kafka-{name}`, with `extra` spec keys; returns once it is Ready.
    pub async fn scram_connection(&self, name: &str, extra: serde_json::Value) {
        use serde_json::json;
        let secret = format!("kafka-{name}");
        self.apply::<k8s_openapi::api::core::v1::Secret>(json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": secret},
            "stringData": {"username": self.stack.scram_user, "password": self.stack.scram_password}}))
            .await;
        let mut spec = json!({"bootstrapServers": self.stack.scram_bootstrap.split(',').collect::<Vec<_>>(),
            "sasl": {"mechanism": "SCRAM-SHA-512", "username": {"name": secret, "key": "username"},
                     "password": {"name": secret, "key": "password"}}});
        if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
            spec.extend(extra.clone());
        }
        self.apply::<tributary::api::KafkaConnection>(manifest::tributary("KafkaConnection", name, spec)).await;
        let conns = self.api::<tributary::api::KafkaConnection>();
        crate::wait_condition(&conns, name, "Ready", "True", None, Duration::from_secs(60)).await.unwrap();
    }

    /// A KafkaConnection named `name` to the stack's plaintext listener.
    pub async fn connection(&self, name: &str) -> tributary::api::KafkaConnection {
        self.apply(manifest::kafka_connection(name, &self.stack.bootstrap)).await
    }
}
