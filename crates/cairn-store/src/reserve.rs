//! A reserve of disk space kept beside the database, for the moment the
//! disk fills up.
//!
//! A full disk refuses every write, including the alert that would tell an
//! operator the disk is full. So the store keeps `cairn.reserve` (8 MiB of
//! zeros) next to `cairn.db`. The first write the disk refuses releases it.
//! From then on only the writes that keep the operator told (the alert and
//! its notifications, through [`Store::reserved`](crate::Store::reserved))
//! may use that space. Every other write is refused at once, cleanly, and
//! says why. Once the filesystem has room for the reserve twice over again,
//! the reserve is remade and every write goes through: no restart.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::writer::WriterStats;

/// The space kept back.
pub const RESERVE_BYTES: u64 = 8 << 20;

/// The reserve file; whether it is spent is the writer's to tell (its
/// storage fault, its metric), so the flag lives in its stats.
#[derive(Debug)]
pub(crate) struct Reserve {
    path: PathBuf,
    stats: Arc<WriterStats>,
}

impl Reserve {
    /// The reserve beside the database at `db` (`cairn.db` → `cairn.reserve`).
    pub(crate) fn beside(db: &Path, stats: Arc<WriterStats>) -> Reserve {
        Reserve {
            path: db.with_extension("reserve"),
            stats,
        }
    }

    /// Makes the reserve file if it is missing. A disk too full for it is
    /// logged, not fatal: the server then runs without a cushion.
    pub(crate) fn ensure(&self) -> bool {
        let whole = std::fs::metadata(&self.path).is_ok_and(|m| m.len() >= RESERVE_BYTES);
        if whole {
            return true;
        }
        match write_zeros(&self.path, RESERVE_BYTES) {
            Ok(()) => true,
            Err(err) => {
                let _ = std::fs::remove_file(&self.path);
                tracing::warn!(
                    path = %self.path.display(),
                    error = %err,
                    "no room for the disk-space reserve: a full disk will leave no space to record its alert"
                );
                false
            }
        }
    }

    /// The disk is full: frees the reserve so that the alert saying so can
    /// be written, and holds every other write back.
    pub(crate) fn release(&self) {
        if self.stats.reserve_spent.swap(true, Ordering::SeqCst) {
            return;
        }
        let freed = std::fs::remove_file(&self.path).is_ok();
        tracing::error!(
            path = %self.path.display(),
            freed_reserve = freed,
            "the disk is full: changes are refused until space returns; the reserve is kept for alerts"
        );
    }

    /// Whether the reserve is spent (writes other than reserved ones are
    /// refused).
    pub(crate) fn in_use(&self) -> bool {
        self.stats.reserve_spent.load(Ordering::SeqCst)
    }

    /// Once the filesystem has room for the reserve twice over, remakes it
    /// and lets every write through again. Whether writes are free now.
    pub(crate) fn try_restore(&self) -> bool {
        if !self.in_use() {
            return true;
        }
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let free = match free_bytes(dir) {
            Ok(free) => free,
            Err(err) => {
                tracing::debug!(error = %err, "cannot read the free space");
                return false;
            }
        };
        if free < 2 * RESERVE_BYTES || !self.ensure() {
            return false;
        }
        self.stats.reserve_spent.store(false, Ordering::SeqCst);
        tracing::warn!(
            free_mib = free >> 20,
            "space returned: the reserve is remade and changes are accepted again"
        );
        true
    }
}

/// Bytes an unprivileged writer may still use on `dir`'s filesystem.
fn free_bytes(dir: &Path) -> std::io::Result<u64> {
    let stat = rustix::fs::statvfs(dir)?;
    Ok(stat.f_bavail.saturating_mul(stat.f_frsize))
}

/// A new file at `path` holding `len` bytes of the disk: allocated at once
/// where the filesystem can (ext4, xfs, tmpfs), else written as zeros. A
/// sparse file would hold nothing back.
fn write_zeros(path: &Path, len: u64) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    match rustix::fs::fallocate(&file, rustix::fs::FallocateFlags::empty(), 0, len) {
        Ok(()) => return file.sync_all(),
        Err(rustix::io::Errno::NOSPC) => {
            return Err(std::io::Error::from(rustix::io::Errno::NOSPC));
        }
        Err(_) => {} // not supported here: write the zeros
    }
    let chunk = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        file.write_all(&chunk[..n])?;
        left -= n as u64;
    }
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn released_it_holds_writes_back_and_restored_it_is_whole_again() {
        let dir = tempfile::tempdir().expect("dir");
        let stats = Arc::new(WriterStats::default());
        let reserve = Reserve::beside(&dir.path().join("cairn.db"), stats.clone());
        assert!(reserve.ensure());
        let file = dir.path().join("cairn.reserve");
        assert_eq!(std::fs::metadata(&file).expect("made").len(), RESERVE_BYTES);
        assert!(!reserve.in_use());

        reserve.release();
        assert!(reserve.in_use());
        assert!(!file.exists(), "its space is freed");
        let fault = stats
            .storage_fault()
            .expect("a spent reserve is a storage fault");
        assert!(fault.starts_with("the disk is full"), "{fault}");
        reserve.release();
        assert!(reserve.in_use(), "releasing twice changes nothing");

        // A temp dir has room for it twice over.
        assert!(reserve.try_restore());
        assert!(!reserve.in_use());
        assert_eq!(stats.storage_fault(), None);
        assert_eq!(
            std::fs::metadata(&file).expect("remade").len(),
            RESERVE_BYTES
        );
    }
}
