# Developer entry points. `make test` is what CI runs (.ci/run).

GO          ?= go
FUZZTIME    ?= 30s
# v0.6.1 is staticcheck 2025.1.1; the module proxy resolves only the semver tag.
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.6.1

.PHONY: test deps check fuzz bench

# test installs redis-server when it is missing (the tests start real servers), then
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

# fuzz runs each fuzz target of proxy/resp for FUZZTIME (go test -fuzz takes one target
# at a time).
fuzz:
	@targets="$$($(GO) test -list '^Fuzz' ./proxy/resp | grep '^Fuzz' || true)"; \
	if [ -z "$$targets" ]; then echo "no fuzz targets in ./proxy/resp"; exit 1; fi; \
	for f in $$targets; do \
		echo "== $$f ($(FUZZTIME))"; \
		$(GO) test -run='^$$' -fuzz="^$$f$$" -fuzztime=$(FUZZTIME) ./proxy/resp || exit 1; \
	done

bench:
	$(GO) test -run='^$$' -bench=. -benchmem ./...
