"""The self-conditioned GAN (Liu et al. 2020): k-means on D's features, the conditional GAN on the clusters,
sampling by the clusters' frequencies; no data label is read."""

from __future__ import annotations

import pytest
import torch

from gankit import api
from gankit.data import build_dataset
from gankit.errors import ConfigError
from gankit.models import selfcond
from gankit.models.selfcond import ClusterGenerator, SelfConditionedGAN, assign, kmeans, kmeans_pp_init


def _recipe(tiny, *overrides: str) -> tuple[SelfConditionedGAN, object]:
    cfg = tiny("data.name=digits", "model.recipe=selfcond", "model.condition=projection", "generator.name=dcgan",
               "discriminator.name=dcgan", "generator.noise_dim=8", "data.batch_size=16", *overrides)
    ds = build_dataset(cfg.data)
    SelfConditionedGAN.prepare_config(cfg, ds)
    torch.manual_seed(0)
    return SelfConditionedGAN(cfg, ds.shape, "cpu"), ds


def test_kmeans_finds_separated_blobs_and_keeps_every_cluster():
    torch.manual_seed(0)
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    x = torch.cat([c + 0.1 * torch.randn(50, 2) for c in centres])
    found, labels = kmeans(x, kmeans_pp_init(x, 3))
    truth = torch.arange(3).repeat_interleave(50)
    for k in range(3):  # each blob is one cluster, its centre the blob's mean
        assert labels[truth == k].unique().numel() == 1
        assert torch.allclose(found[labels[truth == k][0]], x[truth == k].mean(0), atol=1e-5)
    assert torch.equal(assign(x, found), labels)
    # a centre far from every point empties its cluster: it is re-seeded, so all K stay in use
    _, labels = kmeans(x, torch.tensor([[0.0, 0.0], [10.0, 0.0], [100.0, 100.0]]))
    assert torch.bincount(labels, minlength=3).min() > 0


def test_generator_samples_clusters_by_their_frequency():
    torch.manual_seed(0)
    from gankit.nets.dcgan import DCGANGenerator

    g = ClusterGenerator(DCGANGenerator(8 + 4, 1, 8, width=16), 8, 4)
    assert torch.allclose(g.cluster_freq, torch.full((4,), 0.25))  # uniform before any clustering
    g.cluster_freq.copy_(torch.tensor([0.7, 0.0, 0.3, 0.0]))
    y = g.labels_of(g.sample_noise(4000))
    share = torch.bincount(y, minlength=4).float() / 4000
    assert share[1] == 0 and share[3] == 0 and abs(float(share[0]) - 0.7) < 0.03
    assert torch.equal(g.labels_of(g.sample_noise(5, labels=3)), torch.full((5,), 3))  # asked classes are kept


def test_steps_cluster_d_features_and_never_read_labels(tiny, monkeypatch):
    monkeypatch.setattr(selfcond, "FIRST", 48)
    r, ds = _recipe(tiny, "model.num_classes=4", "model.recluster_every=4")
    monkeypatch.setattr(ds, "sample_with_labels", lambda *a, **k: pytest.fail("labels were read"))
    assert int(r.clusters.clustered) == 0
    for _ in range(3):  # 48 images seen: the first clustering (k-means++ on D's features at initialisation)
        stats = r.d_step(ds.sample(16))
        r.g_step(ds.sample(16))
    assert int(r.clusters.clustered) == 1 and set(stats) >= {"d_loss", "clusters_used", "cluster_entropy"}
    pi = r.generator.cluster_freq
    assert torch.isclose(pi.sum(), torch.tensor(1.0)) and int((pi > 0).sum()) == 4
    # the frequencies are those of the buffer's labels, which are the nearest centres of D's features
    feats = r.features(r.buffer)
    assert torch.equal(r.buffer_labels, assign(feats, r.clusters.centres))
    assert torch.allclose(pi, torch.bincount(r.buffer_labels, minlength=4).float() / len(r.buffer))
    x = ds.sample(16)
    assert torch.equal(r.clusters_of(x), assign(r.features(x), r.clusters.centres))
    r.d_step(ds.sample(16))  # the 4th D step re-clusters, starting from the means under the current labels
    assert int(r.clusters.clustered) == 2
    real, fake = r.discriminator_scores(ds.sample(16))
    assert real.shape == fake.shape == (16,)


def test_centres_and_frequencies_travel_with_the_checkpoint_and_the_export(tiny, tmp_path, monkeypatch):
    monkeypatch.setattr(selfcond, "FIRST", 32)
    cfg = tiny("data.name=digits", "model.recipe=selfcond", "model.condition=projection", "generator.name=dcgan",
               "discriminator.name=dcgan", "data.batch_size=16", "model.num_classes=3", f"run.out_dir={tmp_path}",
               "run.name=sc")
    run = api.train(cfg)
    state = torch.load(run.checkpoint, weights_only=False)
    assert int(state["recipe"]["modules"]["discriminator"]["clusters.clustered"]) >= 1
    net, loaded, _ = api.load_generator(run.root)
    assert loaded.model.num_classes == 3 and isinstance(net, ClusterGenerator)
    assert torch.isclose(net.cluster_freq.sum(), torch.tensor(1.0))
    assert api.sample(run.root, 6).shape == (6, 1, 8, 8)


@pytest.mark.parametrize(("override", "message"), [
    ("model.condition=concat", "model.condition=projection or acgan"),
    ("model.num_classes=1", "needs model.num_classes >= 2 clusters"),
])
def test_bad_settings_get_one_clear_error(tiny, override, message):
    with pytest.raises(ConfigError, match=message):
        _recipe(tiny, override)


def test_default_cluster_count(tiny):
    r, _ = _recipe(tiny)
    assert r.num_classes == selfcond.DEFAULT_CLUSTERS == r.generator.num_classes


def test_clusters_are_not_scored_as_digits(tiny, tmp_path, mnist_cache):
    """The conditional-accuracy metric reads the digits a generator was asked for: a cluster index is none."""
    from gankit.metrics import resolve
    from gankit.sampling import has_data_classes, latent_labels

    r, _ = _recipe(tiny)
    assert hasattr(r.generator, "labels_of") and not has_data_classes(r.generator)
    assert latent_labels(r.generator, r.generator.sample_noise(4)) is None
    assert r.sample_with_labels(4)[1] is None
    cfg = tiny(preset="selfcond-mnist")
    from gankit.data import build_dataset as build

    mnist = build(cfg.data)
    assert "conditional-accuracy" in resolve(["auto"], mnist, labels=True)  # a cgan generator's would be scored
    names = resolve(["auto"], mnist, labels=has_data_classes(r.generator))
    assert "fid" in names and "conditional-accuracy" not in names


def test_pca_axes_are_the_principal_directions():
    """fit_pca: x̄ the mean, the basis the leading principal axes (orthonormal, in variance order)."""
    torch.manual_seed(0)
    z = torch.randn(2000, 3) * torch.tensor([5.0, 2.0, 0.5])  # variances 25, 4, 0.25 along 3 orthonormal axes
    q, _ = torch.linalg.qr(torch.randn(10, 3))
    x = z @ q.T + 7.0
    c = selfcond.Clusters(4, 2, pixels=10)
    c.fit_pca(x)
    assert torch.allclose(c.mean, x.mean(0), atol=1e-5)
    assert torch.allclose(c.basis @ c.basis.T, torch.eye(2), atol=1e-5)
    for j in range(2):  # ± the first two axes, the third (smallest variance) left out
        assert abs(float(c.basis[j] @ q[:, j])) > 0.999
    proj = c.project(x)
    assert torch.allclose(proj.var(0), torch.tensor([25.0, 4.0]), rtol=0.1)
    assert set(selfcond.Clusters(4, 5).state_dict()) == {"centres", "clustered"}  # D-feature runs: old keys only


def test_cluster_on_pixels_never_reads_d_and_survives_a_reload(tiny, monkeypatch):
    monkeypatch.setattr(selfcond, "FIRST", 48)
    r, ds = _recipe(tiny, "model.num_classes=4", "model.recluster_every=4", "model.cluster_on=pixels")
    monkeypatch.setattr(r, "phi", lambda x: pytest.fail("D's features were read"))
    for _ in range(4):  # the first clustering after 48 images, a re-clustering at the 4th D step
        r.d_step(ds.sample(16))
        r.g_step(ds.sample(16))
    assert int(r.clusters.clustered) == 2
    x = ds.sample(32)
    flat = x.flatten(1)
    feats = (flat - r.clusters.mean) @ r.clusters.basis.T
    assert r.clusters.basis.shape == (selfcond.PIXEL_COMPONENTS, 64)
    assert torch.allclose(r.features(x), feats, atol=1e-5)
    assert torch.equal(r.clusters_of(x), assign(feats, r.clusters.centres))
    fresh, _ = _recipe(tiny, "model.num_classes=4", "model.cluster_on=pixels")
    fresh.discriminator.load_state_dict(r.discriminator.state_dict())  # centres and axes travel with D
    assert torch.equal(fresh.clusters_of(x), r.clusters_of(x))


def test_cluster_on_pixels_needs_enough_pixels(tiny):
    with pytest.raises(ConfigError, match="only 16 pixels"):
        _recipe(tiny, "model.cluster_on=pixels", "data.image_size=4")
