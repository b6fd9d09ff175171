//! Binding connections to workspaces (`Registry`: a name from the client's configuration → the context every tool
//! of that connection uses) and `workspace_status`, the one thing a bound model may ask about its workspace.
//! Nothing here takes a workspace name from a tool argument: the model cannot choose, create or leave one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::error::{ErrorKind, ToolError, ToolResult};
use crate::tools::Context;
use crate::workspaces::{Attachments, Binding, NewRequest, Store};

/// The main checkout's context and, per workspace a connection has named, the context bound to it.
pub struct Registry {
    main: Context,
    store: Result<Arc<Store>, String>,
    bound: Mutex<HashMap<String, Context>>,
}

impl Registry {
    pub fn new(main: Context) -> Registry {
        let store = Store::open(main.ws.root(), &main.config.workspaces).map(Arc::new);
        Registry { main, store, bound: Default::default() }
    }

    pub fn main(&self) -> &Context {
        &self.main
    }

    /// The project's workspaces, when the root is a git repository's top.
    pub fn store(&self) -> Result<&Arc<Store>, &str> {
        self.store.as_ref().map_err(String::as_str)
    }

    /// Whether workspace `name` still exists (it may have been removed while this server ran).
    pub fn exists(&self, name: &str) -> bool {
        self.store.as_ref().is_ok_and(|s| s.exists(name))
    }

    /// The context for connections bound to `name`. An unknown name is made from the current branch when
    /// `[workspaces] create_on_use` allows it, else refused. Blocking (the first use runs git).
    pub fn context(&self, name: &str) -> Result<Context, String> {
        crate::workspaces::check_name(name)?;
        let store = self.store.as_ref().map_err(|e| format!("this server has no workspaces: {e}"))?;
        {
            let mut bound = self.bound.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(c) = bound.get(name) {
                if store.exists(name) {
                    return Ok(c.clone());
                }
                // Removed (`codebox ws rm --force`) since it was bound: never serve the deleted checkout.
                bound.remove(name);
            }
        }
        // Made without holding the table: a creation (a clone, a setup command) does not hold up other
        // workspaces' first connections. The store's own lock orders creations.
        if !store.exists(name) {
            if !self.main.config.workspaces.create_on_use {
                return Err(format!(
                    "no workspace named {name:?}; make it with `codebox ws new {name}` (or set [workspaces] \
                     create_on_use = true in codebox.toml)"
                ));
            }
            match store.create(&self.main.sandbox, &NewRequest { name: name.to_string(), ..Default::default() }) {
                Ok(_) => tracing::info!(workspace = name, "workspace created on first use"),
                // Another connection made it meanwhile.
                Err(_) if store.exists(name) => {}
                Err(e) => return Err(e),
            }
        }
        let binding =
            Binding { attachments: Arc::new(Attachments::new(store.clone(), name)), main: self.main.sandbox.clone() };
        let ctx = self.main.for_workspace(binding)?;
        let mut bound = self.bound.lock().unwrap_or_else(|e| e.into_inner());
        Ok(bound.entry(name.to_string()).or_insert(ctx).clone())
    }
}

/// workspace_status: the bound workspace against its base.
pub(crate) fn status(ctx: &Context) -> ToolResult<String> {
    let Some(b) = &ctx.binding else {
        return Err(ToolError::new(
            ErrorKind::InvalidArgument,
            "this connection serves the main checkout, not a workspace; workspaces are chosen by the client's \
             configuration (URL /ws/<name>/mcp or `codebox serve --workspace <name>`), never by a tool call",
        ));
    };
    let st =
        b.attachments.store().status(&b.main, b.attachments.name()).map_err(|e| ToolError::new(ErrorKind::Io, e))?;
    let m = &st.meta;
    let short = |c: &str| c[..c.len().min(10)].to_string();
    let mut t = format!("workspace {} on {} · based on {} at {}", m.name, m.branch, m.base, short(&m.base_commit));
    t.push_str(&format!("\n{} commit(s) ahead, {} behind", st.ahead, st.behind));
    match (&st.base_head, st.base_moved) {
        // The full id: the workspace reads the main repository's objects, so the agent can catch up itself.
        (Some(h), true) => t.push_str(&format!("; {} moved to {h} (`git rebase {h}` catches up)", m.base)),
        (Some(_), false) => t.push_str(&format!("; {} has not moved", m.base)),
        (None, _) => {}
    }
    match &st.conflicts {
        Some(c) if c.is_empty() && st.ahead > 0 => t.push_str("\nrebasing onto it would not conflict"),
        Some(c) if !c.is_empty() => t.push_str(&format!("\nrebasing onto it would conflict in: {}", c.join(", "))),
        _ => {}
    }
    if st.dirty.is_empty() {
        t.push_str("\nno uncommitted changes");
    } else {
        t.push_str(&format!(
            "\n{} uncommitted: {}",
            st.dirty.len(),
            st.dirty.iter().take(20).map(|l| l.trim()).collect::<Vec<_>>().join(", ")
        ));
    }
    t.push_str(&format!(
        "\nports for servers: {}",
        ctx.sandbox.env(&[]).iter().find(|(k, _)| k == "CODEBOX_PORTS").map(|(_, v)| v.as_str()).unwrap_or("?")
    ));
    Ok(t)
}
