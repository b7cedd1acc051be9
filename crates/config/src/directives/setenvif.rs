//! mod_setenvif's directives (`SetEnvIf`, `SetEnvIfNoCase`, `BrowserMatch`,
//! `BrowserMatchNoCase`): parsed into [`SetEnvIf`] lines on the host (outside
//! sections) or the section's per-directory config, as `add_setenvif_core`.

use regex::{Regex, RegexBuilder};

use crate::builder::Builder;
use crate::lexer::next_word;
use crate::model::{EnvAttribute, SetEnvIf};
use crate::registry::{Action::*, Arity::*, *};

#[rustfmt::skip]
pub const ROWS: &[Row] = &[
    row("SetEnvIf", Raw, OR_FILEINFO, 0, "A header-name, regex and a list of variables.", Set(set_env_if)),
    row("SetEnvIfNoCase", Raw, OR_FILEINFO, 0, "a header-name, regex and a list of variables.", Set(set_env_if)),
    row("SetEnvIfExpr", Raw, OR_FILEINFO, 0, "an expression and a list of variables.", Planned("mod_setenvif")),
    row("BrowserMatch", Raw, OR_FILEINFO, 0, "A browser regex and a list of variables.", Set(browser_match)),
    row("BrowserMatchNoCase", Raw, OR_FILEINFO, 0, "A browser regex and a list of variables.", Set(browser_match)),
];

fn set_env_if(b: &mut Builder, a: &Args) -> Result<(), String> {
    let mut rest = a.raw.as_str();
    let name = next_word(&mut rest);
    if name.is_empty() {
        return Err(format!("Missing header-field name for {}", a.name));
    }
    let line = parse(a.name, &name, rest, a.name.ends_with("NoCase"))?;
    add(b, line);
    Ok(())
}

fn browser_match(b: &mut Builder, a: &Args) -> Result<(), String> {
    let line = parse(a.name, "User-Agent", &a.raw, a.name.ends_with("NoCase"))?;
    add(b, line);
    Ok(())
}

fn add(b: &mut Builder, line: SetEnvIf) {
    if b.at_host_level() {
        b.host().set_env_if.push(line);
    } else {
        b.per_dir().set_env_if.push(line);
    }
}

fn compile(re: &str, icase: bool) -> Option<Regex> {
    RegexBuilder::new(re).case_insensitive(icase).build().ok()
}

/// `add_setenvif_core`: the attribute, the regex, then the variables.
pub fn parse(directive: &str, name: &str, args: &str, icase: bool) -> Result<SetEnvIf, String> {
    let mut rest = args;
    let re = next_word(&mut rest);
    if re.is_empty() {
        return Err(format!("Missing regular expression for {directive}"));
    }
    let regex =
        compile(&re, icase).ok_or_else(|| format!("{directive} regex could not be compiled."))?;
    let attribute = match name.to_ascii_lowercase().as_str() {
        "remote_addr" => EnvAttribute::RemoteAddr,
        "remote_host" => EnvAttribute::RemoteHost,
        "remote_user" => EnvAttribute::RemoteUser,
        "request_uri" => EnvAttribute::RequestUri,
        "request_method" => EnvAttribute::RequestMethod,
        "request_protocol" => EnvAttribute::RequestProtocol,
        "server_addr" => EnvAttribute::ServerAddr,
        _ if name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') =>
        {
            EnvAttribute::Header(name.to_owned())
        }
        _ => EnvAttribute::HeaderRegex(
            compile(name, icase)
                .ok_or_else(|| format!("{directive}Header name regex could not be compiled."))?,
        ),
    };
    let mut actions: Vec<(String, Option<String>)> = Vec::new();
    loop {
        let feature = next_word(&mut rest);
        if feature.is_empty() {
            break;
        }
        let (var, value) = match feature.split_once('=') {
            Some((var, value)) if !value.is_empty() => (var, Some(value.to_owned())),
            Some((var, _)) => (var, Some("1".to_owned())),
            None => match feature.strip_prefix('!') {
                Some(var) => (var, None),
                None => (feature.as_str(), Some("1".to_owned())),
            },
        };
        // An apr table: setting a variable again replaces it in place.
        match actions.iter_mut().find(|(k, _)| k == var) {
            Some(slot) => slot.1 = value,
            None => actions.push((var.to_owned(), value)),
        }
    }
    if actions.is_empty() {
        return Err(format!("Missing envariable expression for {directive}"));
    }
    Ok(SetEnvIf {
        attribute,
        regex,
        actions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(name: &str, args: &str) -> String {
        parse("SetEnvIf", name, args, false)
            .err()
            .unwrap_or_default()
    }

    #[test]
    fn attributes_and_actions() {
        let Ok(l) = parse(
            "SetEnvIf",
            "User-Agent",
            "^Bot/([0-9]+) A=yes V=$1 !B C",
            false,
        ) else {
            panic!("should parse")
        };
        assert!(matches!(&l.attribute, EnvAttribute::Header(h) if h == "User-Agent"));
        assert_eq!(
            l.actions,
            vec![
                ("A".to_owned(), Some("yes".to_owned())),
                ("V".to_owned(), Some("$1".to_owned())),
                ("B".to_owned(), None),
                ("C".to_owned(), Some("1".to_owned())),
            ]
        );
        assert!(!l.regex.is_match("bot/1"));
        for (n, want) in [
            ("Remote_Addr", "RemoteAddr"),
            ("REQUEST_URI", "RequestUri"),
            ("Request_Method", "RequestMethod"),
            ("request_protocol", "RequestProtocol"),
            ("Server_Addr", "ServerAddr"),
            ("Remote_Host", "RemoteHost"),
            ("X-.*", "HeaderRegex"),
        ] {
            let Ok(l) = parse("SetEnvIf", n, "x A", false) else {
                panic!("{n}")
            };
            assert!(format!("{:?}", l.attribute).starts_with(want), "{n}");
        }
    }

    #[test]
    fn nocase() {
        let Ok(l) = parse("SetEnvIfNoCase", "X-Flag", "^on$ F=1", true) else {
            panic!("should parse")
        };
        assert!(l.regex.is_match("ON"));
    }

    #[test]
    fn messages() {
        assert_eq!(err("Host", ""), "Missing regular expression for SetEnvIf");
        assert_eq!(
            err("Host", "x"),
            "Missing envariable expression for SetEnvIf"
        );
        assert_eq!(err("Host", "( A"), "SetEnvIf regex could not be compiled.");
    }
}
