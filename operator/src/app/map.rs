//! The map, served and printed: `/topology` (SVG), `/topology.json` (the model), `/topology.asyncapi.json` and
//! `/topology.html` (a page that redraws it every few seconds) on the operator's HTTP port, all from the caches,
//! never asking Kafka; and `tributary topology`, which lists the resources once and prints any format.

use std::path::PathBuf;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use clap::ValueEnum;

use crate::controllers::topology::{TopologyView, list};
use crate::decisions::topology::{self as map, Topology};

/// The map's routes, drawn from `view` at each request.
pub fn routes(view: TopologyView) -> Router {
    Router::new()
        .route("/topology", get(svg))
        .route("/topology.svg", get(svg))
        .route("/topology.json", get(json))
        .route("/topology.asyncapi.json", get(asyncapi))
        .route("/topology.html", get(page))
        .with_state(view)
}

async fn svg(State(view): State<TopologyView>) -> impl IntoResponse {
    let t = view.snapshot();
    let body = tokio::task::spawn_blocking(move || map::svg(&t)).await.unwrap_or_default();
    ([(header::CONTENT_TYPE, "image/svg+xml"), (header::CACHE_CONTROL, "no-store")], body)
}

async fn json(State(view): State<TopologyView>) -> impl IntoResponse {
    let body = serde_json::to_string(&view.snapshot()).unwrap_or_default();
    ([(header::CONTENT_TYPE, "application/json"), (header::CACHE_CONTROL, "no-store")], body)
}

async fn asyncapi(State(view): State<TopologyView>) -> impl IntoResponse {
    let body = serde_json::to_string_pretty(&map::asyncapi(&view.snapshot())).unwrap_or_default();
    ([(header::CONTENT_TYPE, "application/json"), (header::CACHE_CONTROL, "no-store")], body)
}

async fn page() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], PAGE)
}

/// The live page: the SVG, and beside it every node that needs a look, in words, each marked with
/// `data-kind`, `data-name` and `data-health` (so a reader, a screen reader or a test finds them without colour).
const PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Tributary topology</title>
<style>
body{font-family:Helvetica,Arial,sans-serif;margin:1em}
#attention li[data-health=warn]{color:#e65100} #attention li[data-health=bad]{color:#c62828;font-weight:bold}
#map svg{max-width:100%;height:auto;border:1px solid #ddd}
</style></head>
<body>
<h1>Tributary topology</h1>
<p id="updated">loading…</p>
<h2>Needs a look</h2>
<ul id="attention"></ul>
<div id="map"></div>
<script>
function item(kind, ns, name, health) {
  const li = document.createElement('li');
  li.dataset.kind = kind; li.dataset.name = ns + '/' + name; li.dataset.health = health.level;
  li.textContent = kind + ' ' + ns + '/' + name + ': ' + health.word;
  return li;
}
async function refresh() {
  try {
    const [svg, model] = await Promise.all([
      fetch('/topology', {cache: 'no-store'}).then(r => r.text()),
      fetch('/topology.json', {cache: 'no-store'}).then(r => r.json())]);
    document.getElementById('map').innerHTML = svg.replace(/^<\?xml[^>]*>/, '');
    const list = document.getElementById('attention');
    list.replaceChildren();
    for (const [ns, space] of Object.entries(model.namespaces)) {
      for (const a of space.apps) if (a.health.level !== 'ok') list.append(item('app', ns, a.name, a.health));
      for (const [name, t] of Object.entries(space.topics)) if (t.health.level !== 'ok') list.append(item('topic', ns, name, t.health));
      for (const g of space.groups) if (g.health.level !== 'ok') list.append(item('group', ns, g.name, g.health));
      for (const d of space.dlqs) if (d.health.level !== 'ok') list.append(item('dlq', ns, d.name, d.health));
    }
    document.getElementById('updated').textContent = 'updated ' + new Date().toISOString();
  } catch (e) {
    document.getElementById('updated').textContent = 'could not load the map: ' + e;
  }
}
refresh();
setInterval(refresh, 5000);
</script>
</body></html>
"#;

/// Picture formats of `tributary topology`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Svg,
    Dot,
    Mermaid,
    /// AsyncAPI 3.0, YAML.
    Asyncapi,
    /// The model, JSON.
    Json,
}

/// `tributary topology`: draw the event topology of some namespaces.
#[derive(clap::Args, Debug)]
pub struct TopologyArgs {
    /// Namespaces to draw (repeat or comma-separate). Default: the kubeconfig's namespace.
    #[arg(short, long, value_delimiter = ',')]
    pub namespace: Vec<String>,
    /// Draw every namespace.
    #[arg(short = 'A', long, conflicts_with = "namespace")]
    pub all_namespaces: bool,
    #[arg(short, long, value_enum, default_value = "svg")]
    pub format: Format,
    /// Write here instead of standard output.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// The operator's default connection (`namespace/name`), for resources without `connectionRef`.
    #[arg(long)]
    pub default_connection: Option<String>,
}

/// The map in `format`.
pub fn render(t: &Topology, format: Format) -> anyhow::Result<String> {
    Ok(match format {
        Format::Svg => map::svg(t),
        Format::Dot => map::dot(t),
        Format::Mermaid => map::mermaid(t),
        Format::Asyncapi => serde_yaml::to_string(&map::asyncapi(t))?,
        Format::Json => serde_json::to_string_pretty(t)?,
    })
}

/// Runs `tributary topology`.
pub async fn topology_command(args: TopologyArgs) -> anyhow::Result<()> {
    let client = kube::Client::try_default().await?;
    let namespaces = match (args.all_namespaces, args.namespace.is_empty()) {
        (true, _) => vec![],
        (false, false) => args.namespace.clone(),
        (false, true) => vec![client.default_namespace().to_string()],
    };
    let t = list(&client, &namespaces, args.default_connection.as_deref()).await?;
    let text = render(&t, args.format)?;
    match &args.output {
        Some(path) => std::fs::write(path, text)?,
        None => print!("{text}"),
    }
    Ok(())
}
