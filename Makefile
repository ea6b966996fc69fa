# hull: build, test and benchmark.
#
#   make            build bin/hull, and beside it bin/hull-init (each container's init),
#                   bin/hull-vmm (each VM's process) and bin/hull-engine (the image-level
#                   families: check, container, image, network), which hull finds next to itself
#   make install    copy all four to $(PREFIX)/bin (/usr/local/bin), where podman and containerd are told to find hull
#   make test       everything: lint, host tests, and the test VM
#   make vmtest PKG=./cgroups RUN=TestFreeze   one package in the test VM

GO      ?= go
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
PREFIX  ?= /usr/local
PKG     ?= ./integration
RUN     ?=

# Every program is static. hull, hull-engine and hull-vmm are pure Go
# (CGO_ENABLED=0): the C library's start-up (its CPUID probes, the main
# thread's stack read from /proc/self/maps, pthread_create for every
# thread) is time that podman and containerd would pay at each of their
# several hull commands per container. hull-init alone needs cgo, for
# runtime/nsenter's constructor, and is linked against a static glibc,
# as runc's releases are: no loader or relocations at each start, about
# a fifth fewer page faults. Its netgo and osusergo tags keep Go's own
# resolver and user lookup, which a static glibc cannot serve.
STATIC   = -tags netgo,osusergo
LDSTATIC = -linkmode external -extldflags -static

.PHONY: all build install deps lint test vmtest clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-X main.version=$(VERSION)" -o bin/hull ./cmd/hull
	$(GO) build -trimpath $(STATIC) -ldflags "$(LDSTATIC)" -o bin/hull-init ./cmd/hull-init
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/hull-vmm ./cmd/hull-vmm
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-X main.version=$(VERSION)" -o bin/hull-engine ./cmd/hull-engine

install: build
	install -D -m 0755 bin/hull $(DESTDIR)$(PREFIX)/bin/hull
	install -D -m 0755 bin/hull-init $(DESTDIR)$(PREFIX)/bin/hull-init
	install -D -m 0755 bin/hull-vmm $(DESTDIR)$(PREFIX)/bin/hull-vmm
	install -D -m 0755 bin/hull-engine $(DESTDIR)$(PREFIX)/bin/hull-engine

# Debian packages the tests need (root).
deps:
	bash .ci/deps

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

# Host tests run as root on the cgroup v1 hybrid host; TestInVM boots the
# test VM once and runs the cgroup v2 and KVM tests inside it.
test: deps build lint
	$(GO) test -count=1 -timeout 80m ./...

vmtest:
	$(GO) run ./integration/cmd/testvm -run '$(RUN)' $(PKG)

clean:
	rm -rf bin
