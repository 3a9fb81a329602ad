# jetflow — the README's commands. Everything here installs what it needs
# through the Go module proxy; nothing else is required but Go.
GO      ?= go
PKGS_ENGINE := ./workflow/ ./workflow/workerapp/... ./steps/... ./kv/... ./embedded/... ./internal/...
# Packages whose tests gain nothing from the race detector (the analyzer's
# golden files type-check fixture modules: a minute under -race).
PKGS_PLAIN := ./workflow/analyzer/... ./cmd/...
# Modules of their own under examples/, built against this checkout (a
# replace in their go.mod); cmd/jetflow's tests build and run them.
EXAMPLES := examples/greeting
NATS_CLI_VERSION := v0.5.0

.PHONY: all build demo test bench lint fmt fuzz chaos long natscli clean

all: build

build:
	$(GO) build -o bin/jetflow ./cmd/jetflow

demo:
	$(GO) run ./cmd/jetflow demo

# The full suite: race detector on the engine, real JetStream everywhere,
# real processes for the crash tests. Installs the nats CLI the CLI tests use.
test: natscli
	$(GO) vet ./...
	@for d in $(EXAMPLES); do (cd $$d && $(GO) vet ./...) || exit 1; done
	@# The two sets run side by side: many tests wait (for ticks, timers,
	@# processes) more than they compute. The engine set's output follows.
	@log=$$(mktemp); \
	$(GO) test -race -count=1 -timeout 300s $(PKGS_ENGINE) > $$log 2>&1 & engine=$$!; \
	$(GO) test -count=1 -timeout 300s $(PKGS_PLAIN); plain=$$?; \
	wait $$engine; race=$$?; cat $$log; rm -f $$log; \
	echo "engine packages (-race): exit $$race; the rest: exit $$plain"; \
	[ $$plain -eq 0 ] && [ $$race -eq 0 ]

# Go benchmarks (codec, replay, dispatch, end to end), then `jetflow bench`
# for every figure of the README's Performance table, each in its own
# process so that peak RSS is its own. BENCH_GROWTH=10000 for a quicker pass;
# the growth check of runs kept waits BENCH_SETTLE after each warm-up.
BENCH_GROWTH ?= 100000
BENCH_SETTLE ?= 150s
bench: build
	$(GO) test -run '^$$' -bench . -benchmem -count 1 ./kv/... ./internal/runner/... ./workflow/...
	@echo "== length: one 10,000-step workflow against a 100-step one; one of 50,000 steps"
	bin/jetflow bench --shape sequential --steps 10000
	bin/jetflow bench --shape sequential --steps 50000
	@echo "== fan-out: one workflow of 10,000 parallel steps against 10,000 one-step workflows"
	bin/jetflow bench --shape fanout --steps 10000
	@echo "== throughput and latency, N=5000 C=100, with the same-run ceiling"
	bin/jetflow bench --workflows 5000 --concurrency 100
	@echo "== latency, one at a time"
	bin/jetflow bench --workflows 1000 --concurrency 1 --no-ceiling
	@echo "== peak RSS, N=10000 C=200, server, engine and workers in one process"
	bin/jetflow bench --workflows 10000 --concurrency 200
	@echo "== sync always"
	bin/jetflow bench --workflows 5000 --concurrency 100 --sync always
	@echo "== growth: after 1000 finished runs, then after $(BENCH_GROWTH)"
	bin/jetflow bench --workflows 5000 --concurrency 100 --no-ceiling --warmup 1000
	bin/jetflow bench --workflows 5000 --concurrency 100 --no-ceiling --warmup $(BENCH_GROWTH)
	@echo "== growth of runs kept: the same, measured $(BENCH_SETTLE) after the warm-up (past the server's 2-minute windows)"
	bin/jetflow bench --workflows 5000 --concurrency 100 --no-ceiling --warmup 1000 --settle $(BENCH_SETTLE)
	bin/jetflow bench --workflows 5000 --concurrency 100 --no-ceiling --warmup $(BENCH_GROWTH) --settle $(BENCH_SETTLE)
	@echo "== schedules: firing delay of an @every 1s schedule over 60 ticks"
	bin/jetflow bench --shape schedule --ticks 60

# A few seconds of each fuzzer (CI); FUZZTIME=5m for a real session.
FUZZTIME ?= 5s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./kv/
	$(GO) test -run '^$$' -fuzz '^FuzzValidateID$$' -fuzztime $(FUZZTIME) ./workflow/
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./internal/cron/
	$(GO) test -run '^$$' -fuzz '^FuzzEventJSON$$' -fuzztime $(FUZZTIME) ./internal/wire/

# The chaos harness at full size: 1,000 workflows (order sagas, long runs
# that continue as new, fan-outs, selector races) on a real server and three
# workers while workers are killed and paused past AckWait, the server is
# killed and restarted, and poison messages and forged deduplication IDs are
# published (README, "Proven by chaos"), with a schedule ticking every
# second throughout. Then issue 11's schedule test at full length: 20 s of
# an @every 1s schedule on three worker processes while one is SIGKILLed
# and the server is SIGKILLed and restarted. `make test` runs short forms.
chaos:
	JETFLOW_CHAOS=full $(GO) test -count=1 -v -run '^TestChaos$$' -timeout 20m ./internal/chaos/
	JETFLOW_SCHEDULE_SECONDS=20 $(GO) test -count=1 -v -run '^TestProcsScheduleThroughCrashes$$' -timeout 5m ./cmd/jetflow/

# Long forms of tests that make test runs short: the 200,000-step loop in
# batches with continue-as-new.
long:
	JETFLOW_LONG=1 $(GO) test -count=1 -v -run '^TestContinueAsNewRunsALongLoopInBatches$$' -timeout 20m ./workflow/

# The determinism analyzer runs through go vet, which caches its findings
# per package: only changed packages are checked again.
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool -modfile=tools/go.mod staticcheck ./...
	$(GO) build -o bin/jetflow-vet ./cmd/jetflow-vet
	$(GO) vet -vettool=$(CURDIR)/bin/jetflow-vet ./...
	@for d in $(EXAMPLES); do echo "lint $$d"; (cd $$d && $(GO) vet ./... && \
		$(GO) tool -modfile=$(CURDIR)/tools/go.mod staticcheck ./... && \
		$(GO) vet -vettool=$(CURDIR)/bin/jetflow-vet ./...) || exit 1; done

fmt:
	gofmt -w $$(git ls-files '*.go')

# The nats CLI, from the module proxy, into $(go env GOPATH)/bin.
natscli:
	@command -v nats >/dev/null 2>&1 || test -x "$$($(GO) env GOPATH)/bin/nats" || \
		(echo "installing the nats CLI $(NATS_CLI_VERSION)"; $(GO) install github.com/nats-io/natscli/nats@$(NATS_CLI_VERSION))

clean:
	rm -rf bin
