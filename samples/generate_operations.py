#!/usr/bin/env python3
"""Deterministic generator of sample operations responses for ampsync (issue 22).

Run from the repository root, after samples/generate.py:

    python3 samples/generate_operations.py

It (re)writes, next to this script:

    operations-2026-11-01.json   each installation's
                                 GET /v1/projects/{p}/integrations/{i}/installations/{id}/operations
                                 on 2026-11-01: an array of list responses, newest first
    operations-2026-11-08.json   the same calls on 2026-11-08

Each installation has three operations in the day before the snapshot (a read, a
write, another read), the newest matching the installation's lastOperationStatus in
that snapshot (in_progress, failure or success). Week 2 lists week 1's operations
again (those in progress then have finished) and three new ones. One failure's
result echoes a (fake) bearer token, which ampsync must not store. No randomness:
choices come from SHA-256 of stable seeds, so every run writes identical files.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import pathlib
import uuid

HERE = pathlib.Path(__file__).resolve().parent
PROJECT = "proj-7c1e2a90"
OBJECTS = ["contact", "account", "opportunity", "lead", "ticket", "call"]
FAILURES = [
    "[contact] the provider answered 503 Service Unavailable",
    "[account] read failed: INVALID_SESSION_ID: Session expired or invalid",
    "[ticket] rate limited by the provider (429) after 5 retries",
    "401 from provider: Authorization: Bearer FAKE-eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJmYWtlIn0.ZmFrZXNpZ25hdHVyZQ",
]


def pick(seed: str, n: int) -> int:
    return int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big") % n


def op_id(seed: str) -> str:
    return str(uuid.UUID(bytes=hashlib.sha256(seed.encode()).digest()[:16], version=4))


def stamp(at: dt.datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"


def operation(inst: dict, n: int, day: dt.datetime, status: str, action: str) -> dict:
    seed = f"{inst['id']}/{day.date()}/{n}"
    at = day - dt.timedelta(hours=20 - 8 * n, minutes=pick(seed + "m", 60), seconds=pick(seed + "s", 60))
    obj = OBJECTS[pick(seed + "o", len(OBJECTS))]
    op = {
        "id": op_id(seed),
        "projectId": PROJECT,
        "integrationId": inst["integrationId"],
        "installationId": inst["id"],
        "configId": inst["config"]["id"],
        "actionType": action,
        "status": status,
        "metadata": {"objects": [obj]},
        "createTime": stamp(at),
    }
    records = 50 + pick(seed + "r", 5000)
    if action == "read":
        op["metadata"]["progress"] = {
            "installationId": inst["id"], "objectName": obj, "operationId": op["id"],
            "recordsProcessed": records,
        }
        if pick(seed + "t", 2):
            op["metadata"]["progress"]["recordsEstimatedTotal"] = records + pick(seed + "e", 500)
    if status == "success":
        op["result"] = (f"[{obj}] {records} records read" if action == "read"
                        else f"Batch write completed ({records % 7 + 1} succeeded, 0 failed)")
    elif status == "failure":
        op["result"] = FAILURES[pick(seed + "f", len(FAILURES))]
        op["metadata"]["retry"] = {"attempts": 3, "lastAttempt": stamp(at + dt.timedelta(minutes=9)),
                                   "lastNotified": stamp(at + dt.timedelta(minutes=10))}
    if action == "write" and status == "success":
        op["metadata"]["successfulRecordIds"] = [
            f"003FAKE{pick(seed + str(k), 10**9):09d}AAW" for k in range(records % 7 + 1)]
    return op


def week(installations: list, day: dt.datetime, earlier: dict[str, list]) -> dict[str, list]:
    out = {}
    for inst in installations:
        last = inst.get("lastOperationStatus") or "success"
        ops = [operation(inst, 0, day, "success", "read"),
               operation(inst, 1, day, "success", "write"),
               operation(inst, 2, day, last, "read")]
        before = []
        for op in earlier.get(inst["id"], []):
            if op["status"] == "in_progress":
                # Finished since: a failure when the installation is unhealthy now.
                done = dict(op)
                done["status"] = "failure" if inst.get("healthStatus") == "unhealthy" else "success"
                done["result"] = (FAILURES[0] if done["status"] == "failure"
                                  else f"[{op['metadata']['objects'][0]}] read finished")
                op = done
            before.append(op)
        out[inst["id"]] = before + ops
    return out


def responses(by_installation: dict[str, list]) -> list:
    return [{"results": sorted(ops, key=lambda o: o["createTime"], reverse=True),
             "pagination": {"done": True}}
            for _, ops in sorted(by_installation.items())]


def main() -> None:
    first = json.loads((HERE / "installations-2026-11-01.json").read_text())
    second = json.loads((HERE / "installations-2026-11-08.json").read_text())
    week1 = week(first, dt.datetime(2026, 11, 1), {})
    week2 = week(second, dt.datetime(2026, 11, 8), week1)
    for name, data in [("operations-2026-11-01.json", week1), ("operations-2026-11-08.json", week2)]:
        (HERE / name).write_text(json.dumps(responses(data), indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
