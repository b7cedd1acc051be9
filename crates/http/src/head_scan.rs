//! Checking a raw request head the way Apache 2.4 reads it
//! (`read_request_line`, `ap_parse_request_line` and
//! `ap_get_mime_headers_core` in server/protocol.c, `HttpProtocolOptions
//! Strict`): LimitRequestLine, LimitRequestFieldSize, LimitRequestFields,
//! the request-line grammar and the header-line grammar, each refusal with
//! Apache's status, `error-notes` text and log line.
//!
//! [`HeadScanner`] is fed the growing buffer of each request head of a
//! connection (`conn/read_head.rs`) and resumes where it stopped;
//! [`check_merged`] applies LimitRequestFieldSize to repeated fields once
//! they are merged.

use wsgid_log::Level;

mod request_line;
use request_line::parse_request_line;
use std::sync::Arc;

/// `error-notes` of a header field over LimitRequestFieldSize.
pub const FIELD_SIZE_NOTE: &str = "Size of a request header field exceeds server limit.";
/// `error-notes` of a head with more than LimitRequestFields fields.
pub const FIELD_COUNT_NOTE: &str =
    "The number of request header fields exceeds this server's limit.";

/// Apache's `DEFAULT_LIMIT_BLANK_LINES`: empty lines skipped before the
/// request line.
const BLANK_LINES: usize = 10;
/// Apache's `LOG_NAME_MAX_LEN`.
const LOG_NAME_MAX: usize = 80;

/// The configured head limits (`LimitRequestFields 0` is unlimited) and
/// the `HttpProtocolOptions` rules for the request line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub line: usize,
    pub field_size: usize,
    pub fields: usize,
    /// `Require1.0`: an HTTP/0.9 request is refused (400).
    pub require_http10: bool,
    /// `RegisteredMethods`: a method neither Apache's nor registered by a
    /// `<Limit>` is refused (501); the registered ones are given to
    /// [`HeadScanner::with_extension_methods`].
    pub registered_methods_only: bool,
}

/// Why a head is refused: the answer and what Apache logs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    pub status: u16,
    pub notes: Option<&'static str>,
    pub level: Level,
    pub log: String,
    /// `r->the_request` for the access log (None: Apache had none).
    pub the_request: Option<String>,
    /// The method was HEAD: the page goes without its body.
    pub header_only: bool,
    /// Refused while reading the header lines: Apache adds AH00567.
    pub headers: bool,
}

impl Rejection {
    pub(crate) fn new(status: u16, level: Level, log: String) -> Rejection {
        Rejection {
            status,
            notes: None,
            level,
            log,
            the_request: None,
            header_only: false,
            headers: false,
        }
    }
}

/// A complete, acceptable head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    /// Bytes of the head, final empty line included.
    pub len: usize,
    /// An HTTP/0.9 simple request (`GET /path`, no header lines).
    pub http09: bool,
    /// Obsolete line folding was used: Apache joins the lines with one
    /// space ([`unfold`] rewrites the head so).
    pub folded: bool,
    /// Header fields (folded lines counted once): the size of the map the
    /// parse fills.
    pub fields: usize,
}

/// What the bytes so far amount to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scan {
    Incomplete,
    Complete(Head),
    Reject(Rejection),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    RequestLine,
    Fields,
}

/// Incremental scanner of one request head.
#[derive(Debug)]
pub struct HeadScanner {
    limits: Limits,
    /// Methods a `<Limit>` registered (for `registered_methods_only`).
    extension_methods: Arc<[String]>,
    phase: Phase,
    /// Start of the line being read.
    pos: usize,
    /// How far the search for its LF got.
    searched: usize,
    blank: usize,
    fields: usize,
    /// The pending field line (start, trimmed length) and its fold lines:
    /// Apache checks a field once it knows no fold follows.
    last: Option<(usize, usize)>,
    folds: Vec<(usize, usize)>,
    last_len: usize,
    folded: bool,
    the_request: String,
    header_only: bool,
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Byte classes, looked up in one table: every byte of every header goes
/// through these.
const TCHAR: u8 = 1;
const FIELD_CONTENT: u8 = 2;

const CLASSES: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        if c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            )
        {
            t[b] |= TCHAR;
        }
        if c == b'\t' || c == b' ' || is_vchar_obstext(c) {
            t[b] |= FIELD_CONTENT;
        }
        b += 1;
    }
    t
};

fn is_tchar(b: u8) -> bool {
    CLASSES[usize::from(b)] & TCHAR != 0
}

/// VCHAR (0x21–0x7E) or obs-text (0x80–0xFF): every byte from 0x21 up
/// but DEL.
const fn is_vchar_obstext(b: u8) -> bool {
    b >= 0x21 && b != 0x7f
}

fn is_field_content(b: u8) -> bool {
    CLASSES[usize::from(b)] & FIELD_CONTENT != 0
}

fn lossy(b: &[u8]) -> String {
    crate::uri::latin1(b)
}

/// Request bytes quoted in an error-log line, escaped as
/// `ap_escape_errorlog_item` does (`"` is left alone there).
pub fn escape_log(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len());
    for &c in b {
        match c {
            b'\\' => out.push_str("\\\\"),
            0x08 => out.push_str("\\b"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x0b => out.push_str("\\v"),
            0x20..=0x7e => out.push(char::from(c)),
            _ => out.push_str(&format!("\\x{c:02x}")),
        }
    }
    out
}

/// The first 80 bytes of a field, or its name if shorter (`field_name_len`).
fn field_name(field: &[u8]) -> &[u8] {
    match field.iter().position(|&b| b == b':') {
        Some(end) if end <= LOG_NAME_MAX => &field[..end],
        _ => &field[..field.len().min(LOG_NAME_MAX)],
    }
}

fn first80(b: &[u8]) -> &[u8] {
    &b[..b.len().min(LOG_NAME_MAX)]
}

fn trim_end(mut line: &[u8]) -> &[u8] {
    while line.len() > 1 && matches!(line.last(), Some(b' ' | b'\t')) {
        line = &line[..line.len() - 1];
    }
    line
}

impl HeadScanner {
    /// The methods besides Apache's own that `registered_methods_only`
    /// lets through.
    pub fn with_extension_methods(mut self, methods: Arc<[String]>) -> HeadScanner {
        self.extension_methods = methods;
        self
    }

    pub fn new(limits: Limits) -> HeadScanner {
        HeadScanner {
            limits,
            extension_methods: Arc::from(Vec::new()),
            phase: Phase::RequestLine,
            pos: 0,
            searched: 0,
            blank: 0,
            fields: 0,
            last: None,
            folds: Vec::new(),
            last_len: 0,
            folded: false,
            the_request: String::new(),
            header_only: false,
        }
    }

    /// Whether the request line was read (an EOF or a timeout after it is
    /// answered with 400 or 408; before it the connection just closes).
    pub fn in_fields(&self) -> bool {
        self.phase == Phase::Fields
    }

    /// Scan `buf` (the same buffer, grown, on every call).
    pub fn scan(&mut self, buf: &[u8]) -> Scan {
        loop {
            let Some(rest) = buf.get(self.searched..) else {
                return Scan::Incomplete;
            };
            let Some(i) = memchr::memchr(b'\n', rest) else {
                self.searched = buf.len();
                return self.check_partial(buf);
            };
            let lf = self.searched + i;
            let start = self.pos;
            self.pos = lf + 1;
            self.searched = lf + 1;
            let raw = &buf[start..lf];
            let limit = match self.phase {
                Phase::RequestLine => self.limits.line,
                Phase::Fields => self.limits.field_size,
            };
            let has_cr = raw.last() == Some(&b'\r');
            // ap_rgetline's buffer holds limit + 2 bytes; a final LF may
            // overrun it when the CR fits.
            let used = if has_cr { raw.len() } else { raw.len() + 1 };
            if used > limit.saturating_add(2) {
                return Scan::Reject(self.overflow(raw));
            }
            let content = if has_cr { &raw[..raw.len() - 1] } else { raw };
            if !has_cr || content.contains(&0) {
                return Scan::Reject(self.unreadable(raw));
            }
            let step = match self.phase {
                Phase::RequestLine => self.request_line(content),
                Phase::Fields => self.field_line(buf, start, content),
            };
            if let Some(done) = step {
                return done;
            }
        }
    }

    /// A line without its LF yet: refused as soon as it cannot fit.
    fn check_partial(&self, buf: &[u8]) -> Scan {
        let limit = match self.phase {
            Phase::RequestLine => self.limits.line,
            Phase::Fields => self.limits.field_size,
        };
        let partial = buf.get(self.pos..).unwrap_or_default();
        if partial.len() > limit.saturating_add(2) {
            return Scan::Reject(self.overflow(partial));
        }
        Scan::Incomplete
    }

    fn overflow(&self, line: &[u8]) -> Rejection {
        match self.phase {
            Phase::RequestLine => {
                let mut r = Rejection::new(
                    414,
                    Level::Info,
                    format!(
                        "AH00565: request failed: client's request-line exceeds \
                         LimitRequestLine (longer than {})",
                        self.limits.line
                    ),
                );
                let kept = line.len().min(self.limits.line.saturating_add(1));
                r.the_request = Some(lossy(&line[..kept]));
                r
            }
            Phase::Fields => {
                let kept = &line[..line.len().min(self.limits.field_size.saturating_add(1))];
                let name = field_name(kept);
                let sep = if kept.is_empty() { "" } else { ": " };
                let mut r = self.field_error(
                    Level::Info,
                    format!(
                        "AH00561: Request header exceeds LimitRequestFieldSize{sep}{}",
                        escape_log(name)
                    ),
                );
                r.notes = Some(FIELD_SIZE_NOTE);
                r
            }
        }
    }

    /// A bare LF or a NUL byte: `ap_rgetline` fails with EINVAL.
    fn unreadable(&self, raw: &[u8]) -> Rejection {
        match self.phase {
            Phase::RequestLine => {
                let mut r = Rejection::new(
                    400,
                    Level::Debug,
                    "AH00566: request failed: malformed request line".into(),
                );
                r.the_request = Some(lossy(raw));
                r
            }
            Phase::Fields => self.field_error(
                Level::Debug,
                format!(
                    "Failed to read request header line {}",
                    escape_log(raw.split(|&b| b == 0).next().unwrap_or_default())
                ),
            ),
        }
    }

    fn field_error(&self, level: Level, log: String) -> Rejection {
        self.refusal(400, level, log)
    }

    /// A refusal of this head for a reason found outside the scan (EOF or
    /// timeout in the header lines, a head too large to read).
    pub fn refusal(&self, status: u16, level: Level, log: String) -> Rejection {
        Rejection {
            status,
            notes: None,
            level,
            log,
            the_request: Some(self.the_request.clone()),
            header_only: self.header_only,
            headers: self.phase == Phase::Fields,
        }
    }

    fn request_line(&mut self, line: &[u8]) -> Option<Scan> {
        if line.is_empty() && self.blank < BLANK_LINES {
            self.blank += 1;
            return None;
        }
        let rules = request_line::Rules {
            require_http10: self.limits.require_http10,
            registered_only: self
                .limits
                .registered_methods_only
                .then_some(&self.extension_methods[..]),
        };
        let parsed = parse_request_line(line, &rules);
        self.header_only = parsed.method == b"HEAD";
        if let Some(mut r) = parsed.error {
            r.the_request = Some(parsed.the_request);
            r.header_only = self.header_only;
            return Some(Scan::Reject(r));
        }
        // Kept for a refusal of a later line (no copy on the usual path).
        self.the_request = parsed.the_request;
        if parsed.http09 {
            // A simple request has no header lines.
            return Some(Scan::Complete(Head {
                len: self.pos,
                http09: true,
                folded: false,
                fields: 0,
            }));
        }
        self.phase = Phase::Fields;
        None
    }

    fn field_line(&mut self, buf: &[u8], start: usize, line: &[u8]) -> Option<Scan> {
        let line = trim_end(line);
        if let Some((&first, rest)) = line.split_first()
            && (first == b' ' || first == b'\t')
        {
            if self.last.is_none() {
                return Some(Scan::Reject(self.field_error(
                    Level::Debug,
                    "AH03442: Line folding encountered before first header line".into(),
                )));
            }
            if rest.is_empty() {
                return Some(Scan::Reject(self.field_error(
                    Level::Debug,
                    "AH03443: Empty folded line encountered".into(),
                )));
            }
            let lead = rest
                .iter()
                .take_while(|&&b| b == b' ' || b == b'\t')
                .count();
            let len = line.len() - lead;
            if self.last_len + len + 1 >= self.limits.field_size {
                let (ls, ll) = self.last.unwrap_or_default();
                let name = field_name(&buf[ls..ls + ll]);
                let mut r = self.field_error(
                    Level::Info,
                    format!(
                        "AH00562: Request header exceeds LimitRequestFieldSize after folding: {}",
                        escape_log(name)
                    ),
                );
                r.notes = Some(FIELD_SIZE_NOTE);
                return Some(Scan::Reject(r));
            }
            self.folds.push((start + 1 + lead, len - 1));
            self.last_len += len;
            self.folded = true;
            return None;
        }
        if let Some(last) = self.last.take()
            && let Some(r) = self.finish_field(buf, last)
        {
            return Some(Scan::Reject(r));
        }
        if line.is_empty() {
            return Some(Scan::Complete(Head {
                len: self.pos,
                http09: false,
                folded: self.folded,
                fields: self.fields,
            }));
        }
        self.last = Some((start, line.len()));
        self.last_len = line.len();
        None
    }

    /// Count and check a field whose folds are all known.
    fn finish_field(&mut self, buf: &[u8], (start, len): (usize, usize)) -> Option<Rejection> {
        let folds = std::mem::take(&mut self.folds);
        self.fields += 1;
        if self.limits.fields != 0 && self.fields > self.limits.fields {
            let mut r = self.field_error(
                Level::Info,
                "AH00563: Number of request headers exceeds LimitRequestFields".into(),
            );
            r.notes = Some(FIELD_COUNT_NOTE);
            return Some(r);
        }
        let field = &buf[start..start + len];
        let name_len = field.iter().take_while(|&&b| is_tchar(b)).count();
        if name_len == 0 || field.get(name_len) != Some(&b':') {
            return Some(self.field_error(
                Level::Debug,
                format!(
                    "AH02426: Request header field name is malformed: {}",
                    escape_log(first80(field))
                ),
            ));
        }
        let value = &field[name_len + 1..];
        let value = &value[value
            .iter()
            .take_while(|&&b| b == b' ' || b == b'\t')
            .count()..];
        let bad = !value.iter().all(|&b| is_field_content(b))
            || folds
                .iter()
                .any(|&(s, l)| !buf[s..s + l].iter().all(|&b| is_field_content(b)));
        if bad {
            return Some(self.field_error(
                Level::Debug,
                format!(
                    "AH02427: Request header value is malformed: {}",
                    escape_log(first80(value))
                ),
            ));
        }
        None
    }
}

/// The head with obsolete line folding replaced by one space, as Apache
/// joins folded lines.
pub fn unfold(head: &[u8]) -> Vec<u8> {
    let mut out: Vec<u8> = Vec::with_capacity(head.len());
    for line in head.split_inclusive(|&b| b == b'\n') {
        let content = line.strip_suffix(b"\r\n").unwrap_or(line);
        if matches!(content.first(), Some(b' ' | b'\t')) && !out.is_empty() {
            // Drop the CRLF (and trailing blanks) of the line before.
            out.truncate(out.len().saturating_sub(2));
            while matches!(out.last(), Some(b' ' | b'\t')) {
                out.pop();
            }
            out.push(b' ');
            let lead = content
                .iter()
                .take_while(|&&b| b == b' ' || b == b'\t')
                .count();
            out.extend_from_slice(&content[lead..]);
            out.extend_from_slice(b"\r\n");
        } else {
            out.extend_from_slice(line);
        }
    }
    out
}

/// The merged-field limit (`table_do_fn_check_lengths`): a field sent
/// several times must fit LimitRequestFieldSize once its values are joined
/// with `, `.
pub fn check_merged(headers: &http::HeaderMap, limits: Limits) -> Option<Rejection> {
    if headers.keys_len() == headers.len() {
        return None;
    }
    for name in headers.keys() {
        let mut merged = 0usize;
        for (i, v) in headers.get_all(name).iter().enumerate() {
            merged += v.len() + if i > 0 { 2 } else { 0 };
        }
        if merged > limits.field_size {
            let mut r = Rejection::new(
                400,
                Level::Info,
                format!(
                    "AH00560: Request header exceeds LimitRequestFieldSize after merging: {}",
                    escape_log(field_name(name.as_str().as_bytes()))
                ),
            );
            r.notes = Some(FIELD_SIZE_NOTE);
            r.headers = true;
            return Some(r);
        }
    }
    None
}

#[cfg(test)]
mod tests;
