//! Randomness from the operating system, for secrets (the HTTP token, session ids, proxy credentials), and the
//! comparison that checks a secret without telling an attacker how much of a guess was right.

/// Fills `buf` from the OS's random source, or says why it could not.
pub(crate) fn fill(buf: &mut [u8]) -> Result<(), String> {
    getrandom::fill(buf).map_err(|e| format!("no system randomness: {e}"))
}

/// A fresh 256-bit secret, hex-encoded.
pub(crate) fn token() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    fill(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Compares without an early exit, so timing does not tell how much of a guess was right.
pub(crate) fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    #[test]
    fn same_is_exact() {
        assert!(super::same(b"abc", b"abc"));
        assert!(!super::same(b"abc", b"abd"));
        assert!(!super::same(b"ab", b"abc"));
        assert!(!super::same(b"", b"abc"));
    }

    #[test]
    fn tokens_are_fresh_and_long() {
        let (a, b) = (super::token().unwrap(), super::token().unwrap());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
    }
}
