// Reference server for tests/bench: grpc-go serving helloworld.Greeter and
// the standard grpc.health.v1 Health service (google.golang.org/grpc/health).
// The helloworld stubs are generated at build time by tests/bench/run.sh into
// ./helloworld (never committed).
//
// Usage: greeter_go [127.0.0.1:PORT]
package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	pb "todo.bench/greeter_go/helloworld"
)

type greeter struct {
	pb.UnimplementedGreeterServer
}

func (greeter) SayHello(_ context.Context, in *pb.HelloRequest) (*pb.HelloReply, error) {
	return &pb.HelloReply{Message: "Hello " + in.GetName()}, nil
}

func main() {
	addr := "127.0.0.1:50062"
	if len(os.Args) > 1 {
		addr = os.Args[1]
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "greeter_go: cannot listen on %s: %v\n", addr, err)
		os.Exit(1)
	}
	s := grpc.NewServer()
	pb.RegisterGreeterServer(s, greeter{})
	hs := health.NewServer() // "" reports SERVING by default
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(s, hs)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() { <-sig; s.Stop() }()

	fmt.Fprintf(os.Stderr, "greeter_go: listening on %s\n", addr)
	if err := s.Serve(lis); err != nil {
		fmt.Fprintf(os.Stderr, "greeter_go: %v\n", err)
		os.Exit(1)
	}
}
