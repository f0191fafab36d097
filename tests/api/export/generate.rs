//! Inputs for the round trip beyond the fixtures on disk: hand-made adversarial ones
//! and random schema-valid responses from a seed.

use serde_json::{json, Value};

use crate::fixtures;

/// Hand-made inputs that press on every transform: unknown fields at every level,
/// unknown enum values, nulls, nested scopes, unicode and control characters, numbers
/// past f64 and u64, times with nine fractional digits and offsets, shared objects
/// whose copies disagree, missing groups.
pub(super) fn adversarial() -> Value {
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
pub(super) fn random(seed: u64, n: usize) -> Value {
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
