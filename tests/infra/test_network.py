"""The VPC: two AZs, private subnets, endpoints for every AWS API the code calls, flow logs."""

ENDPOINT_SERVICES = ("s3", "sqs", "secretsmanager", "logs", "monitoring", "xray")
ENDPOINT_SERVICES += ("ecr.api", "ecr.dkr", "aps-workspaces")


def test_two_azs_with_public_private_and_isolated_subnets(stage):
    subnets = stage.resources("AWS::EC2::Subnet").values()
    azs = {stage.text(s["Properties"]["AvailabilityZone"]) for s in subnets}
    assert len(azs) == 2
    public = [s for s in subnets if s["Properties"]["MapPublicIpOnLaunch"]]
    assert len(public) == 2  # the ALB and NAT only
    assert len(subnets) == 6


def test_an_endpoint_for_each_aws_api_the_code_calls(stage):
    names = [
        stage.text(e["Properties"]["ServiceName"])
        for e in stage.resources("AWS::EC2::VPCEndpoint").values()
    ]
    for service in ENDPOINT_SERVICES:
        assert any(f".{service}" in name or f'{service}"' in name for name in names), service
    interface = [
        e["Properties"]
        for e in stage.resources("AWS::EC2::VPCEndpoint").values()
        if e["Properties"].get("VpcEndpointType") == "Interface"
    ]
    assert all(e["PrivateDnsEnabled"] for e in interface)


def test_endpoints_admit_https_from_the_vpc_only(stage):
    sg = next(
        g["Properties"]
        for g in stage.resources("AWS::EC2::SecurityGroup").values()
        if "AWS API endpoints" in g["Properties"]["GroupDescription"]
    )
    assert [(r["CidrIp"], r["FromPort"], r["ToPort"]) for r in sg["SecurityGroupIngress"]] == [
        ("10.40.0.0/16", 443, 443)
    ]


def test_flow_logs_capture_all_traffic(stage):
    flow = stage.props("AWS::EC2::FlowLog")
    assert flow["TrafficType"] == "ALL"
    assert flow["ResourceType"] == "VPC"
