"""The catalog: a competition's files turned into checked tables of (id, path, label).

Everything that can go wrong with the data is found here, before training
starts: missing files, unlabelled images, unknown classes, duplicate ids,
test ids the sample submission expects but the test set lacks, and images
that cannot be used: not an image, too large (above MAX_PIXELS), or not
decodable (left out of training, or predicted with the class prior at test
time, and named in a warning with the reason either way).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from kagglekit.competition.definition import Competition
from kagglekit.core.archive import extract_once
from kagglekit.core.atomic import write_json
from kagglekit.core.errors import KagglekitError
from kagglekit.core.files import IMAGE_SUFFIXES, list_images, read_csv_text

log = logging.getLogger("kagglekit")

DECODABLE_FORMATS = {"JPEG", "PNG", "MPO"}  # what tf.io.decode_image reads as JPEG/PNG


@dataclass
class Catalog:
    """Checked train and test tables of one competition's files."""

    competition: Competition
    train: pd.DataFrame  # columns: id, path, label (class index)
    test: pd.DataFrame  # columns: id (as submitted), path, readable (bool)
    skipped_train: list[str] = field(default_factory=list)  # undecodable, left out

    @property
    def class_prior(self) -> np.ndarray:
        """Share of each class among the training images."""
        counts = np.bincount(self.train["label"].to_numpy(), minlength=self.competition.n_classes)
        return counts / max(counts.sum(), 1)


def cache_dir() -> Path:
    """Where kagglekit keeps extracted archives and check results (KAGGLEKIT_CACHE)."""
    return Path(os.environ.get("KAGGLEKIT_CACHE", Path.home() / ".cache" / "kagglekit"))


def resolve_data_dir(comp: Competition, data_dir: Path | None = None) -> Path:
    """Where COMP's files are: DATA_DIR, or data/<slug> (where `kagglekit fetch` puts them); the built-in demo
    writes its files there on first use."""
    from kagglekit.competition import demo
    from kagglekit.core.config import default_data_dir

    path = Path(data_dir) if data_dir is not None else default_data_dir(comp.slug)
    if comp.slug == demo.SLUG and data_dir is None and not path.exists():
        demo.write_demo_competition(path)
    return path


def extraction_dir(zip_path: Path) -> Path:
    """Where archive ZIP_PATH is extracted in the cache: a folder named after it, under a key made of the
    archive's path, size and modification time (a changed archive is extracted again)."""
    path = Path(zip_path)
    st = path.stat()
    key = hashlib.sha1(f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:16]
    return cache_dir() / "extracted" / key / path.with_suffix("").name


def resolve_source(data_dir: Path, name: str, comp: Competition) -> Path:
    """The folder holding the images of NAME: a folder, or a zip extracted once."""
    path = Path(data_dir) / name
    if path.is_dir():
        return path
    beside = path.with_suffix("")
    if path.suffix.lower() == ".zip" and beside.is_dir():  # unpacked already (by `kagglekit fetch` or by hand)
        return beside
    if path.suffix.lower() == ".zip" and path.is_file():
        log.info("extracting %s (once) into the cache", path.name)
        return extract_once(path, extraction_dir(path))
    raise KagglekitError(
        f"{path} not found; run 'kagglekit fetch -c {comp.slug}' or pass --data-dir with the competition's files"
    )


def image_id(path: Path, id_format: str) -> str:
    """The id a file is known by: its name without extension (stem) or with it (name)."""
    return path.stem if id_format == "stem" else path.name


def _labels_from_filenames(comp: Competition, paths: list[Path]) -> list[str]:
    pattern = re.compile(comp.labels.pattern)
    labels, unlabelled = [], []
    for p in paths:
        m = pattern.search(p.name)
        labels.append(m.group("label") if m else None)
        if not m:
            unlabelled.append(p.name)
    if unlabelled:
        raise KagglekitError(
            f"{len(unlabelled)} training files have no label matching labels.pattern "
            f"'{comp.labels.pattern}' (first: {unlabelled[0]}); fix the pattern or remove them"
        )
    return labels


def read_sample(comp: Competition, data_dir: Path) -> pd.DataFrame | None:
    """The competition's sample submission as text cells, or None when it has none."""
    if not comp.files.sample_submission:
        return None
    path = Path(data_dir) / comp.files.sample_submission
    if not path.is_file():
        raise KagglekitError(
            f"sample submission {path} not found; run 'kagglekit fetch -c {comp.slug}' or pass --data-dir"
        )
    return read_csv_text(path, "sample submission")


def _labels_from_csv(comp: Competition, data_dir: Path, paths: list[Path]) -> list[str]:
    spec = comp.labels
    table = read_csv_text(Path(data_dir) / spec.file, "labels file")
    for col in (spec.id_column, spec.label_column):
        if col not in table.columns:
            raise KagglekitError(
                f"labels file {spec.file} has no column '{col}' (columns: {', '.join(table.columns)}); "
                "fix labels.id_column / labels.label_column"
            )
    ids = table[spec.id_column].astype(str)
    dup = ids[ids.duplicated()]
    if len(dup):
        raise KagglekitError(f"id {dup.iloc[0]} appears more than once in {spec.file}; each image needs one label")
    # Ids may be written with or without the extension: match the way the CSV does it.
    with_ext = ids.map(lambda s: Path(s).suffix.lower() in IMAGE_SUFFIXES).all()
    by_id = dict(zip(ids, table[spec.label_column].astype(str)))
    keys = [p.name if with_ext else p.stem for p in paths]
    missing = [k for k in keys if k not in by_id]
    if missing:
        raise KagglekitError(
            f"{len(missing)} training images have no row in {spec.file} (first: {missing[0]}); "
            "add their labels or remove the files"
        )
    orphans = set(by_id) - set(keys)
    if orphans:
        raise KagglekitError(
            f"{len(orphans)} ids in {spec.file} have no image in the train files (first: {sorted(orphans)[0]}); "
            "check that the data folder is complete"
        )
    return [by_id[k] for k in keys]


def build_train_table(comp: Competition, data_dir: Path) -> pd.DataFrame:
    """Training images with their class index, checked against the definition."""
    root = resolve_source(data_dir, comp.files.train, comp)
    paths = list_images(root)
    if not paths:
        raise KagglekitError(f"no JPEG or PNG images found in {root}; check files.train in the competition file")
    source = comp.labels.source
    if source == "filename":
        names = _labels_from_filenames(comp, paths)
    elif source == "csv":
        names = _labels_from_csv(comp, data_dir, paths)
    else:
        names = [p.parent.name for p in paths]
    classes = comp.labels.classes
    unknown = sorted({n for n in names if n not in classes})
    if unknown:
        raise KagglekitError(
            f"training label '{unknown[0]}' is not one of labels.classes ({', '.join(classes)}); "
            "add it to the competition file or fix the labels"
        )
    table = pd.DataFrame(
        {
            "id": [image_id(p, comp.submission.id_format) for p in paths],
            "path": [str(p) for p in paths],
            "label": [classes.index(n) for n in names],
        }
    )
    _refuse_duplicates(table, "training")
    counts = np.bincount(table["label"], minlength=len(classes))
    empty = [classes[i] for i, c in enumerate(counts) if c == 0]
    if empty:
        raise KagglekitError(f"class '{empty[0]}' has no training images; remove it from labels.classes or add images")
    return table


def _refuse_duplicates(table: pd.DataFrame, what: str) -> None:
    dup = table[table["id"].duplicated(keep=False)]
    if len(dup):
        first = dup["id"].iloc[0]
        files = ", ".join(Path(p).name for p in dup[dup["id"] == first]["path"])
        raise KagglekitError(f"{what} id '{first}' is used by more than one file ({files}); ids must be unique")


def build_test_table(comp: Competition, data_dir: Path, sample: pd.DataFrame | None) -> pd.DataFrame:
    """Test images with the id they are submitted under, checked against the sample submission."""
    root = resolve_source(data_dir, comp.files.test, comp)
    paths = list_images(root)
    table = pd.DataFrame({"id": [image_id(p, comp.submission.id_format) for p in paths], "path": [str(p) for p in paths]})
    _refuse_duplicates(table, "test")
    if sample is not None:
        missing = sorted(set(sample[comp.submission.id_column]) - set(table["id"]))
        ignored = _ignored_files(root, comp.submission.id_format)
        other = [ignored.get(i) or ignored[Path(i).stem] for i in missing if i in ignored or Path(i).stem in ignored]
        if other:  # there, but in a format the catalog does not read: "fetch again" would not help
            raise KagglekitError(
                f"{len(other)} test images are in a format kagglekit does not read (first: {other[0].name}; JPEG and "
                "PNG only); convert them to PNG (e.g. with Pillow) under the same names and run again"
            )
        if missing:
            raise KagglekitError(
                f"{len(missing)} test ids of the sample submission have no image (first: {missing[0]}); "
                "the test files are incomplete: fetch again with --force"
            )
        table = table[table["id"].isin(set(sample[comp.submission.id_column]))].reset_index(drop=True)
    return table


def _ignored_files(root: Path, id_format: str) -> dict[str, Path]:
    """Id -> file for the files below ROOT that are not images the catalog reads (e.g. .gif, .bmp, .webp)."""
    found = {}
    for p in root.rglob("*"):
        if p.is_file() and p.suffix.lower() not in IMAGE_SUFFIXES and not p.name.startswith("."):
            found[p.stem if id_format == "stem" else p.name] = p
            found.setdefault(p.stem, p)  # a 7.gif where the sample expects 7.jpg is that image
    return found


# Above this an image is refused before decoding: a 13,000 x 13,000 PNG of 20 KB decodes to half a gigabyte.
MAX_PIXELS = 50_000_000


def _check_image(path: str) -> str | None:
    """None when PATH decodes as a JPEG or PNG, else why it is left out: not an image, too large, or undecodable."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            if im.format not in DECODABLE_FORMATS:
                return f"not an image kagglekit reads (a {im.format} file; JPEG and PNG only)"
            width, height = im.size
            if width * height > MAX_PIXELS:  # the header says so: nothing is decoded
                return f"too large ({width}x{height} pixels, above the {MAX_PIXELS // 1_000_000}-megapixel limit)"
            im.draft("RGB", (64, 64))  # DCT-scaled decode: every byte is still read, at a fraction of the cost
            im.load()
    except UnidentifiedImageError:
        return "not an image (no JPEG or PNG data)"
    except Exception as exc:  # noqa: BLE001 - any decoder failure means "unreadable"
        return f"cannot decode ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
    return None


def find_unreadable(paths: list[str]) -> dict[str, str]:
    """Path -> reason for every image that cannot be decoded; results are cached per file."""
    key = hashlib.sha1(b"reasons-v2")  # the reasons' wording is part of what is cached
    stats = []
    for p in paths:
        try:
            st = os.stat(p)
            stats.append((p, st.st_size, st.st_mtime_ns))
        except OSError:
            stats.append((p, -1, -1))
    key.update(json.dumps(stats).encode())
    memo = cache_dir() / "checked" / f"{key.hexdigest()[:20]}.json"
    if memo.is_file():
        try:
            return json.loads(memo.read_text())
        except (OSError, ValueError):  # a damaged memo is only a lost shortcut: check again
            pass
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        reasons = list(pool.map(_check_image, paths))
    bad = {p: r for p, r in zip(paths, reasons) if r is not None}
    write_json(memo, bad)
    return bad


def _named(bad: dict[str, str], paths, limit: int = 5) -> str:
    """'a.jpg (why), b.png (why) and N more' for the PATHS among BAD."""
    items = [f"{Path(p).name} ({bad[p]})" for p in paths]
    return ", ".join(items[:limit]) + (f" and {len(items) - limit} more" if len(items) > limit else "")


def build_catalog(comp: Competition, data_dir: Path, with_test: bool = True) -> Catalog:
    """Read, label and check a competition's train (and test) images."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise KagglekitError(
            f"data folder {data_dir} does not exist; run 'kagglekit fetch -c {comp.slug}' or pass --data-dir"
        )
    train = build_train_table(comp, data_dir)
    test = pd.DataFrame({"id": [], "path": []})
    if with_test:
        test = build_test_table(comp, data_dir, read_sample(comp, data_dir))
    log.info("checking %d images", len(train) + len(test))
    bad = find_unreadable(list(train["path"]) + list(test["path"]))
    skipped = [p for p in train["path"] if p in bad]
    if skipped:
        log.warning("%d training images are left out: %s", len(skipped), _named(bad, skipped))
        train = train[~train["path"].isin(bad)].reset_index(drop=True)
    test["readable"] = ~test["path"].isin(bad)
    if (~test["readable"]).any():
        unreadable = test.loc[~test["readable"], "path"]
        log.warning("%d test images cannot be read; they get the class prior in the submission: %s",
                    len(unreadable), _named(bad, unreadable))
    catalog = Catalog(comp, train, test, skipped)
    counts = np.bincount(train["label"], minlength=comp.n_classes)
    if (counts == 0).any():
        empty = comp.labels.classes[int(np.argmin(counts))]
        raise KagglekitError(f"class '{empty}' has no readable training images; replace the broken files")
    return catalog


def build_test_catalog(comp: Competition, data_dir: Path, train_labels) -> Catalog:
    """The test images alone, checked as build_catalog checks them, for predicting with folds trained elsewhere
    (an inference kernel reads no training image). TRAIN_LABELS, class indices such as a run's out-of-fold
    labels, give the class prior that test images which cannot be read are predicted with."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise KagglekitError(f"data folder {data_dir} does not exist; attach the competition {comp.slug} as an input")
    test = build_test_table(comp, data_dir, read_sample(comp, data_dir))
    bad = find_unreadable(list(test["path"]))
    test["readable"] = ~test["path"].isin(bad)
    if (~test["readable"]).any():
        unreadable = test.loc[~test["readable"], "path"]
        log.warning("%d test images cannot be read; they get the class prior in the submission: %s",
                    len(unreadable), _named(bad, unreadable))
    labels = np.asarray(list(train_labels), dtype=int)
    return Catalog(comp, pd.DataFrame({"id": [""] * len(labels), "path": [""] * len(labels), "label": labels}), test)
