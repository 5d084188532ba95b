"""Monitor files: `<rank>[.<tag>].monitor.csv`, baselines' Monitor format (a JSON header line, then r,l,t per
episode), continued in place on resume."""
from __future__ import annotations

import contextlib
import json
import os
import time
from typing import Optional

from baselines_meta.storage import faults


def monitor_path(log_dir: str, rank: int, tag: str = "") -> str:
    """<log_dir>/<rank>[.<tag>].monitor.csv: the monitor file of one of a rank's envs."""
    return os.path.join(log_dir, f"{rank}{'.' + tag if tag else ''}.monitor.csv")



class Monitor:
    """`<name>.monitor.csv` as baselines' Monitor writes it: a JSON header line, then r,l,t per episode."""

    def __init__(self, path: str, env_id: str, truncate_to: Optional[int] = None):
        self.path = path
        with faults.writing(path):
            if truncate_to is not None:  # resume: keep the rows up to the checkpoint, append after them
                with open(path, "r+b") as f:
                    f.truncate(truncate_to)
                with open(path) as f:
                    self.t_start = json.loads(f.readline()[1:])["t_start"]
                self.f = open(path, "a", buffering=1)
                return
            self.t_start = time.time()
            self.f = open(path, "w", buffering=1)
            self.f.write("#" + json.dumps({"t_start": self.t_start, "env_id": env_id}) + "\n")
            self.f.write("r,l,t\n")

    def episode(self, ret: float, length: int) -> None:
        """Append one finished episode's row: return, length, seconds since t_start."""
        with faults.writing(self.path):
            faults.point("monitor")
            self.f.write(f"{ret:.6g},{length},{time.time() - self.t_start:.6f}\n")

    def close(self) -> None:
        """Close the file (errors ignored: every line was flushed and reported its own failure)."""
        with contextlib.suppress(OSError):  # line-buffered: every line was flushed and reported its own failure
            self.f.close()
