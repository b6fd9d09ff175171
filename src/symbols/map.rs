//! The repository map (aider's idea): files are nodes, an identifier used in one file and defined in another is a
//! weighted edge, personalised PageRank ranks the files, each file's rank flows along its edges to the definitions
//! it uses, and the best-ranked definitions are rendered as signatures until a character budget is spent.
//!
//! Pure: a snapshot of the index in, text out.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use super::index::Snapshot;
use super::{Symbol, is_map_kind};

/// Whether a definition belongs on the map: code, not data; a constant only when it is named like one; a module
/// only with a body (Rust's `mod x;` declares, it does not define).
fn on_map(s: &Symbol<'_>) -> bool {
    match s.kind {
        "constant" => s.name.len() > 1 && !s.name.chars().any(|c| c.is_lowercase()),
        "module" => s.end_line > s.start_line && !matches!(s.name, "test" | "tests"),
        k => is_map_kind(k),
    }
}

/// An identifier defined in more files than this carries no signal (`new`, `get`, `run`): it makes no edges.
const MAX_DEFINERS: usize = 24;
const DAMPING: f64 = 0.85;
/// A ranking keeps this many definitions: twenty times what the largest map (100,000 characters) shows, so a
/// cached ranking of a large tree stays small.
const MAX_RANKED: usize = 50_000;
const ITERATIONS: usize = 40;

/// What the map leans towards: files (by index in the snapshot) and identifiers (by interned id).
#[derive(Default)]
pub(crate) struct Focus {
    pub files: HashSet<usize>,
    pub names: HashSet<u32>,
}

/// Each definition's score, best first: (score, file, symbol).
pub struct Ranking {
    /// The best `MAX_RANKED` of them: more than the largest budget can show.
    pub defs: Vec<(f64, u32, u32)>,
    /// How many definitions were ranked.
    pub total: usize,
}

pub(crate) fn rank(snap: &Snapshot, focus: &Focus) -> Ranking {
    let n = snap.len();
    // Who defines each name (files listed once), and one spelling of it for the weights.
    let mut definers: HashMap<u32, (Vec<usize>, &str)> = HashMap::new();
    for (f, (_, e)) in snap.iter().enumerate() {
        for (s, id) in e.symbols.iter().zip(&e.def_ids) {
            if !on_map(&s) {
                continue;
            }
            let d = definers.entry(*id).or_insert_with(|| (Vec::new(), s.name));
            if d.0.last() != Some(&f) {
                d.0.push(f);
            }
        }
    }
    // Edges (from, to, name, weight), grouped by `from` because they are built file by file.
    let mut edges: Vec<(u32, u32, u32, f32)> = Vec::new();
    let mut out_weight = vec![0f64; n];
    for (r, (_, e)) in snap.iter().enumerate() {
        for &(id, count) in &e.refs {
            let Some((ds, name)) = definers.get(&id) else { continue };
            if ds.len() > MAX_DEFINERS || (ds.len() == 1 && ds[0] == r) {
                continue;
            }
            let mut mul = 1.0f64;
            if focus.names.contains(&id) {
                mul *= 10.0;
            }
            let long = name.len() >= 8 && (name.contains('_') || name.chars().skip(1).any(|c| c.is_uppercase()));
            if long {
                mul *= 10.0;
            }
            if name.starts_with('_') {
                mul *= 0.1;
            }
            if ds.len() > 5 {
                mul *= 0.1;
            }
            // Every identifier counts as a use, local variables too: a short name (`len`, `run`, `new`) is more
            // often something else of the same name than a use of this definition.
            if name.len() <= 4 {
                mul *= 0.2;
            }
            let w = mul * (count as f64).sqrt() / ds.len() as f64;
            for &d in ds {
                if d != r {
                    edges.push((r as u32, d as u32, id, w as f32));
                    out_weight[r] += w;
                }
            }
        }
    }
    // Personalisation: the focus files, or every file alike.
    let mut personal = vec![0f64; n];
    let focused: Vec<usize> = focus.files.iter().copied().filter(|&f| f < n).collect();
    if focused.is_empty() {
        personal.iter_mut().for_each(|p| *p = 1.0 / n.max(1) as f64);
    } else {
        for &f in &focused {
            personal[f] = 1.0 / focused.len() as f64;
        }
    }
    // The walk only needs how much each file links to each other one: the names of the links are summed away
    // (a large tree has tens of millions of named edges and a few million links between files).
    let mut links: Vec<(u32, u32, f64)> = Vec::new();
    let mut row: HashMap<u32, f64> = HashMap::new();
    for group in edges.chunk_by(|a, b| a.0 == b.0) {
        row.clear();
        for &(_, d, _, w) in group {
            *row.entry(d).or_default() += w as f64;
        }
        let mut sorted: Vec<(u32, f64)> = row.iter().map(|(d, w)| (*d, *w)).collect();
        sorted.sort_unstable_by_key(|l| l.0);
        links.extend(sorted.into_iter().map(|(d, w)| (group[0].0, d, w)));
    }
    let mut pr = personal.clone();
    let mut share = vec![0f64; n];
    for _ in 0..ITERATIONS {
        let mut next = vec![0f64; n];
        let mut dangling = 0f64;
        for (f, w) in out_weight.iter().enumerate() {
            if *w == 0.0 {
                dangling += pr[f];
            } else {
                share[f] = DAMPING * pr[f] / w;
            }
        }
        for &(r, d, w) in &links {
            next[d as usize] += share[r as usize] * w;
        }
        let teleport = (1.0 - DAMPING) + DAMPING * dangling;
        let mut delta = 0f64;
        for f in 0..n {
            next[f] += teleport * personal[f];
            delta += (next[f] - pr[f]).abs();
        }
        pr = next;
        if delta < 1e-9 {
            break;
        }
    }
    // Each file's rank flows to the definitions it uses, in proportion to the edge weights.
    let mut def_score: HashMap<(u32, u32), f64> = HashMap::new();
    for &(r, d, id, w) in &edges {
        *def_score.entry((d, id)).or_default() += pr[r as usize] * w as f64 / out_weight[r as usize];
    }
    let mut defs = Vec::new();
    for (f, (rel, e)) in snap.iter().enumerate() {
        // Tests use the code; they are rarely what a map of it should show.
        let test_file = super::is_test_path(rel);
        // A focus file's own definitions come before unused ones elsewhere, but after what the focus uses.
        let own = if focus.files.contains(&f) { 0.1 } else { 1e-3 };
        for (s, (sym, id)) in e.symbols.iter().zip(&e.def_ids).enumerate() {
            if !on_map(&sym) {
                continue;
            }
            let mut score = def_score.get(&(f as u32, *id)).copied().unwrap_or(0.0) + pr[f] * own;
            if focus.names.contains(id) {
                score += 1.0;
            }
            // Top-level definitions first among equals: a file's shape before its details.
            score *= 1.0 / (1.0 + sym.depth as f64 * 0.1);
            // Types are the skeleton of a map; an impl block shares its type's name, the type itself first.
            match sym.kind {
                "class" | "struct" | "enum" | "trait" | "interface" | "union" | "type" | "object" if sym.depth == 0 => {
                    score *= 2.0
                }
                "impl" => score *= 0.5,
                _ => {}
            }
            if test_file || super::containers(&e.symbols, s).iter().any(|c| matches!(*c, "test" | "tests")) {
                score *= 0.1;
            }
            defs.push((score, f as u32, s as u32));
        }
    }
    defs.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    let total = defs.len();
    defs.truncate(MAX_RANKED);
    defs.shrink_to_fit();
    Ranking { defs, total }
}

/// Renders the best definitions, grouped by file, within `max_chars`. Returns the text and how many files and
/// definitions it shows. `text_of(f)` is the current text of the snapshot's file `f` (signatures are cut from it;
/// asked once per file, for the files the budget reaches).
pub(crate) fn render(
    snap: &Snapshot,
    ranking: &Ranking,
    max_chars: usize,
    text_of: impl Fn(usize) -> Option<String>,
) -> (String, usize, usize) {
    let texts: std::cell::RefCell<HashMap<usize, Option<String>>> = Default::default();
    let line_of = |f: usize, s: usize| {
        let sym = snap[f].1.symbols.get(s);
        let mut texts = texts.borrow_mut();
        let text = texts.entry(f).or_insert_with(|| text_of(f).filter(|t| snap[f].1.is_text_of(t)));
        let signature = text.as_deref().map_or_else(|| format!("{} {}", sym.kind, sym.name), |t| sym.signature(t));
        format!("{}{}: {}\n", "  ".repeat(sym.depth as usize + 1), sym.start_line, signature)
    };
    let mut chosen: HashMap<usize, Vec<usize>> = HashMap::new();
    let mut file_order: Vec<usize> = Vec::new();
    let mut used = 0usize;
    let mut misses = 0;
    for &(_, f, s) in &ranking.defs {
        let (f, s) = (f as usize, s as usize);
        let picked = chosen.get(&f);
        if picked.is_some_and(|p| p.contains(&s)) {
            continue;
        }
        // The symbol and whichever of its containers are not shown yet.
        let syms = &snap[f].1.symbols;
        let mut add = vec![s];
        let mut p = syms.get(s).parent;
        while let Some(j) = p {
            if picked.is_none_or(|v| !v.contains(&(j as usize))) {
                add.push(j as usize);
            }
            p = syms.get(j as usize).parent;
        }
        let mut cost: usize = add.iter().map(|&k| line_of(f, k).len()).sum();
        if picked.is_none() {
            cost += snap[f].0.len() + 1;
        }
        if used + cost > max_chars {
            misses += 1;
            if misses > 50 {
                break;
            }
            continue;
        }
        used += cost;
        if picked.is_none() {
            file_order.push(f);
        }
        chosen.entry(f).or_default().extend(add);
    }
    let mut out = String::new();
    let mut shown = 0;
    for f in &file_order {
        let mut syms = chosen.remove(f).unwrap_or_default();
        syms.sort_unstable();
        syms.dedup();
        shown += syms.len();
        let _ = writeln!(out, "{}", snap[*f].0);
        for s in syms {
            out.push_str(&line_of(*f, s));
        }
    }
    (out, file_order.len(), shown)
}
