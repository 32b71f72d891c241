"""The catalog: real files in, checked tables out; every data problem found before training."""

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import extract_photos
from kagglekit.competition.definition import load_competition
from kagglekit.competition.demo import write_demo_competition
from kagglekit.core.errors import KagglekitError
from kagglekit.data.catalog import build_catalog


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

    from kagglekit.data.pipeline import decode_image

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


# -- resource guards and damaged files -----------------------------------------------------------

def test_every_left_out_image_is_named_with_its_reason(folders_competition, caplog):
    data = folders_competition.parent / "pets"
    _break(data / "train" / "dog" / "dog.3.jpg")
    (data / "train" / "cat" / "cat.99.jpg").write_text("not an image")
    huge = data / "train" / "cat" / "cat.98.png"  # 13,000 x 13,000 of one colour: a few KB on disk
    Image.new("L", (13_000, 13_000)).save(huge, optimize=True)
    assert huge.stat().st_size < 500_000
    catalog = build_catalog(load_competition(str(folders_competition)), data)
    assert {Path(p).name for p in catalog.skipped_train} == {"dog.3.jpg", "cat.99.jpg", "cat.98.png"}
    assert "cat.98.png (too large (13000x13000 pixels, above the 50-megapixel limit))" in caplog.text
    assert "cat.99.jpg (not an image" in caplog.text and "dog.3.jpg (cannot decode" in caplog.text


def test_a_test_image_in_a_format_the_catalog_ignores_is_named_as_such(workdir):
    data, comp = _demo(workdir)
    png = data / "test" / "00007.png"
    Image.open(png).save(data / "test" / "00007.gif")
    png.unlink()
    with pytest.raises(KagglekitError, match=r"format kagglekit does not read \(first: 00007.gif; JPEG and PNG only\)"):
        build_catalog(comp, data)


def _zip_competition(workdir, train_zip_writer) -> tuple[Path, object]:
    """The demo's files with train/ replaced by a train.zip that TRAIN_ZIP_WRITER fills."""
    import zipfile

    data, _ = _demo(workdir)
    with zipfile.ZipFile(data / "train.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        train_zip_writer(zf, data)
    shutil.rmtree(data / "train")  # the zip is read in place
    toml = workdir / "zipped.toml"
    toml.write_text(Path(load_competition("demo-digits").source).read_text().replace(
        'train = "train"', 'train = "train.zip"').replace('slug = "demo-digits"', 'slug = "zipped-digits"'))
    return data, load_competition(str(toml))


def test_an_archive_of_zeros_is_refused_before_extraction(workdir):
    def zeros(zf, data):
        zf.writestr("train/00400.png", bytes(20_000_000))  # 20 MB of zeros: about 20 KB compressed

    data, comp = _zip_competition(workdir, zeros)
    assert (data / "train.zip").stat().st_size < 100_000
    with pytest.raises(KagglekitError, match=r"entry train/00400.png would expand from .* KB to 20.0 MB \(more than 200:1"):
        build_catalog(comp, data)
    assert not list((workdir / ".cache").rglob("00400.png"))  # nothing was extracted


def test_a_real_competition_archive_passes_the_guards(dogs_dir):
    from kagglekit.core.archive import check_archive

    assert len(check_archive(dogs_dir / "train.zip")) >= 4000
    assert len(check_archive(dogs_dir / "test1.zip")) >= 1000


def test_an_archive_too_big_for_the_disk_is_refused(workdir, monkeypatch):
    import shutil as shutil_module
    from collections import namedtuple

    from kagglekit.core.archive import check_archive

    def pngs(zf, data):
        for p in sorted((data / "train").iterdir())[:50]:
            zf.write(p, f"train/{p.name}")

    data, _ = _zip_competition(workdir, pngs)
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil_module, "disk_usage", lambda path: usage(10**9, 10**9 - 5000, 5000))
    with pytest.raises(KagglekitError, match="has 5.0 KB free; free some space"):
        check_archive(data / "train.zip", workdir / "target")


def test_a_damaged_archive_entry_is_one_line(workdir):
    def flipped(zf, data):
        for p in sorted((data / "train").iterdir()):
            zf.write(p, f"train/{p.name}")

    data, comp = _zip_competition(workdir, flipped)
    raw = bytearray((data / "train.zip").read_bytes())
    raw[200:210] = bytes(10)  # inside the first entry's compressed bytes: a bad CRC or a broken stream
    (data / "train.zip").write_bytes(bytes(raw))
    with pytest.raises(KagglekitError, match=r"train.zip is damaged \(.*\); download it again"):
        build_catalog(comp, data)
    assert not list((workdir / ".cache" / "extracted").glob("*/train"))  # no half extraction taken for whole
