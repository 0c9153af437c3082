from scripts.gen_docs import README, render


def test_readme_tables_match_settings_and_event_registry():
    current = README.read_text()
    assert render(current) == current, "README is stale: run `python -m scripts.gen_docs`"
