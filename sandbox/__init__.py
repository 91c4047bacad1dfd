"""Sandbox: static audit, restricted execution in an isolated worker, model proxy.

Layers (each tested on its own): :func:`audit_source` (static audit),
:mod:`sandbox.guards` (RestrictedPython hooks), :func:`run_program` (a fresh
worker per run, forked by :mod:`sandbox.zygote`, with resource limits,
seccomp where available, model proxy),
:func:`verify_program` (property suite).
"""
from das.sandbox.audit import AuditReport, Finding, audit_source
from das.sandbox.properties import SUITE_VERSION, PropertyResult, VerificationReport, verify_program
from das.sandbox.runner import Limits, RunResult, run_program

__all__ = ["audit_source", "AuditReport", "Finding", "run_program", "RunResult", "Limits",
           "verify_program", "VerificationReport", "PropertyResult", "SUITE_VERSION"]
