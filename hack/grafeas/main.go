// Command grafeas-server serves Grafeas's own v1 API implementation
// (github.com/grafeas/grafeas/go/v1/api: request checks, name parsing and
// the note and occurrence validators) over its REST gateway (the paths and
// JSON of Container Analysis v1) on one loopback port. Grafeas v0.2.3 ships that v1 API but no v1 server or storage (its
// server binary serves only v1beta1, which Chains does not speak), so this
// file wires the API to the in-memory store in store.go. Test use only: no
// authentication, nothing kept on disk.
package main

import (
	"context"
	"flag"
	"log"
	"net"
	"net/http"

	"github.com/grafeas/grafeas/go/iam"
	api "github.com/grafeas/grafeas/go/v1/api"
	gpb "github.com/grafeas/grafeas/proto/v1/grafeas_go_proto"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
)

// noAuth allows every call; the end user is "test".
type noAuth struct{}

func (noAuth) CheckAccessAndProject(context.Context, string, string, iam.Permission) error {
	return nil
}
func (noAuth) EndUserID(context.Context) (string, error)                       { return "test", nil }
func (noAuth) PurgePolicy(context.Context, string, string, iam.Resource) error { return nil }

// unimplemented sits one level below the API, so the API's methods win.
type unimplemented struct{ gpb.UnimplementedGrafeasServer }

type server struct {
	*api.API
	unimplemented
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	flag.Parse()
	g := server{API: &api.API{Storage: newStore(), Auth: noAuth{}, EnforceValidation: true}}
	mux := runtime.NewServeMux()
	if err := gpb.RegisterGrafeasHandlerServer(context.Background(), mux, g); err != nil {
		log.Fatalf("registering the REST gateway: %v", err)
	}
	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("listening on %s: %v", *addr, err)
	}
	log.Printf("grafeas v1 API (REST) on %s, in memory", lis.Addr())
	log.Fatal(http.Serve(lis, mux))
}
