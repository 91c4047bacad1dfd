"""The ``das`` command line: a thin click group over the library.

Each sub-module defines the commands of one area and is registered here;
commands open what they need, call one library function and print.
"""
import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="das")
def main():
    """das: LLM-written, sandbox-certified anomaly synthesis for tabular detectors."""


# Command registration: one line per area (keep alphabetical).
