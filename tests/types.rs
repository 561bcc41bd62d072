//! Every supported type, read in text and binary formats, compared with what psql prints for
//! the same value; and every type sent back as a binary parameter.

mod common;

use common::*;
use edgepg::proto::types::{Format, Value};
use edgepg::proto::{Request, Statement};

/// SQL expressions covering each type and its edge cases.
const EXPRESSIONS: &[&str] = &[
    "true",
    "false",
    "32767::int2",
    "(-32768)::int2",
    "2147483647::int4",
    "(-2147483648)::int4",
    "9223372036854775807::int8",
    "(-9223372036854775808)::int8",
    "1.5::float4",
    "3.4028235e38::float4",
    "'NaN'::float4",
    "'-Infinity'::float4",
    "1e-7::float4",
    "0.1::float8",
    "1e20::float8",
    "1.5e-5::float8",
    "'Infinity'::float8",
    "(-0.0)::float8",
    "123456789.123::float8",
    "0::numeric",
    "(-12.3400)::numeric",
    "'NaN'::numeric",
    "1e30::numeric",
    "0.000001::numeric",
    "'Infinity'::numeric",
    "123456789012345678901234567890.123456789::numeric",
    "'héllo wörld'::text",
    "''::text",
    "'a\"b\\c'::varchar(10)",
    "'pad'::char(6)",
    "'pg_class'::name",
    "'x'::\"char\"",
    "'\\x00ff10'::bytea",
    "''::bytea",
    "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid",
    "'{\"a\": [1, 2.5, null], \"b\": \"é\"}'::json",
    "'{\"b\": 1, \"a\": [true]}'::jsonb",
    "'2024-02-29'::date",
    "'0044-03-15 BC'::date",
    "'infinity'::date",
    "'-infinity'::date",
    "'03:04:05.678'::time",
    "'23:59:59.999999'::time",
    "'00:00:00'::time",
    "'03:04:05+02'::timetz",
    "'03:04:05.5-05:30'::timetz",
    "'2024-01-02 03:04:05'::timestamp",
    "'2024-01-02 03:04:05.123456'::timestamp",
    "'1999-12-31 23:59:59.5 BC'::timestamp",
    "'infinity'::timestamp",
    "'2024-01-02 03:04:05+00'::timestamptz",
    "'1970-01-01 00:00:00.000001+00'::timestamptz",
    "'2024-06-30 23:00:00-07'::timestamptz",
    "'-infinity'::timestamptz",
    "'1 year 2 mons 3 days 04:05:06.789'::interval",
    "'-1 days +02:03:04'::interval",
    "'0 seconds'::interval",
    "'-00:00:01'::interval",
    "'1 mon -1 day'::interval",
    "12345::oid",
    "'192.168.1.10'::inet",
    "'10.0.0.0/8'::inet",
    "'10.0.0.0/8'::cidr",
    "'::1'::inet",
    "'2001:db8::/32'::cidr",
    "'2001:db8::1/64'::inet",
    "ARRAY[1, 2, NULL]::int4[]",
    "ARRAY[[1, 2], [3, 4]]::int8[]",
    "'{}'::int4[]",
    "'[0:1]={5,6}'::int2[]",
    "ARRAY['a b', '\"q\"', NULL, 'NULL', '', 'x,y', 'back\\slash']::text[]",
    "ARRAY[true, false]",
    "ARRAY[1.5, NULL]::float8[]",
    "ARRAY['1.10', 'NaN']::numeric[]",
    "ARRAY['2024-01-02 03:04:05+00']::timestamptz[]",
    "ARRAY['2024-01-02']::date[]",
    "ARRAY['\\x01'::bytea, NULL]",
    "ARRAY['a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11']::uuid[]",
    "ARRAY['{\"k\": 1}']::jsonb[]",
    "ARRAY['1 day']::interval[]",
    "ARRAY['10.1.2.3']::inet[]",
    "ARRAY['03:04:05']::time[]",
    "ARRAY['x']::varchar[]",
];

#[test]
fn every_type_matches_psql_in_text_and_binary() {
    let mut sql = String::from("SELECT ");
    for (i, e) in EXPRESSIONS.iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&format!("({e})::text"));
    }
    // psql's rendering of every value, one per line (TimeZone UTC via PGTZ).
    let expected: Vec<String> = EXPRESSIONS
        .iter()
        .map(|e| psql(&format!("SELECT {e}")))
        .collect();
    run(async {
        let mut c = connect(&config("EDGEPG_URL_TRUST")).await.unwrap();
        c.run(sql_simple("SET TimeZone = 'UTC'")).await.unwrap();
        for format in [Format::Text, Format::Binary] {
            let mut select = String::from("SELECT ");
            for (i, e) in EXPRESSIONS.iter().enumerate() {
                if i > 0 {
                    select.push_str(", ");
                }
                select.push_str(e);
            }
            let stmt = Statement::new(select).with_result_format(format);
            let r = c.run(Request::statement(stmt)).await.unwrap();
            for (i, e) in EXPRESSIONS.iter().enumerate() {
                let v = r[0]
                    .value(0, i)
                    .unwrap_or_else(|err| panic!("{e} ({format:?}): {err}"));
                assert_eq!(v.to_string(), expected[i], "{e} in {format:?}");
            }
        }
        c.close().await;
    });
    let _ = sql;
}

#[test]
fn every_type_round_trips_as_a_binary_parameter() {
    run(async {
        let mut c = connect(&config("EDGEPG_URL_BOUNCER")).await.unwrap();
        let mut select = String::from("SELECT ");
        for (i, e) in EXPRESSIONS.iter().enumerate() {
            if i > 0 {
                select.push_str(", ");
            }
            select.push_str(e);
        }
        let stmt = Statement::new(select).with_result_format(Format::Binary);
        let r = c.run(Request::statement(stmt)).await.unwrap();
        for (i, e) in EXPRESSIONS.iter().enumerate() {
            let v = r[0].value(0, i).unwrap();
            // Send it back typed and binary; the server echoes it as text.
            let echo = Statement::new("SELECT $1::text IS NOT NULL, $1")
                .bind(&v)
                .unwrap_or_else(|err| panic!("{e}: {err}"))
                .with_result_format(Format::Binary);
            let back = c
                .run(Request::statement(echo))
                .await
                .unwrap_or_else(|err| panic!("{e}: {err}"));
            let original = r[0].value(0, i).unwrap();
            // Compared as text: NaN is not equal to itself.
            assert_eq!(
                back[0].value(0, 1).unwrap().to_string(),
                original.to_string(),
                "{e}"
            );
        }
        // NULL of any type.
        let r = c
            .run(Request::statement(
                Statement::new("SELECT $1::int IS NULL")
                    .bind(&Value::Null)
                    .unwrap(),
            ))
            .await
            .unwrap();
        assert_eq!(r[0].value(0, 0).unwrap(), Value::Bool(true));
        c.close().await;
    });
}

#[test]
fn unknown_types_fall_back_to_text() {
    run(async {
        let mut c = connect(&config("EDGEPG_URL_TRUST")).await.unwrap();
        let r = c
            .run(sql(
                "SELECT '(1,2)'::point, 'fat & rat'::tsquery, '{1,2,3}'::line",
            ))
            .await
            .unwrap();
        assert_eq!(r[0].value(0, 0).unwrap(), Value::Text("(1,2)".into()));
        assert_eq!(
            r[0].value(0, 1).unwrap(),
            Value::Text("'fat' & 'rat'".into())
        );
        c.close().await;
    });
}

fn sql_simple(text: &str) -> Request {
    Request::Simple(text.into())
}
