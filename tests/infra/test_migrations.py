"""The migration trigger: after the database and proxy, before what needs the schema."""


def test_the_trigger_runs_migrate_after_the_database_and_before_the_code(stage):
    (trigger_id, trigger) = next(iter(stage.resources("Custom::Trigger").items()))
    depends = set(trigger.get("DependsOn", []))
    (db_id,) = stage.resources("AWS::RDS::DBInstance")
    (proxy_id,) = stage.resources("AWS::RDS::DBProxy")
    assert {db_id, proxy_id} <= depends
    version = stage.template["Resources"][trigger["Properties"]["HandlerArn"]["Ref"]]
    (migrate_id,) = (
        k
        for k, f in stage.our_functions().items()
        if f["Properties"]["Handler"] == "functions.migrate.handler"
    )
    assert version["Properties"]["FunctionName"] == {"Ref": migrate_id}
    waiting = [
        k for k, r in stage.template["Resources"].items() if trigger_id in r.get("DependsOn", [])
    ]
    kinds = {stage.template["Resources"][k]["Type"] for k in waiting}
    assert {"AWS::Lambda::Alias", "AWS::Lambda::Function", "AWS::ECS::Service"} <= kinds


def test_every_deploy_gives_the_migration_function_a_new_deploy_id(tmp_path):
    from ladder_dev.synth import synth

    ids = []
    for deploy in ("one", "two"):
        template = synth("pr-5", outdir=str(tmp_path / deploy), deploy_id=deploy)
        (env,) = (
            r["Properties"]["Environment"]["Variables"]
            for r in template["Resources"].values()
            if r["Type"] == "AWS::Lambda::Function"
            and r["Properties"].get("Handler") == "functions.migrate.handler"
        )
        ids.append(env["LADDER_DEPLOY_ID"])
    assert ids == ["one", "two"]  # a changed function re-runs the trigger
