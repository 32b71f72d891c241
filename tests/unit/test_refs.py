"""OWNER/SLUG references: kagglekit's one rule agrees with the kaggle client's own checks, slug by slug."""

import json

import pytest

from kagglekit.core.errors import KagglekitError
from kagglekit.core.refs import Ref, check_slug, is_slug, parse_ref

SLUGS = ["abcd", "abcde", "abcdef", "dogs-vs-cats-bn-cnn", "a" * 50, "a" * 51, "Dogs-vs-cats", "dogs--cats",
         "-dogs-cats", "dogs-cats-", "dogs_vs_cats", "dogs vs cats", "digits-models", "x"]


def _client():
    from kaggle.api.kaggle_api_extended import KaggleApi

    api = KaggleApi()  # never authenticated: only its checks run, before any call to Kaggle
    api.config_values = {KaggleApi.CONFIG_NAME_USER: "kaggler"}
    return api


def _client_takes_kernel(slug: str) -> bool:
    """The client's verdict on a kernel slug: validate_kernel_string, and a slug its slugify leaves as it is
    (kernels push slugifies the title and warns unless that is the slug)."""
    from slugify import slugify

    try:
        _client().validate_kernel_string(f"kaggler/{slug}")
    except ValueError:
        return False
    return slugify(slug) == slug and len(slug) <= 50  # 50: kagglekit's own cap, the client sets none


def _client_takes_dataset(slug: str, folder) -> bool:
    """The client's verdict on a dataset slug: `datasets create` on a folder whose title is too short, so that a
    slug it accepts stops at the title check, before any call to Kaggle."""
    from slugify import slugify

    (folder / "dataset-metadata.json").write_text(json.dumps(
        {"id": f"kaggler/{slug}", "title": "abc", "licenses": [{"name": "CC0-1.0"}]}))
    with pytest.raises(ValueError) as caught:
        _client().dataset_create_new(str(folder))
    return "slug" not in str(caught.value) and slugify(slug) == slug


@pytest.mark.parametrize("slug", SLUGS)
def test_slug_rule_is_the_clients(slug, tmp_path):
    assert is_slug(slug, "kernel") == _client_takes_kernel(slug)
    assert is_slug(slug, "dataset") == _client_takes_dataset(slug, tmp_path)


def test_kernel_and_dataset_slugs_differ_where_the_client_says_so(tmp_path):
    assert is_slug("abcde", "kernel") and not is_slug("abcde", "dataset")  # 5 characters: a kernel, not a dataset
    assert not _client_takes_dataset("abcde", tmp_path) and _client_takes_kernel("abcde")


def test_parse_ref_says_what_to_write():
    assert parse_ref("kaggler/digits-models", "dataset", "--dataset", "kaggler/digits-models") == \
        Ref("kaggler", "digits-models")
    assert str(parse_ref("kaggler/x", None, "--predict-from", "kaggler/a-run")) == "kaggler/x"  # either kind: form only
    for text in ("digits-models", "kaggler/", "/digits", "kaggler/digits/models"):
        with pytest.raises(KagglekitError, match=rf"--dataset '{text}' must be OWNER/SLUG, e.g. kaggler/d"):
            parse_ref(text, "dataset", "--dataset", "kaggler/d")
    with pytest.raises(KagglekitError, match="must be OWNER/KERNEL with a slug of 5 to 50 lowercase letters"):
        parse_ref("kaggler/abcd", "kernel", "--kernel", "kaggler/k-predict", form="OWNER/KERNEL")
    with pytest.raises(KagglekitError, match=r"kernel name 'Bad_Name' must be 5 to 50 lowercase letters, digits and "
                                             r"single hyphens, e.g. dogs"):
        check_slug("Bad_Name", "kernel", "kernel name 'Bad_Name'", "dogs")
