"""ModelFolder, the one rule for a trained nnU-Net model folder; resolve_device, the one rule for a device."""
import json

import numpy as np
import pytest

from CLAIMLib.errors import InputError
from CLAIMLib.segmentation import ModelFolder

CLAIM_LABELS = {"background": 0, "cavity": 1, "myocardium": 2, "scar": 3, "mvo": 4}


def make_model(root, name="nnUNetTrainer__nnUNetPlans__2d", labels=None, folds=("0", "all"),
               configurations=("2d",), checkpoint="checkpoint_final.pth", header=None):
    """A model folder with nnU-Net's files; the checkpoints are empty files unless ``header`` (a torch-saved dict)."""
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "plans.json").write_text(json.dumps({"plans_name": "nnUNetPlans",
                                                   "configurations": {c: {} for c in configurations}}))
    (folder / "dataset.json").write_text(json.dumps({"labels": CLAIM_LABELS if labels is None else labels,
                                                     "channel_names": {"0": "LGE"}}))
    for f in folds:
        (folder / f"fold_{f}").mkdir()
        if header is None:
            (folder / f"fold_{f}" / checkpoint).write_bytes(b"")
        else:
            import torch

            torch.save(header, folder / f"fold_{f}" / checkpoint)
    return folder


def test_a_trained_model_folder(tmp_path):
    folder = make_model(tmp_path, folds=("all", "1", "0", "x"))
    (folder / "fold_3").mkdir()  # a fold without its checkpoint is not trained
    m = ModelFolder(folder)
    assert (m.path, m.trainer, m.plans, m.configuration) == (folder, "nnUNetTrainer", "nnUNetPlans", "2d")
    assert m.folds == [0, 1, "all"]
    assert m.checkpoint_path("all") == folder / "fold_all" / "checkpoint_final.pth"
    assert m.checkpoint_path("1") == m.checkpoint_path(1) == folder / "fold_1" / "checkpoint_final.pth"
    assert m.labels == CLAIM_LABELS and m.has_mvo and m.claim_values
    assert m.dataset_json["channel_names"] == {"0": "LGE"} and "2d" in m.plans_json["configurations"]
    assert m.segments() == [("cavity", 1, "cavity"), ("myocardium", 2, "normal"), ("scar", 3, "scar"),
                            ("mvo", 4, "mvo")]
    scheme = m.label_scheme()
    assert scheme.values == {"cavity": (1,), "myocardium": (2, 3, 4), "scar": (3, 4), "mvo": (4,)}
    assert ModelFolder.problem(folder) is None
    for fold, reason in ((3, "has no trained fold 3"), ("7", "has no trained fold 7")):
        with pytest.raises(InputError) as e:
            m.checkpoint_path(fold)
        assert e.value.source == str(folder) and reason in e.value.problem and "trained: 0, 1, all" in e.value.problem
    with pytest.raises(InputError) as e:
        m.checkpoint_path("best")
    assert e.value.source == "--fold"


def test_labels_are_read_by_name(tmp_path):
    """Another model's label values: the scheme follows dataset.json's names, whatever the values."""
    labels = {"background": 0, "Scar": 1, "LV myocardium": 2, "LV blood pool": 3, "No reflow": 5, "RV": 4}
    m = ModelFolder(make_model(tmp_path, labels=labels))
    assert m.has_mvo and not m.claim_values
    assert [s[1:] for s in m.segments()] == [(1, "scar"), (2, "normal"), (3, "cavity"), (4, "rv"), (5, "mvo")]
    scheme = m.label_scheme()
    assert scheme.values == {"cavity": (3,), "myocardium": (1, 2, 5), "scar": (1, 5), "mvo": (5,), "rv": (4,)}
    lab = np.array([0, 1, 2, 3, 4, 5])
    assert scheme.mask(lab, "scar").tolist() == [False, True, False, False, False, True]
    assert scheme.mask(lab, "myocardium").tolist() == [False, True, True, False, False, True]
    # a one-value list is that value; no MVO label: no MVO
    m = ModelFolder(make_model(tmp_path / "b", labels={"background": [0], "cavity": 1, "myocardium": [2],
                                                        "scar": 3}))
    assert m.labels == {"background": 0, "cavity": 1, "myocardium": 2, "scar": 3} and not m.has_mvo
    assert m.claim_values and m.label_scheme().values == {"cavity": (1,), "myocardium": (2, 3), "scar": (3,)}
    # nothing recognisable as myocardium: no scheme
    m = ModelFolder(make_model(tmp_path / "c", labels={"background": 0, "liver": 1}))
    with pytest.raises(InputError) as e:
        m.label_scheme()
    assert "no label is recognised as myocardium" in e.value.problem and not m.claim_values


@pytest.mark.parametrize("damage, reason", [
    ("missing", "no such nnU-Net model folder"),
    ("file", "is a file, not an nnU-Net model folder"),
    ("no plans", "no plans.json"),
    ("no dataset", "no dataset.json"),
    ("bad plans", "plans.json is not valid JSON"),
    ("plans keys", "plans.json has no 'configurations' entry"),
    ("dataset keys", "dataset.json has no 'labels' entry"),
    ("no checkpoint", "holds no fold_*/checkpoint_final.pth"),
    ("regions", "label 'whole' is a region ([1, 2]); region-based nnU-Net models are not supported"),
    ("bad value", "label 'scar' has the value 'x'"),
    ("no background", "no background label (value 0)"),
    ("shared value", "two labels share one value"),
    ("configuration", "its name asks for configuration '2d', which plans.json does not define (3d_fullres)"),
])
def test_what_is_not_a_model_folder(tmp_path, damage, reason):
    kwargs = {"regions": {"labels": {"background": 0, "whole": [1, 2], "scar": 2}},
              "bad value": {"labels": {"background": 0, "scar": "x"}},
              "no background": {"labels": {"cavity": 1, "scar": 2}},
              "shared value": {"labels": {"background": 0, "scar": 1, "infarct": 1}},
              "configuration": {"configurations": ("3d_fullres",)},
              "no checkpoint": {"checkpoint": "checkpoint_best.pth"}}.get(damage, {})
    folder = make_model(tmp_path, **kwargs)
    if damage == "missing":
        folder = tmp_path / "nowhere"
    elif damage == "file":
        folder = folder / "plans.json"
    elif damage in ("no plans", "no dataset"):
        (folder / f"{damage[3:]}.json").unlink()
    elif damage == "bad plans":
        (folder / "plans.json").write_text("{not json")
    elif damage == "plans keys":
        (folder / "plans.json").write_text("{}")
    elif damage == "dataset keys":
        (folder / "dataset.json").write_text('{"channel_names": {}}')
    with pytest.raises(InputError) as e:
        ModelFolder(folder)
    assert e.value.source == str(folder) and reason in e.value.problem and "\n" not in str(e.value)
    assert ModelFolder.problem(folder) == e.value.problem


def test_a_folder_not_named_by_nnunet(tmp_path):
    """CLAIM's joint ``segmenter/`` folder: trainer and configuration come from the checkpoint, as in nnU-Net."""
    pytest.importorskip("torch")
    header = {"trainer_name": "nnUNetTrainerCLAIMShort", "init_args": {"configuration": "2d"}}
    m = ModelFolder(make_model(tmp_path, name="segmenter", folds=("all",), configurations=("2d", "3d_fullres"),
                               header=header))
    assert (m.trainer, m.plans, m.configuration, m.folds) == ("nnUNetTrainerCLAIMShort", "nnUNetPlans", "2d", ["all"])
    m = ModelFolder(make_model(tmp_path / "b", name="segmenter", folds=("0",), header={"network_weights": {}}))
    assert (m.trainer, m.configuration) == ("nnUNetTrainer", "2d")  # nnU-Net's default trainer; the one config
    m = ModelFolder(make_model(tmp_path / "c", name="segmenter", folds=("0",)))  # an empty file is no checkpoint
    with pytest.raises(InputError) as e:
        m.trainer
    assert "fold_0/checkpoint_final.pth cannot be read as an nnU-Net checkpoint" in e.value.problem


def _no_cuda(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def test_resolve_device(monkeypatch):
    import torch

    from CLAIMLib.devices import resolve_device

    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    _no_cuda(monkeypatch)
    assert resolve_device(None) == resolve_device("auto") == torch.device("cpu")
    for device in ("cuda", "cuda:1"):
        with pytest.raises(InputError) as e:
            resolve_device(device)
        assert e.value.source == "--device" and e.value.problem.startswith("CUDA is not available on this machine")
    with pytest.raises(InputError) as e:
        resolve_device("cuda", source="device")
    assert e.value.source == "device" and "set device to cpu" in e.value.problem
    with pytest.raises(InputError) as e:
        resolve_device("gpu0")
    assert e.value.source == "--device" and "'gpu0' is not a device" in e.value.problem


def test_device_errors_are_their_own(tmp_path, monkeypatch):
    """A missing CUDA is reported as such by the predictor and the generator loader, not as a bad model."""
    from CLAIMLib.diffusion.sample import load_generator
    from CLAIMLib.segmentation.nnunet import Predictor

    _no_cuda(monkeypatch)
    folder = make_model(tmp_path)
    with pytest.raises(InputError) as e:
        Predictor(folder, device="cuda")
    assert e.value.source == "--device" and "CUDA is not available" in e.value.problem
    with pytest.raises(InputError) as e:  # the model is checked first, and by ModelFolder
        Predictor(folder, folds=[2], device="cuda")
    assert e.value.source == str(folder) and "has no trained fold 2" in e.value.problem
    with pytest.raises(InputError) as e:
        Predictor(tmp_path / "nowhere")
    assert e.value.problem == "no such nnU-Net model folder or installed model (claim models list)"
    ckpt = tmp_path / "run" / "checkpoint.pt"
    ckpt.parent.mkdir()
    ckpt.write_bytes(b"not a checkpoint")
    with pytest.raises(InputError) as e:
        load_generator(ckpt.parent, "cuda")
    assert e.value.source == "--device" and "CUDA is not available" in e.value.problem
    with pytest.raises(InputError) as e:
        load_generator(ckpt.parent, "cpu")
    assert e.value.source == str(ckpt) and "cannot be loaded as a CLAIM generator checkpoint" in e.value.problem


def test_segment_styles_from_dataset_json(tmp_path):
    """Segments take their names from dataset.json, colours from its optional 'colors' (else the structure's), and
    the structure's SNOMED CT terminology; an unknown label gets the generic 'Tissue' entry."""
    from CLAIMLib.terminology import STRUCTURE_SEGMENTS

    labels = {"background": 0, "LV blood pool": 1, "Myocardium": 2, "Infarct": 3, "No reflow": 4, "Fat": 5}
    folder = make_model(tmp_path, labels=labels)
    data = json.loads((folder / "dataset.json").read_text())
    (folder / "dataset.json").write_text(json.dumps({**data, "colors": {"Infarct": "#ff0000", "Fat": [255, 255, 0]}}))
    styles = dict(ModelFolder(folder).segment_styles())
    assert [styles[v][0] for v in range(1, 6)] == ["LV blood pool", "Myocardium", "Infarct", "No reflow", "Fat"]
    assert styles[3][1] == (1.0, 0.0, 0.0) and styles[5][1] == (1.0, 1.0, 0.0)
    assert styles[1][1] == STRUCTURE_SEGMENTS["cavity"][1] and styles[4][1] == STRUCTURE_SEGMENTS["mvo"][1]
    for value, code in ((1, "SCT^87878005^Left ventricle"), (2, "SCT^74281007^Myocardium"),
                        (3, "SCT^55641003^Infarct"), (4, "Microvascular obstruction"), (5, "SCT^85756007^Tissue")):
        assert code in styles[value][2].split("~")[2], (value, styles[value][2])
