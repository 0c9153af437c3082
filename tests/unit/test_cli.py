import jwt

from ladder.cli import main
from ladder.settings import DEV_JWT_SECRET


def test_ladder_token_prints_a_token_the_local_stack_accepts(capsys):
    assert main(["token", "--scope", "ladder:write", "ladder:admin"]) == 0
    token = capsys.readouterr().out.strip()
    claims = jwt.decode(token, DEV_JWT_SECRET, algorithms=["HS256"])
    assert claims["scope"] == "ladder:write ladder:admin"
    assert claims["exp"] > claims["iat"]


def test_a_broken_command_plugin_costs_its_command_not_the_cli(capsys, monkeypatch):
    from importlib.metadata import EntryPoint

    import ladder.cli

    broken = EntryPoint(name="broken", value="no_such_module:register", group="ladder.cli")
    monkeypatch.setattr(ladder.cli, "entry_points", lambda group: [broken])
    assert main(["token", "--scope", "ladder:write"]) == 0
    captured = capsys.readouterr()
    assert captured.out.count(".") == 2  # a token, whole
    assert captured.err.splitlines() == [
        "ladder: command 'broken' skipped: ModuleNotFoundError: No module named "
        "'no_such_module' (LADDER_DEBUG=1 shows the traceback)"
    ]
