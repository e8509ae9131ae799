"""Broken and hostile IRs: each is refused with one ModelParseError whose single-line message
names the file, the layer (id and name), the port and the offending value where there is one.

Every case is one edit of a small valid IR that OpenVINO itself reads.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import openvino as ov
import pytest

import lpir
from lpir.errors import LpirError, ModelParseError

VALID_IR = """<?xml version="1.0"?>
<net name="m" version="11">
	<layers>
		<layer id="0" name="x" type="Parameter" version="opset1">
			<data shape="2,3" element_type="f32" />
			<output>
				<port id="0" precision="FP32" names="x"><dim>2</dim><dim>3</dim></port>
			</output>
		</layer>
		<layer id="1" name="w" type="Const" version="opset1">
			<data element_type="f32" shape="2,3" offset="0" size="24" />
			<output>
				<port id="0" precision="FP32"><dim>2</dim><dim>3</dim></port>
			</output>
		</layer>
		<layer id="2" name="sum" type="Add" version="opset1">
			<data auto_broadcast="numpy" />
			<input>
				<port id="0" precision="FP32"><dim>2</dim><dim>3</dim></port>
				<port id="1" precision="FP32"><dim>2</dim><dim>3</dim></port>
			</input>
			<output>
				<port id="2" precision="FP32" names="y"><dim>2</dim><dim>3</dim></port>
			</output>
		</layer>
		<layer id="3" name="cast" type="Convert" version="opset1">
			<data destination_type="f16" />
			<input>
				<port id="0" precision="FP32"><dim>2</dim><dim>3</dim></port>
			</input>
			<output>
				<port id="1" precision="FP16" names="z"><dim>2</dim><dim>3</dim></port>
			</output>
		</layer>
		<layer id="4" name="out" type="Result" version="opset1">
			<input>
				<port id="0" precision="FP16"><dim>2</dim><dim>3</dim></port>
			</input>
		</layer>
	</layers>
	<edges>
		<edge from-layer="0" from-port="0" to-layer="2" to-port="0" />
		<edge from-layer="1" from-port="0" to-layer="2" to-port="1" />
		<edge from-layer="2" from-port="2" to-layer="3" to-port="0" />
		<edge from-layer="3" from-port="1" to-layer="4" to-port="0" />
	</edges>
	<rt_info />
</net>
"""
WEIGHTS = np.arange(6, dtype=np.float32).tobytes()


def write_ir(folder: Path, replacements: dict[str, str] | None = None, *, text: str | None = None,
             weights: bytes | None = WEIGHTS) -> Path:
    """The valid IR with each ``old → new`` replacement applied once (asserted to be there)."""
    text = VALID_IR if text is None else text
    for old, new in (replacements or {}).items():
        assert old in text, old
        text = text.replace(old, new, 1)
    xml = folder / "model.xml"
    xml.write_text(text)
    if weights is not None:
        xml.with_suffix(".bin").write_bytes(weights)
    return xml


def parse_error(xml: Path, *fragments: str) -> str:
    """Read ``xml``, expect a ModelParseError naming the file and every fragment, on one line."""
    with pytest.raises(ModelParseError) as info:
        lpir.read_model(xml)
    message = str(info.value)
    assert isinstance(info.value, LpirError)
    assert "\n" not in message
    for fragment in (str(xml), *fragments):
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


def test_the_valid_ir_reads_in_lpir_and_openvino(tmp_path):
    xml = write_ir(tmp_path)
    model = lpir.read_model(xml)
    assert [n.name for n in model.nodes()] == ["x", "w", "sum", "cast", "out"]
    ov_model = ov.Core().read_model(str(xml))
    assert ov_model.outputs[0].get_element_type() == ov.Type.f16


def test_missing_bin(tmp_path):
    parse_error(write_ir(tmp_path, weights=None), "layer 1 'w'", str(tmp_path / "model.bin"), "does not exist")


def test_truncated_bin(tmp_path):
    parse_error(write_ir(tmp_path, weights=WEIGHTS[:12]), "layer 1 'w'", "offset 0 + size 24", "(12 bytes)")


def test_offset_plus_size_beyond_the_bin(tmp_path):
    parse_error(write_ir(tmp_path, {'offset="0"': 'offset="16"'}), "layer 1 'w'", "offset 16 + size 24 = 40",
                "(24 bytes)")


def test_size_too_small_for_shape_and_type(tmp_path):
    parse_error(write_ir(tmp_path, {'size="24"': 'size="20"'}), "layer 1 'w'", "size 20", "f32[2, 3]",
                "24 bytes needed")


def test_size_larger_than_needed_is_tolerated(tmp_path):
    """OpenVINO accepts a Const whose size exceeds what its shape needs; so does lpir."""
    xml = write_ir(tmp_path, {'size="24"': 'size="28"'}, weights=WEIGHTS + bytes(4))
    ov.Core().read_model(str(xml))
    tensor = lpir.read_model(xml).node("w").tensor
    np.testing.assert_array_equal(tensor.numpy(), np.arange(6, dtype=np.float32).reshape(2, 3))


@pytest.mark.parametrize("where, replacement, fragments", [
    ("Const", {'element_type="f32" shape="2,3" offset': 'element_type="f33" shape="2,3" offset'},
     ["layer 1 'w'", "element_type='f33'"]),
    ("Parameter", {'shape="2,3" element_type="f32"': 'shape="2,3" element_type="float"'},
     ["layer 0 'x'", "element_type='float'"]),
    ("Convert", {'destination_type="f16"': 'destination_type="half"'},
     ["layer 3 'cast'", "destination_type='half'"]),
    ("port", {'precision="FP32" names="y"': 'precision="FP33" names="y"'},
     ["layer 2 'sum'", "port 2", "'FP33'"]),
])
def test_unknown_element_type(tmp_path, where, replacement, fragments):
    parse_error(write_ir(tmp_path, replacement), *fragments)


def test_edge_to_missing_layer(tmp_path):
    parse_error(write_ir(tmp_path, {'to-layer="4"': 'to-layer="9"'}), "to-layer='9'", "missing layer 9")


def test_edge_to_missing_input_port(tmp_path):
    parse_error(write_ir(tmp_path, {'to-layer="4" to-port="0"': 'to-layer="4" to-port="3"'}),
                "layer 4 'out'", "missing input port 3")


def test_edge_from_missing_output_port(tmp_path):
    parse_error(write_ir(tmp_path, {'from-layer="2" from-port="2"': 'from-layer="2" from-port="1"'}),
                "layer 2 'sum'", "missing output port 1")


def test_duplicate_layer_ids(tmp_path):
    parse_error(write_ir(tmp_path, {'<layer id="3"': '<layer id="2"'}), "duplicate layer id 2", "'sum'", "'cast'")


def test_two_edges_into_one_input(tmp_path):
    edge = '<edge from-layer="0" from-port="0" to-layer="2" to-port="0" />'
    parse_error(write_ir(tmp_path, {edge: edge + '<edge from-layer="1" from-port="0" to-layer="2" to-port="0" />'}),
                "layer 2 'sum'", "input port 0", "more than one incoming edge")


def test_input_port_without_edge(tmp_path):
    parse_error(write_ir(tmp_path, {'<edge from-layer="1" from-port="0" to-layer="2" to-port="1" />': ""}),
                "layer 2 'sum'", "input port 1 has no incoming edge")


def test_cycle(tmp_path):
    """Convert feeds back into Add, which feeds Convert."""
    edge = '<edge from-layer="0" from-port="0" to-layer="2" to-port="0" />'
    parse_error(write_ir(tmp_path, {edge: '<edge from-layer="3" from-port="1" to-layer="2" to-port="0" />'}),
                "layer 2 'sum'", "cycle")


def test_not_an_ir(tmp_path):
    parse_error(write_ir(tmp_path, text='<?xml version="1.0"?><html><body /></html>'), "not an OpenVINO IR",
                "<html>")


def test_unsupported_ir_version(tmp_path):
    parse_error(write_ir(tmp_path, {'version="11"': 'version="7"'}), "IR version '7'")


def test_malformed_xml(tmp_path):
    parse_error(write_ir(tmp_path, text=VALID_IR[:700]), "malformed XML", "line")


def test_missing_xml(tmp_path):
    parse_error(tmp_path / "absent.xml", "no such file")


def test_billion_laughs_is_refused(tmp_path):
    entities = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10))
    text = f'<?xml version="1.0"?>\n<!DOCTYPE net [{entities}]>\n<net name="&lol9;" version="11"><layers /></net>'
    parse_error(write_ir(tmp_path, text=text), "unsafe XML refused", "EntitiesForbidden")


def test_external_entity_is_refused(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("secret")
    text = (f'<?xml version="1.0"?>\n<!DOCTYPE net [<!ENTITY xxe SYSTEM "file://{secret}">]>\n'
            '<net name="&xxe;" version="11"><layers /></net>')
    message = parse_error(write_ir(tmp_path, text=text), "unsafe XML refused")
    assert "secret\"" not in message and "name='secret'" not in message


def test_non_integer_layer_id(tmp_path):
    parse_error(write_ir(tmp_path, {'<layer id="3"': '<layer id="three"'}), "layer 'cast'", "'three'")


def test_non_integer_dim(tmp_path):
    parse_error(write_ir(tmp_path, {'names="y"><dim>2</dim>': 'names="y"><dim>two</dim>'}),
                "layer 2 'sum'", "port 2", "invalid dim 'two'")


def test_non_integer_offset(tmp_path):
    parse_error(write_ir(tmp_path, {'offset="0"': 'offset="0x10"'}), "layer 1 'w'", "offset='0x10'")


def test_non_integer_edge_layer(tmp_path):
    parse_error(write_ir(tmp_path, {'to-layer="4"': 'to-layer="four"'}), "to-layer='four'", "non-integer")


def test_cycle_is_named_by_a_layer_on_it(tmp_path):
    """The first layer in the file (Result 'out', listed first here) only follows the cycle."""
    result = VALID_IR[VALID_IR.index('\t\t<layer id="4"'):VALID_IR.index("\t</layers>")]
    text = VALID_IR.replace(result, "").replace("\t<layers>\n", "\t<layers>\n" + result, 1)
    edge = '<edge from-layer="0" from-port="0" to-layer="2" to-port="0" />'
    message = parse_error(write_ir(tmp_path, {edge: '<edge from-layer="3" from-port="1" to-layer="2" to-port="0" />'},
                                   text=text), "cycle")
    assert "layer 4 'out'" not in message and ("layer 2 'sum'" in message or "layer 3 'cast'" in message)


# -- IRs whose layers their ops do not accept: refused when read, naming the layer ----------
def test_a_layer_with_an_input_its_op_does_not_take(tmp_path):
    """A Convert with a second input (the Const): one layer, named, with the count it takes."""
    convert_in = '<port id="0" precision="FP32"><dim>2</dim><dim>3</dim></port>\n\t\t\t</input>\n\t\t\t<output>\n' \
                 '\t\t\t\t<port id="1" precision="FP16" names="z">'
    xml = write_ir(tmp_path, {convert_in: convert_in.replace(
        "</input>", '<port id="5" precision="FP32"><dim>2</dim><dim>3</dim></port>\n\t\t\t</input>', 1),
        '<edge from-layer="3"': '<edge from-layer="1" from-port="0" to-layer="3" to-port="5" />\n\t\t<edge from-layer="3"'})
    parse_error(xml, "layer 3 'cast'", "has 2 inputs", "Convert-opset1 takes 1")


def test_an_attribute_the_op_rejects_is_refused_when_reading(tmp_path):
    """The reader runs each op's inference, as OpenVINO does: the bad layer is named at once."""
    parse_error(write_ir(tmp_path, {'auto_broadcast="numpy"': 'auto_broadcast="diagonal"'}), "layer 2 'sum'",
                "diagonal")


def test_a_declared_shape_the_op_does_not_compute_is_refused_when_reading(tmp_path):
    xml = write_ir(tmp_path, {'<port id="2" precision="FP32" names="y"><dim>2</dim>':
                              '<port id="2" precision="FP32" names="y"><dim>5</dim>'})
    parse_error(xml, "layer 2 'sum'", "declared f32[5,3]", "computes f32[2,3]")

