//! Property tests of walk assembly, with generated walks: whatever OIDs and values a device
//! answers with (wrong types, extreme numbers, odd row indexes, rows missing columns), the
//! inventory is built without a panic, does not depend on the order the varbinds arrived
//! in, and keeps the bounds the server checks. `PROPTEST_CASES` sets the number of cases
//! (256 by default).

use std::sync::LazyLock;

use proptest::prelude::*;
use proptest::sample::Index;

use super::*;

/// Numbers at the edges of every type, and small ones (enumerations, row indexes).
fn int() -> impl Strategy<Value = i64> {
    prop_oneof![
        Just(i64::MIN),
        Just(i64::MAX),
        Just(-1),
        Just(0),
        -3i64..300,
        any::<i64>(),
    ]
}

fn unsigned32() -> impl Strategy<Value = u32> {
    prop_oneof![Just(0), Just(u32::MAX), 0u32..300, any::<u32>()]
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..24),
        any::<String>().prop_map(String::into_bytes),
        proptest::collection::vec(any::<u8>(), 6..=6),
        proptest::collection::vec(any::<u8>(), 16..=17),
    ]
}

fn component() -> impl Strategy<Value = u32> {
    prop_oneof![6 => 0u32..10, 2 => 0u32..300, 1 => Just(u32::MAX), 1 => any::<u32>()]
}

fn any_oid() -> impl Strategy<Value = Oid> {
    proptest::collection::vec(component(), 0..12).prop_map(Oid)
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        int().prop_map(Value::Integer),
        bytes().prop_map(Value::OctetString),
        any_oid().prop_map(Value::ObjectId),
        any::<[u8; 4]>().prop_map(Value::IpAddress),
        unsigned32().prop_map(Value::Counter32),
        unsigned32().prop_map(Value::Gauge32),
        unsigned32().prop_map(Value::TimeTicks),
        prop_oneof![
            Just(u64::MAX),
            Just(i64::MAX as u64 + 1),
            any::<u64>(),
            0u64..1000
        ]
        .prop_map(Value::Counter64),
        bytes().prop_map(Value::Opaque),
        Just(Value::Null),
    ]
}

/// An OID where the parsers look: under one of the walked subtrees, usually in a table
/// entry (`…entry.column.index…`), with any index.
fn mib_oid() -> impl Strategy<Value = Oid> {
    let roots: Vec<Oid> = SUBTREES
        .iter()
        .chain(COLUMNS.iter().map(|(e, _)| e))
        .map(|s| oid(s))
        .collect();
    (
        proptest::sample::select(roots),
        proptest::option::weighted(0.8, Just(1u32)),
        0u32..25,
        proptest::collection::vec(component(), 0..8),
    )
        .prop_map(|(root, entry, column, index)| {
            let mut more: Vec<u32> = entry.into_iter().collect();
            more.push(column);
            more.extend(index);
            root.child(&more)
        })
}

fn varbinds() -> impl Strategy<Value = Vec<(Oid, Value)>> {
    proptest::collection::vec(
        (prop_oneof![9 => mib_oid(), 1 => any_oid()], value()),
        0..60,
    )
}

/// Recordings of real devices, read once.
static FIXTURES: LazyLock<Vec<Walk>> = LazyLock::new(|| {
    [
        "cisco-c3560.snmprec",
        "juniper-mx960-12-3r6-6.snmprec",
        "hpe-procurve-516733-b21.snmprec",
        "h3c-e528-2.snmprec",
    ]
    .into_iter()
    .map(fixture)
    .collect()
});

/// A real device's walk with some values replaced by anything, some varbinds dropped and
/// some added: realistic tables with hostile cells.
fn mutated_fixture() -> impl Strategy<Value = Walk> {
    (
        0..FIXTURES.len(),
        proptest::collection::vec((any::<Index>(), value()), 0..40),
        proptest::collection::vec(any::<Index>(), 0..20),
        varbinds(),
    )
        .prop_map(|(f, replaced, dropped, added)| {
            let mut all: Vec<(Oid, Value)> = FIXTURES[f].0.clone().into_iter().collect();
            for (at, v) in replaced {
                let i = at.index(all.len());
                all[i].1 = v;
            }
            for at in dropped {
                if !all.is_empty() {
                    all.remove(at.index(all.len()));
                }
            }
            let mut w = Walk(all.into_iter().collect());
            for (o, v) in added {
                w.insert(o, v);
            }
            w
        })
}

/// What the server checks of numbers (`ingest::validate`), which a walk must not break.
fn check_bounds(inv: &DeviceInventory, walk: &Walk) -> Result<(), TestCaseError> {
    let max = i64::MAX as u64;
    for s in &inv.storage {
        prop_assert!(s.size_bytes <= max && s.used_bytes <= max);
    }
    for p in &inv.processors {
        prop_assert!(p.load_percent <= 100);
    }
    for i in &inv.interfaces {
        prop_assert!(i.speed_mbps.is_none_or(|s| s <= max));
    }
    for c in interfaces::counters(walk) {
        for n in [
            c.in_octets,
            c.out_octets,
            c.in_errors,
            c.out_errors,
            c.in_discards,
            c.out_discards,
        ]
        .into_iter()
        .flatten()
        {
            prop_assert!(n <= max);
        }
    }
    for m in inv
        .interfaces
        .iter()
        .filter_map(|i| i.mac.as_deref())
        .chain(inv.forwarding.iter().map(|f| f.mac.as_str()))
        .chain(inv.arp.iter().map(|a| a.mac.as_str()))
        .chain(inv.base_bridge_mac.as_deref())
    {
        let canonical = cmdb_shared::ident::normalize_mac(m);
        prop_assert_eq!(canonical.as_deref(), Some(m));
    }
    for a in inv
        .addresses
        .iter()
        .map(|a| a.address.as_str())
        .chain(inv.arp.iter().map(|a| a.ip.as_str()))
    {
        prop_assert!(a.parse::<std::net::IpAddr>().is_ok(), "{a:?}");
    }
    Ok(())
}

proptest! {
    #[test]
    fn any_walk_assembles_an_inventory(varbinds in varbinds()) {
        let walk = Walk(varbinds.into_iter().collect());
        let inv = inventory("192.0.2.1", &walk);
        system::uptime(&walk);
        check_bounds(&inv, &walk)?;
    }

    #[test]
    fn a_real_walk_with_hostile_cells_assembles_an_inventory(walk in mutated_fixture()) {
        let inv = inventory("192.0.2.1:1161", &walk);
        prop_assert_eq!(&inv, &inventory("192.0.2.1:1161", &walk), "not deterministic");
        check_bounds(&inv, &walk)?;
    }

    /// The poller keeps the first answer for an OID (`Walk::insert_new`) in whatever order
    /// the varbinds came: with distinct OIDs, the order changes nothing.
    #[test]
    fn the_order_of_the_answers_does_not_matter(
        shuffled in varbinds()
            .prop_map(|v| {
                let mut seen = std::collections::BTreeSet::new();
                v.into_iter().filter(|(o, _)| seen.insert(o.clone())).collect::<Vec<_>>()
            })
            .prop_flat_map(|v| (Just(v.clone()), Just(v).prop_shuffle())),
    ) {
        let (in_order, shuffled) = shuffled;
        let mut a = Walk::default();
        for (o, v) in in_order {
            prop_assert!(a.insert_new(o, v));
        }
        let mut b = Walk::default();
        for (o, v) in shuffled {
            prop_assert!(b.insert_new(o, v));
        }
        prop_assert_eq!(inventory("t", &a), inventory("t", &b));
        prop_assert_eq!(interfaces::counters(&a), interfaces::counters(&b));
    }
}

/// Found by `a_real_walk_with_hostile_cells_assembles_an_inventory`: an enumerated column
/// (ifAdminStatus here) holding INTEGER i64::MIN overflowed `n - 1` and panicked.
#[test]
fn an_enumeration_holding_the_smallest_integer_is_no_name() {
    assert_eq!(enum_name(&["up", "down"], Some(i64::MIN)), None);
    assert_eq!(enum_name(&["up", "down"], Some(1)), Some("up"));
    let mut walk = Walk::default();
    walk.insert(
        oid("1.3.6.1.2.1.2.2.1.2.1"),
        Value::OctetString(b"Gi1/0/1".to_vec()),
    );
    walk.insert(oid("1.3.6.1.2.1.2.2.1.7.1"), Value::Integer(i64::MIN));
    let inv = inventory("t", &walk);
    assert_eq!(inv.interfaces.len(), 1);
    assert_eq!(inv.interfaces[0].admin_status, None);
}
