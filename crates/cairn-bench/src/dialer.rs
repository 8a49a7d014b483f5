//! How benchmark clients reach a server: its URL and one pinned TLS
//! configuration, shared by everything that dials it (as a fleet shares its
//! trust), each dial its own TCP and TLS connection with the real agent's
//! HTTP/2 keepalive.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tonic::transport::{Channel, Endpoint};

/// The real agent's HTTP/2 keepalive (`AgentConfig::new`'s defaults).
fn keepalive() -> (Duration, Duration) {
    let defaults = cairn_agent::AgentConfig::new(String::new(), std::path::PathBuf::new());
    (defaults.keepalive_interval, defaults.keepalive_timeout)
}

/// A server's URL and the TLS configuration pinned to its certificate.
#[derive(Debug, Clone)]
pub struct Dialer {
    url: String,
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl Dialer {
    /// For the server at `url`, pinned to `fingerprint` (plain HTTP when
    /// `None`).
    pub fn new(url: &str, fingerprint: Option<&str>) -> anyhow::Result<Dialer> {
        let tls = match fingerprint {
            Some(fingerprint) => {
                let pin = cairn_tls::parse_fingerprint(fingerprint)?;
                let (config, _) = cairn_tls::client_config(&cairn_tls::Trust::Pinned(pin))
                    .context("TLS client config")?;
                Some(config)
            }
            None => None,
        };
        Ok(Dialer {
            url: url.to_string(),
            tls,
        })
    }

    /// A gRPC channel on a connection of its own.
    pub async fn channel(&self) -> anyhow::Result<Channel> {
        let (interval, timeout) = keepalive();
        let endpoint = Endpoint::from_shared(self.url.clone())?
            .connect_timeout(Duration::from_secs(20))
            .http2_keep_alive_interval(interval)
            .keep_alive_timeout(timeout)
            .tcp_nodelay(true);
        Ok(match &self.tls {
            Some(config) => {
                endpoint
                    .connect_with_connector(cairn_tls::connector(config.clone()))
                    .await?
            }
            None => endpoint.connect().await?,
        })
    }
}
