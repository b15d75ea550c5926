//! Exponential backoff with jitter, for reconnects and short retries.

use std::time::Duration;

use rand::Rng;

/// Delays that double after each failure, from `base` up to `max`, each scattered
/// by -20 %..+20 % so that many clients do not retry in step.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    base: Duration,
    max: Duration,
    failures: u32,
}

impl Backoff {
    /// A backoff that has seen no failure yet.
    pub(crate) fn new(base: Duration, max: Duration) -> Self {
        Backoff {
            base,
            max: max.max(base),
            failures: 0,
        }
    }

    /// How many failures in a row have been recorded.
    pub(crate) fn failures(&self) -> u32 {
        self.failures
    }

    /// Records a failure: the next delay doubles.
    pub(crate) fn fail(&mut self) {
        self.failures = self.failures.saturating_add(1);
    }

    /// Records a success: back to the base delay.
    pub(crate) fn reset(&mut self) {
        self.failures = 0;
    }

    /// The delay to wait after the last attempt: `base * 2^failures`, capped at
    /// `max`, with jitter.
    pub(crate) fn delay(&self) -> Duration {
        let exp = self.failures.min(20);
        let raw = self.base.saturating_mul(1u32 << exp).min(self.max);
        let factor = rand::rng().random_range(0.8..=1.2);
        raw.mul_f64(factor).min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(1000));
        let d = b.delay();
        assert!(d >= Duration::from_millis(80) && d <= Duration::from_millis(120));
        b.fail();
        let d = b.delay();
        assert!(d >= Duration::from_millis(160) && d <= Duration::from_millis(240));
        for _ in 0..100 {
            b.fail();
        }
        assert!(b.delay() <= Duration::from_millis(1000));
        assert!(b.delay() >= Duration::from_millis(800));
        b.reset();
        assert_eq!(b.failures(), 0);
        assert!(b.delay() <= Duration::from_millis(120));
    }
}
