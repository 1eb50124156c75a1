#include "server/auth/transport_security.h"

#include "gtest/gtest.h"

namespace rbfs {
namespace {

TEST(TransportSecurityTest, PlaintextOffLoopbackNeedsInsecure) {
  ExposurePolicy p;
  p.listen = "0.0.0.0:7420";
  EXPECT_FALSE(CheckExposure(p).ok());
  p.insecure = true;
  EXPECT_TRUE(CheckExposure(p).ok());
  p.tls = true;
  p.insecure = false;
  EXPECT_TRUE(CheckExposure(p).ok());
}

TEST(TransportSecurityTest, TokenInClearTextOffLoopbackNeedsItsOwnFlag) {
  ExposurePolicy p;
  p.listen = "0.0.0.0:7420";
  p.token = true;
  p.insecure = true;
  absl::Status refused = CheckExposure(p);
  EXPECT_FALSE(refused.ok());
  EXPECT_NE(refused.message().find("--allow-insecure-token"),
            std::string::npos);
  p.allow_insecure_token = true;
  EXPECT_TRUE(CheckExposure(p).ok());

  ExposurePolicy loopback;
  loopback.listen = "127.0.0.1:7420";
  loopback.token = true;
  EXPECT_TRUE(CheckExposure(loopback).ok());
}

TEST(TransportSecurityTest, MissingCertificateFilesAreClearErrors) {
  TlsFiles files;
  files.cert = "/nonexistent/cert.pem";
  files.key = "/nonexistent/key.pem";
  auto creds = MakeServerCredentials(files);
  ASSERT_FALSE(creds.ok());
  EXPECT_NE(creds.status().message().find("/nonexistent/cert.pem"),
            std::string::npos);
  files.key.clear();
  EXPECT_FALSE(MakeServerCredentials(files).ok());
}

}  // namespace
}  // namespace rbfs
