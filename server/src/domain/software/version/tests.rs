use super::*;
use std::cmp::Ordering::{Equal, Greater, Less};

/// Checks every `(a, b, expected)` case both ways round.
fn check(manager: &str, cases: &[(&str, &str, Ordering)]) {
    for &(a, b, expected) in cases {
        assert_eq!(
            compare(manager, a, b),
            expected,
            "{manager}: compare({a:?}, {b:?})"
        );
        assert_eq!(
            compare(manager, b, a),
            expected.reverse(),
            "{manager}: compare({b:?}, {a:?})"
        );
    }
}

/// Checks that `ladder` is strictly increasing for every pair, not only neighbours.
fn check_strictly_increasing(manager: &str, ladder: &[&str]) {
    for (i, a) in ladder.iter().enumerate() {
        for b in &ladder[i + 1..] {
            assert_eq!(compare(manager, a, b), Less, "{manager}: {a:?} < {b:?}");
            assert_eq!(compare(manager, b, a), Greater, "{manager}: {b:?} > {a:?}");
        }
        assert_eq!(compare(manager, a, a), Equal, "{manager}: {a:?} = itself");
    }
}

// --- dpkg -----------------------------------------------------------------------------

/// The whole `__DATA__` table of dpkg's `scripts/t/Dpkg_Version.t`, which the dpkg
/// test suite also runs through `dpkg --compare-versions`.
const DPKG_VERSION_T: &[(&str, &str, Ordering)] = &[
    ("1.0-1", "2.0-2", Less),
    ("2.2~rc-4", "2.2-1", Less),
    ("2.2-1", "2.2~rc-4", Greater),
    ("1.0000-1", "1.0-1", Equal),
    ("1", "0:1", Equal),
    ("0", "0:0-0", Equal),
    ("2:2.5", "1:7.5", Greater),
    ("1:0foo", "0foo", Greater),
    ("0:0foo", "0foo", Equal),
    ("0foo", "0foo", Equal),
    ("0foo-", "0foo", Equal),
    ("0foo-", "0foo-0", Equal),
    ("0foo", "0fo", Greater),
    ("0foo-", "0foo+", Less),
    ("0foo~1", "0foo", Less),
    ("0foo~foo+Bar", "0foo~foo+bar", Less),
    ("0foo~~", "0foo~", Less),
    ("1~", "1", Less),
    (
        "12345+that-really-is-some-ver-0",
        "12345+that-really-is-some-ver-10",
        Less,
    ),
    ("0foo-0", "0foo-01", Less),
    ("0foo.bar", "0foobar", Greater),
    ("0foo.bar", "0foo1bar", Greater),
    ("0foo.bar", "0foo0bar", Greater),
    ("0foo1bar-1", "0foobar-1", Less),
    ("0foo2.0", "0foo2", Greater),
    ("0foo2.0.0", "0foo2.10.0", Less),
    ("0foo2.0", "0foo2.0.0", Less),
    ("0foo2.0", "0foo2.10", Less),
    ("0foo2.1", "0foo2.10", Less),
    ("1.09", "1.9", Equal),
    ("1.0.8+nmu1", "1.0.8", Greater),
    ("3.11", "3.10+nmu1", Greater),
    ("0.9j-20080306-4", "0.9i-20070324-2", Greater),
    ("1.2.0~b7-1", "1.2.0~b6-1", Greater),
    ("1.011-1", "1.06-2", Greater),
    ("0.0.9+dfsg1-1", "0.0.8+dfsg1-3", Greater),
    ("4.6.99+svn6582-1", "4.6.99+svn6496-1", Greater),
    ("53", "52", Greater),
    ("0.9.9~pre122-1", "0.9.9~pre111-1", Greater),
    ("2:2.3.2-2+lenny2", "2:2.3.2-2", Greater),
    ("1:3.8.1-1", "3.8.GA-1", Greater),
    ("1.0.1+gpl-1", "1.0.1-2", Greater),
    ("1a", "1000a", Less),
    ("-0.6.5", "0.9.1", Less),
];

/// Parsing cases from dpkg's `lib/dpkg/t/t-version.c` (`test_version_parse`), each
/// compared with the version object the test expects, written as a plain string.
const DPKG_T_VERSION_C: &[(&str, &str, Ordering)] = &[
    ("0", "0", Equal),
    ("0:0", "0", Equal),
    ("0:0-", "0", Equal),
    ("0:0-0", "0-0", Equal),
    ("0:0.0-0.0", "0.0-0.0", Equal),
    ("1:0", "0", Greater),
    ("5:1", "1:1", Greater),
    // Multiple hyphens: the revision is after the last one.
    ("0:0-0-0", "0-0-0", Equal),
    ("0:0-0-0", "0-0-1", Less),
    ("0:0-0-0-0", "0-0-0-0", Equal),
    // Multiple colons: the epoch is before the first one.
    ("0:0:0-0", "0:0:0-0", Equal),
    ("0:0:0-0", "0:0-0", Greater),
    ("0:0-0:0-0", "0-0:0-0", Equal),
    // Every valid character of an upstream version and of a revision.
    ("0:09azAZ.-+~:-0", "09azAZ.-+~:-0", Equal),
    ("0:0-azAZ09.+~", "0-azAZ09.+~", Equal),
    // Leading and trailing blanks are trimmed.
    ("  \t0:0-1", "0-1", Equal),
    ("0:0-1\t  ", "0-1", Equal),
    // test_version_compare: "0-00" and "00-0" are the same version.
    ("0-00", "00-0", Equal),
    ("1:2-3", "1:2-3", Equal),
    ("0:0-0", "1:0-0", Less),
    ("0:a-0", "0:b-0", Less),
    ("0:0-a", "0:0-b", Less),
];

/// Cases named in the brief, plus everyday Debian and Ubuntu versions.
const DPKG_EVERYDAY: &[(&str, &str, Ordering)] = &[
    ("1.0~rc1", "1.0", Less),
    ("1:0.9", "2.0", Greater),
    ("1.0-1", "1.0-1ubuntu1", Less),
    ("2.30-1+deb12u1", "2.30-1", Greater),
    ("2.30-1+deb12u1", "2.30-1+deb12u2", Less),
    ("2.30-1+deb12u1", "2.30-2", Less),
    ("0:1.0", "1.0", Equal),
    ("1.0~rc1", "1.0~rc2", Less),
    ("1.0~rc1~git1", "1.0~rc1", Less),
    ("1.0", "1.0.0", Less),
    ("1.0", "1.0a", Less),
    ("1.0a", "1.0.1", Less),
    ("1.0+b1", "1.0", Greater),
    ("2.36.1-8ubuntu1", "2.36.1-8", Greater),
    ("2.36.1-8ubuntu1", "2.36.1-8ubuntu1.1", Less),
    ("3.0.2-0ubuntu1.15", "3.0.2-0ubuntu1.9", Greater),
    ("1:9.18.28-1~deb12u2", "1:9.18.28-1", Less),
    ("1:9.18.28-1~deb12u2", "1:9.18.24-1", Greater),
    ("252.31-1~deb12u1", "252.30-1~deb12u2", Greater),
    ("7.88.1-10+deb12u8", "7.88.1-10+deb12u12", Less),
    ("1.2.3", "1.2.3-0", Equal),
    ("01:1.0", "1:1.0", Equal),
];

#[test]
fn dpkg_agrees_with_every_case_of_the_dpkg_perl_test_suite() {
    check("dpkg", DPKG_VERSION_T);
}

#[test]
fn dpkg_parses_epochs_hyphens_and_colons_like_the_dpkg_c_test_suite() {
    check("dpkg", DPKG_T_VERSION_C);
}

#[test]
fn dpkg_orders_everyday_debian_and_ubuntu_versions() {
    check("dpkg", DPKG_EVERYDAY);
}

#[test]
fn dpkg_tilde_sorts_before_the_end_of_the_string_which_sorts_before_letters_and_symbols() {
    check_strictly_increasing(
        "dpkg",
        &[
            "1.0~~", "1.0~~a", "1.0~", "1.0", "1.0a", "1.0z", "1.0+", "1.0.", "1.0.1",
        ],
    );
}

#[test]
fn dpkg_compares_letters_before_non_letters_and_by_ascii_among_letters() {
    check(
        "dpkg",
        &[
            ("1.0A", "1.0a", Less),
            ("1.0Z", "1.0a", Less),
            ("1.0z", "1.0+", Less),
            ("1.0+", "1.0.", Less),
            ("1.0+a", "1.0.a", Less),
        ],
    );
}

#[test]
fn dpkg_compares_huge_numbers_without_overflow() {
    check(
        "dpkg",
        &[
            (
                "1.99999999999999999999999999",
                "1.100000000000000000000000000",
                Less,
            ),
            ("1.000000000000000000000000000042", "1.42", Equal),
            (
                "99999999999999999999999:1.0",
                "99999999999999999999998:2.0",
                Greater,
            ),
            ("18446744073709551616", "18446744073709551615", Greater),
        ],
    );
}

#[test]
fn dpkg_keeps_a_non_numeric_epoch_in_the_version_instead_of_failing() {
    // dpkg itself rejects these; we still give them a stable place in the order.
    check(
        "dpkg",
        &[
            ("a:1.0", "a:1.0", Equal),
            ("a:1.0", "1:0", Less),
            ("10a:5.2", "10a:5.3", Less),
            ("a:1.0", "b:1.0", Less),
        ],
    );
}

#[test]
fn dpkg_orders_a_realistic_upgrade_path() {
    check_strictly_increasing(
        "dpkg",
        &[
            "2.36~rc1-1",
            "2.36-1",
            "2.36-1ubuntu1",
            "2.36-1+deb12u1",
            "2.36-2",
            "2.36.1-1",
            "2.37~beta-1",
            "2.37-1",
            "1:1.0-1",
        ],
    );
}

// --- rpm ------------------------------------------------------------------------------

/// Every active case of rpm's `tests/rpmvercmp.at` (tilde and caret sections included).
/// These exercise `rpmvercmp` on bare versions; none of them contains a hyphen or a
/// colon, so the EVR split leaves them whole.
const RPMVERCMP_AT: &[(&str, &str, Ordering)] = &[
    ("1.0", "1.0", Equal),
    ("1.0", "2.0", Less),
    ("2.0", "1.0", Greater),
    ("2.0.1", "2.0.1", Equal),
    ("2.0", "2.0.1", Less),
    ("2.0.1", "2.0", Greater),
    ("2.0.1a", "2.0.1a", Equal),
    ("2.0.1a", "2.0.1", Greater),
    ("2.0.1", "2.0.1a", Less),
    ("5.5p1", "5.5p1", Equal),
    ("5.5p1", "5.5p2", Less),
    ("5.5p2", "5.5p1", Greater),
    ("5.5p10", "5.5p10", Equal),
    ("5.5p1", "5.5p10", Less),
    ("5.5p10", "5.5p1", Greater),
    ("10xyz", "10.1xyz", Less),
    ("10.1xyz", "10xyz", Greater),
    ("xyz10", "xyz10", Equal),
    ("xyz10", "xyz10.1", Less),
    ("xyz10.1", "xyz10", Greater),
    ("xyz.4", "xyz.4", Equal),
    ("xyz.4", "8", Less),
    ("8", "xyz.4", Greater),
    ("xyz.4", "2", Less),
    ("2", "xyz.4", Greater),
    ("5.5p2", "5.6p1", Less),
    ("5.6p1", "5.5p2", Greater),
    ("5.6p1", "6.5p1", Less),
    ("6.5p1", "5.6p1", Greater),
    ("6.0.rc1", "6.0", Greater),
    ("6.0", "6.0.rc1", Less),
    ("10b2", "10a1", Greater),
    ("10a2", "10b2", Less),
    ("1.0aa", "1.0aa", Equal),
    ("1.0a", "1.0aa", Less),
    ("1.0aa", "1.0a", Greater),
    ("10.0001", "10.0001", Equal),
    ("10.0001", "10.1", Equal),
    ("10.1", "10.0001", Equal),
    ("10.0001", "10.0039", Less),
    ("10.0039", "10.0001", Greater),
    ("4.999.9", "5.0", Less),
    ("5.0", "4.999.9", Greater),
    ("20101121", "20101121", Equal),
    ("20101121", "20101122", Less),
    ("20101122", "20101121", Greater),
    ("2_0", "2_0", Equal),
    ("2.0", "2_0", Equal),
    ("2_0", "2.0", Equal),
    // RhBug:178798
    ("a", "a", Equal),
    ("a+", "a+", Equal),
    ("a+", "a_", Equal),
    ("a_", "a+", Equal),
    ("+a", "+a", Equal),
    ("+a", "_a", Equal),
    ("_a", "+a", Equal),
    ("+_", "+_", Equal),
    ("_+", "+_", Equal),
    ("_+", "_+", Equal),
    ("+", "_", Equal),
    ("_", "+", Equal),
    // Tilde.
    ("1.0~rc1", "1.0~rc1", Equal),
    ("1.0~rc1", "1.0", Less),
    ("1.0", "1.0~rc1", Greater),
    ("1.0~rc1", "1.0~rc2", Less),
    ("1.0~rc2", "1.0~rc1", Greater),
    ("1.0~rc1~git123", "1.0~rc1~git123", Equal),
    ("1.0~rc1~git123", "1.0~rc1", Less),
    ("1.0~rc1", "1.0~rc1~git123", Greater),
    // Caret.
    ("1.0^", "1.0^", Equal),
    ("1.0^", "1.0", Greater),
    ("1.0", "1.0^", Less),
    ("1.0^git1", "1.0^git1", Equal),
    ("1.0^git1", "1.0", Greater),
    ("1.0", "1.0^git1", Less),
    ("1.0^git1", "1.0^git2", Less),
    ("1.0^git2", "1.0^git1", Greater),
    ("1.0^git1", "1.01", Less),
    ("1.01", "1.0^git1", Greater),
    ("1.0^20160101", "1.0^20160101", Equal),
    ("1.0^20160101", "1.0.1", Less),
    ("1.0.1", "1.0^20160101", Greater),
    ("1.0^20160101^git1", "1.0^20160101^git1", Equal),
    ("1.0^20160102", "1.0^20160101^git1", Greater),
    ("1.0^20160101^git1", "1.0^20160102", Less),
    // Tilde and caret together.
    ("1.0~rc1^git1", "1.0~rc1^git1", Equal),
    ("1.0~rc1^git1", "1.0~rc1", Greater),
    ("1.0~rc1", "1.0~rc1^git1", Less),
    ("1.0^git1~pre", "1.0^git1~pre", Equal),
    ("1.0^git1", "1.0^git1~pre", Greater),
    ("1.0^git1~pre", "1.0^git1", Less),
];

/// The "oddities" rpmvercmp.at keeps commented out to document rpm's real (arguably
/// buggy) behaviour: RhBug:811992, and non-ASCII bytes being plain separators.
const RPMVERCMP_AT_ODDITIES: &[(&str, &str, Ordering)] = &[
    ("1b.fc17", "1b.fc17", Equal),
    ("1b.fc17", "1.fc17", Less),
    ("1.fc17", "1b.fc17", Greater),
    ("1g.fc17", "1g.fc17", Equal),
    ("1g.fc17", "1.fc17", Greater),
    ("1.fc17", "1g.fc17", Less),
    ("1.1.α", "1.1.α", Equal),
    ("1.1.α", "1.1.β", Equal),
    ("1.1.β", "1.1.α", Equal),
    ("1.1.αα", "1.1.α", Equal),
    ("1.1.α", "1.1.ββ", Equal),
    ("1.1.ββ", "1.1.αα", Equal),
];

/// Whole `[epoch:]version-release` strings as rpm reports them.
const RPM_EVR: &[(&str, &str, Ordering)] = &[
    ("1.0.1", "1.0", Greater),
    ("1.0a", "1.0.1", Less),
    ("1:1.0-1", "2.0-1", Greater),
    ("0:1.0-1", "1.0-1", Equal),
    (":1.0-1", "0:1.0-1", Equal),
    ("00:1.0-1", "0:1.0-1", Equal),
    ("10:1.0-1", "9:2.0-1", Greater),
    ("1.0-1", "1.0-2", Less),
    ("1.0-10", "1.0-9", Greater),
    ("1.0-1.el9", "1.0-1.el8", Greater),
    ("2.34-100.el9_4.2", "2.34-100.el9", Greater),
    ("2.34-100.el9_4.2", "2.34-83.el9_3.12", Greater),
    ("5.14.0-427.13.1.el9_4", "5.14.0-362.24.1.el9_3", Greater),
    ("3.0.7-27.el9", "3.0.7-27.el9.0.1", Less),
    ("1.0~rc1-1", "1.0-1", Less),
    ("1.0^git1-1", "1.0-1", Greater),
    ("1.0-rc1-2", "1.0-rc1-1", Greater),
    // The release is the text after the last hyphen.
    ("1.0-rc1-2", "1.0-rc2-1", Less),
    // A missing release sorts before any release (labelCompare).
    ("1.0", "1.0-1", Less),
    ("1.0", "1.0-~1", Less),
    ("1.0", "1.0", Equal),
    // A colon after something other than digits is part of the version.
    ("a:1.0", "a.1.0", Equal),
    ("a:1.0", "1:0", Less),
];

#[test]
fn rpm_agrees_with_every_case_of_rpmvercmp_at() {
    check("rpm", RPMVERCMP_AT);
}

#[test]
fn rpm_reproduces_the_oddities_rpmvercmp_at_documents() {
    check("rpm", RPMVERCMP_AT_ODDITIES);
}

#[test]
fn rpm_compares_epoch_then_version_then_release() {
    check("rpm", RPM_EVR);
}

#[test]
fn rpm_treats_a_numeric_segment_as_newer_than_an_alphabetic_one() {
    check(
        "rpm",
        &[
            ("1.0.a", "1.0.1", Less),
            ("1.a", "1.0", Less),
            ("1.1", "1.a", Greater),
        ],
    );
}

#[test]
fn rpm_sorts_tilde_first_and_caret_between_the_base_and_the_next_segment() {
    check_strictly_increasing(
        "rpm",
        &[
            "1.0~rc1",
            "1.0~rc1^git1",
            "1.0",
            "1.0^git1",
            "1.0^git2",
            "1.0.1",
            "1.1",
        ],
    );
}

#[test]
fn rpm_compares_huge_numbers_without_overflow() {
    check(
        "rpm",
        &[
            (
                "1.99999999999999999999999999",
                "1.100000000000000000000000000",
                Less,
            ),
            ("1.000000000000000000000000000042", "1.42", Equal),
            (
                "99999999999999999999999:1.0",
                "99999999999999999999998:2.0",
                Greater,
            ),
        ],
    );
}

// --- apk ------------------------------------------------------------------------------

/// A sample of apk-tools' `test/version.data` (pairs taken verbatim).
const APK_VERSION_DATA: &[(&str, &str, Ordering)] = &[
    ("2.34", "0.1.0_alpha", Greater),
    ("23_foo", "4_beta", Greater),
    ("1.0", "1.0bc", Less),
    ("0.1.0_alpha", "0.1.0_alpha", Equal),
    ("0.1.0_alpha", "0.1.3_alpha", Less),
    ("0.1.0_alpha2", "0.1.0_alpha", Greater),
    ("0.1.0_alpha", "2.2.39-r1", Less),
    ("1.0.4-r3", "1.0.4-r4", Less),
    ("1.1", "1.1_alpha1", Greater),
    ("1.2", "1.3_alpha", Less),
    ("1.3_alpha", "1.3_alpha2", Less),
    ("0.7.0", "0.8_beta1", Less),
    ("0.8_beta1", "0.8_beta2", Less),
    ("3.10.18-r1", "2.3.0b-r1", Greater),
    ("2.3.0b-r1", "2.3.0b-r2", Less),
    ("0.12.3", "0.12", Greater),
    ("0.12", "0.13_beta1", Less),
    ("3.1_p16", "3.1_p17", Less),
    ("1.06-r6", "006", Less),
    ("006", "1.0.0", Greater),
    ("1.2.2-r1", "1.2.2", Greater),
    ("1.2.11", "1.2.12.1", Less),
    ("2.59", "20050718-r1", Less),
    ("3.9.8-r5", "2.01.01_alpha10", Greater),
    ("1.0", "0.99.3.20040818", Greater),
    ("4.2.52_p2-r1", "4.2.52_p4-r2", Less),
    ("2.18.3-r10", "1.05-r18", Greater),
    ("1.05-r18", "1.05-r19", Less),
    ("20060720", "3.0.20060720", Greater),
    ("2.5.1-r8", "2.5.1a-r1", Less),
    ("1.3.5-r10", "1.3.5-r8", Greater),
    ("20040401", "2.0.0_rc3-r1", Greater),
    ("3.9_pre20060124", "0.01", Greater),
    ("0.10.0", "0.10.1_rc1", Less),
    ("22.7-r1", "22.7.3-r1", Less),
    ("2.1_pre20", "2.1_pre26", Less),
    ("2.10.1", "02.08.01b", Greater),
    ("0.20070118", "0.20070207_rc1", Less),
    ("4.5_p1-r1", "4.5_p1", Greater),
    ("0.9.8c-r1", "0.9.8d", Less),
    ("2.2.3-r2", "013", Less),
    ("013", "014-r1", Less),
    ("1.7", "1.7b", Less),
    ("1.8.5", "1.8.5_p2", Less),
    ("2.9.11_pre20051101-r3", "2.9.11_pre20051101", Greater),
    ("1.6.8_p12-r1", "1.6.8_p9-r2", Greater),
    ("2.12r-r4", "2.12r-r5", Less),
    ("7.0.17", "7.0.174", Less),
    ("0.9.28.1", "087-r1", Less),
    ("0.59s-r11", "0.65", Less),
    ("1.3-r0", "1.3.1-r0", Less),
    ("1.3_pre1-r1", "1.3.2", Less),
    ("1.0_p10-r0", "1.0_p9-r0", Greater),
    ("0.1.0_alpha_pre2", "0.1.0_alpha", Less),
    (
        "1.0.0_pre20191002222144-r0",
        "1.0.0_pre20210530193627-r0",
        Less,
    ),
    ("6.0_pre1", "6.0", Less),
    ("6.1_p1", "6.1", Greater),
];

/// Versions as they appear on Alpine hosts.
const APK_ALPINE: &[(&str, &str, Ordering)] = &[
    ("1.36.1-r15", "1.36.1-r2", Greater),
    ("1.36.1-r15", "1.36.1-r15", Equal),
    ("1.36.1-r15", "1.37.0-r0", Less),
    ("3.0.12-r0", "3.0.8-r0", Greater),
    ("3.0.12-r0", "3.1.4-r5", Less),
    ("1.2.3_rc1-r0", "1.2.3-r0", Less),
    ("1.2.3_rc1-r0", "1.2.3_rc2-r0", Less),
    ("1.2.3_rc1-r1", "1.2.3_rc1-r0", Greater),
    ("1.2.3_beta2-r0", "1.2.3_rc1-r0", Less),
    ("2.4_p1-r2", "2.4-r2", Greater),
    ("2.4_p1-r2", "2.4_p2-r0", Less),
    ("2.4_p1-r2", "2.4.1-r0", Less),
    // A revision, even r0, makes the version newer than none at all.
    ("3.0.12-r0", "3.0.12", Greater),
    // Numbers after a dot with a leading zero compare as strings (Gentoo rule).
    ("1.02", "1.1", Less),
    ("1.010", "1.01", Greater),
    ("1.10", "1.9", Greater),
    // Commit hashes come after suffixes and before the revision.
    (
        "1.0_git20240101~0a1b2c-r0",
        "1.0_git20240101~0a1b2d-r0",
        Less,
    ),
    (
        "1.0_git20240101~0a1b2c-r1",
        "1.0_git20240101~0a1b2c-r0",
        Greater,
    ),
    ("1.0_git20240101~0a1b2c", "1.0_git20240101", Greater),
];

#[test]
fn apk_agrees_with_the_apk_tools_version_data() {
    check("apk", APK_VERSION_DATA);
}

#[test]
fn apk_orders_real_alpine_versions() {
    check("apk", APK_ALPINE);
}

#[test]
fn apk_orders_suffixes_around_the_release_and_before_the_revision() {
    check_strictly_increasing(
        "apk",
        &[
            "1.0_alpha",
            "1.0_alpha1",
            "1.0_beta",
            "1.0_pre1",
            "1.0_rc1",
            "1.0_rc2",
            "1.0",
            "1.0-r1",
            "1.0_cvs",
            "1.0_svn",
            "1.0_git",
            "1.0_hg",
            "1.0_p1",
            "1.0_p1-r1",
            "1.0a",
            "1.0.1_rc1",
            "1.0.1",
        ],
    );
}

#[test]
fn apk_sorts_malformed_tails_below_well_formed_ones() {
    check(
        "apk",
        &[
            // An unknown suffix or a hyphen without "r" stops parsing as invalid.
            ("1.0_foo", "1.0", Less),
            ("1.0-foo", "1.0", Less),
            ("1.0-foo", "1.0-bar", Equal),
            // Nothing numeric at all: invalid from the start.
            ("abc", "0", Less),
            ("abc", "xyz", Equal),
        ],
    );
}

#[test]
fn apk_compares_huge_numbers_without_overflow() {
    check(
        "apk",
        &[
            (
                "1.0_pre99999999999999999999999",
                "1.0_pre100000000000000000000000",
                Less,
            ),
            (
                "1.0-r18446744073709551616",
                "1.0-r18446744073709551615",
                Greater,
            ),
        ],
    );
}

// --- dispatch and validation ----------------------------------------------------------

#[test]
fn unknown_managers_fall_back_to_the_dpkg_ordering() {
    // "2_0" and "2.0" are equal for rpm (both separators) but not for dpkg.
    assert_eq!(compare("rpm", "2_0", "2.0"), Equal);
    assert_eq!(compare("dpkg", "2_0", "2.0"), Greater);
    assert_eq!(compare("pacman", "2_0", "2.0"), Greater);
    assert_eq!(compare("", "1.0~rc1", "1.0"), Less);
}

#[test]
fn manager_names_ignore_ascii_case() {
    assert_eq!(compare("RPM", "2_0", "2.0"), Equal);
    assert_eq!(compare("Apk", "1.0_rc1", "1.0"), Less);
    assert_eq!(compare("DPKG", "1:0.9", "2.0"), Greater);
}

#[test]
fn is_valid_accepts_ordinary_versions_of_every_manager() {
    for (manager, v) in [
        ("dpkg", "1:2.36.1-8ubuntu1~22.04"),
        ("dpkg", "2.30-1+deb12u1"),
        ("rpm", "1:3.0.7-27.el9"),
        ("rpm", "1.0^git1"),
        ("apk", "1.2.3_rc1-r0"),
        ("apk", "0"),
    ] {
        assert!(is_valid(manager, v), "{manager}: {v:?} should be valid");
    }
}

#[test]
fn is_valid_rejects_empty_strings_whitespace_and_control_characters() {
    for v in [
        "",
        " ",
        "1.0 ",
        " 1.0",
        "1 .0",
        "1.0\t",
        "1.0\n",
        "1.0\r",
        "1.0\0",
        "1.0\u{7f}",
        "1.0\u{1b}[31m",
        "1.0\u{a0}",
        "1.0\u{2003}",
        "1.0\u{85}",
    ] {
        for manager in ["dpkg", "rpm", "apk", "other"] {
            assert!(!is_valid(manager, v), "{manager}: {v:?} should be invalid");
        }
    }
}

#[test]
fn sorting_with_compare_gives_the_expected_order() {
    let mut versions = vec!["1.0-1", "1:0.1-1", "1.0~rc1-1", "1.0-1+deb12u1", "0.9-5"];
    versions.sort_by(|a, b| compare("dpkg", a, b));
    assert_eq!(
        versions,
        ["0.9-5", "1.0~rc1-1", "1.0-1", "1.0-1+deb12u1", "1:0.1-1"]
    );
}
