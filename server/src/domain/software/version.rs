//! Package version ordering (dpkg, rpm, apk).
//!
//! The software search answers questions such as "which hosts have package X with a version
//! lower than Y". A plain string or semver comparison gives wrong answers there: `1.0~rc1` is
//! older than `1.0` for dpkg and rpm, `1:0.9` is newer than `2.0` because of its epoch, and
//! `1.2.3_rc1-r0` is older than `1.2.3-r0` for apk. Each package manager defines its own
//! order, so [`compare`] reimplements each one, following the upstream C code rather than a
//! paraphrase of it:
//!
//! - **dpkg** (`lib/dpkg/version.c`: `parseversion`, `verrevcmp`, `dpkg_version_compare`):
//!   `[epoch:]upstream[-revision]`. The epoch is the text before the first colon and must be
//!   numeric (default 0); the revision is the text after the last hyphen. Upstream and
//!   revision are compared with `verrevcmp`: alternating non-digit and digit runs; in
//!   non-digit runs `~` sorts before everything (even the end of the string), then the end
//!   of the string, then letters, then all other characters; digit runs compare as numbers.
//! - **rpm** (`rpmio/rpmvercmp.cc`, and the EVR handling of `parseEVR` and the Python
//!   bindings' `labelCompare`): `[epoch:]version[-release]`, compared epoch, then version,
//!   then release with `rpmvercmp`: runs of ASCII letters or digits, anything else is a
//!   separator; a numeric run is newer than an alphabetic one; `~` sorts before anything,
//!   `^` sorts after the end of the base version but before any further segment.
//! - **apk** (apk-tools `src/version.c`): `digit{.digit}...{letter}{_suffix{#}}...{~hash}{-r#}`
//!   with suffixes `_alpha < _beta < _pre < _rc < (none) < _cvs < _svn < _git < _hg < _p`,
//!   then the `-rN` package revision.
//!
//! Every numeric run is compared without converting it to an integer (leading zeros
//! stripped, then length, then digits), so arbitrarily long runs such as date stamps cannot
//! overflow. [`compare`] never fails: a malformed version still gets a deterministic place in
//! the order, chosen the way the upstream tool would treat it where it has an answer.
//! [`is_valid`] is the gate for user input.

use std::cmp::Ordering;

/// Compares two version strings with the ordering of `manager` (`"dpkg"`, `"rpm"` or
/// `"apk"`, ASCII case ignored). Unknown managers use the dpkg ordering.
///
/// `Ordering::Less` means `a` is older than `b`.
#[must_use]
pub fn compare(manager: &str, a: &str, b: &str) -> Ordering {
    if manager.eq_ignore_ascii_case("rpm") {
        rpm::compare(a, b)
    } else if manager.eq_ignore_ascii_case("apk") {
        apk::compare(a, b)
    } else {
        dpkg::compare(a, b)
    }
}

/// Whether `v` is acceptable as a version typed by a user for `manager`: not empty, and no
/// whitespace or control characters (Unicode definitions of both).
///
/// The rule is the same for every manager today; `manager` is taken so that stricter,
/// manager-specific rules can be added without changing callers. Versions that pass still
/// may not be well formed for the manager; [`compare`] orders them anyway.
#[must_use]
pub fn is_valid(manager: &str, v: &str) -> bool {
    let _ = manager;
    !v.is_empty() && !v.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Compares two runs of ASCII digits as unbounded non-negative integers: leading zeros
/// dropped, then the longer run is larger, then digit by digit.
fn compare_digit_runs(a: &[u8], b: &[u8]) -> Ordering {
    let a = strip_leading_zeros(a);
    let b = strip_leading_zeros(b);
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

fn strip_leading_zeros(s: &[u8]) -> &[u8] {
    let zeros = s.iter().take_while(|&&c| c == b'0').count();
    s.get(zeros..).unwrap_or_default()
}

/// The longest prefix of `s` whose bytes all satisfy `pred`.
fn prefix_while(s: &[u8], pred: impl Fn(u8) -> bool) -> &[u8] {
    let n = s.iter().take_while(|&&c| pred(c)).count();
    s.get(..n).unwrap_or_default()
}

/// `s` without its first `n` bytes (empty if `s` is shorter).
fn skip(s: &[u8], n: usize) -> &[u8] {
    s.get(n..).unwrap_or_default()
}

mod dpkg {
    use super::{Ordering, compare_digit_runs};

    /// `[epoch:]upstream[-revision]`, split as dpkg's `parseversion` does.
    struct Version<'a> {
        epoch: &'a [u8],
        upstream: &'a [u8],
        revision: &'a [u8],
    }

    fn parse(v: &str) -> Version<'_> {
        // parseversion trims blanks (space and tab) at both ends.
        let v = v.trim_matches([' ', '\t']);
        // The epoch is everything before the first colon. dpkg rejects a non-numeric epoch;
        // we keep such a string whole, with epoch 0, so it still has a place in the order.
        let (epoch, rest) = match v.split_once(':') {
            Some((e, rest)) if !e.is_empty() && e.bytes().all(|c| c.is_ascii_digit()) => (e, rest),
            _ => ("", v),
        };
        // The revision is everything after the last hyphen ("1.0-" has an empty one).
        let (upstream, revision) = rest.rsplit_once('-').unwrap_or((rest, ""));
        Version {
            epoch: epoch.as_bytes(),
            upstream: upstream.as_bytes(),
            revision: revision.as_bytes(),
        }
    }

    pub(super) fn compare(a: &str, b: &str) -> Ordering {
        let (a, b) = (parse(a), parse(b));
        compare_digit_runs(a.epoch, b.epoch)
            .then_with(|| verrevcmp(a.upstream, b.upstream))
            .then_with(|| verrevcmp(a.revision, b.revision))
    }

    /// dpkg's `order()`: the weight of one byte of a non-digit run, `None` being the end of
    /// the string. `~` < end of string (and digits, which end the run) < letters < others.
    ///
    /// Bytes ≥ 0x80 are taken as unsigned; dpkg passes a plain `char`, so on platforms
    /// where it is signed they would weigh 128–255 instead (Debian policy forbids them).
    fn order(c: Option<u8>) -> i32 {
        match c {
            None => 0,
            Some(c) if c.is_ascii_digit() => 0,
            Some(c) if c.is_ascii_alphabetic() => i32::from(c),
            Some(b'~') => -1,
            Some(c) => i32::from(c) + 256,
        }
    }

    fn is_digit_at(s: &[u8], i: usize) -> bool {
        s.get(i).is_some_and(u8::is_ascii_digit)
    }

    fn is_non_digit_at(s: &[u8], i: usize) -> bool {
        s.get(i).is_some_and(|c| !c.is_ascii_digit())
    }

    /// dpkg's `verrevcmp`, for an upstream version or a revision.
    fn verrevcmp(a: &[u8], b: &[u8]) -> Ordering {
        let (mut i, mut j) = (0, 0);
        while i < a.len() || j < b.len() {
            // Non-digit run. Equal weights imply the same non-digit byte on both sides (the
            // weights of distinct bytes differ and only digits and the end weigh 0), so
            // stepping both indexes never runs past either end.
            while is_non_digit_at(a, i) || is_non_digit_at(b, j) {
                let (ac, bc) = (order(a.get(i).copied()), order(b.get(j).copied()));
                if ac != bc {
                    return ac.cmp(&bc);
                }
                i += 1;
                j += 1;
            }
            // Digit run, as a number: skip leading zeros, a longer run wins, otherwise the
            // first differing digit decides.
            while a.get(i) == Some(&b'0') {
                i += 1;
            }
            while b.get(j) == Some(&b'0') {
                j += 1;
            }
            let mut first_diff = Ordering::Equal;
            while let (Some(x), Some(y)) = (
                a.get(i).filter(|c| c.is_ascii_digit()),
                b.get(j).filter(|c| c.is_ascii_digit()),
            ) {
                if first_diff == Ordering::Equal {
                    first_diff = x.cmp(y);
                }
                i += 1;
                j += 1;
            }
            if is_digit_at(a, i) {
                return Ordering::Greater;
            }
            if is_digit_at(b, j) {
                return Ordering::Less;
            }
            if first_diff != Ordering::Equal {
                return first_diff;
            }
        }
        Ordering::Equal
    }
}

mod rpm {
    use super::{Ordering, compare_digit_runs, prefix_while, skip};

    /// `[epoch:]version[-release]`, split as rpm's `parseEVR` does.
    struct Evr<'a> {
        epoch: &'a [u8],
        version: &'a [u8],
        release: Option<&'a [u8]>,
    }

    fn parse(v: &str) -> Evr<'_> {
        // An epoch is a run of digits followed by a colon (an empty run means 0); anything
        // else before the first colon means there is no epoch and the colon is part of the
        // version, where rpmvercmp treats it as a separator.
        let (epoch, rest) = match v.split_once(':') {
            Some((e, rest)) if e.bytes().all(|c| c.is_ascii_digit()) => {
                (if e.is_empty() { "0" } else { e }, rest)
            }
            _ => ("0", v),
        };
        let (version, release) = match rest.rsplit_once('-') {
            Some((version, release)) => (version, Some(release.as_bytes())),
            None => (rest, None),
        };
        Evr {
            epoch: epoch.as_bytes(),
            version: version.as_bytes(),
            release,
        }
    }

    /// Epoch, then version, then release, as the rpm Python bindings' `labelCompare`:
    /// a missing release sorts before any release. (rpm's dependency matching instead skips
    /// the release when either side lacks one; that is not a total order, so it is not used
    /// here.)
    pub(super) fn compare(a: &str, b: &str) -> Ordering {
        let (a, b) = (parse(a), parse(b));
        rpmvercmp(a.epoch, b.epoch)
            .then_with(|| rpmvercmp(a.version, b.version))
            .then_with(|| match (a.release, b.release) {
                (Some(ra), Some(rb)) => rpmvercmp(ra, rb),
                (ra, rb) => ra.is_some().cmp(&rb.is_some()),
            })
    }

    fn is_separator(c: u8) -> bool {
        !c.is_ascii_alphanumeric() && c != b'~' && c != b'^'
    }

    /// rpm's `rpmvercmp`, for one epoch, version or release string.
    fn rpmvercmp(a: &[u8], b: &[u8]) -> Ordering {
        if a == b {
            return Ordering::Equal;
        }
        let (mut one, mut two) = (a, b);
        while !one.is_empty() || !two.is_empty() {
            // Separators (every byte other than ASCII letters, digits, '~' and '^') only
            // delimit segments; which ones, and how many, does not matter.
            one = skip(one, one.iter().take_while(|&&c| is_separator(c)).count());
            two = skip(two, two.iter().take_while(|&&c| is_separator(c)).count());
            let (c1, c2) = (one.first().copied(), two.first().copied());

            // '~' sorts before everything else, the end of the string included.
            if c1 == Some(b'~') || c2 == Some(b'~') {
                if c1 != Some(b'~') {
                    return Ordering::Greater;
                }
                if c2 != Some(b'~') {
                    return Ordering::Less;
                }
                one = skip(one, 1);
                two = skip(two, 1);
                continue;
            }

            // '^' sorts after the end of the string, before anything else.
            if c1 == Some(b'^') || c2 == Some(b'^') {
                if c1.is_none() {
                    return Ordering::Less;
                }
                if c2.is_none() {
                    return Ordering::Greater;
                }
                if c1 != Some(b'^') {
                    return Ordering::Greater;
                }
                if c2 != Some(b'^') {
                    return Ordering::Less;
                }
                one = skip(one, 1);
                two = skip(two, 1);
                continue;
            }

            // One side has run out: decided below by what is left over.
            let Some(c1) = c1 else { break };
            if c2.is_none() {
                break;
            }

            // The segment type is set by `one`: all digits or all letters.
            let is_num = c1.is_ascii_digit();
            let pred: fn(u8) -> bool = if is_num {
                |c: u8| c.is_ascii_digit()
            } else {
                |c: u8| c.is_ascii_alphabetic()
            };
            let seg1 = prefix_while(one, pred);
            let seg2 = prefix_while(two, pred);

            // Different types: a numeric segment is newer than an alphabetic one.
            if seg2.is_empty() {
                return if is_num {
                    Ordering::Greater
                } else {
                    Ordering::Less
                };
            }

            let ord = if is_num {
                compare_digit_runs(seg1, seg2)
            } else {
                seg1.cmp(seg2)
            };
            if ord != Ordering::Equal {
                return ord;
            }
            one = skip(one, seg1.len());
            two = skip(two, seg2.len());
        }
        // All segments were equal: whichever side still has characters left wins.
        match (one.is_empty(), two.is_empty()) {
            (true, true) => Ordering::Equal,
            (false, _) => Ordering::Greater,
            (true, false) => Ordering::Less,
        }
    }
}

mod apk {
    use super::{Ordering, compare_digit_runs, prefix_while, skip};

    /// apk-tools' token kinds. The declaration order is significant: a version that stops
    /// on a larger kind than the other (`End` and `Invalid` being the largest) is older.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
    enum Token {
        InitialDigit,
        Digit,
        Letter,
        Suffix,
        SuffixNo,
        CommitHash,
        RevisionNo,
        End,
        Invalid,
    }

    /// Suffixes in version order; `None` is the pivot between pre- and post-releases.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
    enum Suffix {
        Alpha,
        Beta,
        Pre,
        Rc,
        None,
        Cvs,
        Svn,
        Git,
        Hg,
        P,
    }

    fn suffix_value(s: &[u8]) -> Option<Suffix> {
        Some(match s {
            b"alpha" => Suffix::Alpha,
            b"beta" => Suffix::Beta,
            b"pre" => Suffix::Pre,
            b"rc" => Suffix::Rc,
            b"cvs" => Suffix::Cvs,
            b"svn" => Suffix::Svn,
            b"git" => Suffix::Git,
            b"hg" => Suffix::Hg,
            b"p" => Suffix::P,
            _ => return None,
        })
    }

    /// apk-tools' `struct token_state`: the current token and the unread rest.
    struct Tokenizer<'a> {
        rest: &'a [u8],
        token: Token,
        value: &'a [u8],
        suffix: Suffix,
    }

    impl<'a> Tokenizer<'a> {
        /// `token_first`: a version starts with a number.
        fn first(v: &'a str) -> Self {
            let mut t = Tokenizer {
                rest: v.as_bytes(),
                token: Token::InitialDigit,
                value: &[],
                suffix: Suffix::None,
            };
            t.parse_digits();
            t
        }

        /// `token_parse_digits`: the current token's value is the digit run at the cursor.
        fn parse_digits(&mut self) {
            self.value = prefix_while(self.rest, |c| c.is_ascii_digit());
            self.rest = skip(self.rest, self.value.len());
            if self.value.is_empty() {
                self.token = Token::Invalid;
            }
        }

        /// `token_next`: reads the next token, checking that it may follow the current one.
        fn next(&mut self) {
            let Some(&c) = self.rest.first() else {
                self.token = Token::End;
                return;
            };
            match c {
                b'a'..=b'z' if self.token <= Token::Digit => {
                    self.value = self.rest.get(..1).unwrap_or_default();
                    self.rest = skip(self.rest, 1);
                    self.token = Token::Letter;
                }
                b'.' | b'0'..=b'9' => {
                    if c == b'.' {
                        if self.token > Token::Digit {
                            self.token = Token::Invalid;
                            return;
                        }
                        self.rest = skip(self.rest, 1);
                    }
                    self.token = match self.token {
                        Token::InitialDigit | Token::Digit => Token::Digit,
                        Token::Suffix => Token::SuffixNo,
                        _ => Token::Invalid,
                    };
                    if self.token != Token::Invalid {
                        self.parse_digits();
                    }
                }
                b'_' if self.token <= Token::SuffixNo => {
                    self.rest = skip(self.rest, 1);
                    self.value = prefix_while(self.rest, |c| c.is_ascii_lowercase());
                    self.rest = skip(self.rest, self.value.len());
                    match suffix_value(self.value) {
                        Some(suffix) => {
                            self.suffix = suffix;
                            self.token = Token::Suffix;
                        }
                        None => self.token = Token::Invalid,
                    }
                }
                b'~' if self.token < Token::CommitHash => {
                    self.rest = skip(self.rest, 1);
                    self.value =
                        prefix_while(self.rest, |c| matches!(c, b'0'..=b'9' | b'a'..=b'f'));
                    self.rest = skip(self.rest, self.value.len());
                    self.token = if self.value.is_empty() {
                        Token::Invalid
                    } else {
                        Token::CommitHash
                    };
                }
                b'-' if self.token < Token::RevisionNo && self.rest.starts_with(b"-r") => {
                    self.rest = skip(self.rest, 2);
                    self.token = Token::RevisionNo;
                    self.parse_digits();
                }
                _ => self.token = Token::Invalid,
            }
        }
    }

    /// `token_cmp`, for two tokens of the same kind.
    fn token_cmp(a: &Tokenizer<'_>, b: &Tokenizer<'_>) -> Ordering {
        match a.token {
            // A digit run with a leading zero (after a dot) compares as a string, as in
            // Gentoo: 1.02 < 1.1 and 1.01 < 1.010.
            Token::Digit if a.value.first() == Some(&b'0') || b.value.first() == Some(&b'0') => {
                a.value.cmp(b.value)
            }
            Token::InitialDigit | Token::Digit | Token::SuffixNo | Token::RevisionNo => {
                compare_digit_runs(a.value, b.value)
            }
            Token::Letter => a.value.cmp(b.value),
            Token::Suffix => a.suffix.cmp(&b.suffix),
            Token::CommitHash | Token::End | Token::Invalid => a.value.cmp(b.value),
        }
    }

    /// apk-tools' `apk_version_compare`.
    pub(super) fn compare(a: &str, b: &str) -> Ordering {
        let mut ta = Tokenizer::first(a);
        let mut tb = Tokenizer::first(b);
        while ta.token == tb.token && ta.token < Token::End {
            let ord = token_cmp(&ta, &tb);
            if ord != Ordering::Equal {
                return ord;
            }
            ta.next();
            tb.next();
        }
        // Both ended, or both hit something invalid at the same point.
        if ta.token == tb.token {
            return Ordering::Equal;
        }
        // Everything so far was equal: a pre-release suffix makes its side older; otherwise
        // the side that goes on with a smaller kind of token is newer (1.0.1 > 1.0-r1 > 1.0).
        if ta.token == Token::Suffix && ta.suffix < Suffix::None {
            return Ordering::Less;
        }
        if tb.token == Token::Suffix && tb.suffix < Suffix::None {
            return Ordering::Greater;
        }
        tb.token.cmp(&ta.token)
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod proptests;
