//! The live agent sessions: at most one per host, each with its outbound
//! queue, its last sign of life, and a way to close it from anywhere (an
//! operator revoking the host, the liveness reaper, shutdown).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

use cairn_store::{HostId, Millis};
use tokio::sync::{mpsc, watch};

use super::outbound::ToAgent;
use crate::ServiceError;

/// Messages queued to one agent at most before the session counts as stuck.
pub(crate) const OUTBOX_DEPTH: usize = 256;

/// What flows to an agent: messages, or the error that ends its stream.
pub type Outbound = Result<ToAgent, ServiceError>;

/// One live session, as the registry holds it.
#[derive(Debug)]
struct Live {
    session: u64,
    tx: mpsc::Sender<Outbound>,
    last_seen: Arc<AtomicI64>,
    closed: watch::Sender<bool>,
    synced: Arc<AtomicBool>,
    /// How far the agent's clock is from the server's (ms, ahead > 0), from
    /// its last heartbeat; `UNKNOWN_OFFSET` before the first.
    clock_offset: Arc<AtomicI64>,
    /// When the session opened, while its host waits for approval (0 once
    /// approved): a pending session is closed after a while.
    pending_since: Millis,
}

/// A clock offset not yet measured.
pub(crate) const UNKNOWN_OFFSET: i64 = i64::MIN;

/// The registry of live sessions.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    live: Mutex<HashMap<HostId, Live>>,
    next_session: AtomicU64,
    /// Beats when a host connects or goes.
    pub(crate) pulse: crate::pulse::Pulse,
}

/// A registered session, held by the task serving it. Dropping it removes
/// the session from the registry (unless a newer one replaced it).
#[derive(Debug)]
pub(crate) struct SessionGuard {
    registry: Arc<Registry>,
    pub host: HostId,
    pub session: u64,
    pub last_seen: Arc<AtomicI64>,
    pub closed: watch::Receiver<bool>,
    /// Set once the agent's spool replay has been applied: from then on, a
    /// firing it has not reported is one it did not fire.
    pub synced: Arc<AtomicBool>,
    /// The agent's clock offset, for the session to set at each heartbeat.
    pub clock_offset: Arc<AtomicI64>,
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        let mut live = self.registry.lock();
        if live
            .get(&self.host)
            .is_some_and(|l| l.session == self.session)
        {
            live.remove(&self.host);
            self.registry.pulse.beat();
        }
    }
}

impl Registry {
    pub(crate) fn with_pulse(pulse: crate::pulse::Pulse) -> Registry {
        Registry {
            pulse,
            ..Registry::default()
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<HostId, Live>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a session for `host`, or `None` if one is already live.
    pub(crate) fn register(
        self: &Arc<Self>,
        host: HostId,
        tx: mpsc::Sender<Outbound>,
        now: Millis,
        pending: bool,
    ) -> Option<SessionGuard> {
        let mut live = self.lock();
        if live.contains_key(&host) {
            return None;
        }
        let session = self.next_session.fetch_add(1, Ordering::Relaxed);
        let last_seen = Arc::new(AtomicI64::new(now));
        let (closed_tx, closed_rx) = watch::channel(false);
        let synced = Arc::new(AtomicBool::new(false));
        let clock_offset = Arc::new(AtomicI64::new(UNKNOWN_OFFSET));
        live.insert(
            host,
            Live {
                session,
                tx,
                last_seen: last_seen.clone(),
                closed: closed_tx,
                synced: synced.clone(),
                clock_offset: clock_offset.clone(),
                pending_since: if pending { now } else { 0 },
            },
        );
        self.pulse.beat();
        Some(SessionGuard {
            registry: self.clone(),
            host,
            session,
            last_seen,
            closed: closed_rx,
            synced,
            clock_offset,
        })
    }

    /// The host was approved: its session no longer times out as pending.
    pub(crate) fn approved(&self, host: HostId) {
        if let Some(live) = self.lock().get_mut(&host) {
            live.pending_since = 0;
        }
    }

    /// Closes the sessions of hosts still pending since before `deadline`
    /// with the status `why` makes; returns their hosts.
    pub(crate) fn close_pending_since(
        &self,
        deadline: Millis,
        status: impl Fn() -> ServiceError,
    ) -> Vec<HostId> {
        self.close_matching(
            |l| l.pending_since != 0 && l.pending_since < deadline,
            status,
        )
    }

    /// Closes every session `stale` picks with the status `status` makes;
    /// returns their hosts.
    fn close_matching(
        &self,
        stale: impl Fn(&Live) -> bool,
        status: impl Fn() -> ServiceError,
    ) -> Vec<HostId> {
        let picked: Vec<HostId> = self
            .lock()
            .iter()
            .filter(|(_, l)| stale(l))
            .map(|(host, _)| *host)
            .collect();
        picked
            .into_iter()
            .filter(|host| self.close(*host, status()))
            .collect()
    }

    /// Every host with a live session now, with its agent's clock offset
    /// (ms, ahead > 0) once a heartbeat measured it.
    pub(crate) fn online_offsets(&self) -> HashMap<HostId, Option<i64>> {
        self.lock()
            .iter()
            .map(|(host, l)| (*host, offset_of(&l.clock_offset)))
            .collect()
    }

    /// `host`'s agent's clock offset, if it is online and was measured.
    pub(crate) fn clock_offset(&self, host: HostId) -> Option<i64> {
        self.lock()
            .get(&host)
            .and_then(|l| offset_of(&l.clock_offset))
    }

    /// Whether `host` has a live session.
    pub(crate) fn is_online(&self, host: HostId) -> bool {
        self.lock().contains_key(&host)
    }

    /// Whether `host` has a live session whose spool replay is over, so
    /// everything it fired while away has been reported.
    pub(crate) fn is_synced(&self, host: HostId) -> bool {
        self.lock()
            .get(&host)
            .is_some_and(|l| l.synced.load(Ordering::Acquire))
    }

    /// How many sessions are live.
    pub(crate) fn count(&self) -> usize {
        self.lock().len()
    }

    /// Queues a message to `host` if it is live. A session whose queue is
    /// full is not reading: it is closed rather than allowed to grow.
    pub(crate) fn send(&self, host: HostId, message: ToAgent) -> bool {
        let mut live = self.lock();
        let Some(entry) = live.get(&host) else {
            return false;
        };
        match entry.tx.try_send(Ok(message)) {
            Ok(()) => true,
            Err(_) => {
                if let Some(entry) = live.remove(&host) {
                    let _ = entry.closed.send(true);
                }
                tracing::warn!(%host, "agent is not reading its stream: session closed");
                false
            }
        }
    }

    /// Ends `host`'s session with `status` (what the agent sees), if live.
    pub(crate) fn close(&self, host: HostId, status: ServiceError) -> bool {
        let entry = self.lock().remove(&host);
        match entry {
            Some(entry) => {
                self.pulse.beat();
                let _ = entry.tx.try_send(Err(status));
                let _ = entry.closed.send(true);
                true
            }
            None => false,
        }
    }

    /// Ends every session whose last sign of life is older than `deadline`;
    /// returns the hosts closed.
    pub(crate) fn close_silent(
        &self,
        deadline: Millis,
        status: impl Fn() -> ServiceError,
    ) -> Vec<HostId> {
        self.close_matching(|l| l.last_seen.load(Ordering::Relaxed) < deadline, status)
    }

    /// Ends every session (server shutdown).
    pub(crate) fn close_all(&self, status: impl Fn() -> ServiceError) {
        let hosts: Vec<HostId> = self.lock().keys().copied().collect();
        for host in hosts {
            self.close(host, status());
        }
    }
}

fn offset_of(cell: &AtomicI64) -> Option<i64> {
    Some(cell.load(Ordering::Relaxed)).filter(|&ms| ms != UNKNOWN_OFFSET)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_synced_only_once_its_replay_is_marked_over_and_only_while_live() {
        let registry = Arc::new(Registry::default());
        let host = HostId(7);
        let (tx, _rx) = mpsc::channel(1);
        let guard = registry
            .register(host, tx, 0, false)
            .expect("first session");
        assert!(registry.is_online(host));
        assert!(
            !registry.is_synced(host),
            "a fresh session may still be replaying its spool"
        );
        guard.synced.store(true, Ordering::Release);
        assert!(registry.is_synced(host));
        drop(guard);
        assert!(!registry.is_online(host));
        assert!(!registry.is_synced(host));

        let (tx, _rx) = mpsc::channel(1);
        let _again = registry.register(host, tx, 0, false).expect("next session");
        assert!(
            !registry.is_synced(host),
            "a reconnect starts unsynced again"
        );
    }
}
