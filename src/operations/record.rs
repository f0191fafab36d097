//! One operation, or one log entry, as the API sends it, turned into the row ampsync
//! stores: typed columns, scrubbed `metadata` and `extra`, and the row's hash.
//!
//! What is never stored is dropped here, before anything else sees the row: fields
//! whose names say secret, string values that are credentials (`scrub`), and the
//! secret-shaped words of `result` and of log messages, which can echo a token the
//! provider sent back. `successfulRecordIds` can hold thousands of ids: the row keeps
//! their count, and the ids themselves only when asked (`--operation-record-ids`).
//!
//! The hash is of the stored row's source form (the scrubbed object, with the ids
//! replaced by their count when they are not kept), so a re-read of an operation that
//! did not change writes nothing, and one whose status moved writes a version.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::api::model::parse_timestamp;
use crate::scrub;
use crate::snapshot::storable;

/// An operation as its stage row (`ampersand.operations` less the bookkeeping columns
/// the writer fills), serialized for `jsonb_populate_recordset`.
#[derive(Debug, Clone, Serialize)]
pub struct OperationRow {
    pub project_id: String,
    pub id: String,
    pub integration_id: Option<String>,
    pub installation_id: Option<String>,
    pub config_id: Option<String>,
    pub action_type: Option<String>,
    pub status: Option<String>,
    pub result: Option<String>,
    pub create_time: Option<String>,
    pub objects: Option<Vec<String>>,
    pub retry_attempts: Option<i64>,
    pub retry_last_attempt: Option<String>,
    pub retry_last_notified: Option<String>,
    pub records_processed: Option<i64>,
    pub records_estimated_total: Option<i64>,
    pub successful_record_count: Option<u64>,
    pub successful_record_ids: Option<Vec<String>>,
    pub metadata: Option<Value>,
    pub extra: Value,
    pub content_hash: String,
    pub row_hash: String,
    /// For the cursor, not a column: `create_time` as a time.
    #[serde(skip)]
    pub created: Option<DateTime<Utc>>,
}

impl OperationRow {
    /// Whether the operation may still change (the API says `in_progress`).
    pub fn is_open(&self) -> bool {
        self.status.as_deref() == Some("in_progress")
    }
}

/// Fields the columns model; every other field goes to `extra`.
const MODELLED: [&str; 9] = [
    "id",
    "projectId",
    "integrationId",
    "installationId",
    "configId",
    "actionType",
    "status",
    "result",
    "createTime",
];

/// Reads one element of a page into a row of `project`. An element that cannot be
/// stored (not an object, no id, a time that is not one, a number PostgreSQL cannot
/// hold) is refused with why; the caller records it as a rejected record.
pub fn operation(
    project: &str,
    element: Value,
    keep_record_ids: bool,
) -> Result<OperationRow, Rejected> {
    let Value::Object(mut fields) = element else {
        return Err(Rejected {
            reason: "an operation that is not a JSON object".into(),
            payload: scrub::scrubbed(element),
        });
    };
    scrub::scrub_map(&mut fields);
    scrub::replace_nul_in_map(&mut fields);
    row(project, &fields, keep_record_ids).map_err(|reason| Rejected {
        reason,
        payload: Value::Object(fields),
    })
}

/// An operation that could not be stored: why, and the element, scrubbed.
#[derive(Debug)]
pub struct Rejected {
    pub reason: String,
    pub payload: Value,
}

/// The row of an operation's scrubbed fields.
fn row(
    project: &str,
    fields: &Map<String, Value>,
    keep_record_ids: bool,
) -> Result<OperationRow, String> {
    check_numbers(fields)?;
    let id = match fields.get("id") {
        Some(Value::String(id)) if !id.is_empty() => id.clone(),
        _ => return Err("an operation without a string `id`".into()),
    };
    let text = |fields: &Map<String, Value>, name: &str| -> Result<Option<String>, String> {
        match fields.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(format!("operation {id}: `{name}` is not a string")),
        }
    };
    let sent_project = text(fields, "projectId")?;
    if sent_project.as_deref().is_some_and(|p| p != project) {
        return Err(format!(
            "operation {id} belongs to another project than {project}"
        ));
    }
    let created_text = text(fields, "createTime")?;
    let created = created_text.as_deref().map(time).transpose()?;
    let mut metadata = match fields.get("metadata") {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) => Some(m.clone()),
        Some(_) => return Err(format!("operation {id}: `metadata` is not an object")),
    };
    let (objects, retry, progress, record_ids) = match &mut metadata {
        Some(m) => {
            let objects = strings(m.get("objects"));
            let retry = m.get("retry").and_then(Value::as_object).cloned();
            let progress = m.get("progress").and_then(Value::as_object).cloned();
            let ids = m.remove("successfulRecordIds");
            (objects, retry, progress, ids)
        }
        None => (None, None, None, None),
    };
    let record_ids = record_ids
        .as_ref()
        .map(|v| strings(Some(v)).unwrap_or_default());
    let field_time = |object: &Option<Map<String, Value>>, name: &str| -> Result<_, String> {
        match object.as_ref().and_then(|o| o.get(name)) {
            Some(Value::String(t)) => time(t).map(|t| Some(stored_time(t))),
            _ => Ok(None),
        }
    };
    // A count that is not an integer stays in `metadata` only: the column is bigint.
    let number = |object: &Option<Map<String, Value>>, name: &str| {
        object
            .as_ref()
            .and_then(|o| o.get(name))
            .and_then(Value::as_i64)
    };

    // The hashed form: the object as stored, the ids as their count unless kept.
    let mut hashed = fields.clone();
    if let Some(Value::Object(m)) = hashed.get_mut("metadata") {
        if let (Some(ids), false) = (&record_ids, keep_record_ids) {
            m.remove("successfulRecordIds");
            m.insert("@successfulRecordCount".into(), Value::from(ids.len()));
        }
    }
    let hash = hash(&Value::Object(hashed));

    let extra: Map<String, Value> = fields
        .iter()
        .filter(|(name, _)| !MODELLED.contains(&name.as_str()) && *name != "metadata")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(OperationRow {
        project_id: project.to_owned(),
        integration_id: text(fields, "integrationId")?,
        installation_id: text(fields, "installationId")?,
        config_id: text(fields, "configId")?,
        action_type: text(fields, "actionType")?,
        status: text(fields, "status")?,
        result: text(fields, "result")?.map(scrub::redact_string),
        create_time: created.map(stored_time),
        objects,
        retry_attempts: number(&retry, "attempts"),
        retry_last_attempt: field_time(&retry, "lastAttempt")?,
        retry_last_notified: field_time(&retry, "lastNotified")?,
        records_processed: number(&progress, "recordsProcessed"),
        records_estimated_total: number(&progress, "recordsEstimatedTotal"),
        successful_record_count: record_ids.as_ref().map(|ids| ids.len() as u64),
        successful_record_ids: record_ids.filter(|_| keep_record_ids),
        metadata: metadata.map(Value::Object),
        extra: Value::Object(extra),
        content_hash: hash.clone(),
        row_hash: hash,
        created,
        id,
    })
}

/// A log entry as its row of `ampersand.operation_logs`.
#[derive(Debug, Clone, Serialize)]
pub struct LogRow {
    pub project_id: String,
    pub operation_id: String,
    pub entry_hash: String,
    pub installation_id: Option<String>,
    pub logged_at: Option<String>,
    pub severity: Option<String>,
    pub message: Option<String>,
    pub error: Option<String>,
    pub details: Option<Value>,
    pub extra: Value,
}

/// Reads one log entry of operation `operation`. The entry is scrubbed whole first; its
/// message text and error keep their words less the secret-shaped ones.
pub fn log_entry(
    project: &str,
    operation: &str,
    installation: Option<&str>,
    entry: Value,
) -> Result<LogRow, String> {
    let Value::Object(mut fields) = entry else {
        return Err(format!(
            "a log entry of operation {operation} that is not an object"
        ));
    };
    scrub::scrub_map(&mut fields);
    scrub::replace_nul_in_map(&mut fields);
    check_numbers(&fields)?;
    let entry_hash = hash(&Value::Object(fields.clone()));
    let logged_at = match fields.remove("timestamp") {
        Some(Value::String(t)) => Some(stored_time(time(&t)?)),
        _ => None,
    };
    let severity = match fields.remove("severity") {
        Some(Value::String(s)) => Some(s),
        _ => None,
    };
    let mut message = match fields.remove("message") {
        Some(Value::Object(m)) => m,
        Some(Value::String(s)) => Map::from_iter([("msg".to_owned(), Value::String(s))]),
        _ => Map::new(),
    };
    let take_text = |m: &mut Map<String, Value>, name: &str| match m.remove(name) {
        Some(Value::String(s)) => Some(scrub::redact_string(s)),
        Some(other) if !other.is_null() => {
            m.insert(name.to_owned(), other);
            None
        }
        _ => None,
    };
    let msg = take_text(&mut message, "msg");
    let error = take_text(&mut message, "error");
    let details = message.remove("details");
    if !message.is_empty() {
        fields.insert("message".into(), Value::Object(message));
    }
    Ok(LogRow {
        project_id: project.to_owned(),
        operation_id: operation.to_owned(),
        entry_hash,
        installation_id: installation.map(str::to_owned),
        logged_at,
        severity,
        message: msg,
        error,
        details,
        extra: Value::Object(fields),
    })
}

/// The hash of a stored form: BLAKE3 of its JSON (keys sorted, as `serde_json::Map`
/// keeps them), 32 hex digits, as the other tables' hashes.
fn hash(value: &Value) -> String {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    blake3::hash(&bytes).to_hex()[..32].to_owned()
}

/// An RFC 3339 time of the years 1 to 9999 (what PostgreSQL stores), or why not.
fn time(text: &str) -> Result<DateTime<Utc>, String> {
    use chrono::Datelike;
    match parse_timestamp(text) {
        Some(at) if (1..=9999).contains(&at.year()) => Ok(at),
        _ => Err(format!(
            "`{}` is not an RFC 3339 time of the years 1 to 9999",
            scrub::scrub_text(&text.chars().take(64).collect::<String>())
        )),
    }
}

/// A time as PostgreSQL reads it back: microseconds, rounded, in UTC.
fn stored_time(at: DateTime<Utc>) -> String {
    let nanos = at.timestamp_subsec_nanos() % 1_000;
    let rounded = if nanos >= 500 {
        at + chrono::Duration::nanoseconds(1_000 - i64::from(nanos))
    } else {
        at - chrono::Duration::nanoseconds(i64::from(nanos))
    };
    rounded.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The strings of an array (other elements left out); none when it is not one.
fn strings(value: Option<&Value>) -> Option<Vec<String>> {
    value.and_then(Value::as_array).map(|items| {
        items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    })
}

/// Refuses a number PostgreSQL's `jsonb` would not hold or would print huge (see
/// `snapshot::storable`).
fn check_numbers(fields: &Map<String, Value>) -> Result<(), String> {
    fn walk(value: &Value) -> Result<(), String> {
        match value {
            Value::Number(n) => {
                let text = n.to_string();
                match storable::printed_len(&text) {
                    Some(len) if len <= storable::MAX_NUMBER_CHARS => Ok(()),
                    _ => Err(format!(
                        "a number ({} characters as sent) that PostgreSQL would print in more than {} characters",
                        text.len(),
                        storable::MAX_NUMBER_CHARS
                    )),
                }
            }
            Value::Array(items) => items.iter().try_for_each(walk),
            Value::Object(map) => map.values().try_for_each(walk),
            _ => Ok(()),
        }
    }
    fields.values().try_for_each(walk)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn failed_read() -> Value {
        json!({
            "id": "op-1", "projectId": "p", "integrationId": "int-1",
            "installationId": "inst-1", "configId": "cfg-1", "actionType": "read",
            "status": "failure",
            "result": "401 from provider: Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlc2lnbmF0dXJl",
            "createTime": "2026-11-01T10:00:00.1234567Z",
            "metadata": {"objects": ["contact"], "retry": {"attempts": 3},
                         "progress": {"recordsProcessed": 1250, "accessToken": "ya29.a0AfH6SMB"},
                         "successfulRecordIds": ["a", "b"]},
            "newField": {"x": 1}
        })
    }

    #[test]
    fn an_operation_keeps_its_fields_typed_and_loses_its_secrets() {
        let row = operation("p", failed_read(), false).unwrap();
        assert_eq!(row.status.as_deref(), Some("failure"));
        assert_eq!(row.objects, Some(vec!["contact".to_owned()]));
        assert_eq!(row.records_processed, Some(1250));
        assert_eq!(row.retry_attempts, Some(3));
        assert_eq!(row.successful_record_count, Some(2));
        assert_eq!(row.successful_record_ids, None);
        assert_eq!(
            row.create_time.as_deref(),
            Some("2026-11-01T10:00:00.123457Z")
        );
        assert_eq!(row.extra, json!({"newField": {"x": 1}}));
        let stored = serde_json::to_string(&row).unwrap();
        assert!(!stored.contains("eyJhbGciOiJIUzI1NiJ9"), "{stored}");
        assert!(!stored.contains("ya29"), "{stored}");
        assert!(!stored.contains("successfulRecordIds"), "{stored}");
    }

    #[test]
    fn the_hash_moves_with_the_status_and_not_with_unkept_record_ids() {
        let before = operation("p", failed_read(), false).unwrap();
        let mut moved = failed_read();
        moved["status"] = json!("success");
        assert_ne!(
            operation("p", moved, false).unwrap().row_hash,
            before.row_hash
        );
        let mut same_count = failed_read();
        same_count["metadata"]["successfulRecordIds"] = json!(["c", "d"]);
        assert_eq!(
            operation("p", same_count.clone(), false).unwrap().row_hash,
            before.row_hash
        );
        assert_ne!(
            operation("p", same_count, true).unwrap().row_hash,
            operation("p", failed_read(), true).unwrap().row_hash
        );
    }

    #[test]
    fn an_unstorable_operation_is_refused_with_why() {
        assert!(operation("p", json!([1]), false).is_err());
        assert!(operation("p", json!({"status": "x"}), false).is_err());
        let mut bad_time = failed_read();
        bad_time["createTime"] = json!("0000-01-01T00:00:00Z");
        let refused = operation("p", bad_time, false).unwrap_err();
        assert!(refused.reason.contains("RFC 3339"), "{}", refused.reason);
        assert!(
            !refused.payload.to_string().contains("ya29"),
            "{}",
            refused.payload
        );
        let mut other = failed_read();
        other["projectId"] = json!("q");
        let refused = operation("p", other, false).unwrap_err();
        assert!(refused.reason.contains("another project"));
    }

    #[test]
    fn a_log_entry_is_split_into_columns_and_hashed_whole() {
        let entry = json!({"timestamp": "2026-11-01T10:00:01Z", "severity": "ERROR",
            "message": {"msg": "refresh failed", "error": "invalid_grant for token 1//0gFAKEREFRESHTOKENabcdefghijklmnop",
                        "details": {"request": "POST /token"}, "operation_id": "op-1"}});
        let row = log_entry("p", "op-1", Some("inst-1"), entry.clone()).unwrap();
        assert_eq!(row.severity.as_deref(), Some("ERROR"));
        assert_eq!(row.message.as_deref(), Some("refresh failed"));
        assert_eq!(row.details, Some(json!({"request": "POST /token"})));
        assert_eq!(row.extra, json!({"message": {"operation_id": "op-1"}}));
        assert_eq!(
            row.entry_hash,
            log_entry("p", "op-1", None, entry).unwrap().entry_hash
        );
    }
}
