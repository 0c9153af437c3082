"""cdk-nag (AwsSolutions, Serverless) runs during synth: nothing unacknowledged, and
each acknowledgement names one finding, gives a reason and sits on its construct."""

import json

PACKS = {"AwsSolutions", "Serverless"}


def test_both_packs_pass_with_no_open_finding(stage):
    reports = {r["pluginName"]: r for r in stage.report["pluginReports"]}
    assert set(reports) == PACKS
    for report in reports.values():
        assert report["conclusion"] == "success"
        assert report["violations"] == []


def test_each_acknowledgement_names_a_finding_with_a_reason_on_its_construct(stage):
    suppressed = [
        (v, c)
        for r in stage.report["pluginReports"]
        for v in r["suppressedViolations"]
        for c in v["violatingConstructs"]
    ]
    assert suppressed
    for violation, construct in suppressed:
        assert len(violation["reason"]) > 20, violation["acknowledgedId"]
        assert "*" not in violation["acknowledgedId"].split("[")[0]  # one rule, not a pattern
        at, path = violation["acknowledgedAt"], construct["constructPath"]
        assert at.count("/") >= 1, at  # on a construct, never on the stack or app
        assert path == at or path.startswith(at + "/"), (at, path)


def test_no_acknowledgement_is_stale(stage):
    metadata = json.loads((stage.outdir / f"ladder-{stage.stage}.metadata.json").read_text())
    ours = {
        (path.lstrip("/"), finding)
        for path, entries in metadata.items()
        for entry in entries
        if entry["type"] == "aws:cdk:acknowledged-rules"
        for finding in entry["data"]
        if finding.split("::")[0] in PACKS
    }
    used = {
        (v["acknowledgedAt"], v["acknowledgedId"])
        for r in stage.report["pluginReports"]
        for v in r["suppressedViolations"]
    }
    assert ours == used
