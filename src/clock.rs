//! The injected clock. Nothing in the code base reads the wall clock except [`SystemClock`];
//! tests use [`ManualClock`] and move time explicitly.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use crate::domain::time::Ts;

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Ts;
    /// True for a clock that only moves when told to (tests): the engine then never sleeps
    /// on timers by itself and is driven explicitly.
    fn is_manual(&self) -> bool {
        false
    }
}

pub type SharedClock = Arc<dyn Clock>;

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> Ts {
        (**self).now()
    }
    fn is_manual(&self) -> bool {
        (**self).is_manual()
    }
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Ts {
        Ts::from_timestamp(jiff::Timestamp::now())
    }
}

/// A clock that stands still until moved.
#[derive(Debug)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(start: Ts) -> Arc<Self> {
        Arc::new(ManualClock(AtomicI64::new(start.ms())))
    }
    pub fn set(&self, t: Ts) {
        self.0.store(t.ms(), Ordering::SeqCst);
    }
    pub fn advance_secs(&self, secs: i64) {
        self.0.fetch_add(secs * 1000, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Ts {
        Ts::from_ms(self.0.load(Ordering::SeqCst))
    }
    fn is_manual(&self) -> bool {
        true
    }
}

/// Another clock moved by an offset. On PostgreSQL every process keeps its clock on the
/// database's (the offset is measured every few seconds), so due times and leases written by
/// one process mean the same to all of them, whatever their own clocks say.
#[derive(Debug)]
pub struct OffsetClock<C> {
    base: C,
    offset_ms: AtomicI64,
}

impl<C: Clock> OffsetClock<C> {
    pub fn new(base: C) -> Arc<Self> {
        Arc::new(OffsetClock { base, offset_ms: AtomicI64::new(0) })
    }
    pub fn set_offset_ms(&self, ms: i64) {
        self.offset_ms.store(ms, Ordering::SeqCst);
    }
    pub fn offset_ms(&self) -> i64 {
        self.offset_ms.load(Ordering::SeqCst)
    }
    /// The offset that puts `base` on a clock read as `remote` between `before` and `after`
    /// (by `base`): the midpoint of the round trip.
    pub fn offset_from(before: Ts, remote: Ts, after: Ts) -> i64 {
        remote.ms() - (before.ms() + after.ms()) / 2
    }
    pub fn base(&self) -> &C {
        &self.base
    }
}

impl<C: Clock> Clock for OffsetClock<C> {
    fn now(&self) -> Ts {
        Ts::from_ms(self.base.now().ms() + self.offset_ms())
    }
    fn is_manual(&self) -> bool {
        self.base.is_manual()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_offset_clock_reads_the_remote_clock_through_the_round_trip_midpoint() {
        let base = ManualClock::new(Ts::from_ms(10_000));
        let c = OffsetClock::new(base.clone());
        let offset =
            OffsetClock::<Arc<ManualClock>>::offset_from(Ts::from_ms(10_000), Ts::from_ms(12_510), Ts::from_ms(10_020));
        assert_eq!(offset, 2_500);
        c.set_offset_ms(offset);
        assert_eq!(c.now(), Ts::from_ms(12_500));
        base.advance_secs(1);
        assert_eq!(c.now(), Ts::from_ms(13_500));
        assert!(c.is_manual());
    }
}
