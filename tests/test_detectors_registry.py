"""Registry, cards and the ``das detectors`` CLI."""
import json
import re

import pytest
from click.testing import CliRunner

from das.detectors import (CARDS, DETECTOR_NAMES, DetectorCard, UnknownDetector, get_card,
                       make_detector)
from das.engine.cli import main


def test_names_and_case_insensitive_lookup():
    assert DETECTOR_NAMES == ("PCA", "IForest", "OCSVM", "ECOD", "LOF", "KNN", "DRL")
    for name in DETECTOR_NAMES:
        assert make_detector(name.upper()).name == name
        assert make_detector(f" {name.lower()} ").name == name


def test_unknown_name_lists_valid_names():
    with pytest.raises(UnknownDetector, match="unknown detector 'svdd'; valid names: PCA, "):
        make_detector("svdd")
    assert issubclass(UnknownDetector, ValueError)
    with pytest.raises(UnknownDetector):
        get_card("nope")


def test_unknown_parameter_is_named():
    with pytest.raises(TypeError, match="IForest got unknown parameter"):
        make_detector("iforest", n_trees=3)


def test_params_are_stored_untouched():
    det = make_detector("LOF", n_neighbors=7, random_state=11)
    assert det.get_params()["n_neighbors"] == 7 and det.random_state == 11
    assert not hasattr(det, "decision_scores_")


def test_paper_card_for_iforest_is_verbatim():
    text = str(get_card("iforest"))
    assert text.startswith("Isolation Forest (IForest) is an ensemble-based anomaly detection")
    assert "The main steps of Isolation Forest (IForest) for anomaly detection are:" in text
    assert "* Randomly select a subsample of the training data to build each tree." in text


@pytest.mark.parametrize("name", DETECTOR_NAMES)
def test_cards_are_complete_and_parameter_free(name):
    card = get_card(name)
    assert isinstance(card, DetectorCard) and card.name == name
    assert make_detector(name).card == card
    assert len(card.description) > 300
    steps = card.pseudo_code.splitlines()
    assert len(steps) >= 4 and all(s.startswith("* ") for s in steps)
    # No hyper-parameter values: no digits anywhere in the prompt text.
    assert not re.search(r"\d", str(card)), str(card)
    assert str(card) == card.to_dict()["text"]


def test_every_registered_name_has_a_card():
    assert set(CARDS) == set(DETECTOR_NAMES)


def test_cli_help_on_every_command():
    runner = CliRunner()
    for args in (["detectors"], ["detectors", "list"], ["detectors", "show"]):
        result = runner.invoke(main, [*args, "--help"])
        assert result.exit_code == 0 and "Usage:" in result.output


def test_cli_list_text_and_json():
    runner = CliRunner()
    text = runner.invoke(main, ["detectors", "list"])
    assert text.exit_code == 0
    assert [line.split()[0] for line in text.output.splitlines()] == list(DETECTOR_NAMES)
    data = json.loads(runner.invoke(main, ["detectors", "list", "--json"]).output)
    assert [d["name"] for d in data] == list(DETECTOR_NAMES)
    assert data[0]["summary"] == get_card("PCA").summary


def test_cli_show_text_json_and_error():
    runner = CliRunner()
    text = runner.invoke(main, ["detectors", "show", "ocsvm"])
    assert text.exit_code == 0 and text.output.strip() == str(get_card("OCSVM"))
    data = json.loads(runner.invoke(main, ["detectors", "show", "DRL", "--json"]).output)
    assert data["name"] == "DRL" and data["text"] == str(get_card("DRL"))
    bad = runner.invoke(main, ["detectors", "show", "svdd"])
    assert bad.exit_code == 2  # a usage error, as for `das programs list -d svdd`
    assert "Error: Invalid value for 'NAME': unknown detector 'svdd'" in bad.output and "Traceback" not in bad.output
