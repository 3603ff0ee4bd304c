//! The `tributary` binary: a thin command line over the library.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "tributary", version, about = "Kafka event topology as Kubernetes resources")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the operator.
    Run(tributary::runtime::config::RunArgs),
    /// GET a path of a running operator's HTTP server; exit 0 on a 2xx answer (an exec probe).
    Probe {
        /// The server's address.
        #[arg(long)]
        addr: Option<std::net::SocketAddr>,
        /// A file holding the server's address (`run --http-addr-file`).
        #[arg(long, conflicts_with = "addr")]
        addr_file: Option<PathBuf>,
        /// The path to GET.
        #[arg(default_value = "/readyz")]
        path: String,
    },
    /// Draw the event topology of some namespaces: SVG, DOT, Mermaid, AsyncAPI or JSON.
    Topology(tributary::app::map::TopologyArgs),
    /// Print every CustomResourceDefinition as YAML, or write one file per kind into a folder.
    Crds {
        /// Write `<plural>.yaml` files into this folder instead of printing.
        #[arg(long)]
        out_dir: Option<PathBuf>,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Crds { out_dir } => print_crds(out_dir),
        Command::Probe { addr, addr_file, path } => tributary::runtime::http::probe(addr, addr_file.as_deref(), &path),
        Command::Topology(args) => {
            let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            rt.block_on(tributary::app::map::topology_command(args))
        }
        Command::Run(args) => {
            let config = tributary::runtime::config::OperatorConfig::load(&args)?;
            tributary::runtime::telemetry::init(config.log_format);
            // Before the runtime's threads start: see runtime::malloc.
            let one_arena = tributary::runtime::malloc::one_arena();
            tracing::debug!(one_arena, "malloc arenas");
            let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            rt.block_on(tributary::app::run(config))
        }
    }
}

fn print_crds(out_dir: Option<PathBuf>) -> anyhow::Result<()> {
    for (file, crd) in tributary::api::all_crds() {
        let yaml = tributary::api::crd_yaml(&crd);
        match &out_dir {
            Some(dir) => std::fs::write(dir.join(file), yaml)?,
            None => print!("{yaml}"),
        }
    }
    Ok(())
}
