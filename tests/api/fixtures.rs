//! Realistic payloads for the fake API, built like the real API's (see
//! shared/reference): installations share connections (two per connection), groups,
//! consumers and provider apps, and carry real-looking secrets in the places the real
//! API puts them and in a few it should not.

use serde_json::{json, Value};

pub const PROJECT_ID: &str = "proj-3f9a61c2";
pub const PROJECT_NAME: &str = "acme-prod";
const PROVIDERS: [&str; 2] = ["salesforce", "hubspot"];
pub const GROUPS: usize = 7;

pub fn project() -> Value {
    json!({
        "id": PROJECT_ID, "name": PROJECT_NAME, "appName": "Acme", "orgId": "org-51b2",
        "createTime": "2023-07-13T21:34:44.816Z", "updateTime": "2024-01-02T03:04:05Z",
        "entitlements": {"brandingRemoval": {"value": true}}
    })
}

pub fn integrations() -> Value {
    let list: Vec<Value> = PROVIDERS
        .iter()
        .flat_map(|p| (0..2).map(move |n| (p, n)))
        .map(|(provider, n)| {
            json!({
                "id": integration_id(provider, n), "projectId": PROJECT_ID,
                "name": format!("{provider}-{}", ["crm", "marketing"][n]), "provider": provider,
                "createTime": "2023-08-01T10:00:00Z", "updateTime": "2023-09-01T10:00:00.5Z",
                "latestRevision": {"id": format!("rev-{provider}-{n}"), "specVersion": "1.0.0",
                                   "createTime": "2023-09-01T10:00:00Z",
                                   "content": {"provider": provider, "read": {"objects": [{"objectName": "account"}]}}}
            })
        })
        .collect();
    Value::Array(list)
}

fn integration_id(provider: &str, n: usize) -> String {
    format!("int-{provider}-{n}")
}

pub fn group_ref(g: usize) -> String {
    format!("grp-{g}")
}

/// Installation `i`: installations 2k and 2k+1 share connection k, so the same
/// connection, group, consumer and provider app appear many times.
pub fn installation(i: usize) -> Value {
    let c = i / 2;
    let provider = PROVIDERS[c % 2];
    let g = c % GROUPS;
    let group = json!({
        "groupRef": group_ref(g), "groupName": format!("Customer {g} GmbH"), "projectId": PROJECT_ID,
        "createTime": "2023-07-13T21:34:44.816Z", "updateTime": "2023-07-13T21:34:44.816Z"
    });
    let consumer_ref = format!("user-{}", c % 5);
    json!({
        "id": format!("inst-{i:05}"),
        "projectId": PROJECT_ID,
        "integrationId": integration_id(provider, i % 2),
        "healthStatus": "healthy",
        "lastOperationStatus": "success",
        "createTime": "2023-11-07T05:31:56Z",
        "updateTime": "2023-11-07T05:31:56Z",
        "createdBy": format!("consumer:{consumer_ref}"),
        "group": group,
        "connection": {
            "id": format!("conn-{c:05}"),
            "projectId": PROJECT_ID,
            "provider": provider,
            "group": group,
            "consumer": {
                "consumerRef": consumer_ref, "consumerName": format!("Person {}", c % 5),
                "projectId": PROJECT_ID, "createTime": "2023-07-13T21:34:44.816Z",
                "updateTime": "2023-07-13T21:34:44.816Z"
            },
            "createTime": "2023-07-13T21:34:44.816Z",
            "updateTime": "2023-07-13T21:34:44.816Z",
            "authScheme": "oauth2/authorizationCode",
            "status": "working",
            "providerApp": {
                "id": format!("papp-{provider}"), "projectId": PROJECT_ID, "provider": provider,
                "clientId": format!("3MVG9{provider}ClientId"), "externalRef": "ext-1",
                "scopes": [["api", "refresh_token", "offline_access"]],
                "metadata": {"providerParams": {"client_secret": format!("cs_{provider}_8Zq4Lr2Xv7Nw1Pt5Ks9Hd3Jm")}},
                "createTime": "2023-11-07T05:31:56Z", "updateTime": "2023-11-07T05:31:56Z"
            },
            "providerWorkspaceRef": format!("workspace-{c}"),
            "providerConsumerRef": format!("005Hs00000{c:05}"),
            "oauth2AuthorizationCode": {
                "accessToken": {
                    "token": access_token(c, 0),
                    "issuedAt": "2024-04-22T18:55:28.456076Z",
                    "expiresAt": "2024-10-22T18:55:28.456076Z"
                },
                "refreshToken": {
                    "token": format!("5Aep861TSESvWeug_ztpnAk6BGQxRdovMLhHso6MoZqdrLFxJ0w{c:05}"),
                    "issuedAt": "2024-04-22T18:55:28.456076Z",
                    "expiresAt": "2025-04-22T18:55:28Z"
                },
                "scopes": ["api", "refresh_token"]
            },
            "apiKey": format!("sk_live_51HqLyjWDarjtT1zd{c:05}Xx4Pq"),
            "providerMetadata": {"instanceUrl": {"value": format!("https://c{c}.my.salesforce.com"), "source": "provider"}}
        },
        "config": {
            "id": format!("cfg-{i:05}"),
            "revisionId": format!("rev-{provider}-{}", i % 2),
            "createTime": "2023-11-07T05:31:56Z",
            "createdBy": "builder:bld-3",
            "content": {
                "provider": provider,
                "read": {"objects": {"account": {
                    "objectName": "account", "schedule": "*/15 * * * *", "destination": "accountWebhook",
                    "selectedFields": {"name": true, "industry": true}, "selectedFieldMappings": {},
                    "backfill": {"defaultPeriod": {"days": 30}}
                }}},
                "proxy": {"enabled": true}
            }
        }
    })
}

/// The access token of connection `c` after `refreshes` token refreshes.
pub fn access_token(c: usize, refreshes: usize) -> String {
    format!("00D5g000004Sn{c:05}!AQ4AQFjR8x{refreshes}Kp2Lm9Vq7Ws3Xt6Yu1Zb4Nc8Md5Ge0Hf")
}

pub fn installations(range: std::ops::Range<usize>) -> Value {
    Value::Array(range.map(installation).collect())
}

/// Fails the test when `text` (what `what` names: the database, the logs, ...) holds
/// any of `secrets`.
pub fn assert_holds_no_secret(what: &str, text: &str, secrets: &[String]) {
    for secret in secrets {
        assert!(
            !text.contains(secret.as_str()),
            "secret {secret} found in {what}"
        );
    }
}

/// Every string stored under a secret-named field anywhere in `value`.
pub fn secrets_in(value: &Value) -> Vec<String> {
    let mut found = Vec::new();
    collect_secrets(value, false, &mut found);
    found.sort();
    found.dedup();
    found
}

fn collect_secrets(value: &Value, secret: bool, found: &mut Vec<String>) {
    match value {
        Value::String(s) if secret => found.push(s.clone()),
        Value::Object(map) => {
            for (name, v) in map {
                let lower = name.to_lowercase();
                let is_secret = ["token", "secret", "password", "apikey", "api_key"]
                    .iter()
                    .any(|w| lower.contains(w))
                    && lower != "refreshtoken"
                    && lower != "accesstoken";
                collect_secrets(v, secret || is_secret, found);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_secrets(v, secret, found)),
        _ => {}
    }
}

/// A connection that no installation uses (the customer connected but never installed),
/// as `GET /projects/{p}/connections` lists it: in group `group`, by its own consumer,
/// through its own provider app, with real-looking secrets where the API puts them and
/// a client secret where it should not (the provider app's metadata and an unknown field).
pub fn lone_connection(n: usize, group: &str) -> Value {
    json!({
        "id": format!("conn-lone-{n:03}"),
        "projectId": PROJECT_ID,
        "provider": "pipedrive",
        "group": {
            "groupRef": group, "groupName": format!("Lonely {group} AG"), "projectId": PROJECT_ID,
            "createTime": "2024-02-01T08:00:00Z", "updateTime": "2024-02-01T08:00:00Z"
        },
        "consumer": {
            "consumerRef": format!("user-lone-{n}"), "consumerName": format!("Lone Person {n}"),
            "projectId": PROJECT_ID, "createTime": "2024-02-01T08:00:00Z",
            "updateTime": "2024-02-01T08:00:00Z"
        },
        "providerApp": provider_app("pipedrive"),
        "createTime": "2024-02-01T08:00:10Z",
        "updateTime": "2024-02-01T08:00:10Z",
        "authScheme": "oauth2/authorizationCode",
        "status": "some-future-status",
        "oauth2AuthorizationCode": {
            "accessToken": {
                "token": format!("v1u:AQIBAHj9pipedrive{n:03}Lk2Jh5Gf8Qp2Wx7Zr4Tn6Ym1Vb3Nc"),
                "issuedAt": "2024-02-01T08:00:10Z", "expiresAt": "2024-02-01T09:00:10Z"
            },
            "refreshToken": {"token": format!("1283:pipedrive-refresh-{n:03}-9f8e7d6c5b4a3928")},
            "scopes": ["base", "deals:read"]
        },
        "apiKey": format!("pd_live_{n:03}_4f7d9a2b8c1e6f5a3b2c"),
        "futureField": {"lifecycle": "onboarding"}
    })
}

/// A provider app as `GET /projects/{p}/provider-apps` lists it, with a client secret
/// in its metadata and under an unknown field.
pub fn provider_app(provider: &str) -> Value {
    json!({
        "id": format!("papp-{provider}"), "projectId": PROJECT_ID, "provider": provider,
        "clientId": format!("{provider}-client-7d1e"), "externalRef": "ext-9",
        "scopes": ["base"],
        "metadata": {"providerParams": {"client_secret": format!("cs_{provider}_Hq2Lr9Xv4Nw8Pt1Zk5")}},
        "clientSecret": format!("cs2_{provider}_Lk2Jh5Gf8Qp2Wx7Z"),
        "newTier": "enterprise-plus",
        "createTime": "2024-01-01T00:00:00Z", "updateTime": "2024-01-02T00:00:00Z"
    })
}

/// The distinct connections the installations embed, as the connections list has them.
pub fn embedded_connections(installations: &Value) -> Vec<Value> {
    let mut seen = std::collections::BTreeSet::new();
    installations
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["connection"].clone())
        .filter(|c| seen.insert(c["id"].to_string()))
        .collect()
}
