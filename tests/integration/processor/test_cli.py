"""The processor's commands: the log generator writes a contract-valid log; bad usage is explained."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from click.testing import CliRunner

from senae_tracking.services.processor import transparency
from senae_tracking.services.processor.cli import processor
from senae_tracking.shared.contract import validate

REPO = Path(__file__).resolve().parents[3]
TABLE = REPO / "data" / "senae-tracking-transparencia.csv"


def test_generate_log_writes_the_scaled_table(tmp_path: Path) -> None:
    out = tmp_path / "log.jsonl"
    result = CliRunner().invoke(processor, ["generate-log", "--table", str(TABLE), "--divisor", "2000",
                                            "--output", str(out)])
    assert result.exit_code == 0, result.output
    messages = [json.loads(line) for line in out.read_text().splitlines()]
    rows = transparency.scale_table(transparency.read_table(TABLE), 2000)
    kinds = Counter(m["schema"]["name"] for m in messages)
    assert kinds == {"senae.attention": sum(r.atenciones for r in rows),
                     "senae.complaint": sum(r.quejas for r in rows)}
    for message in messages[::97]:
        assert validate(message["schema"]["name"].removeprefix("senae."), message) == []


def test_generate_log_needs_a_destination() -> None:
    result = CliRunner().invoke(processor, ["generate-log", "--table", str(TABLE)])
    assert result.exit_code == 2 and "--output" in result.output
