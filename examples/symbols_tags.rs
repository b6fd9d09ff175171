//! Prints the definitions codebox's symbol index finds in the files named on stdin (one path a line), as
//! `path<TAB>line<TAB>kind<TAB>name`, the line being the name's. scripts/measure/symbols_accuracy.py compares this
//! with universal-ctags on the same files.
//!
//! Run with: `find DIR -name '*.rs' | cargo run --release --example symbols_tags > tags.tsv`

use std::io::{BufRead, Write};
use std::sync::Mutex;

use codebox::engine as symbols;
use codebox::engine::Lang;

fn main() {
    let files: Vec<String> = std::io::stdin().lock().lines().map_while(Result::ok).filter(|l| !l.is_empty()).collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let out = Mutex::new(std::io::BufWriter::new(std::io::stdout()));
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(path) = files.get(i) else { break };
                    let Ok(bytes) = std::fs::read(path) else { continue };
                    if bytes.len() as u64 > symbols::index::MAX_FILE_BYTES {
                        continue;
                    }
                    let text = String::from_utf8_lossy(&bytes);
                    let Some(lang) = Lang::detect(path, &text) else { continue };
                    // SYMBOLS_PARSE_ONLY=1 parses and stops: the share of the time that is tree-sitter's own.
                    if std::env::var_os("SYMBOLS_PARSE_ONLY").is_some() {
                        let _ = codebox::engine::parse_tree(lang, &text, None);
                        continue;
                    }
                    let e = symbols::extract(lang, &text);
                    let mut buf = String::new();
                    for s in e.symbols.iter() {
                        buf.push_str(&format!("{path}\t{}\t{}\t{}\n", s.name_line, s.kind, s.name));
                    }
                    let _ = out.lock().unwrap().write_all(buf.as_bytes());
                }
            });
        }
    });
}
