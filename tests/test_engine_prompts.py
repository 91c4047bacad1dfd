"""Prompt builder: the paper's prompts, variants, versions and hashes."""
import hashlib

import pytest

from das.detectors import DETECTOR_NAMES, get_card
from das.engine.prompts import (PROMPT_VERSION, VARIANTS, PromptError, build_initial_prompt,
                            build_prompt, build_repair_prompt)


def test_default_prompt_is_description_objective_requirements():
    p = build_prompt("iforest")
    card = str(get_card("IForest")).strip()
    assert p.detector == "IForest" and p.variant == "default" and p.version == PROMPT_VERSION
    assert p.sha256 == hashlib.sha256(p.text.encode()).hexdigest()
    head, desc, obj, req = (p.text.index(s) for s in (
        "We use a IForest detector", card, "Your task is to write", "Requirements:"))
    assert head < desc < obj < req
    assert "specific designed for IForest" in p.text
    assert p.text.rstrip().endswith("clear comments explaining key steps.")


@pytest.mark.parametrize("name", DETECTOR_NAMES)
def test_every_detector_renders_its_own_card(name):
    p = build_prompt(name)
    assert str(get_card(name)).strip() in p.text and "{" + "detector}" not in p.text


def test_variants_change_exactly_what_the_paper_changes():
    base = build_prompt("PCA").text
    card = str(get_card("PCA")).strip()
    generic = build_prompt("PCA", "generic").text
    assert card not in generic and "PCA" not in generic and "general-purpose" in generic
    simple = build_prompt("PCA", "simple").text
    assert "cannot call `model.predict_score`" in simple and "far from the normal" in simple
    rnd = build_prompt("PCA", "random").text
    assert "uniformly at random (not borderline" in rnd and "'borderline' normal" not in rnd
    hard = build_prompt("PCA", "hardness").text
    assert hard.startswith(base.rsplit("\n\n", 1)[0]) and "`degree`" in hard and "`med`" in hard
    multi = build_prompt("PCA", "multi").text
    assert "multiple distinct logical weaknesses of PCA" in multi
    shas = {build_prompt("PCA", v).sha256 for v in VARIANTS}
    assert len(shas) == len(VARIANTS)


def test_initial_prompt_asks_for_a_description():
    p = build_initial_prompt("lof")
    assert "I will provide you the <LOF>" in p.text and p.variant == "initial"


def test_repair_prompt_carries_source_and_report():
    base = build_prompt("KNN")
    r = build_repair_prompt(base, "def generate_hard_anomalies(n_samples, model, X_train): pass",
                            "[FAIL] novel: 0.5", 1, 2)
    assert r.text.startswith(base.text) and "[FAIL] novel: 0.5" in r.text
    assert "round 1 of 2" in r.text and r.variant == "repair" and r.sha256 != base.sha256


def test_unknown_variant_and_detector_are_named_errors():
    with pytest.raises(PromptError, match="unknown prompt variant 'fancy'"):
        build_prompt("PCA", "fancy")
    with pytest.raises(ValueError):
        build_prompt("nope")
