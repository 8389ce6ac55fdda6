"""Connectivity heat maps: long stages drawn from bounded cells (more in test_viz.py)."""

from __future__ import annotations


def test_a_long_stage_is_drawn_from_bounded_cells_with_no_connection_dropped() -> None:
    import numpy as np

    from aggspec import Limits, loads
    from aggspec.viz.matrix import IMAGE_SIDE, connectivity_image, connectivity_matrix

    text = "network N(input 3x8x8) {{ conv(4, 3) stage {} * relu {{ take exponential; merge sum }} }}"
    (small,) = loads(text.format(40)).stages
    assert (connectivity_image(small) == (connectivity_matrix(small) > 0)).all()  # short: cell for cell
    (long,) = loads(text.format(20_000), limits=Limits(max_connections=10**8)).stages
    image = connectivity_image(long)  # the full matrix would be 20,000 x 20,001 (3.2 GB)
    assert image.shape == (IMAGE_SIDE, IMAGE_SIDE)
    assert image.any(axis=1).all()  # every band of layers shows its connections
    assert image[np.arange(IMAGE_SIDE), np.arange(IMAGE_SIDE)].all()  # the l-1 diagonal, unbroken


def test_a_network_without_stages_gets_a_located_error_not_a_blank_picture(tmp_path) -> None:
    import pytest

    from aggspec import AggSpecError, loads
    from aggspec.viz.matrix import matrix_figure

    spec = loads("network Flat(input 3x8x8) {\n    conv(4, 3) relu\n}\n", filename="flat.agg")
    with pytest.raises(AggSpecError, match="network Flat has no stages") as caught:
        matrix_figure([spec], tmp_path / "m.png")
    assert (caught.value.line, caught.value.col) == (1, 9)
    assert not (tmp_path / "m.png").exists()


def test_a_stage_reaching_across_has_a_column_for_every_output_it_can_take(tmp_path) -> None:
    from aggspec import load
    from aggspec.viz.matrix import connectivity_matrix, matrix_figure

    from ..conftest import EXAMPLES

    spec = load(EXAMPLES / "log_densenet.agg", depth=40, bottleneck=False)
    first, _, third = spec.stages
    assert connectivity_matrix(first).shape == (12, 13)
    matrix = connectivity_matrix(third)
    assert matrix.shape == (12, 39)  # the first two blocks' 2 x 13 outputs, then its own 13
    # its last layer (global index 38) takes 37, 36, 34, 30, 22, 6: newest first
    assert [int(j) for j in matrix[-1].nonzero()[0]] == [6, 22, 30, 34, 36, 37]
    assert [int(matrix[-1, j]) for j in (37, 36, 34, 30, 22, 6)] == [1, 2, 3, 4, 5, 6]
    assert matrix_figure([spec], tmp_path / "m.png") == (1200, 400)


def test_a_network_of_many_stages_draws_a_bounded_picture(tmp_path) -> None:
    from aggspec import loads
    from aggspec.viz.matrix import MAX_PANELS, matrix_figure

    spec = loads(
        "network N(input 4x8x8) {\n    for i in range(100) { stage 3 * relu { take dense; merge sum } }\n}\n"
    )
    assert len(spec.stages) == 100
    width, height = matrix_figure([spec], tmp_path / "m.png")
    assert (width, height) == (400 * MAX_PANELS, 400)  # not 40,000 pixels wide
    assert (tmp_path / "m.png").stat().st_size > 0
