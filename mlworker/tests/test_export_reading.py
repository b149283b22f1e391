"""What the quality app exports, read by the worker side's own library (Keras): a training
host loads the ImageNet-folder archive as it is. Here, not in quality/tests, because only
worker code imports Keras."""

import zipfile

import keras

from quality.tests.test_exports import labelled, run_export  # noqa: F401 (labelled: a fixture)


def test_imagenet_archive_loads_with_keras_image_dataset_from_directory(tmp_path, labelled):  # noqa: F811
    archive = run_export(tmp_path, "--format", "imagenet", "--model", "resnet50")
    with zipfile.ZipFile(archive) as opened:
        names = sorted(opened.namelist())
        opened.extractall(tmp_path / "dataset")
    assert names == sorted(
        [
            f"lynx/{labelled['corrected'].image_sha256}.jpg",
            f"lynx/{labelled['reviewed'].image_sha256}.jpg",
            f"tiger_cat/{labelled['right'].image_sha256}.jpg",
        ]
    )

    dataset = keras.utils.image_dataset_from_directory(
        tmp_path / "dataset", image_size=(64, 64), batch_size=8, shuffle=False
    )
    assert dataset.class_names == ["lynx", "tiger_cat"]
    images, labels = next(iter(dataset))
    assert tuple(images.shape) == (3, 64, 64, 3)
    assert sorted(labels.numpy().tolist()) == [0, 0, 1]
