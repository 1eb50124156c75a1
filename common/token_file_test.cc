#include "common/token_file.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <string>

#include "common/errno_status.h"
#include "gtest/gtest.h"

namespace rbfs {
namespace {

class TokenFileTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& content) {
    const std::string path = std::string(std::getenv("TEST_TMPDIR")) +
                             "/token" + std::to_string(counter_++);
    std::ofstream(path) << content;
    chmod(path.c_str(), 0600);
    return path;
  }
  int counter_ = 0;
};

TEST_F(TokenFileTest, StripsSurroundingWhitespace) {
  absl::StatusOr<std::string> token =
      ReadTokenFile(Write("  0123456789abcdef0123\n"));
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(*token, "0123456789abcdef0123");
}

TEST_F(TokenFileTest, RefusesShortOrSpacedTokensWithoutEchoingThem) {
  absl::StatusOr<std::string> short_token = ReadTokenFile(Write("secret\n"));
  ASSERT_FALSE(short_token.ok());
  EXPECT_EQ(StatusToErrno(short_token.status()), EINVAL);
  EXPECT_EQ(short_token.status().message().find("secret"), std::string::npos);

  absl::StatusOr<std::string> spaced =
      ReadTokenFile(Write("hunter2 hunter2 hunter2"));
  ASSERT_FALSE(spaced.ok());
  EXPECT_EQ(spaced.status().message().find("hunter2"), std::string::npos);
}

TEST_F(TokenFileTest, MissingFileNamesThePath) {
  absl::StatusOr<std::string> token = ReadTokenFile("/nonexistent/token");
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(StatusToErrno(token.status()), ENOENT);
  EXPECT_NE(token.status().message().find("/nonexistent/token"),
            std::string::npos);
}

}  // namespace
}  // namespace rbfs
