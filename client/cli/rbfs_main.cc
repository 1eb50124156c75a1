// rbfs: the command-line tool for an rbfs volume's users and operators.
//
//   rbfs status [--tls-ca F] [--tls-cert F --tls-key F] [--tls-server-name N]
//               [--token-file F] [--allow-insecure-token] [--timeout D]
//               HOST:PORT
//
// status prints the server's health, usage and sessions (Status in
// protos/rbfs.proto), connecting as a mount does, with the same credentials
// (client/rpc/channel_security.h). Exit code: 0 when the server answered
// and its commits succeed, 1 when it cannot be reached, refuses, or its
// commits fail, 2 on bad usage.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/time/time.h"
#include "client/cli/status_report.h"
#include "client/rpc/channel_security.h"
#include "client/rpc/rpc_client.h"
#include "common/dashed_flags.h"
#include "common/errno_status.h"
#include "protos/rbfs.grpc.pb.h"

ABSL_FLAG(std::string, tls_ca, "",
          "connect with TLS; trust server certificates signed by this PEM CA "
          "(as the mount's -o tls_ca)");
ABSL_FLAG(std::string, tls_cert, "",
          "client certificate for mutual TLS (with --tls-key)");
ABSL_FLAG(std::string, tls_key, "", "private key of --tls-cert");
ABSL_FLAG(std::string, tls_server_name, "",
          "name the server certificate must carry, if not HOST");
ABSL_FLAG(std::string, token_file, "",
          "send the token in this file, as a mount does");
ABSL_FLAG(bool, allow_insecure_token, false,
          "send the token over plaintext to a non-loopback server");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(10),
          "how long to wait for the server");

namespace rbfs {
namespace {

constexpr char kUsage[] =
    "an rbfs volume's command-line tool.\n\n"
    "  rbfs status [--tls-ca F] [--tls-cert F --tls-key F]\n"
    "              [--tls-server-name N] [--token-file F]\n"
    "              [--allow-insecure-token] [--timeout D] HOST:PORT\n\n"
    "status: the server's health, usage and sessions, asked with the "
    "credentials a mount uses.\n"
    "Flag names take dashes or underscores (--tls-ca = --tls_ca).\n";

int Status(const std::string& server) {
  RpcOptions rpc_options;
  rpc_options.target = server;
  rpc_options.channels = 1;
  rpc_options.deadline = absl::GetFlag(FLAGS_timeout);
  ChannelSecurityOptions security;
  security.server = server;
  security.tls_ca = absl::GetFlag(FLAGS_tls_ca);
  security.tls_cert = absl::GetFlag(FLAGS_tls_cert);
  security.tls_key = absl::GetFlag(FLAGS_tls_key);
  security.tls_server_name = absl::GetFlag(FLAGS_tls_server_name);
  security.token_file = absl::GetFlag(FLAGS_token_file);
  security.allow_insecure_token = absl::GetFlag(FLAGS_allow_insecure_token);
  if (absl::Status secured = ApplyChannelSecurity(security, &rpc_options);
      !secured.ok()) {
    fprintf(stderr, "rbfs: %s\n", std::string(secured.message()).c_str());
    return 2;
  }
  // Never destroyed, as in rbfs-mount: gRPC 1.51 may crash tearing down
  // channels at exit.
  RpcClient* const rpc = new RpcClient(rpc_options);
  StatFsReply statfs;
  // The handshake's errors say why a server cannot be used (unreachable,
  // TLS, refused credentials).
  if (absl::Status reached = rpc->Handshake(&statfs); !reached.ok()) {
    fprintf(stderr, "rbfs: %s: %s\n", server.c_str(),
            std::string(reached.message()).c_str());
    return 1;
  }
  StatusReply status;
  if (absl::Status asked =
          rpc->Call(&Rbfs::StubInterface::Status, StatusRequest(), &status,
                    Idempotency::kIdempotent);
      !asked.ok()) {
    fprintf(stderr, "rbfs: %s: status: %s\n", server.c_str(),
            std::string(asked.message()).c_str());
    return 1;
  }
  fputs(FormatStatus(status, server).c_str(), stdout);
  return status.commit_failure().empty() ? 0 : 1;
}

int Run(int argc, char** argv) {
  SetFlagsHelp(kUsage, "client/cli/rbfs_main.cc");
  std::vector<char*> args = UnderscoreFlagNames(argc, argv);
  const std::vector<char*> words =
      absl::ParseCommandLine(static_cast<int>(args.size()), args.data());
  if (words.size() == 3 && std::string(words[1]) == "status") {
    return Status(words[2]);
  }
  fprintf(stderr, "%s\nsee 'rbfs --help'\n", kUsage);
  return 2;
}

}  // namespace
}  // namespace rbfs

int main(int argc, char** argv) { return rbfs::Run(argc, argv); }
