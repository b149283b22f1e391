"""Harness for the tests and benchmarks: real servers they start and drive.

SeaweedFS as an S3 server (`seaweedfs`), nginx with the deployment's template (`nginx`) and
headless Chromium's flags (`chromium`). The product never imports this package (an import
contract in pyproject.toml); it builds on `ops.stack`, which the quick start also uses.
"""
