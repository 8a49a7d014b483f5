//! Limits on new agent identities: each announce of an identity the server
//! has never seen adds a pending host, so a peer that can reach the port
//! could otherwise grow the hosts table (and the approval queue) without
//! bound. New identities are capped per client address over a sliding
//! window, and in total while they wait for approval. Known identities are
//! never limited here.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use cairn_store::Millis;

use crate::auth::limiter::{blocked, push};
use crate::error::{ServiceError, ServiceResult};

/// How long an agent refused for a full approval queue is asked to wait.
const QUEUE_FULL_RETRY: Duration = Duration::from_secs(60);

/// Counts new identities per client address.
#[derive(Debug)]
pub(crate) struct AnnounceLimiter {
    window: Millis,
    per_address: u32,
    max_pending: u64,
    addresses: Mutex<HashMap<String, VecDeque<Millis>>>,
}

impl AnnounceLimiter {
    /// `per_address` new identities per `window` from one address, and at
    /// most `max_pending` hosts waiting for approval.
    pub(crate) fn new(window: Duration, per_address: u32, max_pending: u32) -> AnnounceLimiter {
        AnnounceLimiter {
            window: i64::try_from(window.as_millis()).unwrap_or(i64::MAX),
            per_address,
            max_pending: u64::from(max_pending),
            addresses: Mutex::default(),
        }
    }

    /// Whether a new identity from `addr` may announce now, with `pending`
    /// hosts already waiting; records it if so.
    pub(crate) fn admit(&self, addr: Option<&str>, pending: u64, now: Millis) -> ServiceResult<()> {
        if pending >= self.max_pending {
            return Err(ServiceError::RateLimited {
                retry_after: QUEUE_FULL_RETRY,
            });
        }
        // Without an address (a unix socket, a test) only the total applies.
        let Some(addr) = addr.map(client_key) else {
            return Ok(());
        };
        let mut addresses = self.addresses.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(retry_after) =
            blocked(addresses.get_mut(&addr), self.per_address, self.window, now)
        {
            return Err(ServiceError::RateLimited { retry_after });
        }
        push(&mut addresses, addr, now, self.window);
        Ok(())
    }
}

/// The client an address counts for: its IPv4 address without the port, or
/// its IPv6 /64 (one site holds a whole /64, so counting single addresses
/// would cap nothing).
fn client_key(addr: &str) -> String {
    match addr.parse::<std::net::SocketAddr>().map(|s| s.ip()) {
        Ok(std::net::IpAddr::V4(v4)) => v4.to_string(),
        Ok(std::net::IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        Err(_) => addr.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_identities_are_capped_per_address_and_in_total() {
        let limiter = AnnounceLimiter::new(Duration::from_secs(60), 2, 10);
        assert!(limiter.admit(Some("10.0.0.1:5000"), 0, 0).is_ok());
        assert!(limiter.admit(Some("10.0.0.1:5001"), 1, 0).is_ok());
        let refused = limiter.admit(Some("10.0.0.1:5002"), 2, 1_000);
        assert!(
            matches!(refused, Err(ServiceError::RateLimited { retry_after }) if retry_after == Duration::from_secs(59)),
            "{refused:?}"
        );
        assert!(
            limiter.admit(Some("10.0.0.2:5000"), 2, 1_000).is_ok(),
            "another address"
        );
        assert!(
            limiter.admit(Some("10.0.0.1:5003"), 3, 61_000).is_ok(),
            "the window passed"
        );
        assert!(
            limiter.admit(Some("10.0.0.3:1"), 10, 61_000).is_err(),
            "the approval queue is full"
        );
        assert!(limiter.admit(None, 9, 61_000).is_ok());
    }

    #[test]
    fn an_ipv6_site_counts_as_one_client() {
        assert_eq!(
            client_key("[2001:db8:1:2::1]:5000"),
            client_key("[2001:db8:1:2:ffff::9]:1")
        );
        assert_ne!(
            client_key("[2001:db8:1:2::1]:5000"),
            client_key("[2001:db8:1:3::1]:5000")
        );
        assert_eq!(client_key("[::ffff:10.0.0.1]:5"), client_key("10.0.0.1:6"));
    }
}
