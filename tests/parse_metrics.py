"""Reads an OpenMetrics exposition on stdin with prometheus_client's two parsers (the
strict OpenMetrics one, and Prometheus' text format as node_exporter's textfile collector
and the Pushgateway read it) and prints its samples as JSON: [name, labels, value]."""
import json
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics
from prometheus_client.parser import text_string_to_metric_families as prometheus

text = sys.stdin.read()
samples = [[s.name, s.labels, s.value] for f in openmetrics(text) for s in f.samples]
prometheus_samples = [[s.name, s.labels, s.value] for f in prometheus(text) for s in f.samples]
if samples != prometheus_samples:
    sys.exit("the two parsers disagree")
json.dump(samples, sys.stdout)
