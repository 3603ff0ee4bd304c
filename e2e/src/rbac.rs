//! The operator under test runs with the chart's ServiceAccount, not as cluster admin: the chart's RBAC objects
//! are rendered with helm and applied once per stack and version of the chart's RBAC, a token is minted with the
//! TokenRequest API (`kubectl create token`), and the operator gets a kubeconfig holding only that token. Every e2e
//! test therefore proves that the chart grants enough.
//!
//! The release is named after a fingerprint of the rendered RBAC (`tributary-<hash>`): a stack that outlives a change
//! of the chart gets the new grants under new names, and two checkouts with different charts sharing one stack each
//! run with their own chart's grants instead of overwriting each other's ClusterRole.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context as _, bail};

/// Namespace of the chart's ServiceAccount and Lease.
pub const OPERATOR_NAMESPACE: &str = "tributary-system";
/// Release name used for rendering (the ServiceAccount is named after it).
const RELEASE: &str = "tributary";

fn run(cmd: &mut Command) -> anyhow::Result<String> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The RBAC documents of the chart, rendered for the e2e release.
pub fn chart_rbac_manifests(repo: &Path) -> anyhow::Result<String> {
    chart_rbac_as(repo, RELEASE)
}

/// The RBAC documents of the chart, rendered as release `release`.
fn chart_rbac_as(repo: &Path, release: &str) -> anyhow::Result<String> {
    let rendered = run(Command::new("helm").args(["template", release]).arg(repo.join("charts/tributary")).args([
        "--namespace",
        OPERATOR_NAMESPACE,
        "--skip-crds",
    ]))?;
    let kinds = ["ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"];
    Ok(rendered
        .split("\n---")
        .filter(|doc| kinds.iter().any(|k| doc.lines().any(|l| l.trim() == format!("kind: {k}"))))
        .map(|doc| format!("---\n{}\n", doc.trim_start_matches('\n')))
        .collect())
}

/// FNV-1a, 64 bits: a stable fingerprint of the rendered RBAC.
fn fingerprint(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// A kubeconfig for the chart's ServiceAccount, created once per stack and chart RBAC (and reused by later tests).
pub fn operator_kubeconfig(admin_kubeconfig: &Path, stack_dir: &Path) -> anyhow::Result<PathBuf> {
    let repo = crate::repo_root();
    let release = format!("{RELEASE}-{:012x}", fingerprint(&chart_rbac_manifests(&repo)?) >> 16);
    let path = stack_dir.join(format!("operator-sa-{release}.kubeconfig"));
    if path.exists() {
        return Ok(path);
    }
    let manifests = chart_rbac_as(&repo, &release)?;
    let kubectl = |args: &[&str]| {
        let mut c = Command::new("kubectl");
        c.env("KUBECONFIG", admin_kubeconfig).args(args);
        c
    };
    let ns_yaml = format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {OPERATOR_NAMESPACE}\n");
    for doc in [ns_yaml, manifests.clone()] {
        let mut child = kubectl(&["apply", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        use std::io::Write;
        child.stdin.take().context("stdin")?.write_all(doc.as_bytes())?;
        let out = child.wait_with_output()?;
        if !out.status.success() {
            bail!("kubectl apply of the chart's RBAC failed: {}", String::from_utf8_lossy(&out.stderr));
        }
    }
    let token = run(&mut kubectl(&["create", "token", &release, "-n", OPERATOR_NAMESPACE, "--duration", "48h"]))?;
    let server = run(&mut kubectl(&["config", "view", "--minify", "-o", "jsonpath={.clusters[0].cluster.server}"]))?;
    let ca = run(&mut kubectl(&[
        "config",
        "view",
        "--minify",
        "-o",
        "jsonpath={.clusters[0].cluster.certificate-authority}",
    ]))?;
    let config = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: e2e\n  cluster:\n    server: {server}\n    certificate-authority: {ca}\nusers:\n- name: operator\n  user:\n    token: {}\ncontexts:\n- name: operator\n  context: {{cluster: e2e, user: operator, namespace: {OPERATOR_NAMESPACE}}}\ncurrent-context: operator\n",
        token.trim()
    );
    let tmp = stack_dir.join(format!("operator-sa-{release}.kubeconfig.{}", std::process::id()));
    std::fs::write(&tmp, config)?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}
