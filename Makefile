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
	mosquitto mosquitto-clients python3-torch python3-torchvision python3-numpy python3-pil python3-skimage qemu-user
DEPS_STAMP := .cache/deps-$(shell echo $(APT_PKGS) | sha1sum | cut -c1-12)

.PHONY: all build deps run test test-go test-arm64 test-py vet fuzz clean

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

build: deps
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/edgeclip

run: build
	./$(BIN) embed --text "a red circle" --text "two blue squares"

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l .)" || (echo "gofmt needed:"; gofmt -l .; exit 1)

# The core must build and test without cgo.
test-go:
	CGO_ENABLED=0 $(GO) test -count=1 ./...

test-arm64: deps
	CGO_ENABLED=0 GOARCH=arm64 $(GO) test -count=1 -exec qemu-aarch64 ./runtime/... ./models/... ./quant/...

test: deps vet test-go test-arm64

clean:
	rm -rf bin .cache
