"""The catalog: real files in, checked tables out; every data problem found before training."""

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import extract_photos
from kagglekit.catalog import build_catalog
from kagglekit.competition import load_competition
from kagglekit.demo import write_demo_competition
from kagglekit.errors import KagglekitError


def test_dogs_vs_cats_zips_read_in_place(workdir, dogs_dir):
    comp = load_competition("dogs-vs-cats")
    catalog = build_catalog(comp, dogs_dir)
    assert len(catalog.train) == 4000 and len(catalog.test) == 1000
    assert np.bincount(catalog.train["label"]).tolist() == [2000, 2000]
    row = catalog.train[catalog.train["id"] == "dog.7"].iloc[0]
    assert row["label"] == 1 and Path(row["path"]).is_file()
    assert catalog.test["readable"].all()
    # extracted once into the cache, never next to the read-only data
    assert list((workdir / ".cache" / "extracted").glob("*/train"))


def test_csv_labels_with_and_without_extension(workdir):
    data = write_demo_competition(workdir / "digits")
    comp = load_competition("demo-digits")
    plain = build_catalog(comp, data)
    assert len(plain.train) == 1497 and len(plain.test) == 300
    labels = (data / "train_labels.csv").read_text().splitlines()
    (data / "train_labels.csv").write_text(
        "\n".join([labels[0]] + [f"{r.split(',')[0]}.png,{r.split(',')[1]}" for r in labels[1:]]) + "\n"
    )
    with_ext = build_catalog(comp, data)
    assert with_ext.train["label"].tolist() == plain.train["label"].tolist()


def test_class_per_folder_layout(folders_competition):
    catalog = build_catalog(load_competition(str(folders_competition)), folders_competition.parent / "pets")
    assert sorted(catalog.train["label"].value_counts().tolist()) == [12, 12]
    assert len(catalog.test) == 8


def _break(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:200])  # a truncated JPEG, as a failed copy leaves it


def test_undecodable_images_found_before_training(folders_competition, caplog):
    data = folders_competition.parent / "pets"
    _break(data / "train" / "dog" / "dog.3.jpg")
    (data / "train" / "cat" / "cat.99.jpg").write_text("not an image")
    victim = sorted((data / "test").iterdir())[0]
    _break(victim)
    catalog = build_catalog(load_competition(str(folders_competition)), data)
    assert len(catalog.train) == 23  # the broken dog is left out; the text file too
    assert {Path(p).name for p in catalog.skipped_train} == {"dog.3.jpg", "cat.99.jpg"}
    assert not catalog.test.set_index("id").loc[victim.stem, "readable"]
    assert "dog.3.jpg" in caplog.text and victim.name in caplog.text and "class prior" in caplog.text


def test_grayscale_rgba_cmyk_png_all_become_rgb(workdir):
    import tensorflow as tf

    from kagglekit.pipeline import decode_image

    rgb = (np.random.default_rng(0).random((20, 30, 3)) * 255).astype("uint8")
    for mode, fmt in [("L", "PNG"), ("RGBA", "PNG"), ("CMYK", "JPEG"), ("RGB", "JPEG"), ("P", "PNG")]:
        path = workdir / f"img_{mode}.{fmt.lower()}"
        Image.fromarray(rgb).convert(mode).save(path, fmt)
        out = decode_image(tf.constant(str(path)), 16)
        assert out.shape == (16, 16, 3) and out.dtype == tf.uint8, mode


def _demo(workdir):
    return write_demo_competition(workdir / "digits"), load_competition("demo-digits")


def test_bad_layouts_have_one_line_errors(workdir):
    data, comp = _demo(workdir)
    with pytest.raises(KagglekitError, match="kagglekit fetch"):
        build_catalog(comp, workdir / "missing")
    shutil.copy(data / "train" / "00400.png", data / "train" / "00400.jpg")
    with pytest.raises(KagglekitError, match="used by more than one file"):
        build_catalog(comp, data)
    (data / "train" / "00400.jpg").unlink()
    (data / "test" / "00007.png").unlink()
    with pytest.raises(KagglekitError, match=r"1 test ids of the sample submission have no image \(first: 00007\)"):
        build_catalog(comp, data)


def test_unlabelled_and_unknown_labels(workdir):
    data, comp = _demo(workdir)
    Image.new("L", (8, 8)).save(data / "train" / "99999.png")
    with pytest.raises(KagglekitError, match=r"no row in train_labels.csv \(first: 99999\)"):
        build_catalog(comp, data)
    (data / "train" / "99999.png").unlink()
    text = (data / "train_labels.csv").read_text().replace(",7\n", ",seven\n", 1)
    (data / "train_labels.csv").write_text(text)
    with pytest.raises(KagglekitError, match="label 'seven' is not one of labels.classes"):
        build_catalog(comp, data)


def test_filename_pattern_must_label_every_file(workdir, dogs_dir):
    data = workdir / "dvc"
    extract_photos(dogs_dir / "train.zip", data / "train", ["cat.1.jpg", "dog.1.jpg"])
    shutil.copy(data / "train" / "cat.1.jpg", data / "train" / "kitten.jpg")
    comp = load_competition("dogs-vs-cats")
    with pytest.raises(KagglekitError, match=r"no label matching labels.pattern .*\(first: kitten.jpg\)"):
        build_catalog(comp, data, with_test=False)
