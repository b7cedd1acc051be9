//! `ErrorDocument`: what replaces a response the server made itself
//! (`ap_die`'s custom responses).  A message becomes the page, a full URL
//! a 302 to it; a local path is an internal redirect, which the request
//! driver runs (`server.rs`, `error_redirect`).

use http::Response;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use wsgid_config::error_documents::{ErrorDocument, document_for};

use crate::frontend::Site;
use crate::request::Request;
use crate::response::{self, OutBody};

/// The document configured for `status` where `r` ended: its merged
/// configuration, or the virtual host's for a request that ended before
/// its sections were merged (merging only adds documents).
pub fn lookup<'a>(site: &'a Site, r: &'a Request, status: u16) -> Option<&'a ErrorDocument> {
    let docs = if r.per_dir.error_documents.is_empty() {
        &site.host.per_dir.error_documents
    } else {
        &r.per_dir.error_documents
    };
    document_for(docs, status)
}

/// A message or a full URL in place of `page`.
pub fn answer(
    site: &Site,
    r: &Request,
    page: Response<OutBody>,
    doc: &ErrorDocument,
) -> Response<OutBody> {
    match doc {
        ErrorDocument::Remote(url) => response::error_page(site, r, 302, Some(url.clone())),
        ErrorDocument::Text(text) => {
            let (mut parts, _) = page.into_parts();
            parts.headers.remove(CONTENT_LENGTH);
            parts.headers.insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=iso-8859-1"),
            );
            let body = if r.method == http::Method::HEAD {
                Vec::new()
            } else {
                crate::uri::latin1_bytes(text)
            };
            if r.method != http::Method::HEAD {
                parts
                    .headers
                    .insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
            }
            Response::from_parts(
                parts,
                OutBody::exact(crate::body::ResponseBody::full(body.into())),
            )
        }
        ErrorDocument::Local(_) | ErrorDocument::Default => page,
    }
}

/// The first error's own page when its document met `again`.
pub fn recursive_page(site: &Site, r: &Request, status: u16, again: u16) -> Response<OutBody> {
    let mut ctx = response::page_context(site, r);
    ctx.recursive = Some(again);
    response::error_page_from(site, status, &ctx)
}
