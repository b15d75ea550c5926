//! The orchestrator: plans the cells, creates and deletes topics, runs each client
//! cell in a child process, reads the child's CPU time and peak RSS from `wait4`,
//! and prints one table.

use std::fmt::Write as _;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::codec;
use crate::java::{self, JavaEnv};
use crate::rdk::Admin;
use crate::spec::{Acks, Client, Comp, Kind, Measured, Spec};
use crate::Res;

/// How much to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Seconds: a couple of cells, flame and rdkafka only (for CI).
    Smoke,
    /// Under a minute: every client, 50k-record cells.
    Quick,
    /// Under ten minutes on 2 cores: the main cells.
    Default,
    /// Every size × acks × compression.
    Full,
}

/// One workload (run by each client in turn).
#[derive(Debug, Clone)]
struct Workload {
    kind: Kind,
    size: usize,
    count: u64,
    acks: Acks,
    comp: Comp,
    rate: u64,
    secs: u64,
}

impl Workload {
    fn label(&self) -> String {
        let size = if self.size >= 1024 {
            format!("{} KB", self.size / 1024)
        } else {
            format!("{} B", self.size)
        };
        let count = human(self.count);
        match self.kind {
            Kind::Produce => format!(
                "produce {count} × {size} acks={} {}",
                self.acks.name(),
                self.comp.name()
            ),
            Kind::Consume => format!("consume {count} × {size} {}", self.comp.name()),
            Kind::Latency => format!(
                "e2e latency {}/s × {} s, {size} acks={}",
                self.rate,
                self.secs,
                self.acks.name()
            ),
        }
    }
}

fn human(n: u64) -> String {
    if n >= 1_000_000 && n.is_multiple_of(1_000_000) {
        format!("{}M", n / 1_000_000)
    } else if n >= 1000 && n.is_multiple_of(1000) {
        format!("{}k", n / 1000)
    } else {
        n.to_string()
    }
}

fn plan(mode: Mode) -> Vec<Workload> {
    let p = |size, count, acks, comp| Workload {
        kind: Kind::Produce,
        size,
        count,
        acks,
        comp,
        rate: 0,
        secs: 0,
    };
    let c = |size, count, comp| Workload {
        kind: Kind::Consume,
        size,
        count,
        acks: Acks::One,
        comp,
        rate: 0,
        secs: 0,
    };
    let l = |secs, acks| Workload {
        kind: Kind::Latency,
        size: 100,
        count: 0,
        acks,
        comp: Comp::None,
        rate: 1000,
        secs,
    };
    use Acks::{All, One};
    use Comp::{Lz4, None as Plain, Zstd};
    match mode {
        Mode::Smoke => vec![p(100, 20_000, One, Plain), c(100, 20_000, Plain)],
        Mode::Quick => vec![
            p(100, 50_000, One, Plain),
            p(100, 50_000, All, Plain),
            p(100, 50_000, One, Zstd),
            p(10_240, 5_000, One, Plain),
            c(100, 50_000, Plain),
            c(100, 50_000, Lz4),
            l(3, All),
        ],
        Mode::Default => vec![
            p(100, 1_000_000, One, Plain),
            p(100, 1_000_000, All, Plain),
            p(100, 1_000_000, One, Lz4),
            p(100, 1_000_000, One, Zstd),
            p(10_240, 100_000, One, Plain),
            p(10_240, 100_000, All, Plain),
            c(100, 1_000_000, Plain),
            c(100, 1_000_000, Lz4),
            c(100, 1_000_000, Zstd),
            c(10_240, 100_000, Plain),
            l(10, All),
        ],
        Mode::Full => {
            let mut v = Vec::new();
            for (size, count) in [(100, 1_000_000), (10_240, 100_000)] {
                for acks in [One, All] {
                    for comp in [Plain, Lz4, Zstd] {
                        v.push(p(size, count, acks, comp));
                    }
                }
            }
            for (size, count) in [(100, 1_000_000), (10_240, 100_000)] {
                for comp in [Plain, Lz4, Zstd] {
                    v.push(c(size, count, comp));
                }
            }
            v.push(l(10, One));
            v.push(l(10, All));
            v
        }
    }
}

struct Options {
    mode: Mode,
    clients: Vec<Client>,
    kinds: Vec<String>,
    bootstrap: String,
    out: Option<PathBuf>,
    timeout: Duration,
}

fn parse(args: &[String]) -> Res<Options> {
    let mut o = Options {
        mode: Mode::Default,
        clients: Vec::new(),
        kinds: vec![
            "produce".into(),
            "consume".into(),
            "latency".into(),
            "codec".into(),
        ],
        bootstrap: std::env::var("FLAME_KAFKA_BOOTSTRAP")
            .unwrap_or_else(|_| "127.0.0.1:19092".into()),
        out: None,
        timeout: Duration::from_secs(300),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{a} needs a value"))
        };
        match a.as_str() {
            "--smoke" => o.mode = Mode::Smoke,
            "--quick" => o.mode = Mode::Quick,
            "--full" => o.mode = Mode::Full,
            "--clients" => {
                o.clients = value()?
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()?
            }
            "--only" => o.kinds = value()?.split(',').map(String::from).collect(),
            "--bootstrap" => o.bootstrap = value()?,
            "--out" => o.out = Some(PathBuf::from(value()?)),
            "--timeout" => o.timeout = Duration::from_secs(value()?.parse()?),
            "-h" | "--help" => {
                println!(
                    "bench [--smoke|--quick|--full] [--clients flame,flame-api,rdkafka,rskafka,java] \
                     [--only produce,consume,latency,codec] [--bootstrap HOST:PORT] [--out FILE] [--timeout SECS]"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument `{other}` (try --help)").into()),
        }
    }
    if o.clients.is_empty() {
        o.clients = match o.mode {
            Mode::Smoke => vec![Client::Flame, Client::Rdkafka],
            _ => Client::ALL.to_vec(),
        };
    }
    Ok(o)
}

/// What one child process did.
struct Outcome {
    measured: Result<Measured, String>,
    cpu_secs: f64,
    max_rss_kib: u64,
}

/// Runs `cmd` to completion (killing it after `timeout`) and reads its rusage.
fn run_measured(mut cmd: Command, timeout: Duration) -> Res<(bool, String, String, f64, u64)> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn()?;
    let pid = child.id() as libc::pid_t;
    let mut out_pipe = child.stdout.take().ok_or("no stdout")?;
    let mut err_pipe = child.stderr.take().ok_or("no stderr")?;
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out_pipe.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err_pipe.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + timeout;
    let mut killed = false;
    let (status, usage) = loop {
        let mut status: libc::c_int = 0;
        // SAFETY: plain syscall on our own child; rusage is written by the kernel.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if r == pid {
            break (status, usage);
        }
        if r < 0 {
            return Err(format!("wait4: {}", std::io::Error::last_os_error()).into());
        }
        if !killed && Instant::now() > deadline {
            // SAFETY: signalling our own, not yet reaped, child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            killed = true;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    // The child is reaped; `child` must not be waited on again.
    drop(child);
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let cpu = secs(usage.ru_utime) + secs(usage.ru_stime);
    let ok = !killed && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    let mut stderr = err.join().unwrap_or_default();
    if killed {
        stderr += &format!("\nkilled after {} s", timeout.as_secs());
    }
    Ok((
        ok,
        out.join().unwrap_or_default(),
        stderr,
        cpu,
        usage.ru_maxrss as u64,
    ))
}

fn run_cell(spec: &Spec, java: &JavaEnv, timeout: Duration, log: &Path) -> Outcome {
    let cmd = if spec.client == Client::Java {
        match java.command(spec) {
            Ok(c) => c,
            Err(e) => return failed(format!("java: {e}")),
        }
    } else {
        let exe = match std::env::current_exe() {
            Ok(e) => e,
            Err(e) => return failed(e.to_string()),
        };
        let mut c = Command::new(exe);
        c.arg("child").args(spec.to_args());
        c
    };
    let (ok, stdout, stderr, cpu, rss) = match run_measured(cmd, timeout) {
        Ok(r) => r,
        Err(e) => return failed(e.to_string()),
    };
    let _ = append_log(log, spec, &stdout, &stderr);
    let measured = if !ok {
        let last = stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("failed")
            .trim()
            .to_string();
        Err(last)
    } else if spec.client == Client::Java {
        java::parse(spec, &stdout)
            .ok_or_else(|| "could not parse the Java tool's output".to_string())
    } else {
        Measured::from_output(&stdout).ok_or_else(|| "no BENCH-RESULT line".to_string())
    };
    Outcome {
        measured,
        cpu_secs: cpu,
        max_rss_kib: rss,
    }
}

fn failed(e: String) -> Outcome {
    Outcome {
        measured: Err(e),
        cpu_secs: 0.0,
        max_rss_kib: 0,
    }
}

fn append_log(log: &Path, spec: &Spec, stdout: &str, stderr: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?;
    writeln!(
        f,
        "==== {} {} {}",
        spec.client,
        spec.kind.name(),
        spec.to_args().join(" ")
    )?;
    writeln!(f, "---- stdout\n{stdout}\n---- stderr\n{stderr}")
}

/// One row of the table.
struct Row {
    workload: String,
    client: String,
    msgs_per_sec: Option<f64>,
    mib_per_sec: Option<f64>,
    latency_ms: Option<(f64, f64)>,
    cpu_per_million: Option<f64>,
    rss_mib: Option<f64>,
    note: String,
    /// Index of the rdkafka row of the same workload.
    baseline: Option<usize>,
}

impl Row {
    fn from_outcome(workload: &str, client: Client, o: &Outcome) -> Row {
        match &o.measured {
            Ok(m) => {
                let rate = if m.secs > 0.0 {
                    m.msgs as f64 / m.secs
                } else {
                    0.0
                };
                Row {
                    workload: workload.into(),
                    client: client.name().into(),
                    msgs_per_sec: Some(rate),
                    mib_per_sec: Some(if m.secs > 0.0 {
                        m.bytes as f64 / m.secs / 1048576.0
                    } else {
                        0.0
                    }),
                    latency_ms: m.latency_us.map(|l| (l[0] / 1000.0, l[1] / 1000.0)),
                    cpu_per_million: (m.msgs > 0).then(|| o.cpu_secs / (m.msgs as f64 / 1e6)),
                    rss_mib: Some(o.max_rss_kib as f64 / 1024.0),
                    note: m.note.clone(),
                    baseline: None,
                }
            }
            Err(e) => {
                Self::without_figures(workload, client, format!("FAILED: {}", truncate(e, 140)))
            }
        }
    }

    fn skipped(workload: &str, client: Client, why: &str) -> Row {
        Self::without_figures(workload, client, format!("n/a: {why}"))
    }

    /// A row with only a note: a cell that failed or does not apply.
    fn without_figures(workload: &str, client: Client, note: String) -> Row {
        Row {
            workload: workload.into(),
            client: client.name().into(),
            msgs_per_sec: None,
            mib_per_sec: None,
            latency_ms: None,
            cpu_per_million: None,
            rss_mib: None,
            note,
            baseline: None,
        }
    }
}

fn truncate(s: &str, n: usize) -> String {
    let s = s.replace('|', "/");
    if s.chars().count() <= n {
        s
    } else {
        s.chars().take(n).collect::<String>() + "…"
    }
}

fn ratio(ours: Option<f64>, base: Option<f64>) -> String {
    match (ours, base) {
        (Some(a), Some(b)) if b > 0.0 && a.is_finite() => format!("{:.2}×", a / b),
        _ => "–".into(),
    }
}

fn opt(v: Option<f64>, digits: usize) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x:.digits$}"),
        _ => "–".into(),
    }
}

fn count(v: Option<f64>) -> String {
    match v {
        Some(x) if x.is_finite() => {
            let x = x.round() as u64;
            let s = x.to_string();
            let mut out = String::new();
            for (i, c) in s.chars().enumerate() {
                if i > 0 && (s.len() - i).is_multiple_of(3) {
                    out.push(',');
                }
                out.push(c);
            }
            out
        }
        _ => "–".into(),
    }
}

fn table(rows: &[Row]) -> String {
    let mut t = String::new();
    t += "| workload | client | msgs/s | MiB/s | p50 ms | p99 ms | CPU s / 1M msgs | peak RSS MiB \
          | msgs/s ÷ rdkafka | CPU ÷ rdkafka | RSS ÷ rdkafka | notes |\n";
    t += "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|\n";
    for r in rows {
        let base = r.baseline.map(|i| &rows[i]);
        let is_latency = r.latency_ms.is_some();
        let speed = if is_latency {
            // For latency rows: the p99 ratio (lower is better).
            match (r.latency_ms, base.and_then(|b| b.latency_ms)) {
                (Some((_, a)), Some((_, b))) if b > 0.0 => format!("p99 {:.2}×", a / b),
                _ => "–".into(),
            }
        } else {
            ratio(r.msgs_per_sec, base.and_then(|b| b.msgs_per_sec))
        };
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.workload,
            r.client,
            count(r.msgs_per_sec),
            opt(r.mib_per_sec, 1),
            opt(r.latency_ms.map(|l| l.0), 2),
            opt(r.latency_ms.map(|l| l.1), 2),
            opt(r.cpu_per_million, 2),
            opt(r.rss_mib, 0),
            if base.is_some() { speed } else { "–".into() },
            if base.is_some() {
                ratio(r.cpu_per_million, base.and_then(|b| b.cpu_per_million))
            } else {
                "–".into()
            },
            if base.is_some() {
                ratio(r.rss_mib, base.and_then(|b| b.rss_mib))
            } else {
                "–".into()
            },
            r.note
        );
    }
    t
}

fn set_baselines(rows: &mut [Row]) {
    for i in 0..rows.len() {
        let base = rows.iter().position(|b| {
            b.workload == rows[i].workload && b.client == "rdkafka" && b.msgs_per_sec.is_some()
        });
        if base != Some(i) {
            rows[i].baseline = base;
        }
    }
}

fn repo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}

/// The orchestrator's entry point.
pub fn main(args: &[String]) -> Res<()> {
    let opts = parse(args)?;
    let started = Instant::now();
    let stamp = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let run_id = format!("{stamp}-{}", std::process::id());
    let scratch = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-scratch");
    std::fs::create_dir_all(&scratch)?;
    let log = scratch.join(format!("run-{run_id}.log"));
    let java = JavaEnv::locate(&repo_dir(), &scratch);
    let mut clients = opts.clients.clone();
    if clients.contains(&Client::Java) && !java.available() {
        eprintln!(
            "bench: java or the harness's kafka-tools jar is missing; skipping the Java client"
        );
        clients.retain(|c| *c != Client::Java);
    }
    let want = |k: &str| opts.kinds.iter().any(|x| x == k);
    let workloads: Vec<Workload> = plan(opts.mode)
        .into_iter()
        .filter(|w| want(w.kind.name()))
        .collect();

    let mut rows: Vec<Row> = Vec::new();
    let admin = if workloads.is_empty() {
        None
    } else {
        Some(Admin::new(&opts.bootstrap)?)
    };
    let mut n = 0usize;
    let topic = |n: &mut usize| {
        *n += 1;
        format!("bench-{run_id}-{n}")
    };

    if let Some(admin) = &admin {
        // Warm the broker (JIT, page cache) so the first client measured is not
        // penalised; not reported.
        let t = topic(&mut n);
        admin.create(&t)?;
        let warm = Spec {
            kind: Kind::Produce,
            client: Client::Rdkafka,
            bootstrap: opts.bootstrap.clone(),
            topic: t.clone(),
            count: if opts.mode == Mode::Smoke {
                20_000
            } else {
                300_000
            },
            size: 100,
            acks: Acks::One,
            comp: Comp::None,
            group: String::new(),
            rate: 0,
            secs: 0,
        };
        eprintln!("bench: warming the broker up");
        let o = run_cell(&warm, &java, opts.timeout, &log);
        admin.delete(&[&t]);
        if let Err(e) = o.measured {
            return Err(format!(
                "warm-up produce failed (is a broker at {}?): {e}",
                opts.bootstrap
            )
            .into());
        }
    }

    for w in &workloads {
        let label = w.label();
        let base_spec = |client: Client, topic: String, group: String| Spec {
            kind: w.kind,
            client,
            bootstrap: opts.bootstrap.clone(),
            topic,
            count: w.count,
            size: w.size,
            acks: w.acks,
            comp: w.comp,
            group,
            rate: w.rate,
            secs: w.secs,
        };
        let admin = admin.as_ref().ok_or("no admin client")?;
        match w.kind {
            Kind::Produce | Kind::Latency => {
                for &client in &clients {
                    if client == Client::Rskafka && w.acks == Acks::One {
                        rows.push(Row::skipped(
                            &label,
                            client,
                            "rskafka always sends acks=all",
                        ));
                        continue;
                    }
                    let t = topic(&mut n);
                    // EndToEndLatency creates its own one-partition topic.
                    if !(client == Client::Java && w.kind == Kind::Latency) {
                        admin.create(&t)?;
                    }
                    let spec = base_spec(client, t.clone(), format!("{t}-g"));
                    eprintln!("bench: {label} — {client}");
                    let o = run_cell(&spec, &java, opts.timeout, &log);
                    admin.delete(&[&t]);
                    let mut row = Row::from_outcome(&label, client, &o);
                    if client == Client::Rskafka && w.acks == Acks::All && w.kind == Kind::Produce {
                        row.note = join_note(&row.note, "one BatchProducer per partition");
                    }
                    rows.push(row);
                    std::thread::sleep(Duration::from_millis(500));
                }
            }
            Kind::Consume => {
                let t = topic(&mut n);
                admin.create(&t)?;
                // The data: written once by rdkafka with the workload's codec.
                let fill = Spec {
                    kind: Kind::Produce,
                    client: Client::Rdkafka,
                    ..base_spec(Client::Rdkafka, t.clone(), String::new())
                };
                eprintln!("bench: {label} — writing the data");
                let o = run_cell(&fill, &java, opts.timeout, &log);
                if let Err(e) = &o.measured {
                    for &client in &clients {
                        rows.push(Row::from_outcome(
                            &label,
                            client,
                            &failed(format!("writing the data failed: {e}")),
                        ));
                    }
                    admin.delete(&[&t]);
                    continue;
                }
                for &client in &clients {
                    let spec = base_spec(client, t.clone(), format!("{t}-{}", client.name()));
                    eprintln!("bench: {label} — {client}");
                    let o = run_cell(&spec, &java, opts.timeout, &log);
                    rows.push(Row::from_outcome(&label, client, &o));
                    std::thread::sleep(Duration::from_millis(500));
                }
                admin.delete(&[&t]);
            }
        }
    }

    if want("codec") {
        let budget = match opts.mode {
            Mode::Smoke => Duration::from_millis(100),
            Mode::Quick => Duration::from_millis(300),
            _ => Duration::from_secs(1),
        };
        eprintln!("bench: codec ceiling");
        for r in codec::run(budget) {
            let (workload, client) = match r.what.as_str() {
                "memcpy" | "crc32c" => (
                    format!("ceiling: {} of the same batch bytes", r.what),
                    r.what.clone(),
                ),
                what => (
                    format!(
                        "ceiling: {what}, batches of {}×{} B",
                        codec::RECORDS_PER_BATCH,
                        codec::VALUE_SIZE
                    ),
                    "flame codec".to_string(),
                ),
            };
            rows.push(Row {
                workload,
                client,
                msgs_per_sec: Some(r.records_per_sec),
                mib_per_sec: Some(r.bytes_per_sec / 1048576.0),
                latency_ms: None,
                cpu_per_million: Some(1e6 / r.records_per_sec),
                rss_mib: None,
                note: if r.ratio < 0.999 {
                    format!("one core; batch compresses to {:.0}%", r.ratio * 100.0)
                } else {
                    "one core".into()
                },
                baseline: None,
            });
        }
    }

    set_baselines(&mut rows);
    let mut report = String::new();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let _ = writeln!(
        report,
        "bench {:?}: {} workloads, clients {}; broker {}; took {:.0} s; load average at end {}",
        opts.mode,
        workloads.len(),
        clients
            .iter()
            .map(|c| c.name())
            .collect::<Vec<_>>()
            .join(","),
        opts.bootstrap,
        started.elapsed().as_secs_f64(),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    report += "\n";
    report += &table(&rows);
    println!("{report}");
    eprintln!("bench: child output in {}", log.display());
    if let Some(out) = &opts.out {
        std::fs::write(out, &report)?;
    }
    if rows.iter().any(|r| r.note.starts_with("FAILED")) && opts.mode == Mode::Smoke {
        return Err("a smoke cell failed".into());
    }
    Ok(())
}

fn join_note(a: &str, b: &str) -> String {
    if a.is_empty() {
        b.to_string()
    } else {
        format!("{a}; {b}")
    }
}
