"""Write docs/converters.md: every registered converter target, grouped by op family, from the registry.

    python scripts/gen_converter_table.py            # writes docs/converters.md
    python scripts/gen_converter_table.py --check    # exits 1 if docs/converters.md is out of date
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

# the checkout this script belongs to, not whichever torch2trt is installed (an editable install of another tree)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch2trt  # noqa: E402, F401  (registers the built-in converters)
from torch2trt.converters.refused import REFUSED  # noqa: E402
from torch2trt.tracing.registry import registered_targets  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "docs" / "converters.md"


def render() -> str:
    families: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for target, fn in registered_targets():
        module = fn.__module__
        if not module.startswith("torch2trt.converters.") or module.endswith(".refused"):
            continue  # converters registered by users or tests; refusals are listed apart
        families[module.rsplit(".", 1)[-1]].append((target, fn.__name__))
    total = sum(len(v) for v in families.values())
    lines = ["# Supported PyTorch targets", "",
             "Generated from the converter registry by `python scripts/gen_converter_table.py`; do not edit.",
             f"{total} targets in {len(families)} families. Each converter checks its arguments and refuses "
             "(with a message) what it cannot express exactly, so a listed target may still reject some "
             "argument values.", ""]
    for family in sorted(families):
        rows = sorted(families[family])
        lines += [f"## {family} ({len(rows)})", "", "| target | converter |", "|---|---|"]
        lines += [f"| `{t}` | `{family}.{f}` |" for t, f in rows]
        lines.append("")
    lines += ["## Refused, with the reason (torch2trt/converters/refused.py)", "",
              "These have no exact conversion; the error gives the reason.", "", "| target | reason |", "|---|---|"]
    lines += [f"| `{t}` | {r} |" for t, r in sorted(REFUSED.items())]
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    text = render()
    if "--check" in sys.argv:
        current = OUT.read_text() if OUT.exists() else ""
        if current != text:
            print(f"{OUT} is out of date; run: python scripts/gen_converter_table.py")
            sys.exit(1)
        print("docs/converters.md is up to date")
    else:
        OUT.write_text(text)
        print(f"wrote {OUT}")
