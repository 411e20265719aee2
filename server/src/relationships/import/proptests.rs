//! Property tests of the import parsers, with generated bodies: no CSV or JSON body makes
//! parsing or the checks that come before any lookup panic; a refused CSV names its line
//! (the line the record starts on, whatever blank lines and quoted line breaks come before
//! it) and a refused item names its field; and CSV written with any text in its cells reads
//! back as that text. `PROPTEST_CASES` sets the number of cases (256 by default).

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::relationships::manual::{check_note, parse_kind, validate_ci};
use crate::storage::valid_key;

fn what() -> impl Strategy<Value = &'static str> {
    proptest::sample::select(vec!["cis", "relationships", "", "CIS", "both"])
}

fn cell() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("\"".into()),
        Just("a,b".into()),
        Just("line\nbreak".into()),
        Just("\r\n".into()),
        Just(" padded ".into()),
        Just("0".into()),
        Just("-1".into()),
        Just("4294967296".into()),
        Just("true".into()),
        Just("maybe".into()),
        Just("depends_on".into()),
        Just("application/app1".into()),
        Just("x".repeat(5000)),
        "[a-z_/0-9 ,\"\n]{0,12}",
        any::<String>(),
    ]
}

fn header() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => proptest::sample::select(vec![
            "key", "class", "name", "description", "owner", "min_up", "core", "from", "kind",
            "to", "note", "source", "stale", "first_seen", "last_seen", " name ",
        ])
        .prop_map(String::from),
        1 => cell(),
    ]
}

/// A CSV body: headers, then rows of cells, written properly (quoted where needed) or
/// joined raw (broken quoting, ragged rows).
fn csv_body() -> impl Strategy<Value = Vec<u8>> {
    (
        proptest::collection::vec(header(), 0..6),
        proptest::collection::vec(proptest::collection::vec(cell(), 0..7), 0..6),
        any::<bool>(),
    )
        .prop_map(|(headers, rows, proper)| {
            if proper {
                let mut w = csv::WriterBuilder::new().flexible(true).from_writer(vec![]);
                for r in std::iter::once(&headers).chain(&rows) {
                    let _ = w.write_record(r);
                }
                w.into_inner().unwrap_or_default()
            } else {
                std::iter::once(&headers)
                    .chain(&rows)
                    .map(|r| r.join(","))
                    .collect::<Vec<_>>()
                    .join("\n")
                    .into_bytes()
            }
        })
}

fn names_a_line_or_field(e: &ServiceError) -> Result<(), TestCaseError> {
    let ServiceError::Invalid(msg) = e else {
        return Err(TestCaseError::fail(format!("not a 400: {e:?}")));
    };
    let ok = msg.starts_with("csv: ")
        || msg.starts_with("what: ")
        || msg
            .strip_prefix("csv line ")
            .and_then(|rest| rest.split_once(": "))
            .is_some_and(|(n, _)| n.parse::<usize>().is_ok_and(|n| n >= 2));
    prop_assert!(ok, "{msg:?}");
    Ok(())
}

/// The checks `plan` makes before it looks anything up, in its order, with the field of
/// every error: what an import refuses without a database.
fn check_items(b: &Bundle) -> Result<(), TestCaseError> {
    let named = |r: Result<(), ServiceError>, at: &str| -> Result<(), TestCaseError> {
        match r {
            Ok(()) => Ok(()),
            Err(ServiceError::Invalid(e)) => {
                prop_assert!(e.starts_with(at), "{e:?} does not name {at}");
                Ok(())
            }
            Err(e) => Err(TestCaseError::fail(format!("not a 400: {e:?}"))),
        }
    };
    for (i, item) in b.cis.iter().enumerate() {
        let at = format!("cis[{i}]");
        named(validate_ci(&at, &item.ci, false), &at)?;
        named(validate_ci(&at, &item.ci, true), &at)?;
        if let Some(k) = &item.key {
            let _ = valid_key(k);
        }
    }
    for (i, r) in b.relationships.iter().enumerate() {
        let at = format!("relationships[{i}]");
        named(parse_kind(&format!("{at}.kind"), &r.kind).map(|_| ()), &at)?;
        named(check_note(&format!("{at}.note"), &r.note), &at)?;
        for reference in [&r.from, &r.to] {
            if let Some((class, name)) = reference.trim().split_once('/') {
                let _ = (class, name);
            } else {
                let _ = valid_key(reference.trim());
            }
        }
    }
    Ok(())
}

/// Any JSON value, nested a few levels, with the strings and numbers an import does not
/// expect.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        prop_oneof![
            Just(json!(0)),
            Just(json!(-1)),
            Just(json!(u64::MAX)),
            Just(json!(1.5)),
            Just(json!(u64::from(u32::MAX) + 1)),
        ],
        cell().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            proptest::collection::btree_map(
                prop_oneof![
                    proptest::sample::select(vec![
                        "key",
                        "class",
                        "name",
                        "description",
                        "owner",
                        "min_up",
                        "core",
                        "attributes",
                        "from",
                        "kind",
                        "to",
                        "note",
                        "source",
                        "evidence",
                    ])
                    .prop_map(String::from),
                    "[a-z_]{0,8}",
                ],
                inner,
                0..6,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A JSON bundle: the right shape with anything in its items, or anything at all.
fn json_bundle() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => (
            proptest::collection::vec(any_json(), 0..4),
            proptest::collection::vec(any_json(), 0..4),
        )
            .prop_map(|(cis, relationships)| {
                serde_json::to_vec(&json!({ "cis": cis, "relationships": relationships }))
                    .unwrap_or_default()
            }),
        1 => any_json().prop_map(|v| serde_json::to_vec(&v).unwrap_or_default()),
        1 => proptest::collection::vec(any::<u8>(), 0..100),
    ]
}

proptest! {
    #[test]
    fn any_csv_is_read_or_refused_naming_the_line(body in csv_body(), what in what()) {
        match parse_csv(&body, what) {
            Ok(b) => check_items(&b)?,
            Err(e) => names_a_line_or_field(&e)?,
        }
    }

    #[test]
    fn any_bytes_as_csv_are_read_or_refused(
        body in proptest::collection::vec(any::<u8>(), 0..300),
        what in what(),
    ) {
        match parse_csv(&body, what) {
            Ok(b) => check_items(&b)?,
            Err(e) => names_a_line_or_field(&e)?,
        }
    }

    /// A bad cell is reported on the line its record starts on, counting blank lines and
    /// the line breaks inside quoted cells before it.
    #[test]
    fn a_bad_cell_names_the_line_it_is_on(
        rows in proptest::collection::vec((0usize..3, any::<bool>()), 0..8),
        bad in prop_oneof![Just(("x", "yes")), Just(("1", "maybe")), Just(("-1", "1"))],
    ) {
        let mut body = String::from("class,name,description,min_up,core\n");
        let mut line = 2;
        for (i, (blanks, multiline)) in rows.iter().enumerate() {
            body.push_str(&"\n".repeat(*blanks));
            line += blanks;
            let descr = if *multiline { "\"two\nlines\"" } else { "one line" };
            body.push_str(&format!("application,app{i},{descr},2,yes\n"));
            line += if *multiline { 2 } else { 1 };
        }
        body.push_str(&format!("application,bad,d,{},{}\n", bad.0, bad.1));
        let Err(ServiceError::Invalid(e)) = parse_csv(body.as_bytes(), "cis") else {
            return Err(TestCaseError::fail("the bad row was accepted"));
        };
        prop_assert!(e.starts_with(&format!("csv line {line}: ")), "{e:?}, expected line {line} in\n{body}");
    }

    /// Cells written by a CSV writer read back as their text, trimmed (empty is absent).
    #[test]
    fn csv_cells_read_back(rows in proptest::collection::vec((cell(), cell(), cell(), cell()), 0..6)) {
        let mut w = csv::Writer::from_writer(vec![]);
        w.write_record(["from", "kind", "to", "note"]).map_err(|e| TestCaseError::fail(e.to_string()))?;
        for (a, b, c, d) in &rows {
            w.write_record([a, b, c, d]).map_err(|e| TestCaseError::fail(e.to_string()))?;
        }
        let body = w.into_inner().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let b = parse_csv(&body, "relationships").map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        let trimmed = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        let expected: Vec<_> = rows.iter().collect();
        prop_assert_eq!(b.relationships.len(), expected.len());
        for (r, (from, kind, to, note)) in b.relationships.iter().zip(expected) {
            prop_assert_eq!(Some(r.from.clone()).filter(|s| !s.is_empty()), trimmed(from.as_str()));
            prop_assert_eq!(Some(r.kind.clone()).filter(|s| !s.is_empty()), trimmed(kind.as_str()));
            prop_assert_eq!(Some(r.to.clone()).filter(|s| !s.is_empty()), trimmed(to.as_str()));
            prop_assert_eq!(r.note.clone(), trimmed(note.as_str()));
        }
    }

    /// A JSON body goes the way the HTTP handler takes it: parsed naming the bad field,
    /// then checked item by item.
    #[test]
    fn any_json_bundle_is_read_or_refused(body in json_bundle()) {
        let de = &mut serde_json::Deserializer::from_slice(&body);
        match serde_path_to_error::deserialize::<_, Bundle>(de) {
            Ok(b) => check_items(&b)?,
            Err(e) => {
                let _ = format!("body: {}: {}", e.path(), e.inner());
            }
        }
    }
}

/// Found by `a_bad_cell_names_the_line_it_is_on`: errors named the record's number plus one,
/// which is not its line after a blank line or a quoted cell with a line break.
#[test]
fn csv_errors_name_the_line_after_blank_lines_and_quoted_line_breaks() {
    let body = "class,name,description,min_up\n\
                application,a,\"two\nlines\",2\n\
                \n\
                application,b,d,many\n";
    let Err(ServiceError::Invalid(e)) = parse_csv(body.as_bytes(), "cis") else {
        panic!("the bad row was accepted");
    };
    assert!(e.starts_with("csv line 5: min_up: "), "{e}");
    let ragged = "from,kind,to\n\"a\nb\",depends_on,c\nx,y\n";
    let Err(ServiceError::Invalid(e)) = parse_csv(ragged.as_bytes(), "relationships") else {
        panic!("the ragged row was accepted");
    };
    assert!(e.starts_with("csv line 4: "), "{e}");
}
