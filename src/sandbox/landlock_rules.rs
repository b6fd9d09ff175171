//! The landlock ruleset of a command, at the best ABI the kernel offers: read and execute on system and toolchain
//! directories, read on /proc, read and write on the workspace and the private temporary directories, nothing else.
//! TCP bind/connect denied when the network is off and no private network namespace could be made (ABI 4+): the
//! namespace, loopback only, is what keeps the network off, so servers a session starts stay reachable from its
//! other commands. Abstract unix sockets and signals scoped (ABI 6+).

use landlock::{
    ABI, Access, AccessFs, AccessNet, CompatLevel, Compatible, Ruleset, RulesetAttr, RulesetCreatedAttr, RulesetStatus,
    Scope, path_beneath_rules,
};

use super::Spec;

/// Applies the ruleset to this process; returns one result per landlock layer (fs, net, scope).
/// `private_net`: the command is in a private network namespace (its own or its session's).
pub(super) fn apply(spec: &Spec, private_net: bool) -> Vec<(&'static str, Result<String, String>)> {
    let kernel = abi();
    if kernel == 0 {
        let why = "landlock is not available on this kernel".to_string();
        return vec![("landlock", Err(why))];
    }
    let abi = ABI::from(kernel as i32);
    let deny_tcp = !spec.network && !private_net;
    let want_net = deny_tcp && kernel >= 4;
    let want_scope = kernel >= 6;
    let mut rw: Vec<std::path::PathBuf> =
        ["/tmp", "/var/tmp", "/dev", "/dev/shm", "/run"].iter().map(std::path::PathBuf::from).collect();
    rw.push(spec.workspace.clone());
    if let Some(h) = &spec.home {
        rw.push(h.clone());
    }
    let built = (|| -> Result<RulesetStatus, landlock::RulesetError> {
        let mut ruleset =
            Ruleset::default().set_compatibility(CompatLevel::BestEffort).handle_access(AccessFs::from_all(abi))?;
        if want_net {
            ruleset = ruleset.handle_access(AccessNet::from_all(abi))?;
        }
        if want_scope {
            ruleset = ruleset.scope(Scope::from_all(abi))?;
        }
        let created = ruleset
            .create()?
            .add_rules(path_beneath_rules(&spec.read_exec, AccessFs::from_read(abi)))?
            .add_rules(path_beneath_rules(["/proc", "/sys"], AccessFs::from_read(abi) & !AccessFs::Execute))?
            .add_rules(path_beneath_rules(&rw, AccessFs::from_all(abi)))?;
        Ok(created.restrict_self()?.ruleset)
    })();
    match built {
        Err(e) => vec![("landlock", Err(format!("cannot apply the ruleset: {e}")))],
        Ok(RulesetStatus::NotEnforced) => vec![("landlock", Err("the kernel enforced none of the ruleset".into()))],
        Ok(status) => {
            let mut out = vec![(
                "landlock",
                Ok(format!(
                    "ABI {kernel}{}: read+exec on {} system/toolchain dirs; read-write on the workspace and private tmp only",
                    if status == RulesetStatus::PartiallyEnforced { " (partially enforced)" } else { "" },
                    spec.read_exec.len()
                )),
            )];
            if deny_tcp {
                out.push((
                    "landlock-net",
                    if want_net {
                        Ok("TCP bind and connect denied".into())
                    } else {
                        Err(format!("needs landlock ABI 4, kernel has {kernel}"))
                    },
                ));
            }
            out.push((
                "landlock-scope",
                if want_scope {
                    Ok("abstract unix sockets and signals scoped to the sandbox".into())
                } else {
                    Err(format!("needs landlock ABI 6, kernel has {kernel}"))
                },
            ));
            out
        }
    }
}

/// The landlock ABI version the kernel reports, 0 when landlock is off or absent.
pub(crate) fn abi() -> i64 {
    // LANDLOCK_CREATE_RULESET_VERSION asks for the ABI version instead of creating a ruleset.
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
    // SAFETY: with a null attr and size 0 this syscall only returns a number.
    let v = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    v.max(0)
}
