//! The dispatcher's wake-ups: a set of hosts that may have jobs to send, and
//! one notify. However often a host is woken before the dispatcher looks
//! (a burst of submits, a reconnect storm), it costs one dispatch pass, and
//! what waits is bounded by the number of hosts, not by the number of wakes.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use cairn_store::HostId;
use tokio::sync::Notify;

/// Hosts to dispatch for; cheap to clone, every clone the same set.
#[derive(Debug, Clone, Default)]
pub(crate) struct DispatchWakes {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    hosts: Mutex<HashSet<HostId>>,
    notify: Notify,
    /// How often the dispatcher was notified (tests count passes).
    #[cfg(test)]
    notifies: std::sync::atomic::AtomicUsize,
}

impl DispatchWakes {
    fn hosts(&self) -> std::sync::MutexGuard<'_, HashSet<HostId>> {
        // A set of ids stays whole even if a holder panicked.
        self.inner.hosts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Asks for a dispatch pass for `host`. Only the wake that makes the set
    /// non-empty notifies: later ones join the pass already asked for.
    pub(crate) fn wake(&self, host: HostId) {
        let first = {
            let mut hosts = self.hosts();
            let first = hosts.is_empty();
            hosts.insert(host);
            first
        };
        if first {
            #[cfg(test)]
            self.inner
                .notifies
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            // A permit is kept if the dispatcher is not waiting yet, so a
            // wake between its `take` and its next wait is not lost.
            self.inner.notify.notify_one();
        }
    }

    /// Waits until some host is woken, then takes every host woken so far.
    /// Cancel-safe: nothing is taken unless it is returned.
    pub(crate) async fn next(&self) -> HashSet<HostId> {
        loop {
            let taken = std::mem::take(&mut *self.hosts());
            if !taken.is_empty() {
                return taken;
            }
            self.inner.notify.notified().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::pin;
    use std::sync::atomic::Ordering;
    use std::task::{Context, Poll, Waker};

    use super::*;

    fn poll_once<F: Future>(future: F) -> Poll<F::Output> {
        let mut cx = Context::from_waker(Waker::noop());
        pin!(future).poll(&mut cx)
    }

    #[test]
    fn many_wakes_for_few_hosts_are_one_set_and_one_notify() {
        let wakes = DispatchWakes::default();
        for n in 0..10_000 {
            wakes.wake(HostId(n % 3 + 1));
        }
        assert_eq!(wakes.hosts().len(), 3);
        assert_eq!(wakes.inner.notifies.load(Ordering::Relaxed), 1);
        let Poll::Ready(hosts) = poll_once(wakes.next()) else {
            panic!("woken hosts are ready at once")
        };
        assert_eq!(hosts, HashSet::from([HostId(1), HostId(2), HostId(3)]));
        // One pass took them all: nothing more is waiting.
        assert!(poll_once(wakes.next()).is_pending());
    }

    #[tokio::test]
    async fn a_wake_while_the_dispatcher_waits_or_works_is_never_lost() {
        let wakes = DispatchWakes::default();
        let waiter = tokio::spawn({
            let wakes = wakes.clone();
            async move { wakes.next().await }
        });
        // Whether the waiter already waits or not, the wake reaches it.
        wakes.wake(HostId(7));
        let hosts = tokio::time::timeout(std::time::Duration::from_secs(30), waiter)
            .await
            .expect("woken in time")
            .expect("waiter");
        assert_eq!(hosts, HashSet::from([HostId(7)]));
        // A wake after the take notifies again.
        wakes.wake(HostId(7));
        assert_eq!(wakes.inner.notifies.load(Ordering::Relaxed), 2);
        assert!(matches!(poll_once(wakes.next()), Poll::Ready(h) if h.len() == 1));
    }
}
