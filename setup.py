# SPDX-License-Identifier: Apache-2.0
"""setuptools -> CMake bridge. Never imports torch: the core reads arrays through DLPack.

Environment: EF_WITH_CUDA=AUTO|ON|OFF (default AUTO), CMAKE_ARGS (extra -D...),
CMAKE_BUILD_PARALLEL_LEVEL (jobs), DEBUG=1 (debug build).
"""
import os
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent


class CMakeExtension(Extension):
    def __init__(self, name):
        super().__init__(name, sources=[])


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        out_dir = Path(self.get_ext_fullpath(ext.name)).resolve().parent
        build_dir = Path(self.build_temp).resolve() / "cmake"
        build_dir.mkdir(parents=True, exist_ok=True)
        cfg = "Debug" if os.environ.get("DEBUG") == "1" else "Release"
        args = [
            f"-DEF_OUTPUT_DIR={out_dir}",
            f"-DPython_EXECUTABLE={sys.executable}",
            f"-DCMAKE_BUILD_TYPE={cfg}",
            f"-DEF_WITH_CUDA={os.environ.get('EF_WITH_CUDA', 'AUTO')}",
        ]
        try:
            import pybind11

            args.append(f"-Dpybind11_DIR={pybind11.get_cmake_dir()}")
        except ImportError:
            pass
        args += [a for a in os.environ.get("CMAKE_ARGS", "").split() if a]
        subprocess.run(["cmake", "-S", str(ROOT), "-B", str(build_dir), *args], check=True)
        jobs = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 2))
        subprocess.run(["cmake", "--build", str(build_dir), "--target", "_native", "-j", jobs], check=True)


setup(ext_modules=[CMakeExtension("econ_fast._native")], cmdclass={"build_ext": CMakeBuild})
