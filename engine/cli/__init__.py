"""The ``das`` command line: a thin click group over the library.

Each sub-module defines the commands of one area and is registered here;
commands call one library function and print. Library errors are mapped to
messages once, by :class:`engine.cli._common.DasGroup`.
"""
import click

from das.engine.cli._common import DasGroup, say_first_use


@click.group(cls=DasGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="das")
def main():
    """das: LLM-written, sandbox-certified anomaly synthesis for tabular detectors."""
    from das.collab.certification import first_use_notice

    click.get_current_context().with_resource(first_use_notice(say_first_use))


# Command registration: one line per area (keep alphabetical).
from das.engine.cli.programs import programs, verify  # noqa: E402
main.add_command(programs)
main.add_command(verify)
from das.engine.cli.audit import audit  # noqa: E402
main.add_command(audit)
from das.engine.cli.enhance import enhance, score  # noqa: E402
main.add_command(enhance)
main.add_command(score)
from das.engine.cli.data import data  # noqa: E402
main.add_command(data)
from das.engine.cli.demo import demo  # noqa: E402
main.add_command(demo)
from das.engine.cli.detectors import detectors  # noqa: E402
main.add_command(detectors)
from das.engine.cli.regenerate import prompts, regenerate  # noqa: E402
main.add_command(regenerate)
main.add_command(prompts)
from das.engine.cli.select import select  # noqa: E402
main.add_command(select)
from das.engine.cli.store import store  # noqa: E402
main.add_command(store)
from das.engine.cli.bench import bench, report  # noqa: E402
main.add_command(bench)
main.add_command(report)
