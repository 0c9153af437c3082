import jwt

from ladder.cli import main
from ladder.settings import DEV_JWT_SECRET


def test_ladder_token_prints_a_token_the_local_stack_accepts(capsys):
    assert main(["token", "--scope", "ladder:write", "ladder:admin"]) == 0
    token = capsys.readouterr().out.strip()
    claims = jwt.decode(token, DEV_JWT_SECRET, algorithms=["HS256"])
    assert claims["scope"] == "ladder:write ladder:admin"
    assert claims["exp"] > claims["iat"]
