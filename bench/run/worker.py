"""The process that runs model code.

Forked by the keeper (``bench.run.keeper``), in a scratch folder the harness prepared, with the
zygote's libraries already imported (``bench.run.zygote``). In order:

1. enter the sandbox (``bench.run.sandbox``) that the request describes: from here on this process
   and everything it starts can write only its scratch folder and cannot read hidden paths;
2. tell the keeper, on the pipe it passed, what the sandbox enforced, and close that pipe:
   no model code has run yet, so this report can be trusted;
3. refuse the test split through the task API (``bench.spec.tasks.SEALED``);
4. load the job (pickled by the harness: trusted data, read only here), call the target
   function, and write what it returns as plain data (``bench.run.wire``) into ``answer/``.

The harness reads the answer after the keeper has killed every process left in the tree.
"""

from __future__ import annotations

import importlib
import json
import os
import pickle
import traceback
from pathlib import Path

from bench.run import sandbox


def main(request_file: str, report_pipe: str) -> int:
    request = json.loads(Path(request_file).read_text())
    policy = sandbox.Policy(request["scratch"], tuple(request["hidden"]),
                            tuple(request.get("writable", ())), uid=request["uid"])
    report_fd = int(report_pipe)
    try:
        enforced = sandbox.enter(policy).record()
    except OSError as e:  # the sandbox could not be built: no model code runs
        os.write(report_fd, (json.dumps({"enforced": False, "mechanism": "error",
                                         "reason": f"the sandbox failed: {e}"}) + "\n").encode())
        return 70
    os.write(report_fd, (json.dumps(enforced) + "\n").encode())
    os.close(report_fd)

    from bench.run import wire
    from bench.spec import tasks

    tasks.SEALED = True
    answer = Path(request["scratch"]) / "answer"
    try:
        job = pickle.loads(Path(request["job"]).read_bytes())
        module, _, name = request["target"].partition(":")
        value = getattr(importlib.import_module(module), name)(job)
    except BaseException as e:  # the target reports the model's errors itself; this is ours
        last = traceback.extract_tb(e.__traceback__)[-1] if e.__traceback__ else None
        where = f" ({Path(last.filename).name}:{last.lineno})" if last else ""
        wire.write(answer, {"error": f"{type(e).__name__}: {e}{where}"})
        return 1
    wire.write(answer, {"value": value})
    return 0

