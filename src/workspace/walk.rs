//! Directory walks beneath the root for list_directory, find_files and search, on the `ignore` crate.
//!
//! The walk starts from a directory that `Workspace::dir_path` verified beneath the root and never follows
//! symlinks, so it cannot wander out; ignore rules (.gitignore, .ignore, .git/info/exclude, the global excludes)
//! are honoured even outside a git repository, because agents work in unpacked trees too.

use std::path::PathBuf;

use ignore::WalkBuilder;

use super::{Workspace, WorkspacePath};
use crate::error::ToolResult;

#[derive(Debug, Clone, Default)]
pub struct WalkOptions {
    /// Depth below the start directory (1 = its direct entries). None = unlimited.
    pub max_depth: Option<usize>,
    /// Show dot-files. `.git` itself is never shown.
    pub include_hidden: bool,
    /// Show files that ignore rules would hide.
    pub include_ignored: bool,
}

impl Workspace {
    /// A configured walker rooted at `dir`, and the real path it starts from.
    pub fn walker(&self, dir: &WorkspacePath, opts: &WalkOptions) -> ToolResult<(PathBuf, WalkBuilder)> {
        let start = self.dir_path(dir)?;
        let mut b = WalkBuilder::new(&start);
        b.follow_links(false)
            .hidden(!opts.include_hidden)
            .ignore(!opts.include_ignored)
            .git_ignore(!opts.include_ignored)
            .git_global(!opts.include_ignored)
            .git_exclude(!opts.include_ignored)
            .parents(!opts.include_ignored)
            .require_git(false)
            .max_depth(opts.max_depth)
            .filter_entry(|e| e.file_name() != ".git");
        Ok((start, b))
    }
}
