#include "server/fs/session_table.h"

#include <algorithm>

#include "gtest/gtest.h"

namespace rbfs {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1000);
constexpr absl::Duration kLease = absl::Seconds(10);

TEST(SessionTableTest, HandlesAreRegisteredOnce) {
  SessionTable table(kLease);
  EXPECT_TRUE(table.AddHandle(7, 1, 100, kStart));
  EXPECT_FALSE(table.AddHandle(7, 1, 100, kStart));
  EXPECT_TRUE(table.HasHandle(7, 1));
  EXPECT_EQ(table.RemoveHandle(7, 1), 100u);
  EXPECT_EQ(table.RemoveHandle(7, 1), std::nullopt);
  EXPECT_FALSE(table.HasHandle(7, 1));
  EXPECT_EQ(table.RemoveHandle(8, 1), std::nullopt);
}

TEST(SessionTableTest, RenewTellsWhetherTheSessionWasConfirmed) {
  using Renewed = SessionTable::Renewed;
  SessionTable table(kLease);
  EXPECT_EQ(table.Renew(7, kStart), Renewed::kNew);
  EXPECT_EQ(table.Renew(7, kStart), Renewed::kKnown);
  // Brought back by an open after a restart: the mount must reclaim.
  EXPECT_TRUE(table.AddHandle(9, 1, 100, kStart));
  EXPECT_EQ(table.Renew(9, kStart), Renewed::kUnconfirmed);
  EXPECT_EQ(table.Renew(9, kStart), Renewed::kKnown);
}

TEST(SessionTableTest, ListsEverySessionWithWhereItsRenewalsComeFrom) {
  SessionTable table(kLease);
  table.Renew(9, kStart, "ipv4:10.0.0.9:4000");
  table.AddHandle(9, 1, 100, kStart + absl::Seconds(1));
  table.AddHandle(9, 2, 100, kStart + absl::Seconds(1));
  // Brought back by an open after a restart, not yet renewed.
  table.AddHandle(3, 1, 200, kStart);
  const std::vector<SessionTable::Info> list = table.List();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].session, 3u);
  EXPECT_FALSE(list[0].confirmed);
  EXPECT_EQ(list[0].peer, "");
  EXPECT_EQ(list[0].handles, 1u);
  EXPECT_EQ(list[1].session, 9u);
  EXPECT_TRUE(list[1].confirmed);
  EXPECT_EQ(list[1].peer, "ipv4:10.0.0.9:4000");
  EXPECT_EQ(list[1].handles, 2u);
  EXPECT_EQ(list[1].renewed, kStart + absl::Seconds(1));
  // A renewal without a peer keeps the one known.
  table.Renew(9, kStart + absl::Seconds(2));
  EXPECT_EQ(table.List()[1].peer, "ipv4:10.0.0.9:4000");
}

TEST(SessionTableTest, UnrenewedSessionsExpireWithTheirHandles) {
  SessionTable table(kLease);
  table.Renew(1, kStart);
  table.AddHandle(1, 1, 100, kStart);
  table.AddHandle(1, 2, 100, kStart);
  table.AddHandle(1, 3, 200, kStart);
  table.Renew(2, kStart);
  table.AddHandle(2, 1, 300, kStart);

  EXPECT_TRUE(table.Expire(kStart + kLease / 2).sessions.empty());
  table.Renew(2, kStart + kLease / 2);
  SessionTable::Expired expired = table.Expire(kStart + kLease);
  ASSERT_EQ(expired.sessions.size(), 1u);
  EXPECT_EQ(expired.sessions[0].session, 1u);
  EXPECT_EQ(expired.sessions[0].handles, 3u);
  EXPECT_EQ(expired.sessions[0].renewed, kStart);
  std::sort(expired.inodes.begin(), expired.inodes.end());
  EXPECT_EQ(expired.inodes, (std::vector<uint64_t>{100, 100, 200}));
  EXPECT_FALSE(table.Live(1));
  EXPECT_TRUE(table.Live(2));
  EXPECT_FALSE(table.HasHandle(1, 1));
  // Calls renew implicitly.
  table.AddHandle(2, 2, 300, kStart + kLease);
  EXPECT_TRUE(table.Expire(kStart + kLease * 1.9).sessions.empty());
  expired = table.Expire(kStart + kLease * 2);
  ASSERT_EQ(expired.sessions.size(), 1u);
  EXPECT_EQ(expired.sessions[0].session, 2u);
}

}  // namespace
}  // namespace rbfs
