//! One integration-test binary: the real server over stdio and HTTP, driven through an rmcp client.
//! Each module names the issue and the ATTACKS.md rows it guards.

// A test binary has no public surface: its helpers are `pub` for the sibling modules.
#![allow(unreachable_pub)]

mod harness;

mod agent;
mod confine;
mod deploy;

mod edit;
mod files;
mod git;
mod http;
mod jobs;
mod loop_fit;
mod network;
mod output;
mod patch;
mod protocol;
mod read_tools;
mod run_tests;
mod sandbox;
mod schemas;
mod search;
mod stdio;
mod symbols;
mod workspaces;
mod workspaces_load;
