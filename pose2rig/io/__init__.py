"""File formats: npz (canonical), BVH (pure Python); FBX/glTF through bpy later."""
