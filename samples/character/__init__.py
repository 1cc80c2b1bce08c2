"""The bundled default character with its license and attribution (README.md, LICENSE.md). No
code: installed as the data package ``pose2rig.assets.character`` (see :mod:`pose2rig.assets`)."""
