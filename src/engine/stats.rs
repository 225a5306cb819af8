//! Counters: what arrived, what was dropped and why, what the daemon did. Every drop of
//! untrusted input is counted here rather than logged above debug level.

use crate::time::{Duration, Instant};
use std::collections::VecDeque;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub seek_in: u64,
    pub claim_in: u64,
    pub info_in: u64,
    pub ack_in: u64,
    pub seek_out: u64,
    pub seek_forwarded: u64,
    pub claim_out: u64,
    pub info_out: u64,
    pub ack_out: u64,
    pub intercom_malformed: u64,
    pub intercom_not_for_us: u64,
    pub intercom_own: u64,
    pub intercom_duplicates: u64,
    pub intercom_send_failures: u64,
    pub claims_for_unknown_clients: u64,
    pub infos_ignored: u64,
    pub acks_ignored: u64,
    pub handovers_in: u64,
    pub handovers_out: u64,
    pub claim_timeouts: u64,
    pub liveness_probes: u64,
    pub liveness_purges: u64,
    pub clients_expired: u64,
    pub limit_clients: u64,
    pub limit_addresses: u64,
    /// A packet for one more destination than the queues take.
    pub limit_queue_destinations: u64,
    /// One more packet than a destination's queue takes.
    pub limit_queue_packets: u64,
    /// A packet that would take the queued bytes over their bound.
    pub limit_queue_bytes: u64,
    pub limit_old_clients: u64,
    pub limit_dad_probes: u64,
    pub limit_prefixes: u64,
    pub limit_mesh_ifs: u64,
    pub limit_deferred: u64,
    pub limit_seeks: u64,
    pub limit_icmp_errors: u64,
    pub tun_dropped: u64,
    pub tun_expired: u64,
    pub icmp_errors_out: u64,
    pub reinjected: u64,
    pub kernel_failures: u64,
    pub control_errors: u64,
}

/// Lets through at most `BURST` log lines per `WINDOW`, so a hostile neighbour cannot flood
/// the log even at debug level.
#[derive(Clone, Debug, Default)]
pub struct LogLimiter {
    window_start: Instant,
    lines: u32,
}

impl LogLimiter {
    const WINDOW: Duration = Duration::from_secs(10);
    const BURST: u32 = 10;

    pub fn allow(&mut self, now: Instant) -> bool {
        if now.saturating_since(self.window_start) >= Self::WINDOW || now < self.window_start {
            self.window_start = now;
            self.lines = 0;
        }
        self.lines += 1;
        self.lines <= Self::BURST
    }
}

/// At most `limit` events in any sliding second, at most one per key. Remembers only the
/// events of the last second, so it never holds more than `limit` entries whatever arrives.
#[derive(Clone, Debug)]
pub struct RateWindow<K> {
    limit: usize,
    recent: VecDeque<(Instant, K)>,
}

impl<K: PartialEq> RateWindow<K> {
    pub const SPAN: Duration = Duration::from_secs(1);

    pub fn new(limit: usize) -> Self {
        RateWindow {
            limit,
            recent: VecDeque::with_capacity(limit),
        }
    }

    fn forget_old(&mut self, now: Instant) {
        while self
            .recent
            .front()
            .is_some_and(|(at, _)| now.saturating_since(*at) >= Self::SPAN || now < *at)
        {
            self.recent.pop_front();
        }
    }

    /// Takes a slot for `key` if the window has one and `key` has none yet.
    pub fn allow(&mut self, now: Instant, key: K) -> bool {
        self.forget_old(now);
        if self.recent.len() >= self.limit || self.recent.iter().any(|(_, k)| *k == key) {
            return false;
        }
        self.recent.push_back((now, key));
        true
    }

    /// When the oldest event leaves the window, freeing a slot.
    pub fn next_free(&self) -> Option<Instant> {
        self.recent.front().map(|(at, _)| *at + Self::SPAN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_allows_limit_per_second_and_one_per_key() {
        let mut window = RateWindow::new(3);
        let t0 = Instant::from_millis(1);
        assert!(window.allow(t0, 1));
        assert!(!window.allow(t0, 1), "one per key");
        assert!(window.allow(t0 + Duration::from_millis(100), 2));
        assert!(window.allow(t0 + Duration::from_millis(200), 3));
        assert!(!window.allow(t0 + Duration::from_millis(300), 4), "limit");
        assert_eq!(window.next_free(), Some(t0 + Duration::from_secs(1)));
        assert!(!window.allow(t0 + Duration::from_millis(999), 4));
        assert!(
            window.allow(t0 + Duration::from_millis(1000), 4),
            "the first left"
        );
        assert!(
            window.allow(t0 + Duration::from_millis(1100), 1),
            "so did its key"
        );
        assert!(window.recent.len() <= 3);
    }

    #[test]
    fn limiter_allows_a_burst_per_window() {
        let mut limiter = LogLimiter::default();
        let t0 = Instant::from_millis(1);
        let allowed = (0..100).filter(|_| limiter.allow(t0)).count();
        assert_eq!(allowed, 10);
        assert!(limiter.allow(t0 + Duration::from_secs(10)));
    }
}
