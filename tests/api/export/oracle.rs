//! The oracle of the round trip: what `ampsync export` should give back for an input.
//!
//! The normalizer applies to the input ONLY the documented transforms (README,
//! "Transforms to know about"); the export is compared as it is, but for numbers, which
//! both sides write as decimal values (`jsonb` writes `1e5` as `100000`), and for shared
//! objects (a connection, group, consumer or provider app embedded in several
//! installations), which are checked apart: each key's exported copy must be the same
//! everywhere and be one of the input's copies, one with the latest `updateTime`.

use std::collections::BTreeMap;

use chrono::{DateTime, Timelike, Utc};
use serde_json::{json, Map, Value};

// ---------------------------------------------------------------------------------
// The normalizer: the documented transforms, applied to the input.

/// How the bridge reads a field of an API object.
#[derive(Clone, Copy)]
enum Field {
    /// A typed text column: secret-shaped words redacted, control characters replaced.
    Text,
    /// A `timestamptz`: the same instant, in UTC, at microseconds.
    Time,
    /// A `jsonb` column: kept as sent, less secrets.
    Free,
    /// A `text[]`: strings or arrays of strings, flattened, each cleaned like text.
    Scopes,
    /// A secret: never stored.
    Secret,
    /// The project: objects are stored under the project they were imported into, so
    /// one the API left out is filled in.
    ProjectId,
    /// A nested object, read by its own function; `None` when nothing of it is stored.
    Object(fn(&str, Value) -> Option<Value>),
}

use Field::*;

const INSTALLATION: &[(&str, Field)] = &[
    ("id", Text),
    ("projectId", ProjectId),
    ("integrationId", Text),
    ("group", Object(group)),
    ("healthStatus", Text),
    ("lastOperationStatus", Text),
    ("connection", Object(connection)),
    ("createTime", Time),
    ("createdBy", Text),
    ("updateTime", Time),
    ("config", Object(config)),
];
const CONNECTION: &[(&str, Field)] = &[
    ("id", Text),
    ("projectId", ProjectId),
    ("provider", Text),
    ("providerApp", Object(provider_app)),
    ("group", Object(group)),
    ("consumer", Object(consumer)),
    ("providerWorkspaceRef", Text),
    ("providerConsumerRef", Text),
    ("createTime", Time),
    ("updateTime", Time),
    ("authScheme", Text),
    ("status", Text),
    ("oauth2AuthorizationCode", Object(oauth)),
    ("apiKey", Secret),
    ("providerMetadata", Free),
    ("catalogVars", Free),
];
const GROUP: &[(&str, Field)] = &[
    ("groupRef", Text),
    ("groupName", Text),
    ("projectId", ProjectId),
    ("createTime", Time),
    ("updateTime", Time),
];
const CONSUMER: &[(&str, Field)] = &[
    ("consumerRef", Text),
    ("consumerName", Text),
    ("projectId", ProjectId),
    ("createTime", Time),
    ("updateTime", Time),
];
const PROVIDER_APP: &[(&str, Field)] = &[
    ("id", Text),
    ("projectId", ProjectId),
    ("externalRef", Text),
    ("provider", Text),
    ("clientId", Text),
    ("scopes", Scopes),
    ("metadata", Free),
    ("createTime", Time),
    ("updateTime", Time),
];
const CONFIG: &[(&str, Field)] = &[
    ("id", Text),
    ("revisionId", Text),
    ("createTime", Time),
    ("createdBy", Text),
    ("content", Free),
];
const OAUTH: &[(&str, Field)] = &[
    ("accessToken", Object(token)),
    ("refreshToken", Object(token)),
    ("scopes", Scopes),
];

/// An object as the tables give it back: modeled fields by their kind (a null one is a
/// NULL column, left out; text loses its secrets, control characters kept), the others
/// (`extra`) scrubbed of secrets, as sent.
fn object(project: &str, value: Value, spec: &[(&str, Field)]) -> Map<String, Value> {
    let Value::Object(map) = value else {
        panic!("not an object: {value}")
    };
    let mut modeled = Map::new();
    let mut extra = Map::new();
    for (name, v) in map {
        let Some((_, field)) = spec.iter().find(|(n, _)| *n == name) else {
            extra.insert(name, v);
            continue;
        };
        let kept = match (field, v) {
            (ProjectId, Value::Null) => None,
            (_, Value::Null) | (Secret, _) => None,
            (Text | ProjectId, Value::String(s)) => Some(json!(ampsync::scrub::redact_string(s))),
            (Time, Value::String(s)) => Some(json!(instant(&s))),
            (Free, v) => Some(ampsync::scrub::scrubbed(v)),
            (Scopes, Value::Array(items)) => Some(Value::Array(
                items
                    .into_iter()
                    .flat_map(|i| match i {
                        Value::Array(inner) => inner,
                        one => vec![one],
                    })
                    .map(|s| {
                        json!(ampsync::scrub::redact_string(
                            s.as_str().unwrap().to_owned()
                        ))
                    })
                    .collect(),
            )),
            (Object(read), v) => read(project, v),
            (_, v) => panic!("{name}: unexpected {v}"),
        };
        if let Some(kept) = kept {
            modeled.insert(name, kept);
        }
    }
    if spec.iter().any(|(_, f)| matches!(f, ProjectId)) && !modeled.contains_key("projectId") {
        modeled.insert("projectId".into(), json!(project));
    }
    ampsync::scrub::scrub_map(&mut extra);
    extra.extend(modeled);
    extra
}

fn installation(project: &str, value: Value) -> Value {
    let mut inst = object(project, value, INSTALLATION);
    // An installation without a group of its own is stored under its connection's.
    if !inst.contains_key("group") {
        if let Some(group) = inst.get("connection").and_then(|c| c.get("group")) {
            inst.insert("group".into(), group.clone());
        }
    }
    Value::Object(inst)
}

fn connection(project: &str, value: Value) -> Option<Value> {
    Some(Value::Object(object(project, value, CONNECTION)))
}

fn group(project: &str, value: Value) -> Option<Value> {
    Some(Value::Object(object(project, value, GROUP)))
}

fn consumer(project: &str, value: Value) -> Option<Value> {
    Some(Value::Object(object(project, value, CONSUMER)))
}

fn provider_app(project: &str, value: Value) -> Option<Value> {
    Some(Value::Object(object(project, value, PROVIDER_APP)))
}

fn config(project: &str, value: Value) -> Option<Value> {
    Some(Value::Object(object(project, value, CONFIG)))
}

/// `oauth2AuthorizationCode`, left out when nothing of it is stored.
fn oauth(project: &str, value: Value) -> Option<Value> {
    let oauth = object(project, value, OAUTH);
    (!oauth.is_empty()).then_some(Value::Object(oauth))
}

/// A token object: the token itself is a secret, and its unknown fields are not kept
/// (the object's name, `accessToken`, is a secret's); its times are. Written when the
/// token or a time was there.
fn token(_: &str, value: Value) -> Option<Value> {
    let Value::Object(map) = value else {
        panic!("a token is an object: {value}")
    };
    let present = !matches!(map.get("token"), None | Some(Value::Null));
    let times: Map<String, Value> = ["issuedAt", "expiresAt"]
        .into_iter()
        .filter_map(|name| match map.get(name) {
            Some(Value::String(s)) => Some((name.to_owned(), json!(instant(s)))),
            _ => None,
        })
        .collect();
    (present || !times.is_empty()).then_some(Value::Object(times))
}

/// The instant `text` names, as `timestamptz` keeps it (rounded to the microsecond) and
/// `export` writes it.
pub(super) fn instant(text: &str) -> String {
    let at = ampsync::api::model::parse_timestamp(text)
        .unwrap_or_else(|| panic!("`{text}` is not a time"));
    let nanos = i64::from(at.nanosecond());
    let micros = (nanos + 500) / 1000;
    let at: DateTime<Utc> = at.with_nanosecond(0).unwrap() + chrono::Duration::microseconds(micros);
    at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Every number in `value` as its decimal value (`1e5`, `100000` and `100000.0` alike).
fn numbers_as_decimals(value: &mut Value) {
    match value {
        Value::Number(n) => *value = json!(format!("#number {}", decimal(&n.to_string()))),
        Value::Array(items) => items.iter_mut().for_each(numbers_as_decimals),
        Value::Object(map) => map.values_mut().for_each(numbers_as_decimals),
        _ => {}
    }
}

/// A JSON number's text as `digits e exponent`, with no leading or trailing zero.
pub(super) fn decimal(text: &str) -> String {
    let (negative, rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = match rest.find(['e', 'E']) {
        Some(at) => (&rest[..at], rest[at + 1..].parse::<i64>().unwrap()),
        None => (rest, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = format!("{int}{frac}");
    let digits = digits.trim_start_matches('0');
    if digits.is_empty() {
        return "0".into();
    }
    let trimmed = digits.trim_end_matches('0');
    let exponent = exponent - frac.len() as i64 + (digits.len() - trimmed.len()) as i64;
    format!("{}{trimmed}e{exponent}", if negative { "-" } else { "" })
}

/// The input as the export should give it back, by installation id.
fn expected(input: &Value, project: &str) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for inst in input.as_array().unwrap() {
        let inst = installation(project, inst.clone());
        let id = inst["id"].as_str().unwrap().to_owned();
        assert!(
            out.insert(id.clone(), inst).is_none(),
            "the fixture repeats installation {id}"
        );
    }
    out
}

// ---------------------------------------------------------------------------------
// Comparing.

/// Shared objects' copies, by kind and key.
type Copies = BTreeMap<(&'static str, String), Vec<Value>>;

/// Replaces the shared objects in `inst` by their keys, collecting their copies.
fn split_shared(inst: &mut Value, copies: &mut Copies) {
    /// Takes `parent[field]` out, leaving its key in its place.
    fn take(parent: &mut Value, field: &str, kind: &str, key: &str) -> Option<Value> {
        let object = parent.as_object_mut()?.remove(field)?;
        parent[field] = json!({ format!("@{kind}"): object[key] });
        Some(object)
    }
    let record = |kind: &'static str, key: &str, object: Value, copies: &mut Copies| {
        let k = object[key].as_str().unwrap_or_default().to_owned();
        copies.entry((kind, k)).or_default().push(object);
    };
    if let Some(group) = take(inst, "group", "group", "groupRef") {
        record("group", "groupRef", group, copies);
    }
    if let Some(mut conn) = take(inst, "connection", "connection", "id") {
        for (field, kind, key) in [
            ("group", "group", "groupRef"),
            ("consumer", "consumer", "consumerRef"),
            ("providerApp", "providerApp", "id"),
        ] {
            if let Some(object) = take(&mut conn, field, kind, key) {
                record(kind, key, object, copies);
            }
        }
        record("connection", "id", conn, copies);
    }
}

/// The paths at which `a` and `b` differ.
fn diff(path: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for key in x.keys().chain(y.keys().filter(|k| !x.contains_key(*k))) {
                let path = format!("{path}.{key}");
                match (x.get(key), y.get(key)) {
                    (Some(a), Some(b)) => diff(&path, a, b, out),
                    (Some(a), None) => out.push(format!("{path}: {a} is missing")),
                    (None, Some(b)) => out.push(format!("{path}: {b} was not in the input")),
                    (None, None) => {}
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (a, b)) in x.iter().zip(y).enumerate() {
                diff(&format!("{path}[{i}]"), a, b, out);
            }
        }
        (a, b) if a != b => out.push(format!("{path}: expected {a}, exported {b}")),
        _ => {}
    }
}

/// Asserts that `exported` is `input` after the documented transforms, field by field.
pub(super) fn assert_same(name: &str, input: &Value, exported: &Value, project: &str) {
    let mut want = expected(input, project);
    let list = exported.as_array().expect("the export is an array");
    let ids: Vec<&str> = list.iter().map(|i| i["id"].as_str().unwrap()).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    assert_eq!(ids, sorted, "{name}: exported in order of id");
    assert_eq!(
        ids,
        want.keys().map(String::as_str).collect::<Vec<_>>(),
        "{name}: the same installations"
    );

    let (mut want_copies, mut got_copies) = (Copies::new(), Copies::new());
    let mut problems = Vec::new();
    for got in list {
        let id = got["id"].as_str().unwrap().to_owned();
        let mut want_inst = want.remove(&id).unwrap();
        let mut got = got.clone();
        numbers_as_decimals(&mut want_inst);
        numbers_as_decimals(&mut got);
        split_shared(&mut want_inst, &mut want_copies);
        split_shared(&mut got, &mut got_copies);
        diff(&format!("[{id}]"), &want_inst, &got, &mut problems);
    }
    for ((kind, key), copies) in &got_copies {
        let first = &copies[0];
        if copies.iter().any(|c| c != first) {
            problems.push(format!("{kind} {key}: exported in different versions"));
        }
        let candidates = &want_copies[&(*kind, key.clone())];
        let latest = candidates
            .iter()
            .filter_map(|c| c["updateTime"].as_str())
            .max();
        let winners: Vec<&Value> = candidates
            .iter()
            .filter(|c| c["updateTime"].as_str() == latest)
            .collect();
        if !winners.contains(&first) {
            let mut why = Vec::new();
            diff(&format!("{kind} {key}"), winners[0], first, &mut why);
            problems.push(format!(
                "{kind} {key}: not a winning copy of the input: {}",
                why.join("; ")
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "{name}: import then export differs from the input in {} places:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
