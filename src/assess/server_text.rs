//! Text crossing into and out of the assess functions in the database's encoding: findings and
//! waiver arguments are UTF-8 inside the extension and in the server encoding (LATIN1, ...) outside.
use crate::crypto::encoding;
use crate::error::{GeError, Kind};
use pgrx::callconv::{Arg, ArgAbi, BoxRet, FcInfo};
use pgrx::datum::Datum;
use pgrx::nullable::Nullable;
use pgrx::prelude::*;
use pgrx::{FromDatum, IntoDatum};
use std::ffi::CString;

/// A text result, UTF-8 in Rust, returned in the database encoding.
pub struct ServerText(pub String);
impl_sql_translatable!(ServerText, "text");

/// A jsonb result, built from UTF-8 in Rust, parsed by the server in the database encoding.
pub struct ServerJsonb(pub serde_json::Value);
impl_sql_translatable!(ServerJsonb, "jsonb");

/// A text argument, in the database encoding outside, as UTF-8 inside.
pub struct TextArg(pub String);
impl_sql_translatable!(TextArg, "text");

impl FromDatum for TextArg {
    /// # Safety
    /// As for every `FromDatum`: `datum` is a valid value of `typoid` (here the text argument
    /// PostgreSQL passed), or `is_null` is true.
    unsafe fn from_polymorphic_datum(
        datum: pg_sys::Datum,
        is_null: bool,
        typoid: pg_sys::Oid,
    ) -> Option<Self> {
        // SAFETY: the caller's datum is a text value (the argument's declared type), whose
        // varlena layout is that of the bytes pgrx reads here (detoasted as needed).
        let bytes: Option<&[u8]> =
            unsafe { FromDatum::from_polymorphic_datum(datum, is_null, typoid) };
        bytes.map(|b| TextArg(to_utf8(b)))
    }
}

// SAFETY: unboxed through FromDatum, as pgrx unboxes its own text arguments.
unsafe impl<'fcx> ArgAbi<'fcx> for TextArg {
    unsafe fn unbox_arg_unchecked(arg: Arg<'_, 'fcx>) -> Self {
        // SAFETY: a non-NULL text argument (the caller's guarantee).
        unsafe { arg.unbox_arg_using_from_datum() }.unwrap_or_else(|| TextArg(String::new()))
    }

    unsafe fn unbox_nullable_arg(arg: Arg<'_, 'fcx>) -> Nullable<Self> {
        // SAFETY: a text argument, NULL or not.
        unsafe { arg.unbox_arg_using_from_datum() }.into()
    }
}

/// Bytes of the database encoding as UTF-8. In SQL_ASCII, bytes that are not UTF-8 are shown
/// as replacement characters.
fn to_utf8(bytes: &[u8]) -> String {
    if bytes.is_ascii() {
        return String::from_utf8_lossy(bytes).into_owned();
    }
    let converted = encoding::convert(bytes, encoding::Direction::ToUtf8, || {
        GeError::new(
            Kind::UntranslatableCharacter,
            "an argument holds a character that has no equivalent in UTF-8",
        )
    });
    String::from_utf8_lossy(&converted).into_owned()
}

/// UTF-8 text as bytes of the database encoding. The text came from the database (names as
/// stored) or is ASCII, so every character has an equivalent; one that has not is refused
/// with 22P05.
fn to_server(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    if bytes.is_ascii() {
        return bytes.to_vec();
    }
    encoding::convert(bytes, encoding::Direction::ToServer, || {
        GeError::new(
            Kind::UntranslatableCharacter,
            "a finding holds a character the database encoding lacks",
        )
    })
}

impl IntoDatum for ServerText {
    fn into_datum(self) -> Option<pg_sys::Datum> {
        let bytes = to_server(&self.0);
        // SAFETY: copies `bytes.len()` readable bytes into a new palloc'd text in the current
        // memory context; findings are far below 1 GB, so the length fits an i32.
        Some(unsafe {
            pg_sys::Datum::from(pg_sys::cstring_to_text_with_len(
                bytes.as_ptr().cast(),
                bytes.len() as i32,
            ))
        })
    }

    fn type_oid() -> pg_sys::Oid {
        pg_sys::TEXTOID
    }
}

impl IntoDatum for ServerJsonb {
    fn into_datum(self) -> Option<pg_sys::Datum> {
        // serde_json escapes control characters (NUL included), so the text holds no NUL
        let text = CString::new(to_server(&self.0.to_string())).ok()?;
        // SAFETY: jsonb_in reads the NUL-terminated string, which outlives the call, and
        // returns a new palloc'd jsonb in the current memory context.
        Some(unsafe {
            pg_sys::DirectFunctionCall1Coll(
                Some(jsonb_input),
                pg_sys::InvalidOid,
                pg_sys::Datum::from(text.as_ptr()),
            )
        })
    }

    fn type_oid() -> pg_sys::Oid {
        pg_sys::JSONBOID
    }
}

/// Returned as the datum `into_datum` builds, as pgrx returns its own text and jsonb.
macro_rules! box_ret_by_datum {
    ($($ty:ty),*) => {
        $(
            // SAFETY: the datum is a valid value of the declared SQL type (text or jsonb),
            // palloc'd in the current memory context, as pgrx returns String and JsonB.
            unsafe impl BoxRet for $ty {
                unsafe fn box_into<'fcx>(self, fcinfo: &mut FcInfo<'fcx>) -> Datum<'fcx> {
                    match self.into_datum() {
                        // SAFETY: see above; the function returns the datum at once.
                        Some(datum) => unsafe { fcinfo.return_raw_datum(datum) },
                        None => fcinfo.return_null(),
                    }
                }
            }
        )*
    };
}
box_ret_by_datum!(ServerText, ServerJsonb);

/// PostgreSQL's `jsonb_in`, callable through DirectFunctionCall.
///
/// # Safety
/// Called only through `DirectFunctionCall1Coll` by `ServerJsonb::into_datum`, whose call
/// frame holds one NUL-terminated string argument.
#[pg_guard]
unsafe extern "C-unwind" fn jsonb_input(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    // SAFETY: fcinfo is the call frame DirectFunctionCall1Coll built with one cstring argument.
    unsafe { pg_sys::jsonb_in(fcinfo) }
}
