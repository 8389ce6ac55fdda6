import aggspec


def test_loads_tiny_network() -> None:
    spec = aggspec.loads("network Tiny(input 3x8x8) { conv(4, 3) relu }")
    assert spec.output_shape == (4, 8, 8)
