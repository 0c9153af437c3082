from ladder.cli import main
from ladder.settings import get_settings


def test_ladder_migrate_applies_then_reports_nothing_pending(create_database, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", create_database("cli"))
    get_settings.cache_clear()
    try:
        assert main(["migrate"]) == 0
        assert capsys.readouterr().out.startswith("applied [1")
        assert main(["migrate"]) == 0
        assert "nothing to apply" in capsys.readouterr().out
    finally:
        get_settings.cache_clear()
