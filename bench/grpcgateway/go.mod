// The bench's grpc-gateway front. Its versions are those the pinned Temporal CLI's dev server is
// built with (versions.env: TEMPORAL_CLI_VERSION v1.5.1, server 1.29.1): the same API module and
// the same grpc-gateway runtime as Temporal's own HTTP API in that server.
module portico/bench/grpcgateway

go 1.23.0

require (
	github.com/grpc-ecosystem/grpc-gateway/v2 v2.26.3
	go.temporal.io/api v1.53.0
	google.golang.org/grpc v1.72.2
	google.golang.org/protobuf v1.36.6
)

require (
	golang.org/x/net v0.35.0 // indirect
	golang.org/x/sys v0.30.0 // indirect
	golang.org/x/text v0.22.0 // indirect
	google.golang.org/genproto/googleapis/api v0.0.0-20250303144028-a0af3efb3deb // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20250303144028-a0af3efb3deb // indirect
)
