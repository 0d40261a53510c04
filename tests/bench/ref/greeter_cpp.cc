// Reference server for tests/bench: a C++ greeter on Debian's libgrpc++
// (same C-core as todo-server). Serves helloworld.Greeter/SayHello and
// grpc.health.v1.Health/Check with the callback API; the C-core's own
// executor threads run the handlers (multi-threaded). No reflection.
//
// Usage: greeter_cpp [127.0.0.1:PORT]
#include <grpcpp/grpcpp.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <unistd.h>

#include "grpc/health/v1/health.grpc.pb.h"
#include "helloworld.grpc.pb.h"

namespace {

class GreeterImpl final : public helloworld::Greeter::CallbackService {
  grpc::ServerUnaryReactor *SayHello(grpc::CallbackServerContext *ctx,
                                     const helloworld::HelloRequest *req,
                                     helloworld::HelloReply *reply) override {
    reply->set_message("Hello " + req->name());
    auto *reactor = ctx->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

class HealthImpl final : public grpc::health::v1::Health::CallbackService {
  grpc::ServerUnaryReactor *Check(grpc::CallbackServerContext *ctx,
                                  const grpc::health::v1::HealthCheckRequest *req,
                                  grpc::health::v1::HealthCheckResponse *resp) override {
    auto *reactor = ctx->DefaultReactor();
    if (!req->service().empty()) {
      reactor->Finish(grpc::Status(grpc::StatusCode::NOT_FOUND, "unknown service"));
      return reactor;
    }
    resp->set_status(grpc::health::v1::HealthCheckResponse::SERVING);
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  // Watch is left UNIMPLEMENTED: the benchmark only calls Check.
};

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

}  // namespace

int main(int argc, char **argv) {
  std::string addr = argc > 1 ? argv[1] : "127.0.0.1:50061";
  GreeterImpl greeter;
  HealthImpl health;

  grpc::ServerBuilder builder;
  int bound_port = 0;
  builder.AddListeningPort(addr, grpc::InsecureServerCredentials(), &bound_port);
  builder.RegisterService(&greeter);
  builder.RegisterService(&health);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || bound_port == 0) {
    std::fprintf(stderr, "greeter_cpp: cannot listen on %s\n", addr.c_str());
    return 1;
  }
  std::fprintf(stderr, "greeter_cpp: listening on %s\n", addr.c_str());

  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  while (!g_stop) pause();
  server->Shutdown();
  return 0;
}
