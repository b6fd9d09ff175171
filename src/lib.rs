//! codebox: an MCP server that gives AI coding agents a safe, precise and economical workbench.
//!
//! Modules in reading order. Each owns one responsibility; ARCHITECTURE.md draws the borders:
//! only `server` knows MCP types, only `workspace` turns paths the model sent into open files, only `sandbox`
//! starts programs. Everything is crate-private but the two facades at the end, so rustc reports what nothing uses.

pub mod config;
mod diff;
mod doctor;
mod edits;
mod error;
mod history;
mod jobs;
mod output;
mod patch;
mod proxy;
mod random;
mod sandbox;
mod search;
mod server;
mod session;
mod spill;
mod symbols;
mod syntax;
mod testparse;
mod testrun;
mod tools;
mod workspace;
pub mod workspaces;

/// What the `codebox` and `codebox-sandbox` binaries run.
pub mod cli {
    pub use crate::doctor::{Report, probe};
    pub use crate::output::human_bytes;
    pub use crate::sandbox::Sandbox;
    pub use crate::sandbox::self_confine::confine_self;
    pub use crate::sandbox::{HELPER_ARG, helper_main};
    pub use crate::server::http::{Shutdown, generate_token, serve as serve_http};
    pub use crate::server::logging::layer as log_layer;
    pub use crate::server::schema::write_all as write_schemas;
    pub use crate::server::serve_stdio;
    pub use crate::tools::Context;
    pub use crate::tools::git::identity_from_config as git_identity;
    pub use crate::tools::ws::Registry;
}

/// What the benchmarks and examples measure in-process: the syntax gate and the symbol index.
pub mod engine {
    pub use crate::symbols::{extract, index, supported};
    pub use crate::syntax::{Lang, Trees, check, parse_tree};
}
