//! The on-disk spool: every message with a seq waits here until the server
//! acknowledges it, across reconnects and agent restarts.
//!
//! Layout: `<state>/spool/<seq>.msg` holds one encoded `AgentMessage`;
//! `<state>/spool/cursor` holds the last seq assigned and the last one acked
//! (written to a temporary file and renamed, so it is never torn). The spool
//! is bounded: when full it drops superseded progress first, then the oldest
//! other messages, and never a job's finish.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use cairn_proto::v1 as pb;
use cairn_proto::v1::agent_message::Body;
use prost::Message;
use tokio::sync::Notify;

/// How much the spool may hold.
#[derive(Debug, Clone, Copy)]
pub struct SpoolLimits {
    /// Messages at most.
    pub max_messages: usize,
    /// Bytes at most (encoded).
    pub max_bytes: usize,
    /// The largest one message may be: what the connection can carry. A
    /// bigger one could never be sent and would be resent forever, so it is
    /// refused instead.
    pub max_message_bytes: usize,
}

impl Default for SpoolLimits {
    fn default() -> Self {
        SpoolLimits {
            max_messages: 10_000,
            max_bytes: 64 * 1024 * 1024,
            max_message_bytes: 4 * 1024 * 1024,
        }
    }
}

/// Why the spool failed.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// Reading or writing the spool failed.
    #[error("spool {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The message is larger than any the connection can carry.
    #[error("a message of {bytes} bytes is larger than the {max}-byte message limit: not sent")]
    TooLarge { bytes: usize, max: usize },
}

/// What a spooled message is, for choosing what to drop when full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Superseded by the next progress report: dropped first.
    Progress,
    /// A job's end: never dropped.
    Finish,
    /// Everything else.
    Other,
}

fn kind_of(body: &Body) -> Kind {
    match body {
        Body::JobProgress(_) => Kind::Progress,
        Body::JobFinished(_) => Kind::Finish,
        _ => Kind::Other,
    }
}

#[derive(Debug)]
struct Entry {
    kind: Kind,
    bytes: Vec<u8>,
}

#[derive(Debug, Default)]
struct State {
    last_seq: u64,
    last_acked: u64,
    entries: BTreeMap<u64, Entry>,
    bytes: usize,
}

/// Bytes left for what the stream adds around a message.
const ENVELOPE: usize = 1024;
/// The smallest message limit a server may set (its own configured minimum).
const MIN_SERVER_LIMIT: usize = 64 * 1024;

/// The spool.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    limits: SpoolLimits,
    /// The largest message the server said it accepts (0: not told yet).
    server_limit: std::sync::atomic::AtomicUsize,
    state: Mutex<State>,
    pushed: Notify,
}

impl Spool {
    /// Opens (or creates) the spool under `state_dir`.
    pub fn open(state_dir: &Path, limits: SpoolLimits) -> Result<Spool, SpoolError> {
        let dir = state_dir.join("spool");
        let io_err = |source| SpoolError::Io {
            path: dir.clone(),
            source,
        };
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(io_err)?;
        let mut state = State::default();
        if let Ok(text) = fs::read_to_string(dir.join("cursor")) {
            let mut numbers = text
                .split_whitespace()
                .map(|n| n.parse::<u64>().unwrap_or(0));
            state.last_seq = numbers.next().unwrap_or(0);
            state.last_acked = numbers.next().unwrap_or(0);
        }
        for entry in fs::read_dir(&dir).map_err(io_err)? {
            let path = entry.map_err(io_err)?.path();
            let Some(seq) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".msg"))
                .and_then(|n| n.parse::<u64>().ok())
            else {
                continue;
            };
            let decoded = fs::read(&path).ok().and_then(|bytes| {
                pb::AgentMessage::decode(bytes.as_slice())
                    .ok()
                    .and_then(|m| m.body.map(|b| (kind_of(&b), bytes)))
            });
            match decoded {
                Some((_, bytes)) if bytes.len() > limits.max_message_bytes => {
                    tracing::warn!(path = %path.display(), bytes = bytes.len(), "spooled message too large to ever send: dropped");
                    let _ = fs::remove_file(&path);
                }
                Some((kind, bytes)) if seq > state.last_acked => {
                    state.bytes += bytes.len();
                    state.last_seq = state.last_seq.max(seq);
                    state.entries.insert(seq, Entry { kind, bytes });
                }
                Some(_) => {
                    let _ = fs::remove_file(&path);
                }
                None => {
                    tracing::warn!(path = %path.display(), "unreadable spooled message dropped");
                    let _ = fs::remove_file(&path);
                }
            }
        }
        Ok(Spool {
            dir,
            limits,
            server_limit: std::sync::atomic::AtomicUsize::new(0),
            state: Mutex::new(state),
            pushed: Notify::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn io_err(&self) -> impl Fn(io::Error) -> SpoolError + '_ {
        move |source| SpoolError::Io {
            path: self.dir.clone(),
            source,
        }
    }

    fn write_cursor(&self, state: &State) -> Result<(), SpoolError> {
        let tmp = self.dir.join("cursor.tmp");
        fs::write(&tmp, format!("{} {}\n", state.last_seq, state.last_acked))
            .map_err(self.io_err())?;
        fs::rename(&tmp, self.dir.join("cursor")).map_err(self.io_err())
    }

    fn path(&self, seq: u64) -> PathBuf {
        self.dir.join(format!("{seq:020}.msg"))
    }

    /// Gives `body` the next seq and keeps it until acknowledged. Returns the
    /// message, or `None` if it was progress dropped because the spool is full
    /// of messages that matter more.
    pub fn push(&self, body: Body) -> Result<Option<pb::AgentMessage>, SpoolError> {
        let kind = kind_of(&body);
        let mut state = self.lock();
        let seq = state.last_seq + 1;
        let message = pb::AgentMessage {
            seq,
            body: Some(body),
        };
        let bytes = message.encode_to_vec();
        let max = self.max_message_bytes();
        if bytes.len() > max {
            return Err(SpoolError::TooLarge {
                bytes: bytes.len(),
                max,
            });
        }
        while state.entries.len() + 1 > self.limits.max_messages
            || state.bytes + bytes.len() > self.limits.max_bytes
        {
            let victim = state
                .entries
                .iter()
                .find(|(_, e)| e.kind == Kind::Progress)
                .or_else(|| {
                    (kind != Kind::Progress)
                        .then(|| state.entries.iter().find(|(_, e)| e.kind == Kind::Other))
                        .flatten()
                })
                .map(|(seq, _)| *seq);
            match victim {
                Some(victim) => {
                    if let Some(entry) = state.entries.remove(&victim) {
                        state.bytes -= entry.bytes.len();
                    }
                    let _ = fs::remove_file(self.path(victim));
                    tracing::warn!(seq = victim, "spool full: dropped an older message");
                }
                None if kind == Kind::Progress => return Ok(None),
                // Only finishes are left: keep this one too rather than lose a
                // job's end; the limit is exceeded until the server acks.
                None => break,
            }
        }
        state.last_seq = seq;
        self.write_cursor(&state)?;
        let path = self.path(seq);
        let tmp = path.with_extension("tmp");
        fs::write(&tmp, &bytes).map_err(self.io_err())?;
        fs::rename(&tmp, &path).map_err(self.io_err())?;
        state.bytes += bytes.len();
        state.entries.insert(seq, Entry { kind, bytes });
        drop(state);
        self.pushed.notify_one();
        Ok(Some(message))
    }

    /// The server applied everything up to `seq`: forget it.
    pub fn ack(&self, seq: u64) -> Result<(), SpoolError> {
        let mut state = self.lock();
        if seq <= state.last_acked {
            return Ok(());
        }
        let acked: Vec<u64> = state.entries.range(..=seq).map(|(s, _)| *s).collect();
        for s in acked {
            if let Some(entry) = state.entries.remove(&s) {
                state.bytes -= entry.bytes.len();
            }
            let _ = fs::remove_file(self.path(s));
        }
        state.last_acked = seq;
        // A server that has applied more than we ever assigned (a restored
        // state dir) moves the counter on, so new messages are not replays.
        state.last_seq = state.last_seq.max(seq);
        self.write_cursor(&state)
    }

    /// The messages awaiting acknowledgement, oldest first.
    pub fn pending(&self) -> Vec<pb::AgentMessage> {
        self.lock()
            .entries
            .values()
            .filter_map(|e| pb::AgentMessage::decode(e.bytes.as_slice()).ok())
            .collect()
    }

    /// The last seq assigned.
    /// Takes on the server's message limit (from its `Welcome`): nothing
    /// larger is spooled, since the server would refuse it for ever.
    pub fn set_server_limit(&self, max_message_bytes: usize) {
        // Never below what the server itself must accept (64 KiB): a limit
        // from a hostile server cannot shrink the agent to nothing.
        self.server_limit.store(
            max_message_bytes.max(MIN_SERVER_LIMIT),
            std::sync::atomic::Ordering::Relaxed,
        );
        // What was kept under a larger limit would now be refused for ever.
        let max = self.max_message_bytes();
        let mut state = self.lock();
        let too_large: Vec<u64> = state
            .entries
            .iter()
            .filter(|(_, entry)| entry.bytes.len() > max)
            .map(|(seq, _)| *seq)
            .collect();
        for seq in too_large {
            if let Some(entry) = state.entries.remove(&seq) {
                tracing::error!(
                    seq,
                    bytes = entry.bytes.len(),
                    max,
                    "a spooled message is larger than the server accepts: dropped"
                );
                state.bytes -= entry.bytes.len();
            }
            let _ = fs::remove_file(self.path(seq));
        }
    }

    /// The largest message this spool keeps: its own limit, or the server's
    /// if lower (less room for the message's envelope on the stream).
    pub fn max_message_bytes(&self) -> usize {
        match self.server_limit.load(std::sync::atomic::Ordering::Relaxed) {
            0 => self.limits.max_message_bytes,
            server => self
                .limits
                .max_message_bytes
                .min(server.saturating_sub(ENVELOPE)),
        }
    }

    /// The entry bytes one part of a long listing may carry: a quarter of
    /// the largest message, and never more than `budget`.
    pub(crate) fn part_budget(&self, budget: usize) -> usize {
        budget.min(self.max_message_bytes() / 4).max(1)
    }

    pub fn last_seq(&self) -> u64 {
        self.lock().last_seq
    }

    /// The last seq the server acknowledged.
    pub fn last_acked(&self) -> u64 {
        self.lock().last_acked
    }

    /// Resolves when a message is pushed.
    pub(crate) async fn pushed(&self) {
        self.pushed.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(job: i64) -> Body {
        Body::JobLog(pb::JobLog {
            job_id: job,
            lines: vec![],
        })
    }

    fn progress(job: i64) -> Body {
        Body::JobProgress(pb::JobProgress {
            job_id: job,
            ..Default::default()
        })
    }

    fn finished(job: i64) -> Body {
        Body::JobFinished(pb::JobFinished {
            job_id: job,
            ..Default::default()
        })
    }

    fn seqs(spool: &Spool) -> Vec<u64> {
        spool.pending().iter().map(|m| m.seq).collect()
    }

    #[test]
    fn survives_a_restart_and_forgets_what_was_acked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let spool = Spool::open(dir.path(), SpoolLimits::default()).expect("open");
        for job in 1..=4 {
            spool.push(log(job)).expect("push");
        }
        spool.ack(2).expect("ack");
        drop(spool);

        let spool = Spool::open(dir.path(), SpoolLimits::default()).expect("reopen");
        assert_eq!(seqs(&spool), vec![3, 4]);
        assert_eq!((spool.last_seq(), spool.last_acked()), (4, 2));
        let next = spool.push(log(5)).expect("push").expect("kept");
        assert_eq!(next.seq, 5, "the counter only grows");
    }

    #[test]
    fn when_full_progress_goes_first_and_a_finish_never() {
        let dir = tempfile::tempdir().expect("tempdir");
        let limits = SpoolLimits {
            max_messages: 3,
            max_bytes: usize::MAX,
            ..SpoolLimits::default()
        };
        let spool = Spool::open(dir.path(), limits).expect("open");
        spool.push(finished(1)).expect("push"); // 1
        spool.push(progress(2)).expect("push"); // 2
        spool.push(log(2)).expect("push"); // 3
        spool.push(log(2)).expect("push"); // 4: drops progress 2
        assert_eq!(seqs(&spool), vec![1, 3, 4]);
        spool.push(finished(2)).expect("push"); // 5: drops log 3, never finish 1
        assert_eq!(seqs(&spool), vec![1, 4, 5]);
        assert!(
            spool.push(progress(3)).expect("push").is_none(),
            "new progress yields to what matters more"
        );
        spool.push(finished(3)).expect("push"); // drops log 4
        spool.push(finished(4)).expect("push"); // only finishes left: kept beyond the limit
        assert_eq!(seqs(&spool), vec![1, 5, 6, 7]);
    }

    #[test]
    fn a_lower_server_limit_drops_what_it_would_refuse_and_is_never_below_64_kib() {
        let dir = tempfile::tempdir().expect("tempdir");
        let spool = Spool::open(dir.path(), SpoolLimits::default()).expect("open");
        let line = |len: usize| {
            Body::JobLog(pb::JobLog {
                job_id: 1,
                lines: vec![pb::JobLogLine {
                    text: "x".repeat(len),
                    ..Default::default()
                }],
            })
        };
        spool.push(line(100 * 1024)).expect("push"); // 1: fits 4 MiB
        spool.push(line(10 * 1024)).expect("push"); // 2
        // A hostile server says 1 byte: read as 64 KiB, the small one stays.
        spool.set_server_limit(1);
        assert_eq!(spool.max_message_bytes(), 64 * 1024 - ENVELOPE);
        assert_eq!(seqs(&spool), vec![2], "the one it would refuse is gone");
        assert!(spool.push(line(100 * 1024)).is_err());
        drop(spool);
        let spool = Spool::open(dir.path(), SpoolLimits::default()).expect("reopen");
        assert_eq!(seqs(&spool), vec![2], "and gone from disk too");
    }

    #[test]
    fn a_message_too_large_to_send_is_refused_not_kept_forever() {
        let dir = tempfile::tempdir().expect("tempdir");
        let limits = SpoolLimits {
            max_message_bytes: 1024,
            ..SpoolLimits::default()
        };
        let spool = Spool::open(dir.path(), limits).expect("open");
        let big = Body::BrowseResult(pb::BrowseResult {
            job_id: 1,
            path: "x".repeat(2048),
            ..Default::default()
        });
        assert!(matches!(
            spool.push(big),
            Err(SpoolError::TooLarge { max: 1024, .. })
        ));
        assert!(spool.pending().is_empty(), "nothing is left to resend");
        let next = spool.push(log(1)).expect("push").expect("kept");
        assert_eq!(next.seq, 1, "the refused message took no seq");
        drop(spool);

        // One left by an agent with a larger limit is dropped on open.
        let spool = Spool::open(dir.path(), SpoolLimits::default()).expect("open");
        spool
            .push(Body::BrowseResult(pb::BrowseResult {
                job_id: 2,
                path: "y".repeat(2048),
                ..Default::default()
            }))
            .expect("push");
        drop(spool);
        let spool = Spool::open(dir.path(), limits).expect("reopen");
        assert_eq!(seqs(&spool), vec![1]);
    }

    #[test]
    fn a_corrupt_file_is_dropped_not_fatal() {
        let dir = tempfile::tempdir().expect("tempdir");
        let spool = Spool::open(dir.path(), SpoolLimits::default()).expect("open");
        spool.push(log(1)).expect("push");
        drop(spool);
        fs::write(
            dir.path().join("spool").join(format!("{:020}.msg", 2)),
            b"\xff\xff garbage",
        )
        .expect("write");
        let spool = Spool::open(dir.path(), SpoolLimits::default()).expect("reopen");
        assert_eq!(seqs(&spool), vec![1]);
    }
}
