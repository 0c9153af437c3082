"""Regenerate the README's tables from their single sources of truth.

`python -m ladder_dev.gen_docs` rewrites the blocks between
`<!-- generated:NAME -->` and `<!-- /generated:NAME -->`; a test fails when
the README is not what this would write.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def settings_table() -> str:
    from ladder.settings import Settings

    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        env = (
            " / ".join(f"`{c}`" for c in field.validation_alias.choices)
            if field.validation_alias
            else f"`LADDER_{name.upper()}`"
        )
        default = "" if field.default is None else f"`{field.default}`"
        rows.append(f"| {env} | {default} | {field.description} |")
    return "\n".join(rows)


def events_table() -> str:
    from ladder.events.registry import EVENT_TYPES

    rows = ["| type | payload | meaning |", "| --- | --- | --- |"]
    for event in EVENT_TYPES.values():
        fields = ", ".join(f"`{f}`" for f in event.schema.model_fields)
        rows.append(f"| `{event.name}` | {fields} | {event.description} |")
    return "\n".join(rows)


GENERATORS = {"settings": settings_table, "events": events_table}


def render(text: str) -> str:
    for name, generate in GENERATORS.items():
        pattern = re.compile(
            rf"(<!-- generated:{name} -->\n).*?(<!-- /generated:{name} -->)", re.DOTALL
        )
        if not pattern.search(text):
            raise ValueError(f"README.md has no generated:{name} block")
        text = pattern.sub(lambda m, g=generate: f"{m[1]}{g()}\n{m[2]}", text)
    return text


def main() -> int:
    README.write_text(render(README.read_text()))
    print(f"regenerated {', '.join(GENERATORS)} in {README.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
