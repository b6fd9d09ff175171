//! A job's output: one stream (stdout and stderr in order of arrival) addressed by absolute byte offsets, kept
//! in anonymous temporary files under a hard cap. Past the cap the oldest half is dropped, so what is kept is
//! always the most recent `cap / 2` to `cap` bytes, and memory stays flat however much a job prints.
//!
//! Two segments: the older (read-only) and the current (appended to). When the current one is full it becomes
//! the older one and a fresh file is started; the file it replaces is closed once no reader holds it, so a
//! snapshot taken for a long read stays consistent while the job keeps writing.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Clone)]
struct Segment {
    file: Arc<File>,
    /// Absolute offset of the segment's first byte.
    start: u64,
    len: u64,
}

impl Segment {
    fn new(dir: &Path, start: u64) -> io::Result<Segment> {
        Ok(Segment { file: Arc::new(tempfile::tempfile_in(dir)?), start, len: 0 })
    }

    fn end(&self) -> u64 {
        self.start + self.len
    }
}

pub struct JobLog {
    dir: PathBuf,
    half: u64,
    older: Option<Segment>,
    current: Segment,
}

/// A consistent view of the kept output, readable without the job's lock.
#[derive(Clone)]
pub struct Snapshot {
    segments: Vec<Segment>,
}

impl JobLog {
    /// A log keeping at most `cap` bytes, in anonymous files under `dir`.
    pub fn new(dir: &Path, cap: u64) -> io::Result<JobLog> {
        Ok(JobLog { dir: dir.to_path_buf(), half: (cap / 2).max(1), older: None, current: Segment::new(dir, 0)? })
    }

    pub fn append(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            if self.current.len >= self.half {
                let fresh = Segment::new(&self.dir, self.current.end())?;
                self.older = Some(std::mem::replace(&mut self.current, fresh));
            }
            let room = (self.half - self.current.len) as usize;
            let n = room.min(bytes.len());
            self.current.file.write_all_at(&bytes[..n], self.current.len)?;
            self.current.len += n as u64;
            bytes = &bytes[n..];
        }
        Ok(())
    }

    /// Offset just past the last byte written: every byte the job ever printed.
    pub fn end(&self) -> u64 {
        self.current.end()
    }

    /// Offset of the first byte still kept; everything before it was dropped.
    pub fn start(&self) -> u64 {
        self.older.as_ref().map_or(self.current.start, |s| s.start)
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot { segments: self.older.iter().chain(std::iter::once(&self.current)).cloned().collect() }
    }
}

impl Snapshot {
    pub fn start(&self) -> u64 {
        self.segments.first().map_or(0, |s| s.start)
    }

    pub fn end(&self) -> u64 {
        self.segments.last().map_or(0, Segment::end)
    }

    /// Up to `max` bytes from `from` (clamped to what is kept).
    pub fn read(&self, from: u64, max: usize) -> io::Result<Vec<u8>> {
        let from = from.clamp(self.start(), self.end());
        let want = ((self.end() - from) as usize).min(max);
        let mut out = vec![0u8; want];
        let mut filled = 0;
        for seg in &self.segments {
            let at = from + filled as u64;
            if filled == want {
                break;
            }
            if at < seg.start || at >= seg.end() {
                continue;
            }
            let n = ((seg.end() - at) as usize).min(want - filled);
            seg.file.read_exact_at(&mut out[filled..filled + n], at - seg.start)?;
            filled += n;
        }
        out.truncate(filled);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_most_recent_bytes_under_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = JobLog::new(dir.path(), 100).unwrap();
        let all: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
        for chunk in all.chunks(7) {
            log.append(chunk).unwrap();
        }
        assert_eq!(log.end(), 1000);
        let kept = log.end() - log.start();
        assert!((50..=100).contains(&kept), "kept {kept} bytes");
        let snap = log.snapshot();
        let bytes = snap.read(0, usize::MAX).unwrap();
        assert_eq!(bytes, &all[log.start() as usize..], "reads from before the start begin at the start");
        assert_eq!(snap.read(990, 5).unwrap(), &all[990..995]);
        assert_eq!(snap.read(5000, 5).unwrap(), Vec::<u8>::new());
    }

    #[test]
    fn a_snapshot_survives_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = JobLog::new(dir.path(), 20).unwrap();
        log.append(b"0123456789").unwrap();
        let snap = log.snapshot();
        log.append(b"abcdefghijklmnopqrstuvwxyz").unwrap();
        assert_eq!(snap.read(0, 100).unwrap(), b"0123456789");
        assert_eq!(log.snapshot().read(0, 100).unwrap(), b"klmnopqrstuvwxyz");
        assert_eq!(log.start(), 20);
    }
}
