//! The OIDs of the built-in types edgepg decodes, and of their array types.
//!
//! These are fixed in Postgres' catalog (`pg_type.dat`) and identical on every server.

use super::Oid;

/// `bool`.
pub const BOOL: Oid = 16;
/// `bytea`.
pub const BYTEA: Oid = 17;
/// `"char"`, the one-byte internal type.
pub const CHAR: Oid = 18;
/// `name`.
pub const NAME: Oid = 19;
/// `int8`.
pub const INT8: Oid = 20;
/// `int2`.
pub const INT2: Oid = 21;
/// `int4`.
pub const INT4: Oid = 23;
/// `text`.
pub const TEXT: Oid = 25;
/// `oid`.
pub const OID: Oid = 26;
/// `json`.
pub const JSON: Oid = 114;
/// `float4`.
pub const FLOAT4: Oid = 700;
/// `float8`.
pub const FLOAT8: Oid = 701;
/// `unknown`: the type of an untyped string literal.
pub const UNKNOWN: Oid = 705;
/// `cidr`.
pub const CIDR: Oid = 650;
/// `inet`.
pub const INET: Oid = 869;
/// `bpchar` / `char(n)`.
pub const BPCHAR: Oid = 1042;
/// `varchar`.
pub const VARCHAR: Oid = 1043;
/// `date`.
pub const DATE: Oid = 1082;
/// `time`.
pub const TIME: Oid = 1083;
/// `timestamp`.
pub const TIMESTAMP: Oid = 1114;
/// `timestamptz`.
pub const TIMESTAMPTZ: Oid = 1184;
/// `interval`.
pub const INTERVAL: Oid = 1186;
/// `timetz`.
pub const TIMETZ: Oid = 1266;
/// `numeric`.
pub const NUMERIC: Oid = 1700;
/// `uuid`.
pub const UUID: Oid = 2950;
/// `jsonb`.
pub const JSONB: Oid = 3802;

/// `bool[]`.
pub const BOOL_ARRAY: Oid = 1000;
/// `bytea[]`.
pub const BYTEA_ARRAY: Oid = 1001;
/// `"char"[]`.
pub const CHAR_ARRAY: Oid = 1002;
/// `name[]`.
pub const NAME_ARRAY: Oid = 1003;
/// `int8[]`.
pub const INT8_ARRAY: Oid = 1016;
/// `int2[]`.
pub const INT2_ARRAY: Oid = 1005;
/// `int4[]`.
pub const INT4_ARRAY: Oid = 1007;
/// `text[]`.
pub const TEXT_ARRAY: Oid = 1009;
/// `oid[]`.
pub const OID_ARRAY: Oid = 1028;
/// `json[]`.
pub const JSON_ARRAY: Oid = 199;
/// `float4[]`.
pub const FLOAT4_ARRAY: Oid = 1021;
/// `float8[]`.
pub const FLOAT8_ARRAY: Oid = 1022;
/// `cidr[]`.
pub const CIDR_ARRAY: Oid = 651;
/// `inet[]`.
pub const INET_ARRAY: Oid = 1041;
/// `bpchar[]`.
pub const BPCHAR_ARRAY: Oid = 1014;
/// `varchar[]`.
pub const VARCHAR_ARRAY: Oid = 1015;
/// `date[]`.
pub const DATE_ARRAY: Oid = 1182;
/// `time[]`.
pub const TIME_ARRAY: Oid = 1183;
/// `timestamp[]`.
pub const TIMESTAMP_ARRAY: Oid = 1115;
/// `timestamptz[]`.
pub const TIMESTAMPTZ_ARRAY: Oid = 1185;
/// `interval[]`.
pub const INTERVAL_ARRAY: Oid = 1187;
/// `timetz[]`.
pub const TIMETZ_ARRAY: Oid = 1270;
/// `numeric[]`.
pub const NUMERIC_ARRAY: Oid = 1231;
/// `uuid[]`.
pub const UUID_ARRAY: Oid = 2951;
/// `jsonb[]`.
pub const JSONB_ARRAY: Oid = 3807;

/// The element type of a known array type, or `None` if `array_oid` is not one.
pub fn element_oid(array_oid: Oid) -> Option<Oid> {
    ARRAYS
        .iter()
        .find(|&&(_, array)| array == array_oid)
        .map(|&(element, _)| element)
}

/// The array type of a known element type, or `None` if none is known (`unknown` has none).
pub fn array_oid(element_oid: Oid) -> Option<Oid> {
    ARRAYS
        .iter()
        .find(|&&(element, _)| element == element_oid)
        .map(|&(_, array)| array)
}

/// `(element type, array type)` for every type above (`unknown` has no array type).
const ARRAYS: [(Oid, Oid); 25] = [
    (BOOL, BOOL_ARRAY),
    (BYTEA, BYTEA_ARRAY),
    (CHAR, CHAR_ARRAY),
    (NAME, NAME_ARRAY),
    (INT8, INT8_ARRAY),
    (INT2, INT2_ARRAY),
    (INT4, INT4_ARRAY),
    (TEXT, TEXT_ARRAY),
    (OID, OID_ARRAY),
    (JSON, JSON_ARRAY),
    (FLOAT4, FLOAT4_ARRAY),
    (FLOAT8, FLOAT8_ARRAY),
    (CIDR, CIDR_ARRAY),
    (INET, INET_ARRAY),
    (BPCHAR, BPCHAR_ARRAY),
    (VARCHAR, VARCHAR_ARRAY),
    (DATE, DATE_ARRAY),
    (TIME, TIME_ARRAY),
    (TIMESTAMP, TIMESTAMP_ARRAY),
    (TIMESTAMPTZ, TIMESTAMPTZ_ARRAY),
    (INTERVAL, INTERVAL_ARRAY),
    (TIMETZ, TIMETZ_ARRAY),
    (NUMERIC, NUMERIC_ARRAY),
    (UUID, UUID_ARRAY),
    (JSONB, JSONB_ARRAY),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_and_element_oids_are_inverse() {
        for &(element, array) in &ARRAYS {
            assert_eq!(element_oid(array), Some(element));
            assert_eq!(array_oid(element), Some(array));
            assert_eq!(element_oid(element), None, "{element} is not an array type");
        }
        assert_eq!(array_oid(UNKNOWN), None);
        assert_eq!(element_oid(INT4_ARRAY), Some(INT4));
        assert_eq!(array_oid(TEXT), Some(TEXT_ARRAY));
    }
}
