"""A function's environment as its synthesized template sets it, with local endpoints.

Every variable the template sets is applied as it is, except:
- endpoints and the names of deployed resources (CloudFormation tokens,
  unknown before deploy), which become their local stand-ins; a token no
  entry here substitutes is an error, so a setting the template gains can
  never go unapplied;
- `LADDER_DB_IAM_AUTH`, off (local Postgres has no IAM), and the database
  URLs keep their user (the role the function signs in as) with only the
  host, port and database replaced.
`LADDER_TEST_LOCAL_ENDPOINTS` lets the fail-closed checks accept loopback
endpoints; no template sets it (tests/infra/test_fail_closed.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from psycopg.conninfo import conninfo_to_dict, make_conninfo

TOKEN = "TOKEN"
DATABASE_URLS = ("DATABASE_URL", "RELAY_DATABASE_URL")


class UnsubstitutedSetting(Exception):
    """The template gives a function a deploy-time value the tests have no stand-in for."""


def render(value) -> str:
    """A template value as text; CloudFormation intrinsics become `TOKEN`."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and set(value) == {"Fn::Join"}:
        separator, parts = value["Fn::Join"]
        return separator.join(render(part) for part in parts)
    return TOKEN


@dataclass
class LocalEndpoints:
    """Where the local stand-ins of a deployed stage's endpoints and resources are."""

    postgres_url: str  # the server; each function's user and this database replace the URL's
    database: str
    redis_url: str
    aws_endpoint: str
    # Deploy-time names and ARNs → their local values (queues, bucket, key, secrets, issuer…).
    resources: dict[str, str] = field(default_factory=dict)

    def database_url(self, template_url: str) -> str:
        user = conninfo_to_dict(render(template_url))["user"]
        server = conninfo_to_dict(self.postgres_url)
        return make_conninfo(
            host=server.get("host") or "127.0.0.1",
            port=server.get("port") or "5432",
            user=user,
            dbname=self.database,
        )

    def environment(self, template_env: dict) -> dict[str, str]:
        """`template_env` (a function's or a container's) as it runs locally."""
        env = {}
        for name, value in template_env.items():
            if name in DATABASE_URLS:
                env[name] = self.database_url(value)
            elif name == "REDIS_URL":
                env[name] = self.redis_url
            elif name == "LADDER_DB_IAM_AUTH":
                env[name] = "false"
            elif name in self.resources:
                env[name] = self.resources[name]
            elif isinstance(value, str):
                env[name] = value
            else:
                raise UnsubstitutedSetting(
                    f"the template sets {name} to a deploy-time value ({render(value)}) that "
                    "the tests do not substitute: add its local stand-in to LocalEndpoints"
                )
        env["AWS_ENDPOINT_URL"] = self.aws_endpoint
        env["LADDER_TEST_LOCAL_ENDPOINTS"] = "true"
        return env
