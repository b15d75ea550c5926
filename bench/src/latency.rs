//! End-to-end latency, the same way for every Rust client: one process produces at
//! a fixed rate and consumes the same topic; each value carries the moment it was
//! handed to the producer, and the consumer records `now - then`.
//!
//! Warm-up first: records tagged 0 are sent every 10 ms until the consumer sees one
//! (so group join and the first fetch are not measured); then `rate × secs` records
//! tagged 1 are sent on a fixed schedule.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::spec::{percentiles, Measured, Spec};
use crate::Res;

const WARM: u8 = 0;
const MEASURED: u8 = 1;
/// Longest wait for the consumer to see the first warm-up record.
const WARM_UP_LIMIT: Duration = Duration::from_secs(60);

/// Shared between the sending and the receiving side.
pub struct Probe {
    epoch: Instant,
    size: usize,
    rate: u64,
    total: u64,
    received: AtomicU64,
    samples: Mutex<Vec<f64>>,
    started: Mutex<Option<Instant>>,
}

impl Probe {
    /// A probe for `spec.rate` records/s during `spec.secs` seconds.
    pub fn new(spec: &Spec) -> Probe {
        Probe {
            epoch: Instant::now(),
            size: spec.size.max(16),
            rate: spec.rate.max(1),
            total: spec.rate.max(1) * spec.secs.max(1),
            received: AtomicU64::new(0),
            samples: Mutex::new(Vec::with_capacity((spec.rate * spec.secs) as usize)),
            started: Mutex::new(None),
        }
    }

    /// A value tagged `tag`, stamped now.
    pub fn payload(&self, tag: u8) -> Vec<u8> {
        let mut v = vec![b'x'; self.size];
        v[0] = tag;
        let nanos = self.epoch.elapsed().as_nanos() as u64;
        v[1..9].copy_from_slice(&nanos.to_le_bytes());
        v
    }

    /// Records a received value; true if it was one of ours.
    pub fn received(&self, value: &[u8]) -> bool {
        let now = self.epoch.elapsed().as_nanos() as u64;
        let Some(stamp) = value.get(1..9) else {
            return false;
        };
        let mut b = [0u8; 8];
        b.copy_from_slice(stamp);
        let sent = u64::from_le_bytes(b);
        if value[0] == MEASURED {
            let micros = now.saturating_sub(sent) as f64 / 1000.0;
            if let Ok(mut s) = self.samples.lock() {
                s.push(micros);
            }
            self.received.fetch_add(1, Ordering::AcqRel);
        }
        true
    }

    /// Every measured record has arrived.
    pub fn complete(&self) -> bool {
        self.received.load(Ordering::Acquire) >= self.total
    }

    /// When the receiving side gives up.
    pub fn deadline(&self) -> Instant {
        self.epoch + WARM_UP_LIMIT + Duration::from_secs(self.total / self.rate + 30)
    }

    fn schedule(&self, i: u64, start: Instant) -> Instant {
        start + Duration::from_nanos(i * 1_000_000_000 / self.rate)
    }

    /// The measured outcome.
    pub fn result(&self) -> Measured {
        let mut samples = self.samples.lock().map(|s| s.clone()).unwrap_or_default();
        let secs = self.total as f64 / self.rate as f64;
        let lost = self.total.saturating_sub(samples.len() as u64);
        let msgs = samples.len() as u64;
        let lat = percentiles(&mut samples);
        let started = self.started.lock().ok().and_then(|s| *s);
        let warm = started.map_or(0.0, |s| (s - self.epoch).as_secs_f64());
        let mut note = format!("warm-up {warm:.2}s");
        if lost > 0 {
            note += &format!(", {lost} records not received");
        }
        Measured {
            msgs,
            bytes: msgs * self.size as u64,
            secs,
            latency_us: Some(lat),
            note,
        }
    }
}

/// The sending side on a tokio runtime: warm-up, then the schedule.
pub async fn drive_async<F, Fut>(probe: &Probe, warm: &AtomicBool, send: F) -> Res<()>
where
    F: Fn(Vec<u8>) -> Fut,
    Fut: Future<Output = Res<()>>,
{
    let limit = Instant::now() + WARM_UP_LIMIT;
    while !warm.load(Ordering::Acquire) {
        if Instant::now() > limit {
            return Err("the consumer saw no warm-up record within 60 s".into());
        }
        send(probe.payload(WARM)).await?;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let start = Instant::now();
    if let Ok(mut s) = probe.started.lock() {
        *s = Some(start);
    }
    for i in 0..probe.total {
        let at = probe.schedule(i, start);
        if at > Instant::now() {
            tokio::time::sleep_until(at.into()).await;
        }
        send(probe.payload(MEASURED)).await?;
    }
    Ok(())
}

/// The sending side on a plain thread. `send` is called with each payload;
/// `idle` is called while waiting (to serve the client's callbacks).
pub fn drive_sync(
    probe: &Probe,
    warm: &AtomicBool,
    mut send: impl FnMut(Vec<u8>) -> Res<()>,
    mut idle: impl FnMut(),
) -> Res<()> {
    let limit = Instant::now() + WARM_UP_LIMIT;
    while !warm.load(Ordering::Acquire) {
        if Instant::now() > limit {
            return Err("the consumer saw no warm-up record within 60 s".into());
        }
        send(probe.payload(WARM))?;
        let until = Instant::now() + Duration::from_millis(10);
        while Instant::now() < until {
            idle();
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let start = Instant::now();
    if let Ok(mut s) = probe.started.lock() {
        *s = Some(start);
    }
    for i in 0..probe.total {
        let at = probe.schedule(i, start);
        let now = Instant::now();
        if at > now {
            std::thread::sleep(at - now);
        }
        send(probe.payload(MEASURED))?;
        idle();
    }
    Ok(())
}
