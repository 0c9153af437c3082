"""Regional REST API → the API Lambda (SnapStart, layers), WAF, logs, throttling; Cognito."""


def test_the_rest_api_is_regional_with_tracing_access_logs_and_throttling(prod):
    api = prod.props("AWS::ApiGateway::RestApi")
    assert api["EndpointConfiguration"]["Types"] == ["REGIONAL"]
    stage = prod.props("AWS::ApiGateway::Stage")
    assert stage["TracingEnabled"] is True
    assert "DestinationArn" in stage["AccessLogSetting"]
    (settings,) = stage["MethodSettings"]
    assert (settings["ThrottlingRateLimit"], settings["ThrottlingBurstLimit"]) == (1000, 2000)
    assert settings["LoggingLevel"] == "ERROR"


def test_waf_with_aws_managed_rules_guards_the_api_and_the_stream(stage):
    acl = stage.props("AWS::WAFv2::WebACL")
    assert acl["Scope"] == "REGIONAL"
    groups = {
        r["Statement"]["ManagedRuleGroupStatement"]["Name"]
        for r in acl["Rules"]
        if "ManagedRuleGroupStatement" in r["Statement"]
    }
    assert {"AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet"} <= groups
    assert any("RateBasedStatement" in r["Statement"] for r in acl["Rules"])
    targets = stage.text(
        [
            a["Properties"]["ResourceArn"]
            for a in stage.resources("AWS::WAFv2::WebACLAssociation").values()
        ]
    )
    assert "restapis" in targets
    assert "RealtimeAlb" in targets


def test_the_api_function_runs_with_snapstart_behind_an_alias(stage):
    (api,) = (
        f["Properties"]
        for f in stage.our_functions().values()
        if f["Properties"]["Handler"] == "functions.api.handler"
    )
    assert api["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    assert api["Architectures"] == ["arm64"]
    assert api["Runtime"].startswith("python3.1")
    ours = stage.resources("AWS::Lambda::LayerVersion")
    assert set(ours) <= {layer["Ref"] for layer in api["Layers"]}  # deps and core
    assert api["TracingConfig"] == {"Mode": "Active"}
    assert api["Environment"]["Variables"]["LADDER_AUTH_MODE"] == "jwks"
    alias = stage.props("AWS::Lambda::Alias")
    assert alias["Name"] == "live"
    methods = stage.text(stage.resources("AWS::ApiGateway::Method"))
    (alias_id,) = stage.resources("AWS::Lambda::Alias")
    assert alias_id in methods  # API Gateway invokes the published alias, not $LATEST


def test_cognito_issues_client_credentials_tokens_with_ladder_scopes(stage):
    server = stage.props("AWS::Cognito::UserPoolResourceServer")
    assert server["Identifier"] == "ladder"
    assert {s["ScopeName"] for s in server["Scopes"]} == {"write", "admin"}
    (server_id,) = stage.resources("AWS::Cognito::UserPoolResourceServer")
    clients = {}
    for key, client in stage.resources("AWS::Cognito::UserPoolClient").items():
        props = client["Properties"]
        assert props["AllowedOAuthFlows"] == ["client_credentials"]
        assert props["GenerateSecret"] is True
        scopes = [stage.text(s) for s in props["AllowedOAuthScopes"]]  # <server>/<scope>
        assert all(server_id in s for s in scopes)
        clients[key] = {s.rsplit('"/', 1)[1].split('"')[0] for s in scopes}
    # Cognito grants every allowed scope when a request names none: game servers
    # must not be allowed admin at all.
    (game_server,) = [k for k in clients if "GameServer" in k]
    (operator,) = [k for k in clients if "Operator" in k]
    assert clients == {game_server: {"write"}, operator: {"write", "admin"}}
    for function in stage.our_functions().values():
        env = function["Properties"]["Environment"]["Variables"]
        accepted = stage.text(env["LADDER_JWT_CLIENT_IDS"])
        assert game_server in accepted
        assert operator in accepted
        assert env["LADDER_JWT_ADMIN_CLIENT_IDS"] == {"Ref": operator}
    pool = stage.props("AWS::Cognito::UserPool")
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    issuer = stage.text(
        next(iter(stage.our_functions().values()))["Properties"]["Environment"]["Variables"][
            "LADDER_JWT_ISSUER"
        ]
    )
    assert '"https://"' in issuer  # tokens carry iss=https://cognito-idp.<region>…/<pool>
    assert "ProviderURL" in issuer


def test_only_prod_owns_the_regions_api_gateway_role_and_keeps_it(prod, preview):
    (account,) = prod.resources("AWS::ApiGateway::Account").values()
    assert account["DeletionPolicy"] == "Retain"
    assert preview.resources("AWS::ApiGateway::Account") == {}


def test_the_api_function_has_reserved_concurrency(prod, preview):
    for stage, reserved in ((prod, 200), (preview, 10)):
        (api,) = [
            f
            for f in stage.our_functions().values()
            if f["Properties"]["Handler"] == "functions.api.handler"
        ]
        assert api["Properties"]["ReservedConcurrentExecutions"] == reserved
