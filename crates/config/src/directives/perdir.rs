//! Core per-directory directives: Options, AllowOverride(List), SetHandler,
//! LimitRequestBody, and mod_dir's DirectoryIndex, DirectorySlash, DirectoryCheckHandler,
//! DirectoryIndexRedirect and FallbackResource.

use crate::builder::Builder;
use crate::merge::union;
use crate::model::{OptionFlags, OptionsSpec, Overrides};
use crate::registry::{Action::*, Arity::*, *};

// One row per line reads as a table; rustfmt would explode it.
#[rustfmt::skip]
pub const ROWS: &[Row] = &[
    row("Options", Raw, OR_OPTIONS, 0, "Set a number of attributes for a given directory", Set(options)),
    row("AllowOverride", Raw, ACCESS_CONF, 0, "Controls what groups of directives can be configured by per-directory config files", Set(allow_override)),
    row("AllowOverrideList", Argv, ACCESS_CONF, 0, "Controls what individual directives can be configured by per-directory config files", Set(allow_override_list)),
    row("SetHandler", Take1, OR_FILEINFO, 0, "a handler name that overrides any other configured handler", Set(set_handler)),
    row("LimitRequestBody", Take1, OR_ALL, 0, "Limit (in bytes) on maximum size of request message body", Set(limit_request_body)),
    row("DirectoryIndex", Raw, OR_INDEXES, 0, "a list of file names", Set(directory_index)),
    row("DirectorySlash", Flag, OR_INDEXES, 0, "On or Off", Set(directory_slash)),
    row("DirectoryCheckHandler", Flag, OR_INDEXES, 0, "On or Off", Set(directory_check_handler)),
    row("DirectoryIndexRedirect", Take1, OR_INDEXES, 0, "On, Off, or a 3xx status code.", Set(directory_index_redirect)),
    row("FallbackResource", Take1, OR_INDEXES, 0, "Set a default handler", Set(fallback_resource)),
];

const ALL_OPTIONS: OptionFlags = OptionFlags {
    exec_cgi: true,
    indexes: true,
    follow_symlinks: true,
    symlinks_if_owner_match: false,
    includes: true,
    includes_noexec: false,
    multiviews: false,
};

/// One option word (case-insensitive), or None for an unknown one.
fn option_flag(w: &str) -> Option<OptionFlags> {
    let none = OptionFlags::default();
    Some(match w.to_ascii_lowercase().as_str() {
        "indexes" => OptionFlags {
            indexes: true,
            ..none
        },
        "includes" => OptionFlags {
            includes: true,
            ..none
        },
        "includesnoexec" => OptionFlags {
            includes_noexec: true,
            ..none
        },
        "followsymlinks" => OptionFlags {
            follow_symlinks: true,
            ..none
        },
        "symlinksifownermatch" => OptionFlags {
            symlinks_if_owner_match: true,
            ..none
        },
        "execcgi" => OptionFlags {
            exec_cgi: true,
            ..none
        },
        "multiviews" => OptionFlags {
            multiviews: true,
            ..none
        },
        "runscripts" => OptionFlags {
            multiviews: true,
            exec_cgi: true,
            ..none
        },
        "none" => none,
        "all" => ALL_OPTIONS,
        _ => return None,
    })
}

/// Parses `Options` with Apache 2.4's rules (core.c `set_options`).  Several
/// specs can come out: `Options None +ExecCGI` is absolute None then +ExecCGI.
pub fn parse_options(raw: &str) -> Result<Vec<OptionsSpec>, String> {
    const MIXED: &str = "Either all Options must start with + or -, or no Option may.";
    let mut specs = Vec::new();
    let (mut first, mut merge, mut all_none) = (true, false, false);
    let mut absolute: Option<OptionFlags> = None;
    let (mut add, mut remove) = (OptionFlags::default(), OptionFlags::default());
    for w in crate::lexer::words(raw) {
        let (action, word) = match w
            .strip_prefix('+')
            .map(|r| ('+', r))
            .or_else(|| w.strip_prefix('-').map(|r| ('-', r)))
        {
            Some((a, r)) => {
                if !merge && !first && !all_none {
                    return Err(MIXED.to_owned());
                }
                merge = true;
                (Some(a), r)
            }
            None if merge => return Err(MIXED.to_owned()),
            None => (None, w.as_str()),
        };
        let lower = word.to_ascii_lowercase();
        if lower == "none" || lower == "all" {
            if !first {
                return Err(if lower == "none" {
                    "'Options None' must be the first Option given.".to_owned()
                } else {
                    "'Options All' must be the first option given.".to_owned()
                });
            }
            if merge {
                let c = if lower == "none" { "None" } else { "All" };
                return Err(format!("You may not use 'Options +{c}' or 'Options -{c}'."));
            }
            all_none = true;
        }
        let flag = option_flag(word).ok_or_else(|| format!("Illegal option {word}"))?;
        match action {
            Some('-') => {
                remove = union(remove, flag);
                add = crate::merge::minus(add, flag);
            }
            Some(_) => {
                add = union(add, flag);
                remove = crate::merge::minus(remove, flag);
            }
            None => absolute = Some(union(absolute.unwrap_or_default(), flag)),
        }
        first = false;
    }
    if let Some(abs) = absolute {
        specs.push(OptionsSpec::Absolute(abs));
    }
    if merge {
        specs.push(OptionsSpec::Relative { add, remove });
    }
    Ok(specs)
}

fn options(b: &mut Builder, a: &Args) -> Result<(), String> {
    let specs = parse_options(&a.raw)?;
    // In .htaccess under `AllowOverride Options=...`: core.c's check of
    // each option against `override_opts`.
    if let Some(allowed) = b.options_allowed {
        for w in crate::lexer::words(&a.raw) {
            let word = w.trim_start_matches(['+', '-']);
            if word.eq_ignore_ascii_case("none") {
                continue;
            }
            if let Some(flag) = option_flag(word)
                && crate::merge::intersect(flag, allowed) == OptionFlags::default()
            {
                return Err(format!("Option {word} not allowed here"));
            }
        }
    }
    b.per_dir().options.extend(specs);
    Ok(())
}

/// `AllowOverride` (core.c `set_override`).
pub fn parse_overrides(raw: &str) -> Result<Overrides, String> {
    let mut o = Overrides::default();
    for w in crate::lexer::words(raw) {
        let (k, v) = match w.split_once('=') {
            Some((k, v)) => (k.to_owned(), Some(v.to_owned())),
            None => (w.clone(), None),
        };
        match k.to_ascii_lowercase().as_str() {
            "limit" if v.is_none() => o.limit = true,
            "options" => {
                o.options = true;
                o.options_allowed = match v {
                    Some(list) => Some(allowed_options(&list)?),
                    None => None,
                };
            }
            "fileinfo" if v.is_none() => o.file_info = true,
            "authconfig" if v.is_none() => o.auth_config = true,
            "indexes" if v.is_none() => o.indexes = true,
            "nonfatal" => match v.as_deref().map(str::to_ascii_lowercase).as_deref() {
                None => return Err(format!("=Override, =Unknown or =All expected after {w}")),
                Some("override") => o.nonfatal_override = true,
                Some("unknown") => o.nonfatal_unknown = true,
                Some("all") => {
                    o.nonfatal_override = true;
                    o.nonfatal_unknown = true;
                }
                Some(_) => {}
            },
            "none" if v.is_none() => o = Overrides::default(),
            "all" if v.is_none() => {
                o = Overrides {
                    auth_config: true,
                    file_info: true,
                    indexes: true,
                    limit: true,
                    options: true,
                    ..Overrides::default()
                }
            }
            _ => return Err(format!("Illegal override option {w}")),
        }
    }
    Ok(o)
}

/// The `Options=a,b` list of `AllowOverride` (core.c `set_allow_opts`).
fn allowed_options(list: &str) -> Result<OptionFlags, String> {
    let mut f = OptionFlags::default();
    for w in list.split(',') {
        let flag = option_flag(w).ok_or_else(|| format!("Illegal option {w}"))?;
        f = union(f, flag);
    }
    Ok(f)
}

fn allow_override(b: &mut Builder, a: &Args) -> Result<(), String> {
    if b.parents.iter().any(|p| {
        matches!(
            *p,
            "<Location" | "<LocationMatch" | "<Files" | "<FilesMatch"
        )
    }) {
        let span = b.current_span.clone();
        b.warn(
            format!(
                "AH00114: Useless use of AllowOverride in line {} of {}.",
                span.line,
                span.file.display()
            ),
            &span,
        );
    }
    b.per_dir().allow_override = Some(parse_overrides(&a.raw)?);
    Ok(())
}

fn allow_override_list(b: &mut Builder, a: &Args) -> Result<(), String> {
    let list = if a.words.len() == 1 && a.get(0).eq_ignore_ascii_case("none") {
        Vec::new()
    } else {
        a.words.clone()
    };
    b.per_dir().allow_override_list = Some(list);
    Ok(())
}

fn directory_slash(b: &mut Builder, a: &Args) -> Result<(), String> {
    b.per_dir().directory_slash = Some(a.get(0).eq_ignore_ascii_case("on"));
    Ok(())
}

fn directory_check_handler(b: &mut Builder, a: &Args) -> Result<(), String> {
    b.per_dir().directory_check_handler = Some(a.get(0).eq_ignore_ascii_case("on"));
    Ok(())
}

/// `configure_redirect` (a number is read as `atoi` reads it).
fn directory_index_redirect(b: &mut Builder, a: &Args) -> Result<(), String> {
    let v = a.get(0);
    let status = match v.to_ascii_lowercase().as_str() {
        "on" | "temp" => 302,
        "off" => 0,
        "permanent" => 301,
        "seeother" => 303,
        _ if v.starts_with(|c: char| c.is_ascii_digit()) => match u16::try_from(super::atoi(v)) {
            Ok(n) if (300..400).contains(&n) => n,
            _ => {
                return Err(
                    "DirectoryIndexRedirect only accepts values between 300 and 399".to_owned(),
                );
            }
        },
        _ => return Err("DirectoryIndexRedirect ON|OFF|permanent|temp|seeother|3xx".to_owned()),
    };
    b.per_dir().directory_index_redirect = Some(status);
    Ok(())
}

fn fallback_resource(b: &mut Builder, a: &Args) -> Result<(), String> {
    b.per_dir().fallback_resource = Some(a.get(0).to_owned());
    Ok(())
}

fn set_handler(b: &mut Builder, a: &Args) -> Result<(), String> {
    let h = a.get(0);
    // "None" resets to no handler (core.c set_sethandler); names are
    // compared lower-case by Apache.
    let value = if h.eq_ignore_ascii_case("none") {
        None
    } else {
        Some(h.to_ascii_lowercase())
    };
    b.per_dir().set_handler = Some(value);
    Ok(())
}

fn limit_request_body(b: &mut Builder, a: &Args) -> Result<(), String> {
    let v = a.get(0);
    let n: u64 = v
        .parse()
        .map_err(|_| "LimitRequestBody argument is not parsable.".to_owned())?;
    b.per_dir().limit_request_body = Some(n);
    Ok(())
}

fn directory_index(b: &mut Builder, a: &Args) -> Result<(), String> {
    let words: Vec<String> = a.words.iter().filter(|w| !w.is_empty()).cloned().collect();
    if words.is_empty() {
        return Err("DirectoryIndex requires at least one argument".to_owned());
    }
    // `disabled` alone turns index lookup off (mod_dir).
    let list = if words.len() == 1 && words[0].eq_ignore_ascii_case("disabled") {
        Vec::new()
    } else {
        words
    };
    b.per_dir().directory_index = Some(list);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exec() -> OptionFlags {
        OptionFlags {
            exec_cgi: true,
            ..OptionFlags::default()
        }
    }

    #[test]
    fn options_forms() {
        assert_eq!(
            parse_options("ExecCGI"),
            Ok(vec![OptionsSpec::Absolute(exec())])
        );
        assert_eq!(
            parse_options("None"),
            Ok(vec![OptionsSpec::Absolute(OptionFlags::default())])
        );
        assert_eq!(
            parse_options("+ExecCGI -Indexes"),
            Ok(vec![OptionsSpec::Relative {
                add: exec(),
                remove: OptionFlags {
                    indexes: true,
                    ..OptionFlags::default()
                }
            }])
        );
        assert_eq!(
            parse_options("None +ExecCGI"),
            Ok(vec![
                OptionsSpec::Absolute(OptionFlags::default()),
                OptionsSpec::Relative {
                    add: exec(),
                    remove: OptionFlags::default()
                }
            ])
        );
    }

    #[test]
    fn options_errors_are_apaches() {
        let mixed = "Either all Options must start with + or -, or no Option may.";
        assert_eq!(parse_options("ExecCGI +Indexes"), Err(mixed.to_owned()));
        assert_eq!(parse_options("+ExecCGI Indexes"), Err(mixed.to_owned()));
        assert_eq!(
            parse_options("Bogus"),
            Err("Illegal option Bogus".to_owned())
        );
        assert_eq!(
            parse_options("ExecCGI None"),
            Err("'Options None' must be the first Option given.".to_owned())
        );
        assert_eq!(
            parse_options("+All"),
            Err("You may not use 'Options +All' or 'Options -All'.".to_owned())
        );
    }

    #[test]
    fn overrides() {
        let o = parse_overrides("FileInfo AuthConfig").unwrap_or_default();
        assert!(o.file_info && o.auth_config && !o.options);
        let o = parse_overrides("All").unwrap_or_default();
        assert!(o.limit && o.options && o.indexes);
        assert_eq!(parse_overrides("None").ok(), Some(Overrides::default()));
        let o = parse_overrides("Options=ExecCGI,Indexes").unwrap_or_default();
        assert_eq!(
            o.options_allowed,
            Some(union(
                exec(),
                OptionFlags {
                    indexes: true,
                    ..OptionFlags::default()
                }
            ))
        );
        assert_eq!(
            parse_overrides("Bogus"),
            Err("Illegal override option Bogus".to_owned())
        );
    }
}
