//! `FileETag`: which facts of a file make its ETag, kept as Apache's
//! `etag_bits` / `etag_add` / `etag_remove` so that sections merge (and
//! `+X` / `-X` adjust what is inherited) as `merge_core_dir_configs` does.

/// The ETag components of one section.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FileEtag {
    /// Absolute setting (0: none written here).
    pub bits: u8,
    /// `+X` and `-X` written here.
    pub add: u8,
    pub remove: u8,
}

pub const NONE: u8 = 1;
pub const MTIME: u8 = 2;
pub const INODE: u8 = 4;
pub const SIZE: u8 = 8;
pub const ALL: u8 = MTIME | INODE | SIZE;
/// Apache 2.4's default (`ETAG_BACKWARD`).
pub const DEFAULT: u8 = MTIME | SIZE;

impl FileEtag {
    /// `later` (a more specific section) over `self`.
    pub fn merge(&self, later: &FileEtag) -> FileEtag {
        if later.bits == 0 {
            let add = (self.add & !later.remove) | later.add;
            let remove = (self.remove & !later.add) | later.remove;
            FileEtag {
                bits: (self.bits & !remove) | add,
                add,
                remove,
            }
        } else {
            *later
        }
    }

    /// The components in effect (`NONE`: no ETag).
    pub fn effective(&self) -> u8 {
        match (self.bits & !self.remove) | self.add {
            0 => DEFAULT,
            b => b,
        }
    }
}

/// `set_etag_bits`: apply one `FileETag` line's keywords to `cfg`.
pub fn parse(cfg: &mut FileEtag, words: &[String]) -> Result<(), String> {
    let mut first = true;
    let mut explicit = false;
    for word in words {
        let (action, token) = match word.as_bytes().first() {
            Some(b'+') => ('+', &word[1..]),
            Some(b'-') => ('-', &word[1..]),
            _ => {
                if first {
                    *cfg = FileEtag::default();
                    first = false;
                }
                ('*', word.as_str())
            }
        };
        let lower = token.to_ascii_lowercase();
        let bit = match lower.as_str() {
            "none" | "all" if action != '*' => {
                return Err(format!(
                    "FileETag keyword '{token}' cannot be used with '+' or '-'"
                ));
            }
            "none" => {
                cfg.bits = NONE;
                explicit = true;
                NONE
            }
            "all" => {
                cfg.bits = ALL;
                explicit = true;
                ALL
            }
            "size" => SIZE,
            "lmtime" | "mtime" | "lastmodified" => MTIME,
            "inode" => INODE,
            "digest" => {
                return Err("FileETag Digest: not implemented yet in wsgid".to_owned());
            }
            _ => return Err(format!("Unknown keyword '{token}' for FileETag directive")),
        };
        match action {
            '+' => {
                cfg.add |= bit;
                cfg.remove &= !bit;
            }
            '-' => {
                cfg.remove |= bit;
                cfg.add &= !bit;
            }
            _ => {
                cfg.bits |= bit;
                cfg.add = 0;
                cfg.remove = 0;
                explicit = true;
            }
        }
    }
    if explicit && cfg.bits & NONE == NONE {
        cfg.bits = NONE;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(s: &str) -> FileEtag {
        let mut cfg = FileEtag::default();
        let words: Vec<String> = s.split_whitespace().map(str::to_owned).collect();
        parse(&mut cfg, &words).expect("parse");
        cfg
    }

    #[test]
    fn keywords_and_merges_as_apache() {
        assert_eq!(FileEtag::default().effective(), MTIME | SIZE);
        assert_eq!(line("None").effective(), NONE);
        assert_eq!(line("None INode").effective() & NONE, NONE);
        assert_eq!(line("All").effective(), ALL);
        assert_eq!(line("INode MTime").effective(), INODE | MTIME);
        // Relative lines adjust what is inherited.
        let inherited = line("All");
        assert_eq!(inherited.merge(&line("-INode")).effective(), MTIME | SIZE);
        assert_eq!(
            line("MTime").merge(&line("+Size")).effective(),
            MTIME | SIZE
        );
        assert_eq!(
            FileEtag::default().merge(&line("-Size")).effective(),
            DEFAULT
        );
        assert_eq!(line("Size").merge(&line("INode")).effective(), INODE);
        let mut cfg = FileEtag::default();
        let e = parse(&mut cfg, &["+None".to_owned()]).expect_err("+None");
        assert_eq!(e, "FileETag keyword 'None' cannot be used with '+' or '-'");
        let e = parse(&mut cfg, &["Bogus".to_owned()]).expect_err("bogus");
        assert_eq!(e, "Unknown keyword 'Bogus' for FileETag directive");
    }
}
