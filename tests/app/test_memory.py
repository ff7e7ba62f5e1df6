"""What the serving process leaves out of its memory."""

from __future__ import annotations

import subprocess
import sys


def test_the_service_keeps_the_gpu_kernel_compiler_out_and_still_exports_to_onnx(tmp_path):
    """torch's CUDA wheels bring Triton in through timm (about 75 MB resident); the service compiles nothing, so
    importing it marks Triton absent, and a model still loads, exports to ONNX and runs on ONNX Runtime."""
    code = (
        "import sys, importlib.util, app.main, timm\nfrom pathlib import Path\n"
        "from model_store import InputSpec, create_model, ModelRegistry\n"
        "from model_store.inference.backends import select_backend\n"
        "from model_store.inference.config import InferenceConfig\n"
        "from model_store.inference.onnx_cache import OnnxCache\n"
        f"r = ModelRegistry({str(tmp_path / 'models')!r})\n"
        "r.save(create_model('convnext_atto', head_hidden=8).eval(), 't', input_spec=InputSpec(),"
        " provenance={'trained_on': 'untrained', 'description': 'test'})\n"
        f"cache = OnnxCache(Path({str(tmp_path / 'onnx')!r}))\n"
        "_, path = select_backend(r.load('t'), InferenceConfig(threads=1), cache)\n"
        "print(sys.modules.get('triton') is not None, importlib.util.find_spec('triton') is None, path.path)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "True", "onnxruntime"]
