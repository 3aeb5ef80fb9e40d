# Quarry — build, run, test.
# The engine streams through DuckDB's Arrow interface: every Go command
# here builds with the duckdb_arrow tag.
export GOFLAGS := -tags=duckdb_arrow -buildvcs=false

BIN     := bin/quarry
DATA    ?= ./data
GO      ?= go
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)

.PHONY: all build run sample test test-deps vet fmt-check fuzz bench bench-full bench-micro bench-layout clean

all: build

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/quarry

# Build and serve every API on :8080. On first start with an empty data
# directory the server generates the sample data and prints an admin key.
ADDR ?= :8080
run: build
	$(BIN) serve --data $(DATA) --addr $(ADDR)

# A sample report from the terminal (generates the sample data if needed).
sample: build
	@test -f $(DATA)/datasets/usage/_manifest.json || $(BIN) gen --data $(DATA)
	$(BIN) query --data $(DATA) "SELECT OfferType, SKUBillingType, NormalizedUsage, EstimatedExtendedChargeCC FROM ISVUsage ORDER BY NormalizedUsage LIMIT 10 TIMESPAN LAST_3_MONTHS"

# Everything the tests need is Go, the module proxy and chromium
# (test-deps installs it); `go test` fetches
# modules on first use. Fuzz targets run their committed seed corpora here;
# `make fuzz` explores further.
test: test-deps fmt-check vet
	$(GO) test -count=1 -timeout 15m ./...

# The console's browser test drives Debian's headless chromium
# (/usr/bin/chromium) through chromedp; install it when missing (as root,
# or through sudo).
test-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing chromium (the SQL console's browser test needs it)"; \
	  SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

FUZZTIME ?= 60s
fuzz:
	$(GO) test -run='^$$' -fuzz=FuzzParseQuery -fuzztime=$(FUZZTIME) ./parser/
	$(GO) test -run='^$$' -fuzz=FuzzParseFilter -fuzztime=$(FUZZTIME) ./parser/
	$(GO) test -run='^$$' -fuzz=FuzzAnalyticsRequest -fuzztime=$(FUZZTIME) ./planner/
	$(GO) test -run='^$$' -fuzz=FuzzMeteringTime -fuzztime=$(FUZZTIME) ./planner/
	$(GO) test -run='^$$' -fuzz=FuzzEnergyTimeframe -fuzztime=$(FUZZTIME) ./planner/
	$(GO) test -run='^$$' -fuzz=FuzzReaders -fuzztime=$(FUZZTIME) ./ingest/

# The benchmark suite (bench/suite, `quarry bench`): Quarry in-process and
# over HTTP, DuckDB direct and native, and PostgreSQL / ClickHouse when
# installed, on the same data and questions. `make bench` is a small scale
# (a few minutes, results in bench/results/small); `make bench-full` is
# 10M transactions rows (data generated once under $$TMPDIR and reused;
# results in bench/results, which the README embeds).
BENCH_ROWS ?= 500000
BENCH_ARGS ?=
bench: build
	$(BIN) bench --rows $(BENCH_ROWS) --runs 3 --out bench/results/small $(BENCH_ARGS)

bench-full: build
	$(BIN) bench --rows 10000000 --runs 5 --out bench/results $(BENCH_ARGS)

# Go micro-benchmarks (benchstat-comparable output).
bench-micro:
	$(GO) test -run='^$$' -bench=. -benchmem -count=5 ./parser/ ./planner/ ./datasets/... ./ingest/ | tee bench/results/micro.txt

clean:
	rm -rf bin
