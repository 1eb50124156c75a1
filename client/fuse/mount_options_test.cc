#include "client/fuse/mount_options.h"

#include <cerrno>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/errno_status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace rbfs {
namespace {

// Parses `argv` and returns what is left for libfuse.
absl::StatusOr<MountOptions> Parse(std::vector<const char*> argv,
                                   std::vector<std::string>* rest) {
  fuse_args args = FUSE_ARGS_INIT(0, nullptr);
  for (const char* arg : argv) fuse_opt_add_arg(&args, arg);
  absl::StatusOr<MountOptions> options = ParseMountOptions(&args);
  for (int i = 0; i < args.argc; ++i) rest->push_back(args.argv[i]);
  fuse_opt_free_args(&args);
  return options;
}

TEST(MountOptionsTest, SeparatesRbfsOptionsFromFuseOptions) {
  std::vector<std::string> rest;
  absl::StatusOr<MountOptions> options = Parse(
      {"rbfs-mount", "-f", "-o",
       "allow_other,chunk_size=65536,max_inflight=8,cache=auto,deadline=2.5",
       "10.0.0.1:7420", "/mnt/x", "-o", "attr_timeout=0,entry_timeout=3"},
      &rest);
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->server, "10.0.0.1:7420");
  EXPECT_EQ(options->chunk_size, 65536u);
  EXPECT_EQ(options->max_inflight, 8u);
  EXPECT_TRUE(options->cache_auto);
  EXPECT_EQ(options->deadline, absl::Milliseconds(2500));
  EXPECT_EQ(options->attr_timeout, absl::ZeroDuration());
  EXPECT_EQ(options->entry_timeout, absl::Seconds(3));
  EXPECT_FALSE(options->hard);
  EXPECT_EQ(options->mountpoint, "/mnt/x");
  EXPECT_EQ(rest, (std::vector<std::string>{"rbfs-mount", "-o", "allow_other",
                                            "-f", "/mnt/x"}));
}

TEST(MountOptionsTest, HardAndSoftTakeTheLastWord) {
  std::vector<std::string> rest;
  absl::StatusOr<MountOptions> options =
      Parse({"rbfs-mount", "-o", "hard", "h:1", "/m"}, &rest);
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_TRUE(options->hard);
  options = Parse({"rbfs-mount", "-o", "hard,soft", "h:1", "/m"}, &rest);
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_FALSE(options->hard);
}

TEST(MountOptionsTest, DefaultsAreTheCoherentPageCache) {
  std::vector<std::string> rest;
  absl::StatusOr<MountOptions> options =
      Parse({"rbfs-mount", "h:1", "/m"}, &rest);
  ASSERT_TRUE(options.ok());
  EXPECT_TRUE(options->cache_auto);
  EXPECT_EQ(options->attr_timeout, absl::Seconds(60));
  EXPECT_EQ(options->entry_timeout, absl::Seconds(60));
  EXPECT_EQ(options->negative_timeout, absl::Seconds(60));
  EXPECT_EQ(options->fallback_timeout, absl::Seconds(1));
  EXPECT_EQ(options->max_inflight, 64u);
  EXPECT_EQ(options->channels, 4u);
  EXPECT_EQ(options->open_data, 64u << 10);
  EXPECT_EQ(options->read_ahead_kib, 1024u);
  options =
      Parse({"rbfs-mount", "-o", "cache=none,negative_timeout=0", "h:1", "/m"},
            &rest);
  ASSERT_TRUE(options.ok());
  EXPECT_FALSE(options->cache_auto);
  EXPECT_EQ(options->negative_timeout, absl::ZeroDuration());
}

TEST(MountOptionsTest, RejectsBadValues) {
  std::vector<std::string> rest;
  EXPECT_EQ(
      StatusToErrno(
          Parse({"m", "-o", "cache=sometimes", "h:1", "/m"}, &rest).status()),
      EINVAL);
  EXPECT_FALSE(
      Parse({"m", "-o", "chunk_size=8388608", "h:1", "/m"}, &rest).ok());
  EXPECT_FALSE(Parse({"m", "-o", "max_inflight=0", "h:1", "/m"}, &rest).ok());
  EXPECT_FALSE(Parse({"m", "-o", "deadline=0", "h:1", "/m"}, &rest).ok());
  EXPECT_FALSE(
      Parse({"m", "-o", "fallback_timeout=-1", "h:1", "/m"}, &rest).ok());
  EXPECT_FALSE(
      Parse({"m", "-o", "open_data=1048577", "h:1", "/m"}, &rest).ok());
  EXPECT_FALSE(
      Parse({"m", "-o", "read_ahead=1048577", "h:1", "/m"}, &rest).ok());
  // The metrics are served without TLS or token: loopback only.
  EXPECT_FALSE(
      Parse({"m", "-o", "metrics=0.0.0.0:9100", "h:1", "/m"}, &rest).ok());
  EXPECT_FALSE(Parse({"m", "-o", "metrics=9100", "h:1", "/m"}, &rest).ok());
}

TEST(MountOptionsTest, ChunkSizeFollowsServerBlocks) {
  MountOptions options;
  EXPECT_EQ(EffectiveChunkSize(options, 65536), 1u << 20);
  options.chunk_size = 100000;
  EXPECT_EQ(EffectiveChunkSize(options, 65536), 131072u);
  options.chunk_size = 4 << 20;
  EXPECT_EQ(EffectiveChunkSize(options, 3 << 20), 3u << 20);
}

TEST(MountOptionsTest, SecurityOptionsTakeBothSpellings) {
  std::vector<std::string> rest;
  absl::StatusOr<MountOptions> options = Parse(
      {"rbfs-mount", "--tls-ca", "/etc/rbfs/ca.pem", "--token-file=/etc/tok",
       "-o", "tls_cert=/c.pem,tls_key=/k.pem,tls_server_name=rbfs.example",
       "-o", "allow_other,allow_insecure_token", "h:1", "/mnt/x"},
      &rest);
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->tls_ca, "/etc/rbfs/ca.pem");
  EXPECT_EQ(options->token_file, "/etc/tok");
  EXPECT_EQ(options->tls_cert, "/c.pem");
  EXPECT_EQ(options->tls_key, "/k.pem");
  EXPECT_EQ(options->tls_server_name, "rbfs.example");
  EXPECT_TRUE(options->allow_insecure_token);
  EXPECT_EQ(rest, (std::vector<std::string>{"rbfs-mount", "-o", "allow_other",
                                            "/mnt/x"}));
}

TEST(MountOptionsTest, ClientCertificateNeedsKeyAndCa) {
  std::vector<std::string> rest;
  EXPECT_FALSE(
      Parse({"rbfs-mount", "-o", "tls_ca=/a,tls_cert=/c", "h:1", "/m"}, &rest)
          .ok());
  EXPECT_FALSE(
      Parse({"rbfs-mount", "-o", "tls_cert=/c,tls_key=/k", "h:1", "/m"}, &rest)
          .ok());
}

TEST(MountOptionsTest, HelpShowsEveryOptionWithTheStructsDefaults) {
  const std::string& help = MountOptionsHelp();
  for (const char* name : {"chunk_size=",
                           "max_inflight=",
                           "cache=",
                           "attr_timeout=",
                           "entry_timeout=",
                           "negative_timeout=",
                           "fallback_timeout=",
                           "deadline=",
                           "soft",
                           "hard",
                           "channels=",
                           "tls_ca=",
                           "tls_cert=",
                           "tls_key=",
                           "tls_server_name=",
                           "token_file=",
                           "allow_insecure_token",
                           "open_data=",
                           "read_ahead=",
                           "log=",
                           "metrics="}) {
    EXPECT_THAT(help, testing::HasSubstr(std::string("-o ") + name)) << name;
  }
  // The help as one line, words separated by single spaces.
  const std::string flat = absl::StrJoin(
      absl::StrSplit(help, absl::ByAnyChar(" \n"), absl::SkipEmpty()), " ");
  const MountOptions defaults;
  EXPECT_THAT(flat, testing::HasSubstr(absl::StrCat(
                        "more queue (default ", defaults.max_inflight, ")")));
  EXPECT_THAT(help, testing::HasSubstr(absl::StrCat("to the server (default ",
                                                    defaults.channels, ")")));
  EXPECT_THAT(flat, testing::HasSubstr("at most 4194304 (default 1048576)"));
  EXPECT_THAT(help, testing::HasSubstr("-o soft                (default)"));
  for (absl::string_view line : absl::StrSplit(help, '\n')) {
    EXPECT_LE(line.size(), 76u) << line;
  }
}

TEST(MountOptionsTest, EveryOptionInTheHelpParses) {
  for (const char* option : {"chunk_size=65536",
                             "max_inflight=2",
                             "cache=auto",
                             "attr_timeout=2",
                             "entry_timeout=2",
                             "negative_timeout=2",
                             "fallback_timeout=2",
                             "deadline=2",
                             "soft",
                             "hard",
                             "channels=2",
                             "tls_ca=/a",
                             "tls_server_name=x",
                             "token_file=/t",
                             "allow_insecure_token",
                             "open_data=0",
                             "read_ahead=0",
                             "log=stderr",
                             "metrics=127.0.0.1:9100",
                             "metrics=[::1]:0"}) {
    std::vector<std::string> rest;
    absl::StatusOr<MountOptions> options =
        Parse({"rbfs-mount", "-o", option, "h:1", "/m"}, &rest);
    EXPECT_TRUE(options.ok()) << option << ": " << options.status();
    EXPECT_EQ(rest, (std::vector<std::string>{"rbfs-mount", "/m"})) << option;
  }
}

}  // namespace
}  // namespace rbfs
