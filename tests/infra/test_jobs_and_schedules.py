"""The jobs queue and worker; the schedules."""

from infra.jobs import MAX_RECEIVES


def _queues(stage):
    queues = stage.resources("AWS::SQS::Queue")
    (main_id,) = (k for k, q in queues.items() if "RedrivePolicy" in q["Properties"])
    return queues, main_id


def test_the_queue_is_encrypted_tls_only_and_dead_letters_after_5_receives(stage):
    queues, main_id = _queues(stage)
    main = queues[main_id]["Properties"]
    assert main["RedrivePolicy"]["maxReceiveCount"] == MAX_RECEIVES == 5
    for queue in queues.values():
        assert "KmsMasterKeyId" in queue["Properties"]
    policies = stage.text(stage.resources("AWS::SQS::QueuePolicy"))
    assert policies.count('"aws:SecureTransport": "false"') == len(queues)


def test_visibility_is_at_least_six_times_the_worker_timeout(stage):
    queues, main_id = _queues(stage)
    (worker,) = (
        f["Properties"]
        for f in stage.our_functions().values()
        if f["Properties"]["Handler"] == "functions.jobs.handler"
    )
    assert queues[main_id]["Properties"]["VisibilityTimeout"] >= 6 * worker["Timeout"]


def test_the_worker_reports_batch_item_failures_with_bounded_concurrency(prod, preview):
    for stage, concurrency in ((prod, 10), (preview, 2)):
        mapping = stage.props("AWS::Lambda::EventSourceMapping")
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert mapping["ScalingConfig"] == {"MaximumConcurrency": concurrency}


def test_backup_nightly_drill_weekly_sweeper_every_minute(stage):
    schedules = {
        s["Properties"]["ScheduleExpression"]: s["Properties"]
        for s in stage.resources("AWS::Scheduler::Schedule").values()
    }
    assert set(schedules) == {"cron(0 3 * * ? *)", "cron(0 5 ? * SUN *)", "rate(1 minute)"}
    functions = stage.our_functions()
    targets = {expr: stage.text(s["Target"]["Arn"]) for expr, s in schedules.items()}
    handlers = {
        expr: next(f["Properties"]["Handler"] for k, f in functions.items() if f'"{k}"' in target)
        for expr, target in targets.items()
    }
    assert handlers == {
        "cron(0 3 * * ? *)": "functions.backups.backup_handler",
        "cron(0 5 ? * SUN *)": "functions.backups.drill_handler",
        "rate(1 minute)": "functions.sweeper.handler",
    }
    for expression, schedule in schedules.items():
        assert "DeadLetterConfig" in schedule["Target"]
        if expression.startswith("cron"):
            assert schedule["ScheduleExpressionTimezone"] == "Etc/UTC"


def test_scheduled_functions_send_failed_events_to_a_dead_letter_queue(stage):
    for function in stage.our_functions().values():
        props = function["Properties"]
        if props["Handler"] in (
            "functions.backups.backup_handler",
            "functions.backups.drill_handler",
            "functions.sweeper.handler",
        ):
            assert "DeadLetterConfig" in props, props["Handler"]
