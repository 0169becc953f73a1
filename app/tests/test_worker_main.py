"""The worker entry point's command line (the running worker itself is tested through
conftest's Worker, which every worker test starts with worker_main.argv)."""

from __future__ import annotations

import subprocess
import sys

from facefleet import worker_main


def test_the_command_line_round_trips() -> None:
    argv = worker_main.argv("threads", 3, "celery7@host", queues=("a", "b"), loglevel="DEBUG")
    assert argv[:3] == [sys.executable, "-m", "facefleet.worker_main"]
    options = worker_main._parser().parse_args(argv[3:])
    assert (options.pool, options.concurrency, options.hostname, options.queues) == (
        "threads",
        3,
        "celery7@host",
        "a,b",
    )
    assert options.loglevel == "DEBUG"


def test_a_worker_starts_without_celerys_command_line_plugins() -> None:
    """What makes this entry point faster than `celery worker`: Flower (a celery.commands
    plugin, installed beside the app) and the shell's prompt_toolkit stay unloaded."""
    probe = (
        "import sys\n"
        "from facefleet import worker_main\n"
        "from facefleet.celery_app import app\n"
        "app.Worker = lambda **kw: sys.exit(0 if kw['without_mingle'] else 1)\n"
        "try:\n"
        "    worker_main.main(['--pool=solo', '--concurrency=1', '--hostname=x@y'])\n"
        "finally:\n"
        "    print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('flower', 'prompt_toolkit', 'click_repl')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", result.stdout
