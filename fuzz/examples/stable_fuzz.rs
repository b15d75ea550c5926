//! A fuzzer for stable Rust: feeds the targets of `flame_kafka_fuzz` with mutated
//! seeds and random bytes for a bounded time. No coverage guidance (that is what
//! `cargo fuzz` on nightly adds), but deterministic for a given `--seed`.
//!
//! ```text
//! stable_fuzz run TARGET|all [SECONDS] [--seed N] [--trace]
//! stable_fuzz replay TARGET FILE...
//! stable_fuzz seeds          # writes the seeds to corpus/TARGET/ for cargo fuzz
//! ```
//!
//! A panicking input is written to `artifacts/stable/` and the run exits with 1. An
//! abort (e.g. an allocation failure) cannot be caught: rerun with the same `--seed`
//! and `--trace`, which writes every input to `artifacts/stable/TARGET-last` first.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use flame_kafka_fuzz::{run, seeds, TARGETS};

/// xorshift64*: small, fast, and reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n` (`n` > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn byte(&mut self) -> u8 {
        self.next() as u8
    }
}

const INTERESTING_BYTES: [u8; 6] = [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff];
const INTERESTING_I32: [i32; 8] = [0, -1, -2, 1, 0x7fff, 0xffff, i32::MAX, i32::MIN];

/// Applies one to eight random edits to `input`, some borrowed from `corpus`.
fn mutate(rng: &mut Rng, input: &mut Vec<u8>, corpus: &[Vec<u8>]) {
    for _ in 0..1 + rng.below(8) {
        if input.is_empty() {
            input.push(rng.byte());
        }
        let at = rng.below(input.len());
        match rng.below(10) {
            0 => input[at] ^= 1 << rng.below(8),
            1 => input[at] = rng.byte(),
            2 => input[at] = INTERESTING_BYTES[rng.below(INTERESTING_BYTES.len())],
            3 => overwrite(input, at, &INTERESTING_I32[rng.below(8)].to_be_bytes()),
            4 => overwrite(input, at, &[0xff, 0xff, 0xff, 0xff, 0x0f]),
            5 => {
                let extra: Vec<u8> = (0..1 + rng.below(16)).map(|_| rng.byte()).collect();
                input.splice(at..at, extra);
            }
            6 => {
                let end = (at + 1 + rng.below(16)).min(input.len());
                input.drain(at..end);
            }
            7 => {
                let end = (at + 1 + rng.below(32)).min(input.len());
                let copy = input[at..end].to_vec();
                let to = rng.below(input.len());
                input.splice(to..to, copy);
            }
            8 => input.truncate(at),
            _ => {
                let other = &corpus[rng.below(corpus.len())];
                let from = rng.below(other.len().max(1));
                input.truncate(at);
                input.extend_from_slice(other.get(from..).unwrap_or_default());
            }
        }
    }
}

fn overwrite(input: &mut [u8], at: usize, bytes: &[u8]) {
    for (slot, b) in input[at..].iter_mut().zip(bytes) {
        *slot = *b;
    }
}

fn artifacts() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("artifacts/stable")
}

/// Statistics of one target's run.
#[derive(Default)]
struct Stats {
    runs: u64,
    decoded: u64,
    kept: usize,
}

/// Fuzzes `target` for `budget`; `Err` names the file holding a panicking input.
fn fuzz(target: &str, budget: Duration, seed: u64, trace: bool) -> Result<Stats, PathBuf> {
    let mut rng = Rng(seed | 1);
    let mut corpus = seeds(target);
    let initial = corpus.len();
    let mut stats = Stats::default();
    let started = Instant::now();
    while started.elapsed() < budget {
        for _ in 0..256 {
            let input = next_input(&mut rng, &corpus);
            if trace {
                save(&format!("{target}-last"), &input);
            }
            let outcome = catch_unwind(AssertUnwindSafe(|| run(target, &input)));
            stats.runs += 1;
            match outcome {
                Ok(Some(true)) => {
                    stats.decoded += 1;
                    // Inputs that still decode after mutation are kept as new seeds.
                    if corpus.len() < initial + 2000 && rng.below(8) == 0 {
                        corpus.push(input);
                    }
                }
                Ok(_) => {}
                Err(_) => return Err(save(&format!("{target}-crash-{}", stats.runs), &input)),
            }
        }
    }
    stats.kept = corpus.len() - initial;
    Ok(stats)
}

/// A mutated corpus entry, or (one time in ten) random bytes.
fn next_input(rng: &mut Rng, corpus: &[Vec<u8>]) -> Vec<u8> {
    if corpus.is_empty() || rng.below(10) == 0 {
        return (0..rng.below(600)).map(|_| rng.byte()).collect();
    }
    let mut input = corpus[rng.below(corpus.len())].clone();
    mutate(rng, &mut input, corpus);
    input
}

fn save(name: &str, input: &[u8]) -> PathBuf {
    let path = artifacts().join(name);
    let written = std::fs::create_dir_all(artifacts()).and_then(|()| std::fs::write(&path, input));
    if let Err(e) = written {
        eprintln!("cannot write {}: {e}", path.display());
    }
    path
}

fn run_command(args: &[String]) -> ExitCode {
    let mut positional = Vec::new();
    let (mut seed, mut trace) = (0x5eed_u64, false);
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--seed" => seed = iter.next().and_then(|s| s.parse().ok()).unwrap_or(seed),
            "--trace" => trace = true,
            _ => positional.push(arg.as_str()),
        }
    }
    let targets: Vec<&str> = match positional.first() {
        Some(&"all") | None => TARGETS.to_vec(),
        Some(name) if TARGETS.contains(name) => vec![name],
        Some(name) => return usage(&format!("unknown target {name}")),
    };
    let seconds: u64 = positional.get(1).and_then(|s| s.parse().ok()).unwrap_or(60);
    for target in targets {
        println!("{target}: fuzzing for {seconds} s, seed {seed}");
        match fuzz(target, Duration::from_secs(seconds), seed, trace) {
            Ok(s) => println!(
                "{target}: {} runs ({}/s), {} decoded, {} kept as seeds, no panic",
                s.runs,
                s.runs / seconds.max(1),
                s.decoded,
                s.kept
            ),
            Err(path) => {
                eprintln!("{target}: PANIC, input saved to {}", path.display());
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}

fn replay(target: &str, files: &[String]) -> ExitCode {
    for file in files {
        let input = match std::fs::read(file) {
            Ok(input) => input,
            Err(e) => return usage(&format!("cannot read {file}: {e}")),
        };
        println!("{file}: {:?}", run(target, &input));
    }
    ExitCode::SUCCESS
}

/// Writes every target's seeds to `corpus/TARGET/seed-N`, where `cargo fuzz run`
/// looks for its corpus.
fn write_seeds() -> ExitCode {
    for &target in TARGETS {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("corpus")
            .join(target);
        let seeds = seeds(target);
        let written = std::fs::create_dir_all(&dir).and_then(|()| {
            seeds
                .iter()
                .enumerate()
                .try_for_each(|(i, seed)| std::fs::write(dir.join(format!("seed-{i}")), seed))
        });
        if let Err(e) = written {
            return usage(&format!("cannot write {}: {e}", dir.display()));
        }
        println!("{target}: {} seeds in {}", seeds.len(), dir.display());
    }
    ExitCode::SUCCESS
}

fn usage(problem: &str) -> ExitCode {
    eprintln!("{problem}");
    eprintln!("usage: stable_fuzz run TARGET|all [SECONDS] [--seed N] [--trace]");
    eprintln!("       stable_fuzz replay TARGET FILE...");
    eprintln!("       stable_fuzz seeds");
    eprintln!("targets: {}", TARGETS.join(", "));
    ExitCode::FAILURE
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("run") => run_command(&args[1..]),
        Some("seeds") => write_seeds(),
        Some("replay") if args.len() >= 3 && TARGETS.contains(&args[1].as_str()) => {
            replay(&args[1], &args[2..])
        }
        _ => usage("expected a command"),
    }
}
