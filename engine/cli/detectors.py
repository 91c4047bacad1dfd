"""``das detectors``: list the registered detectors and show their cards."""
import click

from das.detectors import DETECTOR_NAMES, get_card
from das.engine.cli._common import canonical_detector, echo, echo_json, json_option


@click.group("detectors")
def detectors():
    """Detector families the synthesis programs target, with their cards."""


@detectors.command("list")
@json_option
def list_detectors(as_json):
    """List every detector with the one-line summary of its card."""
    cards = [get_card(name) for name in DETECTOR_NAMES]
    if as_json:
        echo_json([{"name": c.name, "title": c.title, "summary": c.summary} for c in cards])
        return
    width = max(len(c.name) for c in cards)
    for card in cards:
        echo(f"{card.name.ljust(width)}  {card.summary}")


@detectors.command("show")
@click.argument("name", callback=canonical_detector)
@json_option
def show_detector(name, as_json):
    """Show the full card of detector NAME (the text used verbatim in prompts)."""
    card = get_card(name)
    if as_json:
        echo_json(card.to_dict())
        return
    echo(str(card))
