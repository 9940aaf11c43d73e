# Ramp's Makefile. `make help` lists the targets.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

BIN       := $(CURDIR)/bin
K8S_BIN   := $(BIN)/k8s
# The process node's cluster lives in .ramp/local, the real node's in .ramp/real.
LOCAL_DIR = $(CURDIR)/.ramp/$(if $(filter real,$(NODE)),real,local)
KUBECTL    = $(K8S_BIN)/kubectl --kubeconfig $(LOCAL_DIR)/kubeconfig

# Stage timing (test/tools/stage.sh): make demo and make test print where
# their time went.
STAGE := $(CURDIR)/test/tools/stage.sh
RAMP_STAGES ?= $(CURDIR)/_out/stages
export RAMP_STAGES
# apt-get runs from several targets under make -j: one at a time.
APT := flock /tmp/ramp-apt.lock env DEBIAN_FRONTEND=noninteractive apt-get

# Built tools are cached machine-wide by version and recipe
# (test/tools/toolcache.sh): a fresh clone copies them. RAMP_TOOL_CACHE=
# (empty) always builds.
RAMP_TOOL_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/ramp-tools
export RAMP_TOOL_CACHE
TOOLCACHE := $(CURDIR)/test/tools/toolcache.sh
# inputs_hash FILES: a short hash of a recipe's input files (its cache key).
inputs_hash = $(shell cat $(1) | sha256sum | cut -c1-12)

# Tool versions; changing one rebuilds only that tool.
K8S_VERSION            := v1.36.3
ETCD_VERSION           := v3.6.16
HELM_VERSION           := v3.22.0
CONTROLLER_GEN_VERSION := v0.23.0
GOLANGCI_LINT_VERSION  := v2.15.0
# Prometheus 3.16.0 is Go module version v0.316.0.
PROMETHEUS_VERSION     := 3.16.0
PROMETHEUS_MODULE      := v0.316.0
# Knative Serving's queue-proxy, the data-plane bench's baseline. v0.51.0's
# dependencies are not served by the Go module proxy; v0.50.0 builds.
KNATIVE_VERSION        := v0.50.0

# Release: the chart's version and appVersion (the images' tag).
CHART_VERSION := $(shell awk '/^version:/ {gsub(/"/, "", $$2); print $$2}' charts/ramp/Chart.yaml)
APP_VERSION   := $(shell awk '/^appVersion:/ {gsub(/"/, "", $$2); print $$2}' charts/ramp/Chart.yaml)
# Where `make push` sends the images and the chart: host[:port]/path.
REGISTRY ?=
# Helm reads registry credentials from the Docker config, like the images.
DOCKER_CONFIG_FILE := $(or $(DOCKER_CONFIG),$(HOME)/.docker)/config.json

GO_BUILD   := go build -trimpath -ldflags='-s -w'
K8S_VERSION_PKGS := k8s.io/component-base/version k8s.io/client-go/pkg/version
K8S_LDFLAGS := -s -w $(foreach p,$(K8S_VERSION_PKGS),-X $(p).gitVersion=$(K8S_VERSION) \
  -X $(p).gitMajor=$(word 1,$(subst ., ,$(K8S_VERSION:v%=%))) -X $(p).gitMinor=$(word 2,$(subst ., ,$(K8S_VERSION))) \
  -X $(p).gitTreeState=clean -X $(p).buildDate=1970-01-01T00:00:00Z)
TEST_FLAGS ?= -race -count=1 -timeout 30m
# Images map to binaries of the same name in bin/ (see README: local cluster).
IMAGES := sampleapp apicheck

# The -r suffix is the build recipe's revision: bump it when the recipe changes.
K8S_RECIPE  := r2
K8S_STAMP   := $(K8S_BIN)/.k8s-$(K8S_VERSION)-$(K8S_RECIPE)
K8S_NODE_STAMP := $(K8S_BIN)/.k8s-node-$(K8S_VERSION)-r1
# The local cluster's node: process (the default node agent) or real
# (kubelet, containerd, runc and a bridge CNI in a network namespace).
NODE ?= process
ETCD_STAMP  := $(K8S_BIN)/.etcd-$(ETCD_VERSION)
HELM        := $(BIN)/helm-$(HELM_VERSION)
CONTROLLER_GEN := $(BIN)/controller-gen-$(CONTROLLER_GEN_VERSION)
GOLANGCI_LINT  := $(BIN)/golangci-lint-$(GOLANGCI_LINT_VERSION)
PROMETHEUS_STAMP := $(BIN)/.prometheus-$(PROMETHEUS_VERSION)-r1
# The binary's name carries the version: it is its own stamp.
KNATIVE_QUEUE    := $(BIN)/knative-queue-$(KNATIVE_VERSION)
# Only the kubernetes service discovery (test/e2e/prometheus uses it): the
# tags leave out the cloud providers' SDKs, which would double the build.
PROMETHEUS_TAGS  := remove_all_sd,enable_kubernetes_sd

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

##@ Tools

.PHONY: tools
tools: tools-cluster $(CONTROLLER_GEN) ## Build etcd, kube-apiserver, kube-controller-manager, kubectl, helm, controller-gen into bin/

.PHONY: tools-cluster
tools-cluster: $(K8S_STAMP) $(ETCD_STAMP) $(HELM) ## Build what the local cluster needs (tools without controller-gen)

K8S_INPUTS := test/tools/k8s/go.mod test/tools/k8s/go.sum test/tools/k8s/prepare.sh test/tools/k8s/tools.go
K8S_KEY = $(K8S_VERSION)-$(K8S_RECIPE)-$(call inputs_hash,$(K8S_INPUTS))

$(K8S_STAMP): $(K8S_INPUTS)
	@mkdir -p $(K8S_BIN)
	@$(STAGE) begin "Kubernetes build"
	@$(TOOLCACHE) kubernetes@$(K8S_KEY) $(K8S_BIN) kube-apiserver kube-controller-manager kubectl -- \
	  $(MAKE) --no-print-directory _k8s-build
	@rm -f $(K8S_BIN)/.k8s-* && touch $@
	@$(STAGE) end "Kubernetes build"

.PHONY: _k8s-build
_k8s-build:
	@echo ">> building kube-apiserver, kube-controller-manager and kubectl $(K8S_VERSION) (cold: about 8 minutes on 2 cores)"
	@$(STAGE) begin "Kubernetes module download"
	cd test/tools/k8s && go mod download k8s.io/kubernetes
	@$(STAGE) end "Kubernetes module download"
	dir=$$(cd test/tools/k8s && ./prepare.sh $(BIN)/.build) && cd "$$dir" && \
	  GOFLAGS=-mod=mod go build -trimpath -ldflags='$(K8S_LDFLAGS)' -o $(K8S_BIN)/ \
	    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kubectl

$(K8S_NODE_STAMP): $(K8S_STAMP)
	@$(STAGE) begin "Kubernetes node build"
	@$(TOOLCACHE) kubernetes-node@$(K8S_KEY) $(K8S_BIN) kubelet kube-proxy kube-scheduler -- \
	  $(MAKE) --no-print-directory _k8s-node-build
	@rm -f $(K8S_BIN)/.k8s-node-* && touch $@
	@$(STAGE) end "Kubernetes node build"

.PHONY: _k8s-node-build
_k8s-node-build:
	@echo ">> building kubelet, kube-proxy and kube-scheduler $(K8S_VERSION) for the real node (cold: about 4 minutes on 2 cores)"
	dir=$$(cd test/tools/k8s && ./prepare.sh $(BIN)/.build) && cd "$$dir" && \
	  GOFLAGS=-mod=mod go build -trimpath -ldflags='$(K8S_LDFLAGS)' -o $(K8S_BIN)/ \
	    k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy k8s.io/kubernetes/cmd/kube-scheduler

.PHONY: tools-node
tools-node: tools $(K8S_NODE_STAMP) ## Build kubelet, kube-proxy and kube-scheduler into bin/k8s (the real node)

$(ETCD_STAMP): test/tools/etcd/go.mod test/tools/etcd/go.sum
	@mkdir -p $(K8S_BIN)
	@$(STAGE) begin "etcd build"
	@$(TOOLCACHE) etcd@$(ETCD_VERSION)-$(call inputs_hash,test/tools/etcd/go.mod test/tools/etcd/go.sum) $(K8S_BIN) etcd -- \
	  $(MAKE) --no-print-directory _etcd-build
	@rm -f $(K8S_BIN)/.etcd-* && touch $@
	@$(STAGE) end "etcd build"

.PHONY: _etcd-build
_etcd-build:
	@echo ">> building etcd $(ETCD_VERSION)"
	cd test/tools/etcd && $(GO_BUILD) -o $(K8S_BIN)/etcd go.etcd.io/etcd/server/v3

$(BIN)/%-$(HELM_VERSION):
	@$(STAGE) begin "helm build"
	@$(TOOLCACHE) helm@$(HELM_VERSION) $(BIN)/.gobin-helm helm -- \
	  $(MAKE) --no-print-directory _helm-build
	mv $(BIN)/.gobin-helm/helm $@ && ln -sf $(notdir $@) $(BIN)/helm
	@$(STAGE) end "helm build"

$(CONTROLLER_GEN):
	@$(STAGE) begin "controller-gen build"
	@$(TOOLCACHE) controller-gen@$(CONTROLLER_GEN_VERSION) $(BIN)/.gobin-cg controller-gen -- \
	  $(MAKE) --no-print-directory _controller-gen-build
	mv $(BIN)/.gobin-cg/controller-gen $@ && ln -sf $(notdir $@) $(BIN)/controller-gen
	@$(STAGE) end "controller-gen build"

# Prometheus for test/e2e/prometheus (README: Development). It never fails:
# without a build and without Debian's package the test skips.
.PHONY: prometheus
prometheus: ## Build Prometheus into bin/ for the Prometheus e2e test (cold: about 4 minutes on 2 cores); else Debian's package; else the test skips
	@if [ -x $(BIN)/prometheus ] && [ -f $(PROMETHEUS_STAMP) ]; then :; \
	else echo ">> building prometheus $(PROMETHEUS_VERSION) (kubernetes discovery only)"; \
	  mkdir -p $(BIN); $(STAGE) begin "Prometheus build"; \
	  if GOBIN=$(BIN)/.gobin-prometheus go install -trimpath -tags $(PROMETHEUS_TAGS) \
	       -ldflags '-s -w -X github.com/prometheus/common/version.Version=$(PROMETHEUS_VERSION)' \
	       github.com/prometheus/prometheus/cmd/prometheus@$(PROMETHEUS_MODULE); then \
	    mv $(BIN)/.gobin-prometheus/prometheus $(BIN)/prometheus && rm -f $(BIN)/.prometheus-* && touch $(PROMETHEUS_STAMP); \
	  elif command -v prometheus >/dev/null; then \
	    echo ">> could not build Prometheus: the Prometheus e2e test uses $$(command -v prometheus)"; \
	  elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo ">> could not build Prometheus: installing Debian's prometheus with apt-get"; \
	    { $(APT) update -qq && $(APT) install -y -qq --no-install-recommends prometheus >/dev/null; } \
	      || echo ">> could not install prometheus either: the Prometheus e2e test will be skipped"; \
	  else echo ">> could not build Prometheus and this is not root: the Prometheus e2e test will be skipped"; fi; \
	  $(STAGE) end "Prometheus build"; fi

.PHONY: _helm-build _controller-gen-build
_helm-build:
	@echo ">> building helm $(HELM_VERSION)"
	GOBIN=$(BIN)/.gobin-helm go install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)
_controller-gen-build:
	@echo ">> building controller-gen $(CONTROLLER_GEN_VERSION)"
	GOBIN=$(BIN)/.gobin-cg go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_GEN_VERSION)

# The bench's baseline; `make bench` reports a failed build and goes on.
$(KNATIVE_QUEUE): test/tools/knative/go.mod test/tools/knative/go.sum
	@echo ">> building Knative Serving's queue-proxy $(KNATIVE_VERSION), the bench's baseline (cold: about 4 minutes on 2 cores)"
	@mkdir -p $(BIN)
	cd test/tools/knative && CGO_ENABLED=0 $(GO_BUILD) -o $@.tmp knative.dev/serving/cmd/queue
	mv $@.tmp $@

$(GOLANGCI_LINT):
	@echo ">> building golangci-lint $(GOLANGCI_LINT_VERSION)"
	GOBIN=$(BIN)/.gobin-lint go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	mv $(BIN)/.gobin-lint/golangci-lint $@ && ln -sf $(notdir $@) $(BIN)/golangci-lint

##@ Development

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate deepcopy code for the API types
	$(CONTROLLER_GEN) object paths=./apis/...

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate CRDs and RBAC into charts/ramp/templates
	$(CONTROLLER_GEN) crd paths=./apis/... output:crd:dir=charts/ramp/templates/crds
	@# helm uninstall keeps the CRDs (and so every user's objects); see README.
	sed -i '/controller-gen.kubebuilder.io\/version:/a\    helm.sh/resource-policy: keep' charts/ramp/templates/crds/*.yaml
	$(CONTROLLER_GEN) rbac:roleName=ramp-controller paths=./controllers/... output:rbac:dir=charts/ramp/templates/rbac
	$(CONTROLLER_GEN) rbac:roleName=ramp-gateway paths=./serving/gateway/... output:rbac:dir=charts/ramp/templates/rbac/gateway

# Ramp's main packages but the queue-proxy, and the image binaries.
RAMP_MAINS := $(filter-out ./cmd/queue,$(patsubst %/main.go,./%,$(wildcard cmd/*/main.go))) $(addprefix ./test/,$(IMAGES))

.PHONY: build
build: ## Build ramp, ramp-node and the image binaries into bin/
	@mkdir -p $(BIN)
	@$(STAGE) begin "Ramp module download"
	go mod download
	@$(STAGE) end "Ramp module download"
	@$(STAGE) begin "Ramp build"
	@# One go build for every binary but the queue-proxy, and the queue-proxy
	@# (no cgo keeps its RSS down: it runs in every pod) at the same time, so
	@# that their links overlap.
	@rc=0; CGO_ENABLED=0 $(GO_BUILD) -o $(BIN)/queue ./cmd/queue & qpid=$$!; \
	  echo "$(GO_BUILD) -o $(BIN)/ $(RAMP_MAINS)"; $(GO_BUILD) -o $(BIN)/ $(RAMP_MAINS) || rc=$$?; \
	  wait $$qpid || rc=$$?; exit $$rc
	@ln -sf ramp $(BIN)/kubectl-ramp
	@$(STAGE) end "Ramp build"

.PHONY: fmt
fmt: ## Format the code
	gofmt -w $$(git ls-files '*.go')

.PHONY: lint
lint: $(GOLANGCI_LINT) ## gofmt, go vet and golangci-lint
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	go vet ./...
	$(GOLANGCI_LINT) run ./...

.PHONY: verify
verify: generate manifests ## Regenerate everything and fail if the tree changed
	@git diff --exit-code -- apis charts || { echo "generated files are stale: run make generate manifests"; exit 1; }
	@test -z "$$(git status --porcelain -- apis charts)" || { git status --porcelain -- apis charts; echo "untracked generated files: commit them"; exit 1; }

##@ Test

.PHONY: oci-runtime
oci-runtime: ## Install podman and runc with apt-get if missing (the image e2e test runs Ramp's images with them)
	@if command -v podman >/dev/null && command -v runc >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo ">> installing podman and runc with apt-get (the image e2e test runs Ramp's images with them)"; \
	  { $(APT) update -qq && $(APT) install -y -qq --no-install-recommends podman runc >/dev/null; } \
	    || echo ">> could not install podman and runc: the image e2e test will be skipped"; \
	else echo ">> podman or runc is missing and this is not root: the image e2e test will be skipped"; fi

.PHONY: browser
browser: ## Install Debian's chromium with apt-get if missing (the dashboard's browser e2e drives it headless)
	@if command -v chromium >/dev/null || command -v chromium-browser >/dev/null || command -v google-chrome >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo ">> installing chromium with apt-get (the dashboard's browser e2e drives it headless)"; \
	  { $(APT) update -qq && $(APT) install -y -qq --no-install-recommends chromium >/dev/null; } \
	    || echo ">> could not install chromium: the dashboard's browser e2e will be skipped"; \
	else echo ">> chromium is missing and this is not root: the dashboard's browser e2e will be skipped"; fi

# The real node's Debian packages (REAL-NODE.md); make test installs them
# when it can, as it does podman.
NODE_PACKAGES := containerd runc containernetworking-plugins iptables conntrack

.PHONY: node-packages
node-packages: ## Install the real node's Debian packages with apt-get if missing (containerd, runc, CNI plugins, iptables, conntrack)
	@if command -v containerd >/dev/null && command -v runc >/dev/null && command -v conntrack >/dev/null && \
	    command -v iptables >/dev/null && [ -x /usr/lib/cni/bridge ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo ">> installing the real node's packages with apt-get: $(NODE_PACKAGES)"; \
	  { $(APT) update -qq && $(APT) install -y -qq --no-install-recommends $(NODE_PACKAGES) >/dev/null; } \
	    || echo ">> could not install $(NODE_PACKAGES): the real-node e2e test will be skipped"; \
	else echo ">> the real node's packages are missing and this is not root: the real-node e2e test will be skipped"; fi

.PHONY: test-real
test-real: tools-node build node-packages ## The real-node e2e tier alone (root): Ramp's images on a real kubelet, containerd and CNI
	KUBEBUILDER_ASSETS=$(K8S_BIN) RAMP_BIN_DIR=$(BIN) go test $(TEST_FLAGS) -v ./test/e2e/realnode/

TEST_DEPS := tools tools-node build oci-runtime node-packages browser prometheus
TEST_STAGES := "Kubernetes module download" "Kubernetes build" "Kubernetes node build" "etcd build" "helm build" \
  "controller-gen build" "Prometheus build" "Ramp module download" "Ramp build" "go test ./..."

.PHONY: test
test: ## Run every test: unit, envtest integration, e2e on a local cluster, Ramp's images under podman and on a real node (where the host can)
	@$(STAGE) reset
	@$(MAKE) --no-print-directory -j2 $(TEST_DEPS)
	@rc=0; $(STAGE) begin "go test ./..."; \
	  KUBEBUILDER_ASSETS=$(K8S_BIN) RAMP_BIN_DIR=$(BIN) go test $(TEST_FLAGS) ./... || rc=$$?; \
	  if [ $$rc = 0 ]; then $(STAGE) end "go test ./..."; fi; \
	  $(STAGE) report "make test" $(TEST_STAGES); exit $$rc

.PHONY: test-flakes
test-flakes: tools tools-node build oci-runtime node-packages browser prometheus ## Repeat the whole suite N times (default 3) and print a table of every test that failed at least once (not in CI)
	KUBEBUILDER_ASSETS=$(K8S_BIN) RAMP_BIN_DIR=$(BIN) go run ./test/flakes -n $${N:-3} -- $(TEST_FLAGS) ./...

# Fuzz targets (package:target); `make test` runs their seed corpora.
FUZZ_TARGETS := ./analysis:FuzzParseThreshold ./analysis:FuzzParseRatio ./analysis:FuzzReadTrace \
  ./serving/gateway/routing:FuzzBuildAndPick ./serving/queue/stats:FuzzParse ./serving/queue/stats:FuzzScanHistogram ./serving/proxy:FuzzParseStatus \
  ./controllers/notify:FuzzParseButtonValue ./controllers/notify:FuzzParseTarget ./controllers/rollout:FuzzPromotionWindows \
  ./controllers/servingconfig:FuzzParse ./controllers/autoscaler:FuzzParseConfig

.PHONY: fuzz
fuzz: ## Run every fuzz target for FUZZTIME each (default 30s); a crash is saved under the package's testdata/fuzz and fails
	@for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; name=$${t##*:}; \
	  echo ">> fuzzing $$name in $$pkg for $${FUZZTIME:-30s}"; \
	  go test -run '^$$' -fuzz "^$$name\$$" -fuzztime $${FUZZTIME:-30s} $$pkg || exit 1; done

.PHONY: bench-analysis
bench-analysis: ## Measure the canary analysis on seeded simulations: power, false rollbacks, time to decide, beside an oracle (_out/bench/analysis.md)
	@mkdir -p _out/bench
	go run ./test/benchanalysis -runs $${RUNS:-1000} -seed $${SEED:-1} | tee _out/bench/analysis.md

.PHONY: bench-controller
bench-controller: tools build $(HELM) ## Measure the controller at 500 Rollouts on a local cluster: time to each first step after updating them all, peak RSS, reconcile p99 and errors (_out/bench/controller.md; about 5 minutes)
	@mkdir -p _out/bench
	KUBEBUILDER_ASSETS=$(K8S_BIN) RAMP_BIN_DIR=$(BIN) go run ./test/benchcontroller -rollouts $${ROLLOUTS:-500} -out _out/bench/controller.md

.PHONY: bench-autoscaler
bench-autoscaler: ## Measure the production autoscaler scraping 200 to 2,000 simulated queue-proxies on loopback (127.1.0.0/16) every second: CPU, RSS, tick and decision latency (_out/bench/autoscaler.md)
	@mkdir -p _out/bench
	go run ./test/benchautoscaler -pods $${PODS:-200,500,1000,2000} -duration $${DURATION:-20s} -fill $${FILL:-900} -out _out/bench/autoscaler.md

.PHONY: bench-coldstart
bench-coldstart: tools build $(HELM) ## Measure scale from zero on a local cluster: cold starts of 20 and of 100 concurrent requests, each broken into stages (_out/bench/coldstart.md)
	@mkdir -p _out/bench
	RAMP_BIN_DIR=$(BIN) go run ./test/benchcoldstart -runs20 $${RUNS20:-20} -runs100 $${RUNS100:-10} -out _out/bench/coldstart.md

.PHONY: bench-dashboard
bench-dashboard: tools tools-node build browser ## Measure the dashboard's render time per update with 200 Rollouts changing 20 times a second, in headless Chromium (goal < 100 ms; _out/bench/dashboard.txt)
	@mkdir -p _out/bench
	KUBEBUILDER_ASSETS=$(K8S_BIN) RAMP_BIN_DIR=$(BIN) RAMP_DASHBOARD_GOAL_MS=100 go test -count=1 -v -run '^TestDashboardListsAndUpdates200Rollouts$$' ./test/e2e/ \
	  | grep -E 'Rollouts, |goal:|^(--- |ok|FAIL)' | tee _out/bench/dashboard.txt

.PHONY: bench
bench: build bench-analysis bench-coldstart bench-autoscaler bench-controller bench-dashboard ## Run the benchmarks: the analysis simulation, the scale from zero, the autoscaler at 2,000 pods, the controller at 500 Rollouts, the dashboard with 200 Rollouts, Go micro-benchmarks, then the loopback data-plane run beside Knative's queue-proxy (results in _out/bench)
	@# wrk is needed; without nginx the data-plane run leaves that baseline out.
	@command -v wrk >/dev/null && command -v nginx >/dev/null || { \
	  echo ">> installing wrk and nginx (a baseline) with apt-get"; \
	  { $(APT) update -qq && $(APT) install -y -qq wrk nginx-light >/dev/null; } || command -v wrk >/dev/null; }
	@mkdir -p _out/bench
	go test -run '^$$' -bench . -benchmem ./serving/... | tee _out/bench-go.txt
	@why=; if ! $(MAKE) -s --no-print-directory $(KNATIVE_QUEUE) 2>&1 | tee _out/bench/knative-queue-build.log; then \
	  why="its build failed (_out/bench/knative-queue-build.log): $$(grep -v '^make' _out/bench/knative-queue-build.log | tail -n 1 | cut -c1-200)"; \
	  echo ">> could not build Knative's queue-proxy $(KNATIVE_VERSION): the data-plane bench runs without that baseline"; fi; \
	  KNATIVE_VERSION=$(KNATIVE_VERSION) KNATIVE_QUEUE=$(KNATIVE_QUEUE) KNATIVE_QUEUE_WHY="$$why" test/bench/run.sh

##@ Release

.PHONY: images
images: ## Build the OCI images (controller, gateway, queue, sampleapp; linux/amd64 and arm64; reproducible) into _out/images
	go run ./cmd/ramp-images build --out _out/images --version $(APP_VERSION)

.PHONY: push
push: images $(HELM) ## Push the images and the chart (an OCI artifact) to REGISTRY=host[:port]/path, with the Docker config's credentials
	@test -n "$(REGISTRY)" || { echo "make push: set REGISTRY=host[:port]/path, e.g. make push REGISTRY=ghcr.io/rampdev"; exit 1; }
	go run ./cmd/ramp-images push --from _out/images --registry $(REGISTRY)
	@mkdir -p _out/charts
	$(HELM) package charts/ramp --destination _out/charts
	@plain=; case "$(REGISTRY)" in localhost[:/]*|127.*) plain=--plain-http;; esac; \
	  creds=; [ -f "$(DOCKER_CONFIG_FILE)" ] && creds="--registry-config $(DOCKER_CONFIG_FILE)"; \
	  echo ">> pushing the chart ramp $(CHART_VERSION) to oci://$(REGISTRY)/charts"; \
	  $(HELM) push _out/charts/ramp-$(CHART_VERSION).tgz oci://$(REGISTRY)/charts $$plain $$creds
	@echo ">> pushed: helm install ramp oci://$(REGISTRY)/charts/ramp --version $(CHART_VERSION) --set image.registry=$(REGISTRY)"

##@ Local cluster

.PHONY: images-node
images-node: ## Build the images for this machine's platform, with the real node's pause image, into _out/node-images
	go run ./cmd/ramp-images build --out _out/node-images --version $(APP_VERSION) \
	  --platforms linux/$$(go env GOARCH) --only controller,gateway,queue,sampleapp,pause

# What the local cluster needs built (make demo builds it with make -j2).
UP_DEPS = tools-cluster build $(if $(filter real,$(NODE)),node-packages tools-node images-node)

.PHONY: up
up: $(UP_DEPS) ## Start the local cluster (NODE=real: a real kubelet, containerd and CNI) and install Ramp with its Helm chart
	@$(MAKE) --no-print-directory cluster-start

# cluster-start is up without its builds.
.PHONY: cluster-start
cluster-start:
	@$(STAGE) begin "cluster start and Helm install"
	$(BIN)/ramp local up --dir $(LOCAL_DIR) --node $(NODE) $(if $(filter real,$(NODE)),--images $(CURDIR)/_out/node-images)
	@echo ">> installing Ramp (charts/ramp) into namespace ramp-system"
	$(HELM) upgrade --install ramp charts/ramp --namespace ramp-system --create-namespace \
	  --kubeconfig $(LOCAL_DIR)/kubeconfig --set gateway.hostPort=8080 --set gateway.service.type=ClusterIP \
	  $(if $(filter real,$(NODE)),--set image.pullPolicy=Never) --wait --timeout 3m
	@$(KUBECTL) -n ramp-system get pods -o wide
	@$(STAGE) end "cluster start and Helm install"

.PHONY: down
down: ## Stop the local cluster (both the process node's and the real node's, if running)
	@if [ ! -x $(BIN)/ramp ]; then echo "nothing to stop: bin/ramp is not built"; exit 0; fi; \
	  for d in $(CURDIR)/.ramp/local $(CURDIR)/.ramp/real; do \
	    if [ -f $$d/cluster.json ]; then $(BIN)/ramp local down --dir $$d; fi; done

DEMO_STAGES := "Kubernetes module download" "Kubernetes build" "etcd build" "helm build" "Ramp module download" \
  "Ramp build" $(if $(filter real,$(NODE)),"Kubernetes node build") "cluster start and Helm install" "demo story"

.PHONY: demo
demo: ## Bring up the local cluster, deploy the sample app and show it serving
	@$(STAGE) reset
	@$(MAKE) --no-print-directory -j2 $(UP_DEPS)
	@$(MAKE) --no-print-directory cluster-start
	@rc=0; $(STAGE) begin "demo story"; RAMP_LOCAL_DIR=$(LOCAL_DIR) test/demo/demo.sh || rc=$$?; \
	  if [ $$rc = 0 ]; then $(STAGE) end "demo story"; fi; \
	  $(STAGE) report "make demo" $(DEMO_STAGES); exit $$rc

.PHONY: clean
clean: down ## Remove build output (keeps the tool cache in bin/k8s)
	rm -f $(BIN)/ramp $(BIN)/ramp-node $(BIN)/kubectl-ramp $(addprefix $(BIN)/,$(IMAGES))
