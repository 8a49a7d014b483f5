//! The fixed dataset B7 and B9 back up: about `total` bytes of random (so
//! incompressible, and not deduplicated within itself) content, mixed as
//! real hosts are: most bytes in a few large files, most files small (1 to
//! 32 KiB, spread over directories of 100). Made once per run, from a fixed
//! seed, so every backup of it does the same work.

use std::io::Write as _;
use std::path::Path;

use anyhow::Context as _;
use rand::{Rng as _, RngCore as _, SeedableRng as _};

/// The share of the bytes in large files.
const LARGE_SHARE: f64 = 0.75;
/// The size of one large file.
const LARGE_FILE: u64 = 64 << 20;

/// What the dataset holds.
#[derive(Debug, Clone, Copy)]
pub struct Dataset {
    /// Files made.
    pub files: u64,
    /// Bytes in them.
    pub bytes: u64,
}

/// Makes the dataset in `dir` (which must not exist yet).
pub fn make(dir: &Path, total: u64) -> anyhow::Result<Dataset> {
    std::fs::create_dir_all(dir).with_context(|| format!("making {}", dir.display()))?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x0ca1_12b3);
    let mut made = Dataset { files: 0, bytes: 0 };
    let large_bytes = (total as f64 * LARGE_SHARE) as u64;
    let mut buffer = vec![0u8; 1 << 20];
    let large = dir.join("large");
    std::fs::create_dir_all(&large)?;
    while made.bytes < large_bytes {
        let size = LARGE_FILE.min(large_bytes - made.bytes);
        let path = large.join(format!("blob-{:03}.bin", made.files));
        let mut file = std::io::BufWriter::new(
            std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?,
        );
        let mut left = size;
        while left > 0 {
            let n = left.min(buffer.len() as u64) as usize;
            rng.fill_bytes(&mut buffer[..n]);
            file.write_all(&buffer[..n])?;
            left -= n as u64;
        }
        file.flush()?;
        made.files += 1;
        made.bytes += size;
    }
    let mut small = 0u64;
    while made.bytes < total {
        let sub = dir.join(format!("small/{:04}", small / 100));
        if small.is_multiple_of(100) {
            std::fs::create_dir_all(&sub)?;
        }
        let size = rng.random_range(1_024..=32_768).min(total - made.bytes) as usize;
        rng.fill_bytes(&mut buffer[..size]);
        std::fs::write(sub.join(format!("file-{small:06}.dat")), &buffer[..size])?;
        small += 1;
        made.files += 1;
        made.bytes += size as u64;
    }
    Ok(made)
}

/// A human size: `1.0 GiB`, `128 MiB`.
pub fn size(bytes: u64) -> String {
    if bytes >= 1 << 30 {
        format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64)
    } else {
        format!("{} MiB", bytes >> 20)
    }
}
