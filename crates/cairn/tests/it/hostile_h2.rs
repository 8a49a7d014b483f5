//! Hostile HTTP/2 peers against a real server process, while a well-behaved
//! agent keeps sending heartbeats:
//!
//! - 10,000 frames that are wrong in one way each (lengths over the limit,
//!   truncated frames, frames on the wrong stream, garbage header blocks,
//!   bad SETTINGS, PING and WINDOW_UPDATE, pushes from a client, unknown
//!   frame types mixed in), each kind on connections of its own;
//! - the HTTP/2 rapid-reset pattern: streams opened and cancelled at once,
//!   10,000 per connection on several connections;
//! - gRPC messages that lie: a length prefix of 4 GiB, a truncated message,
//!   a compressed flag with no encoding, protobuf groups nested 100,000 deep,
//!   and a message exactly at the size limit and one byte over it.
//!
//! The promise: no panic, every connection answered (closed or still
//! serving, none left hanging), memory growth bounded, and the other agent's
//! heartbeats handled all along. The figures are printed for the book.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::task::JoinSet;

use crate::chaos::admin_token;
use crate::h2_raw::{self as raw, Read, frame, frame_claiming, opening};
use crate::hostile_grpc::lying_grpc;
use crate::hostile_probe::{PeakRss, Probe, rss_kib};
use cairn_testkit::ServerProcess;

/// Malformed frames sent in all.
const FRAMES: usize = 10_000;
/// Connections open at once.
const AT_ONCE: usize = 32;
/// Well-formed but unknown frames sent before each connection's wrong one
/// (a server must ignore them).
const UNKNOWN_PER_CONNECTION: usize = 3;
/// Rapid-reset connections, and the streams each opens and cancels.
const RESET_CONNECTIONS: usize = 4;
const RESET_STREAMS: u32 = 10_000;
/// How long a server may take to answer anything, on a loaded machine.
const PATIENCE: Duration = Duration::from_secs(60);
/// The bound on the server's growth in resident memory.
const MAX_GROWTH_KIB: u64 = 128 * 1024;
/// The grpc-status of a message over the limit: tonic answers OUT_OF_RANGE.
const TOO_LARGE: &str = "11";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_http2_peers_cause_no_panic_no_hang_bounded_memory_and_leave_heartbeats_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let token = admin_token(&data);
    let log = dir.path().join("server.log");
    let mut server = ServerProcess::new(env!("CARGO_BIN_EXE_cairn").as_ref(), &data, &[]);
    server.log_to(&log);
    server.start().await;
    let pid = server.pid().expect("running");
    let addr = server.addr();

    let probe = Probe::start(&server, &token).await;
    let baseline = probe.samples(5).await;
    let before = rss_kib(pid);
    let peak = PeakRss::watch(pid);

    let frames = malformed_frames(addr).await;
    let resets = rapid_resets(addr).await;
    let grpc = lying_grpc(addr, &token).await;

    let peak = peak.stop().await;
    let after = rss_kib(pid);
    let heartbeats = probe.finish().await;

    println!(
        "hostile http/2: {} frames on {} connections",
        frames.sent, frames.connections
    );
    for ((kind, outcome), count) in &frames.outcomes {
        println!("  {kind:<28} {outcome:<26} {count}");
    }
    for (i, reset) in resets.iter().enumerate() {
        println!("  rapid reset {i}: {reset}");
    }
    for ((case, status), count) in &grpc {
        println!("  grpc {case:<26} grpc-status {status:<4} {count}");
    }
    println!(
        "  server rss {} KiB before, {} KiB peak, {} KiB after",
        before, peak, after
    );
    println!(
        "  heartbeats: {} before (slowest {:?}), {} during (slowest {:?}), 0 lost",
        baseline.len(),
        baseline.iter().max().copied().unwrap_or_default(),
        heartbeats.len(),
        heartbeats.iter().max().copied().unwrap_or_default(),
    );

    assert!(server.running(), "the server died under hostile peers");
    let logged = std::fs::read_to_string(&log).expect("the server's log");
    assert!(
        !logged.contains("panicked"),
        "the server panicked:\n{logged}"
    );
    let hung: usize = frames
        .outcomes
        .iter()
        .filter(|((_, o), _)| o.as_str() == "HUNG")
        .map(|(_, n)| n)
        .sum();
    assert_eq!(
        hung, 0,
        "connections the server left hanging: {:?}",
        frames.outcomes
    );
    let tolerated: Vec<_> = frames
        .outcomes
        .keys()
        .filter(|(kind, outcome)| {
            outcome.as_str() == "ignored, still serving" && !kind.starts_with("stream error")
        })
        .collect();
    assert!(
        tolerated.is_empty(),
        "connection errors the server let pass: {tolerated:?}"
    );
    assert!(
        resets.iter().all(|r| r.answered),
        "a rapid-reset connection hung: {resets:?}"
    );
    assert_eq!(
        grpc.get(&("at the limit", "0".to_string())),
        Some(&5),
        "{grpc:?}"
    );
    assert_eq!(
        grpc.get(&("one byte over the limit", TOO_LARGE.to_string())),
        Some(&5),
        "{grpc:?}"
    );
    assert_eq!(
        grpc.get(&("a 4 GiB length prefix", TOO_LARGE.to_string())),
        Some(&50),
        "{grpc:?}"
    );
    let unanswered: Vec<_> = grpc
        .keys()
        .filter(|(_, status)| status.parse::<u8>().is_err())
        .collect();
    assert!(
        unanswered.is_empty(),
        "calls with no gRPC answer: {unanswered:?}"
    );
    let refused_or_ok = grpc
        .keys()
        .all(|(case, status)| (*case == "at the limit") == (status == "0"));
    assert!(
        refused_or_ok,
        "a lying message was accepted, or a good one refused: {grpc:?}"
    );
    assert!(
        peak.saturating_sub(before) < MAX_GROWTH_KIB,
        "rss grew from {before} to {peak} KiB"
    );
    assert!(
        after.saturating_sub(before) < MAX_GROWTH_KIB,
        "rss stayed at {after} KiB"
    );
}

/// One way a frame can be wrong.
#[derive(Clone, Copy, Debug)]
enum Wrong {
    OverMaxFrameSize,
    Truncated,
    DataOnStreamZero,
    GarbageHeaderBlock,
    SettingsOddLength,
    ZeroWindowIncrement,
    PingShort,
    OrphanContinuation,
    PushFromClient,
    EvenStreamHeaders,
    BadPreface,
    SelfDependency,
}

impl Wrong {
    const ALL: [Wrong; 12] = [
        Wrong::OverMaxFrameSize,
        Wrong::Truncated,
        Wrong::DataOnStreamZero,
        Wrong::GarbageHeaderBlock,
        Wrong::SettingsOddLength,
        Wrong::ZeroWindowIncrement,
        Wrong::PingShort,
        Wrong::OrphanContinuation,
        Wrong::PushFromClient,
        Wrong::EvenStreamHeaders,
        Wrong::BadPreface,
        Wrong::SelfDependency,
    ];

    fn name(self) -> &'static str {
        match self {
            Wrong::OverMaxFrameSize => "length 16 MiB",
            Wrong::Truncated => "truncated",
            Wrong::DataOnStreamZero => "data on stream 0",
            Wrong::GarbageHeaderBlock => "garbage hpack",
            Wrong::SettingsOddLength => "settings of 5 bytes",
            Wrong::ZeroWindowIncrement => "window update of 0",
            Wrong::PingShort => "ping of 7 bytes",
            Wrong::OrphanContinuation => "orphan continuation",
            Wrong::PushFromClient => "push from a client",
            Wrong::EvenStreamHeaders => "headers on stream 2",
            Wrong::BadPreface => "bad preface",
            // RFC 9113 §5.3.1 makes this an error of the stream alone.
            Wrong::SelfDependency => "stream error: priority loop",
        }
    }

    /// The wrong frame itself.
    fn bytes(self) -> Vec<u8> {
        match self {
            Wrong::OverMaxFrameSize => frame_claiming(0xff_ffff, raw::DATA, 0, 1, &[]),
            Wrong::Truncated => frame_claiming(100, raw::DATA, 0, 1, &[0; 10]),
            Wrong::DataOnStreamZero => frame(raw::DATA, raw::END_STREAM, 0, b"hello"),
            Wrong::GarbageHeaderBlock => frame(raw::HEADERS, raw::END_HEADERS, 1, &[0xff; 32]),
            Wrong::SettingsOddLength => frame(raw::SETTINGS, 0, 0, &[0, 3, 0, 0, 1]),
            Wrong::ZeroWindowIncrement => frame(raw::WINDOW_UPDATE, 0, 0, &[0; 4]),
            Wrong::PingShort => frame(raw::PING, 0, 0, &[0; 7]),
            Wrong::OrphanContinuation => frame(raw::CONTINUATION, raw::END_HEADERS, 1, &[0x83]),
            Wrong::PushFromClient => {
                frame(raw::PUSH_PROMISE, raw::END_HEADERS, 1, &[0, 0, 0, 2, 0x83])
            }
            Wrong::EvenStreamHeaders => frame(raw::HEADERS, raw::END_HEADERS, 2, &[0x83, 0x86]),
            Wrong::BadPreface => b"GET / HTTP/2.0\r\n\r\nXX\r\n\r\n".to_vec(),
            Wrong::SelfDependency => frame(raw::PRIORITY, 0, 1, &[0, 0, 0, 1, 16]),
        }
    }
}

#[derive(Debug, Default)]
struct FrameTally {
    sent: usize,
    connections: usize,
    outcomes: BTreeMap<(&'static str, String), usize>,
}

async fn malformed_frames(addr: SocketAddr) -> FrameTally {
    let mut tally = FrameTally::default();
    let mut running = JoinSet::new();
    let mut k = 0usize;
    while tally.sent < FRAMES || !running.is_empty() {
        if tally.sent < FRAMES && running.len() < AT_ONCE {
            let wrong = Wrong::ALL[k % Wrong::ALL.len()];
            let (bytes, frames) = connection_bytes(wrong, k);
            tally.sent += frames;
            tally.connections += 1;
            k += 1;
            running.spawn(async move { (wrong.name(), one_connection(addr, wrong, bytes).await) });
            continue;
        }
        if let Some(done) = running.join_next().await {
            let (kind, outcome) = done.expect("a connection task");
            *tally.outcomes.entry((kind, outcome)).or_default() += 1;
        }
    }
    tally
}

/// What one connection sends, and how many frames that counts.
fn connection_bytes(wrong: Wrong, k: usize) -> (Vec<u8>, usize) {
    if let Wrong::BadPreface = wrong {
        return (wrong.bytes(), 1);
    }
    let mut bytes = opening();
    for i in 0..UNKNOWN_PER_CONNECTION {
        let payload = vec![(k + i) as u8; (k * 7 + i) % 64];
        bytes.extend(frame(0x20 + (i as u8), 0xff, (k as u32) | 1, &payload));
    }
    bytes.extend(wrong.bytes());
    if !matches!(wrong, Wrong::Truncated) {
        // A PING after the wrong frame: its answer means the server read
        // past the wrong frame and goes on serving.
        bytes.extend(frame(raw::PING, 0, 0, &k.to_be_bytes()));
    }
    (bytes, UNKNOWN_PER_CONNECTION + 1)
}

/// Sends `bytes` and says how the server answered.
async fn one_connection(addr: SocketAddr, wrong: Wrong, bytes: Vec<u8>) -> String {
    let Ok(stream) = TcpStream::connect(addr).await else {
        return "HUNG".into();
    };
    let (mut reader, mut writer) = stream.into_split();
    if writer.write_all(&bytes).await.is_err() {
        return "closed while sending".into();
    }
    if matches!(wrong, Wrong::Truncated) {
        let _ = writer.shutdown().await;
    }
    let mut goaway = None;
    loop {
        match raw::next_frame(&mut reader, PATIENCE).await {
            Read::Frame(f) if f.kind == raw::GOAWAY => goaway = f.goaway_code(),
            Read::Frame(f) if f.kind == raw::PING && f.flags & raw::ACK != 0 => {
                return "ignored, still serving".into();
            }
            Read::Frame(_) => {}
            Read::Closed => {
                return match goaway {
                    Some(code) => format!("goaway {}", reason(code)),
                    None => "closed".into(),
                };
            }
            Read::Silent => return "HUNG".into(),
        }
    }
}

fn reason(code: u32) -> &'static str {
    match code {
        0x0 => "NO_ERROR",
        0x1 => "PROTOCOL_ERROR",
        0x6 => "FRAME_SIZE_ERROR",
        0x9 => "COMPRESSION_ERROR",
        0xb => "ENHANCE_YOUR_CALM",
        _ => "other",
    }
}

/// How one rapid-reset connection ended.
#[derive(Debug)]
struct ResetOutcome {
    /// Streams opened and cancelled before the server stopped reading.
    opened: u32,
    /// The GOAWAY's code and last stream id, if the server sent one.
    goaway: Option<(&'static str, u32)>,
    /// The server answered: a GOAWAY, a close, or a PING after the flood.
    answered: bool,
}

impl std::fmt::Display for ResetOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.goaway {
            Some((code, last)) => write!(
                f,
                "{} streams sent, goaway {code} after stream {last}",
                self.opened
            ),
            None => write!(
                f,
                "{} streams sent and cancelled, connection still serving",
                self.opened
            ),
        }
    }
}

async fn rapid_resets(addr: SocketAddr) -> Vec<ResetOutcome> {
    let mut running = JoinSet::new();
    for _ in 0..RESET_CONNECTIONS {
        running.spawn(rapid_reset(addr));
    }
    running.join_all().await
}

/// Opens stream after stream and cancels each at once, in batches, while
/// a reader drains what the server sends.
async fn rapid_reset(addr: SocketAddr) -> ResetOutcome {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (mut reader, mut writer) = stream.into_split();
    let reading = tokio::spawn(async move {
        let mut goaway = None;
        loop {
            match raw::next_frame(&mut reader, PATIENCE).await {
                Read::Frame(f) if f.kind == raw::GOAWAY => {
                    goaway = f.goaway_code().map(reason).zip(f.goaway_last_stream());
                }
                Read::Frame(f) if f.kind == raw::PING && f.flags & raw::ACK != 0 => {
                    return (goaway, true);
                }
                Read::Frame(_) => {}
                Read::Closed => return (goaway, true),
                Read::Silent => return (goaway, false),
            }
        }
    });
    let block = raw::request_block(&addr.to_string(), "/grpc.health.v1.Health/Check");
    let mut opened = 0;
    let mut batch = opening();
    'flood: for n in 0..RESET_STREAMS {
        let id = 2 * n + 1;
        batch.extend(frame(raw::HEADERS, raw::END_HEADERS, id, &block));
        batch.extend(frame(raw::RST_STREAM, 0, id, &raw::CANCEL.to_be_bytes()));
        if (n + 1) % 100 == 0 || n + 1 == RESET_STREAMS {
            if writer.write_all(&batch).await.is_err() {
                break 'flood;
            }
            opened = n + 1;
            batch.clear();
        }
    }
    let _ = writer.write_all(&frame(raw::PING, 0, 0, &[7; 8])).await;
    let (goaway, answered) = reading.await.expect("the reader");
    ResetOutcome {
        opened,
        goaway,
        answered,
    }
}
