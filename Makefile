# Ramp's Makefile. `make help` lists the targets.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

BIN       := $(CURDIR)/bin
K8S_BIN   := $(BIN)/k8s
# The process node's cluster lives in .ramp/local, the real node's in .ramp/real.
LOCAL_DIR = $(CURDIR)/.ramp/$(if $(filter real,$(NODE)),real,local)
KUBECTL    = $(K8S_BIN)/kubectl --kubeconfig $(LOCAL_DIR)/kubeconfig

# Tool versions; changing one rebuilds only that tool.
K8S_VERSION            := v1.36.3
ETCD_VERSION           := v3.6.16
HELM_VERSION           := v3.22.0
CONTROLLER_GEN_VERSION := v0.23.0
GOLANGCI_LINT_VERSION  := v2.15.0
# Prometheus 3.16.0 is Go module version v0.316.0.
PROMETHEUS_VERSION     := 3.16.0
PROMETHEUS_MODULE      := v0.316.0

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
K8S_STAMP   := $(K8S_BIN)/.k8s-$(K8S_VERSION)-r2
K8S_NODE_STAMP := $(K8S_BIN)/.k8s-node-$(K8S_VERSION)-r1
# The local cluster's node: process (the default node agent) or real
# (kubelet, containerd, runc and a bridge CNI in a network namespace).
NODE ?= process
ETCD_STAMP  := $(K8S_BIN)/.etcd-$(ETCD_VERSION)
HELM        := $(BIN)/helm-$(HELM_VERSION)
CONTROLLER_GEN := $(BIN)/controller-gen-$(CONTROLLER_GEN_VERSION)
GOLANGCI_LINT  := $(BIN)/golangci-lint-$(GOLANGCI_LINT_VERSION)
PROMETHEUS_STAMP := $(BIN)/.prometheus-$(PROMETHEUS_VERSION)-r1
# Only the kubernetes service discovery (test/e2e/prometheus uses it): the
# tags leave out the cloud providers' SDKs, which would double the build.
PROMETHEUS_TAGS  := remove_all_sd,enable_kubernetes_sd

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

##@ Tools

.PHONY: tools
tools: $(K8S_STAMP) $(ETCD_STAMP) $(HELM) $(CONTROLLER_GEN) ## Build etcd, kube-apiserver, kube-controller-manager, kubectl, helm, controller-gen into bin/

$(K8S_STAMP): test/tools/k8s/go.mod test/tools/k8s/go.sum test/tools/k8s/prepare.sh
	@echo ">> building kube-apiserver, kube-controller-manager and kubectl $(K8S_VERSION) (cold: about 8 minutes on 2 cores)"
	@mkdir -p $(K8S_BIN)
	cd test/tools/k8s && go mod download k8s.io/kubernetes
	dir=$$(cd test/tools/k8s && ./prepare.sh $(BIN)/.build) && cd "$$dir" && \
	  GOFLAGS=-mod=mod go build -trimpath -ldflags='$(K8S_LDFLAGS)' -o $(K8S_BIN)/ \
	    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kubectl
	@rm -f $(K8S_BIN)/.k8s-* && touch $@

$(K8S_NODE_STAMP): $(K8S_STAMP)
	@echo ">> building kubelet, kube-proxy and kube-scheduler $(K8S_VERSION) for the real node (cold: about 4 minutes on 2 cores)"
	dir=$$(cd test/tools/k8s && ./prepare.sh $(BIN)/.build) && cd "$$dir" && \
	  GOFLAGS=-mod=mod go build -trimpath -ldflags='$(K8S_LDFLAGS)' -o $(K8S_BIN)/ \
	    k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy k8s.io/kubernetes/cmd/kube-scheduler
	@rm -f $(K8S_BIN)/.k8s-node-* && touch $@

.PHONY: tools-node
tools-node: tools $(K8S_NODE_STAMP) ## Build kubelet, kube-proxy and kube-scheduler into bin/k8s (the real node)

$(ETCD_STAMP): test/tools/etcd/go.mod test/tools/etcd/go.sum
	@echo ">> building etcd $(ETCD_VERSION)"
	@mkdir -p $(K8S_BIN)
	cd test/tools/etcd && $(GO_BUILD) -o $(K8S_BIN)/etcd go.etcd.io/etcd/server/v3
	@rm -f $(K8S_BIN)/.etcd-* && touch $@

$(BIN)/%-$(HELM_VERSION):
	@echo ">> building helm $(HELM_VERSION)"
	GOBIN=$(BIN)/.gobin-helm go install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)
	mv $(BIN)/.gobin-helm/helm $@ && ln -sf $(notdir $@) $(BIN)/helm

$(CONTROLLER_GEN):
	@echo ">> building controller-gen $(CONTROLLER_GEN_VERSION)"
	GOBIN=$(BIN)/.gobin-cg go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_GEN_VERSION)
	mv $(BIN)/.gobin-cg/controller-gen $@ && ln -sf $(notdir $@) $(BIN)/controller-gen

# Prometheus for test/e2e/prometheus (README: Development). It never fails:
# without a build and without Debian's package the test skips.
.PHONY: prometheus
prometheus: ## Build Prometheus into bin/ for the Prometheus e2e test (cold: about 4 minutes on 2 cores); else Debian's package; else the test skips
	@if [ -x $(BIN)/prometheus ] && [ -f $(PROMETHEUS_STAMP) ]; then :; \
	else echo ">> building prometheus $(PROMETHEUS_VERSION) (kubernetes discovery only)"; \
	  mkdir -p $(BIN); \
	  if GOBIN=$(BIN)/.gobin-prometheus go install -trimpath -tags $(PROMETHEUS_TAGS) \
	       -ldflags '-s -w -X github.com/prometheus/common/version.Version=$(PROMETHEUS_VERSION)' \
	       github.com/prometheus/prometheus/cmd/prometheus@$(PROMETHEUS_MODULE); then \
	    mv $(BIN)/.gobin-prometheus/prometheus $(BIN)/prometheus && rm -f $(BIN)/.prometheus-* && touch $(PROMETHEUS_STAMP); \
	  elif command -v prometheus >/dev/null; then \
	    echo ">> could not build Prometheus: the Prometheus e2e test uses $$(command -v prometheus)"; \
	  elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo ">> could not build Prometheus: installing Debian's prometheus with apt-get"; \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null; } \
	      || echo ">> could not install prometheus either: the Prometheus e2e test will be skipped"; \
	  else echo ">> could not build Prometheus and this is not root: the Prometheus e2e test will be skipped"; fi; fi

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

.PHONY: build
build: ## Build ramp, ramp-node and the image binaries into bin/
	@mkdir -p $(BIN)
	$(GO_BUILD) -o $(BIN)/ ./cmd/...
	@# The queue-proxy runs in every pod: no cgo keeps its RSS down.
	CGO_ENABLED=0 $(GO_BUILD) -o $(BIN)/queue ./cmd/queue
	@for img in $(IMAGES); do $(GO_BUILD) -o $(BIN)/$$img ./test/$$img; done
	@ln -sf ramp $(BIN)/kubectl-ramp

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
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends podman runc >/dev/null; } \
	    || echo ">> could not install podman and runc: the image e2e test will be skipped"; \
	else echo ">> podman or runc is missing and this is not root: the image e2e test will be skipped"; fi

# The real node's Debian packages (REAL-NODE.md); make test installs them
# when it can, as it does podman.
NODE_PACKAGES := containerd runc containernetworking-plugins iptables conntrack

.PHONY: node-packages
node-packages: ## Install the real node's Debian packages with apt-get if missing (containerd, runc, CNI plugins, iptables, conntrack)
	@if command -v containerd >/dev/null && command -v runc >/dev/null && command -v conntrack >/dev/null && \
	    command -v iptables >/dev/null && [ -x /usr/lib/cni/bridge ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo ">> installing the real node's packages with apt-get: $(NODE_PACKAGES)"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(NODE_PACKAGES) >/dev/null; } \
	    || echo ">> could not install $(NODE_PACKAGES): the real-node e2e test will be skipped"; \
	else echo ">> the real node's packages are missing and this is not root: the real-node e2e test will be skipped"; fi

.PHONY: test-real
test-real: tools-node build node-packages ## The real-node e2e tier alone (root): Ramp's images on a real kubelet, containerd and CNI
	KUBEBUILDER_ASSETS=$(K8S_BIN) RAMP_BIN_DIR=$(BIN) go test $(TEST_FLAGS) -v ./test/e2e/realnode/

.PHONY: test
test: tools tools-node build oci-runtime node-packages prometheus ## Run every test: unit, envtest integration, e2e on a local cluster, Ramp's images under podman and on a real node (where the host can)
	KUBEBUILDER_ASSETS=$(K8S_BIN) RAMP_BIN_DIR=$(BIN) go test $(TEST_FLAGS) ./...

.PHONY: test-flakes
test-flakes: tools tools-node build oci-runtime node-packages prometheus ## Repeat the whole suite N times (default 3) and print a table of every test that failed at least once (not in CI)
	KUBEBUILDER_ASSETS=$(K8S_BIN) RAMP_BIN_DIR=$(BIN) go run ./test/flakes -n $${N:-3} -- $(TEST_FLAGS) ./...

# Fuzz targets (package:target); `make test` runs their seed corpora.
FUZZ_TARGETS := ./analysis:FuzzParseThreshold ./analysis:FuzzParseRatio ./analysis:FuzzReadTrace \
  ./serving/gateway/routing:FuzzBuildAndPick ./serving/queue/stats:FuzzParse ./serving/proxy:FuzzParseStatus \
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

.PHONY: bench
bench: build bench-analysis bench-controller ## Run the benchmarks: the analysis simulation, the controller at 500 Rollouts, Go micro-benchmarks, then the loopback data-plane run (results in _out/bench)
	@command -v wrk >/dev/null && command -v nginx >/dev/null || { \
	  echo ">> installing wrk and nginx (the baselines) with apt-get"; \
	  apt-get update -qq && apt-get install -y -qq wrk nginx-light >/dev/null; }
	@mkdir -p _out
	go test -run '^$$' -bench . -benchmem ./serving/... | tee _out/bench-go.txt
	test/bench/run.sh

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

.PHONY: up
up: tools build $(if $(filter real,$(NODE)),node-packages tools-node images-node) ## Start the local cluster (NODE=real: a real kubelet, containerd and CNI) and install Ramp with its Helm chart
	$(BIN)/ramp local up --dir $(LOCAL_DIR) --node $(NODE) $(if $(filter real,$(NODE)),--images $(CURDIR)/_out/node-images)
	@echo ">> installing Ramp (charts/ramp) into namespace ramp-system"
	$(HELM) upgrade --install ramp charts/ramp --namespace ramp-system --create-namespace \
	  --kubeconfig $(LOCAL_DIR)/kubeconfig --set gateway.hostPort=8080 --set gateway.service.type=ClusterIP \
	  $(if $(filter real,$(NODE)),--set image.pullPolicy=Never) --wait --timeout 3m
	@$(KUBECTL) -n ramp-system get pods -o wide

.PHONY: down
down: ## Stop the local cluster (both the process node's and the real node's, if running)
	@if [ ! -x $(BIN)/ramp ]; then echo "nothing to stop: bin/ramp is not built"; exit 0; fi; \
	  for d in $(CURDIR)/.ramp/local $(CURDIR)/.ramp/real; do \
	    if [ -f $$d/cluster.json ]; then $(BIN)/ramp local down --dir $$d; fi; done

.PHONY: demo
demo: up ## Bring up the local cluster, deploy the sample app and show it serving
	RAMP_LOCAL_DIR=$(LOCAL_DIR) test/demo/demo.sh

.PHONY: clean
clean: down ## Remove build output (keeps the tool cache in bin/k8s)
	rm -f $(BIN)/ramp $(BIN)/ramp-node $(BIN)/kubectl-ramp $(addprefix $(BIN)/,$(IMAGES))
