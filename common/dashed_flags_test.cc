#include "common/dashed_flags.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace rbfs {
namespace {

TEST(DashedFlagsTest, OnlyFlagNamesBeforeTheEndOfFlagsChange) {
  std::vector<std::string> given = {"prog",         "--tls-ca=/etc/my-ca.pem",
                                    "--token-file", "/a-b",
                                    "-x-y",         "pos-arg",
                                    "--",           "--not-a-flag"};
  std::vector<char*> argv;
  for (std::string& arg : given) argv.push_back(arg.data());
  const std::vector<char*> args =
      UnderscoreFlagNames(static_cast<int>(argv.size()), argv.data());
  std::vector<std::string> got(args.begin(), args.end());
  EXPECT_EQ(got, (std::vector<std::string>{"prog", "--tls_ca=/etc/my-ca.pem",
                                           "--token_file", "/a-b", "-x-y",
                                           "pos-arg", "--", "--not-a-flag"}));
}

}  // namespace
}  // namespace rbfs
