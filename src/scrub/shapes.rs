//! The secrets that are told by their look alone, wherever they stand in a text: tokens
//! whose issuers publish a prefix (chosen from the rule sets of gitleaks and trufflehog,
//! the ones with a prefix distinctive enough to match without context), PEM private key
//! blocks, the password of a URL's userinfo, and the value of a URL query parameter named
//! for a secret. [`redact`] replaces each with `[redacted]` and keeps the text around it,
//! so a URL keeps its host and a sentence its other words.
//!
//! Speed: these run on every stored string and every text column. Each regex starts
//! with literal text (a prefix, `://`, `=`), which the `regex` crate finds with a SIMD
//! prefilter before running any automaton, so a text holding none of them costs one scan.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;

use super::REDACTED;

/// The token shapes: who issues it (as the README lists it), and its pattern. Where a
/// pattern has a capture group, only that group is the secret (a webhook's host stays).
/// `\b` is an ASCII word boundary here (see [`TOKEN_RE`]).
pub const TOKENS: &[(&str, &str)] = &[
    (
        "GitHub tokens (`ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_`, `github_pat_`)",
        r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})",
    ),
    (
        "GitLab tokens (`glpat-`, `gldt-`, `glrt-`, `glptt-`, `glcbt-`, `gloas-`, …)",
        r"\bgl(?:pat|dt|rt|ptt|cbt|ft|imt|agent|oas|soat|ffct)-[A-Za-z0-9_-]{20,}(?:\.[A-Za-z0-9]{2,})?",
    ),
    (
        "Slack tokens (`xoxb-`, `xoxa-`, `xoxp-`, `xoxr-`, `xoxs-`, `xoxe-`, `xapp-`)",
        r"\b(?:xox[abposre](?:\.xox[bp])?|xapp)-[A-Za-z0-9-]{10,}",
    ),
    (
        "Slack webhook URLs (`hooks.slack.com/services/…`)",
        r"hooks\.slack\.com/(?:services|workflows|triggers)/([A-Za-z0-9+/_-]{20,})",
    ),
    (
        "Discord webhook URLs",
        r"discord(?:app)?\.com/api/webhooks/([0-9]+/[A-Za-z0-9_-]{20,})",
    ),
    (
        "Microsoft Teams webhook URLs (`webhook.office.com/webhookb2/…`)",
        r"\.webhook\.office\.com/webhookb2/([A-Za-z0-9@/-]{40,})",
    ),
    (
        "Stripe keys (`sk_live_`, `sk_test_`, `rk_live_`, `rk_test_`, `whsec_`)",
        r"\b(?:[sr]k_(?:live|test|prod)_[A-Za-z0-9]{10,}|whsec_[A-Za-z0-9]{20,})",
    ),
    (
        "AWS access key ids (`AKIA`, `ASIA`, `ABIA`, `ACCA`, `A3T…`)",
        r"\b(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}\b",
    ),
    (
        "Azure storage account keys (`AccountKey=` in a connection string)",
        r"AccountKey=([A-Za-z0-9+/]{40,}={0,2})",
    ),
    (
        "Google API keys (`AIza`), OAuth secrets (`GOCSPX-`) and tokens (`ya29.`)",
        r"\b(?:AIza[A-Za-z0-9_-]{35}|GOCSPX-[A-Za-z0-9_-]{24,}|ya29\.[A-Za-z0-9_-]{20,})",
    ),
    (
        "OpenAI keys (`sk-`, `sk-proj-`, `sk-svcacct-`, `sk-admin-`)",
        r"\bsk-[A-Za-z0-9_-]{20,}",
    ),
    ("Anthropic keys (`sk-ant-`)", r"\bsk-ant-[A-Za-z0-9_-]{8,}"),
    ("npm tokens (`npm_`)", r"\bnpm_[A-Za-z0-9]{30,}"),
    (
        "PyPI upload tokens (`pypi-`)",
        r"\bpypi-Ag[A-Za-z0-9_-]{50,}",
    ),
    (
        "SendGrid keys (`SG.`)",
        r"\bSG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}",
    ),
    (
        "Twilio API keys (`SK` and 32 hex digits)",
        r"\bSK[0-9a-fA-F]{32}\b",
    ),
    (
        "Mailgun keys (`key-` and 32 hex digits)",
        r"\bkey-[0-9a-f]{32}\b",
    ),
    (
        "HubSpot private app tokens (`pat-na1-`, `pat-eu1-`)",
        r"\bpat-(?:na|eu)[0-9]-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b",
    ),
    (
        "Salesforce access tokens (`00D…!…`)",
        r"\b00D[A-Za-z0-9]{12,15}![A-Za-z0-9._]{30,}",
    ),
    (
        "Shopify tokens (`shpat_`, `shpca_`, `shppa_`, `shpss_`)",
        r"\bshp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}",
    ),
    (
        "Atlassian API tokens (`ATATT`)",
        r"\bATATT[A-Za-z0-9_=-]{30,}",
    ),
    (
        "Linear keys (`lin_api_`), Figma tokens (`figd_`)",
        r"\b(?:lin_api_[A-Za-z0-9]{40}|figd_[A-Za-z0-9_-]{30,})",
    ),
    (
        "Notion tokens (`ntn_`, `secret_`)",
        r"\b(?:ntn_[A-Za-z0-9]{40,}|secret_[A-Za-z0-9]{43})",
    ),
    (
        "Airtable tokens (`pat…`), Postman keys (`PMAK-`), Heroku keys (`HRKU-`)",
        r"\b(?:pat[A-Za-z0-9]{14}\.[a-f0-9]{64}|PMAK-[a-fA-F0-9]{24}-[a-fA-F0-9]{34}|HRKU-[A-Za-z0-9_-]{40,})",
    ),
    (
        "DigitalOcean tokens (`dop_v1_`, `doo_v1_`, `dor_v1_`)",
        r"\bdo[opr]_v1_[a-f0-9]{64}",
    ),
    ("Hugging Face tokens (`hf_`)", r"\bhf_[A-Za-z]{34}\b"),
    (
        "Vault tokens (`hvs.`, `hvb.`), Doppler tokens (`dp.pt.`)",
        r"\b(?:hv[sb]\.[A-Za-z0-9_-]{90,}|dp\.pt\.[A-Za-z0-9]{40,})",
    ),
    (
        "Databricks (`dapi`), Sentry (`sntrys_`, `sntryu_`), Pulumi (`pul-`) tokens",
        r"\b(?:dapi[a-f0-9]{32}|sntry[su]_[A-Za-z0-9+/=_]{40,}|pul-[a-f0-9]{40})",
    ),
    (
        "Grafana tokens (`glsa_`, `glc_`)",
        r"\b(?:glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}|glc_[A-Za-z0-9+/]{32,}={0,3})",
    ),
    (
        "Mapbox secret tokens (`sk.eyJ`), Square tokens (`sq0atp-`, `sq0csp-`)",
        r"\b(?:sk\.eyJ[A-Za-z0-9._-]{20,}|sq0(?:atp|csp)-[A-Za-z0-9_-]{22,})",
    ),
    (
        "Brevo (Sendinblue) keys (`xkeysib-`)",
        r"\bxkeysib-[a-f0-9]{64}-[A-Za-z0-9]{16}",
    ),
    (
        "age secret keys (`AGE-SECRET-KEY-1`)",
        r"AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}",
    ),
    (
        "PEM private key blocks (`-----BEGIN … PRIVATE KEY-----` to its END line)",
        r"-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----(?s:.*?)(?:-----END[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----|\z)",
    ),
];

/// Every token shape as one regex: one pass finds them all.
static TOKEN_RE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    let joined: Vec<String> = TOKENS
        .iter()
        // An ASCII boundary: a Unicode one would keep the fast automata off any text
        // that is not ASCII.
        .map(|(_, pattern)| format!("(?:{})", pattern.replace(r"\b", r"(?-u:\b)")))
        .collect();
    Regex::new(&joined.join("|")).ok()
});

/// The password of a URL's userinfo: `scheme://user:PASSWORD@host`.
static USERINFO_RE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r#"(?-u:\b)[A-Za-z][A-Za-z0-9+.-]{0,30}://[^/?#@\s:"'<>]*:([^/?#@\s"'<>]+)@"#).ok()
});

/// A `name=value` pair in a URL's query (or standing alone in a text, as in an error
/// message): the name is checked by [`is_secret_parameter`].
static PARAMETER_RE: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r#"(?:^|[?&;,\s])([A-Za-z0-9_.\[\]-]{1,64})=([^&#\s"'<>]+)"#).ok());

/// Whether a query parameter named `name` carries a secret: a name [`super::is_secret_name`]
/// flags (`access_token`, `client_secret`, `api_key`, `password`, ...), or one of the short
/// names that URLs use for keys and signatures (`key`, `sig`, `signature`,
/// `X-Amz-Signature`, `X-Goog-Signature`).
fn is_secret_parameter(name: &str) -> bool {
    super::is_secret_name(name)
        || matches!(
            name.to_ascii_lowercase().as_str(),
            "key" | "sig" | "signature" | "x-amz-signature" | "x-goog-signature"
        )
}

/// Whether `text` may hold a shape: the cheap test that keeps [`redact`] off clean text.
pub fn may_hold(text: &str) -> bool {
    let bytes = text.as_bytes();
    TOKEN_RE.as_ref().is_some_and(|re| re.is_match(text))
        || (memchr::memmem::find(bytes, b"://").is_some() && memchr::memchr(b'@', bytes).is_some())
        || memchr::memchr(b'=', bytes).is_some()
}

/// `text` with every shape replaced by `[redacted]`; borrowed when there was none.
pub fn redact(text: &str) -> Cow<'_, str> {
    if !may_hold(text) {
        return Cow::Borrowed(text);
    }
    let mut spans: Vec<(usize, usize)> = Vec::new();
    if let Some(re) = TOKEN_RE.as_ref() {
        for caps in re.captures_iter(text) {
            // The one group that took part marks the secret; without one, all of it is.
            let secret = caps.iter().skip(1).flatten().next().or_else(|| caps.get(0));
            if let Some(m) = secret {
                spans.push((m.start(), m.end()));
            }
        }
    }
    if let Some(re) = USERINFO_RE.as_ref() {
        spans.extend(
            re.captures_iter(text)
                .filter_map(|c| c.get(1))
                .map(|m| (m.start(), m.end())),
        );
    }
    if let Some(re) = PARAMETER_RE.as_ref() {
        spans.extend(
            re.captures_iter(text)
                .filter(|c| c.get(1).is_some_and(|n| is_secret_parameter(n.as_str())))
                .filter_map(|c| c.get(2))
                .map(|m| (m.start(), m.end())),
        );
    }
    // A redaction left by an earlier pass stays as it is, and so does a value masked
    // already (`postgres://u:***@host`, as messages show a URL).
    spans.retain(|&(start, end)| {
        let found = &text[start..end];
        found != REDACTED && !found.bytes().all(|b| b == b'*')
    });
    if spans.is_empty() {
        return Cow::Borrowed(text);
    }
    spans.sort_unstable();
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (start, end) in spans {
        // Overlapping spans (a token inside a query value) are one redaction.
        if end <= at {
            continue;
        }
        out.push_str(&text[at..start.max(at)]);
        if start >= at {
            out.push_str(REDACTED);
        }
        at = end;
    }
    out.push_str(&text[at..]);
    Cow::Owned(out)
}

/// Whether every pattern compiled (a unit test holds this; see `scrub`'s tests).
#[cfg(test)]
pub fn all_compile() -> bool {
    TOKEN_RE.is_some() && USERINFO_RE.is_some() && PARAMETER_RE.is_some()
}
