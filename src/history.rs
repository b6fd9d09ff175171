//! Undo history: the content a file had before each write codebox made, newest last, kept outside the workspace
//! in the user's state directory so it survives a restart. Bounded per file (versions and bytes).

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// The `after_version` of a write that removed the file (apply_patch's Delete File and Move to).
pub(crate) const DELETED: &str = "(deleted)";
/// Versions kept per file; older ones are dropped.
pub(crate) const MAX_VERSIONS: usize = 20;
/// A previous content larger than this is not kept (its undo step says so).
const MAX_BYTES: usize = 16 << 20;

pub struct History {
    dir: PathBuf,
    lock: Mutex<()>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Entry {
    /// The file did not exist before the write: undo removes it.
    pub existed: bool,
    pub mode: u32,
    /// The version codebox's write produced: undo refuses if the file has changed since.
    pub after_version: String,
    /// The previous content was too large to keep.
    pub too_large: bool,
    /// Set when the write was one of several made by one call (apply_patch): undo restores them together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<Group>,
    #[serde(skip)]
    pub before: Vec<u8>,
}

/// The writes of one multi-file call: an id shared by their entries, and every path it wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    pub id: String,
    pub paths: Vec<PathBuf>,
}

impl Group {
    /// A group for `paths`, with an id no other group of this history shares.
    pub fn new(paths: Vec<PathBuf>) -> Group {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Group { id: format!("{nanos:x}-{}-{n}", std::process::id()), paths }
    }
}

/// A directory name for a path that every build of codebox computes the same: FNV-1a of its bytes. (std's
/// `DefaultHasher` may change between Rust releases: a codebox built with another toolchain would lose track of
/// what an earlier one stored under its names.)
pub(crate) fn stable_key(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in path.as_os_str().as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// The name earlier versions used, std's hasher of the `Path`: found once and renamed to `stable_key`'s.
fn legacy_key(path: &Path) -> String {
    let mut h = std::hash::DefaultHasher::new();
    path.hash(&mut h);
    format!("{:016x}", h.finish())
}

/// `parent/stable_key(path)`, after moving a directory an earlier version made under its legacy name there.
fn keyed_dir(parent: &Path, path: &Path) -> PathBuf {
    let dir = parent.join(stable_key(path));
    if !dir.exists() {
        let legacy = parent.join(legacy_key(path));
        if legacy.is_dir() {
            let _ = std::fs::rename(&legacy, &dir);
        }
    }
    dir
}

impl History {
    /// The history of the workspace at `root`: `$XDG_STATE_HOME/codebox/undo/<root hash>`, or under
    /// `~/.local/state`, or the temporary directory when neither exists.
    pub fn open(root: &Path) -> History {
        let base = std::env::var_os("XDG_STATE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
            .unwrap_or_else(std::env::temp_dir);
        History { dir: keyed_dir(&base.join("codebox/undo"), root), lock: Mutex::new(()) }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn file_dir(&self, rel: &Path) -> PathBuf {
        keyed_dir(&self.dir, rel)
    }

    fn versions(dir: &Path) -> Vec<u64> {
        let mut v: Vec<u64> = std::fs::read_dir(dir)
            .map(|rd| {
                rd.flatten().filter_map(|e| e.file_name().to_str()?.strip_suffix(".json")?.parse().ok()).collect()
            })
            .unwrap_or_default();
        v.sort_unstable();
        v
    }

    /// Records what `rel` held before a write (None: it did not exist).
    pub fn record(&self, rel: &Path, before: Option<(&[u8], u32)>, after_version: &str) -> std::io::Result<()> {
        self.record_in_group(rel, before, after_version, None)
    }

    /// `record` for one write of a multi-file call; `after_version` is `DELETED` for a file the call removed.
    pub fn record_in_group(
        &self,
        rel: &Path,
        before: Option<(&[u8], u32)>,
        after_version: &str,
        group: Option<&Group>,
    ) -> std::io::Result<()> {
        let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let dir = self.file_dir(rel);
        std::fs::create_dir_all(&dir)?;
        let versions = Self::versions(&dir);
        let next = versions.last().map(|v| v + 1).unwrap_or(1);
        let too_large = before.is_some_and(|(b, _)| b.len() > MAX_BYTES);
        let entry = Entry {
            existed: before.is_some(),
            mode: before.map(|(_, m)| m).unwrap_or(0),
            after_version: after_version.to_string(),
            too_large,
            group: group.cloned(),
            before: Vec::new(),
        };
        if let Some((bytes, _)) = before
            && !too_large
        {
            std::fs::write(dir.join(format!("{next:08}.bin")), bytes)?;
        }
        std::fs::write(
            dir.join(format!("{next:08}.json")),
            serde_json::to_vec(&entry).map_err(std::io::Error::other)?,
        )?;
        for old in versions.iter().take((versions.len() + 1).saturating_sub(MAX_VERSIONS)) {
            let _ = std::fs::remove_file(dir.join(format!("{old:08}.json")));
            let _ = std::fs::remove_file(dir.join(format!("{old:08}.bin")));
        }
        Ok(())
    }

    /// The newest entry for `rel` and how many remain behind it, without removing it.
    pub fn peek(&self, rel: &Path) -> std::io::Result<Option<(Entry, usize)>> {
        let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let dir = self.file_dir(rel);
        let versions = Self::versions(&dir);
        let Some(last) = versions.last() else { return Ok(None) };
        let mut entry: Entry = serde_json::from_slice(&std::fs::read(dir.join(format!("{last:08}.json")))?)
            .map_err(std::io::Error::other)?;
        if entry.existed && !entry.too_large {
            entry.before = std::fs::read(dir.join(format!("{last:08}.bin")))?;
        }
        Ok(Some((entry, versions.len() - 1)))
    }

    /// Drops the newest entry for `rel` (after it was applied).
    pub fn pop(&self, rel: &Path) -> std::io::Result<()> {
        let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let dir = self.file_dir(rel);
        if let Some(last) = Self::versions(&dir).last() {
            std::fs::remove_file(dir.join(format!("{last:08}.json")))?;
            let _ = std::fs::remove_file(dir.join(format!("{last:08}.bin")));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_pops_and_bounds_versions() {
        let state = tempfile::tempdir().unwrap();
        let h = History { dir: state.path().join("h"), lock: Mutex::new(()) };
        let rel = Path::new("src/a.rs");
        h.record(rel, None, "v1").unwrap();
        for i in 0..30 {
            h.record(rel, Some((format!("content {i}").as_bytes(), 0o644)), &format!("v{}", i + 2)).unwrap();
        }
        let (e, behind) = h.peek(rel).unwrap().unwrap();
        assert_eq!(
            (e.before.as_slice(), e.after_version.as_str(), behind),
            (b"content 29".as_slice(), "v31", MAX_VERSIONS - 1)
        );
        h.pop(rel).unwrap();
        assert_eq!(h.peek(rel).unwrap().unwrap().0.before, b"content 28");
        assert!(h.peek(Path::new("other")).unwrap().is_none());
        // A history an earlier version wrote under std's hasher's names is found (and renamed) by this one.
        let legacy_root = state.path().join(legacy_key(Path::new("/proj")));
        let old = History { dir: legacy_root.clone(), lock: Mutex::new(()) };
        old.record(rel, Some((b"old content".as_slice(), 0o644)), "v9").unwrap();
        std::fs::rename(legacy_root.join(stable_key(rel)), legacy_root.join(legacy_key(rel))).unwrap();
        let now = History { dir: keyed_dir(state.path(), Path::new("/proj")), lock: Mutex::new(()) };
        assert_eq!(now.dir, state.path().join(stable_key(Path::new("/proj"))));
        assert_eq!(now.peek(rel).unwrap().unwrap().0.before, b"old content");
    }
}
