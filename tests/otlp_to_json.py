"""Decodes OTLP/HTTP protobuf request bodies with the reference message classes
(opentelemetry-proto) and prints them as JSON. Reads on stdin a JSON array of
[path, base64 body], the path (`/v1/traces`, `/v1/metrics`) naming the message; prints
a JSON array of {"path": ..., "request": ...}, field names as the .proto spells them,
ids (bytes) as hex."""
import base64
import json
import sys

from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

MESSAGES = {"/v1/traces": ExportTraceServiceRequest, "/v1/metrics": ExportMetricsServiceRequest}


def hex_ids(value):
    """MessageToDict writes bytes as base64; trace and span ids read better as hex."""
    if isinstance(value, dict):
        return {
            k: base64.b64decode(v).hex() if k in ("trace_id", "span_id", "parent_span_id") else hex_ids(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [hex_ids(v) for v in value]
    return value


out = []
for path, body in json.load(sys.stdin):
    message = MESSAGES[path]()
    message.ParseFromString(base64.b64decode(body))
    request = MessageToDict(message, preserving_proto_field_name=True)
    out.append({"path": path, "request": hex_ids(request)})
json.dump(out, sys.stdout)
