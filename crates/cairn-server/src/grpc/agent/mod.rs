//! `cairn.v1.AgentGateway`: the stream every agent holds open. The caller is
//! authenticated by the identity in its `Hello`, not by an operator token.
//! This is the agent protocol's edge: messages are decoded (`decode`) into
//! the fleet's types, and what the fleet sends is encoded (`encode`).

pub(crate) mod decode;
mod encode;

use std::pin::Pin;
use std::time::Duration;

use cairn_proto::v1 as pb;
use cairn_proto::v1::agent_gateway_server::AgentGateway;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Code, Request, Response, Status, Streaming};

use super::ClientAddr;
use crate::fleet::Opened;
use crate::{Api, ServiceError};

/// How long a new stream may take to say `Hello`.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// The AgentGateway implementation.
#[derive(Debug, Clone)]
pub(crate) struct AgentGatewayGrpc {
    api: Api,
}

impl AgentGatewayGrpc {
    pub(crate) fn new(api: Api) -> Self {
        Self { api }
    }
}

type Outbound = Pin<Box<dyn Stream<Item = Result<pb::ServerMessage, Status>> + Send>>;

#[tonic::async_trait]
impl AgentGateway for AgentGatewayGrpc {
    type SessionStream = Outbound;

    async fn session(
        &self,
        request: Request<Streaming<pb::AgentMessage>>,
    ) -> Result<Response<Outbound>, Status> {
        let addr = request
            .extensions()
            .get::<ClientAddr>()
            .map(|a| a.0.ip().to_string());
        let mut inbound = request.into_inner();
        let first = match tokio::time::timeout(HELLO_TIMEOUT, inbound.message()).await {
            Err(_) => return Err(Status::deadline_exceeded("no Hello within 10 s")),
            Ok(Err(status)) => return Err(status),
            Ok(Ok(None)) => return Err(Status::invalid_argument("the stream ended before Hello")),
            Ok(Ok(Some(first))) => first,
        };
        let hello = match (first.seq, first.body) {
            (0, Some(pb::agent_message::Body::Hello(hello))) => hello,
            _ => {
                return Err(Status::invalid_argument(
                    "the first message must be Hello, with seq 0",
                ));
            }
        };
        match self
            .api
            .fleet
            .open_session(decode::hello(hello), addr)
            .await?
        {
            Opened::Refused(welcome) => Ok(Response::new(Box::pin(tokio_stream::once(Ok(
                encode::message(welcome),
            ))))),
            Opened::Live { handle, outbox } => {
                tokio::spawn(async move {
                    let mut closed = handle.closed();
                    loop {
                        tokio::select! {
                            message = inbound.message() => match message {
                                Ok(Some(message)) => {
                                    if let Err(err) = handle.handle(decode::message(message)).await {
                                        tracing::warn!(host = %handle.host(), error = %err, "agent sent a bad message: session closed");
                                        handle.close(err);
                                        break;
                                    }
                                }
                                Ok(None) => break,
                                Err(status) => {
                                    tracing::debug!(host = %handle.host(), %status, "agent stream failed");
                                    handle.close(stream_failed(status));
                                    break;
                                }
                            },
                            _ = closed.changed() => break,
                        }
                    }
                    handle.finish().await;
                });
                let outbox = ReceiverStream::new(outbox)
                    .map(|next| next.map(encode::message).map_err(Status::from));
                Ok(Response::new(Box::pin(outbox)))
            }
        }
    }
}

/// Why the agent's stream failed, as the agent is told: the status tonic
/// gave, as the service error that maps back to the same code (the agent
/// decides by the code whether to dial again). tonic reports a message over
/// the size limit as OUT_OF_RANGE; gRPC's own convention (and what agents
/// expect) is RESOURCE_EXHAUSTED.
fn stream_failed(status: Status) -> ServiceError {
    let message = status.message().to_string();
    match status.code() {
        Code::OutOfRange if message.contains("too large") => ServiceError::TooLarge(message),
        Code::ResourceExhausted => ServiceError::TooLarge(message),
        Code::Unimplemented => ServiceError::Unsupported(message),
        Code::InvalidArgument => ServiceError::invalid("message", message),
        Code::PermissionDenied => ServiceError::Refused(message),
        Code::FailedPrecondition => ServiceError::FailedPrecondition(message),
        Code::Internal | Code::DataLoss => ServiceError::Internal(message),
        _ => ServiceError::Unavailable(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_stream_is_told_with_the_code_it_failed_with() {
        let cases = [
            (
                Status::out_of_range("message too large"),
                Code::ResourceExhausted,
            ),
            (Status::unimplemented("compression"), Code::Unimplemented),
            (Status::invalid_argument("bad frame"), Code::InvalidArgument),
            (Status::internal("decode"), Code::Internal),
            (Status::cancelled("gone"), Code::Unavailable),
        ];
        for (status, code) in cases {
            assert_eq!(Status::from(stream_failed(status)).code(), code);
        }
    }
}
