//! `crds/` and the Helm chart's CRDs must equal what `tributary crds` generates from the Rust types.

use std::path::Path;

#[test]
fn committed_crds_match_the_rust_types() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut dirs = vec!["crds"];
    if root.join("charts/tributary/Chart.yaml").exists() {
        dirs.push("charts/tributary/crds");
    }
    let mut stale = Vec::new();
    for (file, crd) in tributary::api::all_crds() {
        let generated = tributary::api::crd_yaml(&crd);
        for dir in &dirs {
            let path = root.join(dir).join(file);
            if std::fs::read_to_string(&path).ok().as_deref() != Some(generated.as_str()) {
                stale.push(path.display().to_string());
            }
        }
    }
    assert!(stale.is_empty(), "out of date (run `make crds`): {stale:?}");
}
