//! How the domain's values go into and come out of SQLite: every status,
//! role, token and timestamp is read back typed, and a value the schema
//! should have prevented is an error naming it, never a silent default.

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

use crate::role::Role;
use crate::status::{DeliveryStatus, Status};
use crate::timestamp::Timestamp;
use crate::token::Token;

fn text<T>(value: ValueRef<'_>, parse: impl FnOnce(&str) -> Result<T, String>) -> FromSqlResult<T> {
    let s = value.as_str()?;
    parse(s).map_err(|e| FromSqlError::Other(e.into()))
}

impl ToSql for Timestamp {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.to_string()))
    }
}

impl FromSql for Timestamp {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        text(value, |s| {
            s.parse()
                .map_err(|e: crate::timestamp::BadTimestamp| e.to_string())
        })
    }
}

impl ToSql for Token {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl FromSql for Token {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        text(value, |s| Ok(Token::from_stored(s.to_string())))
    }
}

/// The closed sets stored by name: `as_str` in, `FromStr` out.
macro_rules! by_name {
    ($($t:ty),*) => {$(
        impl ToSql for $t {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.as_str()))
            }
        }

        impl FromSql for $t {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                text(value, |s| s.parse::<$t>().map_err(|e| e.to_string()))
            }
        }
    )*};
}

by_name!(Status, DeliveryStatus, Role);
