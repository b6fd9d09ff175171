//! Generic: runners without a parser of their own.

use super::pytest::PY_FINAL;
use super::rust::LT_RESULT;
use super::*;

regex!(GEN_PLAIN, r"^\s*(?:\w+:\s*)?(\d+) passed, (\d+) failed(?:, (\d+) skipped)?\s*$");
regex!(GEN_JEST, r"^\s*Tests:\s+(.*\d+ total.*)$");
regex!(GEN_VITEST, r"^\s*Tests\s+(.*)\(\d+\)\s*$");
regex!(GEN_MOCHA, r"^\s*(\d+) (passing|failing|pending)\b");
regex!(GEN_RSPEC, r"^\s*(\d+) examples?, (\d+) failures?(?:, (\d+) pending)?");
regex!(GEN_MINITEST, r"^\s*(\d+) (?:runs|tests), \d+ assertions, (\d+) failures, (\d+) errors, (\d+) skips");
regex!(GEN_EXUNIT, r"^\s*(\d+) tests?, (\d+) failures?(?:, (\d+) skipped)?\s*$");
regex!(GEN_CTEST, r"^\s*\d+% tests passed, (\d+) tests? failed out of (\d+)");
regex!(GEN_MAVEN, r"Tests run: (\d+), Failures: (\d+), Errors: (\d+), Skipped: (\d+)");
regex!(GEN_UNITTEST_RAN, r"^Ran (\d+) tests? in ");
regex!(GEN_UNITTEST_RES, r"^(OK|FAILED)(?: \((.*)\))?\s*$");
regex!(GEN_KV, r"(failures|errors|skipped|expected failures|unexpected successes)=(\d+)");
regex!(GEN_COUNT_WORD, r"(\d+) (passed|failed|skipped|todo|pending)");
regex!(GEN_CC_ERR, r"^(\S+?):(\d+):(\d+): (?:fatal )?error: (.+)$");
regex!(GEN_TSC_ERR, r"^(\S+?)\((\d+),(\d+)\): error (.+)$");

/// Any other runner: recognises the common summary lines (and delegates to a specific parser when
/// the output is clearly one of the known formats); else counts stay 0 and `recognised = false`.
pub(crate) fn parse_generic(output: &str) -> Parsed {
    let text = strip_ansi(output);
    if text.contains("Summary [") && (text.contains("tests run:") || text.contains("test run:")) {
        return parse_nextest(&text);
    }
    if LT_RESULT.is_match(&text) && text.contains("running ") {
        return parse_libtest(&text);
    }
    if text.contains("short test summary info")
        || text.lines().any(|l| PY_FINAL.is_match(l.trim_end()) && l.starts_with('='))
    {
        return parse_pytest_text(&text);
    }
    if text.lines().any(|l| l.trim_start().starts_with("TAP version")) {
        return parse_tap(&text);
    }
    let mut p = Parsed::default();
    let mut counts = Counts::default();
    let mut ran: Option<u64> = None;
    for l in text.lines() {
        let l = l.trim_end();
        if let Some(c) = GEN_PLAIN.captures(l) {
            counts = Counts { passed: num0(c.get(1)), failed: num0(c.get(2)), skipped: num0(c.get(3)), errors: 0 };
            p.recognised = true;
        } else if let Some(c) = GEN_JEST.captures(l).or_else(|| GEN_VITEST.captures(l)) {
            let mut cc = Counts::default();
            for m in GEN_COUNT_WORD.captures_iter(&c[1]) {
                let n = num0(m.get(1));
                match &m[2] {
                    "passed" => cc.passed += n,
                    "failed" => cc.failed += n,
                    _ => cc.skipped += n,
                }
            }
            if cc.passed + cc.failed + cc.skipped > 0 {
                counts = cc;
                p.recognised = true;
            }
        } else if let Some(c) = GEN_MOCHA.captures(l) {
            let n = num0(c.get(1));
            match &c[2] {
                "passing" => counts.passed = n,
                "failing" => counts.failed = n,
                _ => counts.skipped = n,
            }
            p.recognised = true;
        } else if let Some(c) = GEN_RSPEC.captures(l) {
            let (t, f, s) = (num0(c.get(1)), num0(c.get(2)), num0(c.get(3)));
            counts = Counts { passed: t.saturating_sub(f + s), failed: f, skipped: s, errors: 0 };
            p.recognised = true;
        } else if let Some(c) = GEN_MINITEST.captures(l) {
            let (t, f, e, s) = (num0(c.get(1)), num0(c.get(2)), num0(c.get(3)), num0(c.get(4)));
            counts = Counts { passed: t.saturating_sub(f + e + s), failed: f, skipped: s, errors: e };
            p.recognised = true;
        } else if let Some(c) = GEN_EXUNIT.captures(l) {
            let (t, f, s) = (num0(c.get(1)), num0(c.get(2)), num0(c.get(3)));
            counts = Counts { passed: t.saturating_sub(f + s), failed: f, skipped: s, errors: 0 };
            p.recognised = true;
        } else if let Some(c) = GEN_CTEST.captures(l) {
            let (f, t) = (num0(c.get(1)), num0(c.get(2)));
            counts = Counts { passed: t.saturating_sub(f), failed: f, skipped: 0, errors: 0 };
            p.recognised = true;
        } else if let Some(c) = GEN_MAVEN.captures(l) {
            // Maven prints per-class lines and a total last: keep the last one.
            let (t, f, e, s) = (num0(c.get(1)), num0(c.get(2)), num0(c.get(3)), num0(c.get(4)));
            counts = Counts { passed: t.saturating_sub(f + e + s), failed: f, skipped: s, errors: e };
            p.recognised = true;
        } else if let Some(c) = GEN_UNITTEST_RAN.captures(l) {
            ran = num(c.get(1));
        } else if let Some(c) = GEN_UNITTEST_RES.captures(l)
            && let Some(t) = ran
        {
            let mut cc = Counts::default();
            if let Some(kv) = c.get(2) {
                for m in GEN_KV.captures_iter(kv.as_str()) {
                    let n = num0(m.get(2));
                    match &m[1] {
                        "failures" | "unexpected successes" => cc.failed += n,
                        "errors" => cc.errors += n,
                        _ => cc.skipped += n,
                    }
                }
            }
            cc.passed = t.saturating_sub(cc.failed + cc.errors + cc.skipped);
            counts = cc;
            p.recognised = true;
        } else if let Some(c) = GEN_CC_ERR.captures(l).or_else(|| GEN_TSC_ERR.captures(l)) {
            push_build_error(&mut p.build_errors, BuildError::from_diagnostic(&c));
        }
    }
    if !p.build_errors.is_empty() {
        p.recognised = true;
    }
    p.counts = counts;
    p
}
