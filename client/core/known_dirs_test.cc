#include "client/core/known_dirs.h"

#include "gtest/gtest.h"

namespace rbfs {
namespace {

TEST(KnownDirsTest, OnlyCreatedDirectoriesAnswer) {
  KnownDirs dirs(10);
  EXPECT_FALSE(dirs.Absent(5, "a"));
  dirs.Created(5);
  EXPECT_TRUE(dirs.Absent(5, "a"));
  dirs.Added(5, "a");
  EXPECT_FALSE(dirs.Absent(5, "a"));
  EXPECT_TRUE(dirs.Absent(5, "b"));
  dirs.Removed(5, "a");
  EXPECT_TRUE(dirs.Absent(5, "a"));
  // Changes to a directory that is not known are not guesses.
  dirs.Added(6, "a");
  EXPECT_FALSE(dirs.Absent(6, "b"));
}

TEST(KnownDirsTest, ForgettingEndsTheAnswers) {
  KnownDirs dirs(10);
  dirs.Created(5);
  dirs.Created(7);
  dirs.Forget(5);
  EXPECT_FALSE(dirs.Absent(5, "a"));
  EXPECT_TRUE(dirs.Absent(7, "a"));
  dirs.Clear();
  EXPECT_FALSE(dirs.Absent(7, "a"));
  EXPECT_EQ(dirs.size(), 0u);
}

TEST(KnownDirsTest, ADirectoryPastTheCapIsForgotten) {
  KnownDirs dirs(2);
  dirs.Created(5);
  dirs.Added(5, "a");
  dirs.Added(5, "b");
  EXPECT_TRUE(dirs.Absent(5, "c"));
  dirs.Added(5, "c");
  EXPECT_FALSE(dirs.Absent(5, "d"));
  EXPECT_EQ(dirs.size(), 0u);
}

}  // namespace
}  // namespace rbfs
