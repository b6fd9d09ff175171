//! Compact unified diffs: what write_file, edit_file, apply_patch and undo_edit show of a change.
//!
//! Pure: text in, text out. The common prefix and suffix of lines are trimmed before an LCS on the rest, and a
//! change too large for the LCS table is summarised in one hunk instead.

/// Lines of context around each change in [`unified_diff`].
const CONTEXT: usize = 3;
/// Largest LCS table (old × new changed lines) the diff will build; beyond it the diff is summarised.
const DIFF_CELL_LIMIT: usize = 4_000_000;

#[derive(Clone, Copy)]
enum OpKind {
    Same,
    Delete,
    Insert,
}

/// One diff line: `old`/`new` are the indices of the current line on each side (for an insert, `old` is the next
/// old line, and vice versa), which is what hunk headers need.
#[derive(Clone, Copy)]
struct Op {
    kind: OpKind,
    old: usize,
    new: usize,
}

/// A compact unified diff (3 lines of context, `@@ -a,b +c,d @@` headers) of `old` → `new`; empty when they are
/// equal. The common prefix and suffix are trimmed before an LCS on the rest, so a small edit to a large file is
/// cheap; when the changed middle is too large for that, a one-hunk summary replaces the line-by-line body.
pub(crate) fn unified_diff(path: &str, old: &str, new: &str) -> String {
    unified_diff_with_context(path, old, new, CONTEXT)
}

/// `unified_diff` with `context` lines around each change: edit_file shows 1 after an exact match, where the
/// model already knows the text it replaced.
pub(crate) fn unified_diff_with_context(path: &str, old: &str, new: &str, context: usize) -> String {
    if old == new {
        return String::new();
    }
    let a: Vec<&str> = old.split_inclusive('\n').collect();
    let b: Vec<&str> = new.split_inclusive('\n').collect();
    let mut prefix = 0;
    while prefix < a.len() && prefix < b.len() && a[prefix] == b[prefix] {
        prefix += 1;
    }
    let mut suffix = 0;
    while suffix < a.len() - prefix && suffix < b.len() - prefix && a[a.len() - 1 - suffix] == b[b.len() - 1 - suffix] {
        suffix += 1;
    }
    let (am, bm) = (&a[prefix..a.len() - suffix], &b[prefix..b.len() - suffix]);
    let mut out = format!("--- a/{path}\n+++ b/{path}\n");
    if am.len().saturating_mul(bm.len()) > DIFF_CELL_LIMIT {
        let start = |count: usize| if count > 0 { prefix + 1 } else { prefix };
        out += &format!(
            "@@ -{},{} +{},{} @@\n(diff too large to show: {} lines replaced by {} lines)\n",
            start(am.len()),
            am.len(),
            start(bm.len()),
            bm.len(),
            am.len(),
            bm.len()
        );
        return out;
    }

    let mut ops: Vec<Op> = (0..prefix).map(|i| Op { kind: OpKind::Same, old: i, new: i }).collect();
    lcs_ops(am, bm, prefix, &mut ops);
    ops.extend((0..suffix).map(|k| Op { kind: OpKind::Same, old: a.len() - suffix + k, new: b.len() - suffix + k }));

    let changes: Vec<usize> =
        ops.iter().enumerate().filter(|(_, op)| !matches!(op.kind, OpKind::Same)).map(|(k, _)| k).collect();
    let mut k = 0;
    while k < changes.len() {
        let mut last = changes[k];
        let mut j = k + 1;
        // Hunks whose contexts would touch or overlap are merged, as diff(1) does.
        while j < changes.len() && changes[j] - last <= 2 * context + 1 {
            last = changes[j];
            j += 1;
        }
        let lo = changes[k].saturating_sub(context);
        let hi = (last + context + 1).min(ops.len());
        let hunk = &ops[lo..hi];
        let old_count = hunk.iter().filter(|op| !matches!(op.kind, OpKind::Insert)).count();
        let new_count = hunk.iter().filter(|op| !matches!(op.kind, OpKind::Delete)).count();
        let header_start = |first: usize, count: usize| if count > 0 { first + 1 } else { first };
        out += &format!(
            "@@ -{},{old_count} +{},{new_count} @@\n",
            header_start(hunk[0].old, old_count),
            header_start(hunk[0].new, new_count)
        );
        for op in hunk {
            match op.kind {
                OpKind::Same => push_diff_line(&mut out, ' ', a[op.old]),
                OpKind::Delete => push_diff_line(&mut out, '-', a[op.old]),
                OpKind::Insert => push_diff_line(&mut out, '+', b[op.new]),
            }
        }
        k = j;
    }
    out
}

/// Appends the edit script of `a` → `b` (the changed middles, which start at line `offset` on both sides).
fn lcs_ops(a: &[&str], b: &[&str], offset: usize, ops: &mut Vec<Op>) {
    let (n, m) = (a.len(), b.len());
    let w = m + 1;
    // table[i * w + j] is the LCS length of a[i..] and b[j..]; the caller's cell limit keeps it within u16.
    let mut table = vec![0u16; (n + 1) * w];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            table[i * w + j] = if a[i] == b[j] {
                table[(i + 1) * w + j + 1].saturating_add(1)
            } else {
                table[(i + 1) * w + j].max(table[i * w + j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        let kind = if i < n && j < m && a[i] == b[j] {
            OpKind::Same
        } else if i < n && (j == m || table[(i + 1) * w + j] >= table[i * w + j + 1]) {
            OpKind::Delete
        } else {
            OpKind::Insert
        };
        ops.push(Op { kind, old: offset + i, new: offset + j });
        match kind {
            OpKind::Same => (i, j) = (i + 1, j + 1),
            OpKind::Delete => i += 1,
            OpKind::Insert => j += 1,
        }
    }
}

fn push_diff_line(out: &mut String, marker: char, line: &str) {
    out.push(marker);
    match line.strip_suffix('\n') {
        Some(content) => {
            out.push_str(content.strip_suffix('\r').unwrap_or(content));
            out.push('\n');
        }
        None => {
            out.push_str(line);
            out.push_str("\n\\ No newline at end of file\n");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unified_diff_small_example() {
        let old = "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\nk\nl\n";
        let new = "a\nb\nc\nD\ne\nf\ng\nh\ni\nj\nk\nl\nm";
        assert_eq!(
            unified_diff("src/x.rs", old, new),
            "--- a/src/x.rs\n+++ b/src/x.rs\n@@ -1,7 +1,7 @@\n a\n b\n c\n-d\n+D\n e\n f\n g\n\
             @@ -10,3 +10,4 @@\n j\n k\n l\n+m\n\\ No newline at end of file\n"
        );
        assert_eq!(unified_diff("x", "same\n", "same\n"), "");
        assert_eq!(unified_diff("x", "", "new\n"), "--- a/x\n+++ b/x\n@@ -0,0 +1,1 @@\n+new\n");
        assert_eq!(unified_diff("x", "a\r\nb\r\n", "a\r\nc\r\n"), "--- a/x\n+++ b/x\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n");
    }

    #[test]
    fn unified_diff_summarises_huge_rewrites() {
        let old: String = (0..3000).map(|i| format!("old {i}\n")).collect();
        let new: String = (0..3000).map(|i| format!("new {i}\n")).collect();
        assert_eq!(
            unified_diff("big", &old, &new),
            "--- a/big\n+++ b/big\n@@ -1,3000 +1,3000 @@\n(diff too large to show: 3000 lines replaced by 3000 lines)\n"
        );
    }
}
