#include "server/auth/token_authenticator.h"

#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace rbfs {
namespace {

std::string TokenPath() {
  return std::string(std::getenv("TEST_TMPDIR")) + "/token";
}

void WriteToken(const std::string& token) {
  std::ofstream(TokenPath(), std::ios::trunc) << token << "\n";
  chmod(TokenPath().c_str(), 0600);
}

TEST(TokenAuthenticatorTest, AcceptsOnlyTheBearerToken) {
  WriteToken("0123456789abcdef-first");
  auto auth = TokenAuthenticator::FromFile(TokenPath());
  ASSERT_TRUE(auth.ok()) << auth.status();
  EXPECT_TRUE((*auth)->Check("Bearer 0123456789abcdef-first").ok());

  for (const char* bad :
       {"", "0123456789abcdef-first", "Basic 0123456789abcdef-first",
        "Bearer 0123456789abcdef-firsT", "Bearer 0123456789abcdef-first ",
        "Bearer 0123456789abcdef-firs"}) {
    absl::Status s = (*auth)->Check(bad);
    EXPECT_TRUE(absl::IsUnauthenticated(s)) << "'" << bad << "': " << s;
    EXPECT_EQ(s.message().find("0123456789"), std::string::npos) << s;
  }
}

TEST(TokenAuthenticatorTest, ReloadRotatesAndKeepsOldTokenOnBadFile) {
  WriteToken("0123456789abcdef-old");
  auto auth = TokenAuthenticator::FromFile(TokenPath());
  ASSERT_TRUE(auth.ok()) << auth.status();

  WriteToken("0123456789abcdef-new");
  ASSERT_TRUE((*auth)->Reload().ok());
  EXPECT_TRUE((*auth)->Check("Bearer 0123456789abcdef-new").ok());
  EXPECT_FALSE((*auth)->Check("Bearer 0123456789abcdef-old").ok());

  WriteToken("short");
  EXPECT_FALSE((*auth)->Reload().ok());
  EXPECT_TRUE((*auth)->Check("Bearer 0123456789abcdef-new").ok());
}

}  // namespace
}  // namespace rbfs
