"""Shapes as users write them: -1 and ? are dynamic, intervals stay intervals, other negatives fail."""

from __future__ import annotations

import pytest

from lpir.errors import ValidationError
from lpir.ir import make_parameter
from lpir.ir.shape import DYNAMIC, Dim, as_shape, format_shape, parse_shape


def test_minus_one_and_question_mark_are_dynamic():
    assert as_shape((-1, 3)) == (DYNAMIC, 3)
    assert as_shape("?,3,1..8") == (DYNAMIC, 3, Dim(1, 8))
    assert make_parameter("f32", [-1, 4]).outputs[0].shape == (DYNAMIC, 4)
    assert as_shape(None) is None and as_shape(()) == ()


def test_other_negative_dimensions_are_refused():
    with pytest.raises(ValidationError, match="-2"):
        as_shape((-2, 3))


def test_format_inverts_parse():
    for text in ("1,3,224,224", "?,3,1..8", "", "0..10,2.."):
        assert format_shape(parse_shape(text)) == text
