//! gRPC messages that lie, for the hostile-peer suite: a length prefix of
//! 4 GiB, a truncated message, a compressed flag with no encoding, protobuf
//! groups nested 100,000 deep, and messages exactly at the size limit and
//! one byte over it, each many times over one HTTP/2 connection.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use tokio::net::TcpStream;

/// How long a server may take to answer, on a loaded machine.
const PATIENCE: Duration = Duration::from_secs(60);
/// The server's message limit (its default).
pub const LIMIT: usize = 4 * 1024 * 1024;
const LIST_HOSTS: &str = "/cairn.v1.HostService/ListHosts";

/// gRPC calls whose messages lie, each kind many times over one HTTP/2
/// connection; the grpc-status each got, counted.
pub async fn lying_grpc(addr: SocketAddr, token: &str) -> BTreeMap<(&'static str, String), usize> {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let (client, connection) = h2::client::handshake(tcp).await.expect("h2 handshake");
    tokio::spawn(connection);
    let nested = {
        let depth = 100_000;
        let mut body = [0xc3, 0x3e].repeat(depth); // field 1000, start group
        body.extend([0xc4, 0x3e].repeat(depth)); // field 1000, end group
        body
    };
    let cases: Vec<(&'static str, usize, Vec<u8>)> = vec![
        ("at the limit", 5, grpc_frame(0, &padding(LIMIT))),
        (
            "one byte over the limit",
            5,
            grpc_frame(0, &padding(LIMIT + 1)),
        ),
        (
            "a 4 GiB length prefix",
            50,
            [&[0, 0xff, 0xff, 0xff, 0xf0][..], &[0; 16]].concat(),
        ),
        (
            "a truncated message",
            50,
            [&[0, 0, 0, 0x03, 0xe8][..], &[0; 10]].concat(),
        ),
        ("compressed, no encoding", 50, grpc_frame(1, &[0x08, 0x01])),
        ("groups nested 100,000 deep", 20, grpc_frame(0, &nested)),
    ];
    let mut statuses = BTreeMap::new();
    for (case, times, body) in cases {
        let body = Bytes::from(body);
        for _ in 0..times {
            let status = call(client.clone(), addr, token, body.clone()).await;
            *statuses.entry((case, status)).or_default() += 1;
        }
    }
    statuses
}

/// A gRPC length-prefixed message.
fn grpc_frame(compressed: u8, message: &[u8]) -> Vec<u8> {
    let mut out = vec![compressed];
    out.extend_from_slice(&(message.len() as u32).to_be_bytes());
    out.extend_from_slice(message);
    out
}

/// A valid protobuf message of exactly `size` bytes: one unknown bytes field
/// (number 1000), which a decoder skips.
fn padding(size: usize) -> Vec<u8> {
    let payload = size - 2 - 4; // the key, and a four-byte length
    assert!((1 << 21..1 << 28).contains(&payload), "a four-byte varint");
    let mut out = vec![0xc2, 0x3e];
    let mut n = payload;
    for _ in 0..3 {
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
    out.resize(size, 0);
    out
}

/// One ListHosts call with `body` as the request's bytes; its grpc-status,
/// or what went wrong below gRPC.
async fn call(
    client: h2::client::SendRequest<Bytes>,
    addr: SocketAddr,
    token: &str,
    body: Bytes,
) -> String {
    let request = http::Request::post(format!("http://{addr}{LIST_HOSTS}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("authorization", format!("Bearer {token}"))
        .body(())
        .expect("a request");
    let exchange = async {
        let mut client = client.ready().await?;
        let (response, mut send) = client.send_request(request, false)?;
        send.send_data(body, true)?;
        let response = response.await?;
        if let Some(status) = response.headers().get("grpc-status") {
            return Ok(status.to_str().unwrap_or("?").to_string());
        }
        let mut body = response.into_body();
        while let Some(chunk) = body.data().await {
            let chunk = chunk?;
            let _ = body.flow_control().release_capacity(chunk.len());
        }
        let trailers = body.trailers().await?;
        Ok::<_, h2::Error>(
            trailers
                .and_then(|t| {
                    t.get("grpc-status")
                        .map(|s| s.to_str().unwrap_or("?").to_string())
                })
                .unwrap_or_else(|| "none".into()),
        )
    };
    match tokio::time::timeout(PATIENCE, exchange).await {
        Ok(Ok(status)) => status,
        Ok(Err(err)) => format!("h2 error: {err}"),
        Err(_) => "HUNG".into(),
    }
}
