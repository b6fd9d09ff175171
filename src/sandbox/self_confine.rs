//! codebox confines itself: after start-up, its threads may read system directories and write only the workspace
//! and the temporary directory that holds spilled outputs, and may not open TCP connections. A bug in a file
//! tool then still cannot reach the user's home or other projects. Commands are spawned from a thread created
//! before this (see `spawner`).

use std::path::{Path, PathBuf};

use landlock::{
    ABI, Access, AccessFs, AccessNet, CompatLevel, Compatible, Ruleset, RulesetAttr, RulesetCreatedAttr, RulesetStatus,
    path_beneath_rules,
};

/// Read-only for codebox itself: libraries, configuration, /proc (fd paths), git's global ignore files.
const READ: &[&str] = &["/usr", "/lib", "/lib32", "/lib64", "/etc", "/proc", "/dev/null", "/dev/urandom", "/sys"];

/// What TCP a confined thread keeps.
#[derive(Clone, Copy)]
enum Tcp {
    /// Neither connect nor bind.
    None,
    /// Connect (the proxy dials out), never bind.
    ConnectOnly,
}

/// Restricts the calling thread (and the threads it creates afterwards): read `read`, read and write `rw`,
/// TCP as `tcp` says, nothing else. Returns the ABI, or why it could not be applied.
fn restrict(read: &[PathBuf], rw: &[PathBuf], tcp: Tcp, whom: &str) -> Result<i64, String> {
    let kernel = super::landlock_rules::abi();
    if kernel == 0 {
        return Err("landlock is not available on this kernel".into());
    }
    let abi = ABI::from(kernel as i32);
    let status = (|| -> Result<RulesetStatus, landlock::RulesetError> {
        let mut r =
            Ruleset::default().set_compatibility(CompatLevel::BestEffort).handle_access(AccessFs::from_all(abi))?;
        if kernel >= 4 {
            r = match tcp {
                Tcp::None => r.handle_access(AccessNet::from_all(abi))?,
                Tcp::ConnectOnly => r.handle_access(AccessNet::BindTcp)?,
            };
        }
        Ok(r.create()?
            .add_rules(path_beneath_rules(read, AccessFs::from_read(abi) & !AccessFs::Execute))?
            .add_rules(path_beneath_rules(rw, AccessFs::from_all(abi) & !AccessFs::Execute))?
            .restrict_self()?
            .ruleset)
    })()
    .map_err(|e| format!("cannot apply landlock to {whom}: {e}"))?;
    match status {
        RulesetStatus::NotEnforced => Err(format!("the kernel enforced none of {whom}'s ruleset")),
        _ => Ok(kernel),
    }
}

/// Applies to the calling thread and every thread it creates afterwards. Returns what was enforced, or why not.
pub fn confine_self(workspace: &Path, writable: &[PathBuf]) -> Result<String, String> {
    let mut read: Vec<PathBuf> = READ.iter().map(PathBuf::from).collect();
    if let Ok(home) = std::env::var("HOME") {
        // The ignore crate reads git's global excludes on every walk.
        for f in [".gitconfig", ".config/git"] {
            read.push(Path::new(&home).join(f));
        }
    }
    if let Ok(xdg) = std::env::var("XDG_CONFIG_HOME") {
        read.push(Path::new(&xdg).join("git"));
    }
    let mut rw: Vec<PathBuf> = vec![workspace.to_path_buf()];
    rw.extend(writable.iter().cloned());
    let kernel = restrict(&read, &rw, Tcp::None, "codebox itself")?;
    Ok(format!(
        "ABI {kernel}: codebox reads system dirs, writes only the workspace and {}; no TCP connect/bind",
        writable.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    ))
}

/// The network proxy's thread: it reads system configuration (resolv.conf, hosts), writes nothing, may dial TCP
/// (that is its job) but not listen on TCP. Applies to the calling thread and the threads it creates.
pub(crate) fn confine_proxy() -> Result<String, String> {
    let read: Vec<PathBuf> = READ.iter().map(PathBuf::from).collect();
    let kernel = restrict(&read, &[], Tcp::ConnectOnly, "the proxy")?;
    Ok(format!("ABI {kernel}: the proxy reads system configuration, writes nothing, may not listen on TCP"))
}

#[cfg(test)]
mod tests {
    /// Landlock is per thread: the confined thread cannot read outside, the test's other threads are untouched.
    #[test]
    fn a_confined_thread_cannot_read_outside_the_workspace() {
        // Outside the workspace and outside anything codebox may read: /var/tmp, which exists on every Linux.
        let outside = tempfile::tempdir_in("/var/tmp").expect("/var/tmp must exist for this test");
        let secret = outside.path().join("secret");
        std::fs::write(&secret, "s").unwrap();
        let ws = tempfile::tempdir().unwrap();
        std::fs::write(ws.path().join("inside"), "i").unwrap();
        let (ws_path, secret2) = (ws.path().to_path_buf(), secret.clone());
        let (inside, outside_read) = std::thread::spawn(move || {
            super::confine_self(&ws_path, &[]).expect("landlock must be available on the test machine");
            (std::fs::read_to_string(ws_path.join("inside")), std::fs::read_to_string(&secret2))
        })
        .join()
        .unwrap();
        assert_eq!(inside.unwrap(), "i");
        assert_eq!(outside_read.unwrap_err().kind(), std::io::ErrorKind::PermissionDenied);
        assert_eq!(std::fs::read_to_string(&secret).unwrap(), "s", "other threads are not confined");
    }
}
