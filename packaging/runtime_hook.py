"""PyInstaller runtime hook: settings the frozen appliance needs before any of its modules import."""
import os
import sys
from pathlib import Path


def _configure_frozen() -> None:
    """Point llama_cpp at its bundled libraries, forbid hub downloads, default the models folder."""
    bundle = Path(getattr(sys, "_MEIPASS", Path(sys.executable).parent))
    # llama_cpp loads its shared libraries with ctypes; tell it where PyInstaller put them.
    os.environ.setdefault("LLAMA_CPP_LIB_PATH", str(bundle / "llama_cpp" / "lib"))
    # The embedder is read from its bundled package folder; nothing may be fetched at run time.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # The setting's default (./models) depends on the current folder, which a service manager picks;
    # the binary's own models folder (dist/appliance/models) is where the README tells shops to put GGUFs.
    if not os.environ.get("APPLIANCE_MODELS"):
        os.environ["APPLIANCE_MODELS"] = str(Path(sys.executable).resolve().parent / "models")


_configure_frozen()
