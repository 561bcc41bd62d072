//! One request's response as it arrives: its results assembled from RowDescription, DataRow and
//! CommandComplete, its error, its row-size limit, and the rows a caller may take out while the
//! statement still runs. The [`Connection`](crate::proto::Connection) owns one per request in
//! flight and does what concerns the whole connection (events, transaction status, output).

use std::collections::VecDeque;

use postgres_protocol::message::backend::{ErrorResponseBody, Message, RowDescriptionBody};

use crate::error::{DbError, Error, Kind, Result};
use crate::proto::connection::{RequestId, TransactionStatus};
use crate::proto::message::db_error;
use crate::proto::query::{Column, QueryResult, Row, rows_affected};
use crate::proto::statements::StatementCache;
use crate::proto::types::Format;

/// A request written to the server and not yet answered by ReadyForQuery.
pub(crate) struct InFlight {
    pub(crate) id: RequestId,
    results: Vec<QueryResult>,
    current: Option<QueryResult>,
    error: Option<Error>,
    result_bytes: usize,
    pub(crate) deadline: Option<u64>,
    /// The named statements parsed, in order: cache key and name. With the cache on every
    /// Parse is named, so each ParseComplete answers the first of them.
    parses: VecDeque<(String, String)>,
}

/// What a message means for the connection beyond this request.
pub(crate) enum Next {
    /// Nothing more.
    Continue,
    /// The server wants COPY FROM STDIN data: refuse it with CopyFail.
    RefuseCopyIn,
    /// A FATAL or PANIC: the server closes after it.
    Fatal(Box<DbError>),
    /// ReadyForQuery: this request is answered.
    Done(TransactionStatus),
}

/// Rows of a statement still running, taken out of the connection by
/// [`Connection::take_rows`](crate::proto::Connection::take_rows).
#[derive(Debug)]
pub struct TakenRows<'a> {
    /// The request they belong to.
    pub id: RequestId,
    /// The statement's position in its request (0 for the first).
    pub statement: usize,
    /// The statement's columns.
    pub columns: &'a [Column],
    /// The rows, in order; later rows follow in the next take or in the final result.
    pub rows: Vec<Row>,
}

impl InFlight {
    pub(crate) fn new(
        id: RequestId,
        parses: Vec<(String, String)>,
        deadline: Option<u64>,
    ) -> InFlight {
        InFlight {
            id,
            results: Vec::new(),
            current: None,
            error: None,
            result_bytes: 0,
            deadline,
            parses: parses.into(),
        }
    }

    /// The request's answer, once ReadyForQuery arrived.
    pub(crate) fn into_result(self) -> Result<Vec<QueryResult>> {
        match self.error {
            Some(e) => Err(e),
            None => Ok(self.results),
        }
    }

    /// The rows of the running statement, when they hold at least `min_bytes` and the request
    /// has not failed (its rows will not be returned then).
    pub(crate) fn take_rows(&mut self, min_bytes: usize) -> Option<TakenRows<'_>> {
        if self.error.is_some() {
            return None;
        }
        let current = self.current.as_mut()?;
        let held: usize = current.rows.iter().map(Row::byte_len).sum();
        if held < min_bytes.max(1) {
            return None;
        }
        Some(TakenRows {
            id: self.id,
            statement: self.results.len(),
            columns: &current.columns,
            rows: std::mem::take(&mut current.rows),
        })
    }

    /// Feeds one message of this request's response.
    pub(crate) fn handle(
        &mut self,
        message: Message,
        max_result_bytes: usize,
        statements: &mut StatementCache,
    ) -> Result<Next> {
        match message {
            Message::ParseComplete => {
                if let Some((key, name)) = self.parses.pop_front() {
                    statements.parsed(key, name);
                }
            }
            Message::BindComplete | Message::CloseComplete | Message::ParameterDescription(_) => {}
            Message::RowDescription(body) => {
                self.current = Some(QueryResult {
                    columns: columns(&body)?,
                    ..QueryResult::default()
                });
            }
            Message::NoData => self.current = Some(QueryResult::default()),
            Message::DataRow(body) => {
                let Some(current) = self.current.as_mut() else {
                    return Err(Error::protocol("DataRow arrived before RowDescription"));
                };
                let data = body.buffer_bytes().clone();
                let columns = fallible_iterator::FallibleIterator::size_hint(&body.ranges()).0;
                let columns = u16::try_from(columns).unwrap_or(u16::MAX);
                let row = Row::parse(data, columns, current.columns.len())?;
                self.result_bytes = self.result_bytes.saturating_add(row.byte_len());
                if self.result_bytes > max_result_bytes {
                    self.error.get_or_insert_with(|| {
                        Error::new(
                            Kind::TooLarge,
                            format!(
                                "the result exceeds max_result_bytes ({max_result_bytes}): add \
                                 a LIMIT, select fewer columns, or raise the limit"
                            ),
                        )
                    });
                    current.rows = Vec::new();
                } else {
                    current.rows.push(row);
                }
            }
            Message::CommandComplete(body) => {
                let tag = body.tag().map_err(bad_utf8)?;
                let mut result = self.current.take().unwrap_or_default();
                result.rows_affected = rows_affected(tag);
                result.command = tag.to_string();
                self.results.push(result);
            }
            Message::EmptyQueryResponse | Message::PortalSuspended => {
                let result = self.current.take().unwrap_or_default();
                self.results.push(result);
            }
            Message::ErrorResponse(body) => return self.failed(&body, statements),
            Message::CopyInResponse(_) => return Ok(Next::RefuseCopyIn),
            Message::CopyOutResponse(_) => {
                self.error.get_or_insert_with(|| {
                    Error::new(
                        Kind::Unsupported,
                        "COPY TO STDOUT is not supported by edgepg",
                    )
                });
            }
            Message::CopyData(_) | Message::CopyDone => {}
            Message::ReadyForQuery(body) => {
                return Ok(Next::Done(transaction_status(body.status())?));
            }
            _ => {
                return Err(Error::protocol(
                    "the server sent an unexpected message for the request",
                ));
            }
        }
        Ok(Next::Continue)
    }

    /// The server's ErrorResponse for this request. Out of line, as [`columns`]: `handle`
    /// is inlined into the connection's hot loop (see `Connection::dispatch`).
    #[inline(never)]
    fn failed(
        &mut self,
        body: &ErrorResponseBody,
        statements: &mut StatementCache,
    ) -> Result<Next> {
        let db = db_error(body.fields())?;
        self.current = None;
        if StatementCache::invalidated_by(&db.code, &db.message) {
            statements.forget();
        }
        if db.severity == "FATAL" || db.severity == "PANIC" {
            return Ok(Next::Fatal(Box::new(db)));
        }
        // The server's error wins over a size limit hit first.
        if self
            .error
            .as_ref()
            .is_none_or(|e| e.kind() == Kind::TooLarge)
        {
            self.error = Some(Error::db(db));
        }
        Ok(Next::Continue)
    }
}

/// The columns a RowDescription describes.
#[inline(never)]
fn columns(body: &RowDescriptionBody) -> Result<Vec<Column>> {
    let mut columns = Vec::new();
    let mut fields = body.fields();
    while let Some(f) = fallible_iterator::FallibleIterator::next(&mut fields)
        .map_err(|e| Error::protocol(format!("malformed RowDescription: {e}")))?
    {
        columns.push(Column {
            name: f.name().to_string(),
            table_oid: f.table_oid(),
            column_id: f.column_id(),
            type_oid: f.type_oid(),
            type_modifier: f.type_modifier(),
            format: if f.format() == 1 {
                Format::Binary
            } else {
                Format::Text
            },
        });
    }
    Ok(columns)
}

pub(crate) fn transaction_status(byte: u8) -> Result<TransactionStatus> {
    match byte {
        b'I' => Ok(TransactionStatus::Idle),
        b'T' => Ok(TransactionStatus::InTransaction),
        b'E' => Ok(TransactionStatus::Failed),
        _ => Err(Error::protocol("ReadyForQuery carries an unknown status")),
    }
}

pub(crate) fn bad_utf8(e: std::io::Error) -> Error {
    Error::protocol(format!("the server sent a malformed string: {e}"))
}
