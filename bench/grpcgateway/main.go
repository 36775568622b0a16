// A standalone grpc-gateway front for make bench: the WorkflowService HTTP handlers that Temporal
// generates into its published Go API module, served by grpc-gateway v2's ServeMux and proxied to a
// Temporal frontend over one gRPC connection. It is what a user would put in front of Temporal
// without Portico, so the bench measures Portico against it on the same server and load.
//
// JSON follows Temporal's own HTTP API (the API module's temporalproto codec, with payload
// shorthand such as {"input":[1]}), so that every arm of the bench takes the same request bodies.
//
// Usage: grpcgateway LISTEN TEMPORAL_ADDRESS, e.g. grpcgateway 127.0.0.1:0 127.0.0.1:7233.
// Prints "grpc-gateway listening on HOST:PORT (port PORT)" once it accepts connections.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
)

// temporalJSON is a runtime.Marshaler with Temporal's JSON conventions (payload shorthand on, as
// the default of Temporal's HTTP API); grpc-gateway's own JSONPb knows neither the shorthand nor
// Temporal's enum spellings.
type temporalJSON struct {
	marshal   temporalproto.CustomJSONMarshalOptions
	unmarshal temporalproto.CustomJSONUnmarshalOptions
}

func newTemporalJSON() temporalJSON {
	metadata := map[string]interface{}{commonpb.EnablePayloadShorthandMetadataKey: true}
	return temporalJSON{
		marshal:   temporalproto.CustomJSONMarshalOptions{Metadata: metadata},
		unmarshal: temporalproto.CustomJSONUnmarshalOptions{Metadata: metadata},
	}
}

func (t temporalJSON) Marshal(v interface{}) ([]byte, error) {
	if m, ok := v.(proto.Message); ok {
		return t.marshal.Marshal(m)
	}
	return json.Marshal(v)
}

func (t temporalJSON) Unmarshal(data []byte, v interface{}) error {
	if m, ok := v.(proto.Message); ok {
		return t.unmarshal.Unmarshal(data, m)
	}
	return json.Unmarshal(data, v)
}

// NewDecoder reads the whole body: a request body is one JSON document. An empty body is io.EOF,
// which the generated handlers take as "no body".
func (t temporalJSON) NewDecoder(r io.Reader) runtime.Decoder {
	return runtime.DecoderFunc(func(v interface{}) error {
		data, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		if len(data) == 0 {
			return io.EOF
		}
		return t.Unmarshal(data, v)
	})
}

func (t temporalJSON) NewEncoder(w io.Writer) runtime.Encoder {
	return runtime.EncoderFunc(func(v interface{}) error {
		data, err := t.Marshal(v)
		if err == nil {
			_, err = w.Write(data)
		}
		return err
	})
}

func (temporalJSON) ContentType(interface{}) string { return "application/json" }

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: grpcgateway LISTEN TEMPORAL_ADDRESS")
		os.Exit(2)
	}
	mux := runtime.NewServeMux(runtime.WithMarshalerOption(runtime.MIMEWildcard, newTemporalJSON()))
	options := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	err := workflowservice.RegisterWorkflowServiceHandlerFromEndpoint(context.Background(), mux, os.Args[2], options)
	if err != nil {
		fmt.Fprintln(os.Stderr, "grpcgateway:", err)
		os.Exit(1)
	}
	listener, err := net.Listen("tcp", os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "grpcgateway:", err)
		os.Exit(1)
	}
	address := listener.Addr().(*net.TCPAddr)
	fmt.Printf("grpc-gateway listening on %s (port %d)\n", address, address.Port)
	fmt.Fprintln(os.Stderr, "grpcgateway:", http.Serve(listener, mux))
	os.Exit(1)
}
