//! Small helpers the catalog and the scan share: the clock in epoch seconds and the quick
//! content hash that recognises files. (Opening databases and migrations live in
//! [`crate::sql`].)

use std::path::Path;

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A quick content hash of a file: `"q2:<size>:<hash>"`, an FNV-1a hash of three 16 KiB
/// windows (start, middle, end) and the size. It reads at most 48 KiB however big the file is
/// (a first scan of a library on a NAS pays for every byte and every seek), and it does not
/// depend on the modification time, so a file touched without a content change keeps its
/// fingerprint. Fingerprints recorded by earlier versions (three 64 KiB windows, no prefix)
/// are still recognised: see [`content_hash_as`].
pub fn content_hash(path: &Path) -> std::io::Result<String> {
    let (len, hash) = hash_windows(path, WINDOW)?;
    Ok(format!("{FINGERPRINT_V2}{len}:{hash:016x}"))
}

/// The content hash of `path` computed the way `like` (a recorded fingerprint) was: the
/// current form, or the first version's 64 KiB windows for fingerprints without a prefix, so
/// files scanned (and promotions journalled) before an upgrade are still recognised.
pub fn content_hash_as(path: &Path, like: &str) -> std::io::Result<String> {
    if like.starts_with(FINGERPRINT_V2) || like.is_empty() {
        return content_hash(path);
    }
    let (len, hash) = hash_windows(path, WINDOW_V1)?;
    Ok(format!("{len}:{hash:016x}"))
}

const FINGERPRINT_V2: &str = "q2:";

/// Whether a recorded fingerprint is in the current form (see [`content_hash`]).
pub fn is_current_fingerprint(fingerprint: &str) -> bool {
    fingerprint.starts_with(FINGERPRINT_V2)
}
const WINDOW: usize = 16 * 1024;
const WINDOW_V1: usize = 64 * 1024;

fn hash_windows(path: &Path, window: usize) -> std::io::Result<(u64, u64)> {
    use std::io::{Seek, SeekFrom};
    let mut f = std::fs::File::open(path)?;
    // Three small reads far apart: without this the kernel reads ahead 128 KiB or more after
    // each, which is most of what a cold first scan would pay for the fingerprint.
    #[cfg(target_os = "linux")]
    let _ = rustix::fs::fadvise(&f, 0, None, rustix::fs::Advice::Random);
    let len = f.metadata()?.len();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut buf = vec![0u8; window];
    for offset in [0, len / 2, len.saturating_sub(buf.len() as u64)] {
        f.seek(SeekFrom::Start(offset))?;
        let filled = read_full(&mut f, &mut buf)?;
        for b in &buf[..filled] {
            hash ^= u64::from(*b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    Ok((len, hash))
}

/// Whether two files hold the same bytes (full comparison), used to prove a copy before the
/// original is deleted.
pub fn same_content(a: &Path, b: &Path) -> std::io::Result<bool> {
    let (mut fa, mut fb) = (std::fs::File::open(a)?, std::fs::File::open(b)?);
    if fa.metadata()?.len() != fb.metadata()?.len() {
        return Ok(false);
    }
    let (mut ba, mut bb) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    loop {
        let na = read_full(&mut fa, &mut ba)?;
        let nb = read_full(&mut fb, &mut bb)?;
        if na != nb || ba[..na] != bb[..nb] {
            return Ok(false);
        }
        if na == 0 {
            return Ok(true);
        }
    }
}

fn read_full(f: &mut impl std::io::Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        let n = f.read(&mut buf[filled..])?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_hash_reads_three_16_kib_windows_only() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let mut bytes = vec![7u8; 1 << 20];
        std::fs::write(&p, &bytes).unwrap();
        let a = content_hash(&p).unwrap();
        // Bytes just past each window (which the 64 KiB windows of the first version read)
        // do not count; bytes inside them do.
        for at in [20_000usize, (1 << 19) + 20_000, (1 << 20) - 20_000] {
            bytes[at] = 8;
        }
        std::fs::write(&p, &bytes).unwrap();
        assert_eq!(content_hash(&p).unwrap(), a);
        for at in [100usize, (1 << 19) + 100, (1 << 20) - 100] {
            let mut edited = bytes.clone();
            edited[at] = 9;
            std::fs::write(&p, &edited).unwrap();
            assert_ne!(content_hash(&p).unwrap(), a, "edit at {at}");
        }
    }

    #[test]
    fn content_hash_ignores_mtime_and_sees_edits() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, vec![1u8; 300_000]).unwrap();
        let a = content_hash(&p).unwrap();
        std::fs::File::options()
            .write(true)
            .open(&p)
            .unwrap()
            .set_modified(std::time::SystemTime::UNIX_EPOCH)
            .unwrap();
        assert_eq!(content_hash(&p).unwrap(), a);
        let mut bytes = vec![1u8; 300_000];
        bytes[150_000] = 2;
        std::fs::write(&p, &bytes).unwrap();
        assert_ne!(content_hash(&p).unwrap(), a);
        let q = dir.path().join("g");
        std::fs::write(&q, &bytes).unwrap();
        assert!(same_content(&p, &q).unwrap());
        // A first-version fingerprint (64 KiB windows, no prefix) is recomputed its own way.
        let now = content_hash(&p).unwrap();
        assert!(now.starts_with("q2:300000:"), "{now}");
        let v1 = content_hash_as(&p, "300000:0123456789abcdef").unwrap();
        assert!(v1.starts_with("300000:") && v1 != now, "{v1}");
        assert_eq!(content_hash_as(&p, &now).unwrap(), now);
        std::fs::write(&q, vec![1u8; 300_000]).unwrap();
        assert!(!same_content(&p, &q).unwrap());
    }
}
