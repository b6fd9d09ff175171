//! What a result says about the network: the destinations the proxy refused (and the line that would allow
//! each), a warning on every result with the host's network, and, with the network off, one line when a command
//! failed for want of it (a package manager that could not resolve its registry would otherwise blame itself).

use crate::config::NetworkMode;
use crate::proxy::Grant;
use crate::tools::Context;

/// Refusals listed in one result; the rest are counted.
const MAX_LISTED: usize = 5;

/// Output fragments (lowercase) of programs that could not resolve or reach a host.
const NO_NETWORK: &[&str] = &[
    "could not resolve host",
    "temporary failure in name resolution",
    "name or service not known",
    "failed to lookup address",
    "no address associated with hostname",
    "getaddrinfo",
    "enotfound",
    "eai_again",
    "network is unreachable",
    "no route to host",
    "failed to establish a new connection",
    "no matching package named",
    "could not connect to server",
    "unable to access 'http",
    "dial tcp: lookup",
    "connectionerror",
    "network unreachable",
];

/// The credentials a run gets with the proxy on.
pub(crate) fn grant(ctx: &Context) -> Option<Grant> {
    ctx.proxy.as_ref().and_then(|p| p.grant())
}

/// Lines to append to a run's result (each ending in a newline), or nothing.
pub(crate) fn notes(ctx: &Context, grant: Option<&Grant>, failed: bool, output: &str) -> String {
    let mode = ctx.sandbox.settings().network;
    if ctx.sandbox.is_off() {
        return String::new();
    }
    let mut out = String::new();
    if mode == NetworkMode::Host {
        out.push_str(
            "[network: host (sandbox.network = \"host\"): this command could reach everything the machine can]\n",
        );
    }
    if let Some(refused) = grant.map(Grant::refusals).filter(|r| !r.is_empty()) {
        let listed: Vec<String> =
            refused.iter().take(MAX_LISTED).map(|r| format!("{} ({})", r.target, r.reason)).collect();
        let more = refused.len().saturating_sub(MAX_LISTED);
        out.push_str(&format!(
            "[network: the proxy refused {}{}",
            listed.join("; "),
            if more > 0 { format!("; and {more} more") } else { String::new() }
        ));
        let fixes: Vec<String> = refused
            .iter()
            .filter_map(|r| {
                r.fix
                    .as_ref()
                    .map(|_| format!("\"{}\"", r.target.rsplit_once(':').map_or(r.target.as_str(), |(h, _)| h)))
            })
            .collect();
        if !fixes.is_empty() {
            out.push_str(&format!(
                ". The user can allow them in codebox.toml: [sandbox.proxy] allow = [{}]",
                fixes.join(", ")
            ));
        }
        out.push_str("]\n");
        return out;
    }
    if failed && mode != NetworkMode::Host && looks_offline(output) {
        out.push_str(match mode {
            NetworkMode::Off => {
                "[network: this sandbox has no network (sandbox.network = \"off\"): commands reach loopback only. To \
let them fetch packages the user can set network = \"proxy\" and list the hosts, e.g. [sandbox.proxy] allow = \
[\"registry.example.org\"], in codebox.toml]\n"
            }
            _ => {
                "[network: only the proxy in HTTPS_PROXY leads out of this sandbox; a program that ignores \
HTTP_PROXY/HTTPS_PROXY cannot reach the network]\n"
            }
        });
    }
    out
}

fn looks_offline(output: &str) -> bool {
    let lower = output.to_ascii_lowercase();
    NO_NETWORK.iter().any(|p| lower.contains(p))
}
