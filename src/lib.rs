//! codebox: an MCP server that gives AI coding agents a safe, precise and economical workbench.
//!
//! Modules in reading order. Each owns one responsibility; ARCHITECTURE.md draws the borders:
//! only `server` knows MCP types, only `workspace` turns paths the model sent into open files.

pub mod config;
pub mod doctor;
pub mod edits;
pub mod error;
pub mod history;
pub mod jobs;
pub mod output;
pub mod patch;
pub mod proxy;
pub mod random;
pub mod sandbox;
pub mod search;
pub mod server;
pub mod session;
pub mod spill;
pub mod symbols;
pub mod syntax;
pub mod testparse;
pub mod testrun;
pub mod tools;
pub mod workspace;
pub mod workspaces;
