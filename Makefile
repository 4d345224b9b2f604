# edgeclip build. `make run` and `make test` set up a fresh Debian 12 machine
# themselves (apt packages installed once, idempotently).
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
BIN := bin/edgeclip
PY := /usr/bin/python3

# Debian packages the build, the tests and the tools need.
APT_PKGS := build-essential pkg-config libopencv-dev gstreamer1.0-plugins-base gstreamer1.0-plugins-good \
	mosquitto mosquitto-clients python3-torch python3-torchvision python3-numpy python3-pil python3-skimage qemu-user systemd python3-onnx
DEPS_STAMP := .cache/deps-$(shell echo $(APT_PKGS) | sha1sum | cut -c1-12)

# Build tags of the full daemon: cgo leaves linked in by cmd/edgeclip/link_<tag>.go.
TAGS ?= gocv ort tflite
# Packages whose concurrency is tested under the race detector.
RACE_PKGS := ./history/... ./camera/... ./pipeline/... ./alert/... ./query/... ./models/tokenizer/... ./runtime/native/... ./daemon/... ./sdnotify/... ./health/... ./runtime/cgobackend/... ./mqtt/...
# Pure-Go packages also tested for linux/arm64 under qemu.
ARM64_PKGS := ./runtime/... ./models/... ./quant/... ./board/... ./history/... ./query/... ./alert/...


.PHONY: fetch-ort fetch-tflite release install test-release
.PHONY: all build deps run test test-go test-cgo test-race test-arm64 test-py vet fuzz fixtures models clean

all: build

$(DEPS_STAMP):
	@mkdir -p .cache
	@missing=$$(for p in $(APT_PKGS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing: $$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@touch $@

deps: $(DEPS_STAMP)

build: deps fetch-ort fetch-tflite
	$(GO) build -tags "$(TAGS)" -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/edgeclip

# The daemon on its defaults: the shipped int8 model, the synthetic camera,
# an embedded MQTT broker on 127.0.0.1:1883. Ctrl-C stops it cleanly.
run: build
	./$(BIN) run

vet:
	$(GO) vet ./...
	$(GO) vet -tags "$(TAGS)" ./camera/... ./cmd/...
	@test -z "$$(gofmt -l .)" || (echo "gofmt needed:"; gofmt -l .; exit 1)

# The core must build and test without cgo.
test-go:
	CGO_ENABLED=0 $(GO) test -count=1 ./...

# ONNX Runtime's shared library from the npm package (npm pack + tar, checksummed).
ORT_LIB := third_party/onnxruntime/x64/libonnxruntime.so.1
$(ORT_LIB):
	scripts/fetch-ort.sh
fetch-ort: $(ORT_LIB)

# TensorFlow Lite 2.9's C library from the npm package tfjs-tflite-node (npm pack + tar, checksummed).
TFLITE_LIB := third_party/tflite/x64/libtensorflowlite_c.so
$(TFLITE_LIB):
	scripts/fetch-tflite.sh
fetch-tflite: $(TFLITE_LIB)

# cgo leaves: real OpenCV and the ONNX Runtime library.
test-cgo: deps fetch-ort fetch-tflite
	$(GO) test -count=1 -tags "$(TAGS)" ./camera/gocv/... ./runtime/ort/... ./runtime/tflite/... ./cmd/edgeclip/

test-race: deps
	$(GO) test -count=1 -race $(RACE_PKGS)

test-arm64: deps
	CGO_ENABLED=0 GOARCH=arm64 $(GO) test -count=1 -exec qemu-aarch64 $(ARM64_PKGS)
	CGO_ENABLED=0 GOARCH=arm64 $(GO) build -o /dev/null ./cmd/edgeclip

test-py: deps
	$(PY) tools/test_modelfile.py
	$(PY) -m unittest tools/train/test_smoke.py

test: deps vet test-go test-cgo test-race test-arm64 test-py test-release

# Short fuzz runs of every parser of untrusted bytes (longer: FUZZTIME=10m).
FUZZTIME ?= 20s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzOpen$$' -fuzztime $(FUZZTIME) ./models/
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./models/safetensors/
	$(GO) test -run '^$$' -fuzz '^FuzzEncode$$' -fuzztime $(FUZZTIME) ./models/tokenizer/
	$(GO) test -run '^$$' -fuzz '^FuzzFromPixels$$' -fuzztime $(FUZZTIME) ./models/preprocess/
	$(GO) test -run '^$$' -fuzz '^FuzzRecover$$' -fuzztime $(FUZZTIME) ./history/
	$(GO) test -run '^$$' -fuzz '^FuzzParseTegrastats$$' -fuzztime $(FUZZTIME) ./board/
	$(GO) test -run '^$$' -fuzz '^FuzzParseHeader$$' -fuzztime $(FUZZTIME) ./models/convert/

# Regenerate the parity fixtures and preprocessing references (Debian torch).
fixtures: deps
	$(PY) tools/reference/make_fixtures.py
	$(PY) tools/reference/preprocess_ref.py
	$(GO) test ./models/convert -run Golden -update

# Retrain the shipped models from their documented seeds (about 90 minutes on
# 2 cores; resumable), then quantize the default int8 student.
models: deps
	tools/train/make_models.sh
	$(GO) run ./cmd/edgeclip quantize --model models/shipped/world-student-f32.safetensors \
		--out models/shipped/world-student-int8.safetensors --mode w8

# Release tarballs for linux/amd64 (cgo: GoCV, ONNX Runtime) and linux/arm64 (pure Go) into dist/.
release: build
	scripts/release.sh $(VERSION)

# Install the binary, the default model, the systemd unit and an example config on this machine.
install: build
	scripts/install.sh --from-build

# The arm64 tarball builds, its binary runs under qemu-aarch64, and install.sh lays out the files.
test-release: deps
	EDGECLIP_RELEASE_TEST=1 $(GO) test -count=1 -run TestReleaseArm64 ./deploy/

clean:
	rm -rf bin .cache dist
