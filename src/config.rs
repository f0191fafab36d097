//! Turns raw flags and environment into validated, ready-to-use settings in one step,
//! so a bad value is a usage error (exit 2) before any work starts.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::SecretString;
use url::{Host, Url};

use crate::api::{ApiSettings, Limits, RetryPolicy};

/// A configuration problem (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// The API's settings from the flags of `sync`; the key from `AMPERSAND_API_KEY` or the
/// file `AMPERSAND_API_KEY_FILE` names (never from a flag: flags show in `ps`).
pub struct RawApi<'a> {
    pub api_url: &'a str,
    pub connect_timeout: Duration,
    pub stall_timeout: Duration,
    pub request_timeout: Duration,
    pub retry_attempts: u32,
    pub retry_budget: Duration,
    pub retry_base_delay: Duration,
    pub limits: Limits,
}

impl RawApi<'_> {
    pub fn validate(&self) -> Result<ApiSettings, ConfigError> {
        Ok(ApiSettings {
            base_url: api_url(self.api_url)?,
            api_key: api_key_from_env()?,
            connect_timeout: self.connect_timeout,
            stall_timeout: self.stall_timeout,
            request_timeout: self.request_timeout,
            retry: RetryPolicy {
                max_attempts: self.retry_attempts.max(1),
                max_elapsed: self.retry_budget,
                base_delay: self.retry_base_delay,
                ..RetryPolicy::default()
            },
            limits: self.limits,
        })
    }
}

/// An `https://` URL, or `http://` to a loopback host (a local fake or proxy).
pub fn api_url(text: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(text)
        .map_err(|e| ConfigError(format!("AMPERSAND_API_URL `{text}` is not a URL: {e}")))?;
    let loopback = match url.host() {
        Some(Host::Domain(domain)) => domain == "localhost",
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback => Ok(url),
        "http" => Err(ConfigError(format!(
            "AMPERSAND_API_URL `{text}` is plain http: the API key would cross the network unencrypted. Use https (http is allowed only for loopback hosts)"
        ))),
        other => Err(ConfigError(format!("AMPERSAND_API_URL `{text}` has scheme `{other}`; use https"))),
    }
}

fn api_key_from_env() -> Result<SecretString, ConfigError> {
    let inline = std::env::var("AMPERSAND_API_KEY")
        .ok()
        .filter(|k| !k.trim().is_empty());
    let file = std::env::var_os("AMPERSAND_API_KEY_FILE")
        .filter(|f| !f.is_empty())
        .map(PathBuf::from);
    let key = match (inline, file) {
        (Some(_), Some(_)) => {
            return Err(ConfigError(
                "both AMPERSAND_API_KEY and AMPERSAND_API_KEY_FILE are set; set only one".into(),
            ))
        }
        (Some(key), None) => key,
        (None, Some(path)) => read_key_file(&path)?,
        (None, None) => {
            return Err(ConfigError(
                "no API key: set AMPERSAND_API_KEY or AMPERSAND_API_KEY_FILE".into(),
            ))
        }
    };
    let key = key.trim();
    if key.is_empty() || key.chars().any(|c| c.is_control()) {
        return Err(ConfigError(
            "the API key is empty or holds control characters".into(),
        ));
    }
    let key = SecretString::from(key.to_owned());
    crate::scrub::protect(&key);
    Ok(key)
}

/// An API key is one short line; a key file is read no further than this, so a wrong
/// path (`/dev/zero`, a log file) fails at once instead of filling memory.
const KEY_FILE_LIMIT: u64 = 64 << 10;

/// Reads `AMPERSAND_API_KEY_FILE`, warning when every user of the machine may read it.
fn read_key_file(path: &Path) -> Result<String, ConfigError> {
    use std::io::Read;
    let failed = |e: std::io::Error| {
        ConfigError(format!(
            "could not read the API key from AMPERSAND_API_KEY_FILE {}: {e}",
            path.display()
        ))
    };
    let file = std::fs::File::open(path).map_err(failed)?;
    warn_if_world_readable(path, &file);
    let mut key = String::new();
    file.take(KEY_FILE_LIMIT + 1)
        .read_to_string(&mut key)
        .map_err(failed)?;
    if key.len() as u64 > KEY_FILE_LIMIT {
        return Err(ConfigError(format!(
            "AMPERSAND_API_KEY_FILE {} holds more than {} and an API key is one short line; is it the right file?",
            path.display(),
            bytesize::ByteSize(KEY_FILE_LIMIT)
        )));
    }
    Ok(key)
}

#[cfg(unix)]
fn warn_if_world_readable(path: &Path, file: &std::fs::File) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = file.metadata() else { return };
    if meta.is_file() && meta.permissions().mode() & 0o004 != 0 {
        tracing::warn!(
            file = %path.display(),
            mode = format!("{:o}", meta.permissions().mode() & 0o777),
            "the API key file is readable by every user of this machine; restrict it (chmod 600, or defaultMode 0440 for a Kubernetes secret volume)"
        );
    }
}

#[cfg(not(unix))]
fn warn_if_world_readable(_: &Path, _: &std::fs::File) {}

/// Registers every form of the database password with the secret scrub (see
/// [`database_passwords`]), and the password a pgpass file gives the connection (see
/// [`pgpass_passwords`]), so no message, log line or stored value can carry it even if a
/// library quotes the URL or the server echoes it.
pub fn protect_database_password(database_url: &SecretString) {
    for password in database_passwords(database_url)
        .into_iter()
        .chain(pgpass_passwords(database_url))
    {
        crate::scrub::protect(&password);
    }
}

/// The password that sqlx takes from a pgpass file for the connection `DATABASE_URL`
/// makes (see [`crate::pgpass`]), in every form as [`database_passwords`] gives them.
/// None when the URL or `PGPASSWORD` gives a password: sqlx reads no pgpass file then.
pub fn pgpass_passwords(database_url: &SecretString) -> Vec<SecretString> {
    use secrecy::ExposeSecret;
    use std::str::FromStr;
    let text = database_url.expose_secret();
    let given_by_url = Url::parse(text).is_ok_and(|url| {
        url.password().is_some() || url.query_pairs().any(|(name, _)| name == "password")
    });
    if given_by_url || std::env::var_os("PGPASSWORD").is_some() {
        return Vec::new();
    }
    // The host, port, user and database as sqlx resolves them (the `PG*` environment
    // included); a URL it cannot read fails later, with its own message.
    let Ok(options) = sqlx::postgres::PgConnectOptions::from_str(text) else {
        return Vec::new();
    };
    let found = crate::pgpass::passwords(
        options.get_host(),
        options.get_port(),
        options.get_username(),
        options.get_database(),
    );
    every_form(found)
}

/// Every form in which the password for Postgres can be given, and so quoted: the URL's
/// userinfo password, a `password=` (or `sslpassword=`) query parameter, and
/// `PGPASSWORD`, each as written and decoded, and decoded then percent-encoded again (as
/// sqlx writes a URL back). Empty values are left out.
pub fn database_passwords(database_url: &SecretString) -> Vec<SecretString> {
    use secrecy::ExposeSecret;
    let mut written = Vec::new();
    if let Ok(url) = Url::parse(database_url.expose_secret()) {
        if let Some(password) = url.password() {
            written.push(password.to_owned());
        }
        // Raw pairs, not `query_pairs()`: the form as written must be found too.
        for pair in url.query().unwrap_or("").split('&') {
            if let Some((name, value)) = pair.split_once('=') {
                if is_password_parameter(&percent_decode(name)) {
                    written.push(value.to_owned());
                    // How `query_pairs()` (and so sqlx) reads it: `+` is a space.
                    written.push(percent_decode(&value.replace('+', " ")));
                }
            }
        }
    }
    if let Some(password) = std::env::var_os("PGPASSWORD") {
        written.push(password.to_string_lossy().into_owned());
    }
    every_form(written)
}

/// Each password of `written` as written, decoded, and decoded then percent-encoded again
/// (as sqlx writes a URL back); empty ones left out.
fn every_form(written: Vec<String>) -> Vec<SecretString> {
    let mut forms: Vec<String> = Vec::new();
    for text in written {
        let decoded = percent_decode(&text);
        let encoded = percent_encode(&decoded);
        for form in [text, decoded, encoded] {
            if !form.is_empty() && !forms.contains(&form) {
                forms.push(form);
            }
        }
    }
    forms.into_iter().map(SecretString::from).collect()
}

/// Whether a `DATABASE_URL` query parameter holds a password (`password`, `sslpassword`).
pub fn is_password_parameter(name: &str) -> bool {
    name.to_ascii_lowercase().contains("password")
}

/// Every byte but ASCII letters and digits as `%XX`, as sqlx encodes a password.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_is_refused_except_for_loopback_hosts() {
        for ok in [
            "https://api.withampersand.com/v1",
            "http://127.0.0.1:8080/v1",
            "http://localhost/v1",
            "http://[::1]:9/",
        ] {
            assert!(api_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://api.withampersand.com/v1",
            "http://10.0.0.5/v1",
            "ftp://x/",
            "not a url",
        ] {
            assert!(api_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn percent_encoded_passwords_are_decoded() {
        assert_eq!(percent_decode("p%40ss%2Fw%zz+"), "p@ss/w%zz+");
    }

    fn forms(url: &str) -> Vec<String> {
        use secrecy::ExposeSecret;
        database_passwords(&SecretString::from(url.to_owned()))
            .iter()
            .map(|p| p.expose_secret().to_owned())
            .collect()
    }

    #[test]
    fn the_userinfo_password_is_found_as_written_and_decoded() {
        let found = forms("postgres://u:Pg-s3cr3t%2FQ9wX7vL2@db:5432/x");
        assert!(
            found.contains(&"Pg-s3cr3t%2FQ9wX7vL2".to_owned()),
            "{found:?}"
        );
        assert!(
            found.contains(&"Pg-s3cr3t/Q9wX7vL2".to_owned()),
            "{found:?}"
        );
    }

    #[test]
    fn a_password_query_parameter_is_found_in_every_spelling() {
        let found = forms("postgres://u@db/x?sslmode=require&password=Pg+s3cr3t%40Q9wX7vL2");
        for form in [
            "Pg+s3cr3t%40Q9wX7vL2",   // as written
            "Pg s3cr3t@Q9wX7vL2",     // as sqlx reads it
            "Pg%20s3cr3t%40Q9wX7vL2", // as sqlx writes it back
        ] {
            assert!(found.contains(&form.to_owned()), "{form} not in {found:?}");
        }
        assert!(!found.iter().any(|f| f.contains("require")), "{found:?}");
        assert!(forms("postgres://u@db/x?sslpassword=Key-Pass-77aa")
            .contains(&"Key-Pass-77aa".to_owned()));
    }

    #[test]
    fn a_url_without_a_password_has_none_to_protect() {
        if std::env::var_os("PGPASSWORD").is_none() {
            assert!(forms("postgres://u@db/x?sslmode=verify-full").is_empty());
            assert!(forms("not a url").is_empty());
        }
    }
}
