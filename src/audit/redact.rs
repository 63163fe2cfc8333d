//! Password redaction: finds the string literal after every PASSWORD keyword of a SQL text (or
//! of a log line quoting one) and replaces it, so that passwords and verifiers reach neither the
//! audit trail nor the server log. A small lexer, not a parser: it knows quotes and comments.
use pgrx::pg_sys;
use std::borrow::Cow;
use std::ffi::{c_char, CStr, CString};

static mut PREVIOUS_EMIT_LOG_HOOK: pg_sys::emit_log_hook_type = None;

/// Install the log hook (from `_PG_init`, under shared_preload_libraries): every message on
/// its way to the server log or the client has its password literals replaced, and the
/// STATEMENT line of a statement that carries one is replaced by its redacted text.
pub fn init() {
    // SAFETY: called once while the library is preloaded, before any backend logs; the
    // previous hook is kept and called by ours.
    unsafe {
        PREVIOUS_EMIT_LOG_HOOK = pg_sys::emit_log_hook;
        pg_sys::emit_log_hook = Some(redact_log_message);
    }
}

/// The emit_log_hook. It runs inside error reporting, so it must not raise: nothing in it can
/// fail but allocation, which PostgreSQL handles itself.
///
/// # Safety
/// Called only by PostgreSQL as `emit_log_hook` (installed by `init`), with the ErrorData being
/// reported (or NULL), whose string fields are NULL or NUL-terminated.
unsafe extern "C-unwind" fn redact_log_message(edata: *mut pg_sys::ErrorData) {
    // SAFETY: PostgreSQL passes the error being reported; its strings live in assoc_context,
    // where the replacements are allocated too.
    unsafe {
        if !edata.is_null() {
            let context = (*edata).assoc_context;
            for field in [
                &mut (*edata).message,
                &mut (*edata).detail,
                &mut (*edata).detail_log,
                &mut (*edata).context,
                &mut (*edata).internalquery,
            ] {
                if let Some(redacted) = redacted_copy(*field) {
                    *field = pg_sys::MemoryContextStrdup(context, redacted.as_ptr());
                }
            }
            if !(*edata).hide_stmt {
                if let Some(redacted) = redacted_copy(pg_sys::debug_query_string) {
                    (*edata).hide_stmt = true;
                    if (*edata).detail_log.is_null() && (*edata).detail.is_null() {
                        let mut line = b"statement (passwords redacted): ".to_vec();
                        line.extend_from_slice(redacted.as_bytes());
                        if let Ok(line) = CString::new(line) {
                            (*edata).detail_log =
                                pg_sys::MemoryContextStrdup(context, line.as_ptr());
                        }
                    }
                }
            }
        }
        if let Some(previous) = PREVIOUS_EMIT_LOG_HOOK {
            previous(edata);
        }
    }
}

/// The redacted text of a C string that holds a password literal; None when it holds none.
///
/// # Safety
/// `text` is NULL or a NUL-terminated string.
unsafe fn redacted_copy(text: *const c_char) -> Option<CString> {
    if text.is_null() {
        return None;
    }
    // SAFETY: the caller's guarantee.
    let bytes = unsafe { CStr::from_ptr(text) }.to_bytes();
    if !may_hold_password(bytes) {
        return None;
    }
    match redact_password_bytes(bytes) {
        Cow::Borrowed(_) => None,
        Cow::Owned(redacted) => CString::new(redacted).ok(),
    }
}

/// What replaces a password literal.
pub const REDACTED: &str = "'[redacted]'";

/// Whether `text` may hold a password literal (a cheap test before lexing).
pub fn may_hold_password(text: &[u8]) -> bool {
    text.windows(8).any(|w| w.eq_ignore_ascii_case(b"password"))
}

/// `text` with the literal after each PASSWORD keyword replaced by `'[redacted]'`, in any
/// server encoding (every encoding PostgreSQL allows on the server keeps ASCII bytes for ASCII
/// characters, which is all the lexer looks at). Text without one is returned as it is.
pub fn redact_password_bytes(text: &[u8]) -> Cow<'_, [u8]> {
    if !may_hold_password(text) {
        return Cow::Borrowed(text);
    }
    let spans = password_literals(text);
    if spans.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut out = Vec::with_capacity(text.len());
    let mut last = 0;
    for (start, end) in spans {
        out.extend_from_slice(&text[last..start]);
        out.extend_from_slice(REDACTED.as_bytes());
        last = end;
    }
    out.extend_from_slice(&text[last..]);
    Cow::Owned(out)
}

/// Byte ranges of the string literals that follow a PASSWORD keyword.
fn password_literals(text: &[u8]) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut lexer = Lexer { text, pos: 0 };
    let mut after_password = false;
    while let Some(token) = lexer.next_token() {
        match token {
            Token::Word(start, end) => {
                after_password = text[start..end].eq_ignore_ascii_case(b"password");
            }
            Token::Literal(start, end) => {
                if after_password {
                    spans.push((start, end));
                }
                after_password = false;
            }
            Token::Other => after_password = false,
        }
    }
    spans
}

enum Token {
    /// A keyword or unquoted identifier.
    Word(usize, usize),
    /// A string literal ('…', E'…', U&'…', $tag$…$tag$), with its prefix.
    Literal(usize, usize),
    /// Anything else (punctuation, numbers, quoted identifiers).
    Other,
}

struct Lexer<'a> {
    text: &'a [u8],
    pos: usize,
}

impl Lexer<'_> {
    fn peek(&self, offset: usize) -> Option<u8> {
        self.text.get(self.pos + offset).copied()
    }

    /// The next token, skipping white space and comments; None at the end.
    fn next_token(&mut self) -> Option<Token> {
        self.skip_space_and_comments();
        let start = self.pos;
        let c = self.peek(0)?;
        if c == b'\'' {
            self.pos += 1;
            self.skip_quoted(b'\'', false);
            return Some(Token::Literal(start, self.pos));
        }
        if (c == b'e' || c == b'E') && self.peek(1) == Some(b'\'') {
            self.pos += 2;
            self.skip_quoted(b'\'', true);
            return Some(Token::Literal(start, self.pos));
        }
        if (c == b'u' || c == b'U') && self.peek(1) == Some(b'&') && self.peek(2) == Some(b'\'') {
            self.pos += 3;
            self.skip_quoted(b'\'', false);
            self.skip_uescape();
            return Some(Token::Literal(start, self.pos));
        }
        if c == b'"' {
            self.pos += 1;
            self.skip_quoted(b'"', false);
            return Some(Token::Other);
        }
        if c == b'$' {
            if let Some(tag_end) = self.dollar_tag() {
                let tag = self.text[start..tag_end].to_vec();
                self.pos = tag_end;
                match find(&self.text[self.pos..], &tag) {
                    Some(at) => self.pos += at + tag.len(),
                    None => self.pos = self.text.len(),
                }
                return Some(Token::Literal(start, self.pos));
            }
        }
        if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 {
            while let Some(c) = self.peek(0) {
                if c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80 {
                    self.pos += 1;
                } else {
                    break;
                }
            }
            return Some(Token::Word(start, self.pos));
        }
        self.pos += 1;
        Some(Token::Other)
    }

    fn skip_space_and_comments(&mut self) {
        loop {
            match (self.peek(0), self.peek(1)) {
                (Some(c), _) if c.is_ascii_whitespace() => self.pos += 1,
                (Some(b'-'), Some(b'-')) => {
                    while let Some(c) = self.peek(0) {
                        self.pos += 1;
                        if c == b'\n' {
                            break;
                        }
                    }
                }
                (Some(b'/'), Some(b'*')) => {
                    // block comments nest in PostgreSQL
                    let mut depth = 0usize;
                    while self.pos < self.text.len() {
                        match (self.peek(0), self.peek(1)) {
                            (Some(b'/'), Some(b'*')) => {
                                depth += 1;
                                self.pos += 2;
                            }
                            (Some(b'*'), Some(b'/')) => {
                                depth -= 1;
                                self.pos += 2;
                                if depth == 0 {
                                    break;
                                }
                            }
                            _ => self.pos += 1,
                        }
                    }
                }
                _ => return,
            }
        }
    }

    /// Past the closing quote (a doubled quote stays inside; with `backslashes`, so does an
    /// escaped one). An unterminated literal runs to the end.
    fn skip_quoted(&mut self, quote: u8, backslashes: bool) {
        while let Some(c) = self.peek(0) {
            self.pos += 1;
            if backslashes && c == b'\\' {
                self.pos += 1;
            } else if c == quote {
                if self.peek(0) == Some(quote) {
                    self.pos += 1;
                } else {
                    return;
                }
            }
        }
        self.pos = self.pos.min(self.text.len());
    }

    /// An optional `UESCAPE 'c'` after a Unicode literal belongs to it.
    fn skip_uescape(&mut self) {
        let saved = self.pos;
        self.skip_space_and_comments();
        let rest = &self.text[self.pos..];
        if rest.len() >= 7 && rest[..7].eq_ignore_ascii_case(b"uescape") {
            self.pos += 7;
            self.skip_space_and_comments();
            if self.peek(0) == Some(b'\'') {
                self.pos += 1;
                self.skip_quoted(b'\'', false);
                return;
            }
        }
        self.pos = saved;
    }

    /// The end of a `$tag$` opening at the current position, if it is one.
    fn dollar_tag(&self) -> Option<usize> {
        let mut end = self.pos + 1;
        while let Some(&c) = self.text.get(end) {
            if c == b'$' {
                return Some(end + 1);
            }
            let first = end == self.pos + 1;
            if !(c.is_ascii_alphabetic()
                || c == b'_'
                || c >= 0x80
                || (!first && c.is_ascii_digit()))
            {
                return None;
            }
            end += 1;
        }
        None
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::redact_password_bytes;

    fn redacted(sql: &str) -> String {
        String::from_utf8(redact_password_bytes(sql.as_bytes()).into_owned()).expect("ASCII cuts")
    }

    #[test]
    fn plain_and_prehashed_passwords_are_redacted() {
        assert_eq!(
            redacted("CREATE ROLE app LOGIN PASSWORD 'hunter2'"),
            "CREATE ROLE app LOGIN PASSWORD '[redacted]'"
        );
        assert_eq!(
            redacted("alter user \"app\" password 'SCRAM-SHA-256$4096:abc=$def=:ghi='"),
            "alter user \"app\" password '[redacted]'"
        );
        assert_eq!(
            redacted("ALTER ROLE a ENCRYPTED PASSWORD 'md5aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' VALID UNTIL '2030-01-01'"),
            "ALTER ROLE a ENCRYPTED PASSWORD '[redacted]' VALID UNTIL '2030-01-01'"
        );
    }

    #[test]
    fn every_literal_form_is_redacted() {
        assert_eq!(
            redacted("CREATE ROLE a PASSWORD E'it\\'s'"),
            "CREATE ROLE a PASSWORD '[redacted]'"
        );
        assert_eq!(
            redacted("CREATE ROLE a PASSWORD 'it''s' LOGIN"),
            "CREATE ROLE a PASSWORD '[redacted]' LOGIN"
        );
        assert_eq!(
            redacted("CREATE ROLE a PASSWORD $$x'y$$"),
            "CREATE ROLE a PASSWORD '[redacted]'"
        );
        assert_eq!(
            redacted("CREATE ROLE a PASSWORD $p$x$$y$p$;"),
            "CREATE ROLE a PASSWORD '[redacted]';"
        );
        assert_eq!(
            redacted("CREATE ROLE a PASSWORD U&'d\\0061t' UESCAPE '\\'"),
            "CREATE ROLE a PASSWORD '[redacted]'"
        );
        assert_eq!(
            redacted("CREATE ROLE a PASSWORD /* c */ -- x\n 'pw'"),
            "CREATE ROLE a PASSWORD /* c */ -- x\n '[redacted]'"
        );
        assert_eq!(
            redacted("CREATE ROLE a PASSWORD 'one'; ALTER ROLE b PASSWORD 'two'"),
            "CREATE ROLE a PASSWORD '[redacted]'; ALTER ROLE b PASSWORD '[redacted]'"
        );
        // an unterminated literal is redacted to the end
        assert_eq!(
            redacted("CREATE ROLE a PASSWORD 'oops"),
            "CREATE ROLE a PASSWORD '[redacted]'"
        );
    }

    #[test]
    fn what_is_not_a_password_stays() {
        for sql in [
            "CREATE ROLE a PASSWORD NULL",
            "SELECT 'password' AS x, 'hunter2'",
            "SELECT \"password\" FROM t WHERE note = 'x'",
            "-- PASSWORD 'in a comment'\nSELECT 1",
            "SELECT $$PASSWORD 'in a dollar string'$$",
            "SELECT password_policy_id FROM t WHERE k = 'v'",
            "statement: SELECT 1",
        ] {
            assert_eq!(redacted(sql), sql);
        }
        // a log line quoting the statement
        assert_eq!(
            redacted("statement: CREATE USER u WITH PASSWORD 'pw';"),
            "statement: CREATE USER u WITH PASSWORD '[redacted]';"
        );
    }

    #[test]
    fn hostile_text_never_panics() {
        for sql in [
            "PASSWORD",
            "PASSWORD '",
            "PASSWORD E'\\",
            "PASSWORD $",
            "PASSWORD $a",
            "/* PASSWORD",
            "PASSWORD U&'",
            "PASSWORD U&'x' UESCAPE",
        ] {
            let _ = redacted(sql);
        }
        let mut bytes = String::new();
        for i in 0..2000u32 {
            bytes.push(char::from_u32(i % 128).unwrap_or(' '));
            bytes.push_str(if i % 7 == 0 { "password '" } else { "$" });
        }
        let _ = redacted(&bytes);
    }
}
