"""training.manets: output shapes and channel counts per backbone family and DLCRNet, the
fused layers, snapshots."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

GRAPH = [[0, 1], [1, 2], [0, 2]]


def cfg(net_type: str, **kw: object) -> dict:
    base = {
        "net_type": net_type,
        "num_joints": 4,
        "num_idchannel": 2,
        "num_limbs": len(GRAPH),
        "partaffinityfield_graph": GRAPH,
        "init_weights": "none",
    }
    return {**base, **kw}


@pytest.mark.parametrize(
    ("net_type", "mid_layer"),
    [
        ("mobilenet_v2_0.35", "block_5_add"),
        ("resnet_50", "conv3_block3_out"),
        ("efficientnet-b0", "block3b_add"),
    ],
)
def test_fusion_heads_shapes_and_wiring(net_type: str, mid_layer: str) -> None:
    from dlcflow.training.manets import build_multi_model
    from dlcflow.training.nets import output_size

    model = build_multi_model(cfg(net_type))
    out = model(np.zeros((2, 40, 72, 3), np.float32))
    h, w = output_size(40, 72)
    assert {k: tuple(v.shape) for k, v in out.items()} == {
        "part_pred": (2, h, w, 4 + 2),
        "locref": (2, h, w, 8),
        "pairwise_pred": (2, h, w, 6),
    }
    # the 1x1 conv to 128 channels reads the stride-8 mid-level feature
    decoder = model.get_layer("decoder_parallel_1")
    assert decoder.kernel.shape[:2] == (1, 1) and decoder.filters == 128
    assert decoder.input is model.get_layer(mid_layer).output
    assert model.get_layer("upsampled_block4").strides == (2, 2)


def test_dlcrnet_ms5_multi_stage() -> None:
    from dlcflow.training.manets import build_multi_model
    from dlcflow.training.nets import output_size

    for c in (cfg("dlcrnet_ms5"), cfg("resnet_50", multi_stage=True)):
        model = build_multi_model(c)
        out = model(np.zeros((1, 48, 64, 3), np.float32))
        h, w = output_size(48, 64)
        assert tuple(out["part_pred"].shape) == (1, h, w, 6)
        assert tuple(out["locref"].shape) == (1, h, w, 8)
        assert tuple(out["pairwise_pred"].shape) == (1, h, w, 6)
        names = {layer.name for layer in model.layers}
        stages = {f"part_pred_s{i}" for i in range(1, 5)} | {
            f"pairwise_pred_s{i}" for i in range(1, 5)
        }
        assert stages <= names
        assert model.get_layer("fused_features").output.shape[-1] == 128 + 128 + 2048
        # the decoder's batch norm trains even though nothing else is frozen here
        assert model.get_layer("decoder_parallel_1_bn").trainable


def test_plain_heads_without_identity_and_interm() -> None:
    from dlcflow.training.manets import build_multi_model

    model = build_multi_model(
        cfg("mobilenet_v2_0.35", num_idchannel=0, multi_fusion=False, intermediate_supervision=True)
    )
    out = model(np.zeros((1, 32, 32, 3), np.float32))
    assert out["part_pred"].shape[-1] == 4 and out["part_pred_interm"].shape[-1] == 4
    assert "decoder_parallel_1" not in {layer.name for layer in model.layers}
    assert model.get_layer("part_pred").strides == (2, 2)  # transposed conv from stride 16


def test_channel_count_mismatch_is_one_clear_error() -> None:
    from dlcflow.training.manets import build_multi_model

    with pytest.raises(ValueError, match="num_limbs 2 differs"):
        build_multi_model(cfg("mobilenet_v2_0.35", num_limbs=2))


def test_snapshot_round_trip(tmp_path: Path) -> None:
    from dlcflow.training.manets import build_multi_model, load_trained_multi_model
    from dlcflow.training.nets import save_snapshot

    c = cfg("mobilenet_v2_0.35")
    model = build_multi_model(c)
    x = np.random.default_rng(0).uniform(0, 255, (1, 32, 48, 3)).astype(np.float32)
    expected = model(x)
    save_snapshot(tmp_path / "snapshot-7", model, iteration=7)
    again = load_trained_multi_model(c, tmp_path / "snapshot-7")
    got = again(x)
    for key in expected:
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-5, atol=1e-5)
