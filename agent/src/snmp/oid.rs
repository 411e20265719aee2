//! Object identifiers, SNMP values and walked subtrees.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// An object identifier. Ordered as SNMP orders them (component by component, a prefix
/// first), which is what a walk must follow.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Oid(pub Vec<u32>);

impl Oid {
    /// True if `self` lies under `prefix` (or is it).
    pub fn starts_with(&self, prefix: &Oid) -> bool {
        self.0.starts_with(&prefix.0)
    }

    /// The components after `prefix`, if `self` lies under it.
    pub fn suffix(&self, prefix: &Oid) -> Option<&[u32]> {
        self.0.strip_prefix(prefix.0.as_slice())
    }

    /// `self` with more components appended.
    pub fn child(&self, more: &[u32]) -> Oid {
        let mut v = self.0.clone();
        v.extend_from_slice(more);
        Oid(v)
    }
}

/// Error of [`Oid::from_str`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid OID {0:?}: expected numbers separated by dots, like 1.3.6.1.2.1.1.1.0")]
pub struct BadOid(pub String);

impl FromStr for Oid {
    type Err = BadOid;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().trim_start_matches('.');
        if t.is_empty() {
            return Err(BadOid(s.to_string()));
        }
        t.split('.')
            .map(|c| c.parse::<u32>())
            .collect::<Result<Vec<_>, _>>()
            .map(Oid)
            .map_err(|_| BadOid(s.to_string()))
    }
}

impl fmt::Display for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, c) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

/// Builds an [`Oid`] from a constant dotted string (programming error if malformed).
#[macro_export]
macro_rules! oid {
    ($s:expr) => {
        $s.parse::<$crate::snmp::oid::Oid>()
            .unwrap_or_else(|_| panic!("constant OID {} is malformed", $s))
    };
}

/// A value as an SNMP agent returned it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Integer(i64),
    OctetString(Vec<u8>),
    ObjectId(Oid),
    IpAddress([u8; 4]),
    Counter32(u32),
    Gauge32(u32),
    TimeTicks(u32),
    Counter64(u64),
    Opaque(Vec<u8>),
    Null,
}

impl Value {
    /// The value as an unsigned number, whatever its numeric type.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::Integer(i) => u64::try_from(i).ok(),
            Value::Counter32(n) | Value::Gauge32(n) | Value::TimeTicks(n) => Some(u64::from(n)),
            Value::Counter64(n) => Some(n),
            _ => None,
        }
    }

    /// The value as a signed integer (INTEGER, or an unsigned type that fits).
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::Integer(i) => Some(i),
            _ => self.as_u64().and_then(|n| i64::try_from(n).ok()),
        }
    }

    /// The raw bytes of an OCTET STRING (or Opaque).
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::OctetString(b) | Value::Opaque(b) => Some(b),
            _ => None,
        }
    }
}

/// The varbinds of one or more walked subtrees, sorted by OID however the agent sent them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Walk(pub BTreeMap<Oid, Value>);

impl Walk {
    /// The value at exactly `oid`.
    pub fn get(&self, oid: &Oid) -> Option<&Value> {
        self.0.get(oid)
    }

    /// Every varbind under `prefix`, in OID order.
    pub fn subtree<'a>(&'a self, prefix: &'a Oid) -> impl Iterator<Item = (&'a Oid, &'a Value)> {
        self.0
            .range(prefix.clone()..)
            .take_while(move |(o, _)| o.starts_with(prefix))
    }

    /// A column of a table (`prefix` = the column's OID), keyed by the row index (the OID
    /// components after the column).
    pub fn column<'a>(&'a self, column: &'a Oid) -> impl Iterator<Item = (&'a [u32], &'a Value)> {
        self.subtree(column).filter_map(move |(o, v)| {
            let idx = o.suffix(column)?;
            (!idx.is_empty()).then_some((idx, v))
        })
    }

    /// A table's rows: for each row index, its columns by number (`entry` = the table's
    /// `…Entry` OID, whose children are `entry.column.index…`).
    pub fn table<'a>(&'a self, entry: &'a Oid) -> BTreeMap<Vec<u32>, BTreeMap<u32, &'a Value>> {
        let mut rows: BTreeMap<Vec<u32>, BTreeMap<u32, &'a Value>> = BTreeMap::new();
        for (o, v) in self.subtree(entry) {
            if let Some([col, idx @ ..]) = o.suffix(entry)
                && !idx.is_empty()
            {
                rows.entry(idx.to_vec()).or_default().insert(*col, v);
            }
        }
        rows
    }

    pub fn insert(&mut self, oid: Oid, value: Value) {
        self.0.insert(oid, value);
    }

    /// Inserts unless the OID is already there; true if it was new.
    pub fn insert_new(&mut self, oid: Oid, value: Value) -> bool {
        match self.0.entry(oid) {
            std::collections::btree_map::Entry::Vacant(e) => {
                e.insert(value);
                true
            }
            std::collections::btree_map::Entry::Occupied(_) => false,
        }
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oids_parse_print_and_order_like_snmp() {
        let a: Oid = "1.3.6.1.2.1.2.2.1.2.10".parse().expect("oid");
        assert_eq!(a.to_string(), "1.3.6.1.2.1.2.2.1.2.10");
        assert_eq!(
            ".1.3.6".parse::<Oid>().expect("leading dot"),
            Oid(vec![1, 3, 6])
        );
        let b: Oid = "1.3.6.1.2.1.2.2.1.2.9".parse().expect("oid");
        assert!(b < a, "9 before 10, numerically");
        let prefix: Oid = "1.3.6.1.2.1.2.2.1.2".parse().expect("oid");
        assert!(prefix < b, "a prefix sorts first");
        assert_eq!(a.suffix(&prefix), Some(&[10u32][..]));
        assert!("1.3.x".parse::<Oid>().is_err());
        assert!("".parse::<Oid>().is_err());
        assert!("1.3.99999999999".parse::<Oid>().is_err());
    }

    #[test]
    fn a_walk_answered_out_of_order_reads_in_order_and_tables_group_by_index() {
        let mut w = Walk::default();
        // ifDescr and ifMtu for ifIndex 10 and 2, inserted in the order a confused agent used.
        w.insert(oid!("1.3.6.1.2.1.2.2.1.4.10"), Value::Integer(9000));
        w.insert(
            oid!("1.3.6.1.2.1.2.2.1.2.2"),
            Value::OctetString(b"eth0".to_vec()),
        );
        w.insert(
            oid!("1.3.6.1.2.1.2.2.1.2.10"),
            Value::OctetString(b"eth1".to_vec()),
        );
        w.insert(oid!("1.3.6.1.2.1.2.2.1.4.2"), Value::Integer(1500));
        w.insert(oid!("1.3.6.1.2.1.2.3.0"), Value::Integer(7));
        let entry = oid!("1.3.6.1.2.1.2.2.1");
        let t = w.table(&entry);
        assert_eq!(
            t.keys().cloned().collect::<Vec<_>>(),
            vec![vec![2], vec![10]]
        );
        assert_eq!(t[&vec![10]][&4].as_i64(), Some(9000));
        let descr = entry.child(&[2]);
        let names: Vec<_> = w.column(&descr).map(|(i, _)| i.to_vec()).collect();
        assert_eq!(names, vec![vec![2], vec![10]]);
        assert_eq!(
            w.subtree(&entry).count(),
            4,
            "the neighbouring subtree is not included"
        );
    }
}
