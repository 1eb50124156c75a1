#include "testing/test_pki.h"

#include <cstdlib>
#include <fstream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/file_contents.h"
#include "testing/process.h"

namespace rbfs::testing {
namespace {

absl::Status Openssl(std::vector<std::string> args) {
  args.insert(args.begin(), "openssl");
  ProgramResult result = RunProgram(args, absl::Seconds(30));
  if (result.exit_code != 0) {
    return absl::InternalError(
        absl::StrCat(args[1], " failed: ", result.output));
  }
  return absl::OkStatus();
}

// A self-signed CA named `name` in dir/name.{pem,key}.
absl::Status MakeCa(const std::string& dir, const std::string& name) {
  return Openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt",
                  "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                  "-keyout", dir + "/" + name + ".key", "-out",
                  dir + "/" + name + ".pem", "-subj", "/CN=" + name});
}

// A certificate dir/name.{pem,key} for `cn`, signed by dir/ca.{pem,key},
// with the X.509v3 extensions in `extensions`.
absl::Status MakeLeaf(const std::string& dir, const std::string& name,
                      const std::string& ca, const std::string& cn,
                      const std::string& extensions) {
  const std::string base = dir + "/" + name;
  std::ofstream(base + ".ext") << extensions;
  absl::Status s =
      Openssl({"req", "-newkey", "ec", "-pkeyopt",
               "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
               base + ".key", "-out", base + ".csr", "-subj", "/CN=" + cn});
  if (!s.ok()) return s;
  return Openssl({"x509", "-req", "-in", base + ".csr", "-CA",
                  dir + "/" + ca + ".pem", "-CAkey", dir + "/" + ca + ".key",
                  "-CAcreateserial", "-days", "2", "-out", base + ".pem",
                  "-extfile", base + ".ext"});
}

}  // namespace

absl::StatusOr<TestPki> MakeTestPki(const std::string& dir) {
  for (absl::Status s : {
           MakeCa(dir, "ca"),
           MakeCa(dir, "rogue-ca"),
           MakeLeaf(dir, "server", "ca", "localhost",
                    "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                    "extendedKeyUsage=serverAuth\n"),
           MakeLeaf(dir, "client", "ca", "rbfs-client",
                    "extendedKeyUsage=clientAuth\n"),
           MakeLeaf(dir, "rogue-client", "rogue-ca", "rbfs-client",
                    "extendedKeyUsage=clientAuth\n"),
           MakeLeaf(dir, "rogue-server", "rogue-ca", "localhost",
                    "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                    "extendedKeyUsage=serverAuth\n"),
       }) {
    if (!s.ok()) return s;
  }
  TestPki pki;
  pki.ca_cert = dir + "/ca.pem";
  pki.server_cert = dir + "/server.pem";
  pki.server_key = dir + "/server.key";
  pki.client_cert = dir + "/client.pem";
  pki.client_key = dir + "/client.key";
  pki.rogue_ca_cert = dir + "/rogue-ca.pem";
  pki.rogue_client_cert = dir + "/rogue-client.pem";
  pki.rogue_client_key = dir + "/rogue-client.key";
  pki.rogue_server_cert = dir + "/rogue-server.pem";
  pki.rogue_server_key = dir + "/rogue-server.key";
  return pki;
}

std::string ReadFileOrDie(const std::string& path) {
  absl::StatusOr<std::string> content = ReadFileContents(path);
  if (!content.ok()) std::abort();
  return *std::move(content);
}

}  // namespace rbfs::testing
