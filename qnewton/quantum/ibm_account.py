"""IBM Quantum access: credentials, the runtime service, and backends by name.

Backend specs (the `--backend` strings of `qnewton circuit solve` and `qnewton calibration
export`):

    fake:NAME   a qiskit-ibm-runtime fake backend (fake_sherbrooke, fake_manila, FakeManilaV2, ...),
                offline; a bare 'fake_xxx' name is read as fake:fake_xxx
    ibm:NAME    a live backend through QiskitRuntimeService (token from $QISKIT_IBM_TOKEN, else the
                saved account in ~/.qiskit/qiskit-ibm.json or $QNEWTON_IBM_ACCOUNT_FILE)

Without credentials or network, every entry point raises a one-line `UsageError` (the CLI prints
it and exits 2), never a traceback. Running circuits on a backend is `qnewton.quantum.ibm`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from pathlib import Path
from typing import Any, Iterator, Literal

from qnewton.errors import UsageError

ENV_TOKEN = "QISKIT_IBM_TOKEN"
ENV_CHANNEL = "QISKIT_IBM_CHANNEL"
ENV_INSTANCE = "QISKIT_IBM_INSTANCE"
ENV_ACCOUNT_FILE = "QNEWTON_IBM_ACCOUNT_FILE"
DEFAULT_CHANNEL = "ibm_quantum_platform"


def first_line(exc: BaseException) -> str:
    """The exception's type and the first line of its message (for one-line errors)."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def fake_backend_class_name(name: str) -> str:
    """'fake_sherbrooke' / 'sherbrooke' / 'FakeSherbrooke' / 'fake_manila' -> the fake_provider class name."""
    import qiskit_ibm_runtime.fake_provider as fp

    raw = name.strip()
    if raw.startswith("Fake") and hasattr(fp, raw):
        return raw
    stem = raw.lower()
    stem = stem[5:] if stem.startswith("fake_") else stem
    stem = stem[4:] if stem.startswith("fake") else stem
    stem = stem[:-2] if stem.endswith("v2") else stem
    camel = "Fake" + "".join(part.capitalize() for part in stem.split("_") if part)
    for candidate in (camel, camel + "V2"):
        if hasattr(fp, candidate) and candidate != "FakeProviderForBackendV2":
            return candidate
    available = sorted(n for n in dir(fp) if n.startswith("Fake") and n != "FakeProviderForBackendV2")
    raise UsageError(f"backend: no fake backend {name!r} in qiskit_ibm_runtime.fake_provider (e.g. {', '.join(available[:6])}, ...)")


def fake_backend(name: str) -> Any:
    """Instantiate a qiskit-ibm-runtime fake backend by name (see `fake_backend_class_name`)."""
    import qiskit_ibm_runtime.fake_provider as fp

    cls = getattr(fp, fake_backend_class_name(name))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cls()


def saved_account_file() -> Path:
    """Where a saved IBM Quantum account is read: $QNEWTON_IBM_ACCOUNT_FILE or qiskit's default."""
    env = os.environ.get(ENV_ACCOUNT_FILE)
    if env:
        return Path(env).expanduser()
    try:
        from qiskit_ibm_runtime.accounts.management import _DEFAULT_ACCOUNT_CONFIG_JSON_FILE as default
    except ImportError:  # pragma: no cover - layout of older/newer runtime versions
        default = os.path.join(os.path.expanduser("~"), ".qiskit", "qiskit-ibm.json")
    return Path(default)


def _saved_account_exists(path: Path) -> bool:
    """True when `path` is a readable, non-empty JSON object (a saved account). The file is read
    through `qnewton.jsonutil` (size and nesting depth limited), so a hostile or broken file counts
    as no account and the caller's one-line "credentials not found" follows, never a crash."""
    from qnewton.jsonutil import loads_limited, read_text_limited

    if not path.is_file():
        return False
    try:
        text = read_text_limited(path, field="account file")
        data = loads_limited(text or "{}", field=f"account file {path}")
    except (UsageError, OSError, ValueError):
        return False
    return isinstance(data, dict) and bool(data)


@contextlib.contextmanager
def _quiet_runtime_logger() -> Iterator[None]:
    """Silence qiskit-ibm-runtime's log lines (e.g. 'Loading account with the given token') so a
    failure reaches the user as the one-line UsageError, not as a log line plus the error."""
    logger = logging.getLogger("qiskit_ibm_runtime")
    level = logger.level
    logger.setLevel(logging.ERROR + 10)
    try:
        yield
    finally:
        logger.setLevel(level)


def runtime_service(*, token: str | None = None, channel: str | None = None, instance: str | None = None) -> Any:
    """QiskitRuntimeService from $QISKIT_IBM_TOKEN (or `token`) or a saved account; UsageError otherwise."""
    token = token or os.environ.get(ENV_TOKEN) or None
    channel = channel or os.environ.get(ENV_CHANNEL) or None
    instance = instance or os.environ.get(ENV_INSTANCE) or None
    account_file = saved_account_file()
    kwargs: dict[str, Any] = {}
    if token:
        kwargs.update(token=token, channel=channel or DEFAULT_CHANNEL)
        if instance:
            kwargs["instance"] = instance
    elif _saved_account_exists(account_file):
        kwargs["filename"] = str(account_file)
        if channel:
            kwargs["channel"] = channel
        if instance:
            kwargs["instance"] = instance
    else:
        raise UsageError(
            f"IBM Quantum credentials not found: set {ENV_TOKEN} or save an account with "
            f"QiskitRuntimeService.save_account(token=...) (no saved account in {account_file}); "
            "for offline runs use a fake backend, e.g. fake:fake_sherbrooke"
        )
    try:
        from qiskit_ibm_runtime import QiskitRuntimeService

        with warnings.catch_warnings(), _quiet_runtime_logger():
            warnings.simplefilter("ignore")
            return QiskitRuntimeService(**kwargs)
    except Exception as exc:  # noqa: BLE001 - network, auth, malformed account: all one line
        raise UsageError(f"cannot connect to IBM Quantum ({first_line(exc)}); check the network and the token") from None


def live_backend(name: str, service: Any = None) -> Any:
    """A live IBM backend by name (needs credentials and network)."""
    svc = service if service is not None else runtime_service()
    try:
        return svc.backend(name)
    except Exception as exc:  # noqa: BLE001
        raise UsageError(f"backend: IBM Quantum has no backend {name!r} for this account ({first_line(exc)})") from None


def parse_spec(spec: str) -> tuple[Literal["fake", "ibm"], str]:
    """'fake:NAME' / 'ibm:NAME' -> (kind, NAME)."""
    if not isinstance(spec, str) or ":" not in spec:
        raise UsageError(f"backend: expected 'fake:NAME' or 'ibm:NAME', got {spec!r}")
    kind, _, name = spec.partition(":")
    if kind not in ("fake", "ibm") or not name.strip():
        raise UsageError(f"backend: expected 'fake:NAME' or 'ibm:NAME', got {spec!r}")
    return kind, name.strip()  # type: ignore[return-value]


def resolve_backend(spec: str, service: Any = None) -> Any:
    """Backend object for 'fake:NAME' / 'ibm:NAME' (a bare 'fake_xxx' name is read as fake:)."""
    if ":" not in spec and spec.lower().startswith("fake"):
        spec = f"fake:{spec}"
    kind, name = parse_spec(spec)
    return fake_backend(name) if kind == "fake" else live_backend(name, service)
