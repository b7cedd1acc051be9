//! mod_headers (`Header`, `RequestHeader`): each line parsed as
//! `header_cmd` / `header_inout_cmd` parse it, with their messages, into a
//! [`HeaderRule`] of the section (or of the server's defaults outside
//! sections).  What wsgid does not implement yet (`note`, `early`,
//! `expr=`, the `%l`/`%i`/`%b` load tags) is refused with a message that
//! says so.

use regex::Regex;

use crate::builder::Builder;
use crate::header_rules::{EnvCondition, FormatPiece, HeaderAction, HeaderRule};
use crate::registry::{Action::*, Arity::*, *};

#[rustfmt::skip]
pub const ROWS: &[Row] = &[
    row("Header", Raw, OR_FILEINFO, 0, "an optional condition, an action, header and value followed by optional env clause", Set(header)),
    row("RequestHeader", Raw, OR_FILEINFO, 0, "an action, header and value followed by optional env clause", Set(request_header)),
];

/// Which list a line goes to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Table {
    Request,
    OnSuccess,
    Always,
}

fn header(b: &mut Builder, a: &Args) -> Result<(), String> {
    let mut words: &[String] = &a.words;
    let mut table = Table::OnSuccess;
    match words.first().map(|w| w.to_ascii_lowercase()).as_deref() {
        Some("always") => {
            table = Table::Always;
            words = &words[1..];
        }
        Some("onsuccess") => words = &words[1..],
        _ => {}
    }
    let rule = parse(a.name, table, words)?;
    let pd = b.per_dir();
    match table {
        Table::Always => pd.headers_always.push(rule),
        _ => pd.headers_onsuccess.push(rule),
    }
    Ok(())
}

fn request_header(b: &mut Builder, a: &Args) -> Result<(), String> {
    let rule = parse(a.name, Table::Request, &a.words)?;
    b.per_dir().request_headers.push(rule);
    Ok(())
}

/// `header_inout_cmd`: action, header, then value, substitution and the
/// condition as far as the action takes them.
fn parse(directive: &str, table: Table, words: &[String]) -> Result<HeaderRule, String> {
    if words.len() > 5 {
        return Err(format!("{directive} has too many arguments"));
    }
    let word = |i: usize| words.get(i).map(String::as_str);
    let action = match word(0).unwrap_or("").to_ascii_lowercase().as_str() {
        "set" => HeaderAction::Set,
        "setifempty" => HeaderAction::SetIfEmpty,
        "add" => HeaderAction::Add,
        "append" => HeaderAction::Append,
        "merge" => HeaderAction::Merge,
        "unset" => HeaderAction::Unset,
        "echo" => HeaderAction::Echo,
        "edit" => HeaderAction::Edit,
        "edit*" => HeaderAction::EditAll,
        "note" => {
            return Err(format!(
                "{directive} note: not implemented yet in wsgid (mod_headers notes)"
            ));
        }
        _ => {
            return Err(
                "first argument must be 'add', 'set', 'setifempty', 'append', 'merge', \
                        'unset', 'echo', 'note', 'edit', or 'edit*'."
                    .into(),
            );
        }
    };
    let name = word(1).unwrap_or("");
    let mut value = word(2);
    let mut subs = word(3);
    let mut clause = word(4);
    let mut regex = None;
    let mut substitution = String::new();
    if matches!(action, HeaderAction::Edit | HeaderAction::EditAll) {
        let (Some(pattern), Some(s)) = (value, subs) else {
            return Err("Header edit requires a match and a substitution".into());
        };
        regex = Some(
            Regex::new(pattern)
                .map_err(|_| "Header edit regex could not be compiled".to_owned())?,
        );
        substitution = s.to_owned();
        value = None;
    } else {
        if clause.is_some() {
            return Err("Too many arguments to directive".into());
        }
        clause = subs.take();
    }
    match action {
        HeaderAction::Unset | HeaderAction::Echo => {
            if let Some(v) = value.take() {
                if clause.is_some() {
                    return Err(if action == HeaderAction::Unset {
                        "header unset takes two arguments".into()
                    } else {
                        "Header echo takes two arguments".into()
                    });
                }
                clause = Some(v);
            }
            if action == HeaderAction::Echo {
                if table == Table::Request {
                    return Err("Header echo only valid on Header directives".into());
                }
                regex = Some(
                    Regex::new(name)
                        .map_err(|_| "Header echo regex could not be compiled".to_owned())?,
                );
            }
        }
        HeaderAction::Edit | HeaderAction::EditAll => {}
        _ if value.is_none() => return Err("Header requires three arguments".into()),
        _ => {}
    }
    let condition = match clause {
        None => None,
        Some(c) => Some(condition(directive, c)?),
    };
    // mod_headers keeps the name up to a colon.
    let name = name.split(':').next().unwrap_or("").to_owned();
    if action != HeaderAction::Echo && !is_token(&name) {
        return Err(format!("{directive}: '{name}' is not a valid header name"));
    }
    let value = match value {
        Some(v) if v.len() >= 5 && v[..5].eq_ignore_ascii_case("expr=") => {
            return Err(format!(
                "{directive} ... expr=: not implemented yet in wsgid (ap_expr values)"
            ));
        }
        Some(v) => format_string(v)?,
        None => Vec::new(),
    };
    Ok(HeaderRule {
        action,
        name,
        regex,
        value,
        substitution,
        condition,
    })
}

fn condition(directive: &str, clause: &str) -> Result<EnvCondition, String> {
    let lower = clause.to_ascii_lowercase();
    if lower == "early" {
        return Err(format!(
            "{directive} ... early: not implemented yet in wsgid"
        ));
    }
    if lower.starts_with("expr=") {
        return Err(format!(
            "{directive} ... expr=: not implemented yet in wsgid (ap_expr conditions)"
        ));
    }
    if lower.starts_with("env=") {
        let var = &clause[4..];
        let (negated, var) = match var.strip_prefix('!') {
            Some(v) => (true, v),
            None => (false, var),
        };
        if var.is_empty() {
            return Err("error: missing environment variable name. envclause should be in the form env=envar ".into());
        }
        return Ok(EnvCondition {
            var: var.to_owned(),
            negated,
        });
    }
    Err(format!("Unknown parameter: {clause}"))
}

/// Whether `name` is an HTTP token (what a header line can carry).
fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// `parse_format_string`: literal text (with `\\`, `\r`, `\n`, `\t`
/// escapes), `%%`, and the tags.
pub fn format_string(s: &str) -> Result<Vec<FormatPiece>, String> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    let mut text = String::new();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.peek() {
                Some('\\') => {
                    chars.next();
                    text.push('\\');
                }
                Some('r') => {
                    chars.next();
                    text.push('\r');
                }
                Some('n') => {
                    chars.next();
                    text.push('\n');
                }
                Some('t') => {
                    chars.next();
                    text.push('\t');
                }
                _ => text.push('\\'),
            },
            '%' => {
                if matches!(chars.peek(), None | Some('%')) {
                    chars.next();
                    text.push('%');
                    continue;
                }
                let mut arg = String::new();
                if chars.peek() == Some(&'{') {
                    chars.next();
                    for a in chars.by_ref() {
                        if a == '}' {
                            break;
                        }
                        arg.push(a);
                    }
                }
                let tag = chars.next();
                let piece = match tag {
                    Some('D') => FormatPiece::Duration,
                    Some('t') => FormatPiece::Time,
                    Some('e') => FormatPiece::Env(arg),
                    Some('s') => FormatPiece::Ssl(arg),
                    Some(t @ ('l' | 'i' | 'b')) => {
                        return Err(format!(
                            "header format %{t} (server load): not implemented yet in wsgid"
                        ));
                    }
                    Some(t) => return Err(format!("Unrecognized header format %{t}")),
                    None => return Err("Unrecognized header format %".into()),
                };
                if !text.is_empty() {
                    out.push(FormatPiece::Text(std::mem::take(&mut text)));
                }
                out.push(piece);
            }
            c => text.push(c),
        }
    }
    if !text.is_empty() {
        out.push(FormatPiece::Text(text));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::{Table, format_string, parse};
    use crate::header_rules::{FormatPiece, HeaderAction};

    fn words(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_owned).collect()
    }

    #[test]
    fn format_strings_split_into_text_and_tags() {
        assert_eq!(
            format_string(r"a %% b %{FOO}e\t%D%t %").expect("format"),
            vec![
                FormatPiece::Text("a % b ".into()),
                FormatPiece::Env("FOO".into()),
                FormatPiece::Text("\t".into()),
                FormatPiece::Duration,
                FormatPiece::Time,
                FormatPiece::Text(" %".into()),
            ]
        );
        assert_eq!(
            format_string("%q").expect_err("unknown tag"),
            "Unrecognized header format %q"
        );
        assert!(
            format_string("%l")
                .expect_err("load")
                .contains("not implemented")
        );
    }

    #[test]
    fn arguments_as_mod_headers_takes_them() {
        let r = parse("Header", Table::OnSuccess, &words("unset X-A env=!B")).expect("unset");
        assert_eq!(r.action, HeaderAction::Unset);
        let c = r.condition.expect("condition");
        assert!(c.negated && c.var == "B");
        let r = parse("Header", Table::OnSuccess, &words("set X-A: v")).expect("colon");
        assert_eq!(r.name, "X-A");
        for (line, err) in [
            ("set X-A", "Header requires three arguments"),
            ("set X-A v foo", "Unknown parameter: foo"),
            ("set X-A v w x", "Too many arguments to directive"),
            (
                "edit X-A v",
                "Header edit requires a match and a substitution",
            ),
            ("unset X-A v w", "header unset takes two arguments"),
            ("bogus X-A v", "first argument must be"),
            ("set X-A v env=", "missing environment variable name"),
        ] {
            let e = parse("Header", Table::OnSuccess, &words(line)).expect_err(line);
            assert!(e.contains(err), "{line}: {e}");
        }
        let e = parse("RequestHeader", Table::Request, &words("echo X")).expect_err("echo");
        assert_eq!(e, "Header echo only valid on Header directives");
        for line in [
            "note X-A n",
            "set X-A v early",
            "set X-A expr=%{X}",
            "set X-A v expr=true",
        ] {
            let e = parse("Header", Table::OnSuccess, &words(line)).expect_err(line);
            assert!(e.contains("not implemented yet in wsgid"), "{line}: {e}");
        }
    }
}
