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
