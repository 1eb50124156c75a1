#include "common/log.h"

#include <string>

#include "common/file_contents.h"
#include "gtest/gtest.h"

namespace rbfs {
namespace {

std::string Contents(const std::string& path) {
  return ReadFileContents(path).value_or("");
}

TEST(LogTest, RecordsGoWhereTheyAreSent) {
  SetLogProgramName("log-test");
  const std::string dir = ::testing::TempDir();
  const std::string path = dir + "/log-test.log";
  ASSERT_TRUE(SetLogDestination(path).ok());
  LogInfo("first %d", 1);
  LogError("second");
  ASSERT_TRUE(SetLogDestination("stderr").ok());
  LogInfo("not in the file");
  const std::string text = Contents(path);
  EXPECT_NE(text.find(" I log-test: first 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find(" E log-test: second\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("not in the file"), std::string::npos) << text;

  // Appended to, not replaced.
  ASSERT_TRUE(SetLogDestination(path).ok());
  LogWarning("third");
  ASSERT_TRUE(SetLogDestination("stderr").ok());
  EXPECT_NE(Contents(path).find("first 1"), std::string::npos);
  EXPECT_NE(Contents(path).find(" W log-test: third\n"), std::string::npos);

  EXPECT_FALSE(SetLogDestination(dir).ok()) << "a directory";
}

}  // namespace
}  // namespace rbfs
