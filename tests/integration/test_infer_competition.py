"""Inferring a competition definition from Kaggle's files: real layouts in, the same catalog and submission out."""

from __future__ import annotations

import logging
import re
import tomllib
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from conftest import extract_photos
from kagglekit.competition.definition import load_competition, load_competition_file
from kagglekit.competition.demo import write_demo_competition
from kagglekit.competition.infer import infer_definition, metric_from_kaggle
from kagglekit.competition.toml import parse_settings, toml_value
from kagglekit.core.errors import KagglekitError
from kagglekit.data.catalog import build_catalog
from kagglekit.prediction.submission import build_submission, read_sample


TINY = ["--folds", "2", "--epochs", "1", "--image-size", "32", "--model", "bn_cnn_small"]


@pytest.fixture
def project(workdir) -> Path:
    """A working folder whose competitions/ is its own (definitions written here stay out of the repo)."""
    (workdir / "competitions").unlink()
    (workdir / "competitions").mkdir()
    return workdir


def draw(folder: Path, names: list[str], size: tuple[int, int] = (24, 24)) -> list[Path]:
    """Write real image files (a coloured square on noise, different per name) under FOLDER."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names:
        rng = np.random.default_rng(abs(hash(name)) % 2**32)
        pixels = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
        pixels[size[1] // 4: size[1] // 2, size[0] // 4: size[0] // 2] = rng.integers(0, 255, 3)
        path = folder / name
        Image.fromarray(pixels).save(path)
        written.append(path)
    return written


def zip_folder(folder: Path, archive: Path) -> Path:
    """Zip FOLDER as Kaggle does (entries under the folder's name)."""
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(folder.rglob("*")):
            zf.write(path, path.relative_to(folder.parent).as_posix())
    return archive


def catalog_rows(comp, data: Path):
    catalog = build_catalog(comp, data)
    train = sorted(zip(catalog.train["id"], catalog.train["label"].map(lambda i: comp.labels.classes[i])))
    return train, sorted(catalog.test["id"]), catalog


def same_submission(inferred, shipped, data: Path) -> pd.DataFrame:
    """Both definitions lay out the same predictions identically; returns the inferred one's submission."""
    _, test_ids, catalog = catalog_rows(inferred, data)
    rng = np.random.default_rng(0)
    # Away from 0 and 1, so that a hand-written clip range and an inferred one leave the same numbers.
    proba = 0.5 * rng.dirichlet(np.ones(inferred.n_classes), size=len(test_ids)) + 0.5 / inferred.n_classes
    ids = list(catalog.test["id"])
    # The shipped definition may order classes differently: give it the same probabilities per class name.
    order = [inferred.labels.classes.index(c) for c in shipped.labels.classes]
    ours = build_submission(inferred, ids, proba, read_sample(inferred, data))
    theirs = build_submission(shipped, ids, proba[:, order], read_sample(shipped, data))
    id_column = inferred.submission.id_column
    assert list(ours.columns) == list(theirs.columns) and list(ours[id_column]) == list(theirs[id_column])
    values = [c for c in ours.columns if c != id_column]  # the same numbers; the decimals written may differ
    np.testing.assert_allclose(ours[values].astype(float), theirs[values].astype(float), atol=1e-5)
    return ours


# -- the shipped competitions, inferred again ----------------------------------------------------------------

def test_dogs_vs_cats_infers_the_shipped_definition(project, dogs_dir):
    inferred = infer_definition(dogs_dir, "dogs-vs-cats")
    comp, shipped = inferred.competition, load_competition("dogs-vs-cats")
    assert (comp.files.train, comp.files.test, comp.files.sample_submission) == ("train.zip", "test1.zip", "sampleSubmission.csv")
    assert comp.files.unpack == ("train.zip", "test1.zip")
    assert comp.labels.source == "filename" and comp.labels.pattern == shipped.labels.pattern == r"^(?P<label>cat|dog)\."
    assert comp.labels.classes == ("cat", "dog")
    sub = comp.submission
    assert (sub.kind, sub.id_column, sub.label_column, sub.id_format, sub.label_format) == ("label", "id", "label", "stem", "index")
    assert comp.metric == "accuracy" and any("metric" in w for w in inferred.warnings)  # no record: a guess, said so
    # the photos here are 200x200: trained at 128, mirrored (cats and dogs keep their class in a mirror)
    assert comp.train_defaults == {"image_size": 128, "model": "res_cnn", "augment": "medium", "batch_size": 32}

    assert catalog_rows(comp, dogs_dir)[:2] == catalog_rows(shipped, dogs_dir)[:2]
    submission = same_submission(comp, shipped, dogs_dir)
    assert list(submission.columns) == ["id", "label"] and list(submission["id"][:3]) == ["1", "2", "3"]


def test_every_inferred_line_says_where_it_came_from(project, dogs_dir):
    text = infer_definition(dogs_dir, "dogs-vs-cats").text
    settings = [line for line in text.splitlines() if re.match(r"^\w+ = ", line)]
    assert len(settings) >= 18 and all(" # " in line for line in settings)
    assert "pattern = '^(?P<label>cat|dog)\\.'" in text  # a regex reads best as a literal string
    assert "unpack" in text and "fetch unpacks them" in text
    assert tomllib.loads(text)["labels"]["classes"] == ["cat", "dog"]


def test_demo_infers_the_shipped_definition(project):
    data = write_demo_competition(project / "demo")
    inferred = infer_definition(data, "demo-digits")
    comp, shipped = inferred.competition, load_competition("demo-digits")
    assert (comp.files.train, comp.files.test, comp.files.unpack) == ("train", "test", ())
    labels = comp.labels
    assert (labels.source, labels.file, labels.id_column, labels.label_column) == ("csv", "train_labels.csv", "id", "label")
    assert labels.classes == shipped.labels.classes == tuple(str(d) for d in range(10))
    assert comp.submission.kind == "class_columns" and comp.submission.id_format == "stem"
    assert comp.metric == "log_loss" and comp.submission.clip == shipped.submission.clip == (0.001, 0.999)
    # 8x8 digits: scaled up to 16 and never mirrored (a mirrored 2 is not a 2), as the shipped file says
    for key in ("image_size", "model", "augment", "batch_size"):
        assert comp.train_defaults[key] == shipped.train_defaults[key]

    assert catalog_rows(comp, data)[:2] == catalog_rows(shipped, data)[:2]
    submission = same_submission(comp, shipped, data)
    assert list(submission.columns) == ["id", *map(str, range(10))] and submission["id"].str.len().eq(5).all()


def test_the_record_names_the_metric_and_the_title(project):
    data = write_demo_competition(project / "demo")
    record = {"title": "Digits", "url": "https://www.kaggle.com/competitions/demo-digits",
              "evaluation_metric": "Categorization Accuracy"}
    inferred = infer_definition(data, "demo-digits", record)
    assert inferred.competition.metric == "accuracy" and inferred.competition.title == "Digits"
    assert inferred.competition.submission.clip is None and not inferred.warnings
    assert "# Kaggle's record: 'Categorization Accuracy'" in inferred.text


@pytest.mark.parametrize("kaggle_name, metric", [
    ("Categorization Accuracy", "accuracy"), ("Log Loss", "log_loss"), ("Multi Class Log Loss", "log_loss"),
    ("MulticlassLoss", "log_loss"), ("Area Under Receiver Operating Characteristic Curve", "roc_auc"),
    ("AUC", "roc_auc"), ("ROC AUC", "roc_auc"), ("Mean F1-Score", None), ("Quadratic Weighted Kappa", None), (None, None),
])
def test_kaggle_metric_names(kaggle_name, metric):
    assert metric_from_kaggle(kaggle_name) == metric


# -- generated layouts -----------------------------------------------------------------------------------------

def test_class_folders(folders_competition):
    data = folders_competition.parent / "pets"
    inferred = infer_definition(data, "pets-folders")
    comp, written = inferred.competition, load_competition(str(folders_competition))
    assert comp.labels.source == "folders" and comp.labels.classes == ("cat", "dog")
    assert (comp.files.train, comp.files.test, comp.files.sample_submission) == ("train", "test", "sample.csv")
    assert comp.submission.kind == "class_columns" and comp.metric == "log_loss"
    assert catalog_rows(comp, data)[:2] == catalog_rows(written, data)[:2]
    same_submission(comp, written, data)


def breeds(root: Path, extra_columns: dict | None = None, sample_column: str = "breed") -> Path:
    """Labels in a CSV with class names; the sample submission asks for a class name per image."""
    names = ["beagle", "husky", "pug"]
    ids = [f"{i:x}f{i * 7 % 13:x}" for i in range(18)]
    draw(root / "train", [f"{i}.jpg" for i in ids])
    draw(root / "test", [f"q{i}.jpg" for i in range(5)])
    table = pd.DataFrame({"id": ids, "breed": [names[i % 3] for i in range(18)], **(extra_columns or {})})
    table.to_csv(root / "labels.csv", index=False)
    (root / "sample_submission.csv").write_text(f"id,{sample_column}\n" + "".join(f"q{i},beagle\n" for i in range(5)))
    return root


def test_csv_labels_with_class_names(project):
    data = breeds(project / "dogs", extra_columns={"shelter": ["north", "south"] * 9})
    comp = infer_definition(data, "breeds").competition
    labels = comp.labels
    assert (labels.source, labels.file, labels.id_column) == ("csv", "labels.csv", "id")
    assert labels.label_column == "breed"  # two few-valued columns: the one the sample asks for
    assert labels.classes == ("beagle", "husky", "pug")
    assert (comp.submission.kind, comp.submission.label_column, comp.submission.label_format) == ("label", "breed", "name")
    assert comp.metric == "accuracy"
    train, test, catalog = catalog_rows(comp, data)
    assert len(train) == 18 and test == [f"q{i}" for i in range(5)]
    submission = build_submission(comp, list(catalog.test["id"]), np.eye(3)[[2, 0, 1, 2, 0]], read_sample(comp, data))
    assert list(submission["breed"]) == ["pug", "beagle", "husky", "pug", "beagle"]
    assert comp.train_defaults["augment"] == "shift"  # 24 px images: no mirroring


def test_class_columns_sample_fixes_the_class_order(project):
    data = project / "fruit"
    ids = [f"img{i}" for i in range(18)]
    draw(data / "train", [f"{i}.png" for i in ids])
    draw(data / "test", [f"t{i}.png" for i in range(4)])
    pd.DataFrame({"image_id": ids, "fruit": [["apple", "mango", "zebra"][i % 3] for i in range(18)]}).to_csv(
        data / "train.csv", index=False)
    (data / "sample_submission.csv").write_text("image_id,zebra,apple,mango\n" + "".join(f"t{i},0.3,0.3,0.4\n" for i in range(4)))
    inferred = infer_definition(data, "fruit", {"evaluation_metric": "Multi Class Log Loss"})
    comp = inferred.competition
    assert comp.labels.classes == ("zebra", "apple", "mango") and comp.submission.kind == "class_columns"
    assert comp.labels.id_column == comp.submission.id_column == "image_id" and comp.metric == "log_loss"
    submission = build_submission(comp, [f"t{i}" for i in range(4)], np.tile([0.7, 0.2, 0.1], (4, 1)), read_sample(comp, data))
    assert list(submission.columns) == ["image_id", "zebra", "apple", "mango"]
    assert submission.iloc[0].tolist() == ["t0", "0.700000", "0.200000", "0.100000"]


def cactus(root: Path, dogs_dir: Path, padded: bool = False) -> Path:
    """Aerial-cactus style: labels 0/1 in train.csv and ids that keep their .jpg, a probability column named
    after the target, train.zip and test.zip inside the download; real photos (dogs are the positive case)."""
    staging = root.parent / f".{root.name}-staging"
    cats = extract_photos(dogs_dir / "train.zip", staging / "train", [f"cat.{i}.jpg" for i in range(12)])
    dogs = extract_photos(dogs_dir / "train.zip", staging / "train", [f"dog.{i}.jpg" for i in range(12)])
    rows = []
    for k, path in enumerate(cats + dogs):
        new = path.with_name(f"{k * 7919 % 100000:05x}{k}.jpg")
        path.rename(new)
        rows.append((new.name, "1" if path in dogs else "0"))
    test = extract_photos(dogs_dir / "test1.zip", staging / "test", [f"{i}.jpg" for i in range(1, 9)])
    test_ids = [f"{int(p.stem):04d}" if padded else f"t{p.stem}.jpg" for p in test]
    for path, new in zip(test, test_ids):
        path.rename(path.with_name(new if new.endswith(".jpg") else f"{new}.jpg"))
    root.mkdir(parents=True)
    zip_folder(staging / "train", root / "train.zip")
    zip_folder(staging / "test", root / "test.zip")
    pd.DataFrame(rows, columns=["id", "has_cactus"]).to_csv(root / "train.csv", index=False)
    (root / "sample_submission.csv").write_text("id,has_cactus\n" + "".join(f"{i},0.5\n" for i in test_ids))
    # The sealed answers only need to be some 0/1 labels for the sandbox to score against.
    (root / "solution.csv").write_text("id,has_cactus\n" + "".join(f"{i},{k % 2}\n" for k, i in enumerate(test_ids)))
    return root


def test_ids_keep_their_extension_and_a_probability_column_named_after_the_target(project, dogs_dir):
    data = cactus(project / "cactus", dogs_dir)
    record = {"title": "Aerial Cactus", "url": "https://www.kaggle.com/competitions/cactus",
              "evaluation_metric": "Area Under Receiver Operating Characteristic Curve"}
    comp = infer_definition(data, "cactus", record).competition
    assert (comp.files.train, comp.files.test, comp.files.unpack) == ("train.zip", "test.zip", ("train.zip", "test.zip"))
    assert (comp.labels.source, comp.labels.file, comp.labels.label_column) == ("csv", "train.csv", "has_cactus")
    assert comp.labels.classes == ("0", "1")
    sub = comp.submission
    assert (sub.kind, sub.id_format, sub.label_column, sub.positive_class) == ("probability", "name", "has_cactus", "1")
    assert comp.metric == "roc_auc" and sub.clip is None
    assert comp.train_defaults["augment"] == "medium"  # photos labelled 0/1: mirrored
    train, test, catalog = catalog_rows(comp, data)
    assert len(train) == 24 and sum(label == "1" for _, label in train) == 12
    submission = build_submission(comp, list(catalog.test["id"]), np.tile([0.25, 0.75], (8, 1)), read_sample(comp, data))
    assert submission["id"].str.endswith(".jpg").all() and set(submission["has_cactus"]) == {"0.750000"}


def test_zero_padded_ids_are_submitted_as_the_sample_spells_them(project, dogs_dir):
    data = cactus(project / "padded", dogs_dir, padded=True)
    comp = infer_definition(data, "padded").competition
    assert comp.submission.id_format == "stem"
    _, test, catalog = catalog_rows(comp, data)
    assert test == ["0001", "0002", "0003", "0004", "0005", "0006", "0007", "0008"]
    submission = build_submission(comp, list(catalog.test["id"]), np.full((8, 2), 0.5), read_sample(comp, data))
    assert list(submission["id"]) == list(pd.read_csv(data / "sample_submission.csv", dtype=str)["id"])


def test_one_probability_column_that_names_no_class_is_a_warned_guess(project, dogs_dir, tmp_path):
    redux = project / "redux"
    redux.mkdir()
    for name in ("train.zip", "test1.zip"):
        (redux / name).symlink_to(dogs_dir / name)  # the real photos, not copied
    (redux / "sample_submission.csv").write_text("id,label\n" + "".join(f"{i},0.5\n" for i in range(1, 1001)))
    inferred = infer_definition(redux, "redux")
    comp, shipped = inferred.competition, load_competition("dogs-vs-cats-redux-kernels-edition")
    assert comp.submission.kind == shipped.submission.kind == "probability"
    assert comp.submission.positive_class == shipped.submission.positive_class == "dog"
    assert comp.metric == "log_loss" and comp.submission.clip == shipped.submission.clip == (0.005, 0.995)
    assert any("positive_class" in w for w in inferred.warnings)


# -- what cannot be decided ------------------------------------------------------------------------------------

def two_label_columns(root: Path) -> None:
    breeds(root, extra_columns={"color": ["black", "white"] * 9}, sample_column="label")


def mixed_file_names(root: Path) -> None:
    draw(root / "train", [f"cat.{i}.png" for i in range(6)] + [f"dog.{i}.png" for i in range(6)] + ["img_5.png"])
    draw(root / "test", ["1.png", "2.png"])
    (root / "sample_submission.csv").write_text("id,label\n1,0\n2,0\n")


def two_samples(root: Path) -> None:
    mixed_file_names(root)
    (root / "train" / "img_5.png").unlink()
    (root / "sample_submission_v2.csv").write_text("id,label\n1,0\n2,0\n")


def two_training_sets(root: Path) -> None:
    draw(root / "train_a", [f"cat.{i}.png" for i in range(6)] + [f"dog.{i}.png" for i in range(6)])
    draw(root / "train_b", [f"cat.{i}.png" for i in range(6, 12)] + [f"dog.{i}.png" for i in range(6, 12)])
    draw(root / "test", ["1.png", "2.png"])
    (root / "sample_submission.csv").write_text("id,label\n1,0\n2,0\n")


@pytest.mark.parametrize("layout, key, candidates", [
    (two_label_columns, "labels.label_column", ["'breed' (3 values)", "'color' (2 values)"]),
    (mixed_file_names, "labels.pattern", ["12 of 13", "cat, dog", "img_5.png"]),
    (two_samples, "files.sample_submission", ["sample_submission.csv", "sample_submission_v2.csv"]),
    (two_training_sets, "files.train", ["train_a", "train_b"]),
])
def test_an_open_question_stops_with_the_candidates_and_writes_nothing(project, cli, layout, key, candidates):
    layout(project / "data" / "open")
    code, out, err = cli("init", "-c", "open")
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert f"cannot infer {key}:" in err and all(c in err for c in candidates)
    assert f"--set {key}=VALUE" in err and "kagglekit init -c open" in err
    assert not (project / "competitions" / "open").exists()


def test_set_settles_the_question(project, cli):
    two_label_columns(project / "data" / "breeds")
    code, out, err = cli("init", "-c", "breeds", "--set", "labels.label_column=breed", "--set", "metric=log_loss",
                         "--set", "train.epochs=5")
    assert code == 0, err
    comp = load_competition("breeds")
    assert comp.labels.label_column == "breed" and comp.metric == "log_loss" and comp.train_defaults["epochs"] == 5
    assert 'label_column = "breed"         # set by you (--set)' in comp.source.read_text()
    assert "wrote it to competitions/breeds/competition.toml" in out and "kagglekit train -c breeds" in out

    code, _, err = cli("init", "-c", "breeds", "--set", "labels.colour=x")
    assert code == 1 and "is not KEY=VALUE with a key of the competition file" in err

    mixed_file_names(project / "data" / "mixed")
    (project / "data" / "mixed" / "train" / "img_5.png").rename(project / "data" / "mixed" / "train" / "dog_5.png")
    code, out, err = cli("init", "-c", "mixed", "--set", r"labels.pattern=^(?P<label>cat|dog)[._]")
    assert code == 0, err
    catalog = build_catalog(load_competition("mixed"), project / "data" / "mixed")
    assert np.bincount(catalog.train["label"]).tolist() == [6, 7]


def test_an_existing_definition_is_replaced_only_with_force(project, cli, dogs_dir):
    code, _, err = cli("init", "-c", "dogs-vs-cats", "--data-dir", dogs_dir)
    assert code == 1 and "already has a definition" in err and "--force" in err
    assert not (project / "competitions" / "dogs-vs-cats").exists()
    code, out, err = cli("init", "-c", "dogs-vs-cats", "--data-dir", dogs_dir, "--force")
    assert code == 0, err
    written = project / "competitions" / "dogs-vs-cats" / "competition.toml"
    assert load_competition("dogs-vs-cats").source.resolve() == written  # local definitions win over shipped ones
    assert "check: metric" in err  # what to check goes to stderr, the definition to stdout
    written.write_text(written.read_text().replace('"medium"', '"light"'))
    code, _, err = cli("init", "-c", "dogs-vs-cats", "--data-dir", dogs_dir)
    assert code == 1 and "competitions/dogs-vs-cats/competition.toml" in err and '"light"' in written.read_text()
    code, _, err = cli("init", "-c", "dogs-vs-cats", "--data-dir", dogs_dir, "--force")
    assert code == 0 and '"medium"' in written.read_text()


def test_settings_and_toml_values(project):
    assert parse_settings(["labels.classes=[\"b\", \"a\"]", "labels.label_column=1", "train.image_size=64",
                           "submission.clip=[0.01, 0.99]", "title=A \"quoted\" name"]) == {
        "labels.classes": ["b", "a"], "labels.label_column": "1", "train.image_size": 64,
        "submission.clip": [0.01, 0.99], "title": 'A "quoted" name'}
    for value in ["plain", "it's", r"a\b", "ünïcödé", 'quote " and \\', "tab\tand\x7fdel", 0.001, 1e-05, 3, True, ["x", 2]]:
        assert tomllib.loads(f"v = {toml_value(value)}")["v"] == value


def test_no_images_and_a_download_left_zipped_are_clear(project):
    (project / "empty").mkdir()
    with pytest.raises(KagglekitError, match="no folder or zip of JPEG or PNG images"):
        infer_definition(project / "empty", "x")
    zipped = project / "zipped"
    zipped.mkdir()
    with zipfile.ZipFile(zipped / "x.zip", "w") as zf:
        zf.writestr("sample_submission.csv", "id,label\n")
    with pytest.raises(KagglekitError, match="only the archive x.zip: unzip it"):
        infer_definition(zipped, "x")


# -- through Kaggle: fetch, the sandbox ----------------------------------------------------------------------

def served_cactus(root: Path, dogs_dir: Path, slug: str = "sunny-cactus") -> Path:
    """A competition the sandbox serves from its own (never served) competition.toml; kagglekit ships none."""
    data = cactus(root / slug, dogs_dir)
    (data / "competition.toml").write_text(
        f'slug = "{slug}"\ntitle = "Sunny Cactus"\nmetric = "roc_auc"\n'
        '[files]\ntrain = "train.zip"\ntest = "test.zip"\nsample_submission = "sample_submission.csv"\n'
        'unpack = ["train.zip", "test.zip"]\n'
        '[labels]\nsource = "csv"\nfile = "train.csv"\nlabel_column = "has_cactus"\nclasses = ["0", "1"]\n'
        '[submission]\nkind = "probability"\nlabel_column = "has_cactus"\nid_format = "name"\npositive_class = "1"\n')
    return data


def test_fetch_of_a_new_competition_infers_its_definition_and_trains(project, cli, make_sandbox, dogs_dir, tmp_path):
    make_sandbox(served_cactus(tmp_path / "served", dogs_dir))
    code, out, err = cli("fetch", "-c", "sunny-cactus", "-q")
    assert code == 0, err
    assert "fetched sunny-cactus" in out and "unpacked train.zip, test.zip" in out
    target = project / "competitions" / "sunny-cactus" / "competition.toml"
    assert f"wrote it to {Path('competitions/sunny-cactus/competition.toml')}" in out and "Check it against" in out
    assert target.read_text() in out  # the definition is shown as written
    comp = load_competition_file(target)
    assert comp.metric == "roc_auc" and comp.title == "Sunny Cactus"  # from Kaggle's record, not a guess
    assert "Kaggle's record: 'Area Under Receiver Operating Characteristic Curve'" in target.read_text()
    assert (comp.submission.kind, comp.submission.id_format, comp.submission.positive_class) == ("probability", "name", "1")
    data = project / "data" / "sunny-cactus"
    assert (data / "train").is_dir() and (data / "test").is_dir() and not (data / "solution.csv").exists()

    code, out, err = cli("fetch", "-c", "sunny-cactus", "-q")  # the definition exists now: the usual path
    assert code == 0 and "up to date" in out and "nothing downloaded" in out

    code, out, err = cli("train", "-c", "sunny-cactus", "--sample", "20", *TINY, "--no-report")
    assert code == 0, err
    assert "OOF roc_auc:" in out
    run = Path(out.split("run folder: ")[1].split()[0])
    code, out, err = cli("predict", "-c", "sunny-cactus", "--run-dir", run, "--tta", "1")
    assert code == 0, err
    code, out, err = cli("validate", run / "submission.csv", "-c", "sunny-cactus")
    assert code == 0 and "valid submission for sunny-cactus (8 rows)" in out
    code, out, err = cli("submit", run / "submission.csv", "-c", "sunny-cactus", "-m", "inferred", "--wait")
    assert code == 0, err
    assert re.search(r"public score: [01]\.\d{5}", out)


def test_fetch_that_cannot_infer_keeps_the_files_for_init(project, cli, make_sandbox, tmp_path):
    served = tmp_path / "served" / "open-breeds"
    two_label_columns(served)
    (served / "competition.toml").write_text(
        'slug = "open-breeds"\nmetric = "accuracy"\n[files]\ntrain = "train"\ntest = "test"\n'
        'sample_submission = "sample_submission.csv"\n[labels]\nsource = "csv"\nfile = "labels.csv"\n'
        'label_column = "breed"\nclasses = ["beagle", "husky", "pug"]\n[submission]\nlabel_format = "name"\n')
    make_sandbox(served)
    code, out, err = cli("fetch", "-c", "open-breeds", "-q")
    assert code == 1 and "cannot infer labels.label_column" in err
    assert "kagglekit init -c open-breeds --set labels.label_column=VALUE" in err
    assert not (project / "competitions" / "open-breeds").exists()
    labels = project / "data" / "open-breeds" / "labels.csv"
    before = labels.stat().st_mtime_ns
    code, out, err = cli("init", "-c", "open-breeds", "--set", "labels.label_column=breed")
    assert code == 0, err
    assert load_competition("open-breeds").metric == "accuracy"  # a guess from the sample: init reads no record
    code, out, err = cli("fetch", "-c", "open-breeds", "-q")
    assert code == 0 and "up to date" in out and labels.stat().st_mtime_ns == before


def test_fetch_without_the_record_guesses_the_metric_and_says_so(project, cli, make_sandbox, dogs_dir, tmp_path):
    sandbox = make_sandbox(served_cactus(tmp_path / "served", dogs_dir))
    sandbox.faults.set(fail=100, status=503, only="ListCompetitions")
    code, out, err = cli("fetch", "-c", "sunny-cactus", "-q")
    assert code == 0, err
    assert "could not read the competition's record" in err and "check: metric" in err
    comp = load_competition("sunny-cactus")
    assert comp.metric == "log_loss" and comp.submission.clip == (0.005, 0.995)  # the probability kind's usual metric
    assert "a guess from the submission kind (no record of the competition); check it" in comp.source.read_text()


def test_fetch_of_an_unknown_slug_is_a_404_and_writes_nothing(project, cli, sandbox):
    code, out, err = cli("fetch", "-c", "no-such-competition", "-q")
    assert code == 1 and "Kaggle has no competition 'no-such-competition' (404" in err and "check the slug" in err
    assert not (project / "competitions" / "no-such-competition").exists()


def test_sandbox_refuses_a_folder_whose_definition_stays_open(project, cli, tmp_path):
    two_label_columns(tmp_path / "open-breeds")
    code, out, err = cli("sandbox", "--port", "0", "--state", tmp_path / "state", "--data", tmp_path / "open-breeds")
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "cannot infer labels.label_column" in err and "'breed'" in err and "'color'" in err
    assert f"kagglekit init -c open-breeds --data-dir {tmp_path / 'open-breeds'} --set labels.label_column=VALUE" in err


def test_sandbox_serves_a_folder_without_definition(project, make_sandbox, dogs_dir, tmp_path, monkeypatch, caplog,
                                                    run_kaggle):
    from kagglekit.kaggle.new_competition import competition_record

    data = cactus(tmp_path / "served" / "bare-cactus", dogs_dir)
    monkeypatch.setattr(logging.getLogger("kagglekit"), "propagate", True)
    with caplog.at_level(logging.INFO, logger="kagglekit"):
        sandbox = make_sandbox(data)
    assert "bare-cactus has no competition definition; serving it as bare-cactus" in caplog.text
    assert 'label_column = "has_cactus"' in caplog.text and "check submission" not in caplog.text
    comp = sandbox.bundles["bare-cactus"].comp
    assert comp.submission.kind == "probability" and comp.files.solution == "solution.csv"
    assert comp.metric == "log_loss"  # no record to read in the sandbox: the probability kind's metric

    record = competition_record("bare-cactus")
    assert record["evaluation_metric"] == ""  # the inferred log loss is a guess, never served as Kaggle's record
    assert record["url"] == "https://www.kaggle.com/competitions/bare-cactus"
    result = run_kaggle("competitions", "list", "-s", "cactus", "--csv")
    assert result.returncode == 0, result.stderr
    assert "https://www.kaggle.com/competitions/bare-cactus" in result.stdout and "demo-digits" not in result.stdout
