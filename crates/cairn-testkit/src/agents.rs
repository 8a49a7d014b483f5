//! Agent helpers: a library agent with test-friendly timing, and a raw
//! session for speaking the protocol by hand (hostile or silent peers).

use std::path::Path;
use std::time::Duration;

use cairn_agent::{Agent, AgentConfig, AgentEvent};
use cairn_proto::v1 as pb;
use cairn_proto::v1::agent_gateway_client::AgentGatewayClient;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Streaming;

/// An agent configuration with short backoffs, for `url`.
pub fn config(url: &str, state_dir: &Path) -> AgentConfig {
    let mut config = AgentConfig::new(url, state_dir);
    config.allow_plaintext = true;
    config.backoff_base = Duration::from_millis(20);
    config.backoff_cap = Duration::from_millis(200);
    config.refused_backoff = Duration::from_millis(300);
    config
}

/// A running library agent and its events.
#[derive(Debug)]
pub struct RunningAgent {
    pub events: mpsc::UnboundedReceiver<AgentEvent>,
    pub fingerprint: String,
    pub spool: std::sync::Arc<cairn_agent::Spool>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), cairn_agent::AgentError>>,
}

impl RunningAgent {
    /// Starts `config`'s agent.
    pub fn start(config: AgentConfig) -> RunningAgent {
        let mut agent = Agent::open(config).expect("open agent");
        let events = agent.subscribe();
        let fingerprint = agent.identity().fingerprint().to_string();
        let spool = agent.spool();
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(agent.run(async {
            let _ = stopped.await;
        }));
        RunningAgent {
            events,
            fingerprint,
            spool,
            stop: Some(stop),
            task,
        }
    }

    /// The next event, failing the test if none comes within `within`.
    pub async fn next(&mut self, within: Duration) -> AgentEvent {
        tokio::time::timeout(within, self.events.recv())
            .await
            .expect("an agent event in time")
            .expect("agent running")
    }

    /// Waits for an event that `want` accepts, skipping others.
    pub async fn until(
        &mut self,
        within: Duration,
        want: impl Fn(&AgentEvent) -> bool,
    ) -> AgentEvent {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let event = self.next(left).await;
            if want(&event) {
                return event;
            }
        }
    }

    /// Waits for a `Welcomed` with `status`.
    pub async fn welcomed(&mut self, status: pb::WelcomeStatus) -> AgentEvent {
        self.until(
            Duration::from_secs(60),
            |e| matches!(e, AgentEvent::Welcomed { status: s, .. } if *s == status),
        )
        .await
    }

    /// Stops the agent and waits for it.
    pub async fn stop(mut self) -> Result<(), cairn_agent::AgentError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.await.expect("agent task")
    }

    /// Waits for the agent to stop by itself (a fatal error) and returns
    /// how it ended.
    pub async fn stop_when_done(self) -> Result<(), cairn_agent::AgentError> {
        self.task.await.expect("agent task")
    }

    /// Whether the agent's task has ended (e.g. a fatal error).
    pub fn finished(&self) -> bool {
        self.task.is_finished()
    }
}

/// A session spoken by hand.
#[derive(Debug)]
pub struct RawSession {
    pub tx: mpsc::Sender<pb::AgentMessage>,
    pub rx: Streaming<pb::ServerMessage>,
}

/// A Hello for `token` from `hostname`.
pub fn hello(token: &str, hostname: &str) -> pb::AgentMessage {
    pb::AgentMessage {
        seq: 0,
        body: Some(pb::agent_message::Body::Hello(pb::Hello {
            identity_token: token.to_string(),
            facts: Some(pb::HostFacts {
                hostname: hostname.to_string(),
                ..Default::default()
            }),
            ..Default::default()
        })),
    }
}

/// A fresh random identity token, as an agent would make.
pub fn new_identity() -> String {
    use base64::Engine;
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Opens a session and sends `first`; returns the stream or the status.
pub async fn open(url: &str, first: pb::AgentMessage) -> Result<RawSession, tonic::Status> {
    let mut client = AgentGatewayClient::connect(url.to_string())
        .await
        .map_err(|e| tonic::Status::unavailable(e.to_string()))?
        .max_encoding_message_size(64 * 1024 * 1024);
    let (tx, rx) = mpsc::channel(64);
    tx.send(first)
        .await
        .map_err(|_| tonic::Status::internal("send"))?;
    let rx = client.session(ReceiverStream::new(rx)).await?.into_inner();
    Ok(RawSession { tx, rx })
}

impl RawSession {
    /// The next server message, or the status that ended the stream.
    pub async fn next(
        &mut self,
        within: Duration,
    ) -> Result<Option<pb::ServerMessage>, tonic::Status> {
        tokio::time::timeout(within, self.rx.message())
            .await
            .unwrap_or_else(|_| {
                Err(tonic::Status::deadline_exceeded(
                    "no server message in time",
                ))
            })
    }
}

/// An agent configuration for `url` (state in `<state>/agent`) whose
/// restores may write below `<state>/restores`.
pub fn with_restore_root(url: &str, state: &Path) -> AgentConfig {
    let mut agent = config(url, &state.join("agent"));
    let root = state.join("restores");
    std::fs::create_dir_all(&root).expect("restore root");
    agent.policy.restore_roots = vec![root];
    agent
}
