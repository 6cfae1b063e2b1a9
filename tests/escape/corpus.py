"""Submissions of ``ex02_hidden_state`` that try to get out of the grading sandbox.

Every submission answers every task correctly, then runs one attack in its last answer cell
(after defining ``count_parameters``), each wrapped so that a blocked attempt only prints. The
honest part must keep full marks, and ``tests/test_sandbox.py`` checks from outside, with the
course folder, the processes and a TCP server of its own, that the attack changed nothing.

The sources are templates: ``{course}``, ``{home}``, ``{port}``, ``{site}``, ``{package}``,
``{secret_env}`` are filled in with the batch's real paths and values, as a learner who guessed
them would write them.
"""

from __future__ import annotations

from dataclasses import dataclass

#: A string that appears in another student's answer; no output of an attacker may show it.
OTHER_MARKER = "bob-private-answer-5531"
#: A file in the instructor's home folder, and its content.
NOTES_FILE, NOTES_TEXT = "instructor_notes.txt", "grading-secret-notes-2718"
#: An environment variable of the grader, and its value.
SECRET_ENV, SECRET_VALUE = "RNNCOURSE_TEST_API_TOKEN", "token-9f8e7d6c5b"
#: The argument that marks processes an attacker tries to leave running.
SLEEPER = "777.25"

_PRELUDE = """
import os, sys, socket, subprocess, time, glob, sqlite3
def _attempt(name, action):
    try:
        result = action()
        print(f"ATTEMPT {name}: done {result!r}"[:400])
    except BaseException as error:  # blocked: keep the cell alive
        print(f"ATTEMPT {name}: blocked {type(error).__name__}: {error}"[:400])
"""


@dataclass(frozen=True)
class Escape:
    """One escape attempt: a student id, what it tries, and the attack's source.

    ``survives``: whether the submission's own kernel always survives its attack. A fork bomb
    takes every process the sandbox allows, so its kernel may be unable to start a thread and
    die (nbgrader then fails that notebook as a whole, as for any dead kernel, and the batch
    goes on) or, when the limit lets it through, grade normally: which one depends on timing.
    """

    student: str
    what: str
    source: str
    survives: bool = True

    def attack(self, **values: object) -> str:
        return _PRELUDE + self.source.format(**values)


CORPUS = (
    Escape(
        "pkg_writer",
        "write a module beside the installed rnncourse package",
        """
import rnncourse
_attempt("package", lambda: open(os.path.join(os.path.dirname(rnncourse.__file__), "pwned.py"), "w").write("x = 1"))
_attempt("package-known-path", lambda: open("{package}/pwned.py", "w").write("x = 1"))
""",
    ),
    Escape(
        "site_writer",
        "write into the environment's site-packages",
        """
import numpy
_attempt("site", lambda: open(os.path.join(os.path.dirname(os.path.dirname(numpy.__file__)), "pwned.pth"), "w").write("import os"))
_attempt("site-known", lambda: open("{site}/pwned.pth", "w").write("import os"))
""",
    ),
    Escape(
        "startup_writer",
        "put code in IPython's startup folder of the instructor",
        """
def _startup(home):
    folder = os.path.join(home, ".ipython", "profile_default", "startup")
    os.makedirs(folder, exist_ok=True)
    open(os.path.join(folder, "00-pwned.py"), "w").write("print('pwned')")
    return folder
_attempt("startup-home", lambda: _startup(os.path.expanduser("~")))
_attempt("startup-instructor", lambda: _startup("{home}"))
""",
    ),
    Escape(
        "gradebook_writer",
        "rewrite scores in gradebook.db",
        """
def _rewrite(path):
    db = sqlite3.connect(path)
    db.execute("UPDATE grade SET manual_score = 99")
    db.commit()
    return path
_attempt("gradebook-relative", lambda: _rewrite("../../../gradebook.db"))
_attempt("gradebook-absolute", lambda: _rewrite("{course}/gradebook.db"))
""",
    ),
    Escape(
        "solution_reader",
        "read and print the instructor's solutions and hidden tests",
        """
def _read_all(root):
    found = []
    for path in glob.glob(os.path.join(root, "**", "*.ipynb"), recursive=True):
        text = open(path).read()
        found.append(path)
        print(text[:20000])
    return found
_attempt("solutions-relative", lambda: _read_all("../../../solutions"))
_attempt("solutions-absolute", lambda: _read_all("{course}/solutions"))
_attempt("source", lambda: _read_all("{course}/source"))
_attempt("config", lambda: print(open("{course}/nbgrader_config.py").read()))
""",
    ),
    Escape(
        "peer_reader",
        "read another student's submission",
        """
def _peers(root):
    for path in glob.glob(os.path.join(root, "*", "*", "*.ipynb")):
        print(open(path).read()[:50000])
    return os.listdir(root)
_attempt("submitted", lambda: _peers("{course}/submitted"))
_attempt("autograded", lambda: _peers("../.."))
_attempt("feedback", lambda: _peers("{course}/feedback"))
""",
    ),
    Escape(
        "lingerer",
        "leave processes running after grading",
        """
def _detach():
    proc = subprocess.Popen(["sleep", "{sleeper}"], start_new_session=True)
    if os.fork() == 0:  # a daemon: double fork, new session
        os.setsid()
        if os.fork() == 0:
            os.execvp("sleep", ["sleep", "{sleeper}"])
        os._exit(0)
    return proc.pid
_attempt("daemon", _detach)
""",
    ),
    Escape(
        "networker",
        "open a TCP connection to a service on the grading machine",
        """
def _connect(host):
    with socket.create_connection((host, {port}), timeout=2) as s:
        s.sendall(b"pwned")
    return host
_attempt("loopback", lambda: _connect("127.0.0.1"))
_attempt("hostname", lambda: _connect(socket.gethostbyname(socket.gethostname())))
_attempt("dns", lambda: socket.getaddrinfo("pypi.org", 443))
""",
    ),
    Escape(
        "fork_bomb",
        "fork until the machine cannot",
        """
def _bomb():
    children = 0
    while children < 100000:
        pid = os.fork()
        if pid == 0:
            try:
                os.execvp("sleep", ["sleep", "{sleeper}"])
            finally:
                os._exit(0)
        children += 1
    return children
_attempt("fork-bomb", _bomb)
""",
        survives=False,
    ),
    Escape(
        "disk_filler",
        "fill the disk from the working folder and /tmp",
        """
def _fill(path):
    chunk = b"x" * (8 * 1024 * 1024)
    written = 0
    with open(path, "wb") as f:
        while written < 4 * 1024**3:
            f.write(chunk)
            written += len(chunk)
    return written
_attempt("fill-workdir", lambda: _fill("filler.bin"))
for _i in range(4):
    _attempt(f"fill-tmp-{{_i}}", lambda: _fill(f"/tmp/filler{{_i}}.bin"))
""",
    ),
    Escape(
        "env_reader",
        "read the grader's environment variables",
        """
_attempt("environ", lambda: print(dict(os.environ)))
def _proc_environs():
    for path in glob.glob("/proc/*/environ"):
        print(path, open(path, "rb").read())
_attempt("proc-environ", _proc_environs)
_attempt("parent-environ", lambda: print(open(f"/proc/{{os.getppid()}}/environ", "rb").read()))
""",
    ),
    Escape(
        "path_escaper",
        "write outside its folder through .. and symlinks",
        """
_attempt("dotdot-peer", lambda: open("../../bob/{assignment}/pwned.txt", "w").write("pwned"))
_attempt("dotdot-course", lambda: open("../../../pwned.txt", "w").write("pwned"))
def _symlinks():
    os.symlink("{course}", "course_link")
    os.symlink("../../bob", "bob_link")
    open("course_link/pwned.txt", "w").write("pwned")
    open("bob_link/{assignment}/pwned.txt", "w").write("pwned")
_attempt("symlinks", _symlinks)
_attempt("home-notes", lambda: print(open("{home}/{notes}").read()))
_attempt("shadow", lambda: print(open("/etc/shadow").read()))
""",
    ),
)
