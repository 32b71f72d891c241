"""Competition definitions: found by slug, by path, or as the stored default; bad files named clearly."""

from pathlib import Path

import pytest

from kagglekit.competition.definition import load_competition
from kagglekit.core.errors import KagglekitError


def test_shipped_and_local_definitions_resolve(workdir):
    dogs = load_competition("dogs-vs-cats")
    assert dogs.labels.classes == ("cat", "dog")
    assert dogs.metric == "accuracy" and dogs.submission.kind == "label"
    redux = load_competition("dogs-vs-cats-redux-kernels-edition")
    assert redux.metric == "log_loss" and redux.submission.clip == (0.005, 0.995)
    assert redux.positive_index == 1
    demo = load_competition("demo-digits")
    assert demo.n_classes == 10 and demo.labels.source == "csv"
    assert not demo.is_code_competition and demo.time_limit_seconds is None
    code = load_competition("demo-digits-code")
    assert code.is_code_competition and code.time_limit_seconds == 3600


def test_path_to_toml_and_default(workdir, cli):
    path = Path(__file__).resolve().parents[2] / "kagglekit" / "competition" / "builtin" / "dogs-vs-cats.toml"
    assert load_competition(str(path)).slug == "dogs-vs-cats"
    code, out, _ = cli("use", "dogs-vs-cats")
    assert code == 0 and "dogs-vs-cats" in out
    assert load_competition(None).slug == "dogs-vs-cats"


def test_one_definition_per_competition_and_a_local_override_is_said(tmp_path, monkeypatch, caplog):
    from kagglekit.competition.definition import known_competitions

    root = Path(__file__).resolve().parents[2]
    assert not list((root / "competitions").glob("**/*.toml")), "definitions ship in kagglekit/competition/builtin only"
    assert not any(p.is_symlink() for p in (root / "kagglekit" / "competition" / "builtin").iterdir())
    monkeypatch.chdir(tmp_path)
    (tmp_path / "competitions").mkdir()
    mine = tmp_path / "competitions" / "dogs.toml"
    mine.write_text((root / "kagglekit" / "competition" / "builtin" / "dogs-vs-cats.toml").read_text().replace(
        'metric = "accuracy"', 'metric = "log_loss"'))
    assert known_competitions()["dogs-vs-cats"] == Path("competitions/dogs.toml")
    with caplog.at_level("WARNING", logger="kagglekit"):
        assert load_competition("dogs-vs-cats").metric == "log_loss"
    assert "overrides kagglekit's own definition of dogs-vs-cats" in caplog.text


def test_no_competition_and_unknown_slug_are_clear(workdir, cli):
    with pytest.raises(KagglekitError, match="kagglekit use"):
        load_competition(None)
    code, _, err = cli("validate", "x.csv", "-c", "no-such-thing")
    assert code == 1
    assert "unknown competition 'no-such-thing'" in err and "dogs-vs-cats" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "text, message",
    [
        ('slug = "x"\nmetric = "accuracy"\ncolour = 1\n[files]\ntrain="t"\ntest="t"\n', "unknown key 'colour'"),
        ('slug = "x"\nmetric = "f1"\n[files]\ntrain="t"\ntest="t"\n[labels]\npattern="(?P<label>a)"\nclasses=["a","b"]\n',
         "metric = 'f1'"),
        ('slug = "x"\nmetric = "accuracy"\n[files]\ntrain="t"\ntest="t"\n[labels]\npattern="(a)"\nclasses=["a","b"]\n',
         "named group"),
        ('slug = "x"\nmetric = "accuracy"\n[files]\ntrain="t"\ntest="t"\n[labels]\nsource="csv"\nclasses=["a","b"]\n',
         "labels.file is required"),
        ('slug = "x"\nmetric = "accuracy"\n[files]\ntrain="t"\ntest="t"\nextra=1\n', "unknown key 'files.extra'"),
        ('slug = "x\n', "not valid TOML"),
        ('slug = "x"\nmetric = "accuracy"\nfiles = 3\n', "'files' in"),
        ('slug = "x"\nmetric = 3\n[files]\ntrain="t"\ntest="t"\n', "'metric' in"),
        ('slug = "x"\nmetric = "accuracy"\n[files]\ntrain=1\ntest="t"\n', "files.train in"),
        ('slug = "x"\nmetric = "accuracy"\n[files]\ntrain="t"\ntest="t"\n[labels]\npattern="(?P<label>a)"\nclasses="ab"\n',
         "labels.classes in"),
        ('slug = "x"\nmetric = "accuracy"\n[files]\ntrain="t"\ntest="t"\n[submission]\nclip=["0", 1]\n',
         "submission.clip in"),
        ('slug = "x"\nmetric = "accuracy"\n[files]\ntrain="t"\ntest="t"\n[labels]\npattern="(?P<label>a)"\n'
         'classes=["a","b"]\n[train]\nimage_size = "64"\n', "train.image_size = '64' must be a whole number"),
        ('slug = "x"\nmetric = "accuracy"\n[files]\ntrain="t"\ntest="t"\n[labels]\npattern="(?P<label>a)"\n'
         'classes=["a","b"]\n[submission]\nvia = "email"\n', "submission.via = 'email'"),
        ('slug = "x"\nmetric = "accuracy"\n[files]\ntrain="t"\ntest="t"\n[labels]\npattern="(?P<label>a)"\n'
         'classes=["a","b"]\n[submission]\nvia = true\n', "submission.via in"),
        ('slug = "x"\nmetric = "accuracy"\n[files]\ntrain="t"\ntest="t"\n[labels]\npattern="(?P<label>a)"\n'
         'classes=["a","b"]\n[submission]\ntime_limit = "9h"\n', 'add via = "kernel"'),
        ('slug = "x"\nmetric = "accuracy"\n[files]\ntrain="t"\ntest="t"\n[labels]\npattern="(?P<label>a)"\n'
         'classes=["a","b"]\n[submission]\nvia = "kernel"\ntime_limit = 9\n', "submission.time_limit in"),
        ('slug = "x"\nmetric = "accuracy"\n[files]\ntrain="t"\ntest="t"\n[labels]\npattern="(?P<label>a)"\n'
         'classes=["a","b"]\n[submission]\nvia = "kernel"\ntime_limit = "nine hours"\n',
         "bad.toml: cannot read the duration 'nine hours'"),
    ],
)
def test_bad_definitions_name_the_problem(workdir, text, message):
    path = Path(workdir) / "bad.toml"
    path.write_text(text)
    with pytest.raises(KagglekitError, match=message.replace("(", r"\(").replace(")", r"\)")) as caught:
        load_competition(str(path))
    assert "\n" not in str(caught.value)


def test_a_wrongly_typed_key_is_one_line_through_the_cli(workdir, cli):
    (workdir / "bad.toml").write_text('slug = "x"\nmetric = "accuracy"\nfiles = 3\n')
    code, _, err = cli("validate", "x.csv", "-c", workdir / "bad.toml")
    assert code == 1 and "must be a table" in err and len(err.strip().splitlines()) == 1
