//! `ampsync export`: import then export gives back the input, less secrets, field by
//! field, except the documented transforms (README, "Transforms to know about"), for
//! every fixture: the spec's and the doc page's examples, the samples, the test
//! fixtures, adversarial and random schema-valid responses. Also `--as-of`, streaming
//! memory, secrets, the reader role and the CLI conventions.
//!
//! The normalizer below applies to the input ONLY the documented transforms; the export
//! is compared as it is, but for numbers, which both sides write as decimal values
//! (`jsonb` writes `1e5` as `100000`), and for shared objects (a connection, group,
//! consumer or provider app embedded in several installations), which are checked
//! apart: each key's exported copy must be the same everywhere and be one of the
//! input's copies, one with the latest `updateTime`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Timelike, Utc};
use serde_json::{json, Map, Value};

use crate::fixtures::{self, assert_holds_no_secret, PROJECT_ID};
use crate::helpers::{spawn_app, spawn_app_with, TestApp};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn read_json(path: &str) -> Value {
    let text = std::fs::read_to_string(repo(path)).unwrap();
    serde_json::from_str(&text).unwrap()
}

// ---------------------------------------------------------------------------------
// Running import and export.

/// Writes `installations` to a file and imports it as a snapshot of `project` observed
/// at `at`.
async fn import(app: &TestApp, installations: &Value, project: &str, at: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("installations.json");
    std::fs::write(&path, serde_json::to_vec(installations).unwrap()).unwrap();
    app.ampsync(&[
        "import",
        &path.display().to_string(),
        "--project",
        project,
        "--observed-at",
        at,
    ])
    .await
    .success();
}

/// `ampsync export --project P ARGS`, which must succeed: its output parsed, and as text.
async fn export(app: &TestApp, project: &str, args: &[&str]) -> (Value, String) {
    let mut all = vec!["export", "--project", project];
    all.extend_from_slice(args);
    let run = app.ampsync(&all).await.success();
    let text = run.stdout();
    let value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("the export is not JSON ({e}): {text}"));
    (value, text)
}

/// The project the installations of a fixture belong to.
fn project_of(installations: &Value) -> String {
    installations[0]["projectId"]
        .as_str()
        .unwrap_or(PROJECT_ID)
        .to_owned()
}

/// Import `input` into a fresh database, export it, and check the round trip.
async fn assert_round_trip(name: &str, input: &Value) {
    let project = project_of(input);
    let app = spawn_app().await;
    import(&app, input, &project, "2026-11-01T00:00:00Z").await;
    let (exported, _) = export(&app, &project, &[]).await;
    assert_same(name, input, &exported, &project);
}

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
fn instant(text: &str) -> String {
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
fn decimal(text: &str) -> String {
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
fn assert_same(name: &str, input: &Value, exported: &Value, project: &str) {
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

// ---------------------------------------------------------------------------------
// Fixtures.

/// Hand-made inputs that press on every transform: unknown fields at every level,
/// unknown enum values, nulls, nested scopes, unicode and control characters, numbers
/// past f64 and u64, times with nine fractional digits and offsets, shared objects
/// whose copies disagree, missing groups.
fn adversarial() -> Value {
    let mut list = fixtures::installations(0..6).as_array().unwrap().clone();
    // Unknown fields at every level, numbers past f64 and u64 among them.
    list[0]["futureField"] = json!({"nested": [1, 2.50, null], "flag": true, "nothing": null});
    list[0]["group"]["tier"] = json!("gold");
    list[0]["connection"]["region"] = json!({"name": "eu-west-1", "weight": 0.1});
    list[0]["connection"]["group"]["tier"] = json!("gold");
    list[1]["connection"]["group"]["tier"] = json!("gold");
    list[1]["group"]["tier"] = json!("gold");
    for inst in list.iter_mut() {
        inst["connection"]["consumer"]["locale"] = json!("de-CH");
        inst["connection"]["providerApp"]["owner"] = json!({"team": "platform"});
    }
    list[0]["connection"]["oauth2AuthorizationCode"]["grantedBy"] = json!("admin@example.com");
    list[1]["connection"]["oauth2AuthorizationCode"]["grantedBy"] = json!("admin@example.com");
    list[0]["connection"]["oauth2AuthorizationCode"]["accessToken"]["kind"] = json!("bearer");
    list[0]["config"]["schemaVersion"] = serde_json::from_str("3.0").unwrap();
    list[0]["config"]["content"]["numbers"] = serde_json::from_str(
        r#"{"decimal": 9875133.537942737, "big": 123456789012345678901234567890,
            "past_u64": 18446744073709551616, "past_f64": 1.7976931348623157e309,
            "tiny": -1e-300, "exp": 1e5, "exp_upper": 2.5E+3, "trailing": 2.50, "zero": -0,
            "small": 0.000000000000000000001}"#,
    )
    .unwrap();
    // Unknown enum values, created by kinds the bridge has not seen, text without a kind.
    list[1]["healthStatus"] = json!("degraded");
    list[1]["lastOperationStatus"] = json!("paused");
    list[1]["createdBy"] = json!("robot:r2d2");
    list[1]["config"]["createdBy"] = json!("no-kind-at-all");
    list[1]["connection"]["status"] = json!("needs_reauthorization");
    list[1]["connection"]["authScheme"] = json!("oauth2/clientCredentials");
    // Nulls in optional fields, and an empty oauth2AuthorizationCode.
    list[2]["lastOperationStatus"] = Value::Null;
    list[2]["updateTime"] = Value::Null;
    list[2]["group"] = Value::Null; // stored under its connection's group
    list[2]["config"]["content"]["nullInside"] = Value::Null;
    list[2]["connection"]["providerMetadata"] = Value::Null;
    list[2]["connection"]["catalogVars"] = Value::Null;
    list[2]["connection"]["oauth2AuthorizationCode"] = json!({});
    list[2]["connection"]["apiKey"] = Value::Null;
    list[3]["connection"]["oauth2AuthorizationCode"] = Value::Null;
    list[3]["connection"]["providerApp"] = Value::Null;
    list[3]["connection"]["consumer"] = Value::Null;
    list[3]["connection"]["group"] = Value::Null;
    list[3]["connection"]["id"] = json!("conn-lonely");
    list[3]["projectId"] = Value::Null;
    // Scopes as arrays of arrays, mixed; the token objects with only some parts.
    list[4]["connection"]["providerApp"]["scopes"] = json!([["a", "b"], "c", []]);
    list[5]["connection"]["providerApp"]["scopes"] = json!([["a", "b"], "c", []]);
    list[4]["connection"]["oauth2AuthorizationCode"]["scopes"] = json!([["x"], "y"]);
    list[4]["connection"]["oauth2AuthorizationCode"]["accessToken"] =
        json!({"token": "00D5g000004Sn99999!AQ4AQFjR8xKp2Lm9Vq7Ws3Xt6Yu1Zb4Nc8Md5Ge0Hf"});
    list[4]["connection"]["oauth2AuthorizationCode"]["refreshToken"] =
        json!({"token": null, "issuedAt": "2024-04-22T18:55:28.123456789Z"});
    list[5]["connection"]["oauth2AuthorizationCode"]["refreshToken"] = json!({"token": null});
    list[5]["connection"]["id"] = json!("conn-other");
    // Unicode, escapes, control characters (cleaned in typed text, kept in jsonb).
    list[4]["group"]["groupName"] = json!("Café Zürich 🍫 \u{202e}RTL\u{202c} e\u{301}");
    list[4]["connection"]["group"]["groupName"] =
        json!("Café Zürich 🍫 \u{202e}RTL\u{202c} e\u{301}");
    list[4]["healthStatus"] = json!("tab\there\nnewline\u{7}bell");
    list[4]["config"]["content"]["text"] = json!("tab\there \u{2028} \"quoted\" \\ 中文");
    // Times: no fraction, nine digits, an offset, no offset at all.
    list[5]["createTime"] = json!("2023-11-07T05:31:56.987654321+05:30");
    list[5]["updateTime"] = json!("2023-11-07T05:31:56");
    list[5]["config"]["createTime"] = json!("2023-11-07T05:31:56.1Z");
    // Installation 0 and 1 share a connection; their copies disagree: the later one wins.
    list[1]["connection"]["status"] = json!("bad_credentials");
    list[1]["connection"]["updateTime"] = json!("2025-01-01T00:00:00Z");
    // A secret-named field where none is expected.
    list[5]["connection"]["providerApp"]["clientSecret"] = json!("cs_live_8Zq4Lr2Xv7Nw1Pt5");
    list[5]["config"]["content"]["dbPassword"] = json!("hunter2-Qx7!vL9#mP3");
    Value::Array(list)
}

/// Random schema-valid responses, from a seed: optional fields present, null or absent;
/// unknown fields; unknown enum values; free-form content with numbers of every shape;
/// shared connections, groups, consumers and provider apps, now and then disagreeing.
fn random(seed: u64, n: usize) -> Value {
    let mut rng = fastrand::Rng::with_seed(seed);
    let project = format!("proj-rand-{seed}");
    let groups: Vec<Value> = (0..(n / 4).max(1))
        .map(|g| random_group(&mut rng, &project, g))
        .collect();
    let consumers: Vec<Value> = (0..(n / 5).max(1))
        .map(|c| {
            let mut consumer = json!({
                "consumerRef": format!("user-{c}"), "consumerName": text(&mut rng),
                "projectId": project, "createTime": time(&mut rng),
            });
            optional(&mut rng, &mut consumer, "updateTime", || {
                json!("2025-05-04T07:36:21.737914Z")
            });
            unknown(&mut rng, &mut consumer);
            consumer
        })
        .collect();
    let apps: Vec<Value> = (0..3)
        .map(|a| {
            let mut app = json!({
                "id": format!("papp-{a}"), "projectId": project, "provider": pick(&mut rng, &["salesforce", "hubspot", "brand-new-crm"]),
                "clientId": text(&mut rng), "createTime": time(&mut rng),
            });
            optional(&mut rng, &mut app, "externalRef", || json!("ext-1"));
            let nested = rng.bool();
            optional(&mut rng, &mut app, "scopes", || {
                if nested { json!([["api", "refresh_token"], "offline"]) } else { json!(["api"]) }
            });
            let meta = free(&mut rng, 2);
            optional(&mut rng, &mut app, "metadata", || meta);
            optional(&mut rng, &mut app, "updateTime", || json!("2025-09-18T13:59:40Z"));
            unknown(&mut rng, &mut app);
            app
        })
        .collect();
    let connections: Vec<Value> = (0..(n / 2).max(1))
        .map(|c| {
            let mut conn = json!({
                "id": format!("conn-{c}"), "projectId": project, "provider": "salesforce",
                "group": groups[rng.usize(..groups.len())], "consumer": consumers[rng.usize(..consumers.len())],
                "createTime": time(&mut rng), "authScheme": pick(&mut rng, &["oauth2/authorizationCode", "apiKey", "basic", "oauth2/new"]),
                "status": pick(&mut rng, &["working", "bad_credentials", "created", "some_new_status"]),
            });
            let app = apps[rng.usize(..apps.len())].clone();
            optional(&mut rng, &mut conn, "providerApp", || app);
            optional(&mut rng, &mut conn, "providerWorkspaceRef", || json!("ws"));
            optional(&mut rng, &mut conn, "updateTime", || json!("2023-09-08T09:06:55.552Z"));
            let access = json!({"token": format!("FAKE-access-{c}-Kp2Lm9Vq7Ws3Xt6Yu1Zb4Nc8Md5Ge0Hf"), "issuedAt": "2026-10-01T01:02:03.456789Z", "expiresAt": "2026-10-01T03:02:03Z"});
            let refresh = json!({"token": format!("FAKE-refresh-{c}-5Aep861TSESvWeug_ztpnAk6B"), "expiresAt": "2027-10-01T03:02:03Z"});
            let mut oauth = json!({});
            optional(&mut rng, &mut oauth, "accessToken", || access);
            optional(&mut rng, &mut oauth, "refreshToken", || refresh);
            optional(&mut rng, &mut oauth, "scopes", || json!(["api", "refresh_token"]));
            unknown(&mut rng, &mut oauth);
            optional(&mut rng, &mut conn, "oauth2AuthorizationCode", || oauth);
            optional(&mut rng, &mut conn, "apiKey", || json!(format!("sk_live_51HqLyjWDarjtT1zd{c:05}Xx4Pq")));
            let meta = free(&mut rng, 2);
            optional(&mut rng, &mut conn, "providerMetadata", || meta);
            let vars = free(&mut rng, 1);
            optional(&mut rng, &mut conn, "catalogVars", || vars);
            unknown(&mut rng, &mut conn);
            conn
        })
        .collect();
    let list = (0..n)
        .map(|i| {
            let mut conn = connections[rng.usize(..connections.len())].clone();
            if rng.u8(..10) == 0 {
                // A copy that disagrees: a later one wins, an equal time decides by hash.
                conn["status"] = json!("bad_credentials");
                conn["updateTime"] = json!(pick(
                    &mut rng,
                    &["2027-01-01T00:00:00Z", "2023-09-08T09:06:55.552Z"]
                ));
            }
            let mut inst = json!({
                "id": format!("inst-{seed}-{i:04}"), "projectId": project,
                "integrationId": format!("int-{}", rng.u8(..3)),
                "healthStatus": pick(&mut rng, &["healthy", "unhealthy", "degraded"]),
                "connection": conn, "createTime": time(&mut rng),
                "createdBy": pick(&mut rng, &["consumer:user-1", "builder:bld-3", "plain"]),
            });
            match rng.u8(..3) {
                0 => inst["group"] = groups[rng.usize(..groups.len())].clone(),
                1 => inst["group"] = inst["connection"]["group"].clone(),
                _ => {}
            }
            optional(&mut rng, &mut inst, "lastOperationStatus", || {
                json!("success")
            });
            let t = time(&mut rng);
            optional(&mut rng, &mut inst, "updateTime", || json!(t));
            let mut config = json!({
                "id": format!("cfg-{seed}-{i:04}"), "revisionId": format!("rev-{}", rng.u8(..9)),
                "createTime": time(&mut rng), "createdBy": "builder:bld-3",
                "content": free(&mut rng, 3),
            });
            unknown(&mut rng, &mut config);
            optional(&mut rng, &mut inst, "config", || config);
            unknown(&mut rng, &mut inst);
            inst
        })
        .collect();
    Value::Array(list)
}

fn random_group(rng: &mut fastrand::Rng, project: &str, g: usize) -> Value {
    let mut group = json!({
        "groupRef": format!("grp-{g}"), "groupName": text(rng), "projectId": project,
        "createTime": time(rng),
    });
    optional(rng, &mut group, "updateTime", || {
        json!("2025-03-01T18:24:15.378Z")
    });
    unknown(rng, &mut group);
    group
}

/// Sets `field` to `value()`, to null, or leaves it out.
fn optional(
    rng: &mut fastrand::Rng,
    object: &mut Value,
    field: &str,
    value: impl FnOnce() -> Value,
) {
    match rng.u8(..4) {
        0 => {}
        1 => object[field] = Value::Null,
        _ => object[field] = value(),
    }
}

/// Now and then an unknown field.
fn unknown(rng: &mut fastrand::Rng, object: &mut Value) {
    if rng.u8(..3) == 0 {
        let name = format!(
            "x{}",
            pick(rng, &["Future", "NewThing", "ünïcode", "Nested"])
        );
        object[name] = free(rng, 2);
    }
}

fn pick(rng: &mut fastrand::Rng, options: &[&str]) -> String {
    options[rng.usize(..options.len())].to_owned()
}

fn text(rng: &mut fastrand::Rng) -> String {
    const PIECES: [&str; 12] = [
        "Acme", " ", "GmbH", "é", "🚀", "中文", "\"", "\\", "\t", "O'Brien", "\u{2028}", "x",
    ];
    (0..rng.usize(1..6))
        .map(|_| PIECES[rng.usize(..PIECES.len())])
        .collect()
}

/// An RFC 3339 time with 0 to 9 fractional digits, in UTC, at an offset or without one.
fn time(rng: &mut fastrand::Rng) -> String {
    let digits = rng.usize(..10);
    // Never exactly half a microsecond: how timestamptz rounds that is a float's business.
    let mut fraction: String = (0..digits)
        .map(|_| char::from(b'0' + rng.u8(..10)))
        .collect();
    if digits > 6 && fraction[6..].starts_with('5') && fraction[7..].chars().all(|c| c == '0') {
        fraction.replace_range(6..7, "4");
    }
    let fraction = if fraction.is_empty() {
        String::new()
    } else {
        format!(".{fraction}")
    };
    let zone = pick(rng, &["Z", "+02:00", "-07:30", ""]);
    format!(
        "20{:02}-{:02}-{:02}T{:02}:{:02}:{:02}{fraction}{zone}",
        rng.u8(10..30),
        rng.u8(1..13),
        rng.u8(1..29),
        rng.u8(..24),
        rng.u8(..60),
        rng.u8(..60)
    )
}

/// Free-form JSON: objects, arrays, strings, booleans, nulls and numbers of every shape.
fn free(rng: &mut fastrand::Rng, depth: u8) -> Value {
    let number = |rng: &mut fastrand::Rng| -> Value {
        let text = match rng.u8(..7) {
            0 => format!("{}", rng.i64(..)),
            1 => format!("{}.{:017}", rng.u32(..), rng.u64(..10u64.pow(17))),
            2 => format!("{}{:020}", rng.u64(1..), rng.u64(..)),
            3 => format!("{}e{}", rng.u16(..), rng.i16(-30..30)),
            4 => format!("-{}.{}E+{}", rng.u8(..), rng.u8(..), rng.u8(..40)),
            5 => "0.1".into(),
            _ => format!("{}.50", rng.u16(..)),
        };
        serde_json::from_str(&text).unwrap()
    };
    if depth == 0 {
        return match rng.u8(..5) {
            0 => json!(text(rng)),
            1 => json!(rng.bool()),
            2 => Value::Null,
            _ => number(rng),
        };
    }
    match rng.u8(..3) {
        0 => Value::Array((0..rng.usize(..4)).map(|_| free(rng, depth - 1)).collect()),
        _ => Value::Object(
            (0..rng.usize(..5))
                .map(|k| {
                    (
                        format!("{}{k}", pick(rng, &["key", "read", "objects", "Ωmega"])),
                        free(rng, depth - 1),
                    )
                })
                .collect(),
        ),
    }
}

// ---------------------------------------------------------------------------------
// The round trip, fixture by fixture.

#[tokio::test]
async fn the_specs_example_comes_back_from_import_and_export_less_its_secrets() {
    let input = read_json("tests/fixtures/export/spec-examples.json");
    assert_round_trip("the OpenAPI spec's example", &input).await;
}

#[tokio::test]
async fn the_doc_pages_example_comes_back_from_import_and_export_less_its_secrets() {
    let input = read_json("tests/fixtures/export/doc-page-example.json");
    assert_round_trip("the doc page's example", &input).await;
}

#[tokio::test]
async fn the_sample_responses_come_back_from_import_and_export() {
    for file in [
        "samples/installations-2026-11-01.json",
        "samples/installations-2026-11-08.json",
    ] {
        assert_round_trip(file, &read_json(file)).await;
    }
}

#[tokio::test]
async fn the_upgrade_fixtures_come_back_numbers_exact() {
    for file in [
        "tests/fixtures/upgrade/installations-2026-11-01.json",
        "tests/fixtures/upgrade/installations-2026-11-08.json",
        "tests/fixtures/upgrade/numbers-2026-11-15.json",
    ] {
        assert_round_trip(file, &read_json(file)).await;
    }
}

#[tokio::test]
async fn the_test_fixtures_come_back_from_import_and_export() {
    assert_round_trip("tests/api/fixtures.rs", &fixtures::installations(0..30)).await;
}

#[tokio::test]
async fn adversarial_input_comes_back_except_the_documented_transforms() {
    let input = adversarial();
    assert_round_trip("adversarial", &input).await;
}

#[tokio::test]
async fn random_schema_valid_responses_come_back_except_the_documented_transforms() {
    for seed in [1, 2, 3] {
        let input = random(seed, 40);
        assert_round_trip(&format!("random (seed {seed})"), &input).await;
    }
}

#[test]
fn the_normalizer_reads_numbers_by_value_and_times_as_instants() {
    assert_eq!(decimal("1e5"), decimal("100000"));
    assert_eq!(decimal("100000.000"), decimal("1E+5"));
    assert_eq!(decimal("2.50"), decimal("2.5"));
    assert_eq!(decimal("-0"), "0");
    assert_ne!(decimal("9875133.537942737"), decimal("9875133.537942735"));
    assert_eq!(decimal("0.00012"), "12e-5");
    assert_eq!(
        instant("2023-11-07T05:31:56.987654321+05:30"),
        "2023-11-07T00:01:56.987654Z"
    );
    assert_eq!(
        instant("2023-11-07T05:31:56"),
        "2023-11-07T05:31:56.000000Z"
    );
    assert_eq!(
        instant("2023-11-07T05:31:56.9999997Z"),
        "2023-11-07T05:31:57.000000Z"
    );
}

// ---------------------------------------------------------------------------------
// As of a time.

#[tokio::test]
async fn export_as_of_the_first_snapshot_equals_the_export_made_right_after_it() {
    // Arrange: file A observed at T1, then file B at T2 (changes, deletions, refreshed tokens).
    let a = read_json("samples/installations-2026-11-01.json");
    let b = read_json("samples/installations-2026-11-08.json");
    let project = project_of(&a);
    let app = spawn_app().await;
    import(&app, &a, &project, "2026-11-01T00:00:00Z").await;
    let (right_after_a, text_after_a) = export(&app, &project, &[]).await;
    import(&app, &b, &project, "2026-11-08T00:00:00Z").await;

    // Act
    let (as_of_t1, text_as_of_t1) =
        export(&app, &project, &["--as-of", "2026-11-01T00:00:00Z"]).await;
    let (between, _) = export(&app, &project, &["--as-of", "2026-11-05T12:00:00+02:00"]).await;
    let (now, _) = export(&app, &project, &[]).await;

    // Assert
    assert_eq!(text_as_of_t1, text_after_a, "byte for byte");
    assert_eq!(as_of_t1, right_after_a);
    assert_eq!(between, right_after_a);
    assert_same("A, as of T1", &a, &as_of_t1, &project);
    assert_same("B, now", &b, &now, &project);
    assert_ne!(now, right_after_a);
    let fresh = spawn_app().await;
    import(&fresh, &b, &project, "2026-11-08T00:00:00Z").await;
    assert_eq!(
        export(&fresh, &project, &[]).await.0,
        now,
        "B alone gives the same export"
    );
}

#[tokio::test]
async fn export_as_of_a_time_whose_run_was_pruned_reads_the_history_still_there() {
    // Arrange: snapshots at T1 and T2, then a prune that deletes T1's run (it started
    // long ago) but, without --history, none of its versions.
    let a = read_json("samples/installations-2026-11-01.json");
    let b = read_json("samples/installations-2026-11-08.json");
    let project = project_of(&a);
    let app = spawn_app().await;
    import(&app, &a, &project, "2026-11-01T00:00:00Z").await;
    import(&app, &b, &project, "2026-11-08T00:00:00Z").await;
    let (before, _) = export(&app, &project, &["--as-of", "2026-11-01T00:00:00Z"]).await;
    sqlx::query("UPDATE ampersand.sync_runs SET started_at = started_at - interval '200 days' WHERE observed_at = '2026-11-01'")
        .execute(&app.pool)
        .await
        .unwrap();
    let pruned = app
        .ampsync(&["prune", "--older-than", "100d"])
        .await
        .success();
    assert!(
        pruned.stdout().contains("pruned 1 runs"),
        "{}",
        pruned.stdout()
    );

    // Act
    let (after, _) = export(&app, &project, &["--as-of", "2026-11-01T00:00:00Z"]).await;
    let early = app
        .ampsync(&[
            "export",
            "--project",
            &project,
            "--as-of",
            "2026-10-31T23:59:59Z",
        ])
        .await;

    // Assert: T1 is still answered from history; before T1 nothing was ever known.
    assert_eq!(after, before);
    assert_eq!(early.code(), 2, "{}", early.stderr());
    assert!(
        early
            .stderr()
            .contains("its first was observed at 2026-11-01T00:00:00+00:00"),
        "{}",
        early.stderr()
    );
}

#[tokio::test]
async fn export_as_of_a_time_before_a_history_prune_is_refused_and_names_the_cutoff() {
    // Arrange: A observed 30 days ago, B (which changes and deletes some of A) 20 days
    // ago, then the versions that ended before 15 days ago pruned.
    let a = read_json("samples/installations-2026-11-01.json");
    let b = read_json("samples/installations-2026-11-08.json");
    let project = project_of(&a);
    let app = spawn_app().await;
    let days_ago = |n: i64| (Utc::now() - chrono::Duration::days(n)).to_rfc3339();
    import(&app, &a, &project, &days_ago(30)).await;
    import(&app, &b, &project, &days_ago(20)).await;
    let since = days_ago(12);
    let (whole, _) = export(&app, &project, &["--as-of", &since]).await;
    let pruned = app
        .ampsync(&["prune", "--older-than", "15d", "--history"])
        .await
        .success();
    assert!(
        !pruned.stdout().contains("; 0 history versions"),
        "{}",
        pruned.stdout()
    );

    // Act
    let before_cutoff = app
        .ampsync(&["export", "--project", &project, "--as-of", &days_ago(25)])
        .await;
    let (after_cutoff, _) = export(&app, &project, &["--as-of", &since]).await;

    // Assert: refused (exit 2), naming the cutoff; after it, the history is whole.
    assert_eq!(before_cutoff.code(), 2, "{}", before_cutoff.stderr());
    let cutoff: DateTime<Utc> = sqlx::query_scalar(
        "SELECT history_since FROM ampersand.project_retention WHERE project_id = $1",
    )
    .bind(&project)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let err = before_cutoff.stderr();
    assert!(err.contains("was pruned"), "{err}");
    assert!(
        err.contains(&cutoff.to_rfc3339()),
        "names the cutoff {cutoff}: {err}"
    );
    assert_eq!(before_cutoff.stdout(), "", "writes nothing");
    assert_eq!(after_cutoff, whole);
}

#[tokio::test]
async fn export_moves_a_projects_history_to_another_database() {
    // Arrange: two snapshots in one database.
    let a = read_json("samples/installations-2026-11-01.json");
    let b = read_json("samples/installations-2026-11-08.json");
    let project = project_of(&a);
    let source = spawn_app().await;
    import(&source, &a, &project, "2026-11-01T00:00:00Z").await;
    import(&source, &b, &project, "2026-11-08T00:00:00Z").await;

    // Act: export at each observed time, import there.
    let target = spawn_app().await;
    for at in ["2026-11-01T00:00:00Z", "2026-11-08T00:00:00Z"] {
        let (state, _) = export(&source, &project, &["--as-of", at]).await;
        import(&target, &state, &project, at).await;
    }

    // Assert: the same versions, less the flags the export cannot carry.
    let versions = |app: &TestApp| {
        let pool = app.pool.clone();
        async move {
            let mut all = Vec::new();
            for table in crate::helpers::TABLES {
                if table == "projects" || table == "integrations" {
                    continue; // not in a List installations response
                }
                let rows: Vec<Value> = sqlx::query_scalar(&format!(
                    "SELECT to_jsonb(h) - 'sync_run_id' - 'first_seen_at' - 'changed_at' - 'deleted_at'
                            - 'content_hash' - 'row_hash' - 'has_access_token' - 'has_refresh_token' - 'has_api_key'
                     FROM ampersand.{table}_history h
                     ORDER BY valid_from, to_jsonb(h)::text"
                ))
                .fetch_all(&pool)
                .await
                .unwrap();
                all.extend(rows);
            }
            all
        }
    };
    assert_eq!(versions(&target).await, versions(&source).await);
}

// ---------------------------------------------------------------------------------
// Streaming, secrets, the reader role, the CLI.

#[tokio::test]
async fn a_large_export_streams_with_flat_memory() {
    // Arrange: 20,000 installations from the fixtures (about 2.3 KB of JSON each),
    // written element by element: the peak RSS `wait4` reports includes this process's
    // at the spawn, so it must not hold the array either.
    const N: usize = 20_000;
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input.json");
    {
        use std::io::Write;
        let mut out = std::io::BufWriter::new(std::fs::File::create(&input).unwrap());
        out.write_all(b"[").unwrap();
        for i in 0..N {
            if i > 0 {
                out.write_all(b",").unwrap();
            }
            serde_json::to_writer(&mut out, &fixtures::installation(i)).unwrap();
        }
        out.write_all(b"]").unwrap();
    }
    let input = input.display().to_string();
    app.ampsync(&[
        "import",
        &input,
        "--project",
        PROJECT_ID,
        "--observed-at",
        "2026-11-01T00:00:00Z",
    ])
    .await
    .success();
    // The baseline: ten installations of a second project (ids are global keys).
    let mut small_text = fixtures::installations(0..10)
        .to_string()
        .replace(PROJECT_ID, "proj-small");
    for id in ["\"papp-", "\"conn-", "\"inst-", "\"cfg-"] {
        small_text = small_text.replace(id, &format!("{id}small-"));
    }
    let small_project: Value = serde_json::from_str(&small_text).unwrap();
    import(&app, &small_project, "proj-small", "2026-11-01T00:00:00Z").await;
    let (small, large) = (dir.path().join("small.json"), dir.path().join("large.json"));

    // Act: a small export for the baseline, then the large one.
    let (run, small_rss) = app
        .ampsync_measured(
            &[
                "export",
                "--project",
                "proj-small",
                "--output",
                &small.display().to_string(),
            ],
            &[],
        )
        .await;
    run.success();
    let started = std::time::Instant::now();
    let (run, large_rss) = app
        .ampsync_measured(
            &[
                "export",
                "--project",
                PROJECT_ID,
                "--output",
                &large.display().to_string(),
            ],
            &[],
        )
        .await;
    let elapsed = started.elapsed();
    run.success();

    // Assert: every installation written, one per line; memory far below the array's
    // size, and hardly above the small export's.
    // Read line by line: this process holding the 46 MB would show in the peak RSS
    // that other tests measure (`wait4` counts the parent's memory at the spawn).
    let size = std::fs::metadata(&large).unwrap().len();
    let (mut lines, mut first, mut last, mut checked) = (0, String::new(), String::new(), 0);
    use std::io::BufRead;
    for line in std::io::BufReader::new(std::fs::File::open(&large).unwrap()).lines() {
        let line = line.unwrap();
        if lines == 0 {
            first = line.clone();
        } else if lines % 5000 == 1 && lines <= N {
            let inst: Value = serde_json::from_str(line.trim_end_matches(',')).unwrap();
            assert!(
                inst["connection"]["oauth2AuthorizationCode"]["accessToken"]["issuedAt"]
                    .is_string()
            );
            checked += 1;
        }
        lines += 1;
        last = line;
    }
    assert_eq!((first.as_str(), last.as_str()), ("[", "]"));
    assert_eq!(lines, N + 2, "one installation per line");
    assert_eq!(checked, 4);
    eprintln!(
        "export of {N}: {size} bytes in {elapsed:?}, peak RSS {:.1} MB (10 installations: {:.1} MB)",
        large_rss as f64 / 1e6,
        small_rss as f64 / 1e6
    );
    assert!(size > 40_000_000, "{size}");
    assert!(
        large_rss < small_rss + (16 << 20) && large_rss < 96 << 20,
        "peak RSS {large_rss} for {N} installations ({size} bytes), {small_rss} for 10"
    );
}

#[tokio::test]
async fn no_secret_of_the_input_appears_in_the_export() {
    // Arrange: the fixtures' tokens, API keys, client secrets, plus secrets at odd places.
    let jwt = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dGhpc2lzYXNpZ25hdHVyZXRoYXRsb29rc3JlYWw";
    let mut payload = fixtures::installations(0..10);
    let list = payload.as_array_mut().unwrap();
    list[0]["connection"]["providerMetadata"]["session"] = json!({"value": jwt, "source": "token"});
    list[1]["vendorAuth"] = json!({"deep": [{"x-api-key": "ak_live_7Hq2Lr9Xv4Nw8Pt1"}], "Authorization": "Bearer sk-ant-4f7d9a2b8c1e"});
    list[2]["config"]["content"]["write"] =
        json!({"objects": {"lead": {"dbPassword": "hunter2-Qx7!vL9#mP3"}}});
    list[3]["connection"]["oauth2AuthorizationCode"]["idToken"] = json!("id-tok-9Zp3Wq7Lk2Jh5Gf8");
    list[4]["group"]["groupName"] = json!("Acme Bearer sk-ant-api03-Zx81Lq");
    let mut secrets = fixtures::secrets_in(&payload);
    secrets.extend([
        jwt.to_string(),
        "sk-ant-4f7d9a2b8c1e".into(),
        "sk-ant-api03-Zx81Lq".into(),
    ]);
    assert!(secrets.len() > 20, "{}", secrets.len());
    let app = spawn_app_with(json!([])).await;
    import(&app, &payload, PROJECT_ID, "2026-11-01T00:00:00Z").await;

    // Act
    let run = app
        .ampsync(&["export", "--project", PROJECT_ID, "-vv"])
        .await
        .success();

    // Assert
    let (out, logs) = (run.stdout(), run.stderr());
    assert!(
        out.contains("conn-00001") && out.contains("accessToken"),
        "real content: {out}"
    );
    assert_holds_no_secret("the export", &out, &secrets);
    assert_holds_no_secret("the logs", &logs, &secrets);
    for field in [
        "\"token\":",
        "\"apiKey\":",
        "has_access_token",
        "hasAccessToken",
        "has_api_key",
        "client_secret",
    ] {
        assert!(!out.contains(field), "the export holds {field}");
    }
}

#[tokio::test]
async fn the_reader_role_can_export_and_the_export_changes_nothing() {
    // Arrange
    let app = spawn_app().await;
    crate::sql_files::import_samples(&app).await;
    let reader = crate::sql_files::reader_role(&app).await;
    // pg_dump's \restrict lines carry a random key each time.
    let dump = || async {
        let text = app.dump().await;
        text.lines()
            .filter(|l| !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let before = dump().await;
    let url = crate::helpers::database_url(&reader.login, &app.db_name);

    // Act
    let run = app
        .ampsync_env(
            &["export", "--project", "proj-7c1e2a90"],
            &[("DATABASE_URL", &url)],
        )
        .await;

    // Assert
    let run = run.success();
    let exported: Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(exported.as_array().unwrap().len(), 61);
    assert!(dump().await == before, "an export writes nothing");
    crate::sql_files::drop_roles(&app, reader).await;
}

#[tokio::test]
async fn output_is_written_whole_or_not_at_all_and_errors_have_the_documented_exit_codes() {
    // Arrange
    let app = spawn_app().await;
    import(
        &app,
        &fixtures::installations(0..4),
        PROJECT_ID,
        "2026-11-01T00:00:00Z",
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("export.json");
    std::fs::write(&file, "the previous export").unwrap();
    let path = file.display().to_string();

    // Act and assert: a good export replaces the file, leaving no temporary one behind.
    let run = app
        .ampsync(&["export", "--project", PROJECT_ID, "--output", &path])
        .await
        .success();
    assert_eq!(run.stdout(), "", "data goes to the file");
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(written.as_array().unwrap().len(), 4);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    let exported = run.logged("exported");
    assert_eq!(exported.len(), 1, "{}", run.stderr());
    assert_eq!(exported[0]["installations"], 4);

    // A time that is not RFC 3339 is a usage error; nothing is written.
    for bad in ["yesterday", "2026-11-01", "2026-11-01 00:00:00"] {
        let run = app
            .ampsync(&[
                "export",
                "--project",
                PROJECT_ID,
                "--as-of",
                bad,
                "--output",
                &path,
            ])
            .await;
        assert_eq!(run.code(), 2, "{bad}: {}", run.stderr());
        assert!(run.stderr().contains("RFC 3339"), "{}", run.stderr());
    }
    // A project the database does not hold, and a time before its first snapshot.
    let run = app
        .ampsync(&["export", "--project", "acme-typo", "--output", &path])
        .await;
    assert_eq!(run.code(), 2, "{}", run.stderr());
    assert!(
        run.stderr().contains(PROJECT_ID),
        "names the projects it holds: {}",
        run.stderr()
    );
    let run = app
        .ampsync(&[
            "export",
            "--project",
            PROJECT_ID,
            "--as-of",
            "2020-01-01T00:00:00Z",
            "--output",
            &path,
        ])
        .await;
    assert_eq!(run.code(), 2, "{}", run.stderr());
    // A database that cannot be read fails the run; the file is as it was.
    let run = app
        .ampsync_env(
            &["export", "--project", PROJECT_ID, "--output", &path],
            &[("DATABASE_URL", "postgres://postgres@127.0.0.1:1/nowhere")],
        )
        .await;
    assert_eq!(run.code(), 1, "{}", run.stderr());
    let after: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(after, written);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no temporary file left"
    );
    // An empty project exports as an empty array.
    let empty = spawn_app().await;
    import(&empty, &json!([]), "proj-empty", "2026-11-01T00:00:00Z").await;
    let (value, text) = export(&empty, "proj-empty", &[]).await;
    assert_eq!(value, json!([]));
    assert_eq!(text, "[]\n");
}
