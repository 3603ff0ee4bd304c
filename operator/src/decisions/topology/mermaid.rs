//! Mermaid flowchart: one subgraph per namespace, unhealthy nodes styled and worded.

use super::draw::drawing;
use super::model::Health;
use super::model::Topology;

/// Mermaid keeps a label in `"…"`; a `"` inside is written as its entity.
fn label(lines: &[String]) -> String {
    let escaped: Vec<String> = lines.iter().map(|l| l.replace('"', "#quot;")).collect();
    format!("\"{}\"", escaped.join("<br/>"))
}

/// The whole map as a Mermaid `flowchart LR`.
pub fn mermaid(t: &Topology) -> String {
    let d = drawing(t);
    let mut out = String::from("flowchart LR\n");
    out.push_str("  classDef ok fill:#e8f5e9,stroke:#2e7d32\n");
    out.push_str("  classDef warn fill:#fff3e0,stroke:#e65100,stroke-width:3px\n");
    out.push_str("  classDef bad fill:#ffebee,stroke:#c62828,stroke-width:3px\n");
    for (i, ns) in t.namespaces.keys().enumerate() {
        let part = d.namespace(ns);
        out.push_str(&format!("  subgraph ns{i}[\"namespace {ns}\"]\n"));
        for n in &part.nodes {
            let class = match n.health {
                Health::Ok => "ok",
                Health::Warn(_) => "warn",
                Health::Bad(_) => "bad",
            };
            out.push_str(&format!("    {}[{}]:::{class}\n", n.id, label(&n.lines)));
        }
        out.push_str("  end\n");
        for e in &part.edges {
            let arrow = if e.dashed { "-.->" } else { "-->" };
            out.push_str(&format!("  {} {arrow}|{}| {}\n", e.from, e.label, e.to));
        }
    }
    out
}
