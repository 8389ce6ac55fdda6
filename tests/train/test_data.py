"""Data sources for training: CIFAR batches through the restricted unpickler, image folders,
adaptation to the spec's input, and every way the input can be wrong (one line each).

The CIFAR directories are tiny fakes made here, pickled as the real files are:
Python 2 protocol 2, byte-string keys and data, ``numpy.core.multiarray._reconstruct``.
"""

from __future__ import annotations

import os
import pickle
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import torch

from aggspec.errors import AggSpecError
from aggspec.train.data import SOURCES, LoadedData, adapt_images, load_data
from aggspec.train.images import convert_channels, random_crop_flip
from aggspec.train.unpickle import ALLOWED_GLOBALS, load_restricted

# --- fakes -----------------------------------------------------------------------------------------


class _Python2Pickler(pickle._Pickler):  # type: ignore[misc]
    """Writes bytes and str as Python 2 ``str`` (BINSTRING), as the real CIFAR files were written.

    Python 3 pickles bytes at protocol 2 through ``_codecs.encode``, which the
    real files never hold and the restricted unpickler rightly refuses.
    """

    dispatch: ClassVar[dict[type, Any]] = dict(pickle._Pickler.dispatch)

    def save_py2_str(self, obj: bytes | str) -> None:
        data = obj.encode("latin-1") if isinstance(obj, str) else obj
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(data)  # the memo keeps ``data`` alive, so its id is not reused

    dispatch[bytes] = save_py2_str
    dispatch[str] = save_py2_str


def _python2_pickle(obj: object) -> bytes:
    import io

    buffer = io.BytesIO()
    _Python2Pickler(buffer, protocol=2).dump(obj)
    # numpy 2 names its internals numpy._core; the real files, from numpy 1, say numpy.core.
    return buffer.getvalue().replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")


def _batch(count: int, label_key: bytes, classes: int, seed: int) -> dict[bytes, Any]:
    rng = np.random.default_rng(seed)
    return {
        b"batch_label": b"fake batch",
        b"data": rng.integers(0, 256, (count, 3072), dtype=np.uint8),
        label_key: [int(x) for x in rng.integers(0, classes, count)],
        b"filenames": [b"img%d.png" % i for i in range(count)],
    }


def fake_cifar10(root: Path, per_batch: int = 4) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(1, 6):
        (root / f"data_batch_{i}").write_bytes(_python2_pickle(_batch(per_batch, b"labels", 10, i)))
    (root / "test_batch").write_bytes(_python2_pickle(_batch(per_batch, b"labels", 10, 0)))
    names = [
        b"airplane",
        b"automobile",
        b"bird",
        b"cat",
        b"deer",
        b"dog",
        b"frog",
        b"horse",
        b"ship",
        b"truck",
    ]
    meta = {b"num_cases_per_batch": per_batch, b"label_names": names, b"num_vis": 3072}
    (root / "batches.meta").write_bytes(_python2_pickle(meta))
    return root


def fake_cifar100(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, seed in (("train", 1), ("test", 2)):
        batch = _batch(6, b"fine_labels", 100, seed)
        batch[b"coarse_labels"] = [x // 5 for x in batch[b"fine_labels"]]
        (root / name).write_bytes(_python2_pickle(batch))
    meta = {b"fine_label_names": [b"c%d" % i for i in range(100)], b"coarse_label_names": [b"s"] * 20}
    (root / "meta").write_bytes(_python2_pickle(meta))
    return root


class _Evil:
    """Unpickles to a call of ``os.system``: what a hostile 'dataset' would hold."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch '{self.marker}'",))


def _error_line(error: pytest.ExceptionInfo[AggSpecError]) -> str:
    text = str(error.value)
    assert "\n" not in text, text
    return text


# --- CIFAR -----------------------------------------------------------------------------------------


def test_cifar10_reads_python2_batches_with_the_test_batch_as_validation(tmp_path: Path) -> None:
    fake_cifar10(tmp_path / "cifar-10-batches-py")
    data = load_data(f"cifar10:{tmp_path / 'cifar-10-batches-py'}", (3, 32, 32))
    assert isinstance(data, LoadedData)
    assert (len(data.train), len(data.val), data.classes) == (20, 4, 10)
    assert data.class_names[:2] == ("airplane", "automobile")
    image, label = data.val[0]
    assert image.shape == (3, 32, 32) and image.dtype == torch.float32
    assert label.dtype == torch.long
    assert "\n" not in data.description
    assert data.description.startswith("cifar10: 20 train / 4 val images")
    assert "3x32x32 as they are" in data.description and "pad 4" in data.description


def test_cifar_directory_may_be_the_one_holding_the_extracted_folder(tmp_path: Path) -> None:
    fake_cifar10(tmp_path / "cifar-10-batches-py")
    assert len(load_data(f"cifar10:{tmp_path}", (3, 32, 32)).train) == 20


def test_cifar_validation_is_the_test_batch_normalised_with_training_statistics(tmp_path: Path) -> None:
    root = fake_cifar10(tmp_path)
    data = load_data(f"cifar10:{root}", (3, 32, 32))
    batches = [
        pickle.loads(_python2_pickle(_batch(4, b"labels", 10, i)), encoding="bytes") for i in range(1, 6)
    ]
    train = np.concatenate([b[b"data"] for b in batches]).reshape(-1, 3, 32, 32) / 255.0
    mean, std = train.mean(axis=(0, 2, 3)), train.std(axis=(0, 2, 3))
    test = pickle.loads(_python2_pickle(_batch(4, b"labels", 10, 0)), encoding="bytes")
    expected = (test[b"data"][1].reshape(3, 32, 32) / 255.0 - mean[:, None, None]) / std[:, None, None]
    image, label = data.val[1]
    # (torch.testing.assert_close would import torch.distributed: a second spent on nothing here)
    np.testing.assert_allclose(image.numpy(), expected, atol=1e-5, rtol=1e-5)
    assert int(label) == test[b"labels"][1]
    # the training set after normalisation has mean ~0 and std ~1 per channel (no augmentation)
    plain = load_data(f"cifar10:{root}", (3, 32, 32), augment=False)
    stacked = torch.stack([plain.train[i][0] for i in range(len(plain.train))])
    np.testing.assert_allclose(stacked.mean(dim=(0, 2, 3)).numpy(), np.zeros(3), atol=1e-4)
    np.testing.assert_allclose(stacked.std(dim=(0, 2, 3), unbiased=False).numpy(), np.ones(3), atol=1e-4)


def test_cifar_training_augmentation_is_random_but_seeded(tmp_path: Path) -> None:
    root = fake_cifar10(tmp_path)
    data = load_data(f"cifar10:{root}", (3, 32, 32))
    torch.manual_seed(0)
    first = [data.train[0][0] for _ in range(8)]
    torch.manual_seed(0)
    again = [data.train[0][0] for _ in range(8)]
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert any(not torch.equal(first[0], other) for other in first[1:])
    val_views = [data.val[0][0] for _ in range(3)]
    assert all(torch.equal(val_views[0], v) for v in val_views)  # no augmentation on validation


def test_random_crop_flip_pads_with_zeros_crops_and_flips() -> None:
    image = torch.arange(1, 1 + 2 * 4 * 4, dtype=torch.float32).view(2, 4, 4)
    seen_shift = False
    generator = torch.Generator().manual_seed(1)
    for _ in range(50):
        out = random_crop_flip(image, 2, generator)
        assert out.shape == image.shape
        # every output is a window of the zero-padded image or of its mirror
        padded = torch.nn.functional.pad(image, (2, 2, 2, 2))
        windows = [
            p[:, top : top + 4, left : left + 4]
            for p in (padded, padded.flip(-1))
            for top in range(5)
            for left in range(5)
        ]
        assert any(torch.equal(out, w) for w in windows)
        seen_shift |= bool((out == 0).any())
    assert seen_shift
    flips = {
        torch.equal(random_crop_flip(image, 0, torch.Generator().manual_seed(s)), image) for s in range(20)
    }
    assert flips == {True, False}


def test_cifar100_uses_the_fine_labels(tmp_path: Path) -> None:
    root = fake_cifar100(tmp_path / "cifar-100-python")
    data = load_data(f"cifar100:{tmp_path}", (3, 32, 32), augment=False)
    assert (len(data.train), len(data.val), data.classes) == (6, 6, 100)
    expected = pickle.loads((root / "train").read_bytes(), encoding="bytes")[b"fine_labels"]
    assert [int(data.train[i][1]) for i in range(6)] == expected
    assert data.class_names[3] == "c3"


def test_cifar_adapts_to_a_grey_larger_input_and_says_so(tmp_path: Path) -> None:
    data = load_data(f"cifar10:{fake_cifar10(tmp_path)}", (1, 40, 40))
    image, _ = data.train[0]
    assert image.shape == (1, 40, 40)
    assert "3x32x32 adapted to 1x40x40" in data.description


def test_cifar_without_the_meta_file_names_classes_by_number(tmp_path: Path) -> None:
    root = fake_cifar10(tmp_path)
    (root / "batches.meta").unlink()
    assert load_data(f"cifar10:{root}", (3, 32, 32)).class_names == tuple(map(str, range(10)))


# --- the restricted unpickler ----------------------------------------------------------------------


def test_the_allowlist_is_numpy_array_reconstruction_only() -> None:
    assert set(ALLOWED_GLOBALS) == {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_python3_pickles_of_arrays_load_too(tmp_path: Path, protocol: int) -> None:
    path = tmp_path / "batch"
    payload = {b"data": np.arange(6, dtype=np.uint8).reshape(2, 3), "labels": np.array([1, 2])}
    if protocol == 2:
        path.write_bytes(_python2_pickle(payload))
    elif protocol == 5:  # numpy's protocol-5 form asks for _frombuffer, which is refused
        path.write_bytes(pickle.dumps(payload, protocol=5))
        with pytest.raises(AggSpecError, match="_frombuffer"):
            load_restricted(path, "CIFAR batch")
        return
    else:
        path.write_bytes(pickle.dumps(payload, protocol=protocol))
    loaded = load_restricted(path, "CIFAR batch")
    assert isinstance(loaded, dict)
    np.testing.assert_array_equal(loaded[b"data"], payload[b"data"])


@pytest.mark.parametrize("where", ["data_batch_3", "test_batch", "batches.meta"])
def test_a_pickle_that_would_run_code_is_refused_and_nothing_runs(tmp_path: Path, where: str) -> None:
    root = fake_cifar10(tmp_path / "cifar")
    marker = tmp_path / "pwned"
    payload = _python2_pickle({b"data": _Evil(marker), b"labels": [0]})
    assert b"system" in payload  # the file really calls os.system (posix.system) when unpickled
    (root / where).write_bytes(payload)
    with pytest.raises(AggSpecError) as error:
        load_data(f"cifar10:{root}", (3, 32, 32))
    line = _error_line(error)
    assert line.startswith(f"{root / where}: error: refused to load this CIFAR")
    assert "system" in line and "could run code" in line
    assert not marker.exists()


def test_other_dangerous_globals_are_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "batch"
    # builtins.exec through protocol 4's STACK_GLOBAL, and the copyreg reconstructor
    path.write_bytes(pickle.dumps(_Exec(f"open({str(marker)!r}, 'w').close()"), protocol=4))
    with pytest.raises(AggSpecError, match=r"asks for builtins\.exec"):
        load_restricted(path, "CIFAR batch")
    path.write_bytes(pickle.dumps(_Plain(), protocol=1))
    with pytest.raises(AggSpecError, match=r"copy_?reg\._reconstructor"):
        load_restricted(path, "CIFAR batch")
    assert not marker.exists()


class _Exec:
    def __init__(self, code: str) -> None:
        self.code = code

    def __reduce__(self) -> tuple[Any, ...]:
        return (exec, (self.code,))


class _Plain:
    pass


# --- image folders ---------------------------------------------------------------------------------


def _png(
    path: Path, colour: tuple[int, int, int], size: tuple[int, int] = (12, 10), mode: str = "RGB"
) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, colour if mode == "RGB" else colour[0]).save(path)


def _folder(root: Path, per_class: int = 5) -> Path:
    colours = {"cat": (200, 30, 30), "ant": (30, 200, 30), "bee": (30, 30, 200)}
    for name, colour in colours.items():
        for i in range(per_class):
            suffix = ".png" if i % 2 else ".PNG"
            _png(root / name / f"{i}{suffix}", colour)
    (root / "ant" / "notes.txt").write_text("not an image")
    return root


def test_folder_classes_are_the_sorted_subfolders_with_a_stratified_split(tmp_path: Path) -> None:
    data = load_data(f"folder:{_folder(tmp_path)}", (3, 16, 16), seed=0)
    assert data.class_names == ("ant", "bee", "cat") and data.classes == 3
    assert (len(data.train), len(data.val)) == (12, 3)  # one of each class's five held out
    assert sorted(int(data.val[i][1]) for i in range(3)) == [0, 1, 2]
    image, _ = data.train[0]
    assert image.shape == (3, 16, 16)
    assert "read as RGB and resized to 3x16x16" in data.description
    assert "stratified 20%" in data.description and "\n" not in data.description
    again = load_data(f"folder:{tmp_path}", (3, 16, 16), seed=0)
    assert [str(p) for p in again.val.paths] == [str(p) for p in data.val.paths]  # type: ignore[attr-defined]


def test_folder_with_train_and_val_uses_them(tmp_path: Path) -> None:
    _folder(tmp_path / "train", per_class=2)
    _png(tmp_path / "val" / "cat" / "x.jpg", (200, 30, 30))
    _png(tmp_path / "val" / "ant" / "y.bmp", (30, 200, 30))
    data = load_data(f"folder:{tmp_path}", (3, 8, 8), augment=False)
    assert (len(data.train), len(data.val)) == (6, 2)
    assert sorted(int(data.val[i][1]) for i in range(2)) == [0, 2]  # ant, cat: indices of train's classes
    assert "train/ and val/" in data.description


def test_folder_reads_grey_for_a_one_channel_spec_and_colours_are_kept(tmp_path: Path) -> None:
    _folder(tmp_path)
    grey = load_data(f"folder:{tmp_path}", (1, 8, 8), augment=False)
    assert grey.train[0][0].shape == (1, 8, 8) and "read as grey" in grey.description
    colour = load_data(f"folder:{tmp_path}", (3, 8, 8), augment=False)
    images = torch.stack([colour.train[i][0] for i in range(len(colour.train))])
    labels = torch.stack([colour.train[i][1] for i in range(len(colour.train))])
    # a red cat is brightest in red after normalisation, a green ant in green
    assert int(images[labels == 2][:, :, 0, 0].mean(0).argmax()) == 0
    assert int(images[labels == 0][:, :, 0, 0].mean(0).argmax()) == 1


def test_folder_accepts_every_listed_format(tmp_path: Path) -> None:
    from PIL import Image

    for i, suffix in enumerate(["png", "jpg", "jpeg", "bmp", "gif", "webp"]):
        path = tmp_path / ("a" if i % 2 else "b") / f"{i}.{suffix}"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (9, 7), (i * 40, 10, 10)).save(path)
    data = load_data(f"folder:{tmp_path}", (3, 8, 8))
    assert len(data.train) + len(data.val) == 6
    assert all(data.train[i][0].shape == (3, 8, 8) for i in range(len(data.train)))


# --- adaptation ------------------------------------------------------------------------------------


def test_convert_channels_repeats_grey_and_makes_colour_grey_by_luminance() -> None:
    grey = torch.rand(2, 1, 3, 3)
    assert torch.equal(convert_channels(grey, 3), grey.expand(-1, 3, -1, -1))
    colour = torch.zeros(1, 3, 1, 1)
    colour[0, :, 0, 0] = torch.tensor([1.0, 0.5, 0.0])
    assert convert_channels(colour, 1).item() == pytest.approx(0.299 + 0.587 * 0.5)
    assert adapt_images(torch.rand(2, 3, 4, 4), (1, 8, 8)).shape == (2, 1, 8, 8)


# --- bad input: each one line ----------------------------------------------------------------------


def _fails(source: str, shape: tuple[int, ...] = (3, 32, 32)) -> str:
    with pytest.raises(AggSpecError) as error:
        load_data(source, shape)
    return _error_line(error)


def test_unknown_source_lists_the_sources_and_guesses() -> None:
    line = _fails("cifar11:/data")
    assert line.startswith("<command line>: error: unknown data source 'cifar11:/data'")
    assert "did you mean 'cifar10:/data'?" in line
    assert "digits, synthetic, cifar10:DIR, cifar100:DIR, folder:DIR" in line
    assert "did you mean 'digits'?" in _fails("digit:x")
    assert "did you mean 'folder:DIR'?" in _fails("folders")
    assert "did you mean" not in _fails("imagenet")
    assert set(SOURCES) == {"digits", "synthetic", "cifar10", "cifar100", "folder"}


def test_a_bare_directory_suggests_folder_or_cifar(tmp_path: Path) -> None:
    assert f"did you mean 'folder:{tmp_path}' or 'cifar10:{tmp_path}'" in _fails(str(tmp_path))


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("cifar10", "data 'cifar10' needs a directory: cifar10:DIR"),
        ("folder:", "data 'folder' needs a directory: folder:DIR"),
        ("digits:/x", "data 'digits' takes no directory (write just 'digits')"),
    ],
)
def test_source_spelling_mistakes(source: str, message: str) -> None:
    assert _fails(source) == f"<command line>: error: {message}"


@pytest.mark.parametrize("name", ["cifar10", "cifar100", "folder"])
def test_a_missing_directory(tmp_path: Path, name: str) -> None:
    missing = tmp_path / "nowhere"
    assert _fails(f"{name}:{missing}") == f"{missing}: error: {name}: no such directory"


def test_a_file_where_a_directory_should_be(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    assert _fails(f"cifar10:{tmp_path / 'f'}").endswith("cifar10: is not a directory")


def test_a_directory_without_the_batches(tmp_path: Path) -> None:
    line = _fails(f"cifar10:{tmp_path}")
    assert line.startswith(f"{tmp_path}: error: cifar10: no data_batch_1, data_batch_2")
    assert "cifar-10-batches-py" in line
    (tmp_path / "cifar-100-python.tar.gz").write_bytes(b"")
    assert _fails(f"cifar100:{tmp_path}").endswith(
        "no train, test here; extract cifar-100-python.tar.gz first"
    )


def _broken(tmp_path: Path, contents: object | bytes) -> str:
    root = fake_cifar10(tmp_path / "cifar")
    path = root / "data_batch_2"
    path.write_bytes(contents if isinstance(contents, bytes) else _python2_pickle(contents))
    line = _fails(f"cifar10:{root}")
    assert line.startswith(f"{path}: error: "), line
    return line.split(": error: ", 1)[1]


def test_a_truncated_batch(tmp_path: Path) -> None:
    whole = _python2_pickle(_batch(4, b"labels", 10, 1))
    assert _broken(tmp_path, whole[: len(whole) // 2]).startswith(
        "not a readable CIFAR batch (truncated or corrupt pickle"
    )


def test_a_batch_that_is_not_a_pickle(tmp_path: Path) -> None:
    assert "truncated or corrupt pickle" in _broken(tmp_path, b"\x89PNG\r\n\x1a\n not a pickle")


def test_an_empty_batch_file(tmp_path: Path) -> None:
    assert "truncated or corrupt pickle: EOFError" in _broken(tmp_path, b"")


@pytest.mark.parametrize(
    ("contents", "message"),
    [
        ([1, 2, 3], "not a CIFAR batch: it holds a list, not a dict"),
        ({b"pixels": 1, b"labels": [0]}, "not a cifar10 batch: no data key (it has labels, pixels)"),
        (
            {b"data": np.zeros((2, 3072), np.uint8), b"fine_labels": [0, 1]},
            "not a cifar10 batch: no labels key (it has data, fine_labels)",
        ),
        (
            {b"data": np.zeros((2, 1024), np.uint8), b"labels": [0, 1]},
            "malformed cifar10 batch: data is uint8 2 x 1024, expected uint8 N x 3072",
        ),
        (
            {b"data": np.zeros((2, 3072), np.float32), b"labels": [0, 1]},
            "malformed cifar10 batch: data is float32 2 x 3072, expected uint8 N x 3072",
        ),
        (
            {b"data": [1, 2], b"labels": [0, 1]},
            "malformed cifar10 batch: data is list, expected uint8 N x 3072",
        ),
        (
            {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]},
            "malformed cifar10 batch: labels should be 2 integers, one per image",
        ),
        (
            {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, b"cat"]},
            "malformed cifar10 batch: labels should be 2 integers, one per image",
        ),
        (
            {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]},
            "malformed cifar10 batch: labels outside 0..9",
        ),
    ],
    ids=[
        "list",
        "no-data",
        "no-labels",
        "short-rows",
        "float",
        "data-list",
        "few-labels",
        "text-label",
        "range",
    ],
)
def test_a_malformed_batch(tmp_path: Path, contents: object, message: str) -> None:
    assert _broken(tmp_path, contents) == message


def test_a_malformed_meta_file(tmp_path: Path) -> None:
    root = fake_cifar10(tmp_path)
    (root / "batches.meta").write_bytes(_python2_pickle({b"label_names": [b"one"]}))
    assert _fails(f"cifar10:{root}") == (
        f"{root / 'batches.meta'}: error: malformed cifar10 meta file: label_names should list 10 names"
    )


def test_an_unreadable_batch_file(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads any file")
    root = fake_cifar10(tmp_path)
    (root / "test_batch").chmod(0)
    assert "cannot read this CIFAR batch: Permission denied" in _fails(f"cifar10:{root}")


def test_an_empty_class_folder(tmp_path: Path) -> None:
    _folder(tmp_path)
    (tmp_path / "dog").mkdir()
    (tmp_path / "dog" / "readme.md").write_text("no pictures")
    line = _fails(f"folder:{tmp_path}")
    assert line.startswith(f"{tmp_path / 'dog'}: error: folder: class 'dog' holds no images (.bmp, .gif")


def test_a_folder_without_class_subfolders(tmp_path: Path) -> None:
    _png(tmp_path / "loose.png", (1, 2, 3))
    assert _fails(f"folder:{tmp_path}") == (
        f"{tmp_path}: error: folder: no class subfolders (expected DIR/<class>/<image>, or DIR/train/ and DIR/val/)"
    )


def test_a_folder_too_small_to_split(tmp_path: Path) -> None:
    _folder(tmp_path, per_class=1)
    assert "too few images (3) to hold out 20% of each class" in _fails(f"folder:{tmp_path}")


def test_validation_classes_must_be_training_classes(tmp_path: Path) -> None:
    _folder(tmp_path / "train", per_class=2)
    _png(tmp_path / "val" / "zebra" / "z.png", (0, 0, 0))
    assert "validation classes zebra are not among the training classes" in _fails(f"folder:{tmp_path}")


def test_an_unreadable_image(tmp_path: Path) -> None:
    _folder(tmp_path)
    bad = tmp_path / "bee" / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 3)
    assert _fails(f"folder:{tmp_path}").startswith(f"{bad}: error: not a readable image (")


def _cut_jpeg(path: Path) -> None:
    """A JPEG whose header reads but whose pixels stop short: caught only when decoded."""
    from PIL import Image

    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(path)
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) * 6 // 10])


@pytest.mark.parametrize("workers", [0, 1])
def test_an_image_that_breaks_only_when_decoded_is_one_line_when_read(tmp_path: Path, workers: int) -> None:
    _folder(tmp_path / "train", per_class=2)
    _png(tmp_path / "val" / "bee" / "fine.png", (30, 30, 200))
    cut = tmp_path / "val" / "bee" / "cut.jpg"
    _cut_jpeg(cut)
    data = load_data(f"folder:{tmp_path}", (3, 8, 8))  # the header is fine: no error yet
    loader = torch.utils.data.DataLoader(data.val, batch_size=2, num_workers=workers)
    with pytest.raises(AggSpecError) as error:
        list(loader)  # in a worker, torch rebuilds the error from its traceback text
    assert _error_line(error).startswith(f"{cut}: error: not a readable image (image file is truncated")


@pytest.mark.parametrize("source", ["digits", "synthetic", "cifar10:/x", "folder:/x"])
def test_a_features_input_cannot_take_images(source: str) -> None:
    line = _fails(source, (64,))
    assert (
        line
        == f"<command line>: error: data '{source}' holds images; the spec's input is 64 features (declare an input CxHxW)"
    )


@pytest.mark.parametrize("source", ["cifar10", "folder"])
def test_a_two_channel_input_cannot_take_colour_images(tmp_path: Path, source: str) -> None:
    assert _fails(f"{source}:{tmp_path}", (2, 32, 32)) == (
        "<command line>: error: cannot adapt colour images to the spec's 2-channel input (declare 1 or 3 channels)"
    )
    with pytest.raises(AggSpecError, match="cannot adapt 3-channel images to the spec's 2-channel input"):
        adapt_images(torch.rand(1, 3, 4, 4), (2, 4, 4))


@pytest.mark.slow  # scikit-learn's import and digits loader take a second
def test_digits_still_fit_any_channel_count_and_name_their_classes() -> None:
    data = load_data("digits", (2, 8, 8))
    assert data.train[0][0].shape == (2, 8, 8)
    assert data.class_names == tuple("0123456789")


@pytest.mark.slow
def test_a_cifar_error_from_the_command_line_is_one_line_without_traceback(tmp_path: Path) -> None:
    """The CLI prints an AggSpecError as its one line; here, as rendered, and via python -c."""
    root = fake_cifar10(tmp_path / "cifar")
    marker = tmp_path / "pwned"
    (root / "data_batch_1").write_bytes(_python2_pickle(_Evil(marker)))
    code = (
        "import sys\nfrom aggspec.errors import AggSpecError\nfrom aggspec.train.data import load_data\n"
        f"try:\n    load_data({f'cifar10:{root}'!r}, (3, 32, 32))\n"
        "except AggSpecError as e:\n    print(e, file=sys.stderr); sys.exit(2)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert not marker.exists()
