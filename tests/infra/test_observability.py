"""Log retention everywhere, the dashboard, alarms to SNS, the Grafana dashboard."""

import json

ALARMS = ("Api5xx", "ApiLatencyP99", "DlqNotEmpty", "OldestJobAge", "BackupStale")
ALARMS += ("RestoreDrillFailed", "StreamUnhealthyHosts", "CacheDegraded")


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


def test_the_grafana_dashboard_is_current_and_charts_every_stream_metric():
    from scripts.gen_grafana import DASHBOARD, dashboard, stream_metric_names

    generated = dashboard()
    assert json.loads(DASHBOARD.read_text()) == generated, "run python -m scripts.gen_grafana"
    exprs = " ".join(t["expr"] for p in generated["panels"] for t in p["targets"])
    names = stream_metric_names()
    assert "ladder_stream_connections" in names
    for name in names:
        assert name in exprs, name
