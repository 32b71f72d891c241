"""Infer a competition definition from Kaggle's files, so that any image competition works from its name alone.

Given a folder laid out as Kaggle ships a competition (zips included) and,
when known, the competition's record from Kaggle's listing, this works out
what a competition TOML file says: where the training and test images are,
where the labels come from (kagglekit.competition.labels), the classes, the
submission's layout and id spelling, the metric, and ``[train]`` defaults
sized to the images. Each value is written with a comment saying what it
was inferred from. A choice the files do not settle (two candidate label
columns, mixed file names) stops with one line naming the candidates and the
TOML key that settles it, and nothing is written.
"""

from __future__ import annotations

import contextlib
import re
import statistics
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterable

from kagglekit.competition.definition import Competition, known_competitions, parse_competition
from kagglekit.competition.labels import ImageSet, Undecided, infer_labels, names, natural
from kagglekit.competition.toml import Draft, definition_target, write_definition
from kagglekit.core.errors import KagglekitError
from kagglekit.core.files import is_listed_image, list_images

SIZE_PROBES = 64  # training images whose size is read to size the [train] table
SMALL_IMAGE = 64  # px: images this small are digits, characters or icons rather than photos
# Words in a class name that say a mirrored image may belong to another class.
SIDED_WORDS = {"left", "right", "mirror", "mirrored", "flipped", "clockwise", "anticlockwise", "counterclockwise"}


@dataclass(frozen=True)
class InferredDefinition:
    """An inferred competition definition: parsed and checked, its commented TOML, and what to check."""

    competition: Competition
    text: str
    warnings: tuple[str, ...] = ()


def has_definition(name: str) -> bool:
    """True when NAME is a path to a .toml file or a slug kagglekit has a definition for."""
    return name.endswith(".toml") or "/" in name or name in known_competitions()


# -- the files ---------------------------------------------------------------

def _zip_images(path: Path) -> list[PurePosixPath]:
    try:
        with zipfile.ZipFile(path) as zf:
            members = zf.namelist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise KagglekitError(f"{path} is not a readable zip ({exc}); delete it and fetch again") from None
    return [PurePosixPath(n) for n in members if not n.endswith("/") and is_listed_image(PurePosixPath(n))]


def scan(data_dir: Path, exclude: Iterable[str] = ()) -> tuple[list[ImageSet], list[str]]:
    """The image sets (folders and zips holding images) and the CSV files at the top of DATA_DIR.

    A folder beside a zip of the same name is that zip unpacked, so the two count once, as the zip.
    """
    data_dir, exclude = Path(data_dir), set(exclude)
    if not data_dir.is_dir():
        raise KagglekitError(f"data folder {data_dir} does not exist; run 'kagglekit fetch' or pass --data-dir")
    sets, csvs = [], []
    for entry in sorted(data_dir.iterdir()):
        if entry.name.startswith(".") or entry.name in exclude:
            continue
        if entry.is_dir():
            images = [PurePosixPath(p.relative_to(entry).as_posix()) for p in list_images(entry)]
        elif entry.suffix.lower() == ".zip":
            images = _zip_images(entry)
        else:
            if entry.suffix.lower() == ".csv":
                csvs.append(entry.name)
            continue
        if images:
            sets.append(ImageSet(entry.name, tuple(images), entry.is_file()))
    zipped = {Path(s.name).stem for s in sets if s.archive}
    return [s for s in sets if s.archive or s.name not in zipped], csvs


def image_archives(data_dir: Path) -> list[str]:
    """The zips at the top of DATA_DIR that hold images: the nested archives a fetch unpacks."""
    return [s.name for s in scan(data_dir)[0] if s.archive]


def _no_images(data_dir: Path) -> KagglekitError:
    archives = [p.name for p in sorted(Path(data_dir).glob("*.zip"))]
    if archives:
        return KagglekitError(f"no images in {data_dir}, only the archive {names(archives)}: unzip it there "
                              "(the download of the kaggle CLI is one zip), or use 'kagglekit fetch'")
    return KagglekitError(f"no folder or zip of JPEG or PNG images in {data_dir}; pass --data-dir with the competition's files")


# -- where things are --------------------------------------------------------

def _choose_sample(draft: Draft, data_dir: Path, csvs: list[str]) -> str | None:
    given = draft.given("files.sample_submission")
    if given:
        if not (data_dir / given).is_file():
            raise KagglekitError(f"files.sample_submission = '{given}' is not a file in {data_dir}")
        return given
    named = [c for c in csvs if "sample" in c.lower() or "submission" in c.lower()]
    both = [c for c in named if "sample" in c.lower() and "submission" in c.lower()]
    named = both if len(both) == 1 else named
    if len(named) > 1:
        raise Undecided("files.sample_submission", f"{len(named)} CSV files could be the sample submission: {names(named)}")
    if not named:
        draft.warn(f"no sample submission among the CSV files ({names(csvs) or 'none'}): the submission layout is a guess")
        return None
    draft.put("files.sample_submission", named[0], "the only CSV named like a sample submission")
    return named[0]


def _id_format(image_set: ImageSet, ids: set[str]) -> str | None:
    for fmt in ("stem", "name"):
        if ids and ids <= image_set.keys(fmt):
            return fmt
    return None


def _given_set(draft: Draft, key: str, sets: list[ImageSet]) -> list[ImageSet]:
    given = draft.given(key)
    pool = [s for s in sets if s.name == given] if given else sets
    if given and not pool:
        raise KagglekitError(f"{key} = '{given}' is no folder or zip of images here; they are: {names(s.name for s in sets)}")
    return pool


def _choose_test(draft: Draft, sets: list[ImageSet], ids: set[str] | None) -> tuple[ImageSet, str]:
    pool = _given_set(draft, "files.test", sets)
    if ids is None:  # no sample submission: go by the name
        named = [s for s in pool if "test" in s.name.lower()]
        if len(named or pool) != 1:
            raise Undecided("files.test", f"{len(named or pool)} folders or zips could hold the test images: "
                                          f"{names(s.name for s in named or pool)}")
        test = (named or pool)[0]
        draft.put("files.test", test.name, f"{len(test.images)} images, the image set named test (no sample submission)")
        return test, "stem"
    matching = [s for s in pool if _id_format(s, ids)]
    named = [s for s in matching if "test" in s.name.lower()]
    matching = named if len(matching) > 1 and len(named) == 1 else matching
    if len(matching) > 1:
        raise Undecided("files.test", f"{len(matching)} image sets have a file for every id of the sample "
                                      f"submission: {names(s.name for s in matching)}")
    if not matching:
        first = sorted(ids, key=natural)[0]
        example = next((s for s in pool if "test" in s.name.lower()), pool[0]).images[0].name
        raise KagglekitError(f"the sample submission's ids (first: '{first}') are no image set's file names, with or "
                             f"without the extension (e.g. '{example}'); kagglekit submits the sample's ids, so it "
                             "needs test files named after them: check the data folder")
    test = matching[0]
    draft.put("files.test", test.name, f"{len(test.images)} images, named after the sample submission's ids")
    return test, _id_format(test, ids)


def _choose_train(draft: Draft, sets: list[ImageSet], test: ImageSet) -> ImageSet:
    if draft.given("files.train"):
        return _given_set(draft, "files.train", sets)[0]
    rest = [s for s in sets if s is not test]
    named = [s for s in rest if "train" in s.name.lower()]
    exact = [s for s in named if Path(s.name).stem.lower() == "train"]
    pool = exact if len(exact) == 1 else (named or rest)
    if not pool:
        raise KagglekitError(f"no training images: {test.name} is the only folder or zip of images; check the data folder")
    if len(pool) > 1:
        raise Undecided("files.train", f"{len(pool)} folders or zips could hold the training images: {names(s.name for s in pool)}")
    why = "the image set named train" if named else "the image set that is not the test set"
    draft.put("files.train", pool[0].name, f"{len(pool[0].images)} images, {why}")
    return pool[0]


def _archives(draft: Draft, data_dir: Path, train: ImageSet, test: ImageSet) -> None:
    archives = [s.name for s in (train, test) if s.archive]
    if archives:
        draft.put("files.unpack", sorted(set(archives), key=archives.index), "zips of images in the download: fetch unpacks them")
    if (data_dir / "solution.csv").is_file():
        draft.put("files.solution", "solution.csv", "sealed answers: only the sandbox's scorer reads them")


# -- classes, submission, metric ---------------------------------------------

def _classes(draft: Draft, seen: set[str], value_columns: list[str]) -> list[str]:
    if draft.given("labels.classes"):
        return list(draft.given("labels.classes"))
    if len(seen) < 2:
        raise KagglekitError(f"the training labels hold {len(seen)} class ({names(seen)}); a classifier needs two or more")
    if len(value_columns) > 1:
        if set(value_columns) != seen:
            raise Undecided("labels.classes", f"the sample submission's columns ({names(value_columns)}) are not "
                                              f"the training labels ({names(sorted(seen, key=natural))})")
        draft.put("labels.classes", value_columns, "the sample submission's columns, in its order")
        return value_columns
    classes = sorted(seen, key=natural)
    draft.put("labels.classes", classes, "the training labels, sorted: the order gives the class index")
    return classes


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _submission_kind(draft: Draft, sample, classes: list[str], metric: str | None) -> str:
    value_columns = list(sample.columns[1:])
    if draft.given("submission.kind"):
        draft.put("submission.kind", None, "")
        return draft.given("submission.kind")
    if len(value_columns) > 1:
        draft.put("submission.kind", "class_columns", "the sample submission has one column per class")
        return "class_columns"
    if not value_columns:
        raise KagglekitError("the sample submission has no column besides the id; check it or --set submission.kind")
    values = set(sample[value_columns[0]])
    if values and all(_is_number(v) for v in values) and any(not float(v).is_integer() for v in values):
        draft.put("submission.kind", "probability", "the sample submission has one column of fractions")
        return "probability"
    if values and values <= set(classes) and not all(v.isdigit() for v in values):
        draft.put("submission.kind", "label", "the sample submission has one column of class names")
        return "label"
    if metric in ("log_loss", "roc_auc") and len(classes) == 2:
        draft.put("submission.kind", "probability", f"one column of whole numbers, scored by {metric}: a probability")
        return "probability"
    draft.put("submission.kind", "label", "the sample submission has one column of whole numbers")
    return "label"


def _submission(draft: Draft, sample_name: str | None, sample, classes: list[str], metric: str | None,
                id_format: str) -> str:
    if sample is None:
        kind = draft.given("submission.kind") or "label"
        draft.put("submission.kind", kind, "no sample submission: a guess, check it")
        columns, example = ["id", "label"], "1"
    else:
        kind = _submission_kind(draft, sample, classes, metric)
        columns, example = list(sample.columns), str(sample.iloc[0, 0]) if len(sample) else "1"
    where = sample_name or "no sample submission"
    draft.put("submission.id_column", columns[0], f"{where}: its first column")
    if id_format == "stem":
        padded = " (zero padding kept: ids are copied from the sample)" if re.fullmatch(r"0\d+", example) else ""
        draft.put("submission.id_format", "stem", f"ids are the test file names without the extension, e.g. {example}{padded}")
    else:
        draft.put("submission.id_format", "name", f"ids are the test file names with the extension, e.g. {example}")
    if kind in ("label", "probability"):
        draft.put("submission.label_column", columns[1] if len(columns) > 1 else "label", f"{where}: its value column")
    if kind == "label":
        _label_format(draft, set(sample[columns[1]]) if sample is not None else set(), classes)
    if kind == "probability":
        _positive_class(draft, columns[1] if len(columns) > 1 else "", classes)
    return kind


def _label_format(draft: Draft, values: set[str], classes: list[str]) -> None:
    if values and values <= set(classes):
        draft.put("submission.label_format", "name", "the sample's labels are class names")
    elif values <= {str(i) for i in range(len(classes))}:
        draft.put("submission.label_format", "index", "the sample's labels are class indices (see labels.classes)")
    else:
        raise Undecided("submission.label_format", f"the sample's labels ({names(sorted(values))}) are neither "
                                                   "class names nor class indices")


def _positive_class(draft: Draft, column: str, classes: list[str]) -> None:
    if len(classes) != 2:
        raise Undecided("submission.kind", f"the sample submission has one probability column but there are "
                                           f"{len(classes)} classes ({names(classes)})")
    if column in classes:
        draft.put("submission.positive_class", column, "the sample's value column is named after it")
    elif set(classes) == {"0", "1"}:
        draft.put("submission.positive_class", "1", f"'{column}' = 1 is the positive case")
    else:
        draft.put("submission.positive_class", classes[1], "a guess: the second class; check the Evaluation page")
        draft.warn(f"the sample's probability column '{column}' does not name a class: assumed it is the "
                   f"probability of '{classes[1]}'; check submission.positive_class")


def metric_from_kaggle(text: str | None) -> str | None:
    """kagglekit's metric for the evaluation metric a Kaggle record names, or None when it has none."""
    words = re.sub(r"[^a-z]+", " ", (text or "").lower()).split()
    squeezed = "".join(words)
    if any(k in squeezed for k in ("logloss", "logarithmicloss", "multiclassloss", "crossentropy")):
        return "log_loss"
    if "auc" in words or "receiveroperating" in squeezed or squeezed in ("rocauc", "auroc"):
        return "roc_auc"
    if squeezed in ("accuracy", "categorizationaccuracy", "classificationaccuracy", "multiclassaccuracy"):
        return "accuracy"
    return None


def _metric(draft: Draft, record: dict | None, kind: str) -> None:
    text = (record or {}).get("evaluation_metric")
    mapped = metric_from_kaggle(text)
    if mapped or draft.given("metric"):
        draft.put("metric", mapped, f"Kaggle's record: '{text}'")
        return
    fallback = {"label": "accuracy", "probability": "log_loss", "class_columns": "log_loss"}[kind]
    if text:
        why = f"Kaggle's record names '{text}', not accuracy, log loss or ROC AUC"
    else:  # a record whose metric is empty is no record of the metric: the value below is a guess, and says so
        why = "Kaggle's record names no evaluation metric" if record else "no record of the competition"
    draft.put("metric", fallback, f"a guess from the submission kind ({why}); check it")
    draft.warn(f"metric: {why}, so '{fallback}' was chosen from the submission kind; check the Evaluation page")


def _clip(draft: Draft, kind: str, n_classes: int) -> None:
    if draft.get("metric") != "log_loss" or kind == "label":
        return
    low = round(0.01 / n_classes, 6)  # 0.005 for two classes, 0.001 for ten: a row still sums to about 1
    draft.put("submission.clip", [low, round(1 - low, 6)], "log loss punishes confident mistakes without bound")


# -- training defaults -------------------------------------------------------

def _image_sizes(data_dir: Path, image_set: ImageSet) -> list[tuple[int, int]]:
    from PIL import Image

    probes = image_set.images[:: max(1, len(image_set.images) // SIZE_PROBES)][:SIZE_PROBES]
    sizes = []
    with zipfile.ZipFile(data_dir / image_set.name) if image_set.archive else contextlib.nullcontext() as zf:
        for path in probes:
            try:
                with (zf.open(str(path)) if zf else open(data_dir / image_set.name / path, "rb")) as fh, Image.open(fh) as im:
                    sizes.append(im.size)
            except Exception:  # noqa: BLE001 - an unreadable image is the catalog's to report
                continue
    return sizes


def _mirror_risk(classes: list[str]) -> str | None:
    """Why a mirrored image might change class, judged from the class names; None when nothing says so."""
    sided = [c for c in classes if set(re.findall(r"[a-z]+", c.lower())) & SIDED_WORDS]
    if sided:
        return f"the class '{sided[0]}' names a side"
    if len(classes) > 2 and all(len(c) == 1 for c in classes):  # 0/1 alone is a yes/no target, not characters
        return "the classes are single characters, and mirrored characters are other characters or none"
    return None


def _train_table(draft: Draft, data_dir: Path, train: ImageSet, classes: list[str]) -> None:
    sizes = _image_sizes(data_dir, train)
    if not sizes:
        draft.warn("no training image could be read to size the [train] table; kagglekit's defaults apply")
        return
    width, height = int(statistics.median(w for w, _ in sizes)), int(statistics.median(h for _, h in sizes))
    side = max(width, height)
    seen = f"median of {len(sizes)} training images: {width}x{height} px"
    risk = _mirror_risk(classes)
    if side <= SMALL_IMAGE:
        size = max(16, -(-side // 8) * 8)  # bn_cnn's three poolings leave 2x2 of 16 px
        draft.put("train.image_size", size, seen + ("" if size == side else f", scaled up to {size} for three poolings"))
        if side <= 16:
            draft.put("train.model", "bn_cnn_small", "tiny images: the half-width BatchNorm network is enough for what "
                                                     "16 px can hold")
        else:
            draft.put("train.model", "bn_cnn", "small images: BatchNorm blocks with no stride-2 stem to lose detail")
        draft.put("train.augment", "shift", f"no mirroring: {risk or 'small images are often digits, characters or icons'}")
        draft.put("train.batch_size", 64, "small images: more of them per step")
        return
    size = min(128, -(-side // 8) * 8)
    draft.put("train.image_size", size, seen + (f", scaled down to {size}" if size < side else ""))
    draft.put("train.model", "res_cnn", "photos: the small ResNet, the best score per CPU-minute on dogs-vs-cats")
    if risk:
        draft.put("train.augment", "shift", f"no mirroring: {risk}")
    else:
        draft.put("train.augment", "medium", "photos: rotation, shifts, zoom and mirror; use \"shift\" if a mirror changes the class")
    draft.put("train.batch_size", 32, "photos: kagglekit's usual batch")


# -- the whole definition ----------------------------------------------------

def _infer(draft: Draft, data_dir: Path, slug: str, record: dict | None, exclude: Iterable[str]) -> None:
    from kagglekit.core.files import read_csv_text

    record = record or {}
    draft.put("slug", slug, "the competition's name in its URL")
    draft.put("title", record.get("title"), "Kaggle's record")
    draft.put("url", record.get("url"), "Kaggle's record")
    sets, csvs = scan(data_dir, exclude)
    if not sets:
        raise _no_images(data_dir)
    sample_name = _choose_sample(draft, data_dir, csvs)
    sample = read_csv_text(data_dir / sample_name, "sample submission") if sample_name else None
    test, id_format = _choose_test(draft, sets, set(sample.iloc[:, 0]) if sample is not None else None)
    train = _choose_train(draft, sets, test)
    _archives(draft, data_dir, train, test)
    prefer = list(sample.columns[1:2]) if sample is not None else []
    found = infer_labels(draft, data_dir, train, [c for c in csvs if c not in (sample_name, "solution.csv")], prefer)
    for key, value, note in found.lines:
        draft.put(key, value, note)
    unlabelled = sum(label is None for label in found.labels)
    if unlabelled:
        draft.warn(f"{unlabelled} training images have no label in {found.source}; the catalog will name them")
    classes = _classes(draft, {x for x in found.labels if x is not None}, list(sample.columns[1:]) if sample is not None else [])
    metric = draft.given("metric") or metric_from_kaggle(record.get("evaluation_metric"))
    kind = _submission(draft, sample_name, sample, classes, metric, id_format)
    _metric(draft, record, kind)
    _clip(draft, kind, len(classes))
    _train_table(draft, data_dir, train, classes)


def infer_definition(data_dir: Path, slug: str, record: dict | None = None, settings: dict | None = None,
                     exclude: Iterable[str] = (), how_to_set: str = "settle it with --set {key}=VALUE",
                     origin: str = "") -> InferredDefinition:
    """Infer SLUG's definition from the files in DATA_DIR and its Kaggle RECORD (title, url, evaluation_metric).

    SETTINGS ('labels.label_column' -> 'breed', ...) settle what the files
    leave open and win over what is inferred. When something stays open, the
    KagglekitError names the candidates and the key, with HOW_TO_SET (a
    template with {key}) saying how to give it. EXCLUDE names top-level
    files to ignore.
    """
    draft = Draft(settings)
    try:
        _infer(draft, Path(data_dir), slug, record, exclude)
    except Undecided as question:
        raise KagglekitError(f"cannot infer {question.key}: {question.message}; "
                             f"{how_to_set.format(key=question.key)}") from None
    draft.settle()
    record_note = " and Kaggle's record of the competition" if record else ""
    text = draft.render([
        f"Inferred by kagglekit{origin} from the files in {data_dir}{record_note}.",
        "Each comment says what its value was inferred from: check them against the competition's",
        "Data and Evaluation pages, then edit freely ('kagglekit init --force' infers it again).",
    ])
    return InferredDefinition(parse_competition(tomllib.loads(text)), text, tuple(draft.warnings))


def init_definition(slug: str, data_dir: Path, force: bool = False, settings: dict | None = None) -> tuple[InferredDefinition, Path]:
    """Infer SLUG's definition from the files already in DATA_DIR and write it where `-c SLUG` finds it.

    An existing definition is replaced only with FORCE; nothing is written when the inference stops.
    """
    target = definition_target(slug, force)
    inferred = infer_definition(data_dir, slug, settings=settings, origin=" init",
                                how_to_set=f"rerun 'kagglekit init -c {slug}' with --set {{key}}=VALUE")
    write_definition(inferred.text, target)
    return inferred, target
