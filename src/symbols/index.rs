//! The symbol index: per file, its definitions and the identifiers it uses, kept between calls.
//!
//! An entry is keyed by the file's path relative to the root and stamped with its identity (device, inode, size,
//! modification time) and a hash of its content. Every call hands the index the files it is about to use, with
//! their current stamps: an entry whose stamp differs is re-read (through the reader the caller gives, which goes
//! through `src/workspace`), and re-parsed only when its content hash changed. codebox's own writes replace the
//! file (a new inode), and changes made behind its back change the size or the time, so both are seen on the next
//! call. The index does no I/O of its own and never holds file descriptors.

use std::collections::{HashMap, HashSet};
use std::hash::Hasher;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::Symbols;
use crate::syntax::Lang;

/// What identifies one version of a file without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stamp {
    pub dev: u64,
    pub ino: u64,
    pub len: u64,
    pub mtime_ns: i128,
}

impl Stamp {
    pub fn of(meta: &std::fs::Metadata) -> Stamp {
        use std::os::unix::fs::MetadataExt;
        Stamp {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mtime_ns: meta.mtime() as i128 * 1_000_000_000 + meta.mtime_nsec() as i128,
        }
    }
}

/// After a refresh that read this many files, free heap is returned to the system.
const TRIM_AFTER: usize = 256;

/// A file modified this close to the moment it was read may change again within the same timestamp tick, keeping
/// its stamp: its entry is re-read (and re-parsed only if its content changed) until it is older than this.
const RACY_NS: i128 = 3_000_000_000;

fn now_ns() -> i128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i128)
}

/// Files larger than this are not indexed: they are listed with no symbols. Source files this large are nearly
/// always generated (parser tables, bundles, amalgamations), and parsing them would cost more than the rest.
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// One indexed file.
#[derive(Debug)]
pub struct FileEntry {
    pub stamp: Stamp,
    /// The stamp was too fresh to trust (see `RACY_NS`).
    racy: bool,
    hash: u64,
    pub lang: Lang,
    pub lines: u32,
    pub symbols: Symbols,
    /// The interned name of each symbol, parallel to `symbols`.
    pub def_ids: Vec<u32>,
    /// Identifiers used, interned, sorted by id, with their counts.
    pub refs: Vec<(u32, u32)>,
}

impl FileEntry {
    /// Whether `text` is the text this entry was extracted from (signatures are cut from it).
    pub fn is_text_of(&self, text: &str) -> bool {
        hash(text.as_bytes()) == self.hash
    }

    /// How often the identifier `id` occurs in this file's code.
    pub fn count_of(&self, id: u32) -> u32 {
        self.refs.binary_search_by_key(&id, |r| r.0).map_or(0, |i| self.refs[i].1)
    }
}

/// A file the caller is about to use.
pub struct Candidate {
    pub rel: String,
    pub lang: Lang,
    pub stamp: Stamp,
}

/// The entries for one call, in the order the candidates came.
pub type Snapshot = Vec<(String, Arc<FileEntry>)>;

#[derive(Default)]
pub struct Index {
    state: Mutex<State>,
    parsed: AtomicUsize,
}

#[derive(Default)]
struct State {
    files: HashMap<String, Arc<FileEntry>>,
    /// Every name defined or used, interned once.
    ids: HashMap<Box<str>, u32>,
    /// Bumped whenever an entry changes: derived data (the repository map's ranking) is cached against it.
    generation: u64,
    /// The unfocused ranking of the whole workspace, and the generation it was computed at.
    ranking: Option<(u64, Arc<super::map::Ranking>)>,
}

impl State {
    fn intern(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.ids.len() as u32;
        self.ids.insert(name.into(), id);
        id
    }
}

enum Outcome {
    Same(Stamp, bool),
    /// The entry, and the identifiers it uses (their text end to end, and each one's length and count).
    New(FileEntry, String, Vec<(u32, u32)>),
    Unreadable,
}

fn hash(bytes: &[u8]) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    h.write(bytes);
    h.finish()
}

impl Index {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many files were parsed since start (tests and benchmarks).
    pub fn parsed(&self) -> usize {
        self.parsed.load(Ordering::Relaxed)
    }

    pub fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// The unfocused ranking cached for `generation`, or a new one from `compute`.
    pub fn ranking(&self, generation: u64, compute: impl FnOnce() -> super::map::Ranking) -> Arc<super::map::Ranking> {
        if let Some((g, r)) = &self.lock().ranking
            && *g == generation
        {
            return r.clone();
        }
        let r = Arc::new(compute());
        let mut s = self.lock();
        s.ranking = Some((generation, r.clone()));
        if s.files.len() > TRIM_AFTER {
            // Ranking a large tree builds a graph of millions of edges, dropped once ranked.
            drop(s);
            trim();
        }
        r
    }

    /// The interned id of a name, if any indexed file defines or uses it.
    pub fn id_of(&self, name: &str) -> Option<u32> {
        self.lock().ids.get(name).copied()
    }

    /// (files, symbols, identifier uses, interned names, approximate bytes held).
    pub fn stats(&self) -> (usize, usize, usize, usize, usize) {
        let s = self.lock();
        let mut syms = 0;
        let mut refs = 0;
        let mut bytes = 0;
        for (k, e) in &s.files {
            syms += e.symbols.len();
            refs += e.refs.len();
            bytes += k.len() + std::mem::size_of::<FileEntry>() + e.refs.len() * 8 + e.def_ids.len() * 4;
            bytes += e.symbols.heap_bytes();
        }
        bytes += s.ids.keys().map(|n| n.len() + 40).sum::<usize>();
        (s.files.len(), syms, refs, s.ids.len(), bytes)
    }

    /// Brings the entries of `candidates` up to date and returns them. `read` returns a file's bytes and the stamp
    /// of what it read, or None when the file cannot be read now. Entries under `scope` (a relative directory, ""
    /// for the root) that are not among the candidates are dropped: the file is gone or ignored now.
    pub fn refresh<R>(&self, scope: Option<&str>, candidates: &[Candidate], read: R, cancel: &AtomicBool) -> Snapshot
    where
        R: Fn(&str) -> Option<(Vec<u8>, Stamp)> + Sync,
    {
        let stale: Vec<(usize, Option<Arc<FileEntry>>)> = {
            let s = self.lock();
            candidates
                .iter()
                .enumerate()
                .filter_map(|(i, c)| match s.files.get(&c.rel) {
                    Some(e) if e.stamp == c.stamp && e.lang == c.lang && !e.racy => None,
                    other => Some((i, other.cloned())),
                })
                .collect()
        };
        let work = |&(i, ref old): &(usize, Option<Arc<FileEntry>>)| -> Outcome {
            let c = &candidates[i];
            let Some((bytes, stamp)) = read(&c.rel) else { return Outcome::Unreadable };
            let racy = now_ns() - stamp.mtime_ns < RACY_NS;
            let h = hash(&bytes);
            if let Some(old) = old
                && old.hash == h
                && old.lang == c.lang
            {
                return Outcome::Same(stamp, racy);
            }
            self.parsed.fetch_add(1, Ordering::Relaxed);
            let text = String::from_utf8_lossy(&bytes);
            let e = if bytes.len() as u64 > MAX_FILE_BYTES {
                super::Extracted { lines: super::line_count(&text), ..Default::default() }
            } else {
                super::extract(c.lang, &text)
            };
            // Two allocations per file, not one per identifier: they wait for the last file to be parsed, and are
            // interned on one thread (see below).
            let mut names = String::with_capacity(e.idents.iter().map(|(n, _)| n.len()).sum());
            let mut counts = Vec::with_capacity(e.idents.len());
            for (n, count) in &e.idents {
                names.push_str(n);
                counts.push((n.len() as u32, *count));
            }
            let entry = FileEntry {
                stamp,
                racy,
                hash: h,
                lang: c.lang,
                lines: e.lines,
                symbols: e.symbols,
                def_ids: Vec::new(),
                refs: Vec::new(),
            };
            Outcome::New(entry, names, counts)
        };
        let outcomes = parallel_map(&stale, &work, cancel);

        let mut s = self.lock();
        let mut changed = false;
        for ((i, old), outcome) in stale.iter().zip(outcomes) {
            let rel = &candidates[*i].rel;
            match outcome {
                Some(Outcome::Same(stamp, racy)) => {
                    if let Some(old) = old {
                        let e = FileEntry {
                            stamp,
                            racy,
                            hash: old.hash,
                            lang: old.lang,
                            lines: old.lines,
                            symbols: old.symbols.clone(),
                            def_ids: old.def_ids.clone(),
                            refs: old.refs.clone(),
                        };
                        s.files.insert(rel.clone(), Arc::new(e));
                    }
                }
                Some(Outcome::New(entry, names, counts)) => {
                    // Everything the entry keeps is allocated on this thread: the parsing threads' heaps then hold
                    // only freed trees, which `malloc_trim` gives back, instead of pages pinned by a few records.
                    let def_ids = entry.symbols.iter().map(|sym| s.intern(sym.name)).collect();
                    let mut at = 0;
                    let mut refs: Vec<(u32, u32)> = counts
                        .iter()
                        .map(|&(len, count)| {
                            let name = &names[at..at + len as usize];
                            at += len as usize;
                            (s.intern(name), count)
                        })
                        .collect();
                    refs.sort_unstable();
                    let entry = FileEntry { symbols: entry.symbols.clone(), def_ids, refs, ..entry };
                    s.files.insert(rel.clone(), Arc::new(entry));
                    changed = true;
                }
                Some(Outcome::Unreadable) => {
                    changed |= s.files.remove(rel).is_some();
                }
                None => {}
            }
        }
        if let Some(scope) = scope {
            let wanted: HashSet<&str> = candidates.iter().map(|c| c.rel.as_str()).collect();
            let prefix = if scope.is_empty() { String::new() } else { format!("{}/", scope.trim_end_matches('/')) };
            let before = s.files.len();
            s.files.retain(|k, _| !k.starts_with(&prefix) || wanted.contains(k.as_str()));
            changed |= s.files.len() != before;
        }
        if changed {
            s.generation += 1;
        }
        let parsed_now = stale.len();
        drop(s);
        if parsed_now > TRIM_AFTER {
            trim();
        }
        let s = self.lock();
        candidates.iter().filter_map(|c| s.files.get(&c.rel).map(|e| (c.rel.clone(), e.clone()))).collect()
    }
}

/// Gives freed heap back to the system. Parsing on several threads leaves freed trees in per-thread malloc arenas,
/// and a ranking drops a large graph: without this the process keeps their pages.
fn trim() {
    // SAFETY: malloc_trim only releases free memory; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Runs `f` over `items` on up to `available_parallelism` threads (one batch per call; parsing is CPU-bound).
/// A cancelled run leaves the rest as None.
fn parallel_map<T: Sync, R: Send>(items: &[T], f: &(dyn Fn(&T) -> R + Sync), cancel: &AtomicBool) -> Vec<Option<R>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    if items.len() < 16 || threads == 1 {
        return items.iter().map(|t| if cancel.load(Ordering::Relaxed) { None } else { Some(f(t)) }).collect();
    }
    let next = AtomicUsize::new(0);
    let results: Vec<Mutex<Option<R>>> = items.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= items.len() || cancel.load(Ordering::Relaxed) {
                        break;
                    }
                    let r = f(&items[i]);
                    *results[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
                }
            });
        }
    });
    results.into_iter().map(|m| m.into_inner().unwrap_or_else(|p| p.into_inner())).collect()
}
