//! Flap detection: an alert that changes between firing and resolved more than `threshold`
//! times within `window` seconds is flapping; notifications pause until it has been stable
//! (no change) for the window.

use super::time::Ts;

/// Records a state change at `now`, keeping only changes inside the window. Returns the new
/// list and whether the alert is flapping.
pub fn record_change(changes: &[i64], now: Ts, window_secs: i64, threshold: u32) -> (Vec<i64>, bool) {
    let cutoff = now.plus_secs(-window_secs).ms();
    let mut kept: Vec<i64> = changes.iter().copied().filter(|t| *t > cutoff).collect();
    kept.push(now.ms());
    let flapping = kept.len() > threshold as usize;
    (kept, flapping)
}

/// Whether a flapping alert has been stable for the window at `now`.
pub fn stable(changes: &[i64], now: Ts, window_secs: i64) -> bool {
    changes.iter().max().is_none_or(|last| now.ms() - last >= window_secs * 1000)
}

/// When a flapping alert will count as stable (the last change plus the window).
pub fn stable_at(changes: &[i64], window_secs: i64) -> Option<Ts> {
    changes.iter().max().map(|last| Ts::from_ms(*last).plus_secs(window_secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn more_than_threshold_changes_in_the_window_flap() {
        let mut changes = Vec::new();
        let mut flapping = false;
        for i in 0..6 {
            let (c, f) = record_change(&changes, Ts::from_secs(1000 + i * 60), 600, 5);
            changes = c;
            flapping = f;
            assert_eq!(f, i == 5, "change {i}");
        }
        assert!(flapping);
        assert!(!stable(&changes, Ts::from_secs(1000 + 5 * 60 + 599), 600));
        assert!(stable(&changes, Ts::from_secs(1000 + 5 * 60 + 600), 600));
        assert_eq!(stable_at(&changes, 600), Some(Ts::from_secs(1000 + 300 + 600)));
    }

    #[test]
    fn old_changes_fall_out_of_the_window() {
        // Window 600 s at t = 700 s: changes at or before 100 s are forgotten.
        let (c, flapping) = record_change(&[0, 50_000, 150_000], Ts::from_secs(700), 600, 1);
        assert_eq!(c, vec![150_000, 700_000]);
        assert!(flapping, "two changes exceed a threshold of one");
    }
}
