//! Property tests of the version orderings, with generated versions: no pair of strings
//! makes [`compare`] panic, and for every manager it is a total order (reflexive,
//! antisymmetric, transitive, and versions it finds equal are interchangeable), which
//! sorting and range queries rely on. `PROPTEST_CASES` sets the number of cases (256 by
//! default).

use std::cmp::Ordering;

use proptest::prelude::*;

use super::{compare, is_valid};

fn manager() -> impl Strategy<Value = &'static str> {
    proptest::sample::select(vec!["dpkg", "rpm", "apk", "RPM", "Apk", "pacman", ""])
}

/// Versions made of the pieces every manager gives a meaning to, so that generated versions
/// share prefixes and meet in every branch of the comparisons; sometimes any text at all.
fn version() -> impl Strategy<Value = String> {
    let piece = proptest::sample::select(vec![
        "0",
        "1",
        "2",
        "9",
        "01",
        "00",
        "10",
        "123456789012345678901234567890",
        ".",
        "~",
        "^",
        "-",
        "-r",
        "-r1",
        "-r01",
        ":",
        "1:",
        "a",
        "b",
        "z",
        "A",
        "Z",
        "_",
        "_alpha",
        "_beta",
        "_pre",
        "_rc",
        "_cvs",
        "_p",
        "_git",
        "~1a",
        "~",
        "+",
        "+dfsg",
        "é",
        " ",
        "\t",
        "\0",
        "\u{7f}",
    ]);
    prop_oneof![
        6 => proptest::collection::vec(piece, 0..7).prop_map(|p| p.concat()),
        2 => "[0-9a-z.~^+_:-]{0,10}",
        1 => any::<String>(),
    ]
}

fn sign(o: Ordering) -> i8 {
    match o {
        Ordering::Less => -1,
        Ordering::Equal => 0,
        Ordering::Greater => 1,
    }
}

proptest! {
    #[test]
    fn equal_to_itself_and_antisymmetric(m in manager(), a in version(), b in version()) {
        prop_assert_eq!(compare(m, &a, &a), Ordering::Equal);
        prop_assert_eq!(compare(m, &a, &b), compare(m, &b, &a).reverse(), "{} {:?} {:?}", m, a, b);
        let _ = is_valid(m, &a);
    }

    #[test]
    fn transitive(m in manager(), a in version(), b in version(), c in version()) {
        let (ab, bc, ac) = (compare(m, &a, &b), compare(m, &b, &c), compare(m, &a, &c));
        // a ≤ b ≤ c ⇒ a ≤ c, with a < c if either step is strict.
        if sign(ab) <= 0 && sign(bc) <= 0 {
            prop_assert!(sign(ac) <= 0, "{} {:?} {:?} {:?}", m, a, b, c);
            prop_assert!(ab == Ordering::Equal && bc == Ordering::Equal || ac == Ordering::Less,
                "{} {:?} {:?} {:?}", m, a, b, c);
        }
        // Equal versions compare alike with everything.
        if ab == Ordering::Equal {
            prop_assert_eq!(ac, bc, "{} {:?} {:?} {:?}", m, a, b, c);
        }
    }

    /// Sorted by [`compare`], every pair of a list is in order: a stronger check of
    /// transitivity than triples (and `sort_by` may panic on an order that is not total).
    #[test]
    fn sorting_orders_every_pair(m in manager(), mut v in proptest::collection::vec(version(), 0..12)) {
        v.sort_by(|a, b| compare(m, a, b));
        for (i, a) in v.iter().enumerate() {
            for b in &v[i + 1..] {
                prop_assert_ne!(compare(m, a, b), Ordering::Greater, "{} {:?} before {:?} in {:?}", m, a, b, v);
            }
        }
    }
}
