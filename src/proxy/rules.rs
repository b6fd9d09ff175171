//! The proxy's decisions, as pure functions: host names canonicalised (case, trailing dot, IDNA, the numeric IPv4
//! forms `inet_aton` accepts, IPv6), matched against allow and deny patterns, and addresses classified, so that
//! loopback, private, link-local, unique-local and metadata addresses are dialled only when a rule names them.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::config::ProxySettings;

/// A destination as the proxy understands it, after canonicalisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// A DNS name: lowercase ASCII (IDNA), no trailing dot.
    Name(String),
    Ip(IpAddr),
}

impl std::fmt::Display for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Host::Name(n) => f.write_str(n),
            Host::Ip(IpAddr::V6(a)) => write!(f, "[{a}]"),
            Host::Ip(a) => write!(f, "{a}"),
        }
    }
}

#[derive(Debug, Clone)]
enum Matcher {
    /// `name`: exactly that name.
    Exact(String),
    /// `*.name`: any subdomain of name, not name itself.
    Subdomains(String),
    /// `**.name`: name and any subdomain.
    NameAndSubdomains(String),
    Net(IpAddr, u8),
}

#[derive(Debug, Clone)]
struct Pattern {
    matcher: Matcher,
    port: Option<u16>,
    /// As written in the configuration, for messages.
    text: String,
}

/// The allow and deny lists and the static names.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    allow: Vec<Pattern>,
    deny: Vec<Pattern>,
    hosts: HashMap<String, IpAddr>,
}

/// What the rules say about one destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Allowed by the rule named. `names_address`: the rule is an IP/CIDR rule, so the address itself was named.
    Allow { rule: String, names_address: bool },
    /// Refused, with the reason for the model and the configuration line that would allow it (if one would).
    Refuse { reason: String, fix: Option<String> },
}

impl Rules {
    pub fn from_settings(s: &ProxySettings) -> Result<Rules, String> {
        let parse_all = |list: &[String], what: &str| -> Result<Vec<Pattern>, String> {
            list.iter().map(|p| parse_pattern(p).map_err(|e| format!("sandbox.proxy.{what}: {p:?}: {e}"))).collect()
        };
        let mut hosts = HashMap::new();
        for (name, addr) in &s.hosts {
            let Host::Name(n) = canonical_host(name).map_err(|e| format!("sandbox.proxy.hosts: {name:?}: {e}"))? else {
                return Err(format!("sandbox.proxy.hosts: {name:?} is an address, not a name"));
            };
            let ip = match canonical_host(addr) {
                Ok(Host::Ip(ip)) => ip,
                _ => return Err(format!("sandbox.proxy.hosts: {name:?} = {addr:?}: the value must be an IP address")),
            };
            hosts.insert(n, ip);
        }
        Ok(Rules { allow: parse_all(&s.allow, "allow")?, deny: parse_all(&s.deny, "deny")?, hosts })
    }

    /// The address a name is mapped to in `hosts`, if any.
    pub fn mapped(&self, host: &Host) -> Option<IpAddr> {
        match host {
            Host::Name(n) => self.hosts.get(n).copied(),
            Host::Ip(_) => None,
        }
    }

    /// Deny wins; then the first allow rule that matches; else refused.
    pub fn verdict(&self, host: &Host, port: u16) -> Verdict {
        if let Some(d) = self.deny.iter().find(|p| p.matches(host, port)) {
            return Verdict::Refuse {
                reason: format!("denied by the rule {:?} ([sandbox.proxy] deny)", d.text),
                fix: None,
            };
        }
        if let Some(a) = self.allow.iter().find(|p| p.matches(host, port)) {
            return Verdict::Allow { rule: a.text.clone(), names_address: matches!(a.matcher, Matcher::Net(..)) };
        }
        let apex_of = self.allow.iter().find(|p| match (&p.matcher, host) {
            (Matcher::Subdomains(base), Host::Name(n)) => n == base,
            _ => false,
        });
        let reason = match apex_of {
            Some(p) => format!("{:?} allows subdomains only, not {host} itself (\"**.\" allows both)", p.text),
            None if self.allow.is_empty() => "the allowlist is empty ([sandbox.proxy] allow)".to_string(),
            None => "not on the allowlist ([sandbox.proxy] allow)".to_string(),
        };
        Verdict::Refuse { reason, fix: Some(format!("[sandbox.proxy] allow = [\"{host}\"]")) }
    }
}

impl Pattern {
    fn matches(&self, host: &Host, port: u16) -> bool {
        if self.port.is_some_and(|p| p != port) {
            return false;
        }
        match (&self.matcher, host) {
            (Matcher::Exact(e), Host::Name(n)) => e == n,
            (Matcher::Subdomains(base), Host::Name(n)) => is_subdomain(n, base),
            (Matcher::NameAndSubdomains(base), Host::Name(n)) => n == base || is_subdomain(n, base),
            (Matcher::Net(net, len), Host::Ip(ip)) => in_net(*ip, *net, *len),
            _ => false,
        }
    }
}

fn is_subdomain(name: &str, base: &str) -> bool {
    name.len() > base.len() + 1 && name.ends_with(base) && name.as_bytes()[name.len() - base.len() - 1] == b'.'
}

fn in_net(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len as u32) };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = if len == 0 { 0 } else { u128::MAX << (128 - len as u32) };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

fn parse_pattern(text: &str) -> Result<Pattern, String> {
    let t = text.trim();
    // A port: the part after the last ':' when what precedes it is not an IPv6 address without brackets.
    let (body, port) = split_port(t)?;
    if let Some((addr, len)) = body.split_once('/') {
        let ip = match canonical_host(addr)? {
            Host::Ip(ip) => ip,
            Host::Name(_) => return Err("a CIDR needs an IP address before the '/'".into()),
        };
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let len: u8 = len.parse().ok().filter(|l| *l <= max).ok_or(format!("prefix length must be 0-{max}"))?;
        return Ok(Pattern { matcher: Matcher::Net(ip, len), port, text: text.to_string() });
    }
    let (kind, name): (fn(String) -> Matcher, &str) = if let Some(rest) = body.strip_prefix("**.") {
        (Matcher::NameAndSubdomains, rest)
    } else if let Some(rest) = body.strip_prefix("*.") {
        (Matcher::Subdomains, rest)
    } else {
        (Matcher::Exact, body)
    };
    if name.contains('*') {
        return Err("'*' is allowed only as a leading \"*.\" or \"**.\"".into());
    }
    let matcher = match canonical_host(name)? {
        Host::Name(n) => kind(n),
        Host::Ip(ip) if body == name => Matcher::Net(ip, if ip.is_ipv4() { 32 } else { 128 }),
        Host::Ip(_) => return Err("wildcards apply to names, not addresses".into()),
    };
    Ok(Pattern { matcher, port, text: text.to_string() })
}

/// `host[:port]` → (host, port); IPv6 addresses with a port need brackets.
fn split_port(t: &str) -> Result<(&str, Option<u16>), String> {
    if let Some(rest) = t.strip_prefix('[') {
        let (addr, after) = rest.split_once(']').ok_or("unclosed '['")?;
        return match after.strip_prefix(':') {
            Some(p) => Ok((addr, Some(parse_port(p)?))),
            None if after.is_empty() => Ok((addr, None)),
            None => Err(format!("unexpected {after:?} after ']'")),
        };
    }
    match t.rsplit_once(':') {
        Some((h, _)) if h.contains(':') => Ok((t, None)),
        Some((h, p)) => Ok((h, Some(parse_port(p)?))),
        None => Ok((t, None)),
    }
}

fn parse_port(p: &str) -> Result<u16, String> {
    p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| format!("{p:?} is not a port (1-65535)"))
}

/// Splits a request target `host:port` (CONNECT) into host and port.
pub(crate) fn split_authority(authority: &str, default_port: u16) -> Result<(Host, u16), String> {
    let (h, p) = split_port(authority)?;
    Ok((canonical_host(h)?, p.unwrap_or(default_port)))
}

/// One canonical form per destination: lowercase, no trailing dot, IDNA ASCII; IPv4 in any `inet_aton` form
/// (`2130706433`, `127.1`, `0x7f.0.0.1`, `0177.0.0.1`) and IPv6 (with or without brackets) as addresses.
/// Anything else malformed is refused.
pub(crate) fn canonical_host(raw: &str) -> Result<Host, String> {
    let s = raw.trim();
    let s = s.strip_prefix('[').and_then(|x| x.strip_suffix(']')).unwrap_or(s);
    if s.is_empty() {
        return Err("empty host".into());
    }
    if s.contains(':') {
        return s
            .parse::<Ipv6Addr>()
            .map(|a| Host::Ip(canonical_v6(a)))
            .map_err(|_| format!("{raw:?} is not a valid IPv6 address"));
    }
    let s = s.strip_suffix('.').unwrap_or(s);
    if let Some(v4) = inet_aton(s) {
        return Ok(Host::Ip(IpAddr::V4(v4)));
    }
    let ascii = idna::domain_to_ascii(s).map_err(|_| format!("{raw:?} is not a valid host name"))?;
    if ascii.is_empty() || ascii.len() > 253 {
        return Err(format!("{raw:?} is not a valid host name"));
    }
    for label in ascii.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(format!("{raw:?} is not a valid host name"));
        }
    }
    // A name whose last label is all digits would be read as an address by some resolvers: refuse it.
    if ascii.rsplit('.').next().is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit())) {
        return Err(format!("{raw:?} is neither a valid address nor a valid host name"));
    }
    Ok(Host::Name(ascii))
}

/// IPv4-mapped IPv6 (`::ffff:127.0.0.1`) is the IPv4 address it carries.
fn canonical_v6(a: Ipv6Addr) -> IpAddr {
    match a.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(a),
    }
}

/// The IPv4 forms `inet_aton` accepts: 1 to 4 parts, each decimal, octal (leading 0) or hex (0x); the last part
/// fills the remaining bytes.
fn inet_aton(s: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let mut nums = Vec::with_capacity(parts.len());
    for p in &parts {
        let (digits, radix) = if let Some(h) = p.strip_prefix("0x").or_else(|| p.strip_prefix("0X")) {
            (h, 16)
        } else if p.len() > 1 && p.starts_with('0') {
            (&p[1..], 8)
        } else {
            (*p, 10)
        };
        if digits.is_empty() && radix != 16 {
            return None;
        }
        let n = if digits.is_empty() { 0 } else { u64::from_str_radix(digits, radix).ok()? };
        nums.push(n);
    }
    let last = *nums.last()?;
    let head = &nums[..nums.len() - 1];
    if head.iter().any(|n| *n > 255) {
        return None;
    }
    let last_bits = 8 * (4 - head.len() as u32);
    if last_bits < 64 && last >= 1u64 << last_bits {
        return None;
    }
    let mut v: u32 = 0;
    for (i, n) in head.iter().enumerate() {
        v |= (*n as u32) << (24 - 8 * i as u32);
    }
    v |= last as u32;
    Some(Ipv4Addr::from(v))
}

/// What an address is, when it may not be dialled unless a rule names it: loopback, private, link-local (cloud metadata),
/// unique-local, carrier-grade NAT, unspecified, multicast, reserved, or an IPv4 address hidden in IPv6.
pub(crate) fn special(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(a) => {
            let o = a.octets();
            if a.is_loopback() {
                Some("a loopback address")
            } else if a.is_private() {
                Some("a private address")
            } else if a.is_link_local() {
                Some(if o == [169, 254, 169, 254] { "the cloud metadata address" } else { "a link-local address" })
            } else if o[0] == 100 && (64..128).contains(&o[1]) {
                Some("a carrier-grade NAT address")
            } else if a.is_unspecified() || o[0] == 0 {
                Some("the unspecified address")
            } else if a.is_multicast() || a.is_broadcast() || o[0] >= 240 {
                Some("a multicast or reserved address")
            } else {
                None
            }
        }
        IpAddr::V6(a) => {
            let seg = a.segments();
            if a.is_loopback() {
                Some("a loopback address")
            } else if a.is_unspecified() {
                Some("the unspecified address")
            } else if seg[0] & 0xffc0 == 0xfe80 {
                Some("a link-local address")
            } else if seg[0] & 0xfe00 == 0xfc00 {
                Some("a unique-local address")
            } else if seg[0] & 0xff00 == 0xff00 {
                Some("a multicast address")
            } else if let Some(v4) = a.to_ipv4_mapped().or_else(|| nat64(a)) {
                special(IpAddr::V4(v4))
            } else {
                None
            }
        }
    }
}

fn nat64(a: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = a.segments();
    (s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0]).then(|| {
        let o = a.octets();
        Ipv4Addr::new(o[12], o[13], o[14], o[15])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(allow: &[&str], deny: &[&str]) -> Rules {
        let s = ProxySettings {
            allow: allow.iter().map(|s| s.to_string()).collect(),
            deny: deny.iter().map(|s| s.to_string()).collect(),
            hosts: Default::default(),
        };
        Rules::from_settings(&s).unwrap()
    }

    fn allowed(r: &Rules, host: &str, port: u16) -> bool {
        matches!(r.verdict(&canonical_host(host).unwrap(), port), Verdict::Allow { .. })
    }

    #[test]
    fn names_are_canonical() {
        let n = |s: &str| canonical_host(s).unwrap();
        assert_eq!(n("Registry.Example.ORG."), Host::Name("registry.example.org".into()));
        assert_eq!(n("bücher.example"), Host::Name("xn--bcher-kva.example".into()));
        assert_eq!(n("2130706433"), Host::Ip("127.0.0.1".parse().unwrap()));
        assert_eq!(n("127.1"), Host::Ip("127.0.0.1".parse().unwrap()));
        assert_eq!(n("0x7f.0.0.1"), Host::Ip("127.0.0.1".parse().unwrap()));
        assert_eq!(n("0177.0.0.1"), Host::Ip("127.0.0.1".parse().unwrap()));
        assert_eq!(n("[::1]"), Host::Ip("::1".parse().unwrap()));
        assert_eq!(n("::ffff:169.254.169.254"), Host::Ip("169.254.169.254".parse().unwrap()));
        assert_eq!(n("999"), Host::Ip("0.0.3.231".parse().unwrap()), "one number is a whole address");
        for bad in ["", "a..b", "-a.example", "a b.example", "1.2.3.4.5", "256.1.1.1", "example.123", "a*.x"] {
            assert!(canonical_host(bad).is_err(), "{bad}: {:?}", canonical_host(bad));
        }
    }

    #[test]
    fn patterns_match_as_documented() {
        let r = rules(
            &["registry.example.org", "*.cdn.example.org", "**.files.example.org", "files.example.net:8443"],
            &[],
        );
        assert!(allowed(&r, "registry.example.org", 443));
        assert!(allowed(&r, "REGISTRY.example.org.", 443));
        assert!(!allowed(&r, "evilregistry.example.org", 443));
        assert!(!allowed(&r, "registry.example.org.evil.test", 443));
        assert!(allowed(&r, "a.cdn.example.org", 443));
        assert!(allowed(&r, "a.b.cdn.example.org", 443));
        assert!(!allowed(&r, "cdn.example.org", 443), "the apex of *.");
        assert!(!allowed(&r, "xcdn.example.org", 443));
        assert!(allowed(&r, "files.example.org", 80));
        assert!(allowed(&r, "x.files.example.org", 80));
        assert!(allowed(&r, "files.example.net", 8443));
        assert!(!allowed(&r, "files.example.net", 443), "the port is part of the rule");
        match r.verdict(&canonical_host("cdn.example.org").unwrap(), 443) {
            Verdict::Refuse { reason, .. } => assert!(reason.contains("subdomains only"), "{reason}"),
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn deny_wins_and_addresses_match_cidrs() {
        let r = rules(&["**.example.org", "10.1.0.0/16", "192.0.2.7"], &["secret.example.org"]);
        assert!(!allowed(&r, "secret.example.org", 443));
        assert!(allowed(&r, "public.example.org", 443));
        assert!(allowed(&r, "10.1.2.3", 80));
        assert!(!allowed(&r, "10.2.0.1", 80));
        assert!(allowed(&r, "192.0.2.7", 80));
        assert!(!allowed(&r, "192.0.2.8", 80));
        assert!(!allowed(&rules(&[], &[]), "example.org", 443), "an empty allowlist allows nothing");
    }

    #[test]
    fn special_addresses_are_named() {
        for (a, what) in [
            ("127.0.0.1", "a loopback address"),
            ("10.0.0.1", "a private address"),
            ("169.254.169.254", "the cloud metadata address"),
            ("::1", "a loopback address"),
            ("fd00::1", "a unique-local address"),
            ("fe80::1", "a link-local address"),
            ("64:ff9b::7f00:1", "a loopback address"),
            ("0.0.0.0", "the unspecified address"),
        ] {
            assert_eq!(special(a.parse().unwrap()), Some(what), "{a}");
        }
        assert_eq!(special("93.184.216.34".parse().unwrap()), None);
        assert_eq!(special("2001:db8::1".parse().unwrap()), None);
    }

    #[test]
    fn bad_patterns_are_refused_with_the_reason() {
        for (p, why) in [
            ("*.", "host"),
            ("a.*.example", "only as a leading"),
            ("*.10.0.0.1", "names"),
            ("10.0.0.0/33", "prefix"),
            ("x.example:0", "port"),
        ] {
            let e = parse_pattern(p).unwrap_err();
            assert!(e.contains(why), "{p}: {e}");
        }
    }
}
