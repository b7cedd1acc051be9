//! mod_rewrite's expansion strings (`RewriteCond` test strings,
//! `RewriteRule` substitutions, `E=` values), parsed once at load time into
//! pieces: literal text, `%{VAR}` server variables, `$N` rule and `%N`
//! condition back-references.  Expanding them per request is wsgid-http's job.

/// A parsed expansion string.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Template(pub Vec<Piece>);

/// One part of a [`Template`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    Lit(String),
    Var(ServerVar),
    /// `$N`: group N of the rule's pattern.
    RuleRef(usize),
    /// `%N`: group N of the last matched `RewriteCond`.
    CondRef(usize),
}

/// The `%{VAR}` names wsgid resolves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerVar {
    /// `%{HTTP:Name}` and the `HTTP_*` shortcuts mod_rewrite knows.
    Header(String),
    /// `%{ENV:VAR}`: the request's environment table, else the process'.
    Env(String),
    RequestUri,
    RequestFilename,
    QueryString,
    RequestMethod,
    RemoteAddr,
    RemotePort,
    ServerName,
    ServerAddr,
    ServerPort,
    ServerProtocol,
    DocumentRoot,
    TheRequest,
    RequestScheme,
    Https,
    PathInfo,
    IsSubreq,
}

impl ServerVar {
    /// The variable for a `%{NAME}`; None for names wsgid does not resolve.
    pub fn from_name(name: &str) -> Option<ServerVar> {
        if let Some((kind, arg)) = name.split_once(':') {
            return match kind {
                "HTTP" => Some(ServerVar::Header(arg.to_owned())),
                "ENV" => Some(ServerVar::Env(arg.to_owned())),
                _ => None,
            };
        }
        Some(match name {
            "HTTP_HOST" => ServerVar::Header("Host".into()),
            "HTTP_USER_AGENT" => ServerVar::Header("User-Agent".into()),
            "HTTP_REFERER" => ServerVar::Header("Referer".into()),
            "HTTP_COOKIE" => ServerVar::Header("Cookie".into()),
            "HTTP_FORWARDED" => ServerVar::Header("Forwarded".into()),
            "HTTP_ACCEPT" => ServerVar::Header("Accept".into()),
            "HTTP_PROXY_CONNECTION" => ServerVar::Header("Proxy-Connection".into()),
            "REQUEST_URI" => ServerVar::RequestUri,
            "REQUEST_FILENAME" | "SCRIPT_FILENAME" => ServerVar::RequestFilename,
            "QUERY_STRING" => ServerVar::QueryString,
            "REQUEST_METHOD" => ServerVar::RequestMethod,
            "REMOTE_ADDR" | "REMOTE_HOST" => ServerVar::RemoteAddr,
            "REMOTE_PORT" => ServerVar::RemotePort,
            "SERVER_NAME" => ServerVar::ServerName,
            "SERVER_ADDR" => ServerVar::ServerAddr,
            "SERVER_PORT" => ServerVar::ServerPort,
            "SERVER_PROTOCOL" => ServerVar::ServerProtocol,
            "DOCUMENT_ROOT" => ServerVar::DocumentRoot,
            "THE_REQUEST" => ServerVar::TheRequest,
            "REQUEST_SCHEME" => ServerVar::RequestScheme,
            "HTTPS" => ServerVar::Https,
            "PATH_INFO" => ServerVar::PathInfo,
            "IS_SUBREQ" => ServerVar::IsSubreq,
            _ => return None,
        })
    }
}

impl Template {
    /// Parses `s` as mod_rewrite's `do_expand` reads it: `\c` is `c`,
    /// `$N`/`%N` are back-references, `%{VAR}` a variable; `${map:key}`
    /// (RewriteMap) and unknown variables are refused.
    pub fn parse(s: &str) -> Result<Template, String> {
        let mut pieces = Vec::new();
        let mut lit = String::new();
        let mut chars = s.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some(n) => lit.push(n),
                    None => lit.push('\\'),
                },
                '$' | '%' if chars.peek().is_some_and(char::is_ascii_digit) => {
                    let d = chars.next().and_then(|d| d.to_digit(10)).unwrap_or(0) as usize;
                    flush(&mut pieces, &mut lit);
                    pieces.push(if c == '$' {
                        Piece::RuleRef(d)
                    } else {
                        Piece::CondRef(d)
                    });
                }
                '$' if chars.peek() == Some(&'{') => {
                    return Err("${map:key} (RewriteMap) is not implemented yet in wsgid".into());
                }
                '%' if chars.peek() == Some(&'{') => {
                    chars.next();
                    let name: String = chars.by_ref().take_while(|&c| c != '}').collect();
                    let var = ServerVar::from_name(&name)
                        .ok_or_else(|| format!("%{{{name}}} is not implemented yet in wsgid"))?;
                    flush(&mut pieces, &mut lit);
                    pieces.push(Piece::Var(var));
                }
                _ => lit.push(c),
            }
        }
        flush(&mut pieces, &mut lit);
        Ok(Template(pieces))
    }
}

fn flush(pieces: &mut Vec<Piece>, lit: &mut String) {
    if !lit.is_empty() {
        pieces.push(Piece::Lit(std::mem::take(lit)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces() {
        assert_eq!(
            Template::parse("~%1/$2%{HTTP_HOST}\\$3%x").ok(),
            Some(Template(vec![
                Piece::Lit("~".into()),
                Piece::CondRef(1),
                Piece::Lit("/".into()),
                Piece::RuleRef(2),
                Piece::Var(ServerVar::Header("Host".into())),
                Piece::Lit("$3%x".into()),
            ]))
        );
        assert_eq!(
            Template::parse("%{ENV:A}%{HTTP:X-Y}").ok(),
            Some(Template(vec![
                Piece::Var(ServerVar::Env("A".into())),
                Piece::Var(ServerVar::Header("X-Y".into())),
            ]))
        );
    }

    #[test]
    fn refusals() {
        assert!(Template::parse("${m:k}").is_err());
        assert_eq!(
            Template::parse("%{TIME}"),
            Err("%{TIME} is not implemented yet in wsgid".to_owned())
        );
    }
}
