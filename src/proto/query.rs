//! Requests (statements to run) and their results.
//!
//! A [`Request`] is the unit the connection answers: one or more statements followed by a single
//! Sync. Statements of one request run in one implicit transaction (unless the request itself
//! holds BEGIN/COMMIT): if one fails, the server skips the rest up to the Sync and rolls the
//! implicit transaction back. Several requests may be submitted back to back; they are written
//! together, each with its own Sync, and answered in order.
//!
//! Every statement uses the **unnamed** prepared statement and portal, so nothing outlives the
//! request on the server: safe behind transaction-mode poolers.

use bytes::{Bytes, BytesMut};
use postgres_protocol::IsNull;
use postgres_protocol::message::frontend;

use crate::error::{Error, Result};
use crate::proto::statements::{Plan, StatementCache};
use crate::proto::types::{Format, Oid, Value, decode};

/// One statement of the extended protocol with its parameters.
#[derive(Clone, Debug)]
pub struct Statement {
    /// The SQL text, with `$1`, `$2`, … placeholders.
    pub sql: String,
    /// Parameters, in placeholder order.
    pub params: Vec<Param>,
    /// The format the server should send result columns in.
    pub result_format: Format,
}

/// One bound parameter: its type (0 lets the server infer it), its format and its bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    /// The parameter's type OID, or 0 for "infer from the query".
    pub oid: Oid,
    /// The format of `value`.
    pub format: Format,
    /// The encoded value; `None` is SQL NULL.
    pub value: Option<Bytes>,
}

/// What a request runs.
#[derive(Clone, Debug)]
pub enum Request {
    /// Extended-protocol statements followed by one Sync.
    Extended(Vec<Statement>),
    /// A simple-protocol query string (may hold several `;`-separated statements, no
    /// parameters, text results).
    Simple(String),
}

/// The result of one statement.
#[derive(Clone, Debug, Default)]
pub struct QueryResult {
    /// The result columns (empty for statements that return no rows).
    pub columns: Vec<Column>,
    /// The rows, still encoded.
    pub rows: Vec<Row>,
    /// The command tag (`SELECT 3`, `INSERT 0 1`, …); empty for an empty query.
    pub command: String,
    /// The row count from the command tag, when it has one.
    pub rows_affected: Option<u64>,
}

/// A result column, from RowDescription.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column {
    /// The column name.
    pub name: String,
    /// OID of the table the column comes from, or 0.
    pub table_oid: Oid,
    /// Attribute number of the column in its table, or 0.
    pub column_id: i16,
    /// The data type OID.
    pub type_oid: Oid,
    /// The type modifier (e.g. varchar length), or -1.
    pub type_modifier: i32,
    /// The format the values come in.
    pub format: Format,
}

/// One row, as the server sent it. Its layout was checked on arrival, so reading it cannot fail.
#[derive(Clone, Debug)]
pub struct Row {
    data: Bytes,
    columns: u16,
}

impl Statement {
    /// A statement with no parameters and text results.
    pub fn new(sql: impl Into<String>) -> Statement {
        Statement {
            sql: sql.into(),
            params: Vec::new(),
            result_format: Format::Text,
        }
    }

    /// Adds a typed parameter (binary, with the value's OID).
    pub fn bind(mut self, value: &Value) -> Result<Statement> {
        self.params.push(Param::typed(value)?);
        Ok(self)
    }

    /// Adds a parameter whose type the server infers from the query (text format).
    pub fn bind_text(mut self, text: Option<&str>) -> Statement {
        self.params.push(Param::untyped(text));
        self
    }

    /// Asks for results in the given format.
    pub fn with_result_format(mut self, format: Format) -> Statement {
        self.result_format = format;
        self
    }

    /// Appends Parse (when `parse`), Bind, Describe and Execute for statement `name`
    /// (`""`: the unnamed one) to `buf`.
    pub(crate) fn encode(&self, buf: &mut BytesMut, name: &str, parse: bool) -> Result<()> {
        if self.params.len() > i16::MAX as usize {
            return Err(Error::encode(format!(
                "too many parameters ({}): Postgres accepts at most 32767",
                self.params.len()
            )));
        }
        let io = |e: std::io::Error| Error::encode(e.to_string());
        if parse {
            frontend::parse(name, &self.sql, self.params.iter().map(|p| p.oid), buf).map_err(io)?;
        }
        let result = frontend::bind(
            "",
            name,
            self.params.iter().map(|p| p.format as i16),
            self.params.iter(),
            |p, buf| match &p.value {
                Some(v) => {
                    buf.extend_from_slice(v);
                    Ok(IsNull::No)
                }
                None => Ok(IsNull::Yes),
            },
            Some(self.result_format as i16),
            buf,
        );
        match result {
            Ok(()) => {}
            Err(frontend::BindError::Conversion(e)) => return Err(Error::encode(e.to_string())),
            Err(frontend::BindError::Serialization(e)) => return Err(io(e)),
        }
        frontend::describe(b'P', "", buf).map_err(io)?;
        frontend::execute("", 0, buf).map_err(io)?;
        Ok(())
    }
}

impl Param {
    /// A parameter in binary format with the value's own type OID.
    pub fn typed(value: &Value) -> Result<Param> {
        if value.is_null() {
            return Ok(Param {
                oid: 0,
                format: Format::Binary,
                value: None,
            });
        }
        let mut buf = BytesMut::new();
        value.encode_binary(&mut buf)?;
        Ok(Param {
            oid: value.oid(),
            format: Format::Binary,
            value: Some(buf.freeze()),
        })
    }

    /// A text parameter whose type the server infers (`None` is NULL).
    pub fn untyped(text: Option<&str>) -> Param {
        Param {
            oid: 0,
            format: Format::Text,
            value: text.map(|t| Bytes::copy_from_slice(t.as_bytes())),
        }
    }
}

impl Request {
    /// A request of one statement.
    pub fn statement(statement: Statement) -> Request {
        Request::Extended(vec![statement])
    }

    /// Appends the request's messages (including its Sync) to `buf`, naming statements as
    /// `cache` decides (and closing what it evicted, ahead of an extended request). Returns
    /// the cache key and name of each named statement parsed, in order.
    pub(crate) fn encode(
        &self,
        buf: &mut BytesMut,
        cache: &mut StatementCache,
    ) -> Result<Vec<(String, String)>> {
        let io = |e: std::io::Error| Error::encode(e.to_string());
        let mut parses = Vec::new();
        match self {
            Request::Extended(statements) => {
                for name in cache.take_closes() {
                    frontend::close(b'S', &name, buf).map_err(io)?;
                }
                for s in statements {
                    match cache.plan(s) {
                        Plan::Unnamed => s.encode(buf, "", true)?,
                        Plan::Cached(name) => s.encode(buf, &name, false)?,
                        Plan::Prepare { name, key } => {
                            s.encode(buf, &name, true)?;
                            parses.push((key, name));
                        }
                    }
                }
                frontend::sync(buf);
            }
            Request::Simple(sql) => frontend::query(sql, buf).map_err(io)?,
        }
        Ok(parses)
    }
}

impl QueryResult {
    /// Decodes the value at (`row`, `column`); `Value::Null` for NULL or out-of-range indexes.
    pub fn value(&self, row: usize, column: usize) -> Result<Value> {
        let (Some(r), Some(c)) = (self.rows.get(row), self.columns.get(column)) else {
            return Ok(Value::Null);
        };
        match r.get(column) {
            Some(raw) => decode(c.type_oid, c.format, raw),
            None => Ok(Value::Null),
        }
    }

    /// Decodes every row into values.
    pub fn decoded(&self) -> Result<Vec<Vec<Value>>> {
        self.rows
            .iter()
            .map(|r| {
                r.values()
                    .zip(&self.columns)
                    .map(|(raw, c)| match raw {
                        Some(raw) => decode(c.type_oid, c.format, raw),
                        None => Ok(Value::Null),
                    })
                    .collect()
            })
            .collect()
    }
}

impl Row {
    /// Checks a DataRow body (column count, then length-prefixed values) and wraps it.
    pub(crate) fn parse(data: Bytes, columns: u16, expected: usize) -> Result<Row> {
        if columns as usize != expected {
            return Err(Error::protocol(format!(
                "DataRow has {columns} values but RowDescription announced {expected}"
            )));
        }
        let mut at = 0usize;
        for _ in 0..columns {
            let len = data
                .get(at..at + 4)
                .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
                .ok_or_else(|| Error::protocol("DataRow is truncated"))?;
            at += 4;
            if len >= 0 {
                at = at
                    .checked_add(len as usize)
                    .filter(|&end| end <= data.len())
                    .ok_or_else(|| Error::protocol("DataRow value overruns the message"))?;
            } else if len != -1 {
                return Err(Error::protocol("DataRow has a negative value length"));
            }
        }
        if at != data.len() {
            return Err(Error::protocol("DataRow has trailing bytes"));
        }
        Ok(Row { data, columns })
    }

    /// The number of values.
    pub fn len(&self) -> usize {
        self.columns as usize
    }

    /// True for a row of no columns.
    pub fn is_empty(&self) -> bool {
        self.columns == 0
    }

    /// The raw value of column `index` (`None` for NULL or out of range).
    pub fn get(&self, index: usize) -> Option<&[u8]> {
        self.values().nth(index).flatten()
    }

    /// The raw values in column order (`None` for NULL).
    pub fn values(&self) -> RowValues<'_> {
        RowValues {
            data: &self.data,
            at: 0,
            left: self.columns,
        }
    }

    /// The size of the row's encoded values in bytes.
    pub fn byte_len(&self) -> usize {
        self.data.len()
    }
}

/// Iterator over a row's raw values.
pub struct RowValues<'a> {
    data: &'a [u8],
    at: usize,
    left: u16,
}

impl<'a> Iterator for RowValues<'a> {
    type Item = Option<&'a [u8]>;

    fn next(&mut self) -> Option<Option<&'a [u8]>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        // The layout was validated in `Row::parse`.
        let b = self.data.get(self.at..self.at + 4)?;
        let len = i32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        self.at += 4;
        if len < 0 {
            return Some(None);
        }
        let value = self.data.get(self.at..self.at + len as usize)?;
        self.at += len as usize;
        Some(Some(value))
    }
}

/// The row count in a command tag (`INSERT 0 5` → 5, `SELECT 3` → 3, `CREATE TABLE` → None).
pub(crate) fn rows_affected(tag: &str) -> Option<u64> {
    let mut words = tag.split(' ');
    match words.next()? {
        "INSERT" | "SELECT" | "UPDATE" | "DELETE" | "MERGE" | "FETCH" | "MOVE" | "COPY" => {
            tag.rsplit(' ').next()?.parse().ok()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row_bytes(values: &[Option<&[u8]>]) -> Bytes {
        let mut b = BytesMut::new();
        for v in values {
            match v {
                Some(v) => {
                    b.extend_from_slice(&(v.len() as i32).to_be_bytes());
                    b.extend_from_slice(v);
                }
                None => b.extend_from_slice(&(-1i32).to_be_bytes()),
            }
        }
        b.freeze()
    }

    #[test]
    fn row_layout() {
        let row = Row::parse(row_bytes(&[Some(b"1"), None, Some(b"")]), 3, 3).unwrap();
        let values: Vec<_> = row.values().collect();
        assert_eq!(values, vec![Some(&b"1"[..]), None, Some(&b""[..])]);
        assert_eq!(row.get(0), Some(&b"1"[..]));
        assert_eq!(row.get(1), None);
    }

    #[test]
    fn malformed_rows() {
        let good = row_bytes(&[Some(b"abc")]);
        assert!(Row::parse(good.clone(), 2, 2).is_err());
        assert!(Row::parse(good.clone(), 1, 2).is_err());
        assert!(Row::parse(good.slice(..5), 1, 1).is_err());
        let mut trailing = BytesMut::from(&good[..]);
        trailing.extend_from_slice(b"x");
        assert!(Row::parse(trailing.freeze(), 1, 1).is_err());
        assert!(Row::parse(row_bytes(&[]).slice(..0), 0, 0).is_ok());
        let neg = Bytes::from_static(&[0xff, 0xff, 0xff, 0xfe]);
        assert!(Row::parse(neg, 1, 1).is_err());
        let huge = Bytes::from_static(&[0x7f, 0xff, 0xff, 0xff]);
        assert!(Row::parse(huge, 1, 1).is_err());
    }

    #[test]
    fn command_tags() {
        assert_eq!(rows_affected("INSERT 0 5"), Some(5));
        assert_eq!(rows_affected("SELECT 3"), Some(3));
        assert_eq!(rows_affected("UPDATE 0"), Some(0));
        assert_eq!(rows_affected("CREATE TABLE"), None);
        assert_eq!(rows_affected("BEGIN"), None);
    }
}
