//! The password file of libpq (`PGPASSFILE`, else `~/.pgpass`), which sqlx reads itself
//! when neither `DATABASE_URL` nor `PGPASSWORD` gives a password. ampsync never sees the
//! password sqlx takes from it, yet it is a secret this process holds: [`passwords`]
//! looks it up the way sqlx does, so that `config` can register it with the scrub.
//!
//! sqlx warns about a line it cannot read by quoting the whole line, password included,
//! and logs are not scrubbed; its pgpass warnings are therefore silenced (see
//! `telemetry`) and [`passwords`] warns instead, naming the file and the line number.

use std::path::{Path, PathBuf};

/// A pgpass file is a few short lines; one is read no further than this, so a wrong
/// `PGPASSFILE` (a log, a device) costs nothing.
const FILE_LIMIT: u64 = 1 << 20;

/// The password the pgpass files give a connection to `host:port/database` as `user`, in
/// each form in which it may be used or quoted: as sqlx reads it (the rest of the line)
/// and as libpq does (its `\` escapes undone). Empty when no line matches.
///
/// As sqlx: `PGPASSFILE` first, then `~/.pgpass` if that one has no matching line; the
/// database that matches is the one the options name (none matches only `*` or an
/// empty field).
pub fn passwords(host: &str, port: u16, user: &str, database: Option<&str>) -> Vec<String> {
    let wanted = Wanted {
        host,
        port: &port.to_string(),
        database: database.unwrap_or_default(),
        user,
    };
    let custom = std::env::var_os("PGPASSFILE")
        .filter(|f| !f.is_empty())
        .map(PathBuf::from);
    let default = std::env::home_dir().map(|home| home.join(".pgpass"));
    for path in custom.into_iter().chain(default) {
        if let Some(text) = read(&path) {
            if let Some(found) = lookup(&text, &wanted, &path) {
                return found.forms();
            }
        }
    }
    Vec::new()
}

/// What a line must match.
struct Wanted<'a> {
    host: &'a str,
    port: &'a str,
    database: &'a str,
    user: &'a str,
}

/// The password field of a matching line.
#[derive(Debug, PartialEq, Eq)]
struct Found {
    /// The rest of the line after the user field, as sqlx takes it.
    raw: String,
    /// The same with `\:` and `\\` undone, as libpq takes it.
    unescaped: String,
}

impl Found {
    fn forms(self) -> Vec<String> {
        let mut forms = vec![self.raw];
        if !forms.contains(&self.unescaped) {
            forms.push(self.unescaped);
        }
        forms.retain(|f| !f.is_empty());
        forms
    }
}

/// The file's text, if it is a regular file that can be read. A FIFO is never opened,
/// since opening one blocks until a writer comes.
fn read(path: &Path) -> Option<String> {
    use std::io::Read;
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() {
        return None;
    }
    warn_if_loose(path, &meta);
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .ok()?
        .take(FILE_LIMIT)
        .read_to_end(&mut bytes)
        .ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// sqlx ignores a pgpass file that its group or others may read (as libpq does); it
/// would say so itself, but its pgpass warnings are silenced.
#[cfg(unix)]
fn warn_if_loose(path: &Path, meta: &std::fs::Metadata) {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode();
    if mode & 0o077 != 0 {
        tracing::warn!(
            file = %path.display(),
            mode = format!("{:o}", mode & 0o777),
            "the pgpass file may be read by group or others, so its passwords are not used; restrict it (chmod 600)"
        );
    }
}

#[cfg(not(unix))]
fn warn_if_loose(_: &Path, _: &std::fs::Metadata) {}

/// The first line of `text` that matches, as sqlx reads a pgpass file: lines of
/// `host:port:database:user:password`, `*` matching anything, `\` escaping the next
/// character in the first four fields, `#` starting a comment line.
fn lookup(text: &str, wanted: &Wanted<'_>, path: &Path) -> Option<Found> {
    for (number, line) in text.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim_start().starts_with('#') || line.trim_start().is_empty() {
            continue;
        }
        let mut rest = line;
        let mut matched = true;
        for value in [wanted.host, wanted.port, wanted.database, wanted.user] {
            let Some((field, after)) = next_field(rest) else {
                // sqlx gives up on this line here (and would quote it whole).
                tracing::warn!(
                    file = %path.display(),
                    line = number + 1,
                    "a line of the pgpass file has fewer than five fields; it is skipped"
                );
                matched = false;
                break;
            };
            if field != "*" && field != value {
                matched = false;
                break;
            }
            rest = after;
        }
        if matched {
            return Some(Found {
                raw: rest.to_owned(),
                unescaped: unescape(rest),
            });
        }
    }
    None
}

/// The first `:`-separated field of `line`, unescaped, and what follows its `:`; none when
/// no unescaped `:` ends it.
fn next_field(line: &str) -> Option<(String, &str)> {
    let mut field = String::new();
    let mut chars = line.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '\\' => {
                if let Some((_, escaped)) = chars.next() {
                    field.push(escaped);
                }
            }
            ':' => return Some((field, &line[at + 1..])),
            c => field.push(c),
        }
    }
    None
}

/// `text` with each `\x` read as `x`.
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(text: &str, host: &str, port: &str, database: &str, user: &str) -> Option<Found> {
        let wanted = Wanted {
            host,
            port,
            database,
            user,
        };
        lookup(text, &wanted, Path::new("pgpass"))
    }

    const FILE: &str = "\
# comment: localhost:5432:*:app:Not-A-Password-1\n\
db.internal:5432:crm:app:Pg-First-Match-7Qx\n\
db.internal:5432:*:app:Pg-Any-Database-9Zp\n\
*:*:*:report\\:er:Pg-Escaped-User-2Lm\n\
*:6432:*:*:Pg\\:Colon\\\\Slash-4Vw\r\n\
";

    #[test]
    fn the_first_matching_line_gives_the_password() {
        let found = |host, port, db, user| find(FILE, host, port, db, user).map(|f| f.raw);
        assert_eq!(
            found("db.internal", "5432", "crm", "app").as_deref(),
            Some("Pg-First-Match-7Qx")
        );
        assert_eq!(
            found("db.internal", "5432", "billing", "app").as_deref(),
            Some("Pg-Any-Database-9Zp")
        );
        assert_eq!(
            found("other", "5432", "crm", "report:er").as_deref(),
            Some("Pg-Escaped-User-2Lm")
        );
        assert_eq!(found("db.internal", "5433", "crm", "app"), None);
        assert_eq!(found("localhost", "5432", "x", "app"), None, "a comment");
    }

    #[test]
    fn a_password_with_escapes_is_found_as_sqlx_and_as_libpq_read_it() {
        let found = find(FILE, "any", "6432", "x", "y").unwrap();
        assert_eq!(
            found.forms(),
            ["Pg\\:Colon\\\\Slash-4Vw", "Pg:Colon\\Slash-4Vw"],
            "the CRLF line ending is not part of it"
        );
    }

    #[test]
    fn a_line_with_too_few_fields_is_skipped() {
        let text = "db.internal:5432:Pg-Typo-Line-3Kd\ndb.internal:5432:*:app:Pg-Good-5Rt\n";
        assert_eq!(
            find(text, "db.internal", "5432", "crm", "app").map(|f| f.raw),
            Some("Pg-Good-5Rt".to_owned())
        );
    }
}
