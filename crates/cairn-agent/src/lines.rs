//! Reading restic's output a line at a time. File names are bytes, not
//! UTF-8, so a line restic prints need not be text: it is passed on with the
//! invalid bytes replaced, never taken for the end of the output (which
//! would close the pipe, and restic would die of SIGPIPE at its next write).

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

/// The longest log line the agent sends, as the protocol promises.
pub(crate) const MAX_LOG_LINE: usize = 4096;

/// Cuts `text` to at most `max` bytes, on a char boundary.
pub(crate) fn cut(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

/// Lines of a child's output, decoded lossily.
#[derive(Debug)]
pub(crate) struct LossyLines<R> {
    reader: BufReader<R>,
    // Kept across calls: `read_until` appends what it read before a cancel
    // (a `select!` branch losing), so nothing is lost when called again.
    buf: Vec<u8>,
}

impl<R: AsyncRead + Unpin> LossyLines<R> {
    pub(crate) fn new(reader: R) -> Self {
        LossyLines {
            reader: BufReader::new(reader),
            buf: Vec::new(),
        }
    }

    /// The next line without its line ending; `None` at the end of the
    /// output or when it cannot be read any more.
    pub(crate) async fn next_line(&mut self) -> Option<String> {
        match self.reader.read_until(b'\n', &mut self.buf).await {
            Ok(0) if self.buf.is_empty() => None,
            Ok(_) => {
                let mut line = std::mem::take(&mut self.buf);
                if line.last() == Some(&b'\n') {
                    line.pop();
                }
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                Some(String::from_utf8_lossy(&line).into_owned())
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot read restic's output any more");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn invalid_utf8_is_replaced_and_later_lines_still_arrive() {
        let output: &[u8] = b"caf\xe9\nsecond line\r\n\xff\xfe\nlast without newline";
        let mut lines = LossyLines::new(output);
        assert_eq!(lines.next_line().await.as_deref(), Some("caf\u{FFFD}"));
        assert_eq!(lines.next_line().await.as_deref(), Some("second line"));
        assert_eq!(lines.next_line().await.as_deref(), Some("\u{FFFD}\u{FFFD}"));
        assert_eq!(
            lines.next_line().await.as_deref(),
            Some("last without newline")
        );
        assert_eq!(lines.next_line().await, None);
    }

    #[test]
    fn lines_are_cut_on_a_char_boundary() {
        assert_eq!(cut("abc".into(), 4096), "abc");
        let long = "é".repeat(3000); // 6000 bytes
        let cut_text = cut(long, MAX_LOG_LINE);
        assert!(cut_text.len() <= MAX_LOG_LINE && cut_text.len() >= MAX_LOG_LINE - 1);
        assert!(cut_text.chars().all(|c| c == 'é'));
    }
}
