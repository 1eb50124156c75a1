// TestPki: certificates for TLS tests, made with openssl when a test runs.
//
// Two independent CAs: `ca` signs the server certificate (valid for
// 127.0.0.1 and localhost) and a client certificate; `rogue_ca` signs a
// client certificate the server must not accept, and a second server
// certificate (for rotation tests). Keys are unencrypted EC
// P-256 PEM files in one directory; nothing is checked in, nothing expires
// during a test (two days).
#ifndef RBFS_TESTING_TEST_PKI_H_
#define RBFS_TESTING_TEST_PKI_H_

#include <string>

#include "absl/status/statusor.h"

namespace rbfs::testing {

struct TestPki {
  std::string ca_cert;
  std::string server_cert, server_key;
  std::string client_cert, client_key;
  std::string rogue_ca_cert;
  std::string rogue_client_cert, rogue_client_key;
  std::string rogue_server_cert, rogue_server_key;
};

// Creates a fresh PKI in `dir` (which must exist).
absl::StatusOr<TestPki> MakeTestPki(const std::string& dir);

// The content of a file, for gRPC credentials that take PEM text.
std::string ReadFileOrDie(const std::string& path);

}  // namespace rbfs::testing

#endif  // RBFS_TESTING_TEST_PKI_H_
