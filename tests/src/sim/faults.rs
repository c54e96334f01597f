//! A fault-injecting transport: requests and responses dropped, requests duplicated, and
//! requests delayed (held back and delivered later, after newer ones: reordered).

use std::sync::Mutex;

use gridline_core::protocol::{PullRequest, PullResponse, PushRequest, PushResponse};
use gridline_core::sync::{Transport, TransportError};

use super::FaultStats;
use crate::Rng;

/// A request held back by the network, delivered later (its answer is lost).
#[derive(Debug, Clone)]
pub enum Held {
    /// A push batch.
    Push(PushRequest),
    /// A pull page request.
    Pull(PullRequest),
}

/// Chances (per mille) of each fault on one request.
#[derive(Debug, Clone, Copy)]
pub struct FaultRates {
    pub drop_request: u64,
    pub drop_response: u64,
    pub duplicate: u64,
    pub delay: u64,
    /// Chance that a held request is delivered before the current one.
    pub release_held: u64,
}

impl FaultRates {
    /// No faults (the full sync at the end of a round).
    pub const NONE: FaultRates = FaultRates { drop_request: 0, drop_response: 0, duplicate: 0, delay: 0, release_held: 0 };
    /// Rates drawn for one device's sync.
    pub fn random(rng: &mut Rng) -> FaultRates {
        let mut r = |max: u64| rng.next_u64() % (max + 1);
        FaultRates { drop_request: r(150), drop_response: r(150), duplicate: r(150), delay: r(100), release_held: 300 }
    }
}

/// Wraps a transport; every decision comes from its own seeded generator.
pub struct FaultTransport<'a> {
    pub inner: &'a dyn Transport,
    pub rates: FaultRates,
    pub rng: Mutex<Rng>,
    /// Requests held back; they outlive one sync (the device keeps them between syncs).
    pub held: &'a Mutex<Vec<Held>>,
    pub stats: &'a Mutex<FaultStats>,
}

enum Fate {
    Deliver,
    DropRequest,
    DropResponse,
    Duplicate,
    Delay,
}

impl FaultTransport<'_> {
    fn fate(&self) -> Fate {
        let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
        let x = rng.next_u64() % 1000;
        let r = self.rates;
        let mut edge = r.drop_request;
        if x < edge {
            return Fate::DropRequest;
        }
        edge += r.drop_response;
        if x < edge {
            return Fate::DropResponse;
        }
        edge += r.duplicate;
        if x < edge {
            return Fate::Duplicate;
        }
        edge += r.delay;
        if x < edge {
            return Fate::Delay;
        }
        Fate::Deliver
    }

    /// Maybe delivers one held request first (its answer goes nowhere).
    fn maybe_release(&self) {
        let pick = {
            let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
            let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
            if held.is_empty() || rng.next_u64() % 1000 >= self.rates.release_held {
                return;
            }
            let i = rng.below(held.len());
            held.remove(i)
        };
        self.stats().reordered += 1;
        deliver(self.inner, &pick);
    }

    fn stats(&self) -> std::sync::MutexGuard<'_, FaultStats> {
        self.stats.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn send<R>(&self, held: Held, mut call: impl FnMut() -> Result<R, TransportError>) -> Result<R, TransportError> {
        self.maybe_release();
        match self.fate() {
            Fate::Deliver => call(),
            Fate::DropRequest => {
                self.stats().requests_dropped += 1;
                Err(TransportError::Network("request lost".into()))
            }
            Fate::DropResponse => {
                self.stats().responses_dropped += 1;
                call()?;
                Err(TransportError::Network("response lost".into()))
            }
            Fate::Duplicate => {
                self.stats().duplicated += 1;
                let _ = call();
                call()
            }
            Fate::Delay => {
                self.stats().delayed += 1;
                self.held.lock().unwrap_or_else(|p| p.into_inner()).push(held);
                Err(TransportError::Network("timed out (request still in flight)".into()))
            }
        }
    }
}

/// Delivers a held request; the answer is dropped.
pub fn deliver(t: &dyn Transport, h: &Held) {
    let _ = match h {
        Held::Push(r) => t.push(r).map(|_| ()),
        Held::Pull(r) => t.pull(r).map(|_| ()),
    };
}

impl Transport for FaultTransport<'_> {
    fn push(&self, req: &PushRequest) -> Result<PushResponse, TransportError> {
        self.send(Held::Push(req.clone()), || self.inner.push(req))
    }
    fn pull(&self, req: &PullRequest) -> Result<PullResponse, TransportError> {
        self.send(Held::Pull(req.clone()), || self.inner.pull(req))
    }
}
