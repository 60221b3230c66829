# The cffi extension (libvmm._native) is declared here because setuptools
# reads `cffi_modules` only from setup(); everything else is in
# pyproject.toml.
from setuptools import setup

setup(cffi_modules=["libvmm_build.py:ffibuilder"])
