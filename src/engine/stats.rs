//! Counters: what arrived, what was dropped and why, what the daemon did. Every drop of
//! untrusted input is counted here rather than logged above debug level.

use crate::time::{Duration, Instant};

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
    pub limit_queue: u64,
    pub limit_old_clients: u64,
    pub limit_dad_probes: u64,
    pub limit_prefixes: u64,
    pub limit_mesh_ifs: u64,
    pub limit_deferred: u64,
    pub tun_dropped: u64,
    pub tun_expired: u64,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiter_allows_a_burst_per_window() {
        let mut limiter = LogLimiter::default();
        let t0 = Instant::from_millis(1);
        let allowed = (0..100).filter(|_| limiter.allow(t0)).count();
        assert_eq!(allowed, 10);
        assert!(limiter.allow(t0 + Duration::from_secs(10)));
    }
}
