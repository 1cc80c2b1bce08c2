"""File formats: npz (canonical), BVH (pure Python), glTF/GLB (pygltflib), MPFB2 characters
(JSON + OBJ), and FBX/.blend (and glTF) through Blender's bpy; :mod:`pose2rig.io.rigs` picks the
reader or writer by file extension."""
