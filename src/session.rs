//! One client's session: what its calls share and what ends with it. Today a session is the stdio connection
//! or one HTTP session; the tools see only this type, so the scope can become a workspace without touching them.
//!
//! A session owns its network namespace (every command and job of the session joins it: a server started as a
//! job is reachable from the session's run_command and run_tests, and from no other session) and its jobs,
//! which are killed when the session is dropped.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock};

use crate::jobs::Jobs;
use crate::sandbox::{Sandbox, SessionNet};

#[derive(Default)]
pub struct Session {
    net: OnceLock<Option<Arc<SessionNet>>>,
    jobs: Jobs,
    /// Notes already given to this session (the sandbox layers of a run, a listing's footnote): results
    /// repeat a note only when it differs from every one said before.
    said: Mutex<HashSet<String>>,
    /// The session's place in its workspace's count of bound sessions (None: the main checkout).
    _bound: Option<crate::workspaces::Attached>,
}

impl Session {
    /// A session bound to a workspace; it counts as attached until dropped.
    pub fn bound(attached: crate::workspaces::Attached) -> Session {
        Session { _bound: Some(attached), ..Default::default() }
    }

    /// The session's network namespace, made on first use; None when runs do not need one (sandbox off, the
    /// host's network) or it could not be made (each run then gets a private one, as the sandbox decides).
    pub fn net(&self, sandbox: &Sandbox) -> Option<Arc<SessionNet>> {
        self.net
            .get_or_init(|| match sandbox.session_net() {
                Ok(n) => n.map(Arc::new),
                Err(e) => {
                    tracing::warn!(
                        "no shared network for this session ({e}); each command gets its own loopback, so a \
                         server started as a job is not reachable from other commands"
                    );
                    None
                }
            })
            .clone()
    }

    /// `note` when this session has not been given it yet, else None: paid for once, not on every call.
    pub fn once(&self, note: String) -> Option<String> {
        let mut said = self.said.lock().unwrap_or_else(|e| e.into_inner());
        said.insert(note.clone()).then_some(note)
    }

    pub fn jobs(&self) -> &Jobs {
        &self.jobs
    }
}
