#include "common/file_contents.h"

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <string>

#include "common/errno_status.h"
#include "gtest/gtest.h"

namespace rbfs {
namespace {

std::string TempPath(const std::string& name) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  return std::string(tmp ? tmp : "/tmp") + "/" + name;
}

TEST(FileContentsTest, ReadsTheWholeFileBinarySafe) {
  const std::string path = TempPath("whole");
  std::string written(100000, '\0');
  for (size_t i = 0; i < written.size(); ++i) written[i] = char(i * 7);
  {
    std::ofstream out(path, std::ios::binary);
    out << written;
  }
  absl::StatusOr<std::string> read = ReadFileContents(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, written);
}

TEST(FileContentsTest, EmptyFileIsEmptyString) {
  const std::string path = TempPath("empty");
  { std::ofstream out(path); }
  absl::StatusOr<std::string> read = ReadFileContents(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, "");
}

TEST(FileContentsTest, MissingFileIsEnoentNamingThePath) {
  const std::string path = TempPath("no-such-file");
  absl::StatusOr<std::string> read = ReadFileContents(path);
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(StatusToErrno(read.status()), ENOENT);
  EXPECT_NE(read.status().message().find(path), std::string::npos);
}

}  // namespace
}  // namespace rbfs
