# Developer entry points. `make test` is what CI runs (.ci/run).

GO          ?= go
FUZZTIME    ?= 30s
# v0.6.1 is staticcheck 2025.1.1; the module proxy resolves only the semver tag.
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.6.1

.PHONY: test deps check fuzz bench bench-quick gobench

# test installs redis-server and redis-cli when missing (the tests start real servers), then
# runs every test with the race detector.
test: deps
	$(GO) test -race -count=1 ./...

deps:
	./scripts/install-deps.sh

# check fails on unformatted files, vet findings, and staticcheck findings; staticcheck
# is skipped, with a note, when it cannot be fetched.
check:
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt -l reports:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@if $(GO) run $(STATICCHECK) -version >/dev/null 2>&1; then \
		echo "$(GO) run $(STATICCHECK) ./..."; $(GO) run $(STATICCHECK) ./...; \
	else \
		echo "note: $(STATICCHECK) could not be fetched or built; staticcheck skipped"; \
	fi

# fuzz runs each fuzz target (the RESP parsers, the reorder ring) for FUZZTIME; go test
# -fuzz takes one target of one package at a time.
FUZZPKGS ?= ./proxy/resp ./proxy
fuzz:
	@for pkg in $(FUZZPKGS); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "== $$pkg $$f ($(FUZZTIME))"; \
			$(GO) test -run='^$$' -fuzz="^$$f$$" -fuzztime=$(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

# bench compares direct Redis, twemproxy and redchain (examples/basic) in one run and writes
# bench/RESULTS.md (see bench/README.md); it installs redis-tools (redis-benchmark) and
# nutcracker when they are missing. About 11 minutes on two cores.
bench:
	./scripts/install-deps.sh bench
	$(GO) run ./bench -out bench/RESULTS.md

# bench-quick is a smoke run of the same, in seconds; it writes no file.
bench-quick:
	./scripts/install-deps.sh bench
	$(GO) run ./bench -quick

# gobench runs the Go micro-benchmarks, with allocations.
gobench:
	$(GO) test -run='^$$' -bench=. -benchmem ./...
