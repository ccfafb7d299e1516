#!/usr/bin/env bash
# Builds the release archive: dist/incidentrelay-<version>-<target>.tar.gz holding the binary,
# the example configuration, the systemd units, README and LICENSE.
#   packaging/release.sh            # then: tar tzf dist/incidentrelay-*.tar.gz
# A Debian package: cargo install cargo-deb && cargo deb   (metadata in Cargo.toml)
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
target=$(rustc -vV | sed -n 's/^host: //p')
cargo build --release --locked --bin incidentrelay
name="incidentrelay-${version}-${target}"
stage="dist/${name}"
rm -rf "$stage" && mkdir -p "$stage/systemd"
cp target/release/incidentrelay "$stage/"
cp examples/incidentrelay.toml "$stage/incidentrelay.toml.example"
cp packaging/*.service "$stage/systemd/"
cp README.md LICENSE "$stage/"
tar -C dist -czf "dist/${name}.tar.gz" "$name"
echo "dist/${name}.tar.gz"
