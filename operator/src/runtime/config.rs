//! Operator configuration: a YAML file, overridden by flags and environment variables.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use serde::Deserialize;

use crate::api::ConnectionRef;

/// Log output format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// JSON when standard error is not a terminal, text otherwise.
    #[default]
    Auto,
    Json,
    Text,
}

/// Flags of `tributary run`. Each overrides the matching key of the config file.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct RunArgs {
    /// YAML configuration file (see config/operator.yaml).
    #[arg(long, env = "TRIBUTARY_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address for /healthz, /readyz and /metrics.
    #[arg(long, env = "TRIBUTARY_HTTP_ADDR")]
    pub http_addr: Option<SocketAddr>,
    /// Write the address the HTTP server bound to into this file (for `--http-addr` port 0; `tributary probe`
    /// reads it).
    #[arg(long, env = "TRIBUTARY_HTTP_ADDR_FILE")]
    pub http_addr_file: Option<PathBuf>,
    /// Log format.
    #[arg(long, env = "TRIBUTARY_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Default connection as `namespace/name`, used by resources without `connectionRef`.
    #[arg(long, env = "TRIBUTARY_DEFAULT_CONNECTION")]
    pub default_connection: Option<String>,
    /// Seconds between full re-reads of every resource from Kafka.
    #[arg(long, env = "TRIBUTARY_RESYNC_SECONDS")]
    pub resync_seconds: Option<u64>,
    /// Seconds between reconciles of a ConsumerGroup when no lag tick drives it (a safety net: ticks drive it).
    #[arg(long, env = "TRIBUTARY_GROUP_POLL_SECONDS")]
    pub group_poll_seconds: Option<u64>,
    /// Milliseconds between two lag snapshots of a connection's watched groups (its lag tick; at least 100).
    #[arg(long, env = "TRIBUTARY_LAG_TICK_MILLIS")]
    pub lag_tick_millis: Option<u64>,
    /// Seconds between two status writes of a ConsumerGroup whose lag figures alone changed (conditions, scaling
    /// and offset resets are written at once).
    #[arg(long, env = "TRIBUTARY_STATUS_INTERVAL_SECONDS")]
    pub status_interval_seconds: Option<u64>,
    /// Status writes a second, over all ConsumerGroups, for lag figures alone: with more lagging groups than this
    /// budget allows at the status interval, each group's figures are written less often (at least 1).
    #[arg(long, env = "TRIBUTARY_STATUS_FIGURE_WRITES_PER_SECOND")]
    pub status_figure_writes_per_second: Option<u32>,
    /// Watch only this namespace (default: every namespace).
    #[arg(long, env = "TRIBUTARY_NAMESPACE")]
    pub namespace: Option<String>,
    /// Run the controllers only while holding a Lease (for several replicas). `--leader-election=false` turns off
    /// what the file turns on.
    #[arg(long, env = "TRIBUTARY_LEADER_ELECTION", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub leader_election: Option<bool>,
    /// Namespace of the leader Lease (default: POD_NAMESPACE, else `default`).
    #[arg(long, env = "TRIBUTARY_LEASE_NAMESPACE")]
    pub lease_namespace: Option<String>,
    /// Seconds a leader's Lease lasts without renewal (at least 2); a standby takes over after that at worst.
    #[arg(long, env = "TRIBUTARY_LEASE_DURATION_SECONDS")]
    pub lease_duration_seconds: Option<u64>,
}

/// The file form of the configuration.
#[derive(Clone, Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ConfigFile {
    http_addr: Option<SocketAddr>,
    http_addr_file: Option<PathBuf>,
    log_format: Option<LogFormat>,
    default_connection: Option<String>,
    resync_seconds: Option<u64>,
    group_poll_seconds: Option<u64>,
    lag_tick_millis: Option<u64>,
    status_interval_seconds: Option<u64>,
    status_figure_writes_per_second: Option<u32>,
    namespace: Option<String>,
    leader_election: Option<bool>,
    lease_namespace: Option<String>,
    lease_duration_seconds: Option<u64>,
}

/// The resolved configuration.
#[derive(Clone, Debug)]
pub struct OperatorConfig {
    pub http_addr: SocketAddr,
    /// Where to write the bound HTTP address, if anywhere.
    pub http_addr_file: Option<PathBuf>,
    pub log_format: LogFormat,
    /// Used by resources that give no `connectionRef`.
    pub default_connection: Option<ConnectionRef>,
    /// How often every resource is re-read from Kafka even when nothing changed.
    pub resync: Duration,
    /// How often a ConsumerGroup is reconciled when no lag tick drives it (a safety net: the tick drives it).
    pub group_poll: Duration,
    /// Period of each connection's lag tick (default 1 s).
    pub lag_tick: Duration,
    /// Least time between two status writes of a ConsumerGroup for changed lag figures alone (default 10 s).
    pub status_interval: Duration,
    /// Status writes a second over all ConsumerGroups for lag figures alone (default 20).
    pub status_figure_writes_per_second: u32,
    /// The one namespace watched, or every namespace.
    pub namespace: Option<String>,
    /// Leader election, when enabled.
    pub leader_election: Option<LeaderElection>,
}

/// Where the leader Lease lives and how long it lasts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaderElection {
    pub namespace: String,
    pub lease_name: String,
    pub duration_seconds: u64,
    pub grace_seconds: u64,
}

impl OperatorConfig {
    /// `namespace/name` of the connection a resource in `namespace` uses: its own reference, else the default.
    pub fn connection_key(&self, reference: Option<&ConnectionRef>, namespace: &str) -> Option<String> {
        let r = reference.or(self.default_connection.as_ref())?;
        Some(format!("{}/{}", r.namespace.as_deref().unwrap_or(namespace), r.name))
    }

    /// The built-in defaults, without a file or flags.
    pub fn defaults() -> Self {
        OperatorConfig::load(&RunArgs::default()).expect("the defaults are valid")
    }

    /// Reads the file named by `--config` (if any) and applies the flags over it.
    pub fn load(args: &RunArgs) -> anyhow::Result<Self> {
        let file: ConfigFile = match &args.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
                serde_yaml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?
            }
            None => ConfigFile::default(),
        };
        let default_connection =
            args.default_connection.clone().or(file.default_connection).map(|s| parse_connection(&s)).transpose()?;
        Ok(OperatorConfig {
            http_addr: args.http_addr.or(file.http_addr).unwrap_or_else(|| ([127, 0, 0, 1], 8080).into()),
            http_addr_file: args.http_addr_file.clone().or(file.http_addr_file),
            log_format: args.log_format.or(file.log_format).unwrap_or_default(),
            default_connection,
            resync: Duration::from_secs(args.resync_seconds.or(file.resync_seconds).unwrap_or(120).max(1)),
            namespace: args.namespace.clone().or(file.namespace),
            leader_election: args.leader_election.or(file.leader_election).unwrap_or(false).then(|| {
                let duration = args.lease_duration_seconds.or(file.lease_duration_seconds).unwrap_or(15).max(2);
                LeaderElection {
                    namespace: args
                        .lease_namespace
                        .clone()
                        .or(file.lease_namespace.clone())
                        .or_else(|| std::env::var("POD_NAMESPACE").ok())
                        .unwrap_or_else(|| "default".into()),
                    lease_name: "tributary-leader".into(),
                    duration_seconds: duration,
                    grace_seconds: (duration / 3).max(1),
                }
            }),
            group_poll: Duration::from_secs(args.group_poll_seconds.or(file.group_poll_seconds).unwrap_or(5).max(1)),
            lag_tick: Duration::from_millis(args.lag_tick_millis.or(file.lag_tick_millis).unwrap_or(1000).max(100)),
            status_interval: Duration::from_secs(
                args.status_interval_seconds.or(file.status_interval_seconds).unwrap_or(10),
            ),
            status_figure_writes_per_second: args
                .status_figure_writes_per_second
                .or(file.status_figure_writes_per_second)
                .unwrap_or(20)
                .max(1),
        })
    }
}

fn parse_connection(s: &str) -> anyhow::Result<ConnectionRef> {
    match s.split_once('/') {
        Some((ns, name)) if !ns.is_empty() && !name.is_empty() => {
            Ok(ConnectionRef { name: name.to_string(), namespace: Some(ns.to_string()) })
        }
        _ => anyhow::bail!("default connection must be `namespace/name`, got {s:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_file_and_defaults_apply() {
        let dir = std::env::temp_dir().join(format!("tributary-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("operator.yaml");
        std::fs::write(&path, "httpAddr: 127.0.0.1:9000\ndefaultConnection: kafka/main\nresyncSeconds: 30\n").unwrap();
        let args = RunArgs {
            config: Some(path.clone()),
            http_addr: Some("127.0.0.1:9100".parse().unwrap()),
            ..Default::default()
        };
        let cfg = OperatorConfig::load(&args).unwrap();
        assert_eq!(cfg.http_addr.port(), 9100);
        assert_eq!(cfg.resync, Duration::from_secs(30));
        let conn = cfg.default_connection.unwrap();
        assert_eq!((conn.namespace.as_deref(), conn.name.as_str()), (Some("kafka"), "main"));

        std::fs::write(&path, "bogus: 1\n").unwrap();
        let err = OperatorConfig::load(&RunArgs { config: Some(path), ..Default::default() }).unwrap_err();
        assert!(format!("{err:#}").contains("bogus"), "{err:#}");
    }

    #[test]
    fn leader_election_and_lease_duration_come_from_flags_over_the_file() {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            run: RunArgs,
        }
        let dir = std::env::temp_dir().join(format!("tributary-lease-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("operator.yaml");
        std::fs::write(&path, "leaderElection: true\nleaseDurationSeconds: 30\n").unwrap();
        let config = format!("--config={}", path.display());
        let load = |flags: &[&str]| {
            let args = Cli::try_parse_from(["run", config.as_str()].iter().chain(flags)).unwrap().run;
            OperatorConfig::load(&args).unwrap().leader_election.map(|le| (le.duration_seconds, le.grace_seconds))
        };
        assert_eq!(load(&[]), Some((30, 10)), "the file alone");
        assert_eq!(load(&["--lease-duration-seconds", "9"]), Some((9, 3)), "the flag over the file");
        assert_eq!(load(&["--leader-election=false"]), None, "a false flag over a true file");
        assert_eq!(load(&["--leader-election"]), Some((30, 10)), "a bare flag is true");
        std::fs::write(&path, "leaseDurationSeconds: 30\n").unwrap();
        assert_eq!(load(&[]), None, "off unless asked");
        assert_eq!(load(&["--leader-election", "--lease-duration-seconds=1"]), Some((2, 1)), "at least 2 s");
    }

    #[test]
    fn lag_tick_and_status_interval_default_and_come_from_the_file_and_flags() {
        let d = OperatorConfig::defaults();
        assert_eq!((d.lag_tick, d.status_interval), (Duration::from_millis(1000), Duration::from_secs(10)));
        assert_eq!(d.status_figure_writes_per_second, 20);
        let dir = std::env::temp_dir().join(format!("tributary-tick-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("operator.yaml");
        std::fs::write(&path, "lagTickMillis: 500\nstatusIntervalSeconds: 30\nstatusFigureWritesPerSecond: 5\n")
            .unwrap();
        let file = OperatorConfig::load(&RunArgs { config: Some(path.clone()), ..Default::default() }).unwrap();
        assert_eq!((file.lag_tick, file.status_interval), (Duration::from_millis(500), Duration::from_secs(30)));
        assert_eq!(file.status_figure_writes_per_second, 5);
        let zero =
            RunArgs { config: Some(path.clone()), status_figure_writes_per_second: Some(0), ..Default::default() };
        assert_eq!(OperatorConfig::load(&zero).unwrap().status_figure_writes_per_second, 1, "at least 1");
        let args = RunArgs { config: Some(path), lag_tick_millis: Some(5), ..Default::default() };
        assert_eq!(OperatorConfig::load(&args).unwrap().lag_tick, Duration::from_millis(100), "at least 100 ms");
    }

    #[test]
    fn bad_default_connection_is_rejected() {
        let args = RunArgs { default_connection: Some("main".into()), ..Default::default() };
        assert!(OperatorConfig::load(&args).is_err());
    }
}
