//! Vendor names from IANA private enterprise numbers (the number after `1.3.6.1.4.1.` in a
//! device's sysObjectID). Not the whole registry (over 60,000 entries): the vendors whose
//! equipment is common in data centres and offices. Numbers from
//! <https://www.iana.org/assignments/enterprise-numbers/>.

use super::oid::Oid;

/// `(number, vendor)`, sorted by number.
const VENDORS: &[(u32, &str)] = &[
    (2, "IBM"),
    (9, "Cisco"),
    (11, "HP"),
    (43, "3Com"),
    (171, "D-Link"),
    (207, "Allied Telesis"),
    (232, "Compaq"),
    (253, "Xerox"),
    (311, "Microsoft"),
    (318, "APC"),
    (367, "Ricoh"),
    (476, "Liebert"),
    (534, "Eaton"),
    (641, "Lexmark"),
    (674, "Dell"),
    (789, "NetApp"),
    (890, "Zyxel"),
    (1139, "EMC"),
    (1248, "Epson"),
    (1347, "Kyocera"),
    (1588, "Brocade"),
    (1916, "Extreme Networks"),
    (1991, "Foundry Networks"),
    (2011, "Huawei"),
    (2021, "Net-SNMP (UC Davis)"),
    (2272, "Nortel"),
    (2435, "Brother"),
    (2620, "Check Point"),
    (2636, "Juniper Networks"),
    (3224, "NetScreen"),
    // Shanghai Baud Data Communication (BDCOM).
    (3320, "BDCOM"),
    (3375, "F5 Networks"),
    (3417, "Blue Coat"),
    (3955, "Linksys"),
    (4413, "Broadcom"),
    (4526, "Netgear"),
    (5624, "Enterasys"),
    (6027, "Force10"),
    (6486, "Alcatel-Lucent"),
    (6527, "Nokia (Timetra)"),
    (6876, "VMware"),
    (6889, "Avaya"),
    (7779, "Infoblox"),
    (8072, "Net-SNMP"),
    (8741, "SonicWall"),
    (10418, "Avocent"),
    (11863, "TP-Link"),
    (12356, "Fortinet"),
    (14179, "Cisco (Airespace)"),
    (14823, "Aruba Networks"),
    (14988, "MikroTik"),
    (17713, "Cambium Networks"),
    (25461, "Palo Alto Networks"),
    (25506, "H3C"),
    (30065, "Arista Networks"),
    (41112, "Ubiquiti"),
];

const ENTERPRISES: [u32; 6] = [1, 3, 6, 1, 4, 1];

/// The enterprise number of a sysObjectID, if it lies under `1.3.6.1.4.1`.
pub fn number(sys_object_id: &Oid) -> Option<u32> {
    sys_object_id
        .0
        .strip_prefix(&ENTERPRISES[..])
        .and_then(|rest| rest.first().copied())
}

/// The vendor of an enterprise number, if it is in the table.
pub fn vendor(number: u32) -> Option<&'static str> {
    VENDORS
        .binary_search_by_key(&number, |(n, _)| *n)
        .ok()
        .map(|i| VENDORS[i].1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oid;

    #[test]
    fn the_table_is_sorted_for_binary_search() {
        assert!(VENDORS.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn sys_object_ids_name_their_vendor() {
        let c3560 = oid!("1.3.6.1.4.1.9.1.516");
        assert_eq!(number(&c3560), Some(9));
        assert_eq!(vendor(9), Some("Cisco"));
        assert_eq!(
            number(&oid!("1.3.6.1.4.1.2636.1.1.1.2.25")).and_then(vendor),
            Some("Juniper Networks")
        );
        assert_eq!(number(&oid!("1.3.6.1.2.1.1")), None);
        assert_eq!(vendor(99_999), None);
    }
}
