//! Every supported type, compared with what psql prints for the same value.
mod common;
