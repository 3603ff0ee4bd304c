//! The operator under test runs with the chart's ServiceAccount, not as cluster admin: the chart's RBAC objects
//! are rendered with helm and applied once per stack, a token is minted with the TokenRequest API
//! (`kubectl create token`), and the operator gets a kubeconfig holding only that token. Every e2e test therefore
//! proves that the chart grants enough.

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
    let rendered = run(Command::new("helm").args(["template", RELEASE]).arg(repo.join("charts/tributary")).args([
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

/// A kubeconfig for the chart's ServiceAccount, created once per stack (and reused by later tests); the chart's RBAC
/// is applied again when it changed since it was last applied.
pub fn operator_kubeconfig(admin_kubeconfig: &Path, stack_dir: &Path) -> anyhow::Result<PathBuf> {
    let path = stack_dir.join("operator-sa.kubeconfig");
    // The RBAC last applied to this stack: applied again whenever the chart's differs (a stack outlives a change
    // of the chart), so a test never runs with an older chart's grants.
    let applied = stack_dir.join("operator-sa.rbac.yaml");
    let manifests = chart_rbac_manifests(&crate::repo_root())?;
    let current = std::fs::read_to_string(&applied).ok();
    if path.exists() && current.as_deref() == Some(manifests.as_str()) {
        return Ok(path);
    }
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
    let tmp = stack_dir.join(format!("operator-sa.rbac.yaml.{}", std::process::id()));
    std::fs::write(&tmp, &manifests)?;
    std::fs::rename(&tmp, &applied)?;
    if path.exists() {
        return Ok(path);
    }
    let token = run(&mut kubectl(&["create", "token", RELEASE, "-n", OPERATOR_NAMESPACE, "--duration", "48h"]))?;
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
    let tmp = stack_dir.join(format!("operator-sa.kubeconfig.{}", std::process::id()));
    std::fs::write(&tmp, config)?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}
