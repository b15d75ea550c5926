//! `bench`: flame-kafka beside rust-rdkafka, rskafka and the Java client against
//! one real broker, plus a client-only ceiling of the record-batch codec.
//!
//! ```text
//! bench [--smoke|--quick|--full] [--clients a,b] [--only produce,consume,latency,codec]
//!       [--bootstrap HOST:PORT] [--out FILE]
//! bench child key=value...      (internal) run one cell in this process, print BENCH-RESULT
//! bench codec [SECONDS]         the codec ceiling only
//! bench topic create|delete BOOTSTRAP NAME...   topics for running cells by hand
//! ```
//!
//! Every client cell runs in its own child process (this binary again, or `java`),
//! so that its CPU time and peak RSS are the client's alone: the parent reads them
//! from `wait4`'s rusage. See BENCHMARKS.md at the repository root.

mod codec;
mod flame;
mod flame_api;
mod java;
mod latency;
mod rdk;
mod rsk;
mod run;
mod spec;

use std::time::Duration;

use spec::{Client, Kind, Spec};

/// The error type of the benchmark code.
pub type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// With `--features dhat-heap`, every allocation is tracked (see Cargo.toml).
#[cfg(feature = "dhat-heap")]
#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

fn main() {
    // `DHAT=1`: write dhat-heap.json (peak heap by allocation site) on exit.
    #[cfg(feature = "dhat-heap")]
    let profiler = std::env::var_os("DHAT").map(|_| dhat::Profiler::new_heap());
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match args.first().map(String::as_str) {
        Some("child") => child(&args[1..]),
        Some("topic") => {
            // bench topic create|delete BOOTSTRAP NAME...: for profiling cells by hand.
            let result = (|| -> Res<()> {
                let [op, bootstrap, names @ ..] = &args[1..] else {
                    return Err("usage: bench topic create|delete BOOTSTRAP NAME...".into());
                };
                let admin = rdk::Admin::new(bootstrap)?;
                for name in names {
                    match op.as_str() {
                        "create" => admin.create(name)?,
                        "delete" => admin.delete(&[name]),
                        _ => return Err(format!("unknown topic operation `{op}`").into()),
                    }
                }
                Ok(())
            })();
            match result {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("bench topic: {e}");
                    1
                }
            }
        }
        Some("codec") => {
            let secs: f64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1.0);
            for row in codec::run(Duration::from_secs_f64(secs)) {
                println!(
                    "{:<14} {:>12.0} records/s {:>9.1} MiB/s  (size ratio {:.2})",
                    row.what,
                    row.records_per_sec,
                    row.bytes_per_sec / 1048576.0,
                    row.ratio
                );
            }
            0
        }
        _ => match run::main(&args) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("bench: {e}");
                1
            }
        },
    };
    #[cfg(feature = "dhat-heap")]
    drop(profiler);
    std::process::exit(code);
}

fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// Runs one cell in this process and prints its result line.
fn child(args: &[String]) -> i32 {
    let spec = match Spec::from_args(args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("bench child: {e}");
            return 2;
        }
    };
    let result: Res<spec::Measured> = match (spec.client, spec.kind) {
        (Client::Flame, Kind::Produce) => tokio_runtime().block_on(flame::produce(&spec)),
        (Client::Flame, Kind::Consume) => tokio_runtime().block_on(flame::consume(&spec)),
        (Client::Flame, Kind::Latency) => tokio_runtime().block_on(flame::latency(&spec)),
        (Client::FlameApi, Kind::Produce) => tokio_runtime().block_on(flame_api::produce(&spec)),
        (Client::FlameApi, Kind::Consume) => tokio_runtime().block_on(flame_api::consume(&spec)),
        (Client::FlameApi, Kind::Latency) => tokio_runtime().block_on(flame_api::latency(&spec)),
        (Client::Rdkafka, Kind::Produce) => rdk::produce(&spec),
        (Client::Rdkafka, Kind::Consume) => rdk::consume(&spec),
        (Client::Rdkafka, Kind::Latency) => rdk::latency(&spec),
        (Client::Rskafka, Kind::Produce) => tokio_runtime().block_on(rsk::produce(&spec)),
        (Client::Rskafka, Kind::Consume) => tokio_runtime().block_on(rsk::consume(&spec)),
        (Client::Rskafka, Kind::Latency) => tokio_runtime().block_on(rsk::latency(&spec)),
        (Client::Java, _) => Err("java cells run the Java tools, not `bench child`".into()),
    };
    match result {
        Ok(m) => {
            println!("{}", m.to_line());
            0
        }
        Err(e) => {
            eprintln!("bench child ({} {}): {e}", spec.client, spec.kind.name());
            1
        }
    }
}
