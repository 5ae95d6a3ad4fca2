"""Benchmark: what retakes leave in a book. Real Piper segments of real books, each take damaged
(or not) anew by the ``damaged`` voice's rule, heard and judged as the check does, taken again
while flagged, up to three takes.

    .venv/bin/python -m bench.check_retakes [SEGMENTS_PER_BOOK] [SHARE_PERCENT] [SEED]

From each book of the test shelf, SEGMENTS (default 12) segments at random; each take is
damaged with probability SHARE (default 30%) by one of the faults of
``services.engines.damage``, decided by a hash of its text and take, exactly as the test voice
does. A take is synthesized (the default voice, levelled, AAC), heard by Whisper base and judged;
a flagged take is taken again, at most three in all, and the book keeps the first take heard
fine, else the least bad (``services.assemble.takes``' rule: the least severe fault, then the
fewest word errors). Printed:
takes made, segments retaken, and the segments whose kept take is damaged, against those whose
three takes all were.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

from bench.check_damage import drawn_segments, spoken
from bench.common import banner, temp_folder
from services.assemble.takes import SEVERITY, WORST
from services.check.hearing import listen, load_model, packaged_model
from services.check.judge import judge
from services.engines.damage import damaged
from services.tts.engines import load_engine
from services.voices import resolve_voice

TAKES = 3


def main(per_book: int = 12, share_percent: int = 30, seed: int = 7) -> None:
    share = share_percent / 100
    banner(f"retakes: each take damaged with probability {share:.0%}, at most {TAKES} takes, Whisper base")
    rng = random.Random(seed)
    info = resolve_voice("piper", None)
    engine = load_engine(info, 2, False, "", 0.0)
    model = load_model(packaged_model(temp_folder("retakes")), threads=2)
    segments = takes_made = retaken = kept_damaged = all_damaged = first_damaged = 0
    for relative, language, job in drawn_segments(rng, per_book, info):
        text = "\n\n".join(job.paragraphs)
        heard: list[tuple[bool, tuple[int, int], str]] = []  # per take: ok, how bad, its fault
        for take in range(TAKES):
            fault = damaged(text, share, "mixed", take)
            aac = spoken(engine, job, fault, random.Random(text))
            verdict = judge(text, language, listen(model, aac), job.speed, job.pause_after_ms / 1000)
            heard.append((verdict.ok, (SEVERITY.get(verdict.rule, WORST), verdict.errors), fault))
            if verdict.ok:
                break
        fine = [take for take, (ok, _, _) in enumerate(heard) if ok]
        kept = fine[0] if fine else min(range(len(heard)), key=lambda t: (heard[t][1], t))
        segments += 1
        takes_made += len(heard)
        retaken += len(heard) > 1
        first_damaged += bool(heard[0][2])
        kept_damaged += bool(heard[kept][2])
        all_damaged += all(damaged(text, share, "mixed", take) for take in range(TAKES))
        if heard[kept][2]:
            print(f"  {Path(relative).name} {job.chapter}.{job.index}: kept take {kept + 1} is damaged "
                  f"({heard[kept][2]}); takes: {[(ok, fault or 'clean') for ok, _, fault in heard]}", flush=True)
    print(f"{segments} segments, {takes_made} takes ({takes_made / segments:.2f} a segment), {retaken} retaken")
    print(f"first takes damaged: {first_damaged} ({first_damaged / segments:.1%}); kept takes damaged: {kept_damaged} "
          f"({kept_damaged / segments:.1%}); segments whose {TAKES} takes were all damaged: {all_damaged}")


if __name__ == "__main__":
    main(*(int(arg) for arg in sys.argv[1:4]))
