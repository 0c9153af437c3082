"""Log retention everywhere, the dashboard, alarms to SNS, the Grafana dashboard."""

import ast
import json
import re
from pathlib import Path

ALARMS = ("Api5xx", "ApiLatencyP99", "DlqNotEmpty", "OldestJobAge", "BackupStale")
ALARMS += ("RestoreDrillFailed", "StreamUnhealthyHosts", "CacheDegraded", "SeasonCloseOverdue")
ALARMS += ("RankIndexDrift",)


def test_every_log_group_has_retention(prod, preview):
    for stage, days in ((prod, 365), (preview, 7)):
        groups = stage.resources("AWS::Logs::LogGroup")
        assert len(groups) >= 10
        for group in groups.values():
            assert group["Properties"]["RetentionInDays"] == days
        for custom in stage.resources("Custom::LogRetention").values():  # RDS's own groups
            assert custom["Properties"]["RetentionInDays"] == days


def _alarms(stage) -> dict[str, dict]:
    """Alarms by the runbook section their description names (Lambda errors: by id)."""
    alarms = {}
    for key, alarm in stage.resources("AWS::CloudWatch::Alarm").items():
        runbook = alarm["Properties"]["AlarmDescription"].split("(runbook: ")[1].rstrip(").")
        alarms[key if runbook == "LambdaErrors" else runbook] = alarm["Properties"]
    return alarms


def test_each_operator_alarm_notifies_the_topic(stage):
    alarms = _alarms(stage)
    for name in ALARMS:
        assert name in alarms, name
    (topic,) = stage.resources("AWS::SNS::Topic")
    for alarm in alarms.values():
        assert alarm["AlarmActions"] == [{"Ref": topic}]
        assert alarm["OKActions"] == [{"Ref": topic}]


def test_backup_stale_fires_when_the_newest_backup_is_older_than_26_hours(stage):
    alarm = _alarms(stage)["BackupStale"]
    assert alarm["MetricName"] == "BackupAgeSeconds"
    assert alarm["Threshold"] == 26 * 3600
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert alarm["TreatMissingData"] == "breaching"  # no figure: no backup or no sweeper


def test_season_close_overdue_fires_an_hour_after_a_grace_ends_unfrozen(stage):
    alarm = _alarms(stage)["SeasonCloseOverdue"]
    assert alarm["MetricName"] == "SeasonCloseLagSeconds"
    assert alarm["Statistic"] == "Maximum"
    assert alarm["Threshold"] == 3600
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"


def test_the_dashboard_covers_every_part(stage):
    body = stage.text(stage.props("AWS::CloudWatch::Dashboard")["DashboardBody"])
    for namespace in ("AWS/ApiGateway", "AWS/Lambda", "AWS/SQS", "AWS/ApplicationELB"):
        assert namespace in body
    for namespace in ("AWS/ECS", "AWS/RDS", "AWS/ElastiCache", "Ladder"):
        assert namespace in body
    for metric in ("BackupSucceeded", "RestoreDrillSucceeded", "ProxyName", "DLQ"):
        assert metric in body


def test_an_email_subscription_when_configured(with_certificate, preview):
    (sub,) = with_certificate.resources("AWS::SNS::Subscription").values()
    assert sub["Properties"]["Endpoint"] == "oncall@example.com"
    assert preview.resources("AWS::SNS::Subscription") == {}


def _emitted_emf_metrics() -> set[str]:
    """Every EMF metric name the code emits: literal `add_metric(name=…)` calls, plus the
    one dynamic site (the leaderboard's SERVED_METRICS) and the per-route metrics."""
    from ladder.leaderboard import SERVED_METRICS

    names, dynamic = set(), []
    for path in [*Path("layers/ladder").rglob("*.py"), *Path("functions").glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "add_metric":
                if any(isinstance(arg, ast.Starred) for arg in node.args):
                    continue  # observability's pass-through to Powertools, no metric of its own
                (name,) = (k.value for k in node.keywords if k.arg == "name")
                if isinstance(name, ast.Constant):
                    names.add(name.value)
                else:
                    dynamic.append(f"{path}:{ast.unparse(name)}")
    assert dynamic == ["layers/ladder/leaderboard.py:SERVED_METRICS[served]"]
    return names | set(SERVED_METRICS.values())


def test_every_metric_the_code_emits_is_on_both_dashboards(stage):
    from ladder.observability import DASHBOARD_METRICS, ROUTE_METRICS
    from ladder_dev.gen_grafana import DASHBOARD, dashboard
    from ladder_stream.metrics import metric_names

    catalog = {name for names in DASHBOARD_METRICS.values() for name in names} | set(ROUTE_METRICS)
    assert _emitted_emf_metrics() == catalog  # nothing unlisted, nothing stale
    cloudwatch = stage.text(stage.props("AWS::CloudWatch::Dashboard")["DashboardBody"])
    grafana = dashboard()
    assert json.loads(DASHBOARD.read_text()) == grafana, "run python -m ladder_dev.gen_grafana"
    targets = [t for panel in grafana["panels"] for t in panel["targets"]]
    charted = {t["metricName"] for t in targets if "metricName" in t}
    for name in catalog:
        assert re.search(rf"\b{name}\b", cloudwatch), name
        assert name in charted, name
    exprs = " ".join(t["expr"] for t in targets if "expr" in t)
    assert "ladder_stream_connections" in metric_names()
    for name in metric_names():
        assert name in exprs, name  # Grafana, from AMP
        assert re.search(rf"\b{name}\b", cloudwatch), name  # CloudWatch, via ADOT's EMF


def test_every_alarm_and_alert_has_a_runbook_section(stage):
    from infra.observability import STREAM_ALERTS

    sections = set(re.findall(r"^## (\w+)$", Path("docs/runbook.md").read_text(), re.M))
    named = {
        a["Properties"]["AlarmDescription"].split("(runbook: ")[1].rstrip(").")
        for a in stage.resources("AWS::CloudWatch::Alarm").values()
    }
    named |= {alert["annotations"]["runbook"] for alert in STREAM_ALERTS}
    assert len(named) == 14
    assert named <= sections, named - sections
    text = Path("docs/runbook.md").read_text()
    assert "## Restore from a backup" in text
    assert "## Point-in-time recovery" in text
