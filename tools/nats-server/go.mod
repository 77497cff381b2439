// Wrapper module that builds a real nats-server (>= 2.11, for auth callout
// and current JetStream) for nodewarden's tests and benchmarks. Built by
// scripts/ensure-nats-server.sh; the binary is cached outside the repo. To
// bump: change the version below, run 'go mod tidy', and change the image tag
// in deploy/nats.yaml to the same version.
module nodewarden.invalid/tools/nats-server

go 1.26.0

tool github.com/nats-io/nats-server/v2

require (
	github.com/antithesishq/antithesis-sdk-go v0.9.0-default-no-op // indirect
	github.com/google/go-tpm v0.9.8 // indirect
	github.com/klauspost/compress v1.20.4 // indirect
	github.com/minio/highwayhash v1.0.4 // indirect
	github.com/nats-io/jwt/v2 v2.8.3 // indirect
	github.com/nats-io/nats-server/v2 v2.15.3 // indirect
	github.com/nats-io/nkeys v0.4.17 // indirect
	github.com/nats-io/nuid v1.0.1 // indirect
	golang.org/x/crypto v0.58.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
	golang.org/x/time v0.16.0 // indirect
)
