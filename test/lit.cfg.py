# -*- Python -*-
import os

import lit.formats
from lit.llvm import llvm_config

config.name = "DELTAC"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".delta", ".test"]
config.excludes_suffixes = [".in"]
config.excludes = ["CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py", "Inputs", "unit"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.deltac_obj_root, "test")

config.substitutions.append(("%examples", os.path.join(config.deltac_src_root, "examples")))
config.substitutions.append(("%deltart_include", os.path.join(config.deltac_src_root, "runtime", "include")))
config.substitutions.append(("%deltart_lib", os.path.join(config.deltac_obj_root, "lib", "libdeltart.a")))
llvm_config.with_system_environment(["HOME", "TMP", "TEMP"])
llvm_config.use_default_substitutions()

# Our tools first, then FileCheck, not and count from LLVM.
tool_dirs = [config.deltac_tools_dir, config.llvm_tools_dir]
llvm_config.add_tool_substitutions(["deltac", "deltac-opt"], tool_dirs)
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)
llvm_config.with_environment("PATH", config.deltac_tools_dir, append_path=True)

if config.cuda_found:
    config.available_features.add("cuda")
import ctypes
import shutil
try:
    ctypes.CDLL("libcuda.so.1")
    config.available_features.add("cuda-driver")
except OSError:
    pass
if os.environ.get("DELTAC_PTXAS") or os.path.exists("/usr/local/cuda/bin/ptxas") or shutil.which("ptxas"):
    config.available_features.add("ptxas")
