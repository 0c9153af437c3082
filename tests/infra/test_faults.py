"""FIS experiment templates: the chaos drills for a deployed stage, with stop conditions."""

ACTIONS = {
    "aws:ecs:stop-task",
    "aws:rds:reboot-db-instances",
    "aws:lambda:invocation-error",
    "aws:lambda:invocation-add-delay",
}


def _templates(stage) -> dict[str, dict]:
    return {
        action["ActionId"]: t["Properties"]
        for t in stage.resources("AWS::FIS::ExperimentTemplate").values()
        for action in t["Properties"]["Actions"].values()
    }


def test_every_drill_has_a_template_that_stops_on_an_alarm(preview):
    templates = _templates(preview)
    assert set(templates) == ACTIONS
    alarms = preview.resources("AWS::CloudWatch::Alarm")
    for template in templates.values():
        assert template["StopConditions"]
        for condition in template["StopConditions"]:
            assert condition["Source"] == "aws:cloudwatch:alarm"
            assert condition["Value"]["Fn::GetAtt"][0] in alarms


def test_the_targets_are_this_stages_resources(preview):
    templates = _templates(preview)
    stop = templates["aws:ecs:stop-task"]["Targets"]["target"]
    assert stop["ResourceType"] == "aws:ecs:task"
    assert stop["SelectionMode"] == "COUNT(1)"  # one task at a time
    assert set(stop["Parameters"]) == {"cluster", "service"}
    reboot = templates["aws:rds:reboot-db-instances"]
    (db_id,) = preview.resources("AWS::RDS::DBInstance")
    assert db_id in preview.text(reboot["Targets"]["target"]["ResourceArns"])
    errors = templates["aws:lambda:invocation-error"]
    assert errors["Actions"]["inject"]["Parameters"]["invocationPercentage"] == "20"


def test_prod_fails_over_and_keeps_lambda_faults_out(prod):
    templates = _templates(prod)
    assert set(templates) == {"aws:ecs:stop-task", "aws:rds:reboot-db-instances"}
    reboot = templates["aws:rds:reboot-db-instances"]["Actions"]["inject"]
    assert reboot["Parameters"] == {"forceFailover": "true"}
    api = next(
        f["Properties"]
        for f in prod.our_functions().values()
        if f["Properties"]["Handler"] == "functions.api.handler"
    )
    assert "AWS_LAMBDA_EXEC_WRAPPER" not in api["Environment"]["Variables"]


def test_the_api_function_carries_the_fis_extension_where_lambda_faults_run(preview):
    api = next(
        f["Properties"]
        for f in preview.our_functions().values()
        if f["Properties"]["Handler"] == "functions.api.handler"
    )
    env = api["Environment"]["Variables"]
    assert env["AWS_LAMBDA_EXEC_WRAPPER"] == "/opt/aws-fis/bootstrap"
    assert "FisConfigs/" in preview.text(env["AWS_FIS_CONFIGURATION_LOCATION"])
    assert len(api["Layers"]) == 3
    assert "AWS-FIS-extension-arm64" in preview.text(preview.template["Parameters"])
