#include "common/errno_status.h"

#include <cerrno>

#include "gtest/gtest.h"

namespace rbfs {
namespace {

TEST(ErrnoStatusTest, ExactErrnoSurvivesTheRoundTrip) {
  for (int err : {ENOENT, ESTALE, ENOTEMPTY, EXDEV, ENAMETOOLONG, ENOSPC, EROFS,
                  EISDIR, ENOTDIR, EFBIG, EIO}) {
    absl::Status status = ErrnoError(err);
    EXPECT_FALSE(status.ok());
    EXPECT_EQ(StatusToErrno(status), err) << status;
  }
}

TEST(ErrnoStatusTest, ErrnosAreNamedAsTheHeadersNameThem) {
  EXPECT_EQ(ErrnoName(ENOENT), "ENOENT");
  EXPECT_EQ(ErrnoName(ENOSPC), "ENOSPC");
  EXPECT_EQ(ErrnoName(4000), "errno_4000");
}

TEST(ErrnoStatusTest, PlainStatusesMapByCode) {
  EXPECT_EQ(StatusToErrno(absl::OkStatus()), 0);
  EXPECT_EQ(StatusToErrno(absl::NotFoundError("x")), ENOENT);
  EXPECT_EQ(StatusToErrno(absl::DataLossError("x")), EIO);
  EXPECT_EQ(StatusToErrno(absl::DeadlineExceededError("x")), ETIMEDOUT);
}

TEST(ErrnoStatusTest, CanonicalCodeFollowsErrno) {
  EXPECT_EQ(ErrnoError(ENOENT).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ErrnoError(EEXIST).code(), absl::StatusCode::kAlreadyExists);
}

}  // namespace
}  // namespace rbfs
