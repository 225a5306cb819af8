//! Flap damping: a client that moves between this node and others too often stops being
//! claimed for a while, so that a client bouncing between two access points (or bridged to
//! two routers) costs neither a hand-over per bounce nor a storm of CLAIMs and route changes.
//!
//! Policy (README "Flap damping"):
//! - a **move** is a hand-over that involves this node: it handed the client over on a CLAIM,
//!   or took it over (INFO received, or no INFO after the whole CLAIM cycle);
//! - more than [`FLAP_MOVES`] moves within [`FLAP_WINDOW`] is a **flap**: a client that stays
//!   less than a second at each node, faster than a hand-over and babeld's update (0.3–0.5 s)
//!   can follow. batman-adv's 5 in 20 s, or EVPN's 5 in 180 s, would damp a client walked
//!   between two access points every few seconds, which a hand-over of three packets and a
//!   few hundred milliseconds serves well (the demo roams every 3 s);
//! - for [`FLAP_HOLD`] after a flap the node sends no CLAIM for the client. It still serves what
//!   it learns itself and still hands the client over when claimed by a node that does not
//!   damp, so a peer is never left without an answer;
//! - at the end of the hold the node asks the client directly (unicast NS/ARP and a kernel
//!   probe, as the liveness probe does). If the client answers, the node claims it as usual;
//!   if not, the client settled elsewhere and the node forgets it, releasing its routes.
//!
//! The moves are counted on both nodes of a flap alike (one hands over what the other takes),
//! so both damp, and neither claims until its hold ends: routes stay where they are, and the
//! intercom carries nothing for the client in the meantime. Both nodes may announce the
//! client during a hold; the end of the hold is remembered for [`HOLD_MEMORY`], so that the
//! duplicate policy (duplicates.rs) does not take what the hold made for a race.

use super::clients::Decision;
use super::{Engine, TimerKey};
use crate::time::{Duration, Instant};
use crate::wire::MacAddr;
use std::collections::VecDeque;

/// More moves than this within [`FLAP_WINDOW`] is a flap.
pub const FLAP_MOVES: usize = 5;
pub const FLAP_WINDOW: Duration = Duration::from_secs(5);
/// How long a flapping client is not claimed.
pub const FLAP_HOLD: Duration = Duration::from_secs(30);
/// Clients whose moves are remembered at once; records of clients that have not moved
/// within the window (and are not damped) make room first.
pub const MAX_FLAP_RECORDS: usize = 4096;
/// How long the end of a hold is remembered after it.
pub const HOLD_MEMORY: Duration = Duration::from_secs(30);

#[derive(Clone, Debug, Default)]
pub(super) struct FlapRecord {
    /// The most recent moves, at most `FLAP_MOVES + 1`, oldest first.
    moves: VecDeque<Instant>,
    /// The end of the current hold, or of the last one for [`HOLD_MEMORY`] after it.
    hold_until: Option<Instant>,
}

impl FlapRecord {
    fn is_damped(&self, now: Instant) -> bool {
        self.hold_until.is_some_and(|until| until > now)
    }

    fn is_stale(&self, now: Instant) -> bool {
        self.hold_until
            .is_none_or(|until| until + HOLD_MEMORY <= now)
            && self.moves.back().is_none_or(|t| *t + FLAP_WINDOW <= now)
    }
}

impl Engine {
    /// A hand-over involving this node happened for `mac`; damps it if it flaps.
    pub(super) fn record_move(&mut self, mac: MacAddr) {
        let now = self.now;
        if !self.flaps.contains_key(&mac) && self.flaps.len() >= MAX_FLAP_RECORDS {
            self.stats.limit_flap_records += 1;
            let evicted = self
                .flaps
                .iter()
                .find(|(_, r)| r.is_stale(now))
                .or_else(|| {
                    self.flaps
                        .iter()
                        .min_by_key(|(_, r)| r.moves.back().copied())
                })
                .map(|(m, _)| *m);
            if let Some(evicted) = evicted {
                self.flaps.remove(&evicted);
                self.timers.set(TimerKey::FlapHold(evicted), None);
            }
        }
        let record = self.flaps.get_or_default(mac);
        record.moves.push_back(now);
        while record.moves.len() > FLAP_MOVES + 1
            || record
                .moves
                .front()
                .is_some_and(|t| *t + FLAP_WINDOW <= now)
        {
            record.moves.pop_front();
        }
        if record.moves.len() <= FLAP_MOVES || record.is_damped(now) {
            return;
        }
        let first = record.moves.front().copied().unwrap_or(now);
        let until = now + FLAP_HOLD;
        record.hold_until = Some(until);
        record.moves.clear();
        self.stats.flaps_detected += 1;
        log::warn!(
            "{mac}: flapping ({} moves in {} ms): not claiming it for {} s",
            FLAP_MOVES + 1,
            now.saturating_since(first).as_millis(),
            FLAP_HOLD.as_secs()
        );
        self.timers.set(TimerKey::FlapHold(mac), Some(until));
    }

    /// Whether CLAIMs for `mac` are held back now.
    pub(super) fn is_damped(&self, mac: &MacAddr) -> bool {
        self.flaps.get(mac).is_some_and(|r| r.is_damped(self.now))
    }

    /// The end of the client's current flap hold, or of one that ended less than
    /// [`HOLD_MEMORY`] ago.
    pub(super) fn flap_hold_until(&self, mac: &MacAddr) -> Option<Instant> {
        self.flaps.get(mac).and_then(|r| r.hold_until)
    }

    /// The claim decision found the client served elsewhere during its hold: no CLAIM now.
    pub(super) fn defer_claim(&mut self, mac: MacAddr) {
        if let Some(client) = self.clients.get_mut(&mac) {
            client.decision = Decision::Damped;
            self.stats.claims_deferred += 1;
            log::info!("{mac}: flapping, CLAIM deferred until its hold ends");
        }
    }

    /// The record's timer: at the end of the hold, a client whose CLAIM was deferred is
    /// asked whether it is here; [`HOLD_MEMORY`] later, the record goes unless moves keep it.
    pub(super) fn service_flap_record(&mut self, mac: MacAddr) {
        let now = self.now;
        let Some(record) = self.flaps.get(&mac) else {
            return;
        };
        let Some(until) = record.hold_until else {
            return;
        };
        if now >= until + HOLD_MEMORY {
            if record.is_stale(now) {
                self.flaps.remove(&mac);
            }
            return;
        }
        self.timers
            .set(TimerKey::FlapHold(mac), Some(until + HOLD_MEMORY));
        if self
            .clients
            .get(&mac)
            .is_some_and(|c| c.decision == Decision::Damped)
        {
            log::info!("{mac}: flap hold over, asking the client whether it is here");
            self.expect_answer(mac);
        }
    }

    /// Called whenever the client is heard from: a deferred CLAIM goes out once the hold is
    /// over and the client has shown it is here.
    pub(super) fn claim_if_deferred(&mut self, mac: MacAddr) {
        let deferred = self
            .clients
            .get(&mac)
            .is_some_and(|c| c.decision == Decision::Damped);
        if deferred && !self.is_damped(&mac) {
            self.take_claim_decision(mac);
        }
    }
}
