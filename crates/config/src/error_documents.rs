//! `ErrorDocument` in the typed model: what replaces the server's own page
//! for one status (`set_error_document`'s three kinds, and `default`).

/// The document configured for one status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ErrorDocument {
    /// `default`: the server's own page (undoes an inherited document).
    Default,
    /// A local URL path (`/errors/404.html`): the request is redirected
    /// internally to it.
    Local(String),
    /// A full URL: the client is redirected to it (302).
    Remote(String),
    /// A message sent as the page (`text/html; charset=iso-8859-1`).
    Text(String),
}

/// The document for `status` among a merged list (the last line for a
/// status wins; `default` gives none).
pub fn document_for(docs: &[(u16, ErrorDocument)], status: u16) -> Option<&ErrorDocument> {
    docs.iter()
        .rev()
        .find(|(s, _)| *s == status)
        .map(|(_, d)| d)
        .filter(|d| **d != ErrorDocument::Default)
}
