import numpy as np

from fedshield.client import Site, TrainConfig
from fedshield.data import load_dataset
from fedshield.messages import FitIns
from fedshield.models import create_model
from fedshield.redteam.attacks import build_attack
from fedshield.redteam.groups import heart_group_masks


def _sites(data_dir):
    ds = load_dataset("heart-disease", data_dir=data_dir)
    factory = lambda: create_model("logistic", input_shape=ds.input_shape, seed=0)  # noqa: E731
    cfg = TrainConfig(local_steps=3, batch_size=8, learning_rate=0.1)
    return ds, [Site(data=s, model_factory=factory, train_config=cfg, seed=0, site_index=i)
                for i, s in enumerate(ds.sites)]


def test_group_masks_align_with_the_loader(shared_data_dir):
    ds = load_dataset("heart-disease", data_dir=shared_data_dir)
    masks = heart_group_masks(data_dir=shared_data_dir)
    for site in ds.sites:
        train, test = masks[site.site_id]
        assert train.shape == (site.num_train,) and test.shape == (site.num_test,)
    assert masks["cleveland"][0].sum() > 20  # Cleveland holds most women over 55


def test_semantic_backdoor_relabels_the_group_from_the_start_round(shared_data_dir):
    ds, sites = _sites(shared_data_dir)
    built = build_attack("semantic_backdoor", {}, dataset="heart-disease", data_dir=shared_data_dir,
                         malicious=["cleveland"], from_round=2, server_lr=1.0, seed=0)
    wrapped = [built.site_wrapper(s, i) for i, s in enumerate(sites)]
    assert wrapped[1] is sites[1]  # honest hospitals untouched
    bad = wrapped[0]
    group = heart_group_masks(data_dir=shared_data_dir)["cleveland"][0]
    assert (bad.poisoned.y_train[group] == 0).all()
    assert np.array_equal(bad.poisoned.y_train[~group], bad.clean.y_train[~group])
    params = np.zeros(len(ds.feature_names) + 1, np.float32)
    before = bad.fit(FitIns("r", 1, params)).delta
    after = bad.fit(FitIns("r", 2, params)).delta
    honest = sites[0].fit(FitIns("r", 2, params)).delta
    assert not np.allclose(after, honest) and bad.site.data is bad.clean
    assert before.shape == after.shape
