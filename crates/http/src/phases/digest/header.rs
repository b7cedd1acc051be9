//! Reading the `Authorization: Digest ...` header as mod_auth_digest's
//! `get_digest_rec` does.

/// The parsed `Authorization: Digest ...` header (`digest_header_rec`).
#[derive(Debug, Default, Clone)]
pub struct DigestHeader {
    pub username: Option<String>,
    pub realm: Option<String>,
    pub nonce: Option<String>,
    pub uri: Option<String>,
    pub response: Option<String>,
    pub algorithm: Option<String>,
    pub cnonce: Option<String>,
    pub opaque: Option<String>,
    pub qop: Option<String>,
    pub nc: Option<String>,
}

/// What `get_digest_rec` made of the header.
#[derive(Debug)]
pub enum Parsed {
    NoHeader,
    NotDigest(String),
    Invalid(DigestHeader),
    Valid(DigestHeader),
}

/// `get_digest_rec`: the scheme word, then `key=value` or
/// `key="quoted"` pairs separated by commas.
pub fn parse(line: Option<&[u8]>) -> Parsed {
    let Some(line) = line else {
        return Parsed::NoHeader;
    };
    let line = crate::uri::latin1(line);
    let line = line.trim_start();
    let (scheme, mut rest) = match line.find(char::is_whitespace) {
        Some(i) => (&line[..i], &line[i..]),
        None => (line, ""),
    };
    if !scheme.eq_ignore_ascii_case("Digest") {
        return Parsed::NotDigest(scheme.to_owned());
    }
    let mut h = DigestHeader::default();
    while !rest.is_empty() {
        rest = rest.trim_start();
        let key_end = rest
            .find(|c: char| c == '=' || c == ',' || c.is_whitespace())
            .unwrap_or(rest.len());
        let key = rest[..key_end].to_owned();
        rest = rest[key_end..].trim_start();
        let mut value = String::new();
        if let Some(after) = rest.strip_prefix('=') {
            rest = after.trim_start();
            if let Some(quoted) = rest.strip_prefix('"') {
                let mut chars = quoted.char_indices();
                let mut end = quoted.len();
                while let Some((i, c)) = chars.next() {
                    match c {
                        '"' => {
                            end = i + 1;
                            break;
                        }
                        '\\' => match chars.next() {
                            Some((_, escaped)) => value.push(escaped),
                            None => value.push('\\'),
                        },
                        other => value.push(other),
                    }
                }
                rest = &quoted[end.min(quoted.len())..];
            } else {
                let end = rest
                    .find(|c: char| c == ',' || c.is_whitespace())
                    .unwrap_or(rest.len());
                value = rest[..end].to_owned();
                rest = &rest[end..];
            }
        }
        let skip = rest.find(',').map_or(rest.len(), |i| i + 1);
        rest = &rest[skip..];
        let slot = match key.to_ascii_lowercase().as_str() {
            "username" => &mut h.username,
            "realm" => &mut h.realm,
            "nonce" => &mut h.nonce,
            "uri" => &mut h.uri,
            "response" => &mut h.response,
            "algorithm" => &mut h.algorithm,
            "cnonce" => &mut h.cnonce,
            "opaque" => &mut h.opaque,
            "qop" => &mut h.qop,
            "nc" => &mut h.nc,
            _ => continue,
        };
        *slot = Some(value);
    }
    let complete = h.username.is_some()
        && h.realm.is_some()
        && h.nonce.is_some()
        && h.uri.is_some()
        && h.response.is_some()
        && (h.qop.is_none() || (h.cnonce.is_some() && h.nc.is_some()));
    if complete {
        Parsed::Valid(h)
    } else {
        Parsed::Invalid(h)
    }
}
