//! Graphviz DOT: one cluster per namespace, left to right, unhealthy nodes filled and worded.

use super::draw::{Drawing, Kind, Node, drawing};
use super::model::Health;
use super::model::Topology;

/// Fill and border colours by health (the word in the label says the same for readers without colour).
pub(crate) fn colours(health: &Health) -> (&'static str, &'static str) {
    match health {
        Health::Ok => ("#e8f5e9", "#2e7d32"),
        Health::Warn(_) => ("#fff3e0", "#e65100"),
        Health::Bad(_) => ("#ffebee", "#c62828"),
    }
}

/// A DOT string literal.
pub(crate) fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n"))
}

pub(crate) fn node_line(n: &Node) -> String {
    let (fill, border) = colours(&n.health);
    let shape = match n.kind {
        Kind::App => "box",
        Kind::Topic => "box",
        Kind::Group => "box",
    };
    let width = if n.health == Health::Ok { 1 } else { 3 };
    format!(
        "{} [shape={shape} style=filled fillcolor={} color={} penwidth={width} label={}];",
        n.id,
        quote(fill),
        quote(border),
        quote(&n.lines.join("\n"))
    )
}

/// The edges and nodes of `d` as DOT statements.
pub(crate) fn body(d: &Drawing, indent: &str) -> String {
    let mut out = String::new();
    for n in &d.nodes {
        out.push_str(&format!("{indent}{}\n", node_line(n)));
    }
    for e in &d.edges {
        let style = if e.dashed { " style=dashed" } else { "" };
        out.push_str(&format!("{indent}{} -> {} [label={}{style}];\n", e.from, e.to, quote(&e.label)));
    }
    out
}

/// The whole map as DOT.
pub fn dot(t: &Topology) -> String {
    let d = drawing(t);
    let mut out = String::from("digraph tributary {\n  rankdir=LR;\n  node [fontname=\"Helvetica\"];\n");
    for (i, ns) in t.namespaces.keys().enumerate() {
        out.push_str(&format!("  subgraph cluster_{i} {{\n    label={};\n", quote(&format!("namespace {ns}"))));
        out.push_str(&body(&d.namespace(ns), "    "));
        out.push_str("  }\n");
    }
    out.push_str("}\n");
    out
}
