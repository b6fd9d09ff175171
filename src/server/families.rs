//! Tool families (`[tools] enable` / `disable` in codebox.toml): which family each tool belongs to. A tool in
//! no family (read_output, which every cut result names) is always offered. Adding a tool to a family is one
//! entry in its row.

/// Family name (one of `config::TOOL_FAMILIES`) and its tools.
pub(super) const FAMILIES: &[(&str, &[&str])] = &[
    ("files", &["read_file", "list_directory", "find_files"]),
    // Every tool that writes files is here, edit_symbol included: turning edits off turns off all writes.
    ("edits", &["write_file", "edit_file", "apply_patch", "undo_edit", "edit_symbol"]),
    ("search", &["search"]),
    ("commands", &["run_command"]),
    ("jobs", &["job_start", "job_output", "job_input", "job_stop", "job_list"]),
    ("tests", &["run_tests"]),
    ("git", &["git_status", "git_diff", "git_commit", "git_branch", "workspace_status"]),
    ("symbols", &["outline", "find_symbol", "find_references", "repo_map"]),
];

/// The family of `tool`, or None for a tool that is always offered.
pub(super) fn family_of(tool: &str) -> Option<&'static str> {
    FAMILIES.iter().find(|(_, tools)| tools.contains(&tool)).map(|(f, _)| *f)
}

/// The answer to a call of a tool whose family this server does not offer.
pub(super) fn disabled_message(tool: &str, family: &str) -> String {
    format!(
        "{tool} is not offered on this server: its family \"{family}\" is turned off in codebox.toml's [tools] \
         section. To use it, add \"{family}\" to `enable` (or remove it from `disable`) and restart codebox"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_is_a_configurable_one_and_every_tool_has_one_family() {
        let names: Vec<&str> = FAMILIES.iter().map(|(f, _)| *f).collect();
        assert_eq!(names, crate::config::TOOL_FAMILIES);
        for t in super::super::CodeboxServer::tool_list() {
            let n = t.name.as_ref();
            let count = FAMILIES.iter().filter(|(_, ts)| ts.contains(&n)).count();
            assert_eq!(count, usize::from(n != "read_output"), "{n} must be in exactly one family");
        }
    }
}
