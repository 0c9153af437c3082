from ladder_dev.gen_docs import README, render


def test_readme_tables_match_settings_and_event_registry():
    current = README.read_text()
    assert render(current) == current, "README is stale: run `python -m ladder_dev.gen_docs`"
