#!/usr/bin/env python3
"""Deterministic generator of sample Ampersand API responses for ampsync.

Run from the repository root:

    python3 samples/generate.py

It (re)writes, next to this script:

    project.json                     GET /v1/projects/{projectIdOrName}
    integrations.json                GET /v1/projects/{projectIdOrName}/integrations
    installations-2026-11-01.json    GET /v1/projects/{projectIdOrName}/installations (week 1)
    installations-2026-11-08.json    the same call one week later (week 2)
    connections-2026-11-01.json      GET /v1/projects/{projectIdOrName}/connections (week 1)
    connections-2026-11-08.json      the same call in week 2
    provider-apps.json               GET /v1/projects/{projectIdOrName}/provider-apps
    README.md                        description + counts computed below

Standard library only, no randomness: every "random" choice is derived from a
SHA-256 / SHAKE-256 hash of a stable seed string, so two runs produce
byte-identical files.  Every token, key and secret in the output is FAKE.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import pathlib
import re
import string
import uuid

OUT_DIR = pathlib.Path(__file__).resolve().parent
PROJECT_ID = "proj-7c1e2a90"
ORG_ID = "3f6d1c2e-8a47-4b9e-9c15-7e2d0a4b5f61"
SNAPSHOTS = {1: "2026-11-01", 2: "2026-11-08"}
UTC = dt.timezone.utc


# --------------------------------------------------------------------------
# deterministic helpers
# --------------------------------------------------------------------------

def _h(*parts: object) -> bytes:
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8")).digest()


def num(mod: int, *parts: object) -> int:
    return int.from_bytes(_h(*parts)[:8], "big") % mod


def frac(*parts: object) -> float:
    return int.from_bytes(_h(*parts)[:8], "big") / 2**64


def uid(*parts: object) -> str:
    return str(uuid.UUID(bytes=_h("uuid", *parts)[:16], version=4))


ALNUM = string.ascii_letters + string.digits
UPPER_DIGITS = string.ascii_uppercase + string.digits
B64URL = ALNUM + "-_"
HEX = "0123456789abcdef"


def chars(n: int, alphabet: str, *parts: object) -> str:
    raw = hashlib.shake_256("\x1f".join(str(p) for p in parts).encode("utf-8")).digest(n)
    return "".join(alphabet[b % len(alphabet)] for b in raw)


def D(y: int, mo: int, d: int, hh: int = 0, mi: int = 0, ss: int = 0, us: int = 0) -> dt.datetime:
    return dt.datetime(y, mo, d, hh, mi, ss, us, tzinfo=UTC)


def between(a: dt.datetime, b: dt.datetime, *parts: object) -> dt.datetime:
    """A deterministic instant in [a, b] (with a non-zero microsecond part)."""
    span = max(0, int((b - a).total_seconds()) - 1)
    secs = int(frac("between", *parts) * span)
    micros = 1 + num(999_998, "micros", *parts)
    return a + dt.timedelta(seconds=secs, microseconds=micros)


def ts(when: dt.datetime, style: str) -> str:
    """Render a timestamp in one of the shapes the real API sends."""
    when = when.astimezone(UTC)
    base = when.strftime("%Y-%m-%dT%H:%M:%S")
    if style == "ms":  # 2023-07-13T21:34:44.816Z
        return f"{base}.{when.microsecond // 1000:03d}Z"
    if style == "us":  # 2024-04-22T18:55:28.456076Z
        return f"{base}.{when.microsecond:06d}Z"
    if style == "s":  # 2023-11-07T05:31:56Z
        return base + "Z"
    if style[0] in "+-":  # 2025-02-01T09:00:00+01:00
        sign = 1 if style[0] == "+" else -1
        hours, minutes = (int(x) for x in style[1:].split(":"))
        local = when.astimezone(dt.timezone(sign * dt.timedelta(hours=hours, minutes=minutes)))
        return local.strftime("%Y-%m-%dT%H:%M:%S") + style
    raise ValueError(style)


def style_for(*parts: object) -> str:
    r = num(20, "style", *parts)
    return "ms" if r < 8 else "us" if r < 15 else "s"


# --------------------------------------------------------------------------
# the scenario
# --------------------------------------------------------------------------

# key -> integration definition.  Two integrations share provider salesforce,
# so a group that installed both shares one salesforce connection.
INTEGRATIONS = {
    "crm": dict(
        name="salesforce-crm-sync", provider="salesforce", displayName="Salesforce CRM sync",
        created=D(2023, 7, 11, 16, 2, 9, 311_482),
        revisions=[D(2023, 7, 11, 16, 2, 9, 311_482), D(2024, 5, 2, 10, 41, 3, 77_120), D(2025, 9, 18, 14, 5, 51, 902_311)],
        objects=[("account", "accountWebhook", "*/15 * * * *"),
                 ("contact", "contactWebhook", "*/15 * * * *"),
                 ("opportunity", "opportunityWebhook", "*/30 * * * *")],
        write=["account", "contact"], proxy=True,
    ),
    "mkt": dict(
        name="salesforce-marketing", provider="salesforce", displayName="Salesforce marketing sync",
        created=D(2024, 3, 4, 9, 12, 40, 640_210),
        revisions=[D(2024, 3, 4, 9, 12, 40, 640_210), D(2025, 1, 20, 17, 30, 2, 118_004), D(2026, 2, 9, 8, 44, 19, 560_913)],
        objects=[("campaign", "campaignWebhook", "0 * * * *"),
                 ("lead", "leadWebhook", "*/30 * * * *"),
                 ("campaignMember", "campaignMemberWebhook", "0 */6 * * *")],
        write=[], proxy=False,
    ),
    "hs": dict(
        name="hubspot-crm-sync", provider="hubspot", displayName="HubSpot CRM sync",
        created=D(2023, 8, 2, 13, 55, 0, 218_731),
        revisions=[D(2023, 8, 2, 13, 55, 0, 218_731), D(2024, 11, 5, 19, 2, 33, 401_876), D(2025, 6, 30, 7, 18, 12, 5_529)],
        objects=[("companies", "companyWebhook", "*/15 * * * *"),
                 ("contacts", "contactWebhook", "*/15 * * * *"),
                 ("deals", "dealWebhook", "*/30 * * * *")],
        write=["contacts"], proxy=True,
    ),
    "zd": dict(
        name="zendesk-support-sync", provider="zendesk", displayName="Zendesk Support sync",
        created=D(2023, 9, 19, 11, 0, 17, 932_004),
        revisions=[D(2023, 9, 19, 11, 0, 17, 932_004), D(2025, 3, 3, 15, 27, 45, 310_558)],
        objects=[("tickets", "ticketWebhook", "*/10 * * * *"),
                 ("users", "zendeskUserWebhook", "0 * * * *"),
                 ("organizations", "organizationWebhook", "0 */4 * * *")],
        write=[], proxy=False,
    ),
    "gong": dict(
        name="gong-calls-sync", provider="gong", displayName="Gong calls sync",
        created=D(2024, 1, 15, 20, 8, 31, 447_090),
        revisions=[D(2024, 1, 15, 20, 8, 31, 447_090), D(2024, 8, 8, 12, 0, 4, 660_317), D(2026, 4, 21, 16, 36, 58, 29_874)],
        objects=[("calls", "callWebhook", "0 * * * *"),
                 ("users", "gongUserWebhook", "0 3 * * *")],
        write=[], proxy=False,
    ),
}

FIELDS = {
    "account": ["name", "industry", "annualRevenue", "numberOfEmployees", "website", "billingCountry", "ownerId"],
    "contact": ["firstName", "lastName", "email", "phone", "title", "accountId"],
    "opportunity": ["name", "stageName", "amount", "closeDate", "probability"],
    "campaign": ["name", "status", "type", "startDate", "endDate"],
    "lead": ["firstName", "lastName", "company", "email", "status", "leadSource"],
    "campaignMember": ["campaignId", "leadId", "contactId", "status"],
    "companies": ["name", "domain", "industry", "numberofemployees", "annualrevenue"],
    "contacts": ["firstname", "lastname", "email", "phone", "jobtitle", "lifecyclestage"],
    "deals": ["dealname", "amount", "dealstage", "closedate", "pipeline"],
    "tickets": ["subject", "status", "priority", "requester_id", "assignee_id", "tags"],
    "users": ["name", "email", "role", "time_zone"],
    "organizations": ["name", "domain_names", "tags"],
    "calls": ["title", "started", "duration", "direction", "scope", "primaryUserId"],
}
GONG_USER_FIELDS = ["emailAddress", "firstName", "lastName", "title"]
FIELD_MAPPINGS = {  # mapToName -> provider field, used by a few installations
    "account": {"companyName": "name", "segment": "industry"},
    "contact": {"workEmail": "email"},
    "companies": {"companyName": "name"},
    "contacts": {"workEmail": "email"},
    "tickets": {"ticketTitle": "subject"},
}
OAUTH_SCOPES = {
    "salesforce": ["api", "refresh_token", "offline_access"],
    "hubspot": ["oauth", "crm.objects.companies.read", "crm.objects.contacts.read",
                "crm.objects.contacts.write", "crm.objects.deals.read"],
    "gong": ["api:calls:read:basic", "api:calls:read:extensive", "api:users:read"],
}

CONSUMERS = {
    "user-3": "Priya Raman",
    "user-7": "Marcus Oyelaran",
    "user-11": "Sofía Hernández",
    "user-12": "Jonas Weber",
    "user-17": "Bill Lumbergh",
    "user-21": "Hank Scorpio",
    "user-23": "Yuki Tanaka",
    "user-28": "Agnieszka Wójcik",
    "user-31": "Pam Beesly",
    "user-34": "Dana O'Brien",
    "user-38": "Lars Ødegård",
    "user-40": "Amara Nwosu",
    "user-42": "Charlie Bucket",  # only appears in week 2
    "user-44": "Greta Kuhn",  # only in the connections list
}

# groupRef, groupName, default consumer, integrations installed in week 1
GROUPS = [
    ("grp-initech", "Initech", "user-17", "crm mkt hs gong"),
    ("grp-globex", "Globex", "user-21", "crm mkt zd gong"),
    ("grp-cafe-zurich", "Café Zürich GmbH", "user-12", "crm hs zd"),
    ("grp-mueller-soehne", "Müller & Söhne", "user-12", "hs zd"),
    ("grp-umbrella", "Umbrella Corporation", "user-7", "crm mkt gong zd"),
    ("grp-hooli", "Hooli", "user-3", "hs gong"),
    ("grp-stark", "Stark Industries", "user-40", "crm mkt hs zd gong"),
    ("grp-wayne", "Wayne Enterprises", "user-7", "crm zd gong"),
    ("grp-rocket-labs", "🚀 Rocket Labs", "user-3", "hs zd gong"),
    ("grp-tokyo-robotics", "東京ロボティクス株式会社", "user-23", "crm gong"),
    ("grp-pied-piper", "Pied Piper", "user-3", "hs zd"),
    ("grp-vandelay", "Vandelay Industries", "user-34", "crm mkt zd"),
    ("grp-dunder-mifflin", "Dunder Mifflin", "user-31", "crm hs zd gong"),
    ("grp-lodz-logistics", "Łódź Logistics Sp. z o.o.", "user-28", "zd gong"),
    ("grp-cyberdyne", "Cyberdyne Systems", "user-34", "crm mkt hs"),
    ("grp-soylent", "Soylent 🌱", "user-11", "hs"),
    ("grp-nakatomi", "Nakatomi Trading", "user-23", "crm zd gong"),
    ("grp-nandu", "Ñandú Analytics", "user-11", "crm hs gong"),
    ("grp-oceanic", "Oceanic Airlines ✈️", "user-38", "crm mkt zd gong"),
    ("grp-blue-sun", 'Blue Sun Corp. "BSC"', "user-40", "hs zd gong"),
    # brand-new group, only installs something in week 2
    ("grp-wonka", "Wonka Industries 🍫", "user-42", ""),
    # a group that only the connections list shows: it connected, never installed
    ("grp-kuhn-optik", "Kuhn Optik KG", "user-44", ""),
]
GROUP_INDEX = {g[0]: i for i, g in enumerate(GROUPS)}

# connections no installation uses (the customer connected but never installed), as
# only GET /connections lists them: (groupRef, provider) -> (createTime, weeks listed)
LONE_CONNECTIONS = {
    ("grp-initech", "zendesk"): (D(2026, 9, 14, 10, 12, 3, 118_004), (1, 2)),
    ("grp-hooli", "salesforce"): (D(2026, 10, 2, 16, 45, 51, 902_311), (1, 2)),
    ("grp-soylent", "gong"): (D(2026, 10, 20, 8, 30, 12, 5_877), (1,)),  # deleted by week 2
    ("grp-kuhn-optik", "hubspot"): (D(2026, 10, 28, 13, 2, 40, 700_120), (1, 2)),
    ("grp-kuhn-optik", "salesforce"): (D(2026, 11, 5, 9, 41, 7, 331_908), (2,)),  # new in week 2
}

# connections made by someone other than the group's usual consumer
CONSUMER_OVERRIDES = {("grp-stark", "zendesk"): "user-7", ("grp-oceanic", "zendesk"): "user-11"}

# installation details (keys are (groupRef, integration key))
BUILDER_INSTALLS = {("grp-globex", "gong"): "builder:bld-3", ("grp-stark", "mkt"): "builder:bld-3",
                    ("grp-cyberdyne", "hs"): "builder:bld-3", ("grp-nakatomi", "crm"): "builder:bld-5"}
NO_UPDATE_TIME = {("grp-tokyo-robotics", "gong"), ("grp-pied-piper", "zd"), ("grp-lodz-logistics", "zd"),
                  ("grp-blue-sun", "gong"), ("grp-wonka", "hs")}
LAST_SYNCED_AT = {("grp-initech", "crm"): D(2026, 10, 31, 23, 45, 2, 118_553),
                  ("grp-globex", "zd"): D(2026, 10, 31, 23, 50, 0, 904_117),
                  ("grp-cafe-zurich", "hs"): D(2026, 10, 31, 22, 15, 7, 3_090)}
CONNECTION_EXTRA = {("grp-lodz-logistics", "zendesk"): {"region": "eu"}}

# explicit timestamp styles (everything else: style_for(...))
GROUP_CREATED = {"grp-initech": (D(2023, 7, 13, 21, 34, 44, 816_354), "ms"),
                 "grp-cafe-zurich": (D(2025, 2, 1, 8, 0, 0), "+01:00"),
                 "grp-wonka": (D(2026, 11, 4, 14, 12, 7, 220_918), "us")}
INSTALL_CREATE_STYLE = {("grp-tokyo-robotics", "crm"): "+09:00"}
INSTALL_UPDATE_STYLE = {("grp-mueller-soehne", "hs"): "+02:00"}

# connection status / installation health in week 1
BAD_CREDENTIALS_W1 = {("grp-hooli", "hubspot"), ("grp-nakatomi", "zendesk"), ("grp-vandelay", "salesforce")}
CREATED_W1 = {("grp-blue-sun", "gong")}
UNHEALTHY_W1 = {("grp-hooli", "hs"), ("grp-nakatomi", "zd"), ("grp-vandelay", "crm"), ("grp-vandelay", "mkt"),
                ("grp-rocket-labs", "gong"), ("grp-stark", "zd")}
IN_PROGRESS_W1 = {("grp-blue-sun", "gong"), ("grp-initech", "gong")}

# week 2 (2026-11-08) changes
REMOVED_W2 = {("grp-hooli", "gong"), ("grp-dunder-mifflin", "hs"), ("grp-oceanic", "mkt")}
ADDED_W2 = {  # installation createTime
    ("grp-wonka", "hs"): D(2026, 11, 4, 14, 19, 51, 610_442),
    ("grp-soylent", "zd"): D(2026, 11, 2, 9, 3, 12, 45_871),
    ("grp-mueller-soehne", "crm"): D(2026, 11, 3, 16, 40, 27, 733_016),
    ("grp-wayne", "mkt"): D(2026, 11, 6, 11, 22, 5, 481_239),  # reuses Wayne's salesforce connection
}
HEALTH_W2 = {("grp-globex", "crm"): ("unhealthy", "failure"),
             ("grp-globex", "mkt"): ("unhealthy", "failure"),
             ("grp-stark", "zd"): ("healthy", "success")}
CONN_STATUS_W2 = {("grp-globex", "salesforce"): ("bad_credentials", D(2026, 11, 5, 3, 14, 9, 377_120))}
CONNECTION_STATUS_NEW = {("grp-wonka", "hubspot"): "created"}
IN_PROGRESS_NEW = {("grp-wonka", "hs")}
CONFIG_CHANGES_W2 = {
    # (groupRef, integration): (kind, object, value, installation updateTime)
    ("grp-initech", "crm"): ("add_field", "account", "annualRevenue", D(2026, 11, 5, 10, 2, 44, 512_907)),
    ("grp-cafe-zurich", "hs"): ("schedule", "contacts", "0 * * * *", D(2026, 11, 6, 15, 30, 0, 88_031)),
}
# week-1 access tokens: already expired (plus those of bad_credentials connections),
# expiring within 7 days of 2026-11-01; all others expire later
TOKEN_EXPIRED_W1 = {("grp-pied-piper", "hubspot"), ("grp-tokyo-robotics", "salesforce")}
TOKEN_EXPIRES_SOON_W1 = {("grp-globex", "salesforce"), ("grp-wayne", "salesforce"),
                         ("grp-mueller-soehne", "hubspot"), ("grp-oceanic", "gong")}
TOKEN_REFRESH_WINDOW_W2 = (D(2026, 11, 6, 0, 0, 0), D(2026, 11, 8, 4, 0, 0))

CUTOFF_W1 = D(2026, 10, 31, 18, 0, 0)  # latest instant that appears in week 1
SNAP1 = D(2026, 11, 1)


def provider_of(ikey: str) -> str:
    return INTEGRATIONS[ikey]["provider"]


def slug(group_ref: str) -> str:
    return group_ref.removeprefix("grp-")


def week1_installs() -> list[tuple[str, str]]:
    return [(g[0], i) for g in GROUPS for i in g[3].split()]


def all_installs() -> list[tuple[str, str]]:
    return week1_installs() + list(ADDED_W2)


def installs_for(week: int) -> list[tuple[str, str]]:
    if week == 1:
        return week1_installs()
    return [k for k in week1_installs() if k not in REMOVED_W2] + list(ADDED_W2)


# --------------------------------------------------------------------------
# times (computed over the union of both weeks so that shared objects are
# identical in both snapshots)
# --------------------------------------------------------------------------

def group_created(ref: str) -> dt.datetime:
    if ref in GROUP_CREATED:
        return GROUP_CREATED[ref][0]
    return between(D(2023, 8, 1), D(2026, 5, 15), "group-created", ref)


def install_created(key: tuple[str, str]) -> dt.datetime:
    if key in ADDED_W2:
        return ADDED_W2[key]
    ref, ikey = key
    gstart = group_created(ref)
    first = GROUPS[GROUP_INDEX[ref]][3].split()[0]
    if ikey == first:
        return gstart + dt.timedelta(minutes=5) + dt.timedelta(seconds=num(1500, "first-install", *key),
                                                               microseconds=1 + num(999_998, "fi-us", *key))
    start = max(gstart, INTEGRATIONS[ikey]["created"]) + dt.timedelta(hours=1)
    end = min(start + dt.timedelta(days=420), D(2026, 10, 20))
    return between(start, end, "install-created", *key)


def connection_installs(ref: str, provider: str) -> list[tuple[str, str]]:
    return [k for k in all_installs() if k[0] == ref and provider_of(k[1]) == provider]


def connection_created(ref: str, provider: str) -> dt.datetime:
    if (ref, provider) in LONE_CONNECTIONS:
        return LONE_CONNECTIONS[(ref, provider)][0]
    first = min(install_created(k) for k in connection_installs(ref, provider))
    return first - dt.timedelta(seconds=20 + num(200, "conn-lead", ref, provider),
                                microseconds=num(999_999, "conn-lead-us", ref, provider))


def consumer_of(ref: str, provider: str) -> str:
    return CONSUMER_OVERRIDES.get((ref, provider), GROUPS[GROUP_INDEX[ref]][2])


def all_connections() -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []
    for ref, ikey in all_installs():
        c = (ref, provider_of(ikey))
        if c not in seen:
            seen.append(c)
    return seen


def consumer_created(cref: str) -> dt.datetime:
    # from installed connections; from listed-only ones when it has no other
    made = [c for c in all_connections() if consumer_of(*c) == cref] \
        or [c for c in LONE_CONNECTIONS if consumer_of(*c) == cref]
    return min(connection_created(*c) for c in made) \
        - dt.timedelta(seconds=2, microseconds=num(999_999, "consumer-us", cref))


def capped_update(created: dt.datetime, cap: dt.datetime, *seed: object) -> dt.datetime:
    if created >= cap:
        return created + dt.timedelta(milliseconds=1 + num(900, "upd-ms", *seed))
    return between(created, cap, "updated", *seed)


# --------------------------------------------------------------------------
# object builders
# --------------------------------------------------------------------------

def revision_id(ikey: str, n: int) -> str:
    return uid("revision", INTEGRATIONS[ikey]["name"], n)


def revision_at(ikey: str, when: dt.datetime) -> str:
    revs = INTEGRATIONS[ikey]["revisions"]
    n = max(i for i, r in enumerate(revs, start=1) if r <= when) if revs[0] <= when else 1
    return revision_id(ikey, n)


def build_project() -> dict:
    return {
        "id": PROJECT_ID,
        "name": "acme-sync",
        "appName": "Acme Sync",
        "orgId": ORG_ID,
        "createTime": ts(D(2023, 6, 12, 15, 4, 27, 119_000), "ms"),
        "updateTime": ts(D(2026, 9, 30, 8, 17, 2, 664_812), "us"),
        "entitlements": {
            "brandingRemoval": {"value": True},
            "logRetentionDays": {"value": 30},
        },
    }


def build_integration(ikey: str) -> dict:
    spec = INTEGRATIONS[ikey]
    revs = spec["revisions"]
    content: dict = {
        "name": spec["name"],
        "displayName": spec["displayName"],
        "provider": spec["provider"],
        "read": {"objects": [
            {"objectName": o, "destination": dest, "schedule": sched,
             "requiredFields": [{"fieldName": (GONG_USER_FIELDS if (ikey, o) == ("gong", "users") else FIELDS[o])[0]}],
             "optionalFieldsAuto": "all",
             "backfill": {"defaultPeriod": {"days": 30}}}
            for o, dest, sched in spec["objects"]
        ]},
    }
    if spec["write"]:
        content["write"] = {"objects": [{"objectName": o} for o in spec["write"]]}
    if spec["proxy"]:
        content["proxy"] = {"enabled": True}
    return {
        "id": uid("integration", spec["name"]),
        "projectId": PROJECT_ID,
        "name": spec["name"],
        "provider": spec["provider"],
        "createTime": ts(spec["created"], style_for("integration", ikey)),
        "updateTime": ts(revs[-1], style_for("integration", ikey)),
        "latestRevision": {
            "id": revision_id(ikey, len(revs)),
            "specVersion": "1.0.0",
            "createTime": ts(revs[-1], "us"),
            "content": content,
        },
    }


def build_group(ref: str) -> dict:
    _, name, _, _ = GROUPS[GROUP_INDEX[ref]]
    created = group_created(ref)
    style = GROUP_CREATED.get(ref, (None, style_for("group", ref)))[1]
    upd_style = style if style in ("ms", "us", "s") else "s"
    return {
        "groupRef": ref,
        "groupName": name,
        "projectId": PROJECT_ID,
        "createTime": ts(created, style),
        "updateTime": ts(capped_update(created, D(2026, 9, 1), "group", ref), upd_style),
    }


def build_consumer(cref: str) -> dict:
    created = consumer_created(cref)
    style = style_for("consumer", cref)
    return {
        "consumerRef": cref,
        "consumerName": CONSUMERS[cref],
        "projectId": PROJECT_ID,
        "createTime": ts(created, style),
        "updateTime": ts(capped_update(created, D(2026, 9, 15), "consumer", cref), style),
    }


PROVIDER_APPS = {
    "salesforce": dict(clientId="3MVG9FAKE" + chars(76, ALNUM + "._", "sf-client"),
                       externalRef="0H4FAKE0000004XCAQ",
                       scopes=[OAUTH_SCOPES["salesforce"]],  # array of arrays, as the docs page shows
                       created=D(2023, 7, 11, 15, 48, 2), updated=D(2025, 9, 18, 13, 59, 40)),
    "hubspot": dict(clientId=uid("hubspot-client-id"),
                    externalRef="2451337",
                    scopes=OAUTH_SCOPES["hubspot"],
                    created=D(2023, 8, 2, 13, 40, 11), updated=D(2025, 6, 30, 7, 10, 3)),
    "gong": dict(clientId="fake" + chars(12, string.ascii_lowercase + string.digits, "gong-client"),
                 externalRef="gong-app-8812",
                 scopes=OAUTH_SCOPES["gong"],
                 created=D(2024, 1, 15, 19, 51, 27), updated=D(2024, 1, 15, 19, 51, 27)),
    # set up, but no connection uses it yet: only GET /provider-apps shows it
    "pipedrive": dict(clientId=uid("pipedrive-client-id")[:18],
                      externalRef="pd-app-3310",
                      scopes=["base", "deals:read", "contacts:read"],
                      metadata={"authQueryParams": {"prompt": ["consent"]},
                                "providerParams": {"companyDomain": "acme-sync"}},
                      created=D(2026, 10, 27, 9, 15, 0), updated=D(2026, 10, 27, 9, 15, 0)),
}


def build_provider_app(provider: str) -> dict:
    p = PROVIDER_APPS[provider]
    return {
        "id": f"papp-{provider}",
        "projectId": PROJECT_ID,
        "provider": provider,
        "clientId": p["clientId"],
        "createTime": ts(p["created"], "s"),
        "externalRef": p["externalRef"],
        "scopes": p["scopes"],
        "updateTime": ts(p["updated"], "s"),
        **({"metadata": p["metadata"]} if "metadata" in p else {}),
    }


def sf_id(prefix: str, *seed: object) -> str:
    return prefix + chars(11, UPPER_DIGITS, "sfid", prefix, *seed) + "FAKE"


def access_token(provider: str, *seed: object) -> str:
    if provider == "salesforce":
        return "FAKE-sf-access-00D5g000004FAKE!AR8AQ" + chars(96, ALNUM + "._", "sf-at", *seed)
    if provider == "hubspot":
        return "FAKE-hs-access-CKHx" + chars(128, B64URL, "hs-at", *seed)
    if provider == "gong":
        return ("FAKE-gong-access-eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
                + chars(120, B64URL, "gong-at-p", *seed) + "." + chars(43, B64URL, "gong-at-s", *seed))
    raise ValueError(provider)


def refresh_token(provider: str, *seed: object) -> str:
    if provider == "salesforce":
        return "FAKE-sf-refresh-5Aep861" + chars(64, ALNUM + ".", "sf-rt", *seed)
    if provider == "hubspot":
        h = chars(32, HEX, "hs-rt", *seed)
        return f"FAKE-hs-refresh-na1-{h[:4]}-{h[4:8]}-{h[8:12]}-{h[12:16]}-{h[16:]}"
    if provider == "gong":
        return "FAKE-gong-refresh-" + chars(64, B64URL, "gong-rt", *seed)
    raise ValueError(provider)


def token_times_w1(ref: str, provider: str, conn_created: dt.datetime, bad: bool):
    """(issuedAt, expiresAt) of the week-1 access token: already expired, expiring
    within 7 days of 2026-11-01, or (mostly) later."""
    category = ("past" if bad or (ref, provider) in TOKEN_EXPIRED_W1 else
                "soon" if (ref, provider) in TOKEN_EXPIRES_SOON_W1 else "later")
    if category == "past":
        expires = between(D(2026, 9, 20), D(2026, 10, 30), "at-exp-past", ref, provider)
        issued = expires - dt.timedelta(days=30)
    elif category == "soon":
        expires = between(D(2026, 11, 1, 6), D(2026, 11, 7, 18), "at-exp-soon", ref, provider)
        issued = expires - dt.timedelta(days=14)
    else:
        issued = between(D(2026, 10, 18), CUTOFF_W1, "at-iss-later", ref, provider)
        expires = issued + dt.timedelta(days=(60, 90)[num(2, "at-life", ref, provider)])
    issued = max(issued, conn_created + dt.timedelta(seconds=1))
    return issued, expires


def build_connection(ref: str, provider: str, week: int) -> dict:
    key = (ref, provider)
    created = connection_created(ref, provider)
    style = style_for("connection", ref, provider)
    if key in CREATED_W1 or key in CONNECTION_STATUS_NEW:
        status = "created"
    elif key in BAD_CREDENTIALS_W1:
        status = "bad_credentials"
    else:
        status = "working"
    cap = CUTOFF_W1 if created < CUTOFF_W1 else created + dt.timedelta(hours=2)
    updated = capped_update(created, cap, "connection", ref, provider)
    if week == 2 and key in CONN_STATUS_W2:
        status, updated = CONN_STATUS_W2[key]

    conn: dict = {
        "id": uid("connection", ref, provider),
        "projectId": PROJECT_ID,
        "provider": provider,
        "group": build_group(ref),
        "consumer": build_consumer(consumer_of(ref, provider)),
        "createTime": ts(created, style),
        "authScheme": "apiKey" if provider == "zendesk" else "oauth2/authorizationCode",
        "status": status,
    }
    if provider != "zendesk":
        conn["providerApp"] = build_provider_app(provider)

    # provider workspace / consumer references
    if provider == "salesforce":
        org = sf_id("00D", ref)
        conn["providerWorkspaceRef"] = slug(ref)
        conn["providerConsumerRef"] = f"https://login.salesforce.com/id/{org}/{sf_id('005', ref)}"
    elif provider == "hubspot":
        conn["providerWorkspaceRef"] = str(20_000_000 + num(30_000_000, "hub-id", ref))
        conn["providerConsumerRef"] = str(10_000_000 + num(89_000_000, "hs-user", ref))
    elif provider == "gong":
        conn["providerWorkspaceRef"] = str(10**18 + num(8 * 10**18, "gong-ws", ref))
        if status != "created":
            conn["providerConsumerRef"] = str(10**18 + num(8 * 10**18, "gong-user", ref))
    else:  # zendesk
        conn["providerWorkspaceRef"] = slug(ref)

    conn["updateTime"] = ts(updated, style)

    if provider == "zendesk":
        conn["apiKey"] = "FAKE-zd-apikey-" + chars(40, ALNUM, "zd-key", ref)
    else:
        new_in_w2 = all(k in ADDED_W2 for k in connection_installs(ref, provider))
        if new_in_w2:
            issued = created + dt.timedelta(seconds=1, microseconds=num(999_999, "nw-us", ref, provider))
            expires, gen = issued + dt.timedelta(days=60), 2
        elif week == 1:
            issued, expires = token_times_w1(ref, provider, created, status == "bad_credentials")
            gen = 1
        else:  # every existing oauth connection got a fresh access token during week 2
            issued = between(*TOKEN_REFRESH_WINDOW_W2, "refresh-w2", ref, provider)
            expires, gen = issued + dt.timedelta(days=60), 2
        rt_issued = created + dt.timedelta(seconds=1)
        if key in BAD_CREDENTIALS_W1:
            rt_expires = between(D(2026, 8, 1), D(2026, 10, 15), "rt-exp-bad", ref, provider)
        else:
            rt_expires = between(D(2027, 3, 1), D(2028, 12, 31), "rt-exp", ref, provider)
        conn["oauth2AuthorizationCode"] = {
            "accessToken": {
                "token": access_token(provider, ref, gen),
                "issuedAt": ts(issued, "us"),
                "expiresAt": ts(expires, "us"),
            },
            "refreshToken": {
                "token": refresh_token(provider, ref),
                "issuedAt": ts(rt_issued, "us"),
                "expiresAt": ts(rt_expires, "us"),
            },
            "scopes": OAUTH_SCOPES[provider],
        }

    if provider == "salesforce" and (ref == "grp-initech" or num(5, "sf-meta", ref) != 0):
        conn["providerMetadata"] = {"instanceUrl": {
            "value": f"https://{slug(ref)}.my.salesforce.com", "source": "provider", "displayName": "Instance URL"}}
    elif provider == "zendesk" and num(3, "zd-meta", ref) != 0:
        conn["providerMetadata"] = {"workspace": {
            "value": slug(ref), "source": "input", "displayName": "Zendesk subdomain"}}
    conn.update(CONNECTION_EXTRA.get(key, {}))
    return conn


def build_read_object(ref: str, ikey: str, obj: str, dest: str, sched: str) -> dict:
    fields = GONG_USER_FIELDS if (ikey, obj) == ("gong", "users") else FIELDS[obj]
    selected = fields[:2] + [f for f in fields[2:] if num(3, "field", ref, ikey, obj, f) == 0]
    if num(6, "sched", ref, ikey, obj) == 0:
        sched = ("*/10 * * * *", "0 */2 * * *", "*/5 * * * *")[num(3, "sched-pick", ref, ikey, obj)]
    mappings = FIELD_MAPPINGS.get(obj, {}) if num(4, "mappings", ref, ikey, obj) == 0 else {}
    o: dict = {
        "objectName": obj,
        "schedule": sched,
        "destination": dest,
        "selectedFields": {f: True for f in selected},
        "selectedFieldMappings": dict(mappings),
    }
    r = num(5, "backfill", ref, ikey, obj)
    if r < 3:
        o["backfill"] = {"defaultPeriod": {"days": 30}}
    elif r == 3:
        o["backfill"] = {"defaultPeriod": {"fullHistory": True}}
    return o


def build_config(key: tuple[str, str], week: int, created_by: str, inst_created: dt.datetime,
                 effective: dt.datetime) -> dict:
    ref, ikey = key
    spec = INTEGRATIONS[ikey]
    objects = {}
    for idx, (obj, dest, sched) in enumerate(spec["objects"]):
        if idx < 2 or num(4, "read-obj", ref, ikey, obj) != 0:
            objects[obj] = build_read_object(ref, ikey, obj, dest, sched)
    content: dict = {"provider": spec["provider"], "read": {"objects": objects}}
    if spec["write"] and num(2, "write", ref, ikey) == 0:
        wobjs = {}
        for w in spec["write"]:
            wobjs[w] = {"objectName": w}
            if num(3, "deletion", ref, ikey, w) == 0:
                wobjs[w]["deletionSettings"] = {"enabled": False}
        content["write"] = {"objects": wobjs}
    if spec["proxy"] and num(3, "proxy", ref, ikey) != 0:
        content["proxy"] = {"enabled": True}

    if week == 2 and key in CONFIG_CHANGES_W2:
        kind, obj, value, _ = CONFIG_CHANGES_W2[key]
        target = content["read"]["objects"][obj]
        if kind == "add_field":
            assert value not in target["selectedFields"], (key, value)
            target["selectedFields"][value] = True
        else:
            assert target["schedule"] != value, (key, value)
            target["schedule"] = value

    # saved just after the installation; >= 1 s later so that second-precision
    # rendering never puts it before the installation's createTime
    created = inst_created + dt.timedelta(seconds=1, microseconds=3_000 + num(400_000, "cfg-lag", *key))
    return {
        "id": uid("config", *key),
        "revisionId": revision_at(ikey, effective),
        "createTime": ts(created, style_for("config", *key)),
        "createdBy": created_by,
        "content": content,
    }


def build_installation(key: tuple[str, str], week: int) -> dict:
    ref, ikey = key
    provider = provider_of(ikey)
    created = install_created(key)
    health = "unhealthy" if key in UNHEALTHY_W1 else "healthy"
    last_op = ("failure" if key in UNHEALTHY_W1 else
               "in_progress" if key in IN_PROGRESS_W1 or key in IN_PROGRESS_NEW else "success")
    if week == 2 and key in HEALTH_W2:
        health, last_op = HEALTH_W2[key]
    created_by = BUILDER_INSTALLS.get(key, "consumer:" + consumer_of(ref, provider))

    updated = None
    if key not in NO_UPDATE_TIME:
        cap = CUTOFF_W1 if created < CUTOFF_W1 else created + dt.timedelta(hours=3)
        updated = capped_update(created, cap, "installation", *key)
        if week == 2 and key in CONFIG_CHANGES_W2:
            updated = CONFIG_CHANGES_W2[key][3]
    style = style_for("installation", *key)

    inst: dict = {
        "id": uid("installation", *key),
        "projectId": PROJECT_ID,
        "integrationId": uid("integration", INTEGRATIONS[ikey]["name"]),
        "healthStatus": health,
        "connection": build_connection(ref, provider, week),
        "createTime": ts(created, INSTALL_CREATE_STYLE.get(key, style)),
        "createdBy": created_by,
        "config": build_config(key, week, created_by, created, updated or created),
        "group": build_group(ref),
        "lastOperationStatus": last_op,
    }
    if updated is not None:
        inst["updateTime"] = ts(updated, INSTALL_UPDATE_STYLE.get(key, style))
    if key in LAST_SYNCED_AT:
        inst["lastSyncedAt"] = ts(LAST_SYNCED_AT[key], "us")
    return inst


def build_connections_list(week: int, snapshot: list[dict]) -> list[dict]:
    """GET /connections in `week`: every connection the installations use (the same
    objects), then those no installation uses, oldest first."""
    listed: dict[str, dict] = {}
    for inst in snapshot:
        listed.setdefault(inst["connection"]["id"], inst["connection"])
    lone = sorted((k for k, (_, weeks) in LONE_CONNECTIONS.items() if week in weeks),
                  key=lambda k: LONE_CONNECTIONS[k][0])
    for ref, provider in lone:
        conn = build_connection(ref, provider, week)
        assert conn["id"] not in listed
        listed[conn["id"]] = conn
    return list(listed.values())


def build_snapshot(week: int) -> list[dict]:
    keys = sorted(installs_for(week), key=lambda k: (install_created(k), uid("installation", *k)))
    return [build_installation(k, week) for k in keys]


# --------------------------------------------------------------------------
# checks and statistics
# --------------------------------------------------------------------------

def canon(o: object) -> str:
    return json.dumps(o, ensure_ascii=False, sort_keys=False)


def distinct(insts: list[dict]) -> dict:
    """Distinct entity counts; also asserts that repeated objects are identical."""
    seen: dict[str, dict[str, str]] = {k: {} for k in
                                       ("installations", "connections", "groups", "consumers",
                                        "providerApps", "configs", "integrations")}

    def note(kind: str, ident: str, obj: object) -> None:
        c = canon(obj)
        prev = seen[kind].setdefault(ident, c)
        assert prev == c, f"{kind} {ident} is not identical everywhere"

    for i in insts:
        note("installations", i["id"], i)
        conn = i["connection"]
        note("connections", conn["id"], conn)
        note("groups", i["group"]["groupRef"], i["group"])
        note("groups", conn["group"]["groupRef"], conn["group"])
        assert canon(i["group"]) == canon(conn["group"])
        note("consumers", conn["consumer"]["consumerRef"], conn["consumer"])
        if "providerApp" in conn:
            note("providerApps", conn["providerApp"]["id"], conn["providerApp"])
        note("configs", i["config"]["id"], i["config"])
        seen["integrations"].setdefault(i["integrationId"], "")
    return {k: len(v) for k, v in seen.items()}


def diff(a: list[dict], b: list[dict]) -> dict:
    ia, ib = {i["id"]: i for i in a}, {i["id"]: i for i in b}
    common = [k for k in ia if k in ib]
    ca = {i["connection"]["id"]: i["connection"] for i in a}
    cb = {i["connection"]["id"]: i["connection"] for i in b}
    ccommon = [k for k in ca if k in cb]
    ga = {i["group"]["groupRef"] for i in a}
    gb = {i["group"]["groupRef"] for i in b}
    cona = {i["connection"]["consumer"]["consumerRef"] for i in a}
    conb = {i["connection"]["consumer"]["consumerRef"] for i in b}

    def strip_access(conn: dict) -> dict:
        c = json.loads(json.dumps(conn))
        c.get("oauth2AuthorizationCode", {}).pop("accessToken", None)
        return c

    def strip_inst(i: dict) -> dict:
        c = json.loads(json.dumps(i))
        c["connection"] = strip_access(c["connection"])
        return c

    token_refreshed = [k for k in ccommon if "oauth2AuthorizationCode" in ca[k]
                       and ca[k]["oauth2AuthorizationCode"]["accessToken"] != cb[k]["oauth2AuthorizationCode"]["accessToken"]]
    token_new_strings = [k for k in token_refreshed
                         if ca[k]["oauth2AuthorizationCode"]["accessToken"]["token"]
                         != cb[k]["oauth2AuthorizationCode"]["accessToken"]["token"]]
    oauth_common = [k for k in ccommon if "oauth2AuthorizationCode" in ca[k]]
    conn_other_change = [k for k in ccommon if canon(strip_access(ca[k])) != canon(strip_access(cb[k]))]

    def without_conn(i: dict) -> dict:
        c = dict(i)
        c.pop("connection")
        return c

    return {
        "installations_removed": sorted(k for k in ia if k not in ib),
        "installations_added": sorted(k for k in ib if k not in ia),
        "installations_common": len(common),
        "health_changes": sorted(k for k in common if ia[k]["healthStatus"] != ib[k]["healthStatus"]),
        "last_operation_changes": sorted(k for k in common
                                         if ia[k].get("lastOperationStatus") != ib[k].get("lastOperationStatus")),
        "config_changes": sorted(k for k in common if canon(ia[k]["config"]) != canon(ib[k]["config"])),
        "update_time_changes": sorted(k for k in common if ia[k].get("updateTime") != ib[k].get("updateTime")),
        "config_revision_changes": sum(1 for k in common
                                       if ia[k]["config"]["revisionId"] != ib[k]["config"]["revisionId"]),
        "config_id_changes": sum(1 for k in common if ia[k]["config"]["id"] != ib[k]["config"]["id"]),
        "installations_byte_identical_providers": sorted({ia[k]["connection"]["provider"] for k in common
                                                          if canon(ia[k]) == canon(ib[k])}),
        "installations_changed_apart_from_access_token": sorted(
            k for k in common if canon(strip_inst(ia[k])) != canon(strip_inst(ib[k]))),
        "installations_changed_apart_from_connection": sorted(
            k for k in common if canon(without_conn(ia[k])) != canon(without_conn(ib[k]))),
        "installations_byte_identical": sum(1 for k in common if canon(ia[k]) == canon(ib[k])),
        "connections_removed": sorted(k for k in ca if k not in cb),
        "connections_added": sorted(k for k in cb if k not in ca),
        "connection_status_changes": sorted(k for k in ccommon if ca[k]["status"] != cb[k]["status"]),
        "connections_changed_apart_from_access_token": sorted(conn_other_change),
        "oauth_connections_common": len(oauth_common),
        "access_tokens_refreshed": len(token_refreshed),
        "access_token_strings_changed": len(token_new_strings),
        "groups_added": sorted(gb - ga),
        "groups_removed": sorted(ga - gb),
        "consumers_added": sorted(conb - cona),
        "consumers_removed": sorted(cona - conb),
    }


def status_counts(insts: list[dict]) -> dict:
    conns = {i["connection"]["id"]: i["connection"] for i in insts}
    out = {"health": {}, "lastOperationStatus": {}, "connectionStatus": {}, "authScheme": {},
           "sharedConnections": 0, "installationsWithoutUpdateTime": 0, "createdByBuilder": 0,
           "timestampsWithOffset": 0}
    for i in insts:
        out["health"][i["healthStatus"]] = out["health"].get(i["healthStatus"], 0) + 1
        s = i.get("lastOperationStatus", "(absent)")
        out["lastOperationStatus"][s] = out["lastOperationStatus"].get(s, 0) + 1
        out["installationsWithoutUpdateTime"] += "updateTime" not in i
        out["createdByBuilder"] += i["createdBy"].startswith("builder:")
    for c in conns.values():
        out["connectionStatus"][c["status"]] = out["connectionStatus"].get(c["status"], 0) + 1
        out["authScheme"][c["authScheme"]] = out["authScheme"].get(c["authScheme"], 0) + 1
    usage: dict[str, int] = {}
    for i in insts:
        usage[i["connection"]["id"]] = usage.get(i["connection"]["id"], 0) + 1
    out["sharedConnections"] = sum(1 for v in usage.values() if v > 1)
    text = canon(insts)
    out["timestampsWithOffset"] = len(set(re.findall(r'"([0-9T:.-]+[+-][0-9]{2}:[0-9]{2})"', text)))
    return out


def token_expiry(insts: list[dict], at: dt.datetime) -> dict:
    """Distinct OAuth connections by access-token expiry relative to `at`."""
    out = {"past": 0, "soon": 0, "later": 0}
    conns = {i["connection"]["id"]: i["connection"] for i in insts}
    for c in conns.values():
        if "oauth2AuthorizationCode" not in c:
            continue
        exp = dt.datetime.fromisoformat(c["oauth2AuthorizationCode"]["accessToken"]["expiresAt"])
        out["past" if exp < at else "soon" if exp <= at + dt.timedelta(days=7) else "later"] += 1
    return out


# --------------------------------------------------------------------------
# output
# --------------------------------------------------------------------------

def dump(name: str, obj: object) -> str:
    text = json.dumps(obj, indent=2, ensure_ascii=False) + "\n"
    (OUT_DIR / name).write_text(text, encoding="utf-8", newline="\n")
    return text


def render_readme(counts: dict, st: dict, d: dict, expiry_w1: dict, lone: dict, apps: int) -> str:
    f1, f2 = (f"installations-{SNAPSHOTS[w]}.json" for w in (1, 2))
    c1, c2 = counts[1], counts[2]
    rows = [("installations", "installations"), ("connections", "connections"), ("groups", "groups"),
            ("consumers", "consumers"), ("provider apps", "providerApps"), ("configs", "configs"),
            ("integrations (referenced)", "integrations")]
    table = "\n".join(f"| {label} | {c1[k]} | {c2[k]} |" for label, k in rows)

    def fmt(m: dict) -> str:
        return ", ".join(f"{v} {k}" for k, v in sorted(m.items()))

    return f"""# Sample Ampersand API responses

Realistic, **entirely fake** responses of the Ampersand API for project
`{PROJECT_ID}` (`acme-sync`), for tests and demos of ampsync.

| file | what it is |
|---|---|
| `project.json` | `GET /v1/projects/{{projectIdOrName}}` — a `Project` |
| `integrations.json` | `GET /v1/projects/{{projectIdOrName}}/integrations` — {len(INTEGRATIONS)} `Integration`s (salesforce ×2, hubspot, zendesk, gong) |
| `{f1}` | `GET /v1/projects/{{projectIdOrName}}/installations` on {SNAPSHOTS[1]} |
| `{f2}` | the same call one week later, {SNAPSHOTS[2]} |
| `connections-{SNAPSHOTS[1]}.json` | `GET /v1/projects/{{projectIdOrName}}/connections` on {SNAPSHOTS[1]}: the {counts[1]['connections']} connections the installations use and {lone[1]} that none uses |
| `connections-{SNAPSHOTS[2]}.json` | the same call on {SNAPSHOTS[2]}: {counts[2]['connections']} used, {lone[2]} unused |
| `provider-apps.json` | `GET /v1/projects/{{projectIdOrName}}/provider-apps` — {apps} `ProviderApp`s, one of which (pipedrive) no connection uses |
| `generate.py` | the generator of all of the above (and of this README) |

Regenerate with `python3 samples/generate.py` (Python 3.11, standard library
only). The output is deterministic: every run writes byte-identical files.

All tokens, API keys, client ids and Salesforce ids are fake: every token and
API key starts with `FAKE-`, and the Salesforce org/user ids contain `FAKE`.

## What the data exercises

- Groups with Unicode and emoji names (`Café Zürich GmbH`, `Müller & Söhne`,
  `🚀 Rocket Labs`, `東京ロボティクス株式会社`, …); the same group object is
  repeated in every installation of that group (as `group` and
  `connection.group`).
- Consumers shared by several groups; two connections made by a consumer
  other than the group's usual one.
- One connection per (group, provider). The `salesforce-crm-sync` and
  `salesforce-marketing` integrations share the group's salesforce
  connection: {st[1]['sharedConnections']} connections are shared by two installations on {SNAPSHOTS[1]}
  ({st[2]['sharedConnections']} on {SNAPSHOTS[2]}), with identical content in both places.
- Provider apps for the OAuth providers only (zendesk uses `apiKey` auth and has
  no provider app). Salesforce's `providerApp.scopes` is an array of arrays of
  strings, as on the API docs page; the others are arrays of strings.
- Access-token expiry on {SNAPSHOTS[1]}: {fmt(expiry_w1)} (past = already
  expired, soon = expires within 7 days, later = expires after that).
- Timestamps in several shapes: `...44.816Z`, `...28.456076Z`, `...56Z` and
  {st[1]['timestampsWithOffset']} distinct values with a UTC offset (`+01:00`, `+02:00`, `+09:00`; the
  Café Zürich group's `createTime` repeats wherever that group does).
- Connections no installation uses (connected, never installed), which only the
  connections list shows: {', '.join(f"{g} / {p}" for g, p in LONE_CONNECTIONS)}.
  `grp-soylent` / gong is listed on {SNAPSHOTS[1]} only (the customer deleted it),
  `grp-kuhn-optik` / salesforce on {SNAPSHOTS[2]} only; `grp-kuhn-optik` (Kuhn Optik KG, consumer
  `user-44`) has no installation at all. The connections the installations use
  are listed as they embed them, byte for byte.
- Fields unknown to the OpenAPI schema: `lastSyncedAt` on {sum(1 for _ in LAST_SYNCED_AT)} installations and
  `region` on one connection.
- {st[1]['installationsWithoutUpdateTime']} installations without `updateTime` on {SNAPSHOTS[1]}; {st[1]['createdByBuilder']} installed by a builder
  (`createdBy: builder:...`).

## Distinct counts

| | {SNAPSHOTS[1]} | {SNAPSHOTS[2]} |
|---|---|---|
{table}

`integrations.json` itself lists {len(INTEGRATIONS)} integrations.

Statuses on {SNAPSHOTS[1]}: health {fmt(st[1]['health'])}; last operation
{fmt(st[1]['lastOperationStatus'])}; connections {fmt(st[1]['connectionStatus'])}.
On {SNAPSHOTS[2]}: health {fmt(st[2]['health'])}; last operation
{fmt(st[2]['lastOperationStatus'])}; connections {fmt(st[2]['connectionStatus'])}.

## Differences between the two snapshots

{c1['installations']} → {c2['installations']} installations: {len(d['installations_removed'])} removed, {len(d['installations_added'])} added (one of them for the
brand-new group `grp-wonka`), {len(d['health_changes'])} health changes, {len(d['config_changes'])} config changes.

- Removed: Hooli / gong, Dunder Mifflin / hubspot, Oceanic Airlines /
  salesforce-marketing. The first two take their connection with them.
- Added: Wonka Industries 🍫 / hubspot (new group, new consumer, new
  connection in status `created`), Soylent 🌱 / zendesk (new connection),
  Müller & Söhne / salesforce-crm-sync (new connection), Wayne Enterprises /
  salesforce-marketing (reuses Wayne's existing salesforce connection).
- Health: Globex's two salesforce installations went `healthy` → `unhealthy`
  (`lastOperationStatus` `success` → `failure`); Stark Industries / zendesk went
  `unhealthy` → `healthy` (`failure` → `success`).
- Config: Initech / salesforce-crm-sync gained the selected field
  `account.annualRevenue`; Café Zürich GmbH / hubspot changed the `contacts`
  schedule to `0 * * * *`. Both installations got a new `updateTime`
  ({d['update_time_changes_count']} `updateTime` changes in all); config ids are unchanged and
  {d['config_revision_changes'] or 'no'} config `revisionId` changed.
- Connections: {c1['connections']} → {c2['connections']} ({len(d['connections_removed'])} removed, {len(d['connections_added'])} added); {len(d['connection_status_changes'])} status change
  (Globex's shared salesforce connection → `bad_credentials`, with a new
  `updateTime`).
- Access tokens: all {d['oauth_connections_common']} OAuth connections present in both snapshots have
  a new `accessToken` (new token string, `issuedAt` and `expiresAt`);
  refresh tokens did not change. Apart from the access token, only
  {len(d['connections_changed_apart_from_access_token'])} connection differs (the status change above).
- Groups: {len(d['groups_added'])} added ({', '.join(d['groups_added'])}), {len(d['groups_removed'])} removed. Consumers: {len(d['consumers_added'])} added ({', '.join(d['consumers_added'])}), {len(d['consumers_removed'])} removed.
- Of the {d['installations_common']} installations present in both snapshots,
  {len(d['installations_changed_apart_from_connection'])} differ outside `connection` (the health and config changes
  above), {d['installations_byte_identical']} are byte-identical (zendesk installations: no OAuth token),
  and the other {d['installations_common'] - len(d['installations_changed_apart_from_connection']) - d['installations_byte_identical']} differ only in `connection.oauth2AuthorizationCode.accessToken`.
  Everything else — ids, content, key order — is identical.
"""


def main() -> None:
    project = build_project()
    integrations = [build_integration(k) for k in INTEGRATIONS]
    snaps = {week: build_snapshot(week) for week in (1, 2)}

    dump("project.json", project)
    dump("integrations.json", integrations)
    for week in (1, 2):
        dump(f"installations-{SNAPSHOTS[week]}.json", snaps[week])
    conn_lists = {week: build_connections_list(week, snaps[week]) for week in (1, 2)}
    for week in (1, 2):
        dump(f"connections-{SNAPSHOTS[week]}.json", conn_lists[week])
    provider_apps = [build_provider_app(p) for p in PROVIDER_APPS]
    dump("provider-apps.json", provider_apps)

    # re-read what was written, so the figures describe the files themselves
    loaded = {w: json.loads((OUT_DIR / f"installations-{SNAPSHOTS[w]}.json").read_text(encoding="utf-8"))
              for w in (1, 2)}
    counts = {w: distinct(loaded[w]) for w in (1, 2)}
    st = {w: status_counts(loaded[w]) for w in (1, 2)}
    d = diff(loaded[1], loaded[2])

    # sanity checks on the scenario
    integ_ids = {i["id"] for i in integrations}
    for w in (1, 2):
        for inst in loaded[w]:
            assert inst["integrationId"] in integ_ids
            assert inst["projectId"] == PROJECT_ID
            assert inst["config"]["content"]["provider"] == inst["connection"]["provider"]
            for tok in (inst["connection"].get("oauth2AuthorizationCode") or {}).values():
                if isinstance(tok, dict):
                    assert tok["token"].startswith("FAKE-")
            if "apiKey" in inst["connection"]:
                assert inst["connection"]["apiKey"].startswith("FAKE-")
    assert len(d["installations_removed"]) == len(REMOVED_W2)
    assert len(d["installations_added"]) == len(ADDED_W2)
    assert len(d["health_changes"]) == len(HEALTH_W2)
    assert len(d["config_changes"]) == len(CONFIG_CHANGES_W2)
    assert len(d["connection_status_changes"]) == len(CONN_STATUS_W2)
    assert d["access_tokens_refreshed"] == d["oauth_connections_common"] == d["access_token_strings_changed"]
    assert d["connections_changed_apart_from_access_token"] == d["connection_status_changes"]
    assert set(d["installations_changed_apart_from_connection"]) == set(d["health_changes"]) | set(d["config_changes"])
    assert set(d["update_time_changes"]) == set(d["config_changes"]) and d["config_id_changes"] == 0
    assert d["installations_byte_identical_providers"] == ["zendesk"]
    status_changed_conns = set(d["connection_status_changes"])
    assert set(d["installations_changed_apart_from_access_token"]) == (
        set(d["health_changes"]) | set(d["config_changes"])
        | {i["id"] for i in loaded[1] if i["connection"]["id"] in status_changed_conns and i["id"] in
           {j["id"] for j in loaded[2]}})
    d["update_time_changes_count"] = len(d["update_time_changes"])

    expiry = {w: token_expiry(loaded[w], D(*map(int, SNAPSHOTS[w].split("-")))) for w in (1, 2)}
    assert expiry[1]["past"] and expiry[1]["soon"] and expiry[1]["later"] > expiry[1]["past"] + expiry[1]["soon"]
    for week in (1, 2):
        used = {i["connection"]["id"] for i in loaded[week]}
        for conn in conn_lists[week]:
            for tok in (conn.get("oauth2AuthorizationCode") or {}).values():
                if isinstance(tok, dict):
                    assert tok["token"].startswith("FAKE-")
            assert conn.get("apiKey", "FAKE-").startswith("FAKE-")
        assert len(conn_lists[week]) == len(used) + sum(week in w for _, w in LONE_CONNECTIONS.values())
    lone_counts = {w: len(conn_lists[w]) - counts[w]["connections"] for w in (1, 2)}
    dump_readme = render_readme(counts, st, d, expiry[1], lone_counts, len(provider_apps))
    (OUT_DIR / "README.md").write_text(dump_readme, encoding="utf-8", newline="\n")

    print(f"wrote {', '.join(['project.json', 'integrations.json'] + [f'installations-{SNAPSHOTS[w]}.json' for w in (1, 2)] + [f'connections-{SNAPSHOTS[w]}.json' for w in (1, 2)] + ['provider-apps.json', 'README.md'])} to {OUT_DIR}")
    print(f"integrations.json: {len(integrations)} integrations")
    for w in (1, 2):
        print(f"{SNAPSHOTS[w]}: " + ", ".join(f"{k}={v}" for k, v in counts[w].items()))
        print(f"  status: " + json.dumps(st[w], ensure_ascii=False))
    for w in (1, 2):
        print(f"{SNAPSHOTS[w]} access-token expiry (distinct oauth connections): {expiry[w]}")
    summary = {k: (len(v) if isinstance(v, list) else v) for k, v in d.items()}
    print("diff: " + json.dumps(summary))


if __name__ == "__main__":
    main()
