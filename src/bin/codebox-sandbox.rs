//! The sandbox helper as a small binary of its own: codebox starts it for every command, and a binary without
//! the grammars, the MCP stack and the async runtime starts faster. `codebox __sandbox` does the same job when
//! this binary is not installed beside `codebox`.

fn main() {
    codebox::cli::helper_main();
}
