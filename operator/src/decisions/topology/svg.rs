//! The picture: each namespace a band with its name, each connected part of it laid out on its own by layout-rs
//! (a Graphviz-style layered layout in Rust, so the operator's image needs no Graphviz) and the parts packed in
//! rows. Laying out parts apart keeps a large map fast (layered layout grows much faster than linearly with the
//! nodes of one graph) and readable (no edge crosses between unrelated parts).

use std::collections::{BTreeMap, BTreeSet};

use layout::backends::svg::SVGWriter;
use layout::gv::{DotParser, GraphBuilder};

use super::dot::body;
use super::draw::{Drawing, drawing};
use super::model::Topology;

/// Where rows wrap.
const MAX_ROW_WIDTH: f64 = 1800.0;
const GAP: f64 = 24.0;
const HEADING: f64 = 36.0;

/// The connected parts of a namespace's drawing (by its edges), largest first.
fn parts(d: &Drawing) -> Vec<Drawing> {
    let mut parent: BTreeMap<&str, &str> = d.nodes.iter().map(|n| (n.id.as_str(), n.id.as_str())).collect();
    fn root<'a>(parent: &BTreeMap<&'a str, &'a str>, mut x: &'a str) -> &'a str {
        while parent[x] != x {
            x = parent[x];
        }
        x
    }
    for e in &d.edges {
        if parent.contains_key(e.from.as_str()) && parent.contains_key(e.to.as_str()) {
            let (a, b) = (root(&parent, &e.from), root(&parent, &e.to));
            if a != b {
                parent.insert(a.max(b), a.min(b));
            }
        }
    }
    let mut groups: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for n in &d.nodes {
        groups.entry(root(&parent, &n.id)).or_default().insert(n.id.as_str());
    }
    let mut out: Vec<Drawing> = groups
        .values()
        .map(|ids| Drawing {
            nodes: d.nodes.iter().filter(|n| ids.contains(n.id.as_str())).cloned().collect(),
            edges: d.edges.iter().filter(|e| ids.contains(e.from.as_str())).cloned().collect(),
        })
        .collect();
    out.sort_by_key(|p| std::cmp::Reverse(p.nodes.len()));
    out
}

/// One part laid out: its SVG document, width and height.
fn lay_out(part: &Drawing) -> (String, f64, f64) {
    let dot = format!("digraph part {{\n  rankdir=LR;\n{}}}\n", body(part, "  "));
    let mut parser = DotParser::new(&dot);
    let Ok(tree) = parser.process() else {
        // Our DOT always parses; should it not, the part is drawn as a note rather than lost.
        let names: Vec<String> = part.nodes.iter().map(|n| n.lines.join(" ")).collect();
        return note(&names.join("; "));
    };
    let mut builder = GraphBuilder::new();
    builder.visit_graph(&tree);
    let mut graph = builder.get();
    let mut writer = SVGWriter::new();
    graph.do_it(false, false, false, &mut writer);
    let svg = writer.finalize();
    let (w, h) = size(&svg);
    (svg, w, h)
}

fn note(text: &str) -> (String, f64, f64) {
    let svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"600\" height=\"30\"><text x=\"4\" y=\"20\">{}</text></svg>",
        escape(text)
    );
    (svg, 600.0, 30.0)
}

/// The `width` and `height` of an SVG document's root element.
fn size(svg: &str) -> (f64, f64) {
    let attr = |name: &str| -> f64 {
        let key = format!(" {name}=\"");
        svg.find(&key)
            .and_then(|i| svg[i + key.len()..].split('"').next())
            .and_then(|v| v.trim_end_matches("px").parse().ok())
            .unwrap_or(100.0)
    };
    (attr("width"), attr("height"))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Lays out every part, on as many threads as the machine has cores (parts are independent), keeping their order.
fn lay_out_all(parts: &[Drawing]) -> Vec<(String, f64, f64)> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(parts.len().max(1));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut out: Vec<Option<(String, f64, f64)>> = vec![None; parts.len()];
    let done = std::sync::Mutex::new(&mut out);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(part) = parts.get(i) else { break };
                    let laid = lay_out(part);
                    if let Ok(mut slots) = done.lock() {
                        slots[i] = Some(laid);
                    }
                }
            });
        }
    });
    out.into_iter().map(|p| p.unwrap_or_else(|| note("(not laid out)"))).collect()
}

/// The whole map as one SVG document.
pub fn svg(t: &Topology) -> String {
    let d = drawing(t);
    // Every part of every namespace, laid out at once; then placed band by band.
    let bands: Vec<(&String, Vec<Drawing>)> = t.namespaces.keys().map(|ns| (ns, parts(&d.namespace(ns)))).collect();
    let all: Vec<Drawing> = bands.iter().flat_map(|(_, parts)| parts.iter().cloned()).collect();
    let mut laid = lay_out_all(&all).into_iter();
    let mut body = String::new();
    let (mut y, mut width) = (0.0_f64, 400.0_f64);
    for (ns, parts) in &bands {
        body.push_str(&format!(
            "<text x=\"8\" y=\"{}\" font-family=\"Helvetica\" font-size=\"20\" font-weight=\"bold\" class=\"namespace\">namespace {}</text>\n",
            y + 24.0,
            escape(ns)
        ));
        y += HEADING;
        let (mut x, mut row_height) = (0.0_f64, 0.0_f64);
        for _ in parts {
            let Some((svg, w, h)) = laid.next() else { break };
            if x > 0.0 && x + w > MAX_ROW_WIDTH {
                y += row_height + GAP;
                (x, row_height) = (0.0, 0.0);
            }
            let inner = svg.trim_start_matches(|c| c != '<').trim_start();
            let inner =
                inner.strip_prefix("<?xml").map_or(inner, |rest| rest.split_once("?>").map_or(rest, |(_, r)| r));
            // A nested <svg> placed at (x, y): its own coordinates stay as the layout made them.
            body.push_str(&inner.trim_start().replacen("<svg ", &format!("<svg x=\"{x}\" y=\"{y}\" "), 1));
            body.push('\n');
            x += w + GAP;
            row_height = row_height.max(h);
            width = width.max(x);
        }
        y += row_height + GAP;
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\">\n<title>Tributary topology</title>\n{body}</svg>\n",
        w = width.ceil(),
        h = y.ceil()
    )
}
