# pose2rig: two commands on a fresh machine.
#   make demo   installs everything, converts the bundled clip (BVH, and FBX on the bundled
#               character with a preview of it), prints where the outputs are
#   make test   installs everything, runs the whole test suite
#   make lint   installs everything, runs ruff and mypy (configured in pyproject.toml); CI runs
#               it before the tests
# A second run reuses .venv (it reinstalls only when pyproject.toml or constraints.txt changes).

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.pose2rig-installed
CLIP   ?= samples/sports2d_demo.mp4
NAME   := $(basename $(notdir $(CLIP)))

# Debian packages: OpenCV's and Blender's shared libraries, EGL for offscreen rendering, Node.js
# for the Khronos glTF validator that the tests run. npm is installed only where the npm command
# is missing: Debian's nodejs comes without it, NodeSource's bundles it and conflicts with
# Debian's npm package.
APT_PACKAGES := libgl1 libglib2.0-0 libegl1 libegl-mesa0 libgl1-mesa-dri libgbm1 libx11-6 \
                libxrender1 libxfixes3 libxi6 libxkbcommon0 libsm6 libice6 nodejs

# The Khronos glTF validator (npm), pinned exactly, inside the venv so that removing .venv
# removes it too. Its own stamp: `make install` adds it to a venv installed before it existed.
GLTF_VALIDATOR := 2.0.0-dev.3.10
NODE_DIR       := $(VENV)/node
NODE_STAMP     := $(NODE_DIR)/.gltf-validator-$(GLTF_VALIDATOR)

# Anny's body model cache (the body fit's default model), built once after the install where
# pose2rig.body.anny looks for it: $ANNY_CACHE_DIR, else ~/.cache/pose2rig/anny (about 2 minutes;
# 51 MB kept). A run that finds no cache builds it itself, saying so.
ANNY_STAMP := $(VENV)/.anny-cache-built

.PHONY: demo test lint install apt clean

demo: $(STAMP) $(ANNY_STAMP)
	@mkdir -p out
	$(BIN)/pose2rig convert $(CLIP) --bvh out/$(NAME).bvh --npz out/$(NAME).npz \
	    --preview out/$(NAME)_preview.mp4 \
	    --fbx out/$(NAME).fbx --character-preview out/$(NAME)_character.mp4
	@echo "Outputs:"; ls -l out/$(NAME).bvh out/$(NAME).npz out/$(NAME)_preview.mp4 \
	    out/$(NAME).fbx out/$(NAME)_character.mp4

test: $(STAMP) $(NODE_STAMP) $(ANNY_STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check pose2rig tests bench blender_addon
	$(BIN)/mypy

install: $(STAMP) $(NODE_STAMP) $(ANNY_STAMP)

apt:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	command -v npm >/dev/null 2>&1 || missing="$$missing npm"; \
	if [ -n "$$missing" ]; then \
	    echo "Installing Debian packages: $$missing"; \
	    SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	    $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

$(STAMP): pyproject.toml constraints.txt | apt
	@command -v $(PYTHON) >/dev/null || { echo "pose2rig needs $(PYTHON) (bpy 5.0.1 is built for Python 3.11 only)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first and pinned exactly: a looser requirement pulls a multi-GB CUDA build
	$(BIN)/pip install -q -c constraints.txt torch==2.13.0
	# everything: the core and every extra (pyproject.toml), mediapipe's requirements pinned by
	# constraints.txt
	$(BIN)/pip install -q -c constraints.txt -e '.[all,test]'
	touch $(STAMP)

$(ANNY_STAMP): $(STAMP)
	$(BIN)/python -m pose2rig.body.anny --build-cache
	touch $@

$(NODE_STAMP): | $(STAMP)
	@command -v npm >/dev/null || { echo "npm is missing: the glTF validator test needs Node.js and npm (make apt installs them)"; exit 1; }
	npm install --prefix $(NODE_DIR) --no-audit --no-fund --save-exact gltf-validator@$(GLTF_VALIDATOR)
	touch $@

clean:
	rm -rf out
