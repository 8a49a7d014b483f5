//! A gateway that welcomes every agent as approved and never acknowledges
//! (beyond seq 0), recording the seq of what it receives: an agent's spool
//! seen from the other end.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cairn_proto::v1 as pb;
use cairn_proto::v1::agent_gateway_server::{AgentGateway, AgentGatewayServer};
use tokio::sync::Notify;
use tokio_stream::Stream;
use tonic::{Request, Response, Status, Streaming};

/// How long a test waits for messages to arrive.
const WAIT: Duration = Duration::from_secs(60);

#[derive(Clone, Debug, Default)]
struct Fake {
    received: Arc<Mutex<Vec<u64>>>,
    arrived: Arc<Notify>,
}

#[tonic::async_trait]
impl AgentGateway for Fake {
    type SessionStream = Pin<Box<dyn Stream<Item = Result<pb::ServerMessage, Status>> + Send>>;

    async fn session(
        &self,
        request: Request<Streaming<pb::AgentMessage>>,
    ) -> Result<Response<Self::SessionStream>, Status> {
        let mut inbound = request.into_inner();
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        let welcome = pb::ServerMessage {
            body: Some(pb::server_message::Body::Welcome(pb::Welcome {
                status: pb::WelcomeStatus::Approved as i32,
                host_id: 1,
                heartbeat_interval_seconds: 60,
                ..Default::default()
            })),
        };
        let _ = tx.send(Ok(welcome)).await;
        let _ = tx
            .send(Ok(pb::ServerMessage {
                body: Some(pb::server_message::Body::Ack(pb::Ack { seq: 0 })),
            }))
            .await;
        let me = self.clone();
        tokio::spawn(async move {
            let _keep_open = tx;
            while let Ok(Some(message)) = inbound.message().await {
                if message.seq > 0 {
                    me.received.lock().expect("lock").push(message.seq);
                    me.arrived.notify_waiters();
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }
}

/// The fake gateway, serving on a loopback port.
#[derive(Debug)]
pub struct FakeGateway {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    fake: Fake,
}

impl FakeGateway {
    /// Starts serving on a free loopback port.
    pub async fn start() -> FakeGateway {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let fake = Fake::default();
        let service = AgentGatewayServer::new(fake.clone());
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
        FakeGateway { url, fake }
    }

    /// Waits until `n` messages with a seq have arrived.
    pub async fn wait_for_messages(&self, n: usize) {
        tokio::time::timeout(WAIT, async {
            loop {
                let arrived = self.fake.arrived.notified();
                if self.fake.received.lock().expect("lock").len() >= n {
                    return;
                }
                arrived.await;
            }
        })
        .await
        .expect("messages reached the fake server");
    }
}
