//! `loadgen`: the benchmark suite runner and its load-generator worker processes.
//!
//! - `loadgen suite [options]`: what `bench/run` calls; see `bench/README.md`.
//! - `loadgen worker <json>`: one load-generator process, driven by the suite over
//!   stdin/stdout (see `worker.rs`).
//! - `loadgen check <port>`: checks a running server against the benchmark contract.

mod client;
mod jitter;
mod stream;
mod suite;
mod util;
mod worker;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("worker") => {
            let cfg: worker::WorkerCfg = match args.get(1).map(|a| serde_json::from_str(a)) {
                Some(Ok(cfg)) => cfg,
                _ => {
                    eprintln!("usage: loadgen worker '<json config>'");
                    std::process::exit(2);
                }
            };
            worker::main(cfg);
        }
        Some("suite") => match suite::Opts::parse(&args[1..]) {
            Ok(opts) => std::process::exit(suite::main(opts)),
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(2);
            }
        },
        Some("check") => {
            let port: u16 = args.get(1).and_then(|p| p.parse().ok()).unwrap_or(3000);
            std::process::exit(suite::check_port(port));
        }
        _ => {
            eprintln!(
                "usage: loadgen suite [options] | loadgen worker <json> | loadgen check <port>"
            );
            std::process::exit(2);
        }
    }
}
