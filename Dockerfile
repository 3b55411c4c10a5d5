# One image for the three services (docker-compose.yml picks each one by its subcommand):
#   docker build -t ordersystem .
#   docker run --rm -p 8080-8082:8080-8082 ordersystem                 # `ordersystem all`, nothing else needed
#   docker run --rm ordersystem order-service --help
# Not built on the machine this repository is developed on (it has no Docker engine); scripts/check-compose checks
# this file's final stage statically.

# The compiler this package is developed and tested with; override with --build-arg SWIFT_VERSION=….
ARG SWIFT_VERSION=6.3

# ---- build: compile one release binary ----
FROM swift:${SWIFT_VERSION}-noble AS build
WORKDIR /build

# Dependencies first, so editing the sources does not download them again. Package.resolved, when present, pins the
# versions the tests ran with.
COPY Package.* ./
RUN swift package resolve

# SwiftPM checks every target's folder when it loads the package, so the test targets' sources come along too; the
# linker/ files are the code layout the release link uses (Package.swift), scripts/build-release the release flags.
COPY Sources ./Sources
COPY Tests ./Tests
COPY linker ./linker
COPY scripts/build-release ./scripts/build-release
# scripts/build-release: `swift build -c release --product ordersystem` with the Swift runtime linked statically and
# a section per function, so the binary needs only the C and C++ runtime and keeps little code resident
# (docs/BENCHMARKS.md, "Memory"). It prints the binaries' folder last.
RUN bin="$(scripts/build-release --product ordersystem | tail -n 1)" \
    && install -D -m 0755 "$bin/ordersystem" /staging/ordersystem

# ---- runtime: plain Ubuntu; the Swift runtime, SQLite and everything else are linked into the binary, which needs
# only glibc (2.36 or later, for its packed relocations) and libstdc++, both in the base image ----
FROM ubuntu:24.04

# A non-root user; its home holds ./data (the default DATA_DIR: SQLite files, the embedded broker's queues, and the
# notification worker's record when it does not use Redis).
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /app ordersystem \
    && install -d -o ordersystem -g ordersystem /app/data
COPY --from=build /staging/ordersystem /usr/local/bin/ordersystem

WORKDIR /app
USER ordersystem:ordersystem
EXPOSE 8080 8081 8082

# The subcommand chooses the service (order-service, analytics-service, notification-worker, all, migrate, ...).
# The image has no curl: healthchecks run `ordersystem healthcheck --url http://127.0.0.1:PORT/health`.
ENTRYPOINT ["ordersystem"]
CMD ["all"]
