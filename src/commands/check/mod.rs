//! `ampsync check`: every prerequisite of a sync, checked without writing anything (no
//! migration, no run row, no lock taken), one line per check with what to do about each
//! failure. The API and the key per project (`GET /projects/{p}`, here); Postgres, the
//! migrations, the role's privileges, the reader role and each project's lock
//! ([`database`]); TMPDIR's room against the last run's temporary files ([`tmpdir`]).
//!
//! A check's text (detail and fix) passes the secret scrub when the check is made, so
//! neither output format can carry the API key or a database password.

mod database;
mod tmpdir;

use serde::Serialize;
use sqlx::PgConnection;

use crate::api::{ApiClient, ApiError};
use crate::cli::CheckFormat;
use crate::scrub::scrub_text;

/// What `ampsync check` asks.
pub struct CheckRequest<'a> {
    /// As given: ids or names.
    pub projects: &'a [String],
    pub reader_role: &'a str,
    /// The job runs with `--no-migrate`: pending migrations would stay pending.
    pub no_migrate: bool,
}

/// How a check came out. Only `failed` fails the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    /// Works, but deserves a look (pending migrations a sync applies, no reader role).
    Warn,
    Failed,
    /// Not checked, because a check it needs failed (Postgres unreachable).
    Skipped,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Failed => "FAILED",
            Status::Skipped => "skipped",
        }
    }
}

/// One check's outcome; its field names are the JSON output's (see the README).
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub status: Status,
    pub detail: String,
    /// What to do, for a failure or a warning.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    /// The project, as given, for the checks made per project.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
}

impl Check {
    fn new(name: &'static str, status: Status, detail: impl AsRef<str>) -> Check {
        Check {
            name,
            status,
            detail: scrub_text(detail.as_ref()),
            fix: None,
            project: None,
        }
    }

    fn ok(name: &'static str, detail: impl AsRef<str>) -> Check {
        Check::new(name, Status::Ok, detail)
    }

    fn warn(name: &'static str, detail: impl AsRef<str>, fix: impl AsRef<str>) -> Check {
        Check::new(name, Status::Warn, detail).fix(fix)
    }

    fn failed(name: &'static str, detail: impl AsRef<str>, fix: impl AsRef<str>) -> Check {
        Check::new(name, Status::Failed, detail).fix(fix)
    }

    fn skipped(name: &'static str, why: &str) -> Check {
        Check::new(name, Status::Skipped, why)
    }

    fn fix(mut self, fix: impl AsRef<str>) -> Check {
        self.fix = Some(scrub_text(fix.as_ref()));
        self
    }

    fn of(mut self, project: &str) -> Check {
        self.project = Some(scrub_text(project));
        self
    }
}

/// Every check, in the order they ran; `ok` when none failed.
#[derive(Debug, Serialize)]
pub struct Report {
    pub ok: bool,
    pub checks: Vec<Check>,
}

impl Report {
    fn new(checks: Vec<Check>) -> Report {
        Report {
            ok: !checks.iter().any(|c| c.status == Status::Failed),
            checks,
        }
    }

    /// The report in `format`, ending with a newline.
    pub fn render(&self, format: CheckFormat) -> serde_json::Result<String> {
        Ok(match format {
            CheckFormat::Json => format!("{}\n", serde_json::to_string_pretty(self)?),
            CheckFormat::Text => self.text(),
        })
    }

    /// One line per check: name (and project), status, detail, and what to do; then a
    /// line that sums them up.
    fn text(&self) -> String {
        let names: Vec<String> = self
            .checks
            .iter()
            .map(|c| match &c.project {
                Some(project) => format!("{} {project}", c.name),
                None => c.name.to_owned(),
            })
            .collect();
        let width = names.iter().map(|n| n.chars().count()).max().unwrap_or(0);
        let mut out = String::new();
        for (check, name) in self.checks.iter().zip(&names) {
            out.push_str(&format!(
                "{name:<width$}  {:<7} {}",
                check.status.label(),
                check.detail
            ));
            if let Some(fix) = &check.fix {
                out.push_str(&format!(" -> {fix}"));
            }
            out.push('\n');
        }
        let count = |status| self.checks.iter().filter(|c| c.status == status).count();
        let (failed, warned) = (count(Status::Failed), count(Status::Warn));
        out.push_str(&match (failed, warned) {
            (0, 0) => "all checks passed\n".to_owned(),
            (0, w) => format!("all checks passed, {w} with a warning\n"),
            (f, _) => format!("{f} of {} checks failed\n", self.checks.len()),
        });
        out
    }
}

/// Runs every check. A check that cannot be made (a query refused) is itself a failed
/// check, never an error: the report always comes out whole.
pub async fn check(
    database_url: &secrecy::SecretString,
    api: &ApiClient,
    req: &CheckRequest<'_>,
) -> Report {
    let mut checks = Vec::new();
    // The project ids the API gave, by the text given; the lock is keyed by id.
    let mut ids = Vec::new();
    for project in req.projects {
        let (check, id) = api_check(api, project).await;
        checks.push(check.of(project));
        ids.push(id);
    }
    let mut conn = match crate::db::connect_session(database_url, "ampsync-check").await {
        Ok(conn) => Some(conn),
        Err(e) => {
            checks.push(database::unreachable(&e));
            None
        }
    };
    match conn.as_mut() {
        Some(conn) => {
            checks.extend(database::checks(conn, req).await);
            let ids = resolve(conn, req.projects, ids).await;
            checks.push(tmpdir::check(tmpdir::largest_last_run(conn, &ids).await));
            for (project, id) in req.projects.iter().zip(&ids) {
                checks.push(database::lock(conn, id).await.of(project));
            }
        }
        None => {
            for name in ["migrations", "privileges", "reader_role"] {
                checks.push(Check::skipped(name, "needs Postgres"));
            }
            checks.push(tmpdir::check(Err("Postgres could not be reached".into())));
            for project in req.projects {
                checks.push(Check::skipped("lock", "needs Postgres").of(project));
            }
        }
    }
    if let Some(conn) = conn {
        close(conn).await;
    }
    Report::new(checks)
}

async fn close(conn: PgConnection) {
    let _ = sqlx::Connection::close(conn).await;
}

/// The id each project's lock is keyed by: the API's, else the one an earlier sync
/// stored under that name, else the text as given.
async fn resolve(
    conn: &mut PgConnection,
    given: &[String],
    ids: Vec<Option<String>>,
) -> Vec<String> {
    let stored = crate::db::relation_exists(conn, "ampersand.projects")
        .await
        .unwrap_or(false);
    let mut resolved = Vec::new();
    for (project, id) in given.iter().zip(ids) {
        resolved.push(match id {
            Some(id) => id,
            None if stored => crate::run::ledger::resolve_project(&mut *conn, project)
                .await
                .unwrap_or_else(|_| project.clone()),
            None => project.clone(),
        });
    }
    resolved
}

/// One `GET /projects/{p}`: the API answers and takes the key. Returns the project's id
/// when it answered.
async fn api_check(api: &ApiClient, project: &str) -> (Check, Option<String>) {
    const NAME: &str = "api";
    match api.project(project).await {
        Ok(found) => {
            let named = found
                .name
                .as_deref()
                .filter(|name| *name != found.id)
                .map(|name| format!(" ({name})"))
                .unwrap_or_default();
            let check = Check::ok(
                NAME,
                format!(
                    "project {}{named} answered; the API key is accepted",
                    found.id
                ),
            );
            (check, Some(found.id))
        }
        Err(e) => (api_failure(NAME, &e), None),
    }
}

fn api_failure(name: &'static str, e: &ApiError) -> Check {
    match e {
        ApiError::KeyRejected { status, .. } => Check::failed(
            name,
            format!("the API refused the key ({status})"),
            "check AMPERSAND_API_KEY or AMPERSAND_API_KEY_FILE: the key must be a current key of the project's organization",
        ),
        ApiError::NotFound { status, .. } => Check::failed(
            name,
            format!("the API knows no such project ({status})"),
            "check --project / AMPERSAND_PROJECT (a project id or name) and that the key belongs to the project's organization",
        ),
        ApiError::Transport { .. } => Check::failed(
            name,
            format!("the API could not be reached: {e}"),
            "check AMPERSAND_API_URL, DNS and the way out to it (a proxy, a firewall, a NetworkPolicy)",
        ),
        ApiError::Redirect { .. } => Check::failed(
            name,
            e.to_string(),
            "point AMPERSAND_API_URL at the API itself",
        ),
        ApiError::Status { .. } | ApiError::TooLarge { .. } | ApiError::Body { .. } => {
            Check::failed(
                name,
                e.to_string(),
                "if the API itself is failing (5xx), try again later; otherwise check AMPERSAND_API_URL",
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_with_a_failure_is_not_ok_and_says_how_many_failed() {
        let report = Report::new(vec![
            Check::ok("postgres", "PostgreSQL 17"),
            Check::failed("tmpdir", "no room", "free space").of("acme"),
            Check::warn("reader_role", "missing", "run sql/roles.sql"),
        ]);
        assert!(!report.ok);
        let text = report.text();
        assert!(
            text.contains("tmpdir acme  FAILED  no room -> free space"),
            "{text}"
        );
        assert!(text.ends_with("1 of 3 checks failed\n"), "{text}");
    }

    #[test]
    fn warnings_and_skips_leave_a_report_ok() {
        let report = Report::new(vec![
            Check::ok("postgres", "fine"),
            Check::warn("migrations", "1 pending", "ampsync migrate"),
        ]);
        assert!(report.ok);
        assert!(report
            .text()
            .ends_with("all checks passed, 1 with a warning\n"));
    }

    #[test]
    fn the_json_has_the_documented_fields_and_leaves_out_what_a_check_lacks() {
        let report = Report::new(vec![Check::failed("lock", "held", "wait").of("acme")]);
        let json: serde_json::Value =
            serde_json::from_str(&report.render(CheckFormat::Json).unwrap()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"ok": false, "checks": [
                {"name": "lock", "status": "failed", "detail": "held", "fix": "wait", "project": "acme"}
            ]})
        );
        let ok = Report::new(vec![Check::ok("postgres", "fine")]);
        let json = serde_json::to_value(&ok).unwrap();
        assert_eq!(json["checks"][0].as_object().unwrap().len(), 3);
    }

    #[test]
    fn control_characters_in_a_detail_are_escaped() {
        let check = Check::ok("api", "project p (Acme\n\u{1b}[31m)");
        assert_eq!(check.detail, "project p (Acme\\n\\u{1b}[31m)");
    }
}
