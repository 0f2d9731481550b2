//! A gauge too costly to read on every scrape (the live sessions: a count over a table that
//! may hold millions of rows): kept with the time it was read, and read again at most once per
//! interval, in the background, while scrapes answer with the last reading.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The last reading of a per-realm gauge and whether a new one is under way.
#[derive(Debug, Default)]
pub struct CachedGauge {
    inner: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    last: Option<(Instant, Vec<(String, u64)>)>,
    reading: bool,
}

/// What a scrape does with the gauge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// No reading to show (the first scrape, or an interval of 0): read it now, then `store`.
    ReadNow,
    /// Show this reading; it is recent enough.
    Show(Vec<(String, u64)>),
    /// Show this reading, and read it again in the background, then `store` (or `abandon`).
    ShowAndRead(Vec<(String, u64)>),
}

impl CachedGauge {
    /// What a scrape at `now` should do, when a reading lasts `every`. Only one background
    /// reading runs at a time.
    pub fn plan(&self, now: Instant, every: Duration) -> Plan {
        let mut state = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let Some((at, values)) = &state.last else {
            return Plan::ReadNow;
        };
        if every.is_zero() {
            return Plan::ReadNow;
        }
        let values = values.clone();
        if now.saturating_duration_since(*at) < every || state.reading {
            return Plan::Show(values);
        }
        state.reading = true;
        Plan::ShowAndRead(values)
    }

    /// Keeps a reading taken at `at`.
    pub fn store(&self, at: Instant, values: Vec<(String, u64)>) {
        let mut state = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        state.last = Some((at, values));
        state.reading = false;
    }

    /// A background reading failed: the next scrape may try again.
    pub fn abandon(&self) {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).reading = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(n: u64) -> Vec<(String, u64)> {
        vec![("demo".to_string(), n)]
    }

    #[test]
    fn reads_first_then_shows_until_the_interval_has_passed() {
        let gauge = CachedGauge::default();
        let t0 = Instant::now();
        let minute = Duration::from_secs(60);
        assert_eq!(gauge.plan(t0, minute), Plan::ReadNow);
        gauge.store(t0, reading(3));
        assert_eq!(gauge.plan(t0 + Duration::from_secs(59), minute), Plan::Show(reading(3)));
        assert_eq!(gauge.plan(t0 + minute, minute), Plan::ShowAndRead(reading(3)));
        // One background reading at a time.
        assert_eq!(gauge.plan(t0 + minute, minute), Plan::Show(reading(3)));
        gauge.store(t0 + minute, reading(5));
        assert_eq!(gauge.plan(t0 + minute, minute), Plan::Show(reading(5)));
    }

    #[test]
    fn a_failed_reading_is_tried_again_and_zero_reads_every_time() {
        let gauge = CachedGauge::default();
        let t0 = Instant::now();
        let minute = Duration::from_secs(60);
        gauge.store(t0, reading(1));
        assert_eq!(gauge.plan(t0 + minute, minute), Plan::ShowAndRead(reading(1)));
        gauge.abandon();
        assert_eq!(gauge.plan(t0 + minute, minute), Plan::ShowAndRead(reading(1)));
        assert_eq!(gauge.plan(t0, Duration::ZERO), Plan::ReadNow);
    }
}
