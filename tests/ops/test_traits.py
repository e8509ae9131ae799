"""Placement traits, pinned to NNCF's OpenVINO metatype groups where NNCF has the op.

Quantization asks these traits where quantizers go; NNCF's groups are the reference. Each
departure is listed with its reason, so a change on either side shows up here.
"""

from __future__ import annotations

import pytest

from lpir.ops import lookup, registered_types

groups = pytest.importorskip("nncf.openvino.graph.metatypes.groups")

# lpir op → why its trait departs from NNCF's group membership
DEPARTURES = {
    "quantization_agnostic": {
        # NNCF moves quantizers through Concat with its own rule (one range for all inputs):
        # lpir says so with quantization_agnostic + unified_input_scales.
        "Concat": True,
    },
    "has_bias": {
        # NNCF gives a bias to depthwise GroupConvolutions only; lpir's trait is per op type.
        "GroupConvolution": True,
    },
}
GROUPS = {
    "quantization_agnostic": "QUANTIZE_AGNOSTIC_OPERATIONS",
    "quantizable": "INPUTS_QUANTIZABLE_OPERATIONS",
    "has_bias": "OPERATIONS_WITH_BIAS",
}


def nncf_op_names(group_name: str) -> set[str]:
    return {alias for metatype in getattr(groups, group_name) for alias in metatype.get_all_aliases()}


def lpir_ops_known_to_nncf() -> list[str]:
    from nncf.openvino.graph.metatypes.openvino_metatypes import OV_OPERATOR_METATYPES
    known = {alias for metatype in OV_OPERATOR_METATYPES.registry_dict.values() for alias in metatype.get_all_aliases()}
    return [name for name in registered_types() if name in known]


@pytest.mark.parametrize("trait", sorted(GROUPS))
def test_placement_traits_match_nncf_groups(trait):
    members = nncf_op_names(GROUPS[trait])
    wrong = []
    for name in lpir_ops_known_to_nncf():
        expected = DEPARTURES.get(trait, {}).get(name, name in members)
        for version in registered_types()[name]:
            if getattr(lookup(name, version).traits, trait) != expected:
                wrong.append(f"{name}-opset{version}")
    assert not wrong, f"{trait} differs from NNCF's {GROUPS[trait]} for {wrong}"


def test_ops_with_weights_are_nncfs_and_name_their_channel_axes():
    with_weights = nncf_op_names("OPERATIONS_WITH_WEIGHTS")
    for name in lpir_ops_known_to_nncf():
        op = lookup(name, 100)
        assert bool(op.traits.weight_inputs) == (name in with_weights), name
        if op.traits.weight_inputs:
            assert op.weight_channel_axes({"transpose_b": False}), name
            assert set(op.traits.weight_inputs) <= set(op.traits.quantizable_inputs(8)), name  # LSTMSequence has 7


def test_quantizable_inputs_skip_shapes_and_axes():
    assert lookup("Reshape", 1).traits.quantizable_inputs(2) == (0,)
    assert lookup("Interpolate", 11).traits.quantizable_inputs(3) == (0,)
    assert lookup("BatchNormInference", 1).traits.quantizable_inputs(5) == (2,)
    assert lookup("BatchNormInference", 5).traits.quantizable_inputs(5) == (0,)
    assert lookup("ScatterUpdate", 3).traits.quantizable_inputs(4) == (0, 2)
    assert lookup("Concat", 1).traits.quantizable_inputs(3) == (0, 1, 2)
    assert lookup("Concat", 1).traits.unified_input_scales
    assert lookup("MatMul", 1).traits.quantizable_inputs(2) == (0, 1)
