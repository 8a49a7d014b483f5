//! HTTP/2 spoken byte by byte, for the hostile-peer suite: frames built by
//! hand (so they can be wrong in exactly one way), a minimal request header
//! block in HPACK without Huffman or the dynamic table, and a reader of the
//! frames the server sends back.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};

/// What every HTTP/2 client sends first.
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

pub const DATA: u8 = 0x0;
pub const HEADERS: u8 = 0x1;
pub const PRIORITY: u8 = 0x2;
pub const RST_STREAM: u8 = 0x3;
pub const SETTINGS: u8 = 0x4;
pub const PUSH_PROMISE: u8 = 0x5;
pub const PING: u8 = 0x6;
pub const GOAWAY: u8 = 0x7;
pub const WINDOW_UPDATE: u8 = 0x8;
pub const CONTINUATION: u8 = 0x9;

pub const END_STREAM: u8 = 0x1;
pub const ACK: u8 = 0x1;
pub const END_HEADERS: u8 = 0x4;

/// RST_STREAM's CANCEL, the code the rapid-reset attack sends.
pub const CANCEL: u32 = 0x8;

/// One frame: a 24-bit length, the type, the flags, a 31-bit stream id and
/// the payload.
pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    frame_claiming(payload.len() as u32, kind, flags, stream, payload)
}

/// A frame whose length field says `length`, whatever the payload is.
pub fn frame_claiming(length: u32, kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(9 + payload.len());
    out.extend_from_slice(&length.to_be_bytes()[1..]);
    out.push(kind);
    out.push(flags);
    out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// The preface and an empty SETTINGS: a connection's proper opening.
pub fn opening() -> Vec<u8> {
    let mut out = PREFACE.to_vec();
    out.extend(frame(SETTINGS, 0, 0, &[]));
    out
}

/// A gRPC request's header block for `path` on `authority`: `:method POST`
/// and `:scheme http` from the static table, the rest as literals that
/// are not indexed (so every block stands alone).
pub fn request_block(authority: &str, path: &str) -> Vec<u8> {
    let mut block = vec![0x83, 0x86];
    literal(&mut block, &[0x04], path); // :path
    literal(&mut block, &[0x01], authority); // :authority
    literal(&mut block, &[0x0f, 0x10], "application/grpc"); // content-type
    block.push(0x00); // a new name: te
    string(&mut block, "te");
    string(&mut block, "trailers");
    block
}

fn literal(block: &mut Vec<u8>, name_index: &[u8], value: &str) {
    block.extend_from_slice(name_index);
    string(block, value);
}

fn string(block: &mut Vec<u8>, text: &str) {
    assert!(text.len() < 127, "a short string: {text}");
    block.push(text.len() as u8);
    block.extend_from_slice(text.as_bytes());
}

/// One frame the server sent.
#[derive(Debug)]
pub struct Received {
    pub kind: u8,
    pub flags: u8,
    pub payload: Vec<u8>,
}

impl Received {
    /// A GOAWAY's error code.
    pub fn goaway_code(&self) -> Option<u32> {
        (self.kind == GOAWAY && self.payload.len() >= 8).then(|| {
            u32::from_be_bytes([
                self.payload[4],
                self.payload[5],
                self.payload[6],
                self.payload[7],
            ])
        })
    }

    /// A GOAWAY's last stream id: the highest the server says it handled.
    pub fn goaway_last_stream(&self) -> Option<u32> {
        (self.kind == GOAWAY && self.payload.len() >= 4).then(|| {
            u32::from_be_bytes([
                self.payload[0],
                self.payload[1],
                self.payload[2],
                self.payload[3],
            ]) & 0x7fff_ffff
        })
    }
}

/// How reading a frame ended.
#[derive(Debug)]
pub enum Read {
    Frame(Received),
    /// The server closed (or reset) the connection.
    Closed,
    /// Nothing within the wait.
    Silent,
}

/// The next frame from `reader`, within `wait`.
pub async fn next_frame(reader: &mut (impl AsyncRead + Unpin), wait: Duration) -> Read {
    let read = async {
        let mut head = [0u8; 9];
        reader.read_exact(&mut head).await?;
        let length = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let mut payload = vec![0u8; length];
        reader.read_exact(&mut payload).await?;
        Ok::<_, std::io::Error>(Received {
            kind: head[3],
            flags: head[4],
            payload,
        })
    };
    match tokio::time::timeout(wait, read).await {
        Ok(Ok(frame)) => Read::Frame(frame),
        Ok(Err(_)) => Read::Closed,
        Err(_) => Read::Silent,
    }
}
