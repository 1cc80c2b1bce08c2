"""SMPLify's Gaussian-mixture pose prior (pose2rig/body/prior.py): the max-mixture negative
log-likelihood against a hand computation, the official pickle layout and its .npz twin, refused
files (a malicious pickle runs nothing), and the prior in the fit and on the command line."""

from __future__ import annotations

import math
import pickle
import pickletools
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from pose2rig.body.fit import FitOptions, fit_body
from pose2rig.body.io import read_body_npz
from pose2rig.body.prior import GmmPrior, load_gmm_prior
from pose2rig.body.smpl import load_smpl_body
from pose2rig.body.smpl_file import SMPL_JOINT_NAMES
from pose2rig.cli import cli  # first: it sets OMP_WAIT_POLICY before torch is imported
from pose2rig.errors import ArgumentError, Pose2RigError
from pose2rig.io.npz import read_arrays, write_arrays
from pose2rig.options import BodyOptions
from pose2rig.skeletons import H36M17
from pose2rig.testing import malicious_pickle, write_synthetic_gmm, write_synthetic_smpl

FRAMES = 6
ELBOW = SMPL_JOINT_NAMES.index("left_elbow")  # 18; its flexion is about -Y in the T-pose
QUICK = FitOptions(shape_iters=30, orient_iters=10, pose_iters=200)
"""Enough pose iterations for the priors to settle a joint the data leaves open."""


# ----------------------------------------------------------------------------- the likelihood
def _two_component() -> GmmPrior:
    """D = 3: N(0, I) with weight 0.3 and N((1, 0, 0), 4 I) with weight 0.7."""
    means = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    covars = np.stack([np.eye(3), 4.0 * np.eye(3)])
    return GmmPrior(means, covars, np.array([0.3, 0.7]))


def test_nll_is_smplifys_max_mixture_by_hand():
    """min_k 0.5 (x - mu_k)^T C_k^-1 (x - mu_k) - log w_k + D/2 log(2 pi) + 0.5 (log det C_k
    - min_j log det C_j), as smplify-x's merged_log_likelihood; log det C = 0 and 3 log 4."""
    g = _two_component()
    c = 1.5 * math.log(2 * math.pi)
    x = torch.tensor([[1.0, 0.0, 0.0], [3.0, 0.0, 0.0], [0.0, 2.0, 0.0]], requires_grad=True)
    nll = g(x)
    comp = [
        [0.5 * 1 - math.log(0.3), 0.0 - math.log(0.7) + 1.5 * math.log(4)],  # x = (1, 0, 0): component 0
        [0.5 * 9 - math.log(0.3), 0.5 * 4 / 4 - math.log(0.7) + 1.5 * math.log(4)],  # (3, 0, 0): component 1
        [0.5 * 4 - math.log(0.3), 0.5 * 5 / 4 - math.log(0.7) + 1.5 * math.log(4)],  # (0, 2, 0): component 1
    ]
    want = [c + min(a) for a in comp]
    assert [int(np.argmin(a)) for a in comp] == [0, 1, 1]  # the cases reach both components
    np.testing.assert_allclose(nll.detach().numpy(), want, rtol=1e-6)
    nll.sum().backward()
    # the gradient is the chosen component's: C^-1 (x - mu)
    np.testing.assert_allclose(x.grad.numpy(), [[1.0, 0, 0], [0.5, 0, 0], [-0.25, 0.5, 0]], atol=1e-6)
    # (B, D / 3, 3) is read as (B, D)
    np.testing.assert_allclose(g(x.detach()[:, None, :]).numpy(), want, rtol=1e-6)


def test_constants_match_smplify_nll_weights_on_a_full_covariance(tmp_path):
    rng = np.random.default_rng(3)
    a = rng.standard_normal((3, 6, 6))
    covars = a @ np.swapaxes(a, 1, 2) + np.eye(6)
    w = np.array([0.2, 0.5, 0.3])
    g = GmmPrior(rng.standard_normal((3, 6)), covars, w)
    sqrdets = np.sqrt(np.linalg.det(covars))
    nll_weights = w / ((2 * np.pi) ** 3 * (sqrdets / sqrdets.min()))  # smplify-x, with D = 6
    np.testing.assert_allclose(g.constants.numpy(), -np.log(nll_weights), rtol=1e-5)
    np.testing.assert_allclose(g.precisions.numpy(), np.linalg.inv(covars), rtol=1e-4, atol=1e-6)


# ----------------------------------------------------------------------------- files
def test_official_layout_pickle_round_trips_and_names_only_numpy(tmp_path):
    rng = np.random.default_rng(0)
    means = 0.1 * rng.standard_normal((8, 69))
    p = write_synthetic_gmm(tmp_path / "gmm_08.pkl", means=means, seed=1)
    raw = p.read_bytes()
    ops = list(pickletools.genops(raw))
    assert ops[0][0].name == "PROTO" and ops[0][1] == 2
    assert {a for o, a, _ in ops if o.name in ("GLOBAL", "STACK_GLOBAL")} == {
        "numpy.core.multiarray _reconstruct", "numpy ndarray", "numpy dtype"}
    assert "BINSTRING" in {o.name for o, _, _ in ops} and "BINUNICODE" not in {o.name for o, _, _ in ops}
    gmm = pickle.loads(raw, encoding="latin1")  # what SMPLify's own loaders read
    g = load_gmm_prior(p)
    assert g.dim == 69 and g.num_joints == 23 and g.means.shape == (8, 69)
    np.testing.assert_allclose(g.means.numpy(), means, rtol=1e-6)
    np.testing.assert_allclose(g.precisions.numpy(), np.linalg.inv(gmm["covars"]), rtol=1e-4, atol=1e-4)
    n = write_synthetic_gmm(tmp_path / "gmm.npz", kind="npz", **gmm)
    g2 = load_gmm_prior(n)
    x = torch.as_tensor(0.2 * rng.standard_normal((4, 23, 3)), dtype=torch.float32)
    torch.testing.assert_close(g2(x), g(x))


def test_malicious_pickle_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    p = malicious_pickle(tmp_path / "gmm_08.pkl", marker)
    with pytest.raises(Pose2RigError, match="refusing to unpickle global"):
        load_gmm_prior(p)
    assert not marker.exists()


def test_a_pickle_global_outside_the_gmm_layout_is_refused(tmp_path):
    """numpy scalars are fine for the SMPL loader, but gmm_08.pkl holds none: refused too."""
    p = tmp_path / "gmm_08.pkl"
    p.write_bytes(pickle.dumps({"means": np.float64(1.0)}, protocol=2))
    with pytest.raises(Pose2RigError, match="refusing to unpickle global numpy.*scalar"):
        load_gmm_prior(p)


def _good() -> dict[str, np.ndarray]:
    return {"means": np.zeros((2, 6)), "covars": np.stack([np.eye(6)] * 2), "weights": np.array([0.4, 0.6])}


@pytest.mark.parametrize("change, says", [
    ({"weights": None}, "missing weights"),
    ({"means": np.zeros(6)}, "means must be (K, D)"),
    ({"covars": np.stack([np.eye(5)] * 2)}, "covars must be (2, 6, 6)"),
    ({"weights": np.array([0.4, 0.4])}, "sum to 1"),
    ({"weights": np.array([1.2, -0.2])}, "must be positive"),
    ({"covars": np.stack([np.eye(6) + np.triu(np.ones((6, 6)), 1)] * 2)}, "symmetric"),
    ({"covars": np.stack([np.eye(6), -np.eye(6)])}, "positive definite"),
    ({"means": np.full((2, 6), np.nan)}, "NaN"),
    ({"means": np.array([["a"] * 6] * 2)}, "numeric arrays"),
])
@pytest.mark.parametrize("kind", ["pkl", "npz"])
def test_wrong_mixture_is_one_line_saying_what_was_expected(tmp_path, change, says, kind):
    arrays = {k: v for k, v in {**_good(), **change}.items() if v is not None}
    p = tmp_path / f"gmm.{kind}"
    if kind == "npz":
        np.savez(p, **arrays)
    else:
        p.write_bytes(pickle.dumps(arrays, protocol=2))
    with pytest.raises(Pose2RigError) as e:
        load_gmm_prior(p)
    assert says in str(e.value) and "\n" not in str(e.value)


def test_missing_file_and_wrong_extension(tmp_path):
    with pytest.raises(ArgumentError, match="does not exist; SMPLify's pose prior gmm_08.pkl comes with"):
        load_gmm_prior(tmp_path / "gmm_08.pkl")
    (tmp_path / "gmm.txt").write_text("means")
    with pytest.raises(ArgumentError, match=r"must be a \.pkl .* or an \.npz"):
        load_gmm_prior(tmp_path / "gmm.txt")
    (tmp_path / "gmm.pkl").write_text("not a pickle")
    with pytest.raises(Pose2RigError, match="not a readable pose-prior pickle"):
        load_gmm_prior(tmp_path / "gmm.pkl")


def test_prior_applies_only_to_a_model_with_smpls_body_pose():
    smpl = SimpleNamespace(kind="smpl", joint_names=SMPL_JOINT_NAMES, parents=np.r_[-1, np.zeros(23, int)])
    prior = GmmPrior(np.zeros((1, 69)), np.eye(69)[None], np.ones(1))
    prior.check_model(smpl)  # SMPL's 23 non-root joints in order: accepted
    anny = SimpleNamespace(kind="anny", joint_names=tuple(f"j{i}" for i in range(53)), parents=np.r_[-1, np.zeros(52)])
    with pytest.raises(ArgumentError, match=r"pose_prior is a mixture over the 23 non-root joints of SMPL \(69 "
                                            r"values\); the anny model's pose has 52"):
        prior.check_model(anny)
    shuffled = SimpleNamespace(kind="smpl", joint_names=SMPL_JOINT_NAMES[:1] + SMPL_JOINT_NAMES[:0:-1],
                               parents=smpl.parents)
    with pytest.raises(ArgumentError, match="in another order"):
        prior.check_model(shuffled)
    small = GmmPrior(np.zeros((1, 63)), np.eye(63)[None], np.ones(1))
    with pytest.raises(ArgumentError, match="the 21 non-root joints"):
        small.check_model(smpl)
    with pytest.raises(ArgumentError, match=r"pose_body must be \(B, 69\)"):
        prior(torch.zeros(2, 63))


def test_pose_prior_needs_an_smpl_model():
    with pytest.raises(ArgumentError, match="pose_prior is a mixture over SMPL's body pose: give smpl_model too"):
        BodyOptions(pose_prior="gmm_08.pkl")
    assert BodyOptions(pose_prior="g.pkl", smpl_model="m.npz").pose_prior == Path("g.pkl")


# ----------------------------------------------------------------------------- in the fit
@pytest.fixture(scope="module")
def smpl_file(tmp_path_factory) -> Path:
    return write_synthetic_smpl(tmp_path_factory.mktemp("smpl") / "SMPL_NEUTRAL.npz")


@pytest.fixture(scope="module")
def motion(smpl_file) -> tuple[np.ndarray, np.ndarray]:
    """``(pose (F, 24, 3), joints (F, 17, 3))``: legs and the right arm move, the left arm
    hangs with a straight elbow; joints of the synthetic SMPL body, Y up, facing +Z."""
    model = load_smpl_body(smpl_file)
    s = np.linspace(0.0, 1.0, FRAMES)
    pose = np.zeros((FRAMES, 24, 3))
    pose[:, 4, 0] = pose[:, 5, 0] = 0.2 + 0.5 * s
    pose[:, 1, 0] = -(0.1 + 0.3 * s)
    pose[:, 16, 2] = -1.0
    pose[:, 17, 2] = 1.0
    pose[:, 19, 1] = 0.3 + 0.6 * s
    with torch.no_grad():
        out = model(torch.as_tensor(pose, dtype=torch.float32), torch.zeros(1, 10), torch.zeros(FRAMES, 3))
        return pose, model.h36m17(out).numpy().astype(np.float64)


def _elbow_prior(path: Path, pose: np.ndarray, kind: str = "pkl") -> Path:
    """Component 0 (weight 0.8): the motion's mean pose with the left elbow flexed 1 rad (about
    -Y), 0.05 rad^2 each but the elbow's 0.002; component 1 (0.2): the elbow bent 1 rad the other
    way, far from the data."""
    mean = pose[:, 1:].mean(axis=0).reshape(-1)
    m0, m1 = mean.copy(), mean.copy()
    m0[(ELBOW - 1) * 3 + 1] = -1.0
    m1[(ELBOW - 1) * 3 + 1] = 1.0
    m1[: 3 * 10] += 0.5
    var = np.full(69, 0.05)
    var[(ELBOW - 1) * 3: ELBOW * 3] = 0.002
    cov = np.stack([np.diag(var)] * 2)
    return write_synthetic_gmm(path, kind=kind, means=np.stack([m0, m1]), covars=cov, weights=np.array([0.8, 0.2]))


def test_fit_with_the_prior_pulls_an_unseen_forearm_to_the_priors_mean(tmp_path, smpl_file, motion):
    """The left wrist missing in every frame leaves the left elbow's flexion to the priors: the
    L2 prior holds it near its rest (the bending prior bends it a little), the mixture bends it
    to its mean; the joints the data shows stay where they are."""
    pose, joints = motion
    x = joints.copy()
    x[:, H36M17.index("left_wrist")] = np.nan
    model = load_smpl_body(smpl_file)
    prior = load_gmm_prior(_elbow_prior(tmp_path / "gmm_08.pkl", pose))
    l2 = fit_body(model, x, options=QUICK)
    gmm = fit_body(model, x, options=QUICK, pose_prior=prior)
    assert (l2.pose[:, ELBOW, 1] > -0.6).all()  # the bending prior's mild bend against the L2 prior
    np.testing.assert_allclose(gmm.pose[:, ELBOW, 1], -1.0, atol=0.15)
    for fit in (l2, gmm):
        assert np.nanmean(fit.error) < 0.01


def test_fit_refuses_a_prior_over_other_joints(smpl_file, motion):
    model = load_smpl_body(smpl_file)
    prior = GmmPrior(np.zeros((1, 63)), np.eye(63)[None], np.ones(1))
    with pytest.raises(ArgumentError, match="pose_prior is a mixture over the 21 non-root joints"):
        fit_body(model, motion[1], options=QUICK, pose_prior=prior)


# ----------------------------------------------------------------------------- the command
def _pose_npz(path: Path, joints: np.ndarray) -> Path:
    write_arrays(path, {"joints3d_world": joints.astype(np.float32), "fps": np.float64(30.0),
                        "joint_names": np.asarray(H36M17.joint_names),
                        "confidence": np.isfinite(joints).all(-1).astype(np.float32)})
    return path


def test_cli_fit_with_pose_prior_end_to_end(tmp_path, smpl_file, motion):
    pose, joints = motion
    x = joints.copy()
    x[:, H36M17.index("left_wrist")] = np.nan
    src, out = _pose_npz(tmp_path / "pose.npz", x), tmp_path / "body.npz"
    gmm = _elbow_prior(tmp_path / "gmm_08.npz", pose, kind="npz")
    res = CliRunner().invoke(cli, ["fit", str(src), "-o", str(out), "--smpl-model", str(smpl_file),
                                   "--pose-prior", str(gmm), "--fit-device", "cpu", "-q"])
    assert res.exit_code == 0, res.output
    poses = read_arrays(out)["poses"].reshape(FRAMES, 24, 3)
    np.testing.assert_allclose(poses[:, ELBOW, 1], -1.0, atol=0.15)
    assert float(np.nanmean(read_body_npz(out).error)) < 0.01


@pytest.mark.parametrize("extra, says", [
    ([], "error: --pose-prior is a mixture over SMPL's body pose: give --smpl-model too"),
    (["--smpl-model", "MODEL", "--pose-prior-dim", "63"], "error: --pose-prior is a mixture over the 21 non-root"),
    (["--smpl-model", "MODEL", "--pose-prior-malicious"], "error: {gmm}: refusing to unpickle global io.open"),
])
def test_cli_refuses_a_bad_pose_prior_in_one_line_and_writes_nothing(tmp_path, smpl_file, motion, extra, says):
    src, out = _pose_npz(tmp_path / "pose.npz", motion[1]), tmp_path / "body.npz"
    marker = tmp_path / "pwned"
    gmm = tmp_path / "gmm_08.pkl"
    if "--pose-prior-malicious" in extra:
        malicious_pickle(gmm, marker)
    else:
        d = int(extra[-1]) if "--pose-prior-dim" in extra else 69
        write_synthetic_gmm(gmm, dim=d)
    args = ["fit", str(src), "-o", str(out), "--pose-prior", str(gmm)]
    if "--smpl-model" in extra:
        args += ["--smpl-model", str(smpl_file)]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 1, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(says.format(gmm=gmm)), res.stderr
    assert not out.exists() and not marker.exists()


def test_convert_has_the_pose_prior_flag():
    res = CliRunner().invoke(cli, ["convert", "--help"])
    assert res.exit_code == 0 and "--pose-prior" in res.output
