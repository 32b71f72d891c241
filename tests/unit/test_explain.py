"""explain-model: layers, shapes, parameters, and receptive fields computed through the graph."""

import pytest


def test_course_cnn_receptive_fields():
    from kagglekit.models.explain import explain_model
    from kagglekit.models.registry import create_model

    info = explain_model("course_cnn", 150, 2)
    spatial = [layer for layer in info.layers if layer.is_spatial]
    assert [layer.kind for layer in spatial] == ["Conv2D", "MaxPooling2D"] * 4
    # 3x3 valid convolutions and 2x2 pooling: the textbook sequence for the course's CNN.
    assert [layer.receptive_field[0] for layer in spatial] == [3, 4, 8, 10, 18, 22, 38, 46]
    assert [layer.jump[0] for layer in spatial] == [1, 2, 2, 4, 4, 8, 8, 16]
    assert [layer.output_shape[1] for layer in spatial] == [148, 74, 72, 36, 34, 17, 15, 7]
    assert info.final_receptive_field == (46, 46)
    assert info.total_params == create_model("course_cnn", (150, 150, 3), 2).count_params() == 3_453_121
    assert sum(layer.params for layer in info.layers) == info.total_params


def test_strides_and_nested_backbone():
    from kagglekit.models.explain import explain_model

    info = explain_model("resnet50", 32, 2)
    by_name = {layer.name: layer for layer in info.layers}
    conv1, pool1 = by_name["resnet50/conv1_conv"], by_name["resnet50/pool1_pool"]
    assert (conv1.kernel, conv1.stride, conv1.receptive_field, conv1.jump) == ((7, 7), (2, 2), (7, 7), (2, 2))
    assert (pool1.kernel, pool1.stride, pool1.receptive_field, pool1.jump) == ((3, 3), (2, 2), (11, 11), (4, 4))
    # where the residual branches meet the widest wins: block 1's 3x3 conv adds 2 * 4 pixels, its shortcut none
    assert by_name["resnet50/conv2_block1_0_conv"].receptive_field == (11, 11)
    assert by_name["resnet50/conv2_block2_1_conv"].receptive_field == (19, 19)
    assert by_name["resnet50/conv5_block3_3_conv"].jump == (32, 32)  # five stride-2 steps
    assert sum(layer.params for layer in info.layers) == info.total_params


def test_explain_model_cli(workdir, cli):
    code, out, err = cli("explain-model", "--model", "course_cnn", "--image-size", "150")
    assert code == 0, err
    assert "course_cnn on 150x150x3 images, 2 classes" in out
    row = [line for line in out.splitlines() if " MaxPooling2D " in line][-1]  # names vary with the models built before
    assert row.split()[-2:] == ["46", "16"] and "7x7x128" in row
    assert "parameters: 3,453,121" in out and "sees a 46x46-pixel patch of the 150x150 image" in out
    code, out, err = cli("explain-model", "-c", "demo-digits", "--model", "bn_cnn_small")
    assert code == 0, err
    assert "bn_cnn_small on 16x16x3 images, 10 classes" in out  # size and classes from the competition


@pytest.mark.parametrize("args, message", [(["--model", "vgg99"], "unknown model 'vgg99'"),
                                           (["--model", "course_cnn", "--image-size", "32"], "needs --image-size 62")])
def test_explain_model_bad_input(workdir, cli, args, message):
    code, _, err = cli("explain-model", *args)
    assert code == 1 and message in err and len(err.strip().splitlines()) == 1
