// Pins the OCI distribution-spec conformance suite v1.1.1 for run.sh; not part of the project's build.
// The suite is a module in a subfolder of github.com/opencontainers/distribution-spec with no tags
// of its own, so it is required by the pseudo-version of the commit that tag v1.1.1 points at
// (a139cc423184af6078077b9b7ee336eddbd03f8f, committed 2025-01-23T16:05:58Z). go.sum pins it and
// every dependency, so the build checks each download against these hashes and needs no checksum
// database.
module docker-dedup/conformance-runner

go 1.20

require github.com/opencontainers/distribution-spec/conformance v0.0.0-20250123160558-a139cc423184
