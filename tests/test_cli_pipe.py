"""`qnewton ... | head` must stop quietly (exit 141, no traceback), like other Unix tools."""

import subprocess
import sys


def test_closed_stdout_pipe_gives_no_traceback():
    code = "import sys; from qnewton.cli import main; sys.exit(main(['calibration', 'show', 'ibm_sherbrooke', '--json']))"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.read(10)  # read a little, then hang up like `head -c 10`
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141
    assert "Traceback" not in stderr
