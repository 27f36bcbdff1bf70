"""What machine a benchmark ran on, for the first line of its output."""

import os
import platform

VECTOR_EXTENSIONS = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_tile")


def cpu_model():
    """``"<model name>, <n> CPUs, <vector extensions>"`` from /proc/cpuinfo (Linux), or
    ``platform.processor()`` elsewhere."""
    try:
        with open("/proc/cpuinfo") as f:
            info = f.read()
    except OSError:
        return platform.processor() or "unknown CPU"
    lines = info.splitlines()
    name = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "?")
    flags = next((line.split(":", 1)[1].split() for line in lines if line.startswith("flags")), [])
    extensions = " ".join(f for f in VECTOR_EXTENSIONS if f in flags) or "no AVX2"
    return f"{name}, {os.cpu_count()} CPUs, {extensions}"
