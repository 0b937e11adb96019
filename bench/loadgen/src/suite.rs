//! The suite: starts each server in turn, drives loadgen worker processes through every
//! scenario, measures the server from /proc, prints one markdown table and optionally
//! writes docs/benchmarks.md. Exits non-zero when a server fails to start or to honour the
//! contract, a message is lost or duplicated, or a client cannot connect.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    io::{BufRead, BufReader, Write},
    net::SocketAddr,
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Child, ChildStdin, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use hdrhistogram::Histogram;
use serde_json::{json, Value};

use crate::{
    client::{Conn, Incoming, Proto},
    util::{
        cpu_seconds, hist_add_json, new_hist, now_us, peak_rss_kib, raise_nofile, rss_kib,
        thread_cpu_seconds,
    },
    worker::WorkerCfg,
};

// ---------------------------------------------------------------------------------------
// Options and sizes

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerKind {
    Realtime,
    Socketioxide,
    Node,
    /// realtime run a second time in the jitter scenario, with connection state recovery
    /// off (its `Realtime` run has it on): the cost of recovery is the ratio of the two.
    RealtimeNoRecovery,
}

impl ServerKind {
    fn name(self) -> &'static str {
        match self {
            ServerKind::Realtime => "realtime",
            ServerKind::Socketioxide => "socketioxide",
            ServerKind::Node => "node",
            ServerKind::RealtimeNoRecovery => "realtime-recovery-off",
        }
    }
    /// The column header of the jitter table, which says who recovers.
    fn jitter_header(self) -> &'static str {
        match self {
            ServerKind::Realtime => "realtime, recovery on",
            ServerKind::RealtimeNoRecovery => "realtime, recovery off",
            ServerKind::Socketioxide => "socketioxide (no recovery)",
            ServerKind::Node => "node, recovery on",
        }
    }
    /// Whether this server runs the jitter scenario with connection state recovery on.
    fn jitter_recovery(self) -> bool {
        matches!(self, ServerKind::Realtime | ServerKind::Node)
    }
    fn parse(s: &str) -> Option<ServerKind> {
        match s {
            "realtime" => Some(ServerKind::Realtime),
            "socketioxide" => Some(ServerKind::Socketioxide),
            "node" => Some(ServerKind::Node),
            _ => None,
        }
    }
}

const SCENARIOS: [&str; 7] = [
    "idle", "fanout", "cluster", "rate", "echo", "storm", "jitter",
];

/// The jitter scenario's sections start so; its rows make a table of their own.
const JITTER: &str = "jitter";

/// The Redis of the cluster scenario when neither `--redis` nor `REDIS_URL` names one.
const DEFAULT_REDIS: &str = "redis://127.0.0.1:6379";

#[derive(Debug, Clone)]
pub struct Opts {
    pub smoke: bool,
    pub write: bool,
    pub servers: Vec<ServerKind>,
    pub scenarios: Vec<String>,
    pub per_process: usize,
    pub sources: u8,
    pub threads: usize,
    pub rate: Option<u64>,
    /// Runs of every scenario per server (servers interleaved per run); the table shows
    /// the median and the spread.
    pub repeat: Option<usize>,
    /// Emits of the ack-paced fan-out to the small and the large room.
    pub fanout_emits: Option<[u64; 2]>,
    /// Fixed-rate fan-out: latency recorded on one receiver in N.
    pub latency_every: usize,
    /// Seconds the suite may spend in all waiting for a quiet machine and re-running runs
    /// that other work disturbed.
    pub patience: Option<u64>,
    pub note: Option<String>,
    /// The Redis the cluster scenario's nodes share (`--redis`, else `REDIS_URL`, else
    /// [`DEFAULT_REDIS`]).
    pub redis: String,
    /// Jitter: clients, seconds of stream, ticks per second, cuts per client.
    pub jitter_clients: Option<usize>,
    pub jitter_seconds: Option<f64>,
    pub jitter_rate: Option<u64>,
    pub jitter_cuts: Option<u32>,
    /// The arguments as given, for the report when not run through `bench/run`.
    pub raw: Vec<String>,
}

const USAGE: &str =
    "usage: bench/run [--smoke] [--write] [--repeat N] [--servers realtime,socketioxide,node]
                 [--scenarios idle,fanout,cluster,rate,echo,storm,jitter]
                 [--fanout-emits SMALL,LARGE] [--rate DELIVERIES_PER_S] [--latency-every N]
                 [--jitter-clients N] [--jitter-seconds S] [--jitter-rate TICKS_PER_S]
                 [--jitter-cuts N] [--patience SECONDS] [--redis URL] [--per-process N]
                 [--sources N] [--threads N] [--note TEXT]";

impl Opts {
    pub fn parse(args: &[String]) -> Result<Opts, String> {
        let mut o = Opts {
            smoke: false,
            write: false,
            servers: vec![
                ServerKind::Realtime,
                ServerKind::Socketioxide,
                ServerKind::Node,
            ],
            scenarios: SCENARIOS.iter().map(|s| s.to_string()).collect(),
            per_process: 10_000,
            sources: 16,
            threads: 2,
            rate: None,
            repeat: None,
            fanout_emits: None,
            latency_every: 1,
            patience: None,
            note: None,
            redis: std::env::var("REDIS_URL")
                .ok()
                .filter(|u| !u.is_empty())
                .unwrap_or_else(|| DEFAULT_REDIS.to_owned()),
            jitter_clients: None,
            jitter_seconds: None,
            jitter_rate: None,
            jitter_cuts: None,
            raw: args.to_vec(),
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut val = |name: &str| {
                it.next()
                    .cloned()
                    .ok_or_else(|| format!("{name} needs a value\n{USAGE}"))
            };
            match a.as_str() {
                "--smoke" => o.smoke = true,
                "--write" => o.write = true,
                "--servers" => {
                    o.servers = val("--servers")?
                        .split(',')
                        .map(|s| ServerKind::parse(s.trim()).ok_or(format!("unknown server {s}")))
                        .collect::<Result<_, _>>()?
                }
                "--scenarios" => {
                    o.scenarios = val("--scenarios")?
                        .split(',')
                        .map(|s| s.trim().to_owned())
                        .collect();
                    if let Some(bad) = o
                        .scenarios
                        .iter()
                        .find(|s| !SCENARIOS.contains(&s.as_str()))
                    {
                        return Err(format!("unknown scenario {bad}; known: {SCENARIOS:?}"));
                    }
                }
                "--per-process" => o.per_process = num(&val("--per-process")?)?,
                "--sources" => o.sources = num::<u8>(&val("--sources")?)?.clamp(1, 250),
                "--threads" => o.threads = num(&val("--threads")?)?,
                "--rate" => o.rate = Some(num(&val("--rate")?)?),
                "--repeat" => o.repeat = Some(num::<usize>(&val("--repeat")?)?.max(1)),
                "--fanout-emits" => {
                    let v = val("--fanout-emits")?;
                    let n: Vec<u64> = v
                        .split(',')
                        .map(|x| num(x.trim()))
                        .collect::<Result<_, _>>()?;
                    match n[..] {
                        [a, b] if a > 0 && b > 0 => o.fanout_emits = Some([a, b]),
                        _ => {
                            return Err(format!(
                                "--fanout-emits wants two positive counts, got {v}"
                            ))
                        }
                    }
                }
                "--patience" => o.patience = Some(num(&val("--patience")?)?),
                "--latency-every" => {
                    o.latency_every = num::<usize>(&val("--latency-every")?)?.max(1)
                }
                "--note" => o.note = Some(val("--note")?),
                "--jitter-clients" => {
                    o.jitter_clients = Some(num::<usize>(&val("--jitter-clients")?)?.max(1))
                }
                "--jitter-seconds" => {
                    let v: f64 = num(&val("--jitter-seconds")?)?;
                    if v.is_nan() || v < 2.0 {
                        return Err(format!("--jitter-seconds wants 2 or more, got {v}"));
                    }
                    o.jitter_seconds = Some(v);
                }
                "--jitter-rate" => {
                    o.jitter_rate = Some(num::<u64>(&val("--jitter-rate")?)?.clamp(1, 1000))
                }
                "--jitter-cuts" => o.jitter_cuts = Some(num(&val("--jitter-cuts")?)?),
                "--redis" => o.redis = val("--redis")?,
                "-h" | "--help" => return Err(USAGE.to_owned()),
                other => return Err(format!("unknown option {other}\n{USAGE}")),
            }
        }
        Ok(o)
    }
    fn has(&self, scenario: &str) -> bool {
        self.scenarios.iter().any(|s| s == scenario)
    }
    /// The time budget for quiet-waiting and re-runs: 10 min in full mode, none with
    /// `--smoke`.
    pub fn patience(&self) -> Duration {
        Duration::from_secs(self.patience.unwrap_or(if self.smoke { 0 } else { 600 }))
    }
    /// Runs per server of every scenario: 3 in full mode, 1 with `--smoke`.
    pub fn repeat(&self) -> usize {
        self.repeat.unwrap_or(if self.smoke { 1 } else { 3 })
    }
}

fn num<T: std::str::FromStr>(s: &str) -> Result<T, String> {
    s.parse().map_err(|_| format!("not a number: {s}"))
}

/// Client counts and message counts of one run (full or smoke).
#[derive(Debug, Clone)]
struct Sizes {
    idle: [usize; 2],
    idle_plain: usize,
    settle: Duration,
    fanout: [(usize, u64); 2],
    /// The cluster fan-out: receivers (split evenly over the two nodes) and emits; the
    /// small fan-out's by default.
    cluster: (usize, u64),
    senders: usize,
    rate_rooms: [usize; 2],
    rate: u64,
    rate_seconds: f64,
    /// Loadgen processes the fixed-rate receivers are spread over (at least).
    rate_procs: usize,
    echo_clients: usize,
    echo_count: u64,
    storm: usize,
    storm_concurrency: usize,
    reconnect_delay_ms: u64,
    reconnect_bound: Duration,
    /// How long receivers may still wait for deliveries after the last emit was acked.
    collect_timeout: Duration,
    jitter: JitterSizes,
}

/// The jitter scenario: `clients` in one room receive a stream of `rate` ticks per second
/// for `seconds`, and each has its connection cut `cuts` times, at instants drawn
/// uniformly from `warmup_ms` after the start to the moment that leaves room for the
/// longest pause and a reconnect before the stream ends; it comes back after a pause drawn
/// uniformly in `pause_ms`.
#[derive(Debug, Clone)]
struct JitterSizes {
    clients: usize,
    rate: u64,
    seconds: f64,
    cuts: u32,
    pause_ms: [u64; 2],
    warmup_ms: u64,
    /// How long clients may wait for the end of the stream after the last emit was acked.
    end_timeout: Duration,
    /// Pause before the server's memory is read (before the clients, and once they joined).
    settle: Duration,
}

impl JitterSizes {
    fn emits(&self) -> u64 {
        (self.rate as f64 * self.seconds).round().max(1.0) as u64
    }
    fn interval_us(&self) -> u64 {
        1_000_000 / self.rate.max(1)
    }
    /// The window the cut instants are drawn from, in ms after the start.
    fn cut_window_ms(&self) -> (u64, u64) {
        let stream_ms = self.emits() * self.interval_us() / 1000;
        let to = stream_ms.saturating_sub(self.pause_ms[1] + 300);
        (self.warmup_ms, to.max(self.warmup_ms))
    }
    fn section(&self) -> String {
        format!(
            "{JITTER}: {} clients in one room, {} ticks at {}/s, {} TCP cut(s) per client, back after {}–{} ms",
            k(self.clients),
            self.emits(),
            self.rate,
            self.cuts,
            self.pause_ms[0],
            self.pause_ms[1]
        )
    }
}

impl Sizes {
    fn new(o: &Opts) -> Sizes {
        let mut s = Sizes::defaults(o);
        if let Some([a, b]) = o.fanout_emits {
            s.fanout[0].1 = a;
            s.fanout[1].1 = b;
            s.cluster.1 = a;
        }
        if let Some(n) = o.jitter_clients {
            s.jitter.clients = n;
        }
        if let Some(v) = o.jitter_seconds {
            s.jitter.seconds = v;
        }
        if let Some(v) = o.jitter_rate {
            s.jitter.rate = v;
        }
        if let Some(v) = o.jitter_cuts {
            s.jitter.cuts = v;
        }
        s
    }

    fn defaults(o: &Opts) -> Sizes {
        if o.smoke {
            Sizes {
                idle: [200, 300],
                idle_plain: 200,
                settle: Duration::from_millis(500),
                fanout: [(100, 40), (300, 10)],
                cluster: (100, 40),
                senders: 2,
                rate_rooms: [100, 300],
                rate: o.rate.unwrap_or(2_000),
                rate_seconds: 2.0,
                rate_procs: 2,
                echo_clients: 100,
                echo_count: 20,
                storm: 300,
                storm_concurrency: 100,
                reconnect_delay_ms: 1000,
                reconnect_bound: Duration::from_secs(20),
                collect_timeout: Duration::from_secs(10),
                jitter: JitterSizes {
                    clients: 200,
                    rate: 20,
                    seconds: 2.0,
                    cuts: 1,
                    pause_ms: [100, 1000],
                    warmup_ms: 300,
                    end_timeout: Duration::from_secs(5),
                    settle: Duration::from_millis(100),
                },
            }
        } else {
            Sizes {
                idle: [10_000, 19_000],
                idle_plain: 10_000,
                settle: Duration::from_secs(3),
                // 2 M and 1 M deliveries: at least ~2 s of fan-out for the fastest server
                // (the 1k room drains at up to ~1 M deliveries/s), ~35 s for Node. The
                // senders run ahead of the drain only by what the server accepts while it
                // writes (tens of emits, seen as the p99 latency), well inside
                // socketioxide's 1 024-packet queue; a drop would fail the run.
                fanout: [(1_000, 2_000), (10_000, 100)],
                // The room of 1k over two nodes (500 each), as many emits as to one node.
                cluster: (1_000, 2_000),
                senders: 2,
                rate_rooms: [1_000, 10_000],
                rate: o.rate.unwrap_or(20_000),
                rate_seconds: 10.0,
                rate_procs: 2,
                echo_clients: 1_000,
                echo_count: 300,
                storm: 10_000,
                storm_concurrency: 500,
                reconnect_delay_ms: 1000,
                reconnect_bound: Duration::from_secs(60),
                collect_timeout: Duration::from_secs(30),
                // 600 ticks to 2 000 clients (1.2 M deliveries, 40 000/s), 6 000 cuts.
                jitter: JitterSizes {
                    clients: 2_000,
                    rate: 20,
                    seconds: 30.0,
                    cuts: 3,
                    pause_ms: [100, 1000],
                    warmup_ms: 500,
                    end_timeout: Duration::from_secs(15),
                    settle: Duration::from_millis(300),
                },
            }
        }
    }
}

fn k(n: usize) -> String {
    if n >= 1000 && n.is_multiple_of(1000) {
        format!("{}k", n / 1000)
    } else {
        n.to_string()
    }
}

// ---------------------------------------------------------------------------------------
// Results

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Better {
    Higher,
    Lower,
    /// Must be zero (losses, failures): no ratio; the worst run is shown.
    Zero,
    /// Context only (CPU % of the load generator): no ratio.
    Info,
    /// A word, not a number (what limited the figure): no ratio.
    Text,
}

#[derive(Debug, Clone)]
struct Row {
    section: String,
    label: String,
    better: Better,
    /// A percentage shown with two decimals, cut rather than rounded (99.996 is 99.99,
    /// never 100.00).
    pct: bool,
}

/// A percentage with two decimals, cut rather than rounded: only 100 % shows `100.00`.
fn fmt_pct(v: f64) -> String {
    if v.is_nan() {
        return "—".to_owned();
    }
    format!("{:.2}", (v * 100.0 + 1e-9).floor() / 100.0)
}

/// Every figure of every run: (server, row) → (run index, value).
#[derive(Default)]
struct Results {
    rows: Vec<Row>,
    values: BTreeMap<(String, String), Vec<(usize, f64)>>,
    texts: BTreeMap<(String, String), Vec<(usize, String)>>,
    failures: Vec<String>,
    /// Findings that are reported, not failed (a peer losing deliveries with recovery on).
    notes: Vec<String>,
    /// CPU % used by other processes (machine − server − loadgen) in each measured window.
    other_pct: Vec<f64>,
    /// Runs measured again because other work disturbed them, and the time spent waiting
    /// for a quiet machine.
    reruns: usize,
    waited: Duration,
    /// Set when the patience budget ran out.
    impatient: bool,
    /// The run being measured (0-based) and how many there are.
    run: usize,
    runs: usize,
}

fn key(server: ServerKind, section: &str, label: &str) -> (String, String) {
    (server.name().to_owned(), format!("{section}\u{0}{label}"))
}

impl Results {
    fn row(&mut self, section: &str, label: &str, better: Better) {
        if !self
            .rows
            .iter()
            .any(|r| r.section == section && r.label == label)
        {
            self.rows.push(Row {
                section: section.to_owned(),
                label: label.to_owned(),
                better,
                pct: false,
            });
        }
    }

    /// [`Results::set`] for a percentage (see [`Row::pct`]).
    fn set_pct(&mut self, server: ServerKind, section: &str, label: &str, better: Better, v: f64) {
        self.set(server, section, label, better, v);
        if let Some(row) = self
            .rows
            .iter_mut()
            .find(|r| r.section == section && r.label == label)
        {
            row.pct = true;
        }
    }

    fn set(&mut self, server: ServerKind, section: &str, label: &str, better: Better, v: f64) {
        self.row(section, label, better);
        let run = self.run;
        let vals = self.values.entry(key(server, section, label)).or_default();
        vals.retain(|(r, _)| *r != run);
        vals.push((run, v));
    }

    fn set_text(&mut self, server: ServerKind, section: &str, label: &str, v: &str) {
        self.row(section, label, Better::Text);
        let run = self.run;
        let vals = self.texts.entry(key(server, section, label)).or_default();
        vals.retain(|(r, _)| *r != run);
        vals.push((run, v.to_owned()));
    }

    /// The values of every run (NaN left out).
    fn runs_of(&self, server: ServerKind, row: &Row) -> Vec<(usize, f64)> {
        self.values
            .get(&key(server, &row.section, &row.label))
            .map(|v| v.iter().copied().filter(|(_, x)| !x.is_nan()).collect())
            .unwrap_or_default()
    }

    /// The median over runs (the worst run for must-be-zero rows).
    fn get(&self, server: ServerKind, row: &Row) -> Option<f64> {
        let v: Vec<f64> = self.runs_of(server, row).into_iter().map(|x| x.1).collect();
        if row.better == Better::Zero {
            return v.into_iter().reduce(f64::max);
        }
        median(&v)
    }

    /// One line on the machine's other work during the measured windows, if any.
    fn noise_note(&self) -> Option<String> {
        let v: Vec<f64> = self
            .other_pct
            .iter()
            .copied()
            .filter(|x| !x.is_nan())
            .collect();
        let mid = median(&v)?;
        let hi = v.iter().copied().fold(0.0, f64::max);
        let busy = v.iter().filter(|x| **x >= OTHER_WORK_PCT).count();
        let mut note = format!(
            "Other work on the machine (CPU % not used by the server or the load generator, of 200) \
             during the {} measured windows: median {mid:.0} %, max {hi:.0} %; {busy} window(s) at \
             {OTHER_WORK_PCT:.0} % or more{}.",
            v.len(),
            if busy > 0 {
                ": their figures are disturbed, trust the paired ratios more than the absolute values"
            } else {
                ""
            }
        );
        if self.reruns > 0 || !self.waited.is_zero() {
            let _ = write!(
                note,
                " The suite waited {:.0} s in all for a quiet machine and measured {} run(s) again \
                 because other work disturbed them{}.",
                self.waited.as_secs_f64(),
                self.reruns,
                if self.impatient {
                    "; then its patience (--patience) ran out"
                } else {
                    ""
                }
            );
        }
        Some(note)
    }

    fn fail(&mut self, msg: String) {
        let msg = if self.runs > 1 {
            format!("{msg} (run {} of {})", self.run + 1, self.runs)
        } else {
            msg
        };
        eprintln!("FAILURE: {msg}");
        self.failures.push(msg);
    }

    fn cell(&self, server: ServerKind, row: &Row) -> String {
        if row.better == Better::Text {
            let runs = self
                .texts
                .get(&key(server, &row.section, &row.label))
                .cloned()
                .unwrap_or_default();
            return tally(runs.into_iter().map(|x| x.1));
        }
        let v: Vec<f64> = self.runs_of(server, row).into_iter().map(|x| x.1).collect();
        let Some(mid) = self.get(server, row) else {
            return "—".to_owned();
        };
        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if row.pct {
            return if self.runs <= 1 {
                fmt_pct(mid)
            } else {
                format!("{}{}", fmt_pct(mid), spread(fmt_pct(lo), fmt_pct(hi)))
            };
        }
        if self.runs <= 1 || row.better == Better::Zero {
            return fmt_num(Some(mid));
        }
        format!("{}{}", fmt3(mid), spread(fmt3(lo), fmt3(hi)))
    }

    /// realtime ÷ peer: the ratio of the medians, and with several runs the range of the
    /// per-run ratios (each run of realtime against the run of the peer right after it).
    fn ratio(&self, peer: ServerKind, row: &Row) -> String {
        if !matches!(row.better, Better::Higher | Better::Lower) {
            return "—".to_owned();
        }
        let (Some(a), Some(b)) = (self.get(ServerKind::Realtime, row), self.get(peer, row)) else {
            return "—".to_owned();
        };
        if a <= 0.0 || b <= 0.0 {
            return "—".to_owned();
        }
        let mut out = format!("{:.2}×", a / b);
        if self.runs > 1 {
            let peer_runs = self.runs_of(peer, row);
            let paired: Vec<f64> = self
                .runs_of(ServerKind::Realtime, row)
                .into_iter()
                .filter_map(|(r, x)| {
                    let (_, y) = peer_runs.iter().find(|(q, _)| *q == r)?;
                    (x > 0.0 && *y > 0.0).then(|| x / y)
                })
                .collect();
            if paired.len() > 1 {
                let lo = paired.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = paired.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                out.push_str(&spread(format!("{lo:.2}"), format!("{hi:.2}")));
            }
        }
        out
    }

    /// The table of every scenario but jitter (empty when only jitter ran).
    fn table(&self, servers: &[ServerKind]) -> String {
        let columns: Vec<(ServerKind, String)> =
            servers.iter().map(|k| (*k, k.name().to_owned())).collect();
        let ratios: Vec<(ServerKind, String)> = servers
            .iter()
            .filter(|k| **k != ServerKind::Realtime)
            .map(|k| (*k, format!("realtime ÷ {}", k.name())))
            .collect();
        self.table_of(&columns, &ratios, |row| !row.section.starts_with(JITTER))
    }

    /// The jitter scenario's table: realtime with recovery on and off side by side, and
    /// the ratio of the two (the cost of recovery) before the peers' (empty when jitter
    /// did not run).
    fn jitter_table(&self, servers: &[ServerKind]) -> String {
        let servers = jitter_servers(servers);
        let columns: Vec<(ServerKind, String)> = servers
            .iter()
            .map(|k| (*k, k.jitter_header().to_owned()))
            .collect();
        let ratios: Vec<(ServerKind, String)> = servers
            .iter()
            .filter(|k| **k != ServerKind::Realtime)
            .map(|k| {
                let title = match k {
                    ServerKind::RealtimeNoRecovery => "realtime on ÷ off (cost of recovery)",
                    ServerKind::Socketioxide => "realtime on ÷ socketioxide",
                    ServerKind::Node => "realtime on ÷ node on",
                    ServerKind::Realtime => unreachable!(),
                };
                (*k, title.to_owned())
            })
            .collect();
        self.table_of(&columns, &ratios, |row| row.section.starts_with(JITTER))
    }

    /// A markdown table of the rows `which` selects: one column per server (with its
    /// header), then realtime ÷ peer for each of `ratios` when realtime is a column.
    fn table_of(
        &self,
        columns: &[(ServerKind, String)],
        ratios: &[(ServerKind, String)],
        which: impl Fn(&Row) -> bool,
    ) -> String {
        let mut s = String::new();
        if !self.rows.iter().any(&which) {
            return s;
        }
        let with_ratio = columns.iter().any(|(k, _)| *k == ServerKind::Realtime);
        let ratios = if with_ratio { ratios } else { &[] };
        s.push_str("| scenario | metric |");
        for (_, header) in columns {
            let _ = write!(s, " {header} |");
        }
        for (_, header) in ratios {
            let _ = write!(s, " {header} |");
        }
        s.push('\n');
        s.push_str("|---|---|");
        for _ in columns.iter().chain(ratios) {
            s.push_str("---:|");
        }
        s.push('\n');
        for row in self.rows.iter().filter(|r| which(r)) {
            let arrow = match row.better {
                Better::Higher => " ↑",
                Better::Lower => " ↓",
                Better::Zero => " (must be 0)",
                Better::Info | Better::Text => "",
            };
            let _ = write!(s, "| {} | {}{} |", row.section, row.label, arrow);
            for (k, _) in columns {
                let _ = write!(s, " {} |", self.cell(*k, row));
            }
            for (p, _) in ratios {
                let _ = write!(s, " {} |", self.ratio(*p, row));
            }
            s.push('\n');
        }
        s
    }
}

/// The servers of the jitter scenario, in run order: realtime twice (recovery on, then
/// off) when it is one of `servers`, then the others.
fn jitter_servers(servers: &[ServerKind]) -> Vec<ServerKind> {
    let mut out = Vec::new();
    for k in servers {
        out.push(*k);
        if *k == ServerKind::Realtime {
            out.push(ServerKind::RealtimeNoRecovery);
        }
    }
    out
}

fn median(v: &[f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// ` (lo–hi)`, with a unit suffix shared by both written once (`(452–501k)`); nothing
/// when both ends print alike.
fn spread(lo: String, hi: String) -> String {
    if lo == hi {
        return String::new();
    }
    let suffix = |s: &str| s.chars().last().filter(|c| c.is_ascii_alphabetic());
    match (suffix(&lo), suffix(&hi)) {
        (Some(a), Some(b)) if a == b => format!(" ({}–{hi})", &lo[..lo.len() - 1]),
        _ => format!(" ({lo}–{hi})"),
    }
}

/// Three significant digits, k / M above 1 000 (`479k`, `1.23M`, `7.61k`, `4.10`, `14.0`);
/// whole numbers from 1 000 to 99 999 (offered loads) as they are (`20 000`).
fn fmt3(v: f64) -> String {
    let a = v.abs();
    let sig = |x: f64, unit: &str| {
        if x.abs() >= 100.0 {
            format!("{x:.0}{unit}")
        } else if x.abs() >= 10.0 {
            format!("{x:.1}{unit}")
        } else if x.abs() >= 0.1 {
            format!("{x:.2}{unit}")
        } else {
            format!("{x:.3}{unit}")
        }
    };
    if v == 0.0 {
        "0".to_owned()
    } else if v == v.trunc() && (1_000.0..100_000.0).contains(&a) {
        group(v as i64)
    } else if a >= 999_500.0 {
        sig(v / 1e6, "M")
    } else if a >= 999.5 {
        sig(v / 1e3, "k")
    } else {
        sig(v, "")
    }
}

/// The verdicts of the runs: `machine CPU` when all agree, else `machine CPU ×2, server CPU ×1`.
fn tally(texts: impl Iterator<Item = String>) -> String {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for t in texts {
        match counts.iter_mut().find(|(x, _)| *x == t) {
            Some((_, n)) => *n += 1,
            None => counts.push((t, 1)),
        }
    }
    match counts.len() {
        0 => "—".to_owned(),
        1 => counts.remove(0).0,
        _ => {
            counts.sort_by_key(|c| std::cmp::Reverse(c.1));
            counts
                .iter()
                .map(|(t, n)| format!("{t} ×{n}"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    }
}

fn fmt_num(v: Option<f64>) -> String {
    match v {
        None => "—".to_owned(),
        Some(v) if v.is_nan() => "—".to_owned(),
        Some(v) if v == v.trunc() && v.abs() < 1e15 => group(v as i64),
        Some(v) if v.abs() >= 100.0 => group(v.round() as i64),
        Some(v) if v.abs() >= 10.0 => format!("{v:.1}"),
        Some(v) if v.abs() >= 0.1 => format!("{v:.2}"),
        Some(v) => format!("{v:.3}"),
    }
}

fn group(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

// ---------------------------------------------------------------------------------------
// Processes

fn bench_root() -> PathBuf {
    std::env::var_os("BENCH_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
}

fn bin_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| bench_root().join("target/release"))
}

fn log_dir() -> PathBuf {
    let d = bench_root().join("target/bench-logs");
    let _ = std::fs::create_dir_all(&d);
    d
}

/// Children die with the suite (SIGKILL when it exits for any reason).
fn die_with_parent(cmd: &mut Command) {
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
}

fn kill(pid: u32, sig: libc::c_int) {
    // SAFETY: signalling a child process we started, by its pid.
    unsafe {
        libc::kill(pid as libc::pid_t, sig);
    }
}

struct ServerProc {
    kind: ServerKind,
    child: Child,
    pid: u32,
    addr: SocketAddr,
    log: PathBuf,
}

/// What makes a server a node of the cluster scenario: the Redis it shares with the other
/// node (`REDIS_URL`) and the channel prefix of this run (`REDIS_KEY`: Node's `key`,
/// socketioxide-redis's `prefix`, realtime's `RedisAdapterConfig::key`), so that nothing
/// else using the same Redis (another run, a test suite) hears this run's broadcasts.
#[derive(Debug, Clone)]
struct ClusterEnv {
    url: String,
    key: String,
}

impl ServerProc {
    /// Starts `kind` on `port`; with `recovery`, connection state recovery on
    /// (`CONNECTION_STATE_RECOVERY=1`, which socketioxide ignores: it has none).
    fn start(
        kind: ServerKind,
        port: u16,
        label: &str,
        cluster: Option<&ClusterEnv>,
        recovery: bool,
    ) -> Result<ServerProc, String> {
        let log = log_dir().join(format!("{}-{label}.log", kind.name()));
        let out = std::fs::File::create(&log).map_err(|e| e.to_string())?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let mut cmd = match kind {
            ServerKind::Realtime | ServerKind::RealtimeNoRecovery => {
                Command::new(bin_dir().join("bench-server-realtime"))
            }
            ServerKind::Socketioxide => Command::new(bin_dir().join("bench-server-socketioxide")),
            ServerKind::Node => {
                let mut c = Command::new("node");
                c.arg("server.js")
                    .current_dir(bench_root().join("servers/node"));
                c
            }
        };
        match cluster {
            Some(c) => cmd.env("REDIS_URL", &c.url).env("REDIS_KEY", &c.key),
            // Single-node scenarios never join a cluster, whatever the suite's environment.
            None => cmd.env_remove("REDIS_URL").env_remove("REDIS_KEY"),
        };
        if recovery {
            cmd.env("CONNECTION_STATE_RECOVERY", "1");
        } else {
            cmd.env_remove("CONNECTION_STATE_RECOVERY");
        }
        cmd.env("PORT", port.to_string())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        die_with_parent(&mut cmd);
        let child = cmd
            .spawn()
            .map_err(|e| format!("{}: cannot start: {e}", kind.name()))?;
        let pid = child.id();
        let mut s = ServerProc {
            kind,
            child,
            pid,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            log,
        };
        // socketioxide has no recovery: its check expects none whatever was asked.
        let recovery = recovery && kind != ServerKind::Socketioxide;
        if let Err(e) = s.wait_ready(recovery) {
            s.stop();
            return Err(e);
        }
        Ok(s)
    }

    /// Waits until the server answers the whole contract (join, echo, fanout) over
    /// Socket.IO, and for realtime over plain WebSocket too; at most 20 s. With `recovery`
    /// the Socket.IO check also wants connection state recovery on (a `pid` in the CONNECT
    /// reply, an offset after the tick), without it off.
    fn wait_ready(&mut self, recovery: bool) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let mut last = String::new();
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "{} exited during start-up ({status}); see {}",
                    self.kind.name(),
                    self.log.display()
                ));
            }
            match rt.block_on(check_contract(self.addr, Proto::Sio, Some(recovery))) {
                Ok(()) => {
                    if matches!(
                        self.kind,
                        ServerKind::Realtime | ServerKind::RealtimeNoRecovery
                    ) {
                        rt.block_on(check_contract(self.addr, Proto::Plain, None))
                            .map_err(|e| {
                                format!("realtime: plain WebSocket contract check failed: {e}")
                            })?;
                    }
                    return Ok(());
                }
                Err(e) => last = e.to_string(),
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!(
            "{} not ready within 20 s: {last}; see {}",
            self.kind.name(),
            self.log.display()
        ))
    }

    fn rss_kib(&self) -> u64 {
        rss_kib(self.pid)
    }

    fn cpu(&self) -> f64 {
        cpu_seconds(self.pid)
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn stop(&mut self) {
        kill(self.pid, libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

type Ticks = Vec<Vec<Value>>;

/// The ack `id` (within 2 s), and the ticks that arrived before it.
async fn wait_ack(
    c: &mut Conn,
    id: u64,
) -> Result<Result<(Vec<Value>, Ticks), crate::client::Error>, tokio::time::error::Elapsed> {
    tokio::time::timeout(Duration::from_secs(2), async {
        let mut ticks = Vec::new();
        loop {
            match c.next().await? {
                Incoming::Ack { id: got, args } if got == id => return Ok((args, ticks)),
                Incoming::Event { name, args } if name == "tick" => ticks.push(args),
                _ => {}
            }
        }
    })
    .await
}

/// join → ack true; echo → same argument; fanout to a room the client is in → `tick` with
/// the same object and ack true. `recovery`: `Some(true)` wants connection state recovery
/// on (a `pid` in the CONNECT reply, an offset string after the tick's object),
/// `Some(false)` off (neither), `None` either (and a plain WebSocket client that does not ask
/// for realtime's plain recovery form sees none).
async fn check_contract(
    addr: SocketAddr,
    proto: Proto,
    recovery: Option<bool>,
) -> Result<(), crate::client::Error> {
    let src = "127.0.0.1".parse().unwrap();
    let mut c = Conn::connect(addr, src, proto, Duration::from_secs(2)).await?;
    let wanted = match (proto, recovery) {
        (Proto::Plain, _) => false,
        (_, Some(on)) => on,
        (_, None) => c.pid.is_some(),
    };
    if proto == Proto::Sio && c.pid.is_some() != wanted {
        return Err(format!(
            "connection state recovery is {} (CONNECT reply {} a pid), the scenario wants it {}",
            if c.pid.is_some() { "on" } else { "off" },
            if c.pid.is_some() { "with" } else { "without" },
            if wanted { "on" } else { "off" }
        )
        .into());
    }
    c.emit("join", r#""__check""#, Some(1)).await?;
    let (args, _) = wait_ack(&mut c, 1).await.map_err(|_| "no ack to join")??;
    if args != vec![Value::Bool(true)] {
        return Err(format!("join acked {args:?}").into());
    }
    c.emit("echo", r#"{"x":[1,"two"]}"#, Some(2)).await?;
    let (args, _) = wait_ack(&mut c, 2).await.map_err(|_| "no ack to echo")??;
    if args != vec![json!({"x": [1, "two"]})] {
        return Err(format!("echo acked {args:?}").into());
    }
    let msg = json!({"room": "__check", "t": 1, "s": 0});
    c.emit("fanout", &msg.to_string(), Some(3)).await?;
    let (args, mut ticks) = wait_ack(&mut c, 3)
        .await
        .map_err(|_| "no ack to fanout")??;
    if args != vec![Value::Bool(true)] {
        return Err(format!("fanout acked {args:?}").into());
    }
    if ticks.is_empty() {
        let wait = async {
            loop {
                if let Incoming::Event { name, args } = c.next().await? {
                    if name == "tick" {
                        return Ok::<_, crate::client::Error>(args);
                    }
                }
            }
        };
        ticks.push(
            tokio::time::timeout(Duration::from_secs(2), wait)
                .await
                .map_err(|_| "no tick after fanout")??,
        );
    }
    let delivered = &ticks[0];
    let ok = if wanted {
        // The broadcast's offset, appended as its last argument.
        delivered.len() == 2 && delivered[0] == msg && delivered[1].is_string()
    } else {
        *delivered == vec![msg.clone()]
    };
    if !ok {
        return Err(format!(
            "fanout delivered {delivered:?}{}",
            if wanted {
                " (with recovery on: the object and an offset string)"
            } else {
                ""
            }
        )
        .into());
    }
    c.close().await;
    Ok(())
}

/// A `fanout` emitted by a client of `from` reaches a client in the room on `to`, within
/// 1 s: the two nodes are one cluster.
async fn check_cross(from: SocketAddr, to: SocketAddr) -> Result<(), crate::client::Error> {
    let src = "127.0.0.1".parse().unwrap();
    let mut rx = Conn::connect(to, src, Proto::Sio, Duration::from_secs(2)).await?;
    rx.emit("join", r#""__cluster""#, Some(1)).await?;
    let (args, _) = wait_ack(&mut rx, 1).await.map_err(|_| "no ack to join")??;
    if args != vec![Value::Bool(true)] {
        return Err(format!("join acked {args:?}").into());
    }
    let mut tx = Conn::connect(from, src, Proto::Sio, Duration::from_secs(2)).await?;
    let msg = json!({"room": "__cluster", "t": 1, "s": 0});
    tx.emit("fanout", &msg.to_string(), Some(1)).await?;
    let (args, _) = wait_ack(&mut tx, 1)
        .await
        .map_err(|_| "no ack to fanout")??;
    if args != vec![Value::Bool(true)] {
        return Err(format!("fanout acked {args:?}").into());
    }
    let wait = async {
        loop {
            if let Incoming::Event { name, args } = rx.next().await? {
                if name == "tick" {
                    return Ok::<_, crate::client::Error>(args);
                }
            }
        }
    };
    let tick = tokio::time::timeout(Duration::from_secs(1), wait)
        .await
        .map_err(|_| "no tick on the other node within 1 s")??;
    tx.close().await;
    rx.close().await;
    if tick != vec![msg] {
        return Err(format!("the other node delivered {tick:?}").into());
    }
    Ok(())
}

/// Node names in messages and table rows: A, B, ... (lower case in log file names).
fn node_name(i: usize) -> char {
    (b'A' + (i % 26) as u8) as char
}

/// Waits (at most 20 s) until a broadcast on every node reaches a client on every other
/// node: the adapters are subscribed (Node's subscribes after it listens) before any
/// client of the scenario connects.
fn wait_cluster(nodes: &mut [ServerProc]) -> Result<(), String> {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(20);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let mut attempts = 0;
    for from in 0..nodes.len() {
        for to in (0..nodes.len()).filter(|&to| to != from) {
            loop {
                attempts += 1;
                let last = match rt.block_on(check_cross(nodes[from].addr, nodes[to].addr)) {
                    Ok(()) => break,
                    Err(e) => e.to_string(),
                };
                for n in nodes.iter_mut() {
                    if !n.alive() {
                        return Err(format!(
                            "a node exited while the cluster formed; see {}",
                            n.log.display()
                        ));
                    }
                }
                if Instant::now() >= deadline {
                    return Err(format!(
                        "a fanout on node {} (port {}) did not reach a client on node {} (port {}) \
                         within 20 s: {last}; see {} and {}",
                        node_name(from),
                        nodes[from].addr.port(),
                        node_name(to),
                        nodes[to].addr.port(),
                        nodes[from].log.display(),
                        nodes[to].log.display()
                    ));
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
    let pairs = nodes.len() * (nodes.len() - 1);
    if attempts > pairs {
        eprintln!(
            "    the cluster delivered across nodes after {attempts} attempts ({:.1} s)",
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// Host and port of a `redis://[user[:password]@]host[:port][/db][?...]` (or `rediss://`)
/// URL.
fn redis_host_port(url: &str) -> Result<(String, u16), String> {
    let rest = url
        .strip_prefix("redis://")
        .or_else(|| url.strip_prefix("rediss://"))
        .ok_or_else(|| format!("{url:?} is not a redis:// URL"))?;
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let hostport = authority.rsplit('@').next().unwrap_or_default();
    // `[::1]:6379`, `host:6379`, `host`
    let (host, port) = match hostport.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((h, p)) => (h, p.strip_prefix(':')),
            None => return Err(format!("bad host in the Redis URL {url:?}")),
        },
        None => match hostport.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        },
    };
    let port = match port {
        Some(p) => p
            .parse()
            .map_err(|_| format!("bad port in the Redis URL {url:?}"))?,
        None => 6379,
    };
    Ok((
        if host.is_empty() { "127.0.0.1" } else { host }.to_owned(),
        port,
    ))
}

/// Sends one inline command to the Redis at `url` and returns the start of its reply
/// (within 2 s; no TLS, no AUTH).
fn redis_command(url: &str, command: &str) -> Result<String, String> {
    use std::io::Read;
    use std::net::ToSocketAddrs;
    let (host, port) = redis_host_port(url)?;
    let addr = (host.as_str(), port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .next()
        .ok_or_else(|| format!("cannot resolve {host}"))?;
    let timeout = Duration::from_secs(2);
    let mut s = std::net::TcpStream::connect_timeout(&addr, timeout).map_err(|e| e.to_string())?;
    let _ = s.set_read_timeout(Some(timeout));
    let _ = s.set_write_timeout(Some(timeout));
    s.write_all(format!("{command}\r\n").as_bytes())
        .map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 8192];
    let mut n = 0;
    // One reply: a line, or a bulk string read until its length is in (or 8 KiB).
    while n < buf.len() {
        let got = s
            .read(&mut buf[n..])
            .map_err(|e| format!("no reply: {e}"))?;
        if got == 0 {
            break;
        }
        n += got;
        let text = String::from_utf8_lossy(&buf[..n]);
        let complete = match text.strip_prefix('$') {
            Some(bulk) => bulk.split_once("\r\n").is_some_and(|(len, body)| {
                len.parse::<usize>().map_or(true, |len| body.len() >= len)
            }),
            None => text.contains("\r\n"),
        };
        if complete {
            break;
        }
    }
    Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// Redis answers at `url` (a PING; an AUTH demand counts as an answer: the servers log in
/// with the URL's credentials). `rediss://` is only connected to.
fn redis_ping(url: &str) -> Result<(), String> {
    if url.starts_with("rediss://") {
        let (host, port) = redis_host_port(url)?;
        return std::net::TcpStream::connect((host.as_str(), port))
            .map(drop)
            .map_err(|e| e.to_string());
    }
    let reply = redis_command(url, "PING")?;
    if reply.starts_with("+PONG") || reply.starts_with("-NOAUTH") {
        Ok(())
    } else {
        Err(format!("unexpected reply to PING: {:?}", reply.trim_end()))
    }
}

/// The pid of the process listening on `port` over TCP (the Redis server, to count its
/// CPU), if this machine has one and it can be seen.
fn listener_pid(port: u16) -> Option<u32> {
    let mut inodes = Vec::new();
    for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let local_port = f
                .get(1)
                .and_then(|a| a.rsplit(':').next())
                .and_then(|p| u16::from_str_radix(p, 16).ok());
            if f.len() > 9 && f[3] == "0A" && local_port == Some(port) {
                inodes.push(format!("socket:[{}]", f[9]));
            }
        }
    }
    if inodes.is_empty() {
        return None;
    }
    for proc_dir in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = proc_dir
            .file_name()
            .to_str()
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(proc_dir.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if let Ok(target) = std::fs::read_link(fd.path()) {
                if inodes.iter().any(|i| target.as_os_str() == i.as_str()) {
                    return Some(pid);
                }
            }
        }
    }
    None
}

/// The Redis server's pid when it runs on this machine (a loopback URL).
fn redis_pid(url: &str) -> Option<u32> {
    let (host, port) = redis_host_port(url).ok()?;
    let local = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if local {
        listener_pid(port)
    } else {
        None
    }
}

/// `redis_version` from `INFO server`, or `?`.
fn redis_version(url: &str) -> String {
    redis_command(url, "INFO server")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("redis_version:"))
                .map(|v| v.trim().to_owned())
        })
        .unwrap_or_else(|| "?".to_owned())
}

struct Worker {
    child: Child,
    stdin: ChildStdin,
    rx: mpsc::Receiver<Value>,
    pid: u32,
    /// The index of the server (cluster node) its clients are connected to.
    node: usize,
}

impl Drop for Worker {
    /// A fleet dropped on an error path: its processes must not outlive the scenario.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A set of worker processes holding one group of clients.
struct Fleet {
    label: String,
    workers: Vec<Worker>,
    connect_timeout: Duration,
}

/// How many clients connected, and the time span of the connect phase.
struct Connected {
    ok: u64,
    failed: u64,
    start_us: u64,
    end_us: u64,
}

/// How a fleet is laid out beyond its size.
#[derive(Debug, Clone, Copy)]
struct Layout {
    /// At least this many processes (more if `--per-process` asks for it).
    min_procs: usize,
    /// Latency recorded on one client in this many (1: all).
    latency_every: usize,
    /// Kernel receive timestamps on (see `stream.rs`).
    rx_timestamps: bool,
}

impl Default for Layout {
    fn default() -> Layout {
        Layout {
            min_procs: 1,
            latency_every: 1,
            rx_timestamps: false,
        }
    }
}

impl Fleet {
    /// Starts the worker processes for `clients` clients and waits until all connected.
    fn spawn(
        opts: &Opts,
        label: &str,
        server: SocketAddr,
        proto: Proto,
        clients: usize,
        first_index: usize,
        connect_concurrency: usize,
    ) -> Result<(Fleet, Connected), String> {
        Fleet::spawn_laid_out(
            opts,
            label,
            &[server],
            proto,
            clients,
            first_index,
            connect_concurrency,
            Layout::default(),
        )
    }

    /// [`Fleet::spawn`] with a [`Layout`], its clients split evenly over `servers` (the
    /// nodes of a cluster; one process at least per server).
    #[allow(clippy::too_many_arguments)]
    fn spawn_laid_out(
        opts: &Opts,
        label: &str,
        servers: &[SocketAddr],
        proto: Proto,
        clients: usize,
        first_index: usize,
        connect_concurrency: usize,
        layout: Layout,
    ) -> Result<(Fleet, Connected), String> {
        let mut fleet = Fleet::launch(
            opts,
            label,
            servers,
            proto,
            clients,
            first_index,
            connect_concurrency,
            layout,
        )?;
        match fleet.wait_connected(clients) {
            Ok(c) => Ok((fleet, c)),
            Err(e) => {
                fleet.close();
                Err(e)
            }
        }
    }

    /// Starts the worker processes; they begin connecting at once. Process `p` connects
    /// its clients to `servers[p % servers.len()]`, and every server gets as many
    /// processes.
    #[allow(clippy::too_many_arguments)]
    fn launch(
        opts: &Opts,
        label: &str,
        servers: &[SocketAddr],
        proto: Proto,
        clients: usize,
        first_index: usize,
        connect_concurrency: usize,
        layout: Layout,
    ) -> Result<Fleet, String> {
        let nodes = servers.len();
        if nodes == 0 {
            return Err(format!("{label}: no server to connect to"));
        }
        let procs = clients
            .div_ceil(opts.per_process.max(1))
            .max(layout.min_procs)
            .max(nodes)
            .div_ceil(nodes)
            * nodes;
        let procs = procs.clamp(1, clients.max(1));
        let mut workers = Vec::new();
        let mut index = first_index;
        let connect_timeout_ms = 60_000 + clients as u64 * 5;
        for p in 0..procs {
            let n = clients / procs + usize::from(p < clients % procs);
            let cfg = WorkerCfg {
                server: servers[p % nodes],
                proto,
                clients: n,
                first_index: index,
                sources: opts.sources,
                connect_concurrency,
                threads: opts.threads,
                connect_timeout_ms,
                max_seconds: 900,
                latency_every: layout.latency_every,
                rx_timestamps: layout.rx_timestamps,
            };
            index += n;
            let log = log_dir().join(format!("loadgen-{label}-{p}.log"));
            let err = std::fs::File::create(&log).map_err(|e| e.to_string())?;
            let mut cmd = Command::new(bin_dir().join("loadgen"));
            cmd.arg("worker")
                .arg(serde_json::to_string(&cfg).unwrap())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(err);
            die_with_parent(&mut cmd);
            let mut child = cmd
                .spawn()
                .map_err(|e| format!("cannot start loadgen: {e}"))?;
            let stdout = child.stdout.take().unwrap();
            let stdin = child.stdin.take().unwrap();
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    match serde_json::from_str::<Value>(&line) {
                        Ok(v) => {
                            if tx.send(v).is_err() {
                                break;
                            }
                        }
                        Err(_) => eprintln!("loadgen: {line}"),
                    }
                }
            });
            let pid = child.id();
            workers.push(Worker {
                child,
                stdin,
                rx,
                pid,
                node: p % nodes,
            });
        }
        Ok(Fleet {
            label: label.to_owned(),
            workers,
            connect_timeout: Duration::from_millis(connect_timeout_ms + 10_000),
        })
    }

    /// Waits for every worker's connect report; an error unless
    /// all `clients` connected.
    fn wait_connected(&mut self, clients: usize) -> Result<Connected, String> {
        let replies = self.replies(self.connect_timeout)?;
        let mut c = Connected {
            ok: 0,
            failed: 0,
            start_us: u64::MAX,
            end_us: 0,
        };
        for r in &replies {
            c.ok += r["counters"]["connected"].as_u64().unwrap_or(0);
            c.failed += r["counters"]["connect_failed"].as_u64().unwrap_or(0);
            if r["start_us"].as_u64().unwrap_or(0) > 0 {
                c.start_us = c.start_us.min(r["start_us"].as_u64().unwrap());
            }
            c.end_us = c.end_us.max(r["end_us"].as_u64().unwrap_or(0));
        }
        if c.ok as usize != clients {
            let errors: Vec<&Value> = replies.iter().map(|r| &r["counters"]["errors"]).collect();
            return Err(format!(
                "{}: {} of {clients} clients connected ({} failed): {errors:?}",
                self.label, c.ok, c.failed
            ));
        }
        Ok(c)
    }

    fn pids(&self) -> Vec<u32> {
        self.workers.iter().map(|w| w.pid).collect()
    }

    /// The node (index into the servers) of each worker, in the order of its replies.
    fn nodes(&self) -> Vec<usize> {
        self.workers.iter().map(|w| w.node).collect()
    }

    fn send_all(&mut self, cmd: &Value) -> Result<(), String> {
        for w in &mut self.workers {
            writeln!(w.stdin, "{cmd}")
                .and_then(|_| w.stdin.flush())
                .map_err(|e| format!("{}: loadgen worker gone: {e}", self.label))?;
        }
        Ok(())
    }

    /// One reply from every worker.
    fn replies(&mut self, timeout: Duration) -> Result<Vec<Value>, String> {
        let deadline = Instant::now() + timeout;
        let mut out = Vec::new();
        for w in &mut self.workers {
            let left = deadline.saturating_duration_since(Instant::now());
            match w.rx.recv_timeout(left) {
                Ok(v) => out.push(v),
                Err(_) => {
                    return Err(format!(
                        "{}: loadgen worker {} did not answer within {:?}",
                        self.label, w.pid, timeout
                    ))
                }
            }
        }
        Ok(out)
    }

    fn command(&mut self, cmd: Value, timeout: Duration) -> Result<Vec<Value>, String> {
        self.send_all(&cmd)?;
        self.replies(timeout + Duration::from_secs(15))
    }

    /// Closes every client, then ends the workers.
    fn close(mut self) {
        let _ = self.send_all(&json!({"cmd": "close"}));
        let _ = self.replies(Duration::from_secs(20));
        for w in &mut self.workers {
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                if let Ok(Some(_)) = w.child.try_wait() {
                    break;
                }
                if Instant::now() >= deadline {
                    let _ = w.child.kill();
                    let _ = w.child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

fn sum(replies: &[Value], field: &str) -> u64 {
    replies.iter().map(|r| r[field].as_u64().unwrap_or(0)).sum()
}
fn min_nonzero(replies: &[Value], field: &str) -> u64 {
    replies
        .iter()
        .filter_map(|r| r[field].as_u64())
        .filter(|v| *v > 0)
        .min()
        .unwrap_or(0)
}
fn max(replies: &[Value], field: &str) -> u64 {
    replies
        .iter()
        .filter_map(|r| r[field].as_u64())
        .max()
        .unwrap_or(0)
}
fn merged_hist(replies: &[Value]) -> Histogram<u64> {
    merged(replies, "hist")
}
fn merged(replies: &[Value], field: &str) -> Histogram<u64> {
    let mut h = new_hist();
    for r in replies {
        hist_add_json(&mut h, &r[field]);
    }
    h
}
fn ms(h: &Histogram<u64>, q: f64) -> f64 {
    if h.is_empty() {
        f64::NAN
    } else {
        h.value_at_quantile(q) as f64 / 1000.0
    }
}
fn lost_connections(replies: &[Value]) -> u64 {
    replies
        .iter()
        .map(|r| r["counters"]["lost"].as_u64().unwrap_or(0))
        .sum()
}
fn errors(replies: &[Value]) -> Vec<String> {
    replies
        .iter()
        .flat_map(|r| {
            r["counters"]["errors"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|e| e.as_str().map(str::to_owned))
        .take(3)
        .collect()
}

/// Open TCP connections (any state but LISTEN) whose local or remote port is `port`.
fn sockets_on_port(port: u16) -> (usize, usize) {
    let mut established = 0;
    let mut time_wait = 0;
    for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 4 {
                continue;
            }
            let port_of = |a: &str| {
                a.rsplit(':')
                    .next()
                    .and_then(|p| u16::from_str_radix(p, 16).ok())
            };
            if port_of(f[1]) != Some(port) && port_of(f[2]) != Some(port) {
                continue;
            }
            match f[3] {
                "0A" => {}
                "06" => time_wait += 1,
                _ => established += 1,
            }
        }
    }
    (established, time_wait)
}

// ---------------------------------------------------------------------------------------
// Scenarios

/// The longest wait for a quiet machine before one run.
const QUIET_WAIT_MAX: Duration = Duration::from_secs(30);
/// Between runs nothing of the suite's runs: a machine at most this busy (CPU %, of 200)
/// is quiet enough to measure.
const QUIET_PCT: f64 = 20.0;

/// Waits, at most `limit`, until the machine is quiet (see [`QUIET_PCT`]) over half a
/// second; returns the time spent beyond that half second.
fn wait_quiet(limit: Duration, results: &mut Results) -> Duration {
    if limit.is_zero() {
        return Duration::ZERO;
    }
    let start = Instant::now();
    let mut said = false;
    loop {
        let a = machine_busy();
        std::thread::sleep(Duration::from_millis(500));
        let busy = (machine_busy() - a) * 200.0;
        if busy <= QUIET_PCT {
            break;
        }
        if start.elapsed() >= limit {
            eprintln!("    the machine is still busy ({busy:.0} %); measuring anyway");
            break;
        }
        if !said {
            eprintln!("    other work is using {busy:.0} % CPU: waiting for a quiet machine");
            said = true;
        }
    }
    let waited = start.elapsed().saturating_sub(Duration::from_millis(500));
    results.waited += waited;
    waited
}

/// One server start per server and run: a scenario, or one room size of it.
#[derive(Debug, Clone, Copy)]
enum Unit {
    Idle,
    IdlePlain,
    Fanout(usize, u64),
    /// Two nodes on one Redis: receivers, emits.
    Cluster(usize, u64),
    Rate(usize),
    Echo,
    Storm,
    Jitter,
}

struct Suite {
    opts: Opts,
    sizes: Sizes,
    results: Results,
    next_port: u16,
}

/// CPU used over a scenario's active window, from /proc: the server process, the loadgen
/// processes, and the whole machine (every process and the kernel), in CPU-seconds; and
/// the busiest single thread / process, to tell what limited the figure.
struct Window {
    /// Every server process (both nodes of a cluster).
    server_cpu: f64,
    /// Each server process (node) alone.
    server_nodes: Vec<f64>,
    /// The Redis server of the cluster scenario, when it runs here (else 0).
    redis_cpu: f64,
    /// Whether the Redis server's CPU was sampled.
    redis_sampled: bool,
    loadgen_cpu: f64,
    machine_cpu: f64,
    /// The busiest thread of the server.
    server_thread_max: f64,
    /// The busiest thread of any loadgen process, and the busiest loadgen process.
    loadgen_thread_max: f64,
    loadgen_proc_max: f64,
    seconds: f64,
}

/// A thread (or a single-threaded process) at least this busy (% of one core) is
/// saturated: it had work queued for the whole window. Not 100: Node's event loop,
/// the bottleneck of its fan-outs, shows 83–97 % (it waits on its GC and I/O threads).
const SATURATED_THREAD_PCT: f64 = 80.0;
/// The machine (2 cores, 200 %) counts as saturated from here: no idle core was left.
const SATURATED_MACHINE_PCT: f64 = 185.0;
/// CPU % used by neither the server nor the load generator (the kernel's own threads, the
/// suite's sampling, anyone else's work) above which a window counts as disturbed. A quiet
/// machine shows a few %.
const OTHER_WORK_PCT: f64 = 25.0;

impl Window {
    /// CPU % where 100 is one core (so 200 is the whole 2-core machine).
    fn pct(&self, cpu: f64) -> f64 {
        if self.seconds > 0.0 {
            cpu / self.seconds * 100.0
        } else {
            f64::NAN
        }
    }

    /// CPU % of everything but the server, the load generator (and the cluster's Redis).
    fn other_pct(&self) -> f64 {
        // Clamped: /proc/stat and the per-process times tick separately, so a short window
        // can read a little outside 0..=200.
        self.pct(self.machine_cpu - self.server_cpu - self.loadgen_cpu - self.redis_cpu)
            .clamp(0.0, 200.0)
    }

    /// What limited the figures of this window, if anything was saturated: the server (a
    /// server thread busy all the time, or the server using the whole machine), the load
    /// generator (one of its threads, or a process using all of its runtime threads), or
    /// the machine (every core busy, with no one process at its own limit). `None` when
    /// nothing was.
    fn limit(&self, loadgen_threads: usize) -> Option<&'static str> {
        let cores = 2.0;
        let lg_cap = (loadgen_threads.max(1) as f64).min(cores) * SATURATED_THREAD_PCT;
        if self.seconds <= 0.0 {
            None
        } else if self.pct(self.server_thread_max) >= SATURATED_THREAD_PCT
            || self.pct(self.server_cpu) >= cores * SATURATED_THREAD_PCT
        {
            Some("server CPU")
        } else if self.pct(self.redis_cpu) >= SATURATED_THREAD_PCT {
            // Redis executes commands and writes pub/sub messages on one thread.
            Some("Redis CPU")
        } else if self.pct(self.loadgen_thread_max) >= SATURATED_THREAD_PCT
            || self.pct(self.loadgen_proc_max) >= lg_cap
        {
            Some("loadgen CPU")
        } else if self.pct(self.machine_cpu) >= SATURATED_MACHINE_PCT {
            if self.other_pct() >= OTHER_WORK_PCT {
                Some("machine CPU (other work)")
            } else {
                Some("machine CPU")
            }
        } else {
            None
        }
    }
}

#[derive(Debug, Clone)]
struct Sample {
    t_us: u64,
    /// Per server process.
    server: Vec<f64>,
    server_threads: Vec<(u32, f64)>,
    redis: f64,
    /// Per loadgen process.
    loadgen: Vec<f64>,
    loadgen_threads: Vec<(u32, f64)>,
    machine: f64,
}

/// Busy CPU-seconds of the whole machine (all cores) from /proc/stat.
fn machine_busy() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = stat.lines().next() else {
        return 0.0;
    };
    let v: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal
    let busy: f64 = [0, 1, 2, 5, 6, 7].iter().filter_map(|&i| v.get(i)).sum();
    busy / crate::util::clk_tck()
}

/// The most CPU any one thread used between two samples (a thread absent from `a` was
/// born in between: all of its time counts).
fn busiest_thread(a: &[(u32, f64)], b: &[(u32, f64)]) -> f64 {
    b.iter()
        .map(|(tid, cb)| {
            let ca = a.iter().find(|(t, _)| t == tid).map_or(0.0, |x| x.1);
            cb - ca
        })
        .fold(0.0, f64::max)
}

/// Samples server, loadgen and machine CPU every 20 ms on a thread, so that a window
/// given as two CLOCK_MONOTONIC timestamps (first emit, last receipt) can be cut out
/// afterwards, without the set-up and the collection around it.
struct Sampler {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    handle: std::thread::JoinHandle<Vec<Sample>>,
    redis: bool,
}

impl Sampler {
    /// Samples the `servers` (one, or the nodes of a cluster), the `loadgen` processes and
    /// the cluster's `redis` server if given.
    fn start(servers: Vec<u32>, loadgen: Vec<u32>, redis: Option<u32>) -> Sampler {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut out = Vec::new();
            loop {
                let done = flag.load(std::sync::atomic::Ordering::Relaxed);
                out.push(Sample {
                    t_us: crate::util::now_us(),
                    server: servers.iter().map(|p| cpu_seconds(*p)).collect(),
                    server_threads: servers
                        .iter()
                        .flat_map(|p| thread_cpu_seconds(*p))
                        .collect(),
                    redis: redis.map_or(0.0, cpu_seconds),
                    loadgen: loadgen.iter().map(|p| cpu_seconds(*p)).collect(),
                    loadgen_threads: loadgen
                        .iter()
                        .flat_map(|p| thread_cpu_seconds(*p))
                        .collect(),
                    machine: machine_busy(),
                });
                if done {
                    return out;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        Sampler {
            stop,
            handle,
            redis: redis.is_some(),
        }
    }

    /// Stops sampling and cuts out [from_us, to_us] (widened to the nearest samples).
    fn window(self, from_us: u64, to_us: u64) -> Window {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let samples = self.handle.join().unwrap_or_default();
        let a = samples
            .iter()
            .rev()
            .find(|s| s.t_us <= from_us)
            .or(samples.first());
        let b = samples.iter().find(|s| s.t_us >= to_us).or(samples.last());
        match (a, b) {
            (Some(a), Some(b)) if b.t_us > a.t_us => Window {
                server_cpu: b.server.iter().sum::<f64>() - a.server.iter().sum::<f64>(),
                server_nodes: a.server.iter().zip(&b.server).map(|(x, y)| y - x).collect(),
                redis_cpu: b.redis - a.redis,
                redis_sampled: self.redis,
                loadgen_cpu: b.loadgen.iter().sum::<f64>() - a.loadgen.iter().sum::<f64>(),
                machine_cpu: b.machine - a.machine,
                server_thread_max: busiest_thread(&a.server_threads, &b.server_threads),
                loadgen_thread_max: busiest_thread(&a.loadgen_threads, &b.loadgen_threads),
                loadgen_proc_max: a
                    .loadgen
                    .iter()
                    .zip(&b.loadgen)
                    .map(|(x, y)| y - x)
                    .fold(0.0, f64::max),
                seconds: (b.t_us - a.t_us) as f64 / 1e6,
            },
            _ => Window {
                server_cpu: f64::NAN,
                server_nodes: Vec::new(),
                redis_cpu: f64::NAN,
                redis_sampled: self.redis,
                loadgen_cpu: f64::NAN,
                machine_cpu: f64::NAN,
                server_thread_max: f64::NAN,
                loadgen_thread_max: f64::NAN,
                loadgen_proc_max: f64::NAN,
                seconds: 0.0,
            },
        }
    }
}

/// The CPU rows of a section, and `limited by`: what [`Window::limit`] found saturated,
/// or `otherwise` when nothing was.
fn cpu_rows(
    r: &mut Results,
    kind: ServerKind,
    section: &str,
    w: &Window,
    loadgen_threads: usize,
    otherwise: &str,
) {
    r.set_text(
        kind,
        section,
        "limited by",
        w.limit(loadgen_threads).unwrap_or(otherwise),
    );
    r.set(
        kind,
        section,
        "server CPU % (100 = one core)",
        Better::Info,
        w.pct(w.server_cpu),
    );
    r.set(
        kind,
        section,
        "server's busiest thread CPU %",
        Better::Info,
        w.pct(w.server_thread_max),
    );
    r.set(
        kind,
        section,
        "loadgen CPU %",
        Better::Info,
        w.pct(w.loadgen_cpu),
    );
    r.set(
        kind,
        section,
        "machine CPU % (of 200)",
        Better::Info,
        w.pct(w.machine_cpu),
    );
    if w.server_nodes.len() > 1 {
        // The cluster: each node, and the Redis between them (— when not on this machine).
        for (i, cpu) in w.server_nodes.iter().enumerate() {
            let role = if i == 0 { " (senders' node)" } else { "" };
            r.set(
                kind,
                section,
                &format!("node {} CPU %{role}", node_name(i)),
                Better::Info,
                w.pct(*cpu),
            );
        }
        r.set(
            kind,
            section,
            "Redis CPU %",
            Better::Info,
            if w.redis_sampled {
                w.pct(w.redis_cpu)
            } else {
                f64::NAN
            },
        );
    }
    r.set(
        kind,
        section,
        if w.server_nodes.len() > 1 {
            "other CPU % (machine − servers − loadgen − Redis)"
        } else {
            "other CPU % (machine − server − loadgen)"
        },
        Better::Info,
        w.other_pct(),
    );
    r.other_pct.push(w.other_pct());
}

impl Suite {
    fn port(&mut self) -> u16 {
        // A fresh port per server start: no TIME_WAIT left by the previous server's
        // connections can collide with a new connection.
        self.next_port += 1;
        self.next_port
    }

    /// Starts `kind`, runs `f`, stops the server; a scenario that fails is recorded.
    fn with_server(
        &mut self,
        kind: ServerKind,
        label: &str,
        f: impl FnOnce(&mut Suite, &mut ServerProc) -> Result<(), String>,
    ) {
        self.with_nodes(kind, label, 1, false, |suite, nodes| {
            f(suite, &mut nodes[0])
        });
    }

    /// Starts `nodes` instances of `kind`, each on its own port (2 or more: the nodes of
    /// one cluster on the suite's Redis, with a channel prefix of their own, checked to
    /// deliver across nodes), runs `f`, stops them; a scenario that fails is recorded.
    /// `recovery`: connection state recovery on (see [`ServerProc::start`]).
    fn with_nodes(
        &mut self,
        kind: ServerKind,
        label: &str,
        nodes: usize,
        recovery: bool,
        f: impl FnOnce(&mut Suite, &mut [ServerProc]) -> Result<(), String>,
    ) {
        let ports: Vec<u16> = (0..nodes.max(1)).map(|_| self.port()).collect();
        let started = Instant::now();
        let runs = self.results.runs;
        let run = self.results.run + 1;
        let run_suffix = if runs > 1 {
            format!("-run{run}")
        } else {
            String::new()
        };
        let port_list = ports
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let where_ = if ports.len() > 1 {
            format!("ports {port_list}")
        } else {
            format!("port {port_list}")
        };
        if runs > 1 {
            eprintln!(
                "--- {} / {label}, run {run} of {runs} ({where_})",
                kind.name()
            );
        } else {
            eprintln!("--- {} / {label} ({where_})", kind.name());
        }
        let cluster = if ports.len() > 1 {
            let url = self.opts.redis.clone();
            if let Err(e) = redis_ping(&url) {
                self.results.fail(format!(
                    "{} / {label}: Redis is not reachable at {url} ({e}): the cluster scenario \
                     needs one; start it, or name another with --redis URL or REDIS_URL",
                    kind.name()
                ));
                return;
            }
            Some(ClusterEnv {
                url,
                key: format!("bench-{}-{}", std::process::id(), ports[0]),
            })
        } else {
            None
        };
        let mut servers: Vec<ServerProc> = Vec::new();
        let mut failed = None;
        for (i, &port) in ports.iter().enumerate() {
            let log_label = if ports.len() > 1 {
                format!("{label}-{}{run_suffix}", node_name(i).to_ascii_lowercase())
            } else {
                format!("{label}{run_suffix}")
            };
            match ServerProc::start(kind, port, &log_label, cluster.as_ref(), recovery) {
                Ok(s) => servers.push(s),
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        if failed.is_none() && servers.len() > 1 {
            failed = wait_cluster(&mut servers)
                .err()
                .map(|e| format!("the nodes do not form a cluster: {e}"));
        }
        if let Some(e) = failed {
            for s in &mut servers {
                s.stop();
            }
            self.results.fail(format!("{} / {label}: {e}", kind.name()));
            return;
        }
        let r = f(self, &mut servers);
        let dead: Vec<String> = servers
            .iter_mut()
            .filter_map(|s| (!s.alive()).then(|| s.log.display().to_string()))
            .collect();
        for s in &mut servers {
            s.stop();
        }
        if let Err(e) = r {
            self.results.fail(format!("{} / {label}: {e}", kind.name()));
        } else if !dead.is_empty() {
            self.results.fail(format!(
                "{} / {label}: the server died during the run; see {}",
                kind.name(),
                dead.join(", ")
            ));
        }
        let after: Vec<String> = ports
            .iter()
            .map(|&port| {
                let (open, tw) = sockets_on_port(port);
                format!("{open} connections still open on port {port}, {tw} in TIME_WAIT")
            })
            .collect();
        eprintln!(
            "    {:.1} s; after stop: {}",
            started.elapsed().as_secs_f64(),
            after.join("; ")
        );
    }

    fn idle(&mut self, kind: ServerKind) {
        let sizes = self.sizes.clone();
        self.with_server(kind, "idle", |suite, server| {
            std::thread::sleep(Duration::from_millis(500));
            let base = server.rss_kib();
            let section = "idle memory";
            suite.results.set(
                kind,
                section,
                "server RSS before clients (MiB)",
                Better::Lower,
                base as f64 / 1024.0,
            );
            let (mut a, _) = Fleet::spawn(
                &suite.opts,
                "idle-a",
                server.addr,
                Proto::Sio,
                sizes.idle[0],
                0,
                500,
            )?;
            std::thread::sleep(sizes.settle);
            let rss = server.rss_kib();
            suite.results.set(
                kind,
                section,
                &format!("KiB per Socket.IO client, {} clients", k(sizes.idle[0])),
                Better::Lower,
                rss.saturating_sub(base) as f64 / sizes.idle[0] as f64,
            );
            let more = sizes.idle[1] - sizes.idle[0];
            let (mut b, _) = match Fleet::spawn(
                &suite.opts,
                "idle-b",
                server.addr,
                Proto::Sio,
                more,
                sizes.idle[0],
                500,
            ) {
                Ok(x) => x,
                Err(e) => {
                    a.close();
                    return Err(e);
                }
            };
            std::thread::sleep(sizes.settle);
            let rss = server.rss_kib();
            suite.results.set(
                kind,
                section,
                &format!("KiB per Socket.IO client, {} clients", k(sizes.idle[1])),
                Better::Lower,
                rss.saturating_sub(base) as f64 / sizes.idle[1] as f64,
            );
            let mut stats = a.command(json!({"cmd": "stats"}), Duration::from_secs(5))?;
            stats.extend(b.command(json!({"cmd": "stats"}), Duration::from_secs(5))?);
            b.close();
            a.close();
            let lost = lost_connections(&stats);
            if lost > 0 {
                return Err(format!(
                    "{lost} idle connections were closed by the server: {:?}",
                    errors(&stats)
                ));
            }
            Ok(())
        });
    }

    /// realtime only: idle memory of plain WebSocket clients, on a fresh server.
    fn idle_plain(&mut self, kind: ServerKind) {
        let sizes = self.sizes.clone();
        {
            self.with_server(kind, "idle-plain", |suite, server| {
                std::thread::sleep(Duration::from_millis(500));
                let base = server.rss_kib();
                let (mut a, _) = Fleet::spawn(
                    &suite.opts,
                    "idle-plain",
                    server.addr,
                    Proto::Plain,
                    sizes.idle_plain,
                    0,
                    500,
                )?;
                std::thread::sleep(sizes.settle);
                let rss = server.rss_kib();
                suite.results.set(
                    kind,
                    "idle memory",
                    &format!(
                        "KiB per plain WebSocket client, {} clients",
                        k(sizes.idle_plain)
                    ),
                    Better::Lower,
                    rss.saturating_sub(base) as f64 / sizes.idle_plain as f64,
                );
                let stats = a.command(json!({"cmd": "stats"}), Duration::from_secs(5))?;
                a.close();
                let lost = lost_connections(&stats);
                if lost > 0 {
                    return Err(format!(
                        "{lost} idle plain connections were closed by the server: {:?}",
                        errors(&stats)
                    ));
                }
                Ok(())
            });
        }
    }

    /// A room of `room` receivers; `senders` other clients emit `fanout` `emits` times in
    /// all, paced by their acks (`interval_us` 0) or one per interval. With several
    /// `nodes` (a cluster) the receivers are split evenly over them and the senders are
    /// clients of the first: what reaches the others goes through the cluster's adapter.
    #[allow(clippy::too_many_arguments)]
    fn fanout_run(
        &mut self,
        kind: ServerKind,
        nodes: &mut [ServerProc],
        section: &str,
        room: usize,
        emits: u64,
        senders: usize,
        interval_us: u64,
    ) -> Result<(), String> {
        let paced = interval_us == 0;
        let cluster = nodes.len() > 1;
        let rss = |nodes: &[ServerProc]| nodes.iter().map(ServerProc::rss_kib).sum::<u64>();
        let addrs: Vec<SocketAddr> = nodes.iter().map(|n| n.addr).collect();
        // The fixed-rate run must not be limited by the load generator: its receivers are
        // spread over several processes, and latency may be sampled on a subset.
        let layout = if paced {
            Layout::default()
        } else {
            Layout {
                min_procs: self.sizes.rate_procs,
                latency_every: self.opts.latency_every,
                rx_timestamps: true,
            }
        };
        std::thread::sleep(Duration::from_millis(300));
        let base_kib = rss(nodes);
        let (mut recv, _) = Fleet::spawn_laid_out(
            &self.opts,
            "receivers",
            &addrs,
            Proto::Sio,
            room,
            0,
            500,
            layout,
        )?;
        let timeout = Duration::from_secs(120);
        let joined = recv.command(
            json!({"cmd": "join", "room": "r", "timeout_ms": 60_000}),
            timeout,
        )?;
        if sum(&joined, "ops") as usize != room {
            recv.close();
            return Err(format!(
                "only {} of {room} clients joined the room: {:?}",
                sum(&joined, "ops"),
                errors(&joined)
            ));
        }
        let (mut send, _) = match Fleet::spawn(
            &self.opts,
            "senders",
            nodes[0].addr,
            Proto::Sio,
            senders,
            room,
            100,
        ) {
            Ok(x) => x,
            Err(e) => {
                recv.close();
                return Err(e);
            }
        };
        std::thread::sleep(Duration::from_millis(300));
        let joined_kib = rss(nodes);
        let redis = if cluster {
            let pid = redis_pid(&self.opts.redis);
            if pid.is_none() {
                eprintln!(
                    "    the Redis server's process is not on this machine or not visible: \
                     its CPU counts as other work"
                );
            }
            pid
        } else {
            None
        };
        let sampler = Sampler::start(
            nodes.iter().map(|n| n.pid).collect(),
            recv.pids().into_iter().chain(send.pids()).collect(),
            redis,
        );
        let per_sender = emits / senders as u64;
        let total_emits = per_sender * senders as u64;
        let fan_timeout_ms = 120_000;
        let sent = send.command(
            json!({"cmd": "fanout", "room": "r", "emits": per_sender, "interval_us": interval_us, "timeout_ms": fan_timeout_ms}),
            Duration::from_millis(fan_timeout_ms),
        );
        // Bounded by the slowest drain seen (Node, ~50 k deliveries/s) with room to spare.
        let collect_timeout =
            self.sizes.collect_timeout + Duration::from_secs(total_emits * room as u64 / 20_000);
        let collected = recv.command(
            json!({"cmd": "collect", "expected_per_client": total_emits, "timeout_ms": collect_timeout.as_millis() as u64}),
            collect_timeout,
        );
        let (start, last) = match (&sent, &collected) {
            (Ok(s), Ok(c)) => (min_nonzero(s, "start_us"), max(c, "last_us")),
            _ => (0, 0),
        };
        let w = sampler.window(start, last);
        // Memory with every client still connected, ~1 s after the last delivery: what a
        // transport keeps once a burst is written (buffers, queues, allocator retention).
        // Not for a cluster: the sum of two processes' peaks is no peak.
        let after_kib = if paced && collected.is_ok() && !cluster {
            let settle = (last + 1_000_000).saturating_sub(now_us());
            std::thread::sleep(Duration::from_micros(settle.min(1_000_000)));
            Some((rss(nodes), peak_rss_kib(nodes[0].pid)))
        } else {
            None
        };
        let recv_nodes = recv.nodes();
        send.close();
        recv.close();
        let sent = sent?;
        let collected = collected?;

        let acked = sum(&sent, "ops");
        let expected = total_emits * room as u64;
        let received = sum(&collected, "received");
        let seconds = (last.saturating_sub(start)) as f64 / 1e6;
        let hist = merged_hist(&collected);
        let threads = self.opts.threads;
        let r = &mut self.results;
        let achieved = received as f64 / seconds;
        let offered = if paced {
            f64::NAN
        } else {
            1e6 / interval_us as f64 * senders as f64 * room as f64
        };
        if paced {
            r.set(kind, section, "deliveries/s", Better::Higher, achieved);
        } else {
            r.set(kind, section, "offered deliveries/s", Better::Info, offered);
            r.set(
                kind,
                section,
                "achieved deliveries/s",
                Better::Higher,
                achieved,
            );
        }
        r.set(
            kind,
            section,
            "p50 emit→receipt (ms)",
            Better::Lower,
            ms(&hist, 0.5),
        );
        r.set(
            kind,
            section,
            "p99 emit→receipt (ms)",
            Better::Lower,
            ms(&hist, 0.99),
        );
        if cluster {
            // The receivers of the other nodes: every delivery went through the adapter.
            let remote: Vec<Value> = collected
                .iter()
                .zip(&recv_nodes)
                .filter(|(_, node)| **node != 0)
                .map(|(reply, _)| reply.clone())
                .collect();
            let remote = merged_hist(&remote);
            r.set(
                kind,
                section,
                "p50 emit→receipt on node B, through Redis (ms)",
                Better::Lower,
                ms(&remote, 0.5),
            );
            r.set(
                kind,
                section,
                "p99 emit→receipt on node B, through Redis (ms)",
                Better::Lower,
                ms(&remote, 0.99),
            );
        }
        if !paced {
            // The same latency to the kernel's receive stamp: when the server's write reached
            // the receiver's socket, without the load generator's delay in reading it.
            let kernel = merged(&collected, "kernel_hist");
            r.set(
                kind,
                section,
                "p50 emit→in receiver's socket (ms)",
                Better::Lower,
                ms(&kernel, 0.5),
            );
            r.set(
                kind,
                section,
                "p99 emit→in receiver's socket (ms)",
                Better::Lower,
                ms(&kernel, 0.99),
            );
        }
        r.set(
            kind,
            section,
            "lost deliveries",
            Better::Zero,
            expected.saturating_sub(received) as f64,
        );
        r.set(
            kind,
            section,
            if cluster {
                "server CPU µs per delivery (both nodes)"
            } else {
                "server CPU µs per delivery"
            },
            Better::Lower,
            w.server_cpu * 1e6 / received.max(1) as f64,
        );
        if !paced {
            // The same latency to the kernel's receive stamp: when the server's write reached
            // the receiver's socket, without the load generator's delay in reading it.
            let kernel = merged(&collected, "kernel_hist");
            r.set(
                kind,
                section,
                "p50 emit→in receiver's socket (ms)",
                Better::Lower,
                ms(&kernel, 0.5),
            );
            r.set(
                kind,
                section,
                "p99 emit→in receiver's socket (ms)",
                Better::Lower,
                ms(&kernel, 0.99),
            );
        }
        r.set(
            kind,
            section,
            "loadgen CPU µs per delivery",
            Better::Info,
            w.loadgen_cpu * 1e6 / received.max(1) as f64,
        );
        let otherwise = if paced {
            "nothing saturated"
        } else if achieved >= 0.97 * offered {
            "offered load"
        } else {
            "nothing saturated (behind the offered load)"
        };
        cpu_rows(r, kind, section, &w, threads, otherwise);
        if let Some((after, peak)) = after_kib {
            let per = |kib: u64| kib.saturating_sub(base_kib) as f64 / room as f64;
            r.set(
                kind,
                section,
                "server KiB per receiver, joined, before the emits",
                Better::Lower,
                per(joined_kib),
            );
            r.set(
                kind,
                section,
                "server KiB per receiver, peak (VmHWM)",
                Better::Lower,
                per(peak),
            );
            r.set(
                kind,
                section,
                "server KiB per receiver, 1 s after the last delivery",
                Better::Lower,
                per(after),
            );
        }
        let mut problems = Vec::new();
        if acked != total_emits {
            problems.push(format!(
                "{acked} of {total_emits} fanout emits acked: {:?}",
                errors(&sent)
            ));
        }
        if received != expected {
            problems.push(format!(
                "{received} of {expected} deliveries received ({} clients short, {} over)",
                sum(&collected, "clients_short"),
                sum(&collected, "clients_over")
            ));
        }
        let lost = lost_connections(&collected) + lost_connections(&sent);
        if lost > 0 {
            problems.push(format!(
                "{lost} connections closed by the server: {:?}",
                errors(&collected)
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }

    fn fanout(&mut self, kind: ServerKind, room: usize, emits: u64) {
        let senders = self.sizes.senders;
        let label = format!("fanout-{}", k(room));
        let section = format!("fan-out, room of {}, {emits} emits paced by acks", k(room));
        self.with_server(kind, &label, |suite, server| {
            suite.fanout_run(
                kind,
                std::slice::from_mut(server),
                &section,
                room,
                emits,
                senders,
                0,
            )
        });
    }

    /// The ack-paced fan-out through a cluster: two nodes of `kind` on one Redis, the
    /// receivers split evenly over them, the senders on the first.
    fn cluster(&mut self, kind: ServerKind, room: usize, emits: u64) {
        let senders = self.sizes.senders;
        let label = format!("cluster-{}", k(room));
        let section = format!(
            "cluster fan-out, 2 nodes on one Redis, room of {} ({} per node), {emits} emits paced by acks",
            k(room),
            k(room / 2)
        );
        self.with_nodes(kind, &label, 2, false, |suite, nodes| {
            suite.fanout_run(kind, nodes, &section, room, emits, senders, 0)
        });
    }

    fn rate(&mut self, kind: ServerKind, room: usize) {
        let sizes = self.sizes.clone();
        {
            let emits_per_s = sizes.rate as f64 / room as f64;
            let emits = (emits_per_s * sizes.rate_seconds).round().max(1.0) as u64;
            let interval_us = (1e6 / emits_per_s).round() as u64;
            let label = format!("rate-{}", k(room));
            let section = format!(
                "fan-out at {} deliveries/s, room of {}, {} s",
                group(sizes.rate as i64),
                k(room),
                sizes.rate_seconds
            );
            self.with_server(kind, &label, |suite, server| {
                suite.fanout_run(
                    kind,
                    std::slice::from_mut(server),
                    &section,
                    room,
                    emits,
                    1,
                    interval_us,
                )
            });
        }
    }

    fn echo(&mut self, kind: ServerKind) {
        let sizes = self.sizes.clone();
        let section = format!(
            "echo with ack, {} clients × {} round trips",
            k(sizes.echo_clients),
            sizes.echo_count
        );
        self.with_server(kind, "echo", |suite, server| {
            let (mut fleet, _) = Fleet::spawn(
                &suite.opts,
                "echo",
                server.addr,
                Proto::Sio,
                sizes.echo_clients,
                0,
                500,
            )?;
            std::thread::sleep(Duration::from_millis(300));
            let sampler = Sampler::start(vec![server.pid], fleet.pids(), None);
            let done = fleet.command(
                json!({"cmd": "echo", "count": sizes.echo_count, "timeout_ms": 120_000}),
                Duration::from_secs(120),
            );
            let (start, end) = match &done {
                Ok(d) => (min_nonzero(d, "start_us"), max(d, "end_us")),
                Err(_) => (0, 0),
            };
            let w = sampler.window(start, end);
            fleet.close();
            let done = done?;
            let ops = sum(&done, "ops");
            let seconds = (end.saturating_sub(start)) as f64 / 1e6;
            let hist = merged_hist(&done);
            let r = &mut suite.results;
            r.set(
                kind,
                &section,
                "round trips/s",
                Better::Higher,
                ops as f64 / seconds,
            );
            r.set(
                kind,
                &section,
                "p50 round trip (ms)",
                Better::Lower,
                ms(&hist, 0.5),
            );
            r.set(
                kind,
                &section,
                "p99 round trip (ms)",
                Better::Lower,
                ms(&hist, 0.99),
            );
            r.set(
                kind,
                &section,
                "server CPU µs per round trip",
                Better::Lower,
                w.server_cpu * 1e6 / ops.max(1) as f64,
            );
            cpu_rows(
                r,
                kind,
                &section,
                &w,
                suite.opts.threads,
                "nothing saturated",
            );
            let expected = sizes.echo_count * sizes.echo_clients as u64;
            if ops != expected {
                return Err(format!(
                    "{ops} of {expected} echo round trips completed: {:?}",
                    errors(&done)
                ));
            }
            Ok(())
        });
    }

    fn storm(&mut self, kind: ServerKind) {
        let sizes = self.sizes.clone();
        let section = format!("connection storm, {} clients", k(sizes.storm));
        let section2 = format!(
            "reconnect avalanche, {} clients dropped at once",
            k(sizes.storm)
        );
        self.with_server(kind, "storm", |suite, server| {
            let mut fleet = Fleet::launch(&suite.opts, "storm", &[server.addr], Proto::Sio, sizes.storm, 0, sizes.storm_concurrency, Layout::default())?;
            let sampler = Sampler::start(vec![server.pid], fleet.pids(), None);
            let c = fleet.wait_connected(sizes.storm);
            let c = match c {
                Ok(c) => c,
                Err(e) => {
                    fleet.close();
                    return Err(e);
                }
            };
            let w = sampler.window(c.start_us, c.end_us);
            let seconds = (c.end_us.saturating_sub(c.start_us)) as f64 / 1e6;
            let r = &mut suite.results;
            r.set(kind, &section, "connections/s", Better::Higher, c.ok as f64 / seconds);
            r.set(kind, &section, "server CPU µs per connection", Better::Lower, w.server_cpu * 1e6 / c.ok.max(1) as f64);
            cpu_rows(r, kind, &section, &w, suite.opts.threads, "nothing saturated");
            std::thread::sleep(Duration::from_secs(1));
            let cpu0 = server.cpu();
            let bound = sizes.reconnect_bound.as_millis() as u64;
            let rec = fleet.command(
                json!({"cmd": "reconnect", "delay_ms": sizes.reconnect_delay_ms, "timeout_ms": bound}),
                sizes.reconnect_bound + Duration::from_secs(5),
            );
            let cpu1 = server.cpu();
            fleet.close();
            let rec = rec?;
            let back = sum(&rec, "back");
            let never = sizes.storm as u64 - back.min(sizes.storm as u64);
            let t0 = min_nonzero(&rec, "start_us");
            let all_back = (max(&rec, "end_us").saturating_sub(t0)) as f64 / 1e6;
            let hist = merged_hist(&rec);
            let r = &mut suite.results;
            r.set(kind, &section2, "seconds until all are back", Better::Lower, if never == 0 { all_back } else { f64::NAN });
            r.set(kind, &section2, "p50 time to reconnect (s)", Better::Lower, ms(&hist, 0.5) / 1000.0);
            r.set(kind, &section2, "p99 time to reconnect (s)", Better::Lower, ms(&hist, 0.99) / 1000.0);
            let handshake = merged(&rec, "handshake_hist");
            r.set(kind, &section2, "p50 handshake of the successful attempt (ms)", Better::Lower, ms(&handshake, 0.5));
            r.set(kind, &section2, "p99 handshake of the successful attempt (ms)", Better::Lower, ms(&handshake, 0.99));
            r.set(kind, &section2, "clients never back", Better::Zero, never as f64);
            r.set(kind, &section2, "failed attempts (retried)", Better::Lower, sum(&rec, "retries") as f64);
            r.set(kind, &section2, "server CPU seconds for the whole avalanche", Better::Lower, cpu1 - cpu0);
            if never > 0 {
                return Err(format!("{never} clients never came back within {} s: {:?}", bound / 1000, errors(&rec)));
            }
            Ok(())
        });
    }
}

impl Suite {
    /// Connection state recovery under random TCP cuts (see [`JitterSizes`] and
    /// `bench/README.md`): `kind` with recovery on when it has it ([`ServerKind::jitter_recovery`]).
    fn jitter(&mut self, kind: ServerKind) {
        let z = self.sizes.jitter.clone();
        let recovery = kind.jitter_recovery();
        let section = z.section();
        self.with_nodes(kind, "jitter", 1, recovery, |suite, nodes| {
            suite.jitter_run(kind, &mut nodes[0], &section, &z, recovery)
        });
    }

    fn jitter_run(
        &mut self,
        kind: ServerKind,
        server: &mut ServerProc,
        section: &str,
        z: &JitterSizes,
        recovery: bool,
    ) -> Result<(), String> {
        let t0 = Instant::now();
        let phase = |what: &str| eprintln!("    {:6.2} s {what}", t0.elapsed().as_secs_f64());
        std::thread::sleep(z.settle);
        let base_kib = server.rss_kib();
        // At most 100 handshakes in flight: a burst of connects beyond the listen backlog
        // (128 for a tokio listener) drops SYNs, and each costs a second of retransmission.
        let (mut recv, _) = Fleet::spawn(
            &self.opts,
            "jitter-clients",
            server.addr,
            Proto::Sio,
            z.clients,
            0,
            100,
        )?;
        let joined = recv.command(
            json!({"cmd": "join", "room": "j", "timeout_ms": 60_000}),
            Duration::from_secs(60),
        )?;
        if sum(&joined, "ops") as usize != z.clients {
            recv.close();
            return Err(format!(
                "only {} of {} clients joined the room: {:?}",
                sum(&joined, "ops"),
                z.clients,
                errors(&joined)
            ));
        }
        let (mut send, _) = match Fleet::spawn(
            &self.opts,
            "jitter-sender",
            server.addr,
            Proto::Sio,
            1,
            z.clients,
            10,
        ) {
            Ok(x) => x,
            Err(e) => {
                recv.close();
                return Err(e);
            }
        };
        phase("clients joined, sender connected");
        std::thread::sleep(z.settle);
        let joined_kib = server.rss_kib();
        let sampler = Sampler::start(
            vec![server.pid],
            recv.pids().into_iter().chain(send.pids()).collect(),
            None,
        );
        let emits = z.emits();
        let interval_us = z.interval_us();
        let (cut_from_ms, cut_to_ms) = z.cut_window_ms();
        // The clients' cut schedules start when they have the command; the stream right
        // after every one of them has it.
        let armed = recv.command(
            json!({"cmd": "jitter", "room": "j", "emits": emits, "cuts": z.cuts,
                   "cut_from_ms": cut_from_ms, "cut_to_ms": cut_to_ms,
                   "pause_min_ms": z.pause_ms[0], "pause_max_ms": z.pause_ms[1]}),
            Duration::from_secs(10),
        );
        let stream_timeout_ms = emits * interval_us / 1000 + 60_000;
        let sent = match armed {
            Ok(_) => send.command(
                json!({"cmd": "fanout", "room": "j", "emits": emits, "interval_us": interval_us,
                       "timeout_ms": stream_timeout_ms}),
                Duration::from_millis(stream_timeout_ms),
            ),
            Err(e) => Err(e),
        };
        phase("stream sent");
        let ended = recv.command(
            json!({"cmd": "jitter_end", "timeout_ms": z.end_timeout.as_millis() as u64}),
            z.end_timeout + Duration::from_secs(20),
        );
        phase(match &ended {
            Ok(e) if e.iter().all(|r| r["all_ready"] == json!(true)) => {
                "every client has the end of the stream"
            }
            Ok(e) if e.iter().all(|r| r["all_settled"] == json!(true)) => {
                "every client is back in the room; some never had the end of the stream"
            }
            Ok(_) => "ended: not every client was back in the room in time",
            Err(_) => "ended with an error",
        });
        let (start, last) = match (&sent, &ended) {
            (Ok(s), Ok(e)) => (min_nonzero(s, "start_us"), max(e, "last_us")),
            _ => (0, 0),
        };
        let w = sampler.window(start, last);
        let peak_kib = peak_rss_kib(server.pid);
        let end_kib = server.rss_kib();
        send.close();
        recv.close();
        phase("clients closed");
        let sent = sent?;
        let ended = ended?;

        let total = |field: &str| -> u64 {
            ended
                .iter()
                .map(|r| r["totals"][field].as_u64().unwrap_or(0))
                .sum()
        };
        let expected = total("expected");
        let distinct = total("distinct");
        let duplicates = total("duplicates");
        let out_of_order = total("out_of_order");
        let reconnects = total("reconnects");
        let recovered = total("recovered");
        let lost = expected.saturating_sub(distinct);
        let ticks_received: u64 = distinct + duplicates;
        let examples: Vec<String> = ended
            .iter()
            .flat_map(|r| {
                r["totals"]["examples"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .filter_map(|e| e.as_str().map(str::to_owned))
            .collect();
        let live = merged_hist(&ended);
        let handshake = merged(&ended, "handshake_hist");
        let threads = self.opts.threads;
        let r = &mut self.results;
        let pct = |a: u64, b: u64| {
            if b == 0 {
                f64::NAN
            } else {
                a as f64 * 100.0 / b as f64
            }
        };
        r.set_pct(
            kind,
            section,
            "delivery ratio (%): distinct ticks received ÷ (ticks × clients)",
            Better::Higher,
            pct(distinct, expected),
        );
        r.set(kind, section, "lost deliveries", Better::Lower, lost as f64);
        r.set(
            kind,
            section,
            "of which the first tick due after a recovered reconnect's replay",
            Better::Lower,
            if recovery || recovered > 0 {
                total("lost_at_seams") as f64
            } else {
                f64::NAN
            },
        );
        r.set(
            kind,
            section,
            "clients that lost any",
            Better::Lower,
            total("clients_short") as f64,
        );
        r.set(
            kind,
            section,
            "duplicate deliveries",
            Better::Lower,
            duplicates as f64,
        );
        r.set(
            kind,
            section,
            "out-of-order deliveries",
            Better::Lower,
            out_of_order as f64,
        );
        r.set(kind, section, "reconnects", Better::Info, reconnects as f64);
        r.set_pct(
            kind,
            section,
            "recovered reconnects (%)",
            Better::Higher,
            if recovery || recovered > 0 {
                pct(recovered, reconnects)
            } else {
                0.0
            },
        );
        r.set(
            kind,
            section,
            "ticks replayed before the CONNECT reply",
            Better::Info,
            total("replayed") as f64,
        );
        r.set(
            kind,
            section,
            "joins after a reconnect that was not recovered",
            Better::Info,
            total("rejoins") as f64,
        );
        r.set(
            kind,
            section,
            "joins sent again (no ack within 0.5 s)",
            Better::Lower,
            total("join_retries") as f64,
        );
        r.set(
            kind,
            section,
            "p50 reconnect handshake (ms)",
            Better::Lower,
            ms(&handshake, 0.5),
        );
        r.set(
            kind,
            section,
            "p99 reconnect handshake (ms)",
            Better::Lower,
            ms(&handshake, 0.99),
        );
        r.set(
            kind,
            section,
            "p50 emit→receipt, live ticks (ms)",
            Better::Lower,
            ms(&live, 0.5),
        );
        r.set(
            kind,
            section,
            "p99 emit→receipt, live ticks (ms)",
            Better::Lower,
            ms(&live, 0.99),
        );
        r.set(
            kind,
            section,
            "server RSS before clients (MiB)",
            Better::Lower,
            base_kib as f64 / 1024.0,
        );
        r.set(
            kind,
            section,
            "server RSS, clients joined, before the stream (MiB)",
            Better::Lower,
            joined_kib as f64 / 1024.0,
        );
        r.set(
            kind,
            section,
            "server peak RSS (MiB, VmHWM)",
            Better::Lower,
            peak_kib as f64 / 1024.0,
        );
        r.set(
            kind,
            section,
            "server RSS at the end of the stream (MiB)",
            Better::Lower,
            end_kib as f64 / 1024.0,
        );
        r.set(
            kind,
            section,
            "server CPU seconds, stream and reconnects",
            Better::Lower,
            w.server_cpu,
        );
        r.set(
            kind,
            section,
            "server CPU µs per tick received",
            Better::Lower,
            w.server_cpu * 1e6 / ticks_received.max(1) as f64,
        );
        cpu_rows(r, kind, section, &w, threads, "offered load");
        r.set(
            kind,
            section,
            "failed reconnect attempts (retried)",
            Better::Lower,
            total("failed_attempts") as f64,
        );
        r.set(
            kind,
            section,
            "connections ended by the server",
            Better::Zero,
            total("server_drops") as f64,
        );
        r.set(
            kind,
            section,
            "clients not connected at the end",
            Better::Zero,
            total("not_connected") as f64,
        );

        let mut problems = Vec::new();
        let acked = sum(&sent, "ops");
        if acked != emits {
            problems.push(format!(
                "{acked} of {emits} stream emits acked: {:?}",
                errors(&sent)
            ));
        }
        if ended.iter().any(|r| r["timed_out"] == json!(true)) {
            problems.push("a loadgen worker's clients did not all stop when asked".to_owned());
        }
        for (what, n) in [
            ("clients not connected at the end", total("not_connected")),
            ("connections ended by the server", total("server_drops")),
            ("ticks without a stream number", total("bad")),
            ("re-joins that failed", sum(&ended, "failed_ops")),
            (
                "recovered sockets with another socket id",
                total("recovered_other_sid"),
            ),
        ] {
            if n > 0 {
                problems.push(format!("{n} {what}: {:?}", errors(&ended)));
            }
        }
        let flawed = lost > 0 || duplicates > 0 || out_of_order > 0;
        let summary = format!(
            "{} with recovery on: delivery ratio {} % ({} of {} deliveries lost, by {} \
             client(s), {} of them the first tick due after a recovered reconnect's replay), \
             {duplicates} duplicate(s), {out_of_order} out of order; {} of {} reconnects \
             recovered",
            kind.name(),
            fmt_pct(pct(distinct, expected)),
            group(lost as i64),
            group(expected as i64),
            total("clients_short"),
            total("lost_at_seams"),
            group(recovered as i64),
            group(reconnects as i64),
        );
        if flawed && kind == ServerKind::Realtime {
            // The finding this scenario exists for: recovery on must deliver everything once.
            for e in &examples {
                eprintln!("    {e}");
            }
            problems.push(format!(
                "{summary}; e.g. {}",
                examples
                    .iter()
                    .take(2)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("; and ")
            ));
        } else if flawed && recovery {
            for e in &examples {
                eprintln!("    {e}");
            }
            let note = format!(
                "{summary}; e.g. {}",
                examples.first().cloned().unwrap_or_default()
            );
            eprintln!("    note: {note}");
            r.notes.push(note);
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }
}

// ---------------------------------------------------------------------------------------
// Report

fn sh(cmd: &str) -> String {
    Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

fn lock_version(name: &str) -> String {
    let lock = std::fs::read_to_string(bench_root().join("Cargo.lock")).unwrap_or_default();
    let mut lines = lock.lines();
    while let Some(l) = lines.next() {
        if l == format!("name = \"{name}\"") {
            if let Some(v) = lines.next().and_then(|v| v.strip_prefix("version = ")) {
                return v.trim_matches('"').to_owned();
            }
        }
    }
    "?".to_owned()
}

/// The version of `dep` that `name` depends on in bench/Cargo.lock (`redis 1.8.1` is
/// written `"redis 1.8.1"` there when two versions are locked), or `?`.
fn lock_dependency_version(name: &str, dep: &str) -> String {
    let lock = std::fs::read_to_string(bench_root().join("Cargo.lock")).unwrap_or_default();
    let Some(block) = lock
        .split("[[package]]")
        .find(|b| b.lines().any(|l| l == format!("name = \"{name}\"")))
    else {
        return "?".to_owned();
    };
    let prefix = format!(" \"{dep} ");
    match block.lines().find_map(|l| {
        l.strip_prefix(&prefix)
            .map(|v| v.trim_end_matches("\",").to_owned())
    }) {
        Some(v) => v,
        None if block.lines().any(|l| l == format!(" \"{dep}\",")) => lock_version(dep),
        None => "?".to_owned(),
    }
}

fn npm_version(pkg: &str) -> String {
    let p = bench_root().join(format!("servers/node/node_modules/{pkg}/package.json"));
    std::fs::read_to_string(p)
        .ok()
        .and_then(|s| serde_json::from_str::<Value>(&s).ok())
        .and_then(|v| v["version"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

fn machine(opts: &Opts) -> String {
    let cpu = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-");
    let nproc = sh("nproc");
    let mem = sh("free -h | awk '/^Mem:/{print $2\" total, \"$7\" available\"}'");
    let kernel = sh("uname -r");
    let rustc = sh("rustc --version");
    let node = sh("node --version");
    let root = bench_root();
    let git = sh(&format!(
        "cd '{}' && git rev-parse --short HEAD && (git diff --quiet HEAD -- ../realtime-core ../realtime-macros ../src || echo '(with uncommitted changes)')",
        root.display()
    ))
    .replace('\n', " ");
    let cluster = if opts.has("cluster") {
        format!(
            "\n- Cluster scenario: Redis {} at {}; socketioxide-redis {} (redis crate {}); \
             @socket.io/redis-adapter {} + redis {}",
            redis_version(&opts.redis),
            opts.redis,
            lock_version("socketioxide-redis"),
            lock_dependency_version("socketioxide-redis", "redis"),
            npm_version("@socket.io/redis-adapter"),
            npm_version("redis"),
        )
    } else {
        String::new()
    };
    format!(
        "- CPU: {cpu} × {nproc} (`nproc` = {nproc})\n\
         - Memory: {mem} (`free -h`)\n\
         - Kernel: {kernel}; {rustc}; Node {node}\n\
         - realtime: commit {git}\n\
         - socketioxide {} (engineioxide {}), axum {}, tokio {} (bench/Cargo.lock)\n\
         - Node socket.io {} (engine.io {}, ws {}) (bench/servers/node/node_modules)\n\
         - Load generator: tokio {} + tokio-tungstenite {}{cluster}",
        lock_version("socketioxide"),
        lock_version("engineioxide"),
        lock_version("axum"),
        lock_version("tokio"),
        npm_version("socket.io"),
        npm_version("engine.io"),
        npm_version("ws"),
        lock_version("tokio"),
        lock_version("tokio-tungstenite"),
    )
}

fn write_doc(
    opts: &Opts,
    results: &Results,
    table: &str,
    jitter_table: &str,
    elapsed: Duration,
) -> std::io::Result<PathBuf> {
    let path = bench_root().join("../docs/benchmarks.md");
    std::fs::create_dir_all(path.parent().unwrap())?;
    let date = sh("date -u '+%Y-%m-%d %H:%M UTC'");
    let command = std::env::var("BENCH_COMMAND")
        .unwrap_or_else(|_| format!("bench/target/release/loadgen suite {}", opts.raw.join(" ")));
    let mut s = String::new();
    let _ = writeln!(s, "# Benchmarks\n");
    let runs = if results.runs > 1 {
        format!(
            "Every scenario ran {} times per server, the servers interleaved run by run; each\n\
             figure is the median, with the lowest and highest run in brackets. Ratios are\n\
             realtime ÷ peer of the medians, with the range of the per-run ratios (each run\n\
             of realtime against the peer's run next to it) in brackets",
            results.runs
        )
    } else {
        "Each figure is from a single run. Ratios are realtime ÷ peer".to_owned()
    };
    let _ = writeln!(
        s,
        "Generated by `{command}` on {date}; the suite took {:.0} s.\n\n\
         {runs}: above 1 is better on ↑ rows, below 1 is better on ↓ rows.\n\n\
         What each scenario measures, how, and what limits each figure:\n\
         [bench/README.md](../bench/README.md).\n",
        elapsed.as_secs_f64()
    );
    let _ = writeln!(s, "## Machine\n\n{}\n", machine(opts));
    let _ = writeln!(
        s,
        "Servers, load generator and the kernel's loopback TCP share these cores. Where\n\
         *machine CPU %* is near 200 a throughput or latency figure is bound by the machine,\n\
         not by the server alone; *server CPU µs per delivery* (or per round trip, per\n\
         connection) is the figure that compares servers regardless.\n"
    );
    if let Some(note) = &opts.note {
        let _ = writeln!(s, "Note: {note}\n");
    }
    if !table.is_empty() {
        let _ = writeln!(s, "## Results\n\n{table}");
    }
    if !jitter_table.is_empty() {
        let _ = writeln!(
            s,
            "## Jitter (connection state recovery)\n\n\
             realtime runs twice, recovery on and off; node with recovery on; socketioxide has\n\
             none. Delivery ratio = distinct stream numbers received ÷ (ticks × clients); with\n\
             recovery on it must be 100.00 % for realtime, the others are reported.\n\n{jitter_table}"
        );
    }
    if let Some(note) = results.noise_note() {
        let _ = writeln!(s, "{note}\n");
    }
    for note in &results.notes {
        let _ = writeln!(s, "- Note: {note}");
    }
    if !results.notes.is_empty() {
        s.push('\n');
    }
    if results.failures.is_empty() {
        let _ = writeln!(s, "No scenario lost a message, a connection or a client.");
    } else {
        let _ = writeln!(s, "## Failures\n");
        for f in &results.failures {
            let _ = writeln!(s, "- {f}");
        }
    }
    std::fs::write(&path, s)?;
    Ok(path)
}

pub fn main(opts: Opts) -> i32 {
    let nofile = raise_nofile();
    let started = Instant::now();
    let sizes = Sizes::new(&opts);
    eprintln!(
        "bench suite: {} mode, {} run(s) per server, servers {:?}, scenarios {:?}, open-file limit {nofile}, {} clients per loadgen process, {} source addresses{}",
        if opts.smoke { "smoke" } else { "full" },
        opts.repeat(),
        opts.servers.iter().map(|s| s.name()).collect::<Vec<_>>(),
        opts.scenarios,
        opts.per_process,
        opts.sources,
        if opts.has("cluster") {
            format!(", cluster on Redis at {}", opts.redis)
        } else {
            String::new()
        }
    );
    let needed = sizes.idle[1].max(sizes.storm) as u64 + 64;
    if nofile < needed.min(opts.per_process as u64 + 64) {
        eprintln!("warning: open-file limit {nofile} is below what the scenarios need");
    }
    let mut suite = Suite {
        opts: opts.clone(),
        sizes,
        results: Results::default(),
        // Below the ephemeral range (32 768 and up), 100 ports per suite process.
        next_port: 17_100 + (std::process::id() % 150) as u16 * 100,
    };
    // Scenario by scenario; within one, run after run; within a run, server after server
    // (realtime, socketioxide, node, realtime, ...): a slow drift of the machine's load
    // lands on every server alike, and each run of realtime has a run of each peer next to
    // it to be compared with.
    let mut units: Vec<Unit> = Vec::new();
    if opts.has("idle") {
        units.push(Unit::Idle);
        units.push(Unit::IdlePlain);
    }
    if opts.has("fanout") {
        units.extend(
            suite
                .sizes
                .fanout
                .iter()
                .map(|&(room, emits)| Unit::Fanout(room, emits)),
        );
    }
    if opts.has("cluster") {
        let (room, emits) = suite.sizes.cluster;
        units.push(Unit::Cluster(room, emits));
    }
    if opts.has("rate") {
        units.extend(suite.sizes.rate_rooms.iter().map(|&room| Unit::Rate(room)));
    }
    if opts.has("echo") {
        units.push(Unit::Echo);
    }
    if opts.has("storm") {
        units.push(Unit::Storm);
    }
    if opts.has("jitter") {
        units.push(Unit::Jitter);
    }
    let runs = opts.repeat();
    suite.results.runs = runs;
    let patience = opts.patience();
    let mut spent = Duration::ZERO;
    for unit in units {
        let t = Instant::now();
        for run in 0..runs {
            suite.results.run = run;
            let servers = if matches!(unit, Unit::Jitter) {
                jitter_servers(&opts.servers)
            } else {
                opts.servers.clone()
            };
            for kind in servers {
                if matches!(unit, Unit::IdlePlain) && kind != ServerKind::Realtime {
                    continue;
                }
                // A run that other work disturbed (and that did not fail) is measured again
                // at once, after waiting for the machine to quiet down, as long as the
                // patience budget lasts: the next server's run stays next to it in time.
                loop {
                    let t0 = Instant::now();
                    let budget_left = patience.saturating_sub(spent);
                    spent += wait_quiet(budget_left.min(QUIET_WAIT_MAX), &mut suite.results);
                    let failures = suite.results.failures.len();
                    let windows = suite.results.other_pct.len();
                    match unit {
                        Unit::Idle => suite.idle(kind),
                        Unit::IdlePlain => suite.idle_plain(kind),
                        Unit::Fanout(room, emits) => suite.fanout(kind, room, emits),
                        Unit::Cluster(room, emits) => suite.cluster(kind, room, emits),
                        Unit::Rate(room) => suite.rate(kind, room),
                        Unit::Echo => suite.echo(kind),
                        Unit::Storm => suite.storm(kind),
                        Unit::Jitter => suite.jitter(kind),
                    }
                    let worst = suite.results.other_pct[windows..]
                        .iter()
                        .copied()
                        .fold(0.0, f64::max);
                    let disturbed = worst >= OTHER_WORK_PCT;
                    if !disturbed || suite.results.failures.len() > failures {
                        break;
                    }
                    let took = t0.elapsed();
                    if spent + took > patience {
                        if !patience.is_zero() {
                            suite.results.impatient = true;
                        }
                        break;
                    }
                    spent += took;
                    eprintln!(
                        "    disturbed: other work used {worst:.0} % CPU in this run; measuring it again"
                    );
                    suite.results.other_pct.truncate(windows);
                    suite.results.reruns += 1;
                }
            }
        }
        eprintln!(
            "=== {unit:?} done in {:.1} s ({:.0} s since the start)",
            t.elapsed().as_secs_f64(),
            started.elapsed().as_secs_f64()
        );
    }
    let table = suite.results.table(&opts.servers);
    let jitter_table = suite.results.jitter_table(&opts.servers);
    for t in [&table, &jitter_table] {
        if !t.is_empty() {
            println!("{t}");
        }
    }
    if let Some(note) = suite.results.noise_note() {
        println!("{note}\n");
    }
    for note in &suite.results.notes {
        println!("note: {note}");
    }
    if suite.results.failures.is_empty() {
        println!("all scenarios passed: no lost messages, connections or clients");
    } else {
        println!("{} failure(s):", suite.results.failures.len());
        for f in &suite.results.failures {
            println!("- {f}");
        }
    }
    println!("suite time: {:.1} s", started.elapsed().as_secs_f64());
    if opts.write {
        match write_doc(
            &opts,
            &suite.results,
            &table,
            &jitter_table,
            started.elapsed(),
        ) {
            Ok(p) => println!("wrote {}", p.display()),
            Err(e) => {
                eprintln!("cannot write docs/benchmarks.md: {e}");
                return 1;
            }
        }
    }
    i32::from(!suite.results.failures.is_empty())
}

/// `loadgen check <port>`: the contract check of the start-up probe, against a server that
/// is already running on 127.0.0.1:<port>.
pub fn check_port(port: u16) -> i32 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut code = 0;
    for proto in [Proto::Sio, Proto::Plain] {
        match rt.block_on(check_contract(addr, proto, None)) {
            Ok(()) => println!("{proto:?}: contract ok"),
            Err(e) => {
                println!("{proto:?}: {e}");
                code = 1;
            }
        }
    }
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_numbers_and_spreads() {
        assert_eq!(fmt3(479_312.0), "479k");
        assert_eq!(fmt3(1_234_567.0), "1.23M");
        assert_eq!(fmt3(7_608.4), "7.61k");
        assert_eq!(fmt3(20_000.0), "20 000");
        assert_eq!(fmt3(14.0), "14.0");
        assert_eq!(fmt3(4.1), "4.10");
        assert_eq!(fmt3(0.0), "0");
        assert_eq!(spread(fmt3(452_000.0), fmt3(501_000.0)), " (452–501k)");
        assert_eq!(spread(fmt3(990_000.0), fmt3(1_020_000.0)), " (990k–1.02M)");
        assert_eq!(spread("1.00".into(), "1.00".into()), "");
    }

    #[test]
    fn redis_urls() {
        let hp = |u: &str| redis_host_port(u).unwrap();
        assert_eq!(hp("redis://127.0.0.1:6379"), ("127.0.0.1".into(), 6379));
        assert_eq!(hp("redis://localhost"), ("localhost".into(), 6379));
        assert_eq!(hp("redis://u:p@h:7000/2?x=1"), ("h".into(), 7000));
        assert_eq!(hp("rediss://[::1]:6380/0"), ("::1".into(), 6380));
        assert_eq!(hp("redis://"), ("127.0.0.1".into(), 6379));
        assert!(redis_host_port("http://x").is_err());
        assert!(redis_host_port("redis://h:port").is_err());
    }

    #[test]
    fn medians_and_verdicts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0]), Some(2.5));
        assert_eq!(median(&[]), None);
        let t = |v: &[&str]| tally(v.iter().map(|s| s.to_string()));
        assert_eq!(t(&["machine CPU", "machine CPU"]), "machine CPU");
        assert_eq!(
            t(&["server CPU", "machine CPU", "machine CPU"]),
            "machine CPU ×2, server CPU ×1"
        );
    }

    #[test]
    fn cells_show_median_spread_and_paired_ratios() {
        let mut r = Results {
            runs: 3,
            ..Results::default()
        };
        for (run, (a, b)) in [(100.0, 50.0), (120.0, 66.0), (80.0, 38.0)]
            .into_iter()
            .enumerate()
        {
            r.run = run;
            r.set(ServerKind::Realtime, "s", "x", Better::Higher, a);
            r.set(ServerKind::Socketioxide, "s", "x", Better::Higher, b);
            r.set(ServerKind::Realtime, "s", "lost", Better::Zero, run as f64);
        }
        let row = r.rows[0].clone();
        assert_eq!(r.cell(ServerKind::Realtime, &row), "100 (80.0–120)");
        // medians 100 / 50; per-run ratios 2.00, 1.82, 2.11
        assert_eq!(r.ratio(ServerKind::Socketioxide, &row), "2.00× (1.82–2.11)");
        let lost = r.rows[1].clone();
        assert_eq!(r.cell(ServerKind::Realtime, &lost), "2");
    }
}
