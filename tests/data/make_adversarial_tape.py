"""Writes `adversarial_tape.jsonl`: a replay tape of real bundled AAPL bars with every kind of bad line a
new user's tape can hold, between good lines. `tests/aegis/test_replay_hardening.py` replays it and checks
that the checked-in file is what this script writes.

    .venv/bin/python -m tests.data.make_adversarial_tape

Lines (1-based), in order:
  1        a tick, behind a UTF-8 byte-order mark                  accepted (the mark dropped)
  2-60     ticks
  61       a blank line                                            skipped
  62       a tick; 63-64 two signals of that instant               decided (one wave)
  65       a signal cut off mid-line                               rejected: JSON
  66       line 63 again, byte for byte                            redelivered: the first decision
  67       line 64's id with another strength                      conflict: rejected, kept apart
  68       a signal whose event_time has no time zone              rejected: invalid event
  69       a signal without event_time                             rejected: invalid event
  70       [1, 2]                                                  rejected: not a JSON object
  71       the next day's tick; 72 a tick three days older         rejected: out of time order
  73       a signal of line 71's day                               decided
  74-76    NEWS on three consecutive days, no tick between         decided (the clock follows the tape)
  77       NEWS 30 days after line 76                              rejected: too far ahead in time
  78       a tick; 79 a signal of its day                          decided
  80       line 78 again                                           rejected: tick not after its previous bar
  81       NEWS with a Latin-1 byte, the last line, unterminated   rejected: not valid UTF-8
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from state.events import Bar
from tests.conftest import bundled_bars, signal
from tools.feeds.tape import tick_event

TAPE = Path(__file__).with_name("adversarial_tape.jsonl")


def _line(event: Any, encoding: str = "utf-8") -> bytes:
    return json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(encoding)


def _news(event_id: str, at: str, headline: str) -> dict[str, Any]:
    return {"id": event_id, "type": "NEWS", "source": "wire", "event_time": at, "payload": {"headline": headline}}


def adversarial_tape(bars: list[Bar]) -> bytes:
    tick = [tick_event("AAPL", bar) for bar in bars]
    sig_a, sig_b, sig_c = (signal(name, bars[60]) for name in ("sig-a", "sig-b", "sig-c"))
    conflicting_b = signal("sig-b", bars[60])
    conflicting_b["payload"]["strength"] = 0.9
    naive = signal("sig-naive", bars[60])
    naive["event_time"] = bars[60].time.replace(tzinfo=None).isoformat()
    timeless = signal("sig-no-time", bars[60])
    del timeless["event_time"]
    days = [bars[62].time, bars[63].time, bars[64].time]
    jump = days[-1] + timedelta(days=30)
    lines = [b"\xef\xbb\xbf" + _line(tick[0])]
    lines += [_line(tick[day]) for day in range(1, 60)]
    lines += [b"", _line(tick[60]), _line(sig_a), _line(sig_b), _line(sig_c)[:120], _line(sig_a), _line(conflicting_b)]
    lines += [
        _line(naive),
        _line(timeless),
        b"[1,2]",
        _line(tick[61]),
        _line(tick[58]),
        _line(signal("sig-d", bars[61])),
    ]
    lines += [_line(_news(f"news-{n}", day.isoformat(), f"Day {n} headline")) for n, day in enumerate(days, start=1)]
    lines += [_line(_news("news-jump", jump.isoformat(), "A date typed a month ahead"))]
    lines += [_line(tick[65]), _line(signal("sig-e", bars[65])), _line(tick[65])]
    lines.append(_line(_news("news-cafe", bars[65].time.isoformat(), "Caf\u00e9 chain beats estimates"), "latin-1"))
    return b"\n".join(lines)  # the last line without a line break


if __name__ == "__main__":
    TAPE.write_bytes(adversarial_tape(bundled_bars()))
    print(f"wrote {TAPE}")
