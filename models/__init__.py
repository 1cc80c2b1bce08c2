"""The lifter weights that pose2rig ships (their model card: README.md). No code: installed as the
data package ``pose2rig.assets.models`` (see :mod:`pose2rig.assets`)."""
